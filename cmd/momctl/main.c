/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momctl: the command-line client of MOM.  A thin main over libmom's public
 * API: it picks a subcommand from the table below and hands it the rest of
 * the command line.  Subcommands that talk to a running momd join the table
 * as they are written.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "momctl.h"
#include "mom/mom.h"
#include "plot.h"
#include "rpc.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const momctl_cmd commands[] = {
    {"ping", momctl_rpc_ping, "", "check that momd runs (momd)"},
    {"stats", momctl_rpc_stats, "", "momd's latest host and guest statistics (momd)"},
    {"guests", momctl_rpc_guests, "", "the guests momd has statistics for (momd)"},
    {"policy", momctl_rpc_policy_main, "COMMAND ...",
     "policies: check, eval locally; get, set, set-named, list, reset (momd)"},
    {"verbosity", momctl_rpc_verbosity, "LEVEL", "set momd's log verbosity (momd)"},
    {"top", momctl_top_main, "[--once] [-i S]", "live view of host and guests, like top (momd)"},
    {"plot", momctl_plot_main, "DIR [-o OUT.svg]", "draw momd's plot files as an SVG picture"},
    {"help", cmd_help, "", "show this help"},
    {"version", cmd_version, "", "show the version"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

const momctl_cmd *momctl_find_cmd(const momctl_cmd *table, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

void momctl_print_cmds(FILE *f, const char *prefix, const momctl_cmd *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char head[64];
        snprintf(head, sizeof(head), "%s%s%s%s", prefix, table[i].name, table[i].args[0] ? " " : "",
                 table[i].args);
        fprintf(f, "  %-34s %s\n", head, table[i].summary);
    }
}

int momctl_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", cmd);
    return MOMCTL_EXIT_USAGE;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: momctl [--help] [--version] COMMAND [ARGS...]\n"
               "\n"
               "The command-line client of MOM, the Memory Overcommitment Manager.\n"
               "\n"
               "Commands:\n");
    momctl_print_cmds(f, "", commands, N_COMMANDS);
    fprintf(f, "\n"
               "Commands marked (momd) talk to a running momd over its RPC socket\n"
               "(--socket PATH, default " MOMCTL_DEFAULT_SOCKET ", or --port N); the\n"
               "others work locally.\n"
               "Run 'momctl COMMAND --help' for the options of a command.\n"
               "Exit status: 0 success, 1 failure, 2 wrong usage.\n");
}

static int cmd_help(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return momctl_usage_error("momctl help", "unexpected argument '%s'", argv[1]);
    usage(stdout);
    return MOMCTL_EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 1)
        return momctl_usage_error("momctl version", "unexpected argument '%s'", argv[1]);
    printf("momctl %s\n", MOM_VERSION_STRING);
    return MOMCTL_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return momctl_usage_error("momctl", "no command given");
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0)
        return cmd_help(argc - 1, argv + 1);
    if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0)
        return cmd_version(argc - 1, argv + 1);
    if (first[0] == '-')
        return momctl_usage_error("momctl", "unknown option '%s'", first);
    const momctl_cmd *c = momctl_find_cmd(commands, N_COMMANDS, first);
    if (!c)
        return momctl_usage_error("momctl", "unknown command '%s'", first);
    int rc = c->run(argc - 1, argv + 1);
    if (fflush(stdout) != 0 && rc == MOMCTL_EXIT_OK) {
        perror("momctl: standard output");
        rc = MOMCTL_EXIT_FAIL;
    }
    return rc;
}
