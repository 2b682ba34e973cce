/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-entity policy memory: classic SetVar/GetVar and Fortran-like
 * setvar/getvar.  Values are kept per entity id (snap_entity.id) across
 * cycles; a cycle's writes are committed only when the cycle succeeded, and
 * entities that left the snapshot are pruned then.
 */
#ifndef MOM_LANG_VARSTORE_H
#define MOM_LANG_VARSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/snapshot.h"
#include "lang/lvalue.h"

typedef struct vs_entity {
    char *id;
    size_t n, cap;
    mom_value **keys;
    mom_value **vals;
    bool seen;  /* scratch for varstore_prune */
} vs_entity;

typedef struct varstore {
    vs_entity **items;
    size_t n, cap;
    /* open addressing over items: index + 1, 0 empty */
    size_t *hash;
    size_t hash_size;
} varstore;

/* The key an entity's variables are kept under. */
static inline const char *varstore_entity_id(const snap_entity *se)
{
    return se->id ? se->id : se->name ? se->name : "host";
}

void varstore_init(varstore *vs);
void varstore_done(varstore *vs);
/* The stored variables of an entity, or NULL. */
const vs_entity *varstore_find(const varstore *vs, const char *id);
/* The value stored under `key`, or NULL. */
const mom_value *varstore_get(const vs_entity *e, lval key);
/* Store (or replace) key -> val for entity id; takes both references,
 * also on failure. */
int varstore_put(varstore *vs, const char *id, mom_value *key, mom_value *val);
/* Forget the entities that are not in the snapshot. */
int varstore_prune(varstore *vs, const snapshot *snap);

#endif
