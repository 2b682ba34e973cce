/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The built-in guest collectors, driven through the real plugin api
 * against the fake hypervisor (and, for GuestQemuProc, a private proc
 * root in a temporary directory).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/api.h"
#include "core/hv.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/sample.h"
#include "core/value.h"
#include "fakehv.h"

/* ---- fixture ------------------------------------------------------------ */

#define MAX_LINES 64

typedef struct fixture {
    fakehv *fh;
    fakehv_guest *g;
    hv h;
    mlog log;
    api_env env;
    mom_entity ent;
    bool ent_ready;
    const mom_collector *col;
    fieldtab *ft;
    mom_sample s;
    bool s_ready;
    void *state;
    bool state_ready;
    char tmpdir[64];
    /* captured log lines */
    size_t n_lines;
    int levels[MAX_LINES];
    char lines[MAX_LINES][512];
} fixture;

static void capture(mom_log_level level, const char *logger, const char *msg, void *userdata)
{
    fixture *fx = userdata;
    (void)logger;
    if (fx->n_lines < MAX_LINES) {
        fx->levels[fx->n_lines] = (int)level;
        snprintf(fx->lines[fx->n_lines], sizeof(fx->lines[0]), "%s", msg);
        fx->n_lines++;
    }
}

/* Count captured lines at `level` that contain `needle` (NULL: any). */
static size_t count_lines(const fixture *fx, int level, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->n_lines; i++)
        if (fx->levels[i] == level && (!needle || strstr(fx->lines[i], needle)))
            n++;
    return n;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->fh = fakehv_new();
    assert_non_null(fx->fh);
    fx->g = fakehv_add_guest(fx->fh, "id-1", "vm1", "uuid-1", 4242);
    assert_non_null(fx->g);
    mlog_init(&fx->log, capture, fx, MOM_LOG_DEBUG);
    *state = fx;
    return 0;
}

/* Remove the temporary proc root, if one was made. */
static void remove_tree(const char *dir)
{
    if (!*dir)
        return;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int teardown(void **state)
{
    fixture *fx = *state;
    if (fx->state_ready && fx->col->fini)
        fx->col->fini(fx->state);
    if (fx->s_ready)
        msample_done(&fx->s);
    fieldtab_free(fx->ft);
    if (fx->ent_ready)
        entity_done(&fx->ent);
    fakehv_free(fx->fh);
    remove_tree(fx->tmpdir);
    free(fx);
    return 0;
}

/* Build the api over the fake (its per-instance table, so disabled
 * operations look unsupported), a guest entity, the collector's field
 * table and one instance of the collector. */
static void start(fixture *fx, const mom_collector *col, int64_t pid)
{
    hv_init_embedded(&fx->h, fakehv_table(fx->fh), fx->fh);
    api_env_init(&fx->env, NULL, &fx->log, &fx->h);
    if (*fx->tmpdir)
        fx->env.proc_root = fx->tmpdir;
    assert_int_equal(
        entity_init(&fx->ent, &fx->env, MOM_ENTITY_GUEST, "id-1", "vm1", "uuid-1", pid), 0);
    fx->ent_ready = true;
    fx->col = col;
    fx->ft = fieldtab_new();
    assert_non_null(fx->ft);
    for (const char *const *p = col->mandatory; p && *p; p++)
        assert_true(fieldtab_add(fx->ft, *p, true) >= 0);
    for (const char *const *p = col->optional; p && *p; p++)
        assert_true(fieldtab_add(fx->ft, *p, false) >= 0);
    assert_int_equal(fieldtab_finish(fx->ft), 0);
    assert_int_equal(msample_init(&fx->s, fx->ft), 0);
    fx->s_ready = true;
    assert_int_equal(col->init(&fx->env.api, &fx->ent, &fx->state), 0);
    fx->state_ready = true;
}

/* One collection into a fresh sample; returns collect()'s result. */
static int collect(fixture *fx)
{
    msample_reset(&fx->s);
    return fx->col->collect(fx->state, &fx->ent, &fx->s);
}

static const fval *slot(fixture *fx, const char *field)
{
    int id = fieldtab_find(fx->ft, field);
    assert_true(id >= 0);
    return &fx->s.vals[id];
}

static int64_t int_of(fixture *fx, const char *field)
{
    const fval *f = slot(fx, field);
    assert_int_equal(f->kind, FV_INT);
    return f->u.i;
}

static bool is_missing(fixture *fx, const char *field)
{
    return slot(fx, field)->kind == FV_MISSING;
}

static bool declared_mandatory(fixture *fx, const char *field)
{
    int id = fieldtab_find(fx->ft, field);
    assert_true(id >= 0);
    return fx->ft->mandatory[id];
}

static const mom_value *value_of(fixture *fx, const char *field)
{
    const fval *f = slot(fx, field);
    assert_int_equal(f->kind, FV_VALUE);
    return f->u.v;
}

/* ---- GuestMemory ---------------------------------------------------------- */

static mom_hv_memory_stats full_stats(void)
{
    mom_hv_memory_stats st;
    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    st.present = MOM_HV_MEM_AVAILABLE | MOM_HV_MEM_UNUSED | MOM_HV_MEM_FREE | MOM_HV_MAJOR_FAULT |
                 MOM_HV_MINOR_FAULT | MOM_HV_SWAP_IN | MOM_HV_SWAP_OUT | MOM_HV_SWAP_USAGE |
                 MOM_HV_MEM_USABLE;
    st.mem_available = 4194304;
    st.mem_unused = 1000001;
    st.mem_free = 2000002;
    st.major_fault = 33;
    st.minor_fault = 44444;
    st.swap_in = 55;
    st.swap_out = 66;
    st.swap_total = 777; /* bit not set: must not appear */
    st.swap_usage = 88;
    st.mem_usable = 1500005;
    return st;
}

static void test_memory_present_bits(void **state)
{
    fixture *fx = *state;
    mom_hv_memory_stats st = full_stats();
    fakehv_set_memory_stats(fx->g, &st);
    start(fx, &mom_collector_GuestMemory, 4242);

    /* init asked once for polling at the guest-monitor interval */
    assert_int_equal(fakehv_n_calls(fx->fh, "start_vm_memory_stats"), 1);
    const fakehv_call *c = fakehv_find_call(fx->fh, "start_vm_memory_stats", 0);
    assert_string_equal(c->id, "id-1");
    assert_int_equal(c->a, fx->env.guest_interval);

    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "mem_available"), 4194304);
    assert_int_equal(int_of(fx, "mem_unused"), 1000001);
    assert_int_equal(int_of(fx, "major_fault"), 33);
    assert_int_equal(int_of(fx, "minor_fault"), 44444);
    assert_int_equal(int_of(fx, "swap_in"), 55);
    assert_int_equal(int_of(fx, "swap_out"), 66);
    assert_int_equal(int_of(fx, "swap_usage"), 88);
    assert_true(is_missing(fx, "swap_total"));
    /* undeclared extras */
    assert_non_null(fx->s.extras);
    const mom_value *mf = value_map_get(fx->s.extras, "mem_free");
    const mom_value *mu = value_map_get(fx->s.extras, "mem_usable");
    assert_non_null(mf);
    assert_non_null(mu);
    assert_int_equal(mom_value_int(mf), 2000002);
    assert_int_equal(mom_value_int(mu), 1500005);
    assert_null(value_map_get(fx->s.extras, "swap_total"));

    assert_true(declared_mandatory(fx, "mem_available"));
    assert_true(declared_mandatory(fx, "swap_out"));
    assert_false(declared_mandatory(fx, "swap_total"));
    assert_false(declared_mandatory(fx, "swap_usage"));
    assert_int_equal(fieldtab_find(fx->ft, "mem_free"), -1);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, NULL), 0);
}

static void test_memory_partial(void **state)
{
    fixture *fx = *state;
    mom_hv_memory_stats st = full_stats();
    st.present = MOM_HV_MEM_AVAILABLE | MOM_HV_SWAP_TOTAL;
    fakehv_set_memory_stats(fx->g, &st);
    start(fx, &mom_collector_GuestMemory, 4242);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "mem_available"), 4194304);
    assert_int_equal(int_of(fx, "swap_total"), 777);
    assert_true(is_missing(fx, "mem_unused"));
    assert_true(is_missing(fx, "major_fault"));
    assert_true(is_missing(fx, "swap_usage"));
    assert_null(fx->s.extras);
    assert_int_equal(fx->s.n_set, 2);
}

static void test_memory_one_warning_per_outage(void **state)
{
    fixture *fx = *state;
    start(fx, &mom_collector_GuestMemory, 4242);
    /* no data yet: -ENODATA every time, but one warning */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(collect(fx), 0);
        assert_int_equal(fx->s.n_set, 0);
    }
    assert_int_equal(fakehv_n_calls(fx->fh, "get_vm_memory_stats"), 3);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, NULL), 1);

    /* data comes back */
    mom_hv_memory_stats st = full_stats();
    fakehv_set_memory_stats(fx->g, &st);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "mem_unused"), 1000001);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, NULL), 1);

    /* a second outage (interface error) warns once more */
    fakehv_fail(fx->fh, "id-1", "get_vm_memory_stats", -EIO);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(fx->s.n_set, 0);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, NULL), 2);

    /* a vanished guest is an outage too, not a collection error */
    fakehv_fail(fx->fh, "id-1", "get_vm_memory_stats", 0);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(fx->s.n_set, 9);
    fakehv_remove_guest(fx->fh, "id-1");
    assert_int_equal(collect(fx), 0);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(fx->s.n_set, 0);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, NULL), 3);
}

static void test_memory_unsupported(void **state)
{
    fixture *fx = *state;
    assert_int_equal(fakehv_set_op_supported(fx->fh, "get_vm_memory_stats", false), 0);
    assert_int_equal(fakehv_set_op_supported(fx->fh, "start_vm_memory_stats", false), 0);
    start(fx, &mom_collector_GuestMemory, 4242);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(fx->s.n_set, 0);
    /* the api never reached the fake */
    assert_int_equal(fakehv_n_calls(fx->fh, "get_vm_memory_stats"), 0);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, NULL), 1);
}

static void test_memory_start_failure_ignored(void **state)
{
    fixture *fx = *state;
    fakehv_fail(fx->fh, NULL, "start_vm_memory_stats", -EIO);
    mom_hv_memory_stats st = full_stats();
    fakehv_set_memory_stats(fx->g, &st);
    start(fx, &mom_collector_GuestMemory, 4242); /* init asserts 0 */
    assert_int_equal(fakehv_find_call(fx->fh, "start_vm_memory_stats", 0)->rc, -EIO);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "swap_in"), 55);
}

static void test_memory_optional(void **state)
{
    fixture *fx = *state;
    mom_hv_memory_stats st = full_stats();
    fakehv_set_memory_stats(fx->g, &st);
    start(fx, &mom_collector_GuestMemoryOptional, 4242);
    assert_null(mom_collector_GuestMemoryOptional.mandatory);
    assert_int_equal(fx->ft->n, 8);
    assert_int_equal(fx->ft->n_mandatory, 0);
    const char *names[] = {"mem_available", "mem_unused", "major_fault", "minor_fault",
                           "swap_in",       "swap_out",   "swap_total",  "swap_usage"};
    for (size_t i = 0; i < 8; i++)
        assert_false(declared_mandatory(fx, names[i]));
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "minor_fault"), 44444);
    assert_int_equal(mom_value_int(value_map_get(fx->s.extras, "mem_free")), 2000002);
    /* same one-warning behaviour */
    fakehv_clear_memory_stats(fx->g);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, NULL), 1);
}

/* ---- GuestBalloon --------------------------------------------------------- */

static void test_balloon_values(void **state)
{
    fixture *fx = *state;
    fakehv_set_balloon(fx->g, 3000000, 4194304, 1048576);
    start(fx, &mom_collector_GuestBalloon, 4242);
    assert_int_equal(fx->ft->n_mandatory, 3);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "balloon_cur"), 3000000);
    assert_int_equal(int_of(fx, "balloon_max"), 4194304);
    assert_int_equal(int_of(fx, "balloon_min"), 1048576);

    /* a balloon change made through the interface shows up next time */
    assert_int_equal(fakehv_ops()->set_vm_balloon_target("id-1", 2500000, fx->fh), 0);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "balloon_cur"), 2500000);
}

static void test_balloon_not_ready(void **state)
{
    fixture *fx = *state;
    start(fx, &mom_collector_GuestBalloon, 4242);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(collect(fx), 0);
        assert_int_equal(fx->s.n_set, 0);
        assert_true(is_missing(fx, "balloon_cur"));
    }
    assert_int_equal(count_lines(fx, MOM_LOG_DEBUG, "not ready"), 1);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, NULL), 0);

    fakehv_set_balloon(fx->g, 1, 2, 0);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "balloon_min"), 0);
    fakehv_clear_balloon(fx->g);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(count_lines(fx, MOM_LOG_DEBUG, "not ready"), 2);

    /* any other interface failure is a collection error */
    fakehv_fail(fx->fh, "id-1", "get_vm_balloon_info", -EIO);
    assert_int_equal(collect(fx), -EIO);
    fakehv_fail(fx->fh, "id-1", "get_vm_balloon_info", 0);
    fakehv_remove_guest(fx->fh, "id-1");
    assert_int_equal(collect(fx), -ENOENT);
}

static void test_balloon_optional(void **state)
{
    fixture *fx = *state;
    fakehv_set_balloon(fx->g, 7, 8, 9);
    start(fx, &mom_collector_GuestBalloonOptional, 4242);
    assert_int_equal(fx->ft->n, 3);
    assert_int_equal(fx->ft->n_mandatory, 0);
    assert_false(declared_mandatory(fx, "balloon_cur"));
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "balloon_cur"), 7);
    assert_int_equal(int_of(fx, "balloon_max"), 8);
    assert_int_equal(int_of(fx, "balloon_min"), 9);
}

/* ---- GuestCpuTune --------------------------------------------------------- */

static void test_cputune(void **state)
{
    fixture *fx = *state;
    start(fx, &mom_collector_GuestCpuTune, 4242);
    assert_int_equal(fx->ft->n_mandatory, 4);
    /* vCPU count unknown: nothing, not an error */
    assert_int_equal(collect(fx), 0);
    assert_int_equal(fx->s.n_set, 0);

    fakehv_set_cpu_tune(fx->g, -1, 100000, 50, 4);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "vcpu_quota"), -1);
    assert_int_equal(int_of(fx, "vcpu_period"), 100000);
    assert_int_equal(int_of(fx, "vcpu_user_limit"), 50);
    assert_int_equal(int_of(fx, "vcpu_count"), 4);

    assert_int_equal(fakehv_ops()->set_vm_cpu_tune("id-1", 25000, 50000, fx->fh), 0);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "vcpu_quota"), 25000);
    assert_int_equal(int_of(fx, "vcpu_period"), 50000);

    fakehv_fail(fx->fh, NULL, "get_vm_cpu_tune_info", -EIO);
    assert_int_equal(collect(fx), -EIO);
}

static void test_cputune_unsupported(void **state)
{
    fixture *fx = *state;
    fakehv_set_cpu_tune(fx->g, -1, 100000, 50, 4);
    fakehv_set_op_supported(fx->fh, "get_vm_cpu_tune_info", false);
    start(fx, &mom_collector_GuestCpuTune, 4242);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(fx->s.n_set, 0);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, NULL), 1);
}

/* ---- GuestIoTune ---------------------------------------------------------- */

static mom_hv_io_limits limits(uint32_t present, int64_t base)
{
    mom_hv_io_limits l = {
        .present = present,
        .total_bytes_sec = base + 1,
        .read_bytes_sec = base + 2,
        .write_bytes_sec = base + 3,
        .total_iops_sec = base + 4,
        .read_iops_sec = base + 5,
        .write_iops_sec = base + 6,
    };
    return l;
}

static const char *str_at(const mom_value *map, const char *key)
{
    const mom_value *v = value_map_get(map, key);
    assert_non_null(v);
    return v->type == MOM_VALUE_STRING ? mom_value_string(v) : NULL;
}

/* Check that `set` is a MAP of exactly the six limits matching `l`. */
static void check_limits(const mom_value *set, const mom_hv_io_limits *l)
{
    assert_non_null(set);
    assert_int_equal(mom_value_type_of(set), MOM_VALUE_MAP);
    assert_int_equal(mom_value_len(set), 6);
    const int64_t vals[6] = {l->total_bytes_sec, l->read_bytes_sec, l->write_bytes_sec,
                             l->total_iops_sec,  l->read_iops_sec,  l->write_iops_sec};
    for (int i = 0; i < 6; i++) {
        const mom_value *v = value_map_get(set, hv_limit_names[i]);
        assert_non_null(v);
        if (l->present & (1u << i)) {
            assert_int_equal(mom_value_type_of(v), MOM_VALUE_INT);
            assert_int_equal(mom_value_int(v), vals[i]);
        } else {
            assert_int_equal(mom_value_type_of(v), MOM_VALUE_NONE);
        }
    }
}

static void test_iotune_matching(void **state)
{
    fixture *fx = *state;
    mom_hv_io_limits ga = limits(MOM_HV_TOTAL_BYTES_SEC, 100);
    mom_hv_io_limits ma = limits(MOM_HV_IO_ALL, 200);
    mom_hv_io_limits gb = limits(MOM_HV_READ_IOPS_SEC | MOM_HV_WRITE_IOPS_SEC, 300);
    mom_hv_io_limits mb = limits(0, 0);
    mom_hv_io_limits gc = limits(MOM_HV_IO_ALL, 500);
    mom_hv_io_limits mc = limits(MOM_HV_IO_ALL, 600);
    mom_hv_io_limits ca = limits(MOM_HV_IO_ALL, 1000);
    mom_hv_io_limits cb = limits(MOM_HV_TOTAL_IOPS_SEC, 2000);
    mom_hv_io_limits cc = limits(MOM_HV_WRITE_BYTES_SEC, 3000);
    mom_hv_io_limits cx = limits(MOM_HV_IO_ALL, 9000);
    /* policy: vda by path; vdb by path (listed in the other order in the
     * current list); vdc without a path (matches by name); vdd whose path
     * differs from the current vdd's (both have paths: no match); vdz
     * without any current disk. */
    fakehv_add_io_policy(fx->g, "vda", "/img/a", &ga, &ma);
    fakehv_add_io_policy(fx->g, "vdb", "/img/b", &gb, &mb);
    fakehv_add_io_policy(fx->g, "vdc", NULL, &gc, &mc);
    fakehv_add_io_policy(fx->g, "vdd", "/img/d-old", &gc, &mc);
    fakehv_add_io_policy(fx->g, "vdz", "/img/z", &gc, &mc);
    /* current: the path wins over the name for vda/vdb (names swapped on
     * purpose would not matter: the paths decide) */
    fakehv_add_io_tune(fx->g, "vdb", "/img/b", &cb);
    fakehv_add_io_tune(fx->g, "vdd", "/img/d-new", &cx);
    fakehv_add_io_tune(fx->g, "renamed", "/img/a", &ca);
    fakehv_add_io_tune(fx->g, "vdc", "/img/c", &cc);
    start(fx, &mom_collector_GuestIoTune, 4242);
    assert_true(declared_mandatory(fx, "io_tune"));
    assert_true(declared_mandatory(fx, "io_tune_current"));

    assert_int_equal(collect(fx), 0);
    const mom_value *tune = value_of(fx, "io_tune");
    const mom_value *cur = value_of(fx, "io_tune_current");
    assert_int_equal(mom_value_type_of(tune), MOM_VALUE_LIST);
    assert_int_equal(mom_value_len(tune), 3);
    assert_int_equal(mom_value_len(cur), 3);

    /* policy order: vda, vdb, vdc */
    const mom_value *t0 = mom_value_at(tune, 0), *t1 = mom_value_at(tune, 1),
                    *t2 = mom_value_at(tune, 2);
    assert_int_equal(mom_value_len(t0), 5);
    assert_string_equal(str_at(t0, "path"), "/img/a");
    assert_string_equal(str_at(t0, "name"), "renamed");
    check_limits(value_map_get(t0, "guaranteed"), &ga);
    check_limits(value_map_get(t0, "maximum"), &ma);
    check_limits(value_map_get(t0, "current"), &ca);

    assert_string_equal(str_at(t1, "path"), "/img/b");
    check_limits(value_map_get(t1, "guaranteed"), &gb);
    check_limits(value_map_get(t1, "maximum"), &mb); /* all NONE */
    check_limits(value_map_get(t1, "current"), &cb);

    assert_string_equal(str_at(t2, "name"), "vdc");
    assert_string_equal(str_at(t2, "path"), "/img/c");
    check_limits(value_map_get(t2, "current"), &cc);

    /* io_tune_current: same order, {name, path, ioTune} */
    const mom_value *c0 = mom_value_at(cur, 0), *c1 = mom_value_at(cur, 1),
                    *c2 = mom_value_at(cur, 2);
    assert_int_equal(mom_value_len(c0), 3);
    assert_string_equal(str_at(c0, "path"), "/img/a");
    check_limits(value_map_get(c0, "ioTune"), &ca);
    assert_string_equal(str_at(c1, "name"), "vdb");
    check_limits(value_map_get(c1, "ioTune"), &cb);
    assert_string_equal(str_at(c2, "name"), "vdc");
    check_limits(value_map_get(c2, "ioTune"), &cc);
}

static void test_iotune_name_only(void **state)
{
    fixture *fx = *state;
    mom_hv_io_limits g = limits(MOM_HV_IO_ALL, 10), m = limits(MOM_HV_IO_ALL, 20);
    mom_hv_io_limits c = limits(MOM_HV_READ_BYTES_SEC, 30);
    /* the policy has the path, the current entry has none: names decide */
    fakehv_add_io_policy(fx->g, "vda", "/img/a", &g, &m);
    fakehv_add_io_policy(fx->g, "vdb", "/img/b", &g, &m);
    fakehv_add_io_tune(fx->g, "vdb", NULL, &c);
    start(fx, &mom_collector_GuestIoTune, 4242);
    assert_int_equal(collect(fx), 0);
    const mom_value *tune = value_of(fx, "io_tune");
    assert_int_equal(mom_value_len(tune), 1);
    const mom_value *t0 = mom_value_at(tune, 0);
    assert_string_equal(str_at(t0, "name"), "vdb");
    assert_string_equal(str_at(t0, "path"), "/img/b");
    check_limits(value_map_get(t0, "current"), &c);
    const mom_value *c0 = mom_value_at(value_of(fx, "io_tune_current"), 0);
    check_limits(value_map_get(c0, "ioTune"), &c);
}

static void test_iotune_empty_lists(void **state)
{
    fixture *fx = *state;
    mom_hv_io_limits l = limits(MOM_HV_IO_ALL, 1);
    start(fx, &mom_collector_GuestIoTune, 4242);
    /* both empty */
    assert_int_equal(collect(fx), 0);
    assert_int_equal(fx->s.n_set, 0);
    /* only a policy */
    fakehv_add_io_policy(fx->g, "vda", "/a", &l, &l);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(fx->s.n_set, 0);
    assert_true(is_missing(fx, "io_tune"));
    /* only current limits */
    fakehv_clear_io(fx->g);
    fakehv_add_io_tune(fx->g, "vda", "/a", &l);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(fx->s.n_set, 0);
    assert_true(is_missing(fx, "io_tune_current"));
    /* both: now there is data */
    fakehv_add_io_policy(fx->g, "vda", "/a", &l, &l);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(fx->s.n_set, 2);
    assert_int_equal(mom_value_len(value_of(fx, "io_tune")), 1);
    /* interface failure is a collection error */
    fakehv_fail(fx->fh, "id-1", "get_vm_io_tune", -EIO);
    assert_int_equal(collect(fx), -EIO);
}

static void test_iotune_optional_and_unsupported(void **state)
{
    fixture *fx = *state;
    fakehv_set_op_supported(fx->fh, "get_vm_io_tune_policy", false);
    start(fx, &mom_collector_GuestIoTuneOptional, 4242);
    assert_int_equal(fx->ft->n, 2);
    assert_int_equal(fx->ft->n_mandatory, 0);
    assert_false(declared_mandatory(fx, "io_tune"));
    assert_false(declared_mandatory(fx, "io_tune_current"));
    assert_int_equal(collect(fx), 0);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(fx->s.n_set, 0);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, NULL), 1);
}

/* ---- GuestQemuProc -------------------------------------------------------- */

/* Write PROC/<pid>/stat with a process name full of spaces and ')'. */
static void write_stat(fixture *fx, int64_t pid, long minflt, long majflt, long rss)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%lld", fx->tmpdir, (long long)pid);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%lld/stat", fx->tmpdir, (long long)pid);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    /* fields: 1 pid, 2 comm, 3 state, 4 ppid, 5 pgrp, 6 session, 7 tty,
     * 8 tpgid, 9 flags, 10 minflt, 11 cminflt, 12 majflt, 13 cmajflt,
     * 14-17 times, 18 prio, 19 nice, 20 threads, 21 itreal, 22 start,
     * 23 vsize, 24 rss, 25 rsslim ... */
    fprintf(f,
            "%lld (qemu) (x y)) S 1 %lld %lld 0 -1 4194560 %ld 999 %ld 888 "
            "10 20 0 0 20 0 5 0 12345 2147483648 %ld 18446744073709551615 1 1 0 0 0 0 0 "
            "4096 0 0 0 0 17 1 0 0 0 0 0\n",
            (long long)pid, (long long)pid, (long long)pid, minflt, majflt, rss);
    fclose(f);
}

static void make_proc_root(fixture *fx)
{
    snprintf(fx->tmpdir, sizeof(fx->tmpdir), "/tmp/mom-gc-XXXXXX");
    assert_non_null(mkdtemp(fx->tmpdir));
}

static void test_qemu_proc(void **state)
{
    fixture *fx = *state;
    make_proc_root(fx);
    write_stat(fx, 4242, 1000, 50, 70000);
    start(fx, &mom_collector_GuestQemuProc, 4242);
    assert_int_equal(fx->ft->n_mandatory, 3);

    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "host_minor_faults"), 0);
    assert_int_equal(int_of(fx, "host_major_faults"), 0);
    assert_int_equal(int_of(fx, "rss"), 70000);

    write_stat(fx, 4242, 1750, 53, 71000);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "host_minor_faults"), 750);
    assert_int_equal(int_of(fx, "host_major_faults"), 3);
    assert_int_equal(int_of(fx, "rss"), 71000);

    write_stat(fx, 4242, 1760, 53, 69000);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(int_of(fx, "host_minor_faults"), 10);
    assert_int_equal(int_of(fx, "host_major_faults"), 0);
    assert_int_equal(int_of(fx, "rss"), 69000);
}

static void test_qemu_proc_no_pid(void **state)
{
    fixture *fx = *state;
    make_proc_root(fx);
    write_stat(fx, 4242, 1, 2, 3);
    start(fx, &mom_collector_GuestQemuProc, 0);
    assert_int_equal(collect(fx), 0);
    assert_int_equal(fx->s.n_set, 0);
}

static void test_qemu_proc_errors(void **state)
{
    fixture *fx = *state;
    make_proc_root(fx);
    start(fx, &mom_collector_GuestQemuProc, 4242);
    /* no such process: a collection error */
    assert_true(collect(fx) < 0);
    assert_int_equal(fx->s.n_set, 0);
    /* a truncated line */
    char path[256];
    snprintf(path, sizeof(path), "%s/4242", fx->tmpdir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/4242/stat", fx->tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("4242 (qemu) S 1 2 3 4 5 6 7\n", f);
    fclose(f);
    assert_true(collect(fx) < 0);
    assert_int_equal(fx->s.n_set, 0);
    /* garbage where minflt should be */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("4242 (qemu) S 1 2 3 4 5 6 abc 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", f);
    fclose(f);
    assert_true(collect(fx) < 0);
}


/* ---- the fake itself ------------------------------------------------------ */

static void test_fakehv_vanish_and_return(void **state)
{
    fixture *fx = *state;
    fakehv_add_guest(fx->fh, "id-2", "vm2", "uuid-2", 0);
    fakehv_set_balloon(fx->g, 10, 20, 5);
    const mom_hv_ops *ops = fakehv_ops();
    mom_hv_list l;
    hv_list_init(&l);
    assert_int_equal(ops->get_vm_list(&l, fx->fh), 0);
    assert_int_equal(l.n, 2);
    hv_list_done(&l);

    assert_int_equal(fakehv_remove_guest(fx->fh, "id-1"), 0);
    assert_int_equal(fakehv_remove_guest(fx->fh, "nope"), -ENOENT);
    hv_list_init(&l);
    assert_int_equal(ops->get_vm_list(&l, fx->fh), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "id-2");
    hv_list_done(&l);
    mom_hv_guest_info gi = {.size = sizeof(gi)};
    assert_int_equal(ops->get_vm_info("id-1", &gi, fx->fh), -ENOENT);
    mom_hv_balloon_info bi = {.size = sizeof(bi)};
    assert_int_equal(ops->get_vm_balloon_info("id-1", &bi, fx->fh), -ENOENT);
    assert_int_equal(ops->set_vm_balloon_target("id-1", 1, fx->fh), -ENOENT);

    /* it comes back, with its data and a new pid */
    assert_ptr_equal(fakehv_add_guest(fx->fh, "id-1", "vm1", "uuid-1", 77), fx->g);
    assert_int_equal(ops->get_vm_info("id-1", &gi, fx->fh), 0);
    assert_string_equal(gi.name, "vm1");
    assert_string_equal(gi.uuid, "uuid-1");
    assert_int_equal(gi.pid, 77);
    assert_int_equal(ops->get_vm_balloon_info("id-1", &bi, fx->fh), 0);
    assert_int_equal(bi.balloon_cur, 10);
    assert_int_equal(fakehv_balloon_cur(fx->g), 10);
    assert_int_equal(fakehv_n_calls(fx->fh, "get_vm_info"), 2);
    assert_int_equal(fakehv_find_call(fx->fh, "get_vm_info", 0)->rc, -ENOENT);
}

static void test_fakehv_fail_rules(void **state)
{
    fixture *fx = *state;
    fakehv_add_guest(fx->fh, "id-2", "vm2", "uuid-2", 0);
    const mom_hv_ops *ops = fakehv_ops();
    assert_int_equal(fakehv_fail(fx->fh, NULL, "set_vm_cpu_tune", -EIO), 0);
    assert_int_equal(fakehv_fail(fx->fh, "id-2", "set_vm_cpu_tune", -ETIMEDOUT), 0);
    assert_int_equal(fakehv_fail(fx->fh, NULL, "no_such_op", -EIO), -EINVAL);
    assert_int_equal(ops->set_vm_cpu_tune("id-1", 1, 2, fx->fh), -EIO);
    assert_int_equal(ops->set_vm_cpu_tune("id-2", 1, 2, fx->fh), -ETIMEDOUT);
    assert_int_equal(fakehv_fail(fx->fh, NULL, "set_vm_cpu_tune", 0), 0);
    assert_int_equal(ops->set_vm_cpu_tune("id-1", 1, 2, fx->fh), 0);
    assert_int_equal(ops->set_vm_cpu_tune("id-2", 1, 2, fx->fh), -ETIMEDOUT);
    /* every operation of one guest */
    assert_int_equal(fakehv_fail(fx->fh, "id-1", NULL, -EIO), 0);
    assert_int_equal(ops->set_vm_balloon_target("id-1", 5, fx->fh), -EIO);
    assert_int_equal(fakehv_n_calls(fx->fh, "set_vm_cpu_tune"), 4);
    const fakehv_call *c = fakehv_find_call(fx->fh, "set_vm_cpu_tune", 2);
    assert_string_equal(c->id, "id-1");
    assert_int_equal(c->rc, 0);
    assert_int_equal(c->a, 1);
    assert_int_equal(c->b, 2);
    fakehv_clear_calls(fx->fh);
    assert_int_equal(fakehv_n_calls(fx->fh, NULL), 0);
    assert_null(fakehv_call_at(fx->fh, 0));
}

static void test_fakehv_io_and_ksm(void **state)
{
    fixture *fx = *state;
    const mom_hv_ops *ops = fakehv_ops();
    mom_hv_io_limits a = limits(MOM_HV_IO_ALL, 0), b = limits(MOM_HV_TOTAL_BYTES_SEC, 50);
    fakehv_add_io_tune(fx->g, "vda", "/a", &a);
    fakehv_add_io_tune(fx->g, "vdb", NULL, &a);
    mom_hv_disk_tune d[2] = {{.name = "x", .path = "/a", .io_tune = b},
                             {.name = "vdb", .path = "/other", .io_tune = b}};
    assert_int_equal(ops->set_vm_io_tune("id-1", d, 2, fx->fh), 0);
    mom_hv_io_limits got;
    assert_int_equal(fakehv_io_tune_at(fx->g, 0, &got), 0);
    assert_int_equal(got.present, MOM_HV_TOTAL_BYTES_SEC);
    assert_int_equal(got.total_bytes_sec, 51);
    assert_int_equal(fakehv_io_tune_at(fx->g, 1, &got), 0);
    assert_int_equal(got.total_bytes_sec, 51);
    assert_int_equal(fakehv_io_tune_at(fx->g, 2, &got), -ENOENT);
    const fakehv_call *c = fakehv_find_call(fx->fh, "set_vm_io_tune", 0);
    assert_non_null(c);
    assert_int_equal(c->n_disks, 2);
    assert_string_equal(c->disks[0].name, "x");
    assert_string_equal(c->disks[1].path, "/other");
    assert_ptr_not_equal(c->disks[0].name, d[0].name);

    mom_hv_ksm_tune t = {.present = MOM_HV_KSM_RUN, .run = 1, .pages_to_scan = 999};
    assert_int_equal(ops->ksm_tune(&t, fx->fh), 0);
    mom_hv_ksm_tune st = fakehv_ksm_state(fx->fh);
    assert_int_equal(st.present, MOM_HV_KSM_RUN);
    assert_int_equal(st.run, 1);
    assert_int_equal(st.pages_to_scan, 0);
    fakehv_set_ksm_tune_supported(fx->fh, false);
    assert_null(fakehv_table(fx->fh)->ksm_tune);
    assert_non_null(fakehv_ops()->ksm_tune);
    assert_int_equal(ops->ksm_tune(&t, fx->fh), -ENOTSUP);
    hv h;
    hv_init_embedded(&h, fakehv_table(fx->fh), fx->fh);
    assert_false(hv_has(&h, "ksm_tune"));
    assert_true(hv_has(&h, "set_vm_io_tune"));
    fakehv_set_ksm_tune_supported(fx->fh, true);
    assert_true(hv_has(&h, "ksm_tune"));
}

typedef struct hang_call {
    fakehv *fh;
    int rc;
    int64_t cur;
} hang_call;

static void *hang_thread(void *arg)
{
    hang_call *hc = arg;
    mom_hv_balloon_info bi = {.size = sizeof(bi)};
    hc->rc = fakehv_ops()->get_vm_balloon_info("id-1", &bi, hc->fh);
    hc->cur = bi.balloon_cur;
    return NULL;
}

static void test_fakehv_hang(void **state)
{
    fixture *fx = *state;
    fakehv_set_balloon(fx->g, 123, 456, 0);
    assert_int_equal(fakehv_hang(fx->fh, "id-1", "get_vm_balloon_info", true), 0);
    /* another guest's calls and other operations do not block */
    fakehv_add_guest(fx->fh, "id-2", "vm2", "uuid-2", 0);
    mom_hv_balloon_info bi = {.size = sizeof(bi)};
    assert_int_equal(fakehv_ops()->get_vm_balloon_info("id-2", &bi, fx->fh), -ENODATA);
    assert_int_equal(fakehv_ops()->set_vm_balloon_target("id-1", 200, fx->fh), 0);

    hang_call hc = {.fh = fx->fh, .rc = 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hang_thread, &hc), 0);
    assert_true(fakehv_wait_blocked(fx->fh, 1, 5000));
    assert_int_equal(fakehv_n_blocked(fx->fh), 1);
    fakehv_release(fx->fh);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(hc.rc, 0);
    assert_int_equal(hc.cur, 200);
    assert_int_equal(fakehv_n_blocked(fx->fh), 0);

    /* the rule stays: the next call blocks until the rule is turned off */
    hc.rc = 1;
    assert_int_equal(pthread_create(&t, NULL, hang_thread, &hc), 0);
    assert_true(fakehv_wait_blocked(fx->fh, 1, 5000));
    assert_false(fakehv_wait_blocked(fx->fh, 2, 50));
    assert_int_equal(fakehv_hang(fx->fh, "id-1", "get_vm_balloon_info", false), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(hc.rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_memory_present_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_one_warning_per_outage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_unsupported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_start_failure_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_optional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_balloon_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_balloon_not_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_balloon_optional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cputune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cputune_unsupported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iotune_matching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iotune_name_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iotune_empty_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iotune_optional_and_unsupported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qemu_proc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qemu_proc_no_pid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qemu_proc_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fakehv_vanish_and_return, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fakehv_fail_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fakehv_io_and_ksm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fakehv_hang, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
