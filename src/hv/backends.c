/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Choosing the built-in hypervisor backend named by [main]
 * hypervisor-interface.
 */
#include <string.h>
#include <strings.h>

#include "core/hv.h"
#include "hv/qmp.h"
#include "hv/libvirt.h"
#include "hv/sim.h"

/* The built-in backends, by [main] hypervisor-interface name. */
static const struct {
    const char *name;
    int (*create)(const conf *c, const mlog *log, hv *ret);
} backends[] = {
    {"sim", sim_create},
    {"libvirt", libvirt_create},
    {"qmp", qmp_create},
};

const char *hv_backend_names(void)
{
    return "sim, libvirt, qmp";
}

bool hv_backend_available(const char *name)
{
    for (size_t i = 0; name && i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcasecmp(name, backends[i].name) == 0)
            return true;
    return false;
}

int hv_create(const conf *c, const mlog *log, hv *ret)
{
    const char *name = conf_get(c, "main", "hypervisor-interface");
    memset(ret, 0, sizeof(*ret));
    for (size_t i = 0; name && i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcasecmp(name, backends[i].name) == 0)
            return backends[i].create(c, log, ret);
    mlog_msg(log, MOM_LOG_ERROR, "mom", "hypervisor-interface '%s' is not available in this "
             "build (available: %s, or callbacks supplied by a host program)",
             name ? name : "(none)", hv_backend_names());
    return MOM_E_CONFIG;
}

