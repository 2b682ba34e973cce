/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fakehv: the fake hypervisor interface used by the unit tests (see
 * fakehv.h for the behaviour of each callback).  One mutex guards
 * everything; a condition variable serves hung calls and the waits for
 * them.
 */
#include "fakehv.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"

enum {
    OP_GET_VM_LIST,
    OP_GET_VM_INFO,
    OP_START_VM_MEMORY_STATS,
    OP_GET_VM_MEMORY_STATS,
    OP_GET_VM_BALLOON_INFO,
    OP_SET_VM_BALLOON_TARGET,
    OP_GET_VM_CPU_TUNE_INFO,
    OP_SET_VM_CPU_TUNE,
    OP_GET_VM_IO_TUNE_POLICY,
    OP_GET_VM_IO_TUNE,
    OP_SET_VM_IO_TUNE,
    OP_KSM_TUNE,
    OP_QEMU_AGENT_COMMAND,
    N_OPS,
    OP_ALL = -1,
};

static const char *const op_names[N_OPS] = {
    "get_vm_list",           "get_vm_info",       "start_vm_memory_stats",
    "get_vm_memory_stats",   "get_vm_balloon_info", "set_vm_balloon_target",
    "get_vm_cpu_tune_info",  "set_vm_cpu_tune",   "get_vm_io_tune_policy",
    "get_vm_io_tune",        "set_vm_io_tune",    "ksm_tune",
    "qemu_agent_command",
};

/* Reads that engine tests may want to leave out of the log. */
static bool op_is_read(int op)
{
    return op == OP_GET_VM_LIST || op == OP_GET_VM_INFO || op == OP_GET_VM_MEMORY_STATS ||
           op == OP_GET_VM_BALLOON_INFO || op == OP_GET_VM_CPU_TUNE_INFO ||
           op == OP_GET_VM_IO_TUNE_POLICY || op == OP_GET_VM_IO_TUNE;
}

typedef struct fdisk {
    char *name, *path;
    mom_hv_io_limits a, b; /* policy: guaranteed, maximum; current: a */
} fdisk;

typedef struct fdisks {
    size_t n, cap;
    fdisk *d;
} fdisks;

struct fakehv_guest {
    fakehv *fh;
    char *id, *name, *uuid;
    int64_t pid;
    bool removed;
    bool has_mem, has_balloon, has_cpu;
    mom_hv_memory_stats mem;
    mom_hv_balloon_info balloon;
    mom_hv_cpu_tune_info cpu;
    fdisks policy, current;
};

typedef struct rule {
    char *id; /* NULL: any */
    int op;   /* OP_ALL: any */
    int err;  /* fail rules */
} rule;

typedef struct rules {
    size_t n, cap;
    rule *r;
} rules;

struct fakehv {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    mom_hv_ops table;
    bool disabled[N_OPS];
    size_t n_guests, cap_guests;
    fakehv_guest **guests;
    rules fails, hangs;
    unsigned long release_gen;
    size_t n_blocked;
    bool closing;
    size_t n_calls, cap_calls;
    fakehv_call **calls;
    bool record_reads;
    mom_hv_ksm_tune ksm;
    fakehv_agent_fn agent_fn;
    void *agent_userdata;
};

/* ---- helpers ---------------------------------------------------------- */

static int op_index(const char *name)
{
    if (!name)
        return OP_ALL;
    for (int i = 0; i < N_OPS; i++)
        if (strcmp(op_names[i], name) == 0)
            return i;
    return -2;
}

static char *dup_or_null(const char *s)
{
    return s ? mom_strdup(s) : NULL;
}

static bool same_id(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static fakehv_guest *find_locked(fakehv *fh, const char *id)
{
    for (size_t i = 0; i < fh->n_guests; i++)
        if (same_id(fh->guests[i]->id, id))
            return fh->guests[i];
    return NULL;
}

static bool hang_matches(fakehv *fh, int op, const char *id)
{
    for (size_t i = 0; i < fh->hangs.n; i++) {
        const rule *r = &fh->hangs.r[i];
        if ((r->op == OP_ALL || r->op == op) && (!r->id || same_id(r->id, id)))
            return true;
    }
    return false;
}

static int fail_err(fakehv *fh, int op, const char *id)
{
    int generic = 0;
    for (size_t i = 0; i < fh->fails.n; i++) {
        const rule *r = &fh->fails.r[i];
        if (r->op != OP_ALL && r->op != op)
            continue;
        if (r->id && same_id(r->id, id))
            return r->err;
        if (!r->id && !generic)
            generic = r->err;
    }
    return generic;
}

/* Set, replace or (err 0 / !on) remove the rule for (id, op). */
static int rules_put(rules *rs, const char *id, int op, int err, bool on)
{
    for (size_t i = 0; i < rs->n; i++) {
        rule *r = &rs->r[i];
        if (r->op == op && ((!r->id && !id) || same_id(r->id, id))) {
            if (on) {
                r->err = err;
                return 0;
            }
            mom_free(r->id);
            rs->r[i] = rs->r[--rs->n];
            return 0;
        }
    }
    if (!on)
        return 0;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 8;
        rule *n = mom_realloc(rs->r, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        rs->r = n;
        rs->cap = cap;
    }
    rule *r = &rs->r[rs->n];
    r->id = NULL;
    if (id && !(r->id = mom_strdup(id)))
        return -ENOMEM;
    r->op = op;
    r->err = err;
    rs->n++;
    return 0;
}

static void rules_done(rules *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        mom_free(rs->r[i].id);
    mom_free(rs->r);
}

static void disks_done(fdisks *ds)
{
    for (size_t i = 0; i < ds->n; i++) {
        mom_free(ds->d[i].name);
        mom_free(ds->d[i].path);
    }
    mom_free(ds->d);
    memset(ds, 0, sizeof(*ds));
}

static int disks_add(fdisks *ds, const char *name, const char *path, const mom_hv_io_limits *a,
                     const mom_hv_io_limits *b)
{
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 4;
        fdisk *n = mom_realloc(ds->d, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        ds->d = n;
        ds->cap = cap;
    }
    fdisk *d = &ds->d[ds->n];
    memset(d, 0, sizeof(*d));
    if ((name && !(d->name = mom_strdup(name))) || (path && !(d->path = mom_strdup(path)))) {
        mom_free(d->name);
        return -ENOMEM;
    }
    if (a)
        d->a = *a;
    if (b)
        d->b = *b;
    ds->n++;
    return 0;
}

static void call_free(fakehv_call *c)
{
    if (!c)
        return;
    mom_free(c->id);
    for (size_t i = 0; i < c->n_disks; i++) {
        mom_free((char *)c->disks[i].name);
        mom_free((char *)c->disks[i].path);
    }
    mom_free(c->disks);
    mom_free(c->command);
    mom_free(c);
}

/* Append a call record (mutex held).  Allocation failures only lose the
 * record. */
static fakehv_call *record(fakehv *fh, int op, const char *id, int rc)
{
    if (op_is_read(op) && !fh->record_reads)
        return NULL;
    if (fh->n_calls == fh->cap_calls) {
        size_t cap = fh->cap_calls ? fh->cap_calls * 2 : 32;
        fakehv_call **n = mom_realloc(fh->calls, cap * sizeof(*n));
        if (!n)
            return NULL;
        fh->calls = n;
        fh->cap_calls = cap;
    }
    fakehv_call *c = mom_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    strncpy(c->op, op_names[op], sizeof(c->op) - 1);
    c->id = dup_or_null(id);
    c->rc = rc;
    fh->calls[fh->n_calls++] = c;
    return c;
}

/*
 * Common start of every callback: lock, block while a hang rule matches
 * (until released), then decide the result: -ENOTSUP for a disabled
 * operation, an injected failure, -ENOENT for an unknown or removed guest
 * (when `id` is given), else 0 with *ret_g set.  Returns with the mutex
 * held.
 */
static int enter(fakehv *fh, int op, const char *id, fakehv_guest **ret_g)
{
    pthread_mutex_lock(&fh->mu);
    if (hang_matches(fh, op, id) && !fh->closing) {
        unsigned long gen = fh->release_gen;
        fh->n_blocked++;
        pthread_cond_broadcast(&fh->cond);
        while (!fh->closing && gen == fh->release_gen && hang_matches(fh, op, id))
            pthread_cond_wait(&fh->cond, &fh->mu);
        fh->n_blocked--;
        pthread_cond_broadcast(&fh->cond);
    }
    if (ret_g)
        *ret_g = NULL;
    if (fh->disabled[op])
        return -ENOTSUP;
    int err = fail_err(fh, op, id);
    if (err)
        return err;
    if (id) {
        fakehv_guest *g = find_locked(fh, id);
        if (!g || g->removed)
            return -ENOENT;
        if (ret_g)
            *ret_g = g;
    }
    return 0;
}

static void leave(fakehv *fh)
{
    pthread_mutex_unlock(&fh->mu);
}

/* ---- the callbacks ---------------------------------------------------- */

static int fk_get_vm_list(mom_hv_list *out, void *userdata)
{
    fakehv *fh = userdata;
    int rc = enter(fh, OP_GET_VM_LIST, NULL, NULL);
    for (size_t i = 0; rc == 0 && i < fh->n_guests; i++)
        if (!fh->guests[i]->removed)
            rc = mom_hv_list_add(out, fh->guests[i]->id);
    record(fh, OP_GET_VM_LIST, NULL, rc);
    leave(fh);
    return rc;
}

static int fk_get_vm_info(const char *id, mom_hv_guest_info *ret, void *userdata)
{
    fakehv *fh = userdata;
    fakehv_guest *g;
    int rc = enter(fh, OP_GET_VM_INFO, id, &g);
    if (rc == 0) {
        strncpy(ret->name, g->name ? g->name : "", sizeof(ret->name) - 1);
        strncpy(ret->uuid, g->uuid ? g->uuid : "", sizeof(ret->uuid) - 1);
        ret->pid = g->pid;
    }
    record(fh, OP_GET_VM_INFO, id, rc);
    leave(fh);
    return rc;
}

static int fk_start_vm_memory_stats(const char *id, int period_s, void *userdata)
{
    fakehv *fh = userdata;
    int rc = enter(fh, OP_START_VM_MEMORY_STATS, id, NULL);
    fakehv_call *c = record(fh, OP_START_VM_MEMORY_STATS, id, rc);
    if (c)
        c->a = period_s;
    leave(fh);
    return rc;
}

static int fk_get_vm_memory_stats(const char *id, mom_hv_memory_stats *ret, void *userdata)
{
    fakehv *fh = userdata;
    fakehv_guest *g;
    int rc = enter(fh, OP_GET_VM_MEMORY_STATS, id, &g);
    if (rc == 0) {
        if (!g->has_mem || !g->mem.present) {
            rc = -ENODATA;
        } else {
            size_t size = ret->size;
            *ret = g->mem;
            ret->size = size;
        }
    }
    record(fh, OP_GET_VM_MEMORY_STATS, id, rc);
    leave(fh);
    return rc;
}

static int fk_get_vm_balloon_info(const char *id, mom_hv_balloon_info *ret, void *userdata)
{
    fakehv *fh = userdata;
    fakehv_guest *g;
    int rc = enter(fh, OP_GET_VM_BALLOON_INFO, id, &g);
    if (rc == 0) {
        if (!g->has_balloon) {
            rc = -ENODATA;
        } else {
            ret->balloon_cur = g->balloon.balloon_cur;
            ret->balloon_max = g->balloon.balloon_max;
            ret->balloon_min = g->balloon.balloon_min;
        }
    }
    record(fh, OP_GET_VM_BALLOON_INFO, id, rc);
    leave(fh);
    return rc;
}

static int fk_set_vm_balloon_target(const char *id, int64_t target_kib, void *userdata)
{
    fakehv *fh = userdata;
    fakehv_guest *g;
    int rc = enter(fh, OP_SET_VM_BALLOON_TARGET, id, &g);
    if (rc == 0 && g->has_balloon)
        g->balloon.balloon_cur = target_kib;
    fakehv_call *c = record(fh, OP_SET_VM_BALLOON_TARGET, id, rc);
    if (c)
        c->a = target_kib;
    leave(fh);
    return rc;
}

static int fk_get_vm_cpu_tune_info(const char *id, mom_hv_cpu_tune_info *ret, void *userdata)
{
    fakehv *fh = userdata;
    fakehv_guest *g;
    int rc = enter(fh, OP_GET_VM_CPU_TUNE_INFO, id, &g);
    if (rc == 0) {
        if (!g->has_cpu) {
            rc = -ENODATA;
        } else {
            ret->vcpu_quota = g->cpu.vcpu_quota;
            ret->vcpu_period = g->cpu.vcpu_period;
            ret->vcpu_user_limit = g->cpu.vcpu_user_limit;
            ret->vcpu_count = g->cpu.vcpu_count;
        }
    }
    record(fh, OP_GET_VM_CPU_TUNE_INFO, id, rc);
    leave(fh);
    return rc;
}

static int fk_set_vm_cpu_tune(const char *id, int64_t quota, int64_t period, void *userdata)
{
    fakehv *fh = userdata;
    fakehv_guest *g;
    int rc = enter(fh, OP_SET_VM_CPU_TUNE, id, &g);
    if (rc == 0 && g->has_cpu) {
        g->cpu.vcpu_quota = quota;
        g->cpu.vcpu_period = period;
    }
    fakehv_call *c = record(fh, OP_SET_VM_CPU_TUNE, id, rc);
    if (c) {
        c->a = quota;
        c->b = period;
    }
    leave(fh);
    return rc;
}

static int fk_get_vm_io_tune_policy(const char *id, mom_hv_disk_list *out, void *userdata)
{
    fakehv *fh = userdata;
    fakehv_guest *g;
    int rc = enter(fh, OP_GET_VM_IO_TUNE_POLICY, id, &g);
    for (size_t i = 0; rc == 0 && i < g->policy.n; i++) {
        const fdisk *d = &g->policy.d[i];
        rc = mom_hv_disk_list_add_policy(out, d->name, d->path, &d->a, &d->b);
    }
    record(fh, OP_GET_VM_IO_TUNE_POLICY, id, rc);
    leave(fh);
    return rc;
}

static int fk_get_vm_io_tune(const char *id, mom_hv_disk_list *out, void *userdata)
{
    fakehv *fh = userdata;
    fakehv_guest *g;
    int rc = enter(fh, OP_GET_VM_IO_TUNE, id, &g);
    for (size_t i = 0; rc == 0 && i < g->current.n; i++) {
        const fdisk *d = &g->current.d[i];
        rc = mom_hv_disk_list_add_tune(out, d->name, d->path, &d->a);
    }
    record(fh, OP_GET_VM_IO_TUNE, id, rc);
    leave(fh);
    return rc;
}

/* The disk of `g` that a set_vm_io_tune entry names, or NULL. */
static fdisk *match_disk(fakehv_guest *g, const mom_hv_disk_tune *t)
{
    for (size_t i = 0; i < g->current.n; i++) {
        fdisk *d = &g->current.d[i];
        if (t->path && *t->path && d->path && *d->path) {
            if (strcmp(t->path, d->path) == 0)
                return d;
        } else if (same_id(t->name, d->name)) {
            return d;
        }
    }
    return NULL;
}

static int fk_set_vm_io_tune(const char *id, const mom_hv_disk_tune *disks, size_t n_disks,
                             void *userdata)
{
    fakehv *fh = userdata;
    fakehv_guest *g;
    int rc = enter(fh, OP_SET_VM_IO_TUNE, id, &g);
    for (size_t i = 0; rc == 0 && i < n_disks; i++) {
        fdisk *d = match_disk(g, &disks[i]);
        if (d)
            d->a = disks[i].io_tune;
    }
    fakehv_call *c = record(fh, OP_SET_VM_IO_TUNE, id, rc);
    if (c && n_disks && (c->disks = mom_calloc(n_disks, sizeof(*c->disks)))) {
        c->n_disks = n_disks;
        for (size_t i = 0; i < n_disks; i++) {
            c->disks[i].name = dup_or_null(disks[i].name);
            c->disks[i].path = dup_or_null(disks[i].path);
            c->disks[i].io_tune = disks[i].io_tune;
        }
    }
    leave(fh);
    return rc;
}

static int fk_ksm_tune(const mom_hv_ksm_tune *tune, void *userdata)
{
    fakehv *fh = userdata;
    int rc = enter(fh, OP_KSM_TUNE, NULL, NULL);
    if (rc == 0) {
        if (tune->present & MOM_HV_KSM_RUN)
            fh->ksm.run = tune->run;
        if (tune->present & MOM_HV_KSM_PAGES_TO_SCAN)
            fh->ksm.pages_to_scan = tune->pages_to_scan;
        if (tune->present & MOM_HV_KSM_SLEEP_MILLISECS)
            fh->ksm.sleep_millisecs = tune->sleep_millisecs;
        if (tune->present & MOM_HV_KSM_MERGE_ACROSS_NODES)
            fh->ksm.merge_across_nodes = tune->merge_across_nodes;
        fh->ksm.present |= tune->present;
    }
    fakehv_call *c = record(fh, OP_KSM_TUNE, NULL, rc);
    if (c)
        c->ksm = *tune;
    leave(fh);
    return rc;
}

static int fk_qemu_agent_command(const char *id, const char *command, int timeout_s,
                                 char **ret_reply, void *userdata)
{
    fakehv *fh = userdata;
    (void)timeout_s;
    int rc = enter(fh, OP_QEMU_AGENT_COMMAND, id, NULL);
    fakehv_agent_fn fn = fh->agent_fn;
    void *ud = fh->agent_userdata;
    if (rc == 0 && !fn)
        rc = -ENOTSUP;
    leave(fh);
    char *reply = NULL;
    if (rc == 0) {
        reply = fn(id, command, ud);
        if (!reply)
            rc = -EIO;
    }
    pthread_mutex_lock(&fh->mu);
    fakehv_call *c = record(fh, OP_QEMU_AGENT_COMMAND, id, rc);
    if (c)
        c->command = dup_or_null(command);
    leave(fh);
    *ret_reply = reply;
    return rc;
}

static void fk_free_reply(char *reply, void *userdata)
{
    (void)userdata;
    mom_free(reply);
}

static const mom_hv_ops full_ops = {
    .size = sizeof(mom_hv_ops),
    .get_vm_list = fk_get_vm_list,
    .get_vm_info = fk_get_vm_info,
    .start_vm_memory_stats = fk_start_vm_memory_stats,
    .get_vm_memory_stats = fk_get_vm_memory_stats,
    .get_vm_balloon_info = fk_get_vm_balloon_info,
    .set_vm_balloon_target = fk_set_vm_balloon_target,
    .get_vm_cpu_tune_info = fk_get_vm_cpu_tune_info,
    .set_vm_cpu_tune = fk_set_vm_cpu_tune,
    .get_vm_io_tune_policy = fk_get_vm_io_tune_policy,
    .get_vm_io_tune = fk_get_vm_io_tune,
    .set_vm_io_tune = fk_set_vm_io_tune,
    .ksm_tune = fk_ksm_tune,
    .qemu_agent_command = fk_qemu_agent_command,
    .free_reply = fk_free_reply,
};

/* Put operation `op` of the full table into `t`, or clear it. */
static void table_set(mom_hv_ops *t, int op, bool on)
{
#define SLOT(OPC, field)                                                                      \
    case OPC: t->field = on ? full_ops.field : NULL; break
    switch (op) {
        SLOT(OP_GET_VM_LIST, get_vm_list);
        SLOT(OP_GET_VM_INFO, get_vm_info);
        SLOT(OP_START_VM_MEMORY_STATS, start_vm_memory_stats);
        SLOT(OP_GET_VM_MEMORY_STATS, get_vm_memory_stats);
        SLOT(OP_GET_VM_BALLOON_INFO, get_vm_balloon_info);
        SLOT(OP_SET_VM_BALLOON_TARGET, set_vm_balloon_target);
        SLOT(OP_GET_VM_CPU_TUNE_INFO, get_vm_cpu_tune_info);
        SLOT(OP_SET_VM_CPU_TUNE, set_vm_cpu_tune);
        SLOT(OP_GET_VM_IO_TUNE_POLICY, get_vm_io_tune_policy);
        SLOT(OP_GET_VM_IO_TUNE, get_vm_io_tune);
        SLOT(OP_SET_VM_IO_TUNE, set_vm_io_tune);
        SLOT(OP_KSM_TUNE, ksm_tune);
        SLOT(OP_QEMU_AGENT_COMMAND, qemu_agent_command);
    default: break;
    }
#undef SLOT
}

/* ---- public functions ------------------------------------------------- */

const mom_hv_ops *fakehv_ops(void)
{
    return &full_ops;
}

fakehv *fakehv_new(void)
{
    fakehv *fh = mom_calloc(1, sizeof(*fh));
    if (!fh)
        return NULL;
    pthread_mutex_init(&fh->mu, NULL);
    pthread_cond_init(&fh->cond, NULL);
    fh->table = full_ops;
    fh->record_reads = true;
    return fh;
}

void fakehv_free(fakehv *fh)
{
    if (!fh)
        return;
    pthread_mutex_lock(&fh->mu);
    fh->closing = true;
    pthread_cond_broadcast(&fh->cond);
    while (fh->n_blocked > 0)
        pthread_cond_wait(&fh->cond, &fh->mu);
    pthread_mutex_unlock(&fh->mu);
    for (size_t i = 0; i < fh->n_guests; i++) {
        fakehv_guest *g = fh->guests[i];
        mom_free(g->id);
        mom_free(g->name);
        mom_free(g->uuid);
        disks_done(&g->policy);
        disks_done(&g->current);
        mom_free(g);
    }
    mom_free(fh->guests);
    rules_done(&fh->fails);
    rules_done(&fh->hangs);
    for (size_t i = 0; i < fh->n_calls; i++)
        call_free(fh->calls[i]);
    mom_free(fh->calls);
    pthread_cond_destroy(&fh->cond);
    pthread_mutex_destroy(&fh->mu);
    mom_free(fh);
}

const mom_hv_ops *fakehv_table(fakehv *fh)
{
    return &fh->table;
}

int fakehv_set_op_supported(fakehv *fh, const char *op, bool supported)
{
    int i = op_index(op);
    if (i < 0)
        return -EINVAL;
    pthread_mutex_lock(&fh->mu);
    fh->disabled[i] = !supported;
    table_set(&fh->table, i, supported);
    pthread_mutex_unlock(&fh->mu);
    return 0;
}

void fakehv_set_ksm_tune_supported(fakehv *fh, bool on)
{
    (void)fakehv_set_op_supported(fh, "ksm_tune", on);
}

fakehv_guest *fakehv_add_guest(fakehv *fh, const char *id, const char *name, const char *uuid,
                               int64_t pid)
{
    if (!fh || !id)
        return NULL;
    pthread_mutex_lock(&fh->mu);
    fakehv_guest *g = find_locked(fh, id);
    if (!g) {
        if (fh->n_guests == fh->cap_guests) {
            size_t cap = fh->cap_guests ? fh->cap_guests * 2 : 8;
            fakehv_guest **n = mom_realloc(fh->guests, cap * sizeof(*n));
            if (!n)
                goto fail;
            fh->guests = n;
            fh->cap_guests = cap;
        }
        if (!(g = mom_calloc(1, sizeof(*g))))
            goto fail;
        if (!(g->id = mom_strdup(id))) {
            mom_free(g);
            goto fail;
        }
        g->fh = fh;
        fh->guests[fh->n_guests++] = g;
    }
    char *nn = dup_or_null(name), *nu = dup_or_null(uuid);
    if ((name && !nn) || (uuid && !nu)) {
        mom_free(nn);
        mom_free(nu);
        goto fail;
    }
    mom_free(g->name);
    mom_free(g->uuid);
    g->name = nn;
    g->uuid = nu;
    g->pid = pid;
    g->removed = false;
    pthread_mutex_unlock(&fh->mu);
    return g;
fail:
    pthread_mutex_unlock(&fh->mu);
    return NULL;
}

fakehv_guest *fakehv_find_guest(fakehv *fh, const char *id)
{
    pthread_mutex_lock(&fh->mu);
    fakehv_guest *g = find_locked(fh, id);
    pthread_mutex_unlock(&fh->mu);
    return g;
}

int fakehv_remove_guest(fakehv *fh, const char *id)
{
    pthread_mutex_lock(&fh->mu);
    fakehv_guest *g = find_locked(fh, id);
    if (g)
        g->removed = true;
    pthread_mutex_unlock(&fh->mu);
    return g ? 0 : -ENOENT;
}

void fakehv_set_memory_stats(fakehv_guest *g, const mom_hv_memory_stats *st)
{
    pthread_mutex_lock(&g->fh->mu);
    g->mem = *st;
    g->has_mem = true;
    pthread_mutex_unlock(&g->fh->mu);
}

void fakehv_clear_memory_stats(fakehv_guest *g)
{
    pthread_mutex_lock(&g->fh->mu);
    g->has_mem = false;
    pthread_mutex_unlock(&g->fh->mu);
}

void fakehv_set_balloon(fakehv_guest *g, int64_t cur, int64_t max, int64_t min)
{
    pthread_mutex_lock(&g->fh->mu);
    g->balloon.balloon_cur = cur;
    g->balloon.balloon_max = max;
    g->balloon.balloon_min = min;
    g->has_balloon = true;
    pthread_mutex_unlock(&g->fh->mu);
}

void fakehv_clear_balloon(fakehv_guest *g)
{
    pthread_mutex_lock(&g->fh->mu);
    g->has_balloon = false;
    pthread_mutex_unlock(&g->fh->mu);
}

void fakehv_set_cpu_tune(fakehv_guest *g, int64_t quota, int64_t period, int64_t user_limit,
                         int64_t vcpu_count)
{
    pthread_mutex_lock(&g->fh->mu);
    g->cpu.vcpu_quota = quota;
    g->cpu.vcpu_period = period;
    g->cpu.vcpu_user_limit = user_limit;
    g->cpu.vcpu_count = vcpu_count;
    g->has_cpu = true;
    pthread_mutex_unlock(&g->fh->mu);
}

void fakehv_clear_cpu_tune(fakehv_guest *g)
{
    pthread_mutex_lock(&g->fh->mu);
    g->has_cpu = false;
    pthread_mutex_unlock(&g->fh->mu);
}

int fakehv_add_io_policy(fakehv_guest *g, const char *name, const char *path,
                         const mom_hv_io_limits *guaranteed, const mom_hv_io_limits *maximum)
{
    pthread_mutex_lock(&g->fh->mu);
    int r = disks_add(&g->policy, name, path, guaranteed, maximum);
    pthread_mutex_unlock(&g->fh->mu);
    return r;
}

int fakehv_add_io_tune(fakehv_guest *g, const char *name, const char *path,
                       const mom_hv_io_limits *current)
{
    pthread_mutex_lock(&g->fh->mu);
    int r = disks_add(&g->current, name, path, current, NULL);
    pthread_mutex_unlock(&g->fh->mu);
    return r;
}

void fakehv_clear_io(fakehv_guest *g)
{
    pthread_mutex_lock(&g->fh->mu);
    disks_done(&g->policy);
    disks_done(&g->current);
    pthread_mutex_unlock(&g->fh->mu);
}

int64_t fakehv_balloon_cur(fakehv_guest *g)
{
    pthread_mutex_lock(&g->fh->mu);
    int64_t v = g->balloon.balloon_cur;
    pthread_mutex_unlock(&g->fh->mu);
    return v;
}

void fakehv_cpu_tune(fakehv_guest *g, int64_t *ret_quota, int64_t *ret_period)
{
    pthread_mutex_lock(&g->fh->mu);
    *ret_quota = g->cpu.vcpu_quota;
    *ret_period = g->cpu.vcpu_period;
    pthread_mutex_unlock(&g->fh->mu);
}

int fakehv_io_tune_at(fakehv_guest *g, size_t i, mom_hv_io_limits *ret)
{
    pthread_mutex_lock(&g->fh->mu);
    int r = -ENOENT;
    if (i < g->current.n) {
        *ret = g->current.d[i].a;
        r = 0;
    }
    pthread_mutex_unlock(&g->fh->mu);
    return r;
}

mom_hv_ksm_tune fakehv_ksm_state(fakehv *fh)
{
    pthread_mutex_lock(&fh->mu);
    mom_hv_ksm_tune t = fh->ksm;
    pthread_mutex_unlock(&fh->mu);
    return t;
}

int fakehv_fail(fakehv *fh, const char *id, const char *op, int err)
{
    int i = op_index(op);
    if (i == -2)
        return -EINVAL;
    pthread_mutex_lock(&fh->mu);
    int r = rules_put(&fh->fails, id, i, err, err != 0);
    pthread_mutex_unlock(&fh->mu);
    return r;
}

int fakehv_hang(fakehv *fh, const char *id, const char *op, bool on)
{
    int i = op_index(op);
    if (i == -2)
        return -EINVAL;
    pthread_mutex_lock(&fh->mu);
    int r = rules_put(&fh->hangs, id, i, 0, on);
    pthread_cond_broadcast(&fh->cond);
    pthread_mutex_unlock(&fh->mu);
    return r;
}

void fakehv_release(fakehv *fh)
{
    pthread_mutex_lock(&fh->mu);
    fh->release_gen++;
    pthread_cond_broadcast(&fh->cond);
    pthread_mutex_unlock(&fh->mu);
}

size_t fakehv_n_blocked(fakehv *fh)
{
    pthread_mutex_lock(&fh->mu);
    size_t n = fh->n_blocked;
    pthread_mutex_unlock(&fh->mu);
    return n;
}

bool fakehv_wait_blocked(fakehv *fh, size_t n, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&fh->mu);
    int r = 0;
    while (fh->n_blocked < n && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&fh->cond, &fh->mu, &until);
    bool ok = fh->n_blocked >= n;
    pthread_mutex_unlock(&fh->mu);
    return ok;
}

void fakehv_set_agent_fn(fakehv *fh, fakehv_agent_fn fn, void *userdata)
{
    pthread_mutex_lock(&fh->mu);
    fh->agent_fn = fn;
    fh->agent_userdata = userdata;
    pthread_mutex_unlock(&fh->mu);
}

size_t fakehv_n_calls(fakehv *fh, const char *op)
{
    pthread_mutex_lock(&fh->mu);
    size_t n = 0;
    for (size_t i = 0; i < fh->n_calls; i++)
        if (!op || strcmp(fh->calls[i]->op, op) == 0)
            n++;
    pthread_mutex_unlock(&fh->mu);
    return n;
}

const fakehv_call *fakehv_call_at(fakehv *fh, size_t i)
{
    pthread_mutex_lock(&fh->mu);
    const fakehv_call *c = i < fh->n_calls ? fh->calls[i] : NULL;
    pthread_mutex_unlock(&fh->mu);
    return c;
}

const fakehv_call *fakehv_find_call(fakehv *fh, const char *op, size_t i)
{
    pthread_mutex_lock(&fh->mu);
    const fakehv_call *found = NULL;
    for (size_t k = 0; k < fh->n_calls && !found; k++)
        if (strcmp(fh->calls[k]->op, op) == 0 && i-- == 0)
            found = fh->calls[k];
    pthread_mutex_unlock(&fh->mu);
    return found;
}

void fakehv_clear_calls(fakehv *fh)
{
    pthread_mutex_lock(&fh->mu);
    for (size_t i = 0; i < fh->n_calls; i++)
        call_free(fh->calls[i]);
    fh->n_calls = 0;
    pthread_mutex_unlock(&fh->mu);
}

void fakehv_record_reads(fakehv *fh, bool on)
{
    pthread_mutex_lock(&fh->mu);
    fh->record_reads = on;
    pthread_mutex_unlock(&fh->mu);
}
