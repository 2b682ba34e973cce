/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The history cache of avg() (src/lang/histcache.c): whatever way the
 * windows move, its sum and count are bit for bit those of reading every
 * sample, and it declines what it cannot answer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/sample.h"
#include "core/snapshot.h"
#include "core/value.h"
#include "lang/histcache.h"

#define NF 3     /* fields per sample */
#define CHAIN 200

/* A guest's samples in collection order, numbered like the engine does. */
typedef struct chain {
    sample *s[CHAIN];
} chain;

static fieldtab *table(void)
{
    fieldtab *t = fieldtab_new();
    assert_non_null(t);
    assert_true(fieldtab_add(t, "a", false) >= 0);
    assert_true(fieldtab_add(t, "b", false) >= 0);
    assert_true(fieldtab_add(t, "c", false) >= 0);
    assert_int_equal(fieldtab_finish(t), 0);
    return t;
}

/* Field 0: integers and absences; 1: reals that do not add exactly;
 * 2: boxed numbers and now and then a string. */
static void fill(chain *ch, uint64_t first_seq, unsigned seed, bool strings)
{
    srand(seed);
    for (int k = 0; k < CHAIN; k++) {
        sample *s = ch->s[k] = sample_new(NF);
        assert_non_null(s);
        s->seq = first_seq + (uint64_t)k * 7;
        int r = rand() % 10;
        if (r == 0) {
            s->f[0].kind = FV_NONE;
        } else if (r == 1) {
            s->f[0].kind = FV_MISSING;
        } else {
            /* Half of them too big to add up exactly as doubles. */
            s->f[0].kind = FV_INT;
            s->f[0].u.i = r % 2 ? (int64_t)rand() * 1000003 - 7 : rand() % 100000 - 50000;
        }
        s->f[1].kind = FV_REAL;
        s->f[1].u.r = (double)rand() / 3.0 + 0.1;
        if (strings && rand() % 40 == 0)
            fval_set_value(&s->f[2], value_new_string("x"));
        else if (rand() % 2)
            fval_set_value(&s->f[2], value_new_int(rand() % 1000));
        else
            fval_set_value(&s->f[2], value_new_real((double)rand() / 7.0));
    }
}

static void drop(chain *ch)
{
    for (int k = 0; k < CHAIN; k++)
        sample_unref(ch->s[k]);
}

/* The entity whose history is ch->s[first .. first + n - 1]. */
static snap_entity window(const fieldtab *t, chain *ch, int first, int n)
{
    snap_entity e;
    memset(&e, 0, sizeof(e));
    e.kind = MOM_ENTITY_GUEST;
    e.fields = t;
    e.samples = &ch->s[first];
    e.n_samples = (size_t)n;
    e.uniform = true;
    return e;
}

/* What avg() adds up when it reads every sample; -1 for a non-number. */
static int direct(const snap_entity *e, int fid, double *sum, int64_t *count)
{
    *sum = 0;
    *count = 0;
    for (size_t k = 0; k < e->n_samples; k++) {
        const fval *f = &e->samples[k]->f[fid];
        if (f->kind == FV_INT)
            *sum += (double)f->u.i;
        else if (f->kind == FV_REAL)
            *sum += f->u.r;
        else if (f->kind == FV_VALUE && f->u.v->type == MOM_VALUE_INT)
            *sum += (double)f->u.v->u.i;
        else if (f->kind == FV_VALUE && f->u.v->type == MOM_VALUE_REAL)
            *sum += f->u.v->u.r;
        else if (f->kind == FV_VALUE)
            return -1;
        else
            continue;
        (*count)++;
    }
    return 0;
}

/* What the classic StatAvg adds up: the integers exactly until the first
 * real, then doubles; false when an integer is beyond HC_EXACT (where the
 * cache must say it is not exact). */
static bool classic_sum(const snap_entity *e, int fid, double *sum)
{
    int64_t isum = 0;
    double rsum = 0;
    bool real = false, exact = true;
    for (size_t k = 0; k < e->n_samples; k++) {
        const fval *f = &e->samples[k]->f[fid];
        bool is_int = f->kind == FV_INT || (f->kind == FV_VALUE && f->u.v->type == MOM_VALUE_INT);
        bool is_real = f->kind == FV_REAL || (f->kind == FV_VALUE && f->u.v->type == MOM_VALUE_REAL);
        if (is_int) {
            int64_t i = f->kind == FV_INT ? f->u.i : f->u.v->u.i;
            if (i > HC_EXACT || i < -HC_EXACT)
                exact = false;
            if (real)
                rsum += (double)i;
            else
                isum += i % (INT64_C(1) << 60); /* no overflow: only compared when exact */
        } else if (is_real) {
            if (!real) {
                rsum = (double)isum;
                real = true;
            }
            rsum += f->kind == FV_REAL ? f->u.r : f->u.v->u.r;
        }
    }
    *sum = real ? rsum : (double)isum;
    return exact;
}

/* The cache agrees with direct() (or declines where direct() fails), and
 * when it says exact, with the classic sum too. */
static void check(histcache *hc, size_t gi, const snap_entity *e, int fid)
{
    double s1, s2;
    int64_t c1, c2;
    bool exact = false;
    int want = direct(e, fid, &s1, &c1);
    int got = histcache_sum(hc, gi, e, fid, &s2, &c2, &exact);
    if (want < 0) {
        assert_int_equal(got, -1);
        return;
    }
    assert_int_equal(got, 0);
    assert_int_equal(c1, c2);
    assert_memory_equal(&s1, &s2, sizeof(double));
    double s3;
    bool want_exact = classic_sum(e, fid, &s3);
    assert_int_equal(exact, want_exact);
    if (exact)
        assert_memory_equal(&s3, &s2, sizeof(double));
}

static void test_slides(void **state)
{
    (void)state;
    fieldtab *t = table();
    chain ch;
    fill(&ch, 100, 1, false);
    histcache hc;
    memset(&hc, 0, sizeof(hc));
    /* Start-up: the window grows to 10, then slides by 0, 1, 2 and 9. */
    int first = 0;
    for (int n = 3; n <= 10; n++)
        for (int f = 0; f < NF; f++) {
            snap_entity e = window(t, &ch, first, n);
            check(&hc, 0, &e, f);
        }
    static const int steps[] = { 0, 1, 2, 1, 0, 9, 1, 10, 3, 1, 1, 2 };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        first += steps[i];
        for (int f = 0; f < NF; f++) {
            snap_entity e = window(t, &ch, first, 10);
            check(&hc, 0, &e, f);
        }
    }
    /* A shorter window (the history was shortened), then a jump back. */
    snap_entity e = window(t, &ch, first + 4, 6);
    check(&hc, 0, &e, 1);
    e = window(t, &ch, 0, 10);
    check(&hc, 0, &e, 1);
    histcache_free(&hc);
    drop(&ch);
    fieldtab_free(t);
}

/* Guests come and go: the same index holds another guest's window. */
static void test_other_guest(void **state)
{
    (void)state;
    fieldtab *t = table();
    chain a, b;
    fill(&a, 1, 2, false);
    fill(&b, 3, 3, false); /* numbers interleave with a's, never equal */
    histcache hc;
    memset(&hc, 0, sizeof(hc));
    for (int i = 0; i < 30; i++) {
        snap_entity ea = window(t, &a, i, 10), eb = window(t, &b, i, 10);
        check(&hc, (size_t)(i % 2), &ea, 1);
        check(&hc, (size_t)((i + 1) % 2), &eb, 1);
        check(&hc, 5, i % 3 ? &ea : &eb, 0);
    }
    histcache_free(&hc);
    drop(&a);
    drop(&b);
    fieldtab_free(t);
}

/* What the cache declines: unnumbered samples, short or long histories,
 * entities whose samples are not all of the table's width, non-numbers. */
static void test_declines(void **state)
{
    (void)state;
    fieldtab *t = table();
    chain ch;
    fill(&ch, 10, 4, true);
    histcache hc;
    memset(&hc, 0, sizeof(hc));
    double s;
    int64_t c;
    snap_entity e = window(t, &ch, 0, 2);
    assert_int_equal(histcache_sum(&hc, 0, &e, 0, &s, &c, NULL), -1);
    e = window(t, &ch, 0, HC_MAX + 1);
    assert_int_equal(histcache_sum(&hc, 0, &e, 0, &s, &c, NULL), -1);
    e = window(t, &ch, 0, 10);
    e.uniform = false;
    assert_int_equal(histcache_sum(&hc, 0, &e, 0, &s, &c, NULL), -1);
    e.uniform = true;
    uint64_t keep = ch.s[9]->seq;
    ch.s[9]->seq = 0;
    assert_int_equal(histcache_sum(&hc, 0, &e, 0, &s, &c, NULL), -1);
    ch.s[9]->seq = keep;
    /* Field 2 holds a string now and then: declined, never wrong. */
    for (int i = 0; i < 150; i++) {
        snap_entity w = window(t, &ch, i, 10);
        check(&hc, 1, &w, 2);
    }
    histcache_free(&hc);
    drop(&ch);
    fieldtab_free(t);
}

/* Another field table (a snapshot of other collectors) starts over. */
static void test_table_change(void **state)
{
    (void)state;
    fieldtab *t1 = table(), *t2 = table();
    chain ch;
    fill(&ch, 1, 5, false);
    histcache hc;
    memset(&hc, 0, sizeof(hc));
    for (int i = 0; i < 20; i++) {
        snap_entity e = window(i % 2 ? t1 : t2, &ch, i, 10);
        check(&hc, 3, &e, i % NF == 2 ? 1 : i % NF);
    }
    histcache_free(&hc);
    drop(&ch);
    fieldtab_free(t1);
    fieldtab_free(t2);
}

/* Random walks over several guests and fields. */
static void test_random(void **state)
{
    (void)state;
    fieldtab *t = table();
    enum { G = 5 };
    chain ch[G];
    for (int g = 0; g < G; g++)
        fill(&ch[g], 1 + (uint64_t)g, 10 + (unsigned)g, false);
    histcache hc;
    memset(&hc, 0, sizeof(hc));
    int first[G] = { 0 };
    srand(99);
    for (int it = 0; it < 3000; it++) {
        int g = rand() % G;
        int n = 3 + rand() % (HC_MAX - 2);
        int r = rand() % 10;
        if (r < 6)
            first[g] += rand() % 3;
        else if (r < 8)
            first[g] = rand() % (CHAIN - HC_MAX);
        if (first[g] > CHAIN - n)
            first[g] = CHAIN - n;
        snap_entity e = window(t, &ch[g], first[g], n);
        check(&hc, (size_t)(rand() % 3 == 0 ? (g + 1) % G : g), &e, rand() % NF);
    }
    histcache_free(&hc);
    for (int g = 0; g < G; g++)
        drop(&ch[g]);
    fieldtab_free(t);
}

/* Out of memory: -ENOMEM, nothing leaks, and the cache still agrees
 * afterwards. */
static void test_alloc_failure(void **state)
{
    (void)state;
    fieldtab *t = table();
    chain ch;
    fill(&ch, 1, 6, false);
    for (long fail = 1; fail < 10; fail++) {
        histcache hc;
        memset(&hc, 0, sizeof(hc));
        double s;
        int64_t c;
        bool failed = false;
        for (int i = 0; i < 40; i++) {
            snap_entity e = window(t, &ch, i, 10);
            alloc_fail_at(fail);
            int r = histcache_sum(&hc, (size_t)(i * 7), &e, i % NF == 2 ? 0 : i % NF, &s, &c,
                                   NULL);
            alloc_fail_at(0);
            if (r == -ENOMEM)
                failed = true;
            else
                assert_int_equal(r, 0);
            check(&hc, (size_t)(i * 7), &e, i % NF == 2 ? 0 : i % NF);
        }
        if (fail <= 2)
            assert_true(failed); /* the first column, the first growth */
        histcache_free(&hc);
    }
    drop(&ch);
    fieldtab_free(t);
}

/* The address of the cached window's newest sample is only a hint: a
 * sample at that address with another number (the memory of a freed
 * sample reused for a newer one) must not be taken for it, and a copy of
 * it (same number, other address) is still found. */
static void test_address_reused(void **state)
{
    (void)state;
    fieldtab *t = table();
    chain ch;
    fill(&ch, 100, 7, false);
    histcache hc;
    memset(&hc, 0, sizeof(hc));
    for (int f = 0; f < 2; f++) {
        snap_entity e = window(t, &ch, 0, 10);
        check(&hc, 0, &e, f);
    }
    /* Sample 9 (the cached newest) becomes another, newer sample with other
     * values at the same address. */
    ch.s[9]->seq = ch.s[11]->seq + 3;
    ch.s[9]->f[0].kind = FV_INT;
    ch.s[9]->f[0].u.i = 123456789;
    ch.s[9]->f[1].u.r += 1000.5;
    for (int f = 0; f < 2; f++) {
        snap_entity e = window(t, &ch, 2, 10);
        check(&hc, 0, &e, f);
    }
    /* The same with a number below the cached one (the scan by numbers
     * stops there). */
    snap_entity e = window(t, &ch, 4, 10);
    check(&hc, 0, &e, 0);
    ch.s[13]->seq = ch.s[5]->seq;
    ch.s[13]->f[0].kind = FV_INT;
    ch.s[13]->f[0].u.i = -77;
    e = window(t, &ch, 6, 10);
    check(&hc, 0, &e, 0);

    /* A copy of the cached newest sample: same number, another address. */
    e = window(t, &ch, 20, 10);
    check(&hc, 1, &e, 0);
    check(&hc, 1, &e, 1);
    sample *copy = sample_new(NF);
    assert_non_null(copy);
    copy->seq = ch.s[29]->seq;
    copy->f[0] = ch.s[29]->f[0];
    copy->f[1] = ch.s[29]->f[1];
    sample *arr[10];
    for (int k = 0; k < 10; k++)
        arr[k] = ch.s[22 + k];
    arr[7] = copy; /* the position of sample 29 */
    e.samples = arr;
    check(&hc, 1, &e, 0);
    check(&hc, 1, &e, 1);
    sample_unref(copy);
    histcache_free(&hc);
    drop(&ch);
    fieldtab_free(t);
}

/* The ring of every window length wraps around many times, by every step
 * shorter than the window. */
static void test_ring_wrap(void **state)
{
    (void)state;
    fieldtab *t = table();
    chain ch;
    fill(&ch, 5, 8, false);
    for (int n = 3; n <= HC_MAX; n++)
        for (int step = 1; step < n; step++) {
            histcache hc;
            memset(&hc, 0, sizeof(hc));
            for (int first = 0; first + n <= CHAIN; first += step)
                for (int f = 0; f < NF; f++) {
                    snap_entity e = window(t, &ch, first, n);
                    check(&hc, 2, &e, f);
                }
            histcache_free(&hc);
        }
    drop(&ch);
    fieldtab_free(t);
}

/* Windows of small integers that now and then hold a real or an integer
 * beyond 32 bits (kept as doubles beside the entry until it has left the
 * window again), over many guests whose slots are used interleaved, the
 * guest indices growing past the arrays while some windows are wide. */
static void test_wide_interleaved(void **state)
{
    (void)state;
    fieldtab *t = table();
    enum { G = 40 };
    chain *ch = mom_calloc(G, sizeof(*ch));
    assert_non_null(ch);
    for (int g = 0; g < G; g++) {
        fill(&ch[g], 1 + (uint64_t)g, 30 + (unsigned)g, false);
        for (int k = 0; k < CHAIN; k++) {
            fval *f = &ch[g].s[k]->f[0];
            int r = (k * 7 + g) % 23;
            if (r == 0) {
                f->kind = FV_REAL;
                f->u.r = 0.25 * k;
            } else if (r == 1) {
                f->kind = FV_INT;
                f->u.i = (INT64_C(1) << 40) + k;  /* wide, still exact */
            } else if (r == 2) {
                f->kind = FV_INT;
                f->u.i = (INT64_C(1) << 52) + k;  /* beyond HC_EXACT */
            } else if (r == 3) {
                f->kind = FV_NONE;
            } else if (r == 4) {
                f->kind = FV_INT;
                f->u.i = k % 2 ? INT32_MAX : INT32_MIN;
            } else {
                f->kind = FV_INT;
                f->u.i = (int64_t)(k * 1000 + g) - 3000;
            }
        }
    }
    histcache hc;
    memset(&hc, 0, sizeof(hc));
    for (int first = 0; first + 10 <= CHAIN; first += 1 + first % 3) {
        /* One more guest every few steps: the arrays grow mid-run. */
        int guests = 2 + first / 5 < G ? 2 + first / 5 : G;
        for (int g = 0; g < guests; g++)
            for (int f = 0; f < NF; f++) {
                snap_entity e = window(t, &ch[g], first, 10);
                check(&hc, (size_t)g * 3, &e, (f + g) % NF);
            }
    }
    histcache_free(&hc);
    for (int g = 0; g < G; g++)
        drop(&ch[g]);
    mom_free(ch);
    fieldtab_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slides),
        cmocka_unit_test(test_other_guest),
        cmocka_unit_test(test_declines),
        cmocka_unit_test(test_table_change),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_address_reused),
        cmocka_unit_test(test_ring_wrap),
        cmocka_unit_test(test_wide_interleaved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
