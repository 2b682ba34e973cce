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
#include "lang/fortran.h"
#include "lang/histcache.h"
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
    ffile *fort;             /* Fortran-like: the parsed and resolved file */
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

/* One control of a control signature (intrinsics.c): its key, of at most
 * IOC_KEY_MAX characters, and its integer or real value. */
#define IOC_KEY_MAX 15
#define IOC_SIG_CTL 4
struct ctl_sig {
    char key[IOC_KEY_MAX];
    uint8_t klen;
    lval v;
};

/* What the last evaluations built for the guest at one index, reused
 * while it stays the same: the io_tune control, the whole controls map,
 * and the I/O records made from the guest's io_tune value.  What every
 * evaluation reads comes first, the control signature inline, so that a
 * guest's entry is a few adjacent cache lines. */
typedef struct io_cache {
    uint64_t serial;         /* the guest's snap_entity.serial (0: none) */
    mom_value *ctl;          /* the io_tune control */
    mom_value *map;          /* the controls map */
    mom_value *src;          /* the io_tune value tmpl was made from (a reference) */
    iorec *tmpl;             /* its records, used in place by each evaluation */
    uint32_t n_tmpl;
    uint32_t gen;            /* bumped whenever tmpl is replaced (never 0 once set) */
    /* Compact copies of what map and ctl were last checked against, so
     * that the next cycle can tell "the same again" without reading them
     * (intrinsics.c, ctl_sig_matches and rec_sig_matches): sig_ctl_ok when
     * map holds the sig_n controls of sig_ctl and the io_tune control
     * sig_map_io (NULL: none); sig_io_ok when ctl holds the limits of
     * sig_rec; sig_io_tmpl when those are the template's own current
     * limits (no setter had changed them), which a cycle whose setters
     * change nothing (rt_entity.io_modified) has again without reading
     * them.  No control signature for more than IOC_SIG_CTL controls or
     * longer keys (map_matches answers then). */
    const mom_value *sig_map_io;
    bool sig_ctl_ok, sig_io_ok, sig_io_tmpl;
    uint8_t sig_n;
    uint32_t sig_gen;             /* generation of the records of sig_rec */
    uint32_t sig_nrec, sig_reccap;
    struct ctl_sig sig_ctl[IOC_SIG_CTL];
    struct rec_sig *sig_rec;
    char *id;                /* the guest these entries are for */
} io_cache;

/* Load-time diagnostics: one error or warning at a place of a file. */
typedef void (*lang_diag_fn)(void *userdata, uint16_t file, uint32_t line, uint32_t col,
                             bool is_error, const char *msg);

/* A `save` variable's value kept from one cycle to the next. */
typedef struct fsave {
    char *key;               /* "name" (global) or "procedure/name" (saved local) */
    uint8_t type;            /* FT_INT, FT_REAL, FT_LOG, FT_STR */
    bool global;
    int32_t slot;            /* symbol (global) or static index (local) */
    lval init;               /* initializer (absent when none; strings in the arena) */
    lval v;                  /* the kept value; a string's text is `str` */
    char *str;
} fsave;

/* The lines of a guest's samples that the body of one loop over the
 * guests reads (bit k: bytes 64k to 64k + 63 of a sample), learnt as the
 * body looks up field ids, for the prefetch of the loop's next guests
 * (lang/prefetch.h).  Per loop, so that a loop that reads one field does
 * not fetch the lines that another loop reads.  A procedure's field is
 * learnt for the loop that first calls it. */
typedef struct pf_loop {
    const void *loop;        /* the loop's node (NULL: the entry is free) */
    uint64_t cur;            /* of the current sample */
    uint64_t hist;           /* of every older sample (history()) */
    uint64_t avg;            /* of the samples an average through the
                              * history cache reads (avg(), StatAvg) */
    bool io;                 /* the guests' I/O records (io_cache.tmpl) */
} pf_loop;

/* Loops with masks of their own; the further ones share the last. */
#define PF_LOOPS 16

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
    /* The guests' runtime entities (evalctx.guests), set up again by every
     * evaluation: kept so that nothing is allocated or cleared for them. */
    rt_entity *rt;
    size_t n_rt;
    io_cache host_cache;     /* the host's controls (no I/O records) */
    /* The guests' controls maps of the last evaluation, lent to the
     * controls it returned (intr_controls), and the empty map of guests
     * without controls. */
    ctl_maps *ctl_share;
    mom_value *ctl_empty;
    /* The id of io_tune in the field table io_tab (-1: none). */
    const struct fieldtab *io_tab;
    int io_tab_fid;
    /* Fortran-like dialect (resolve_fortran.c, eval_fortran.c). */
    fdecl **fglobals;        /* globals and parameters, bound before every run */
    size_t n_fglobals;
    fproc **fprocs;          /* by symbol: Fortran-like procedures */
    uint8_t *gtype;          /* by symbol: FT_* of a typed Fortran-like global,
                              * | GT_PARAM for a parameter; 0 for others */
    size_t n_symarr;         /* length of fprocs and gtype */
    fsave *saves;
    size_t n_saves;
    lval *statics;           /* saved locals during a run */
    size_t n_statics;
    lval *fstack;            /* frames of Fortran-like procedures */
    size_t fstack_cap;
    bool has_fortran;
    lang_diag_fn diag;       /* load-time errors and warnings (may be NULL) */
    void *diag_ud;
    const policy_catalog *catalog;
    /* Classic code: program_finish compiles every tree into closures
     * (struct cnode, eval.c) unless `general` is set first, in which case
     * the tree walker alone evaluates it (tests compare the two). */
    bool general;
    /* What each loop over the guests prefetches (lang/prefetch.h). */
    pf_loop pf_loops[PF_LOOPS];
    uint32_t n_pf_loops;
    histcache hc;            /* guests' averaged statistics (histcache.h) */
} program;

#define GT_PARAM 0x80

/* The guest being processed: one frame per active `with Guests`. */
typedef struct gframe {
    const rt_entity *g;
    struct gframe *up;
    pf_loop *pf;             /* the loop's prefetch masks */
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
    struct io_undo *io_undo; /* template records to restore (intr_end) */
    rt_vars *vars;           /* SetVar values by entity index + 1 (the
                              * host first), NULL until the cycle's first */
    int32_t level;
    bool want_top;           /* the values of the top-level forms are kept
                              * (the classic results list) */
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
    /* Where the error is, for load-time folding of constants. */
    uint32_t err_line, err_col;
    char err_msg[320];
    /* Fortran-like dialect. */
    lval *frame;             /* the running procedure's slots */
    size_t fsp;              /* frames in use in prog->fstack */
    const fnode *flow;       /* the loop an exit/cycle is for */
} evalctx;

/* ---- program (eval.c) ---- */

int program_new(program **ret);
void program_free(program *p);
/* Add a policy (takes nothing: copies name, label and text).  Classic
 * texts are parsed and resolved here; -EBADMSG with *err on a bad text. */
int program_add(program *p, const char *name, const char *label, const char *text,
                policy_dialect dialect, lang_error *err);
/* Call after the last program_add (files in name order): hoists classic
 * definitions, then resolves and checks the Fortran-like files together.
 * -EBADMSG with *err (and *ret_file, the file's index) on a load error;
 * every error and warning also goes to p->diag when it is set. */
int program_finish(program *p, lang_error *err, int *ret_file);
/* Carry the values of `save` variables over from the set `old` (same name
 * and type), as §6 says for a replaced policy set. */
void program_take_saves(program *p, const program *old);

/* Run the program once.  Same contract as policy_set_eval. */
int eval_program(program *p, const snapshot *snap, const policy_opts *opts, varstore *vs,
                 controls **ret_controls, mom_value **ret_results, char **ret_error);

/* ---- shared with intrinsics.c ---- */

_Noreturn void eval_fail(evalctx *c, const node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void eval_fail_at(evalctx *c, uint16_t file, uint32_t line, uint32_t col,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Call the classic function `def` with evaluated arguments (from the
 * Fortran-like dialect); `at` locates errors. */
lval eval_call_def(evalctx *c, const node *def, const lval *args, uint32_t nargs,
                   const fnode *at);
_Noreturn void eval_nomem(evalctx *c);
lval eval_node(evalctx *c, const node *n);
/* The name a node stands for, as written (symbols, operators). */
void eval_node_name(const node *n, const char **ret, int *ret_len);

/* ---- resolve_fortran.c ---- */

/* Parse a Fortran-like file into f->fort. */
int resolvef_parse(program *p, uint16_t file, lang_error *err);
/* Resolve and check every Fortran-like file of the program. */
int resolvef_program(program *p, lang_error *err, int *ret_file);

/* ---- eval_fortran.c ---- */

/* Convert v for assignment to a variable of static type `type` (§3):
 * LVE_OK, LVE_TYPE (mismatch) or LVE_OVERFLOW (a real out of the integer
 * range). */
int evalf_convert(uint8_t type, lval v, lval *ret);
/* Bind the Fortran-like globals for a run (step 2 of §10). */
void evalf_bind_globals(evalctx *c);
/* Run the executable statements of a Fortran-like file. */
void evalf_run_file(evalctx *c, const pfile *f);
/* Call a Fortran-like procedure with evaluated arguments (from classic
 * code); n locates errors. */
lval evalf_call(evalctx *c, const fproc *pr, const lval *args, uint32_t nargs, const node *n);
/* Keep the `save` values of a successful run. */
int evalf_commit(evalctx *c);
/* Evaluate a resolved constant expression at load time; strings are
 * copied into the program's arena.  -EBADMSG with *err on an error. */
int evalf_const(program *p, const fnode *n, lval *ret, lang_error *err);
/* Choose the evaluator's handler of every expression node and the step
 * cost of every statement; call once the program is resolved. */
void evalf_link(program *p);

/* ---- resolve.c ---- */

/* Intern names and classify the nodes of one classic tree. */
int resolve_classic(arena *ar, symtab *syms, node *n);

/* ---- intrinsics.c ---- */

/* Attribute ATTR of `base` for the dotted node; false when it has none. */
bool intr_attr(evalctx *c, lval base, const node *dot, lval *ret);
/* Call a function value with evaluated arguments; `call` is the list. */
lval intr_call(evalctx *c, const node *call, lval fn, const lval *args, uint32_t nargs);
/* The prefetch masks of the loop over the guests whose node is `loop`,
 * an entry made on first use. */
pf_loop *eval_pf_loop(program *p, const void *loop);

/* The innermost running loop over the guests reads the lines cur of its
 * guests' current samples, hist of their older ones and avg of the ones
 * an average reads (pf_loop). */
static inline void eval_pf_mark(evalctx *c, uint64_t cur, uint64_t hist, uint64_t avg)
{
    if (c->gtop && c->gtop->pf) {
        c->gtop->pf->cur |= cur;
        c->gtop->pf->hist |= hist;
        c->gtop->pf->avg |= avg;
    }
}

/* The innermost running loop over the guests reads its guests' I/O
 * records. */
static inline void eval_pf_io(evalctx *c)
{
    if (c->gtop && c->gtop->pf)
        c->gtop->pf->io = true;
}

/* Set up the host and the guests of c->snap (c->host, c->guests,
 * c->gcoll) and prepare the per-guest caches for a run over them. */
int intr_begin(evalctx *c);
/* The entities' controls (io_tune included) as a new controls object. */
int intr_controls(evalctx *c, controls **ret);
/* Set current limit k of rec to v, as a setter does. */
void intr_io_set(evalctx *c, iorec *rec, int k, lval v);
/* Undo what the evaluation did to the cached records (call at its end,
 * also after a failure). */
void intr_end(evalctx *c);
/* Free one guest cache entry. */
void intr_cache_clear(io_cache *ioc);
/* Commit the cycle's SetVar values to the store. */
int intr_commit_vars(evalctx *c);
/* The latest value of field fid of entity e (io_tune as records). */
lval intr_field(evalctx *c, rt_entity *e, int fid);
/* StatAvg of field fid of entity e for the method call `call`. */
lval intr_stat_avg(evalctx *c, const node *call, rt_entity *e, int fid);
/* A mom_value as an lval (lists copied into the run arena). */
lval intr_from_value(evalctx *c, const mom_value *v);
/* An fval as an lval. */
lval intr_from_fval(evalctx *c, const fval *f);
/* Set / get a key of an entity's controls or SetVar values. */
void intr_set_control(evalctx *c, rt_entity *e, lval key, lval val);
const lval *intr_get_control(const rt_entity *e, lval key);
void intr_setvar(evalctx *c, rt_entity *e, lval key, lval val);
lval intr_getvar(evalctx *c, rt_entity *e, lval key);

#endif
