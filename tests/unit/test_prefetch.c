/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the loops over the guests prefetch (lang/prefetch.h, pf_loop in
 * lang/eval.h): each loop learns the lines of the guests' samples that its
 * own body reads, in both dialects, and a procedure's reads count for the
 * loop that calls it; reads of older samples (history(), averages) are
 * told apart.  Prefetching never changes a result, so the masks
 * the program learnt are what is checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/snapshot_json.h"
#include "lang/eval.h"
#include "lang/prefetch.h"

/* Enough fields that they lie on several lines of a sample. */
static const char snap_text[] =
    "{\"host\": [{\"mem_free\": 1}],"
    " \"guests\": ["
    "  {\"props\": {\"name\": \"vm1\"},"
    "   \"stats\": [{\"f0\": 0, \"f1\": 1, \"f2\": 2, \"f3\": 3, \"f4\": 4, \"f5\": 5, \"f6\": 6,"
    "               \"f7\": 7, \"f8\": 8, \"f9\": 9, \"f10\": 10, \"f11\": 11},"
    "              {\"f0\": 0, \"f1\": 1, \"f2\": 2, \"f3\": 3, \"f4\": 4, \"f5\": 5, \"f6\": 6,"
    "               \"f7\": 7, \"f8\": 8, \"f9\": 9, \"f10\": 10, \"f11\": 11}]},"
    "  {\"props\": {\"name\": \"vm2\"},"
    "   \"stats\": [{\"f0\": 0, \"f1\": 1, \"f2\": 2, \"f3\": 3, \"f4\": 4, \"f5\": 5, \"f6\": 6,"
    "               \"f7\": 7, \"f8\": 8, \"f9\": 9, \"f10\": 10, \"f11\": 11}]}]}";

/* Three Fortran-like loops and one classic one, each reading its own
 * fields: the second through a procedure, the third with history(). */
static const char fortran_text[] =
    "integer :: n\n"
    "do guest in guests\n"
    "   if (present(guest%f0)) guest%balloon_target = guest%f0\n"
    "end do\n"
    "do guest in guests\n"
    "   call grow(guest)\n"
    "end do\n"
    "do guest in guests\n"
    "   n = size(history(guest%f11))\n"
    "end do\n"
    "\n"
    "subroutine grow(g)\n"
    "   g%vcpu_quota = g%f6 + avg(g%f7)\n"
    "end subroutine\n";

static const char classic_text[] =
    "(with Guests guest (guest.Control \"x\" (+ guest.f9 (guest.StatAvg \"f10\"))))\n";

static const char *const host_fields[] = { "mem_free", NULL };
static const char *const guest_fields[] = { "f0", "f1", "f2", "f3", "f4",  "f5",
                                            "f6", "f7", "f8", "f9", "f10", "f11", NULL };
static const policy_catalog cat = { .host_fields = host_fields, .guest_fields = guest_fields };

static uint64_t bit(const snapshot *s, const char *field)
{
    int fid = fieldtab_find(s->guests[0].fields, field);
    assert_true(fid >= 0);
    return policy_pf_bit(fid);
}

static void test_masks_per_loop(void **state)
{
    (void)state;
    snapshot *s = NULL;
    char *err = NULL;
    if (snapshot_json_parse(snap_text, sizeof(snap_text) - 1, "test", &s, &err) < 0)
        fail_msg("%s", err ? err : "?");
    /* The fields must be spread over lines for the test to tell loops
     * apart. */
    assert_int_not_equal(bit(s, "f0"), bit(s, "f11"));
    assert_int_not_equal(bit(s, "f0"), bit(s, "f6"));

    program *p = NULL;
    assert_int_equal(program_new(&p), 0);
    p->catalog = &cat;
    lang_error lerr;
    int file = 0;
    if (program_add(p, "10-loops", "10-loops.mom", fortran_text, POLICY_DIALECT_FORTRAN,
                    &lerr) < 0 ||
        program_add(p, "20-classic", "20-classic.policy", classic_text, POLICY_DIALECT_CLASSIC,
                    &lerr) < 0 ||
        program_finish(p, &lerr, &file) < 0)
        fail_msg("%u:%u: %s", lerr.line, lerr.col, lerr.msg);

    for (int round = 0; round < 2; round++) {
        controls *ctl = NULL;
        mom_value *res = NULL;
        char *msg = NULL;
        int r = eval_program(p, s, NULL, NULL, &ctl, &res, &msg);
        if (r)
            fail_msg("%s", msg ? msg : "?");
        controls_free(ctl);
        mom_value_unref(res);
    }
    /* One entry per loop, in the order they first ran. */
    assert_int_equal(p->n_pf_loops, 4);
    const pf_loop *l = p->pf_loops;
    assert_int_equal(l[0].cur, bit(s, "f0"));
    assert_int_equal(l[0].hist | l[0].avg, 0);
    assert_int_equal(l[1].cur, bit(s, "f6") | bit(s, "f7"));
    assert_int_equal(l[1].hist, 0);
    assert_int_equal(l[1].avg, bit(s, "f7"));
    assert_int_equal(l[2].cur, bit(s, "f11"));
    assert_int_equal(l[2].hist, bit(s, "f11"));
    assert_int_equal(l[2].avg, 0);
    assert_int_equal(l[3].cur, bit(s, "f9") | bit(s, "f10"));
    assert_int_equal(l[3].hist, 0);
    assert_int_equal(l[3].avg, bit(s, "f10"));

    program_free(p);
    snapshot_unref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masks_per_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
