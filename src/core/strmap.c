/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/strmap.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"

static char tomb_mark;
#define TOMB (&tomb_mark)

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

void strmap_init(strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void strmap_done(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] && m->keys[i] != TOMB)
            mom_free(m->keys[i]);
    mom_free(m->keys);
    mom_free(m->vals);
    memset(m, 0, sizeof(*m));
}

static size_t slot(const strmap *m, const char *key, int *found)
{
    size_t mask = m->cap - 1, at = hash(key) & mask, first_tomb = SIZE_MAX;
    for (;;) {
        char *k = m->keys[at];
        if (!k) {
            *found = 0;
            return first_tomb != SIZE_MAX ? first_tomb : at;
        }
        if (k == TOMB) {
            if (first_tomb == SIZE_MAX)
                first_tomb = at;
        } else if (strcmp(k, key) == 0) {
            *found = 1;
            return at;
        }
        at = (at + 1) & mask;
    }
}

void *strmap_get(const strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    int found;
    size_t at = slot(m, key, &found);
    return found ? m->vals[at] : NULL;
}

static int grow(strmap *m)
{
    size_t cap = 16; /* sized by live entries: deleted slots are dropped */
    while ((m->n + 1) * 4 > cap)
        cap *= 2;
    strmap nm = {0};
    nm.cap = cap;
    nm.keys = mom_calloc(cap, sizeof(char *));
    nm.vals = mom_calloc(cap, sizeof(void *));
    if (!nm.keys || !nm.vals) {
        mom_free(nm.keys);
        mom_free(nm.vals);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] && m->keys[i] != TOMB) {
            int found;
            size_t at = slot(&nm, m->keys[i], &found);
            nm.keys[at] = m->keys[i];
            nm.vals[at] = m->vals[i];
            nm.n++;
        }
    }
    mom_free(m->keys);
    mom_free(m->vals);
    *m = nm;
    return 0;
}

int strmap_put(strmap *m, const char *key, void *val)
{
    if ((m->n + m->tombs + 1) * 2 > m->cap) {
        int r = grow(m);
        if (r < 0)
            return r;
        m->tombs = 0;
    }
    int found;
    size_t at = slot(m, key, &found);
    if (found) {
        m->vals[at] = val;
        return 0;
    }
    char *k = mom_strdup(key);
    if (!k)
        return -ENOMEM;
    if (m->keys[at] == TOMB)
        m->tombs--;
    m->keys[at] = k;
    m->vals[at] = val;
    m->n++;
    return 0;
}

void *strmap_del(strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    int found;
    size_t at = slot(m, key, &found);
    if (!found)
        return NULL;
    void *v = m->vals[at];
    mom_free(m->keys[at]);
    m->keys[at] = TOMB;
    m->vals[at] = NULL;
    m->n--;
    m->tombs++;
    return v;
}
