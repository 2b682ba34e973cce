/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The IoTune controller (POLICY-CLASSIC §8, REFERENCE §5).  The policy
 * changes the `current` limits of a guest's io_tune records through their
 * setters; the evaluator turns the result into the guest control "io_tune",
 * a LIST with one {"name", "path", "ioTune": {six limits}} per disk, in the
 * order of the io_tune field.  Index by index, each disk's ioTune is
 * compared (value equality, numbers by value) with the same index of the
 * io_tune_current field; the disks that differ are sent, with all six of
 * their limits, in one set_vm_io_tune call per guest.  A guest whose
 * control or io_tune_current is None or empty is skipped.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hv.h"
#include "core/registry.h"
#include "core/value.h"
#include "mom/plugin.h"

static const char *const iotune_controls[] = {"io_tune", NULL};

static int iotune_init(const mom_plugin_api *api, void **ret_state)
{
    (void)api;
    *ret_state = NULL;
    return 0;
}

static bool nonempty_list(const mom_value *v)
{
    return v && v->type == MOM_VALUE_LIST && v->u.c.n > 0;
}

/* A string member of a disk entry, or NULL. */
static const char *entry_str(const mom_value *entry, const char *key)
{
    const mom_value *v = value_map_get(entry, key);
    return v && v->type == MOM_VALUE_STRING ? v->u.s.ptr : NULL;
}

/* One cycle: one set_vm_io_tune call per guest with changed disks. */
static int iotune_process(void *state, const mom_plugin_api *api, mom_cycle *cycle)
{
    (void)state;
    size_t n = api->cycle_n_guests(cycle);
    mom_hv_disk_tune *disks = NULL;
    size_t cap = 0;
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        mom_centity *g = api->cycle_guest(cycle, i);
        const mom_value *ctl = api->control_get(g, "io_tune");
        const mom_value *cur = api->stat_get(g, "io_tune_current");
        if (!nonempty_list(ctl) || !nonempty_list(cur))
            continue;
        const char *name = api->centity_prop_str(g, "name");
        if (!name)
            name = "?";
        size_t m = ctl->u.c.n < cur->u.c.n ? ctl->u.c.n : cur->u.c.n;
        if (m > cap) {
            mom_hv_disk_tune *d = mom_realloc(disks, m * sizeof(*d));
            if (!d) {
                ret = -ENOMEM;
                break;
            }
            disks = d;
            cap = m;
        }
        size_t nd = 0;
        for (size_t k = 0; k < m; k++) {
            const mom_value *want = ctl->u.c.items[k];
            const mom_value *have = cur->u.c.items[k];
            if (want->type != MOM_VALUE_MAP)
                continue;
            const mom_value *wt = value_map_get(want, "ioTune");
            const mom_value *ht = have->type == MOM_VALUE_MAP ? value_map_get(have, "ioTune")
                                                              : NULL;
            if (!wt || wt->type != MOM_VALUE_MAP || value_equal(wt, ht))
                continue;
            disks[nd].name = entry_str(want, "name");
            disks[nd].path = entry_str(want, "path");
            hv_limits_from_value(wt, &disks[nd].io_tune);
            nd++;
        }
        if (nd == 0)
            continue;
        int r = api->hv_set_io_tune(cycle, g, disks, nd);
        if (r == -ENOTSUP) {
            api->log(api, NULL, MOM_LOG_WARN,
                     "IoTune: the hypervisor interface cannot set I/O limits");
            ret = r;
            break;
        }
        if (r < 0)
            api->log(api, NULL, MOM_LOG_WARN, "IoTune: guest %s: cannot set I/O limits: %s",
                     name, strerror(-r));
    }
    mom_free(disks);
    return ret;
}

static void iotune_fini(void *state)
{
    (void)state;
}

const mom_controller mom_controller_IoTune = {
    .size = sizeof(mom_controller),
    .name = "IoTune",
    .host_controls = NULL,
    .guest_controls = iotune_controls,
    .requires = NULL,
    .init = iotune_init,
    .process = iotune_process,
    .fini = iotune_fini,
};
