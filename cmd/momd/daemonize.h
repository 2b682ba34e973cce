/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Turning momd into a background daemon (-d): double fork, new session,
 * working directory /, pid file, standard streams on /dev/null.
 *
 * The process that ran `momd -d` waits until the daemon says it is ready
 * (or failed) through a pipe, and exits with the daemon's status: a start-up
 * error is then seen by the caller, with its message still on the caller's
 * standard error, instead of a silent exit 0 (REFERENCE.md §0).
 */
#ifndef MOMD_DAEMONIZE_H
#define MOMD_DAEMONIZE_H

#include <stdbool.h>

typedef struct daemonize_state {
    int notify_fd;  /* write end of the pipe to the waiting parent, or -1 */
    char *pid_file; /* the pid file we wrote, removed at exit; NULL if none */
} daemonize_state;

/*
 * Detach.  Only the daemon (the grandchild) returns, with 0; the calling
 * process waits for daemonize_ready() or daemonize_fail() and exits with
 * the reported status (1 when the daemon dies without reporting).  Returns
 * a negative errno when the pipe or the first fork fails, in which case
 * nothing happened.
 */
int daemonize_start(daemonize_state *d);

/* Write our pid to `path` (mode 0644, replaced if present) and remember it
 * for daemonize_remove_pid_file().  Returns 0 or a negative errno. */
int daemonize_write_pid_file(daemonize_state *d, const char *path);

/* Remove the pid file written by daemonize_write_pid_file(), if any. */
void daemonize_remove_pid_file(daemonize_state *d);

/* Start-up succeeded: put standard input, output and error on /dev/null
 * and let the waiting parent exit with status 0. */
void daemonize_ready(daemonize_state *d);

/* Start-up failed: let the waiting parent exit with `status`.  A no-op
 * once ready or when not daemonised. */
void daemonize_fail(daemonize_state *d, int status);

#endif
