/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Collector and controller plugins.
 *
 * Built-in collectors and controllers use exactly these structs; a loadable
 * plugin (a shared object in `plugin-dir`) exports one const
 * mom_plugin_descriptor named `mom_plugin` whose init registers them.
 * Plugins never link against libmom: they call the engine only through the
 * mom_plugin_api table they are given, so one .so works in momd and in any
 * program that embeds libmom.
 *
 * Threads: a collector's init, collect and fini run on engine worker
 * threads, never two at once for one entity (so per-instance state needs no
 * lock), but different instances run concurrently.  A controller's init,
 * process and fini run on the engine thread and must not block: anything
 * that may block (a hypervisor call) goes through the api's hv_* functions,
 * which queue the call on a worker and return at once.
 */
#ifndef MOM_PLUGIN_H
#define MOM_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "mom.h"
#include "hypervisor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MOM_PLUGIN_ABI_MAJOR 1
#define MOM_PLUGIN_ABI_MINOR 0

typedef enum mom_entity_kind {
    MOM_ENTITY_HOST = 1,
    MOM_ENTITY_GUEST = 2,
} mom_entity_kind;

/* Opaque engine objects handed to plugins. */
typedef struct mom_entity mom_entity;   /* a host or guest monitor (collect side) */
typedef struct mom_sample mom_sample;   /* one collector's result being built */
typedef struct mom_cycle mom_cycle;     /* one policy cycle: entities and controls */
typedef struct mom_centity mom_centity; /* an entity as a controller sees it */
typedef struct mom_plugin_api mom_plugin_api;

/* Result of collect(): 0 (data, possibly none), a negative errno for a
 * collection error (logged; the next collector runs), or MOM_E_FATAL (the
 * monitor stops: the guest is dropped and re-created later; for the host
 * the engine stops). */

typedef struct mom_collector {
    size_t size;                    /* sizeof(mom_collector) */
    const char *name;               /* e.g. "HostMemory" */
    mom_entity_kind kind;
    const char *const *mandatory;   /* NULL-terminated field names, may be NULL */
    const char *const *optional;    /* NULL-terminated field names, may be NULL */
    /* Build one instance for `entity`.  Properties and the collector's
     * [Collector: NAME] section are read through the api.  Return 0 and set
     * *ret_state, a negative errno (the instance is not built; for the host
     * that is a start-up error) or MOM_E_FATAL. */
    int (*init)(const mom_plugin_api *api, mom_entity *entity, void **ret_state);
    /* Collect once into `out` (api->sample_set_*). */
    int (*collect)(void *state, mom_entity *entity, mom_sample *out);
    void (*fini)(void *state); /* may be NULL; must accept a NULL state */
} mom_collector;

typedef struct mom_controller {
    size_t size;                        /* sizeof(mom_controller) */
    const char *name;                   /* e.g. "Balloon" */
    const char *const *host_controls;   /* NULL-terminated control names, may be NULL */
    const char *const *guest_controls;  /* NULL-terminated control names, may be NULL */
    const char *const *requires;        /* collectors it needs, NULL-terminated, may be NULL */
    int (*init)(const mom_plugin_api *api, void **ret_state);
    /* Carry out one successful cycle's controls. A negative return is
     * logged; the other controllers still run. */
    int (*process)(void *state, const mom_plugin_api *api, mom_cycle *cycle);
    void (*fini)(void *state);
} mom_controller;

/* A loadable plugin exports `const mom_plugin_descriptor mom_plugin`. */
typedef struct mom_plugin_descriptor {
    uint32_t abi_major;  /* MOM_PLUGIN_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;  /* MOM_PLUGIN_ABI_MINOR the plugin was built with */
    size_t size;         /* sizeof(mom_plugin_descriptor) */
    const char *name;
    /* Register collectors and controllers with api->register_*.  A negative
     * return unregisters everything this plugin registered. */
    int (*init)(const mom_plugin_api *api, void **ret_state);
    void (*fini)(void *state);
} mom_plugin_descriptor;

/*
 * The engine function table.  New functions are only ever appended;
 * `size` tells a plugin which ones exist.
 */
struct mom_plugin_api {
    size_t size;
    uint32_t abi_major, abi_minor;

    /* Registration (plugin init only). */
    int (*register_collector)(const mom_plugin_api *api, const mom_collector *c);
    int (*register_controller)(const mom_plugin_api *api, const mom_controller *c);

    /* Logging; `entity` may be NULL.  The logger name is derived from it. */
    void (*log)(const mom_plugin_api *api, mom_entity *entity, mom_log_level level,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

    /* Entity properties ("name", "uuid", "id", "pid", "interval").  Return
     * NULL / -ENOENT when the property does not exist. */
    const char *(*entity_prop_str)(mom_entity *entity, const char *prop);
    int (*entity_prop_int)(mom_entity *entity, const char *prop, int64_t *ret);
    mom_entity_kind (*entity_kind)(mom_entity *entity);
    /* A key of the entity's collector section [Collector: NAME], raw, or
     * NULL.  `collector` is the calling collector's name. */
    const char *(*entity_config)(mom_entity *entity, const char *collector, const char *key);
    /* A configuration key of any section, or NULL. */
    const char *(*config_get)(const mom_plugin_api *api, const char *section, const char *key);
    /* Host paths: proc-root and sysfs-root (the simulator overrides them). */
    const char *(*proc_root)(const mom_plugin_api *api);
    const char *(*sysfs_root)(const mom_plugin_api *api);
    /* Configured intervals in seconds. */
    int (*interval)(const mom_plugin_api *api, const char *which /* "host-monitor", ... */);

    /* Sample output (collect only).  A field set twice keeps the last value. */
    int (*sample_set_int)(mom_sample *s, const char *field, int64_t v);
    int (*sample_set_real)(mom_sample *s, const char *field, double v);
    int (*sample_set_string)(mom_sample *s, const char *field, const char *v);
    int (*sample_set_none)(mom_sample *s, const char *field);
    /* Takes over one reference of v. */
    int (*sample_set_value)(mom_sample *s, const char *field, mom_value *v);

    /* Hypervisor calls for collectors (synchronous, on the collector's worker
     * thread; they return -ENOTSUP when the interface lacks the operation).
     * `entity` must be a guest. */
    int (*hv_memory_stats)(mom_entity *guest, mom_hv_memory_stats *ret);
    int (*hv_start_memory_stats)(mom_entity *guest, int period_s);
    int (*hv_balloon_info)(mom_entity *guest, mom_hv_balloon_info *ret);
    int (*hv_cpu_tune_info)(mom_entity *guest, mom_hv_cpu_tune_info *ret);
    /* I/O tune: *ret_list is a LIST value as the io_tune / io_tune_current
     * fields hold it (see REFERENCE §2.5); caller unrefs. */
    int (*hv_io_tune_policy)(mom_entity *guest, mom_value **ret_list);
    int (*hv_io_tune)(mom_entity *guest, mom_value **ret_list);
    int (*hv_agent_command)(mom_entity *guest, const char *cmd, int timeout_s, char **ret_reply);
    bool (*hv_has)(const mom_plugin_api *api, const char *op /* "ksm_tune", ... */);

    /* Controller side: the cycle's entities and controls. */
    mom_centity *(*cycle_host)(mom_cycle *c);
    size_t (*cycle_n_guests)(mom_cycle *c);
    mom_centity *(*cycle_guest)(mom_cycle *c, size_t i);
    /* The control's value this cycle, or NULL when unset (borrowed). */
    const mom_value *(*control_get)(mom_centity *e, const char *name);
    /* The latest sample's value of a field; NULL when the field is not
     * declared; a NONE value when absent (borrowed). */
    const mom_value *(*stat_get)(mom_centity *e, const char *name);
    const char *(*centity_prop_str)(mom_centity *e, const char *prop);
    /* Python int() of a control value: bool, int, float (truncated; NaN and
     * infinities fail), decimal string.  -EINVAL when not convertible. */
    int (*value_to_int)(const mom_value *v, int64_t *ret);

    /* Controller actions: queued on the guest's worker queue, results logged.
     * They return 0 when queued or -ENOTSUP. */
    int (*hv_set_balloon_target)(mom_cycle *c, mom_centity *guest, int64_t target_kib);
    int (*hv_set_cpu_tune)(mom_cycle *c, mom_centity *guest, int64_t quota, int64_t period);
    int (*hv_set_io_tune)(mom_cycle *c, mom_centity *guest, const mom_hv_disk_tune *disks,
                          size_t n);
    int (*hv_ksm_tune)(mom_cycle *c, const mom_hv_ksm_tune *tune);

    /* Values. */
    mom_value *(*value_new_int)(int64_t v);
    mom_value *(*value_new_real)(double v);
    mom_value *(*value_new_string)(const char *s);
    mom_value *(*value_new_none)(void);
    mom_value *(*value_new_list)(void);
    mom_value *(*value_new_map)(void);
    int (*value_list_append)(mom_value *list, mom_value *item);  /* takes item */
    int (*value_map_set)(mom_value *map, const char *key, mom_value *item); /* takes item */
    void (*value_unref)(mom_value *v);
    mom_value_type (*value_type)(const mom_value *v);
    int64_t (*value_int)(const mom_value *v);
    double (*value_real)(const mom_value *v);
    const char *(*value_string)(const mom_value *v);
    size_t (*value_len)(const mom_value *v);
    const mom_value *(*value_at)(const mom_value *v, size_t i);
    const char *(*value_key_at)(const mom_value *v, size_t i);
    const mom_value *(*value_get)(const mom_value *v, const char *key);

    /* Engine-private pointer; do not touch. */
    void *engine;
};

#ifdef __cplusplus
}
#endif
#endif
