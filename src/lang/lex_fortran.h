/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lexer of the Fortran-like dialect (POLICY-LANGUAGE.md §2, §13): case-
 * insensitive keywords and dot-operators, `!` comments, statements ended
 * by a newline or `;`, `&` continuation lines, integer, real and memory
 * literals, strings with doubled delimiters.
 */
#ifndef MOM_LANG_LEX_FORTRAN_H
#define MOM_LANG_LEX_FORTRAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lang/ast.h"

typedef enum ftok_kind {
    TK_EOF = 0,
    TK_EOL,      /* end of a statement: newline or ';' */
    TK_NAME,     /* identifier or keyword (kw) */
    TK_INT,
    TK_REAL,
    TK_STR,      /* text: the raw content; the doubled delimiters are
                  * undone by lexf_string */
    TK_TRUE, TK_FALSE,
    TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_POW, TK_CAT,
    TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE,
    TK_AND, TK_OR, TK_NOT, TK_EQV, TK_NEQV,
    TK_LPAREN, TK_RPAREN, TK_COMMA, TK_COLON, TK_DCOLON, TK_PERCENT, TK_ASSIGN,
    TK__COUNT
} ftok_kind;

/* Keywords (§13 "Names"). */
typedef enum fkw {
    KW_NONE = 0,
    KW_IF, KW_THEN, KW_ELSE, KW_ELSEIF, KW_END, KW_ENDIF, KW_DO, KW_ENDDO, KW_WHILE, KW_IN,
    KW_EXIT, KW_CYCLE, KW_SELECT, KW_CASE, KW_DEFAULT, KW_ENDSELECT, KW_FUNCTION,
    KW_SUBROUTINE, KW_ENDFUNCTION, KW_ENDSUBROUTINE, KW_RESULT, KW_RECURSIVE, KW_CALL,
    KW_RETURN, KW_PRINT, KW_STOP, KW_ERROR, KW_INTEGER, KW_REAL, KW_DOUBLE, KW_PRECISION,
    KW_LOGICAL, KW_CHARACTER, KW_PARAMETER, KW_SAVE, KW_INTENT, KW_IMPLICIT, KW_NONE_,
    KW__COUNT
} fkw;

typedef struct ftok {
    uint8_t kind;       /* ftok_kind */
    uint8_t kw;         /* TK_NAME: fkw */
    bool mem;           /* a memory literal */
    uint32_t line, col;
    const char *text;   /* the token as written */
    uint32_t len;
    union {
        int64_t i;
        double r;
    } v;
} ftok;

typedef struct lexf {
    const char *src;
    size_t len, pos;
    uint32_t line;
    size_t line_start;
    int paren;          /* open parentheses (a newline inside ends the statement anyway) */
} lexf;

/* Longest identifier. */
#define LEXF_MAX_NAME 63

void lexf_init(lexf *lx, const char *src, size_t len);
/* Next token into *t.  Returns 0, or -1 with *err set for a lexical error
 * (a character outside the language, an unterminated string, a number out
 * of range, a name too long). */
int lexf_next(lexf *lx, ftok *t, lang_error *err);
/* The value of a TK_STR token with doubled delimiters undone, copied into
 * the arena (NUL-terminated); NULL on ENOMEM. */
char *lexf_string(arena *ar, const ftok *t, uint32_t *ret_len);
/* Spelling of a token kind for messages ("')'", "end of line"). */
const char *lexf_kind_name(int kind);
/* Spelling of a keyword ("if"). */
const char *lexf_kw_name(int kw);

#endif
