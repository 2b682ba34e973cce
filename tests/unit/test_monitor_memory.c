/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a monitor keeps between collections (issue 5: resident memory with
 * a thousand guests): undeclared extras only on the newest sample of the
 * history, also while a published snapshot holds the older ones; no
 * collection scratch between collections; a failed scratch allocation
 * reported as a failed collection without leaks; and a structured value
 * that did not change shared with the previous sample instead of kept twice.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/api.h"
#include "core/monitor.h"
#include "core/snapshot.h"
#include "core/value.h"

static const mom_plugin_api *the_api;
static int64_t next_value;
/* What the collector reports as "v": a list holding v_item, as an integer
 * or (v_real) as a real; no "v" when v_item is negative. */
static int64_t v_item = -1;
static bool v_real;

static int coll_init(const mom_plugin_api *api, mom_entity *e, void **ret)
{
    (void)api;
    (void)e;
    *ret = NULL;
    return 0;
}

/* One declared field ("a", counting up) and one undeclared extra
 * ("extra", the same number), as GuestMemory reports mem_free. */
static int coll_collect(void *st, mom_entity *e, mom_sample *out)
{
    (void)st;
    (void)e;
    int64_t v = next_value++;
    the_api->sample_set_int(out, "a", v);
    the_api->sample_set_int(out, "extra", v);
    if (v_item >= 0) {
        mom_value *l = value_new_list();
        value_list_append(l, v_real ? value_new_real((double)v_item) : value_new_int(v_item));
        the_api->sample_set_value(out, "v", l);
    }
    return 0;
}

static const char *const mand[] = {"a", NULL};
static const char *const opt[] = {"v", NULL};
static const mom_collector C = {.size = sizeof(mom_collector), .name = "C",
                                .kind = MOM_ENTITY_GUEST, .mandatory = mand, .optional = opt,
                                .init = coll_init, .collect = coll_collect};

typedef struct fixture {
    mlog log;
    api_env env;
    fieldtab *t;
    monitor *m;
} fixture;

static int setup(void **state)
{
    fixture *fx = mom_calloc(1, sizeof(*fx));
    assert_non_null(fx);
    mlog_init(&fx->log, NULL, NULL, MOM_LOG_ERROR);
    api_env_init(&fx->env, NULL, &fx->log, NULL);
    the_api = &fx->env.api;
    next_value = 1;
    v_item = -1;
    v_real = false;
    fx->t = fieldtab_new();
    fieldtab_add(fx->t, "a", true);
    fieldtab_add(fx->t, "v", false);
    fieldtab_finish(fx->t);
    const mom_collector *cs[] = {&C};
    assert_int_equal(
        monitor_new(&fx->env, MOM_ENTITY_GUEST, "id", "vm", "uuid", 0, fx->t, cs, 1, 4, &fx->m),
        0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    monitor_free(fx->m);
    fieldtab_free(fx->t);
    mom_free(fx);
    return 0;
}

/* The value of field `f` in sample `s`, or -1. */
static int64_t int_of(const fieldtab *t, const sample *s, const char *f)
{
    int id = fieldtab_find(t, f);
    if (id < 0 || s->f[id].kind != FV_INT)
        return -1;
    return s->f[id].u.i;
}

static int64_t extra_of(const sample *s)
{
    const mom_value *v = s->extras ? value_map_get(s->extras, "extra") : NULL;
    return v ? mom_value_int(v) : -1;
}

/* A snapshot holding the whole history, as the engine publishes one. */
static snapshot *hold_history(fixture *fx)
{
    sample *buf[4];
    size_t n = monitor_history(fx->m, buf);
    snapshot *s = snapshot_new(0);
    assert_non_null(s);
    assert_int_equal(snap_entity_init(&s->host, MOM_ENTITY_GUEST, "id", "vm", "uuid", 0, NULL,
                                      fx->t, buf, n),
                     0);
    return s;
}

/* One collection; the sample gets a number as the engine gives it
 * (sample.seq): 1, 2, 3, ... */
static void collect_once(fixture *fx)
{
    monitor_collect(fx->m);
    assert_non_null(fx->m->pending);
    fx->m->pending->seq = (uint64_t)int_of(fx->t, fx->m->pending, "a");
    assert_true(monitor_finish(fx->m));
}

/* Only the newest sample keeps its extras, whether or not a snapshot
 * holds the older ones; the snapshots keep what they were given. */
static void test_extras_only_on_newest(void **state)
{
    fixture *fx = *state;
    snapshot *held[6] = {NULL};
    for (int i = 0; i < 6; i++) {
        collect_once(fx);
        held[i] = hold_history(fx); /* every sample is shared from now on */
        sample *h[4];
        size_t n = monitor_history(fx->m, h);
        assert_int_equal(n, i + 1 < 4 ? i + 1 : 4);
        for (size_t k = 0; k < n; k++) {
            /* values in order, the oldest dropped at length 4 */
            int64_t want = (int64_t)(i + 1 - (int)n + (int)k) + 1;
            assert_int_equal(int_of(fx->t, h[k], "a"), want);
            /* a copy without extras is still the same sample */
            assert_int_equal(h[k]->seq, (uint64_t)want);
            if (k + 1 < n)
                assert_null(h[k]->extras);
            else
                assert_int_equal(extra_of(h[k]), want);
        }
    }
    /* Every snapshot still sees its newest sample with its extras. */
    for (int i = 0; i < 6; i++) {
        const snap_entity *se = &held[i]->host;
        const sample *newest = se->samples[se->n_samples - 1];
        assert_int_equal(int_of(fx->t, newest, "a"), i + 1);
        assert_int_equal(extra_of(newest), i + 1);
        snapshot_unref(held[i]);
    }
}

/* Nobody else holding the samples: the extras go in place, the samples
 * stay the same objects. */
static void test_extras_dropped_in_place(void **state)
{
    fixture *fx = *state;
    collect_once(fx);
    const sample *first = monitor_latest(fx->m);
    collect_once(fx);
    sample *h[4];
    assert_int_equal(monitor_history(fx->m, h), 2);
    assert_ptr_equal(h[0], first);
    assert_null(h[0]->extras);
    assert_int_equal(extra_of(h[1]), 2);
}

/* Between collections the monitor holds no scratch: no slot arrays, no
 * extras. */
static void test_no_scratch_between_collections(void **state)
{
    fixture *fx = *state;
    assert_null(fx->m->merged.vals);
    assert_null(fx->m->one.vals);
    monitor_collect(fx->m);
    assert_null(fx->m->merged.vals);
    assert_null(fx->m->one.vals);
    assert_null(fx->m->one.extras);
    assert_null(fx->m->merged.extras);
    assert_non_null(fx->m->pending);
    assert_true(monitor_finish(fx->m));
}

/* Failing each allocation of a collection in turn: the collection fails
 * or succeeds as a whole, nothing leaks (run under valgrind or ASan), and
 * the next collection works. */
static void test_collect_alloc_failures(void **state)
{
    fixture *fx = *state;
    collect_once(fx); /* collector instance built */
    collect_once(fx); /* history with a shared-free older sample */
    for (long n = 1; n < 40; n++) {
        snapshot *s = hold_history(fx); /* so that finish copies */
        alloc_fail_at(n);
        monitor_collect(fx->m);
        bool ok = monitor_finish(fx->m);
        alloc_fail_at(0);
        if (!ok) {
            assert_int_equal(fx->m->ready, MONITOR_NOT_READY);
            assert_null(fx->m->merged.vals);
            assert_null(fx->m->one.vals);
        }
        snapshot_unref(s);
        collect_once(fx);
        assert_int_equal(fx->m->ready, MONITOR_READY);
    }
}

/* The value "v" of sample s (NULL when it has none). */
static const mom_value *v_of(const fixture *fx, const sample *s)
{
    int id = fieldtab_find(fx->t, "v");
    assert_true(id >= 0);
    return s->f[id].kind == FV_VALUE ? s->f[id].u.v : NULL;
}

/* A value the same as the previous sample's is that value; one that
 * differs, even only in type (1 and 1.0), is kept as collected.  Also
 * while a snapshot holds the previous sample. */
static void test_unchanged_value_shared(void **state)
{
    fixture *fx = *state;
    v_item = 7;
    collect_once(fx);
    snapshot *held = hold_history(fx);
    collect_once(fx);
    sample *h[4];
    assert_int_equal(monitor_history(fx->m, h), 2);
    assert_non_null(v_of(fx, h[0]));
    assert_ptr_equal(v_of(fx, h[1]), v_of(fx, h[0]));
    v_real = true; /* 7.0: equal in value, not the same */
    collect_once(fx);
    assert_int_equal(monitor_history(fx->m, h), 3);
    assert_ptr_not_equal(v_of(fx, h[2]), v_of(fx, h[1]));
    assert_int_equal(mom_value_type_of(mom_value_at(v_of(fx, h[2]), 0)), MOM_VALUE_REAL);
    v_item = 8;
    collect_once(fx);
    assert_int_equal(monitor_history(fx->m, h), 4);
    assert_ptr_not_equal(v_of(fx, h[3]), v_of(fx, h[2]));
    assert_true(mom_value_real(mom_value_at(v_of(fx, h[3]), 0)) == 8.0);
    v_item = -1; /* absent, then back */
    collect_once(fx);
    monitor_history(fx->m, h);
    assert_null(v_of(fx, h[3]));
    v_item = 8;
    collect_once(fx);
    monitor_history(fx->m, h);
    assert_ptr_not_equal(v_of(fx, h[3]), v_of(fx, h[1]));
    snapshot_unref(held);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_extras_only_on_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extras_dropped_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_scratch_between_collections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collect_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_value_shared, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
