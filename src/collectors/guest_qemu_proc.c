/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GuestQemuProc: page-fault counters and resident size of a guest's QEMU
 * process, read from PROC/<pid>/stat (REFERENCE §2.1).
 *
 *   host_minor_faults  delta of field 10 (minflt), 0 on the first sample
 *   host_major_faults  delta of field 12 (majflt), 0 on the first sample
 *   rss                field 24, in pages
 *
 * A guest whose pid is unknown (0) gets nothing, so with this collector
 * configured it never becomes ready, as in the original.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/registry.h"
#include "mom/plugin.h"

typedef struct qemu_proc {
    const mom_plugin_api *api;
    bool has_prev;
    int64_t prev_minflt, prev_majflt;
} qemu_proc;

static const char *const mandatory_fields[] = {
    "host_minor_faults", "host_major_faults", "rss", NULL,
};

static int qemu_proc_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    (void)entity;
    qemu_proc *q = mom_calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->api = api;
    *ret_state = q;
    return 0;
}

/* Read the stat file at `path` into buf (NUL-terminated).  A stat line is
 * well under a page, even with a 16-byte comm full of odd characters. */
static int read_stat(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int err = -errno;
            close(fd);
            return err;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return 0;
}

/* Parse fields 10 (minflt), 12 (majflt) and 24 (rss) of a stat line.  The
 * fields are counted after the last ')', which ends the process name; the
 * first token after it is field 3 (state). */
static int parse_stat(const char *line, int64_t *ret_minflt, int64_t *ret_majflt,
                      int64_t *ret_rss)
{
    const char *p = strrchr(line, ')');
    if (!p)
        return -EINVAL;
    p++;
    int field = 2;
    int found = 0;
    while (*p && found < 3) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        field++;
        const char *tok = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        int64_t *slot = field == 10 ? ret_minflt
                        : field == 12 ? ret_majflt
                        : field == 24 ? ret_rss
                                      : NULL;
        if (!slot)
            continue;
        char *end;
        errno = 0;
        long long v = strtoll(tok, &end, 10);
        if (errno || end != p || end == tok)
            return -EINVAL;
        *slot = v;
        found++;
    }
    return found == 3 ? 0 : -EINVAL;
}

/* One collection: nothing for an unknown pid, a collection error when the
 * stat file cannot be read or parsed. */
static int qemu_proc_collect(void *state, mom_entity *entity, mom_sample *out)
{
    qemu_proc *q = state;
    const mom_plugin_api *api = q->api;
    int64_t pid = 0;
    if (api->entity_prop_int(entity, "pid", &pid) < 0 || pid <= 0)
        return 0;

    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%" PRId64 "/stat", api->proc_root(api), pid);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    char line[4096];
    int r = read_stat(path, line, sizeof(line));
    if (r < 0) {
        api->log(api, entity, MOM_LOG_DEBUG, "Cannot read %s: %s", path, strerror(-r));
        return r;
    }
    int64_t minflt, majflt, rss;
    if (parse_stat(line, &minflt, &majflt, &rss) < 0) {
        api->log(api, entity, MOM_LOG_DEBUG, "Malformed %s", path);
        return -EIO;
    }

    int64_t dmin = q->has_prev ? minflt - q->prev_minflt : 0;
    int64_t dmaj = q->has_prev ? majflt - q->prev_majflt : 0;
    q->prev_minflt = minflt;
    q->prev_majflt = majflt;
    q->has_prev = true;

    if ((r = api->sample_set_int(out, "host_minor_faults", dmin)) < 0 ||
        (r = api->sample_set_int(out, "host_major_faults", dmaj)) < 0 ||
        (r = api->sample_set_int(out, "rss", rss)) < 0)
        return r;
    return 0;
}

static void qemu_proc_fini(void *state)
{
    mom_free(state);
}

const mom_collector mom_collector_GuestQemuProc = {
    .size = sizeof(mom_collector),
    .name = "GuestQemuProc",
    .kind = MOM_ENTITY_GUEST,
    .mandatory = mandatory_fields,
    .optional = NULL,
    .init = qemu_proc_init,
    .collect = qemu_proc_collect,
    .fini = qemu_proc_fini,
};
