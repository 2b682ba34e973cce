/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A growing, NUL-terminated text buffer for writers (JSON, Python repr,
 * XML-RPC).  An allocation failure sticks: later writes do nothing and
 * sbuf_take() returns NULL, so a writer checks once at the end.
 */
#ifndef MOM_CORE_SBUF_H
#define MOM_CORE_SBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sbuf {
    char *buf;
    size_t len, cap;
    bool failed;
} sbuf;

void sbuf_put(sbuf *b, const char *s, size_t n);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text (the caller frees it with mom_free), or NULL after a failure;
 * an empty buffer gives "".  The buffer is left empty either way. */
char *sbuf_take(sbuf *b);

#endif
