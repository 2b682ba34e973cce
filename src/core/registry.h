/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The collector and controller registry: the built-ins (listed in
 * registry.c, as Lua's linit.c lists its libraries) plus whatever loadable
 * plugins register.
 */
#ifndef MOM_CORE_REGISTRY_H
#define MOM_CORE_REGISTRY_H

#include "mom/plugin.h"

typedef struct registry registry;

int registry_new(registry **ret);
void registry_free(registry *r);
/* Register (the struct must outlive the registry).  -EEXIST for a
 * duplicate name, -EINVAL for a malformed descriptor.  `owner` tags
 * entries so a failed plugin can be unregistered. */
int registry_add_collector(registry *r, const mom_collector *c, const char *owner);
int registry_add_controller(registry *r, const mom_controller *c, const char *owner);
void registry_remove_owner(registry *r, const char *owner);
/* Case-insensitive lookup, as the original's plugin names. */
const mom_collector *registry_find_collector(const registry *r, const char *name);
const mom_controller *registry_find_controller(const registry *r, const char *name);
size_t registry_n_collectors(const registry *r);
const mom_collector *registry_collector_at(const registry *r, size_t i);
size_t registry_n_controllers(const registry *r);
const mom_controller *registry_controller_at(const registry *r, size_t i);

/* Built-ins, one file each under src/collectors and src/controllers. */
extern const mom_collector mom_collector_HostMemory;
extern const mom_collector mom_collector_HostKSM;
extern const mom_collector mom_collector_HostCpu;
extern const mom_collector mom_collector_HostTime;
extern const mom_collector mom_collector_HostPressure;
extern const mom_collector mom_collector_GuestQemuProc;
extern const mom_collector mom_collector_GuestMemory;
extern const mom_collector mom_collector_GuestMemoryOptional;
extern const mom_collector mom_collector_GuestBalloon;
extern const mom_collector mom_collector_GuestBalloonOptional;
extern const mom_collector mom_collector_GuestCpuTune;
extern const mom_collector mom_collector_GuestIoTune;
extern const mom_collector mom_collector_GuestIoTuneOptional;
extern const mom_collector mom_collector_GuestQemuAgent;
extern const mom_collector mom_collector_GuestAgent;
extern const mom_controller mom_controller_Balloon;
extern const mom_controller mom_controller_KSM;
extern const mom_controller mom_controller_CpuTune;
extern const mom_controller mom_controller_IoTune;

#endif
