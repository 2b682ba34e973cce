/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Fortran-like evaluator's fast paths (handlers chosen by
 * evalf_link(), leaves inline, steps charged per statement, if (.not. x)
 * with swapped branches, I/O limit chains in one step, assignment to
 * r%current%limit) and of the history cache of avg() (lang/histcache.c)
 * as the evaluator uses it: every test states what POLICY-LANGUAGE.md
 * (§3 - §10, §13) or the previous tree walker says, so that a fast path
 * that changes a result, an error, its location, the order or the number
 * of evaluations of an operand, or the step budget, fails here.
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

#include <cmocka.h>

#include "core/alloc.h"
#include "core/sample.h"
#include "core/snapshot.h"
#include "core/snapshot_json.h"
#include "core/value.h"
#include "lang/policy.h"
#include "policyfx.h"

/* ---- policyfx ------------------------------------------------------------------ */

/* The statistics of the snapshots below (controls: the built-in ones). */
static const char *const host_fields[] = { "mem_free", "h", "x", NULL };
static const char *const guest_fields[] = { "a", "b", "c", "t", "mem_unused", "mem_unused2",
                                            "io_tune", NULL };
static const policy_catalog review_cat = { .host_fields = host_fields,
                                           .guest_fields = guest_fields };

/* Evaluate: "ok host=... g0=... g1=..." with every entity's controls as
 * JSON, or "error MESSAGE" (malloc). */
static char *run(policyfx *f, const snapshot *s)
{
    controls *c = NULL;
    char *err = NULL;
    int r = policy_set_eval(f->p, s, &c, NULL, &err);
    char *out;
    if (r != 0) {
        assert_int_equal(r, MOM_E_POLICY);
        size_t n = strlen(err ? err : "?") + 8;
        out = malloc(n);
        snprintf(out, n, "error %s", err ? err : "?");
        mom_free(err);
        return out;
    }
    size_t cap = 64, len = 0;
    out = malloc(cap);
    len = (size_t)snprintf(out, cap, "ok");
    for (size_t i = 0; i <= c->n_guests; i++) {
        const mom_value *v = i == 0 ? c->host : c->guests[i - 1];
        char *j = v ? value_to_json(v) : NULL;
        size_t need = len + (j ? strlen(j) : 4) + 32;
        if (need > cap) {
            cap = need * 2;
            out = realloc(out, cap);
        }
        len += (size_t)snprintf(out + len, cap - len, " %s%zu=%s", i ? "g" : "host", i ? i - 1 : 0,
                                j ? j : "null");
        mom_free(j);
    }
    controls_free(c);
    return out;
}

static void assert_run(policyfx *f, const snapshot *s, const char *want)
{
    char *got = run(f, s);
    if (strcmp(got, want) != 0)
        fail_msg("\n  got  %s\n  want %s", got, want);
    free(got);
}

/* The run fails with a message that contains `part`. */
static void assert_fails_with(policyfx *f, const snapshot *s, const char *part)
{
    char *got = run(f, s);
    if (strncmp(got, "error ", 6) != 0 || !strstr(got, part))
        fail_msg("\n  got  %s\n  want an error with \"%s\"", got, part);
    free(got);
}

/* A host and two guests; vm2's mem_unused is absent, and vm1 has one
 * disk. */
static const char snap2[] =
    "{\"host\": [{\"mem_free\": 100, \"h\": 4}, {\"mem_free\": 300, \"h\": 6}],"
    " \"guests\": [{\"props\": {\"name\": \"vm1\"},"
    "               \"stats\": [{\"a\": 1, \"mem_unused\": 5, \"io_tune\": null},"
    "                          {\"a\": 4, \"mem_unused\": 7, \"io_tune\": [{\"name\": \"vda\","
    "                           \"path\": \"/i/vda\","
    "                           \"guaranteed\": {\"total_bytes_sec\": 1, \"read_bytes_sec\": 2,"
    "                             \"write_bytes_sec\": 3, \"total_iops_sec\": 4,"
    "                             \"read_iops_sec\": 5, \"write_iops_sec\": 6},"
    "                           \"maximum\": {\"total_bytes_sec\": 10, \"read_bytes_sec\": 20,"
    "                             \"write_bytes_sec\": 30, \"total_iops_sec\": 40,"
    "                             \"read_iops_sec\": 50, \"write_iops_sec\": 60},"
    "                           \"current\": {\"total_bytes_sec\": 100, \"read_bytes_sec\": 200,"
    "                             \"write_bytes_sec\": 300, \"total_iops_sec\": 400,"
    "                             \"read_iops_sec\": 500, \"write_iops_sec\": 600}}]}]},"
    "              {\"props\": {\"name\": \"vm2\"},"
    "               \"stats\": [{\"a\": 2, \"mem_unused\": null, \"io_tune\": []}]}]}";

/* ---- if (.not. x) --------------------------------------------------------------- */

/* The folded .not. runs its operand once, takes the right branch, and an
 * else-if chain behind it still works. */
static void test_not_condition_once(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(&review_cat, 0, 0);
    snapshot *s = policyfx_snap(snap2);
    policyfx_set_ok(f, "n",
           "integer :: calls = 0, took = 0\n"
           "logical function t(v)\n"
           "   logical :: v\n"
           "   calls = calls + 1\n"
           "   t = v\n"
           "end function\n"
           "if (.not. t(.true.)) then\n"
           "   took = took + 1\n"
           "else if (.not. t(.false.)) then\n"
           "   took = took + 10\n"
           "else\n"
           "   took = took + 100\n"
           "end if\n"
           "if (.not. t(.false.)) took = took + 1000\n"
           "if (.not. (.not. t(.true.))) took = took + 10000\n"
           "host%ksm_run = calls\n"
           "host%ksm_pages_to_scan = took\n",
           "n.mom");
    assert_run(f, s, "ok host0={\"ksm_run\": 4, \"ksm_pages_to_scan\": 11010} g0={} g1={}");
    snapshot_unref(s);
    policyfx_free(f);
}

/* An absent or non-logical operand of the folded .not. fails with the
 * message and the column of the operand, as before. */
static void test_not_condition_errors(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(&review_cat, 0, 0);
    snapshot *s = policyfx_snap(snap2);
    policyfx_set_ok(f, "n",
           "do g in guests\n"
           "   if (.not. (g%mem_unused > 6)) g%balloon_target = 1\n"
           "end do\n",
           "n.mom");
    assert_fails_with(f, s, "n.mom:2:17: error: guest vm2: mem_unused is absent; test it with "
                            "present() (guest vm2)");
    policyfx_set_ok(f, "n",
           "do g in guests\n"
           "   if (.not. g%a) g%balloon_target = 1\n"
           "end do\n",
           "n.mom");
    assert_fails_with(f, s, "n.mom:2:16: error: a condition must be logical, not integer (guest "
                            "vm1)");
    snapshot_unref(s);
    policyfx_free(f);
}

/* ---- operands with side effects ---------------------------------------------------- */

/* Every operand runs once, left to right: arithmetic, comparisons,
 * present() (all arguments), merge() (all three), short-circuit .and. and
 * .or. (the right side only when needed), I/O limit chains and component
 * assignment. */
static void test_side_effects_once(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(&review_cat, 0, 0);
    snapshot *s = policyfx_snap(snap2);
    policyfx_set_ok(f, "s",
           "integer :: k = 0\n"
           "integer function tick(v)\n"
           "   integer :: v\n"
           "   k = k * 10 + v\n"
           "   tick = v\n"
           "end function\n"
           "logical function yes(v)\n"
           "   integer :: v\n"
           "   k = k * 10 + v\n"
           "   yes = .true.\n"
           "end function\n"
           "integer :: x\n"
           "logical :: b\n"
           "x = tick(1) + tick(2) * tick(3)\n"
           "b = tick(4) < tick(5)\n"
           "b = present(tick(6), tick(7))\n"
           "x = merge(tick(8), tick(9), yes(1))\n"
           "host%ksm_run = k\n"
           "k = 0\n"
           "b = yes(1) .or. yes(2)\n"
           "b = .not. yes(3) .and. yes(4)\n"
           "b = yes(5) .and. yes(6)\n"
           "host%ksm_pages_to_scan = k\n",
           "s.mom");
    assert_run(f, s,
               "ok host0={\"ksm_run\": 1234567891, \"ksm_pages_to_scan\": 1356} g0={} g1={}");
    snapshot_unref(s);
    policyfx_free(f);
}

/* print writes each item once, in order, also with calls that print. */
static void test_print_order(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(&review_cat, 0, 0);
    snapshot *s = policyfx_snap(snap2);
    policyfx_set_ok(f, "p",
           "integer function say(v)\n"
           "   integer :: v\n"
           "   print *, 'say', v\n"
           "   say = v\n"
           "end function\n"
           "print *, say(1) + say(2), .not. (say(3) > 2)\n",
           "p.mom");
    assert_run(f, s, "ok host0={} g0={} g1={}");
    assert_int_equal(f->cap.n_debug, 4);
    assert_string_equal(f->cap.debug[0], "p.mom:3: say 1");
    assert_string_equal(f->cap.debug[1], "p.mom:3: say 2");
    assert_string_equal(f->cap.debug[2], "p.mom:3: say 3");
    assert_string_equal(f->cap.debug[3], "p.mom:6: 3 F");
    snapshot_unref(s);
    policyfx_free(f);
}

/* ---- numbers ------------------------------------------------------------------------ */

/* Run the policy `fmt` (a printf format of one %s, which gets expr),
 * labelled `file`, on s: want "=TEXT" means it prints TEXT once on line
 * `line` and succeeds, anything else is a part of the error it must fail
 * with. */
static void check_print(const snapshot *s, const char *fmt, const char *file, int line,
                        const char *expr, const char *want)
{
    policyfx *f = policyfx_new(&review_cat, 0, 0);
    char text[512], where[64];
    snprintf(text, sizeof(text), fmt, expr);
    snprintf(where, sizeof(where), "%s:%d: ", file, line);
    policyfx_set_ok(f, "p", text, file);
    char *got = run(f, s);
    if (want[0] == '=') {
        if (strncmp(got, "ok", 2) != 0 || f->cap.n_debug != 1 ||
            strncmp(f->cap.debug[0], where, strlen(where)) != 0 ||
            strcmp(f->cap.debug[0] + strlen(where), want + 1) != 0)
            fail_msg("%s: got %s / %s, want %s", expr, got, f->cap.n_debug ? f->cap.debug[0] : "-",
                     want + 1);
    } else if (!strstr(got, want)) {
        fail_msg("%s: got %s, want %s", expr, got, want);
    }
    free(got);
    policyfx_free(f);
}

/* The fast arithmetic handlers keep the numeric rules: integer overflow
 * and division by zero are errors at the operator, mixed operands are
 * real, integer division truncates, non-finite results fail. */
static void test_arith_rules(void **state)
{
    (void)state;
    snapshot *s = policyfx_snap(snap2);
    static const struct {
        const char *expr;
        const char *want; /* "=value" or an error part */
    } cases[] = {
        { "7 / 2", "=3" },
        { "-7 / 2", "=-3" },
        { "7 / 2.0", "=3.5" },
        { "2 ** 10", "=1024" },
        { "2 ** (-1)", "=0" },
        { "3037000500 * 3037000500", "a.mom:2:21: error: integer overflow" },
        { "9223372036854775807 + 1", "a.mom:2:30: error: integer overflow" },
        { "(-9223372036854775807 - 1) / (-1)", "error: integer overflow" },
        { "1 / 0", "a.mom:2:12: error: division by zero" },
        { "1.0 / 0.0", "a.mom:2:14: error: division by zero" },
        { "1.0 / (-0.0)", "error: division by zero" },
        { "1e308 * 10.0", "error: the result is not a finite number (infinity)" },
        { "1e308 + 1e308", "error: the result is not a finite number (infinity)" },
        { "host%h * 0.5", "=3.0" },
        { "host%h - 9223372036854775807", "=-9223372036854775801" },
        { "9007199254740993 * 1.0", "=9007199254740992.0" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_print(s, "real :: unused_r\nprint *, %s\n", "a.mom", 2, cases[i].expr,
                    cases[i].want);
    snapshot_unref(s);
}

/* ---- I/O limits ------------------------------------------------------------------------ */

/* r%set%limit in one step reads the right set; an assignment to
 * r%current%limit converts at once and is seen afterwards (an integer or
 * absent takes the statement's own fast path); absent clears it;
 * guaranteed and maximum stay read-only. */
static void test_io_limits(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(&review_cat, 0, 0);
    snapshot *s = policyfx_snap(snap2);
    policyfx_set_ok(f, "io",
           "do g in guests\n"
           "   do d in g%io_tune\n"
           "      print *, d%guaranteed%read_iops_sec, d%maximum%read_iops_sec, "
           "d%current%read_iops_sec, d%current%write_bytes_sec\n"
           "      d%current%read_iops_sec = 7.9\n"
           "      d%current%write_bytes_sec = g%mem_unused2\n"
           "      d%current%total_bytes_sec = d%maximum%read_iops_sec + 1\n"
           "      print *, d%current%read_iops_sec, present(d%current%write_bytes_sec), "
           "d%maximum%write_bytes_sec, d%current%total_bytes_sec\n"
           "   end do\n"
           "end do\n",
           "io.mom");
    char *got = run(f, s);
    free(got);
    /* mem_unused2 is no field: absent, which clears the limit. */
    assert_int_equal(f->cap.n_debug, 2);
    assert_string_equal(f->cap.debug[0], "io.mom:3: 5 50 500 300");
    assert_string_equal(f->cap.debug[1], "io.mom:7: 7 F 30 51");
    policyfx_free(f);

    /* Only the current set can be set (a load-time error). */
    f = policyfx_new(&review_cat, 0, 0);
    char *err = NULL;
    assert_int_equal(policy_set_set(f->p, "io",
                                    "do g in guests\n"
                                    "   do d in g%io_tune\n"
                                    "      d%maximum%read_iops_sec = 1\n"
                                    "   end do\n"
                                    "end do\n",
                                    "io.mom", &err),
                     MOM_E_POLICY);
    assert_non_null(strstr(err, "io.mom:3:17: error: only the current limits of a device can be set"));
    mom_free(err);
    policyfx_free(f);
    snapshot_unref(s);
}

/* ---- absent values and leaves ------------------------------------------------------------ */

/* The inline leaves (host%field, local%field) keep the absent rules and
 * the messages that name the entity. */
static void test_inline_leaves_absent(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(&review_cat, 0, 0);
    snapshot *s = policyfx_snap("{\"host\": [{\"mem_free\": null, \"h\": 2}],"
                            " \"guests\": [{\"props\": {\"name\": \"vm1\"},"
                            "               \"stats\": [{\"a\": null, \"t\": \"txt\"}]}]}");
    policyfx_set_ok(f, "l", "host%ksm_run = host%h + host%mem_free\n", "l.mom");
    assert_fails_with(f, s, "l.mom:1:30: error: host: mem_free is absent; test it with present()");
    policyfx_set_ok(f, "l",
           "do g in guests\n"
           "   print *, present(g%a), present(host%mem_free), g%t, host%h\n"
           "   g%balloon_target = g%a\n"
           "   print *, present(g%balloon_target)\n"
           "end do\n",
           "l.mom");
    assert_run(f, s, "ok host0={} g0={}");
    assert_string_equal(f->cap.debug[f->cap.n_debug - 2], "l.mom:2: F F txt 2");
    assert_string_equal(f->cap.debug[f->cap.n_debug - 1], "l.mom:4: F");
    snapshot_unref(s);
    policyfx_free(f);
}

/* ---- present() of components of one entity ------------------------------------------------- */

/* present(g%x, g%y, ...) answers from the kinds of the latest sample:
 * every form gives what the general path gives (the same call with a
 * host component added, which takes it): numbers, None, a key no
 * collector returned, a string, an I/O list (null, empty, with a disk),
 * a name that is no statistic but a control set this cycle or a
 * property, and a mix whose first non-number argument is evaluated in
 * order. */
static void test_present_components(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(&review_cat, 0, 0);
    snapshot *s = policyfx_snap(
        "{\"host\": [{\"mem_free\": 100, \"h\": 2}],"
        " \"guests\": [{\"props\": {\"name\": \"vm1\"},"
        "               \"stats\": [{\"a\": 1, \"b\": 2.5, \"c\": null, \"t\": \"txt\","
        "                           \"io_tune\": []}]},"
        "              {\"props\": {\"name\": \"vm2\"},"
        "               \"stats\": [{\"a\": null, \"b\": 3, \"t\": null, \"io_tune\": null}]}]}");
    policyfx_set_ok(f, "p",
           "do g in guests\n"
           "   print *, present(g%a), present(g%a, host%h), present(g%a, g%b), "
           "present(g%a, g%b, host%h), present(g%b, g%c), present(g%b, g%c, host%h)\n"
           "   print *, present(g%mem_unused), present(g%mem_unused, host%h), present(g%t), "
           "present(g%t, host%h), present(g%io_tune), present(g%io_tune, host%h)\n"
           "   print *, present(g%b, g%balloon_target), present(g%b, g%balloon_target, host%h)\n"
           "   g%balloon_target = 5\n"
           "   print *, present(g%b, g%balloon_target), present(g%b, g%balloon_target, host%h), "
           "present(g%b, g%name), present(g%b, g%name, host%h)\n"
           "   print *, present(g%b, g%io_tune, g%a), present(g%b, g%io_tune, g%a, host%h)\n"
           "end do\n"
           "print *, present(host%mem_free, host%h), present(host%mem_free, host%ksm_run), "
           "present(host%ksm_run)\n",
           "p.mom");
    assert_run(f, s, "ok host0={} g0={\"balloon_target\": 5} g1={\"balloon_target\": 5}");
    assert_int_equal(f->cap.n_debug, 11);
    assert_string_equal(f->cap.debug[0], "p.mom:2: T T T T F F");
    assert_string_equal(f->cap.debug[1], "p.mom:3: F F T T T T");
    assert_string_equal(f->cap.debug[2], "p.mom:4: F F");
    assert_string_equal(f->cap.debug[3], "p.mom:6: T T T T");
    assert_string_equal(f->cap.debug[4], "p.mom:7: T T");
    assert_string_equal(f->cap.debug[5], "p.mom:2: F F F F F F");
    assert_string_equal(f->cap.debug[6], "p.mom:3: F F F F F F");
    assert_string_equal(f->cap.debug[7], "p.mom:4: F F");
    assert_string_equal(f->cap.debug[8], "p.mom:6: T T T T");
    assert_string_equal(f->cap.debug[9], "p.mom:7: F F");
    assert_string_equal(f->cap.debug[10], "p.mom:9: T F F");
    policyfx_free(f);

    /* One guest, so that the inline caches stay warm from one evaluation
     * to the next: the second time a string and an I/O list are answered
     * from their kinds, as present as the first time. */
    snapshot *one = policyfx_snap(
        "{\"host\": [{\"mem_free\": 100, \"h\": 2}],"
        " \"guests\": [{\"props\": {\"name\": \"vm1\"},"
        "               \"stats\": [{\"a\": 1, \"c\": null, \"t\": \"txt\", \"io_tune\": []}]}]}");
    f = policyfx_new(&review_cat, 0, 0);
    policyfx_set_ok(f, "p",
                    "do g in guests\n"
                    "   print *, present(g%t), present(g%io_tune), present(g%a, g%t, g%io_tune), "
                    "present(g%t, g%c), present(g%io_tune, g%c)\n"
                    "end do\n",
                    "p.mom");
    for (int round = 0; round < 2; round++) {
        assert_run(f, one, "ok host0={} g0={}");
        assert_int_equal(f->cap.n_debug, round + 1);
        assert_string_equal(f->cap.debug[round], "p.mom:2: T T T F F");
    }
    policyfx_free(f);
    snapshot_unref(one);

    /* A base that is no entity or is absent fails as the general path
     * does, at the same place. */
    static const char *const forms[] = { "present(d%a, d%b)", "present(d%a, d%b, host%h)" };
    static const char *const args[] = { "3", "nothing" };
    static const char *const want[] = { "q.mom:3:23: error: an integer has no component 'a'",
                                        "q.mom:3:21: error: d is absent; test it with present()" };
    for (size_t a = 0; a < 2; a++) {
        for (size_t i = 0; i < 2; i++) {
            char text[512];
            snprintf(text, sizeof(text),
                     "integer :: nothing\nsubroutine p(d)\n   print *, %s\nend subroutine\n"
                     "call p(%s)\n",
                     forms[i],
                     args[a]);
            f = policyfx_new(&review_cat, 0, 0);
            policyfx_set_ok(f, "q", text, "q.mom");
            assert_fails_with(f, s, want[a]);
            policyfx_free(f);
        }
    }
    snapshot_unref(s);
}

/* ---- integer with real, typed calls, conditions -------------------------------------------- */

/* An integer with a real in + - * / takes the fast real path: the same
 * values, overflow to infinity, division by zero and absent operands as
 * the general rules (and a large integer still goes the general way). */
static void test_mixed_arith(void **state)
{
    (void)state;
    snapshot *s = policyfx_snap(snap2);
    static const struct {
        const char *expr;
        const char *want; /* "=value" or an error part */
    } cases[] = {
        { "g%a * 0.25", "=0.5" },
        { "0.25 * g%a", "=0.5" },
        { "g%a - 0.5", "=1.5" },
        { "0.5 + g%a", "=2.5" },
        { "g%a / 0.5", "=4.0" },
        { "1.5 / g%a", "=0.75" },
        { "1.5 / (g%a - 2)", "m.mom:3:17: error: division by zero" },
        { "g%a / 0.0", "m.mom:3:17: error: division by zero" },
        { "1e308 * (g%a + 9)", "error: the result is not a finite number (infinity)" },
        { "(g%a + 9) * (-1e308)", "error: the result is not a finite number (infinity)" },
        { "(g%a + 9007199254740992) * 1.0", "=9007199254740994.0" },
        { "g%mem_unused * 0.5", "guest vm2: mem_unused is absent; test it with present()" },
        { "0.5 - g%mem_unused", "guest vm2: mem_unused is absent; test it with present()" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_print(s, "do g in guests\n   if (g%%a /= 2) cycle\n   print *, %s\nend do\n",
                    "m.mom", 3, cases[i].expr, cases[i].want);
    snapshot_unref(s);
}

/* Arguments and results of typed procedures that already have their
 * type are passed as they are; the others convert or fail as before;
 * integer I/O limits are stored as they are, others convert or fail. */
static void test_typed_calls(void **state)
{
    (void)state;
    snapshot *s = policyfx_snap(snap2);
    policyfx *f = policyfx_new(&review_cat, 0, 0);
    policyfx_set_ok(f, "c",
           "real :: nothing\n"
           "real function half(x)\n"
           "   real :: x\n"
           "   half = x / 2\n"
           "end function\n"
           "integer function twice(k)\n"
           "   integer :: k\n"
           "   twice = k * 2.5\n"
           "end function\n"
           "logical function pos(x)\n"
           "   pos = x > 0\n"
           "end function\n"
           "function same(x)\n"
           "   same = x\n"
           "end function\n"
           "logical function has(x)\n"
           "   real :: x\n"
           "   has = present(x)\n"
           "end function\n"
           "print *, half(3), half(3.0), twice(2), twice(2.9), pos(1), pos(-1.5), same(4), "
           "same(nothing), has(nothing), has(1)\n",
           "c.mom");
    assert_run(f, s, "ok host0={} g0={} g1={}");
    assert_int_equal(f->cap.n_debug, 1);
    assert_string_equal(f->cap.debug[0], "c.mom:20: 1.5 1.5 5 5 T F 4 absent F T");
    policyfx_set_ok(f, "c",
           "real function half(x)\n"
           "   real :: x\n"
           "   half = x / 2\n"
           "end function\n"
           "subroutine q(v)\n"
           "   print *, half(v)\n"
           "end subroutine\n"
           "call q(\"x\")\n",
           "c.mom");
    assert_fails_with(f, s, "c.mom:6:13: error: argument 1 of 'half': cannot convert a character "
                            "value to real");
    policyfx_set_ok(f, "c",
           "integer function big(x)\n"
           "   real :: x\n"
           "   big = x\n"
           "end function\n"
           "print *, big(1e300)\n",
           "c.mom");
    assert_fails_with(f, s, "c.mom:3:10: error: big: 1e+300 is out of the integer range");
    policyfx_set_ok(f, "c",
           "do g in guests\n"
           "   do d in g%io_tune\n"
           "      d%current%read_iops_sec = 9\n"
           "      d%current%write_iops_sec = 2.5\n"
           "      print *, d%current%read_iops_sec, d%current%write_iops_sec\n"
           "   end do\n"
           "end do\n",
           "c.mom");
    assert_run(f, s,
               "ok host0={} g0={\"io_tune\": [{\"name\": \"vda\", \"path\": \"/i/vda\", "
               "\"ioTune\": {\"total_bytes_sec\": 100, \"read_bytes_sec\": 200, "
               "\"write_bytes_sec\": 300, \"total_iops_sec\": 400, \"read_iops_sec\": 9, "
               "\"write_iops_sec\": 2}}]} g1={}");
    assert_string_equal(f->cap.debug[f->cap.n_debug - 1], "c.mom:5: 9 2");
    policyfx_set_ok(f, "c",
           "do g in guests\n"
           "   do d in g%io_tune\n"
           "      d%current%read_iops_sec = 1e300\n"
           "   end do\n"
           "end do\n",
           "c.mom");
    assert_fails_with(f, s, "c.mom:3:17: error: the I/O limit read_iops_sec is out of the "
                            "integer range");
    policyfx_free(f);
    snapshot_unref(s);
}

/* Conditions call their node's handler directly: leaves (a logical
 * global, a constant, a component) keep their values and errors, and an
 * if without a body or without an else runs as before, steps included. */
static void test_conditions(void **state)
{
    (void)state;
    snapshot *s = policyfx_snap(snap2);
    policyfx *f = policyfx_new(&review_cat, 0, 0);
    policyfx_set_ok(f, "k",
           "logical :: flag = .true.\n"
           "integer :: n = 0\n"
           "if (flag) n = n + 1\n"
           "if (.not. flag) n = n + 10\n"
           "if (.true.) then\n"
           "end if\n"
           "if (.false.) then\n"
           "else\n"
           "end if\n"
           "if (flag) then\n"
           "else\n"
           "   n = n + 100\n"
           "end if\n"
           "print *, n\n",
           "k.mom");
    assert_run(f, s, "ok host0={} g0={} g1={}");
    assert_int_equal(f->cap.n_debug, 1);
    assert_string_equal(f->cap.debug[0], "k.mom:14: 1");
    policyfx_set_ok(f, "k",
           "do g in guests\n"
           "   if (g%mem_unused > 0) then\n"
           "   end if\n"
           "   if (g%mem_unused) cycle\n"
           "end do\n",
           "k.mom");
    assert_fails_with(f, s, "k.mom:4:10: error: a condition must be logical, not integer");
    policyfx_set_ok(f, "k",
           "do g in guests\n"
           "   if (g%a == 2 .and. g%mem_unused > 0) then\n"
           "   end if\n"
           "end do\n",
           "k.mom");
    assert_fails_with(f, s, "k.mom:2:25: error: guest vm2: mem_unused is absent; test it with "
                            "present()");
    policyfx_set_ok(f, "k",
           "do g in guests\n"
           "   if (g%c) cycle\n"
           "end do\n",
           "k.mom");
    assert_fails_with(f, s, "k.mom:2:10: error: guest vm1: c is absent; test it with present()");
    policyfx_free(f);

    /* Empty bodies still cost their statements. */
    f = policyfx_new(&review_cat, 0, 0);
    policyfx_set_ok(f, "k",
           "do while (.true.)\n"
           "   if (.true.) then\n"
           "   end if\n"
           "end do\n",
           "k.mom");
    assert_fails_with(f, s, "policy step limit exceeded");
    policyfx_free(f);
    snapshot_unref(s);
}

/* ---- the step budget ------------------------------------------------------------------------ */

/* Runaway loops hit the step limit: do while with an empty body, a
 * counted loop with an empty body, a do while whose body only cycles,
 * and a loop that calls a procedure with an empty body. */
static void test_step_limit_loops(void **state)
{
    (void)state;
    snapshot *s = policyfx_snap(snap2);
    static const char *const texts[] = {
        "do while (.true.)\nend do\n",
        "integer :: i\ndo i = 1, 9223372036854775806\nend do\n",
        "integer :: i\ndo i = 1, 9223372036854775806\n   cycle\nend do\n",
        "do while (.true.)\n   cycle\nend do\n",
        "subroutine nothing()\nend subroutine\ndo while (.true.)\n   call nothing()\nend do\n",
        "outer: do while (.true.)\n   do while (.true.)\n      cycle outer\n   end do\nend do "
        "outer\n",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        policyfx *f = policyfx_new(&review_cat, 1000, 0);
        policyfx_set_ok(f, "loop", texts[i], "loop.mom");
        assert_fails_with(f, s, "policy step limit exceeded");
        policyfx_free(f);
    }
    snapshot_unref(s);
}

/* Recursion stops at the depth limit, and a deep but finite recursion
 * whose calls each cost steps stops at the step limit. */
static void test_step_limit_recursion(void **state)
{
    (void)state;
    snapshot *s = policyfx_snap(snap2);
    policyfx *f = policyfx_new(&review_cat, 0, 20);
    policyfx_set_ok(f, "r",
           "recursive integer function down(n) result(r)\n"
           "   integer :: n\n"
           "   r = down(n + 1)\n"
           "end function\n"
           "host%ksm_run = down(0)\n",
           "r.mom");
    assert_fails_with(f, s, "call depth limit (20) exceeded");
    policyfx_free(f);

    /* 2^18 calls, at most 18 deep: the steps run out first. */
    f = policyfx_new(&review_cat, 1000, 0);
    policyfx_set_ok(f, "r",
           "recursive integer function fan(n) result(r)\n"
           "   integer :: n\n"
           "   if (n == 0) then\n"
           "      r = 1\n"
           "   else\n"
           "      r = fan(n - 1) + fan(n - 1)\n"
           "   end if\n"
           "end function\n"
           "host%ksm_run = fan(18)\n",
           "r.mom");
    assert_fails_with(f, s, "policy step limit exceeded");
    policyfx_free(f);
    snapshot_unref(s);
}

/* The budget is per guest times the guests: a policy well inside it
 * succeeds (the per-statement charge must not overcount by a factor). */
static void test_step_limit_not_overcounted(void **state)
{
    (void)state;
    snapshot *s = policyfx_snap(snap2);
    /* About 20 steps per trip, 200 trips: 4000 of 2 x 5000. */
    policyfx *f = policyfx_new(&review_cat, 5000, 0);
    policyfx_set_ok(f, "c",
           "integer :: i, t = 0\n"
           "do i = 1, 200\n"
           "   if (.not. (mod(i, 3) == 0 .and. i > 2)) t = t + 1\n"
           "end do\n"
           "host%ksm_run = t\n",
           "c.mom");
    assert_run(f, s, "ok host0={\"ksm_run\": 134} g0={} g1={}");
    policyfx_free(f);
    snapshot_unref(s);
}

/* POLICY-LANGUAGE.md §10.5: "a step is one evaluated expression or
 * statement".  An operand that .or. / .and. never evaluates costs nothing:
 * here 4 statements of about 5 evaluated steps each fit in a budget of
 * 100 (a snapshot without guests counts as one guest), while their
 * unevaluated right operands hold about 4 x 120 nodes. */
static void test_step_limit_short_circuit(void **state)
{
    (void)state;
    snapshot *s = policyfx_snap("{\"host\": [{\"mem_free\": 1}], \"guests\": []}");
    char text[8192];
    size_t len = (size_t)snprintf(text, sizeof(text), "logical :: t = .true., b\ninteger :: x = 1\n");
    for (int k = 0; k < 4; k++) {
        len += (size_t)snprintf(text + len, sizeof(text) - len, "b = t .or. (");
        for (int i = 0; i < 60; i++)
            len += (size_t)snprintf(text + len, sizeof(text) - len, "x + ");
        len += (size_t)snprintf(text + len, sizeof(text) - len, "x > 0)\n");
    }
    snprintf(text + len, sizeof(text) - len, "host%%ksm_run = merge(1, 0, b)\n");
    policyfx *f = policyfx_new(&review_cat, 100, 0);
    policyfx_set_ok(f, "sc", text, "sc.mom");
    assert_run(f, s, "ok host0={\"ksm_run\": 1}");
    policyfx_free(f);
    snapshot_unref(s);
}

/* ---- load time ------------------------------------------------------------------------------ */

/* Constant folding runs the handlers before evalf_link() linked the
 * program: parameters from intrinsics and other parameters, case values
 * from parameters, and their errors at load time. */
static void test_load_time_constants(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(&review_cat, 0, 0);
    snapshot *s = policyfx_snap(snap2);
    policyfx_set_ok(f, "k",
           "integer, parameter :: a = max(2, 3) * 2 + mod(7, 4)\n"
           "real, parameter :: b = sqrt(real(a)) + a / 2\n"
           "integer, parameter :: lo = -a, hi = a ** 2\n"
           "logical, parameter :: q = .not. (a > 5) .or. a == 0\n"
           "character, parameter :: w = trim('ab  ') // 'c'\n"
           "integer :: x = 0\n"
           "select case (a)\n"
           "case (lo:0)\n"
           "   x = 1\n"
           "case (1:hi)\n"
           "   x = 2\n"
           "end select\n"
           "if (q) x = x + 10\n"
           "host%ksm_run = x\n"
           "host%ksm_pages_to_scan = b\n"
           "print *, w, len(w)\n",
           "k.mom");
    assert_run(f, s, "ok host0={\"ksm_run\": 2, \"ksm_pages_to_scan\": 7.0} g0={} g1={}");
    assert_string_equal(f->cap.debug[f->cap.n_debug - 1], "k.mom:16: abc 3");
    char *err = NULL;
    assert_int_equal(policy_set_set(f->p, "k", "integer, parameter :: z = 1 / 0\nprint *, z\n",
                                    "k.mom", &err),
                     MOM_E_POLICY);
    assert_non_null(strstr(err, "k.mom:1:29: error: division by zero"));
    mom_free(err);
    snapshot_unref(s);
    policyfx_free(f);
}

/* ---- mixed sets ---------------------------------------------------------------------------- */

/* Classic code calls a Fortran-like function and the other way round;
 * the callee runs its linked body once per call. */
static void test_cross_dialect(void **state)
{
    (void)state;
    policyfx *f = policyfx_new(&review_cat, 0, 0);
    snapshot *s = policyfx_snap(snap2);
    policyfx_set_ok(f, "b",
           "(def helper (v) (* v 100))\n"
           "(Host.Control \"ksm_run\" (+ (twice 3) (twice -1)))\n"
           "(Host.Control \"ksm_pages_to_scan\" n)\n",
           "b.policy");
    policyfx_set_ok(f, "a",
           "integer :: n = 0\n"
           "integer function twice(v)\n"
           "   integer :: v\n"
           "   n = n + 1\n"
           "   if (.not. (v > 0)) then\n"
           "      twice = 0\n"
           "   else\n"
           "      twice = v * 2 + helper(v)\n"
           "   end if\n"
           "end function\n",
           "a.mom");
    assert_run(f, s, "ok host0={\"ksm_run\": 306, \"ksm_pages_to_scan\": 2} g0={} g1={}");
    snapshot_unref(s);
    policyfx_free(f);
}

/* ---- history cache ---------------------------------------------------------------------------- */

/*
 * avg() through the history cache against avg() on the same windows with
 * unnumbered copies of the samples (which the cache never answers), over
 * random engine-like histories: guests that gain 0 to 3 samples between
 * evaluations, come and go and change places, history lengths that
 * change, the same or an older snapshot evaluated again, integers,
 * reals, absences and now and then a string.
 */
enum { RG = 6, RCHAIN = 400, RF = 3 };

typedef struct rguest {
    char name[16];
    sample *s[RCHAIN];
    int len;
} rguest;

typedef struct rworld {
    fieldtab *gt, *ht;
    rguest g[RG];
    sample *host[RCHAIN];
    int host_len;
    uint64_t seq;
    int live[RG], n_live;
    unsigned rnd;
} rworld;

static unsigned rnext(rworld *w)
{
    w->rnd = w->rnd * 1103515245u + 12345u;
    return (w->rnd >> 16) & 0x7fff;
}

static sample *rsample(rworld *w, size_t nf)
{
    sample *s = sample_new(nf);
    assert_non_null(s);
    s->seq = ++w->seq;
    for (size_t k = 0; k < nf; k++) {
        unsigned r = rnext(w) % 100;
        if (r < 8)
            s->f[k].kind = FV_NONE;
        else if (r < 12)
            s->f[k].kind = FV_MISSING;
        else if (r < 50) {
            s->f[k].kind = FV_INT;
            s->f[k].u.i = (int64_t)(rnext(w) % 2000) - 700;
        } else if (r < 85) {
            s->f[k].kind = FV_REAL;
            s->f[k].u.r = (double)rnext(w) / 7.0 + 0.1;
        } else if (r < 92) {
            fval_set_value(&s->f[k], value_new_int((int64_t)(rnext(w) % 50)));
        } else if (r < 99 || k != 2) {
            fval_set_value(&s->f[k], value_new_real((double)rnext(w) / 3.0));
        } else {
            fval_set_value(&s->f[k], value_new_string("s"));
        }
    }
    return s;
}

/* A copy of s without its number. */
static sample *unnumbered(const sample *s)
{
    sample *c = sample_new(s->n);
    assert_non_null(c);
    c->time = s->time;
    for (uint32_t k = 0; k < s->n; k++) {
        c->f[k] = s->f[k];
        if (c->f[k].kind == FV_VALUE)
            mom_value_ref(c->f[k].u.v);
    }
    return c;
}

static void rentity(snap_entity *e, mom_entity_kind kind, const char *name, const fieldtab *t,
                    sample *const *smp, int n, bool numbered)
{
    sample *tmp[RCHAIN];
    for (int k = 0; k < n; k++)
        tmp[k] = numbered ? smp[k] : unnumbered(smp[k]);
    mom_value *props = value_new_map();
    assert_non_null(props);
    if (kind == MOM_ENTITY_GUEST)
        assert_int_equal(value_map_set(props, "name", value_new_string(name)), 0);
    assert_int_equal(snap_entity_init(e, kind, kind == MOM_ENTITY_HOST ? "host" : name, name,
                                      NULL, 0, props, t, tmp, (size_t)n),
                     0);
    mom_value_unref(props);
    if (!numbered)
        for (int k = 0; k < n; k++)
            sample_unref(tmp[k]);
}

/* The snapshot of the live guests, each with its newest `hlen` samples
 * (fewer when it has fewer). */
static snapshot *rsnap(rworld *w, int hlen, bool numbered)
{
    snapshot *s = snapshot_new((size_t)w->n_live);
    assert_non_null(s);
    s->host_fields = w->ht;
    s->guest_fields = w->gt;
    int hn = w->host_len < hlen ? w->host_len : hlen;
    rentity(&s->host, MOM_ENTITY_HOST, "host", w->ht, w->host + w->host_len - hn, hn, numbered);
    for (int i = 0; i < w->n_live; i++) {
        rguest *g = &w->g[w->live[i]];
        int n = g->len < hlen ? g->len : hlen;
        rentity(&s->guests[i], MOM_ENTITY_GUEST, g->name, w->gt, g->s + g->len - n, n, numbered);
    }
    return s;
}

static void rworld_free(rworld *w)
{
    for (int i = 0; i < RG; i++)
        for (int k = 0; k < w->g[i].len; k++)
            sample_unref(w->g[i].s[k]);
    for (int k = 0; k < w->host_len; k++)
        sample_unref(w->host[k]);
    fieldtab_free(w->gt);
    fieldtab_free(w->ht);
}

static fieldtab *rtable(const char *const *names, size_t n)
{
    fieldtab *t = fieldtab_new();
    assert_non_null(t);
    for (size_t i = 0; i < n; i++)
        assert_true(fieldtab_add(t, names[i], false) >= 0);
    assert_int_equal(fieldtab_finish(t), 0);
    return t;
}

static const char avg_policy[] =
    "host%ksm_run = avg(host%x)\n"
    "do g in guests\n"
    "   g%balloon_target = avg(g%a)\n"
    "   g%vcpu_quota = avg(g%b)\n"
    "   if (present(g%c)) then\n"
    "      g%vcpu_period = avg(g%c) + avg(g%a)\n"
    "   end if\n"
    "end do\n";

static void test_histcache_random(void **state)
{
    (void)state;
    static const char *const gnames[] = { "a", "b", "c" };
    static const char *const hnames[] = { "x" };
    rworld *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    w->gt = rtable(gnames, RF);
    w->ht = rtable(hnames, 1);
    w->rnd = 12345;
    for (int i = 0; i < RG; i++) {
        snprintf(w->g[i].name, sizeof(w->g[i].name), "vm%d", i);
        if (i < 4)
            w->live[w->n_live++] = i;
    }
    policyfx *cached = policyfx_new(&review_cat, 0, 0), *plain = policyfx_new(&review_cat, 0, 0);
    policyfx_set_ok(cached, "avg", avg_policy, "avg.mom");
    policyfx_set_ok(plain, "avg", avg_policy, "avg.mom");
    int hlen = 6, checked = 0;
    snapshot *prev = NULL, *prev_plain = NULL;
    for (int it = 0; it < 1500; it++) {
        /* Collections between two evaluations. */
        for (int i = 0; i < w->n_live; i++) {
            rguest *g = &w->g[w->live[i]];
            int add = (int)(rnext(w) % 4);
            for (int k = 0; k < add && g->len < RCHAIN; k++)
                g->s[g->len++] = rsample(w, RF);
        }
        if (w->host_len < RCHAIN)
            w->host[w->host_len++] = rsample(w, 1);
        unsigned r = rnext(w) % 100;
        if (r < 5) {
            hlen = 1 + (int)(rnext(w) % 14); /* history length changes */
        } else if (r < 12 && w->n_live > 1) {
            /* Two guests change places. */
            int a = (int)(rnext(w) % (unsigned)w->n_live), b = (int)(rnext(w) % (unsigned)w->n_live);
            int t = w->live[a];
            w->live[a] = w->live[b];
            w->live[b] = t;
        } else if (r < 16 && w->n_live > 1) {
            /* A guest goes away. */
            int a = (int)(rnext(w) % (unsigned)w->n_live);
            memmove(&w->live[a], &w->live[a + 1], (size_t)(w->n_live - a - 1) * sizeof(int));
            w->n_live--;
        } else if (r < 20 && w->n_live < RG) {
            /* A guest (back) at some place. */
            int g = (int)(rnext(w) % RG);
            bool there = false;
            for (int i = 0; i < w->n_live; i++)
                there |= w->live[i] == g;
            if (!there) {
                int a = (int)(rnext(w) % (unsigned)(w->n_live + 1));
                memmove(&w->live[a + 1], &w->live[a], (size_t)(w->n_live - a) * sizeof(int));
                w->live[a] = g;
                w->n_live++;
            }
        }
        /* Guests without samples are not in a snapshot. */
        bool empty = false;
        for (int i = 0; i < w->n_live; i++)
            empty |= w->g[w->live[i]].len == 0;
        if (empty)
            continue;
        snapshot *s = rsnap(w, hlen, true), *sp = rsnap(w, hlen, false);
        char *want = run(plain, sp);
        char *got = run(cached, s);
        if (strcmp(got, want) != 0)
            fail_msg("iteration %d:\n  cached %s\n  direct %s", it, got, want);
        free(got);
        checked++;
        /* Now and then the same snapshot again, or the one before. */
        if (rnext(w) % 10 == 0) {
            got = run(cached, s);
            assert_string_equal(got, want);
            free(got);
        }
        if (prev && rnext(w) % 10 == 0) {
            char *w2 = run(plain, prev_plain);
            got = run(cached, prev);
            assert_string_equal(got, w2);
            free(got);
            free(w2);
        }
        free(want);
        snapshot_unref(prev);
        snapshot_unref(prev_plain);
        prev = s;
        prev_plain = sp;
    }
    assert_true(checked > 1000);
    snapshot_unref(prev);
    snapshot_unref(prev_plain);
    policyfx_free(cached);
    policyfx_free(plain);
    rworld_free(w);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_condition_once),
        cmocka_unit_test(test_not_condition_errors),
        cmocka_unit_test(test_side_effects_once),
        cmocka_unit_test(test_print_order),
        cmocka_unit_test(test_arith_rules),
        cmocka_unit_test(test_io_limits),
        cmocka_unit_test(test_inline_leaves_absent),
        cmocka_unit_test(test_present_components),
        cmocka_unit_test(test_mixed_arith),
        cmocka_unit_test(test_typed_calls),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_step_limit_loops),
        cmocka_unit_test(test_step_limit_recursion),
        cmocka_unit_test(test_step_limit_not_overcounted),
        cmocka_unit_test(test_step_limit_short_circuit),
        cmocka_unit_test(test_load_time_constants),
        cmocka_unit_test(test_cross_dialect),
        cmocka_unit_test(test_histcache_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
