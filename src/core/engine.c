/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine: one thread that owns every monitor, the timers of the host
 * monitor, guest manager, guest monitor and policy engine, and a worker
 * pool for everything that may block.  See ARCHITECTURE.md "Threads and
 * time".
 *
 * Locks: policy_mu guards the policy set (API calls from any thread, the
 * evaluation on the engine thread); pub_mu guards the published snapshot
 * that statistics are answered from.  Everything else belongs to the
 * engine thread (or, before start, to the creating thread).
 */
#include "core/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/plugin_loader.h"
#include "rpc/server.h"

#define LOGGER "mom"
#define GUEST_STALE_INTERVALS 3

/* ---- jobs ------------------------------------------------------------ */

typedef struct collect_job {
    mom_engine *e;
    monitor *m;
} collect_job;

typedef struct list_job {
    mom_engine *e;
    mom_hv_list list;
    int rc;
} list_job;

typedef struct info_job {
    mom_engine *e;
    char *id;
    mom_hv_guest_info info;
    int rc;
} info_job;

typedef struct action_job {
    mom_engine *e;
    hv_action_type type;
    char *guest_id;
    char *guest_name;
    int64_t a, b;
    mom_hv_disk_tune *disks;
    size_t n_disks;
    mom_hv_ksm_tune ksm;
    int rc;
} action_job;

static void engine_publish(mom_engine *e, snapshot *s);

/* ---- small helpers ---------------------------------------------------- */

static void wake(mom_engine *e)
{
    uint64_t one = 1;
    ssize_t r = write(e->wake_fd, &one, sizeof(one));
    (void)r;
}

/* hv.wake: a backend saw a guest start or stop; run the guest manager at
 * once (any thread). */
static void hv_wake(void *ctx)
{
    mom_engine *e = ctx;
    atomic_store(&e->manager_req, true);
    wake(e);
}

static double epoch_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void guest_remove_at(mom_engine *e, size_t i)
{
    monitor *m = e->guests[i];
    strmap_del(&e->guest_map, m->ent.id);
    memmove(&e->guests[i], &e->guests[i + 1], (e->n_guests - i - 1) * sizeof(monitor *));
    e->n_guests--;
    e->dirty = true;
    if (m->busy)
        m->removed = true; /* freed when its job comes back */
    else
        monitor_free(m);
}

static void guest_remove(mom_engine *e, monitor *m)
{
    for (size_t i = 0; i < e->n_guests; i++)
        if (e->guests[i] == m) {
            guest_remove_at(e, i);
            return;
        }
}

/* ---- collection ------------------------------------------------------- */

static void collect_work(void *arg)
{
    collect_job *j = arg;
    monitor_collect(j->m);
}

static void collect_timeout(void *arg)
{
    collect_job *j = arg;
    monitor *m = j->m;
    m->late = true;
    mlog_msg(&j->e->log, MOM_LOG_WARN, m->ent.logger,
             "collection is late (more than %.1f s in a hypervisor or agent call); "
             "the other guests go on without it",
             j->e->call_deadline);
}

static void collect_done(void *arg, bool cancelled)
{
    collect_job *j = arg;
    mom_engine *e = j->e;
    monitor *m = j->m;
    mom_free(j);
    m->busy = false;
    if (m->late) {
        m->late = false;
        if (!cancelled && !m->removed && !e->stopping)
            mlog_msg(&e->log, MOM_LOG_INFO, m->ent.logger, "late collection came back");
    }
    if (m->removed) {
        monitor_free(m);
        return;
    }
    if (cancelled || e->stopping)
        return;
    /* Number the sample before the history takes it (sample.seq). */
    if (m->pending)
        m->pending->seq = ++e->sample_seq;
    bool ok = monitor_finish(m);
    if (ok)
        e->dirty = true;
    if (m->fatal) {
        if (m == e->host) {
            mlog_msg(&e->log, MOM_LOG_CRITICAL, LOGGER,
                     "the host monitor failed fatally; the engine stops");
            e->fatal_rc = MOM_E_FATAL;
            e->stop_req = true;
        } else {
            mlog_msg(&e->log, MOM_LOG_WARN, m->ent.logger,
                     "monitor terminated after a fatal collector error; it is re-created "
                     "at the next guest-manager cycle if the guest still runs");
            guest_remove(e, m);
        }
    }
}

static void collect_submit(mom_engine *e, monitor *m)
{
    if (m->busy || m->fatal)
        return;
    collect_job *j = mom_malloc(sizeof(*j));
    if (!j)
        return;
    j->e = e;
    j->m = m;
    if (pool_submit(e->pool, m->ent.id, collect_work, collect_done, collect_timeout, j,
                    e->call_deadline) < 0) {
        mom_free(j);
        return;
    }
    m->busy = true;
}

/* ---- guest manager ---------------------------------------------------- */

static void list_work(void *arg)
{
    list_job *j = arg;
    const hv *h = &j->e->hv;
    j->rc = h->ops->get_vm_list(&j->list, h->userdata);
}

static void info_work(void *arg)
{
    info_job *j = arg;
    const hv *h = &j->e->hv;
    memset(&j->info, 0, sizeof(j->info));
    j->info.size = sizeof(j->info);
    j->rc = hv_has(h, "get_vm_info") ? h->ops->get_vm_info(j->id, &j->info, h->userdata)
                                      : -ENOTSUP;
}

static void info_done(void *arg, bool cancelled)
{
    info_job *j = arg;
    mom_engine *e = j->e;
    strmap_del(&e->info_pending, j->id);
    if (cancelled || e->stopping)
        goto out;
    if (j->rc < 0) {
        mlog_msg(&e->log, MOM_LOG_DEBUG, LOGGER, "no info for guest %s yet: %s", j->id,
                 mom_strerror(j->rc));
        goto out;
    }
    if (!strmap_get(&e->listed, j->id) || strmap_get(&e->guest_map, j->id))
        goto out; /* gone meanwhile, or already known */
    j->info.name[sizeof(j->info.name) - 1] = '\0';
    j->info.uuid[sizeof(j->info.uuid) - 1] = '\0';
    if (!j->info.name[0] || !j->info.uuid[0]) {
        mlog_msg(&e->log, MOM_LOG_DEBUG, LOGGER, "guest %s has no name or UUID yet", j->id);
        goto out;
    }
    monitor *m = NULL;
    int r = monitor_new(&e->env, MOM_ENTITY_GUEST, j->id, j->info.name, j->info.uuid,
                        j->info.pid, e->guest_fields, e->guest_coll, e->n_guest_coll,
                        e->history, &m);
    if (r < 0)
        goto out;
    m->serial = ++e->monitor_serial;
    if (e->n_guests == e->guests_cap) {
        size_t cap = e->guests_cap ? e->guests_cap * 2 : 16;
        monitor **g = mom_realloc(e->guests, cap * sizeof(*g));
        if (!g) {
            monitor_free(m);
            goto out;
        }
        e->guests = g;
        e->guests_cap = cap;
    }
    if (strmap_put(&e->guest_map, j->id, m) < 0) {
        monitor_free(m);
        goto out;
    }
    e->guests[e->n_guests++] = m;
    if (e->plot_dir)
        m->plot = plot_open(e->plot_dir, m->ent.name, e->guest_fields, &e->log);
    mlog_msg(&e->log, MOM_LOG_INFO, "mom.GuestManager", "New guest %s (%s)", m->ent.name,
             m->ent.uuid);
    if (e->hv.refresh)
        e->hv.refresh(e->hv.userdata, pool_now());
    collect_submit(e, m);
out:
    mom_free(j->id);
    mom_free(j);
}

static void list_done(void *arg, bool cancelled)
{
    list_job *j = arg;
    mom_engine *e = j->e;
    if (cancelled || e->stopping)
        goto out;
    if (j->rc < 0) {
        if (!e->list_failing)
            mlog_msg(&e->log, MOM_LOG_WARN, "mom.GuestManager",
                     "cannot list guests: %s (keeping the known guests)", mom_strerror(j->rc));
        e->list_failing = true;
        goto out;
    }
    if (e->list_failing)
        mlog_msg(&e->log, MOM_LOG_INFO, "mom.GuestManager", "guest list is available again");
    e->list_failing = false;
    strmap_done(&e->listed);
    strmap_init(&e->listed);
    for (size_t i = 0; i < j->list.n; i++) {
        const char *id = j->list.ids[i];
        if (strmap_put(&e->listed, id, (void *)1) < 0)
            goto out;
        if (strmap_get(&e->guest_map, id) || strmap_get(&e->info_pending, id))
            continue;
        info_job *ij = mom_calloc(1, sizeof(*ij));
        if (!ij || !(ij->id = mom_strdup(id))) {
            mom_free(ij);
            continue;
        }
        ij->e = e;
        if (strmap_put(&e->info_pending, id, ij) < 0 ||
            pool_submit(e->pool, id, info_work, info_done, NULL, ij, e->call_deadline) < 0) {
            strmap_del(&e->info_pending, id);
            mom_free(ij->id);
            mom_free(ij);
        }
    }
    for (size_t i = e->n_guests; i-- > 0;) {
        monitor *m = e->guests[i];
        if (!strmap_get(&e->listed, m->ent.id)) {
            mlog_msg(&e->log, MOM_LOG_INFO, "mom.GuestManager", "Guest %s is gone",
                     m->ent.name);
            guest_remove_at(e, i);
        }
    }
out:
    hv_list_done(&j->list);
    mom_free(j);
}

static void manager_run(mom_engine *e)
{
    if (!hv_has(&e->hv, "get_vm_list"))
        return;
    if (pool_busy(e->pool, "\001manager"))
        return;
    list_job *j = mom_calloc(1, sizeof(*j));
    if (!j)
        return;
    j->e = e;
    hv_list_init(&j->list);
    if (pool_submit(e->pool, "\001manager", list_work, list_done, NULL, j, e->call_deadline) < 0)
        mom_free(j);
}

/* ---- controller actions ----------------------------------------------- */

static void action_work(void *arg)
{
    action_job *j = arg;
    const hv *h = &j->e->hv;
    switch (j->type) {
    case HV_ACT_BALLOON:
        j->rc = h->ops->set_vm_balloon_target(j->guest_id, j->a, h->userdata);
        break;
    case HV_ACT_CPU_TUNE:
        j->rc = h->ops->set_vm_cpu_tune(j->guest_id, j->a, j->b, h->userdata);
        break;
    case HV_ACT_IO_TUNE:
        j->rc = h->ops->set_vm_io_tune(j->guest_id, j->disks, j->n_disks, h->userdata);
        break;
    case HV_ACT_KSM:
        j->rc = h->ops->ksm_tune(&j->ksm, h->userdata);
        break;
    }
}

static void action_free(action_job *j)
{
    for (size_t i = 0; j->disks && i < j->n_disks; i++) {
        mom_free((char *)j->disks[i].name);
        mom_free((char *)j->disks[i].path);
    }
    mom_free(j->disks);
    mom_free(j->guest_id);
    mom_free(j->guest_name);
    mom_free(j);
}

static void action_done(void *arg, bool cancelled)
{
    action_job *j = arg;
    static const char *const names[] = {"", "set balloon target", "set CPU tune", "set I/O tune",
                                        "KSM tune"};
    if (!cancelled && j->rc < 0)
        mlog_msg(&j->e->log, MOM_LOG_WARN, "mom.Controller", "%s%s%s failed: %s",
                 names[j->type], j->guest_name ? " of " : "",
                 j->guest_name ? j->guest_name : "", mom_strerror(j->rc));
    action_free(j);
}

static int engine_action(const hv_action *a, void *userdata)
{
    mom_engine *e = userdata;
    action_job *j = mom_calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->e = e;
    j->type = a->type;
    j->a = a->a;
    j->b = a->b;
    j->ksm = a->ksm;
    if (a->guest_id && !(j->guest_id = mom_strdup(a->guest_id)))
        goto fail;
    if (a->guest_name && !(j->guest_name = mom_strdup(a->guest_name)))
        goto fail;
    if (a->n_disks) {
        j->disks = mom_calloc(a->n_disks, sizeof(*j->disks));
        if (!j->disks)
            goto fail;
        j->n_disks = a->n_disks;
        for (size_t i = 0; i < a->n_disks; i++) {
            j->disks[i] = a->disks[i];
            j->disks[i].name = a->disks[i].name ? mom_strdup(a->disks[i].name) : NULL;
            j->disks[i].path = a->disks[i].path ? mom_strdup(a->disks[i].path) : NULL;
        }
    }
    if (pool_submit(e->pool, j->guest_id ? j->guest_id : "\001host", action_work, action_done,
                    NULL, j, e->call_deadline) < 0)
        goto fail;
    return 0;
fail:
    action_free(j);
    return -ENOMEM;
}

/* ---- snapshots and policy cycles -------------------------------------- */

static int entity_from_monitor(snap_entity *se, monitor *m, sample **buf)
{
    size_t n = monitor_history(m, buf);
    int r = snap_entity_init(se, m->ent.kind, m->ent.id, m->ent.name, m->ent.uuid, m->ent.pid,
                             m->props, m->fields, buf, n);
    se->serial = m->serial;
    return r;
}

/* The consistent view of this moment: the host and every guest that is
 * ready and not stale (REFERENCE §3.3, ARCHITECTURE "stale guest" rule). */
static snapshot *build_snapshot(mom_engine *e)
{
    double now = pool_now();
    double stale_after = GUEST_STALE_INTERVALS * (double)e->env.guest_interval + 0.5;
    size_t n = 0;
    for (size_t i = 0; i < e->n_guests; i++) {
        monitor *m = e->guests[i];
        if (m->ready == MONITOR_READY && m->hist_len && now - m->last_ok <= stale_after)
            n++;
    }
    snapshot *s = snapshot_new(n);
    sample **buf = mom_calloc(e->history ? e->history : 1, sizeof(sample *));
    if (!s || !buf)
        goto fail;
    s->time = epoch_now();
    s->host_fields = e->host_fields;
    s->guest_fields = e->guest_fields;
    if (entity_from_monitor(&s->host, e->host, buf) < 0)
        goto fail;
    size_t k = 0;
    for (size_t i = 0; i < e->n_guests && k < n; i++) {
        monitor *m = e->guests[i];
        if (m->ready == MONITOR_READY && m->hist_len && now - m->last_ok <= stale_after)
            if (entity_from_monitor(&s->guests[k++], m, buf) < 0)
                goto fail;
    }
    mom_free(buf);
    return s;
fail:
    mom_free(buf);
    snapshot_unref(s);
    return NULL;
}

static mom_value *fval_value_or_none(const snap_entity *se, const char *field)
{
    const fval *f = snap_entity_current(se, field);
    return f ? fval_to_value(f) : value_new_none();
}

/* The report handed to mom_config.cycle_fn (documented in mom.h). */
static mom_value *build_report(const snapshot *s, const controls *c, const char *error)
{
    static const char *const host_fields[] = {
        "mem_available", "mem_free", "mem_unused", "swap_usage", "psi_mem_some_avg10",
        "psi_mem_full_avg10", "ksm_run", "ksm_pages_to_scan", "ksm_pages_sharing",
        "ksm_pages_shared", NULL};
    static const char *const guest_fields[] = {"balloon_cur", "balloon_max", "balloon_min",
                                               "mem_unused", "mem_available", "swap_in",
                                               "swap_out", NULL};
    mom_value *r = value_new_map();
    mom_value *host = value_new_map();
    mom_value *guests = value_new_list();
    if (!r || !host || !guests)
        goto fail;
    value_map_set(r, "time", value_new_real(s->time));
    value_map_set(r, "ok", value_new_bool(error == NULL));
    if (error)
        value_map_set(r, "error", value_new_string(error));
    for (size_t i = 0; host_fields[i]; i++)
        value_map_set(host, host_fields[i], fval_value_or_none(&s->host, host_fields[i]));
    value_map_set(r, "host", host);
    host = NULL;
    value_map_set(r, "host_controls", c ? mom_value_ref(c->host) : value_new_map());
    for (size_t g = 0; g < s->n_guests; g++) {
        const snap_entity *se = &s->guests[g];
        mom_value *gm = value_new_map();
        if (!gm)
            goto fail;
        value_map_set(gm, "name", value_new_string(se->name));
        for (size_t i = 0; guest_fields[i]; i++)
            value_map_set(gm, guest_fields[i], fval_value_or_none(se, guest_fields[i]));
        value_map_set(gm, "controls",
                      c && g < c->n_guests ? mom_value_ref(c->guests[g]) : value_new_map());
        value_list_append(guests, gm);
    }
    value_map_set(r, "guests", guests);
    return r;
fail:
    mom_value_unref(host);
    mom_value_unref(guests);
    mom_value_unref(r);
    return NULL;
}

static void policy_cycle(mom_engine *e)
{
    if (!e->host || e->host->ready != MONITOR_READY) {
        mlog_msg(&e->log, MOM_LOG_DEBUG, "mom.PolicyEngine",
                 "the host is not ready: skipping this policy cycle");
        return;
    }
    snapshot *s = build_snapshot(e);
    if (!s)
        return;
    controls *ctl = NULL;
    char *err = NULL;
    pthread_mutex_lock(&e->policy_mu);
    int rc = policy_set_eval(e->policy, s, &ctl, NULL, &err);
    pthread_mutex_unlock(&e->policy_mu);
    if (rc < 0) {
        mlog_msg(&e->log, MOM_LOG_ERROR, "mom.PolicyEngine", "Policy error: %s",
                 err ? err : mom_strerror(rc));
    } else {
        mom_cycle cyc;
        if (cycle_init(&cyc, &e->env, s, ctl, engine_action, e) == 0) {
            for (size_t i = 0; i < e->n_ctls; i++) {
                int r = e->ctls[i]->process(e->ctl_state[i], &e->env.api, &cyc);
                if (r < 0)
                    mlog_msg(&e->log, MOM_LOG_ERROR, "mom.Controller", "controller %s failed: %s",
                             e->ctls[i]->name, mom_strerror(r));
            }
            cycle_done(&cyc);
        }
    }
    e->cycles++;
    mom_value *report = build_report(s, rc < 0 ? NULL : ctl, rc < 0 ? (err ? err : "error") : NULL);
    if (report && e->cycle_fn)
        e->cycle_fn(report, e->cycle_userdata);
    if (report) {
        pthread_mutex_lock(&e->pub_mu);
        mom_value *old = e->last_report;
        e->last_report = report;
        pthread_mutex_unlock(&e->pub_mu);
        mom_value_unref(old);
    }
    controls_free(ctl);
    mom_free(err);
    engine_publish(e, s); /* takes s */
}

static void engine_publish(mom_engine *e, snapshot *s)
{
    pthread_mutex_lock(&e->pub_mu);
    snapshot *old = e->published;
    e->published = s;
    pthread_mutex_unlock(&e->pub_mu);
    snapshot_unref(old);
    e->dirty = false;
    e->last_publish = pool_now();
}

/* ---- policy files ----------------------------------------------------- */

/* Load `policy` or `policy-dir` into the set, all or nothing (the running
 * set stays on any error). */
static int load_policy_files(mom_engine *e, char **ret_error)
{
    const char *file = conf_get(e->conf, "main", "policy");
    const char *dir = conf_get(e->conf, "main", "policy-dir");
    pthread_mutex_lock(&e->policy_mu);
    int rc = policy_set_load_files(e->policy, file && *file ? file : NULL,
                                   dir && *dir ? dir : NULL, ret_error);
    pthread_mutex_unlock(&e->policy_mu);
    return rc;
}

static int reload_policies(mom_engine *e, char **ret_error)
{
    char *err = NULL;
    int rc = load_policy_files(e, &err);
    if (rc < 0)
        mlog_msg(&e->log, MOM_LOG_ERROR, "mom.PolicyEngine",
                 "reloading the policy files failed; the running policy set stays: %s",
                 err ? err : mom_strerror(rc));
    else
        mlog_msg(&e->log, MOM_LOG_INFO, "mom.PolicyEngine", "policy files reloaded");
    if (ret_error)
        *ret_error = err;
    else
        mom_free(err);
    return rc;
}

/* ---- the engine thread ------------------------------------------------ */

static double next_after(double due, double interval, double now)
{
    due += interval;
    return due <= now ? now + interval : due;
}

static void *engine_main(void *arg)
{
    mom_engine *e = arg;
    double now = pool_now();
    double t_host = now, t_mgr = now, t_guest = now + 0.2;
    double t_policy = now + e->env.policy_interval;
    mlog_msg(&e->log, MOM_LOG_INFO, LOGGER, "MOM engine started (hypervisor interface: %s)",
             e->hv.name ? e->hv.name : "?");
    while (!e->stop_req) {
        now = pool_now();
        bool mgr_req = atomic_exchange(&e->manager_req, false);
        if (now >= t_mgr || mgr_req) {
            /* A wake-up while a listing runs is kept for after it, so a
             * guest that started meanwhile is not missed. */
            if (mgr_req && pool_busy(e->pool, "\001manager"))
                atomic_store(&e->manager_req, true);
            else
                manager_run(e);
            if (now >= t_mgr)
                t_mgr = next_after(t_mgr, e->env.manager_interval, now);
        }
        if (now >= t_host) {
            if (e->hv.refresh)
                e->hv.refresh(e->hv.userdata, now);
            collect_submit(e, e->host);
            t_host = next_after(t_host, e->env.host_interval, now);
        }
        if (now >= t_guest) {
            if (e->hv.refresh && e->n_guests)
                e->hv.refresh(e->hv.userdata, now);
            for (size_t i = 0; i < e->n_guests; i++)
                collect_submit(e, e->guests[i]);
            t_guest = next_after(t_guest, e->env.guest_interval, now);
        }
        if (now >= t_policy) {
            policy_cycle(e);
            t_policy = next_after(t_policy, e->env.policy_interval, now);
        }
        if (e->dirty && now - e->last_publish >= 1.0 && e->host &&
            e->host->ready == MONITOR_READY) {
            snapshot *s = build_snapshot(e);
            if (s)
                engine_publish(e, s);
        }
        double due = pool_check(e->pool, now);
        double next = t_host;
        if (t_mgr < next)
            next = t_mgr;
        if (t_guest < next)
            next = t_guest;
        if (t_policy < next)
            next = t_policy;
        if (due > 0 && due < next)
            next = due;
        if (e->dirty && e->last_publish + 1.0 < next)
            next = e->last_publish + 1.0;
        int timeout = (int)((next - pool_now()) * 1000.0) + 1;
        if (timeout < 0)
            timeout = 0;
        struct pollfd pfd[2] = {{.fd = e->wake_fd, .events = POLLIN},
                                {.fd = pool_fd(e->pool), .events = POLLIN}};
        int r = poll(pfd, 2, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (pfd[1].revents & POLLIN)
            pool_dispatch(e->pool);
        if (pfd[0].revents & POLLIN) {
            uint64_t v;
            ssize_t rr = read(e->wake_fd, &v, sizeof(v));
            (void)rr;
        }
        if (e->reload_req) {
            e->reload_req = false;
            reload_policies(e, NULL);
        }
    }
    e->stopping = true;
    pool_stop(e->pool);
    if (!pool_drain(e->pool, e->call_deadline))
        mlog_msg(&e->log, MOM_LOG_WARN, LOGGER,
                 "some hypervisor calls are still running after %.1f s; they are abandoned "
                 "until the engine is freed",
                 e->call_deadline);
    pool_dispatch(e->pool);
    mlog_msg(&e->log, MOM_LOG_INFO, LOGGER, "MOM engine stopped");
    pthread_mutex_lock(&e->state_mu);
    e->running = false;
    pthread_cond_broadcast(&e->state_cv);
    pthread_mutex_unlock(&e->state_mu);
    return NULL;
}

/* ---- construction ----------------------------------------------------- */

typedef struct report_ctx {
    mlog *log;
} report_ctx;

static void conf_report(mom_log_level level, const char *msg, void *userdata)
{
    report_ctx *rc = userdata;
    mlog_msg(rc->log, level, "mom.Config", "%s", msg);
}

/* Which hypervisor operation each built-in collector needs. */
static const struct {
    const char *collector;
    const char *op;
} needs[] = {
    {"GuestMemory", "get_vm_memory_stats"},  {"GuestMemoryOptional", "get_vm_memory_stats"},
    {"GuestBalloon", "get_vm_balloon_info"}, {"GuestBalloonOptional", "get_vm_balloon_info"},
    {"GuestCpuTune", "get_vm_cpu_tune_info"}, {"GuestIoTune", "get_vm_io_tune_policy"},
    {"GuestIoTuneOptional", "get_vm_io_tune_policy"}, {"Balloon", "set_vm_balloon_target"},
    {"CpuTune", "set_vm_cpu_tune"},          {"IoTune", "set_vm_io_tune"},
};

static void config_error(mlog *log, const conf *c, const char *section, const char *key,
                         const char *fmt, const char *arg)
{
    const char *file = NULL;
    int line = 0;
    char where[512];
    if (conf_key_location(c, section, key, &file, &line) == 0 && line > 0)
        snprintf(where, sizeof(where), "%s:%d: %s: ", file, line, key);
    else if (file)
        snprintf(where, sizeof(where), "%s: [%s] %s: ", file, section, key);
    else
        snprintf(where, sizeof(where), "[%s] %s: ", section, key);
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, arg);
    mlog_msg(log, MOM_LOG_ERROR, "mom.Config", "%s%s", where, msg);
}

/* Resolve a collector list into descriptors, checking names and kinds. */
static int resolve_collectors(mlog *log, const conf *c, registry *reg, const char *section,
                              mom_entity_kind kind, const mom_collector ***ret, size_t *ret_n)
{
    const char *const *items;
    size_t n;
    int rc = 0;
    *ret = NULL;
    *ret_n = 0;
    if (conf_get_list(c, section, "collectors", &items, &n) < 0)
        return -ENOMEM;
    const mom_collector **arr = mom_calloc(n ? n : 1, sizeof(*arr));
    if (!arr)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const mom_collector *col = registry_find_collector(reg, items[i]);
        if (!col) {
            config_error(log, c, section, "collectors", "unknown collector '%s'", items[i]);
            rc = MOM_E_CONFIG;
        } else if (col->kind != kind) {
            config_error(log, c, section, "collectors",
                         kind == MOM_ENTITY_HOST ? "'%s' is a guest collector"
                                                 : "'%s' is a host collector",
                         items[i]);
            rc = MOM_E_CONFIG;
        }
        arr[i] = col;
    }
    if (rc < 0) {
        mom_free(arr);
        return rc;
    }
    *ret = arr;
    *ret_n = n;
    return 0;
}

static int build_fields(const mom_collector *const *coll, size_t n, fieldtab **ret)
{
    fieldtab *t = fieldtab_new();
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        for (const char *const *f = coll[i]->mandatory; f && *f; f++)
            if (fieldtab_add(t, *f, true) < 0)
                goto fail;
    for (size_t i = 0; i < n; i++)
        for (const char *const *f = coll[i]->optional; f && *f; f++)
            if (fieldtab_add(t, *f, false) < 0)
                goto fail;
    if (fieldtab_finish(t) < 0)
        goto fail;
    *ret = t;
    return 0;
fail:
    fieldtab_free(t);
    return -ENOMEM;
}

/* Check everything about a loaded configuration that needs the registry:
 * collector and controller names and kinds, controller requirements, the
 * hypervisor interface.  Fills the engine's lists when `e` is not NULL. */
static int validate(mlog *log, const conf *c, registry *reg, bool embedded, mom_engine *e)
{
    const mom_collector **hc = NULL, **gc = NULL;
    size_t nhc = 0, ngc = 0;
    int rc = 0, r;
    if ((r = resolve_collectors(log, c, reg, "host", MOM_ENTITY_HOST, &hc, &nhc)) < 0)
        rc = r;
    if ((r = resolve_collectors(log, c, reg, "guest", MOM_ENTITY_GUEST, &gc, &ngc)) < 0)
        rc = r;
    const char *const *items;
    size_t n = 0;
    const mom_controller **ctls = NULL;
    if (conf_get_list(c, "main", "controllers", &items, &n) < 0 ||
        !(ctls = mom_calloc(n ? n : 1, sizeof(*ctls)))) {
        rc = -ENOMEM;
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        ctls[i] = registry_find_controller(reg, items[i]);
        if (!ctls[i]) {
            config_error(log, c, "main", "controllers", "unknown controller '%s'", items[i]);
            rc = MOM_E_CONFIG;
            continue;
        }
        for (const char *const *req = ctls[i]->requires; req && *req; req++) {
            bool found = false;
            for (size_t k = 0; k < nhc && hc; k++)
                if (hc[k] && strcasecmp(hc[k]->name, *req) == 0)
                    found = true;
            for (size_t k = 0; k < ngc && gc; k++)
                if (gc[k] && strcasecmp(gc[k]->name, *req) == 0)
                    found = true;
            if (!found) {
                char msg[256];
                snprintf(msg, sizeof(msg), "controller %s needs the collector %s", ctls[i]->name,
                         *req);
                config_error(log, c, "main", "controllers", "%s", msg);
                rc = MOM_E_CONFIG;
            }
        }
    }
    if (!embedded) {
        const char *hvname = conf_get(c, "main", "hypervisor-interface");
        if (!hv_backend_available(hvname)) {
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "'%s' is not available in this build (available: %s; a host program may "
                     "supply its own callbacks)",
                     hvname ? hvname : "", hv_backend_names());
            config_error(log, c, "main", "hypervisor-interface", "%s", msg);
            rc = MOM_E_CONFIG;
        }
    }
    if (rc == 0 && e) {
        e->host_coll = hc;
        e->n_host_coll = nhc;
        e->guest_coll = gc;
        e->n_guest_coll = ngc;
        e->ctls = ctls;
        e->n_ctls = n;
        return 0;
    }
    mom_free(hc);
    mom_free(gc);
    mom_free(ctls);
    return rc;
}

static void cfg_log_fallback(mom_log_level l, const char *logger, const char *msg, void *ud)
{
    (void)l;
    (void)logger;
    (void)msg;
    (void)ud;
}

static int load_conf(const mom_config *cfg, mlog *log, conf **ret)
{
    report_ctx rctx = {log};
    return conf_load(cfg->config_file, cfg->overrides, cfg->n_overrides, conf_report, &rctx, ret);
}

static mom_log_level initial_level(const mom_config *cfg, const conf *c)
{
    if (cfg->log_level)
        return cfg->log_level;
    return c ? conf_parse_level(conf_get(c, "logging", "verbosity")) : MOM_LOG_INFO;
}

MOM_API int mom_config_check(const mom_config *cfg)
{
    if (!cfg || cfg->size < offsetof(mom_config, hv_ops))
        return -EINVAL;
    mlog log;
    mlog_init(&log, cfg->log_fn ? cfg->log_fn : cfg_log_fallback, cfg->log_userdata,
              MOM_LOG_DEBUG);
    conf *c = NULL;
    int rc = load_conf(cfg, &log, &c);
    if (rc < 0)
        return rc == -ENOMEM ? rc : MOM_E_CONFIG;
    registry *reg = NULL;
    rc = registry_new(&reg);
    /* Issue 7: plugin collectors and controllers are valid names too. */
    api_env penv;
    plugin_set *plugins = NULL;
    if (rc == 0) {
        api_env_init(&penv, c, &log, NULL);
        penv.registry = reg;
        rc = plugin_loader_load_dir(&penv, conf_get(c, "main", "plugin-dir"), &plugins);
        if (rc < 0 && rc != -ENOMEM)
            rc = MOM_E_CONFIG;
    }
    if (rc == 0)
        rc = validate(&log, c, reg, cfg->size > offsetof(mom_config, hv_ops) && cfg->hv_ops, NULL);
    registry_free(reg);
    plugin_loader_free(plugins);
    conf_free(c);
    return rc;
}

static void warn_missing_ops(mom_engine *e)
{
    if (!hv_has(&e->hv, "get_vm_list"))
        mlog_msg(&e->log, MOM_LOG_WARN, LOGGER,
                 "the hypervisor interface cannot list guests: no guest is monitored");
    /* Issue 7: a guest is only monitored once its info arrived. */
    else if (!hv_has(&e->hv, "get_vm_info"))
        mlog_msg(&e->log, MOM_LOG_WARN, LOGGER,
                 "the hypervisor interface has no get_vm_info: no guest is monitored");
    for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
        bool used = false;
        for (size_t k = 0; k < e->n_guest_coll; k++)
            if (strcasecmp(e->guest_coll[k]->name, needs[i].collector) == 0)
                used = true;
        for (size_t k = 0; k < e->n_ctls; k++)
            if (strcasecmp(e->ctls[k]->name, needs[i].collector) == 0)
                used = true;
        if (used && !hv_has(&e->hv, needs[i].op))
            mlog_msg(&e->log, MOM_LOG_WARN, LOGGER,
                     "the hypervisor interface has no %s: %s is disabled", needs[i].op,
                     needs[i].collector);
    }
}

MOM_API int mom_engine_new(const mom_config *cfg, mom_engine **ret)
{
    if (!cfg || !ret || cfg->size < offsetof(mom_config, hv_ops))
        return -EINVAL;
    mom_engine *e = mom_calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->wake_fd = -1;
    pthread_mutex_init(&e->policy_mu, NULL);
    pthread_mutex_init(&e->pub_mu, NULL);
    pthread_mutex_init(&e->state_mu, NULL);
    pthread_cond_init(&e->state_cv, NULL);
    strmap_init(&e->guest_map);
    strmap_init(&e->listed);
    strmap_init(&e->info_pending);
    mlog_init(&e->log, cfg->log_fn ? cfg->log_fn : cfg_log_fallback, cfg->log_userdata,
              cfg->log_level ? cfg->log_level : MOM_LOG_DEBUG);
    if (cfg->size >= offsetof(mom_config, cycle_userdata) + sizeof(void *)) {
        e->cycle_fn = cfg->cycle_fn;
        e->cycle_userdata = cfg->cycle_userdata;
    }
    bool embedded = cfg->size > offsetof(mom_config, hv_ops) && cfg->hv_ops;
    char *err = NULL;
    int rc = load_conf(cfg, &e->log, &e->conf);
    if (rc < 0) {
        rc = rc == -ENOMEM ? rc : MOM_E_CONFIG;
        goto fail;
    }
    mlog_set_level(&e->log, initial_level(cfg, e->conf));
    if ((rc = registry_new(&e->registry)) < 0)
        goto fail;
    /* Issue 7: loadable plugins from [main] plugin-dir, before validate()
     * so that configured names may refer to plugin collectors and
     * controllers.  Their init gets the api table without a hypervisor;
     * the api_env_init() below completes the same table in place. */
    api_env_init(&e->env, e->conf, &e->log, NULL);
    e->env.registry = e->registry;
    if ((rc = plugin_loader_load_dir(&e->env, conf_get(e->conf, "main", "plugin-dir"),
                                     &e->plugins)) < 0) {
        rc = rc == -ENOMEM || rc == MOM_E_ABI ? rc : MOM_E_CONFIG;
        goto fail;
    }
    if ((rc = validate(&e->log, e->conf, e->registry, embedded, e)) < 0)
        goto fail;
    if (embedded) {
        hv_init_embedded(&e->hv, cfg->hv_ops, cfg->hv_userdata);
    } else if ((rc = hv_create(e->conf, &e->log, &e->hv)) < 0) {
        goto fail;
    }
    e->hv_ready = true;
    api_env_init(&e->env, e->conf, &e->log, &e->hv);
    e->env.registry = e->registry;
    e->history = (size_t)conf_get_int(e->conf, "main", "sample-history-length");
    e->call_deadline = (double)conf_get_int(e->conf, "main", "call-deadline-ms") / 1000.0;
    if ((rc = build_fields(e->host_coll, e->n_host_coll, &e->host_fields)) < 0 ||
        (rc = build_fields(e->guest_coll, e->n_guest_coll, &e->guest_fields)) < 0)
        goto fail;
    /* Issue 4: the Fortran-like load-time checks know the configured
     * collectors' fields and controllers' controls (POLICY-LANGUAGE §11). */
    e->policy_catalog = policy_catalog_new(e->host_fields, e->guest_fields,
                                           (const mom_controller *const *)e->ctls, e->n_ctls);
    if (!e->policy_catalog) {
        rc = -ENOMEM;
        goto fail;
    }
    policy_opts popts = {
        .step_limit = conf_get_int(e->conf, "main", "policy-step-limit"),
        .depth_limit = (int)conf_get_int(e->conf, "main", "policy-depth-limit"),
        .log = &e->log,
        .catalog = e->policy_catalog, /* issue 4 */
    };
    if ((rc = policy_set_new(&popts, &e->policy)) < 0)
        goto fail;
    if ((rc = load_policy_files(e, &err)) < 0) {
        mlog_msg(&e->log, MOM_LOG_ERROR, "mom.PolicyEngine", "cannot load the policy files: %s",
                 err ? err : mom_strerror(rc));
        rc = rc == -ENOMEM ? rc : MOM_E_POLICY;
        goto fail;
    }
    e->ctl_state = mom_calloc(e->n_ctls ? e->n_ctls : 1, sizeof(void *));
    if (!e->ctl_state) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < e->n_ctls; i++) {
        if (e->ctls[i]->init && (rc = e->ctls[i]->init(&e->env.api, &e->ctl_state[i])) < 0) {
            mlog_msg(&e->log, MOM_LOG_ERROR, LOGGER, "controller %s failed to start: %s",
                     e->ctls[i]->name, mom_strerror(rc));
            goto fail;
        }
        e->ctl_inited = i + 1;
    }
    if ((rc = monitor_new(&e->env, MOM_ENTITY_HOST, "host", "host", NULL, 0, e->host_fields,
                          e->host_coll, e->n_host_coll, e->history, &e->host)) < 0)
        goto fail;
    e->host->serial = ++e->monitor_serial;
    warn_missing_ops(e);
    e->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (e->wake_fd < 0) {
        rc = -errno;
        goto fail;
    }
    e->hv.wake = hv_wake;
    e->hv.wake_ctx = e;
    mom_free(err);
    *ret = e;
    return 0;
fail:
    mom_free(err);
    mom_engine_free(e);
    return rc;
}

MOM_API int mom_engine_start(mom_engine *e)
{
    if (!e)
        return -EINVAL;
    pthread_mutex_lock(&e->state_mu);
    int rc = 0;
    if (e->started) {
        rc = e->stop_req ? MOM_E_STATE : -EALREADY;
        goto out;
    }
    const char *plot = conf_get(e->conf, "main", "plot-dir");
    if (plot && *plot && !e->plot_dir && (e->plot_dir = plot_dir_create(plot, &e->log)))
        e->host->plot = plot_open(e->plot_dir, "HostMonitor", e->host_fields, &e->log);
    size_t workers = (size_t)conf_get_int(e->conf, "main", "worker-threads");
    if ((rc = pool_new(workers, workers, &e->pool)) < 0)
        goto out;
    e->running = true;
    rc = -pthread_create(&e->thread, NULL, engine_main, e);
    if (rc < 0) {
        e->running = false;
        goto out;
    }
    e->started = true;
out:
    pthread_mutex_unlock(&e->state_mu);
    /* The RPC server (rpc-port) answers from the published snapshot and
     * the public functions only; it starts once the engine runs. */
    struct rpcserver *rpc = NULL;
    if (rc == 0 && (rc = rpcserver_start(e, e->conf, &e->log, &rpc)) < 0) {
        mlog_msg(&e->log, MOM_LOG_ERROR, LOGGER, "cannot start the RPC server: %s",
                 mom_strerror(rc));
        mom_engine_stop(e);
    } else if (rc == 0) {
        pthread_mutex_lock(&e->state_mu);
        e->rpc = rpc;
        pthread_mutex_unlock(&e->state_mu);
    }
    return rc;
}

MOM_API int mom_engine_stop(mom_engine *e)
{
    if (!e)
        return -EINVAL;
    /* No request reaches a stopping engine; the pointer is taken under the
     * lock so that two threads stopping at once do not both free it. */
    pthread_mutex_lock(&e->state_mu);
    struct rpcserver *rpc = e->rpc;
    e->rpc = NULL;
    pthread_mutex_unlock(&e->state_mu);
    rpcserver_stop(rpc);
    pthread_mutex_lock(&e->state_mu);
    bool join = e->started && !e->joined;
    e->stop_req = true;
    e->joined = true;
    pthread_mutex_unlock(&e->state_mu);
    if (e->wake_fd >= 0)
        wake(e);
    if (join)
        pthread_join(e->thread, NULL);
    return 0;
}

MOM_API int mom_engine_wait(mom_engine *e)
{
    if (!e)
        return -EINVAL;
    pthread_mutex_lock(&e->state_mu);
    while (e->running)
        pthread_cond_wait(&e->state_cv, &e->state_mu);
    pthread_mutex_unlock(&e->state_mu);
    return e->fatal_rc;
}

MOM_API void mom_engine_free(mom_engine *e)
{
    if (!e)
        return;
    mom_engine_stop(e);
    e->stopping = true;
    pool_free(e->pool); /* joins every worker, also late ones */
    e->pool = NULL;
    for (size_t i = 0; i < e->n_guests; i++)
        monitor_free(e->guests[i]);
    mom_free(e->guests);
    monitor_free(e->host);
    for (size_t i = 0; i < e->ctl_inited; i++)
        if (e->ctls[i]->fini)
            e->ctls[i]->fini(e->ctl_state[i]);
    mom_free(e->ctl_state);
    policy_set_free(e->policy);
    policy_catalog_free(e->policy_catalog); /* issue 4 */
    snapshot_unref(e->published);
    mom_value_unref(e->last_report);
    mom_free(e->plot_dir);
    if (e->hv_ready)
        hv_destroy(&e->hv);
    fieldtab_free(e->host_fields);
    fieldtab_free(e->guest_fields);
    mom_free(e->host_coll);
    mom_free(e->guest_coll);
    mom_free(e->ctls);
    registry_free(e->registry);
    /* Issue 7: plugin code goes last, after every monitor, controller and
     * the registry that point into it. */
    plugin_loader_free(e->plugins);
    conf_free(e->conf);
    strmap_done(&e->guest_map);
    strmap_done(&e->listed);
    strmap_done(&e->info_pending);
    if (e->wake_fd >= 0)
        close(e->wake_fd);
    pthread_mutex_destroy(&e->policy_mu);
    pthread_mutex_destroy(&e->pub_mu);
    pthread_mutex_destroy(&e->state_mu);
    pthread_cond_destroy(&e->state_cv);
    mom_free(e);
}

/* ---- public operations ------------------------------------------------ */

MOM_API int mom_engine_reload(mom_engine *e)
{
    if (!e)
        return -EINVAL;
    e->reload_req = true;
    wake(e);
    return 0;
}

MOM_API int mom_engine_set_verbosity(mom_engine *e, const char *level)
{
    if (!e || !level)
        return -EINVAL;
    mlog_set_level(&e->log, conf_parse_level(level));
    return 0;
}

MOM_API bool mom_engine_ping(mom_engine *e)
{
    if (!e)
        return false;
    pthread_mutex_lock(&e->state_mu);
    bool r = e->running;
    pthread_mutex_unlock(&e->state_mu);
    return r;
}

static int policy_result(mom_engine *e, int rc, char *err, char **ret_error)
{
    if (rc < 0 && err)
        mlog_msg(&e->log, MOM_LOG_ERROR, "mom.PolicyEngine", "policy not accepted: %s", err);
    if (ret_error)
        *ret_error = err;
    else
        mom_free(err);
    return rc;
}

MOM_API int mom_engine_set_policy(mom_engine *e, const char *text, char **ret_error)
{
    if (!e)
        return -EINVAL;
    const char *names[] = {"50_main_"};
    const char *texts[] = {text};
    char *err = NULL;
    pthread_mutex_lock(&e->policy_mu);
    int rc = policy_set_replace(e->policy, names, texts, NULL, text ? 1 : 0, &err);
    pthread_mutex_unlock(&e->policy_mu);
    return policy_result(e, rc, err, ret_error);
}

MOM_API int mom_engine_set_named_policy(mom_engine *e, const char *name, const char *text,
                                        char **ret_error)
{
    if (!e || !name)
        return -EINVAL;
    char *err = NULL;
    pthread_mutex_lock(&e->policy_mu);
    int rc = policy_set_set(e->policy, name, text, NULL, &err);
    pthread_mutex_unlock(&e->policy_mu);
    return policy_result(e, rc, err, ret_error);
}

MOM_API int mom_engine_get_policy(mom_engine *e, char **ret_text)
{
    if (!e || !ret_text)
        return -EINVAL;
    pthread_mutex_lock(&e->policy_mu);
    *ret_text = policy_set_text(e->policy);
    pthread_mutex_unlock(&e->policy_mu);
    return *ret_text ? 0 : -ENOMEM;
}

MOM_API int mom_engine_get_named_policies(mom_engine *e, mom_value **ret_map)
{
    if (!e || !ret_map)
        return -EINVAL;
    pthread_mutex_lock(&e->policy_mu);
    *ret_map = policy_set_named(e->policy);
    pthread_mutex_unlock(&e->policy_mu);
    return *ret_map ? 0 : -ENOMEM;
}

MOM_API int mom_engine_reset_policies(mom_engine *e, char **ret_error)
{
    if (!e)
        return -EINVAL;
    const char *file = conf_get(e->conf, "main", "policy");
    const char *dir = conf_get(e->conf, "main", "policy-dir");
    if (ret_error)
        *ret_error = NULL;
    if (!(file && *file) && !(dir && *dir))
        return -ENOENT;
    return reload_policies(e, ret_error);
}

MOM_API int mom_engine_get_statistics(mom_engine *e, mom_value **ret_stats)
{
    if (!e || !ret_stats)
        return -EINVAL;
    pthread_mutex_lock(&e->pub_mu);
    snapshot *s = snapshot_ref(e->published);
    pthread_mutex_unlock(&e->pub_mu);
    *ret_stats = snapshot_statistics(s);
    snapshot_unref(s);
    return *ret_stats ? 0 : -ENOMEM;
}

MOM_API int mom_engine_get_controls(mom_engine *e, mom_value **ret_report)
{
    if (!e || !ret_report)
        return -EINVAL;
    pthread_mutex_lock(&e->pub_mu);
    mom_value *r = e->last_report ? mom_value_ref(e->last_report) : NULL;
    pthread_mutex_unlock(&e->pub_mu);
    *ret_report = r ? r : value_new_none();
    return *ret_report ? 0 : -ENOMEM;
}

MOM_API int mom_engine_get_active_guests(mom_engine *e, mom_value **ret_list)
{
    if (!e || !ret_list)
        return -EINVAL;
    pthread_mutex_lock(&e->pub_mu);
    snapshot *s = snapshot_ref(e->published);
    pthread_mutex_unlock(&e->pub_mu);
    mom_value *l = value_new_list();
    for (size_t i = 0; l && s && i < s->n_guests; i++)
        if (value_list_append(l, value_new_string(s->guests[i].name)) < 0) {
            mom_value_unref(l);
            l = NULL;
        }
    snapshot_unref(s);
    *ret_list = l;
    return l ? 0 : -ENOMEM;
}

MOM_API int mom_engine_config_get(mom_engine *e, const char *section, const char *key,
                                  char **ret_value)
{
    if (!e || !section || !key || !ret_value)
        return -EINVAL;
    const char *v = conf_get(e->conf, section, key);
    if (!v)
        return -ENOENT;
    *ret_value = mom_strdup(v);
    return *ret_value ? 0 : -ENOMEM;
}

/* ---- internal accessors for tests and benchmarks ------------------------ */

size_t engine_n_guests(mom_engine *e)
{
    return e->n_guests;
}

uint64_t engine_cycles(mom_engine *e)
{
    return atomic_load(&e->cycles);
}
