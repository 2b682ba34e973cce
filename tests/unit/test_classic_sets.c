/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Classic policy sets through lang/policy.h: the policy-set rows of
 * POLICY-CLASSIC §9, loading from files and directories, error locations,
 * the step budget and the depth limit, per-entity memory across cycles,
 * I/O-tune controls, dialect selection and debug logging.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/snapshot_json.h"
#include "lang/policy.h"

static const char *srcdir(void)
{
    const char *d = getenv("MOM_TEST_SRCDIR");
    return d ? d : ".";
}

static snapshot *load_snap(const char *rel)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", srcdir(), rel);
    snapshot *s = NULL;
    char *err = NULL;
    if (snapshot_json_load_file(path, &s, &err) < 0)
        fail_msg("snapshot %s: %s", path, err ? err : "?");
    return s;
}

static snapshot *snap_json(const char *text)
{
    snapshot *s = NULL;
    char *err = NULL;
    if (snapshot_json_parse(text, strlen(text), "inline", &s, &err) < 0)
        fail_msg("snapshot: %s", err ? err : "?");
    return s;
}

static snapshot *empty_snap(void)
{
    return snap_json("{\"host\": [{}]}");
}

/* Evaluate and return the results list as "[a, b]" (malloc), or NULL
 * with *ret_error set. */
static char *eval_text(policy_set *p, const snapshot *s, char **ret_error)
{
    controls *c = NULL;
    mom_value *res = NULL;
    char *err = NULL;
    int r = policy_set_eval(p, s, &c, &res, &err);
    if (r < 0) {
        if (ret_error)
            *ret_error = err;
        else
            mom_free(err);
        return NULL;
    }
    size_t cap = 16, len = 1;
    char *out = malloc(cap);
    out[0] = '[';
    for (size_t i = 0; i < mom_value_len(res); i++) {
        const char *item = mom_value_string(mom_value_at(res, i));
        while (len + strlen(item) + 4 > cap)
            out = realloc(out, cap *= 2);
        len += (size_t)sprintf(out + len, "%s%s", i ? ", " : "", item);
    }
    out[len++] = ']';
    out[len] = '\0';
    controls_free(c);
    mom_value_unref(res);
    return out;
}

static void assert_results(policy_set *p, const snapshot *s, const char *want)
{
    char *err = NULL;
    char *got = eval_text(p, s, &err);
    if (!got)
        fail_msg("expected %s, got error %s", want, err ? err : "?");
    if (strcmp(got, want) != 0)
        fail_msg("got %s, want %s", got, want);
    free(got);
}

/* Evaluate expecting an error; returns it (free with mom_free). */
static char *eval_error(policy_set *p, const snapshot *s)
{
    char *err = NULL;
    char *got = eval_text(p, s, &err);
    if (got)
        fail_msg("expected an error, got %s", got);
    assert_non_null(err);
    return err;
}

static policy_set *new_set(const policy_opts *o)
{
    policy_set *p;
    policy_opts d = { 0 };
    assert_int_equal(policy_set_new(o ? o : &d, &p), 0);
    return p;
}

static void set_ok(policy_set *p, const char *name, const char *text)
{
    char *err = NULL;
    int r = policy_set_set(p, name, text, NULL, &err);
    if (r != 0)
        fail_msg("set %s: %d %s", name, r, err ? err : "");
}

static void assert_text(policy_set *p, const char *want)
{
    char *t = policy_set_text(p);
    assert_string_equal(t, want);
    mom_free(t);
}

/* ---- the policy-set rows of §9 ------------------------------------------- */

static void test_set_rows(void **state)
{
    (void)state;
    snapshot *s = empty_snap();
    policy_set *p = new_set(NULL);
    assert_text(p, "0");
    assert_results(p, s, "[]");
    set_ok(p, "b", "(+ 1 1)");
    set_ok(p, "a", "(defvar x 1)");
    assert_text(p, "(defvar x 1)\n(+ 1 1)");
    assert_results(p, s, "[1, 2]");

    char *err = NULL;
    assert_int_equal(policy_set_set(p, "c", "(+ 1", NULL, &err), MOM_E_POLICY);
    assert_string_equal(err, "c:1:1: error: parse error");
    mom_free(err);
    assert_int_equal(policy_set_count(p), 2);
    assert_results(p, s, "[1, 2]");

    assert_int_equal(policy_set_set(p, "b", "(+ 2", NULL, &err), MOM_E_POLICY);
    mom_free(err);
    assert_text(p, "(defvar x 1)\n(+ 1 1)");

    set_ok(p, "50_main_", "7");
    assert_text(p, "7\n(defvar x 1)\n(+ 1 1)");
    assert_results(p, s, "[7, 1, 2]");
    assert_int_equal(policy_set_set(p, "b", NULL, NULL, NULL), 0);
    assert_text(p, "7\n(defvar x 1)");
    /* Deleting an absent name changes nothing. */
    assert_int_equal(policy_set_set(p, "zz", NULL, NULL, NULL), 0);
    assert_int_equal(policy_set_count(p), 2);

    mom_value *m = policy_set_named(p);
    assert_int_equal(mom_value_len(m), 2);
    assert_string_equal(mom_value_string(mom_value_get(m, "a")), "(defvar x 1)");
    mom_value_unref(m);
    policy_set_free(p);
    snapshot_unref(s);
}

static void test_set_name_order(void **state)
{
    (void)state;
    snapshot *s = empty_snap();
    policy_set *p = new_set(NULL);
    set_ok(p, "B", "1");
    set_ok(p, "a", "2");
    set_ok(p, "10", "3");
    set_ok(p, "9", "4");
    assert_results(p, s, "[3, 4, 1, 2]");
    policy_set_free(p);
    snapshot_unref(s);
}

static void test_set_junk_and_comment(void **state)
{
    (void)state;
    snapshot *s = empty_snap();
    policy_set *p = new_set(NULL);
    char *err = NULL;
    /* The original swallowed `b`; classic refuses `a`. */
    assert_int_equal(policy_set_set(p, "a", "1 ! junk", NULL, &err), MOM_E_POLICY);
    assert_string_equal(err, "a:1:3: error: lexical error on line 1: unexpected character '!'");
    mom_free(err);
    set_ok(p, "b", "2");
    assert_results(p, s, "[2]");
    set_ok(p, "a", "1 # trailing");
    assert_results(p, s, "[1, 2]");
    policy_set_free(p);
    snapshot_unref(s);
}

static void test_set_policy_bad_keeps_running(void **state)
{
    (void)state;
    snapshot *s = empty_snap();
    policy_set *p = new_set(NULL);
    const char *name = "50_main_", *good = "(+ 1 2)", *bad = "(+ 1";
    assert_int_equal(policy_set_replace(p, &name, &good, NULL, 1, NULL), 0);
    char *err = NULL;
    assert_int_equal(policy_set_replace(p, &name, &bad, NULL, 1, &err), MOM_E_POLICY);
    assert_string_equal(err, "50_main_:1:1: error: parse error");
    mom_free(err);
    assert_text(p, "(+ 1 2)");
    assert_results(p, s, "[3]");
    /* Replacing with nothing clears the set. */
    assert_int_equal(policy_set_replace(p, NULL, NULL, NULL, 0, NULL), 0);
    assert_int_equal(policy_set_count(p), 0);
    assert_text(p, "0");
    assert_results(p, s, "[]");
    policy_set_free(p);
    snapshot_unref(s);
}

static void test_set_empty_and_comment_only(void **state)
{
    (void)state;
    snapshot *s = empty_snap();
    policy_set *p = new_set(NULL);
    set_ok(p, "e", "");
    assert_text(p, "0");
    assert_results(p, s, "[]");
    set_ok(p, "w", "# only comment");
    assert_text(p, "\n# only comment");
    assert_results(p, s, "[]");
    /* () and {} stay run-time errors. */
    set_ok(p, "x", "()");
    char *err = eval_error(p, s);
    assert_non_null(strstr(err, "x:1:1: error: "));
    mom_free(err);
    policy_set_free(p);
    snapshot_unref(s);
}

/* ---- error locations --------------------------------------------------------- */

static void test_error_true_lines_per_file(void **state)
{
    (void)state;
    snapshot *s = empty_snap();
    policy_set *p = new_set(NULL);
    assert_int_equal(policy_set_set(p, "a", "# one\n# two\n(+ 1 1)\n", "/etc/mom/a.policy", NULL),
                     0);
    assert_int_equal(policy_set_set(p, "b", "\n\"x\ny\"\n  (foo)", "/etc/mom/b.policy", NULL), 0);
    char *err = eval_error(p, s);
    assert_string_equal(err, "/etc/mom/b.policy:4:4: error: undefined function foo on line 4");
    mom_free(err);
    /* A parse error points at the bracket that does not match. */
    char *lerr = NULL;
    assert_int_equal(policy_set_set(p, "c", "(a\n  (b c]\n)", NULL, &lerr), MOM_E_POLICY);
    assert_string_equal(lerr, "c:2:7: error: parse error");
    mom_free(lerr);
    /* An unclosed list points at its opening bracket. */
    assert_int_equal(policy_set_set(p, "c", "1\n  ((+ 1 2)\n", NULL, &lerr), MOM_E_POLICY);
    assert_string_equal(lerr, "c:2:3: error: parse error");
    mom_free(lerr);
    /* Unterminated strings and stray bytes. */
    assert_int_equal(policy_set_set(p, "c", "(+ 1\n 'abc)", NULL, &lerr), MOM_E_POLICY);
    assert_string_equal(lerr, "c:2:2: error: lexical error on line 2: unterminated string");
    mom_free(lerr);
    assert_int_equal(policy_set_set(p, "c", "(x \xC3\xA9)", NULL, &lerr), MOM_E_POLICY);
    assert_string_equal(lerr, "c:1:4: error: lexical error on line 1: unexpected character '\xC3\xA9'");
    mom_free(lerr);
    /* A backslash before a newline does not continue a string. */
    assert_int_equal(policy_set_set(p, "c", "\"a\\\nb\"", NULL, &lerr), MOM_E_POLICY);
    assert_non_null(strstr(lerr, "unterminated string"));
    mom_free(lerr);
    policy_set_free(p);
    snapshot_unref(s);
}

static void test_error_names_guest(void **state)
{
    (void)state;
    snapshot *s = load_snap("tests/fixtures/snapshots/classic-fixture-e.json");
    policy_set *p = new_set(NULL);
    const char *text = "(defvar n 0)\n"
                       "(with Guests g\n"
                       "  (if (== (g.Prop \"name\") \"vm2\") (/ 1 0) (set n (+ n 1))))";
    set_ok(p, "t", text);
    char *err = eval_error(p, s);
    assert_string_equal(err, "t:3:35: error: division by zero on line 3 (guest vm2)");
    mom_free(err);
    /* After the loop no guest is being processed. */
    set_ok(p, "t", "(with Guests g 1) (+ 1 \"a\")");
    err = eval_error(p, s);
    assert_string_equal(err, "t:1:20: error: unsupported operand types for +: 'int' and 'str' on line 1");
    mom_free(err);
    /* Inside a user function called from the loop. */
    set_ok(p, "t", "(def f (x) (x.Stat \"nope\"))\n(with Guests g (f g))");
    err = eval_error(p, s);
    assert_string_equal(err, "t:1:13: error: Field 'nope' is not declared in any collector. (guest vm1)");
    mom_free(err);
    policy_set_free(p);
    snapshot_unref(s);
}

/* ---- limits ------------------------------------------------------------------ */

static void test_depth_limit(void **state)
{
    (void)state;
    snapshot *s = empty_snap();
    policy_opts o = { .depth_limit = 50 };
    policy_set *p = new_set(&o);
    set_ok(p, "t", "(def down (n) (if (<= n 0) 0 (down (- n 1)))) (down 49)");
    assert_results(p, s, "['down', 0]");
    set_ok(p, "t", "(def down (n) (if (<= n 0) 0 (down (- n 1)))) (down 50)");
    char *err = eval_error(p, s);
    assert_non_null(strstr(err, "error: call depth limit (50) exceeded calling \"down\""));
    mom_free(err);
    policy_set_free(p);

    /* The default is 200; endless recursion is caught, not a crash. */
    p = new_set(NULL);
    set_ok(p, "t", "(def f (x) (f x)) (f 1)");
    err = eval_error(p, s);
    assert_non_null(strstr(err, "call depth limit (200) exceeded"));
    mom_free(err);
    policy_set_free(p);
    snapshot_unref(s);
}

static void test_step_limit(void **state)
{
    (void)state;
    snapshot *s = empty_snap();
    policy_opts o = { .step_limit = 1000 };
    policy_set *p = new_set(&o);
    /* One step per character and a few more. */
    set_ok(p, "t", "(if (defvar s (* \"a\" 300)) 0 0) (if (defvar n (with s c 1)) 0 0) 1");
    assert_results(p, s, "[0, 0, 1]");
    set_ok(p, "t", "(if (defvar s (* \"a\" 2000)) 0 0) (if (defvar n (with s c 1)) 0 0) 1");
    char *err = eval_error(p, s);
    assert_non_null(strstr(err, "error: policy step limit exceeded on line 1"));
    mom_free(err);
    policy_set_free(p);
    snapshot_unref(s);
}

static void test_step_limit_scales_with_guests(void **state)
{
    (void)state;
    snapshot *s0 = empty_snap();
    snapshot *s2 = load_snap("tests/fixtures/snapshots/classic-fixture-e.json");
    policy_opts o = { .step_limit = 700 };
    policy_set *p = new_set(&o);
    /* About 900 steps: over the budget of one guest, under that of two. */
    set_ok(p, "t", "(if (defvar s (* \"a\" 900)) 0 0) (if (defvar n (with s c 1)) 0 0)");
    char *err = eval_error(p, s0);
    assert_non_null(strstr(err, "step limit"));
    mom_free(err);
    assert_results(p, s2, "[0, 0]");
    policy_set_free(p);
    snapshot_unref(s0);
    snapshot_unref(s2);
}

static void test_nesting_limit(void **state)
{
    (void)state;
    snapshot *s = empty_snap();
    policy_set *p = new_set(NULL);
    char text[4096];
    for (int depth = 256; depth <= 257; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            n += (size_t)sprintf(text + n, "{");
        n += (size_t)sprintf(text + n, "7");
        for (int i = 0; i < depth; i++)
            text[n++] = '}';
        text[n] = '\0';
        char *err = NULL;
        int r = policy_set_set(p, "t", text, NULL, &err);
        if (depth == 256) {
            assert_int_equal(r, 0);
            assert_results(p, s, "[7]");
        } else {
            assert_int_equal(r, MOM_E_POLICY);
            assert_string_equal(err, "t:1:257: error: expressions nested deeper than 256 levels "
                                     "on line 1");
            mom_free(err);
        }
    }
    policy_set_free(p);
    snapshot_unref(s);
}

/* ---- per-entity memory --------------------------------------------------------- */

static void test_vars_persist(void **state)
{
    (void)state;
    snapshot *e = load_snap("tests/fixtures/snapshots/classic-fixture-e.json");
    snapshot *none = empty_snap();
    policy_set *p = new_set(NULL);
    set_ok(p, "a",
           "(defvar n (Host.GetVar \"n\"))\n"
           "(Host.SetVar \"n\" (+ 1 (if (valid n) n 0)))\n"
           "(with Guests g (g.SetVar 7 (+ (g.Prop \"name\") (if (valid (g.GetVar 7)) \"+\" \"\"))))\n"
           "(Host.GetVar \"n\")\n"
           "(with Guests g (g.GetVar 7.0))");
    assert_results(p, e, "[None, None, [None, None], 1, ['vm1', 'vm2']]");
    assert_results(p, e, "[1, None, [None, None], 2, ['vm1+', 'vm2+']]");
    /* A failed cycle keeps nothing. */
    set_ok(p, "z", "(/ 1 0)");
    char *err = eval_error(p, e);
    mom_free(err);
    assert_int_equal(policy_set_set(p, "z", NULL, NULL, NULL), 0);
    assert_results(p, e, "[2, None, [None, None], 3, ['vm1+', 'vm2+']]");
    /* Replacing the set keeps the memory; a cycle without the guests
     * forgets theirs. */
    set_ok(p, "a", "(Host.GetVar \"n\")");
    assert_results(p, none, "[3]");
    set_ok(p, "a", "(Host.GetVar \"n\") (with Guests g (g.GetVar 7))");
    assert_results(p, e, "[3, [None, None]]");
    policy_set_free(p);
    snapshot_unref(e);
    snapshot_unref(none);
}

/* ---- I/O tune ------------------------------------------------------------------ */

static void test_io_tune_controls(void **state)
{
    (void)state;
    snapshot *s = load_snap("tests/fixtures/snapshots/classic-fixture-e.json");
    policy_set *p = new_set(NULL);
    set_ok(p, "t",
           "(with Guests g (if (valid g.io_tune) (with g.io_tune t {(defvar m t.maximum) "
           "(t.setTotalBytesSec m.total_bytes_sec) (t.setReadIopsSec \" 12 \") "
           "(t.setWriteIopsSec nil) (defvar c t.current) c.total_bytes_sec}) 0))");
    controls *c = NULL;
    mom_value *res = NULL;
    char *err = NULL;
    assert_int_equal(policy_set_eval(p, s, &c, &res, &err), 0);
    assert_string_equal(mom_value_string(mom_value_at(res, 0)), "[[1000], 0]");
    char *j = value_to_json(c->guests[0]);
    assert_string_equal(j, "{\"io_tune\": [{\"name\": \"vda\", \"path\": \"/var/lib/images/vm1-vda.img\", "
                           "\"ioTune\": {\"total_bytes_sec\": 1000, \"read_bytes_sec\": 0, "
                           "\"write_bytes_sec\": 0, \"total_iops_sec\": 0, \"read_iops_sec\": 12, "
                           "\"write_iops_sec\": null}}]}");
    mom_free(j);
    assert_int_equal(mom_value_len(c->guests[1]), 0);
    assert_int_equal(mom_value_len(c->host), 0);
    controls_free(c);
    mom_value_unref(res);
    /* The retained sample is as collected: a new cycle reads 0 again. */
    set_ok(p, "t", "(with Guests g (if (valid g.io_tune) (with g.io_tune t "
                   "{(defvar c t.current) c.total_bytes_sec}) 0))");
    assert_results(p, s, "[[[0], 0]]");
    /* Bad setter values are run-time errors. */
    set_ok(p, "t", "(with Guests g (if (valid g.io_tune) (with g.io_tune t (t.setTotalBytesSec \"1.5\")) 0))");
    err = eval_error(p, s);
    assert_non_null(strstr(err, "invalid literal for int() with base 10: '1.5'"));
    mom_free(err);
    policy_set_free(p);
    snapshot_unref(s);
}

/* ---- dialects and files ------------------------------------------------------------ */

static void test_dialects(void **state)
{
    (void)state;
    assert_int_equal(policy_guess_dialect("x.mom", "(+ 1 2)"), POLICY_DIALECT_FORTRAN);
    assert_int_equal(policy_guess_dialect("x.policy", "x = 1"), POLICY_DIALECT_CLASSIC);
    assert_int_equal(policy_guess_dialect(NULL, ""), POLICY_DIALECT_CLASSIC);
    assert_int_equal(policy_guess_dialect(NULL, "\xEF\xBB\xBF  \n(+ 1 2)"), POLICY_DIALECT_CLASSIC);
    assert_int_equal(policy_guess_dialect(NULL, "12"), POLICY_DIALECT_CLASSIC);
    assert_int_equal(policy_guess_dialect(NULL, "'a'"), POLICY_DIALECT_CLASSIC);
    assert_int_equal(policy_guess_dialect(NULL, "x = 1"), POLICY_DIALECT_FORTRAN);
    assert_int_equal(policy_guess_dialect(NULL, "! dialect: fortran\n(x)"), POLICY_DIALECT_FORTRAN);
    assert_int_equal(policy_guess_dialect(NULL, "  #  DIALECT : Classic \nx"), POLICY_DIALECT_CLASSIC);
    assert_int_equal(policy_guess_dialect("x.txt", "-5"), POLICY_DIALECT_FORTRAN);

    /* Text without a file name that is not classic loads as Fortran-like;
     * a .mom file is Fortran-like whatever its text. */
    policy_set *p = new_set(NULL);
    char *err = NULL;
    assert_int_equal(policy_set_set(p, "f", "integer :: x = 1\nprint *, x\n", NULL, &err), 0);
    assert_int_equal(policy_set_count(p), 1);
    assert_int_equal(policy_set_set(p, "g", "(+ 1 2)", "/x/g.mom", &err), MOM_E_POLICY);
    assert_string_equal(err, "/x/g.mom:1:1: error: syntax error: expected a statement, found '('");
    mom_free(err);
    assert_int_equal(policy_set_count(p), 1);
    policy_set_free(p);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(unlink(path), 0);
}

static void test_load_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/mom-classic-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "10-a.policy", "(defvar a 1) a");
    write_file(dir, "20-b.policy", "(+ a 1)");
    write_file(dir, ".30-hidden.policy", "junk !");
    write_file(dir, "notes.txt", "!!");
    snapshot *s = empty_snap();
    policy_set *p = new_set(NULL);
    char *err = NULL;
    assert_int_equal(policy_set_load_files(p, NULL, dir, &err), 0);
    assert_results(p, s, "[1, 1, 2]");
    mom_value *m = policy_set_named(p);
    assert_int_equal(mom_value_len(m), 2);
    assert_non_null(mom_value_get(m, "10-a"));
    assert_non_null(mom_value_get(m, "20-b"));
    mom_value_unref(m);

    /* Two files with one name. */
    write_file(dir, "20-b.mom", "integer :: b = 1\n");
    assert_int_equal(policy_set_load_files(p, NULL, dir, &err), MOM_E_POLICY);
    assert_non_null(strstr(err, "policy name '20-b' is also given by"));
    mom_free(err);
    remove_file(dir, "20-b.mom");

    /* A bad file: nothing changes, the error names the file. */
    write_file(dir, "30-c.policy", "(+ 1\n  (+ 2 3)");
    assert_int_equal(policy_set_load_files(p, NULL, dir, &err), MOM_E_POLICY);
    char want[512];
    snprintf(want, sizeof(want), "%s/30-c.policy:1:1: error: parse error", dir);
    assert_string_equal(err, want);
    mom_free(err);
    assert_results(p, s, "[1, 1, 2]");
    remove_file(dir, "30-c.policy");

    /* A single policy file is "50_main_", labelled with its path. */
    char file[256];
    snprintf(file, sizeof(file), "%s/notes.txt", dir);
    write_file(dir, "notes.txt", "(defvar q 4)\n(undefined_fn)");
    assert_int_equal(policy_set_load_files(p, file, NULL, &err), 0);
    assert_int_equal(policy_set_count(p), 1);
    m = policy_set_named(p);
    assert_non_null(mom_value_get(m, "50_main_"));
    mom_value_unref(m);
    err = eval_error(p, s);
    snprintf(want, sizeof(want), "%s:2:2: error: undefined function undefined_fn on line 2", file);
    assert_string_equal(err, want);
    mom_free(err);

    /* A missing directory. */
    assert_int_equal(policy_set_load_files(p, NULL, "/nonexistent/mom.d", &err), MOM_E_POLICY);
    assert_non_null(strstr(err, "/nonexistent/mom.d"));
    mom_free(err);
    assert_int_equal(policy_set_count(p), 1);

    remove_file(dir, "10-a.policy");
    remove_file(dir, "20-b.policy");
    remove_file(dir, ".30-hidden.policy");
    remove_file(dir, "notes.txt");

    /* An empty directory is an empty set. */
    assert_int_equal(policy_set_load_files(p, NULL, dir, &err), 0);
    assert_int_equal(policy_set_count(p), 0);

    assert_int_equal(rmdir(dir), 0);
    policy_set_free(p);
    snapshot_unref(s);
}

typedef struct reports {
    int n_err;
    char last[512];
} reports;

static void report(const char *line, int is_error, void *userdata)
{
    reports *r = userdata;
    r->n_err += is_error;
    snprintf(r->last, sizeof(r->last), "%s", line);
}

static void test_check_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/mom-check-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "a.policy", "(+ 1 2)");
    write_file(dir, "b.policy", "(+ 1 2]");
    write_file(dir, "c.policy", "@");
    char pa[512], pb[512], pc[512];
    snprintf(pa, sizeof(pa), "%s/a.policy", dir);
    snprintf(pb, sizeof(pb), "%s/b.policy", dir);
    snprintf(pc, sizeof(pc), "%s/c.policy", dir);
    const char *good[] = { pa };
    const char *all[] = { pa, pb, pc };
    reports r = { 0 };
    policy_opts o = { 0 };
    assert_int_equal(policy_check_files(&o, good, 1, report, &r), 0);
    assert_int_equal(r.n_err, 0);
    assert_int_equal(policy_check_files(&o, all, 3, report, &r), MOM_E_POLICY);
    assert_int_equal(r.n_err, 2);
    char want[600];
    snprintf(want, sizeof(want), "%s:1:1: error: lexical error on line 1: unexpected character '@'",
             pc);
    assert_string_equal(r.last, want);
    remove_file(dir, "a.policy");
    remove_file(dir, "b.policy");
    remove_file(dir, "c.policy");
    assert_int_equal(rmdir(dir), 0);
    char *name = policy_name_from_path("/etc/mom.d/02-balloon.policy");
    assert_string_equal(name, "02-balloon");
    mom_free(name);
    name = policy_name_from_path("x.mom");
    assert_string_equal(name, "x");
    mom_free(name);
}

/* ---- debug output ------------------------------------------------------------------ */

typedef struct logcap {
    int n;
    char line[256];
    char logger[64];
} logcap;

static void capture(mom_log_level level, const char *logger, const char *msg, void *userdata)
{
    logcap *c = userdata;
    if (level != MOM_LOG_DEBUG)
        return;
    c->n++;
    snprintf(c->line, sizeof(c->line), "%s", msg);
    snprintf(c->logger, sizeof(c->logger), "%s", logger);
}

static void test_debug_log(void **state)
{
    (void)state;
    logcap cap = { 0 };
    mlog log;
    mlog_init(&log, capture, &cap, MOM_LOG_DEBUG);
    policy_opts o = { .log = &log };
    snapshot *s = empty_snap();
    policy_set *p = new_set(&o);
    set_ok(p, "t", "(defvar f debug) (f \"test\" 1 nil 2.5 \"it's\")");
    assert_results(p, s, "[<function debug>, \"it's\"]");
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.line, "test 1 None 2.5 it's");
    assert_string_equal(cap.logger, "mom.Policy");
    policy_set_free(p);
    snapshot_unref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_rows),
        cmocka_unit_test(test_set_name_order),
        cmocka_unit_test(test_set_junk_and_comment),
        cmocka_unit_test(test_set_policy_bad_keeps_running),
        cmocka_unit_test(test_set_empty_and_comment_only),
        cmocka_unit_test(test_error_true_lines_per_file),
        cmocka_unit_test(test_error_names_guest),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_step_limit),
        cmocka_unit_test(test_step_limit_scales_with_guests),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_vars_persist),
        cmocka_unit_test(test_io_tune_controls),
        cmocka_unit_test(test_dialects),
        cmocka_unit_test(test_load_files),
        cmocka_unit_test(test_check_files),
        cmocka_unit_test(test_debug_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
