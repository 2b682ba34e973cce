/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Version, error texts and configuration defaults of the public API. */
#include <errno.h>
#include <string.h>

#include "mom/mom.h"

MOM_API const char *mom_version(void)
{
    return MOM_VERSION_STRING;
}

MOM_API const char *mom_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case MOM_E_CONFIG: return "invalid configuration";
    case MOM_E_POLICY: return "the policy failed to load or run";
    case MOM_E_STATE: return "the engine is not in a state that allows this";
    case MOM_E_FATAL: return "fatal collector error";
    case MOM_E_NOPOLICY: return "no policy language is available for this text";
    case MOM_E_ABI: return "plugin ABI mismatch";
    case -ENOTSUP: return "operation not supported by the hypervisor interface";
    case -ENODATA: return "no data yet";
    case -ETIMEDOUT: return "deadline passed";
    case -ENOENT: return "no such guest or object";
    default: break;
    }
    if (err < 0 && err > -4096) {
        /* strerror's static table texts; never the per-call buffer */
        const char *s = strerrordesc_np(-err);
        return s ? s : "unknown error";
    }
    return "unknown error";
}

MOM_API void mom_config_init(mom_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->size = sizeof(*cfg);
}
