/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC server (see server.h): libmicrohttpd in threads of its own, on a
 * listening socket that we create ourselves, so that we choose where it is
 * bound (127.0.0.1 only, or a unix socket path with our mode and group).
 *
 * Every HTTP request goes through on_request(): the peer is checked
 * (loopback for TCP, SO_PEERCRED for the unix socket), then the method,
 * path and size, and the body is handed to dispatch_request().  Anything
 * malformed gets an HTTP error status; the connection never takes the
 * server down.
 */
#include "rpc/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <microhttpd.h>

#include "core/alloc.h"
#include "rpc/dispatch.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define LOGGER "mom.RPCServer"

/* Limits.  A request body holds one XML-RPC call: policies are the largest
 * thing a client sends. */
#define MAX_BODY (4u * 1024u * 1024u)
#define MAX_HEADERS 64
#define CONN_MEMORY (64u * 1024u) /* per connection: request line and headers */
#define CONN_LIMIT 64u
#define CONN_TIMEOUT_S 10u
#define POOL_THREADS 2u
#define REQUEST_TIME_S 30 /* from the end of the headers to the end of the body */

struct rpcserver {
    mom_engine *engine;
    const mlog *log;
    struct MHD_Daemon *mhd;
    bool is_unix;
    char *path; /* unix socket path, removed at stop */
    int port;   /* TCP port, or -1 */
    gid_t group;
    uid_t *allow;
    size_t n_allow;
};

/* Per-request state, from the first call of on_request() to completion. */
typedef struct request {
    unsigned status; /* an HTTP error decided early, or 0 */
    time_t start;    /* CLOCK_MONOTONIC seconds at the end of the headers */
    char *body;
    size_t len, cap;
} request;

/* ---- peer checks ------------------------------------------------------- */

static bool in_groups(const gid_t *groups, size_t n, gid_t g)
{
    for (size_t i = 0; i < n; i++)
        if (groups[i] == g)
            return true;
    return false;
}

/* Supplementary groups from /proc/PID/status ("Groups:" line), for kernels
 * without SO_PEERGROUPS. */
static bool proc_groups_include(pid_t pid, gid_t g)
{
    char path[64], line[4096];
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool found = false;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Groups:", 7) != 0)
            continue;
        char *p = line + 7, *end;
        for (;;) {
            errno = 0;
            unsigned long v = strtoul(p, &end, 10);
            if (end == p || errno)
                break;
            if ((gid_t)v == g)
                found = true;
            p = end;
        }
        break;
    }
    fclose(f);
    return found;
}

/*
 * Is the peer on the unix socket `fd` allowed?  Its uid must be listed in
 * rpc-allow-uids, or its primary or a supplementary group must be
 * rpc-socket-group.  The credentials are the kernel's (SO_PEERCRED and
 * SO_PEERGROUPS), taken when the peer connected.
 */
static bool peer_allowed(const rpcserver *s, int fd, struct ucred *ret_cred)
{
    struct ucred cr;
    socklen_t l = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
        return false;
    *ret_cred = cr;
    for (size_t i = 0; i < s->n_allow; i++)
        if (s->allow[i] == cr.uid)
            return true;
    if (cr.gid == s->group)
        return true;
    gid_t small[64];
    gid_t *groups = small;
    socklen_t gl = sizeof(small);
    int r = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl);
    if (r < 0 && errno == ERANGE && gl > sizeof(small)) {
        groups = mom_malloc(gl);
        if (!groups)
            return false;
        r = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl);
    }
    bool ok;
    if (r == 0)
        ok = in_groups(groups, gl / sizeof(gid_t), s->group);
    else
        ok = proc_groups_include(cr.pid, s->group);
    if (groups != small)
        mom_free(groups);
    return ok;
}

static bool is_loopback(const struct sockaddr *sa, socklen_t len)
{
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

/* MHD's accept policy: TCP peers must be on the loopback network; unix
 * socket peers are checked per request (MHD gives no fd here). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    const rpcserver *s = cls;
    if (s->is_unix)
        return MHD_YES;
    if (is_loopback(addr, addrlen))
        return MHD_YES;
    mlog_msg(s->log, MOM_LOG_WARN, LOGGER, "refused a connection from a non-local address");
    return MHD_NO;
}

/* ---- responses --------------------------------------------------------- */

static const char *status_text(unsigned status)
{
    switch (status) {
    case MHD_HTTP_BAD_REQUEST: return "Bad Request";
    case MHD_HTTP_FORBIDDEN: return "Forbidden";
    case MHD_HTTP_NOT_FOUND: return "Not Found";
    case MHD_HTTP_CONTENT_TOO_LARGE: return "Payload Too Large";
    case MHD_HTTP_UNSUPPORTED_MEDIA_TYPE: return "Unsupported Media Type";
    case MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE: return "Request Header Fields Too Large";
    case MHD_HTTP_NOT_IMPLEMENTED: return "Not Implemented";
    default: return "Internal Server Error";
    }
}

/* Queue a short text/plain error response; the connection is closed after
 * it, since the rest of the request may not have been read. */
static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status)
{
    char *text = mom_asprintf("%u %s\n", status, status_text(status));
    if (!text)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(strlen(text), text, mom_free);
    if (!resp) {
        mom_free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (status == MHD_HTTP_NOT_IMPLEMENTED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result reply_xml(struct MHD_Connection *conn, char *doc, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, doc, mom_free);
    if (!resp) {
        mom_free(doc);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/xml");
    enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return r;
}

/* ---- requests ---------------------------------------------------------- */

/*
 * The checks made once the request line and headers are in: who the peer
 * is, the HTTP method, the path, the header count, the declared size and
 * encoding.  Returns 0 or the HTTP status to refuse with.
 */
static unsigned check_request(const rpcserver *s, struct MHD_Connection *conn, const char *url,
                              const char *method)
{
    if (s->is_unix) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct ucred cr = {0, 0, 0};
        if (!ci || !peer_allowed(s, ci->connect_fd, &cr)) {
            mlog_msg(s->log, MOM_LOG_WARN, LOGGER,
                     "refused a request from pid %ld uid %ld gid %ld: not allowed by "
                     "rpc-allow-uids or rpc-socket-group",
                     (long)cr.pid, (long)cr.uid, (long)cr.gid);
            return MHD_HTTP_FORBIDDEN;
        }
    } else {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        socklen_t len = sa && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                        : sizeof(struct sockaddr_in);
        if (!is_loopback(sa, len))
            return MHD_HTTP_FORBIDDEN;
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return MHD_HTTP_NOT_IMPLEMENTED;
    /* The original serves /RPC2 over TCP and also / on the unix socket. */
    if (strcmp(url, "/RPC2") != 0 && !(s->is_unix && strcmp(url, "/") == 0))
        return MHD_HTTP_NOT_FOUND;
    if (MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL) > MAX_HEADERS)
        return MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE;
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > MAX_BODY)
            return MHD_HTTP_CONTENT_TOO_LARGE;
    }
    const char *ce =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (ce && strcasecmp(ce, "identity") != 0)
        return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
    return 0;
}

static time_t monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Append upload data to the request body; false when it would pass the
 * size limit. */
static bool body_append(request *rq, const char *data, size_t n)
{
    if (n > MAX_BODY - rq->len)
        return false;
    if (rq->len + n + 1 > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 4096;
        while (cap < rq->len + n + 1)
            cap *= 2;
        char *p = mom_realloc(rq->body, cap);
        if (!p)
            return false;
        rq->body = p;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    rq->body[rq->len] = '\0';
    return true;
}

/* MHD's access handler: called once when the headers are in, then for
 * each piece of the body, then once more with no data at the end. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    rpcserver *s = cls;
    request *rq = *con_cls;
    (void)version;
    if (!rq) {
        rq = mom_calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        rq->start = monotonic_s();
        rq->status = check_request(s, conn, url, method);
        /* A declared size past the limit is refused at once.  Other
         * refusals wait for the (bounded) body, so that the client reads
         * the status instead of a reset connection. */
        if (rq->status == MHD_HTTP_CONTENT_TOO_LARGE)
            return reply_error(conn, rq->status);
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        /* The connection timeout only bounds the pauses; a client that
         * trickles its body gets REQUEST_TIME_S in all. */
        if (monotonic_s() - rq->start > REQUEST_TIME_S) {
            mlog_msg(s->log, MOM_LOG_DEBUG, LOGGER, "request body took longer than %d s",
                     REQUEST_TIME_S);
            return MHD_NO;
        }
        if (rq->status) {
            /* Dropping a refused request's body, up to the same limit. */
            if (n > MAX_BODY - rq->len)
                return MHD_NO;
            rq->len += n;
            return MHD_YES;
        }
        if (!body_append(rq, upload_data, n)) {
            /* A chunked body past the limit: close the connection (MHD
             * cannot answer in the middle of a body). */
            mlog_msg(s->log, MOM_LOG_DEBUG, LOGGER, "request body larger than %u bytes", MAX_BODY);
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (rq->status)
        return reply_error(conn, rq->status);
    size_t len = 0;
    char *doc = dispatch_request(s->engine, s->log, rq->body ? rq->body : "", rq->len, &len);
    if (!doc)
        return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR);
    return reply_xml(conn, doc, len);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request *rq = *con_cls;
    if (!rq)
        return;
    mom_free(rq->body);
    mom_free(rq);
    *con_cls = NULL;
}

/* MHD's own diagnostics (mostly about misbehaving clients): debug level,
 * so a client cannot flood the log. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    const rpcserver *s = cls;
    if (!mlog_enabled(s->log, MOM_LOG_DEBUG))
        return;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    mlog_msg(s->log, MOM_LOG_DEBUG, LOGGER, "http: %s", buf);
}

/* ---- listening sockets ------------------------------------------------- */

/* A TCP socket listening on 127.0.0.1:port. */
static int listen_tcp(rpcserver *s, int port, int *ret_fd)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = 0;
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 64) < 0) {
        r = -errno;
        mlog_msg(s->log, MOM_LOG_ERROR, LOGGER, "cannot listen on 127.0.0.1:%d: %s", port,
                 strerror(-r));
        close(fd);
        return r;
    }
    socklen_t l = sizeof(sin);
    if (getsockname(fd, (struct sockaddr *)&sin, &l) == 0)
        s->port = ntohs(sin.sin_port);
    else
        s->port = port;
    *ret_fd = fd;
    return 0;
}

/*
 * A unix socket listening at `path`: an old socket there is removed, the
 * missing parent directory is created (0755), the socket gets mode 0660
 * and group s->group.  A path that exists and is not a socket is left
 * alone (-EEXIST).
 */
static int listen_unix(rpcserver *s, const char *path, int *ret_fd)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        mlog_msg(s->log, MOM_LOG_ERROR, LOGGER, "rpc-port: socket path longer than %zu bytes: %s",
                 sizeof(sun.sun_path) - 1, path);
        return -ENAMETOOLONG;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            mlog_msg(s->log, MOM_LOG_ERROR, LOGGER,
                     "rpc-port: %s exists and is not a socket; not replacing it", path);
            return -EEXIST;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            int r = -errno;
            mlog_msg(s->log, MOM_LOG_ERROR, LOGGER, "cannot remove the old socket %s: %s", path,
                     strerror(-r));
            return r;
        }
    } else {
        /* Create the directory that holds the socket when it is missing
         * (one level, as systemd's RuntimeDirectory would). */
        char *dir = mom_strdup(path);
        if (!dir)
            return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                mlog_msg(s->log, MOM_LOG_WARN, LOGGER, "cannot create %s: %s", dir,
                         strerror(errno));
        }
        mom_free(dir);
    }

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int r = 0;
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        r = -errno;
        mlog_msg(s->log, MOM_LOG_ERROR, LOGGER, "cannot bind the RPC socket %s: %s", path,
                 strerror(-r));
        goto fail;
    }
    /* Until chmod the socket may be reachable with the umask's mode; the
     * peer check on every request keeps that window closed. */
    if (chmod(path, 0660) < 0) {
        r = -errno;
        mlog_msg(s->log, MOM_LOG_ERROR, LOGGER, "cannot chmod the RPC socket %s: %s", path,
                 strerror(-r));
        goto fail_unlink;
    }
    if (chown(path, (uid_t)-1, s->group) < 0) {
        if (lstat(path, &st) < 0 || st.st_gid != s->group)
            mlog_msg(s->log, MOM_LOG_WARN, LOGGER,
                     "cannot give the RPC socket %s group %ld: %s (the peer check still "
                     "applies)",
                     path, (long)s->group, strerror(errno));
    }
    if (listen(fd, 64) < 0) {
        r = -errno;
        mlog_msg(s->log, MOM_LOG_ERROR, LOGGER, "cannot listen on %s: %s", path, strerror(-r));
        goto fail_unlink;
    }
    *ret_fd = fd;
    return 0;
fail_unlink:
    unlink(path);
fail:
    close(fd);
    return r;
}

/* ---- configuration ----------------------------------------------------- */

/* rpc-socket-group: a group name or number; empty is root's group. */
static int parse_group(const rpcserver *s, const char *text, gid_t *ret)
{
    if (!text || !*text) {
        *ret = 0;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (!errno && *end == '\0' && text[0] >= '0' && text[0] <= '9') {
        *ret = (gid_t)v;
        return 0;
    }
    struct group gr, *res = NULL;
    char buf[4096];
    int r = getgrnam_r(text, &gr, buf, sizeof(buf), &res);
    if (r != 0 || !res) {
        mlog_msg(s->log, MOM_LOG_ERROR, LOGGER, "rpc-socket-group: unknown group '%s'", text);
        return -EINVAL;
    }
    *ret = res->gr_gid;
    return 0;
}

/* rpc-allow-uids: a comma-separated list of uids. */
static int parse_uids(rpcserver *s, const conf *c)
{
    const char *const *items = NULL;
    size_t n = 0;
    int r = conf_get_list(c, "main", "rpc-allow-uids", &items, &n);
    if (r < 0)
        return r;
    if (n == 0)
        return 0;
    s->allow = mom_calloc(n, sizeof(uid_t));
    if (!s->allow)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(items[i], &end, 10);
        if (errno || end == items[i] || *end || items[i][0] == '-') {
            mlog_msg(s->log, MOM_LOG_ERROR, LOGGER, "rpc-allow-uids: invalid uid '%s'", items[i]);
            return -EINVAL;
        }
        s->allow[s->n_allow++] = (uid_t)v;
    }
    return 0;
}

/* rpc-port: *ret_port >= 0 for TCP, -1 for off, -2 for a unix socket
 * path (anything that is not an integer). */
static int parse_port(const rpcserver *s, const char *text, long *ret_port)
{
    const char *p = text ? text : "-1";
    while (*p == ' ' || *p == '\t')
        p++;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (end == p || *end) {
        *ret_port = -2;
        return 0;
    }
    if (errno || v > 65535) {
        mlog_msg(s->log, MOM_LOG_ERROR, LOGGER, "rpc-port: %s is not a TCP port", p);
        return -EINVAL;
    }
    *ret_port = v < 0 ? -1 : v;
    return 0;
}

/* ---- start and stop ---------------------------------------------------- */

int rpcserver_start(mom_engine *e, const conf *c, const mlog *log, rpcserver **ret)
{
    if (!e || !c || !ret)
        return -EINVAL;
    *ret = NULL;
    rpcserver *s = mom_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->engine = e;
    s->log = log;
    s->port = -1;
    int fd = -1, r;
    const char *port_text = conf_get(c, "main", "rpc-port");
    long port;
    if ((r = parse_port(s, port_text, &port)) < 0)
        goto fail;
    if (port == -1) {
        mom_free(s);
        return 0;
    }
    if ((r = parse_group(s, conf_get(c, "main", "rpc-socket-group"), &s->group)) < 0 ||
        (r = parse_uids(s, c)) < 0)
        goto fail;

    /* libxml2 must be initialised once before threads use it. */
    xmlInitParser();

    if (port >= 0) {
        r = listen_tcp(s, (int)port, &fd);
    } else {
        s->is_unix = true;
        const char *p = port_text;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!(s->path = mom_strdup(p))) {
            r = -ENOMEM;
            goto fail;
        }
        r = listen_unix(s, s->path, &fd);
    }
    if (r < 0)
        goto fail;

    /* Remember which socket this is: when MHD fails to start, it has
     * closed the socket on some paths and not on others. */
    struct stat fd_st;
    if (fstat(fd, &fd_st) < 0) {
        r = -errno;
        close(fd);
        goto fail;
    }
    s->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0, on_accept, s,
        on_request, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, POOL_THREADS,
        MHD_OPTION_CONNECTION_LIMIT, CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_END);
    if (!s->mhd) {
        r = -EIO;
        mlog_msg(log, MOM_LOG_ERROR, LOGGER, "cannot start the HTTP server");
        struct stat now_st;
        if (fstat(fd, &now_st) == 0 && now_st.st_dev == fd_st.st_dev &&
            now_st.st_ino == fd_st.st_ino)
            close(fd);
        if (s->is_unix)
            unlink(s->path);
        goto fail;
    }
    if (s->is_unix)
        mlog_msg(log, MOM_LOG_INFO, LOGGER, "RPC server listening on %s", s->path);
    else
        mlog_msg(log, MOM_LOG_INFO, LOGGER, "RPC server listening on 127.0.0.1:%d", s->port);
    *ret = s;
    return 0;
fail:
    mom_free(s->allow);
    mom_free(s->path);
    mom_free(s);
    return r;
}

void rpcserver_stop(rpcserver *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd); /* closes the listening socket too */
    if (s->is_unix && s->path)
        unlink(s->path);
    mom_free(s->allow);
    mom_free(s->path);
    mom_free(s);
}

int rpcserver_port(const rpcserver *s)
{
    return s && !s->is_unix ? s->port : -1;
}
