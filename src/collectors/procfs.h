/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small parsers for the text files of /proc and /sys that the host
 * collectors read (meminfo, vmstat, <pid>/stat, <pid>/status, PSI files).
 *
 * Every reader takes a path under the configured proc-root or sysfs-root,
 * opens it close-on-exec, reads it whole from offset 0 and closes it again,
 * so a file that was replaced (the simulator rewrites its private tree) is
 * always read fresh.  The parsers are pure functions over NUL-terminated
 * text and never allocate.
 */
#ifndef MOM_COLLECTORS_PROCFS_H
#define MOM_COLLECTORS_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable, NUL-terminated read buffer, reused across collections. */
typedef struct procfs_buf {
    char *data;
    size_t len; /* bytes read, not counting the terminating NUL */
    size_t cap;
} procfs_buf;

void procfs_buf_done(procfs_buf *b);

/* Read the whole file at `path` into `b` (replacing its contents).  Returns
 * 0 or a negative errno from open/read (-ENOENT, -EOPNOTSUPP, ...), or
 * -ENOMEM. */
int procfs_read(const char *path, procfs_buf *b);

/* Read the whole file `name` relative to the directory fd `dirfd` into
 * `b` (as procfs_read). */
int procfs_read_at(int dirfd, const char *name, procfs_buf *b);

/* Read at most size-1 bytes of a small file (comm, a sysfs value) into
 * `buf`, NUL-terminate it and strip one trailing newline.  Returns the
 * length or a negative errno. */
int procfs_read_small_at(int dirfd, const char *name, char *buf, size_t size);

/* Join root and a relative path into `buf` ("ROOT/rel").  -ENAMETOOLONG
 * when it does not fit. */
int procfs_path(char *buf, size_t size, const char *root, const char *rel);

/* Find the line of `text` that starts with `key` immediately followed by
 * `sep` (':' for meminfo and status, ' ' for vmstat) and parse the unsigned
 * decimal number after it (leading blanks skipped; a unit suffix such as
 * " kB" is ignored).  Returns 0, -ENOENT when no such line exists, or
 * -EINVAL when the number is malformed or out of range. */
int procfs_find_u64(const char *text, const char *key, char sep, uint64_t *ret);

/* Parse the first token of `text` (leading blanks skipped) as a signed
 * decimal integer, as the first line of a sysfs file.  0 or -EINVAL. */
int procfs_parse_i64(const char *text, int64_t *ret);

/* Field `field` (1-based, as proc(5) numbers them, field >= 3) of a
 * /proc/<pid>/stat line.  The fields are counted after the LAST ')' so a
 * process name containing spaces or parentheses cannot shift them.
 * Returns 0, -ENOENT when the line is shorter, -EINVAL when malformed. */
int procfs_stat_field(const char *stat, int field, uint64_t *ret);

/* Call fn(dirfd, pid, comm, userdata) for every numeric entry of the
 * proc-root directory whose `comm` file can be read (processes that vanish
 * during the scan are skipped).  `dirfd` is the open process directory,
 * valid only during the call.  A nonzero return from fn stops the scan and
 * is returned.  Returns 0, fn's nonzero result, or a negative errno when
 * proc-root cannot be opened. */
typedef int (*procfs_pid_fn)(int dirfd, long pid, const char *comm, void *userdata);
int procfs_foreach_pid(const char *proc_root, procfs_pid_fn fn, void *userdata);

/*
 * Pressure stall information, the format of /proc/pressure/{memory,io,cpu}
 * and of a cgroup's memory.pressure:
 *
 *   some avg10=0.00 avg60=0.00 avg300=0.00 total=0
 *   full avg10=0.00 avg60=0.00 avg300=0.00 total=0
 *
 * Each value has a presence flag: lines and tokens may be missing, come in
 * any order, and unknown tokens are ignored.
 */
typedef struct procfs_psi_line {
    bool has_avg10, has_avg60, has_avg300, has_total;
    double avg10, avg60, avg300; /* percent */
    uint64_t total;              /* microseconds, cumulative */
} procfs_psi_line;

typedef struct procfs_psi {
    procfs_psi_line some, full;
} procfs_psi;

/* Parse PSI text into *ret (every flag cleared first).  Never fails: what
 * cannot be parsed stays absent. */
void procfs_parse_psi(const char *text, procfs_psi *ret);

/* Delta of a cumulative counter: 0 on the first reading (*has_prev false)
 * and when the counter went backwards.  Updates *prev and *has_prev. */
uint64_t procfs_delta(uint64_t now, uint64_t *prev, bool *has_prev);

/*
 * Memory cgroups (host-memory-cgroup, REFERENCE §0).  Version 2 files:
 * memory.current, memory.max ("max" = no limit), memory.stat (file, anon,
 * pswpin, pswpout), memory.swap.current, memory.swap.max, memory.pressure.
 * Version 1 files: memory.usage_in_bytes, memory.limit_in_bytes,
 * memory.stat (total_cache, total_rss, total_swap,
 * hierarchical_memory_limit), memory.memsw.*.  Sizes are bytes.
 */
typedef struct procfs_cgroup {
    char dir[4096]; /* the cgroup's directory */
    int version;    /* 1 or 2 */
} procfs_cgroup;

/* Find the memory cgroup `spec`: an absolute path of a cgroup directory
 * (/sys/fs/cgroup/machine.slice), or a path relative to the cgroup
 * mounts under sysfs_root (machine.slice, /machine.slice as
 * /proc/PID/cgroup prints it), tried as SYSFS/fs/cgroup/SPEC (v2),
 * SYSFS/fs/cgroup/unified/SPEC (v2, hybrid) and SYSFS/fs/cgroup/memory/SPEC
 * (v1).  Returns 0, -ENOENT when none is a memory cgroup, -ENAMETOOLONG. */
int procfs_cgroup_open(const char *spec, const char *sysfs_root, procfs_cgroup *ret);

typedef struct procfs_cgroup_mem {
    uint64_t usage;                 /* bytes charged, page cache included */
    bool limited;                   /* a limit applies (own or an ancestor's) */
    uint64_t limit;                 /* bytes, the lowest limit on the way up */
    bool has_cache, has_anon;
    uint64_t cache, anon;           /* bytes */
    bool has_swap;                  /* swap accounting is on */
    bool swap_limited;
    uint64_t swap_limit, swap_usage; /* bytes */
    bool has_pswp;
    uint64_t pswpin, pswpout;       /* pages, cumulative */
} procfs_cgroup_mem;

/* Read the cgroup's memory figures (`buf` is scratch).  Returns 0, or a
 * negative errno when the usage cannot be read. */
int procfs_cgroup_read_memory(const procfs_cgroup *cg, procfs_buf *buf, procfs_cgroup_mem *ret);

/* The path of the cgroup's memory.pressure (version 2 only).  0,
 * -ENOENT for version 1, -ENAMETOOLONG. */
int procfs_cgroup_pressure_path(const procfs_cgroup *cg, char *buf, size_t size);

#endif
