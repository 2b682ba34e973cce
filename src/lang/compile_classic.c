/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The compiled form of the classic dialect (see classic.h): load-time
 * closures over the tree walker of eval.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/classic.h"
#include "lang/prefetch.h"

/* ---- the compiled form ---------------------------------------------------- */

/*
 * program_finish turns every classic tree into closures: one cnode per
 * node, whose handler was chosen at load time for the node's kind, its
 * built-in form and its operands.  A handler makes at run time only the
 * checks whose outcome can change (a binding of a head's name, an entity's
 * field table, a function's current definition) and hands its node to the
 * tree walker (eval_list, eval_slow) for every case it does not take
 * itself, so the values, the steps, the nesting depth and the errors are
 * the tree walker's.  Steps: one per node evaluated, as classic_fast counts;
 * handlers specialised for the kinds of their operands (BIN_SHAPE, IF_SHAPE,
 * c_defvar_*) take several at once only when the budget covers them all.
 */

#define RUN(c, n) ((n)->fn((c), (n)))

lval compile_classic_run(evalctx *c, struct cnode *body)
{
    return RUN(c, body);
}

static inline void step(evalctx *c, const cnode *n)
{
    if (__builtin_expect(--c->steps_left < 0, 0))
        eval_step_fail(c, n->ast);
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
            eval_nest_fail((c), (n)->ast->kids[0]);                                                   \
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
    eval_undefined(c, n->ast);
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
            eval_pf_mark(c, policy_pf_bit(n->fid), 0, 0);
    }
    return v;
}

/* BASE.FIELD: a number (or None) of the entity's latest sample; a boxed
 * value of a field whose id is cached (io_tune) is what intr_attr would
 * make of it, intr_field's. */
static inline lval field_read(evalctx *c, cnode *n)
{
    step(c, n);
    const slot *s = &c->slots[n->base];
    if (__builtin_expect(s->level >= 0 && s->v.t == LV_ENTITY, 1)) {
        rt_entity *e = s->v.u.e;
        const sample *smp = e->cur;
        if (__builtin_expect(n->tab == e->fields && smp, 1)) {
            lval v;
            if (__builtin_expect(e->uniform || (uint32_t)n->fid < smp->n, 1)) {
                if (classic_slot(&smp->f[n->fid], &v))
                    return v;
                return intr_field(c, e, n->fid);
            }
        }
    }
    return field_miss(c, n);
}

static lval c_field(evalctx *c, cnode *n)
{
    return field_read(c, n);
}

/* RECORD.guaranteed, .maximum and .current: a limit set of an I/O-tune
 * record (intr_attr's answer). */
static lval c_ioset(evalctx *c, cnode *n)
{
    step(c, n);
    const slot *s = &c->slots[n->base];
    if (__builtin_expect(s->level >= 0 && s->v.t == LV_IOREC, 1)) {
        lval v = { .t = LV_IOLIM, .sub = (uint8_t)(n->attr - ATTR_MAXIMUM),
                   .u.rec = s->v.u.rec };
        return v;
    }
    return eval_slow(c, n->ast);
}

/* LIMITS.NAME: one limit of an I/O-tune record's limit set. */
static inline lval iolim_read(evalctx *c, cnode *n)
{
    step(c, n);
    const slot *s = &c->slots[n->base];
    unsigned li = (unsigned)n->attr - ATTR_LIMIT0;
    if (s->level >= 0 && s->v.t == LV_IOLIM && (s->v.u.rec->mask[s->v.sub] & IOM_HAS(li)))
        return iorec_lim(s->v.u.rec, s->v.sub, (int)li);
    return eval_slow(c, n->ast);
}

static lval c_iolim(evalctx *c, cnode *n)
{
    return iolim_read(c, n);
}

/* An operand: symbols and literals without the indirect call (the same
 * step and result as c_sym and c_lit). */
static inline lval operand(evalctx *c, cnode *k)
{
    cnode_fn fn = k->fn;
    if (fn == c_sym) {
        step(c, k);
        const slot *s = &c->slots[k->sym];
        if (__builtin_expect(s->level >= 0, 1))
            return s->v;
        eval_undefined(c, k->ast);
    }
    if (fn == c_lit) {
        step(c, k);
        return k->lit;
    }
    return RUN(c, k);
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

/* abs of one operand: integers other than the smallest and floats here,
 * anything else (and its errors) intr_call's. */
static lval call_abs(evalctx *c, const cnode *n, lval fv)
{
    lval x = operand(c, n->a);
    if (x.t == LV_INT && x.u.i != INT64_MIN)
        return lv_int(x.u.i < 0 ? -x.u.i : x.u.i);
    if (x.t == LV_REAL)
        return lv_real(fabs(x.u.r));
    return intr_call(c, n->ast, fv, &x, 1);
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
    size_t mark = classic_scope_push(c);
    for (uint32_t i = 0; i < def->np; i++) {
        lval v = operand(c, n->k[i]);
        classic_bind(c, def->syms[i], v);
    }
    lval v = RUN(c, def->body);
    classic_scope_pop(c, mark);
    c->calls--;
    return v;
}

/* (NAME ARGS...) of no built-in form: a variable's function value, else
 * the user function NAME (or what call_named makes of it). */
static lval c_call(evalctx *c, cnode *n)
{
    step(c, n);
    if (__builtin_expect(++c->nest > c->nest_limit, 0))
        eval_nest_fail(c, n->ast->kids[0]);
    lval v;
    if (n->head_check && head_bound(c, n)) {
        lval fv = c->slots[n->sym].v;
        if (fv.t == LV_BUILTIN && fv.sub == LV_FN_ABS && n->nk == 1)
            v = call_abs(c, n, fv);
        else
            v = call_fnval(c, n, fv);
    } else {
        const node *def = c->funcs[n->sym];
        if (__builtin_expect(def && def->cn && def->cn->callable, 1))
            v = call_compiled(c, n, def->cn);
        else
            v = eval_call_named(c, n->ast);
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
        eval_nest_fail(c, n->ast->kids[0]);
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
        /* A limit of another set (tune.setX limits.x) without the call. */
        v = n->a->fn == c_iolim ? iolim_read(c, n->a) : operand(c, n->a);
        if (v.t == LV_INT) {
            intr_io_set(c, fv.u.rec, (int)li, lv_int(v.u.i));
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
            uint64_t bit = policy_pf_bit(arg->cache_id);
            eval_pf_mark(c, bit, 0, n->attr == ATTR_STAT ? 0 : bit);
        }
    }
    c->nest--;
    return v;
}

/* ---- built-in forms ---- */


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
        eval_op_fail(c, n->ast->kids[0], err, form, x, y);
    return r;
}

/* +, - and *: integers with overflow checked, else floats (at least one
 * float operand), else lval_arith. */
#define ARITH_OP(name, ovf, op)                                                                  \
    static inline lval name(evalctx *c, const cnode *n, lval x, lval y)                          \
    {                                                                                            \
        int64_t i;                                                                               \
        if (x.t == LV_INT && y.t == LV_INT) {                                                    \
            if (!ovf(x.u.i, y.u.i, &i))                                                          \
                return lv_int(i);                                                                \
        } else if (is_num(x) && is_num(y)) {                                                     \
            return lv_real(num(x) op num(y));                                                    \
        }                                                                                        \
        return arith_slow(c, n, x, y);                                                           \
    }

ARITH_OP(op_add, __builtin_add_overflow, +)
ARITH_OP(op_sub, __builtin_sub_overflow, -)
ARITH_OP(op_mul, __builtin_mul_overflow, *)

/* True division: exact as doubles for integers up to 2^53 (div_exact's
 * first case), else lval_arith (zero, large integers, other types). */
static inline lval op_div(evalctx *c, const cnode *n, lval x, lval y)
{
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
static inline lval op_shift(evalctx *c, const cnode *n, lval x, lval y)
{
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
        eval_op_fail(c, n->ast->kids[0], err, form, x, y);
    return lv_bool(b);
}

/* <, >, <= and >=: numbers that compare exactly as doubles (a NaN orders
 * false), else lval_order. */
#define ORDER_OP(name, op)                                                                       \
    static inline lval name(evalctx *c, const cnode *n, lval x, lval y)                          \
    {                                                                                            \
        if (exact_num(x) && exact_num(y))                                                        \
            return lv_bool(num(x) op num(y));                                                    \
        return order_slow(c, n, x, y);                                                           \
    }

ORDER_OP(op_lt, <)
ORDER_OP(op_gt, >)
ORDER_OP(op_lte, <=)
ORDER_OP(op_gte, >=)

static inline bool equal(lval x, lval y)
{
    if (x.t == LV_INT && y.t == LV_INT)
        return x.u.i == y.u.i;
    if (x.t == LV_REAL && y.t == LV_REAL)
        return x.u.r == y.u.r;
    return lval_eq(x, y);
}

static inline lval op_eq(evalctx *c, const cnode *n, lval x, lval y)
{
    (void)c;
    (void)n;
    return lv_bool(equal(x, y));
}

static inline lval op_neq(evalctx *c, const cnode *n, lval x, lval y)
{
    (void)c;
    (void)n;
    return lv_bool(!equal(x, y));
}

/*
 * The binary operators.  BIN_GENERIC is the general handler: its step, its
 * head, one nesting level, the operands through operand().  BIN_SHAPE
 * specialises it for the kinds of its operands known at load time (a
 * symbol, a literal or anything else, K_*) when no code binds the head's
 * name: the steps of the node and of the symbol and literal operands that
 * come before any other operand are taken at once, which is the same as
 * one at a time when the budget covers them all (otherwise the general
 * handler runs and fails where it would have); a node whose operands are
 * both symbols or literals checks the nesting depth without counting it,
 * since nothing it evaluates looks at it.  Every other step, check and
 * result is the general handler's, in its order.
 */
enum { K_RUN, K_SYM, K_LIT };

/* A symbol or literal operand whose step was taken. */
static inline lval leaf(evalctx *c, cnode *k, int kind)
{
    if (kind == K_LIT)
        return k->lit;
    const slot *s = &c->slots[k->sym];
    if (__builtin_expect(s->level >= 0, 1))
        return s->v;
    eval_undefined(c, k->ast);
}

/* An operand of kind `kind` with its own step. */
static inline lval opnd(evalctx *c, cnode *k, int kind)
{
    if (kind == K_RUN)
        return RUN(c, k);
    step(c, k);
    return leaf(c, k, kind);
}

#define BIN_GENERIC(name, op)                                                                    \
    static lval name(evalctx *c, cnode *n)                                                       \
    {                                                                                            \
        FORM_ENTER(c, n);                                                                        \
        lval x = operand(c, n->a);                                                               \
        lval y = operand(c, n->b);                                                               \
        c->nest--;                                                                               \
        return op(c, n, x, y);                                                                   \
    }

#define BIN_SHAPE(name, generic, op, ka, kb)                                                     \
    static lval name(evalctx *c, cnode *n)                                                       \
    {                                                                                            \
        const int64_t pre = 1 + (ka != K_RUN) + (ka != K_RUN && kb != K_RUN);                    \
        if (__builtin_expect(c->steps_left < pre || c->nest >= c->nest_limit, 0))                \
            return generic(c, n);                                                                \
        c->steps_left -= pre;                                                                    \
        lval x, y;                                                                               \
        if (ka != K_RUN && kb != K_RUN) {                                                        \
            x = leaf(c, n->a, ka);                                                               \
            y = leaf(c, n->b, kb);                                                               \
        } else {                                                                                 \
            c->nest++;                                                                           \
            x = ka != K_RUN ? leaf(c, n->a, ka) : RUN(c, n->a);                                  \
            y = opnd(c, n->b, kb);                                                               \
            c->nest--;                                                                           \
        }                                                                                        \
        return op(c, n, x, y);                                                                   \
    }

#define BIN_FAMILY(base, op)                                                                     \
    BIN_GENERIC(base, op)                                                                        \
    BIN_SHAPE(base##_rr, base, op, K_RUN, K_RUN)                                                 \
    BIN_SHAPE(base##_rs, base, op, K_RUN, K_SYM)                                                 \
    BIN_SHAPE(base##_rl, base, op, K_RUN, K_LIT)                                                 \
    BIN_SHAPE(base##_sr, base, op, K_SYM, K_RUN)                                                 \
    BIN_SHAPE(base##_ss, base, op, K_SYM, K_SYM)                                                 \
    BIN_SHAPE(base##_sl, base, op, K_SYM, K_LIT)                                                 \
    BIN_SHAPE(base##_lr, base, op, K_LIT, K_RUN)                                                 \
    BIN_SHAPE(base##_ls, base, op, K_LIT, K_SYM)                                                 \
    BIN_SHAPE(base##_ll, base, op, K_LIT, K_LIT)                                                 \
    static const cnode_fn base##_shapes[3][3] = {                                                \
        { base##_rr, base##_rs, base##_rl },                                                     \
        { base##_sr, base##_ss, base##_sl },                                                     \
        { base##_lr, base##_ls, base##_ll },                                                     \
    };

BIN_FAMILY(c_add, op_add)
BIN_FAMILY(c_sub, op_sub)
BIN_FAMILY(c_mul, op_mul)
BIN_FAMILY(c_div, op_div)
BIN_FAMILY(c_shift, op_shift)
BIN_FAMILY(c_lt, op_lt)
BIN_FAMILY(c_gt, op_gt)
BIN_FAMILY(c_lte, op_lte)
BIN_FAMILY(c_gte, op_gte)
BIN_FAMILY(c_eq, op_eq)
BIN_FAMILY(c_neq, op_neq)

/* The kind of an operand for BIN_SHAPE. */
static int operand_kind(const cnode *k)
{
    return k->fn == c_sym ? K_SYM : k->fn == c_lit ? K_LIT : K_RUN;
}

/* The handler of binary operator node cn whose general handler is fn and
 * whose shapes are tab. */
static cnode_fn bin_handler(const cnode *cn, cnode_fn fn, const cnode_fn tab[3][3])
{
    if (cn->head_check)
        return fn;
    return tab[operand_kind(cn->a)][operand_kind(cn->b)];
}

static lval c_if(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    lval x = operand(c, n->a);
    lval v = classic_truthy(x) ? operand(c, n->b) : operand(c, n->d);
    c->nest--;
    return v;
}

/* if whose condition is no symbol or literal, by the kinds of its branches
 * (the general handler's steps and checks, as BIN_SHAPE). */
#define IF_SHAPE(name, kb, kd)                                                                   \
    static lval name(evalctx *c, cnode *n)                                                       \
    {                                                                                            \
        if (__builtin_expect(c->steps_left < 1 || c->nest >= c->nest_limit, 0))                 \
            return c_if(c, n);                                                                   \
        c->steps_left--;                                                                         \
        c->nest++;                                                                               \
        lval x = RUN(c, n->a);                                                                   \
        lval v = classic_truthy(x) ? opnd(c, n->b, kb) : opnd(c, n->d, kd);                      \
        c->nest--;                                                                               \
        return v;                                                                                \
    }

IF_SHAPE(c_if_rr, K_RUN, K_RUN)
IF_SHAPE(c_if_rs, K_RUN, K_SYM)
IF_SHAPE(c_if_rl, K_RUN, K_LIT)
IF_SHAPE(c_if_sr, K_SYM, K_RUN)
IF_SHAPE(c_if_ss, K_SYM, K_SYM)
IF_SHAPE(c_if_sl, K_SYM, K_LIT)
IF_SHAPE(c_if_lr, K_LIT, K_RUN)
IF_SHAPE(c_if_ls, K_LIT, K_SYM)
IF_SHAPE(c_if_ll, K_LIT, K_LIT)

static const cnode_fn c_if_shapes[3][3] = {
    { c_if_rr, c_if_rs, c_if_rl },
    { c_if_sr, c_if_ss, c_if_sl },
    { c_if_lr, c_if_ls, c_if_ll },
};

/* and, or: eager, every operand is evaluated before the choice. */
static lval c_andor(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    bool want = n->ast->form == FORM_OR, found = false;
    lval x = lv_none(), r = lv_none();
    for (uint32_t i = 0; i < n->nk; i++) {
        x = operand(c, n->k[i]);
        if (!found && classic_truthy(x) == want) {
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
    return lv_bool(!classic_truthy(x));
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
                eval_op_fail(c, n->ast->kids[0], err, FORM_LT, x, r);
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
    x = classic_bind(c, n->target, x);
    c->nest--;
    return x;
}

/* defvar whose value is no symbol or literal (the general handler's steps
 * and checks). */
static lval c_defvar_r(evalctx *c, cnode *n)
{
    if (__builtin_expect(c->steps_left < 1 || c->nest >= c->nest_limit, 0))
        return c_defvar(c, n);
    c->steps_left--;
    c->nest++;
    lval x = RUN(c, n->b);
    x = classic_bind(c, n->target, x);
    c->nest--;
    return x;
}

/* defvar of a symbol's or a literal's value: both steps at once, and the
 * nesting depth checked (binding does not look at it). */
static lval c_defvar_s(evalctx *c, cnode *n)
{
    if (__builtin_expect(c->steps_left < 2 || c->nest >= c->nest_limit, 0))
        return c_defvar(c, n);
    c->steps_left -= 2;
    return classic_bind(c, n->target, leaf(c, n->b, K_SYM));
}

static lval c_defvar_l(evalctx *c, cnode *n)
{
    if (__builtin_expect(c->steps_left < 2 || c->nest >= c->nest_limit, 0))
        return c_defvar(c, n);
    c->steps_left -= 2;
    return classic_bind(c, n->target, n->b->lit);
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
    size_t mark = classic_scope_push(c);
    for (uint32_t i = 0; i < n->np; i++) {
        lval v = operand(c, n->k[i]);
        classic_bind(c, n->syms[i], v);
    }
    lval v = lv_none();
    for (uint32_t i = n->np; i < n->nk; i++)
        v = RUN(c, n->k[i]);
    classic_scope_pop(c, mark);
    c->nest--;
    return v;
}

/* (def NAME (PARAMS) BODY): NAME's definition from now on (eval_form_rare's
 * case, whose checks compile_list made). */
static lval c_def(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    c->funcs[n->target] = (node *)n->ast;
    c->nest--;
    const node *name = n->ast->kids[1];
    return lv_str(name->text, name->len);
}

static lval c_with(evalctx *c, cnode *n)
{
    FORM_ENTER(c, n);
    bool keep = n->unused == CN_USED || (n->unused == CN_UNUSED_TOP && c->want_top);
    lval v = eval_with(c, n->ast, n->body, keep);
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
    if (classic_is_symtok(n))
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

static bool is_if(cnode_fn fn)
{
    if (fn == c_if)
        return true;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (fn == c_if_shapes[i][j])
                return true;
    return false;
}

/* Record that the compiled parent of cn drops its value (u, cnode.unused),
 * and so does cn with the values that are its own: a block's last, an
 * if's branches, a with's body.  A node is run only by its compiled
 * parent (a tree walker's parent evaluates the tree, not the closures),
 * so the mark holds wherever the closure runs. */
static void mark_unused(cnode *cn, uint8_t u)
{
    if (!cn || cn->unused >= u)
        return;
    cn->unused = u;
    if (cn->fn == c_with) {
        mark_unused(cn->body, u);
    } else if (cn->fn == c_progn) {
        mark_unused(cn->k[cn->nk - 1], u);
    } else if (is_if(cn->fn)) {
        mark_unused(cn->b, u);
        mark_unused(cn->d, u);
    }
}

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
    if (eval_form_sig[form].variadic ? nk < eval_form_sig[form].nargs : nk != eval_form_sig[form].nargs)
        return cn;
    node *const *a = n->kids + 1;
    switch (form) {
    case FORM_DEF:
        if (classic_is_symtok(a[0]) &&
            !(p->fprocs && (size_t)a[0]->sym < p->n_symarr && p->fprocs[a[0]->sym])) {
            cn->target = a[0]->sym;
            cn->fn = c_def;
        }
        /* What calls use. */
        if (a[1]->kind == N_LIST) {
            const node *params = a[1];
            bool ok = true;
            for (uint32_t i = 0; i < params->n; i++)
                ok = ok && classic_is_symtok(params->kids[i]);
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
        if (classic_is_symtok(a[0])) {
            cn->target = a[0]->sym;
            static const cnode_fn dv[3] = { c_defvar_r, c_defvar_s, c_defvar_l };
            cn->fn = cn->head_check ? c_defvar : dv[operand_kind(cn->b)];
        }
        break;
    case FORM_SET:
        /* Typed Fortran-like globals convert: the tree walker does that. */
        if (classic_is_symtok(a[0]) && !(p->gtype && (size_t)a[0]->sym < p->n_symarr &&
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
            ok = ok && pair->kind == N_LIST && pair->n == 2 && classic_is_symtok(pair->kids[0]);
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
        if (classic_is_symtok(a[0]) && classic_is_symtok(a[1])) {
            cn->body = a[2]->cn;
            cn->fn = c_with;
        }
        break;
    case FORM_IF:
        cn->fn = c_if;
        if (!cn->head_check && operand_kind(cn->a) == K_RUN)
            cn->fn = c_if_shapes[operand_kind(cn->b)][operand_kind(cn->d)];
        break;
    case FORM_ADD: cn->fn = bin_handler(cn, c_add, c_add_shapes); break;
    case FORM_SUB: cn->fn = bin_handler(cn, c_sub, c_sub_shapes); break;
    case FORM_MUL: cn->fn = bin_handler(cn, c_mul, c_mul_shapes); break;
    case FORM_DIV: cn->fn = bin_handler(cn, c_div, c_div_shapes); break;
    case FORM_SHL:
    case FORM_SHR: cn->fn = bin_handler(cn, c_shift, c_shift_shapes); break;
    case FORM_LT: cn->fn = bin_handler(cn, c_lt, c_lt_shapes); break;
    case FORM_GT: cn->fn = bin_handler(cn, c_gt, c_gt_shapes); break;
    case FORM_LTE: cn->fn = bin_handler(cn, c_lte, c_lte_shapes); break;
    case FORM_GTE: cn->fn = bin_handler(cn, c_gte, c_gte_shapes); break;
    case FORM_EQ: cn->fn = bin_handler(cn, c_eq, c_eq_shapes); break;
    case FORM_NEQ: cn->fn = bin_handler(cn, c_neq, c_neq_shapes); break;
    case FORM_AND:
    case FORM_OR: cn->fn = c_andor; break;
    case FORM_NOT: cn->fn = c_not; break;
    case FORM_MIN:
    case FORM_MAX: cn->fn = c_minmax; break;
    case FORM_VALID: cn->fn = c_valid; break;
    case FORM_EVAL:
        if (nk) {
            cn->fn = c_progn;
            for (uint32_t i = 0; i + 1 < nk; i++)
                mark_unused(cn->k[i], CN_UNUSED);
        }
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
        else if (n->attr >= ATTR_MAXIMUM && n->attr <= ATTR_GUARANTEED)
            cn = cnode_new(cc, n, c_ioset);
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
int compile_classic_program(program *p)
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
        for (size_t j = 0; j < p->files[i].n_top; j++) {
            cnode *cn = compile_node(&cc, p->files[i].top[j]);
            if (!cn) {
                r = -ENOMEM;
                break;
            }
            mark_unused(cn, CN_UNUSED_TOP);
        }
    mom_free(cc.bindable);
    return r;
}
