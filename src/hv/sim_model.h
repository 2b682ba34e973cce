/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulator's memory model: a host and its guests as plain structs
 * (filled by the scenario loader, sim_scenario.c), advanced in small time
 * steps by sim_model_step().  No I/O and no locking here: sim.c owns the
 * files, the clock and the mutex.  docs/simulator.md describes the model.
 *
 * Every memory quantity is in KiB held as a double, so that slow balloon
 * moves and small noise are not lost to rounding; the files and the
 * hypervisor operations round them.
 */
#ifndef MOM_HV_SIM_MODEL_H
#define MOM_HV_SIM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mom/hypervisor.h"

/* Workload curve types. */
enum {
    SIM_WL_CONSTANT,
    SIM_WL_RAMP,
    SIM_WL_PERIODIC,
    SIM_WL_SPIKES,
    SIM_WL_IDLE,
};

typedef struct sim_spike {
    double at, height, duration; /* seconds from the phase start, KiB, seconds */
} sim_spike;

/* One phase of a workload: from `at` (guest clock seconds) until the next
 * phase begins. */
typedef struct sim_phase {
    int type;
    double at;
    double level;     /* KiB: constant/idle level, ramp start, periodic mean, spikes base */
    double to;        /* KiB: ramp end */
    double duration;  /* ramp duration, seconds */
    double amplitude; /* KiB, periodic */
    double period;    /* seconds, periodic */
    double offset;    /* seconds, periodic phase shift */
    bool square;      /* periodic: square instead of sine */
    double every;     /* spikes: repeat the list with this period (0: once) */
    sim_spike *spikes;
    size_t n_spikes;
    double noise;     /* relative noise amplitude of this phase */
} sim_phase;

typedef struct sim_disk {
    char *name, *path; /* either may be NULL, not both */
    mom_hv_io_limits guaranteed, maximum, current;
} sim_disk;

typedef struct sim_guest {
    /* From the scenario. */
    char *name;
    char uuid[37];
    int64_t pid;
    double max_kib, min_kib, initial_kib, reserve_kib, cache_kib, swap_kib;
    double rate_kib;    /* balloon speed, KiB per second */
    double start, stop; /* seconds of simulated time; stop < 0: never */
    double clock_shift; /* added to the guest's workload clock */
    double noise_period;
    bool free_page_reporting; /* freed guest memory goes back to the host */
    bool memory_stats;        /* false: get_vm_memory_stats gives -ENODATA */
    int64_t vcpus, vcpu_limit, vcpu_quota, vcpu_period;
    sim_phase *phases;
    size_t n_phases;
    sim_disk *disks;
    size_t n_disks;
    uint64_t noise_key;

    /* State, valid while running. */
    bool running;
    int64_t stats_period; /* from start_vm_memory_stats, informational */
    double cur, target;   /* balloon: logical size and where it is heading */
    double demand, anon, cache, swapped, touched, rss;
    double swap_in, swap_out;         /* guest view, cumulative KiB */
    double major_fault, minor_fault;  /* guest view, cumulative counts */
    double host_minflt, host_majflt;  /* the QEMU process on the host */

    /* Bookkeeping of the files written by sim.c. */
    bool dir_exists;
    int64_t w_minflt, w_majflt, w_rss;
    size_t stat_len, status_len;
} sim_guest;

typedef struct sim_host {
    /* From the scenario. */
    double total_kib, swap_kib, overhead_kib, min_free_kib, cache_kib;
    int64_t cpus;
    double ksm_mergeable; /* share of guest resident memory KSM can merge */
    double ksm_ratio;     /* pages_sharing per pages_shared */
    int64_t ksm_run, ksm_pages_to_scan, ksm_sleep_millisecs, ksm_merge_across_nodes;

    /* State. */
    double resident;    /* sum of the guests' resident memory */
    double rss_sum;     /* the same minus what the host swapped out */
    double swapped;     /* host swap in use */
    double free_raw;    /* MemFree + Buffers + Cached */
    double cache;       /* Buffers + Cached */
    double pswpin, pswpout, pgfault, pgmajfault; /* cumulative pages / counts */
    double psi_some[3], psi_full[3];             /* avg10, avg60, avg300 (percent) */
    double psi_some_total, psi_full_total;       /* microseconds */
    bool oom;                                    /* RAM and swap both exhausted */
    double ksm_sharing, ksm_unshared, ksm_volatile;
    double ksm_full_scans, ksmd_cpu_s;
} sim_host;

typedef struct sim_model {
    sim_host host;
    sim_guest *guests;
    size_t n_guests;
    uint64_t seed;
    double t; /* simulated seconds since the start */
} sim_model;

/* Bring every guest that runs at time 0 up and compute the state at 0. */
void sim_model_init(sim_model *m);
/* Advance by dt seconds (dt >= 0; the caller splits long spans). */
void sim_model_step(sim_model *m, double dt);
/* Release everything the model owns (not the struct itself). */
void sim_model_done(sim_model *m);

/* The guest's memory demand at the guest's clock time t, noise included. */
double sim_model_demand(const sim_model *m, const sim_guest *g, double t);
/* The guest's MemFree (KiB): its logical size minus the kernel reserve,
 * the application memory and the page cache (never below 0). */
double sim_model_guest_free(const sim_guest *g);

/* Deterministic 64-bit mixing (splitmix64 finaliser). */
uint64_t sim_model_mix(uint64_t x);
/* FNV-1a hash of a string. */
uint64_t sim_model_hash_str(const char *s);

/* Page size in KiB used for every page count. */
#define SIM_PAGE_KIB 4.0

#endif
