/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The names a Fortran-like policy may use after `%` (POLICY-LANGUAGE.md
 * §5, §11): statistic fields, properties and controls of the host and of
 * guests.  The built-in catalog is every field of every built-in collector
 * and every control of the built-in controllers (REFERENCE.md); the
 * configured catalog (policy_catalog) adds plugin or snapshot names and
 * says which of the built-in ones the running configuration produces or
 * carries out, which decides the warnings.
 */
#ifndef MOM_LANG_CATALOG_H
#define MOM_LANG_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lang/policy.h"

/* What a name is, per entity kind. */
enum {
    CB_HOST_FIELD = 1,
    CB_GUEST_FIELD = 2,
    CB_HOST_CTL = 4,
    CB_GUEST_CTL = 8,
    CB_HOST_PROP = 16,
    CB_GUEST_PROP = 32,
};

typedef struct catalog {
    const char **names;   /* borrowed: built-in descriptors, the policy_catalog */
    uint8_t *known;       /* per name: CB_* in the built-in or configured catalog */
    uint8_t *conf;        /* per name: CB_* of the configuration */
    size_t n, cap;
} catalog;

/* Build from the built-ins and `pc` (may be NULL: the built-ins are the
 * configuration).  The strings of `pc` must outlive the catalog. */
int catalog_init(catalog *c, const policy_catalog *pc);
void catalog_done(catalog *c);
/* The CB_* bits of `name` (0 when unknown); *ret_conf gets the configured
 * bits. */
unsigned catalog_lookup(const catalog *c, const char *name, unsigned *ret_conf);
/* The known name closest to `name` among those with any of `mask`, or
 * NULL when none is close. */
const char *catalog_suggest(const catalog *c, const char *name, unsigned mask);
/* Edit distance (insertions, deletions, substitutions, transpositions),
 * capped at 100. */
int catalog_distance(const char *a, const char *b);
/* Whether `cand` is close enough to `name` to be suggested. */
bool catalog_close(const char *name, const char *cand, int dist);

#endif
