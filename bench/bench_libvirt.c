/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark: the libvirt hypervisor interface on libvirt's test driver
 * with 100 and 1,000 domains (node files written to a temporary
 * directory), guest collectors GuestMemory and GuestBalloon.
 *
 * 1. A full collection cycle in process, single-threaded: the guest list
 *    (get_vm_list) and one collection of every guest, CPU time of the
 *    process (the test driver runs in process, so its work counts too),
 *    median of rounds, and the libvirt calls the backend made per guest
 *    per cycle (target: at most 3).  Rounds are 0.55 s apart, as cycles
 *    are at least a second apart in momd, so no cache lives longer than
 *    it would there.
 * 2. momd itself (BUILD/momd, 1-second intervals, no policy) at 100 and
 *    1,000 domains: resident memory and threads after it has collected
 *    every guest for a while, next to a minimal program that only opens
 *    the same connection and lists the domains (this binary with
 *    --baseline URI).  Targets: momd at most 8 MiB above the baseline; a
 *    thread count that does not grow with guests.  Also momd's CPU time
 *    per second (one guest cycle per second).
 *
 * Usage: bench_libvirt [max_domains]     (BUILD=dir for momd, default build)
 *        bench_libvirt --baseline URI    (the minimal program)
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "core/alloc.h"
#include "core/api.h"
#include "core/config.h"
#include "core/hv.h"
#include "core/monitor.h"
#include "core/registry.h"
#include "hv/libvirt.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void quiet(mom_log_level l, const char *logger, const char *msg, void *ud)
{
    (void)ud;
    if (l <= MOM_LOG_ERROR)
        fprintf(stderr, "%s: %s\n", logger, msg);
}

/* A node file with n running domains, each with a balloon. */
static void write_node(const char *path, int n)
{
    FILE *o = fopen(path, "we");
    if (!o) {
        perror(path);
        exit(1);
    }
    fprintf(o, "<node>\n  <cpu><mhz>2000</mhz><model>x86_64</model><active>64</active>"
               "<sockets>1</sockets><cores>64</cores><threads>1</threads><nodes>1</nodes></cpu>\n"
               "  <memory>%d</memory>\n",
            n * 2 * 1048576 + 4194304);
    for (int i = 1; i <= n; i++)
        fprintf(o,
                "  <domain type='test'><name>vm%04d</name>"
                "<uuid>22222222-3333-4444-5555-%012d</uuid>"
                "<memory>2097152</memory><currentMemory>%d</currentMemory><vcpu>2</vcpu>"
                "<os><type>hvm</type></os><devices>"
                "<disk type='file' device='disk'><source file='/img/vm%04d.img'/>"
                "<target dev='vda' bus='virtio'/></disk>"
                "<memballoon model='virtio'/></devices></domain>\n",
                i, i, 1048576 + i * 64, i);
    fprintf(o, "</node>\n");
    fclose(o);
}

static fieldtab *fields_of(const mom_collector *const *c, size_t n)
{
    fieldtab *t = fieldtab_new();
    for (size_t i = 0; i < n; i++)
        for (const char *const *f = c[i]->mandatory; f && *f; f++)
            fieldtab_add(t, *f, true);
    for (size_t i = 0; i < n; i++)
        for (const char *const *f = c[i]->optional; f && *f; f++)
            fieldtab_add(t, *f, false);
    fieldtab_finish(t);
    return t;
}

/* Part 1: in-process cycles over n domains. */
static void run_cycle(const char *dir, int n)
{
    char path[4096], text[8192];
    snprintf(path, sizeof(path), "%s/node%d.xml", dir, n);
    write_node(path, n);
    snprintf(text, sizeof(text),
             "[main]\nhypervisor-interface: libvirt\nlibvirt-hypervisor-uri: test://%s\n"
             "guest-monitor-interval: 1\n",
             path);
    mlog log;
    mlog_init(&log, quiet, NULL, MOM_LOG_ERROR);
    conf *c = NULL;
    hv h;
    if (conf_load_text("bench.conf", text, strlen(text), NULL, 0, NULL, NULL, &c) < 0 ||
        hv_create(c, &log, &h) < 0) {
        fprintf(stderr, "cannot create the libvirt backend\n");
        exit(1);
    }
    api_env env;
    api_env_init(&env, c, &log, &h);
    const mom_collector *gc[] = {&mom_collector_GuestMemory, &mom_collector_GuestBalloon};
    fieldtab *gf = fields_of(gc, 2);

    mom_hv_list list;
    hv_list_init(&list);
    if (h.ops->get_vm_list(&list, h.userdata) < 0 || list.n != (size_t)n) {
        fprintf(stderr, "listing %d domains failed (%zu)\n", n, list.n);
        exit(1);
    }
    monitor **mons = mom_calloc(list.n, sizeof(*mons));
    for (size_t i = 0; i < list.n; i++) {
        mom_hv_guest_info info = {.size = sizeof(info)};
        h.ops->get_vm_info(list.ids[i], &info, h.userdata);
        monitor_new(&env, MOM_ENTITY_GUEST, list.ids[i], info.name, info.uuid, info.pid, gf, gc,
                    2, 10, &mons[i]);
    }
    int rounds = n >= 1000 ? 9 : 15;
    double *cpu = mom_calloc((size_t)rounds, sizeof(double));
    double *calls = mom_calloc((size_t)rounds, sizeof(double));
    size_t ready = 0;
    for (int r = -2; r < rounds; r++) { /* two warm-up rounds (XML, history) */
        usleep(550000);
        uint64_t c0 = libvirt_call_count(h.userdata);
        double t0 = cpu_now();
        mom_hv_list l2;
        hv_list_init(&l2);
        h.ops->get_vm_list(&l2, h.userdata);
        hv_list_done(&l2);
        ready = 0;
        for (size_t i = 0; i < list.n; i++) {
            monitor_collect(mons[i]);
            ready += monitor_finish(mons[i]);
        }
        double t1 = cpu_now();
        if (r >= 0) {
            cpu[r] = t1 - t0;
            calls[r] = (double)(libvirt_call_count(h.userdata) - c0) / (double)n;
        }
    }
    qsort(cpu, (size_t)rounds, sizeof(double), cmp_double);
    qsort(calls, (size_t)rounds, sizeof(double), cmp_double);
    double med = cpu[rounds / 2];
    printf("| %7d | %5zu | %10.2f | %9.1f | %12.2f | %5.2f |\n", n, ready, med * 1e3,
           med / n * 1e6, calls[rounds / 2], calls[rounds / 2] / 3.0);
    fflush(stdout);
    for (size_t i = 0; i < list.n; i++)
        monitor_free(mons[i]);
    mom_free(mons);
    mom_free(cpu);
    mom_free(calls);
    hv_list_done(&list);
    fieldtab_free(gf);
    hv_destroy(&h);
    conf_free(c);
}

/* ---- part 2: processes ---------------------------------------------------- */

typedef struct pstat {
    double rss_mib, hwm_mib;
    int threads;
    double cpu_s; /* utime + stime */
} pstat;

static int read_pstat(pid_t pid, pstat *ret)
{
    char p[64], line[256];
    memset(ret, 0, sizeof(*ret));
    snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
    FILE *in = fopen(p, "re");
    if (!in)
        return -errno;
    while (fgets(line, sizeof(line), in)) {
        long v;
        if (sscanf(line, "VmRSS: %ld", &v) == 1)
            ret->rss_mib = (double)v / 1024.0;
        else if (sscanf(line, "VmHWM: %ld", &v) == 1)
            ret->hwm_mib = (double)v / 1024.0;
        else if (sscanf(line, "Threads: %ld", &v) == 1)
            ret->threads = (int)v;
    }
    fclose(in);
    snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
    in = fopen(p, "re");
    if (!in)
        return -errno;
    char buf[2048];
    size_t len = fread(buf, 1, sizeof(buf) - 1, in);
    fclose(in);
    buf[len] = '\0';
    char *s = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (s && sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
        ret->cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

static pid_t spawn(char *const argv[], const char *out)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *o = freopen(out, "w", stdout);
        (void)o;
        dup2(1, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
}

/* Whether process `pid` (program `who`, output in file `out`) has ended
 * before it was measured; then its numbers would read as zeros, so say so
 * with the first line of its output instead. */
static bool ended_early(pid_t pid, const char *who, const char *out, int n)
{
    char p[64], line[512] = "";
    snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
    FILE *in = fopen(p, "re");
    bool alive = false;
    while (in && fgets(line, sizeof(line), in))
        if (strncmp(line, "VmRSS:", 6) == 0) /* a zombie has none */
            alive = true;
    if (in)
        fclose(in);
    if (alive)
        return false;
    line[0] = '\0';
    in = fopen(out, "re");
    if (in) {
        if (!fgets(line, sizeof(line), in))
            line[0] = '\0';
        fclose(in);
    }
    line[strcspn(line, "\n")] = '\0';
    printf("| %7d | %s ended before it was measured: %s |\n", n, who,
           *line ? line : "(no output)");
    fflush(stdout);
    return true;
}

/* Part 2 for n domains; self is this program (for --baseline). */
static void run_process(const char *dir, const char *self, const char *momd, int n)
{
    char node[4096], conf_path[4096], uri[4200], out[4200];
    snprintf(node, sizeof(node), "%s/node%d.xml", dir, n);
    write_node(node, n);
    snprintf(uri, sizeof(uri), "test://%s", node);
    snprintf(conf_path, sizeof(conf_path), "%s/momd%d.conf", dir, n);
    FILE *o = fopen(conf_path, "we");
    if (!o)
        exit(1);
    fprintf(o,
            "[main]\nhypervisor-interface: libvirt\nlibvirt-hypervisor-uri: %s\n"
            "host-monitor-interval: 1\nguest-monitor-interval: 1\nguest-manager-interval: 5\n"
            "policy-engine-interval: 1\nrpc-port: -1\ncontrollers: Balloon\n"
            "[logging]\nlog: stdio\nverbosity: error\n"
            "[host]\ncollectors: HostMemory\n[guest]\ncollectors: GuestMemory, GuestBalloon\n",
            uri);
    fclose(o);

    char bout[4200];
    snprintf(bout, sizeof(bout), "%s/baseline%d.out", dir, n);
    char *bargv[] = {(char *)self, "--baseline", uri, NULL};
    pid_t b = spawn(bargv, bout);
    snprintf(out, sizeof(out), "%s/momd%d.out", dir, n);
    char *margv[] = {(char *)momd, "-c", conf_path, NULL};
    pid_t m = spawn(margv, out);
    /* let momd find and collect every guest for a while */
    sleep(n >= 1000 ? 8 : 5);
    pstat m0, m1, base;
    read_pstat(m, &m0);
    sleep(5);
    read_pstat(m, &m1);
    read_pstat(b, &base);
    bool failed = ended_early(m, "momd", out, n);
    failed = ended_early(b, "the baseline", bout, n) || failed;
    stop(m);
    stop(b);
    if (failed)
        return;
    double diff = m1.rss_mib - base.rss_mib;
    printf("| %7d | %9.1f | %9.1f | %10.1f | %11.1f | %5.2f | %7d | %8d | %9.1f |\n", n,
           m1.rss_mib, m1.hwm_mib, base.rss_mib, diff, diff / 8.0, m1.threads, base.threads,
           (m1.cpu_s - m0.cpu_s) / 5.0 * 1e3);
    fflush(stdout);
}

/* The minimal program: open, list, wait. */
static int baseline(const char *uri)
{
    virConnectPtr c = virConnectOpen(uri);
    if (!c)
        return 1;
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(c, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    for (int i = 0; i < n; i++)
        virDomainFree(doms[i]);
    free(doms);
    printf("%d domains\n", n);
    fflush(stdout);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--baseline") == 0)
        return baseline(argv[2]);
    int max = argc > 1 ? atoi(argv[1]) : 1000;
    const char *tmp = getenv("TMPDIR");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%.900s/momlvbenchXXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    printf("libvirt backend, test driver, guest collectors GuestMemory + GuestBalloon\n\n");
    printf("1. Full collection cycle in process (list + every guest), CPU time, median\n\n");
    printf("| domains | ready | cycle (ms) | µs/guest | calls/guest | /3    |\n");
    printf("|--------:|------:|-----------:|---------:|-------------:|------:|\n");
    for (int n = 100; n <= max; n *= 10)
        run_cycle(dir, n);
    printf("\ncalls/guest: libvirt calls per guest per cycle (target at most 3; the test\n"
           "driver has no bulk balloon statistics, so this is the per-domain path).\n");

    const char *build = getenv("BUILD");
    char momd[4096];
    snprintf(momd, sizeof(momd), "%s/momd", build && *build ? build : "build");
    if (access(momd, X_OK) == 0) {
        printf("\n2. momd (%s) against a minimal program that opens the same URI and\n"
               "   lists the domains\n\n", momd);
        printf("| domains | momd RSS  | momd HWM  | base RSS   | RSS − base  | /8MiB | momd th | base th  | CPU ms/s  |\n");
        printf("|--------:|----------:|----------:|-----------:|------------:|------:|--------:|---------:|----------:|\n");
        char self[4096];
        ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (len > 0) {
            self[len] = '\0';
            for (int n = 100; n <= max; n *= 10)
                run_process(dir, self, momd, n);
        }
        printf("\nSizes in MiB.  CPU ms/s: momd's CPU time per second of running, which is\n"
               "one host and one guest collection cycle (and one policy cycle) per second.\n");
    } else {
        printf("\n(%s not built: part 2 skipped)\n", momd);
    }
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return 0;
}
