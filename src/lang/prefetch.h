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
 * sample are the ones the loop's body has been seen to read (pf_loop in
 * lang/eval.h).  Prefetching never changes a result: it only moves data
 * into the cache.
 */
#ifndef MOM_LANG_PREFETCH_H
#define MOM_LANG_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/sample.h"
#include "core/snapshot.h"
#include "lang/eval.h"
#include "lang/histcache.h"
#include "lang/lvalue.h"

/* Guests ahead for each step (entity, sample pointers, samples). */
enum { PF_ENTITY = 12, PF_POINTERS = 8, PF_SAMPLES = 4 };

/* The I/O records of a guest a loop that reads them prefetches (disks). */
#define PF_IO_RECS 2

/* Loops over fewer guests than this do not prefetch: what they read stays
 * in the caches from one loop to the next (a few kilobytes per guest
 * against a megabyte of L2), and the prefetch would only cost its
 * instructions.  They still learn their masks (pf_loop). */
#define PF_MIN_GUESTS 256

/* Ask for the cache line at p.  Not __builtin_prefetch: GCC 12's dead
 * code elimination removes those of a function with a loop (it does not
 * count a prefetch as an effect), and with them every prefetch of
 * policy_prefetch() vanished from the build.  An asm statement is never
 * removed.  A prefetch does not fault, whatever the address. */
static inline void mom_prefetch(const void *p)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __asm__ volatile("prefetcht0 (%0)" : : "r"(p));
#elif defined(__GNUC__) && defined(__aarch64__)
    __asm__ volatile("prfm pldl1keep, [%0]" : : "r"(p));
#else
    __builtin_prefetch(p);
#endif
}

/* The bit of a pf_loop mask for field id `fid`. */
static inline uint64_t policy_pf_bit(int fid)
{
    size_t off = offsetof(sample, f) + (size_t)fid * sizeof(fval);
    return off / 64 < 64 ? UINT64_C(1) << (off / 64) : 0;
}

static inline void pf_lines(const char *base, uint64_t mask)
{
    while (mask) {
        int k = __builtin_ctzll(mask);
        mom_prefetch(base + 64 * k);
        mask &= mask - 1;
    }
}

/* Before guest i of g: fetch ahead for the guests i + PF_* what the body
 * of loop pf (in program p) reads.  The current sample's lines come
 * through the runtime entity (rt_entity.cur), a loop that reads I/O
 * records gets the hot part of the guest's cached template records
 * through its cache entry (an array, in guest order, which the hardware
 * fetches ahead itself).  Only a loop that reads older samples needs the
 * snapshot's entity and its sample pointers as well: history() reads
 * every older sample, an average through the history cache (hc) only the
 * samples new since the last evaluation and the header of the one before
 * them (the two samples before the current one, as the default intervals
 * bring two per evaluation), and the guest's cache entries (one line
 * each). */
static inline void policy_prefetch(const rt_guests *g, uint32_t i, const pf_loop *pf,
                                   const program *p)
{
    const histcache *hc = &p->hc;
    uint32_t n = g->n;
    bool older = pf->hist || pf->avg;
    if (older && i + PF_ENTITY < n) {
        const char *e = (const char *)g->items[i + PF_ENTITY].se;
        mom_prefetch(e);
        mom_prefetch(e + 64);
    }
    if (older && i + PF_POINTERS < n)
        mom_prefetch(g->items[i + PF_POINTERS].se->samples);
    if (i + PF_SAMPLES >= n)
        return;
    const rt_entity *e = &g->items[i + PF_SAMPLES];
    if (e->cur)
        pf_lines((const char *)e->cur, pf->cur);
    if (pf->io && i + PF_SAMPLES < p->n_io_cache) {
        /* The masks, maximum and current limits of the guest's first
         * PF_IO_RECS disks. */
        const io_cache *q = &p->io_cache[i + PF_SAMPLES];
        const iorec *r = q->tmpl;
        for (uint32_t k = 0; r && k < q->n_tmpl && k < PF_IO_RECS; k++) {
            const char *b = (const char *)&r[k];
            mom_prefetch(b);
            mom_prefetch(b + 63);
            mom_prefetch(b + IOREC_HOT - 1);
        }
    }
    if (!older)
        return;
    const snap_entity *se = e->se;
    size_t ns = se->n_samples;
    if (pf->avg && hc->n_slots && ns >= 3) {
        pf_lines((const char *)se->samples[ns - 3], 1);
        pf_lines((const char *)se->samples[ns - 2], pf->avg | 1);
        if (i + PF_SAMPLES < hc->n_guests)
            for (uint32_t s = 0; s < hc->n_slots; s++)
                mom_prefetch(&hc->col[s][i + PF_SAMPLES]);
    }
    if (pf->hist)
        for (size_t k = 0; k + 1 < ns; k++)
            pf_lines((const char *)se->samples[k], pf->hist);
}

#endif
