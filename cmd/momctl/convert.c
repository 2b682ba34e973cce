/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momctl policy convert: print the Fortran-like equivalent of a classic
 * policy (POLICY-LANGUAGE.md §12).  libmom does the work
 * (mom_policy_convert); this file parses the command line, prints the text
 * on standard output (or into the -o file) and the report on standard
 * error.
 */
#include "convert.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "momctl.h"
#include "mom/mom.h"
#include "mom/policy.h"

static const char *const cmd = "momctl policy convert";

static void convert_help(FILE *f)
{
    fprintf(f, "Usage: momctl policy convert [--context FILE]... [-o OUT.mom] FILE.policy\n"
               "\n"
               "Print the Fortran-like equivalent of a classic policy, for the constructs\n"
               "both dialects share.  A construct that cannot be converted exactly stays in\n"
               "the output as a comment, and standard error names its line as\n"
               "FILE:LINE: cannot convert: REASON.\n"
               "\n"
               "Options:\n"
               "  -c, --context FILE  another classic file of the same policy set (repeatable):\n"
               "                      its globals and functions inform the conversion\n"
               "  -o, --output OUT    write the text to OUT instead of standard output\n"
               "  -h, --help          show this help\n"
               "\n"
               "Exit status: 0 converted fully, 1 some constructs not converted (or a file\n"
               "cannot be read or parsed), 2 wrong usage.\n");
}

/* Write `text` to `path` (created or replaced). */
static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text), off = 0;
    int r = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        off += (size_t)n;
    }
    if (close(fd) < 0 && r == 0)
        r = -errno;
    return r;
}

int momctl_policy_convert(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"context", required_argument, NULL, 'c'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **ctx = calloc((size_t)argc + 1, sizeof(char *));
    size_t nctx = 0;
    const char *output = NULL;
    int c, rc = MOMCTL_EXIT_USAGE;
    if (!ctx) {
        perror(cmd);
        return MOMCTL_EXIT_FAIL;
    }
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': ctx[nctx++] = optarg; break;
        case 'o':
            if (output) {
                momctl_usage_error(cmd, "--output given twice");
                goto out;
            }
            output = optarg;
            break;
        case 'h':
            convert_help(stdout);
            rc = MOMCTL_EXIT_OK;
            goto out;
        case ':':
            momctl_usage_error(cmd, "option '%s' needs an argument", argv[optind - 1]);
            goto out;
        default:
            if (optopt)
                momctl_usage_error(cmd, "unknown option '-%c'", optopt);
            else
                momctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
            goto out;
        }
    }
    if (optind >= argc) {
        momctl_usage_error(cmd, "no policy file given");
        goto out;
    }
    if (argc - optind > 1) {
        momctl_usage_error(cmd, "one policy file at a time (give the others with --context)");
        goto out;
    }

    char *text = NULL, *report = NULL;
    size_t unconverted = 0;
    int r = mom_policy_convert(argv[optind], ctx, nctx, &text, &report, &unconverted);
    if (report)
        fputs(report, stderr);
    if (r < 0 && !report)
        fprintf(stderr, "%s: %s\n", cmd, strerror(-r));
    rc = MOMCTL_EXIT_FAIL;
    if (r == 0) {
        if (output) {
            int w = write_text(output, text);
            if (w < 0)
                fprintf(stderr, "%s: %s: %s\n", cmd, output, strerror(-w));
            else
                rc = unconverted ? MOMCTL_EXIT_FAIL : MOMCTL_EXIT_OK;
        } else {
            fputs(text, stdout);
            rc = unconverted ? MOMCTL_EXIT_FAIL : MOMCTL_EXIT_OK;
        }
    }
    mom_free(text);
    mom_free(report);
out:
    free(ctx);
    return rc;
}
