/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the configuration reader (src/core/config.c): the
 * configparser dialect, every default, every type check with its exact
 * message, sections, overrides, the fixtures under tests/fixtures/conf and
 * an allocation-failure loop.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/config.h"

/* ---- helpers -------------------------------------------------------- */

#define MAX_MSGS 64

/* Every message one load reported. */
typedef struct reports {
    int n;
    int n_errors;
    int n_warnings;
    mom_log_level level[MAX_MSGS];
    char msg[MAX_MSGS][512];
} reports;

static void collect(mom_log_level level, const char *msg, void *userdata)
{
    reports *r = userdata;
    if (level <= MOM_LOG_ERROR)
        r->n_errors++;
    else
        r->n_warnings++;
    if (r->n < MAX_MSGS) {
        r->level[r->n] = level;
        snprintf(r->msg[r->n], sizeof(r->msg[0]), "%s", msg);
    }
    r->n++;
}

/* Load `text` as file "t.conf" with overrides; messages go to *rep. */
static int load_ov(const char *text, const mom_config_override *ov, size_t n_ov, reports *rep,
                   conf **ret)
{
    memset(rep, 0, sizeof(*rep));
    *ret = NULL;
    return conf_load_text("t.conf", text, strlen(text), ov, n_ov, collect, rep, ret);
}

static int load(const char *text, reports *rep, conf **ret)
{
    return load_ov(text, NULL, 0, rep, ret);
}

/* True when msg was reported exactly, at the given level. */
static bool has_msg(const reports *r, mom_log_level level, const char *msg)
{
    for (int i = 0; i < r->n && i < MAX_MSGS; i++)
        if (r->level[i] == level && strcmp(r->msg[i], msg) == 0)
            return true;
    return false;
}

static void dump(const reports *r)
{
    for (int i = 0; i < r->n && i < MAX_MSGS; i++)
        print_message("  [%d] %s\n", r->level[i], r->msg[i]);
}

/* Load text that must fail with exactly one error, `msg`. */
static void expect_one_error(const char *text, const char *msg)
{
    reports r;
    conf *c;
    int rc = load(text, &r, &c);
    if (rc != MOM_E_CONFIG || r.n_errors != 1 || !has_msg(&r, MOM_LOG_ERROR, msg)) {
        print_message("text:\n%s\nexpected: %s\ngot rc %d:\n", text, msg, rc);
        dump(&r);
        fail();
    }
    assert_null(c);
}

/* Load text that must succeed without any message. */
static conf *expect_clean(const char *text)
{
    reports r;
    conf *c;
    int rc = load(text, &r, &c);
    if (rc != 0 || r.n != 0) {
        print_message("text:\n%s\ngot rc %d:\n", text, rc);
        dump(&r);
        fail();
    }
    assert_non_null(c);
    return c;
}

static const char *fixture(const char *name, char *buf, size_t size)
{
    const char *root = getenv("MOM_TEST_SRCDIR");
    snprintf(buf, size, "%s/tests/fixtures/conf/%s", root ? root : ".", name);
    return buf;
}

/* ---- defaults ------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    static const struct {
        const char *section, *key, *value;
    } defs[] = {
        {"main", "main-loop-interval", "5"},
        {"main", "host-monitor-interval", "5"},
        {"main", "guest-monitor-interval", "5"},
        {"main", "guest-manager-interval", "5"},
        {"main", "policy-engine-interval", "10"},
        {"main", "hypervisor-interface", "libvirt"},
        {"main", "libvirt-hypervisor-uri", ""},
        {"main", "controllers", "Balloon"},
        {"main", "sample-history-length", "10"},
        {"main", "plot-dir", ""},
        {"main", "rpc-port", "-1"},
        {"main", "policy", ""},
        {"main", "policy-dir", ""},
        {"main", "guest-manager-multi-thread", "true"},
        {"main", "proc-root", "/proc"},
        {"main", "sysfs-root", "/sys"},
        {"main", "worker-threads", "4"},
        {"main", "call-deadline-ms", "10000"},
        {"main", "policy-step-limit", "100000"},
        {"main", "policy-depth-limit", "200"},
        {"main", "plugin-dir", ""},
        {"main", "host-memory-cgroup", ""},
        {"main", "qmp-socket-dir", ""},
        {"main", "rpc-socket-group", ""},
        {"main", "rpc-allow-uids", "0"},
        {"logging", "log", "stdio"},
        {"logging", "verbosity", "info"},
        {"logging", "max-bytes", "2097152"},
        {"logging", "backup-count", "5"},
        {"host", "collectors", "HostMemory"},
        {"guest", "collectors", "GuestQemuProc, GuestMemory"},
        {"sim", "scenario", ""},
        {"sim", "seed", "1"},
        {"sim", "speed", "1.0"},
    };
    reports r = {0};
    conf *c = NULL;
    assert_int_equal(conf_load(NULL, NULL, 0, collect, &r, &c), 0);
    assert_int_equal(r.n, 0);
    assert_non_null(c);
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        const char *v = conf_get(c, defs[i].section, defs[i].key);
        if (!v || strcmp(v, defs[i].value) != 0) {
            print_message("[%s] %s = %s\n", defs[i].section, defs[i].key, v ? v : "(null)");
            fail();
        }
        const char *file = NULL;
        int line = -1;
        assert_int_equal(conf_key_location(c, defs[i].section, defs[i].key, &file, &line),
                         -ENOENT);
    }
    /* Typed getters on the defaults. */
    assert_int_equal(conf_get_int(c, "main", "policy-engine-interval"), 10);
    assert_int_equal(conf_get_int(c, "main", "rpc-port"), -1);
    assert_int_equal(conf_get_int(c, "logging", "max-bytes"), 2097152);
    assert_int_equal(conf_get_int(c, "main", "policy-step-limit"), 100000);
    assert_true(conf_get_bool(c, "main", "guest-manager-multi-thread"));
    assert_true(conf_get_real(c, "sim", "speed") == 1.0);
    assert_int_equal(conf_get_int(c, "sim", "seed"), 1);
    const char *const *items;
    size_t n;
    assert_int_equal(conf_get_list(c, "guest", "collectors", &items, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(items[0], "GuestQemuProc");
    assert_string_equal(items[1], "GuestMemory");
    assert_int_equal(conf_get_list(c, "main", "rpc-allow-uids", &items, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(items[0], "0");
    assert_int_equal(conf_get_list(c, "main", "plot-dir", &items, &n), 0);
    assert_int_equal(n, 0);
    assert_non_null(items);
    /* Keys and sections the schema does not know have no value. */
    assert_null(conf_get(c, "main", "no-such-key"));
    assert_null(conf_get(c, "nosection", "log"));
    assert_null(conf_get(c, "Collector: GuestQemuAgent", "socket_path"));
    assert_int_equal(conf_get_list(c, "main", "nope", &items, &n), -ENOENT);
    assert_int_equal(conf_n_collector_sections(c), 0);
    assert_null(conf_collector_section(c, 0));
    conf_free(c);

    /* An empty text is the same as no file. */
    c = expect_clean("");
    assert_string_equal(conf_get(c, "logging", "log"), "stdio");
    conf_free(c);
}

/* ---- syntax --------------------------------------------------------- */

static void test_separators(void **state)
{
    (void)state;
    conf *c = expect_clean("[main]\n"
                           "plot-dir = /a:b\n"
                           "policy-dir: c=d\n"
                           "libvirt-hypervisor-uri: qemu:///system\n"
                           "hypervisor-interface=sim\n"
                           "qmp-socket-dir   :   /run/qemu   \n"
                           "rpc-socket-group =\n");
    assert_string_equal(conf_get(c, "main", "plot-dir"), "/a:b");
    assert_string_equal(conf_get(c, "main", "policy-dir"), "c=d");
    assert_string_equal(conf_get(c, "main", "libvirt-hypervisor-uri"), "qemu:///system");
    assert_string_equal(conf_get(c, "main", "hypervisor-interface"), "sim");
    assert_string_equal(conf_get(c, "main", "qmp-socket-dir"), "/run/qemu");
    assert_string_equal(conf_get(c, "main", "rpc-socket-group"), "");
    const char *file;
    int line;
    assert_int_equal(conf_key_location(c, "main", "policy-dir", &file, &line), 0);
    assert_string_equal(file, "t.conf");
    assert_int_equal(line, 3);
    conf_free(c);
}

static void test_continuation(void **state)
{
    (void)state;
    conf *c = expect_clean("[host]\n"
                           "collectors = HostMemory,\n"
                           "    HostKSM,\n"
                           "# a comment inside a value is skipped\n"
                           "\tHostCpu\n"
                           "[guest]\n"
                           "collectors =\n"
                           "  GuestMemory\n"
                           "[main]\n"
                           "  plot-dir = /x\n"
                           "     more text   \n");
    assert_string_equal(conf_get(c, "host", "collectors"), "HostMemory,\nHostKSM,\nHostCpu");
    const char *const *items;
    size_t n;
    assert_int_equal(conf_get_list(c, "host", "collectors", &items, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "HostMemory");
    assert_string_equal(items[1], "HostKSM");
    assert_string_equal(items[2], "HostCpu");
    assert_null(items[3]);
    /* A value may start on the continuation line. */
    assert_string_equal(conf_get(c, "guest", "collectors"), "\nGuestMemory");
    assert_int_equal(conf_get_list(c, "guest", "collectors", &items, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(items[0], "GuestMemory");
    /* An indented key line sets the indentation its continuations exceed. */
    assert_string_equal(conf_get(c, "main", "plot-dir"), "/x\nmore text");
    conf_free(c);

    /* An empty line ends a value: the indented line after it is a line of
     * its own, here not a key-value line. */
    expect_one_error("[host]\n"
                     "collectors = HostMemory,\n"
                     "\n"
                     "    HostKSM\n",
                     "t.conf:4: HostKSM: not a section header or a key-value line");
    /* Not indented more than the key line: not a continuation. */
    expect_one_error("[host]\n"
                     "  collectors = HostMemory,\n"
                     "  HostKSM\n",
                     "t.conf:3: HostKSM: not a section header or a key-value line");
}

static void test_comments(void **state)
{
    (void)state;
    conf *c = expect_clean("# comment\n"
                           "; another\n"
                           "   # indented comment\n"
                           "\t; indented too\n"
                           "[main]\n"
                           "hypervisor-interface = sim # not a comment\n"
                           "plot-dir = /p ; neither\n"
                           "#policy-dir = /commented/out\n");
    assert_string_equal(conf_get(c, "main", "hypervisor-interface"), "sim # not a comment");
    assert_string_equal(conf_get(c, "main", "plot-dir"), "/p ; neither");
    assert_string_equal(conf_get(c, "main", "policy-dir"), "");
    conf_free(c);
}

static void test_key_case(void **state)
{
    (void)state;
    conf *c = expect_clean("[main]\nHost-Monitor-INTERVAL = 7\n[logging]\nLOG = journal\n");
    assert_string_equal(conf_get(c, "main", "host-monitor-interval"), "7");
    assert_string_equal(conf_get(c, "main", "HOST-MONITOR-INTERVAL"), "7");
    assert_int_equal(conf_get_int(c, "main", "Host-Monitor-Interval"), 7);
    assert_string_equal(conf_get(c, "logging", "log"), "journal");
    conf_free(c);
    /* Keys differing only in case are the same key. */
    expect_one_error("[main]\npolicy = a\nPOLICY = b\n", "t.conf:3: policy: duplicate key");
    /* Section names are case-sensitive. */
    expect_one_error("[Main]\nx = 1\n", "t.conf:1: [Main]: unknown section");
}

static void test_line_endings(void **state)
{
    (void)state;
    conf *c = expect_clean("\xef\xbb\xbf[main]\r\npolicy-dir = /d\r\n"
                           "controllers = Balloon,\r\n  KSM\r[logging]\rlog = journal");
    assert_string_equal(conf_get(c, "main", "policy-dir"), "/d");
    assert_string_equal(conf_get(c, "main", "controllers"), "Balloon,\nKSM");
    assert_string_equal(conf_get(c, "logging", "log"), "journal");
    const char *file;
    int line;
    assert_int_equal(conf_key_location(c, "logging", "log", &file, &line), 0);
    assert_int_equal(line, 6);
    conf_free(c);
}

static void test_long_line(void **state)
{
    (void)state;
    size_t n = 200000;
    char *text = malloc(n + 64);
    assert_non_null(text);
    int off = sprintf(text, "[main]\nplot-dir = ");
    memset(text + off, 'x', n);
    strcpy(text + off + n, "\n");
    conf *c = expect_clean(text);
    assert_int_equal(strlen(conf_get(c, "main", "plot-dir")), n);
    conf_free(c);
    free(text);
}

static void test_default_section(void **state)
{
    (void)state;
    conf *c = expect_clean("[DEFAULT]\n"
                           "verbosity = debug\n"
                           "worker-threads = 8\n"
                           "collectors = HostMemory, GuestMemory\n"
                           "[main]\n"
                           "worker-threads = 2\n"
                           "[logging]\n"
                           "[DEFAULT]\n"
                           "policy-dir = /d\n");
    /* A [DEFAULT] key acts as the key of the section that has it. */
    assert_string_equal(conf_get(c, "logging", "verbosity"), "debug");
    assert_string_equal(conf_get(c, "main", "policy-dir"), "/d");
    /* ... in every section, as configparser gives it. */
    assert_string_equal(conf_get(c, "host", "collectors"), "HostMemory, GuestMemory");
    assert_string_equal(conf_get(c, "guest", "collectors"), "HostMemory, GuestMemory");
    /* The section's own value wins. */
    assert_int_equal(conf_get_int(c, "main", "worker-threads"), 2);
    const char *file;
    int line;
    assert_int_equal(conf_key_location(c, "logging", "verbosity", &file, &line), 0);
    assert_string_equal(file, "t.conf");
    assert_int_equal(line, 2);
    assert_int_equal(conf_key_location(c, "main", "worker-threads", &file, &line), 0);
    assert_int_equal(line, 6);
    conf_free(c);

    expect_one_error("[DEFAULT]\nno-such-key = 1\n", "t.conf:2: no-such-key: unknown key");
    expect_one_error("[DEFAULT]\nworker-threads = 0\n",
                     "t.conf:2: worker-threads: must be an integer from 1 to 256, not \"0\"");
    expect_one_error("[DEFAULT]\nlog = a\n[DEFAULT]\nLog = b\n", "t.conf:4: log: duplicate key");
}

static void test_duplicates(void **state)
{
    (void)state;
    expect_one_error("[main]\npolicy = /a\n\n[logging]\n[main]\npolicy-dir = /b\n",
                     "t.conf:5: [main]: duplicate section");
    expect_one_error("[main]\nplot-dir = /a\nplot-dir = /b\n  continued\n",
                     "t.conf:3: plot-dir: duplicate key");
    /* "[Collector: X]" and "[Collector:X]" name the same collector. */
    expect_one_error("[host]\ncollectors = X\n[Collector: X]\na = 1\n[Collector:X]\nb = 2\n",
                     "t.conf:5: [Collector:X]: duplicate section");
    expect_one_error("[vdsm]\nport = 1\n[vdsm]\n", "t.conf:3: [vdsm]: duplicate section");

    /* Many keys and sections (the duplicate index grows several times). */
    size_t cap = 200000, off = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    off += (size_t)snprintf(text + off, cap - off, "[host]\ncollectors = ");
    for (int i = 0; i < 300; i++)
        off += (size_t)snprintf(text + off, cap - off, "C%d,", i);
    off += (size_t)snprintf(text + off, cap - off, "\n[vdsm]\n");
    for (int i = 0; i < 3000; i++)
        off += (size_t)snprintf(text + off, cap - off, "Key%d = %d\n", i, i);
    for (int i = 0; i < 300; i++)
        off += (size_t)snprintf(text + off, cap - off, "[Collector: C%d]\nk = %d\n", i, i);
    off += (size_t)snprintf(text + off, cap - off, "[vdsm]\n[Collector: C7]\n");
    reports r;
    conf *c;
    assert_int_equal(load(text, &r, &c), MOM_E_CONFIG);
    if (r.n_errors != 2)
        dump(&r);
    assert_int_equal(r.n_errors, 2);
    assert_true(has_msg(&r, MOM_LOG_ERROR, "t.conf:3604: [vdsm]: duplicate section"));
    assert_true(has_msg(&r, MOM_LOG_ERROR, "t.conf:3605: [Collector: C7]: duplicate section"));
    /* Without the duplicates it loads, and every key is found. */
    off = 0;
    off += (size_t)snprintf(text + off, cap - off, "[vdsm]\n");
    for (int i = 0; i < 3000; i++)
        off += (size_t)snprintf(text + off, cap - off, "Key%d = %d\n", i, i);
    off += (size_t)snprintf(text + off, cap - off, "KEY2999 = again\n");
    assert_int_equal(load(text, &r, &c), MOM_E_CONFIG);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.msg[0], "t.conf:3002: key2999: duplicate key");
    text[off - strlen("KEY2999 = again\n")] = '\0';
    c = expect_clean(text);
    assert_string_equal(conf_get(c, "vdsm", "key1234"), "1234");
    assert_string_equal(conf_get(c, "vdsm", "KEY0"), "0");
    conf_free(c);
    free(text);
}

static void test_garbage(void **state)
{
    (void)state;
    expect_one_error("[main]\njust words\n",
                     "t.conf:2: just words: not a section header or a key-value line");
    expect_one_error("[main]\n[]\n", "t.conf:2: []: not a section header or a key-value line");
    expect_one_error("policy = /a\n[main]\n", "t.conf:1: policy: key outside any section");
    expect_one_error("[main]\n = 5\n", "t.conf:2: = 5: missing key name");
    expect_one_error("[main]\nplot-dir = a\x01\x7f" "b\nx\n",
                     "t.conf:3: x: not a section header or a key-value line");

    /* A NUL byte makes a line an error (the value could not be a string). */
    static const char nul[] = "[main]\nplot-dir = a\0b\n";
    reports r;
    conf *c;
    memset(&r, 0, sizeof(r));
    assert_int_equal(conf_load_text("t.conf", nul, sizeof(nul) - 1, NULL, 0, collect, &r, &c),
                     MOM_E_CONFIG);
    assert_true(has_msg(&r, MOM_LOG_ERROR, "t.conf:2: plot-dir = a\\x00b: NUL byte in line"));

    /* Text after a section header's "]" is ignored, as configparser does. */
    c = expect_clean("[main] trailing\npolicy = /p\n");
    assert_string_equal(conf_get(c, "main", "policy"), "/p");
    conf_free(c);
}

/* ---- types ---------------------------------------------------------- */

static void test_type_errors(void **state)
{
    (void)state;
    static const struct {
        const char *section, *key, *value, *reason;
    } bad[] = {
        {"main", "main-loop-interval", "0", "must be a positive integer, not \"0\""},
        {"main", "host-monitor-interval", "-5", "must be a positive integer, not \"-5\""},
        {"main", "guest-monitor-interval", "5s", "must be a positive integer, not \"5s\""},
        {"main", "guest-manager-interval", "1.5", "must be a positive integer, not \"1.5\""},
        {"main", "policy-engine-interval", "", "must be a positive integer, not \"\""},
        {"main", "policy-engine-interval", "2147483648",
         "must be at most 2147483647, not \"2147483648\""},
        {"main", "sample-history-length", "0", "must be a positive integer, not \"0\""},
        {"main", "worker-threads", "0", "must be an integer from 1 to 256, not \"0\""},
        {"main", "worker-threads", "257", "must be an integer from 1 to 256, not \"257\""},
        {"main", "worker-threads", "four", "must be an integer from 1 to 256, not \"four\""},
        {"main", "call-deadline-ms", "0", "must be a positive integer, not \"0\""},
        {"main", "policy-step-limit", "0", "must be a positive integer, not \"0\""},
        {"main", "policy-step-limit", "99999999999999999999",
         "must be a positive integer, not \"99999999999999999999\""},
        {"main", "policy-depth-limit", "10001",
         "must be an integer from 1 to 10000, not \"10001\""},
        {"main", "policy-depth-limit", "0", "must be an integer from 1 to 10000, not \"0\""},
        {"logging", "max-bytes", "-1", "must be a non-negative integer, not \"-1\""},
        {"logging", "backup-count", "x", "must be a non-negative integer, not \"x\""},
        {"main", "guest-manager-multi-thread", "maybe",
         "must be a boolean (1/yes/true/on or 0/no/false/off), not \"maybe\""},
        {"main", "guest-manager-multi-thread", "2",
         "must be a boolean (1/yes/true/on or 0/no/false/off), not \"2\""},
        {"main", "rpc-port", "65536", "TCP port must be at most 65535, not \"65536\""},
        {"main", "rpc-port", "123456789012345678901234",
         "TCP port must be at most 65535, not \"123456789012345678901234\""},
        {"main", "rpc-port", "",
         "empty value: give a TCP port, a negative number (off) or a socket path"},
        {"main", "rpc-allow-uids", "0, root", "list item \"root\" is not a user id (a "
                                              "non-negative integer)"},
        {"main", "rpc-allow-uids", "-1", "list item \"-1\" is not a user id (a non-negative "
                                         "integer)"},
        {"main", "rpc-allow-uids", "4294967295", "list item \"4294967295\" is not a user id (a "
                                                 "non-negative integer)"},
        {"main", "controllers", "Balloon KSM",
         "list item \"Balloon KSM\" is not a name (missing comma?)"},
        {"main", "controllers", "Balloon, K$M",
         "list item \"K$M\" is not a name (missing comma?)"},
        {"host", "collectors", "HostMemory HostKSM",
         "list item \"HostMemory HostKSM\" is not a name (missing comma?)"},
        {"guest", "collectors", "GuestMemory;", "list item \"GuestMemory;\" is not a name "
                                                "(missing comma?)"},
        {"sim", "seed", "-1", "must be a non-negative integer, not \"-1\""},
        {"sim", "seed", "0x10", "must be a non-negative integer, not \"0x10\""},
        {"sim", "speed", "0", "must be a positive number, not \"0\""},
        {"sim", "speed", "-2.5", "must be a positive number, not \"-2.5\""},
        {"sim", "speed", "fast", "must be a positive number, not \"fast\""},
        {"sim", "speed", "inf", "must be a positive number, not \"inf\""},
        {"sim", "speed", "nan", "must be a positive number, not \"nan\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512], msg[512];
        snprintf(text, sizeof(text), "# line 1\n[%s]\n%s = %s\n", bad[i].section, bad[i].key,
                 bad[i].value);
        snprintf(msg, sizeof(msg), "t.conf:3: %s: %s", bad[i].key, bad[i].reason);
        expect_one_error(text, msg);
    }
}

static void test_type_ok(void **state)
{
    (void)state;
    conf *c = expect_clean("[main]\n"
                           "host-monitor-interval = +3\n"
                           "worker-threads = 256\n"
                           "policy-depth-limit = 10000\n"
                           "policy-step-limit = 9223372036854775807\n"
                           "rpc-port = 65535\n"
                           "rpc-allow-uids = 0,, 36 ,107,\n"
                           "controllers =\n"
                           "[logging]\n"
                           "max-bytes = 0\n"
                           "verbosity = anything at all\n"
                           "[sim]\n"
                           "seed = 0\n"
                           "speed = 1e-3\n");
    assert_int_equal(conf_get_int(c, "main", "host-monitor-interval"), 3);
    assert_int_equal(conf_get_int(c, "main", "worker-threads"), 256);
    assert_true(conf_get_int(c, "main", "policy-step-limit") == INT64_MAX);
    assert_int_equal(conf_get_int(c, "main", "rpc-port"), 65535);
    assert_int_equal(conf_get_int(c, "logging", "max-bytes"), 0);
    assert_int_equal(conf_get_int(c, "sim", "seed"), 0);
    assert_true(conf_get_real(c, "sim", "speed") == 1e-3);
    const char *const *items;
    size_t n;
    assert_int_equal(conf_get_list(c, "main", "rpc-allow-uids", &items, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "0");
    assert_string_equal(items[1], "36");
    assert_string_equal(items[2], "107");
    assert_int_equal(conf_get_list(c, "main", "controllers", &items, &n), 0);
    assert_int_equal(n, 0);
    conf_free(c);

    /* rpc-port: negative integers are "off", anything else is a path. */
    static const char *const ports[] = {"-1", "-100", "-99999999999999999999999", "/run/x.sock",
                                        "relative.sock", "12ab"};
    for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "[main]\nrpc-port = %s\n", ports[i]);
        c = expect_clean(text);
        assert_string_equal(conf_get(c, "main", "rpc-port"), ports[i]);
        conf_free(c);
    }

    /* Every spelling of a boolean. */
    static const struct {
        const char *text;
        bool value;
    } bools[] = {{"1", true},   {"yes", true},  {"TRUE", true},  {"On", true},
                 {"0", false},  {"No", false},  {"false", false}, {"OFF", false}};
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "[main]\nguest-manager-multi-thread = %s\n",
                 bools[i].text);
        reports r;
        assert_int_equal(load(text, &r, &c), 0);
        assert_int_equal(r.n_errors, 0);
        assert_true(conf_get_bool(c, "main", "guest-manager-multi-thread") == bools[i].value);
        conf_free(c);
    }
}

/* ---- sections ------------------------------------------------------- */

static void test_unknown(void **state)
{
    (void)state;
    expect_one_error("[main]\nhypervisor = libvirt\n", "t.conf:2: hypervisor: unknown key");
    expect_one_error("[logging]\nlevel = 3\n", "t.conf:2: level: unknown key");
    expect_one_error("[sim]\nscenarios = x\n", "t.conf:2: scenarios: unknown key");
    /* The keys of an unknown section are not checked one by one. */
    expect_one_error("[main]\n\n[bogus]\nx = 1\ny = 2\n", "t.conf:3: [bogus]: unknown section");
    expect_one_error("[Collector: ]\nx = 1\n", "t.conf:1: [Collector: ]: empty collector name");
}

static void test_vdsm_and_internal(void **state)
{
    (void)state;
    reports r;
    conf *c;
    assert_int_equal(load("[vdsm]\nanything-goes = 1\nport = 54321\n"
                          "[__int__]\nrunning = 1\nplot-subdir = x\n",
                          &r, &c),
                     0);
    assert_int_equal(r.n_errors, 0);
    assert_int_equal(r.n, 1);
    assert_true(has_msg(&r, MOM_LOG_WARN,
                        "t.conf:4: [__int__]: internal section discarded (its keys are ignored)"));
    assert_string_equal(conf_get(c, "vdsm", "port"), "54321");
    assert_null(conf_get(c, "__int__", "running"));
    conf_free(c);
}

static void test_collector_sections(void **state)
{
    (void)state;
    conf *c = expect_clean("[guest]\n"
                           "collectors = GuestQemuAgent, GuestNetworkDaemon\n"
                           "[Collector:   GuestQemuAgent  ]\n"
                           "socket_path = /run/agents\n"
                           "Socket_Name_Template = %(name)s.sock\n"
                           "list = a, ,b\n"
                           "[Collector: GuestNetworkDaemon]\n"
                           "name-to-ip-helper = /usr/bin/helper %(name)s\n");
    assert_int_equal(conf_n_collector_sections(c), 2);
    assert_string_equal(conf_collector_section(c, 0), "GuestQemuAgent");
    assert_string_equal(conf_collector_section(c, 1), "GuestNetworkDaemon");
    assert_null(conf_collector_section(c, 2));
    /* Templates stay raw; the section name may be spelled with any spacing. */
    assert_string_equal(conf_get(c, "Collector: GuestQemuAgent", "socket_name_template"),
                        "%(name)s.sock");
    assert_string_equal(conf_get(c, "Collector:GuestQemuAgent", "socket_path"), "/run/agents");
    assert_string_equal(conf_get(c, "Collector: GuestNetworkDaemon", "name-to-ip-helper"),
                        "/usr/bin/helper %(name)s");
    assert_null(conf_get(c, "Collector: GuestQemuAgent", "missing"));
    assert_null(conf_get(c, "Collector: Other", "socket_path"));
    const char *const *items;
    size_t n;
    assert_int_equal(conf_get_list(c, "Collector: GuestQemuAgent", "list", &items, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(items[1], "b");
    const char *file;
    int line;
    assert_int_equal(conf_key_location(c, "Collector: GuestQemuAgent", "socket_path", &file,
                                       &line),
                     0);
    assert_int_equal(line, 4);
    conf_free(c);

    /* A collector section for a collector nobody configured: a warning. */
    reports r;
    assert_int_equal(load("[Collector: GuestQemuAgent]\nsocket_path = /x\n", &r, &c), 0);
    assert_int_equal(r.n, 1);
    assert_true(has_msg(&r, MOM_LOG_WARN,
                        "t.conf:1: [Collector: GuestQemuAgent]: collector GuestQemuAgent is "
                        "not in [host] or [guest] collectors"));
    conf_free(c);
    /* The default lists count. */
    c = expect_clean("[Collector: GuestMemory]\n");
    conf_free(c);
}

static void test_policy_and_policy_dir(void **state)
{
    (void)state;
    expect_one_error("[main]\npolicy = /a\nplot-dir =\npolicy-dir = /b\n",
                     "t.conf:4: policy-dir: policy and policy-dir cannot both be set");
    expect_one_error("[main]\npolicy-dir = /b\npolicy = /a\n",
                     "t.conf:3: policy: policy and policy-dir cannot both be set");
    expect_one_error("[DEFAULT]\npolicy = /a\n[main]\npolicy-dir = /b\n",
                     "t.conf:4: policy-dir: policy and policy-dir cannot both be set");
    /* One of them empty is fine. */
    conf *c = expect_clean("[main]\npolicy = /a\npolicy-dir =\n");
    conf_free(c);
    /* An override that sets the other key conflicts... */
    static const mom_config_override ov[] = {{"main", "policy-dir", "/d"}};
    reports r;
    assert_int_equal(load_ov("[main]\npolicy = /a\n", ov, 1, &r, &c), MOM_E_CONFIG);
    assert_int_equal(r.n_errors, 1);
    assert_true(has_msg(&r, MOM_LOG_ERROR,
                        "override: [main] policy-dir: policy and policy-dir cannot both be set"));
    /* ...unless it clears the file's key, as momd does for -r and -P. */
    static const mom_config_override ov2[] = {{"main", "policy-dir", "/d"},
                                              {"main", "policy", ""}};
    assert_int_equal(load_ov("[main]\npolicy = /a\n", ov2, 2, &r, &c), 0);
    assert_int_equal(r.n, 0);
    assert_string_equal(conf_get(c, "main", "policy-dir"), "/d");
    assert_string_equal(conf_get(c, "main", "policy"), "");
    conf_free(c);
}

static void test_ignored_keys(void **state)
{
    (void)state;
    reports r;
    conf *c;
    assert_int_equal(load("[main]\nmain-loop-interval = 15\nguest-manager-multi-thread = false\n",
                          &r, &c),
                     0);
    assert_int_equal(r.n_errors, 0);
    assert_int_equal(r.n_warnings, 2);
    assert_true(has_msg(&r, MOM_LOG_WARN,
                        "t.conf:2: main-loop-interval: accepted and ignored: the engine has no "
                        "main loop that watches threads"));
    assert_true(has_msg(&r, MOM_LOG_WARN,
                        "t.conf:3: guest-manager-multi-thread: accepted and ignored: the engine "
                        "never uses a thread per guest"));
    /* The value is still there for whoever asks. */
    assert_false(conf_get_bool(c, "main", "guest-manager-multi-thread"));
    assert_int_equal(conf_get_int(c, "main", "main-loop-interval"), 15);
    conf_free(c);

    /* Set in both [DEFAULT] and [main]: one notice, at the value in force. */
    assert_int_equal(load("[DEFAULT]\nmain-loop-interval = 3\n[main]\nmain-loop-interval = 4\n",
                          &r, &c),
                     0);
    assert_int_equal(r.n, 1);
    assert_true(has_msg(&r, MOM_LOG_WARN,
                        "t.conf:4: main-loop-interval: accepted and ignored: the engine has no "
                        "main loop that watches threads"));
    conf_free(c);
}

/* ---- overrides ------------------------------------------------------ */

static void test_overrides(void **state)
{
    (void)state;
    static const mom_config_override ov[] = {
        {"main", "Worker-Threads", " 16 "},
        {"logging", "verbosity", "debug"},
        {"logging", "log", "/var/log/mom.log"},
        {"Collector: GuestQemuAgent", "socket_path", "/run/ga"},
        {"sim", "seed", "7"},
        {"sim", "seed", "8"},
    };
    reports r;
    conf *c;
    assert_int_equal(load_ov("[main]\nworker-threads = 2\n[logging]\nverbosity = info\n"
                             "[guest]\ncollectors = GuestQemuAgent\n",
                             ov, sizeof(ov) / sizeof(ov[0]), &r, &c),
                     0);
    assert_int_equal(r.n, 0);
    assert_int_equal(conf_get_int(c, "main", "worker-threads"), 16);
    assert_string_equal(conf_get(c, "logging", "verbosity"), "debug");
    assert_string_equal(conf_get(c, "logging", "log"), "/var/log/mom.log");
    assert_string_equal(conf_get(c, "Collector: GuestQemuAgent", "socket_path"), "/run/ga");
    assert_int_equal(conf_get_int(c, "sim", "seed"), 8);
    assert_int_equal(conf_n_collector_sections(c), 1);
    const char *file;
    int line = -1;
    assert_int_equal(conf_key_location(c, "main", "worker-threads", &file, &line), 0);
    assert_string_equal(file, "override");
    assert_int_equal(line, 0);
    conf_free(c);

    /* Overrides alone, on top of the defaults. */
    assert_int_equal(conf_load(NULL, ov, 2, collect, &r, &c), 0);
    assert_string_equal(conf_get(c, "logging", "verbosity"), "debug");
    conf_free(c);

    /* Their errors, all of them, in order after the file's. */
    static const mom_config_override bad[] = {
        {"main", "worker-threads", "0"},
        {"main", "nope", "1"},
        {"bogus", "x", "1"},
        {"sim", "speed", "-1"},
        {NULL, "x", "1"},
        {"main", NULL, "1"},
        {"logging", "log", NULL},
        {"__int__", "running", "1"},
    };
    assert_int_equal(load_ov("[main]\nworker-threads = x\n", bad, sizeof(bad) / sizeof(bad[0]),
                             &r, &c),
                     MOM_E_CONFIG);
    assert_null(c);
    static const char *const want[] = {
        "t.conf:2: worker-threads: must be an integer from 1 to 256, not \"x\"",
        "override: [main] worker-threads: must be an integer from 1 to 256, not \"0\"",
        "override: [main] nope: unknown key",
        "override: [bogus] x: unknown section",
        "override: [sim] speed: must be a positive number, not \"-1\"",
        "override: [?] x: an override needs a section, a key and a value",
        "override: [main] ?: an override needs a section, a key and a value",
        "override: [logging] log: an override needs a section, a key and a value",
        "override: [__int__] running: unknown section",
    };
    if (r.n != (int)(sizeof(want) / sizeof(want[0])))
        dump(&r);
    assert_int_equal(r.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_string_equal(r.msg[i], want[i]);
}

/* ---- fixtures ------------------------------------------------------- */

static void test_vdsm_conf(void **state)
{
    (void)state;
    char path[4096];
    reports r = {0};
    conf *c = NULL;
    assert_int_equal(conf_load(fixture("vdsm-mom.conf", path, sizeof(path)), NULL, 0, collect,
                               &r, &c),
                     0);
    /* Only the notice about main-loop-interval. */
    assert_int_equal(r.n_errors, 0);
    assert_int_equal(r.n, 1);
    char msg[4200];
    snprintf(msg, sizeof(msg),
             "%s:6: main-loop-interval: accepted and ignored: the engine has no main loop "
             "that watches threads",
             path);
    assert_true(has_msg(&r, MOM_LOG_WARN, msg));
    assert_string_equal(conf_get(c, "main", "hypervisor-interface"), "vdsmjsonrpcclient");
    assert_int_equal(conf_get_int(c, "main", "policy-engine-interval"), 15);
    assert_string_equal(conf_get(c, "main", "rpc-port"), "/var/run/vdsm/mom-vdsm.sock");
    assert_string_equal(conf_get(c, "main", "policy-dir"), "/etc/vdsm/mom.d");
    assert_string_equal(conf_get(c, "main", "policy"), "");
    assert_string_equal(conf_get(c, "main", "plot-dir"), "");
    assert_string_equal(conf_get(c, "logging", "log"), "/var/log/vdsm/mom.log");
    assert_string_equal(conf_get(c, "vdsm", "port"), "54321");
    const char *const *items;
    size_t n;
    assert_int_equal(conf_get_list(c, "main", "controllers", &items, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(items[3], "IoTune");
    assert_int_equal(conf_get_list(c, "guest", "collectors", &items, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(items[0], "GuestMemoryOptional");
    assert_int_equal(conf_get_list(c, "host", "collectors", &items, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[2], "HostCpu");
    const char *file;
    int line;
    assert_int_equal(conf_key_location(c, "main", "controllers", &file, &line), 0);
    assert_string_equal(file, path);
    assert_int_equal(line, 31);
    conf_free(c);
}

static void test_fixture_files(void **state)
{
    (void)state;
    char path[4096];
    reports r = {0};
    conf *c = NULL;
    assert_int_equal(conf_load(fixture("mom-balloon-ksm.conf", path, sizeof(path)), NULL, 0,
                               collect, &r, &c),
                     0);
    assert_int_equal(r.n_errors, 0);
    assert_string_equal(conf_get(c, "main", "controllers"), "Balloon,\nKSM");
    assert_int_equal(conf_get_int(c, "main", "rpc-port"), 8989);
    assert_string_equal(conf_get(c, "main", "libvirt-hypervisor-uri"), "qemu:///system");
    const char *const *items;
    size_t n;
    assert_int_equal(conf_get_list(c, "guest", "collectors", &items, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[2], "GuestBalloon");
    conf_free(c);

    memset(&r, 0, sizeof(r));
    assert_int_equal(conf_load(fixture("all-keys.conf", path, sizeof(path)), NULL, 0, collect,
                               &r, &c),
                     0);
    assert_int_equal(r.n_errors, 0);
    assert_int_equal(r.n_warnings, 2); /* the two ignored keys */
    assert_int_equal(conf_get_int(c, "main", "worker-threads"), 8);
    assert_int_equal(conf_get_int(c, "main", "call-deadline-ms"), 2500);
    assert_int_equal(conf_get_int(c, "main", "policy-depth-limit"), 64);
    assert_string_equal(conf_get(c, "main", "host-memory-cgroup"),
                        "/sys/fs/cgroup/machine.slice");
    assert_string_equal(conf_get(c, "main", "rpc-socket-group"), "kvm");
    assert_int_equal(conf_get_list(c, "main", "rpc-allow-uids", &items, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[2], "36");
    assert_true(conf_get_real(c, "sim", "speed") == 2.5);
    assert_int_equal(conf_get_int(c, "sim", "seed"), 42);
    assert_string_equal(conf_get(c, "logging", "log"), "journal");
    assert_string_equal(conf_get(c, "Collector: GuestQemuAgent", "socket_name_template"),
                        "%(name)s.org.qemu.guest_agent.0");
    conf_free(c);
}

static void test_errors_file(void **state)
{
    (void)state;
    char path[4096];
    reports r = {0};
    conf *c = NULL;
    assert_int_equal(conf_load(fixture("errors.conf", path, sizeof(path)), NULL, 0, collect, &r,
                               &c),
                     MOM_E_CONFIG);
    assert_null(c);
    static const char *const want[] = {
        "3: host-monitor-interval: must be a positive integer, not \"0\"",
        "4: worker-threads: must be an integer from 1 to 256, not \"300\"",
        "5: bogus-key: unknown key",
        "6: guest-manager-multi-thread: must be a boolean (1/yes/true/on or 0/no/false/off), "
        "not \"maybe\"",
        "6: guest-manager-multi-thread: accepted and ignored: the engine never uses a thread "
        "per guest",
        "7: rpc-port: TCP port must be at most 65535, not \"70000\"",
        "8: controllers: list item \"Balloon KSM\" is not a name (missing comma?)",
        "9: this line is garbage: not a section header or a key-value line",
        "11: policy-dir: policy and policy-dir cannot both be set",
        "12: policy: duplicate key",
        "14: [bogus]: unknown section",
        "18: max-bytes: must be a non-negative integer, not \"-1\"",
        "20: [main]: duplicate section",
        "24: speed: must be a positive number, not \"0\"",
        "25: seed: must be a non-negative integer, not \"-3\"",
    };
    size_t nw = sizeof(want) / sizeof(want[0]);
    if (r.n != (int)nw)
        dump(&r);
    assert_int_equal(r.n, nw);
    assert_int_equal(r.n_errors, nw - 1);
    for (size_t i = 0; i < nw; i++) {
        char msg[4200];
        snprintf(msg, sizeof(msg), "%s:%s", path, want[i]);
        assert_string_equal(r.msg[i], msg);
    }
}

static void test_unreadable(void **state)
{
    (void)state;
    reports r = {0};
    conf *c = NULL;
    assert_int_equal(conf_load("/nonexistent/mom.conf", NULL, 0, collect, &r, &c), -ENOENT);
    assert_null(c);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.msg[0], "/nonexistent/mom.conf: cannot read: No such file or directory");
    memset(&r, 0, sizeof(r));
    assert_int_equal(conf_load("/", NULL, 0, collect, &r, &c), -EISDIR);
    assert_string_equal(r.msg[0], "/: cannot read: Is a directory");
    /* Without a callback the result is the same. */
    assert_int_equal(conf_load("/nonexistent/mom.conf", NULL, 0, NULL, NULL, &c), -ENOENT);
    assert_int_equal(conf_load_text("x", NULL, 1, NULL, 0, NULL, NULL, &c), -EINVAL);
    assert_int_equal(conf_load_text("x", "", 0, NULL, 0, NULL, NULL, NULL), -EINVAL);
}

static void test_levels(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        mom_log_level level;
    } levels[] = {
        {"5", MOM_LOG_DEBUG},    {"debug", MOM_LOG_DEBUG},     {"DEBUG", MOM_LOG_DEBUG},
        {"4", MOM_LOG_INFO},     {"info", MOM_LOG_INFO},       {"Info", MOM_LOG_INFO},
        {"3", MOM_LOG_WARN},     {"warn", MOM_LOG_WARN},       {"WARNING", MOM_LOG_WARN},
        {"2", MOM_LOG_ERROR},    {"error", MOM_LOG_ERROR},     {"1", MOM_LOG_CRITICAL},
        {"critical", MOM_LOG_CRITICAL}, {" info ", MOM_LOG_INFO}, {"0", MOM_LOG_DEBUG},
        {"6", MOM_LOG_DEBUG},    {"verbose", MOM_LOG_DEBUG},   {"", MOM_LOG_DEBUG},
        {"errors", MOM_LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (conf_parse_level(levels[i].text) != levels[i].level) {
            print_message("level \"%s\"\n", levels[i].text);
            fail();
        }
    assert_int_equal(conf_parse_level(NULL), MOM_LOG_DEBUG);
}

/* Fail every allocation of a load in turn: -ENOMEM and no leak each time
 * (the leak check is valgrind's or ASan's). */
static void test_alloc_failures(void **state)
{
    (void)state;
    static const char text[] = "# comment\n"
                               "[DEFAULT]\nverbosity = warn\n"
                               "[main]\nhost-monitor-interval = 3\ncontrollers = Balloon,\n"
                               "  KSM\npolicy-dir = /d\nmain-loop-interval = 2\nbad = 1\n"
                               "[guest]\ncollectors = GuestQemuAgent\n"
                               "[Collector: GuestQemuAgent]\nsocket_path = /x\n"
                               "[Collector: Unused]\n"
                               "[vdsm]\nport = 1\n[bogus]\n";
    /* Enough keys that the duplicate index grows while loading. */
    char big[2048];
    size_t off = (size_t)snprintf(big, sizeof(big), "%s[sim]\n", text);
    for (int i = 0; i < 40; i++)
        off += (size_t)snprintf(big + off, sizeof(big) - off, "[Collector: X%d]\nk = %d\n", i, i);
    static const mom_config_override ov[] = {{"main", "bad", "1"},
                                             {"Collector: New", "k", "v"},
                                             {"main", "worker-threads", "5"}};
    int done = 0;
    for (long n = 1; n < 100000 && !done; n++) {
        reports r = {0};
        conf *c = NULL;
        alloc_fail_at(n);
        int rc = conf_load_text("t.conf", big, off, ov, 3, collect, &r, &c);
        long used = alloc_count();
        alloc_fail_at(0);
        if (rc == -ENOMEM) {
            assert_null(c);
            assert_true(r.n >= 1);
            continue;
        }
        /* The file has errors on purpose: MOM_E_CONFIG once nothing failed. */
        assert_int_equal(rc, MOM_E_CONFIG);
        assert_true(used < n);
        done = 1;
    }
    assert_true(done);

    /* The same for a clean load that returns a conf. */
    static const char good[] = "[main]\ncontrollers = Balloon, KSM\n[Collector: GuestMemory]\n"
                               "a = 1, 2\n";
    done = 0;
    for (long n = 1; n < 100000 && !done; n++) {
        conf *c = NULL;
        alloc_fail_at(n);
        int rc = conf_load_text("t.conf", good, sizeof(good) - 1, ov + 2, 1, NULL, NULL, &c);
        long used = alloc_count();
        alloc_fail_at(0);
        if (rc == -ENOMEM) {
            assert_null(c);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_true(used < n);
        assert_int_equal(conf_get_int(c, "main", "worker-threads"), 5);
        conf_free(c);
        done = 1;
    }
    assert_true(done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_separators),
        cmocka_unit_test(test_continuation),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_key_case),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_default_section),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_type_ok),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_vdsm_and_internal),
        cmocka_unit_test(test_collector_sections),
        cmocka_unit_test(test_policy_and_policy_dir),
        cmocka_unit_test(test_ignored_keys),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_vdsm_conf),
        cmocka_unit_test(test_fixture_files),
        cmocka_unit_test(test_errors_file),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
