/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libvirt hypervisor interface on libvirt's test driver, in process
 * (TESTING.md §2): test:///default and node files written at test time
 * (up to hundreds of domains).  Every operation is checked against what
 * the driver itself reports on the backend's own connection; domains are
 * created and destroyed under a running engine; faults: a domain that
 * disappears mid-call, a connection that breaks or was never there, a
 * guest without a balloon, statistics that never arrive, unexpected
 * errors (logged once).  The XML and bulk-record parsers are tested on
 * their own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/hv.h"
#include "core/log.h"
#include "hv/libvirt.h"
#include "hv/libvirt_xml.h"
#include "mom/mom.h"

/* ThreadSanitizer: libvirt and GLib are not instrumented, so their own
 * locking is invisible to it.  libvirt's test driver even destroys a held
 * mutex when an open fails, and the memory's next user inside
 * virConnectOpen (called from conn_open, which locks nothing itself) then
 * looks like an unlock of an unlocked mutex.  Only reports inside those
 * libraries are suppressed; races in MOM's code are still reported. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    return "called_from_lib:libvirt.so.0\n"
           "called_from_lib:libglib-2.0.so.0\n"
           "race:libvirt.so.0\n"
           "race:libglib-2.0.so.0\n"
           "mutex:libvirt.so.0\n"
           "mutex:libglib-2.0.so.0\n"
           "mutex:conn_open\n";
}

#define DEFAULT_UUID "6695eb01-f6a4-8304-79aa-97f2502e193f"
#define MIB 1024 /* KiB */

/* ---- log capture ------------------------------------------------------------ */

typedef struct logcap {
    pthread_mutex_t mu;
    char buf[1 << 16];
    size_t len;
} logcap;

static void cap_log(mom_log_level level, const char *logger, const char *msg, void *userdata)
{
    logcap *c = userdata;
    pthread_mutex_lock(&c->mu);
    int n = snprintf(c->buf + c->len, sizeof(c->buf) - c->len, "%d %s: %s\n", (int)level,
                     logger, msg);
    if (n > 0 && c->len + (size_t)n < sizeof(c->buf))
        c->len += (size_t)n;
    pthread_mutex_unlock(&c->mu);
    if (getenv("MOM_TEST_VERBOSE"))
        fprintf(stderr, "%s: %s\n", logger, msg);
}

/* How many captured lines contain `needle`. */
static int cap_count(logcap *c, const char *needle)
{
    pthread_mutex_lock(&c->mu);
    int n = 0;
    for (const char *p = c->buf; (p = strstr(p, needle)) != NULL; p++)
        n++;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* How many captured lines are warnings or worse. */
static int cap_warnings(logcap *c)
{
    pthread_mutex_lock(&c->mu);
    int n = 0;
    for (const char *p = c->buf; *p;) {
        if (p[0] >= '1' && p[0] <= '3' && p[1] == ' ')
            n++;
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

static void cap_clear(logcap *c)
{
    pthread_mutex_lock(&c->mu);
    c->len = 0;
    c->buf[0] = '\0';
    pthread_mutex_unlock(&c->mu);
}

#define WAIT_FOR(cond, ms)                                                                         \
    ({                                                                                             \
        bool ok_ = false;                                                                          \
        for (int t_ = 0; t_ < (ms) / 20; t_++) {                                                   \
            if (cond) {                                                                            \
                ok_ = true;                                                                        \
                break;                                                                             \
            }                                                                                      \
            usleep(20000);                                                                         \
        }                                                                                          \
        ok_;                                                                                       \
    })

/* ---- node files ------------------------------------------------------------- */

enum {
    D_NO_BALLOON = 1,  /* <memballoon model='none'/> */
    D_META = 2,        /* oVirt tune metadata: vcpuLimit 42, an ioTune policy */
    D_SHUTOFF = 4,     /* defined, not running */
    D_MIN = 8,         /* <memtune><min_guarantee unit='MiB'>128 */
};

static void uuid_of(int i, char *buf, size_t size)
{
    snprintf(buf, size, "11111111-2222-3333-4444-%012d", i);
}

/* One test-driver domain "gNNNN": 1 GiB maximum, 512 MiB + i MiB current. */
static void write_domain(FILE *o, int i, unsigned flags, bool in_node)
{
    char uuid[64];
    uuid_of(i, uuid, sizeof(uuid));
    fprintf(o, "<domain type='test'>\n  <name>g%04d</name>\n  <uuid>%s</uuid>\n", i, uuid);
    if (flags & D_META)
        fprintf(o,
                "  <metadata>\n"
                "    <ovt:qos xmlns:ovt='http://ovirt.org/vm/tune/1.0'>\n"
                "      <ovt:vcpuLimit>42</ovt:vcpuLimit>\n"
                "      <ovt:ioTune>\n"
                "        <ovt:device name='vda' path='/img/g%04d.img'>\n"
                "          <ovt:guaranteed><ovt:total_bytes_sec>1000</ovt:total_bytes_sec>"
                "<ovt:read_iops_sec>5</ovt:read_iops_sec></ovt:guaranteed>\n"
                "          <ovt:maximum><ovt:total_bytes_sec>9000000</ovt:total_bytes_sec>"
                "</ovt:maximum>\n"
                "        </ovt:device>\n"
                "      </ovt:ioTune>\n"
                "    </ovt:qos>\n"
                "  </metadata>\n",
                i);
    fprintf(o, "  <memory>1048576</memory>\n  <currentMemory>%d</currentMemory>\n",
            512 * MIB + i * MIB);
    if (flags & D_MIN)
        fprintf(o, "  <memtune><min_guarantee unit='MiB'>128</min_guarantee></memtune>\n");
    fprintf(o, "  <vcpu>%d</vcpu>\n  <os><type>hvm</type></os>\n  <devices>\n", 1 + i % 4);
    fprintf(o,
            "    <disk type='file' device='disk'><source file='/img/g%04d.img'/>"
            "<target dev='vda' bus='virtio'/><iotune><total_bytes_sec_max>100000000"
            "</total_bytes_sec_max><read_iops_sec_max>100000</read_iops_sec_max></iotune>"
            "</disk>\n",
            i);
    fprintf(o, "    <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>\n");
    fprintf(o, "    <memballoon model='%s'/>\n  </devices>\n",
            flags & D_NO_BALLOON ? "none" : "virtio");
    if (in_node && (flags & D_SHUTOFF))
        fprintf(o, "  <test:runstate xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
                   "5</test:runstate>\n");
    fprintf(o, "</domain>\n");
}

typedef struct node {
    char dir[PATH_MAX];
    char path[PATH_MAX + 16];
    char uri[PATH_MAX + 32];
} node;

/* A node file with domains 1..n; flags_of(i) gives each one's flags. */
static void node_write(node *nd, int n, unsigned (*flags_of)(int))
{
    const char *tmp = getenv("TMPDIR");
    snprintf(nd->dir, sizeof(nd->dir), "%s/momlvXXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(nd->dir));
    snprintf(nd->path, sizeof(nd->path), "%s/node.xml", nd->dir);
    snprintf(nd->uri, sizeof(nd->uri), "test://%s", nd->path);
    FILE *o = fopen(nd->path, "we");
    assert_non_null(o);
    fprintf(o, "<node>\n  <cpu><mhz>2000</mhz><model>x86_64</model><active>8</active>"
               "<sockets>1</sockets><cores>8</cores><threads>1</threads><nodes>1</nodes></cpu>\n"
               "  <memory>16777216</memory>\n");
    for (int i = 1; i <= n; i++)
        write_domain(o, i, flags_of ? flags_of(i) : 0, true);
    fprintf(o, "</node>\n");
    fclose(o);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void node_remove(node *nd)
{
    nftw(nd->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- a backend without an engine ----------------------------------------------- */

typedef struct be {
    conf *conf;
    mlog log;
    logcap cap;
    hv h;
    atomic_int wakes;
} be;

static void be_wake(void *ctx)
{
    atomic_fetch_add((atomic_int *)ctx, 1);
}

static void conf_report(mom_log_level level, const char *msg, void *userdata)
{
    (void)level;
    (void)userdata;
    fprintf(stderr, "config: %s\n", msg);
}

/* A backend on `uri`; `extra` is more [main] lines (may be NULL). */
static be *be_new(const char *uri, const char *extra)
{
    be *b = calloc(1, sizeof(*b));
    assert_non_null(b);
    pthread_mutex_init(&b->cap.mu, NULL);
    char text[8192];
    snprintf(text, sizeof(text), "[main]\nhypervisor-interface: libvirt\nlibvirt-hypervisor-uri: %s\n%s",
             uri, extra ? extra : "");
    assert_int_equal(
        conf_load_text("t.conf", text, strlen(text), NULL, 0, conf_report, NULL, &b->conf), 0);
    mlog_init(&b->log, cap_log, &b->cap, MOM_LOG_DEBUG);
    assert_int_equal(hv_create(b->conf, &b->log, &b->h), 0);
    assert_string_equal(b->h.name, "libvirt");
    b->h.wake = be_wake;
    b->h.wake_ctx = &b->wakes;
    return b;
}

static void be_free(be *b)
{
    hv_destroy(&b->h);
    conf_free(b->conf);
    pthread_mutex_destroy(&b->cap.mu);
    free(b);
}

static const mom_hv_ops *OPS(be *b)
{
    return b->h.ops;
}

static void *UD(be *b)
{
    return b->h.userdata;
}

/* The guest ids get_vm_list returns, sorted; returns how many. */
static size_t list_ids(be *b, mom_hv_list *l)
{
    hv_list_init(l);
    int r = OPS(b)->get_vm_list(l, UD(b));
    assert_int_equal(r, 0);
    return l->n;
}

static bool list_has(be *b, const char *id)
{
    mom_hv_list l;
    hv_list_init(&l);
    bool found = false;
    if (OPS(b)->get_vm_list(&l, UD(b)) == 0)
        for (size_t i = 0; i < l.n; i++)
            if (strcmp(l.ids[i], id) == 0)
                found = true;
    hv_list_done(&l);
    return found;
}

static virConnectPtr be_conn(be *b)
{
    virConnectPtr c = libvirt_test_connection(UD(b));
    assert_non_null(c);
    return c;
}

/* The driver's own view of a domain's current memory (KiB). */
static unsigned long driver_memory(be *b, const char *uuid)
{
    virConnectPtr c = be_conn(b);
    virDomainPtr d = virDomainLookupByUUIDString(c, uuid);
    assert_non_null(d);
    virDomainInfo info;
    assert_int_equal(virDomainGetInfo(d, &info), 0);
    virDomainFree(d);
    virConnectClose(c);
    return info.memory;
}

static int mem_stats(be *b, const char *id, mom_hv_memory_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->size = sizeof(*st);
    return OPS(b)->get_vm_memory_stats(id, st, UD(b));
}

static int balloon(be *b, const char *id, mom_hv_balloon_info *bi)
{
    memset(bi, 0, sizeof(*bi));
    bi->size = sizeof(*bi);
    return OPS(b)->get_vm_balloon_info(id, bi, UD(b));
}

/* ---- test:///default --------------------------------------------------------- */

static void test_default_driver_operations(void **state)
{
    (void)state;
    be *b = be_new("test:///default", NULL);
    mom_hv_list l;
    assert_int_equal(list_ids(b, &l), 1);
    assert_string_equal(l.ids[0], DEFAULT_UUID);
    hv_list_done(&l);

    mom_hv_guest_info gi = {.size = sizeof(gi)};
    assert_int_equal(OPS(b)->get_vm_info(DEFAULT_UUID, &gi, UD(b)), 0);
    assert_string_equal(gi.name, "test");
    assert_string_equal(gi.uuid, DEFAULT_UUID);
    assert_int_equal(gi.pid, 0); /* the test driver has no processes */

    /* The tags: AVAILABLE is the guest's total, USABLE its MemAvailable;
     * the test driver derives them from the balloon (PEERS §4.4). */
    mom_hv_memory_stats st;
    assert_int_equal(mem_stats(b, DEFAULT_UUID, &st), 0);
    assert_true(st.present & MOM_HV_MEM_AVAILABLE);
    assert_int_equal(st.mem_available, 2097152);
    assert_int_equal(st.mem_unused, 1048576);
    assert_int_equal(st.mem_usable, 1048576);
    assert_int_equal(st.mem_free, 1048576 + 262144); /* unused + disk caches */
    assert_true((st.present & (MOM_HV_SWAP_IN | MOM_HV_SWAP_OUT | MOM_HV_MAJOR_FAULT |
                               MOM_HV_MINOR_FAULT)) ==
                (MOM_HV_SWAP_IN | MOM_HV_SWAP_OUT | MOM_HV_MAJOR_FAULT | MOM_HV_MINOR_FAULT));
    assert_false(st.present & (MOM_HV_SWAP_TOTAL | MOM_HV_SWAP_USAGE));

    mom_hv_balloon_info bi;
    assert_int_equal(balloon(b, DEFAULT_UUID, &bi), 0);
    assert_int_equal(bi.balloon_cur, 2097152);
    assert_int_equal(bi.balloon_max, 8388608);
    assert_int_equal(bi.balloon_min, 0);

    /* Set the target: the driver shows it, and so do the next readings
     * (no stale cache). */
    assert_int_equal(OPS(b)->set_vm_balloon_target(DEFAULT_UUID, 1536 * MIB, UD(b)), 0);
    assert_int_equal(driver_memory(b, DEFAULT_UUID), 1536 * MIB);
    assert_int_equal(balloon(b, DEFAULT_UUID, &bi), 0);
    assert_int_equal(bi.balloon_cur, 1536 * MIB);
    assert_int_equal(mem_stats(b, DEFAULT_UUID, &st), 0);
    assert_int_equal(st.mem_available, 1536 * MIB);
    /* above the maximum: the driver refuses, and the error is logged once */
    assert_int_equal(OPS(b)->set_vm_balloon_target(DEFAULT_UUID, 99999999, UD(b)), -EIO);
    assert_int_equal(OPS(b)->set_vm_balloon_target(DEFAULT_UUID, 99999999, UD(b)), -EIO);
    assert_int_equal(cap_count(&b->cap, "set balloon target failed"), 1);
    assert_int_equal(OPS(b)->set_vm_balloon_target(DEFAULT_UUID, -5, UD(b)), -EINVAL);

    /* The statistics period reaches the domain's XML. */
    assert_int_equal(OPS(b)->start_vm_memory_stats(DEFAULT_UUID, 7, UD(b)), 0);
    virConnectPtr c = be_conn(b);
    virDomainPtr d = virDomainLookupByUUIDString(c, DEFAULT_UUID);
    char *xml = virDomainGetXMLDesc(d, 0);
    assert_non_null(strstr(xml, "<stats period='7'/>"));
    free(xml);

    /* CPU tune: the test driver has only "weight", so quota and period are
     * 0, and setting them is not supported. */
    mom_hv_cpu_tune_info ci = {.size = sizeof(ci)};
    assert_int_equal(OPS(b)->get_vm_cpu_tune_info(DEFAULT_UUID, &ci, UD(b)), 0);
    assert_int_equal(ci.vcpu_quota, 0);
    assert_int_equal(ci.vcpu_period, 0);
    assert_int_equal(ci.vcpu_user_limit, 100);
    assert_int_equal(ci.vcpu_count, 2);
    assert_int_equal(OPS(b)->set_vm_cpu_tune(DEFAULT_UUID, 50000, 100000, UD(b)), -ENOTSUP);

    /* I/O tune: one disk, all limits 0; no policy metadata. */
    mom_hv_disk_list dl = {0};
    assert_int_equal(OPS(b)->get_vm_io_tune(DEFAULT_UUID, &dl, UD(b)), 0);
    assert_int_equal(mom_value_len(dl.list), 1);
    const mom_value *e = mom_value_at(dl.list, 0);
    assert_string_equal(mom_value_string(mom_value_get(e, "name")), "vda");
    assert_string_equal(mom_value_string(mom_value_get(e, "path")), "/guest/diskimage1");
    assert_int_equal(mom_value_int(mom_value_get(mom_value_get(e, "ioTune"), "total_bytes_sec")), 0);
    mom_value_unref(dl.list);
    dl.list = NULL;
    assert_int_equal(OPS(b)->get_vm_io_tune_policy(DEFAULT_UUID, &dl, UD(b)), 0);
    assert_null(dl.list);

    /* KSM is not the backend's: the engine writes sysfs. */
    assert_null(OPS(b)->ksm_tune);
    assert_false(hv_has(&b->h, "ksm_tune"));

    /* Metadata set on the live domain shows up once the cache is told
     * (here by its TTL). */
    assert_int_equal(virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT,
                                          "<qos><vcpuLimit>33</vcpuLimit></qos>", "t",
                                          LIBVIRT_XML_TUNE_NS, VIR_DOMAIN_AFFECT_LIVE),
                     0);
    libvirt_test_set_xml_ttl(UD(b), 0);
    assert_int_equal(OPS(b)->get_vm_cpu_tune_info(DEFAULT_UUID, &ci, UD(b)), 0);
    assert_int_equal(ci.vcpu_user_limit, 33);
    virDomainFree(d);
    virConnectClose(c);
    be_free(b);
}

/* Two calls per guest per cycle once the XML is cached (memory
 * statistics and domain info); the first cycle adds the XML. */
static void test_calls_per_guest(void **state)
{
    (void)state;
    be *b = be_new("test:///default", NULL);
    mom_hv_list l;
    list_ids(b, &l);
    hv_list_done(&l);
    mom_hv_memory_stats st;
    mom_hv_balloon_info bi;
    mom_hv_cpu_tune_info ci = {.size = sizeof(ci)};
    uint64_t c0 = libvirt_call_count(UD(b));
    assert_int_equal(mem_stats(b, DEFAULT_UUID, &st), 0);
    assert_int_equal(balloon(b, DEFAULT_UUID, &bi), 0);
    uint64_t first = libvirt_call_count(UD(b)) - c0;
    assert_true(first <= 4); /* XML, bulk probe, stats, info */
    usleep(600000); /* the next cycle */
    c0 = libvirt_call_count(UD(b));
    assert_int_equal(mem_stats(b, DEFAULT_UUID, &st), 0);
    assert_int_equal(balloon(b, DEFAULT_UUID, &bi), 0);
    /* CPU tune in the same collection reuses the domain info */
    assert_int_equal(OPS(b)->get_vm_cpu_tune_info(DEFAULT_UUID, &ci, UD(b)), 0);
    assert_int_equal(libvirt_call_count(UD(b)) - c0, 3);
    be_free(b);
}

/* ---- node files ---------------------------------------------------------------- */

static unsigned flags_mixed(int i)
{
    switch (i) {
    case 1: return D_META | D_MIN;
    case 2: return D_NO_BALLOON;
    case 3: return D_SHUTOFF;
    default: return 0;
    }
}

static void test_node_file_metadata_iotune_min(void **state)
{
    (void)state;
    node nd;
    node_write(&nd, 4, flags_mixed);
    be *b = be_new(nd.uri, NULL);
    char u1[64], u2[64], u3[64], u4[64];
    uuid_of(1, u1, sizeof(u1));
    uuid_of(2, u2, sizeof(u2));
    uuid_of(3, u3, sizeof(u3));
    uuid_of(4, u4, sizeof(u4));
    mom_hv_list l;
    assert_int_equal(list_ids(b, &l), 3); /* g0003 is shut off */
    hv_list_done(&l);
    assert_false(list_has(b, u3));

    mom_hv_balloon_info bi;
    assert_int_equal(balloon(b, u1, &bi), 0);
    assert_int_equal(bi.balloon_min, 128 * MIB); /* unit='MiB' honoured */
    assert_int_equal(bi.balloon_cur, 513 * MIB);
    assert_int_equal(bi.balloon_max, 1024 * MIB);
    assert_int_equal(balloon(b, u4, &bi), 0);
    assert_int_equal(bi.balloon_min, 0);

    mom_hv_cpu_tune_info ci = {.size = sizeof(ci)};
    assert_int_equal(OPS(b)->get_vm_cpu_tune_info(u1, &ci, UD(b)), 0);
    assert_int_equal(ci.vcpu_user_limit, 42);
    assert_int_equal(ci.vcpu_count, 2);
    assert_int_equal(OPS(b)->get_vm_cpu_tune_info(u4, &ci, UD(b)), 0);
    assert_int_equal(ci.vcpu_user_limit, 100);

    /* The ioTune policy of the metadata. */
    mom_hv_disk_list dl = {0};
    assert_int_equal(OPS(b)->get_vm_io_tune_policy(u1, &dl, UD(b)), 0);
    assert_int_equal(mom_value_len(dl.list), 1);
    const mom_value *p = mom_value_at(dl.list, 0);
    assert_string_equal(mom_value_string(mom_value_get(p, "name")), "vda");
    assert_string_equal(mom_value_string(mom_value_get(p, "path")), "/img/g0001.img");
    const mom_value *g = mom_value_get(p, "guaranteed");
    assert_int_equal(mom_value_int(mom_value_get(g, "total_bytes_sec")), 1000);
    assert_int_equal(mom_value_int(mom_value_get(g, "read_iops_sec")), 5);
    assert_int_equal(mom_value_type_of(mom_value_get(g, "write_iops_sec")), MOM_VALUE_NONE);
    assert_int_equal(
        mom_value_int(mom_value_get(mom_value_get(p, "maximum"), "total_bytes_sec")), 9000000);
    mom_value_unref(dl.list);

    /* Set I/O limits on the disk (by name), then read them back through the
     * backend and through the driver; the cdrom is not a tunable disk. */
    mom_hv_disk_tune t = {.name = "vda", .path = "/img/g0001.img"};
    t.io_tune.present = MOM_HV_TOTAL_BYTES_SEC | MOM_HV_READ_IOPS_SEC;
    t.io_tune.total_bytes_sec = 5000000;
    t.io_tune.read_iops_sec = 300;
    assert_int_equal(OPS(b)->set_vm_io_tune(u1, &t, 1, UD(b)), 0);
    dl.list = NULL;
    assert_int_equal(OPS(b)->get_vm_io_tune(u1, &dl, UD(b)), 0);
    assert_int_equal(mom_value_len(dl.list), 1);
    const mom_value *cur = mom_value_get(mom_value_at(dl.list, 0), "ioTune");
    assert_int_equal(mom_value_int(mom_value_get(cur, "total_bytes_sec")), 5000000);
    assert_int_equal(mom_value_int(mom_value_get(cur, "read_iops_sec")), 300);
    assert_int_equal(mom_value_int(mom_value_get(cur, "write_bytes_sec")), 0);
    mom_value_unref(dl.list);
    virConnectPtr c = be_conn(b);
    virDomainPtr d = virDomainLookupByUUIDString(c, u1);
    virTypedParameter prm[32];
    int np = 32;
    assert_int_equal(virDomainGetBlockIoTune(d, "vda", prm, &np, VIR_DOMAIN_AFFECT_LIVE), 0);
    unsigned long long tbs = 0;
    for (int i = 0; i < np; i++)
        if (strcmp(prm[i].field, "total_bytes_sec") == 0)
            tbs = prm[i].value.ul;
    virTypedParamsClear(prm, np);
    assert_int_equal(tbs, 5000000);
    /* by path works too; a limit above the disk's maximum is refused */
    t.name = NULL;
    t.io_tune.total_bytes_sec = 200000000;
    assert_int_equal(OPS(b)->set_vm_io_tune(u1, &t, 1, UD(b)), -EIO);
    virDomainFree(d);
    virConnectClose(c);
    be_free(b);
    node_remove(&nd);
}

/* A guest without a balloon device: no statistics and no balloon (the
 * collectors log that once), no call to libvirt for them, and the other
 * guests are not disturbed. */
static void test_guest_without_balloon(void **state)
{
    (void)state;
    node nd;
    node_write(&nd, 4, flags_mixed);
    be *b = be_new(nd.uri, NULL);
    char u2[64], u4[64];
    uuid_of(2, u2, sizeof(u2));
    uuid_of(4, u4, sizeof(u4));
    mom_hv_list l;
    list_ids(b, &l);
    hv_list_done(&l);
    mom_hv_memory_stats st;
    mom_hv_balloon_info bi;
    assert_int_equal(mem_stats(b, u2, &st), -ENODATA);
    uint64_t c0 = libvirt_call_count(UD(b));
    assert_int_equal(mem_stats(b, u2, &st), -ENODATA);
    assert_int_equal(balloon(b, u2, &bi), -ENODATA);
    assert_int_equal(OPS(b)->set_vm_balloon_target(u2, 600 * MIB, UD(b)), -ENOTSUP);
    assert_int_equal(OPS(b)->start_vm_memory_stats(u2, 5, UD(b)), -ENOTSUP);
    assert_int_equal(libvirt_call_count(UD(b)), c0); /* all from the cached XML */
    assert_int_equal(mem_stats(b, u4, &st), 0);
    assert_int_equal(st.mem_available, 516 * MIB);
    assert_int_equal(cap_warnings(&b->cap), 0);
    be_free(b);
    node_remove(&nd);
}

/* A domain destroyed (or undefined) between the listing and the call:
 * -ENOENT, silently, and the others still answer. */
static void test_domain_disappears_mid_call(void **state)
{
    (void)state;
    node nd;
    node_write(&nd, 5, NULL);
    be *b = be_new(nd.uri, NULL);
    char u1[64], u2[64], u5[64];
    uuid_of(1, u1, sizeof(u1));
    uuid_of(2, u2, sizeof(u2));
    uuid_of(5, u5, sizeof(u5));
    mom_hv_list l;
    assert_int_equal(list_ids(b, &l), 5);
    hv_list_done(&l);
    virConnectPtr c = be_conn(b);
    virDomainPtr d1 = virDomainLookupByUUIDString(c, u1);
    virDomainPtr d2 = virDomainLookupByUUIDString(c, u2);
    assert_int_equal(virDomainDestroy(d1), 0);
    assert_int_equal(virDomainDestroy(d2), 0);
    assert_int_equal(virDomainUndefine(d2), 0);
    mom_hv_memory_stats st;
    mom_hv_balloon_info bi;
    mom_hv_guest_info gi = {.size = sizeof(gi)};
    mom_hv_cpu_tune_info ci = {.size = sizeof(ci)};
    assert_int_equal(mem_stats(b, u1, &st), -ENOENT);       /* not running */
    assert_int_equal(balloon(b, u1, &bi), -ENOENT);
    assert_int_equal(OPS(b)->get_vm_cpu_tune_info(u1, &ci, UD(b)), -ENOENT);
    assert_int_equal(mem_stats(b, u2, &st), -ENOENT);       /* gone altogether */
    assert_int_equal(OPS(b)->set_vm_balloon_target(u2, 600 * MIB, UD(b)), -ENOENT);
    assert_int_equal(OPS(b)->get_vm_info("00000000-0000-0000-0000-000000000009", &gi, UD(b)),
                     -ENOENT);
    assert_int_equal(mem_stats(b, u5, &st), 0);
    assert_int_equal(st.mem_available, 517 * MIB);
    assert_int_equal(list_ids(b, &l), 3);
    hv_list_done(&l);
    assert_int_equal(cap_warnings(&b->cap), 0); /* nothing logged for it */
    virDomainFree(d1);
    virDomainFree(d2);
    virConnectClose(c);
    be_free(b);
    node_remove(&nd);
}

/* Injected libvirt errors map to the contract's codes; an unexpected one
 * is logged once per streak; a connection error drops the connection and
 * the next call reconnects. */
static void test_error_mapping_and_reconnect(void **state)
{
    (void)state;
    node nd;
    node_write(&nd, 2, NULL);
    be *b = be_new(nd.uri, NULL);
    char u1[64];
    uuid_of(1, u1, sizeof(u1));
    mom_hv_list l;
    list_ids(b, &l);
    hv_list_done(&l);
    mom_hv_memory_stats st;
    libvirt_test_fail_next(UD(b), u1, VIR_ERR_NO_DOMAIN);
    assert_int_equal(mem_stats(b, u1, &st), -ENOENT);
    libvirt_test_fail_next(UD(b), u1, VIR_ERR_OPERATION_TIMEOUT);
    assert_int_equal(mem_stats(b, u1, &st), -ETIMEDOUT);
    libvirt_test_fail_next(UD(b), u1, VIR_ERR_NO_SUPPORT);
    assert_int_equal(mem_stats(b, u1, &st), -ENOTSUP);
    for (int i = 0; i < 3; i++) {
        libvirt_test_fail_next(UD(b), u1, VIR_ERR_INTERNAL_ERROR);
        assert_int_equal(mem_stats(b, u1, &st), -EIO);
    }
    assert_int_equal(cap_count(&b->cap, "memory statistics failed"), 1);
    assert_int_equal(mem_stats(b, u1, &st), 0); /* re-arms the log */
    libvirt_test_fail_next(UD(b), u1, VIR_ERR_INTERNAL_ERROR);
    assert_int_equal(mem_stats(b, u1, &st), -EIO);
    assert_int_equal(cap_count(&b->cap, "memory statistics failed"), 2);

    /* A connection error on a guest call, then on the listing. */
    assert_true(libvirt_test_connected(UD(b)));
    libvirt_test_fail_next(UD(b), u1, VIR_ERR_INVALID_CONN);
    assert_int_equal(mem_stats(b, u1, &st), -EIO);
    assert_false(libvirt_test_connected(UD(b)));
    assert_int_equal(cap_count(&b->cap, "connection to libvirt lost"), 1);
    assert_int_equal(mem_stats(b, u1, &st), 0); /* reconnected at once */
    assert_true(libvirt_test_connected(UD(b)));
    assert_int_equal(cap_count(&b->cap, "connection restored"), 1);
    libvirt_test_fail_next(UD(b), NULL, VIR_ERR_SYSTEM_ERROR);
    hv_list_init(&l);
    assert_int_equal(OPS(b)->get_vm_list(&l, UD(b)), -EIO);
    hv_list_done(&l);
    assert_int_equal(list_ids(b, &l), 2);
    hv_list_done(&l);
    assert_int_equal(cap_count(&b->cap, "connection to libvirt lost"), 2);

    /* libvirt's close callback (as when libvirtd exits) */
    libvirt_test_break(UD(b));
    assert_int_equal(list_ids(b, &l), 2);
    hv_list_done(&l);
    assert_int_equal(cap_count(&b->cap, "connection to libvirt lost"), 3);
    assert_int_equal(cap_count(&b->cap, "connection restored"), 3);
    be_free(b);
    node_remove(&nd);
}

/* A URI that cannot be opened: -EIO, retried with a doubling backoff (no
 * attempt in between), logged once at warning level; once the node file
 * exists the backend connects. */
static void test_never_connected_backoff(void **state)
{
    (void)state;
    node nd;
    node_write(&nd, 3, NULL);
    char later[PATH_MAX + 32];
    snprintf(later, sizeof(later), "%s/later.xml", nd.dir);
    char uri[PATH_MAX + 64];
    snprintf(uri, sizeof(uri), "test://%s", later);
    be *b = be_new(uri, NULL);
    libvirt_test_set_backoff(UD(b), 0.2, 0.4);
    mom_hv_list l;
    hv_list_init(&l);
    uint64_t c0 = libvirt_call_count(UD(b));
    assert_int_equal(OPS(b)->get_vm_list(&l, UD(b)), -EIO);
    assert_int_equal(libvirt_call_count(UD(b)) - c0, 1);
    assert_int_equal(OPS(b)->get_vm_list(&l, UD(b)), -EIO); /* within the backoff */
    mom_hv_memory_stats st;
    assert_int_equal(mem_stats(b, DEFAULT_UUID, &st), -EIO);
    assert_int_equal(libvirt_call_count(UD(b)) - c0, 1);
    usleep(250000);
    assert_int_equal(OPS(b)->get_vm_list(&l, UD(b)), -EIO); /* second attempt, 0.4 s next */
    assert_int_equal(libvirt_call_count(UD(b)) - c0, 2);
    usleep(250000);
    assert_int_equal(OPS(b)->get_vm_list(&l, UD(b)), -EIO); /* not yet */
    assert_int_equal(libvirt_call_count(UD(b)) - c0, 2);
    assert_int_equal(cap_count(&b->cap, "cannot connect to libvirt"), 2);
    assert_int_equal(cap_count(&b->cap, "3 mom.libvirt: cannot connect"), 1); /* one warning */
    assert_int_equal(rename(nd.path, later), 0);
    usleep(200000);
    assert_int_equal(OPS(b)->get_vm_list(&l, UD(b)), 0);
    assert_int_equal(l.n, 3);
    hv_list_done(&l);
    assert_int_equal(cap_count(&b->cap, "connected to libvirt at"), 1);
    be_free(b);
    node_remove(&nd);
}

/* Lifecycle events: creating and destroying a domain on the backend's
 * connection wakes the engine and refreshes the guest's cached XML. */
static void test_lifecycle_events(void **state)
{
    (void)state;
    node nd;
    node_write(&nd, 2, NULL);
    be *b = be_new(nd.uri, NULL);
    mom_hv_list l;
    list_ids(b, &l);
    hv_list_done(&l);
    virConnectPtr c = be_conn(b);
    char *xml = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&xml, &len);
    write_domain(o, 77, D_META, false);
    fclose(o);
    int w0 = atomic_load(&b->wakes);
    virDomainPtr d = virDomainCreateXML(c, xml, 0);
    free(xml);
    assert_non_null(d);
    assert_true(WAIT_FOR(atomic_load(&b->wakes) > w0, 3000));
    assert_true(libvirt_event_count(UD(b)) >= 1);
    char u77[64];
    uuid_of(77, u77, sizeof(u77));
    assert_true(list_has(b, u77));

    /* The cached XML is refreshed after an event: change the metadata and
     * suspend/resume the domain. */
    mom_hv_cpu_tune_info ci = {.size = sizeof(ci)};
    assert_int_equal(OPS(b)->get_vm_cpu_tune_info(u77, &ci, UD(b)), 0);
    assert_int_equal(ci.vcpu_user_limit, 42);
    assert_int_equal(virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT,
                                          "<qos><vcpuLimit>17</vcpuLimit></qos>", "t",
                                          LIBVIRT_XML_TUNE_NS, VIR_DOMAIN_AFFECT_LIVE),
                     0);
    assert_int_equal(OPS(b)->get_vm_cpu_tune_info(u77, &ci, UD(b)), 0);
    assert_int_equal(ci.vcpu_user_limit, 42); /* cached */
    uint64_t ev = libvirt_event_count(UD(b));
    assert_int_equal(virDomainSuspend(d), 0);
    assert_true(WAIT_FOR(libvirt_event_count(UD(b)) > ev, 3000));
    assert_int_equal(OPS(b)->get_vm_cpu_tune_info(u77, &ci, UD(b)), 0);
    assert_int_equal(ci.vcpu_user_limit, 17);
    assert_true(list_has(b, u77)); /* paused domains are listed */

    int w1 = atomic_load(&b->wakes);
    assert_int_equal(virDomainDestroy(d), 0);
    assert_true(WAIT_FOR(atomic_load(&b->wakes) > w1, 3000));
    assert_false(list_has(b, u77));
    virDomainFree(d);
    virConnectClose(c);
    be_free(b);
    node_remove(&nd);
}

/* The QEMU pid: libvirt's pid file when the process's command line holds
 * the UUID, else the one process whose command line does. */
static void test_pid_lookup(void **state)
{
    (void)state;
    node nd;
    node_write(&nd, 2, NULL);
    char u1[64], u2[64];
    uuid_of(1, u1, sizeof(u1));
    uuid_of(2, u2, sizeof(u2));
    char proc[PATH_MAX + 16], run[PATH_MAX + 16], p[PATH_MAX + 64];
    snprintf(proc, sizeof(proc), "%s/proc", nd.dir);
    snprintf(run, sizeof(run), "%s/run", nd.dir);
    assert_int_equal(mkdir(proc, 0755), 0);
    assert_int_equal(mkdir(run, 0755), 0);
    /* pid 123: g0001's QEMU; 456: g0002's; 789: something else */
    const struct {
        int pid;
        const char *uuid;
    } procs[] = {{123, u1}, {456, u2}, {789, "none"}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%d", proc, procs[i].pid);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/%d/comm", proc, procs[i].pid);
        FILE *o = fopen(p, "we");
        fputs("qemu-system-x86\n", o);
        fclose(o);
        snprintf(p, sizeof(p), "%s/%d/cmdline", proc, procs[i].pid);
        o = fopen(p, "we");
        fprintf(o, "qemu-system-x86_64%c-uuid%c%s%c-m%c1024", 0, 0, procs[i].uuid, 0, 0);
        fclose(o);
    }
    snprintf(p, sizeof(p), "%s/g0001.pid", run);
    FILE *o = fopen(p, "we");
    fputs("123", o);
    fclose(o);
    /* g0002's pid file is stale (names pid 789): the scan finds 456 */
    snprintf(p, sizeof(p), "%s/g0002.pid", run);
    o = fopen(p, "we");
    fputs("789\n", o);
    fclose(o);
    char extra[PATH_MAX + 32];
    snprintf(extra, sizeof(extra), "proc-root: %s\n", proc);
    be *b = be_new(nd.uri, extra);
    assert_int_equal(libvirt_test_set_pid_dir(UD(b), run, true), 0);
    mom_hv_list l;
    list_ids(b, &l);
    hv_list_done(&l);
    mom_hv_guest_info gi = {.size = sizeof(gi)};
    assert_int_equal(OPS(b)->get_vm_info(u1, &gi, UD(b)), 0);
    assert_int_equal(gi.pid, 123);
    assert_int_equal(OPS(b)->get_vm_info(u2, &gi, UD(b)), 0);
    assert_int_equal(gi.pid, 456);
    assert_string_equal(gi.name, "g0002");
    be_free(b);

    /* two processes claim the UUID (and no pid file tells): unknown */
    snprintf(p, sizeof(p), "%s/g0002.pid", run);
    assert_int_equal(unlink(p), 0);
    snprintf(p, sizeof(p), "%s/789/cmdline", proc);
    o = fopen(p, "we");
    fprintf(o, "qemu%c-uuid%c%s", 0, 0, u2);
    fclose(o);
    b = be_new(nd.uri, extra);
    assert_int_equal(libvirt_test_set_pid_dir(UD(b), run, true), 0);
    list_ids(b, &l);
    hv_list_done(&l);
    assert_int_equal(OPS(b)->get_vm_info(u2, &gi, UD(b)), 0);
    assert_int_equal(gi.pid, 0);
    be_free(b);
    node_remove(&nd);
}

/* Hundreds of domains from one node file: all listed, every one answers
 * with its own values, and a warm cycle costs two calls per guest. */
static void test_hundreds_of_domains(void **state)
{
    (void)state;
    enum { N = 300 };
    node nd;
    node_write(&nd, N, NULL);
    be *b = be_new(nd.uri, NULL);
    mom_hv_list l;
    assert_int_equal(list_ids(b, &l), N);
    for (int round = 0; round < 2; round++) {
        usleep(600000); /* one cycle after the other */
        uint64_t c0 = libvirt_call_count(UD(b));
        for (size_t i = 0; i < l.n; i++) {
            mom_hv_memory_stats st;
            mom_hv_balloon_info bi;
            assert_int_equal(mem_stats(b, l.ids[i], &st), 0);
            assert_int_equal(balloon(b, l.ids[i], &bi), 0);
            int idx = atoi(l.ids[i] + 24);
            assert_int_equal(st.mem_available, 512 * MIB + idx * MIB);
            assert_int_equal(bi.balloon_cur, 512 * MIB + idx * MIB);
        }
        uint64_t calls = libvirt_call_count(UD(b)) - c0;
        if (round == 0)
            assert_true(calls <= 3 * N + 1);
        else
            assert_int_equal(calls, 2 * N);
    }
    hv_list_done(&l);
    be_free(b);
    node_remove(&nd);
}

/* ---- parsers -------------------------------------------------------------------- */

static void test_parse_domain_xml(void **state)
{
    (void)state;
    libvirt_xml_domain d;
    const char *x =
        "<domain type='kvm'><name>a</name>"
        "<memtune><hard_limit>9</hard_limit><min_guarantee unit='GiB'>2</min_guarantee></memtune>"
        "<metadata><other xmlns='urn:x'><vcpuLimit>1</vcpuLimit></other>"
        "<q:qos xmlns:q='http://ovirt.org/vm/tune/1.0'><q:vcpuLimit> 75 </q:vcpuLimit>"
        "<q:ioTune><q:device name='sdb'><q:maximum><q:write_iops_sec>40</q:write_iops_sec>"
        "</q:maximum></q:device><q:device path='/dev/x'/></q:ioTune></q:qos></metadata>"
        "<devices>"
        "<disk type='network' device='disk'><source protocol='rbd' name='pool/img'/>"
        "<target dev='sdb'/></disk>"
        "<disk type='block'><source dev='/dev/vg/lv'/><target dev='vdc'/></disk>"
        "<disk type='file' device='cdrom'><source file='/iso'/><target dev='hdc'/></disk>"
        "<memballoon model='virtio'/></devices></domain>";
    assert_int_equal(libvirt_xml_parse_domain(x, &d), 0);
    assert_true(d.has_balloon);
    assert_int_equal(d.balloon_min, 2 * 1024 * 1024);
    assert_int_equal(d.vcpu_user_limit, 75); /* the tune namespace's, not urn:x's */
    assert_int_equal(d.n_disks, 2);
    assert_string_equal(d.disks[0].name, "sdb");
    assert_string_equal(d.disks[0].path, "pool/img");
    assert_string_equal(d.disks[1].path, "/dev/vg/lv");
    assert_int_equal(d.n_policy, 2);
    assert_string_equal(d.policy[0].name, "sdb");
    assert_null(d.policy[0].path);
    assert_int_equal(d.policy[0].maximum.present, MOM_HV_WRITE_IOPS_SEC);
    assert_int_equal(d.policy[0].maximum.write_iops_sec, 40);
    assert_int_equal(d.policy[0].guaranteed.present, 0);
    assert_string_equal(d.policy[1].path, "/dev/x");
    libvirt_xml_domain_done(&d);

    /* units, absent pieces */
    static const struct {
        const char *mg;
        int64_t kib;
    } units[] = {
        {"<min_guarantee>4096</min_guarantee>", 4096},
        {"<min_guarantee unit='bytes'>4096</min_guarantee>", 4},
        {"<min_guarantee unit='KB'>1024</min_guarantee>", 1000},
        {"<min_guarantee unit='m'>3</min_guarantee>", 3072},
        {"<min_guarantee unit='parsecs'>3</min_guarantee>", 0},
        {"<min_guarantee>-3</min_guarantee>", 0},
        {"<min_guarantee>12x</min_guarantee>", 0},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        char buf[512];
        snprintf(buf, sizeof(buf),
                 "<domain><memtune>%s</memtune><devices><memballoon model='none'/></devices>"
                 "</domain>",
                 units[i].mg);
        assert_int_equal(libvirt_xml_parse_domain(buf, &d), 0);
        assert_int_equal(d.balloon_min, units[i].kib);
        assert_false(d.has_balloon);
        assert_int_equal(d.vcpu_user_limit, 100);
        libvirt_xml_domain_done(&d);
    }
    assert_int_equal(libvirt_xml_parse_domain("<domain/>", &d), 0);
    assert_false(d.has_balloon); /* no device at all */
    libvirt_xml_domain_done(&d);
    assert_int_equal(libvirt_xml_parse_domain("<network/>", &d), -EINVAL);
    assert_int_equal(libvirt_xml_parse_domain("<domain><unclosed>", &d), -EINVAL);
    assert_int_equal(libvirt_xml_parse_domain(NULL, &d), -EINVAL);
}

static void test_parse_stats(void **state)
{
    (void)state;
    virTypedParameter p[12];
    memset(p, 0, sizeof(p));
    const struct {
        const char *f;
        unsigned long long v;
    } in[] = {
        {"balloon.current", 1500000}, {"balloon.maximum", 2000000}, {"balloon.swap_in", 7},
        {"balloon.swap_out", 8},      {"balloon.major_fault", 9},   {"balloon.minor_fault", 10},
        {"balloon.unused", 400000},   {"balloon.available", 1400000},
        {"balloon.usable", 900000},   {"balloon.disk_caches", 300000},
        {"balloon.rss", 1600000},     {"balloon.last-update", 1700000000},
    };
    for (int i = 0; i < 12; i++) {
        snprintf(p[i].field, sizeof(p[i].field), "%s", in[i].f);
        p[i].type = VIR_TYPED_PARAM_ULLONG;
        p[i].value.ul = in[i].v;
    }
    libvirt_xml_bulk b;
    libvirt_xml_parse_bulk(p, 12, &b);
    assert_true(b.has_cur && b.has_max);
    assert_int_equal(b.cur, 1500000);
    assert_int_equal(b.max, 2000000);
    assert_int_equal(b.mem.mem_available, 1400000); /* "available": the guest's total */
    assert_int_equal(b.mem.mem_usable, 900000);     /* "usable": MemAvailable */
    assert_int_equal(b.mem.mem_unused, 400000);
    assert_int_equal(b.mem.mem_free, 700000);
    assert_int_equal(b.mem.swap_in, 7);
    assert_int_equal(b.mem.swap_out, 8);
    assert_int_equal(b.mem.major_fault, 9);
    assert_int_equal(b.mem.minor_fault, 10);
    assert_false(b.mem.present & (MOM_HV_SWAP_TOTAL | MOM_HV_SWAP_USAGE));
    /* a guest that never reported: only the host's figures */
    libvirt_xml_parse_bulk(p, 2, &b);
    assert_int_equal(b.mem.present, 0);
    assert_true(b.has_cur);

    virDomainMemoryStatStruct st[4] = {
        {VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON, 100},
        {VIR_DOMAIN_MEMORY_STAT_RSS, 200},
        {VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE, 0},
        {VIR_DOMAIN_MEMORY_STAT_UNUSED, 50},
    };
    mom_hv_memory_stats m = {.size = sizeof(m)};
    assert_false(libvirt_xml_map_memstats(st, 3, &m)); /* balloon and rss only */
    assert_true(libvirt_xml_map_memstats(st, 4, &m));
    assert_int_equal(m.present, MOM_HV_MEM_UNUSED); /* no caches: no mem_free */
    assert_int_equal(m.mem_unused, 50);
}

/* ---- under a running engine ------------------------------------------------------ */

static const char *engine_policy =
    "(with Guests guest {\n"
    "    (guest.Control \"balloon_target\" (- guest.balloon_max 262144))\n"
    "    (if (valid guest.io_tune)\n"
    "        (with guest.io_tune tune (tune.setTotalBytesSec 7000000))\n"
    "        0)\n"
    "})\n"
    "(Host.Control \"ksm_run\" 1)\n"
    "(Host.Control \"ksm_pages_to_scan\" 321)\n";

typedef struct eng {
    node nd;
    char ksm[PATH_MAX + 64];
    char sys[PATH_MAX + 32];
    logcap cap;
    mom_engine *e;
} eng;

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *o = fopen(p, "we");
    assert_non_null(o);
    fputs(text, o);
    fclose(o);
}

static eng *eng_start(int n, unsigned (*flags_of)(int), const char *uri_override)
{
    eng *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    pthread_mutex_init(&g->cap.mu, NULL);
    node_write(&g->nd, n, flags_of);
    /* a private KSM directory: the KSM controller writes there, not to
     * libvirt (which cannot start or stop ksmd) */
    snprintf(g->sys, sizeof(g->sys), "%s/sys", g->nd.dir);
    char p[PATH_MAX + 64];
    const char *parts[] = {"", "/kernel", "/kernel/mm", "/kernel/mm/ksm"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s%s", g->sys, parts[i]);
        assert_int_equal(mkdir(p, 0755), 0);
    }
    snprintf(g->ksm, sizeof(g->ksm), "%s/kernel/mm/ksm", g->sys);
    const char *ksm_files[] = {"run", "sleep_millisecs", "pages_to_scan", "merge_across_nodes",
                               "pages_shared", "pages_sharing", "pages_unshared",
                               "pages_volatile", "full_scans"};
    for (size_t i = 0; i < 9; i++)
        write_file(g->ksm, ksm_files[i], i == 1 ? "20\n" : i == 2 ? "100\n" : "0\n");
    char policy[PATH_MAX + 32];
    snprintf(policy, sizeof(policy), "%s/p.policy", g->nd.dir);
    write_file(g->nd.dir, "p.policy", engine_policy);

    const mom_config_override ov[] = {
        {"main", "hypervisor-interface", "libvirt"},
        {"main", "libvirt-hypervisor-uri", uri_override ? uri_override : g->nd.uri},
        {"main", "host-monitor-interval", "1"},
        {"main", "guest-monitor-interval", "1"},
        /* long on purpose: new guests must come through events */
        {"main", "guest-manager-interval", "60"},
        {"main", "policy-engine-interval", "1"},
        {"main", "sysfs-root", g->sys},
        {"main", "policy", policy},
        {"main", "controllers", "Balloon, IoTune, KSM"},
        {"host", "collectors", "HostMemory, HostKSM"},
        {"guest", "collectors",
         "GuestMemory, GuestBalloon, GuestCpuTune, GuestIoTuneOptional"},
    };
    mom_config cfg;
    mom_config_init(&cfg);
    cfg.overrides = ov;
    cfg.n_overrides = sizeof(ov) / sizeof(ov[0]);
    cfg.log_fn = cap_log;
    cfg.log_userdata = &g->cap;
    cfg.log_level = MOM_LOG_DEBUG;
    assert_int_equal(mom_engine_new(&cfg, &g->e), 0);
    assert_int_equal(mom_engine_start(g->e), 0);
    return g;
}

static void *eng_ud(eng *g)
{
    return g->e->hv.userdata;
}

static void eng_stop(eng *g)
{
    mom_engine_free(g->e);
    node_remove(&g->nd);
    pthread_mutex_destroy(&g->cap.mu);
    free(g);
}

static size_t n_active(mom_engine *e)
{
    mom_value *l = NULL;
    assert_int_equal(mom_engine_get_active_guests(e, &l), 0);
    size_t n = mom_value_len(l);
    mom_value_unref(l);
    return n;
}

static bool has_guest(mom_engine *e, const char *name)
{
    mom_value *l = NULL;
    assert_int_equal(mom_engine_get_active_guests(e, &l), 0);
    bool found = false;
    for (size_t i = 0; i < mom_value_len(l); i++)
        if (strcmp(mom_value_string(mom_value_at(l, i)), name) == 0)
            found = true;
    mom_value_unref(l);
    return found;
}

static int64_t guest_stat(mom_engine *e, const char *guest, const char *field)
{
    mom_value *s = NULL;
    assert_int_equal(mom_engine_get_statistics(e, &s), 0);
    const mom_value *g = mom_value_get(mom_value_get(s, "guests"), guest);
    const mom_value *v = g ? mom_value_get(g, field) : NULL;
    int64_t r = v && mom_value_type_of(v) == MOM_VALUE_INT ? mom_value_int(v) : -1;
    mom_value_unref(s);
    return r;
}

/* The host sample's time_* would be HostTime's; use mem_available and a
 * changing counter instead: the published snapshot's time. */
static double host_stat(mom_engine *e, const char *field)
{
    mom_value *s = NULL;
    assert_int_equal(mom_engine_get_statistics(e, &s), 0);
    const mom_value *v = mom_value_get(mom_value_get(s, "host"), field);
    double r = v ? (mom_value_type_of(v) == MOM_VALUE_INT ? (double)mom_value_int(v)
                                                       : mom_value_real(v))
                 : -1;
    mom_value_unref(s);
    return r;
}

static bool ksm_file_is(eng *g, const char *name, const char *want)
{
    char p[PATH_MAX + 128], buf[64] = "";
    snprintf(p, sizeof(p), "%s/%s", g->ksm, name);
    FILE *in = fopen(p, "re");
    if (!in)
        return false;
    if (!fgets(buf, sizeof(buf), in))
        buf[0] = '\0';
    fclose(in);
    buf[strcspn(buf, "\n")] = '\0';
    return strcmp(buf, want) == 0;
}

static unsigned long driver_mem(eng *g, const char *uuid)
{
    virConnectPtr c = libvirt_test_connection(eng_ud(g));
    assert_non_null(c);
    virDomainPtr d = virDomainLookupByUUIDString(c, uuid);
    unsigned long m = 0;
    virDomainInfo info;
    if (d && virDomainGetInfo(d, &info) == 0)
        m = info.memory;
    if (d)
        virDomainFree(d);
    virConnectClose(c);
    return m;
}

static unsigned long long driver_tbs(eng *g, const char *uuid)
{
    virConnectPtr c = libvirt_test_connection(eng_ud(g));
    virDomainPtr d = virDomainLookupByUUIDString(c, uuid);
    virTypedParameter p[32];
    int np = 32;
    unsigned long long v = 0;
    if (d && virDomainGetBlockIoTune(d, "vda", p, &np, VIR_DOMAIN_AFFECT_LIVE) == 0) {
        for (int i = 0; i < np; i++)
            if (strcmp(p[i].field, "total_bytes_sec") == 0)
                v = p[i].value.ul;
        virTypedParamsClear(p, np);
    }
    if (d)
        virDomainFree(d);
    virConnectClose(c);
    return v;
}

static unsigned flags_meta_first(int i)
{
    return i == 1 ? D_META : 0;
}

/* The engine over libvirt: guests found, statistics, every controller's
 * effect visible in the driver, guests created and destroyed while it
 * runs seen at once (the manager interval is a minute). */
static void test_engine_collects_and_controls(void **state)
{
    (void)state;
    eng *g = eng_start(3, flags_meta_first, NULL);
    assert_true(WAIT_FOR(n_active(g->e) == 3, 8000));
    assert_int_equal(guest_stat(g->e, "g0002", "mem_available"), 514 * MIB);
    assert_int_equal(guest_stat(g->e, "g0002", "balloon_max"), 1024 * MIB);
    assert_int_equal(guest_stat(g->e, "g0001", "vcpu_user_limit"), 42);
    assert_int_equal(guest_stat(g->e, "g0003", "vcpu_count"), 4);
    char u1[64], u2[64];
    uuid_of(1, u1, sizeof(u1));
    uuid_of(2, u2, sizeof(u2));
    /* Balloon controller: max - 256 MiB, set in the driver */
    assert_true(WAIT_FOR(driver_mem(g, u2) == 768 * MIB, 6000));
    assert_true(WAIT_FOR(guest_stat(g->e, "g0002", "balloon_cur") == 768 * MIB, 6000));
    /* IoTune controller: only g0001 has an I/O policy */
    assert_true(WAIT_FOR(driver_tbs(g, u1) == 7000000, 6000));
    assert_int_equal(driver_tbs(g, u2), 0);
    /* KSM controller: sysfs, not libvirt */
    assert_true(WAIT_FOR(ksm_file_is(g, "pages_to_scan", "321"), 6000));
    assert_true(ksm_file_is(g, "run", "1"));

    /* A domain created on the backend's connection appears well before
     * the minute-long manager interval; destroyed, it goes. */
    virConnectPtr c = libvirt_test_connection(eng_ud(g));
    char *xml = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&xml, &len);
    write_domain(o, 40, 0, false);
    fclose(o);
    virDomainPtr d = virDomainCreateXML(c, xml, 0);
    free(xml);
    assert_non_null(d);
    assert_true(WAIT_FOR(has_guest(g->e, "g0040"), 4000));
    assert_true(cap_count(&g->cap, "New guest g0040") == 1);
    assert_int_equal(virDomainDestroy(d), 0);
    assert_true(WAIT_FOR(!has_guest(g->e, "g0040"), 4000));
    assert_true(WAIT_FOR(cap_count(&g->cap, "Guest g0040 is gone") == 1, 4000));
    virDomainFree(d);
    virConnectClose(c);
    assert_true(n_active(g->e) == 3);
    eng_stop(g);
}

/* A connection that breaks: the engine reconnects and keeps its guests;
 * while libvirt is unreachable there are no guest updates but host
 * statistics go on, and the outage is logged once. */
static void test_engine_connection_breaks(void **state)
{
    (void)state;
    eng *g = eng_start(2, NULL, NULL);
    void *ud = eng_ud(g);
    libvirt_test_set_backoff(ud, 0.2, 0.4);
    assert_true(WAIT_FOR(n_active(g->e) == 2, 8000));
    libvirt_test_break(ud);
    /* the next operation notices, reconnects and goes on */
    assert_true(WAIT_FOR(cap_count(&g->cap, "connection restored") == 1, 5000));
    assert_int_equal(cap_count(&g->cap, "connection to libvirt lost"), 1);
    assert_true(WAIT_FOR(n_active(g->e) == 2, 5000));

    /* libvirt unreachable for a while */
    char bad[PATH_MAX + 32];
    snprintf(bad, sizeof(bad), "test://%s/absent.xml", g->nd.dir);
    assert_int_equal(libvirt_test_set_uri(ud, bad), 0);
    cap_clear(&g->cap);
    libvirt_test_break(ud);
    mom_engine_reload(g->e); /* any wake-up will do; the manager also runs on events */
    double m0 = host_stat(g->e, "mem_available");
    assert_true(m0 > 0);
    sleep(3);
    assert_true(libvirt_test_connected(ud) == false);
    assert_int_equal(cap_count(&g->cap, "connection to libvirt lost"), 1);
    assert_int_equal(cap_count(&g->cap, "3 mom.libvirt: cannot connect"), 1);
    assert_true(host_stat(g->e, "mem_available") > 0); /* host statistics still flow */
    assert_int_equal(libvirt_test_set_uri(ud, g->nd.uri), 0);
    assert_true(WAIT_FOR(libvirt_test_connected(ud), 5000));
    assert_true(WAIT_FOR(n_active(g->e) == 2, 5000));
    eng_stop(g);
}

/* Never connected: the engine runs without guests, host statistics flow. */
static void test_engine_without_libvirt(void **state)
{
    (void)state;
    char uri[PATH_MAX];
    snprintf(uri, sizeof(uri), "test:///nonexistent-%d/node.xml", (int)getpid());
    eng *g = eng_start(1, NULL, uri);
    assert_true(WAIT_FOR(host_stat(g->e, "mem_available") > 0, 5000));
    assert_int_equal(n_active(g->e), 0);
    assert_true(mom_engine_ping(g->e));
    assert_true(WAIT_FOR(cap_count(&g->cap, "cannot list guests") == 1, 3000));
    assert_int_equal(cap_count(&g->cap, "3 mom.libvirt: cannot connect"), 1);
    eng_stop(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_domain_xml),
        cmocka_unit_test(test_parse_stats),
        cmocka_unit_test(test_default_driver_operations),
        cmocka_unit_test(test_calls_per_guest),
        cmocka_unit_test(test_node_file_metadata_iotune_min),
        cmocka_unit_test(test_guest_without_balloon),
        cmocka_unit_test(test_domain_disappears_mid_call),
        cmocka_unit_test(test_error_mapping_and_reconnect),
        cmocka_unit_test(test_never_connected_backoff),
        cmocka_unit_test(test_lifecycle_events),
        cmocka_unit_test(test_pid_lookup),
        cmocka_unit_test(test_hundreds_of_domains),
        cmocka_unit_test(test_engine_collects_and_controls),
        cmocka_unit_test(test_engine_connection_breaks),
        cmocka_unit_test(test_engine_without_libvirt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
