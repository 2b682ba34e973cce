/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Worker pool: keyed serialization, concurrency across keys, deadlines,
 * replacement workers and cancellation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/pool.h"

typedef struct shared {
    atomic_int running_a;  /* concurrent jobs of key "a" */
    atomic_int max_running_a;
    atomic_int total_running;
    atomic_int max_total;
    atomic_int done;
    atomic_int cancelled;
    atomic_int timeouts;
    atomic_int release;    /* hang until set */
    int order[64];
    atomic_int n_order;
} shared;

typedef struct jarg {
    shared *s;
    const char *key;
    int seq;
    int sleep_ms;
    bool hang;
} jarg;

static void bump_max(atomic_int *max, int v)
{
    int m = atomic_load(max);
    while (v > m && !atomic_compare_exchange_weak(max, &m, v))
        ;
}

static void work(void *arg)
{
    jarg *j = arg;
    shared *s = j->s;
    int t = atomic_fetch_add(&s->total_running, 1) + 1;
    bump_max(&s->max_total, t);
    if (strcmp(j->key, "a") == 0) {
        int r = atomic_fetch_add(&s->running_a, 1) + 1;
        bump_max(&s->max_running_a, r);
        int at = atomic_fetch_add(&s->n_order, 1);
        if (at < 64)
            s->order[at] = j->seq;
    }
    if (j->hang)
        while (!atomic_load(&s->release))
            usleep(1000);
    if (j->sleep_ms)
        usleep((useconds_t)j->sleep_ms * 1000);
    if (strcmp(j->key, "a") == 0)
        atomic_fetch_sub(&s->running_a, 1);
    atomic_fetch_sub(&s->total_running, 1);
}

static void done(void *arg, bool cancelled)
{
    jarg *j = arg;
    if (cancelled)
        atomic_fetch_add(&j->s->cancelled, 1);
    else
        atomic_fetch_add(&j->s->done, 1);
    mom_free(j);
}

static void timeout_cb(void *arg)
{
    jarg *j = arg;
    atomic_fetch_add(&j->s->timeouts, 1);
}

static jarg *mk(shared *s, const char *key, int seq, int sleep_ms, bool hang)
{
    jarg *j = mom_calloc(1, sizeof(*j));
    j->s = s;
    j->key = key;
    j->seq = seq;
    j->sleep_ms = sleep_ms;
    j->hang = hang;
    return j;
}

/* Run the engine side (dispatch + deadline checks) until `cond` holds. */
static bool pump(pool *p, shared *s, int want_done, int timeout_ms)
{
    double end = pool_now() + timeout_ms / 1000.0;
    while (pool_now() < end) {
        struct pollfd pfd = {.fd = pool_fd(p), .events = POLLIN};
        poll(&pfd, 1, 5);
        pool_dispatch(p);
        pool_check(p, pool_now());
        if (atomic_load(&s->done) >= want_done)
            return true;
    }
    return false;
}

static void test_same_key_serialized(void **state)
{
    (void)state;
    shared s = {0};
    pool *p;
    assert_int_equal(pool_new(4, 4, &p), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(pool_submit(p, "a", work, done, NULL, mk(&s, "a", i, 2, false), 5.0), 0);
    assert_true(pump(p, &s, 10, 5000));
    assert_int_equal(atomic_load(&s.max_running_a), 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(s.order[i], i); /* FIFO within a key */
    pool_free(p);
}

static void test_keys_run_concurrently(void **state)
{
    (void)state;
    shared s = {0};
    pool *p;
    static const char *keys[] = {"k1", "k2", "k3", "k4"};
    assert_int_equal(pool_new(4, 0, &p), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pool_submit(p, keys[i], work, done, NULL, mk(&s, keys[i], i, 100, false), 5.0),
                         0);
    assert_true(pump(p, &s, 4, 5000));
    assert_true(atomic_load(&s.max_total) >= 2);
    pool_free(p);
}

static void test_stuck_job_gets_replacement(void **state)
{
    (void)state;
    shared s = {0};
    pool *p;
    assert_int_equal(pool_new(1, 2, &p), 0);
    /* one worker; its job hangs past the deadline */
    assert_int_equal(pool_submit(p, "stuck", work, done, timeout_cb, mk(&s, "stuck", 0, 0, true), 0.05), 0);
    usleep(20000);
    /* another key must still make progress */
    assert_int_equal(pool_submit(p, "b", work, done, timeout_cb, mk(&s, "b", 1, 0, false), 5.0), 0);
    assert_true(pump(p, &s, 1, 3000));
    assert_int_equal(atomic_load(&s.timeouts), 1);
    assert_int_equal(atomic_load(&s.done), 1);
    pool_stats st;
    pool_get_stats(p, &st);
    assert_int_equal(st.stuck, 1);
    assert_true(st.threads >= 2);
    /* the stuck key holds its next job back */
    assert_true(pool_busy(p, "stuck"));
    atomic_store(&s.release, 1);
    assert_true(pump(p, &s, 2, 3000));
    pool_get_stats(p, &st);
    assert_int_equal(st.stuck, 0);
    /* the extra thread leaves once the stuck job is back */
    for (int i = 0; i < 200 && st.threads > 1; i++) {
        usleep(5000);
        pool_check(p, pool_now());
        pool_get_stats(p, &st);
    }
    assert_int_equal(st.threads, 1);
    pool_free(p);
}

static void test_stop_cancels_queued(void **state)
{
    (void)state;
    shared s = {0};
    pool *p;
    assert_int_equal(pool_new(1, 0, &p), 0);
    assert_int_equal(pool_submit(p, "a", work, done, NULL, mk(&s, "a", 0, 50, false), 5.0), 0);
    for (int i = 1; i < 5; i++)
        assert_int_equal(pool_submit(p, "a", work, done, NULL, mk(&s, "a", i, 0, false), 5.0), 0);
    usleep(10000);
    pool_stop(p);
    assert_true(pool_drain(p, 2.0));
    pool_dispatch(p);
    assert_int_equal(atomic_load(&s.done) + atomic_load(&s.cancelled), 5);
    assert_true(atomic_load(&s.cancelled) >= 3);
    jarg *j = mk(&s, "a", 9, 0, false);
    assert_int_equal(pool_submit(p, "a", work, done, NULL, j, 1.0), -ECANCELED);
    mom_free(j);
    pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_key_serialized),
        cmocka_unit_test(test_keys_run_concurrently),
        cmocka_unit_test(test_stuck_job_gets_replacement),
        cmocka_unit_test(test_stop_cancels_queued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
