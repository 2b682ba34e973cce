/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GuestMemory and GuestMemoryOptional: the guest's own view of its memory,
 * from the hypervisor operation get_vm_memory_stats (REFERENCE §2.2, §2.8).
 *
 * When the interface has no data (stats polling inactive, no balloon
 * driver, guest gone) the collector logs one warning per outage and
 * returns an empty result: that is not a collection error, so a later
 * collector can still supply the fields.  mem_free and mem_usable, which
 * no collector declares, are stored as undeclared extras.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/registry.h"
#include "mom/plugin.h"

typedef struct guest_memory {
    const mom_plugin_api *api;
    bool in_outage; /* the warning for the current outage was logged */
} guest_memory;

static const char *const base_mandatory[] = {
    "mem_available", "mem_unused", "major_fault", "minor_fault", "swap_in", "swap_out", NULL,
};

static const char *const base_optional[] = {
    "swap_total", "swap_usage", NULL,
};

static const char *const all_optional[] = {
    "mem_available", "mem_unused", "major_fault", "minor_fault",
    "swap_in",       "swap_out",   "swap_total",  "swap_usage", NULL,
};

/* Present bit -> field name, in the order the fields are stored. */
static const struct {
    uint32_t bit;
    const char *field;
    size_t off;
} field_map[] = {
    {MOM_HV_MEM_AVAILABLE, "mem_available", offsetof(mom_hv_memory_stats, mem_available)},
    {MOM_HV_MEM_UNUSED, "mem_unused", offsetof(mom_hv_memory_stats, mem_unused)},
    {MOM_HV_MAJOR_FAULT, "major_fault", offsetof(mom_hv_memory_stats, major_fault)},
    {MOM_HV_MINOR_FAULT, "minor_fault", offsetof(mom_hv_memory_stats, minor_fault)},
    {MOM_HV_SWAP_IN, "swap_in", offsetof(mom_hv_memory_stats, swap_in)},
    {MOM_HV_SWAP_OUT, "swap_out", offsetof(mom_hv_memory_stats, swap_out)},
    {MOM_HV_SWAP_TOTAL, "swap_total", offsetof(mom_hv_memory_stats, swap_total)},
    {MOM_HV_SWAP_USAGE, "swap_usage", offsetof(mom_hv_memory_stats, swap_usage)},
    {MOM_HV_MEM_FREE, "mem_free", offsetof(mom_hv_memory_stats, mem_free)},
    {MOM_HV_MEM_USABLE, "mem_usable", offsetof(mom_hv_memory_stats, mem_usable)},
};

/* Build an instance and ask the interface, once and best effort, to poll
 * the guest's statistics at the guest-monitor interval. */
static int guest_memory_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    guest_memory *g = mom_calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->api = api;
    int period = api->interval(api, "guest-monitor");
    (void)api->hv_start_memory_stats(entity, period > 0 ? period : 5);
    *ret_state = g;
    return 0;
}

/* One collection: every field whose present bit is set; nothing (and one
 * warning per outage) when the interface has no data. */
static int guest_memory_collect(void *state, mom_entity *entity, mom_sample *out)
{
    guest_memory *g = state;
    const mom_plugin_api *api = g->api;
    mom_hv_memory_stats st;
    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    int r = api->hv_memory_stats(entity, &st);
    if (r == 0 && !(st.present & (MOM_HV_MEM_AVAILABLE | MOM_HV_MEM_UNUSED | MOM_HV_MEM_FREE |
                                  MOM_HV_MAJOR_FAULT | MOM_HV_MINOR_FAULT | MOM_HV_SWAP_IN |
                                  MOM_HV_SWAP_OUT | MOM_HV_SWAP_TOTAL | MOM_HV_SWAP_USAGE |
                                  MOM_HV_MEM_USABLE)))
        r = -ENODATA;
    if (r < 0) {
        if (!g->in_outage)
            api->log(api, entity, MOM_LOG_WARN, "Memory statistics are not available: %s",
                     strerror(-r));
        g->in_outage = true;
        return 0;
    }
    if (g->in_outage)
        api->log(api, entity, MOM_LOG_INFO, "Memory statistics are available again");
    g->in_outage = false;

    for (size_t i = 0; i < sizeof(field_map) / sizeof(field_map[0]); i++) {
        if (!(st.present & field_map[i].bit))
            continue;
        int64_t v = *(const int64_t *)((const char *)&st + field_map[i].off);
        if ((r = api->sample_set_int(out, field_map[i].field, v)) < 0)
            return r;
    }
    return 0;
}

static void guest_memory_fini(void *state)
{
    mom_free(state);
}

const mom_collector mom_collector_GuestMemory = {
    .size = sizeof(mom_collector),
    .name = "GuestMemory",
    .kind = MOM_ENTITY_GUEST,
    .mandatory = base_mandatory,
    .optional = base_optional,
    .init = guest_memory_init,
    .collect = guest_memory_collect,
    .fini = guest_memory_fini,
};

const mom_collector mom_collector_GuestMemoryOptional = {
    .size = sizeof(mom_collector),
    .name = "GuestMemoryOptional",
    .kind = MOM_ENTITY_GUEST,
    .mandatory = NULL,
    .optional = all_optional,
    .init = guest_memory_init,
    .collect = guest_memory_collect,
    .fini = guest_memory_fini,
};
