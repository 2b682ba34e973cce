/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark: CPU time of one collection cycle on the simulated host with
 * 10, 100, 1,000 and 10,000 guests.
 *
 * Two measurements per size:
 *  - "collect": the engine's collection path run directly (every guest
 *    monitor collects once through its collectors and the sample goes into
 *    its history, then the host, then a snapshot is taken), single-threaded,
 *    CPU time of the process (CLOCK_PROCESS_CPUTIME_ID), median of rounds;
 *  - "sim": the simulator's own refresh (advancing its model and rewriting
 *    its private /proc and /sys), reported apart because it is the fake
 *    host's cost, not MOM's.
 * Target (issue: engine core): at most 20 µs of CPU per guest per
 * collection cycle on the simulator.
 *
 * Usage: bench_collect [max_guests]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/api.h"
#include "core/monitor.h"
#include "core/pool.h"
#include "core/registry.h"
#include "core/snapshot.h"
#include "hv/sim.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static fieldtab *fields_of(const mom_collector *const *c, size_t n)
{
    fieldtab *t = fieldtab_new();
    for (size_t i = 0; i < n; i++)
        for (const char *const *f = c[i]->mandatory; f && *f; f++)
            fieldtab_add(t, *f, true);
    for (size_t i = 0; i < n; i++)
        for (const char *const *f = c[i]->optional; f && *f; f++)
            fieldtab_add(t, *f, false);
    fieldtab_finish(t);
    return t;
}

static void print_log(mom_log_level l, const char *logger, const char *msg, void *ud)
{
    (void)l;
    (void)ud;
    fprintf(stderr, "%s: %s\n", logger, msg);
}

static void run(size_t n_guests, int with_proc)
{
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"host\": {\"memory_mib\": %zu, \"cpus\": 64},"
             " \"guests\": [{\"name\": \"vm\", \"count\": %zu, \"max_mib\": 2048,"
             " \"min_mib\": 512, \"vcpus\": 2,"
             " \"workload\": {\"type\": \"periodic\", \"mean_mib\": 1024,"
             " \"amplitude_mib\": 512, \"period\": 60}}]}",
             n_guests * 1536 + 4096, n_guests);
    hv h;
    mlog log;
    mlog_init(&log, print_log, NULL, MOM_LOG_ERROR);
    if (sim_create_from_text(json, 1, 1.0, NULL, &log, &h) < 0) {
        fprintf(stderr, "cannot build the simulator\n");
        exit(1);
    }
    api_env env;
    api_env_init(&env, NULL, &log, &h);

    const mom_collector *gc_all[] = {&mom_collector_GuestQemuProc, &mom_collector_GuestMemory,
                                     &mom_collector_GuestBalloon, &mom_collector_GuestCpuTune};
    const mom_collector *const *gc = with_proc ? gc_all : gc_all + 1;
    size_t ngc = with_proc ? 4 : 3;
    const mom_collector *hc[] = {&mom_collector_HostMemory, &mom_collector_HostKSM,
                                 &mom_collector_HostCpu, &mom_collector_HostPressure};
    fieldtab *gf = fields_of(gc, ngc), *hf = fields_of(hc, 4);

    h.refresh(h.userdata, 0.0);
    mom_hv_list list;
    hv_list_init(&list);
    h.ops->get_vm_list(&list, h.userdata);
    monitor **mons = mom_calloc(list.n, sizeof(*mons));
    for (size_t i = 0; i < list.n; i++) {
        mom_hv_guest_info info = {.size = sizeof(info)};
        h.ops->get_vm_info(list.ids[i], &info, h.userdata);
        monitor_new(&env, MOM_ENTITY_GUEST, list.ids[i], info.name, info.uuid, info.pid, gf, gc,
                    ngc, 10, &mons[i]);
    }
    monitor *host;
    monitor_new(&env, MOM_ENTITY_HOST, "host", "host", NULL, 0, hf, hc, 4, 10, &host);

    int rounds = n_guests >= 10000 ? 7 : n_guests >= 1000 ? 15 : 41;
    double *coll = mom_calloc((size_t)rounds, sizeof(double));
    double *simt = mom_calloc((size_t)rounds, sizeof(double));
    double *hostt = mom_calloc((size_t)rounds, sizeof(double));
    sample **buf = mom_calloc(10, sizeof(sample *));
    size_t ready = 0;
    for (int r = -3; r < rounds; r++) { /* three warm-up rounds fill the history */
        double t0 = cpu_now();
        h.refresh(h.userdata, (double)(r + 4) * 5.0);
        double t1 = cpu_now();
        monitor_collect(host);
        monitor_finish(host);
        double th = cpu_now();
        ready = 0;
        for (size_t i = 0; i < list.n; i++) {
            monitor_collect(mons[i]);
            ready += monitor_finish(mons[i]);
        }
        snapshot *s = snapshot_new(ready);
        size_t k = 0;
        for (size_t i = 0; i < list.n; i++) {
            if (mons[i]->ready != MONITOR_READY)
                continue;
            size_t n = monitor_history(mons[i], buf);
            snap_entity_init(&s->guests[k++], MOM_ENTITY_GUEST, mons[i]->ent.id,
                             mons[i]->ent.name, mons[i]->ent.uuid, 0, mons[i]->props, gf, buf, n);
        }
        snapshot_unref(s);
        double t2 = cpu_now();
        if (r >= 0) {
            simt[r] = t1 - t0;
            coll[r] = t2 - t1;
            hostt[r] = th - t1;
        }
    }
    qsort(coll, (size_t)rounds, sizeof(double), cmp_double);
    qsort(simt, (size_t)rounds, sizeof(double), cmp_double);
    qsort(hostt, (size_t)rounds, sizeof(double), cmp_double);
    double med = coll[rounds / 2], per = med / (double)n_guests * 1e6;
    printf("| %6zu | %-36s | %5zu | %10.3f | %9.3f | %8.2f | %6.2f | %10.3f |\n", n_guests,
           with_proc ? "QemuProc, Memory, Balloon, CpuTune" : "Memory, Balloon, CpuTune", ready,
           med * 1e3, hostt[rounds / 2] * 1e3, per, per / 20.0, simt[rounds / 2] * 1e3);
    fflush(stdout);

    for (size_t i = 0; i < list.n; i++)
        monitor_free(mons[i]);
    monitor_free(host);
    mom_free(mons);
    mom_free(buf);
    mom_free(coll);
    mom_free(simt);
    mom_free(hostt);
    hv_list_done(&list);
    fieldtab_free(gf);
    fieldtab_free(hf);
    hv_destroy(&h);
}

int main(int argc, char **argv)
{
    size_t max = argc > 1 ? (size_t)atol(argv[1]) : 10000;
    printf("Collection cycle on the simulated host: CPU time, median of rounds\n");
    printf("(host collectors: HostMemory, HostKSM, HostCpu, HostPressure; history 10)\n\n");
    printf("| guests | guest collectors                     | ready | cycle (ms) | host (ms) | µs/guest | /20µs  | sim refresh (ms) |\n");
    printf("|-------:|--------------------------------------|------:|-----------:|----------:|---------:|-------:|-----------------:|\n");
    for (size_t n = 10; n <= max; n *= 10) {
        run(n, 0);
        run(n, 1);
    }
    printf("\nµs/guest covers the host and every guest (collectors, merge, history, snapshot);\n"
           "/20µs is the ratio to the target.  \"sim refresh\" is the simulator's own work\n"
           "(model and private /proc files), which a real host does not have.\n");
    return 0;
}
