/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/registry.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

typedef struct reg_entry {
    const void *desc;
    const char *name;
    char *owner;
} reg_entry;

struct registry {
    size_t n_coll, n_ctl;
    reg_entry *coll, *ctl;
};

/* The built-ins, in the order the original documents them. */
static const mom_collector *const builtin_collectors[] = {
    &mom_collector_HostMemory,   &mom_collector_HostKSM,
    &mom_collector_HostCpu,      &mom_collector_HostTime,
    &mom_collector_HostPressure, &mom_collector_GuestQemuProc,
    &mom_collector_GuestMemory,  &mom_collector_GuestMemoryOptional,
    &mom_collector_GuestBalloon, &mom_collector_GuestBalloonOptional,
    &mom_collector_GuestCpuTune, &mom_collector_GuestIoTune,
    &mom_collector_GuestIoTuneOptional,
    &mom_collector_GuestQemuAgent,
    &mom_collector_GuestAgent,
};

static const mom_controller *const builtin_controllers[] = {
    &mom_controller_Balloon,
    &mom_controller_KSM,
    &mom_controller_CpuTune,
    &mom_controller_IoTune,
};

static int add(reg_entry **arr, size_t *n, const void *desc, const char *name, const char *owner)
{
    for (size_t i = 0; i < *n; i++)
        if (strcasecmp((*arr)[i].name, name) == 0)
            return -EEXIST;
    reg_entry *a = mom_realloc(*arr, (*n + 1) * sizeof(**arr));
    if (!a)
        return -ENOMEM;
    *arr = a;
    char *o = owner ? mom_strdup(owner) : NULL;
    if (owner && !o)
        return -ENOMEM;
    a[*n] = (reg_entry){desc, name, o};
    (*n)++;
    return 0;
}

int registry_add_collector(registry *r, const mom_collector *c, const char *owner)
{
    if (!r || !c || !c->name || !*c->name || c->size < sizeof(mom_collector) || !c->collect ||
        (c->kind != MOM_ENTITY_HOST && c->kind != MOM_ENTITY_GUEST))
        return -EINVAL;
    return add(&r->coll, &r->n_coll, c, c->name, owner);
}

int registry_add_controller(registry *r, const mom_controller *c, const char *owner)
{
    if (!r || !c || !c->name || !*c->name || c->size < sizeof(mom_controller) || !c->process)
        return -EINVAL;
    return add(&r->ctl, &r->n_ctl, c, c->name, owner);
}

static void remove_owner(reg_entry *arr, size_t *n, const char *owner)
{
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (arr[i].owner && strcmp(arr[i].owner, owner) == 0) {
            mom_free(arr[i].owner);
            continue;
        }
        arr[w++] = arr[i];
    }
    *n = w;
}

void registry_remove_owner(registry *r, const char *owner)
{
    if (!r || !owner)
        return;
    remove_owner(r->coll, &r->n_coll, owner);
    remove_owner(r->ctl, &r->n_ctl, owner);
}

int registry_new(registry **ret)
{
    registry *r = mom_calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(builtin_collectors) / sizeof(*builtin_collectors); i++)
        rc = registry_add_collector(r, builtin_collectors[i], NULL);
    for (size_t i = 0; rc == 0 && i < sizeof(builtin_controllers) / sizeof(*builtin_controllers); i++)
        rc = registry_add_controller(r, builtin_controllers[i], NULL);
    if (rc < 0) {
        registry_free(r);
        return rc;
    }
    *ret = r;
    return 0;
}

void registry_free(registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_coll; i++)
        mom_free(r->coll[i].owner);
    for (size_t i = 0; i < r->n_ctl; i++)
        mom_free(r->ctl[i].owner);
    mom_free(r->coll);
    mom_free(r->ctl);
    mom_free(r);
}

const mom_collector *registry_find_collector(const registry *r, const char *name)
{
    for (size_t i = 0; r && i < r->n_coll; i++)
        if (strcasecmp(r->coll[i].name, name) == 0)
            return r->coll[i].desc;
    return NULL;
}

const mom_controller *registry_find_controller(const registry *r, const char *name)
{
    for (size_t i = 0; r && i < r->n_ctl; i++)
        if (strcasecmp(r->ctl[i].name, name) == 0)
            return r->ctl[i].desc;
    return NULL;
}

size_t registry_n_collectors(const registry *r)
{
    return r ? r->n_coll : 0;
}

const mom_collector *registry_collector_at(const registry *r, size_t i)
{
    return r && i < r->n_coll ? r->coll[i].desc : NULL;
}

size_t registry_n_controllers(const registry *r)
{
    return r ? r->n_ctl : 0;
}

const mom_controller *registry_controller_at(const registry *r, size_t i)
{
    return r && i < r->n_ctl ? r->ctl[i].desc : NULL;
}
