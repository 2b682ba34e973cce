/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The four built-in controllers (Balloon, KSM, CpuTune, IoTune) over
 * hand-built snapshots and controls, through the real plugin api; actions
 * are recorded by the cycle's action function, KSM sysfs writes go to a
 * temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "core/snapshot.h"
#include "core/value.h"
#include "fakehv.h"

#define MAX_LINES 64
#define MAX_ACTS 32
#define MAX_GUESTS 8

/* A copied action. */
typedef struct act {
    hv_action_type type;
    char guest_id[64];
    int64_t a, b;
    size_t n_disks;
    mom_hv_disk_tune disks[8];
    char names[8][32], paths[8][64];
    mom_hv_ksm_tune ksm;
} act;

typedef struct fixture {
    fakehv *fh;
    hv h;
    mlog log;
    api_env env;
    fieldtab *host_ft, *guest_ft, *bare_ft;
    snapshot *snap;
    controls *ctl;
    size_t n_guests;
    sample *host_sample;
    sample *guest_samples[MAX_GUESTS];
    const fieldtab *guest_fields[MAX_GUESTS];
    mom_cycle cycle;
    bool cycle_ready;
    char sysfs[64];
    size_t n_acts;
    act acts[MAX_ACTS];
    int action_rc;
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

static size_t count_lines(const fixture *fx, int level, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->n_lines; i++)
        if (fx->levels[i] == level && (!needle || strstr(fx->lines[i], needle)))
            n++;
    return n;
}

/* Index of the first line containing needle, or -1. */
static int line_index(const fixture *fx, const char *needle)
{
    for (size_t i = 0; i < fx->n_lines; i++)
        if (strstr(fx->lines[i], needle))
            return (int)i;
    return -1;
}

/* The cycle's action function: copy everything. */
static int record_action(const hv_action *a, void *userdata)
{
    fixture *fx = userdata;
    assert_true(fx->n_acts < MAX_ACTS);
    act *c = &fx->acts[fx->n_acts++];
    memset(c, 0, sizeof(*c));
    c->type = a->type;
    if (a->guest_id)
        snprintf(c->guest_id, sizeof(c->guest_id), "%s", a->guest_id);
    c->a = a->a;
    c->b = a->b;
    c->ksm = a->ksm;
    assert_true(a->n_disks <= 8);
    c->n_disks = a->n_disks;
    for (size_t i = 0; i < a->n_disks; i++) {
        c->disks[i] = a->disks[i];
        c->disks[i].name = c->disks[i].path = NULL;
        if (a->disks[i].name) {
            snprintf(c->names[i], sizeof(c->names[i]), "%s", a->disks[i].name);
            c->disks[i].name = c->names[i];
        }
        if (a->disks[i].path) {
            snprintf(c->paths[i], sizeof(c->paths[i]), "%s", a->disks[i].path);
            c->disks[i].path = c->paths[i];
        }
    }
    return fx->action_rc;
}

static fieldtab *make_ft(const char *const *mandatory, const char *const *optional)
{
    fieldtab *t = fieldtab_new();
    assert_non_null(t);
    for (const char *const *p = mandatory; p && *p; p++)
        assert_true(fieldtab_add(t, *p, true) >= 0);
    for (const char *const *p = optional; p && *p; p++)
        assert_true(fieldtab_add(t, *p, false) >= 0);
    assert_int_equal(fieldtab_finish(t), 0);
    return t;
}

static const char *const host_fields[] = {
    "mem_available", "ksm_run", "ksm_pages_to_scan", "ksm_sleep_millisecs",
    "ksm_merge_across_nodes", "ksm_pages_shared", NULL,
};
static const char *const guest_mandatory[] = {"vcpu_quota", "vcpu_period", NULL};
static const char *const guest_optional[] = {
    "balloon_cur", "balloon_max", "balloon_min", "io_tune", "io_tune_current", NULL,
};
static const char *const bare_fields[] = {"mem_unused", NULL};

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->fh = fakehv_new();
    assert_non_null(fx->fh);
    mlog_init(&fx->log, capture, fx, MOM_LOG_DEBUG);
    fx->host_ft = make_ft(host_fields, NULL);
    fx->guest_ft = make_ft(guest_mandatory, guest_optional);
    fx->bare_ft = make_ft(bare_fields, NULL);
    fx->host_sample = sample_new(fx->host_ft->n);
    assert_non_null(fx->host_sample);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    if (fx->cycle_ready)
        cycle_done(&fx->cycle);
    snapshot_unref(fx->snap);
    controls_free(fx->ctl);
    sample_unref(fx->host_sample);
    for (size_t i = 0; i < MAX_GUESTS; i++)
        sample_unref(fx->guest_samples[i]);
    fieldtab_free(fx->host_ft);
    fieldtab_free(fx->guest_ft);
    fieldtab_free(fx->bare_ft);
    fakehv_free(fx->fh);
    if (*fx->sysfs) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->sysfs);
        assert_int_equal(system(cmd), 0);
    }
    free(fx);
    return 0;
}

/* ---- building samples, snapshots and controls ------------------------------ */

static fval *slot(const fieldtab *ft, sample *s, const char *field)
{
    int id = fieldtab_find(ft, field);
    assert_true(id >= 0);
    return &s->f[id];
}

static void set_int(const fieldtab *ft, sample *s, const char *field, int64_t v)
{
    fval *f = slot(ft, s, field);
    fval_clear(f);
    f->kind = FV_INT;
    f->u.i = v;
}

static void set_none(const fieldtab *ft, sample *s, const char *field)
{
    fval *f = slot(ft, s, field);
    fval_clear(f);
    f->kind = FV_NONE;
}

static void set_value(const fieldtab *ft, sample *s, const char *field, mom_value *v)
{
    assert_non_null(v);
    fval *f = slot(ft, s, field);
    fval_clear(f);
    fval_set_value(f, v);
}

/* Add a guest with the full guest table: vcpu quota/period set, balloon
 * and io fields absent.  Returns its index. */
static size_t add_guest(fixture *fx, const fieldtab *ft)
{
    size_t i = fx->n_guests++;
    assert_true(i < MAX_GUESTS);
    fx->guest_fields[i] = ft;
    fx->guest_samples[i] = sample_new(ft->n);
    assert_non_null(fx->guest_samples[i]);
    if (ft == fx->guest_ft) {
        set_int(ft, fx->guest_samples[i], "vcpu_quota", -1);
        set_int(ft, fx->guest_samples[i], "vcpu_period", 100000);
        for (const char *const *p = guest_optional; *p; p++)
            set_none(ft, fx->guest_samples[i], *p);
    }
    return i;
}

static sample *gs(fixture *fx, size_t i)
{
    return fx->guest_samples[i];
}

/* Freeze the samples into a snapshot and make empty controls. */
static void build(fixture *fx)
{
    fx->snap = snapshot_new(fx->n_guests);
    assert_non_null(fx->snap);
    fx->snap->host_fields = fx->host_ft;
    fx->snap->guest_fields = fx->guest_ft;
    assert_int_equal(snap_entity_init(&fx->snap->host, MOM_ENTITY_HOST, "host", "host", NULL, 0,
                                      NULL, fx->host_ft, &fx->host_sample, 1),
                     0);
    for (size_t i = 0; i < fx->n_guests; i++) {
        char id[32], name[32], uuid[32];
        snprintf(id, sizeof(id), "id-%zu", i);
        snprintf(name, sizeof(name), "vm-%c", (char)('a' + i));
        snprintf(uuid, sizeof(uuid), "uuid-vm-%c", (char)('a' + i));
        assert_int_equal(snap_entity_init(&fx->snap->guests[i], MOM_ENTITY_GUEST, id, name, uuid,
                                          0, NULL, fx->guest_fields[i], &fx->guest_samples[i], 1),
                         0);
    }
    fx->ctl = controls_new(fx->n_guests);
    assert_non_null(fx->ctl);
}

static void ctl(fixture *fx, int guest, const char *name, mom_value *v)
{
    assert_non_null(v);
    assert_int_equal(controls_set(fx->ctl, guest, name, v), 0);
}

/* Run one controller over the snapshot and controls with the fake's
 * table as the hypervisor interface. */
static int run(fixture *fx, const mom_controller *c)
{
    hv_init_embedded(&fx->h, fakehv_table(fx->fh), fx->fh);
    api_env_init(&fx->env, NULL, &fx->log, &fx->h);
    if (*fx->sysfs)
        fx->env.sysfs_root = fx->sysfs;
    assert_int_equal(cycle_init(&fx->cycle, &fx->env, fx->snap, fx->ctl, record_action, fx), 0);
    fx->cycle_ready = true;
    void *st = NULL;
    assert_int_equal(c->init(&fx->env.api, &st), 0);
    int r = c->process(st, &fx->env.api, &fx->cycle);
    if (c->fini)
        c->fini(st);
    return r;
}

/* ---- Balloon ------------------------------------------------------------- */

static void test_balloon_int_conversion(void **state)
{
    fixture *fx = *state;
    size_t a = add_guest(fx, fx->guest_ft);
    set_int(fx->guest_ft, gs(fx, a), "balloon_cur", 4194304);
    set_int(fx->guest_ft, gs(fx, a), "balloon_max", 4194304);
    set_int(fx->guest_ft, gs(fx, a), "balloon_min", 1048576);
    for (int i = 0; i < 6; i++)
        add_guest(fx, fx->guest_ft); /* b..g: balloon fields absent */
    build(fx);
    ctl(fx, 0, "balloon_target", value_new_real(3984588.8));  /* truncated */
    ctl(fx, 1, "balloon_target", value_new_string(" 1048576 ")); /* decimal string */
    ctl(fx, 2, "balloon_target", value_new_string("abc"));     /* fails: skipped */
    ctl(fx, 3, "balloon_target", value_new_bool(true));        /* 1 */
    /* guest 4: no control at all */
    ctl(fx, 5, "balloon_target", value_new_none());            /* None: nothing */
    ctl(fx, 6, "balloon_target", value_new_int(-5));           /* sent as-is */

    assert_int_equal(run(fx, &mom_controller_Balloon), 0);
    assert_int_equal(fx->n_acts, 4);
    const char *ids[] = {"id-0", "id-1", "id-3", "id-6"};
    const int64_t targets[] = {3984588, 1048576, 1, -5};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(fx->acts[i].type, HV_ACT_BALLOON);
        assert_string_equal(fx->acts[i].guest_id, ids[i]);
        assert_int_equal(fx->acts[i].a, targets[i]);
    }
    assert_int_equal(count_lines(fx, MOM_LOG_ERROR, "vm-c"), 1);
    assert_int_equal(count_lines(fx, MOM_LOG_INFO, "clamp"), 0);
}

static void test_balloon_clamp(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < 3; i++) {
        size_t g = add_guest(fx, fx->guest_ft);
        set_int(fx->guest_ft, gs(fx, g), "balloon_cur", 2097152);
        set_int(fx->guest_ft, gs(fx, g), "balloon_max", 4194304);
        set_int(fx->guest_ft, gs(fx, g), "balloon_min", 1048576);
    }
    add_guest(fx, fx->bare_ft); /* balloon fields not even declared */
    build(fx);
    ctl(fx, 0, "balloon_target", value_new_int(5000000));  /* above max */
    ctl(fx, 1, "balloon_target", value_new_real(500000.7)); /* below min */
    ctl(fx, 2, "balloon_target", value_new_int(4194304));  /* at max: unchanged */
    ctl(fx, 3, "balloon_target", value_new_int(123));      /* unclamped */

    assert_int_equal(run(fx, &mom_controller_Balloon), 0);
    assert_int_equal(fx->n_acts, 4);
    assert_int_equal(fx->acts[0].a, 4194304);
    assert_int_equal(fx->acts[1].a, 1048576);
    assert_int_equal(fx->acts[2].a, 4194304);
    assert_int_equal(fx->acts[3].a, 123);
    assert_string_equal(fx->acts[3].guest_id, "id-3");
    assert_int_equal(count_lines(fx, MOM_LOG_INFO, "clamped"), 2);
    assert_int_equal(count_lines(fx, MOM_LOG_INFO, "vm-a"), 1);
    assert_int_equal(count_lines(fx, MOM_LOG_INFO, "vm-b"), 1);
}

static void test_balloon_unsupported(void **state)
{
    fixture *fx = *state;
    add_guest(fx, fx->guest_ft);
    build(fx);
    ctl(fx, 0, "balloon_target", value_new_int(1000));
    fakehv_set_op_supported(fx->fh, "set_vm_balloon_target", false);
    assert_int_equal(run(fx, &mom_controller_Balloon), -ENOTSUP);
    assert_int_equal(fx->n_acts, 0);
}

/* ---- KSM ------------------------------------------------------------------ */

/* Host sample of POLICY-CLASSIC §10.2. */
static void ksm_host(fixture *fx)
{
    set_int(fx->host_ft, fx->host_sample, "mem_available", 16000000);
    set_int(fx->host_ft, fx->host_sample, "ksm_pages_shared", 0);
    set_int(fx->host_ft, fx->host_sample, "ksm_merge_across_nodes", 1);
    set_int(fx->host_ft, fx->host_sample, "ksm_run", 0);
    set_int(fx->host_ft, fx->host_sample, "ksm_pages_to_scan", 100);
    set_int(fx->host_ft, fx->host_sample, "ksm_sleep_millisecs", 10);
}

static void test_ksm_example(void **state)
{
    fixture *fx = *state;
    ksm_host(fx);
    build(fx);
    /* the controls of §10.2, in setting order */
    ctl(fx, -1, "ksm_merge_across_nodes", value_new_int(1));
    ctl(fx, -1, "ksm_run", value_new_int(1));
    ctl(fx, -1, "ksm_sleep_millisecs", value_new_real(10.48576));
    ctl(fx, -1, "ksm_pages_to_scan", value_new_int(400));
    assert_int_equal(run(fx, &mom_controller_KSM), 0);
    assert_int_equal(fx->n_acts, 1);
    const act *a = &fx->acts[0];
    assert_int_equal(a->type, HV_ACT_KSM);
    assert_int_equal(a->ksm.present, MOM_HV_KSM_RUN | MOM_HV_KSM_PAGES_TO_SCAN);
    assert_int_equal(a->ksm.run, 1);
    assert_int_equal(a->ksm.pages_to_scan, 400);
}

static void test_ksm_nothing_changed(void **state)
{
    fixture *fx = *state;
    ksm_host(fx);
    build(fx);
    ctl(fx, -1, "ksm_run", value_new_string("0"));
    ctl(fx, -1, "ksm_sleep_millisecs", value_new_real(10.9));
    ctl(fx, -1, "ksm_pages_to_scan", value_new_real(100.0));
    ctl(fx, -1, "ksm_merge_across_nodes", value_new_bool(true));
    assert_int_equal(run(fx, &mom_controller_KSM), 0);
    assert_int_equal(fx->n_acts, 0);
}

static void test_ksm_bad_value(void **state)
{
    fixture *fx = *state;
    ksm_host(fx);
    build(fx);
    ctl(fx, -1, "ksm_run", value_new_string("abc"));
    ctl(fx, -1, "ksm_pages_to_scan", value_new_int(64));
    ctl(fx, -1, "ksm_sleep_millisecs", value_new_none());
    assert_int_equal(run(fx, &mom_controller_KSM), 0);
    assert_int_equal(fx->n_acts, 1);
    assert_int_equal(fx->acts[0].ksm.present, MOM_HV_KSM_PAGES_TO_SCAN);
    assert_int_equal(fx->acts[0].ksm.pages_to_scan, 64);
    assert_int_equal(count_lines(fx, MOM_LOG_ERROR, "ksm_run"), 1);
}

/* Make SYSFS/kernel/mm/ksm with the four files. */
static void make_sysfs(fixture *fx)
{
    snprintf(fx->sysfs, sizeof(fx->sysfs), "/tmp/mom-ctl-XXXXXX");
    assert_non_null(mkdtemp(fx->sysfs));
    char path[256];
    snprintf(path, sizeof(path), "%s/kernel", fx->sysfs);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/kernel/mm", fx->sysfs);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/kernel/mm/ksm", fx->sysfs);
    assert_int_equal(mkdir(path, 0755), 0);
    const char *files[] = {"run", "pages_to_scan", "sleep_millisecs", "merge_across_nodes"};
    const char *vals[] = {"0\n", "100\n", "10\n", "1\n"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/kernel/mm/ksm/%s", fx->sysfs, files[i]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(vals[i], f);
        fclose(f);
    }
}

static void read_ksm_file(fixture *fx, const char *name, char *buf, size_t size)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/kernel/mm/ksm/%s", fx->sysfs, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void test_ksm_sysfs_order(void **state)
{
    fixture *fx = *state;
    make_sysfs(fx);
    fakehv_set_ksm_tune_supported(fx->fh, false);
    ksm_host(fx);
    build(fx);
    ctl(fx, -1, "ksm_run", value_new_int(1));
    ctl(fx, -1, "ksm_pages_to_scan", value_new_real(400.2));
    ctl(fx, -1, "ksm_sleep_millisecs", value_new_int(10)); /* unchanged */
    ctl(fx, -1, "ksm_merge_across_nodes", value_new_int(0));
    assert_int_equal(run(fx, &mom_controller_KSM), 0);
    assert_int_equal(fx->n_acts, 0);
    assert_int_equal(fakehv_n_calls(fx->fh, "ksm_tune"), 0);

    char buf[32];
    read_ksm_file(fx, "merge_across_nodes", buf, sizeof(buf));
    assert_string_equal(buf, "0\n");
    read_ksm_file(fx, "run", buf, sizeof(buf));
    assert_string_equal(buf, "1\n");
    read_ksm_file(fx, "pages_to_scan", buf, sizeof(buf));
    assert_string_equal(buf, "400\n");
    read_ksm_file(fx, "sleep_millisecs", buf, sizeof(buf));
    assert_string_equal(buf, "10\n");

    /* merge_across_nodes before run, then pages_to_scan */
    int m = line_index(fx, "merge_across_nodes = 0");
    int r = line_index(fx, "run = 1");
    int p = line_index(fx, "pages_to_scan = 400");
    assert_true(m >= 0 && r >= 0 && p >= 0);
    assert_true(m < r && r < p);
    assert_int_equal(line_index(fx, "sleep_millisecs ="), -1);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, NULL), 0);
}

static void test_ksm_sysfs_refused_write(void **state)
{
    fixture *fx = *state;
    make_sysfs(fx);
    /* a directory in place of merge_across_nodes: its write is refused */
    char path[256];
    snprintf(path, sizeof(path), "%s/kernel/mm/ksm/merge_across_nodes", fx->sysfs);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0755), 0);
    fakehv_set_ksm_tune_supported(fx->fh, false);
    ksm_host(fx);
    build(fx);
    ctl(fx, -1, "ksm_merge_across_nodes", value_new_int(0));
    ctl(fx, -1, "ksm_run", value_new_int(2));
    ctl(fx, -1, "ksm_sleep_millisecs", value_new_int(20));
    assert_int_equal(run(fx, &mom_controller_KSM), 0);

    assert_int_equal(count_lines(fx, MOM_LOG_WARN, "merge_across_nodes"), 1);
    assert_int_equal(count_lines(fx, MOM_LOG_WARN, strerror(EISDIR)), 1);
    char buf[32];
    read_ksm_file(fx, "run", buf, sizeof(buf));
    assert_string_equal(buf, "2\n");
    read_ksm_file(fx, "sleep_millisecs", buf, sizeof(buf));
    assert_string_equal(buf, "20\n");
    read_ksm_file(fx, "pages_to_scan", buf, sizeof(buf));
    assert_string_equal(buf, "100\n");
}

static void test_ksm_undeclared_field_differs(void **state)
{
    fixture *fx = *state;
    /* a host without the KSM fields: every set control differs */
    fieldtab_free(fx->host_ft);
    fx->host_ft = make_ft(bare_fields, NULL);
    sample_unref(fx->host_sample);
    fx->host_sample = sample_new(fx->host_ft->n);
    build(fx);
    ctl(fx, -1, "ksm_run", value_new_int(0));
    ctl(fx, -1, "ksm_merge_across_nodes", value_new_int(1));
    assert_int_equal(run(fx, &mom_controller_KSM), 0);
    assert_int_equal(fx->n_acts, 1);
    assert_int_equal(fx->acts[0].ksm.present, MOM_HV_KSM_RUN | MOM_HV_KSM_MERGE_ACROSS_NODES);
    assert_int_equal(fx->acts[0].ksm.run, 0);
    assert_int_equal(fx->acts[0].ksm.merge_across_nodes, 1);
}

/* ---- CpuTune -------------------------------------------------------------- */

static void test_cputune_example(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < 7; i++)
        add_guest(fx, fx->guest_ft); /* quota -1, period 100000 */
    set_int(fx->guest_ft, gs(fx, 3), "vcpu_quota", 100000);
    set_int(fx->guest_ft, gs(fx, 4), "vcpu_quota", 100000);
    build(fx);
    /* §10.3: vm-a, vm-b, vm-c */
    ctl(fx, 0, "vcpu_quota", value_new_real(100000.0));
    ctl(fx, 1, "vcpu_quota", value_new_int(-1));
    ctl(fx, 1, "vcpu_period", value_new_int(100000));
    ctl(fx, 2, "vcpu_quota", value_new_real(1500.0));
    ctl(fx, 2, "vcpu_period", value_new_real(300000.0));
    /* compared before truncation */
    ctl(fx, 3, "vcpu_quota", value_new_real(100000.5)); /* changed: sends 100000 */
    ctl(fx, 4, "vcpu_quota", value_new_real(100000.0)); /* unchanged */
    ctl(fx, 5, "vcpu_quota", value_new_string("abc"));  /* fails: skipped */
    ctl(fx, 6, "vcpu_period", value_new_string(" 200000 "));

    assert_int_equal(run(fx, &mom_controller_CpuTune), 0);
    assert_int_equal(fx->n_acts, 4);
    const char *ids[] = {"id-0", "id-2", "id-3", "id-6"};
    const int64_t q[] = {100000, 1500, 100000, -1};
    const int64_t p[] = {100000, 300000, 100000, 200000};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(fx->acts[i].type, HV_ACT_CPU_TUNE);
        assert_string_equal(fx->acts[i].guest_id, ids[i]);
        assert_int_equal(fx->acts[i].a, q[i]);
        assert_int_equal(fx->acts[i].b, p[i]);
    }
    assert_int_equal(count_lines(fx, MOM_LOG_ERROR, "vm-f"), 1);
}

static void test_cputune_undeclared(void **state)
{
    fixture *fx = *state;
    add_guest(fx, fx->bare_ft);
    add_guest(fx, fx->guest_ft);
    build(fx);
    ctl(fx, 0, "vcpu_quota", value_new_int(5000));
    ctl(fx, 1, "vcpu_quota", value_new_int(6000));
    assert_int_equal(run(fx, &mom_controller_CpuTune), 0);
    assert_int_equal(fx->n_acts, 1);
    assert_string_equal(fx->acts[0].guest_id, "id-1");
    assert_int_equal(fx->acts[0].a, 6000);
    assert_int_equal(fx->acts[0].b, 100000);
    assert_int_equal(count_lines(fx, MOM_LOG_ERROR, "vm-a"), 1);
}

/* ---- IoTune --------------------------------------------------------------- */

/* {"name", "path", "ioTune": {six}} with limits base+1..base+6 (as reals
 * when `real`); limit `none_at` (0-5, or -1) is None. */
static mom_value *disk(const char *name, const char *path, int64_t base, bool real, int none_at)
{
    mom_value *m = value_new_map();
    mom_value *t = value_new_map();
    assert_non_null(m);
    assert_non_null(t);
    for (int i = 0; i < 6; i++) {
        mom_value *v = i == none_at ? value_new_none()
                       : real       ? value_new_real((double)(base + 1 + i))
                                    : value_new_int(base + 1 + i);
        assert_int_equal(value_map_set(t, hv_limit_names[i], v), 0);
    }
    assert_int_equal(value_map_set(m, "name", value_new_string(name)), 0);
    assert_int_equal(value_map_set(m, "path", path ? value_new_string(path) : value_new_none()), 0);
    assert_int_equal(value_map_set(m, "ioTune", t), 0);
    return m;
}

static mom_value *list3(mom_value *a, mom_value *b, mom_value *c)
{
    mom_value *l = value_new_list();
    assert_non_null(l);
    if (a)
        assert_int_equal(value_list_append(l, a), 0);
    if (b)
        assert_int_equal(value_list_append(l, b), 0);
    if (c)
        assert_int_equal(value_list_append(l, c), 0);
    return l;
}

static void test_iotune_changed_disks(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < 5; i++)
        add_guest(fx, fx->guest_ft);
    /* guest 0: three disks; the control changes vdb and vdc only (vda
     * differs only in int vs real, which is equal by value) */
    set_value(fx->guest_ft, gs(fx, 0), "io_tune_current",
              list3(disk("vda", "/a", 0, false, -1), disk("vdb", "/b", 10, false, -1),
                    disk("vdc", NULL, 20, false, 2)));
    /* guest 1: control identical to current */
    set_value(fx->guest_ft, gs(fx, 1), "io_tune_current",
              list3(disk("vda", "/a", 0, false, 3), NULL, NULL));
    /* guest 2: empty current list; guest 3: current None; guest 4: no control */
    set_value(fx->guest_ft, gs(fx, 2), "io_tune_current", value_new_list());
    set_value(fx->guest_ft, gs(fx, 4), "io_tune_current",
              list3(disk("vda", "/a", 0, false, -1), NULL, NULL));
    build(fx);
    ctl(fx, 0, "io_tune",
        list3(disk("vda", "/a", 0, true, -1), disk("vdb", "/b", 100, false, -1),
              disk("vdc", NULL, 20, false, -1)));
    ctl(fx, 1, "io_tune", list3(disk("vda", "/a", 0, false, 3), NULL, NULL));
    ctl(fx, 2, "io_tune", list3(disk("vda", "/a", 5, false, -1), NULL, NULL));
    ctl(fx, 3, "io_tune", list3(disk("vda", "/a", 5, false, -1), NULL, NULL));

    assert_int_equal(run(fx, &mom_controller_IoTune), 0);
    assert_int_equal(fx->n_acts, 1);
    const act *a = &fx->acts[0];
    assert_int_equal(a->type, HV_ACT_IO_TUNE);
    assert_string_equal(a->guest_id, "id-0");
    assert_int_equal(a->n_disks, 2);
    assert_string_equal(a->disks[0].name, "vdb");
    assert_string_equal(a->disks[0].path, "/b");
    assert_int_equal(a->disks[0].io_tune.present, MOM_HV_IO_ALL);
    assert_int_equal(a->disks[0].io_tune.total_bytes_sec, 101);
    assert_int_equal(a->disks[0].io_tune.read_bytes_sec, 102);
    assert_int_equal(a->disks[0].io_tune.write_bytes_sec, 103);
    assert_int_equal(a->disks[0].io_tune.total_iops_sec, 104);
    assert_int_equal(a->disks[0].io_tune.read_iops_sec, 105);
    assert_int_equal(a->disks[0].io_tune.write_iops_sec, 106);
    assert_string_equal(a->disks[1].name, "vdc");
    assert_null(a->disks[1].path);
    assert_int_equal(a->disks[1].io_tune.present, MOM_HV_IO_ALL);
    assert_int_equal(a->disks[1].io_tune.write_bytes_sec, 23);
}

static void test_iotune_none_limit_sent_absent(void **state)
{
    fixture *fx = *state;
    add_guest(fx, fx->guest_ft);
    set_value(fx->guest_ft, gs(fx, 0), "io_tune_current",
              list3(disk("vda", "/a", 0, false, -1), NULL, NULL));
    build(fx);
    ctl(fx, 0, "io_tune", list3(disk("vda", "/a", 0, false, 4), NULL, NULL));
    assert_int_equal(run(fx, &mom_controller_IoTune), 0);
    assert_int_equal(fx->n_acts, 1);
    assert_int_equal(fx->acts[0].n_disks, 1);
    assert_int_equal(fx->acts[0].disks[0].io_tune.present, MOM_HV_IO_ALL & ~MOM_HV_READ_IOPS_SEC);
    assert_int_equal(fx->acts[0].disks[0].io_tune.total_bytes_sec, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_balloon_int_conversion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_balloon_clamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_balloon_unsupported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ksm_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ksm_nothing_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ksm_bad_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ksm_sysfs_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ksm_sysfs_refused_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ksm_undeclared_field_differs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cputune_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cputune_undeclared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iotune_changed_disks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iotune_none_limit_sent_absent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
