/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client (see qmp_client.h).  QEMU ends every message with CRLF and
 * never breaks a message across lines, so input is split at '\n'; each
 * line is one JSON object: the greeting ({"QMP": ...}), a reply
 * ({"return": ..., "id": ...} or {"error": {...}, "id": ...}) or an event
 * ({"event": ..., "data": ..., "timestamp": ...}).
 */
#include "hv/qmp_client.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

/* The longest message accepted; QEMU's largest replies (query-qmp-schema)
 * stay far below this, and MOM never asks for those. */
#define QMPC_MAX_LINE (4u << 20)

struct qmpc {
    int fd;
    bool broken;
    int64_t next_id;
    char *buf;          /* received bytes not yet consumed */
    size_t len, cap;
    qmpc_event_fn ev;
    void *userdata;
    pid_t peer_pid;
    int version;
    char err_class[64];
    char err_desc[256];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds left until deadline for poll(): 0 when it has passed. */
static int ms_left(double deadline)
{
    double left = deadline - now_s();
    if (left <= 0)
        return 0;
    if (left > 3600)
        return 3600 * 1000;
    return (int)ceil(left * 1000.0);
}

int qmpc_json_int(const json_t *v, int64_t *ret)
{
    if (json_is_integer(v)) {
        *ret = (int64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_real(v))
        return -EINVAL;
    double d = json_real_value(v);
    if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return -ERANGE;
    *ret = (int64_t)d;
    return 0;
}

json_t *qmpc_parse(const char *text, size_t len)
{
    json_error_t err;
    json_t *j = json_loadb(text, len, 0, &err);
    if (!j && json_error_code(&err) == json_error_numeric_overflow)
        j = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &err);
    return j;
}

/* Mark the connection unusable and pass the error through. */
static int fail(qmpc *c, int r)
{
    c->broken = true;
    return r;
}

/* Send all of buf before deadline. */
static int send_all(qmpc *c, const char *buf, size_t len, double deadline)
{
    while (len > 0) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return fail(c, errno == EPIPE ? -EPIPE : -ECONNRESET);
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        int t = ms_left(deadline);
        if (t == 0)
            return fail(c, -ETIMEDOUT);
        int pr = poll(&p, 1, t);
        if (pr < 0 && errno != EINTR)
            return fail(c, -errno);
        if (pr == 0)
            return fail(c, -ETIMEDOUT);
    }
    return 0;
}

/* Read more bytes into the buffer.  block=false reads only what is
 * already there (-EAGAIN when nothing is). */
static int fill(qmpc *c, double deadline, bool block)
{
    if (c->cap - c->len < 4096) {
        if (c->cap >= QMPC_MAX_LINE + 8192)
            return fail(c, -EPROTO);
        size_t cap = c->cap ? c->cap * 2 : 8192;
        char *b = mom_realloc(c->buf, cap);
        if (!b)
            return -ENOMEM;
        c->buf = b;
        c->cap = cap;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, MSG_DONTWAIT);
        if (n > 0) {
            c->len += (size_t)n;
            return 0;
        }
        if (n == 0)
            return fail(c, -ECONNRESET);
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return fail(c, -ECONNRESET);
        if (!block)
            return -EAGAIN;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int t = ms_left(deadline);
        if (t == 0)
            return fail(c, -ETIMEDOUT);
        int pr = poll(&p, 1, t);
        if (pr < 0 && errno != EINTR)
            return fail(c, -errno);
        if (pr == 0)
            return fail(c, -ETIMEDOUT);
    }
}

/* Take the next complete message out of the buffer: 1 and *ret (a new
 * reference) when there was one, 0 when more bytes are needed, -EPROTO for
 * a line that is not a JSON object. */
static int take(qmpc *c, json_t **ret)
{
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (!nl) {
            if (c->len > QMPC_MAX_LINE)
                return fail(c, -EPROTO);
            return 0;
        }
        size_t line = (size_t)(nl - c->buf);
        size_t end = line;
        while (end > 0 && (c->buf[end - 1] == '\r' || c->buf[end - 1] == ' ' ||
                           c->buf[end - 1] == '\t'))
            end--;
        json_t *j = NULL;
        bool blank = true;
        for (size_t i = 0; i < end; i++)
            if (c->buf[i] != ' ' && c->buf[i] != '\t' && c->buf[i] != '\r')
                blank = false;
        if (!blank)
            j = qmpc_parse(c->buf, end);
        memmove(c->buf, nl + 1, c->len - line - 1);
        c->len -= line + 1;
        if (blank)
            continue;
        if (!json_is_object(j)) {
            json_decref(j);
            return fail(c, -EPROTO);
        }
        *ret = j;
        return 1;
    }
}

/* Hand an event message to the callback. */
static void dispatch_event(qmpc *c, json_t *msg)
{
    const char *name = json_string_value(json_object_get(msg, "event"));
    if (name && c->ev)
        c->ev(name, json_object_get(msg, "data"), c->userdata);
}

/* Remember an error reply's class and description. */
static void keep_error(qmpc *c, json_t *error)
{
    const char *cls = json_string_value(json_object_get(error, "class"));
    const char *desc = json_string_value(json_object_get(error, "desc"));
    snprintf(c->err_class, sizeof(c->err_class), "%s", cls ? cls : "GenericError");
    snprintf(c->err_desc, sizeof(c->err_desc), "%s", desc ? desc : "");
}

/* Wait for the reply to command `id`, dispatching events meanwhile. */
static int wait_reply(qmpc *c, int64_t id, double deadline, json_t **ret_return)
{
    for (;;) {
        json_t *msg = NULL;
        int r = take(c, &msg);
        if (r < 0)
            return r;
        if (r == 0) {
            if ((r = fill(c, deadline, true)) < 0)
                return r;
            continue;
        }
        if (json_object_get(msg, "event")) {
            dispatch_event(c, msg);
            json_decref(msg);
            continue;
        }
        json_t *jid = json_object_get(msg, "id");
        int64_t got;
        /* A reply for an earlier command (none should be outstanding) is
         * skipped; an error without an id is QEMU's answer to input it
         * could not parse, which can only be ours. */
        if (jid && (qmpc_json_int(jid, &got) < 0 || got != id)) {
            json_decref(msg);
            continue;
        }
        json_t *error = json_object_get(msg, "error");
        json_t *ret = json_object_get(msg, "return");
        if (error) {
            keep_error(c, error);
            json_decref(msg);
            return QMPC_E_REPLY;
        }
        if (!ret) {
            json_decref(msg);
            if (!jid)
                continue; /* something else without an id: ignore it */
            return fail(c, -EPROTO);
        }
        if (ret_return)
            *ret_return = json_incref(ret);
        json_decref(msg);
        return 0;
    }
}

int qmpc_call(qmpc *c, const char *command, json_t *args, double deadline, json_t **ret_return)
{
    if (ret_return)
        *ret_return = NULL;
    if (c->broken)
        return -ECONNRESET;
    int64_t id = c->next_id++;
    json_t *req = json_pack("{s:s, s:I}", "execute", command, "id", (json_int_t)id);
    if (!req)
        return -ENOMEM;
    if (args && json_object_set(req, "arguments", args) < 0) {
        json_decref(req);
        return -ENOMEM;
    }
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!text)
        return -ENOMEM;
    size_t n = strlen(text);
    /* jansson allocates with malloc; copy so the newline fits. */
    char *line = mom_malloc(n + 2);
    if (!line) {
        free(text);
        return -ENOMEM;
    }
    memcpy(line, text, n);
    line[n] = '\r';
    line[n + 1] = '\n';
    free(text);
    c->err_class[0] = c->err_desc[0] = '\0';
    int r = send_all(c, line, n + 2, deadline);
    mom_free(line);
    if (r < 0)
        return r;
    return wait_reply(c, id, deadline, ret_return);
}

int qmpc_pump(qmpc *c)
{
    if (c->broken)
        return -ECONNRESET;
    for (;;) {
        json_t *msg = NULL;
        int r = take(c, &msg);
        if (r < 0)
            return r;
        if (r == 0) {
            r = fill(c, 0, false);
            if (r == -EAGAIN)
                return 0;
            if (r < 0)
                return r;
            continue;
        }
        if (json_object_get(msg, "event"))
            dispatch_event(c, msg);
        json_decref(msg);
    }
}

/* Read the greeting and enter command mode. */
static int handshake(qmpc *c, double deadline)
{
    json_t *msg = NULL;
    for (;;) {
        int r = take(c, &msg);
        if (r < 0)
            return r;
        if (r > 0)
            break;
        if ((r = fill(c, deadline, true)) < 0)
            return r;
    }
    json_t *qmp = json_object_get(msg, "QMP");
    if (!json_is_object(qmp)) {
        json_decref(msg);
        return fail(c, -EPROTO);
    }
    json_t *v = json_object_get(json_object_get(qmp, "version"), "qemu");
    int64_t maj = 0, min = 0, mic = 0;
    if (qmpc_json_int(json_object_get(v, "major"), &maj) == 0 &&
        qmpc_json_int(json_object_get(v, "minor"), &min) == 0 &&
        qmpc_json_int(json_object_get(v, "micro"), &mic) == 0 && maj >= 0 && maj < 10000 &&
        min >= 0 && min < 100 && mic >= 0 && mic < 100)
        c->version = (int)(maj * 10000 + min * 100 + mic);
    json_decref(msg);
    int r = qmpc_call(c, "qmp_capabilities", NULL, deadline, NULL);
    if (r == QMPC_E_REPLY)
        return fail(c, -EPROTO);
    return r;
}

int qmpc_open_fd(int fd, double deadline, qmpc_event_fn ev, void *userdata, qmpc **ret)
{
    *ret = NULL;
    qmpc *c = mom_calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    c->fd = fd;
    c->next_id = 1;
    c->ev = ev;
    c->userdata = userdata;
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 && cl == sizeof(cred) &&
        cred.pid > 0)
        c->peer_pid = cred.pid;
    int r = handshake(c, deadline);
    if (r < 0) {
        qmpc_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

int qmpc_connect(const char *path, double deadline, qmpc_event_fn ev, void *userdata,
                 qmpc **ret)
{
    *ret = NULL;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        if (e == EAGAIN || e == EINPROGRESS) {
            /* The listen backlog is full: wait until it accepts us. */
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int pr = poll(&p, 1, ms_left(deadline));
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (pr <= 0) {
                close(fd);
                return pr == 0 ? -ETIMEDOUT : -errno;
            }
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
                close(fd);
                return soerr ? -soerr : -ECONNREFUSED;
            }
        } else {
            close(fd);
            return -e;
        }
    }
    return qmpc_open_fd(fd, deadline, ev, userdata, ret);
}

void qmpc_free(qmpc *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    mom_free(c->buf);
    mom_free(c);
}

const char *qmpc_error_class(const qmpc *c)
{
    return c->err_class;
}

const char *qmpc_error_desc(const qmpc *c)
{
    return c->err_desc;
}

pid_t qmpc_peer_pid(const qmpc *c)
{
    return c->peer_pid;
}

bool qmpc_broken(const qmpc *c)
{
    return c->broken;
}

int qmpc_version(const qmpc *c)
{
    return c->version;
}
