/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The loader of collector and controller plugins: shared objects that
 * export one `const mom_plugin_descriptor mom_plugin` (mom/plugin.h).
 *
 * Loading one plugin:
 *  1. dlopen(RTLD_NOW | RTLD_LOCAL): an unresolved symbol fails here;
 *  2. dlsym("mom_plugin"): a shared object without it is refused;
 *  3. the descriptor is checked before any of its functions is called:
 *     abi_major must equal MOM_PLUGIN_ABI_MAJOR, abi_minor must not be
 *     newer than MOM_PLUGIN_ABI_MINOR, size must cover the descriptor this
 *     libmom knows, name and init must be set and the name must be new;
 *     a refusal names both ABI versions;
 *  4. init runs with the engine's api table while env->plugin_name is the
 *     plugin's name, so everything it registers is tagged with it; when
 *     init fails, every entry it registered is removed again and the
 *     handle is closed.
 * Unloading (plugin_loader_free) calls each plugin's fini and closes the
 * handle, in the reverse order of loading.  It must run after every
 * collector and controller instance the plugins registered is gone and
 * after the registry that points at their descriptors is freed.
 *
 * Threads: a plugin_set belongs to the engine that loaded it; the
 * functions here run on the thread that creates or frees the engine.
 */
#ifndef MOM_CORE_PLUGIN_LOADER_H
#define MOM_CORE_PLUGIN_LOADER_H

#include <stddef.h>

#include "core/api.h"

typedef struct plugin_set plugin_set;

/* An empty set.  Returns 0 or -ENOMEM. */
int plugin_loader_new(plugin_set **ret);

/*
 * Load the plugin at `path` into `ps` (steps above), registering through
 * env->registry and logging through env->log.  Returns 0, -ELIBBAD (dlopen
 * failed), -ENOEXEC (no mom_plugin symbol), MOM_E_ABI (ABI version or
 * descriptor size mismatch), -EINVAL (malformed descriptor), -EEXIST (a
 * plugin of that name is loaded already), -ENOMEM, or the negative value
 * the plugin's init returned.  Nothing of a refused plugin stays loaded.
 */
int plugin_loader_load(plugin_set *ps, api_env *env, const char *path);

/*
 * Load every "*.so" file of `dir` whose name does not start with '.', in
 * byte order of the names, into a new set.  An empty or NULL `dir` gives
 * *ret = NULL and 0.  The first plugin that fails ends the loading: the
 * plugins loaded before it are unloaded again and its error is returned
 * (-ENOENT / -ENOTDIR / -EACCES when `dir` cannot be read).
 */
int plugin_loader_load_dir(api_env *env, const char *dir, plugin_set **ret);

/* Number of loaded plugins and the name of the i-th (borrowed). */
size_t plugin_loader_count(const plugin_set *ps);
const char *plugin_loader_name_at(const plugin_set *ps, size_t i);

/* Call every plugin's fini and close its handle, newest first; then free
 * the set.  Accepts NULL. */
void plugin_loader_free(plugin_set *ps);

#endif
