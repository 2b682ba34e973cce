/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/value.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/sbuf.h"

static mom_value *value_alloc(mom_value_type t)
{
    mom_value *v = mom_calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    atomic_init(&v->refs, 1);
    v->type = (uint8_t)t;
    return v;
}

mom_value *value_new_none(void)
{
    return value_alloc(MOM_VALUE_NONE);
}

mom_value *value_new_bool(bool b)
{
    mom_value *v = value_alloc(MOM_VALUE_BOOL);
    if (v)
        v->u.b = b;
    return v;
}

mom_value *value_new_int(int64_t i)
{
    mom_value *v = value_alloc(MOM_VALUE_INT);
    if (v)
        v->u.i = i;
    return v;
}

mom_value *value_new_real(double r)
{
    mom_value *v = value_alloc(MOM_VALUE_REAL);
    if (v)
        v->u.r = r;
    return v;
}

mom_value *value_new_stringn(const char *s, size_t len)
{
    mom_value *v = value_alloc(MOM_VALUE_STRING);
    if (!v)
        return NULL;
    v->u.s.ptr = mom_strndup(s ? s : "", s ? len : 0);
    if (!v->u.s.ptr) {
        mom_free(v);
        return NULL;
    }
    v->u.s.len = s ? len : 0;
    return v;
}

mom_value *value_new_string(const char *s)
{
    return value_new_stringn(s, s ? strlen(s) : 0);
}

mom_value *value_new_list(void)
{
    return value_alloc(MOM_VALUE_LIST);
}

mom_value *value_new_map(void)
{
    return value_alloc(MOM_VALUE_MAP);
}

/* Keys shared by maps (value_map_new_like): the key pointers, then their
 * text, in one counted block that no map modifies.  A map whose keys are
 * shared (VALUE_F_SHARED_KEYS) points u.c.keys at `keys`. */
typedef struct keyblock {
    atomic_int refs;
    size_t n;
    char *keys[];
} keyblock;

static keyblock *keyblock_of(const mom_value *map)
{
    return (keyblock *)((char *)map->u.c.keys - offsetof(keyblock, keys));
}

static void keyblock_unref(keyblock *kb)
{
    if (atomic_fetch_sub_explicit(&kb->refs, 1, memory_order_acq_rel) == 1)
        mom_free(kb);
}

/* Give a map with shared keys its own copy of them, with room for cap. */
static int unshare_keys(mom_value *map, size_t cap)
{
    keyblock *kb = keyblock_of(map);
    char **keys = mom_calloc(cap, sizeof(*keys));
    if (!keys)
        return -ENOMEM;
    for (size_t i = 0; i < map->u.c.n; i++) {
        if (!(keys[i] = mom_strdup(kb->keys[i]))) {
            while (i--)
                mom_free(keys[i]);
            mom_free(keys);
            return -ENOMEM;
        }
    }
    map->u.c.keys = keys;
    map->flags &= (uint8_t)~VALUE_F_SHARED_KEYS;
    keyblock_unref(kb);
    return 0;
}

static int container_grow(mom_value *c)
{
    if (c->u.c.n < c->u.c.cap)
        return 0;
    size_t cap = c->u.c.cap ? c->u.c.cap * 2 : 4;
    if ((c->flags & VALUE_F_SHARED_KEYS) && unshare_keys(c, cap) < 0)
        return -ENOMEM;
    mom_value **items = mom_realloc(c->u.c.items, cap * sizeof(*items));
    if (!items)
        return -ENOMEM;
    c->u.c.items = items;
    if (c->type == MOM_VALUE_MAP) {
        char **keys = mom_realloc(c->u.c.keys, cap * sizeof(*keys));
        if (!keys)
            return -ENOMEM;
        c->u.c.keys = keys;
    }
    c->u.c.cap = cap;
    return 0;
}

mom_value *value_map_new_like(const mom_value *map)
{
    if (!map || map->type != MOM_VALUE_MAP)
        return NULL;
    size_t n = map->u.c.n;
    keyblock *kb;
    if (map->flags & VALUE_F_SHARED_KEYS) {
        kb = keyblock_of(map);
        atomic_fetch_add_explicit(&kb->refs, 1, memory_order_relaxed);
    } else {
        size_t text = 0;
        for (size_t i = 0; i < n; i++)
            text += strlen(map->u.c.keys[i]) + 1;
        if (!(kb = mom_malloc(sizeof(*kb) + n * sizeof(char *) + text)))
            return NULL;
        atomic_init(&kb->refs, 1);
        kb->n = n;
        char *w = (char *)&kb->keys[n];
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(map->u.c.keys[i]) + 1;
            kb->keys[i] = memcpy(w, map->u.c.keys[i], l);
            w += l;
        }
    }
    mom_value *m = value_alloc(MOM_VALUE_MAP);
    mom_value **items = mom_malloc((n ? n : 1) * sizeof(*items));
    if (!m || !items) {
        mom_free(m);
        mom_free(items);
        keyblock_unref(kb);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = mom_value_ref(map->u.c.items[i]);
    m->flags = VALUE_F_SHARED_KEYS;
    m->u.c.items = items;
    m->u.c.keys = kb->keys;
    m->u.c.n = m->u.c.cap = n;
    return m;
}

void value_map_set_at(mom_value *map, size_t i, mom_value *item)
{
    mom_value_unref(map->u.c.items[i]);
    map->u.c.items[i] = item;
}

int value_list_append(mom_value *list, mom_value *item)
{
    if (!list || list->type != MOM_VALUE_LIST || !item) {
        mom_value_unref(item);
        return -EINVAL;
    }
    if (container_grow(list) < 0) {
        mom_value_unref(item);
        return -ENOMEM;
    }
    list->u.c.items[list->u.c.n++] = item;
    return 0;
}

int value_map_set(mom_value *map, const char *key, mom_value *item)
{
    if (!map || map->type != MOM_VALUE_MAP || !key || !item) {
        mom_value_unref(item);
        return -EINVAL;
    }
    for (size_t i = 0; i < map->u.c.n; i++) {
        if (strcmp(map->u.c.keys[i], key) == 0) {
            mom_value_unref(map->u.c.items[i]);
            map->u.c.items[i] = item;
            return 0;
        }
    }
    char *k = mom_strdup(key);
    if (!k || container_grow(map) < 0) {
        mom_free(k);
        mom_value_unref(item);
        return -ENOMEM;
    }
    map->u.c.keys[map->u.c.n] = k;
    map->u.c.items[map->u.c.n++] = item;
    return 0;
}

mom_value *value_map_get(const mom_value *map, const char *key)
{
    if (!map || map->type != MOM_VALUE_MAP)
        return NULL;
    for (size_t i = 0; i < map->u.c.n; i++)
        if (strcmp(map->u.c.keys[i], key) == 0)
            return map->u.c.items[i];
    return NULL;
}

mom_value *value_copy(const mom_value *v)
{
    if (!v)
        return NULL;
    switch ((mom_value_type)v->type) {
    case MOM_VALUE_NONE: return value_new_none();
    case MOM_VALUE_BOOL: return value_new_bool(v->u.b);
    case MOM_VALUE_INT: return value_new_int(v->u.i);
    case MOM_VALUE_REAL: return value_new_real(v->u.r);
    case MOM_VALUE_STRING: return value_new_stringn(v->u.s.ptr, v->u.s.len);
    case MOM_VALUE_LIST:
    case MOM_VALUE_MAP: {
        mom_value *c = v->type == MOM_VALUE_LIST ? value_new_list() : value_new_map();
        if (!c)
            return NULL;
        for (size_t i = 0; i < v->u.c.n; i++) {
            mom_value *item = value_copy(v->u.c.items[i]);
            int r = item ? (v->type == MOM_VALUE_LIST ? value_list_append(c, item)
                                                      : value_map_set(c, v->u.c.keys[i], item))
                         : -ENOMEM;
            if (r < 0) {
                mom_value_unref(c);
                return NULL;
            }
        }
        return c;
    }
    }
    return NULL;
}

static bool is_number(const mom_value *v)
{
    return v->type == MOM_VALUE_INT || v->type == MOM_VALUE_REAL || v->type == MOM_VALUE_BOOL;
}

/* Exact comparison of an int64 with a double (no rounding of the int). */
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

bool value_same(const mom_value *a, const mom_value *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->type != b->type)
        return false;
    switch ((mom_value_type)a->type) {
    case MOM_VALUE_NONE: return true;
    case MOM_VALUE_BOOL: return a->u.b == b->u.b;
    case MOM_VALUE_INT: return a->u.i == b->u.i;
    case MOM_VALUE_REAL: return memcmp(&a->u.r, &b->u.r, sizeof(a->u.r)) == 0;
    case MOM_VALUE_STRING:
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
    case MOM_VALUE_LIST:
    case MOM_VALUE_MAP:
        if (a->u.c.n != b->u.c.n)
            return false;
        for (size_t i = 0; i < a->u.c.n; i++) {
            if (a->type == MOM_VALUE_MAP && strcmp(a->u.c.keys[i], b->u.c.keys[i]) != 0)
                return false;
            if (!value_same(a->u.c.items[i], b->u.c.items[i]))
                return false;
        }
        return true;
    default: return false;
    }
}

bool value_equal(const mom_value *a, const mom_value *b)
{
    if (a == b)
        return true;
    if (!a || !b)
        return false;
    if (is_number(a) && is_number(b)) {
        if (a->type == MOM_VALUE_REAL && b->type == MOM_VALUE_REAL)
            return a->u.r == b->u.r;
        int64_t ai = a->type == MOM_VALUE_BOOL ? a->u.b : a->u.i;
        int64_t bi = b->type == MOM_VALUE_BOOL ? b->u.b : b->u.i;
        if (a->type == MOM_VALUE_REAL)
            return cmp_int_real(bi, a->u.r) == 0;
        if (b->type == MOM_VALUE_REAL)
            return cmp_int_real(ai, b->u.r) == 0;
        return ai == bi;
    }
    if (a->type != b->type)
        return false;
    switch ((mom_value_type)a->type) {
    case MOM_VALUE_NONE: return true;
    case MOM_VALUE_STRING:
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
    case MOM_VALUE_LIST:
        if (a->u.c.n != b->u.c.n)
            return false;
        for (size_t i = 0; i < a->u.c.n; i++)
            if (!value_equal(a->u.c.items[i], b->u.c.items[i]))
                return false;
        return true;
    case MOM_VALUE_MAP:
        if (a->u.c.n != b->u.c.n)
            return false;
        for (size_t i = 0; i < a->u.c.n; i++) {
            const mom_value *o = value_map_get(b, a->u.c.keys[i]);
            if (!o || !value_equal(a->u.c.items[i], o))
                return false;
        }
        return true;
    default: return false;
    }
}

int value_to_int(const mom_value *v, int64_t *ret)
{
    if (!v)
        return -EINVAL;
    switch ((mom_value_type)v->type) {
    case MOM_VALUE_BOOL: *ret = v->u.b; return 0;
    case MOM_VALUE_INT: *ret = v->u.i; return 0;
    case MOM_VALUE_REAL: {
        double t = trunc(v->u.r);
        if (!isfinite(t))
            return -EINVAL;
        if (t >= 9223372036854775808.0 || t < -9223372036854775808.0)
            return -ERANGE;
        *ret = (int64_t)t;
        return 0;
    }
    case MOM_VALUE_STRING: {
        const char *s = v->u.s.ptr;
        while (isspace((unsigned char)*s))
            s++;
        const char *p = s;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        errno = 0;
        char *end;
        long long n = strtoll(s, &end, 10);
        if (errno == ERANGE)
            return -ERANGE;
        while (isspace((unsigned char)*end))
            end++;
        if (*end)
            return -EINVAL;
        *ret = n;
        return 0;
    }
    default: return -EINVAL;
    }
}

void value_format_real(double r, char *buf, size_t size, bool python_style)
{
    if (isnan(r)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(r)) {
        snprintf(buf, size, r < 0 ? "-inf" : "inf");
        return;
    }
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, r);
        if (strtod(tmp, NULL) == r)
            break;
    }
    if (!python_style) {
        snprintf(buf, size, "%.*g", prec, r);
        return;
    }
    /* Python repr: decimal exponent from the shortest digits. */
    int exp10 = atoi(strchr(tmp, 'e') + 1);
    if (exp10 < -4 || exp10 >= 16) {
        /* mantissa digits without trailing zeros, exponent at least 2 digits */
        char mant[32];
        size_t mlen = (size_t)(strchr(tmp, 'e') - tmp);
        memcpy(mant, tmp, mlen);
        mant[mlen] = '\0';
        if (strchr(mant, '.')) {
            char *e = mant + strlen(mant) - 1;
            while (*e == '0')
                *e-- = '\0';
            if (*e == '.')
                *e = '\0';
        }
        snprintf(buf, size, "%se%c%02d", mant, exp10 < 0 ? '-' : '+', abs(exp10));
        return;
    }
    int decimals = prec - 1 - exp10;
    if (decimals < 1)
        decimals = 1;
    snprintf(buf, size, "%.*f", decimals, r);
    /* drop trailing zeros beyond the first decimal */
    char *dot = strchr(buf, '.');
    if (dot) {
        char *e = buf + strlen(buf) - 1;
        while (e > dot + 1 && *e == '0')
            *e-- = '\0';
    }
}

/* ---- JSON rendering ---- */

static void sb_json_string(sbuf *b, const char *s, size_t n)
{
    sbuf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sbuf_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            sbuf_puts(b, esc);
        } else {
            sbuf_put(b, (const char *)&s[i], 1);
        }
    }
    sbuf_put(b, "\"", 1);
}

static void sb_value(sbuf *b, const mom_value *v)
{
    char num[48];
    if (!v) {
        sbuf_puts(b, "null");
        return;
    }
    switch ((mom_value_type)v->type) {
    case MOM_VALUE_NONE: sbuf_puts(b, "null"); break;
    case MOM_VALUE_BOOL: sbuf_puts(b, v->u.b ? "true" : "false"); break;
    case MOM_VALUE_INT:
        snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
        sbuf_puts(b, num);
        break;
    case MOM_VALUE_REAL:
        if (!isfinite(v->u.r)) {
            sbuf_puts(b, "null");
        } else {
            value_format_real(v->u.r, num, sizeof(num), true);
            sbuf_puts(b, num);
        }
        break;
    case MOM_VALUE_STRING: sb_json_string(b, v->u.s.ptr, v->u.s.len); break;
    case MOM_VALUE_LIST:
        sbuf_put(b, "[", 1);
        for (size_t i = 0; i < v->u.c.n; i++) {
            if (i)
                sbuf_puts(b, ", ");
            sb_value(b, v->u.c.items[i]);
        }
        sbuf_put(b, "]", 1);
        break;
    case MOM_VALUE_MAP:
        sbuf_put(b, "{", 1);
        for (size_t i = 0; i < v->u.c.n; i++) {
            if (i)
                sbuf_puts(b, ", ");
            sb_json_string(b, v->u.c.keys[i], strlen(v->u.c.keys[i]));
            sbuf_puts(b, ": ");
            sb_value(b, v->u.c.items[i]);
        }
        sbuf_put(b, "}", 1);
        break;
    }
}

static void sb_python(sbuf *b, const mom_value *v)
{
    char num[48];
    if (!v || v->type == MOM_VALUE_NONE) {
        sbuf_puts(b, "None");
        return;
    }
    switch ((mom_value_type)v->type) {
    case MOM_VALUE_BOOL: sbuf_puts(b, v->u.b ? "True" : "False"); break;
    case MOM_VALUE_INT:
        snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
        sbuf_puts(b, num);
        break;
    case MOM_VALUE_REAL:
        value_format_real(v->u.r, num, sizeof(num), true);
        sbuf_puts(b, num);
        break;
    case MOM_VALUE_STRING: {
        /* Python picks double quotes only for text with ' and no " */
        bool dq = memchr(v->u.s.ptr, '\'', v->u.s.len) && !memchr(v->u.s.ptr, '"', v->u.s.len);
        char q = dq ? '"' : '\'';
        sbuf_put(b, &q, 1);
        for (size_t i = 0; i < v->u.s.len; i++) {
            unsigned char c = (unsigned char)v->u.s.ptr[i];
            if (c == '\\' || c == (unsigned char)q) {
                sbuf_put(b, "\\", 1);
                sbuf_put(b, (const char *)&c, 1);
            } else if (c == '\n') {
                sbuf_puts(b, "\\n");
            } else if (c == '\t') {
                sbuf_puts(b, "\\t");
            } else if (c == '\r') {
                sbuf_puts(b, "\\r");
            } else if (c < 0x20 || c == 0x7f) {
                snprintf(num, sizeof(num), "\\x%02x", c);
                sbuf_puts(b, num);
            } else {
                sbuf_put(b, (const char *)&c, 1);
            }
        }
        sbuf_put(b, &q, 1);
        break;
    }
    case MOM_VALUE_LIST:
        sbuf_put(b, "[", 1);
        for (size_t i = 0; i < v->u.c.n; i++) {
            if (i)
                sbuf_puts(b, ", ");
            sb_python(b, v->u.c.items[i]);
        }
        sbuf_put(b, "]", 1);
        break;
    case MOM_VALUE_MAP:
        sbuf_put(b, "{", 1);
        for (size_t i = 0; i < v->u.c.n; i++) {
            if (i)
                sbuf_puts(b, ", ");
            mom_value key = {.type = MOM_VALUE_STRING};
            key.u.s.ptr = v->u.c.keys[i];
            key.u.s.len = strlen(v->u.c.keys[i]);
            sb_python(b, &key);
            sbuf_puts(b, ": ");
            sb_python(b, v->u.c.items[i]);
        }
        sbuf_put(b, "}", 1);
        break;
    default: break;
    }
}

char *value_to_python(const mom_value *v)
{
    sbuf b = {0};
    sb_python(&b, v);
    return sbuf_take(&b);
}

char *value_to_json(const mom_value *v)
{
    sbuf b = {0};
    sb_value(&b, v);
    return sbuf_take(&b);
}

/* ---- public accessors ---- */

MOM_API mom_value_type mom_value_type_of(const mom_value *v)
{
    return v ? (mom_value_type)v->type : MOM_VALUE_NONE;
}

MOM_API bool mom_value_bool(const mom_value *v)
{
    if (!v)
        return false;
    switch ((mom_value_type)v->type) {
    case MOM_VALUE_BOOL: return v->u.b;
    case MOM_VALUE_INT: return v->u.i != 0;
    case MOM_VALUE_REAL: return v->u.r != 0.0;
    case MOM_VALUE_STRING: return v->u.s.len != 0;
    case MOM_VALUE_LIST:
    case MOM_VALUE_MAP: return v->u.c.n != 0;
    default: return false;
    }
}

MOM_API int64_t mom_value_int(const mom_value *v)
{
    if (!v)
        return 0;
    if (v->type == MOM_VALUE_INT)
        return v->u.i;
    if (v->type == MOM_VALUE_BOOL)
        return v->u.b;
    if (v->type == MOM_VALUE_REAL && isfinite(v->u.r) && fabs(v->u.r) < 9.2e18)
        return (int64_t)v->u.r;
    return 0;
}

MOM_API double mom_value_real(const mom_value *v)
{
    if (!v)
        return 0.0;
    if (v->type == MOM_VALUE_REAL)
        return v->u.r;
    if (v->type == MOM_VALUE_INT)
        return (double)v->u.i;
    if (v->type == MOM_VALUE_BOOL)
        return v->u.b;
    return 0.0;
}

MOM_API const char *mom_value_string(const mom_value *v)
{
    return v && v->type == MOM_VALUE_STRING ? v->u.s.ptr : NULL;
}

MOM_API size_t mom_value_len(const mom_value *v)
{
    if (!v)
        return 0;
    if (v->type == MOM_VALUE_STRING)
        return v->u.s.len;
    if (v->type == MOM_VALUE_LIST || v->type == MOM_VALUE_MAP)
        return v->u.c.n;
    return 0;
}

MOM_API const mom_value *mom_value_at(const mom_value *v, size_t i)
{
    if (!v || (v->type != MOM_VALUE_LIST && v->type != MOM_VALUE_MAP) || i >= v->u.c.n)
        return NULL;
    return v->u.c.items[i];
}

MOM_API const char *mom_value_key_at(const mom_value *v, size_t i)
{
    if (!v || v->type != MOM_VALUE_MAP || i >= v->u.c.n)
        return NULL;
    return v->u.c.keys[i];
}

MOM_API const mom_value *mom_value_get(const mom_value *v, const char *key)
{
    return value_map_get(v, key);
}

MOM_API mom_value *mom_value_ref(const mom_value *v)
{
    mom_value *m = (mom_value *)v;
    if (m)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

MOM_API void mom_value_unref(mom_value *v)
{
    if (!v)
        return;
    if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (v->type == MOM_VALUE_STRING) {
        mom_free(v->u.s.ptr);
    } else if (v->type == MOM_VALUE_LIST || v->type == MOM_VALUE_MAP) {
        bool shared = v->flags & VALUE_F_SHARED_KEYS;
        for (size_t i = 0; i < v->u.c.n; i++) {
            mom_value_unref(v->u.c.items[i]);
            if (v->type == MOM_VALUE_MAP && !shared)
                mom_free(v->u.c.keys[i]);
        }
        mom_free(v->u.c.items);
        if (shared)
            keyblock_unref(keyblock_of(v));
        else
            mom_free(v->u.c.keys);
    }
    mom_free(v);
}
