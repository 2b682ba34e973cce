/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The history cache of a policy set (histcache.h).
 *
 * Why a cached window is the new window's prefix: a guest's history in a
 * snapshot is the newest samples of its monitor, oldest first, and the
 * engine numbers samples in the order it adds them, uniquely.  So if the
 * newest sample of the cached window appears at position p of the new
 * window, the samples before it are the ones before it in the cached
 * window too, and the ones after it are new.
 */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/histcache.h"

_Static_assert(sizeof(hc_entry) == 64, "a history cache entry is one cache line");
_Static_assert(HC_MAX <= 12, "the ring's bit masks have 12 bits");

/* Whether an integer is beyond HC_EXACT. */
static bool big_int(int64_t i)
{
    return i > HC_EXACT || i < -HC_EXACT;
}

/* The number in a slot: 1 and *v (as avg() adds it), 0 when it holds none
 * (absent, missing), -1 when it holds something else.  *is_int tells
 * whether it is an integer, then *i is that integer. */
static int fv_number(const fval *f, double *v, int64_t *i, bool *is_int)
{
    *is_int = false;
    switch (f->kind) {
    case FV_INT:
        *i = f->u.i;
        *v = (double)f->u.i;
        *is_int = true;
        return 1;
    case FV_REAL: *v = f->u.r; return 1;
    case FV_VALUE:
        if (f->u.v->type == MOM_VALUE_INT) {
            *i = f->u.v->u.i;
            *v = (double)f->u.v->u.i;
            *is_int = true;
            return 1;
        }
        if (f->u.v->type == MOM_VALUE_REAL) {
            *v = f->u.v->u.r;
            return 1;
        }
        return -1;
    default: return 0;
    }
}

void histcache_reset(histcache *hc)
{
    for (uint32_t i = 0; i < HC_SLOTS; i++) {
        mom_free(hc->block[i]);
        mom_free(hc->wide[i]);
    }
    memset(hc, 0, sizeof(*hc));
}

void histcache_free(histcache *hc)
{
    histcache_reset(hc);
}

/* A zeroed column of n entries aligned to a cache line (one line per
 * entry); *ret_block is what to free.  NULL when out of memory. */
static hc_entry *column_new(size_t n, void **ret_block)
{
    char *b = mom_calloc(1, n * sizeof(hc_entry) + 64);
    if (!b)
        return NULL;
    *ret_block = b;
    return (hc_entry *)(b + (64 - (uintptr_t)b % 64) % 64);
}

/* Make room for guest index gi in every column and wide record array. */
static int grow(histcache *hc, size_t gi)
{
    size_t n = hc->n_guests ? hc->n_guests : 16;
    while (n <= gi)
        n *= 2;
    for (uint32_t i = 0; i < hc->n_slots; i++) {
        void *b;
        hc_entry *c = column_new(n, &b);
        if (!c)
            return -ENOMEM;
        if (hc->n_guests)
            memcpy(c, hc->col[i], hc->n_guests * sizeof(*c));
        mom_free(hc->block[i]);
        hc->block[i] = b;
        hc->col[i] = c;
        if (hc->wide[i]) {
            hc_wide *w = mom_realloc(hc->wide[i], n * sizeof(*w));
            if (!w)
                return -ENOMEM;
            memset(w + hc->n_guests, 0, (n - hc->n_guests) * sizeof(*w));
            hc->wide[i] = w;
        }
    }
    hc->n_guests = n;
    return 0;
}

/* The slot of field fid, made on first use; -1 when there is no room. */
static int slot_for(histcache *hc, int fid)
{
    int s = hc->slot_of[fid] - 1;
    if (s >= 0)
        return s;
    if (hc->n_slots == HC_SLOTS)
        return -1;
    void *b;
    hc_entry *c = column_new(hc->n_guests ? hc->n_guests : 1, &b);
    if (!c)
        return -ENOMEM;
    s = (int)hc->n_slots++;
    hc->col[s] = c;
    hc->block[s] = b;
    hc->slot_of[fid] = s + 1;
    return s;
}

/* The wide record of guest gi in slot s, its array made on first use;
 * NULL when out of memory. */
static hc_wide *wide_for(histcache *hc, int s, size_t gi)
{
    if (!hc->wide[s]) {
        hc->wide[s] = mom_calloc(hc->n_guests, sizeof(hc_wide));
        if (!hc->wide[s])
            return NULL;
    }
    return &hc->wide[s][gi];
}

/* What an entry keeps of a sample's address (malloc aligns to 16). */
static uint16_t hc_addr(const sample *s)
{
    return (uint16_t)((uintptr_t)s >> 4);
}

/* The ring position after p. */
static unsigned ring_next(unsigned p)
{
    return p + 1 == HC_MAX ? 0 : p + 1;
}

/* How many samples of the new window sm[0 .. n-1] (newest number newest)
 * the cached window of e ends with: the position of its newest sample
 * plus one, 0 when it is not there.  The address kept in e says where
 * that sample probably is, and its number confirms it (the memory of a
 * freed sample is reused, so an address alone proves nothing); only when
 * the address is not found (the window holds copies of the samples) are
 * the numbers read one by one, newest first, down to the first older one.
 * A sample of another address with the same bits is only a candidate that
 * its number rules out. */
static size_t window_end(const hc_entry *e, sample *const *sm, size_t n, uint64_t newest)
{
    if (newest == e->seq)
        return n;
    if (newest < e->seq)
        return 0; /* every sample of the window is older */
    for (size_t k = n - 1; k-- > 0;)
        if (hc_addr(sm[k]) == e->addr && sm[k]->seq == e->seq)
            return k + 1;
    for (size_t k = n - 1; k-- > 0;) {
        uint64_t q = sm[k]->seq;
        if (q == e->seq)
            return k + 1;
        if (q < e->seq)
            break; /* older than the cached end: it is not there */
    }
    return 0;
}

/* The sum of the narrow values of an entry (0 at every position without
 * a number).  In any order it is what adding the numbers one by one as
 * doubles in window order gives: every partial sum of at most HC_MAX int32
 * values is below 2^35 in magnitude, so each of those additions is exact. */
static int64_t add_narrow(const int32_t *v)
{
    int64_t sum = 0;
    for (unsigned q = 0; q < HC_MAX; q++)
        sum += v[q];
    return sum;
}

/* sum plus the wide values at the ring positions of the bits of m, in the
 * positions' order. */
static double add_wide(double sum, const double *wv, uint32_t m)
{
    for (; m; m &= m - 1)
        sum += wv[__builtin_ctz(m)];
    return sum;
}

/* The number of bits of m (without a call to libgcc where the target has
 * no population count instruction). */
static int64_t bits(uint32_t m)
{
    m -= (m >> 1) & 0x55555555u;
    m = (m & 0x33333333u) + ((m >> 2) & 0x33333333u);
    return (int64_t)((((m + (m >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24);
}

/* The steady case, for every guest on every cycle: a narrow cached window
 * of the new window's length whose newest sample is one of the two before
 * the new window's newest (one or two new samples: the engine's default
 * intervals bring two per evaluation), and new values that are int32 or
 * nothing.  The same entry and sum as the general path below; 0, or -1
 * when the case does not hold (nothing changed). */
static inline int steady_sum(hc_entry *e, sample *const *sm, size_t n, uint64_t newest, int fid,
                             double *ret_sum, int64_t *ret_count)
{
    if (e->wide || e->n != n || newest <= e->seq || !e->seq)
        return -1;
    size_t k = n - 1, stop = n - 4; /* n >= 3: stop may be (size_t)-1 */
    do {
        if (--k == stop)
            return -1;
    } while (hc_addr(sm[k]) != e->addr || sm[k]->seq != e->seq);
    /* The new values first, so that a case that does not hold changes
     * nothing. */
    unsigned d = (unsigned)(n - 1 - k);
    int32_t nv[2];
    unsigned got = 0;
    for (unsigned j = 0; j < d; j++) {
        const fval *f = &sm[k + 1 + j]->f[fid];
        if (f->kind == FV_INT && f->u.i >= INT32_MIN && f->u.i <= INT32_MAX) {
            nv[j] = (int32_t)f->u.i;
            got |= 1u << j;
        } else if (f->kind == FV_NONE || f->kind == FV_MISSING) {
            nv[j] = 0;
        } else {
            return -1;
        }
    }
    /* Drop the d oldest, then add the d new at the ring's end: positions
     * outside the window hold 0, so the sum can take the whole ring. */
    unsigned start = e->start;
    uint32_t present = e->present;
    for (unsigned j = 0; j < d; j++) {
        e->v[start] = 0;
        present &= ~(1u << start);
        start = ring_next(start);
    }
    unsigned p = start + (unsigned)n - d;
    if (p >= HC_MAX)
        p -= HC_MAX;
    for (unsigned j = 0; j < d; j++, p = ring_next(p)) {
        e->v[p] = nv[j];
        if (got & (1u << j))
            present |= 1u << p;
    }
    e->seq = newest;
    e->addr = hc_addr(sm[n - 1]);
    e->start = (uint8_t)start;
    e->present = (uint16_t)present;
    *ret_sum = (double)add_narrow(e->v);
    *ret_count = bits(present);
    return 0;
}

/* histcache_sum, every case (the entry made and grown, wide windows). */
static __attribute__((noinline)) int general_sum(histcache *hc, size_t gi, const snap_entity *se,
                                                 int fid, double *ret_sum, int64_t *ret_count,
                                                 bool *ret_exact)
{
    size_t n = se->n_samples;
    if (!se->uniform || n < 3 || n > HC_MAX || fid < 0 || fid >= 64)
        return -1;
    sample *const *sm = se->samples;
    uint64_t newest = sm[n - 1]->seq;
    if (!newest)
        return -1;
    if (hc->tab != se->fields) {
        histcache_reset(hc);
        hc->tab = se->fields;
    }
    int slot = slot_for(hc, fid);
    if (slot < 0)
        return slot == -ENOMEM ? -ENOMEM : -1;
    if (gi >= hc->n_guests && grow(hc, gi) < 0)
        return -ENOMEM;
    hc_entry *e = &hc->col[slot][gi];

    /* Keep the newest `keep` values of the cached window, which are the
     * oldest of the new one (histcache.c's opening comment).  The entry's
     * small fields are worked on in locals and stored once. */
    unsigned len = e->n, start = e->start;
    uint32_t present = e->present, wide = e->wide;
    size_t keep = e->seq ? window_end(e, sm, n, newest) : 0;
    if (keep > len)
        keep = 0; /* the new window reaches further back than the cached one */
    hc_wide *w = NULL;
    if (keep) {
        if (wide)
            w = &hc->wide[slot][gi];
        for (; len > keep; len--) {
            uint32_t bit = 1u << start;
            e->v[start] = 0;
            present &= ~bit;
            wide &= ~bit;
            if (w)
                w->big &= (uint16_t)~bit;
            start = ring_next(start);
        }
    } else {
        len = start = 0;
        present = wide = 0;
        memset(e->v, 0, sizeof(e->v));
    }

    /* Add the new samples' values at the ring's end. */
    unsigned p = start + len;
    if (p >= HC_MAX)
        p -= HC_MAX;
    for (size_t k = keep; k < n; k++, p = ring_next(p)) {
        double v = 0;
        int64_t i = 0;
        bool is_int;
        int r = fv_number(&sm[k]->f[fid], &v, &i, &is_int);
        if (r < 0) {
            e->seq = 0;
            return -1;
        }
        uint32_t bit = 1u << p;
        bool narrow = r == 0 || (is_int && i >= INT32_MIN && i <= INT32_MAX);
        if (!narrow && !w) {
            /* The first value that needs a double: move the window to its
             * wide record. */
            w = wide_for(hc, slot, gi);
            if (!w) {
                e->seq = 0;
                return -ENOMEM;
            }
            w->big = 0;
            unsigned q = start;
            for (unsigned j = 0; j < len; j++, q = ring_next(q))
                w->v[q] = (double)e->v[q];
        }
        if (w) {
            w->v[p] = v;
            if (is_int && big_int(i))
                w->big |= (uint16_t)bit;
            else
                w->big &= (uint16_t)~bit;
        } else {
            e->v[p] = r ? (int32_t)i : 0;
        }
        present = r ? present | bit : present & ~bit;
        wide = narrow ? wide & ~bit : wide | bit;
        len++;
    }
    e->seq = newest;
    e->addr = hc_addr(sm[n - 1]);
    e->n = (uint8_t)len;
    e->start = (uint8_t)start;
    e->present = (uint16_t)present;
    e->wide = (uint16_t)wide;

    /* The sum in window order, oldest first, as reading the samples adds:
     * the positions from start up, then those that wrapped around (the
     * bits of present are all in the window). */
    uint32_t from_start = present >> start << start, wrapped = present & ((1u << start) - 1);
    double sum = w ? add_wide(add_wide(0, w->v, from_start), w->v, wrapped)
                   : (double)add_narrow(e->v);
    int64_t count = bits(present);
    if (ret_exact)
        *ret_exact = !w || w->big == 0;
    if (w && !wide) {
        /* No value needs a double any more: back to the entry. */
        for (unsigned q = 0; q < HC_MAX; q++)
            e->v[q] = (present & (1u << q)) ? (int32_t)w->v[q] : 0;
    }
    *ret_sum = sum;
    *ret_count = count;
    return 0;
}

int histcache_sum(histcache *hc, size_t gi, const snap_entity *se, int fid, double *ret_sum,
                  int64_t *ret_count, bool *ret_exact)
{
    /* The steady case in a small frame; everything else, and every case
     * the steady one does not take, general_sum's. */
    size_t n = se->n_samples;
    if (se->uniform && n >= 3 && n <= HC_MAX && fid >= 0 && fid < 64 && hc->tab == se->fields &&
        gi < hc->n_guests && hc->slot_of[fid] > 0) {
        sample *const *sm = se->samples;
        hc_entry *e = &hc->col[hc->slot_of[fid] - 1][gi];
        if (steady_sum(e, sm, n, sm[n - 1]->seq, fid, ret_sum, ret_count) == 0) {
            if (ret_exact)
                *ret_exact = true;
            return 0;
        }
    }
    return general_sum(hc, gi, se, fid, ret_sum, ret_count, ret_exact);
}
