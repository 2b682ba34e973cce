/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * I/O records used in place (src/lang/intrinsics.c): while a guest's
 * io_tune value stays the same object from one evaluation to the next (the
 * monitor shares an unchanged value with the previous sample), the
 * evaluator reads and writes the records it built from it the first time,
 * and undoes the writes at the end of each evaluation.  Whatever the
 * setters did in earlier evaluations, successful or failed, a long-lived
 * policy set must decide exactly what a new set decides on the same
 * snapshot, also when the guests change places in the snapshot, with
 * serials (as the engine's snapshots have) and without (JSON ones).  Both
 * dialects, each alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/sample.h"
#include "core/snapshot.h"
#include "core/value.h"
#include "lang/policy.h"

#define GUESTS 3
#define EVALS 24

static const char *const limit_names[6] = {
    "total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
    "total_iops_sec",  "read_iops_sec",  "write_iops_sec",
};

/* Each evaluation's mode (a guest's swap_in) picks what the policy does:
 * 0 nothing, 1 copy two maximum limits, 2 set one limit to a new value and
 * one to the value it has, 3 set a limit and then fail with a division by
 * zero, 4 set the limit that is None (the second disk's write_bytes_sec)
 * to a number and (classic) another one to None. */
static const char fortran_text[] =
    "do guest in guests\n"
    "   if (.not. present(guest%io_tune)) cycle\n"
    "   do disk in guest%io_tune\n"
    "      select case (guest%swap_in)\n"
    "      case (1)\n"
    "         disk%current%total_bytes_sec = disk%maximum%total_bytes_sec\n"
    "         disk%current%read_iops_sec = disk%maximum%read_iops_sec\n"
    "      case (2)\n"
    "         disk%current%total_bytes_sec = 7\n"
    "         disk%current%read_bytes_sec = 1\n"
    "      case (3)\n"
    "         disk%current%total_bytes_sec = 5\n"
    "         disk%current%read_bytes_sec = 1 / (guest%swap_in - 3)\n"
    "      case (4)\n"
    "         disk%current%write_bytes_sec = 3\n"
    "      end select\n"
    "   end do\n"
    "   guest%balloon_target = disk_sum(guest)\n"
    "end do\n"
    "\n"
    "integer function disk_sum(g)\n"
    "   disk_sum = 0\n"
    "   do d in g%io_tune\n"
    "      if (present(d%current%total_bytes_sec)) disk_sum = disk_sum + d%current%total_bytes_sec\n"
    "   end do\n"
    "end function\n";

static const char classic_text[] =
    "(with Guests guest\n"
    "  (if (valid guest.io_tune)\n"
    "    (with guest.io_tune tune\n"
    "      {\n"
    "        (if (== guest.swap_in 1)\n"
    "          { (defvar m tune.maximum) (tune.setTotalBytesSec m.total_bytes_sec)\n"
    "            (tune.setReadIopsSec m.read_iops_sec) } 0)\n"
    "        (if (== guest.swap_in 2) { (tune.setTotalBytesSec 7) (tune.setReadBytesSec 1) } 0)\n"
    "        (if (== guest.swap_in 3)\n"
    "          { (tune.setTotalBytesSec 5) (tune.setReadBytesSec (/ 1 (- guest.swap_in 3))) } 0)\n"
    "        (if (== guest.swap_in 4) { (tune.setWriteBytesSec 3) (tune.setReadIopsSec nil) } 0)\n"
    "      })\n"
    "    0))\n";

/* Controls alone, kept from one cycle to the next or rebuilt sharing the
 * unchanged values (intrinsics.c, build_map): 0.0 and -0.0 must stay
 * apart, an integer must not stand for a real. */
static const char controls_text[] =
    "do guest in guests\n"
    "   guest%vcpu_quota = 5\n"
    "   select case (guest%swap_in)\n"
    "   case (0)\n"
    "      guest%balloon_target = 0.0\n"
    "   case (1)\n"
    "      guest%balloon_target = -0.0\n"
    "   case (2)\n"
    "      guest%balloon_target = 7\n"
    "      guest%vcpu_quota = 5.0\n"
    "   case (3)\n"
    "      guest%balloon_target = 1 / (guest%swap_in - 3)\n"
    "   end select\n"
    "   guest%vcpu_period = 100000\n"
    "end do\n";

static mom_value *limits(int64_t base)
{
    mom_value *m = value_new_map();
    assert_non_null(m);
    for (int k = 0; k < 6; k++)
        assert_int_equal(value_map_set(m, limit_names[k], value_new_int(base + k)), 0);
    return m;
}

/* Two disks; current limits 0, 1, .., 5 (the second disk's write_bytes_sec
 * None), maximum limits 1000 + 100 * seed + 10 * disk + 0, 1, .. 5; seed 2's
 * first guaranteed limit is a real (no template for its records). */
static mom_value *io_tune(int seed)
{
    mom_value *l = value_new_list();
    assert_non_null(l);
    for (int d = 0; d < 2; d++) {
        mom_value *m = value_new_map();
        char name[8];
        snprintf(name, sizeof(name), "vd%c", 'a' + d);
        value_map_set(m, "name", value_new_string(name));
        value_map_set(m, "path", value_new_string(name));
        mom_value *g = limits(10), *cur = limits(0);
        if (seed == 2)
            assert_int_equal(value_map_set(g, limit_names[0], value_new_real(10.5)), 0);
        if (d == 1)
            assert_int_equal(value_map_set(cur, limit_names[2], value_new_none()), 0);
        value_map_set(m, "guaranteed", g);
        value_map_set(m, "maximum", limits(1000 + 100 * seed + 10 * d));
        value_map_set(m, "current", cur);
        assert_int_equal(value_list_append(l, m), 0);
    }
    return l;
}

typedef struct world {
    fieldtab *hft, *gft;
    mom_value *io[GUESTS];
} world;

/* A snapshot of GUESTS guests with one sample each: at index i guest
 * order[i], whose io_tune is w->io[order[i]] (the same object in every
 * snapshot) and whose mode is modes[i]; serials when `serials`. */
static snapshot *snap_of_n(const world *w, int n, const int *modes, const int *order,
                           bool serials)
{
    snapshot *s = snapshot_new((size_t)n);
    assert_non_null(s);
    s->host_fields = w->hft;
    s->guest_fields = w->gft;
    sample *h = sample_new(w->hft->n);
    assert_non_null(h);
    h->f[0].kind = FV_INT;
    h->f[0].u.i = 1;
    assert_int_equal(snap_entity_init(&s->host, MOM_ENTITY_HOST, "host", "host", NULL, 0, NULL,
                                      w->hft, &h, 1),
                     0);
    sample_unref(h);
    for (int i = 0; i < n; i++) {
        sample *g = sample_new(w->gft->n);
        assert_non_null(g);
        g->f[0].kind = FV_INT;
        g->f[0].u.i = modes[i];
        fval_set_value(&g->f[1], mom_value_ref(w->io[order[i]]));
        char id[16];
        snprintf(id, sizeof(id), "vm-%d", order[i]);
        mom_value *props = value_new_map();
        value_map_set(props, "name", value_new_string(id));
        value_map_set(props, "uuid", value_new_string(id));
        assert_int_equal(snap_entity_init(&s->guests[i], MOM_ENTITY_GUEST, id, id, id, 0, props,
                                          w->gft, &g, 1),
                         0);
        s->guests[i].serial = serials ? (uint64_t)order[i] + 2 : 0;
        mom_value_unref(props);
        sample_unref(g);
    }
    return s;
}

static snapshot *snap_of(const world *w, const int *modes, const int *order, bool serials)
{
    return snap_of_n(w, GUESTS, modes, order, serials);
}

static policy_set *set_of(const char *name, const char *text)
{
    static const policy_opts opts = { 0 };
    policy_set *p = NULL;
    assert_int_equal(policy_set_new(&opts, &p), 0);
    char *err = NULL;
    int r = policy_set_set(p, name, text, name, &err);
    if (r)
        fail_msg("%s", err ? err : "?");
    return p;
}

/* The guests' controls as JSON. */
static char *controls_text_of(const controls *ctl)
{
    mom_value *all = value_new_list();
    for (size_t i = 0; i < ctl->n_guests; i++)
        value_list_append(all, mom_value_ref(ctl->guests[i]));
    char *out = value_to_json(all);
    mom_value_unref(all);
    return out;
}

/* Evaluate p on s: the controls as JSON, or "error: ..."; the controls
 * themselves in *keep when keep is not NULL and the evaluation succeeded. */
static char *eval_text(policy_set *p, const snapshot *s, controls **keep)
{
    controls *ctl = NULL;
    char *err = NULL;
    int r = policy_set_eval(p, s, &ctl, NULL, &err);
    char *out;
    if (r) {
        size_t n = strlen(err ? err : "?") + 8;
        out = mom_malloc(n);
        snprintf(out, n, "error: %s", err ? err : "?");
        mom_free(err);
        return out;
    }
    out = controls_text_of(ctl);
    if (keep)
        *keep = ctl;
    else
        controls_free(ctl);
    return out;
}

static void world_init(world *w)
{
    w->hft = fieldtab_new();
    fieldtab_add(w->hft, "mem_free", false);
    assert_int_equal(fieldtab_finish(w->hft), 0);
    w->gft = fieldtab_new();
    fieldtab_add(w->gft, "swap_in", false);
    fieldtab_add(w->gft, "io_tune", false);
    assert_int_equal(fieldtab_finish(w->gft), 0);
    for (int i = 0; i < GUESTS; i++)
        w->io[i] = io_tune(i);
}

static void world_free(world *w)
{
    for (int i = 0; i < GUESTS; i++)
        mom_value_unref(w->io[i]);
    fieldtab_free(w->hft);
    fieldtab_free(w->gft);
}

static void run(const char *name, const char *text)
{
    world w;
    world_init(&w);
    char *before[GUESTS];
    for (int i = 0; i < GUESTS; i++)
        before[i] = value_to_json(w.io[i]);

    policy_set *kept = set_of(name, text);
    /* Now and then the controls of an evaluation are held through the
     * next one, as a controller that is still busy with them would: the
     * evaluator must not change the maps they lend (ctl_maps). */
    controls *held = NULL;
    char *held_text = NULL;
    int holds = 0;
    unsigned x = 12345;
    int errors = 0, oks = 0;
    for (int e = 0; e < EVALS; e++) {
        int modes[GUESTS];
        for (int i = 0; i < GUESTS; i++) {
            x = x * 1103515245u + 12345u;
            modes[i] = (int)((x >> 16) % 5);
            /* mode 3 fails the whole evaluation, so make it rare */
            if (modes[i] == 3 && (x >> 20) % 3)
                modes[i] = 1;
        }
        /* Now and then the guests change places. */
        int order[GUESTS] = { 0, 1, 2 };
        if (e % 5 == 3) {
            order[0] = 2;
            order[2] = 0;
        }
        snapshot *s = snap_of(&w, modes, order, e % 2 == 0);
        policy_set *fresh = set_of(name, text);
        char *want = eval_text(fresh, s, NULL);
        controls *now = NULL;
        char *got = eval_text(kept, s, e % 3 == 0 ? &now : NULL);
        if (held) {
            char *again = controls_text_of(held);
            assert_string_equal(held_text, again);
            mom_free(again);
            mom_free(held_text);
            controls_free(held);
            holds++;
        }
        held = now;
        held_text = now ? controls_text_of(now) : NULL;
        if (strcmp(want, got) != 0)
            fail_msg("evaluation %d (modes %d %d %d):\nnew set:  %s\nkept set: %s", e, modes[0],
                     modes[1], modes[2], want, got);
        if (getenv("IO_RECORDS_TRACE"))
            fprintf(stderr, "%s\n", got);
        if (strncmp(got, "error:", 6) == 0)
            errors++;
        else
            oks++;
        mom_free(want);
        mom_free(got);
        policy_set_free(fresh);
        snapshot_unref(s);
    }
    /* Both kinds of evaluation happened, and the values were never
     * touched. */
    assert_true(errors > 0);
    assert_true(oks > 0);
    assert_true(holds > 0);
    mom_free(held_text);
    controls_free(held);
    for (int i = 0; i < GUESTS; i++) {
        char *after = value_to_json(w.io[i]);
        assert_string_equal(before[i], after);
        mom_free(after);
        mom_free(before[i]);
    }
    policy_set_free(kept);
    world_free(&w);
}

static controls *eval_ok(policy_set *p, const snapshot *s)
{
    controls *ctl = NULL;
    char *err = NULL;
    if (policy_set_eval(p, s, &ctl, NULL, &err) != 0)
        fail_msg("%s", err ? err : "?");
    return ctl;
}

/* The guests' controls maps are lent to the controls from one array that
 * the policy set keeps (ctl_maps): a guest whose controls did not change
 * gets the same map object, the array is filled in place when the last
 * controls are gone, and a new one is made while they are held or when
 * the number of guests changes. */
static void test_lent_maps(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    policy_set *p = set_of("10-ctl.mom", controls_text);
    const int order[GUESTS] = { 0, 1, 2 };
    const int modes[GUESTS] = { 0, 1, 2 }, modes2[GUESTS] = { 0, 2, 2 };
    snapshot *s1 = snap_of(&w, modes, order, true);
    snapshot *s2 = snap_of(&w, modes2, order, true);
    snapshot *s3 = snap_of_n(&w, 2, modes, order, true);

    controls *c1 = eval_ok(p, s1);
    assert_non_null(c1->shared);
    assert_ptr_equal(c1->guests, c1->shared->maps);
    char *t1 = controls_text_of(c1);
    /* c1 is held: a new array, the same map objects. */
    controls *c2 = eval_ok(p, s1);
    assert_ptr_not_equal(c2->shared, c1->shared);
    for (int i = 0; i < GUESTS; i++)
        assert_ptr_equal(c2->guests[i], c1->guests[i]);
    controls_free(c1);
    /* c2 is held, guest 1 changes: c2 keeps what it had. */
    char *t2 = controls_text_of(c2);
    controls *c3 = eval_ok(p, s2);
    assert_ptr_not_equal(c3->guests[1], c2->guests[1]);
    assert_ptr_equal(c3->guests[0], c2->guests[0]);
    char *again = controls_text_of(c2);
    assert_string_equal(again, t1);
    assert_string_equal(t2, t1);
    mom_free(again);
    controls_free(c2);
    /* Nothing holds c3's array but c3: once it is freed, the next
     * evaluation fills the same array. */
    mom_value **arr = c3->guests;
    char *t3 = controls_text_of(c3);
    controls_free(c3);
    controls *c4 = eval_ok(p, s1);
    assert_ptr_equal(c4->guests, arr);
    char *t4 = controls_text_of(c4);
    assert_string_equal(t4, t1);
    assert_string_not_equal(t3, t1);
    controls_free(c4);
    /* Fewer guests: a new array of the right length. */
    controls *c5 = eval_ok(p, s3);
    assert_int_equal(c5->n_guests, 2);
    assert_int_equal(c5->shared->n, 2);
    controls_free(c5);
    controls *c6 = eval_ok(p, s2);
    assert_int_equal(c6->n_guests, GUESTS);
    char *t6 = controls_text_of(c6);
    assert_string_equal(t6, t3);
    controls_free(c6);

    mom_free(t1);
    mom_free(t2);
    mom_free(t3);
    mom_free(t4);
    mom_free(t6);
    snapshot_unref(s1);
    snapshot_unref(s2);
    snapshot_unref(s3);
    policy_set_free(p);
    world_free(&w);
}

static void test_fortran(void **state)
{
    (void)state;
    run("10-io.mom", fortran_text);
}

static void test_classic(void **state)
{
    (void)state;
    run("10-io.policy", classic_text);
}

static void test_controls(void **state)
{
    (void)state;
    run("10-ctl.mom", controls_text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_controls),
        cmocka_unit_test(test_fortran),
        cmocka_unit_test(test_classic),
        cmocka_unit_test(test_lent_maps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
