/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The worker pool: a fixed set of threads that run the calls that may block
 * (hypervisor callbacks, guest agents).  Jobs carry a key (a guest id, or
 * "host", "manager"); jobs with the same key run one at a time, in order,
 * so a guest never has two calls outstanding.  Each job has a deadline:
 * when it passes, the engine is told (timeout callback) and the pool starts
 * a replacement thread (up to max_extra) so that other keys go on; when the
 * late job finally returns its result is delivered as usual.
 *
 * Completions are delivered on the engine thread: pool_fd() becomes
 * readable and pool_dispatch() runs the done callbacks.
 */
#ifndef MOM_CORE_POOL_H
#define MOM_CORE_POOL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pool pool;

/* Runs on a worker thread. */
typedef void (*pool_work_fn)(void *arg);
/* Runs on the engine thread (pool_dispatch) after work() returned, or from
 * pool_free() with cancelled=true for a job that never started.  Owns arg. */
typedef void (*pool_done_fn)(void *arg, bool cancelled);
/* Runs on the engine thread (pool_check) once when a running job passes
 * its deadline; work() is still running, so arg stays owned by the job. */
typedef void (*pool_timeout_fn)(void *arg);

typedef struct pool_stats {
    size_t threads;    /* current worker threads */
    size_t stuck;      /* jobs running past their deadline */
    size_t queued;     /* jobs waiting */
    size_t running;
} pool_stats;

int pool_new(size_t n_workers, size_t max_extra, pool **ret);
/* Wait for every thread to end (running jobs finish first; queued jobs are
 * cancelled) and free.  Blocks while a job is stuck. */
void pool_free(pool *p);
/* Stop accepting work and cancel queued jobs (their done callbacks run
 * here with cancelled=true).  Does not wait for running jobs. */
void pool_stop(pool *p);
/* Wait at most timeout_s for running jobs to end; true when none remain. */
bool pool_drain(pool *p, double timeout_s);

/* Queue a job.  deadline_s is relative to the job's start.  Returns 0,
 * -ENOMEM, or -ECANCELED after pool_stop (arg is then still the caller's). */
int pool_submit(pool *p, const char *key, pool_work_fn work, pool_done_fn done,
                pool_timeout_fn timeout, void *arg, double deadline_s);
/* true when a job with this key is queued or running. */
bool pool_busy(pool *p, const char *key);

int pool_fd(const pool *p);
/* Engine thread: run the done callbacks of completed jobs. */
void pool_dispatch(pool *p);
/* Engine thread: fire timeouts for jobs past their deadline (now is
 * CLOCK_MONOTONIC seconds); returns the next deadline, or 0 when none. */
double pool_check(pool *p, double now);
void pool_get_stats(pool *p, pool_stats *ret);

/* CLOCK_MONOTONIC in seconds. */
double pool_now(void);

#endif
