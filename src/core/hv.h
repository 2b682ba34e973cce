/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's handle on a hypervisor interface: the public callback table
 * (from a backend in src/hv/ or from an embedding host program) plus the
 * few hooks only built-in backends have.
 */
#ifndef MOM_CORE_HV_H
#define MOM_CORE_HV_H

#include "core/config.h"
#include "core/log.h"
#include "core/value.h"
#include "mom/hypervisor.h"

typedef struct hv {
    const char *name;        /* "sim", "libvirt", "embedded", ... */
    const mom_hv_ops *ops;
    void *userdata;
    /* Built-in backends only (NULL otherwise). */
    void (*destroy)(void *userdata);
    /* Called on the engine thread before each host collection and each
     * guest collection round, with the engine's clock (CLOCK_MONOTONIC
     * seconds).  Must not block. */
    void (*refresh)(void *userdata, double now);
    const char *proc_root;   /* overrides [main] proc-root when not NULL */
    const char *sysfs_root;  /* overrides [main] sysfs-root when not NULL */
    /* Set by the engine after the backend was created and before the
     * engine starts (NULL: nobody listens).  A backend that learns of a
     * guest starting or stopping (libvirt lifecycle events) calls
     * wake(wake_ctx) from any thread to have the guest manager run now
     * instead of at its next interval.  Never blocks.  A backend reads
     * these fields only from its operations (worker threads, which the
     * engine starts after setting them). */
    void (*wake)(void *wake_ctx);
    void *wake_ctx;
} hv;

/* Create the backend named by [main] hypervisor-interface
 * (src/hv/backends.c). */
int hv_create(const conf *c, const mlog *log, hv *ret);
/* true when this build has a backend of that name (case-insensitive). */
bool hv_backend_available(const char *name);
/* The built-in backend names, comma-separated, for messages. */
const char *hv_backend_names(void);
/* Wrap a host program's table. */
void hv_init_embedded(hv *h, const mom_hv_ops *ops, void *userdata);
void hv_destroy(hv *h);
/* true when the table has the operation (by field name, e.g. "ksm_tune"). */
bool hv_has(const hv *h, const char *op);

/* Lists handed to callbacks. */
struct mom_hv_list {
    size_t n, cap;
    char **ids;
};
void hv_list_init(mom_hv_list *l);
void hv_list_done(mom_hv_list *l);

struct mom_hv_disk_list {
    mom_value *list; /* LIST of MAPs, see hypervisor.h add functions */
};

/* MAP {"total_bytes_sec": ..., ...} of six limits (absent ones NONE). */
mom_value *hv_limits_to_value(const mom_hv_io_limits *l);
/* The reverse; absent or non-integer entries clear their present bit. */
void hv_limits_from_value(const mom_value *map, mom_hv_io_limits *ret);
extern const char *const hv_limit_names[6];

#endif
