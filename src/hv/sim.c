/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulated host (hypervisor-interface: sim).
 *
 * A sim owns a model (sim_model.c, loaded by sim_scenario.c), a private
 * directory tree ROOT/proc and ROOT/sys in the formats the kernel uses, and
 * the hypervisor operations.  The engine calls refresh() with its clock
 * before each collection: the model advances to (now - first refresh) x
 * speed seconds and the files that changed are rewritten, so the ordinary
 * collectors, pointed at ROOT/proc and ROOT/sys, read the simulated host.
 * The KSM controller writes the four KSM control files; refresh() reads
 * them back and the KSM model follows them.
 *
 * Files are replaced so that a concurrent reader never sees a partial or
 * empty file: new content of a different length is written to a temporary
 * name and renamed over the old file; content of the same length (the
 * common case: a counter moved) is written in place with one pwrite() at
 * offset 0, which keeps the file's size constant and is far cheaper than a
 * rename on filesystems such as ext4 (see docs/simulator.md).
 *
 * One mutex protects everything: the operations run on several worker
 * threads at once, refresh() on the engine thread.
 */
#include "hv/sim.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "hv/sim_model.h"
#include "hv/sim_scenario.h"

/* Longest model step (simulated seconds) and most steps per refresh. */
#define MAX_STEP_S 1.0
#define MAX_STEPS 3600
/* The simulated ksmd's pid (its directory is written as "proc/60"). */
#define KSMD_PID 60
_Static_assert(KSMD_PID == 60, "the ksmd paths below spell out its pid");
/* Virtual size a QEMU process has on top of its guest's memory, KiB. */
#define QEMU_VSZ_EXTRA_KIB (512 * 1024)

static const char *const ksm_stat_names[5] = {"pages_shared", "pages_sharing", "pages_unshared",
                                              "pages_volatile", "full_scans"};

typedef struct sim {
    pthread_mutex_t lock;
    sim_model m;
    const mlog *log;
    double speed;
    bool started;
    double epoch;
    char *root;
    bool own_root; /* ROOT itself was created here (removed on destroy) */
    bool made_proc, made_sys;
    int root_fd;
    char *proc_root, *sysfs_root;
    long clk_tck;
    uint32_t *index; /* open addressing on the UUID: guest index + 1, 0 empty */
    size_t index_cap;
    size_t len_meminfo, len_vmstat, len_pressure, len_ksmd_stat, len_ksm[5];
    int64_t w_ksm[5], w_ksmd_utime;
    bool ksm_written, ksmd_written, warned_oom, warned_write;
} sim;

/* ---- small text buffer --------------------------------------------------- */

typedef struct tbuf {
    char data[8192];
    size_t len;
    bool overflow;
} tbuf;

__attribute__((format(printf, 2, 3))) static void tb_printf(tbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, sizeof(b->data) - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(b->data) - b->len)
        b->overflow = true;
    else
        b->len += (size_t)n;
}

/* Append raw bytes (used for the NUL-separated cmdline). */
static void tb_put(tbuf *b, const char *s, size_t n)
{
    if (n > sizeof(b->data) - b->len) {
        b->overflow = true;
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

/* ---- files --------------------------------------------------------------- */

/* Replace the file `rel` (relative to ROOT) with `len` bytes of `buf`.
 * *io_len is the length last written there (0: unknown or new); when it
 * equals len the file is overwritten in place, otherwise a temporary file
 * is renamed over it.  Returns 0 or a negative errno. */
static int put_file(sim *s, const char *rel, const char *buf, size_t len, size_t *io_len)
{
    if (io_len && *io_len == len && len > 0) {
        int fd = openat(s->root_fd, rel, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
            ssize_t n = pwrite(fd, buf, len, 0);
            close(fd);
            if (n == (ssize_t)len)
                return 0;
        }
    }
    char tmp[512];
    const char *slash = strrchr(rel, '/');
    int dl = slash ? (int)(slash - rel) + 1 : 0;
    if (snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp", dl, rel, rel + dl) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = openat(s->root_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int r = n < 0 ? -errno : -EIO;
            close(fd);
            unlinkat(s->root_fd, tmp, 0);
            return r;
        }
        off += (size_t)n;
    }
    close(fd);
    if (renameat(s->root_fd, tmp, s->root_fd, rel) < 0) {
        int r = -errno;
        unlinkat(s->root_fd, tmp, 0);
        return r;
    }
    if (io_len)
        *io_len = len;
    return 0;
}

/* put_file() of a text buffer; the first failure is logged (a full
 * filesystem, say), later ones are not, so refresh never floods the log. */
static int put_tbuf(sim *s, const char *rel, const tbuf *b, size_t *io_len)
{
    int r = b->overflow ? -ENOBUFS : put_file(s, rel, b->data, b->len, io_len);
    if (r < 0 && !s->warned_write) {
        s->warned_write = true;
        mlog_msg(s->log, MOM_LOG_WARN, "sim", "cannot write %s/%s: %s (further errors not shown)",
                 s->root, rel, strerror(-r));
    }
    return r;
}

/* Create a file no reader can see yet (inside a hidden directory), without
 * the temporary-name dance. */
static int put_new(sim *s, const char *rel, const tbuf *b, size_t *ret_len)
{
    if (b->overflow)
        return -ENOBUFS;
    int fd = openat(s->root_fd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(fd, b->data + off, b->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int r = n < 0 ? -errno : -EIO;
            close(fd);
            return r;
        }
        off += (size_t)n;
    }
    close(fd);
    if (ret_len)
        *ret_len = b->len;
    return 0;
}

/* Read a small integer file written by the KSM controller.  Returns 0 and
 * the value, or a negative errno when it is missing or not a number. */
static int read_int_file(sim *s, const char *rel, int64_t *ret)
{
    char buf[64];
    int fd = openat(s->root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    if (n <= 0)
        return -EINVAL;
    buf[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || end == buf)
        return -EINVAL;
    while (*end == ' ' || *end == '\t' || *end == '\n')
        end++;
    if (*end)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* A /proc/<pid>/stat line: the 52 fields of proc(5).  f[i] is field i
 * (1-based); fields 1 (pid), 2 (comm), 3 (state) and 25 (rsslim, printed
 * as unlimited) are formatted specially. */
static void fmt_stat(tbuf *b, const int64_t f[53], const char *comm)
{
    tb_printf(b, "%" PRId64 " (%s) S", f[1], comm);
    for (int i = 4; i <= 52; i++) {
        if (i == 25)
            tb_printf(b, " %" PRIu64, UINT64_MAX);
        else
            tb_printf(b, " %" PRId64, f[i]);
    }
    tb_printf(b, "\n");
}

static void stat_defaults(int64_t f[53], int64_t pid, int64_t ppid)
{
    memset(f, 0, 53 * sizeof(f[0]));
    f[1] = pid;
    f[4] = ppid;
    f[5] = f[6] = ppid == 2 ? 0 : pid;
    f[8] = -1;
    f[18] = 20;
    f[20] = 1;
    f[38] = 17;
}

/* ---- host files ---------------------------------------------------------- */

static int write_cpuinfo(sim *s)
{
    int64_t n = s->m.host.cpus;
    size_t cap = (size_t)n * 400 + 64;
    char *buf = mom_malloc(cap);
    if (!buf)
        return -ENOMEM;
    size_t len = 0;
    for (int64_t i = 0; i < n && len < cap; i++) {
        int k = snprintf(buf + len, cap - len,
                         "processor\t: %" PRId64 "\n"
                         "vendor_id\t: GenuineIntel\n"
                         "cpu family\t: 6\n"
                         "model\t\t: 85\n"
                         "model name\t: MOM simulated CPU @ 2.40GHz\n"
                         "cpu MHz\t\t: 2400.000\n"
                         "physical id\t: 0\n"
                         "siblings\t: %" PRId64 "\n"
                         "core id\t\t: %" PRId64 "\n"
                         "cpu cores\t: %" PRId64 "\n"
                         "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep vmx\n"
                         "\n",
                         i, n, i, n);
        if (k < 0)
            break;
        len += (size_t)k;
    }
    int r = len < cap ? put_file(s, "proc/cpuinfo", buf, len, NULL) : -ENOBUFS;
    mom_free(buf);
    return r;
}

/* The files written once: cpuinfo, the KSM control files with the
 * scenario's initial values, and ksmd's fixed files. */
static int write_static(sim *s)
{
    const sim_host *h = &s->m.host;
    static const char *const ctl[4] = {"run", "pages_to_scan", "sleep_millisecs",
                                       "merge_across_nodes"};
    const int64_t vals[4] = {h->ksm_run, h->ksm_pages_to_scan, h->ksm_sleep_millisecs,
                             h->ksm_merge_across_nodes};
    int r = write_cpuinfo(s);
    for (int i = 0; r == 0 && i < 4; i++) {
        tbuf b = {.len = 0};
        char rel[128];
        snprintf(rel, sizeof(rel), "sys/kernel/mm/ksm/%s", ctl[i]);
        tb_printf(&b, "%" PRId64 "\n", vals[i]);
        r = put_tbuf(s, rel, &b, NULL);
    }
    if (r == 0 && mkdirat(s->root_fd, "proc/60", 0755) < 0 && errno != EEXIST)
        r = -errno;
    if (r == 0)
        r = put_file(s, "proc/60/comm", "ksmd\n", 5, NULL);
    if (r == 0)
        r = put_file(s, "proc/60/cmdline", "", 0, NULL);
    if (r == 0) {
        tbuf b = {.len = 0};
        tb_printf(&b, "Name:\tksmd\nUmask:\t0000\nState:\tS (sleeping)\nTgid:\t%d\nNgid:\t0\n"
                      "Pid:\t%d\nPPid:\t2\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
                      "Threads:\t1\n",
                  KSMD_PID, KSMD_PID);
        r = put_tbuf(s, "proc/60/status", &b, NULL);
    }
    return r;
}

static void write_meminfo(sim *s, int64_t rss_sum_kib, int64_t saved_kib)
{
    const sim_host *h = &s->m.host;
    int64_t total = llround(h->total_kib);
    int64_t overhead = llround(h->overhead_kib);
    int64_t cache = llround(h->cache);
    int64_t buffers = cache / 8, cached = cache - buffers;
    int64_t memfree = total - overhead - rss_sum_kib + saved_kib - buffers - cached;
    if (memfree < 0)
        memfree = 0;
    int64_t avail = memfree + (buffers + cached) * 3 / 4 - llround(h->min_free_kib);
    if (avail < 0)
        avail = 0;
    int64_t swap_total = llround(h->swap_kib);
    int64_t swap_used = llround(h->swapped);
    int64_t anon = rss_sum_kib + overhead / 2;
    int64_t slab = overhead / 4;
    int64_t committed = overhead;
    for (size_t i = 0; i < s->m.n_guests; i++)
        if (s->m.guests[i].running)
            committed += llround(s->m.guests[i].max_kib);

    static const char *const names[] = {
        "MemTotal",   "MemFree",        "MemAvailable",    "Buffers",        "Cached",
        "SwapCached", "Active",         "Inactive",        "Active(anon)",   "Inactive(anon)",
        "Active(file)", "Inactive(file)", "Unevictable",   "Mlocked",        "SwapTotal",
        "SwapFree",   "Dirty",          "Writeback",       "AnonPages",      "Mapped",
        "Shmem",      "KReclaimable",   "Slab",            "SReclaimable",   "SUnreclaim",
        "KernelStack", "PageTables",    "CommitLimit",     "Committed_AS",   "VmallocTotal",
        "VmallocUsed", "AnonHugePages", "Hugepagesize",
    };
    const int64_t vals[] = {
        total,      memfree,         avail,       buffers,      cached,
        0,          anon * 2 / 3 + cached / 2, anon - anon * 2 / 3 + buffers + cached - cached / 2,
        anon * 2 / 3, anon - anon * 2 / 3,
        cached / 2, buffers + cached - cached / 2, 0,         0,            swap_total,
        swap_total - swap_used, 0,    0,           anon,         cached / 8,
        0,          slab / 2,        slab,        slab / 2,     slab - slab / 2,
        overhead / 32, overhead / 16, swap_total + total / 2, committed, 34359738367LL,
        overhead / 64, 0,            2048,
    };
    tbuf b = {.len = 0};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char key[32];
        snprintf(key, sizeof(key), "%s:", names[i]);
        tb_printf(&b, "%-16s%8" PRId64 " kB\n", key, vals[i]);
        if (strcmp(names[i], "AnonHugePages") == 0)
            tb_printf(&b, "HugePages_Total:       0\nHugePages_Free:        0\n"
                          "HugePages_Rsvd:        0\nHugePages_Surp:        0\n");
    }
    put_tbuf(s, "proc/meminfo", &b, &s->len_meminfo);
}

static void write_vmstat(sim *s, int64_t rss_sum_kib)
{
    const sim_host *h = &s->m.host;
    int64_t cache = llround(h->cache);
    int64_t free_kib = llround(h->free_raw) - cache;
    int64_t pswpin = llround(floor(h->pswpin)), pswpout = llround(floor(h->pswpout));
    int64_t pgfault = llround(floor(h->pgfault)), pgmaj = llround(floor(h->pgmajfault));
    int64_t anon = rss_sum_kib + llround(h->overhead_kib) / 2;
    tbuf b = {.len = 0};
    tb_printf(&b,
              "nr_free_pages %" PRId64 "\n"
              "nr_inactive_anon %" PRId64 "\n"
              "nr_active_anon %" PRId64 "\n"
              "nr_inactive_file %" PRId64 "\n"
              "nr_active_file %" PRId64 "\n"
              "nr_anon_pages %" PRId64 "\n"
              "nr_file_pages %" PRId64 "\n"
              "nr_shmem 0\n"
              "pgpgin %" PRId64 "\n"
              "pgpgout %" PRId64 "\n"
              "pswpin %" PRId64 "\n"
              "pswpout %" PRId64 "\n"
              "pgalloc_normal %" PRId64 "\n"
              "pgfault %" PRId64 "\n"
              "pgmajfault %" PRId64 "\n"
              "pgscan_kswapd %" PRId64 "\n"
              "pgsteal_kswapd %" PRId64 "\n"
              "workingset_refault_anon %" PRId64 "\n"
              "oom_kill 0\n",
              (free_kib > 0 ? free_kib : 0) / 4, anon / 12, anon / 6, cache / 8, cache / 8,
              anon / 4, cache / 4, pswpin * 4, pswpout * 4, pswpin, pswpout, pgfault, pgfault,
              pgmaj, pswpout * 2, pswpout, pswpin);
    put_tbuf(s, "proc/vmstat", &b, &s->len_vmstat);
}

static void write_pressure(sim *s)
{
    const sim_host *h = &s->m.host;
    tbuf b = {.len = 0};
    tb_printf(&b, "some avg10=%.2f avg60=%.2f avg300=%.2f total=%" PRId64 "\n", h->psi_some[0],
              h->psi_some[1], h->psi_some[2], (int64_t)h->psi_some_total);
    tb_printf(&b, "full avg10=%.2f avg60=%.2f avg300=%.2f total=%" PRId64 "\n", h->psi_full[0],
              h->psi_full[1], h->psi_full[2], (int64_t)h->psi_full_total);
    put_tbuf(s, "proc/pressure/memory", &b, &s->len_pressure);
}

static void write_ksm(sim *s, int64_t sharing)
{
    const sim_host *h = &s->m.host;
    int64_t shared = sharing > 0 ? (int64_t)ceil((double)sharing / h->ksm_ratio) : 0;
    const int64_t vals[5] = {shared, sharing, llround(h->ksm_unshared),
                             llround(h->ksm_volatile), (int64_t)floor(h->ksm_full_scans)};
    for (int i = 0; i < 5; i++) {
        if (s->ksm_written && s->w_ksm[i] == vals[i])
            continue;
        tbuf b = {.len = 0};
        char rel[128];
        snprintf(rel, sizeof(rel), "sys/kernel/mm/ksm/%s", ksm_stat_names[i]);
        tb_printf(&b, "%" PRId64 "\n", vals[i]);
        if (put_tbuf(s, rel, &b, &s->len_ksm[i]) == 0)
            s->w_ksm[i] = vals[i];
    }
    s->ksm_written = true;

    int64_t utime = llround(floor(h->ksmd_cpu_s * (double)s->clk_tck));
    if (s->ksmd_written && utime == s->w_ksmd_utime)
        return;
    int64_t f[53];
    stat_defaults(f, KSMD_PID, 2);
    f[9] = 2129984; /* PF_KTHREAD | ... */
    f[14] = utime;
    f[18] = 25;
    f[19] = 5;
    f[22] = 80;
    tbuf b = {.len = 0};
    fmt_stat(&b, f, "ksmd");
    if (put_tbuf(s, "proc/60/stat", &b, &s->len_ksmd_stat) == 0) {
        s->w_ksmd_utime = utime;
        s->ksmd_written = true;
    }
}

/* ---- per-guest process files --------------------------------------------- */

static void guest_stat(sim *s, const sim_guest *g, size_t idx, tbuf *b)
{
    int64_t f[53];
    stat_defaults(f, g->pid, 1);
    f[9] = 4194560;
    f[10] = g->w_minflt;
    f[12] = g->w_majflt;
    f[20] = g->vcpus + 4;
    f[22] = llround(g->start * (double)s->clk_tck) + 1000;
    f[23] = (llround(g->max_kib) + QEMU_VSZ_EXTRA_KIB) * 1024;
    f[24] = g->w_rss;
    f[26] = f[27] = 1;
    f[39] = (int64_t)(idx % (size_t)s->m.host.cpus);
    fmt_stat(b, f, "qemu-system-x86");
}

static void guest_status(const sim_guest *g, tbuf *b)
{
    int64_t vsz = llround(g->max_kib) + QEMU_VSZ_EXTRA_KIB;
    int64_t rss = g->w_rss * 4;
    int64_t swap = llround(g->touched) - rss;
    tb_printf(b,
              "Name:\tqemu-system-x86\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%" PRId64
              "\nNgid:\t0\nPid:\t%" PRId64 "\nPPid:\t1\nTracerPid:\t0\n"
              "Uid:\t107\t107\t107\t107\nGid:\t107\t107\t107\t107\nFDSize:\t128\n"
              "VmPeak:\t%8" PRId64 " kB\nVmSize:\t%8" PRId64 " kB\nVmLck:\t       0 kB\n"
              "VmRSS:\t%8" PRId64 " kB\nRssAnon:\t%8" PRId64 " kB\nRssFile:\t       0 kB\n"
              "RssShmem:\t       0 kB\nVmSwap:\t%8" PRId64 " kB\nThreads:\t%" PRId64 "\n",
              g->pid, g->pid, vsz, vsz, rss, rss, swap > 0 ? swap : 0, g->vcpus + 4);
}

/* Create the process directory of a guest that just started: it is built
 * under a hidden name and renamed into place, so a scan of proc-root never
 * sees it half made. */
static int guest_dir_create(sim *s, sim_guest *g, size_t idx)
{
    char tmpdir[64], rel[96], dir[64];
    snprintf(tmpdir, sizeof(tmpdir), "proc/.%" PRId64 ".new", g->pid);
    snprintf(dir, sizeof(dir), "proc/%" PRId64, g->pid);
    if (mkdirat(s->root_fd, tmpdir, 0755) < 0 && errno != EEXIST)
        return -errno;
    tbuf b = {.len = 0};
    int r;
    tb_printf(&b, "qemu-system-x86\n");
    snprintf(rel, sizeof(rel), "%s/comm", tmpdir);
    if ((r = put_new(s, rel, &b, NULL)) < 0)
        return r;
    b.len = 0;
    char arg[512];
    static const char argv0[] = "qemu-system-x86_64";
    tb_put(&b, argv0, sizeof(argv0));
    tb_put(&b, "-name", 6);
    snprintf(arg, sizeof(arg), "guest=%s,debug-threads=on", g->name);
    tb_put(&b, arg, strlen(arg) + 1);
    tb_put(&b, "-uuid", 6);
    tb_put(&b, g->uuid, strlen(g->uuid) + 1);
    tb_put(&b, "-m", 3);
    snprintf(arg, sizeof(arg), "size=%" PRId64 "k", (int64_t)llround(g->max_kib));
    tb_put(&b, arg, strlen(arg) + 1);
    tb_put(&b, "-smp", 5);
    snprintf(arg, sizeof(arg), "%" PRId64, g->vcpus);
    tb_put(&b, arg, strlen(arg) + 1);
    snprintf(rel, sizeof(rel), "%s/cmdline", tmpdir);
    if ((r = put_new(s, rel, &b, NULL)) < 0)
        return r;
    g->stat_len = g->status_len = 0;
    b.len = 0;
    guest_status(g, &b);
    snprintf(rel, sizeof(rel), "%s/status", tmpdir);
    if ((r = put_new(s, rel, &b, &g->status_len)) < 0)
        return r;
    b.len = 0;
    guest_stat(s, g, idx, &b);
    snprintf(rel, sizeof(rel), "%s/stat", tmpdir);
    if ((r = put_new(s, rel, &b, &g->stat_len)) < 0)
        return r;
    if (renameat(s->root_fd, tmpdir, s->root_fd, dir) < 0)
        return -errno;
    g->dir_exists = true;
    return 0;
}

/* Remove the process directory of a guest that stopped. */
static void guest_dir_remove(sim *s, sim_guest *g)
{
    static const char *const files[] = {"comm", "cmdline", "status", "stat"};
    char dir[64], old[64], rel[96];
    snprintf(dir, sizeof(dir), "proc/%" PRId64, g->pid);
    snprintf(old, sizeof(old), "proc/.%" PRId64 ".old", g->pid);
    const char *d = renameat(s->root_fd, dir, s->root_fd, old) == 0 ? old : dir;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(rel, sizeof(rel), "%s/%s", d, files[i]);
        unlinkat(s->root_fd, rel, 0);
    }
    unlinkat(s->root_fd, d, AT_REMOVEDIR);
    g->dir_exists = false;
}

/* Bring one guest's files up to date: only what changed is rewritten. */
static void guest_files(sim *s, sim_guest *g, size_t idx)
{
    if (!g->running) {
        if (g->dir_exists)
            guest_dir_remove(s, g);
        return;
    }
    int64_t rss = llround(g->rss / SIM_PAGE_KIB);
    int64_t minflt = (int64_t)floor(g->host_minflt), majflt = (int64_t)floor(g->host_majflt);
    if (!g->dir_exists) {
        g->w_rss = rss;
        g->w_minflt = minflt;
        g->w_majflt = majflt;
        if (guest_dir_create(s, g, idx) < 0)
            mlog_msg(s->log, MOM_LOG_WARN, "sim", "cannot create the process files of %s",
                     g->name);
        return;
    }
    if (rss == g->w_rss && minflt == g->w_minflt && majflt == g->w_majflt)
        return;
    bool rss_changed = rss != g->w_rss;
    g->w_rss = rss;
    g->w_minflt = minflt;
    g->w_majflt = majflt;
    char rel[64];
    tbuf b = {.len = 0};
    guest_stat(s, g, idx, &b);
    snprintf(rel, sizeof(rel), "proc/%" PRId64 "/stat", g->pid);
    put_tbuf(s, rel, &b, &g->stat_len);
    if (rss_changed) {
        b.len = 0;
        guest_status(g, &b);
        snprintf(rel, sizeof(rel), "proc/%" PRId64 "/status", g->pid);
        put_tbuf(s, rel, &b, &g->status_len);
    }
}

/* Write everything that changed since the last call. */
static void write_all(sim *s)
{
    int64_t rss_sum = 0;
    for (size_t i = 0; i < s->m.n_guests; i++) {
        sim_guest *g = &s->m.guests[i];
        guest_files(s, g, i);
        if (g->running)
            rss_sum += g->w_rss * 4;
    }
    int64_t sharing = llround(s->m.host.ksm_sharing);
    write_meminfo(s, rss_sum, sharing * 4);
    write_vmstat(s, rss_sum);
    write_pressure(s);
    write_ksm(s, sharing);
}

/* Follow what the KSM controller wrote into the control files. */
static void read_ksm_controls(sim *s)
{
    sim_host *h = &s->m.host;
    int64_t v;
    if (read_int_file(s, "sys/kernel/mm/ksm/run", &v) == 0 && v >= 0 && v <= 2)
        h->ksm_run = v;
    if (read_int_file(s, "sys/kernel/mm/ksm/pages_to_scan", &v) == 0 && v >= 0 &&
        v <= UINT32_MAX)
        h->ksm_pages_to_scan = v;
    if (read_int_file(s, "sys/kernel/mm/ksm/sleep_millisecs", &v) == 0 && v >= 0 &&
        v <= UINT32_MAX)
        h->ksm_sleep_millisecs = v;
    if (read_int_file(s, "sys/kernel/mm/ksm/merge_across_nodes", &v) == 0 && v >= 0 && v <= 1)
        h->ksm_merge_across_nodes = v;
}

/* ---- the engine's hooks ----------------------------------------------------- */

static void sim_refresh(void *userdata, double now)
{
    sim *s = userdata;
    pthread_mutex_lock(&s->lock);
    read_ksm_controls(s);
    if (!s->started) {
        s->started = true;
        s->epoch = now;
    }
    double target = (now - s->epoch) * s->speed;
    double dt = target - s->m.t;
    if (dt > 0) {
        double n = ceil(dt / MAX_STEP_S);
        if (n > MAX_STEPS)
            n = MAX_STEPS;
        double h = dt / n;
        for (int i = 0; i < (int)n; i++)
            sim_model_step(&s->m, h);
        s->m.t = target;
    }
    if (s->m.host.oom && !s->warned_oom) {
        s->warned_oom = true;
        mlog_msg(s->log, MOM_LOG_WARN, "sim",
                 "simulated host ran out of RAM and swap at t=%.1f s (the model does not kill "
                 "guests; free memory stays at 0)",
                 s->m.t);
    }
    write_all(s);
    pthread_mutex_unlock(&s->lock);
}

/* nftw callback: remove everything below (and including) the start. */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void remove_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void sim_destroy(void *userdata)
{
    sim *s = userdata;
    if (!s)
        return;
    if (s->root_fd >= 0)
        close(s->root_fd);
    if (s->root) {
        if (s->own_root) {
            remove_tree(s->root);
        } else {
            if (s->made_proc && s->proc_root)
                remove_tree(s->proc_root);
            if (s->made_sys && s->sysfs_root)
                remove_tree(s->sysfs_root);
        }
    }
    sim_model_done(&s->m);
    mom_free(s->index);
    mom_free(s->root);
    mom_free(s->proc_root);
    mom_free(s->sysfs_root);
    pthread_mutex_destroy(&s->lock);
    mom_free(s);
}

/* ---- guest lookup ------------------------------------------------------------ */

static int build_index(sim *s)
{
    size_t cap = 16;
    while (cap < s->m.n_guests * 2)
        cap *= 2;
    if (!(s->index = mom_calloc(cap, sizeof(*s->index))))
        return -ENOMEM;
    s->index_cap = cap;
    for (size_t i = 0; i < s->m.n_guests; i++) {
        size_t j = sim_model_hash_str(s->m.guests[i].uuid) & (cap - 1);
        while (s->index[j])
            j = (j + 1) & (cap - 1);
        s->index[j] = (uint32_t)(i + 1);
    }
    return 0;
}

/* The running guest with this id, or NULL.  Called with the lock held. */
static sim_guest *find(sim *s, const char *id)
{
    if (!id)
        return NULL;
    size_t j = sim_model_hash_str(id) & (s->index_cap - 1);
    for (; s->index[j]; j = (j + 1) & (s->index_cap - 1)) {
        sim_guest *g = &s->m.guests[s->index[j] - 1];
        if (strcmp(g->uuid, id) == 0)
            return g->running ? g : NULL;
    }
    return NULL;
}

/* ---- hypervisor operations --------------------------------------------------- */

#define WITH_GUEST(s, id, g)                                                                     \
    sim *s = userdata;                                                                           \
    pthread_mutex_lock(&s->lock);                                                                \
    sim_guest *g = find(s, id);                                                                  \
    if (!g) {                                                                                    \
        pthread_mutex_unlock(&s->lock);                                                          \
        return -ENOENT;                                                                          \
    }

static int op_get_vm_list(mom_hv_list *out, void *userdata)
{
    sim *s = userdata;
    int r = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->m.n_guests && r == 0; i++)
        if (s->m.guests[i].running)
            r = mom_hv_list_add(out, s->m.guests[i].uuid);
    pthread_mutex_unlock(&s->lock);
    return r;
}

static int op_get_vm_info(const char *id, mom_hv_guest_info *ret, void *userdata)
{
    WITH_GUEST(s, id, g);
    snprintf(ret->name, sizeof(ret->name), "%s", g->name);
    snprintf(ret->uuid, sizeof(ret->uuid), "%s", g->uuid);
    ret->pid = g->pid;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int op_start_vm_memory_stats(const char *id, int period_s, void *userdata)
{
    WITH_GUEST(s, id, g);
    g->stats_period = period_s;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int op_get_vm_memory_stats(const char *id, mom_hv_memory_stats *ret, void *userdata)
{
    WITH_GUEST(s, id, g);
    if (!g->memory_stats) {
        pthread_mutex_unlock(&s->lock);
        return -ENODATA;
    }
    double free_kib = sim_model_guest_free(g);
    ret->mem_available = llround(g->cur);
    ret->mem_unused = llround(free_kib);
    ret->mem_free = llround(free_kib + g->cache);
    ret->mem_usable = llround(free_kib + g->cache / 2);
    ret->major_fault = (int64_t)floor(g->major_fault);
    ret->minor_fault = (int64_t)floor(g->minor_fault);
    ret->swap_in = (int64_t)floor(g->swap_in);
    ret->swap_out = (int64_t)floor(g->swap_out);
    ret->swap_total = llround(g->swap_kib);
    ret->swap_usage = llround(g->swapped);
    ret->present = MOM_HV_MEM_AVAILABLE | MOM_HV_MEM_UNUSED | MOM_HV_MEM_FREE |
                   MOM_HV_MAJOR_FAULT | MOM_HV_MINOR_FAULT | MOM_HV_SWAP_IN | MOM_HV_SWAP_OUT |
                   MOM_HV_SWAP_TOTAL | MOM_HV_SWAP_USAGE | MOM_HV_MEM_USABLE;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int op_get_vm_balloon_info(const char *id, mom_hv_balloon_info *ret, void *userdata)
{
    WITH_GUEST(s, id, g);
    ret->balloon_cur = llround(g->cur);
    ret->balloon_max = llround(g->max_kib);
    ret->balloon_min = llround(g->min_kib);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int op_set_vm_balloon_target(const char *id, int64_t target_kib, void *userdata)
{
    WITH_GUEST(s, id, g);
    double t = (double)target_kib;
    /* The hypervisor accepts any size down to the guest kernel's own
     * reserve, and never more than the maximum. */
    if (t < g->reserve_kib)
        t = g->reserve_kib;
    if (t > g->max_kib)
        t = g->max_kib;
    g->target = t;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int op_get_vm_cpu_tune_info(const char *id, mom_hv_cpu_tune_info *ret, void *userdata)
{
    WITH_GUEST(s, id, g);
    ret->vcpu_quota = g->vcpu_quota;
    ret->vcpu_period = g->vcpu_period;
    ret->vcpu_user_limit = g->vcpu_limit;
    ret->vcpu_count = g->vcpus;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int op_set_vm_cpu_tune(const char *id, int64_t quota, int64_t period, void *userdata)
{
    /* libvirt's ranges: period 1000..1000000 µs; quota -1 (or 0) for no
     * limit, else 1000..17592186044415 µs. */
    if (period < 1000 || period > 1000000 || quota < -1 ||
        (quota > 0 && (quota < 1000 || quota > 17592186044415LL)))
        return -EINVAL;
    WITH_GUEST(s, id, g);
    g->vcpu_quota = quota;
    g->vcpu_period = period;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int op_get_vm_io_tune_policy(const char *id, mom_hv_disk_list *out, void *userdata)
{
    WITH_GUEST(s, id, g);
    int r = 0;
    for (size_t i = 0; i < g->n_disks && r == 0; i++)
        r = mom_hv_disk_list_add_policy(out, g->disks[i].name, g->disks[i].path,
                                        &g->disks[i].guaranteed, &g->disks[i].maximum);
    pthread_mutex_unlock(&s->lock);
    return r;
}

static int op_get_vm_io_tune(const char *id, mom_hv_disk_list *out, void *userdata)
{
    WITH_GUEST(s, id, g);
    int r = 0;
    for (size_t i = 0; i < g->n_disks && r == 0; i++)
        r = mom_hv_disk_list_add_tune(out, g->disks[i].name, g->disks[i].path,
                                      &g->disks[i].current);
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* The guest's disk that `t` names: by path when both sides have one, by
 * name otherwise. */
static sim_disk *match_disk(sim_guest *g, const mom_hv_disk_tune *t)
{
    for (size_t i = 0; i < g->n_disks; i++) {
        sim_disk *d = &g->disks[i];
        if (t->path && d->path) {
            if (strcmp(t->path, d->path) == 0)
                return d;
        } else if (t->name && d->name && strcmp(t->name, d->name) == 0) {
            return d;
        }
    }
    return NULL;
}

static int op_set_vm_io_tune(const char *id, const mom_hv_disk_tune *disks, size_t n_disks,
                             void *userdata)
{
    if (n_disks && !disks)
        return -EINVAL;
    WITH_GUEST(s, id, g);
    /* Check everything first, so that a bad entry changes nothing. */
    for (size_t i = 0; i < n_disks; i++) {
        const mom_hv_io_limits *l = &disks[i].io_tune;
        const int64_t v[6] = {l->total_bytes_sec, l->read_bytes_sec, l->write_bytes_sec,
                              l->total_iops_sec,  l->read_iops_sec,  l->write_iops_sec};
        bool bad = !match_disk(g, &disks[i]);
        for (int k = 0; k < 6 && !bad; k++)
            bad = (l->present & (1u << k)) && v[k] < 0;
        if (bad) {
            pthread_mutex_unlock(&s->lock);
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < n_disks; i++) {
        const mom_hv_io_limits *l = &disks[i].io_tune;
        mom_hv_io_limits *c = &match_disk(g, &disks[i])->current;
        const int64_t *src[6] = {&l->total_bytes_sec, &l->read_bytes_sec, &l->write_bytes_sec,
                                 &l->total_iops_sec,  &l->read_iops_sec,  &l->write_iops_sec};
        int64_t *dst[6] = {&c->total_bytes_sec, &c->read_bytes_sec, &c->write_bytes_sec,
                           &c->total_iops_sec,  &c->read_iops_sec,  &c->write_iops_sec};
        for (int k = 0; k < 6; k++) {
            if (l->present & (1u << k)) {
                *dst[k] = *src[k];
                c->present |= 1u << k;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static const mom_hv_ops sim_ops = {
    .size = sizeof(mom_hv_ops),
    .get_vm_list = op_get_vm_list,
    .get_vm_info = op_get_vm_info,
    .start_vm_memory_stats = op_start_vm_memory_stats,
    .get_vm_memory_stats = op_get_vm_memory_stats,
    .get_vm_balloon_info = op_get_vm_balloon_info,
    .set_vm_balloon_target = op_set_vm_balloon_target,
    .get_vm_cpu_tune_info = op_get_vm_cpu_tune_info,
    .set_vm_cpu_tune = op_set_vm_cpu_tune,
    .get_vm_io_tune_policy = op_get_vm_io_tune_policy,
    .get_vm_io_tune = op_get_vm_io_tune,
    .set_vm_io_tune = op_set_vm_io_tune,
    /* KSM: the engine's controller writes sysfs-root/kernel/mm/ksm, which
     * is the sim's own tree. */
    .ksm_tune = NULL,
    .qemu_agent_command = NULL,
    .free_reply = NULL,
};

/* ---- creation ----------------------------------------------------------------- */

/* Create ROOT (or use root_dir) and the directories below it. */
static int make_tree(sim *s, const char *root_dir)
{
    if (root_dir) {
        if (!(s->root = mom_strdup(root_dir)))
            return -ENOMEM;
        if (mkdir(root_dir, 0755) == 0)
            s->own_root = true;
        else if (errno != EEXIST)
            return -errno;
    } else {
        /* $TMPDIR when set; else /dev/shm, because these files are
         * rewritten all the time and creating and replacing files on a
         * disk filesystem can cost a millisecond each; else /tmp. */
        const char *tmp = getenv("TMPDIR");
        struct stat st;
        if (!tmp || !*tmp)
            tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
                          access("/dev/shm", W_OK | X_OK) == 0
                      ? "/dev/shm"
                      : "/tmp";
        if (!(s->root = mom_asprintf("%s/mom-sim-XXXXXX", tmp)))
            return -ENOMEM;
        if (!mkdtemp(s->root))
            return -errno;
        s->own_root = true;
    }
    s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->root_fd < 0)
        return -errno;
    if (!(s->proc_root = mom_asprintf("%s/proc", s->root)) ||
        !(s->sysfs_root = mom_asprintf("%s/sys", s->root)))
        return -ENOMEM;
    /* ROOT/proc and ROOT/sys must be new: stale process directories from
     * an earlier run would look like guests. */
    if (mkdirat(s->root_fd, "proc", 0755) < 0)
        return -errno;
    s->made_proc = true;
    if (mkdirat(s->root_fd, "sys", 0755) < 0)
        return -errno;
    s->made_sys = true;
    static const char *const dirs[] = {"proc/pressure", "sys/kernel", "sys/kernel/mm",
                                       "sys/kernel/mm/ksm"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (mkdirat(s->root_fd, dirs[i], 0755) < 0)
            return -errno;
    return 0;
}

static int sim_new(const char *json, const char *source, uint64_t seed, double speed,
                   const char *root_dir, const mlog *log, hv *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (!json)
        return -EINVAL;
    if (!(speed > 0) || !isfinite(speed)) {
        mlog_msg(log, MOM_LOG_ERROR, "sim", "[sim] speed must be a positive number, not %g",
                 speed);
        return -EINVAL;
    }
    sim *s = mom_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->root_fd = -1;
    s->log = log;
    s->speed = speed;
    long tck = sysconf(_SC_CLK_TCK);
    s->clk_tck = tck > 0 ? tck : 100;
    pthread_mutex_init(&s->lock, NULL);

    char *err = NULL;
    int r = sim_scenario_parse(json, source, seed, &s->m, &err);
    if (r < 0) {
        if (err)
            mlog_msg(log, MOM_LOG_ERROR, "sim", "%s", err);
        else
            mlog_msg(log, MOM_LOG_ERROR, "sim", "%s: %s", source, strerror(-r));
        mom_free(err);
        goto fail;
    }
    if ((r = build_index(s)) < 0)
        goto fail;
    if ((r = make_tree(s, root_dir)) < 0) {
        mlog_msg(log, MOM_LOG_ERROR, "sim", "cannot create the simulated /proc and /sys under %s: %s",
                 s->root ? s->root : "(none)", strerror(-r));
        goto fail;
    }
    sim_model_init(&s->m);
    if ((r = write_static(s)) < 0) {
        mlog_msg(log, MOM_LOG_ERROR, "sim", "cannot write the simulated files under %s: %s",
                 s->root, strerror(-r));
        goto fail;
    }
    write_all(s);
    mlog_msg(log, MOM_LOG_INFO, "sim",
             "simulated host from %s: %zu guests, %.0f MiB RAM, %" PRId64
             " CPUs, seed %" PRIu64 ", speed %g, files under %s",
             source, s->m.n_guests, s->m.host.total_kib / 1024, s->m.host.cpus, seed, speed,
             s->root);

    ret->name = "sim";
    ret->ops = &sim_ops;
    ret->userdata = s;
    ret->destroy = sim_destroy;
    ret->refresh = sim_refresh;
    ret->proc_root = s->proc_root;
    ret->sysfs_root = s->sysfs_root;
    return 0;

fail:
    sim_destroy(s);
    return r;
}

int sim_create_from_text(const char *json, uint64_t seed, double speed, const char *root_dir,
                         const mlog *log, hv *ret)
{
    if (!ret)
        return -EINVAL;
    return sim_new(json, "scenario", seed, speed, root_dir, log, ret);
}

/* Read a whole scenario file (at most 64 MiB). */
static int read_scenario(const char *path, char **ret)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    size_t len = 0, cap = 65536;
    char *buf = mom_malloc(cap);
    int r = 0;
    while (buf) {
        if (cap - len < 2) {
            if (cap >= (64u << 20)) {
                r = -EFBIG;
                break;
            }
            char *p = mom_realloc(buf, cap * 2);
            if (!p) {
                r = -ENOMEM;
                break;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (!buf)
        return -ENOMEM;
    if (r < 0) {
        mom_free(buf);
        return r;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        mom_free(buf);
        return -EINVAL; /* a NUL byte: not a text file */
    }
    *ret = buf;
    return 0;
}

int sim_create(const conf *c, const mlog *log, hv *ret)
{
    if (!ret)
        return -EINVAL;
    memset(ret, 0, sizeof(*ret));
    const char *path = c ? conf_get(c, "sim", "scenario") : NULL;
    uint64_t seed = 1;
    double speed = 1.0;
    if (c && conf_get(c, "sim", "seed"))
        seed = (uint64_t)conf_get_int(c, "sim", "seed");
    if (c && conf_get(c, "sim", "speed"))
        speed = conf_get_real(c, "sim", "speed");
    if (!path || !*path)
        return sim_new(sim_scenario_default, "built-in scenario", seed, speed, NULL, log, ret);
    char *text = NULL;
    int r = read_scenario(path, &text);
    if (r < 0) {
        mlog_msg(log, MOM_LOG_ERROR, "sim", "%s: cannot read the scenario: %s", path,
                 r == -EINVAL ? "not a text file" : strerror(-r));
        return r == -EINVAL ? MOM_E_CONFIG : r;
    }
    r = sim_new(text, path, seed, speed, NULL, log, ret);
    mom_free(text);
    return r == -EINVAL ? MOM_E_CONFIG : r;
}
