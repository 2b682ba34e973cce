/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small string-keyed hash map of pointers (open addressing).  Keys are
 * copied; values are borrowed.
 */
#ifndef MOM_CORE_STRMAP_H
#define MOM_CORE_STRMAP_H

#include <stddef.h>

typedef struct strmap {
    size_t n, cap, tombs;
    char **keys;  /* NULL = empty, TOMB = deleted */
    void **vals;
} strmap;

void strmap_init(strmap *m);
void strmap_done(strmap *m);
void *strmap_get(const strmap *m, const char *key);
int strmap_put(strmap *m, const char *key, void *val);
void *strmap_del(strmap *m, const char *key);

#endif
