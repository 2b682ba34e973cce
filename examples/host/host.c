/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mom-example-host: a host program that embeds libmom, the way a
 * vdsm-like virtualization manager does.
 *
 * The program keeps its own small table of guests (here they are
 * pretend guests whose memory use it models; a real host would ask its
 * hypervisor), hands libmom a table of hypervisor callbacks that answer
 * from that table, runs the engine in the engine's own thread, and carries
 * out what the policies decide: every balloon, CPU-tune, I/O-tune and KSM
 * action arrives in a callback and is printed as one line
 *
 *   ACTION balloon vm1 4031488
 *   ACTION ksm run=1 pages_to_scan=300 sleep_millisecs=10
 *
 * Usage:
 *   mom-example-host [-c mom.conf] [-o SECTION:KEY=VALUE]... [-g GUESTS]
 *                    [-t SECONDS] [-x CALLBACK]... [-v LEVEL]
 *
 *   -c  configuration file (default: none, built-in defaults)
 *   -o  configuration override, e.g. -o main:policy-dir=/etc/mom.d
 *   -g  number of guests to pretend (default 2)
 *   -t  run for this many seconds (default 0: until SIGINT or SIGTERM)
 *   -x  leave this callback out of the table (e.g. set_vm_balloon_target),
 *       to see how libmom disables what depends on it
 *   -v  log verbosity (debug, info, warn, error, critical)
 *
 * It uses only the public headers <mom/mom.h> and <mom/hypervisor.h>.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mom/hypervisor.h>
#include <mom/mom.h>

/* ---- the host program's own bookkeeping of guests ---------------------- */

typedef struct guest {
    char uuid[64];
    char name[64];
    /* memory, KiB */
    int64_t balloon_cur, balloon_max, balloon_min;
    int64_t used;          /* what the guest's workload uses */
    int64_t major_fault, minor_fault;
    /* CPU tune */
    int64_t vcpu_quota, vcpu_period, vcpu_count;
    /* I/O tune of its one disk, vda */
    mom_hv_io_limits io_current, io_guaranteed, io_maximum;
} guest;

typedef struct host {
    pthread_mutex_t mu;    /* guards everything below; callbacks run on workers */
    guest *guests;
    size_t n_guests;
    mom_hv_ksm_tune ksm;   /* the last KSM settings we were given */
    int stats_period;
    pthread_mutex_t out_mu; /* one line at a time on stdout / stderr */
} host;

static guest *find_guest(host *h, const char *uuid)
{
    for (size_t i = 0; i < h->n_guests; i++)
        if (strcmp(h->guests[i].uuid, uuid) == 0)
            return &h->guests[i];
    return NULL;
}

static void say(host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print one action line.  Callbacks run on several engine threads at
 * once, so output is serialised. */
static void say(host *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&h->out_mu);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&h->out_mu);
    va_end(ap);
}

/* ---- hypervisor callbacks --------------------------------------------- */
/*
 * Each runs on an engine worker thread, may run concurrently with the
 * others (for different guests), returns 0 or a negative errno, and never
 * calls back into the engine.  Lists are returned through the add
 * functions, which copy: nothing allocated here is handed to libmom.
 */

static int cb_get_vm_list(mom_hv_list *out, void *userdata)
{
    host *h = userdata;
    int rc = 0;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n_guests && rc == 0; i++)
        rc = mom_hv_list_add(out, h->guests[i].uuid);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static int cb_get_vm_info(const char *id, mom_hv_guest_info *ret, void *userdata)
{
    host *h = userdata;
    pthread_mutex_lock(&h->mu);
    guest *g = find_guest(h, id);
    if (g) {
        snprintf(ret->name, sizeof(ret->name), "%s", g->name);
        snprintf(ret->uuid, sizeof(ret->uuid), "%s", g->uuid);
        ret->pid = 0; /* no QEMU process in this example: unknown */
    }
    pthread_mutex_unlock(&h->mu);
    return g ? 0 : -ENOENT;
}

static int cb_start_vm_memory_stats(const char *id, int period_s, void *userdata)
{
    host *h = userdata;
    (void)id;
    pthread_mutex_lock(&h->mu);
    h->stats_period = period_s;
    pthread_mutex_unlock(&h->mu);
    return 0;
}

static int cb_get_vm_memory_stats(const char *id, mom_hv_memory_stats *ret, void *userdata)
{
    host *h = userdata;
    pthread_mutex_lock(&h->mu);
    guest *g = find_guest(h, id);
    if (g) {
        /* The guest sees its logical size; what its workload does not use
         * is free, and a little of that is page cache. */
        int64_t unused = g->balloon_cur - g->used;
        if (unused < 0)
            unused = 0;
        g->minor_fault += 1000;
        if (unused == 0)
            g->major_fault += 50; /* squeezed: it starts to page */
        ret->present = MOM_HV_MEM_AVAILABLE | MOM_HV_MEM_UNUSED | MOM_HV_MEM_FREE |
                       MOM_HV_MAJOR_FAULT | MOM_HV_MINOR_FAULT | MOM_HV_SWAP_IN |
                       MOM_HV_SWAP_OUT | MOM_HV_MEM_USABLE;
        ret->mem_available = g->balloon_cur;
        ret->mem_unused = unused;
        ret->mem_free = unused + unused / 8;
        ret->mem_usable = unused + unused / 8;
        ret->major_fault = g->major_fault;
        ret->minor_fault = g->minor_fault;
        ret->swap_in = 0;
        ret->swap_out = 0;
    }
    pthread_mutex_unlock(&h->mu);
    return g ? 0 : -ENOENT;
}

static int cb_get_vm_balloon_info(const char *id, mom_hv_balloon_info *ret, void *userdata)
{
    host *h = userdata;
    pthread_mutex_lock(&h->mu);
    guest *g = find_guest(h, id);
    if (g) {
        ret->balloon_cur = g->balloon_cur;
        ret->balloon_max = g->balloon_max;
        ret->balloon_min = g->balloon_min;
    }
    pthread_mutex_unlock(&h->mu);
    return g ? 0 : -ENOENT;
}

static int cb_set_vm_balloon_target(const char *id, int64_t target_kib, void *userdata)
{
    host *h = userdata;
    char name[64] = "";
    pthread_mutex_lock(&h->mu);
    guest *g = find_guest(h, id);
    if (g) {
        /* A real host calls its hypervisor here (libvirt's
         * virDomainSetMemory, vdsm's VM.setBalloonTarget). */
        if (target_kib > g->balloon_max)
            target_kib = g->balloon_max;
        g->balloon_cur = target_kib;
        snprintf(name, sizeof(name), "%s", g->name);
    }
    pthread_mutex_unlock(&h->mu);
    if (!g)
        return -ENOENT;
    say(h, "ACTION balloon %s %" PRId64, name, target_kib);
    return 0;
}

static int cb_get_vm_cpu_tune_info(const char *id, mom_hv_cpu_tune_info *ret, void *userdata)
{
    host *h = userdata;
    pthread_mutex_lock(&h->mu);
    guest *g = find_guest(h, id);
    if (g) {
        ret->vcpu_quota = g->vcpu_quota;
        ret->vcpu_period = g->vcpu_period;
        ret->vcpu_user_limit = 100;
        ret->vcpu_count = g->vcpu_count;
    }
    pthread_mutex_unlock(&h->mu);
    return g ? 0 : -ENOENT;
}

static int cb_set_vm_cpu_tune(const char *id, int64_t quota, int64_t period, void *userdata)
{
    host *h = userdata;
    char name[64] = "";
    pthread_mutex_lock(&h->mu);
    guest *g = find_guest(h, id);
    if (g) {
        g->vcpu_quota = quota;
        g->vcpu_period = period;
        snprintf(name, sizeof(name), "%s", g->name);
    }
    pthread_mutex_unlock(&h->mu);
    if (!g)
        return -ENOENT;
    say(h, "ACTION cputune %s quota=%" PRId64 " period=%" PRId64, name, quota, period);
    return 0;
}

static int cb_get_vm_io_tune_policy(const char *id, mom_hv_disk_list *out, void *userdata)
{
    host *h = userdata;
    int rc = -ENOENT;
    pthread_mutex_lock(&h->mu);
    guest *g = find_guest(h, id);
    if (g)
        rc = mom_hv_disk_list_add_policy(out, "vda", "/images/disk.img", &g->io_guaranteed,
                                         &g->io_maximum);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static int cb_get_vm_io_tune(const char *id, mom_hv_disk_list *out, void *userdata)
{
    host *h = userdata;
    int rc = -ENOENT;
    pthread_mutex_lock(&h->mu);
    guest *g = find_guest(h, id);
    if (g)
        rc = mom_hv_disk_list_add_tune(out, "vda", "/images/disk.img", &g->io_current);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static int cb_set_vm_io_tune(const char *id, const mom_hv_disk_tune *disks, size_t n_disks,
                             void *userdata)
{
    host *h = userdata;
    char name[64] = "";
    pthread_mutex_lock(&h->mu);
    guest *g = find_guest(h, id);
    if (g) {
        for (size_t i = 0; i < n_disks; i++)
            if (disks[i].name && strcmp(disks[i].name, "vda") == 0)
                g->io_current = disks[i].io_tune;
        snprintf(name, sizeof(name), "%s", g->name);
    }
    pthread_mutex_unlock(&h->mu);
    if (!g)
        return -ENOENT;
    for (size_t i = 0; i < n_disks; i++)
        say(h, "ACTION iotune %s %s total_bytes_sec=%" PRId64 " total_iops_sec=%" PRId64, name,
            disks[i].name ? disks[i].name : "?", disks[i].io_tune.total_bytes_sec,
            disks[i].io_tune.total_iops_sec);
    return 0;
}

static int cb_ksm_tune(const mom_hv_ksm_tune *tune, void *userdata)
{
    host *h = userdata;
    char line[256];
    int len = snprintf(line, sizeof(line), "ACTION ksm");
    static const struct {
        uint32_t bit;
        const char *key;
        size_t off;
    } keys[] = {
        {MOM_HV_KSM_RUN, "run", offsetof(mom_hv_ksm_tune, run)},
        {MOM_HV_KSM_PAGES_TO_SCAN, "pages_to_scan", offsetof(mom_hv_ksm_tune, pages_to_scan)},
        {MOM_HV_KSM_SLEEP_MILLISECS, "sleep_millisecs",
         offsetof(mom_hv_ksm_tune, sleep_millisecs)},
        {MOM_HV_KSM_MERGE_ACROSS_NODES, "merge_across_nodes",
         offsetof(mom_hv_ksm_tune, merge_across_nodes)},
    };
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!(tune->present & keys[i].bit))
            continue;
        int64_t v = *(const int64_t *)((const char *)tune + keys[i].off);
        *(int64_t *)((char *)&h->ksm + keys[i].off) = v;
        h->ksm.present |= keys[i].bit;
        if (len > 0 && (size_t)len < sizeof(line))
            len += snprintf(line + len, sizeof(line) - (size_t)len, " %s=%" PRId64, keys[i].key,
                            v);
    }
    pthread_mutex_unlock(&h->mu);
    /* A real host writes /sys/kernel/mm/ksm here, as root (vdsm asks
     * supervdsm to). */
    say(h, "%s", line);
    return 0;
}

/* The table: one entry per operation.  `-x NAME` clears one of them. */
static mom_hv_ops host_ops = {
    .size = sizeof(mom_hv_ops),
    .get_vm_list = cb_get_vm_list,
    .get_vm_info = cb_get_vm_info,
    .start_vm_memory_stats = cb_start_vm_memory_stats,
    .get_vm_memory_stats = cb_get_vm_memory_stats,
    .get_vm_balloon_info = cb_get_vm_balloon_info,
    .set_vm_balloon_target = cb_set_vm_balloon_target,
    .get_vm_cpu_tune_info = cb_get_vm_cpu_tune_info,
    .set_vm_cpu_tune = cb_set_vm_cpu_tune,
    .get_vm_io_tune_policy = cb_get_vm_io_tune_policy,
    .get_vm_io_tune = cb_get_vm_io_tune,
    .set_vm_io_tune = cb_set_vm_io_tune,
    .ksm_tune = cb_ksm_tune,
    .qemu_agent_command = NULL, /* no guest agent in this example */
    .free_reply = NULL,
};

static int drop_callback(const char *name)
{
    static const struct {
        const char *name;
        size_t off;
    } slots[] = {
#define SLOT(f) {#f, offsetof(mom_hv_ops, f)}
        SLOT(get_vm_list),           SLOT(get_vm_info),           SLOT(start_vm_memory_stats),
        SLOT(get_vm_memory_stats),   SLOT(get_vm_balloon_info),   SLOT(set_vm_balloon_target),
        SLOT(get_vm_cpu_tune_info),  SLOT(set_vm_cpu_tune),       SLOT(get_vm_io_tune_policy),
        SLOT(get_vm_io_tune),        SLOT(set_vm_io_tune),        SLOT(ksm_tune),
#undef SLOT
    };
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        if (strcmp(slots[i].name, name) == 0) {
            memset((char *)&host_ops + slots[i].off, 0, sizeof(void (*)(void)));
            return 0;
        }
    }
    return -ENOENT;
}

/* ---- logging ---------------------------------------------------------- */

static void log_line(mom_log_level level, const char *logger, const char *msg, void *userdata)
{
    static const char *const names[] = {"?", "CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"};
    host *h = userdata;
    pthread_mutex_lock(&h->out_mu);
    fprintf(stderr, "%s %s: %s\n", level >= 1 && level <= 5 ? names[level] : "?", logger, msg);
    pthread_mutex_unlock(&h->out_mu);
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *to)
{
    fprintf(to, "usage: mom-example-host [-c mom.conf] [-o SECTION:KEY=VALUE]... [-g GUESTS]\n"
                "                        [-t SECONDS] [-x CALLBACK]... [-v LEVEL]\n");
}

/* Split "SECTION:KEY=VALUE" in place into an override. */
static int parse_override(char *arg, mom_config_override *ret)
{
    char *colon = strchr(arg, ':');
    char *eq = colon ? strchr(colon + 1, '=') : NULL;
    if (!colon || !eq)
        return -EINVAL;
    *colon = '\0';
    *eq = '\0';
    ret->section = arg;
    ret->key = colon + 1;
    ret->value = eq + 1;
    return 0;
}

/* Print the engine's view at the end: what a host program would show. */
static void print_statistics(host *h, mom_engine *e)
{
    mom_value *st = NULL;
    if (mom_engine_get_statistics(e, &st) < 0)
        return;
    const mom_value *hs = mom_value_get(st, "host");
    const mom_value *gs = mom_value_get(st, "guests");
    const mom_value *mf = mom_value_get(hs, "mem_free");
    say(h, "STATS host fields=%zu mem_free=%" PRId64 " guests=%zu", mom_value_len(hs),
        mf && mom_value_type_of(mf) == MOM_VALUE_INT ? mom_value_int(mf) : -1,
        mom_value_len(gs));
    for (size_t i = 0; i < mom_value_len(gs); i++) {
        const mom_value *bc = mom_value_get(mom_value_at(gs, i), "balloon_cur");
        say(h, "STATS guest %s balloon_cur=%" PRId64, mom_value_key_at(gs, i),
            bc && mom_value_type_of(bc) == MOM_VALUE_INT ? mom_value_int(bc) : -1);
    }
    mom_value_unref(st);
}

int main(int argc, char **argv)
{
    const char *config_file = NULL;
    const char *verbosity = NULL;
    mom_config_override overrides[64];
    size_t n_overrides = 0;
    long n_guests = 2, seconds = 0;
    int opt;
    while ((opt = getopt(argc, argv, "c:o:g:t:x:v:h")) != -1) {
        switch (opt) {
        case 'c':
            config_file = optarg;
            break;
        case 'o':
            if (n_overrides == sizeof(overrides) / sizeof(overrides[0]) ||
                parse_override(optarg, &overrides[n_overrides]) < 0) {
                fprintf(stderr, "mom-example-host: bad override '%s'\n", optarg);
                return 2;
            }
            n_overrides++;
            break;
        case 'g':
            n_guests = strtol(optarg, NULL, 10);
            break;
        case 't':
            seconds = strtol(optarg, NULL, 10);
            break;
        case 'x':
            if (drop_callback(optarg) < 0) {
                fprintf(stderr, "mom-example-host: no callback '%s'\n", optarg);
                return 2;
            }
            break;
        case 'v':
            verbosity = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (n_guests < 0 || n_guests > 1000 || seconds < 0) {
        usage(stderr);
        return 2;
    }

    /* The host program's guests: 4 GiB each, 1 GiB guaranteed, using a
     * different amount. */
    host h = {.mu = PTHREAD_MUTEX_INITIALIZER, .out_mu = PTHREAD_MUTEX_INITIALIZER};
    h.guests = calloc((size_t)n_guests + 1, sizeof(guest));
    if (!h.guests)
        return 1;
    h.n_guests = (size_t)n_guests;
    for (long i = 0; i < n_guests; i++) {
        guest *g = &h.guests[i];
        snprintf(g->uuid, sizeof(g->uuid), "6f1c0d2e-0000-4000-8000-%012ld", i + 1);
        snprintf(g->name, sizeof(g->name), "vm%ld", i + 1);
        g->balloon_max = g->balloon_cur = 4194304;
        g->balloon_min = 1048576;
        g->used = 1048576 + 262144 * (i % 8);
        g->vcpu_count = 2;
        g->vcpu_period = 100000;
        g->vcpu_quota = -1;
        g->io_maximum.present = MOM_HV_IO_ALL;
        g->io_maximum.total_bytes_sec = 100 * 1024 * 1024;
        g->io_maximum.total_iops_sec = 1000;
        g->io_guaranteed.present = MOM_HV_IO_ALL;
        g->io_guaranteed.total_bytes_sec = 10 * 1024 * 1024;
        g->io_guaranteed.total_iops_sec = 100;
        g->io_current.present = MOM_HV_IO_ALL;
    }

    /* Signals are taken synchronously by the main thread; the engine's
     * threads inherit the blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    mom_config cfg;
    mom_config_init(&cfg);
    cfg.config_file = config_file;
    cfg.overrides = overrides;
    cfg.n_overrides = n_overrides;
    cfg.log_fn = log_line;
    cfg.log_userdata = &h;
    cfg.hv_ops = &host_ops; /* must stay valid until mom_engine_free() */
    cfg.hv_userdata = &h;

    mom_engine *e = NULL;
    int rc = mom_engine_new(&cfg, &e);
    if (rc < 0) {
        fprintf(stderr, "mom-example-host: cannot create the engine: %s\n", mom_strerror(rc));
        free(h.guests);
        return 1;
    }
    if (verbosity)
        mom_engine_set_verbosity(e, verbosity);
    say(&h, "STARTED libmom %s, %zu guests", mom_version(), h.n_guests);
    if ((rc = mom_engine_start(e)) < 0) {
        fprintf(stderr, "mom-example-host: cannot start the engine: %s\n", mom_strerror(rc));
        mom_engine_free(e);
        free(h.guests);
        return 1;
    }

    /* The host program's own work would go on here; this one waits for a
     * signal or the end of its time. */
    struct timespec limit = {.tv_sec = seconds > 0 ? seconds : 3600};
    for (;;) {
        int sig = sigtimedwait(&sigs, NULL, &limit);
        if (sig > 0 || seconds > 0 || (sig < 0 && errno != EAGAIN && errno != EINTR))
            break;
    }

    mom_engine_stop(e);
    print_statistics(&h, e);
    mom_engine_free(e);
    say(&h, "STOPPED");
    free(h.guests);
    return 0;
}
