/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The small core modules: values, field tables, samples, the string map,
 * the registry, hypervisor list helpers, and the monitor's merge and ready
 * rules (REFERENCE §3) with scripted collectors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/api.h"
#include "core/hv.h"
#include "core/monitor.h"
#include "core/registry.h"
#include "core/strmap.h"
#include "core/value.h"

/* ---- values ---- */

/* value_same: what value_equal calls equal but a reader can tell apart is
 * not the same. */
static void test_value_same(void **state)
{
    (void)state;
    mom_value *i3 = value_new_int(3), *r3 = value_new_real(3.0), *i3b = value_new_int(3);
    mom_value *pz = value_new_real(0.0), *nz = value_new_real(-0.0), *t = value_new_bool(true),
              *one = value_new_int(1), *nan1 = value_new_real(NAN), *nan2 = value_new_real(NAN);
    assert_true(value_same(i3, i3b));
    assert_false(value_same(i3, r3));
    assert_false(value_same(pz, nz));
    assert_false(value_same(t, one));
    assert_true(value_same(nan1, nan2));
    assert_false(value_same(i3, NULL));
    mom_value *m1 = value_new_map(), *m2 = value_new_map(), *m3 = value_new_map();
    value_map_set(m1, "x", value_new_int(1));
    value_map_set(m1, "y", value_new_string("s"));
    value_map_set(m2, "y", value_new_string("s"));
    value_map_set(m2, "x", value_new_int(1));
    value_map_set(m3, "x", value_new_int(1));
    value_map_set(m3, "y", value_new_string("s"));
    assert_false(value_same(m1, m2)); /* another key order */
    assert_true(value_same(m1, m3));
    mom_value *l1 = value_new_list(), *l2 = value_new_list();
    value_list_append(l1, mom_value_ref(m1));
    value_list_append(l2, mom_value_ref(m3));
    assert_true(value_same(l1, l2));
    value_list_append(l2, value_new_none());
    assert_false(value_same(l1, l2));
    mom_value *arr[] = {i3, r3, i3b, pz, nz, t, one, nan1, nan2, m1, m2, m3, l1, l2};
    for (size_t i = 0; i < sizeof(arr) / sizeof(arr[0]); i++)
        mom_value_unref(arr[i]);
}

static void test_value_equal_exact(void **state)
{
    (void)state;
    mom_value *a = value_new_int(9007199254740993LL), *b = value_new_real(9007199254740992.0);
    assert_false(value_equal(a, b)); /* exact, not after rounding to double */
    mom_value *c = value_new_int(3), *d = value_new_real(3.0), *t = value_new_bool(true),
              *one = value_new_int(1);
    assert_true(value_equal(c, d));
    assert_true(value_equal(t, one));
    mom_value *s1 = value_new_string("ab"), *s2 = value_new_stringn("abc", 2);
    assert_true(value_equal(s1, s2));
    mom_value *m1 = value_new_map(), *m2 = value_new_map();
    value_map_set(m1, "x", value_new_int(1));
    value_map_set(m1, "y", value_new_none());
    value_map_set(m2, "y", value_new_none());
    value_map_set(m2, "x", value_new_real(1.0));
    assert_true(value_equal(m1, m2)); /* key order does not matter */
    value_map_set(m2, "x", value_new_real(1.5));
    assert_false(value_equal(m1, m2));
    mom_value *arr[] = {a, b, c, d, t, one, s1, s2, m1, m2};
    for (size_t i = 0; i < sizeof(arr) / sizeof(arr[0]); i++)
        mom_value_unref(arr[i]);
}

/* value_map_new_like: the copy has the keys and items; copies of copies
 * share one block of keys; replacing items keeps it shared, adding a key
 * gives the map its own; every map reads the same whatever is released
 * first. */
static void test_map_new_like(void **state)
{
    (void)state;
    mom_value *a = value_new_map();
    value_map_set(a, "balloon_target", value_new_int(1));
    value_map_set(a, "vcpu_quota", value_new_real(0.5));
    value_map_set(a, "io_tune", value_new_list());
    mom_value *b = value_map_new_like(a);
    assert_non_null(b);
    assert_true(value_same(a, b));
    assert_true(b->u.c.items[2] == a->u.c.items[2]); /* items referenced */
    assert_true(b->u.c.keys != a->u.c.keys);         /* a keeps its own keys */
    value_map_set_at(b, 0, value_new_int(2));
    assert_int_equal(value_map_get(b, "balloon_target")->u.i, 2);
    assert_int_equal(value_map_get(a, "balloon_target")->u.i, 1);

    mom_value *c = value_map_new_like(b);
    assert_true(c->u.c.keys == b->u.c.keys); /* shared from b on */
    assert_int_equal(value_map_set(c, "vcpu_quota", value_new_int(7)), 0);
    assert_true(c->u.c.keys == b->u.c.keys); /* replacing keeps them shared */
    assert_int_equal(value_map_set(c, "ksm_run", value_new_int(1)), 0);
    assert_true(c->u.c.keys != b->u.c.keys); /* adding a key unshares */
    assert_int_equal(c->u.c.n, 4);
    assert_string_equal(c->u.c.keys[3], "ksm_run");
    assert_string_equal(c->u.c.keys[1], "vcpu_quota");
    assert_int_equal(value_map_get(c, "vcpu_quota")->u.i, 7);
    assert_true(value_map_get(b, "vcpu_quota")->type == MOM_VALUE_REAL);

    mom_value *d = value_map_new_like(b), *e = value_copy(d);
    mom_value_unref(b); /* d keeps the keys alive */
    assert_string_equal(d->u.c.keys[2], "io_tune");
    assert_true(value_same(d, e));
    assert_true(value_equal(d, e));
    mom_value_unref(e);
    mom_value_unref(d);
    mom_value_unref(c);
    mom_value *empty = value_new_map(), *f = value_map_new_like(empty);
    assert_int_equal(f->u.c.n, 0);
    assert_int_equal(value_map_set(f, "x", value_new_int(1)), 0);
    mom_value_unref(f);
    mom_value_unref(empty);
    assert_null(value_map_new_like(NULL));
    mom_value *l = value_new_list();
    assert_null(value_map_new_like(l));
    mom_value_unref(l);

    /* Allocation failures: nothing leaks, the map is unchanged. */
    for (long n = 1;; n++) {
        mom_value *g = value_map_new_like(a), *h = NULL;
        if (g) {
            alloc_fail_at(n);
            h = value_map_new_like(g);
            int r = value_map_set(g, "new", value_new_int(3));
            long used = alloc_count();
            alloc_fail_at(0);
            assert_int_equal(g->u.c.n, r == 0 ? 4 : 3);
            assert_string_equal(g->u.c.keys[2], "io_tune");
            mom_value_unref(h);
            mom_value_unref(g);
            if (h && r == 0 && n > used)
                break;
        }
    }
    mom_value_unref(a);
}

static void test_value_to_int(void **state)
{
    (void)state;
    struct {
        mom_value *v;
        int rc;
        int64_t want;
    } cases[] = {
        {value_new_bool(true), 0, 1},     {value_new_int(-7), 0, -7},
        {value_new_real(7.9), 0, 7},      {value_new_real(-7.9), 0, -7},
        {value_new_real(NAN), -EINVAL, 0}, {value_new_real(INFINITY), -EINVAL, 0},
        {value_new_real(1e30), -ERANGE, 0}, {value_new_string("  42 "), 0, 42},
        {value_new_string("1.5"), -EINVAL, 0}, {value_new_string("abc"), -EINVAL, 0},
        {value_new_none(), -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = 0;
        assert_int_equal(value_to_int(cases[i].v, &got), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(got, cases[i].want);
        mom_value_unref(cases[i].v);
    }
}

static void test_value_format(void **state)
{
    (void)state;
    struct {
        double r;
        const char *py;
    } cases[] = {
        {3.0, "3.0"},        {0.1, "0.1"},           {1e-05, "1e-05"},
        {1e16, "1e+16"},     {123456789.25, "123456789.25"}, {-0.0, "-0.0"},
        {0.0001, "0.0001"},  {2.5e-7, "2.5e-07"},    {20.333333333333332, "20.333333333333332"},
        {INFINITY, "inf"},   {NAN, "nan"},           {1234567890123456.0, "1234567890123456.0"},
    };
    char buf[48];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        value_format_real(cases[i].r, buf, sizeof(buf), true);
        assert_string_equal(buf, cases[i].py);
    }
    mom_value *l = value_new_list();
    value_list_append(l, value_new_string("it's"));
    value_list_append(l, value_new_none());
    value_list_append(l, value_new_bool(false));
    value_list_append(l, value_new_real(0.5));
    char *py = value_to_python(l), *js = value_to_json(l);
    assert_string_equal(py, "[\"it's\", None, False, 0.5]");
    assert_string_equal(js, "[\"it's\", null, false, 0.5]");
    mom_free(py);
    mom_free(js);
    mom_value_unref(l);
}

/* ---- field tables, string map ---- */

static void test_fieldtab(void **state)
{
    (void)state;
    fieldtab *t = fieldtab_new();
    assert_int_equal(fieldtab_add(t, "swap_total", false), 0);
    assert_int_equal(fieldtab_add(t, "mem_free", true), 1);
    assert_int_equal(fieldtab_add(t, "swap_total", true), 0); /* upgraded to mandatory */
    fieldtab_add(t, "io_tune", false);
    assert_int_equal(fieldtab_finish(t), 0);
    assert_int_equal(t->n, 3);
    assert_int_equal(t->n_mandatory, 2);
    assert_true(t->mandatory[0] && t->mandatory[1] && !t->mandatory[2]);
    assert_string_equal(t->names[2], "io_tune");
    assert_int_equal(fieldtab_find(t, t->names[1]), 1);
    assert_int_equal(fieldtab_find(t, "nope"), -1);
    fieldtab_free(t);
}

/* Samples made one after the other lie side by side, each on its own
 * cache line; a sample outlives the others of its block; a sample larger
 * than a block still works; each sample_new is one point of the failure
 * injection.  (That every block is freed is checked by the leak checkers of
 * the SANITIZE and VALGRIND modes.) */
static void test_sample_memory(void **state)
{
    (void)state;
    enum { N = 600 }; /* more than one block of 17-field samples */
    sample *s[N];
    for (size_t i = 0; i < N; i++) {
        s[i] = sample_new(17);
        assert_non_null(s[i]);
        assert_int_equal((uintptr_t)s[i] % 64, 0);
        assert_int_equal(s[i]->n, 17);
        assert_int_equal(s[i]->f[16].kind, FV_MISSING);
        assert_null(s[i]->extras);
        s[i]->f[16].kind = FV_INT;
        s[i]->f[16].u.i = (int64_t)i;
    }
    size_t adjacent = 0;
    for (size_t i = 1; i < N; i++)
        adjacent += (char *)s[i] - (char *)s[i - 1] == 320;
    assert_true(adjacent >= N - 1 - 3); /* a new block now and then */
    /* Release all but a few, in no particular order. */
    for (size_t i = 0; i < N; i++)
        if (i % 97 != 5)
            sample_unref(s[(i * 7) % N]);
    for (size_t i = 0; i < N; i++) {
        size_t k = (i * 7) % N;
        if (i % 97 == 5) {
            assert_int_equal(s[k]->f[16].u.i, (int64_t)k);
            sample_unref(s[k]);
        }
    }

    sample *big = sample_new(10000); /* 160 kB: a block of its own */
    assert_non_null(big);
    assert_int_equal((uintptr_t)big % 64, 0);
    big->f[9999].kind = FV_REAL;
    big->f[9999].u.r = 0.5;
    sample *small = sample_new(2);
    assert_non_null(small);
    assert_true(sample_ref(small) == small);
    sample_unref(big);
    sample_unref(small);
    sample_unref(small);

    for (long n = 1; n <= 2; n++) {
        alloc_fail_at(n);
        sample *a = sample_new(3), *b = sample_new(3);
        alloc_fail_at(0);
        assert_true(n == 1 ? !a && b : a && !b);
        sample_unref(a);
        sample_unref(b);
    }
}

static void test_strmap_churn(void **state)
{
    (void)state;
    strmap m;
    strmap_init(&m);
    char key[32];
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(key, sizeof(key), "k%d-%d", round, i);
            assert_int_equal(strmap_put(&m, key, (void *)(intptr_t)(i + 1)), 0);
        }
        for (int i = 0; i < 100; i++) {
            snprintf(key, sizeof(key), "k%d-%d", round, i);
            assert_int_equal((intptr_t)strmap_get(&m, key), i + 1);
            assert_int_equal((intptr_t)strmap_del(&m, key), i + 1);
        }
    }
    assert_int_equal(m.n, 0);
    assert_true(m.cap <= 512); /* deleted slots do not make the table grow forever */
    assert_null(strmap_get(&m, "k0-0"));
    strmap_done(&m);
}

/* ---- registry ---- */

static int noop_collect(void *s, mom_entity *e, mom_sample *o)
{
    (void)s;
    (void)e;
    (void)o;
    return 0;
}

static void test_registry(void **state)
{
    (void)state;
    registry *r;
    assert_int_equal(registry_new(&r), 0);
    assert_int_equal(registry_n_collectors(r), 15);
    assert_int_equal(registry_n_controllers(r), 4);
    assert_ptr_equal(registry_find_collector(r, "hostmemory"), &mom_collector_HostMemory);
    assert_ptr_equal(registry_find_controller(r, "KSM"), &mom_controller_KSM);
    mom_collector dup = {.size = sizeof(dup), .name = "HostMemory", .kind = MOM_ENTITY_HOST,
                         .collect = noop_collect};
    assert_int_equal(registry_add_collector(r, &dup, "p"), -EEXIST);
    mom_collector bad = {.size = sizeof(bad), .name = "X", .kind = 9, .collect = noop_collect};
    assert_int_equal(registry_add_collector(r, &bad, "p"), -EINVAL);
    mom_collector ok = {.size = sizeof(ok), .name = "Mine", .kind = MOM_ENTITY_GUEST,
                        .collect = noop_collect};
    assert_int_equal(registry_add_collector(r, &ok, "plugin-a"), 0);
    assert_non_null(registry_find_collector(r, "Mine"));
    registry_remove_owner(r, "plugin-a");
    assert_null(registry_find_collector(r, "Mine"));
    assert_non_null(registry_find_collector(r, "HostMemory"));
    registry_free(r);
}

/* ---- hypervisor list helpers ---- */

static void test_hv_lists(void **state)
{
    (void)state;
    mom_hv_list l;
    hv_list_init(&l);
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof(id), "g%d", i);
        assert_int_equal(mom_hv_list_add(&l, id), 0);
    }
    assert_int_equal(l.n, 40);
    assert_string_equal(l.ids[39], "g39");
    hv_list_done(&l);

    mom_hv_disk_list dl = {NULL};
    mom_hv_io_limits g = {.present = MOM_HV_TOTAL_BYTES_SEC, .total_bytes_sec = 100};
    mom_hv_io_limits m = {.present = MOM_HV_IO_ALL, .read_iops_sec = 7};
    assert_int_equal(mom_hv_disk_list_add_policy(&dl, "vda", NULL, &g, &m), 0);
    const mom_value *d0 = mom_value_at(dl.list, 0);
    assert_string_equal(mom_value_string(mom_value_get(d0, "name")), "vda");
    assert_int_equal(mom_value_type_of(mom_value_get(d0, "path")), MOM_VALUE_NONE);
    const mom_value *gv = mom_value_get(d0, "guaranteed");
    assert_int_equal(mom_value_int(mom_value_get(gv, "total_bytes_sec")), 100);
    assert_int_equal(mom_value_type_of(mom_value_get(gv, "read_bytes_sec")), MOM_VALUE_NONE);
    mom_hv_io_limits back;
    hv_limits_from_value(mom_value_get(d0, "maximum"), &back);
    assert_int_equal(back.present, MOM_HV_IO_ALL);
    assert_int_equal(back.read_iops_sec, 7);
    hv_limits_from_value(gv, &back);
    assert_int_equal(back.present, MOM_HV_TOTAL_BYTES_SEC);
    mom_value_unref(dl.list);
}

/* ---- monitor merge and ready rules with scripted collectors ---- */

typedef struct script {
    int rc;          /* what collect returns */
    int64_t a;       /* value for "a" (mandatory) ; -1 = not set */
    int a_none;      /* set "a" to None instead */
    int64_t b;       /* value for "b" (optional); -1 = not set */
    const char *extra;
} script;

static script s1, s2;

static int coll_init(const mom_plugin_api *api, mom_entity *e, void **ret)
{
    (void)api;
    (void)e;
    *ret = NULL;
    return 0;
}

static int run_script(const script *s, const mom_plugin_api *api, mom_sample *out)
{
    if (s->rc)
        return s->rc;
    if (s->a_none)
        api->sample_set_none(out, "a");
    else if (s->a >= 0)
        api->sample_set_int(out, "a", s->a);
    if (s->b >= 0)
        api->sample_set_int(out, "b", s->b);
    if (s->extra)
        api->sample_set_string(out, s->extra, "x");
    return 0;
}

static const mom_plugin_api *the_api;

static int c1_collect(void *st, mom_entity *e, mom_sample *out)
{
    (void)st;
    (void)e;
    return run_script(&s1, the_api, out);
}

static int c2_collect(void *st, mom_entity *e, mom_sample *out)
{
    (void)st;
    (void)e;
    return run_script(&s2, the_api, out);
}

static const char *const c1_mand[] = {"a", NULL};
static const char *const c2_opt[] = {"a", "b", NULL};
static const mom_collector C1 = {.size = sizeof(mom_collector), .name = "C1",
                                 .kind = MOM_ENTITY_GUEST, .mandatory = c1_mand,
                                 .init = coll_init, .collect = c1_collect};
static const mom_collector C2 = {.size = sizeof(mom_collector), .name = "C2",
                                 .kind = MOM_ENTITY_GUEST, .optional = c2_opt,
                                 .init = coll_init, .collect = c2_collect};

static int64_t latest(monitor *m, const char *f, int *kind)
{
    const sample *s = monitor_latest(m);
    int id = fieldtab_find(m->fields, f);
    *kind = s->f[id].kind;
    return s->f[id].kind == FV_INT ? s->f[id].u.i : 0;
}

static void test_monitor_rules(void **state)
{
    (void)state;
    mlog log;
    mlog_init(&log, NULL, NULL, MOM_LOG_DEBUG);
    api_env env;
    api_env_init(&env, NULL, &log, NULL);
    the_api = &env.api;
    fieldtab *t = fieldtab_new();
    fieldtab_add(t, "a", true);
    fieldtab_add(t, "b", false);
    fieldtab_finish(t);
    const mom_collector *cs[] = {&C1, &C2};
    monitor *m;
    assert_int_equal(monitor_new(&env, MOM_ENTITY_GUEST, "id", "vm", "uuid", 0, t, cs, 2, 3, &m), 0);
    assert_int_equal(m->ready, MONITOR_UNKNOWN);
    int kind;

    /* first listed collector wins */
    s1 = (script){.a = 10, .b = -1};
    s2 = (script){.a = 20, .b = 5, .extra = "undeclared"};
    monitor_collect(m);
    assert_true(monitor_finish(m));
    assert_int_equal(m->ready, MONITOR_READY);
    assert_int_equal(latest(m, "a", &kind), 10);
    assert_int_equal(latest(m, "b", &kind), 5);
    assert_non_null(value_map_get(monitor_latest(m)->extras, "undeclared"));

    /* ... unless its value is None */
    s1 = (script){.a_none = 1, .b = -1};
    monitor_collect(m);
    assert_true(monitor_finish(m));
    assert_int_equal(latest(m, "a", &kind), 20);

    /* a missing optional field becomes None */
    s2 = (script){.a = -1, .b = -1};
    s1 = (script){.a = 11, .b = -1};
    monitor_collect(m);
    assert_true(monitor_finish(m));
    latest(m, "b", &kind);
    assert_int_equal(kind, FV_NONE);

    /* a collection error is skipped, the next collector still runs */
    s1 = (script){.rc = -EIO};
    s2 = (script){.a = 30, .b = 1};
    monitor_collect(m);
    assert_true(monitor_finish(m));
    assert_int_equal(latest(m, "a", &kind), 30);
    assert_int_equal(m->hist_len, 3); /* history length 3: the oldest dropped */

    /* a missing mandatory field: not ready, sample dropped, history kept */
    s1 = (script){.a = -1, .b = -1};
    s2 = (script){.a = -1, .b = 2};
    monitor_collect(m);
    assert_false(monitor_finish(m));
    assert_int_equal(m->ready, MONITOR_NOT_READY);
    assert_int_equal(m->hist_len, 3);
    assert_int_equal(latest(m, "a", &kind), 30);
    assert_string_equal(m->pending_missing, "a");

    /* one complete sample makes it ready again */
    s1 = (script){.a = 40, .b = -1};
    monitor_collect(m);
    assert_true(monitor_finish(m));
    assert_int_equal(m->ready, MONITOR_READY);

    /* a fatal error stops the monitor */
    s1 = (script){.rc = MOM_E_FATAL};
    monitor_collect(m);
    assert_false(monitor_finish(m));
    assert_true(m->fatal);
    monitor_free(m);
    fieldtab_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_equal_exact),
        cmocka_unit_test(test_value_same),
        cmocka_unit_test(test_map_new_like),
        cmocka_unit_test(test_value_to_int),
        cmocka_unit_test(test_value_format),
        cmocka_unit_test(test_fieldtab),
        cmocka_unit_test(test_sample_memory),
        cmocka_unit_test(test_strmap_churn),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_hv_lists),
        cmocka_unit_test(test_monitor_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
