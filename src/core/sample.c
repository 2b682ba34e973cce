/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/sample.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

fieldtab *fieldtab_new(void)
{
    return mom_calloc(1, sizeof(fieldtab));
}

void fieldtab_free(fieldtab *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        mom_free(t->names[i]);
    mom_free(t->names);
    mom_free(t->mandatory);
    mom_free(t->hash);
    mom_free(t);
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int rehash(fieldtab *t)
{
    size_t size = 16;
    while (size < t->n * 2 + 1)
        size *= 2;
    uint32_t *h = mom_calloc(size, sizeof(*h));
    if (!h)
        return -ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        size_t at = hash_str(t->names[i]) & (size - 1);
        while (h[at])
            at = (at + 1) & (size - 1);
        h[at] = (uint32_t)i + 1;
    }
    mom_free(t->hash);
    t->hash = h;
    t->hash_size = size;
    return 0;
}

int fieldtab_find(const fieldtab *t, const char *name)
{
    if (!t || !name)
        return -1;
    if (t->hash) {
        size_t at = hash_str(name) & (t->hash_size - 1);
        while (t->hash[at]) {
            uint32_t id = t->hash[at] - 1;
            if (strcmp(t->names[id], name) == 0)
                return (int)id;
            at = (at + 1) & (t->hash_size - 1);
        }
        return -1;
    }
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->names[i], name) == 0)
            return (int)i;
    return -1;
}

int fieldtab_add(fieldtab *t, const char *name, bool mandatory)
{
    int id = fieldtab_find(t, name);
    if (id >= 0) {
        if (mandatory && !t->mandatory[id]) {
            t->mandatory[id] = true;
            t->n_mandatory++;
        }
        return id;
    }
    char **names = mom_realloc(t->names, (t->n + 1) * sizeof(*names));
    if (!names)
        return -ENOMEM;
    t->names = names;
    bool *mand = mom_realloc(t->mandatory, (t->n + 1) * sizeof(*mand));
    if (!mand)
        return -ENOMEM;
    t->mandatory = mand;
    char *n = mom_strdup(name);
    if (!n)
        return -ENOMEM;
    t->names[t->n] = n;
    t->mandatory[t->n] = mandatory;
    if (mandatory)
        t->n_mandatory++;
    t->n++;
    if (t->hash) {
        int r = rehash(t);
        if (r < 0)
            return r;
    }
    return (int)t->n - 1;
}

int fieldtab_finish(fieldtab *t)
{
    /* stable partition: mandatory first, keeping declaration order */
    size_t w = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = w; i < t->n; i++) {
            if (t->mandatory[i] == (pass == 0)) {
                char *nm = t->names[i];
                bool m = t->mandatory[i];
                memmove(&t->names[w + 1], &t->names[w], (i - w) * sizeof(char *));
                memmove(&t->mandatory[w + 1], &t->mandatory[w], (i - w) * sizeof(bool));
                t->names[w] = nm;
                t->mandatory[w] = m;
                w++;
            }
        }
    }
    return rehash(t);
}

/* ---- sample memory -----------------------------------------------------
 *
 * Samples are carved one after the other out of blocks of SBLOCK_SIZE
 * bytes, each sample on a cache line of its own.  The engine makes the
 * samples of one collection round one after the other, so they lie side
 * by side: a policy evaluation, which reads every guest's newest samples,
 * reads a few dense runs of memory instead of one or two lines on each of
 * thousands of pages.  The samples of a round also age out of the
 * histories together, so a block is soon free again; it is freed when its
 * last sample is.
 *
 * Blocks are aligned to SBLOCK_SIZE, so a sample finds its block by its
 * address.  A sample too large for a block gets a block of its own (a
 * multiple of SBLOCK_SIZE, the sample at its start).  The current block is
 * process-wide state, shared by every engine of the process and guarded by
 * sb_lock (workers make samples in parallel); it is given up at exit, so
 * that leak checkers see a sample that was never released.
 */
#define SBLOCK_SIZE 65536
#define SBLOCK_HEAD 64 /* the header below, padded to a cache line */
#define SAMPLE_ALIGN 64

typedef struct sblock {
    atomic_long live; /* samples not yet freed, plus one while the block is current */
    size_t used;      /* bytes given out, header included (the current block) */
} sblock;

static pthread_mutex_t sb_lock = PTHREAD_MUTEX_INITIALIZER;
static sblock *sb_cur;
static bool sb_atexit;

static sblock *sblock_of(const sample *s)
{
    return (sblock *)((uintptr_t)s & ~(uintptr_t)(SBLOCK_SIZE - 1));
}

static sblock *sblock_new(size_t size, long live)
{
    size = (size + SBLOCK_SIZE - 1) & ~(size_t)(SBLOCK_SIZE - 1);
    sblock *b = mom_aligned_alloc(SBLOCK_SIZE, size);
    if (!b)
        return NULL;
    atomic_init(&b->live, live);
    b->used = SBLOCK_HEAD;
    return b;
}

static void sblock_put(sblock *b)
{
    if (atomic_fetch_sub_explicit(&b->live, 1, memory_order_acq_rel) == 1)
        mom_free(b);
}

static void sblock_release_current(void)
{
    pthread_mutex_lock(&sb_lock);
    sblock *b = sb_cur;
    sb_cur = NULL;
    pthread_mutex_unlock(&sb_lock);
    if (b)
        sblock_put(b);
}

/* size bytes (a multiple of SAMPLE_ALIGN) for a sample, not zeroed. */
static void *sample_mem(size_t size)
{
    if (size > SBLOCK_SIZE - SBLOCK_HEAD) {
        sblock *b = sblock_new(SBLOCK_HEAD + size, 1);
        return b ? (char *)b + SBLOCK_HEAD : NULL;
    }
    pthread_mutex_lock(&sb_lock);
    sblock *b = sb_cur;
    if (!b || b->used + size > SBLOCK_SIZE) {
        if (!(b = sblock_new(SBLOCK_SIZE, 1))) {
            pthread_mutex_unlock(&sb_lock);
            return NULL;
        }
        if (sb_cur)
            sblock_put(sb_cur);
        sb_cur = b;
        /* Registered from here, after a leak checker's own handler, so
         * that it runs before the check. */
        if (!sb_atexit)
            sb_atexit = atexit(sblock_release_current) == 0;
    }
    void *p = (char *)b + b->used;
    b->used += size;
    atomic_fetch_add_explicit(&b->live, 1, memory_order_relaxed);
    pthread_mutex_unlock(&sb_lock);
    return p;
}

sample *sample_new(size_t n_fields)
{
    if (n_fields > (SIZE_MAX / 2 - sizeof(sample)) / sizeof(fval) || mom_alloc_point() < 0)
        return NULL;
    size_t size = (sizeof(sample) + n_fields * sizeof(fval) + SAMPLE_ALIGN - 1) &
                  ~(size_t)(SAMPLE_ALIGN - 1);
    sample *s = sample_mem(size);
    if (!s)
        return NULL;
    memset(s, 0, size);
    atomic_init(&s->refs, 1);
    s->n = (uint32_t)n_fields;
    return s;
}

sample *sample_ref(sample *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void fval_clear(fval *f)
{
    if (f->kind == FV_VALUE)
        mom_value_unref(f->u.v);
    f->kind = FV_MISSING;
    f->u.i = 0;
}

void sample_unref(sample *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (uint32_t i = 0; i < s->n; i++)
        fval_clear(&s->f[i]);
    mom_value_unref(s->extras);
    sblock_put(sblock_of(s));
}

mom_value *fval_to_value(const fval *f)
{
    switch (f->kind) {
    case FV_INT: return value_new_int(f->u.i);
    case FV_REAL: return value_new_real(f->u.r);
    case FV_VALUE: return mom_value_ref(f->u.v);
    default: return value_new_none();
    }
}

void fval_set_value(fval *f, mom_value *v)
{
    fval_clear(f);
    if (!v) {
        f->kind = FV_NONE;
        return;
    }
    switch ((mom_value_type)v->type) {
    case MOM_VALUE_NONE:
        f->kind = FV_NONE;
        mom_value_unref(v);
        break;
    case MOM_VALUE_INT:
        f->kind = FV_INT;
        f->u.i = v->u.i;
        mom_value_unref(v);
        break;
    case MOM_VALUE_REAL:
        f->kind = FV_REAL;
        f->u.r = v->u.r;
        mom_value_unref(v);
        break;
    default:
        f->kind = FV_VALUE;
        f->u.v = v;
        break;
    }
}
