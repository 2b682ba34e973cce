/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Classic-to-Fortran-like conversion (POLICY-LANGUAGE.md §12).
 *
 * How it works.  Every file (the one to convert and the context files of
 * the same policy set) is parsed with the classic parser.  A pre-scan
 * finds the top-level `defvar`s (globals) and `def`s (procedures).  Then
 * the translator walks all files several times in "dry" passes that only
 * collect facts: the types that flow into every variable, dummy argument
 * and function result (joined as bit sets), which functions have their
 * value used (function) or never (subroutine), which have side effects,
 * and which free names a function reads from its callers (classic scoping
 * is dynamic).  When the facts stop changing, a final pass over the file
 * to convert writes the Fortran-like text and the report.
 *
 * The rule throughout: keep the classic meaning exactly, or refuse.  A
 * refused statement is written as a comment holding the classic text, and
 * the report names its line ("PATH:LINE: cannot convert: REASON").
 * Numbers are the one approximation the report does not flag: a variable
 * that receives both integers and reals is declared `real`, which keeps
 * every value (compared as numbers) but not the integer type of the value.
 */
#include "lang/convert.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fileio.h"
#include "lang/ast.h"
#include "lang/lex_classic.h"
#include "lang/parse_classic.h"
#include "mom/policy.h"

/* ---- growable strings --------------------------------------------------- */

/* Its own buffer type: it also tracks an out-of-memory flag per output
 * (a later change can move it onto src/core/sbuf.h). */
typedef struct cbuf {
    char *s;
    size_t len, cap;
    bool oom;
} cbuf;

static void sb_putn(cbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *ns = mom_realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(cbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_vprintf(cbuf *b, const char *fmt, va_list ap)
{
    char small[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof(small)) {
        sb_putn(b, small, (size_t)n);
    } else {
        char *big = mom_malloc((size_t)n + 1);
        if (!big) {
            b->oom = true;
        } else {
            vsnprintf(big, (size_t)n + 1, fmt, ap2);
            sb_putn(b, big, (size_t)n);
            mom_free(big);
        }
    }
    va_end(ap2);
}

static void sb_printf(cbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(cbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

static void sb_truncate(cbuf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->s[len] = '\0';
    }
}

static void sb_free(cbuf *b)
{
    mom_free(b->s);
    memset(b, 0, sizeof(*b));
}

/* ---- types -------------------------------------------------------------- */

/* What a value may be: a set of these bits.  0 means "nothing known yet"
 * during the dry passes; T_ANY means unknown. */
enum {
    T_INT = 1u << 0,
    T_REAL = 1u << 1,
    T_LOG = 1u << 2,
    T_STR = 1u << 3,
    T_ENT = 1u << 4,    /* host or a guest */
    T_REC = 1u << 5,    /* an io_tune disk record */
    T_LIM = 1u << 6,    /* a limit set of a disk record */
    T_LIST = 1u << 7,   /* io_tune, io_tune_current, with results */
    T_GUESTS = 1u << 8, /* the Guests collection */
    T_NONE = 1u << 9,   /* None / absent */
    T_ANY = (1u << 10) - 1,
};
#define T_NUM (T_INT | T_REAL)

/* Fortran-like operator precedence levels (POLICY-LANGUAGE.md §4); a
 * lower number binds tighter. */
enum {
    P_PRIM = 0,
    P_POW = 1,
    P_MUL = 2,
    P_UNARY = 3,
    P_ADD = 4,
    P_CAT = 5,
    P_CMP = 6,
    P_NOT = 7,
    P_AND = 8,
    P_OR = 9,
    P_EQV = 10,
};

/* A translated expression. */
typedef struct ex {
    const char *s;  /* Fortran-like text */
    int prec;       /* P_* of its outermost operator */
    unsigned type;  /* T_* bits */
    bool simple;    /* a literal, a name or a component: cheap and safe to repeat */
    bool constant;  /* built from literals only (a valid initializer) */
    bool effects;   /* may set controls, variables or per-entity memory */
    bool neglit;    /* a negative numeric literal */
    bool nil;       /* the classic nil */
} ex;

/* ---- tables ------------------------------------------------------------- */

enum { V_GLOBAL, V_LOCAL, V_DUMMY, V_LOOP, V_EXTRA, V_TEMP };

typedef struct cvar {
    const char *cname;   /* classic name */
    const char *fname;   /* Fortran-like name (final pass) */
    const node *owner;   /* scope: NULL global, else the def/with/let node */
    int proc;            /* procedure index, -1 at file level */
    int file;            /* file it was created in */
    int kind;            /* V_* */
    unsigned type;       /* joined type of every value it receives */
    int nbind;           /* bindings and assignments seen (all passes) */
    bool alias;          /* stands for a fixed entity expression */
    const char *alias_text;
    /* Globals. */
    int def_order;       /* policy order of the file of its first top-level defvar */
    const node *def_node;
    bool def_uncond;     /* that defvar runs unconditionally */
    bool const_init;     /* and its value is a constant expression */
    uint32_t first_ref;  /* first line of the converted file that mentions it */
    bool hoist;          /* declared at the top of the output */
    bool declared;       /* final pass: declaration written */
    int seen;            /* last pass that referred to it */
    const char *rename_msg; /* why its name changed (a refusal), or NULL */
    uint32_t rename_line;   /* a renamed global defined elsewhere: first use here */
} cvar;

typedef struct cfree {
    const char *name;
    bool written;        /* the function sets it */
    bool extra;          /* passed as an extra argument */
    cvar *xvar;          /* that argument */
} cfree;

typedef struct cfunc {
    const char *cname, *fname;
    const node *def;
    int file;
    size_t nparams;
    cvar **params;
    unsigned ret;        /* joined type of its result */
    bool may_unset;      /* some path ends in a value with no Fortran-like spelling */
    bool used;           /* some call uses its value (this pass) */
    bool called;         /* some call was seen (this pass) */
    bool pused, pcalled; /* the same in the previous pass: what decisions use */
    bool effects;
    bool recursive;
    bool replaced;       /* another def of the same name runs later */
    cfree *free;
    size_t nfree, capfree;
    const char *result_name;
    const char *rename_msg; /* why its name changed (a refusal), or NULL */
} cfunc;

typedef struct cbind {
    cvar *v;
    const node *if_node; /* innermost if branch of the binding (NULL: none) */
    int branch;
} cbind;

typedef struct ifent {
    const node *n;
    int branch;
} ifent;

typedef struct ccomment {
    uint32_t line;
    const char *text; /* after the '#' */
    size_t len;
} ccomment;

typedef struct cfile {
    const char *path;
    const char *src;
    size_t len;
    char *pname;         /* policy name */
    node **top;
    size_t ntop;
    int order;           /* position in policy order */
} cfile;

/* Where a statement's value goes. */
enum { S_DISCARD, S_ASSIGN, S_RESULT };
typedef struct sink {
    int kind;
    cvar *var;           /* S_ASSIGN */
    cfunc *fn;           /* S_RESULT */
} sink;

typedef struct cvt {
    arena ar;
    bool oom;
    cfile *files;
    size_t nfiles;
    int cur;             /* file being translated */
    bool final;          /* the final pass over the converted file (index 0) */
    bool settled;        /* the facts settled once: unknown operands now count as numbers */
    bool changed;
    int pass;            /* number of the current pass */

    cvar **vars;
    size_t nvars, capvars;
    cfunc **funcs;
    size_t nfuncs, capfuncs;
    cbind *binds;
    size_t nbinds, capbinds;
    ifent *ifs;
    size_t nifs, capifs;

    int proc;            /* procedure being translated, -1 at file level */
    const node *scope;   /* innermost scope owner */
    int cond_depth;      /* branches/loops around the statement at file level */

    cbuf *out;
    int indent;
    cvar **pending;      /* file-level declarations for the current form */
    size_t npending, cappending;

    ccomment *comments;
    size_t ncomments, capcomments, next_comment;
    uint32_t *line_starts; /* offsets of line starts of file 0 */
    size_t nlines;

    bool failed;
    uint32_t err_line;
    char err[300];

    cbuf report;
    size_t unconverted;
} cvt;

static void *xalloc(cvt *c, size_t n)
{
    void *p = arena_calloc(&c->ar, n ? n : 1);
    if (!p)
        c->oom = true;
    return p;
}

static char *xstrndup(cvt *c, const char *s, size_t n)
{
    char *p = arena_strndup(&c->ar, s, n);
    if (!p) {
        c->oom = true;
        return (char *)"";
    }
    return p;
}

static char *xstrdup(cvt *c, const char *s)
{
    return xstrndup(c, s, strlen(s));
}

static char *xprintf(cvt *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *xprintf(cvt *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return (char *)"";
    char *p = arena_alloc(&c->ar, (size_t)n + 1);
    if (!p) {
        c->oom = true;
        return (char *)"";
    }
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* Grow an array of `size`-byte elements to hold one more. */
static bool grow(cvt *c, void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = mom_realloc(*arr, ncap * size);
    if (!p) {
        c->oom = true;
        return false;
    }
    *arr = p;
    *cap = ncap;
    return true;
}

/* Record why the construct being translated cannot be converted (the
 * first reason wins) and return -1. */
static int fail(cvt *c, const node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(cvt *c, const node *n, const char *fmt, ...)
{
    if (!c->failed) {
        c->failed = true;
        c->err_line = n ? n->line : 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof(c->err), fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A note in the report (final pass only); notes do not count as failures. */
static void note(cvt *c, uint32_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(cvt *c, uint32_t line, const char *fmt, ...)
{
    if (!c->final)
        return;
    sb_printf(&c->report, "%s:%u: note: ", c->files[0].path, line);
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&c->report, fmt, ap);
    va_end(ap);
    sb_puts(&c->report, "\n");
}

/* A failure that is not tied to one statement (a name, a declaration). */
static void refuse_at(cvt *c, uint32_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void refuse_at(cvt *c, uint32_t line, const char *fmt, ...)
{
    if (!c->final)
        return;
    sb_printf(&c->report, "%s:%u: cannot convert: ", c->files[0].path, line);
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&c->report, fmt, ap);
    va_end(ap);
    sb_puts(&c->report, "\n");
    c->unconverted++;
}

/* ---- names -------------------------------------------------------------- */

static const char *const reserved[] = {
    /* keywords (§13) */
    "if", "then", "else", "elseif", "end", "endif", "do", "enddo", "while", "in", "exit",
    "cycle", "select", "case", "default", "endselect", "function", "subroutine", "endfunction",
    "endsubroutine", "result", "recursive", "call", "return", "print", "stop", "error",
    "integer", "real", "double", "precision", "logical", "character", "parameter", "save",
    "intent", "implicit", "none", "program", "module", "contains", "use",
    /* intrinsics (§9) and the predefined names */
    "abs", "min", "max", "mod", "modulo", "int", "nint", "floor", "ceiling", "sqrt", "exp",
    "log", "log10", "merge", "present", "size", "sum", "minval", "maxval", "avg", "history",
    "getvar", "setvar", "len", "trim", "host", "guests",
};

static bool is_reserved(const char *name)
{
    char low[64];
    size_t n = strlen(name);
    if (n >= sizeof(low))
        return false;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(low, reserved[i]) == 0)
            return true;
    return false;
}

/* Whether `name` can be written as it is in the Fortran-like dialect. */
static bool is_fortran_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63 || !isalpha((unsigned char)name[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return false;
    return !is_reserved(name);
}

/* A Fortran-like identifier close to the classic `name`. */
static char *sanitize(cvt *c, const char *name)
{
    char buf[64];
    size_t o = 0;
    if (!isalpha((unsigned char)name[0]))
        buf[o++] = 'v';
    for (size_t i = 0; name[i] && o < 60; i++) {
        char ch = name[i];
        buf[o++] = (isalnum((unsigned char)ch) || ch == '_') ? ch : '_';
    }
    buf[o] = '\0';
    if (is_reserved(buf) && o < 62) {
        buf[o++] = '_';
        buf[o] = '\0';
    }
    return xstrdup(c, buf);
}

/* ---- literals ----------------------------------------------------------- */

/* The value of an integer literal; false when it does not fit 64 bits or
 * has octal digits 8/9 (the classic dialect fails when evaluating it). */
static bool int_value(const node *n, int64_t *ret)
{
    const char *s = n->text;
    size_t len = n->len, i = 0;
    bool neg = false;
    int base = n->bracket ? n->bracket : 10;
    if (len && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (base != 10)
        i += 2;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (i >= len)
        return false;
    for (; i < len; i++) {
        int d;
        char ch = s[i];
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F')
            d = ch - 'A' + 10;
        else
            return false;
        if (d >= base)
            return false;
        if (v > (lim - (uint64_t)d) / (uint64_t)base)
            return false;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    *ret = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Shortest text that reads back as `v`, always with a '.' or exponent. */
static char *real_text(cvt *c, double v)
{
    char buf[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof(buf), "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* Drop a '+' in the exponent and make sure it reads as a real. */
    char out[64];
    size_t o = 0;
    for (size_t i = 0; buf[i]; i++)
        if (buf[i] != '+')
            out[o++] = buf[i];
    out[o] = '\0';
    if (!strpbrk(out, ".e"))
        strcat(out, ".0");
    return xstrdup(c, out);
}

/* Whether classic float text (without its sign) is also a valid
 * Fortran-like real literal as written. */
static bool fortran_real_text(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    while (i < n && isdigit((unsigned char)s[i]))
        i++, digits++;
    if (digits > 1 && s[0] == '0')
        return false;
    bool dot = false;
    if (i < n && s[i] == '.') {
        dot = true;
        i++;
        size_t frac = 0;
        while (i < n && isdigit((unsigned char)s[i]))
            i++, frac++;
        if (!frac)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && s[i] == '-')
            i++;
        size_t ed = 0;
        while (i < n && isdigit((unsigned char)s[i]))
            i++, ed++;
        if (!ed)
            return false;
        return i == n;
    }
    return dot && i == n;
}

static void ex_lit(ex *e, const char *s, unsigned type)
{
    memset(e, 0, sizeof(*e));
    e->s = s;
    e->type = type;
    e->simple = e->constant = true;
    e->prec = P_PRIM;
}

static int x_int(cvt *c, const node *n, ex *e)
{
    int64_t v;
    if (!int_value(n, &v))
        return fail(c, n, "the literal %.*s is not a 64-bit integer (the classic dialect fails "
                          "when it evaluates it)", (int)n->len, n->text);
    ex_lit(e, xprintf(c, "%" PRId64, v), T_INT);
    if (v < 0) {
        e->neglit = true;
        e->prec = P_UNARY;
    }
    return 0;
}

static int x_real(cvt *c, const node *n, ex *e)
{
    char buf[128];
    if (n->len >= sizeof(buf))
        return fail(c, n, "real literal too long");
    memcpy(buf, n->text, n->len);
    buf[n->len] = '\0';
    double v = strtod(buf, NULL);
    if (!isfinite(v))
        return fail(c, n, "the literal %s is not a finite real", buf);
    bool neg = buf[0] == '-';
    const char *body = buf + (neg ? 1 : 0);
    const char *txt;
    if (fortran_real_text(body, strlen(body)) && !strchr(body, '+'))
        txt = xprintf(c, "%s%s", neg ? "-" : "", body);
    else
        txt = real_text(c, v);
    ex_lit(e, txt, T_REAL);
    if (txt[0] == '-') {
        e->neglit = true;
        e->prec = P_UNARY;
    }
    return 0;
}

static int x_str(cvt *c, const node *n, ex *e)
{
    if (memchr(n->text, '\n', n->len) || memchr(n->text, '\r', n->len))
        return fail(c, n, "a string that spans lines has no Fortran-like spelling");
    cbuf b = { 0 };
    sb_putn(&b, "\"", 1);
    for (size_t i = 0; i < n->len; i++) {
        if (n->text[i] == '"')
            sb_putn(&b, "\"", 1);
        sb_putn(&b, n->text + i, 1);
    }
    sb_putn(&b, "\"", 1);
    if (b.oom)
        c->oom = true;
    ex_lit(e, b.s ? xstrdup(c, b.s) : "\"\"", T_STR);
    sb_free(&b);
    return 0;
}

/* ---- nodes -------------------------------------------------------------- */

static bool is_sym(const node *n, const char *name)
{
    return n->kind == N_SYM && n->len == strlen(name) && memcmp(n->text, name, n->len) == 0;
}

static bool is_nil(const node *n)
{
    return is_sym(n, "nil");
}

/* The name of a symbol node, NUL-terminated, in the arena. */
static const char *sym_name(cvt *c, const node *n)
{
    return xstrndup(c, n->text, n->len);
}

static bool sym_dotted(const node *n)
{
    return n->kind == N_SYM && memchr(n->text, '.', n->len) != NULL;
}

/* The head name of a list whose head is a symbol or an operator, mapped to
 * the internal name for operators; NULL otherwise. */
static const char *head_name(cvt *c, const node *n)
{
    static const struct {
        const char *op, *name;
    } ops[] = {
        {"+", "add"}, {"-", "sub"}, {"*", "mul"}, {"/", "div"}, {"<", "lt"},
        {">", "gt"},  {"<=", "lte"}, {">=", "gte"}, {"==", "eq"}, {"!=", "neq"},
        {"<<", "shl"}, {">>", "shr"},
    };
    if (n->kind != N_LIST || n->n == 0)
        return NULL;
    const node *h = n->kids[0];
    if (h->kind == N_OP) {
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
            if (h->len == strlen(ops[i].op) && memcmp(h->text, ops[i].op, h->len) == 0)
                return ops[i].name;
        return NULL;
    }
    if (h->kind != N_SYM)
        return NULL;
    return sym_name(c, h);
}

/* Whether list `n` is the built-in form `form` (spelled with any alias). */
static bool is_form(cvt *c, const node *n, const char *form)
{
    const char *h = head_name(c, n);
    if (!h)
        return false;
    if (strcmp(h, form) == 0)
        return true;
    if (strcmp(form, "def") == 0)
        return strcmp(h, "defun") == 0;
    if (strcmp(form, "set") == 0)
        return strcmp(h, "setq") == 0;
    return false;
}

/* Offset just past node `n` in source `f` (a list: past its closing
 * bracket). */
static size_t node_end(const cfile *f, const node *n)
{
    const char *lo = f->src, *hi = f->src + f->len;
    if (n->kind != N_LIST) {
        if (n->text < lo || n->text > hi)
            return 0;
        size_t e = (size_t)(n->text - lo) + n->len;
        if (n->kind == N_STR)
            e++;
        return e;
    }
    size_t p = n->text >= lo && n->text < hi ? (size_t)(n->text - lo) + 1 : 0;
    for (size_t i = 0; i < n->n; i++) {
        size_t e = node_end(f, n->kids[i]);
        if (e > p)
            p = e;
    }
    /* Skip white space and comments up to the closing bracket. */
    while (p < f->len) {
        char ch = f->src[p];
        if (ch == '#') {
            while (p < f->len && f->src[p] != '\n')
                p++;
        } else if (ch == ')' || ch == ']' || ch == '}') {
            return p + 1;
        } else {
            p++;
        }
    }
    return p;
}

/* Line number of byte offset `off` in file 0. */
static uint32_t line_of(const cvt *c, size_t off)
{
    size_t lo = 0, hi = c->nlines;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (c->line_starts[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    return (uint32_t)lo + 1;
}

/* ---- variables ---------------------------------------------------------- */

static cvar *var_new(cvt *c, const char *cname, const node *owner, int proc, int kind)
{
    if (!grow(c, (void **)&c->vars, &c->capvars, c->nvars, sizeof(cvar *)))
        return NULL;
    cvar *v = xalloc(c, sizeof(*v));
    if (!v)
        return NULL;
    v->cname = xstrdup(c, cname);
    v->owner = owner;
    v->proc = proc;
    v->kind = kind;
    v->file = c->cur;
    v->def_order = INT_MAX;
    c->vars[c->nvars++] = v;
    c->changed = true;
    return v;
}

/* The variable `cname` of scope `owner` (kind given), created if new. */
static cvar *var_get(cvt *c, const char *cname, const node *owner, int proc, int kind)
{
    cvar *v = NULL;
    for (size_t i = 0; i < c->nvars && !v; i++)
        if (c->vars[i]->owner == owner && c->vars[i]->kind == kind &&
            strcmp(c->vars[i]->cname, cname) == 0)
            v = c->vars[i];
    if (!v)
        v = var_new(c, cname, owner, proc, kind);
    if (v)
        v->seen = c->pass;
    return v;
}

static cvar *global_find(cvt *c, const char *cname)
{
    for (size_t i = 0; i < c->nvars; i++)
        if (c->vars[i]->kind == V_GLOBAL && strcmp(c->vars[i]->cname, cname) == 0)
            return c->vars[i];
    return NULL;
}

static cvar *global_get(cvt *c, const char *cname)
{
    cvar *v = global_find(c, cname);
    return v ? v : var_new(c, cname, NULL, -1, V_GLOBAL);
}

/* Join `t` into the type of `v`. */
static void var_join(cvt *c, cvar *v, unsigned t)
{
    /* Nothing known yet about the value: nothing to join. */
    if (!v || !t)
        return;
    if ((v->type | t) != v->type) {
        v->type |= t;
        c->changed = true;
    }
}

static cfunc *func_find(cvt *c, const char *cname)
{
    cfunc *found = NULL;
    for (size_t i = 0; i < c->nfuncs; i++)
        if (strcmp(c->funcs[i]->cname, cname) == 0 && !c->funcs[i]->replaced)
            found = c->funcs[i];
    return found;
}

/* The Fortran-like declaration type for a variable of type `t`, or NULL
 * when it has none (entities, lists, mixed or unknown types). */
static const char *decl_type(unsigned t)
{
    t &= ~T_NONE;
    if (!t)
        return NULL;
    if (t == T_INT)
        return "integer";
    if ((t & ~T_NUM) == 0)
        return "real";
    if (t == T_LOG)
        return "logical";
    if (t == T_STR)
        return "character";
    return NULL;
}

/* The type a read of `v` gives: a declared variable converts what it is
 * given to its declared type. */
static unsigned read_type(const cvar *v)
{
    unsigned t = v->type;
    if (!t)
        return 0;
    if (v->kind == V_LOCAL || v->kind == V_GLOBAL || v->kind == V_TEMP) {
        const char *d = decl_type(t);
        if (d && strcmp(d, "real") == 0)
            return T_REAL | (t & T_NONE);
    }
    return t;
}

static void bind_push(cvt *c, cvar *v)
{
    if (!grow(c, (void **)&c->binds, &c->capbinds, c->nbinds, sizeof(cbind)))
        return;
    cbind *b = &c->binds[c->nbinds++];
    b->v = v;
    b->if_node = NULL;
    b->branch = 0;
    /* The innermost if branch inside the binding's own scope. */
    if (c->nifs) {
        b->if_node = c->ifs[c->nifs - 1].n;
        b->branch = c->ifs[c->nifs - 1].branch;
    }
}

static cbind *find_bound(cvt *c, const char *cname)
{
    for (size_t i = c->nbinds; i-- > 0;)
        if (strcmp(c->binds[i].v->cname, cname) == 0)
            return &c->binds[i];
    return NULL;
}

static cfree *free_get(cvt *c, cfunc *f, const char *name)
{
    for (size_t i = 0; i < f->nfree; i++)
        if (strcmp(f->free[i].name, name) == 0)
            return &f->free[i];
    if (!grow(c, (void **)&f->free, &f->capfree, f->nfree, sizeof(cfree)))
        return NULL;
    cfree *e = &f->free[f->nfree++];
    memset(e, 0, sizeof(*e));
    e->name = xstrdup(c, name);
    c->changed = true;
    return e;
}

/* Resolve the variable `cname` where the translator stands: a binding of
 * the current procedure or file-level block, else (inside a procedure) a
 * name free in it, passed from the callers or global, else a global. */
static cvar *lookup(cvt *c, const node *at, const char *cname, bool write)
{
    cbind *b = find_bound(c, cname);
    if (b)
        return b->v;
    if (c->proc >= 0) {
        cfunc *f = c->funcs[c->proc];
        cfree *e = free_get(c, f, cname);
        if (e) {
            if (write && !e->written) {
                e->written = true;
                c->changed = true;
            }
            if (e->extra) {
                if (!e->xvar)
                    e->xvar = var_get(c, cname, f->def, c->proc, V_EXTRA);
                return e->xvar;
            }
        }
    }
    cvar *g = global_get(c, cname);
    if (!g)
        return NULL;
    g->seen = c->pass;
    if (c->cur == 0 && at && (g->first_ref == 0 || at->line < g->first_ref))
        g->first_ref = at->line;
    return g;
}

/* ---- output ------------------------------------------------------------- */

static void emit_indent(cvt *c)
{
    for (int i = 0; i < c->indent; i++)
        sb_puts(c->out, "   ");
}

static void emit_line(cvt *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit_line(cvt *c, const char *fmt, ...)
{
    emit_indent(c);
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(c->out, fmt, ap);
    va_end(ap);
    sb_puts(c->out, "\n");
}

/* Whether file 0 has a blank line strictly between lines a and b. */
static bool blank_between(const cvt *c, uint32_t a, uint32_t b)
{
    for (uint32_t l = a + 1; l < b && l <= c->nlines; l++) {
        size_t s = c->line_starts[l - 1];
        size_t e = l < c->nlines ? c->line_starts[l] : c->files[0].len;
        bool blank = true;
        for (size_t i = s; i < e; i++)
            if (!isspace((unsigned char)c->files[0].src[i]))
                blank = false;
        if (blank)
            return true;
    }
    return false;
}

/* Write the comments of the converted file that come before `line`. */
static void flush_comments(cvt *c, uint32_t line)
{
    if (!c->final || c->cur != 0)
        return;
    while (c->next_comment < c->ncomments && c->comments[c->next_comment].line < line) {
        const ccomment *k = &c->comments[c->next_comment++];
        emit_indent(c);
        sb_puts(c->out, "!");
        sb_putn(c->out, k->text, k->len);
        sb_puts(c->out, "\n");
    }
}

/* Replace a refused statement by its classic text as a comment, and
 * report it. */
static void emit_refusal(cvt *c, const node *n)
{
    if (!c->final || c->cur != 0)
        return;
    uint32_t line = c->err_line ? c->err_line : n->line;
    sb_printf(&c->report, "%s:%u: cannot convert: %s\n", c->files[0].path, line, c->err);
    c->unconverted++;
    emit_line(c, "! cannot convert (line %u): %s", line, c->err);
    const cfile *f = &c->files[0];
    size_t start = c->line_starts[n->line - 1];
    size_t end = node_end(f, n);
    uint32_t last = line_of(c, end ? end - 1 : start);
    for (uint32_t l = n->line; l <= last && l <= c->nlines; l++) {
        size_t s = c->line_starts[l - 1];
        size_t e = l < c->nlines ? c->line_starts[l] : f->len;
        while (e > s && (f->src[e - 1] == '\n' || f->src[e - 1] == '\r'))
            e--;
        emit_indent(c);
        sb_puts(c->out, "! ");
        sb_putn(c->out, f->src + s, e - s);
        sb_puts(c->out, "\n");
    }
    /* The classic text carries its own comments. */
    while (c->next_comment < c->ncomments && c->comments[c->next_comment].line <= last)
        c->next_comment++;
}

/* Mark a renamed global or function in the text, before its declaration. */
static void mark_rename(cvt *c, const char *msg, uint32_t line)
{
    if (msg && c->final && c->cur == 0)
        emit_line(c, "! cannot convert (line %u): %s", line, msg);
}

/* Queue a file-level declaration for the form being translated. */
static void pend(cvt *c, cvar *v)
{
    if (!c->final || c->cur != 0 || v->declared)
        return;
    for (size_t i = 0; i < c->npending; i++)
        if (c->pending[i] == v)
            return;
    if (grow(c, (void **)&c->pending, &c->cappending, c->npending, sizeof(cvar *)))
        c->pending[c->npending++] = v;
}

/* ---- expressions -------------------------------------------------------- */

static int xexpr(cvt *c, const node *n, ex *e);
static int xcond(cvt *c, const node *n, ex *e);
static int stmt(cvt *c, const node *n, const sink *s);
static void stmt_guarded(cvt *c, const node *n, const sink *s);

static const char *vname(const cvar *v)
{
    return v->fname ? v->fname : v->cname;
}

static const char *fnname(const cfunc *f)
{
    return f->fname ? f->fname : f->cname;
}

/* Whether `f` becomes a function (else a subroutine): some call uses its
 * value, or no call is known and its body has a value to return. */
static bool is_function(const cfunc *f)
{
    return f->pused || (!f->pcalled && (f->ret || !f->may_unset));
}

static const char *par(cvt *c, const ex *e, bool need)
{
    return need ? xprintf(c, "(%s)", e->s) : e->s;
}

static void mark_effects(cvt *c)
{
    if (c->proc >= 0 && !c->funcs[c->proc]->effects) {
        c->funcs[c->proc]->effects = true;
        c->changed = true;
    }
}

/* An expression that is not nil. */
static int xval(cvt *c, const node *n, ex *e)
{
    if (xexpr(c, n, e) < 0)
        return -1;
    if (e->nil)
        return fail(c, n, "nil has no Fortran-like spelling here");
    return 0;
}

static unsigned ty(const ex *e)
{
    return e->type ? e->type : T_ANY;
}

/* A logical used where the classic dialect uses it as the integer 1 or 0. */
static void log_to_int(cvt *c, ex *e)
{
    if ((ty(e) & ~T_NONE) == T_LOG) {
        e->s = xprintf(c, "merge(1, 0, %s)", e->s);
        e->type = T_INT;
        e->prec = P_PRIM;
        e->simple = false;
    }
}

static const char *const method_names[] = {
    "Prop", "Stat", "StatAvg", "SetVar", "GetVar", "Control", "GetControl",
    "setTotalBytesSec", "setReadBytesSec", "setWriteBytesSec",
    "setTotalIopsSec", "setReadIopsSec", "setWriteIopsSec",
};

static int method_id(const char *name)
{
    for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
        if (strcmp(name, method_names[i]) == 0)
            return (int)i;
    return -1;
}

/* The type of attribute `attr` of a value of type `bt`. */
static unsigned attr_type(unsigned bt, const char *attr)
{
    unsigned t = 0;
    if (bt & T_ENT) {
        if (strcmp(attr, "io_tune") == 0 || strcmp(attr, "io_tune_current") == 0)
            t |= T_LIST | T_NONE;
        else
            t |= T_NUM | T_NONE;
    }
    if (bt & T_REC) {
        if (strcmp(attr, "name") == 0 || strcmp(attr, "path") == 0)
            t |= T_STR;
        else if (strcmp(attr, "guaranteed") == 0 || strcmp(attr, "maximum") == 0 ||
                 strcmp(attr, "current") == 0)
            t |= T_LIM;
        else
            t |= T_NUM | T_NONE;
    }
    if (bt & T_LIM)
        t |= T_INT | T_NONE;
    return t ? t : T_ANY;
}

/* The value a plain (undotted) name stands for. */
static int x_name(cvt *c, const node *at, const char *name, ex *e)
{
    memset(e, 0, sizeof(*e));
    e->simple = true;
    e->prec = P_PRIM;
    if (!find_bound(c, name)) {
        if (strcmp(name, "Host") == 0) {
            e->s = "host";
            e->type = T_ENT;
            return 0;
        }
        if (strcmp(name, "Guests") == 0) {
            e->s = "guests";
            e->type = T_GUESTS;
            return 0;
        }
        if (strcmp(name, "abs") == 0 || strcmp(name, "debug") == 0)
            return fail(c, at, "the function %s used as a value", name);
    }
    cvar *v = lookup(c, at, name, false);
    if (!v)
        return -1;
    if (v->alias) {
        e->s = v->alias_text ? v->alias_text : vname(v);
        e->type = v->type;
        return 0;
    }
    e->s = vname(v);
    e->type = read_type(v);
    return 0;
}

/* Split the dotted symbol `n` into its base value and attribute name. */
static int x_dotparts(cvt *c, const node *n, ex *base, const char **ret_attr)
{
    const char *full = sym_name(c, n);
    const char *dot = strchr(full, '.');
    const char *bname = xstrndup(c, full, (size_t)(dot - full));
    const char *a = dot + 1, *dot2 = strchr(a, '.');
    const char *attr = dot2 ? xstrndup(c, a, (size_t)(dot2 - a)) : a;
    if (!*attr)
        return fail(c, n, "%s: a dotted name needs an attribute", full);
    if (dot2)
        note(c, n->line, "%s reads %s.%s only: the classic dialect ignores the parts after the "
                         "second", full, bname, attr);
    if (x_name(c, n, bname, base) < 0)
        return -1;
    if (!(ty(base) & (T_ENT | T_REC | T_LIM)))
        return fail(c, n, "%s: %s is not an entity or an I/O-tune record", full, bname);
    *ret_attr = attr;
    return 0;
}

/* A name usable as a component: letters, digits and '_', not starting
 * with a digit. */
static bool is_component(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

/* NAME or BASE.ATTR[.IGNORED] */
static int x_sym(cvt *c, const node *n, ex *e)
{
    if (is_nil(n)) {
        memset(e, 0, sizeof(*e));
        e->nil = true;
        e->simple = true;
        e->type = T_NONE;
        e->s = "nil";
        return 0;
    }
    if (!sym_dotted(n))
        return x_name(c, n, sym_name(c, n), e);
    ex base;
    const char *attr;
    if (x_dotparts(c, n, &base, &attr) < 0)
        return -1;
    if (method_id(attr) >= 0)
        return fail(c, n, "the method %.*s used as a value", (int)n->len, n->text);
    if (!is_component(attr))
        return fail(c, n, "%s is not a Fortran-like component name", attr);
    memset(e, 0, sizeof(*e));
    e->s = xprintf(c, "%s%%%s", base.s, attr);
    e->type = attr_type(ty(&base), attr);
    e->simple = true;
    e->prec = P_PRIM;
    return 0;
}

static bool int_literal_text(const ex *e)
{
    if (!e->constant || !e->simple || ty(e) != T_INT)
        return false;
    const char *s = e->s + (e->s[0] == '-');
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* (+ a b) (- a b) (* a b) (/ a b): `/` is always real division. */
static int x_arith(cvt *c, const node *n, const char *op, ex *e)
{
    if (n->n != 3)
        return fail(c, n, "(%s ...) takes two arguments (an error in the classic dialect)", op);
    ex a, b;
    if (xval(c, n->kids[1], &a) < 0 || xval(c, n->kids[2], &b) < 0)
        return -1;
    unsigned da = ty(&a) & ~T_NONE, db = ty(&b) & ~T_NONE;
    bool add = strcmp(op, "add") == 0, sub = strcmp(op, "sub") == 0;
    bool mul = strcmp(op, "mul") == 0, div = strcmp(op, "div") == 0;
    memset(e, 0, sizeof(*e));
    e->effects = a.effects || b.effects;
    e->constant = a.constant && b.constant;
    if (add && (da == T_STR || db == T_STR)) {
        if (da != T_STR || db != T_STR)
            return fail(c, n, "adds a string and a value that may not be a string");
        e->s = xprintf(c, "%s // %s", par(c, &a, a.prec > P_CAT), par(c, &b, b.prec >= P_CAT));
        e->prec = P_CAT;
        e->type = T_STR;
        return 0;
    }
    if ((da & (T_STR | T_LIST)) && !(da & T_NUM))
        return fail(c, n, "arithmetic on a string or a list does not convert");
    if ((db & (T_STR | T_LIST)) && !(db & T_NUM))
        return fail(c, n, "arithmetic on a string or a list does not convert");
    log_to_int(c, &a);
    log_to_int(c, &b);
    da = ty(&a) & ~T_NONE;
    db = ty(&b) & ~T_NONE;
    if (!(da & T_NUM) || !(db & T_NUM))
        return fail(c, n, "arithmetic on a value that is not a number");
    int prec = (add || sub) ? P_ADD : P_MUL;
    const char *sym = add ? "+" : sub ? "-" : mul ? "*" : "/";
    if (div) {
        /* True division: make one operand real unless one surely is. */
        if (da != T_REAL && db != T_REAL) {
            if (int_literal_text(&a)) {
                a.s = xprintf(c, "%s.0", a.s);
            } else if (int_literal_text(&b)) {
                b.s = xprintf(c, "%s.0", b.s);
            } else {
                a.s = xprintf(c, "real(%s)", a.s);
                a.prec = P_PRIM;
                a.neglit = false;
            }
        }
        e->type = T_REAL;
    } else if (da == T_REAL || db == T_REAL) {
        e->type = T_REAL;
    } else if ((!a.type || !b.type) && !c->settled) {
        e->type = 0; /* not known yet */
    } else if (da == T_INT && db == T_INT) {
        e->type = T_INT;
    } else {
        e->type = T_NUM;
    }
    e->s = xprintf(c, "%s %s %s", par(c, &a, a.prec > prec || (a.neglit && prec < P_UNARY)), sym,
                   par(c, &b, b.prec >= prec || b.neglit));
    e->prec = prec;
    return 0;
}

/* What a comparison operand is, as far as the types tell. */
enum { K_NUM, K_LOG, K_STR, K_OTHER, K_UNKNOWN };

static int kind_of(const ex *e)
{
    unsigned d = ty(e) & ~T_NONE;
    if (d && (d & ~T_NUM) == 0)
        return K_NUM;
    if (d == T_LOG)
        return K_LOG;
    if (d == T_STR)
        return K_STR;
    if (d && (d & ~(T_ENT | T_REC | T_LIM | T_LIST | T_GUESTS)) == 0)
        return K_OTHER;
    return K_UNKNOWN;
}

/* (< a b) ... (== a b) (!= a b).  Classic == and != never fail: they are
 * false/true when one side is None, so a side that may be absent gets a
 * present() test. */
static int x_cmp(cvt *c, const node *n, const char *op, ex *e)
{
    if (n->n != 3)
        return fail(c, n, "(%s ...) takes two arguments (an error in the classic dialect)", op);
    bool eq = strcmp(op, "eq") == 0, ne = strcmp(op, "neq") == 0;
    const char *sym = eq ? "==" : ne ? "/=" : strcmp(op, "lt") == 0 ? "<" : strcmp(op, "gt") == 0 ? ">"
                    : strcmp(op, "lte") == 0 ? "<=" : ">=";
    ex a, b;
    if (xexpr(c, n->kids[1], &a) < 0 || xexpr(c, n->kids[2], &b) < 0)
        return -1;
    memset(e, 0, sizeof(*e));
    e->type = T_LOG;
    e->effects = a.effects || b.effects;
    if (a.nil || b.nil) {
        if (!eq && !ne)
            return fail(c, n, "compares nil with %s (an error in the classic dialect)", sym);
        if (a.nil && b.nil) {
            ex_lit(e, eq ? ".true." : ".false.", T_LOG);
            return 0;
        }
        const ex *x = a.nil ? &b : &a;
        e->s = xprintf(c, "%spresent(%s)", eq ? ".not. " : "", x->s);
        e->prec = eq ? P_NOT : P_PRIM;
        return 0;
    }
    int ka = kind_of(&a), kb = kind_of(&b);
    if ((ka == K_LOG && kb == K_NUM) || (!eq && !ne && ka == K_LOG)) {
        log_to_int(c, &a);
        ka = K_NUM;
    }
    if ((kb == K_LOG && ka == K_NUM) || (!eq && !ne && kb == K_LOG)) {
        log_to_int(c, &b);
        kb = K_NUM;
    }
    if ((ka == K_STR && kb == K_NUM) || (ka == K_NUM && kb == K_STR))
        return fail(c, n, "compares a string with a number");
    if (ka == K_OTHER || kb == K_OTHER)
        return fail(c, n, "compares entities, records or lists");
    const char *core = xprintf(c, "%s %s %s", par(c, &a, a.prec >= P_CMP), sym,
                               par(c, &b, b.prec >= P_CMP));
    bool na = ty(&a) & T_NONE, nb = ty(&b) & T_NONE;
    if (!(eq || ne) || (!na && !nb)) {
        e->s = core;
        e->prec = P_CMP;
        return 0;
    }
    if ((na && !a.simple) || (nb && !b.simple))
        return fail(c, n, "%s on a value that may be absent: the classic result is then %s, the "
                          "Fortran-like comparison fails", sym, eq ? "false" : "true");
    if (na && nb) {
        if (eq)
            e->s = xprintf(c, "(.not. present(%s) .and. .not. present(%s)) .or. present(%s, %s) "
                              ".and. %s", a.s, b.s, a.s, b.s, core);
        else
            e->s = xprintf(c, "(present(%s) .neqv. present(%s)) .or. present(%s, %s) .and. %s",
                           a.s, b.s, a.s, b.s, core);
        e->prec = P_OR;
        return 0;
    }
    const ex *x = na ? &a : &b;
    if (eq) {
        e->s = xprintf(c, "present(%s) .and. %s", x->s, core);
        e->prec = P_AND;
    } else {
        e->s = xprintf(c, ".not. present(%s) .or. %s", x->s, core);
        e->prec = P_OR;
    }
    return 0;
}

/* (<< a k) (>> a k) with a constant count: multiplication, or floor
 * division written with modulo(). */
static int x_shift(cvt *c, const node *n, bool left, ex *e)
{
    if (n->n != 3)
        return fail(c, n, "(%s ...) takes two arguments", left ? "<<" : ">>");
    int64_t k;
    if (n->kids[2]->kind != N_INT || !int_value(n->kids[2], &k) || k < 0 || k > 62)
        return fail(c, n, "a shift converts only by a constant count from 0 to 62");
    ex a;
    if (xval(c, n->kids[1], &a) < 0)
        return -1;
    log_to_int(c, &a);
    if ((ty(&a) & ~T_NONE) == T_REAL || !(ty(&a) & T_INT))
        return fail(c, n, "shifts a value that is not an integer");
    int64_t m = (int64_t)1 << k;
    memset(e, 0, sizeof(*e));
    e->type = T_INT;
    e->effects = a.effects;
    e->constant = a.constant;
    if (left) {
        e->s = xprintf(c, "%s * %" PRId64, par(c, &a, a.prec > P_MUL || a.neglit), m);
        e->prec = P_MUL;
        return 0;
    }
    if (!a.simple)
        return fail(c, n, "(>> X K) converts only when X is a name or a literal");
    e->s = xprintf(c, "(%s - modulo(%s, %" PRId64 ")) / %" PRId64, a.s, a.s, m, m);
    e->prec = P_MUL;
    return 0;
}

/* `.not. v` for a logical v, without stacking two .not. operators. */
static void negate_log(cvt *c, const ex *v, ex *e)
{
    *e = *v;
    e->simple = false;
    if (v->prec == P_NOT && !strncmp(v->s, ".not. ", 6)) {
        e->s = v->s + 6;
        e->prec = P_CMP;
        return;
    }
    e->s = xprintf(c, ".not. %s", par(c, v, v->prec > P_NOT));
    e->prec = P_NOT;
}

/* The truth value of v as a logical (negated when `negate`): the classic
 * dialect tests None, 0, 0.0, "" and empty lists as false. */
static int truth(cvt *c, const node *at, const ex *v, bool negate, ex *e)
{
    unsigned t = ty(v), d = t & ~T_NONE;
    bool none = t & T_NONE;
    memset(e, 0, sizeof(*e));
    e->type = T_LOG;
    e->effects = v->effects;
    e->prec = P_CMP;
    const char *s = v->s, *core, *ncore;
    int cprec = P_CMP;
    if (v->nil) {
        ex_lit(e, negate ? ".true." : ".false.", T_LOG);
        return 0;
    }
    if (none && !v->simple && d != T_LOG)
        return fail(c, at, "the truth value of %s, which may be absent (false in the classic "
                           "dialect, an error in the Fortran-like one)", s);
    if (v->constant && v->simple && (d == T_INT || d == T_REAL || d == T_STR)) {
        /* A literal: its truth is known now. */
        bool val = d == T_STR ? strcmp(s, "\"\"") != 0 : strtod(s, NULL) != 0;
        ex_lit(e, val != negate ? ".true." : ".false.", T_LOG);
        return 0;
    }
    if (v->constant && (!strcmp(s, ".true.") || !strcmp(s, ".false."))) {
        bool val = (s[1] == 't') != negate;
        ex_lit(e, val ? ".true." : ".false.", T_LOG);
        return 0;
    }
    if (d == T_LOG) {
        core = s;
        cprec = v->prec;
        ncore = xprintf(c, ".not. %s", par(c, v, v->prec > P_NOT));
        if (none) {
            if (!v->simple)
                return fail(c, at, "the truth value of %s, which may be absent", s);
            e->s = negate ? xprintf(c, ".not. present(%s) .or. .not. %s", s, s)
                          : xprintf(c, "present(%s) .and. %s", s, s);
            e->prec = negate ? P_OR : P_AND;
            return 0;
        }
        (void)ncore;
        if (negate) {
            negate_log(c, v, e);
            e->type = T_LOG;
            return 0;
        }
        e->s = core;
        e->prec = cprec;
        e->simple = v->simple;
        return 0;
    } else if (d && (d & ~T_NUM) == 0) {
        const char *p = par(c, v, v->prec >= P_CMP);
        core = xprintf(c, "%s /= 0", p);
        ncore = xprintf(c, "%s == 0", p);
    } else if (d == T_STR) {
        core = xprintf(c, "len(%s) > 0", s);
        ncore = xprintf(c, "len(%s) == 0", s);
    } else if (d == T_LIST || d == T_GUESTS) {
        core = xprintf(c, "size(%s) > 0", s);
        ncore = xprintf(c, "size(%s) == 0", s);
    } else if (d && (d & ~(T_ENT | T_REC | T_LIM)) == 0) {
        if (!none) {
            ex_lit(e, negate ? ".false." : ".true.", T_LOG);
            e->effects = v->effects;
            return 0;
        }
        e->s = xprintf(c, "%spresent(%s)", negate ? ".not. " : "", s);
        e->prec = negate ? P_NOT : P_PRIM;
        return 0;
    } else {
        return fail(c, at, "the truth value of %s: its type is not known here, and the classic "
                           "test depends on it (write a comparison such as (!= X 0)%s)", s,
                    c->nfiles == 1 ? ", or give the files that define it with --context" : "");
    }
    if (!none) {
        e->s = negate ? ncore : core;
        return 0;
    }
    if (negate) {
        e->s = xprintf(c, ".not. present(%s) .or. %s", s, ncore);
        e->prec = P_OR;
    } else {
        e->s = xprintf(c, "present(%s) .and. %s", s, core);
        e->prec = P_AND;
    }
    return 0;
}

/* (and a b ...) / (or a b ...).  Classic and/or evaluate every argument and
 * return one of them; .and./.or. stop early and return a logical.  As a
 * condition the two agree when no argument after the first has side
 * effects; as a value only when every argument is a logical. */
static int x_andor(cvt *c, const node *n, bool is_and, bool as_cond, ex *e)
{
    const char *name = is_and ? "and" : "or";
    if (n->n < 2)
        return fail(c, n, "(%s) needs an argument (an error in the classic dialect)", name);
    if (n->n == 2)
        return as_cond ? xcond(c, n->kids[1], e) : xexpr(c, n->kids[1], e);
    cbuf b = { 0 };
    bool effects = false;
    int prec = is_and ? P_AND : P_OR;
    for (size_t i = 1; i < n->n; i++) {
        ex a;
        int r = as_cond ? xcond(c, n->kids[i], &a) : xval(c, n->kids[i], &a);
        if (r < 0) {
            sb_free(&b);
            return -1;
        }
        if (!as_cond && ty(&a) != T_LOG) {
            sb_free(&b);
            return fail(c, n, "the value of (%s ...) is one of its arguments; it converts only "
                              "when every argument is a logical", name);
        }
        if (i >= 2 && a.effects) {
            sb_free(&b);
            return fail(c, n, "%s evaluates every argument but .%s. stops early, and argument %zu "
                              "has side effects", name, name, i);
        }
        effects = effects || a.effects;
        if (i > 1)
            sb_puts(&b, is_and ? " .and. " : " .or. ");
        sb_puts(&b, par(c, &a, a.prec > prec));
    }
    memset(e, 0, sizeof(*e));
    e->s = b.s ? xstrdup(c, b.s) : "";
    if (b.oom)
        c->oom = true;
    sb_free(&b);
    e->prec = prec;
    e->type = T_LOG;
    e->effects = effects;
    return 0;
}

static int x_not(cvt *c, const node *n, ex *e)
{
    if (n->n != 2)
        return fail(c, n, "(not X) takes one argument (an error in the classic dialect)");
    const node *a = n->kids[1];
    if (is_form(c, a, "and") || is_form(c, a, "or") || is_form(c, a, "not")) {
        ex v;
        if (xcond(c, a, &v) < 0)
            return -1;
        negate_log(c, &v, e);
        e->type = T_LOG;
        return 0;
    }
    ex v;
    if (xexpr(c, a, &v) < 0)
        return -1;
    return truth(c, a, &v, true, e);
}

static int x_minmax(cvt *c, const node *n, bool is_min, ex *e)
{
    const char *name = is_min ? "min" : "max";
    if (n->n < 2)
        return fail(c, n, "(%s) needs an argument (an error in the classic dialect)", name);
    if (n->n == 2)
        return xexpr(c, n->kids[1], e);
    cbuf b = { 0 };
    sb_printf(&b, "%s(", name);
    bool all_int = true, all_real = true, effects = false, constant = true, unknown = false;
    for (size_t i = 1; i < n->n; i++) {
        ex a;
        if (xval(c, n->kids[i], &a) < 0) {
            sb_free(&b);
            return -1;
        }
        unsigned d = ty(&a) & ~T_NONE;
        if (!(d & T_NUM)) {
            sb_free(&b);
            return fail(c, n, "(%s ...) of a value that is not a number does not convert", name);
        }
        unknown = unknown || !a.type;
        all_int = all_int && d == T_INT;
        all_real = all_real && d == T_REAL;
        effects = effects || a.effects;
        constant = constant && a.constant;
        sb_printf(&b, "%s%s", i > 1 ? ", " : "", a.s);
    }
    sb_puts(&b, ")");
    memset(e, 0, sizeof(*e));
    e->s = b.s ? xstrdup(c, b.s) : "";
    if (b.oom)
        c->oom = true;
    sb_free(&b);
    e->type = (unknown && !c->settled) ? 0 : all_int ? T_INT : all_real ? T_REAL : T_NUM;
    e->effects = effects;
    e->constant = constant;
    return 0;
}

/* (valid a b ...) is present(a, b, ...); a literal nil makes it false. */
static int x_valid(cvt *c, const node *n, ex *e)
{
    if (n->n == 1) {
        ex_lit(e, ".true.", T_LOG);
        return 0;
    }
    cbuf b = { 0 };
    bool has_nil = false, effects = false;
    for (size_t i = 1; i < n->n; i++) {
        ex a;
        if (xexpr(c, n->kids[i], &a) < 0) {
            sb_free(&b);
            return -1;
        }
        effects = effects || a.effects;
        if (a.nil) {
            has_nil = true;
            continue;
        }
        sb_printf(&b, "%s%s", b.len ? ", " : "", a.s);
    }
    memset(e, 0, sizeof(*e));
    e->type = T_LOG;
    e->effects = effects;
    if (has_nil || !b.len) {
        sb_free(&b);
        if (effects)
            return fail(c, n, "(valid ...) with nil and arguments that have side effects");
        ex_lit(e, has_nil ? ".false." : ".true.", T_LOG);
        return 0;
    }
    e->s = xprintf(c, "present(%s)", b.s);
    if (b.oom)
        c->oom = true;
    sb_free(&b);
    return 0;
}

/* (null a b ...): every argument is None or has length 0. */
static int x_null(cvt *c, const node *n, ex *e)
{
    if (n->n == 1) {
        ex_lit(e, ".true.", T_LOG);
        return 0;
    }
    cbuf b = { 0 };
    bool never = false, effects = false;
    for (size_t i = 1; i < n->n; i++) {
        ex a;
        if (xexpr(c, n->kids[i], &a) < 0) {
            sb_free(&b);
            return -1;
        }
        effects = effects || a.effects;
        if (a.nil)
            continue;
        unsigned t = ty(&a), d = t & ~T_NONE;
        bool none = t & T_NONE;
        const char *term = NULL;
        if (none && !a.simple) {
            sb_free(&b);
            return fail(c, n, "(null X) of an expression that may be absent");
        }
        if (d == T_STR || d == T_LIST || d == T_GUESTS) {
            const char *fn = d == T_STR ? "len" : "size";
            term = none ? xprintf(c, "(.not. present(%s) .or. %s(%s) == 0)", a.s, fn, a.s)
                        : xprintf(c, "%s(%s) == 0", fn, a.s);
        } else if (d && (d & (T_STR | T_LIST | T_GUESTS)) == 0) {
            if (!none)
                never = true;
            else
                term = xprintf(c, ".not. present(%s)", a.s);
        } else {
            sb_free(&b);
            return fail(c, n, "(null X) of a value whose type is not known here");
        }
        if (term)
            sb_printf(&b, "%s%s", b.len ? " .and. " : "", term);
    }
    memset(e, 0, sizeof(*e));
    e->type = T_LOG;
    e->effects = effects;
    if (never || !b.len) {
        sb_free(&b);
        if (effects && never)
            return fail(c, n, "(null ...) with arguments that have side effects");
        ex_lit(e, never ? ".false." : ".true.", T_LOG);
        return 0;
    }
    e->s = xstrdup(c, b.s);
    e->prec = strstr(b.s, " .and. ") ? P_AND : !strncmp(b.s, ".not. ", 6) ? P_NOT : P_CMP;
    if (b.oom)
        c->oom = true;
    sb_free(&b);
    return 0;
}

static int x_if_value(cvt *c, const node *n, ex *e)
{
    if (n->n != 4)
        return fail(c, n, "(if COND THEN ELSE) takes three arguments");
    ex cnd, t, f;
    if (xcond(c, n->kids[1], &cnd) < 0 || xexpr(c, n->kids[2], &t) < 0 ||
        xexpr(c, n->kids[3], &f) < 0)
        return -1;
    if (t.nil || f.nil || !t.simple || !f.simple || t.effects || f.effects)
        return fail(c, n, "an if inside an expression converts only when both branches are plain "
                          "values (it becomes merge())");
    memset(e, 0, sizeof(*e));
    e->s = xprintf(c, "merge(%s, %s, %s)", t.s, f.s, cnd.s);
    e->type = (t.type && f.type) ? (t.type | f.type) : 0;
    e->effects = cnd.effects;
    return 0;
}

/* Whether `arg` mentions the name `name` (or name.ATTR). */
static bool mentions(const node *arg, const char *name)
{
    size_t len = strlen(name);
    if (arg->kind == N_SYM)
        return arg->len >= len && memcmp(arg->text, name, len) == 0 &&
               (arg->len == len || arg->text[len] == '.');
    if (arg->kind == N_LIST)
        for (size_t i = 0; i < arg->n; i++)
            if (mentions(arg->kids[i], name))
                return true;
    return false;
}

/* A call of a user function: "NAME(ARGS)" in e->s, *ret_f the function
 * (NULL when it is defined in none of the files). */
static int x_call(cvt *c, const node *n, ex *e, bool used, cfunc **ret_f)
{
    const char *name = sym_name(c, n->kids[0]);
    cfunc *f = func_find(c, name);
    size_t nargs = n->n - 1;
    *ret_f = f;
    cbuf b = { 0 };
    memset(e, 0, sizeof(*e));
    if (!f) {
        if (!is_fortran_name(name))
            return fail(c, n, "calls %s, which is not a Fortran-like name", name);
        sb_printf(&b, "%s(", name);
        for (size_t i = 0; i < nargs; i++) {
            ex a;
            if (xval(c, n->kids[i + 1], &a) < 0) {
                sb_free(&b);
                return -1;
            }
            sb_printf(&b, "%s%s", i ? ", " : "", a.s);
        }
        sb_puts(&b, ")");
        note(c, n->line, "%s is defined in none of the files given; converted as a call of the "
                         "procedure %s", name, name);
        e->type = T_ANY;
        e->effects = true;
        goto done;
    }
    if (nargs != f->nparams) {
        return fail(c, n, "calls %s with %zu argument%s, but it takes %zu (an error in the classic "
                          "dialect)", name, nargs, nargs == 1 ? "" : "s", f->nparams);
    }
    /* Classic arguments are evaluated inside the callee's new scope: an
     * argument that names an earlier parameter reads that parameter. */
    for (size_t i = 1; i < nargs; i++)
        for (size_t j = 0; j < i; j++) {
            const char *pj = f->params[j]->cname;
            if (mentions(n->kids[i + 1], pj) && !is_sym(n->kids[j + 1], pj))
                return fail(c, n, "argument %zu of %s reads %s, which the classic dialect binds to "
                                  "%s's own parameter %s", i + 1, name, pj, name, pj);
        }
    if (c->proc >= 0 && c->funcs[c->proc] == f && !f->recursive) {
        f->recursive = true;
        c->changed = true;
    }
    sb_printf(&b, "%s(", fnname(f));
    for (size_t i = 0; i < nargs; i++) {
        ex a;
        if (xval(c, n->kids[i + 1], &a) < 0) {
            sb_free(&b);
            return -1;
        }
        var_join(c, f->params[i], a.type);
        e->effects = e->effects || a.effects;
        sb_printf(&b, "%s%s", i ? ", " : "", a.s);
    }
    /* Names the function reads from its callers' scopes. */
    size_t nfree = f->nfree, extra = 0;
    for (size_t k = 0; k < nfree; k++) {
        const char *fn = f->free[k].name;
        bool local = find_bound(c, fn) != NULL;
        if (!local && c->proc >= 0) {
            /* Free in the caller too: its own callers decide. */
            cfree *ce = free_get(c, c->funcs[c->proc], fn);
            fn = f->free[k].name;
            local = ce && ce->extra;
        }
        if (local && !f->free[k].extra) {
            f->free[k].extra = true;
            c->changed = true;
        }
        if (!f->free[k].extra)
            continue;
        ex a;
        if (x_name(c, n, fn, &a) < 0) {
            sb_free(&b);
            return -1;
        }
        if (f->free[k].xvar)
            var_join(c, f->free[k].xvar, a.type);
        sb_printf(&b, "%s%s", (nargs + extra) ? ", " : "", a.s);
        extra++;
    }
    sb_puts(&b, ")");
    f->called = true;
    if (used)
        f->used = true;
    if (used && c->final && f->may_unset) {
        sb_free(&b);
        return fail(c, n, "uses the value of %s, which may be nil (an absent value has no "
                          "Fortran-like spelling)", name);
    }
    e->type = f->ret;
    e->effects = e->effects || f->effects;
done:
    e->s = b.s ? xstrdup(c, b.s) : "";
    if (b.oom)
        c->oom = true;
    sb_free(&b);
    e->prec = P_PRIM;
    return 0;
}

/* A value read through an entity method: Prop, Stat, StatAvg, GetVar,
 * GetControl. */
static int x_method(cvt *c, const node *n, ex *e)
{
    ex base;
    const char *meth;
    if (x_dotparts(c, n->kids[0], &base, &meth) < 0)
        return -1;
    int id = method_id(meth);
    size_t nargs = n->n - 1;
    memset(e, 0, sizeof(*e));
    e->prec = P_PRIM;
    if (id < 0)
        return fail(c, n, "%.*s is not a method of entities or records", (int)n->kids[0]->len,
                    n->kids[0]->text);
    const char *m = method_names[id];
    if (!strcmp(m, "Control") || !strcmp(m, "SetVar") || !strncmp(m, "set", 3))
        return fail(c, n, "the value of %s is nil, which has no Fortran-like spelling", m);
    if (!strcmp(m, "GetVar")) {
        if (nargs != 1)
            return fail(c, n, "GetVar takes one argument");
        ex k;
        if (xval(c, n->kids[1], &k) < 0)
            return -1;
        e->s = xprintf(c, "getvar(%s, %s)", base.s, k.s);
        e->type = T_ANY;
        return 0;
    }
    bool stat = !strcmp(m, "Stat");
    if (nargs != 1 && !(stat && nargs == 2))
        return fail(c, n, "%s takes one argument", m);
    const node *key = n->kids[1];
    if (key->kind != N_STR)
        return fail(c, n, "%s with a name that is not a string literal", m);
    const char *k = xstrndup(c, key->text, key->len);
    if (!is_component(k))
        return fail(c, n, "%s \"%s\": not a Fortran-like component name", m, k);
    if (stat && nargs == 2) {
        ex d;
        if (xexpr(c, n->kids[2], &d) < 0)
            return -1;
        if (d.effects)
            return fail(c, n, "Stat with a default that has side effects");
    }
    if (!strcmp(m, "Prop")) {
        e->s = xprintf(c, "%s%%%s", base.s, k);
        e->type = (!strcmp(k, "name") || !strcmp(k, "uuid")) ? T_STR
                : (!strcmp(k, "pid") || !strcmp(k, "interval")) ? T_INT : T_ANY;
        e->simple = true;
    } else if (stat) {
        e->s = xprintf(c, "%s%%%s", base.s, k);
        e->type = attr_type(T_ENT, k);
        e->simple = true;
    } else if (!strcmp(m, "StatAvg")) {
        e->s = xprintf(c, "avg(%s%%%s)", base.s, k);
        e->type = T_REAL;
    } else { /* GetControl */
        static const char *const both[] = {
            "ksm_run", "ksm_pages_to_scan", "ksm_sleep_millisecs", "ksm_merge_across_nodes",
            "vcpu_quota", "vcpu_period",
        };
        for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++)
            if (!strcmp(k, both[i]))
                return fail(c, n, "GetControl \"%s\": %s is also a statistic, and reading it in "
                                  "the Fortran-like dialect gives the statistic", k, k);
        e->s = xprintf(c, "%s%%%s", base.s, k);
        e->type = T_ANY;
        e->simple = true;
    }
    return 0;
}

static bool is_builtin_form(const char *h)
{
    static const char *const forms[] = {
        "def", "defun", "defvar", "set", "setq", "let", "with", "if", "add", "sub", "mul", "div",
        "lt", "gt", "lte", "gte", "eq", "neq", "shl", "shr", "and", "or", "not", "min", "max",
        "null", "valid", "eval",
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        if (strcmp(h, forms[i]) == 0)
            return true;
    return false;
}

static int x_list(cvt *c, const node *n, ex *e)
{
    if (n->n == 0)
        return fail(c, n, "() is an error in the classic dialect");
    const node *h = n->kids[0];
    if (h->kind != N_SYM && h->kind != N_OP)
        return fail(c, n, "the head of a list must be a name (an error in the classic dialect)");
    if (h->kind == N_SYM && sym_dotted(h))
        return x_method(c, n, e);
    const char *name = head_name(c, n);
    if (!name)
        return fail(c, n, "unknown operator");
    if (h->kind == N_SYM && find_bound(c, name))
        return fail(c, n, "calls the variable %s", name);
    if (!strcmp(name, "def") || !strcmp(name, "defun"))
        return fail(c, n, "def inside an expression");
    if (!strcmp(name, "defvar") || !strcmp(name, "set") || !strcmp(name, "setq"))
        return fail(c, n, "an assignment used as a value");
    if (!strcmp(name, "let") || !strcmp(name, "with"))
        return fail(c, n, "(%s ...) used as a value", name);
    if (!strcmp(name, "if"))
        return x_if_value(c, n, e);
    if (!strcmp(name, "eval")) {
        if (n->n != 2)
            return fail(c, n, "{...} of several expressions used as a value");
        return xexpr(c, n->kids[1], e);
    }
    if (!strcmp(name, "add") || !strcmp(name, "sub") || !strcmp(name, "mul") ||
        !strcmp(name, "div"))
        return x_arith(c, n, name, e);
    if (!strcmp(name, "lt") || !strcmp(name, "gt") || !strcmp(name, "lte") ||
        !strcmp(name, "gte") || !strcmp(name, "eq") || !strcmp(name, "neq"))
        return x_cmp(c, n, name, e);
    if (!strcmp(name, "shl") || !strcmp(name, "shr"))
        return x_shift(c, n, name[2] == 'l', e);
    if (!strcmp(name, "and") || !strcmp(name, "or"))
        return x_andor(c, n, name[0] == 'a', false, e);
    if (!strcmp(name, "not"))
        return x_not(c, n, e);
    if (!strcmp(name, "min") || !strcmp(name, "max"))
        return x_minmax(c, n, name[1] == 'i', e);
    if (!strcmp(name, "valid"))
        return x_valid(c, n, e);
    if (!strcmp(name, "null"))
        return x_null(c, n, e);
    if (!strcmp(name, "abs")) {
        if (n->n != 2)
            return fail(c, n, "abs takes one argument");
        ex a;
        if (xval(c, n->kids[1], &a) < 0)
            return -1;
        log_to_int(c, &a);
        if (!(ty(&a) & T_NUM))
            return fail(c, n, "abs of a value that is not a number");
        memset(e, 0, sizeof(*e));
        e->s = xprintf(c, "abs(%s)", a.s);
        e->type = ty(&a) & ~T_NONE;
        e->effects = a.effects;
        e->constant = a.constant;
        return 0;
    }
    if (!strcmp(name, "debug"))
        return fail(c, n, "the value of debug used");
    cfunc *f;
    return x_call(c, n, e, true, &f);
}

static int xexpr(cvt *c, const node *n, ex *e)
{
    memset(e, 0, sizeof(*e));
    switch ((node_kind)n->kind) {
    case N_INT: return x_int(c, n, e);
    case N_REAL: return x_real(c, n, e);
    case N_STR: return x_str(c, n, e);
    case N_SYM:
    case N_DOT:
    case N_NIL: return x_sym(c, n, e);
    case N_OP: return fail(c, n, "an operator used as a value (an error in the classic dialect)");
    case N_LIST: return x_list(c, n, e);
    }
    return fail(c, n, "unexpected node");
}

static bool is_lit(const ex *e, const char *lit)
{
    return e->constant && !strcmp(e->s, lit);
}

/* (if C A B) as a condition: the truth of the chosen branch, evaluated
 * only when chosen, as the classic if does. */
static int xcond_if(cvt *c, const node *n, ex *e)
{
    ex cnd, a, b, ncnd;
    if (xcond(c, n->kids[1], &cnd) < 0 || xcond(c, n->kids[2], &a) < 0 ||
        xcond(c, n->kids[3], &b) < 0)
        return -1;
    negate_log(c, &cnd, &ncnd);
    memset(e, 0, sizeof(*e));
    e->type = T_LOG;
    e->effects = cnd.effects || a.effects || b.effects;
    e->prec = P_AND;
    const char *cs = par(c, &cnd, cnd.prec > P_AND), *ns = par(c, &ncnd, ncnd.prec > P_AND);
    if (is_lit(&b, ".false.")) {
        e->s = xprintf(c, "%s .and. %s", cs, par(c, &a, a.prec > P_AND));
    } else if (is_lit(&a, ".false.")) {
        e->s = xprintf(c, "%s .and. %s", ns, par(c, &b, b.prec > P_AND));
    } else if (is_lit(&b, ".true.")) {
        e->s = xprintf(c, "%s .or. %s", ns, par(c, &a, a.prec > P_OR));
        e->prec = P_OR;
    } else if (is_lit(&a, ".true.")) {
        e->s = xprintf(c, "%s .or. %s", cs, par(c, &b, b.prec > P_OR));
        e->prec = P_OR;
    } else if (!cnd.effects) {
        e->s = xprintf(c, "%s .and. %s .or. %s .and. %s", cs, par(c, &a, a.prec > P_AND), ns,
                       par(c, &b, b.prec > P_AND));
        e->prec = P_OR;
    } else {
        return fail(c, n, "an if used as a condition whose own condition has side effects");
    }
    return 0;
}

/* `n` as a condition: a logical. */
static int xcond(cvt *c, const node *n, ex *e)
{
    if (is_form(c, n, "if") && n->n == 4 && !find_bound(c, "if"))
        return xcond_if(c, n, e);
    if (is_form(c, n, "and") || is_form(c, n, "or")) {
        const char *h = head_name(c, n);
        if (!find_bound(c, h))
            return x_andor(c, n, h[0] == 'a', true, e);
    }
    ex v;
    if (xexpr(c, n, &v) < 0)
        return -1;
    if (ty(&v) == T_LOG && !v.nil) {
        *e = v;
        return 0;
    }
    return truth(c, n, &v, false, e);
}

/* ---- statements --------------------------------------------------------- */

/* Send the value `e` to sink `s` (not S_DISCARD). */
static int put(cvt *c, const node *at, const ex *e, const sink *s)
{
    if (e->nil) {
        if (s->kind == S_RESULT) {
            if (!s->fn->may_unset) {
                s->fn->may_unset = true;
                c->changed = true;
            }
            return 0;
        }
        return fail(c, at, "assigns nil (an absent value has no Fortran-like spelling)");
    }
    if (s->kind == S_ASSIGN) {
        var_join(c, s->var, e->type);
        emit_line(c, "%s = %s", vname(s->var), e->s);
    } else if (s->kind == S_RESULT) {
        cfunc *f = s->fn;
        if ((f->ret | e->type) != f->ret) {
            f->ret |= e->type;
            c->changed = true;
        }
        emit_line(c, "%s = %s", f->result_name ? f->result_name : fnname(f), e->s);
    }
    return 0;
}

static int put_node(cvt *c, const node *n, const sink *s)
{
    ex e;
    if (xexpr(c, n, &e) < 0)
        return -1;
    return put(c, n, &e, s);
}

/* The current value of variable `v` to sink `s`. */
static int put_var(cvt *c, const node *at, cvar *v, const sink *s)
{
    if (s->kind == S_DISCARD)
        return 0;
    ex e = { .s = v->alias ? v->alias_text : vname(v), .type = read_type(v), .simple = true };
    return put(c, at, &e, s);
}

static bool inert(const node *n)
{
    return n->kind != N_LIST;
}

static bool merge_safe(const node *n)
{
    return n->kind != N_LIST && !is_nil(n) && n->kind != N_OP;
}

/* A literal-only expression (a valid initializer). */
static bool is_const_node(cvt *c, const node *n)
{
    if (n->kind == N_INT || n->kind == N_REAL || n->kind == N_STR)
        return true;
    if (n->kind != N_LIST || n->n != 3)
        return false;
    const char *h = head_name(c, n);
    if (!h || n->kids[0]->kind != N_OP ||
        (strcmp(h, "add") && strcmp(h, "sub") && strcmp(h, "mul") && strcmp(h, "div")))
        return false;
    return is_const_node(c, n->kids[1]) && is_const_node(c, n->kids[2]);
}

/* Whether the binding `b` was made in a branch of an if that the
 * translator is now in another branch of. */
static bool sibling(const cvt *c, const cbind *b)
{
    for (size_t i = 0; i < c->nifs; i++)
        if (c->ifs[i].n == b->if_node && c->ifs[i].branch != b->branch)
            return true;
    return false;
}

static void if_push(cvt *c, const node *n, int branch)
{
    if (grow(c, (void **)&c->ifs, &c->capifs, c->nifs, sizeof(ifent))) {
        c->ifs[c->nifs].n = n;
        c->ifs[c->nifs].branch = branch;
        c->nifs++;
    }
}

/* Bind a new local `v` to the value `val`: an alias when the value is an
 * entity or record that a plain name reaches, else an assignment. */
static int bind_value(cvt *c, cvar *v, const node *val)
{
    if (val->kind == N_SYM && !is_nil(val)) {
        ex e;
        if (xexpr(c, val, &e) < 0)
            return -1;
        unsigned t = ty(&e);
        if (t != T_ANY && !(t & T_NONE) && (t & ~(T_ENT | T_REC | T_LIM | T_GUESTS)) == 0) {
            v->alias = true;
            v->alias_text = e.s;
            var_join(c, v, t);
            v->nbind++;
            return 0;
        }
    }
    v->alias = false;
    v->nbind++;
    sink s = { .kind = S_ASSIGN, .var = v };
    return stmt(c, val, &s);
}

static int st_defvar_global(cvt *c, const node *n, const char *name, const sink *s)
{
    cvar *g = global_get(c, name);
    if (!g)
        return -1;
    const node *val = n->kids[2];
    bool here = c->cur == 0 && c->final;
    if (g->def_node != n) {
        if (!g->def_uncond)
            return fail(c, n, "%s is defined conditionally elsewhere; whether this defvar takes "
                              "effect depends on it", name);
        ex e;
        if (xexpr(c, val, &e) < 0)
            return -1;
        if (e.effects)
            return fail(c, n, "a defvar that does nothing (%s is already defined) but whose value "
                              "has side effects", name);
        if (here)
            emit_line(c, "! (defvar %s ...) does nothing here: %s is already defined", name, name);
        return put_var(c, n, g, s);
    }
    bool straight = c->cond_depth == 0;
    if (here && !g->declared && !g->hoist && straight) {
        mark_rename(c, g->rename_msg, n->line);
        const char *dt = decl_type(g->type);
        if (!dt) {
            /* Nothing known of it: the value's own problem is the reason. */
            cbuf scratch = { 0 }, *saved = c->out;
            sink as = { .kind = S_ASSIGN, .var = g };
            c->out = &scratch;
            int r = stmt(c, val, &as);
            c->out = saved;
            sb_free(&scratch);
            if (r < 0)
                return -1;
            return fail(c, n, "the global %s gets values of several types or of a type that "
                              "cannot be declared", name);
        }
        if (g->const_init) {
            ex e;
            if (xexpr(c, val, &e) < 0)
                return -1;
            var_join(c, g, e.type);
            emit_line(c, "%s :: %s = %s", dt, vname(g), e.s);
            g->declared = true;
            return put_var(c, n, g, s);
        }
        emit_line(c, "%s :: %s", dt, vname(g));
        g->declared = true;
    } else if (!straight) {
        pend(c, g);
    }
    if (g->hoist && g->const_init && straight) {
        ex e;
        if (xexpr(c, val, &e) < 0)
            return -1;
        var_join(c, g, e.type);
        return put_var(c, n, g, s);
    }
    g->nbind++;
    sink as = { .kind = S_ASSIGN, .var = g };
    if (stmt(c, val, &as) < 0)
        return -1;
    return put_var(c, n, g, s);
}

/* (defvar NAME VALUE) */
static int st_defvar(cvt *c, const node *n, const sink *s)
{
    if (n->n != 3)
        return fail(c, n, "(defvar NAME VALUE) takes two arguments (an error in the classic "
                          "dialect)");
    const node *nm = n->kids[1];
    if (nm->kind != N_SYM || is_nil(nm))
        return fail(c, n, "defvar of something that is not a name");
    if (sym_dotted(nm))
        return fail(c, n, "defvar of a dotted name (the classic dialect can never read it back)");
    const char *name = sym_name(c, nm);
    if (c->proc < 0 && !c->scope)
        return st_defvar_global(c, n, name, s);
    cbind *b = NULL;
    for (size_t i = c->nbinds; i-- > 0;)
        if (c->binds[i].v->owner == c->scope && strcmp(c->binds[i].v->cname, name) == 0) {
            b = &c->binds[i];
            break;
        }
    if (b) {
        if (!b->if_node) {
            ex e;
            if (xexpr(c, n->kids[2], &e) < 0)
                return -1;
            if (e.effects)
                return fail(c, n, "a defvar that does nothing (%s is already defined in this "
                                  "scope) but whose value has side effects", name);
            emit_line(c, "! (defvar %s ...) does nothing here: %s is already defined", name, name);
            return put_var(c, n, b->v, s);
        }
        if (!sibling(c, b))
            return fail(c, n, "a second defvar of %s after a conditional one", name);
        cvar *v = b->v;
        if (v->alias)
            return fail(c, n, "%s is defined twice and stands for an entity", name);
        v->nbind++;
        sink as = { .kind = S_ASSIGN, .var = v };
        if (stmt(c, n->kids[2], &as) < 0)
            return -1;
        return put_var(c, n, v, s);
    }
    cvar *v = var_get(c, name, c->scope, c->proc, V_LOCAL);
    if (!v)
        return -1;
    if (!v->nbind && !v->alias_text)
        v->def_node = n;
    if (bind_value(c, v, n->kids[2]) < 0)
        return -1;
    bind_push(c, v);
    if (c->proc < 0 && !v->alias)
        pend(c, v);
    return put_var(c, n, v, s);
}

/* (set NAME VALUE) */
static int st_set(cvt *c, const node *n, const sink *s)
{
    if (n->n != 3)
        return fail(c, n, "(set NAME VALUE) takes two arguments (an error in the classic dialect)");
    const node *nm = n->kids[1];
    if (nm->kind != N_SYM || is_nil(nm))
        return fail(c, n, "set of something that is not a name");
    if (sym_dotted(nm))
        return fail(c, n, "sets %.*s: attributes are read-only (an error in the classic dialect)",
                    (int)nm->len, nm->text);
    const char *name = sym_name(c, nm);
    if (!find_bound(c, name) && (!strcmp(name, "Host") || !strcmp(name, "Guests")))
        return fail(c, n, "sets %s", name);
    cvar *v = lookup(c, n, name, true);
    if (!v)
        return -1;
    if (v->alias)
        return fail(c, n, "sets %s, which stands for an entity or record", name);
    if (v->kind == V_LOOP)
        return fail(c, n, "sets the loop variable %s (not allowed in the Fortran-like dialect)",
                    name);
    if (v->kind == V_EXTRA)
        return fail(c, n, "sets %s, a variable of the calling code (the Fortran-like dialect "
                          "passes arguments by value)", name);
    if (v->kind == V_GLOBAL)
        mark_effects(c);
    v->nbind++;
    sink as = { .kind = S_ASSIGN, .var = v };
    if (stmt(c, n->kids[2], &as) < 0)
        return -1;
    return put_var(c, n, v, s);
}

/* Render branch `n` of if-node `ifn` into buffer `b`, one level deeper. */
static void render_branch(cvt *c, const node *ifn, int branch, const node *n, const sink *s,
                          cbuf *b)
{
    cbuf *saved = c->out;
    c->out = b;
    c->indent++;
    c->cond_depth++;
    if_push(c, ifn, branch);
    stmt_guarded(c, n, s);
    c->nifs--;
    c->cond_depth--;
    c->indent--;
    c->out = saved;
    if (b->oom)
        c->oom = true;
}

/* A branch that is a single simple statement: one line, not a comment,
 * not a nested if or do. */
static const char *single_line(const cbuf *b)
{
    if (!b->len || memchr(b->s, '\n', b->len - 1))
        return NULL;
    const char *p = b->s;
    while (*p == ' ')
        p++;
    if (*p == '!' || !strncmp(p, "if ", 3) || !strncmp(p, "do ", 3))
        return NULL;
    return p;
}

/* (if COND THEN ELSE) as a statement, with `else if` chains. */
static int st_if_chain(cvt *c, const node *n, const sink *s, bool elseif, bool negate)
{
    if (n->n != 4)
        return fail(c, n, "(if COND THEN ELSE) takes three arguments (an error in the classic "
                          "dialect)");
    ex cnd;
    if (negate) {
        ex v;
        if (is_form(c, n->kids[1], "and") || is_form(c, n->kids[1], "or")) {
            if (xcond(c, n->kids[1], &v) < 0)
                return -1;
            negate_log(c, &v, &cnd);
        } else {
            if (xexpr(c, n->kids[1], &v) < 0 || truth(c, n->kids[1], &v, true, &cnd) < 0)
                return -1;
        }
    } else if (xcond(c, n->kids[1], &cnd) < 0) {
        return -1;
    }
    const node *tn = n->kids[negate ? 3 : 2], *en = n->kids[negate ? 2 : 3];
    int tbr = negate ? 2 : 1, ebr = negate ? 1 : 2;
    cbuf tb = { 0 }, eb = { 0 };
    render_branch(c, n, tbr, tn, s, &tb);
    bool else_inert = s->kind == S_DISCARD && inert(en);
    bool chain = !else_inert && is_form(c, en, "if") && en->n == 4 &&
                 !find_bound(c, "if");
    const char *one = NULL;
    if (!elseif && else_inert && (one = single_line(&tb)) != NULL && !strchr(one, '!')) {
        emit_line(c, "if (%s) %.*s", cnd.s, (int)(strlen(one) - 1), one);
        sb_free(&tb);
        return 0;
    }
    emit_line(c, "%sif (%s) then", elseif ? "else " : "", cnd.s);
    sb_putn(c->out, tb.s ? tb.s : "", tb.len);
    sb_free(&tb);
    if (chain) {
        size_t mark = c->out->len;
        c->cond_depth++;
        if_push(c, n, ebr);
        int r = st_if_chain(c, en, s, true, false);
        c->nifs--;
        c->cond_depth--;
        if (r < 0) {
            /* Keep the refusal inside the else branch. */
            sb_truncate(c->out, mark);
            emit_line(c, "else");
            c->indent++;
            emit_refusal(c, en);
            c->indent--;
            c->failed = false;
        }
    } else if (!else_inert) {
        render_branch(c, n, ebr, en, s, &eb);
        emit_line(c, "else");
        sb_putn(c->out, eb.s ? eb.s : "", eb.len);
    }
    sb_free(&eb);
    if (!elseif)
        emit_line(c, "end if");
    return 0;
}

static int st_if(cvt *c, const node *n, const sink *s)
{
    if (n->n != 4)
        return fail(c, n, "(if COND THEN ELSE) takes three arguments (an error in the classic "
                          "dialect)");
    const node *tn = n->kids[2], *en = n->kids[3];
    if (s->kind != S_DISCARD && merge_safe(tn) && merge_safe(en)) {
        ex e;
        if (x_if_value(c, n, &e) < 0)
            return -1;
        return put(c, n, &e, s);
    }
    if (s->kind == S_DISCARD && inert(tn) && inert(en)) {
        ex cnd;
        if (xcond(c, n->kids[1], &cnd) < 0)
            return -1;
        if (cnd.effects)
            return fail(c, n, "an if whose condition has side effects and whose branches do "
                              "nothing");
        return 0;
    }
    bool negate = s->kind == S_DISCARD && inert(tn);
    return st_if_chain(c, n, s, false, negate);
}

/* The elements from..n-1 of list `n` in order; the last one's value goes
 * to `s`. */
static int st_seq(cvt *c, const node *n, size_t from, const sink *s)
{
    if (n->n <= from)
        return fail(c, n, "{} is an error in the classic dialect");
    sink discard = { .kind = S_DISCARD };
    for (size_t i = from; i < n->n; i++)
        stmt_guarded(c, n->kids[i], i + 1 == n->n ? s : &discard);
    return 0;
}

/* (let ((NAME VALUE) ...) BODY ...) */
static int st_let(cvt *c, const node *n, const sink *s)
{
    if (n->n < 3)
        return fail(c, n, "(let BINDINGS BODY) needs a body (an error in the classic dialect)");
    const node *bl = n->kids[1];
    if (bl->kind != N_LIST || bl->bracket == '{')
        return fail(c, n, "the bindings of let must be a list (an error in the classic dialect)");
    const node *saved_scope = c->scope;
    size_t mark = c->nbinds, ifmark = c->nifs;
    int r = 0;
    c->scope = n;
    c->nifs = 0;
    for (size_t i = 0; i < bl->n && r == 0; i++) {
        const node *b = bl->kids[i];
        if (b->kind != N_LIST || b->n != 2 || b->kids[0]->kind != N_SYM ||
            sym_dotted(b->kids[0]) || is_nil(b->kids[0])) {
            r = fail(c, b, "a let binding must be (NAME VALUE)");
            break;
        }
        const char *name = sym_name(c, b->kids[0]);
        bool dup = false;
        for (size_t k = mark; k < c->nbinds; k++)
            if (!strcmp(c->binds[k].v->cname, name))
                dup = true;
        if (dup) {
            ex e;
            r = xexpr(c, b->kids[1], &e);
            if (r == 0 && e.effects)
                r = fail(c, b, "a repeated let binding whose value has side effects");
            continue;
        }
        cvar *v = var_get(c, name, n, c->proc, V_LOCAL);
        if (!v) {
            r = -1;
            break;
        }
        r = bind_value(c, v, b->kids[1]);
        if (r == 0) {
            bind_push(c, v);
            if (c->proc < 0 && !v->alias)
                pend(c, v);
        }
    }
    if (r == 0)
        r = st_seq(c, n, 2, s);
    c->nbinds = mark;
    c->nifs = ifmark;
    c->scope = saved_scope;
    return r;
}

/* (with Guests VAR BODY) / (with X.io_tune VAR BODY) as a do loop. */
static int st_with(cvt *c, const node *n, const sink *s)
{
    if (s->kind != S_DISCARD)
        return fail(c, n, "uses the list that with returns (there are no list values in the "
                          "Fortran-like dialect)");
    if (n->n != 4)
        return fail(c, n, "(with LIST NAME BODY) takes three arguments (an error in the classic "
                          "dialect)");
    const node *it = n->kids[1], *vn = n->kids[2];
    if (it->kind != N_SYM || vn->kind != N_SYM || sym_dotted(vn) || is_nil(vn))
        return fail(c, n, "malformed with (an error in the classic dialect)");
    ex ie;
    unsigned elem;
    const char *itname = sym_name(c, it);
    if (!sym_dotted(it) && !strcmp(itname, "Guests") && !find_bound(c, "Guests")) {
        ie.s = "guests";
        elem = T_ENT;
    } else if (sym_dotted(it)) {
        if (x_sym(c, it, &ie) < 0)
            return -1;
        const char *a = strchr(itname, '.') + 1;
        if (strncmp(a, "io_tune", 7) || (a[7] && a[7] != '.'))
            return fail(c, n, "with over %s: only Guests and io_tune lists convert", itname);
        elem = T_REC;
    } else {
        return fail(c, n, "with over %s: only Guests and io_tune lists convert", itname);
    }
    cvar *lv = var_get(c, sym_name(c, vn), n, c->proc, V_LOOP);
    if (!lv)
        return -1;
    var_join(c, lv, elem);
    emit_line(c, "do %s in %s", vname(lv), ie.s);
    const node *saved_scope = c->scope;
    size_t mark = c->nbinds, ifmark = c->nifs;
    c->scope = n;
    c->nifs = 0;
    bind_push(c, lv);
    c->cond_depth++;
    c->indent++;
    sink discard = { .kind = S_DISCARD };
    stmt_guarded(c, n->kids[3], &discard);
    c->indent--;
    c->cond_depth--;
    c->nbinds = mark;
    c->nifs = ifmark;
    c->scope = saved_scope;
    emit_line(c, "end do");
    return 0;
}

/* (debug A B ...) as print *. */
static int st_debug(cvt *c, const node *n, const sink *s)
{
    if (n->n < 2)
        return fail(c, n, "(debug) fails in the classic dialect");
    if (s->kind != S_DISCARD)
        return fail(c, n, "uses the value of debug");
    cbuf b = { 0 };
    for (size_t i = 1; i < n->n; i++) {
        ex a;
        if (xexpr(c, n->kids[i], &a) < 0) {
            sb_free(&b);
            return -1;
        }
        sb_printf(&b, ", %s", a.nil ? "\"None\"" : a.s);
    }
    emit_line(c, "print *%s", b.s ? b.s : "");
    if (b.oom)
        c->oom = true;
    sb_free(&b);
    return 0;
}

/* Entity and record methods as statements: Control, SetVar and the six
 * I/O-tune setters; the reading methods go through x_method. */
static int st_method(cvt *c, const node *n, const sink *s)
{
    ex base;
    const char *meth;
    if (x_dotparts(c, n->kids[0], &base, &meth) < 0)
        return -1;
    int id = method_id(meth);
    bool is_setter = id >= 0 && !strncmp(method_names[id], "set", 3);
    if (id < 0 || (strcmp(meth, "Control") && strcmp(meth, "SetVar") && !is_setter)) {
        ex e;
        if (x_method(c, n, &e) < 0)
            return -1;
        return s->kind == S_DISCARD ? 0 : put(c, n, &e, s);
    }
    if (s->kind == S_ASSIGN)
        return fail(c, n, "uses the value of %s, which is nil (no Fortran-like spelling)", meth);
    size_t nargs = n->n - 1;
    ex v;
    if (is_setter) {
        if (nargs != 1)
            return fail(c, n, "%s takes one argument", meth);
        if (!(ty(&base) & T_REC))
            return fail(c, n, "%s on a value that is not an I/O-tune record", meth);
        if (xexpr(c, n->kids[1], &v) < 0)
            return -1;
        if (v.nil)
            return fail(c, n, "%s nil clears the limit; an absent value has no Fortran-like "
                              "spelling", meth);
        emit_line(c, "%s%%current%%%s = %s", base.s, ast_io_limit_names[id - 7], v.s);
    } else {
        if (nargs != 2)
            return fail(c, n, "%s takes two arguments", meth);
        if (!(ty(&base) & T_ENT))
            return fail(c, n, "%s on a value that is not an entity", meth);
        if (xexpr(c, n->kids[2], &v) < 0)
            return -1;
        if (!strcmp(meth, "Control")) {
            const node *key = n->kids[1];
            if (key->kind != N_STR)
                return fail(c, n, "Control with a name that is not a string literal");
            const char *k = xstrndup(c, key->text, key->len);
            if (!is_component(k))
                return fail(c, n, "Control \"%s\": not a Fortran-like component name", k);
            if (v.nil)
                return fail(c, n, "Control \"%s\" nil: an absent value has no Fortran-like "
                                  "spelling", k);
            emit_line(c, "%s%%%s = %s", base.s, k, v.s);
        } else {
            ex k;
            if (xval(c, n->kids[1], &k) < 0)
                return -1;
            if (v.nil)
                return fail(c, n, "SetVar of nil: an absent value has no Fortran-like spelling");
            emit_line(c, "call setvar(%s, %s, %s)", base.s, k.s, v.s);
        }
    }
    mark_effects(c);
    if (s->kind == S_RESULT && !s->fn->may_unset) {
        s->fn->may_unset = true;
        c->changed = true;
    }
    return 0;
}

/* A call of a user function as a statement or into a sink. */
static int st_call(cvt *c, const node *n, const sink *s)
{
    ex e;
    cfunc *f;
    if (s->kind != S_DISCARD) {
        if (x_call(c, n, &e, true, &f) < 0)
            return -1;
        if (e.effects)
            mark_effects(c);
        return put(c, n, &e, s);
    }
    if (x_call(c, n, &e, false, &f) < 0)
        return -1;
    if (e.effects)
        mark_effects(c);
    if (!f || !is_function(f)) {
        emit_line(c, "call %s", e.s);
        return 0;
    }
    /* A function whose value this call drops: keep it in a variable. */
    const node *owner = c->proc >= 0 ? c->funcs[c->proc]->def : f->def;
    cvar *t = var_get(c, xprintf(c, "ignored_%s", f->cname), owner, c->proc, V_TEMP);
    if (!t)
        return -1;
    var_join(c, t, f->ret);
    if (c->final && !decl_type(t->type))
        return fail(c, n, "drops the value of %s, whose type cannot be declared", f->cname);
    if (c->proc < 0)
        pend(c, t);
    emit_line(c, "%s = %s", vname(t), e.s);
    return 0;
}

static int stmt(cvt *c, const node *n, const sink *s)
{
    flush_comments(c, n->line);
    if (n->kind != N_LIST) {
        if (s->kind == S_DISCARD)
            return 0;
        return put_node(c, n, s);
    }
    if (n->n == 0)
        return fail(c, n, "() is an error in the classic dialect");
    const node *h = n->kids[0];
    if (h->kind == N_SYM && sym_dotted(h))
        return st_method(c, n, s);
    const char *name = head_name(c, n);
    if (name && h->kind == N_SYM && find_bound(c, name))
        return fail(c, n, "calls the variable %s", name);
    if (name) {
        if (!strcmp(name, "def") || !strcmp(name, "defun"))
            return fail(c, n, "def inside another form (the Fortran-like dialect has no nested "
                              "procedures)");
        if (!strcmp(name, "defvar"))
            return st_defvar(c, n, s);
        if (!strcmp(name, "set") || !strcmp(name, "setq"))
            return st_set(c, n, s);
        if (!strcmp(name, "if"))
            return st_if(c, n, s);
        if (!strcmp(name, "eval"))
            return st_seq(c, n, 1, s);
        if (!strcmp(name, "let"))
            return st_let(c, n, s);
        if (!strcmp(name, "with"))
            return st_with(c, n, s);
        if (!strcmp(name, "debug"))
            return st_debug(c, n, s);
        if (h->kind == N_SYM && !is_builtin_form(name) && strcmp(name, "abs"))
            return st_call(c, n, s);
    }
    if (s->kind == S_DISCARD) {
        ex e;
        if (xexpr(c, n, &e) < 0)
            return -1;
        if (e.effects)
            return fail(c, n, "an expression with side effects whose value is dropped");
        return 0;
    }
    return put_node(c, n, s);
}

/* A statement; if it cannot be converted, its classic text replaces it as
 * a comment and the report names it. */
static void stmt_guarded(cvt *c, const node *n, const sink *s)
{
    size_t mark = c->out->len, cmark = c->next_comment;
    c->failed = false;
    if (stmt(c, n, s) < 0) {
        sb_truncate(c->out, mark);
        c->next_comment = cmark;
        flush_comments(c, n->line);
        emit_refusal(c, n);
    }
    c->failed = false;
}

/* ---- procedures --------------------------------------------------------- */

static uint32_t var_line(const cvar *v)
{
    if (v->def_node)
        return v->def_node->line;
    if (v->owner)
        return v->owner->line;
    return v->first_ref;
}

/* Declarations of the locals of procedure `proc`, grouped by type. */
static void emit_local_decls(cvt *c, int proc)
{
    static const char *const order[] = { "integer", "real", "logical", "character" };
    for (size_t k = 0; k < 4; k++) {
        cbuf b = { 0 };
        for (size_t i = 0; i < c->nvars; i++) {
            cvar *v = c->vars[i];
            if (v->proc != proc || (v->kind != V_LOCAL && v->kind != V_TEMP) || v->alias ||
                v->seen != c->pass)
                continue;
            const char *dt = decl_type(v->type);
            if (!dt && k == 0) {
                refuse_at(c, var_line(v), "the local %s gets values of several types or of a "
                                          "type that cannot be declared", v->cname);
                emit_line(c, "! cannot convert (line %u): the local %s gets values of several "
                             "types or of a type that cannot be declared", var_line(v), vname(v));
            }
            if (dt && !strcmp(dt, order[k]))
                sb_printf(&b, "%s%s", b.len ? ", " : "", vname(v));
        }
        if (b.len)
            emit_line(c, "%s :: %s", order[k], b.s);
        if (b.oom)
            c->oom = true;
        sb_free(&b);
    }
}

/* (def NAME (PARAMS) BODY) at file level: a function when some call uses
 * its value, else a subroutine. */
static void st_def(cvt *c, const node *n)
{
    int idx = -1;
    for (size_t i = 0; i < c->nfuncs; i++)
        if (c->funcs[i]->def == n)
            idx = (int)i;
    c->failed = false;
    flush_comments(c, n->line);
    if (idx < 0) {
        fail(c, n, "malformed def (an error in the classic dialect)");
        emit_refusal(c, n);
        c->failed = false;
        return;
    }
    cfunc *f = c->funcs[idx];
    for (size_t i = 0; i < f->nparams; i++)
        for (size_t j = 0; j < i; j++)
            if (f->params[i] == f->params[j]) {
                fail(c, n, "%s has two parameters named %s", f->cname, f->params[i]->cname);
                emit_refusal(c, n);
                c->failed = false;
                return;
            }
    if (f->replaced)
        note(c, n->line, "%s is defined again later in the policy set; the classic dialect "
                         "uses the later definition", f->cname);
    cbuf *saved_out = c->out;
    int saved_indent = c->indent;
    c->proc = idx;
    c->scope = n;
    c->nbinds = 0;
    c->nifs = 0;
    c->cond_depth = 0;
    for (size_t i = 0; i < f->nparams; i++)
        bind_push(c, f->params[i]);
    cbuf body = { 0 };
    c->out = &body;
    c->indent = 1;
    bool fn = is_function(f);
    sink s = { .kind = fn ? S_RESULT : S_DISCARD, .fn = f };
    stmt_guarded(c, n->kids[3], &s);
    c->out = saved_out;
    c->indent = saved_indent;
    c->proc = -1;
    c->scope = NULL;
    c->nbinds = 0;
    if (c->final && c->cur == 0) {
        mark_rename(c, f->rename_msg, n->line);
        cbuf args = { 0 };
        for (size_t i = 0; i < f->nparams; i++)
            sb_printf(&args, "%s%s", i ? ", " : "", vname(f->params[i]));
        for (size_t k = 0; k < f->nfree; k++)
            if (f->free[k].extra && f->free[k].xvar)
                sb_printf(&args, "%s%s", args.len ? ", " : "", vname(f->free[k].xvar));
        if (fn) {
            const char *dt = decl_type(f->ret);
            emit_line(c, "%s%sfunction %s(%s)%s%s%s", dt ? dt : "", dt ? " " : "", fnname(f),
                      args.s ? args.s : "", f->result_name ? " result(" : "",
                      f->result_name ? f->result_name : "", f->result_name ? ")" : "");
        } else {
            emit_line(c, "subroutine %s(%s)", fnname(f), args.s ? args.s : "");
        }
        if (args.oom)
            c->oom = true;
        sb_free(&args);
        c->indent++;
        emit_local_decls(c, idx);
        c->indent--;
        sb_putn(c->out, body.s ? body.s : "", body.len);
        emit_line(c, "end %s", fn ? "function" : "subroutine");
    }
    if (body.oom)
        c->oom = true;
    sb_free(&body);
}

/* ---- the whole program -------------------------------------------------- */

static void record_func(cvt *c, int fi, const node *n)
{
    if (n->n != 4 || n->kids[1]->kind != N_SYM || sym_dotted(n->kids[1]) ||
        n->kids[2]->kind != N_LIST || n->kids[2]->bracket == '{')
        return;
    const node *pl = n->kids[2];
    for (size_t i = 0; i < pl->n; i++)
        if (pl->kids[i]->kind != N_SYM || sym_dotted(pl->kids[i]) || is_nil(pl->kids[i]))
            return;
    const char *name = sym_name(c, n->kids[1]);
    cfunc *old = func_find(c, name);
    if (old)
        old->replaced = true;
    if (!grow(c, (void **)&c->funcs, &c->capfuncs, c->nfuncs, sizeof(cfunc *)))
        return;
    cfunc *f = xalloc(c, sizeof(*f));
    if (!f)
        return;
    f->cname = name;
    f->def = n;
    f->file = fi;
    f->nparams = pl->n;
    f->params = xalloc(c, (pl->n ? pl->n : 1) * sizeof(cvar *));
    if (!f->params)
        return;
    int idx = (int)c->nfuncs;
    for (size_t i = 0; i < pl->n; i++)
        if (!(f->params[i] = var_get(c, sym_name(c, pl->kids[i]), n, idx, V_DUMMY)))
            return;
    c->funcs[c->nfuncs++] = f;
}

/* Find the globals (top-level defvars, also inside if and {...}) and the
 * top-level defs of file `fi`. */
static void prescan(cvt *c, int fi, const node *n, bool cond, bool top)
{
    if (n->kind != N_LIST || n->n == 0)
        return;
    const node *h = n->kids[0];
    const char *name = head_name(c, n);
    bool method = h->kind == N_SYM && sym_dotted(h);
    if (!name || (!method && h->kind == N_SYM && !is_builtin_form(name)))
        return;
    if (!method && (!strcmp(name, "def") || !strcmp(name, "defun"))) {
        if (top)
            record_func(c, fi, n);
        return;
    }
    if (!method && (!strcmp(name, "let") || !strcmp(name, "with")))
        return;
    if (!method && !strcmp(name, "defvar") && n->n == 3 && n->kids[1]->kind == N_SYM &&
        !sym_dotted(n->kids[1]) && !is_nil(n->kids[1])) {
        cvar *g = global_get(c, sym_name(c, n->kids[1]));
        if (g && !g->def_node) {
            g->def_node = n;
            g->def_order = c->files[fi].order;
            g->def_uncond = !cond;
            g->const_init = !cond && is_const_node(c, n->kids[2]);
        }
    }
    bool is_if = !method && !strcmp(name, "if");
    for (size_t i = 1; i < n->n; i++)
        prescan(c, fi, n->kids[i], cond || (is_if && i >= 2), false);
}

/* Whether `name` is already the Fortran-like name of something that a new
 * name in procedure `proc` (-1: file level) must not collide with. */
static bool name_taken(cvt *c, const char *name, int proc, const cfunc *sf, const cvar *me)
{
    for (size_t i = 0; i < c->nfuncs; i++)
        if (c->funcs[i] != sf && c->funcs[i]->fname &&
            !strcmp(c->funcs[i]->fname, name))
            return true;
    for (size_t i = 0; i < c->nvars; i++) {
        const cvar *v = c->vars[i];
        if (v == me || !v->fname || strcmp(v->fname, name))
            continue;
        if (proc < 0) {
            /* File level: globals, and the block variables of the same file
             * (loop variables may repeat: each is local to its loop). */
            if (v->kind == V_GLOBAL) {
                if (v->def_node || v->seen == c->pass)
                    return true;
                continue;
            }
            if (v->proc < 0 && me && me->kind != V_GLOBAL && v->file == me->file &&
                !(v->kind == V_LOOP && me->kind == V_LOOP))
                return true;
            if (v->proc < 0 && (!me || me->kind == V_GLOBAL))
                return true;
        } else if (v->proc == proc) {
            return true;
        }
    }
    if (proc >= 0) {
        const cfunc *f = c->funcs[proc];
        if (f->result_name && !strcmp(f->result_name, name))
            return true;
        for (size_t k = 0; k < f->nfree; k++)
            if (!f->free[k].extra && !strcmp(f->free[k].name, name))
                return true;
    }
    return false;
}

static const char *unique_name(cvt *c, const char *base, int proc, const cfunc *sf,
                               const cvar *sv)
{
    if (!name_taken(c, base, proc, sf, sv))
        return base;
    for (int k = 2;; k++) {
        const char *cand = xprintf(c, "%.58s_%d", base, k);
        if (!name_taken(c, cand, proc, sf, sv) || c->oom)
            return cand;
    }
}

/* Give every function and variable its Fortran-like name, and report the
 * names that had to change. */
static void assign_names(cvt *c)
{
    for (size_t i = 0; i < c->nfuncs; i++) {
        cfunc *f = c->funcs[i];
        bool ok = is_fortran_name(f->cname);
        f->fname = unique_name(c, ok ? f->cname : sanitize(c, f->cname), -1, f, NULL);
        if (f->file == 0 && strcmp(f->fname, f->cname)) {
            f->rename_msg = xprintf(c, "%s is not a Fortran-like name (or collides); renamed %s, "
                                       "so other policies that call %s will not find it",
                                    f->cname, f->fname, f->cname);
            refuse_at(c, f->def->line, "%s", f->rename_msg);
        }
    }
    for (size_t i = 0; i < c->nvars; i++) {
        cvar *v = c->vars[i];
        if (v->kind != V_GLOBAL)
            continue;
        bool ok = is_fortran_name(v->cname);
        v->fname = unique_name(c, ok ? v->cname : sanitize(c, v->cname), -1, NULL, v);
        if (strcmp(v->fname, v->cname) && (v->def_node || v->seen == c->pass)) {
            bool mine = v->def_node && v->def_order == c->files[0].order;
            uint32_t line = mine ? v->def_node->line : v->first_ref;
            if (line) {
                v->rename_msg = xprintf(c, "the global %s is not a Fortran-like name (or "
                                           "collides); renamed %s, which other policies will not "
                                           "see", v->cname, v->fname);
                refuse_at(c, line, "%s", v->rename_msg);
                if (!mine)
                    v->rename_line = line;
            }
        }
    }
    for (size_t i = 0; i < c->nvars; i++) {
        cvar *v = c->vars[i];
        if (v->kind == V_GLOBAL || v->proc >= 0)
            continue;
        v->fname = unique_name(c, is_fortran_name(v->cname) ? v->cname : sanitize(c, v->cname),
                               -1, NULL, v);
    }
    for (size_t p = 0; p < c->nfuncs; p++) {
        cfunc *f = c->funcs[p];
        static const int kinds[] = { V_DUMMY, V_EXTRA, V_LOOP, V_LOCAL, V_TEMP };
        if (f->recursive && is_function(f))
            f->result_name = unique_name(c, "res", (int)p, NULL, NULL);
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
            for (size_t i = 0; i < c->nvars; i++) {
                cvar *v = c->vars[i];
                if (v->proc != (int)p || v->kind != kinds[k])
                    continue;
                bool ok = is_fortran_name(v->cname);
                v->fname = unique_name(c, ok ? v->cname : sanitize(c, v->cname), (int)p, NULL, v);
                if (!ok && f->file == 0)
                    note(c, var_line(v), "%s is not a Fortran-like name; renamed %s", v->cname,
                         v->fname);
            }
    }
}

/* File-level comments and blank lines before `line`. */
static void flush_top(cvt *c, uint32_t *prev, uint32_t line)
{
    while (c->next_comment < c->ncomments && c->comments[c->next_comment].line < line) {
        const ccomment *k = &c->comments[c->next_comment++];
        if (*prev && blank_between(c, *prev, k->line))
            sb_puts(c->out, "\n");
        sb_puts(c->out, "!");
        sb_putn(c->out, k->text, k->len);
        sb_puts(c->out, "\n");
        *prev = k->line;
    }
    if (*prev && line != UINT32_MAX && blank_between(c, *prev, line))
        sb_puts(c->out, "\n");
}

static void emit_pending(cvt *c)
{
    for (size_t i = 0; i < c->npending; i++) {
        cvar *v = c->pending[i];
        if (v->declared)
            continue;
        v->declared = true;
        const char *dt = decl_type(v->type);
        if (!dt) {
            refuse_at(c, var_line(v), "%s gets values of several types or of a type that cannot "
                                      "be declared", v->cname);
            emit_line(c, "! cannot convert (line %u): %s gets values of several types or of a "
                         "type that cannot be declared", var_line(v), vname(v));
            continue;
        }
        mark_rename(c, v->rename_msg, var_line(v));
        emit_line(c, "%s :: %s", dt, vname(v));
    }
    c->npending = 0;
}

static void translate_file(cvt *c, int fi)
{
    const cfile *f = &c->files[fi];
    bool out = c->final && fi == 0;
    uint32_t prev = 0;
    c->cur = fi;
    c->proc = -1;
    c->scope = NULL;
    c->nbinds = 0;
    c->nifs = 0;
    c->cond_depth = 0;
    c->indent = 0;
    c->npending = 0;
    sink discard = { .kind = S_DISCARD };
    for (size_t i = 0; i < f->ntop; i++) {
        const node *n = f->top[i];
        if (out)
            flush_top(c, &prev, n->line);
        if (is_form(c, n, "def")) {
            st_def(c, n);
        } else {
            cbuf tmp = { 0 };
            cbuf *saved = c->out;
            c->out = &tmp;
            stmt_guarded(c, n, &discard);
            c->out = saved;
            if (tmp.oom)
                c->oom = true;
            if (out)
                emit_pending(c);
            sb_putn(c->out, tmp.s ? tmp.s : "", tmp.len);
            sb_free(&tmp);
        }
        if (out) {
            size_t e = node_end(f, n);
            prev = line_of(c, e ? e - 1 : 0);
        }
    }
    if (out)
        flush_top(c, &prev, UINT32_MAX);
}

/* The comments of file 0: the '#' runs between its tokens. */
static int collect_comments(cvt *c)
{
    const cfile *f = &c->files[0];
    lexc lx;
    ctok t;
    lang_error err;
    lexc_init(&lx, f->src, f->len);
    size_t prev = 0;
    for (;;) {
        if (lexc_next(&lx, &t, &err) < 0)
            return -EBADMSG;
        size_t start = t.kind == CT_EOF ? f->len : (size_t)(t.text - f->src);
        if (t.kind == CT_STR)
            start--;
        for (size_t p = prev; p < start; p++) {
            if (f->src[p] != '#')
                continue;
            size_t e = p;
            while (e < start && f->src[e] != '\n')
                e++;
            size_t tl = e - p - 1;
            while (tl && (f->src[p + 1 + tl - 1] == '\r'))
                tl--;
            if (grow(c, (void **)&c->comments, &c->capcomments, c->ncomments,
                     sizeof(ccomment))) {
                ccomment *k = &c->comments[c->ncomments++];
                k->line = line_of(c, p);
                k->text = f->src + p + 1;
                k->len = tl;
            }
            p = e;
        }
        if (t.kind == CT_EOF)
            break;
        prev = (size_t)(t.text - f->src) + t.len + (t.kind == CT_STR ? 1 : 0);
    }
    return c->oom ? -ENOMEM : 0;
}

/* The line number of a report line "PATH:LINE: ..." (PATH is `path`). */
static unsigned long report_line(const char *l, size_t plen)
{
    return strtoul(l + plen + 1, NULL, 10);
}

/* Sort the report's lines by line number, keeping the order of equal ones. */
static int sort_report(cbuf *rep, const char *path)
{
    if (!rep->len)
        return 0;
    size_t n = 0, plen = strlen(path);
    for (size_t i = 0; i < rep->len; i++)
        n += rep->s[i] == '\n';
    const char **lines = mom_calloc(n ? n : 1, sizeof(char *));
    char *copy = mom_strndup(rep->s, rep->len);
    if (!lines || !copy) {
        mom_free(lines);
        mom_free(copy);
        return -ENOMEM;
    }
    size_t k = 0;
    for (char *p = copy; *p && k < n; k++) {
        lines[k] = p;
        p = strchr(p, '\n');
        *p++ = '\0';
    }
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && report_line(lines[j - 1], plen) > report_line(lines[j], plen);
             j--) {
            const char *t = lines[j];
            lines[j] = lines[j - 1];
            lines[j - 1] = t;
        }
    rep->len = 0;
    for (size_t i = 0; i < k; i++) {
        sb_puts(rep, lines[i]);
        sb_puts(rep, "\n");
    }
    mom_free(lines);
    mom_free(copy);
    return rep->oom ? -ENOMEM : 0;
}

/* End a pass: what the calls did in it decides function or subroutine in
 * the next one. */
static void rotate_calls(cvt *c)
{
    for (size_t i = 0; i < c->nfuncs; i++) {
        cfunc *f = c->funcs[i];
        if (f->used != f->pused || f->called != f->pcalled)
            c->changed = true;
        f->pused = f->used;
        f->pcalled = f->called;
        f->used = f->called = false;
    }
}

/* The policy name of a path: its base name without .policy / .mom. */
static char *policy_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 7 && !strcmp(b + n - 7, ".policy"))
        n -= 7;
    else if (n > 4 && !strcmp(b + n - 4, ".mom"))
        n -= 4;
    return mom_strndup(b, n);
}

static void cvt_done(cvt *c)
{
    for (size_t i = 0; c->files && i < c->nfiles; i++)
        mom_free(c->files[i].pname);
    mom_free(c->files);
    mom_free(c->vars);
    for (size_t i = 0; i < c->nfuncs; i++)
        mom_free(c->funcs[i]->free);
    mom_free(c->funcs);
    mom_free(c->binds);
    mom_free(c->ifs);
    mom_free(c->pending);
    mom_free(c->comments);
    mom_free(c->line_starts);
    sb_free(&c->report);
    arena_free(&c->ar);
}

int convert_text(const char *path, const char *src, size_t len, const char *const *ctx_paths,
                 const char *const *ctx_srcs, const size_t *ctx_lens, size_t n_ctx,
                 char **ret_text, char **ret_report, size_t *ret_unconverted)
{
    cvt c;
    memset(&c, 0, sizeof(c));
    arena_init(&c.ar, 16384);
    cbuf text = { 0 }, scratch = { 0 };
    int r = -ENOMEM;
    *ret_text = NULL;
    *ret_report = NULL;
    *ret_unconverted = 0;

    c.nfiles = n_ctx + 1;
    c.files = mom_calloc(c.nfiles, sizeof(cfile));
    if (!c.files)
        goto out;
    for (size_t i = 0; i < c.nfiles; i++) {
        cfile *f = &c.files[i];
        f->path = i ? ctx_paths[i - 1] : path;
        f->src = i ? ctx_srcs[i - 1] : src;
        f->len = i ? ctx_lens[i - 1] : len;
        if (!(f->pname = policy_name(f->path)))
            goto out;
    }
    /* Policy order: byte order of the policy names. */
    for (size_t i = 0; i < c.nfiles; i++) {
        int order = 0;
        for (size_t j = 0; j < c.nfiles; j++) {
            int cmp = strcmp(c.files[j].pname, c.files[i].pname);
            if (cmp < 0 || (cmp == 0 && j < i))
                order++;
        }
        c.files[i].order = order;
    }
    for (size_t i = 0; i < c.nfiles; i++) {
        lang_error err;
        memset(&err, 0, sizeof(err));
        r = parsec_text(&c.ar, (uint16_t)i, c.files[i].src, c.files[i].len, &c.files[i].top,
                        &c.files[i].ntop, &err);
        if (r == -EBADMSG) {
            sb_printf(&c.report, "%s:%u:%u: error: %s\n", c.files[i].path, err.line, err.col,
                      err.msg);
            goto out;
        }
        if (r < 0)
            goto out;
    }
    r = -ENOMEM;
    /* Line starts of the converted file. */
    c.nlines = 1;
    for (size_t i = 0; i < len; i++)
        if (src[i] == '\n')
            c.nlines++;
    if (!(c.line_starts = mom_calloc(c.nlines, sizeof(uint32_t))))
        goto out;
    for (size_t i = 0, l = 1; i < len; i++)
        if (src[i] == '\n' && l < c.nlines)
            c.line_starts[l++] = (uint32_t)(i + 1);
    if ((r = collect_comments(&c)) < 0)
        goto out;
    r = -ENOMEM;

    /* Globals and functions of every file, in policy order. */
    for (int ord = 0; ord < (int)c.nfiles; ord++)
        for (size_t i = 0; i < c.nfiles; i++)
            if (c.files[i].order == ord)
                for (size_t k = 0; k < c.files[i].ntop; k++)
                    prescan(&c, (int)i, c.files[i].top[k], false, true);
    if (c.oom)
        goto out;

    /* Dry passes until the facts settle. */
    for (int pass = 0; pass < 16; pass++) {
        c.changed = false;
        c.pass = pass + 1;
        for (int ord = 0; ord < (int)c.nfiles; ord++)
            for (size_t i = 0; i < c.nfiles; i++)
                if (c.files[i].order == ord) {
                    scratch.len = 0;
                    scratch.oom = false;
                    c.out = &scratch;
                    translate_file(&c, (int)i);
                }
        rotate_calls(&c);
        if (c.oom)
            break;
        if (!c.changed) {
            if (c.settled)
                break;
            c.settled = true;
        }
    }
    if (c.oom)
        goto out;

    /* The final pass. */
    c.final = true;
    assign_names(&c);
    c.pass++;
    for (size_t i = 0; i < c.nvars; i++) {
        cvar *v = c.vars[i];
        v->declared = false;
        v->hoist = v->kind == V_GLOBAL && v->def_node && v->def_order == c.files[0].order &&
                   v->first_ref && v->first_ref < v->def_node->line;
    }
    c.out = &text;
    c.next_comment = 0;
    sb_printf(&text, "! %s.mom: converted from the classic policy %s by momctl policy convert\n",
              c.files[0].pname, c.files[0].pname);
    for (size_t i = 0; i < c.nvars; i++)
        if (c.vars[i]->rename_line)
            sb_printf(&text, "! cannot convert (line %u): %s\n", c.vars[i]->rename_line,
                      c.vars[i]->rename_msg);
    bool any_hoist = false;
    for (size_t i = 0; i < c.nvars; i++) {
        cvar *v = c.vars[i];
        if (!v->hoist)
            continue;
        const char *dt = decl_type(v->type);
        if (!any_hoist)
            sb_puts(&text, "\n");
        any_hoist = true;
        v->declared = true;
        if (!dt) {
            refuse_at(&c, v->def_node->line, "the global %s gets values of several types or of a "
                                             "type that cannot be declared", v->cname);
            sb_printf(&text, "! cannot convert (line %u): the global %s gets values of several "
                             "types or of a type that cannot be declared\n",
                      v->def_node->line, vname(v));
            continue;
        }
        if (v->rename_msg)
            sb_printf(&text, "! cannot convert (line %u): %s\n", v->def_node->line,
                      v->rename_msg);
        if (v->const_init) {
            ex e;
            c.cur = 0;
            c.failed = false;
            if (xexpr(&c, v->def_node->kids[2], &e) == 0) {
                sb_printf(&text, "%s :: %s = %s\n", dt, vname(v), e.s);
                continue;
            }
            c.failed = false;
            v->const_init = false;
        }
        sb_printf(&text, "%s :: %s\n", dt, vname(v));
    }
    if (c.ncomments || c.files[0].ntop)
        sb_puts(&text, "\n");
    translate_file(&c, 0);
    if (c.oom || text.oom || c.report.oom || sort_report(&c.report, path) < 0)
        goto out;
    *ret_text = text.s ? text.s : mom_strdup("");
    text.s = NULL;
    if (!*ret_text)
        goto out;
    r = 0;
out:
    if (r == 0 || r == -EBADMSG) {
        *ret_report = c.report.s ? c.report.s : mom_strdup("");
        c.report.s = NULL;
        if (!*ret_report) {
            mom_free(*ret_text);
            *ret_text = NULL;
            r = -ENOMEM;
        }
        *ret_unconverted = c.unconverted;
    }
    sb_free(&text);
    sb_free(&scratch);
    cvt_done(&c);
    return r;
}

/* Read a whole file, refusing NUL bytes (policy texts are C strings). */
static int read_policy(const char *path, char **ret, size_t *ret_len)
{
    int r = file_read_all(path, ret, ret_len);
    if (r == 0 && strlen(*ret) != *ret_len) {
        mom_free(*ret);
        *ret = NULL;
        return -EILSEQ;
    }
    return r;
}

MOM_API int mom_policy_convert(const char *path, const char *const *context_paths,
                               size_t n_context, char **ret_text, char **ret_report,
                               size_t *ret_unconverted)
{
    if (!path || !ret_text || !ret_report || (n_context && !context_paths))
        return -EINVAL;
    for (size_t i = 0; i < n_context; i++)
        if (!context_paths[i])
            return -EINVAL;
    char *src = NULL;
    char **ctx = NULL;
    size_t len = 0, *lens = NULL, unconverted = 0;
    int r = read_policy(path, &src, &len);
    if (r < 0) {
        char *msg = mom_asprintf("%s: %s\n", path, strerror(-r));
        if (!msg)
            return -ENOMEM;
        *ret_text = NULL;
        *ret_report = msg;
        return r;
    }
    r = -ENOMEM;
    ctx = mom_calloc(n_context ? n_context : 1, sizeof(char *));
    lens = mom_calloc(n_context ? n_context : 1, sizeof(size_t));
    if (!ctx || !lens)
        goto out;
    for (size_t i = 0; i < n_context; i++) {
        r = read_policy(context_paths[i], &ctx[i], &lens[i]);
        if (r < 0) {
            char *msg = mom_asprintf("%s: %s\n", context_paths[i], strerror(-r));
            if (!msg) {
                r = -ENOMEM;
                goto out;
            }
            *ret_text = NULL;
            *ret_report = msg;
            goto out;
        }
    }
    r = convert_text(path, src, len, context_paths, (const char *const *)ctx, lens, n_context,
                     ret_text, ret_report, &unconverted);
    if (r == -EBADMSG)
        r = MOM_E_POLICY;
    if (ret_unconverted)
        *ret_unconverted = unconverted;
out:
    for (size_t i = 0; ctx && i < n_context; i++)
        mom_free(ctx[i]);
    mom_free(ctx);
    mom_free(lens);
    mom_free(src);
    return r;
}
