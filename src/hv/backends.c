/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Choosing the built-in hypervisor backend named by [main]
 * hypervisor-interface.
 *
 * sim and qmp are part of libmom.  libvirt lives in a module of its own,
 * libmom-libvirt.so, loaded the first time a libvirt engine is created:
 * a program that embeds libmom with its own callbacks, or momd on QMP or
 * the simulator, never maps the libvirt client library and its
 * dependencies (see docs/design.md).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/hv.h"
#include "hv/qmp.h"
#include "hv/sim.h"

#ifndef MOM_MODULEDIR
#define MOM_MODULEDIR "/usr/local/lib/mom"
#endif

typedef int (*create_fn)(const conf *c, const mlog *log, hv *ret);

/* Load libmom-NAME.so from $MOM_MODULE_DIR, the installed module
 * directory, or the directory of the binary libmom itself is in (the
 * build tree), and return its entry point.  The module stays loaded for
 * the life of the process: libvirt keeps process-wide state (its event
 * loop) that must not be unmapped. */
static create_fn load_module(const char *name, const mlog *log)
{
    char self_dir[PATH_MAX] = "";
    Dl_info info;
    if (dladdr((void *)load_module, &info) && info.dli_fname) {
        snprintf(self_dir, sizeof(self_dir), "%s", info.dli_fname);
        char *slash = strrchr(self_dir, '/');
        if (slash)
            *slash = '\0';
        else
            self_dir[0] = '\0';
    }
    const char *dirs[] = {getenv("MOM_MODULE_DIR"), MOM_MODULEDIR, self_dir[0] ? self_dir : NULL};
    char tried[3 * PATH_MAX] = "";
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (!dirs[i] || !*dirs[i])
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/libmom-%s.so", dirs[i], name);
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            size_t used = strlen(tried);
            snprintf(tried + used, sizeof(tried) - used, "%s%s", used ? "; " : "", dlerror());
            continue;
        }
        create_fn fn = (create_fn)dlsym(h, "mom_hv_module_create");
        if (fn)
            return fn;
        mlog_msg(log, MOM_LOG_ERROR, "mom", "%s has no mom_hv_module_create", path);
        dlclose(h);
    }
    mlog_msg(log, MOM_LOG_ERROR, "mom", "cannot load the %s backend module: %s", name,
             tried[0] ? tried : "no module directory");
    return NULL;
}

/* Defined when the libvirt backend's objects are linked into the program
 * itself (its own unit tests and benchmark); NULL otherwise. */
extern int libvirt_create(const conf *c, const mlog *log, hv *ret) __attribute__((weak));

static int libvirt_module_create(const conf *c, const mlog *log, hv *ret)
{
    if (libvirt_create)
        return libvirt_create(c, log, ret);
    create_fn fn = load_module("libvirt", log);
    return fn ? fn(c, log, ret) : -ENOENT;
}

/* The built-in backends, by [main] hypervisor-interface name. */
static const struct {
    const char *name;
    int (*create)(const conf *c, const mlog *log, hv *ret);
} backends[] = {
    {"sim", sim_create},
    {"libvirt", libvirt_module_create},
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

