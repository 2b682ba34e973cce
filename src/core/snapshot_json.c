/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * JSON snapshots (see snapshot_json.h for the format).  The document is
 * parsed with jansson, checked shape by shape, and turned into the same
 * snapshot structure the engine builds from its monitors, so a policy set
 * evaluated on it behaves as it would in momd.  Every error names the place
 * in the document it is about.
 */
#include "core/snapshot_json.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fileio.h"

/* The six limits of an I/O-tune limit set (REFERENCE.md §2.5). */
static const char *const io_limit_keys[] = {
    "total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
    "total_iops_sec",  "read_iops_sec",  "write_iops_sec",
};
#define N_IO_LIMITS (sizeof(io_limit_keys) / sizeof(io_limit_keys[0]))

/*
 * A position in the document, as a chain of segments on the C stack: a
 * member name (key) or a list index.  Rendered only when an error needs it.
 */
typedef struct jpath {
    const struct jpath *up;
    const char *key; /* NULL: an index */
    size_t index;
} jpath;

typedef struct jctx {
    const char *label;
    char *error; /* the first error, "LABEL: PATH: MESSAGE" */
} jctx;

/* Append the rendering of `p` ("guests[2].stats") to the string *acc. */
static int path_render(const jpath *p, char **acc)
{
    if (!p)
        return 0;
    int r = path_render(p->up, acc);
    if (r < 0)
        return r;
    char *next;
    if (p->key)
        next = mom_asprintf("%s%s%s", *acc, p->up ? "." : "", p->key);
    else
        next = mom_asprintf("%s[%zu]", *acc, p->index);
    if (!next)
        return -ENOMEM;
    mom_free(*acc);
    *acc = next;
    return 0;
}

/* Record a shape error at `p` (the first one wins) and return -EBADMSG, or
 * -ENOMEM when even the message cannot be built. */
static int fail(jctx *c, const jpath *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(jctx *c, const jpath *p, const char *fmt, ...)
{
    if (c->error)
        return -EBADMSG;
    char *where = mom_strdup("");
    if (!where || path_render(p, &where) < 0) {
        mom_free(where);
        return -ENOMEM;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->error = where[0] ? mom_asprintf("%s: %s: %s", c->label, where, msg)
                        : mom_asprintf("%s: %s", c->label, msg);
    mom_free(where);
    return c->error ? -EBADMSG : -ENOMEM;
}

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "something else";
}

/* Convert any JSON value into a new mom_value (NULL on ENOMEM).  jansson
 * bounds the nesting depth, so the recursion is bounded too. */
static mom_value *json_to_value(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_NULL: return value_new_none();
    case JSON_TRUE: return value_new_bool(true);
    case JSON_FALSE: return value_new_bool(false);
    case JSON_INTEGER: return value_new_int((int64_t)json_integer_value(j));
    case JSON_REAL: return value_new_real(json_real_value(j));
    case JSON_STRING: return value_new_stringn(json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
        mom_value *list = value_new_list();
        size_t i;
        const json_t *item;
        if (!list)
            return NULL;
        json_array_foreach((json_t *)j, i, item)
        {
            mom_value *v = json_to_value(item);
            if (!v || value_list_append(list, v) < 0) {
                mom_value_unref(list);
                return NULL;
            }
        }
        return list;
    }
    case JSON_OBJECT: {
        mom_value *map = value_new_map();
        const char *key;
        const json_t *item;
        if (!map)
            return NULL;
        json_object_foreach((json_t *)j, key, item)
        {
            mom_value *v = json_to_value(item);
            if (!v || value_map_set(map, key, v) < 0) {
                mom_value_unref(map);
                return NULL;
            }
        }
        return map;
    }
    }
    return NULL;
}

/* Check that every member of object `o` is one of `allowed` (n names). */
static int check_keys(jctx *c, const jpath *p, const json_t *o, const char *const *allowed,
                      size_t n)
{
    const char *key;
    const json_t *item;
    json_object_foreach((json_t *)o, key, item)
    {
        size_t i;
        for (i = 0; i < n; i++)
            if (strcmp(key, allowed[i]) == 0)
                break;
        if (i == n) {
            jpath kp = {p, key, 0};
            return fail(c, &kp, "unknown key");
        }
    }
    return 0;
}

/* LIMITS: an object with exactly the six limit keys, each a number or null. */
static int check_limits(jctx *c, const jpath *p, const json_t *j)
{
    if (!json_is_object(j))
        return fail(c, p, "must be an object with the six I/O limits, not %s", json_kind(j));
    int r = check_keys(c, p, j, io_limit_keys, N_IO_LIMITS);
    if (r < 0)
        return r;
    for (size_t i = 0; i < N_IO_LIMITS; i++) {
        const json_t *v = json_object_get(j, io_limit_keys[i]);
        jpath kp = {p, io_limit_keys[i], 0};
        if (!v)
            return fail(c, &kp, "missing (a limit set has all six limits)");
        if (!json_is_number(v) && !json_is_null(v))
            return fail(c, &kp, "must be a number or null, not %s", json_kind(v));
    }
    return 0;
}

/* The "name" and "path" members shared by both I/O-tune shapes. */
static int check_disk_ids(jctx *c, const jpath *p, const json_t *o)
{
    const json_t *name = json_object_get(o, "name");
    const json_t *path = json_object_get(o, "path");
    jpath np = {p, "name", 0}, pp = {p, "path", 0};
    if (!name)
        return fail(c, &np, "missing (every disk has a name)");
    if (!json_is_string(name))
        return fail(c, &np, "must be a string, not %s", json_kind(name));
    if (path && !json_is_string(path) && !json_is_null(path))
        return fail(c, &pp, "must be a string or null, not %s", json_kind(path));
    return 0;
}

/*
 * io_tune: [{"name", "path", "guaranteed": LIMITS, "maximum": LIMITS,
 * "current": LIMITS}, ...]; io_tune_current: [{"name", "path", "ioTune":
 * LIMITS}, ...].  `current` selects the second shape.
 */
static int check_io_tune(jctx *c, const jpath *p, const json_t *j, bool current)
{
    static const char *const tune_keys[] = {"name", "path", "guaranteed", "maximum", "current"};
    static const char *const cur_keys[] = {"name", "path", "ioTune"};
    if (json_is_null(j))
        return 0;
    if (!json_is_array(j))
        return fail(c, p, "must be a list of disks or null, not %s", json_kind(j));
    size_t i;
    const json_t *disk;
    json_array_foreach((json_t *)j, i, disk)
    {
        jpath dp = {p, NULL, i};
        if (!json_is_object(disk))
            return fail(c, &dp, "must be an object, not %s", json_kind(disk));
        int r = current ? check_keys(c, &dp, disk, cur_keys, 3)
                        : check_keys(c, &dp, disk, tune_keys, 5);
        if (r < 0 || (r = check_disk_ids(c, &dp, disk)) < 0)
            return r;
        /* The limit sets follow "name" and "path" in both key lists. */
        const char *const *keys = current ? cur_keys : tune_keys;
        for (size_t k = 2; k < (current ? 3u : 5u); k++) {
            const char *key = keys[k];
            const json_t *lim = json_object_get(disk, key);
            jpath lp = {&dp, key, 0};
            if (!lim)
                return fail(c, &lp, "missing");
            if ((r = check_limits(c, &lp, lim)) < 0)
                return r;
        }
    }
    return 0;
}

/* Fill slot `f` from the JSON value of field `name` of a sample. */
static int set_slot(jctx *c, const jpath *p, const char *name, const json_t *j, fval *f)
{
    int r = 0;
    if (strcmp(name, "io_tune") == 0)
        r = check_io_tune(c, p, j, false);
    else if (strcmp(name, "io_tune_current") == 0)
        r = check_io_tune(c, p, j, true);
    if (r < 0)
        return r;
    switch (json_typeof(j)) {
    case JSON_NULL: f->kind = FV_NONE; return 0;
    case JSON_INTEGER:
        f->kind = FV_INT;
        f->u.i = (int64_t)json_integer_value(j);
        return 0;
    case JSON_REAL:
        f->kind = FV_REAL;
        f->u.r = json_real_value(j);
        return 0;
    default: {
        mom_value *v = json_to_value(j);
        if (!v)
            return -ENOMEM;
        f->kind = FV_VALUE;
        f->u.v = v;
        return 0;
    }
    }
}

/*
 * Turn the list of samples `js` at `p` into entity `e`: declare every field
 * any sample carries (optional, in order of first appearance) in a table of
 * the entity's own, then build one sample per element with absent slots
 * where a sample lacks a field.
 */
static int build_entity(jctx *c, const jpath *p, const json_t *js, mom_entity_kind kind,
                        const char *id, const char *name, const char *uuid, int64_t pid,
                        mom_value *props, snap_entity *e)
{
    if (!json_is_array(js) || json_array_size(js) == 0)
        return fail(c, p, "must be a non-empty list of samples");
    fieldtab *t = fieldtab_new();
    if (!t)
        return -ENOMEM;
    e->own_fields = t; /* the snapshot frees it with the entity */
    size_t i, n = json_array_size(js);
    const json_t *js_sample;
    json_array_foreach((json_t *)js, i, js_sample)
    {
        jpath sp = {p, NULL, i};
        if (!json_is_object(js_sample))
            return fail(c, &sp, "must be an object (a sample), not %s", json_kind(js_sample));
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)js_sample, key, v)
        {
            if (!key[0])
                return fail(c, &sp, "a field name must not be empty");
            if (fieldtab_add(t, key, false) < 0)
                return -ENOMEM;
        }
    }
    int r = fieldtab_finish(t);
    if (r < 0)
        return r;

    sample **samples = mom_calloc(n, sizeof(*samples));
    if (!samples)
        return -ENOMEM;
    json_array_foreach((json_t *)js, i, js_sample)
    {
        jpath sp = {p, NULL, i};
        sample *s = samples[i] = sample_new(t->n);
        if (!s) {
            r = -ENOMEM;
            goto out;
        }
        for (size_t f = 0; f < t->n; f++)
            s->f[f].kind = FV_NONE;
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)js_sample, key, v)
        {
            jpath fp = {&sp, key, 0};
            if ((r = set_slot(c, &fp, key, v, &s->f[fieldtab_find(t, key)])) < 0)
                goto out;
        }
    }
    r = snap_entity_init(e, kind, id, name, uuid, pid, props, t, samples, n);
out:
    for (i = 0; i < n; i++)
        sample_unref(samples[i]);
    mom_free(samples);
    return r;
}

/* props of guest i: {"name": non-empty string, "uuid": string, "pid":
 * integer >= 0, anything else kept as a property}. */
static int guest_props(jctx *c, const jpath *p, const json_t *props, const char **ret_name,
                       const char **ret_uuid, int64_t *ret_pid)
{
    if (!props)
        return fail(c, p, "missing (a guest has props with at least a name)");
    if (!json_is_object(props))
        return fail(c, p, "must be an object, not %s", json_kind(props));
    const json_t *name = json_object_get(props, "name");
    const json_t *uuid = json_object_get(props, "uuid");
    const json_t *pid = json_object_get(props, "pid");
    jpath np = {p, "name", 0}, up = {p, "uuid", 0}, pp = {p, "pid", 0};
    if (!name)
        return fail(c, &np, "missing (every guest has a name)");
    if (!json_is_string(name) || json_string_length(name) == 0)
        return fail(c, &np, "must be a non-empty string");
    if (uuid && !json_is_null(uuid) && (!json_is_string(uuid) || json_string_length(uuid) == 0))
        return fail(c, &up, "must be a non-empty string or null");
    if (pid && !json_is_null(pid) && (!json_is_integer(pid) || json_integer_value(pid) < 0))
        return fail(c, &pp, "must be an integer >= 0 or null");
    *ret_name = json_string_value(name);
    *ret_uuid = json_is_string(uuid) ? json_string_value(uuid) : NULL;
    *ret_pid = json_is_integer(pid) ? (int64_t)json_integer_value(pid) : 0;
    return 0;
}

/* One element of "guests": {"props": {...}, "stats": [SAMPLE, ...]}. */
static int build_guest(jctx *c, const jpath *p, const json_t *jg, snap_entity *e)
{
    static const char *const keys[] = {"props", "stats"};
    if (!json_is_object(jg))
        return fail(c, p, "must be an object with props and stats, not %s", json_kind(jg));
    int r = check_keys(c, p, jg, keys, 2);
    if (r < 0)
        return r;
    jpath pp = {p, "props", 0}, sp = {p, "stats", 0};
    const json_t *props = json_object_get(jg, "props");
    const char *name = NULL, *uuid = NULL;
    int64_t pid = 0;
    if ((r = guest_props(c, &pp, props, &name, &uuid, &pid)) < 0)
        return r;
    const json_t *stats = json_object_get(jg, "stats");
    if (!stats)
        return fail(c, &sp, "missing (a guest needs a non-empty list of samples)");
    mom_value *pv = json_to_value(props);
    if (!pv)
        return -ENOMEM;
    r = build_entity(c, &sp, stats, MOM_ENTITY_GUEST, uuid ? uuid : name, name, uuid, pid, pv, e);
    mom_value_unref(pv);
    return r;
}

/* The whole document, once it parsed as JSON. */
static int build_snapshot(jctx *c, const json_t *root, snapshot **ret)
{
    static const char *const keys[] = {"host", "host_props", "guests"};
    if (!json_is_object(root))
        return fail(c, NULL, "the document must be an object, not %s", json_kind(root));
    int r = check_keys(c, NULL, root, keys, 3);
    if (r < 0)
        return r;
    const json_t *host = json_object_get(root, "host");
    const json_t *hprops = json_object_get(root, "host_props");
    const json_t *guests = json_object_get(root, "guests");
    jpath hp = {NULL, "host", 0}, hpp = {NULL, "host_props", 0}, gp = {NULL, "guests", 0};
    if (!host)
        return fail(c, &hp, "missing (a non-empty list of host samples is required)");
    if (hprops && !json_is_object(hprops))
        return fail(c, &hpp, "must be an object, not %s", json_kind(hprops));
    if (guests && !json_is_array(guests))
        return fail(c, &gp, "must be a list of guests, not %s", json_kind(guests));

    size_t n_guests = guests ? json_array_size(guests) : 0;
    snapshot *s = snapshot_new(n_guests);
    if (!s)
        return -ENOMEM;
    mom_value *pv = hprops ? json_to_value(hprops) : value_new_map();
    if (!pv) {
        r = -ENOMEM;
        goto fail;
    }
    r = build_entity(c, &hp, host, MOM_ENTITY_HOST, "host", "host", NULL, 0, pv, &s->host);
    mom_value_unref(pv);
    if (r < 0)
        goto fail;
    s->host_fields = s->host.fields;
    for (size_t i = 0; i < n_guests; i++) {
        jpath ip = {&gp, NULL, i};
        if ((r = build_guest(c, &ip, json_array_get(guests, i), &s->guests[i])) < 0)
            goto fail;
        for (size_t k = 0; k < i; k++) {
            jpath np = {&ip, "props", 0}, nnp = {&np, "name", 0}, unp = {&np, "uuid", 0};
            if (strcmp(s->guests[k].name, s->guests[i].name) == 0) {
                r = fail(c, &nnp, "duplicate guest name \"%s\" (also guests[%zu])",
                         s->guests[i].name, k);
                goto fail;
            }
            if (strcmp(s->guests[k].id, s->guests[i].id) == 0) {
                r = fail(c, &unp, "duplicate guest id \"%s\" (also guests[%zu])", s->guests[i].id,
                         k);
                goto fail;
            }
        }
    }
    *ret = s;
    return 0;
fail:
    snapshot_unref(s);
    return r;
}

int snapshot_json_parse(const char *text, size_t len, const char *label, snapshot **ret,
                        char **ret_error)
{
    if (!text || !ret)
        return -EINVAL;
    jctx c = {label ? label : "snapshot", NULL};
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    int r;
    if (!root) {
        c.error = mom_asprintf("%s:%d:%d: %s", c.label, jerr.line, jerr.column, jerr.text);
        r = c.error ? -EBADMSG : -ENOMEM;
    } else {
        r = build_snapshot(&c, root, ret);
        json_decref(root);
    }
    if (r < 0 && ret_error)
        *ret_error = c.error;
    else
        mom_free(c.error);
    return r;
}


int snapshot_json_load_file(const char *path, snapshot **ret, char **ret_error)
{
    if (!path || !ret)
        return -EINVAL;
    char *text = NULL;
    size_t len = 0;
    int r = file_read_all(path, &text, &len);
    if (r < 0) {
        if (ret_error)
            *ret_error = mom_asprintf("%s: %s", path, strerror(-r));
        return r;
    }
    r = snapshot_json_parse(text, len, path, ret, ret_error);
    mom_free(text);
    return r;
}
