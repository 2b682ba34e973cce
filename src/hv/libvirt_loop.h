/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt's event loop, the one process-wide thing the libvirt backend
 * needs (lifecycle events, close callbacks and keepalive only run when a
 * loop implementation is registered and someone runs it).
 *
 * The first user checks whether the process already has an implementation
 * (a host program that uses libvirt itself and runs its own loop): then
 * nothing is registered and no thread is started, and the host's loop
 * delivers the backend's callbacks.  Otherwise libvirt's default
 * implementation is registered, once per process, and one thread runs it
 * while at least one user holds it.
 */
#ifndef MOM_HV_LIBVIRT_LOOP_H
#define MOM_HV_LIBVIRT_LOOP_H

#include <stdbool.h>

/* Take a reference on the loop.  Returns 0 (sets *ret_ours when this
 * module runs the loop) or a negative errno. */
int libvirt_loop_acquire(bool *ret_ours);
/* Drop a reference; the last one stops and joins the thread. */
void libvirt_loop_release(void);

#endif
