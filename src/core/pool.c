/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

typedef struct job job;
typedef struct keyq keyq;

struct job {
    job *next;          /* in its key's queue, or in the done list */
    keyq *kq;
    pool_work_fn work;
    pool_done_fn done;
    pool_timeout_fn timeout;
    void *arg;
    double deadline_s;
    double due;         /* absolute deadline once started */
    bool timed_out;
    job *rnext, *rprev; /* running list */
};

struct keyq {
    char *key;
    keyq *hnext;        /* hash chain */
    keyq *rnext;        /* ready list */
    job *head, *tail;
    bool running;       /* a job of this key is on a worker */
    bool in_ready;
    unsigned n_done;    /* finished jobs of this key in the done list */
};

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* workers wait for ready keys */
    pthread_cond_t idle_cv; /* drain waits for running jobs */
    keyq **buckets;
    size_t n_buckets, n_keys;
    keyq *ready_head, *ready_tail;
    job *running;           /* doubly linked */
    job *done_head, *done_tail;
    size_t base, max_extra;
    size_t n_threads, n_stuck, n_running, n_queued;
    size_t n_threads_alive;
    pthread_t *threads;     /* every thread not joined yet */
    size_t threads_cap;
    pthread_t *zombies;     /* threads that ended, to be joined */
    size_t n_zombies, zombies_cap;
    bool stopping;
    int efd;
};

double pool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t hash_key(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static keyq *key_find(pool *p, const char *key)
{
    for (keyq *k = p->buckets[hash_key(key) & (p->n_buckets - 1)]; k; k = k->hnext)
        if (strcmp(k->key, key) == 0)
            return k;
    return NULL;
}

static int key_grow(pool *p)
{
    size_t nb = p->n_buckets * 2;
    keyq **b = mom_calloc(nb, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < p->n_buckets; i++) {
        keyq *k = p->buckets[i];
        while (k) {
            keyq *next = k->hnext;
            size_t at = hash_key(k->key) & (nb - 1);
            k->hnext = b[at];
            b[at] = k;
            k = next;
        }
    }
    mom_free(p->buckets);
    p->buckets = b;
    p->n_buckets = nb;
    return 0;
}

static keyq *key_get(pool *p, const char *key)
{
    keyq *k = key_find(p, key);
    if (k)
        return k;
    if (p->n_keys + 1 > p->n_buckets && key_grow(p) < 0)
        return NULL;
    k = mom_calloc(1, sizeof(*k));
    if (!k || !(k->key = mom_strdup(key))) {
        mom_free(k);
        return NULL;
    }
    size_t at = hash_key(key) & (p->n_buckets - 1);
    k->hnext = p->buckets[at];
    p->buckets[at] = k;
    p->n_keys++;
    return k;
}

/* Free a key that has nothing queued or running. */
static void key_release(pool *p, keyq *k)
{
    if (k->running || k->head || k->in_ready || k->n_done)
        return;
    keyq **pp = &p->buckets[hash_key(k->key) & (p->n_buckets - 1)];
    while (*pp != k)
        pp = &(*pp)->hnext;
    *pp = k->hnext;
    p->n_keys--;
    mom_free(k->key);
    mom_free(k);
}

static void ready_push(pool *p, keyq *k)
{
    if (k->in_ready || k->running || !k->head)
        return;
    k->in_ready = true;
    k->rnext = NULL;
    if (p->ready_tail)
        p->ready_tail->rnext = k;
    else
        p->ready_head = k;
    p->ready_tail = k;
    pthread_cond_signal(&p->cv);
}

static keyq *ready_pop(pool *p)
{
    keyq *k = p->ready_head;
    if (!k)
        return NULL;
    p->ready_head = k->rnext;
    if (!p->ready_head)
        p->ready_tail = NULL;
    k->in_ready = false;
    return k;
}

static void signal_engine(pool *p)
{
    uint64_t one = 1;
    ssize_t r = write(p->efd, &one, sizeof(one));
    (void)r;
}

static void *worker_main(void *arg)
{
    pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        /* Leave when stopping, or when there are more threads than needed
         * now that a stuck job came back. */
        if (p->stopping || p->n_threads > p->base + p->n_stuck)
            break;
        keyq *k = ready_pop(p);
        if (!k) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        job *j = k->head;
        k->head = j->next;
        if (!k->head)
            k->tail = NULL;
        k->running = true;
        p->n_queued--;
        p->n_running++;
        j->due = pool_now() + j->deadline_s;
        j->rprev = NULL;
        j->rnext = p->running;
        if (p->running)
            p->running->rprev = j;
        p->running = j;
        pthread_mutex_unlock(&p->mu);

        j->work(j->arg);

        pthread_mutex_lock(&p->mu);
        if (j->rprev)
            j->rprev->rnext = j->rnext;
        else
            p->running = j->rnext;
        if (j->rnext)
            j->rnext->rprev = j->rprev;
        p->n_running--;
        if (j->timed_out)
            p->n_stuck--;
        k->running = false;
        ready_push(p, k);
        k->n_done++;
        j->next = NULL;
        if (p->done_tail)
            p->done_tail->next = j;
        else
            p->done_head = j;
        p->done_tail = j;
        signal_engine(p);
        pthread_cond_broadcast(&p->idle_cv);
    }
    p->n_threads--;
    if (!p->stopping && p->n_zombies < p->zombies_cap)
        p->zombies[p->n_zombies++] = pthread_self();
    pthread_cond_broadcast(&p->idle_cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Start one more worker; called with the mutex held. */
static int spawn(pool *p)
{
    if (p->n_threads_alive == p->threads_cap) {
        size_t cap = p->threads_cap ? p->threads_cap * 2 : 8;
        pthread_t *t = mom_realloc(p->threads, cap * sizeof(*t));
        if (!t)
            return -ENOMEM;
        p->threads = t;
        p->threads_cap = cap;
        pthread_t *z = mom_realloc(p->zombies, cap * sizeof(*z));
        if (!z)
            return -ENOMEM;
        p->zombies = z;
        p->zombies_cap = cap;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int r = pthread_create(&p->threads[p->n_threads_alive], &attr, worker_main, p);
    pthread_attr_destroy(&attr);
    if (r != 0)
        return -r;
    p->n_threads_alive++;
    p->n_threads++;
    return 0;
}

int pool_new(size_t n_workers, size_t max_extra, pool **ret)
{
    pool *p = mom_calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->efd = -1;
    p->base = n_workers ? n_workers : 1;
    p->max_extra = max_extra;
    p->n_buckets = 64;
    p->buckets = mom_calloc(p->n_buckets, sizeof(*p->buckets));
    if (!p->buckets) {
        mom_free(p);
        return -ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_cond_init(&p->idle_cv, NULL);
    p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->efd < 0) {
        int e = -errno;
        pool_free(p);
        return e;
    }
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->base; i++) {
        int r = spawn(p);
        if (r < 0) {
            pthread_mutex_unlock(&p->mu);
            pool_free(p);
            return r;
        }
    }
    pthread_mutex_unlock(&p->mu);
    *ret = p;
    return 0;
}

int pool_submit(pool *p, const char *key, pool_work_fn work, pool_done_fn done,
                pool_timeout_fn timeout, void *arg, double deadline_s)
{
    job *j = mom_calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->work = work;
    j->done = done;
    j->timeout = timeout;
    j->arg = arg;
    j->deadline_s = deadline_s;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        mom_free(j);
        return -ECANCELED;
    }
    keyq *k = key_get(p, key);
    if (!k) {
        pthread_mutex_unlock(&p->mu);
        mom_free(j);
        return -ENOMEM;
    }
    j->kq = k;
    if (k->tail)
        k->tail->next = j;
    else
        k->head = j;
    k->tail = j;
    p->n_queued++;
    ready_push(p, k);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

bool pool_busy(pool *p, const char *key)
{
    pthread_mutex_lock(&p->mu);
    keyq *k = key_find(p, key);
    bool busy = k && (k->running || k->head);
    pthread_mutex_unlock(&p->mu);
    return busy;
}

int pool_fd(const pool *p)
{
    return p->efd;
}

void pool_dispatch(pool *p)
{
    uint64_t v;
    ssize_t r = read(p->efd, &v, sizeof(v));
    (void)r;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        job *j = p->done_head;
        if (j) {
            p->done_head = j->next;
            if (!p->done_head)
                p->done_tail = NULL;
            j->kq->n_done--;
            key_release(p, j->kq);
        }
        pthread_mutex_unlock(&p->mu);
        if (!j)
            break;
        if (j->done)
            j->done(j->arg, false);
        mom_free(j);
    }
}

/* Join the threads that left after a stuck job came back. */
static void reap(pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->n_zombies) {
        pthread_t t = p->zombies[--p->n_zombies];
        for (size_t i = 0; i < p->n_threads_alive; i++) {
            if (pthread_equal(p->threads[i], t)) {
                p->threads[i] = p->threads[--p->n_threads_alive];
                break;
            }
        }
        pthread_mutex_unlock(&p->mu);
        pthread_join(t, NULL);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
}

double pool_check(pool *p, double now)
{
    double next = 0;
    reap(p);
    for (;;) {
        job *late = NULL;
        pthread_mutex_lock(&p->mu);
        next = 0;
        for (job *j = p->running; j; j = j->rnext) {
            if (j->timed_out)
                continue;
            if (j->due <= now) {
                late = j;
                j->timed_out = true;
                p->n_stuck++;
                if (p->n_threads < p->base + p->n_stuck &&
                    p->n_threads < p->base + p->max_extra && !p->stopping)
                    spawn(p);
                break;
            }
            if (next == 0 || j->due < next)
                next = j->due;
        }
        pool_timeout_fn fn = late ? late->timeout : NULL;
        void *arg = late ? late->arg : NULL;
        pthread_mutex_unlock(&p->mu);
        if (!late)
            break;
        /* The job cannot finish (and free arg) before its done callback,
         * which only this thread runs, so arg is safe to use here. */
        if (fn)
            fn(arg);
    }
    return next;
}

void pool_get_stats(pool *p, pool_stats *ret)
{
    pthread_mutex_lock(&p->mu);
    ret->threads = p->n_threads;
    ret->stuck = p->n_stuck;
    ret->queued = p->n_queued;
    ret->running = p->n_running;
    pthread_mutex_unlock(&p->mu);
}

void pool_stop(pool *p)
{
    job *cancelled = NULL;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    while (p->ready_head) {
        keyq *k = ready_pop(p);
        (void)k;
    }
    for (size_t i = 0; i < p->n_buckets; i++) {
        for (keyq *k = p->buckets[i]; k; k = k->hnext) {
            while (k->head) {
                job *j = k->head;
                k->head = j->next;
                j->next = cancelled;
                cancelled = j;
                p->n_queued--;
            }
            k->tail = NULL;
        }
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    while (cancelled) {
        job *j = cancelled;
        cancelled = j->next;
        if (j->done)
            j->done(j->arg, true);
        mom_free(j);
    }
}

bool pool_drain(pool *p, double timeout_s)
{
    double end = pool_now() + timeout_s;
    pthread_mutex_lock(&p->mu);
    while (p->n_running > 0) {
        double left = end - pool_now();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + (left < 0.1 ? left : 0.1);
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&p->idle_cv, &p->mu, &ts);
    }
    bool idle = p->n_running == 0;
    pthread_mutex_unlock(&p->mu);
    return idle;
}

void pool_free(pool *p)
{
    if (!p)
        return;
    if (p->buckets) {
        pool_stop(p);
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (size_t i = 0; i < p->n_threads_alive; i++)
            pthread_join(p->threads[i], NULL);
        /* deliver what finished, then drop empty keys */
        pool_dispatch(p);
        for (size_t i = 0; i < p->n_buckets; i++) {
            keyq *k = p->buckets[i];
            while (k) {
                keyq *next = k->hnext;
                mom_free(k->key);
                mom_free(k);
                k = next;
            }
        }
    }
    if (p->efd >= 0)
        close(p->efd);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->idle_cv);
    mom_free(p->threads);
    mom_free(p->zombies);
    mom_free(p->buckets);
    mom_free(p);
}
