/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lexer of the Fortran-like dialect.  Positions are true 1-based lines and
 * byte columns; a continuation line keeps its own line number, so a token
 * is always reported where it is written.
 */
#include "lang/lex_fortran.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const kw_names[KW__COUNT] = {
    [KW_IF] = "if",           [KW_THEN] = "then",
    [KW_ELSE] = "else",       [KW_ELSEIF] = "elseif",
    [KW_END] = "end",         [KW_ENDIF] = "endif",
    [KW_DO] = "do",           [KW_ENDDO] = "enddo",
    [KW_WHILE] = "while",     [KW_IN] = "in",
    [KW_EXIT] = "exit",       [KW_CYCLE] = "cycle",
    [KW_SELECT] = "select",   [KW_CASE] = "case",
    [KW_DEFAULT] = "default", [KW_ENDSELECT] = "endselect",
    [KW_FUNCTION] = "function", [KW_SUBROUTINE] = "subroutine",
    [KW_ENDFUNCTION] = "endfunction", [KW_ENDSUBROUTINE] = "endsubroutine",
    [KW_RESULT] = "result",   [KW_RECURSIVE] = "recursive",
    [KW_CALL] = "call",       [KW_RETURN] = "return",
    [KW_PRINT] = "print",     [KW_STOP] = "stop",
    [KW_ERROR] = "error",     [KW_INTEGER] = "integer",
    [KW_REAL] = "real",       [KW_DOUBLE] = "double",
    [KW_PRECISION] = "precision", [KW_LOGICAL] = "logical",
    [KW_CHARACTER] = "character", [KW_PARAMETER] = "parameter",
    [KW_SAVE] = "save",       [KW_INTENT] = "intent",
    [KW_IMPLICIT] = "implicit", [KW_NONE_] = "none",
};

static const char *const kind_names[TK__COUNT] = {
    [TK_EOF] = "end of file", [TK_EOL] = "end of line", [TK_NAME] = "name",
    [TK_INT] = "integer",     [TK_REAL] = "real number", [TK_STR] = "string",
    [TK_TRUE] = "'.true.'",   [TK_FALSE] = "'.false.'", [TK_PLUS] = "'+'",
    [TK_MINUS] = "'-'",       [TK_STAR] = "'*'",        [TK_SLASH] = "'/'",
    [TK_POW] = "'**'",        [TK_CAT] = "'//'",        [TK_EQ] = "'=='",
    [TK_NE] = "'/='",         [TK_LT] = "'<'",          [TK_LE] = "'<='",
    [TK_GT] = "'>'",          [TK_GE] = "'>='",         [TK_AND] = "'.and.'",
    [TK_OR] = "'.or.'",       [TK_NOT] = "'.not.'",     [TK_EQV] = "'.eqv.'",
    [TK_NEQV] = "'.neqv.'",   [TK_LPAREN] = "'('",      [TK_RPAREN] = "')'",
    [TK_COMMA] = "','",       [TK_COLON] = "':'",       [TK_DCOLON] = "'::'",
    [TK_PERCENT] = "'%'",     [TK_ASSIGN] = "'='",
};

/* The dot-operators and logical literals. */
static const struct {
    const char *word;
    uint8_t kind;
} dot_ops[] = {
    { "and", TK_AND }, { "or", TK_OR },   { "not", TK_NOT },     { "eqv", TK_EQV },
    { "neqv", TK_NEQV }, { "true", TK_TRUE }, { "false", TK_FALSE }, { "eq", TK_EQ },
    { "ne", TK_NE },   { "lt", TK_LT },   { "le", TK_LE },       { "gt", TK_GT },
    { "ge", TK_GE },
};

const char *lexf_kind_name(int kind)
{
    return kind >= 0 && kind < TK__COUNT && kind_names[kind] ? kind_names[kind] : "token";
}

const char *lexf_kw_name(int kw)
{
    return kw > 0 && kw < KW__COUNT ? kw_names[kw] : "";
}

static inline bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline bool is_ident(char c)
{
    return is_alpha(c) || is_digit(c) || c == '_';
}

void lexf_init(lexf *lx, const char *src, size_t len)
{
    memset(lx, 0, sizeof(*lx));
    lx->src = src;
    lx->len = len;
    lx->line = 1;
    if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0) {
        lx->pos = 3;
        lx->line_start = 3;
    }
}

static int fail(lexf *lx, size_t at, lang_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(lexf *lx, size_t at, lang_error *err, const char *fmt, ...)
{
    err->line = lx->line;
    err->col = (uint32_t)(at - lx->line_start + 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* The dot-operator that starts at src[at] ('.'), or 0. */
static int dot_op_at(const lexf *lx, size_t at, size_t *ret_end)
{
    size_t p = at + 1;
    while (p < lx->len && is_alpha(lx->src[p]))
        p++;
    if (p >= lx->len || lx->src[p] != '.' || p == at + 1)
        return 0;
    size_t wl = p - at - 1;
    for (size_t i = 0; i < sizeof(dot_ops) / sizeof(dot_ops[0]); i++)
        if (strlen(dot_ops[i].word) == wl && strncasecmp(dot_ops[i].word, lx->src + at + 1, wl) == 0) {
            *ret_end = p + 1;
            return dot_ops[i].kind;
        }
    return 0;
}

/* Skip spaces, tabs and carriage returns. */
static void skip_blanks(lexf *lx)
{
    while (lx->pos < lx->len) {
        char c = lx->src[lx->pos];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v')
            lx->pos++;
        else
            break;
    }
}

static void skip_comment(lexf *lx)
{
    while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
        lx->pos++;
}

static void newline(lexf *lx)
{
    lx->pos++;
    lx->line++;
    lx->line_start = lx->pos;
}

/* After '&': the rest of the line must be blank or a comment; then the
 * statement continues on the next line that is not blank or a comment,
 * after an optional leading '&'. */
static int continuation(lexf *lx, lang_error *err)
{
    size_t amp = lx->pos++;
    skip_blanks(lx);
    if (lx->pos < lx->len && lx->src[lx->pos] == '!')
        skip_comment(lx);
    if (lx->pos < lx->len && lx->src[lx->pos] != '\n')
        return fail(lx, amp, err, "'&' must be the last thing on its line");
    while (lx->pos < lx->len) {
        newline(lx);
        skip_blanks(lx);
        if (lx->pos < lx->len && lx->src[lx->pos] == '!')
            skip_comment(lx);
        if (lx->pos < lx->len && lx->src[lx->pos] == '\n')
            continue;
        break;
    }
    if (lx->pos < lx->len && lx->src[lx->pos] == '&')
        lx->pos++;
    return 0;
}

/* A number starting at lx->pos (a digit, or '.' and a digit). */
static int number(lexf *lx, ftok *t, lang_error *err)
{
    const char *s = lx->src;
    size_t start = lx->pos, p = lx->pos;
    bool real = false;
    while (p < lx->len && is_digit(s[p]))
        p++;
    if (p < lx->len && s[p] == '.') {
        size_t end;
        if (!(p + 1 < lx->len && is_alpha(s[p + 1]) && dot_op_at(lx, p, &end))) {
            real = true;
            p++;
            while (p < lx->len && is_digit(s[p]))
                p++;
        }
    }
    if (p < lx->len && (s[p] == 'e' || s[p] == 'E' || s[p] == 'd' || s[p] == 'D')) {
        size_t q = p + 1;
        if (q < lx->len && (s[q] == '+' || s[q] == '-'))
            q++;
        if (q < lx->len && is_digit(s[q])) {
            real = true;
            p = q;
            while (p < lx->len && is_digit(s[p]))
                p++;
        }
    }
    size_t num_end = p;
    /* Memory suffixes, exactly as written. */
    static const char *const suffixes[4] = { "KiB", "MiB", "GiB", "TiB" };
    int64_t factor = 0;
    for (int i = 0; i < 4; i++)
        if (p + 3 <= lx->len && memcmp(s + p, suffixes[i], 3) == 0 &&
            !(p + 3 < lx->len && is_ident(s[p + 3]))) {
            factor = (int64_t)1 << (10 * i);
            p += 3;
            break;
        }
    if (p < lx->len && is_ident(s[p])) {
        size_t q = p;
        while (q < lx->len && is_ident(s[q]))
            q++;
        return fail(lx, start, err, "invalid number '%.*s'", (int)(q - start), s + start);
    }
    t->text = s + start;
    t->len = (uint32_t)(p - start);
    t->mem = factor != 0;
    lx->pos = p;
    if (real) {
        char buf[128];
        size_t n = num_end - start;
        if (n >= sizeof(buf))
            return fail(lx, start, err, "real number '%.*s' is too long", (int)n, s + start);
        for (size_t i = 0; i < n; i++)
            buf[i] = s[start + i] == 'd' || s[start + i] == 'D' ? 'e' : s[start + i];
        buf[n] = '\0';
        double r = strtod(buf, NULL);
        if (factor)
            r *= (double)factor;
        if (!isfinite(r))
            return fail(lx, start, err, "%s '%.*s' is out of range",
                        factor ? "memory literal" : "real number", (int)t->len, t->text);
        t->kind = TK_REAL;
        t->v.r = r;
        return 0;
    }
    uint64_t v = 0;
    for (size_t i = start; i < num_end; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            v = UINT64_MAX;
            break;
        }
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX)
        return fail(lx, start, err, "integer literal %.*s does not fit in 64 bits",
                    (int)(num_end - start), s + start);
    if (factor) {
        if (v > (uint64_t)INT64_MAX / (uint64_t)factor)
            return fail(lx, start, err, "memory literal %.*s does not fit in 64 bits",
                        (int)t->len, t->text);
        v *= (uint64_t)factor;
    }
    t->kind = TK_INT;
    t->v.i = (int64_t)v;
    return 0;
}

/* A string starting at its delimiter. */
static int string(lexf *lx, ftok *t, lang_error *err)
{
    const char *s = lx->src;
    char q = s[lx->pos];
    size_t start = lx->pos, p = lx->pos + 1;
    for (;;) {
        if (p >= lx->len || s[p] == '\n')
            return fail(lx, start, err, "unterminated string");
        if (s[p] == q) {
            if (p + 1 < lx->len && s[p + 1] == q) {
                p += 2;
                continue;
            }
            break;
        }
        p++;
    }
    t->kind = TK_STR;
    t->text = s + start + 1;
    t->len = (uint32_t)(p - start - 1);
    t->v.i = q;
    lx->pos = p + 1;
    return 0;
}

char *lexf_string(arena *ar, const ftok *t, uint32_t *ret_len)
{
    char *d = arena_alloc(ar, (size_t)t->len + 1);
    if (!d)
        return NULL;
    char q = (char)t->v.i;
    uint32_t w = 0;
    for (uint32_t i = 0; i < t->len; i++) {
        d[w++] = t->text[i];
        if (t->text[i] == q)
            i++; /* the doubled delimiter */
    }
    d[w] = '\0';
    *ret_len = w;
    return d;
}

int lexf_next(lexf *lx, ftok *t, lang_error *err)
{
    const char *s = lx->src;
    memset(t, 0, sizeof(*t));
again:
    skip_blanks(lx);
    t->line = lx->line;
    t->col = (uint32_t)(lx->pos - lx->line_start + 1);
    if (lx->pos >= lx->len) {
        t->kind = TK_EOF;
        t->text = s + lx->len;
        return 0;
    }
    char c = s[lx->pos];
    size_t start = lx->pos;
    t->text = s + start;
    t->len = 1;
    if (c == '!') {
        skip_comment(lx);
        goto again;
    }
    if (c == '&') {
        if (continuation(lx, err) < 0)
            return -1;
        goto again;
    }
    if (c == '\n') {
        t->kind = TK_EOL;
        newline(lx);
        return 0;
    }
    if (c == ';') {
        t->kind = TK_EOL;
        lx->pos++;
        return 0;
    }
    if (is_alpha(c)) {
        size_t p = lx->pos;
        while (p < lx->len && is_ident(s[p]))
            p++;
        if (p - start > LEXF_MAX_NAME)
            return fail(lx, start, err, "name '%.*s...' is longer than %d characters", 16,
                        s + start, LEXF_MAX_NAME);
        t->kind = TK_NAME;
        t->len = (uint32_t)(p - start);
        for (int k = 1; k < KW__COUNT; k++)
            if (strlen(kw_names[k]) == t->len && strncasecmp(kw_names[k], t->text, t->len) == 0) {
                t->kw = (uint8_t)k;
                break;
            }
        lx->pos = p;
        return 0;
    }
    if (is_digit(c) || (c == '.' && lx->pos + 1 < lx->len && is_digit(s[lx->pos + 1])))
        return number(lx, t, err);
    if (c == '.') {
        size_t end;
        int k = dot_op_at(lx, lx->pos, &end);
        if (!k) {
            size_t p = lx->pos + 1;
            while (p < lx->len && is_alpha(s[p]))
                p++;
            if (p < lx->len && s[p] == '.' && p > lx->pos + 1)
                return fail(lx, start, err, "unknown operator '%.*s'", (int)(p + 1 - start),
                            s + start);
            return fail(lx, start, err, "unexpected character '.'");
        }
        t->kind = (uint8_t)k;
        t->len = (uint32_t)(end - start);
        lx->pos = end;
        return 0;
    }
    if (c == '"' || c == '\'')
        return string(lx, t, err);
    char n1 = lx->pos + 1 < lx->len ? s[lx->pos + 1] : '\0';
    int k = 0, l = 1;
    switch (c) {
    case '+': k = TK_PLUS; break;
    case '-': k = TK_MINUS; break;
    case '*':
        if (n1 == '*')
            k = TK_POW, l = 2;
        else
            k = TK_STAR;
        break;
    case '/':
        if (n1 == '/')
            k = TK_CAT, l = 2;
        else if (n1 == '=')
            k = TK_NE, l = 2;
        else
            k = TK_SLASH;
        break;
    case '=':
        if (n1 == '=')
            k = TK_EQ, l = 2;
        else
            k = TK_ASSIGN;
        break;
    case '<':
        if (n1 == '=')
            k = TK_LE, l = 2;
        else
            k = TK_LT;
        break;
    case '>':
        if (n1 == '=')
            k = TK_GE, l = 2;
        else
            k = TK_GT;
        break;
    case '(': k = TK_LPAREN; break;
    case ')': k = TK_RPAREN; break;
    case ',': k = TK_COMMA; break;
    case ':':
        if (n1 == ':')
            k = TK_DCOLON, l = 2;
        else
            k = TK_COLON;
        break;
    case '%': k = TK_PERCENT; break;
    default: break;
    }
    if (!k) {
        if ((unsigned char)c >= 0x80)
            return fail(lx, start, err,
                        "character outside ASCII (byte 0x%02X): allowed only in strings and comments",
                        (unsigned char)c);
        if ((unsigned char)c < 0x20 || c == 0x7f)
            return fail(lx, start, err, "unexpected control character (byte 0x%02X)",
                        (unsigned char)c);
        return fail(lx, start, err, "unexpected character '%c'", c);
    }
    t->kind = (uint8_t)k;
    t->len = (uint32_t)l;
    lx->pos += (size_t)l;
    return 0;
}
