/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Balloon controller (POLICY-CLASSIC §8 and its appendix): for every
 * guest whose control `balloon_target` is set and not None, convert it with
 * Python's int() and ask the hypervisor to set the balloon to it, every
 * cycle, without comparing it with the current size.
 *
 * Deliberate difference from the original: the target is clamped into
 * [balloon_min, balloon_max] when the guest's latest sample has those
 * fields, and each clamp is logged at info level.  A guest whose control
 * cannot be converted is logged and skipped; the others still get theirs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "core/alloc.h"
#include "core/registry.h"
#include "core/value.h"
#include "mom/plugin.h"

static const char *const balloon_controls[] = {"balloon_target", NULL};

static int balloon_init(const mom_plugin_api *api, void **ret_state)
{
    (void)api;
    *ret_state = NULL;
    return 0;
}

/* The guest's latest value of an integer field, when it has one. */
static bool stat_int(const mom_plugin_api *api, mom_centity *g, const char *field,
                     int64_t *ret)
{
    const mom_value *v = api->stat_get(g, field);
    if (!v || api->value_type(v) == MOM_VALUE_NONE)
        return false;
    return api->value_to_int(v, ret) == 0;
}

/* Log that a control value could not be converted with int(). */
static void log_bad_value(const mom_plugin_api *api, const char *who, const char *control,
                          const mom_value *v, int err)
{
    char *text = value_to_json(v);
    api->log(api, NULL, MOM_LOG_ERROR, "Balloon: guest %s: %s %s is not an integer (%s)", who,
             control, text ? text : "?", strerror(-err));
    mom_free(text);
}

/* One cycle: one balloon call per guest with a target. */
static int balloon_process(void *state, const mom_plugin_api *api, mom_cycle *cycle)
{
    (void)state;
    size_t n = api->cycle_n_guests(cycle);
    for (size_t i = 0; i < n; i++) {
        mom_centity *g = api->cycle_guest(cycle, i);
        const mom_value *ctl = api->control_get(g, "balloon_target");
        if (!ctl || api->value_type(ctl) == MOM_VALUE_NONE)
            continue;
        const char *name = api->centity_prop_str(g, "name");
        if (!name)
            name = "?";
        int64_t target;
        int r = api->value_to_int(ctl, &target);
        if (r < 0) {
            log_bad_value(api, name, "balloon_target", ctl, r);
            continue;
        }

        int64_t cur, lo, hi;
        if (stat_int(api, g, "balloon_cur", &cur))
            api->log(api, NULL, MOM_LOG_DEBUG,
                     "Balloon: guest %s: balloon_cur %" PRId64 ", target %" PRId64, name, cur,
                     target);
        if (stat_int(api, g, "balloon_max", &hi) && target > hi) {
            api->log(api, NULL, MOM_LOG_INFO,
                     "Balloon: guest %s: target %" PRId64 " above balloon_max, clamped to %" PRId64,
                     name, target, hi);
            target = hi;
        }
        if (stat_int(api, g, "balloon_min", &lo) && target < lo) {
            api->log(api, NULL, MOM_LOG_INFO,
                     "Balloon: guest %s: target %" PRId64 " below balloon_min, clamped to %" PRId64,
                     name, target, lo);
            target = lo;
        }

        r = api->hv_set_balloon_target(cycle, g, target);
        if (r == -ENOTSUP) {
            api->log(api, NULL, MOM_LOG_WARN,
                     "Balloon: the hypervisor interface cannot set balloon targets");
            return r;
        }
        if (r < 0)
            api->log(api, NULL, MOM_LOG_WARN, "Balloon: guest %s: cannot set the target: %s",
                     name, strerror(-r));
    }
    return 0;
}

static void balloon_fini(void *state)
{
    (void)state;
}

const mom_controller mom_controller_Balloon = {
    .size = sizeof(mom_controller),
    .name = "Balloon",
    .host_controls = NULL,
    .guest_controls = balloon_controls,
    .requires = NULL,
    .init = balloon_init,
    .process = balloon_process,
    .fini = balloon_fini,
};
