/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hypervisor interface: one callback per operation of the original
 * MOM's hypervisor interface.  Backends inside libmom (libvirt, qmp, sim)
 * fill this table, and a host program that embeds libmom may supply its own
 * through mom_config.hv_ops.
 *
 * Contract for every callback:
 *  - It runs on an engine worker thread, possibly several at once for
 *    different guests (never two at once for the same guest).  It must be
 *    thread-safe and must not call back into the engine.
 *  - It should return within the engine's per-call deadline
 *    (`call-deadline-ms`); a late call makes its guest stale for that cycle
 *    and its result is discarded when it finally returns.
 *  - It returns 0 or a negative errno: -ENOENT (no such guest), -ENOTSUP
 *    (operation not supported), -ENODATA (no data yet), -ETIMEDOUT
 *    (deadline passed), -EIO (any other failure).
 *  - Guests are named by `id`, the stable key that get_vm_list returned
 *    (the UUID for libvirt and vdsm-like hosts, the socket path for QMP).
 *  - A NULL callback means the operation is unsupported: what depends on it
 *    is disabled with one warning.
 *  - Memory: lists are handed over through the add functions below, which
 *    copy their arguments; the callback keeps ownership of everything it
 *    passes in.  Output structs are caller-owned and zeroed before the call.
 *  - Units: KiB for memory, microseconds for CPU times, percent for the
 *    user's vCPU limit, bytes/s and operations/s for I/O limits.
 */
#ifndef MOM_HYPERVISOR_H
#define MOM_HYPERVISOR_H

#include <stddef.h>
#include <stdint.h>
#include "mom.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque lists filled through the add functions. */
typedef struct mom_hv_list mom_hv_list;
typedef struct mom_hv_disk_list mom_hv_disk_list;

/* Append a guest id (copied).  Returns 0 or -ENOMEM. */
MOM_API int mom_hv_list_add(mom_hv_list *list, const char *id);

typedef struct mom_hv_guest_info {
    size_t size;
    char name[256];   /* the guest's name, NUL-terminated */
    char uuid[64];    /* canonical textual UUID */
    int64_t pid;      /* QEMU process id, 0 when unknown */
} mom_hv_guest_info;

/* Bits of mom_hv_memory_stats.present. */
enum {
    MOM_HV_MEM_AVAILABLE = 1u << 0,  /* guest total memory (MemTotal), KiB */
    MOM_HV_MEM_UNUSED = 1u << 1,     /* guest MemFree, KiB */
    MOM_HV_MEM_FREE = 1u << 2,       /* MemFree + buffers + caches, KiB */
    MOM_HV_MAJOR_FAULT = 1u << 3,    /* cumulative count */
    MOM_HV_MINOR_FAULT = 1u << 4,    /* cumulative count */
    MOM_HV_SWAP_IN = 1u << 5,        /* cumulative KiB */
    MOM_HV_SWAP_OUT = 1u << 6,       /* cumulative KiB */
    MOM_HV_SWAP_TOTAL = 1u << 7,     /* KiB */
    MOM_HV_SWAP_USAGE = 1u << 8,     /* KiB */
    MOM_HV_MEM_USABLE = 1u << 9,     /* guest MemAvailable, KiB */
};

typedef struct mom_hv_memory_stats {
    size_t size;
    uint32_t present; /* MOM_HV_* bits of the fields that carry data */
    int64_t mem_available, mem_unused, mem_free;
    int64_t major_fault, minor_fault, swap_in, swap_out;
    int64_t swap_total, swap_usage, mem_usable;
} mom_hv_memory_stats;

typedef struct mom_hv_balloon_info {
    size_t size;
    int64_t balloon_cur; /* current logical size, KiB */
    int64_t balloon_max; /* maximum memory, KiB */
    int64_t balloon_min; /* guaranteed minimum, KiB (0: none) */
} mom_hv_balloon_info;

typedef struct mom_hv_cpu_tune_info {
    size_t size;
    int64_t vcpu_quota;      /* µs per period per vCPU; -1 or 0: no limit */
    int64_t vcpu_period;     /* µs */
    int64_t vcpu_user_limit; /* percent, 100 when not set */
    int64_t vcpu_count;
} mom_hv_cpu_tune_info;

/* Bits of mom_hv_io_limits.present: which limits carry a value (the others
 * are "None").  0 means unlimited. */
enum {
    MOM_HV_TOTAL_BYTES_SEC = 1u << 0,
    MOM_HV_READ_BYTES_SEC = 1u << 1,
    MOM_HV_WRITE_BYTES_SEC = 1u << 2,
    MOM_HV_TOTAL_IOPS_SEC = 1u << 3,
    MOM_HV_READ_IOPS_SEC = 1u << 4,
    MOM_HV_WRITE_IOPS_SEC = 1u << 5,
    MOM_HV_IO_ALL = 0x3f,
};

typedef struct mom_hv_io_limits {
    uint32_t present;
    int64_t total_bytes_sec, read_bytes_sec, write_bytes_sec;
    int64_t total_iops_sec, read_iops_sec, write_iops_sec;
} mom_hv_io_limits;

/* One disk's tune as passed to set_vm_io_tune. */
typedef struct mom_hv_disk_tune {
    const char *name; /* device name (e.g. "vda"), may be NULL */
    const char *path; /* backing path, may be NULL */
    mom_hv_io_limits io_tune;
} mom_hv_disk_tune;

/* Append one disk's I/O policy (get_vm_io_tune_policy). */
MOM_API int mom_hv_disk_list_add_policy(mom_hv_disk_list *list, const char *name,
                                        const char *path, const mom_hv_io_limits *guaranteed,
                                        const mom_hv_io_limits *maximum);
/* Append one disk's current limits (get_vm_io_tune). */
MOM_API int mom_hv_disk_list_add_tune(mom_hv_disk_list *list, const char *name,
                                      const char *path, const mom_hv_io_limits *current);

/* Bits of mom_hv_ksm_tune.present. */
enum {
    MOM_HV_KSM_RUN = 1u << 0,
    MOM_HV_KSM_PAGES_TO_SCAN = 1u << 1,
    MOM_HV_KSM_SLEEP_MILLISECS = 1u << 2,
    MOM_HV_KSM_MERGE_ACROSS_NODES = 1u << 3,
};

typedef struct mom_hv_ksm_tune {
    uint32_t present;
    int64_t run, pages_to_scan, sleep_millisecs, merge_across_nodes;
} mom_hv_ksm_tune;

struct mom_hv_ops {
    size_t size; /* sizeof(mom_hv_ops) of the caller's header */

    /* The running guests: call mom_hv_list_add() once per guest id. */
    int (*get_vm_list)(mom_hv_list *out, void *userdata);
    /* Name, UUID and pid of one guest. */
    int (*get_vm_info)(const char *id, mom_hv_guest_info *ret, void *userdata);
    /* Enable guest statistics polling every period_s seconds (best effort). */
    int (*start_vm_memory_stats)(const char *id, int period_s, void *userdata);
    /* Guest memory statistics; -ENODATA when the guest reports nothing
     * (never a guessed 0). */
    int (*get_vm_memory_stats)(const char *id, mom_hv_memory_stats *ret, void *userdata);
    int (*get_vm_balloon_info)(const char *id, mom_hv_balloon_info *ret, void *userdata);
    /* Set the balloon target: the guest's logical memory size in KiB. */
    int (*set_vm_balloon_target)(const char *id, int64_t target_kib, void *userdata);
    int (*get_vm_cpu_tune_info)(const char *id, mom_hv_cpu_tune_info *ret, void *userdata);
    int (*set_vm_cpu_tune)(const char *id, int64_t quota, int64_t period, void *userdata);
    /* Per-disk I/O policy: mom_hv_disk_list_add_policy() per disk. */
    int (*get_vm_io_tune_policy)(const char *id, mom_hv_disk_list *out, void *userdata);
    /* Per-disk current limits: mom_hv_disk_list_add_tune() per disk. */
    int (*get_vm_io_tune)(const char *id, mom_hv_disk_list *out, void *userdata);
    int (*set_vm_io_tune)(const char *id, const mom_hv_disk_tune *disks, size_t n_disks,
                          void *userdata);
    /* Host KSM tuning; NULL: the engine writes sysfs-root/kernel/mm/ksm. */
    int (*ksm_tune)(const mom_hv_ksm_tune *tune, void *userdata);
    /* Send one guest-agent command (JSON text); *ret_reply gets the reply
     * text, released by the engine through free_reply. */
    int (*qemu_agent_command)(const char *id, const char *command, int timeout_s,
                              char **ret_reply, void *userdata);
    void (*free_reply)(char *reply, void *userdata);
};

#ifdef __cplusplus
}
#endif
#endif
