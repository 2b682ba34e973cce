/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momd --trace: format cycle reports (mom.h, above mom_config) as aligned
 * columns.  Memory is shown in MiB (the report's KiB divided by 1024,
 * rounded); an absent value prints as "-".
 */
#include "trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Column layout shared by the header and the rows. */
#define ROW_FMT "%-8s  %-16s %8s %8s %10s %10s %6s %6s  %s\n"

void trace_header(FILE *out)
{
    fprintf(out, ROW_FMT, "# time", "guest", "balloon", "target", "guest-free", "host-free",
            "free%", "psi10", "ksm");
    fprintf(out, "# memory in MiB; target = balloon_target the policy set (- = none); "
                 "psi10 = host memory pressure, some avg10 (%%)\n");
    fflush(out);
}

/* A number from MAP `map` under `key`: INT, REAL and BOOL count; absent
 * keys and NONE do not. */
static bool get_num(const mom_value *map, const char *key, double *ret)
{
    const mom_value *v = map ? mom_value_get(map, key) : NULL;
    if (!v)
        return false;
    switch (mom_value_type_of(v)) {
    case MOM_VALUE_INT: *ret = (double)mom_value_int(v); return true;
    case MOM_VALUE_REAL: *ret = mom_value_real(v); return isfinite(*ret);
    case MOM_VALUE_BOOL: *ret = mom_value_bool(v) ? 1 : 0; return true;
    default: return false;
    }
}

/* KiB value `key` of `map` as whole MiB into buf, or "-". */
static const char *fmt_mib(char *buf, size_t len, const mom_value *map, const char *key)
{
    double kib;
    if (!get_num(map, key, &kib))
        return "-";
    snprintf(buf, len, "%.0f", kib / 1024.0);
    return buf;
}

/* The host columns (free memory, its share, PSI, KSM), the same on every
 * line of a cycle. */
typedef struct host_cols {
    char free[24], share[16], psi[16], ksm[24];
} host_cols;

static void fill_host(host_cols *h, const mom_value *host, const mom_value *host_controls)
{
    double free_kib, total_kib, psi, run, want;
    char tmp[24];
    snprintf(h->free, sizeof(h->free), "%s", fmt_mib(tmp, sizeof(tmp), host, "mem_free"));
    /* mem_available is the host's total RAM (REFERENCE.md §1.1). */
    if (get_num(host, "mem_free", &free_kib) && get_num(host, "mem_available", &total_kib) &&
        total_kib > 0)
        snprintf(h->share, sizeof(h->share), "%.1f%%", 100.0 * free_kib / total_kib);
    else
        strcpy(h->share, "-");
    if (get_num(host, "psi_mem_some_avg10", &psi))
        snprintf(h->psi, sizeof(h->psi), "%.2f", psi);
    else
        strcpy(h->psi, "-");
    bool have_run = get_num(host, "ksm_run", &run);
    bool have_want = get_num(host_controls, "ksm_run", &want);
    if (have_run && have_want && run != want)
        snprintf(h->ksm, sizeof(h->ksm), "%.0f->%.0f", run, want);
    else if (have_run)
        snprintf(h->ksm, sizeof(h->ksm), "%.0f", run);
    else if (have_want)
        snprintf(h->ksm, sizeof(h->ksm), "->%.0f", want);
    else
        strcpy(h->ksm, "-");
}

/* A guest's name, or "?" when the report has none. */
static const char *guest_name(const mom_value *g)
{
    const mom_value *v = mom_value_get(g, "name");
    return v && mom_value_type_of(v) == MOM_VALUE_STRING ? mom_value_string(v) : "?";
}

static int cmp_guest(const void *a, const void *b)
{
    return strcmp(guest_name(*(const mom_value *const *)a),
                  guest_name(*(const mom_value *const *)b));
}

/* One guest's line. */
static void print_guest(FILE *out, const char *when, const mom_value *g, const host_cols *h)
{
    char cur[24], target[24], gfree[24];
    fprintf(out, ROW_FMT, when, guest_name(g), fmt_mib(cur, sizeof(cur), g, "balloon_cur"),
            fmt_mib(target, sizeof(target), mom_value_get(g, "controls"), "balloon_target"),
            fmt_mib(gfree, sizeof(gfree), g, "mem_unused"), h->free, h->share, h->psi, h->ksm);
}

void trace_cycle(const mom_value *report, void *userdata)
{
    FILE *out = userdata ? userdata : stdout;
    if (!report || mom_value_type_of(report) != MOM_VALUE_MAP)
        return;

    char when[16] = "-";
    double t;
    if (get_num(report, "time", &t)) {
        time_t secs = (time_t)t;
        struct tm tm;
        localtime_r(&secs, &tm);
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
    }

    const mom_value *okv = mom_value_get(report, "ok");
    bool ok = okv && mom_value_type_of(okv) == MOM_VALUE_BOOL && mom_value_bool(okv);
    if (!ok) {
        const mom_value *err = mom_value_get(report, "error");
        const char *text = err && mom_value_type_of(err) == MOM_VALUE_STRING
                               ? mom_value_string(err)
                               : "(no reason given)";
        fprintf(out, "%-8s  cycle failed: %s\n", when, text);
    }

    host_cols h;
    fill_host(&h, mom_value_get(report, "host"), mom_value_get(report, "host_controls"));

    const mom_value *guests = mom_value_get(report, "guests");
    size_t n = guests && mom_value_type_of(guests) == MOM_VALUE_LIST ? mom_value_len(guests) : 0;
    if (n == 0)
        fprintf(out, ROW_FMT, when, "(no guests)", "-", "-", "-", h.free, h.share, h.psi, h.ksm);
    /* Guests in name order, so that a guest keeps its place from one cycle
     * to the next (the report lists them in no particular order). */
    const mom_value **order = n ? malloc(n * sizeof(*order)) : NULL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const mom_value *g = mom_value_at(guests, i);
        if (g && mom_value_type_of(g) == MOM_VALUE_MAP) {
            if (order)
                order[m++] = g;
            else
                print_guest(out, when, g, &h);
        }
    }
    if (order) {
        qsort(order, m, sizeof(*order), cmp_guest);
        for (size_t i = 0; i < m; i++)
            print_guest(out, when, order[i], &h);
        free(order);
    }
    fflush(out);
}
