/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The evaluator: compiled programs and the tree-walking interpreter of the
 * classic dialect's semantics (POLICY-CLASSIC §4, §5): dynamic scoping,
 * head resolution (variable, built-in form, eval, user function), the
 * built-in forms, user-function calls, the step budget and the depth limit.
 */
#include "lang/classic.h"

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

/* Signatures of the built-in forms: internal name, listed slots, and
 * whether the last slot repeats (POLICY-CLASSIC §4.4). */
const classic_form_sig eval_form_sig[FORM__COUNT] = {
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
    mom_free(p->rt);
    intr_cache_clear(&p->host_cache);
    ctl_maps_unref(p->ctl_share);
    mom_value_unref(p->ctl_empty);
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
            if (d->kind == N_LIST && d->form == FORM_DEF && d->n == 4 && classic_is_symtok(d->kids[1]))
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
    return p->general ? 0 : compile_classic_program(p);
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

_Noreturn void eval_undefined(evalctx *c, const node *n)
{
    eval_fail(c, n, "undefined symbol %.*s on line %u", (int)n->len, n->text, n->line);
}

/* Report a failed value operation of the form `form`. */
_Noreturn void eval_op_fail(evalctx *c, const node *at, int err, int form, lval x, lval y)
{
    const char *op = form_op[form] ? form_op[form] : eval_form_sig[form].iname;
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



/* Make room for one more undo record. */
__attribute__((noinline)) void eval_undo_grow(evalctx *c)
{
    program *p = c->prog;
    size_t cap = p->cap_undo ? p->cap_undo * 2 : 256;
    undo_rec *u = mom_realloc(p->undo, cap * sizeof(*u));
    if (!u)
        eval_nomem(c);
    p->undo = u;
    p->cap_undo = cap;
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

void *eval_alloc(evalctx *c, const node *at, size_t n)
{
    void *p = arena_alloc(c->ar, n);
    if (!p)
        eval_op_fail(c, at, LVE_NOMEM, FORM_NONE, lv_none(), lv_none());
    return p;
}

/* ---- forms --------------------------------------------------------------- */

lval eval_list(evalctx *c, const node *n);

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
    size_t mark = classic_scope_push(c);
    for (uint32_t i = 0; i < b->n; i++) {
        const node *pair = b->kids[i];
        if (pair->kind != N_LIST || pair->n != 2)
            eval_fail(c, pair, "Expecting list of tuples in arg1 of let");
        if (!classic_is_symtok(pair->kids[0]))
            eval_fail(c, pair->kids[0], "Expecting list of (symbol value) in let");
        lval v = classic_fast(c, pair->kids[1]);
        classic_bind(c, pair->kids[0]->sym, v);
    }
    (void)h;
    lval v = lv_none();
    for (uint32_t i = 2; i < n->n; i++)
        v = classic_fast(c, n->kids[i]);
    classic_scope_pop(c, mark);
    return v;
}

/* A call of the user function `def` (a def list) by the list n. */
lval eval_call_user(evalctx *c, const node *n, const node *def)
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
    size_t mark = classic_scope_push(c);
    for (uint32_t i = 0; i < nparams; i++) {
        const node *p = params->kids[i];
        if (!classic_is_symtok(p))
            eval_fail(c, p, "Expecting list of (symbol value) in let");
        lval v = classic_fast(c, n->kids[i + 1]);
        classic_bind(c, p->sym, v);
    }
    lval v = classic_fast(c, body);
    classic_scope_pop(c, mark);
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
    size_t mark = classic_scope_push(c);
    for (uint32_t i = 0; i < nargs; i++) {
        const node *p = params->kids[i];
        if (!classic_is_symtok(p))
            eval_fail(c, p, "Expecting list of (symbol value) in let");
        classic_bind(c, p->sym, args[i]);
    }
    int nest = c->nest;
    lval v = def->cn && def->cn->callable ? compile_classic_run(c, def->cn->body) : classic_fast(c, body);
    c->nest = nest;
    classic_scope_pop(c, mark);
    c->calls--;
    return v;
}

/* Iterate VAR over the value named ITER and collect BODY's values; the
 * compiled body runs when cbody is not NULL. */
lval eval_with(evalctx *c, const node *n, struct cnode *cbody, bool keep)
{
    const node *iter = n->kids[1], *var = n->kids[2], *body = n->kids[3];
    lval it;
    if (!lookup(c, iter, &it))
        eval_undefined(c, iter);
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
    llist *res = NULL;
    if (keep) {
        res = eval_alloc(c, n, sizeof(*res) + (size_t)count * sizeof(lval));
        res->n = count;
    }
    size_t spos = 0;
    pf_loop *pf = it.t == LV_GUESTS ? eval_pf_loop(c->prog, n) : NULL;
    bool fetch = count >= PF_MIN_GUESTS;
    for (uint32_t i = 0; i < count; i++) {
        lval item;
        gframe frame;
        bool guest = false;
        switch (it.t) {
        case LV_LIST: item = it.u.l->items[i]; break;
        case LV_GUESTS:
            if (fetch)
                policy_prefetch(it.u.g, i, pf, c->prog);
            item.t = LV_ENTITY;
            item.u.e = &it.u.g->items[i];
            frame.g = item.u.e;
            frame.pf = pf;
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
        size_t mark = classic_scope_push(c);
        classic_bind(c, var->sym, item);
        lval v = cbody ? compile_classic_run(c, cbody) : classic_fast(c, body);
        if (res)
            res->items[i] = v;
        classic_scope_pop(c, mark);
        if (guest)
            c->gtop = frame.up;
    }
    if (!res)
        return lv_none();
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
        if (!classic_is_symtok(a[0]))
            malformed(c, n);
        if (c->prog->fprocs && (size_t)a[0]->sym < c->prog->n_symarr &&
            c->prog->fprocs[a[0]->sym])
            eval_fail(c, a[0], "def %.*s: a Fortran-like procedure has this name", (int)a[0]->len,
                      a[0]->text);
        c->funcs[a[0]->sym] = (node *)n;
        return lv_str(a[0]->text, a[0]->len);
    case FORM_SET: {
        if (!classic_is_symtok(a[0]))
            malformed(c, n);
        x = classic_fast(c, a[1]);
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
        if (!classic_is_symtok(a[0]) || !classic_is_symtok(a[1]))
            malformed(c, n);
        return eval_with(c, n, NULL, true);
    case FORM_NOT: return lv_bool(!lval_truthy(classic_fast(c, a[0])));
    case FORM_MIN:
    case FORM_MAX:
        r = classic_fast(c, a[0]);
        for (uint32_t i = 1; i < nargs; i++) {
            x = classic_fast(c, a[i]);
            err = lval_order(form == FORM_MIN ? LV_LT : LV_GT, x, r, &b);
            if (err)
                eval_op_fail(c, h, err, FORM_LT, x, r);
            if (b)
                r = x;
        }
        return r;
    case FORM_NULL: {
        bool all = true;
        for (uint32_t i = 0; i < nargs; i++) {
            x = classic_fast(c, a[i]);
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
lval eval_form(evalctx *c, const node *n)
{
    int form = n->form;
    uint32_t nargs = n->n - 1;
    const node *h = n->kids[0];
    if (__builtin_expect(!(n->checked & NODE_OK_ARITY), 0)) {
        if (eval_form_sig[form].variadic ? nargs < eval_form_sig[form].nargs
                                    : nargs != eval_form_sig[form].nargs) {
            if (eval_form_sig[form].variadic)
                eval_fail(c, h, "not enough arguments for 'c_%s' on line %u",
                          eval_form_sig[form].iname, h->line);
            eval_fail(c, h, "arity mismatch in doc parsing of 'c_%s' on line %u",
                      eval_form_sig[form].iname, h->line);
        }
        ((node *)n)->checked |= NODE_OK_ARITY;
    }
    const node *const *a = (const node *const *)n->kids + 1;
    lval x, y, r;
    bool b;
    int err;
    switch (form) {
    case FORM_DEFVAR:
        if (!classic_is_symtok(a[0]))
            malformed(c, n);
        x = classic_fast(c, a[1]);
        return classic_bind(c, a[0]->sym, x);
    case FORM_IF:
        x = classic_fast(c, a[0]);
        return classic_fast(c, classic_truthy(x) ? a[1] : a[2]);
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
        x = classic_fast(c, a[0]);
        y = classic_fast(c, a[1]);
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
            eval_op_fail(c, h, err, form, x, y);
        return r;
    }
    case FORM_LT:
    case FORM_GT:
    case FORM_LTE:
    case FORM_GTE: {
        static const lv_op ops[FORM__COUNT] = {
            [FORM_LT] = LV_LT, [FORM_GT] = LV_GT, [FORM_LTE] = LV_LE, [FORM_GTE] = LV_GE,
        };
        x = classic_fast(c, a[0]);
        y = classic_fast(c, a[1]);
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
            eval_op_fail(c, h, err, form, x, y);
        return lv_bool(b);
    }
    case FORM_EQ:
    case FORM_NEQ:
        x = classic_fast(c, a[0]);
        y = classic_fast(c, a[1]);
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
            x = classic_fast(c, a[i]);
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
            if (classic_fast(c, a[i]).t == LV_NONE)
                ok = false;
        return lv_bool(ok);
    }
    case FORM_EVAL:
        if (nargs == 0)
            eval_fail(c, h, "eval of nothing ({} or (eval)) on line %u", h->line);
        for (uint32_t i = 0; i < nargs; i++)
            x = classic_fast(c, a[i]);
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
        args[i] = classic_fast(c, n->kids[i + 1]);
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

_Noreturn __attribute__((noinline)) void eval_nest_fail(evalctx *c, const node *h)
{
    eval_fail(c, h, "expressions nested too deeply (more than %d levels) on line %u",
              c->nest_limit, h->line);
}

/* A list whose head is neither a function value nor a built-in form: a
 * user function, or a Fortran-like procedure. */
__attribute__((noinline)) lval eval_call_named(evalctx *c, const node *n)
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
            args[i] = classic_fast(c, n->kids[i + 1]);
        return evalf_call(c, c->prog->fprocs[h->sym], args, nargs, h);
    }
    if (!def)
        eval_fail(c, h, "undefined function %.*s on line %u", (int)h->len, h->text, h->line);
    return eval_call_user(c, n, def);
}

/* (HEAD ARGS...): the head is a variable holding a function, a built-in
 * form, or a user function, in that order (§5.4). */
__attribute__((noinline)) lval eval_list(evalctx *c, const node *n)
{
    if (__builtin_expect(!(n->checked & NODE_OK_SHAPE), 0))
        list_shape(c, n);
    const node *h = n->kids[0];
    if (__builtin_expect(++c->nest > c->nest_limit, 0))
        eval_nest_fail(c, h);
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
        v = eval_call_named(c, n);
    c->nest--;
    return v;
}

_Noreturn __attribute__((noinline)) void eval_step_fail(evalctx *c, const node *n)
{
    eval_fail(c, n, "policy step limit exceeded on line %u", n->line);
}

/* Everything classic_fast leaves: literals that fail, dotted names off the
 * fast path, operators used as values, unbound symbols. */
__attribute__((noinline)) lval eval_slow(evalctx *c, const node *n)
{
    switch ((node_kind)n->kind) {
    case N_SYM: {
        const slot *s = &c->slots[n->sym];
        if (s->level >= 0)
            return s->v;
        eval_undefined(c, n);
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
            (s->v.u.rec->mask[s->v.sub] & IOM_HAS(n->attr - ATTR_LIMIT0)))
            return iorec_lim(s->v.u.rec, s->v.sub, n->attr - ATTR_LIMIT0); /* as intr_attr */
        if (lookup_dot(c, n, &v))
            return v;
        eval_undefined(c, n);
    }
    case N_OP: eval_fail(c, n, "Unexpected token type \"operator\" on line %u", n->line);
    }
    eval_fail(c, n, "internal error: unknown node");
}


lval eval_node(evalctx *c, const node *n)
{
    return classic_fast(c, n);
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
    for (size_t i = 0; i < p->syms.n; i++)
        c->slots[i].level = -1;
    memset(c->funcs, 0, p->syms.n * sizeof(*c->funcs));
    for (size_t i = 0; i < p->n_hoist; i++) {
        node *d = p->hoist[i];
        if (!c->funcs[d->kids[1]->sym])
            c->funcs[d->kids[1]->sym] = d;
    }
    /* The host and the guests (c->host, c->guests, c->gcoll) were set up
     * by intr_begin. */
    lval v = { .t = LV_BUILTIN, .sub = LV_FN_ABS };
    classic_bind(c, p->sym_abs, v);
    v.sub = LV_FN_DEBUG;
    classic_bind(c, p->sym_debug, v);
    v.t = LV_ENTITY;
    v.u.e = &c->host;
    classic_bind(c, p->sym_host, v);
    v.t = LV_GUESTS;
    v.u.g = &c->gcoll;
    classic_bind(c, p->sym_guests, v);
    if (p->has_fortran)
        evalf_bind_globals(c);
    c->want_top = vals != NULL;
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
            v = top->cn ? compile_classic_run(c, top->cn) : classic_fast(c, top);
            if (vals)
                vals[k++] = v;
        }
    }
    return 0;
}

pf_loop *eval_pf_loop(program *p, const void *loop)
{
    for (uint32_t i = 0; i < p->n_pf_loops; i++)
        if (p->pf_loops[i].loop == loop)
            return &p->pf_loops[i];
    if (p->n_pf_loops == PF_LOOPS)
        return &p->pf_loops[PF_LOOPS - 1];
    pf_loop *l = &p->pf_loops[p->n_pf_loops++];
    l->loop = loop;
    return l;
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
    intr_end(&c);
    arena_reset(c.ar);
    return r;
}
