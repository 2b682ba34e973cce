/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momctl, the command-line client: the table of subcommands and what they
 * share.  Each subcommand is a function that gets its own argument vector
 * (argv[0] is the subcommand's name) and returns the exit status.
 */
#ifndef MOMCTL_H
#define MOMCTL_H

#include <stdio.h>

/* Exit statuses. */
enum {
    MOMCTL_EXIT_OK = 0,    /* the command succeeded */
    MOMCTL_EXIT_FAIL = 1,  /* the command ran and failed */
    MOMCTL_EXIT_USAGE = 2, /* wrong usage */
};

typedef struct momctl_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *args;    /* argument synopsis for the help text */
    const char *summary; /* one line for the help text */
} momctl_cmd;

/* The "policy" subcommand (policy.c): policy check / policy eval. */
int momctl_policy_main(int argc, char **argv);

/* Print a usage error for command `cmd` ("policy eval") to standard error,
 * with a hint to its --help, and return MOMCTL_EXIT_USAGE. */
int momctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Find `name` in a table of n commands, or NULL. */
const momctl_cmd *momctl_find_cmd(const momctl_cmd *table, size_t n, const char *name);

/* Print a table of commands as help lines ("  NAME ARGS  SUMMARY"). */
void momctl_print_cmds(FILE *f, const char *prefix, const momctl_cmd *table, size_t n);

#endif
