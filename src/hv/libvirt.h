/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libvirt hypervisor interface (hypervisor-interface: libvirt).  See
 * docs/libvirt.md for what it reads and which permissions it needs.
 */
#ifndef MOM_HV_LIBVIRT_H
#define MOM_HV_LIBVIRT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/hv.h"
#include "core/log.h"
#include "mom/hypervisor.h"

/* Build the backend from [main] libvirt-hypervisor-uri (empty: libvirt's
 * default URI), proc-root and guest-monitor-interval.  Never connects:
 * the first operation does, and a connection that cannot be made is
 * retried with backoff, so creation fails only on allocation failure.
 * `ret` must stay at the same address until hv_destroy (the backend reads
 * ret->wake from its operations). */
int libvirt_create(const conf *c, const mlog *log, hv *ret);

/* ---- for tests and the benchmark (userdata is hv.userdata) ---------- */

/* Calls the backend made that reach libvirt's driver (lookups, stats,
 * XML, settings; not local accessors such as virDomainGetName). */
uint64_t libvirt_call_count(void *userdata);
/* Lifecycle events received so far. */
uint64_t libvirt_event_count(void *userdata);
/* A new reference to the backend's current connection, connecting first
 * when needed (NULL when that fails); release it with virConnectClose.
 * The return type is virConnectPtr. */
void *libvirt_test_connection(void *userdata);
/* Behave as if libvirt had reported the connection closed (as its close
 * callback does when libvirtd goes away): the next operation drops the
 * connection and reconnects. */
void libvirt_test_break(void *userdata);
/* Make the next libvirt call of a guest operation (or of get_vm_list when
 * id is NULL) fail as if libvirt had raised `vir_error_code` (a
 * virErrorNumber), without calling libvirt. */
void libvirt_test_fail_next(void *userdata, const char *id, int vir_error_code);
/* Replace the URI used by the next connection attempt. */
int libvirt_test_set_uri(void *userdata, const char *uri);
/* Reconnection backoff bounds in seconds (defaults 1 and 60). */
void libvirt_test_set_backoff(void *userdata, double min_s, double max_s);
/* Where the QEMU pid files are (default /run/libvirt/qemu), and whether
 * pids are looked up for every driver, not only QEMU's. */
int libvirt_test_set_pid_dir(void *userdata, const char *dir, bool any_driver);
/* Seconds the domain XML and metadata are cached (default 300). */
void libvirt_test_set_xml_ttl(void *userdata, double seconds);
/* true while connected. */
bool libvirt_test_connected(void *userdata);

#endif
