/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HostMemory: the host's memory and swap figures from PROC/meminfo and
 * PROC/vmstat (REFERENCE §1.1).
 *
 * Naming trap kept from the original: mem_available is MemTotal, not the
 * kernel's MemAvailable.
 *
 * With [main] host-memory-cgroup set, the host's memory is that cgroup's
 * (REFERENCE §0): mem_available is the cgroup's limit (MemTotal when it
 * has none, or a larger one), mem_unused the limit minus the usage,
 * mem_free mem_unused plus the cgroup's page cache, anon_pages the
 * cgroup's anonymous memory, and swap comes from the cgroup's swap
 * accounting where it has one (else from /proc/meminfo and /proc/vmstat).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "collectors/procfs.h"
#include "core/alloc.h"
#include "core/registry.h"

typedef struct hostmem {
    const mom_plugin_api *api;
    mom_entity *entity;
    char meminfo_path[PATH_MAX];
    char vmstat_path[PATH_MAX];
    procfs_buf buf;
    uint64_t prev_in, prev_out;
    bool has_prev_in, has_prev_out;
    bool use_cgroup;
    procfs_cgroup cg;
    bool cg_failing; /* the cgroup's last read failed (logged once) */
} hostmem;

static const char *const hostmem_mandatory[] = {
    "mem_available", "mem_unused", "mem_free", "anon_pages",
    "swap_total", "swap_usage", "swap_in", "swap_out", NULL,
};

static void hostmem_fini(void *state)
{
    hostmem *m = state;
    if (!m)
        return;
    procfs_buf_done(&m->buf);
    mom_free(m);
}

/* Remember where meminfo and vmstat are; nothing is read before the first
 * collection, whose swap deltas are 0. */
static int hostmem_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    hostmem *m = mom_calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->api = api;
    m->entity = entity;
    const char *proc = api->proc_root(api);
    int r = procfs_path(m->meminfo_path, sizeof(m->meminfo_path), proc, "meminfo");
    if (r == 0)
        r = procfs_path(m->vmstat_path, sizeof(m->vmstat_path), proc, "vmstat");
    if (r < 0) {
        api->log(api, entity, MOM_LOG_ERROR, "HostMemory: proc-root path too long: %s", proc);
        hostmem_fini(m);
        return r;
    }
    const char *cg = api->config_get(api, "main", "host-memory-cgroup");
    if (cg && *cg) {
        r = procfs_cgroup_open(cg, api->sysfs_root(api), &m->cg);
        if (r < 0) {
            api->log(api, entity, MOM_LOG_ERROR,
                     "HostMemory: host-memory-cgroup %s: no memory cgroup there "
                     "(give a directory such as /sys/fs/cgroup/machine.slice, or a path "
                     "below the cgroup mount)",
                     cg);
            hostmem_fini(m);
            return r;
        }
        m->use_cgroup = true;
        api->log(api, entity, MOM_LOG_INFO, "HostMemory: host memory is the cgroup %s (v%d)",
                 m->cg.dir, m->cg.version);
    }
    *ret_state = m;
    return 0;
}

/* Look up a line the arithmetic needs; log and return -EIO when it is
 * missing or malformed. */
static int need(hostmem *m, const char *path, const char *key, char sep, uint64_t *ret)
{
    int r = procfs_find_u64(m->buf.data, key, sep, ret);
    if (r == 0)
        return 0;
    m->api->log(m->api, m->entity, MOM_LOG_WARN, "HostMemory: %s: %s line %s", path, key,
                r == -ENOENT ? "missing" : "malformed");
    return -EIO;
}

/* Set an optional line's value, or None when the line is missing (a
 * malformed number counts as missing). */
static int set_or_none(hostmem *m, mom_sample *out, const char *field, const char *key)
{
    uint64_t v;
    if (procfs_find_u64(m->buf.data, key, ':', &v) == 0 && v <= INT64_MAX)
        return m->api->sample_set_int(out, field, (int64_t)v);
    return m->api->sample_set_none(out, field);
}

static int64_t kib(uint64_t bytes)
{
    return (int64_t)(bytes / 1024);
}

/* One collection in cgroup mode: /proc/meminfo gives MemTotal (the
 * ceiling of the view) and the host's swap, the cgroup the rest. */
static int hostmem_collect_cgroup(hostmem *m, mom_sample *out)
{
    const mom_plugin_api *api = m->api;
    uint64_t memtotal, swaptotal, swapfree, pswpin, pswpout;
    procfs_cgroup_mem cm;
    int r = procfs_read(m->meminfo_path, &m->buf);
    if (r < 0) {
        api->log(api, m->entity, MOM_LOG_WARN, "HostMemory: cannot read %s: %s",
                 m->meminfo_path, strerror(-r));
        return r;
    }
    if ((r = need(m, m->meminfo_path, "MemTotal", ':', &memtotal)) < 0 ||
        (r = need(m, m->meminfo_path, "SwapTotal", ':', &swaptotal)) < 0 ||
        (r = need(m, m->meminfo_path, "SwapFree", ':', &swapfree)) < 0)
        return r;
    uint64_t host_anon = 0;
    bool has_host_anon = procfs_find_u64(m->buf.data, "AnonPages", ':', &host_anon) == 0;
    r = procfs_cgroup_read_memory(&m->cg, &m->buf, &cm);
    if (r < 0) {
        if (!m->cg_failing)
            api->log(api, m->entity, MOM_LOG_WARN, "HostMemory: cannot read the cgroup %s: %s",
                     m->cg.dir, strerror(-r));
        m->cg_failing = true;
        return -EIO;
    }
    if (m->cg_failing)
        api->log(api, m->entity, MOM_LOG_INFO, "HostMemory: the cgroup %s is readable again",
                 m->cg.dir);
    m->cg_failing = false;

    uint64_t total = memtotal > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : memtotal;
    if (cm.limited && kib(cm.limit) < (int64_t)total)
        total = (uint64_t)kib(cm.limit);
    uint64_t used = (uint64_t)kib(cm.usage);
    uint64_t unused = total > used ? total - used : 0;
    uint64_t cache = cm.has_cache ? (uint64_t)kib(cm.cache) : 0;
    uint64_t free_kib = unused + cache > total ? total : unused + cache;

    uint64_t swap_total = swaptotal, swap_usage = swaptotal >= swapfree ? swaptotal - swapfree : 0;
    if (cm.has_swap) {
        if (cm.swap_limited && (uint64_t)kib(cm.swap_limit) < swap_total)
            swap_total = (uint64_t)kib(cm.swap_limit);
        swap_usage = (uint64_t)kib(cm.swap_usage);
    }
    if (cm.has_pswp) {
        pswpin = cm.pswpin;
        pswpout = cm.pswpout;
    } else {
        r = procfs_read(m->vmstat_path, &m->buf);
        if (r < 0) {
            api->log(api, m->entity, MOM_LOG_WARN, "HostMemory: cannot read %s: %s",
                     m->vmstat_path, strerror(-r));
            return r;
        }
        if ((r = need(m, m->vmstat_path, "pswpin", ' ', &pswpin)) < 0 ||
            (r = need(m, m->vmstat_path, "pswpout", ' ', &pswpout)) < 0)
            return r;
    }
    uint64_t d_in = procfs_delta(pswpin, &m->prev_in, &m->has_prev_in);
    uint64_t d_out = procfs_delta(pswpout, &m->prev_out, &m->has_prev_out);
    if (cm.has_anon)
        r = api->sample_set_int(out, "anon_pages", kib(cm.anon));
    else if (has_host_anon && host_anon <= INT64_MAX)
        r = api->sample_set_int(out, "anon_pages", (int64_t)host_anon);
    else
        r = api->sample_set_none(out, "anon_pages");
    if (r < 0 || (r = api->sample_set_int(out, "mem_available", (int64_t)total)) < 0 ||
        (r = api->sample_set_int(out, "mem_unused", (int64_t)unused)) < 0 ||
        (r = api->sample_set_int(out, "mem_free", (int64_t)free_kib)) < 0 ||
        (r = api->sample_set_int(out, "swap_total", (int64_t)swap_total)) < 0 ||
        (r = api->sample_set_int(out, "swap_usage", (int64_t)swap_usage)) < 0 ||
        (r = api->sample_set_int(out, "swap_in", (int64_t)d_in)) < 0 ||
        (r = api->sample_set_int(out, "swap_out", (int64_t)d_out)) < 0)
        return r;
    return 0;
}

/* One collection: every line the arithmetic needs must be there (else
 * -EIO and no sample); MemTotal and AnonPages may be None. */
static int hostmem_collect(void *state, mom_entity *entity, mom_sample *out)
{
    hostmem *m = state;
    const mom_plugin_api *api = m->api;
    uint64_t memfree, buffers, cached, swaptotal, swapfree, pswpin, pswpout;
    int r;
    (void)entity;
    if (m->use_cgroup)
        return hostmem_collect_cgroup(m, out);

    r = procfs_read(m->meminfo_path, &m->buf);
    if (r < 0) {
        api->log(api, m->entity, MOM_LOG_WARN, "HostMemory: cannot read %s: %s",
                 m->meminfo_path, strerror(-r));
        return r;
    }
    if ((r = need(m, m->meminfo_path, "MemFree", ':', &memfree)) < 0 ||
        (r = need(m, m->meminfo_path, "Buffers", ':', &buffers)) < 0 ||
        (r = need(m, m->meminfo_path, "Cached", ':', &cached)) < 0 ||
        (r = need(m, m->meminfo_path, "SwapTotal", ':', &swaptotal)) < 0 ||
        (r = need(m, m->meminfo_path, "SwapFree", ':', &swapfree)) < 0)
        return r;
    if ((r = set_or_none(m, out, "mem_available", "MemTotal")) < 0 ||
        (r = set_or_none(m, out, "anon_pages", "AnonPages")) < 0)
        return r;

    r = procfs_read(m->vmstat_path, &m->buf);
    if (r < 0) {
        api->log(api, m->entity, MOM_LOG_WARN, "HostMemory: cannot read %s: %s",
                 m->vmstat_path, strerror(-r));
        return r;
    }
    if ((r = need(m, m->vmstat_path, "pswpin", ' ', &pswpin)) < 0 ||
        (r = need(m, m->vmstat_path, "pswpout", ' ', &pswpout)) < 0)
        return r;

    /* Only now, with every input read, advance the delta baselines. */
    uint64_t d_in = procfs_delta(pswpin, &m->prev_in, &m->has_prev_in);
    uint64_t d_out = procfs_delta(pswpout, &m->prev_out, &m->has_prev_out);
    /* SwapFree above SwapTotal cannot happen in a consistent file; clamp
     * rather than report a negative usage. */
    uint64_t swap_usage = swaptotal >= swapfree ? swaptotal - swapfree : 0;

    if ((r = api->sample_set_int(out, "mem_unused", (int64_t)memfree)) < 0 ||
        (r = api->sample_set_int(out, "mem_free", (int64_t)(memfree + buffers + cached))) < 0 ||
        (r = api->sample_set_int(out, "swap_total", (int64_t)swaptotal)) < 0 ||
        (r = api->sample_set_int(out, "swap_usage", (int64_t)swap_usage)) < 0 ||
        (r = api->sample_set_int(out, "swap_in", (int64_t)d_in)) < 0 ||
        (r = api->sample_set_int(out, "swap_out", (int64_t)d_out)) < 0)
        return r;
    return 0;
}

const mom_collector mom_collector_HostMemory = {
    .size = sizeof(mom_collector),
    .name = "HostMemory",
    .kind = MOM_ENTITY_HOST,
    .mandatory = hostmem_mandatory,
    .optional = NULL,
    .init = hostmem_init,
    .collect = hostmem_collect,
    .fini = hostmem_fini,
};
