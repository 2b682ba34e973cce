/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Example controller plugin: turns policy decisions into log lines.
 *
 * It registers one controller, ExampleNotify, that carries out two
 * controls the policy may set:
 *
 *   host control  example_alert   non-zero: log a warning naming the
 *                                 host's free memory (once per change)
 *   guest control example_note    log the note for that guest
 *
 * A classic policy uses them like this:
 *
 *   (if (< (/ Host.mem_free Host.mem_available) 0.1)
 *       (Host.Control "example_alert" 1)
 *       (Host.Control "example_alert" 0))
 *   (with Guests guest (guest.Control "example_note" guest.balloon_cur))
 *
 * and the configuration lists the controller after the built-in ones:
 *
 *   [main]
 *   plugin-dir = /usr/local/lib/mom/plugins
 *   controllers = Balloon, KSM, ExampleNotify
 *
 * A controller's init, process and fini run on the engine thread and must
 * not block; anything slow (a hypervisor call) would go through the api's
 * hv_* actions, which are queued on a worker.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>

#include <mom/plugin.h>

#define CONTROLLER_NAME "ExampleNotify"

typedef struct notify_state {
    const mom_plugin_api *api;
    bool alert;         /* the last alert state we logged */
    uint64_t n_notes;   /* guest notes logged so far */
} notify_state;

static const char *const notify_host_controls[] = {"example_alert", NULL};
static const char *const notify_guest_controls[] = {"example_note", NULL};

static int notify_init(const mom_plugin_api *api, void **ret_state)
{
    notify_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->api = api;
    *ret_state = st;
    return 0;
}

/* The latest value of a host field as an integer, or -1 when the field is
 * not collected or absent. */
static int64_t host_stat(const mom_plugin_api *api, mom_centity *host, const char *field)
{
    const mom_value *v = api->stat_get(host, field);
    int64_t n;
    if (!v || api->value_type(v) == MOM_VALUE_NONE || api->value_to_int(v, &n) < 0)
        return -1;
    return n;
}

/* One successful policy cycle: look at the controls the policy set. */
static int notify_process(void *state, const mom_plugin_api *api, mom_cycle *cycle)
{
    notify_state *st = state;
    mom_centity *host = api->cycle_host(cycle);
    const mom_value *alert = api->control_get(host, "example_alert");
    int64_t on;
    if (alert && api->value_type(alert) != MOM_VALUE_NONE) {
        if (api->value_to_int(alert, &on) < 0) {
            api->log(api, NULL, MOM_LOG_ERROR, "%s: example_alert is not a number",
                     CONTROLLER_NAME);
            return -EINVAL;
        }
        if ((on != 0) != st->alert) {
            st->alert = on != 0;
            if (st->alert)
                api->log(api, NULL, MOM_LOG_WARN,
                         "%s: the policy raised an alert (host mem_free %" PRId64 " KiB)",
                         CONTROLLER_NAME, host_stat(api, host, "mem_free"));
            else
                api->log(api, NULL, MOM_LOG_INFO, "%s: the alert is over", CONTROLLER_NAME);
        }
    }
    size_t n = api->cycle_n_guests(cycle);
    for (size_t i = 0; i < n; i++) {
        mom_centity *g = api->cycle_guest(cycle, i);
        const mom_value *note = api->control_get(g, "example_note");
        if (!note || api->value_type(note) == MOM_VALUE_NONE)
            continue;
        int64_t v;
        const char *name = api->centity_prop_str(g, "name");
        if (api->value_to_int(note, &v) == 0)
            api->log(api, NULL, MOM_LOG_INFO, "%s: guest %s: note %" PRId64, CONTROLLER_NAME,
                     name ? name : "?", v);
        else if (api->value_type(note) == MOM_VALUE_STRING)
            api->log(api, NULL, MOM_LOG_INFO, "%s: guest %s: note '%s'", CONTROLLER_NAME,
                     name ? name : "?", api->value_string(note));
        st->n_notes++;
    }
    return 0;
}

static void notify_fini(void *state)
{
    notify_state *st = state;
    if (st)
        st->api->log(st->api, NULL, MOM_LOG_DEBUG, "%s: %" PRIu64 " guest notes logged",
                     CONTROLLER_NAME, st->n_notes);
    free(st);
}

static const mom_controller notify_controller = {
    .size = sizeof(mom_controller),
    .name = CONTROLLER_NAME,
    .host_controls = notify_host_controls,
    .guest_controls = notify_guest_controls,
    .requires = NULL,
    .init = notify_init,
    .process = notify_process,
    .fini = notify_fini,
};

static int plugin_init(const mom_plugin_api *api, void **ret_state)
{
    *ret_state = NULL;
    return api->register_controller(api, &notify_controller);
}

__attribute__((visibility("default"))) const mom_plugin_descriptor mom_plugin = {
    .abi_major = MOM_PLUGIN_ABI_MAJOR,
    .abi_minor = MOM_PLUGIN_ABI_MINOR,
    .size = sizeof(mom_plugin_descriptor),
    .name = "example-notify",
    .init = plugin_init,
    .fini = NULL,
};
