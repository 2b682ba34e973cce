/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momctl's RPC subcommands (see rpc.h): one XML-RPC call each, over HTTP
 * on momd's unix socket or on localhost TCP, with the codec of
 * src/rpc/xmlrpc.h.  Output mirrors the original mom-rpcclient; --json
 * prints the call's result as JSON instead.
 */
#include "rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/value.h"
#include "momctl.h"
#include "mom/mom.h"
#include "rpc/xmlrpc.h"

/* Largest reply we read, and largest policy file we send. */
#define MAX_REPLY (256u * 1024u * 1024u)
#define MAX_POLICY (4u * 1024u * 1024u)

typedef struct rpc_opts {
    const char *socket; /* unix socket path, or NULL for TCP */
    int port;           /* TCP port on localhost, or -1 */
    bool json;
    bool delete_;   /* policy set-named NAME --delete */
    double timeout; /* seconds */
    char **args;    /* positional arguments */
    int n_args;
} rpc_opts;

/* ---- errors ------------------------------------------------------------- */

/* Print the original client's failure line and return the failure status. */
static int failed(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failed(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "Command '%s' failed: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return MOMCTL_EXIT_FAIL;
}

/* ---- HTTP over a stream socket ----------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait until fd is ready for `events` or the deadline passes. */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - now();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

/* Connect to momd: the unix socket, or 127.0.0.1:port. */
static int connect_momd(const rpc_opts *o, double deadline, int *ret_fd)
{
    int fd;
    int r = 0;
    if (o->socket) {
        struct sockaddr_un sun;
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (strlen(o->socket) >= sizeof(sun.sun_path))
            return -ENAMETOOLONG;
        memcpy(sun.sun_path, o->socket, strlen(o->socket) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return -errno;
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
            r = -errno;
    } else {
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)o->port);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return -errno;
        if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
            r = -errno;
    }
    if (r == -EINPROGRESS || r == -EAGAIN) {
        int err = 0;
        socklen_t l = sizeof(err);
        r = wait_fd(fd, POLLOUT, deadline);
        if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0)
            r = -err;
    }
    if (r < 0) {
        close(fd);
        return r;
    }
    *ret_fd = fd;
    return 0;
}

static int send_all(int fd, const char *buf, size_t len, double deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                int r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                    return r;
                continue;
            }
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read until the peer closes (we ask for Connection: close). */
static int recv_all(int fd, char **ret, size_t *ret_len, double deadline)
{
    size_t cap = 16384, len = 0;
    char *buf = mom_malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= MAX_REPLY) {
                mom_free(buf);
                return -EFBIG;
            }
            char *p = mom_realloc(buf, cap * 2);
            if (!p) {
                mom_free(buf);
                return -ENOMEM;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            int r = wait_fd(fd, POLLIN, deadline);
            if (r < 0) {
                mom_free(buf);
                return r;
            }
            continue;
        }
        int r = -errno;
        if (r == -ECONNRESET && len > 0)
            break;
        mom_free(buf);
        return r;
    }
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    return 0;
}

/* Decode a chunked body in place; returns its length or -EBADMSG. */
static long dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        if (in >= len)
            return -EBADMSG;
        errno = 0;
        unsigned long n = strtoul(body + in, &end, 16);
        if (end == body + in || errno)
            return -EBADMSG;
        char *crlf = memmem(end, len - (size_t)(end - body), "\r\n", 2);
        if (!crlf)
            return -EBADMSG;
        in = (size_t)(crlf - body) + 2;
        if (n == 0)
            return (long)out;
        if (n > len - in)
            return -EBADMSG;
        memmove(body + out, body + in, n);
        out += n;
        in += n + 2;
    }
}

/*
 * Split an HTTP response: check the status line, find the body (by
 * Content-Length, chunked, or to the end).  On an HTTP error status the
 * message is "HTTP CODE REASON".
 */
static int parse_http(char *reply, size_t len, const char **ret_body, size_t *ret_len, char *why,
                      size_t why_len)
{
    char *head_end = memmem(reply, len, "\r\n\r\n", 4);
    if (len < 12 || strncmp(reply, "HTTP/1.", 7) != 0 || !head_end) {
        snprintf(why, why_len, "momd sent no valid HTTP response");
        return -EBADMSG;
    }
    *head_end = '\0';
    char *body = head_end + 4;
    size_t body_len = len - (size_t)(body - reply);
    int status = atoi(reply + 9);
    char *eol = strstr(reply, "\r\n");
    if (status != 200) {
        const char *reason = reply + 9;
        int rl = eol ? (int)(eol - reason) : (int)strlen(reason);
        snprintf(why, why_len, "<ProtocolError: %.*s>", rl, reason);
        return -EPROTO;
    }
    bool chunked = false;
    long clen = -1;
    for (char *h = eol ? eol + 2 : NULL; h && *h;) {
        char *next = strstr(h, "\r\n");
        if (next)
            *next = '\0';
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            clen = atol(h + 15);
        else if (strncasecmp(h, "Transfer-Encoding:", 18) == 0 && strcasestr(h + 18, "chunked"))
            chunked = true;
        h = next ? next + 2 : NULL;
    }
    if (chunked) {
        long n = dechunk(body, body_len);
        if (n < 0) {
            snprintf(why, why_len, "momd sent a malformed chunked body");
            return -EBADMSG;
        }
        body_len = (size_t)n;
    } else if (clen >= 0) {
        if ((size_t)clen > body_len) {
            snprintf(why, why_len, "momd's reply was cut short");
            return -EBADMSG;
        }
        body_len = (size_t)clen;
    }
    *ret_body = body;
    *ret_len = body_len;
    return 0;
}

int momctl_rpc_call(const char *socket_path, int port, double timeout, const char *method,
                    const mom_value *params, mom_value **ret_result, char *why, size_t why_len)
{
    rpc_opts target = {.socket = socket_path, .port = port, .timeout = timeout};
    const rpc_opts *o = &target;
    double deadline = now() + o->timeout;
    size_t doc_len = 0;
    char *doc = xmlrpc_format_call(method, params, &doc_len);
    char *req = NULL, *reply = NULL, *err = NULL;
    size_t reply_len = 0;
    int fd = -1, r;
    xmlrpc_response res = {false, NULL, 0, NULL};
    if (!method || (!socket_path && (port < 0 || port > 65535)) || !(timeout > 0)) {
        r = -EINVAL;
        snprintf(why, why_len, "invalid arguments");
        goto out;
    }
    if (!doc) {
        r = -ENOMEM;
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    req = mom_asprintf("POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: momctl/%s\r\n"
                       "Content-Type: text/xml\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                       MOM_VERSION_STRING, doc_len);
    if (!req) {
        r = -ENOMEM;
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    const char *where = o->socket ? o->socket : "127.0.0.1";
    if ((r = connect_momd(o, deadline, &fd)) < 0) {
        if (o->socket)
            snprintf(why, why_len, "cannot connect to %s: %s", where, strerror(-r));
        else
            snprintf(why, why_len, "cannot connect to 127.0.0.1:%d: %s", o->port, strerror(-r));
        goto out;
    }
    if ((r = send_all(fd, req, strlen(req), deadline)) < 0 ||
        (r = send_all(fd, doc, doc_len, deadline)) < 0 ||
        (r = recv_all(fd, &reply, &reply_len, deadline)) < 0) {
        if (r == -ETIMEDOUT)
            snprintf(why, why_len, "no answer from momd within %g s", o->timeout);
        else if (r == -EFBIG)
            snprintf(why, why_len, "momd's reply is larger than %u bytes", MAX_REPLY);
        else
            snprintf(why, why_len, "talking to momd: %s", strerror(-r));
        goto out;
    }
    const char *body;
    size_t body_len;
    if ((r = parse_http(reply, reply_len, &body, &body_len, why, why_len)) < 0)
        goto out;
    if ((r = xmlrpc_parse_response(body, body_len, &res, &err)) < 0) {
        snprintf(why, why_len, "momd sent an invalid XML-RPC reply: %s", err ? err : strerror(-r));
        goto out;
    }
    if (res.fault) {
        snprintf(why, why_len, "<Fault %lld: '%s'>", (long long)res.fault_code,
                 res.fault_string ? res.fault_string : "");
        r = -EREMOTEIO;
        goto out;
    }
    *ret_result = res.value;
    res.value = NULL;
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    xmlrpc_response_done(&res);
    mom_free(err);
    mom_free(reply);
    mom_free(req);
    mom_free(doc);
    return r;
}

/* momctl_rpc_call() for the target in the parsed options. */
static int rpc_call(const rpc_opts *o, const char *method, const mom_value *params,
                    mom_value **ret_result, char *why, size_t why_len)
{
    return momctl_rpc_call(o->socket, o->port, o->timeout, method, params, ret_result, why,
                           why_len);
}

/* ---- options --------------------------------------------------------------- */

static void common_help(FILE *f)
{
    fprintf(f,
            "\n"
            "Options:\n"
            "  -s, --socket PATH   momd's unix socket (default %s)\n"
            "  -p, --port N        momd's TCP port on localhost instead of the socket\n"
            "  -j, --json          print the result as JSON\n"
            "  -t, --timeout SEC   give up after SEC seconds (default 10)\n"
            "  -h, --help          show this help\n"
            "Exit status: 0 success, 1 the call failed, 2 wrong usage.\n",
            MOMCTL_DEFAULT_SOCKET);
}

/*
 * Parse the common options and the positional arguments of subcommand
 * `cmd` ("momctl policy set"): between min_args and max_args of them.
 * Returns -1 to go on, or an exit status (help printed, usage error).
 */
static int parse_opts(const char *cmd, const char *synopsis, const char *what, int argc,
                      char **argv, int min_args, int max_args, bool allow_delete, rpc_opts *o)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"port", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"delete", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->port = -1;
    o->timeout = 10;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":s:p:jt:h", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 's': o->socket = optarg; break;
        case 'p': {
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 0 || v > 65535)
                return momctl_usage_error(cmd, "invalid port '%s'", optarg);
            o->port = (int)v;
            break;
        }
        case 'j': o->json = true; break;
        case 't':
            errno = 0;
            o->timeout = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(o->timeout > 0) || o->timeout > 86400)
                return momctl_usage_error(cmd, "invalid timeout '%s'", optarg);
            break;
        case 'd':
            if (!allow_delete)
                return momctl_usage_error(cmd, "unknown option '--delete'");
            o->delete_ = true;
            break;
        case 'h':
            printf("Usage: %s %s\n\n%s\n", cmd, synopsis, what);
            if (allow_delete)
                printf("\n  --delete            remove the named policy instead\n");
            common_help(stdout);
            return MOMCTL_EXIT_OK;
        case ':': return momctl_usage_error(cmd, "option '%s' needs an argument", argv[optind - 1]);
        default:
            if (optopt)
                return momctl_usage_error(cmd, "unknown option '-%c'", optopt);
            return momctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    /* getopt_long() moved the operands to the end; options may come
     * before or after them, and "--" ends the options. */
    o->args = argv + optind;
    o->n_args = argc - optind;
    if (o->socket && o->port >= 0)
        return momctl_usage_error(cmd, "--socket and --port exclude each other");
    if (!o->socket && o->port < 0)
        o->socket = MOMCTL_DEFAULT_SOCKET;
    if (o->n_args < min_args)
        return momctl_usage_error(cmd, "missing argument; usage: %s %s", cmd, synopsis);
    if (o->n_args > max_args)
        return momctl_usage_error(cmd, "unexpected argument '%s'", o->args[max_args]);
    return -1;
}

/* ---- output ---------------------------------------------------------------- */

/* Print the result as JSON (--json). */
static int print_json(const char *cmd, const mom_value *v)
{
    char *js = value_to_json(v);
    if (!js)
        return failed(cmd, "out of memory");
    printf("%s\n", js);
    mom_free(js);
    return MOMCTL_EXIT_OK;
}

/* A value as Python's str() shows it: strings bare, the rest in Python
 * notation. */
static char *display(const mom_value *v)
{
    if (mom_value_type_of(v) == MOM_VALUE_STRING)
        return mom_strdup(mom_value_string(v));
    return value_to_python(v);
}

/* "key: value" lines, indented, values aligned after the longest key. */
static int print_block(const char *cmd, const char *title, const mom_value *map)
{
    printf("%s\n", title);
    size_t width = 0, n = mom_value_len(map);
    if (mom_value_type_of(map) != MOM_VALUE_MAP)
        n = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(mom_value_key_at(map, i));
        if (l > width)
            width = l;
    }
    for (size_t i = 0; i < n; i++) {
        const char *k = mom_value_key_at(map, i);
        char *val = display(mom_value_at(map, i));
        if (!val)
            return failed(cmd, "out of memory");
        printf("    %s:%*s %s\n", k, (int)(width - strlen(k)), "", val);
        mom_free(val);
    }
    return MOMCTL_EXIT_OK;
}

/* ---- subcommands ------------------------------------------------------------ */

/* Call a method without arguments; the result or an exit status. */
static int simple_call(const char *cmd, const rpc_opts *o, const char *method, mom_value **ret)
{
    char why[1024];
    if (rpc_call(o, method, NULL, ret, why, sizeof(why)) < 0)
        return failed(cmd, "%s", why);
    return -1;
}

int momctl_rpc_ping(int argc, char **argv)
{
    static const char *const cmd = "momctl ping";
    rpc_opts o;
    int rc = parse_opts(cmd, "[OPTIONS]", "Ask momd whether its engine runs; prints OK.", argc,
                        argv, 0, 0, false, &o);
    if (rc >= 0)
        return rc;
    mom_value *v = NULL;
    if ((rc = simple_call("ping", &o, "ping", &v)) >= 0)
        return rc;
    rc = MOMCTL_EXIT_OK;
    bool up = mom_value_type_of(v) == MOM_VALUE_BOOL && mom_value_bool(v);
    if (o.json)
        print_json("ping", v);
    else if (up)
        printf("OK\n");
    rc = up ? MOMCTL_EXIT_OK : failed("ping", "momd answered that its engine is not running");
    mom_value_unref(v);
    return rc;
}

int momctl_rpc_stats(int argc, char **argv)
{
    static const char *const cmd = "momctl stats";
    rpc_opts o;
    int rc = parse_opts(cmd, "[OPTIONS]",
                        "Print momd's latest statistics: a Host: block, then a Guest NAME:\n"
                        "block for each guest that has statistics.",
                        argc, argv, 0, 0, false, &o);
    if (rc >= 0)
        return rc;
    mom_value *v = NULL;
    if ((rc = simple_call("stats", &o, "getStatistics", &v)) >= 0)
        return rc;
    rc = MOMCTL_EXIT_OK;
    const mom_value *host = mom_value_get(v, "host");
    const mom_value *guests = mom_value_get(v, "guests");
    if (mom_value_type_of(v) != MOM_VALUE_MAP || !host || !guests ||
        mom_value_type_of(guests) != MOM_VALUE_MAP) {
        rc = failed("stats", "momd sent statistics of an unexpected shape");
    } else if (o.json) {
        rc = print_json("stats", v);
    } else {
        rc = print_block("stats", "Host:", host);
        for (size_t i = 0; rc == 0 && i < mom_value_len(guests); i++) {
            char *title = mom_asprintf("Guest %s:", mom_value_key_at(guests, i));
            rc = title ? print_block("stats", title, mom_value_at(guests, i))
                       : failed("stats", "out of memory");
            mom_free(title);
        }
    }
    mom_value_unref(v);
    return rc;
}

int momctl_rpc_guests(int argc, char **argv)
{
    static const char *const cmd = "momctl guests";
    rpc_opts o;
    int rc = parse_opts(cmd, "[OPTIONS]",
                        "Print the names of the guests that momd has statistics for, one per line.",
                        argc, argv, 0, 0, false, &o);
    if (rc >= 0)
        return rc;
    mom_value *v = NULL;
    if ((rc = simple_call("guests", &o, "getActiveGuests", &v)) >= 0)
        return rc;
    rc = MOMCTL_EXIT_OK;
    if (mom_value_type_of(v) != MOM_VALUE_LIST) {
        rc = failed("guests", "momd sent a guest list of an unexpected shape");
    } else if (o.json) {
        rc = print_json("guests", v);
    } else {
        for (size_t i = 0; i < mom_value_len(v); i++) {
            char *s = display(mom_value_at(v, i));
            if (!s) {
                rc = failed("guests", "out of memory");
                break;
            }
            printf("%s\n", s);
            mom_free(s);
        }
    }
    mom_value_unref(v);
    return rc;
}

/* The levels the original client accepts for --set-verbosity. */
static bool valid_level(const char *s)
{
    static const char *const levels[] = {"1",     "2",    "3",    "4",     "5",
                                         "debug", "info", "warn", "error", "critical"};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcmp(s, levels[i]) == 0)
            return true;
    return false;
}

/* A LIST value of string arguments; NULL entries become nil. */
static mom_value *make_params(const char *const *args, size_t n)
{
    mom_value *l = value_new_list();
    for (size_t i = 0; l && i < n; i++) {
        mom_value *item = args[i] ? value_new_string(args[i]) : value_new_none();
        if (value_list_append(l, item) < 0) {
            mom_value_unref(l);
            l = NULL;
        }
    }
    return l;
}

/* Call a method with string arguments (NULL = nil); the result or an exit
 * status. */
static int args_call(const char *cmd, const rpc_opts *o, const char *method,
                     const char *const *args, size_t n, mom_value **ret)
{
    char why[1024];
    mom_value *params = make_params(args, n);
    if (!params)
        return failed(cmd, "out of memory");
    int r = rpc_call(o, method, params, ret, why, sizeof(why));
    mom_value_unref(params);
    if (r < 0)
        return failed(cmd, "%s", why);
    return -1;
}

int momctl_rpc_verbosity(int argc, char **argv)
{
    static const char *const cmd = "momctl verbosity";
    rpc_opts o;
    int rc = parse_opts(cmd, "[OPTIONS] LEVEL",
                        "Set momd's log verbosity: debug, info, warn, error, critical, or 5 to 1.",
                        argc, argv, 1, 1, false, &o);
    if (rc >= 0)
        return rc;
    if (!valid_level(o.args[0]))
        return momctl_usage_error(cmd,
                                  "unknown level '%s' (debug, info, warn, error, "
                                  "critical or 5 to 1)",
                                  o.args[0]);
    const char *args[] = {o.args[0]};
    mom_value *v = NULL;
    if ((rc = args_call("verbosity", &o, "setVerbosity", args, 1, &v)) >= 0)
        return rc;
    rc = MOMCTL_EXIT_OK;
    rc = o.json ? print_json("verbosity", v) : MOMCTL_EXIT_OK;
    mom_value_unref(v);
    return rc;
}

/* ---- policy subcommands ---------------------------------------------------- */

/* Read a policy file ("-" is standard input) into a new string. */
static int read_policy(const char *cmd, const char *path, char **ret)
{
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return failed(cmd, "%s: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = mom_malloc(cap);
    int rc = -1;
    while (buf) {
        if (len + 1 >= cap) {
            char *p = cap >= MAX_POLICY ? NULL : mom_realloc(buf, cap * 2);
            if (!p) {
                rc = failed(cmd, "%s: %s", path,
                            cap >= MAX_POLICY ? "larger than the server accepts" : "out of memory");
                break;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = failed(cmd, "%s: %s", path, strerror(errno));
            break;
        }
        if (n == 0) {
            buf[len] = '\0';
            *ret = buf;
            close(fd);
            return -1;
        }
        len += (size_t)n;
    }
    if (!buf)
        rc = failed(cmd, "out of memory");
    mom_free(buf);
    close(fd);
    return rc;
}

/* A boolean policy result: true is success, false means momd refused. */
static int policy_bool(const char *cmd, const rpc_opts *o, const mom_value *v)
{
    if (o->json)
        print_json(cmd, v);
    if (mom_value_type_of(v) == MOM_VALUE_BOOL && mom_value_bool(v))
        return MOMCTL_EXIT_OK;
    return failed(cmd, "momd did not accept the policy; the running policy stays (momd's log "
                       "says why; check it locally with 'momctl policy check')");
}

static int policy_get(int argc, char **argv)
{
    rpc_opts o;
    int rc = parse_opts("momctl policy get", "[OPTIONS]",
                        "Print momd's policy set as one text (\"0\" when it is empty).", argc, argv,
                        0, 0, false, &o);
    if (rc >= 0)
        return rc;
    mom_value *v = NULL;
    if ((rc = simple_call("policy get", &o, "getPolicy", &v)) >= 0)
        return rc;
    rc = MOMCTL_EXIT_OK;
    if (o.json) {
        rc = print_json("policy get", v);
    } else if (mom_value_type_of(v) != MOM_VALUE_STRING) {
        rc = failed("policy get", "momd sent a policy that is not text");
    } else {
        const char *s = mom_value_string(v);
        size_t n = mom_value_len(v);
        fwrite(s, 1, n, stdout);
        if (n == 0 || s[n - 1] != '\n')
            putchar('\n');
    }
    mom_value_unref(v);
    return rc;
}

static int policy_set(int argc, char **argv)
{
    rpc_opts o;
    int rc = parse_opts("momctl policy set", "[OPTIONS] FILE",
                        "Replace every policy of momd by the text of FILE (- for standard input).\n"
                        "momd keeps its running policy when the text does not load.",
                        argc, argv, 1, 1, false, &o);
    if (rc >= 0)
        return rc;
    char *text = NULL;
    if ((rc = read_policy("policy set", o.args[0], &text)) >= 0)
        return rc;
    const char *args[] = {text};
    mom_value *v = NULL;
    rc = args_call("policy set", &o, "setPolicy", args, 1, &v);
    mom_free(text);
    if (rc >= 0)
        return rc;
    rc = policy_bool("policy set", &o, v);
    mom_value_unref(v);
    return rc;
}

static int policy_set_named(int argc, char **argv)
{
    rpc_opts o;
    int rc = parse_opts("momctl policy set-named", "[OPTIONS] NAME FILE | --delete NAME",
                        "Store the text of FILE (- for standard input) as momd's policy NAME,\n"
                        "or remove NAME with --delete.  The set runs in name order.",
                        argc, argv, 1, 2, true, &o);
    if (rc >= 0)
        return rc;
    if (o.delete_ != (o.n_args == 1))
        return momctl_usage_error("momctl policy set-named", o.delete_
                                                                 ? "--delete takes only NAME"
                                                                 : "missing FILE (or --delete)");
    char *text = NULL;
    if (!o.delete_ && (rc = read_policy("policy set-named", o.args[1], &text)) >= 0)
        return rc;
    const char *args[] = {o.args[0], text};
    mom_value *v = NULL;
    rc = args_call("policy set-named", &o, "setNamedPolicy", args, 2, &v);
    mom_free(text);
    if (rc >= 0)
        return rc;
    rc = policy_bool("policy set-named", &o, v);
    mom_value_unref(v);
    return rc;
}

static int policy_list(int argc, char **argv)
{
    rpc_opts o;
    int rc = parse_opts("momctl policy list", "[OPTIONS]",
                        "Print the names of momd's policies, in the order they run\n"
                        "(--json: an object of name and text).",
                        argc, argv, 0, 0, false, &o);
    if (rc >= 0)
        return rc;
    mom_value *v = NULL;
    if ((rc = simple_call("policy list", &o, "getNamedPolicies", &v)) >= 0)
        return rc;
    rc = MOMCTL_EXIT_OK;
    if (mom_value_type_of(v) != MOM_VALUE_MAP) {
        rc = failed("policy list", "momd sent policies of an unexpected shape");
    } else if (o.json) {
        rc = print_json("policy list", v);
    } else {
        /* Names in byte order: the order the set runs in. */
        size_t n = mom_value_len(v);
        const char **names = mom_calloc(n ? n : 1, sizeof(*names));
        if (!names) {
            rc = failed("policy list", "out of memory");
        } else {
            for (size_t i = 0; i < n; i++)
                names[i] = mom_value_key_at(v, i);
            for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
                    const char *t = names[j];
                    names[j] = names[j - 1];
                    names[j - 1] = t;
                }
            for (size_t i = 0; i < n; i++)
                printf("%s\n", names[i]);
            mom_free(names);
        }
    }
    mom_value_unref(v);
    return rc;
}

static int policy_reset(int argc, char **argv)
{
    rpc_opts o;
    int rc = parse_opts("momctl policy reset", "[OPTIONS]",
                        "Make momd reload its policies from its policy or policy-dir.", argc, argv,
                        0, 0, false, &o);
    if (rc >= 0)
        return rc;
    mom_value *v = NULL;
    if ((rc = simple_call("policy reset", &o, "resetPolicies", &v)) >= 0)
        return rc;
    rc = MOMCTL_EXIT_OK;
    if (o.json)
        print_json("policy reset", v);
    if (mom_value_type_of(v) == MOM_VALUE_NONE)
        rc = failed("policy reset", "momd has neither policy nor policy-dir configured");
    else if (mom_value_type_of(v) == MOM_VALUE_BOOL && mom_value_bool(v))
        rc = MOMCTL_EXIT_OK;
    else
        rc = failed("policy reset", "momd could not load its policies; the running policy "
                                    "stays (momd's log says why)");
    mom_value_unref(v);
    return rc;
}

static const momctl_cmd policy_rpc_cmds[] = {
    {"get", policy_get, "", "print momd's policy set as one text"},
    {"set", policy_set, "FILE", "replace all of momd's policies by FILE"},
    {"set-named", policy_set_named, "NAME FILE|--delete NAME", "set or remove one named policy"},
    {"list", policy_list, "", "list momd's named policies"},
    {"reset", policy_reset, "", "reload momd's policy or policy-dir"},
};
#define N_POLICY_RPC_CMDS (sizeof(policy_rpc_cmds) / sizeof(policy_rpc_cmds[0]))

int momctl_rpc_policy_main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        int rc = momctl_policy_main(argc, argv);
        printf("\nThe commands above work locally, without momd.  These talk to a running\n"
               "momd (options --socket PATH or --port N, --json, --timeout SEC):\n");
        momctl_print_cmds(stdout, "", policy_rpc_cmds, N_POLICY_RPC_CMDS);
        printf("\nRun 'momctl policy COMMAND --help' for the options of a command.\n");
        return rc;
    }
    if (argc >= 2) {
        const momctl_cmd *c = momctl_find_cmd(policy_rpc_cmds, N_POLICY_RPC_CMDS, argv[1]);
        if (c)
            return c->run(argc - 1, argv + 1);
    }
    return momctl_policy_main(argc, argv);
}
