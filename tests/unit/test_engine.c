/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine end to end on the fake hypervisor (embedded callbacks): guests
 * appear and vanish, a hung guest never stalls the others, a failing guest
 * list keeps the known guests, statistics and policies through the public
 * API, thread count independent of guests, start/stop loops, allocation
 * failures during creation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/engine.h"
#include "core/snapshot.h"
#include "core/value.h"
#include "lang/policy.h"
#include "fakehv.h"
#include "mom/mom.h"

typedef struct logcap {
    pthread_mutex_t mu;
    char buf[1 << 16];
    size_t len;
} logcap;

static void cap_log(mom_log_level level, const char *logger, const char *msg, void *ud)
{
    logcap *c = ud;
    (void)level;
    pthread_mutex_lock(&c->mu);
    int n = snprintf(c->buf + c->len, sizeof(c->buf) - c->len, "%s: %s\n", logger, msg);
    if (n > 0 && c->len + (size_t)n < sizeof(c->buf))
        c->len += (size_t)n;
    pthread_mutex_unlock(&c->mu);
    if (getenv("MOM_TEST_VERBOSE"))
        fprintf(stderr, "%s: %s\n", logger, msg);
}

static bool cap_has(logcap *c, const char *needle)
{
    pthread_mutex_lock(&c->mu);
    bool r = strstr(c->buf, needle) != NULL;
    pthread_mutex_unlock(&c->mu);
    return r;
}

static const mom_config_override base_overrides[] = {
    {"main", "host-monitor-interval", "1"},
    {"main", "guest-monitor-interval", "1"},
    {"main", "guest-manager-interval", "1"},
    {"main", "policy-engine-interval", "1"},
    {"main", "call-deadline-ms", "400"},
    {"main", "controllers", "Balloon"},
    {"host", "collectors", "HostTime"},
    {"guest", "collectors", "GuestMemory, GuestBalloon"},
};

static void set_stats(fakehv_guest *g, int64_t unused)
{
    mom_hv_memory_stats st = {.size = sizeof(st)};
    st.present = MOM_HV_MEM_AVAILABLE | MOM_HV_MEM_UNUSED | MOM_HV_MAJOR_FAULT |
                 MOM_HV_MINOR_FAULT | MOM_HV_SWAP_IN | MOM_HV_SWAP_OUT;
    st.mem_available = 2097152;
    st.mem_unused = unused;
    fakehv_set_memory_stats(g, &st);
    fakehv_set_balloon(g, 2097152, 4194304, 524288);
}

static fakehv_guest *add(fakehv *fh, int i)
{
    char id[32], name[32], uuid[64];
    snprintf(id, sizeof(id), "id-%d", i);
    snprintf(name, sizeof(name), "vm%d", i);
    snprintf(uuid, sizeof(uuid), "00000000-0000-0000-0000-%012d", i);
    fakehv_guest *g = fakehv_add_guest(fh, id, name, uuid, 0);
    set_stats(g, 1000 + i);
    return g;
}

/* An engine on fh with base_overrides and then `extra` (n_extra of them). */
static mom_engine *start_engine_with(fakehv *fh, logcap *lc, const mom_config_override *extra,
                                     size_t n_extra)
{
    enum { N_BASE = sizeof(base_overrides) / sizeof(base_overrides[0]) };
    static mom_config_override all[N_BASE + 8];
    assert_true(n_extra <= 8);
    memcpy(all, base_overrides, sizeof(base_overrides));
    if (n_extra)
        memcpy(all + N_BASE, extra, n_extra * sizeof(*extra));
    mom_config cfg;
    mom_config_init(&cfg);
    cfg.overrides = all;
    cfg.n_overrides = N_BASE + n_extra;
    cfg.log_fn = cap_log;
    cfg.log_userdata = lc;
    cfg.log_level = MOM_LOG_DEBUG;
    cfg.hv_ops = fakehv_table(fh);
    cfg.hv_userdata = fh;
    mom_engine *e = NULL;
    assert_int_equal(mom_engine_new(&cfg, &e), 0);
    assert_int_equal(mom_engine_start(e), 0);
    return e;
}

static mom_engine *start_engine(fakehv *fh, logcap *lc)
{
    return start_engine_with(fh, lc, NULL, 0);
}

static bool has_guest(mom_engine *e, const char *name)
{
    mom_value *l = NULL;
    assert_int_equal(mom_engine_get_active_guests(e, &l), 0);
    bool found = false;
    for (size_t i = 0; i < mom_value_len(l); i++)
        if (strcmp(mom_value_string(mom_value_at(l, i)), name) == 0)
            found = true;
    mom_value_unref(l);
    return found;
}

static size_t n_active(mom_engine *e)
{
    mom_value *l = NULL;
    assert_int_equal(mom_engine_get_active_guests(e, &l), 0);
    size_t n = mom_value_len(l);
    mom_value_unref(l);
    return n;
}

static int64_t guest_stat(mom_engine *e, const char *guest, const char *field)
{
    mom_value *s = NULL;
    assert_int_equal(mom_engine_get_statistics(e, &s), 0);
    const mom_value *g = mom_value_get(mom_value_get(s, "guests"), guest);
    int64_t v = g && mom_value_get(g, field) ? mom_value_int(mom_value_get(g, field)) : -1;
    mom_value_unref(s);
    return v;
}

/* Poll until fn(e, arg) is true or ms pass. */
#define WAIT_FOR(cond, ms)                                                                         \
    ({                                                                                             \
        bool ok_ = false;                                                                          \
        for (int t_ = 0; t_ < (ms) / 50; t_++) {                                                   \
            if (cond) {                                                                            \
                ok_ = true;                                                                        \
                break;                                                                             \
            }                                                                                      \
            usleep(50000);                                                                         \
        }                                                                                          \
        ok_;                                                                                       \
    })

static void test_guests_appear_and_statistics(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    fakehv *fh = fakehv_new();
    for (int i = 1; i <= 3; i++)
        add(fh, i);
    mom_engine *e = start_engine(fh, &lc);
    /* before the first host sample: the documented empty shape */
    assert_true(WAIT_FOR(n_active(e) == 3, 6000));
    assert_int_equal(guest_stat(e, "vm2", "mem_unused"), 1002);
    assert_int_equal(guest_stat(e, "vm2", "balloon_max"), 4194304);
    mom_value *s = NULL;
    assert_int_equal(mom_engine_get_statistics(e, &s), 0);
    assert_non_null(mom_value_get(mom_value_get(s, "host"), "time_year"));
    mom_value_unref(s);
    assert_true(mom_engine_ping(e));
    mom_engine_free(e);
    fakehv_free(fh);
}

static void test_statistics_before_first_sample(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    fakehv *fh = fakehv_new();
    mom_config cfg;
    mom_config_init(&cfg);
    cfg.overrides = base_overrides;
    cfg.n_overrides = sizeof(base_overrides) / sizeof(base_overrides[0]);
    cfg.log_fn = cap_log;
    cfg.log_userdata = &lc;
    cfg.hv_ops = fakehv_table(fh);
    cfg.hv_userdata = fh;
    mom_engine *e = NULL;
    assert_int_equal(mom_engine_new(&cfg, &e), 0);
    mom_value *s = NULL;
    assert_int_equal(mom_engine_get_statistics(e, &s), 0);
    assert_int_equal(mom_value_len(mom_value_get(s, "host")), 0);
    assert_int_equal(mom_value_len(mom_value_get(s, "guests")), 0);
    mom_value_unref(s);
    assert_false(mom_engine_ping(e));
    mom_engine_free(e);
    fakehv_free(fh);
}

static void test_hung_guest_does_not_stall_others(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    fakehv *fh = fakehv_new();
    fakehv_guest *g[6];
    for (int i = 1; i <= 5; i++)
        g[i] = add(fh, i);
    mom_engine *e = start_engine(fh, &lc);
    assert_true(WAIT_FOR(n_active(e) == 5, 6000));
    /* vm2 hangs in its memory stats call; the others keep updating */
    fakehv_hang(fh, "id-2", "get_vm_memory_stats", true);
    assert_true(fakehv_wait_blocked(fh, 1, 4000));
    set_stats(g[1], 7777);
    set_stats(g[5], 8888);
    assert_true(WAIT_FOR(guest_stat(e, "vm1", "mem_unused") == 7777, 4000));
    assert_true(WAIT_FOR(guest_stat(e, "vm5", "mem_unused") == 8888, 4000));
    assert_true(cap_has(&lc, "collection is late"));
    /* after three guest intervals without data vm2 leaves the guests */
    assert_true(WAIT_FOR(!has_guest(e, "vm2"), 6000));
    assert_true(has_guest(e, "vm1") && has_guest(e, "vm3"));
    /* and comes back with fresh data */
    set_stats(g[2], 4242);
    fakehv_hang(fh, "id-2", "get_vm_memory_stats", false);
    assert_true(WAIT_FOR(guest_stat(e, "vm2", "mem_unused") == 4242, 6000));
    mom_engine_free(e);
    fakehv_free(fh);
}

static void test_guest_vanishes_and_returns(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    fakehv *fh = fakehv_new();
    add(fh, 1);
    add(fh, 2);
    mom_engine *e = start_engine(fh, &lc);
    assert_true(WAIT_FOR(n_active(e) == 2, 6000));
    fakehv_remove_guest(fh, "id-1");
    assert_true(WAIT_FOR(!has_guest(e, "vm1"), 5000));
    assert_true(cap_has(&lc, "Guest vm1 is gone"));
    add(fh, 1);
    assert_true(WAIT_FOR(has_guest(e, "vm1"), 5000));
    mom_engine_free(e);
    fakehv_free(fh);
}

static void test_failing_guest_list_keeps_guests(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    fakehv *fh = fakehv_new();
    add(fh, 1);
    mom_engine *e = start_engine(fh, &lc);
    assert_true(WAIT_FOR(n_active(e) == 1, 6000));
    fakehv_fail(fh, NULL, "get_vm_list", -EIO);
    assert_true(WAIT_FOR(cap_has(&lc, "cannot list guests"), 4000));
    usleep(1500000);
    assert_true(has_guest(e, "vm1"));
    fakehv_fail(fh, NULL, "get_vm_list", 0);
    mom_engine_free(e);
    fakehv_free(fh);
}

static void test_incomplete_guest_not_ready(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    fakehv *fh = fakehv_new();
    add(fh, 1);
    fakehv_guest *g = fakehv_add_guest(fh, "id-9", "vm9", "uuid-9", 0);
    fakehv_set_balloon(g, 1, 2, 0); /* no memory stats: mandatory fields missing */
    mom_engine *e = start_engine(fh, &lc);
    assert_true(WAIT_FOR(n_active(e) == 1, 6000));
    usleep(1200000);
    assert_false(has_guest(e, "vm9"));
    assert_true(cap_has(&lc, "Incomplete data: missing"));
    mom_engine_free(e);
    fakehv_free(fh);
}

static void test_policy_api(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    fakehv *fh = fakehv_new();
    mom_engine *e = start_engine(fh, &lc);
    char *text = NULL;
    assert_int_equal(mom_engine_get_policy(e, &text), 0);
    assert_string_equal(text, "0");
    mom_free(text);
    mom_value *m = NULL;
    assert_int_equal(mom_engine_get_named_policies(e, &m), 0);
    assert_int_equal(mom_value_len(m), 0);
    mom_value_unref(m);
    /* nothing configured: reset says so */
    assert_int_equal(mom_engine_reset_policies(e, NULL), -ENOENT);
    assert_int_equal(mom_engine_set_policy(e, NULL, NULL), 0);
    assert_int_equal(mom_engine_set_named_policy(e, "x", NULL, NULL), 0);
    mom_engine_free(e);
    fakehv_free(fh);
}

/* The controls of every guest as one JSON text (malloc). */
static char *controls_json(const controls *c)
{
    mom_value *l = value_new_list();
    for (size_t i = 0; i < c->n_guests; i++)
        value_list_append(l, mom_value_ref(c->guests[i]));
    char *j = value_to_json(l);
    mom_value_unref(l);
    char *out = strdup(j ? j : "");
    mom_free(j);
    return out;
}

/* The policy's history cache with live, engine-numbered samples: a set that
 * evaluated every published snapshot and a new set (which reads every
 * sample) decide the same, cycle after cycle, while the statistics change,
 * one guest reports integers too big for the classic shortcut, and a guest
 * goes away. */
static void test_history_cache_live(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    fakehv *fh = fakehv_new();
    fakehv_guest *g[3];
    for (int i = 0; i < 3; i++)
        g[i] = add(fh, i);
    /* A short history, so that windows fill and then slide. */
    static const mom_config_override hist[] = { {"main", "sample-history-length", "4"} };
    mom_engine *e = start_engine_with(fh, &lc, hist, 1);
    static const char *const names[] = { "10-avg", "20-classic" };
    static const char *const files[] = { "10-avg.mom", "20-classic.policy" };
    static const char *const texts[] = {
        "do guest in guests\n"
        "   guest%balloon_target = avg(guest%mem_unused) * 3 + avg(guest%mem_available) / 7\n"
        "end do\n",
        "(with Guests guest (guest.Control \"vcpu_quota\" (guest.StatAvg \"mem_unused\")))\n",
    };
    policy_opts o = {0};
    policy_set *a = NULL;
    char *err = NULL;
    assert_int_equal(policy_set_new(&o, &a), 0);
    assert_int_equal(policy_set_replace(a, names, texts, files, 2, &err), 0);
    const snapshot *prev = NULL;
    int compared = 0;
    for (int round = 0; round < 120 && compared < 6; round++) {
        for (int i = 0; i < 3; i++) {
            mom_hv_memory_stats st = {.size = sizeof(st)};
            st.present = MOM_HV_MEM_AVAILABLE | MOM_HV_MEM_UNUSED | MOM_HV_MAJOR_FAULT |
                         MOM_HV_MINOR_FAULT | MOM_HV_SWAP_IN | MOM_HV_SWAP_OUT;
            st.mem_available = 2097152 + round;
            st.mem_unused = i == 2 ? (INT64_C(1) << 50) + round * 3 : 1000 + (round * 37 + i) % 500;
            fakehv_set_memory_stats(g[i], &st);
        }
        if (round == 12)
            assert_int_equal(fakehv_remove_guest(fh, "id-0"), 0);
        usleep(100000);
        pthread_mutex_lock(&e->pub_mu);
        snapshot *s = e->published ? snapshot_ref(e->published) : NULL;
        pthread_mutex_unlock(&e->pub_mu);
        if (!s || s == prev || !s->n_guests) {
            snapshot_unref(s);
            continue;
        }
        prev = s; /* compared by address only */
        bool windows = true;
        for (size_t i = 0; i < s->n_guests; i++) {
            const snap_entity *se = &s->guests[i];
            windows &= se->n_samples == 4;
            for (size_t k = 0; k < se->n_samples; k++) {
                assert_true(se->samples[k]->seq != 0);
                if (k)
                    assert_true(se->samples[k]->seq > se->samples[k - 1]->seq);
            }
        }
        controls *ca = NULL, *cb = NULL;
        assert_int_equal(policy_set_eval(a, s, &ca, NULL, &err), 0);
        policy_set *b = NULL;
        assert_int_equal(policy_set_new(&o, &b), 0);
        assert_int_equal(policy_set_replace(b, names, texts, files, 2, &err), 0);
        assert_int_equal(policy_set_eval(b, s, &cb, NULL, &err), 0);
        char *ja = controls_json(ca), *jb = controls_json(cb);
        assert_string_equal(ja, jb);
        free(ja);
        free(jb);
        controls_free(ca);
        controls_free(cb);
        policy_set_free(b);
        if (windows)
            compared++;
        snapshot_unref(s);
    }
    assert_true(compared >= 6);
    policy_set_free(a);
    mom_engine_free(e);
    fakehv_free(fh);
}

static size_t count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void test_threads_do_not_grow_with_guests(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    fakehv *fh = fakehv_new();
    for (int i = 1; i <= 300; i++)
        add(fh, i);
    /* A thread of an earlier test may still be leaving /proc/self/task
     * after its join: start from a settled count. */
    size_t before = count_threads();
    for (int i = 0; i < 100 && before > 1; i++) {
        usleep(20000);
        before = count_threads();
    }
    mom_engine *e = start_engine(fh, &lc);
    assert_true(WAIT_FOR(n_active(e) == 300, 10000));
    size_t during = count_threads();
    /* the engine thread plus the default pool of 4 */
    assert_true(during - before <= 5);
    mom_engine_free(e);
    assert_true(WAIT_FOR(count_threads() <= before, 2000));
    fakehv_free(fh);
}

static void test_start_stop_loop(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    fakehv *fh = fakehv_new();
    add(fh, 1);
    for (int i = 0; i < 5; i++) {
        mom_engine *e = start_engine(fh, &lc);
        usleep(100000);
        assert_int_equal(mom_engine_stop(e), 0);
        assert_int_equal(mom_engine_stop(e), 0); /* idempotent */
        assert_int_equal(mom_engine_start(e), MOM_E_STATE);
        mom_engine_free(e);
    }
    fakehv_free(fh);
}

static void test_two_engines_in_one_process(void **state)
{
    (void)state;
    logcap lc1 = {.mu = PTHREAD_MUTEX_INITIALIZER}, lc2 = {.mu = PTHREAD_MUTEX_INITIALIZER};
    fakehv *a = fakehv_new(), *b = fakehv_new();
    add(a, 1);
    add(b, 2);
    add(b, 3);
    mom_engine *e1 = start_engine(a, &lc1), *e2 = start_engine(b, &lc2);
    assert_true(WAIT_FOR(n_active(e1) == 1 && n_active(e2) == 2, 6000));
    assert_true(has_guest(e1, "vm1") && !has_guest(e1, "vm2"));
    mom_engine_free(e1);
    mom_engine_free(e2);
    fakehv_free(a);
    fakehv_free(b);
}

static void test_bad_configuration(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    static const mom_config_override bad[] = {
        {"guest", "collectors", "GuestMemory, NoSuchCollector"},
        {"main", "controllers", "Balloon, KSM"}, /* KSM needs HostKSM */
    };
    fakehv *fh = fakehv_new();
    mom_config cfg;
    mom_config_init(&cfg);
    cfg.overrides = bad;
    cfg.n_overrides = 2;
    cfg.log_fn = cap_log;
    cfg.log_userdata = &lc;
    cfg.hv_ops = fakehv_table(fh);
    cfg.hv_userdata = fh;
    mom_engine *e = NULL;
    assert_int_equal(mom_engine_new(&cfg, &e), MOM_E_CONFIG);
    assert_null(e);
    assert_true(cap_has(&lc, "unknown collector 'NoSuchCollector'"));
    assert_true(cap_has(&lc, "controller KSM needs the collector HostKSM"));
    assert_int_equal(mom_config_check(&cfg), MOM_E_CONFIG);
    fakehv_free(fh);
}

static void test_alloc_failures_in_new(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    fakehv *fh = fakehv_new();
    mom_config cfg;
    mom_config_init(&cfg);
    cfg.overrides = base_overrides;
    cfg.n_overrides = sizeof(base_overrides) / sizeof(base_overrides[0]);
    cfg.log_fn = cap_log;
    cfg.log_userdata = &lc;
    cfg.hv_ops = fakehv_table(fh);
    cfg.hv_userdata = fh;
    int failures = 0;
    for (long n = 1; n < 5000; n++) {
        mom_engine *e = NULL;
        alloc_fail_at(n);
        int rc = mom_engine_new(&cfg, &e);
        alloc_fail_at(0);
        if (rc == 0) {
            mom_engine_free(e);
            if (alloc_count() < n)
                break; /* no allocation failed: every point was tried */
            continue;
        }
        assert_null(e);
        failures++;
    }
    assert_true(failures > 20);
    fakehv_free(fh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statistics_before_first_sample),
        cmocka_unit_test(test_guests_appear_and_statistics),
        cmocka_unit_test(test_hung_guest_does_not_stall_others),
        cmocka_unit_test(test_guest_vanishes_and_returns),
        cmocka_unit_test(test_failing_guest_list_keeps_guests),
        cmocka_unit_test(test_incomplete_guest_not_ready),
        cmocka_unit_test(test_policy_api),
        cmocka_unit_test(test_history_cache_live),
        cmocka_unit_test(test_threads_do_not_grow_with_guests),
        cmocka_unit_test(test_start_stop_loop),
        cmocka_unit_test(test_two_engines_in_one_process),
        cmocka_unit_test(test_bad_configuration),
        cmocka_unit_test(test_alloc_failures_in_new),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
