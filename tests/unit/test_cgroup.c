/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * host-memory-cgroup: HostMemory and HostPressure reading a memory cgroup
 * (v1 and v2) instead of /proc/meminfo.  Exact values on fixture trees
 * (tests/fixtures/cgroup/{v1,v2}, copied so a test may change them), the
 * ways of naming the cgroup, a limit inherited from an ancestor, a cgroup
 * without a limit or swap accounting, a missing cgroup, and a sanity pass
 * over this process's own memory cgroup.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collectors/procfs.h"
#include "core/alloc.h"
#include "core/api.h"
#include "core/config.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/sample.h"

extern const mom_collector mom_collector_HostMemory;
extern const mom_collector mom_collector_HostPressure;

typedef struct fx {
    char dir[1024];
    char proc[1100];
    char sys[1100];
    conf *conf;
    mlog log;
    api_env env;
    mom_entity entity;
    fieldtab *ft;
    mom_sample s;
    const mom_collector *c;
    void *state;
    bool has_state;
    int n_err, n_warn;
    char last_msg[512];
} fx;

static void capture_log(mom_log_level level, const char *logger, const char *msg,
                        void *userdata)
{
    fx *f = userdata;
    (void)logger;
    if (level <= MOM_LOG_ERROR)
        f->n_err++;
    else if (level == MOM_LOG_WARN)
        f->n_warn++;
    snprintf(f->last_msg, sizeof(f->last_msg), "%s", msg);
    if (getenv("MOM_TEST_VERBOSE"))
        fprintf(stderr, "%s\n", msg);
}

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

static void put(fx *f, const char *rel, const char *text)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
    FILE *o = fopen(p, "we");
    assert_non_null(o);
    fputs(text, o);
    fclose(o);
}

static void conf_report(mom_log_level level, const char *msg, void *userdata)
{
    (void)level;
    (void)userdata;
    fprintf(stderr, "config: %s\n", msg);
}

/* A copy of fixture `tree` ("v1", "v2"), a configuration whose
 * host-memory-cgroup is `spec` (a spec starting with '@' is made absolute
 * under the copy's sys directory), and collector `c` over them.  `live`:
 * the real /proc and /sys. */
static fx *fx_new(const char *tree, const char *spec, const mom_collector *c, bool live)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    const char *src = getenv("MOM_TEST_SRCDIR");
    char fixture[PATH_MAX];
    snprintf(fixture, sizeof(fixture), "%s/tests/fixtures/cgroup/%s", src ? src : ".", tree);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/momcgXXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(rmdir(f->dir), 0);
    copy_tree(fixture, f->dir);
    snprintf(f->proc, sizeof(f->proc), "%s/proc", f->dir);
    snprintf(f->sys, sizeof(f->sys), "%s/sys", f->dir);

    char spec_abs[PATH_MAX];
    if (spec[0] == '@') {
        snprintf(spec_abs, sizeof(spec_abs), "%s/%s", f->sys, spec + 1);
        spec = spec_abs;
    }
    char text[16384];
    if (live)
        snprintf(text, sizeof(text), "[main]\nhost-memory-cgroup: %s\n", spec);
    else
        snprintf(text, sizeof(text),
                 "[main]\nhost-memory-cgroup: %s\nproc-root: %s\nsysfs-root: %s\n", spec,
                 f->proc, f->sys);
    assert_int_equal(conf_load_text("test.conf", text, strlen(text), NULL, 0, conf_report, NULL,
                                    &f->conf),
                     0);
    mlog_init(&f->log, capture_log, f, MOM_LOG_DEBUG);
    api_env_init(&f->env, f->conf, &f->log, NULL);
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
    conf_free(f->conf);
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

/* Host figures of the fixtures' meminfo (KiB). */
#define MEMTOTAL 16303428
#define SWAPTOTAL 8388604
#define SWAPUSED (8388604 - 8000000)
#define GIB (1024 * 1024) /* KiB */

/* ---- version 2 ---------------------------------------------------------- */

static void test_v2_limited_cgroup(void **state)
{
    (void)state;
    /* relative to the cgroup mount, as /proc/PID/cgroup prints it */
    fx *f = fx_new("v2", "/machine.slice", &mom_collector_HostMemory, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "mem_available"), 4 * GIB);       /* memory.max */
    assert_int_equal(get_int(f, "mem_unused"), 4 * GIB - 3 * GIB); /* max - current */
    assert_int_equal(get_int(f, "mem_free"), 1 * GIB + 512 * 1024); /* + file */
    assert_int_equal(get_int(f, "anon_pages"), 2 * GIB);
    assert_int_equal(get_int(f, "swap_total"), 1 * GIB); /* memory.swap.max */
    assert_int_equal(get_int(f, "swap_usage"), 100 * 1024);
    assert_int_equal(get_int(f, "swap_in"), 0);
    assert_int_equal(get_int(f, "swap_out"), 0);
    /* the cgroup's own pswpin/pswpout counters, not the host's */
    put(f, "sys/fs/cgroup/machine.slice/memory.stat",
        "anon 2147483648\nfile 536870912\npswpin 58\npswpout 71\n");
    put(f, "proc/vmstat", "pswpin 5000\npswpout 9000\n");
    put(f, "sys/fs/cgroup/machine.slice/memory.current", "3758096384\n"); /* 3.5 GiB */
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "swap_in"), 8);
    assert_int_equal(get_int(f, "swap_out"), 1);
    assert_int_equal(get_int(f, "mem_unused"), 512 * 1024);
    assert_int_equal(get_int(f, "mem_free"), 1 * GIB);
    fx_free(f);
}

static void test_v2_absolute_path_and_inherited_limit(void **state)
{
    (void)state;
    fx *f = fx_new("v2", "@fs/cgroup/parent.slice/child.scope", &mom_collector_HostMemory,
                   false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    /* child.scope has "max": the parent's 2 GiB applies */
    assert_int_equal(get_int(f, "mem_available"), 2 * GIB);
    assert_int_equal(get_int(f, "mem_unused"), 1 * GIB);
    assert_int_equal(get_int(f, "mem_free"), 1 * GIB + 128 * 1024);
    assert_int_equal(get_int(f, "anon_pages"), 768 * 1024);
    /* no swap accounting here: the host's swap and the host's counters */
    assert_int_equal(get_int(f, "swap_total"), SWAPTOTAL);
    assert_int_equal(get_int(f, "swap_usage"), SWAPUSED);
    put(f, "proc/vmstat", "pswpin 1030\npswpout 2002\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "swap_in"), 30);
    assert_int_equal(get_int(f, "swap_out"), 2);
    fx_free(f);
}

static void test_v2_unlimited_and_overcommitted(void **state)
{
    (void)state;
    fx *f = fx_new("v2", "free.slice", &mom_collector_HostMemory, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "mem_available"), MEMTOTAL); /* "max": MemTotal */
    assert_int_equal(get_int(f, "mem_unused"), MEMTOTAL - 1 * GIB);
    assert_int_equal(get_int(f, "mem_free"), MEMTOTAL - 1 * GIB + 256 * 1024);
    assert_int_equal(get_int(f, "swap_total"), SWAPTOTAL); /* swap.max "max" */
    assert_int_equal(get_int(f, "swap_usage"), 0);
    /* a limit above the host's memory is no limit */
    put(f, "sys/fs/cgroup/free.slice/memory.max", "1099511627776\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "mem_available"), MEMTOTAL);
    /* usage above the limit (the kernel allows a moment of it): 0 unused,
     * and mem_free never exceeds the total */
    put(f, "sys/fs/cgroup/free.slice/memory.max", "536870912\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "mem_available"), 512 * 1024);
    assert_int_equal(get_int(f, "mem_unused"), 0);
    assert_int_equal(get_int(f, "mem_free"), 256 * 1024);
    fx_free(f);
}

static void test_v2_pressure_from_cgroup(void **state)
{
    (void)state;
    fx *f = fx_new("v2", "machine.slice", &mom_collector_HostPressure, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_true(get_real(f, "psi_mem_some_avg10") == 1.5);
    assert_true(get_real(f, "psi_mem_full_avg10") == 0.25);
    assert_int_equal(get_int(f, "psi_mem_some_total"), 12345);
    put(f, "sys/fs/cgroup/machine.slice/memory.pressure",
        "some avg10=2.00 avg60=1.00 avg300=0.50 total=12400\n"
        "full avg10=0.25 avg60=0.10 avg300=0.05 total=700\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "psi_mem_some_delta"), 55);
    assert_int_equal(get_int(f, "psi_mem_full_delta"), 22);
    fx_free(f);

    /* a cgroup without memory.pressure: the host's PSI */
    f = fx_new("v2", "parent.slice/child.scope", &mom_collector_HostPressure, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_true(get_real(f, "psi_mem_some_avg10") == 9.0);
    assert_int_equal(get_int(f, "psi_mem_full_total"), 888888);
    fx_free(f);
}

/* ---- version 1 ---------------------------------------------------------- */

static void test_v1_limited_cgroup(void **state)
{
    (void)state;
    fx *f = fx_new("v1", "machine", &mom_collector_HostMemory, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "mem_available"), 4 * GIB);
    assert_int_equal(get_int(f, "mem_unused"), 1 * GIB);
    assert_int_equal(get_int(f, "mem_free"), 1 * GIB + 512 * 1024); /* + total_cache */
    assert_int_equal(get_int(f, "anon_pages"), 2 * GIB);            /* total_rss */
    assert_int_equal(get_int(f, "swap_total"), 1 * GIB);            /* memsw - mem limit */
    assert_int_equal(get_int(f, "swap_usage"), 100 * 1024);         /* total_swap */
    /* v1 has no per-cgroup swap counters: the host's */
    put(f, "proc/vmstat", "pswpin 1004\npswpout 2000\n");
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "swap_in"), 4);
    fx_free(f);
}

static void test_v1_unlimited_and_hierarchical(void **state)
{
    (void)state;
    fx *f = fx_new("v1", "@fs/cgroup/memory/free", &mom_collector_HostMemory, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "mem_available"), MEMTOTAL);
    assert_int_equal(get_int(f, "mem_unused"), MEMTOTAL - 1 * GIB);
    assert_int_equal(get_int(f, "swap_total"), SWAPTOTAL); /* no memsw files */
    assert_int_equal(get_int(f, "swap_usage"), SWAPUSED);
    fx_free(f);

    /* own limit unlimited, an ancestor's 2 GiB (hierarchical_memory_limit) */
    f = fx_new("v1", "/outer/inner", &mom_collector_HostMemory, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_int_equal(get_int(f, "mem_available"), 2 * GIB);
    assert_int_equal(get_int(f, "mem_unused"), 1 * GIB);
    assert_int_equal(get_int(f, "mem_free"), 1 * GIB + 128 * 1024);
    fx_free(f);

    /* v1 has no memory.pressure: HostPressure keeps the host's */
    f = fx_new("v1", "machine", &mom_collector_HostPressure, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    assert_true(get_real(f, "psi_mem_some_avg60") == 8.0);
    fx_free(f);
}

/* ---- failures ------------------------------------------------------------ */

static void test_missing_cgroup_is_a_startup_error(void **state)
{
    (void)state;
    fx *f = fx_new("v2", "no-such.slice", &mom_collector_HostMemory, false);
    assert_int_equal(fx_init(f), -ENOENT);
    assert_int_equal(f->n_err, 1);
    assert_non_null(strstr(f->last_msg, "no-such.slice"));
    fx_free(f);
    f = fx_new("v2", "no-such.slice", &mom_collector_HostPressure, false);
    assert_int_equal(fx_init(f), -ENOENT);
    fx_free(f);
}

static void test_cgroup_vanishes(void **state)
{
    (void)state;
    fx *f = fx_new("v2", "machine.slice", &mom_collector_HostMemory, false);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    /* the slice was removed: a collection error, logged once */
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/sys/fs/cgroup/machine.slice", f->dir);
    assert_int_equal(nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    int before = f->n_warn;
    assert_true(fx_collect(f) < 0);
    assert_true(fx_collect(f) < 0);
    assert_int_equal(f->n_warn, before + 1);
    assert_non_null(strstr(f->last_msg, "cannot read the cgroup"));
    fx_free(f);
}

static void test_open_resolution(void **state)
{
    (void)state;
    procfs_cgroup cg;
    const char *src = getenv("MOM_TEST_SRCDIR");
    char sys[PATH_MAX];
    snprintf(sys, sizeof(sys), "%s/tests/fixtures/cgroup/v2/sys", src ? src : ".");
    assert_int_equal(procfs_cgroup_open("machine.slice", sys, &cg), 0);
    assert_int_equal(cg.version, 2);
    assert_non_null(strstr(cg.dir, "/fs/cgroup/machine.slice"));
    assert_int_equal(procfs_cgroup_open("", sys, &cg), -ENOENT);
    assert_int_equal(procfs_cgroup_open("/", sys, &cg), -ENOENT); /* v2 root: no memory.current */
    char pp[PATH_MAX];
    assert_int_equal(procfs_cgroup_open("/machine.slice", sys, &cg), 0);
    assert_int_equal(procfs_cgroup_pressure_path(&cg, pp, sizeof(pp)), 0);
    assert_non_null(strstr(pp, "machine.slice/memory.pressure"));
    snprintf(sys, sizeof(sys), "%s/tests/fixtures/cgroup/v1/sys", src ? src : ".");
    assert_int_equal(procfs_cgroup_open("/", sys, &cg), 0); /* v1 root has usage */
    assert_int_equal(cg.version, 1);
    assert_int_equal(procfs_cgroup_pressure_path(&cg, pp, sizeof(pp)), -ENOENT);
    procfs_buf b = {0};
    procfs_cgroup_mem m;
    assert_int_equal(procfs_cgroup_read_memory(&cg, &b, &m), 0);
    assert_false(m.limited); /* 9223372036854771712 */
    assert_int_equal(m.usage, 8589934592ULL);
    procfs_buf_done(&b);
}

/* ---- this machine ------------------------------------------------------- */

/* The memory cgroup of this process as /proc/self/cgroup names it. */
static bool own_memory_cgroup(char *buf, size_t size)
{
    FILE *in = fopen("/proc/self/cgroup", "re");
    if (!in)
        return false;
    char line[1024];
    bool found = false;
    while (fgets(line, sizeof(line), in)) {
        line[strcspn(line, "\n")] = '\0';
        char *p = strchr(line, ':');
        char *q = p ? strchr(p + 1, ':') : NULL;
        if (!q)
            continue;
        *q = '\0';
        const char *controllers = p + 1;
        if (strstr(controllers, "memory") || (strcmp(line, "0") == 0 && !found)) {
            snprintf(buf, size, "%s", q + 1);
            found = true;
            if (strstr(controllers, "memory"))
                break;
        }
    }
    fclose(in);
    return found;
}

static void test_live_own_cgroup(void **state)
{
    (void)state;
    char spec[PATH_MAX];
    procfs_cgroup cg;
    if (!own_memory_cgroup(spec, sizeof(spec)) || procfs_cgroup_open(spec, "/sys", &cg) < 0) {
        skip();
        return;
    }
    fx *f = fx_new("v2", spec, &mom_collector_HostMemory, true);
    assert_int_equal(fx_init(f), 0);
    assert_int_equal(fx_collect(f), 0);
    int64_t total = get_int(f, "mem_available");
    assert_true(total > 0);
    assert_true(get_int(f, "mem_unused") <= total);
    assert_true(get_int(f, "mem_free") >= get_int(f, "mem_unused"));
    assert_true(get_int(f, "mem_free") <= total);
    /* this test program itself is charged to the cgroup */
    assert_true(get_int(f, "mem_unused") < total);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_limited_cgroup),
        cmocka_unit_test(test_v2_absolute_path_and_inherited_limit),
        cmocka_unit_test(test_v2_unlimited_and_overcommitted),
        cmocka_unit_test(test_v2_pressure_from_cgroup),
        cmocka_unit_test(test_v1_limited_cgroup),
        cmocka_unit_test(test_v1_unlimited_and_hierarchical),
        cmocka_unit_test(test_missing_cgroup_is_a_startup_error),
        cmocka_unit_test(test_cgroup_vanishes),
        cmocka_unit_test(test_open_resolution),
        cmocka_unit_test(test_live_own_cgroup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
