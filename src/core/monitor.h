/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Monitors: one per entity (the host, each guest).  A monitor owns its
 * collector instances and its sample history and knows whether it is
 * ready (REFERENCE §3).
 *
 * Threads: monitor_collect() runs on a worker (one at a time per monitor,
 * guaranteed by the pool's keys); everything else runs on the engine
 * thread.  The two meet only through the `pending` result, handed over by
 * the pool's completion.
 */
#ifndef MOM_CORE_MONITOR_H
#define MOM_CORE_MONITOR_H

#include <stdbool.h>

#include "core/api.h"
#include "core/plot.h"
#include "core/sample.h"

typedef enum monitor_ready {
    MONITOR_UNKNOWN = -1, /* never collected */
    MONITOR_NOT_READY = 0,
    MONITOR_READY = 1,
} monitor_ready;

typedef struct mcoll {
    const mom_collector *c;
    void *state;
    bool inited;
    bool failed_init; /* init failed: retried at the next collection */
} mcoll;

typedef struct monitor {
    mom_entity ent;              /* identity as collectors see it */
    const fieldtab *fields;
    mcoll *coll;
    size_t n_coll;
    mom_value *props;            /* MAP of properties */
    uint64_t serial;             /* unique within the engine (snap_entity.serial) */
    /* history (engine thread) */
    sample **hist;               /* ring of hist_cap */
    size_t hist_cap, hist_len, hist_head;
    monitor_ready ready;
    double last_ok;              /* pool_now() of the last complete sample */
    bool fatal;                  /* a collector failed fatally */
    bool removed;                /* the guest is gone; free when idle */
    bool busy;                   /* a collection job is outstanding */
    bool late;                   /* the outstanding job passed its deadline */
    /* worker scratch */
    mom_sample merged, one;
    /* result of the last collection (worker -> engine) */
    sample *pending;
    int pending_rc;              /* 0, -ENODATA (incomplete), MOM_E_FATAL */
    char *pending_missing;       /* "a, b" of missing mandatory fields */
    plotfile *plot;              /* plot-dir output, or NULL */
} monitor;

/* Build a monitor for entity `kind` with the given collectors (already
 * checked to be of that kind) and history length.  Collector init runs
 * lazily, on the worker, at the first collection. */
int monitor_new(api_env *env, mom_entity_kind kind, const char *id, const char *name,
                const char *uuid, int64_t pid, const fieldtab *fields,
                const mom_collector *const *collectors, size_t n, size_t history,
                monitor **ret);
void monitor_free(monitor *m);

/* Worker: run every collector once and leave the result in m->pending*. */
void monitor_collect(monitor *m);
/* Engine thread: take the pending result into the history; returns true
 * when the monitor became ready (or stayed ready) with a new sample. */
bool monitor_finish(monitor *m);

/* Retained samples, oldest first, into out (hist_len entries, borrowed). */
size_t monitor_history(const monitor *m, sample **out);
const sample *monitor_latest(const monitor *m);

#endif
