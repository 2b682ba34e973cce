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
 *
 * The cache is read once per guest and averaged field on every
 * evaluation, for thousands of guests, so what counts is how many cache
 * lines a call touches.  An entry is one aligned 64-byte line: the window's
 * values are kept as 32-bit integers in a ring (no moving of the kept
 * values), which is what memory statistics are; a window with any other
 * number (a real, a larger integer) keeps all its values as doubles in a
 * record beside the entry (hc_wide) until it has none again.  The end of
 * the cached window is looked for by the address of its newest sample in
 * the sample pointers the caller has read anyway, and confirmed by that
 * one sample's number, so the older samples' headers are not read.
 */
#ifndef MOM_LANG_HISTCACHE_H
#define MOM_LANG_HISTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sample.h"
#include "core/snapshot.h"

/* Longest history the cache keeps (samples); at most 12 (the bit masks of
 * hc_entry). */
#define HC_MAX 12
/* Integers up to this magnitude add up exactly as doubles, HC_MAX of them
 * included (2^53 / 16). */
#define HC_EXACT (INT64_C(1) << 49)
/* Averaged fields per guest the cache keeps. */
#define HC_SLOTS 8

/* One guest's window of one field; values and bits by ring position: the
 * window's k-th oldest value is at position (start + k) % HC_MAX. */
typedef struct hc_entry {
    uint64_t seq;           /* number of the newest sample; 0: empty */
    uint16_t addr;          /* bits 4 to 19 of that sample's address
                             * (hc_addr): where to look for it first, not
                             * its identity */
    uint8_t n;              /* values in the window */
    uint8_t start;          /* ring position of the oldest */
    uint16_t present;       /* bit p: the sample of position p had a number */
    uint16_t wide;          /* bit p: ... one that is not an int32; when
                             * any is set, every value is in the hc_wide
                             * record and v[] is unused */
    int32_t v[HC_MAX];      /* the values (0 where there is no number) */
} hc_entry;

/* The values of a window with a number that is not an int32. */
typedef struct hc_wide {
    double v[HC_MAX];       /* by ring position, as in hc_entry */
    uint16_t big;           /* bit p: an integer of more than HC_EXACT */
} hc_wide;

typedef struct histcache {
    const fieldtab *tab;   /* the guests' field table the slots are for */
    int32_t slot_of[64];   /* field id -> slot + 1 (0: none), ids < 64 */
    uint32_t n_slots;
    size_t n_guests;       /* length of every column */
    hc_entry *col[HC_SLOTS]; /* per slot, one entry per guest index,
                              * aligned to 64 bytes inside block[] */
    void *block[HC_SLOTS];   /* the allocations of col[] */
    hc_wide *wide[HC_SLOTS]; /* per slot, NULL until a window needs it,
                              * then one record per guest index */
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
