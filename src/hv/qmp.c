/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hypervisor-interface: qmp (REFERENCE.md §6.3, PEERS.md §3).
 *
 * Guests are the unix sockets in qmp-socket-dir, keyed by socket path.
 * Each guest keeps one QMP connection open across calls; it is owned by
 * whichever worker runs that guest's job (the pool runs one job per guest
 * key at a time; a per-guest mutex makes that a rule here too, because the
 * guest list runs under another key and probes guests it does not know to
 * be alive).  A call that times out, meets a closed peer or garbage drops
 * the connection; the next call reconnects.  Events that arrive between
 * replies are read as they come: BALLOON_CHANGE updates the cached balloon
 * size, the others are skipped.
 *
 * QEMU does not know a guest's guaranteed minimum, the user's vCPU limit or
 * an I/O-tune policy: those come from NAME.json beside NAME.sock, re-read
 * whenever the file changes.  CPU bandwidth is not a QEMU feature either:
 * quota and period live in the cgroup v2 cpu.max of the QEMU process.
 *
 * The directory is rescanned at every guest-manager interval (the engine's
 * get_vm_list call) and, through the engine's wake hook, as soon as an
 * inotify watch on it sees a socket appear or go away.  The watch runs in a
 * thread of its own, started by the first get_vm_list call (the engine sets
 * the hook before it starts its workers, so that is the first moment the
 * hook may be read).
 */
#include "hv/qmp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "hv/qmp_client.h"

#define LOGGER "mom.QmpInterface"
/* Largest NAME.json and cgroup file read. */
#define MAX_FILE (1u << 20)

typedef struct qmp_guest {
    char *path;             /* the key: socket path */
    char *base;             /* file name without a trailing ".sock" */
    char *policy_path;      /* DIR/BASE.json */
    int refs;               /* table + callers (backend lock) */
    bool listed;            /* seen by the last scan (backend lock) */
    pthread_mutex_t lock;   /* held for the whole of each call */
    /* Everything below is guarded by lock. */
    qmpc *conn;
    bool conn_warned;       /* the loss of the connection was logged */
    double retry_after;     /* no new connection before this (backoff) */
    char *balloon_path;     /* QOM path of the balloon device */
    bool no_balloon_warned;
    int stats_period;       /* last polling interval set (0: never) */
    bool restore_polling;   /* set it again on the new connection */
    int64_t actual_kib;     /* latest balloon size (query-balloon or event) */
    bool have_actual;
    /* NAME.json */
    qmp_policy pol;
    bool pol_exists;
    struct timespec pol_mtime;
    off_t pol_size;
    ino_t pol_ino;
    bool pol_warned;
    bool cg_warned;
} qmp_guest;

typedef struct qmp_backend {
    const mlog *log;
    char *dir;
    char *proc_root;
    char *sysfs_root;
    double deadline_s;
    pthread_mutex_t lock;   /* the table and refs */
    qmp_guest **guests;
    size_t n, cap;
    bool list_warned;
    mom_hv_ops ops;
    /* The inotify watch (see the top of the file). */
    hv *self;               /* the engine's hv struct, for wake/wake_ctx */
    bool watch_tried;
    bool watch_running;
    pthread_t watch_thread;
    int watch_fd;           /* inotify */
    int stop_fd;            /* eventfd: stop the watch thread */
    void (*wake)(void *wake_ctx);
    void *wake_ctx;
} qmp_backend;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- SHA-1 and name-based UUIDs ---------------------------------------- */

static uint32_t rol32(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

/* One 64-byte block into the state h. */
static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void qmp_sha1(const void *data, size_t len, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    const uint8_t *p = data;
    size_t left = len;
    while (left >= 64) {
        sha1_block(h, p);
        p += 64;
        left -= 64;
    }
    uint8_t tail[128];
    memset(tail, 0, sizeof(tail));
    if (left)
        memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tl = left + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha1_block(h, tail);
    if (tl == 128)
        sha1_block(h, tail + 64);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parse a canonical textual UUID into 16 bytes. */
static int uuid_parse(const char *s, uint8_t out[16])
{
    if (strlen(s) != 36)
        return -EINVAL;
    int j = 0;
    for (int i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -EINVAL;
            i++;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[j++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

static void uuid_format(const uint8_t u[16], char out[37])
{
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

int qmp_uuid5(const char *ns, const char *name, char out[37])
{
    uint8_t nsb[16];
    if (uuid_parse(ns, nsb) < 0)
        return -EINVAL;
    size_t n = strlen(name);
    uint8_t *buf = mom_malloc(16 + n);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, nsb, 16);
    memcpy(buf + 16, name, n);
    uint8_t d[20];
    qmp_sha1(buf, 16 + n, d);
    mom_free(buf);
    d[6] = (uint8_t)((d[6] & 0x0f) | 0x50);
    d[8] = (uint8_t)((d[8] & 0x3f) | 0x80);
    uuid_format(d, out);
    return 0;
}

/* ---- pure conversions --------------------------------------------------- */

/* Read a non-negative stat: false when missing or not reported (-1,
 * 2^64-1, anything negative or beyond int64). */
static bool stat_value(const json_t *stats, const char *key, int64_t *ret)
{
    int64_t v;
    if (qmpc_json_int(json_object_get(stats, key), &v) < 0 || v < 0)
        return false;
    *ret = v;
    return true;
}

int qmp_stats_from_json(const json_t *guest_stats, mom_hv_memory_stats *ret)
{
    size_t size = ret->size;
    memset(ret, 0, sizeof(*ret));
    ret->size = size;
    if (!json_is_object(guest_stats))
        return -EPROTO;
    int64_t last = 0;
    if (qmpc_json_int(json_object_get(guest_stats, "last-update"), &last) < 0 || last <= 0)
        return -ENODATA;
    const json_t *st = json_object_get(guest_stats, "stats");
    if (!json_is_object(st))
        return -EPROTO;
    int64_t v, free_b = -1, caches = -1;
    if (stat_value(st, "stat-total-memory", &v)) {
        ret->mem_available = v / 1024;
        ret->present |= MOM_HV_MEM_AVAILABLE;
    }
    if (stat_value(st, "stat-free-memory", &v)) {
        ret->mem_unused = v / 1024;
        ret->present |= MOM_HV_MEM_UNUSED;
        free_b = v;
    }
    if (stat_value(st, "stat-available-memory", &v)) {
        ret->mem_usable = v / 1024;
        ret->present |= MOM_HV_MEM_USABLE;
    }
    if (stat_value(st, "stat-disk-caches", &v))
        caches = v;
    if (free_b >= 0 && caches >= 0 && free_b <= INT64_MAX - caches) {
        ret->mem_free = (free_b + caches) / 1024;
        ret->present |= MOM_HV_MEM_FREE;
    }
    if (stat_value(st, "stat-major-faults", &v)) {
        ret->major_fault = v;
        ret->present |= MOM_HV_MAJOR_FAULT;
    }
    if (stat_value(st, "stat-minor-faults", &v)) {
        ret->minor_fault = v;
        ret->present |= MOM_HV_MINOR_FAULT;
    }
    if (stat_value(st, "stat-swap-in", &v)) {
        ret->swap_in = v / 1024;
        ret->present |= MOM_HV_SWAP_IN;
    }
    if (stat_value(st, "stat-swap-out", &v)) {
        ret->swap_out = v / 1024;
        ret->present |= MOM_HV_SWAP_OUT;
    }
    return ret->present ? 0 : -ENODATA;
}

/* The six limits of an object with the given key names (QMP's bps, ...
 * or ours, total_bytes_sec, ...). */
static void limits_from_json(const json_t *o, const char *const keys[6], mom_hv_io_limits *ret)
{
    int64_t *slots[6] = {&ret->total_bytes_sec, &ret->read_bytes_sec, &ret->write_bytes_sec,
                         &ret->total_iops_sec,  &ret->read_iops_sec,  &ret->write_iops_sec};
    memset(ret, 0, sizeof(*ret));
    for (int i = 0; i < 6; i++) {
        int64_t v;
        if (qmpc_json_int(json_object_get(o, keys[i]), &v) == 0 && v >= 0) {
            *slots[i] = v;
            ret->present |= 1u << i;
        }
    }
}

static const char *const qmp_limit_keys[6] = {"bps", "bps_rd", "bps_wr",
                                              "iops", "iops_rd", "iops_wr"};

void qmp_policy_done(qmp_policy *p)
{
    json_decref(p->io_tune);
    p->io_tune = NULL;
}

/* A policy number: a non-negative integer (or a decimal string of one). */
static int policy_int(const json_t *v, int64_t *ret)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (errno || end == s || *end || n < 0)
            return -EINVAL;
        *ret = n;
        return 0;
    }
    int64_t n;
    if (qmpc_json_int(v, &n) < 0 || n < 0)
        return -EINVAL;
    *ret = n;
    return 0;
}

int qmp_policy_parse(const char *text, size_t len, qmp_policy *ret, char *err, size_t errlen)
{
    memset(ret, 0, sizeof(*ret));
    ret->vcpu_user_limit = 100;
    if (err && errlen)
        err[0] = '\0';
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    if (!j) {
        if (err)
            snprintf(err, errlen, "line %d: %s", je.line, je.text);
        return -EINVAL;
    }
    int r = -EINVAL;
    if (!json_is_object(j)) {
        if (err)
            snprintf(err, errlen, "not a JSON object");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        if (strcmp(key, "balloon_min") == 0) {
            if (policy_int(v, &ret->balloon_min) < 0) {
                if (err)
                    snprintf(err, errlen, "balloon_min: not a number of KiB");
                goto out;
            }
        } else if (strcmp(key, "vcpu_user_limit") == 0) {
            if (policy_int(v, &ret->vcpu_user_limit) < 0 || ret->vcpu_user_limit > 100) {
                if (err)
                    snprintf(err, errlen, "vcpu_user_limit: not a percentage (0-100)");
                goto out;
            }
        } else if (strcmp(key, "io_tune") == 0) {
            size_t i;
            json_t *d;
            if (!json_is_array(v)) {
                if (err)
                    snprintf(err, errlen, "io_tune: not a list");
                goto out;
            }
            json_array_foreach(v, i, d) {
                if (!json_is_object(d) ||
                    (!json_is_string(json_object_get(d, "name")) &&
                     !json_is_string(json_object_get(d, "path")))) {
                    if (err)
                        snprintf(err, errlen, "io_tune[%zu]: needs a name or a path", i);
                    goto out;
                }
            }
            ret->io_tune = json_incref(v);
        }
        /* Other keys are left for later versions. */
    }
    r = 0;
out:
    if (r < 0) {
        qmp_policy_done(ret);
        ret->balloon_min = 0;
        ret->vcpu_user_limit = 100;
    }
    json_decref(j);
    return r;
}

/* ---- guests ------------------------------------------------------------- */

static void guest_free(qmp_guest *g)
{
    if (!g)
        return;
    qmpc_free(g->conn);
    qmp_policy_done(&g->pol);
    pthread_mutex_destroy(&g->lock);
    mom_free(g->balloon_path);
    mom_free(g->policy_path);
    mom_free(g->base);
    mom_free(g->path);
    mom_free(g);
}

static qmp_guest *guest_new(qmp_backend *b, const char *fname)
{
    qmp_guest *g = mom_calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    size_t n = strlen(fname);
    if (n > 5 && strcmp(fname + n - 5, ".sock") == 0)
        n -= 5;
    g->path = mom_asprintf("%s/%s", b->dir, fname);
    g->base = mom_strndup(fname, n);
    g->policy_path = g->base ? mom_asprintf("%s/%s.json", b->dir, g->base) : NULL;
    pthread_mutex_init(&g->lock, NULL);
    g->refs = 1;
    g->pol.vcpu_user_limit = 100;
    if (!g->path || !g->base || !g->policy_path) {
        guest_free(g);
        return NULL;
    }
    return g;
}

/* Find a guest by key and lock it for one call; NULL when unknown. */
static qmp_guest *guest_acquire(qmp_backend *b, const char *id)
{
    qmp_guest *g = NULL;
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->guests[i]->path, id) == 0) {
            g = b->guests[i];
            g->refs++;
            break;
        }
    pthread_mutex_unlock(&b->lock);
    if (g)
        pthread_mutex_lock(&g->lock);
    return g;
}

static void guest_unref(qmp_backend *b, qmp_guest *g)
{
    pthread_mutex_lock(&b->lock);
    bool last = --g->refs == 0;
    pthread_mutex_unlock(&b->lock);
    if (last)
        guest_free(g);
}

static void guest_release(qmp_backend *b, qmp_guest *g)
{
    pthread_mutex_unlock(&g->lock);
    guest_unref(b, g);
}

/* Events between replies: keep the balloon size, skip the rest. */
static void on_event(const char *event, json_t *data, void *userdata)
{
    qmp_guest *g = userdata;
    int64_t actual;
    if (strcmp(event, "BALLOON_CHANGE") == 0 &&
        qmpc_json_int(json_object_get(data, "actual"), &actual) == 0 && actual >= 0) {
        g->actual_kib = actual / 1024;
        g->have_actual = true;
    }
}

static void drop_conn(qmp_guest *g)
{
    qmpc_free(g->conn);
    g->conn = NULL;
    mom_free(g->balloon_path);
    g->balloon_path = NULL;
    g->restore_polling = g->stats_period > 0;
}

/* Make sure g has a working connection. */
static int guest_connect(qmp_backend *b, qmp_guest *g, double deadline)
{
    if (g->conn && qmpc_pump(g->conn) < 0)
        drop_conn(g);
    if (g->conn)
        return 0;
    /* After a timeout or a failed connection, wait one deadline before the
     * next attempt, so a guest that never answers costs one deadline per
     * collection and not one per call. */
    if (now_s() < g->retry_after)
        return -EIO;
    int r = qmpc_connect(g->path, deadline, on_event, g, &g->conn);
    if (r < 0) {
        g->retry_after = now_s() + b->deadline_s;
        if (!g->conn_warned)
            mlog_msg(b->log, r == -ENOENT || r == -ECONNREFUSED ? MOM_LOG_INFO : MOM_LOG_WARN,
                     LOGGER, "%s: cannot connect to QMP: %s", g->path, strerror(-r));
        g->conn_warned = true;
        if (r == -ENOENT || r == -ECONNREFUSED)
            return -ENOENT;
        return r == -ETIMEDOUT ? -ETIMEDOUT : r == -ENOMEM ? -ENOMEM : -EIO;
    }
    if (g->conn_warned)
        mlog_msg(b->log, MOM_LOG_INFO, LOGGER, "%s: QMP connection established", g->path);
    g->conn_warned = false;
    return 0;
}

/* Map a QMP error reply to the interface's errors. */
static int reply_error(qmp_backend *b, qmp_guest *g, const char *command)
{
    const char *cls = qmpc_error_class(g->conn);
    mlog_msg(b->log, MOM_LOG_DEBUG, LOGGER, "%s: %s failed: %s: %s", g->path, command, cls,
             qmpc_error_desc(g->conn));
    if (strcmp(cls, "CommandNotFound") == 0 || strcmp(cls, "DeviceNotActive") == 0 ||
        strcmp(cls, "KVMMissingCap") == 0)
        return -ENOTSUP;
    return -EIO;
}

/* Run one command on g (connecting first when needed).  args is stolen. */
static int gcall(qmp_backend *b, qmp_guest *g, double deadline, const char *command,
                 json_t *args, json_t **ret)
{
    if (ret)
        *ret = NULL;
    int r = guest_connect(b, g, deadline);
    if (r < 0) {
        json_decref(args);
        return r;
    }
    r = qmpc_call(g->conn, command, args, deadline, ret);
    json_decref(args);
    if (r == 0)
        return 0;
    if (r == QMPC_E_REPLY)
        return reply_error(b, g, command);
    if (r == -ENOMEM)
        return r;
    mlog_msg(b->log, MOM_LOG_WARN, LOGGER, "%s: QMP connection lost during %s: %s", g->path,
             command, strerror(-r));
    g->conn_warned = true;
    drop_conn(g);
    if (r == -ETIMEDOUT)
        g->retry_after = now_s() + b->deadline_s;
    return r == -ETIMEDOUT ? -ETIMEDOUT : -EIO;
}

/* Re-read NAME.json when it changed (or appeared, or went away). */
static void guest_policy(qmp_backend *b, qmp_guest *g)
{
    struct stat st;
    if (stat(g->policy_path, &st) < 0) {
        if (g->pol_exists) {
            qmp_policy_done(&g->pol);
            memset(&g->pol, 0, sizeof(g->pol));
            g->pol.vcpu_user_limit = 100;
            g->pol_exists = false;
            g->pol_warned = false;
        }
        return;
    }
    if (g->pol_exists && st.st_mtim.tv_sec == g->pol_mtime.tv_sec &&
        st.st_mtim.tv_nsec == g->pol_mtime.tv_nsec && st.st_size == g->pol_size &&
        st.st_ino == g->pol_ino)
        return;
    g->pol_exists = true;
    g->pol_mtime = st.st_mtim;
    g->pol_size = st.st_size;
    g->pol_ino = st.st_ino;
    qmp_policy_done(&g->pol);
    memset(&g->pol, 0, sizeof(g->pol));
    g->pol.vcpu_user_limit = 100;
    char err[200] = "";
    int fd = open(g->policy_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || st.st_size > (off_t)MAX_FILE) {
        snprintf(err, sizeof(err), "%s", fd < 0 ? strerror(errno) : "file too large");
    } else {
        char *text = mom_malloc((size_t)st.st_size + 1);
        ssize_t n = text ? read(fd, text, (size_t)st.st_size) : -1;
        if (n < 0)
            snprintf(err, sizeof(err), "%s", text ? strerror(errno) : "out of memory");
        else
            (void)qmp_policy_parse(text, (size_t)n, &g->pol, err, sizeof(err));
        mom_free(text);
    }
    if (fd >= 0)
        close(fd);
    if (err[0])
        mlog_msg(b->log, MOM_LOG_WARN, LOGGER, "%s: %s; using the defaults", g->policy_path,
                 err);
}

/* ---- operations --------------------------------------------------------- */

/* A unix socket accepts connections right now (a probe that is closed at
 * once): false for a socket file whose QEMU has gone. */
static bool socket_alive(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return false;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    bool ok = r == 0 || errno == EAGAIN || errno == EINPROGRESS;
    close(fd);
    return ok;
}

/* Bring the table in line with the directory; returns the socket file
 * names found (mom_free each and the array). */
static int scan_dir(qmp_backend *b, char ***ret, size_t *ret_n)
{
    *ret = NULL;
    *ret_n = 0;
    DIR *d = opendir(b->dir);
    if (!d)
        return -errno;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = mom_realloc(names, nc * sizeof(*nn));
            if (!nn) {
                r = -ENOMEM;
                break;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = mom_strdup(de->d_name))) {
            r = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            mom_free(names[i]);
        mom_free(names);
        return r;
    }
    *ret = names;
    *ret_n = n;
    return 0;
}

/* The watch thread: wait for directory changes and poke the engine, once
 * per burst of events (a short pause lets QEMU finish bind() + listen()). */
static void *watch_main(void *arg)
{
    qmp_backend *b = arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        struct pollfd p[2] = {{.fd = b->watch_fd, .events = POLLIN},
                              {.fd = b->stop_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        struct pollfd q = {.fd = b->stop_fd, .events = POLLIN};
        if (poll(&q, 1, 100) > 0)
            break;
        while (read(b->watch_fd, buf, sizeof(buf)) > 0)
            ;
        b->wake(b->wake_ctx);
    }
    return NULL;
}

/* Start the inotify watch once, when the engine has a wake hook. */
static void watch_start(qmp_backend *b)
{
    pthread_mutex_lock(&b->lock);
    bool tried = b->watch_tried;
    b->watch_tried = true;
    pthread_mutex_unlock(&b->lock);
    if (tried || !b->self || !b->self->wake)
        return;
    b->wake = b->self->wake;
    b->wake_ctx = b->self->wake_ctx;
    b->watch_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    b->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->watch_fd < 0 || b->stop_fd < 0 ||
        inotify_add_watch(b->watch_fd, b->dir,
                          IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR) < 0 ||
        pthread_create(&b->watch_thread, NULL, watch_main, b) != 0) {
        mlog_msg(b->log, MOM_LOG_INFO, LOGGER,
                 "cannot watch %s for new sockets (%s); it is rescanned every guest-manager "
                 "interval", b->dir, strerror(errno));
        return;
    }
    b->watch_running = true;
}

static int op_get_vm_list(mom_hv_list *out, void *userdata)
{
    qmp_backend *b = userdata;
    watch_start(b);
    char **names;
    size_t n;
    int r = scan_dir(b, &names, &n);
    if (r < 0) {
        if (!b->list_warned)
            mlog_msg(b->log, MOM_LOG_WARN, LOGGER, "cannot read qmp-socket-dir %s: %s", b->dir,
                     strerror(-r));
        b->list_warned = true;
        return r == -ENOMEM ? r : -EIO;
    }
    b->list_warned = false;

    /* Update the table: new sockets in, vanished ones out. */
    qmp_guest **keep = NULL;
    size_t n_keep = 0;
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < b->n; i++)
        b->guests[i]->listed = false;
    for (size_t k = 0; k < n && r == 0; k++) {
        char *path = mom_asprintf("%s/%s", b->dir, names[k]);
        if (!path) {
            r = -ENOMEM;
            break;
        }
        bool found = false;
        for (size_t i = 0; i < b->n && !found; i++)
            if (strcmp(b->guests[i]->path, path) == 0) {
                b->guests[i]->listed = true;
                found = true;
            }
        mom_free(path);
        if (found)
            continue;
        if (b->n == b->cap) {
            size_t nc = b->cap ? b->cap * 2 : 16;
            qmp_guest **ng = mom_realloc(b->guests, nc * sizeof(*ng));
            if (!ng) {
                r = -ENOMEM;
                break;
            }
            b->guests = ng;
            b->cap = nc;
        }
        qmp_guest *g = guest_new(b, names[k]);
        if (!g) {
            r = -ENOMEM;
            break;
        }
        g->listed = true;
        b->guests[b->n++] = g;
    }
    qmp_guest **gone = NULL;
    size_t n_gone = 0;
    if (r == 0) {
        gone = mom_calloc(b->n ? b->n : 1, sizeof(*gone));
        keep = mom_calloc(b->n ? b->n : 1, sizeof(*keep));
        if (!gone || !keep)
            r = -ENOMEM;
    }
    if (r == 0) {
        size_t w = 0;
        for (size_t i = 0; i < b->n; i++) {
            qmp_guest *g = b->guests[i];
            if (g->listed) {
                g->refs++;
                keep[n_keep++] = g;
                b->guests[w++] = g;
            } else {
                gone[n_gone++] = g; /* the table's reference moves here */
            }
        }
        b->n = w;
    }
    pthread_mutex_unlock(&b->lock);
    for (size_t i = 0; i < n_gone; i++) {
        mlog_msg(b->log, MOM_LOG_DEBUG, LOGGER, "%s: socket removed", gone[i]->path);
        guest_unref(b, gone[i]);
    }
    mom_free(gone);
    for (size_t k = 0; k < n; k++)
        mom_free(names[k]);
    mom_free(names);

    /* A guest is running when its connection works, when a call is using
     * it right now, or when its socket accepts connections. */
    for (size_t i = 0; i < n_keep; i++) {
        qmp_guest *g = keep[i];
        bool alive = true;
        if (pthread_mutex_trylock(&g->lock) == 0) {
            alive = (g->conn && !qmpc_broken(g->conn)) || socket_alive(g->path);
            pthread_mutex_unlock(&g->lock);
        }
        if (r == 0 && alive)
            r = mom_hv_list_add(out, g->path);
        guest_unref(b, g);
    }
    mom_free(keep);
    return r;
}

static int op_get_vm_info(const char *id, mom_hv_guest_info *ret, void *userdata)
{
    qmp_backend *b = userdata;
    qmp_guest *g = guest_acquire(b, id);
    if (!g)
        return -ENOENT;
    double dl = now_s() + b->deadline_s;
    json_t *name = NULL, *uuid = NULL;
    int r = gcall(b, g, dl, "query-name", NULL, &name);
    if (r == 0)
        r = gcall(b, g, dl, "query-uuid", NULL, &uuid);
    if (r == 0) {
        const char *n = json_string_value(json_object_get(name, "name"));
        const char *u = json_string_value(json_object_get(uuid, "UUID"));
        snprintf(ret->name, sizeof(ret->name), "%s", n && n[0] ? n : g->base);
        uint8_t ub[16];
        bool zero = true;
        if (u && uuid_parse(u, ub) == 0) {
            for (int i = 0; i < 16; i++)
                if (ub[i])
                    zero = false;
        }
        if (!zero) {
            uuid_format(ub, ret->uuid);
        } else {
            char v5[37];
            r = qmp_uuid5(QMP_UUID_NAMESPACE, ret->name, v5);
            if (r == 0)
                snprintf(ret->uuid, sizeof(ret->uuid), "%s", v5);
        }
        ret->pid = g->conn ? qmpc_peer_pid(g->conn) : 0;
    }
    json_decref(name);
    json_decref(uuid);
    guest_release(b, g);
    return r;
}

/* Find the QOM path of the guest's virtio balloon (cached per connection):
 * a device under /machine/peripheral (given an id, e.g. balloon0) or
 * /machine/peripheral-anon. */
static int find_balloon(qmp_backend *b, qmp_guest *g, double dl)
{
    static const char *const containers[] = {"/machine/peripheral", "/machine/peripheral-anon"};
    if (g->balloon_path && g->conn)
        return 0;
    int r = guest_connect(b, g, dl);
    if (r < 0)
        return r;
    for (size_t c = 0; c < 2; c++) {
        json_t *list = NULL;
        r = gcall(b, g, dl, "qom-list", json_pack("{s:s}", "path", containers[c]), &list);
        if (r == -ETIMEDOUT || r == -ENOENT || (r < 0 && !g->conn)) {
            json_decref(list);
            return r;
        }
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e) {
            const char *type = json_string_value(json_object_get(e, "type"));
            const char *nm = json_string_value(json_object_get(e, "name"));
            if (type && nm && strncmp(type, "child<", 6) == 0 && strstr(type, "virtio-balloon")) {
                mom_free(g->balloon_path);
                g->balloon_path = mom_asprintf("%s/%s", containers[c], nm);
                json_decref(list);
                return g->balloon_path ? 0 : -ENOMEM;
            }
        }
        json_decref(list);
    }
    if (!g->no_balloon_warned)
        mlog_msg(b->log, MOM_LOG_WARN, LOGGER, "%s: the guest has no virtio balloon device",
                 g->path);
    g->no_balloon_warned = true;
    return -ENOTSUP;
}

/* qom-set of the polling interval on the balloon. */
static int set_polling(qmp_backend *b, qmp_guest *g, double dl, int period)
{
    int r = find_balloon(b, g, dl);
    if (r < 0)
        return r;
    r = gcall(b, g, dl, "qom-set",
              json_pack("{s:s, s:s, s:i}", "path", g->balloon_path, "property",
                        "guest-stats-polling-interval", "value", period),
              NULL);
    if (r == 0)
        g->restore_polling = false;
    return r;
}

static int op_start_vm_memory_stats(const char *id, int period_s, void *userdata)
{
    qmp_backend *b = userdata;
    if (period_s <= 0)
        return -EINVAL;
    qmp_guest *g = guest_acquire(b, id);
    if (!g)
        return -ENOENT;
    g->stats_period = period_s;
    int r = set_polling(b, g, now_s() + b->deadline_s, period_s);
    guest_release(b, g);
    return r;
}

static int op_get_vm_memory_stats(const char *id, mom_hv_memory_stats *ret, void *userdata)
{
    qmp_backend *b = userdata;
    qmp_guest *g = guest_acquire(b, id);
    if (!g)
        return -ENOENT;
    double dl = now_s() + b->deadline_s;
    int r = find_balloon(b, g, dl);
    /* A new QEMU behind the socket starts without polling: set it again. */
    if (r == 0 && g->restore_polling && g->stats_period > 0)
        (void)set_polling(b, g, dl, g->stats_period);
    json_t *gs = NULL;
    if (r == 0 && g->balloon_path)
        r = gcall(b, g, dl, "qom-get",
                  json_pack("{s:s, s:s}", "path", g->balloon_path, "property", "guest-stats"),
                  &gs);
    if (r == 0)
        r = qmp_stats_from_json(gs, ret);
    if (r == -EPROTO)
        r = -EIO;
    json_decref(gs);
    guest_release(b, g);
    return r;
}

static int op_get_vm_balloon_info(const char *id, mom_hv_balloon_info *ret, void *userdata)
{
    qmp_backend *b = userdata;
    qmp_guest *g = guest_acquire(b, id);
    if (!g)
        return -ENOENT;
    double dl = now_s() + b->deadline_s;
    json_t *bal = NULL, *sum = NULL;
    int64_t actual, base, plugged = 0;
    int r = gcall(b, g, dl, "query-balloon", NULL, &bal);
    if (r == 0)
        r = gcall(b, g, dl, "query-memory-size-summary", NULL, &sum);
    if (r == 0) {
        json_t *pl = json_object_get(sum, "plugged-memory");
        if (qmpc_json_int(json_object_get(bal, "actual"), &actual) < 0 || actual < 0 ||
            qmpc_json_int(json_object_get(sum, "base-memory"), &base) < 0 || base < 0 ||
            (pl && (qmpc_json_int(pl, &plugged) < 0 || plugged < 0 ||
                    plugged > INT64_MAX - base)))
            r = -EIO;
    }
    if (r == 0) {
        guest_policy(b, g);
        g->actual_kib = actual / 1024;
        g->have_actual = true;
        ret->balloon_cur = actual / 1024;
        ret->balloon_max = (base + plugged) / 1024;
        ret->balloon_min = g->pol.balloon_min;
    }
    json_decref(bal);
    json_decref(sum);
    guest_release(b, g);
    return r;
}

static int op_set_vm_balloon_target(const char *id, int64_t target_kib, void *userdata)
{
    qmp_backend *b = userdata;
    /* QEMU ignores a target of 0; a negative one is nonsense. */
    if (target_kib <= 0 || target_kib > INT64_MAX / 1024)
        return -EINVAL;
    qmp_guest *g = guest_acquire(b, id);
    if (!g)
        return -ENOENT;
    int r = gcall(b, g, now_s() + b->deadline_s, "balloon",
                  json_pack("{s:I}", "value", (json_int_t)(target_kib * 1024)), NULL);
    guest_release(b, g);
    return r;
}

/* Read a small file into a new string. */
static int read_text(const char *path, char **ret)
{
    *ret = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, len = 0;
    char *buf = mom_malloc(cap);
    int r = buf ? 0 : -ENOMEM;
    while (r == 0) {
        if (len + 1 >= cap) {
            if (cap >= MAX_FILE) {
                r = -EFBIG;
                break;
            }
            char *nb = mom_realloc(buf, cap * 2);
            if (!nb) {
                r = -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = -errno;
        else if (n == 0)
            break;
        else
            len += (size_t)n;
    }
    close(fd);
    if (r < 0) {
        mom_free(buf);
        return r;
    }
    buf[len] = '\0';
    *ret = buf;
    return 0;
}

/* The cgroup v2 directory of process pid (under sysfs-root/fs/cgroup). */
static int cgroup_dir(qmp_backend *b, pid_t pid, char **ret)
{
    *ret = NULL;
    if (pid <= 0)
        return -ENOTSUP;
    char *path = mom_asprintf("%s/%d/cgroup", b->proc_root, (int)pid);
    if (!path)
        return -ENOMEM;
    char *text;
    int r = read_text(path, &text);
    mom_free(path);
    if (r < 0)
        return r == -ENOMEM ? r : -ENOTSUP;
    r = -ENOTSUP;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, "0::", 3) == 0) {
            const char *cg = line + 3;
            *ret = mom_asprintf("%s/fs/cgroup%s%s", b->sysfs_root, cg[0] == '/' ? "" : "/",
                                strcmp(cg, "/") == 0 ? "" : cg);
            r = *ret ? 0 : -ENOMEM;
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    mom_free(text);
    return r;
}

/* Parse cpu.max ("max P" or "Q P"): quota -1 for max. */
static int parse_cpu_max(const char *text, int64_t *ret_quota, int64_t *ret_period)
{
    char q[32];
    long long p;
    if (sscanf(text, "%31s %lld", q, &p) != 2 || p <= 0)
        return -EINVAL;
    if (strcmp(q, "max") == 0) {
        *ret_quota = -1;
    } else {
        char *end;
        errno = 0;
        long long v = strtoll(q, &end, 10);
        if (errno || *end || v <= 0)
            return -EINVAL;
        *ret_quota = v;
    }
    *ret_period = p;
    return 0;
}

/* Number of vCPUs from query-cpus-fast. */
static int vcpu_count(qmp_backend *b, qmp_guest *g, double dl, int64_t *ret)
{
    json_t *cpus = NULL;
    int r = gcall(b, g, dl, "query-cpus-fast", NULL, &cpus);
    if (r == 0) {
        if (!json_is_array(cpus) || json_array_size(cpus) == 0)
            r = -ENODATA;
        else
            *ret = (int64_t)json_array_size(cpus);
    }
    json_decref(cpus);
    return r;
}

static int op_get_vm_cpu_tune_info(const char *id, mom_hv_cpu_tune_info *ret, void *userdata)
{
    qmp_backend *b = userdata;
    qmp_guest *g = guest_acquire(b, id);
    if (!g)
        return -ENOENT;
    int64_t count = 0;
    int r = vcpu_count(b, g, now_s() + b->deadline_s, &count);
    if (r == 0) {
        guest_policy(b, g);
        ret->vcpu_count = count;
        ret->vcpu_user_limit = g->pol.vcpu_user_limit;
        ret->vcpu_quota = -1;
        ret->vcpu_period = 100000;
        char *dir = NULL, *path = NULL, *text = NULL;
        int64_t quota, period;
        if (cgroup_dir(b, g->conn ? qmpc_peer_pid(g->conn) : 0, &dir) == 0 &&
            (path = mom_asprintf("%s/cpu.max", dir)) && read_text(path, &text) == 0 &&
            parse_cpu_max(text, &quota, &period) == 0) {
            ret->vcpu_quota = quota < 0 ? -1 : quota / count;
            ret->vcpu_period = period;
        }
        mom_free(text);
        mom_free(path);
        mom_free(dir);
    }
    guest_release(b, g);
    return r;
}

/* true when the cgroup at dir holds no process but pid: MOM must not
 * throttle anything besides the guest's QEMU. */
static bool cgroup_only(const char *dir, pid_t pid)
{
    char *path = mom_asprintf("%s/cgroup.procs", dir);
    char *text = NULL;
    bool only = false;
    if (path && read_text(path, &text) == 0) {
        long long p;
        int n = 0, used = 0;
        only = true;
        for (const char *s = text; sscanf(s, "%lld%n", &p, &used) == 1; s += used) {
            n++;
            if (p != pid)
                only = false;
        }
        only = only && n == 1;
    }
    mom_free(text);
    mom_free(path);
    return only;
}

static int op_set_vm_cpu_tune(const char *id, int64_t quota, int64_t period, void *userdata)
{
    qmp_backend *b = userdata;
    qmp_guest *g = guest_acquire(b, id);
    if (!g)
        return -ENOENT;
    int64_t count = 0;
    char *dir = NULL, *path = NULL, *text = NULL;
    int r = vcpu_count(b, g, now_s() + b->deadline_s, &count);
    if (r == 0)
        r = cgroup_dir(b, g->conn ? qmpc_peer_pid(g->conn) : 0, &dir);
    if (r == 0 && !cgroup_only(dir, qmpc_peer_pid(g->conn))) {
        if (!g->cg_warned)
            mlog_msg(b->log, MOM_LOG_WARN, LOGGER,
                     "%s: QEMU shares its cgroup %s with other processes; not setting cpu.max",
                     g->path, dir);
        g->cg_warned = true;
        r = -ENOTSUP;
    }
    if (r == 0) {
        if (period < 1000 || period > 1000000)
            period = 100000;
        if (quota > 0 && quota <= INT64_MAX / count)
            text = mom_asprintf("%" PRId64 " %" PRId64 "\n", quota * count, period);
        else
            text = mom_asprintf("max %" PRId64 "\n", period);
        path = mom_asprintf("%s/cpu.max", dir);
        if (!text || !path)
            r = -ENOMEM;
    }
    if (r == 0) {
        int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0 || write(fd, text, strlen(text)) < 0)
            r = (errno == EINVAL || errno == ERANGE) ? -EINVAL : -ENOTSUP;
        if (fd >= 0)
            close(fd);
    }
    mom_free(text);
    mom_free(path);
    mom_free(dir);
    guest_release(b, g);
    return r;
}

static const char *const our_limit_keys[6] = {"total_bytes_sec", "read_bytes_sec",
                                              "write_bytes_sec", "total_iops_sec",
                                              "read_iops_sec",   "write_iops_sec"};

static int op_get_vm_io_tune_policy(const char *id, mom_hv_disk_list *out, void *userdata)
{
    qmp_backend *b = userdata;
    qmp_guest *g = guest_acquire(b, id);
    if (!g)
        return -ENOENT;
    guest_policy(b, g);
    int r = 0;
    size_t i;
    json_t *d;
    json_array_foreach(g->pol.io_tune, i, d) {
        mom_hv_io_limits gu, mx;
        limits_from_json(json_object_get(d, "guaranteed"), our_limit_keys, &gu);
        limits_from_json(json_object_get(d, "maximum"), our_limit_keys, &mx);
        r = mom_hv_disk_list_add_policy(out, json_string_value(json_object_get(d, "name")),
                                        json_string_value(json_object_get(d, "path")), &gu, &mx);
        if (r < 0)
            break;
    }
    guest_release(b, g);
    return r;
}

/* The disk's name as MOM shows it: the drive id, else the qdev id/path. */
static const char *block_name(const json_t *dev)
{
    const char *d = json_string_value(json_object_get(dev, "device"));
    if (d && d[0])
        return d;
    return json_string_value(json_object_get(dev, "qdev"));
}

static int op_get_vm_io_tune(const char *id, mom_hv_disk_list *out, void *userdata)
{
    qmp_backend *b = userdata;
    qmp_guest *g = guest_acquire(b, id);
    if (!g)
        return -ENOENT;
    json_t *blocks = NULL;
    int r = gcall(b, g, now_s() + b->deadline_s, "query-block", NULL, &blocks);
    size_t i;
    json_t *dev;
    json_array_foreach(blocks, i, dev) {
        json_t *ins = json_object_get(dev, "inserted");
        if (r < 0 || !json_is_object(ins))
            continue;
        mom_hv_io_limits cur;
        limits_from_json(ins, qmp_limit_keys, &cur);
        r = mom_hv_disk_list_add_tune(out, block_name(dev),
                                      json_string_value(json_object_get(ins, "file")), &cur);
    }
    json_decref(blocks);
    guest_release(b, g);
    return r;
}

/* The query-block entry a disk names: by path when both sides have one,
 * else by name. */
static json_t *match_block(json_t *blocks, const mom_hv_disk_tune *d)
{
    size_t i;
    json_t *dev;
    json_array_foreach(blocks, i, dev) {
        json_t *ins = json_object_get(dev, "inserted");
        if (!json_is_object(ins))
            continue;
        const char *path = json_string_value(json_object_get(ins, "file"));
        const char *name = block_name(dev);
        if (d->path && path) {
            if (strcmp(d->path, path) == 0)
                return dev;
        } else if (d->name && name && strcmp(d->name, name) == 0) {
            return dev;
        }
    }
    return NULL;
}

static int op_set_vm_io_tune(const char *id, const mom_hv_disk_tune *disks, size_t n_disks,
                             void *userdata)
{
    qmp_backend *b = userdata;
    qmp_guest *g = guest_acquire(b, id);
    if (!g)
        return -ENOENT;
    double dl = now_s() + b->deadline_s;
    json_t *blocks = NULL;
    int r = gcall(b, g, dl, "query-block", NULL, &blocks);
    for (size_t k = 0; r == 0 && k < n_disks; k++) {
        json_t *dev = match_block(blocks, &disks[k]);
        if (!dev) {
            mlog_msg(b->log, MOM_LOG_DEBUG, LOGGER, "%s: no disk %s to tune", g->path,
                     disks[k].path ? disks[k].path : disks[k].name ? disks[k].name : "?");
            continue;
        }
        /* block_set_io_throttle needs all six: merge into the current. */
        mom_hv_io_limits cur;
        limits_from_json(json_object_get(dev, "inserted"), qmp_limit_keys, &cur);
        const int64_t *nv[6] = {&disks[k].io_tune.total_bytes_sec, &disks[k].io_tune.read_bytes_sec,
                                &disks[k].io_tune.write_bytes_sec, &disks[k].io_tune.total_iops_sec,
                                &disks[k].io_tune.read_iops_sec,   &disks[k].io_tune.write_iops_sec};
        int64_t *cv[6] = {&cur.total_bytes_sec, &cur.read_bytes_sec, &cur.write_bytes_sec,
                          &cur.total_iops_sec,  &cur.read_iops_sec,  &cur.write_iops_sec};
        json_t *args = json_object();
        for (int i = 0; args && i < 6; i++) {
            int64_t v = (disks[k].io_tune.present & (1u << i)) ? *nv[i]
                        : (cur.present & (1u << i))             ? *cv[i]
                                                                : 0;
            if (json_object_set_new(args, qmp_limit_keys[i], json_integer(v < 0 ? 0 : v)) < 0) {
                json_decref(args);
                args = NULL;
            }
        }
        const char *drive = json_string_value(json_object_get(dev, "device"));
        const char *qdev = json_string_value(json_object_get(dev, "qdev"));
        if (!args ||
            json_object_set_new(args, drive && drive[0] ? "device" : "id",
                                json_string(drive && drive[0] ? drive : qdev ? qdev : "")) < 0) {
            json_decref(args);
            r = -ENOMEM;
            break;
        }
        r = gcall(b, g, dl, "block_set_io_throttle", args, NULL);
    }
    json_decref(blocks);
    guest_release(b, g);
    return r;
}

/* ---- life cycle --------------------------------------------------------- */

static void qmp_destroy(void *userdata)
{
    qmp_backend *b = userdata;
    if (!b)
        return;
    if (b->watch_running) {
        uint64_t one = 1;
        ssize_t w = write(b->stop_fd, &one, sizeof(one));
        (void)w;
        pthread_join(b->watch_thread, NULL);
    }
    if (b->watch_fd >= 0)
        close(b->watch_fd);
    if (b->stop_fd >= 0)
        close(b->stop_fd);
    for (size_t i = 0; i < b->n; i++)
        guest_unref(b, b->guests[i]);
    mom_free(b->guests);
    pthread_mutex_destroy(&b->lock);
    mom_free(b->dir);
    mom_free(b->proc_root);
    mom_free(b->sysfs_root);
    mom_free(b);
}

int qmp_create_dir(const char *dir, const char *proc_root, const char *sysfs_root,
                   double deadline_s, const mlog *log, hv *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (!dir || !dir[0])
        return -EINVAL;
    qmp_backend *b = mom_calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    pthread_mutex_init(&b->lock, NULL);
    b->watch_fd = b->stop_fd = -1;
    b->self = ret;
    b->log = log;
    b->deadline_s = deadline_s > 0 ? deadline_s : 10.0;
    /* Keep the directory without trailing slashes: keys are DIR/FILE. */
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    b->dir = mom_strndup(dir, n);
    b->proc_root = mom_strdup(proc_root ? proc_root : "/proc");
    b->sysfs_root = mom_strdup(sysfs_root ? sysfs_root : "/sys");
    if (!b->dir || !b->proc_root || !b->sysfs_root) {
        qmp_destroy(b);
        return -ENOMEM;
    }
    b->ops.size = sizeof(b->ops);
    b->ops.get_vm_list = op_get_vm_list;
    b->ops.get_vm_info = op_get_vm_info;
    b->ops.start_vm_memory_stats = op_start_vm_memory_stats;
    b->ops.get_vm_memory_stats = op_get_vm_memory_stats;
    b->ops.get_vm_balloon_info = op_get_vm_balloon_info;
    b->ops.set_vm_balloon_target = op_set_vm_balloon_target;
    b->ops.get_vm_cpu_tune_info = op_get_vm_cpu_tune_info;
    b->ops.set_vm_cpu_tune = op_set_vm_cpu_tune;
    b->ops.get_vm_io_tune_policy = op_get_vm_io_tune_policy;
    b->ops.get_vm_io_tune = op_get_vm_io_tune;
    b->ops.set_vm_io_tune = op_set_vm_io_tune;
    /* ksm_tune stays NULL: the engine writes sysfs itself.  The guest
     * agent is reached over its own socket (GuestQemuAgent), not QMP. */
    ret->name = "qmp";
    ret->ops = &b->ops;
    ret->userdata = b;
    ret->destroy = qmp_destroy;
    return 0;
}

int qmp_create(const conf *c, const mlog *log, hv *ret)
{
    const char *dir = c ? conf_get(c, "main", "qmp-socket-dir") : NULL;
    if (!dir || !dir[0]) {
        mlog_msg(log, MOM_LOG_ERROR, "mom",
                 "hypervisor-interface qmp needs [main] qmp-socket-dir (the directory of the "
                 "guests' QMP sockets)");
        memset(ret, 0, sizeof(*ret));
        return MOM_E_CONFIG;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        mlog_msg(log, MOM_LOG_WARN, "mom",
                 "qmp-socket-dir %s is not a directory (yet); no guests until it is", dir);
    double deadline = (double)conf_get_int(c, "main", "call-deadline-ms") / 1000.0;
    return qmp_create_dir(dir, conf_get(c, "main", "proc-root"),
                          conf_get(c, "main", "sysfs-root"), deadline, log, ret);
}
