/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GuestQemuAgent: the guest's own /proc/meminfo and /proc/vmstat, read
 * through the QEMU guest agent (REFERENCE.md §2.6) with guest-file-open,
 * guest-file-read and guest-file-close.
 *
 * Transports, tried in this order until guest-ping succeeds:
 *  1. the hypervisor interface's qemu_agent_command (libvirt);
 *  2. the agent's own unix socket, [Collector: GuestQemuAgent] socket_path
 *     joined with socket_name_template (defaults /var/lib/libvirt/qemu and
 *     %(name)s.agent; %(name)s and %(uuid)s are replaced).  On connect the
 *     collector sends guest-sync with a fresh id and skips lines until the
 *     matching reply; then each request is one JSON line and each reply one
 *     line.
 * The chosen transport is kept until it fails; any failure is a collection
 * error (the other collectors still run) and the next collection starts
 * over.
 *
 * Unlike the original, whole files are read (until "eof", at most 1 MiB),
 * and the units are those of REFERENCE.md §0: swap_in and swap_out are
 * cumulative KiB (pswpin/pswpout pages × 4 KiB, the x86-64 page size),
 * major_fault and minor_fault cumulative counts (minor_fault is pgfault,
 * which includes the major faults, as in the original).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "collectors/agent_socket.h"
#include "core/alloc.h"
#include "core/registry.h"
#include "mom/plugin.h"

#define COLLECTOR "GuestQemuAgent"
/* The original's per-reply timeout on the direct socket. */
#define REPLY_TIMEOUT_S 2.0
/* Longest reply line and largest file read. */
#define MAX_LINE (256u * 1024)
#define MAX_FILE (1u << 20)
/* Bytes asked for by each guest-file-read. */
#define READ_CHUNK 4096
#define PAGE_KIB 4

enum { T_NONE, T_HV, T_SOCKET };

typedef struct qemu_agent {
    const mom_plugin_api *api;
    char *socket;        /* the direct socket's path */
    int transport;
    int fd;              /* T_SOCKET */
    char *buf;           /* received bytes not consumed yet */
    size_t len, cap;
    char err[512];       /* the last failure, for the log */
} qemu_agent;

static const char *const fields[] = {
    "mem_available", "mem_unused", "mem_free", "swap_total", "swap_usage",
    "major_fault",   "minor_fault", "swap_in", "swap_out",   NULL,
};


static void close_socket(qemu_agent *q)
{
    if (q->fd >= 0)
        close(q->fd);
    q->fd = -1;
    q->len = 0;
    if (q->transport == T_SOCKET)
        q->transport = T_NONE;
}

/* Send one request line on the socket. */
static int sock_send(qemu_agent *q, const char *text, double deadline)
{
    size_t n = strlen(text);
    size_t off = 0;
    const char nl = '\n';
    while (off <= n) {
        const char *p = off < n ? text + off : &nl;
        size_t len = off < n ? n - off : 1;
        ssize_t w = send(q->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN)
            return -errno;
        double left = deadline - agent_socket_now();
        struct pollfd pf = {.fd = q->fd, .events = POLLOUT};
        if (left <= 0 || poll(&pf, 1, (int)ceil(left * 1000)) <= 0)
            return -ETIMEDOUT;
    }
    return 0;
}

/* Read one line (without its newline) into a new string. */
static int sock_line(qemu_agent *q, double deadline, char **ret)
{
    for (;;) {
        char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - q->buf);
            *ret = mom_strndup(q->buf, n);
            memmove(q->buf, nl + 1, q->len - n - 1);
            q->len -= n + 1;
            return *ret ? 0 : -ENOMEM;
        }
        if (q->len >= MAX_LINE)
            return -EPROTO;
        if (q->cap - q->len < 4096) {
            size_t cap = q->cap ? q->cap * 2 : 8192;
            char *b = mom_realloc(q->buf, cap);
            if (!b)
                return -ENOMEM;
            q->buf = b;
            q->cap = cap;
        }
        ssize_t r = recv(q->fd, q->buf + q->len, q->cap - q->len, MSG_DONTWAIT);
        if (r > 0) {
            q->len += (size_t)r;
            continue;
        }
        if (r == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        double left = deadline - agent_socket_now();
        struct pollfd pf = {.fd = q->fd, .events = POLLIN};
        if (left <= 0)
            return -ETIMEDOUT;
        int pr = poll(&pf, 1, (int)ceil(left * 1000));
        if (pr == 0)
            return -ETIMEDOUT;
        if (pr < 0 && errno != EINTR)
            return -errno;
    }
}

/* The reply of a request as JSON: its "return" (a new reference), or an
 * error whose text ends up in q->err. */
static int reply_value(qemu_agent *q, const char *cmd, const char *text, json_t **ret)
{
    json_t *j = json_loads(text, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(q->err, sizeof(q->err), "%s: the agent's reply is not a JSON object", cmd);
        return -EPROTO;
    }
    json_t *err = json_object_get(j, "error");
    if (err) {
        const char *cls = json_string_value(json_object_get(err, "class"));
        const char *desc = json_string_value(json_object_get(err, "desc"));
        char *data = json_object_get(err, "data")
                         ? json_dumps(json_object_get(err, "data"), JSON_COMPACT | JSON_ENCODE_ANY)
                         : NULL;
        snprintf(q->err, sizeof(q->err), "%s: %s: %s%s%s", cmd, cls ? cls : "error",
                 desc ? desc : "", data ? " " : "", data ? data : "");
        free(data);
        json_decref(j);
        return -EIO;
    }
    json_t *r = json_object_get(j, "return");
    if (!r) {
        json_decref(j);
        snprintf(q->err, sizeof(q->err), "%s: the agent's reply has no \"return\"", cmd);
        return -EPROTO;
    }
    *ret = json_incref(r);
    json_decref(j);
    return 0;
}

/* Run one agent command over the chosen transport.  args is borrowed. */
static int agent_exec(qemu_agent *q, mom_entity *e, const char *cmd, json_t *args,
                      json_t **ret)
{
    *ret = NULL;
    json_t *req = json_pack("{s:s}", "execute", cmd);
    if (!req || (args && json_object_set(req, "arguments", args) < 0)) {
        json_decref(req);
        return -ENOMEM;
    }
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!text)
        return -ENOMEM;
    int r;
    char *reply = NULL;
    if (q->transport == T_HV) {
        r = q->api->hv_agent_command(e, text, 10, &reply);
        if (r < 0)
            snprintf(q->err, sizeof(q->err), "%s through the hypervisor: %s", cmd, strerror(-r));
    } else {
        double deadline = agent_socket_now() + REPLY_TIMEOUT_S;
        r = sock_send(q, text, deadline);
        if (r == 0)
            r = sock_line(q, deadline, &reply);
        if (r < 0) {
            snprintf(q->err, sizeof(q->err), "%s on %s: %s", cmd, q->socket, strerror(-r));
            close_socket(q);
        }
    }
    free(text);
    if (r == 0)
        r = reply_value(q, cmd, reply, ret);
    mom_free(reply);
    if (r == -EPROTO && q->transport == T_SOCKET)
        close_socket(q);
    return r;
}

/* Connect the direct socket and synchronise with guest-sync. */
static int socket_open(qemu_agent *q)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(q->socket) >= sizeof(sa.sun_path)) {
        snprintf(q->err, sizeof(q->err), "%s: path too long", q->socket);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, q->socket);
    q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (q->fd < 0)
        return -errno;
    if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EAGAIN &&
        errno != EINPROGRESS) {
        int r = -errno;
        snprintf(q->err, sizeof(q->err), "cannot connect to %s: %s", q->socket, strerror(-r));
        close_socket(q);
        return r;
    }
    q->len = 0;
    int64_t id = (int64_t)(time(NULL) % 2147483647);
    char req[128];
    snprintf(req, sizeof(req), "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":%" PRId64 "}}",
             id);
    double deadline = agent_socket_now() + REPLY_TIMEOUT_S;
    int r = sock_send(q, req, deadline);
    /* Skip whatever an earlier client left in the channel. */
    while (r == 0) {
        char *line = NULL;
        if ((r = sock_line(q, deadline, &line)) < 0)
            break;
        json_t *j = json_loads(line, 0, NULL);
        mom_free(line);
        json_int_t got = json_integer_value(json_object_get(j, "return"));
        bool match = json_is_integer(json_object_get(j, "return")) && got == id;
        json_decref(j);
        if (match)
            break;
    }
    if (r < 0) {
        snprintf(q->err, sizeof(q->err), "guest-sync on %s: %s", q->socket, strerror(-r));
        close_socket(q);
        return r;
    }
    q->transport = T_SOCKET;
    return 0;
}

/* Pick a transport: the hypervisor's, else the socket; guest-ping must
 * succeed on it. */
static int choose_transport(qemu_agent *q, mom_entity *e)
{
    json_t *ret = NULL;
    if (q->api->hv_has(q->api, "qemu_agent_command")) {
        q->transport = T_HV;
        if (agent_exec(q, e, "guest-ping", NULL, &ret) == 0) {
            json_decref(ret);
            return 0;
        }
        q->transport = T_NONE;
    }
    int r = socket_open(q);
    if (r < 0)
        return r;
    r = agent_exec(q, e, "guest-ping", NULL, &ret);
    json_decref(ret);
    if (r < 0)
        close_socket(q);
    return r;
}

/* Decode base64 text (standard alphabet, '=' padding) and append it. */
static int b64_append(const char *in, char **buf, size_t *len, size_t *cap)
{
    size_t n = strlen(in);
    if (*len + n + 1 > *cap) {
        size_t nc = (*len + n + 1) * 2;
        char *nb = mom_realloc(*buf, nc);
        if (!nb)
            return -ENOMEM;
        *buf = nb;
        *cap = nc;
    }
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else if (c == '=' || c == '\n' || c == '\r')
            continue;
        else
            return -EPROTO;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            (*buf)[(*len)++] = (char)((acc >> bits) & 0xff);
        }
    }
    (*buf)[*len] = '\0';
    return 0;
}

/* Read a whole guest file: open, read until eof (at most MAX_FILE), close. */
static int read_guest_file(qemu_agent *q, mom_entity *e, const char *path, char **ret)
{
    *ret = NULL;
    json_t *args = json_pack("{s:s, s:s}", "path", path, "mode", "r");
    json_t *h = NULL;
    int r = args ? agent_exec(q, e, "guest-file-open", args, &h) : -ENOMEM;
    json_decref(args);
    if (r < 0)
        return r;
    if (!json_is_integer(h)) {
        json_decref(h);
        snprintf(q->err, sizeof(q->err), "guest-file-open %s: no handle", path);
        return -EPROTO;
    }
    json_int_t handle = json_integer_value(h);
    json_decref(h);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        json_t *a = json_pack("{s:I, s:i}", "handle", handle, "count", READ_CHUNK);
        json_t *rd = NULL;
        r = a ? agent_exec(q, e, "guest-file-read", a, &rd) : -ENOMEM;
        json_decref(a);
        if (r < 0)
            break;
        const char *b64 = json_string_value(json_object_get(rd, "buf-b64"));
        json_t *eof = json_object_get(rd, "eof");
        if (!b64 || !json_is_boolean(eof)) {
            snprintf(q->err, sizeof(q->err), "guest-file-read %s: malformed reply", path);
            r = -EPROTO;
        } else {
            r = b64_append(b64, &buf, &len, &cap);
            if (r == -EPROTO)
                snprintf(q->err, sizeof(q->err), "guest-file-read %s: bad base64", path);
        }
        bool done = json_is_true(eof);
        size_t count = (size_t)json_integer_value(json_object_get(rd, "count"));
        json_decref(rd);
        if (r < 0)
            break;
        if (len > MAX_FILE) {
            snprintf(q->err, sizeof(q->err), "%s is larger than %u bytes", path, MAX_FILE);
            r = -EFBIG;
            break;
        }
        /* An agent that says neither eof nor gives data would loop. */
        if (done || count == 0)
            break;
    }
    /* Close even after a failure; keep the first error. */
    json_t *c = json_pack("{s:I}", "handle", handle), *cr = NULL;
    if (c && (q->transport != T_NONE)) {
        char keep[sizeof(q->err)];
        memcpy(keep, q->err, sizeof(keep));
        int rc = agent_exec(q, e, "guest-file-close", c, &cr);
        if (r < 0)
            memcpy(q->err, keep, sizeof(keep));
        else
            r = rc;
    }
    json_decref(c);
    json_decref(cr);
    if (r < 0) {
        mom_free(buf);
        return r;
    }
    if (!buf)
        buf = mom_strdup("");
    *ret = buf;
    return buf ? 0 : -ENOMEM;
}

/* Value of "key" in lines "key value" or "key: value kB"; false when
 * absent. */
static bool find_value(const char *text, const char *key, int64_t *ret)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, kl) == 0 && (p[kl] == ':' || p[kl] == ' ' || p[kl] == '\t')) {
            const char *v = p + kl + (p[kl] == ':');
            char *end;
            errno = 0;
            long long n = strtoll(v, &end, 10);
            if (errno == 0 && end != v) {
                *ret = n;
                return true;
            }
            return false;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return false;
}

static int qemu_agent_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    qemu_agent *q = mom_calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->api = api;
    q->fd = -1;
    const char *dir = api->entity_config(entity, COLLECTOR, "socket_path");
    const char *tmpl = api->entity_config(entity, COLLECTOR, "socket_name_template");
    char *name = agent_socket_expand(tmpl ? tmpl : "%(name)s.agent",
                                 api->entity_prop_str(entity, "name"),
                                 api->entity_prop_str(entity, "uuid"));
    q->socket = name ? mom_asprintf("%s/%s", dir ? dir : "/var/lib/libvirt/qemu", name) : NULL;
    mom_free(name);
    if (!q->socket) {
        mom_free(q);
        return -ENOMEM;
    }
    *ret_state = q;
    return 0;
}

static int qemu_agent_collect(void *state, mom_entity *entity, mom_sample *out)
{
    qemu_agent *q = state;
    const mom_plugin_api *api = q->api;
    char *meminfo = NULL, *vmstat = NULL;
    q->err[0] = '\0';
    int r = q->transport == T_NONE ? choose_transport(q, entity) : 0;
    if (r == 0)
        r = read_guest_file(q, entity, "/proc/meminfo", &meminfo);
    if (r == 0)
        r = read_guest_file(q, entity, "/proc/vmstat", &vmstat);
    if (r < 0) {
        api->log(api, entity, MOM_LOG_WARN, "guest agent: %s",
                 q->err[0] ? q->err : strerror(-r));
        /* Start over with the transport choice next time. */
        if (q->transport == T_SOCKET)
            close_socket(q);
        q->transport = T_NONE;
        goto out;
    }
    int64_t total, mfree, buffers, cached, stotal, sfree, majflt, pgflt, pin, pout;
    if (!find_value(meminfo, "MemTotal", &total) || !find_value(meminfo, "MemFree", &mfree) ||
        !find_value(meminfo, "Buffers", &buffers) || !find_value(meminfo, "Cached", &cached) ||
        !find_value(meminfo, "SwapTotal", &stotal) || !find_value(meminfo, "SwapFree", &sfree)) {
        api->log(api, entity, MOM_LOG_WARN, "guest agent: the guest's /proc/meminfo lacks a field");
        r = -EPROTO;
        goto out;
    }
    if (!find_value(vmstat, "pgmajfault", &majflt) || !find_value(vmstat, "pgfault", &pgflt) ||
        !find_value(vmstat, "pswpin", &pin) || !find_value(vmstat, "pswpout", &pout)) {
        api->log(api, entity, MOM_LOG_WARN, "guest agent: the guest's /proc/vmstat lacks a field");
        r = -EPROTO;
        goto out;
    }
    const struct {
        const char *f;
        int64_t v;
    } vals[] = {
        {"mem_available", total},
        {"mem_unused", mfree},
        {"mem_free", mfree + buffers + cached},
        {"swap_total", stotal},
        {"swap_usage", stotal - sfree},
        {"major_fault", majflt},
        {"minor_fault", pgflt},
        {"swap_in", pin * PAGE_KIB},
        {"swap_out", pout * PAGE_KIB},
    };
    for (size_t i = 0; r == 0 && i < sizeof(vals) / sizeof(vals[0]); i++)
        r = api->sample_set_int(out, vals[i].f, vals[i].v);
out:
    mom_free(meminfo);
    mom_free(vmstat);
    return r;
}

static void qemu_agent_fini(void *state)
{
    qemu_agent *q = state;
    if (!q)
        return;
    if (q->fd >= 0)
        close(q->fd);
    mom_free(q->buf);
    mom_free(q->socket);
    mom_free(q);
}

const mom_collector mom_collector_GuestQemuAgent = {
    .size = sizeof(mom_collector),
    .name = COLLECTOR,
    .kind = MOM_ENTITY_GUEST,
    .mandatory = fields,
    .optional = NULL,
    .init = qemu_agent_init,
    .collect = qemu_agent_collect,
    .fini = qemu_agent_fini,
};
