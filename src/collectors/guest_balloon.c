/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GuestBalloon and GuestBalloonOptional: the balloon's current size, the
 * VM's maximum and its guaranteed minimum, all in KiB, from the hypervisor
 * operation get_vm_balloon_info (REFERENCE §2.3, §2.8).
 *
 * When the interface has nothing yet ("not ready") the collector logs that
 * once at debug level and returns nothing, so the fields are missing.  An
 * interface without the operation is reported once, as a warning.  Any
 * other failure is a collection error.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/alloc.h"
#include "core/registry.h"
#include "mom/plugin.h"

typedef struct guest_balloon {
    const mom_plugin_api *api;
    bool not_ready_logged; /* reset when data comes back */
    bool unsupported_logged;
} guest_balloon;

static const char *const balloon_fields[] = {
    "balloon_cur", "balloon_max", "balloon_min", NULL,
};

static int guest_balloon_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    (void)entity;
    guest_balloon *g = mom_calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->api = api;
    *ret_state = g;
    return 0;
}

/* One collection: the three fields, or nothing when there is no data. */
static int guest_balloon_collect(void *state, mom_entity *entity, mom_sample *out)
{
    guest_balloon *g = state;
    const mom_plugin_api *api = g->api;
    mom_hv_balloon_info bi;
    memset(&bi, 0, sizeof(bi));
    bi.size = sizeof(bi);
    int r = api->hv_balloon_info(entity, &bi);
    if (r == -ENODATA) {
        if (!g->not_ready_logged)
            api->log(api, entity, MOM_LOG_DEBUG, "Balloon information is not ready");
        g->not_ready_logged = true;
        return 0;
    }
    if (r == -ENOTSUP) {
        if (!g->unsupported_logged)
            api->log(api, entity, MOM_LOG_WARN,
                     "The hypervisor interface does not report balloon information");
        g->unsupported_logged = true;
        return 0;
    }
    if (r < 0)
        return r;
    g->not_ready_logged = false;
    if ((r = api->sample_set_int(out, "balloon_cur", bi.balloon_cur)) < 0 ||
        (r = api->sample_set_int(out, "balloon_max", bi.balloon_max)) < 0 ||
        (r = api->sample_set_int(out, "balloon_min", bi.balloon_min)) < 0)
        return r;
    return 0;
}

static void guest_balloon_fini(void *state)
{
    mom_free(state);
}

const mom_collector mom_collector_GuestBalloon = {
    .size = sizeof(mom_collector),
    .name = "GuestBalloon",
    .kind = MOM_ENTITY_GUEST,
    .mandatory = balloon_fields,
    .optional = NULL,
    .init = guest_balloon_init,
    .collect = guest_balloon_collect,
    .fini = guest_balloon_fini,
};

const mom_collector mom_collector_GuestBalloonOptional = {
    .size = sizeof(mom_collector),
    .name = "GuestBalloonOptional",
    .kind = MOM_ENTITY_GUEST,
    .mandatory = NULL,
    .optional = balloon_fields,
    .init = guest_balloon_init,
    .collect = guest_balloon_collect,
    .fini = guest_balloon_fini,
};
