/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-entity policy memory, kept in a small hash table keyed by entity id.
 */
#include "lang/varstore.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"

static size_t hash_id(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

void varstore_init(varstore *vs)
{
    memset(vs, 0, sizeof(*vs));
}

static void entity_free(vs_entity *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++) {
        mom_value_unref(e->keys[i]);
        mom_value_unref(e->vals[i]);
    }
    mom_free(e->keys);
    mom_free(e->vals);
    mom_free(e->id);
    mom_free(e);
}

void varstore_done(varstore *vs)
{
    for (size_t i = 0; i < vs->n; i++)
        entity_free(vs->items[i]);
    mom_free(vs->items);
    mom_free(vs->hash);
    memset(vs, 0, sizeof(*vs));
}

/* Rebuild the hash for the current items with `size` buckets. */
static int rehash(varstore *vs, size_t size)
{
    size_t *h = mom_calloc(size, sizeof(*h));
    if (!h)
        return -ENOMEM;
    for (size_t i = 0; i < vs->n; i++) {
        size_t b = hash_id(vs->items[i]->id) & (size - 1);
        while (h[b])
            b = (b + 1) & (size - 1);
        h[b] = i + 1;
    }
    mom_free(vs->hash);
    vs->hash = h;
    vs->hash_size = size;
    return 0;
}

const vs_entity *varstore_find(const varstore *vs, const char *id)
{
    if (!vs || !vs->hash_size || !id)
        return NULL;
    size_t mask = vs->hash_size - 1;
    for (size_t b = hash_id(id) & mask; vs->hash[b]; b = (b + 1) & mask) {
        vs_entity *e = vs->items[vs->hash[b] - 1];
        if (strcmp(e->id, id) == 0)
            return e;
    }
    return NULL;
}

const mom_value *varstore_get(const vs_entity *e, lval key)
{
    for (size_t i = 0; e && i < e->n; i++)
        if (lval_eq_value(key, e->keys[i]))
            return e->vals[i];
    return NULL;
}

int varstore_put(varstore *vs, const char *id, mom_value *key, mom_value *val)
{
    int r = -ENOMEM;
    if (!key || !val)
        goto fail;
    if (!vs->hash_size && vs->n) {
        size_t size = 32;
        while (size < 2 * (vs->n + 1))
            size *= 2;
        if (rehash(vs, size) < 0)
            goto fail;
    }
    vs_entity *e = (vs_entity *)varstore_find(vs, id);
    if (!e) {
        if (vs->n == vs->cap) {
            size_t cap = vs->cap ? vs->cap * 2 : 16;
            vs_entity **items = mom_realloc(vs->items, cap * sizeof(*items));
            if (!items)
                goto fail;
            vs->items = items;
            vs->cap = cap;
        }
        if ((vs->n + 1) * 2 > vs->hash_size &&
            rehash(vs, vs->hash_size ? vs->hash_size * 2 : 32) < 0)
            goto fail;
        e = mom_calloc(1, sizeof(*e));
        if (!e || !(e->id = mom_strdup(id))) {
            mom_free(e);
            goto fail;
        }
        vs->items[vs->n++] = e;
        size_t mask = vs->hash_size - 1, b = hash_id(id) & mask;
        while (vs->hash[b])
            b = (b + 1) & mask;
        vs->hash[b] = vs->n;
    }
    for (size_t i = 0; i < e->n; i++) {
        if (value_equal(e->keys[i], key) && e->keys[i]->type == key->type) {
            mom_value_unref(e->vals[i]);
            e->vals[i] = val;
            mom_value_unref(key);
            return 0;
        }
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        mom_value **k = mom_realloc(e->keys, cap * sizeof(*k));
        if (!k)
            goto fail;
        e->keys = k;
        mom_value **v = mom_realloc(e->vals, cap * sizeof(*v));
        if (!v)
            goto fail;
        e->vals = v;
        e->cap = cap;
    }
    e->keys[e->n] = key;
    e->vals[e->n++] = val;
    return 0;
fail:
    mom_value_unref(key);
    mom_value_unref(val);
    return r;
}

/* Mark the stored entity with this id as still present. */
static void mark_seen(varstore *vs, const char *id)
{
    vs_entity *e = (vs_entity *)varstore_find(vs, id);
    if (e)
        e->seen = true;
}

int varstore_prune(varstore *vs, const snapshot *snap)
{
    if (!vs->n)
        return 0;
    for (size_t i = 0; i < vs->n; i++)
        vs->items[i]->seen = false;
    mark_seen(vs, varstore_entity_id(&snap->host));
    for (size_t i = 0; i < snap->n_guests; i++)
        mark_seen(vs, varstore_entity_id(&snap->guests[i]));
    size_t w = 0;
    for (size_t i = 0; i < vs->n; i++) {
        if (vs->items[i]->seen)
            vs->items[w++] = vs->items[i];
        else
            entity_free(vs->items[i]);
    }
    if (w == vs->n)
        return 0;
    vs->n = w;
    int r = rehash(vs, vs->hash_size);
    if (r < 0) {
        /* Without a valid hash nothing is found until a put rebuilds it. */
        mom_free(vs->hash);
        vs->hash = NULL;
        vs->hash_size = 0;
    }
    return r;
}
