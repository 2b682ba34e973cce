/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the simulated host (src/hv/sim*.c): scenario loading and its
 * errors, the generated /proc and /sys files (format and consistency), the
 * hypervisor operations, and the model's invariants (memory conservation,
 * bounds, determinism, speed scaling, KSM following its run file, balloon
 * rate, guest and host swapping, pressure rising and decaying).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collectors/procfs.h"
#include "core/alloc.h"
#include "core/api.h"
#include "core/config.h"
#include "core/registry.h"
#include "core/sample.h"
#include "core/hv.h"
#include "core/log.h"
#include "core/value.h"
#include "hv/sim.h"
#include "hv/sim_scenario.h"

/* ---- helpers ------------------------------------------------------------- */

typedef struct logcap {
    char text[4096];
} logcap;

static void capture_log(mom_log_level level, const char *logger, const char *msg, void *userdata)
{
    logcap *c = userdata;
    (void)level;
    (void)logger;
    size_t len = strlen(c->text);
    snprintf(c->text + len, sizeof(c->text) - len, "%s\n", msg);
}

/* Read ROOT-relative file into a malloc'ed string (NULL when missing). */
static char *slurp(const char *dir, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* A meminfo value: the line "KEY:<blanks>NUMBER kB", parsed here by hand
 * (and checked for the kB suffix). */
static long long meminfo_get(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, klen) == 0 && l[klen] == ':') {
            char *end;
            long long v = strtoll(l + klen + 1, &end, 10);
            assert_true(end > l + klen + 1);
            assert_int_equal(strncmp(end, " kB\n", 4), 0);
            return v;
        }
    }
    fail_msg("no meminfo line %s", key);
    return -1;
}

/* A "key value" line of vmstat. */
static long long vmstat_get(const char *text, const char *key)
{
    uint64_t v;
    assert_int_equal(procfs_find_u64(text, key, ' ', &v), 0);
    return (long long)v;
}

static long long read_ll(const char *dir, const char *rel)
{
    char *t = slurp(dir, rel);
    assert_non_null(t);
    long long v = atoll(t);
    free(t);
    return v;
}

static void write_text(const char *dir, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static hv make_sim(const char *json, uint64_t seed, double speed)
{
    hv h;
    int r = sim_create_from_text(json, seed, speed, NULL, NULL, &h);
    assert_int_equal(r, 0);
    assert_non_null(h.ops);
    return h;
}

/* The first guest id of the list (copied into buf). */
static size_t guest_ids(hv *h, char ids[][64], size_t max)
{
    mom_hv_list l;
    hv_list_init(&l);
    assert_int_equal(h->ops->get_vm_list(&l, h->userdata), 0);
    size_t n = l.n;
    for (size_t i = 0; i < n && i < max; i++)
        snprintf(ids[i], 64, "%s", l.ids[i]);
    hv_list_done(&l);
    return n;
}

static mom_hv_memory_stats mem_stats(hv *h, const char *id)
{
    mom_hv_memory_stats st;
    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    assert_int_equal(h->ops->get_vm_memory_stats(id, &st, h->userdata), 0);
    return st;
}

static mom_hv_balloon_info balloon(hv *h, const char *id)
{
    mom_hv_balloon_info b;
    memset(&b, 0, sizeof(b));
    assert_int_equal(h->ops->get_vm_balloon_info(id, &b, h->userdata), 0);
    return b;
}

static int64_t guest_pid(hv *h, const char *id)
{
    mom_hv_guest_info gi;
    memset(&gi, 0, sizeof(gi));
    assert_int_equal(h->ops->get_vm_info(id, &gi, h->userdata), 0);
    return gi.pid;
}

/* Field `n` (1-based) of ROOT/proc/PID/stat, via the collectors' parser. */
static long long stat_field(hv *h, int64_t pid, int n)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "%lld/stat", (long long)pid);
    char *t = slurp(h->proc_root, rel);
    assert_non_null(t);
    uint64_t v;
    assert_int_equal(procfs_stat_field(t, n, &v), 0);
    free(t);
    return (long long)v;
}

static void refresh_to(hv *h, double from, double to, double step)
{
    for (double t = from; t <= to + 1e-9; t += step)
        h->refresh(h->userdata, t);
}

static const char *const two_guests =
    "{\"host\": {\"memory_mib\": 8192, \"swap_mib\": 1024, \"cpus\": 2, \"overhead_mib\": 512,"
    "          \"cache_mib\": 256, \"ksm_mergeable\": 0.25},"
    " \"guests\": ["
    "  {\"name\": \"a\", \"max_mib\": 2048, \"min_mib\": 512, \"vcpus\": 2, \"vcpu_limit\": 60,"
    "   \"workload\": {\"type\": \"periodic\", \"mean_mib\": 1024, \"amplitude_mib\": 256,"
    "                  \"period\": 20}},"
    "  {\"name\": \"b\", \"max_mib\": 3072, \"balloon_rate_mib\": 100,"
    "   \"workload\": [{\"type\": \"constant\", \"mib\": 1024},"
    "                  {\"type\": \"ramp\", \"at\": 10, \"from_mib\": 1024, \"to_mib\": 2048,"
    "                   \"duration\": 10}]}]}";

/* ---- scenario loading ------------------------------------------------------- */

static void test_default_scenario(void **state)
{
    (void)state;
    hv h;
    assert_int_equal(sim_create(NULL, NULL, &h), 0);
    assert_string_equal(h.name, "sim");
    assert_non_null(h.refresh);
    assert_non_null(h.destroy);
    assert_null(h.ops->ksm_tune); /* the engine writes the KSM files */
    char ids[16][64];
    assert_int_equal(guest_ids(&h, ids, 16), 5);

    /* Overcommitted: the guests' maxima exceed the host. */
    char *mi = slurp(h.proc_root, "meminfo");
    long long total = meminfo_get(mi, "MemTotal");
    free(mi);
    long long sum_max = 0;
    bool limited = false, has_disks = false;
    for (int i = 0; i < 5; i++) {
        mom_hv_balloon_info b = balloon(&h, ids[i]);
        assert_true(b.balloon_max >= 4096 * 1024 && b.balloon_max <= 6144 * 1024);
        sum_max += b.balloon_max;
        mom_hv_cpu_tune_info ct = {0};
        assert_int_equal(h.ops->get_vm_cpu_tune_info(ids[i], &ct, h.userdata), 0);
        limited |= ct.vcpu_user_limit < 100;
        mom_hv_disk_list dl = {NULL};
        assert_int_equal(h.ops->get_vm_io_tune_policy(ids[i], &dl, h.userdata), 0);
        has_disks |= dl.list && dl.list->u.c.n > 0;
        mom_value_unref(dl.list);
    }
    assert_true(sum_max > total);
    assert_true(limited);
    assert_true(has_disks);

    /* The story: under 20 % free within ~30 s, out again by 60 s. */
    double min_free = 1, end_free = 0;
    for (int t = 0; t <= 60; t++) {
        h.refresh(h.userdata, 1000.0 + t);
        mi = slurp(h.proc_root, "meminfo");
        double f = (double)(meminfo_get(mi, "MemFree") + meminfo_get(mi, "Buffers") +
                            meminfo_get(mi, "Cached")) /
                   (double)meminfo_get(mi, "MemTotal");
        free(mi);
        if (t <= 30 && f < min_free)
            min_free = f;
        end_free = f;
    }
    assert_true(min_free < 0.2);
    assert_true(end_free > 0.2);

    char root[1024];
    snprintf(root, sizeof(root), "%s", h.proc_root);
    hv_destroy(&h);
    struct stat st;
    assert_int_equal(stat(root, &st), -1); /* the private tree is gone */
}

/* Every example scenario loads, and default.json is the built-in one. */
static void test_example_scenarios(void **state)
{
    (void)state;
    const char *src = getenv("MOM_TEST_SRCDIR");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/conf/scenarios", src ? src : ".");
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char *text = slurp(dir, e->d_name);
        assert_non_null(text);
        hv h = make_sim(text, 1, 1);
        char ids[1][64];
        assert_true(guest_ids(&h, ids, 1) > 0);
        h.refresh(h.userdata, 0);
        h.refresh(h.userdata, 30);
        hv_destroy(&h);
        if (strcmp(e->d_name, "default.json") == 0) {
            json_t *a = json_loads(text, 0, NULL), *b = json_loads(sim_scenario_default, 0, NULL);
            assert_true(json_equal(a, b));
            json_decref(a);
            json_decref(b);
        }
        if (strcmp(e->d_name, "many-guests.json") == 0) {
            h = make_sim(text, 1, 1);
            char many[128][64];
            assert_int_equal(guest_ids(&h, many, 128), 100);
            hv_destroy(&h);
        }
        free(text);
        n++;
    }
    closedir(d);
    assert_true(n >= 3);
}

/* Expect creation to fail and the log to contain every `needles`. */
static void expect_error(const char *json, const char *needle1, const char *needle2)
{
    logcap cap = {.text = ""};
    mlog log;
    mlog_init(&log, capture_log, &cap, MOM_LOG_DEBUG);
    hv h;
    int r = sim_create_from_text(json, 1, 1, NULL, &log, &h);
    assert_true(r < 0);
    assert_null(h.ops);
    if (!strstr(cap.text, needle1) || (needle2 && !strstr(cap.text, needle2)))
        fail_msg("log '%s' lacks '%s' / '%s'", cap.text, needle1, needle2 ? needle2 : "");
}

static void test_bad_scenarios(void **state)
{
    (void)state;
    /* JSON syntax: line and column from jansson. */
    expect_error("{\n  \"host\": {\"memory_mib\": 1024,}\n}", "scenario:2:", "invalid JSON");
    expect_error("", "invalid JSON", NULL);
    expect_error("[1, 2]", "must be a JSON object", NULL);
    /* Content: the path of the bad value. */
    expect_error("{\"hots\": {}}", "unknown key 'hots'", NULL);
    expect_error("{\"guests\": [{\"name\": \"x\"}]}", "guests[0]", "'max_mib' is required");
    expect_error("{\"guests\": [{\"name\": \"x\", \"max_mib\": 1024, \"workload\": "
                 "[{\"type\": \"constant\", \"mib\": 1}, {\"type\": \"rmap\"}]}]}",
                 "guests[0].workload[1]", "unknown workload type 'rmap'");
    expect_error("{\"guests\": [{\"name\": \"x\", \"max_mib\": \"lots\"}]}", "'max_mib' must be a number",
                 NULL);
    expect_error("{\"guests\": [{\"name\": \"x\", \"max_mib\": 1024, \"min_mib\": 2048}]}",
                 "'min_mib' is 2048, outside", NULL);
    expect_error("{\"guests\": [{\"name\": \"x\", \"max_mib\": 1024}, {\"name\": \"x\", "
                 "\"max_mib\": 1024}]}",
                 "duplicate guest name 'x'", NULL);
    expect_error("{\"guests\": [{\"name\": \"x\", \"max_mib\": 1024, \"disks\": [{\"name\": "
                 "\"vda\", \"maximum\": {\"total_bytes_sec\": -1}}]}]}",
                 "guests[0].disks[0].maximum", "'total_bytes_sec' is -1");
    expect_error("{\"guests\": [{\"name\": \"x\", \"max_mib\": 1024, \"start\": 5, \"stop\": 2}]}",
                 "'stop' (2) must come after 'start' (5)", NULL);
    expect_error("{\"host\": {\"ksm\": {\"run\": 3}}}", "host.ksm", "'run' is 3");

    /* Through sim_create and a configuration: the file name is named. */
    char tmpl[] = "/tmp/test_sim_XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\n\n  \"guests\": [ }\n", 19), 19);
    close(fd);
    char text[256];
    snprintf(text, sizeof(text), "[main]\nhypervisor-interface: sim\n[sim]\nscenario: %s\n",
             tmpl);
    conf *c = NULL;
    assert_int_equal(conf_load_text("test.conf", text, strlen(text), NULL, 0, NULL, NULL, &c), 0);
    logcap cap = {.text = ""};
    mlog log;
    mlog_init(&log, capture_log, &cap, MOM_LOG_DEBUG);
    hv h;
    assert_int_equal(sim_create(c, &log, &h), MOM_E_CONFIG);
    char want[128];
    snprintf(want, sizeof(want), "%s:3:", tmpl);
    if (!strstr(cap.text, want))
        fail_msg("log '%s' lacks '%s'", cap.text, want);
    conf_free(c);
    unlink(tmpl);

    snprintf(text, sizeof(text), "[sim]\nscenario: /nonexistent/mom.json\n");
    assert_int_equal(conf_load_text("test.conf", text, strlen(text), NULL, 0, NULL, NULL, &c), 0);
    cap.text[0] = '\0';
    assert_int_equal(sim_create(c, &log, &h), -ENOENT);
    assert_non_null(strstr(cap.text, "/nonexistent/mom.json"));
    conf_free(c);

    /* Bad speed. */
    assert_int_equal(sim_create_from_text("{}", 1, 0, NULL, NULL, &h), -EINVAL);
}

/* Seed and speed come from [sim]. */
static void test_conf_keys(void **state)
{
    (void)state;
    const char *text = "[main]\nhypervisor-interface: sim\n[sim]\nseed: 7\nspeed: 2.5\n";
    conf *c = NULL;
    assert_int_equal(conf_load_text("t.conf", text, strlen(text), NULL, 0, NULL, NULL, &c), 0);
    hv a, b;
    assert_int_equal(sim_create(c, NULL, &a), 0);
    b = make_sim(sim_scenario_default, 7, 2.5);
    char ia[8][64], ib[8][64];
    assert_int_equal(guest_ids(&a, ia, 8), guest_ids(&b, ib, 8));
    assert_string_equal(ia[0], ib[0]); /* same seed, same UUIDs */
    a.refresh(a.userdata, 0);
    b.refresh(b.userdata, 0);
    a.refresh(a.userdata, 4);
    b.refresh(b.userdata, 4);
    assert_int_equal(balloon(&a, ia[0]).balloon_cur, balloon(&b, ib[0]).balloon_cur);
    assert_int_equal(mem_stats(&a, ia[0]).mem_unused, mem_stats(&b, ib[0]).mem_unused);
    hv_destroy(&a);
    hv_destroy(&b);
    conf_free(c);
}

/* ---- files ---------------------------------------------------------------------- */

static void test_file_formats(void **state)
{
    (void)state;
    hv h = make_sim(two_guests, 3, 1);
    refresh_to(&h, 0, 5, 1);

    char *t = slurp(h.proc_root, "cpuinfo");
    assert_non_null(t);
    int cpus = 0;
    for (const char *l = t; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        cpus += strncmp(l, "processor\t: ", 12) == 0;
    assert_int_equal(cpus, 2);
    free(t);

    t = slurp(h.proc_root, "meminfo");
    assert_int_equal(meminfo_get(t, "MemTotal"), 8192 * 1024);
    assert_int_equal(meminfo_get(t, "SwapTotal"), 1024 * 1024);
    assert_int_equal(meminfo_get(t, "SwapFree"), 1024 * 1024);
    static const char *const keys[] = {"MemFree", "MemAvailable", "Buffers", "Cached",
                                       "SwapCached", "AnonPages"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_true(meminfo_get(t, keys[i]) >= 0);
    assert_true(meminfo_get(t, "AnonPages") > 0);
    free(t);

    t = slurp(h.proc_root, "vmstat");
    static const char *const vkeys[] = {"pswpin", "pswpout", "pgfault", "pgmajfault",
                                        "nr_free_pages"};
    for (size_t i = 0; i < sizeof(vkeys) / sizeof(vkeys[0]); i++)
        assert_true(vmstat_get(t, vkeys[i]) >= 0);
    assert_true(vmstat_get(t, "pgfault") > 0);
    free(t);

    t = slurp(h.proc_root, "pressure/memory");
    procfs_psi psi;
    procfs_parse_psi(t, &psi);
    assert_true(psi.some.has_avg10 && psi.some.has_avg60 && psi.some.has_avg300 &&
                psi.some.has_total);
    assert_true(psi.full.has_avg10 && psi.full.has_total);
    assert_int_equal(strncmp(t, "some avg10=", 11), 0);
    free(t);

    static const char *const ksm[] = {"run", "pages_to_scan", "sleep_millisecs",
                                      "merge_across_nodes", "pages_shared", "pages_sharing",
                                      "pages_unshared", "pages_volatile", "full_scans"};
    for (size_t i = 0; i < sizeof(ksm) / sizeof(ksm[0]); i++) {
        char rel[128];
        snprintf(rel, sizeof(rel), "kernel/mm/ksm/%s", ksm[i]);
        t = slurp(h.sysfs_root, rel);
        assert_non_null(t);
        char *end;
        strtoll(t, &end, 10);
        assert_true(end > t && strcmp(end, "\n") == 0);
        free(t);
    }
    assert_int_equal(read_ll(h.sysfs_root, "kernel/mm/ksm/run"), 0);
    assert_int_equal(read_ll(h.sysfs_root, "kernel/mm/ksm/pages_to_scan"), 100);

    /* Each guest's QEMU process. */
    char ids[4][64];
    assert_int_equal(guest_ids(&h, ids, 4), 2);
    int64_t pids[2];
    for (int i = 0; i < 2; i++) {
        mom_hv_guest_info gi = {0};
        assert_int_equal(h.ops->get_vm_info(ids[i], &gi, h.userdata), 0);
        assert_string_equal(gi.uuid, ids[i]);
        assert_int_equal(strlen(gi.uuid), 36);
        assert_true(gi.uuid[8] == '-' && gi.uuid[13] == '-' && gi.uuid[14] == '4' &&
                    gi.uuid[18] == '-' && gi.uuid[23] == '-');
        pids[i] = gi.pid;
        char rel[64];
        snprintf(rel, sizeof(rel), "%lld/stat", (long long)gi.pid);
        t = slurp(h.proc_root, rel);
        assert_non_null(t);
        char head[64];
        snprintf(head, sizeof(head), "%lld (qemu-system-x86) S ", (long long)gi.pid);
        assert_int_equal(strncmp(t, head, strlen(head)), 0);
        int fields = 0;
        for (char *tok = strtok(t, " \n"); tok; tok = strtok(NULL, " \n"))
            fields++;
        assert_int_equal(fields, 52);
        free(t);
        long long rss = stat_field(&h, gi.pid, 24);
        mom_hv_memory_stats ms = mem_stats(&h, ids[i]);
        assert_true(rss * 4 <= ms.mem_available);
        assert_true(rss * 4 >= ms.mem_available - ms.mem_unused - 4);

        snprintf(rel, sizeof(rel), "%lld/comm", (long long)gi.pid);
        t = slurp(h.proc_root, rel);
        assert_string_equal(t, "qemu-system-x86\n");
        free(t);
        snprintf(rel, sizeof(rel), "%lld/status", (long long)gi.pid);
        t = slurp(h.proc_root, rel);
        uint64_t vmsize, vmrss;
        assert_int_equal(procfs_find_u64(t, "VmSize", ':', &vmsize), 0);
        assert_int_equal(procfs_find_u64(t, "VmRSS", ':', &vmrss), 0);
        assert_int_equal((long long)vmrss, rss * 4);
        assert_true((int64_t)vmsize > balloon(&h, ids[i]).balloon_max);
        assert_non_null(strstr(t, "Name:\tqemu-system-x86\n"));
        free(t);

        /* cmdline: NUL-separated, with -name guest=NAME and -uuid UUID. */
        char path[1024];
        snprintf(path, sizeof(path), "%s/%lld/cmdline", h.proc_root, (long long)gi.pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        char buf[2048];
        ssize_t n = read(fd, buf, sizeof(buf));
        close(fd);
        assert_true(n > 0 && buf[n - 1] == '\0');
        bool name_ok = false, uuid_ok = false;
        for (ssize_t off = 0; off < n; off += (ssize_t)strlen(buf + off) + 1) {
            const char *arg = buf + off, *next = off + (ssize_t)strlen(arg) + 1 < n
                                                     ? buf + off + strlen(arg) + 1
                                                     : "";
            char want[300];
            snprintf(want, sizeof(want), "guest=%s,", gi.name);
            if (strcmp(arg, "-name") == 0 && strncmp(next, want, strlen(want)) == 0)
                name_ok = true;
            if (strcmp(arg, "-uuid") == 0 && strcmp(next, gi.uuid) == 0)
                uuid_ok = true;
        }
        assert_true(name_ok && uuid_ok);
    }
    assert_true(pids[0] != pids[1]);

    /* ksmd, found by its comm. */
    bool found = false;
    DIR *d = opendir(h.proc_root);
    struct dirent *e;
    while ((e = readdir(d))) {
        char rel[300];
        snprintf(rel, sizeof(rel), "%s/comm", e->d_name);
        char *c = slurp(h.proc_root, rel);
        if (c && strcmp(c, "ksmd\n") == 0) {
            found = true;
            uint64_t v;
            snprintf(rel, sizeof(rel), "%s/stat", e->d_name);
            char *st = slurp(h.proc_root, rel);
            assert_int_equal(procfs_stat_field(st, 14, &v), 0);
            free(st);
        }
        free(c);
    }
    closedir(d);
    assert_true(found);
    hv_destroy(&h);
}

/* Host memory is conserved in the files: MemTotal = overhead + the QEMU
 * processes' RSS - KSM savings + (MemFree + Buffers + Cached), and every
 * quantity stays within its bounds, over a run with KSM on and balloons
 * moving. */
static void test_conservation_and_bounds(void **state)
{
    (void)state;
    hv h = make_sim(two_guests, 11, 1);
    char ids[4][64];
    assert_int_equal(guest_ids(&h, ids, 4), 2);
    h.refresh(h.userdata, 0);
    write_text(h.sysfs_root, "kernel/mm/ksm/pages_to_scan", "5000\n");
    write_text(h.sysfs_root, "kernel/mm/ksm/run", "1\n");
    long long max_sharing = 0;
    for (int t = 1; t <= 120; t++) {
        if (t == 30)
            h.ops->set_vm_balloon_target(ids[0], 1024 * 1024, h.userdata);
        if (t == 60)
            h.ops->set_vm_balloon_target(ids[1], 1536 * 1024, h.userdata);
        if (t == 90)
            h.ops->set_vm_balloon_target(ids[0], 2048 * 1024, h.userdata);
        h.refresh(h.userdata, t);
        char *mi = slurp(h.proc_root, "meminfo");
        long long total = meminfo_get(mi, "MemTotal");
        long long fr = meminfo_get(mi, "MemFree") + meminfo_get(mi, "Buffers") +
                       meminfo_get(mi, "Cached");
        assert_int_equal(meminfo_get(mi, "SwapFree"), meminfo_get(mi, "SwapTotal"));
        free(mi);
        long long sharing = read_ll(h.sysfs_root, "kernel/mm/ksm/pages_sharing");
        if (sharing > max_sharing)
            max_sharing = sharing;
        long long rss = 0;
        for (int i = 0; i < 2; i++) {
            rss += stat_field(&h, guest_pid(&h, ids[i]), 24) * 4;
            mom_hv_balloon_info b = balloon(&h, ids[i]);
            assert_true(b.balloon_cur > 0 && b.balloon_cur <= b.balloon_max);
            mom_hv_memory_stats ms = mem_stats(&h, ids[i]);
            assert_int_equal(ms.mem_available, b.balloon_cur);
            assert_true(ms.mem_unused >= 0 && ms.mem_unused <= ms.mem_available);
            assert_true(ms.mem_free >= ms.mem_unused && ms.mem_free <= ms.mem_available);
            assert_true(ms.mem_usable >= ms.mem_unused && ms.mem_usable <= ms.mem_free);
        }
        assert_true(fr >= 0 && fr <= total);
        assert_int_equal(total, 512 * 1024 + rss - sharing * 4 + fr);
    }
    assert_true(max_sharing > 0); /* the identity above included KSM savings */
    hv_destroy(&h);
}

/* Only the process files whose values changed are rewritten. */
static void test_unchanged_files_not_rewritten(void **state)
{
    (void)state;
    hv h = make_sim("{\"guests\": [{\"name\": \"still\", \"max_mib\": 1024, \"workload\": "
                    "{\"type\": \"idle\"}},"
                    "{\"name\": \"moving\", \"max_mib\": 1024, \"workload\": "
                    "{\"type\": \"ramp\", \"from_mib\": 100, \"to_mib\": 800, "
                    "\"duration\": 100}}]}",
                    1, 1);
    h.refresh(h.userdata, 0);
    h.refresh(h.userdata, 1);
    char ids[2][64];
    assert_int_equal(guest_ids(&h, ids, 2), 2);
    struct stat before[2], after[2];
    char path[2][1024];
    for (int i = 0; i < 2; i++) {
        snprintf(path[i], sizeof(path[i]), "%s/%lld/stat", h.proc_root,
                 (long long)guest_pid(&h, ids[i]));
        assert_int_equal(stat(path[i], &before[i]), 0);
    }
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    h.refresh(h.userdata, 5);
    for (int i = 0; i < 2; i++)
        assert_int_equal(stat(path[i], &after[i]), 0);
    mom_hv_guest_info gi = {0};
    h.ops->get_vm_info(ids[0], &gi, h.userdata);
    int still = strcmp(gi.name, "still") == 0 ? 0 : 1;
    assert_true(before[still].st_mtim.tv_sec == after[still].st_mtim.tv_sec &&
                before[still].st_mtim.tv_nsec == after[still].st_mtim.tv_nsec);
    assert_false(before[1 - still].st_mtim.tv_sec == after[1 - still].st_mtim.tv_sec &&
                 before[1 - still].st_mtim.tv_nsec == after[1 - still].st_mtim.tv_nsec);
    hv_destroy(&h);
}

/* ---- determinism and time ------------------------------------------------------- */

static void run_default(hv *h, double scale)
{
    for (int t = 0; t <= 40; t += 2)
        h->refresh(h->userdata, 500 + t * scale);
}

static void test_determinism(void **state)
{
    (void)state;
    hv a = make_sim(sim_scenario_default, 42, 1);
    hv b = make_sim(sim_scenario_default, 42, 1);
    hv c = make_sim(sim_scenario_default, 43, 1);
    run_default(&a, 1);
    run_default(&b, 1);
    run_default(&c, 1);
    static const char *const files[] = {"meminfo", "vmstat", "pressure/memory"};
    for (size_t i = 0; i < 3; i++) {
        char *ta = slurp(a.proc_root, files[i]), *tb = slurp(b.proc_root, files[i]);
        assert_string_equal(ta, tb);
        free(ta);
        free(tb);
    }
    char ia[8][64], ib[8][64], ic[8][64];
    size_t n = guest_ids(&a, ia, 8);
    assert_int_equal(guest_ids(&b, ib, 8), n);
    assert_int_equal(guest_ids(&c, ic, 8), n);
    int differ = 0;
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(ia[i], ib[i]);
        assert_string_not_equal(ia[i], ic[i]);
        mom_hv_memory_stats sa = mem_stats(&a, ia[i]), sb = mem_stats(&b, ib[i]),
                            sc = mem_stats(&c, ic[i]);
        assert_memory_equal(&sa, &sb, sizeof(sa));
        differ += sa.mem_unused != sc.mem_unused;
        char rel[64];
        snprintf(rel, sizeof(rel), "%lld/stat", (long long)guest_pid(&a, ia[i]));
        char *ta = slurp(a.proc_root, rel), *tb = slurp(b.proc_root, rel);
        assert_string_equal(ta, tb);
        free(ta);
        free(tb);
    }
    assert_true(differ > 0); /* another seed, other noise */
    hv_destroy(&a);
    hv_destroy(&b);
    hv_destroy(&c);
}

static void test_speed_scaling(void **state)
{
    (void)state;
    hv a = make_sim(sim_scenario_default, 5, 1);
    hv b = make_sim(sim_scenario_default, 5, 4);
    run_default(&a, 1);
    run_default(&b, 0.25); /* same simulated times, a quarter of the wall time */
    char ia[8][64], ib[8][64];
    size_t n = guest_ids(&a, ia, 8);
    assert_int_equal(guest_ids(&b, ib, 8), n);
    for (size_t i = 0; i < n; i++) {
        mom_hv_memory_stats sa = mem_stats(&a, ia[i]), sb = mem_stats(&b, ib[i]);
        assert_memory_equal(&sa, &sb, sizeof(sa));
    }
    char *ta = slurp(a.proc_root, "meminfo"), *tb = slurp(b.proc_root, "meminfo");
    assert_string_equal(ta, tb);
    free(ta);
    free(tb);

    /* And the clock really is scaled: 10 s at speed 4 is 40 simulated s,
     * which the same sim at speed 1 only reaches after 40 s. */
    hv c = make_sim(two_guests, 5, 4), d = make_sim(two_guests, 5, 1);
    c.refresh(c.userdata, 0);
    d.refresh(d.userdata, 0);
    c.refresh(c.userdata, 10);
    d.refresh(d.userdata, 10);
    char ic[2][64], id[2][64];
    guest_ids(&c, ic, 2);
    guest_ids(&d, id, 2);
    mom_hv_guest_info gi = {0};
    c.ops->get_vm_info(ic[1], &gi, c.userdata);
    assert_string_equal(gi.name, "b");
    /* Guest b ramps from 1024 to 2048 MiB between 10 and 20 s. */
    long long used_c = mem_stats(&c, ic[1]).mem_available - mem_stats(&c, ic[1]).mem_free;
    long long used_d = mem_stats(&d, id[1]).mem_available - mem_stats(&d, id[1]).mem_free;
    assert_true(used_c > used_d + 800 * 1024);
    d.refresh(d.userdata, 40);
    assert_int_equal(mem_stats(&d, id[1]).mem_free, mem_stats(&c, ic[1]).mem_free);
    hv_destroy(&a);
    hv_destroy(&b);
    hv_destroy(&c);
    hv_destroy(&d);
}

/* ---- operations ------------------------------------------------------------------ */

static void test_balloon_rate(void **state)
{
    (void)state;
    hv h = make_sim(two_guests, 1, 1);
    char ids[2][64];
    guest_ids(&h, ids, 2);
    const char *b = ids[1]; /* guest "b": 3072 MiB, 100 MiB/s */
    h.refresh(h.userdata, 0);
    assert_int_equal(balloon(&h, b).balloon_cur, 3072 * 1024);
    assert_int_equal(balloon(&h, b).balloon_max, 3072 * 1024);
    assert_int_equal(h.ops->set_vm_balloon_target(b, 1024 * 1024, h.userdata), 0);
    h.refresh(h.userdata, 10);
    assert_int_equal(balloon(&h, b).balloon_cur, (3072 - 1000) * 1024);
    h.refresh(h.userdata, 15);
    assert_int_equal(balloon(&h, b).balloon_cur, (3072 - 1500) * 1024);
    h.refresh(h.userdata, 25);
    assert_int_equal(balloon(&h, b).balloon_cur, 1024 * 1024);
    h.refresh(h.userdata, 40);
    assert_int_equal(balloon(&h, b).balloon_cur, 1024 * 1024);
    /* Growing back, and clamping to (0, max]. */
    assert_int_equal(h.ops->set_vm_balloon_target(b, 100LL * 1024 * 1024, h.userdata), 0);
    h.refresh(h.userdata, 45);
    assert_int_equal(balloon(&h, b).balloon_cur, (1024 + 500) * 1024);
    h.refresh(h.userdata, 80);
    assert_int_equal(balloon(&h, b).balloon_cur, 3072 * 1024);
    assert_int_equal(h.ops->set_vm_balloon_target(b, 0, h.userdata), 0);
    h.refresh(h.userdata, 200);
    int64_t cur = balloon(&h, b).balloon_cur;
    assert_true(cur > 0 && cur < 1024 * 1024);
    /* The guest's view follows. */
    assert_int_equal(mem_stats(&h, b).mem_available, cur);
    /* Unknown guests. */
    mom_hv_balloon_info bi;
    assert_int_equal(h.ops->set_vm_balloon_target("nope", 1, h.userdata), -ENOENT);
    assert_int_equal(h.ops->get_vm_balloon_info("nope", &bi, h.userdata), -ENOENT);
    hv_destroy(&h);
}

/* A guest whose demand exceeds its balloon swaps; given room, it stops. */
static void test_guest_swap(void **state)
{
    (void)state;
    hv h = make_sim("{\"guests\": [{\"name\": \"g\", \"max_mib\": 4096, \"reserve_mib\": 128,"
                    " \"cache_mib\": 256, \"swap_mib\": 2048, \"balloon_rate_mib\": 1024,"
                    " \"noise\": 0, \"workload\": {\"type\": \"constant\", \"mib\": 3000}}]}",
                    1, 1);
    char ids[1][64];
    guest_ids(&h, ids, 1);
    h.refresh(h.userdata, 0);
    h.refresh(h.userdata, 5);
    mom_hv_memory_stats s0 = mem_stats(&h, ids[0]);
    assert_int_equal(s0.swap_usage, 0);
    assert_int_equal(s0.swap_out, 0);
    assert_int_equal(s0.swap_total, 2048 * 1024);
    assert_int_equal(h.ops->set_vm_balloon_target(ids[0], 2048 * 1024, h.userdata), 0);
    h.refresh(h.userdata, 10);
    mom_hv_memory_stats s1 = mem_stats(&h, ids[0]);
    /* Demand 3000 MiB, usable 2048 - 128 MiB. */
    assert_int_equal(s1.swap_usage, (3000 - 1920) * 1024);
    assert_true(s1.swap_out >= s1.swap_usage);
    assert_int_equal(s1.mem_unused, 0);
    assert_true(s1.major_fault > 0);
    h.refresh(h.userdata, 20);
    mom_hv_memory_stats s2 = mem_stats(&h, ids[0]);
    assert_true(s2.swap_in > s1.swap_in); /* thrashing */
    assert_true(s2.swap_out > s1.swap_out);
    assert_true(s2.major_fault > s1.major_fault);
    h.ops->set_vm_balloon_target(ids[0], 4096 * 1024, h.userdata);
    h.refresh(h.userdata, 30);
    mom_hv_memory_stats s3 = mem_stats(&h, ids[0]);
    assert_int_equal(s3.swap_usage, 0);
    assert_true(s3.mem_unused > 0);
    h.refresh(h.userdata, 40);
    mom_hv_memory_stats s4 = mem_stats(&h, ids[0]);
    assert_int_equal(s4.swap_out, s3.swap_out); /* no more traffic */
    hv_destroy(&h);
}

/* The host swaps when the guests do not fit; pressure rises, then decays
 * once the balloons give memory back. */
static void test_host_swap_and_pressure(void **state)
{
    (void)state;
    hv h = make_sim("{\"host\": {\"memory_mib\": 4096, \"swap_mib\": 2048, \"overhead_mib\": 256,"
                    "          \"cache_mib\": 128},"
                    " \"guests\": ["
                    "  {\"name\": \"a\", \"max_mib\": 3072, \"balloon_rate_mib\": 512,"
                    "   \"workload\": {\"type\": \"ramp\", \"from_mib\": 512, \"to_mib\": 2048,"
                    "                  \"duration\": 10}},"
                    "  {\"name\": \"b\", \"max_mib\": 3072, \"balloon_rate_mib\": 512,"
                    "   \"workload\": [{\"type\": \"ramp\", \"from_mib\": 512, \"to_mib\": 2048,"
                    "                   \"duration\": 10},"
                    "                  {\"type\": \"constant\", \"at\": 40, \"mib\": 512}]}]}",
                    9, 1);
    char ids[2][64];
    guest_ids(&h, ids, 2);
    h.refresh(h.userdata, 0);
    procfs_psi p0;
    char *t = slurp(h.proc_root, "pressure/memory");
    procfs_parse_psi(t, &p0);
    free(t);
    assert_true(p0.some.avg10 == 0);
    refresh_to(&h, 1, 30, 1);
    char *mi = slurp(h.proc_root, "meminfo");
    long long swap_used = meminfo_get(mi, "SwapTotal") - meminfo_get(mi, "SwapFree");
    free(mi);
    assert_true(swap_used > 256 * 1024);
    t = slurp(h.proc_root, "vmstat");
    long long pswpout = vmstat_get(t, "pswpout");
    free(t);
    assert_true(pswpout * 4 >= swap_used);
    procfs_psi p1;
    t = slurp(h.proc_root, "pressure/memory");
    procfs_parse_psi(t, &p1);
    free(t);
    assert_true(p1.some.avg10 > 5);
    assert_true(p1.some.avg10 > p1.some.avg60 && p1.some.avg60 > p1.some.avg300);
    assert_true(p1.full.avg10 > 0 && p1.full.avg10 <= p1.some.avg10);
    assert_true(p1.some.total > 0);
    /* The host's swap shows in the QEMU processes: RSS below what the
     * guest uses. */
    long long rss = stat_field(&h, guest_pid(&h, ids[0]), 24) * 4;
    mom_hv_memory_stats ms = mem_stats(&h, ids[0]);
    assert_true(rss < ms.mem_available - ms.mem_unused);
    assert_true(stat_field(&h, guest_pid(&h, ids[0]), 12) > 0); /* majflt */

    /* Guest b's demand falls at 40 s, but the memory it touched stays
     * resident until its balloon takes it back. */
    refresh_to(&h, 31, 45, 1);
    h.ops->set_vm_balloon_target(ids[1], 1024 * 1024, h.userdata);
    refresh_to(&h, 46, 400, 2);
    mi = slurp(h.proc_root, "meminfo");
    assert_int_equal(meminfo_get(mi, "SwapTotal"), meminfo_get(mi, "SwapFree"));
    free(mi);
    procfs_psi p2;
    t = slurp(h.proc_root, "pressure/memory");
    procfs_parse_psi(t, &p2);
    free(t);
    assert_true(p2.some.avg10 < 0.5);
    assert_true(p2.some.avg60 < p1.some.avg10);
    assert_true(p2.some.total >= p1.some.total);
    hv_destroy(&h);
}

/* KSM follows what the controller writes into the run file. */
static void test_ksm_follows_run_file(void **state)
{
    (void)state;
    hv h = make_sim("{\"host\": {\"memory_mib\": 8192, \"ksm_mergeable\": 0.3},"
                    " \"guests\": [{\"name\": \"g\", \"max_mib\": 4096, \"noise\": 0,"
                    "   \"workload\": {\"type\": \"constant\", \"mib\": 2048}}]}",
                    1, 1);
    const char *sys = h.sysfs_root;
    h.refresh(h.userdata, 0);
    refresh_to(&h, 1, 20, 1);
    assert_int_equal(read_ll(sys, "kernel/mm/ksm/pages_sharing"), 0); /* run=0 at start */
    assert_int_equal(read_ll(sys, "kernel/mm/ksm/full_scans"), 0);
    long long ksmd0 = -1;
    {
        uint64_t v;
        char *st = slurp(h.proc_root, "60/stat");
        assert_int_equal(procfs_stat_field(st, 14, &v), 0);
        ksmd0 = (long long)v;
        free(st);
    }

    write_text(sys, "kernel/mm/ksm/run", "1\n");
    write_text(sys, "kernel/mm/ksm/pages_to_scan", "1000");
    write_text(sys, "kernel/mm/ksm/sleep_millisecs", "10\n");
    refresh_to(&h, 21, 22, 1);
    long long s1 = read_ll(sys, "kernel/mm/ksm/pages_sharing");
    refresh_to(&h, 23, 30, 1);
    long long s2 = read_ll(sys, "kernel/mm/ksm/pages_sharing");
    assert_true(s1 > 0 && s2 > s1);
    assert_true(read_ll(sys, "kernel/mm/ksm/pages_shared") > 0);
    assert_true(read_ll(sys, "kernel/mm/ksm/pages_shared") <= s2);
    /* A faster scan converges on the mergeable share of resident memory. */
    write_text(sys, "kernel/mm/ksm/pages_to_scan", "20000\n");
    refresh_to(&h, 31, 120, 1);
    long long s3 = read_ll(sys, "kernel/mm/ksm/pages_sharing");
    long long rss_pages = stat_field(&h, 10000, 24);
    assert_true(fabs((double)s3 - 0.3 * (double)rss_pages) < 0.01 * (double)rss_pages);
    assert_true(read_ll(sys, "kernel/mm/ksm/full_scans") > 1);
    uint64_t ksmd1;
    char *st = slurp(h.proc_root, "60/stat");
    assert_int_equal(procfs_stat_field(st, 14, &ksmd1), 0);
    free(st);
    assert_true((long long)ksmd1 > ksmd0);

    /* run=0 keeps the merged pages, run=2 unmerges them. */
    write_text(sys, "kernel/mm/ksm/run", "0\n");
    refresh_to(&h, 121, 130, 1);
    assert_int_equal(read_ll(sys, "kernel/mm/ksm/pages_sharing"), s3);
    st = slurp(h.proc_root, "60/stat");
    uint64_t ksmd2;
    assert_int_equal(procfs_stat_field(st, 14, &ksmd2), 0);
    free(st);
    assert_int_equal(ksmd2, ksmd1); /* ksmd idle */
    char *mi = slurp(h.proc_root, "meminfo");
    long long free_merged = meminfo_get(mi, "MemFree");
    free(mi);
    write_text(sys, "kernel/mm/ksm/run", "2\n");
    h.refresh(h.userdata, 131);
    assert_int_equal(read_ll(sys, "kernel/mm/ksm/pages_sharing"), 0);
    assert_int_equal(read_ll(sys, "kernel/mm/ksm/pages_shared"), 0);
    mi = slurp(h.proc_root, "meminfo");
    assert_true(meminfo_get(mi, "MemFree") < free_merged - s3 * 4 / 2);
    free(mi);
    /* Garbage in the run file is ignored (the last good value stays). */
    write_text(sys, "kernel/mm/ksm/run", "7\n");
    h.refresh(h.userdata, 140);
    assert_int_equal(read_ll(sys, "kernel/mm/ksm/pages_sharing"), 0);
    hv_destroy(&h);
}

static void test_start_stop(void **state)
{
    (void)state;
    hv h = make_sim("{\"guests\": [{\"name\": \"always\", \"max_mib\": 1024},"
                    "  {\"name\": \"late\", \"max_mib\": 1024, \"start\": 10, \"stop\": 30}]}",
                    1, 1);
    char ids[4][64];
    h.refresh(h.userdata, 0);
    assert_int_equal(guest_ids(&h, ids, 4), 1);
    char path[1024];
    snprintf(path, sizeof(path), "%s/10001", h.proc_root);
    struct stat st;
    assert_int_equal(stat(path, &st), -1);
    h.refresh(h.userdata, 15);
    assert_int_equal(guest_ids(&h, ids, 4), 2);
    assert_int_equal(guest_pid(&h, ids[1]), 10001);
    assert_int_equal(stat(path, &st), 0);
    char late[64];
    snprintf(late, sizeof(late), "%s", ids[1]);
    h.refresh(h.userdata, 35);
    assert_int_equal(guest_ids(&h, ids, 4), 1);
    assert_int_equal(stat(path, &st), -1);
    mom_hv_guest_info gi;
    assert_int_equal(h.ops->get_vm_info(late, &gi, h.userdata), -ENOENT);
    mom_hv_memory_stats ms;
    assert_int_equal(h.ops->get_vm_memory_stats(late, &ms, h.userdata), -ENOENT);
    /* Nothing but the live process directories and ksmd remains. */
    DIR *d = opendir(h.proc_root);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += e->d_name[0] >= '0' && e->d_name[0] <= '9';
    closedir(d);
    assert_int_equal(n, 2);
    hv_destroy(&h);
}

static void test_cpu_and_io_tune(void **state)
{
    (void)state;
    hv h = make_sim("{\"guests\": [{\"name\": \"g\", \"max_mib\": 1024, \"vcpus\": 3,"
                    " \"vcpu_limit\": 40, \"disks\": ["
                    "  {\"name\": \"vda\", \"path\": \"/img/a\","
                    "   \"guaranteed\": {\"total_bytes_sec\": 100}, \"maximum\": "
                    "{\"total_bytes_sec\": 1000, \"read_iops_sec\": 50}},"
                    "  {\"name\": \"vdb\", \"current\": {\"write_iops_sec\": 7}}]},"
                    " {\"name\": \"nostats\", \"max_mib\": 1024, \"memory_stats\": false}]}",
                    1, 1);
    char ids[2][64];
    guest_ids(&h, ids, 2);
    const char *g = ids[0];
    mom_hv_cpu_tune_info ct = {0};
    assert_int_equal(h.ops->get_vm_cpu_tune_info(g, &ct, h.userdata), 0);
    assert_int_equal(ct.vcpu_count, 3);
    assert_int_equal(ct.vcpu_user_limit, 40);
    assert_int_equal(ct.vcpu_quota, -1);
    assert_int_equal(ct.vcpu_period, 100000);
    assert_int_equal(h.ops->set_vm_cpu_tune(g, 40000, 100000, h.userdata), 0);
    assert_int_equal(h.ops->get_vm_cpu_tune_info(g, &ct, h.userdata), 0);
    assert_int_equal(ct.vcpu_quota, 40000);
    assert_int_equal(h.ops->set_vm_cpu_tune(g, 5, 100000, h.userdata), -EINVAL);
    assert_int_equal(h.ops->set_vm_cpu_tune(g, 40000, 0, h.userdata), -EINVAL);
    assert_int_equal(h.ops->set_vm_cpu_tune("x", 40000, 100000, h.userdata), -ENOENT);
    assert_int_equal(h.ops->get_vm_cpu_tune_info(g, &ct, h.userdata), 0);
    assert_int_equal(ct.vcpu_quota, 40000);

    mom_hv_disk_list pl = {NULL};
    assert_int_equal(h.ops->get_vm_io_tune_policy(g, &pl, h.userdata), 0);
    assert_int_equal(pl.list->u.c.n, 2);
    mom_value *d0 = pl.list->u.c.items[0];
    assert_string_equal(value_map_get(d0, "name")->u.s.ptr, "vda");
    assert_string_equal(value_map_get(d0, "path")->u.s.ptr, "/img/a");
    mom_value *mx = value_map_get(d0, "maximum");
    assert_int_equal(value_map_get(mx, "total_bytes_sec")->u.i, 1000);
    assert_int_equal(value_map_get(mx, "read_iops_sec")->u.i, 50);
    assert_int_equal(value_map_get(mx, "write_iops_sec")->type, MOM_VALUE_NONE);
    assert_int_equal(value_map_get(value_map_get(d0, "guaranteed"), "total_bytes_sec")->u.i,
                     100);
    assert_int_equal(value_map_get(pl.list->u.c.items[1], "path")->type, MOM_VALUE_NONE);
    mom_value_unref(pl.list);

    /* Set: vda by path, vdb by name; limits merge into the current ones. */
    mom_hv_disk_tune set[2] = {
        {.name = "ignored", .path = "/img/a",
         .io_tune = {.present = MOM_HV_TOTAL_BYTES_SEC, .total_bytes_sec = 500}},
        {.name = "vdb", .path = NULL,
         .io_tune = {.present = MOM_HV_READ_IOPS_SEC, .read_iops_sec = 9}},
    };
    assert_int_equal(h.ops->set_vm_io_tune(g, set, 2, h.userdata), 0);
    mom_hv_disk_list cl = {NULL};
    assert_int_equal(h.ops->get_vm_io_tune(g, &cl, h.userdata), 0);
    assert_int_equal(cl.list->u.c.n, 2);
    mom_value *c0 = value_map_get(cl.list->u.c.items[0], "ioTune");
    mom_value *c1 = value_map_get(cl.list->u.c.items[1], "ioTune");
    assert_int_equal(value_map_get(c0, "total_bytes_sec")->u.i, 500);
    assert_int_equal(value_map_get(c0, "read_iops_sec")->type, MOM_VALUE_NONE);
    assert_int_equal(value_map_get(c1, "read_iops_sec")->u.i, 9);
    assert_int_equal(value_map_get(c1, "write_iops_sec")->u.i, 7);
    mom_value_unref(cl.list);

    /* An unknown disk or a negative limit changes nothing. */
    mom_hv_disk_tune bad[2] = {
        {.name = "vda", .path = "/img/a",
         .io_tune = {.present = MOM_HV_TOTAL_BYTES_SEC, .total_bytes_sec = 1}},
        {.name = "vdz", .io_tune = {.present = MOM_HV_TOTAL_BYTES_SEC, .total_bytes_sec = 1}},
    };
    assert_int_equal(h.ops->set_vm_io_tune(g, bad, 2, h.userdata), -EINVAL);
    bad[1].name = "vdb";
    bad[1].io_tune.total_bytes_sec = -5;
    assert_int_equal(h.ops->set_vm_io_tune(g, bad, 2, h.userdata), -EINVAL);
    cl.list = NULL;
    assert_int_equal(h.ops->get_vm_io_tune(g, &cl, h.userdata), 0);
    c0 = value_map_get(cl.list->u.c.items[0], "ioTune");
    assert_int_equal(value_map_get(c0, "total_bytes_sec")->u.i, 500);
    mom_value_unref(cl.list);

    /* A guest without statistics, and one without disks. */
    mom_hv_memory_stats ms;
    assert_int_equal(h.ops->start_vm_memory_stats(ids[1], 5, h.userdata), 0);
    assert_int_equal(h.ops->get_vm_memory_stats(ids[1], &ms, h.userdata), -ENODATA);
    cl.list = NULL;
    assert_int_equal(h.ops->get_vm_io_tune(ids[1], &cl, h.userdata), 0);
    assert_null(cl.list);
    hv_destroy(&h);
}

/* ---- the real collectors on the simulated host -------------------------------- */

typedef struct coll_run {
    fieldtab *ft;
    mom_sample s;
    void *state;
    const mom_collector *c;
} coll_run;

/* Initialise collector c for entity e and collect once. */
static void coll_start(coll_run *r, const mom_collector *c, api_env *env, mom_entity *e)
{
    memset(r, 0, sizeof(*r));
    r->c = c;
    r->ft = fieldtab_new();
    assert_non_null(r->ft);
    for (size_t i = 0; c->mandatory && c->mandatory[i]; i++)
        assert_true(fieldtab_add(r->ft, c->mandatory[i], true) >= 0);
    for (size_t i = 0; c->optional && c->optional[i]; i++)
        assert_true(fieldtab_add(r->ft, c->optional[i], false) >= 0);
    assert_int_equal(fieldtab_finish(r->ft), 0);
    assert_int_equal(msample_init(&r->s, r->ft), 0);
    assert_int_equal(c->init(&env->api, e, &r->state), 0);
    msample_reset(&r->s);
    assert_int_equal(c->collect(r->state, e, &r->s), 0);
}

static int64_t coll_int(coll_run *r, const char *name)
{
    int id = fieldtab_find(r->ft, name);
    assert_true(id >= 0);
    if (r->s.vals[id].kind != FV_INT)
        fail_msg("%s: field %s has kind %d", r->c->name, name, r->s.vals[id].kind);
    return r->s.vals[id].u.i;
}

static double coll_real(coll_run *r, const char *name)
{
    int id = fieldtab_find(r->ft, name);
    assert_true(id >= 0);
    if (r->s.vals[id].kind != FV_REAL)
        fail_msg("%s: field %s has kind %d", r->c->name, name, r->s.vals[id].kind);
    return r->s.vals[id].u.r;
}

static void coll_done(coll_run *r)
{
    if (r->c->fini)
        r->c->fini(r->state);
    msample_done(&r->s);
    fieldtab_free(r->ft);
}

static void test_real_collectors(void **state)
{
    (void)state;
    hv h = make_sim(two_guests, 1, 1);
    refresh_to(&h, 0, 30, 1);
    mlog log;
    mlog_init(&log, NULL, NULL, MOM_LOG_DEBUG);
    api_env env;
    api_env_init(&env, NULL, &log, &h);
    assert_string_equal(env.proc_root, h.proc_root);
    mom_entity host;
    assert_int_equal(entity_init(&host, &env, MOM_ENTITY_HOST, "host", "host", NULL, 0), 0);

    char *mi = slurp(h.proc_root, "meminfo");
    coll_run r;
    coll_start(&r, &mom_collector_HostMemory, &env, &host);
    assert_int_equal(coll_int(&r, "mem_available"), 8192 * 1024);
    assert_int_equal(coll_int(&r, "mem_free"), meminfo_get(mi, "MemFree") +
                                                   meminfo_get(mi, "Buffers") +
                                                   meminfo_get(mi, "Cached"));
    assert_int_equal(coll_int(&r, "anon_pages"), meminfo_get(mi, "AnonPages"));
    assert_int_equal(coll_int(&r, "swap_total"), 1024 * 1024);
    assert_int_equal(coll_int(&r, "swap_usage"), 0);
    coll_done(&r);
    free(mi);

    coll_start(&r, &mom_collector_HostCpu, &env, &host);
    assert_int_equal(coll_int(&r, "cpu_count"), 2);
    coll_done(&r);

    coll_start(&r, &mom_collector_HostPressure, &env, &host);
    assert_true(coll_real(&r, "psi_mem_some_avg10") >= 0);
    coll_done(&r);

    write_text(h.sysfs_root, "kernel/mm/ksm/run", "1\n");
    write_text(h.sysfs_root, "kernel/mm/ksm/pages_to_scan", "5000\n");
    coll_start(&r, &mom_collector_HostKSM, &env, &host);
    assert_int_equal(coll_int(&r, "ksm_run"), 1);
    assert_int_equal(coll_int(&r, "ksm_pages_to_scan"), 5000);
    assert_int_equal(coll_int(&r, "ksm_sleep_millisecs"), 20);
    /* VmSize of both QEMU processes: guest maximum + 512 MiB each. */
    assert_int_equal(coll_int(&r, "ksm_shareable"), (2048 + 512 + 3072 + 512) * 1024);
    refresh_to(&h, 31, 40, 1);
    msample_reset(&r.s);
    assert_int_equal(r.c->collect(r.state, &host, &r.s), 0);
    assert_true(coll_int(&r, "ksm_pages_sharing") > 0);
    assert_true(coll_int(&r, "ksmd_cpu_usage") >= 0);
    coll_done(&r);

    /* A guest, through the hypervisor operations and its QEMU process. */
    char ids[2][64];
    guest_ids(&h, ids, 2);
    mom_hv_guest_info gi = {0};
    assert_int_equal(h.ops->get_vm_info(ids[0], &gi, h.userdata), 0);
    mom_entity g;
    assert_int_equal(entity_init(&g, &env, MOM_ENTITY_GUEST, ids[0], gi.name, gi.uuid, gi.pid),
                     0);
    coll_start(&r, &mom_collector_GuestQemuProc, &env, &g);
    assert_int_equal(coll_int(&r, "rss"), stat_field(&h, gi.pid, 24));
    coll_done(&r);
    coll_start(&r, &mom_collector_GuestMemory, &env, &g);
    assert_int_equal(coll_int(&r, "mem_available"), balloon(&h, ids[0]).balloon_cur);
    assert_int_equal(coll_int(&r, "mem_unused"), mem_stats(&h, ids[0]).mem_unused);
    coll_done(&r);
    coll_start(&r, &mom_collector_GuestBalloon, &env, &g);
    assert_int_equal(coll_int(&r, "balloon_max"), 2048 * 1024);
    assert_int_equal(coll_int(&r, "balloon_min"), 512 * 1024);
    coll_done(&r);
    coll_start(&r, &mom_collector_GuestCpuTune, &env, &g);
    assert_int_equal(coll_int(&r, "vcpu_user_limit"), 60);
    assert_int_equal(coll_int(&r, "vcpu_count"), 2);
    coll_done(&r);
    entity_done(&g);
    entity_done(&host);
    hv_destroy(&h);
}

/* ---- threads and scale ----------------------------------------------------------- */

typedef struct worker_arg {
    hv *h;
    char ids[4][64];
    size_t n;
    int errors;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    for (int k = 0; k < 2000; k++) {
        const char *id = a->ids[(size_t)k % a->n];
        mom_hv_memory_stats ms;
        mom_hv_balloon_info bi;
        if (a->h->ops->get_vm_memory_stats(id, &ms, a->h->userdata) != 0 ||
            a->h->ops->get_vm_balloon_info(id, &bi, a->h->userdata) != 0 ||
            a->h->ops->set_vm_balloon_target(id, bi.balloon_max / 2 + k, a->h->userdata) != 0 ||
            ms.mem_unused > ms.mem_available)
            a->errors++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    hv h = make_sim(sim_scenario_default, 1, 1);
    worker_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i].h = &h;
        args[i].errors = 0;
        args[i].n = guest_ids(&h, args[i].ids, 4);
        if (args[i].n > 4)
            args[i].n = 4;
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int t = 0; t < 50; t++)
        h.refresh(h.userdata, t * 0.5);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].errors, 0);
    }
    hv_destroy(&h);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* 1,000 guests: every process directory exists; the cost of a refresh is
 * logged (timing is not asserted: machines are shared and noisy). */
static void test_thousand_guests(void **state)
{
    (void)state;
    const char *json =
        "{\"host\": {\"memory_mib\": 4194304, \"cpus\": 64},"
        " \"guests\": ["
        "  {\"name\": \"busy\", \"count\": 500, \"stagger\": 1, \"max_mib\": 4096,"
        "   \"workload\": {\"type\": \"periodic\", \"mean_mib\": 2048, \"amplitude_mib\": 512,"
        "                  \"period\": 60}},"
        "  {\"name\": \"calm\", \"count\": 500, \"max_mib\": 2048,"
        "   \"workload\": {\"type\": \"idle\"}}]}";
    double t0 = now_ms();
    hv h = make_sim(json, 1, 1);
    double t_create = now_ms() - t0;
    static char ids[1000][64];
    assert_int_equal(guest_ids(&h, ids, 1000), 1000);
    h.refresh(h.userdata, 0);
    /* Names and pids: "busy-001" ... */
    mom_hv_guest_info gi = {0};
    assert_int_equal(h.ops->get_vm_info(ids[999], &gi, h.userdata), 0);
    assert_string_equal(gi.name, "calm-500");
    assert_int_equal(gi.pid, 10999);
    double busy = 0, steady = 0;
    for (int t = 1; t <= 10; t++) {
        t0 = now_ms();
        h.refresh(h.userdata, t);
        busy += now_ms() - t0;
    }
    /* The same time again: the model does not move, nothing is rewritten. */
    for (int k = 0; k < 10; k++) {
        t0 = now_ms();
        h.refresh(h.userdata, 10);
        steady += now_ms() - t0;
    }
    print_message("sim refresh, 1000 guests (500 changing): %.2f ms per refresh of 1 s; "
                  "%.2f ms with nothing changed; creation %.1f ms\n",
                  busy / 10, steady / 10, t_create);
    DIR *d = opendir(h.proc_root);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += e->d_name[0] >= '0' && e->d_name[0] <= '9';
    closedir(d);
    assert_int_equal(n, 1001);
    hv_destroy(&h);
}

/* A given root directory is used and cleaned (but kept: not ours). */
static void test_root_dir(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/test_sim_root_XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    hv h;
    assert_int_equal(sim_create_from_text("{}", 1, 1, tmpl, NULL, &h), 0);
    char want[1024];
    snprintf(want, sizeof(want), "%s/proc", tmpl);
    assert_string_equal(h.proc_root, want);
    snprintf(want, sizeof(want), "%s/sys", tmpl);
    assert_string_equal(h.sysfs_root, want);
    char ids[1][64];
    assert_int_equal(guest_ids(&h, ids, 1), 0);
    h.refresh(h.userdata, 1);
    char *mi = slurp(h.proc_root, "meminfo");
    assert_int_equal(meminfo_get(mi, "MemTotal"), 16384 * 1024);
    free(mi);
    /* A second sim on the same root refuses: ROOT/proc exists. */
    hv h2;
    assert_true(sim_create_from_text("{}", 1, 1, tmpl, NULL, &h2) < 0);
    hv_destroy(&h);
    struct stat st;
    assert_int_equal(stat(want, &st), -1);
    assert_int_equal(stat(tmpl, &st), 0);
    assert_int_equal(rmdir(tmpl), 0);
}

/* Allocation failures during creation never leak or crash. */
static void test_alloc_failures(void **state)
{
    (void)state;
    for (long n = 1; n < 400; n++) {
        hv h;
        alloc_fail_at(n);
        int r = sim_create_from_text(two_guests, 1, 1, NULL, NULL, &h);
        alloc_fail_at(0);
        if (r == 0) {
            h.refresh(h.userdata, 1);
            hv_destroy(&h);
            break;
        }
        assert_true(r == -ENOMEM || r == -EINVAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_scenario),
        cmocka_unit_test(test_example_scenarios),
        cmocka_unit_test(test_bad_scenarios),
        cmocka_unit_test(test_conf_keys),
        cmocka_unit_test(test_file_formats),
        cmocka_unit_test(test_conservation_and_bounds),
        cmocka_unit_test(test_unchanged_files_not_rewritten),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_speed_scaling),
        cmocka_unit_test(test_balloon_rate),
        cmocka_unit_test(test_guest_swap),
        cmocka_unit_test(test_host_swap_and_pressure),
        cmocka_unit_test(test_ksm_follows_run_file),
        cmocka_unit_test(test_start_stop),
        cmocka_unit_test(test_cpu_and_io_tune),
        cmocka_unit_test(test_real_collectors),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_thousand_guests),
        cmocka_unit_test(test_root_dir),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
