/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC server: XML-RPC over HTTP, compatible with the original MOM's
 * clients (its command-line client over localhost TCP, oVirt's vdsm over a
 * unix socket).  REFERENCE.md §7.6 and §0.
 *
 * `[main] rpc-port` selects the transport:
 *   an integer >= 0   HTTP on 127.0.0.1:PORT, path /RPC2 only;
 *   a negative integer the server is off (rpcserver_start sets *ret = NULL);
 *   anything else     HTTP over a unix socket at that path, paths / and
 *                     /RPC2; an existing socket file is replaced.  The
 *                     socket gets mode 0660 and group rpc-socket-group;
 *                     a peer is let in when its uid is in rpc-allow-uids or
 *                     one of its groups is rpc-socket-group (SO_PEERCRED).
 *
 * Limits: 64 connections, 10 s of silence, 64 KiB of request line and
 * headers, 64 headers, a 4 MiB body that must arrive within 30 s; POST
 * only.  A refused request gets an HTTP status (403, 404, 413, 415, 431,
 * 501) or, for a body that runs past a limit, a closed connection; a bad
 * XML-RPC document gets a fault (faultCode 1).
 *
 * The server runs in threads of its own (libmicrohttpd) and calls only the
 * public, thread-safe engine functions of mom/mom.h, so a slow client never
 * holds up the engine, and statistics come from the last published
 * snapshot.
 */
#ifndef MOM_RPC_SERVER_H
#define MOM_RPC_SERVER_H

#include "core/config.h"
#include "core/log.h"
#include "mom/mom.h"

typedef struct rpcserver rpcserver;

/*
 * Start serving engine `e` as configured in `c`, logging through `log`
 * (logger "mom.RPCServer").  `e`, `c` and `log` must outlive the server.
 * Returns 0 with *ret set (NULL when rpc-port switches the server off), or
 * a negative errno (-EADDRINUSE, -EACCES, -ENAMETOOLONG, -EEXIST for a
 * path that exists and is not a socket, -EINVAL for an unknown
 * rpc-socket-group, ...) after logging why.
 */
int rpcserver_start(mom_engine *e, const conf *c, const mlog *log, rpcserver **ret);

/* Stop serving: close the listening socket (and remove the unix socket
 * file), wait for the server threads and free.  Accepts NULL. */
void rpcserver_stop(rpcserver *s);

/* The TCP port the server listens on (useful with rpc-port 0), or -1 for a
 * unix socket. */
int rpcserver_port(const rpcserver *s);

#endif
