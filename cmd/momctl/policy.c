/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momctl policy: work on policy files without a daemon.
 *
 *   momctl policy check [--config FILE] FILE...
 *   momctl policy eval FILE... --snapshot SNAPSHOT.json [--config FILE] [--json] [--results]
 *
 * Everything the commands decide is done by libmom (mom/policy.h); this
 * file parses the command line and prints.  Standard output carries only
 * the outcome; diagnostics and the policy's own log lines go to standard
 * error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert.h"
#include "momctl.h"
#include "mom/mom.h"
#include "mom/policy.h"

static int policy_check(int argc, char **argv);
static int policy_eval(int argc, char **argv);

static const momctl_cmd policy_cmds[] = {
    {"check", policy_check, "[--config FILE] FILE...",
     "load the files as one policy set and report errors"},
    {"eval", policy_eval, "FILE... --snapshot FILE [--config FILE] [--json] [--results]",
     "evaluate the set once on a JSON snapshot"},
    {"convert", momctl_policy_convert, "[--context FILE]... FILE.policy",
     "print the Fortran-like equivalent of a classic policy"},
};
#define N_POLICY_CMDS (sizeof(policy_cmds) / sizeof(policy_cmds[0]))

static const char *level_name(mom_log_level level)
{
    switch (level) {
    case MOM_LOG_CRITICAL: return "CRITICAL";
    case MOM_LOG_ERROR: return "ERROR";
    case MOM_LOG_WARN: return "WARNING";
    case MOM_LOG_INFO: return "INFO";
    default: return "DEBUG";
    }
}

/* The policy's log lines (classic debug, warnings): standard error only. */
static void log_to_stderr(mom_log_level level, const char *logger, const char *msg, void *userdata)
{
    (void)userdata;
    fprintf(stderr, "%s - %s - %s\n", level_name(level), logger, msg);
}

static void report_to_stderr(const char *line, bool is_error, void *userdata)
{
    (void)is_error;
    (void)userdata;
    fprintf(stderr, "%s\n", line);
}

/* The usage error for the option getopt_long() just refused. */
static int bad_option(const char *cmd, char **argv)
{
    if (optopt)
        return momctl_usage_error(cmd, "unknown option '-%c'", optopt);
    return momctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

/* ---- check -------------------------------------------------------------- */

static void check_help(FILE *f)
{
    fprintf(f, "Usage: momctl policy check [--config FILE] FILE...\n"
               "\n"
               "Load the files as one policy set (each named after its file, run in\n"
               "name order) and report every error and warning on standard error.\n"
               "\n"
               "Options:\n"
               "  -c, --config FILE  check statistics and controls against the collectors\n"
               "                     and controllers this momd configuration runs\n"
               "  -h, --help         show this help\n"
               "\n"
               "Exit status: 0 when the set loads (warnings do not count), 1 when it does\n"
               "not, 2 for wrong usage.\n");
}

static int policy_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'h': check_help(stdout); return MOMCTL_EXIT_OK;
        case ':':
            return momctl_usage_error("momctl policy check", "option '%s' needs an argument",
                                      argv[optind - 1]);
        default: return bad_option("momctl policy check", argv);
        }
    }
    if (optind >= argc)
        return momctl_usage_error("momctl policy check", "no policy file given");

    mom_policy_opts opts;
    mom_policy_opts_init(&opts);
    opts.log_fn = log_to_stderr;
    opts.config_file = config;
    int r = mom_policy_check(&opts, (const char *const *)argv + optind, (size_t)(argc - optind),
                             report_to_stderr, NULL);
    if (r == 0)
        return MOMCTL_EXIT_OK;
    if (r != MOM_E_POLICY && r != MOM_E_CONFIG)
        fprintf(stderr, "momctl policy check: %s\n", mom_strerror(r));
    return MOMCTL_EXIT_FAIL;
}

/* ---- eval --------------------------------------------------------------- */

static void eval_help(FILE *f)
{
    fprintf(f, "Usage: momctl policy eval FILE... --snapshot SNAPSHOT.json [--config FILE]\n"
               "                         [--json] [--results]\n"
               "\n"
               "Dry run: load the files as one policy set, evaluate it once on the\n"
               "snapshot and print the controls it set (the raw values, before any\n"
               "controller converts or clamps them): one line for the host and one per\n"
               "guest, or one JSON object with --json.\n"
               "\n"
               "Options:\n"
               "  -s, --snapshot FILE  the snapshot to evaluate on (JSON; see momctl(1))\n"
               "  -c, --config FILE    check statistics and controls against the collectors\n"
               "                       and controllers of this momd configuration too\n"
               "  -j, --json           print {\"ok\": ..., \"host\": ..., \"guests\": ...}\n"
               "  -r, --results        also print the results list of the classic\n"
               "                       top-level expressions\n"
               "  -h, --help           show this help\n"
               "\n"
               "The policy's log output (debug lines, warnings) goes to standard error.\n"
               "Exit status: 0 when the evaluation succeeded, 1 when it failed (the\n"
               "error is printed as the outcome), 2 for wrong usage.\n");
}

/* Read the snapshot file; on failure return a negative errno. */
static int read_file(const char *path, char **ret, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    int r = 0;
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    for (;;) {
        if (len == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                r = -ENOMEM;
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto out;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    *ret = buf;
    *ret_len = len;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return r;
}

/* Print a JSON string literal (for the one message momctl makes itself). */
static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

/* A failure that happened before libmom could describe it. */
static int print_failure(bool json, const char *msg)
{
    if (json) {
        fputs("{\"ok\": false, \"error\": ", stdout);
        print_json_string(msg);
        fputs("}\n", stdout);
    } else {
        printf("error: %s\n", msg);
    }
    return MOMCTL_EXIT_FAIL;
}

/* " NAME=VALUE" for every member of a MAP of controls. */
static int print_controls(const mom_value *ctl)
{
    for (size_t i = 0; ctl && i < mom_value_len(ctl); i++) {
        char *text;
        int r = mom_value_to_json(mom_value_at(ctl, i), &text);
        if (r < 0)
            return r;
        printf(" %s=%s", mom_value_key_at(ctl, i), text);
        mom_free(text);
    }
    return 0;
}

/* The readable form of a mom_policy_eval() output. */
static int print_readable(const mom_value *out)
{
    const mom_value *err = mom_value_get(out, "error");
    if (!mom_value_bool(mom_value_get(out, "ok"))) {
        printf("error: %s\n", err ? mom_value_string(err) : "evaluation failed");
        return 0;
    }
    printf("host:");
    int r = print_controls(mom_value_get(out, "host"));
    printf("\n");
    const mom_value *guests = mom_value_get(out, "guests");
    for (size_t i = 0; r == 0 && guests && i < mom_value_len(guests); i++) {
        printf("guest %s:", mom_value_key_at(guests, i));
        r = print_controls(mom_value_at(guests, i));
        printf("\n");
    }
    const mom_value *results = mom_value_get(out, "results");
    if (r == 0 && results) {
        printf("results: [");
        for (size_t i = 0; i < mom_value_len(results); i++)
            printf("%s%s", i ? ", " : "", mom_value_string(mom_value_at(results, i)));
        printf("]\n");
    }
    return r;
}

static int policy_eval(int argc, char **argv)
{
    static const char *const cmd = "momctl policy eval";
    static const struct option longopts[] = {
        {"snapshot", required_argument, NULL, 's'},
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"results", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *snapshot_path = NULL, *config = NULL;
    bool json = false;
    unsigned flags = 0;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:c:jrh", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (snapshot_path)
                return momctl_usage_error(cmd, "--snapshot given twice");
            snapshot_path = optarg;
            break;
        case 'c': config = optarg; break;
        case 'j': json = true; break;
        case 'r': flags |= MOM_POLICY_EVAL_RESULTS; break;
        case 'h': eval_help(stdout); return MOMCTL_EXIT_OK;
        case ':': return momctl_usage_error(cmd, "option '%s' needs an argument", argv[optind - 1]);
        default: return bad_option(cmd, argv);
        }
    }
    if (optind >= argc)
        return momctl_usage_error(cmd, "no policy file given");
    if (!snapshot_path)
        return momctl_usage_error(cmd, "--snapshot SNAPSHOT.json is required");

    char *text = NULL;
    size_t len = 0;
    int r = read_file(snapshot_path, &text, &len);
    if (r < 0) {
        char msg[4096];
        snprintf(msg, sizeof(msg), "%s: %s", snapshot_path, strerror(-r));
        return print_failure(json, msg);
    }

    mom_policy_opts opts;
    mom_policy_opts_init(&opts);
    opts.log_fn = log_to_stderr;
    opts.config_file = config;
    mom_value *out = NULL;
    r = mom_policy_eval(&opts, (const char *const *)argv + optind, (size_t)(argc - optind), text,
                        len, flags, &out, NULL);
    free(text);
    if (!out)
        return print_failure(json, strerror(-r));

    int pr;
    if (json) {
        char *s = NULL;
        pr = mom_value_to_json(out, &s);
        if (pr == 0)
            printf("%s\n", s);
        mom_free(s);
    } else {
        pr = print_readable(out);
    }
    mom_value_unref(out);
    if (pr < 0) {
        fprintf(stderr, "%s: %s\n", cmd, strerror(-pr));
        return MOMCTL_EXIT_FAIL;
    }
    return r == 0 ? MOMCTL_EXIT_OK : MOMCTL_EXIT_FAIL;
}

/* ---- the policy command --------------------------------------------------- */

static void policy_help(FILE *f)
{
    fprintf(f, "Usage: momctl policy COMMAND [ARGS...]\n"
               "\n"
               "Work on policy files without a daemon.  Each file is a policy named\n"
               "after its base name without .mom/.policy; the set runs in name order.\n"
               "\n"
               "Commands:\n");
    momctl_print_cmds(f, "", policy_cmds, N_POLICY_CMDS);
}

int momctl_policy_main(int argc, char **argv)
{
    if (argc < 2)
        return momctl_usage_error("momctl policy", "no policy command given");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        policy_help(stdout);
        return MOMCTL_EXIT_OK;
    }
    const momctl_cmd *c = momctl_find_cmd(policy_cmds, N_POLICY_CMDS, argv[1]);
    if (!c)
        return momctl_usage_error("momctl policy", "unknown policy command '%s'", argv[1]);
    return c->run(argc - 1, argv + 1);
}
