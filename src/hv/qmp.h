/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hypervisor-interface: qmp — plain QEMU without libvirt.  Every unix
 * socket in [main] qmp-socket-dir is one guest's QMP monitor; an optional
 * NAME.json beside it gives the guest's policy values that QEMU does not
 * know (balloon_min, vcpu_user_limit, I/O-tune policy).  See docs/qmp.md.
 */
#ifndef MOM_HV_QMP_H
#define MOM_HV_QMP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/hv.h"
#include "core/log.h"

/* The namespace of the name-based (version 5) UUIDs given to guests for
 * which QEMU reports the all-zero UUID (documented in docs/qmp.md). */
#define QMP_UUID_NAMESPACE "6d6f6d00-716d-4f70-8e61-6d6575756964"

/* Build the backend from [main] qmp-socket-dir, call-deadline-ms,
 * proc-root and sysfs-root. */
int qmp_create(const conf *c, const mlog *log, hv *ret);

/* Same with explicit settings (tests): deadline_s bounds every call. */
int qmp_create_dir(const char *dir, const char *proc_root, const char *sysfs_root,
                   double deadline_s, const mlog *log, hv *ret);

/* The balloon's "guest-stats" QOM value ({"last-update": s, "stats":
 * {...}}) as memory statistics: bytes to KiB, a stat of -1 (or 2^64-1)
 * left out.  -ENODATA when the guest never reported, -EPROTO when the value
 * is not an object. */
int qmp_stats_from_json(const json_t *guest_stats, mom_hv_memory_stats *ret);

/* One guest's NAME.json as the backend reads it. */
typedef struct qmp_policy {
    int64_t balloon_min;     /* KiB, default 0 */
    int64_t vcpu_user_limit; /* percent, default 100 */
    json_t *io_tune;         /* array of {name, path, guaranteed, maximum} or NULL */
} qmp_policy;

/* Parse NAME.json text.  On error *ret holds the defaults, and err (when
 * not NULL) a message. */
int qmp_policy_parse(const char *text, size_t len, qmp_policy *ret, char *err, size_t errlen);
void qmp_policy_done(qmp_policy *p);

/* SHA-1 of data (FIPS 180-4). */
void qmp_sha1(const void *data, size_t len, uint8_t out[20]);
/* Name-based UUID, version 5 (RFC 9562 §5.5), of name in namespace ns
 * (textual UUID); out gets the lower-case canonical text.  -EINVAL for a
 * malformed namespace. */
int qmp_uuid5(const char *ns, const char *name, char out[37]);

#endif
