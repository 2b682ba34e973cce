/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy languages' shared syntax tree, the arena it lives in and the
 * symbol table that interns every name.
 *
 * Both front ends (classic today, Fortran-like later) build nodes in one
 * arena owned by the compiled program; the whole tree is freed in one call
 * (arena_free).  The resolver annotates nodes in place (symbol ids, the
 * built-in form of a list's head, literal values, attribute ids), and the
 * evaluator keeps small inline caches in them (field ids per field table).
 */
#ifndef MOM_LANG_AST_H
#define MOM_LANG_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lang/lvalue.h"

/* ---- arena -------------------------------------------------------------- */

typedef struct arena_block arena_block;

typedef struct arena {
    arena_block *head;   /* current block (newest first) */
    size_t block_size;   /* size of ordinary blocks */
    size_t total;        /* bytes held in all blocks */
    size_t limit;        /* 0: none; else arena_alloc fails past this total */
} arena;

void arena_init(arena *a, size_t block_size);
/* n bytes of uninitialised memory, 16-byte aligned; NULL on ENOMEM or
 * when the arena's limit would be passed. */
void *arena_alloc(arena *a, size_t n);
void *arena_calloc(arena *a, size_t n);
char *arena_strndup(arena *a, const char *s, size_t n);
/* Forget every allocation but keep the first block for reuse. */
void arena_reset(arena *a);
void arena_free(arena *a);

/* ---- symbols ------------------------------------------------------------ */

typedef struct symtab {
    arena *ar;           /* names live here */
    size_t n, cap;
    const char **names;  /* id -> NUL-terminated name */
    uint32_t *lens;
    int32_t *hash;       /* open addressing: id + 1, 0 empty */
    size_t hash_size;
} symtab;

void symtab_init(symtab *t, arena *ar);
void symtab_done(symtab *t);
/* The id of `name` (interning it), or -ENOMEM. */
int symtab_intern(symtab *t, const char *name, size_t len);
/* The id, or -1 when the name was never interned. */
int symtab_find(const symtab *t, const char *name, size_t len);

/* ---- nodes -------------------------------------------------------------- */

typedef enum node_kind {
    N_INT = 1, /* integer literal (rules 3, 4, 6) */
    N_REAL,    /* float literal (rules 2, 5) */
    N_STR,     /* string literal, raw text between the quotes */
    N_SYM,     /* plain symbol */
    N_DOT,     /* dotted symbol BASE.ATTR[.ignored...] */
    N_NIL,     /* the symbol spelled exactly nil */
    N_OP,      /* operator token */
    N_LIST,    /* ( ), [ ] or { } (the last with an inserted `eval` head) */
} node_kind;

/* Status of a literal after resolution. */
enum {
    LIT_OK = 0,
    LIT_OVERFLOW,    /* integer outside 64 bits: error when evaluated */
    LIT_BAD_OCTAL,   /* 0o with digits 8 or 9: error when evaluated */
};

typedef struct node node;

struct node {
    uint8_t kind;        /* node_kind */
    uint8_t form;        /* N_LIST: built-in form of the head (FORM_*), 0 none;
                          * N_OP: the form of the operator */
    uint8_t bracket;     /* N_LIST: '(' '[' or '{'; N_INT: the base */
    uint8_t lit_status;  /* literals: LIT_* */
    uint16_t file;       /* index of the policy file */
    uint16_t attr;       /* N_DOT: attribute id (ATTR_*) */
    uint32_t line, col;  /* true 1-based line and byte column */
    uint32_t len;        /* token text length */
    uint32_t attr_len;   /* N_DOT */
    const char *text;    /* token text (not NUL-terminated) */
    const char *attr_name; /* N_DOT: the second dotted part (NUL-terminated) */
    int32_t sym;         /* N_SYM, N_DOT (full name), N_OP (internal name),
                          * N_LIST (head name, or -1) */
    int32_t base;        /* N_DOT: symbol of the first part */
    uint32_t n;          /* N_LIST: number of children */
    node **kids;         /* N_LIST: children, kids[0] is the head */
    lval lit;            /* literals: the value */
    /* Inline cache for field lookups (evaluator). */
    const void *cache_tab;
    int32_t cache_id;
    /* N_LIST: checks the evaluator found passing once (NODE_OK_*); they
     * depend on the node only, so they need not be made again. */
    uint8_t checked;
    /* The compiled form of the node (eval.c), or NULL: the tree walker
     * then evaluates it. */
    struct cnode *cn;
};

#define NODE_OK_SHAPE 0x01 /* not empty, and the head is a symbol-like token */
#define NODE_OK_ARITY 0x02 /* the argument count fits the built-in form */

/* Built-in forms of the classic dialect (heads resolved at load time). */
enum {
    FORM_NONE = 0,
    FORM_DEF, FORM_DEFVAR, FORM_SET, FORM_LET, FORM_WITH, FORM_IF,
    FORM_ADD, FORM_SUB, FORM_MUL, FORM_DIV,
    FORM_LT, FORM_GT, FORM_LTE, FORM_GTE, FORM_EQ, FORM_NEQ,
    FORM_SHL, FORM_SHR,
    FORM_AND, FORM_OR, FORM_NOT, FORM_MIN, FORM_MAX,
    FORM_NULL, FORM_VALID, FORM_EVAL,
    FORM__COUNT
};

/* Attribute ids: what a dotted name's second part means on each kind of
 * value.  ATTR_FIELD is anything else (an entity's statistic field). */
enum {
    ATTR_FIELD = 0,
    /* entity methods */
    ATTR_PROP, ATTR_STAT, ATTR_STATAVG, ATTR_SETVAR, ATTR_GETVAR, ATTR_CONTROL,
    ATTR_GETCONTROL,
    /* I/O-tune record parts; the limit sets in the order of their rows
     * (lvalue.h, IOROW_*) */
    ATTR_NAME, ATTR_PATH, ATTR_MAXIMUM, ATTR_CURRENT, ATTR_GUARANTEED,
    /* the six limits, in io_tune order, and their setters */
    ATTR_LIMIT0,
    ATTR_LIMIT_LAST = ATTR_LIMIT0 + 5,
    ATTR_SETTER0,
    ATTR_SETTER_LAST = ATTR_SETTER0 + 5,
    ATTR__COUNT
};

/* The six I/O limits in their canonical order. */
extern const char *const ast_io_limit_names[6];

/* A load-time error: where, and the message without the location. */
typedef struct lang_error {
    uint32_t line, col;
    char msg[320];
} lang_error;

node *ast_node_new(arena *a, node_kind kind, uint16_t file, uint32_t line, uint32_t col);
/* Attribute id of a name (ATTR_FIELD when it names nothing special). */
int ast_attr_id(const char *name, size_t len);

#endif
