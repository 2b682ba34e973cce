/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Fortran-like dialect's tree (POLICY-LANGUAGE.md): what the parser
 * builds, what the resolver checks and annotates in place (slots, static
 * types, procedure and loop targets, folded constants), and what the
 * evaluator runs.  Every node lives in the compiled program's arena.
 *
 * One node type serves expressions and statements.  Statements of a block
 * are chained through `next`.
 */
#ifndef MOM_LANG_FORTRAN_H
#define MOM_LANG_FORTRAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lang/ast.h"
#include "lang/lvalue.h"

/* Static types (what the resolver knows about a value). */
enum {
    FT_ANY = 0,  /* decided at run time */
    FT_INT,
    FT_REAL,
    FT_LOG,
    FT_STR,
    FT_HOST,
    FT_GUEST,
    FT_ENTITY,   /* host or guest */
    FT_ARRAY,
    FT_IOREC,
    FT_IOLIM,    /* guaranteed or maximum limits (read-only) */
    FT_IOCUR,    /* current limits (assignable) */
    FT_VOID,     /* a subroutine call: no value */
    FT__COUNT
};

typedef enum fop {
    /* ---- expressions ---- */
    FX_NAME = 1,  /* parser: an identifier (name) */
    FX_FCALL,     /* parser: name(args) -- call, intrinsic or element */
    FX_CONST,     /* lit */
    FX_LOCAL,     /* frame slot a */
    FX_GLOBAL,    /* symbol slot a (shared with classic) */
    FX_STATIC,    /* saved local: program static a */
    FX_HOST,
    FX_GUESTS,
    FX_NEG, FX_NOT,
    FX_ADD, FX_SUB, FX_MUL, FX_DIV, FX_POW, FX_CAT,
    FX_EQ, FX_NE, FX_LT, FX_LE, FX_GT, FX_GE,
    FX_AND, FX_OR, FX_EQV, FX_NEQV,
    FX_COMP,      /* kids[0] % name */
    FX_INDEX,     /* kids[0](kids[1]) */
    FX_CALL,      /* Fortran-like function: ref = fproc */
    FX_CCALL,     /* classic function: a = symbol */
    FX_INTR,      /* intrinsic a */
    /* ---- statements ---- */
    FS_DECL,      /* parser: declarations (ref = fdecl list) */
    FS_PROC,      /* parser: a procedure definition (ref = fproc) */
    FS_ASSIGN,    /* kids[0] = kids[1]; aux = declared type of the target */
    FS_IF,        /* kids[0] cond, body, alt */
    FS_DO,        /* kids[0] var, kids[1..3] first, last, step (NULL) */
    FS_DOWHILE,   /* kids[0] cond */
    FS_DOIN,      /* a = frame slot of the loop variable, kids[0] array */
    FS_EXIT,      /* ref = the loop */
    FS_CYCLE,
    FS_SELECT,    /* kids[0] selector, body = chain of FS_CASE */
    FS_CASE,      /* kids: FX_RANGE or values; flags FN_DEFAULT; body */
    FX_RANGE,     /* kids[0] low or NULL, kids[1] high or NULL */
    FS_CALL,      /* call: kids[0] is an FX_CALL / FX_CCALL / FX_INTR */
    FS_RETURN,
    FS_PRINT,     /* kids: items */
    FS_STOP,      /* kids[0] code or NULL */
    FS_NOP,       /* implicit none */
} fop;

/* fnode.flags */
enum {
    FN_DEFAULT = 1,    /* FS_CASE: case default */
    FN_ERROR_STOP = 2, /* FS_STOP: error stop */
    FN_PAREN = 4,      /* expression was parenthesised */
    FN_HOSTCTL = 8,    /* FX_COMP: the name is a host control */
    FN_GUESTCTL = 16,  /* FX_COMP: the name is a guest control */
    FN_PROP = 32,      /* FX_COMP: the name is a property */
    FN_NOTCOND = 64,   /* FS_IF: the condition is .not. kids[0]->kids[0]
                        * (set by evalf_link(), which runs the inner
                        * condition and swaps the branches) */
    FN_IOSET = 128,    /* FS_ASSIGN: the target is LOCAL%current%LIMIT
                        * (set by evalf_link()) */
};

struct fproc;
struct fdecl;
struct fnode;
struct evalctx;

/* The evaluator's handler of an expression node (set by evalf_link()). */
typedef lval (*fev_fn)(struct evalctx *c, const struct fnode *n);

typedef struct fnode {
    uint8_t op;        /* fop */
    uint8_t type;      /* static type (FT_*) */
    uint8_t flags;
    uint8_t aux;       /* FS_ASSIGN: target type; FX_COMP: ATTR_* id */
    uint16_t file;
    uint32_t line, col;
    int32_t a;         /* slot, symbol, intrinsic id */
    uint32_t n;        /* number of kids */
    struct fnode **kids;
    struct fnode *next;  /* next statement */
    struct fnode *body;  /* blocks */
    struct fnode *alt;   /* FS_IF: else part */
    const char *name;    /* identifiers, components, labels (NUL-terminated) */
    uint32_t name_len;
    lval lit;            /* FX_CONST; FX_COMP: the name as a string */
    void *ref;           /* fproc, loop node, fdecl */
    /* Inline cache of FX_COMP: the field id in one field table. */
    const void *cache_tab;
    int32_t cache_id;
    /* Statements: the steps one execution costs (the statement and the
     * expression nodes it always evaluates); .and. and .or.: the steps of
     * their right operand, charged when it is evaluated. */
    uint32_t cost;
    fev_fn ev;           /* expressions: the handler */
} fnode;

/* One declared name. */
typedef struct fdecl {
    const char *name;
    uint32_t len;
    uint16_t file;
    uint32_t line, col;
    uint8_t type;        /* FT_INT, FT_REAL, FT_LOG, FT_STR */
    bool param, save, dummy;
    bool loopvar;        /* the variable of a do ... in loop */
    fnode *init;         /* initializer or NULL */
    struct fdecl *next;
    /* Resolution. */
    uint8_t kind;        /* FD_* */
    int32_t slot;        /* frame slot, symbol or static index */
    lval value;          /* folded initializer / parameter value */
    uint8_t state;       /* 0 unfolded, 1 folding, 2 folded */
    uint32_t uses;
    struct fproc *proc;  /* owner, NULL for globals */
} fdecl;

enum { FD_GLOBAL = 1, FD_LOCAL, FD_STATIC, FD_PARAM };

/* One procedure. */
typedef struct fproc {
    const char *name;
    uint32_t len;
    int32_t sym;
    uint16_t file;
    uint32_t line, col;
    bool function, recursive;
    uint8_t rtype;          /* declared result type, FT_ANY when none */
    const char *result;     /* result(name) or NULL */
    uint32_t nargs;
    const char **args;      /* dummy names */
    uint32_t *arg_line, *arg_col;
    fnode *stmts;           /* declarations and statements as parsed */
    /* Resolution. */
    uint8_t *arg_types;     /* per dummy: declared type or FT_ANY */
    int32_t result_slot;    /* frame slot of the result variable */
    uint32_t nslots;
    fnode *inits;           /* local initializers, run on every call */
    fnode *body;            /* executable statements */
    bool resolved;
    uint32_t calls;         /* references, for nothing but curiosity */
} fproc;

/* One Fortran-like file. */
typedef struct ffile {
    fnode *items;           /* top-level items in text order */
    fnode *body;            /* resolved executable statements */
    uint32_t nslots;        /* frame for loop variables at file level */
} ffile;

/* Intrinsic procedures (§9). */
enum {
    FI_NONE = 0,
    FI_ABS, FI_MIN, FI_MAX, FI_MOD, FI_MODULO, FI_INT, FI_NINT, FI_REAL,
    FI_FLOOR, FI_CEILING, FI_SQRT, FI_EXP, FI_LOG, FI_LOG10, FI_MERGE,
    FI_PRESENT, FI_SIZE, FI_SUM, FI_MINVAL, FI_MAXVAL, FI_AVG, FI_HISTORY,
    FI_GETVAR, FI_SETVAR, FI_LEN, FI_TRIM,
    FI__COUNT
};

/* Name of an intrinsic, and its id by name (FI_NONE when not one). */
extern const char *const fortran_intrinsic_names[FI__COUNT];
int fortran_intrinsic_id(const char *name, size_t len);
/* Name of a static type for messages ("integer", "real", ...). */
const char *fortran_type_name(int t);

#endif
