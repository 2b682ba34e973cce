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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "lang/eval.h"
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

/* Compile entries (sorted by name) into a new program. */
static int compile(const entry *e, size_t n, program **ret, char **ret_error)
{
    program *prog;
    int r = program_new(&prog);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        lang_error err = { 0 };
        r = program_add(prog, e[i].name, e[i].file ? e[i].file : e[i].name, e[i].text,
                        e[i].dialect, &err);
        if (r == -EBADMSG) {
            if (ret_error)
                *ret_error = mom_asprintf("%s:%u:%u: error: %s",
                                          e[i].file ? e[i].file : e[i].name, err.line, err.col,
                                          err.msg);
            r = MOM_E_POLICY;
        }
        if (r < 0)
            goto fail;
    }
    if ((r = program_finish(prog)) < 0)
        goto fail;
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
    int r = compile(e, n, &prog, ret_error);
    if (r < 0) {
        entries_free(e, n);
        return r;
    }
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
    if (r == 0)
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
    /* Each file alone, so that every bad file is reported. */
    for (size_t i = 0; i < l.n; i++) {
        policy_set *one;
        if ((r = policy_set_new(opts, &one)) < 0)
            goto out;
        char *err = NULL;
        const char *nm = l.names[i], *tx = l.texts[i], *fl = l.files[i];
        r = policy_set_replace(one, &nm, &tx, &fl, 1, &err);
        policy_set_free(one);
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
    /* Then the whole set, for what only the set shows (duplicate names). */
    if (rc == 0 && l.n) {
        policy_set *all;
        if ((r = policy_set_new(opts, &all)) < 0)
            goto out;
        char *err = NULL;
        r = policy_set_replace(all, (const char *const *)l.names, (const char *const *)l.texts,
                               (const char *const *)l.files, l.n, &err);
        policy_set_free(all);
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
