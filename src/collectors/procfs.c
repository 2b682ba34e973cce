/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Readers and parsers for /proc and /sys text files (see procfs.h).
 */
#include "collectors/procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"

void procfs_buf_done(procfs_buf *b)
{
    if (!b)
        return;
    mom_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Read everything from `fd` into `b`, growing it as needed.  Files in
 * /proc may hand out their text in several chunks, so read until EOF. */
static int read_all(int fd, procfs_buf *b)
{
    b->len = 0;
    for (;;) {
        if (b->cap - b->len < 2) {
            size_t ncap = b->cap ? b->cap * 2 : 4096;
            char *p = mom_realloc(b->data, ncap);
            if (!p)
                return -ENOMEM;
            b->data = p;
            b->cap = ncap;
        }
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        b->len += (size_t)n;
    }
    b->data[b->len] = '\0';
    return 0;
}

int procfs_read_at(int dirfd, const char *name, procfs_buf *b)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    int r = read_all(fd, b);
    close(fd);
    return r;
}

int procfs_read(const char *path, procfs_buf *b)
{
    return procfs_read_at(AT_FDCWD, path, b);
}

int procfs_read_small_at(int dirfd, const char *name, char *buf, size_t size)
{
    if (size == 0)
        return -EINVAL;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int r = -errno;
            close(fd);
            return r;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    if (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    return (int)len;
}

int procfs_path(char *buf, size_t size, const char *root, const char *rel)
{
    int n = snprintf(buf, size, "%s/%s", root, rel);
    if (n < 0 || (size_t)n >= size)
        return -ENAMETOOLONG;
    return 0;
}

/* Parse an unsigned decimal number at *p (no sign, at least one digit);
 * advance *p past it.  -EINVAL when there is no digit or on overflow. */
static int parse_u64(const char **p, uint64_t *ret)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *p = s;
    *ret = v;
    return 0;
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

int procfs_find_u64(const char *text, const char *key, char sep, uint64_t *ret)
{
    size_t klen = strlen(key);
    const char *line = text;
    while (*line) {
        if (strncmp(line, key, klen) == 0 && line[klen] == sep) {
            const char *p = skip_blanks(line + klen + 1);
            uint64_t v;
            if (parse_u64(&p, &v) < 0)
                return -EINVAL;
            /* The number must end at a blank or the end of the line. */
            if (*p != '\0' && *p != '\n' && *p != ' ' && *p != '\t')
                return -EINVAL;
            *ret = v;
            return 0;
        }
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return -ENOENT;
}

int procfs_parse_i64(const char *text, int64_t *ret)
{
    const char *p = skip_blanks(text);
    bool neg = false;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    uint64_t v;
    if (parse_u64(&p, &v) < 0)
        return -EINVAL;
    if (*p != '\0' && *p != '\n' && *p != ' ' && *p != '\t')
        return -EINVAL;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return -EINVAL;
        *ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return -EINVAL;
        *ret = (int64_t)v;
    }
    return 0;
}

int procfs_stat_field(const char *stat, int field, uint64_t *ret)
{
    if (field < 3)
        return -EINVAL;
    const char *p = strrchr(stat, ')');
    if (!p)
        return -EINVAL;
    p++;
    /* After ')' comes field 3 (state). */
    for (int i = 3;; i++) {
        p = skip_blanks(p);
        if (*p == '\0' || *p == '\n')
            return -ENOENT;
        if (i == field) {
            uint64_t v;
            if (*p == '-') /* a negative field cannot be a counter */
                return -EINVAL;
            if (parse_u64(&p, &v) < 0)
                return -EINVAL;
            *ret = v;
            return 0;
        }
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
    }
}

/* True when `s` is a non-empty string of decimal digits. */
static bool is_pid_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int procfs_foreach_pid(const char *proc_root, procfs_pid_fn fn, void *userdata)
{
    int fd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int r = -errno;
        close(fd);
        return r;
    }
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_pid_name(de->d_name))
            continue;
        int pfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
            continue; /* vanished, or not a directory */
        /* comm is at most 15 characters in the kernel (TASK_COMM_LEN); a
         * fake tree may hold longer names, which are truncated here. */
        char comm[256];
        if (procfs_read_small_at(pfd, "comm", comm, sizeof(comm)) >= 0)
            r = fn(pfd, strtol(de->d_name, NULL, 10), comm, userdata);
        close(pfd);
        if (r != 0)
            break;
    }
    closedir(d);
    return r;
}

/* Parse a non-negative decimal fraction ("12.34", "7", ".5") without the
 * locale-dependent strtod.  The digits are gathered into one integer and
 * divided by a power of ten once, so values with up to 15 significant
 * digits (PSI prints two decimals) come out exactly as a C literal would.
 * Advances *p; -EINVAL when there is no digit. */
static int parse_decimal(const char **p, double *ret)
{
    const char *s = *p;
    uint64_t mant = 0;
    int exp10 = 0; /* value = mant * 10^exp10 */
    bool any = false, dot = false;
    for (;; s++) {
        if (*s == '.' && !dot) {
            dot = true;
            continue;
        }
        if (*s < '0' || *s > '9')
            break;
        any = true;
        if (mant < UINT64_MAX / 10 - 9) {
            mant = mant * 10 + (uint64_t)(*s - '0');
            if (dot)
                exp10--;
        } else if (!dot) {
            exp10++; /* digits beyond precision before the point */
        }
    }
    if (!any)
        return -EINVAL;
    double v = (double)mant;
    for (; exp10 > 0; exp10--)
        v *= 10.0;
    double scale = 1.0;
    for (; exp10 < 0; exp10++)
        scale *= 10.0;
    *p = s;
    *ret = v / scale;
    return 0;
}

/* True when the token [tok, end) is exactly `key` followed by '='; sets
 * *val to the text after '='. */
static bool token_key(const char *tok, const char *end, const char *key, const char **val)
{
    size_t klen = strlen(key);
    if ((size_t)(end - tok) <= klen || strncmp(tok, key, klen) != 0 || tok[klen] != '=')
        return false;
    *val = tok + klen + 1;
    return true;
}

/* Parse the key=value tokens of one PSI line, from p to the end of the
 * line, into `l`.  A malformed value leaves its key absent. */
static void parse_psi_tokens(const char *p, procfs_psi_line *l)
{
    for (;;) {
        p = skip_blanks(p);
        if (*p == '\0' || *p == '\n')
            return;
        const char *end = p;
        while (*end && *end != ' ' && *end != '\t' && *end != '\n')
            end++;
        const char *v;
        const char *q;
        double d;
        uint64_t u;
        if (token_key(p, end, "avg10", &v)) {
            q = v;
            if (parse_decimal(&q, &d) == 0 && q == end) {
                l->avg10 = d;
                l->has_avg10 = true;
            }
        } else if (token_key(p, end, "avg60", &v)) {
            q = v;
            if (parse_decimal(&q, &d) == 0 && q == end) {
                l->avg60 = d;
                l->has_avg60 = true;
            }
        } else if (token_key(p, end, "avg300", &v)) {
            q = v;
            if (parse_decimal(&q, &d) == 0 && q == end) {
                l->avg300 = d;
                l->has_avg300 = true;
            }
        } else if (token_key(p, end, "total", &v)) {
            q = v;
            if (parse_u64(&q, &u) == 0 && q == end) {
                l->total = u;
                l->has_total = true;
            }
        }
        p = end;
    }
}

void procfs_parse_psi(const char *text, procfs_psi *ret)
{
    memset(ret, 0, sizeof(*ret));
    const char *line = text;
    while (*line) {
        if (strncmp(line, "some ", 5) == 0 || strncmp(line, "some\t", 5) == 0)
            parse_psi_tokens(line + 5, &ret->some);
        else if (strncmp(line, "full ", 5) == 0 || strncmp(line, "full\t", 5) == 0)
            parse_psi_tokens(line + 5, &ret->full);
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
}

uint64_t procfs_delta(uint64_t now, uint64_t *prev, bool *has_prev)
{
    uint64_t d = 0;
    if (*has_prev && now >= *prev)
        d = now - *prev;
    *prev = now;
    *has_prev = true;
    return d;
}

/* ---- memory cgroups ------------------------------------------------------ */

/* Values at or above this are "no limit" in cgroup v1 (the kernel reports
 * PAGE_COUNTER_MAX pages, 0x7FFFFFFFFFFFF000 bytes on x86-64). */
#define CGROUP_V1_UNLIMITED (1ULL << 62)

/* Whether DIR/name exists. */
static bool file_exists(const char *dir, const char *name)
{
    char p[4096 + 64];
    if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p))
        return false;
    return access(p, F_OK) == 0;
}

/* Read DIR/name, one value: a number, or "max" (sets *ret_max).  0,
 * -ENOENT, -EINVAL. */
static int read_value(const char *dir, const char *name, uint64_t *ret, bool *ret_max)
{
    char p[4096 + 64], text[64];
    if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p))
        return -ENAMETOOLONG;
    int n = procfs_read_small_at(AT_FDCWD, p, text, sizeof(text));
    if (n < 0)
        return n;
    const char *s = skip_blanks(text);
    *ret_max = false;
    if (strncmp(s, "max", 3) == 0 && (s[3] == '\0' || s[3] == '\n')) {
        *ret_max = true;
        *ret = UINT64_MAX;
        return 0;
    }
    uint64_t v;
    if (parse_u64(&s, &v) < 0)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* Which memory cgroup version `dir` is, or 0 when it is none. */
static int cgroup_version(const char *dir)
{
    if (file_exists(dir, "memory.current"))
        return 2;
    if (file_exists(dir, "memory.usage_in_bytes"))
        return 1;
    return 0;
}

int procfs_cgroup_open(const char *spec, const char *sysfs_root, procfs_cgroup *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (!spec || !*spec)
        return -ENOENT;
    if (spec[0] == '/') {
        int n = snprintf(ret->dir, sizeof(ret->dir), "%s", spec);
        if (n < 0 || (size_t)n >= sizeof(ret->dir))
            return -ENAMETOOLONG;
        if ((ret->version = cgroup_version(ret->dir)) != 0)
            return 0;
    }
    static const char *const mounts[] = {"fs/cgroup", "fs/cgroup/unified", "fs/cgroup/memory"};
    const char *rel = spec;
    while (*rel == '/')
        rel++;
    for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
        int n = snprintf(ret->dir, sizeof(ret->dir), "%s/%s%s%s", sysfs_root, mounts[i],
                         *rel ? "/" : "", rel);
        if (n < 0 || (size_t)n >= sizeof(ret->dir))
            return -ENAMETOOLONG;
        if ((ret->version = cgroup_version(ret->dir)) != 0)
            return 0;
    }
    memset(ret, 0, sizeof(*ret));
    return -ENOENT;
}

/* The parent directory of `dir` in place; false at "/". */
static bool parent_dir(char *dir)
{
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return false;
    *slash = '\0';
    return true;
}

/* Version 2: the lowest `name` limit ("memory.max", "memory.swap.max")
 * from the cgroup up to the last ancestor that has the file. */
static void v2_limit(const char *dir, const char *name, bool *ret_limited, uint64_t *ret)
{
    char d[4096];
    snprintf(d, sizeof(d), "%s", dir);
    *ret_limited = false;
    *ret = UINT64_MAX;
    for (;;) {
        uint64_t v;
        bool max;
        if (read_value(d, name, &v, &max) < 0)
            break;
        if (!max && v < *ret) {
            *ret = v;
            *ret_limited = true;
        }
        if (!parent_dir(d))
            break;
    }
}

/* memory.stat key (space-separated), if present. */
static bool stat_key(const char *text, const char *key, uint64_t *ret)
{
    return procfs_find_u64(text, key, ' ', ret) == 0;
}

static int read_v2(const procfs_cgroup *cg, procfs_buf *buf, procfs_cgroup_mem *m)
{
    bool max;
    int r = read_value(cg->dir, "memory.current", &m->usage, &max);
    if (r < 0)
        return r;
    v2_limit(cg->dir, "memory.max", &m->limited, &m->limit);
    char p[4096 + 64];
    snprintf(p, sizeof(p), "%s/memory.stat", cg->dir);
    if (procfs_read(p, buf) == 0) {
        m->has_cache = stat_key(buf->data, "file", &m->cache);
        m->has_anon = stat_key(buf->data, "anon", &m->anon);
        m->has_pswp = stat_key(buf->data, "pswpin", &m->pswpin) &&
                      stat_key(buf->data, "pswpout", &m->pswpout);
    }
    if (read_value(cg->dir, "memory.swap.current", &m->swap_usage, &max) == 0) {
        m->has_swap = true;
        v2_limit(cg->dir, "memory.swap.max", &m->swap_limited, &m->swap_limit);
    }
    return 0;
}

static int read_v1(const procfs_cgroup *cg, procfs_buf *buf, procfs_cgroup_mem *m)
{
    bool max;
    int r = read_value(cg->dir, "memory.usage_in_bytes", &m->usage, &max);
    if (r < 0)
        return r;
    uint64_t limit = UINT64_MAX, v;
    if (read_value(cg->dir, "memory.limit_in_bytes", &v, &max) == 0 && !max)
        limit = v;
    char p[4096 + 64];
    snprintf(p, sizeof(p), "%s/memory.stat", cg->dir);
    bool has_stat = procfs_read(p, buf) == 0;
    if (has_stat) {
        /* The hierarchical limit includes the ancestors' limits. */
        if (stat_key(buf->data, "hierarchical_memory_limit", &v) && v < limit)
            limit = v;
        m->has_cache = stat_key(buf->data, "total_cache", &m->cache) ||
                       stat_key(buf->data, "cache", &m->cache);
        m->has_anon = stat_key(buf->data, "total_rss", &m->anon) ||
                      stat_key(buf->data, "rss", &m->anon);
    }
    if (limit < CGROUP_V1_UNLIMITED) {
        m->limited = true;
        m->limit = limit;
    }
    /* Swap accounting: memsw counts memory + swap. */
    uint64_t memsw_usage, memsw_limit = UINT64_MAX;
    if (read_value(cg->dir, "memory.memsw.usage_in_bytes", &memsw_usage, &max) == 0) {
        m->has_swap = true;
        uint64_t swap;
        if (has_stat && (stat_key(buf->data, "total_swap", &swap) || stat_key(buf->data, "swap", &swap)))
            m->swap_usage = swap;
        else
            m->swap_usage = memsw_usage > m->usage ? memsw_usage - m->usage : 0;
        if (read_value(cg->dir, "memory.memsw.limit_in_bytes", &v, &max) == 0 && !max)
            memsw_limit = v;
        if (has_stat && stat_key(buf->data, "hierarchical_memsw_limit", &v) && v < memsw_limit)
            memsw_limit = v;
        if (memsw_limit < CGROUP_V1_UNLIMITED) {
            m->swap_limited = true;
            m->swap_limit = m->limited && memsw_limit > m->limit ? memsw_limit - m->limit : 0;
        }
    }
    return 0;
}

int procfs_cgroup_read_memory(const procfs_cgroup *cg, procfs_buf *buf, procfs_cgroup_mem *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (cg->version == 2)
        return read_v2(cg, buf, ret);
    if (cg->version == 1)
        return read_v1(cg, buf, ret);
    return -EINVAL;
}

int procfs_cgroup_pressure_path(const procfs_cgroup *cg, char *buf, size_t size)
{
    if (cg->version != 2)
        return -ENOENT;
    return procfs_path(buf, size, cg->dir, "memory.pressure");
}
