/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The classic dialect's evaluator in two files: the tree walker of the
 * semantics (eval.c: scopes, head resolution, the built-in forms, calls,
 * the step budget and the depth limit) and its compiled form
 * (compile_classic.c: closures chosen at load time that take the common
 * cases and hand every other one to the tree walker).  This header is
 * what they share: the compiled node, the hot helpers of the tree walker
 * inline, and the entry points each calls in the other.
 */
#ifndef MOM_LANG_CLASSIC_H
#define MOM_LANG_CLASSIC_H

#include "lang/eval.h"

/* A compiled node (compile_classic.c). */
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
    /* What the compiled parent does with the value: CN_USED, or drops it
     * (CN_UNUSED), or drops it unless the top-level values are kept
     * (CN_UNUSED_TOP, evalctx.want_top).  Only with reads it: a loop whose
     * value nobody reads builds no list of its body's values. */
    uint8_t unused;
    struct cnode *body;       /* def, with: the body */
};

typedef struct cnode cnode;

enum { CN_USED, CN_UNUSED_TOP, CN_UNUSED };

/* Integers up to this magnitude convert to doubles exactly. */
#define LV_EXACT (INT64_C(1) << 53)

/* A sample slot as a value when it holds a number or nothing (absent or
 * missing: None); false for a boxed value, which takes the general path. */
static inline bool classic_slot(const fval *f, lval *ret)
{
    if (f->kind == FV_INT)
        *ret = lv_int(f->u.i);
    else if (f->kind == FV_REAL)
        *ret = lv_real(f->u.r);
    else if (f->kind == FV_NONE || f->kind == FV_MISSING)
        *ret = lv_none();
    else
        return false;
    return true;
}

/* ---- the tree walker (eval.c) ---- */

/* The signature of a built-in form: internal name, listed slots, and
 * whether the last slot repeats (POLICY-CLASSIC §4.4). */
typedef struct classic_form_sig {
    const char *iname;
    uint8_t nargs;
    bool variadic;
} classic_form_sig;
extern const classic_form_sig eval_form_sig[FORM__COUNT];

lval eval_call_named(evalctx *c, const node *n);
_Noreturn void eval_undefined(evalctx *c, const node *n);
_Noreturn void eval_op_fail(evalctx *c, const node *at, int err, int form, lval x, lval y);

lval eval_list(evalctx *c, const node *n);
lval eval_slow(evalctx *c, const node *n);
lval eval_form(evalctx *c, const node *n);
/* (with ITER VAR BODY); keep: return the list of the body's values (else
 * None, and no list is made). */
lval eval_with(evalctx *c, const node *n, struct cnode *cbody, bool keep);
lval eval_call_user(evalctx *c, const node *n, const node *def);
void *eval_alloc(evalctx *c, const node *at, size_t n);
void eval_undo_grow(evalctx *c);
_Noreturn void eval_step_fail(evalctx *c, const node *n);
_Noreturn void eval_nest_fail(evalctx *c, const node *h);

/* lval_truthy with the common cases inline. */
static inline bool classic_truthy(lval v)
{
    if (v.t == LV_BOOL)
        return v.u.b;
    if (v.t == LV_INT)
        return v.u.i != 0;
    return lval_truthy(v);
}

static inline bool classic_is_symtok(const node *n)
{
    return n->kind == N_SYM || n->kind == N_DOT || n->kind == N_NIL;
}

static inline size_t classic_scope_push(evalctx *c)
{
    c->level++;
    return c->n_undo;
}

static inline void classic_scope_pop(evalctx *c, size_t mark)
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

/* Bind with defvar rules in the innermost scope: a name already bound in
 * that scope keeps its value.  Returns the value bound there. */
static inline lval classic_bind(evalctx *c, int32_t sym, lval v)
{
    slot *s = &c->slots[sym];
    if (s->level == c->level)
        return s->v;
    if (c->level > 0) {
        program *p = c->prog;
        if (__builtin_expect(c->n_undo == p->cap_undo, 0))
            eval_undo_grow(c);
        undo_rec *r = &p->undo[c->n_undo++];
        r->sym = sym;
        r->level = s->level;
        r->v = s->v;
    }
    s->v = v;
    s->level = c->level;
    return v;
}

/* One step: the common nodes (bound symbols, lists, good literals, a
 * numeric field of an entity whose field id is cached) without calls. */
static inline lval classic_fast(evalctx *c, const node *n)
{
    if (__builtin_expect(--c->steps_left < 0, 0))
        eval_step_fail(c, n);
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
        const rt_entity *e = s->v.u.e;
        const sample *smp = e->cur;
        if (n->cache_tab != e->fields || n->cache_id < 0 || !smp)
            return eval_slow(c, n);
        if (!e->uniform && (uint32_t)n->cache_id >= smp->n)
            return eval_slow(c, n);
        lval v;
        if (classic_slot(&smp->f[n->cache_id], &v))
            return v;
    } else if (kind == N_INT || kind == N_REAL || kind == N_STR) {
        if (__builtin_expect(n->lit_status == LIT_OK, 1))
            return n->lit;
    }
    return eval_slow(c, n);
}

/* ---- the compiled form (compile_classic.c) ---- */

/* Compile every classic tree of p into closures. */
int compile_classic_program(program *p);
/* Run a compiled body. */
lval compile_classic_run(evalctx *c, struct cnode *body);

#endif
