/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Classic-dialect lexer.  Each rule of POLICY-CLASSIC §1.2 is a small
 * matcher returning the length it accepts at a position (0: no match);
 * lexc_next tries them in the original's order and takes the first match.
 */
#include "lang/lex_classic.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static inline bool is_sym_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline bool is_sym_char(char c)
{
    return is_sym_start(c) || is_digit(c) || c == '.' || c == '-';
}

/* Character at i, or NUL past the end. */
static inline char at(const lexc *lx, size_t i)
{
    return i < lx->len ? lx->src[i] : '\0';
}

void lexc_init(lexc *lx, const char *src, size_t len)
{
    lx->src = src;
    lx->len = len;
    lx->pos = 0;
    lx->line = 1;
    lx->line_start = 0;
    /* A UTF-8 byte-order mark at the start is not part of the text. */
    if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0) {
        lx->pos = 3;
        lx->line_start = 3;
    }
}

/* Rule 2: -? [0-9]* . [0-9]+ ([eE][+-]?[0-9]+)? */
static size_t m_float(const lexc *lx, size_t p)
{
    size_t q = p;
    if (at(lx, q) == '-')
        q++;
    while (is_digit(at(lx, q)))
        q++;
    if (at(lx, q) != '.' || !is_digit(at(lx, q + 1)))
        return 0;
    q += 2;
    while (is_digit(at(lx, q)))
        q++;
    char e = at(lx, q);
    if (e == 'e' || e == 'E') {
        size_t r = q + 1;
        if (at(lx, r) == '+' || at(lx, r) == '-')
            r++;
        if (is_digit(at(lx, r))) {
            while (is_digit(at(lx, r)))
                r++;
            q = r;
        }
    }
    return q - p;
}

/* Rule 3: 0[xX][0-9a-fA-F]+ */
static size_t m_hex(const lexc *lx, size_t p)
{
    if (at(lx, p) != '0' || (at(lx, p + 1) != 'x' && at(lx, p + 1) != 'X') ||
        !is_hex(at(lx, p + 2)))
        return 0;
    size_t q = p + 2;
    while (is_hex(at(lx, q)))
        q++;
    return q - p;
}

/* The -?(0|[1-9][0-9]*) prefix shared by rules 4 and 5; 0 if none. */
static size_t m_decimal(const lexc *lx, size_t p, bool *lone_zero)
{
    size_t q = p;
    if (at(lx, q) == '-')
        q++;
    char c = at(lx, q);
    *lone_zero = c == '0';
    if (c == '0')
        return q + 1 - p;
    if (c < '1' || c > '9')
        return 0;
    while (is_digit(at(lx, q)))
        q++;
    return q - p;
}

/* Rule 4: an integer not followed by [0-9eE] (a lone 0 not by [0-9oxX]). */
static size_t m_int(const lexc *lx, size_t p)
{
    bool zero;
    size_t n = m_decimal(lx, p, &zero);
    if (!n)
        return 0;
    char next = at(lx, p + n);
    if (is_digit(next) || next == 'e' || next == 'E')
        return 0;
    if (zero && (next == 'o' || next == 'x' || next == 'X'))
        return 0;
    return n;
}

/* Rule 5: an integer with an exponent, a float. */
static size_t m_int_exp(const lexc *lx, size_t p)
{
    bool zero;
    size_t n = m_decimal(lx, p, &zero);
    if (!n)
        return 0;
    size_t q = p + n;
    if (at(lx, q) != 'e' && at(lx, q) != 'E')
        return 0;
    q++;
    if (at(lx, q) == '+' || at(lx, q) == '-')
        q++;
    if (!is_digit(at(lx, q)))
        return 0;
    while (is_digit(at(lx, q)))
        q++;
    return q - p;
}

/* Rule 6: 0o[0-9]+ (8 and 9 accepted here, refused when evaluated). */
static size_t m_octal(const lexc *lx, size_t p)
{
    if (at(lx, p) != '0' || at(lx, p + 1) != 'o' || !is_digit(at(lx, p + 2)))
        return 0;
    size_t q = p + 2;
    while (is_digit(at(lx, q)))
        q++;
    return q - p;
}

/* Rules 8 and 9: a quoted string; a backslash keeps the next character
 * (not a newline) from ending it.  0 when unterminated. */
static size_t m_string(const lexc *lx, size_t p)
{
    char quote = at(lx, p);
    size_t q = p + 1;
    while (q < lx->len) {
        char c = lx->src[q];
        if (c == quote)
            return q + 1 - p;
        if (c == '\\') {
            if (q + 1 >= lx->len || lx->src[q + 1] == '\n')
                return 0;
            q += 2;
        } else {
            q++;
        }
    }
    return 0;
}

/* Rule 11: the first operator of the original's list that matches. */
static size_t m_op(const lexc *lx, size_t p)
{
    static const char *const ops[] = { "<=", ">=", "<<", ">>", "==", "!=",
                                       "+",  "-",  "*",  "/",  "<",  ">" };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t n = strlen(ops[i]);
        if (p + n <= lx->len && memcmp(lx->src + p, ops[i], n) == 0)
            return n;
    }
    return 0;
}

/* Length of one white-space character at p (Python's Unicode \s on the
 * UTF-8 text; a stray 0x85 or 0xA0 byte counts too), else 0. */
static size_t m_space(const lexc *lx, size_t p)
{
    unsigned char c = (unsigned char)at(lx, p);
    if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1C && c <= 0x1F))
        return 1;
    if (c < 0x80 || p >= lx->len)
        return 0;
    unsigned char c1 = (unsigned char)at(lx, p + 1), c2 = (unsigned char)at(lx, p + 2);
    if (c == 0xC2 && (c1 == 0x85 || c1 == 0xA0))
        return 2;
    if (c == 0xE1 && c1 == 0x9A && c2 == 0x80)
        return 3;
    if (c == 0xE2 && c1 == 0x80 && ((c2 >= 0x80 && c2 <= 0x8A) || c2 == 0xA8 || c2 == 0xA9 ||
                                    c2 == 0xAF))
        return 3;
    if (c == 0xE2 && c1 == 0x81 && c2 == 0x9F)
        return 3;
    if (c == 0xE3 && c1 == 0x80 && c2 == 0x80)
        return 3;
    if (c == 0x85 || c == 0xA0)
        return 1;
    return 0;
}

/* Consume n bytes, counting every newline in them (true line numbers). */
static void advance(lexc *lx, size_t n)
{
    size_t end = lx->pos + n;
    for (size_t i = lx->pos; i < end; i++)
        if (lx->src[i] == '\n') {
            lx->line++;
            lx->line_start = i + 1;
        }
    lx->pos = end;
}

/* Describe the text that no rule accepts at p. */
static void lex_fail(const lexc *lx, size_t p, lang_error *err)
{
    err->line = lx->line;
    err->col = (uint32_t)(p - lx->line_start + 1);
    unsigned char c = (unsigned char)lx->src[p];
    if (c == '"' || c == '\'') {
        snprintf(err->msg, sizeof(err->msg), "lexical error on line %u: unterminated string",
                 lx->line);
    } else if (is_digit((char)c) || c == '-' || c == '.') {
        size_t q = p + 1;
        while (q < lx->len && q - p < 40 && (is_sym_char(lx->src[q]) || lx->src[q] == '-'))
            q++;
        snprintf(err->msg, sizeof(err->msg), "lexical error on line %u: malformed number '%.*s'",
                 lx->line, (int)(q - p), lx->src + p);
    } else if (c >= 0x21 && c < 0x7F) {
        snprintf(err->msg, sizeof(err->msg), "lexical error on line %u: unexpected character '%c'",
                 lx->line, c);
    } else {
        /* Quote a whole UTF-8 character when there is one. */
        size_t n = 1;
        if (c >= 0xC2 && c <= 0xF4) {
            size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            size_t k = 1;
            while (k < want && p + k < lx->len && ((unsigned char)lx->src[p + k] & 0xC0) == 0x80)
                k++;
            if (k == want)
                n = want;
        }
        if (n > 1)
            snprintf(err->msg, sizeof(err->msg),
                     "lexical error on line %u: unexpected character '%.*s'", lx->line, (int)n,
                     lx->src + p);
        else
            snprintf(err->msg, sizeof(err->msg),
                     "lexical error on line %u: unexpected character '\\x%02x'", lx->line, c);
    }
}

int lexc_next(lexc *lx, ctok *t, lang_error *err)
{
    for (;;) {
        size_t p = lx->pos;
        memset(t, 0, sizeof(*t));
        t->line = lx->line;
        t->col = (uint32_t)(p - lx->line_start + 1);
        t->text = lx->src + p;
        if (p >= lx->len) {
            t->kind = CT_EOF;
            return 0;
        }
        char c = lx->src[p];
        size_t n;
        /* Rule 1: brackets. */
        if (c == '(' || c == '[' || c == '{' || c == ')' || c == ']' || c == '}') {
            t->kind = (c == '(' || c == '[' || c == '{') ? CT_OPEN : CT_CLOSE;
            t->bracket = c;
            t->len = 1;
            advance(lx, 1);
            return 0;
        }
        if ((n = m_float(lx, p))) {
            t->kind = CT_REAL;
        } else if ((n = m_hex(lx, p))) {
            t->kind = CT_INT;
            t->base = 16;
        } else if ((n = m_int(lx, p))) {
            t->kind = CT_INT;
            t->base = 10;
        } else if ((n = m_int_exp(lx, p))) {
            t->kind = CT_REAL;
        } else if ((n = m_octal(lx, p))) {
            t->kind = CT_INT;
            t->base = 8;
        } else if (c == '#') {
            /* Rule 7: a comment runs to the newline, which it consumes;
             * a comment at the end of the input just ends there. */
            const char *nl = memchr(lx->src + p, '\n', lx->len - p);
            advance(lx, nl ? (size_t)(nl - (lx->src + p)) + 1 : lx->len - p);
            continue;
        } else if ((c == '\'' || c == '"') && (n = m_string(lx, p))) {
            t->kind = CT_STR;
            t->text = lx->src + p + 1;
            t->len = (uint32_t)(n - 2);
            advance(lx, n);
            return 0;
        } else if (is_sym_start(c)) {
            n = 1;
            while (is_sym_char(at(lx, p + n)))
                n++;
            t->kind = CT_SYM;
        } else if ((n = m_op(lx, p))) {
            t->kind = CT_OP;
        } else if ((n = m_space(lx, p))) {
            /* Rule 12: a run of white space. */
            size_t k;
            while ((k = m_space(lx, p + n)))
                n += k;
            advance(lx, n);
            continue;
        } else {
            lex_fail(lx, p, err);
            return -1;
        }
        if (n > UINT32_MAX) {
            lex_fail(lx, p, err);
            return -1;
        }
        t->len = (uint32_t)n;
        advance(lx, n);
        return 0;
    }
}
