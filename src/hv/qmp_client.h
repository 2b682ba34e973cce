/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small blocking QMP client (QEMU Machine Protocol, PEERS.md §3.1): one
 * connection to one QEMU monitor socket, the greeting and capabilities
 * handshake, commands with ids, events that arrive between replies.
 *
 * Every wait is a poll() bounded by an absolute deadline (CLOCK_MONOTONIC
 * seconds, as pool_now() returns), so a peer that never answers costs at
 * most the caller's deadline.  After a timeout, a closed peer or a protocol
 * error the connection is "broken": the owner frees it and reconnects.
 *
 * Not thread-safe: one thread at a time per connection (the engine's pool
 * runs one job per guest at a time).
 */
#ifndef MOM_HV_QMP_CLIENT_H
#define MOM_HV_QMP_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Returned by qmpc_call when QEMU answered with an error object. */
#define QMPC_E_REPLY (-EREMOTEIO)

typedef struct qmpc qmpc;

/* Called for every event seen (while waiting for a reply, or in
 * qmpc_pump): name, the "data" object (may be NULL; borrowed). */
typedef void (*qmpc_event_fn)(const char *event, json_t *data, void *userdata);

/* Connect to the unix socket at path, read the greeting and negotiate
 * capabilities, all before deadline.  Returns 0, -ENOENT / -ECONNREFUSED
 * (nobody listens), -ETIMEDOUT, -ECONNRESET (closed during the handshake),
 * -EPROTO (not a QMP server) or -ENOMEM. */
int qmpc_connect(const char *path, double deadline, qmpc_event_fn ev, void *userdata,
                 qmpc **ret);
/* Same over an already connected stream socket, which the client takes
 * over (closed by qmpc_free, or here on failure). */
int qmpc_open_fd(int fd, double deadline, qmpc_event_fn ev, void *userdata, qmpc **ret);
void qmpc_free(qmpc *c);

/* Run one command.  args (an object or NULL) is borrowed.  On success
 * *ret_return (when ret_return is not NULL) holds a new reference to the
 * reply's "return" value.  Errors: QMPC_E_REPLY (see qmpc_error_class),
 * -ETIMEDOUT, -ECONNRESET, -EPIPE, -EPROTO, -ENOMEM; all but QMPC_E_REPLY
 * and -ENOMEM leave the connection broken. */
int qmpc_call(qmpc *c, const char *command, json_t *args, double deadline,
              json_t **ret_return);
/* Read and dispatch whatever events are already waiting, without
 * blocking.  Returns 0 or an error that broke the connection. */
int qmpc_pump(qmpc *c);

/* The last error reply's class and description ("" when none). */
const char *qmpc_error_class(const qmpc *c);
const char *qmpc_error_desc(const qmpc *c);
/* The peer's pid from SO_PEERCRED (0 when unknown). */
pid_t qmpc_peer_pid(const qmpc *c);
/* true after an error that makes the connection unusable. */
bool qmpc_broken(const qmpc *c);
/* The greeting's QEMU version as major*10000 + minor*100 + micro (0 when
 * the greeting had none). */
int qmpc_version(const qmpc *c);

/* A JSON number as an int64: integers as they are; reals (what jansson
 * makes of integers beyond int64, such as 2^64-1) only when integral and in
 * range.  Returns 0, -EINVAL (not a number) or -ERANGE. */
int qmpc_json_int(const json_t *v, int64_t *ret);
/* Parse one message as QMP sends it.  Integers beyond int64 (QEMU prints
 * unsigned 64-bit values such as 2^64-1) are accepted as reals. */
json_t *qmpc_parse(const char *text, size_t len);

#endif
