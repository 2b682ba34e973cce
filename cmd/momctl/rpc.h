/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momctl's subcommands that talk to a running momd over its RPC socket
 * (XML-RPC over HTTP, on a unix socket or localhost TCP).  Each takes its
 * own argument vector (argv[0] is the subcommand's name) and returns the
 * exit status: 0 success, 1 the call failed ("Command 'X' failed: ..." on
 * standard error, as the original mom-rpcclient prints), 2 wrong usage.
 *
 * Common options: --socket PATH or --port N (default: the socket that the
 * shipped momd.conf sets, MOMCTL_DEFAULT_SOCKET), --json, --timeout SECONDS.
 */
#ifndef MOMCTL_RPC_H
#define MOMCTL_RPC_H

#include <stddef.h>

#include "mom/mom.h"

#define MOMCTL_DEFAULT_SOCKET "/run/mom/momd.sock"

/*
 * One XML-RPC call to momd, for any momctl command that needs one: over the
 * unix socket `socket_path`, or (socket_path NULL) over 127.0.0.1:`port`,
 * giving up after `timeout` seconds.  `params` is a LIST of arguments or
 * NULL.  Returns 0 with the result in *ret_result (mom_value_unref()), or
 * a negative errno with a one-line reason in `why` (a fault reads
 * "<Fault CODE: 'TEXT'>", an HTTP error "<ProtocolError: CODE REASON>").
 */
int momctl_rpc_call(const char *socket_path, int port, double timeout, const char *method,
                    const mom_value *params, mom_value **ret_result, char *why, size_t why_len);

/* momctl ping: prints OK. */
int momctl_rpc_ping(int argc, char **argv);
/* momctl stats: a Host: block, then a Guest NAME: block per guest. */
int momctl_rpc_stats(int argc, char **argv);
/* momctl guests: one guest name per line. */
int momctl_rpc_guests(int argc, char **argv);
/* momctl verbosity LEVEL. */
int momctl_rpc_verbosity(int argc, char **argv);
/* momctl policy get|set|set-named|list|reset talk to momd; every other
 * policy command (check, convert, eval: local) goes to momctl_policy_main. */
int momctl_rpc_policy_main(int argc, char **argv);

#endif
