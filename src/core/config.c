/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration reader.  It reads the original MOM's mom.conf, which is
 * Python configparser's dialect, checks every key against the schema below
 * and keeps the result in an immutable `conf` that any thread may read.
 *
 * Loading happens in four steps: the parser splits the text into sections
 * and values (reporting syntax problems), the checker validates every value
 * against the schema, the overrides are checked and applied, and the cross
 * checks look at effective values (policy versus policy-dir, keys that are
 * accepted and ignored, collector sections nobody uses).  Problems are
 * collected first and reported at the end sorted by line, so a file's
 * messages read top to bottom whatever step found them.
 */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fileio.h"

/* ---- schema --------------------------------------------------------- */

typedef enum conf_type {
    CT_TEXT,  /* any text */
    CT_INT,   /* an integer in [min, max] */
    CT_BOOL,  /* 1/yes/true/on or 0/no/false/off */
    CT_NAMES, /* comma list of collector or controller names */
    CT_UIDS,  /* comma list of user ids */
    CT_PORT,  /* rpc-port: TCP port, negative integer (off) or a path */
    CT_REAL,  /* a positive finite real */
} conf_type;

typedef struct conf_key_def {
    const char *section;
    const char *key;
    const char *def;
    conf_type type;
    int64_t min, max;
} conf_key_def;

#define I32 INT32_MAX
#define I64 INT64_MAX

/* Every key of every schema section, with its default (REFERENCE.md §7
 * and §0).  Keys are lower-case. */
static const conf_key_def schema[] = {
    {"main", "main-loop-interval", "5", CT_INT, 1, I32},
    {"main", "host-monitor-interval", "5", CT_INT, 1, I32},
    {"main", "guest-monitor-interval", "5", CT_INT, 1, I32},
    {"main", "guest-manager-interval", "5", CT_INT, 1, I32},
    {"main", "policy-engine-interval", "10", CT_INT, 1, I32},
    {"main", "hypervisor-interface", "libvirt", CT_TEXT, 0, 0},
    {"main", "libvirt-hypervisor-uri", "", CT_TEXT, 0, 0},
    {"main", "controllers", "Balloon", CT_NAMES, 0, 0},
    {"main", "sample-history-length", "10", CT_INT, 1, I32},
    {"main", "plot-dir", "", CT_TEXT, 0, 0},
    {"main", "rpc-port", "-1", CT_PORT, 0, 0},
    {"main", "policy", "", CT_TEXT, 0, 0},
    {"main", "policy-dir", "", CT_TEXT, 0, 0},
    {"main", "guest-manager-multi-thread", "true", CT_BOOL, 0, 0},
    {"main", "proc-root", "/proc", CT_TEXT, 0, 0},
    {"main", "sysfs-root", "/sys", CT_TEXT, 0, 0},
    {"main", "worker-threads", "4", CT_INT, 1, 256},
    {"main", "call-deadline-ms", "10000", CT_INT, 1, I32},
    {"main", "policy-step-limit", "100000", CT_INT, 1, I64},
    {"main", "policy-depth-limit", "200", CT_INT, 1, 10000},
    {"main", "plugin-dir", "", CT_TEXT, 0, 0},
    {"main", "host-memory-cgroup", "", CT_TEXT, 0, 0},
    {"main", "qmp-socket-dir", "", CT_TEXT, 0, 0},
    {"main", "rpc-socket-group", "", CT_TEXT, 0, 0},
    {"main", "rpc-allow-uids", "0", CT_UIDS, 0, 0},
    {"logging", "log", "stdio", CT_TEXT, 0, 0},
    {"logging", "verbosity", "info", CT_TEXT, 0, 0},
    {"logging", "max-bytes", "2097152", CT_INT, 0, I64},
    {"logging", "backup-count", "5", CT_INT, 0, I32},
    {"host", "collectors", "HostMemory", CT_NAMES, 0, 0},
    {"guest", "collectors", "GuestQemuProc, GuestMemory", CT_NAMES, 0, 0},
    {"sim", "scenario", "", CT_TEXT, 0, 0},
    {"sim", "seed", "1", CT_INT, 0, I64},
    {"sim", "speed", "1.0", CT_REAL, 0, 0},
};

#define N_SCHEMA (sizeof(schema) / sizeof(schema[0]))

/* Keys the engine accepts for compatibility and then ignores. */
static const struct {
    const char *key;
    const char *why;
} ignored_keys[] = {
    {"main-loop-interval", "accepted and ignored: the engine has no main loop that watches threads"},
    {"guest-manager-multi-thread", "accepted and ignored: the engine never uses a thread per guest"},
};

#define COLLECTOR_PREFIX "Collector:"

/* The schema entry for section/key, or NULL. */
static const conf_key_def *schema_find(const char *section, const char *key)
{
    for (size_t i = 0; i < N_SCHEMA; i++)
        if (strcmp(schema[i].section, section) == 0 && strcasecmp(schema[i].key, key) == 0)
            return &schema[i];
    return NULL;
}

/* The first schema entry of any section for key, or NULL ([DEFAULT]). */
static const conf_key_def *schema_find_any(const char *key)
{
    for (size_t i = 0; i < N_SCHEMA; i++)
        if (strcasecmp(schema[i].key, key) == 0)
            return &schema[i];
    return NULL;
}

static bool schema_section(const char *section)
{
    for (size_t i = 0; i < N_SCHEMA; i++)
        if (strcmp(schema[i].section, section) == 0)
            return true;
    return false;
}

/* ---- data ----------------------------------------------------------- */

typedef struct conf_value {
    char *key;      /* lower-case */
    char *value;    /* NUL-terminated; len/cap while it grows */
    size_t len, cap;
    int line;       /* file line, 0 for an override */
    long ov;        /* override index, -1 for a file value */
    char **items;   /* the value as a comma list (one allocation) */
    size_t n_items;
} conf_value;

typedef enum sec_kind {
    SEC_SCHEMA,    /* main, logging, host, guest, sim */
    SEC_DEFAULT,   /* [DEFAULT] */
    SEC_COLLECTOR, /* [Collector: NAME] */
    SEC_VDSM,      /* [vdsm]: stored, keys unchecked */
    SEC_DISCARD,   /* unknown or [__int__]: kept only to detect duplicates */
} sec_kind;

typedef struct conf_section {
    char *name;        /* "main", "DEFAULT", "Collector: NAME" (NAME trimmed), ... */
    const char *cname; /* NAME inside name, for collector sections */
    sec_kind kind;
    int line;          /* header line, 0 when an override created it */
    long ov;           /* override index that created it, or -1 */
    conf_value *vals;
    size_t n_vals, cap_vals;
} conf_section;

typedef struct conf_default {
    char **items;
    size_t n_items;
} conf_default;

struct conf {
    char *name; /* file name used in locations */
    conf_section *secs;
    size_t n_secs, cap_secs;
    conf_default defaults[N_SCHEMA];
    const char **collectors; /* names of the collector sections */
    size_t n_collectors;
};

/* One collected problem, reported when loading ends. */
typedef struct diag {
    long order; /* file line, or OV_ORDER + override index */
    size_t seq;
    mom_log_level level;
    char *msg;
} diag;

#define OV_ORDER ((long)INT_MAX + 1)

/* The state of one load. */
typedef struct loader {
    conf *c;
    diag *diags;
    size_t n_diags, cap_diags;
    int n_errors;
    bool oom;
    /* Hash index of section names and of each section's keys, so that
     * duplicate checks stay linear on large files. */
    struct slot *slots;
    size_t n_slots, cap_slots;
    /* Parser state. */
    conf_section *cur_sec; /* where key lines go; NULL to drop them */
    bool in_section;       /* a header was seen */
    conf_value *cur_val;   /* value that continuation lines extend, or NULL */
    bool have_opt;         /* a key line is open (continuations absorb) */
    size_t indent;         /* indentation of the open key line */
} loader;

/* ---- small helpers -------------------------------------------------- */

/* Whitespace as Python's str.strip() sees it, for ASCII. */
static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\v' || ch == '\f' || ch == '\r' || ch == '\n';
}

/* Trim [*s, *s + *n) in place. */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_ws(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_ws((*s)[*n - 1]))
        (*n)--;
}

/*
 * Write s (n bytes) into buf for a message: control and non-ASCII bytes
 * become \xNN, \n becomes \\n, and long text is cut with "...".  With
 * `quotes` the result is in double quotes.
 */
static void escape(const char *s, size_t n, bool quotes, char *buf, size_t size)
{
    size_t o = 0, limit = size - 8;
    if (quotes)
        buf[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (o >= limit) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (ch == '"' && quotes) {
            buf[o++] = '\\';
            buf[o++] = '"';
        } else if (ch < 0x20 || ch >= 0x7f) {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    if (quotes)
        buf[o++] = '"';
    buf[o] = '\0';
}

#define ESC_SIZE 80

/* printf into a new string with mom_malloc; NULL on failure. */
static char *vformat(const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        return NULL;
    char *s = mom_malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

/* ---- problems ------------------------------------------------------- */

/* Keep one formatted message (owned by the loader from now on). */
static void diag_add(loader *ld, long order, mom_log_level level, char *msg)
{
    if (level <= MOM_LOG_ERROR)
        ld->n_errors++;
    if (!msg) {
        ld->oom = true;
        return;
    }
    if (ld->n_diags == ld->cap_diags) {
        size_t cap = ld->cap_diags ? ld->cap_diags * 2 : 8;
        diag *d = mom_realloc(ld->diags, cap * sizeof(*d));
        if (!d) {
            mom_free(msg);
            ld->oom = true;
            return;
        }
        ld->diags = d;
        ld->cap_diags = cap;
    }
    ld->diags[ld->n_diags] = (diag){order, ld->n_diags, level, msg};
    ld->n_diags++;
}

/*
 * Report a problem at a file line ("NAME:LINE: KEY: reason") or, when
 * ov >= 0, about override number ov ("override: [SECTION] KEY: reason").
 * `key` is text from the input and is escaped here.
 */
__attribute__((format(printf, 7, 8)))
static void report(loader *ld, mom_log_level level, int line, long ov, const char *section,
                   const char *key, const char *fmt, ...)
{
    char k[ESC_SIZE];
    escape(key, strlen(key), false, k, sizeof(k));
    va_list ap;
    va_start(ap, fmt);
    char *reason = vformat(fmt, ap);
    va_end(ap);
    char *msg = NULL;
    if (reason) {
        if (ov >= 0) {
            char s[ESC_SIZE];
            escape(section, strlen(section), false, s, sizeof(s));
            msg = mom_asprintf("override: [%s]%s%s: %s", s, k[0] ? " " : "", k, reason);
        } else {
            msg = mom_asprintf("%s:%d: %s: %s", ld->c->name, line, k, reason);
        }
    }
    mom_free(reason);
    diag_add(ld, ov >= 0 ? OV_ORDER + ov : line, level, msg);
}

/* Report about a stored value, at its line or override. */
#define report_val(ld, level, sec, v, ...) \
    report((ld), (level), (v)->line, (v)->ov, (sec)->name, (v)->key, __VA_ARGS__)

static int diag_cmp(const void *a, const void *b)
{
    const diag *x = a, *y = b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hand every collected problem to the caller's callback, in order. */
static void diag_flush(loader *ld, conf_report_fn fn, void *userdata)
{
    if (ld->n_diags > 1)
        qsort(ld->diags, ld->n_diags, sizeof(*ld->diags), diag_cmp);
    for (size_t i = 0; i < ld->n_diags; i++) {
        if (fn)
            fn(ld->diags[i].level, ld->diags[i].msg, userdata);
        mom_free(ld->diags[i].msg);
    }
    mom_free(ld->diags);
    ld->diags = NULL;
    ld->n_diags = ld->cap_diags = 0;
}

/* ---- values and sections -------------------------------------------- */

static void value_done(conf_value *v)
{
    mom_free(v->key);
    mom_free(v->value);
    mom_free(v->items);
}

static void section_done(conf_section *s)
{
    for (size_t i = 0; i < s->n_vals; i++)
        value_done(&s->vals[i]);
    mom_free(s->vals);
    mom_free(s->name);
}

void conf_free(conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_secs; i++)
        section_done(&c->secs[i]);
    mom_free(c->secs);
    for (size_t i = 0; i < N_SCHEMA; i++)
        mom_free(c->defaults[i].items);
    mom_free(c->collectors);
    mom_free(c->name);
    mom_free(c);
}

/* Make sure v->value has room for `extra` more bytes plus a NUL. */
static int value_reserve(conf_value *v, size_t extra)
{
    if (extra > SIZE_MAX / 2 - v->len)
        return -ENOMEM;
    size_t need = v->len + extra + 1;
    if (need <= v->cap)
        return 0;
    size_t cap = v->cap ? v->cap : 16;
    while (cap < need)
        cap *= 2;
    char *p = mom_realloc(v->value, cap);
    if (!p)
        return -ENOMEM;
    v->value = p;
    v->cap = cap;
    return 0;
}

/* Append a continuation line: "\n" + s. */
static int value_continue(conf_value *v, const char *s, size_t n)
{
    if (value_reserve(v, n + 1) < 0)
        return -ENOMEM;
    v->value[v->len++] = '\n';
    memcpy(v->value + v->len, s, n);
    v->len += n;
    v->value[v->len] = '\0';
    return 0;
}

/* Replace the text of v by s (n bytes). */
static int value_set(conf_value *v, const char *s, size_t n)
{
    v->len = 0;
    if (value_reserve(v, n) < 0)
        return -ENOMEM;
    memcpy(v->value, s, n);
    v->len = n;
    v->value[n] = '\0';
    return 0;
}

static conf_value *section_find(const conf_section *s, const char *key)
{
    for (size_t i = 0; i < s->n_vals; i++)
        if (strcasecmp(s->vals[i].key, key) == 0)
            return &s->vals[i];
    return NULL;
}

/* Add an empty value named key (n bytes, lower-cased here) to s. */
static conf_value *section_add(conf_section *s, const char *key, size_t n)
{
    if (s->n_vals == s->cap_vals) {
        size_t cap = s->cap_vals ? s->cap_vals * 2 : 8;
        conf_value *p = mom_realloc(s->vals, cap * sizeof(*p));
        if (!p)
            return NULL;
        s->vals = p;
        s->cap_vals = cap;
    }
    char *k = mom_strndup(key, n);
    if (!k)
        return NULL;
    for (char *p = k; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    conf_value *v = &s->vals[s->n_vals];
    *v = (conf_value){.key = k, .ov = -1};
    if (value_set(v, "", 0) < 0) {
        mom_free(k);
        return NULL;
    }
    s->n_vals++;
    return v;
}

/*
 * Classify a section name as a header or an override names it, and put its
 * stored form in *ret_name (a new string).  For "Collector: NAME" the name
 * is trimmed; an empty NAME gives -EINVAL.
 */
static int section_classify(const char *name, size_t n, sec_kind *ret_kind, char **ret_name)
{
    size_t plen = strlen(COLLECTOR_PREFIX);
    if (n >= plen && memcmp(name, COLLECTOR_PREFIX, plen) == 0) {
        const char *cn = name + plen;
        size_t cl = n - plen;
        trim(&cn, &cl);
        *ret_kind = SEC_COLLECTOR;
        if (cl == 0) {
            *ret_name = NULL;
            return -EINVAL;
        }
        *ret_name = mom_asprintf(COLLECTOR_PREFIX " %.*s", (int)cl, cn);
        return *ret_name ? 0 : -ENOMEM;
    }
    *ret_name = mom_strndup(name, n);
    if (!*ret_name)
        return -ENOMEM;
    if (strcmp(*ret_name, "DEFAULT") == 0)
        *ret_kind = SEC_DEFAULT;
    else if (strcmp(*ret_name, "vdsm") == 0)
        *ret_kind = SEC_VDSM;
    else if (schema_section(*ret_name))
        *ret_kind = SEC_SCHEMA;
    else
        *ret_kind = SEC_DISCARD;
    return 0;
}

static conf_section *conf_find_section(const conf *c, const char *name)
{
    for (size_t i = 0; i < c->n_secs; i++)
        if (strcmp(c->secs[i].name, name) == 0)
            return &c->secs[i];
    return NULL;
}

/* Add a section; takes `name` (freed on failure too). */
static conf_section *conf_add_section(conf *c, char *name, sec_kind kind)
{
    if (c->n_secs == c->cap_secs) {
        size_t cap = c->cap_secs ? c->cap_secs * 2 : 8;
        conf_section *p = mom_realloc(c->secs, cap * sizeof(*p));
        if (!p) {
            mom_free(name);
            return NULL;
        }
        c->secs = p;
        c->cap_secs = cap;
    }
    conf_section *s = &c->secs[c->n_secs++];
    *s = (conf_section){.name = name, .kind = kind, .ov = -1};
    if (kind == SEC_COLLECTOR)
        s->cname = name + strlen(COLLECTOR_PREFIX) + 1;
    return s;
}

/* ---- duplicate index ------------------------------------------------ */

/* One entry: a section (sec == NO_SEC, idx = its index) or a key (sec =
 * its section's index, idx = the value's index in that section). */
typedef struct slot {
    size_t sec, idx;
} slot;

#define NO_SEC SIZE_MAX

/* FNV-1a over the lower-cased bytes (section names are hashed as they
 * are: they only ever compare equal byte for byte), mixed with sec. */
static uint64_t slot_hash(size_t sec, const char *s, size_t n, bool fold)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)sec;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (fold && ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch - 'A' + 'a');
        h = (h ^ ch) * 1099511628211ULL;
    }
    return h;
}

static const char *slot_text(const loader *ld, const slot *e)
{
    if (e->sec == NO_SEC)
        return ld->c->secs[e->idx].name;
    return ld->c->secs[e->sec].vals[e->idx].key;
}

static uint64_t slot_rehash(const loader *ld, const slot *e)
{
    const char *t = slot_text(ld, e);
    return slot_hash(e->sec, t, strlen(t), e->sec != NO_SEC);
}

/* The slot for sec/text: the matching entry, or the free one to fill. */
static slot *slot_find(loader *ld, size_t sec, const char *t, size_t n, bool *ret_found)
{
    size_t mask = ld->cap_slots - 1;
    size_t i = (size_t)slot_hash(sec, t, n, sec != NO_SEC) & mask;
    for (;; i = (i + 1) & mask) {
        slot *e = &ld->slots[i];
        if (e->idx == SIZE_MAX) {
            *ret_found = false;
            return e;
        }
        if (e->sec != sec)
            continue;
        const char *et = slot_text(ld, e);
        bool eq = sec == NO_SEC ? strlen(et) == n && memcmp(et, t, n) == 0
                                : strlen(et) == n && strncasecmp(et, t, n) == 0;
        if (eq) {
            *ret_found = true;
            return e;
        }
    }
}

/* Make room for one more entry (the table stays at most half full). */
static int slots_reserve(loader *ld)
{
    if ((ld->n_slots + 1) * 2 <= ld->cap_slots)
        return 0;
    size_t cap = ld->cap_slots ? ld->cap_slots * 2 : 64;
    slot *t = mom_malloc(cap * sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < cap; i++)
        t[i] = (slot){0, SIZE_MAX};
    for (size_t i = 0; i < ld->cap_slots; i++) {
        const slot *e = &ld->slots[i];
        if (e->idx == SIZE_MAX)
            continue;
        size_t j = (size_t)slot_rehash(ld, e) & (cap - 1);
        while (t[j].idx != SIZE_MAX)
            j = (j + 1) & (cap - 1);
        t[j] = *e;
    }
    mom_free(ld->slots);
    ld->slots = t;
    ld->cap_slots = cap;
    return 0;
}

/*
 * Look up sec/text; when absent, reserve room so that a following
 * slot_put() cannot fail.  Returns 1 (present: *ret_idx set), 0 (absent)
 * or -ENOMEM.
 */
static int slot_get(loader *ld, size_t sec, const char *t, size_t n, size_t *ret_idx)
{
    if (slots_reserve(ld) < 0)
        return -ENOMEM;
    bool found;
    slot *e = slot_find(ld, sec, t, n, &found);
    if (found)
        *ret_idx = e->idx;
    return found;
}

/* Record an entry whose text is now stored (after slot_get() said 0). */
static void slot_put(loader *ld, size_t sec, size_t idx)
{
    slot probe = {sec, idx};
    const char *t = slot_text(ld, &probe);
    bool found;
    slot *e = slot_find(ld, sec, t, strlen(t), &found);
    *e = probe;
    ld->n_slots++;
}

/* ---- parser --------------------------------------------------------- */

/*
 * header = "[" NAME "]" [anything]
 * As configparser's section pattern, NAME runs to the last "]" on the line
 * and text after it is ignored.
 */
static int parse_header(loader *ld, int line, const char *name, size_t n)
{
    sec_kind kind;
    char *sname = NULL;
    char hdr[ESC_SIZE + 2];
    char esc[ESC_SIZE];

    escape(name, n, false, esc, sizeof(esc));
    snprintf(hdr, sizeof(hdr), "[%s]", esc);
    ld->in_section = true;
    ld->cur_sec = NULL;

    int r = section_classify(name, n, &kind, &sname);
    if (r == -ENOMEM)
        return r;
    if (r == -EINVAL) {
        report(ld, MOM_LOG_ERROR, line, -1, "", hdr, "empty collector name");
        return 0;
    }
    size_t si;
    r = slot_get(ld, NO_SEC, sname, strlen(sname), &si);
    if (r < 0) {
        mom_free(sname);
        return r;
    }
    conf_section *s = r ? &ld->c->secs[si] : NULL;
    if (s && kind == SEC_DEFAULT) {
        /* configparser lets [DEFAULT] appear more than once. */
        mom_free(sname);
        ld->cur_sec = s;
        return 0;
    }
    if (s) {
        report(ld, MOM_LOG_ERROR, line, -1, "", hdr, "duplicate section");
        mom_free(sname);
        return 0;
    }
    if (kind == SEC_DISCARD) {
        if (strcmp(sname, "__int__") == 0)
            report(ld, MOM_LOG_WARN, line, -1, "", hdr,
                   "internal section discarded (its keys are ignored)");
        else
            report(ld, MOM_LOG_ERROR, line, -1, "", hdr, "unknown section");
    }
    s = conf_add_section(ld->c, sname, kind);
    if (!s)
        return -ENOMEM;
    s->line = line;
    slot_put(ld, NO_SEC, (size_t)(s - ld->c->secs));
    ld->cur_sec = kind == SEC_DISCARD ? NULL : s;
    return 0;
}

/* option = KEY (":" | "=") VALUE, split at the first ":" or "=". */
static int parse_option(loader *ld, int line, const char *s, size_t n)
{
    char esc[ESC_SIZE];
    size_t d = 0;
    while (d < n && s[d] != ':' && s[d] != '=')
        d++;
    if (d == n) {
        escape(s, n, false, esc, sizeof(esc));
        report(ld, MOM_LOG_ERROR, line, -1, "", esc,
               "not a section header or a key-value line");
        return 0;
    }
    const char *key = s;
    size_t klen = d;
    trim(&key, &klen);
    const char *val = s + d + 1;
    size_t vlen = n - d - 1;
    trim(&val, &vlen);

    /* From here on, indented lines continue this key (or are dropped). */
    ld->have_opt = true;
    if (klen == 0) {
        escape(s, n, false, esc, sizeof(esc));
        report(ld, MOM_LOG_ERROR, line, -1, "", esc, "missing key name");
        return 0;
    }
    char kbuf[ESC_SIZE];
    if (!ld->in_section) {
        escape(key, klen, false, kbuf, sizeof(kbuf));
        report(ld, MOM_LOG_ERROR, line, -1, "", kbuf, "key outside any section");
        return 0;
    }
    if (!ld->cur_sec)
        return 0;
    size_t sec = (size_t)(ld->cur_sec - ld->c->secs), vi;
    int r = slot_get(ld, sec, key, klen, &vi);
    if (r < 0)
        return r;
    if (r) {
        report(ld, MOM_LOG_ERROR, line, -1, "", ld->cur_sec->vals[vi].key, "duplicate key");
        return 0;
    }
    conf_value *v = section_add(ld->cur_sec, key, klen);
    if (!v)
        return -ENOMEM;
    slot_put(ld, sec, ld->cur_sec->n_vals - 1);
    if (value_set(v, val, vlen) < 0)
        return -ENOMEM;
    v->line = line;
    ld->cur_val = v;
    return 0;
}

/* One physical line (without its terminator). */
static int parse_line(loader *ld, int line, const char *s, size_t n)
{
    size_t indent = 0;
    while (indent < n && is_ws(s[indent]))
        indent++;
    const char *t = s;
    size_t tn = n;
    trim(&t, &tn);

    if (tn > 0 && (t[0] == '#' || t[0] == ';'))
        return 0; /* a comment, even inside a value */
    if (tn == 0) {
        /* An empty line ends the value. */
        ld->have_opt = false;
        ld->cur_val = NULL;
        return 0;
    }
    if (memchr(t, '\0', tn)) {
        char esc[ESC_SIZE];
        escape(t, tn, false, esc, sizeof(esc));
        report(ld, MOM_LOG_ERROR, line, -1, "", esc, "NUL byte in line");
        ld->have_opt = false;
        ld->cur_val = NULL;
        return 0;
    }
    if (ld->have_opt && indent > ld->indent) {
        if (ld->cur_val)
            return value_continue(ld->cur_val, t, tn);
        return 0;
    }
    ld->indent = indent;
    ld->have_opt = false;
    ld->cur_val = NULL;
    if (t[0] == '[') {
        size_t close = tn - 1;
        while (close > 0 && t[close] != ']')
            close--;
        if (close >= 2)
            return parse_header(ld, line, t + 1, close - 1);
    }
    return parse_option(ld, line, t, tn);
}

/* Split text into lines ("\n", "\r\n" or "\r" end one) and parse each. */
static int parse_text(loader *ld, const char *text, size_t len)
{
    size_t pos = 0;
    int line = 0;
    /* A UTF-8 byte order mark is not part of the first line. */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n' && text[end] != '\r')
            end++;
        if (line < INT_MAX)
            line++;
        int r = parse_line(ld, line, text + pos, end - pos);
        if (r < 0)
            return r;
        if (end < len && text[end] == '\r' && end + 1 < len && text[end + 1] == '\n')
            end++;
        pos = end + 1;
    }
    return 0;
}

/* ---- value checks --------------------------------------------------- */

/* Python int() on s: optional sign and decimal digits, blanks around. */
static bool parse_int(const char *s, int64_t *ret)
{
    size_t n = strlen(s);
    trim(&s, &n);
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s++;
        n--;
    }
    if (n == 0)
        return false;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned dig = (unsigned)(s[i] - '0');
        if (v > (lim - dig) / 10)
            return false;
        v = v * 10 + dig;
    }
    if (neg)
        *ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *ret = (int64_t)v;
    return true;
}

/* A boolean as configparser reads it; false when s is none. */
static bool parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};
    size_t n = strlen(s);
    trim(&s, &n);
    for (size_t i = 0; i < 4; i++) {
        if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0) {
            *ret = true;
            return true;
        }
        if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0) {
            *ret = false;
            return true;
        }
    }
    return false;
}

/* A finite real in C-locale notation, whatever the process locale is. */
static bool parse_real(const char *s, double *ret)
{
    size_t n = strlen(s);
    trim(&s, &n);
    if (n == 0 || n > 64)
        return false;
    char buf[72];
    memcpy(buf, s, n);
    buf[n] = '\0';
    locale_t cl = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!cl)
        return false;
    char *end;
    errno = 0;
    double v = strtod_l(buf, &end, cl);
    freelocale(cl);
    if (*end != '\0' || !isfinite(v))
        return false;
    *ret = v;
    return true;
}

/* A name in a collector or controller list: letters, digits, "_.-". */
static bool is_name(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return n > 0;
}

/* Check every item of a comma list; names or user ids. */
static void check_list(loader *ld, const conf_section *sec, const conf_value *v, bool uids)
{
    const char *p = v->value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        trim(&item, &n);
        if (n > 0) {
            char esc[ESC_SIZE];
            escape(item, n, true, esc, sizeof(esc));
            if (uids) {
                char num[24];
                int64_t uid = -1;
                bool ok = n < sizeof(num);
                if (ok) {
                    memcpy(num, item, n);
                    num[n] = '\0';
                    ok = num[0] >= '0' && num[0] <= '9' && parse_int(num, &uid) && uid >= 0 &&
                         uid < (int64_t)UINT32_MAX;
                }
                if (!ok)
                    report_val(ld, MOM_LOG_ERROR, sec, v,
                               "list item %s is not a user id (a non-negative integer)", esc);
            } else if (!is_name(item, n)) {
                report_val(ld, MOM_LOG_ERROR, sec, v,
                           "list item %s is not a name (missing comma?)", esc);
            }
        }
        if (!comma)
            break;
        p = comma + 1;
    }
}

/* Check one value against its schema entry. */
static void check_value(loader *ld, const conf_section *sec, const conf_value *v,
                        const conf_key_def *d)
{
    char esc[ESC_SIZE];
    escape(v->value, v->len, true, esc, sizeof(esc));
    switch (d->type) {
    case CT_TEXT:
        break;
    case CT_INT: {
        int64_t x;
        bool ok = parse_int(v->value, &x);
        bool ranged = d->max != I32 && d->max != I64;
        if (ok && x >= d->min && x <= d->max)
            break;
        if (ranged)
            report_val(ld, MOM_LOG_ERROR, sec, v, "must be an integer from %lld to %lld, not %s",
                       (long long)d->min, (long long)d->max, esc);
        else if (ok && x > d->max)
            report_val(ld, MOM_LOG_ERROR, sec, v, "must be at most %lld, not %s",
                       (long long)d->max, esc);
        else
            report_val(ld, MOM_LOG_ERROR, sec, v, "must be a %s integer, not %s",
                       d->min > 0 ? "positive" : "non-negative", esc);
        break;
    }
    case CT_BOOL: {
        bool b;
        if (!parse_bool(v->value, &b))
            report_val(ld, MOM_LOG_ERROR, sec, v,
                       "must be a boolean (1/yes/true/on or 0/no/false/off), not %s", esc);
        break;
    }
    case CT_NAMES:
        check_list(ld, sec, v, false);
        break;
    case CT_UIDS:
        check_list(ld, sec, v, true);
        break;
    case CT_PORT: {
        int64_t x;
        const char *s = v->value;
        size_t n = v->len;
        trim(&s, &n);
        if (n == 0) {
            report_val(ld, MOM_LOG_ERROR, sec, v,
                       "empty value: give a TCP port, a negative number (off) or a socket path");
        } else if (parse_int(v->value, &x)) {
            if (x > 65535)
                report_val(ld, MOM_LOG_ERROR, sec, v, "TCP port must be at most 65535, not %s",
                           esc);
        } else {
            /* All digits but too large for int64: a port out of range too;
             * with a minus sign it is merely "off". */
            size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
            bool digits = i < n;
            for (size_t j = i; j < n; j++)
                digits = digits && s[j] >= '0' && s[j] <= '9';
            if (digits && s[0] != '-')
                report_val(ld, MOM_LOG_ERROR, sec, v, "TCP port must be at most 65535, not %s",
                           esc);
        }
        break;
    }
    case CT_REAL: {
        double x;
        if (!parse_real(v->value, &x) || !(x > 0))
            report_val(ld, MOM_LOG_ERROR, sec, v, "must be a positive number, not %s", esc);
        break;
    }
    }
}

/* Check every value that the file put in schema sections and [DEFAULT]. */
static void check_file(loader *ld)
{
    conf *c = ld->c;
    for (size_t i = 0; i < c->n_secs; i++) {
        const conf_section *s = &c->secs[i];
        if (s->kind != SEC_SCHEMA && s->kind != SEC_DEFAULT)
            continue;
        for (size_t j = 0; j < s->n_vals; j++) {
            const conf_value *v = &s->vals[j];
            const conf_key_def *d = s->kind == SEC_DEFAULT ? schema_find_any(v->key)
                                                           : schema_find(s->name, v->key);
            if (!d)
                report_val(ld, MOM_LOG_ERROR, s, v, "unknown key");
            else
                check_value(ld, s, v, d);
        }
    }
}

/* ---- overrides ------------------------------------------------------ */

/* Check and apply override number i. */
static int apply_override(loader *ld, long i, const mom_config_override *o)
{
    conf *c = ld->c;
    if (!o->section || !o->key || !o->value) {
        report(ld, MOM_LOG_ERROR, 0, i, o->section ? o->section : "?", o->key ? o->key : "?",
               "an override needs a section, a key and a value");
        return 0;
    }
    sec_kind kind;
    char *sname = NULL;
    int r = section_classify(o->section, strlen(o->section), &kind, &sname);
    if (r == -ENOMEM)
        return r;
    if (r == -EINVAL) {
        report(ld, MOM_LOG_ERROR, 0, i, o->section, o->key, "empty collector name");
        return 0;
    }
    if (kind == SEC_DISCARD) {
        report(ld, MOM_LOG_ERROR, 0, i, o->section, o->key, "unknown section");
        mom_free(sname);
        return 0;
    }
    const char *kname = o->key;
    size_t klen = strlen(kname);
    trim(&kname, &klen);
    if (klen == 0) {
        report(ld, MOM_LOG_ERROR, 0, i, sname, o->key, "missing key name");
        mom_free(sname);
        return 0;
    }
    const conf_key_def *d = NULL;
    if (kind == SEC_SCHEMA || kind == SEC_DEFAULT) {
        char kb[64];
        bool fits = klen < sizeof(kb);
        if (fits) {
            memcpy(kb, kname, klen);
            kb[klen] = '\0';
            d = kind == SEC_DEFAULT ? schema_find_any(kb) : schema_find(sname, kb);
        }
        if (!d) {
            report(ld, MOM_LOG_ERROR, 0, i, sname, o->key, "unknown key");
            mom_free(sname);
            return 0;
        }
    }
    conf_section *s = conf_find_section(c, sname);
    if (s) {
        mom_free(sname);
    } else {
        s = conf_add_section(c, sname, kind);
        if (!s)
            return -ENOMEM;
        s->ov = i;
    }
    conf_value *v = NULL;
    for (size_t j = 0; j < s->n_vals; j++)
        if (strlen(s->vals[j].key) == klen && strncasecmp(s->vals[j].key, kname, klen) == 0)
            v = &s->vals[j];
    if (!v && !(v = section_add(s, kname, klen)))
        return -ENOMEM;
    const char *val = o->value;
    size_t vlen = strlen(val);
    trim(&val, &vlen);
    if (value_set(v, val, vlen) < 0)
        return -ENOMEM;
    v->line = 0;
    v->ov = i;
    if (d)
        check_value(ld, s, v, d);
    return 0;
}

/* ---- lookups -------------------------------------------------------- */

/*
 * The section a caller names: "Collector:NAME" matches whatever spacing
 * the header had; other names match exactly.
 */
static const conf_section *lookup_section(const conf *c, const char *section)
{
    size_t plen = strlen(COLLECTOR_PREFIX);
    if (strncmp(section, COLLECTOR_PREFIX, plen) == 0) {
        const char *cn = section + plen;
        size_t n = strlen(cn);
        trim(&cn, &n);
        for (size_t i = 0; i < c->n_secs; i++)
            if (c->secs[i].kind == SEC_COLLECTOR && strlen(c->secs[i].cname) == n &&
                memcmp(c->secs[i].cname, cn, n) == 0)
                return &c->secs[i];
        return NULL;
    }
    const conf_section *s = conf_find_section(c, section);
    return s && s->kind != SEC_DISCARD ? s : NULL;
}

/* The value set for section/key in the file or an override, [DEFAULT]
 * included; *ret_sec is the section it was found in. */
static const conf_value *lookup_set(const conf *c, const char *section, const char *key,
                                    const conf_section **ret_sec)
{
    const conf_section *s = lookup_section(c, section);
    const conf_value *v = s ? section_find(s, key) : NULL;
    if (!v && (s || schema_section(section))) {
        s = conf_find_section(c, "DEFAULT");
        v = s ? section_find(s, key) : NULL;
    }
    if (ret_sec)
        *ret_sec = s;
    return v;
}

static long schema_index(const char *section, const char *key)
{
    const conf_key_def *d = schema_find(section, key);
    return d ? d - schema : -1;
}

const char *conf_get(const conf *c, const char *section, const char *key)
{
    if (!c || !section || !key)
        return NULL;
    const conf_value *v = lookup_set(c, section, key, NULL);
    if (v)
        return v->value;
    long i = schema_index(section, key);
    return i >= 0 ? schema[i].def : NULL;
}

int conf_key_location(const conf *c, const char *section, const char *key,
                      const char **ret_file, int *ret_line)
{
    if (!c || !section || !key)
        return -EINVAL;
    const conf_value *v = lookup_set(c, section, key, NULL);
    if (!v)
        return -ENOENT;
    if (ret_file)
        *ret_file = v->ov >= 0 ? "override" : c->name;
    if (ret_line)
        *ret_line = v->line;
    return 0;
}

int64_t conf_get_int(const conf *c, const char *section, const char *key)
{
    int64_t x;
    const char *s = conf_get(c, section, key);
    if (s && parse_int(s, &x))
        return x;
    long i = section && key ? schema_index(section, key) : -1;
    if (i >= 0 && parse_int(schema[i].def, &x))
        return x;
    return 0;
}

double conf_get_real(const conf *c, const char *section, const char *key)
{
    double x;
    const char *s = conf_get(c, section, key);
    if (s && parse_real(s, &x))
        return x;
    long i = section && key ? schema_index(section, key) : -1;
    if (i >= 0 && parse_real(schema[i].def, &x))
        return x;
    return 0;
}

bool conf_get_bool(const conf *c, const char *section, const char *key)
{
    bool b;
    const char *s = conf_get(c, section, key);
    if (s && parse_bool(s, &b))
        return b;
    long i = section && key ? schema_index(section, key) : -1;
    if (i >= 0 && parse_bool(schema[i].def, &b))
        return b;
    return false;
}

int conf_get_list(const conf *c, const char *section, const char *key,
                  const char *const **ret_items, size_t *ret_n)
{
    static const char *const empty[1] = {NULL};
    if (!c || !section || !key || !ret_items || !ret_n)
        return -EINVAL;
    const conf_value *v = lookup_set(c, section, key, NULL);
    char **items = NULL;
    size_t n = 0;
    if (v) {
        items = v->items;
        n = v->n_items;
    } else {
        long i = schema_index(section, key);
        if (i < 0)
            return -ENOENT;
        items = c->defaults[i].items;
        n = c->defaults[i].n_items;
    }
    *ret_items = n ? (const char *const *)items : empty;
    *ret_n = n;
    return 0;
}

size_t conf_n_collector_sections(const conf *c)
{
    return c ? c->n_collectors : 0;
}

const char *conf_collector_section(const conf *c, size_t i)
{
    return c && i < c->n_collectors ? c->collectors[i] : NULL;
}

mom_log_level conf_parse_level(const char *text)
{
    static const struct {
        const char *name;
        mom_log_level level;
    } names[] = {
        {"5", MOM_LOG_DEBUG}, {"debug", MOM_LOG_DEBUG},  {"4", MOM_LOG_INFO},
        {"info", MOM_LOG_INFO}, {"3", MOM_LOG_WARN},     {"warn", MOM_LOG_WARN},
        {"warning", MOM_LOG_WARN}, {"2", MOM_LOG_ERROR}, {"error", MOM_LOG_ERROR},
        {"1", MOM_LOG_CRITICAL}, {"critical", MOM_LOG_CRITICAL},
    };
    if (!text)
        return MOM_LOG_DEBUG;
    size_t n = strlen(text);
    trim(&text, &n);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].name) == n && strncasecmp(text, names[i].name, n) == 0)
            return names[i].level;
    return MOM_LOG_DEBUG;
}

/* ---- finishing ------------------------------------------------------ */

/*
 * Split s into its comma-list items (trimmed, empty ones dropped) as one
 * allocation: the pointer array (NULL-terminated) followed by the strings.
 */
static int split_list(const char *s, char ***ret_items, size_t *ret_n)
{
    size_t n = 0, bytes = 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        trim(&item, &len);
        if (len) {
            n++;
            bytes += len + 1;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    *ret_items = NULL;
    *ret_n = 0;
    if (n == 0)
        return 0;
    char **items = mom_malloc((n + 1) * sizeof(char *) + bytes);
    if (!items)
        return -ENOMEM;
    char *out = (char *)(items + n + 1);
    size_t k = 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        trim(&item, &len);
        if (len) {
            items[k++] = out;
            memcpy(out, item, len);
            out[len] = '\0';
            out += len + 1;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    items[n] = NULL;
    *ret_items = items;
    *ret_n = n;
    return 0;
}

/* Precompute every list (so getters never allocate) and the collector
 * section names. */
static int finish(conf *c)
{
    for (size_t i = 0; i < N_SCHEMA; i++)
        if (split_list(schema[i].def, &c->defaults[i].items, &c->defaults[i].n_items) < 0)
            return -ENOMEM;
    size_t nc = 0;
    for (size_t i = 0; i < c->n_secs; i++) {
        conf_section *s = &c->secs[i];
        if (s->kind == SEC_COLLECTOR)
            nc++;
        for (size_t j = 0; j < s->n_vals; j++)
            if (split_list(s->vals[j].value, &s->vals[j].items, &s->vals[j].n_items) < 0)
                return -ENOMEM;
    }
    if (nc) {
        c->collectors = mom_calloc(nc, sizeof(*c->collectors));
        if (!c->collectors)
            return -ENOMEM;
        for (size_t i = 0; i < c->n_secs; i++)
            if (c->secs[i].kind == SEC_COLLECTOR)
                c->collectors[c->n_collectors++] = c->secs[i].cname;
    }
    return 0;
}

/* The order of a value for "whichever comes second". */
static long value_order(const conf_value *v)
{
    return v->ov >= 0 ? OV_ORDER + v->ov : v->line;
}

/* Checks that need the effective values of several keys. */
static void check_effective(loader *ld)
{
    const conf *c = ld->c;
    const conf_section *sp, *sd;
    const conf_value *p = lookup_set(c, "main", "policy", &sp);
    const conf_value *d = lookup_set(c, "main", "policy-dir", &sd);
    if (p && d && p->value[0] && d->value[0]) {
        if (value_order(p) > value_order(d))
            report_val(ld, MOM_LOG_ERROR, sp, p, "policy and policy-dir cannot both be set");
        else
            report_val(ld, MOM_LOG_ERROR, sd, d, "policy and policy-dir cannot both be set");
    }

    for (size_t i = 0; i < sizeof(ignored_keys) / sizeof(ignored_keys[0]); i++) {
        const conf_section *s;
        const conf_value *v = lookup_set(c, "main", ignored_keys[i].key, &s);
        if (v)
            report_val(ld, MOM_LOG_WARN, s, v, "%s", ignored_keys[i].why);
    }

    /* A collector section that no [host] or [guest] list names. */
    for (size_t i = 0; i < c->n_secs; i++) {
        const conf_section *s = &c->secs[i];
        if (s->kind != SEC_COLLECTOR)
            continue;
        bool used = false;
        static const char *const kinds[] = {"host", "guest"};
        for (size_t k = 0; k < 2 && !used; k++) {
            const char *const *items;
            size_t n;
            if (conf_get_list(c, kinds[k], "collectors", &items, &n) == 0)
                for (size_t j = 0; j < n && !used; j++)
                    used = strcasecmp(items[j], s->cname) == 0;
        }
        if (used)
            continue;
        char hdr[ESC_SIZE + 2];
        snprintf(hdr, sizeof(hdr), "[%.*s]", ESC_SIZE - 1, s->name);
        report(ld, MOM_LOG_WARN, s->line, s->ov, s->name, s->ov >= 0 ? "" : hdr,
               "collector %s is not in [host] or [guest] collectors", s->cname);
    }
}

int conf_load_text(const char *name, const char *text, size_t len,
                   const mom_config_override *overrides, size_t n_overrides,
                   conf_report_fn report_fn, void *userdata, conf **ret)
{
    if (!ret || (!text && len) || (!overrides && n_overrides))
        return -EINVAL;
    loader ld = {0};
    int r = 0;
    ld.c = mom_calloc(1, sizeof(conf));
    if (!ld.c) {
        r = -ENOMEM;
        goto fail;
    }
    ld.c->name = mom_strdup(name ? name : "(text)");
    if (!ld.c->name) {
        r = -ENOMEM;
        goto fail;
    }
    r = len ? parse_text(&ld, text, len) : 0;
    mom_free(ld.slots);
    ld.slots = NULL;
    if (r < 0)
        goto fail;
    check_file(&ld);
    for (size_t i = 0; i < n_overrides && r == 0; i++)
        r = apply_override(&ld, (long)i, &overrides[i]);
    if (r < 0)
        goto fail;
    if ((r = finish(ld.c)) < 0)
        goto fail;
    check_effective(&ld);
    if (ld.oom) {
        r = -ENOMEM;
        goto fail;
    }
    diag_flush(&ld, report_fn, userdata);
    if (ld.n_errors) {
        conf_free(ld.c);
        return MOM_E_CONFIG;
    }
    *ret = ld.c;
    return 0;

fail:
    diag_flush(&ld, report_fn, userdata);
    if (r == -ENOMEM && report_fn) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s: out of memory", name ? name : "(text)");
        report_fn(MOM_LOG_ERROR, msg, userdata);
    }
    conf_free(ld.c);
    return r;
}


int conf_load(const char *path, const mom_config_override *overrides, size_t n_overrides,
              conf_report_fn report_fn, void *userdata, conf **ret)
{
    if (!ret)
        return -EINVAL;
    if (!path)
        return conf_load_text("(defaults)", "", 0, overrides, n_overrides, report_fn, userdata,
                              ret);
    char *text = NULL;
    size_t len = 0;
    int r = file_read_all(path, &text, &len);
    if (r < 0) {
        if (report_fn) {
            char msg[512], eb[128];
            const char *es = r == -ENOMEM ? "out of memory" : strerror_r(-r, eb, sizeof(eb));
            snprintf(msg, sizeof(msg), "%s: cannot read: %s", path, es);
            report_fn(MOM_LOG_ERROR, msg, userdata);
        }
        return r;
    }
    r = conf_load_text(path, text, len, overrides, n_overrides, report_fn, userdata, ret);
    mom_free(text);
    return r;
}
