/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Example collector plugin: the host's load average.
 *
 * It registers one host collector, ExampleLoadAvg, that reads
 * PROC/loadavg (PROC is [main] proc-root, or the simulator's private /proc)
 * and reports:
 *
 *   loadavg_1          mandatory  1-minute load average (real)
 *   loadavg_5          optional   5-minute load average (real)
 *   loadavg_15         optional   15-minute load average (real)
 *   procs_running      optional   runnable scheduling entities (int)
 *
 * Use it with
 *
 *   [main]
 *   plugin-dir = /usr/local/lib/mom/plugins
 *   [host]
 *   collectors = HostMemory, ExampleLoadAvg
 *
 * after which a policy can read Host.loadavg_1.  The optional key
 * `[Collector: ExampleLoadAvg] scale` multiplies every load figure (default
 * 1), to show how a collector reads its own configuration section.
 *
 * Everything here is built against the public headers only and calls the
 * engine solely through the mom_plugin_api table: the .so does not link
 * against libmom, so the same file works in momd and in any program that
 * embeds libmom.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mom/plugin.h>

#define COLLECTOR_NAME "ExampleLoadAvg"

/* One instance per monitor (here: the host).  collect() of one instance
 * never runs twice at once, so the state needs no lock. */
typedef struct loadavg_state {
    const mom_plugin_api *api;
    mom_entity *entity;
    char path[4096];
    double scale;
} loadavg_state;

static const char *const loadavg_mandatory[] = {"loadavg_1", NULL};
static const char *const loadavg_optional[] = {"loadavg_5", "loadavg_15", "procs_running",
                                               NULL};

/* Build an instance: remember where loadavg is and read our section. */
static int loadavg_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    loadavg_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->api = api;
    st->entity = entity;
    st->scale = 1.0;
    int n = snprintf(st->path, sizeof(st->path), "%s/loadavg", api->proc_root(api));
    if (n < 0 || (size_t)n >= sizeof(st->path)) {
        free(st);
        return -ENAMETOOLONG;
    }
    const char *scale = api->entity_config(entity, COLLECTOR_NAME, "scale");
    if (scale) {
        char *end;
        double v = strtod(scale, &end);
        if (end == scale || *end != '\0' || v <= 0) {
            api->log(api, entity, MOM_LOG_ERROR, "%s: scale: not a positive number: '%s'",
                     COLLECTOR_NAME, scale);
            free(st);
            return -EINVAL;
        }
        st->scale = v;
    }
    *ret_state = st;
    return 0;
}

/* Read "L1 L5 L15 RUNNING/TOTAL LASTPID" into the sample.  A file that
 * cannot be read is a collection error (the engine logs it and keeps the
 * previous sample); it is not fatal. */
static int loadavg_collect(void *state, mom_entity *entity, mom_sample *out)
{
    loadavg_state *st = state;
    const mom_plugin_api *api = st->api;
    char buf[256];
    int fd = open(st->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        api->log(api, entity, MOM_LOG_WARN, "%s: cannot open %s: %s", COLLECTOR_NAME, st->path,
                 strerror(err));
        return -err;
    }
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    int err = errno;
    close(fd);
    if (len < 0)
        return -err;
    buf[len] = '\0';
    double l1, l5, l15;
    long running, total;
    int n = sscanf(buf, "%lf %lf %lf %ld/%ld", &l1, &l5, &l15, &running, &total);
    if (n < 1) {
        api->log(api, entity, MOM_LOG_WARN, "%s: %s: unexpected contents", COLLECTOR_NAME,
                 st->path);
        return -EIO;
    }
    int r = api->sample_set_real(out, "loadavg_1", l1 * st->scale);
    if (r == 0)
        r = n >= 2 ? api->sample_set_real(out, "loadavg_5", l5 * st->scale)
                   : api->sample_set_none(out, "loadavg_5");
    if (r == 0)
        r = n >= 3 ? api->sample_set_real(out, "loadavg_15", l15 * st->scale)
                   : api->sample_set_none(out, "loadavg_15");
    if (r == 0)
        r = n >= 4 ? api->sample_set_int(out, "procs_running", running)
                   : api->sample_set_none(out, "procs_running");
    return r;
}

static void loadavg_fini(void *state)
{
    free(state);
}

static const mom_collector loadavg_collector = {
    .size = sizeof(mom_collector),
    .name = COLLECTOR_NAME,
    .kind = MOM_ENTITY_HOST,
    .mandatory = loadavg_mandatory,
    .optional = loadavg_optional,
    .init = loadavg_init,
    .collect = loadavg_collect,
    .fini = loadavg_fini,
};

/* Plugin init: register what the plugin offers.  When a registration
 * fails, returning its error makes the loader unregister everything this
 * plugin registered so far and unload it. */
static int plugin_init(const mom_plugin_api *api, void **ret_state)
{
    *ret_state = NULL;
    return api->register_collector(api, &loadavg_collector);
}

static void plugin_fini(void *state)
{
    (void)state;
}

/* The one symbol the loader looks for.  The library is built with
 * -fvisibility=hidden, so the descriptor is exported explicitly. */
__attribute__((visibility("default"))) const mom_plugin_descriptor mom_plugin = {
    .abi_major = MOM_PLUGIN_ABI_MAJOR,
    .abi_minor = MOM_PLUGIN_ABI_MINOR,
    .size = sizeof(mom_plugin_descriptor),
    .name = "example-loadavg",
    .init = plugin_init,
    .fini = plugin_fini,
};
