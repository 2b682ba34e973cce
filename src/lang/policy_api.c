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
#include "core/config.h"
#include "core/fileio.h"
#include "core/registry.h"
#include "core/sample.h"
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

/* ---- catalogs ------------------------------------------------------------ */

typedef struct conf_errors {
    char *first;
} conf_errors;

static void conf_report(mom_log_level level, const char *msg, void *userdata)
{
    conf_errors *ce = userdata;
    if (level <= MOM_LOG_ERROR && !ce->first)
        ce->first = mom_strdup(msg);
}

/* Add the fields of the collectors listed in [section] collectors. */
static int add_collectors(const conf *cf, const registry *reg, const char *section, fieldtab *ft,
                          char **ret_error)
{
    const char *const *items;
    size_t n;
    if (conf_get_list(cf, section, "collectors", &items, &n) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const mom_collector *col = registry_find_collector(reg, items[i]);
        if (!col) {
            *ret_error = mom_asprintf("unknown collector '%s' in [%s] collectors", items[i],
                                      section);
            return *ret_error ? MOM_E_CONFIG : -ENOMEM;
        }
        for (int k = 0; k < 2; k++)
            for (const char *const *f = k ? col->optional : col->mandatory; f && *f; f++)
                if (fieldtab_add(ft, *f, k == 0) < 0)
                    return -ENOMEM;
    }
    return 0;
}

/*
 * The catalog of a momd configuration: the fields of its host and guest
 * collectors and the controls of its controllers (built-ins only: plugins
 * are not loaded here).  MOM_E_CONFIG with *ret_error when it does not load.
 */
static int config_catalog(const char *path, policy_catalog **ret, char **ret_error)
{
    conf_errors ce = { 0 };
    conf *cf = NULL;
    registry *reg = NULL;
    fieldtab *hf = fieldtab_new(), *gf = fieldtab_new();
    const mom_controller **ctls = NULL;
    int r = conf_load(path, NULL, 0, conf_report, &ce, &cf);
    if (r < 0) {
        if (r != -ENOMEM) {
            *ret_error = ce.first ? ce.first : mom_asprintf("%s: %s", path, mom_strerror(r));
            ce.first = NULL;
            r = *ret_error ? MOM_E_CONFIG : -ENOMEM;
        }
        goto out;
    }
    if (!hf || !gf || (r = registry_new(&reg)) < 0) {
        r = -ENOMEM;
        goto out;
    }
    if ((r = add_collectors(cf, reg, "host", hf, ret_error)) < 0 ||
        (r = add_collectors(cf, reg, "guest", gf, ret_error)) < 0)
        goto out;
    const char *const *items;
    size_t n;
    if (conf_get_list(cf, "main", "controllers", &items, &n) < 0 ||
        !(ctls = mom_calloc(n ? n : 1, sizeof(*ctls)))) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (!(ctls[i] = registry_find_controller(reg, items[i]))) {
            *ret_error = mom_asprintf("unknown controller '%s' in [main] controllers", items[i]);
            r = *ret_error ? MOM_E_CONFIG : -ENOMEM;
            goto out;
        }
    *ret = policy_catalog_new(hf, gf, ctls, n);
    r = *ret ? 0 : -ENOMEM;
out:
    if (r == MOM_E_CONFIG && *ret_error) {
        char *full = strncmp(*ret_error, path, strlen(path)) == 0
                         ? NULL
                         : mom_asprintf("%s: %s", path, *ret_error);
        if (full) {
            mom_free(*ret_error);
            *ret_error = full;
        }
    }
    mom_free(ce.first);
    mom_free(ctls);
    registry_free(reg);
    fieldtab_free(hf);
    fieldtab_free(gf);
    conf_free(cf);
    return r;
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
    policy_catalog *cat = NULL;
    if (opts.config_file) {
        char *msg = NULL;
        int r = config_catalog(opts.config_file, &cat, &msg);
        if (r < 0) {
            if (msg && report)
                report(msg, true, userdata);
            mom_free(msg);
            return r;
        }
    }
    policy_opts po = {.step_limit = opts.step_limit,
                      .depth_limit = opts.depth_limit,
                      .log = &log,
                      .catalog = cat};
    check_ctx c = {report, userdata};
    int r = policy_check_files(&po, paths, n, check_report, &c);
    policy_catalog_free(cat);
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
 * and the union of what its guests declare, added to the catalog of the
 * configuration when there is one (*cat may be NULL on entry).
 */
static int catalog_build(policy_catalog **cat, const snapshot *snap)
{
    if (!*cat && !(*cat = policy_catalog_new(NULL, NULL, NULL, 0)))
        return -ENOMEM;
    bool controls_given = (*cat)->host_controls[0] || (*cat)->guest_controls[0];
    int r = 0;
    for (size_t i = 0; r == 0 && i <= snap->n_guests; i++) {
        const fieldtab *t = i == 0 ? snap->host.fields : snap->guests[i - 1].fields;
        for (size_t f = 0; r == 0 && t && f < t->n; f++) {
            const char *one[2] = { t->names[f], NULL };
            r = policy_catalog_add(*cat, i == 0 ? 0 : 1, one);
        }
    }
    if (r == 0 && !controls_given) {
        /* No configuration: every built-in control counts as configured. */
        (*cat)->host_controls = NULL;
        (*cat)->guest_controls = NULL;
    }
    return r;
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
    policy_catalog *cat = NULL;
    policy_set *set = NULL;
    controls *ctl = NULL;
    mom_value *results = NULL, *out = NULL;
    char *msg = NULL;

    int r = srcset_load(&s, paths, n, &msg);
    if (r < 0)
        goto out;
    if (opts.config_file && (r = config_catalog(opts.config_file, &cat, &msg)) < 0)
        goto out;
    r = snapshot_json_parse(snapshot_json, len, "snapshot", &snap, &msg);
    if (r < 0)
        goto out;
    if ((r = catalog_build(&cat, snap)) < 0)
        goto out;

    mlog log;
    mlog_init(&log, opts.log_fn, opts.log_userdata, opts.log_level);
    policy_opts po = {.step_limit = opts.step_limit,
                      .depth_limit = opts.depth_limit,
                      .log = &log,
                      .catalog = cat};
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
    policy_catalog_free(cat);
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
