/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GuestCpuTune: the guest's vCPU bandwidth settings from the hypervisor
 * operation get_vm_cpu_tune_info (REFERENCE §2.4).
 *
 *   vcpu_quota       µs per period per vCPU (-1 or 0: no limit)
 *   vcpu_period      µs
 *   vcpu_user_limit  percent, 100 when the user set none
 *   vcpu_count       number of vCPUs
 *
 * When the vCPU count is unknown the interface returns -ENODATA and the
 * collector returns nothing, so the guest is not ready (all four fields are
 * mandatory; there is no optional variant).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/alloc.h"
#include "core/registry.h"
#include "mom/plugin.h"

typedef struct guest_cputune {
    const mom_plugin_api *api;
    bool no_data_logged;
    bool unsupported_logged;
} guest_cputune;

static const char *const cputune_fields[] = {
    "vcpu_quota", "vcpu_period", "vcpu_user_limit", "vcpu_count", NULL,
};

static int guest_cputune_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    (void)entity;
    guest_cputune *g = mom_calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->api = api;
    *ret_state = g;
    return 0;
}

/* One collection: the four fields, or nothing when there is no data. */
static int guest_cputune_collect(void *state, mom_entity *entity, mom_sample *out)
{
    guest_cputune *g = state;
    const mom_plugin_api *api = g->api;
    mom_hv_cpu_tune_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.size = sizeof(ci);
    int r = api->hv_cpu_tune_info(entity, &ci);
    if (r == -ENODATA) {
        if (!g->no_data_logged)
            api->log(api, entity, MOM_LOG_DEBUG, "CPU tune information is not available");
        g->no_data_logged = true;
        return 0;
    }
    if (r == -ENOTSUP) {
        if (!g->unsupported_logged)
            api->log(api, entity, MOM_LOG_WARN,
                     "The hypervisor interface does not report CPU tune information");
        g->unsupported_logged = true;
        return 0;
    }
    if (r < 0)
        return r;
    g->no_data_logged = false;
    if ((r = api->sample_set_int(out, "vcpu_quota", ci.vcpu_quota)) < 0 ||
        (r = api->sample_set_int(out, "vcpu_period", ci.vcpu_period)) < 0 ||
        (r = api->sample_set_int(out, "vcpu_user_limit", ci.vcpu_user_limit)) < 0 ||
        (r = api->sample_set_int(out, "vcpu_count", ci.vcpu_count)) < 0)
        return r;
    return 0;
}

static void guest_cputune_fini(void *state)
{
    mom_free(state);
}

const mom_collector mom_collector_GuestCpuTune = {
    .size = sizeof(mom_collector),
    .name = "GuestCpuTune",
    .kind = MOM_ENTITY_GUEST,
    .mandatory = cputune_fields,
    .optional = NULL,
    .init = guest_cputune_init,
    .collect = guest_cputune_collect,
    .fini = guest_cputune_fini,
};
