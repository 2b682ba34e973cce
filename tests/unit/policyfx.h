/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policyfx: a policy set for tests, with its log captured.
 *
 *     policyfx *f = policyfx_new(&catalog, 0, 0);   (0: default limits)
 *     policyfx_set_ok(f, "10-a", "integer :: x = 1\n", "a.mom");
 *     snapshot *s = policyfx_snap(json_text);
 *     ... policy_set_eval(f->p, s, ...); f->cap.debug[...] ...
 *     snapshot_unref(s);
 *     policyfx_free(f);
 *
 * Failures go through cmocka (fail_msg), so the helpers return only on
 * success.
 */
#ifndef MOM_TESTS_POLICYFX_H
#define MOM_TESTS_POLICYFX_H

#include <stdint.h>

#include "core/log.h"
#include "core/snapshot.h"
#include "lang/policy.h"

#define POLICYFX_LINES 64

/* Debug and warning lines the set logged, oldest first. */
typedef struct policyfx_log {
    int n_debug, n_warn;
    char debug[POLICYFX_LINES][256];
    char warn[POLICYFX_LINES][256];
} policyfx_log;

/* The log callback that fills a policyfx_log (userdata), for a set a test
 * makes itself. */
void policyfx_capture(mom_log_level level, const char *logger, const char *msg, void *userdata);

typedef struct policyfx {
    policyfx_log cap;
    mlog log;
    policy_opts opts;
    policy_set *p;
} policyfx;

/* A new set with catalog `cat` (NULL: none); step_limit and depth_limit 0
 * take the defaults. */
policyfx *policyfx_new(const policy_catalog *cat, int64_t step_limit, int depth_limit);
void policyfx_free(policyfx *f);
/* Set policy `name` from `text` (labelled `file`), or fail the test. */
void policyfx_set_ok(policyfx *f, const char *name, const char *text, const char *file);
/* A snapshot from its JSON text, or fail the test. */
snapshot *policyfx_snap(const char *json);

#endif
