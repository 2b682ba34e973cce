/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The public policy tools (mom/policy.h): check a list of policy files, or
 * evaluate them once on a JSON snapshot and describe the controls.  This
 * is glue between the policy sets of lang/policy.h and the JSON snapshot
 * reader; everything here lives for one call.
 */
#include "mom/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/snapshot_json.h"
#include "core/value.h"
#include "lang/policy.h"

#define DEFAULT_STEP_LIMIT 100000
#define DEFAULT_DEPTH_LIMIT 200

MOM_API void mom_policy_opts_init(mom_policy_opts *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->size = sizeof(*opts);
}

/* Copy the caller's options (of whatever version) over the defaults. */
static void opts_get(const mom_policy_opts *in, mom_policy_opts *out)
{
    mom_policy_opts_init(out);
    if (in && in->size) {
        size_t n = in->size < sizeof(*out) ? in->size : sizeof(*out);
        memcpy(out, in, n);
        out->size = sizeof(*out);
    }
    if (out->log_level == 0)
        out->log_level = MOM_LOG_DEBUG;
    if (out->step_limit <= 0)
        out->step_limit = DEFAULT_STEP_LIMIT;
    if (out->depth_limit <= 0)
        out->depth_limit = DEFAULT_DEPTH_LIMIT;
}

/* ---- the files of a set ----------------------------------------------- */

typedef struct srcset {
    size_t n;
    char **names;
    char **texts;
} srcset;

static void srcset_done(srcset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->names)
            mom_free(s->names[i]);
        if (s->texts)
            mom_free(s->texts[i]);
    }
    mom_free(s->names);
    mom_free(s->texts);
    memset(s, 0, sizeof(*s));
}

/* Read a whole file; a NUL byte in it is refused (-EILSEQ), since policy
 * texts are C strings. */
static int read_text(const char *path, char **ret)
{
    size_t len;
    int r = file_read_all(path, ret, &len);
    if (r == 0 && strlen(*ret) != len) {
        mom_free(*ret);
        *ret = NULL;
        r = -EILSEQ;
    }
    return r;
}

/*
 * Read the n files and name them (POLICY-LANGUAGE.md §10; duplicate names
 * are left to the policy set, which refuses them).  Returns 0, -ENOMEM, or
 * the negative errno of the first file that cannot be read, with
 * *ret_error "FILE:1:1: error: cannot read the policy: REASON" (the form
 * policy_check_files uses).
 */
static int srcset_load(srcset *s, const char *const *paths, size_t n, char **ret_error)
{
    s->n = n;
    s->names = mom_calloc(n ? n : 1, sizeof(char *));
    s->texts = mom_calloc(n ? n : 1, sizeof(char *));
    if (!s->names || !s->texts)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int r = read_text(paths[i], &s->texts[i]);
        if (r == -ENOMEM)
            return r;
        if (r < 0) {
            *ret_error = mom_asprintf("%s:1:1: error: cannot read the policy: %s", paths[i],
                                      r == -EILSEQ ? "the file contains a NUL byte" : strerror(-r));
            return *ret_error ? r : -ENOMEM;
        }
        if (!(s->names[i] = policy_name_from_path(paths[i])))
            return -ENOMEM;
    }
    return 0;
}

/* ---- check -------------------------------------------------------------- */

typedef struct check_ctx {
    mom_policy_report_fn report;
    void *userdata;
} check_ctx;

static void check_report(const char *line, int is_error, void *userdata)
{
    check_ctx *c = userdata;
    if (c->report)
        c->report(line, is_error != 0, c->userdata);
}

MOM_API int mom_policy_check(const mom_policy_opts *opts_in, const char *const *paths, size_t n,
                             mom_policy_report_fn report, void *userdata)
{
    if (n && !paths)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!paths[i])
            return -EINVAL;
    mom_policy_opts opts;
    opts_get(opts_in, &opts);
    mlog log;
    mlog_init(&log, opts.log_fn, opts.log_userdata, opts.log_level);
    policy_opts po = {.step_limit = opts.step_limit, .depth_limit = opts.depth_limit, .log = &log};
    check_ctx c = {report, userdata};
    int r = policy_check_files(&po, paths, n, check_report, &c);
    return r == 0 || r == -ENOMEM || r == MOM_E_POLICY ? r : MOM_E_POLICY;
}

/* ---- eval --------------------------------------------------------------- */

/* A MAP {"ok": false, "error": msg}, or NULL on ENOMEM. */
static mom_value *error_output(const char *msg)
{
    mom_value *m = value_new_map();
    if (!m || value_map_set(m, "ok", value_new_bool(false)) < 0 ||
        value_map_set(m, "error", value_new_string(msg)) < 0) {
        mom_value_unref(m);
        return NULL;
    }
    return m;
}

/*
 * The load-time catalog for a JSON snapshot: the fields its host declares
 * and the union of what its guests declare, as NULL-terminated arrays that
 * point into the snapshot's field tables.
 */
typedef struct snap_catalog {
    policy_catalog cat;
    const char **host, **guest;
} snap_catalog;

static int catalog_build(snap_catalog *sc, const snapshot *snap)
{
    size_t nh = snap->host.fields ? snap->host.fields->n : 0, ng = 0;
    for (size_t i = 0; i < snap->n_guests; i++)
        ng += snap->guests[i].fields ? snap->guests[i].fields->n : 0;
    sc->host = mom_calloc(nh + 1, sizeof(char *));
    sc->guest = mom_calloc(ng + 1, sizeof(char *));
    if (!sc->host || !sc->guest)
        return -ENOMEM;
    for (size_t i = 0; i < nh; i++)
        sc->host[i] = snap->host.fields->names[i];
    size_t w = 0;
    for (size_t i = 0; i < snap->n_guests; i++) {
        const fieldtab *t = snap->guests[i].fields;
        for (size_t f = 0; t && f < t->n; f++) {
            size_t k;
            for (k = 0; k < w; k++)
                if (strcmp(sc->guest[k], t->names[f]) == 0)
                    break;
            if (k == w)
                sc->guest[w++] = t->names[f];
        }
    }
    sc->cat.host_fields = sc->host;
    sc->cat.guest_fields = sc->guest;
    return 0;
}

static void catalog_done(snap_catalog *sc)
{
    mom_free(sc->host);
    mom_free(sc->guest);
}

/* The first NaN or infinity inside `v` (a real, or a list or map holding
 * one), or NULL. */
static const mom_value *find_nonfinite(const mom_value *v)
{
    if (!v)
        return NULL;
    switch ((mom_value_type)v->type) {
    case MOM_VALUE_REAL: return isfinite(v->u.r) ? NULL : v;
    case MOM_VALUE_LIST:
    case MOM_VALUE_MAP:
        for (size_t i = 0; i < v->u.c.n; i++) {
            const mom_value *bad = find_nonfinite(v->u.c.items[i]);
            if (bad)
                return bad;
        }
        return NULL;
    default: return NULL;
    }
}

/* Check every control of one entity; on a non-finite value return
 * MOM_E_POLICY with *ret_msg naming it. */
static int check_finite(const mom_value *ctl, const char *who, char **ret_msg)
{
    for (size_t i = 0; ctl && i < ctl->u.c.n; i++) {
        const mom_value *bad = find_nonfinite(ctl->u.c.items[i]);
        if (!bad)
            continue;
        char num[32];
        value_format_real(bad->u.r, num, sizeof(num), true);
        *ret_msg = mom_asprintf("control %s of %s is not a finite number (%s)", ctl->u.c.keys[i],
                                who, num);
        return *ret_msg ? MOM_E_POLICY : -ENOMEM;
    }
    return 0;
}

/*
 * The limits of every disk of a guest from its io_tune field: one
 * {"name", "path", "ioTune": current} per record.  NULL (and 0) when the
 * guest has no I/O-tune data.
 */
static int io_tune_from_records(const snap_entity *e, mom_value **ret)
{
    *ret = NULL;
    const fval *f = snap_entity_current(e, "io_tune");
    if (!f || f->kind != FV_VALUE || f->u.v->type != MOM_VALUE_LIST)
        return 0;
    const mom_value *recs = f->u.v;
    mom_value *list = value_new_list();
    if (!list)
        return -ENOMEM;
    for (size_t i = 0; i < recs->u.c.n; i++) {
        const mom_value *rec = recs->u.c.items[i];
        const mom_value *name = value_map_get(rec, "name");
        const mom_value *path = value_map_get(rec, "path");
        const mom_value *cur = value_map_get(rec, "current");
        mom_value *d = value_new_map();
        if (!d || value_map_set(d, "name", name ? mom_value_ref(name) : value_new_none()) < 0 ||
            value_map_set(d, "path", path ? mom_value_ref(path) : value_new_none()) < 0 ||
            value_map_set(d, "ioTune", cur ? mom_value_ref(cur) : value_new_map()) < 0) {
            mom_value_unref(d);
            mom_value_unref(list);
            return -ENOMEM;
        }
        if (value_list_append(list, d) < 0) { /* d is released by the call */
            mom_value_unref(list);
            return -ENOMEM;
        }
    }
    *ret = list;
    return 0;
}

/* One guest's output: its controls in the order the policy set them, with
 * "io_tune" moved last (or made from the records when the policy set no
 * limit but the guest has I/O-tune data). */
static int guest_output(const snap_entity *e, const mom_value *ctl, mom_value **ret)
{
    mom_value *m = value_new_map();
    mom_value *io = NULL;
    if (!m)
        return -ENOMEM;
    for (size_t i = 0; ctl && i < ctl->u.c.n; i++) {
        if (strcmp(ctl->u.c.keys[i], "io_tune") == 0) {
            io = mom_value_ref(ctl->u.c.items[i]);
            continue;
        }
        if (value_map_set(m, ctl->u.c.keys[i], mom_value_ref(ctl->u.c.items[i])) < 0)
            goto fail;
    }
    if (!io && io_tune_from_records(e, &io) < 0)
        goto fail;
    if (io && value_map_set(m, "io_tune", io) < 0) {
        io = NULL;
        goto fail;
    }
    *ret = m;
    return 0;
fail:
    mom_value_unref(io);
    mom_value_unref(m);
    return -ENOMEM;
}

/* The successful output of an evaluation, or MOM_E_POLICY with *ret_msg
 * when a control is not a finite number. */
static int success_output(const snapshot *snap, const controls *ctl, mom_value *results,
                          mom_value **ret, char **ret_msg)
{
    int r = check_finite(ctl->host, "the host", ret_msg);
    for (size_t i = 0; r == 0 && i < snap->n_guests; i++) {
        char *who = mom_asprintf("guest %s", snap->guests[i].name);
        if (!who)
            return -ENOMEM;
        r = check_finite(ctl->guests[i], who, ret_msg);
        mom_free(who);
    }
    if (r)
        return r;
    mom_value *out = value_new_map();
    mom_value *guests = value_new_map();
    if (!out || !guests || value_map_set(out, "ok", value_new_bool(true)) < 0 ||
        value_map_set(out, "host", mom_value_ref(ctl->host)) < 0)
        goto fail;
    for (size_t i = 0; i < snap->n_guests; i++) {
        mom_value *g;
        if (guest_output(&snap->guests[i], ctl->guests[i], &g) < 0 ||
            value_map_set(guests, snap->guests[i].name, g) < 0)
            goto fail;
    }
    if (value_map_set(out, "guests", guests) < 0) {
        guests = NULL;
        goto fail;
    }
    guests = NULL;
    if (results && value_map_set(out, "results", mom_value_ref(results)) < 0)
        goto fail;
    *ret = out;
    return 0;
fail:
    mom_value_unref(guests);
    mom_value_unref(out);
    return -ENOMEM;
}

MOM_API int mom_policy_eval(const mom_policy_opts *opts_in, const char *const *paths, size_t n,
                            const char *snapshot_json, size_t len, unsigned flags,
                            mom_value **ret_output, char **ret_error)
{
    if ((n && !paths) || !snapshot_json || !ret_output || (flags & ~MOM_POLICY_EVAL_RESULTS))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!paths[i])
            return -EINVAL;
    mom_policy_opts opts;
    opts_get(opts_in, &opts);
    srcset s = {0};
    snapshot *snap = NULL;
    snap_catalog sc = {0};
    policy_set *set = NULL;
    controls *ctl = NULL;
    mom_value *results = NULL, *out = NULL;
    char *msg = NULL;

    int r = srcset_load(&s, paths, n, &msg);
    if (r < 0)
        goto out;
    r = snapshot_json_parse(snapshot_json, len, "snapshot", &snap, &msg);
    if (r < 0)
        goto out;
    if ((r = catalog_build(&sc, snap)) < 0)
        goto out;

    mlog log;
    mlog_init(&log, opts.log_fn, opts.log_userdata, opts.log_level);
    policy_opts po = {.step_limit = opts.step_limit,
                      .depth_limit = opts.depth_limit,
                      .log = &log,
                      .catalog = &sc.cat};
    if ((r = policy_set_new(&po, &set)) < 0)
        goto out;
    r = policy_set_replace(set, (const char *const *)s.names, (const char *const *)s.texts, paths,
                           n, &msg);
    if (r < 0)
        goto out;
    r = policy_set_eval(set, snap, &ctl, (flags & MOM_POLICY_EVAL_RESULTS) ? &results : NULL, &msg);
    if (r < 0)
        goto out;
    if ((flags & MOM_POLICY_EVAL_RESULTS) && !results && !(results = value_new_list())) {
        r = -ENOMEM;
        goto out;
    }
    r = success_output(snap, ctl, results, &out, &msg);

out:
    if (r < 0 && r != -ENOMEM && r != -EINVAL) {
        if (!msg)
            msg = mom_strdup(r == MOM_E_POLICY ? "the policy set failed" : strerror(-r));
        if (!msg || !(out = error_output(msg)))
            r = -ENOMEM;
    }
    if (r == 0 || (r != -ENOMEM && r != -EINVAL)) {
        *ret_output = out;
        out = NULL;
        if (ret_error) {
            *ret_error = r ? msg : NULL;
            if (r)
                msg = NULL;
        }
    }
    mom_value_unref(out);
    mom_free(msg);
    mom_value_unref(results);
    controls_free(ctl);
    policy_set_free(set);
    catalog_done(&sc);
    snapshot_unref(snap);
    srcset_done(&s);
    return r;
}

MOM_API int mom_value_to_json(const mom_value *v, char **ret_json)
{
    if (!v || !ret_json)
        return -EINVAL;
    char *s = value_to_json(v);
    if (!s)
        return -ENOMEM;
    *ret_json = s;
    return 0;
}
