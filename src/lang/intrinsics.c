/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the policies reach through values: entity attributes (statistic
 * fields of the latest sample) and methods (Prop, Stat, StatAvg, SetVar,
 * GetVar, Control, GetControl), I/O-tune records with their limit sets and
 * setters, the global functions abs and debug, and the conversion of a
 * finished evaluation's controls and variables into lasting values.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/eval.h"

static const char *const method_names[] = {
    [ATTR_PROP] = "Prop",       [ATTR_STAT] = "Stat",     [ATTR_STATAVG] = "StatAvg",
    [ATTR_SETVAR] = "SetVar",   [ATTR_GETVAR] = "GetVar", [ATTR_CONTROL] = "Control",
    [ATTR_GETCONTROL] = "GetControl",
};

static const char *const set_names[3] = { "guaranteed", "maximum", "current" };

static void *ialloc(evalctx *c, size_t n)
{
    void *p = arena_alloc(c->ar, n);
    if (!p)
        eval_nomem(c);
    return p;
}

/* The field id of `name` in table ft, cached in node n. */
static int field_id(const node *n, const fieldtab *ft, const char *name)
{
    if (n && n->cache_tab == ft)
        return n->cache_id;
    int id = ft ? fieldtab_find(ft, name) : -1;
    if (n) {
        ((node *)n)->cache_tab = ft;
        ((node *)n)->cache_id = id;
    }
    return id;
}

static lval from_value(evalctx *c, const mom_value *v)
{
    lval r;
    if (lval_from_value(c->ar, v, &r) < 0)
        eval_nomem(c);
    return r;
}

static lval from_fval(evalctx *c, const fval *f)
{
    switch (f->kind) {
    case FV_INT: return lv_int(f->u.i);
    case FV_REAL: return lv_real(f->u.r);
    case FV_VALUE: return from_value(c, f->u.v);
    default: return lv_none();
    }
}

/* The cache entry of guest entity e, or NULL (the host, or no cache). */
static io_cache *guest_cache(evalctx *c, const rt_entity *e)
{
    program *p = c->prog;
    return e->index >= 0 && (size_t)e->index < p->n_io_cache ? &p->io_cache[e->index] : NULL;
}

/* The records of the io_tune list value v of entity e (built once per
 * evaluation so that setters and later reads see one set of records).
 * The records made from one io_tune value are kept per guest and copied
 * while the value stays the same. */
static lval io_records(evalctx *c, rt_entity *e, const mom_value *v)
{
    lval r = { .t = LV_LIST };
    /* Loops over the guests prefetch the records of the guests ahead. */
    eval_pf_io(c);
    if (e->io_built) {
        r.u.l = e->io;
        return r;
    }
    io_cache *ioc = guest_cache(c, e);
    llist *l = ialloc(c, sizeof(*l) + v->u.c.n * sizeof(lval));
    l->n = (uint32_t)v->u.c.n;
    if (ioc && ioc->src == v && ioc->tmpl && ioc->n_tmpl == l->n) {
        /* Used in place: a setter saves what it changes (intr_io_set) and
         * the end of the evaluation puts it back (intr_end). */
        iorec *recs = ioc->tmpl;
        for (uint32_t i = 0; i < l->n; i++) {
            if (recs[i].owner != e)
                recs[i].owner = e; /* the same entity as last cycle: not written */
            l->items[i].t = LV_IOREC;
            l->items[i].u.rec = &recs[i];
        }
        e->io = l;
        e->io_built = true;
        e->io_gen = ioc->gen;
        r.u.l = l;
        return r;
    }
    bool all_maps = true;
    for (size_t i = 0; i < v->u.c.n; i++) {
        const mom_value *item = v->u.c.items[i];
        if (item->type != MOM_VALUE_MAP) {
            l->items[i] = from_value(c, item);
            all_maps = false;
            continue;
        }
        iorec *rec = ialloc(c, sizeof(*rec));
        memset(rec, 0, sizeof(*rec));
        rec->owner = e;
        rec->name = from_value(c, value_map_get(item, "name"));
        rec->path = from_value(c, value_map_get(item, "path"));
        if (rec->name.t == LV_LIST || rec->path.t == LV_LIST)
            all_maps = false; /* lists live in the arena: no template */
        for (int s = 0; s < 3; s++) {
            const mom_value *set = value_map_get(item, set_names[s]);
            if (!set || set->type != MOM_VALUE_MAP)
                continue;
            for (int k = 0; k < 6; k++) {
                /* Collectors write the limits in the canonical order. */
                const mom_value *lim =
                    (size_t)k < set->u.c.n && strcmp(set->u.c.keys[k], ast_io_limit_names[k]) == 0
                        ? set->u.c.items[k]
                        : value_map_get(set, ast_io_limit_names[k]);
                if (!lim)
                    continue;
                lval x = from_value(c, lim);
                int row = IOSET_ROW(s);
                if (x.t == LV_INT) {
                    rec->v[row][k] = x.u.i;
                } else if (x.t == LV_NONE) {
                    rec->mask[row] |= IOM_NONE(k);
                } else {
                    /* In the arena: a record with one is no template. */
                    if (!rec->wide)
                        rec->wide = ialloc(c, 18 * sizeof(lval));
                    rec->wide[row * 6 + k] = x;
                    rec->mask[row] |= IOM_BOXED(k);
                    all_maps = false;
                }
                rec->mask[row] |= IOM_HAS(k);
            }
        }
        l->items[i].t = LV_IOREC;
        l->items[i].u.rec = rec;
    }
    e->io = l;
    e->io_built = true;
    r.u.l = l;
    if (ioc && all_maps && l->n) {
        /* Keep a template (the strings it points to belong to v, which
         * the entry holds a reference on), aligned to a line: then the
         * first record's masks, maximum and current limits are two. */
        size_t bytes;
        iorec *t = NULL;
        if (!__builtin_mul_overflow((size_t)l->n, sizeof(*t), &bytes) && bytes <= SIZE_MAX - 63 &&
            mom_alloc_point() == 0)
            t = mom_aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        if (t) {
            for (uint32_t i = 0; i < l->n; i++) {
                t[i] = *l->items[i].u.rec;
                t[i].owner = NULL;
                t[i].tmpl = 1;
            }
            mom_free(ioc->tmpl);
            mom_value_unref(ioc->src);
            ioc->tmpl = t;
            ioc->n_tmpl = l->n;
            ioc->src = mom_value_ref((mom_value *)v);
            if (++ioc->gen == 0)
                ioc->gen = 1;
        }
    }
    return r;
}

/* Whether field fid of table t is io_tune (the answer kept for the last
 * table asked about). */
static bool is_io_tune(program *p, const fieldtab *t, int fid)
{
    if (p->io_tab != t) {
        p->io_tab = t;
        p->io_tab_fid = fieldtab_find(t, "io_tune");
    }
    return fid == p->io_tab_fid;
}

/* The latest value of field fid of entity e. */
static lval field_value(evalctx *c, rt_entity *e, int fid)
{
    const sample *s = e->cur;
    if (!s || (!e->uniform && (uint32_t)fid >= s->n)) /* fid is of se->fields */
        return lv_none();
    const fval *f = &s->f[fid];
    if (f->kind == FV_VALUE && f->u.v->type == MOM_VALUE_LIST && is_io_tune(c->prog, e->fields, fid))
        return io_records(c, e, f->u.v);
    return from_fval(c, f);
}

bool intr_attr(evalctx *c, lval base, const node *dot, lval *ret)
{
    int a = dot->attr;
    switch (base.t) {
    case LV_ENTITY: {
        if (a >= ATTR_PROP && a <= ATTR_GETCONTROL) {
            ret->t = LV_METHOD;
            ret->sub = (uint8_t)a;
            ret->u.e = base.u.e;
            return true;
        }
        int fid = field_id(dot, base.u.e->se->fields, dot->attr_name);
        if (fid < 0)
            return false;
        *ret = field_value(c, base.u.e, fid);
        return true;
    }
    case LV_IOREC:
        switch (a) {
        case ATTR_NAME: *ret = base.u.rec->name; return true;
        case ATTR_PATH: *ret = base.u.rec->path; return true;
        case ATTR_GUARANTEED:
        case ATTR_MAXIMUM:
        case ATTR_CURRENT:
            ret->t = LV_IOLIM;
            ret->sub = (uint8_t)(a - ATTR_MAXIMUM);
            ret->u.rec = base.u.rec;
            return true;
        default:
            if (a >= ATTR_SETTER0 && a <= ATTR_SETTER_LAST) {
                ret->t = LV_SETTER;
                ret->sub = (uint8_t)(a - ATTR_SETTER0);
                ret->u.rec = base.u.rec;
                return true;
            }
            return false;
        }
    case LV_IOLIM:
        if (a >= ATTR_LIMIT0 && a <= ATTR_LIMIT_LAST &&
            (base.u.rec->mask[base.sub] & IOM_HAS(a - ATTR_LIMIT0))) {
            *ret = iorec_lim(base.u.rec, base.sub, a - ATTR_LIMIT0);
            return true;
        }
        return false;
    default: return false;
    }
}

/* ---- methods ------------------------------------------------------------- */

/* A name argument as a C string in buf; false when it is not a string. */
static bool name_arg(lval v, char *buf, size_t size)
{
    if (v.t != LV_STR || v.len >= size || memchr(v.u.s, '\0', v.len))
        return false;
    memcpy(buf, v.u.s, v.len);
    buf[v.len] = '\0';
    return true;
}

/* The field id named by argument 0 of a Stat/StatAvg call. */
static int stat_field(evalctx *c, const node *call, rt_entity *e, lval name)
{
    char buf[256];
    const node *arg = call->n > 1 ? call->kids[1] : NULL;
    if (arg && arg->kind == N_STR && arg->cache_tab == e->se->fields && arg->cache_id >= 0 &&
        name.t == LV_STR && name.u.s == arg->lit.u.s)
        return arg->cache_id;
    if (!name_arg(name, buf, sizeof(buf))) {
        sbuf b = { 0 };
        lval_str(&b, name);
        char msg[300];
        snprintf(msg, sizeof(msg), "%s", b.buf ? b.buf : "?");
        mom_free(b.buf);
        eval_fail(c, call->kids[0], "Field '%s' is not declared in any collector.", msg);
    }
    /* A literal name caches its id in its own node. */
    int fid = field_id(arg && arg->kind == N_STR ? arg : NULL, e->se->fields, buf);
    if (fid < 0)
        eval_fail(c, call->kids[0], "Field '%s' is not declared in any collector.", buf);
    return fid;
}

/* StatAvg: the mean of the non-None samples, a float; 0.0 when none. */
static lval stat_avg(evalctx *c, const node *call, rt_entity *e, int fid, const char *name)
{
    const snap_entity *se = e->se;
    if (!se->n_samples)
        eval_fail(c, call->kids[0], "Statistic '%s' not available", name);
    if (e->index >= 0 && fid >= 0) {
        /* A guest's window from the history cache, when its integers add
         * up exactly as doubles: then the sum is the one below. */
        double sum;
        int64_t n;
        bool exact;
        int r = histcache_sum(&c->prog->hc, (size_t)e->index, se, fid, &sum, &n, &exact);
        if (r == -ENOMEM)
            eval_nomem(c);
        if (r == 0 && exact)
            return lv_real(n ? sum / (double)n : 0.0);
    }
    int64_t isum = 0, count = 0;
    double rsum = 0;
    bool real = false;
    lval acc = lv_none();
    bool generic = false;
    /* Integer samples (the common case) in a tight loop; the general loop
     * below takes over at the first other kind or overflow. */
    size_t k = 0;
    for (; k < se->n_samples; k++) {
        const sample *s = se->samples[k];
        if ((uint32_t)fid >= s->n)
            continue;
        const fval *f = &s->f[fid];
        if (f->kind == FV_INT) {
            int64_t sum;
            if (__builtin_add_overflow(isum, f->u.i, &sum))
                break;
            isum = sum;
            count++;
        } else if (f->kind != FV_NONE && f->kind != FV_MISSING) {
            break;
        }
    }
    for (; k < se->n_samples; k++) {
        const sample *s = se->samples[k];
        if ((uint32_t)fid >= s->n)
            continue;
        const fval *f = &s->f[fid];
        if (f->kind == FV_NONE || f->kind == FV_MISSING)
            continue;
        count++;
        if (!generic && f->kind == FV_INT) {
            if (real)
                rsum += (double)f->u.i;
            else if (__builtin_add_overflow(isum, f->u.i, &isum))
                eval_fail(c, call->kids[0], "integer overflow in StatAvg of %s", name);
            continue;
        }
        if (!generic && f->kind == FV_REAL) {
            if (!real) {
                rsum = (double)isum;
                real = true;
            }
            rsum += f->u.r;
            continue;
        }
        /* Anything else goes through Python's + (and may fail there). */
        if (!generic) {
            acc = real ? lv_real(rsum) : lv_int(isum);
            generic = true;
        }
        lval v = from_fval(c, f), r;
        int err = lval_arith(c->ar, LV_ADD, acc, v, &r);
        if (err)
            eval_fail(c, call->kids[0], "unsupported operand types for +: '%s' and '%s' in StatAvg",
                      lval_type_name(acc), lval_type_name(v));
        acc = r;
    }
    if (!count)
        return lv_real(0.0);
    /* What lval_arith's true division gives, without the call. */
    if (!generic && real)
        return lv_real(rsum / (double)count);
    if (!generic && isum >= -(INT64_C(1) << 53) && isum <= (INT64_C(1) << 53))
        return lv_real((double)isum / (double)count);
    if (!generic)
        acc = real ? lv_real(rsum) : lv_int(isum);
    lval r;
    int err = lval_arith(c->ar, LV_DIV, acc, lv_int(count), &r);
    if (err)
        eval_fail(c, call->kids[0], "unsupported operand types for /: '%s' and 'int' in StatAvg",
                  lval_type_name(acc));
    return r;
}

/* Set key -> val in a key/value vector kept in the arena. */
static void kv_set(evalctx *c, lv_kv **arr, uint32_t *n, uint32_t *cap, lval key, lval val)
{
    for (uint32_t i = 0; i < *n; i++) {
        lval k = (*arr)[i].key;
        /* String keys (the common case) without the call: lval_eq's rule. */
        bool eq = k.t == LV_STR && key.t == LV_STR
                      ? k.len == key.len && (k.u.s == key.u.s || memcmp(k.u.s, key.u.s, k.len) == 0)
                      : lval_eq(k, key);
        if (eq) {
            (*arr)[i].val = val;
            return;
        }
    }
    if (*n == *cap) {
        uint32_t ncap = *cap ? *cap * 2 : 4;
        lv_kv *na = ialloc(c, ncap * sizeof(*na));
        if (*n)
            memcpy(na, *arr, *n * sizeof(*na));
        *arr = na;
        *cap = ncap;
    }
    (*arr)[*n].key = key;
    (*arr)[*n].val = val;
    (*n)++;
}

static const lv_kv *kv_get(const lv_kv *arr, uint32_t n, lval key)
{
    for (uint32_t i = 0; i < n; i++)
        if (lval_eq(arr[i].key, key))
            return &arr[i];
    return NULL;
}

static lval call_method(evalctx *c, const node *call, rt_entity *e, int m, const lval *args,
                        uint32_t nargs)
{
    const node *h = call->kids[0];
    uint32_t want = m == ATTR_SETVAR || m == ATTR_CONTROL ? 2 : 1;
    if (nargs != want && !(m == ATTR_STAT && nargs == 2))
        eval_fail(c, h, "%s() takes %s%u argument%s (%u given) on line %u", method_names[m],
                  m == ATTR_STAT ? "1 or " : "exactly ", m == ATTR_STAT ? 2 : want,
                  want == 1 && m != ATTR_STAT ? "" : "s", nargs, h->line);
    switch (m) {
    case ATTR_PROP: {
        char buf[256];
        const mom_value *v = name_arg(args[0], buf, sizeof(buf))
                                 ? value_map_get(e->se->props, buf)
                                 : NULL;
        if (!v) {
            sbuf b = { 0 };
            lval_repr(&b, args[0]);
            char msg[300];
            snprintf(msg, sizeof(msg), "%s", b.buf ? b.buf : "?");
            mom_free(b.buf);
            eval_fail(c, h, "unknown property %s on line %u", msg, h->line);
        }
        return from_value(c, v);
    }
    case ATTR_STAT: return field_value(c, e, stat_field(c, call, e, args[0]));
    case ATTR_STATAVG: {
        int fid = stat_field(c, call, e, args[0]);
        return stat_avg(c, call, e, fid, e->se->fields->names[fid]);
    }
    case ATTR_SETVAR:
        intr_setvar(c, e, args[0], args[1]);
        return lv_none();
    case ATTR_GETVAR: return intr_getvar(c, e, args[0]);
    case ATTR_CONTROL:
        kv_set(c, &e->ctl, &e->n_ctl, &e->cap_ctl, args[0], args[1]);
        return lv_none();
    case ATTR_GETCONTROL: {
        const lv_kv *kv = kv_get(e->ctl, e->n_ctl, args[0]);
        return kv ? kv->val : lv_none();
    }
    default: eval_fail(c, h, "internal error: unknown method");
    }
}

/* An I/O-tune setter: int() the value (None stays None) into current. */
static lval call_setter(evalctx *c, const node *call, iorec *rec, int lim, const lval *args,
                        uint32_t nargs)
{
    const node *h = call->kids[0];
    if (nargs != 1)
        eval_fail(c, h, "setter takes exactly 1 argument (%u given) on line %u", nargs, h->line);
    lval v = args[0];
    if (v.t == LV_INT) {
        v = lv_int(v.u.i); /* what int() makes of it */
    } else if (v.t != LV_NONE) {
        int64_t i;
        int err = lval_to_int(v, &i);
        if (err == LVE_TYPE)
            eval_fail(c, h, "int() argument must be a string or a number, not '%s' on line %u",
                      lval_type_name(v), h->line);
        if (err == LVE_OVERFLOW)
            eval_fail(c, h, "integer overflow on line %u", h->line);
        if (err) {
            sbuf b = { 0 };
            lval_repr(&b, v);
            char msg[300];
            snprintf(msg, sizeof(msg), "%s", b.buf ? b.buf : "?");
            mom_free(b.buf);
            eval_fail(c, h, "invalid literal for int() with base 10: %s on line %u", msg, h->line);
        }
        v = lv_int(i);
    }
    intr_io_set(c, rec, lim, v);
    return lv_none();
}

/* The current limits of a template record as they were before a setter of
 * this evaluation changed them. */
struct io_undo {
    struct io_undo *next;
    iorec *rec;
    int64_t cur[6];
    uint32_t mask;
};

void intr_io_set(evalctx *c, iorec *rec, int k, lval v)
{
    /* v is an integer or None (what setters and assignments make). */
    uint32_t m = rec->mask[IOROW_CUR], kind = (m >> k) & (IOM_HAS(0) | IOM_NONE(0) | IOM_BOXED(0));
    int64_t *cur = rec->v[IOROW_CUR];
    rec->owner->io_dirty = true;
    if (v.t == LV_NONE ? kind == (IOM_HAS(0) | IOM_NONE(0))
                       : kind == IOM_HAS(0) && cur[k] == v.u.i)
        return; /* what it holds already: nothing to save or write */
    rec->owner->io_modified = true;
    if (rec->tmpl == 1) {
        struct io_undo *u = ialloc(c, sizeof(*u));
        u->rec = rec;
        memcpy(u->cur, cur, sizeof(u->cur));
        u->mask = m;
        u->next = c->io_undo;
        c->io_undo = u;
        rec->tmpl = 2;
    }
    m &= ~(IOM_NONE(k) | IOM_BOXED(k));
    if (v.t == LV_NONE)
        m |= IOM_NONE(k);
    else
        cur[k] = v.u.i;
    rec->mask[IOROW_CUR] = m | IOM_HAS(k);
}

void intr_end(evalctx *c)
{
    for (struct io_undo *u = c->io_undo; u; u = u->next) {
        memcpy(u->rec->v[IOROW_CUR], u->cur, sizeof(u->cur));
        u->rec->mask[IOROW_CUR] = u->mask;
        u->rec->tmpl = 1;
    }
    c->io_undo = NULL;
}

/* debug(ARGS...): log the arguments, return the last. */
static __attribute__((noinline)) lval call_debug(evalctx *c, const node *call, const lval *args,
                                                 uint32_t nargs)
{
    const node *h = call->kids[0];
    if (nargs == 0)
        eval_fail(c, h, "debug() needs at least one argument on line %u", h->line);
    if (c->opts && mlog_enabled(c->opts->log, MOM_LOG_DEBUG)) {
        sbuf b = { 0 };
        for (uint32_t i = 0; i < nargs; i++) {
            if (i)
                sbuf_puts(&b, " ");
            lval_str(&b, args[i]);
        }
        if (!b.failed)
            mlog_msg(c->opts->log, MOM_LOG_DEBUG, "mom.Policy", "%s", b.buf ? b.buf : "");
        mom_free(b.buf);
    }
    return args[nargs - 1];
}

lval intr_call(evalctx *c, const node *call, lval fn, const lval *args, uint32_t nargs)
{
    const node *h = call->kids[0];
    switch (fn.t) {
    case LV_METHOD: return call_method(c, call, fn.u.e, fn.sub, args, nargs);
    case LV_SETTER: return call_setter(c, call, fn.u.rec, fn.sub, args, nargs);
    case LV_BUILTIN:
        if (fn.sub == LV_FN_ABS) {
            lval r;
            if (nargs != 1)
                eval_fail(c, h, "abs() takes exactly one argument (%u given) on line %u", nargs,
                          h->line);
            int err = lval_abs(args[0], &r);
            if (err == LVE_OVERFLOW)
                eval_fail(c, h, "integer overflow on line %u", h->line);
            if (err)
                eval_fail(c, h, "bad operand type for abs(): '%s' on line %u",
                          lval_type_name(args[0]), h->line);
            return r;
        }
        return call_debug(c, call, args, nargs);
    default:
        eval_fail(c, h, "%.*s is not callable on line %u", (int)h->len, h->text, h->line);
    }
}

/* ---- results of a successful evaluation ------------------------------------ */

/* Key of a control as a C string (strings as they are, others as repr). */
static char *key_text(lval k)
{
    if (k.t == LV_STR)
        return mom_strndup(k.u.s, k.len);
    sbuf b = { 0 };
    lval_repr(&b, k);
    if (b.failed) {
        mom_free(b.buf);
        return NULL;
    }
    return b.buf ? b.buf : mom_strdup("");
}

/* Whether two reals are the same value, bit for bit (so 0.0 is not -0.0:
 * a shared control must print as the one it stands for). */
static inline bool same_real(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

/* Whether v has the type and the value of a (lval_to_type, lval_eq_value),
 * with the integer and float cases inline. */
static inline bool same_value(lval a, const mom_value *v)
{
    if (a.t == LV_INT && v->type == MOM_VALUE_INT)
        return a.u.i == v->u.i;
    if (a.t == LV_REAL && v->type == MOM_VALUE_REAL)
        return same_real(a.u.r, v->u.r);
    return v->type == lval_to_type(a) && lval_eq_value(a, v);
}

/* Whether a previous io_tune control says exactly what e's records say
 * now (then it is shared instead of built again).  The previous control
 * was built by io_control, so its layout is known: name, path, ioTune,
 * and the present limits in canonical order. */
static bool io_control_matches(const rt_entity *e, const mom_value *prev)
{
    size_t k = 0;
    for (uint32_t i = 0; i < e->io->n; i++) {
        lval item = e->io->items[i];
        if (item.t != LV_IOREC)
            continue;
        if (k >= prev->u.c.n)
            return false;
        const mom_value *m = prev->u.c.items[k++];
        if (m->type != MOM_VALUE_MAP || m->u.c.n != 3)
            return false;
        const mom_value *name = m->u.c.items[0], *path = m->u.c.items[1];
        const mom_value *tune = m->u.c.items[2];
        const iorec *r = item.u.rec;
        if (!lval_eq_value(r->name, name) || !lval_eq_value(r->path, path) ||
            name->type != lval_to_type(r->name) || path->type != lval_to_type(r->path))
            return false;
        size_t t = 0;
        for (int l = 0; l < 6; l++) {
            if (!(r->mask[IOROW_CUR] & IOM_HAS(l)))
                continue;
            if (t >= tune->u.c.n)
                return false;
            const mom_value *v = tune->u.c.items[t++];
            if (!same_value(iorec_lim(r, IOROW_CUR, l), v))
                return false;
        }
        if (t != tune->u.c.n)
            return false;
    }
    return k == prev->u.c.n;
}

/* The io_tune control: {name, path, ioTune{current limits}} per disk. */
static mom_value *io_control(const rt_entity *e)
{
    mom_value *list = value_new_list();
    for (uint32_t i = 0; list && i < e->io->n; i++) {
        lval item = e->io->items[i];
        if (item.t != LV_IOREC)
            continue;
        lval cur = { .t = LV_IOLIM, .sub = IOROW_CUR, .u.rec = item.u.rec };
        mom_value *m = value_new_map();
        int r = m ? 0 : -ENOMEM;
        if (!r)
            r = value_map_set(m, "name", lval_to_value(item.u.rec->name));
        if (!r)
            r = value_map_set(m, "path", lval_to_value(item.u.rec->path));
        if (!r)
            r = value_map_set(m, "ioTune", lval_to_value(cur));
        if (r < 0 || value_list_append(list, m) < 0) {
            if (r < 0)
                mom_value_unref(m);
            mom_value_unref(list);
            return NULL;
        }
    }
    return list;
}

/* ---- signatures of the cached controls ---------------------------------------- */

/* One io_tune record: its current limits (integers or None). */
struct rec_sig {
    uint8_t present;
    uint8_t t[6];
    int64_t i[6];
};

/* Whether control i of e (key k, value v) is entry g of a control
 * signature. */
static inline bool ctl_sig_same(const struct ctl_sig *g, lval k, lval v)
{
    if (k.t != LV_STR || !(k.flags & LV_F_CSTR) || k.len != g->klen ||
        memcmp(k.u.s, g->key, k.len) != 0 || v.t != g->v.t)
        return false;
    return v.t == LV_INT ? v.u.i == g->v.u.i : same_real(v.u.r, g->v.u.r);
}

/* Whether e's controls are those of ioc's control signature: then ioc->map
 * holds them (with the io_tune control ioc->sig_map_io).  The signature
 * is recorded only after map_matches held for ioc->map or build_map made
 * it, and it holds everything map_matches reads. */
static bool ctl_sig_matches(const io_cache *ioc, const rt_entity *e)
{
    if (!ioc->sig_ctl_ok || e->n_ctl != ioc->sig_n)
        return false;
    for (uint32_t i = 0; i < e->n_ctl; i++)
        if (!ctl_sig_same(&ioc->sig_ctl[i], e->ctl[i].key, e->ctl[i].val))
            return false;
    return true;
}

/* Record e's controls as ioc's control signature, for ioc->map holding
 * them and the io_tune control `io`; none when they do not fit one. */
static void ctl_sig_record(io_cache *ioc, const rt_entity *e, const mom_value *io)
{
    ioc->sig_ctl_ok = false;
    if (e->n_ctl > IOC_SIG_CTL)
        return;
    for (uint32_t i = 0; i < e->n_ctl; i++) {
        struct ctl_sig *g = &ioc->sig_ctl[i];
        lval k = e->ctl[i].key, v = e->ctl[i].val;
        if (k.t != LV_STR || !(k.flags & LV_F_CSTR) || k.len > IOC_KEY_MAX ||
            memchr(k.u.s, '\0', k.len) || (v.t != LV_INT && v.t != LV_REAL) ||
            (v.t == LV_REAL && isnan(v.u.r)))
            return;
        g->klen = (uint8_t)k.len;
        memcpy(g->key, k.u.s, k.len);
        g->v = v;
    }
    ioc->sig_n = (uint8_t)e->n_ctl;
    ioc->sig_map_io = io;
    ioc->sig_ctl_ok = true;
}

/* Whether e's I/O records are those of ioc's record signature: then
 * ioc->ctl is their io_tune control.  The signature is recorded only after
 * io_control_matches held for ioc->ctl or io_control made it; it holds the
 * current limits, and the names and paths through the template the
 * records are (io_gen).  When it holds the template's own limits and no
 * setter changed one this cycle, the records hold them again, and they are
 * not read. */
static bool rec_sig_matches(const io_cache *ioc, const rt_entity *e)
{
    const llist *l = e->io;
    if (!ioc->sig_io_ok || !e->io_gen || e->io_gen != ioc->sig_gen || e->io_gen != ioc->gen ||
        l->n != ioc->sig_nrec)
        return false;
    /* The template's own limits again: nothing to compare. */
    bool own = ioc->sig_io_tmpl && !e->io_modified;
    for (uint32_t i = 0; i < l->n; i++) {
        if (l->items[i].t != LV_IOREC || l->items[i].u.rec != &ioc->tmpl[i])
            return false;
        if (own)
            continue;
        const struct rec_sig *g = &ioc->sig_rec[i];
        const iorec *r = l->items[i].u.rec;
        if ((r->mask[IOROW_CUR] & 0x3f) != g->present)
            return false;
        for (int k = 0; k < 6; k++) {
            if (!(g->present & (1u << k)))
                continue;
            lval x = iorec_lim(r, IOROW_CUR, k);
            if (x.t != g->t[k] || (x.t == LV_INT && x.u.i != g->i[k]))
                return false;
        }
    }
    return true;
}

/* Record e's I/O records as ioc's record signature, for ioc->ctl being
 * their io_tune control; none when they do not fit one. */
static void rec_sig_record(io_cache *ioc, const rt_entity *e)
{
    ioc->sig_io_ok = false;
    const llist *l = e->io;
    if (!e->io_gen || e->io_gen != ioc->gen || !ioc->tmpl)
        return;
    if (l->n > ioc->sig_reccap) {
        struct rec_sig *g = mom_realloc(ioc->sig_rec, l->n * sizeof(*g));
        if (!g)
            return;
        ioc->sig_rec = g;
        ioc->sig_reccap = l->n;
    }
    for (uint32_t i = 0; i < l->n; i++) {
        struct rec_sig *g = &ioc->sig_rec[i];
        if (l->items[i].t != LV_IOREC || l->items[i].u.rec != &ioc->tmpl[i])
            return;
        const iorec *r = l->items[i].u.rec;
        g->present = (uint8_t)(r->mask[IOROW_CUR] & 0x3f);
        for (int k = 0; k < 6; k++) {
            g->t[k] = LV_NONE;
            g->i[k] = 0;
            if (!(g->present & (1u << k)))
                continue;
            lval x = iorec_lim(r, IOROW_CUR, k);
            if (x.t != LV_INT && x.t != LV_NONE)
                return;
            g->t[k] = x.t;
            g->i[k] = x.t == LV_INT ? x.u.i : 0;
        }
    }
    ioc->sig_gen = e->io_gen;
    ioc->sig_nrec = l->n;
    ioc->sig_io_tmpl = !e->io_modified;
    ioc->sig_io_ok = true;
}

/* The io_tune control of e, kept in ioc->ctl (and borrowed from there:
 * no reference is taken, so that an unchanged control is not even
 * touched), shared with the last one when it is the same: first without
 * reading the last one, then reading it. */
static mom_value *io_control_cached(const rt_entity *e, io_cache *ioc)
{
    if (ioc->ctl && rec_sig_matches(ioc, e))
        return ioc->ctl;
    if (!ioc->ctl || !io_control_matches(e, ioc->ctl)) {
        mom_value *v = io_control(e);
        if (!v)
            return NULL;
        mom_value_unref(ioc->ctl);
        ioc->ctl = v;
    }
    rec_sig_record(ioc, e);
    return ioc->ctl;
}

/* Whether map holds exactly e's controls (and io, when not NULL), in the
 * same order, with the same types and values. */
static bool map_matches(const mom_value *map, const rt_entity *e, const mom_value *io)
{
    if (map->u.c.n != e->n_ctl + (io ? 1u : 0u))
        return false;
    for (uint32_t i = 0; i < e->n_ctl; i++) {
        lval k = e->ctl[i].key, v = e->ctl[i].val;
        if (k.t != LV_STR || !(k.flags & LV_F_CSTR) || strcmp(map->u.c.keys[i], k.u.s) != 0)
            return false;
        const mom_value *mv = map->u.c.items[i];
        if (!same_value(v, mv))
            return false;
    }
    return !io || (map->u.c.items[e->n_ctl] == io && strcmp(map->u.c.keys[e->n_ctl], "io_tune") == 0);
}

/* Whether the control signature of prev names e's controls, in their
 * order, and an io_tune control exactly when io is not NULL: the keys of
 * prev->map are then those of e's new map. */
static bool same_keys(const io_cache *prev, const rt_entity *e, const mom_value *io)
{
    if (e->n_ctl != prev->sig_n || !io != !prev->sig_map_io)
        return false;
    for (uint32_t i = 0; i < e->n_ctl; i++) {
        const struct ctl_sig *g = &prev->sig_ctl[i];
        lval k = e->ctl[i].key;
        if (k.t != LV_STR || !(k.flags & LV_F_CSTR) || k.len != g->klen ||
            memcmp(k.u.s, g->key, k.len) != 0)
            return false;
    }
    return true;
}

/* The new map of e's controls (and of io, borrowed, when not NULL) when
 * they have the keys of prev's map (same_keys): a copy that shares its
 * keys, with the changed values replaced.  It holds e's controls by
 * construction. */
static int update_map(const rt_entity *e, const mom_value *io, const io_cache *prev,
                      mom_value **ret)
{
    mom_value *m = value_map_new_like(prev->map);
    if (!m)
        return -ENOMEM;
    for (uint32_t i = 0; i < e->n_ctl; i++) {
        lval v = e->ctl[i].val;
        if (ctl_sig_same(&prev->sig_ctl[i], e->ctl[i].key, v))
            continue;
        mom_value *mv = lval_to_value(v);
        if (!mv) {
            mom_value_unref(m);
            return -ENOMEM;
        }
        value_map_set_at(m, i, mv);
    }
    if (io && m->u.c.items[e->n_ctl] != io)
        value_map_set_at(m, e->n_ctl, mom_value_ref(io));
    *ret = m;
    return 0;
}

/* A new map of e's controls (and io, taken, when not NULL).  A control
 * that the control signature of ioc (NULL: none) says is unchanged shares
 * its value with the last map instead of making a new one. */
static int build_map(const rt_entity *e, mom_value *io, const io_cache *ioc, mom_value **ret)
{
    const io_cache *prev = ioc && ioc->map && ioc->sig_ctl_ok ? ioc : NULL;
    mom_value *m = value_new_map();
    if (!m) {
        mom_value_unref(io);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < e->n_ctl; i++) {
        lval k = e->ctl[i].key;
        bool cstr = k.t == LV_STR && (k.flags & LV_F_CSTR) && !memchr(k.u.s, '\0', k.len);
        char *owned = cstr ? NULL : key_text(k);
        const char *key = cstr ? k.u.s : owned;
        mom_value *v = prev && i < prev->sig_n && ctl_sig_same(&prev->sig_ctl[i], k, e->ctl[i].val)
                           ? mom_value_ref(prev->map->u.c.items[i])
                           : lval_to_value(e->ctl[i].val);
        int r = -ENOMEM;
        if (key && v)
            r = value_map_set(m, key, v);
        else
            mom_value_unref(v);
        mom_free(owned);
        if (r < 0) {
            mom_value_unref(io);
            mom_value_unref(m);
            return r;
        }
    }
    if (io && value_map_set(m, "io_tune", io) < 0) {
        mom_value_unref(m);
        return -ENOMEM;
    }
    *ret = m;
    return 0;
}

void intr_cache_clear(io_cache *ioc)
{
    mom_free(ioc->sig_rec);
    mom_free(ioc->id);
    mom_value_unref(ioc->ctl);
    mom_value_unref(ioc->map);
    mom_value_unref(ioc->src);
    mom_free(ioc->tmpl);
    memset(ioc, 0, sizeof(*ioc));
}

_Static_assert(sizeof(void *) != 8 || sizeof(rt_entity) == 64, "a runtime entity is one cache line");

/* e, whatever it held, for the snapshot entity se. */
static void rt_entity_init(rt_entity *e, const snap_entity *se, int index)
{
    *e = (rt_entity){
        .se = se,
        .cur = se->n_samples ? se->samples[se->n_samples - 1] : NULL,
        .fields = se->fields,
        .uniform = se->uniform,
        .index = index,
    };
}

int intr_begin(evalctx *c)
{
    program *p = c->prog;
    const snapshot *snap = c->snap;
    size_t n = snap->n_guests;
    rt_entity_init(&c->host, &snap->host, -1);
    if (p->n_rt < n) {
        /* One line per entity, the array aligned to a line. */
        if (n > SIZE_MAX / sizeof(rt_entity) - 1 || mom_alloc_point() < 0)
            return -ENOMEM;
        rt_entity *rt = mom_aligned_alloc(64, (n * sizeof(rt_entity) + 63) & ~(size_t)63);
        if (!rt)
            return -ENOMEM;
        mom_free(p->rt);
        p->rt = rt;
        p->n_rt = n;
    }
    c->guests = p->rt;
    c->gcoll.items = c->guests;
    c->gcoll.n = (uint32_t)n;
    if (p->n_io_cache < n) {
        io_cache *nc = mom_realloc(p->io_cache, n * sizeof(*nc));
        if (!nc)
            return -ENOMEM;
        memset(nc + p->n_io_cache, 0, (n - p->n_io_cache) * sizeof(*nc));
        p->io_cache = nc;
        p->n_io_cache = n;
    }
    /* The guests, in the same pass their cache entries are claimed: an
     * entry is for one guest, forgotten when another guest takes its
     * index. */
    for (size_t i = 0; i < n; i++) {
        io_cache *ioc = &p->io_cache[i];
        const snap_entity *se = &snap->guests[i];
        rt_entity_init(&c->guests[i], se, (int)i);
        if (se->serial && se->serial == ioc->serial)
            continue;
        const char *id = varstore_entity_id(se);
        if (!ioc->id || strcmp(ioc->id, id) != 0) {
            intr_cache_clear(ioc);
            if (!(ioc->id = mom_strdup(id)))
                return -ENOMEM;
        }
        ioc->serial = se->serial;
    }
    return 0;
}

/* *dst, a place that holds a reference to a map or NULL (a slot of
 * ctl_maps, a cache entry's map), holds v (borrowed) from now on: a new
 * reference only when it held another map. */
static void slot_put(mom_value **dst, mom_value *v)
{
    if (*dst != v) {
        mom_value_unref(*dst);
        *dst = mom_value_ref(v);
    }
}

/* ... holds v, taking that reference. */
static void slot_take(mom_value **dst, mom_value *v)
{
    mom_value_unref(*dst);
    *dst = v;
}

/* Put the controls map of entity e into *dst (`empty` when it has no
 * controls), shared with the last one of its cache entry ioc (NULL: none)
 * when it is the same.  The same map as last cycle's, in the same slot, is
 * not touched at all. */
static int entity_controls(const rt_entity *e, io_cache *ioc, mom_value *empty, mom_value **dst)
{
    bool has_io = e->io_dirty && e->io;
    if (!e->n_ctl && !has_io) {
        slot_put(dst, empty);
        return 0;
    }
    /* The io_tune control: borrowed from the cache entry, or made for
     * this call (own) without one. */
    mom_value *own = NULL, *io = NULL;
    if (has_io && !(io = ioc ? io_control_cached(e, ioc) : (own = io_control(e))))
        return -ENOMEM;
    mom_value *m;
    /* The same controls cycle after cycle are the common case: first
     * without reading the cached values, then reading them. */
    if (ioc && ioc->map) {
        /* A signature that holds for this io_tune control answers both
         * ways: it holds everything map_matches would read. */
        bool sig = ioc->sig_ctl_ok && ioc->sig_map_io == io;
        bool same = sig && ctl_sig_matches(ioc, e);
        if (!sig && map_matches(ioc->map, e, io)) {
            ctl_sig_record(ioc, e, io);
            same = true;
        }
        if (same) {
            slot_put(dst, ioc->map);
            return 0;
        }
        /* The same keys with other values: the common change. */
        if (ioc->sig_ctl_ok && same_keys(ioc, e, io)) {
            int r = update_map(e, io, ioc, &m);
            if (r < 0)
                return r;
            slot_take(&ioc->map, m);
            slot_put(dst, m);
            ctl_sig_record(ioc, e, io);
            return 0;
        }
    }
    const mom_value *map_io = io;
    int r = build_map(e, mom_value_ref(io), ioc, &m);
    mom_value_unref(own);
    if (r < 0)
        return r;
    if (!ioc) {
        slot_take(dst, m);
        return 0;
    }
    slot_take(&ioc->map, m);
    slot_put(dst, m);
    /* Checked, not assumed: the signature stands for map_matches. */
    if (map_matches(ioc->map, e, map_io))
        ctl_sig_record(ioc, e, map_io);
    else
        ioc->sig_ctl_ok = false;
    return 0;
}

/* The program's array of the guests' controls maps (program.ctl_share) for
 * n guests, to fill in place: a new one when the last controls returned
 * still use it or the number of guests changed (NULL: out of memory). */
static ctl_maps *controls_share(program *p, size_t n)
{
    ctl_maps *m = p->ctl_share;
    if (m && m->n == n && !ctl_maps_shared(m))
        return m;
    if (!(m = ctl_maps_new(n)))
        return NULL;
    ctl_maps_unref(p->ctl_share);
    p->ctl_share = m;
    return m;
}

int intr_controls(evalctx *c, controls **ret)
{
    program *p = c->prog;
    size_t n = c->gcoll.n;
    if (!p->ctl_empty && !(p->ctl_empty = value_new_map()))
        return -ENOMEM;
    ctl_maps *share = controls_share(p, n);
    controls *ctl = share ? mom_calloc(1, sizeof(*ctl)) : NULL;
    if (!ctl)
        return -ENOMEM;
    int r = entity_controls(&c->host, &p->host_cache, p->ctl_empty, &ctl->host);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        io_cache *ioc = i < p->n_io_cache ? &p->io_cache[i] : NULL;
        r = entity_controls(&c->guests[i], ioc, p->ctl_empty, &share->maps[i]);
    }
    if (r < 0) {
        controls_free(ctl);
        return r;
    }
    ctl->n_guests = n;
    ctl->guests = share->maps;
    ctl->shared = ctl_maps_ref(share);
    *ret = ctl;
    return 0;
}

static int entity_commit(evalctx *c, const rt_entity *e)
{
    const rt_vars *v = &c->vars[e->index + 1];
    for (uint32_t i = 0; i < v->n; i++) {
        int r = varstore_put(c->vs, varstore_entity_id(e->se), lval_to_value(v->kv[i].key),
                             lval_to_value(v->kv[i].val));
        if (r < 0)
            return r;
    }
    return 0;
}

int intr_commit_vars(evalctx *c)
{
    /* Without a SetVar this cycle, no pass over the guests. */
    if (!c->vs || !c->vars)
        return 0;
    int r = entity_commit(c, &c->host);
    for (uint32_t i = 0; r == 0 && i < c->gcoll.n; i++)
        r = entity_commit(c, &c->guests[i]);
    return r;
}

/* ---- shared with the Fortran-like evaluator ------------------------------------ */

lval intr_field(evalctx *c, rt_entity *e, int fid)
{
    return field_value(c, e, fid);
}

lval intr_stat_avg(evalctx *c, const node *call, rt_entity *e, int fid)
{
    return stat_avg(c, call, e, fid, e->se->fields->names[fid]);
}

lval intr_from_value(evalctx *c, const mom_value *v)
{
    return from_value(c, v);
}

lval intr_from_fval(evalctx *c, const fval *f)
{
    return from_fval(c, f);
}

void intr_set_control(evalctx *c, rt_entity *e, lval key, lval val)
{
    kv_set(c, &e->ctl, &e->n_ctl, &e->cap_ctl, key, val);
}

const lval *intr_get_control(const rt_entity *e, lval key)
{
    const lv_kv *kv = kv_get(e->ctl, e->n_ctl, key);
    return kv ? &kv->val : NULL;
}

void intr_setvar(evalctx *c, rt_entity *e, lval key, lval val)
{
    if (!c->vars)
        c->vars = arena_calloc(c->ar, (c->gcoll.n + 1) * sizeof(*c->vars));
    if (!c->vars)
        eval_nomem(c);
    rt_vars *v = &c->vars[e->index + 1];
    kv_set(c, &v->kv, &v->n, &v->cap, key, val);
}

lval intr_getvar(evalctx *c, rt_entity *e, lval key)
{
    const lv_kv *kv = c->vars ? kv_get(c->vars[e->index + 1].kv, c->vars[e->index + 1].n, key) : NULL;
    if (kv)
        return kv->val;
    const mom_value *v = varstore_get(varstore_find(c->vs, varstore_entity_id(e->se)), key);
    return v ? from_value(c, v) : lv_none();
}
