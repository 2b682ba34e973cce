/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the loops over the guests prefetch (lang/prefetch.h, pf_loop in
 * lang/eval.h): each loop learns the lines of the guests' samples that its
 * own body reads, in both dialects, and a procedure's reads count for the
 * loop that calls it; reads of older samples (history(), averages) are
 * told apart.  Prefetching never changes a result, so the masks the
 * program learnt are what is checked, and loops over enough guests to
 * prefetch run under the memory checkers with the results of a set that
 * never prefetched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/sample.h"
#include "core/snapshot.h"
#include "core/snapshot_json.h"
#include "core/value.h"
#include "lang/eval.h"
#include "lang/prefetch.h"

#define LIM(t)                                                                                   \
    "{\"total_bytes_sec\": " t ", \"read_bytes_sec\": 0, \"write_bytes_sec\": 0, "              \
    "\"total_iops_sec\": 0, \"read_iops_sec\": 0, \"write_iops_sec\": 0}"

/* Enough fields that they lie on several lines of a sample. */
static const char snap_text[] =
    "{\"host\": [{\"mem_free\": 1}],"
    " \"guests\": ["
    "  {\"props\": {\"name\": \"vm1\"},"
    "   \"stats\": [{\"f0\": 0, \"f1\": 1, \"f2\": 2, \"f3\": 3, \"f4\": 4, \"f5\": 5, \"f6\": 6,"
    "               \"f7\": 7, \"f8\": 8, \"f9\": 9, \"f10\": 10, \"f11\": 11},"
    "              {\"f0\": 0, \"f1\": 1, \"f2\": 2, \"f3\": 3, \"f4\": 4, \"f5\": 5, \"f6\": 6,"
    "               \"f7\": 7, \"f8\": 8, \"f9\": 9, \"f10\": 10, \"f11\": 11,"
    "               \"io_tune\": [{\"name\": \"vda\", \"path\": \"/a\","
    "                            \"guaranteed\": " LIM("0") ", \"maximum\": " LIM("5") ","
    "                            \"current\": " LIM("1") "}]}]},"
    "  {\"props\": {\"name\": \"vm2\"},"
    "   \"stats\": [{\"f0\": 0, \"f1\": 1, \"f2\": 2, \"f3\": 3, \"f4\": 4, \"f5\": 5, \"f6\": 6,"
    "               \"f7\": 7, \"f8\": 8, \"f9\": 9, \"f10\": 10, \"f11\": 11,"
    "               \"io_tune\": null}]}]}";

/* Four Fortran-like loops and two classic ones, each reading its own
 * fields: the second through a procedure, the third with history(), the
 * fourth and the sixth the guests' I/O records. */
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
    "do guest in guests\n"
    "   if (.not. present(guest%io_tune)) cycle\n"
    "   do disk in guest%io_tune\n"
    "      disk%current%total_bytes_sec = disk%maximum%total_bytes_sec\n"
    "   end do\n"
    "end do\n"
    "\n"
    "subroutine grow(g)\n"
    "   g%vcpu_quota = g%f6 + avg(g%f7)\n"
    "end subroutine\n";

static const char classic_text[] =
    "(with Guests guest (guest.Control \"x\" (+ guest.f9 (guest.StatAvg \"f10\"))))\n"
    "(with Guests guest (if (valid guest.io_tune)"
    " (with guest.io_tune t (t.setReadBytesSec 7)) 0))\n";

static const char *const host_fields[] = { "mem_free", NULL };
static const char *const guest_fields[] = { "f0", "f1", "f2",  "f3",  "f4",      "f5",
                                            "f6", "f7", "f8",  "f9",  "f10",     "f11",
                                            "io_tune", NULL };
static const policy_catalog cat = { .host_fields = host_fields, .guest_fields = guest_fields };

/* The two policies above as one program. */
static program *load(void)
{
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
    return p;
}

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

    program *p = load();

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
    assert_int_equal(p->n_pf_loops, 6);
    /* What each loop reads: the second through a procedure, the third
     * with history(), the fourth and sixth the I/O records (only those
     * fetch them). */
    const struct {
        uint64_t cur, hist, avg;
        bool io;
    } want[6] = {
        { bit(s, "f0"), 0, 0, false },
        { bit(s, "f6") | bit(s, "f7"), 0, bit(s, "f7"), false },
        { bit(s, "f11"), bit(s, "f11"), 0, false },
        { bit(s, "io_tune"), 0, 0, true },
        { bit(s, "f9") | bit(s, "f10"), 0, bit(s, "f10"), false },
        { bit(s, "io_tune"), 0, 0, true },
    };
    for (int i = 0; i < 6; i++) {
        const pf_loop *l = &p->pf_loops[i];
        assert_int_equal(l->cur, want[i].cur);
        assert_int_equal(l->hist, want[i].hist);
        assert_int_equal(l->avg, want[i].avg);
        assert_int_equal(l->io, want[i].io);
    }

    program_free(p);
    snapshot_unref(s);
}

/* An io_tune value: one disk whose maximum total_bytes_sec is max. */
static mom_value *io_value(int64_t max)
{
    mom_value *list = value_new_list(), *d = value_new_map();
    mom_value *mx = value_new_map(), *cur = value_new_map();
    assert_non_null(list);
    assert_non_null(d);
    assert_non_null(mx);
    assert_non_null(cur);
    assert_int_equal(value_map_set(mx, "total_bytes_sec", value_new_int(max)), 0);
    assert_int_equal(value_map_set(cur, "total_bytes_sec", value_new_int(0)), 0);
    assert_int_equal(value_map_set(d, "name", value_new_string("vda")), 0);
    assert_int_equal(value_map_set(d, "path", value_new_string("/a")), 0);
    assert_int_equal(value_map_set(d, "maximum", mx), 0);
    assert_int_equal(value_map_set(d, "current", cur), 0);
    assert_int_equal(value_list_append(list, d), 0);
    return list;
}

/* A snapshot of n guests with `hist` numbered samples each (as the
 * engine's: the history cache is used), built from the C API; guest i's
 * field f<k> is i + k in every sample. */
static snapshot *big_snap(const fieldtab *gft, const fieldtab *hft, size_t n, size_t hist,
                          uint64_t first_seq)
{
    snapshot *s = snapshot_new(n);
    assert_non_null(s);
    s->host_fields = hft;
    s->guest_fields = gft;
    sample *h = sample_new(hft->n);
    assert_non_null(h);
    h->f[0].kind = FV_INT;
    h->f[0].u.i = 1;
    assert_int_equal(snap_entity_init(&s->host, MOM_ENTITY_HOST, "host", "host", NULL, 0, NULL,
                                      hft, &h, 1),
                     0);
    sample_unref(h);
    sample *sm[8];
    assert_true(hist <= 8);
    int io_fid = fieldtab_find(gft, "io_tune");
    assert_true(io_fid >= 0);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < hist; k++) {
            sm[k] = sample_new(gft->n);
            assert_non_null(sm[k]);
            sm[k]->seq = first_seq + k * n + i;
            for (size_t f = 0; f < gft->n; f++) {
                sm[k]->f[f].kind = FV_INT;
                sm[k]->f[f].u.i = (int64_t)(i + f);
            }
            fval_set_value(&sm[k]->f[io_fid], io_value((int64_t)i));
        }
        char id[32];
        snprintf(id, sizeof(id), "vm-%zu", i);
        assert_int_equal(snap_entity_init(&s->guests[i], MOM_ENTITY_GUEST, id, id, id, 0, NULL,
                                          gft, sm, hist),
                         0);
        s->guests[i].serial = i + 2;
        for (size_t k = 0; k < hist; k++)
            sample_unref(sm[k]);
    }
    return s;
}

/* Loops over enough guests to prefetch (PF_MIN_GUESTS), through the
 * history cache and history(), in both dialects: the results are those
 * of a policy set that never prefetched before (a new one), and the
 * memory checkers see every prefetch's address computed from valid
 * memory. */
static void test_prefetching_loops(void **state)
{
    (void)state;
    fieldtab *gft = fieldtab_new(), *hft = fieldtab_new();
    for (int k = 0; guest_fields[k]; k++)
        assert_true(fieldtab_add(gft, guest_fields[k], true) >= 0);
    assert_true(fieldtab_add(hft, "mem_free", true) >= 0);
    assert_int_equal(fieldtab_finish(gft), 0);
    assert_int_equal(fieldtab_finish(hft), 0);
    size_t n = PF_MIN_GUESTS + 20;

    program *kept = NULL;
    for (int round = 0; round < 3; round++) {
        snapshot *s = big_snap(gft, hft, n, 4, 1 + (uint64_t)round * 2 * n);
        mom_value *out[2] = { NULL, NULL };
        for (int which = 0; which < 2; which++) {
            program *p = which == 0 ? kept : NULL;
            if (!p) {
                p = load();
                if (which == 0)
                    kept = p;
            }
            controls *ctl = NULL;
            char *msg = NULL;
            if (eval_program(p, s, NULL, NULL, &ctl, NULL, &msg) != 0)
                fail_msg("%s", msg ? msg : "?");
            assert_int_equal(ctl->n_guests, n);
            out[which] = value_new_list();
            for (size_t i = 0; i < n; i++)
                assert_int_equal(value_list_append(out[which], mom_value_ref(ctl->guests[i])), 0);
            controls_free(ctl);
            if (which == 1)
                program_free(p);
        }
        assert_true(value_equal(out[0], out[1]));
        /* vm-7: balloon_target = f0, vcpu_quota = f6 + avg(f7), x = f9 +
         * StatAvg f10. */
        const mom_value *g7 = out[0]->u.c.items[7];
        assert_int_equal(value_map_get(g7, "balloon_target")->u.i, 7);
        assert_true(value_map_get(g7, "vcpu_quota")->u.r == 13.0 + 14.0);
        /* ... and its disk's current limits the maximum and 7. */
        char *io = value_to_json(value_map_get(g7, "io_tune"));
        assert_string_equal(io, "[{\"name\": \"vda\", \"path\": \"/a\", \"ioTune\": "
                                "{\"total_bytes_sec\": 7, \"read_bytes_sec\": 7}}]");
        mom_free(io);
        mom_value_unref(out[0]);
        mom_value_unref(out[1]);
        snapshot_unref(s);
    }
    /* The loops of the kept set learnt what they read. */
    assert_int_equal(kept->n_pf_loops, 6);
    assert_true(kept->pf_loops[1].avg != 0);
    assert_true(kept->pf_loops[2].hist != 0);
    assert_true(kept->pf_loops[3].io && kept->pf_loops[5].io);
    program_free(kept);
    fieldtab_free(gft);
    fieldtab_free(hft);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masks_per_loop),
        cmocka_unit_test(test_prefetching_loops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
