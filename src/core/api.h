/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plugin API table (mom/plugin.h) and the objects behind its opaque
 * handles.  One api_env per engine; tests build their own.
 */
#ifndef MOM_CORE_API_H
#define MOM_CORE_API_H

#include "core/config.h"
#include "core/hv.h"
#include "core/log.h"
#include "core/sample.h"
#include "core/snapshot.h"
#include "mom/plugin.h"

struct registry;

typedef struct api_env {
    mom_plugin_api api;          /* handed to plugins; api.engine points here */
    const conf *conf;            /* may be NULL (defaults) */
    const mlog *log;
    hv *hv;                      /* may be NULL: every hv call is -ENOTSUP */
    const char *proc_root;       /* never NULL */
    const char *sysfs_root;      /* never NULL */
    int host_interval, guest_interval, manager_interval, policy_interval;
    struct registry *registry;   /* for register_*; may be NULL */
    const char *plugin_name;     /* set while a plugin's init runs */
} api_env;

/* Fill env->api.  conf may be NULL; roots default to "/proc" and "/sys". */
void api_env_init(api_env *env, const conf *c, const mlog *log, hv *h);

/* A monitor as collectors see it.  Owned by the engine's monitor. */
struct mom_entity {
    mom_entity_kind kind;
    api_env *env;
    char *id;      /* backend key; "host" for the host */
    char *name;    /* guest name; "host" for the host */
    char *uuid;    /* NULL for the host */
    int64_t pid;
    char *logger;  /* "mom.GuestMonitor(NAME)" / "mom.HostMonitor" */
};

int entity_init(mom_entity *e, api_env *env, mom_entity_kind kind, const char *id,
                const char *name, const char *uuid, int64_t pid);
void entity_done(mom_entity *e);

/* One collector's output while it is being built. */
struct mom_sample {
    const fieldtab *fields;
    fval *vals;          /* fields->n slots */
    mom_value *extras;   /* MAP of undeclared keys or NULL */
    size_t n_set;        /* how many set_* calls stored something */
};

int msample_init(mom_sample *s, const fieldtab *fields);
void msample_reset(mom_sample *s);
void msample_done(mom_sample *s);
/* Merge `src` into the slots of `dst` with the original's rule: a value is
 * stored when the slot is missing or absent (first collector wins). */
void msample_merge(mom_sample *dst, const mom_sample *src);

/* ---- controller side ---- */

typedef enum hv_action_type {
    HV_ACT_BALLOON = 1,
    HV_ACT_CPU_TUNE,
    HV_ACT_IO_TUNE,
    HV_ACT_KSM,
} hv_action_type;

typedef struct hv_action {
    hv_action_type type;
    const char *guest_id;          /* NULL for KSM */
    const char *guest_name;        /* for log lines */
    int64_t a, b;                  /* balloon target / quota, period */
    const mom_hv_disk_tune *disks; /* IO_TUNE */
    size_t n_disks;
    mom_hv_ksm_tune ksm;           /* KSM */
} hv_action;

/* Receives a controller's action; must copy what it keeps.  Returns 0 or
 * -ENOTSUP (the interface lacks the operation). */
typedef int (*hv_action_fn)(const hv_action *a, void *userdata);

struct mom_centity {
    const snap_entity *se;
    int index;           /* -1 host, else guest index */
    mom_value *controls; /* MAP, borrowed from the cycle's controls */
    mom_value *stat_cache; /* MAP of boxed latest values handed out by stat_get */
};

struct mom_cycle {
    api_env *env;
    const snapshot *snap;
    controls *ctl;
    struct mom_centity host;
    struct mom_centity *guests;
    hv_action_fn action;
    void *action_userdata;
};

int cycle_init(mom_cycle *c, api_env *env, const snapshot *snap, controls *ctl,
               hv_action_fn action, void *action_userdata);
void cycle_done(mom_cycle *c);

#endif
