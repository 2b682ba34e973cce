/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for what guest agents send.  The first byte picks the
 * agent:
 *  - even: the oVirt guest agent.  The rest is the byte stream the
 *    GuestAgent collector reads from the guest's channel (JSON lines);
 *    the collector connects to a listening socket, the input is written to
 *    it and the writer closes, so the collector sees the data and then the
 *    end of the channel.
 *  - odd: the QEMU guest agent through the hypervisor transport.  The rest
 *    is split at newlines; each line is the reply to the next command
 *    GuestQemuAgent sends (guest-ping, guest-file-open/read/close...).
 * Crashes, sanitizer reports and leaks are what the fuzzer looks for.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/api.h"
#include "core/config.h"
#include "core/hv.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/sample.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UUID "5f7c4a8e-1111-4222-8333-944455556666"

static struct {
    bool ready;
    char dir[64];
    int lfd;
    conf *c;
    mlog log;
    mom_hv_ops ops;
    hv h;
    api_env env;
    /* the qemu-ga replies of the current input */
    const char *rest;
    size_t left;
} fx;

static void report(mom_log_level level, const char *msg, void *userdata)
{
    (void)level;
    (void)msg;
    (void)userdata;
}

/* Each call answers with the next line of the input. */
static int agent_cmd(const char *id, const char *command, int timeout_s, char **ret_reply,
                     void *userdata)
{
    (void)id;
    (void)command;
    (void)timeout_s;
    (void)userdata;
    if (fx.left == 0)
        return -EIO;
    const char *nl = memchr(fx.rest, '\n', fx.left);
    size_t n = nl ? (size_t)(nl - fx.rest) : fx.left;
    /* The engine copies the reply at once: a static buffer does, and
     * free_reply has nothing to release. */
    static char reply[65536];
    memcpy(reply, fx.rest, n);
    reply[n] = '\0';
    *ret_reply = reply;
    fx.rest += nl ? n + 1 : n;
    fx.left -= nl ? n + 1 : n;
    return 0;
}

static void free_reply(char *reply, void *userdata)
{
    (void)reply;
    (void)userdata;
}

static void setup(void)
{
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/fuzz_agent.XXXXXX");
    if (!mkdtemp(fx.dir))
        abort();
    char text[512];
    snprintf(text, sizeof(text),
             "[guest]\ncollectors: GuestAgent, GuestQemuAgent\n[Collector: GuestAgent]\n"
             "socket_path: %s\n",
             fx.dir);
    if (conf_load_text("fuzz.conf", text, strlen(text), NULL, 0, report, NULL, &fx.c) != 0)
        abort();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char path[200];
    snprintf(path, sizeof(path), "%s/%s.ovirt-guest-agent.0", fx.dir, UUID);
    if (strlen(path) >= sizeof(sa.sun_path))
        abort();
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fx.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fx.lfd < 0 || bind(fx.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fx.lfd, 4) < 0)
        abort();
    mlog_init(&fx.log, NULL, NULL, MOM_LOG_DEBUG);
    fx.ops.size = sizeof(fx.ops);
    fx.ops.qemu_agent_command = agent_cmd;
    fx.ops.free_reply = free_reply;
    hv_init_embedded(&fx.h, &fx.ops, NULL);
    api_env_init(&fx.env, fx.c, &fx.log, &fx.h);
    fx.ready = true;
}

/* One collector instance: init, `rounds` collections (with `between` run
 * after the first), fini. */
static void run(const mom_collector *col, int rounds, void (*between)(const uint8_t *, size_t),
                const uint8_t *data, size_t size)
{
    mom_entity ent;
    if (entity_init(&ent, &fx.env, MOM_ENTITY_GUEST, "id-1", "vm1", UUID, 1) < 0)
        return;
    fieldtab *ft = fieldtab_new();
    for (const char *const *p = col->mandatory; ft && p && *p; p++)
        (void)fieldtab_add(ft, *p, true);
    for (const char *const *p = col->optional; ft && p && *p; p++)
        (void)fieldtab_add(ft, *p, false);
    mom_sample s;
    void *state = NULL;
    if (ft && fieldtab_finish(ft) == 0 && msample_init(&s, ft) == 0) {
        if (col->init(&fx.env.api, &ent, &state) == 0) {
            for (int i = 0; i < rounds; i++) {
                msample_reset(&s);
                (void)col->collect(state, &ent, &s);
                if (i == 0 && between)
                    between(data, size);
            }
            col->fini(state);
        }
        msample_done(&s);
    }
    fieldtab_free(ft);
    entity_done(&ent);
}

/* The guest's side of the oVirt channel: write the input, then hang up. */
static void ovirt_peer(const uint8_t *data, size_t size)
{
    int fd = accept4(fx.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    size_t off = 0;
    while (off < size) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    if (!fx.ready)
        setup();
    if ((data[0] & 1) == 0) {
        run(&mom_collector_GuestAgent, 3, ovirt_peer, data + 1, size - 1);
    } else {
        fx.rest = (const char *)data + 1;
        fx.left = size - 1;
        run(&mom_collector_GuestQemuAgent, 2, NULL, NULL, 0);
    }
    return 0;
}
