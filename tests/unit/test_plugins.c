/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loadable plugins: the loader's checks on the ABI fixtures
 * (tests/fixtures/plugins, built into BUILD/test-plugins), what a failed
 * init leaves behind (nothing), plugin-dir in the engine, the example
 * plugins, engines with plugins started and stopped in a loop and two
 * engines sharing one plugin, and allocation failures while loading.
 *
 * Fixture location: $MOM_TEST_PLUGIN_DIR, else
 * $MOM_TEST_SRCDIR/$BUILD/test-plugins (BUILD defaults to "build"); the
 * example plugins are next to it in .../plugins.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/api.h"
#include "core/plugin_loader.h"
#include "core/registry.h"
#include "fakehv.h"
#include "mom/mom.h"

/* ---- log capture ---- */

typedef struct logcap {
    pthread_mutex_t mu;
    char buf[1 << 17];
    size_t len;
} logcap;

static void cap_log(mom_log_level level, const char *logger, const char *msg, void *ud)
{
    logcap *c = ud;
    (void)level;
    pthread_mutex_lock(&c->mu);
    int n = snprintf(c->buf + c->len, sizeof(c->buf) - c->len, "%s: %s\n", logger, msg);
    if (n > 0 && c->len + (size_t)n < sizeof(c->buf))
        c->len += (size_t)n;
    pthread_mutex_unlock(&c->mu);
    if (getenv("MOM_TEST_VERBOSE"))
        fprintf(stderr, "%s: %s\n", logger, msg);
}

static bool cap_has(logcap *c, const char *needle)
{
    pthread_mutex_lock(&c->mu);
    bool r = strstr(c->buf, needle) != NULL;
    pthread_mutex_unlock(&c->mu);
    return r;
}

/* Offset of the first occurrence of needle, or -1. */
static long cap_pos(logcap *c, const char *needle)
{
    pthread_mutex_lock(&c->mu);
    const char *p = strstr(c->buf, needle);
    long r = p ? (long)(p - c->buf) : -1;
    pthread_mutex_unlock(&c->mu);
    return r;
}

static void cap_reset(logcap *c)
{
    pthread_mutex_lock(&c->mu);
    c->len = 0;
    c->buf[0] = '\0';
    pthread_mutex_unlock(&c->mu);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

#define WAIT_FOR(cond, ms)                                                                   \
    ({                                                                                       \
        double t0_ = now_ms();                                                               \
        bool ok_ = false;                                                                    \
        while (!(ok_ = (cond)) && now_ms() - t0_ < (ms))                                     \
            usleep(20000);                                                                   \
        ok_;                                                                                 \
    })

/* ---- where things are ---- */

static char fixture_dir[4096], example_dir[4096];

static void find_dirs(void)
{
    const char *src = getenv("MOM_TEST_SRCDIR");
    const char *build = getenv("BUILD");
    const char *fx = getenv("MOM_TEST_PLUGIN_DIR");
    if (!src)
        src = ".";
    if (!build || !*build)
        build = "build";
    if (build[0] == '/')
        snprintf(example_dir, sizeof(example_dir), "%s/plugins", build);
    else
        snprintf(example_dir, sizeof(example_dir), "%s/%s/plugins", src, build);
    if (fx)
        snprintf(fixture_dir, sizeof(fixture_dir), "%s", fx);
    else if (build[0] == '/')
        snprintf(fixture_dir, sizeof(fixture_dir), "%s/test-plugins", build);
    else
        snprintf(fixture_dir, sizeof(fixture_dir), "%s/%s/test-plugins", src, build);
}

static char *fixture(const char *name)
{
    static __thread char path[4200];
    snprintf(path, sizeof(path), "%s/%s.so", fixture_dir, name);
    return path;
}

/* true while `path` is mapped in this process. */
static bool is_loaded(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return false;
    dlclose(h);
    return true;
}

/* A fresh directory under /tmp; the caller removes it with rm_tree(). */
static void make_tmpdir(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/mom-test-plugins-XXXXXX");
    assert_non_null(mkdtemp(buf));
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[4400];
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Link (symlink) `target` into `dir` as `name`. */
static void link_into(const char *dir, const char *name, const char *target)
{
    char path[4400], abs_target[4096];
    assert_non_null(realpath(target, abs_target));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(symlink(abs_target, path), 0);
}

/* Copy `src` to dir/name (a separate file, so dlopen maps it again). */
static void copy_into(const char *dir, const char *name, const char *src)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *in = fopen(src, "rb"), *out = fopen(path, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

/* ---- loader on its own: a test api_env with a fresh registry ---- */

typedef struct fixture_env {
    logcap lc;
    mlog log;
    registry *reg;
    api_env env;
    plugin_set *ps;
} fixture_env;

static fixture_env *env_new(void)
{
    fixture_env *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    pthread_mutex_init(&f->lc.mu, NULL);
    mlog_init(&f->log, cap_log, &f->lc, MOM_LOG_DEBUG);
    assert_int_equal(registry_new(&f->reg), 0);
    api_env_init(&f->env, NULL, &f->log, NULL);
    f->env.registry = f->reg;
    assert_int_equal(plugin_loader_new(&f->ps), 0);
    return f;
}

/* Free in the engine's order: registry first, then the plugin code. */
static void env_free(fixture_env *f)
{
    registry_free(f->reg);
    plugin_loader_free(f->ps);
    pthread_mutex_destroy(&f->lc.mu);
    free(f);
}

static void expect_version_message(logcap *lc, unsigned maj, unsigned min)
{
    char theirs[64], ours[96];
    snprintf(theirs, sizeof(theirs), "built for plugin ABI %u.%u", maj, min);
    snprintf(ours, sizeof(ours), "this libmom provides plugin ABI %u.%u",
             (unsigned)MOM_PLUGIN_ABI_MAJOR, (unsigned)MOM_PLUGIN_ABI_MINOR);
    assert_true(cap_has(lc, theirs));
    assert_true(cap_has(lc, ours));
}

static void test_good_plugin(void **state)
{
    (void)state;
    fixture_env *f = env_new();
    const char *path = fixture("good");
    assert_false(is_loaded(path));
    assert_int_equal(plugin_loader_load(f->ps, &f->env, path), 0);
    assert_true(is_loaded(path));
    assert_int_equal(plugin_loader_count(f->ps), 1);
    assert_string_equal(plugin_loader_name_at(f->ps, 0), "fixture-good");
    assert_null(plugin_loader_name_at(f->ps, 1));
    /* init ran with our api table and registered both. */
    char expect[64];
    snprintf(expect, sizeof(expect), "fixture-good: init abi %u.%u",
             (unsigned)MOM_PLUGIN_ABI_MAJOR, (unsigned)MOM_PLUGIN_ABI_MINOR);
    assert_true(cap_has(&f->lc, expect));
    const mom_collector *c = registry_find_collector(f->reg, "fixturehost");
    assert_non_null(c);
    assert_string_equal(c->name, "FixtureHost");
    assert_int_equal(c->kind, MOM_ENTITY_HOST);
    assert_non_null(registry_find_controller(f->reg, "FixtureCtl"));
    /* plugin_name is only set while init runs. */
    assert_null(f->env.plugin_name);
    /* Its entries carry its name: removing that owner removes them. */
    registry_remove_owner(f->reg, "fixture-good");
    assert_null(registry_find_collector(f->reg, "FixtureHost"));
    assert_non_null(registry_find_collector(f->reg, "HostMemory"));
    assert_false(cap_has(&f->lc, "fixture-good: fini"));
    env_free(f);
    assert_false(is_loaded(path));
}

static void test_fini_runs_and_unloads(void **state)
{
    (void)state;
    logcap lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    mlog log;
    mlog_init(&log, cap_log, &lc, MOM_LOG_DEBUG);
    registry *reg = NULL;
    assert_int_equal(registry_new(&reg), 0);
    api_env env;
    api_env_init(&env, NULL, &log, NULL);
    env.registry = reg;
    plugin_set *ps = NULL;
    assert_int_equal(plugin_loader_new(&ps), 0);
    assert_int_equal(plugin_loader_load(ps, &env, fixture("good")), 0);
    registry_free(reg);
    plugin_loader_free(ps);
    assert_true(cap_has(&lc, "fixture-good: fini"));
    assert_false(is_loaded(fixture("good")));
    plugin_loader_free(NULL);
}

/* A refused plugin: the error, no registration, no handle left, and its
 * init and fini (which abort) never ran. */
static void expect_refused(const char *name, int want_rc)
{
    fixture_env *f = env_new();
    const char *path = fixture(name);
    size_t n_coll = registry_n_collectors(f->reg), n_ctl = registry_n_controllers(f->reg);
    assert_int_equal(plugin_loader_load(f->ps, &f->env, path), want_rc);
    assert_int_equal(plugin_loader_count(f->ps), 0);
    assert_int_equal(registry_n_collectors(f->reg), n_coll);
    assert_int_equal(registry_n_controllers(f->reg), n_ctl);
    assert_false(is_loaded(path));
    assert_true(cap_has(&f->lc, path));
    assert_null(f->env.plugin_name);
    if (want_rc == MOM_E_ABI && strcmp(name, "wrong_major") == 0)
        expect_version_message(&f->lc, MOM_PLUGIN_ABI_MAJOR + 1, MOM_PLUGIN_ABI_MINOR);
    if (want_rc == MOM_E_ABI && strcmp(name, "newer_minor") == 0)
        expect_version_message(&f->lc, MOM_PLUGIN_ABI_MAJOR, MOM_PLUGIN_ABI_MINOR + 1);
    env_free(f);
}

static void test_wrong_major(void **state)
{
    (void)state;
    expect_refused("wrong_major", MOM_E_ABI);
}

static void test_newer_minor(void **state)
{
    (void)state;
    expect_refused("newer_minor", MOM_E_ABI);
}

static void test_small_descriptor(void **state)
{
    (void)state;
    fixture_env *f = env_new();
    assert_int_equal(plugin_loader_load(f->ps, &f->env, fixture("small_size")), MOM_E_ABI);
    assert_true(cap_has(&f->lc, "descriptor has"));
    env_free(f);
    expect_refused("small_size", MOM_E_ABI);
}

static void test_missing_symbol(void **state)
{
    (void)state;
    expect_refused("missing_symbol", -ENOEXEC);
    fixture_env *f = env_new();
    assert_int_equal(plugin_loader_load(f->ps, &f->env, fixture("missing_symbol")), -ENOEXEC);
    assert_true(cap_has(&f->lc, "does not export 'mom_plugin'"));
    env_free(f);
}

static void test_unresolved_symbol(void **state)
{
    (void)state;
    expect_refused("unresolved", -ELIBBAD);
    fixture_env *f = env_new();
    assert_int_equal(plugin_loader_load(f->ps, &f->env, fixture("unresolved")), -ELIBBAD);
    assert_true(cap_has(&f->lc, "mom_fixture_function_that_does_not_exist"));
    env_free(f);
}

static void test_not_a_shared_object(void **state)
{
    (void)state;
    fixture_env *f = env_new();
    assert_int_equal(plugin_loader_load(f->ps, &f->env, "/nonexistent/plugin.so"), -ELIBBAD);
    assert_true(cap_has(&f->lc, "/nonexistent/plugin.so: cannot load"));
    assert_int_equal(plugin_loader_load(f->ps, NULL, "/x.so"), -EINVAL);
    env_free(f);
}

static void test_failing_init(void **state)
{
    (void)state;
    expect_refused("failing_init", -EIO);
    fixture_env *f = env_new();
    assert_int_equal(plugin_loader_load(f->ps, &f->env, fixture("failing_init")), -EIO);
    /* init ran (it logged) and registered two entries, both gone now. */
    assert_true(cap_has(&f->lc, "fixture-failing-init: registered two, now failing"));
    assert_true(cap_has(&f->lc, "failed to initialise"));
    assert_null(registry_find_collector(f->reg, "FailingColl"));
    assert_null(registry_find_controller(f->reg, "FailingCtl"));
    /* A good plugin after it loads normally. */
    assert_int_equal(plugin_loader_load(f->ps, &f->env, fixture("good")), 0);
    assert_non_null(registry_find_collector(f->reg, "FixtureHost"));
    env_free(f);
}

static void test_duplicate_collector_name(void **state)
{
    (void)state;
    expect_refused("duplicate_name", -EEXIST);
    fixture_env *f = env_new();
    assert_int_equal(plugin_loader_load(f->ps, &f->env, fixture("duplicate_name")), -EEXIST);
    assert_null(registry_find_collector(f->reg, "DupFirst"));
    /* The built-in it clashed with is untouched. */
    const mom_collector *hm = registry_find_collector(f->reg, "HostMemory");
    assert_non_null(hm);
    assert_string_equal(hm->name, "HostMemory");
    env_free(f);
}

static void test_duplicate_plugin_name(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof(dir));
    copy_into(dir, "again.so", fixture("good"));
    char again[200];
    snprintf(again, sizeof(again), "%s/again.so", dir);
    fixture_env *f = env_new();
    assert_int_equal(plugin_loader_load(f->ps, &f->env, fixture("good")), 0);
    /* The same file again, and a copy of it under another file name. */
    assert_int_equal(plugin_loader_load(f->ps, &f->env, fixture("good")), -EEXIST);
    assert_int_equal(plugin_loader_load(f->ps, &f->env, again), -EEXIST);
    assert_true(cap_has(&f->lc, "a plugin named 'fixture-good' is loaded already"));
    assert_false(is_loaded(again));
    /* The first one's registrations survive the refusals. */
    assert_non_null(registry_find_collector(f->reg, "FixtureHost"));
    assert_non_null(registry_find_controller(f->reg, "FixtureCtl"));
    assert_int_equal(plugin_loader_count(f->ps), 1);
    assert_true(is_loaded(fixture("good")));
    env_free(f);
    assert_false(is_loaded(fixture("good")));
    rm_tree(dir);
}

static void test_load_dir(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof(dir));
    char ex_coll[4200], ex_ctl[4200];
    snprintf(ex_coll, sizeof(ex_coll), "%s/example_collector.so", example_dir);
    snprintf(ex_ctl, sizeof(ex_ctl), "%s/example_controller.so", example_dir);
    link_into(dir, "20-good.so", fixture("good"));
    link_into(dir, "10-collector.so", ex_coll);
    link_into(dir, "30-controller.so", ex_ctl);
    /* Ignored: hidden files and files that are not *.so. */
    link_into(dir, ".hidden.so", fixture("wrong_major"));
    link_into(dir, "notes.so.txt", fixture("wrong_major"));

    fixture_env *f = env_new();
    plugin_loader_free(f->ps);
    f->ps = NULL;
    assert_int_equal(plugin_loader_load_dir(&f->env, dir, &f->ps), 0);
    assert_int_equal(plugin_loader_count(f->ps), 3);
    assert_string_equal(plugin_loader_name_at(f->ps, 0), "example-loadavg");
    assert_string_equal(plugin_loader_name_at(f->ps, 1), "fixture-good");
    assert_string_equal(plugin_loader_name_at(f->ps, 2), "example-notify");
    assert_non_null(registry_find_collector(f->reg, "ExampleLoadAvg"));
    assert_non_null(registry_find_controller(f->reg, "ExampleNotify"));
    env_free(f);

    /* Empty or no directory: nothing, no error. */
    f = env_new();
    plugin_loader_free(f->ps);
    f->ps = (plugin_set *)1;
    assert_int_equal(plugin_loader_load_dir(&f->env, "", &f->ps), 0);
    assert_null(f->ps);
    assert_int_equal(plugin_loader_load_dir(&f->env, NULL, &f->ps), 0);
    assert_null(f->ps);
    assert_int_equal(plugin_loader_load_dir(&f->env, "/nonexistent-plugin-dir", &f->ps),
                     -ENOENT);
    assert_true(cap_has(&f->lc, "plugin-dir /nonexistent-plugin-dir"));
    env_free(f);

    /* A failing plugin ends the loading and undoes the earlier ones. */
    link_into(dir, "25-failing.so", fixture("failing_init"));
    f = env_new();
    plugin_loader_free(f->ps);
    f->ps = NULL;
    assert_int_equal(plugin_loader_load_dir(&f->env, dir, &f->ps), -EIO);
    assert_null(f->ps);
    assert_null(registry_find_collector(f->reg, "ExampleLoadAvg"));
    assert_null(registry_find_collector(f->reg, "FixtureHost"));
    assert_null(registry_find_controller(f->reg, "FixtureCtl"));
    assert_true(cap_has(&f->lc, "fixture-good: fini"));
    assert_false(cap_has(&f->lc, "example-notify"));
    assert_false(is_loaded(fixture("good")));
    env_free(f);
    rm_tree(dir);
}

/* Allocation failures anywhere in loading a directory leave nothing
 * behind (the registry is back to the built-ins, no handle stays). */
static void test_alloc_failures_while_loading(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof(dir));
    link_into(dir, "a.so", fixture("good"));
    char ex_coll[4200];
    snprintf(ex_coll, sizeof(ex_coll), "%s/example_collector.so", example_dir);
    link_into(dir, "b.so", ex_coll);
    int failures = 0;
    for (long n = 1; n < 500; n++) {
        fixture_env *f = env_new();
        size_t n_coll = registry_n_collectors(f->reg);
        plugin_loader_free(f->ps);
        f->ps = NULL;
        alloc_fail_at(n);
        int rc = plugin_loader_load_dir(&f->env, dir, &f->ps);
        alloc_fail_at(0);
        if (rc == 0) {
            assert_int_equal(plugin_loader_count(f->ps), 2);
            env_free(f);
            if (alloc_count() < n)
                break;
            continue;
        }
        failures++;
        assert_int_equal(rc, -ENOMEM);
        assert_null(f->ps);
        assert_int_equal(registry_n_collectors(f->reg), n_coll);
        env_free(f);
        assert_false(is_loaded(fixture("good")));
    }
    assert_true(failures >= 5);
    rm_tree(dir);
}

/* ---- plugins in the engine ---- */

static const mom_config_override plugin_overrides[] = {
    {"main", "host-monitor-interval", "1"},
    {"main", "guest-monitor-interval", "1"},
    {"main", "guest-manager-interval", "1"},
    {"main", "policy-engine-interval", "1"},
    {"main", "call-deadline-ms", "400"},
    {"main", "controllers", "Balloon, FixtureCtl"},
    {"host", "collectors", "HostTime, FixtureHost"},
    {"guest", "collectors", "GuestMemory, GuestBalloon"},
    {"main", "plugin-dir", NULL}, /* filled in */
};
#define N_PLUGIN_OVERRIDES (sizeof(plugin_overrides) / sizeof(plugin_overrides[0]))

static void engine_config(mom_config *cfg, mom_config_override *ov, const char *dir, fakehv *fh,
                          logcap *lc)
{
    memcpy(ov, plugin_overrides, sizeof(plugin_overrides));
    ov[N_PLUGIN_OVERRIDES - 1].value = dir;
    mom_config_init(cfg);
    cfg->overrides = ov;
    cfg->n_overrides = N_PLUGIN_OVERRIDES;
    cfg->log_fn = cap_log;
    cfg->log_userdata = lc;
    cfg->log_level = MOM_LOG_DEBUG;
    cfg->hv_ops = fakehv_table(fh);
    cfg->hv_userdata = fh;
}

/* The host's fixture_value in the latest statistics, or -1. */
static int64_t fixture_value(mom_engine *e)
{
    mom_value *st = NULL;
    assert_int_equal(mom_engine_get_statistics(e, &st), 0);
    const mom_value *v = mom_value_get(mom_value_get(st, "host"), "fixture_value");
    int64_t r = v && mom_value_type_of(v) == MOM_VALUE_INT ? mom_value_int(v) : -1;
    mom_value_unref(st);
    return r;
}

static size_t count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void test_engine_uses_plugins(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof(dir));
    link_into(dir, "good.so", fixture("good"));
    logcap *lc = calloc(1, sizeof(*lc));
    pthread_mutex_init(&lc->mu, NULL);
    fakehv *fh = fakehv_new();
    mom_config cfg;
    mom_config_override ov[N_PLUGIN_OVERRIDES];
    engine_config(&cfg, ov, dir, fh, lc);
    assert_int_equal(mom_config_check(&cfg), 0);
    /* The check loaded and unloaded the plugin again. */
    assert_true(cap_has(lc, "fixture-good: fini"));
    assert_false(is_loaded(fixture("good")));
    cap_reset(lc);
    mom_engine *e = NULL;
    assert_int_equal(mom_engine_new(&cfg, &e), 0);
    int prc = mom_engine_set_policy(e, "(Host.Control \"fixture_control\" Host.fixture_value)",
                                    NULL);
    assert_true(prc == 0 || prc == MOM_E_NOPOLICY);
    assert_int_equal(mom_engine_start(e), 0);
    assert_true(WAIT_FOR(fixture_value(e) >= 1002, 8000));
    if (prc == 0)
        assert_true(WAIT_FOR(cap_has(lc, "fixture-good: fixture_control=10"), 8000));
    mom_engine_free(e);
    /* Controller fini before plugin fini, and the code is gone after. */
    long ctl_fini = cap_pos(lc, "fixture-good: controller fini");
    long fini = cap_pos(lc, "fixture-good: fini");
    assert_true(ctl_fini >= 0 && fini > ctl_fini);
    assert_false(is_loaded(fixture("good")));

    /* Without plugin-dir the same names are unknown. */
    cap_reset(lc);
    ov[N_PLUGIN_OVERRIDES - 1].value = "";
    e = NULL;
    assert_int_equal(mom_config_check(&cfg), MOM_E_CONFIG);
    assert_int_equal(mom_engine_new(&cfg, &e), MOM_E_CONFIG);
    assert_null(e);
    assert_true(cap_has(lc, "unknown collector 'FixtureHost'"));
    fakehv_free(fh);
    pthread_mutex_destroy(&lc->mu);
    free(lc);
    rm_tree(dir);
}

/* A bad plugin in plugin-dir stops mom_engine_new with the reason. */
static void test_engine_refuses_bad_plugins(void **state)
{
    (void)state;
    static const struct {
        const char *fixture;
        int rc;
        const char *msg;
    } cases[] = {
        {"wrong_major", MOM_E_ABI, "this libmom provides plugin ABI"},
        {"newer_minor", MOM_E_ABI, "this libmom provides plugin ABI"},
        {"missing_symbol", MOM_E_CONFIG, "does not export 'mom_plugin'"},
        {"failing_init", MOM_E_CONFIG, "failed to initialise"},
        {"duplicate_name", MOM_E_CONFIG, "failed to initialise"},
    };
    logcap *lc = calloc(1, sizeof(*lc));
    pthread_mutex_init(&lc->mu, NULL);
    fakehv *fh = fakehv_new();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dir[64];
        make_tmpdir(dir, sizeof(dir));
        link_into(dir, "good.so", fixture("good"));
        link_into(dir, "zz.so", fixture(cases[i].fixture));
        cap_reset(lc);
        mom_config cfg;
        mom_config_override ov[N_PLUGIN_OVERRIDES];
        engine_config(&cfg, ov, dir, fh, lc);
        mom_engine *e = NULL;
        assert_int_equal(mom_engine_new(&cfg, &e), cases[i].rc);
        assert_null(e);
        assert_true(cap_has(lc, cases[i].msg));
        assert_false(is_loaded(fixture("good")));
        assert_int_equal(mom_config_check(&cfg), MOM_E_CONFIG);
        rm_tree(dir);
    }
    fakehv_free(fh);
    pthread_mutex_destroy(&lc->mu);
    free(lc);
}

/* Engines with plugins created, started, stopped and freed in a loop: no
 * thread and no mapping left behind (run under SANITIZE=thread and
 * valgrind for the races and leaks). */
static void test_engine_loop_with_plugins(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof(dir));
    link_into(dir, "good.so", fixture("good"));
    char ex_coll[4200], ex_ctl[4200];
    snprintf(ex_coll, sizeof(ex_coll), "%s/example_collector.so", example_dir);
    snprintf(ex_ctl, sizeof(ex_ctl), "%s/example_controller.so", example_dir);
    link_into(dir, "example_collector.so", ex_coll);
    link_into(dir, "example_controller.so", ex_ctl);
    logcap *lc = calloc(1, sizeof(*lc));
    pthread_mutex_init(&lc->mu, NULL);
    fakehv *fh = fakehv_new();
    fakehv_guest *g = fakehv_add_guest(fh, "id-1", "vm1", "uuid-1", 0);
    mom_hv_memory_stats ms = {.size = sizeof(ms), .present = MOM_HV_MEM_AVAILABLE | MOM_HV_MEM_UNUSED,
                              .mem_available = 2097152, .mem_unused = 1048576};
    fakehv_set_memory_stats(g, &ms);
    fakehv_set_balloon(g, 2097152, 4194304, 0);
    /* Start from a settled count: a thread of an earlier test may still be
     * leaving /proc/self/task after its join. */
    size_t before = count_threads();
    for (int t = 0; t < 100 && before > 1; t++) {
        usleep(20000);
        before = count_threads();
    }
    for (int i = 0; i < 8; i++) {
        cap_reset(lc);
        mom_config cfg;
        mom_config_override ov[N_PLUGIN_OVERRIDES];
        engine_config(&cfg, ov, dir, fh, lc);
        ov[5].value = "Balloon, FixtureCtl, ExampleNotify";
        mom_engine *e = NULL;
        assert_int_equal(mom_engine_new(&cfg, &e), 0);
        assert_true(is_loaded(fixture("good")));
        assert_int_equal(mom_engine_start(e), 0);
        assert_true(mom_engine_ping(e));
        if (i % 2 == 0)
            assert_true(WAIT_FOR(fixture_value(e) >= 1001, 8000));
        else
            usleep(50000 * (useconds_t)i);
        assert_int_equal(mom_engine_stop(e), 0);
        assert_int_equal(mom_engine_wait(e), 0);
        assert_false(mom_engine_ping(e));
        mom_engine_free(e);
        assert_false(is_loaded(fixture("good")));
        assert_false(is_loaded(ex_coll));
        assert_true(WAIT_FOR(count_threads() <= before, 2000));
    }
    fakehv_free(fh);
    pthread_mutex_destroy(&lc->mu);
    free(lc);
    rm_tree(dir);
}

/* Two engines load the same plugin: one handle each (dlopen counts), each
 * with its own instances; freeing one leaves the other working. */
static void test_two_engines_share_a_plugin(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof(dir));
    link_into(dir, "good.so", fixture("good"));
    logcap *lc1 = calloc(1, sizeof(*lc1)), *lc2 = calloc(1, sizeof(*lc2));
    pthread_mutex_init(&lc1->mu, NULL);
    pthread_mutex_init(&lc2->mu, NULL);
    fakehv *a = fakehv_new(), *b = fakehv_new();
    mom_config c1, c2;
    mom_config_override o1[N_PLUGIN_OVERRIDES], o2[N_PLUGIN_OVERRIDES];
    engine_config(&c1, o1, dir, a, lc1);
    engine_config(&c2, o2, dir, b, lc2);
    mom_engine *e1 = NULL, *e2 = NULL;
    assert_int_equal(mom_engine_new(&c1, &e1), 0);
    assert_int_equal(mom_engine_new(&c2, &e2), 0);
    assert_int_equal(mom_engine_start(e1), 0);
    assert_int_equal(mom_engine_start(e2), 0);
    assert_true(WAIT_FOR(fixture_value(e1) >= 1001 && fixture_value(e2) >= 1001, 8000));
    mom_engine_free(e1);
    assert_true(cap_has(lc1, "fixture-good: fini"));
    assert_false(cap_has(lc2, "fixture-good: fini"));
    assert_true(is_loaded(fixture("good")));
    int64_t v = fixture_value(e2);
    assert_true(WAIT_FOR(fixture_value(e2) > v, 8000));
    mom_engine_free(e2);
    assert_false(is_loaded(fixture("good")));
    fakehv_free(a);
    fakehv_free(b);
    pthread_mutex_destroy(&lc1->mu);
    pthread_mutex_destroy(&lc2->mu);
    free(lc1);
    free(lc2);
    rm_tree(dir);
}

/* The example collector reads PROC/loadavg and honours its section. */
static void test_example_collector(void **state)
{
    (void)state;
    char dir[64], proc[64];
    make_tmpdir(dir, sizeof(dir));
    make_tmpdir(proc, sizeof(proc));
    char ex_coll[4200], path[200];
    snprintf(ex_coll, sizeof(ex_coll), "%s/example_collector.so", example_dir);
    link_into(dir, "example_collector.so", ex_coll);
    snprintf(path, sizeof(path), "%s/loadavg", proc);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("0.50 1.25 2.00 3/456 789\n", fp);
    fclose(fp);
    logcap *lc = calloc(1, sizeof(*lc));
    pthread_mutex_init(&lc->mu, NULL);
    fakehv *fh = fakehv_new();
    const mom_config_override ov[] = {
        {"main", "host-monitor-interval", "1"},
        {"main", "policy-engine-interval", "1"},
        {"main", "controllers", ""},
        {"main", "plugin-dir", dir},
        {"main", "proc-root", proc},
        {"host", "collectors", "ExampleLoadAvg"},
        {"guest", "collectors", "GuestMemory"},
        {"Collector: ExampleLoadAvg", "scale", "2"},
    };
    mom_config cfg;
    mom_config_init(&cfg);
    cfg.overrides = ov;
    cfg.n_overrides = sizeof(ov) / sizeof(ov[0]);
    cfg.log_fn = cap_log;
    cfg.log_userdata = lc;
    cfg.hv_ops = fakehv_table(fh);
    cfg.hv_userdata = fh;
    mom_engine *e = NULL;
    assert_int_equal(mom_engine_new(&cfg, &e), 0);
    assert_int_equal(mom_engine_start(e), 0);
    mom_value *st = NULL;
    bool seen = false;
    for (int i = 0; i < 200 && !seen; i++) {
        assert_int_equal(mom_engine_get_statistics(e, &st), 0);
        const mom_value *host = mom_value_get(st, "host");
        const mom_value *l1 = mom_value_get(host, "loadavg_1");
        if (l1) {
            seen = true;
            assert_int_equal(mom_value_type_of(l1), MOM_VALUE_REAL);
            assert_true(mom_value_real(l1) == 1.0);
            assert_true(mom_value_real(mom_value_get(host, "loadavg_15")) == 4.0);
            assert_int_equal(mom_value_int(mom_value_get(host, "procs_running")), 3);
        }
        mom_value_unref(st);
        if (!seen)
            usleep(50000);
    }
    assert_true(seen);
    mom_engine_free(e);
    fakehv_free(fh);
    pthread_mutex_destroy(&lc->mu);
    free(lc);
    unlink(path);
    rmdir(proc);
    rm_tree(dir);
}

int main(void)
{
    find_dirs();
    char probe[4300];
    snprintf(probe, sizeof(probe), "%s/good.so", fixture_dir);
    if (access(probe, R_OK) != 0) {
        fprintf(stderr, "test_plugins: %s not found (run `make tests` first)\n", probe);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_plugin),
        cmocka_unit_test(test_fini_runs_and_unloads),
        cmocka_unit_test(test_wrong_major),
        cmocka_unit_test(test_newer_minor),
        cmocka_unit_test(test_small_descriptor),
        cmocka_unit_test(test_missing_symbol),
        cmocka_unit_test(test_unresolved_symbol),
        cmocka_unit_test(test_not_a_shared_object),
        cmocka_unit_test(test_failing_init),
        cmocka_unit_test(test_duplicate_collector_name),
        cmocka_unit_test(test_duplicate_plugin_name),
        cmocka_unit_test(test_load_dir),
        cmocka_unit_test(test_alloc_failures_while_loading),
        cmocka_unit_test(test_engine_uses_plugins),
        cmocka_unit_test(test_engine_refuses_bad_plugins),
        cmocka_unit_test(test_engine_loop_with_plugins),
        cmocka_unit_test(test_two_engines_share_a_plugin),
        cmocka_unit_test(test_example_collector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
