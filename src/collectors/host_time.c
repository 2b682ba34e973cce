/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HostTime: the host's local wall-clock time at collection, split into
 * fields (REFERENCE §1.4).  It has no state.
 */
#include <errno.h>
#include <time.h>

#include "core/alloc.h"
#include "core/registry.h"

typedef struct hosttime {
    const mom_plugin_api *api;
} hosttime;

static const char *const hosttime_mandatory[] = {
    "time_year", "time_month", "time_day", "time_hour",
    "time_minute", "time_second", "time_microsecond", NULL,
};

/* The instance only remembers the api table (collect() is not given it),
 * in a small allocation rather than in global state. */
static int hosttime_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    (void)entity;
    hosttime *t = mom_calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->api = api;
    *ret_state = t;
    return 0;
}

static void hosttime_fini(void *state)
{
    mom_free(state);
}

/* One collection: the local time now, down to the microsecond. */
static int hosttime_collect(void *state, mom_entity *entity, mom_sample *out)
{
    hosttime *t = state;
    const mom_plugin_api *api = t->api;
    struct timespec ts;
    struct tm tm;
    (void)entity;

    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return -errno;
    /* localtime_r need not read TZ again; tzset makes a changed TZ count. */
    tzset();
    if (!localtime_r(&ts.tv_sec, &tm))
        return -EOVERFLOW;
    int r;
    if ((r = api->sample_set_int(out, "time_year", (int64_t)tm.tm_year + 1900)) < 0 ||
        (r = api->sample_set_int(out, "time_month", tm.tm_mon + 1)) < 0 ||
        (r = api->sample_set_int(out, "time_day", tm.tm_mday)) < 0 ||
        (r = api->sample_set_int(out, "time_hour", tm.tm_hour)) < 0 ||
        (r = api->sample_set_int(out, "time_minute", tm.tm_min)) < 0 ||
        (r = api->sample_set_int(out, "time_second", tm.tm_sec)) < 0 ||
        (r = api->sample_set_int(out, "time_microsecond", ts.tv_nsec / 1000)) < 0)
        return r;
    return 0;
}

const mom_collector mom_collector_HostTime = {
    .size = sizeof(mom_collector),
    .name = "HostTime",
    .kind = MOM_ENTITY_HOST,
    .mandatory = hosttime_mandatory,
    .optional = NULL,
    .init = hosttime_init,
    .collect = hosttime_collect,
    .fini = hosttime_fini,
};
