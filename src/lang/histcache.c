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

/* Whether an integer is beyond HC_EXACT. */
static bool big_int(int64_t i)
{
    return i > HC_EXACT || i < -HC_EXACT;
}

/* The number in a slot: 1 and *v (and *big), 0 when it holds none (absent,
 * missing), -1 when it holds something else. */
static int fv_number(const fval *f, double *v, bool *big)
{
    *big = false;
    switch (f->kind) {
    case FV_INT:
        *v = (double)f->u.i;
        *big = big_int(f->u.i);
        return 1;
    case FV_REAL: *v = f->u.r; return 1;
    case FV_VALUE:
        if (f->u.v->type == MOM_VALUE_INT) {
            *v = (double)f->u.v->u.i;
            *big = big_int(f->u.v->u.i);
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
        mom_free(hc->col[i]);
        hc->col[i] = NULL;
    }
    memset(hc, 0, sizeof(*hc));
}

void histcache_free(histcache *hc)
{
    histcache_reset(hc);
}

/* Make room for guest index gi in every column. */
static int grow(histcache *hc, size_t gi)
{
    size_t n = hc->n_guests ? hc->n_guests : 16;
    while (n <= gi)
        n *= 2;
    for (uint32_t i = 0; i < hc->n_slots; i++) {
        hc_entry *c = mom_realloc(hc->col[i], n * sizeof(*c));
        if (!c)
            return -ENOMEM;
        memset(c + hc->n_guests, 0, (n - hc->n_guests) * sizeof(*c));
        hc->col[i] = c;
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
    hc_entry *c = mom_calloc(hc->n_guests ? hc->n_guests : 1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    s = (int)hc->n_slots++;
    hc->col[s] = c;
    hc->slot_of[fid] = s + 1;
    return s;
}

int histcache_sum(histcache *hc, size_t gi, const snap_entity *se, int fid, double *ret_sum,
                  int64_t *ret_count, bool *ret_exact)
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

    /* Where the cached window ends in the new one: s samples are new. */
    size_t keep = 0;
    if (e->seq) {
        for (size_t s = 0; s < n; s++) {
            uint64_t q = s ? sm[n - 1 - s]->seq : newest;
            if (q == e->seq) {
                if (n - s <= e->n)
                    keep = n - s;
                break;
            }
            if (q < e->seq)
                break; /* older than the cached end: it is not there */
        }
    }
    if (keep) {
        uint32_t drop = e->n - (uint32_t)keep;
        if (drop) {
            memmove(e->v, e->v + drop, keep * sizeof(double));
            e->present >>= drop;
            e->big >>= drop;
        }
    } else {
        e->present = 0;
        e->big = 0;
    }
    for (size_t k = keep; k < n; k++) {
        double v = 0;
        bool big;
        int r = fv_number(&sm[k]->f[fid], &v, &big);
        if (r < 0) {
            e->seq = 0;
            return -1;
        }
        e->v[k] = v;
        uint16_t bit = (uint16_t)(1u << k);
        e->present = r ? e->present | bit : e->present & (uint16_t)~bit;
        e->big = big ? e->big | bit : e->big & (uint16_t)~bit;
    }
    e->n = (uint32_t)n;
    e->seq = newest;

    double sum = 0;
    int64_t count = 0;
    for (size_t k = 0; k < n; k++)
        if (e->present & (1u << k)) {
            sum += e->v[k];
            count++;
        }
    *ret_sum = sum;
    *ret_count = count;
    if (ret_exact)
        *ret_exact = e->big == 0;
    return 0;
}
