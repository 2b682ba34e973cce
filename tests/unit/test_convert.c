/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Classic-to-Fortran-like conversion (src/lang/convert.c,
 * mom_policy_convert): golden outputs under tests/policy/convert/ (the
 * text and the report for each input), targeted checks of the rules that
 * keep the classic meaning (true division, eager and/or, truth values,
 * dynamic scoping), the public entry point's errors, and an
 * allocation-failure loop.
 *
 * MOM_CONVERT_UPDATE=1 rewrites the golden files from the current output
 * (then review them with git diff).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/fileio.h"
#include "lang/convert.h"
#include "mom/mom.h"
#include "mom/policy.h"

#define CLASSIC "tests/fixtures/policies/classic/"
#define GOLDEN "tests/policy/convert/"

static char *srcpath(const char *rel)
{
    const char *root = getenv("MOM_TEST_SRCDIR");
    char *p = mom_asprintf("%s/%s", root && *root ? root : ".", rel);
    assert_non_null(p);
    return p;
}

static char *slurp(const char *rel)
{
    char *p = srcpath(rel), *text = NULL;
    size_t len;
    int r = file_read_all(p, &text, &len);
    if (r < 0)
        fail_msg("cannot read %s: %s", p, strerror(-r));
    mom_free(p);
    return text;
}

static void spill(const char *rel, const char *text)
{
    char *p = srcpath(rel);
    FILE *f = fopen(p, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    mom_free(p);
}

/* Convert in-memory text named `label`, with no context. */
static int convert_str(const char *label, const char *src, char **text, char **report,
                       size_t *unconverted)
{
    return convert_text(label, src, strlen(src), NULL, NULL, NULL, 0, text, report, unconverted);
}

/* One golden case: input file, context files, expected base name. */
typedef struct golden {
    const char *input;
    const char *ctx[6];
    const char *expect; /* GOLDEN NAME: NAME.mom and NAME.msgs */
    size_t unconverted;
} golden;

static void run_golden(const golden *g)
{
    char *src = slurp(g->input);
    const char *paths[6];
    char *texts[6];
    size_t lens[6], n = 0;
    for (; n < 6 && g->ctx[n]; n++) {
        texts[n] = slurp(g->ctx[n]);
        lens[n] = strlen(texts[n]);
        const char *b = strrchr(g->ctx[n], '/');
        paths[n] = b ? b + 1 : g->ctx[n];
    }
    const char *label = strrchr(g->input, '/') ? strrchr(g->input, '/') + 1 : g->input;
    char *text = NULL, *report = NULL;
    size_t unconverted = 99;
    int r = convert_text(label, src, strlen(src), paths, (const char *const *)texts, lens, n,
                         &text, &report, &unconverted);
    assert_int_equal(r, 0);
    char *mom = mom_asprintf(GOLDEN "%s.mom", g->expect);
    char *msgs = mom_asprintf(GOLDEN "%s.msgs", g->expect);
    if (getenv("MOM_CONVERT_UPDATE")) {
        spill(mom, text);
        spill(msgs, report);
    }
    char *want_text = slurp(mom), *want_report = slurp(msgs);
    assert_string_equal(text, want_text);
    assert_string_equal(report, want_report);
    assert_int_equal(unconverted, g->unconverted);
    /* Every refusal is both in the report and marked in the text. */
    size_t marks = 0;
    for (const char *p = text; (p = strstr(p, "! cannot convert")) != NULL; p++)
        marks++;
    size_t lines = 0;
    for (const char *p = report; (p = strstr(p, ": cannot convert: ")) != NULL; p++)
        lines++;
    assert_int_equal(lines, g->unconverted);
    assert_true(marks <= lines);
    mom_free(want_text);
    mom_free(want_report);
    mom_free(mom);
    mom_free(msgs);
    mom_free(text);
    mom_free(report);
    for (size_t i = 0; i < n; i++)
        mom_free(texts[i]);
    mom_free(src);
}

static const golden cases[] = {
    {CLASSIC "00-defines.policy", {0}, "vdsm-00-defines", 0},
    {CLASSIC "02-balloon.policy", {CLASSIC "00-defines.policy"}, "vdsm-02-balloon", 0},
    {CLASSIC "02-balloon.policy", {0}, "vdsm-02-balloon-alone", 0},
    {CLASSIC "03-ksm.policy", {CLASSIC "00-defines.policy"}, "vdsm-03-ksm", 0},
    {CLASSIC "03-ksm.policy", {0}, "vdsm-03-ksm-alone", 1},
    {CLASSIC "04-cputune.policy", {CLASSIC "00-defines.policy"}, "vdsm-04-cputune", 0},
    {CLASSIC "05-iotune.policy", {CLASSIC "00-defines.policy"}, "vdsm-05-iotune", 0},
    {GOLDEN "scoping.policy", {0}, "scoping", 1},
    {GOLDEN "values.policy", {0}, "values", 2},
    {GOLDEN "refusals.policy", {0}, "refusals", 5},
};

static void test_golden_defines(void **state) { (void)state; run_golden(&cases[0]); }
static void test_golden_balloon(void **state) { (void)state; run_golden(&cases[1]); }
static void test_golden_balloon_alone(void **state) { (void)state; run_golden(&cases[2]); }
static void test_golden_ksm(void **state) { (void)state; run_golden(&cases[3]); }
static void test_golden_ksm_alone(void **state) { (void)state; run_golden(&cases[4]); }
static void test_golden_cputune(void **state) { (void)state; run_golden(&cases[5]); }
static void test_golden_iotune(void **state) { (void)state; run_golden(&cases[6]); }
static void test_golden_scoping(void **state) { (void)state; run_golden(&cases[7]); }
static void test_golden_values(void **state) { (void)state; run_golden(&cases[8]); }
static void test_golden_refusals(void **state) { (void)state; run_golden(&cases[9]); }

/* Convert `src` and expect it to convert fully, with `want` in the text. */
static void expect_text(const char *src, const char *want)
{
    char *text, *report;
    size_t un;
    assert_int_equal(convert_str("t.policy", src, &text, &report, &un), 0);
    if (!strstr(text, want))
        fail_msg("expected \"%s\" in:\n%s\nreport:\n%s", want, text, report);
    assert_int_equal(un, 0);
    mom_free(text);
    mom_free(report);
}

/* Convert `src` and expect one refusal whose report line contains `why`. */
static void expect_refusal(const char *src, unsigned line, const char *why)
{
    char *text, *report;
    size_t un;
    assert_int_equal(convert_str("t.policy", src, &text, &report, &un), 0);
    char head[64];
    snprintf(head, sizeof(head), "t.policy:%u: cannot convert: ", line);
    if (un != 1 || !strstr(report, head) || !strstr(report, why))
        fail_msg("expected one refusal at line %u (%s), got %zu:\n%s", line, why, un, report);
    snprintf(head, sizeof(head), "! cannot convert (line %u)", line);
    assert_non_null(strstr(text, head));
    mom_free(text);
    mom_free(report);
}

/* Classic / is true division whatever the operands. */
static void test_true_division(void **state)
{
    (void)state;
    expect_text("(defvar a 7) (defvar b 2) (Host.Control \"ksm_run\" (/ a b))",
                "host%ksm_run = real(a) / b");
    expect_text("(Host.Control \"ksm_run\" (/ 1000 Host.mem_free))", "1000.0 / host%mem_free");
    expect_text("(Host.Control \"ksm_run\" (/ Host.mem_free 3))", "host%mem_free / 3.0");
    /* A real operand makes it real already: no conversion added. */
    expect_text("(Host.Control \"ksm_run\" (/ (Host.StatAvg \"mem_free\") Host.mem_free))",
                "= avg(host%mem_free) / host%mem_free");
    /* Grouping is kept exactly: (+ a (+ b c)) is not a + b + c. */
    expect_text("(defvar a 1.5) (defvar r (+ a (+ a 2)))", "r = a + (a + 2)");
    expect_text("(defvar a 1.5) (defvar r (- a (- a 2)))", "r = a - (a - 2)");
}

/* Eager classic and/or against short-circuit .and./.or. */
static void test_eager_andor(void **state)
{
    (void)state;
    expect_refusal("(def f (g) { (g.Control \"balloon_target\" 1) 1 })\n"
                   "(with Guests g (if (and (> g.balloon_cur 1) (f g)) 1 (debug \"x\")))",
                   2, "argument 2 has side effects");
    /* Side effects in the first argument are fine: it always runs. */
    expect_text("(def f (g) { (g.Control \"balloon_target\" 1) 1 })\n"
                "(with Guests g (if (or (f g) (> g.balloon_cur 1)) (debug \"y\") 0))",
                "if (f(g) /= 0 .or. g%balloon_cur > 1) print *, \"y\"");
    /* The value of and/or is one of its arguments: only logicals convert. */
    expect_refusal("(defvar x (or Host.mem_free 5))", 1, "every argument is a logical");
}

/* Truth values: numbers compare with 0, absent values are false. */
static void test_truth(void **state)
{
    (void)state;
    expect_text("(defvar n 3) (if n (Host.Control \"ksm_run\" 1) 0)", "if (n /= 0) host%ksm_run");
    expect_text("(if Host.ksm_run (Host.Control \"ksm_run\" 0) 0)",
                "if (present(host%ksm_run) .and. host%ksm_run /= 0) host%ksm_run = 0");
    expect_text("(if (not Host.ksm_run) (Host.Control \"ksm_run\" 1) 0)",
                "if (.not. present(host%ksm_run) .or. host%ksm_run == 0) host%ksm_run = 1");
    expect_refusal("(def f (x) (if x 1 2))", 1, "type is not known");
    /* An if used as a condition: the chosen branch only, as classic if. */
    expect_text("(if (if (valid Host.swap_total) (> Host.swap_total 5) 0) "
                "(Host.Control \"ksm_run\" 1) 0)",
                "if (present(host%swap_total) .and. host%swap_total > 5) host%ksm_run = 1");
    expect_text("(if (and (> Host.mem_free 1) 7) (Host.Control \"ksm_run\" 1) 0)",
                "if (host%mem_free > 1 .and. .true.) host%ksm_run = 1");
    /* Classic == is false, not an error, when one side is absent. */
    expect_text("(if (== Host.ksm_run 1) (Host.Control \"ksm_run\" 0) 0)",
                "present(host%ksm_run) .and. host%ksm_run == 1");
    expect_text("(if (== Host.swap_total nil) (Host.Control \"ksm_run\" 0) 0)",
                "if (.not. present(host%swap_total)) host%ksm_run = 0");
}

/* Dynamic scoping: names read from the caller become arguments. */
static void test_dynamic_scope(void **state)
{
    (void)state;
    const char *src = "(def qos (quest) (if (valid guest.balloon_min) "
                      "(guest.Control \"balloon_target\" guest.balloon_min) 0))\n"
                      "(with Guests guest (qos guest))\n";
    expect_text(src, "subroutine qos(quest, guest)");
    expect_text(src, "call qos(guest, guest)");
    /* A caller's local that the function sets cannot be passed by value. */
    expect_refusal("(def bump () (set n (+ n 1)))\n(let ((n 0)) (bump) n)", 1,
                   "passes arguments by value");
    /* A function that reads a global sees the global. */
    expect_text("(defvar lim 5) (def over (x) (> x lim)) "
                "(if (over Host.mem_free) (Host.Control \"ksm_run\" 1) 0)",
                "over = x > lim");
}

/* def becomes a function when a caller uses its value, else a subroutine. */
static void test_function_or_subroutine(void **state)
{
    (void)state;
    expect_text("(def twice (x) (* 2 x)) (Host.Control \"ksm_run\" (twice 3))",
                "integer function twice(x)");
    expect_text("(def setit (g) (g.Control \"balloon_target\" 5)) (with Guests g (setit g))",
                "subroutine setit(g)");
    expect_text("(def fact (n) (if (<= n 1) 1 (* n (fact (- n 1))))) (defvar f (fact 4))",
                "integer function fact(n) result(res)");
}

/* Names that are not Fortran-like identifiers. */
static void test_names(void **state)
{
    (void)state;
    expect_text("(def f (in-kib) (* in-kib 2)) (defvar y (f 3))", "function f(in_kib)");
    expect_refusal("(defvar max-size 5)", 1, "renamed max_size");
    expect_refusal("(defvar size 5)", 1, "renamed size_");
    expect_refusal("(defvar a.b 5)", 1, "dotted name");
}

static void test_parse_error(void **state)
{
    (void)state;
    char *text = (char *)"x", *report = NULL;
    size_t un;
    assert_int_equal(convert_str("bad.policy", "(defvar a 1)\n(+ 1", &text, &report, &un),
                     -EBADMSG);
    assert_null(text);
    assert_string_equal(report, "bad.policy:2:1: error: parse error\n");
    mom_free(report);
}

static void test_public_api(void **state)
{
    (void)state;
    char *text = NULL, *report = NULL;
    size_t un = 7;
    assert_int_equal(mom_policy_convert(NULL, NULL, 0, &text, &report, &un), -EINVAL);
    assert_int_equal(mom_policy_convert("x", NULL, 1, &text, &report, &un), -EINVAL);
    assert_int_equal(mom_policy_convert("/nonexistent/x.policy", NULL, 0, &text, &report, &un),
                     -ENOENT);
    assert_null(text);
    assert_non_null(strstr(report, "/nonexistent/x.policy"));
    mom_free(report);
    char *p = srcpath(CLASSIC "04-cputune.policy"), *d = srcpath(CLASSIC "00-defines.policy");
    const char *ctx[] = { d };
    assert_int_equal(mom_policy_convert(p, ctx, 1, &text, &report, &un), 0);
    assert_int_equal(un, 0);
    assert_string_equal(report, "");
    assert_non_null(strstr(text, "subroutine check_and_set_quota(guest)"));
    mom_free(text);
    mom_free(report);
    mom_free(p);
    mom_free(d);
}

/* Fail every allocation in turn: -ENOMEM or success, never a crash or a
 * leak (the sanitizers and valgrind check the latter). */
static void test_alloc_failures(void **state)
{
    (void)state;
    char *src = slurp(CLASSIC "02-balloon.policy"), *ctx = slurp(CLASSIC "00-defines.policy");
    const char *paths[] = { "00-defines.policy" };
    const char *texts[] = { ctx };
    size_t lens[] = { strlen(ctx) };
    bool succeeded = false;
    for (long n = 1; n < 100000 && !succeeded; n++) {
        char *text = NULL, *report = NULL;
        size_t un;
        alloc_fail_at(n);
        int r = convert_text("02-balloon.policy", src, strlen(src), paths, texts, lens, 1, &text,
                             &report, &un);
        alloc_fail_at(0);
        if (r == 0) {
            succeeded = true;
            assert_int_equal(un, 0);
            assert_non_null(strstr(text, "subroutine balloon_logic(guest)"));
        } else {
            assert_int_equal(r, -ENOMEM);
            assert_null(text);
            assert_null(report);
        }
        mom_free(text);
        mom_free(report);
    }
    assert_true(succeeded);
    mom_free(src);
    mom_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_defines),
        cmocka_unit_test(test_golden_balloon),
        cmocka_unit_test(test_golden_balloon_alone),
        cmocka_unit_test(test_golden_ksm),
        cmocka_unit_test(test_golden_ksm_alone),
        cmocka_unit_test(test_golden_cputune),
        cmocka_unit_test(test_golden_iotune),
        cmocka_unit_test(test_golden_scoping),
        cmocka_unit_test(test_golden_values),
        cmocka_unit_test(test_golden_refusals),
        cmocka_unit_test(test_true_division),
        cmocka_unit_test(test_eager_andor),
        cmocka_unit_test(test_truth),
        cmocka_unit_test(test_dynamic_scope),
        cmocka_unit_test(test_function_or_subroutine),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_parse_error),
        cmocka_unit_test(test_public_api),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
