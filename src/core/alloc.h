/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The allocation choke point.  Every allocation in libmom goes through
 * these functions so that tests can make the N-th allocation fail and check
 * that nothing leaks (alloc_fail_at).  mom_free() is public (mom.h).
 */
#ifndef MOM_CORE_ALLOC_H
#define MOM_CORE_ALLOC_H

#include <stddef.h>

void *mom_malloc(size_t n);
void *mom_calloc(size_t n, size_t size);
void *mom_realloc(void *p, size_t n);
char *mom_strdup(const char *s);
char *mom_strndup(const char *s, size_t n);
/* printf into a new string; NULL on failure. */
char *mom_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mom_free(void *p);
/* A block of n bytes (a multiple of align) aligned to align (a power of
 * two), for allocators that carve objects out of blocks (sample.c).  It is
 * not a failure-injection point: such an allocator calls
 * mom_alloc_point() once per object instead, so that the points stay one
 * per object however the objects share blocks.  Freed with mom_free(). */
void *mom_aligned_alloc(size_t align, size_t n);
/* One allocation point for the failure injection below: -1 when this
 * allocation is to fail, else 0. */
int mom_alloc_point(void);

/* Test hook: make the n-th allocation from now fail (n >= 1); 0 disables.
 * Process-wide: only for single-threaded allocation-failure tests. */
void alloc_fail_at(long n);
/* Number of allocations attempted since the last alloc_fail_at(). */
long alloc_count(void);

#endif
