/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/alloc.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mom/mom.h"

/* The failure-injection counters are the one piece of process-wide state in
 * the library; they are only armed by tests. */
static atomic_long fail_at;
static atomic_long count;

static int should_fail(void)
{
    long n = atomic_fetch_add_explicit(&count, 1, memory_order_relaxed) + 1;
    long f = atomic_load_explicit(&fail_at, memory_order_relaxed);
    return f > 0 && n == f;
}

void alloc_fail_at(long n)
{
    atomic_store(&count, 0);
    atomic_store(&fail_at, n);
}

long alloc_count(void)
{
    return atomic_load(&count);
}

void *mom_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *mom_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *mom_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void *mom_aligned_alloc(size_t align, size_t n)
{
    return aligned_alloc(align, n);
}

int mom_alloc_point(void)
{
    return should_fail() ? -1 : 0;
}

char *mom_strndup(const char *s, size_t n)
{
    char *d = mom_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *mom_strdup(const char *s)
{
    return s ? mom_strndup(s, strlen(s)) : NULL;
}

char *mom_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = mom_malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

MOM_API void mom_free(void *p)
{
    free(p);
}
