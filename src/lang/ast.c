/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Arena, symbol table and node helpers shared by the policy front ends and
 * the evaluator.
 */
#include "lang/ast.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"

struct arena_block {
    arena_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

const char *const ast_io_limit_names[6] = {
    "total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
    "total_iops_sec",  "read_iops_sec",  "write_iops_sec",
};

static const char *const setter_names[6] = {
    "setTotalBytesSec", "setReadBytesSec", "setWriteBytesSec",
    "setTotalIopsSec",  "setReadIopsSec",  "setWriteIopsSec",
};

void arena_init(arena *a, size_t block_size)
{
    memset(a, 0, sizeof(*a));
    a->block_size = block_size ? block_size : 8192;
}

/* Start a new block big enough for n bytes. */
static arena_block *arena_grow(arena *a, size_t n)
{
    size_t size = n > a->block_size ? n : a->block_size;
    if (a->limit && a->total + size > a->limit)
        return NULL;
    arena_block *b = mom_malloc(sizeof(*b) + size);
    if (!b)
        return NULL;
    b->size = size;
    b->used = 0;
    b->next = a->head;
    a->head = b;
    a->total += size;
    return b;
}

void *arena_alloc(arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        /* A large request gets its own block behind the current one, so
         * the current block's free space is not wasted. */
        if (b && n > a->block_size / 4) {
            if (a->limit && a->total + n > a->limit)
                return NULL;
            arena_block *big = mom_malloc(sizeof(*big) + n);
            if (!big)
                return NULL;
            big->size = big->used = n;
            big->next = b->next;
            b->next = big;
            a->total += n;
            return big->data;
        }
        b = arena_grow(a, n);
        if (!b)
            return NULL;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

void *arena_calloc(arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void arena_reset(arena *a)
{
    arena_block *keep = NULL;
    arena_block *b = a->head;
    /* Keep one ordinary block for the next round; free the rest. */
    while (b) {
        arena_block *next = b->next;
        if (!keep && b->size == a->block_size)
            keep = b;
        else
            mom_free(b);
        b = next;
    }
    a->head = keep;
    a->total = keep ? keep->size : 0;
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
}

void arena_free(arena *a)
{
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        mom_free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- symbols ------------------------------------------------------------ */

static uint32_t hash_name(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

void symtab_init(symtab *t, arena *ar)
{
    memset(t, 0, sizeof(*t));
    t->ar = ar;
}

void symtab_done(symtab *t)
{
    mom_free(t->names);
    mom_free(t->lens);
    mom_free(t->hash);
    memset(t, 0, sizeof(*t));
}

int symtab_find(const symtab *t, const char *name, size_t len)
{
    if (!t->hash_size)
        return -1;
    size_t mask = t->hash_size - 1;
    for (size_t i = hash_name(name, len) & mask;; i = (i + 1) & mask) {
        int32_t id = t->hash[i] - 1;
        if (id < 0)
            return -1;
        if (t->lens[id] == len && memcmp(t->names[id], name, len) == 0)
            return id;
    }
}

/* Rebuild the hash with room for twice the symbols. */
static int symtab_rehash(symtab *t, size_t size)
{
    int32_t *h = mom_calloc(size, sizeof(*h));
    if (!h)
        return -ENOMEM;
    for (size_t id = 0; id < t->n; id++) {
        size_t i = hash_name(t->names[id], t->lens[id]) & (size - 1);
        while (h[i])
            i = (i + 1) & (size - 1);
        h[i] = (int32_t)id + 1;
    }
    mom_free(t->hash);
    t->hash = h;
    t->hash_size = size;
    return 0;
}

int symtab_intern(symtab *t, const char *name, size_t len)
{
    int id = symtab_find(t, name, len);
    if (id >= 0)
        return id;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        const char **nn = mom_realloc(t->names, cap * sizeof(*nn));
        if (!nn)
            return -ENOMEM;
        t->names = nn;
        uint32_t *nl = mom_realloc(t->lens, cap * sizeof(*nl));
        if (!nl)
            return -ENOMEM;
        t->lens = nl;
        t->cap = cap;
    }
    if ((t->n + 1) * 2 > t->hash_size) {
        int r = symtab_rehash(t, t->hash_size ? t->hash_size * 2 : 128);
        if (r < 0)
            return r;
    }
    char *copy = arena_strndup(t->ar, name, len);
    if (!copy)
        return -ENOMEM;
    id = (int)t->n++;
    t->names[id] = copy;
    t->lens[id] = (uint32_t)len;
    size_t mask = t->hash_size - 1;
    size_t i = hash_name(name, len) & mask;
    while (t->hash[i])
        i = (i + 1) & mask;
    t->hash[i] = id + 1;
    return id;
}

/* ---- nodes -------------------------------------------------------------- */

node *ast_node_new(arena *a, node_kind kind, uint16_t file, uint32_t line, uint32_t col)
{
    node *n = arena_calloc(a, sizeof(*n));
    if (!n)
        return NULL;
    n->kind = (uint8_t)kind;
    n->file = file;
    n->line = line;
    n->col = col;
    n->sym = -1;
    n->base = -1;
    n->cache_id = -1;
    return n;
}

static bool name_is(const char *name, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(name, word, len) == 0;
}

int ast_attr_id(const char *name, size_t len)
{
    static const struct {
        const char *name;
        int id;
    } fixed[] = {
        { "Prop", ATTR_PROP },         { "Stat", ATTR_STAT },
        { "StatAvg", ATTR_STATAVG },   { "SetVar", ATTR_SETVAR },
        { "GetVar", ATTR_GETVAR },     { "Control", ATTR_CONTROL },
        { "GetControl", ATTR_GETCONTROL }, { "name", ATTR_NAME },
        { "path", ATTR_PATH },         { "guaranteed", ATTR_GUARANTEED },
        { "maximum", ATTR_MAXIMUM },   { "current", ATTR_CURRENT },
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (name_is(name, len, fixed[i].name))
            return fixed[i].id;
    for (int i = 0; i < 6; i++) {
        if (name_is(name, len, ast_io_limit_names[i]))
            return ATTR_LIMIT0 + i;
        if (name_is(name, len, setter_names[i]))
            return ATTR_SETTER0 + i;
    }
    return ATTR_FIELD;
}
