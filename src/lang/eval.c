/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The evaluator: compiled programs and the tree-walking interpreter of the
 * classic dialect's semantics (POLICY-CLASSIC §4, §5): dynamic scoping,
 * head resolution (variable, built-in form, eval, user function), the
 * built-in forms, user-function calls, the step budget and the depth limit.
 */
#include "lang/eval.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/parse_classic.h"
#include "lang/prefetch.h"

/* Memory one evaluation may use before it fails (runaway repetitions). */
#define EVAL_MEMORY_LIMIT ((size_t)256 << 20)

/* lval_truthy with the common cases inline. */
static inline bool truthy(lval v)
{
    if (v.t == LV_BOOL)
        return v.u.b;
    if (v.t == LV_INT)
        return v.u.i != 0;
    return lval_truthy(v);
}

/* Integers up to this magnitude convert to doubles exactly. */
#define LV_EXACT (INT64_C(1) << 53)

/* Signatures of the built-in forms: internal name, listed slots, and
 * whether the last slot repeats (POLICY-CLASSIC §4.4). */
static const struct {
    const char *iname;
    uint8_t nargs;
    bool variadic;
} form_sig[FORM__COUNT] = {
    [FORM_DEF] = { "def", 3, false },     [FORM_DEFVAR] = { "defvar", 2, false },
    [FORM_SET] = { "set", 2, false },     [FORM_LET] = { "let", 2, true },
    [FORM_WITH] = { "with", 3, false },   [FORM_IF] = { "if", 3, false },
    [FORM_ADD] = { "add", 2, false },     [FORM_SUB] = { "sub", 2, false },
    [FORM_MUL] = { "mul", 2, false },     [FORM_DIV] = { "div", 2, false },
    [FORM_LT] = { "lt", 2, false },       [FORM_GT] = { "gt", 2, false },
    [FORM_LTE] = { "lte", 2, false },     [FORM_GTE] = { "gte", 2, false },
    [FORM_EQ] = { "eq", 2, false },       [FORM_NEQ] = { "neq", 2, false },
    [FORM_SHL] = { "shl", 2, false },     [FORM_SHR] = { "shr", 2, false },
    [FORM_AND] = { "and", 1, true },      [FORM_OR] = { "or", 1, true },
    [FORM_NOT] = { "not", 1, false },     [FORM_MIN] = { "min", 1, true },
    [FORM_MAX] = { "max", 1, true },      [FORM_NULL] = { "null", 0, true },
    [FORM_VALID] = { "valid", 0, true },  [FORM_EVAL] = { "eval", 0, true },
};

/* Operator spellings for messages, by form. */
static const char *const form_op[FORM__COUNT] = {
    [FORM_ADD] = "+", [FORM_SUB] = "-", [FORM_MUL] = "*", [FORM_DIV] = "/",
    [FORM_LT] = "<",  [FORM_GT] = ">",  [FORM_LTE] = "<=", [FORM_GTE] = ">=",
    [FORM_SHL] = "<<", [FORM_SHR] = ">>",
};

static inline bool is_symtok(const node *n)
{
    return n->kind == N_SYM || n->kind == N_DOT || n->kind == N_NIL;
}

/* A compiled node (see "the compiled form" below). */
typedef lval (*cnode_fn)(evalctx *c, struct cnode *n);

struct cnode {
    cnode_fn fn;
    const node *ast;          /* the node: errors and the tree walker */
    struct cnode *a, *b, *d;  /* the first three operands */
    struct cnode **k;         /* the operands (let: the bound values, then the body) */
    uint32_t nk;
    uint32_t np;              /* let: bindings; def: parameters */
    int32_t sym;              /* symbol read; a list's head symbol */
    int32_t base;             /* dotted names: symbol of the base */
    int32_t target;           /* defvar, set: the variable */
    int32_t *syms;            /* let: the bound symbols; def: the parameters */
    lval lit;                 /* literals */
    const void *tab;          /* field reads: the table fid belongs to */
    int32_t fid;
    uint16_t attr;            /* dotted names and heads: ATTR_* */
    bool head_check;          /* some code may bind the head's name */
    bool callable;            /* def: calls may use syms and body */
    struct cnode *body;       /* def, with: the body */
};

typedef struct cnode cnode;

static int compile_program(program *p);
static lval run_body(evalctx *c, struct cnode *body);

/* ---- programs ------------------------------------------------------------ */

int program_new(program **ret)
{
    program *p = mom_calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    arena_init(&p->ar, 16384);
    arena_init(&p->run, 65536);
    p->run.limit = EVAL_MEMORY_LIMIT;
    symtab_init(&p->syms, &p->ar);
    static const char *const pre[] = { "abs", "debug", "Host", "Guests" };
    int32_t *ids[] = { &p->sym_abs, &p->sym_debug, &p->sym_host, &p->sym_guests };
    for (size_t i = 0; i < 4; i++) {
        int id = symtab_intern(&p->syms, pre[i], strlen(pre[i]));
        if (id < 0) {
            program_free(p);
            return id;
        }
        *ids[i] = id;
    }
    *ret = p;
    return 0;
}

void program_free(program *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_files; i++) {
        mom_free(p->files[i].name);
        mom_free(p->files[i].label);
        mom_free(p->files[i].text);
    }
    mom_free(p->files);
    mom_free(p->hoist);
    mom_free(p->slots);
    mom_free(p->funcs);
    mom_free(p->undo);
    for (size_t i = 0; i < p->n_io_cache; i++)
        intr_cache_clear(&p->io_cache[i]);
    mom_free(p->io_cache);
    mom_free(p->fglobals);
    mom_free(p->fprocs);
    mom_free(p->gtype);
    for (size_t i = 0; i < p->n_saves; i++) {
        mom_free(p->saves[i].key);
        mom_free(p->saves[i].str);
    }
    mom_free(p->saves);
    mom_free(p->statics);
    mom_free(p->fstack);
    histcache_free(&p->hc);
    symtab_done(&p->syms);
    arena_free(&p->run);
    arena_free(&p->ar);
    mom_free(p);
}

int program_add(program *p, const char *name, const char *label, const char *text,
                policy_dialect dialect, lang_error *err)
{
    if (p->n_files >= UINT16_MAX)
        return -E2BIG;
    pfile *files = mom_realloc(p->files, (p->n_files + 1) * sizeof(*files));
    if (!files)
        return -ENOMEM;
    p->files = files;
    pfile *f = &p->files[p->n_files];
    memset(f, 0, sizeof(*f));
    f->len = strlen(text);
    f->name = mom_strdup(name);
    f->label = mom_strdup(label ? label : name);
    f->text = mom_strndup(text, f->len);
    f->dialect = dialect;
    p->n_files++;
    if (!f->name || !f->label || !f->text)
        return -ENOMEM;
    if (dialect == POLICY_DIALECT_FORTRAN)
        return resolvef_parse(p, (uint16_t)(p->n_files - 1), err);
    int r = parsec_text(&p->ar, (uint16_t)(p->n_files - 1), f->text, f->len, &f->top, &f->n_top,
                        err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < f->n_top; i++)
        if ((r = resolve_classic(&p->ar, &p->syms, f->top[i])) < 0)
            return r;
    return 0;
}

/* Frames of Fortran-like procedures beyond this many slots come from the
 * evaluation's arena. */
#define FSTACK_SLOTS 4096

int program_finish(program *p, lang_error *err, int *ret_file)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_files; i++)
        n += p->files[i].n_top;
    p->hoist = mom_calloc(n ? n : 1, sizeof(*p->hoist));
    if (!p->hoist)
        return -ENOMEM;
    /* Top-level definitions exist from the start of every run
     * (POLICY-LANGUAGE §13, cross-dialect calls). */
    for (size_t i = 0; i < p->n_files; i++)
        for (size_t j = 0; j < p->files[i].n_top; j++) {
            node *d = p->files[i].top[j];
            if (d->kind == N_LIST && d->form == FORM_DEF && d->n == 4 && is_symtok(d->kids[1]))
                p->hoist[p->n_hoist++] = d;
        }
    if (p->has_fortran) {
        int r = resolvef_program(p, err, ret_file);
        if (r < 0)
            return r;
        p->statics = mom_calloc(p->n_statics ? p->n_statics : 1, sizeof(*p->statics));
        p->fstack = mom_calloc(FSTACK_SLOTS, sizeof(*p->fstack));
        if (!p->statics || !p->fstack)
            return -ENOMEM;
        p->fstack_cap = FSTACK_SLOTS;
        for (size_t i = 0; i < p->n_saves; i++)
            p->saves[i].v = p->saves[i].init;
    }
    /* The resolver may have interned names: size the tables last. */
    p->slots = mom_calloc(p->syms.n ? p->syms.n : 1, sizeof(*p->slots));
    p->funcs = mom_calloc(p->syms.n ? p->syms.n : 1, sizeof(*p->funcs));
    if (!p->slots || !p->funcs)
        return -ENOMEM;
    return p->general ? 0 : compile_program(p);
}

/* ---- errors -------------------------------------------------------------- */

void eval_node_name(const node *n, const char **ret, int *ret_len)
{
    *ret = n->text;
    *ret_len = (int)n->len;
}

/* Format and raise a run-time error at (file, line, col). */
static _Noreturn void fail_va(evalctx *c, uint16_t file, uint32_t line, uint32_t col,
                              const char *fmt, va_list ap)
{
    sbuf b = { 0 };
    const pfile *f = file < c->prog->n_files ? &c->prog->files[file]
                     : c->prog->n_files      ? &c->prog->files[0]
                                             : NULL;
    sbuf_printf(&b, "%s:%u:%u: error: ", f ? f->label : "policy", line, col);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    c->err_line = line;
    c->err_col = col;
    memcpy(c->err_msg, msg, sizeof(c->err_msg) - 1);
    c->err_msg[sizeof(c->err_msg) - 1] = '\0';
    sbuf_puts(&b, msg);
    if (c->gtop && c->gtop->g->se->name)
        sbuf_printf(&b, " (guest %s)", c->gtop->g->se->name);
    if (b.failed) {
        mom_free(b.buf);
        eval_nomem(c);
    }
    c->err = b.buf;
    c->err_code = MOM_E_POLICY;
    longjmp(c->jb, 1);
}

void eval_fail(evalctx *c, const node *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_va(c, at ? at->file : 0, at ? at->line : 1, at ? at->col : 1, fmt, ap);
}

void eval_fail_at(evalctx *c, uint16_t file, uint32_t line, uint32_t col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_va(c, file, line, col, fmt, ap);
}

void eval_nomem(evalctx *c)
{
    c->err_code = -ENOMEM;
    longjmp(c->jb, 1);
}

static _Noreturn void undefined(evalctx *c, const node *n)
{
    eval_fail(c, n, "undefined symbol %.*s on line %u", (int)n->len, n->text, n->line);
}

/* Report a failed value operation of the form `form`. */
static _Noreturn void op_fail(evalctx *c, const node *at, int err, int form, lval x, lval y)
{
    const char *op = form_op[form] ? form_op[form] : form_sig[form].iname;
    switch (err) {
    case LVE_ZERO: eval_fail(c, at, "division by zero on line %u", at->line);
    case LVE_OVERFLOW: eval_fail(c, at, "integer overflow on line %u", at->line);
    case LVE_NEGSHIFT: eval_fail(c, at, "negative shift count on line %u", at->line);
    case LVE_TOOBIG:
        eval_fail(c, at, "result of %s longer than %u bytes on line %u", op, LV_MAX_SEQ, at->line);
    case LVE_NOMEM:
        if (c->ar->limit && c->ar->total + c->ar->block_size > c->ar->limit)
            eval_fail(c, at, "policy evaluation used more than %zu MiB on line %u",
                      c->ar->limit >> 20, at->line);
        eval_nomem(c);
    default:
        eval_fail(c, at, "unsupported operand types for %s: '%s' and '%s' on line %u", op,
                  lval_type_name(x), lval_type_name(y), at->line);
    }
}

/* ---- scopes -------------------------------------------------------------- */

static inline size_t scope_push(evalctx *c)
{
    c->level++;
    return c->n_undo;
}

static inline void scope_pop(evalctx *c, size_t mark)
{
    undo_rec *u = c->prog->undo;
    while (c->n_undo > mark) {
        const undo_rec *r = &u[--c->n_undo];
        slot *s = &c->slots[r->sym];
        s->v = r->v;
        s->level = r->level;
    }
    c->level--;
}

/* Make room for one more undo record. */
static __attribute__((noinline)) void undo_grow(evalctx *c)
{
    program *p = c->prog;
    size_t cap = p->cap_undo ? p->cap_undo * 2 : 256;
    undo_rec *u = mom_realloc(p->undo, cap * sizeof(*u));
    if (!u)
        eval_nomem(c);
    p->undo = u;
    p->cap_undo = cap;
}

/* Bind with defvar rules in the innermost scope: a name already bound in
 * that scope keeps its value.  Returns the value bound there. */
static inline lval bind(evalctx *c, int32_t sym, lval v)
{
    slot *s = &c->slots[sym];
    if (s->level == c->level)
        return s->v;
    if (c->level > 0) {
        program *p = c->prog;
        if (__builtin_expect(c->n_undo == p->cap_undo, 0))
            undo_grow(c);
        undo_rec *r = &p->undo[c->n_undo++];
        r->sym = sym;
        r->level = s->level;
        r->v = s->v;
    }
    s->v = v;
    s->level = c->level;
    return v;
}

/* Look a dotted name up (§5.5): the first binding of BASE, searching
 * outward, whose value has the attribute. */
static bool lookup_dot(evalctx *c, const node *n, lval *ret)
{
    const slot *s = &c->slots[n->base];
    if (s->level < 0)
        return false;
    if (intr_attr(c, s->v, n, ret))
        return true;
    const undo_rec *u = c->prog->undo;
    for (size_t i = c->n_undo; i-- > 0;)
        if (u[i].sym == n->base && u[i].level >= 0 && intr_attr(c, u[i].v, n, ret))
            return true;
    return false;
}

/* Read a symbol-like node without failing. */
static bool lookup(evalctx *c, const node *n, lval *ret)
{
    if (n->kind == N_NIL) {
        *ret = lv_none();
        return true;
    }
    if (n->kind == N_DOT)
        return lookup_dot(c, n, ret);
    const slot *s = &c->slots[n->sym];
    *ret = s->v;
    return s->level >= 0;
}

static void *eval_alloc(evalctx *c, const node *at, size_t n)
{
    void *p = arena_alloc(c->ar, n);
    if (!p)
        op_fail(c, at, LVE_NOMEM, FORM_NONE, lv_none(), lv_none());
    return p;
}

/* ---- forms --------------------------------------------------------------- */

static lval eval_list(evalctx *c, const node *n);
static inline lval eval_fast(evalctx *c, const node *n);

static _Noreturn void malformed(evalctx *c, const node *list)
{
    eval_fail(c, list->kids[0], "malformed expression on line %u", list->kids[0]->line);
}

/* (let BINDINGS BODY...) and user-function calls, which are lets whose
 * bindings pair each parameter with an argument expression. */
static lval eval_let(evalctx *c, const node *n)
{
    const node *h = n->kids[0];
    const node *b = n->kids[1];
    if (b->kind != N_LIST)
        eval_fail(c, b, "Expecting list as arg 1 in let");
    size_t mark = scope_push(c);
    for (uint32_t i = 0; i < b->n; i++) {
        const node *pair = b->kids[i];
        if (pair->kind != N_LIST || pair->n != 2)
            eval_fail(c, pair, "Expecting list of tuples in arg1 of let");
        if (!is_symtok(pair->kids[0]))
            eval_fail(c, pair->kids[0], "Expecting list of (symbol value) in let");
        lval v = eval_fast(c, pair->kids[1]);
        bind(c, pair->kids[0]->sym, v);
    }
    (void)h;
    lval v = lv_none();
    for (uint32_t i = 2; i < n->n; i++)
        v = eval_fast(c, n->kids[i]);
    scope_pop(c, mark);
    return v;
}

/* A call of the user function `def` (a def list) by the list n. */
static lval call_user(evalctx *c, const node *n, const node *def)
{
    const node *name = def->kids[1], *params = def->kids[2], *body = def->kids[3];
    uint32_t nargs = n->n - 1;
    uint32_t nparams = params->kind == N_LIST ? params->n : 0;
    if (params->kind != N_LIST)
        eval_fail(c, params, "Expecting list of (symbol value) in let");
    if (nargs != nparams)
        eval_fail(c, n->kids[0], "Function \"%.*s\" invoked with incorrect arity on line %u",
                  (int)name->len, name->text, n->kids[0]->line);
    if (++c->calls > c->depth_limit)
        eval_fail(c, n->kids[0], "call depth limit (%d) exceeded calling \"%.*s\" on line %u",
                  c->depth_limit, (int)name->len, name->text, n->kids[0]->line);
    size_t mark = scope_push(c);
    for (uint32_t i = 0; i < nparams; i++) {
        const node *p = params->kids[i];
        if (!is_symtok(p))
            eval_fail(c, p, "Expecting list of (symbol value) in let");
        lval v = eval_fast(c, n->kids[i + 1]);
        bind(c, p->sym, v);
    }
    lval v = eval_fast(c, body);
    scope_pop(c, mark);
    c->calls--;
    return v;
}

lval eval_call_def(evalctx *c, const node *def, const lval *args, uint32_t nargs,
                   const fnode *at)
{
    const node *name = def->kids[1], *params = def->kids[2], *body = def->kids[3];
    if (params->kind != N_LIST)
        eval_fail_at(c, at->file, at->line, at->col, "Expecting list of (symbol value) in let");
    if (nargs != params->n)
        eval_fail_at(c, at->file, at->line, at->col,
                     "Function \"%.*s\" invoked with incorrect arity on line %u", (int)name->len,
                     name->text, at->line);
    if (++c->calls > c->depth_limit)
        eval_fail_at(c, at->file, at->line, at->col,
                     "call depth limit (%d) exceeded calling \"%.*s\" on line %u", c->depth_limit,
                     (int)name->len, name->text, at->line);
    /* The classic body sees the globals and its parameters only: the
     * caller's locals live in Fortran-like frames, not in symbol slots. */
    size_t mark = scope_push(c);
    for (uint32_t i = 0; i < nargs; i++) {
        const node *p = params->kids[i];
        if (!is_symtok(p))
            eval_fail(c, p, "Expecting list of (symbol value) in let");
        bind(c, p->sym, args[i]);
    }
    int nest = c->nest;
    lval v = def->cn && def->cn->callable ? run_body(c, def->cn->body) : eval_fast(c, body);
    c->nest = nest;
    scope_pop(c, mark);
    c->calls--;
    return v;
}

/* Iterate VAR over the value named ITER and collect BODY's values; the
 * compiled body runs when cbody is not NULL. */
static lval eval_with(evalctx *c, const node *n, struct cnode *cbody)
{
    const node *iter = n->kids[1], *var = n->kids[2], *body = n->kids[3];
    lval it;
    if (!lookup(c, iter, &it))
        undefined(c, iter);
    uint32_t count;
    switch (it.t) {
    case LV_LIST: count = it.u.l->n; break;
    case LV_GUESTS: count = it.u.g->n; break;
    case LV_STR: {
        int64_t len;
        lval_length(it, &len);
        count = (uint32_t)len;
        break;
    }
    case LV_MAPV: count = (uint32_t)it.u.mv->u.c.n; break;
    default:
        eval_fail(c, iter, "'%s' object %.*s is not iterable on line %u", lval_type_name(it),
                  (int)iter->len, iter->text, iter->line);
    }
    llist *res = eval_alloc(c, n, sizeof(*res) + (size_t)count * sizeof(lval));
    res->n = count;
    size_t spos = 0;
    for (uint32_t i = 0; i < count; i++) {
        lval item;
        gframe frame;
        bool guest = false;
        switch (it.t) {
        case LV_LIST: item = it.u.l->items[i]; break;
        case LV_GUESTS:
            policy_prefetch(it.u.g, i, c->prog->pf_cur, c->prog->pf_hist, &c->prog->hc);
            item.t = LV_ENTITY;
            item.u.e = &it.u.g->items[i];
            frame.g = item.u.e;
            frame.up = c->gtop;
            c->gtop = &frame;
            guest = true;
            break;
        case LV_MAPV: {
            const char *k = it.u.mv->u.c.keys[i];
            item = lv_str(k, (uint32_t)strlen(k));
            break;
        }
        default: {
            /* One UTF-8 character at a time. */
            size_t end = spos + 1;
            while (end < it.len && ((unsigned char)it.u.s[end] & 0xC0) == 0x80)
                end++;
            item = lv_str(it.u.s + spos, (uint32_t)(end - spos));
            spos = end;
            break;
        }
        }
        size_t mark = scope_push(c);
        bind(c, var->sym, item);
        res->items[i] = cbody ? run_body(c, cbody) : eval_fast(c, body);
        scope_pop(c, mark);
        if (guest)
            c->gtop = frame.up;
    }
    lval v = { .t = LV_LIST, .u.l = res };
    return v;
}

/* The built-in forms that policies use less (out of eval_form, whose
 * frame stays small); the arity is checked. */
static __attribute__((noinline)) lval eval_form_rare(evalctx *c, const node *n)
{
    int form = n->form;
    uint32_t nargs = n->n - 1;
    const node *h = n->kids[0];
    const node *const *a = (const node *const *)n->kids + 1;
    lval x, r;
    bool b;
    int err;
    switch (form) {
    case FORM_DEF:
        if (!is_symtok(a[0]))
            malformed(c, n);
        if (c->prog->fprocs && (size_t)a[0]->sym < c->prog->n_symarr &&
            c->prog->fprocs[a[0]->sym])
            eval_fail(c, a[0], "def %.*s: a Fortran-like procedure has this name", (int)a[0]->len,
                      a[0]->text);
        c->funcs[a[0]->sym] = (node *)n;
        return lv_str(a[0]->text, a[0]->len);
    case FORM_SET: {
        if (!is_symtok(a[0]))
            malformed(c, n);
        x = eval_fast(c, a[1]);
        slot *s = &c->slots[a[0]->sym];
        if (s->level < 0)
            eval_fail(c, a[0], "undefined symbol %.*s", (int)a[0]->len, a[0]->text);
        if (s->level == 0 && c->prog->gtype && (size_t)a[0]->sym < c->prog->n_symarr &&
            c->prog->gtype[a[0]->sym]) {
            /* A typed Fortran-like global: the assignment rules of §3. */
            uint8_t gt = c->prog->gtype[a[0]->sym];
            if (gt & GT_PARAM)
                eval_fail(c, a[0], "cannot set %.*s: it is a Fortran-like parameter",
                          (int)a[0]->len, a[0]->text);
            lval cv;
            int rc = evalf_convert(gt, x, &cv);
            if (rc)
                eval_fail(c, a[0], "cannot set the %s variable %.*s to %s",
                          fortran_type_name(gt), (int)a[0]->len, a[0]->text,
                          rc == LVE_OVERFLOW ? "a value out of the integer range"
                                             : lval_type_name(x));
            x = cv;
        }
        s->v = x;
        return x;
    }
    case FORM_LET: return eval_let(c, n);
    case FORM_WITH:
        if (!is_symtok(a[0]) || !is_symtok(a[1]))
            malformed(c, n);
        return eval_with(c, n, NULL);
    case FORM_NOT: return lv_bool(!lval_truthy(eval_fast(c, a[0])));
    case FORM_MIN:
    case FORM_MAX:
        r = eval_fast(c, a[0]);
        for (uint32_t i = 1; i < nargs; i++) {
            x = eval_fast(c, a[i]);
            err = lval_order(form == FORM_MIN ? LV_LT : LV_GT, x, r, &b);
            if (err)
                op_fail(c, h, err, FORM_LT, x, r);
            if (b)
                r = x;
        }
        return r;
    case FORM_NULL: {
        bool all = true;
        for (uint32_t i = 0; i < nargs; i++) {
            x = eval_fast(c, a[i]);
            int64_t len;
            if (x.t != LV_NONE && (lval_length(x, &len) < 0 || len != 0))
                all = false;
        }
        return lv_bool(all);
    }
    default: eval_fail(c, h, "internal error: unknown form");
    }
}

/* A built-in form: arity first, then the arguments left to right. */
static lval eval_form(evalctx *c, const node *n)
{
    int form = n->form;
    uint32_t nargs = n->n - 1;
    const node *h = n->kids[0];
    if (__builtin_expect(!(n->checked & NODE_OK_ARITY), 0)) {
        if (form_sig[form].variadic ? nargs < form_sig[form].nargs
                                    : nargs != form_sig[form].nargs) {
            if (form_sig[form].variadic)
                eval_fail(c, h, "not enough arguments for 'c_%s' on line %u",
                          form_sig[form].iname, h->line);
            eval_fail(c, h, "arity mismatch in doc parsing of 'c_%s' on line %u",
                      form_sig[form].iname, h->line);
        }
        ((node *)n)->checked |= NODE_OK_ARITY;
    }
    const node *const *a = (const node *const *)n->kids + 1;
    lval x, y, r;
    bool b;
    int err;
    switch (form) {
    case FORM_DEFVAR:
        if (!is_symtok(a[0]))
            malformed(c, n);
        x = eval_fast(c, a[1]);
        return bind(c, a[0]->sym, x);
    case FORM_IF:
        x = eval_fast(c, a[0]);
        return eval_fast(c, truthy(x) ? a[1] : a[2]);
    case FORM_ADD:
    case FORM_SUB:
    case FORM_MUL:
    case FORM_DIV:
    case FORM_SHL:
    case FORM_SHR: {
        static const lv_op ops[FORM__COUNT] = {
            [FORM_ADD] = LV_ADD, [FORM_SUB] = LV_SUB, [FORM_MUL] = LV_MUL,
            [FORM_DIV] = LV_DIV, [FORM_SHL] = LV_SHL, [FORM_SHR] = LV_SHR,
        };
        x = eval_fast(c, a[0]);
        y = eval_fast(c, a[1]);
        /* The common int and float cases without the generic call (the
         * same results as lval_arith). */
        if (x.t == LV_INT && y.t == LV_INT) {
            int64_t i;
            if (form == FORM_ADD && !__builtin_add_overflow(x.u.i, y.u.i, &i))
                return lv_int(i);
            if (form == FORM_SUB && !__builtin_sub_overflow(x.u.i, y.u.i, &i))
                return lv_int(i);
            if (form == FORM_MUL && !__builtin_mul_overflow(x.u.i, y.u.i, &i))
                return lv_int(i);
        } else if ((x.t == LV_REAL || x.t == LV_INT) && (y.t == LV_REAL || y.t == LV_INT) &&
                   form < FORM_SHL) {
            /* At least one float: Python converts the other. */
            double xr = x.t == LV_REAL ? x.u.r : (double)x.u.i;
            double yr = y.t == LV_REAL ? y.u.r : (double)y.u.i;
            if (form == FORM_ADD)
                return lv_real(xr + yr);
            if (form == FORM_SUB)
                return lv_real(xr - yr);
            if (form == FORM_MUL)
                return lv_real(xr * yr);
            if (yr != 0.0)
                return lv_real(xr / yr);
        }
        err = lval_arith(c->ar, ops[form], x, y, &r);
        if (err)
            op_fail(c, h, err, form, x, y);
        return r;
    }
    case FORM_LT:
    case FORM_GT:
    case FORM_LTE:
    case FORM_GTE: {
        static const lv_op ops[FORM__COUNT] = {
            [FORM_LT] = LV_LT, [FORM_GT] = LV_GT, [FORM_LTE] = LV_LE, [FORM_GTE] = LV_GE,
        };
        x = eval_fast(c, a[0]);
        y = eval_fast(c, a[1]);
        /* Numbers that compare exactly as doubles (a NaN orders false). */
        if ((x.t == LV_REAL || (x.t == LV_INT && x.u.i >= -LV_EXACT && x.u.i <= LV_EXACT)) &&
            (y.t == LV_REAL || (y.t == LV_INT && y.u.i >= -LV_EXACT && y.u.i <= LV_EXACT))) {
            double xr = x.t == LV_REAL ? x.u.r : (double)x.u.i;
            double yr = y.t == LV_REAL ? y.u.r : (double)y.u.i;
            switch (form) {
            case FORM_LT: return lv_bool(xr < yr);
            case FORM_GT: return lv_bool(xr > yr);
            case FORM_LTE: return lv_bool(xr <= yr);
            default: return lv_bool(xr >= yr);
            }
        }
        err = lval_order(ops[form], x, y, &b);
        if (err)
            op_fail(c, h, err, form, x, y);
        return lv_bool(b);
    }
    case FORM_EQ:
    case FORM_NEQ:
        x = eval_fast(c, a[0]);
        y = eval_fast(c, a[1]);
        if (x.t == LV_INT && y.t == LV_INT)
            b = x.u.i == y.u.i;
        else if (x.t == LV_REAL && y.t == LV_REAL)
            b = x.u.r == y.u.r;
        else
            b = lval_eq(x, y);
        return lv_bool(form == FORM_EQ ? b : !b);
    case FORM_AND:
    case FORM_OR: {
        /* Eager: every argument is evaluated before the choice. */
        bool found = false;
        for (uint32_t i = 0; i < nargs; i++) {
            x = eval_fast(c, a[i]);
            if (!found && lval_truthy(x) == (form == FORM_OR)) {
                r = x;
                found = true;
            }
        }
        return found ? r : x;
    }
    case FORM_VALID: {
        bool ok = true;
        for (uint32_t i = 0; i < nargs; i++)
            if (eval_fast(c, a[i]).t == LV_NONE)
                ok = false;
        return lv_bool(ok);
    }
    case FORM_EVAL:
        if (nargs == 0)
            eval_fail(c, h, "eval of nothing ({} or (eval)) on line %u", h->line);
        for (uint32_t i = 0; i < nargs; i++)
            x = eval_fast(c, a[i]);
        return x;
    default: return eval_form_rare(c, n);
    }
}

/* Evaluate the arguments of n and call the function value fn. */
static lval call_value(evalctx *c, const node *n, lval fn)
{
    uint32_t nargs = n->n - 1;
    lval small[8];
    lval *args = nargs <= 8 ? small : eval_alloc(c, n, nargs * sizeof(lval));
    for (uint32_t i = 0; i < nargs; i++)
        args[i] = eval_fast(c, n->kids[i + 1]);
    return intr_call(c, n, fn, args, nargs);
}

/* The checks of a list that depend on it alone: not empty, and a head
 * that can name something.  Fails, or notes that they passed. */
static __attribute__((noinline)) void list_shape(evalctx *c, const node *n)
{
    if (n->n == 0)
        eval_fail(c, n, "empty expression () on line %u", n->line);
    const node *h = n->kids[0];
    switch ((node_kind)h->kind) {
    case N_INT:
    case N_REAL:
        eval_fail(c, h, "Unexpected token type in arg 1 \"number\" on line %u", h->line);
    case N_STR: eval_fail(c, h, "Unexpected token type in arg 1 \"string\" on line %u", h->line);
    case N_LIST: eval_fail(c, h, "Expected simple token as arg 1");
    default: break;
    }
    ((node *)n)->checked |= NODE_OK_SHAPE;
}

static _Noreturn __attribute__((noinline)) void nest_fail(evalctx *c, const node *h)
{
    eval_fail(c, h, "expressions nested too deeply (more than %d levels) on line %u",
              c->nest_limit, h->line);
}

/* A list whose head is neither a function value nor a built-in form: a
 * user function, or a Fortran-like procedure. */
static __attribute__((noinline)) lval call_named(evalctx *c, const node *n)
{
    const node *h = n->kids[0];
    const node *def = c->funcs[h->sym];
    if (!def && c->prog->fprocs && (size_t)h->sym < c->prog->n_symarr &&
        c->prog->fprocs[h->sym]) {
        /* A Fortran-like procedure called from classic code. */
        uint32_t nargs = n->n - 1;
        lval small[8];
        lval *args = nargs <= 8 ? small : eval_alloc(c, n, nargs * sizeof(lval));
        for (uint32_t i = 0; i < nargs; i++)
            args[i] = eval_fast(c, n->kids[i + 1]);
        return evalf_call(c, c->prog->fprocs[h->sym], args, nargs, h);
    }
    if (!def)
        eval_fail(c, h, "undefined function %.*s on line %u", (int)h->len, h->text, h->line);
    return call_user(c, n, def);
}

/* (HEAD ARGS...): the head is a variable holding a function, a built-in
 * form, or a user function, in that order (§5.4). */
static __attribute__((noinline)) lval eval_list(evalctx *c, const node *n)
{
    if (__builtin_expect(!(n->checked & NODE_OK_SHAPE), 0))
        list_shape(c, n);
    const node *h = n->kids[0];
    if (__builtin_expect(++c->nest > c->nest_limit, 0))
        nest_fail(c, h);
    lval fv, v;
    bool found;
    if (h->kind == N_DOT) {
        const slot *s = &c->slots[h->base];
        if (s->level >= 0 && s->v.t == LV_ENTITY && h->attr >= ATTR_PROP &&
            h->attr <= ATTR_GETCONTROL) {
            /* An entity's method (what intr_attr makes of it). */
            fv.t = LV_METHOD;
            fv.sub = (uint8_t)h->attr;
            fv.u.e = s->v.u.e;
            found = true;
        } else if (s->level >= 0 && s->v.t == LV_IOREC && h->attr >= ATTR_SETTER0 &&
                   h->attr <= ATTR_SETTER_LAST) {
            /* An I/O-tune record's setter (likewise). */
            fv.t = LV_SETTER;
            fv.sub = (uint8_t)(h->attr - ATTR_SETTER0);
            fv.u.rec = s->v.u.rec;
            found = true;
        } else {
            found = lookup_dot(c, h, &fv);
        }
    } else {
        const slot *s = &c->slots[h->sym];
        found = s->level >= 0;
        fv = s->v;
    }
    if (found && fv.t != LV_NONE)
        v = call_value(c, n, fv);
    else if (n->form)
        v = eval_form(c, n);
    else
        v = call_named(c, n);
    c->nest--;
    return v;
}

static _Noreturn __attribute__((noinline)) void step_fail(evalctx *c, const node *n)
{
    eval_fail(c, n, "policy step limit exceeded on line %u", n->line);
}

/* Everything eval_fast leaves: literals that fail, dotted names off the
 * fast path, operators used as values, unbound symbols. */
static __attribute__((noinline)) lval eval_slow(evalctx *c, const node *n)
{
    switch ((node_kind)n->kind) {
    case N_SYM: {
        const slot *s = &c->slots[n->sym];
        if (s->level >= 0)
            return s->v;
        undefined(c, n);
    }
    case N_LIST: return eval_list(c, n);
    case N_INT:
    case N_REAL:
        if (n->lit_status == LIT_BAD_OCTAL)
            eval_fail(c, n, "invalid literal for int() with base 8: '%.*s' on line %u",
                      (int)n->len - 2, n->text + 2, n->line);
        if (n->lit_status == LIT_OVERFLOW)
            eval_fail(c, n, "integer overflow in literal %.*s on line %u", (int)n->len, n->text,
                      n->line);
        return n->lit;
    case N_STR: return n->lit;
    case N_NIL: return lv_none();
    case N_DOT: {
        lval v;
        const slot *s = &c->slots[n->base];
        if (s->level >= 0 && s->v.t == LV_IOLIM && n->attr >= ATTR_LIMIT0 &&
            n->attr <= ATTR_LIMIT_LAST &&
            (s->v.u.rec->present[s->v.sub] & (1u << (n->attr - ATTR_LIMIT0))))
            return s->v.u.rec->lim[s->v.sub][n->attr - ATTR_LIMIT0]; /* as intr_attr */
        if (lookup_dot(c, n, &v))
            return v;
        undefined(c, n);
    }
    case N_OP: eval_fail(c, n, "Unexpected token type \"operator\" on line %u", n->line);
    }
    eval_fail(c, n, "internal error: unknown node");
}

/* One step: the common nodes (bound symbols, lists, good literals, a
 * numeric field of an entity whose field id is cached) without calls. */
static inline lval eval_fast(evalctx *c, const node *n)
{
    if (__builtin_expect(--c->steps_left < 0, 0))
        step_fail(c, n);
    /* Tests in order of frequency rather than a jump table. */
    uint8_t kind = n->kind;
    if (kind == N_LIST)
        return eval_list(c, n);
    if (kind == N_SYM) {
        const slot *s = &c->slots[n->sym];
        if (__builtin_expect(s->level >= 0, 1))
            return s->v;
    } else if (kind == N_DOT) {
        const slot *s = &c->slots[n->base];
        if (s->level < 0 || s->v.t != LV_ENTITY || n->attr != ATTR_FIELD)
            return eval_slow(c, n);
        const snap_entity *se = s->v.u.e->se;
        if (n->cache_tab != se->fields || n->cache_id < 0 || !se->n_samples)
            return eval_slow(c, n);
        const sample *smp = se->samples[se->n_samples - 1];
        if ((uint32_t)n->cache_id >= smp->n)
            return eval_slow(c, n);
        const fval *f = &smp->f[n->cache_id];
        if (f->kind == FV_INT)
            return lv_int(f->u.i);
        if (f->kind == FV_REAL)
            return lv_real(f->u.r);
        if (f->kind == FV_NONE || f->kind == FV_MISSING)
            return lv_none();
    } else if (kind == N_INT || kind == N_REAL || kind == N_STR) {
        if (__builtin_expect(n->lit_status == LIT_OK, 1))
            return n->lit;
    }
    return eval_slow(c, n);
}

lval eval_node(evalctx *c, const node *n)
{
    return eval_fast(c, n);
}

/* ---- the compiled form ---------------------------------------------------- */

/*
 * program_finish turns every classic tree into closures: one cnode per
 * node, whose handler was chosen at load time for the node's kind, its
 * built-in form and its operands.  A handler makes at run time only the
 * checks whose outcome can change (a binding of a head's name, an entity's
 * field table, a function's current definition) and hands its node to the
 * tree walker (eval_list, eval_slow) for every case it does not take
 * itself, so the values, the steps, the nesting depth and the errors are
 * the tree walker's.  Steps: one per node evaluated, as eval_fast counts.
 */

#define RUN(c, n) ((n)->fn((c), (n)))

static lval run_body(evalctx *c, struct cnode *body)
{
    return RUN(c, body);
}

static inline void step(evalctx *c, const cnode *n)
{
    if (__builtin_expect(--c->steps_left < 0, 0))
        step_fail(c, n->ast);
}

static inline bool is_num(lval v)
{
    return v.t == LV_INT || v.t == LV_REAL;
}

static inline double num(lval v)
{
    return v.t == LV_REAL ? v.u.r : (double)v.u.i;
}

/* Whether a binding of the head's name makes the list a call (§5.4). */
static inline bool head_bound(const evalctx *c, const cnode *n)
{
    const slot *s = &c->slots[n->sym];
    return s->level >= 0 && s->v.t != LV_NONE;
}

/* The start of a built-in form: its step, its head (a bound name makes
 * the list a call: the tree walker's case) and one nesting level. */
#define FORM_ENTER(c, n)                                                                         \
    do {                                                                                         \
        step((c), (n));                                                                          \
        if ((n)->head_check && head_bound((c), (n)))                                             \
            return eval_list((c), (n)->ast);                                                     \
        if (__builtin_expect(++(c)->nest > (c)->nest_limit, 0))                                  \
            nest_fail((c), (n)->ast->kids[0]);                                                   \
    } while (0)

/* ---- atoms ---- */

static lval c_lit(evalctx *c, cnode *n)
{
    step(c, n);
    return n->lit;
}

static lval c_sym(evalctx *c, cnode *n)
{
    step(c, n);
    const slot *s = &c->slots[n->sym];
    if (__builtin_expect(s->level >= 0, 1))
        return s->v;
    undefined(c, n->ast);
}

/* An operand: symbols and literals without the indirect call (the same
 * step and result as c_sym and c_lit). */
static inline lval operand(evalctx *c, cnode *k)
{
    if (k->fn == c_sym) {
        step(c, k);
        const slot *s = &c->slots[k->sym];
        if (__builtin_expect(s->level >= 0, 1))
            return s->v;
        undefined(c, k->ast);
    }
    if (k->fn == c_lit) {
        step(c, k);
        return k->lit;
    }
    return RUN(c, k);
}

/* Atoms the tree walker evaluates (bad literals, operators, attributes
 * other than fields and limits). */
static lval c_slow(evalctx *c, cnode *n)
{
    step(c, n);
    return eval_slow(c, n->ast);
}

/* A list of no form of its own: the tree walker's. */
static lval c_list(evalctx *c, cnode *n)
{
    step(c, n);
    return eval_list(c, n->ast);
}

/* A field read the inline cache could not serve: the tree walker reads
 * it, and the cache takes the field id it found. */
static __attribute__((noinline)) lval field_miss(evalctx *c, cnode *n)
{
    lval v = eval_slow(c, n->ast);
    if (n->ast->cache_tab && n->ast->cache_id >= 0) {
        n->tab = n->ast->cache_tab;
        n->fid = n->ast->cache_id;
        /* Loops over the guests prefetch the lines the policies read. */
        const slot *s = &c->slots[n->base];
        if (s->level >= 0 && s->v.t == LV_ENTITY && s->v.u.e->index >= 0)
            c->prog->pf_cur |= policy_pf_bit(n->fid);
    }
    return v;
}

/* BASE.FIELD: a number (or None) of the entity's latest sample. */
static lval c_field(evalctx *c, cnode *n)
{
    step(c, n);
    const slot *s = &c->slots[n->base];
    if (__builtin_expect(s->level >= 0 && s->v.t == LV_ENTITY, 1)) {
        const snap_entity *se = s->v.u.e->se;
        if (__builtin_expect(n->tab == se->fields && se->n_samples, 1)) {
            const sample *smp = se->samples[se->n_samples - 1];
            if (__builtin_expect((uint32_t)n->fid < smp->n, 1)) {
                const fval *f = &smp->f[n->fid];
                if (f->kind == FV_INT)
                    return lv_int(f->u.i);
                if (f->kind == FV_REAL)
                    return lv_real(f->u.r);
                if (f->kind == FV_NONE || f->kind == FV_MISSING)
                    return lv_none();
            }
        }
    }
    return field_miss(c, n);
}

/* LIMITS.NAME: one limit of an I/O-tune record's limit set. */
static lval c_iolim(evalctx *c, cnode *n)
{
    step(c, n);
    const slot *s = &c->slots[n->base];
    unsigned li = (unsigned)n->attr - ATTR_LIMIT0;
    if (s->level >= 0 && s->v.t == LV_IOLIM && (s->v.u.rec->present[s->v.sub] & (1u << li)))
        return s->v.u.rec->lim[s->v.sub][li];
    return eval_slow(c, n->ast);
}

/* ---- calls ---- */

/* Evaluate the operands of n and call the function value fn. */
static __attribute__((noinline)) lval call_fnval(evalctx *c, const cnode *n, lval fn)
{
    uint32_t nargs = n->nk;
    lval small[8];
    lval *args = nargs <= 8 ? small : eval_alloc(c, n->ast, nargs * sizeof(lval));
    for (uint32_t i = 0; i < nargs; i++)
        args[i] = operand(c, n->k[i]);
    return intr_call(c, n->ast, fn, args, nargs);
}

static _Noreturn __attribute__((noinline)) void arity_fail(evalctx *c, const cnode *n,
                                                           const cnode *def)
{
    const node *h = n->ast->kids[0], *name = def->ast->kids[1];
    eval_fail(c, h, "Function \"%.*s\" invoked with incorrect arity on line %u", (int)name->len,
              name->text, h->line);
}

static _Noreturn __attribute__((noinline)) void depth_fail(evalctx *c, const cnode *n,
                                                           const cnode *def)
{
    const node *h = n->ast->kids[0], *name = def->ast->kids[1];
    eval_fail(c, h, "call depth limit (%d) exceeded calling \"%.*s\" on line %u", c->depth_limit,
              (int)name->len, name->text, h->line);
}

/* The call n of the compiled user function def (call_user's steps). */
static lval call_compiled(evalctx *c, const cnode *n, const cnode *def)
{
    if (__builtin_expect(n->nk != def->np, 0))
        arity_fail(c, n, def);
    if (__builtin_expect(++c->calls > c->depth_limit, 0))
        depth_fail(c, n, def);
    size_t mark = scope_push(c);
    for (uint32_t i = 0; i < def->np; i++) {
        lval v = operand(c, n->k[i]);
        bind(c, def->syms[i], v);
    }
    lval v = RUN(c, def->body);
    scope_pop(c, mark);
    c->calls--;
    return v;
}

/* (NAME ARGS...) of no built-in form: a variable's function value, else
 * the user function NAME (or what call_named makes of it). */
static lval c_call(evalctx *c, cnode *n)
{
    step(c, n);
    if (__builtin_expect(++c->nest > c->nest_limit, 0))
        nest_fail(c, n->ast->kids[0]);
    lval v;
    if (n->head_check && head_bound(c, n)) {
        v = call_fnval(c, n, c->slots[n->sym].v);
    } else {
        const node *def = c->funcs[n->sym];
        if (__builtin_expect(def && def->cn && def->cn->callable, 1))
            v = call_compiled(c, n, def->cn);
        else
            v = call_named(c, n->ast);
    }
    c->nest--;
    return v;
}

/* The start of the handlers of (BASE.Name ...): the step, then BASE's slot
 * when BASE is bound to a value of type t, with the nesting counted; NULL
 * when the tree walker must take the form instead (eval_list). */
static inline const slot *dotted_enter(evalctx *c, cnode *n, uint8_t t)
{
    step(c, n);
    const slot *s = &c->slots[n->base];
    if (__builtin_expect(s->level < 0 || s->v.t != t, 0))
        return NULL;
    if (__builtin_expect(++c->nest > c->nest_limit, 0))
        nest_fail(c, n->ast->kids[0]);
    return s;
}

/* (BASE.Method ARGS...) while BASE is an entity. */
static lval c_method(evalctx *c, cnode *n)
{
    const slot *s = dotted_enter(c, n, LV_ENTITY);
    if (!s)
        return eval_list(c, n->ast);
    lval fv = { .t = LV_METHOD, .sub = (uint8_t)n->attr, .u.e = s->v.u.e };
    lval v = call_fnval(c, n, fv);
    c->nest--;
    return v;
}

/* (RECORD.setLimit VALUE) while RECORD is an I/O-tune record; an integer
 * value of a single argument is stored here as call_setter stores it. */
static lval c_setter(evalctx *c, cnode *n)
{
    const slot *s = dotted_enter(c, n, LV_IOREC);
    if (!s)
        return eval_list(c, n->ast);
    unsigned li = (unsigned)n->attr - ATTR_SETTER0;
    lval fv = { .t = LV_SETTER, .sub = (uint8_t)li, .u.rec = s->v.u.rec };
    lval v;
    if (n->nk == 1) {
        v = operand(c, n->a);
        if (v.t == LV_INT) {
            iorec *rec = fv.u.rec;
            rec->lim[2][li] = lv_int(v.u.i);
            rec->present[2] |= (uint8_t)(1u << li);
            rec->owner->io_dirty = true;
            v = lv_none();
        } else {
            v = intr_call(c, n->ast, fv, &v, 1);
        }
    } else {
        v = call_fnval(c, n, fv);
    }
    c->nest--;
    return v;
}

/* (BASE.Control KEY VALUE) while BASE is an entity: call_method's case. */
static lval c_control(evalctx *c, cnode *n)
{
    const slot *s = dotted_enter(c, n, LV_ENTITY);
    if (!s)
        return eval_list(c, n->ast);
    rt_entity *e = s->v.u.e;
    lval key = operand(c, n->a);
    lval val = operand(c, n->b);
    intr_set_control(c, e, key, val);
    c->nest--;
    return lv_none();
}

/* (BASE.Stat NAME) and (BASE.StatAvg NAME) while BASE is an entity: a
 * literal NAME whose field id its node caches (stat_field's case) is read
 * here, anything else goes through intr_call. */
static lval c_stat(evalctx *c, cnode *n)
{
    const slot *s = dotted_enter(c, n, LV_ENTITY);
    if (!s)
        return eval_list(c, n->ast);
    rt_entity *e = s->v.u.e;
    lval name = operand(c, n->a);
    const node *arg = n->ast->kids[1];
    lval v;
    if (arg->kind == N_STR && arg->cache_tab == e->se->fields && arg->cache_id >= 0 &&
        name.t == LV_STR && name.u.s == arg->lit.u.s) {
        v = n->attr == ATTR_STAT ? intr_field(c, e, arg->cache_id)
                                 : intr_stat_avg(c, n->ast, e, arg->cache_id);
    } else {
        lval fv = { .t = LV_METHOD, .sub = (uint8_t)n->attr, .u.e = e };
        v = intr_call(c, n->ast, fv, &name, 1);
        if (e->index >= 0 && arg->kind == N_STR && arg->cache_tab == e->se->fields &&
            arg->cache_id >= 0) {
            /* What loops over the guests prefetch (StatAvg reads the older
             * samples through the history cache). */
            c->prog->pf_cur |= policy_pf_bit(arg->cache_id);
        }
    }
    c->nest--;
    return v;
}

/* ---- built-in forms ---- */

static lval c_if(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    lval x = operand(c, n->a);
    lval v = truthy(x) ? operand(c, n->b) : operand(c, n->d);
    c->nest--;
    return v;
}

/* An operator the inline cases did not cover: lval_arith's answer. */
static __attribute__((noinline)) lval arith_slow(evalctx *c, const cnode *n, lval x, lval y)
{
    static const lv_op ops[FORM__COUNT] = {
        [FORM_ADD] = LV_ADD, [FORM_SUB] = LV_SUB, [FORM_MUL] = LV_MUL,
        [FORM_DIV] = LV_DIV, [FORM_SHL] = LV_SHL, [FORM_SHR] = LV_SHR,
    };
    int form = n->ast->form;
    lval r;
    int err = lval_arith(c->ar, ops[form], x, y, &r);
    if (err)
        op_fail(c, n->ast->kids[0], err, form, x, y);
    return r;
}

/* +, - and *: integers with overflow checked, else floats (at least one
 * float operand), else lval_arith. */
#define ARITH_HANDLER(name, ovf, op)                                                             \
    static lval name(evalctx *c, cnode *n)                                                       \
    {                                                                                            \
        FORM_ENTER(c, n);                                                                        \
        lval x = operand(c, n->a);                                                                   \
        lval y = operand(c, n->b);                                                                   \
        c->nest--;                                                                               \
        int64_t i;                                                                               \
        if (x.t == LV_INT && y.t == LV_INT) {                                                    \
            if (!ovf(x.u.i, y.u.i, &i))                                                          \
                return lv_int(i);                                                                \
        } else if (is_num(x) && is_num(y)) {                                                     \
            return lv_real(num(x) op num(y));                                                    \
        }                                                                                        \
        return arith_slow(c, n, x, y);                                                           \
    }

ARITH_HANDLER(c_add, __builtin_add_overflow, +)
ARITH_HANDLER(c_sub, __builtin_sub_overflow, -)
ARITH_HANDLER(c_mul, __builtin_mul_overflow, *)

/* True division: exact as doubles for integers up to 2^53 (div_exact's
 * first case), else lval_arith (zero, large integers, other types). */
static lval c_div(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    lval x = operand(c, n->a);
    lval y = operand(c, n->b);
    c->nest--;
    if (x.t == LV_INT && y.t == LV_INT) {
        if (y.u.i != 0 && x.u.i >= -LV_EXACT && x.u.i <= LV_EXACT && y.u.i >= -LV_EXACT &&
            y.u.i <= LV_EXACT)
            return lv_real((double)x.u.i / (double)y.u.i);
    } else if (is_num(x) && is_num(y) && num(y) != 0.0) {
        return lv_real(num(x) / num(y));
    }
    return arith_slow(c, n, x, y);
}

/* << and >>. */
static lval c_shift(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    lval x = operand(c, n->a);
    lval y = operand(c, n->b);
    c->nest--;
    return arith_slow(c, n, x, y);
}

/* Whether v is a number that converts to a double exactly. */
static inline bool exact_num(lval v)
{
    return v.t == LV_REAL || (v.t == LV_INT && v.u.i >= -LV_EXACT && v.u.i <= LV_EXACT);
}

static __attribute__((noinline)) lval order_slow(evalctx *c, const cnode *n, lval x, lval y)
{
    static const lv_op ops[FORM__COUNT] = {
        [FORM_LT] = LV_LT, [FORM_GT] = LV_GT, [FORM_LTE] = LV_LE, [FORM_GTE] = LV_GE,
    };
    int form = n->ast->form;
    bool b;
    int err = lval_order(ops[form], x, y, &b);
    if (err)
        op_fail(c, n->ast->kids[0], err, form, x, y);
    return lv_bool(b);
}

/* <, >, <= and >=: numbers that compare exactly as doubles (a NaN orders
 * false), else lval_order. */
#define ORDER_HANDLER(name, op)                                                                  \
    static lval name(evalctx *c, cnode *n)                                                       \
    {                                                                                            \
        FORM_ENTER(c, n);                                                                        \
        lval x = operand(c, n->a);                                                                   \
        lval y = operand(c, n->b);                                                                   \
        c->nest--;                                                                               \
        if (exact_num(x) && exact_num(y))                                                        \
            return lv_bool(num(x) op num(y));                                                    \
        return order_slow(c, n, x, y);                                                           \
    }

ORDER_HANDLER(c_lt, <)
ORDER_HANDLER(c_gt, >)
ORDER_HANDLER(c_lte, <=)
ORDER_HANDLER(c_gte, >=)

static inline bool equal(lval x, lval y)
{
    if (x.t == LV_INT && y.t == LV_INT)
        return x.u.i == y.u.i;
    if (x.t == LV_REAL && y.t == LV_REAL)
        return x.u.r == y.u.r;
    return lval_eq(x, y);
}

static lval c_eq(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    lval x = operand(c, n->a);
    lval y = operand(c, n->b);
    c->nest--;
    return lv_bool(equal(x, y));
}

static lval c_neq(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    lval x = operand(c, n->a);
    lval y = operand(c, n->b);
    c->nest--;
    return lv_bool(!equal(x, y));
}

/* and, or: eager, every operand is evaluated before the choice. */
static lval c_andor(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    bool want = n->ast->form == FORM_OR, found = false;
    lval x = lv_none(), r = lv_none();
    for (uint32_t i = 0; i < n->nk; i++) {
        x = operand(c, n->k[i]);
        if (!found && truthy(x) == want) {
            r = x;
            found = true;
        }
    }
    c->nest--;
    return found ? r : x;
}

static lval c_not(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    lval x = operand(c, n->a);
    c->nest--;
    return lv_bool(!truthy(x));
}

static lval c_valid(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    bool ok = true;
    for (uint32_t i = 0; i < n->nk; i++)
        if (operand(c, n->k[i]).t == LV_NONE)
            ok = false;
    c->nest--;
    return lv_bool(ok);
}

static lval c_minmax(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    lv_op op = n->ast->form == FORM_MIN ? LV_LT : LV_GT;
    lval r = operand(c, n->a);
    for (uint32_t i = 1; i < n->nk; i++) {
        lval x = operand(c, n->k[i]);
        bool b;
        if (exact_num(x) && exact_num(r)) {
            b = op == LV_LT ? num(x) < num(r) : num(x) > num(r);
        } else {
            int err = lval_order(op, x, r, &b);
            if (err)
                op_fail(c, n->ast->kids[0], err, FORM_LT, x, r);
        }
        if (b)
            r = x;
    }
    c->nest--;
    return r;
}

/* eval and { }: the last value (at least one operand). */
static lval c_progn(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    lval x;
    uint32_t i = 0;
    do
        x = RUN(c, n->k[i]);
    while (++i < n->nk);
    c->nest--;
    return x;
}

static lval c_defvar(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    lval x = operand(c, n->b);
    x = bind(c, n->target, x);
    c->nest--;
    return x;
}

static __attribute__((noinline)) void set_fail(evalctx *c, const cnode *n)
{
    const node *v = n->ast->kids[1];
    eval_fail(c, v, "undefined symbol %.*s", (int)v->len, v->text);
}

/* set of a variable that is no typed Fortran-like global. */
static lval c_set(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    lval x = operand(c, n->b);
    slot *s = &c->slots[n->target];
    if (__builtin_expect(s->level < 0, 0))
        set_fail(c, n);
    s->v = x;
    c->nest--;
    return x;
}

/* let whose bindings are all (SYMBOL VALUE) pairs. */
static lval c_let(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    size_t mark = scope_push(c);
    for (uint32_t i = 0; i < n->np; i++) {
        lval v = operand(c, n->k[i]);
        bind(c, n->syms[i], v);
    }
    lval v = lv_none();
    for (uint32_t i = n->np; i < n->nk; i++)
        v = RUN(c, n->k[i]);
    scope_pop(c, mark);
    c->nest--;
    return v;
}

static lval c_with(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    lval v = eval_with(c, n->ast, n->body);
    c->nest--;
    return v;
}

/* ---- compiling ---- */

typedef struct compiler {
    program *p;
    uint8_t *bindable;   /* by symbol: some code may bind it */
} compiler;

static void mark(compiler *cc, const node *n)
{
    if (is_symtok(n))
        cc->bindable[n->sym] = 1;
}

/* Mark the symbols that binding forms of tree n may bind (whatever their
 * head turns out to be at run time). */
static void mark_bindable(compiler *cc, const node *n)
{
    if (n->kind != N_LIST)
        return;
    for (uint32_t i = 0; i < n->n; i++)
        mark_bindable(cc, n->kids[i]);
    switch (n->form) {
    case FORM_DEFVAR:
        if (n->n > 1)
            mark(cc, n->kids[1]);
        break;
    case FORM_WITH:
        if (n->n > 2)
            mark(cc, n->kids[2]);
        break;
    case FORM_LET:
        if (n->n > 1 && n->kids[1]->kind == N_LIST)
            for (uint32_t i = 0; i < n->kids[1]->n; i++) {
                const node *pair = n->kids[1]->kids[i];
                if (pair->kind == N_LIST && pair->n > 0)
                    mark(cc, pair->kids[0]);
            }
        break;
    case FORM_DEF:
        if (n->n > 2 && n->kids[2]->kind == N_LIST)
            for (uint32_t i = 0; i < n->kids[2]->n; i++)
                mark(cc, n->kids[2]->kids[i]);
        break;
    default: break;
    }
}

static cnode *cnode_new(compiler *cc, node *n, cnode_fn fn)
{
    cnode *cn = arena_calloc(&cc->p->ar, sizeof(*cn));
    if (!cn)
        return NULL;
    cn->fn = fn;
    cn->ast = n;
    cn->fid = -1;
    n->cn = cn;
    return cn;
}

static cnode *compile_node(compiler *cc, node *n);

/* The symbols of the symbol-like nodes kids[0..n) into a new array. */
static int32_t *sym_array(compiler *cc, node *const *kids, uint32_t n)
{
    int32_t *s = arena_alloc(&cc->p->ar, (n ? n : 1) * sizeof(*s));
    for (uint32_t i = 0; s && i < n; i++)
        s[i] = kids[i]->sym;
    return s;
}

/* A list: its operands, then the handler its head and form call for, or
 * the tree walker's c_list whenever a check of eval_list or eval_form
 * would fail (so that it fails there, in order). */
static cnode *compile_list(compiler *cc, node *n)
{
    program *p = cc->p;
    cnode *cn = cnode_new(cc, n, c_list);
    if (!cn)
        return NULL;
    uint32_t nk = n->n ? n->n - 1 : 0;
    if (nk && !(cn->k = arena_alloc(&p->ar, nk * sizeof(*cn->k))))
        return NULL;
    cn->nk = nk;
    for (uint32_t i = 0; i < n->n; i++) {
        cnode *kc = compile_node(cc, n->kids[i]);
        if (!kc)
            return NULL;
        if (i)
            cn->k[i - 1] = kc;
    }
    cn->a = nk > 0 ? cn->k[0] : NULL;
    cn->b = nk > 1 ? cn->k[1] : NULL;
    cn->d = nk > 2 ? cn->k[2] : NULL;
    if (!n->n)
        return cn;
    const node *h = n->kids[0];
    if (h->kind == N_DOT) {
        cn->base = h->base;
        cn->attr = h->attr;
        if (h->attr == ATTR_CONTROL && nk == 2)
            cn->fn = c_control;
        else if ((h->attr == ATTR_STAT || h->attr == ATTR_STATAVG) && nk == 1)
            cn->fn = c_stat;
        else if (h->attr >= ATTR_PROP && h->attr <= ATTR_GETCONTROL)
            cn->fn = c_method;
        else if (h->attr >= ATTR_SETTER0 && h->attr <= ATTR_SETTER_LAST)
            cn->fn = c_setter;
        return cn;
    }
    if (h->kind != N_SYM && h->kind != N_OP)
        return cn;
    cn->sym = n->sym;
    cn->head_check = cc->bindable[n->sym] != 0;
    int form = n->form;
    if (!form) {
        if (h->kind == N_SYM)
            cn->fn = c_call;
        return cn;
    }
    if (form_sig[form].variadic ? nk < form_sig[form].nargs : nk != form_sig[form].nargs)
        return cn;
    node *const *a = n->kids + 1;
    switch (form) {
    case FORM_DEF:
        /* The def form itself stays the tree walker's; calls use this. */
        if (a[1]->kind == N_LIST) {
            const node *params = a[1];
            bool ok = true;
            for (uint32_t i = 0; i < params->n; i++)
                ok = ok && is_symtok(params->kids[i]);
            if (ok) {
                if (!(cn->syms = sym_array(cc, params->kids, params->n)))
                    return NULL;
                cn->np = params->n;
                cn->body = a[2]->cn;
                cn->callable = true;
            }
        }
        break;
    case FORM_DEFVAR:
        if (is_symtok(a[0])) {
            cn->target = a[0]->sym;
            cn->fn = c_defvar;
        }
        break;
    case FORM_SET:
        /* Typed Fortran-like globals convert: the tree walker does that. */
        if (is_symtok(a[0]) && !(p->gtype && (size_t)a[0]->sym < p->n_symarr &&
                                 p->gtype[a[0]->sym])) {
            cn->target = a[0]->sym;
            cn->fn = c_set;
        }
        break;
    case FORM_LET: {
        const node *b = a[0];
        if (b->kind != N_LIST)
            break;
        bool ok = true;
        for (uint32_t i = 0; i < b->n; i++) {
            const node *pair = b->kids[i];
            ok = ok && pair->kind == N_LIST && pair->n == 2 && is_symtok(pair->kids[0]);
        }
        if (!ok)
            break;
        uint32_t nb = nk - 1;
        cnode **k = arena_alloc(&p->ar, (b->n + nb ? b->n + nb : 1) * sizeof(*k));
        int32_t *syms = arena_alloc(&p->ar, (b->n ? b->n : 1) * sizeof(*syms));
        if (!k || !syms)
            return NULL;
        for (uint32_t i = 0; i < b->n; i++) {
            k[i] = b->kids[i]->kids[1]->cn;
            syms[i] = b->kids[i]->kids[0]->sym;
        }
        for (uint32_t i = 0; i < nb; i++)
            k[b->n + i] = cn->k[1 + i];
        cn->k = k;
        cn->nk = b->n + nb;
        cn->np = b->n;
        cn->syms = syms;
        cn->a = cn->b = cn->d = NULL;
        cn->fn = c_let;
        break;
    }
    case FORM_WITH:
        if (is_symtok(a[0]) && is_symtok(a[1])) {
            cn->body = a[2]->cn;
            cn->fn = c_with;
        }
        break;
    case FORM_IF: cn->fn = c_if; break;
    case FORM_ADD: cn->fn = c_add; break;
    case FORM_SUB: cn->fn = c_sub; break;
    case FORM_MUL: cn->fn = c_mul; break;
    case FORM_DIV: cn->fn = c_div; break;
    case FORM_SHL:
    case FORM_SHR: cn->fn = c_shift; break;
    case FORM_LT: cn->fn = c_lt; break;
    case FORM_GT: cn->fn = c_gt; break;
    case FORM_LTE: cn->fn = c_lte; break;
    case FORM_GTE: cn->fn = c_gte; break;
    case FORM_EQ: cn->fn = c_eq; break;
    case FORM_NEQ: cn->fn = c_neq; break;
    case FORM_AND:
    case FORM_OR: cn->fn = c_andor; break;
    case FORM_NOT: cn->fn = c_not; break;
    case FORM_MIN:
    case FORM_MAX: cn->fn = c_minmax; break;
    case FORM_VALID: cn->fn = c_valid; break;
    case FORM_EVAL:
        if (nk)
            cn->fn = c_progn;
        break;
    default: break; /* null */
    }
    return cn;
}

static cnode *compile_node(compiler *cc, node *n)
{
    cnode *cn;
    switch ((node_kind)n->kind) {
    case N_INT:
    case N_REAL:
        if (n->lit_status != LIT_OK)
            return cnode_new(cc, n, c_slow);
        /* fall through */
    case N_STR:
        if ((cn = cnode_new(cc, n, c_lit)))
            cn->lit = n->lit;
        return cn;
    case N_NIL:
        if ((cn = cnode_new(cc, n, c_lit)))
            cn->lit = lv_none();
        return cn;
    case N_SYM:
        if ((cn = cnode_new(cc, n, c_sym)))
            cn->sym = n->sym;
        return cn;
    case N_DOT:
        if (n->attr == ATTR_FIELD)
            cn = cnode_new(cc, n, c_field);
        else if (n->attr >= ATTR_LIMIT0 && n->attr <= ATTR_LIMIT_LAST)
            cn = cnode_new(cc, n, c_iolim);
        else
            cn = cnode_new(cc, n, c_slow);
        if (cn) {
            cn->base = n->base;
            cn->attr = n->attr;
        }
        return cn;
    case N_OP: return cnode_new(cc, n, c_slow);
    case N_LIST: return compile_list(cc, n);
    }
    return NULL;
}

/* Compile every classic tree of p (after the Fortran-like files were
 * resolved: the typed globals are known). */
static int compile_program(program *p)
{
    compiler cc = { .p = p };
    cc.bindable = mom_calloc(p->syms.n ? p->syms.n : 1, 1);
    if (!cc.bindable)
        return -ENOMEM;
    /* The names the evaluator binds itself, and every name of a mixed set
     * (Fortran-like globals live in the same slots). */
    if (p->has_fortran)
        memset(cc.bindable, 1, p->syms.n);
    cc.bindable[p->sym_abs] = cc.bindable[p->sym_debug] = 1;
    cc.bindable[p->sym_host] = cc.bindable[p->sym_guests] = 1;
    for (size_t i = 0; i < p->n_files; i++)
        for (size_t j = 0; j < p->files[i].n_top; j++)
            mark_bindable(&cc, p->files[i].top[j]);
    int r = 0;
    for (size_t i = 0; i < p->n_files && r == 0; i++)
        for (size_t j = 0; j < p->files[i].n_top; j++)
            if (!compile_node(&cc, p->files[i].top[j])) {
                r = -ENOMEM;
                break;
            }
    mom_free(cc.bindable);
    return r;
}

/* ---- running a program ---------------------------------------------------- */

/* Set up the global scope and evaluate every top-level expression; the
 * values go to vals (when not NULL).  Returns 0 or the error code after a
 * longjmp. */
static int run(evalctx *c, lval *vals)
{
    if (setjmp(c->jb))
        return c->err_code;
    program *p = c->prog;
    const snapshot *snap = c->snap;
    for (size_t i = 0; i < p->syms.n; i++)
        c->slots[i].level = -1;
    memset(c->funcs, 0, p->syms.n * sizeof(*c->funcs));
    for (size_t i = 0; i < p->n_hoist; i++) {
        node *d = p->hoist[i];
        if (!c->funcs[d->kids[1]->sym])
            c->funcs[d->kids[1]->sym] = d;
    }
    c->host.se = &snap->host;
    c->host.index = -1;
    if (snap->n_guests) {
        c->guests = arena_calloc(c->ar, snap->n_guests * sizeof(rt_entity));
        if (!c->guests)
            eval_nomem(c);
    }
    for (size_t i = 0; i < snap->n_guests; i++) {
        c->guests[i].se = &snap->guests[i];
        c->guests[i].index = (int)i;
    }
    c->gcoll.items = c->guests;
    c->gcoll.n = (uint32_t)snap->n_guests;
    lval v = { .t = LV_BUILTIN, .sub = LV_FN_ABS };
    bind(c, p->sym_abs, v);
    v.sub = LV_FN_DEBUG;
    bind(c, p->sym_debug, v);
    v.t = LV_ENTITY;
    v.u.e = &c->host;
    bind(c, p->sym_host, v);
    v.t = LV_GUESTS;
    v.u.g = &c->gcoll;
    bind(c, p->sym_guests, v);
    if (p->has_fortran)
        evalf_bind_globals(c);
    size_t k = 0;
    for (size_t i = 0; i < p->n_files; i++) {
        if (p->files[i].fort) {
            c->nest = 0;
            evalf_run_file(c, &p->files[i]);
            continue;
        }
        for (size_t j = 0; j < p->files[i].n_top; j++) {
            c->nest = 0;
            node *top = p->files[i].top[j];
            v = top->cn ? RUN(c, top->cn) : eval_fast(c, top);
            if (vals)
                vals[k++] = v;
        }
    }
    return 0;
}

int eval_program(program *p, const snapshot *snap, const policy_opts *opts, varstore *vs,
                 controls **ret_controls, mom_value **ret_results, char **ret_error)
{
    evalctx c;
    memset(&c, 0, sizeof(c));
    c.prog = p;
    c.snap = snap;
    c.opts = opts;
    c.vs = vs;
    c.ar = &p->run;
    c.slots = p->slots;
    c.funcs = p->funcs;
    int64_t per_guest = opts && opts->step_limit > 0 ? opts->step_limit : 100000;
    int64_t guests = snap->n_guests ? (int64_t)snap->n_guests : 1;
    c.steps_left = per_guest > INT64_MAX / guests ? INT64_MAX : per_guest * guests;
    c.depth_limit = opts && opts->depth_limit > 0 ? opts->depth_limit : 200;
    c.nest_limit = 256 + 16 * c.depth_limit;
    arena_reset(c.ar);

    size_t n_top = 0;
    for (size_t i = 0; i < p->n_files; i++)
        n_top += p->files[i].n_top;
    lval *vals = NULL;
    controls *ctl = NULL;
    mom_value *res = NULL;
    int r = 0;
    if (ret_results && n_top) {
        vals = arena_alloc(c.ar, n_top * sizeof(lval));
        if (!vals) {
            r = -ENOMEM;
            goto out;
        }
    }
    if ((r = intr_begin(&c)) < 0)
        goto out;
    r = run(&c, vals);
    if (r < 0)
        goto out;
    if ((r = intr_controls(&c, &ctl)) < 0)
        goto out;
    if (ret_results) {
        res = value_new_list();
        if (!res) {
            r = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; vals && i < n_top; i++) {
            sbuf b = { 0 };
            lval_repr(&b, vals[i]);
            mom_value *s = b.failed ? NULL : value_new_string(b.buf ? b.buf : "");
            mom_free(b.buf);
            if (!s || (r = value_list_append(res, s)) < 0) {
                r = -ENOMEM;
                goto out;
            }
        }
    }
    if ((r = intr_commit_vars(&c)) < 0)
        goto out;
    if (p->has_fortran && (r = evalf_commit(&c)) < 0)
        goto out;
    if (vs)
        varstore_prune(vs, snap);
    *ret_controls = ctl;
    ctl = NULL;
    if (ret_results) {
        *ret_results = res;
        res = NULL;
    }
out:
    if (r < 0 && ret_error) {
        *ret_error = c.err;
        c.err = NULL;
    }
    mom_free(c.err);
    controls_free(ctl);
    mom_value_unref(res);
    arena_reset(c.ar);
    return r;
}
