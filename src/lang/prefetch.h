/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Prefetch of the guests ahead in a loop over the guests.
 *
 * With thousands of guests a snapshot no longer fits in the caches, and a
 * policy spends most of its time waiting for each guest's entity, its
 * sample pointers and its samples, one dependent load after another.  A
 * loop over the guests calls policy_prefetch() before each guest: it asks
 * for those lines a few guests ahead, in three steps so that every address
 * it reads has itself been fetched a few guests earlier.  The lines of a
 * sample are the ones the policies have been seen to read (program.pf_cur
 * for the current sample, pf_hist for the older ones).  Prefetching never
 * changes a result: it only moves data into the cache.
 */
#ifndef MOM_LANG_PREFETCH_H
#define MOM_LANG_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/sample.h"
#include "core/snapshot.h"
#include "lang/histcache.h"
#include "lang/lvalue.h"

/* Guests ahead for each step (entity, sample pointers, samples). */
enum { PF_ENTITY = 12, PF_POINTERS = 8, PF_SAMPLES = 4 };

/* The bit of pf_cur / pf_hist for field id `fid`. */
static inline uint64_t policy_pf_bit(int fid)
{
    size_t off = offsetof(sample, f) + (size_t)fid * sizeof(fval);
    return off / 64 < 64 ? UINT64_C(1) << (off / 64) : 0;
}

static inline void pf_lines(const char *base, uint64_t mask)
{
    while (mask) {
        int k = __builtin_ctzll(mask);
        __builtin_prefetch(base + 64 * k);
        mask &= mask - 1;
    }
}

/* Before guest i of g: fetch ahead for the guests i + PF_*.  cur and hist
 * are the lines of the current and the older samples to fetch.  With a
 * history cache in use (hc->n_slots), avg() reads only the samples that
 * are new since the last evaluation and the header of the one before
 * them: the lines of the two samples before the current one (the default
 * intervals bring two per evaluation) and the guest's cache entries (one
 * line each); without, the lines of every older sample. */
static inline void policy_prefetch(const rt_guests *g, uint32_t i, uint64_t cur, uint64_t hist,
                                   const histcache *hc)
{
    uint32_t n = g->n;
    if (i + PF_ENTITY < n) {
        const char *e = (const char *)g->items[i + PF_ENTITY].se;
        __builtin_prefetch(e);
        __builtin_prefetch(e + 64);
    }
    if (i + PF_POINTERS < n)
        __builtin_prefetch(g->items[i + PF_POINTERS].se->samples);
    if (i + PF_SAMPLES < n) {
        const snap_entity *se = g->items[i + PF_SAMPLES].se;
        size_t ns = se->n_samples;
        if (!ns)
            return;
        pf_lines((const char *)se->samples[ns - 1], cur);
        if (hc->n_slots && ns >= 3) {
            for (size_t k = ns - 3; k + 1 < ns; k++)
                pf_lines((const char *)se->samples[k], hist | 1);
            if (i + PF_SAMPLES < hc->n_guests)
                for (uint32_t s = 0; s < hc->n_slots; s++)
                    __builtin_prefetch(&hc->col[s][i + PF_SAMPLES]);
        } else if (hist) {
            for (size_t k = 0; k + 1 < ns; k++)
                pf_lines((const char *)se->samples[k], hist);
        }
    }
}

#endif
