/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resolution and load-time checks of the Fortran-like dialect
 * (POLICY-LANGUAGE.md §6, §11, §13).  Three passes over the whole set:
 *
 *   1. collect the globals and procedures of every Fortran-like file, and
 *      the top-level classic defs (procedures may be used before their
 *      definition, also from other files);
 *   2. fold parameters and initializers (constant expressions, evaluated
 *      by the evaluator itself so that folding and running agree);
 *   3. resolve every statement: names to slots (frame slots, symbol slots
 *      shared with classic code, statics), component names against the
 *      catalog, calls to procedures, classic defs or intrinsics, loops to
 *      their exit/cycle statements, and check the static types that are
 *      known.
 *
 * Errors are reported through the program's diagnostic callback when it
 * has one (then resolution goes on, to report every error), else the
 * first error ends resolution.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "lang/catalog.h"
#include "lang/eval.h"
#include "lang/parse_fortran.h"

#define MAX_ERRORS 100

/* "a" or "an" for a word. */
static const char *an(const char *w)
{
    return w && strchr("aeiouAEIOU", w[0]) ? "an" : "a";
}

const char *const fortran_intrinsic_names[FI__COUNT] = {
    [FI_ABS] = "abs",         [FI_MIN] = "min",       [FI_MAX] = "max",
    [FI_MOD] = "mod",         [FI_MODULO] = "modulo", [FI_INT] = "int",
    [FI_NINT] = "nint",       [FI_REAL] = "real",     [FI_FLOOR] = "floor",
    [FI_CEILING] = "ceiling", [FI_SQRT] = "sqrt",     [FI_EXP] = "exp",
    [FI_LOG] = "log",         [FI_LOG10] = "log10",   [FI_MERGE] = "merge",
    [FI_PRESENT] = "present", [FI_SIZE] = "size",     [FI_SUM] = "sum",
    [FI_MINVAL] = "minval",   [FI_MAXVAL] = "maxval", [FI_AVG] = "avg",
    [FI_HISTORY] = "history", [FI_GETVAR] = "getvar", [FI_SETVAR] = "setvar",
    [FI_LEN] = "len",         [FI_TRIM] = "trim",
};

/* Arity of each intrinsic: minimum, maximum (-1: any). */
static const int8_t intr_arity[FI__COUNT][2] = {
    [FI_ABS] = { 1, 1 },     [FI_MIN] = { 2, -1 },    [FI_MAX] = { 2, -1 },
    [FI_MOD] = { 2, 2 },     [FI_MODULO] = { 2, 2 },  [FI_INT] = { 1, 1 },
    [FI_NINT] = { 1, 1 },    [FI_REAL] = { 1, 1 },    [FI_FLOOR] = { 1, 1 },
    [FI_CEILING] = { 1, 1 }, [FI_SQRT] = { 1, 1 },    [FI_EXP] = { 1, 1 },
    [FI_LOG] = { 1, 1 },     [FI_LOG10] = { 1, 1 },   [FI_MERGE] = { 3, 3 },
    [FI_PRESENT] = { 1, -1 }, [FI_SIZE] = { 1, 1 },   [FI_SUM] = { 1, 1 },
    [FI_MINVAL] = { 1, 1 },  [FI_MAXVAL] = { 1, 1 },  [FI_AVG] = { 1, 1 },
    [FI_HISTORY] = { 1, 1 }, [FI_GETVAR] = { 2, 2 },  [FI_SETVAR] = { 3, 3 },
    [FI_LEN] = { 1, 1 },     [FI_TRIM] = { 1, 1 },
};

int fortran_intrinsic_id(const char *name, size_t len)
{
    for (int i = 1; i < FI__COUNT; i++)
        if (strlen(fortran_intrinsic_names[i]) == len &&
            strncasecmp(fortran_intrinsic_names[i], name, len) == 0)
            return i;
    return FI_NONE;
}

const char *fortran_type_name(int t)
{
    static const char *const names[FT__COUNT] = {
        [FT_ANY] = "value",     [FT_INT] = "integer",   [FT_REAL] = "real",
        [FT_LOG] = "logical",   [FT_STR] = "character", [FT_HOST] = "host entity",
        [FT_GUEST] = "guest entity", [FT_ENTITY] = "entity", [FT_ARRAY] = "array",
        [FT_IOREC] = "I/O device record", [FT_IOLIM] = "limit record",
        [FT_IOCUR] = "limit record", [FT_VOID] = "subroutine call",
    };
    return t >= 0 && t < FT__COUNT ? names[t] : "value";
}

/* ---- context ---------------------------------------------------------------- */

typedef struct loopent {
    fnode *loop;
    fdecl *counter;          /* FS_DO: its variable */
} loopent;

typedef struct rctx {
    program *p;
    catalog cat;
    lang_error *err;
    int *err_file;
    int nerr;
    jmp_buf jb;
    int code;
    /* By symbol: the global or parameter, and the classic top-level def. */
    fdecl **gdecl;
    node **cdef;
    bool *cref;               /* referenced by classic code */
    size_t nsym;
    /* The unit being resolved. */
    uint16_t file;
    fproc *proc;
    fdecl **locals;           /* scope stack */
    size_t n_locals, cap_locals;
    uint32_t nslots;
    loopent loops[PARSEF_MAX_DEPTH + 1];
    int n_loops;
    bool const_mode;          /* resolving a constant expression */
    bool seen_exec;           /* a procedure's executable part has begun */
    /* Every local declaration, for the unused-variable warnings. */
    fdecl **all_locals;
    size_t n_all, cap_all;
} rctx;

static _Noreturn void r_nomem(rctx *r)
{
    r->code = -ENOMEM;
    longjmp(r->jb, 1);
}

static void report(rctx *r, uint16_t file, uint32_t line, uint32_t col, bool error,
                   const char *fmt, va_list ap)
{
    char msg[320];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (error && r->nerr++ == 0) {
        r->err->line = line;
        r->err->col = col;
        snprintf(r->err->msg, sizeof(r->err->msg), "%s", msg);
        *r->err_file = file;
    }
    if (r->p->diag)
        r->p->diag(r->p->diag_ud, file, line, col, error, msg);
    if (error && (!r->p->diag || r->nerr >= MAX_ERRORS)) {
        r->code = -EBADMSG;
        longjmp(r->jb, 1);
    }
}

static void rerr_at(rctx *r, uint16_t file, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void rerr_at(rctx *r, uint16_t file, uint32_t line, uint32_t col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(r, file, line, col, true, fmt, ap);
    va_end(ap);
}

static void rerr(rctx *r, const fnode *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void rerr(rctx *r, const fnode *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(r, at->file, at->line, at->col, true, fmt, ap);
    va_end(ap);
}

static void rwarn(rctx *r, uint16_t file, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void rwarn(rctx *r, uint16_t file, uint32_t line, uint32_t col, const char *fmt, ...)
{
    if (!r->p->diag)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(r, file, line, col, false, fmt, ap);
    va_end(ap);
}

static void *ralloc(rctx *r, size_t n)
{
    void *x = arena_calloc(&r->p->ar, n);
    if (!x)
        r_nomem(r);
    return x;
}

static int sym_of(rctx *r, const char *name, size_t len)
{
    int id = symtab_intern(&r->p->syms, name, len);
    if (id < 0)
        r_nomem(r);
    return id;
}

/* Grow the tables by symbol to cover every symbol interned so far. */
static void grow_symarrays(rctx *r)
{
    size_t n = r->p->syms.n;
    if (n <= r->nsym)
        return;
    fdecl **g = mom_realloc(r->gdecl, n * sizeof(*g));
    if (!g)
        r_nomem(r);
    r->gdecl = g;
    node **cd = mom_realloc(r->cdef, n * sizeof(*cd));
    if (!cd)
        r_nomem(r);
    r->cdef = cd;
    bool *cr = mom_realloc(r->cref, n * sizeof(*cr));
    if (!cr)
        r_nomem(r);
    r->cref = cr;
    fproc **fp = mom_realloc(r->p->fprocs, n * sizeof(*fp));
    if (!fp)
        r_nomem(r);
    r->p->fprocs = fp;
    uint8_t *gt = mom_realloc(r->p->gtype, n);
    if (!gt)
        r_nomem(r);
    r->p->gtype = gt;
    for (size_t i = r->nsym; i < n; i++) {
        r->gdecl[i] = NULL;
        r->cdef[i] = NULL;
        r->cref[i] = false;
        r->p->fprocs[i] = NULL;
        r->p->gtype[i] = 0;
    }
    r->nsym = n;
    r->p->n_symarr = n;
}

static const char *file_label(const rctx *r, uint16_t file)
{
    return file < r->p->n_files ? r->p->files[file].label : "?";
}

static bool reserved_global_name(const char *name)
{
    return strcasecmp(name, "host") == 0 || strcasecmp(name, "guests") == 0;
}

/* Check that a declared name may be used for a user variable or
 * procedure. */
static void check_user_name(rctx *r, const char *name, uint16_t file, uint32_t line, uint32_t col)
{
    if (fortran_intrinsic_id(name, strlen(name)))
        rerr_at(r, file, line, col, "'%s' is the name of an intrinsic procedure and cannot be "
                                     "declared",
                name);
    else if (reserved_global_name(name))
        rerr_at(r, file, line, col, "'%s' is predefined and cannot be declared", name);
}

/* ---- scopes ------------------------------------------------------------------ */

static void push_local(rctx *r, fdecl *d)
{
    if (r->n_locals == r->cap_locals) {
        size_t cap = r->cap_locals ? r->cap_locals * 2 : 32;
        fdecl **l = mom_realloc(r->locals, cap * sizeof(*l));
        if (!l)
            r_nomem(r);
        r->locals = l;
        r->cap_locals = cap;
    }
    r->locals[r->n_locals++] = d;
    if (d->dummy)
        return;
    if (r->n_all == r->cap_all) {
        size_t cap = r->cap_all ? r->cap_all * 2 : 32;
        fdecl **l = mom_realloc(r->all_locals, cap * sizeof(*l));
        if (!l)
            r_nomem(r);
        r->all_locals = l;
        r->cap_all = cap;
    }
    r->all_locals[r->n_all++] = d;
}

static fdecl *find_local(const rctx *r, const char *name)
{
    for (size_t i = r->n_locals; i-- > 0;)
        if (strcmp(r->locals[i]->name, name) == 0)
            return r->locals[i];
    return NULL;
}

/* Whether global d is visible at (file, line, col): another file's, or
 * declared earlier in the text of this one. */
static bool visible(const fdecl *d, uint16_t file, uint32_t line, uint32_t col)
{
    return d->file != file || d->line < line || (d->line == line && d->col < col);
}

static fdecl *find_global(rctx *r, const char *name, const fnode *at)
{
    int id = symtab_find(&r->p->syms, name, strlen(name));
    if (id < 0 || (size_t)id >= r->nsym || !r->gdecl[id])
        return NULL;
    fdecl *d = r->gdecl[id];
    return visible(d, at->file, at->line, at->col) ? d : NULL;
}

/* The declared name closest to `name` (locals, globals, procedures). */
static const char *suggest_name(rctx *r, const char *name, bool procs)
{
    const char *best = NULL;
    int bd = 1000;
    for (size_t i = 0; i < r->n_locals; i++) {
        int d = catalog_distance(name, r->locals[i]->name);
        if (d < bd) {
            bd = d;
            best = r->locals[i]->name;
        }
    }
    for (size_t i = 0; i < r->nsym; i++) {
        const char *cand = NULL;
        if (r->gdecl[i])
            cand = r->gdecl[i]->name;
        else if (procs && r->p->fprocs[i])
            cand = r->p->fprocs[i]->name;
        else if (procs && r->cdef[i])
            cand = r->p->syms.names[i];
        if (!cand)
            continue;
        int d = catalog_distance(name, cand);
        if (d < bd) {
            bd = d;
            best = cand;
        }
    }
    if (procs)
        for (int i = 1; i < FI__COUNT; i++) {
            int d = catalog_distance(name, fortran_intrinsic_names[i]);
            if (d < bd) {
                bd = d;
                best = fortran_intrinsic_names[i];
            }
        }
    return best && catalog_close(name, best, bd) ? best : NULL;
}

static void undeclared(rctx *r, const fnode *at, const char *name, bool call)
{
    const char *s = suggest_name(r, name, call);
    char hint[128] = "";
    if (s)
        snprintf(hint, sizeof(hint), "; did you mean '%s'?", s);
    if (call)
        rerr(r, at, "'%s' is not a procedure, a classic def or an intrinsic%s", name, hint);
    else
        rerr(r, at, "'%s' is not declared%s", name, hint);
}

/* ---- types ---------------------------------------------------------------------- */

static bool is_numeric(int t)
{
    return t == FT_INT || t == FT_REAL;
}

/* Known and not a number (and not dynamic). */
static bool not_numeric(int t)
{
    return t != FT_ANY && !is_numeric(t);
}

static void need_logical(rctx *r, const fnode *at, int t, const char *what)
{
    if (t != FT_ANY && t != FT_LOG)
        rerr(r, at, "%s must be logical, not %s", what, fortran_type_name(t));
}

/* Whether a value of static type src may be assigned to type dst. */
static bool assignable(int dst, int src)
{
    if (dst == FT_ANY || src == FT_ANY)
        return true;
    if (is_numeric(dst))
        return is_numeric(src);
    return dst == src;
}

/* ---- expressions ------------------------------------------------------------------ */

static int resolve_expr(rctx *r, fnode *n);
static void fold_decl(rctx *r, fdecl *d);

static void to_const(fnode *n, lval v)
{
    n->op = FX_CONST;
    n->lit = v;
    n->n = 0;
    switch (v.t) {
    case LV_INT: n->type = FT_INT; break;
    case LV_REAL: n->type = FT_REAL; break;
    case LV_BOOL: n->type = FT_LOG; break;
    case LV_STR: n->type = FT_STR; break;
    default: n->type = FT_ANY; break;
    }
}

/* A name used as a value. */
static int resolve_name(rctx *r, fnode *n)
{
    const char *name = n->name;
    if (strcasecmp(name, "host") == 0) {
        if (r->const_mode)
            rerr(r, n, "'host' is not a constant");
        n->op = FX_HOST;
        return n->type = FT_HOST;
    }
    if (strcasecmp(name, "guests") == 0) {
        if (r->const_mode)
            rerr(r, n, "'guests' is not a constant");
        n->op = FX_GUESTS;
        return n->type = FT_ARRAY;
    }
    fdecl *d = find_local(r, name);
    if (!d)
        d = find_global(r, name, n);
    if (!d) {
        int id = symtab_find(&r->p->syms, name, strlen(name));
        if (id >= 0 && (size_t)id < r->nsym && r->gdecl[id]) {
            const fdecl *g = r->gdecl[id];
            rerr(r, n, "'%s' is used before its declaration (line %u)", name, g->line);
            return n->type = FT_ANY;
        }
        if ((id >= 0 && (size_t)id < r->nsym && (r->p->fprocs[id] || r->cdef[id])) ||
            fortran_intrinsic_id(name, strlen(name))) {
            rerr(r, n, "'%s' is a procedure: call it with arguments in parentheses", name);
            return n->type = FT_ANY;
        }
        undeclared(r, n, name, false);
        return n->type = FT_ANY;
    }
    d->uses++;
    if (d->kind == FD_PARAM) {
        if (d->state != 2)
            fold_decl(r, d);
        to_const(n, d->value);
        return n->type;
    }
    if (r->const_mode) {
        rerr(r, n, "'%s' is a variable, not a constant: initializers and parameters may only "
                   "use literals, parameters and numeric intrinsics",
             name);
        return n->type = FT_ANY;
    }
    switch (d->kind) {
    case FD_GLOBAL: n->op = FX_GLOBAL; break;
    case FD_STATIC: n->op = FX_STATIC; break;
    default: n->op = FX_LOCAL; break;
    }
    n->a = d->slot;
    n->ref = d;
    return n->type = d->type;
}

/* Check a component name against the catalog for a base of static type
 * bt; set the node's flags and return the component's static type.
 * `assign` is true for the target of an assignment. */
static int resolve_component(rctx *r, fnode *n, int bt, bool assign)
{
    const char *name = n->name;
    int attr = ast_attr_id(name, n->name_len);
    n->aux = (uint8_t)attr;
    if (bt == FT_IOREC || bt == FT_IOLIM || bt == FT_IOCUR) {
        bool ok;
        int t = FT_ANY;
        if (bt == FT_IOREC) {
            ok = attr == ATTR_NAME || attr == ATTR_PATH || attr == ATTR_GUARANTEED ||
                 attr == ATTR_MAXIMUM || attr == ATTR_CURRENT;
            t = attr == ATTR_CURRENT ? FT_IOCUR
                : attr == ATTR_GUARANTEED || attr == ATTR_MAXIMUM ? FT_IOLIM
                                                                   : FT_ANY;
        } else {
            ok = attr >= ATTR_LIMIT0 && attr <= ATTR_LIMIT_LAST;
        }
        if (!ok) {
            rerr(r, n, "'%s' is not a component of %s", name,
                 bt == FT_IOREC ? "an I/O device record (name, path, guaranteed, maximum, current)"
                                : "a limit record (total_bytes_sec, read_bytes_sec, write_bytes_sec, "
                                  "total_iops_sec, read_iops_sec, write_iops_sec)");
            return FT_ANY;
        }
        if (assign && bt != FT_IOCUR)
            rerr(r, n, "only the current limits of a device can be set (dev%%current%%%s)", name);
        return t;
    }
    if (bt != FT_ANY && bt != FT_HOST && bt != FT_GUEST && bt != FT_ENTITY) {
        rerr(r, n, "'%%%s': %s %s value has no components", name, an(fortran_type_name(bt)),
             fortran_type_name(bt));
        return FT_ANY;
    }
    unsigned conf = 0;
    unsigned bits = catalog_lookup(&r->cat, name, &conf);
    if (bits & CB_HOST_CTL)
        n->flags |= FN_HOSTCTL;
    if (bits & CB_GUEST_CTL)
        n->flags |= FN_GUESTCTL;
    if (bits & (CB_HOST_PROP | CB_GUEST_PROP))
        n->flags |= FN_PROP;
    unsigned field_bit, ctl_bit, prop_bit;
    const char *kind;
    if (bt == FT_HOST) {
        field_bit = CB_HOST_FIELD;
        ctl_bit = CB_HOST_CTL;
        prop_bit = CB_HOST_PROP;
        kind = "the host";
    } else if (bt == FT_GUEST) {
        field_bit = CB_GUEST_FIELD;
        ctl_bit = CB_GUEST_CTL;
        prop_bit = CB_GUEST_PROP;
        kind = "a guest";
    } else {
        field_bit = CB_HOST_FIELD | CB_GUEST_FIELD;
        ctl_bit = CB_HOST_CTL | CB_GUEST_CTL;
        prop_bit = CB_HOST_PROP | CB_GUEST_PROP;
        kind = "any entity";
    }
    bool io_part = bt == FT_ANY && (attr == ATTR_NAME || attr == ATTR_PATH ||
                                    attr == ATTR_GUARANTEED || attr == ATTR_MAXIMUM ||
                                    attr == ATTR_CURRENT ||
                                    (attr >= ATTR_LIMIT0 && attr <= ATTR_LIMIT_LAST));
    if (assign) {
        if (strcmp(name, "io_tune") == 0) {
            rerr(r, n, "io_tune cannot be assigned: set the limits of each device through "
                       "dev%%current%%...");
            return FT_ANY;
        }
        if (bits & ctl_bit) {
            if (!(conf & ctl_bit))
                rwarn(r, n->file, n->line, n->col,
                      "no configured controller carries out the control '%s' (it is ignored)",
                      name);
            return FT_ANY;
        }
        if (io_part && attr >= ATTR_LIMIT0 && attr <= ATTR_LIMIT_LAST)
            return FT_ANY;
        if (bits & field_bit)
            rerr(r, n, "cannot assign to '%s': it is a statistic, not a control", name);
        else if (bits & prop_bit)
            rerr(r, n, "cannot assign to '%s': it is a property, not a control", name);
        else if (bt == FT_HOST && (bits & CB_GUEST_CTL))
            rerr(r, n, "'%s' is a guest control, not a control of the host", name);
        else if (bt == FT_GUEST && (bits & CB_HOST_CTL))
            rerr(r, n, "'%s' is a host control, not a control of a guest", name);
        else if (bits & (CB_HOST_FIELD | CB_GUEST_FIELD))
            rerr(r, n, "cannot assign to '%s': it is a statistic, not a control", name);
        else {
            const char *s = catalog_suggest(&r->cat, name, ctl_bit);
            rerr(r, n, "'%s' is not a control of %s%s%s%s", name, kind, s ? "; did you mean '" : "",
                 s ? s : "", s ? "'?" : "");
        }
        return FT_ANY;
    }
    if (bits & field_bit) {
        if (!(conf & field_bit) && !(bits & (ctl_bit | prop_bit)))
            rwarn(r, n->file, n->line, n->col,
                  "no configured collector produces the statistic '%s' (it reads as absent)",
                  name);
        return strcmp(name, "io_tune") == 0 ? FT_ARRAY : FT_ANY;
    }
    if (bits & prop_bit)
        return strcmp(name, "name") == 0 || strcmp(name, "uuid") == 0 ? FT_STR : FT_ANY;
    if (bits & ctl_bit)
        return FT_ANY;
    if (io_part)
        return attr == ATTR_CURRENT ? FT_IOCUR
               : attr == ATTR_GUARANTEED || attr == ATTR_MAXIMUM ? FT_IOLIM
                                                                  : FT_ANY;
    const char *s = catalog_suggest(&r->cat, name, field_bit | ctl_bit | prop_bit);
    rerr(r, n, "'%s' is not a statistic, property or control of %s%s%s%s", name, kind,
         s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
    return FT_ANY;
}

/* Static result type of an intrinsic call, after checking its arguments. */
static int resolve_intrinsic(rctx *r, fnode *n, int id, bool as_call)
{
    const char *nm = fortran_intrinsic_names[id];
    int mn = intr_arity[id][0], mx = intr_arity[id][1];
    if ((int)n->n < mn || (mx >= 0 && (int)n->n > mx)) {
        if (mn == mx)
            rerr(r, n, "%s() takes %d argument%s, %u given", nm, mn, mn == 1 ? "" : "s", n->n);
        else
            rerr(r, n, "%s() takes at least %d arguments, %u given", nm, mn, n->n);
    }
    if (id == FI_SETVAR && !as_call)
        rerr(r, n, "setvar is a subroutine: write 'call setvar(entity, key, value)'");
    if (id != FI_SETVAR && as_call)
        rerr(r, n, "%s is a function, not a subroutine: use its value in an expression", nm);
    static const bool constant_ok[FI__COUNT] = {
        [FI_ABS] = true,   [FI_MIN] = true,   [FI_MAX] = true,     [FI_MOD] = true,
        [FI_MODULO] = true, [FI_INT] = true,  [FI_NINT] = true,    [FI_REAL] = true,
        [FI_FLOOR] = true, [FI_CEILING] = true, [FI_SQRT] = true,  [FI_EXP] = true,
        [FI_LOG] = true,   [FI_LOG10] = true, [FI_MERGE] = true,   [FI_LEN] = true,
        [FI_TRIM] = true,
    };
    if (r->const_mode && !constant_ok[id])
        rerr(r, n, "%s() cannot be used in a constant expression", nm);
    int t[8] = { 0 };
    for (uint32_t i = 0; i < n->n; i++) {
        int ti = resolve_expr(r, n->kids[i]);
        if (i < 8)
            t[i] = ti;
    }
    n->op = FX_INTR;
    n->a = id;
    if (n->n < (uint32_t)mn)
        return FT_ANY;
    switch (id) {
    case FI_ABS:
        if (not_numeric(t[0]))
            rerr(r, n->kids[0], "abs() needs a number, not %s", fortran_type_name(t[0]));
        return is_numeric(t[0]) ? t[0] : FT_ANY;
    case FI_MIN:
    case FI_MAX: {
        bool all_int = true, any_real = false;
        for (uint32_t i = 0; i < n->n; i++) {
            int ti = n->kids[i]->type;
            if (not_numeric(ti))
                rerr(r, n->kids[i], "%s() needs numbers, not %s", nm, fortran_type_name(ti));
            if (ti != FT_INT)
                all_int = false;
            if (ti == FT_REAL)
                any_real = true;
        }
        return all_int ? FT_INT : any_real ? FT_REAL : FT_ANY;
    }
    case FI_MOD:
    case FI_MODULO:
        for (int i = 0; i < 2; i++)
            if (not_numeric(t[i]))
                rerr(r, n->kids[i], "%s() needs numbers, not %s", nm, fortran_type_name(t[i]));
        return t[0] == FT_INT && t[1] == FT_INT ? FT_INT
               : t[0] == FT_REAL || t[1] == FT_REAL ? FT_REAL
                                                    : FT_ANY;
    case FI_INT:
    case FI_NINT:
    case FI_FLOOR:
    case FI_CEILING:
    case FI_REAL:
    case FI_SQRT:
    case FI_EXP:
    case FI_LOG:
    case FI_LOG10:
        if (not_numeric(t[0]))
            rerr(r, n->kids[0], "%s() needs a number, not %s", nm, fortran_type_name(t[0]));
        return id <= FI_NINT || id == FI_FLOOR || id == FI_CEILING ? FT_INT : FT_REAL;
    case FI_MERGE:
        need_logical(r, n->kids[2], t[2], "the mask of merge()");
        return t[0] == t[1] ? t[0] : FT_ANY;
    case FI_PRESENT: return FT_LOG;
    case FI_SIZE:
    case FI_SUM:
    case FI_MINVAL:
    case FI_MAXVAL:
        if (t[0] != FT_ANY && t[0] != FT_ARRAY)
            rerr(r, n->kids[0], "%s() needs an array, not %s", nm, fortran_type_name(t[0]));
        return id == FI_SIZE ? FT_INT : FT_ANY;
    case FI_AVG:
    case FI_HISTORY: {
        const fnode *a = n->kids[0];
        if (a->op != FX_COMP || (a->kids[0]->type != FT_ANY && a->kids[0]->type != FT_HOST &&
                                 a->kids[0]->type != FT_GUEST && a->kids[0]->type != FT_ENTITY))
            rerr(r, a, "%s() needs a statistic of an entity, such as %s(host%%mem_free)", nm, nm);
        return id == FI_AVG ? FT_REAL : FT_ARRAY;
    }
    case FI_GETVAR:
    case FI_SETVAR:
        if (t[0] != FT_ANY && t[0] != FT_HOST && t[0] != FT_GUEST && t[0] != FT_ENTITY)
            rerr(r, n->kids[0], "%s() needs an entity, not %s", nm, fortran_type_name(t[0]));
        return id == FI_GETVAR ? FT_ANY : FT_VOID;
    case FI_LEN:
    case FI_TRIM:
        if (t[0] != FT_ANY && t[0] != FT_STR)
            rerr(r, n->kids[0], "%s() needs a string, not %s", nm, fortran_type_name(t[0]));
        return id == FI_LEN ? FT_INT : FT_STR;
    default: return FT_ANY;
    }
}

/* name(args): an element of an array variable, an intrinsic, a
 * Fortran-like procedure or a classic def.  `as_call` for `call name`. */
static int resolve_fcall(rctx *r, fnode *n, bool as_call)
{
    const char *name = n->name;
    if (!as_call) {
        if (strcasecmp(name, "guests") == 0 || find_local(r, name) || find_global(r, name, n)) {
            /* An element: rebuild as FX_INDEX over the name. */
            fdecl *d = find_local(r, name);
            if (d && r->proc && r->proc->function && d->slot == r->proc->result_slot &&
                !r->proc->result)
                rerr(r, n, "inside function '%s' its name is the result variable; declare "
                           "result(...) to call it recursively",
                     name);
            if (n->n != 1) {
                rerr(r, n, "an array element takes one index, %u given", n->n);
                return n->type = FT_ANY;
            }
            fnode *base = ralloc(r, sizeof(*base));
            *base = *n;
            base->op = FX_NAME;
            base->n = 0;
            base->kids = NULL;
            int bt = resolve_name(r, base);
            if (bt != FT_ANY && bt != FT_ARRAY)
                rerr(r, n, "'%s' is a %s, not an array", name, fortran_type_name(bt));
            fnode **k = ralloc(r, 2 * sizeof(*k));
            k[0] = base;
            k[1] = n->kids[0];
            n->kids = k;
            n->n = 2;
            n->op = FX_INDEX;
            int it = resolve_expr(r, k[1]);
            if (it != FT_ANY && it != FT_INT)
                rerr(r, k[1], "an array index must be an integer, not %s", fortran_type_name(it));
            return n->type = base->op == FX_GUESTS ? FT_GUEST : FT_ANY;
        }
    }
    int id = fortran_intrinsic_id(name, n->name_len);
    if (id)
        return n->type = (uint8_t)resolve_intrinsic(r, n, id, as_call);
    int sym = symtab_find(&r->p->syms, name, n->name_len);
    fproc *pr = sym >= 0 && (size_t)sym < r->nsym ? r->p->fprocs[sym] : NULL;
    node *def = sym >= 0 && (size_t)sym < r->nsym ? r->cdef[sym] : NULL;
    if (r->const_mode && (pr || def)) {
        rerr(r, n, "'%s' is a procedure: constant expressions may only call numeric intrinsics",
             name);
        return n->type = FT_ANY;
    }
    for (uint32_t i = 0; i < n->n; i++)
        resolve_expr(r, n->kids[i]);
    if (pr) {
        n->op = FX_CALL;
        n->ref = pr;
        n->a = sym;
        pr->calls++;
        if (n->n != pr->nargs)
            rerr(r, n, "'%s' takes %u argument%s, %u given", name, pr->nargs,
                 pr->nargs == 1 ? "" : "s", n->n);
        if (as_call && pr->function)
            rerr(r, n, "'%s' is a function: use its value in an expression instead of 'call'",
                 name);
        if (!as_call && !pr->function)
            rerr(r, n, "'%s' is a subroutine: it has no value; write 'call %s(...)'", name, name);
        for (uint32_t i = 0; i < n->n && i < pr->nargs && pr->arg_types; i++)
            if (!assignable(pr->arg_types[i], n->kids[i]->type))
                rerr(r, n->kids[i], "argument %u of '%s' must be %s, not %s", i + 1, name,
                     fortran_type_name(pr->arg_types[i]), fortran_type_name(n->kids[i]->type));
        return n->type = pr->function ? pr->rtype : FT_VOID;
    }
    if (def) {
        n->op = FX_CCALL;
        n->a = sym;
        const node *params = def->kids[2];
        if (params->kind == N_LIST && params->n != n->n)
            rerr(r, n, "the classic function '%s' takes %u argument%s, %u given", name, params->n,
                 params->n == 1 ? "" : "s", n->n);
        return n->type = FT_ANY;
    }
    undeclared(r, n, name, true);
    return n->type = FT_ANY;
}

static const char *op_text(int op)
{
    switch (op) {
    case FX_ADD: return "+";
    case FX_SUB: return "-";
    case FX_MUL: return "*";
    case FX_DIV: return "/";
    case FX_POW: return "**";
    case FX_CAT: return "//";
    case FX_EQ: return "==";
    case FX_NE: return "/=";
    case FX_LT: return "<";
    case FX_LE: return "<=";
    case FX_GT: return ">";
    case FX_GE: return ">=";
    case FX_AND: return ".and.";
    case FX_OR: return ".or.";
    case FX_EQV: return ".eqv.";
    case FX_NEQV: return ".neqv.";
    case FX_NOT: return ".not.";
    default: return "-";
    }
}

/* Resolve an expression in place; returns (and stores) its static type. */
static int resolve_expr(rctx *r, fnode *n)
{
    int a, b;
    switch ((fop)n->op) {
    case FX_CONST: return n->type;
    case FX_NAME: return resolve_name(r, n);
    case FX_FCALL: return resolve_fcall(r, n, false);
    case FX_COMP: {
        int bt = resolve_expr(r, n->kids[0]);
        if (r->const_mode)
            rerr(r, n, "a component is not a constant");
        return n->type = (uint8_t)resolve_component(r, n, bt, false);
    }
    case FX_INDEX: {
        int bt = resolve_expr(r, n->kids[0]);
        if (bt != FT_ANY && bt != FT_ARRAY)
            rerr(r, n, "%s %s cannot be indexed", an(fortran_type_name(bt)), fortran_type_name(bt));
        int it = resolve_expr(r, n->kids[1]);
        if (n->n != 2)
            rerr(r, n, "an array element takes one index, %u given", n->n - 1);
        if (it != FT_ANY && it != FT_INT)
            rerr(r, n->kids[1], "an array index must be an integer, not %s", fortran_type_name(it));
        return n->type = n->kids[0]->op == FX_GUESTS ? FT_GUEST : FT_ANY;
    }
    case FX_NEG:
        a = resolve_expr(r, n->kids[0]);
        if (not_numeric(a))
            rerr(r, n, "unary '-' needs a number, not %s", fortran_type_name(a));
        return n->type = is_numeric(a) ? a : FT_ANY;
    case FX_NOT:
        a = resolve_expr(r, n->kids[0]);
        need_logical(r, n->kids[0], a, "the operand of .not.");
        return n->type = FT_LOG;
    case FX_ADD:
    case FX_SUB:
    case FX_MUL:
    case FX_DIV:
    case FX_POW:
        a = resolve_expr(r, n->kids[0]);
        b = resolve_expr(r, n->kids[1]);
        if (not_numeric(a) || not_numeric(b)) {
            int bad = not_numeric(a) ? a : b;
            rerr(r, n, "operands of '%s' must be numbers, not %s", op_text(n->op),
                 fortran_type_name(bad));
            return n->type = FT_ANY;
        }
        if (a == FT_INT && b == FT_INT)
            return n->type = FT_INT;
        if (a == FT_REAL || b == FT_REAL)
            return n->type = FT_REAL;
        return n->type = FT_ANY;
    case FX_CAT:
        a = resolve_expr(r, n->kids[0]);
        b = resolve_expr(r, n->kids[1]);
        if ((a != FT_ANY && a != FT_STR) || (b != FT_ANY && b != FT_STR))
            rerr(r, n, "operands of '//' must be strings, not %s",
                 fortran_type_name(a != FT_ANY && a != FT_STR ? a : b));
        return n->type = FT_STR;
    case FX_EQ:
    case FX_NE:
    case FX_LT:
    case FX_LE:
    case FX_GT:
    case FX_GE:
        a = resolve_expr(r, n->kids[0]);
        b = resolve_expr(r, n->kids[1]);
        if (a != FT_ANY && b != FT_ANY) {
            bool ok = (is_numeric(a) && is_numeric(b)) || (a == FT_STR && b == FT_STR) ||
                      (a == FT_LOG && b == FT_LOG && (n->op == FX_EQ || n->op == FX_NE));
            if (!ok)
                rerr(r, n, "cannot compare %s with %s using '%s'", fortran_type_name(a),
                     fortran_type_name(b), op_text(n->op));
        } else {
            int k = a != FT_ANY ? a : b;
            if (k != FT_ANY && !is_numeric(k) && k != FT_STR && k != FT_LOG)
                rerr(r, n, "cannot compare %s %s using '%s'", an(fortran_type_name(k)),
                     fortran_type_name(k), op_text(n->op));
            if (k == FT_LOG && n->op != FX_EQ && n->op != FX_NE)
                rerr(r, n, "logical values can only be compared with == and /=");
        }
        return n->type = FT_LOG;
    case FX_AND:
    case FX_OR:
    case FX_EQV:
    case FX_NEQV:
        a = resolve_expr(r, n->kids[0]);
        b = resolve_expr(r, n->kids[1]);
        need_logical(r, n->kids[0], a, "an operand of a logical operator");
        need_logical(r, n->kids[1], b, "an operand of a logical operator");
        return n->type = FT_LOG;
    default: rerr(r, n, "internal error: unexpected node %d in an expression", n->op); return FT_ANY;
    }
}

/* ---- constants ------------------------------------------------------------------ */

/* Resolve and evaluate a constant expression; *ret is its value. */
static bool fold_expr(rctx *r, fnode *e, lval *ret)
{
    bool saved = r->const_mode;
    r->const_mode = true;
    int before = r->nerr;
    resolve_expr(r, e);
    r->const_mode = saved;
    if (r->nerr != before)
        return false;
    lang_error err = { 0 };
    int rc = evalf_const(r->p, e, ret, &err);
    if (rc == -ENOMEM)
        r_nomem(r);
    if (rc < 0) {
        rerr_at(r, e->file, err.line, err.col, "%s", err.msg);
        return false;
    }
    return true;
}

/* Fold the initializer of a declaration into d->value (converted). */
static void fold_decl(rctx *r, fdecl *d)
{
    if (d->state == 2)
        return;
    if (d->state == 1) {
        rerr_at(r, d->file, d->line, d->col, "the value of '%s' depends on itself", d->name);
        d->value = lv_none();
        d->state = 2;
        return;
    }
    d->state = 1;
    d->value = lv_none();
    if (d->init) {
        /* Fold in the declaration's own file (globals of other files may
         * ask for it from anywhere). */
        uint16_t file = r->file;
        r->file = d->file;
        lval v;
        if (fold_expr(r, d->init, &v)) {
            lval c;
            int rc = evalf_convert(d->type, v, &c);
            if (rc == LVE_TYPE)
                rerr(r, d->init, "cannot initialize %s '%s' with %s %s value",
                     fortran_type_name(d->type), d->name, an(fortran_type_name(d->init->type)),
                     fortran_type_name(d->init->type));
            else if (rc)
                rerr(r, d->init, "the value of '%s' is out of the integer range", d->name);
            else
                d->value = c;
        }
        r->file = file;
    }
    d->state = 2;
}

/* ---- statements ------------------------------------------------------------------- */

static fnode *resolve_block(rctx *r, fnode *first);

static void push_loop(rctx *r, fnode *loop, fdecl *counter)
{
    r->loops[r->n_loops].loop = loop;
    r->loops[r->n_loops].counter = counter;
    r->n_loops++;
}

/* The target of an assignment to a name. */
static int resolve_target_name(rctx *r, fnode *t)
{
    const char *name = t->name;
    if (strcasecmp(name, "host") == 0 || strcasecmp(name, "guests") == 0) {
        rerr(r, t, "cannot assign to '%s'", name);
        return FT_ANY;
    }
    fdecl *d = find_local(r, name);
    if (!d)
        d = find_global(r, name, t);
    if (!d) {
        int sym = symtab_find(&r->p->syms, name, t->name_len);
        if (sym >= 0 && (size_t)sym < r->nsym && (r->p->fprocs[sym] || r->cdef[sym]))
            rerr(r, t, "cannot assign to the procedure '%s'", name);
        else
            resolve_name(r, t); /* reports it */
        return FT_ANY;
    }
    if (d->kind == FD_PARAM) {
        rerr(r, t, "cannot assign to the parameter '%s'", name);
        return FT_ANY;
    }
    if (d->loopvar) {
        rerr(r, t, "cannot assign to '%s': it is the variable of a 'do ... in' loop", name);
        return FT_ANY;
    }
    for (int i = 0; i < r->n_loops; i++)
        if (r->loops[i].counter == d) {
            rerr(r, t, "cannot assign to '%s' inside the loop it counts", name);
            break;
        }
    d->uses++;
    t->op = d->kind == FD_GLOBAL ? FX_GLOBAL : d->kind == FD_STATIC ? FX_STATIC : FX_LOCAL;
    t->a = d->slot;
    t->ref = d;
    return t->type = d->type;
}

static void resolve_assign(rctx *r, fnode *s)
{
    fnode *t = s->kids[0];
    int vt = resolve_expr(r, s->kids[1]);
    if (vt == FT_VOID)
        rerr(r, s->kids[1], "a subroutine call has no value");
    if (t->op == FX_NAME) {
        int tt = resolve_target_name(r, t);
        s->aux = (uint8_t)tt;
        if (!assignable(tt, vt))
            rerr(r, s->kids[1], "cannot assign %s %s value to the %s variable '%s'",
                 an(fortran_type_name(vt)), fortran_type_name(vt), fortran_type_name(tt), t->name);
        return;
    }
    /* A component: a control, or a current I/O limit. */
    int bt = resolve_expr(r, t->kids[0]);
    t->type = (uint8_t)resolve_component(r, t, bt, true);
    s->aux = FT_ANY;
    if (bt == FT_IOCUR && not_numeric(vt))
        rerr(r, s->kids[1], "an I/O limit must be a number, not %s", fortran_type_name(vt));
}

static void resolve_select(rctx *r, fnode *s)
{
    int st = resolve_expr(r, s->kids[0]);
    if (st != FT_ANY && st != FT_INT && st != FT_STR && st != FT_LOG)
        rerr(r, s->kids[0], "the selector of select case must be an integer, a string or a "
                            "logical, not %s",
             fortran_type_name(st));
    bool seen_default = false;
    int kt = st; /* the type of the case values */
    /* Folded values for the overlap check. */
    typedef struct { lval lo, hi; bool has_lo, has_hi; const fnode *at; } crange;
    crange *cr = NULL;
    size_t ncr = 0, capcr = 0;
    for (fnode *c = s->body; c; c = c->next) {
        if (c->flags & FN_DEFAULT) {
            if (seen_default)
                rerr(r, c, "a second 'case default' in one select case");
            seen_default = true;
        }
        for (uint32_t i = 0; i < c->n; i++) {
            fnode *item = c->kids[i];
            crange one = { .at = item };
            fnode *parts[2] = { item, NULL };
            if (item->op == FX_RANGE) {
                parts[0] = item->kids[0];
                parts[1] = item->kids[1];
            }
            bool ok = true;
            for (int k = 0; k < 2; k++) {
                fnode *e = parts[k];
                if (!e)
                    continue;
                lval v;
                if (!fold_expr(r, e, &v)) {
                    ok = false;
                    continue;
                }
                to_const(e, v);
                int vt = e->type;
                if (vt != FT_INT && vt != FT_STR && vt != FT_LOG) {
                    rerr(r, e, "a case value must be an integer, a string or a logical");
                    ok = false;
                    continue;
                }
                if (kt == FT_ANY)
                    kt = vt;
                if (vt != kt) {
                    rerr(r, e, "%s %s case value for %s %s selector", an(fortran_type_name(vt)),
                         fortran_type_name(vt), an(fortran_type_name(kt)), fortran_type_name(kt));
                    ok = false;
                    continue;
                }
                if (k == 0 && item->op == FX_RANGE) {
                    one.lo = v;
                    one.has_lo = true;
                } else if (k == 1) {
                    one.hi = v;
                    one.has_hi = true;
                } else {
                    one.lo = one.hi = v;
                    one.has_lo = one.has_hi = true;
                }
            }
            if (item->op == FX_RANGE && kt == FT_LOG) {
                rerr(r, item, "ranges are allowed for integer and string cases only");
                ok = false;
            }
            if (!ok)
                continue;
            /* Overlaps with every earlier item. */
            for (size_t j = 0; j < ncr; j++) {
                const crange *o = &cr[j];
                bool lo_ok, hi_ok;
                /* Overlap unless one ends before the other starts. */
                if (kt == FT_STR) {
                    lo_ok = !(one.has_hi && o->has_lo &&
                              (strcmp(one.hi.u.s, o->lo.u.s) < 0));
                    hi_ok = !(o->has_hi && one.has_lo && (strcmp(o->hi.u.s, one.lo.u.s) < 0));
                } else if (kt == FT_LOG) {
                    lo_ok = hi_ok = one.lo.u.b == o->lo.u.b;
                } else {
                    lo_ok = !(one.has_hi && o->has_lo && one.hi.u.i < o->lo.u.i);
                    hi_ok = !(o->has_hi && one.has_lo && o->hi.u.i < one.lo.u.i);
                }
                if (lo_ok && hi_ok) {
                    rerr(r, item, "this case overlaps the case at line %u", o->at->line);
                    break;
                }
            }
            if (ncr == capcr) {
                capcr = capcr ? capcr * 2 : 8;
                crange *ncr2 = mom_realloc(cr, capcr * sizeof(*cr));
                if (!ncr2) {
                    mom_free(cr);
                    r_nomem(r);
                }
                cr = ncr2;
            }
            cr[ncr++] = one;
        }
        c->body = resolve_block(r, c->body);
    }
    mom_free(cr);
}

static fnode *resolve_stmt(rctx *r, fnode *s)
{
    switch ((fop)s->op) {
    case FS_NOP: return NULL;
    case FS_DECL:
        if (r->proc)
            rerr(r, s, "declarations must come before the executable statements of a procedure");
        return NULL;
    case FS_PROC:
        rerr(r, s, "a procedure cannot be defined here");
        return NULL;
    case FS_ASSIGN: resolve_assign(r, s); return s;
    case FS_IF:
        need_logical(r, s->kids[0], resolve_expr(r, s->kids[0]), "an if condition");
        s->body = resolve_block(r, s->body);
        s->alt = resolve_block(r, s->alt);
        return s;
    case FS_DOWHILE:
        need_logical(r, s->kids[0], resolve_expr(r, s->kids[0]), "a do while condition");
        push_loop(r, s, NULL);
        s->body = resolve_block(r, s->body);
        r->n_loops--;
        return s;
    case FS_DO: {
        fnode *v = s->kids[0];
        const char *vn = v->name;
        fdecl *d = find_local(r, vn);
        if (!d)
            d = find_global(r, vn, v);
        if (!d) {
            resolve_name(r, v);
        } else if (d->kind == FD_PARAM || d->loopvar || d->type != FT_INT) {
            rerr(r, v, "the variable of a counted do loop must be a declared integer variable");
            d = NULL;
        } else {
            for (int i = 0; i < r->n_loops; i++)
                if (r->loops[i].counter == d)
                    rerr(r, v, "'%s' already counts an enclosing loop", vn);
            d->uses++;
            v->op = d->kind == FD_GLOBAL ? FX_GLOBAL : d->kind == FD_STATIC ? FX_STATIC : FX_LOCAL;
            v->a = d->slot;
            v->type = FT_INT;
            v->ref = d;
        }
        for (int i = 1; i < 4; i++) {
            if (!s->kids[i])
                continue;
            int t = resolve_expr(r, s->kids[i]);
            if (t != FT_ANY && t != FT_INT)
                rerr(r, s->kids[i], "the bounds and step of a counted do loop must be integers, "
                                    "not %s",
                     fortran_type_name(t));
        }
        push_loop(r, s, d);
        s->body = resolve_block(r, s->body);
        r->n_loops--;
        return s;
    }
    case FS_DOIN: {
        int at = resolve_expr(r, s->kids[0]);
        if (at != FT_ANY && at != FT_ARRAY)
            rerr(r, s->kids[0], "'do ... in' needs an array, not %s", fortran_type_name(at));
        fnode *v = s->kids[1];
        if (find_local(r, v->name) || find_global(r, v->name, v))
            rerr(r, v, "the variable '%s' of a 'do ... in' loop is new and local to the loop: it "
                       "must not be declared",
                 v->name);
        check_user_name(r, v->name, v->file, v->line, v->col);
        fdecl *d = ralloc(r, sizeof(*d));
        d->name = v->name;
        d->len = v->name_len;
        d->file = v->file;
        d->line = v->line;
        d->col = v->col;
        d->kind = FD_LOCAL;
        d->loopvar = true;
        d->slot = (int32_t)r->nslots++;
        const fnode *src = s->kids[0];
        d->type = src->op == FX_GUESTS ? FT_GUEST
                  : src->op == FX_COMP && strcmp(src->name, "io_tune") == 0 ? FT_IOREC
                                                                          : FT_ANY;
        d->state = 2;
        s->a = d->slot;
        size_t mark = r->n_locals;
        push_local(r, d);
        push_loop(r, s, NULL);
        s->body = resolve_block(r, s->body);
        r->n_loops--;
        r->n_locals = mark;
        if (!d->uses)
            rwarn(r, d->file, d->line, d->col, "the loop variable '%s' is never used", d->name);
        return s;
    }
    case FS_EXIT:
    case FS_CYCLE: {
        const char *what = s->op == FS_EXIT ? "exit" : "cycle";
        if (!r->n_loops) {
            rerr(r, s, "'%s' outside a loop", what);
            return s;
        }
        if (!s->name) {
            s->ref = r->loops[r->n_loops - 1].loop;
            return s;
        }
        for (int i = r->n_loops; i-- > 0;) {
            fnode *l = r->loops[i].loop;
            if (l->name && strcmp(l->name, s->name) == 0) {
                s->ref = l;
                return s;
            }
        }
        rerr(r, s, "'%s %s': no enclosing loop has the label '%s'", what, s->name, s->name);
        return s;
    }
    case FS_SELECT: resolve_select(r, s); return s;
    case FS_CALL: {
        fnode *c = s->kids[0];
        resolve_fcall(r, c, true);
        return s;
    }
    case FS_RETURN:
        if (!r->proc)
            rerr(r, s, "'return' outside a procedure");
        return s;
    case FS_PRINT:
        for (uint32_t i = 0; i < s->n; i++)
            if (resolve_expr(r, s->kids[i]) == FT_VOID)
                rerr(r, s->kids[i], "a subroutine call has no value");
        return s;
    case FS_STOP:
        if (s->n)
            resolve_expr(r, s->kids[0]);
        return s;
    default: rerr(r, s, "internal error: unexpected statement"); return NULL;
    }
}

/* Resolve a chain of statements; returns the chain without the ones that
 * vanish (declarations, implicit none). */
static fnode *resolve_block(rctx *r, fnode *first)
{
    fnode *head = NULL, **tail = &head;
    for (fnode *s = first, *next; s; s = next) {
        next = s->next;
        s->next = NULL;
        fnode *k = resolve_stmt(r, s);
        if (k) {
            *tail = k;
            tail = &k->next;
        }
    }
    return head;
}

/* ---- procedures --------------------------------------------------------------------- */

static void resolve_proc(rctx *r, fproc *pr)
{
    r->proc = pr;
    r->file = pr->file;
    r->n_locals = 0;
    r->nslots = 0;
    r->n_loops = 0;
    pr->arg_types = ralloc(r, (pr->nargs ? pr->nargs : 1));
    /* Dummies first (slots 0..nargs-1), then the result variable. */
    fdecl **dummies = ralloc(r, (pr->nargs ? pr->nargs : 1) * sizeof(fdecl *));
    for (uint32_t i = 0; i < pr->nargs; i++) {
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(pr->args[i], pr->args[j]) == 0)
                rerr_at(r, pr->file, pr->arg_line[i], pr->arg_col[i],
                        "the dummy argument '%s' appears twice", pr->args[i]);
        check_user_name(r, pr->args[i], pr->file, pr->arg_line[i], pr->arg_col[i]);
        fdecl *d = ralloc(r, sizeof(*d));
        d->name = pr->args[i];
        d->len = (uint32_t)strlen(d->name);
        d->file = pr->file;
        d->line = pr->arg_line[i];
        d->col = pr->arg_col[i];
        d->kind = FD_LOCAL;
        d->dummy = true;
        d->slot = (int32_t)r->nslots++;
        d->state = 2;
        d->type = FT_ANY;
        dummies[i] = d;
        push_local(r, d);
    }
    fdecl *res = NULL;
    if (pr->function) {
        res = ralloc(r, sizeof(*res));
        res->name = pr->result ? pr->result : pr->name;
        res->len = (uint32_t)strlen(res->name);
        res->file = pr->file;
        res->line = pr->line;
        res->col = pr->col;
        res->kind = FD_LOCAL;
        res->dummy = true; /* no unused warning */
        res->slot = (int32_t)r->nslots++;
        res->state = 2;
        res->type = pr->rtype;
        pr->result_slot = res->slot;
        if (find_local(r, res->name))
            rerr_at(r, pr->file, pr->line, pr->col,
                    "the result variable '%s' has the name of a dummy argument", res->name);
        push_local(r, res);
    }
    /* Declarations, which come before the executable statements. */
    fnode *exec = NULL, **etail = &exec;
    fnode *inits = NULL, **itail = &inits;
    bool in_exec = false;
    for (fnode *s = pr->stmts, *next; s; s = next) {
        next = s->next;
        if (s->op == FS_NOP)
            continue;
        if (s->op != FS_DECL) {
            in_exec = true;
            s->next = NULL;
            *etail = s;
            etail = &s->next;
            continue;
        }
        if (in_exec) {
            rerr(r, s, "declarations must come before the executable statements of a procedure");
            continue;
        }
        for (fdecl *d = s->ref; d; d = d->next) {
            fdecl *prev = find_local(r, d->name);
            if (prev && prev->dummy && prev != res) {
                if (d->init || d->param || d->save)
                    rerr_at(r, d->file, d->line, d->col,
                            "the dummy argument '%s' cannot have a value, parameter or save",
                            d->name);
                if (prev->type != FT_ANY && prev->state == 3)
                    rerr_at(r, d->file, d->line, d->col, "'%s' is already declared", d->name);
                prev->type = d->type;
                prev->state = 3;
                for (uint32_t i = 0; i < pr->nargs; i++)
                    if (dummies[i] == prev)
                        pr->arg_types[i] = d->type;
                continue;
            }
            if (prev && prev == res) {
                if (d->init || d->param || d->save)
                    rerr_at(r, d->file, d->line, d->col,
                            "the result variable '%s' cannot have a value, parameter or save",
                            d->name);
                if (pr->rtype != FT_ANY && pr->rtype != d->type)
                    rerr_at(r, d->file, d->line, d->col,
                            "'%s' is declared %s but the function returns %s", d->name,
                            fortran_type_name(d->type), fortran_type_name(pr->rtype));
                pr->rtype = d->type;
                res->type = d->type;
                continue;
            }
            if (prev) {
                rerr_at(r, d->file, d->line, d->col, "'%s' is already declared (line %u)",
                        d->name, prev->line);
                continue;
            }
            check_user_name(r, d->name, d->file, d->line, d->col);
            d->proc = pr;
            if (d->param) {
                d->kind = FD_PARAM;
                push_local(r, d);
                fold_decl(r, d);
                continue;
            }
            if (d->save) {
                d->kind = FD_STATIC;
                fold_decl(r, d);
                fsave *sv = mom_realloc(r->p->saves, (r->p->n_saves + 1) * sizeof(*sv));
                if (!sv)
                    r_nomem(r);
                r->p->saves = sv;
                sv = &sv[r->p->n_saves];
                memset(sv, 0, sizeof(*sv));
                r->p->n_saves++;
                sv->key = mom_asprintf("%s/%s", pr->name, d->name);
                if (!sv->key)
                    r_nomem(r);
                sv->type = d->type;
                sv->global = false;
                sv->slot = (int32_t)r->p->n_statics++;
                sv->init = d->value;
                d->slot = sv->slot;
                push_local(r, d);
                continue;
            }
            d->kind = FD_LOCAL;
            d->slot = (int32_t)r->nslots++;
            push_local(r, d);
            if (d->init) {
                fold_decl(r, d);
                /* slot = folded value, on every call */
                fnode *a = ralloc(r, sizeof(*a));
                a->op = FS_ASSIGN;
                a->file = d->file;
                a->line = d->line;
                a->col = d->col;
                a->aux = d->type;
                a->n = 2;
                a->kids = ralloc(r, 2 * sizeof(fnode *));
                a->kids[0] = ralloc(r, sizeof(fnode));
                a->kids[0]->op = FX_LOCAL;
                a->kids[0]->a = d->slot;
                a->kids[0]->file = d->file;
                a->kids[0]->line = d->line;
                a->kids[0]->col = d->col;
                a->kids[1] = ralloc(r, sizeof(fnode));
                to_const(a->kids[1], d->value);
                a->kids[1]->file = d->file;
                a->kids[1]->line = d->line;
                a->kids[1]->col = d->col;
                *itail = a;
                itail = &a->next;
            }
        }
    }
    pr->inits = inits;
    pr->body = resolve_block(r, exec);
    pr->nslots = r->nslots;
    pr->resolved = true;
    r->proc = NULL;
    r->n_locals = 0;
}

/* ---- passes ------------------------------------------------------------------------- */

/* Mark the symbols a classic tree refers to (uses of shared globals). */
static void mark_classic(rctx *r, const node *n)
{
    switch ((node_kind)n->kind) {
    case N_SYM:
        if (n->sym >= 0 && (size_t)n->sym < r->nsym)
            r->cref[n->sym] = true;
        break;
    case N_DOT:
        if (n->base >= 0 && (size_t)n->base < r->nsym)
            r->cref[n->base] = true;
        break;
    case N_LIST:
        for (uint32_t i = 0; i < n->n; i++)
            mark_classic(r, n->kids[i]);
        break;
    default: break;
    }
}

/* Pass 1: globals, parameters and procedures of every Fortran-like file. */
static void collect(rctx *r)
{
    program *p = r->p;
    for (size_t fi = 0; fi < p->n_files; fi++) {
        ffile *f = p->files[fi].fort;
        if (!f)
            continue;
        for (fnode *it = f->items; it; it = it->next) {
            if (it->op == FS_DECL) {
                for (fdecl *d = it->ref; d; d = d->next) {
                    check_user_name(r, d->name, d->file, d->line, d->col);
                    int sym = sym_of(r, d->name, d->len);
                    grow_symarrays(r);
                    if (r->gdecl[sym]) {
                        const fdecl *o = r->gdecl[sym];
                        if (o->file == d->file)
                            rerr_at(r, d->file, d->line, d->col,
                                    "'%s' is already declared (line %u)", d->name, o->line);
                        else
                            rerr_at(r, d->file, d->line, d->col,
                                    "'%s' is already declared in %s:%u", d->name,
                                    file_label(r, o->file), o->line);
                        continue;
                    }
                    if (p->fprocs[sym]) {
                        rerr_at(r, d->file, d->line, d->col,
                                "'%s' is already the name of a procedure", d->name);
                        continue;
                    }
                    r->gdecl[sym] = d;
                    d->kind = d->param ? FD_PARAM : FD_GLOBAL;
                    d->slot = sym;
                    p->gtype[sym] = (uint8_t)(d->type | (d->param ? GT_PARAM : 0));
                }
            } else if (it->op == FS_PROC) {
                fproc *pr = it->ref;
                check_user_name(r, pr->name, pr->file, pr->line, pr->col);
                int sym = sym_of(r, pr->name, pr->len);
                grow_symarrays(r);
                pr->sym = sym;
                if (p->fprocs[sym]) {
                    const fproc *o = p->fprocs[sym];
                    rerr_at(r, pr->file, pr->line, pr->col,
                            "a procedure named '%s' is already defined at %s:%u", pr->name,
                            file_label(r, o->file), o->line);
                    continue;
                }
                if (r->gdecl[sym]) {
                    rerr_at(r, pr->file, pr->line, pr->col,
                            "'%s' is already the name of a global variable", pr->name);
                    continue;
                }
                p->fprocs[sym] = pr;
            }
        }
    }
    grow_symarrays(r);
    /* Classic top-level defs: callable from Fortran-like code, and never
     * the name of a Fortran-like procedure. */
    for (size_t i = 0; i < p->n_hoist; i++) {
        node *d = p->hoist[i];
        int32_t sym = d->kids[1]->sym;
        if (sym < 0 || (size_t)sym >= r->nsym)
            continue;
        if (p->fprocs[sym]) {
            const node *nm = d->kids[1];
            rerr_at(r, nm->file, nm->line, nm->col,
                    "the classic def '%s' has the name of a Fortran-like procedure (%s:%u)",
                    p->syms.names[sym], file_label(r, p->fprocs[sym]->file),
                    p->fprocs[sym]->line);
            continue;
        }
        if (!r->cdef[sym])
            r->cdef[sym] = d;
    }
    for (size_t fi = 0; fi < p->n_files; fi++)
        for (size_t j = 0; j < p->files[fi].n_top; j++)
            mark_classic(r, p->files[fi].top[j]);
}

/* Pass 2: fold every global's initializer; make the lists the evaluator
 * binds from. */
static void fold_globals(rctx *r)
{
    program *p = r->p;
    size_t n = 0;
    for (size_t i = 0; i < r->nsym; i++)
        if (r->gdecl[i])
            n++;
    p->fglobals = mom_calloc(n ? n : 1, sizeof(*p->fglobals));
    if (!p->fglobals)
        r_nomem(r);
    for (size_t fi = 0; fi < p->n_files; fi++) {
        ffile *f = p->files[fi].fort;
        if (!f)
            continue;
        for (fnode *it = f->items; it; it = it->next) {
            if (it->op != FS_DECL)
                continue;
            for (fdecl *d = it->ref; d; d = d->next) {
                int sym = symtab_find(&p->syms, d->name, d->len);
                if (sym < 0 || r->gdecl[sym] != d)
                    continue;
                r->proc = NULL;
                r->n_locals = 0;
                fold_decl(r, d);
                p->fglobals[p->n_fglobals++] = d;
                if (d->save && !d->param) {
                    fsave *sv = mom_realloc(p->saves, (p->n_saves + 1) * sizeof(*sv));
                    if (!sv)
                        r_nomem(r);
                    p->saves = sv;
                    sv = &sv[p->n_saves];
                    memset(sv, 0, sizeof(*sv));
                    p->n_saves++;
                    if (!(sv->key = mom_strdup(d->name)))
                        r_nomem(r);
                    sv->type = d->type;
                    sv->global = true;
                    sv->slot = sym;
                    sv->init = d->value;
                }
            }
        }
    }
}

/* Pass 3: the bodies, file by file in name order. */
static void resolve_files(rctx *r)
{
    program *p = r->p;
    for (size_t fi = 0; fi < p->n_files; fi++) {
        ffile *f = p->files[fi].fort;
        if (!f)
            continue;
        fnode *body = NULL, **tail = &body;
        uint32_t top_slots = 0;
        for (fnode *it = f->items, *next; it; it = next) {
            next = it->next;
            if (it->op == FS_DECL || it->op == FS_NOP)
                continue;
            if (it->op == FS_PROC) {
                resolve_proc(r, it->ref);
                continue;
            }
            r->proc = NULL;
            r->file = (uint16_t)fi;
            r->n_locals = 0;
            r->n_loops = 0;
            r->nslots = top_slots;
            it->next = NULL;
            fnode *s = resolve_stmt(r, it);
            top_slots = r->nslots;
            if (s) {
                *tail = s;
                tail = &s->next;
            }
        }
        f->body = body;
        f->nslots = top_slots;
    }
}

/* Warnings for names declared and never used. */
static void unused(rctx *r)
{
    program *p = r->p;
    for (size_t i = 0; i < p->n_fglobals; i++) {
        const fdecl *d = p->fglobals[i];
        int sym = symtab_find(&p->syms, d->name, d->len);
        if (!d->uses && !(sym >= 0 && r->cref[sym]))
            rwarn(r, d->file, d->line, d->col, "'%s' is declared but never used", d->name);
    }
    for (size_t i = 0; i < r->n_all; i++) {
        const fdecl *d = r->all_locals[i];
        if (!d->uses && !d->loopvar)
            rwarn(r, d->file, d->line, d->col, "'%s' is declared but never used", d->name);
    }
}

int resolvef_parse(program *p, uint16_t file, lang_error *err)
{
    pfile *f = &p->files[file];
    p->has_fortran = true;
    return parsef_text(&p->ar, file, f->text, f->len, &f->fort, err);
}

int resolvef_program(program *p, lang_error *err, int *ret_file)
{
    rctx *r = mom_calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->p = p;
    r->err = err;
    r->err_file = ret_file;
    int rc = catalog_init(&r->cat, p->catalog);
    if (rc < 0) {
        mom_free(r);
        return rc;
    }
    if (setjmp(r->jb)) {
        rc = r->code;
        goto out;
    }
    grow_symarrays(r);
    collect(r);
    fold_globals(r);
    resolve_files(r);
    unused(r);
    rc = r->nerr ? -EBADMSG : 0;
    if (!rc)
        evalf_link(p);
out:
    catalog_done(&r->cat);
    mom_free(r->gdecl);
    mom_free(r->cdef);
    mom_free(r->cref);
    mom_free(r->locals);
    mom_free(r->all_locals);
    mom_free(r);
    return rc;
}
