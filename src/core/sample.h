/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Field tables and samples.
 *
 * A field table lists the declared fields of one kind of entity (host or
 * guest): the union of the configured collectors' mandatory fields, then
 * their optional fields minus the mandatory ones (REFERENCE §3.1).  A
 * sample is one merged collection: one slot per declared field, plus a map
 * of undeclared extra keys.  Published samples are immutable and reference
 * counted, so snapshots and the RPC thread can share them.
 */
#ifndef MOM_CORE_SAMPLE_H
#define MOM_CORE_SAMPLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/value.h"

typedef struct fieldtab {
    size_t n;
    char **names;        /* field id -> name */
    bool *mandatory;     /* field id -> mandatory? */
    size_t n_mandatory;
    /* open-addressing hash of names -> id + 1 */
    uint32_t *hash;
    size_t hash_size;
} fieldtab;

fieldtab *fieldtab_new(void);
/* Add a field (a second add of the same name upgrades optional to
 * mandatory).  Returns the id or -ENOMEM. */
int fieldtab_add(fieldtab *t, const char *name, bool mandatory);
/* Reorder so that mandatory fields come first and rebuild the hash; call
 * once after the last add. */
int fieldtab_finish(fieldtab *t);
/* Field id, or -1. */
int fieldtab_find(const fieldtab *t, const char *name);
void fieldtab_free(fieldtab *t);

/* The state of one field in a sample (REFERENCE §0: missing / absent /
 * value). */
typedef enum fv_kind {
    FV_MISSING = 0, /* no collector returned the key */
    FV_NONE,        /* absent: the original's None */
    FV_INT,
    FV_REAL,
    FV_VALUE,       /* booleans, strings, lists, maps: a mom_value
                     * reference, never MOM_VALUE_NONE (that is FV_NONE) */
} fv_kind;

typedef struct fval {
    uint8_t kind;
    union {
        int64_t i;
        double r;
        mom_value *v;
    } u;
} fval;

typedef struct sample {
    atomic_int refs;
    uint32_t n;         /* number of slots == fields->n */
    double time;        /* epoch seconds of the collection */
    mom_value *extras;  /* MAP of undeclared keys, or NULL */
    /* The sample's number in the order the engine adds samples to the
     * histories, unique within an engine (0: not numbered, as the samples
     * of JSON snapshots).  A copy of a sample keeps it.  The policy
     * evaluator's history cache (lang/histcache.h) recognises a guest's
     * window by it. */
    uint64_t seq;
    fval f[];
} sample;

sample *sample_new(size_t n_fields);
sample *sample_ref(sample *s);
void sample_unref(sample *s);
/* Release a slot's value and mark it missing. */
void fval_clear(fval *f);
/* A new reference to a slot as a mom_value (NONE for absent/missing). */
mom_value *fval_to_value(const fval *f);
/* Set a slot from a value (takes the reference). */
void fval_set_value(fval *f, mom_value *v);

#endif
