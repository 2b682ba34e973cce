/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plugin API table: what collectors and controllers (built-in or
 * loaded) may call.  Every function reaches the engine's state through the
 * api_env that api.engine points to, or through the entity / sample /
 * cycle handle it is given.
 */
#include "core/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/registry.h"

static api_env *env_of(const mom_plugin_api *api)
{
    return (api_env *)api->engine;
}

/* ---- registration ---- */

static int a_register_collector(const mom_plugin_api *api, const mom_collector *c)
{
    api_env *env = env_of(api);
    if (!env->registry)
        return -ENOTSUP;
    return registry_add_collector(env->registry, c, env->plugin_name);
}

static int a_register_controller(const mom_plugin_api *api, const mom_controller *c)
{
    api_env *env = env_of(api);
    if (!env->registry)
        return -ENOTSUP;
    return registry_add_controller(env->registry, c, env->plugin_name);
}

/* ---- logging, properties, configuration ---- */

static void a_log(const mom_plugin_api *api, mom_entity *entity, mom_log_level level,
                  const char *fmt, ...)
{
    api_env *env = env_of(api);
    va_list ap;
    va_start(ap, fmt);
    mlog_vmsg(env->log, level, entity ? entity->logger : "mom", fmt, ap);
    va_end(ap);
}

static const char *a_entity_prop_str(mom_entity *e, const char *prop)
{
    if (strcmp(prop, "name") == 0)
        return e->name;
    if (strcmp(prop, "uuid") == 0)
        return e->uuid;
    if (strcmp(prop, "id") == 0)
        return e->id;
    return NULL;
}

static int a_entity_prop_int(mom_entity *e, const char *prop, int64_t *ret)
{
    if (strcmp(prop, "pid") == 0 && e->kind == MOM_ENTITY_GUEST) {
        *ret = e->pid;
        return 0;
    }
    if (strcmp(prop, "interval") == 0 && e->kind == MOM_ENTITY_HOST) {
        *ret = e->env->host_interval;
        return 0;
    }
    return -ENOENT;
}

static mom_entity_kind a_entity_kind(mom_entity *e)
{
    return e->kind;
}

static const char *a_entity_config(mom_entity *e, const char *collector, const char *key)
{
    if (!e->env->conf || !collector)
        return NULL;
    char section[256];
    snprintf(section, sizeof(section), "Collector: %s", collector);
    return conf_get(e->env->conf, section, key);
}

static const char *a_config_get(const mom_plugin_api *api, const char *section, const char *key)
{
    api_env *env = env_of(api);
    return env->conf ? conf_get(env->conf, section, key) : NULL;
}

static const char *a_proc_root(const mom_plugin_api *api)
{
    return env_of(api)->proc_root;
}

static const char *a_sysfs_root(const mom_plugin_api *api)
{
    return env_of(api)->sysfs_root;
}

static int a_interval(const mom_plugin_api *api, const char *which)
{
    api_env *env = env_of(api);
    if (strncmp(which, "host", 4) == 0)
        return env->host_interval;
    if (strcmp(which, "guest-monitor") == 0 || strcmp(which, "guest") == 0)
        return env->guest_interval;
    if (strcmp(which, "guest-manager") == 0)
        return env->manager_interval;
    if (strncmp(which, "policy", 6) == 0)
        return env->policy_interval;
    return 0;
}

/* ---- sample output ---- */

static fval *sample_slot(mom_sample *s, const char *field)
{
    int id = fieldtab_find(s->fields, field);
    return id < 0 ? NULL : &s->vals[id];
}

static int sample_put(mom_sample *s, const char *field, mom_value *v)
{
    if (!v)
        return -ENOMEM;
    fval *f = sample_slot(s, field);
    if (f) {
        fval_set_value(f, v);
        s->n_set++;
        return 0;
    }
    if (!s->extras && !(s->extras = value_new_map())) {
        mom_value_unref(v);
        return -ENOMEM;
    }
    int r = value_map_set(s->extras, field, v);
    if (r == 0)
        s->n_set++;
    return r;
}

static int a_sample_set_int(mom_sample *s, const char *field, int64_t v)
{
    fval *f = sample_slot(s, field);
    if (f) { /* fast path: no boxing */
        fval_clear(f);
        f->kind = FV_INT;
        f->u.i = v;
        s->n_set++;
        return 0;
    }
    return sample_put(s, field, value_new_int(v));
}

static int a_sample_set_real(mom_sample *s, const char *field, double v)
{
    fval *f = sample_slot(s, field);
    if (f) {
        fval_clear(f);
        f->kind = FV_REAL;
        f->u.r = v;
        s->n_set++;
        return 0;
    }
    return sample_put(s, field, value_new_real(v));
}

static int a_sample_set_string(mom_sample *s, const char *field, const char *v)
{
    return sample_put(s, field, value_new_string(v));
}

static int a_sample_set_none(mom_sample *s, const char *field)
{
    return sample_put(s, field, value_new_none());
}

static int a_sample_set_value(mom_sample *s, const char *field, mom_value *v)
{
    return sample_put(s, field, v);
}

/* ---- hypervisor calls for collectors (worker threads) ---- */

#define HV_OP(env, op) ((env)->hv && (env)->hv->ops && hv_has((env)->hv, #op) ? (env)->hv->ops->op : NULL)

static int a_hv_memory_stats(mom_entity *g, mom_hv_memory_stats *ret)
{
    hv *h = g->env->hv;
    if (!HV_OP(g->env, get_vm_memory_stats))
        return -ENOTSUP;
    memset(ret, 0, sizeof(*ret));
    ret->size = sizeof(*ret);
    return h->ops->get_vm_memory_stats(g->id, ret, h->userdata);
}

static int a_hv_start_memory_stats(mom_entity *g, int period_s)
{
    hv *h = g->env->hv;
    if (!HV_OP(g->env, start_vm_memory_stats))
        return -ENOTSUP;
    return h->ops->start_vm_memory_stats(g->id, period_s, h->userdata);
}

static int a_hv_balloon_info(mom_entity *g, mom_hv_balloon_info *ret)
{
    hv *h = g->env->hv;
    if (!HV_OP(g->env, get_vm_balloon_info))
        return -ENOTSUP;
    memset(ret, 0, sizeof(*ret));
    ret->size = sizeof(*ret);
    return h->ops->get_vm_balloon_info(g->id, ret, h->userdata);
}

static int a_hv_cpu_tune_info(mom_entity *g, mom_hv_cpu_tune_info *ret)
{
    hv *h = g->env->hv;
    if (!HV_OP(g->env, get_vm_cpu_tune_info))
        return -ENOTSUP;
    memset(ret, 0, sizeof(*ret));
    ret->size = sizeof(*ret);
    return h->ops->get_vm_cpu_tune_info(g->id, ret, h->userdata);
}

static int disk_call(mom_entity *g, int (*fn)(const char *, mom_hv_disk_list *, void *),
                     mom_value **ret_list)
{
    mom_hv_disk_list dl = {NULL};
    *ret_list = NULL;
    int r = fn(g->id, &dl, g->env->hv->userdata);
    if (r < 0) {
        mom_value_unref(dl.list);
        return r;
    }
    if (!dl.list && !(dl.list = value_new_list()))
        return -ENOMEM;
    *ret_list = dl.list;
    return 0;
}

static int a_hv_io_tune_policy(mom_entity *g, mom_value **ret_list)
{
    if (!HV_OP(g->env, get_vm_io_tune_policy))
        return -ENOTSUP;
    return disk_call(g, g->env->hv->ops->get_vm_io_tune_policy, ret_list);
}

static int a_hv_io_tune(mom_entity *g, mom_value **ret_list)
{
    if (!HV_OP(g->env, get_vm_io_tune))
        return -ENOTSUP;
    return disk_call(g, g->env->hv->ops->get_vm_io_tune, ret_list);
}

static int a_hv_agent_command(mom_entity *g, const char *cmd, int timeout_s, char **ret_reply)
{
    hv *h = g->env->hv;
    if (!HV_OP(g->env, qemu_agent_command))
        return -ENOTSUP;
    char *reply = NULL;
    *ret_reply = NULL;
    int r = h->ops->qemu_agent_command(g->id, cmd, timeout_s, &reply, h->userdata);
    if (r < 0)
        return r;
    if (!reply)
        return -ENOTSUP;
    *ret_reply = mom_strdup(reply);
    if (hv_has(h, "free_reply"))
        h->ops->free_reply(reply, h->userdata);
    return *ret_reply ? 0 : -ENOMEM;
}

static bool a_hv_has(const mom_plugin_api *api, const char *op)
{
    return hv_has(env_of(api)->hv, op);
}

/* ---- controller side ---- */

static mom_centity *a_cycle_host(mom_cycle *c)
{
    return &c->host;
}

static size_t a_cycle_n_guests(mom_cycle *c)
{
    return c->snap->n_guests;
}

static mom_centity *a_cycle_guest(mom_cycle *c, size_t i)
{
    return i < c->snap->n_guests ? &c->guests[i] : NULL;
}

static const mom_value *a_control_get(mom_centity *e, const char *name)
{
    return value_map_get(e->controls, name);
}

static const mom_value *a_stat_get(mom_centity *e, const char *name)
{
    const fval *f = snap_entity_current(e->se, name);
    if (!f)
        return NULL;
    if (f->kind == FV_VALUE)
        return f->u.v;
    mom_value *cached = value_map_get(e->stat_cache, name);
    if (cached)
        return cached;
    if (!e->stat_cache && !(e->stat_cache = value_new_map()))
        return NULL;
    mom_value *v = fval_to_value(f);
    if (!v || value_map_set(e->stat_cache, name, v) < 0)
        return NULL;
    return v;
}

static const char *a_centity_prop_str(mom_centity *e, const char *prop)
{
    if (strcmp(prop, "name") == 0)
        return e->se->name;
    if (strcmp(prop, "uuid") == 0)
        return e->se->uuid;
    if (strcmp(prop, "id") == 0)
        return e->se->id;
    return mom_value_string(value_map_get(e->se->props, prop));
}

static int a_value_to_int(const mom_value *v, int64_t *ret)
{
    return value_to_int(v, ret);
}

static int act(mom_cycle *c, hv_action *a, const char *op)
{
    if (!hv_has(c->env->hv, op))
        return -ENOTSUP;
    if (!c->action)
        return -ENOTSUP;
    return c->action(a, c->action_userdata);
}

static int a_hv_set_balloon_target(mom_cycle *c, mom_centity *g, int64_t target)
{
    hv_action a = {.type = HV_ACT_BALLOON, .guest_id = g->se->id, .guest_name = g->se->name,
                   .a = target};
    return act(c, &a, "set_vm_balloon_target");
}

static int a_hv_set_cpu_tune(mom_cycle *c, mom_centity *g, int64_t quota, int64_t period)
{
    hv_action a = {.type = HV_ACT_CPU_TUNE, .guest_id = g->se->id, .guest_name = g->se->name,
                   .a = quota, .b = period};
    return act(c, &a, "set_vm_cpu_tune");
}

static int a_hv_set_io_tune(mom_cycle *c, mom_centity *g, const mom_hv_disk_tune *disks, size_t n)
{
    hv_action a = {.type = HV_ACT_IO_TUNE, .guest_id = g->se->id, .guest_name = g->se->name,
                   .disks = disks, .n_disks = n};
    return act(c, &a, "set_vm_io_tune");
}

static int a_hv_ksm_tune(mom_cycle *c, const mom_hv_ksm_tune *tune)
{
    hv_action a = {.type = HV_ACT_KSM, .ksm = *tune};
    return act(c, &a, "ksm_tune");
}

/* ---- values ---- */

static mom_value *a_value_new_none(void)
{
    return value_new_none();
}

static mom_value *a_value_new_list(void)
{
    return value_new_list();
}

static mom_value *a_value_new_map(void)
{
    return value_new_map();
}

void api_env_init(api_env *env, const conf *c, const mlog *log, hv *h)
{
    memset(env, 0, sizeof(*env));
    mom_plugin_api *a = &env->api;
    a->size = sizeof(*a);
    a->abi_major = MOM_PLUGIN_ABI_MAJOR;
    a->abi_minor = MOM_PLUGIN_ABI_MINOR;
    a->register_collector = a_register_collector;
    a->register_controller = a_register_controller;
    a->log = a_log;
    a->entity_prop_str = a_entity_prop_str;
    a->entity_prop_int = a_entity_prop_int;
    a->entity_kind = a_entity_kind;
    a->entity_config = a_entity_config;
    a->config_get = a_config_get;
    a->proc_root = a_proc_root;
    a->sysfs_root = a_sysfs_root;
    a->interval = a_interval;
    a->sample_set_int = a_sample_set_int;
    a->sample_set_real = a_sample_set_real;
    a->sample_set_string = a_sample_set_string;
    a->sample_set_none = a_sample_set_none;
    a->sample_set_value = a_sample_set_value;
    a->hv_memory_stats = a_hv_memory_stats;
    a->hv_start_memory_stats = a_hv_start_memory_stats;
    a->hv_balloon_info = a_hv_balloon_info;
    a->hv_cpu_tune_info = a_hv_cpu_tune_info;
    a->hv_io_tune_policy = a_hv_io_tune_policy;
    a->hv_io_tune = a_hv_io_tune;
    a->hv_agent_command = a_hv_agent_command;
    a->hv_has = a_hv_has;
    a->cycle_host = a_cycle_host;
    a->cycle_n_guests = a_cycle_n_guests;
    a->cycle_guest = a_cycle_guest;
    a->control_get = a_control_get;
    a->stat_get = a_stat_get;
    a->centity_prop_str = a_centity_prop_str;
    a->value_to_int = a_value_to_int;
    a->hv_set_balloon_target = a_hv_set_balloon_target;
    a->hv_set_cpu_tune = a_hv_set_cpu_tune;
    a->hv_set_io_tune = a_hv_set_io_tune;
    a->hv_ksm_tune = a_hv_ksm_tune;
    a->value_new_int = value_new_int;
    a->value_new_real = value_new_real;
    a->value_new_string = value_new_string;
    a->value_new_none = a_value_new_none;
    a->value_new_list = a_value_new_list;
    a->value_new_map = a_value_new_map;
    a->value_list_append = value_list_append;
    a->value_map_set = value_map_set;
    a->value_unref = mom_value_unref;
    a->value_type = mom_value_type_of;
    a->value_int = mom_value_int;
    a->value_real = mom_value_real;
    a->value_string = mom_value_string;
    a->value_len = mom_value_len;
    a->value_at = mom_value_at;
    a->value_key_at = mom_value_key_at;
    a->value_get = mom_value_get;
    a->engine = env;

    env->conf = c;
    env->log = log;
    env->hv = h;
    const char *pr = h && h->proc_root ? h->proc_root : (c ? conf_get(c, "main", "proc-root") : NULL);
    const char *sr = h && h->sysfs_root ? h->sysfs_root
                                        : (c ? conf_get(c, "main", "sysfs-root") : NULL);
    env->proc_root = pr && *pr ? pr : "/proc";
    env->sysfs_root = sr && *sr ? sr : "/sys";
    env->host_interval = c ? (int)conf_get_int(c, "main", "host-monitor-interval") : 5;
    env->guest_interval = c ? (int)conf_get_int(c, "main", "guest-monitor-interval") : 5;
    env->manager_interval = c ? (int)conf_get_int(c, "main", "guest-manager-interval") : 5;
    env->policy_interval = c ? (int)conf_get_int(c, "main", "policy-engine-interval") : 10;
}

/* ---- entities and samples ---- */

int entity_init(mom_entity *e, api_env *env, mom_entity_kind kind, const char *id,
                const char *name, const char *uuid, int64_t pid)
{
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->env = env;
    e->pid = pid;
    e->id = mom_strdup(id ? id : "host");
    e->name = mom_strdup(name ? name : "host");
    e->uuid = uuid ? mom_strdup(uuid) : NULL;
    e->logger = kind == MOM_ENTITY_HOST ? mom_strdup("mom.HostMonitor")
                                        : mom_asprintf("mom.GuestMonitor(%s)", e->name ? e->name : "?");
    if (!e->id || !e->name || (uuid && !e->uuid) || !e->logger) {
        entity_done(e);
        return -ENOMEM;
    }
    return 0;
}

void entity_done(mom_entity *e)
{
    if (!e)
        return;
    mom_free(e->id);
    mom_free(e->name);
    mom_free(e->uuid);
    mom_free(e->logger);
    memset(e, 0, sizeof(*e));
}

int msample_init(mom_sample *s, const fieldtab *fields)
{
    memset(s, 0, sizeof(*s));
    s->fields = fields;
    s->vals = mom_calloc(fields->n ? fields->n : 1, sizeof(fval));
    return s->vals ? 0 : -ENOMEM;
}

void msample_reset(mom_sample *s)
{
    for (size_t i = 0; i < s->fields->n; i++)
        fval_clear(&s->vals[i]);
    mom_value_unref(s->extras);
    s->extras = NULL;
    s->n_set = 0;
}

void msample_done(mom_sample *s)
{
    if (!s->vals)
        return;
    msample_reset(s);
    mom_free(s->vals);
    s->vals = NULL;
}

static void fval_copy(fval *dst, const fval *src)
{
    fval_clear(dst);
    *dst = *src;
    if (src->kind == FV_VALUE)
        mom_value_ref(src->u.v);
}

void msample_merge(mom_sample *dst, const mom_sample *src)
{
    for (size_t i = 0; i < dst->fields->n; i++) {
        const fval *f = &src->vals[i];
        if (f->kind == FV_MISSING)
            continue;
        if (dst->vals[i].kind == FV_MISSING || dst->vals[i].kind == FV_NONE)
            fval_copy(&dst->vals[i], f);
    }
    if (src->extras) {
        for (size_t i = 0; i < src->extras->u.c.n; i++) {
            const char *k = src->extras->u.c.keys[i];
            mom_value *old = dst->extras ? value_map_get(dst->extras, k) : NULL;
            if (old && old->type != MOM_VALUE_NONE)
                continue;
            if (!dst->extras && !(dst->extras = value_new_map()))
                return;
            value_map_set(dst->extras, k, mom_value_ref(src->extras->u.c.items[i]));
        }
    }
    dst->n_set += src->n_set;
}

/* ---- cycles ---- */

int cycle_init(mom_cycle *c, api_env *env, const snapshot *snap, controls *ctl,
               hv_action_fn action, void *action_userdata)
{
    memset(c, 0, sizeof(*c));
    c->env = env;
    c->snap = snap;
    c->ctl = ctl;
    c->action = action;
    c->action_userdata = action_userdata;
    c->host.se = &snap->host;
    c->host.index = -1;
    c->host.controls = ctl->host;
    c->guests = mom_calloc(snap->n_guests ? snap->n_guests : 1, sizeof(*c->guests));
    if (!c->guests)
        return -ENOMEM;
    for (size_t i = 0; i < snap->n_guests; i++) {
        c->guests[i].se = &snap->guests[i];
        c->guests[i].index = (int)i;
        c->guests[i].controls = i < ctl->n_guests ? ctl->guests[i] : NULL;
    }
    return 0;
}

void cycle_done(mom_cycle *c)
{
    if (!c)
        return;
    mom_value_unref(c->host.stat_cache);
    for (size_t i = 0; c->guests && i < c->snap->n_guests; i++)
        mom_value_unref(c->guests[i].stat_cache);
    mom_free(c->guests);
    memset(c, 0, sizeof(*c));
}
