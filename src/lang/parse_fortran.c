/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Recursive-descent parser of the Fortran-like dialect.  The text is first
 * cut into tokens (so that the grammar may look two tokens ahead); every
 * node goes to the program's arena, and a syntax error unwinds with
 * longjmp, which leaks nothing since the arena owns everything.
 */
#include "lang/parse_fortran.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "lang/lex_fortran.h"

typedef struct pf {
    arena *ar;
    uint16_t file;
    ftok *toks;
    size_t n, pos;
    lang_error *err;
    int depth;
    int code;             /* -ENOMEM or -EBADMSG after longjmp */
    jmp_buf jb;
} pf;

/* ---- helpers --------------------------------------------------------------- */

static _Noreturn void nomem(pf *p)
{
    p->code = -ENOMEM;
    longjmp(p->jb, 1);
}

static _Noreturn void fail_at(pf *p, const ftok *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static _Noreturn void fail_at(pf *p, const ftok *t, const char *fmt, ...)
{
    p->err->line = t->line;
    p->err->col = t->col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
    va_end(ap);
    p->code = -EBADMSG;
    longjmp(p->jb, 1);
}

static inline const ftok *peek(const pf *p)
{
    return &p->toks[p->pos];
}

static inline const ftok *peek2(const pf *p)
{
    return &p->toks[p->pos + 1 < p->n ? p->pos + 1 : p->n - 1];
}

static inline const ftok *advance(pf *p)
{
    const ftok *t = &p->toks[p->pos];
    if (p->pos + 1 < p->n)
        p->pos++;
    return t;
}

/* How a token reads in a message. */
static void describe(const ftok *t, char *buf, size_t size)
{
    switch (t->kind) {
    case TK_EOL:
        snprintf(buf, size, "%s", t->len == 1 && t->text[0] == ';' ? "';'" : "end of line");
        break;
    case TK_EOF: snprintf(buf, size, "end of file"); break;
    case TK_STR: snprintf(buf, size, "string \"%.*s\"", t->len > 40 ? 40 : (int)t->len, t->text); break;
    default: snprintf(buf, size, "'%.*s'", t->len > 40 ? 40 : (int)t->len, t->text); break;
    }
}

static _Noreturn void expected(pf *p, const char *what)
{
    char found[64];
    describe(peek(p), found, sizeof(found));
    fail_at(p, peek(p), "syntax error: expected %s, found %s", what, found);
}

static inline bool at_kind(const pf *p, int kind)
{
    return peek(p)->kind == kind;
}

static inline bool at_kw(const pf *p, int kw)
{
    return peek(p)->kind == TK_NAME && peek(p)->kw == kw;
}

static const ftok *expect(pf *p, int kind, const char *what)
{
    if (!at_kind(p, kind))
        expected(p, what);
    return advance(p);
}

static void expect_kw(pf *p, int kw)
{
    if (!at_kw(p, kw)) {
        char what[48];
        snprintf(what, sizeof(what), "'%s'", lexf_kw_name(kw));
        expected(p, what);
    }
    advance(p);
}

static void end_of_statement(pf *p)
{
    if (at_kind(p, TK_EOF))
        return;
    expect(p, TK_EOL, "end of line");
}

static void skip_eols(pf *p)
{
    while (at_kind(p, TK_EOL))
        advance(p);
}

static fnode *mknode(pf *p, int op, const ftok *at)
{
    fnode *n = arena_calloc(p->ar, sizeof(*n));
    if (!n)
        nomem(p);
    n->op = (uint8_t)op;
    n->file = p->file;
    n->line = at->line;
    n->col = at->col;
    n->cache_id = -1;
    return n;
}

static fnode **kids(pf *p, uint32_t n)
{
    fnode **k = arena_calloc(p->ar, (n ? n : 1) * sizeof(*k));
    if (!k)
        nomem(p);
    return k;
}

static const char *name_copy(pf *p, const ftok *t)
{
    char *s = arena_strndup(p->ar, t->text, t->len);
    if (!s)
        nomem(p);
    return s;
}

/* A name token that is not a reserved word. */
static const ftok *expect_name(pf *p, const char *what)
{
    const ftok *t = peek(p);
    if (t->kind != TK_NAME)
        expected(p, what);
    if (t->kw)
        fail_at(p, t, "'%.*s' is a reserved word and cannot be used as a name", (int)t->len,
                t->text);
    return advance(p);
}

static void enter(pf *p, const ftok *at)
{
    if (++p->depth > PARSEF_MAX_DEPTH)
        fail_at(p, at, "nesting deeper than %d levels", PARSEF_MAX_DEPTH);
}

static inline void leave(pf *p)
{
    p->depth--;
}

/* A growable vector of nodes in the arena. */
typedef struct nvec {
    fnode **v;
    uint32_t n, cap;
} nvec;

static void nvec_push(pf *p, nvec *v, fnode *x)
{
    if (v->n == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : 4;
        fnode **nv = arena_alloc(p->ar, cap * sizeof(*nv));
        if (!nv)
            nomem(p);
        if (v->n)
            memcpy(nv, v->v, v->n * sizeof(*nv));
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
}

/* ---- expressions ------------------------------------------------------------ */

static fnode *expr(pf *p);

static fnode *binary(pf *p, int op, const ftok *at, fnode *l, fnode *r)
{
    fnode *n = mknode(p, op, at);
    n->kids = kids(p, 2);
    n->kids[0] = l;
    n->kids[1] = r;
    n->n = 2;
    return n;
}

static fnode *unary(pf *p, int op, const ftok *at, fnode *x)
{
    fnode *n = mknode(p, op, at);
    n->kids = kids(p, 1);
    n->kids[0] = x;
    n->n = 1;
    return n;
}

/* args := [ expr { , expr } ]  -- after '(' up to and including ')' */
static void arg_list(pf *p, fnode *n)
{
    nvec v = { 0 };
    if (!at_kind(p, TK_RPAREN)) {
        for (;;) {
            nvec_push(p, &v, expr(p));
            if (!at_kind(p, TK_COMMA))
                break;
            advance(p);
        }
    }
    expect(p, TK_RPAREN, "',' or ')'");
    n->kids = v.v;
    n->n = v.n;
}

/* primary := literal | name | name(args) | ( expr ), then any number of
 * %component and (index) suffixes. */
static fnode *primary(pf *p)
{
    const ftok *t = peek(p);
    fnode *n;
    switch (t->kind) {
    case TK_INT:
        advance(p);
        n = mknode(p, FX_CONST, t);
        n->lit = lv_int(t->v.i);
        n->type = FT_INT;
        break;
    case TK_REAL:
        advance(p);
        n = mknode(p, FX_CONST, t);
        n->lit = lv_real(t->v.r);
        n->type = FT_REAL;
        break;
    case TK_STR: {
        advance(p);
        n = mknode(p, FX_CONST, t);
        uint32_t len;
        char *s = lexf_string(p->ar, t, &len);
        if (!s)
            nomem(p);
        n->lit = lv_str(s, len);
        n->lit.flags = LV_F_CSTR;
        n->type = FT_STR;
        break;
    }
    case TK_TRUE:
    case TK_FALSE:
        advance(p);
        n = mknode(p, FX_CONST, t);
        n->lit = lv_bool(t->kind == TK_TRUE);
        n->type = FT_LOG;
        break;
    case TK_LPAREN:
        advance(p);
        enter(p, t);
        n = expr(p);
        leave(p);
        expect(p, TK_RPAREN, "')'");
        n->flags |= FN_PAREN;
        break;
    case TK_NAME:
        /* `real` is also the intrinsic real(x). */
        if (t->kw && !(t->kw == KW_REAL && peek2(p)->kind == TK_LPAREN))
            fail_at(p, t, "'%.*s' is a reserved word and cannot be used as a name", (int)t->len,
                    t->text);
        advance(p);
        n = mknode(p, FX_NAME, t);
        n->name = name_copy(p, t);
        n->name_len = t->len;
        break;
    default: expected(p, "an expression");
    }
    for (;;) {
        const ftok *s = peek(p);
        if (s->kind == TK_PERCENT) {
            advance(p);
            const ftok *c = expect(p, TK_NAME, "a component name after '%'");
            fnode *m = mknode(p, FX_COMP, c);
            m->kids = kids(p, 1);
            m->kids[0] = n;
            m->n = 1;
            m->name = name_copy(p, c);
            m->name_len = c->len;
            m->lit = lv_str(m->name, c->len);
            m->lit.flags = LV_F_CSTR;
            n = m;
        } else if (s->kind == TK_LPAREN && !(n->flags & FN_PAREN)) {
            advance(p);
            enter(p, s);
            if (n->op == FX_NAME) {
                n->op = FX_FCALL;
                arg_list(p, n);
            } else {
                fnode *m = mknode(p, FX_INDEX, s);
                arg_list(p, m);
                fnode **k = kids(p, m->n + 1);
                k[0] = n;
                for (uint32_t i = 0; i < m->n; i++)
                    k[i + 1] = m->kids[i];
                m->kids = k;
                m->n++;
                n = m;
            }
            leave(p);
        } else {
            break;
        }
    }
    return n;
}

/* power := primary [ ** [+|-] power ]   (right associative) */
static fnode *power(pf *p)
{
    fnode *l = primary(p);
    if (!at_kind(p, TK_POW))
        return l;
    const ftok *op = advance(p);
    enter(p, op);
    fnode *r;
    if (at_kind(p, TK_MINUS) || at_kind(p, TK_PLUS)) {
        const ftok *s = advance(p);
        r = power(p);
        if (s->kind == TK_MINUS)
            r = unary(p, FX_NEG, s, r);
    } else {
        r = power(p);
    }
    leave(p);
    return binary(p, FX_POW, op, l, r);
}

/* factor := power | (+|-) factor   -- a sign after * or / (2 * -3) */
static fnode *factor(pf *p)
{
    if (at_kind(p, TK_MINUS) || at_kind(p, TK_PLUS)) {
        const ftok *s = advance(p);
        enter(p, s);
        fnode *x = factor(p);
        leave(p);
        return s->kind == TK_MINUS ? unary(p, FX_NEG, s, x) : x;
    }
    return power(p);
}

/* term := factor { (*|/) factor } */
static fnode *term(pf *p)
{
    fnode *l = power(p);
    while (at_kind(p, TK_STAR) || at_kind(p, TK_SLASH)) {
        const ftok *op = advance(p);
        l = binary(p, op->kind == TK_STAR ? FX_MUL : FX_DIV, op, l, factor(p));
    }
    return l;
}

/* sum := [+|-] term { (+|-) term } */
static fnode *sum(pf *p)
{
    fnode *l;
    if (at_kind(p, TK_MINUS) || at_kind(p, TK_PLUS)) {
        const ftok *s = advance(p);
        l = term(p);
        if (s->kind == TK_MINUS)
            l = unary(p, FX_NEG, s, l);
    } else {
        l = term(p);
    }
    while (at_kind(p, TK_PLUS) || at_kind(p, TK_MINUS)) {
        const ftok *op = advance(p);
        l = binary(p, op->kind == TK_PLUS ? FX_ADD : FX_SUB, op, l, term(p));
    }
    return l;
}

/* concat := sum { // sum } */
static fnode *concat(pf *p)
{
    fnode *l = sum(p);
    while (at_kind(p, TK_CAT)) {
        const ftok *op = advance(p);
        l = binary(p, FX_CAT, op, l, sum(p));
    }
    return l;
}

static int rel_op(int kind)
{
    switch (kind) {
    case TK_EQ: return FX_EQ;
    case TK_NE: return FX_NE;
    case TK_LT: return FX_LT;
    case TK_LE: return FX_LE;
    case TK_GT: return FX_GT;
    case TK_GE: return FX_GE;
    default: return 0;
    }
}

/* relation := concat [ relop concat ]   (not associative) */
static fnode *relation(pf *p)
{
    fnode *l = concat(p);
    int op = rel_op(peek(p)->kind);
    if (!op)
        return l;
    const ftok *t = advance(p);
    fnode *n = binary(p, op, t, l, concat(p));
    if (rel_op(peek(p)->kind))
        fail_at(p, peek(p),
                "comparisons do not chain: write (a < b) .and. (b < c) instead of a < b < c");
    return n;
}

/* negation := .not. negation | relation */
static fnode *negation(pf *p)
{
    if (at_kind(p, TK_NOT)) {
        const ftok *t = advance(p);
        enter(p, t);
        fnode *x = negation(p);
        leave(p);
        return unary(p, FX_NOT, t, x);
    }
    return relation(p);
}

static fnode *conjunction(pf *p)
{
    fnode *l = negation(p);
    while (at_kind(p, TK_AND)) {
        const ftok *t = advance(p);
        l = binary(p, FX_AND, t, l, negation(p));
    }
    return l;
}

static fnode *disjunction(pf *p)
{
    fnode *l = conjunction(p);
    while (at_kind(p, TK_OR)) {
        const ftok *t = advance(p);
        l = binary(p, FX_OR, t, l, conjunction(p));
    }
    return l;
}

/* expr := disjunction { (.eqv.|.neqv.) disjunction } */
static fnode *expr(pf *p)
{
    enter(p, peek(p));
    fnode *l = disjunction(p);
    while (at_kind(p, TK_EQV) || at_kind(p, TK_NEQV)) {
        const ftok *t = advance(p);
        l = binary(p, t->kind == TK_EQV ? FX_EQV : FX_NEQV, t, l, disjunction(p));
    }
    leave(p);
    return l;
}

/* ---- declarations ------------------------------------------------------------ */

static bool at_type(const pf *p)
{
    const ftok *t = peek(p);
    return t->kind == TK_NAME && (t->kw == KW_INTEGER || t->kw == KW_REAL || t->kw == KW_DOUBLE ||
                                  t->kw == KW_LOGICAL || t->kw == KW_CHARACTER);
}

/* kind-selector := ( [kind =] 8 ) */
static void kind_selector(pf *p)
{
    if (!at_kind(p, TK_LPAREN))
        return;
    advance(p);
    const ftok *t = peek(p);
    if (t->kind == TK_NAME && t->len == 4 && strncasecmp(t->text, "kind", 4) == 0) {
        advance(p);
        expect(p, TK_ASSIGN, "'='");
    }
    t = expect(p, TK_INT, "a kind number");
    if (t->v.i != 8)
        fail_at(p, t, "kind %" PRId64 " is not supported (write 8, or leave the kind out)",
                t->v.i);
    expect(p, TK_RPAREN, "')'");
}

/* type-spec := integer [kind] | real [kind] | double precision | logical
 *            | character [( [len=] (*|n) )] */
static int type_spec(pf *p)
{
    const ftok *t = advance(p);
    switch (t->kw) {
    case KW_INTEGER: kind_selector(p); return FT_INT;
    case KW_REAL: kind_selector(p); return FT_REAL;
    case KW_DOUBLE: expect_kw(p, KW_PRECISION); return FT_REAL;
    case KW_LOGICAL: return FT_LOG;
    default:
        if (at_kind(p, TK_LPAREN)) {
            advance(p);
            const ftok *l = peek(p);
            if (l->kind == TK_NAME && l->len == 3 && strncasecmp(l->text, "len", 3) == 0) {
                advance(p);
                expect(p, TK_ASSIGN, "'='");
            }
            if (at_kind(p, TK_STAR) || at_kind(p, TK_INT))
                advance(p);
            else
                expected(p, "'*' or a length");
            expect(p, TK_RPAREN, "')'");
        }
        return FT_STR;
    }
}

/* declaration := type-spec { , attribute } [::] entity { , entity }
 * entity      := name [ = expr ] */
static fnode *declaration(pf *p, int type, const ftok *start)
{
    bool param = false, save = false;
    while (at_kind(p, TK_COMMA)) {
        advance(p);
        const ftok *a = expect(p, TK_NAME, "an attribute");
        if (a->kw == KW_PARAMETER) {
            param = true;
        } else if (a->kw == KW_SAVE) {
            save = true;
        } else if (a->kw == KW_INTENT) {
            expect(p, TK_LPAREN, "'('");
            const ftok *i = peek(p);
            if (i->kind == TK_NAME &&
                ((i->len == 2 && strncasecmp(i->text, "in", 2) == 0) ||
                 (i->len == 3 && strncasecmp(i->text, "out", 3) == 0) ||
                 (i->len == 5 && strncasecmp(i->text, "inout", 5) == 0)))
                advance(p);
            else
                expected(p, "in, out or inout");
            expect(p, TK_RPAREN, "')'");
        } else {
            fail_at(p, a, "attribute '%.*s' is not supported", (int)a->len, a->text);
        }
    }
    if (at_kind(p, TK_DCOLON))
        advance(p);
    fnode *d = mknode(p, FS_DECL, start);
    fdecl *head = NULL, **tail = &head;
    for (;;) {
        const ftok *nt = expect_name(p, "a variable name");
        fdecl *v = arena_calloc(p->ar, sizeof(*v));
        if (!v)
            nomem(p);
        v->name = name_copy(p, nt);
        v->len = nt->len;
        v->file = p->file;
        v->line = nt->line;
        v->col = nt->col;
        v->type = (uint8_t)type;
        v->param = param;
        v->save = save;
        if (at_kind(p, TK_LPAREN))
            fail_at(p, nt, "'%s' cannot be an array: there are no array variables", v->name);
        if (at_kind(p, TK_ASSIGN)) {
            advance(p);
            v->init = expr(p);
        } else if (param) {
            fail_at(p, nt, "parameter '%s' needs a value (= expression)", v->name);
        }
        *tail = v;
        tail = &v->next;
        if (!at_kind(p, TK_COMMA))
            break;
        advance(p);
    }
    d->ref = head;
    end_of_statement(p);
    return d;
}

/* ---- statements ------------------------------------------------------------- */

static fnode *statement(pf *p, bool in_block);
static fnode *block(pf *p);

/* Whether the next tokens end a block: end..., else..., case, EOF. */
static bool at_block_end(const pf *p)
{
    const ftok *t = peek(p);
    if (t->kind == TK_EOF)
        return true;
    if (t->kind != TK_NAME)
        return false;
    switch (t->kw) {
    case KW_END:
    case KW_ENDIF:
    case KW_ENDDO:
    case KW_ENDSELECT:
    case KW_ENDFUNCTION:
    case KW_ENDSUBROUTINE:
    case KW_ELSE:
    case KW_ELSEIF:
    case KW_CASE: return true;
    default: return false;
    }
}

/* block := { statement }  up to a block end */
static fnode *block(pf *p)
{
    fnode *head = NULL, **tail = &head;
    for (;;) {
        skip_eols(p);
        if (at_block_end(p))
            break;
        fnode *s = statement(p, true);
        if (!s)
            continue;
        *tail = s;
        tail = &s->next;
    }
    return head;
}

/* Consume "end WORD" or "endWORD" (kw2 is the joined keyword). */
static void end_construct(pf *p, int word, int joined, const char *what)
{
    const ftok *t = peek(p);
    if (t->kind == TK_NAME && t->kw == joined) {
        advance(p);
        return;
    }
    if (t->kind == TK_NAME && t->kw == KW_END && peek2(p)->kind == TK_NAME && peek2(p)->kw == word) {
        advance(p);
        advance(p);
        return;
    }
    char buf[64];
    snprintf(buf, sizeof(buf), "'%s' to close the %s", what, lexf_kw_name(word));
    expected(p, buf);
}

/* if-construct := if (c) then EOL block { else if (c) then EOL block }
 *                 [ else EOL block ] end if
 * one-line if  := if (c) simple-statement */
static fnode *if_statement(pf *p, const ftok *kw)
{
    fnode *n = mknode(p, FS_IF, kw);
    expect(p, TK_LPAREN, "'(' after 'if'");
    n->kids = kids(p, 1);
    n->kids[0] = expr(p);
    n->n = 1;
    expect(p, TK_RPAREN, "')'");
    if (!at_kw(p, KW_THEN)) {
        const ftok *s = peek(p);
        if (s->kind == TK_EOL || s->kind == TK_EOF)
            expected(p, "'then' or a statement");
        bool simple = s->kind == TK_NAME &&
                      (!s->kw || s->kw == KW_CALL || s->kw == KW_EXIT || s->kw == KW_CYCLE ||
                       s->kw == KW_RETURN || s->kw == KW_PRINT || s->kw == KW_STOP ||
                       s->kw == KW_ERROR);
        if (!simple)
            fail_at(p, s, "a one-line if takes one simple statement (assignment, call, exit, "
                          "cycle, return, print or stop)");
        n->body = statement(p, true);
        return n;
    }
    advance(p);
    end_of_statement(p);
    enter(p, kw);
    n->body = block(p);
    fnode *cur = n;
    for (;;) {
        const ftok *t = peek(p);
        bool elseif = (t->kind == TK_NAME && t->kw == KW_ELSEIF) ||
                      (t->kind == TK_NAME && t->kw == KW_ELSE && peek2(p)->kind == TK_NAME &&
                       peek2(p)->kw == KW_IF);
        if (elseif) {
            advance(p);
            if (t->kw == KW_ELSE)
                advance(p);
            fnode *e = mknode(p, FS_IF, t);
            expect(p, TK_LPAREN, "'(' after 'else if'");
            e->kids = kids(p, 1);
            e->kids[0] = expr(p);
            e->n = 1;
            expect(p, TK_RPAREN, "')'");
            expect_kw(p, KW_THEN);
            end_of_statement(p);
            e->body = block(p);
            cur->alt = e;
            cur = e;
            continue;
        }
        if (t->kind == TK_NAME && t->kw == KW_ELSE) {
            advance(p);
            end_of_statement(p);
            cur->alt = block(p);
            if (at_kw(p, KW_ELSE) || at_kw(p, KW_ELSEIF))
                fail_at(p, peek(p), "'else' after the final 'else' of this if");
        }
        break;
    }
    end_construct(p, KW_IF, KW_ENDIF, "end if");
    leave(p);
    end_of_statement(p);
    return n;
}

/* do-construct := [label:] do ( var = a, b [, s] | while (c) | x in array )
 *                 EOL block end do [label] */
static fnode *do_statement(pf *p, const ftok *kw, const char *label)
{
    fnode *n;
    if (at_kw(p, KW_WHILE)) {
        advance(p);
        n = mknode(p, FS_DOWHILE, kw);
        expect(p, TK_LPAREN, "'(' after 'do while'");
        n->kids = kids(p, 1);
        n->kids[0] = expr(p);
        n->n = 1;
        expect(p, TK_RPAREN, "')'");
    } else if (at_kind(p, TK_NAME) && !peek(p)->kw && peek2(p)->kind == TK_ASSIGN) {
        const ftok *v = advance(p);
        advance(p);
        n = mknode(p, FS_DO, kw);
        n->kids = kids(p, 4);
        n->n = 4;
        fnode *var = mknode(p, FX_NAME, v);
        var->name = name_copy(p, v);
        var->name_len = v->len;
        n->kids[0] = var;
        n->kids[1] = expr(p);
        expect(p, TK_COMMA, "',' after the first value of the loop");
        n->kids[2] = expr(p);
        if (at_kind(p, TK_COMMA)) {
            advance(p);
            n->kids[3] = expr(p);
        }
    } else if (at_kind(p, TK_NAME) && peek2(p)->kind == TK_NAME && peek2(p)->kw == KW_IN) {
        const ftok *v = expect_name(p, "a loop variable");
        advance(p);
        n = mknode(p, FS_DOIN, kw);
        n->kids = kids(p, 2);
        n->n = 2;
        fnode *var = mknode(p, FX_NAME, v);
        var->name = name_copy(p, v);
        var->name_len = v->len;
        n->kids[1] = var;
        n->kids[0] = expr(p);
    } else {
        expected(p, "'while', 'VAR = first, last' or 'VAR in array' after 'do'");
    }
    n->name = label;
    end_of_statement(p);
    enter(p, kw);
    n->body = block(p);
    end_construct(p, KW_DO, KW_ENDDO, "end do");
    leave(p);
    if (at_kind(p, TK_NAME) && !peek(p)->kw) {
        const ftok *l = advance(p);
        if (!label || strlen(label) != l->len || memcmp(label, l->text, l->len) != 0)
            fail_at(p, l, label ? "'end do %.*s' does not match the label '%s' of this loop"
                                : "'end do %.*s' names a label but this loop has none%s",
                    (int)l->len, l->text, label ? label : "");
    }
    end_of_statement(p);
    return n;
}

/* case-item := expr | [expr] : [expr] */
static fnode *case_item(pf *p)
{
    const ftok *t = peek(p);
    fnode *lo = NULL;
    if (!at_kind(p, TK_COLON))
        lo = expr(p);
    if (!at_kind(p, TK_COLON))
        return lo;
    advance(p);
    fnode *r = mknode(p, FX_RANGE, t);
    r->kids = kids(p, 2);
    r->n = 2;
    r->kids[0] = lo;
    if (!at_kind(p, TK_COMMA) && !at_kind(p, TK_RPAREN))
        r->kids[1] = expr(p);
    if (!lo && !r->kids[1])
        fail_at(p, t, "a case range needs at least one bound");
    return r;
}

/* select-construct := select case (expr) EOL { case (items) EOL block
 *                     | case default EOL block } end select */
static fnode *select_statement(pf *p, const ftok *kw)
{
    expect_kw(p, KW_CASE);
    fnode *n = mknode(p, FS_SELECT, kw);
    expect(p, TK_LPAREN, "'(' after 'select case'");
    n->kids = kids(p, 1);
    n->kids[0] = expr(p);
    n->n = 1;
    expect(p, TK_RPAREN, "')'");
    end_of_statement(p);
    enter(p, kw);
    fnode **tail = &n->body;
    for (;;) {
        skip_eols(p);
        const ftok *t = peek(p);
        if (!(t->kind == TK_NAME && t->kw == KW_CASE))
            break;
        advance(p);
        fnode *c = mknode(p, FS_CASE, t);
        if (at_kw(p, KW_DEFAULT)) {
            advance(p);
            c->flags |= FN_DEFAULT;
        } else {
            expect(p, TK_LPAREN, "'(' or 'default' after 'case'");
            nvec v = { 0 };
            for (;;) {
                nvec_push(p, &v, case_item(p));
                if (!at_kind(p, TK_COMMA))
                    break;
                advance(p);
            }
            expect(p, TK_RPAREN, "',' or ')'");
            c->kids = v.v;
            c->n = v.n;
        }
        end_of_statement(p);
        c->body = block(p);
        *tail = c;
        tail = &c->next;
    }
    end_construct(p, KW_SELECT, KW_ENDSELECT, "end select");
    leave(p);
    end_of_statement(p);
    return n;
}

/* designator := name { % name } -- the target of an assignment */
static fnode *assignment(pf *p)
{
    const ftok *start = peek(p);
    fnode *target = primary(p);
    if (target->op == FX_FCALL || target->op == FX_INDEX)
        fail_at(p, start, "cannot assign to '%s(...)': there are no array variables",
                target->name ? target->name : "...");
    if (target->op != FX_NAME && target->op != FX_COMP)
        fail_at(p, start, "syntax error: expected a variable or a component to assign to");
    const ftok *eq = peek(p);
    if (eq->kind != TK_ASSIGN) {
        if (eq->kind == TK_EQ)
            fail_at(p, eq, "syntax error: '==' compares; write '=' to assign");
        expected(p, "'='");
    }
    advance(p);
    fnode *n = mknode(p, FS_ASSIGN, eq);
    n->kids = kids(p, 2);
    n->n = 2;
    n->kids[0] = target;
    n->kids[1] = expr(p);
    end_of_statement(p);
    return n;
}

/* One statement; NULL for an empty one.  Declarations and procedures are
 * refused inside blocks (in_block). */
static fnode *procedure(pf *p, const ftok *start, int rtype, bool recursive);

static fnode *statement(pf *p, bool in_block)
{
    const ftok *t = peek(p);
    if (t->kind == TK_EOL) {
        advance(p);
        return NULL;
    }
    if (t->kind != TK_NAME)
        expected(p, "a statement");
    /* A label: name ':' do */
    if (!t->kw && peek2(p)->kind == TK_COLON) {
        const ftok *l = advance(p);
        advance(p);
        const ftok *d = peek(p);
        if (!(d->kind == TK_NAME && d->kw == KW_DO))
            fail_at(p, l, "only 'do' constructs take labels");
        advance(p);
        return do_statement(p, d, name_copy(p, l));
    }
    switch (t->kw) {
    case KW_NONE: {
        static const char *const foreign[] = { "program", "module", "contains", "use" };
        for (size_t i = 0; i < 4; i++) {
            size_t l = strlen(foreign[i]);
            int k2 = peek2(p)->kind;
            if (t->len == l && strncasecmp(t->text, foreign[i], l) == 0 && k2 != TK_ASSIGN &&
                k2 != TK_PERCENT && k2 != TK_LPAREN)
                fail_at(p, t, "'%s' is not part of the policy language: a file is a sequence of "
                              "declarations, statements and procedures",
                        foreign[i]);
        }
        return assignment(p);
    }
    case KW_INTEGER:
    case KW_REAL:
    case KW_DOUBLE:
    case KW_LOGICAL:
    case KW_CHARACTER: {
        if (in_block)
            fail_at(p, t, "declarations are not allowed inside a block");
        int type = type_spec(p);
        if (at_kw(p, KW_FUNCTION) || at_kw(p, KW_RECURSIVE)) {
            bool rec = false;
            if (at_kw(p, KW_RECURSIVE)) {
                advance(p);
                rec = true;
            }
            return procedure(p, t, type, rec);
        }
        return declaration(p, type, t);
    }
    case KW_RECURSIVE:
    case KW_FUNCTION:
    case KW_SUBROUTINE: {
        if (in_block)
            fail_at(p, t, "a procedure cannot be defined inside a block");
        bool rec = false;
        int type = FT_ANY;
        if (t->kw == KW_RECURSIVE) {
            advance(p);
            rec = true;
            if (at_type(p))
                type = type_spec(p);
        }
        return procedure(p, t, type, rec);
    }
    case KW_IMPLICIT: {
        advance(p);
        expect_kw(p, KW_NONE_);
        end_of_statement(p);
        return mknode(p, FS_NOP, t);
    }
    case KW_IF: advance(p); return if_statement(p, t);
    case KW_DO: advance(p); return do_statement(p, t, NULL);
    case KW_SELECT: advance(p); return select_statement(p, t);
    case KW_EXIT:
    case KW_CYCLE: {
        advance(p);
        fnode *n = mknode(p, t->kw == KW_EXIT ? FS_EXIT : FS_CYCLE, t);
        if (at_kind(p, TK_NAME)) {
            const ftok *l = expect_name(p, "a loop label");
            n->name = name_copy(p, l);
            n->name_len = l->len;
        }
        end_of_statement(p);
        return n;
    }
    case KW_CALL: {
        advance(p);
        fnode *n = mknode(p, FS_CALL, t);
        const ftok *nt = expect_name(p, "the name of a subroutine");
        fnode *c = mknode(p, FX_FCALL, nt);
        c->name = name_copy(p, nt);
        c->name_len = nt->len;
        if (at_kind(p, TK_LPAREN)) {
            advance(p);
            arg_list(p, c);
        }
        n->kids = kids(p, 1);
        n->kids[0] = c;
        n->n = 1;
        end_of_statement(p);
        return n;
    }
    case KW_RETURN: {
        advance(p);
        fnode *n = mknode(p, FS_RETURN, t);
        end_of_statement(p);
        return n;
    }
    case KW_PRINT: {
        advance(p);
        fnode *n = mknode(p, FS_PRINT, t);
        expect(p, TK_STAR, "'*' after 'print'");
        nvec v = { 0 };
        while (at_kind(p, TK_COMMA)) {
            advance(p);
            nvec_push(p, &v, expr(p));
        }
        n->kids = v.v;
        n->n = v.n;
        end_of_statement(p);
        return n;
    }
    case KW_ERROR:
    case KW_STOP: {
        advance(p);
        fnode *n = mknode(p, FS_STOP, t);
        if (t->kw == KW_ERROR) {
            expect_kw(p, KW_STOP);
            n->flags |= FN_ERROR_STOP;
        }
        if (!at_kind(p, TK_EOL) && !at_kind(p, TK_EOF)) {
            n->kids = kids(p, 1);
            n->kids[0] = expr(p);
            n->n = 1;
        }
        end_of_statement(p);
        return n;
    }
    case KW_END:
    case KW_ENDIF:
    case KW_ENDDO:
    case KW_ENDSELECT:
    case KW_ENDFUNCTION:
    case KW_ENDSUBROUTINE:
    case KW_ELSE:
    case KW_ELSEIF:
    case KW_CASE:
        fail_at(p, t, "'%.*s' without a matching construct", (int)t->len, t->text);
    default:
        fail_at(p, t, "'%.*s' is a reserved word and cannot start a statement", (int)t->len,
                t->text);
    }
}

/* procedure := [prefix] function name ( [args] ) [ result ( name ) ] EOL body end
 *            | [prefix] subroutine name [ ( [args] ) ] EOL body end */
static fnode *procedure(pf *p, const ftok *start, int rtype, bool recursive)
{
    if (at_kw(p, KW_RECURSIVE)) {
        advance(p);
        recursive = true;
    }
    if (rtype == FT_ANY && at_type(p))
        rtype = type_spec(p);
    const ftok *k = peek(p);
    if (!(k->kind == TK_NAME && (k->kw == KW_FUNCTION || k->kw == KW_SUBROUTINE)))
        expected(p, "'function' or 'subroutine'");
    advance(p);
    bool function = k->kw == KW_FUNCTION;
    if (!function && rtype != FT_ANY)
        fail_at(p, k, "a subroutine has no result type");
    const ftok *nt = expect_name(p, function ? "the name of the function" : "the name of the subroutine");
    fproc *pr = arena_calloc(p->ar, sizeof(*pr));
    if (!pr)
        nomem(p);
    pr->name = name_copy(p, nt);
    pr->len = nt->len;
    pr->file = p->file;
    pr->line = nt->line;
    pr->col = nt->col;
    pr->function = function;
    pr->recursive = recursive;
    pr->rtype = (uint8_t)rtype;
    pr->result_slot = -1;
    if (at_kind(p, TK_LPAREN) || function) {
        expect(p, TK_LPAREN, "'(' after the function name");
        const char *names[256];
        uint32_t lines[256], cols[256];
        uint32_t n = 0;
        if (!at_kind(p, TK_RPAREN)) {
            for (;;) {
                const ftok *a = expect_name(p, "a dummy argument name");
                if (n == 256)
                    fail_at(p, a, "more than 256 arguments");
                lines[n] = a->line;
                cols[n] = a->col;
                names[n++] = name_copy(p, a);
                if (!at_kind(p, TK_COMMA))
                    break;
                advance(p);
            }
        }
        expect(p, TK_RPAREN, "',' or ')'");
        pr->nargs = n;
        pr->args = arena_alloc(p->ar, (n ? n : 1) * sizeof(char *));
        pr->arg_line = arena_alloc(p->ar, (n ? n : 1) * sizeof(uint32_t));
        pr->arg_col = arena_alloc(p->ar, (n ? n : 1) * sizeof(uint32_t));
        if (!pr->args || !pr->arg_line || !pr->arg_col)
            nomem(p);
        for (uint32_t i = 0; i < n; i++) {
            pr->args[i] = names[i];
            pr->arg_line[i] = lines[i];
            pr->arg_col[i] = cols[i];
        }
    }
    if (at_kw(p, KW_RESULT)) {
        const ftok *r = advance(p);
        if (!function)
            fail_at(p, r, "a subroutine has no result");
        expect(p, TK_LPAREN, "'(' after 'result'");
        const ftok *rn = expect_name(p, "the name of the result variable");
        pr->result = name_copy(p, rn);
        expect(p, TK_RPAREN, "')'");
    }
    end_of_statement(p);
    enter(p, start);
    fnode *head = NULL, **tail = &head;
    for (;;) {
        skip_eols(p);
        const ftok *t = peek(p);
        if (t->kind == TK_EOF)
            fail_at(p, t, "the %s '%s' has no 'end'", function ? "function" : "subroutine",
                    pr->name);
        if (t->kind == TK_NAME && (t->kw == KW_FUNCTION || t->kw == KW_SUBROUTINE ||
                                   t->kw == KW_RECURSIVE ||
                                   (at_type(p) && (peek2(p)->kw == KW_FUNCTION ||
                                                   peek2(p)->kw == KW_RECURSIVE))))
            fail_at(p, t, "procedures cannot be nested: end '%s' first", pr->name);
        if (t->kind == TK_NAME && (t->kw == KW_END || t->kw == KW_ENDFUNCTION ||
                                   t->kw == KW_ENDSUBROUTINE)) {
            const ftok *e2 = peek2(p);
            bool bare_end = t->kw == KW_END && (e2->kind == TK_EOL || e2->kind == TK_EOF);
            bool spaced = t->kw == KW_END && e2->kind == TK_NAME &&
                          (e2->kw == KW_FUNCTION || e2->kw == KW_SUBROUTINE);
            if (bare_end || spaced || t->kw != KW_END) {
                int which = t->kw == KW_ENDFUNCTION   ? KW_FUNCTION
                            : t->kw == KW_ENDSUBROUTINE ? KW_SUBROUTINE
                            : spaced                   ? e2->kw
                                                       : 0;
                advance(p);
                if (spaced)
                    advance(p);
                if (which && (which == KW_FUNCTION) != function)
                    fail_at(p, t, "'%s' is a %s: it ends with 'end %s'", pr->name,
                            function ? "function" : "subroutine",
                            function ? "function" : "subroutine");
                if (which && at_kind(p, TK_NAME)) {
                    const ftok *en = advance(p);
                    if (en->len != pr->len || memcmp(en->text, pr->name, pr->len) != 0)
                        fail_at(p, en, "'end %s %.*s' does not match the name '%s'",
                                function ? "function" : "subroutine", (int)en->len, en->text,
                                pr->name);
                }
                end_of_statement(p);
                break;
            }
        }
        fnode *s = statement(p, false);
        if (!s)
            continue;
        *tail = s;
        tail = &s->next;
    }
    leave(p);
    pr->stmts = head;
    fnode *n = mknode(p, FS_PROC, nt);
    n->ref = pr;
    return n;
}

int parsef_text(arena *ar, uint16_t file, const char *src, size_t len, ffile **ret,
                lang_error *err)
{
    pf p;
    memset(&p, 0, sizeof(p));
    p.ar = ar;
    p.file = file;
    p.err = err;
    /* Tokens first. */
    lexf lx;
    lexf_init(&lx, src, len);
    size_t cap = 256;
    p.toks = mom_malloc(cap * sizeof(ftok));
    if (!p.toks)
        return -ENOMEM;
    for (;;) {
        if (p.n == cap) {
            ftok *nt = mom_realloc(p.toks, cap * 2 * sizeof(ftok));
            if (!nt) {
                mom_free(p.toks);
                return -ENOMEM;
            }
            p.toks = nt;
            cap *= 2;
        }
        if (lexf_next(&lx, &p.toks[p.n], err) < 0) {
            mom_free(p.toks);
            return -EBADMSG;
        }
        if (p.toks[p.n++].kind == TK_EOF)
            break;
    }
    if (setjmp(p.jb)) {
        mom_free(p.toks);
        return p.code;
    }
    ffile *f = arena_calloc(ar, sizeof(*f));
    if (!f)
        nomem(&p);
    fnode *head = NULL, **tail = &head;
    for (;;) {
        skip_eols(&p);
        if (at_kind(&p, TK_EOF))
            break;
        fnode *s = statement(&p, false);
        if (!s)
            continue;
        *tail = s;
        tail = &s->next;
    }
    f->items = head;
    mom_free(p.toks);
    *ret = f;
    return 0;
}
