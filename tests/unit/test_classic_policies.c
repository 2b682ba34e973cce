/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The data-driven classic-dialect tests: every case of every
 * tests/policy/classic/NAME.txt file (format in that folder's README) is one
 * cmocka test that loads the policy text, evaluates it and compares the
 * results list, the controls, or the error with the expectation.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/snapshot_json.h"
#include "lang/policy.h"

typedef struct tcase {
    char *title;
    char *fixture;   /* path relative to the checkout, or NULL */
    char *text;
    char *kind;      /* "results", "error", "fail" */
    char *expect;    /* results line, or "LINE:COL MESSAGE" */
    char *controls;  /* lines of the controls block, or NULL */
} tcase;

static const char *srcdir(void)
{
    const char *d = getenv("MOM_TEST_SRCDIR");
    return d ? d : ".";
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Start of the line after p (or the end). */
static const char *next_line(const char *p)
{
    const char *nl = strchr(p, '\n');
    return nl ? nl + 1 : p + strlen(p);
}

/* Split one file into cases appended to *cases. */
static void parse_file(const char *fname, const char *data, tcase **cases, size_t *n)
{
    const char *p = data;
    while (*p && strncmp(p, "=== ", 4) != 0)
        p = next_line(p);
    while (*p) {
        const char *hdr_end = strchr(p, '\n');
        assert_non_null(hdr_end);
        tcase c = { 0 };
        char *hdr = dupn(p + 4, (size_t)(hdr_end - p - 4));
        char *hash = strstr(hdr, "  #");
        if (hash)
            *hash = '\0';
        char *at = strchr(hdr, '@');
        if (at) {
            c.fixture = strdup(at + 1);
            char *e = c.fixture + strlen(c.fixture);
            while (e > c.fixture && e[-1] == ' ')
                *--e = '\0';
            *at = '\0';
        }
        size_t hl = strlen(hdr);
        while (hl && hdr[hl - 1] == ' ')
            hdr[--hl] = '\0';
        c.title = malloc(strlen(fname) + hl + 3);
        sprintf(c.title, "%s: %s", fname, hdr);
        free(hdr);
        /* The text runs to the first "--- " line. */
        const char *body = hdr_end + 1, *q = body;
        while (*q && strncmp(q, "--- ", 4) != 0)
            q = next_line(q);
        assert_true(*q);
        size_t tl = (size_t)(q - body);
        if (tl && body[tl - 1] == '\n')
            tl--;
        c.text = dupn(body, tl);
        /* Directive line: "--- KIND REST". */
        const char *dl = q + 4, *dl_end = strchr(dl, '\n');
        if (!dl_end)
            dl_end = dl + strlen(dl);
        char *dir = dupn(dl, (size_t)(dl_end - dl));
        char *sp = strchr(dir, ' ');
        if (sp) {
            *sp = '\0';
            c.expect = strdup(sp + 1);
        }
        c.kind = dir;
        q = *dl_end ? dl_end + 1 : dl_end;
        if (strcmp(c.kind, "results") == 0) {
            const char *rl_end = strchr(q, '\n');
            if (!rl_end)
                rl_end = q + strlen(q);
            c.expect = dupn(q, (size_t)(rl_end - q));
            q = *rl_end ? rl_end + 1 : rl_end;
            if (strncmp(q, "--- controls", 12) == 0) {
                const char *cb = next_line(q), *ce = cb;
                while (*ce && strncmp(ce, "=== ", 4) != 0)
                    ce = next_line(ce);
                c.controls = dupn(cb, (size_t)(ce - cb));
                q = ce;
            }
        }
        while (*q && strncmp(q, "=== ", 4) != 0)
            q = next_line(q);
        p = q;
        *cases = realloc(*cases, (*n + 1) * sizeof(tcase));
        (*cases)[(*n)++] = c;
    }
}

static snapshot *empty_snapshot(void)
{
    snapshot *s = snapshot_new(0);
    assert_non_null(s);
    fieldtab *ft = fieldtab_new();
    assert_non_null(ft);
    fieldtab_finish(ft);
    sample *smp = sample_new(0);
    assert_int_equal(snap_entity_init(&s->host, MOM_ENTITY_HOST, "host", "host", NULL, 0, NULL,
                                      ft, &smp, 1),
                     0);
    sample_unref(smp);
    s->host.own_fields = ft;
    s->host_fields = ft;
    return s;
}

/* "[a, b]" of a results LIST. */
static char *join_results(const mom_value *res)
{
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    s[len++] = '[';
    for (size_t i = 0; i < mom_value_len(res); i++) {
        const char *item = mom_value_string(mom_value_at(res, i));
        size_t need = strlen(item) + 3;
        while (len + need + 2 > cap)
            s = realloc(s, cap *= 2);
        if (i) {
            s[len++] = ',';
            s[len++] = ' ';
        }
        memcpy(s + len, item, strlen(item));
        len += strlen(item);
    }
    s[len++] = ']';
    s[len] = '\0';
    return s;
}

/* Compare the controls with the "host {...}" / "gN {...}" lines. */
static void check_controls(const tcase *c, const controls *ctl)
{
    size_t n = ctl->n_guests + 1;
    char **want = calloc(n, sizeof(char *));
    const char *p = c->controls;
    while (*p) {
        const char *e = strchr(p, '\n');
        if (!e)
            e = p + strlen(p);
        if (e > p) {
            const char *sp = memchr(p, ' ', (size_t)(e - p));
            assert_non_null(sp);
            size_t idx = strncmp(p, "host", 4) == 0 ? 0 : (size_t)atoi(p + 1) + 1;
            assert_true(idx < n);
            want[idx] = dupn(sp + 1, (size_t)(e - sp - 1));
        }
        p = *e ? e + 1 : e;
    }
    for (size_t i = 0; i < n; i++) {
        const mom_value *m = i == 0 ? ctl->host : ctl->guests[i - 1];
        char *got = value_to_json(m);
        if (!want[i]) {
            if (mom_value_len(m) != 0)
                fail_msg("%s: unexpected controls for %s: %s", c->title,
                         i ? "a guest" : "the host", got);
        } else if (strcmp(got, want[i]) != 0) {
            fail_msg("%s: controls of %s:\n  got  %s\n  want %s", c->title, i ? "guest" : "host",
                     got, want[i]);
        }
        mom_free(got);
        free(want[i]);
    }
    free(want);
}

static void run_case(void **state)
{
    const tcase *c = *state;
    snapshot *snap = NULL;
    if (c->fixture) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", srcdir(), c->fixture);
        char *err = NULL;
        if (snapshot_json_load_file(path, &snap, &err) < 0)
            fail_msg("%s: snapshot %s: %s", c->title, path, err ? err : "?");
    } else {
        snap = empty_snapshot();
    }
    policy_set *p;
    policy_opts o = { 0 };
    assert_int_equal(policy_set_new(&o, &p), 0);
    char *err = NULL;
    controls *ctl = NULL;
    mom_value *res = NULL;
    int r = policy_set_set(p, "t", c->text, "t.policy", &err);
    if (r == 0)
        r = policy_set_eval(p, snap, &ctl, &res, &err);
    if (strcmp(c->kind, "results") == 0) {
        if (r != 0)
            fail_msg("%s: expected %s, got error %d: %s", c->title, c->expect, r,
                     err ? err : "(none)");
        char *got = join_results(res);
        if (strcmp(got, c->expect) != 0)
            fail_msg("%s:\n  got  %s\n  want %s", c->title, got, c->expect);
        free(got);
        if (c->controls)
            check_controls(c, ctl);
    } else {
        if (r == 0) {
            char *got = join_results(res);
            fail_msg("%s: expected an error, got %s", c->title, got);
        }
        assert_int_equal(r, MOM_E_POLICY);
        assert_non_null(err);
        const char *sp = strchr(c->expect, ' ');
        assert_non_null(sp);
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "t.policy:%.*s: error: ", (int)(sp - c->expect), c->expect);
        if (strncmp(err, prefix, strlen(prefix)) != 0)
            fail_msg("%s: error location:\n  got  %s\n  want %s%s", c->title, err, prefix,
                     sp + 1);
        const char *msg = err + strlen(prefix);
        bool ok = strcmp(c->kind, "error") == 0 ? strcmp(msg, sp + 1) == 0
                                                 : strstr(msg, sp + 1) != NULL;
        if (!ok)
            fail_msg("%s: error message:\n  got  %s\n  want %s%s", c->title, msg,
                     strcmp(c->kind, "error") == 0 ? "" : "... ", sp + 1);
    }
    mom_free(err);
    controls_free(ctl);
    mom_value_unref(res);
    policy_set_free(p);
    snapshot_unref(snap);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/tests/policy/classic", srcdir());
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return 1;
    }
    char **files = NULL;
    size_t nf = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".txt") == 0) {
            files = realloc(files, (nf + 1) * sizeof(char *));
            files[nf++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(files, nf, sizeof(char *), cmp_names);
    tcase *cases = NULL;
    size_t n = 0;
    for (size_t i = 0; i < nf; i++) {
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        char *data = slurp(path);
        if (!data) {
            fprintf(stderr, "cannot read %s\n", path);
            return 1;
        }
        parse_file(files[i], data, &cases, &n);
        free(data);
        free(files[i]);
    }
    free(files);
    struct CMUnitTest *tests = calloc(n ? n : 1, sizeof(*tests));
    for (size_t i = 0; i < n; i++) {
        tests[i].name = cases[i].title;
        tests[i].test_func = run_case;
        tests[i].initial_state = &cases[i];
    }
    int rc = _cmocka_run_group_tests("classic_policies", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        free(cases[i].title);
        free(cases[i].fixture);
        free(cases[i].text);
        free(cases[i].kind);
        free(cases[i].expect);
        free(cases[i].controls);
    }
    free(cases);
    free(tests);
    return rc;
}
