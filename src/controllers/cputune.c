/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The CpuTune controller (POLICY-CLASSIC §8): for each guest, the new quota
 * (and period) is the control when it is set, not None and different from
 * the latest sample's vcpu_quota (vcpu_period), else the sampled value.
 * The comparison is made on the values as they are, before any truncation
 * (100000.0 equals 100000, 100000.5 does not).  When either one changed,
 * both are converted with int() and sent in one set_vm_cpu_tune call.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "core/alloc.h"
#include "core/registry.h"
#include "core/value.h"
#include "mom/plugin.h"

static const char *const cputune_controls[] = {"vcpu_quota", "vcpu_period", NULL};

static int cputune_init(const mom_plugin_api *api, void **ret_state)
{
    (void)api;
    *ret_state = NULL;
    return 0;
}

/* Pick control or current for one setting; *changed tells which. */
static const mom_value *pick(const mom_value *ctl, const mom_value *cur, bool *changed)
{
    if (ctl && ctl->type != MOM_VALUE_NONE && !value_equal(ctl, cur)) {
        *changed = true;
        return ctl;
    }
    return cur;
}

/* int() of one chosen value, logging a failure for guest `who`. */
static int to_int(const mom_plugin_api *api, const char *who, const char *what,
                  const mom_value *v, int64_t *ret)
{
    int r = v ? api->value_to_int(v, ret) : -EINVAL;
    if (r < 0) {
        char *text = v ? value_to_json(v) : NULL;
        api->log(api, NULL, MOM_LOG_ERROR, "CpuTune: guest %s: %s %s is not an integer (%s)",
                 who, what, text ? text : "None", strerror(-r));
        mom_free(text);
    }
    return r;
}

/* One cycle: at most one set_vm_cpu_tune call per guest. */
static int cputune_process(void *state, const mom_plugin_api *api, mom_cycle *cycle)
{
    (void)state;
    size_t n = api->cycle_n_guests(cycle);
    for (size_t i = 0; i < n; i++) {
        mom_centity *g = api->cycle_guest(cycle, i);
        const mom_value *cq = api->control_get(g, "vcpu_quota");
        const mom_value *cp = api->control_get(g, "vcpu_period");
        if ((!cq || cq->type == MOM_VALUE_NONE) && (!cp || cp->type == MOM_VALUE_NONE))
            continue;
        const char *name = api->centity_prop_str(g, "name");
        if (!name)
            name = "?";
        const mom_value *sq = api->stat_get(g, "vcpu_quota");
        const mom_value *sp = api->stat_get(g, "vcpu_period");
        if (!sq || !sp) {
            api->log(api, NULL, MOM_LOG_ERROR,
                     "CpuTune: guest %s: vcpu_quota and vcpu_period are not collected "
                     "(configure GuestCpuTune)", name);
            continue;
        }
        bool changed = false;
        const mom_value *q = pick(cq, sq, &changed);
        const mom_value *p = pick(cp, sp, &changed);
        if (!changed)
            continue;
        int64_t quota, period;
        if (to_int(api, name, "vcpu_quota", q, &quota) < 0 ||
            to_int(api, name, "vcpu_period", p, &period) < 0)
            continue;
        int r = api->hv_set_cpu_tune(cycle, g, quota, period);
        if (r == -ENOTSUP) {
            api->log(api, NULL, MOM_LOG_WARN,
                     "CpuTune: the hypervisor interface cannot set CPU tuning");
            return r;
        }
        if (r < 0)
            api->log(api, NULL, MOM_LOG_WARN, "CpuTune: guest %s: cannot set CPU tuning: %s",
                     name, strerror(-r));
    }
    return 0;
}

static void cputune_fini(void *state)
{
    (void)state;
}

const mom_controller mom_controller_CpuTune = {
    .size = sizeof(mom_controller),
    .name = "CpuTune",
    .host_controls = NULL,
    .guest_controls = cputune_controls,
    /* No hard requirement: any collector (a plugin too) may supply
     * vcpu_quota and vcpu_period; a guest without them is logged and
     * skipped. */
    .requires = NULL,
    .init = cputune_init,
    .process = cputune_process,
    .fini = cputune_fini,
};
