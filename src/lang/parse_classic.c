/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Classic-dialect parser: a recursive descent over the lexer's tokens that
 * builds N_LIST nodes and atoms in the program's arena.  Children being
 * collected wait on one shared stack, so a list costs one arena copy.
 */
#include "lang/parse_classic.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/lex_classic.h"

typedef struct parser {
    arena *ar;
    uint16_t file;
    lexc lx;
    ctok tok;          /* current token */
    lang_error *err;
    node **stack;      /* children of the lists being parsed */
    size_t n, cap;
} parser;

static int next(parser *p)
{
    return lexc_next(&p->lx, &p->tok, p->err) < 0 ? -EBADMSG : 0;
}

static int push(parser *p, node *n)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        node **s = mom_realloc(p->stack, cap * sizeof(*s));
        if (!s)
            return -ENOMEM;
        p->stack = s;
        p->cap = cap;
    }
    p->stack[p->n++] = n;
    return 0;
}

static int parse_error(parser *p, const ctok *at)
{
    p->err->line = at->line;
    p->err->col = at->col;
    snprintf(p->err->msg, sizeof(p->err->msg), "parse error");
    return -EBADMSG;
}

static char closer_of(char open)
{
    return open == '(' ? ')' : open == '[' ? ']' : '}';
}

/* An atom node for the current token. */
static node *atom(parser *p)
{
    static const node_kind kinds[] = {
        [CT_INT] = N_INT, [CT_REAL] = N_REAL, [CT_STR] = N_STR,
        [CT_SYM] = N_SYM, [CT_OP] = N_OP,
    };
    node *n = ast_node_new(p->ar, kinds[p->tok.kind], p->file, p->tok.line, p->tok.col);
    if (!n)
        return NULL;
    n->text = p->tok.text;
    n->len = p->tok.len;
    if (p->tok.kind == CT_INT)
        n->bracket = p->tok.base; /* integer literals keep their base here */
    return n;
}

static int parse_value(parser *p, int depth, node **ret);

/* value := "(" value* ")" | "[" value* "]" | "{" value* "}"
 * The current token is the opening bracket. */
static int parse_list(parser *p, int depth, node **ret)
{
    ctok open = p->tok;
    if (depth >= PARSEC_MAX_DEPTH) {
        p->err->line = open.line;
        p->err->col = open.col;
        snprintf(p->err->msg, sizeof(p->err->msg),
                 "expressions nested deeper than %d levels on line %u", PARSEC_MAX_DEPTH,
                 open.line);
        return -EBADMSG;
    }
    node *list = ast_node_new(p->ar, N_LIST, p->file, open.line, open.col);
    if (!list)
        return -ENOMEM;
    list->bracket = (uint8_t)open.bracket;
    list->text = open.text;
    list->len = 1;
    size_t mark = p->n;
    int r;
    if (open.bracket == '{') {
        /* { a b } is (eval a b): the inserted head sits at the brace. */
        node *ev = ast_node_new(p->ar, N_SYM, p->file, open.line, open.col);
        if (!ev)
            return -ENOMEM;
        ev->text = "eval";
        ev->len = 4;
        if ((r = push(p, ev)) < 0)
            return r;
    }
    for (;;) {
        if ((r = next(p)) < 0)
            return r;
        if (p->tok.kind == CT_EOF)
            return parse_error(p, &open);
        if (p->tok.kind == CT_CLOSE) {
            if (p->tok.bracket != closer_of(open.bracket))
                return parse_error(p, &p->tok);
            break;
        }
        node *child;
        if ((r = parse_value(p, depth + 1, &child)) < 0)
            return r;
        if ((r = push(p, child)) < 0)
            return r;
    }
    list->n = (uint32_t)(p->n - mark);
    list->kids = arena_alloc(p->ar, (list->n ? list->n : 1) * sizeof(node *));
    if (!list->kids)
        return -ENOMEM;
    if (list->n)
        memcpy(list->kids, p->stack + mark, list->n * sizeof(node *));
    p->n = mark;
    *ret = list;
    return 0;
}

/* value for the current token. */
static int parse_value(parser *p, int depth, node **ret)
{
    switch ((ctok_kind)p->tok.kind) {
    case CT_OPEN: return parse_list(p, depth, ret);
    case CT_CLOSE:
    case CT_EOF: return parse_error(p, &p->tok);
    default: *ret = atom(p); return *ret ? 0 : -ENOMEM;
    }
}

int parsec_text(arena *ar, uint16_t file, const char *src, size_t len, node ***ret_top,
                size_t *ret_n, lang_error *err)
{
    parser p = { .ar = ar, .file = file, .err = err };
    lexc_init(&p.lx, src, len);
    int r;
    for (;;) {
        if ((r = next(&p)) < 0)
            goto out;
        if (p.tok.kind == CT_EOF)
            break;
        node *v;
        if ((r = parse_value(&p, 0, &v)) < 0 || (r = push(&p, v)) < 0)
            goto out;
    }
    node **top = arena_alloc(ar, (p.n ? p.n : 1) * sizeof(node *));
    if (!top) {
        r = -ENOMEM;
        goto out;
    }
    if (p.n)
        memcpy(top, p.stack, p.n * sizeof(node *));
    *ret_top = top;
    *ret_n = p.n;
    r = 0;
out:
    mom_free(p.stack);
    return r;
}
