/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GuestAgent: memory statistics from the oVirt guest agent (PEERS.md §5),
 * read from the host end of the guest's virtio-serial channel, a unix
 * socket at [Collector: GuestAgent] socket_path / socket_name_template
 * (defaults /var/lib/libvirt/qemu/channels and
 * %(uuid)s.ovirt-guest-agent.0; %(name)s and %(uuid)s are replaced).
 *
 * The agent sends one JSON object per line, named by "__name__": a
 * heartbeat every few seconds ({"free-ram", "memory-stat", "apiVersion"})
 * and now and then "memory-stats" ({"memory"}); the memory-stat dict holds
 * mem_total, mem_unused, mem_free, swap_total, swap_usage (KiB) and the
 * rates swap_in, swap_out (pages/s), pageflt and majflt (faults/s).  The
 * collector answers a heartbeat's apiVersion with "api-version" (the
 * common version, at most 3) and sends "refresh" after connecting, as vdsm
 * does; every other message is ignored, and so are lines that are not JSON
 * objects.  A line may arrive in pieces; it is used once complete.
 *
 * Each collection reads what arrived since the last one, without blocking.
 * The rates are integrated over the time between collections that brought
 * statistics (the mean of the rates received, times the elapsed time), so
 * swap_in and swap_out are cumulative KiB (4 KiB pages) and major_fault
 * and minor_fault cumulative counts, as REFERENCE.md §0 wants;
 * minor_fault is pageflt − majflt.  They count from the collector's start.
 *
 * When the channel is closed (the guest's QEMU went away) the collector
 * reports nothing and connects again at the next collection; statistics
 * older than three heartbeats (or three guest-monitor intervals) are not
 * reported either.  Neither is a collection error: a guest without an
 * agent just lacks the fields (one warning per outage).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
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

#define COLLECTOR "GuestAgent"
#define API_VERSION 3
/* Longest line kept; longer ones (huge application lists) are skipped. */
#define MAX_LINE (1u << 20)
/* The agent's default heartbeat period, seconds. */
#define HEARTBEAT_S 5
#define PAGE_KIB 4

typedef struct ovirt_agent {
    const mom_plugin_api *api;
    char *socket;
    int fd;
    char *buf;               /* an incomplete line */
    size_t len, cap;
    bool skipping;           /* inside an overlong line */
    int api_version;         /* the version we last answered, 0 none */
    bool warned;             /* the current outage was logged */
    int interval;            /* guest-monitor interval */
    /* Statistics. */
    bool have;               /* a memory-stat arrived on this connection */
    double last_stat;        /* when (monotonic) */
    int64_t mem_total, mem_unused, mem_free, swap_total, swap_usage;
    bool have_swap_total, have_swap_usage;
    /* Rates received since the last integration. */
    double sum_in, sum_out, sum_maj, sum_min;
    int n_in, n_out, n_maj, n_min;
    double last_integrate;   /* 0: not yet */
    double swap_in, swap_out, maj, min; /* integrated */
    bool have_in, have_out, have_maj, have_min;
} ovirt_agent;

static const char *const mandatory[] = {"mem_available", "mem_unused", "mem_free", NULL};
static const char *const optional[] = {"swap_total", "swap_usage", "swap_in", "swap_out",
                                       "major_fault", "minor_fault", NULL};


/* A number as the agent sends it: int, real or a decimal string. */
static bool num(const json_t *v, double *ret)
{
    if (json_is_number(v)) {
        *ret = json_number_value(v);
        return isfinite(*ret);
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (errno || end == s || *end || !isfinite(d))
            return false;
        *ret = d;
        return true;
    }
    return false;
}

/* Send one message, best effort (a guest that does not read must not
 * block the collector). */
static void send_msg(ovirt_agent *a, const char *text)
{
    if (a->fd < 0)
        return;
    ssize_t w = send(a->fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
}

static void disconnect(ovirt_agent *a)
{
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
    a->len = 0;
    a->skipping = false;
    a->api_version = 0;
    a->have = false;
    a->last_integrate = 0;
    a->sum_in = a->sum_out = a->sum_maj = a->sum_min = 0;
    a->n_in = a->n_out = a->n_maj = a->n_min = 0;
}

/* Take the statistics of one memory-stat dict received at time now. */
static void take_stats(ovirt_agent *a, const json_t *m, double now)
{
    double v;
    if (!json_is_object(m))
        return;
    double total, unused, mfree;
    /* The three mandatory values come together or not at all. */
    if (!num(json_object_get(m, "mem_total"), &total) ||
        !num(json_object_get(m, "mem_unused"), &unused) ||
        !num(json_object_get(m, "mem_free"), &mfree) || total < 0 || unused < 0 || mfree < 0)
        return;
    a->mem_total = (int64_t)total;
    a->mem_unused = (int64_t)unused;
    a->mem_free = (int64_t)mfree;
    a->have = true;
    a->last_stat = now;
    if ((a->have_swap_total = num(json_object_get(m, "swap_total"), &v) && v >= 0))
        a->swap_total = (int64_t)v;
    if ((a->have_swap_usage = num(json_object_get(m, "swap_usage"), &v) && v >= 0))
        a->swap_usage = (int64_t)v;
    if (num(json_object_get(m, "swap_in"), &v) && v >= 0) {
        a->sum_in += v;
        a->n_in++;
    }
    if (num(json_object_get(m, "swap_out"), &v) && v >= 0) {
        a->sum_out += v;
        a->n_out++;
    }
    double maj = -1, pf;
    if (num(json_object_get(m, "majflt"), &maj) && maj >= 0) {
        a->sum_maj += maj;
        a->n_maj++;
    }
    if (num(json_object_get(m, "pageflt"), &pf) && pf >= 0 && maj >= 0) {
        a->sum_min += pf > maj ? pf - maj : 0;
        a->n_min++;
    }
}

/* One complete line. */
static void handle_line(ovirt_agent *a, mom_entity *e, const char *line, size_t len, double now)
{
    json_t *j = json_loadb(line, len, 0, NULL);
    const char *name = json_string_value(json_object_get(j, "__name__"));
    if (!name) {
        if (len > 0 && !(len == 1 && line[0] == '\r'))
            a->api->log(a->api, e, MOM_LOG_DEBUG, "guest agent: skipping a malformed line");
        json_decref(j);
        return;
    }
    if (strcmp(name, "heartbeat") == 0) {
        double v;
        if (num(json_object_get(j, "apiVersion"), &v) && v >= 0) {
            int want = v > API_VERSION ? API_VERSION : (int)v;
            if (want != a->api_version) {
                char msg[80];
                snprintf(msg, sizeof(msg), "{\"__name__\": \"api-version\", \"apiVersion\": %d}\n",
                         want);
                send_msg(a, msg);
                a->api_version = want;
            }
        }
        take_stats(a, json_object_get(j, "memory-stat"), now);
    } else if (strcmp(name, "memory-stats") == 0) {
        take_stats(a, json_object_get(j, "memory"), now);
    }
    json_decref(j);
}

/* Read what is there and handle the complete lines.  Returns 0, or
 * -ECONNRESET when the peer closed. */
static int drain(ovirt_agent *a, mom_entity *e, double now)
{
    for (;;) {
        if (a->cap - a->len < 4096) {
            size_t cap = a->cap ? a->cap * 2 : 8192;
            char *b = mom_realloc(a->buf, cap);
            if (!b)
                return -ENOMEM;
            a->buf = b;
            a->cap = cap;
        }
        ssize_t n = recv(a->fd, a->buf + a->len, a->cap - a->len, MSG_DONTWAIT);
        if (n == 0)
            return -ECONNRESET;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -ECONNRESET;
        }
        a->len += (size_t)n;
        char *start = a->buf, *nl;
        size_t left = a->len;
        while ((nl = memchr(start, '\n', left))) {
            size_t ll = (size_t)(nl - start);
            if (!a->skipping)
                handle_line(a, e, start, ll, now);
            a->skipping = false;
            start = nl + 1;
            left -= ll + 1;
        }
        memmove(a->buf, start, left);
        a->len = left;
        if (a->len > MAX_LINE) {
            a->api->log(a->api, e, MOM_LOG_DEBUG, "guest agent: skipping an overlong line");
            a->skipping = true;
            a->len = 0;
        }
        if (a->skipping)
            a->len = 0;
        /* Give the buffer back once a big line has passed. */
        if (a->len == 0 && a->cap > 65536) {
            mom_free(a->buf);
            a->buf = NULL;
            a->cap = 0;
        }
    }
}

static int try_connect(ovirt_agent *a)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(a->socket) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, a->socket);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EAGAIN &&
        errno != EINPROGRESS) {
        int r = -errno;
        close(fd);
        return r;
    }
    a->fd = fd;
    /* As vdsm does: ask the agent for everything it knows. */
    send_msg(a, "{\"__name__\": \"refresh\", \"apiVersion\": 3}\n");
    return 0;
}

/* Fold the rates received since the last integration into the counters. */
static void integrate(ovirt_agent *a, double now)
{
    if (a->n_in + a->n_out + a->n_maj + a->n_min == 0)
        return;
    /* The first statistics start the counters at 0. */
    a->have_in |= a->n_in > 0;
    a->have_out |= a->n_out > 0;
    a->have_maj |= a->n_maj > 0;
    a->have_min |= a->n_min > 0;
    if (a->last_integrate > 0) {
        double dt = now - a->last_integrate;
        if (a->n_in)
            a->swap_in += a->sum_in / a->n_in * dt * PAGE_KIB;
        if (a->n_out)
            a->swap_out += a->sum_out / a->n_out * dt * PAGE_KIB;
        if (a->n_maj)
            a->maj += a->sum_maj / a->n_maj * dt;
        if (a->n_min)
            a->min += a->sum_min / a->n_min * dt;
    }
    a->last_integrate = now;
    a->sum_in = a->sum_out = a->sum_maj = a->sum_min = 0;
    a->n_in = a->n_out = a->n_maj = a->n_min = 0;
}

static int ovirt_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    ovirt_agent *a = mom_calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->api = api;
    a->fd = -1;
    a->interval = api->interval(api, "guest-monitor");
    const char *dir = api->entity_config(entity, COLLECTOR, "socket_path");
    const char *tmpl = api->entity_config(entity, COLLECTOR, "socket_name_template");
    char *name = agent_socket_expand(tmpl ? tmpl : "%(uuid)s.ovirt-guest-agent.0",
                                 api->entity_prop_str(entity, "name"),
                                 api->entity_prop_str(entity, "uuid"));
    a->socket =
        name ? mom_asprintf("%s/%s", dir ? dir : "/var/lib/libvirt/qemu/channels", name) : NULL;
    mom_free(name);
    if (!a->socket) {
        mom_free(a);
        return -ENOMEM;
    }
    *ret_state = a;
    return 0;
}

static int ovirt_collect(void *state, mom_entity *entity, mom_sample *out)
{
    ovirt_agent *a = state;
    const mom_plugin_api *api = a->api;
    double now = agent_socket_now();
    const char *problem = NULL;
    char why[300];
    if (a->fd < 0) {
        int r = try_connect(a);
        if (r < 0) {
            snprintf(why, sizeof(why), "cannot connect to %s: %s", a->socket, strerror(-r));
            problem = why;
        }
    }
    if (a->fd >= 0) {
        int r = drain(a, entity, now);
        if (r == -ENOMEM)
            return r;
        if (r < 0) {
            snprintf(why, sizeof(why), "the channel %s was closed", a->socket);
            problem = why;
            disconnect(a);
        }
    }
    integrate(a, now);
    double stale = 3.0 * (a->interval > HEARTBEAT_S ? a->interval : HEARTBEAT_S);
    if (!problem && a->have && now - a->last_stat > stale) {
        snprintf(why, sizeof(why), "no statistics from the agent for %.0f s", now - a->last_stat);
        problem = why;
    }
    if (problem || !a->have) {
        if (problem && !a->warned)
            api->log(api, entity, MOM_LOG_WARN, "guest agent: %s", problem);
        if (problem)
            a->warned = true;
        return 0;
    }
    if (a->warned)
        api->log(api, entity, MOM_LOG_INFO, "guest agent: statistics are available again");
    a->warned = false;
    int r = api->sample_set_int(out, "mem_available", a->mem_total);
    if (r == 0)
        r = api->sample_set_int(out, "mem_unused", a->mem_unused);
    if (r == 0)
        r = api->sample_set_int(out, "mem_free", a->mem_free);
    if (r == 0 && a->have_swap_total)
        r = api->sample_set_int(out, "swap_total", a->swap_total);
    if (r == 0 && a->have_swap_usage)
        r = api->sample_set_int(out, "swap_usage", a->swap_usage);
    if (r == 0 && a->have_in)
        r = api->sample_set_int(out, "swap_in", (int64_t)llround(a->swap_in));
    if (r == 0 && a->have_out)
        r = api->sample_set_int(out, "swap_out", (int64_t)llround(a->swap_out));
    if (r == 0 && a->have_maj)
        r = api->sample_set_int(out, "major_fault", (int64_t)llround(a->maj));
    if (r == 0 && a->have_min)
        r = api->sample_set_int(out, "minor_fault", (int64_t)llround(a->min));
    return r;
}

static void ovirt_fini(void *state)
{
    ovirt_agent *a = state;
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    mom_free(a->buf);
    mom_free(a->socket);
    mom_free(a);
}

const mom_collector mom_collector_GuestAgent = {
    .size = sizeof(mom_collector),
    .name = COLLECTOR,
    .kind = MOM_ENTITY_GUEST,
    .mandatory = mandatory,
    .optional = optional,
    .init = ovirt_init,
    .collect = ovirt_collect,
    .fini = ovirt_fini,
};
