/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy evaluation benchmark: the default Fortran-like policy set (the
 * .mom files of policies/) and the classic balloon + KSM + CPU-tune + I/O-tune
 * set (tests/fixtures/policies/classic) over hosts with 10, 100, 1,000
 * and 10,000 guests, each entity with a 10-sample history.  Both sets get
 * the classic named policy "01-parameters" that oVirt sends
 * ((set balloonEnabled True)), so the Fortran-like table also measures a
 * mixed set.  One evaluation is policy_set_eval() including the
 * conversion of the controls; the table shows the median CPU time of the
 * evaluating thread over many runs and the time per guest against the
 * target of 1 µs per guest per evaluation.  The last column, the time per
 * guest of the fastest tenth of the runs, shows the spread: on a shared
 * machine the same evaluation can take twice as long for seconds at a
 * time, and the median then says more about the machine than the code.
 * Successive evaluations get snapshots that are two samples newer each
 * (see build()), as in operation, so that what the policy set keeps from
 * one evaluation to the next (the history cache of avg()) is measured the
 * way it works, not on a snapshot it has already seen.
 *
 * Usage: bench_policy [POLICY_DIR|- [GUESTS [RUNS]]]   (default: both sets
 * of the checkout, found through $MOM_SRCDIR or the current directory, and
 * the four sizes above; POLICY_DIR picks one set ("-": the classic one),
 * GUESTS and RUNS one size, for profiling)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/sample.h"
#include "core/snapshot.h"
#include "core/value.h"
#include "lang/policy.h"

#define HISTORY 10
/* New samples per evaluation, and the snapshots one table row cycles
 * through (every SNAPS-th evaluation starts over from the oldest one, with
 * nothing of the previous window left to reuse). */
#define STEP 2
#define SNAPS 8
#define CHAIN (HISTORY + STEP * (SNAPS - 1))

static const char *const host_fields[] = {
    "mem_available", "mem_unused", "mem_free", "swap_in", "swap_out", "anon_pages",
    "swap_total", "swap_usage", "ksm_full_scans", "ksm_pages_sharing", "ksm_pages_unshared",
    "ksm_run", "ksm_pages_shared", "ksm_pages_to_scan", "ksm_pages_volatile",
    "ksm_sleep_millisecs", "ksm_merge_across_nodes", "ksm_shareable", "ksmd_cpu_usage",
    "cpu_count", NULL,
};
static const char *const guest_mandatory[] = {
    "vcpu_quota", "vcpu_period", "vcpu_user_limit", "vcpu_count", NULL,
};
static const char *const guest_optional[] = {
    "mem_available", "mem_unused", "major_fault", "minor_fault", "swap_in", "swap_out",
    "swap_total", "swap_usage", "balloon_cur", "balloon_max", "balloon_min", "io_tune",
    "io_tune_current", NULL,
};

/* The CPU time of this thread: what an evaluation costs, without the time
 * the thread waits for a core on a busy machine. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_policy: %s\n", what);
    exit(1);
}

static void set_int(const fieldtab *ft, sample *s, const char *name, int64_t v)
{
    int id = fieldtab_find(ft, name);
    if (id < 0)
        die(name);
    s->f[id].kind = FV_INT;
    s->f[id].u.i = v;
}

static void set_value(const fieldtab *ft, sample *s, const char *name, mom_value *v)
{
    int id = fieldtab_find(ft, name);
    if (id < 0)
        die(name);
    fval_set_value(&s->f[id], mom_value_ref(v));
}

static fieldtab *make_table(const char *const *mandatory, const char *const *optional)
{
    fieldtab *t = fieldtab_new();
    for (const char *const *p = mandatory; p && *p; p++)
        fieldtab_add(t, *p, true);
    for (const char *const *p = optional; p && *p; p++)
        fieldtab_add(t, *p, false);
    if (!t || fieldtab_finish(t) < 0)
        die("field table");
    return t;
}

static mom_value *limits(int64_t total, int64_t rd, int64_t wr)
{
    mom_value *m = value_new_map();
    value_map_set(m, "total_bytes_sec", value_new_int(total));
    value_map_set(m, "read_bytes_sec", value_new_int(rd));
    value_map_set(m, "write_bytes_sec", value_new_int(wr));
    value_map_set(m, "total_iops_sec", value_new_int(0));
    value_map_set(m, "read_iops_sec", value_new_int(0));
    value_map_set(m, "write_iops_sec", value_new_int(0));
    return m;
}

/* One disk with an I/O policy.  Its current limits are its maximum ones,
 * which is what the I/O-tune policies of both sets decide: the steady
 * state, once the IoTune controller has applied them and the collectors
 * report them.  (A policy that changes the limits every cycle also pays
 * for saving and restoring them, intr_io_set.) */
static void io_values(mom_value **ret_tune, mom_value **ret_current)
{
    mom_value *tune = value_new_list(), *cur = value_new_list();
    mom_value *d = value_new_map();
    value_map_set(d, "name", value_new_string("vda"));
    value_map_set(d, "path", value_new_string("/images/vda.img"));
    value_map_set(d, "guaranteed", limits(0, 0, 0));
    value_map_set(d, "maximum", limits(10000000, 5000000, 5000000));
    value_map_set(d, "current", limits(10000000, 5000000, 5000000));
    value_list_append(tune, d);
    mom_value *c = value_new_map();
    value_map_set(c, "name", value_new_string("vda"));
    value_map_set(c, "path", value_new_string("/images/vda.img"));
    value_map_set(c, "ioTune", limits(10000000, 5000000, 5000000));
    value_list_append(cur, c);
    *ret_tune = tune;
    *ret_current = cur;
}

/* A host under memory pressure with n guests, as SNAPS snapshots of
 * HISTORY samples each: snapshot j holds the samples STEP * j to
 * STEP * j + HISTORY - 1 of every entity, so that each one is STEP samples
 * newer than the one before, as the engine publishes them (the default
 * intervals collect two guest samples per policy evaluation).  Samples are
 * numbered (sample.seq) in collection order, as the engine numbers them. */
static void build(size_t n, fieldtab *hft, fieldtab *gft, mom_value *io, mom_value *io_cur,
                  snapshot **snaps)
{
    for (int j = 0; j < SNAPS; j++) {
        snaps[j] = snapshot_new(n);
        if (!snaps[j])
            die("snapshot");
        snaps[j]->host_fields = hft;
        snaps[j]->guest_fields = gft;
    }
    size_t ents = n + 1;
    /* The samples are made round by round, the host's and then every
     * guest's, as the engine collects them: so they lie in memory as the
     * engine's do (sample.c places the samples of one round side by side). */
    sample *hs[CHAIN];
    sample **all = malloc(n * CHAIN * sizeof(*all) + 1);
    if (!all)
        die("samples");
    for (int k = 0; k < CHAIN; k++) {
        if (!(hs[k] = sample_new(hft->n)))
            die("samples");
        for (size_t i = 0; i < n; i++)
            if (!(all[i * CHAIN + (size_t)k] = sample_new(gft->n)))
                die("samples");
    }
    for (int k = 0; k < CHAIN; k++) {
        hs[k]->seq = (uint64_t)k * ents + 1;
        for (size_t f = 0; f < hft->n; f++) {
            hs[k]->f[f].kind = FV_INT;
            hs[k]->f[f].u.i = 0;
        }
        set_int(hft, hs[k], "mem_available", 16000000 + 1000 * (int64_t)n);
        set_int(hft, hs[k], "mem_free", 2000000 + 10000 * (k % HISTORY));
        set_int(hft, hs[k], "ksm_shareable", 6000000);
        set_int(hft, hs[k], "ksm_merge_across_nodes", 1);
        set_int(hft, hs[k], "ksm_pages_to_scan", 100);
        set_int(hft, hs[k], "ksm_sleep_millisecs", 10);
        set_int(hft, hs[k], "cpu_count", 64);
    }
    mom_value *hprops = value_new_map();
    value_map_set(hprops, "interval", value_new_int(15));
    for (int j = 0; j < SNAPS; j++) {
        if (snap_entity_init(&snaps[j]->host, MOM_ENTITY_HOST, "host", "host", NULL, 0, hprops,
                             hft, hs + STEP * j, HISTORY) < 0)
            die("host");
        snaps[j]->host.serial = 1; /* the monitor's serial, as the engine gives it */
    }
    mom_value_unref(hprops);
    for (int k = 0; k < CHAIN; k++)
        sample_unref(hs[k]);
    for (size_t i = 0; i < n; i++) {
        char id[32], name[32];
        snprintf(id, sizeof(id), "uuid-%zu", i);
        snprintf(name, sizeof(name), "vm-%zu", i);
        sample **gs = all + i * CHAIN;
        for (int k = 0; k < CHAIN; k++) {
            sample *g = gs[k];
            g->seq = (uint64_t)k * ents + i + 2;
            for (size_t f = 0; f < gft->n; f++)
                g->f[f].kind = FV_NONE;
            int64_t cur = 2097152 + (int64_t)(i % 7) * 262144;
            set_int(gft, g, "balloon_cur", cur);
            set_int(gft, g, "balloon_max", 4194304);
            set_int(gft, g, "balloon_min", 1048576);
            set_int(gft, g, "mem_unused", 300000 + (int64_t)((i * 31 + (size_t)k * 7) % 500000));
            set_int(gft, g, "mem_available", cur);
            set_int(gft, g, "vcpu_quota", -1);
            set_int(gft, g, "vcpu_period", 100000);
            set_int(gft, g, "vcpu_user_limit", i % 3 ? 50 : 100);
            set_int(gft, g, "vcpu_count", 4);
            /* One value for every sample, as the monitor keeps it: a
             * collection that reports the same io_tune as the previous one
             * shares the previous value (monitor.c, share_unchanged). */
            set_value(gft, g, "io_tune", io);
            set_value(gft, g, "io_tune_current", io_cur);
        }
        mom_value *props = value_new_map();
        value_map_set(props, "name", value_new_string(name));
        value_map_set(props, "uuid", value_new_string(id));
        value_map_set(props, "pid", value_new_int(1000 + (int64_t)i));
        for (int j = 0; j < SNAPS; j++) {
            if (snap_entity_init(&snaps[j]->guests[i], MOM_ENTITY_GUEST, id, name, id,
                                 1000 + (int64_t)i, props, gft, gs + STEP * j, HISTORY) < 0)
                die("guest");
            snaps[j]->guests[i].serial = i + 2;
        }
        mom_value_unref(props);
        for (int k = 0; k < CHAIN; k++)
            sample_unref(gs[k]);
    }
    free(all);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Whether dir holds a *.mom file. */
static int has_mom(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "ls '%s'/*.mom >/dev/null 2>&1", dir);
    return system(cmd) == 0;
}

/* Load the policy files of dir (plus 01-parameters) and print one table. */
static void bench_set(const char *dir, const char *what, size_t *sizes, size_t n_sizes,
                      int fixed_runs, fieldtab *hft, fieldtab *gft, mom_value *io,
                      mom_value *io_cur)
{
    policy_opts o = { 0 };
    policy_set *p;
    if (policy_set_new(&o, &p) < 0)
        die("policy set");
    char *err = NULL;
    if (policy_set_load_files(p, NULL, dir, &err) != 0) {
        fprintf(stderr, "bench_policy: %s\n", err ? err : "cannot load the policies");
        exit(1);
    }
    static const char *const name = "01-parameters", *const text = "(set balloonEnabled True)";
    if (policy_set_set(p, name, text, NULL, &err) != 0)
        die(err ? err : "parameters");

    printf("policy evaluation: %s (%zu policies from %s), %d-sample history,\n"
           "each evaluation %d samples newer than the one before (every %dth starts over)\n",
           what, policy_set_count(p), dir, HISTORY, STEP, SNAPS);
    printf("%8s %8s %14s %14s %14s %15s\n", "guests", "runs", "median/eval", "per guest",
           "vs 1us target", "fastest tenth");
    for (size_t si = 0; si < n_sizes; si++) {
        size_t n = sizes[si];
        snapshot *snaps[SNAPS];
        build(n, hft, gft, io, io_cur, snaps);
        int runs = n ? (int)(2000000 / n) : 2001;
        if (runs > 2001)
            runs = 2001;
        if (runs < 41)
            runs = 41;
        if (fixed_runs > 0)
            runs = fixed_runs;
        double *t = malloc((size_t)runs * sizeof(double));
        /* Warm up once (and check that the evaluation succeeds). */
        controls *c = NULL;
        if (policy_set_eval(p, snaps[SNAPS - 1], &c, NULL, &err) != 0)
            die(err ? err : "evaluation failed");
        if (n && mom_value_len(c->guests[0]) == 0)
            die("no guest controls: the policies did not run as intended");
        controls_free(c);
        for (int r = 0; r < runs; r++) {
            double t0 = now();
            if (policy_set_eval(p, snaps[r % SNAPS], &c, NULL, &err) != 0)
                die("evaluation failed");
            controls_free(c);
            t[r] = now() - t0;
        }
        qsort(t, (size_t)runs, sizeof(double), cmp_double);
        double med = t[runs / 2];
        double per_guest_us = med * 1e6 / (double)(n ? n : 1);
        double p10_us = t[runs / 10] * 1e6 / (double)(n ? n : 1);
        printf("%8zu %8d %11.1f us %11.3f us %13.2fx %12.3f us\n", n, runs, med * 1e6,
               per_guest_us, per_guest_us / 1.0, p10_us);
        free(t);
        for (int j = 0; j < SNAPS; j++)
            snapshot_unref(snaps[j]);
    }
    policy_set_free(p);
}

int main(int argc, char **argv)
{
    const char *src = getenv("MOM_SRCDIR");
    char classic[4096], fortran[4096];
    snprintf(classic, sizeof(classic), "%s/tests/fixtures/policies/classic", src ? src : ".");
    snprintf(fortran, sizeof(fortran), "%s/policies", src ? src : ".");
    size_t sizes[] = { 10, 100, 1000, 10000 };
    size_t n_sizes = sizeof(sizes) / sizeof(sizes[0]);
    int fixed_runs = 0;
    if (argc > 2) {
        sizes[0] = (size_t)strtoul(argv[2], NULL, 10);
        n_sizes = 1;
        fixed_runs = argc > 3 ? atoi(argv[3]) : 0;
    }
    fieldtab *hft = make_table(host_fields, NULL);
    fieldtab *gft = make_table(guest_mandatory, guest_optional);
    mom_value *io, *io_cur;
    io_values(&io, &io_cur);
    if (argc > 1 && strcmp(argv[1], "-") != 0) {
        bench_set(argv[1], "the policies", sizes, n_sizes, fixed_runs, hft, gft, io, io_cur);
    } else {
        if (argc <= 1 && has_mom(fortran)) {
            bench_set(fortran, "default Fortran-like balloon + KSM + CPU tune + I/O tune", sizes,
                      n_sizes, fixed_runs, hft, gft, io, io_cur);
            printf("\n");
        }
        bench_set(classic, "classic balloon + KSM + CPU tune + I/O tune", sizes, n_sizes,
                  fixed_runs, hft, gft, io, io_cur);
    }
    mom_value_unref(io);
    mom_value_unref(io_cur);
    fieldtab_free(hft);
    fieldtab_free(gft);
    return 0;
}
