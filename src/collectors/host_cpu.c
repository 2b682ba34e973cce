/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HostCpu: the number of processors listed in PROC/cpuinfo (REFERENCE
 * §1.3).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "collectors/procfs.h"
#include "core/alloc.h"
#include "core/registry.h"

typedef struct hostcpu {
    const mom_plugin_api *api;
    mom_entity *entity;
    char path[PATH_MAX];
    procfs_buf buf;
} hostcpu;

static const char *const hostcpu_mandatory[] = { "cpu_count", NULL };

static void hostcpu_fini(void *state)
{
    hostcpu *c = state;
    if (!c)
        return;
    procfs_buf_done(&c->buf);
    mom_free(c);
}

static int hostcpu_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    hostcpu *c = mom_calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->api = api;
    c->entity = entity;
    int r = procfs_path(c->path, sizeof(c->path), api->proc_root(api), "cpuinfo");
    if (r < 0) {
        api->log(api, entity, MOM_LOG_ERROR, "HostCpu: proc-root path too long");
        hostcpu_fini(c);
        return r;
    }
    *ret_state = c;
    return 0;
}

/* Count the lines that start with "processor" and contain a ':'. */
static int64_t count_processors(const char *text)
{
    int64_t n = 0;
    const char *line = text;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (strncmp(line, "processor", 9) == 0 && memchr(line, ':', len))
            n++;
        if (!nl)
            break;
        line = nl + 1;
    }
    return n;
}

/* One collection: re-read cpuinfo and count its processors. */
static int hostcpu_collect(void *state, mom_entity *entity, mom_sample *out)
{
    hostcpu *c = state;
    (void)entity;
    int r = procfs_read(c->path, &c->buf);
    if (r < 0) {
        c->api->log(c->api, c->entity, MOM_LOG_WARN, "HostCpu: cannot read %s: %s", c->path,
                    strerror(-r));
        return r;
    }
    return c->api->sample_set_int(out, "cpu_count", count_processors(c->buf.data));
}

const mom_collector mom_collector_HostCpu = {
    .size = sizeof(mom_collector),
    .name = "HostCpu",
    .kind = MOM_ENTITY_HOST,
    .mandatory = hostcpu_mandatory,
    .optional = NULL,
    .init = hostcpu_init,
    .collect = hostcpu_collect,
    .fini = hostcpu_fini,
};
