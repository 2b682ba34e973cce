/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The evaluator of the Fortran-like dialect (POLICY-LANGUAGE.md §3 - §10,
 * §13): a walk over the resolved tree with the Fortran numeric rules,
 * short-circuit logical operators, absent values that fail with the name
 * of the entity and field they came from, the loops and procedures with
 * their frames, and the intrinsics of §9.  It shares everything else with
 * the classic dialect: the evaluation context, the step budget and the
 * depth limit, the symbol slots of globals, the entities and their
 * controls, the per-entity memory.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/eval.h"
#include "lang/prefetch.h"

enum { FL_NONE = 0, FL_EXIT, FL_CYCLE, FL_RETURN };

/* The value of a function result nobody assigned. */
#define LV_UNSET_SUB 1


/* "a" or "an" for a word. */
static const char *an(const char *w)
{
    return w && strchr("aeiouAEIOU", w[0]) ? "an" : "a";
}

#define ffail(c, n, ...) eval_fail_at((c), (n)->file, (n)->line, (n)->col, __VA_ARGS__)

static int exec_block(evalctx *c, const fnode *s);

static lval comp_local_slow(evalctx *c, const fnode *n);

/* One expression: variables, constants and the statistics of an entity
 * held in a local inline (the most frequent operands, so that the common
 * case takes no indirect call), everything else through the node's
 * handler (see evalf_link()). */
static inline __attribute__((always_inline)) lval ev(evalctx *c, const fnode *n)
{
    /* Tests in order of frequency: cheaper than a jump table here. */
    uint8_t op = n->op;
    if (op == FX_LOCAL)
        return c->frame[n->a];
    if (op == FX_COMP) {
        uint8_t bop = n->kids[0]->op;
        if (bop == FX_LOCAL || bop == FX_HOST) {
            lval e = bop == FX_HOST ? (lval){ .t = LV_ENTITY, .u.e = &c->host }
                                    : c->frame[n->kids[0]->a];
            if (__builtin_expect(e.t == LV_ENTITY, 1)) {
                const rt_entity *re = e.u.e;
                const sample *smp = re->cur;
                if (n->cache_tab == re->fields && n->cache_id >= 0 && smp) {
                    if (re->uniform || (uint32_t)n->cache_id < smp->n) {
                        const fval *f = &smp->f[n->cache_id];
                        if (f->kind == FV_INT)
                            return lv_int(f->u.i);
                        if (f->kind == FV_REAL)
                            return lv_real(f->u.r);
                    }
                }
            }
            return comp_local_slow(c, n);
        }
    } else if (op == FX_CONST) {
        return n->lit;
    } else if (op == FX_GLOBAL) {
        const slot *g = &c->slots[n->a];
        if (__builtin_expect(g->level == 0, 1))
            return g->v;
    }
    return n->ev(c, n);
}

static inline bool is_num(lval v)
{
    return v.t == LV_INT || v.t == LV_REAL;
}

static inline double as_real(lval v)
{
    return v.t == LV_REAL ? v.u.r : (double)v.u.i;
}

/* The kind of a value in the words of this dialect. */
static const char *vtype(lval v)
{
    switch ((lv_type)v.t) {
    case LV_NONE: return "absent";
    case LV_BOOL: return "logical";
    case LV_INT: return "integer";
    case LV_REAL: return "real";
    case LV_STR: return "character";
    case LV_LIST:
    case LV_GUESTS: return "array";
    case LV_ENTITY: return "entity";
    case LV_IOREC: return "I/O device record";
    case LV_IOLIM: return "limit record";
    case LV_MAPV: return "map";
    default: return "procedure";
    }
}

static const char *entity_label(const rt_entity *e, char *buf, size_t size)
{
    if (e->index < 0)
        snprintf(buf, size, "host");
    else
        snprintf(buf, size, "guest %s", e->se->name ? e->se->name : "?");
    return buf;
}

/* Whether evaluating n again has no effect (a variable or a component of
 * one), so that an error message may look at its value. */
static bool pure(const fnode *n)
{
    switch (n->op) {
    case FX_LOCAL:
    case FX_GLOBAL:
    case FX_STATIC:
    case FX_HOST:
    case FX_GUESTS:
    case FX_CONST: return true;
    case FX_COMP: return pure(n->kids[0]);
    case FX_INDEX: return pure(n->kids[0]) && pure(n->kids[1]);
    default: return false;
    }
}

/* The error for an absent operand: name the entity and field when the
 * operand is a component, the variable when it is one. */
static _Noreturn void absent_fail(evalctx *c, const fnode *opnd)
{
    if (opnd->op == FX_COMP) {
        const fnode *b = opnd->kids[0];
        if (pure(b)) {
            lval bv = ev(c, b);
            if (bv.t == LV_ENTITY) {
                char who[300];
                ffail(c, opnd, "%s: %s is absent; test it with present()",
                      entity_label(bv.u.e, who, sizeof(who)), opnd->name);
            }
        }
        ffail(c, opnd, "%s is absent; test it with present()", opnd->name);
    }
    if ((opnd->op == FX_LOCAL || opnd->op == FX_GLOBAL || opnd->op == FX_STATIC) && opnd->name)
        ffail(c, opnd, "%s is absent; test it with present()", opnd->name);
    ffail(c, opnd, "a value is absent; test it with present()");
}

/* ---- variables -------------------------------------------------------------- */

/* A global whose slot classic code has shadowed with a deeper binding:
 * its value is in the oldest undo record of the symbol. */
static lval *global_ref_slow(evalctx *c, int32_t sym)
{
    undo_rec *u = c->prog->undo;
    for (size_t i = 0; i < c->n_undo; i++)
        if (u[i].sym == sym && u[i].level == 0)
            return &u[i].v;
    return &c->slots[sym].v;
}

static inline lval *global_ref(evalctx *c, int32_t sym)
{
    slot *s = &c->slots[sym];
    if (__builtin_expect(s->level == 0, 1))
        return &s->v;
    return global_ref_slow(c, sym);
}

/* Store v into the variable node t (already converted). */
static inline void var_store(evalctx *c, const fnode *t, lval v)
{
    switch (t->op) {
    case FX_LOCAL: c->frame[t->a] = v; break;
    case FX_GLOBAL: *global_ref(c, t->a) = v; break;
    case FX_STATIC: c->prog->statics[t->a] = v; break;
    default: break;
    }
}

int evalf_convert(uint8_t type, lval v, lval *ret)
{
    if (v.t == LV_NONE || type == FT_ANY) {
        *ret = v.t == LV_NONE ? lv_none() : v;
        return LVE_OK;
    }
    switch (type) {
    case FT_INT:
        if (v.t == LV_INT) {
            *ret = v;
            return LVE_OK;
        }
        if (v.t == LV_REAL) {
            double t = trunc(v.u.r);
            if (!(t >= -9223372036854775808.0 && t < 9223372036854775808.0))
                return LVE_OVERFLOW;
            *ret = lv_int((int64_t)t);
            return LVE_OK;
        }
        return LVE_TYPE;
    case FT_REAL:
        if (v.t == LV_REAL) {
            *ret = v;
            return LVE_OK;
        }
        if (v.t == LV_INT) {
            *ret = lv_real((double)v.u.i);
            return LVE_OK;
        }
        return LVE_TYPE;
    case FT_LOG:
        if (v.t != LV_BOOL)
            return LVE_TYPE;
        *ret = v;
        return LVE_OK;
    case FT_STR:
        if (v.t != LV_STR)
            return LVE_TYPE;
        *ret = v;
        return LVE_OK;
    default: *ret = v; return LVE_OK;
    }
}

/* Convert for a typed target or fail with a message naming it. */
static lval convert_or_fail(evalctx *c, const fnode *at, uint8_t type, lval v, const char *what)
{
    lval r;
    int rc = evalf_convert(type, v, &r);
    if (rc == LVE_OK)
        return r;
    if (rc == LVE_OVERFLOW)
        ffail(c, at, "%s: %g is out of the integer range", what, v.u.r);
    ffail(c, at, "%s: cannot convert %s %s value to %s", what, an(vtype(v)), vtype(v),
          fortran_type_name(type));
}

/* ---- arithmetic ----------------------------------------------------------------- */

static _Noreturn void operand_fail(evalctx *c, const fnode *n, lval x, lval y, const char *need)
{
    if (x.t == LV_NONE)
        absent_fail(c, n->kids[0]);
    if (y.t == LV_NONE)
        absent_fail(c, n->kids[1]);
    static const char *const ops[] = {
        [FX_ADD] = "+",  [FX_SUB] = "-",  [FX_MUL] = "*",  [FX_DIV] = "/",  [FX_POW] = "**",
        [FX_CAT] = "//", [FX_EQ] = "==",  [FX_NE] = "/=",  [FX_LT] = "<",   [FX_LE] = "<=",
        [FX_GT] = ">",   [FX_GE] = ">=",
    };
    ffail(c, n, "operands of '%s' must be %s, not %s and %s", ops[n->op], need, vtype(x),
          vtype(y));
}

static int64_t ipow(evalctx *c, const fnode *n, int64_t a, int64_t b)
{
    if (b < 0) {
        if (a == 0)
            ffail(c, n, "0 raised to a negative power");
        if (a == 1)
            return 1;
        if (a == -1)
            return (b & 1) ? -1 : 1;
        return 0;
    }
    int64_t r = 1;
    while (b) {
        if (b & 1 && __builtin_mul_overflow(r, a, &r))
            ffail(c, n, "integer overflow in '**'");
        b >>= 1;
        if (b && __builtin_mul_overflow(a, a, &a))
            ffail(c, n, "integer overflow in '**'");
    }
    return r;
}

static __attribute__((noinline)) lval arith_slow(evalctx *c, const fnode *n, lval x, lval y)
{
    if (x.t == LV_INT && y.t == LV_INT) {
        int64_t a = x.u.i, b = y.u.i, r = 0;
        bool ov = false;
        switch (n->op) {
        case FX_ADD: ov = __builtin_add_overflow(a, b, &r); break;
        case FX_SUB: ov = __builtin_sub_overflow(a, b, &r); break;
        case FX_MUL: ov = __builtin_mul_overflow(a, b, &r); break;
        case FX_DIV:
            if (b == 0)
                ffail(c, n, "division by zero");
            if (a == INT64_MIN && b == -1)
                ov = true;
            else
                r = a / b;
            break;
        default: r = ipow(c, n, a, b); break;
        }
        if (ov)
            ffail(c, n, "integer overflow");
        return lv_int(r);
    }
    if (!is_num(x) || !is_num(y))
        operand_fail(c, n, x, y, "numbers");
    double a = as_real(x), b = as_real(y), r;
    switch (n->op) {
    case FX_ADD: r = a + b; break;
    case FX_SUB: r = a - b; break;
    case FX_MUL: r = a * b; break;
    case FX_DIV:
        if (b == 0.0)
            ffail(c, n, "division by zero");
        r = a / b;
        break;
    default:
        if (a == 0.0 && b < 0)
            ffail(c, n, "0 raised to a negative power");
        r = y.t == LV_INT ? pow(a, (double)y.u.i) : pow(a, b);
        break;
    }
    if (!isfinite(r))
        ffail(c, n, "the result is not a finite number (%s)", isnan(r) ? "NaN" : "infinity");
    return lv_real(r);
}

/* Exactly representable as a double. */
static inline bool small_int(lval v)
{
    return v.t == LV_INT && v.u.i >= -(INT64_C(1) << 53) && v.u.i <= (INT64_C(1) << 53);
}

static inline lval arith(evalctx *c, const fnode *n, lval x, lval y)
{
    if (x.t != y.t && (x.t == LV_REAL || y.t == LV_REAL) && n->op != FX_POW &&
        (x.t == LV_REAL || small_int(x)) && (y.t == LV_REAL || small_int(y))) {
        /* Mixed integer and real: the integer converts exactly. */
        x = lv_real(as_real(x));
        y = lv_real(as_real(y));
    }
    if (x.t == LV_REAL && y.t == LV_REAL) {
        double r;
        switch (n->op) {
        case FX_ADD: r = x.u.r + y.u.r; break;
        case FX_SUB: r = x.u.r - y.u.r; break;
        case FX_MUL: r = x.u.r * y.u.r; break;
        default: return arith_slow(c, n, x, y);
        }
        if (__builtin_expect(isfinite(r), 1))
            return lv_real(r);
    } else if (x.t == LV_INT && y.t == LV_INT) {
        int64_t r;
        if (n->op == FX_ADD && !__builtin_add_overflow(x.u.i, y.u.i, &r))
            return lv_int(r);
        if (n->op == FX_SUB && !__builtin_sub_overflow(x.u.i, y.u.i, &r))
            return lv_int(r);
    }
    return arith_slow(c, n, x, y);
}

/* Three-way comparison of two numbers, exact between integers and reals. */
static int num_cmp(lval a, lval b)
{
    if (a.t == LV_INT && b.t == LV_INT)
        return a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
    if ((a.t == LV_REAL || small_int(a)) && (b.t == LV_REAL || small_int(b))) {
        /* Both exact as doubles. */
        double x = as_real(a), y = as_real(b);
        if (x < y)
            return -1;
        if (x > y)
            return 1;
        if (x == y)
            return 0;
        return 2;
    }
    bool r;
    if (lval_order(LV_LT, a, b, &r) == 0 && r)
        return -1;
    if (lval_order(LV_GT, a, b, &r) == 0 && r)
        return 1;
    if (lval_eq(a, b))
        return 0;
    return 2; /* NaN */
}

static int str_cmp(lval a, lval b)
{
    uint32_t n = a.len < b.len ? a.len : b.len;
    int r = memcmp(a.u.s, b.u.s, n);
    if (r)
        return r < 0 ? -1 : 1;
    return a.len < b.len ? -1 : a.len > b.len;
}

static lval compare(evalctx *c, const fnode *n, lval x, lval y)
{
    int k;
    if (is_num(x) && is_num(y)) {
        k = num_cmp(x, y);
    } else if (x.t == LV_STR && y.t == LV_STR) {
        k = str_cmp(x, y);
    } else if (x.t == LV_BOOL && y.t == LV_BOOL && (n->op == FX_EQ || n->op == FX_NE)) {
        k = x.u.b == y.u.b ? 0 : 1;
    } else {
        if (x.t == LV_BOOL && y.t == LV_BOOL)
            ffail(c, n, "logical values can only be compared with == and /=");
        operand_fail(c, n, x, y, "two numbers, two strings or two logicals");
    }
    bool b;
    switch (n->op) {
    case FX_EQ: b = k == 0; break;
    case FX_NE: b = k != 0; break;
    case FX_LT: b = k == -1; break;
    case FX_LE: b = k == -1 || k == 0; break;
    case FX_GT: b = k == 1; break;
    default: b = k == 1 || k == 0; break;
    }
    return lv_bool(b);
}

/* A condition: must be logical.  Conditions are comparisons, .and.,
 * .not. and present() far more often than leaves, so the node's handler
 * is called directly (every node has one, leaves included, and it gives
 * what ev() gives) rather than through ev()'s tests for the leaves. */
static inline bool cond(evalctx *c, const fnode *n)
{
    lval v = n->ev(c, n);
    if (__builtin_expect(v.t == LV_BOOL, 1))
        return v.u.b;
    if (v.t == LV_NONE)
        absent_fail(c, n);
    ffail(c, n, "a condition must be logical, not %s", vtype(v));
}

/* ---- components -------------------------------------------------------------------- */

static lval prop_value(evalctx *c, const rt_entity *e, const fnode *n)
{
    const snap_entity *se = e->se;
    if (e->index >= 0) {
        if (strcmp(n->name, "name") == 0 && se->name)
            return (lval){ .t = LV_STR, .flags = LV_F_CSTR, .len = (uint32_t)strlen(se->name),
                           .u.s = se->name };
        if (strcmp(n->name, "uuid") == 0 && se->uuid)
            return (lval){ .t = LV_STR, .flags = LV_F_CSTR, .len = (uint32_t)strlen(se->uuid),
                           .u.s = se->uuid };
    }
    const mom_value *v = se->props ? value_map_get(se->props, n->name) : NULL;
    if (v)
        return intr_from_value(c, v);
    if (e->index >= 0 && strcmp(n->name, "pid") == 0)
        return lv_int(se->pid);
    return lv_none();
}

/* e%name read from an entity (§5: statistic, property, control of this
 * cycle, else absent). */
static lval entity_comp(evalctx *c, const fnode *n, rt_entity *e)
{
    fnode *m = (fnode *)n;
    if (m->cache_tab != e->fields) {
        m->cache_tab = e->fields;
        m->cache_id = e->fields ? fieldtab_find(e->fields, n->name) : -1;
        if (m->cache_id >= 0 && e->index >= 0)
            eval_pf_mark(c, policy_pf_bit(m->cache_id), 0, 0);
    }
    if (m->cache_id >= 0 && e->cur) {
        const sample *s = e->cur;
        if (e->uniform || (uint32_t)m->cache_id < s->n) {
            const fval *f = &s->f[m->cache_id];
            switch (f->kind) {
            case FV_INT: return lv_int(f->u.i);
            case FV_REAL: return lv_real(f->u.r);
            case FV_NONE:
            case FV_MISSING: return lv_none();
            default: return intr_field(c, e, m->cache_id);
            }
        }
        return lv_none();
    }
    if (n->flags & FN_PROP) {
        lval v = prop_value(c, e, n);
        if (v.t != LV_NONE)
            return v;
    }
    const lval *ctl = intr_get_control(e, n->lit);
    return ctl ? *ctl : lv_none();
}

/* n (a component) of the evaluated base b. */
static __attribute__((noinline)) lval comp_of(evalctx *c, const fnode *n, lval b)
{
    switch ((lv_type)b.t) {
    case LV_ENTITY: return entity_comp(c, n, b.u.e);
    case LV_IOREC:
        switch (n->aux) {
        case ATTR_NAME: return b.u.rec->name;
        case ATTR_PATH: return b.u.rec->path;
        case ATTR_GUARANTEED:
        case ATTR_MAXIMUM:
        case ATTR_CURRENT: {
            lval r = { .t = LV_IOLIM, .sub = (uint8_t)(n->aux - ATTR_MAXIMUM),
                       .u.rec = b.u.rec };
            return r;
        }
        default: break;
        }
        break;
    case LV_IOLIM:
        if (n->aux >= ATTR_LIMIT0 && n->aux <= ATTR_LIMIT_LAST) {
            int k = n->aux - ATTR_LIMIT0;
            return iorec_get(b.u.rec, b.sub, k);
        }
        break;
    case LV_MAPV: {
        const mom_value *v = value_map_get(b.u.mv, n->name);
        return v ? intr_from_value(c, v) : lv_none();
    }
    case LV_NONE: absent_fail(c, n->kids[0]);
    default: break;
    }
    ffail(c, n, "%s %s has no component '%s'", an(vtype(b)), vtype(b), n->name);
}

static lval comp(evalctx *c, const fnode *n)
{
    return comp_of(c, n, ev(c, n->kids[0]));
}

/* e%control = v, dev%current%limit = v. */
static void assign_comp(evalctx *c, const fnode *t, lval v)
{
    lval b;
    const fnode *set = t->kids[0];
    if (set->op == FX_COMP && set->aux == ATTR_CURRENT) {
        /* r%current%limit = v: the record, then its current set. */
        b = ev(c, set->kids[0]);
        if (b.t == LV_IOREC)
            b = (lval){ .t = LV_IOLIM, .sub = IOROW_CUR, .u.rec = b.u.rec };
        else
            b = comp_of(c, set, b);
    } else {
        b = ev(c, set);
    }
    if (b.t == LV_ENTITY) {
        rt_entity *e = b.u.e;
        bool host = e->index < 0;
        if (!(t->flags & (host ? FN_HOSTCTL : FN_GUESTCTL)))
            ffail(c, t, "'%s' is not a control of %s", t->name, host ? "the host" : "a guest");
        if (v.t == LV_NONE)
            return;
        intr_set_control(c, e, t->lit, v);
        return;
    }
    if (b.t == LV_IOLIM && b.sub == IOROW_CUR && t->aux >= ATTR_LIMIT0 &&
        t->aux <= ATTR_LIMIT_LAST) {
        int k = t->aux - ATTR_LIMIT0;
        if (v.t != LV_NONE && v.t != LV_INT) {
            lval r;
            int rc = evalf_convert(FT_INT, v, &r);
            if (rc == LVE_TYPE)
                ffail(c, t, "an I/O limit must be a number, not %s", vtype(v));
            if (rc)
                ffail(c, t, "the I/O limit %s is out of the integer range", t->name);
            v = r;
        }
        intr_io_set(c, b.u.rec, k, v);
        return;
    }
    if (b.t == LV_NONE)
        absent_fail(c, t->kids[0]);
    if (b.t == LV_IOLIM)
        ffail(c, t, "only the current limits of a device can be set");
    ffail(c, t, "cannot assign to the component '%s' of a %s", t->name, vtype(b));
}

/* ---- intrinsics ---------------------------------------------------------------------- */

static lval num_arg(evalctx *c, const fnode *call, uint32_t i, const char *name)
{
    lval v = ev(c, call->kids[i]);
    if (__builtin_expect(is_num(v), 1))
        return v;
    if (v.t == LV_NONE)
        absent_fail(c, call->kids[i]);
    ffail(c, call->kids[i], "%s() needs a number, not %s", name, vtype(v));
}

static int64_t to_int_checked(evalctx *c, const fnode *at, double r, const char *name)
{
    if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0))
        ffail(c, at, "%s(): %g is out of the integer range", name, r);
    return (int64_t)r;
}

/* The array value of an argument and its length. */
static lval array_arg(evalctx *c, const fnode *call, const char *name, uint32_t *ret_n)
{
    lval a = ev(c, call->kids[0]);
    if (a.t == LV_LIST) {
        *ret_n = a.u.l->n;
        return a;
    }
    if (a.t == LV_GUESTS) {
        *ret_n = a.u.g->n;
        return a;
    }
    if (a.t == LV_NONE)
        absent_fail(c, call->kids[0]);
    ffail(c, call->kids[0], "%s() needs an array, not %s", name, vtype(a));
}

static lval array_item(lval a, uint32_t i)
{
    if (a.t == LV_LIST)
        return a.u.l->items[i];
    lval e = { .t = LV_ENTITY, .u.e = &a.u.g->items[i] };
    return e;
}

/* The entity and field id of avg(e%f) / history(e%f); -1 when the entity
 * has no such field. */
static int stat_ref(evalctx *c, const fnode *call, rt_entity **ret_e)
{
    const fnode *a = call->kids[0];
    if (a->op != FX_COMP)
        ffail(c, a, "%s() needs a statistic of an entity", fortran_intrinsic_names[call->a]);
    lval b = ev(c, a->kids[0]);
    if (b.t != LV_ENTITY) {
        if (b.t == LV_NONE)
            absent_fail(c, a->kids[0]);
        ffail(c, a, "%s() needs a statistic of an entity, not of a %s",
              fortran_intrinsic_names[call->a], vtype(b));
    }
    rt_entity *e = b.u.e;
    fnode *m = (fnode *)a;
    if (m->cache_tab != e->fields) {
        m->cache_tab = e->fields;
        m->cache_id = e->fields ? fieldtab_find(e->fields, a->name) : -1;
        if (m->cache_id >= 0 && e->index >= 0) {
            /* history() reads the field in every older sample, avg()
             * only in the samples new since the last evaluation (the
             * history cache has the rest). */
            uint64_t bit = policy_pf_bit(m->cache_id);
            eval_pf_mark(c, bit, call->a == FI_HISTORY ? bit : 0, call->a == FI_AVG ? bit : 0);
        }
    }
    *ret_e = e;
    return m->cache_id;
}

static lval stat_avg(evalctx *c, const fnode *call)
{
    rt_entity *e;
    int fid = stat_ref(c, call, &e);
    const snap_entity *se = e->se;
    double sum = 0;
    int64_t count = 0;
    if (e->index >= 0 && fid >= 0) {
        int r = histcache_sum(&c->prog->hc, (size_t)e->index, se, fid, &sum, &count, NULL);
        if (r == -ENOMEM)
            eval_nomem(c);
        if (r == 0)
            goto done;
    }
    for (size_t k = 0; fid >= 0 && k < se->n_samples; k++) {
        const sample *s = se->samples[k];
        if (!se->uniform && (uint32_t)fid >= s->n)
            continue;
        const fval *f = &s->f[fid];
        if (f->kind == FV_INT)
            sum += (double)f->u.i;
        else if (f->kind == FV_REAL)
            sum += f->u.r;
        else if (f->kind == FV_VALUE && (f->u.v->type == MOM_VALUE_INT || f->u.v->type == MOM_VALUE_REAL))
            sum += f->u.v->type == MOM_VALUE_INT ? (double)f->u.v->u.i : f->u.v->u.r;
        else if (f->kind == FV_VALUE)
            ffail(c, call->kids[0], "avg(): %s is not a number", call->kids[0]->name);
        else
            continue;
        count++;
    }
done:
    if (!count)
        return lv_real(0.0);
    double r = sum / (double)count;
    if (!isfinite(r))
        ffail(c, call, "avg(): the result is not a finite number");
    return lv_real(r);
}

static lval stat_history(evalctx *c, const fnode *call)
{
    rt_entity *e;
    int fid = stat_ref(c, call, &e);
    const snap_entity *se = e->se;
    llist *l = arena_alloc(c->ar, sizeof(*l) + se->n_samples * sizeof(lval));
    if (!l)
        eval_nomem(c);
    l->n = 0;
    for (size_t k = 0; fid >= 0 && k < se->n_samples; k++) {
        const sample *s = se->samples[k];
        if ((uint32_t)fid >= s->n)
            continue;
        const fval *f = &s->f[fid];
        if (f->kind == FV_NONE || f->kind == FV_MISSING)
            continue;
        l->items[l->n++] = intr_from_fval(c, f);
    }
    lval r = { .t = LV_LIST, .u.l = l };
    return r;
}

static rt_entity *entity_arg(evalctx *c, const fnode *call, const char *name)
{
    lval v = ev(c, call->kids[0]);
    if (v.t == LV_ENTITY)
        return v.u.e;
    if (v.t == LV_NONE)
        absent_fail(c, call->kids[0]);
    ffail(c, call->kids[0], "%s() needs an entity, not %s", name, vtype(v));
}

static lval str_arg(evalctx *c, const fnode *call, const char *name)
{
    lval v = ev(c, call->kids[0]);
    if (v.t == LV_STR)
        return v;
    if (v.t == LV_NONE)
        absent_fail(c, call->kids[0]);
    ffail(c, call->kids[0], "%s() needs a string, not %s", name, vtype(v));
}

/* abs(), min() and max(), the intrinsics the policies call for every
 * guest, have handlers of their own (link_expr): intrinsic() is large,
 * and its entry and exit cost more than these do. */
static lval h_abs(evalctx *c, const fnode *n)
{
    lval x = num_arg(c, n, 0, fortran_intrinsic_names[FI_ABS]);
    if (x.t == LV_INT) {
        if (x.u.i == INT64_MIN)
            ffail(c, n, "integer overflow in abs()");
        return lv_int(x.u.i < 0 ? -x.u.i : x.u.i);
    }
    return lv_real(fabs(x.u.r));
}

static lval h_minmax(evalctx *c, const fnode *n)
{
    const char *name = fortran_intrinsic_names[n->a];
    lval best = num_arg(c, n, 0, name);
    bool real = best.t == LV_REAL;
    for (uint32_t i = 1; i < n->n; i++) {
        lval x = num_arg(c, n, i, name);
        real |= x.t == LV_REAL;
        int k = num_cmp(x, best);
        if (k == 2)
            ffail(c, n, "%s() of a NaN", name);
        if (n->a == FI_MIN ? k < 0 : k > 0)
            best = x;
    }
    return real && best.t == LV_INT ? lv_real((double)best.u.i) : best;
}

static lval intrinsic(evalctx *c, const fnode *n)
{
    const char *name = fortran_intrinsic_names[n->a];
    switch (n->a) {
    case FI_ABS: return h_abs(c, n);
    case FI_MIN:
    case FI_MAX: return h_minmax(c, n);
    case FI_MOD:
    case FI_MODULO: {
        lval a = num_arg(c, n, 0, name), p = num_arg(c, n, 1, name);
        if (a.t == LV_INT && p.t == LV_INT) {
            if (p.u.i == 0)
                ffail(c, n, "%s(a, 0): division by zero", name);
            if (p.u.i == -1)
                return lv_int(0);
            int64_t r = a.u.i % p.u.i;
            if (n->a == FI_MODULO && r != 0 && ((r < 0) != (p.u.i < 0)))
                r += p.u.i;
            return lv_int(r);
        }
        double x = as_real(a), y = as_real(p);
        if (y == 0.0)
            ffail(c, n, "%s(a, 0): division by zero", name);
        double r = fmod(x, y);
        if (n->a == FI_MODULO && r != 0 && ((r < 0) != (y < 0)))
            r += y;
        return lv_real(r);
    }
    case FI_INT:
    case FI_NINT:
    case FI_FLOOR:
    case FI_CEILING: {
        lval x = num_arg(c, n, 0, name);
        if (x.t == LV_INT)
            return x;
        double r = n->a == FI_INT ? trunc(x.u.r)
                   : n->a == FI_NINT ? round(x.u.r)
                   : n->a == FI_FLOOR ? floor(x.u.r)
                                      : ceil(x.u.r);
        return lv_int(to_int_checked(c, n, r, name));
    }
    case FI_REAL: {
        lval x = num_arg(c, n, 0, name);
        return x.t == LV_REAL ? x : lv_real((double)x.u.i);
    }
    case FI_SQRT:
    case FI_EXP:
    case FI_LOG:
    case FI_LOG10: {
        double x = as_real(num_arg(c, n, 0, name)), r;
        if (n->a == FI_SQRT) {
            if (x < 0)
                ffail(c, n, "sqrt() of a negative number (%g)", x);
            r = sqrt(x);
        } else if (n->a == FI_EXP) {
            r = exp(x);
        } else {
            if (x <= 0)
                ffail(c, n, "%s() of a number that is not positive (%g)", name, x);
            r = n->a == FI_LOG ? log(x) : log10(x);
        }
        if (!isfinite(r))
            ffail(c, n, "%s(): the result is not a finite number", name);
        return lv_real(r);
    }
    case FI_MERGE: {
        lval t = ev(c, n->kids[0]), f = ev(c, n->kids[1]);
        return cond(c, n->kids[2]) ? t : f;
    }
    case FI_PRESENT: {
        bool all = true;
        for (uint32_t i = 0; i < n->n; i++)
            if (ev(c, n->kids[i]).t == LV_NONE)
                all = false;
        return lv_bool(all);
    }
    case FI_SIZE: {
        uint32_t len;
        array_arg(c, n, name, &len);
        return lv_int(len);
    }
    case FI_SUM: {
        uint32_t len;
        lval a = array_arg(c, n, name, &len);
        int64_t is = 0;
        double rs = 0;
        bool real = false;
        for (uint32_t i = 0; i < len; i++) {
            lval x = array_item(a, i);
            if (x.t == LV_INT && !real) {
                if (__builtin_add_overflow(is, x.u.i, &is))
                    ffail(c, n, "integer overflow in sum()");
            } else if (is_num(x)) {
                if (!real) {
                    rs = (double)is;
                    real = true;
                }
                rs += as_real(x);
            } else {
                ffail(c, n, "sum() of an array that holds %s values", vtype(x));
            }
        }
        if (real && !isfinite(rs))
            ffail(c, n, "sum(): the result is not a finite number");
        return real ? lv_real(rs) : lv_int(is);
    }
    case FI_MINVAL:
    case FI_MAXVAL: {
        uint32_t len;
        lval a = array_arg(c, n, name, &len);
        if (!len)
            ffail(c, n, "%s() of an empty array", name);
        lval best = array_item(a, 0);
        for (uint32_t i = 0; i < len; i++) {
            lval x = array_item(a, i);
            if (!is_num(x))
                ffail(c, n, "%s() of an array that holds %s values", name, vtype(x));
            int k = num_cmp(x, best);
            if (n->a == FI_MINVAL ? k < 0 : k == 1)
                best = x;
        }
        return best;
    }
    case FI_AVG: return stat_avg(c, n);
    case FI_HISTORY: return stat_history(c, n);
    case FI_GETVAR: {
        rt_entity *e = entity_arg(c, n, name);
        lval key = ev(c, n->kids[1]);
        return intr_getvar(c, e, key);
    }
    case FI_SETVAR: {
        rt_entity *e = entity_arg(c, n, name);
        lval key = ev(c, n->kids[1]);
        lval v = ev(c, n->kids[2]);
        intr_setvar(c, e, key, v);
        return lv_none();
    }
    case FI_LEN: return lv_int(str_arg(c, n, name).len);
    case FI_TRIM: {
        lval s = str_arg(c, n, name);
        while (s.len && s.u.s[s.len - 1] == ' ')
            s.len--;
        s.flags = 0;
        return s;
    }
    default: ffail(c, n, "internal error: unknown intrinsic");
    }
}

/* ---- calls ---------------------------------------------------------------------------- */

static lval *frame_push(evalctx *c, uint32_t n)
{
    program *p = c->prog;
    lval *f;
    if (c->fsp + n <= p->fstack_cap) {
        f = p->fstack + c->fsp;
        c->fsp += n;
    } else {
        f = arena_alloc(c->ar, (n ? n : 1) * sizeof(lval));
        if (!f)
            eval_nomem(c);
    }
    for (uint32_t i = 0; i < n; i++)
        f[i] = lv_none();
    return f;
}

static inline void frame_pop(evalctx *c, lval *f, uint32_t n)
{
    program *p = c->prog;
    if (f >= p->fstack && f < p->fstack + p->fstack_cap)
        c->fsp -= n;
}

/* Run procedure pr with evaluated arguments; (file, line, col) is the
 * call, for errors. */
static lval call_proc(evalctx *c, const fproc *pr, const lval *args, uint32_t nargs,
                      uint16_t file, uint32_t line, uint32_t col)
{
    if (nargs != pr->nargs)
        eval_fail_at(c, file, line, col, "'%s' takes %u argument%s, %u given", pr->name, pr->nargs,
                     pr->nargs == 1 ? "" : "s", nargs);
    if (++c->calls > c->depth_limit)
        eval_fail_at(c, file, line, col, "call depth limit (%d) exceeded calling \"%s\"",
                     c->depth_limit, pr->name);
    lval *fr = frame_push(c, pr->nslots);
    for (uint32_t i = 0; i < nargs; i++) {
        lval v = args[i];
        uint8_t t = pr->arg_types[i];
        if (t != FT_ANY && v.t != LV_NONE && !(t == FT_REAL && v.t == LV_REAL) &&
            !(t == FT_INT && v.t == LV_INT)) {
            lval r;
            int rc = evalf_convert(t, v, &r);
            if (rc)
                eval_fail_at(c, file, line, col, "argument %u of '%s': cannot convert %s %s "
                                                 "value to %s",
                             i + 1, pr->name, an(vtype(v)), vtype(v), fortran_type_name(t));
            v = r;
        }
        fr[i] = v;
    }
    if (pr->function)
        fr[pr->result_slot].sub = LV_UNSET_SUB;
    lval *saved = c->frame;
    c->frame = fr;
    if (pr->inits)
        exec_block(c, pr->inits);
    exec_block(c, pr->body);
    lval r = lv_none();
    if (pr->function) {
        r = fr[pr->result_slot];
        if (r.t == LV_NONE && r.sub == LV_UNSET_SUB)
            eval_fail_at(c, file, line, col, "the function '%s' returned without assigning its "
                                             "result",
                         pr->name);
        if (pr->rtype != FT_ANY && r.t != LV_NONE && !(pr->rtype == FT_LOG && r.t == LV_BOOL) &&
            !(pr->rtype == FT_REAL && r.t == LV_REAL) && !(pr->rtype == FT_INT && r.t == LV_INT)) {
            lval cv;
            if (evalf_convert(pr->rtype, r, &cv))
                eval_fail_at(c, file, line, col, "the function '%s' returns %s, not %s %s value",
                             pr->name, fortran_type_name(pr->rtype), an(vtype(r)), vtype(r));
            r = cv;
        }
    }
    c->frame = saved;
    frame_pop(c, fr, pr->nslots);
    c->calls--;
    return r;
}

/* Arguments of a call node, evaluated left to right. */
static lval *eval_args(evalctx *c, const fnode *n, lval *small, size_t nsmall)
{
    lval *a = n->n <= nsmall ? small : arena_alloc(c->ar, n->n * sizeof(lval));
    if (!a)
        eval_nomem(c);
    for (uint32_t i = 0; i < n->n; i++)
        a[i] = ev(c, n->kids[i]);
    return a;
}

static lval call_node(evalctx *c, const fnode *n)
{
    lval small[8];
    if (n->op == FX_INTR)
        return intrinsic(c, n);
    lval *args = eval_args(c, n, small, 8);
    if (n->op == FX_CALL)
        return call_proc(c, n->ref, args, n->n, n->file, n->line, n->col);
    const node *def = c->funcs[n->a];
    if (!def)
        ffail(c, n, "undefined function %s", n->name);
    return eval_call_def(c, def, args, n->n, n);
}

lval evalf_call(evalctx *c, const fproc *pr, const lval *args, uint32_t nargs, const node *n)
{
    return call_proc(c, pr, args, nargs, n->file, n->line, n->col);
}

/* ---- expressions --------------------------------------------------------------------- */

/*
 * Every expression node carries its handler (fnode.ev), chosen once by
 * evalf_link() after resolution from the node's operator and the shape of
 * its operands.  ev() answers the frequent leaves inline and otherwise
 * makes one indirect call; the handlers of the frequent operators take the
 * fast number paths and leave everything unusual to the general code
 * below.  The step budget is charged per statement for the expression
 * nodes it always evaluates (fnode.cost), and by .and. / .or. for their
 * right operand when it runs, not node by node.
 */

static _Noreturn __attribute__((noinline)) void step_fail(evalctx *c, const fnode *n)
{
    ffail(c, n, "policy step limit exceeded");
}

/* An operand. */
#define opnd ev

/* Binary arithmetic with a known operator: the common number cases here,
 * the rest in arith_slow(). */
static inline __attribute__((always_inline)) lval arith_op(evalctx *c, const fnode *n, int op)
{
    lval x = opnd(c, n->kids[0]);
    lval y = opnd(c, n->kids[1]);
    if (x.t == LV_REAL && y.t == LV_REAL) {
    reals:;
        double r;
        switch (op) {
        case FX_ADD: r = x.u.r + y.u.r; break;
        case FX_SUB: r = x.u.r - y.u.r; break;
        case FX_MUL: r = x.u.r * y.u.r; break;
        default:
            if (y.u.r == 0.0)
                return arith_slow(c, n, x, y);
            r = x.u.r / y.u.r;
            break;
        }
        if (__builtin_expect(isfinite(r), 1))
            return lv_real(r);
        return arith_slow(c, n, x, y);
    }
    if (x.t == LV_INT && y.t == LV_INT) {
        int64_t r;
        if (op == FX_ADD && !__builtin_add_overflow(x.u.i, y.u.i, &r))
            return lv_int(r);
        if (op == FX_SUB && !__builtin_sub_overflow(x.u.i, y.u.i, &r))
            return lv_int(r);
        if (op == FX_MUL && !__builtin_mul_overflow(x.u.i, y.u.i, &r))
            return lv_int(r);
        return arith_slow(c, n, x, y);
    }
    /* An integer with a real: the integer converts exactly (as arith()
     * does), and the two reals take the path above. */
    if ((x.t == LV_REAL && small_int(y)) || (small_int(x) && y.t == LV_REAL)) {
        x = lv_real(as_real(x));
        y = lv_real(as_real(y));
        goto reals;
    }
    return arith(c, n, x, y);
}

static lval h_add(evalctx *c, const fnode *n) { return arith_op(c, n, FX_ADD); }
static lval h_sub(evalctx *c, const fnode *n) { return arith_op(c, n, FX_SUB); }
static lval h_mul(evalctx *c, const fnode *n) { return arith_op(c, n, FX_MUL); }
static lval h_div(evalctx *c, const fnode *n) { return arith_op(c, n, FX_DIV); }

/* Comparisons with a known operator: the common number cases here, the
 * rest in compare(). */
static inline __attribute__((always_inline)) lval compare_op(evalctx *c, const fnode *n, int op)
{
    lval x = opnd(c, n->kids[0]);
    lval y = opnd(c, n->kids[1]);
    if (x.t != y.t && (x.t == LV_REAL || small_int(x)) && (y.t == LV_REAL || small_int(y))) {
        x = lv_real(as_real(x));
        y = lv_real(as_real(y));
    }
    if (x.t == LV_INT && y.t == LV_INT) {
        int64_t a = x.u.i, b = y.u.i;
        switch (op) {
        case FX_EQ: return lv_bool(a == b);
        case FX_NE: return lv_bool(a != b);
        case FX_LT: return lv_bool(a < b);
        case FX_LE: return lv_bool(a <= b);
        case FX_GT: return lv_bool(a > b);
        default: return lv_bool(a >= b);
        }
    }
    if (x.t == LV_REAL && y.t == LV_REAL && !isnan(x.u.r) && !isnan(y.u.r)) {
        double a = x.u.r, b = y.u.r;
        switch (op) {
        case FX_EQ: return lv_bool(a == b);
        case FX_NE: return lv_bool(a != b);
        case FX_LT: return lv_bool(a < b);
        case FX_LE: return lv_bool(a <= b);
        case FX_GT: return lv_bool(a > b);
        default: return lv_bool(a >= b);
        }
    }
    return compare(c, n, x, y);
}

static lval h_eq(evalctx *c, const fnode *n) { return compare_op(c, n, FX_EQ); }
static lval h_ne(evalctx *c, const fnode *n) { return compare_op(c, n, FX_NE); }
static lval h_lt(evalctx *c, const fnode *n) { return compare_op(c, n, FX_LT); }
static lval h_le(evalctx *c, const fnode *n) { return compare_op(c, n, FX_LE); }
static lval h_gt(evalctx *c, const fnode *n) { return compare_op(c, n, FX_GT); }
static lval h_ge(evalctx *c, const fnode *n) { return compare_op(c, n, FX_GE); }

static lval h_not(evalctx *c, const fnode *n) { return lv_bool(!cond(c, n->kids[0])); }
/* The steps of the right operand of .and. / .or., when it runs. */
static inline void charge_right(evalctx *c, const fnode *n)
{
    c->steps_left -= n->cost;
    if (__builtin_expect(c->steps_left < 0, 0))
        step_fail(c, n->kids[1]);
}

static lval h_and(evalctx *c, const fnode *n)
{
    if (!cond(c, n->kids[0]))
        return lv_bool(false);
    charge_right(c, n);
    return lv_bool(cond(c, n->kids[1]));
}
static lval h_or(evalctx *c, const fnode *n)
{
    if (cond(c, n->kids[0]))
        return lv_bool(true);
    charge_right(c, n);
    return lv_bool(cond(c, n->kids[1]));
}

static lval h_const(evalctx *c, const fnode *n)
{
    (void)c;
    return n->lit;
}

static lval h_local(evalctx *c, const fnode *n) { return c->frame[n->a]; }

static lval h_global(evalctx *c, const fnode *n) { return *global_ref(c, n->a); }

/* A component of a local that ev() did not answer inline. */
static __attribute__((noinline)) lval comp_local_slow(evalctx *c, const fnode *n)
{
    return comp(c, n);
}

static lval h_comp(evalctx *c, const fnode *n) { return comp(c, n); }

/* r%set%limit: one limit of a device record (r%guaranteed%read_iops_sec
 * and the like) without building the limit-set value in between. */
static lval h_io_limit(evalctx *c, const fnode *n)
{
    const fnode *set = n->kids[0];
    lval b = ev(c, set->kids[0]);
    if (__builtin_expect(b.t == LV_IOREC, 1)) {
        int sub = set->aux - ATTR_MAXIMUM, k = n->aux - ATTR_LIMIT0;
        return iorec_get(b.u.rec, sub, k);
    }
    return comp_of(c, n, comp_of(c, set, b));
}

/* present(a, b, ...): every argument is evaluated, as the general rule
 * for intrinsics says. */
static lval h_present(evalctx *c, const fnode *n)
{
    bool all = true;
    for (uint32_t i = 0; i < n->n; i++)
        all &= opnd(c, n->kids[i]).t != LV_NONE;
    return lv_bool(all);
}

/* present(b%x, b%y, ...) where every argument is a component of the same
 * local b or of the host (see present_of_comps()): the entity and its
 * latest sample are loaded once, and a statistic whose inline cache
 * holds answers from its kind alone: a number or a value (a string, an
 * I/O list, ...: never absent, see fv_kind) is present, FV_NONE and
 * FV_MISSING are absent (what entity_comp() returns for them); reading a
 * statistic has no effect but the memory it takes, so it is not read.
 * The first argument with a cold cache and all after it are evaluated as
 * h_present() does; those before it have no effect, so the order of
 * effects and errors is the general one. */
static lval h_present_comps(evalctx *c, const fnode *n)
{
    const fnode *b = n->kids[0]->kids[0];
    lval e = b->op == FX_HOST ? (lval){ .t = LV_ENTITY, .u.e = &c->host } : c->frame[b->a];
    if (__builtin_expect(e.t != LV_ENTITY || !e.u.e->cur, 0))
        return h_present(c, n);
    const rt_entity *re = e.u.e;
    const sample *smp = re->cur;
    bool all = true;
    uint32_t i;
    for (i = 0; i < n->n; i++) {
        const fnode *k = n->kids[i];
        if (k->cache_tab != re->fields || k->cache_id < 0 ||
            (!re->uniform && (uint32_t)k->cache_id >= smp->n))
            break;
        uint8_t kind = smp->f[k->cache_id].kind;
        if (kind == FV_NONE || kind == FV_MISSING)
            all = false;
    }
    for (; i < n->n; i++)
        all &= opnd(c, n->kids[i]).t != LV_NONE;
    return lv_bool(all);
}

/* Whether present() node n takes h_present_comps(): every argument is a
 * component of one and the same local, or of the host. */
static bool present_of_comps(const fnode *n)
{
    if (!n->n)
        return false;
    const fnode *b0 = n->kids[0]->op == FX_COMP ? n->kids[0]->kids[0] : NULL;
    if (!b0 || (b0->op != FX_LOCAL && b0->op != FX_HOST))
        return false;
    for (uint32_t i = 0; i < n->n; i++) {
        const fnode *k = n->kids[i];
        if (k->op != FX_COMP || k->kids[0]->op != b0->op ||
            (b0->op == FX_LOCAL && k->kids[0]->a != b0->a))
            return false;
    }
    return true;
}

static lval h_avg(evalctx *c, const fnode *n) { return stat_avg(c, n); }

static lval h_intr(evalctx *c, const fnode *n) { return intrinsic(c, n); }

static lval h_call(evalctx *c, const fnode *n) { return call_node(c, n); }

/* Everything without a handler of its own. */
static lval h_general(evalctx *c, const fnode *n)
{
    switch ((fop)n->op) {
    case FX_CONST: return n->lit;
    case FX_LOCAL: return c->frame[n->a];
    case FX_GLOBAL: return *global_ref(c, n->a);
    case FX_STATIC: return c->prog->statics[n->a];
    case FX_HOST: {
        lval v = { .t = LV_ENTITY, .u.e = &c->host };
        return v;
    }
    case FX_GUESTS: {
        lval v = { .t = LV_GUESTS, .u.g = &c->gcoll };
        return v;
    }
    case FX_ADD:
    case FX_SUB:
    case FX_MUL:
    case FX_DIV:
    case FX_POW: {
        lval x = ev(c, n->kids[0]);
        lval y = ev(c, n->kids[1]);
        return arith(c, n, x, y);
    }
    case FX_EQ: return h_eq(c, n);
    case FX_NE: return h_ne(c, n);
    case FX_LT: return h_lt(c, n);
    case FX_LE: return h_le(c, n);
    case FX_GT: return h_gt(c, n);
    case FX_GE: return h_ge(c, n);
    case FX_NOT: return h_not(c, n);
    case FX_AND: return h_and(c, n);
    case FX_OR: return h_or(c, n);
    case FX_EQV:
    case FX_NEQV: {
        bool a = cond(c, n->kids[0]);
        bool b = cond(c, n->kids[1]);
        return lv_bool(n->op == FX_EQV ? a == b : a != b);
    }
    case FX_COMP: return comp(c, n);
    case FX_NEG: {
        lval x = ev(c, n->kids[0]);
        if (x.t == LV_INT) {
            if (x.u.i == INT64_MIN)
                ffail(c, n, "integer overflow");
            return lv_int(-x.u.i);
        }
        if (x.t == LV_REAL)
            return lv_real(-x.u.r);
        if (x.t == LV_NONE)
            absent_fail(c, n->kids[0]);
        ffail(c, n, "unary '-' needs a number, not %s", vtype(x));
    }
    case FX_CAT: {
        lval x = ev(c, n->kids[0]);
        lval y = ev(c, n->kids[1]);
        if (x.t != LV_STR || y.t != LV_STR)
            operand_fail(c, n, x, y, "strings");
        lval r;
        int err = lval_arith(c->ar, LV_ADD, x, y, &r);
        if (err == LVE_NOMEM)
            eval_nomem(c);
        if (err)
            ffail(c, n, "string longer than %u bytes", LV_MAX_SEQ);
        return r;
    }
    case FX_INDEX: {
        lval a = ev(c, n->kids[0]);
        lval i = ev(c, n->kids[1]);
        if (i.t != LV_INT) {
            if (i.t == LV_NONE)
                absent_fail(c, n->kids[1]);
            ffail(c, n->kids[1], "an array index must be an integer, not %s", vtype(i));
        }
        uint32_t len;
        if (a.t == LV_LIST)
            len = a.u.l->n;
        else if (a.t == LV_GUESTS)
            len = a.u.g->n;
        else if (a.t == LV_NONE)
            absent_fail(c, n->kids[0]);
        else
            ffail(c, n, "%s %s cannot be indexed", an(vtype(a)), vtype(a));
        if (i.u.i < 1 || i.u.i > (int64_t)len)
            ffail(c, n->kids[1], "index %" PRId64 " is out of bounds (1 to %u)", i.u.i, len);
        return array_item(a, (uint32_t)(i.u.i - 1));
    }
    case FX_CALL:
    case FX_CCALL:
    case FX_INTR: return call_node(c, n);
    default: ffail(c, n, "internal error: unexpected node %d", n->op);
    }
}

/* The handler of expression node n. */
static fev_fn handler(const fnode *n)
{
    switch ((fop)n->op) {
    case FX_CONST: return h_const;
    case FX_LOCAL: return h_local;
    case FX_GLOBAL: return h_global;
    case FX_ADD: return h_add;
    case FX_SUB: return h_sub;
    case FX_MUL: return h_mul;
    case FX_DIV: return h_div;
    case FX_EQ: return h_eq;
    case FX_NE: return h_ne;
    case FX_LT: return h_lt;
    case FX_LE: return h_le;
    case FX_GT: return h_gt;
    case FX_GE: return h_ge;
    case FX_NOT: return h_not;
    case FX_AND: return h_and;
    case FX_OR: return h_or;
    case FX_COMP:
        if (n->aux >= ATTR_LIMIT0 && n->aux <= ATTR_LIMIT_LAST && n->kids[0]->op == FX_COMP &&
            n->kids[0]->aux >= ATTR_MAXIMUM && n->kids[0]->aux <= ATTR_GUARANTEED)
            return h_io_limit;
        return h_comp;
    case FX_INTR:
        if (n->a == FI_PRESENT)
            return present_of_comps(n) ? h_present_comps : h_present;
        if (n->a == FI_AVG)
            return h_avg;
        if (n->a == FI_ABS)
            return h_abs;
        if (n->a == FI_MIN || n->a == FI_MAX)
            return h_minmax;
        return h_intr;
    case FX_CALL:
    case FX_CCALL: return h_call;
    default: return h_general;
    }
}

/* The number of expression nodes of n that every evaluation of n
 * evaluates, for the step budget: all but the right operands of .and. and
 * .or., which those charge when they evaluate them (fnode.cost). */
static uint32_t expr_cost(const fnode *n)
{
    if (!n)
        return 0;
    uint32_t k = 1;
    uint32_t eager = n->op == FX_AND || n->op == FX_OR ? 1 : n->n;
    for (uint32_t i = 0; i < eager; i++)
        k += expr_cost(n->kids[i]);
    return k;
}

/* Link the expression n and its operands. */
static void link_expr(fnode *n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->n; i++)
        link_expr(n->kids[i]);
    n->ev = handler(n);
    if (n->op == FX_AND || n->op == FX_OR)
        n->cost = expr_cost(n->kids[1]);
}

/* Link a chain of statements: handlers for their expressions, step costs
 * for themselves. */
static void link_block(fnode *s)
{
    for (; s; s = s->next) {
        uint32_t cost = 1;
        if (s->op != FS_CASE) {
            for (uint32_t i = 0; i < s->n; i++) {
                link_expr(s->kids[i]);
                cost += expr_cost(s->kids[i]);
            }
        }
        s->cost = cost;
        s->ev = h_general;
        if (s->op == FS_IF && s->kids[0]->op == FX_NOT)
            s->flags |= FN_NOTCOND;
        if (s->op == FS_ASSIGN && s->kids[0]->op == FX_COMP) {
            const fnode *t = s->kids[0], *set = t->kids[0];
            if (t->aux >= ATTR_LIMIT0 && t->aux <= ATTR_LIMIT_LAST && set->op == FX_COMP &&
                set->aux == ATTR_CURRENT && set->kids[0]->op == FX_LOCAL)
                s->flags |= FN_IOSET;
        }
        link_block(s->body);
        link_block(s->alt);
    }
}

void evalf_link(program *p)
{
    for (size_t i = 0; i < p->n_files; i++) {
        ffile *ff = p->files[i].fort;
        if (ff)
            link_block(ff->body);
    }
    for (size_t i = 0; i < p->n_symarr; i++) {
        fproc *pr = p->fprocs ? p->fprocs[i] : NULL;
        if (pr) {
            link_block(pr->inits);
            link_block(pr->body);
        }
    }
}

/* ---- statements ---------------------------------------------------------------------- */

static int64_t int_value(evalctx *c, const fnode *n, const char *what)
{
    lval v = ev(c, n);
    if (v.t == LV_INT)
        return v.u.i;
    if (v.t == LV_NONE)
        absent_fail(c, n);
    ffail(c, n, "%s must be an integer, not %s", what, vtype(v));
}

/* Append a value as print shows it. */
static void print_value(sbuf *b, lval v)
{
    char buf[40];
    switch ((lv_type)v.t) {
    case LV_NONE: sbuf_puts(b, "absent"); break;
    case LV_BOOL: sbuf_puts(b, v.u.b ? "T" : "F"); break;
    case LV_INT: sbuf_printf(b, "%" PRId64, v.u.i); break;
    case LV_REAL:
        value_format_real(v.u.r, buf, sizeof(buf), true);
        sbuf_puts(b, buf);
        break;
    case LV_STR: sbuf_put(b, v.u.s, v.len); break;
    case LV_ENTITY: sbuf_puts(b, v.u.e->index < 0 ? "host" : v.u.e->se->name ? v.u.e->se->name : "?"); break;
    case LV_LIST:
    case LV_GUESTS: {
        uint32_t n = v.t == LV_LIST ? v.u.l->n : v.u.g->n;
        sbuf_puts(b, "[");
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                sbuf_puts(b, ", ");
            print_value(b, array_item(v, i));
        }
        sbuf_puts(b, "]");
        break;
    }
    default: lval_str(b, v); break;
    }
}

static void do_print(evalctx *c, const fnode *s)
{
    bool on = c->opts && mlog_enabled(c->opts->log, MOM_LOG_DEBUG);
    /* Every item first: an error in one must not leak the text. */
    lval small[8];
    lval *vals = eval_args(c, s, small, 8);
    if (!on)
        return;
    sbuf b = { 0 };
    for (uint32_t i = 0; i < s->n; i++) {
        if (i)
            sbuf_puts(&b, " ");
        print_value(&b, vals[i]);
    }
    if (!b.failed) {
        const pfile *f = s->file < c->prog->n_files ? &c->prog->files[s->file] : NULL;
        mlog_msg(c->opts->log, MOM_LOG_DEBUG, "mom.Policy", "%s:%u: %s", f ? f->label : "policy",
                 s->line, b.buf ? b.buf : "");
    }
    mom_free(b.buf);
}

static _Noreturn void do_stop(evalctx *c, const fnode *s)
{
    const char *what = (s->flags & FN_ERROR_STOP) ? "error stop" : "stop";
    if (!s->n)
        ffail(c, s, "%s", what);
    lval v = ev(c, s->kids[0]);
    sbuf b = { 0 };
    print_value(&b, v);
    char text[256];
    snprintf(text, sizeof(text), "%s", b.buf && !b.failed ? b.buf : "");
    mom_free(b.buf);
    ffail(c, s, "%s: %s", what, text);
}

/* Handle a loop body's flow: 1 to leave the loop with *ret, 0 to go on. */
static inline int loop_flow(evalctx *c, const fnode *loop, int fl, int *ret)
{
    if (fl == FL_NONE)
        return 0;
    if (fl == FL_CYCLE && c->flow == loop)
        return 0;
    if (fl == FL_EXIT && c->flow == loop) {
        *ret = FL_NONE;
        return 1;
    }
    *ret = fl;
    return 1;
}

static int do_counted(evalctx *c, const fnode *s)
{
    int64_t a = int_value(c, s->kids[1], "the first value of a do loop");
    int64_t b = int_value(c, s->kids[2], "the last value of a do loop");
    int64_t st = s->kids[3] ? int_value(c, s->kids[3], "the step of a do loop") : 1;
    if (st == 0)
        ffail(c, s->kids[3], "the step of a do loop is 0");
    __int128 trips = ((__int128)b - a + st) / st;
    if (trips < 0)
        trips = 0;
    const fnode *var = s->kids[0];
    __int128 k;
    for (k = 0; k < trips; k++) {
        if (__builtin_expect(--c->steps_left < 0, 0))
            step_fail(c, s);
        var_store(c, var, lv_int((int64_t)(a + k * st)));
        int fl = exec_block(c, s->body), ret;
        if (loop_flow(c, s, fl, &ret))
            return ret;
    }
    __int128 last = (__int128)a + trips * st;
    if (last > INT64_MAX || last < INT64_MIN)
        ffail(c, s, "integer overflow in the variable of the do loop");
    var_store(c, var, lv_int((int64_t)last));
    return FL_NONE;
}

static int do_in(evalctx *c, const fnode *s)
{
    lval a = ev(c, s->kids[0]);
    uint32_t len;
    if (a.t == LV_LIST)
        len = a.u.l->n;
    else if (a.t == LV_GUESTS)
        len = a.u.g->n;
    else if (a.t == LV_NONE)
        absent_fail(c, s->kids[0]);
    else
        ffail(c, s->kids[0], "'do ... in' needs an array, not %s", vtype(a));
    pf_loop *pf = a.t == LV_GUESTS ? eval_pf_loop(c->prog, s) : NULL;
    bool fetch = len >= PF_MIN_GUESTS;
    for (uint32_t i = 0; i < len; i++) {
        if (__builtin_expect(--c->steps_left < 0, 0))
            step_fail(c, s);
        gframe frame;
        bool guest = a.t == LV_GUESTS;
        if (guest && fetch)
            policy_prefetch(a.u.g, i, pf, c->prog);
        lval item = array_item(a, i);
        c->frame[s->a] = item;
        if (guest) {
            frame.g = item.u.e;
            frame.pf = pf;
            frame.up = c->gtop;
            c->gtop = &frame;
        }
        int fl = exec_block(c, s->body), ret;
        if (guest)
            c->gtop = frame.up;
        if (loop_flow(c, s, fl, &ret))
            return ret;
    }
    return FL_NONE;
}

/* Whether case item `it` (folded) matches the selector v. */
static bool case_match(const fnode *it, lval v)
{
    if (it->op != FX_RANGE) {
        lval k = it->lit;
        if (k.t == LV_INT)
            return v.u.i == k.u.i;
        if (k.t == LV_STR)
            return str_cmp(v, k) == 0;
        return v.u.b == k.u.b;
    }
    const fnode *lo = it->kids[0], *hi = it->kids[1];
    if (v.t == LV_INT)
        return (!lo || v.u.i >= lo->lit.u.i) && (!hi || v.u.i <= hi->lit.u.i);
    return (!lo || str_cmp(v, lo->lit) >= 0) && (!hi || str_cmp(v, hi->lit) <= 0);
}

static int lit_type(const fnode *it)
{
    const fnode *k = it->op == FX_RANGE ? (it->kids[0] ? it->kids[0] : it->kids[1]) : it;
    return k->lit.t;
}

static int do_select(evalctx *c, const fnode *s)
{
    lval v = ev(c, s->kids[0]);
    if (v.t == LV_NONE)
        absent_fail(c, s->kids[0]);
    if (v.t != LV_INT && v.t != LV_STR && v.t != LV_BOOL)
        ffail(c, s->kids[0], "the selector of select case must be an integer, a string or a "
                             "logical, not %s",
              vtype(v));
    const fnode *def = NULL;
    for (const fnode *cs = s->body; cs; cs = cs->next) {
        if (cs->flags & FN_DEFAULT)
            def = cs;
        for (uint32_t i = 0; i < cs->n; i++) {
            if (lit_type(cs->kids[i]) != v.t)
                ffail(c, s->kids[0], "%s %s selector for %s case values", an(vtype(v)), vtype(v),
                      vtype((lval){ .t = (uint8_t)lit_type(cs->kids[i]) }));
            if (case_match(cs->kids[i], v))
                return exec_block(c, cs->body);
        }
    }
    return def ? exec_block(c, def->body) : FL_NONE;
}

static int exec_block(evalctx *c, const fnode *s)
{
    for (; s; s = s->next) {
        c->steps_left -= s->cost;
        if (__builtin_expect(c->steps_left < 0, 0))
            step_fail(c, s);
        switch ((fop)s->op) {
        case FS_ASSIGN: {
            lval v = ev(c, s->kids[1]);
            const fnode *t = s->kids[0];
            if (t->op == FX_COMP) {
                /* A device's current limit set to an integer or to
                 * nothing: what assign_comp() does in that case. */
                lval b;
                if ((s->flags & FN_IOSET) && (v.t == LV_INT || v.t == LV_NONE) &&
                    (b = c->frame[t->kids[0]->kids[0]->a]).t == LV_IOREC) {
                    intr_io_set(c, b.u.rec, t->aux - ATTR_LIMIT0, v);
                    break;
                }
                assign_comp(c, t, v);
                break;
            }
            if (s->aux != FT_ANY && v.t != LV_NONE) {
                if (!((s->aux == FT_REAL && v.t == LV_REAL) || (s->aux == FT_INT && v.t == LV_INT)))
                    v = convert_or_fail(c, s->kids[1], s->aux, v, t->name ? t->name : "assignment");
            } else if (v.t == LV_NONE) {
                v = lv_none();
            }
            var_store(c, t, v);
            break;
        }
        case FS_IF: {
            const fnode *b;
            if (s->flags & FN_NOTCOND)
                b = cond(c, s->kids[0]->kids[0]) ? s->alt : s->body;
            else
                b = cond(c, s->kids[0]) ? s->body : s->alt;
            if (!b)
                break;
            int fl = exec_block(c, b);
            if (fl)
                return fl;
            break;
        }
        case FS_DO: {
            int fl = do_counted(c, s);
            if (fl)
                return fl;
            break;
        }
        case FS_DOWHILE:
            while (cond(c, s->kids[0])) {
                /* Each test of the condition after the first. */
                c->steps_left -= s->cost;
                if (__builtin_expect(c->steps_left < 0, 0))
                    step_fail(c, s);
                int fl = exec_block(c, s->body), ret;
                if (loop_flow(c, s, fl, &ret)) {
                    if (ret)
                        return ret;
                    break;
                }
            }
            break;
        case FS_DOIN: {
            int fl = do_in(c, s);
            if (fl)
                return fl;
            break;
        }
        case FS_EXIT:
            c->flow = s->ref;
            return FL_EXIT;
        case FS_CYCLE:
            c->flow = s->ref;
            return FL_CYCLE;
        case FS_SELECT: {
            int fl = do_select(c, s);
            if (fl)
                return fl;
            break;
        }
        case FS_CALL: call_node(c, s->kids[0]); break;
        case FS_RETURN: return FL_RETURN;
        case FS_PRINT: do_print(c, s); break;
        case FS_STOP: do_stop(c, s);
        default: ffail(c, s, "internal error: unexpected statement %d", s->op);
        }
    }
    return FL_NONE;
}

/* ---- running -------------------------------------------------------------------------- */

void evalf_bind_globals(evalctx *c)
{
    program *p = c->prog;
    for (size_t i = 0; i < p->n_fglobals; i++) {
        const fdecl *d = p->fglobals[i];
        slot *s = &c->slots[d->slot];
        s->v = d->value;
        s->level = 0;
    }
    for (size_t i = 0; i < p->n_saves; i++) {
        const fsave *sv = &p->saves[i];
        if (sv->global)
            c->slots[sv->slot].v = sv->v;
        else
            p->statics[sv->slot] = sv->v;
    }
    c->fsp = 0;
}

void evalf_run_file(evalctx *c, const pfile *f)
{
    const ffile *ff = f->fort;
    lval *fr = frame_push(c, ff->nslots);
    c->frame = fr;
    exec_block(c, ff->body);
    frame_pop(c, fr, ff->nslots);
    c->frame = NULL;
}

/* Keep v as the lasting value of sv (a string is copied). */
static int save_store(fsave *sv, lval v)
{
    if (v.t == LV_STR) {
        if (sv->str && sv->v.t == LV_STR && sv->v.u.s == sv->str && sv->v.len == v.len &&
            memcmp(sv->str, v.u.s, v.len) == 0)
            return 0;
        char *s = mom_strndup(v.u.s, v.len);
        if (!s)
            return -ENOMEM;
        mom_free(sv->str);
        sv->str = s;
        sv->v = lv_str(s, v.len);
        sv->v.flags = LV_F_CSTR;
        return 0;
    }
    sv->v = v.t == LV_NONE ? lv_none() : v;
    return 0;
}

int evalf_commit(evalctx *c)
{
    program *p = c->prog;
    for (size_t i = 0; i < p->n_saves; i++) {
        fsave *sv = &p->saves[i];
        lval v = sv->global ? c->slots[sv->slot].v : p->statics[sv->slot];
        if (v.t != LV_NONE && v.t != LV_INT && v.t != LV_REAL && v.t != LV_BOOL && v.t != LV_STR)
            v = lv_none();
        int r = save_store(sv, v);
        if (r < 0)
            return r;
    }
    return 0;
}

void program_take_saves(program *p, const program *old)
{
    if (!p || !old)
        return;
    for (size_t i = 0; i < p->n_saves; i++) {
        fsave *sv = &p->saves[i];
        for (size_t j = 0; j < old->n_saves; j++) {
            const fsave *o = &old->saves[j];
            if (o->global != sv->global || o->type != sv->type || strcmp(o->key, sv->key) != 0)
                continue;
            if (save_store(sv, o->v) < 0)
                sv->v = sv->init; /* out of memory: start from the initializer */
            break;
        }
    }
}

int evalf_const(program *p, const fnode *n, lval *ret, lang_error *err)
{
    evalctx c;
    memset(&c, 0, sizeof(c));
    c.prog = p;
    c.ar = &p->run;
    c.steps_left = INT64_MAX;
    c.depth_limit = 1;
    if (setjmp(c.jb)) {
        int code = c.err_code;
        if (code == MOM_E_POLICY) {
            err->line = c.err_line;
            err->col = c.err_col;
            snprintf(err->msg, sizeof(err->msg), "%s", c.err_msg);
            code = -EBADMSG;
        }
        mom_free(c.err);
        arena_reset(&p->run);
        return code;
    }
    link_expr((fnode *)n);
    lval v = ev(&c, n);
    if (v.t == LV_STR) {
        char *s = arena_strndup(&p->ar, v.u.s, v.len);
        if (!s) {
            arena_reset(&p->run);
            return -ENOMEM;
        }
        v = lv_str(s, v.len);
        v.flags = LV_F_CSTR;
    }
    arena_reset(&p->run);
    *ret = v;
    return 0;
}
