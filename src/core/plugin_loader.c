/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loadable plugins: dlopen, descriptor checks, init with the engine's api
 * table, and the reverse at unload (see plugin_loader.h).
 */
#include "core/plugin_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/registry.h"

#define LOGGER "mom.PluginLoader"

typedef struct plugin {
    void *handle;
    const mom_plugin_descriptor *desc;
    void *state;
    char *name; /* our copy of desc->name: the registry owner tag */
    char *path;
} plugin;

struct plugin_set {
    plugin *items;
    size_t n;
};

int plugin_loader_new(plugin_set **ret)
{
    plugin_set *ps = mom_calloc(1, sizeof(*ps));
    if (!ps)
        return -ENOMEM;
    *ret = ps;
    return 0;
}

size_t plugin_loader_count(const plugin_set *ps)
{
    return ps ? ps->n : 0;
}

const char *plugin_loader_name_at(const plugin_set *ps, size_t i)
{
    return ps && i < ps->n ? ps->items[i].name : NULL;
}

/* Check the descriptor `d` found in `path` without running any of its
 * code.  Returns 0 or the error plugin_loader_load() reports. */
static int check_descriptor(const plugin_set *ps, const api_env *env, const char *path,
                            const mom_plugin_descriptor *d)
{
    if (d->abi_major != MOM_PLUGIN_ABI_MAJOR || d->abi_minor > MOM_PLUGIN_ABI_MINOR) {
        mlog_msg(env->log, MOM_LOG_ERROR, LOGGER,
                 "%s: the plugin was built for plugin ABI %u.%u, but this libmom provides "
                 "plugin ABI %u.%u; not loaded",
                 path, (unsigned)d->abi_major, (unsigned)d->abi_minor,
                 (unsigned)MOM_PLUGIN_ABI_MAJOR, (unsigned)MOM_PLUGIN_ABI_MINOR);
        return MOM_E_ABI;
    }
    if (d->size < sizeof(mom_plugin_descriptor)) {
        mlog_msg(env->log, MOM_LOG_ERROR, LOGGER,
                 "%s: the plugin's descriptor has %zu bytes, plugin ABI %u.%u needs %zu "
                 "(plugin built for ABI %u.%u); not loaded",
                 path, d->size, (unsigned)MOM_PLUGIN_ABI_MAJOR, (unsigned)MOM_PLUGIN_ABI_MINOR,
                 sizeof(mom_plugin_descriptor), (unsigned)d->abi_major, (unsigned)d->abi_minor);
        return MOM_E_ABI;
    }
    if (!d->name || !*d->name || !d->init) {
        mlog_msg(env->log, MOM_LOG_ERROR, LOGGER,
                 "%s: the plugin's descriptor has no %s; not loaded", path,
                 !d->init ? "init function" : "name");
        return -EINVAL;
    }
    for (size_t i = 0; i < ps->n; i++) {
        if (strcmp(ps->items[i].name, d->name) == 0) {
            mlog_msg(env->log, MOM_LOG_ERROR, LOGGER,
                     "%s: a plugin named '%s' is loaded already (from %s); not loaded", path,
                     d->name, ps->items[i].path);
            return -EEXIST;
        }
    }
    return 0;
}

int plugin_loader_load(plugin_set *ps, api_env *env, const char *path)
{
    if (!ps || !env || !path)
        return -EINVAL;
    plugin p = {0};
    int rc;
    plugin *grown = mom_realloc(ps->items, (ps->n + 1) * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    ps->items = grown;

    /* RTLD_LOCAL keeps one plugin's symbols from resolving another's;
     * RTLD_NOW turns an unresolved symbol into a load error instead of a
     * crash on first use. */
    p.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p.handle) {
        const char *why = dlerror();
        mlog_msg(env->log, MOM_LOG_ERROR, LOGGER, "%s: cannot load: %s", path,
                 why ? why : "unknown error");
        return -ELIBBAD;
    }
    dlerror();
    p.desc = dlsym(p.handle, "mom_plugin");
    if (!p.desc) {
        mlog_msg(env->log, MOM_LOG_ERROR, LOGGER,
                 "%s: not a MOM plugin: it does not export 'mom_plugin'", path);
        rc = -ENOEXEC;
        goto fail;
    }
    if ((rc = check_descriptor(ps, env, path, p.desc)) < 0)
        goto fail;
    p.name = mom_strdup(p.desc->name);
    p.path = mom_strdup(path);
    if (!p.name || !p.path) {
        rc = -ENOMEM;
        goto fail;
    }

    /* Everything init registers carries the plugin's name as its owner, so
     * a failed init can be undone completely. */
    const char *saved = env->plugin_name;
    env->plugin_name = p.name;
    rc = p.desc->init(&env->api, &p.state);
    env->plugin_name = saved;
    if (rc < 0) {
        mlog_msg(env->log, MOM_LOG_ERROR, LOGGER, "%s: plugin '%s' failed to initialise: %s",
                 path, p.name, mom_strerror(rc));
        if (env->registry)
            registry_remove_owner(env->registry, p.name);
        goto fail;
    }
    mlog_msg(env->log, MOM_LOG_INFO, LOGGER, "loaded plugin '%s' (ABI %u.%u) from %s", p.name,
             (unsigned)p.desc->abi_major, (unsigned)p.desc->abi_minor, path);
    ps->items[ps->n++] = p;
    return 0;

fail:
    mom_free(p.name);
    mom_free(p.path);
    dlclose(p.handle);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the "*.so" files in `dir`, sorted; *ret_names is a
 * mom_malloc'ed array of mom_strdup'ed names. */
static int list_dir(const char *dir, char ***ret_names, size_t *ret_n)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int err = -errno;
        close(fd);
        return err;
    }
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 4 || strcmp(de->d_name + len - 3, ".so") != 0)
            continue;
        char **g = mom_realloc(names, (n + 1) * sizeof(*g));
        if (!g) {
            rc = -ENOMEM;
            break;
        }
        names = g;
        if (!(names[n] = mom_strdup(de->d_name))) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            mom_free(names[i]);
        mom_free(names);
        return rc;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);
    *ret_names = names;
    *ret_n = n;
    return 0;
}

int plugin_loader_load_dir(api_env *env, const char *dir, plugin_set **ret)
{
    if (!env || !ret)
        return -EINVAL;
    *ret = NULL;
    if (!dir || !*dir)
        return 0;
    char **names = NULL;
    size_t n = 0;
    int rc = list_dir(dir, &names, &n);
    if (rc < 0) {
        mlog_msg(env->log, MOM_LOG_ERROR, LOGGER, "plugin-dir %s: %s", dir, mom_strerror(rc));
        return rc;
    }
    plugin_set *ps = NULL;
    if ((rc = plugin_loader_new(&ps)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char *path = mom_asprintf("%s/%s", dir, names[i]);
        if (!path) {
            rc = -ENOMEM;
            break;
        }
        rc = plugin_loader_load(ps, env, path);
        mom_free(path);
        if (rc < 0)
            break;
    }
    if (n == 0)
        mlog_msg(env->log, MOM_LOG_INFO, LOGGER, "plugin-dir %s holds no plugins", dir);
out:
    for (size_t i = 0; i < n; i++)
        mom_free(names[i]);
    mom_free(names);
    if (rc < 0) {
        /* The registry outlives this failure: take the entries of the
         * plugins loaded so far out of it before their code goes. */
        for (size_t i = 0; ps && env->registry && i < ps->n; i++)
            registry_remove_owner(env->registry, ps->items[i].name);
        plugin_loader_free(ps);
        return rc;
    }
    *ret = ps;
    return 0;
}

void plugin_loader_free(plugin_set *ps)
{
    if (!ps)
        return;
    for (size_t i = ps->n; i-- > 0;) {
        plugin *p = &ps->items[i];
        if (p->desc->fini)
            p->desc->fini(p->state);
        dlclose(p->handle);
        mom_free(p->name);
        mom_free(p->path);
    }
    mom_free(ps->items);
    mom_free(ps);
}
