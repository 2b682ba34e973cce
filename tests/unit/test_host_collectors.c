/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the built-in host collectors (HostMemory, HostKSM, HostCpu,
 * HostTime, HostPressure) and their procfs helpers: exact values on a fake
 * /proc and /sys tree (tests/fixtures/host, copied to a temporary directory
 * so a test may rewrite it), deltas, missing lines and files, and a sanity
 * pass over this machine's real /proc and /sys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collectors/procfs.h"
#include "core/alloc.h"
#include "core/api.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/sample.h"

/* ---- fixture plumbing ---- */

typedef struct fx {
    char dir[1024];      /* temporary copy of tests/fixtures/host */
    char proc[1100];
    char sys[1100];
    mlog log;
    api_env env;
    mom_entity entity;
    fieldtab *ft;
    mom_sample s;
    const mom_collector *c;
    void *state;
    bool has_state;
    int n_warn;          /* warning-or-worse log lines seen */
    char last_msg[512];
} fx;

static void capture_log(mom_log_level level, const char *logger, const char *msg,
                        void *userdata)
{
    fx *f = userdata;
    (void)logger;
    if (level <= MOM_LOG_WARN)
        f->n_warn++;
    snprintf(f->last_msg, sizeof(f->last_msg), "%s", msg);
}

/* Copy the directory tree src into dst (which must not exist). */
static void copy_tree(const char *src, const char *dst)
{
    assert_int_equal(mkdir(dst, 0755), 0);
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char s[PATH_MAX], t[PATH_MAX];
        snprintf(s, sizeof(s), "%s/%s", src, de->d_name);
        snprintf(t, sizeof(t), "%s/%s", dst, de->d_name);
        struct stat st;
        assert_int_equal(stat(s, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            copy_tree(s, t);
            continue;
        }
        FILE *in = fopen(s, "rbe");
        FILE *out = fopen(t, "wbe");
        assert_non_null(in);
        assert_non_null(out);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
            assert_int_equal(fwrite(buf, 1, n, out), n);
        fclose(in);
        fclose(out);
    }
    closedir(d);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Write `text` to DIR/rel, replacing the file. */
static void put(fx *f, const char *rel, const char *text)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
    FILE *o = fopen(p, "we");
    assert_non_null(o);
    fputs(text, o);
    fclose(o);
}

static void putf(fx *f, const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void putf(fx *f, const char *rel, const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    put(f, rel, text);
}

static void del(fx *f, const char *rel)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
    assert_int_equal(nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void mkd(fx *f, const char *rel)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

/* Replace the first occurrence of `from` in DIR/rel by `to`. */
static void edit(fx *f, const char *rel, const char *from, const char *to)
{
    char p[PATH_MAX];
    procfs_buf b = { 0 };
    snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
    assert_int_equal(procfs_read(p, &b), 0);
    char *at = strstr(b.data, from);
    assert_non_null(at);
    char *text = mom_asprintf("%.*s%s%s", (int)(at - b.data), b.data, to, at + strlen(from));
    assert_non_null(text);
    put(f, rel, text);
    mom_free(text);
    procfs_buf_done(&b);
}

/* Remove the line starting with `prefix` from DIR/rel. */
static void drop_line(fx *f, const char *rel, const char *prefix)
{
    char p[PATH_MAX];
    procfs_buf b = { 0 };
    snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
    assert_int_equal(procfs_read(p, &b), 0);
    char *out = mom_calloc(1, b.len + 1);
    assert_non_null(out);
    bool found = false;
    for (char *line = b.data; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            found = true;
        else
            strncat(out, line, len);
        line += len;
    }
    assert_true(found);
    put(f, rel, out);
    mom_free(out);
    procfs_buf_done(&b);
}

/* Build the api env, the host entity and, for collector `c`, the field
 * table and sample.  `live` reads the real /proc and /sys instead of the
 * fixture copy. */
static fx *fx_new(const mom_collector *c, bool live)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    const char *src = getenv("MOM_TEST_SRCDIR");
    char fixture[PATH_MAX];
    snprintf(fixture, sizeof(fixture), "%s/tests/fixtures/host", src ? src : ".");
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/momhostXXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(rmdir(f->dir), 0);
    copy_tree(fixture, f->dir);
    snprintf(f->proc, sizeof(f->proc), "%s/proc", f->dir);
    snprintf(f->sys, sizeof(f->sys), "%s/sys", f->dir);
    /* A process directory whose files are gone (it exited mid-scan). */
    mkd(f, "proc/1007");

    mlog_init(&f->log, capture_log, f, MOM_LOG_DEBUG);
    api_env_init(&f->env, NULL, &f->log, NULL);
    if (!live) {
        f->env.proc_root = f->proc;
        f->env.sysfs_root = f->sys;
    }
    assert_int_equal(entity_init(&f->entity, &f->env, MOM_ENTITY_HOST, "host", "host", NULL, 0),
                     0);
    f->c = c;
    f->ft = fieldtab_new();
    assert_non_null(f->ft);
    for (size_t i = 0; c->mandatory && c->mandatory[i]; i++)
        assert_true(fieldtab_add(f->ft, c->mandatory[i], true) >= 0);
    for (size_t i = 0; c->optional && c->optional[i]; i++)
        assert_true(fieldtab_add(f->ft, c->optional[i], false) >= 0);
    assert_int_equal(fieldtab_finish(f->ft), 0);
    assert_int_equal(msample_init(&f->s, f->ft), 0);
    return f;
}

static int fx_init(fx *f)
{
    int r = f->c->init(&f->env.api, &f->entity, &f->state);
    f->has_state = r == 0;
    return r;
}

/* One collection into a fresh sample. */
static int fx_collect(fx *f)
{
    msample_reset(&f->s);
    return f->c->collect(f->state, &f->entity, &f->s);
}

static void fx_free(fx *f)
{
    if (f->has_state && f->c->fini)
        f->c->fini(f->state);
    msample_done(&f->s);
    fieldtab_free(f->ft);
    entity_done(&f->entity);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
}

static const fval *slot(fx *f, const char *name)
{
    int id = fieldtab_find(f->ft, name);
    if (id < 0)
        fail_msg("field %s not declared", name);
    return &f->s.vals[id];
}

static int64_t get_int(fx *f, const char *name)
{
    const fval *v = slot(f, name);
    if (v->kind != FV_INT)
        fail_msg("field %s: kind %d, not an int", name, v->kind);
    return v->u.i;
}

static double get_real(fx *f, const char *name)
{
    const fval *v = slot(f, name);
    if (v->kind != FV_REAL)
        fail_msg("field %s: kind %d, not a real", name, v->kind);
    return v->u.r;
}

static void assert_none(fx *f, const char *name)
{
    const fval *v = slot(f, name);
    if (v->kind != FV_NONE)
        fail_msg("field %s: kind %d, expected None", name, v->kind);
}

/* The collector's declared lists equal `want` (NULL-terminated). */
static void assert_names(const char *const *got, const char *const *want)
{
    size_t i = 0;
    for (; want[i]; i++) {
        assert_non_null(got);
        assert_non_null(got[i]);
        assert_string_equal(got[i], want[i]);
    }
    if (got)
        assert_null(got[i]);
}

/* ---- procfs helpers ---- */

static void test_procfs_find_u64(void **st)
{
    (void)st;
    const char *t = "SwapCached:   11 kB\nCached:  22 kB\nMemFree:33\nBad: 12x kB\n"
                    "pswpin 44\npswpinx 55\nNeg: -5 kB\nHuge: 99999999999999999999999 kB";
    uint64_t v = 0;
    assert_int_equal(procfs_find_u64(t, "Cached", ':', &v), 0);
    assert_int_equal(v, 22);
    assert_int_equal(procfs_find_u64(t, "SwapCached", ':', &v), 0);
    assert_int_equal(v, 11);
    assert_int_equal(procfs_find_u64(t, "MemFree", ':', &v), 0);
    assert_int_equal(v, 33);
    assert_int_equal(procfs_find_u64(t, "pswpin", ' ', &v), 0);
    assert_int_equal(v, 44);
    assert_int_equal(procfs_find_u64(t, "pswpin", ':', &v), -ENOENT);
    assert_int_equal(procfs_find_u64(t, "Swap", ':', &v), -ENOENT);
    assert_int_equal(procfs_find_u64(t, "Bad", ':', &v), -EINVAL);
    assert_int_equal(procfs_find_u64(t, "Neg", ':', &v), -EINVAL);
    assert_int_equal(procfs_find_u64(t, "Huge", ':', &v), -EINVAL);
    assert_int_equal(procfs_find_u64("", "Cached", ':', &v), -ENOENT);

    int64_t i = 0;
    assert_int_equal(procfs_parse_i64("  -42\n", &i), 0);
    assert_int_equal(i, -42);
    assert_int_equal(procfs_parse_i64("7", &i), 0);
    assert_int_equal(i, 7);
    assert_int_equal(procfs_parse_i64("x", &i), -EINVAL);
    assert_int_equal(procfs_parse_i64("", &i), -EINVAL);
    assert_int_equal(procfs_parse_i64("1.5", &i), -EINVAL);

    bool has = false;
    uint64_t prev = 0;
    assert_int_equal(procfs_delta(100, &prev, &has), 0);
    assert_int_equal(procfs_delta(130, &prev, &has), 30);
    assert_int_equal(procfs_delta(90, &prev, &has), 0);
    assert_int_equal(procfs_delta(95, &prev, &has), 5);
}

static void test_procfs_stat_field(void **st)
{
    (void)st;
    /* The name holds spaces, parentheses and digits that would shift a
     * whitespace split. */
    const char *s = "1234 (a) 1 2 (b)) R 1 2 3 4 5 6 7 8 9 10 111 222 13 14\n";
    uint64_t v = 0;
    assert_int_equal(procfs_stat_field(s, 4, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(procfs_stat_field(s, 14, &v), 0);
    assert_int_equal(v, 111);
    assert_int_equal(procfs_stat_field(s, 15, &v), 0);
    assert_int_equal(v, 222);
    assert_int_equal(procfs_stat_field(s, 17, &v), 0);
    assert_int_equal(v, 14);
    assert_int_equal(procfs_stat_field(s, 18, &v), -ENOENT);
    assert_int_equal(procfs_stat_field(s, 3, &v), -EINVAL); /* "R" */
    assert_int_equal(procfs_stat_field("no paren 1 2 3", 4, &v), -EINVAL);
    assert_int_equal(procfs_stat_field("1 (x) S -1 5", 4, &v), -EINVAL);
}

static void test_procfs_psi_parser(void **st)
{
    (void)st;
    procfs_psi p;
    procfs_parse_psi("full total=77 avg300=3.5 foo=bar avg10=12.25 avg60=x\n"
                     "bogus avg10=99.00 total=1\n"
                     "some\ttotal=18446744073709551615 weird avg60=0.01 avg10=100.00 avg300=.5",
                     &p);
    assert_true(p.full.has_total);
    assert_int_equal(p.full.total, 77);
    assert_true(p.full.has_avg10);
    assert_true(p.full.avg10 == 12.25);
    assert_true(p.full.has_avg300);
    assert_true(p.full.avg300 == 3.5);
    assert_false(p.full.has_avg60); /* malformed value: absent */
    assert_true(p.some.has_total);
    assert_true(p.some.total == UINT64_MAX);
    assert_true(p.some.avg10 == 100.0);
    assert_true(p.some.avg60 > 0.00999 && p.some.avg60 < 0.01001);
    assert_true(p.some.avg300 == 0.5);

    procfs_parse_psi("", &p);
    assert_false(p.some.has_avg10 || p.some.has_total || p.full.has_avg10 || p.full.has_total);
    /* "someavg10=" is not a "some " line; "avg100=" is not avg10. */
    procfs_parse_psi("someavg10=1.00\nfull avg100=5.00 total=5x avg10=1.5.5\n", &p);
    assert_false(p.some.has_avg10);
    assert_false(p.full.has_avg10);
    assert_false(p.full.has_total);
}

static int count_qemu(int dirfd, long pid, const char *comm, void *userdata)
{
    (void)dirfd;
    (void)pid;
    if (strstr(comm, "qemu"))
        (*(int *)userdata)++;
    return 0;
}

static void test_procfs_foreach_pid(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostCpu, false);
    int n = 0;
    assert_int_equal(procfs_foreach_pid(f->proc, count_qemu, &n), 0);
    assert_int_equal(n, 4); /* 1001, 1002, 1003, 1005; "self" is not a pid */
    char missing[PATH_MAX];
    snprintf(missing, sizeof(missing), "%s/nonexistent", f->dir);
    assert_int_equal(procfs_foreach_pid(missing, count_qemu, &n), -ENOENT);
    fx_free(f);
}

/* ---- HostMemory ---- */

static void test_memory_fields(void **st)
{
    (void)st;
    static const char *const want[] = {
        "mem_available", "mem_unused", "mem_free", "anon_pages",
        "swap_total", "swap_usage", "swap_in", "swap_out", NULL,
    };
    assert_string_equal(mom_collector_HostMemory.name, "HostMemory");
    assert_int_equal(mom_collector_HostMemory.kind, MOM_ENTITY_HOST);
    assert_int_equal(mom_collector_HostMemory.size, sizeof(mom_collector));
    assert_names(mom_collector_HostMemory.mandatory, want);
    assert_null(mom_collector_HostMemory.optional);
}

static void test_memory_values(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostMemory, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "mem_available"), 16303428);
    assert_int_equal(get_int(f, "mem_unused"), 1234567);
    assert_int_equal(get_int(f, "mem_free"), 1234567 + 234567 + 4567890);
    assert_int_equal(get_int(f, "anon_pages"), 3456789);
    assert_int_equal(get_int(f, "swap_total"), 8388604);
    assert_int_equal(get_int(f, "swap_usage"), 8388604 - 8000000);
    assert_int_equal(get_int(f, "swap_in"), 0);
    assert_int_equal(get_int(f, "swap_out"), 0);
    assert_int_equal(f->n_warn, 0);
    fx_free(f);
}

static void test_memory_deltas(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostMemory, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "swap_in"), 0);
    assert_int_equal(get_int(f, "swap_out"), 0);

    edit(f, "proc/vmstat", "pswpin 1000", "pswpin 1250");
    edit(f, "proc/vmstat", "pswpout 2000", "pswpout 2007");
    edit(f, "proc/meminfo", "MemFree:         1234567", "MemFree:         1000000");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "swap_in"), 250);
    assert_int_equal(get_int(f, "swap_out"), 7);
    assert_int_equal(get_int(f, "mem_unused"), 1000000);
    assert_int_equal(get_int(f, "mem_free"), 1000000 + 234567 + 4567890);

    /* Unchanged counters: 0.  Then pswpin goes backwards: 0, not negative,
     * and the next delta counts from the new low value. */
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "swap_in"), 0);
    assert_int_equal(get_int(f, "swap_out"), 0);
    edit(f, "proc/vmstat", "pswpin 1250", "pswpin 10");
    edit(f, "proc/vmstat", "pswpout 2007", "pswpout 2010");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "swap_in"), 0);
    assert_int_equal(get_int(f, "swap_out"), 3);
    edit(f, "proc/vmstat", "pswpin 10", "pswpin 15");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "swap_in"), 5);
    fx_free(f);
}

static void test_memory_missing_lines(void **st)
{
    (void)st;
    static const struct {
        const char *file, *prefix;
    } need[] = {
        { "proc/meminfo", "MemFree:" }, { "proc/meminfo", "Buffers:" },
        { "proc/meminfo", "Cached:" },  { "proc/meminfo", "SwapTotal:" },
        { "proc/meminfo", "SwapFree:" }, { "proc/vmstat", "pswpin " },
        { "proc/vmstat", "pswpout " },
    };
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        fx *f = fx_new(&mom_collector_HostMemory, false);
        assert_int_equal(fx_init(f), 0);
        drop_line(f, need[i].file, need[i].prefix);
        assert_int_equal(fx_collect(f), -EIO);
        assert_int_equal(f->n_warn, 1);
        /* The message names the missing key. */
        char key[32];
        snprintf(key, sizeof(key), "%.*s", (int)strcspn(need[i].prefix, ": "), need[i].prefix);
        assert_non_null(strstr(f->last_msg, key));
        assert_non_null(strstr(f->last_msg, "missing"));
        fx_free(f);
    }

    /* A malformed number is an error too; a missing file is an error. */
    fx *f = fx_new(&mom_collector_HostMemory, false);
    assert_int_equal(fx_init(f), 0);
    edit(f, "proc/meminfo", "Buffers:          234567", "Buffers:          23x567");
    assert_int_equal(fx_collect(f), -EIO);
    del(f, "proc/vmstat");
    edit(f, "proc/meminfo", "Buffers:          23x567", "Buffers:          234567");
    assert_int_equal(fx_collect(f), -ENOENT);
    fx_free(f);
}

static void test_memory_optional_lines(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostMemory, false);
    assert_int_equal(fx_init(f), 0);
    drop_line(f, "proc/meminfo", "MemTotal:");
    drop_line(f, "proc/meminfo", "AnonPages:");
    assert_int_equal(fx_collect(f), 0);
    assert_none(f, "mem_available");
    assert_none(f, "anon_pages");
    assert_int_equal(get_int(f, "mem_unused"), 1234567);
    assert_int_equal(get_int(f, "swap_usage"), 388604);
    assert_int_equal(f->n_warn, 0);
    fx_free(f);
}

/* ---- HostKSM ---- */

static void test_ksm_fields(void **st)
{
    (void)st;
    static const char *const want[] = {
        "ksm_run", "ksm_sleep_millisecs", "ksm_pages_to_scan", "ksm_merge_across_nodes",
        "ksm_pages_shared", "ksm_pages_sharing", "ksm_pages_unshared", "ksm_pages_volatile",
        "ksm_full_scans", "ksm_shareable", "ksmd_cpu_usage", NULL,
    };
    assert_string_equal(mom_collector_HostKSM.name, "HostKSM");
    assert_int_equal(mom_collector_HostKSM.kind, MOM_ENTITY_HOST);
    assert_names(mom_collector_HostKSM.mandatory, want);
    assert_null(mom_collector_HostKSM.optional);
}

static void test_ksm_values(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostKSM, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksm_run"), 1);
    assert_int_equal(get_int(f, "ksm_sleep_millisecs"), 20);
    assert_int_equal(get_int(f, "ksm_pages_to_scan"), 100);
    assert_int_equal(get_int(f, "ksm_merge_across_nodes"), 1);
    assert_int_equal(get_int(f, "ksm_pages_shared"), 1234);
    assert_int_equal(get_int(f, "ksm_pages_sharing"), 5678);
    assert_int_equal(get_int(f, "ksm_pages_unshared"), 91011);
    assert_int_equal(get_int(f, "ksm_pages_volatile"), 12);
    assert_int_equal(get_int(f, "ksm_full_scans"), 34);
    /* qemu-system-x86 + qemu-kvm + "my qemu) (x"; qemu-nomm has no VmSize. */
    assert_int_equal(get_int(f, "ksm_shareable"), 2000000 + 1500000 + 300000);
    assert_int_equal(get_int(f, "ksmd_cpu_usage"), 0);
    assert_int_equal(f->n_warn, 0);

    /* The tunables are read fresh each time. */
    put(f, "sys/kernel/mm/ksm/run", "2\n");
    put(f, "sys/kernel/mm/ksm/pages_sharing", "6000\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksm_run"), 2);
    assert_int_equal(get_int(f, "ksm_pages_sharing"), 6000);
    fx_free(f);
}

static void test_ksm_missing_files(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostKSM, false);
    del(f, "sys/kernel/mm/ksm/merge_across_nodes");
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_none(f, "ksm_merge_across_nodes");
    assert_int_equal(get_int(f, "ksm_run"), 1);
    assert_int_equal(get_int(f, "ksm_full_scans"), 34);
    del(f, "sys/kernel/mm/ksm/pages_volatile");
    assert_int_equal(fx_collect(f), 0);
    assert_none(f, "ksm_pages_volatile");
    assert_none(f, "ksm_merge_across_nodes");
    assert_int_equal(get_int(f, "ksm_pages_shared"), 1234);

    /* A value that is not a number is a collection error. */
    put(f, "sys/kernel/mm/ksm/pages_shared", "lots\n");
    assert_int_equal(fx_collect(f), -EIO);
    assert_non_null(strstr(f->last_msg, "pages_shared"));
    put(f, "sys/kernel/mm/ksm/pages_shared", "1234\n");

    /* `run` vanishing after init is a collection error, not None. */
    del(f, "sys/kernel/mm/ksm/run");
    assert_int_equal(fx_collect(f), -ENOENT);
    fx_free(f);

    /* Without `run` (no KSM in the kernel) init fails, with a log line. */
    f = fx_new(&mom_collector_HostKSM, false);
    del(f, "sys/kernel/mm/ksm/run");
    int r = fx_init(f);
    assert_true(r < 0);
    assert_int_equal(f->n_warn, 1);
    assert_non_null(strstr(f->last_msg, "run"));
    fx_free(f);

    f = fx_new(&mom_collector_HostKSM, false);
    del(f, "sys/kernel");
    assert_true(fx_init(f) < 0);
    fx_free(f);
}

static void test_ksm_shareable(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostKSM, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksm_shareable"), 3800000);

    /* A new QEMU process, one that exits, and one whose status lost its
     * VmSize (it became a zombie). */
    mkd(f, "proc/2000");
    put(f, "proc/2000/comm", "qemu\n");
    put(f, "proc/2000/status", "Name:\tqemu\nVmPeak:\t  999 kB\nVmSize:\t   4096 kB\n");
    del(f, "proc/1002");
    put(f, "proc/1001/status", "Name:\tqemu-system-x86\nState:\tZ (zombie)\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksm_shareable"), 300000 + 4096);

    /* No QEMU at all: 0. */
    del(f, "proc/1001");
    del(f, "proc/1003");
    del(f, "proc/1005");
    del(f, "proc/2000");
    del(f, "proc/self");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksm_shareable"), 0);
    fx_free(f);
}

/* Write ksmd's stat with the given utime and stime. */
static void put_ksmd_stat(fx *f, const char *pid, uint64_t utime, uint64_t stime)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "proc/%s/stat", pid);
    putf(f, rel,
         "%s (ksmd) S 2 0 0 0 -1 2097216 0 0 0 0 %llu %llu 0 0 25 5 1 0 16 0 0 "
         "18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 17 1 0 0 0 0 0\n",
         pid, (unsigned long long)utime, (unsigned long long)stime);
}

/* The expected usage: 100 x (delta mod 2^32) / (CLK_TCK x interval). */
static int64_t expect_usage(uint64_t prev, uint64_t now, int interval)
{
    uint64_t tck = (uint64_t)sysconf(_SC_CLK_TCK);
    return (int64_t)(100u * (uint64_t)(uint32_t)(now - prev) / (tck * (uint64_t)interval));
}

static void test_ksmd_cpu_usage(void **st)
{
    (void)st;
    long tck = sysconf(_SC_CLK_TCK);
    assert_true(tck > 0);
    fx *f = fx_new(&mom_collector_HostKSM, false);
    f->env.host_interval = 10;
    assert_int_equal(fx_init(f), 0); /* baseline: 120 + 30 */

    put_ksmd_stat(f, "37", 520, 130);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksmd_cpu_usage"), expect_usage(150, 650, 10));
    if (tck == 100) /* the usual value: 500 jiffies over 10 s at 100 Hz */
        assert_int_equal(get_int(f, "ksmd_cpu_usage"), 50);

    /* Integer truncation: 7 jiffies. */
    put_ksmd_stat(f, "37", 525, 132);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksmd_cpu_usage"), expect_usage(650, 657, 10));
    if (tck == 100)
        assert_int_equal(get_int(f, "ksmd_cpu_usage"), 0);

    put_ksmd_stat(f, "37", 1525, 1132);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksmd_cpu_usage"), expect_usage(657, 2657, 10));
    if (tck == 100)
        assert_int_equal(get_int(f, "ksmd_cpu_usage"), 200);

    /* Large counters cross 2^32 without harm. */
    put_ksmd_stat(f, "37", 4294967290ull, 0);
    assert_int_equal(fx_collect(f), 0);
    put_ksmd_stat(f, "37", 4294967290ull + 1000, 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksmd_cpu_usage"), expect_usage(0, 1000, 10));

    /* Going backwards is taken modulo 2^32, as the original does. */
    put_ksmd_stat(f, "37", 4294967290ull + 990, 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksmd_cpu_usage"),
                     (int64_t)(100u * 4294967286ull / ((uint64_t)tck * 10)));
    fx_free(f);
}

static void test_ksmd_lost_and_found(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostKSM, false);
    f->env.host_interval = 1;
    del(f, "proc/37"); /* no ksmd at init */
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksmd_cpu_usage"), 0);

    /* ksmd appears under another pid: the first collection takes the
     * baseline, the next one measures. */
    mkd(f, "proc/41");
    put(f, "proc/41/comm", "ksmd\n");
    put_ksmd_stat(f, "41", 1000, 1000);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksmd_cpu_usage"), 0);
    put_ksmd_stat(f, "41", 1030, 1020);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksmd_cpu_usage"), expect_usage(2000, 2050, 1));
    assert_true(get_int(f, "ksmd_cpu_usage") > 0);

    /* Its pid is reused by another process: no longer counted. */
    put(f, "proc/41/comm", "bash\n");
    put(f, "proc/41/stat", "41 (bash) S 1 1 1 0 -1 0 0 0 0 0 900000 900000 0 0 20 0 1 0\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "ksmd_cpu_usage"), 0);
    fx_free(f);
}

/* ---- HostCpu ---- */

static void test_cpu(void **st)
{
    (void)st;
    static const char *const want[] = { "cpu_count", NULL };
    assert_names(mom_collector_HostCpu.mandatory, want);
    assert_null(mom_collector_HostCpu.optional);

    fx *f = fx_new(&mom_collector_HostCpu, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "cpu_count"), 4);
    /* s390-style lines count as well; "processor" without ':' does not. */
    put(f, "proc/cpuinfo", "vendor_id : IBM/S390\nprocessors : 2\nprocessor 0: version = FF\n"
                           "processor 1: version = FF\nprocessor\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "cpu_count"), 3);
    del(f, "proc/cpuinfo");
    assert_int_equal(fx_collect(f), -ENOENT);
    fx_free(f);
}

/* ---- HostTime ---- */

static void test_time(void **st)
{
    (void)st;
    static const char *const want[] = {
        "time_year", "time_month", "time_day", "time_hour",
        "time_minute", "time_second", "time_microsecond", NULL,
    };
    assert_names(mom_collector_HostTime.mandatory, want);
    assert_null(mom_collector_HostTime.optional);

    fx *f = fx_new(&mom_collector_HostTime, false);
    assert_int_equal(fx_init(f), 0);
    time_t before = time(NULL);
    assert_int_equal(fx_collect(f), 0);
    time_t after = time(NULL);
    struct tm tm = { 0 };
    tm.tm_year = (int)get_int(f, "time_year") - 1900;
    tm.tm_mon = (int)get_int(f, "time_month") - 1;
    tm.tm_mday = (int)get_int(f, "time_day");
    tm.tm_hour = (int)get_int(f, "time_hour");
    tm.tm_min = (int)get_int(f, "time_minute");
    tm.tm_sec = (int)get_int(f, "time_second");
    tm.tm_isdst = -1;
    time_t t = mktime(&tm); /* local time back to epoch seconds */
    assert_true(t >= before - 1 && t <= after + 1);
    int64_t us = get_int(f, "time_microsecond");
    assert_true(us >= 0 && us <= 999999);
    assert_true(get_int(f, "time_month") >= 1 && get_int(f, "time_month") <= 12);
    fx_free(f);
}

/* ---- HostPressure ---- */

static const char *const psi_fields[] = {
    "psi_mem_some_avg10", "psi_mem_some_avg60", "psi_mem_some_avg300", "psi_mem_some_total",
    "psi_mem_full_avg10", "psi_mem_full_avg60", "psi_mem_full_avg300", "psi_mem_full_total",
    "psi_mem_some_delta", "psi_mem_full_delta", NULL,
};

static void test_psi_values(void **st)
{
    (void)st;
    assert_null(mom_collector_HostPressure.mandatory);
    assert_names(mom_collector_HostPressure.optional, psi_fields);

    fx *f = fx_new(&mom_collector_HostPressure, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_true(get_real(f, "psi_mem_some_avg10") == 1.23);
    assert_true(get_real(f, "psi_mem_some_avg60") == 4.56);
    assert_true(get_real(f, "psi_mem_some_avg300") == 7.89);
    assert_int_equal(get_int(f, "psi_mem_some_total"), 123456);
    assert_true(get_real(f, "psi_mem_full_avg10") == 0.5);
    assert_true(get_real(f, "psi_mem_full_avg60") == 0.25);
    assert_true(get_real(f, "psi_mem_full_avg300") == 0.1);
    assert_int_equal(get_int(f, "psi_mem_full_total"), 65432);
    assert_int_equal(get_int(f, "psi_mem_some_delta"), 0);
    assert_int_equal(get_int(f, "psi_mem_full_delta"), 0);

    put(f, "proc/pressure/memory", "some avg10=2.00 avg60=4.56 avg300=7.89 total=123556\n"
                                   "full avg10=0.50 avg60=0.25 avg300=0.10 total=65442\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "psi_mem_some_delta"), 100);
    assert_int_equal(get_int(f, "psi_mem_full_delta"), 10);
    assert_true(get_real(f, "psi_mem_some_avg10") == 2.0);

    /* Backwards: 0. */
    put(f, "proc/pressure/memory", "some avg10=2.00 avg60=4.56 avg300=7.89 total=5\n"
                                   "full avg10=0.50 avg60=0.25 avg300=0.10 total=65450\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "psi_mem_some_delta"), 0);
    assert_int_equal(get_int(f, "psi_mem_full_delta"), 8);
    assert_int_equal(get_int(f, "psi_mem_some_total"), 5);
    assert_int_equal(f->n_warn, 0);
    fx_free(f);
}

static void test_psi_absent(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostPressure, false);
    del(f, "proc/pressure");
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    for (size_t i = 0; psi_fields[i]; i++)
        assert_none(f, psi_fields[i]);
    assert_int_equal(f->n_warn, 0);

    /* PSI appears: values, deltas start at 0; then it goes away again. */
    mkd(f, "proc/pressure");
    put(f, "proc/pressure/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=10\n"
                                   "full avg10=0.00 avg60=0.00 avg300=0.00 total=20\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "psi_mem_some_total"), 10);
    assert_int_equal(get_int(f, "psi_mem_some_delta"), 0);
    del(f, "proc/pressure/memory");
    assert_int_equal(fx_collect(f), 0);
    for (size_t i = 0; psi_fields[i]; i++)
        assert_none(f, psi_fields[i]);
    put(f, "proc/pressure/memory", "some total=50\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "psi_mem_some_delta"), 0); /* baseline dropped */

    /* Any other read failure (here EISDIR) is no collection error either,
     * but it is logged, once per outage. */
    del(f, "proc/pressure/memory");
    mkd(f, "proc/pressure/memory");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(fx_collect(f), 0);
    for (size_t i = 0; psi_fields[i]; i++)
        assert_none(f, psi_fields[i]);
    assert_int_equal(f->n_warn, 1);
    assert_non_null(strstr(f->last_msg, "pressure/memory"));
    fx_free(f);
}

static void test_psi_token_order(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostPressure, false);
    assert_int_equal(fx_init(f), 0);
    put(f, "proc/pressure/memory",
        "full total=700 future=1 avg300=0.30 avg60=0.60 avg10=0.10\n"
        "some  avg300=3.00   total=900 avg10=1.00 newkey=2.5 avg60=x\n");
    assert_int_equal(fx_collect(f), 0);
    assert_true(get_real(f, "psi_mem_some_avg10") == 1.0);
    assert_none(f, "psi_mem_some_avg60");
    assert_true(get_real(f, "psi_mem_some_avg300") == 3.0);
    assert_int_equal(get_int(f, "psi_mem_some_total"), 900);
    assert_true(get_real(f, "psi_mem_full_avg10") == 0.1);
    assert_true(get_real(f, "psi_mem_full_avg60") == 0.6);
    assert_true(get_real(f, "psi_mem_full_avg300") == 0.3);
    assert_int_equal(get_int(f, "psi_mem_full_total"), 700);

    /* Only a "some" line (the cpu file of old kernels looks like this). */
    put(f, "proc/pressure/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=950\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "psi_mem_some_delta"), 50);
    assert_none(f, "psi_mem_full_avg10");
    assert_none(f, "psi_mem_full_total");
    assert_none(f, "psi_mem_full_delta");
    fx_free(f);
}

/* ---- the real /proc and /sys of this machine ---- */

static void test_live_memory(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostMemory, true);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    int64_t total = get_int(f, "mem_available");
    int64_t pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    assert_true(total > 0);
    /* MemTotal matches the kernel's page count within a few percent. */
    int64_t kib = pages * (psize / 1024);
    assert_true(total >= kib * 95 / 100 && total <= kib * 105 / 100);
    assert_true(get_int(f, "mem_unused") > 0);
    assert_true(get_int(f, "mem_unused") <= get_int(f, "mem_free"));
    assert_true(get_int(f, "mem_free") <= total);
    assert_true(get_int(f, "anon_pages") >= 0 && get_int(f, "anon_pages") <= total);
    assert_true(get_int(f, "swap_usage") >= 0);
    assert_true(get_int(f, "swap_usage") <= get_int(f, "swap_total"));
    assert_int_equal(get_int(f, "swap_in"), 0);
    assert_int_equal(get_int(f, "swap_out"), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_true(get_int(f, "swap_in") >= 0 && get_int(f, "swap_out") >= 0);
    fx_free(f);
}

static void test_live_ksm(void **st)
{
    (void)st;
    if (access("/sys/kernel/mm/ksm/run", R_OK) != 0)
        skip();
    fx *f = fx_new(&mom_collector_HostKSM, true);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    int64_t run = get_int(f, "ksm_run");
    assert_true(run >= 0 && run <= 2);
    assert_true(get_int(f, "ksm_sleep_millisecs") >= 0);
    assert_true(get_int(f, "ksm_pages_to_scan") >= 0);
    assert_true(get_int(f, "ksm_pages_shared") >= 0);
    assert_true(get_int(f, "ksm_pages_sharing") >= 0);
    assert_true(get_int(f, "ksm_full_scans") >= 0);
    assert_true(get_int(f, "ksm_shareable") >= 0);
    int64_t u = get_int(f, "ksmd_cpu_usage");
    assert_true(u >= 0 && u <= 100);
    if (access("/sys/kernel/mm/ksm/merge_across_nodes", R_OK) == 0) {
        int64_t m = get_int(f, "ksm_merge_across_nodes");
        assert_true(m == 0 || m == 1);
    } else {
        assert_none(f, "ksm_merge_across_nodes");
    }
    fx_free(f);
}

static void test_live_cpu_time(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostCpu, true);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    long nconf = sysconf(_SC_NPROCESSORS_CONF), onln = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t n = get_int(f, "cpu_count");
    assert_true(n >= 1);
    /* cpuinfo lists the online processors. */
    assert_true(n == onln || n == nconf);
    fx_free(f);

    f = fx_new(&mom_collector_HostTime, true);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    struct tm tm;
    time_t now = time(NULL);
    localtime_r(&now, &tm);
    assert_true(llabs(get_int(f, "time_year") - (tm.tm_year + 1900)) <= 1);
    assert_true(get_int(f, "time_hour") >= 0 && get_int(f, "time_hour") <= 23);
    fx_free(f);
}

static void test_live_pressure(void **st)
{
    (void)st;
    fx *f = fx_new(&mom_collector_HostPressure, true);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    if (access("/proc/pressure/memory", R_OK) != 0) {
        for (size_t i = 0; psi_fields[i]; i++)
            assert_none(f, psi_fields[i]);
        fx_free(f);
        return;
    }
    static const char *const avgs[] = {
        "psi_mem_some_avg10", "psi_mem_some_avg60", "psi_mem_some_avg300",
        "psi_mem_full_avg10", "psi_mem_full_avg60", "psi_mem_full_avg300",
    };
    for (size_t i = 0; i < sizeof(avgs) / sizeof(avgs[0]); i++) {
        double v = get_real(f, avgs[i]);
        assert_true(v >= 0.0 && v <= 100.0);
    }
    assert_true(get_int(f, "psi_mem_some_total") >= get_int(f, "psi_mem_full_total"));
    assert_int_equal(get_int(f, "psi_mem_some_delta"), 0);
    int64_t before = get_int(f, "psi_mem_some_total");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "psi_mem_some_delta"), get_int(f, "psi_mem_some_total") - before);
    fx_free(f);
}

/* Make each allocation of init and two collections fail in turn: the
 * result is an error or success, never a crash or a leak (valgrind and
 * ASan check the latter). */
static void test_alloc_failures(void **st)
{
    (void)st;
    const mom_collector *all[] = {
        &mom_collector_HostMemory, &mom_collector_HostKSM, &mom_collector_HostCpu,
        &mom_collector_HostTime, &mom_collector_HostPressure,
    };
    for (size_t c = 0; c < sizeof(all) / sizeof(all[0]); c++) {
        bool clean = false;
        for (long n = 1; n < 200 && !clean; n++) {
            fx *f = fx_new(all[c], false);
            alloc_fail_at(n);
            int r = fx_init(f);
            if (r == 0) {
                int r1 = fx_collect(f);
                int r2 = fx_collect(f);
                assert_true(r1 == 0 || r1 == -ENOMEM);
                assert_true(r2 == 0 || r2 == -ENOMEM);
                clean = r1 == 0 && r2 == 0 && alloc_count() < n;
            } else {
                assert_int_equal(r, -ENOMEM);
            }
            alloc_fail_at(0);
            fx_free(f);
        }
        assert_true(clean);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_procfs_find_u64),
        cmocka_unit_test(test_procfs_stat_field),
        cmocka_unit_test(test_procfs_psi_parser),
        cmocka_unit_test(test_procfs_foreach_pid),
        cmocka_unit_test(test_memory_fields),
        cmocka_unit_test(test_memory_values),
        cmocka_unit_test(test_memory_deltas),
        cmocka_unit_test(test_memory_missing_lines),
        cmocka_unit_test(test_memory_optional_lines),
        cmocka_unit_test(test_ksm_fields),
        cmocka_unit_test(test_ksm_values),
        cmocka_unit_test(test_ksm_missing_files),
        cmocka_unit_test(test_ksm_shareable),
        cmocka_unit_test(test_ksmd_cpu_usage),
        cmocka_unit_test(test_ksmd_lost_and_found),
        cmocka_unit_test(test_cpu),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_psi_values),
        cmocka_unit_test(test_psi_absent),
        cmocka_unit_test(test_psi_token_order),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_live_memory),
        cmocka_unit_test(test_live_ksm),
        cmocka_unit_test(test_live_cpu_time),
        cmocka_unit_test(test_live_pressure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
