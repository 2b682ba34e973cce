/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fortran-like policies in policy sets (lang/policy.h): `save` across
 * cycles and across set replacement, globals shared with classic files,
 * calls between the dialects both ways, all-or-nothing cycles with stop
 * and run-time errors, getvar/setvar shared with classic SetVar/GetVar,
 * several files in one set, load-time checks against a configured
 * catalog, warnings, and policy_check_files on a mixed set.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/snapshot_json.h"
#include "lang/policy.h"
#include "policyfx.h"

/* A host with mem_free and two guests. */
static const char good_snap[] =
    "{\"host\": [{\"mem_free\": 100, \"mem_available\": 1000}],"
    " \"guests\": [{\"props\": {\"name\": \"vm1\", \"uuid\": \"u1\"},"
    "               \"stats\": [{\"balloon_cur\": 10}]},"
    "              {\"props\": {\"name\": \"vm2\", \"uuid\": \"u2\"},"
    "               \"stats\": [{\"balloon_cur\": 20}]}]}";
/* The same with mem_free absent. */
static const char bad_snap[] =
    "{\"host\": [{\"mem_free\": null, \"mem_available\": 1000}],"
    " \"guests\": [{\"props\": {\"name\": \"vm1\", \"uuid\": \"u1\"},"
    "               \"stats\": [{\"balloon_cur\": 10}]},"
    "              {\"props\": {\"name\": \"vm2\", \"uuid\": \"u2\"},"
    "               \"stats\": [{\"balloon_cur\": 20}]}]}";

static char *set_err(policyfx *f, const char *name, const char *text, const char *file)
{
    char *err = NULL;
    int r = policy_set_set(f->p, name, text, file, &err);
    if (r == 0)
        fail_msg("loading %s should fail", name);
    assert_int_equal(r, MOM_E_POLICY);
    return err;
}

/* Evaluate; on success return the host's controls as JSON (malloc). */
static char *eval_host(policyfx *f, const snapshot *s, char **ret_error)
{
    controls *c = NULL;
    char *err = NULL;
    int r = policy_set_eval(f->p, s, &c, NULL, &err);
    if (r != 0) {
        if (!ret_error)
            fail_msg("evaluation failed: %s", err ? err : "?");
        *ret_error = err;
        return NULL;
    }
    char *j = value_to_json(c->host);
    char *out = strdup(j);
    mom_free(j);
    controls_free(c);
    return out;
}

static void assert_host(policyfx *f, const snapshot *s, const char *want)
{
    char *got = eval_host(f, s, NULL);
    if (strcmp(got, want) != 0)
        fail_msg("host controls:\n  got  %s\n  want %s", got, want);
    free(got);
}

/* The classic results list as "[a, b]". */
static char *results(policyfx *f, const snapshot *s)
{
    controls *c = NULL;
    mom_value *res = NULL;
    char *err = NULL;
    if (policy_set_eval(f->p, s, &c, &res, &err) != 0)
        fail_msg("evaluation failed: %s", err ? err : "?");
    char buf[1024] = "[";
    for (size_t i = 0; i < mom_value_len(res); i++) {
        if (i)
            strcat(buf, ", ");
        strncat(buf, mom_value_string(mom_value_at(res, i)), 200);
    }
    strcat(buf, "]");
    controls_free(c);
    mom_value_unref(res);
    return strdup(buf);
}

/* ---- save -------------------------------------------------------------------- */

static const char counter_text[] = "integer, save :: n = 0\n"
                                   "integer :: m = 0\n"
                                   "n = n + 1\n"
                                   "m = m + 1\n"
                                   "host%ksm_run = n\n"
                                   "host%ksm_pages_to_scan = m\n";

static void test_save_across_cycles(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(NULL, 0, 0);
    snapshot *s = policyfx_snap(good_snap);
    policyfx_set_ok(f, "c", counter_text, "c.mom");
    assert_host(f, s, "{\"ksm_run\": 1, \"ksm_pages_to_scan\": 1}");
    assert_host(f, s, "{\"ksm_run\": 2, \"ksm_pages_to_scan\": 1}");
    assert_host(f, s, "{\"ksm_run\": 3, \"ksm_pages_to_scan\": 1}");
    snapshot_unref(s);
    policyfx_free(f);
}

static void test_save_across_replacement(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(NULL, 0, 0);
    snapshot *s = policyfx_snap(good_snap);
    policyfx_set_ok(f, "c", counter_text, "c.mom");
    assert_host(f, s, "{\"ksm_run\": 1, \"ksm_pages_to_scan\": 1}");
    assert_host(f, s, "{\"ksm_run\": 2, \"ksm_pages_to_scan\": 1}");
    /* Another policy of the set changes: n keeps its value. */
    policyfx_set_ok(f, "other", "print *, 'x'\n", "other.mom");
    assert_host(f, s, "{\"ksm_run\": 3, \"ksm_pages_to_scan\": 1}");
    /* The same policy with new text that still declares save n. */
    policyfx_set_ok(f, "c", "integer, save :: n = 100\nn = n + 10\nhost%ksm_run = n\n", "c.mom");
    assert_host(f, s, "{\"ksm_run\": 13}");
    /* Another type: it starts from its initializer. */
    policyfx_set_ok(f, "c", "real, save :: n = 100\nn = n + 10\nhost%ksm_run = n\n", "c.mom");
    assert_host(f, s, "{\"ksm_run\": 110.0}");
    /* Without save: every cycle starts from the initializer. */
    policyfx_set_ok(f, "c", "real :: n = 5\nn = n + 1\nhost%ksm_run = n\n", "c.mom");
    assert_host(f, s, "{\"ksm_run\": 6.0}");
    policyfx_set_ok(f, "c", "real, save :: n = 7\nn = n + 1\nhost%ksm_run = n\n", "c.mom");
    assert_host(f, s, "{\"ksm_run\": 8.0}");
    /* A set that does not load changes nothing. */
    char *err = set_err(f, "c", "real, save :: n = 7\nn = = 1\n", "c.mom");
    mom_free(err);
    assert_host(f, s, "{\"ksm_run\": 9.0}");
    /* Strings and saved locals survive too. */
    policyfx_set_ok(f, "c",
           "character, save :: tag = 'a'\n"
           "tag = tag // 'b'\n"
           "call bump()\n"
           "print *, tag\n"
           "subroutine bump()\n"
           "   integer, save :: k = 0\n"
           "   k = k + 1\n"
           "   host%ksm_run = k\n"
           "end subroutine\n",
           "c.mom");
    assert_host(f, s, "{\"ksm_run\": 1}");
    policyfx_set_ok(f, "other", "print *, 'y'\n", "other.mom");
    assert_host(f, s, "{\"ksm_run\": 2}");
    assert_string_equal(f->cap.debug[f->cap.n_debug - 2], "c.mom:4: abb");
    snapshot_unref(s);
    policyfx_free(f);
}

/* ---- all or nothing ---------------------------------------------------------- */

static void test_failed_cycle_has_no_effect(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(NULL, 0, 0);
    snapshot *good = policyfx_snap(good_snap), *bad = policyfx_snap(bad_snap);
    policyfx_set_ok(f, "c",
           "integer, save :: n = 0\n"
           "integer :: k\n"
           "n = n + 1\n"
           "k = getvar(host, 'k')\n"
           "if (.not. present(k)) k = 0\n"
           "call setvar(host, 'k', k + 1)\n"
           "host%ksm_run = n * 100 + k\n"
           "if (host%mem_free > 0) host%ksm_pages_to_scan = 1\n",
           "c.mom");
    assert_host(f, good, "{\"ksm_run\": 100, \"ksm_pages_to_scan\": 1}");
    char *err = NULL;
    assert_null(eval_host(f, bad, &err));
    assert_string_equal(err, "c.mom:8:10: error: host: mem_free is absent; test it with present()");
    mom_free(err);
    /* Neither n nor the entity memory moved. */
    assert_host(f, good, "{\"ksm_run\": 201, \"ksm_pages_to_scan\": 1}");
    /* stop: the same. */
    policyfx_set_ok(f, "d", "if (host%mem_available > 10) stop 'no'\n", "d.mom");
    err = NULL;
    assert_null(eval_host(f, good, &err));
    assert_string_equal(err, "d.mom:1:30: error: stop: no");
    mom_free(err);
    policyfx_set_ok(f, "d", "print *, 'ok'\n", "d.mom");
    assert_host(f, good, "{\"ksm_run\": 302, \"ksm_pages_to_scan\": 1}");
    snapshot_unref(good);
    snapshot_unref(bad);
    policyfx_free(f);
}

static void test_error_names_guest(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(NULL, 0, 0);
    snapshot *s = policyfx_snap(good_snap);
    policyfx_set_ok(f, "e",
           "do g in guests\n"
           "   if (g%balloon_cur > 15) g%balloon_target = g%balloon_cur / 0\n"
           "end do\n",
           "/etc/mom.d/e.mom");
    char *err = NULL;
    assert_null(eval_host(f, s, &err));
    assert_string_equal(err, "/etc/mom.d/e.mom:2:61: error: division by zero (guest vm2)");
    mom_free(err);
    snapshot_unref(s);
    policyfx_free(f);
}

static void test_step_limit(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(NULL, 0, 0);
    f->opts.step_limit = 1000; /* the set keeps its own copy: make a new one */
    policy_set_free(f->p);
    assert_int_equal(policy_set_new(&f->opts, &f->p), 0);
    snapshot *s = policyfx_snap(good_snap);
    policyfx_set_ok(f, "loop", "integer :: i = 0\ndo while (.true.)\n   i = i + 1\nend do\n", "loop.mom");
    char *err = NULL;
    assert_null(eval_host(f, s, &err));
    assert_non_null(strstr(err, "policy step limit exceeded"));
    assert_int_equal(strncmp(err, "loop.mom:", 9), 0);
    mom_free(err);
    snapshot_unref(s);
    policyfx_free(f);
}

/* ---- mixed sets ----------------------------------------------------------------- */

static void test_shared_globals(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(NULL, 0, 0);
    snapshot *s = policyfx_snap(good_snap);
    policyfx_set_ok(f, "00-defines", "integer :: balloonEnabled = 1\ninteger, parameter :: limit = 7\n",
           "00-defines.mom");
    /* oVirt's named policy, classic, sets the Fortran-like global. */
    policyfx_set_ok(f, "01-parameters", "(set balloonEnabled 0) (+ limit 1)", NULL);
    policyfx_set_ok(f, "10-use", "host%ksm_run = balloonEnabled\nhost%ksm_pages_to_scan = limit\n",
           "10-use.mom");
    char *r = results(f, s);
    assert_string_equal(r, "[0, 8]");
    free(r);
    assert_host(f, s, "{\"ksm_run\": 0, \"ksm_pages_to_scan\": 7}");
    /* A classic set converts by the assignment rules. */
    policyfx_set_ok(f, "01-parameters", "(set balloonEnabled 2.9)", NULL);
    assert_host(f, s, "{\"ksm_run\": 2, \"ksm_pages_to_scan\": 7}");
    /* ... and any other mismatch is a run-time error. */
    policyfx_set_ok(f, "01-parameters", "(set balloonEnabled \"yes\")", NULL);
    char *err = NULL;
    assert_null(eval_host(f, s, &err));
    assert_string_equal(err, "01-parameters:1:6: error: cannot set the integer variable "
                             "balloonEnabled to str");
    mom_free(err);
    /* A parameter cannot be set from classic code. */
    policyfx_set_ok(f, "01-parameters", "(set limit 3)", NULL);
    err = NULL;
    assert_null(eval_host(f, s, &err));
    assert_string_equal(err, "01-parameters:1:6: error: cannot set limit: it is a Fortran-like "
                             "parameter");
    mom_free(err);
    /* A top-level classic defvar of a Fortran-like global is a no-op,
     * and a global without save starts each cycle from its initializer. */
    policyfx_set_ok(f, "01-parameters", "(defvar balloonEnabled 5) balloonEnabled", NULL);
    r = results(f, s);
    assert_string_equal(r, "[1, 1]");
    free(r);
    assert_host(f, s, "{\"ksm_run\": 1, \"ksm_pages_to_scan\": 7}");
    snapshot_unref(s);
    policyfx_free(f);
}

static void test_cross_dialect_calls(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(NULL, 0, 0);
    snapshot *s = policyfx_snap(good_snap);
    policyfx_set_ok(f, "10-classic",
           "(def twice (x) (* 2 x))\n"
           "(def big (x) (> x 15))\n"
           "(def flag (x) (if (> x 15) 1 0))\n"
           "(triple 5)\n"
           "(with Guests g (mark g))\n",
           "10-classic.policy");
    policyfx_set_ok(f, "20-fortran",
           "integer :: scale = 3\n"
           "print *, twice(21), big(20), big(1)\n"
           "integer function triple(x)\n"
           "   triple = scale * x\n"
           "end function\n"
           "subroutine mark(g)\n"
           "   g%balloon_target = twice(g%balloon_cur)\n"
           "end subroutine\n",
           "20-fortran.mom");
    char *r = results(f, s);
    assert_string_equal(r, "['twice', 'big', 'flag', 15, [None, None]]");
    free(r);
    assert_string_equal(f->cap.debug[f->cap.n_debug - 1], "20-fortran.mom:2: 42 T F");
    controls *c = NULL;
    char *err = NULL;
    assert_int_equal(policy_set_eval(f->p, s, &c, NULL, &err), 0);
    char *j = value_to_json(c->guests[1]);
    assert_string_equal(j, "{\"balloon_target\": 40}");
    mom_free(j);
    controls_free(c);

    /* A classic 1/0 is not a logical. */
    policyfx_set_ok(f, "30-cond", "if (flag(20)) print *, 'x'\n", "30-cond.mom");
    assert_null(eval_host(f, s, &err));
    assert_string_equal(err, "30-cond.mom:1:5: error: a condition must be logical, not integer");
    mom_free(err);
    policyfx_set_ok(f, "30-cond", "if (flag(20) == 1) host%ksm_run = 1\n", "30-cond.mom");
    assert_host(f, s, "{\"ksm_run\": 1}");

    /* The arity of a top-level classic def is checked at load. */
    err = set_err(f, "30-cond", "print *, twice(1, 2)\n", "30-cond.mom");
    assert_string_equal(err, "30-cond.mom:1:10: error: the classic function 'twice' takes 1 "
                             "argument, 2 given");
    mom_free(err);
    /* A classic def may not take the name of a Fortran-like procedure. */
    err = set_err(f, "40-clash", "(def triple (x) x)", "40-clash.policy");
    assert_string_equal(err, "40-clash.policy:1:6: error: the classic def 'triple' has the name "
                             "of a Fortran-like procedure (20-fortran.mom:3)");
    mom_free(err);
    /* ... nor at run time. */
    policyfx_set_ok(f, "40-clash", "(if 1 (def triple (x) x) 0)", "40-clash.policy");
    assert_null(eval_host(f, s, &err));
    assert_string_equal(err, "40-clash.policy:1:12: error: def triple: a Fortran-like procedure "
                             "has this name");
    mom_free(err);
    snapshot_unref(s);
    policyfx_free(f);
}

static void test_vars_shared_with_classic(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(NULL, 0, 0);
    snapshot *s = policyfx_snap(good_snap);
    policyfx_set_ok(f, "10-classic", "(Host.SetVar \"runs\" (+ 1 (if (valid (Host.GetVar \"runs\")) "
                            "(Host.GetVar \"runs\") 0)))",
           "10-classic.policy");
    policyfx_set_ok(f, "20-fortran",
           "host%ksm_run = getvar(host, 'runs')\n"
           "call setvar(host, 'from_fortran', 'yes')\n",
           "20-fortran.mom");
    policyfx_set_ok(f, "30-classic", "(Host.GetVar \"from_fortran\")", "30-classic.policy");
    char *r = results(f, s);
    assert_string_equal(r, "[None, 'yes']");
    free(r);
    assert_host(f, s, "{\"ksm_run\": 2}");
    assert_host(f, s, "{\"ksm_run\": 3}");
    snapshot_unref(s);
    policyfx_free(f);
}

static void test_files_share_globals_and_procedures(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(NULL, 0, 0);
    snapshot *s = policyfx_snap(good_snap);
    /* "a" runs first but uses what "b" declares. */
    char *err = set_err(f, "a", "host%ksm_run = helper(base)\n", "a.mom");
    assert_string_equal(err, "a.mom:1:23: error: 'base' is not declared");
    mom_free(err);
    policyfx_set_ok(f, "b", "integer :: base = 4\ninteger function helper(x)\n   helper = x * 10\nend function\n",
           "b.mom");
    policyfx_set_ok(f, "a", "host%ksm_run = helper(base)\n", "a.mom");
    assert_host(f, s, "{\"ksm_run\": 40}");
    err = set_err(f, "c", "integer :: base = 1\n", "c.mom");
    assert_string_equal(err, "c.mom:1:12: error: 'base' is already declared in b.mom:1");
    mom_free(err);
    snapshot_unref(s);
    policyfx_free(f);
}

/* ---- catalogs and warnings ----------------------------------------------------- */

static void test_catalog(void **state)
{
    (void)state;
    static const char *const host_fields[] = { "mem_free", "my_plugin_stat", NULL };
    static const char *const host_controls[] = { "my_knob", NULL };
    static const char *const guest_controls[] = { "balloon_target", NULL };
    policy_catalog cat = { .host_fields = host_fields, .host_controls = host_controls,
                           .guest_controls = guest_controls };
    policyfx *f = policyfx_new(&cat, 0, 0);
    snapshot *s = policyfx_snap(good_snap);
    policyfx_set_ok(f, "p",
           "integer :: unused_one\n"
           "host%my_knob = host%my_plugin_stat\n"
           "host%ksm_run = host%ksm_pages_shared\n",
           "p.mom");
    static const char *const want[] = {
        "p.mom:3:6: warning: no configured controller carries out the control 'ksm_run' (it is "
        "ignored)",
        "p.mom:3:21: warning: no configured collector produces the statistic 'ksm_pages_shared' "
        "(it reads as absent)",
        "p.mom:1:12: warning: 'unused_one' is declared but never used",
    };
    assert_int_equal(f->cap.n_warn, 3);
    for (int i = 0; i < 3; i++) {
        bool found = false;
        for (int k = 0; k < f->cap.n_warn; k++)
            found |= strcmp(f->cap.warn[k], want[i]) == 0;
        if (!found)
            fail_msg("missing warning: %s", want[i]);
    }
    /* A name in no catalog is an error with a suggestion. */
    char *err = set_err(f, "q", "host%my_knb = 1\n", "q.mom");
    assert_string_equal(err, "q.mom:1:6: error: 'my_knb' is not a control of the host; did you "
                             "mean 'my_knob'?");
    mom_free(err);
    err = set_err(f, "q", "print *, host%my_plugin_sta\n", "q.mom");
    assert_string_equal(err, "q.mom:1:15: error: 'my_plugin_sta' is not a statistic, property or "
                             "control of the host; did you mean 'my_plugin_stat'?");
    mom_free(err);
    snapshot_unref(s);
    policyfx_free(f);
}

typedef struct reports {
    int n_err, n_warn;
    char lines[16][300];
    int n;
} reports;

static void report(const char *line, int is_error, void *userdata)
{
    reports *r = userdata;
    if (is_error)
        r->n_err++;
    else
        r->n_warn++;
    if (r->n < 16)
        snprintf(r->lines[r->n++], 300, "%s", line);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_check_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/mom-fcheck-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char pa[256], pb[256], pc[256];
    snprintf(pa, sizeof(pa), "%s/a.mom", dir);
    snprintf(pb, sizeof(pb), "%s/b.mom", dir);
    snprintf(pc, sizeof(pc), "%s/c.policy", dir);
    /* a uses b's global: only the set makes sense of it. */
    write_file(pa, "host%ksm_run = shared\nintegr :: x\n");
    write_file(pb, "integer :: shared = 1\ninteger :: lonely = 2\nprint *, undeclared_thing\n"
                   "host%mem_fre = 1\n");
    write_file(pc, "(defvar z (+ 1 2))");
    const char *paths[] = { pa, pb, pc };
    reports r = { 0 };
    policy_opts o = { 0 };
    assert_int_equal(policy_check_files(&o, paths, 3, report, &r), MOM_E_POLICY);
    assert_int_equal(r.n_err, 3);
    char want[600];
    snprintf(want, sizeof(want), "%s:2:8: error: syntax error: expected '=', found '::'", pa);
    assert_string_equal(r.lines[0], want);
    snprintf(want, sizeof(want), "%s:3:10: error: 'undeclared_thing' is not declared", pb);
    assert_string_equal(r.lines[1], want);
    snprintf(want, sizeof(want), "%s:4:6: error: 'mem_fre' is not a control of the host", pb);
    assert_string_equal(r.lines[2], want);
    /* The warnings: lonely is never used. */
    bool lonely = false;
    for (int i = 0; i < r.n; i++)
        if (strstr(r.lines[i], "warning: 'lonely' is declared but never used"))
            lonely = true;
    assert_true(lonely);

    /* Fixed: it loads (warnings only), and the exit status ignores them. */
    write_file(pa, "host%ksm_run = shared\n");
    write_file(pb, "integer :: shared = 1\ninteger :: lonely = 2\n");
    memset(&r, 0, sizeof(r));
    assert_int_equal(policy_check_files(&o, paths, 3, report, &r), 0);
    assert_int_equal(r.n_err, 0);
    assert_int_equal(r.n_warn, 1);
    unlink(pa);
    unlink(pb);
    unlink(pc);
    rmdir(dir);
}

static void test_dialect_guess(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(NULL, 0, 0);
    snapshot *s = policyfx_snap(good_snap);
    /* Text without a file name: Fortran-like when it does not look classic. */
    policyfx_set_ok(f, "setNamed", "host%ksm_run = 1\n", NULL);
    assert_host(f, s, "{\"ksm_run\": 1}");
    policyfx_set_ok(f, "setNamed", "\xEF\xBB\xBF! dialect: fortran\nhost%ksm_run = 2\n", NULL);
    assert_host(f, s, "{\"ksm_run\": 2}");
    policyfx_set_ok(f, "setNamed", "# dialect: classic\n(Host.Control \"ksm_run\" 3)", NULL);
    assert_host(f, s, "{\"ksm_run\": 3}");
    snapshot_unref(s);
    policyfx_free(f);
}

/* ---- allocation failures ----------------------------------------------------------- */

static const char *const af_names[] = { "00-classic", "10-fortran" };
static const char *const af_texts[] = {
    "(defvar shared 5) (def twice (x) (* 2 x))",
    "integer, save :: runs = 0\n"
    "integer :: shared = 2\n"
    "character, save :: tag = 'a'\n"
    "real, parameter :: share = 0.25\n"
    "runs = runs + 1\n"
    "tag = tag // 'b'\n"
    "call setvar(host, 'runs', runs)\n"
    "do g in guests\n"
    "   if (.not. present(g%balloon_cur)) cycle\n"
    "   g%balloon_target = grow(g) * twice(shared)\n"
    "   if (.not. present(g%io_tune)) cycle\n"
    "   do d in g%io_tune\n"
    "      d%current%total_bytes_sec = d%maximum%total_bytes_sec\n"
    "   end do\n"
    "end do\n"
    "print *, 'runs', runs, tag, history(host%mem_free)\n"
    "real function grow(g)\n"
    "   grow = g%balloon_cur * (1 + share)\n"
    "end function\n",
};
#define LIMITS(t)                                                                            \
    "{\"total_bytes_sec\": " t ", \"read_bytes_sec\": 0, \"write_bytes_sec\": 0, "                  \
    "\"total_iops_sec\": 0, \"read_iops_sec\": 0, \"write_iops_sec\": 0}"
static const char af_snap[] =
    "{\"host\": [{\"mem_free\": 100}, {\"mem_free\": 200}],"
    " \"guests\": [{\"props\": {\"name\": \"vm1\", \"uuid\": \"u1\"},"
    "   \"stats\": [{\"balloon_cur\": 8, \"io_tune\": [{\"name\": \"vda\", \"path\": \"/a\","
    "     \"guaranteed\": " LIMITS("0") ", \"maximum\": " LIMITS("9") ","
    "     \"current\": " LIMITS("1") "}]}]}]}";

static void test_alloc_fail_load(void **state)
{
    (void)state;
    const char *files[] = { "00-classic.policy", "10-fortran.mom" };
    int ok = 0;
    for (long n = 1; n < 100000 && !ok; n++) {
        policy_opts o = { 0 };
        policy_set *p = NULL;
        alloc_fail_at(n);
        int r = policy_set_new(&o, &p);
        char *err = NULL;
        if (r == 0)
            r = policy_set_replace(p, af_names, af_texts, files, 2, &err);
        long used = alloc_count();
        alloc_fail_at(0);
        if (r != 0)
            assert_int_equal(r, -ENOMEM);
        else if (used < n)
            ok = 1;
        mom_free(err);
        policy_set_free(p);
    }
    assert_true(ok);
}

static void test_alloc_fail_eval(void **state)
{
    (void)state;
    const char *files[] = { "00-classic.policy", "10-fortran.mom" };
    snapshot *s = policyfx_snap(af_snap);
    policyfx_log cap = { 0 };
    mlog log;
    mlog_init(&log, policyfx_capture, &cap, MOM_LOG_DEBUG);
    policy_opts o = { .log = &log };
    policy_set *p = NULL;
    char *err = NULL;
    assert_int_equal(policy_set_new(&o, &p), 0);
    assert_int_equal(policy_set_replace(p, af_names, af_texts, files, 2, &err), 0);
    int ok = 0;
    for (long n = 1; n < 100000 && !ok; n++) {
        controls *c = NULL;
        alloc_fail_at(n);
        int r = policy_set_eval(p, s, &c, NULL, &err);
        long used = alloc_count();
        alloc_fail_at(0);
        if (r != 0) {
            assert_int_equal(r, -ENOMEM);
            assert_null(c);
        } else {
            char *j = value_to_json(c->guests[0]);
            assert_string_equal(j, "{\"balloon_target\": 40.0, \"io_tune\": [{\"name\": "
                                   "\"vda\", \"path\": \"/a\", \"ioTune\": "
                                   "{\"total_bytes_sec\": 9, \"read_bytes_sec\": 0, "
                                   "\"write_bytes_sec\": 0, \"total_iops_sec\": 0, "
                                   "\"read_iops_sec\": 0, \"write_iops_sec\": 0}}]}");
            mom_free(j);
            if (used < n)
                ok = 1;
        }
        mom_free(err);
        err = NULL;
        controls_free(c);
        /* Replacing the set carries the saves over, also when short of
         * memory. */
        if (n % 7 == 0) {
            alloc_fail_at(n / 7);
            r = policy_set_replace(p, af_names, af_texts, files, 2, &err);
            alloc_fail_at(0);
            if (r != 0)
                assert_int_equal(r, -ENOMEM);
            mom_free(err);
            err = NULL;
        }
    }
    assert_true(ok);
    policy_set_free(p);
    snapshot_unref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_across_cycles),
        cmocka_unit_test(test_save_across_replacement),
        cmocka_unit_test(test_failed_cycle_has_no_effect),
        cmocka_unit_test(test_error_names_guest),
        cmocka_unit_test(test_step_limit),
        cmocka_unit_test(test_shared_globals),
        cmocka_unit_test(test_cross_dialect_calls),
        cmocka_unit_test(test_vars_shared_with_classic),
        cmocka_unit_test(test_files_share_globals_and_procedures),
        cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_check_files),
        cmocka_unit_test(test_dialect_guess),
        cmocka_unit_test(test_alloc_fail_load),
        cmocka_unit_test(test_alloc_fail_eval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
