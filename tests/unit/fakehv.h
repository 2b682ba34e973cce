/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fakehv: a fake hypervisor interface for tests.
 *
 * Plain structs behind a mutex, no mocking framework.  A test creates a
 * fakehv, adds scripted guests, hands the callback table to the engine (or
 * to hv_init_embedded()) with the fakehv as userdata, and afterwards
 * inspects the recorded call log.
 *
 *     fakehv *fh = fakehv_new();
 *     fakehv_guest *g = fakehv_add_guest(fh, "id-1", "vm1", "uuid-1", 1234);
 *     fakehv_set_balloon(g, 1048576, 2097152, 524288);
 *     hv h;
 *     hv_init_embedded(&h, fakehv_table(fh), fh);
 *     ...
 *     assert_int_equal(fakehv_n_calls(fh, "set_vm_balloon_target"), 1);
 *     const fakehv_call *c = fakehv_call_at(fh, 0);
 *     fakehv_free(fh);
 *
 * Behaviour of the callbacks (every one is recorded in the call log, also
 * when it fails):
 *  - get_vm_list: the ids of the guests that are not removed, in add order.
 *  - get_vm_info: name, uuid and pid as added.
 *  - get_vm_memory_stats: the stats last set with fakehv_set_memory_stats
 *    (with their present mask); -ENODATA while none (or a 0 mask) is set.
 *  - get_vm_balloon_info, get_vm_cpu_tune_info: the values last set;
 *    -ENODATA before the first set or after fakehv_clear_*.
 *  - get_vm_io_tune_policy / get_vm_io_tune: the guest's policy and current
 *    lists (possibly empty: then 0 and nothing added).
 *  - set_vm_balloon_target: sets the guest's balloon_cur (as libvirt's test
 *    driver does), so later balloon info shows the effect.
 *  - set_vm_cpu_tune: sets vcpu_quota and vcpu_period (when cpu tune info
 *    was set).
 *  - set_vm_io_tune: replaces the current limits of each matching disk
 *    (same path when both have one, else same name).
 *  - ksm_tune: records the tune and applies its values to the fake's KSM
 *    state (fakehv_ksm_state); -ENOTSUP when disabled (see below).
 *  - start_vm_memory_stats: records the period, returns 0.
 *  - qemu_agent_command: calls the function set with fakehv_set_agent_fn;
 *    -ENOTSUP without one.
 *  - For a removed guest every per-guest call returns -ENOENT.
 *  - fakehv_fail() makes a call return an error; fakehv_hang() makes calls
 *    block until released.
 *
 * Thread-safety: every function may be called from any thread, also while
 * callbacks run on engine workers.  fakehv_guest pointers stay valid until
 * fakehv_free (removing a guest only marks it).
 */
#ifndef MOM_TESTS_FAKEHV_H
#define MOM_TESTS_FAKEHV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mom/hypervisor.h"

typedef struct fakehv fakehv;
typedef struct fakehv_guest fakehv_guest;

/* One recorded callback invocation.  Owned by the fakehv; valid until
 * fakehv_clear_calls() or fakehv_free(). */
typedef struct fakehv_call {
    char op[32];               /* callback name, e.g. "set_vm_balloon_target" */
    char *id;                  /* guest id, NULL for get_vm_list and ksm_tune */
    int rc;                    /* what the callback returned */
    int64_t a, b;              /* balloon target / quota, period / stats period */
    mom_hv_disk_tune *disks;   /* set_vm_io_tune: deep copy (name, path copied) */
    size_t n_disks;
    mom_hv_ksm_tune ksm;       /* ksm_tune */
    char *command;             /* qemu_agent_command: the command text */
} fakehv_call;

/* Create / destroy.  fakehv_free releases every hung call first; the
 * engine must no longer use the table afterwards.  Accepts NULL. */
fakehv *fakehv_new(void);
void fakehv_free(fakehv *fh);

/* The full callback table (every operation present; userdata must be the
 * fakehv).  Static, valid forever. */
const mom_hv_ops *fakehv_ops(void);
/* This fakehv's own copy of the table, from which operations disabled with
 * fakehv_set_op_supported() are missing (NULL), so hv_has() reports them
 * unsupported.  Valid until fakehv_free. */
const mom_hv_ops *fakehv_table(fakehv *fh);
/* Enable or disable one operation (by mom_hv_ops field name, e.g.
 * "ksm_tune") in fakehv_table(); a disabled operation reached through
 * fakehv_ops() returns -ENOTSUP.  Returns 0 or -EINVAL for an unknown name. */
int fakehv_set_op_supported(fakehv *fh, const char *op, bool supported);
/* Shorthand for fakehv_set_op_supported(fh, "ksm_tune", on). */
void fakehv_set_ksm_tune_supported(fakehv *fh, bool on);

/* Add a guest (name, uuid copied; pid 0 = unknown).  Adding an id that was
 * removed brings that guest back with the new name/uuid/pid and its old
 * data; adding a present id just updates those.  NULL on ENOMEM. */
fakehv_guest *fakehv_add_guest(fakehv *fh, const char *id, const char *name, const char *uuid,
                               int64_t pid);
/* The guest with this id (also when removed), or NULL. */
fakehv_guest *fakehv_find_guest(fakehv *fh, const char *id);
/* The guest vanishes: it leaves get_vm_list and every call on it returns
 * -ENOENT.  -ENOENT when unknown. */
int fakehv_remove_guest(fakehv *fh, const char *id);

/* Scripted data of one guest (copied). */
void fakehv_set_memory_stats(fakehv_guest *g, const mom_hv_memory_stats *st);
void fakehv_clear_memory_stats(fakehv_guest *g);
void fakehv_set_balloon(fakehv_guest *g, int64_t cur, int64_t max, int64_t min);
void fakehv_clear_balloon(fakehv_guest *g);
void fakehv_set_cpu_tune(fakehv_guest *g, int64_t quota, int64_t period, int64_t user_limit,
                         int64_t vcpu_count);
void fakehv_clear_cpu_tune(fakehv_guest *g);
/* Append one disk to the policy list / the current list (name, path may be
 * NULL; limits NULL = all absent). */
int fakehv_add_io_policy(fakehv_guest *g, const char *name, const char *path,
                         const mom_hv_io_limits *guaranteed, const mom_hv_io_limits *maximum);
int fakehv_add_io_tune(fakehv_guest *g, const char *name, const char *path,
                       const mom_hv_io_limits *current);
void fakehv_clear_io(fakehv_guest *g);
/* Read back the guest's current balloon size (KiB) and cpu tune. */
int64_t fakehv_balloon_cur(fakehv_guest *g);
void fakehv_cpu_tune(fakehv_guest *g, int64_t *ret_quota, int64_t *ret_period);
/* The current limits of disk i of the guest's current list; -ENOENT when
 * there is no such disk. */
int fakehv_io_tune_at(fakehv_guest *g, size_t i, mom_hv_io_limits *ret);
/* The KSM state as ksm_tune left it (every member present that was ever
 * set). */
mom_hv_ksm_tune fakehv_ksm_state(fakehv *fh);

/* Make operation `op` (a mom_hv_ops field name, or NULL for every
 * operation) fail with `err` (a negative errno) for guest `id`, or for
 * every guest and the host-wide operations when id is NULL.  err 0 removes
 * the rule.  A rule for a specific id wins over a NULL-id rule. */
int fakehv_fail(fakehv *fh, const char *id, const char *op, int err);

/* While on, calls of `op` (NULL: every operation) for guest `id` (NULL:
 * every guest and host-wide calls) block.  They return (and proceed
 * normally) when the rule is turned off or at fakehv_release(). */
int fakehv_hang(fakehv *fh, const char *id, const char *op, bool on);
/* Let every call that is blocked now go on (the rules stay: later calls
 * block again). */
void fakehv_release(fakehv *fh);
/* Number of calls blocked right now. */
size_t fakehv_n_blocked(fakehv *fh);
/* Wait up to timeout_ms until at least n calls are blocked.  true when
 * they are. */
bool fakehv_wait_blocked(fakehv *fh, size_t n, int timeout_ms);

/* Guest agent: fn returns a reply allocated with mom_malloc/mom_strdup
 * (released through free_reply), or NULL for -EIO. */
typedef char *(*fakehv_agent_fn)(const char *id, const char *command, void *userdata);
void fakehv_set_agent_fn(fakehv *fh, fakehv_agent_fn fn, void *userdata);

/* The call log. */
size_t fakehv_n_calls(fakehv *fh, const char *op /* NULL: all */);
/* The i-th call of all (in order), or NULL. */
const fakehv_call *fakehv_call_at(fakehv *fh, size_t i);
/* The i-th call of operation `op`, or NULL. */
const fakehv_call *fakehv_find_call(fakehv *fh, const char *op, size_t i);
void fakehv_clear_calls(fakehv *fh);
/* Turn recording of the frequent read operations (get_vm_list,
 * get_vm_info, get_vm_*_stats/info/io_tune*) on or off (default on), for
 * long-running engine tests. */
void fakehv_record_reads(fakehv *fh, bool on);

#endif
