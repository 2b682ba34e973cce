/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Load-time resolution of classic trees.  The classic dialect decides
 * almost everything at run time (a list's head may be a variable holding a
 * function, a built-in form or a user function), so the resolver only does
 * what cannot change: it interns every name, splits dotted names, gives a
 * list the built-in form its head names, and converts literals once.
 * Literal errors (an octal 0o19, an integer beyond 64 bits) are recorded
 * and raised each time the literal is evaluated, as the original does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lang/eval.h"

static const struct {
    const char *name;
    int form;
} form_names[] = {
    { "def", FORM_DEF },     { "defun", FORM_DEF },   { "defvar", FORM_DEFVAR },
    { "set", FORM_SET },     { "setq", FORM_SET },    { "let", FORM_LET },
    { "with", FORM_WITH },   { "if", FORM_IF },       { "add", FORM_ADD },
    { "sub", FORM_SUB },     { "mul", FORM_MUL },     { "div", FORM_DIV },
    { "lt", FORM_LT },       { "gt", FORM_GT },       { "lte", FORM_LTE },
    { "gte", FORM_GTE },     { "eq", FORM_EQ },       { "neq", FORM_NEQ },
    { "shl", FORM_SHL },     { "shr", FORM_SHR },     { "and", FORM_AND },
    { "or", FORM_OR },       { "not", FORM_NOT },     { "min", FORM_MIN },
    { "max", FORM_MAX },     { "null", FORM_NULL },   { "valid", FORM_VALID },
    { "eval", FORM_EVAL },
};

static const struct {
    const char *op, *name;
} op_names[] = {
    { "+", "add" }, { "-", "sub" },  { "*", "mul" },  { "/", "div" },
    { "<", "lt" },  { ">", "gt" },   { "<=", "lte" }, { ">=", "gte" },
    { "==", "eq" }, { "!=", "neq" }, { "<<", "shl" }, { ">>", "shr" },
};

static int form_of(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(form_names) / sizeof(form_names[0]); i++)
        if (strlen(form_names[i].name) == len && memcmp(form_names[i].name, name, len) == 0)
            return form_names[i].form;
    return FORM_NONE;
}

/* Value of an integer token (-?digits, 0x.., 0o..). */
static void resolve_int(node *n)
{
    const char *s = n->text, *end = n->text + n->len;
    bool neg = false;
    unsigned base = n->bracket ? n->bracket : 10;
    if (*s == '-') {
        neg = true;
        s++;
    }
    if (base != 10)
        s += 2; /* 0x / 0o */
    uint64_t v = 0;
    bool over = false, bad = false;
    for (; s < end; s++) {
        char c = *s;
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'a'           ? (unsigned)(c - 'a' + 10)
                                          : (unsigned)(c - 'A' + 10);
        if (d >= base)
            bad = true;
        if (v > (UINT64_MAX - d) / base)
            over = true;
        else
            v = v * base + d;
    }
    n->lit_status = LIT_OK;
    if (bad) {
        n->lit_status = LIT_BAD_OCTAL;
    } else if (over || v > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
        n->lit_status = LIT_OVERFLOW;
    } else {
        n->lit = lv_int(neg ? (int64_t)(0 - v) : (int64_t)v);
    }
}

/* Value of a float token, correctly rounded by strtod; overflow is inf. */
static int resolve_real(arena *ar, node *n)
{
    char *copy = arena_strndup(ar, n->text, n->len);
    if (!copy)
        return -ENOMEM;
    n->lit = lv_real(strtod(copy, NULL));
    n->lit_status = LIT_OK;
    return 0;
}

static int resolve_symbol(arena *ar, symtab *syms, node *n)
{
    if (n->len == 3 && memcmp(n->text, "nil", 3) == 0)
        n->kind = N_NIL;
    int id = symtab_intern(syms, n->text, n->len);
    if (id < 0)
        return id;
    n->sym = id;
    const char *dot = n->kind == N_SYM ? memchr(n->text, '.', n->len) : NULL;
    if (!dot)
        return 0;
    /* BASE.ATTR[.more]: the parts after the second are ignored. */
    n->kind = N_DOT;
    if ((id = symtab_intern(syms, n->text, (size_t)(dot - n->text))) < 0)
        return id;
    n->base = id;
    const char *a = dot + 1, *end = n->text + n->len;
    const char *a_end = memchr(a, '.', (size_t)(end - a));
    if (!a_end)
        a_end = end;
    char *name = arena_strndup(ar, a, (size_t)(a_end - a));
    if (!name)
        return -ENOMEM;
    n->attr_name = name;
    n->attr_len = (uint32_t)(a_end - a);
    n->attr = (uint16_t)ast_attr_id(name, n->attr_len);
    return 0;
}

static int resolve_op(symtab *syms, node *n)
{
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
        const char *op = op_names[i].op;
        if (strlen(op) == n->len && memcmp(op, n->text, n->len) == 0) {
            const char *name = op_names[i].name;
            int id = symtab_intern(syms, name, strlen(name));
            if (id < 0)
                return id;
            n->sym = id;
            n->form = (uint8_t)form_of(name, strlen(name));
            return 0;
        }
    }
    return -EINVAL;
}

int resolve_classic(arena *ar, symtab *syms, node *n)
{
    int r;
    switch ((node_kind)n->kind) {
    case N_INT: resolve_int(n); return 0;
    case N_REAL: return resolve_real(ar, n);
    case N_STR: {
        /* A NUL-terminated copy, so that names and keys need no copy. */
        char *copy = arena_strndup(ar, n->text, n->len);
        if (!copy)
            return -ENOMEM;
        n->lit = lv_str(copy, n->len);
        n->lit.flags = LV_F_CSTR;
        return 0;
    }
    case N_SYM:
    case N_DOT:
    case N_NIL: return resolve_symbol(ar, syms, n);
    case N_OP: return resolve_op(syms, n);
    case N_LIST:
        for (uint32_t i = 0; i < n->n; i++)
            if ((r = resolve_classic(ar, syms, n->kids[i])) < 0)
                return r;
        if (n->n) {
            const node *h = n->kids[0];
            n->sym = h->sym;
            if (h->kind == N_OP)
                n->form = h->form;
            else if (h->kind == N_SYM)
                n->form = (uint8_t)form_of(h->text, h->len);
        }
        return 0;
    }
    return -EINVAL;
}
