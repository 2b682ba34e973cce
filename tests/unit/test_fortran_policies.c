/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The data-driven tests of the Fortran-like dialect: every case of every
 * tests/policy/fortran/NAME.txt file (format in that folder's README) is
 * one cmocka test that loads the policy text as "t.mom", evaluates it
 * once (twice with "x2") and compares the print output, the controls,
 * the warnings, or the error with the expectation.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdbool.h>
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
    int runs;        /* evaluations before the expectation is checked */
    char *text;
    char *kind;      /* "ok", "error", "fail" */
    char *expect;    /* "LINE:COL MESSAGE" for error and fail */
    char *body;      /* the lines after "--- ok" */
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
        tcase c = { .runs = 1 };
        char *hdr = dupn(p + 4, (size_t)(hdr_end - p - 4));
        char *hash = strstr(hdr, "  #");
        if (hash)
            *hash = '\0';
        char *at = strchr(hdr, '@');
        if (at) {
            char *end = at + 1;
            while (*end && *end != ' ')
                end++;
            c.fixture = dupn(at + 1, (size_t)(end - at - 1));
            memmove(at, end, strlen(end) + 1);
        }
        char *x2 = strstr(hdr, " x2");
        if (x2 && (x2[3] == '\0' || x2[3] == ' ')) {
            c.runs = 2;
            memmove(x2, x2 + 3, strlen(x2 + 3) + 1);
        }
        size_t hl = strlen(hdr);
        while (hl && hdr[hl - 1] == ' ')
            hdr[--hl] = '\0';
        c.title = malloc(strlen(fname) + hl + 3);
        sprintf(c.title, "%s: %s", fname, hdr);
        free(hdr);
        const char *body = hdr_end + 1, *q = body;
        while (*q && strncmp(q, "--- ", 4) != 0)
            q = next_line(q);
        assert_true(*q);
        size_t tl = (size_t)(q - body);
        if (tl && body[tl - 1] == '\n')
            tl--;
        c.text = dupn(body, tl);
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
        const char *be = q;
        while (*be && strncmp(be, "=== ", 4) != 0)
            be = next_line(be);
        c.body = dupn(q, (size_t)(be - q));
        p = be;
        *cases = realloc(*cases, (*n + 1) * sizeof(tcase));
        (*cases)[(*n)++] = c;
    }
}

static snapshot *empty_snapshot(void)
{
    snapshot *s = NULL;
    char *err = NULL;
    const char *j = "{\"host\": [{}]}";
    assert_int_equal(snapshot_json_parse(j, strlen(j), "empty", &s, &err), 0);
    return s;
}

/* Log lines the policy wrote. */
typedef struct capture {
    char **prints;
    size_t n_prints;
    char **warnings;
    size_t n_warnings;
} capture;

static void capture_log(mom_log_level level, const char *logger, const char *msg, void *userdata)
{
    (void)logger;
    capture *cap = userdata;
    if (level == MOM_LOG_DEBUG) {
        /* "t.mom:LINE: TEXT" -> TEXT */
        const char *s = strchr(msg, ':');
        s = s ? strchr(s + 1, ':') : NULL;
        s = s ? s + 2 : msg;
        cap->prints = realloc(cap->prints, (cap->n_prints + 1) * sizeof(char *));
        cap->prints[cap->n_prints++] = strdup(s);
    } else if (level == MOM_LOG_WARN) {
        cap->warnings = realloc(cap->warnings, (cap->n_warnings + 1) * sizeof(char *));
        cap->warnings[cap->n_warnings++] = strdup(msg);
    }
}

static void capture_free(capture *cap)
{
    for (size_t i = 0; i < cap->n_prints; i++)
        free(cap->prints[i]);
    for (size_t i = 0; i < cap->n_warnings; i++)
        free(cap->warnings[i]);
    free(cap->prints);
    free(cap->warnings);
    memset(cap, 0, sizeof(*cap));
}

/* Check the body of an "ok" case: print, warning, host and gN lines. */
static void check_ok(const tcase *c, const capture *cap, const controls *ctl, size_t first_print)
{
    size_t n = ctl->n_guests + 1;
    char **want = calloc(n, sizeof(char *));
    size_t np = first_print;
    bool no_warnings = false;
    const char *p = c->body;
    while (*p) {
        const char *e = strchr(p, '\n');
        if (!e)
            e = p + strlen(p);
        char *line = dupn(p, (size_t)(e - p));
        p = *e ? e + 1 : e;
        if (!*line || line[0] == '#') {
            free(line);
            continue;
        }
        if (strncmp(line, "print ", 6) == 0 || strcmp(line, "print") == 0) {
            const char *w = line[5] ? line + 6 : "";
            if (np >= cap->n_prints)
                fail_msg("%s: expected print output '%s', got no more output", c->title, w);
            if (strcmp(cap->prints[np], w) != 0)
                fail_msg("%s: print output %zu:\n  got  '%s'\n  want '%s'", c->title, np + 1,
                         cap->prints[np], w);
            np++;
        } else if (strncmp(line, "warning ", 8) == 0) {
            char want_w[600];
            const char *sp = strchr(line + 8, ' ');
            assert_non_null(sp);
            snprintf(want_w, sizeof(want_w), "t.mom:%.*s: warning: %s", (int)(sp - line - 8),
                     line + 8, sp + 1);
            bool found = false;
            for (size_t i = 0; i < cap->n_warnings; i++)
                if (strcmp(cap->warnings[i], want_w) == 0)
                    found = true;
            if (!found)
                fail_msg("%s: expected the warning '%s' (%zu warnings, first: %s)", c->title,
                         want_w, cap->n_warnings, cap->n_warnings ? cap->warnings[0] : "-");
        } else if (strcmp(line, "no warnings") == 0) {
            no_warnings = true;
        } else {
            const char *sp = strchr(line, ' ');
            assert_non_null(sp);
            size_t idx = strncmp(line, "host", 4) == 0 ? 0 : (size_t)atoi(line + 1) + 1;
            if (idx >= n)
                fail_msg("%s: no entity for '%s'", c->title, line);
            want[idx] = strdup(sp + 1);
        }
        free(line);
    }
    if (np != cap->n_prints)
        fail_msg("%s: unexpected print output '%s'", c->title, cap->prints[np]);
    if (no_warnings && cap->n_warnings)
        fail_msg("%s: unexpected warning: %s", c->title, cap->warnings[0]);
    for (size_t i = 0; i < n; i++) {
        const mom_value *m = i == 0 ? ctl->host : ctl->guests[i - 1];
        char *got = value_to_json(m);
        if (!want[i]) {
            if (mom_value_len(m) != 0)
                fail_msg("%s: unexpected controls for %s %zu: %s", c->title,
                         i ? "guest" : "the host", i ? i - 1 : 0, got);
        } else if (strcmp(got, want[i]) != 0) {
            fail_msg("%s: controls of %s %zu:\n  got  %s\n  want %s", c->title,
                     i ? "guest" : "host", i ? i - 1 : 0, got, want[i]);
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
        snprintf(path, sizeof(path), "%s/tests/policy/fortran/%s", srcdir(), c->fixture);
        char *err = NULL;
        if (snapshot_json_load_file(path, &snap, &err) < 0)
            fail_msg("%s: snapshot %s: %s", c->title, path, err ? err : "?");
    } else {
        snap = empty_snapshot();
    }
    capture cap = { 0 };
    mlog log;
    mlog_init(&log, capture_log, &cap, MOM_LOG_DEBUG);
    policy_opts o = { .log = &log };
    policy_set *p;
    assert_int_equal(policy_set_new(&o, &p), 0);
    char *err = NULL;
    controls *ctl = NULL;
    int r = policy_set_set(p, "t", c->text, "t.mom", &err);
    size_t first_print = 0;
    for (int i = 0; r == 0 && i < c->runs; i++) {
        controls_free(ctl);
        ctl = NULL;
        if (i == c->runs - 1)
            first_print = cap.n_prints;
        r = policy_set_eval(p, snap, &ctl, NULL, &err);
    }
    if (strcmp(c->kind, "ok") == 0) {
        if (r != 0)
            fail_msg("%s: expected success, got error %d: %s", c->title, r, err ? err : "(none)");
        check_ok(c, &cap, ctl, first_print);
    } else {
        if (r == 0)
            fail_msg("%s: expected an error", c->title);
        assert_int_equal(r, MOM_E_POLICY);
        assert_non_null(err);
        const char *sp = strchr(c->expect, ' ');
        assert_non_null(sp);
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "t.mom:%.*s: error: ", (int)(sp - c->expect), c->expect);
        if (strncmp(err, prefix, strlen(prefix)) != 0)
            fail_msg("%s: error location:\n  got  %s\n  want %s%s", c->title, err, prefix, sp + 1);
        const char *msg = err + strlen(prefix);
        bool ok = strcmp(c->kind, "error") == 0 ? strcmp(msg, sp + 1) == 0
                                                 : strstr(msg, sp + 1) != NULL;
        if (!ok)
            fail_msg("%s: error message:\n  got  %s\n  want %s%s", c->title, msg,
                     strcmp(c->kind, "error") == 0 ? "" : "... ", sp + 1);
    }
    mom_free(err);
    controls_free(ctl);
    policy_set_free(p);
    snapshot_unref(snap);
    capture_free(&cap);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/tests/policy/fortran", srcdir());
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
    int rc = _cmocka_run_group_tests("fortran_policies", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        free(cases[i].title);
        free(cases[i].fixture);
        free(cases[i].text);
        free(cases[i].kind);
        free(cases[i].expect);
        free(cases[i].body);
    }
    free(cases);
    free(tests);
    return rc;
}
