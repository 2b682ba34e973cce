/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the classic-dialect lexer: the input is a policy
 * text (any bytes).  Every token is checked against what the lexer
 * promises: it lies inside the input, lines never go backwards, columns
 * start at 1, and the scan ends with EOF or one lexical error.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lang/lex_classic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    lexc lx;
    lexc_init(&lx, src, size);
    uint32_t line = 1;
    for (size_t guard = 0; guard <= size + 1; guard++) {
        ctok t;
        lang_error err;
        if (lexc_next(&lx, &t, &err) < 0) {
            if (err.line < line || err.col < 1)
                abort();
            return 0;
        }
        if (t.line < line || t.col < 1)
            abort();
        line = t.line;
        if (t.kind == CT_EOF)
            return 0;
        if (t.text < src || t.text + t.len > src + size || t.len == 0)
            if (!(t.kind == CT_STR && t.len == 0))
                abort();
    }
    abort(); /* every token consumes at least one byte */
}
