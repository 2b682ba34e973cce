/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy sets: the named policy texts, the program compiled from them, and
 * the per-entity memory that outlives cycles.  Every change compiles the
 * whole set into a new program and swaps it in only when that worked, so a
 * bad text never replaces a running set (POLICY-CLASSIC appendix).
 */
#include "lang/policy.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/sample.h"
#include "lang/eval.h"
#include "mom/plugin.h"
#include "lang/varstore.h"

/* Largest policy file read from disk. */
#define POLICY_MAX_FILE ((size_t)16 << 20)

typedef struct entry {
    char *name;
    char *text;
    char *file;              /* label for messages, or NULL (the name) */
    policy_dialect dialect;
} entry;

struct policy_set {
    policy_opts opts;
    entry *e;                /* sorted by name (byte order) */
    size_t n;
    program *prog;           /* NULL until the first change */
    varstore vs;
};

int policy_set_new(const policy_opts *opts, policy_set **ret)
{
    if (!ret)
        return -EINVAL;
    policy_set *p = mom_calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    if (opts)
        p->opts = *opts;
    varstore_init(&p->vs);
    *ret = p;
    return 0;
}

static void entries_free(entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mom_free(e[i].name);
        mom_free(e[i].text);
        mom_free(e[i].file);
    }
    mom_free(e);
}

void policy_set_free(policy_set *p)
{
    if (!p)
        return;
    entries_free(p->e, p->n);
    program_free(p->prog);
    varstore_done(&p->vs);
    mom_free(p);
}

/* ---- dialects ------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* "! dialect: fortran" / "# dialect: classic" on the first line, any case
 * and spacing; POLICY_DIALECT_GUESS when the line says nothing. */
static policy_dialect dialect_marker(const char *t)
{
    while (*t == ' ' || *t == '\t')
        t++;
    if (*t != '!' && *t != '#')
        return POLICY_DIALECT_GUESS;
    t++;
    while (*t == ' ' || *t == '\t')
        t++;
    if (strncasecmp(t, "dialect", 7) != 0)
        return POLICY_DIALECT_GUESS;
    t += 7;
    while (*t == ' ' || *t == '\t')
        t++;
    if (*t++ != ':')
        return POLICY_DIALECT_GUESS;
    while (*t == ' ' || *t == '\t')
        t++;
    policy_dialect d;
    if (strncasecmp(t, "fortran", 7) == 0) {
        d = POLICY_DIALECT_FORTRAN;
        t += 7;
    } else if (strncasecmp(t, "classic", 7) == 0) {
        d = POLICY_DIALECT_CLASSIC;
        t += 7;
    } else {
        return POLICY_DIALECT_GUESS;
    }
    while (*t == ' ' || *t == '\t' || *t == '\r')
        t++;
    return *t == '\n' || *t == '\0' ? d : POLICY_DIALECT_GUESS;
}

policy_dialect policy_guess_dialect(const char *file, const char *text)
{
    if (file && ends_with(file, ".mom"))
        return POLICY_DIALECT_FORTRAN;
    if (file && ends_with(file, ".policy"))
        return POLICY_DIALECT_CLASSIC;
    if (!text)
        return POLICY_DIALECT_CLASSIC;
    if (strncmp(text, "\xEF\xBB\xBF", 3) == 0)
        text += 3;
    policy_dialect d = dialect_marker(text);
    if (d != POLICY_DIALECT_GUESS)
        return d;
    while (*text && isspace((unsigned char)*text))
        text++;
    if (!*text || strchr("({[#\"'", *text) || isdigit((unsigned char)*text))
        return POLICY_DIALECT_CLASSIC;
    return POLICY_DIALECT_FORTRAN;
}

/* ---- compiling ------------------------------------------------------------ */

/* Where the diagnostics of one compilation go. */
typedef struct diagctx {
    const entry *e;
    size_t n;
    const policy_opts *opts;
    policy_report_fn report;  /* check mode: every error and warning */
    void *userdata;
} diagctx;

static const char *entry_label(const entry *e)
{
    return e->file ? e->file : e->name;
}

/* Load-time diagnostics of the Fortran-like resolver: to the report
 * callback when checking, else warnings to the log (errors are returned
 * to the caller). */
static void compile_diag(void *userdata, uint16_t file, uint32_t line, uint32_t col,
                         bool is_error, const char *msg)
{
    diagctx *d = userdata;
    const char *label = file < d->n ? entry_label(&d->e[file]) : "policy";
    if (d->report) {
        char *text = mom_asprintf("%s:%u:%u: %s: %s", label, line, col,
                                  is_error ? "error" : "warning", msg);
        if (text)
            d->report(text, is_error, d->userdata);
        mom_free(text);
        return;
    }
    if (!is_error && d->opts && d->opts->log)
        mlog_msg(d->opts->log, MOM_LOG_WARN, "mom.Policy", "%s:%u:%u: warning: %s", label, line,
                 col, msg);
}

/* Compile entries (sorted by name) into a new program.  With a report
 * callback every error of every file is reported and compilation goes on
 * past a bad file (then *ret is not set on failure either). */
static int compile(const policy_opts *opts, const entry *e, size_t n, program **ret,
                   char **ret_error, policy_report_fn report, void *userdata)
{
    program *prog;
    int r = program_new(&prog);
    if (r < 0)
        return r;
    diagctx dc = { .e = e, .n = n, .opts = opts, .report = report, .userdata = userdata };
    prog->catalog = opts ? opts->catalog : NULL;
    prog->diag = compile_diag;
    prog->diag_ud = &dc;
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        lang_error err = { 0 };
        r = program_add(prog, e[i].name, entry_label(&e[i]), e[i].text, e[i].dialect, &err);
        if (r == -EBADMSG) {
            char *msg = mom_asprintf("%s:%u:%u: error: %s", entry_label(&e[i]), err.line,
                                     err.col, err.msg);
            if (!msg) {
                r = -ENOMEM;
                goto fail;
            }
            if (report) {
                report(msg, 1, userdata);
                mom_free(msg);
                /* Go on with the other files; this one counts as empty. */
                pfile *f = &prog->files[prog->n_files - 1];
                f->top = NULL;
                f->n_top = 0;
                f->fort = NULL;
                failed = MOM_E_POLICY;
                continue;
            }
            if (ret_error)
                *ret_error = msg;
            else
                mom_free(msg);
            r = MOM_E_POLICY;
        }
        if (r < 0)
            goto fail;
    }
    lang_error err = { 0 };
    int efile = 0;
    r = program_finish(prog, &err, &efile);
    if (r == -EBADMSG) {
        r = MOM_E_POLICY;
        if (!report && ret_error) {
            *ret_error = mom_asprintf("%s:%u:%u: error: %s",
                                      (size_t)efile < n ? entry_label(&e[efile]) : "policy",
                                      err.line, err.col, err.msg);
            if (!*ret_error)
                r = -ENOMEM;
        }
    }
    if (r < 0)
        goto fail;
    if (failed) {
        r = failed;
        goto fail;
    }
    prog->diag = NULL;
    prog->diag_ud = NULL;
    *ret = prog;
    return 0;
fail:
    program_free(prog);
    return r;
}

/* The original's getPolicy shows "0" when the joined text is empty. */
static bool joined_empty(const entry *e, size_t n)
{
    return n == 0 || (n == 1 && e[0].text[0] == '\0');
}

/* Compile `e` and, when that works, make it the running set (taking e). */
static int install(policy_set *p, entry *e, size_t n, char **ret_error)
{
    program *prog;
    int r = compile(&p->opts, e, n, &prog, ret_error, NULL, NULL);
    if (r < 0) {
        entries_free(e, n);
        return r;
    }
    /* `save` globals survive the replacement of the set (§6). */
    program_take_saves(prog, p->prog);
    entries_free(p->e, p->n);
    program_free(p->prog);
    p->e = e;
    p->n = n;
    p->prog = prog;
    return 0;
}

static int entry_fill(entry *d, const char *name, const char *text, const char *file)
{
    memset(d, 0, sizeof(*d));
    d->name = mom_strdup(name);
    d->text = mom_strdup(text);
    d->file = file ? mom_strdup(file) : NULL;
    d->dialect = policy_guess_dialect(file, text);
    return d->name && d->text && (!file || d->file) ? 0 : -ENOMEM;
}

static int entry_copy(entry *d, const entry *s)
{
    int r = entry_fill(d, s->name, s->text, s->file);
    d->dialect = s->dialect;
    return r;
}

int policy_set_set(policy_set *p, const char *name, const char *text, const char *file,
                   char **ret_error)
{
    if (!p || !name)
        return -EINVAL;
    if (ret_error)
        *ret_error = NULL;
    size_t at = 0;
    while (at < p->n && strcmp(p->e[at].name, name) < 0)
        at++;
    bool exists = at < p->n && strcmp(p->e[at].name, name) == 0;
    size_t n = p->n + (text && !exists ? 1 : 0) - (!text && exists ? 1 : 0);
    entry *e = mom_calloc(n ? n : 1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    size_t w = 0;
    int r = 0;
    for (size_t i = 0; i <= p->n && r == 0; i++) {
        if (i == at && text)
            r = entry_fill(&e[w++], name, text, file);
        if (i == p->n)
            break;
        if (i == at && exists)
            continue;
        if (r == 0)
            r = entry_copy(&e[w++], &p->e[i]);
    }
    if (r < 0) {
        entries_free(e, w);
        return r;
    }
    return install(p, e, n, ret_error);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

int policy_set_replace(policy_set *p, const char *const *names, const char *const *texts,
                       const char *const *files, size_t n, char **ret_error)
{
    if (!p || (n && (!names || !texts)))
        return -EINVAL;
    if (ret_error)
        *ret_error = NULL;
    entry *e = mom_calloc(n ? n : 1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int r = names[i] && texts[i] ? entry_fill(&e[i], names[i], texts[i], files ? files[i] : NULL)
                                     : -EINVAL;
        if (r < 0) {
            entries_free(e, i + 1);
            return r;
        }
    }
    qsort(e, n, sizeof(*e), cmp_entry);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(e[i].name, e[i - 1].name) == 0) {
            if (ret_error)
                *ret_error = mom_asprintf(
                    "%s:1:1: error: policy name '%s' is also given by %s",
                    e[i].file ? e[i].file : e[i].name, e[i].name,
                    e[i - 1].file ? e[i - 1].file : e[i - 1].name);
            entries_free(e, n);
            return MOM_E_POLICY;
        }
    }
    return install(p, e, n, ret_error);
}

char *policy_set_text(const policy_set *p)
{
    if (!p)
        return NULL;
    if (joined_empty(p->e, p->n))
        return mom_strdup("0");
    size_t len = 0;
    for (size_t i = 0; i < p->n; i++)
        len += strlen(p->e[i].text) + 1;
    char *s = mom_malloc(len + 1), *w = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < p->n; i++) {
        if (i)
            *w++ = '\n';
        size_t l = strlen(p->e[i].text);
        memcpy(w, p->e[i].text, l);
        w += l;
    }
    *w = '\0';
    return s;
}

mom_value *policy_set_named(const policy_set *p)
{
    mom_value *m = value_new_map();
    for (size_t i = 0; m && p && i < p->n; i++)
        if (value_map_set(m, p->e[i].name, value_new_string(p->e[i].text)) < 0) {
            mom_value_unref(m);
            return NULL;
        }
    return m;
}

size_t policy_set_count(const policy_set *p)
{
    return p ? p->n : 0;
}

int policy_set_eval(policy_set *p, const snapshot *snap, controls **ret_controls,
                    mom_value **ret_results, char **ret_error)
{
    if (!p || !snap || !ret_controls)
        return -EINVAL;
    if (ret_error)
        *ret_error = NULL;
    if (!p->prog) {
        /* Nothing loaded yet: an empty program that succeeds. */
        controls *c = controls_new(snap->n_guests);
        mom_value *res = ret_results ? value_new_list() : NULL;
        if (!c || (ret_results && !res)) {
            controls_free(c);
            mom_value_unref(res);
            return -ENOMEM;
        }
        *ret_controls = c;
        if (ret_results)
            *ret_results = res;
        return 0;
    }
    return eval_program(p->prog, snap, &p->opts, &p->vs, ret_controls, ret_results, ret_error);
}

/* ---- files ---------------------------------------------------------------- */

/* Read a whole file into a NUL-terminated string. */
static int read_file(const char *path, char **ret)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    size_t len = 0, cap = 4096;
    char *buf = mom_malloc(cap);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= POLICY_MAX_FILE) {
                mom_free(buf);
                close(fd);
                return -EFBIG;
            }
            char *nb = mom_realloc(buf, cap * 2);
            if (!nb) {
                mom_free(buf);
                close(fd);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + len, cap - len - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int r = -errno;
            mom_free(buf);
            close(fd);
            return r;
        }
        if (k == 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        mom_free(buf);
        return -EILSEQ; /* a NUL byte: not a text file */
    }
    *ret = buf;
    return 0;
}

/* A list of policy files being gathered. */
typedef struct flist {
    char **names, **texts, **files;
    size_t n, cap;
} flist;

static void flist_done(flist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        mom_free(l->names[i]);
        mom_free(l->texts[i]);
        mom_free(l->files[i]);
    }
    mom_free(l->names);
    mom_free(l->texts);
    mom_free(l->files);
}

/* Read `path` and add it under `name` (taking name). */
static int flist_add(flist *l, char *name, const char *path, char **ret_error)
{
    if (!name)
        return -ENOMEM;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **a = mom_realloc(l->names, cap * sizeof(*a));
        if (a)
            l->names = a;
        char **b = a ? mom_realloc(l->texts, cap * sizeof(*b)) : NULL;
        if (b)
            l->texts = b;
        char **c = b ? mom_realloc(l->files, cap * sizeof(*c)) : NULL;
        if (!c) {
            mom_free(name);
            return -ENOMEM;
        }
        l->files = c;
        l->cap = cap;
    }
    char *text = NULL, *file = mom_strdup(path);
    int r = file ? read_file(path, &text) : -ENOMEM;
    if (r < 0) {
        if (r != -ENOMEM && ret_error)
            *ret_error = mom_asprintf("%s:1:1: error: cannot read the policy: %s", path,
                                      strerror(-r));
        mom_free(name);
        mom_free(file);
        return r == -ENOMEM ? r : MOM_E_POLICY;
    }
    l->names[l->n] = name;
    l->texts[l->n] = text;
    l->files[l->n++] = file;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add every *.mom and *.policy of `dir` that does not start with '.', in
 * sorted order. */
static int flist_add_dir(flist *l, const char *dir, char **ret_error)
{
    DIR *d = opendir(dir);
    if (!d) {
        int r = -errno;
        if (ret_error)
            *ret_error = mom_asprintf("%s: error: cannot open the policy directory: %s", dir,
                                      strerror(-r));
        return MOM_E_POLICY;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (nm[0] == '.' || !(ends_with(nm, ".mom") || ends_with(nm, ".policy")))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = mom_realloc(names, cap * sizeof(*nn));
            if (!nn) {
                r = -ENOMEM;
                break;
            }
            names = nn;
        }
        if (!(names[n] = mom_strdup(nm))) {
            r = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (r == 0 && n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; r == 0 && i < n; i++) {
        char *path = mom_asprintf("%s/%s", dir, names[i]);
        if (!path) {
            r = -ENOMEM;
            break;
        }
        r = flist_add(l, policy_name_from_path(path), path, ret_error);
        mom_free(path);
    }
    for (size_t i = 0; i < n; i++)
        mom_free(names[i]);
    mom_free(names);
    return r;
}

int policy_set_load_files(policy_set *p, const char *policy_file, const char *policy_dir,
                          char **ret_error)
{
    if (!p)
        return -EINVAL;
    if (ret_error)
        *ret_error = NULL;
    flist l = { 0 };
    int r = 0;
    if (policy_file)
        r = flist_add(&l, mom_strdup("50_main_"), policy_file, ret_error);
    if (r == 0 && policy_dir)
        r = flist_add_dir(&l, policy_dir, ret_error);
    if (r == 0)
        r = policy_set_replace(p, (const char *const *)l.names, (const char *const *)l.texts,
                               (const char *const *)l.files, l.n, ret_error);
    flist_done(&l);
    return r;
}

int policy_check_files(const policy_opts *opts, const char *const *paths, size_t n,
                       policy_report_fn report, void *userdata)
{
    flist l = { 0 };
    int rc = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        char *err = NULL;
        r = flist_add(&l, policy_name_from_path(paths[i]), paths[i], &err);
        if (r == -ENOMEM) {
            mom_free(err);
            goto out;
        }
        if (r < 0) {
            if (report && err)
                report(err, 1, userdata);
            rc = MOM_E_POLICY;
        }
        mom_free(err);
    }
    /* The readable files as one set, in name order: Fortran-like files
     * use each other's globals and procedures, so a file is only
     * meaningful within its set.  Every error and warning is reported. */
    entry *e = mom_calloc(l.n ? l.n : 1, sizeof(*e));
    if (!e) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < l.n; i++)
        if ((r = entry_fill(&e[i], l.names[i], l.texts[i], l.files[i])) < 0) {
            entries_free(e, i + 1);
            goto out;
        }
    qsort(e, l.n, sizeof(*e), cmp_entry);
    for (size_t i = 1; i < l.n; i++)
        if (strcmp(e[i].name, e[i - 1].name) == 0) {
            char *msg = mom_asprintf("%s:1:1: error: policy name '%s' is also given by %s",
                                     entry_label(&e[i]), e[i].name, entry_label(&e[i - 1]));
            if (msg && report)
                report(msg, 1, userdata);
            mom_free(msg);
            rc = MOM_E_POLICY;
        }
    if (rc == 0 || l.n) {
        program *prog = NULL;
        r = compile(opts, e, l.n, &prog, NULL, report, userdata);
        program_free(prog);
        if (r == -ENOMEM) {
            entries_free(e, l.n);
            goto out;
        }
        if (r < 0)
            rc = MOM_E_POLICY;
    }
    entries_free(e, l.n);
    r = rc;
out:
    flist_done(&l);
    return r;
}

char *policy_name_from_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 4 && strcmp(base + len - 4, ".mom") == 0)
        len -= 4;
    else if (len > 7 && strcmp(base + len - 7, ".policy") == 0)
        len -= 7;
    return mom_strndup(base, len);
}

/* ---- catalogs ------------------------------------------------------------- */

/* A policy_catalog with its own copies of the names. */
typedef struct owned_catalog {
    policy_catalog pub;
    char **lists[4];         /* NULL-terminated */
    size_t n[4];
} owned_catalog;

static owned_catalog *owned_of(policy_catalog *c)
{
    return (owned_catalog *)((char *)c - offsetof(owned_catalog, pub));
}

static void catalog_publish(owned_catalog *o)
{
    o->pub.host_fields = (const char *const *)o->lists[0];
    o->pub.guest_fields = (const char *const *)o->lists[1];
    o->pub.host_controls = (const char *const *)o->lists[2];
    o->pub.guest_controls = (const char *const *)o->lists[3];
}

int policy_catalog_add(policy_catalog *c, int which, const char *const *names)
{
    if (!c || which < 0 || which > 3)
        return -EINVAL;
    owned_catalog *o = owned_of(c);
    for (; names && *names; names++) {
        bool dup = false;
        for (size_t i = 0; i < o->n[which] && !dup; i++)
            dup = strcmp(o->lists[which][i], *names) == 0;
        if (dup)
            continue;
        char **l = mom_realloc(o->lists[which], (o->n[which] + 2) * sizeof(char *));
        if (!l)
            return -ENOMEM;
        o->lists[which] = l;
        if (!(l[o->n[which]] = mom_strdup(*names)))
            return -ENOMEM;
        l[++o->n[which]] = NULL;
    }
    catalog_publish(o);
    return 0;
}

policy_catalog *policy_catalog_new(const fieldtab *host_fields, const fieldtab *guest_fields,
                                   const mom_controller *const *controllers, size_t n_controllers)
{
    owned_catalog *o = mom_calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    int r = 0;
    for (int i = 0; r == 0 && i < 4; i++)
        if (!(o->lists[i] = mom_calloc(1, sizeof(char *))))
            r = -ENOMEM;
    catalog_publish(o);
    const fieldtab *ft[2] = { host_fields, guest_fields };
    for (int k = 0; r == 0 && k < 2; k++)
        for (size_t i = 0; r == 0 && ft[k] && i < ft[k]->n; i++) {
            const char *one[2] = { ft[k]->names[i], NULL };
            r = policy_catalog_add(&o->pub, k, one);
        }
    for (size_t i = 0; r == 0 && i < n_controllers; i++) {
        if (!controllers[i])
            continue;
        r = policy_catalog_add(&o->pub, 2, controllers[i]->host_controls);
        if (r == 0)
            r = policy_catalog_add(&o->pub, 3, controllers[i]->guest_controls);
    }
    if (r < 0) {
        policy_catalog_free(&o->pub);
        return NULL;
    }
    return &o->pub;
}

void policy_catalog_free(policy_catalog *c)
{
    if (!c)
        return;
    owned_catalog *o = owned_of(c);
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < o->n[k]; i++)
            mom_free(o->lists[k][i]);
        mom_free(o->lists[k]);
    }
    mom_free(o);
}
