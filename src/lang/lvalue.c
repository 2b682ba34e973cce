/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Run-time values: Python-like truthiness, equality, ordering and
 * arithmetic on 64-bit integers and doubles, repr() and the conversions to
 * and from the library's mom_value.
 */
#include "lang/lvalue.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/ast.h"

static inline bool is_num(lval v)
{
    return v.t == LV_INT || v.t == LV_REAL || v.t == LV_BOOL;
}

static inline bool is_intlike(lval v)
{
    return v.t == LV_INT || v.t == LV_BOOL;
}

static inline int64_t as_int(lval v)
{
    return v.t == LV_BOOL ? (int64_t)v.u.b : v.u.i;
}

static inline double as_real(lval v)
{
    return v.t == LV_REAL ? v.u.r : (double)as_int(v);
}

/* Exact comparison of an integer with a double: -1, 0, 1, or 2 for NaN. */
static int cmp_int_real(int64_t i, double r)
{
    if (isnan(r))
        return 2;
    if (r >= 9223372036854775808.0)
        return -1;
    if (r < -9223372036854775808.0)
        return 1;
    double fl = floor(r);
    int64_t ri = (int64_t)fl;
    if (i < ri)
        return -1;
    if (i > ri)
        return 1;
    return fl < r ? -1 : 0;
}

/* Three-way numeric comparison; 2 when unordered (NaN). */
static int cmp_num(lval a, lval b)
{
    if (a.t != LV_REAL && b.t != LV_REAL) {
        int64_t x = as_int(a), y = as_int(b);
        return x < y ? -1 : x > y;
    }
    if (a.t == LV_REAL && b.t == LV_REAL) {
        if (isnan(a.u.r) || isnan(b.u.r))
            return 2;
        return a.u.r < b.u.r ? -1 : a.u.r > b.u.r;
    }
    if (a.t == LV_REAL) {
        int c = cmp_int_real(as_int(b), a.u.r);
        return c == 2 ? 2 : -c;
    }
    return cmp_int_real(as_int(a), b.u.r);
}

bool lval_truthy(lval v)
{
    switch ((lv_type)v.t) {
    case LV_NONE: return false;
    case LV_BOOL: return v.u.b;
    case LV_INT: return v.u.i != 0;
    case LV_REAL: return v.u.r != 0.0;
    case LV_STR: return v.len != 0;
    case LV_LIST: return v.u.l->n != 0;
    case LV_GUESTS: return v.u.g->n != 0;
    case LV_MAPV: return v.u.mv->u.c.n != 0;
    default: return true;
    }
}

bool lval_eq(lval a, lval b)
{
    if (is_num(a) && is_num(b))
        return cmp_num(a, b) == 0;
    if (a.t != b.t)
        return false;
    switch ((lv_type)a.t) {
    case LV_NONE: return true;
    case LV_STR: return a.len == b.len && memcmp(a.u.s, b.u.s, a.len) == 0;
    case LV_LIST:
        if (a.u.l == b.u.l)
            return true;
        if (a.u.l->n != b.u.l->n)
            return false;
        for (uint32_t i = 0; i < a.u.l->n; i++)
            if (!lval_eq(a.u.l->items[i], b.u.l->items[i]))
                return false;
        return true;
    case LV_MAPV: return value_equal(a.u.mv, b.u.mv);
    case LV_ENTITY: return a.u.e == b.u.e;
    case LV_GUESTS: return a.u.g == b.u.g;
    case LV_IOREC: return a.u.rec == b.u.rec;
    case LV_IOLIM:
    case LV_SETTER: return a.sub == b.sub && a.u.rec == b.u.rec;
    case LV_METHOD: return a.sub == b.sub && a.u.e == b.u.e;
    case LV_BUILTIN: return a.sub == b.sub;
    default: return false;
    }
}

/* Correctly rounded true division of two 64-bit integers (b != 0). */
static double div_exact(int64_t a, int64_t b)
{
    const int64_t lim = INT64_C(1) << 53;
    if (a >= -lim && a <= lim && b >= -lim && b <= lim)
        return (double)a / (double)b;
    bool neg = (a < 0) != (b < 0);
    uint64_t ua = a < 0 ? (uint64_t)0 - (uint64_t)a : (uint64_t)a;
    uint64_t ub = b < 0 ? (uint64_t)0 - (uint64_t)b : (uint64_t)b;
    if (ua == 0)
        return neg ? -0.0 : 0.0;
    int la = 64 - __builtin_clzll(ua), lb = 64 - __builtin_clzll(ub);
    int k = 63 - (la - lb);
    /* The scaled quotient has 63 or 64 significant bits; a sticky low bit
     * records a non-zero remainder so that the conversion rounds right. */
    unsigned __int128 n = (unsigned __int128)ua << k;
    uint64_t q = (uint64_t)(n / ub);
    if (n % ub)
        q |= 1;
    double d = ldexp((double)q, -k);
    return neg ? -d : d;
}

/* Concatenate or repeat sequences into the arena. */
static int str_concat(struct arena *ar, lval x, lval y, lval *ret)
{
    size_t n = (size_t)x.len + y.len;
    if (n > LV_MAX_SEQ)
        return LVE_TOOBIG;
    char *s = arena_alloc(ar, n ? n : 1);
    if (!s)
        return LVE_NOMEM;
    memcpy(s, x.u.s, x.len);
    memcpy(s + x.len, y.u.s, y.len);
    *ret = lv_str(s, (uint32_t)n);
    return LVE_OK;
}

static int list_concat(struct arena *ar, const llist *x, const llist *y, lval *ret)
{
    size_t n = (size_t)x->n + y->n;
    if (n > LV_MAX_SEQ / sizeof(lval))
        return LVE_TOOBIG;
    llist *l = arena_alloc(ar, sizeof(*l) + n * sizeof(lval));
    if (!l)
        return LVE_NOMEM;
    l->n = (uint32_t)n;
    memcpy(l->items, x->items, x->n * sizeof(lval));
    memcpy(l->items + x->n, y->items, y->n * sizeof(lval));
    ret->t = LV_LIST;
    ret->u.l = l;
    return LVE_OK;
}

static int seq_repeat(struct arena *ar, lval seq, int64_t count, lval *ret)
{
    if (seq.t == LV_STR) {
        if (count <= 0 || seq.len == 0) {
            *ret = lv_str("", 0);
            return LVE_OK;
        }
        if ((uint64_t)count > LV_MAX_SEQ / seq.len)
            return LVE_TOOBIG;
        size_t n = (size_t)count * seq.len;
        char *s = arena_alloc(ar, n);
        if (!s)
            return LVE_NOMEM;
        for (int64_t i = 0; i < count; i++)
            memcpy(s + (size_t)i * seq.len, seq.u.s, seq.len);
        *ret = lv_str(s, (uint32_t)n);
        return LVE_OK;
    }
    uint32_t m = seq.u.l->n;
    size_t n = 0;
    if (count > 0 && m) {
        if ((uint64_t)count > LV_MAX_SEQ / sizeof(lval) / m)
            return LVE_TOOBIG;
        n = (size_t)count * m;
    }
    llist *l = arena_alloc(ar, sizeof(*l) + n * sizeof(lval));
    if (!l)
        return LVE_NOMEM;
    l->n = (uint32_t)n;
    for (size_t i = 0; i < n; i += m)
        memcpy(l->items + i, seq.u.l->items, m * sizeof(lval));
    ret->t = LV_LIST;
    ret->u.l = l;
    return LVE_OK;
}

int lval_arith(struct arena *ar, lv_op op, lval x, lval y, lval *ret)
{
    bool nums = is_num(x) && is_num(y);
    bool ints = nums && x.t != LV_REAL && y.t != LV_REAL;
    int64_t r;
    switch (op) {
    case LV_ADD:
        if (ints) {
            if (__builtin_add_overflow(as_int(x), as_int(y), &r))
                return LVE_OVERFLOW;
            *ret = lv_int(r);
            return LVE_OK;
        }
        if (nums) {
            *ret = lv_real(as_real(x) + as_real(y));
            return LVE_OK;
        }
        if (x.t == LV_STR && y.t == LV_STR)
            return str_concat(ar, x, y, ret);
        if (x.t == LV_LIST && y.t == LV_LIST)
            return list_concat(ar, x.u.l, y.u.l, ret);
        return LVE_TYPE;
    case LV_SUB:
        if (ints) {
            if (__builtin_sub_overflow(as_int(x), as_int(y), &r))
                return LVE_OVERFLOW;
            *ret = lv_int(r);
            return LVE_OK;
        }
        if (nums) {
            *ret = lv_real(as_real(x) - as_real(y));
            return LVE_OK;
        }
        return LVE_TYPE;
    case LV_MUL:
        if (ints) {
            if (__builtin_mul_overflow(as_int(x), as_int(y), &r))
                return LVE_OVERFLOW;
            *ret = lv_int(r);
            return LVE_OK;
        }
        if (nums) {
            *ret = lv_real(as_real(x) * as_real(y));
            return LVE_OK;
        }
        if ((x.t == LV_STR || x.t == LV_LIST) && is_intlike(y))
            return seq_repeat(ar, x, as_int(y), ret);
        if ((y.t == LV_STR || y.t == LV_LIST) && is_intlike(x))
            return seq_repeat(ar, y, as_int(x), ret);
        return LVE_TYPE;
    case LV_DIV:
        if (!nums)
            return LVE_TYPE;
        if (as_real(y) == 0.0 && (y.t == LV_REAL || as_int(y) == 0))
            return LVE_ZERO;
        if (ints)
            *ret = lv_real(div_exact(as_int(x), as_int(y)));
        else
            *ret = lv_real(as_real(x) / as_real(y));
        return LVE_OK;
    case LV_SHL:
    case LV_SHR: {
        if (!is_intlike(x) || !is_intlike(y))
            return LVE_TYPE;
        int64_t a = as_int(x), c = as_int(y);
        if (c < 0)
            return LVE_NEGSHIFT;
        if (op == LV_SHR) {
            *ret = lv_int(c >= 64 ? (a < 0 ? -1 : 0) : a >> c);
            return LVE_OK;
        }
        if (a == 0) {
            *ret = lv_int(0);
            return LVE_OK;
        }
        if (c >= 63)
            return LVE_OVERFLOW;
        int64_t s = (int64_t)((uint64_t)a << c);
        if ((s >> c) != a)
            return LVE_OVERFLOW;
        *ret = lv_int(s);
        return LVE_OK;
    }
    default: return LVE_TYPE;
    }
}

/* Three-way ordering for <, >, ...: -1/0/1, 2 unordered, ORDER_NONE when
 * the operands cannot be ordered. */
#define ORDER_NONE 3

static int order3(lval a, lval b)
{
    if (is_num(a) && is_num(b))
        return cmp_num(a, b);
    if (a.t == LV_STR && b.t == LV_STR) {
        uint32_t n = a.len < b.len ? a.len : b.len;
        int c = memcmp(a.u.s, b.u.s, n);
        if (c)
            return c < 0 ? -1 : 1;
        return a.len < b.len ? -1 : a.len > b.len;
    }
    return ORDER_NONE;
}

int lval_order(lv_op op, lval x, lval y, bool *ret)
{
    if (x.t == LV_LIST && y.t == LV_LIST) {
        /* Lexicographic: the first unequal pair decides, else the length. */
        uint32_t n = x.u.l->n < y.u.l->n ? x.u.l->n : y.u.l->n;
        for (uint32_t i = 0; i < n; i++)
            if (!lval_eq(x.u.l->items[i], y.u.l->items[i]))
                return lval_order(op, x.u.l->items[i], y.u.l->items[i], ret);
        x = lv_int(x.u.l->n);
        y = lv_int(y.u.l->n);
    }
    int c = order3(x, y);
    if (c == ORDER_NONE)
        return LVE_TYPE;
    switch (op) {
    case LV_LT: *ret = c == -1; break;
    case LV_GT: *ret = c == 1; break;
    case LV_LE: *ret = c == -1 || c == 0; break;
    case LV_GE: *ret = c == 1 || c == 0; break;
    default: return LVE_TYPE;
    }
    return LVE_OK;
}

/* Number of UTF-8 characters (stray bytes count one each). */
static int64_t utf8_count(const char *s, uint32_t len)
{
    int64_t n = 0;
    for (uint32_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

int lval_length(lval v, int64_t *ret)
{
    switch ((lv_type)v.t) {
    case LV_STR: *ret = utf8_count(v.u.s, v.len); return 0;
    case LV_LIST: *ret = v.u.l->n; return 0;
    case LV_GUESTS: *ret = v.u.g->n; return 0;
    case LV_MAPV: *ret = (int64_t)v.u.mv->u.c.n; return 0;
    default: return -1;
    }
}

int lval_to_int(lval v, int64_t *ret)
{
    switch ((lv_type)v.t) {
    case LV_BOOL:
    case LV_INT: *ret = as_int(v); return LVE_OK;
    case LV_REAL: {
        double t = trunc(v.u.r);
        if (!isfinite(t))
            return LVE_VALUE;
        if (t >= 9223372036854775808.0 || t < -9223372036854775808.0)
            return LVE_OVERFLOW;
        *ret = (int64_t)t;
        return LVE_OK;
    }
    case LV_STR: {
        char buf[64];
        if (v.len >= sizeof(buf))
            return LVE_VALUE;
        memcpy(buf, v.u.s, v.len);
        buf[v.len] = '\0';
        mom_value tmp = { .type = MOM_VALUE_STRING };
        tmp.u.s.ptr = buf;
        tmp.u.s.len = v.len;
        int r = value_to_int(&tmp, ret);
        return r == 0 ? LVE_OK : r == -ERANGE ? LVE_OVERFLOW : LVE_VALUE;
    }
    default: return LVE_TYPE;
    }
}

int lval_abs(lval v, lval *ret)
{
    if (is_intlike(v)) {
        int64_t i = as_int(v);
        if (i == INT64_MIN)
            return LVE_OVERFLOW;
        *ret = lv_int(i < 0 ? -i : i);
        return LVE_OK;
    }
    if (v.t == LV_REAL) {
        *ret = lv_real(fabs(v.u.r));
        return LVE_OK;
    }
    return LVE_TYPE;
}

const char *lval_type_name(lval v)
{
    switch ((lv_type)v.t) {
    case LV_NONE: return "NoneType";
    case LV_BOOL: return "bool";
    case LV_INT: return "int";
    case LV_REAL: return "float";
    case LV_STR: return "str";
    case LV_LIST: return "list";
    case LV_ENTITY: return "Entity";
    case LV_GUESTS: return "Guests";
    case LV_IOREC: return "IoTune";
    case LV_IOLIM: return "IoTuneLimits";
    case LV_MAPV: return "dict";
    case LV_BUILTIN: return "builtin_function";
    case LV_METHOD:
    case LV_SETTER: return "method";
    }
    return "value";
}

/* ---- text ----------------------------------------------------------------- */

/* Length of the UTF-8 sequence at s (0 when invalid) and its code point. */
static int utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
    unsigned char c = s[0];
    int n;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2;
        v = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        v = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)n > avail)
        return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000) ||
        v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

/* Python's repr of a str, from UTF-8 bytes. */
static void repr_string(sbuf *b, const char *s, size_t len)
{
    bool has_sq = memchr(s, '\'', len) != NULL, has_dq = memchr(s, '"', len) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    sbuf_put(b, &q, 1);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        char esc[16];
        if (c == '\\' || c == (unsigned char)q) {
            esc[0] = '\\';
            esc[1] = (char)c;
            sbuf_put(b, esc, 2);
            i++;
        } else if (c == '\n') {
            sbuf_put(b, "\\n", 2);
            i++;
        } else if (c == '\r') {
            sbuf_put(b, "\\r", 2);
            i++;
        } else if (c == '\t') {
            sbuf_put(b, "\\t", 2);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            snprintf(esc, sizeof(esc), "\\x%02x", c);
            sbuf_puts(b, esc);
            i++;
        } else if (c < 0x80) {
            sbuf_put(b, (const char *)&u[i], 1);
            i++;
        } else {
            uint32_t cp;
            int n = utf8_decode(u + i, len - i, &cp);
            if (n == 0) {
                snprintf(esc, sizeof(esc), "\\x%02x", c);
                sbuf_puts(b, esc);
                i++;
            } else if (cp <= 0xA0 || cp == 0xAD) {
                snprintf(esc, sizeof(esc), "\\x%02x", cp);
                sbuf_puts(b, esc);
                i += (size_t)n;
            } else {
                sbuf_put(b, (const char *)&u[i], (size_t)n);
                i += (size_t)n;
            }
        }
    }
    sbuf_put(b, &q, 1);
}

static void repr_real(sbuf *b, double r)
{
    char buf[40];
    value_format_real(r, buf, sizeof(buf), true);
    sbuf_puts(b, buf);
}

/* Python repr of a mom_value (dicts for maps). */
static void repr_value(sbuf *b, const mom_value *v)
{
    if (!v) {
        sbuf_puts(b, "None");
        return;
    }
    switch ((mom_value_type)v->type) {
    case MOM_VALUE_NONE: sbuf_puts(b, "None"); break;
    case MOM_VALUE_BOOL: sbuf_puts(b, v->u.b ? "True" : "False"); break;
    case MOM_VALUE_INT: sbuf_printf(b, "%" PRId64, v->u.i); break;
    case MOM_VALUE_REAL: repr_real(b, v->u.r); break;
    case MOM_VALUE_STRING: repr_string(b, v->u.s.ptr, v->u.s.len); break;
    case MOM_VALUE_LIST:
    case MOM_VALUE_MAP: {
        bool map = v->type == MOM_VALUE_MAP;
        sbuf_puts(b, map ? "{" : "[");
        for (size_t i = 0; i < v->u.c.n; i++) {
            if (i)
                sbuf_puts(b, ", ");
            if (map) {
                repr_string(b, v->u.c.keys[i], strlen(v->u.c.keys[i]));
                sbuf_puts(b, ": ");
            }
            repr_value(b, v->u.c.items[i]);
        }
        sbuf_puts(b, map ? "}" : "]");
        break;
    }
    }
}

static const char *entity_name(const rt_entity *e)
{
    return e && e->se && e->se->name ? e->se->name : "?";
}

static void repr_limits(sbuf *b, const iorec *r, int row)
{
    sbuf_puts(b, "{");
    bool first = true;
    for (int i = 0; i < 6; i++) {
        if (!(r->mask[row] & IOM_HAS(i)))
            continue;
        if (!first)
            sbuf_puts(b, ", ");
        first = false;
        sbuf_printf(b, "'%s': ", ast_io_limit_names[i]);
        lval_repr(b, iorec_lim(r, row, i));
    }
    sbuf_puts(b, "}");
}

void lval_repr(sbuf *b, lval v)
{
    switch ((lv_type)v.t) {
    case LV_NONE: sbuf_puts(b, "None"); break;
    case LV_BOOL: sbuf_puts(b, v.u.b ? "True" : "False"); break;
    case LV_INT: sbuf_printf(b, "%" PRId64, v.u.i); break;
    case LV_REAL: repr_real(b, v.u.r); break;
    case LV_STR: repr_string(b, v.u.s, v.len); break;
    case LV_LIST:
        sbuf_puts(b, "[");
        for (uint32_t i = 0; i < v.u.l->n; i++) {
            if (i)
                sbuf_puts(b, ", ");
            lval_repr(b, v.u.l->items[i]);
        }
        sbuf_puts(b, "]");
        break;
    case LV_ENTITY: sbuf_printf(b, "<Entity '%s'>", entity_name(v.u.e)); break;
    case LV_GUESTS:
        sbuf_puts(b, "[");
        for (uint32_t i = 0; i < v.u.g->n; i++)
            sbuf_printf(b, "%s<Entity '%s'>", i ? ", " : "", entity_name(&v.u.g->items[i]));
        sbuf_puts(b, "]");
        break;
    case LV_IOREC:
        sbuf_puts(b, "<IoTune ");
        lval_repr(b, v.u.rec->name);
        sbuf_puts(b, ">");
        break;
    case LV_IOLIM: repr_limits(b, v.u.rec, v.sub); break;
    case LV_MAPV: repr_value(b, v.u.mv); break;
    case LV_BUILTIN:
        sbuf_puts(b, v.sub == LV_FN_ABS ? "<built-in function abs>" : "<function debug>");
        break;
    case LV_METHOD: sbuf_printf(b, "<bound method of Entity '%s'>", entity_name(v.u.e)); break;
    case LV_SETTER: sbuf_puts(b, "<bound method of IoTune>"); break;
    }
}

void lval_str(sbuf *b, lval v)
{
    if (v.t == LV_STR)
        sbuf_put(b, v.u.s, v.len);
    else
        lval_repr(b, v);
}

/* ---- conversions ---------------------------------------------------------- */

static mom_value *limits_to_value(const iorec *r, int row)
{
    mom_value *m = value_new_map();
    for (int i = 0; m && i < 6; i++) {
        if (!(r->mask[row] & IOM_HAS(i)))
            continue;
        mom_value *item = lval_to_value(iorec_lim(r, row, i));
        if (!item || value_map_set(m, ast_io_limit_names[i], item) < 0) {
            mom_value_unref(m);
            return NULL;
        }
    }
    return m;
}

mom_value *lval_to_value(lval v)
{
    switch ((lv_type)v.t) {
    case LV_NONE: return value_new_none();
    case LV_BOOL: return value_new_bool(v.u.b);
    case LV_INT: return value_new_int(v.u.i);
    case LV_REAL: return value_new_real(v.u.r);
    case LV_STR: return value_new_stringn(v.u.s, v.len);
    case LV_ENTITY: return value_new_string(entity_name(v.u.e));
    case LV_MAPV: return mom_value_ref(v.u.mv);
    case LV_LIST:
    case LV_GUESTS: {
        mom_value *l = value_new_list();
        uint32_t n = v.t == LV_LIST ? v.u.l->n : v.u.g->n;
        for (uint32_t i = 0; l && i < n; i++) {
            mom_value *item = v.t == LV_LIST ? lval_to_value(v.u.l->items[i])
                                             : value_new_string(entity_name(&v.u.g->items[i]));
            if (!item || value_list_append(l, item) < 0) {
                mom_value_unref(l);
                return NULL;
            }
        }
        return l;
    }
    case LV_IOLIM: return limits_to_value(v.u.rec, v.sub);
    case LV_IOREC: {
        static const char *const sets[3] = { "guaranteed", "maximum", "current" };
        mom_value *m = value_new_map();
        if (!m)
            return NULL;
        int r = value_map_set(m, "name", lval_to_value(v.u.rec->name));
        if (r == 0)
            r = value_map_set(m, "path", lval_to_value(v.u.rec->path));
        for (int s = 0; r == 0 && s < 3; s++)
            r = value_map_set(m, sets[s], limits_to_value(v.u.rec, IOSET_ROW(s)));
        if (r < 0) {
            mom_value_unref(m);
            return NULL;
        }
        return m;
    }
    default: {
        sbuf b = { 0 };
        lval_repr(&b, v);
        mom_value *s = b.failed ? NULL : value_new_string(b.buf ? b.buf : "");
        mom_free(b.buf);
        return s;
    }
    }
}

int lval_from_value(struct arena *a, const mom_value *v, lval *ret)
{
    if (!v) {
        *ret = lv_none();
        return 0;
    }
    switch ((mom_value_type)v->type) {
    case MOM_VALUE_NONE: *ret = lv_none(); return 0;
    case MOM_VALUE_BOOL: *ret = lv_bool(v->u.b); return 0;
    case MOM_VALUE_INT: *ret = lv_int(v->u.i); return 0;
    case MOM_VALUE_REAL: *ret = lv_real(v->u.r); return 0;
    case MOM_VALUE_STRING:
        *ret = lv_str(v->u.s.ptr, (uint32_t)v->u.s.len);
        ret->flags = LV_F_CSTR;
        return 0;
    case MOM_VALUE_MAP:
        ret->t = LV_MAPV;
        ret->u.mv = v;
        return 0;
    case MOM_VALUE_LIST: {
        llist *l = arena_alloc(a, sizeof(*l) + v->u.c.n * sizeof(lval));
        if (!l)
            return -ENOMEM;
        l->n = (uint32_t)v->u.c.n;
        for (size_t i = 0; i < v->u.c.n; i++) {
            int r = lval_from_value(a, v->u.c.items[i], &l->items[i]);
            if (r < 0)
                return r;
        }
        ret->t = LV_LIST;
        ret->u.l = l;
        return 0;
    }
    }
    *ret = lv_none();
    return 0;
}

mom_value_type lval_to_type(lval v)
{
    switch ((lv_type)v.t) {
    case LV_NONE: return MOM_VALUE_NONE;
    case LV_BOOL: return MOM_VALUE_BOOL;
    case LV_INT: return MOM_VALUE_INT;
    case LV_REAL: return MOM_VALUE_REAL;
    case LV_LIST:
    case LV_GUESTS: return MOM_VALUE_LIST;
    case LV_MAPV: return (mom_value_type)v.u.mv->type;
    case LV_IOREC:
    case LV_IOLIM: return MOM_VALUE_MAP;
    default: return MOM_VALUE_STRING;
    }
}

bool lval_eq_value(lval a, const mom_value *v)
{
    switch ((mom_value_type)v->type) {
    case MOM_VALUE_NONE: return a.t == LV_NONE;
    case MOM_VALUE_BOOL: return is_num(a) && cmp_num(a, lv_bool(v->u.b)) == 0;
    case MOM_VALUE_INT: return is_num(a) && cmp_num(a, lv_int(v->u.i)) == 0;
    case MOM_VALUE_REAL: return is_num(a) && cmp_num(a, lv_real(v->u.r)) == 0;
    case MOM_VALUE_STRING:
        return a.t == LV_STR && a.len == v->u.s.len && memcmp(a.u.s, v->u.s.ptr, a.len) == 0;
    case MOM_VALUE_LIST:
        if (a.t != LV_LIST || a.u.l->n != v->u.c.n)
            return false;
        for (uint32_t i = 0; i < a.u.l->n; i++)
            if (!lval_eq_value(a.u.l->items[i], v->u.c.items[i]))
                return false;
        return true;
    case MOM_VALUE_MAP: return a.t == LV_MAPV && value_equal(a.u.mv, v);
    }
    return false;
}
