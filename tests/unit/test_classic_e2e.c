/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * End to end: the vdsm-style classic policy set (tests/fixtures/policies/
 * classic) evaluated on the snapshots of POLICY-CLASSIC §10, and the real
 * Balloon, KSM, CpuTune and IoTune controllers fed with the controls of
 * those evaluations through cycle_init and the fake hypervisor.  Also the
 * allocation-failure loops over loading and evaluating that set.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/api.h"
#include "core/hv.h"
#include "core/registry.h"
#include "core/snapshot_json.h"
#include "fakehv.h"
#include "lang/policy.h"

#define MAX_ACTS 16

typedef struct rec_act {
    hv_action_type type;
    char guest_id[64];
    int64_t a, b;
    mom_hv_ksm_tune ksm;
    size_t n_disks;
    mom_hv_io_limits limits[4];
    char names[4][16];
} rec_act;

typedef struct rec {
    size_t n;
    rec_act acts[MAX_ACTS];
} rec;

static int record(const hv_action *a, void *userdata)
{
    rec *r = userdata;
    assert_true(r->n < MAX_ACTS);
    rec_act *c = &r->acts[r->n++];
    memset(c, 0, sizeof(*c));
    c->type = a->type;
    if (a->guest_id)
        snprintf(c->guest_id, sizeof(c->guest_id), "%s", a->guest_id);
    c->a = a->a;
    c->b = a->b;
    c->ksm = a->ksm;
    c->n_disks = a->n_disks;
    for (size_t i = 0; i < a->n_disks && i < 4; i++) {
        c->limits[i] = a->disks[i].io_tune;
        snprintf(c->names[i], sizeof(c->names[i]), "%s", a->disks[i].name ? a->disks[i].name : "");
    }
    return 0;
}

static const char *srcdir(void)
{
    const char *d = getenv("MOM_TEST_SRCDIR");
    return d ? d : ".";
}

static char *slurp(const char *rel)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", srcdir(), rel);
    FILE *f = fopen(path, "re");
    if (!f)
        fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static snapshot *load_snap(const char *rel)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", srcdir(), rel);
    snapshot *s = NULL;
    char *err = NULL;
    if (snapshot_json_load_file(path, &s, &err) < 0)
        fail_msg("snapshot %s: %s", path, err ? err : "?");
    return s;
}

/* A policy set of the named fixture policies plus extra (name, text)
 * pairs, NULL-terminated. */
static policy_set *load_set(const char *const *fixtures, const char *const *extra)
{
    const char *names[16], *texts[16], *files[16];
    char *owned[16];
    size_t n = 0, no = 0;
    for (const char *const *f = fixtures; *f; f++) {
        char rel[256];
        snprintf(rel, sizeof(rel), "tests/fixtures/policies/classic/%s.policy", *f);
        owned[no] = slurp(rel);
        names[n] = *f;
        texts[n] = owned[no++];
        files[n++] = NULL;
    }
    for (const char *const *e = extra; e && *e; e += 2) {
        names[n] = e[0];
        texts[n] = e[1];
        files[n++] = NULL;
    }
    policy_set *p;
    policy_opts o = { 0 };
    assert_int_equal(policy_set_new(&o, &p), 0);
    char *err = NULL;
    int r = policy_set_replace(p, names, texts, files, n, &err);
    if (r != 0)
        fail_msg("load: %d %s", r, err ? err : "");
    for (size_t i = 0; i < no; i++)
        free(owned[i]);
    return p;
}

static controls *eval_ok(policy_set *p, const snapshot *s)
{
    controls *c = NULL;
    char *err = NULL;
    int r = policy_set_eval(p, s, &c, NULL, &err);
    if (r != 0)
        fail_msg("eval: %d %s", r, err ? err : "");
    return c;
}

static void assert_json(const mom_value *v, const char *want)
{
    char *j = value_to_json(v);
    if (strcmp(j, want) != 0)
        fail_msg("got  %s\nwant %s", j, want);
    mom_free(j);
}

/* Run one real controller over the snapshot and controls; actions land
 * in *r. */
static void run_controller(const mom_controller *ctl, const snapshot *s, controls *c, rec *r)
{
    fakehv *fh = fakehv_new();
    assert_non_null(fh);
    hv h;
    hv_init_embedded(&h, fakehv_table(fh), fh);
    mlog log;
    mlog_init(&log, NULL, NULL, MOM_LOG_ERROR);
    api_env env;
    api_env_init(&env, NULL, &log, &h);
    mom_cycle cycle;
    assert_int_equal(cycle_init(&cycle, &env, s, c, record, r), 0);
    void *st = NULL;
    assert_int_equal(ctl->init(&env.api, &st), 0);
    assert_int_equal(ctl->process(st, &env.api, &cycle), 0);
    if (ctl->fini)
        ctl->fini(st);
    cycle_done(&cycle);
    fakehv_free(fh);
}

static const char *const balloon_set[] = { "00-defines", "02-balloon", NULL };
static const char *const balloon_params[] = { "01-parameters", "(set balloonEnabled True)", NULL };

/* §10.1 */
static void test_balloon_example(void **state)
{
    (void)state;
    snapshot *s = load_snap("tests/fixtures/snapshots/classic-10.1-balloon.json");
    policy_set *p = load_set(balloon_set, balloon_params);
    controls *c = eval_ok(p, s);
    assert_json(c->host, "{}");
    assert_json(c->guests[0], "{\"balloon_target\": 3984588.8}");
    assert_json(c->guests[1], "{\"balloon_target\": 1048576}");
    rec r = { 0 };
    run_controller(&mom_controller_Balloon, s, c, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.acts[0].type, HV_ACT_BALLOON);
    assert_string_equal(r.acts[0].guest_id, "uuid-vm-a");
    assert_int_equal(r.acts[0].a, 3984588);
    assert_string_equal(r.acts[1].guest_id, "uuid-vm-b");
    assert_int_equal(r.acts[1].a, 1048576);
    controls_free(c);
    policy_set_free(p);

    /* With the original's default (balloonEnabled False) vm-a grows
     * nothing (it is at its maximum) and only the QoS rule acts. */
    p = load_set(balloon_set, NULL);
    c = eval_ok(p, s);
    assert_json(c->guests[0], "{}");
    assert_json(c->guests[1], "{\"balloon_target\": 1048576}");
    controls_free(c);
    policy_set_free(p);
    snapshot_unref(s);
}

/* §10.2 */
static void test_ksm_example(void **state)
{
    (void)state;
    static const char *const set[] = { "00-defines", "03-ksm", NULL };
    snapshot *s = load_snap("tests/fixtures/snapshots/classic-10.2-ksm.json");
    policy_set *p = load_set(set, NULL);
    controls *c = eval_ok(p, s);
    assert_json(c->host, "{\"ksm_merge_across_nodes\": 1, \"ksm_run\": 1, "
                         "\"ksm_sleep_millisecs\": 10.48576, \"ksm_pages_to_scan\": 400}");
    rec r = { 0 };
    run_controller(&mom_controller_KSM, s, c, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.acts[0].type, HV_ACT_KSM);
    assert_int_equal(r.acts[0].ksm.present, MOM_HV_KSM_RUN | MOM_HV_KSM_PAGES_TO_SCAN);
    assert_int_equal(r.acts[0].ksm.run, 1);
    assert_int_equal(r.acts[0].ksm.pages_to_scan, 400);
    controls_free(c);
    policy_set_free(p);

    /* KSM disabled by a parameters policy: run := 0, which equals the
     * current value, so the controller sends nothing. */
    static const char *const off[] = { "01-parameters", "(set ksmEnabled False)", NULL };
    p = load_set(set, off);
    c = eval_ok(p, s);
    assert_json(c->host, "{\"ksm_merge_across_nodes\": 1, \"ksm_run\": 0}");
    memset(&r, 0, sizeof(r));
    run_controller(&mom_controller_KSM, s, c, &r);
    assert_int_equal(r.n, 0);
    controls_free(c);
    policy_set_free(p);
    snapshot_unref(s);
}

/* §10.3 */
static void test_cputune_example(void **state)
{
    (void)state;
    static const char *const set[] = { "00-defines", "04-cputune", NULL };
    snapshot *s = load_snap("tests/fixtures/snapshots/classic-10.3-cputune.json");
    policy_set *p = load_set(set, NULL);
    controls *c = eval_ok(p, s);
    assert_json(c->guests[0], "{\"vcpu_quota\": 100000.0}");
    assert_json(c->guests[1], "{\"vcpu_quota\": -1, \"vcpu_period\": 100000}");
    assert_json(c->guests[2], "{\"vcpu_quota\": 1500.0, \"vcpu_period\": 300000.0}");
    rec r = { 0 };
    run_controller(&mom_controller_CpuTune, s, c, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.acts[0].guest_id, "uuid-vm-a");
    assert_int_equal(r.acts[0].a, 100000);
    assert_int_equal(r.acts[0].b, 100000);
    assert_string_equal(r.acts[1].guest_id, "uuid-vm-c");
    assert_int_equal(r.acts[1].a, 1500);
    assert_int_equal(r.acts[1].b, 300000);
    controls_free(c);
    policy_set_free(p);
    snapshot_unref(s);
}

#define LIMITS(t, r, w, ti, ri, wi)                                                              \
    "{\"total_bytes_sec\": " #t ", \"read_bytes_sec\": " #r ", \"write_bytes_sec\": " #w        \
    ", \"total_iops_sec\": " #ti ", \"read_iops_sec\": " #ri ", \"write_iops_sec\": " #wi "}"

/* Two guests with one disk each: vm-a's current limits are 0 below a
 * maximum, vm-b's already equal its maximum. */
static const char io_snapshot[] =
    "{\"host\": [{\"mem_free\": 1}], \"guests\": ["
    "{\"props\": {\"name\": \"vm-a\", \"uuid\": \"uuid-vm-a\"}, \"stats\": [{"
    "\"io_tune\": [{\"name\": \"vda\", \"path\": \"/a.img\", \"guaranteed\": " LIMITS(0, 0, 0, 0, 0, 0)
    ", \"maximum\": " LIMITS(1000, 500, 500, 100, 50, 50) ", \"current\": " LIMITS(0, 0, 0, 0, 0, 0)
    "}], \"io_tune_current\": [{\"name\": \"vda\", \"path\": \"/a.img\", \"ioTune\": "
    LIMITS(0, 0, 0, 0, 0, 0) "}]}]},"
    "{\"props\": {\"name\": \"vm-b\", \"uuid\": \"uuid-vm-b\"}, \"stats\": [{"
    "\"io_tune\": [{\"name\": \"vdb\", \"path\": \"/b.img\", \"guaranteed\": " LIMITS(0, 0, 0, 0, 0, 0)
    ", \"maximum\": " LIMITS(7, 7, 7, 7, 7, 7) ", \"current\": " LIMITS(7, 7, 7, 7, 7, 7)
    "}], \"io_tune_current\": [{\"name\": \"vdb\", \"path\": \"/b.img\", \"ioTune\": "
    LIMITS(7, 7, 7, 7, 7, 7) "}]}]},"
    "{\"props\": {\"name\": \"vm-c\", \"uuid\": \"uuid-vm-c\"}, \"stats\": [{"
    "\"io_tune\": null, \"io_tune_current\": null}]}]}";

static void test_iotune(void **state)
{
    (void)state;
    static const char *const set[] = { "00-defines", "05-iotune", NULL };
    snapshot *s = NULL;
    char *err = NULL;
    if (snapshot_json_parse(io_snapshot, strlen(io_snapshot), "io", &s, &err) < 0)
        fail_msg("snapshot: %s", err);
    policy_set *p = load_set(set, NULL);
    controls *c = eval_ok(p, s);
    assert_json(c->guests[0], "{\"io_tune\": [{\"name\": \"vda\", \"path\": \"/a.img\", \"ioTune\": "
                              LIMITS(1000, 500, 500, 100, 50, 50) "}]}");
    assert_json(c->guests[2], "{}");
    rec r = { 0 };
    run_controller(&mom_controller_IoTune, s, c, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.acts[0].type, HV_ACT_IO_TUNE);
    assert_string_equal(r.acts[0].guest_id, "uuid-vm-a");
    assert_int_equal(r.acts[0].n_disks, 1);
    assert_string_equal(r.acts[0].names[0], "vda");
    assert_int_equal(r.acts[0].limits[0].total_bytes_sec, 1000);
    assert_int_equal(r.acts[0].limits[0].read_iops_sec, 50);
    controls_free(c);
    policy_set_free(p);

    /* Disabled: every limit 0, so only vm-b changes. */
    static const char *const off[] = { "01-parameters", "(set ioTuneEnabled False)", NULL };
    p = load_set(set, off);
    c = eval_ok(p, s);
    memset(&r, 0, sizeof(r));
    run_controller(&mom_controller_IoTune, s, c, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.acts[0].guest_id, "uuid-vm-b");
    assert_int_equal(r.acts[0].limits[0].total_bytes_sec, 0);
    assert_int_equal(r.acts[0].limits[0].write_iops_sec, 0);
    controls_free(c);
    policy_set_free(p);
    snapshot_unref(s);
}

/* A run-time error anywhere: no controls at all, one error naming the
 * file, the place and the guest. */
static void test_failed_cycle_has_no_controls(void **state)
{
    (void)state;
    snapshot *s = load_snap("tests/fixtures/snapshots/classic-10.1-balloon.json");
    static const char *const bad[] = {
        "01-parameters", "(set balloonEnabled True)",
        "99-late", "(with Guests g (if (== (g.Prop \"name\") \"vm-b\") (+ g.balloon_cur \"x\") 0))",
        NULL,
    };
    policy_set *p = load_set(balloon_set, bad);
    controls *c = NULL;
    char *err = NULL;
    assert_int_equal(policy_set_eval(p, s, &c, NULL, &err), MOM_E_POLICY);
    assert_null(c);
    assert_string_equal(err, "99-late:1:49: error: unsupported operand types for +: 'int' and "
                             "'str' on line 1 (guest vm-b)");
    mom_free(err);
    policy_set_free(p);
    snapshot_unref(s);
}

/* Host and guest samples with every field the whole set reads. */
#define HOST_SAMPLE(free)                                                                        \
    "{\"mem_available\": 16000000, \"mem_free\": " #free ", \"ksm_shareable\": 6000000, "         \
    "\"ksm_pages_shared\": 0, \"ksm_merge_across_nodes\": 1, \"ksm_run\": 0, "                   \
    "\"ksm_pages_to_scan\": 100, \"ksm_sleep_millisecs\": 10, \"cpu_count\": 8}"
#define VM_A_SAMPLE(unused)                                                                      \
    "{\"balloon_cur\": 4194304, \"balloon_max\": 4194304, \"balloon_min\": 1048576, "            \
    "\"mem_unused\": " #unused ", \"vcpu_quota\": -1, \"vcpu_period\": 100000, "                 \
    "\"vcpu_user_limit\": 50, \"vcpu_count\": 4, \"io_tune\": [{\"name\": \"vda\", "            \
    "\"path\": \"/a.img\", \"guaranteed\": " LIMITS(0, 0, 0, 0, 0, 0) ", \"maximum\": "          \
    LIMITS(1000, 500, 500, 100, 50, 50) ", \"current\": " LIMITS(0, 0, 0, 0, 0, 0) "}], "         \
    "\"io_tune_current\": [{\"name\": \"vda\", \"path\": \"/a.img\", \"ioTune\": "              \
    LIMITS(0, 0, 0, 0, 0, 0) "}]}"
#define VM_B_SAMPLE                                                                              \
    "{\"balloon_cur\": 900000, \"balloon_max\": 2097152, \"balloon_min\": 1048576, "             \
    "\"mem_unused\": null, \"vcpu_quota\": -1, \"vcpu_period\": 100000, "                        \
    "\"vcpu_user_limit\": 100, \"vcpu_count\": 2, \"io_tune\": null, \"io_tune_current\": null}"

static const char whole_snapshot[] =
    "{\"host_props\": {\"interval\": 15}, \"host\": [" HOST_SAMPLE(2400000) ", "
    HOST_SAMPLE(2000000) "], \"guests\": ["
    "{\"props\": {\"name\": \"vm-a\", \"uuid\": \"uuid-vm-a\"}, \"stats\": [" VM_A_SAMPLE(1500000)
    ", " VM_A_SAMPLE(1300000) "]},"
    "{\"props\": {\"name\": \"vm-b\", \"uuid\": \"uuid-vm-b\"}, \"stats\": [" VM_B_SAMPLE ", "
    VM_B_SAMPLE "]}]}";

/* The whole set on one host: all four controllers run on the controls of
 * one evaluation. */
static void test_whole_set(void **state)
{
    (void)state;
    static const char *const set[] = { "00-defines", "02-balloon", "03-ksm", "04-cputune",
                                       "05-iotune", NULL };
    snapshot *s = NULL;
    char *err = NULL;
    if (snapshot_json_parse(whole_snapshot, strlen(whole_snapshot), "whole", &s, &err) < 0)
        fail_msg("snapshot: %s", err);
    policy_set *p = load_set(set, balloon_params);
    controls *c = eval_ok(p, s);
    assert_json(c->host, "{\"ksm_merge_across_nodes\": 1, \"ksm_run\": 1, "
                         "\"ksm_sleep_millisecs\": 10.48576, \"ksm_pages_to_scan\": 400}");
    assert_json(c->guests[0], "{\"balloon_target\": 3984588.8, \"vcpu_quota\": 100000.0, "
                              "\"io_tune\": [{\"name\": \"vda\", \"path\": \"/a.img\", "
                              "\"ioTune\": " LIMITS(1000, 500, 500, 100, 50, 50) "}]}");
    assert_json(c->guests[1], "{\"balloon_target\": 1048576, \"vcpu_quota\": -1, "
                              "\"vcpu_period\": 100000}");
    rec r = { 0 };
    run_controller(&mom_controller_Balloon, s, c, &r);
    run_controller(&mom_controller_KSM, s, c, &r);
    run_controller(&mom_controller_CpuTune, s, c, &r);
    run_controller(&mom_controller_IoTune, s, c, &r);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.acts[0].type, HV_ACT_BALLOON);
    assert_int_equal(r.acts[0].a, 3984588);
    assert_int_equal(r.acts[1].type, HV_ACT_BALLOON);
    assert_int_equal(r.acts[1].a, 1048576);
    assert_int_equal(r.acts[2].type, HV_ACT_KSM);
    assert_int_equal(r.acts[2].ksm.pages_to_scan, 400);
    assert_int_equal(r.acts[3].type, HV_ACT_CPU_TUNE);
    assert_string_equal(r.acts[3].guest_id, "uuid-vm-a");
    assert_int_equal(r.acts[3].a, 100000);
    assert_int_equal(r.acts[4].type, HV_ACT_IO_TUNE);
    assert_int_equal(r.acts[4].limits[0].read_bytes_sec, 500);
    controls_free(c);
    policy_set_free(p);
    snapshot_unref(s);
}

/* ---- allocation failures ------------------------------------------------------- */

static void test_alloc_fail_load(void **state)
{
    (void)state;
    static const char *const names[] = { "00-defines", "02-balloon", "03-ksm", "04-cputune",
                                         "05-iotune" };
    const char *texts[5];
    char *owned[5];
    for (int i = 0; i < 5; i++) {
        char rel[256];
        snprintf(rel, sizeof(rel), "tests/fixtures/policies/classic/%s.policy", names[i]);
        texts[i] = owned[i] = slurp(rel);
    }
    int ok = 0;
    for (long n = 1; n < 100000 && !ok; n++) {
        policy_opts o = { 0 };
        policy_set *p = NULL;
        alloc_fail_at(n);
        int r = policy_set_new(&o, &p);
        char *err = NULL;
        if (r == 0)
            r = policy_set_replace(p, names, texts, NULL, 5, &err);
        long used = alloc_count();
        alloc_fail_at(0);
        if (r != 0)
            assert_int_equal(r, -ENOMEM);
        else if (used < n)
            ok = 1; /* no allocation failed: done */
        mom_free(err);
        policy_set_free(p);
    }
    assert_true(ok);
    for (int i = 0; i < 5; i++)
        free(owned[i]);
}

static void test_alloc_fail_eval(void **state)
{
    (void)state;
    static const char *const set[] = { "00-defines", "02-balloon", "03-ksm", "04-cputune",
                                       "05-iotune", NULL };
    snapshot *s = NULL;
    char *err = NULL;
    assert_int_equal(
        snapshot_json_parse(whole_snapshot, strlen(whole_snapshot), "whole", &s, &err), 0);
    static const char *const extra[] = {
        "06-vars", "(Host.SetVar \"k\" (with Guests g (g.Prop \"name\"))) (Host.GetVar \"k\")", NULL,
    };
    policy_set *p = load_set(set, extra);
    controls *want = eval_ok(p, s);
    char *want_json = value_to_json(want->guests[0]);
    assert_non_null(strstr(want_json, "ioTune"));
    controls_free(want);
    int ok = 0;
    for (long n = 1; n < 100000 && !ok; n++) {
        controls *c = NULL;
        mom_value *res = NULL;
        alloc_fail_at(n);
        int r = policy_set_eval(p, s, &c, &res, &err);
        long used = alloc_count();
        alloc_fail_at(0);
        if (r != 0) {
            assert_int_equal(r, -ENOMEM);
            assert_null(c);
        } else {
            char *j = value_to_json(c->guests[0]);
            assert_string_equal(j, want_json);
            mom_free(j);
            if (used < n)
                ok = 1;
        }
        mom_free(err);
        err = NULL;
        controls_free(c);
        mom_value_unref(res);
    }
    assert_true(ok);
    mom_free(want_json);
    policy_set_free(p);
    snapshot_unref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_balloon_example),
        cmocka_unit_test(test_ksm_example),
        cmocka_unit_test(test_cputune_example),
        cmocka_unit_test(test_iotune),
        cmocka_unit_test(test_failed_cycle_has_no_controls),
        cmocka_unit_test(test_whole_set),
        cmocka_unit_test(test_alloc_fail_load),
        cmocka_unit_test(test_alloc_fail_eval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
