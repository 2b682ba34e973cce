/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the Fortran-like lexer: the input is a policy text
 * (any bytes).  Every token is checked against what the lexer promises:
 * it lies inside the input, lines never go backwards, columns start at 1,
 * every token but the end consumes input, and the scan ends with EOF or
 * one lexical error.  String tokens are also decoded.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lang/lex_fortran.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    lexf lx;
    lexf_init(&lx, src, size);
    arena ar;
    arena_init(&ar, 4096);
    uint32_t line = 1;
    size_t last_pos = lx.pos;
    for (size_t guard = 0; guard <= size + 1; guard++) {
        ftok t;
        lang_error err;
        if (lexf_next(&lx, &t, &err) < 0) {
            if (err.line < line || err.col < 1)
                abort();
            arena_free(&ar);
            return 0;
        }
        if (t.line < line || t.col < 1)
            abort();
        line = t.line;
        if (t.kind == TK_EOF) {
            arena_free(&ar);
            return 0;
        }
        if (lx.pos <= last_pos)
            abort();
        last_pos = lx.pos;
        if (t.text < src || t.text + t.len > src + size)
            abort();
        if (t.kind == TK_STR) {
            uint32_t len;
            char *s = lexf_string(&ar, &t, &len);
            if (!s || len > t.len || strlen(s) > len)
                abort();
        }
        if (t.kind == TK_NAME && (t.len == 0 || t.len > LEXF_MAX_NAME))
            abort();
    }
    abort(); /* every token consumes at least one byte */
}
