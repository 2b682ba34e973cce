/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HostPressure: Linux memory pressure stall information from
 * PROC/pressure/memory (REFERENCE §1.5).  Every field is optional and the
 * collector never fails a collection: without PSI (no file, or a kernel
 * booted with psi=0 where reading fails with EOPNOTSUPP) every field is
 * None, so a host without PSI still becomes ready.
 *
 * With [main] host-memory-cgroup set to a version 2 cgroup that has a
 * memory.pressure file, that file is read instead (same format); a
 * version 1 cgroup has no PSI of its own and the host's is used.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "collectors/procfs.h"
#include "core/alloc.h"
#include "core/registry.h"

typedef struct hostpsi {
    const mom_plugin_api *api;
    mom_entity *entity;
    char path[PATH_MAX];
    procfs_buf buf;
    uint64_t prev_some, prev_full;
    bool has_prev_some, has_prev_full;
    int last_error; /* last read error logged, so an outage logs once */
} hostpsi;

static const char *const hostpsi_optional[] = {
    "psi_mem_some_avg10", "psi_mem_some_avg60", "psi_mem_some_avg300", "psi_mem_some_total",
    "psi_mem_full_avg10", "psi_mem_full_avg60", "psi_mem_full_avg300", "psi_mem_full_total",
    "psi_mem_some_delta", "psi_mem_full_delta", NULL,
};

static void hostpsi_fini(void *state)
{
    hostpsi *p = state;
    if (!p)
        return;
    procfs_buf_done(&p->buf);
    mom_free(p);
}

static int hostpsi_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    hostpsi *p = mom_calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->api = api;
    p->entity = entity;
    int r = procfs_path(p->path, sizeof(p->path), api->proc_root(api), "pressure/memory");
    if (r < 0) {
        api->log(api, entity, MOM_LOG_ERROR, "HostPressure: proc-root path too long");
        hostpsi_fini(p);
        return r;
    }
    const char *spec = api->config_get(api, "main", "host-memory-cgroup");
    if (spec && *spec) {
        procfs_cgroup cg;
        char path[PATH_MAX];
        if (procfs_cgroup_open(spec, api->sysfs_root(api), &cg) < 0) {
            api->log(api, entity, MOM_LOG_ERROR,
                     "HostPressure: host-memory-cgroup %s: no memory cgroup there", spec);
            hostpsi_fini(p);
            return -ENOENT;
        }
        if (procfs_cgroup_pressure_path(&cg, path, sizeof(path)) == 0 &&
            access(path, R_OK) == 0)
            snprintf(p->path, sizeof(p->path), "%s", path);
        else
            api->log(api, entity, MOM_LOG_INFO,
                     "HostPressure: the cgroup %s has no memory.pressure; using %s", cg.dir,
                     p->path);
    }
    *ret_state = p;
    return 0;
}

static int set_real(hostpsi *p, mom_sample *out, const char *field, bool has, double v)
{
    return has ? p->api->sample_set_real(out, field, v) : p->api->sample_set_none(out, field);
}

/* Set the total and its delta for one line; both None when the total is
 * absent (which also drops the baseline, so the delta restarts at 0). */
static int set_total(hostpsi *p, mom_sample *out, const char *total_field,
                     const char *delta_field, const procfs_psi_line *l, uint64_t *prev,
                     bool *has_prev)
{
    int r;
    if (!l->has_total || l->total > INT64_MAX) {
        *has_prev = false;
        if ((r = p->api->sample_set_none(out, total_field)) < 0)
            return r;
        return p->api->sample_set_none(out, delta_field);
    }
    uint64_t d = procfs_delta(l->total, prev, has_prev);
    if ((r = p->api->sample_set_int(out, total_field, (int64_t)l->total)) < 0)
        return r;
    return p->api->sample_set_int(out, delta_field, (int64_t)d);
}

/* One collection: parse the PSI file, or report every field None when it
 * cannot be read.  Only an allocation failure is an error. */
static int hostpsi_collect(void *state, mom_entity *entity, mom_sample *out)
{
    hostpsi *p = state;
    procfs_psi psi;
    (void)entity;

    int r = procfs_read(p->path, &p->buf);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        /* No PSI: every field None (the parse of "" sets nothing). */
        if (r != p->last_error && r != -ENOENT && r != -EOPNOTSUPP)
            p->api->log(p->api, p->entity, MOM_LOG_WARN, "HostPressure: cannot read %s: %s",
                        p->path, strerror(-r));
        p->last_error = r;
        memset(&psi, 0, sizeof(psi));
    } else {
        p->last_error = 0;
        procfs_parse_psi(p->buf.data, &psi);
    }

    if ((r = set_real(p, out, "psi_mem_some_avg10", psi.some.has_avg10, psi.some.avg10)) < 0 ||
        (r = set_real(p, out, "psi_mem_some_avg60", psi.some.has_avg60, psi.some.avg60)) < 0 ||
        (r = set_real(p, out, "psi_mem_some_avg300", psi.some.has_avg300, psi.some.avg300)) < 0 ||
        (r = set_real(p, out, "psi_mem_full_avg10", psi.full.has_avg10, psi.full.avg10)) < 0 ||
        (r = set_real(p, out, "psi_mem_full_avg60", psi.full.has_avg60, psi.full.avg60)) < 0 ||
        (r = set_real(p, out, "psi_mem_full_avg300", psi.full.has_avg300, psi.full.avg300)) < 0 ||
        (r = set_total(p, out, "psi_mem_some_total", "psi_mem_some_delta", &psi.some,
                       &p->prev_some, &p->has_prev_some)) < 0 ||
        (r = set_total(p, out, "psi_mem_full_total", "psi_mem_full_delta", &psi.full,
                       &p->prev_full, &p->has_prev_full)) < 0)
        return r;
    return 0;
}

const mom_collector mom_collector_HostPressure = {
    .size = sizeof(mom_collector),
    .name = "HostPressure",
    .kind = MOM_ENTITY_HOST,
    .mandatory = NULL,
    .optional = hostpsi_optional,
    .init = hostpsi_init,
    .collect = hostpsi_collect,
    .fini = hostpsi_fini,
};
