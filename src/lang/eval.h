/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy back end: a compiled program (the resolved trees of every
 * policy of a set, in name order) and the evaluator that runs it over one
 * snapshot.
 *
 * Variables use shallow binding, which gives the classic dialect's dynamic
 * scoping at the cost of one array access per read: every symbol has one
 * slot holding its innermost binding and the scope level that owns it;
 * binding in a deeper scope saves the old slot on an undo log that popping
 * the scope replays.  Functions live in a table indexed by symbol.
 *
 * Run-time errors unwind with longjmp to the top of eval_program: every
 * allocation of an evaluation comes from its arena (or from buffers the
 * program keeps for the next run), so unwinding leaks nothing.
 */
#ifndef MOM_LANG_EVAL_H
#define MOM_LANG_EVAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lang/ast.h"
#include "lang/lvalue.h"
#include "lang/policy.h"
#include "lang/varstore.h"

/* One policy of a set. */
typedef struct pfile {
    char *name;              /* policy name (sort key) */
    char *label;             /* FILE in error messages */
    char *text;              /* owned copy of the text */
    size_t len;
    policy_dialect dialect;
    node **top;              /* classic: top-level expressions */
    size_t n_top;
} pfile;

typedef struct slot {
    lval v;
    int32_t level;           /* scope level of the binding, -1 unbound */
} slot;

typedef struct undo_rec {
    int32_t sym;
    int32_t level;
    lval v;
} undo_rec;

/* The io_tune control last built for a guest (shared while it stays the
 * same). */
typedef struct io_cache {
    char *id;
    mom_value *ctl;
} io_cache;

/* A compiled policy set. */
typedef struct program {
    arena ar;                /* nodes, symbol names */
    symtab syms;
    pfile *files;            /* in name order */
    size_t n_files;
    node **hoist;            /* top-level defs, installed before every run */
    size_t n_hoist;
    int32_t sym_abs, sym_debug, sym_host, sym_guests;
    /* Buffers reused from one evaluation to the next. */
    arena run;
    slot *slots;
    node **funcs;
    undo_rec *undo;
    size_t cap_undo;
    io_cache *io_cache;      /* by guest index */
    size_t n_io_cache;
} program;

/* The guest being processed: one frame per active `with Guests`. */
typedef struct gframe {
    const rt_entity *g;
    struct gframe *up;
} gframe;

typedef struct evalctx {
    program *prog;
    const snapshot *snap;
    const policy_opts *opts;
    varstore *vs;
    arena *ar;
    slot *slots;
    node **funcs;
    size_t n_undo;
    int32_t level;
    int64_t steps_left;
    int calls, depth_limit;
    int nest, nest_limit;
    rt_entity host;
    rt_entity *guests;
    rt_guests gcoll;
    gframe *gtop;
    jmp_buf jb;
    int err_code;            /* -ENOMEM or MOM_E_POLICY after a longjmp */
    char *err;               /* the formatted error (mom_malloc) */
} evalctx;

/* ---- program (eval.c) ---- */

int program_new(program **ret);
void program_free(program *p);
/* Add a policy (takes nothing: copies name, label and text).  Classic
 * texts are parsed and resolved here; -EBADMSG with *err on a bad text. */
int program_add(program *p, const char *name, const char *label, const char *text,
                policy_dialect dialect, lang_error *err);
/* Call after the last program_add: sorts by name, hoists definitions. */
int program_finish(program *p);

/* Run the program once.  Same contract as policy_set_eval. */
int eval_program(program *p, const snapshot *snap, const policy_opts *opts, varstore *vs,
                 controls **ret_controls, mom_value **ret_results, char **ret_error);

/* ---- shared with intrinsics.c ---- */

_Noreturn void eval_fail(evalctx *c, const node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void eval_nomem(evalctx *c);
lval eval_node(evalctx *c, const node *n);
/* The name a node stands for, as written (symbols, operators). */
void eval_node_name(const node *n, const char **ret, int *ret_len);

/* ---- resolve.c ---- */

/* Intern names and classify the nodes of one classic tree. */
int resolve_classic(arena *ar, symtab *syms, node *n);

/* ---- intrinsics.c ---- */

/* Attribute ATTR of `base` for the dotted node; false when it has none. */
bool intr_attr(evalctx *c, lval base, const node *dot, lval *ret);
/* Call a function value with evaluated arguments; `call` is the list. */
lval intr_call(evalctx *c, const node *call, lval fn, const lval *args, uint32_t nargs);
/* Turn the entities' controls into `ctl` (io_tune included). */
int intr_controls(evalctx *c, controls *ctl);
/* Commit the cycle's SetVar values to the store. */
int intr_commit_vars(evalctx *c);

#endif
