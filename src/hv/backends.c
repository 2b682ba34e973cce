/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Choosing the built-in hypervisor backend named by [main]
 * hypervisor-interface.
 */
#include <string.h>
#include <strings.h>

#include "core/hv.h"
#include "hv/sim.h"

int hv_create(const conf *c, const mlog *log, hv *ret)
{
    const char *name = conf_get(c, "main", "hypervisor-interface");
    memset(ret, 0, sizeof(*ret));
    if (name && strcasecmp(name, "sim") == 0)
        return sim_create(c, log, ret);
    mlog_msg(log, MOM_LOG_ERROR, "mom", "hypervisor-interface '%s' is not available in this "
             "build (available: sim, or callbacks supplied by a host program)",
             name ? name : "(none)");
    return MOM_E_CONFIG;
}

