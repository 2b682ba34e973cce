/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the guest-agent collectors (GuestQemuAgent, GuestAgent). */
#ifndef MOM_COLLECTORS_AGENT_SOCKET_H
#define MOM_COLLECTORS_AGENT_SOCKET_H

/* Replace %(name)s and %(uuid)s in a socket name template (and %% by %),
 * as the original's collector sections spell them.  Malloc'ed (mom_free);
 * NULL on ENOMEM. */
char *agent_socket_expand(const char *tmpl, const char *name, const char *uuid);

/* CLOCK_MONOTONIC in seconds. */
double agent_socket_now(void);

#endif
