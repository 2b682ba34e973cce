/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/monitor.h"

#include <errno.h>
#include <string.h>
#include <sys/time.h>

#include "core/alloc.h"
#include "core/pool.h"

int monitor_new(api_env *env, mom_entity_kind kind, const char *id, const char *name,
                const char *uuid, int64_t pid, const fieldtab *fields,
                const mom_collector *const *collectors, size_t n, size_t history,
                monitor **ret)
{
    monitor *m = mom_calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    int r = entity_init(&m->ent, env, kind, id, name, uuid, pid);
    if (r < 0) {
        mom_free(m);
        return r;
    }
    m->fields = fields;
    m->ready = MONITOR_UNKNOWN;
    m->hist_cap = history ? history : 1;
    m->hist = mom_calloc(m->hist_cap, sizeof(sample *));
    m->coll = mom_calloc(n ? n : 1, sizeof(mcoll));
    m->props = value_new_map();
    if (!m->hist || !m->coll || !m->props)
        goto fail;
    for (size_t i = 0; i < n; i++)
        m->coll[i].c = collectors[i];
    m->n_coll = n;
    if (kind == MOM_ENTITY_GUEST) {
        if (value_map_set(m->props, "name", value_new_string(name)) < 0 ||
            value_map_set(m->props, "uuid", value_new_string(uuid ? uuid : "")) < 0 ||
            value_map_set(m->props, "pid", value_new_int(pid)) < 0)
            goto fail;
    } else if (value_map_set(m->props, "interval", value_new_int(env->host_interval)) < 0) {
        goto fail;
    }
    /* m->merged and m->one, the worker's scratch, exist only during a
     * collection (monitor_collect): with a thousand guests, keeping them
     * between collections would cost two slot arrays and the last
     * collector's extras per guest for nothing. */
    *ret = m;
    return 0;
fail:
    monitor_free(m);
    return -ENOMEM;
}

void monitor_free(monitor *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->coll && i < m->n_coll; i++)
        if (m->coll[i].inited && m->coll[i].c->fini)
            m->coll[i].c->fini(m->coll[i].state);
    for (size_t i = 0; m->hist && i < m->hist_len; i++)
        sample_unref(m->hist[(m->hist_head + i) % m->hist_cap]);
    sample_unref(m->pending);
    mom_free(m->pending_missing);
    plot_close(m->plot);
    msample_done(&m->merged);
    msample_done(&m->one);
    mom_value_unref(m->props);
    mom_free(m->hist);
    mom_free(m->coll);
    entity_done(&m->ent);
    mom_free(m);
}

static double epoch_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Level for a collection problem: a warning while the monitor was healthy
 * (or never collected), debug once it is already not ready (§3.2). */
static mom_log_level problem_level(const monitor *m)
{
    return m->ready == MONITOR_NOT_READY ? MOM_LOG_DEBUG : MOM_LOG_WARN;
}

/* Release the collection scratch (the merged and the per-collector sample)
 * at the end of monitor_collect. */
static void scratch_done(monitor *m)
{
    msample_done(&m->merged);
    msample_done(&m->one);
}

/* Run every collector into the scratch samples and leave the result in
 * m->pending* (the body of monitor_collect). */
static void collect_merged(monitor *m)
{
    api_env *env = m->ent.env;

    for (size_t i = 0; i < m->n_coll; i++) {
        mcoll *mc = &m->coll[i];
        if (!mc->inited) {
            int r = mc->c->init ? mc->c->init(&env->api, &m->ent, &mc->state) : 0;
            if (r == MOM_E_FATAL) {
                mlog_msg(env->log, MOM_LOG_ERROR, m->ent.logger,
                         "Collector %s failed to initialize (fatal)", mc->c->name);
                m->pending_rc = MOM_E_FATAL;
                return;
            }
            if (r < 0) {
                if (!mc->failed_init)
                    mlog_msg(env->log, problem_level(m), m->ent.logger,
                             "Collector %s failed to initialize: %s", mc->c->name,
                             mom_strerror(r));
                mc->failed_init = true;
                continue;
            }
            mc->inited = true;
            mc->failed_init = false;
        }
        msample_reset(&m->one);
        int r = mc->c->collect(mc->state, &m->ent, &m->one);
        if (r == MOM_E_FATAL) {
            mlog_msg(env->log, MOM_LOG_ERROR, m->ent.logger, "Collector %s failed fatally",
                     mc->c->name);
            m->pending_rc = MOM_E_FATAL;
            return;
        }
        if (r < 0) {
            mlog_msg(env->log, problem_level(m), m->ent.logger, "Collection error in %s: %s",
                     mc->c->name, mom_strerror(r));
            continue;
        }
        if (m->one.n_set == 0) {
            mlog_msg(env->log, MOM_LOG_DEBUG, m->ent.logger, "Collector %s returned nothing",
                     mc->c->name);
            continue;
        }
        msample_merge(&m->merged, &m->one);
    }

    /* Mandatory fields all there? */
    size_t missing = 0, len = 0;
    for (size_t i = 0; i < m->fields->n; i++)
        if (m->fields->mandatory[i] && m->merged.vals[i].kind == FV_MISSING) {
            missing++;
            len += strlen(m->fields->names[i]) + 2;
        }
    if (missing) {
        char *s = mom_malloc(len + 1), *w = s;
        if (s) {
            for (size_t i = 0; i < m->fields->n; i++)
                if (m->fields->mandatory[i] && m->merged.vals[i].kind == FV_MISSING) {
                    size_t l = strlen(m->fields->names[i]);
                    if (w != s) {
                        *w++ = ',';
                        *w++ = ' ';
                    }
                    memcpy(w, m->fields->names[i], l);
                    w += l;
                }
            *w = '\0';
        }
        m->pending_missing = s;
        m->pending_rc = -ENODATA;
        return;
    }

    sample *s = sample_new(m->fields->n);
    if (!s) {
        m->pending_rc = -ENOMEM;
        return;
    }
    s->time = epoch_now();
    for (size_t i = 0; i < m->fields->n; i++) {
        fval *src = &m->merged.vals[i];
        if (src->kind == FV_MISSING) {
            s->f[i].kind = FV_NONE; /* missing optional field becomes None */
        } else {
            s->f[i] = *src; /* move */
            src->kind = FV_MISSING;
        }
    }
    s->extras = m->merged.extras;
    m->merged.extras = NULL;
    m->pending = s;
}

void monitor_collect(monitor *m)
{
    sample_unref(m->pending);
    m->pending = NULL;
    mom_free(m->pending_missing);
    m->pending_missing = NULL;
    m->pending_rc = 0;
    if (msample_init(&m->merged, m->fields) < 0 || msample_init(&m->one, m->fields) < 0) {
        scratch_done(m);
        m->pending_rc = -ENOMEM;
        return;
    }
    collect_merged(m);
    scratch_done(m);
}

/* A copy of `s` without its undeclared extras: the declared slots, whose
 * values it shares; NULL when memory is short. */
static sample *sample_without_extras(const sample *s)
{
    sample *c = sample_new(s->n);
    if (!c)
        return NULL;
    c->time = s->time;
    c->seq = s->seq; /* the same sample to the policy's history cache */
    for (uint32_t i = 0; i < s->n; i++) {
        c->f[i] = s->f[i];
        if (c->f[i].kind == FV_VALUE)
            mom_value_ref(c->f[i].u.v);
    }
    return c;
}

/* Values of `s` (not yet shared) equal to those of the previous sample
 * `prev` become references to the previous ones.  Structured values such as
 * io_tune are rebuilt by every collection but rarely change: sharing them
 * keeps one copy in the history instead of one per sample, and lets the
 * policy evaluator recognise an unchanged value by its address (the I/O
 * record templates of lang/intrinsics.c). */
static void share_unchanged(sample *s, const sample *prev)
{
    uint32_t n = s->n < prev->n ? s->n : prev->n;
    for (uint32_t i = 0; i < n; i++) {
        fval *f = &s->f[i];
        const fval *p = &prev->f[i];
        if (f->kind != FV_VALUE || p->kind != FV_VALUE || f->u.v == p->u.v ||
            !value_same(f->u.v, p->u.v))
            continue;
        mom_value_unref(f->u.v);
        f->u.v = mom_value_ref(p->u.v);
    }
}

bool monitor_finish(monitor *m)
{
    const mlog *log = m->ent.env->log;
    plot_write(m->plot, m->pending); /* header at every attempt, row when complete */
    if (m->pending_rc == MOM_E_FATAL) {
        m->fatal = true;
        m->ready = MONITOR_NOT_READY;
        return false;
    }
    if (!m->pending) {
        if (m->pending_rc == -ENODATA)
            mlog_msg(log, m->ready == MONITOR_READY || m->ready == MONITOR_UNKNOWN ? MOM_LOG_INFO
                                                                                : MOM_LOG_DEBUG,
                     m->ent.logger, "Incomplete data: missing %s",
                     m->pending_missing ? m->pending_missing : "?");
        m->ready = MONITOR_NOT_READY;
        return false;
    }
    /* Undeclared extra keys are only ever shown for the newest sample
     * (statistics), so older samples need not keep them: that keeps the
     * history small (with GuestMemory, two boxed numbers in a map of their
     * own per sample).  A sample nobody else holds loses them in place.
     * One that a published snapshot still holds is immutable (the RPC
     * thread may be reading it): the history takes a copy without them
     * and the snapshot keeps the original until it is released. */
    for (size_t i = 0; i < m->hist_len; i++) {
        size_t at = (m->hist_head + i) % m->hist_cap;
        sample *old = m->hist[at];
        if (!old->extras)
            continue;
        if (atomic_load(&old->refs) == 1) {
            mom_value_unref(old->extras);
            old->extras = NULL;
        } else {
            sample *copy = sample_without_extras(old);
            if (copy) { /* else the extras stay until the next try */
                m->hist[at] = copy;
                sample_unref(old);
            }
        }
    }
    if (m->hist_len)
        share_unchanged(m->pending, m->hist[(m->hist_head + m->hist_len - 1) % m->hist_cap]);
    if (m->hist_len == m->hist_cap) {
        sample_unref(m->hist[m->hist_head]);
        m->hist[m->hist_head] = m->pending;
        m->hist_head = (m->hist_head + 1) % m->hist_cap;
    } else {
        m->hist[(m->hist_head + m->hist_len) % m->hist_cap] = m->pending;
        m->hist_len++;
    }
    m->pending = NULL;
    if (m->ready != MONITOR_READY)
        mlog_msg(log, MOM_LOG_INFO, m->ent.logger, "%s is ready",
                 m->ent.kind == MOM_ENTITY_HOST ? "HostMonitor" : m->ent.name);
    m->ready = MONITOR_READY;
    m->last_ok = pool_now();
    return true;
}

size_t monitor_history(const monitor *m, sample **out)
{
    for (size_t i = 0; i < m->hist_len; i++)
        out[i] = m->hist[(m->hist_head + i) % m->hist_cap];
    return m->hist_len;
}

const sample *monitor_latest(const monitor *m)
{
    if (!m->hist_len)
        return NULL;
    return m->hist[(m->hist_head + m->hist_len - 1) % m->hist_cap];
}
