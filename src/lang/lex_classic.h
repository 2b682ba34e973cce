/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lexer of the classic (Lisp-like) dialect: the original's ordered token
 * rules (POLICY-CLASSIC §1), where the first rule that matches at a
 * position wins.  Deliberate differences: lines and columns are true ones
 * (every newline counts, in comments and strings too), and a character no
 * rule accepts is a lexical error instead of swallowing the rest.
 */
#ifndef MOM_LANG_LEX_CLASSIC_H
#define MOM_LANG_LEX_CLASSIC_H

#include <stddef.h>
#include <stdint.h>

#include "lang/ast.h"

typedef enum ctok_kind {
    CT_EOF = 0,
    CT_OPEN,  /* ( [ { */
    CT_CLOSE, /* ) ] } */
    CT_INT,   /* rules 3, 4, 6; base in `base` */
    CT_REAL,  /* rules 2, 5 */
    CT_STR,   /* text is the raw content between the quotes */
    CT_SYM,
    CT_OP,
} ctok_kind;

typedef struct ctok {
    uint8_t kind;
    char bracket;      /* CT_OPEN / CT_CLOSE: the character */
    uint8_t base;      /* CT_INT: 10, 16 or 8 */
    uint32_t line, col;
    const char *text;
    uint32_t len;
} ctok;

typedef struct lexc {
    const char *src;
    size_t len, pos;
    uint32_t line;
    size_t line_start;
} lexc;

void lexc_init(lexc *lx, const char *src, size_t len);
/* Next token into *t (CT_EOF at the end).  Returns 0, or -1 with *err set
 * (position and message) for an unrecognised character. */
int lexc_next(lexc *lx, ctok *t, lang_error *err);

#endif
