/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for what a QEMU monitor sends: the input is the byte
 * stream of the server side of one QMP connection (greeting, replies,
 * events).  The client negotiates capabilities and runs the commands the
 * QMP backend uses, in the backend's order, so replies with ids 1, 2, ...
 * in the input answer them; every "return" also goes through the
 * guest-stats conversion.  The same bytes are read as a NAME.json policy.
 * Crashes, sanitizer reports and leaks are what the fuzzer looks for.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hv/qmp.h"
#include "hv/qmp_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_event(const char *event, json_t *d, void *userdata)
{
    int64_t v;
    (void)event;
    (void)userdata;
    (void)qmpc_json_int(json_object_get(d, "actual"), &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* More than a socket buffer would block the single-threaded writer. */
    if (size > 65536)
        return 0;
    qmp_policy pol;
    char err[128];
    (void)qmp_policy_parse((const char *)data, size, &pol, err, sizeof(err));
    qmp_policy_done(&pol);

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t w = send(sv[1], data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(sv[1], SHUT_WR);
    qmpc *c = NULL;
    if (qmpc_open_fd(sv[0], now_s() + 0.5, on_event, NULL, &c) == 0) {
        static const char *const cmds[] = {"query-name", "query-uuid", "qom-list", "qom-set",
                                           "qom-get", "query-balloon",
                                           "query-memory-size-summary", "balloon",
                                           "query-cpus-fast", "query-block"};
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
            json_t *ret = NULL;
            int r = qmpc_call(c, cmds[i], NULL, now_s() + 0.5, &ret);
            if (r == 0) {
                mom_hv_memory_stats st = {.size = sizeof(st)};
                (void)qmp_stats_from_json(ret, &st);
                int64_t v;
                (void)qmpc_json_int(json_object_get(ret, "actual"), &v);
            }
            json_decref(ret);
            (void)qmpc_error_class(c);
            if (qmpc_broken(c))
                break;
        }
        (void)qmpc_pump(c);
        qmpc_free(c);
    }
    close(sv[1]);
    return 0;
}
