/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HostKSM: the kernel samepage merging tunables and counters from
 * SYS/kernel/mm/ksm, the virtual size of the QEMU processes, and the CPU
 * share of the ksmd kernel thread (REFERENCE §1.2).
 *
 * As decided for this project, a missing optional KSM file (a kernel
 * without merge_across_nodes, say) leaves its field None; only `run` is
 * required, and its absence at init is a start-up error.  QEMU processes
 * are found by reading PROC/<pid>/comm instead of running pgrep and ps.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "collectors/procfs.h"
#include "core/alloc.h"
#include "core/registry.h"

typedef struct hostksm {
    const mom_plugin_api *api;
    mom_entity *entity;
    char proc_root[PATH_MAX];
    char ksm_dir[PATH_MAX];
    procfs_buf buf;
    long ksmd_pid;          /* 0 when unknown */
    uint64_t ksmd_prev;     /* utime + stime at the previous reading */
    uint64_t divisor;       /* CLK_TCK x configured host-monitor interval */
    /* What the previous scan learnt about each process, sorted by pid, so
     * that a collection only reads the files of QEMU processes: a process
     * keeps its name for its whole life, and every RESCAN_EVERY collections
     * every name is read again (a pid reused between two scans). */
    struct pidkind *pids;
    size_t n_pids, cap_pids;
    unsigned scans;
} hostksm;

enum { PK_OTHER, PK_QEMU, PK_KSMD };
struct pidkind {
    long pid;
    int kind;
};
#define RESCAN_EVERY 12

/* The sysfs files, in field order; the field is "ksm_" + file name. */
static const char *const ksm_files[] = {
    "run", "sleep_millisecs", "pages_to_scan", "merge_across_nodes", "pages_shared",
    "pages_sharing", "pages_unshared", "pages_volatile", "full_scans",
};
#define N_KSM_FILES (sizeof(ksm_files) / sizeof(ksm_files[0]))

static const char *const hostksm_mandatory[] = {
    "ksm_run", "ksm_sleep_millisecs", "ksm_pages_to_scan", "ksm_merge_across_nodes",
    "ksm_pages_shared", "ksm_pages_sharing", "ksm_pages_unshared", "ksm_pages_volatile",
    "ksm_full_scans", "ksm_shareable", "ksmd_cpu_usage", NULL,
};

static void hostksm_fini(void *state)
{
    hostksm *k = state;
    if (!k)
        return;
    procfs_buf_done(&k->buf);
    mom_free(k->pids);
    mom_free(k);
}

/* Read utime + stime (fields 14 and 15) of PROC/<pid>/stat, checking that
 * the process is still called ksmd (a pid may be reused).  -ESRCH when
 * the process is gone or is something else now. */
static int ksmd_jiffies(hostksm *k, long pid, uint64_t *ret)
{
    char path[PATH_MAX];
    char rel[64];
    snprintf(rel, sizeof(rel), "%ld/stat", pid);
    int r = procfs_path(path, sizeof(path), k->proc_root, rel);
    if (r < 0)
        return r;
    if (procfs_read(path, &k->buf) < 0)
        return -ESRCH;
    const char *open_paren = strchr(k->buf.data, '(');
    const char *close_paren = strrchr(k->buf.data, ')');
    if (!open_paren || !close_paren || close_paren - open_paren - 1 != 4 ||
        strncmp(open_paren + 1, "ksmd", 4) != 0)
        return -ESRCH;
    uint64_t utime, stime;
    if (procfs_stat_field(k->buf.data, 14, &utime) < 0 ||
        procfs_stat_field(k->buf.data, 15, &stime) < 0)
        return -EINVAL;
    *ret = utime + stime;
    return 0;
}

/* procfs_foreach_pid callback of the init scan: stop at ksmd. */
static int find_ksmd(int dirfd, long pid, const char *comm, void *userdata)
{
    (void)dirfd;
    if (strcmp(comm, "ksmd") != 0)
        return 0;
    *(long *)userdata = pid;
    return 1;
}

/* Per-collection scan state: the QEMU virtual size and ksmd's pid. */
typedef struct ksm_scan {
    hostksm *k;
    uint64_t vsz_kib;
    long ksmd_pid;
    struct pidkind *next; /* this scan's classification */
    size_t n, cap;
} ksm_scan;

static int kind_of_comm(const char *comm)
{
    if (strcmp(comm, "ksmd") == 0)
        return PK_KSMD;
    return strstr(comm, "qemu") ? PK_QEMU : PK_OTHER;
}

/* The previous scan's kind of `pid`, or -1. */
static int known_kind(const hostksm *k, long pid)
{
    size_t lo = 0, hi = k->n_pids;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (k->pids[mid].pid == pid)
            return k->pids[mid].kind;
        if (k->pids[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int remember(ksm_scan *s, long pid, int kind)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        struct pidkind *p = mom_realloc(s->next, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        s->next = p;
        s->cap = cap;
    }
    s->next[s->n++] = (struct pidkind){pid, kind};
    return 0;
}

static int cmp_pidkind(const void *a, const void *b)
{
    long x = ((const struct pidkind *)a)->pid, y = ((const struct pidkind *)b)->pid;
    return x < y ? -1 : x > y;
}

/* Add the VmSize of a QEMU process from PROC/<pid>/status; the Name line
 * must still contain "qemu" (else the pid was reused: -ESTALE).  A process
 * that exited meanwhile, or one without an address space, adds nothing. */
static int add_qemu(ksm_scan *s, int procfd, const char *pidname)
{
    char rel[300];
    snprintf(rel, sizeof(rel), "%s/status", pidname);
    int r = procfs_read_at(procfd, rel, &s->k->buf);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return 0;
    const char *name = strstr(s->k->buf.data, "Name:");
    if (name) {
        const char *eol = strchr(name, '\n');
        size_t len = eol ? (size_t)(eol - name) : strlen(name);
        if (!memmem(name, len, "qemu", 4))
            return -ESTALE;
    }
    uint64_t v;
    if (procfs_find_u64(s->k->buf.data, "VmSize", ':', &v) == 0)
        s->vsz_kib += v;
    return 0;
}

/* One pass over PROC: every process whose name contains "qemu" adds its
 * virtual size, and ksmd's pid is noted.  Names come from the previous
 * pass where known (see hostksm.pids). */
static int scan_processes(hostksm *k, ksm_scan *s)
{
    int procfd = open(k->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0)
        return -errno;
    DIR *d = fdopendir(procfd);
    if (!d) {
        int r = -errno;
        close(procfd);
        return r;
    }
    bool full = k->scans++ % RESCAN_EVERY == 0;
    int r = 0;
    struct dirent *de;
    while (r >= 0 && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (*n < '1' || *n > '9' || n[strspn(n, "0123456789")] != '\0')
            continue;
        long pid = strtol(n, NULL, 10);
        int kind = full ? -1 : known_kind(k, pid);
        if (kind == PK_QEMU) {
            r = add_qemu(s, procfd, n);
            if (r == -ESTALE)
                kind = -1; /* reused pid: look at its name again */
            else if (r >= 0)
                r = remember(s, pid, PK_QEMU);
        }
        if (kind < 0) {
            char rel[300], comm[256];
            snprintf(rel, sizeof(rel), "%s/comm", n);
            if (procfs_read_small_at(procfd, rel, comm, sizeof(comm)) < 0)
                continue; /* exited meanwhile */
            kind = kind_of_comm(comm);
            r = kind == PK_QEMU ? add_qemu(s, procfd, n) : 0;
            if (r == -ESTALE)
                r = 0;
            if (r >= 0)
                r = remember(s, pid, kind);
        } else if (kind != PK_QEMU) {
            r = remember(s, pid, kind);
        }
        if (kind == PK_KSMD)
            s->ksmd_pid = pid;
    }
    closedir(d);
    if (r < 0)
        return r;
    /* readdir order is not pid order everywhere (fake trees) */
    if (s->n > 1)
        qsort(s->next, s->n, sizeof(*s->next), cmp_pidkind);
    mom_free(k->pids);
    k->pids = s->next;
    k->n_pids = s->n;
    k->cap_pids = s->cap;
    s->next = NULL;
    return 0;
}

/* Look up ksmd at init and take the CPU baseline. */
static void ksmd_locate(hostksm *k)
{
    long pid = 0;
    int r = procfs_foreach_pid(k->proc_root, find_ksmd, &pid);
    if (r < 0) {
        k->api->log(k->api, k->entity, MOM_LOG_WARN, "HostKSM: cannot scan %s: %s",
                    k->proc_root, strerror(-r));
        return;
    }
    if (pid > 0 && ksmd_jiffies(k, pid, &k->ksmd_prev) == 0)
        k->ksmd_pid = pid;
}

/* Check that KSM exists (its `run` file is readable: without it this
 * collector cannot work, so init fails), fix the CPU-usage divisor from the
 * configured host interval, and take ksmd's baseline. */
static int hostksm_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    hostksm *k = mom_calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->api = api;
    k->entity = entity;
    int r = 0;
    const char *proc = api->proc_root(api);
    if (strlen(proc) >= sizeof(k->proc_root))
        r = -ENAMETOOLONG;
    else
        strcpy(k->proc_root, proc);
    if (r == 0)
        r = procfs_path(k->ksm_dir, sizeof(k->ksm_dir), api->sysfs_root(api), "kernel/mm/ksm");
    if (r < 0) {
        api->log(api, entity, MOM_LOG_ERROR, "HostKSM: proc-root or sysfs-root path too long");
        goto fail;
    }

    char path[PATH_MAX];
    char val[64];
    if ((r = procfs_path(path, sizeof(path), k->ksm_dir, "run")) < 0)
        goto fail;
    r = procfs_read_small_at(AT_FDCWD, path, val, sizeof(val));
    if (r < 0) {
        api->log(api, entity, MOM_LOG_ERROR,
                 "HostKSM: cannot read %s (%s): is KSM available in this kernel?", path,
                 strerror(-r));
        goto fail;
    }

    long tck = sysconf(_SC_CLK_TCK);
    int interval = api->interval(api, "host-monitor");
    if (tck <= 0)
        tck = 100;
    if (interval <= 0)
        interval = 1;
    k->divisor = (uint64_t)tck * (uint64_t)interval;

    ksmd_locate(k);
    *ret_state = k;
    return 0;

fail:
    hostksm_fini(k);
    return r;
}

/* Read the KSM files into the sample.  A missing file other than `run`
 * gives None; any other failure is a collection error. */
static int collect_files(hostksm *k, mom_sample *out)
{
    const mom_plugin_api *api = k->api;
    for (size_t i = 0; i < N_KSM_FILES; i++) {
        char field[64];
        char path[PATH_MAX];
        char val[64];
        int64_t v;
        snprintf(field, sizeof(field), "ksm_%s", ksm_files[i]);
        int r = procfs_path(path, sizeof(path), k->ksm_dir, ksm_files[i]);
        if (r < 0)
            return r;
        r = procfs_read_small_at(AT_FDCWD, path, val, sizeof(val));
        if (r == -ENOENT && i > 0) {
            r = api->sample_set_none(out, field);
            if (r < 0)
                return r;
            continue;
        }
        if (r < 0) {
            api->log(api, k->entity, MOM_LOG_WARN, "HostKSM: cannot read %s: %s", path,
                     strerror(-r));
            return r;
        }
        if (procfs_parse_i64(val, &v) < 0) {
            api->log(api, k->entity, MOM_LOG_WARN, "HostKSM: %s: not an integer: \"%s\"", path,
                     val);
            return -EIO;
        }
        r = api->sample_set_int(out, field, v);
        if (r < 0)
            return r;
    }
    return 0;
}

/* One collection: the nine sysfs files, ksmd's CPU share since the last
 * reading, and the virtual size of the QEMU processes. */
static int hostksm_collect(void *state, mom_entity *entity, mom_sample *out)
{
    hostksm *k = state;
    const mom_plugin_api *api = k->api;
    (void)entity;

    int r = collect_files(k, out);
    if (r < 0)
        return r;

    /* ksmd's CPU time first, then the scan, which finds ksmd again when it
     * was lost. */
    int64_t usage = 0;
    uint64_t now;
    if (k->ksmd_pid > 0) {
        if (ksmd_jiffies(k, k->ksmd_pid, &now) == 0) {
            uint32_t delta = (uint32_t)(now - k->ksmd_prev);
            k->ksmd_prev = now;
            usage = (int64_t)(100u * (uint64_t)delta / k->divisor);
        } else {
            k->ksmd_pid = 0;
        }
    }

    ksm_scan scan = { .k = k, .vsz_kib = 0, .ksmd_pid = 0 };
    r = scan_processes(k, &scan);
    mom_free(scan.next);
    if (r < 0) {
        api->log(api, k->entity, MOM_LOG_WARN, "HostKSM: cannot scan processes in %s: %s",
                 k->proc_root, strerror(-r));
        return r;
    }
    /* A newly found ksmd starts a baseline; its usage shows next time. */
    if (k->ksmd_pid == 0 && scan.ksmd_pid > 0 &&
        ksmd_jiffies(k, scan.ksmd_pid, &k->ksmd_prev) == 0)
        k->ksmd_pid = scan.ksmd_pid;

    if ((r = api->sample_set_int(out, "ksm_shareable", (int64_t)scan.vsz_kib)) < 0 ||
        (r = api->sample_set_int(out, "ksmd_cpu_usage", usage)) < 0)
        return r;
    return 0;
}

const mom_collector mom_collector_HostKSM = {
    .size = sizeof(mom_collector),
    .name = "HostKSM",
    .kind = MOM_ENTITY_HOST,
    .mandatory = hostksm_mandatory,
    .optional = NULL,
    .init = hostksm_init,
    .collect = hostksm_collect,
    .fini = hostksm_fini,
};
