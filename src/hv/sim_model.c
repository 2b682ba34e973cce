/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulator's memory model (see sim_model.h and docs/simulator.md).
 *
 * One step does, in this order: guests start or stop; each running guest's
 * balloon moves toward its target; its demand is evaluated from its
 * workload curve; application memory, guest swap, page cache and the
 * memory the guest has touched on the host follow; then KSM merges (or
 * unmerges) part of the guests' resident memory; then the host swaps out
 * what does not fit in RAM (or swaps it back in when room returns); then
 * the pressure stall averages are updated.
 */
#include "hv/sim_model.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"

/* Share of the swapped-out memory touched again per second (pages swapped
 * in and out again), for guests and for the host. */
#define THRASH_PER_S 0.02
/* Once room returns, the host swaps back in what it no longer needs to
 * keep out with this time constant (seconds): the guests touch their
 * swapped pages again little by little. */
#define HOST_SWAPIN_TAU_S 20.0
/* Swap traffic (in + out) that counts as a 100 % memory stall, KiB/s. */
#define PSI_FULL_SWAP_KIB_S (200.0 * 1024)
/* CPU seconds ksmd spends per scanned page, and the most it can scan. */
#define KSMD_S_PER_PAGE 4e-6

uint64_t sim_model_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t sim_model_hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A uniform value in [-1, 1] for knot k of the noise stream `key`. */
static double knot(uint64_t key, int64_t k)
{
    uint64_t x = sim_model_mix(key ^ sim_model_mix((uint64_t)k * 0xd1b54a32d192ed03ull));
    return (double)(x >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* Smooth noise in [-1, 1]: random knots every `period` seconds joined by
 * straight lines.  A pure function of (key, t), so the noise does not
 * depend on how the time was cut into steps. */
static double noise_at(uint64_t key, double t, double period)
{
    if (period <= 0)
        period = 1;
    double x = t / period;
    double k = floor(x);
    double f = x - k;
    double a = knot(key, (int64_t)k), b = knot(key, (int64_t)k + 1);
    return a + (b - a) * f;
}

/* The curve of one phase at time t seconds after the phase started. */
static double phase_value(const sim_phase *p, double t)
{
    switch (p->type) {
    case SIM_WL_RAMP:
        if (p->duration <= 0 || t >= p->duration)
            return p->to;
        return p->level + (p->to - p->level) * (t > 0 ? t / p->duration : 0);
    case SIM_WL_PERIODIC: {
        double x = (t + p->offset) / p->period;
        double frac = x - floor(x);
        if (p->square)
            return p->level + (frac < 0.5 ? p->amplitude : -p->amplitude);
        return p->level + p->amplitude * sin(2 * M_PI * frac);
    }
    case SIM_WL_SPIKES: {
        double v = p->level;
        double tt = t;
        if (p->every > 0)
            tt = t - floor(t / p->every) * p->every;
        for (size_t i = 0; i < p->n_spikes; i++)
            if (tt >= p->spikes[i].at && tt < p->spikes[i].at + p->spikes[i].duration)
                v += p->spikes[i].height;
        return v;
    }
    case SIM_WL_CONSTANT:
    case SIM_WL_IDLE:
    default:
        return p->level;
    }
}

double sim_model_demand(const sim_model *m, const sim_guest *g, double t)
{
    (void)m;
    if (g->n_phases == 0)
        return 0;
    /* The active phase is the last one that has begun; before the first
     * one begins, the first one holds its initial value. */
    size_t i = 0;
    while (i + 1 < g->n_phases && g->phases[i + 1].at <= t)
        i++;
    const sim_phase *p = &g->phases[i];
    double v = phase_value(p, t - p->at);
    if (p->noise > 0)
        v *= 1 + p->noise * noise_at(g->noise_key, t, g->noise_period);
    return v > 0 ? v : 0;
}

double sim_model_guest_free(const sim_guest *g)
{
    double f = g->cur - g->reserve_kib - g->anon - g->cache;
    return f > 0 ? f : 0;
}

/* A guest boots: full logical size, no history. */
static void guest_boot(sim_guest *g)
{
    g->running = true;
    g->cur = g->target = g->initial_kib;
    g->demand = g->anon = g->cache = g->swapped = g->touched = g->rss = 0;
    g->swap_in = g->swap_out = g->major_fault = g->minor_fault = 0;
    g->host_minflt = g->host_majflt = 0;
}

/* A guest stops: its memory goes back to the host. */
static void guest_halt(sim_guest *g)
{
    g->running = false;
    g->demand = g->anon = g->cache = g->swapped = g->touched = g->rss = 0;
}

/* Advance one running guest by dt to guest-clock time `gt`. */
static void guest_step(const sim_model *m, sim_guest *g, double dt, double gt)
{
    /* The balloon follows its target at the configured rate. */
    double move = g->target - g->cur, lim = g->rate_kib * dt;
    g->cur += clampd(move, -lim, lim);
    g->cur = clampd(g->cur, g->reserve_kib, g->max_kib);

    g->demand = sim_model_demand(m, g, gt);
    double usable = g->cur - g->reserve_kib;
    double anon = g->demand < usable ? g->demand : usable;
    double swapped = clampd(g->demand - usable, 0, g->swap_kib);

    /* Guest swap traffic: growth is swapped out, shrinkage swapped in,
     * and a share of what stays out is touched again. */
    double ds = swapped - g->swapped;
    double thrash = swapped * THRASH_PER_S * dt;
    double sin_kib = (ds < 0 ? -ds : 0) + thrash;
    double sout_kib = (ds > 0 ? ds : 0) + thrash;
    g->swap_in += sin_kib;
    g->swap_out += sout_kib;
    g->major_fault += sin_kib / SIM_PAGE_KIB;
    g->minor_fault += (anon > g->anon ? anon - g->anon : 0) / SIM_PAGE_KIB + sin_kib / SIM_PAGE_KIB;
    g->anon = anon;
    g->swapped = swapped;

    double room = usable - anon;
    g->cache = clampd(g->cache_kib, 0, room > 0 ? room : 0);

    /* Host memory the guest has touched stays resident until the balloon
     * takes it back, unless the guest reports its free pages. */
    double used = g->reserve_kib + g->anon + g->cache;
    if (g->free_page_reporting || used > g->touched)
        g->touched = used;
    if (g->touched > g->cur)
        g->touched = g->cur;
}

/* KSM: merge toward the mergeable share at the speed ksmd scans. */
static void ksm_step(sim_host *h, double dt)
{
    double pages = h->resident / SIM_PAGE_KIB;
    double target = h->ksm_mergeable * pages;
    if (h->ksm_run == 2) {
        h->ksm_sharing = h->ksm_unshared = h->ksm_volatile = 0;
        return;
    }
    if (h->ksm_sharing > target)
        h->ksm_sharing = target;
    if (h->ksm_run != 1) {
        h->ksm_volatile = 0;
        return;
    }
    if (pages <= 0)
        return;
    double sleep_s = (h->ksm_sleep_millisecs > 0 ? (double)h->ksm_sleep_millisecs : 1) / 1000.0;
    double scanned = (double)h->ksm_pages_to_scan / sleep_s * dt;
    double max_scanned = dt / KSMD_S_PER_PAGE; /* ksmd is one thread */
    if (scanned > max_scanned)
        scanned = max_scanned;
    double scans = scanned / pages;
    h->ksm_sharing += (target - h->ksm_sharing) * (1 - exp(-scans));
    h->ksm_full_scans += scans;
    h->ksmd_cpu_s += scanned * KSMD_S_PER_PAGE;
    double seen = h->ksm_full_scans < 1 ? h->ksm_full_scans : 1;
    h->ksm_unshared = pages * (1 - h->ksm_mergeable) * seen;
    h->ksm_volatile = pages * 0.01 * seen;
}

/* Exponentially decaying averages, as the kernel's PSI keeps them. */
static void psi_update(double avg[3], double pct, double dt)
{
    static const double windows[3] = {10, 60, 300};
    for (int i = 0; i < 3; i++) {
        double k = exp(-dt / windows[i]);
        avg[i] = avg[i] * k + pct * (1 - k);
    }
}

/* The host: swap, free memory, cache, pressure and the QEMU processes. */
static void host_step(sim_model *m, double dt, double prev_pswp)
{
    sim_host *h = &m->host;
    double saved = h->ksm_sharing * SIM_PAGE_KIB;
    double needs = h->overhead_kib + h->resident - saved;
    double want = clampd(needs - (h->total_kib - h->min_free_kib), 0, h->swap_kib);
    double swapin = 0;
    if (want > h->swapped) {
        h->pswpout += (want - h->swapped) / SIM_PAGE_KIB;
        h->swapped = want;
    } else if (want < h->swapped) {
        double excess = h->swapped - want;
        swapin = excess * (1 - exp(-dt / HOST_SWAPIN_TAU_S));
        if (excess < 1024)
            swapin = excess; /* the last MiB: done */
        h->swapped -= swapin;
    }
    double thrash = h->swapped * THRASH_PER_S * dt;
    swapin += thrash;
    h->pswpin += swapin / SIM_PAGE_KIB;
    h->pswpout += thrash / SIM_PAGE_KIB;
    if (h->swapped > h->resident)
        h->swapped = h->resident;

    h->free_raw = h->total_kib - needs + h->swapped;
    h->oom = h->free_raw < 0;
    if (h->free_raw < 0)
        h->free_raw = 0;
    h->cache = clampd(h->free_raw - h->min_free_kib, 0, h->cache_kib);

    /* The guests' QEMU processes: what the host swapped out is taken from
     * each in proportion to its size. */
    double frac = h->resident > 0 ? h->swapped / h->resident : 0;
    h->rss_sum = 0;
    for (size_t i = 0; i < m->n_guests; i++) {
        sim_guest *g = &m->guests[i];
        if (!g->running)
            continue;
        double rss = g->touched * (1 - frac);
        double share = h->resident > 0 ? g->touched / h->resident : 0;
        double minflt = (rss > g->rss ? rss - g->rss : 0) / SIM_PAGE_KIB;
        double majflt = swapin * share / SIM_PAGE_KIB;
        g->host_minflt += minflt + majflt;
        g->host_majflt += majflt;
        h->pgfault += minflt + majflt;
        h->pgmajfault += majflt;
        g->rss = rss;
        h->rss_sum += rss;
    }

    /* Pressure: the share of time stalled grows with swap traffic, and
     * with free memory below twice the low watermark. */
    double some = 0;
    if (dt > 0) {
        double io_kib_s = (h->pswpin + h->pswpout - prev_pswp) * SIM_PAGE_KIB / dt;
        some = io_kib_s / PSI_FULL_SWAP_KIB_S;
        double low = 2 * h->min_free_kib;
        if (low > 0 && h->free_raw < low)
            some += 0.25 * (low - h->free_raw) / low;
        some = clampd(some, 0, 1);
        double full = h->oom ? some : some * 0.5;
        h->psi_some_total += some * dt * 1e6;
        h->psi_full_total += full * dt * 1e6;
        psi_update(h->psi_some, some * 100, dt);
        psi_update(h->psi_full, full * 100, dt);
    }
}

void sim_model_step(sim_model *m, double dt)
{
    if (dt < 0)
        dt = 0;
    double t = m->t + dt;
    sim_host *h = &m->host;
    double prev_pswp = h->pswpin + h->pswpout;

    h->resident = 0;
    for (size_t i = 0; i < m->n_guests; i++) {
        sim_guest *g = &m->guests[i];
        bool run = t >= g->start && (g->stop < 0 || t < g->stop);
        if (run && !g->running)
            guest_boot(g);
        else if (!run && g->running)
            guest_halt(g);
        if (!g->running)
            continue;
        guest_step(m, g, dt, t - g->start + g->clock_shift);
        h->resident += g->touched;
    }
    ksm_step(h, dt);
    host_step(m, dt, prev_pswp);
    m->t = t;
}

void sim_model_init(sim_model *m)
{
    m->t = 0;
    sim_model_step(m, 0);
}

void sim_model_done(sim_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_guests; i++) {
        sim_guest *g = &m->guests[i];
        mom_free(g->name);
        for (size_t j = 0; j < g->n_phases; j++)
            mom_free(g->phases[j].spikes);
        mom_free(g->phases);
        for (size_t j = 0; j < g->n_disks; j++) {
            mom_free(g->disks[j].name);
            mom_free(g->disks[j].path);
        }
        mom_free(g->disks);
    }
    mom_free(m->guests);
    m->guests = NULL;
    m->n_guests = 0;
}
