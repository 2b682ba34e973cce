/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Immutable, reference-counted values: what samples hold for structured
 * fields (io_tune lists), what controls carry, and what statistics and
 * named-policy maps are made of.  Built with the value_new_* and
 * value_*_append/set functions by one thread, then shared read-only.
 */
#ifndef MOM_CORE_VALUE_H
#define MOM_CORE_VALUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mom/mom.h"

/* mom_value.flags: the map's keys are a shared, read-only block
 * (value_map_new_like). */
#define VALUE_F_SHARED_KEYS 0x01

struct mom_value {
    atomic_int refs;
    uint8_t type;  /* mom_value_type */
    uint8_t flags; /* MAP: VALUE_F_SHARED_KEYS */
    union {
        bool b;
        int64_t i;
        double r;
        struct {
            char *ptr;
            size_t len;
        } s;
        struct {
            size_t n, cap;
            mom_value **items;
            char **keys; /* MAP only */
        } c;
    } u;
};

mom_value *value_new_none(void);
mom_value *value_new_bool(bool b);
mom_value *value_new_int(int64_t i);
mom_value *value_new_real(double r);
mom_value *value_new_string(const char *s);
mom_value *value_new_stringn(const char *s, size_t len);
mom_value *value_new_list(void);
mom_value *value_new_map(void);
/* Take over `item` (also on failure, where it is released). */
int value_list_append(mom_value *list, mom_value *item);
/* Set (or replace) key in a map; takes over `item`. */
int value_map_set(mom_value *map, const char *key, mom_value *item);
mom_value *value_map_get(const mom_value *map, const char *key);
/* A new map with the keys of `map`, in its order, and references to its
 * items.  The two share one read-only copy of the keys (made at the first
 * such copy of a map, then passed on), so a map rebuilt every cycle with
 * the same keys costs no key copies.  Replacing items (value_map_set_at,
 * or value_map_set of an existing key) keeps the keys shared; adding a key
 * gives the map its own. */
mom_value *value_map_new_like(const mom_value *map);
/* Replace the item at index i < the map's length; takes over `item`. */
void value_map_set_at(mom_value *map, size_t i, mom_value *item);
/* Deep copy (the copy is private to the caller and may be modified). */
mom_value *value_copy(const mom_value *v);
/* Structural equality: numbers by value (int 1 == real 1.0), strings by
 * content, lists by items, maps by key sets and items. */
bool value_equal(const mom_value *a, const mom_value *b);
/* Indistinguishable: the same types throughout, reals bit for bit, maps
 * with the same keys in the same order.  One can stand for the other. */
bool value_same(const mom_value *a, const mom_value *b);
/* Python int(): bool, int, finite real truncated, decimal string with
 * surrounding whitespace.  -EINVAL otherwise, -ERANGE out of range. */
int value_to_int(const mom_value *v, int64_t *ret);
/* Append a JSON rendering to a malloc'ed buffer (used by tests, traces and
 * momctl).  Reals in shortest round-trip form.  Returns NULL on ENOMEM. */
char *value_to_json(const mom_value *v);
/* Python repr() notation of a value (None, True, 3, 0.5, 'text',
 * [1, 2], {'k': 1}), as the original prints values in its plot files.
 * Malloc'ed; NULL on ENOMEM. */
char *value_to_python(const mom_value *v);
/* Shortest round-trip text of a double ("0.1", "1e+16", "3.0").  buf must
 * hold 32 bytes.  python_style: integral values keep ".0" and exponents use
 * Python's rules; otherwise plain %.17g-shortest. */
void value_format_real(double r, char *buf, size_t size, bool python_style);

#endif
