/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Snapshots and controls.
 *
 * A snapshot is the immutable, consistent view of one policy cycle: the
 * host and every ready guest, each with its properties and retained
 * samples.  The policy evaluator reads it and writes a `controls` object;
 * controllers get both.  Snapshots are reference counted and shared with the
 * RPC thread (getStatistics) without locks.
 */
#ifndef MOM_CORE_SNAPSHOT_H
#define MOM_CORE_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sample.h"
#include "mom/plugin.h"

typedef struct snap_entity {
    mom_entity_kind kind;
    char *id;           /* stable backend key ("host" for the host) */
    char *name;         /* guest name ("host" for the host) */
    char *uuid;         /* guest UUID, NULL for the host */
    int64_t pid;        /* 0 when unknown */
    mom_value *props;   /* MAP: name, uuid, pid (guests), interval (host), ... */
    const fieldtab *fields;
    size_t n_samples;   /* >= 1 for every entity in a snapshot */
    sample **samples;   /* oldest first; the last one is the current one */
    fieldtab *own_fields; /* set when this entity owns its table (JSON
                           * snapshots, where each entity declares what
                           * its own samples carry); freed with it */
    bool uniform;         /* every sample has fields->n slots, so a reader
                           * may index f[] by any field id of `fields`
                           * without looking at the sample's header */
    /* The serial of the monitor the entity comes from, unique within an
     * engine (0: none, as in JSON snapshots): two entities with one serial
     * are the same guest, which the policy evaluator's per-guest caches
     * tell without comparing ids. */
    uint64_t serial;
} snap_entity;

typedef struct snapshot {
    atomic_int refs;
    double time;                /* epoch seconds when it was taken */
    const fieldtab *host_fields;
    const fieldtab *guest_fields;
    snap_entity host;
    size_t n_guests;
    snap_entity *guests;        /* in guest discovery order */
} snapshot;

snapshot *snapshot_new(size_t n_guests);
snapshot *snapshot_ref(snapshot *s);
void snapshot_unref(snapshot *s);
/* Fill an entity (copies strings, takes a reference on props and on each
 * sample). */
int snap_entity_init(snap_entity *e, mom_entity_kind kind, const char *id, const char *name,
                     const char *uuid, int64_t pid, mom_value *props, const fieldtab *fields,
                     sample *const *samples, size_t n_samples);
/* The latest sample's slot for `field`, or NULL when not declared. */
const fval *snap_entity_current(const snap_entity *e, const char *field);
/* getStatistics shape: {"host": {...}, "guests": {name: {...}}}, every
 * declared field of the latest sample (absent as NONE) plus extras. */
mom_value *snapshot_statistics(const snapshot *s);

/*
 * The controls of one cycle: a MAP name -> value per entity, index-aligned
 * with the snapshot's guests.  Guest control "io_tune", when set, is a LIST
 * of {"name", "path", "ioTune": {six limits}} for every device of the guest
 * after evaluation (the IoTune controller compares it with the
 * io_tune_current field).
 */
typedef struct controls {
    mom_value *host;
    size_t n_guests;
    mom_value **guests;
    /* When not NULL, guests is shared->maps, and the references are
     * shared's, not the controls' own (ctl_maps). */
    struct ctl_maps *shared;
} controls;

/*
 * A reference-counted array of references to controls maps, by guest
 * index.  The policy evaluator keeps one from one evaluation to the next
 * and lends it to the controls it returns: a guest whose controls map is
 * the same object as last cycle's then costs no reference count change,
 * neither when the controls are made nor when they are freed, so that
 * thousands of maps scattered over the heap are not written to every
 * cycle.  The evaluator changes the slots only while it holds the only
 * reference (ctl_maps_shared tells).
 */
typedef struct ctl_maps {
    atomic_int refs;
    size_t n;
    mom_value *maps[]; /* NULL or a reference each */
} ctl_maps;

/* n NULL slots, one reference; NULL when out of memory. */
ctl_maps *ctl_maps_new(size_t n);
ctl_maps *ctl_maps_ref(ctl_maps *m);
void ctl_maps_unref(ctl_maps *m);
/* Whether a reference other than the caller's exists. */
bool ctl_maps_shared(ctl_maps *m);

controls *controls_new(size_t n_guests);
void controls_free(controls *c);
/* Set a control (takes the value). */
int controls_set(controls *c, int guest /* -1: host */, const char *name, mom_value *v);

#endif
