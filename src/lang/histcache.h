/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The history cache of a policy set: the values of a guest's statistic
 * over its sample history, kept from one evaluation to the next.
 *
 * avg() over a guest's history reads one field of every retained sample:
 * with thousands of guests those samples are no longer in any cache, and
 * the reads dominate the evaluation.  From one cycle to the next a guest's
 * window moves by the samples collected in between, so the cache keeps,
 * per guest and per averaged field, the window's values in order and the
 * number (sample.seq) of its newest sample.  The next evaluation finds that
 * sample in the new window, keeps the values that are still in it and
 * reads only the new samples.  The sum is then taken over the kept values
 * in window order, exactly as reading every sample would, so the result is
 * the same to the bit.
 *
 * Only numbered samples (sample.seq != 0, from the engine) of uniform
 * entities with a history of 3 to HC_MAX samples are cached; everything
 * else, and every value that is not a number, is left to the caller's
 * general path (histcache_avg returns -1).
 */
#ifndef MOM_LANG_HISTCACHE_H
#define MOM_LANG_HISTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sample.h"
#include "core/snapshot.h"

/* Longest history the cache keeps (samples). */
#define HC_MAX 12
/* Integers up to this magnitude add up exactly as doubles, HC_MAX of them
 * included (2^53 / 16). */
#define HC_EXACT (INT64_C(1) << 49)
/* Averaged fields per guest the cache keeps. */
#define HC_SLOTS 8

typedef struct hc_entry {
    uint64_t seq;          /* number of the newest sample in v[]; 0: empty */
    uint32_t n;            /* values in v[], oldest first */
    uint16_t present;      /* bit k: the sample of v[k] had a number */
    uint16_t big;          /* bit k: ... an integer of more than HC_EXACT */
    double v[HC_MAX];
} hc_entry;

typedef struct histcache {
    const fieldtab *tab;   /* the guests' field table the slots are for */
    int32_t slot_of[64];   /* field id -> slot + 1 (0: none), ids < 64 */
    uint32_t n_slots;
    size_t n_guests;       /* length of every column */
    hc_entry *col[HC_SLOTS]; /* per slot, one entry per guest index */
} histcache;

/* The sum and the count of the numbers of field fid over the samples of
 * guest entity se (index gi in the snapshot), in sample order, as the
 * Fortran-like avg() adds them (as doubles).  0 with *ret_sum and
 * *ret_count; -1 when the cache cannot answer (the caller reads the
 * samples itself); -ENOMEM.  *ret_exact (when not NULL) tells whether every
 * integer of the window is at most HC_EXACT in magnitude, so that the sum
 * is also what adding the integers exactly first gives (the classic
 * StatAvg). */
int histcache_sum(histcache *hc, size_t gi, const snap_entity *se, int fid, double *ret_sum,
                  int64_t *ret_count, bool *ret_exact);
/* Forget everything (the snapshot has another field table). */
void histcache_reset(histcache *hc);
void histcache_free(histcache *hc);

#endif
