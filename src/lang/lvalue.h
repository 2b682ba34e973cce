/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Run-time values of the policy evaluator.
 *
 * An lval is 16 bytes and passed by value: numbers, booleans and None are
 * unboxed; strings point at text that outlives the evaluation (the policy
 * text, a snapshot value, or the evaluation's arena); lists, entities and
 * I/O-tune records are pointers into the evaluation's arena.  Nothing is
 * reference counted: an evaluation's arena is reset in one call when it
 * ends, and what must outlive it (controls, results, per-entity memory) is
 * converted to mom_value first.
 *
 * The operators follow Python 3 (POLICY-CLASSIC §4.5): bools are ints in
 * arithmetic, / is true division, int/float comparisons are exact, and
 * integers are 64-bit with overflow reported.
 */
#ifndef MOM_LANG_LVALUE_H
#define MOM_LANG_LVALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sbuf.h"
#include "core/snapshot.h"
#include "core/value.h"

typedef enum lv_type {
    LV_NONE = 0,
    LV_BOOL,
    LV_INT,
    LV_REAL,
    LV_STR,
    LV_LIST,
    LV_ENTITY,  /* Host or a guest */
    LV_GUESTS,  /* the guest collection */
    LV_IOREC,   /* one disk of io_tune */
    LV_IOLIM,   /* a limit set of a record (sub: 0 guaranteed, 1 maximum, 2 current) */
    LV_MAPV,    /* a MAP from a snapshot (e.g. an io_tune_current entry) */
    LV_BUILTIN, /* abs, debug (sub: LV_FN_*) */
    LV_METHOD,  /* an entity method bound to its entity (sub: ATTR_*) */
    LV_SETTER,  /* an io-tune setter bound to its record (sub: limit 0..5) */
} lv_type;

enum { LV_FN_ABS = 1, LV_FN_DEBUG };

/* lval.flags: the string's text is followed by a NUL byte. */
#define LV_F_CSTR 1u

struct llist;
struct rt_entity;
struct rt_guests;
struct iorec;

typedef struct lval {
    uint8_t t;    /* lv_type */
    uint8_t sub;
    uint16_t flags; /* LV_STR: LV_F_CSTR */
    uint32_t len; /* LV_STR: byte length */
    union {
        int64_t i;
        double r;
        bool b;
        const char *s;
        struct llist *l;
        struct rt_entity *e;
        struct rt_guests *g;
        struct iorec *rec;
        const mom_value *mv;
    } u;
} lval;

typedef struct llist {
    uint32_t n;
    lval items[];
} llist;

/* A key/value pair of an entity's controls or variables. */
typedef struct lv_kv {
    lval key, val;
} lv_kv;

/* An entity as the evaluator sees it during one evaluation.  Every loop
 * over the guests reads the guests' entities, so an entity is one cache
 * line: what only some evaluations need lives elsewhere (the SetVar
 * values in evalctx.vars, the guest's I/O template in its io_cache). */
typedef struct rt_entity {
    const snap_entity *se;
    /* Copies of what every read of a statistic needs from se, so that the
     * loops over the guests read the entity here and its current sample,
     * not the snapshot's entity and its sample pointers as well. */
    const sample *cur;    /* se's current sample (NULL: none) */
    const fieldtab *fields; /* se->fields */
    lv_kv *ctl;           /* controls set this cycle, in setting order */
    struct llist *io;     /* io_tune records, built on first read */
    uint32_t n_ctl, cap_ctl;
    int32_t index;        /* -1 host, else guest index */
    uint32_t io_gen;      /* io is the guest's cached template of this
                           * generation (io_cache.gen, whose records io
                           * lists in order), else 0 */
    bool uniform;         /* se->uniform */
    bool io_built, io_dirty;
    bool io_modified;     /* a setter changed a limit of the template's
                           * records this cycle */
} rt_entity;

/* The SetVar values of one entity this cycle. */
typedef struct rt_vars {
    lv_kv *kv;
    uint32_t n, cap;
} rt_vars;

typedef struct rt_guests {
    rt_entity *items;
    uint32_t n;
} rt_guests;

/* The rows of an I/O-tune record's three limit sets, the two that an
 * I/O-tune policy reads first (the order of ATTR_MAXIMUM .. ATTR_GUARANTEED:
 * a set attribute less ATTR_MAXIMUM is its row).  LV_IOLIM values carry a
 * row (.sub). */
enum { IOROW_MAX, IOROW_CUR, IOROW_GUAR };
/* The row of set s in the io_tune order of sets (0 guaranteed, 1 maximum,
 * 2 current). */
#define IOSET_ROW(s) ((s) == 0 ? IOROW_GUAR : (s) - 1)

/* Bits of iorec.mask for limit k: it exists, it is None, it is in wide. */
#define IOM_HAS(k) (1u << (k))
#define IOM_NONE(k) (0x100u << (k))
#define IOM_BOXED(k) (0x10000u << (k))

/* One I/O-tune record (a disk of the io_tune field).  A limit is an
 * integer in v (the common case), None, or any other value in wide (only
 * records made for one evaluation have those); iorec_lim() reads one.  The
 * masks, the maximum and the current limits come first, so that an
 * I/O-tune policy touches two cache lines of a record (templates are
 * aligned to a line). */
typedef struct iorec {
    uint32_t mask[3];     /* by row: IOM_* bits */
    /* 0: made for this evaluation; 1: a guest's cached template, used in
     * place; 2: such a template whose current limits a setter changed
     * (intr_io_set saved them, intr_end puts them back). */
    uint8_t tmpl;
    rt_entity *owner;
    int64_t v[3][6];      /* by row */
    lval name, path;
    lval *wide;           /* [row * 6 + k]: the boxed limits; NULL: none */
} iorec;

/* The bytes of a record from its start to the end of its current limits. */
#define IOREC_HOT (offsetof(iorec, v) + 2 * sizeof(int64_t[6]))

/* Error codes of the value operations (the evaluator words the message). */
enum {
    LVE_OK = 0,
    LVE_TYPE,      /* unsupported operand types */
    LVE_ZERO,      /* division by zero */
    LVE_OVERFLOW,  /* integer overflow */
    LVE_NEGSHIFT,  /* negative shift count */
    LVE_NOMEM,
    LVE_TOOBIG,    /* string or list repetition past the size limit */
    LVE_VALUE,     /* int() of a value that is not a number */
};

/* Binary operators. */
typedef enum lv_op {
    LV_ADD, LV_SUB, LV_MUL, LV_DIV, LV_SHL, LV_SHR,
    LV_LT, LV_GT, LV_LE, LV_GE,
} lv_op;

/* Largest string or list a repetition or concatenation may build. */
#define LV_MAX_SEQ (16u << 20)

struct arena;

static inline lval lv_none(void)
{
    lval v = { .t = LV_NONE };
    return v;
}
static inline lval lv_bool(bool b)
{
    lval v = { .t = LV_BOOL, .u.b = b };
    return v;
}
static inline lval lv_int(int64_t i)
{
    lval v = { .t = LV_INT, .u.i = i };
    return v;
}

/* Limit k of row `row` of r (which has it: IOM_HAS). */
static inline lval iorec_lim(const iorec *r, int row, int k)
{
    uint32_t m = r->mask[row] >> k;
    if (__builtin_expect(!(m & (IOM_NONE(0) | IOM_BOXED(0))), 1))
        return lv_int(r->v[row][k]);
    return (m & IOM_NONE(0)) ? lv_none() : r->wide[row * 6 + k];
}

/* ... or None when it has none. */
static inline lval iorec_get(const iorec *r, int row, int k)
{
    uint32_t m = (r->mask[row] >> k) & (IOM_HAS(0) | IOM_NONE(0) | IOM_BOXED(0));
    if (__builtin_expect(m == IOM_HAS(0), 1))
        return lv_int(r->v[row][k]);
    return (m & IOM_BOXED(0)) ? r->wide[row * 6 + k] : lv_none();
}
static inline lval lv_real(double r)
{
    lval v = { .t = LV_REAL, .u.r = r };
    return v;
}
static inline lval lv_str(const char *s, uint32_t len)
{
    lval v = { .t = LV_STR, .len = len, .u.s = s };
    return v;
}

/* Python truthiness (POLICY-CLASSIC §3). */
bool lval_truthy(lval v);
/* Python ==: never fails. */
bool lval_eq(lval a, lval b);
/* +, -, *, /, <<, >> into *ret (strings and lists are built in `a`). */
int lval_arith(struct arena *a, lv_op op, lval x, lval y, lval *ret);
/* <, >, <=, >= into *ret. */
int lval_order(lv_op op, lval x, lval y, bool *ret);
/* len(): 0 and the length, or -1 when the value has no length. */
int lval_length(lval v, int64_t *ret);
/* Python int() as the I/O-tune setters use it. */
int lval_to_int(lval v, int64_t *ret);
/* abs(). */
int lval_abs(lval v, lval *ret);
/* Name of the value's kind for messages ("int", "str", ...). */
const char *lval_type_name(lval v);

/* Text is written through the core's buffer (src/core/sbuf.h). */
/* Python repr() of a value. */
void lval_repr(sbuf *b, lval v);
/* Python str(): strings as they are, everything else as repr. */
void lval_str(sbuf *b, lval v);

/* A new mom_value for an lval (entities become their name, functions their
 * repr).  NULL on ENOMEM. */
mom_value *lval_to_value(lval v);
/* View a mom_value as an lval; lists are copied into the arena, strings
 * and maps are borrowed (the mom_value must outlive the lval). */
int lval_from_value(struct arena *a, const mom_value *v, lval *ret);
/* The mom_value type lval_to_value gives for v. */
mom_value_type lval_to_type(lval v);
/* Equality of an lval with a stored mom_value (numbers by value). */
bool lval_eq_value(lval a, const mom_value *v);

#endif
