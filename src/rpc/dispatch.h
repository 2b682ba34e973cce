/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC methods: one XML-RPC request document in, one response document
 * (a result or a fault) out.  Transport-free, so tests call it directly;
 * server.c puts it behind HTTP.
 *
 * Methods (REFERENCE.md §7.6 with the changes of §0): ping, getStatistics,
 * getActiveGuests, setPolicy, setNamedPolicy, getPolicy, getNamedPolicies,
 * resetPolicies, setVerbosity, and system.listMethods, system.methodHelp,
 * system.methodSignature.  Faults use faultCode 1 and Python's message
 * style, as the original's SimpleXMLRPCServer produced them.
 */
#ifndef MOM_RPC_DISPATCH_H
#define MOM_RPC_DISPATCH_H

#include <stddef.h>

#include "core/log.h"
#include "mom/mom.h"

/* The faultCode of every fault the server sends. */
#define DISPATCH_FAULT 1

/*
 * Run the request in the `len` bytes at `body` against engine `e` (only
 * its public, thread-safe functions are called).  Returns the response
 * document (mom_free()) with its length in *ret_len, or NULL when out of
 * memory.  `log` may be NULL.  Any thread.
 */
char *dispatch_request(mom_engine *e, const mlog *log, const char *body, size_t len,
                       size_t *ret_len);

#endif
