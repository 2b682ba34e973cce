/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest-agent collectors, driven through the real plugin api:
 *  - GuestQemuAgent against a scripted qemu-guest-agent peer on a unix
 *    socket (guest-sync, guest-ping, guest-file-open/read/close, errors, a
 *    peer that closes mid-reply, one that never answers) and through the
 *    hypervisor's qemu_agent_command (the fake hypervisor);
 *  - GuestAgent against the host end of an oVirt agent channel: JSON lines
 *    written by the test, with malformed, partial and overlong lines, the
 *    api-version answer, rate integration and reconnects.
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
#include "core/api.h"
#include "core/config.h"
#include "core/hv.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/sample.h"
#include "fakehv.h"

/* ---- fixture ---------------------------------------------------------------- */

#define MAX_LINES 64

typedef struct fixture {
    char dir[64];
    fakehv *fh;
    hv h;
    bool use_hv;
    mlog log;
    conf *c;
    api_env env;
    mom_entity ent;
    bool ent_ready;
    const mom_collector *col;
    fieldtab *ft;
    mom_sample s;
    bool s_ready;
    void *state;
    bool state_ready;
    pthread_mutex_t lock;
    size_t n_lines;
    int levels[MAX_LINES];
    char lines[MAX_LINES][512];
} fixture;

static void capture(mom_log_level level, const char *logger, const char *msg, void *userdata)
{
    fixture *fx = userdata;
    (void)logger;
    pthread_mutex_lock(&fx->lock);
    if (fx->n_lines < MAX_LINES) {
        fx->levels[fx->n_lines] = (int)level;
        snprintf(fx->lines[fx->n_lines], sizeof(fx->lines[0]), "%s", msg);
        fx->n_lines++;
    }
    pthread_mutex_unlock(&fx->lock);
}

static size_t count_lines(fixture *fx, int level, const char *needle)
{
    size_t n = 0;
    pthread_mutex_lock(&fx->lock);
    for (size_t i = 0; i < fx->n_lines; i++)
        if (fx->levels[i] == level && (!needle || strstr(fx->lines[i], needle)))
            n++;
    pthread_mutex_unlock(&fx->lock);
    return n;
}

static void ignore_report(mom_log_level level, const char *msg, void *userdata)
{
    (void)level;
    (void)userdata;
    fail_msg("configuration problem: %s", msg);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_agents.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->fh = fakehv_new();
    assert_non_null(fakehv_add_guest(fx->fh, "id-1", "vm1", "5f7c4a8e-1111-4222-8333-944455556666",
                                     4242));
    pthread_mutex_init(&fx->lock, NULL);
    mlog_init(&fx->log, capture, fx, MOM_LOG_DEBUG);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    if (fx->state_ready && fx->col->fini)
        fx->col->fini(fx->state);
    if (fx->s_ready)
        msample_done(&fx->s);
    fieldtab_free(fx->ft);
    if (fx->ent_ready)
        entity_done(&fx->ent);
    conf_free(fx->c);
    fakehv_free(fx->fh);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    pthread_mutex_destroy(&fx->lock);
    free(fx);
    return 0;
}

/* Build the api (with the agent operation only when use_hv), a guest
 * entity "vm1", the collector's fields and one instance.  conf_extra goes
 * into the collector's section. */
static void start(fixture *fx, const mom_collector *col, const char *conf_extra)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "[main]\nguest-monitor-interval: 1\n[guest]\ncollectors: %s\n"
             "[Collector: %s]\nsocket_path: %s\n%s",
             col->name, col->name, fx->dir, conf_extra ? conf_extra : "");
    assert_int_equal(conf_load_text("test.conf", text, strlen(text), NULL, 0, ignore_report, NULL,
                                    &fx->c),
                     0);
    if (!fx->use_hv)
        assert_int_equal(fakehv_set_op_supported(fx->fh, "qemu_agent_command", false), 0);
    hv_init_embedded(&fx->h, fakehv_table(fx->fh), fx->fh);
    api_env_init(&fx->env, fx->c, &fx->log, &fx->h);
    assert_int_equal(entity_init(&fx->ent, &fx->env, MOM_ENTITY_GUEST, "id-1", "vm1",
                                 "5f7c4a8e-1111-4222-8333-944455556666", 4242),
                     0);
    fx->ent_ready = true;
    fx->col = col;
    fx->ft = fieldtab_new();
    for (const char *const *p = col->mandatory; p && *p; p++)
        assert_true(fieldtab_add(fx->ft, *p, true) >= 0);
    for (const char *const *p = col->optional; p && *p; p++)
        assert_true(fieldtab_add(fx->ft, *p, false) >= 0);
    assert_int_equal(fieldtab_finish(fx->ft), 0);
    assert_int_equal(msample_init(&fx->s, fx->ft), 0);
    fx->s_ready = true;
    assert_int_equal(col->init(&fx->env.api, &fx->ent, &fx->state), 0);
    fx->state_ready = true;
}

static int collect(fixture *fx)
{
    msample_reset(&fx->s);
    return fx->col->collect(fx->state, &fx->ent, &fx->s);
}

static const fval *slot(fixture *fx, const char *field)
{
    int id = fieldtab_find(fx->ft, field);
    assert_true(id >= 0);
    return &fx->s.vals[id];
}

static int64_t int_of(fixture *fx, const char *field)
{
    const fval *f = slot(fx, field);
    assert_int_equal(f->kind, FV_INT);
    return f->u.i;
}

static bool is_missing(fixture *fx, const char *field)
{
    return slot(fx, field)->kind == FV_MISSING;
}

static int listen_at(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static void send_text(int fd, const char *text)
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

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a scripted qemu-guest-agent ------------------------------------------ */

static const char *meminfo_text = "MemTotal:        2048000 kB\n"
                                  "MemFree:          512000 kB\n"
                                  "MemAvailable:    1024000 kB\n"
                                  "Buffers:           10000 kB\n"
                                  "Cached:           300000 kB\n"
                                  "SwapCached:            0 kB\n"
                                  "SwapTotal:        999000 kB\n"
                                  "SwapFree:         899000 kB\n";

/* A /proc/vmstat longer than one read chunk, with the counters MOM wants
 * near the end (as on modern kernels, beyond the first KiB). */
static char vmstat_text[12000];

static void make_vmstat(void)
{
    size_t n = 0;
    for (int i = 0; n < 9000; i++)
        n += (size_t)snprintf(vmstat_text + n, sizeof(vmstat_text) - n, "nr_filler_%d %d\n", i,
                              i * 7);
    snprintf(vmstat_text + n, sizeof(vmstat_text) - n,
             "pgpgin 100\npswpin 25\npswpout 50\npgfault 123456\npgmajfault 789\n");
}

typedef struct fake_ga {
    int lfd, stop_fd;
    pthread_t th;
    pthread_mutex_t lock;
    /* behaviour */
    bool silent;              /* never answer */
    const char *fail_path;    /* guest-file-open of it fails */
    const char *close_on;     /* cut the reply to this command and close */
    bool stale_line;          /* send junk before the guest-sync reply */
    /* record */
    int conns, reads, opens, closes;
    int64_t open_handles;
} fake_ga;

typedef struct ga_file {
    const char *text;
    size_t off;
} ga_file;

static char *b64(const char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(n * 4 / 3 + 8);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)p[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)p[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* The reply text (without newline) to one request; NULL for none.  Shared
 * by the socket peer and the hypervisor transport. */
static char *ga_answer(fake_ga *g, ga_file *files, const char *line)
{
    json_t *req = json_loads(line, 0, NULL);
    const char *cmd = json_string_value(json_object_get(req, "execute"));
    json_t *args = json_object_get(req, "arguments");
    json_t *ans = NULL;
    if (!cmd) {
        ans = json_pack("{s:{s:s, s:s}}", "error", "class", "GenericError", "desc", "bad request");
    } else if (strcmp(cmd, "guest-sync") == 0) {
        ans = json_pack("{s:O}", "return", json_object_get(args, "id"));
    } else if (strcmp(cmd, "guest-ping") == 0) {
        ans = json_pack("{s:{}}", "return");
    } else if (strcmp(cmd, "guest-file-open") == 0) {
        const char *path = json_string_value(json_object_get(args, "path"));
        g->opens++;
        if (g->fail_path && path && strcmp(path, g->fail_path) == 0) {
            ans = json_pack("{s:{s:s, s:s, s:{s:i}}}", "error", "class", "GenericError", "desc",
                            "failed to open file", "data", "errno", 2);
        } else {
            int h = path && strcmp(path, "/proc/meminfo") == 0 ? 1000 : 1001;
            files[h - 1000].text = h == 1000 ? meminfo_text : vmstat_text;
            files[h - 1000].off = 0;
            g->open_handles++;
            ans = json_pack("{s:i}", "return", h);
        }
    } else if (strcmp(cmd, "guest-file-read") == 0) {
        int h = (int)json_integer_value(json_object_get(args, "handle"));
        int count = (int)json_integer_value(json_object_get(args, "count"));
        ga_file *f = &files[h - 1000];
        size_t left = strlen(f->text) - f->off;
        size_t n = left < (size_t)count ? left : (size_t)count;
        char *enc = b64(f->text + f->off, n);
        f->off += n;
        g->reads++;
        ans = json_pack("{s:{s:i, s:s, s:b}}", "return", "count", (int)n, "buf-b64", enc, "eof",
                        f->off == strlen(f->text));
        free(enc);
    } else if (strcmp(cmd, "guest-file-close") == 0) {
        g->closes++;
        g->open_handles--;
        ans = json_pack("{s:{}}", "return");
    } else {
        ans = json_pack("{s:{s:s, s:s}}", "error", "class", "CommandNotFound", "desc", "unknown");
    }
    char *t = json_dumps(ans, JSON_COMPACT);
    json_decref(ans);
    json_decref(req);
    return t;
}

static void ga_serve(fake_ga *g, int fd)
{
    ga_file files[2] = {{0}};
    char buf[8192];
    size_t len = 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = g->stop_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 || p[1].revents)
            return;
        ssize_t n = recv(fd, buf + len, sizeof(buf) - len - 1, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
        char *nl;
        while ((nl = memchr(buf, '\n', len))) {
            *nl = '\0';
            pthread_mutex_lock(&g->lock);
            bool silent = g->silent;
            bool cut = g->close_on && strstr(buf, g->close_on);
            bool stale = g->stale_line && strstr(buf, "guest-sync");
            char *ans = silent ? NULL : ga_answer(g, files, buf);
            pthread_mutex_unlock(&g->lock);
            size_t ll = (size_t)(nl - buf);
            memmove(buf, nl + 1, len - ll - 1);
            len -= ll + 1;
            if (!ans)
                continue;
            if (stale)
                send_text(fd, "{\"return\": {}}\n{\"return\": 12}\n");
            if (cut) {
                ans[strlen(ans) / 2] = '\0';
                send_text(fd, ans);
                free(ans);
                return;
            }
            send_text(fd, ans);
            send_text(fd, "\n");
            free(ans);
        }
    }
}

static void *ga_main(void *arg)
{
    fake_ga *g = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = g->lfd, .events = POLLIN}, {.fd = g->stop_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 || p[1].revents)
            break;
        int fd = accept4(g->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&g->lock);
        g->conns++;
        pthread_mutex_unlock(&g->lock);
        ga_serve(g, fd);
        close(fd);
    }
    return NULL;
}

static fake_ga *ga_start(const char *path)
{
    fake_ga *g = calloc(1, sizeof(*g));
    pthread_mutex_init(&g->lock, NULL);
    g->lfd = listen_at(path);
    g->stop_fd = eventfd(0, EFD_CLOEXEC);
    assert_int_equal(pthread_create(&g->th, NULL, ga_main, g), 0);
    return g;
}

static void ga_stop(fake_ga *g)
{
    uint64_t one = 1;
    assert_int_equal(write(g->stop_fd, &one, sizeof(one)), sizeof(one));
    pthread_join(g->th, NULL);
    close(g->lfd);
    close(g->stop_fd);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

static void check_qga_values(fixture *fx)
{
    assert_int_equal(int_of(fx, "mem_available"), 2048000);
    assert_int_equal(int_of(fx, "mem_unused"), 512000);
    assert_int_equal(int_of(fx, "mem_free"), 512000 + 10000 + 300000);
    assert_int_equal(int_of(fx, "swap_total"), 999000);
    assert_int_equal(int_of(fx, "swap_usage"), 100000);
    assert_int_equal(int_of(fx, "major_fault"), 789);
    assert_int_equal(int_of(fx, "minor_fault"), 123456);
    /* pages to KiB, cumulative */
    assert_int_equal(int_of(fx, "swap_in"), 100);
    assert_int_equal(int_of(fx, "swap_out"), 200);
}

/* ---- GuestQemuAgent -------------------------------------------------------- */

static void test_qga_socket_whole_files(void **state)
{
    fixture *fx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/vm1.agent", fx->dir);
    fake_ga *g = ga_start(path);
    g->stale_line = true;
    start(fx, &mom_collector_GuestQemuAgent, NULL);
    for (const char *const *p = mom_collector_GuestQemuAgent.mandatory; *p; p++)
        assert_true(fx->ft->mandatory[fieldtab_find(fx->ft, *p)]);
    assert_int_equal(collect(fx), 0);
    check_qga_values(fx);
    /* vmstat needed several reads: the whole file was read. */
    assert_true(g->reads >= 4);
    assert_int_equal(g->open_handles, 0);
    /* The connection is kept. */
    assert_int_equal(collect(fx), 0);
    check_qga_values(fx);
    assert_int_equal(g->conns, 1);
    ga_stop(g);
}

static void test_qga_template(void **state)
{
    fixture *fx = *state;
    char path[160];
    snprintf(path, sizeof(path), "%s/5f7c4a8e-1111-4222-8333-944455556666-vm1.sock", fx->dir);
    fake_ga *g = ga_start(path);
    start(fx, &mom_collector_GuestQemuAgent, "socket_name_template: %(uuid)s-%(name)s.sock\n");
    assert_int_equal(collect(fx), 0);
    check_qga_values(fx);
    ga_stop(g);
}

static void test_qga_error_reply(void **state)
{
    fixture *fx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/vm1.agent", fx->dir);
    fake_ga *g = ga_start(path);
    g->fail_path = "/proc/vmstat";
    start(fx, &mom_collector_GuestQemuAgent, NULL);
    assert_true(collect(fx) < 0);
    assert_true(is_missing(fx, "mem_available"));
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, "GenericError: failed to open file"), 1);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, "errno"), 1);
    /* The meminfo handle was closed. */
    assert_int_equal(g->open_handles, 0);
    pthread_mutex_lock(&g->lock);
    g->fail_path = NULL;
    pthread_mutex_unlock(&g->lock);
    assert_int_equal(collect(fx), 0);
    check_qga_values(fx);
    ga_stop(g);
}

static void test_qga_peer_closes_mid_reply(void **state)
{
    fixture *fx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/vm1.agent", fx->dir);
    fake_ga *g = ga_start(path);
    g->close_on = "guest-file-read";
    start(fx, &mom_collector_GuestQemuAgent, NULL);
    assert_true(collect(fx) < 0);
    assert_true(count_lines(fx, MOM_LOG_WARN, "guest-file-read") >= 1);
    pthread_mutex_lock(&g->lock);
    g->close_on = NULL;
    pthread_mutex_unlock(&g->lock);
    /* Reconnects (and synchronises again). */
    assert_int_equal(collect(fx), 0);
    check_qga_values(fx);
    assert_int_equal(g->conns, 2);
    ga_stop(g);
}

static void test_qga_silent_and_absent(void **state)
{
    fixture *fx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/vm1.agent", fx->dir);
    start(fx, &mom_collector_GuestQemuAgent, NULL);
    /* No socket at all. */
    assert_true(collect(fx) < 0);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, "vm1.agent"), 1);
    /* An agent that never answers: the 2 s reply timeout. */
    fake_ga *g = ga_start(path);
    g->silent = true;
    double t0 = mono();
    assert_int_equal(collect(fx), -ETIMEDOUT);
    double took = mono() - t0;
    assert_true(took >= 1.9 && took < 4.0);
    ga_stop(g);
}

static fake_ga *hv_ga;
static ga_file hv_files[2];

static char *hv_agent(const char *id, const char *command, void *userdata)
{
    (void)userdata;
    assert_string_equal(id, "id-1");
    char *t = ga_answer(hv_ga, hv_files, command);
    char *r = mom_strdup(t);
    free(t);
    return r;
}

static void test_qga_through_hypervisor(void **state)
{
    fixture *fx = *state;
    fake_ga g = {.lfd = -1};
    hv_ga = &g;
    fx->use_hv = true;
    fakehv_set_agent_fn(fx->fh, hv_agent, NULL);
    start(fx, &mom_collector_GuestQemuAgent, NULL);
    assert_int_equal(collect(fx), 0);
    check_qga_values(fx);
    /* guest-ping chose the transport, then the files went the same way. */
    const fakehv_call *c = fakehv_find_call(fx->fh, "qemu_agent_command", 0);
    assert_non_null(c);
    assert_non_null(strstr(c->command, "guest-ping"));
    assert_true(fakehv_n_calls(fx->fh, "qemu_agent_command") >= 8);
    assert_int_equal(g.open_handles, 0);
}

/* ---- GuestAgent (oVirt) ------------------------------------------------- */

#define OVIRT_SOCK "5f7c4a8e-1111-4222-8333-944455556666.ovirt-guest-agent.0"

/* Read what the collector sent (non-blocking) into buf. */
static void read_from_host(int fd, char *buf, size_t n)
{
    size_t len = strlen(buf);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (len + 1 < n && poll(&p, 1, 100) > 0) {
        ssize_t r = recv(fd, buf + len, n - len - 1, MSG_DONTWAIT);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
}

static char *heartbeat(int api, int64_t unused, int swap_in, int pageflt, int majflt)
{
    static char t[1024];
    snprintf(t, sizeof(t),
             "{\"__name__\": \"heartbeat\", \"free-ram\": \"1000\", \"apiVersion\": %d, "
             "\"memory-stat\": {\"mem_total\": \"1048576\", \"mem_unused\": %lld, \"mem_free\": "
             "600000, \"mem_buffers\": 0, \"mem_cached\": 1, \"swap_total\": 2048, \"swap_usage\": "
             "1024, \"swap_in\": %d, \"swap_out\": 0, \"pageflt\": %d, \"majflt\": %d}}\n",
             api, (long long)unused, swap_in, pageflt, majflt);
    return t;
}

static void test_ovirt_protocol(void **state)
{
    fixture *fx = *state;
    char path[200];
    snprintf(path, sizeof(path), "%s/" OVIRT_SOCK, fx->dir);
    int lfd = listen_at(path);
    start(fx, &mom_collector_GuestAgent, NULL);
    assert_true(fx->ft->mandatory[fieldtab_find(fx->ft, "mem_free")]);
    assert_false(fx->ft->mandatory[fieldtab_find(fx->ft, "swap_in")]);

    /* Connected, nothing received yet: no fields, no error. */
    assert_int_equal(collect(fx), 0);
    assert_true(is_missing(fx, "mem_available"));
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    char got[4096] = "";
    read_from_host(fd, got, sizeof(got));
    assert_non_null(strstr(got, "\"__name__\": \"refresh\""));

    /* A malformed line, a message of another kind and half a heartbeat. */
    send_text(fd, "not json at all\n{\"__name__\": \"host-name\", \"name\": \"g\"}\n[1,2]\n");
    char *hb = heartbeat(2, 500000, 10, 100, 10);
    char half[1024];
    snprintf(half, sizeof(half), "%.*s", (int)(strlen(hb) / 2), hb);
    send_text(fd, half);
    assert_int_equal(collect(fx), 0);
    assert_true(is_missing(fx, "mem_available"));

    send_text(fd, hb + strlen(half));
    double t3s = mono();
    assert_int_equal(collect(fx), 0);
    double t3e = mono();
    assert_int_equal(int_of(fx, "mem_available"), 1048576);
    assert_int_equal(int_of(fx, "mem_unused"), 500000);
    assert_int_equal(int_of(fx, "mem_free"), 600000);
    assert_int_equal(int_of(fx, "swap_total"), 2048);
    assert_int_equal(int_of(fx, "swap_usage"), 1024);
    /* Counters start at 0. */
    assert_int_equal(int_of(fx, "swap_in"), 0);
    assert_int_equal(int_of(fx, "minor_fault"), 0);
    /* The heartbeat's version was answered. */
    got[0] = '\0';
    read_from_host(fd, got, sizeof(got));
    assert_non_null(strstr(got, "{\"__name__\": \"api-version\", \"apiVersion\": 2}"));

    /* Rates integrate over the time between collections. */
    usleep(500000);
    send_text(fd, heartbeat(2, 400000, 10, 100, 10));
    double t4s = mono();
    assert_int_equal(collect(fx), 0);
    double t4e = mono();
    double dmin = t4s - t3e, dmax = t4e - t3s;
    int64_t sin = int_of(fx, "swap_in");
    assert_true(sin >= (int64_t)(10 * 4 * dmin) - 1 && sin <= (int64_t)(10 * 4 * dmax) + 1);
    int64_t minor = int_of(fx, "minor_fault"), major = int_of(fx, "major_fault");
    assert_true(minor >= (int64_t)(90 * dmin) - 1 && minor <= (int64_t)(90 * dmax) + 1);
    assert_true(major >= (int64_t)(10 * dmin) - 1 && major <= (int64_t)(10 * dmax) + 1);
    assert_int_equal(int_of(fx, "swap_out"), 0);
    assert_int_equal(int_of(fx, "mem_unused"), 400000);
    /* The same version is not answered twice. */
    got[0] = '\0';
    read_from_host(fd, got, sizeof(got));
    assert_null(strstr(got, "api-version"));

    /* An overlong line is skipped; what follows it counts. */
    size_t big = (1u << 20) + 1000;
    char *junk = malloc(big + 1);
    memset(junk, 'x', big);
    junk[big] = '\0';
    /* The collector drains while we write: write from a thread-free loop
     * in pieces, collecting in between so the socket never fills. */
    for (size_t off = 0; off < big; off += 65536) {
        char save = 0;
        size_t end = off + 65536 < big ? off + 65536 : big;
        save = junk[end];
        junk[end] = '\0';
        send_text(fd, junk + off);
        junk[end] = save;
        assert_int_equal(collect(fx), 0);
    }
    free(junk);
    send_text(fd, "\n");
    send_text(fd, "{\"__name__\": \"memory-stats\", \"memory\": {\"mem_total\": 1048576, "
                  "\"mem_unused\": 333333, \"mem_free\": 444444}}\n");
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "mem_unused"), 333333);
    assert_int_equal(int_of(fx, "mem_free"), 444444);
    /* A newer agent is answered with our version. */
    send_text(fd, heartbeat(7, 300000, 0, 0, 0));
    assert_int_equal(collect(fx), 0);
    got[0] = '\0';
    read_from_host(fd, got, sizeof(got));
    assert_non_null(strstr(got, "\"apiVersion\": 3}"));

    /* The guest's QEMU goes away: nothing, one warning; then it is back. */
    int64_t before = int_of(fx, "swap_in");
    close(fd);
    assert_int_equal(collect(fx), 0);
    assert_true(is_missing(fx, "mem_available"));
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, "closed"), 1);
    close(lfd);
    unlink(path);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, NULL), 1);
    lfd = listen_at(path);
    assert_int_equal(collect(fx), 0);
    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    got[0] = '\0';
    read_from_host(fd, got, sizeof(got));
    assert_non_null(strstr(got, "refresh"));
    send_text(fd, heartbeat(3, 123456, 5, 0, 0));
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "mem_unused"), 123456);
    /* The counters go on from where they were. */
    assert_true(int_of(fx, "swap_in") >= before);
    assert_int_equal(count_lines(fx, MOM_LOG_INFO, "available again"), 1);
    got[0] = '\0';
    read_from_host(fd, got, sizeof(got));
    assert_non_null(strstr(got, "\"apiVersion\": 3}"));
    close(fd);
    close(lfd);
}

static void test_ovirt_no_channel(void **state)
{
    fixture *fx = *state;
    start(fx, &mom_collector_GuestAgent, "socket_name_template: %(name)s.chan\n");
    assert_int_equal(collect(fx), 0);
    assert_int_equal(collect(fx), 0);
    assert_true(is_missing(fx, "mem_available"));
    /* One warning per outage, naming the expanded path. */
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, "vm1.chan"), 1);
}

int main(void)
{
    make_vmstat();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_qga_socket_whole_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qga_template, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qga_error_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qga_peer_closes_mid_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qga_silent_and_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qga_through_hypervisor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ovirt_protocol, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ovirt_no_channel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
