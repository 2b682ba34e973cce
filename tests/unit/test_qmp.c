/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the QMP backend (src/hv/qmp.c) and its protocol client
 * (src/hv/qmp_client.c) against fake QEMU monitors: server threads that
 * listen on unix sockets and speak real QMP JSON (greeting, capabilities
 * negotiation, replies with ids, events between replies), with scripted
 * misbehaviour: -1 statistics, error replies, a reply cut off by a closed
 * connection, a monitor that never answers, garbage.  Also the pure parts:
 * SHA-1, name-based UUIDs, guest-stats conversion, NAME.json.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/hv.h"
#include "core/log.h"
#include "core/value.h"
#include "hv/qmp.h"
#include "hv/qmp_client.h"

/* ---- helpers ------------------------------------------------------------ */

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_file(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

typedef struct logcap {
    pthread_mutex_t lock;
    char text[8192];
} logcap;

static void capture_log(mom_log_level level, const char *logger, const char *msg, void *userdata)
{
    logcap *c = userdata;
    (void)level;
    (void)logger;
    pthread_mutex_lock(&c->lock);
    size_t len = strlen(c->text);
    snprintf(c->text + len, sizeof(c->text) - len, "%s\n", msg);
    pthread_mutex_unlock(&c->lock);
}

/* ---- the fake QEMU monitor --------------------------------------------- */

typedef struct fake_qmp {
    char path[300];
    int lfd, stop_fd;
    pthread_t th;
    pthread_mutex_t lock;
    /* Behaviour (set before start or under lock). */
    const char *name;          /* query-name; "" = no name */
    const char *uuid;          /* query-uuid */
    const char *stats;         /* guest-stats JSON text */
    bool anon_balloon;         /* balloon under /machine/peripheral-anon */
    bool no_balloon;
    bool events;               /* events before every reply */
    bool split;                /* replies written in two pieces */
    bool no_greeting;          /* accept and say nothing */
    const char *close_on;      /* send half the reply to this command, close */
    const char *hang_on;       /* never answer this command */
    const char *garbage_on;    /* answer this command with a non-JSON line */
    int n_cpus;
    int64_t actual, base;
    /* Record. */
    int conns;
    int polling;
    int64_t balloon_value;
    char commands[4096];       /* command names, space-separated */
    char throttle[512];        /* last block_set_io_throttle arguments */
    int64_t bps;               /* current throttle */
} fake_qmp;

static void fq_send(int fd, const char *text)
{
    size_t n = strlen(text);
    while (n) {
        ssize_t w = send(fd, text, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        text += w;
        n -= (size_t)w;
    }
}

static void fq_send_json(fake_qmp *f, int fd, json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT);
    size_t n = strlen(t);
    if (f->split && n > 4) {
        char save = t[n / 2];
        t[n / 2] = '\0';
        fq_send(fd, t);
        usleep(20000);
        t[n / 2] = save;
        fq_send(fd, t + n / 2);
    } else {
        fq_send(fd, t);
    }
    fq_send(fd, "\r\n");
    free(t);
}

static json_t *fq_error(const char *cls, const char *desc)
{
    return json_pack("{s:{s:s, s:s}}", "error", "class", cls, "desc", desc);
}

/* The reply object to one command (without id); NULL = no reply. */
static json_t *fq_answer(fake_qmp *f, const char *cmd, json_t *args, bool *negotiated)
{
    if (!*negotiated) {
        if (strcmp(cmd, "qmp_capabilities") != 0)
            return fq_error("CommandNotFound", "Expecting capabilities negotiation");
        *negotiated = true;
        f->conns++;
        return json_pack("{s:{}}", "return");
    }
    const char *path = json_string_value(json_object_get(args, "path"));
    if (strcmp(cmd, "query-name") == 0)
        return f->name[0] ? json_pack("{s:{s:s}}", "return", "name", f->name)
                          : json_pack("{s:{}}", "return");
    if (strcmp(cmd, "query-uuid") == 0)
        return json_pack("{s:{s:s}}", "return", "UUID", f->uuid);
    if (strcmp(cmd, "qom-list") == 0) {
        bool here = path && !f->no_balloon &&
                    strcmp(path, f->anon_balloon ? "/machine/peripheral-anon"
                                                 : "/machine/peripheral") == 0;
        if (path && strcmp(path, "/machine/peripheral-anon") == 0 && !f->anon_balloon)
            return fq_error("DeviceNotFound", "Device '/machine/peripheral-anon' not found");
        if (here)
            return json_pack("{s:[{s:s, s:s}, {s:s, s:s}]}", "return", "name", "type", "type",
                             "string",
                             "name", f->anon_balloon ? "device[1]" : "balloon0", "type",
                             "child<virtio-balloon-pci>");
        return json_pack("{s:[{s:s, s:s}]}", "return", "name", "type", "type", "string");
    }
    if (strcmp(cmd, "qom-set") == 0) {
        const char *prop = json_string_value(json_object_get(args, "property"));
        if (!prop || strcmp(prop, "guest-stats-polling-interval") != 0)
            return fq_error("GenericError", "bad property");
        f->polling = (int)json_integer_value(json_object_get(args, "value"));
        return json_pack("{s:{}}", "return");
    }
    if (strcmp(cmd, "qom-get") == 0) {
        json_t *st = json_loads(f->stats, 0, NULL);
        if (!st) {
            /* Texts with 2^64-1 are sent as they are. */
            return json_pack("{s:s}", "raw", f->stats);
        }
        return json_pack("{s:o}", "return", st);
    }
    if (strcmp(cmd, "query-balloon") == 0)
        return json_pack("{s:{s:I}}", "return", "actual", (json_int_t)f->actual);
    if (strcmp(cmd, "query-memory-size-summary") == 0)
        return json_pack("{s:{s:I, s:I}}", "return", "base-memory", (json_int_t)f->base,
                         "plugged-memory", (json_int_t)0);
    if (strcmp(cmd, "balloon") == 0) {
        f->balloon_value = json_integer_value(json_object_get(args, "value"));
        f->actual = f->balloon_value;
        return json_pack("{s:{}}", "return");
    }
    if (strcmp(cmd, "query-cpus-fast") == 0) {
        json_t *a = json_array();
        for (int i = 0; i < f->n_cpus; i++)
            json_array_append_new(a, json_pack("{s:i, s:s}", "cpu-index", i, "target", "x86_64"));
        return json_pack("{s:o}", "return", a);
    }
    if (strcmp(cmd, "query-block") == 0)
        return json_pack("{s:[{s:s, s:s, s:{s:s, s:I, s:i, s:i, s:i, s:i, s:i}}, {s:s, s:s}]}",
                         "return", "device", "drive0", "qdev", "/machine/peripheral/disk0",
                         "inserted", "file", "/images/a.qcow2", "bps", (json_int_t)f->bps,
                         "bps_rd", 0, "bps_wr", 0, "iops", 300, "iops_rd", 0, "iops_wr", 0,
                         "device", "cd0", "qdev", "/machine/peripheral/cd0");
    if (strcmp(cmd, "block_set_io_throttle") == 0) {
        char *t = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
        snprintf(f->throttle, sizeof(f->throttle), "%s", t);
        free(t);
        f->bps = json_integer_value(json_object_get(args, "bps"));
        return json_pack("{s:{}}", "return");
    }
    return fq_error("CommandNotFound", "The command has not been found");
}

/* Serve one connection until it closes or the test stops the server. */
static void fq_serve(fake_qmp *f, int fd)
{
    pthread_mutex_lock(&f->lock);
    bool greet = !f->no_greeting;
    pthread_mutex_unlock(&f->lock);
    if (greet)
        fq_send(fd, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 2, \"major\": 7}, "
                    "\"package\": \"Debian\"}, \"capabilities\": [\"oob\"]}}\r\n");
    bool negotiated = false;
    char buf[8192];
    size_t len = 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = f->stop_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 || p[1].revents)
            return;
        ssize_t n = recv(fd, buf + len, sizeof(buf) - len - 1, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
        char *nl;
        while ((nl = memchr(buf, '\n', len))) {
            size_t ll = (size_t)(nl - buf);
            json_t *req = json_loadb(buf, ll, 0, NULL);
            memmove(buf, nl + 1, len - ll - 1);
            len -= ll + 1;
            if (!req)
                continue;
            const char *cmd = json_string_value(json_object_get(req, "execute"));
            json_t *id = json_object_get(req, "id");
            pthread_mutex_lock(&f->lock);
            size_t cl = strlen(f->commands);
            snprintf(f->commands + cl, sizeof(f->commands) - cl, "%s ", cmd ? cmd : "?");
            bool hang = f->hang_on && cmd && strcmp(cmd, f->hang_on) == 0;
            bool cut = f->close_on && cmd && strcmp(cmd, f->close_on) == 0;
            bool garbage = f->garbage_on && cmd && strcmp(cmd, f->garbage_on) == 0;
            bool events = f->events && negotiated;
            json_t *ans = hang ? NULL : fq_answer(f, cmd ? cmd : "", json_object_get(req, "arguments"),
                                                  &negotiated);
            pthread_mutex_unlock(&f->lock);
            if (ans && id)
                json_object_set(ans, "id", id);
            json_decref(req);
            if (!ans)
                continue;
            if (events) {
                fq_send(fd, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": "
                            "\"RTC_CHANGE\", \"data\": {\"offset\": 0}}\r\n");
                char ev[200];
                snprintf(ev, sizeof(ev),
                         "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": "
                         "\"BALLOON_CHANGE\", \"data\": {\"actual\": %lld}}\r\n",
                         (long long)(f->actual - 1048576));
                fq_send(fd, ev);
            }
            if (garbage) {
                fq_send(fd, "this is not JSON\r\n");
            } else if (cut) {
                char *t = json_dumps(ans, JSON_COMPACT);
                t[strlen(t) / 2] = '\0';
                fq_send(fd, t);
                free(t);
                json_decref(ans);
                return;
            } else if (json_object_get(ans, "raw")) {
                char line[1024];
                snprintf(line, sizeof(line), "{\"return\": %s, \"id\": %lld}\r\n",
                         json_string_value(json_object_get(ans, "raw")),
                         (long long)json_integer_value(id));
                fq_send(fd, line);
            } else {
                fq_send_json(f, fd, ans);
            }
            json_decref(ans);
        }
        if (len >= sizeof(buf) - 1)
            return;
    }
}

static void *fq_main(void *arg)
{
    fake_qmp *f = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = f->lfd, .events = POLLIN}, {.fd = f->stop_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 || p[1].revents)
            break;
        int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        fq_serve(f, fd);
        close(fd);
    }
    return NULL;
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static const char *default_stats =
    "{\"last-update\": 1700000000, \"stats\": {\"stat-swap-out\": 8192, "
    "\"stat-available-memory\": 209715200, \"stat-htlb-pgalloc\": 0, \"stat-free-memory\": "
    "104857600, \"stat-minor-faults\": 12345, \"stat-major-faults\": 67, \"stat-total-memory\": "
    "262144000, \"stat-swap-in\": 4096, \"stat-disk-caches\": 52428800, \"stat-htlb-pgfail\": 0}}";

/* Start a fake monitor listening at DIR/FILE. */
static fake_qmp *fq_start(const char *dir, const char *file)
{
    fake_qmp *f = calloc(1, sizeof(*f));
    int pl = snprintf(f->path, sizeof(f->path), "%s/%s", dir, file);
    assert_true(pl > 0 && (size_t)pl < sizeof(f->path));
    pthread_mutex_init(&f->lock, NULL);
    f->name = "vm1";
    f->uuid = "9a1c1b0e-3c52-4b1e-8d1b-0b2a7e9f0a11";
    f->stats = default_stats;
    f->n_cpus = 2;
    f->actual = 256LL << 20;
    f->base = 256LL << 20;
    f->lfd = listen_unix(f->path);
    f->stop_fd = eventfd(0, EFD_CLOEXEC);
    assert_int_equal(pthread_create(&f->th, NULL, fq_main, f), 0);
    return f;
}

static void fq_stop(fake_qmp *f)
{
    uint64_t one = 1;
    assert_int_equal(write(f->stop_fd, &one, sizeof(one)), sizeof(one));
    pthread_join(f->th, NULL);
    close(f->lfd);
    close(f->stop_fd);
    unlink(f->path);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static bool fq_saw(fake_qmp *f, const char *cmd)
{
    char want[80];
    snprintf(want, sizeof(want), "%s ", cmd);
    pthread_mutex_lock(&f->lock);
    bool r = strstr(f->commands, want) != NULL;
    pthread_mutex_unlock(&f->lock);
    return r;
}

/* ---- fixture: a directory with a backend -------------------------------- */

typedef struct fx {
    char dir[256];
    char proc[300], sys[300];
    logcap cap;
    mlog log;
    hv h;
} fx;

static fx *fx_new(double deadline)
{
    fx *x = calloc(1, sizeof(*x));
    snprintf(x->dir, sizeof(x->dir), "/tmp/test_qmp.XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->proc, sizeof(x->proc), "%s/proc", x->dir);
    snprintf(x->sys, sizeof(x->sys), "%s/sys", x->dir);
    char sockdir[300];
    snprintf(sockdir, sizeof(sockdir), "%s/sockets", x->dir);
    assert_int_equal(mkdir(sockdir, 0700), 0);
    pthread_mutex_init(&x->cap.lock, NULL);
    mlog_init(&x->log, capture_log, &x->cap, MOM_LOG_DEBUG);
    assert_int_equal(qmp_create_dir(sockdir, x->proc, x->sys, deadline, &x->log, &x->h), 0);
    return x;
}

static void fx_free(fx *x)
{
    hv_destroy(&x->h);
    rm_rf(x->dir);
    pthread_mutex_destroy(&x->cap.lock);
    free(x);
}

static const char *fx_sockdir(fx *x)
{
    static char d[300];
    snprintf(d, sizeof(d), "%s/sockets", x->dir);
    return d;
}

static char *fx_id(fx *x, const char *file)
{
    static char id[400];
    snprintf(id, sizeof(id), "%s/sockets/%s", x->dir, file);
    return id;
}

/* get_vm_list into a sorted, newline-joined string. */
static void fx_list(fx *x, char *out, size_t n, int *ret_rc)
{
    mom_hv_list l;
    hv_list_init(&l);
    *ret_rc = x->h.ops->get_vm_list(&l, x->h.userdata);
    out[0] = '\0';
    for (size_t i = 0; i < l.n; i++) {
        const char *base = strrchr(l.ids[i], '/');
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%s", len ? "," : "", base ? base + 1 : l.ids[i]);
    }
    hv_list_done(&l);
}

/* ---- pure parts ---------------------------------------------------------- */

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha1_vectors(void **state)
{
    (void)state;
    uint8_t d[20];
    char h[41];
    qmp_sha1("abc", 3, d);
    hex(d, 20, h);
    assert_string_equal(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
    qmp_sha1("", 0, d);
    hex(d, 20, h);
    assert_string_equal(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes */
    qmp_sha1(two, strlen(two), d);
    hex(d, 20, h);
    assert_string_equal(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    char *million = malloc(1000000);
    memset(million, 'a', 1000000);
    qmp_sha1(million, 1000000, d);
    free(million);
    hex(d, 20, h);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void test_uuid5(void **state)
{
    (void)state;
    char u[37];
    /* RFC 4122's DNS namespace; the well-known value of uuid5(DNS, "python.org"). */
    assert_int_equal(qmp_uuid5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org", u), 0);
    assert_string_equal(u, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    assert_int_equal(qmp_uuid5(QMP_UUID_NAMESPACE, "vm1", u), 0);
    assert_int_equal(u[14], '5');
    assert_true(strchr("89ab", u[19]) != NULL);
    char u2[37];
    assert_int_equal(qmp_uuid5(QMP_UUID_NAMESPACE, "vm2", u2), 0);
    assert_string_not_equal(u, u2);
    assert_int_equal(qmp_uuid5("not-a-uuid", "x", u), -EINVAL);
}

static void test_stats_conversion(void **state)
{
    (void)state;
    mom_hv_memory_stats st = {.size = sizeof(st)};
    json_t *j = qmpc_parse(default_stats, strlen(default_stats));
    assert_int_equal(qmp_stats_from_json(j, &st), 0);
    json_decref(j);
    assert_int_equal(st.mem_available, 256000);
    assert_int_equal(st.mem_unused, 102400);
    assert_int_equal(st.mem_free, 102400 + 51200);
    assert_int_equal(st.mem_usable, 204800);
    assert_int_equal(st.major_fault, 67);
    assert_int_equal(st.minor_fault, 12345);
    assert_int_equal(st.swap_in, 4);
    assert_int_equal(st.swap_out, 8);
    assert_int_equal(st.size, sizeof(st));

    /* -1 and 2^64-1 mean "not reported": those fields are left out. */
    const char *partial = "{\"last-update\": 5, \"stats\": {\"stat-total-memory\": "
                          "18446744073709551615, \"stat-free-memory\": 2048, "
                          "\"stat-major-faults\": -1, \"stat-minor-faults\": 3, "
                          "\"stat-disk-caches\": -1}}";
    j = qmpc_parse(partial, strlen(partial));
    assert_non_null(j);
    assert_int_equal(qmp_stats_from_json(j, &st), 0);
    json_decref(j);
    assert_int_equal(st.present, MOM_HV_MEM_UNUSED | MOM_HV_MINOR_FAULT);
    assert_int_equal(st.mem_unused, 2);

    const char *never = "{\"last-update\": 0, \"stats\": {\"stat-free-memory\": 2048}}";
    j = qmpc_parse(never, strlen(never));
    assert_int_equal(qmp_stats_from_json(j, &st), -ENODATA);
    json_decref(j);
    const char *none = "{\"last-update\": 9, \"stats\": {\"stat-free-memory\": -1}}";
    j = qmpc_parse(none, strlen(none));
    assert_int_equal(qmp_stats_from_json(j, &st), -ENODATA);
    json_decref(j);
    j = json_string("x");
    assert_int_equal(qmp_stats_from_json(j, &st), -EPROTO);
    json_decref(j);
}

static void test_json_int(void **state)
{
    (void)state;
    int64_t v = 7;
    const char *text = "[18446744073709551615, 1.5, 42, \"x\"]";
    json_t *j = qmpc_parse(text, strlen(text));
    assert_non_null(j);
    assert_int_equal(qmpc_json_int(json_array_get(j, 0), &v), -ERANGE);
    assert_int_equal(qmpc_json_int(json_array_get(j, 1), &v), -ERANGE);
    assert_int_equal(qmpc_json_int(json_array_get(j, 2), &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(qmpc_json_int(json_array_get(j, 3), &v), -EINVAL);
    json_decref(j);
}

static void test_policy_parse(void **state)
{
    (void)state;
    qmp_policy p;
    char err[200];
    const char *good = "{\"balloon_min\": 131072, \"vcpu_user_limit\": \"50\", \"io_tune\": "
                       "[{\"name\": \"drive0\", \"maximum\": {\"total_bytes_sec\": 5}}], "
                       "\"future_key\": true}";
    assert_int_equal(qmp_policy_parse(good, strlen(good), &p, err, sizeof(err)), 0);
    assert_int_equal(p.balloon_min, 131072);
    assert_int_equal(p.vcpu_user_limit, 50);
    assert_int_equal(json_array_size(p.io_tune), 1);
    qmp_policy_done(&p);

    assert_int_equal(qmp_policy_parse("{}", 2, &p, err, sizeof(err)), 0);
    assert_int_equal(p.balloon_min, 0);
    assert_int_equal(p.vcpu_user_limit, 100);
    assert_null(p.io_tune);

    const char *bad[] = {"{\"balloon_min\": -5}", "{\"vcpu_user_limit\": 101}", "[1]",
                         "{\"io_tune\": {}}", "{\"io_tune\": [{\"x\": 1}]}", "{\"balloon_min\": "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(qmp_policy_parse(bad[i], strlen(bad[i]), &p, err, sizeof(err)),
                         -EINVAL);
        assert_true(err[0] != '\0');
        assert_int_equal(p.balloon_min, 0);
        assert_int_equal(p.vcpu_user_limit, 100);
        assert_null(p.io_tune);
    }
}

/* ---- the client ---------------------------------------------------------- */

typedef struct evrec {
    int n;
    int balloon;
    int64_t actual;
} evrec;

static void rec_event(const char *event, json_t *data, void *userdata)
{
    evrec *r = userdata;
    r->n++;
    if (strcmp(event, "BALLOON_CHANGE") == 0) {
        r->balloon++;
        r->actual = json_integer_value(json_object_get(data, "actual"));
    }
}

static void test_client_handshake_and_events(void **state)
{
    (void)state;
    fx *x = fx_new(2.0);
    fake_qmp *f = fq_start(fx_sockdir(x), "c.sock");
    f->events = true;
    f->split = true;
    evrec ev = {0};
    qmpc *c = NULL;
    assert_int_equal(qmpc_connect(f->path, mono() + 2, rec_event, &ev, &c), 0);
    assert_int_equal(qmpc_version(c), 70202);
    assert_int_equal(qmpc_peer_pid(c), getpid());
    json_t *ret = NULL;
    assert_int_equal(qmpc_call(c, "query-balloon", NULL, mono() + 2, &ret), 0);
    assert_int_equal(json_integer_value(json_object_get(ret, "actual")), 256LL << 20);
    json_decref(ret);
    /* The two events sent before the reply were dispatched, in order. */
    assert_int_equal(ev.n, 2);
    assert_int_equal(ev.balloon, 1);
    assert_int_equal(ev.actual, (256LL << 20) - 1048576);
    /* An error reply: its class is kept, the connection stays usable. */
    assert_int_equal(qmpc_call(c, "no-such-command", NULL, mono() + 2, &ret), QMPC_E_REPLY);
    assert_null(ret);
    assert_string_equal(qmpc_error_class(c), "CommandNotFound");
    assert_false(qmpc_broken(c));
    json_t *args = json_pack("{s:I}", "value", (json_int_t)(200LL << 20));
    assert_int_equal(qmpc_call(c, "balloon", args, mono() + 2, NULL), 0);
    json_decref(args);
    assert_int_equal(f->balloon_value, 200LL << 20);
    /* Capabilities were negotiated before anything else. */
    assert_true(strncmp(f->commands, "qmp_capabilities ", 17) == 0);
    qmpc_free(c);
    fq_stop(f);
    fx_free(x);
}

static void test_client_not_qmp(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_qmpc.XXXXXX";
    assert_non_null(mkdtemp(dir));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fq_send(sv[1], "{\"hello\": 1}\r\n");
    qmpc *c = NULL;
    assert_int_equal(qmpc_open_fd(sv[0], mono() + 1, NULL, NULL, &c), -EPROTO);
    assert_null(c);
    close(sv[1]);
    /* A peer that closes before the greeting. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fq_send(sv[1], "{\"QMP\": {\"vers");
    close(sv[1]);
    assert_int_equal(qmpc_open_fd(sv[0], mono() + 1, NULL, NULL, &c), -ECONNRESET);
    /* Nobody listening. */
    char path[300];
    snprintf(path, sizeof(path), "%s/none.sock", dir);
    assert_int_equal(qmpc_connect(path, mono() + 1, NULL, NULL, &c), -ENOENT);
    rm_rf(dir);
}

static void test_client_silent_peer(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    qmpc *c = NULL;
    double t0 = mono();
    assert_int_equal(qmpc_open_fd(sv[0], t0 + 0.3, NULL, NULL, &c), -ETIMEDOUT);
    double took = mono() - t0;
    assert_true(took >= 0.25 && took < 2.0);
    close(sv[1]);
}

/* ---- the backend ----------------------------------------------------------- */

static void test_list_and_info(void **state)
{
    (void)state;
    fx *x = fx_new(2.0);
    fake_qmp *a = fq_start(fx_sockdir(x), "alpha.sock");
    fake_qmp *b = fq_start(fx_sockdir(x), "beta");
    b->name = "";
    b->uuid = "00000000-0000-0000-0000-000000000000";
    /* A socket nobody listens on any more (QEMU killed) and a plain file. */
    char stale[400];
    snprintf(stale, sizeof(stale), "%s/stale.sock", fx_sockdir(x));
    close(listen_unix(stale));
    char plain[400];
    snprintf(plain, sizeof(plain), "%s/alpha.json", fx_sockdir(x));
    write_file(plain, "{}");

    char names[512];
    int rc;
    fx_list(x, names, sizeof(names), &rc);
    assert_int_equal(rc, 0);
    /* Directory order is arbitrary. */
    assert_true(strcmp(names, "alpha.sock,beta") == 0 || strcmp(names, "beta,alpha.sock") == 0);

    mom_hv_guest_info info = {.size = sizeof(info)};
    assert_int_equal(x->h.ops->get_vm_info(fx_id(x, "alpha.sock"), &info, x->h.userdata), 0);
    assert_string_equal(info.name, "vm1");
    assert_string_equal(info.uuid, "9a1c1b0e-3c52-4b1e-8d1b-0b2a7e9f0a11");
    assert_int_equal(info.pid, getpid());

    /* No -name and the all-zero UUID: the socket's name, a version-5 UUID. */
    memset(&info, 0, sizeof(info));
    assert_int_equal(x->h.ops->get_vm_info(fx_id(x, "beta"), &info, x->h.userdata), 0);
    assert_string_equal(info.name, "beta");
    char want[37];
    assert_int_equal(qmp_uuid5(QMP_UUID_NAMESPACE, "beta", want), 0);
    assert_string_equal(info.uuid, want);

    assert_int_equal(x->h.ops->get_vm_info(fx_id(x, "nope.sock"), &info, x->h.userdata),
                     -ENOENT);

    /* A guest whose QEMU went away is no longer listed. */
    fq_stop(b);
    fx_list(x, names, sizeof(names), &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(names, "alpha.sock");
    /* The connection was kept across calls: one connection for alpha so far. */
    assert_int_equal(a->conns, 1);
    fq_stop(a);
    fx_free(x);
}

static void test_missing_dir(void **state)
{
    (void)state;
    logcap cap = {.lock = PTHREAD_MUTEX_INITIALIZER};
    mlog log;
    mlog_init(&log, capture_log, &cap, MOM_LOG_DEBUG);
    hv h;
    assert_int_equal(qmp_create_dir("/nonexistent/qmp-dir", NULL, NULL, 1, &log, &h), 0);
    mom_hv_list l;
    hv_list_init(&l);
    assert_int_equal(h.ops->get_vm_list(&l, h.userdata), -EIO);
    assert_int_equal(l.n, 0);
    assert_non_null(strstr(cap.text, "/nonexistent/qmp-dir"));
    hv_list_done(&l);
    hv_destroy(&h);
    assert_int_equal(qmp_create_dir("", NULL, NULL, 1, &log, &h), -EINVAL);
}

static void test_memory_stats_and_balloon(void **state)
{
    (void)state;
    fx *x = fx_new(2.0);
    fake_qmp *f = fq_start(fx_sockdir(x), "vm.sock");
    f->events = true;
    char names[256];
    int rc;
    fx_list(x, names, sizeof(names), &rc);
    const char *id = fx_id(x, "vm.sock");
    void *u = x->h.userdata;

    assert_int_equal(x->h.ops->start_vm_memory_stats(id, 5, u), 0);
    assert_int_equal(f->polling, 5);
    mom_hv_memory_stats st = {.size = sizeof(st)};
    assert_int_equal(x->h.ops->get_vm_memory_stats(id, &st, u), 0);
    assert_int_equal(st.mem_available, 256000);
    assert_int_equal(st.present & MOM_HV_MEM_AVAILABLE, MOM_HV_MEM_AVAILABLE);

    /* The guest has not reported its total: the field stays missing. */
    pthread_mutex_lock(&f->lock);
    f->stats = "{\"last-update\": 7, \"stats\": {\"stat-total-memory\": 18446744073709551615, "
               "\"stat-free-memory\": 1048576, \"stat-swap-in\": -1}}";
    pthread_mutex_unlock(&f->lock);
    memset(&st, 0, sizeof(st));
    assert_int_equal(x->h.ops->get_vm_memory_stats(id, &st, u), 0);
    assert_int_equal(st.present, MOM_HV_MEM_UNUSED);
    assert_int_equal(st.mem_unused, 1024);

    pthread_mutex_lock(&f->lock);
    f->stats = "{\"last-update\": 0, \"stats\": {\"stat-total-memory\": -1}}";
    pthread_mutex_unlock(&f->lock);
    assert_int_equal(x->h.ops->get_vm_memory_stats(id, &st, u), -ENODATA);

    mom_hv_balloon_info bi = {.size = sizeof(bi)};
    assert_int_equal(x->h.ops->get_vm_balloon_info(id, &bi, u), 0);
    assert_int_equal(bi.balloon_cur, 262144);
    assert_int_equal(bi.balloon_max, 262144);
    assert_int_equal(bi.balloon_min, 0);

    /* NAME.json gives the minimum; a change of the file is seen. */
    char pol[400];
    snprintf(pol, sizeof(pol), "%s/vm.json", fx_sockdir(x));
    write_file(pol, "{\"balloon_min\": 65536}");
    assert_int_equal(x->h.ops->get_vm_balloon_info(id, &bi, u), 0);
    assert_int_equal(bi.balloon_min, 65536);
    write_file(pol, "{\"balloon_min\": 98304, \"vcpu_user_limit\": 40}");
    struct timespec later[2] = {{.tv_sec = time(NULL) + 5}, {.tv_sec = time(NULL) + 5}};
    utimensat(AT_FDCWD, pol, later, 0);
    assert_int_equal(x->h.ops->get_vm_balloon_info(id, &bi, u), 0);
    assert_int_equal(bi.balloon_min, 98304);
    write_file(pol, "{\"balloon_min\": oops");
    later[0].tv_sec = later[1].tv_sec = time(NULL) + 10;
    utimensat(AT_FDCWD, pol, later, 0);
    assert_int_equal(x->h.ops->get_vm_balloon_info(id, &bi, u), 0);
    assert_int_equal(bi.balloon_min, 0);
    assert_non_null(strstr(x->cap.text, "vm.json"));

    /* The target is the logical size in bytes. */
    assert_int_equal(x->h.ops->set_vm_balloon_target(id, 200000, u), 0);
    assert_int_equal(f->balloon_value, 200000LL * 1024);
    assert_int_equal(x->h.ops->get_vm_balloon_info(id, &bi, u), 0);
    assert_int_equal(bi.balloon_cur, 200000);
    assert_int_equal(x->h.ops->set_vm_balloon_target(id, -1, u), -EINVAL);
    assert_int_equal(f->conns, 1);
    fq_stop(f);
    fx_free(x);
}

static void test_anonymous_and_missing_balloon(void **state)
{
    (void)state;
    fx *x = fx_new(2.0);
    fake_qmp *f = fq_start(fx_sockdir(x), "anon.sock");
    f->anon_balloon = true;
    fake_qmp *g = fq_start(fx_sockdir(x), "none.sock");
    g->no_balloon = true;
    char names[256];
    int rc;
    fx_list(x, names, sizeof(names), &rc);
    assert_int_equal(x->h.ops->start_vm_memory_stats(fx_id(x, "anon.sock"), 3, x->h.userdata),
                     0);
    assert_int_equal(f->polling, 3);
    mom_hv_memory_stats st = {.size = sizeof(st)};
    assert_int_equal(x->h.ops->get_vm_memory_stats(fx_id(x, "none.sock"), &st, x->h.userdata),
                     -ENOTSUP);
    assert_non_null(strstr(x->cap.text, "no virtio balloon"));
    fq_stop(f);
    fq_stop(g);
    fx_free(x);
}

static void test_peer_closes_mid_reply(void **state)
{
    (void)state;
    fx *x = fx_new(2.0);
    fake_qmp *f = fq_start(fx_sockdir(x), "vm.sock");
    f->close_on = "query-balloon";
    char names[256];
    int rc;
    fx_list(x, names, sizeof(names), &rc);
    const char *id = fx_id(x, "vm.sock");
    mom_hv_balloon_info bi = {.size = sizeof(bi)};
    assert_int_equal(x->h.ops->get_vm_balloon_info(id, &bi, x->h.userdata), -EIO);
    assert_non_null(strstr(x->cap.text, "connection lost"));
    /* The next call reconnects. */
    pthread_mutex_lock(&f->lock);
    f->close_on = NULL;
    pthread_mutex_unlock(&f->lock);
    assert_int_equal(x->h.ops->get_vm_balloon_info(id, &bi, x->h.userdata), 0);
    assert_int_equal(bi.balloon_cur, 262144);
    assert_int_equal(f->conns, 2);

    /* Garbage instead of a reply also drops the connection. */
    pthread_mutex_lock(&f->lock);
    f->garbage_on = "query-cpus-fast";
    pthread_mutex_unlock(&f->lock);
    mom_hv_cpu_tune_info ci = {.size = sizeof(ci)};
    assert_int_equal(x->h.ops->get_vm_cpu_tune_info(id, &ci, x->h.userdata), -EIO);
    pthread_mutex_lock(&f->lock);
    f->garbage_on = NULL;
    pthread_mutex_unlock(&f->lock);
    assert_int_equal(x->h.ops->get_vm_cpu_tune_info(id, &ci, x->h.userdata), 0);
    assert_int_equal(ci.vcpu_count, 2);
    assert_int_equal(f->conns, 3);
    fq_stop(f);
    fx_free(x);
}

typedef struct call_arg {
    fx *x;
    const char *id;
    int rc;
    double took;
} call_arg;

static void *balloon_call(void *arg)
{
    call_arg *c = arg;
    mom_hv_balloon_info bi = {.size = sizeof(bi)};
    double t0 = mono();
    c->rc = c->x->h.ops->get_vm_balloon_info(c->id, &bi, c->x->h.userdata);
    c->took = mono() - t0;
    return NULL;
}

static void test_never_answers(void **state)
{
    (void)state;
    fx *x = fx_new(0.5);
    fake_qmp *slow = fq_start(fx_sockdir(x), "slow.sock");
    slow->hang_on = "query-balloon";
    fake_qmp *mute = fq_start(fx_sockdir(x), "mute.sock");
    mute->no_greeting = true;
    fake_qmp *fine = fq_start(fx_sockdir(x), "fine.sock");
    char names[256];
    int rc;
    fx_list(x, names, sizeof(names), &rc);
    assert_int_equal(rc, 0);
    char ids[3][400];
    snprintf(ids[0], 400, "%s", fx_id(x, "slow.sock"));
    snprintf(ids[1], 400, "%s", fx_id(x, "mute.sock"));
    snprintf(ids[2], 400, "%s", fx_id(x, "fine.sock"));
    /* The two stuck guests and the good one at once, as the pool runs them. */
    call_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (call_arg){.x = x, .id = ids[i]};
        pthread_create(&th[i], NULL, balloon_call, &args[i]);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(args[0].rc, -ETIMEDOUT);
    assert_int_equal(args[1].rc, -ETIMEDOUT);
    assert_true(args[0].took >= 0.45 && args[0].took < 1.5);
    assert_true(args[1].took >= 0.45 && args[1].took < 1.5);
    assert_int_equal(args[2].rc, 0);
    assert_true(args[2].took < 0.45);
    /* Right after a timeout the guest fails fast instead of waiting again. */
    balloon_call(&args[1]);
    assert_int_equal(args[1].rc, -EIO);
    assert_true(args[1].took < 0.2);
    /* Still listed: the socket accepts connections. */
    fx_list(x, names, sizeof(names), &rc);
    assert_non_null(strstr(names, "mute.sock"));
    fq_stop(slow);
    fq_stop(mute);
    fq_stop(fine);
    fx_free(x);
}

static void test_cpu_tune(void **state)
{
    (void)state;
    fx *x = fx_new(2.0);
    fake_qmp *f = fq_start(fx_sockdir(x), "vm.sock");
    char names[256];
    int rc;
    fx_list(x, names, sizeof(names), &rc);
    const char *id = fx_id(x, "vm.sock");
    void *u = x->h.userdata;
    mom_hv_cpu_tune_info ci = {.size = sizeof(ci)};

    /* No cgroup information: no limit, the default period. */
    assert_int_equal(x->h.ops->get_vm_cpu_tune_info(id, &ci, u), 0);
    assert_int_equal(ci.vcpu_count, 2);
    assert_int_equal(ci.vcpu_quota, -1);
    assert_int_equal(ci.vcpu_period, 100000);
    assert_int_equal(ci.vcpu_user_limit, 100);
    assert_int_equal(x->h.ops->set_vm_cpu_tune(id, 50000, 100000, u), -ENOTSUP);

    /* The fake QEMU is this process: give it a cgroup under the roots. */
    char p[1400], cg[700];
    snprintf(p, sizeof(p), "mkdir -p %s/%d %s/fs/cgroup/machine/vm1", x->proc, (int)getpid(),
             x->sys);
    assert_int_equal(system(p), 0);
    snprintf(p, sizeof(p), "%s/%d/cgroup", x->proc, (int)getpid());
    write_file(p, "0::/machine/vm1\n");
    snprintf(cg, sizeof(cg), "%s/fs/cgroup/machine/vm1", x->sys);
    snprintf(p, sizeof(p), "%s/cpu.max", cg);
    write_file(p, "150000 100000\n");
    snprintf(p, sizeof(p), "%s/cgroup.procs", cg);
    char procs[64];
    snprintf(procs, sizeof(procs), "%d\n", (int)getpid());
    write_file(p, procs);
    char pol[400];
    snprintf(pol, sizeof(pol), "%s/vm.json", fx_sockdir(x));
    write_file(pol, "{\"vcpu_user_limit\": 60}");

    assert_int_equal(x->h.ops->get_vm_cpu_tune_info(id, &ci, u), 0);
    assert_int_equal(ci.vcpu_quota, 75000); /* per vCPU */
    assert_int_equal(ci.vcpu_period, 100000);
    assert_int_equal(ci.vcpu_user_limit, 60);

    assert_int_equal(x->h.ops->set_vm_cpu_tune(id, 30000, 50000, u), 0);
    snprintf(p, sizeof(p), "%s/cpu.max", cg);
    assert_string_equal(read_file(p), "60000 50000\n");
    assert_int_equal(x->h.ops->set_vm_cpu_tune(id, -1, 100000, u), 0);
    assert_string_equal(read_file(p), "max 100000\n");
    write_file(p, "max 100000\n");
    assert_int_equal(x->h.ops->get_vm_cpu_tune_info(id, &ci, u), 0);
    assert_int_equal(ci.vcpu_quota, -1);

    /* Another process in the same cgroup: MOM refuses to throttle it. */
    snprintf(p, sizeof(p), "%s/cgroup.procs", cg);
    snprintf(procs, sizeof(procs), "%d\n1\n", (int)getpid());
    write_file(p, procs);
    assert_int_equal(x->h.ops->set_vm_cpu_tune(id, 30000, 100000, u), -ENOTSUP);
    assert_non_null(strstr(x->cap.text, "shares its cgroup"));
    fq_stop(f);
    fx_free(x);
}

static void test_io_tune(void **state)
{
    (void)state;
    fx *x = fx_new(2.0);
    fake_qmp *f = fq_start(fx_sockdir(x), "vm.sock");
    f->bps = 1000;
    char names[256];
    int rc;
    fx_list(x, names, sizeof(names), &rc);
    const char *id = fx_id(x, "vm.sock");
    void *u = x->h.userdata;

    mom_hv_disk_list dl = {.list = value_new_list()};
    assert_int_equal(x->h.ops->get_vm_io_tune(id, &dl, u), 0);
    /* Only the drive with a medium; the empty CD drive is skipped. */
    assert_int_equal(mom_value_len(dl.list), 1);
    const mom_value *d = mom_value_at(dl.list, 0);
    assert_string_equal(mom_value_string(value_map_get(d, "name")), "drive0");
    assert_string_equal(mom_value_string(value_map_get(d, "path")), "/images/a.qcow2");
    const mom_value *tune = value_map_get(d, "ioTune");
    assert_int_equal(mom_value_int(value_map_get(tune, "total_bytes_sec")), 1000);
    assert_int_equal(mom_value_int(value_map_get(tune, "total_iops_sec")), 300);
    mom_value_unref(dl.list);

    /* No NAME.json: no policy. */
    dl.list = value_new_list();
    assert_int_equal(x->h.ops->get_vm_io_tune_policy(id, &dl, u), 0);
    assert_int_equal(mom_value_len(dl.list), 0);
    mom_value_unref(dl.list);
    char pol[400];
    snprintf(pol, sizeof(pol), "%s/vm.json", fx_sockdir(x));
    write_file(pol, "{\"io_tune\": [{\"name\": \"drive0\", \"path\": \"/images/a.qcow2\", "
                    "\"guaranteed\": {\"total_bytes_sec\": 100}, \"maximum\": "
                    "{\"total_bytes_sec\": 5000, \"read_iops_sec\": 7}}]}");
    dl.list = value_new_list();
    assert_int_equal(x->h.ops->get_vm_io_tune_policy(id, &dl, u), 0);
    assert_int_equal(mom_value_len(dl.list), 1);
    d = mom_value_at(dl.list, 0);
    assert_int_equal(mom_value_int(value_map_get(value_map_get(d, "maximum"), "total_bytes_sec")),
                     5000);
    assert_int_equal(mom_value_int(value_map_get(value_map_get(d, "guaranteed"), "total_bytes_sec")),
                     100);
    mom_value_unref(dl.list);

    /* A change of one limit: the other five keep their current values. */
    mom_hv_disk_tune t = {.name = "drive0", .path = "/images/a.qcow2",
                          .io_tune = {.present = MOM_HV_TOTAL_BYTES_SEC, .total_bytes_sec = 4000}};
    assert_int_equal(x->h.ops->set_vm_io_tune(id, &t, 1, u), 0);
    assert_string_equal(f->throttle, "{\"bps\":4000,\"bps_rd\":0,\"bps_wr\":0,\"device\":\"drive0\","
                                     "\"iops\":300,\"iops_rd\":0,\"iops_wr\":0}");
    /* A disk that does not exist is skipped. */
    f->throttle[0] = '\0';
    t.path = "/images/other.qcow2";
    assert_int_equal(x->h.ops->set_vm_io_tune(id, &t, 1, u), 0);
    assert_string_equal(f->throttle, "");
    assert_true(fq_saw(f, "block_set_io_throttle"));
    fq_stop(f);
    fx_free(x);
}

static atomic_int wakes;

static void count_wake(void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&wakes, 1);
}

static void test_inotify_wake(void **state)
{
    (void)state;
    fx *x = fx_new(2.0);
    x->h.wake = count_wake;
    x->h.wake_ctx = x;
    atomic_store(&wakes, 0);
    char names[256];
    int rc;
    fx_list(x, names, sizeof(names), &rc);
    assert_string_equal(names, "");
    fake_qmp *f = fq_start(fx_sockdir(x), "new.sock");
    for (int i = 0; i < 50 && atomic_load(&wakes) == 0; i++)
        usleep(20000);
    assert_true(atomic_load(&wakes) >= 1);
    fx_list(x, names, sizeof(names), &rc);
    assert_string_equal(names, "new.sock");
    int before = atomic_load(&wakes);
    fq_stop(f);
    for (int i = 0; i < 50 && atomic_load(&wakes) == before; i++)
        usleep(20000);
    assert_true(atomic_load(&wakes) > before);
    fx_list(x, names, sizeof(names), &rc);
    assert_string_equal(names, "");
    fx_free(x);
}

/* A new QEMU behind the same socket path gets polling enabled again. */
static void test_restart_restores_polling(void **state)
{
    (void)state;
    fx *x = fx_new(0.5);
    fake_qmp *f = fq_start(fx_sockdir(x), "vm.sock");
    char names[256];
    int rc;
    fx_list(x, names, sizeof(names), &rc);
    const char *id = fx_id(x, "vm.sock");
    assert_int_equal(x->h.ops->start_vm_memory_stats(id, 4, x->h.userdata), 0);
    fq_stop(f);
    mom_hv_memory_stats st = {.size = sizeof(st)};
    assert_int_equal(x->h.ops->get_vm_memory_stats(id, &st, x->h.userdata), -ENOENT);
    f = fq_start(fx_sockdir(x), "vm.sock");
    /* The failed reconnect backs off for one deadline. */
    assert_int_equal(x->h.ops->get_vm_memory_stats(id, &st, x->h.userdata), -EIO);
    usleep(600000);
    assert_int_equal(x->h.ops->get_vm_memory_stats(id, &st, x->h.userdata), 0);
    assert_int_equal(f->polling, 4);
    fq_stop(f);
    fx_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_vectors),
        cmocka_unit_test(test_uuid5),
        cmocka_unit_test(test_stats_conversion),
        cmocka_unit_test(test_json_int),
        cmocka_unit_test(test_policy_parse),
        cmocka_unit_test(test_client_handshake_and_events),
        cmocka_unit_test(test_client_not_qmp),
        cmocka_unit_test(test_client_silent_peer),
        cmocka_unit_test(test_list_and_info),
        cmocka_unit_test(test_missing_dir),
        cmocka_unit_test(test_memory_stats_and_balloon),
        cmocka_unit_test(test_anonymous_and_missing_balloon),
        cmocka_unit_test(test_peer_closes_mid_reply),
        cmocka_unit_test(test_never_answers),
        cmocka_unit_test(test_cpu_tune),
        cmocka_unit_test(test_io_tune),
        cmocka_unit_test(test_inotify_wake),
        cmocka_unit_test(test_restart_restores_polling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
