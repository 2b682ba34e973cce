/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libvirt hypervisor interface (REFERENCE §6.2, ARCHITECTURE
 * "Hypervisor interfaces"; user documentation in docs/libvirt.md).
 *
 * Guests are keyed by UUID.  One libvirt connection serves every
 * operation; libvirt connections are thread-safe, and the engine runs
 * operations on several worker threads at once (never two for one guest).
 * One mutex, `mu`, guards the backend's state: the connection, the guest
 * cache and the bulk statistics.  No libvirt call that may block is made
 * with it held: an operation takes references (virDomainRef) under the
 * lock and calls libvirt after releasing it.
 *
 * Per guest the cache keeps the domain handle (from the listing), what the
 * domain XML says (balloon device, guaranteed minimum, disks, the oVirt
 * tune metadata; refreshed after a lifecycle event or every five minutes),
 * virDomainGetInfo for one second (balloon and CPU tune of one collection
 * share it) and the QEMU pid.  With GuestMemory and GuestBalloon a guest
 * costs two calls per cycle (memory statistics, domain info), or none
 * where the driver offers bulk balloon statistics (one
 * virConnectGetAllDomainStats per cycle for every guest).
 *
 * Connection: opened by the first operation, not at creation, so momd
 * starts without libvirtd.  A failed open, libvirt's close callback and
 * the errors VIR_ERR_SYSTEM_ERROR, VIR_ERR_INVALID_CONN, VIR_ERR_NO_CONNECT
 * and VIR_ERR_RPC drop the connection; operations then fail with -EIO
 * until a new one is open, attempted at once and then with a backoff of 1
 * s doubling up to 60 s.  Errors go to a per-connection handler
 * (virConnSetErrorFunc), never to a process-wide one.
 *
 * Lifecycle events (libvirt_loop.c runs libvirt's event loop) mark a
 * guest's XML stale and wake the engine's guest manager when a domain
 * starts or stops, so a new guest is seen at once.
 */
#include "hv/libvirt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>

#include "collectors/procfs.h"
#include "core/alloc.h"
#include "core/strmap.h"
#include "hv/libvirt_loop.h"
#include "hv/libvirt_xml.h"

#define LOGGER "mom.libvirt"
#define XML_TTL_S 300.0
#define INFO_TTL_S 0.5
#define BULK_WAIT_S 5.0
#define MAX_SCHED_PARAMS 16
#define MAX_IOTUNE_PARAMS 32

typedef struct lv lv;

/* The opaque of libvirt's callbacks for one connection.  Callbacks may
 * still run (on the event-loop thread) after the backend let go of the
 * connection, so they reach the backend only through `l`, cleared under
 * `mu` when the connection is dropped; the last reference frees it. */
typedef struct lv_evctx {
    pthread_mutex_t mu;
    lv *l;
    atomic_int refs;
} lv_evctx;

/* Operations that log a failure once per streak (lv_guest.warned bits). */
enum {
    OP_INFO, OP_PERIOD, OP_MEMSTATS, OP_BALLOON, OP_SETMEM, OP_CPU, OP_SETCPU,
    OP_IOTUNE, OP_SETIO, OP_AGENT, OP_XML, OP_LOOKUP,
};
static const char *const op_names[] = {
    "domain info", "statistics period", "memory statistics", "balloon info",
    "set balloon target", "CPU tune info", "set CPU tune", "I/O tune",
    "set I/O tune", "guest agent command", "domain XML", "lookup",
};

typedef struct lv_guest {
    int refs; /* under mu */
    struct lv_guest *prev, *next;
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *name;
    virDomainPtr dom;
    unsigned mark; /* listing in which it was last seen */
    /* slow data, written only by the guest's own operations */
    bool xml_ok; /* under mu: false after an event or on expiry */
    double xml_time;
    libvirt_xml_domain xml;
    /* one collection's virDomainGetInfo */
    bool info_ok;
    double info_time;
    virDomainInfo info;
    /* bulk statistics of the fetch at bulk_time */
    double bulk_time;
    libvirt_xml_bulk bulk;
    bool pid_ok;
    int64_t pid;
    int inject; /* a virErrorNumber for the next call (tests) */
    uint32_t warned;
} lv_guest;

/* What dropping a connection hands over for release outside the lock. */
typedef struct lv_detached {
    virConnectPtr conn;
    int event_id;
    bool close_cb;
    lv_evctx *ctx;
    lv_guest *guests;
} lv_detached;

struct lv {
    pthread_mutex_t mu;
    pthread_cond_t bulk_cv;
    const mlog *log;
    hv *self; /* for self->wake, read from operations */
    char *uri; /* NULL: libvirt's default */
    char *proc_root;
    char *pid_dir;
    bool pid_any_driver;
    double fresh_s; /* bulk statistics younger than this are reused */
    double xml_ttl;
    double backoff_min, backoff_max;

    /* connection (mu) */
    virConnectPtr conn;
    unsigned gen; /* bumped whenever the connection changes */
    bool connecting;
    bool loop_held;
    bool is_qemu;
    int event_id;
    bool close_cb;
    lv_evctx *ctx;
    double next_attempt, backoff;
    bool ever_connected, failing, lost;
    atomic_bool conn_lost; /* set by the close callback */
    void (*wake)(void *);
    void *wake_ctx;
    int list_inject;

    /* guests (mu) */
    strmap by_uuid;
    lv_guest *guests; /* doubly linked, for sweeping */
    unsigned mark;

    /* bulk statistics (mu) */
    int bulk_state; /* 0 unknown, 1 supported, -1 not offered */
    bool bulk_fetching;
    double bulk_time;
    unsigned bulk_gen;

    atomic_uint_fast64_t calls, events;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count(lv *l)
{
    atomic_fetch_add_explicit(&l->calls, 1, memory_order_relaxed);
}

/* libvirt calls this instead of printing an error (per connection). */
static void silent_error(void *userdata, virErrorPtr err)
{
    (void)userdata;
    (void)err;
}

/* ---- guests ---------------------------------------------------------------- */

static void guest_unref_locked(lv_guest *g, virDomainPtr *ret_dom)
{
    if (--g->refs > 0)
        return;
    *ret_dom = g->dom;
    mom_free(g->name);
    libvirt_xml_domain_done(&g->xml);
    mom_free(g);
}

/* Drop a reference outside the lock. */
static void guest_unref(lv *l, lv_guest *g)
{
    virDomainPtr dom = NULL;
    pthread_mutex_lock(&l->mu);
    guest_unref_locked(g, &dom);
    pthread_mutex_unlock(&l->mu);
    if (dom)
        virDomainFree(dom);
}

static void guest_unlink_locked(lv *l, lv_guest *g)
{
    strmap_del(&l->by_uuid, g->uuid);
    if (g->prev)
        g->prev->next = g->next;
    else
        l->guests = g->next;
    if (g->next)
        g->next->prev = g->prev;
    g->prev = g->next = NULL;
}

/* A new cache entry for `dom` (whose reference it takes), inserted. */
static lv_guest *guest_new_locked(lv *l, virDomainPtr dom, const char *uuid)
{
    lv_guest *g = mom_calloc(1, sizeof(*g));
    const char *name = virDomainGetName(dom);
    if (!g || !(g->name = mom_strdup(name ? name : uuid))) {
        mom_free(g);
        return NULL;
    }
    snprintf(g->uuid, sizeof(g->uuid), "%s", uuid);
    g->dom = dom;
    g->refs = 1;
    g->bulk_time = -1;
    if (strmap_put(&l->by_uuid, g->uuid, g) < 0) {
        mom_free(g->name);
        mom_free(g);
        return NULL;
    }
    g->next = l->guests;
    if (l->guests)
        l->guests->prev = g;
    l->guests = g;
    return g;
}

/* ---- the connection ----------------------------------------------------------- */

static void evctx_unref(void *opaque)
{
    lv_evctx *c = opaque;
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
        pthread_mutex_destroy(&c->mu);
        mom_free(c);
    }
}

static void wake_engine(void (*fn)(void *), void *ctx)
{
    if (fn)
        fn(ctx);
}

/* VIR_DOMAIN_EVENT_ID_LIFECYCLE, on the event-loop thread. */
static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
                        void *opaque)
{
    (void)conn;
    (void)detail;
    lv_evctx *c = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom, uuid) < 0)
        return 0;
    void (*fn)(void *) = NULL;
    void *fn_ctx = NULL;
    pthread_mutex_lock(&c->mu);
    lv *l = c->l;
    if (l) {
        atomic_fetch_add(&l->events, 1);
        pthread_mutex_lock(&l->mu);
        lv_guest *g = strmap_get(&l->by_uuid, uuid);
        if (g) {
            g->xml_ok = false;
            g->info_ok = false;
            if (event == VIR_DOMAIN_EVENT_STARTED || event == VIR_DOMAIN_EVENT_STOPPED)
                g->pid_ok = false;
        }
        if (event == VIR_DOMAIN_EVENT_STARTED || event == VIR_DOMAIN_EVENT_STOPPED ||
            event == VIR_DOMAIN_EVENT_CRASHED || event == VIR_DOMAIN_EVENT_UNDEFINED) {
            fn = l->wake;
            fn_ctx = l->wake_ctx;
        }
        pthread_mutex_unlock(&l->mu);
    }
    pthread_mutex_unlock(&c->mu);
    wake_engine(fn, fn_ctx);
    return 0;
}

/* libvirt's close callback: the daemon went away or the keepalive failed. */
static void on_close(virConnectPtr conn, int reason, void *opaque)
{
    (void)conn;
    (void)reason;
    lv_evctx *c = opaque;
    void (*fn)(void *) = NULL;
    void *fn_ctx = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->l) {
        atomic_store(&c->l->conn_lost, true);
        pthread_mutex_lock(&c->l->mu);
        fn = c->l->wake;
        fn_ctx = c->l->wake_ctx;
        pthread_mutex_unlock(&c->l->mu);
    }
    pthread_mutex_unlock(&c->mu);
    wake_engine(fn, fn_ctx);
}

/* Take the connection and every cached guest out of the backend (under
 * mu); detached_release() frees them after the lock is released. */
static void conn_detach_locked(lv *l, lv_detached *d)
{
    memset(d, 0, sizeof(*d));
    d->conn = l->conn;
    d->event_id = l->event_id;
    d->close_cb = l->close_cb;
    d->ctx = l->ctx;
    l->conn = NULL;
    l->ctx = NULL;
    l->event_id = -1;
    l->close_cb = false;
    l->gen++;
    l->bulk_state = 0;
    l->bulk_time = 0;
    atomic_store(&l->conn_lost, false);
    /* Cache entries belong to the connection: move them to the list. */
    lv_guest *g = l->guests;
    while (g) {
        lv_guest *next = g->next;
        guest_unlink_locked(l, g);
        g->next = d->guests;
        d->guests = g;
        g = next;
    }
}

static void detached_release(lv *l, lv_detached *d)
{
    if (d->ctx) {
        pthread_mutex_lock(&d->ctx->mu);
        d->ctx->l = NULL;
        pthread_mutex_unlock(&d->ctx->mu);
    }
    if (d->conn) {
        if (d->event_id >= 0)
            virConnectDomainEventDeregisterAny(d->conn, d->event_id);
        if (d->close_cb) {
            virConnectUnregisterCloseCallback(d->conn, on_close);
            evctx_unref(d->ctx); /* the close callback's reference */
        }
    }
    while (d->guests) {
        lv_guest *g = d->guests;
        d->guests = g->next;
        g->next = NULL;
        guest_unref(l, g);
    }
    if (d->conn)
        virConnectClose(d->conn);
    evctx_unref(d->ctx); /* ours */
}

/* Drop the connection of generation `gen` (nothing when it was already
 * replaced), logging why once. */
static void conn_lost(lv *l, unsigned gen, const char *why)
{
    lv_detached d;
    pthread_mutex_lock(&l->mu);
    if (gen != l->gen || !l->conn) {
        pthread_mutex_unlock(&l->mu);
        return;
    }
    conn_detach_locked(l, &d);
    l->lost = true;
    l->backoff = 0;
    l->next_attempt = 0; /* the first reconnection is attempted at once */
    pthread_mutex_unlock(&l->mu);
    mlog_msg(l->log, MOM_LOG_WARN, LOGGER,
             "connection to libvirt lost (%s); reconnecting with backoff", why);
    detached_release(l, &d);
}

/* Open and set up a connection (no lock held).  Returns the connection or
 * NULL; *ret_* describe the registrations made. */
static virConnectPtr conn_open(lv *l, const char *uri, lv_evctx *ctx, bool use_events,
                               int *ret_event_id, bool *ret_close_cb, bool *ret_is_qemu,
                               char *errbuf, size_t errlen)
{
    count(l);
    virConnectPtr conn = virConnectOpen(uri);
    if (!conn) {
        snprintf(errbuf, errlen, "%s", virGetLastErrorMessage());
        return NULL;
    }
    virConnSetErrorFunc(conn, NULL, silent_error);
    const char *type = virConnectGetType(conn);
    *ret_is_qemu = type && strcasecmp(type, "QEMU") == 0;
    *ret_event_id = -1;
    *ret_close_cb = false;
    if (use_events) {
        atomic_fetch_add(&ctx->refs, 1); /* freed through evctx_unref */
        count(l);
        *ret_event_id = virConnectDomainEventRegisterAny(
            conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
            ctx, evctx_unref);
        if (*ret_event_id < 0) {
            evctx_unref(ctx);
            mlog_msg(l->log, MOM_LOG_WARN, LOGGER,
                     "no lifecycle events from libvirt (%s): new guests are seen at the next "
                     "guest-manager interval",
                     virGetLastErrorMessage());
        }
        atomic_fetch_add(&ctx->refs, 1); /* released by detached_release */
        if (virConnectRegisterCloseCallback(conn, on_close, ctx, NULL) == 0)
            *ret_close_cb = true;
        else
            evctx_unref(ctx);
        /* Remote connections notice a dead daemon through keepalive; other
         * drivers refuse it, which is fine. */
        virConnectSetKeepAlive(conn, 5, 3);
    }
    return conn;
}

/* Make sure there is a connection (called and returning with mu held; the
 * lock is released while connecting).  0 or -EIO. */
static int conn_ensure_locked(lv *l)
{
    if (l->conn && atomic_load(&l->conn_lost)) {
        unsigned gen = l->gen;
        pthread_mutex_unlock(&l->mu);
        conn_lost(l, gen, "libvirt closed it");
        pthread_mutex_lock(&l->mu);
    }
    if (l->conn)
        return 0;
    double now = now_s();
    if (l->connecting || now < l->next_attempt)
        return -EIO;
    l->connecting = true;
    char *uri = l->uri ? mom_strdup(l->uri) : NULL;
    bool need_loop = !l->loop_held;
    l->wake = l->self ? l->self->wake : NULL;
    l->wake_ctx = l->self ? l->self->wake_ctx : NULL;
    pthread_mutex_unlock(&l->mu);

    bool use_events = true, loop_ours = false;
    if (need_loop) {
        if (libvirt_loop_acquire(&loop_ours) < 0) {
            use_events = false;
            need_loop = false;
        }
    }
    lv_evctx *ctx = mom_calloc(1, sizeof(*ctx));
    char err[512] = "";
    int event_id = -1;
    bool close_cb = false, is_qemu = false;
    virConnectPtr conn = NULL;
    if (ctx) {
        pthread_mutex_init(&ctx->mu, NULL);
        atomic_init(&ctx->refs, 1);
        ctx->l = l;
        conn = conn_open(l, uri, ctx, use_events, &event_id, &close_cb, &is_qemu, err,
                         sizeof(err));
    } else {
        snprintf(err, sizeof(err), "out of memory");
    }

    pthread_mutex_lock(&l->mu);
    l->connecting = false;
    if (need_loop)
        l->loop_held = true;
    if (!conn) {
        l->backoff = l->backoff > 0 ? l->backoff * 2 : l->backoff_min;
        if (l->backoff > l->backoff_max)
            l->backoff = l->backoff_max;
        l->next_attempt = now_s() + l->backoff;
        bool first = !l->failing;
        l->failing = true;
        pthread_mutex_unlock(&l->mu);
        mlog_msg(l->log, first ? MOM_LOG_WARN : MOM_LOG_DEBUG, LOGGER,
                 "cannot connect to libvirt at %s: %s; retrying in %.0f s%s",
                 uri ? uri : "(default URI)", err, l->backoff,
                 first ? " (doubling up to a minute; no guests until then)" : "");
        if (ctx) {
            ctx->l = NULL;
            evctx_unref(ctx);
        }
        mom_free(uri);
        pthread_mutex_lock(&l->mu);
        return -EIO;
    }
    l->conn = conn;
    l->gen++;
    l->ctx = ctx;
    l->event_id = event_id;
    l->close_cb = close_cb;
    l->is_qemu = is_qemu;
    l->backoff = 0;
    bool again = l->failing || l->lost;
    bool first = !l->ever_connected;
    l->failing = l->lost = false;
    l->ever_connected = true;
    pthread_mutex_unlock(&l->mu);
    if (again || first)
        mlog_msg(l->log, MOM_LOG_INFO, LOGGER, "%s libvirt at %s",
                 again && !first ? "connection restored to" : "connected to",
                 uri ? uri : "(default URI)");
    mom_free(uri);
    pthread_mutex_lock(&l->mu);
    return 0;
}

/* ---- errors --------------------------------------------------------------------- */

/* The result of a failed libvirt call with error `code` (message `msg`)
 * made on connection generation `gen` for guest `g` (NULL for connection
 * calls).  `is_get`: a read, where "operation invalid" means no data.
 * Connection errors drop the connection; an unexpected error is logged
 * once per streak of failures of that operation. */
static int fail(lv *l, unsigned gen, lv_guest *g, virDomainPtr dom, int op, int code,
                const char *msg, bool is_get)
{
    switch (code) {
    case VIR_ERR_NO_DOMAIN:
        return -ENOENT;
    case VIR_ERR_OPERATION_INVALID:
        /* "domain is not running" when it stopped under us */
        if (dom) {
            count(l);
            if (virDomainIsActive(dom) == 0)
                return -ENOENT;
        }
        if (is_get)
            return -ENODATA;
        break;
    case VIR_ERR_NO_SUPPORT:
    case VIR_ERR_ARGUMENT_UNSUPPORTED:
    case VIR_ERR_OPERATION_UNSUPPORTED:
        return -ENOTSUP;
    case VIR_ERR_OPERATION_TIMEOUT:
    case VIR_ERR_AGENT_UNRESPONSIVE:
        return -ETIMEDOUT;
    case VIR_ERR_SYSTEM_ERROR:
    case VIR_ERR_INVALID_CONN:
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_RPC:
        conn_lost(l, gen, msg && *msg ? msg : "connection error");
        return -EIO;
    default:
        break;
    }
    bool log = true;
    if (g) {
        pthread_mutex_lock(&l->mu);
        log = !(g->warned & (1u << op));
        g->warned |= 1u << op;
        pthread_mutex_unlock(&l->mu);
    }
    if (log)
        mlog_msg(l->log, MOM_LOG_WARN, LOGGER, "%s%s%s failed: %s", g ? g->name : "",
                 g ? ": " : "", op_names[op], msg && *msg ? msg : "unknown libvirt error");
    return -EIO;
}

/* fail() with the calling thread's last libvirt error. */
static int fail_last(lv *l, unsigned gen, lv_guest *g, virDomainPtr dom, int op, bool is_get)
{
    virErrorPtr e = virGetLastError();
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "");
    return fail(l, gen, g, dom, op, e ? e->code : VIR_ERR_INTERNAL_ERROR, msg, is_get);
}

/* ---- one operation on one guest ------------------------------------------------------ */

typedef struct lv_op {
    lv *l;
    lv_guest *g;
    virDomainPtr dom;
    unsigned gen;
} lv_op;

/* The operation succeeded: re-arm its failure log. */
static void op_ok(lv_op *op, int which)
{
    if (op->g->warned & (1u << which)) {
        pthread_mutex_lock(&op->l->mu);
        op->g->warned &= ~(1u << which);
        pthread_mutex_unlock(&op->l->mu);
    }
}

/* Begin an operation on guest `id`: a connection, the cache entry (looked
 * up by UUID when the listing has not brought it) and a domain reference.
 * Returns 0, or what the operation must return. */
static int op_begin(lv *l, const char *id, int which, lv_op *op)
{
    memset(op, 0, sizeof(*op));
    op->l = l;
    if (!id)
        return -EINVAL;
    pthread_mutex_lock(&l->mu);
    if (conn_ensure_locked(l) < 0) {
        pthread_mutex_unlock(&l->mu);
        return -EIO;
    }
    lv_guest *g = strmap_get(&l->by_uuid, id);
    unsigned gen = l->gen;
    if (!g) {
        virConnectPtr conn = l->conn;
        virConnectRef(conn);
        pthread_mutex_unlock(&l->mu);
        count(l);
        virDomainPtr dom = virDomainLookupByUUIDString(conn, id);
        if (!dom) {
            int r = fail_last(l, gen, NULL, NULL, OP_LOOKUP, true);
            virConnectClose(conn);
            return r;
        }
        pthread_mutex_lock(&l->mu);
        if (gen != l->gen) {
            pthread_mutex_unlock(&l->mu);
            virDomainFree(dom);
            virConnectClose(conn);
            return -EIO;
        }
        g = strmap_get(&l->by_uuid, id);
        if (g) {
            virDomainFree(dom); /* a listing brought it meanwhile */
        } else if (!(g = guest_new_locked(l, dom, id))) {
            pthread_mutex_unlock(&l->mu);
            virDomainFree(dom);
            virConnectClose(conn);
            return -ENOMEM;
        }
        g->mark = l->mark;
        virConnectClose(conn);
    }
    g->refs++;
    op->g = g;
    op->dom = g->dom;
    virDomainRef(op->dom);
    op->gen = gen;
    int inject = g->inject;
    g->inject = 0;
    pthread_mutex_unlock(&l->mu);
    if (inject) {
        char msg[64];
        snprintf(msg, sizeof(msg), "injected error %d", inject);
        int r = fail(l, gen, g, op->dom, which, inject, msg, true);
        virDomainFree(op->dom);
        guest_unref(l, g);
        memset(op, 0, sizeof(*op));
        return r;
    }
    return 0;
}

static void op_end(lv_op *op)
{
    if (op->dom)
        virDomainFree(op->dom);
    if (op->g)
        guest_unref(op->l, op->g);
    memset(op, 0, sizeof(*op));
}

/* Make sure op->g->xml is fresh (the cached XML is younger than the TTL
 * and no event invalidated it).  0 or what the operation must return. */
static int op_xml(lv_op *op)
{
    lv *l = op->l;
    lv_guest *g = op->g;
    double now = now_s();
    pthread_mutex_lock(&l->mu);
    bool fresh = g->xml_ok && now - g->xml_time < l->xml_ttl;
    pthread_mutex_unlock(&l->mu);
    if (fresh)
        return 0;
    count(l);
    char *text = virDomainGetXMLDesc(op->dom, 0);
    if (!text)
        return fail_last(l, op->gen, g, op->dom, OP_XML, true);
    libvirt_xml_domain d;
    int r = libvirt_xml_parse_domain(text, &d);
    free(text);
    if (r < 0) {
        if (r == -EINVAL)
            return fail(l, op->gen, g, NULL, OP_XML, VIR_ERR_XML_ERROR,
                        "the domain XML cannot be parsed", true);
        return r;
    }
    /* Only this guest's operations write g->xml, and never two at once. */
    libvirt_xml_domain old = g->xml;
    pthread_mutex_lock(&l->mu);
    g->xml = d;
    g->xml_ok = true;
    g->xml_time = now;
    pthread_mutex_unlock(&l->mu);
    libvirt_xml_domain_done(&old);
    op_ok(op, OP_XML);
    return 0;
}

/* virDomainGetInfo, reused within INFO_TTL_S (one collection asks twice:
 * balloon info and CPU tune).  -ENOENT when the domain no longer runs. */
static int op_info(lv_op *op, virDomainInfo *ret)
{
    lv *l = op->l;
    lv_guest *g = op->g;
    double now = now_s();
    pthread_mutex_lock(&l->mu);
    bool fresh = g->info_ok && now - g->info_time < INFO_TTL_S;
    if (fresh)
        *ret = g->info;
    pthread_mutex_unlock(&l->mu);
    if (!fresh) {
        count(l);
        if (virDomainGetInfo(op->dom, ret) < 0)
            return fail_last(l, op->gen, g, op->dom, OP_INFO, true);
        pthread_mutex_lock(&l->mu);
        g->info = *ret;
        g->info_ok = true;
        g->info_time = now;
        pthread_mutex_unlock(&l->mu);
        op_ok(op, OP_INFO);
    }
    if (ret->state == VIR_DOMAIN_SHUTOFF || ret->state == VIR_DOMAIN_NOSTATE)
        return -ENOENT;
    return 0;
}

/* ---- bulk statistics ------------------------------------------------------------------- */

/* Fetch balloon statistics of every running domain in one call (mu held,
 * released during the call). */
static void bulk_fetch_locked(lv *l)
{
    virConnectPtr conn = l->conn;
    unsigned gen = l->gen;
    virConnectRef(conn);
    l->bulk_fetching = true;
    pthread_mutex_unlock(&l->mu);

    virDomainStatsRecordPtr *recs = NULL;
    count(l);
    double now = now_s();
    int n = virConnectGetAllDomainStats(conn, VIR_DOMAIN_STATS_BALLOON, &recs,
                                        VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE |
                                            VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS);
    int code = 0;
    char msg[512] = "";
    if (n < 0) {
        virErrorPtr e = virGetLastError();
        code = e ? e->code : VIR_ERR_INTERNAL_ERROR;
        snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "");
    }

    pthread_mutex_lock(&l->mu);
    l->bulk_fetching = false;
    pthread_cond_broadcast(&l->bulk_cv);
    if (gen == l->gen) {
        if (n < 0 && (code == VIR_ERR_NO_SUPPORT || code == VIR_ERR_ARGUMENT_UNSUPPORTED ||
                      code == VIR_ERR_INVALID_ARG || code == VIR_ERR_OPERATION_UNSUPPORTED)) {
            l->bulk_state = -1;
            mlog_msg(l->log, MOM_LOG_DEBUG, LOGGER,
                     "no bulk balloon statistics (%s): one call per guest instead", msg);
        } else if (n >= 0) {
            l->bulk_state = 1;
            l->bulk_time = now;
            l->bulk_gen = gen;
            for (int i = 0; i < n; i++) {
                char uuid[VIR_UUID_STRING_BUFLEN];
                if (virDomainGetUUIDString(recs[i]->dom, uuid) < 0)
                    continue;
                lv_guest *g = strmap_get(&l->by_uuid, uuid);
                if (!g)
                    continue;
                libvirt_xml_parse_bulk(recs[i]->params, recs[i]->nparams, &g->bulk);
                g->bulk_time = now;
            }
        }
    }
    pthread_mutex_unlock(&l->mu);
    if (recs)
        virDomainStatsRecordListFree(recs);
    virConnectClose(conn);
    if (n < 0 && code != VIR_ERR_NO_SUPPORT && code != VIR_ERR_ARGUMENT_UNSUPPORTED &&
        code != VIR_ERR_INVALID_ARG && code != VIR_ERR_OPERATION_UNSUPPORTED)
        fail(l, gen, NULL, NULL, OP_MEMSTATS, code, msg, true);
    pthread_mutex_lock(&l->mu);
}

/* This guest's record of a recent bulk fetch, fetching when the last one
 * is older than fresh_s.  true when *ret was filled. */
static bool bulk_get(lv_op *op, libvirt_xml_bulk *ret)
{
    lv *l = op->l;
    bool got = false;
    pthread_mutex_lock(&l->mu);
    double deadline = now_s() + BULK_WAIT_S;
    for (;;) {
        if (l->bulk_state < 0 || !l->conn || l->gen != op->gen)
            break;
        double now = now_s();
        if (l->bulk_state > 0 && l->bulk_gen == l->gen && now - l->bulk_time < l->fresh_s) {
            if (op->g->bulk_time == l->bulk_time) {
                *ret = op->g->bulk;
                got = true;
            }
            break;
        }
        if (l->bulk_fetching) {
            if (now >= deadline)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&l->bulk_cv, &l->mu, &ts);
            continue;
        }
        bulk_fetch_locked(l);
        if (l->bulk_fetching == false && (l->bulk_state <= 0 || l->bulk_gen != l->gen ||
                                          now_s() - l->bulk_time >= l->fresh_s))
            break; /* the fetch failed: do not loop on it */
    }
    pthread_mutex_unlock(&l->mu);
    return got;
}

/* Forget a guest's short-lived data after a change. */
static void op_invalidate(lv_op *op)
{
    pthread_mutex_lock(&op->l->mu);
    op->g->info_ok = false;
    op->g->bulk_time = -1;
    pthread_mutex_unlock(&op->l->mu);
}

/* ---- QEMU pid --------------------------------------------------------------------------- */

typedef struct pid_scan {
    const char *uuid;
    procfs_buf buf;
    long pid;
    int matches;
} pid_scan;

/* Whether /proc/PID/cmdline (NUL-separated) contains `uuid`. */
static bool cmdline_has(int piddir, const char *uuid, procfs_buf *buf)
{
    if (procfs_read_at(piddir, "cmdline", buf) < 0 || buf->len == 0)
        return false;
    return memmem(buf->data, buf->len, uuid, strlen(uuid)) != NULL;
}

static int scan_one(int dirfd, long pid, const char *comm, void *userdata)
{
    (void)comm;
    pid_scan *s = userdata;
    if (cmdline_has(dirfd, s->uuid, &s->buf)) {
        s->pid = pid;
        s->matches++;
    }
    return 0;
}

/* The QEMU process of domain `name`: libvirt's pid file, confirmed by the
 * UUID in its command line, else the one process whose command line holds
 * the UUID.  0 when unknown. */
static int64_t find_pid(lv *l, const char *name, const char *uuid)
{
    char path[4096];
    char text[32];
    int64_t pid = 0;
    procfs_buf buf = {0};
    if (snprintf(path, sizeof(path), "%s/%s.pid", l->pid_dir, name) < (int)sizeof(path) &&
        procfs_read_small_at(AT_FDCWD, path, text, sizeof(text)) > 0 &&
        procfs_parse_i64(text, &pid) == 0 && pid > 0) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/%" PRId64, l->proc_root, pid);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        bool ok = fd >= 0 && cmdline_has(fd, uuid, &buf);
        if (fd >= 0)
            close(fd);
        procfs_buf_done(&buf);
        if (ok)
            return pid;
    }
    pid_scan s = {.uuid = uuid};
    procfs_foreach_pid(l->proc_root, scan_one, &s);
    procfs_buf_done(&s.buf);
    return s.matches == 1 ? s.pid : 0;
}

/* ---- the operations ---------------------------------------------------------------------- */

static int lv_get_vm_list(mom_hv_list *out, void *userdata)
{
    lv *l = userdata;
    pthread_mutex_lock(&l->mu);
    if (conn_ensure_locked(l) < 0) {
        pthread_mutex_unlock(&l->mu);
        return -EIO;
    }
    virConnectPtr conn = l->conn;
    unsigned gen = l->gen;
    int inject = l->list_inject;
    l->list_inject = 0;
    virConnectRef(conn);
    pthread_mutex_unlock(&l->mu);

    virDomainPtr *doms = NULL;
    int n = -1, rc = 0;
    if (inject) {
        rc = fail(l, gen, NULL, NULL, OP_LOOKUP, inject, "injected error", true);
        goto out;
    }
    count(l);
    n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0) {
        rc = fail_last(l, gen, NULL, NULL, OP_LOOKUP, true);
        goto out;
    }
    lv_detached gone = {0};
    pthread_mutex_lock(&l->mu);
    if (gen != l->gen) {
        pthread_mutex_unlock(&l->mu);
        rc = -EIO;
        goto out;
    }
    unsigned mark = ++l->mark;
    for (int i = 0; i < n && rc == 0; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        if (virDomainGetUUIDString(doms[i], uuid) < 0)
            continue;
        lv_guest *g = strmap_get(&l->by_uuid, uuid);
        if (!g) {
            if (!(g = guest_new_locked(l, doms[i], uuid)))
                rc = -ENOMEM;
            else
                doms[i] = NULL; /* the cache took it */
        }
        if (g)
            g->mark = mark;
        if (rc == 0)
            rc = mom_hv_list_add(out, uuid);
    }
    /* Guests that are no longer running leave the cache. */
    if (rc == 0) {
        lv_guest *g = l->guests;
        while (g) {
            lv_guest *next = g->next;
            if (g->mark != mark) {
                guest_unlink_locked(l, g);
                g->next = gone.guests;
                gone.guests = g;
            }
            g = next;
        }
    }
    pthread_mutex_unlock(&l->mu);
    while (gone.guests) {
        lv_guest *g = gone.guests;
        gone.guests = g->next;
        g->next = NULL;
        guest_unref(l, g);
    }
out:
    for (int i = 0; i < n; i++)
        if (doms[i])
            virDomainFree(doms[i]);
    free(doms);
    virConnectClose(conn);
    return rc;
}

static int lv_get_vm_info(const char *id, mom_hv_guest_info *ret, void *userdata)
{
    lv *l = userdata;
    lv_op op;
    int r = op_begin(l, id, OP_INFO, &op);
    if (r < 0)
        return r;
    pthread_mutex_lock(&l->mu);
    bool pid_ok = op.g->pid_ok;
    bool want_pid = l->is_qemu || l->pid_any_driver;
    pthread_mutex_unlock(&l->mu);
    if (!pid_ok) {
        int64_t pid = want_pid ? find_pid(l, op.g->name, op.g->uuid) : 0;
        pthread_mutex_lock(&l->mu);
        op.g->pid = pid;
        op.g->pid_ok = pid > 0 || !want_pid;
        pthread_mutex_unlock(&l->mu);
    }
    snprintf(ret->name, sizeof(ret->name), "%s", op.g->name);
    snprintf(ret->uuid, sizeof(ret->uuid), "%s", op.g->uuid);
    ret->pid = op.g->pid;
    op_end(&op);
    return 0;
}

static int lv_start_vm_memory_stats(const char *id, int period_s, void *userdata)
{
    lv *l = userdata;
    lv_op op;
    int r = op_begin(l, id, OP_PERIOD, &op);
    if (r < 0)
        return r;
    if ((r = op_xml(&op)) == 0) {
        if (!op.g->xml.has_balloon) {
            r = -ENOTSUP;
        } else {
            count(l);
            if (virDomainSetMemoryStatsPeriod(op.dom, period_s, VIR_DOMAIN_AFFECT_LIVE) < 0)
                r = fail_last(l, op.gen, op.g, op.dom, OP_PERIOD, false);
            else
                op_ok(&op, OP_PERIOD);
        }
    }
    op_end(&op);
    return r;
}

static int lv_get_vm_memory_stats(const char *id, mom_hv_memory_stats *ret, void *userdata)
{
    lv *l = userdata;
    lv_op op;
    int r = op_begin(l, id, OP_MEMSTATS, &op);
    if (r < 0)
        return r;
    if ((r = op_xml(&op)) < 0)
        goto out;
    if (!op.g->xml.has_balloon) {
        r = -ENODATA; /* no balloon device: the guest cannot report */
        goto out;
    }
    libvirt_xml_bulk b;
    if (bulk_get(&op, &b)) {
        ret->present = b.mem.present;
        ret->mem_available = b.mem.mem_available;
        ret->mem_unused = b.mem.mem_unused;
        ret->mem_free = b.mem.mem_free;
        ret->major_fault = b.mem.major_fault;
        ret->minor_fault = b.mem.minor_fault;
        ret->swap_in = b.mem.swap_in;
        ret->swap_out = b.mem.swap_out;
        ret->mem_usable = b.mem.mem_usable;
        r = ret->present ? 0 : -ENODATA;
        goto out;
    }
    virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
    count(l);
    int n = virDomainMemoryStats(op.dom, st, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    if (n < 0) {
        r = fail_last(l, op.gen, op.g, op.dom, OP_MEMSTATS, true);
        goto out;
    }
    op_ok(&op, OP_MEMSTATS);
    r = libvirt_xml_map_memstats(st, n, ret) ? 0 : -ENODATA;
out:
    op_end(&op);
    return r;
}

static int lv_get_vm_balloon_info(const char *id, mom_hv_balloon_info *ret, void *userdata)
{
    lv *l = userdata;
    lv_op op;
    int r = op_begin(l, id, OP_BALLOON, &op);
    if (r < 0)
        return r;
    if ((r = op_xml(&op)) < 0)
        goto out;
    if (!op.g->xml.has_balloon) {
        r = -ENODATA;
        goto out;
    }
    libvirt_xml_bulk b;
    if (bulk_get(&op, &b) && b.has_cur && b.has_max) {
        ret->balloon_cur = b.cur;
        ret->balloon_max = b.max;
    } else {
        virDomainInfo info;
        if ((r = op_info(&op, &info)) < 0)
            goto out;
        ret->balloon_cur = (int64_t)info.memory;
        ret->balloon_max = (int64_t)info.maxMem;
    }
    ret->balloon_min = op.g->xml.balloon_min;
out:
    op_end(&op);
    return r;
}

static int lv_set_vm_balloon_target(const char *id, int64_t target_kib, void *userdata)
{
    lv *l = userdata;
    if (target_kib <= 0 || (uint64_t)target_kib > (uint64_t)ULONG_MAX)
        return -EINVAL;
    lv_op op;
    int r = op_begin(l, id, OP_SETMEM, &op);
    if (r < 0)
        return r;
    if ((r = op_xml(&op)) == 0) {
        if (!op.g->xml.has_balloon) {
            r = -ENOTSUP;
        } else {
            count(l);
            if (virDomainSetMemory(op.dom, (unsigned long)target_kib) < 0)
                r = fail_last(l, op.gen, op.g, op.dom, OP_SETMEM, false);
            else
                op_ok(&op, OP_SETMEM);
            op_invalidate(&op);
        }
    }
    op_end(&op);
    return r;
}

static int lv_get_vm_cpu_tune_info(const char *id, mom_hv_cpu_tune_info *ret, void *userdata)
{
    lv *l = userdata;
    lv_op op;
    int r = op_begin(l, id, OP_CPU, &op);
    if (r < 0)
        return r;
    if ((r = op_xml(&op)) < 0)
        goto out;
    virTypedParameter p[MAX_SCHED_PARAMS];
    int n = MAX_SCHED_PARAMS;
    ret->vcpu_quota = 0;
    ret->vcpu_period = 0;
    count(l);
    /* The legacy call: the test driver refuses the flags the newer one
     * adds; for a running domain both read the live values. */
    if (virDomainGetSchedulerParameters(op.dom, p, &n) < 0) {
        r = fail_last(l, op.gen, op.g, op.dom, OP_CPU, true);
        if (r != -ENOTSUP)
            goto out;
        n = 0; /* no scheduler parameters: quota and period 0 */
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(p[i].field, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA) == 0 &&
            p[i].type == VIR_TYPED_PARAM_LLONG)
            ret->vcpu_quota = p[i].value.l;
        else if (strcmp(p[i].field, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD) == 0 &&
                 p[i].type == VIR_TYPED_PARAM_ULLONG && p[i].value.ul <= INT64_MAX)
            ret->vcpu_period = (int64_t)p[i].value.ul;
    }
    virTypedParamsClear(p, n);
    virDomainInfo info;
    if ((r = op_info(&op, &info)) < 0)
        goto out;
    ret->vcpu_count = info.nrVirtCpu;
    ret->vcpu_user_limit = op.g->xml.vcpu_user_limit;
    op_ok(&op, OP_CPU);
out:
    op_end(&op);
    return r;
}

static int lv_set_vm_cpu_tune(const char *id, int64_t quota, int64_t period, void *userdata)
{
    lv *l = userdata;
    virTypedParameter p[2];
    int n = 0;
    memset(p, 0, sizeof(p));
    snprintf(p[n].field, sizeof(p[n].field), "%s", VIR_DOMAIN_SCHEDULER_VCPU_QUOTA);
    p[n].type = VIR_TYPED_PARAM_LLONG;
    p[n++].value.l = quota;
    if (period > 0) {
        snprintf(p[n].field, sizeof(p[n].field), "%s", VIR_DOMAIN_SCHEDULER_VCPU_PERIOD);
        p[n].type = VIR_TYPED_PARAM_ULLONG;
        p[n++].value.ul = (unsigned long long)period;
    }
    lv_op op;
    int r = op_begin(l, id, OP_SETCPU, &op);
    if (r < 0)
        return r;
    count(l);
    if (virDomainSetSchedulerParametersFlags(op.dom, p, n, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        r = fail_last(l, op.gen, op.g, op.dom, OP_SETCPU, false);
    else
        op_ok(&op, OP_SETCPU);
    op_end(&op);
    return r;
}

static int lv_get_vm_io_tune_policy(const char *id, mom_hv_disk_list *out, void *userdata)
{
    lv *l = userdata;
    lv_op op;
    int r = op_begin(l, id, OP_IOTUNE, &op);
    if (r < 0)
        return r;
    if ((r = op_xml(&op)) == 0)
        for (size_t i = 0; r == 0 && i < op.g->xml.n_policy; i++) {
            const libvirt_xml_disk *d = &op.g->xml.policy[i];
            r = mom_hv_disk_list_add_policy(out, d->name, d->path, &d->guaranteed, &d->maximum);
        }
    op_end(&op);
    return r;
}

/* The six limits out of virDomainGetBlockIoTune's parameters. */
static void limits_from_params(const virTypedParameter *p, int n, mom_hv_io_limits *ret)
{
    memset(ret, 0, sizeof(*ret));
    int64_t *slots[6] = {&ret->total_bytes_sec, &ret->read_bytes_sec, &ret->write_bytes_sec,
                         &ret->total_iops_sec,  &ret->read_iops_sec,  &ret->write_iops_sec};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 6; k++)
            if (strcmp(p[i].field, hv_limit_names[k]) == 0 &&
                p[i].type == VIR_TYPED_PARAM_ULLONG && p[i].value.ul <= INT64_MAX) {
                *slots[k] = (int64_t)p[i].value.ul;
                ret->present |= 1u << k;
            }
}

static int lv_get_vm_io_tune(const char *id, mom_hv_disk_list *out, void *userdata)
{
    lv *l = userdata;
    lv_op op;
    int r = op_begin(l, id, OP_IOTUNE, &op);
    if (r < 0)
        return r;
    if ((r = op_xml(&op)) < 0)
        goto out;
    for (size_t i = 0; i < op.g->xml.n_disks; i++) {
        const libvirt_xml_disk *d = &op.g->xml.disks[i];
        virTypedParameter p[MAX_IOTUNE_PARAMS];
        int n = MAX_IOTUNE_PARAMS;
        count(l);
        if (virDomainGetBlockIoTune(op.dom, d->name ? d->name : d->path, p, &n,
                                    VIR_DOMAIN_AFFECT_LIVE) < 0) {
            virErrorPtr e = virGetLastError();
            if (e && e->code == VIR_ERR_INVALID_ARG) {
                /* the disk went away: read the XML again next time */
                pthread_mutex_lock(&l->mu);
                op.g->xml_ok = false;
                pthread_mutex_unlock(&l->mu);
                continue;
            }
            r = fail_last(l, op.gen, op.g, op.dom, OP_IOTUNE, true);
            goto out;
        }
        mom_hv_io_limits lim;
        limits_from_params(p, n, &lim);
        virTypedParamsClear(p, n);
        if ((r = mom_hv_disk_list_add_tune(out, d->name, d->path, &lim)) < 0)
            goto out;
    }
    op_ok(&op, OP_IOTUNE);
out:
    op_end(&op);
    return r;
}

static int lv_set_vm_io_tune(const char *id, const mom_hv_disk_tune *disks, size_t n_disks,
                             void *userdata)
{
    lv *l = userdata;
    lv_op op;
    int r = op_begin(l, id, OP_SETIO, &op);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n_disks; i++) {
        const char *disk = disks[i].name ? disks[i].name : disks[i].path;
        const mom_hv_io_limits *lim = &disks[i].io_tune;
        const int64_t vals[6] = {lim->total_bytes_sec, lim->read_bytes_sec, lim->write_bytes_sec,
                                 lim->total_iops_sec,  lim->read_iops_sec,  lim->write_iops_sec};
        virTypedParameter p[6];
        int n = 0;
        memset(p, 0, sizeof(p));
        for (int k = 0; k < 6; k++) {
            if (!(lim->present & (1u << k)) || vals[k] < 0)
                continue;
            snprintf(p[n].field, sizeof(p[n].field), "%s", hv_limit_names[k]);
            p[n].type = VIR_TYPED_PARAM_ULLONG;
            p[n++].value.ul = (unsigned long long)vals[k];
        }
        if (!disk || n == 0)
            continue;
        count(l);
        if (virDomainSetBlockIoTune(op.dom, disk, p, n, VIR_DOMAIN_AFFECT_LIVE) < 0) {
            /* The other disks are still tried: one bad limit must not
             * keep the rest from being applied. */
            int e = fail_last(l, op.gen, op.g, op.dom, OP_SETIO, false);
            if (r == 0)
                r = e;
        }
    }
    if (r == 0)
        op_ok(&op, OP_SETIO);
    op_end(&op);
    return r;
}

static int lv_qemu_agent_command(const char *id, const char *command, int timeout_s,
                                 char **ret_reply, void *userdata)
{
    lv *l = userdata;
    lv_op op;
    int r = op_begin(l, id, OP_AGENT, &op);
    if (r < 0)
        return r;
    count(l);
    char *reply = virDomainQemuAgentCommand(op.dom, command, timeout_s, 0);
    if (!reply) {
        r = fail_last(l, op.gen, op.g, op.dom, OP_AGENT, true);
    } else {
        *ret_reply = mom_strdup(reply);
        free(reply);
        r = *ret_reply ? 0 : -ENOMEM;
        op_ok(&op, OP_AGENT);
    }
    op_end(&op);
    return r;
}

static void lv_free_reply(char *reply, void *userdata)
{
    (void)userdata;
    mom_free(reply);
}

static const mom_hv_ops lv_ops = {
    .size = sizeof(mom_hv_ops),
    .get_vm_list = lv_get_vm_list,
    .get_vm_info = lv_get_vm_info,
    .start_vm_memory_stats = lv_start_vm_memory_stats,
    .get_vm_memory_stats = lv_get_vm_memory_stats,
    .get_vm_balloon_info = lv_get_vm_balloon_info,
    .set_vm_balloon_target = lv_set_vm_balloon_target,
    .get_vm_cpu_tune_info = lv_get_vm_cpu_tune_info,
    .set_vm_cpu_tune = lv_set_vm_cpu_tune,
    .get_vm_io_tune_policy = lv_get_vm_io_tune_policy,
    .get_vm_io_tune = lv_get_vm_io_tune,
    .set_vm_io_tune = lv_set_vm_io_tune,
    .ksm_tune = NULL, /* libvirt cannot start or stop ksmd: the engine writes sysfs */
    .qemu_agent_command = lv_qemu_agent_command,
    .free_reply = lv_free_reply,
};

/* ---- life cycle -------------------------------------------------------------------------- */

static void lv_destroy(void *userdata)
{
    lv *l = userdata;
    if (!l)
        return;
    lv_detached d;
    pthread_mutex_lock(&l->mu);
    conn_detach_locked(l, &d);
    bool loop = l->loop_held;
    l->loop_held = false;
    pthread_mutex_unlock(&l->mu);
    detached_release(l, &d);
    if (loop)
        libvirt_loop_release();
    strmap_done(&l->by_uuid);
    mom_free(l->uri);
    mom_free(l->proc_root);
    mom_free(l->pid_dir);
    pthread_cond_destroy(&l->bulk_cv);
    pthread_mutex_destroy(&l->mu);
    mom_free(l);
}

int libvirt_create(const conf *c, const mlog *log, hv *ret)
{
    lv *l = mom_calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->bulk_cv, NULL);
    strmap_init(&l->by_uuid);
    l->log = log;
    l->self = ret;
    l->event_id = -1;
    l->xml_ttl = XML_TTL_S;
    l->backoff_min = 1.0;
    l->backoff_max = 60.0;
    const char *uri = c ? conf_get(c, "main", "libvirt-hypervisor-uri") : NULL;
    const char *proc = c ? conf_get(c, "main", "proc-root") : NULL;
    int64_t interval = c ? conf_get_int(c, "main", "guest-monitor-interval") : 5;
    l->fresh_s = interval > 2 ? (double)interval / 2.0 : 1.0;
    if ((uri && *uri && !(l->uri = mom_strdup(uri))) ||
        !(l->proc_root = mom_strdup(proc && *proc ? proc : "/proc")) ||
        !(l->pid_dir = mom_strdup("/run/libvirt/qemu"))) {
        lv_destroy(l);
        return -ENOMEM;
    }
    /* libxml2 must be initialised before threads use it. */
    xmlInitParser();
    memset(ret, 0, sizeof(*ret));
    ret->name = "libvirt";
    ret->ops = &lv_ops;
    ret->userdata = l;
    ret->destroy = lv_destroy;
    return 0;
}

/* ---- tests and benchmarks ------------------------------------------------------------------- */

uint64_t libvirt_call_count(void *userdata)
{
    return atomic_load(&((lv *)userdata)->calls);
}

uint64_t libvirt_event_count(void *userdata)
{
    return atomic_load(&((lv *)userdata)->events);
}

void *libvirt_test_connection(void *userdata)
{
    lv *l = userdata;
    virConnectPtr conn = NULL;
    pthread_mutex_lock(&l->mu);
    if (conn_ensure_locked(l) == 0) {
        conn = l->conn;
        virConnectRef(conn);
    }
    pthread_mutex_unlock(&l->mu);
    return conn;
}

void libvirt_test_break(void *userdata)
{
    lv *l = userdata;
    atomic_store(&l->conn_lost, true);
}

void libvirt_test_fail_next(void *userdata, const char *id, int vir_error_code)
{
    lv *l = userdata;
    pthread_mutex_lock(&l->mu);
    if (!id) {
        l->list_inject = vir_error_code;
    } else {
        lv_guest *g = strmap_get(&l->by_uuid, id);
        if (g)
            g->inject = vir_error_code;
    }
    pthread_mutex_unlock(&l->mu);
}

int libvirt_test_set_uri(void *userdata, const char *uri)
{
    lv *l = userdata;
    char *u = uri ? mom_strdup(uri) : NULL;
    if (uri && !u)
        return -ENOMEM;
    pthread_mutex_lock(&l->mu);
    mom_free(l->uri);
    l->uri = u;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void libvirt_test_set_backoff(void *userdata, double min_s, double max_s)
{
    lv *l = userdata;
    pthread_mutex_lock(&l->mu);
    l->backoff_min = min_s;
    l->backoff_max = max_s;
    pthread_mutex_unlock(&l->mu);
}

int libvirt_test_set_pid_dir(void *userdata, const char *dir, bool any_driver)
{
    lv *l = userdata;
    char *d = mom_strdup(dir);
    if (!d)
        return -ENOMEM;
    pthread_mutex_lock(&l->mu);
    mom_free(l->pid_dir);
    l->pid_dir = d;
    l->pid_any_driver = any_driver;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void libvirt_test_set_xml_ttl(void *userdata, double seconds)
{
    lv *l = userdata;
    pthread_mutex_lock(&l->mu);
    l->xml_ttl = seconds;
    pthread_mutex_unlock(&l->mu);
}

bool libvirt_test_connected(void *userdata)
{
    lv *l = userdata;
    pthread_mutex_lock(&l->mu);
    bool r = l->conn != NULL;
    pthread_mutex_unlock(&l->mu);
    return r;
}

/* The entry point src/hv/backends.c looks up when it loads this backend
 * from its own shared object (libmom-libvirt.so), so that programs that
 * never use libvirt never map the libvirt client library. */
MOM_API int mom_hv_module_create(const conf *c, const mlog *log, hv *ret);

MOM_API int mom_hv_module_create(const conf *c, const mlog *log, hv *ret)
{
    return libvirt_create(c, log, ret);
}
