/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policyfx: a policy set for tests, with its log captured (policyfx.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/snapshot_json.h"
#include "policyfx.h"

void policyfx_capture(mom_log_level level, const char *logger, const char *msg, void *userdata)
{
    (void)logger;
    policyfx_log *c = userdata;
    if (level == MOM_LOG_DEBUG && c->n_debug < POLICYFX_LINES)
        snprintf(c->debug[c->n_debug++], sizeof(c->debug[0]), "%s", msg);
    if (level == MOM_LOG_WARN && c->n_warn < POLICYFX_LINES)
        snprintf(c->warn[c->n_warn++], sizeof(c->warn[0]), "%s", msg);
}

policyfx *policyfx_new(const policy_catalog *cat, int64_t step_limit, int depth_limit)
{
    policyfx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    mlog_init(&f->log, policyfx_capture, &f->cap, MOM_LOG_DEBUG);
    f->opts.log = &f->log;
    f->opts.catalog = cat;
    f->opts.step_limit = step_limit;
    f->opts.depth_limit = depth_limit;
    assert_int_equal(policy_set_new(&f->opts, &f->p), 0);
    return f;
}

void policyfx_free(policyfx *f)
{
    if (!f)
        return;
    policy_set_free(f->p);
    free(f);
}

void policyfx_set_ok(policyfx *f, const char *name, const char *text, const char *file)
{
    char *err = NULL;
    if (policy_set_set(f->p, name, text, file, &err) != 0)
        fail_msg("loading %s: %s", name, err ? err : "?");
}

snapshot *policyfx_snap(const char *json)
{
    snapshot *s = NULL;
    char *err = NULL;
    if (snapshot_json_parse(json, strlen(json), "inline", &s, &err) < 0)
        fail_msg("snapshot: %s", err ? err : "?");
    return s;
}
