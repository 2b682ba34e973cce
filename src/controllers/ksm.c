/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The KSM controller (POLICY-CLASSIC §8 and its appendix, REFERENCE §5,
 * §5.1): for each host control ksm_merge_across_nodes, ksm_run,
 * ksm_pages_to_scan and ksm_sleep_millisecs that is set and not None,
 * convert it with int() and keep it when it differs from the host's latest
 * sample of the same field (compared after truncation; an undeclared or
 * absent field always differs).
 *
 * The kept values go to the hypervisor interface's ksm_tune when it has
 * one; otherwise this controller writes them to SYSFS/kernel/mm/ksm itself,
 * merge_across_nodes first (the kernel accepts it only while KSM holds no
 * shared pages, so it must go before a run=1), then run, pages_to_scan and
 * sleep_millisecs.  A write the kernel refuses (EBUSY for
 * merge_across_nodes) is logged and the remaining values are still written.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/registry.h"
#include "core/value.h"
#include "mom/plugin.h"

static const char *const ksm_controls[] = {
    "ksm_run", "ksm_pages_to_scan", "ksm_sleep_millisecs", "ksm_merge_across_nodes", NULL,
};

static const char *const ksm_requires[] = {"HostKSM", NULL};

/* The four settings in the order they are written. */
static const struct {
    const char *control; /* host control and host field */
    const char *file;    /* sysfs file and ksm_tune key */
    uint32_t bit;
    size_t off;          /* member of mom_hv_ksm_tune */
} ksm_keys[] = {
    {"ksm_merge_across_nodes", "merge_across_nodes", MOM_HV_KSM_MERGE_ACROSS_NODES,
     offsetof(mom_hv_ksm_tune, merge_across_nodes)},
    {"ksm_run", "run", MOM_HV_KSM_RUN, offsetof(mom_hv_ksm_tune, run)},
    {"ksm_pages_to_scan", "pages_to_scan", MOM_HV_KSM_PAGES_TO_SCAN,
     offsetof(mom_hv_ksm_tune, pages_to_scan)},
    {"ksm_sleep_millisecs", "sleep_millisecs", MOM_HV_KSM_SLEEP_MILLISECS,
     offsetof(mom_hv_ksm_tune, sleep_millisecs)},
};
#define N_KEYS (sizeof(ksm_keys) / sizeof(ksm_keys[0]))

static int ksm_init(const mom_plugin_api *api, void **ret_state)
{
    (void)api;
    *ret_state = NULL;
    return 0;
}

static int64_t *tune_slot(mom_hv_ksm_tune *t, size_t i)
{
    return (int64_t *)((char *)t + ksm_keys[i].off);
}

/* Write one value to SYSFS/kernel/mm/ksm/FILE.  Returns 0 or a negative
 * errno from open or write. */
static int write_sysfs(const char *root, const char *file, int64_t v)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/kernel/mm/ksm/%s", root, file);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%" PRId64 "\n", v);
    ssize_t w;
    do
        w = write(fd, buf, (size_t)len);
    while (w < 0 && errno == EINTR);
    int err = w < 0 ? -errno : w != len ? -EIO : 0;
    if (close(fd) < 0 && err == 0 && errno != EINTR)
        err = -errno;
    return err;
}

/* One cycle: work out the changed subset, then send or write it. */
static int ksm_process(void *state, const mom_plugin_api *api, mom_cycle *cycle)
{
    (void)state;
    mom_centity *host = api->cycle_host(cycle);
    mom_hv_ksm_tune tune;
    memset(&tune, 0, sizeof(tune));

    for (size_t i = 0; i < N_KEYS; i++) {
        const mom_value *ctl = api->control_get(host, ksm_keys[i].control);
        if (!ctl || api->value_type(ctl) == MOM_VALUE_NONE)
            continue;
        int64_t v;
        int r = api->value_to_int(ctl, &v);
        if (r < 0) {
            char *text = value_to_json(ctl);
            api->log(api, NULL, MOM_LOG_ERROR, "KSM: %s %s is not an integer (%s)",
                     ksm_keys[i].control, text ? text : "?", strerror(-r));
            mom_free(text);
            continue;
        }
        const mom_value *cur = api->stat_get(host, ksm_keys[i].control);
        if (cur) {
            mom_value *nv = value_new_int(v);
            if (!nv)
                return -ENOMEM;
            bool same = value_equal(nv, cur);
            mom_value_unref(nv);
            if (same)
                continue;
        }
        *tune_slot(&tune, i) = v;
        tune.present |= ksm_keys[i].bit;
    }
    if (!tune.present)
        return 0;

    if (api->hv_has(api, "ksm_tune")) {
        int r = api->hv_ksm_tune(cycle, &tune);
        if (r < 0)
            api->log(api, NULL, MOM_LOG_WARN, "KSM: cannot tune KSM: %s", strerror(-r));
        return 0;
    }

    const char *root = api->sysfs_root(api);
    for (size_t i = 0; i < N_KEYS; i++) {
        if (!(tune.present & ksm_keys[i].bit))
            continue;
        int64_t v = *tune_slot(&tune, i);
        int r = write_sysfs(root, ksm_keys[i].file, v);
        if (r < 0)
            api->log(api, NULL, MOM_LOG_WARN,
                     "KSM: cannot write %" PRId64 " to %s/kernel/mm/ksm/%s: %s", v, root,
                     ksm_keys[i].file, strerror(-r));
        else
            api->log(api, NULL, MOM_LOG_DEBUG, "KSM: %s = %" PRId64, ksm_keys[i].file, v);
    }
    return 0;
}

static void ksm_fini(void *state)
{
    (void)state;
}

const mom_controller mom_controller_KSM = {
    .size = sizeof(mom_controller),
    .name = "KSM",
    .host_controls = ksm_controls,
    .guest_controls = NULL,
    .requires = ksm_requires,
    .init = ksm_init,
    .process = ksm_process,
    .fini = ksm_fini,
};
