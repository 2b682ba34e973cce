/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scenario loader for the simulator: JSON (parsed by jansson) checked key
 * by key into a sim_model.  Every problem is reported with the source name
 * and the path of the offending value, e.g.
 *   "web.json: guests[1].workload[0].type: unknown workload type 'rmap'".
 * Unknown keys are errors, so that a typo does not silently fall back to a
 * default.
 */
#include "hv/sim_scenario.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

#define KIB_PER_MIB 1024.0

/* The built-in scenario (conf/scenarios/default.json is a copy).  A 16 GiB
 * host with 4 CPUs and 2 GiB of swap runs five guests of 4-6 GiB (26 GiB
 * in all); their demand rises over the first 20 s until the host swaps,
 * holds, and falls from 40 s on. */
const char sim_scenario_default[] =
    "{\n"
    "  \"description\": \"Built-in scenario: five guests (26 GiB in all) on a 16 GiB host; demand"
    " rises for 20 s until the host swaps, holds, and falls after 40 s.\",\n"
    "  \"host\": {\"memory_mib\": 16384, \"swap_mib\": 2048, \"cpus\": 4,\n"
    "           \"overhead_mib\": 512, \"cache_mib\": 512, \"ksm_mergeable\": 0.15},\n"
    "  \"guests\": [\n"
    "    {\"name\": \"web1\", \"max_mib\": 4096, \"min_mib\": 1024, \"vcpus\": 2,"
    " \"cache_mib\": 256,\n"
    "     \"workload\": [\n"
    "       {\"type\": \"ramp\", \"from_mib\": 1024, \"to_mib\": 3328, \"duration\": 20},\n"
    "       {\"type\": \"ramp\", \"at\": 40, \"from_mib\": 3328, \"to_mib\": 1024,"
    " \"duration\": 10}]},\n"
    "    {\"name\": \"web2\", \"max_mib\": 4096, \"min_mib\": 1024, \"vcpus\": 2,"
    " \"cache_mib\": 256,\n"
    "     \"vcpu_limit\": 50,\n"
    "     \"workload\": [\n"
    "       {\"type\": \"ramp\", \"from_mib\": 1024, \"to_mib\": 2816, \"duration\": 18},\n"
    "       {\"type\": \"periodic\", \"at\": 18, \"mean_mib\": 2816, \"amplitude_mib\": 256,"
    " \"period\": 10},\n"
    "       {\"type\": \"ramp\", \"at\": 42, \"from_mib\": 2816, \"to_mib\": 1024,"
    " \"duration\": 10}]},\n"
    "    {\"name\": \"db\", \"max_mib\": 6144, \"min_mib\": 2048, \"vcpus\": 4,"
    " \"cache_mib\": 256,\n"
    "     \"free_page_reporting\": true,\n"
    "     \"disks\": [\n"
    "       {\"name\": \"vda\", \"path\": \"/var/lib/mom-sim/db-system.img\",\n"
    "        \"guaranteed\": {\"total_bytes_sec\": 10485760, \"total_iops_sec\": 200},\n"
    "        \"maximum\": {\"total_bytes_sec\": 104857600, \"total_iops_sec\": 2000},\n"
    "        \"current\": {\"total_bytes_sec\": 0, \"total_iops_sec\": 0}},\n"
    "       {\"name\": \"vdb\", \"path\": \"/var/lib/mom-sim/db-data.img\",\n"
    "        \"guaranteed\": {\"read_bytes_sec\": 20971520, \"write_bytes_sec\": 10485760},\n"
    "        \"maximum\": {\"read_bytes_sec\": 209715200, \"write_bytes_sec\": 104857600}}],\n"
    "     \"workload\": [\n"
    "       {\"type\": \"ramp\", \"from_mib\": 2048, \"to_mib\": 4352, \"duration\": 20},\n"
    "       {\"type\": \"ramp\", \"at\": 40, \"from_mib\": 4352, \"to_mib\": 2048,"
    " \"duration\": 8}]},\n"
    "    {\"name\": \"batch\", \"max_mib\": 6144, \"min_mib\": 512, \"vcpus\": 2,"
    " \"cache_mib\": 256,\n"
    "     \"free_page_reporting\": true,\n"
    "     \"workload\": [\n"
    "       {\"type\": \"ramp\", \"from_mib\": 512, \"to_mib\": 2560, \"duration\": 20},\n"
    "       {\"type\": \"spikes\", \"at\": 20, \"base_mib\": 2560,\n"
    "        \"spikes\": [{\"at\": 4, \"height_mib\": 768, \"duration\": 6},\n"
    "                   {\"at\": 12, \"height_mib\": 512, \"duration\": 4}]},\n"
    "       {\"type\": \"ramp\", \"at\": 44, \"from_mib\": 2560, \"to_mib\": 512,"
    " \"duration\": 6}]},\n"
    "    {\"name\": \"idle\", \"max_mib\": 6144, \"min_mib\": 512, \"vcpus\": 1,"
    " \"cache_mib\": 256,\n"
    "     \"workload\": {\"type\": \"idle\", \"mib\": 384}}\n"
    "  ]\n"
    "}\n";

typedef struct ctx {
    const char *source;
    char *error;
} ctx;

/* Record the first error as "SOURCE: PATH: message". */
__attribute__((format(printf, 3, 4))) static int fail(ctx *c, const char *path, const char *fmt,
                                                      ...)
{
    if (c->error)
        return -EINVAL;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->error = path && *path ? mom_asprintf("%s: %s: %s", c->source, path, msg)
                             : mom_asprintf("%s: %s", c->source, msg);
    return -EINVAL;
}

/* Reject keys of `obj` that are not in the NULL-terminated `allowed`. */
static int check_keys(ctx *c, const char *path, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach (obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok)
            return fail(c, path, "unknown key '%s'", key);
    }
    return 0;
}

/* A number at obj[key] within [lo, hi]; `def` when absent or null. */
static int get_num(ctx *c, const char *path, json_t *obj, const char *key, double def, double lo,
                   double hi, double *ret)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *ret = def;
        return 0;
    }
    if (!json_is_number(v))
        return fail(c, path, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return fail(c, path, "'%s' is %g, outside [%g, %g]", key, d, lo, hi);
    *ret = d;
    return 0;
}

/* A required number. */
static int need_num(ctx *c, const char *path, json_t *obj, const char *key, double lo, double hi,
                    double *ret)
{
    if (!json_object_get(obj, key))
        return fail(c, path, "'%s' is required", key);
    return get_num(c, path, obj, key, 0, lo, hi, ret);
}

/* An integer at obj[key] within [lo, hi]. */
static int get_int(ctx *c, const char *path, json_t *obj, const char *key, int64_t def,
                   int64_t lo, int64_t hi, int64_t *ret)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *ret = def;
        return 0;
    }
    if (!json_is_integer(v))
        return fail(c, path, "'%s' must be an integer", key);
    json_int_t i = json_integer_value(v);
    if (i < lo || i > hi)
        return fail(c, path, "'%s' is %lld, outside [%lld, %lld]", key, (long long)i,
                    (long long)lo, (long long)hi);
    *ret = (int64_t)i;
    return 0;
}

static int get_bool(ctx *c, const char *path, json_t *obj, const char *key, bool def, bool *ret)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *ret = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return fail(c, path, "'%s' must be true or false", key);
    *ret = json_is_true(v);
    return 0;
}

/* An optional string; *ret NULL when absent. */
static int get_str(ctx *c, const char *path, json_t *obj, const char *key, const char **ret)
{
    json_t *v = json_object_get(obj, key);
    *ret = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return fail(c, path, "'%s' must be a non-empty string", key);
    *ret = json_string_value(v);
    return 0;
}

/* The six I/O limits: {"total_bytes_sec": N, ...}; absent keys stay unset. */
static int parse_limits(ctx *c, const char *path, json_t *obj, mom_hv_io_limits *ret)
{
    static const char *const names[] = {"total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
                                        "total_iops_sec",  "read_iops_sec",  "write_iops_sec",
                                        NULL};
    memset(ret, 0, sizeof(*ret));
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return fail(c, path, "must be an object of I/O limits");
    if (check_keys(c, path, obj, names) < 0)
        return -EINVAL;
    int64_t *slots[] = {&ret->total_bytes_sec, &ret->read_bytes_sec, &ret->write_bytes_sec,
                        &ret->total_iops_sec,  &ret->read_iops_sec,  &ret->write_iops_sec};
    for (int i = 0; i < 6; i++) {
        json_t *v = json_object_get(obj, names[i]);
        if (!v || json_is_null(v))
            continue;
        if (get_int(c, path, obj, names[i], 0, 0, INT64_MAX, slots[i]) < 0)
            return -EINVAL;
        ret->present |= 1u << i;
    }
    return 0;
}

static int parse_disk(ctx *c, const char *path, json_t *obj, sim_disk *d)
{
    static const char *const keys[] = {"name", "path", "guaranteed", "maximum", "current", NULL};
    char sub[320];
    const char *name, *dpath;
    if (!json_is_object(obj))
        return fail(c, path, "must be an object");
    if (check_keys(c, path, obj, keys) < 0 || get_str(c, path, obj, "name", &name) < 0 ||
        get_str(c, path, obj, "path", &dpath) < 0)
        return -EINVAL;
    if (!name && !dpath)
        return fail(c, path, "a disk needs a 'name' or a 'path'");
    if ((name && !(d->name = mom_strdup(name))) || (dpath && !(d->path = mom_strdup(dpath))))
        return -ENOMEM;
    snprintf(sub, sizeof(sub), "%s.guaranteed", path);
    if (parse_limits(c, sub, json_object_get(obj, "guaranteed"), &d->guaranteed) < 0)
        return -EINVAL;
    snprintf(sub, sizeof(sub), "%s.maximum", path);
    if (parse_limits(c, sub, json_object_get(obj, "maximum"), &d->maximum) < 0)
        return -EINVAL;
    snprintf(sub, sizeof(sub), "%s.current", path);
    return parse_limits(c, sub, json_object_get(obj, "current"), &d->current);
}

/* One workload phase. */
static int parse_phase(ctx *c, const char *path, json_t *obj, const sim_guest *g,
                       double guest_noise, sim_phase *p)
{
    static const char *const k_constant[] = {"type", "at", "noise", "mib", NULL};
    static const char *const k_ramp[] = {"type", "at", "noise", "from_mib", "to_mib", "duration",
                                         NULL};
    static const char *const k_periodic[] = {"type",          "at",     "noise",  "mean_mib",
                                             "amplitude_mib", "period", "offset", "shape",
                                             NULL};
    static const char *const k_spikes[] = {"type", "at", "noise", "base_mib", "spikes", "every",
                                           NULL};
    const double big = 1e12; /* MiB: any sane memory size */
    const char *type;
    double v;
    if (!json_is_object(obj))
        return fail(c, path, "a workload phase must be an object");
    if (get_str(c, path, obj, "type", &type) < 0)
        return -EINVAL;
    if (!type)
        return fail(c, path, "'type' is required (constant, ramp, periodic, spikes or idle)");
    if (get_num(c, path, obj, "at", 0, 0, big, &p->at) < 0)
        return -EINVAL;
    if (strcmp(type, "constant") == 0 || strcmp(type, "idle") == 0) {
        bool idle = type[0] == 'i';
        p->type = idle ? SIM_WL_IDLE : SIM_WL_CONSTANT;
        double def = fmin(128.0, g->max_kib / KIB_PER_MIB / 16);
        if (check_keys(c, path, obj, k_constant) < 0 ||
            (idle ? get_num(c, path, obj, "mib", def, 0, big, &v)
                  : need_num(c, path, obj, "mib", 0, big, &v)) < 0)
            return -EINVAL;
        p->level = v * KIB_PER_MIB;
        guest_noise = idle ? 0 : guest_noise;
    } else if (strcmp(type, "ramp") == 0) {
        p->type = SIM_WL_RAMP;
        if (check_keys(c, path, obj, k_ramp) < 0 ||
            need_num(c, path, obj, "from_mib", 0, big, &p->level) < 0 ||
            need_num(c, path, obj, "to_mib", 0, big, &p->to) < 0 ||
            need_num(c, path, obj, "duration", 0, big, &p->duration) < 0)
            return -EINVAL;
        p->level *= KIB_PER_MIB;
        p->to *= KIB_PER_MIB;
    } else if (strcmp(type, "periodic") == 0) {
        const char *shape;
        p->type = SIM_WL_PERIODIC;
        if (check_keys(c, path, obj, k_periodic) < 0 ||
            need_num(c, path, obj, "mean_mib", 0, big, &p->level) < 0 ||
            need_num(c, path, obj, "amplitude_mib", 0, big, &p->amplitude) < 0 ||
            need_num(c, path, obj, "period", 1e-3, big, &p->period) < 0 ||
            get_num(c, path, obj, "offset", 0, -big, big, &p->offset) < 0 ||
            get_str(c, path, obj, "shape", &shape) < 0)
            return -EINVAL;
        if (shape && strcmp(shape, "sine") != 0 && strcmp(shape, "square") != 0)
            return fail(c, path, "'shape' must be \"sine\" or \"square\", not '%s'", shape);
        p->square = shape && strcmp(shape, "square") == 0;
        p->level *= KIB_PER_MIB;
        p->amplitude *= KIB_PER_MIB;
    } else if (strcmp(type, "spikes") == 0) {
        p->type = SIM_WL_SPIKES;
        if (check_keys(c, path, obj, k_spikes) < 0 ||
            need_num(c, path, obj, "base_mib", 0, big, &p->level) < 0 ||
            get_num(c, path, obj, "every", 0, 0, big, &p->every) < 0)
            return -EINVAL;
        p->level *= KIB_PER_MIB;
        json_t *sp = json_object_get(obj, "spikes");
        if (!json_is_array(sp))
            return fail(c, path, "'spikes' must be a list of {at, height_mib, duration}");
        size_t n = json_array_size(sp);
        if (n && !(p->spikes = mom_calloc(n, sizeof(*p->spikes))))
            return -ENOMEM;
        p->n_spikes = n;
        for (size_t i = 0; i < p->n_spikes; i++) {
            static const char *const k_spike[] = {"at", "height_mib", "duration", NULL};
            char sub[320];
            json_t *s = json_array_get(sp, i);
            snprintf(sub, sizeof(sub), "%s.spikes[%zu]", path, i);
            if (!json_is_object(s))
                return fail(c, sub, "a spike must be an object");
            if (check_keys(c, sub, s, k_spike) < 0 ||
                need_num(c, sub, s, "at", 0, big, &p->spikes[i].at) < 0 ||
                need_num(c, sub, s, "height_mib", -big, big, &p->spikes[i].height) < 0 ||
                need_num(c, sub, s, "duration", 0, big, &p->spikes[i].duration) < 0)
                return -EINVAL;
            p->spikes[i].height *= KIB_PER_MIB;
        }
    } else {
        return fail(c, path,
                    "unknown workload type '%s' (constant, ramp, periodic, spikes or idle)",
                    type);
    }
    return get_num(c, path, obj, "noise", guest_noise, 0, 1, &p->noise);
}

/* The deterministic UUID of a guest: a hash of the seed and the name, in
 * the canonical form with the version 4 and RFC 4122 variant bits set. */
static void make_uuid(uint64_t seed, const char *name, char ret[37])
{
    uint64_t h = sim_model_hash_str(name);
    uint64_t a = sim_model_mix(seed ^ sim_model_mix(h));
    uint64_t b = sim_model_mix(a ^ h ^ 0x5851f42d4c957f2dull);
    unsigned char u[16];
    for (int i = 0; i < 8; i++) {
        u[i] = (unsigned char)(a >> (56 - 8 * i));
        u[8 + i] = (unsigned char)(b >> (56 - 8 * i));
    }
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    snprintf(ret, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
}

/* One guest entry; `copy` and `width` name the copies of a "count" entry
 * ("web-001"), copy < 0 for a single guest. */
static int parse_guest(ctx *c, const char *path, json_t *obj, long copy, int width,
                       double stagger, uint64_t seed, sim_guest *g)
{
    static const char *const keys[] = {
        "name",       "count",        "stagger",     "max_mib",        "min_mib",
        "memory_mib", "reserve_mib",  "cache_mib",   "swap_mib",       "balloon_rate_mib",
        "vcpus",      "vcpu_limit",   "vcpu_quota",  "vcpu_period",    "start",
        "stop",       "noise",        "noise_period", "free_page_reporting", "memory_stats",
        "workload",   "disks",        NULL};
    const double big = 1e12;
    const char *name;
    double v, noise;
    char sub[160];
    if (check_keys(c, path, obj, keys) < 0 || get_str(c, path, obj, "name", &name) < 0)
        return -EINVAL;
    if (!name)
        return fail(c, path, "'name' is required");
    g->name = copy < 0 ? mom_strdup(name) : mom_asprintf("%s-%0*ld", name, width, copy);
    if (!g->name)
        return -ENOMEM;
    if (need_num(c, path, obj, "max_mib", 1, big, &v) < 0)
        return -EINVAL;
    g->max_kib = v * KIB_PER_MIB;
    if (get_num(c, path, obj, "min_mib", 0, 0, v, &g->min_kib) < 0 ||
        get_num(c, path, obj, "memory_mib", v, 1, v, &g->initial_kib) < 0 ||
        get_num(c, path, obj, "reserve_mib", fmin(128, v / 8), 0, v / 2, &g->reserve_kib) < 0 ||
        get_num(c, path, obj, "cache_mib", v / 10, 0, big, &g->cache_kib) < 0 ||
        get_num(c, path, obj, "swap_mib", 1024, 0, big, &g->swap_kib) < 0 ||
        get_num(c, path, obj, "balloon_rate_mib", 256, 1e-3, big, &g->rate_kib) < 0)
        return -EINVAL;
    g->min_kib *= KIB_PER_MIB;
    g->initial_kib *= KIB_PER_MIB;
    g->reserve_kib *= KIB_PER_MIB;
    g->cache_kib *= KIB_PER_MIB;
    g->swap_kib *= KIB_PER_MIB;
    g->rate_kib *= KIB_PER_MIB;
    if (g->initial_kib < g->reserve_kib)
        g->initial_kib = g->reserve_kib;
    if (get_int(c, path, obj, "vcpus", 1, 1, 4096, &g->vcpus) < 0 ||
        get_int(c, path, obj, "vcpu_limit", 100, 0, 100, &g->vcpu_limit) < 0 ||
        get_int(c, path, obj, "vcpu_quota", -1, -1, INT64_MAX, &g->vcpu_quota) < 0 ||
        get_int(c, path, obj, "vcpu_period", 100000, 1000, 1000000, &g->vcpu_period) < 0 ||
        get_num(c, path, obj, "start", 0, 0, big, &g->start) < 0 ||
        get_num(c, path, obj, "stop", -1, 0, big, &g->stop) < 0 ||
        get_num(c, path, obj, "noise", 0.02, 0, 1, &noise) < 0 ||
        get_num(c, path, obj, "noise_period", 5, 0.01, big, &g->noise_period) < 0 ||
        get_bool(c, path, obj, "free_page_reporting", false, &g->free_page_reporting) < 0 ||
        get_bool(c, path, obj, "memory_stats", true, &g->memory_stats) < 0)
        return -EINVAL;
    if (g->stop >= 0 && g->stop <= g->start)
        return fail(c, path, "'stop' (%g) must come after 'start' (%g)", g->stop, g->start);
    g->clock_shift = copy > 0 ? stagger * (double)(copy - 1) : 0;

    /* The workload: one phase object or a list of phases in time order. */
    json_t *wl = json_object_get(obj, "workload");
    snprintf(sub, sizeof(sub), "%s.workload", path);
    if (!wl || json_is_null(wl)) {
        if (!(g->phases = mom_calloc(1, sizeof(*g->phases))))
            return -ENOMEM;
        g->n_phases = 1;
        g->phases[0].type = SIM_WL_IDLE;
        g->phases[0].level = fmin(128 * KIB_PER_MIB, g->max_kib / 16);
    } else if (json_is_object(wl)) {
        if (!(g->phases = mom_calloc(1, sizeof(*g->phases))))
            return -ENOMEM;
        g->n_phases = 1;
        if (parse_phase(c, sub, wl, g, noise, &g->phases[0]) < 0)
            return -EINVAL;
    } else if (json_is_array(wl) && json_array_size(wl) > 0) {
        size_t n = json_array_size(wl);
        if (!(g->phases = mom_calloc(n, sizeof(*g->phases))))
            return -ENOMEM;
        g->n_phases = n;
        for (size_t i = 0; i < g->n_phases; i++) {
            char ps[256];
            snprintf(ps, sizeof(ps), "%s[%zu]", sub, i);
            int r = parse_phase(c, ps, json_array_get(wl, i), g, noise, &g->phases[i]);
            if (r < 0)
                return r;
            if (i > 0 && g->phases[i].at < g->phases[i - 1].at)
                return fail(c, ps, "'at' (%g) comes before the previous phase's (%g)",
                            g->phases[i].at, g->phases[i - 1].at);
        }
    } else {
        return fail(c, sub, "must be a phase object or a non-empty list of phases");
    }

    json_t *disks = json_object_get(obj, "disks");
    if (disks && !json_is_null(disks)) {
        snprintf(sub, sizeof(sub), "%s.disks", path);
        if (!json_is_array(disks))
            return fail(c, sub, "must be a list of disks");
        size_t n = json_array_size(disks);
        if (n && !(g->disks = mom_calloc(n, sizeof(*g->disks))))
            return -ENOMEM;
        g->n_disks = n;
        for (size_t i = 0; i < g->n_disks; i++) {
            char ds[256];
            snprintf(ds, sizeof(ds), "%s[%zu]", sub, i);
            int r = parse_disk(c, ds, json_array_get(disks, i), &g->disks[i]);
            if (r < 0)
                return r;
        }
    }
    make_uuid(seed, g->name, g->uuid);
    g->noise_key = sim_model_mix(seed ^ sim_model_mix(sim_model_hash_str(g->name) + 1));
    return 0;
}

static int parse_host(ctx *c, json_t *obj, sim_host *h)
{
    static const char *const keys[] = {"memory_mib",    "swap_mib",      "cpus",
                                       "overhead_mib",  "min_free_mib",  "cache_mib",
                                       "ksm_mergeable", "ksm_sharing_ratio", "ksm", NULL};
    static const char *const ksm_keys[] = {"run", "pages_to_scan", "sleep_millisecs",
                                           "merge_across_nodes", NULL};
    const double big = 1e12;
    double mem;
    if (obj && json_is_null(obj))
        obj = NULL;
    if (obj && !json_is_object(obj))
        return fail(c, "host", "must be an object");
    json_t *o = obj;
    json_t *empty = NULL;
    if (!o && !(o = empty = json_object()))
        return -ENOMEM;
    int r = -EINVAL;
    if (check_keys(c, "host", o, keys) < 0 ||
        get_num(c, "host", o, "memory_mib", 16384, 1, big, &mem) < 0 ||
        get_num(c, "host", o, "swap_mib", 2048, 0, big, &h->swap_kib) < 0 ||
        get_int(c, "host", o, "cpus", 4, 1, 65536, &h->cpus) < 0 ||
        get_num(c, "host", o, "overhead_mib", fmin(512, mem / 8), 0, mem, &h->overhead_kib) < 0 ||
        get_num(c, "host", o, "min_free_mib", fmax(mem / 100, 1), 0, mem / 2, &h->min_free_kib) <
            0 ||
        get_num(c, "host", o, "cache_mib", fmin(512, mem / 16), 0, mem, &h->cache_kib) < 0 ||
        get_num(c, "host", o, "ksm_mergeable", 0.2, 0, 1, &h->ksm_mergeable) < 0 ||
        get_num(c, "host", o, "ksm_sharing_ratio", 4, 1, 1e6, &h->ksm_ratio) < 0)
        goto out;
    h->total_kib = mem * KIB_PER_MIB;
    h->swap_kib *= KIB_PER_MIB;
    h->overhead_kib *= KIB_PER_MIB;
    h->min_free_kib *= KIB_PER_MIB;
    h->cache_kib *= KIB_PER_MIB;
    json_t *ksm = json_object_get(o, "ksm");
    json_t *kempty = NULL;
    if (ksm && !json_is_object(ksm)) {
        fail(c, "host.ksm", "must be an object");
        goto out;
    }
    if (!ksm && !(ksm = kempty = json_object())) {
        r = -ENOMEM;
        goto out;
    }
    if (check_keys(c, "host.ksm", ksm, ksm_keys) == 0 &&
        get_int(c, "host.ksm", ksm, "run", 0, 0, 2, &h->ksm_run) == 0 &&
        get_int(c, "host.ksm", ksm, "pages_to_scan", 100, 0, UINT32_MAX, &h->ksm_pages_to_scan) ==
            0 &&
        get_int(c, "host.ksm", ksm, "sleep_millisecs", 20, 0, UINT32_MAX,
                &h->ksm_sleep_millisecs) == 0 &&
        get_int(c, "host.ksm", ksm, "merge_across_nodes", 1, 0, 1, &h->ksm_merge_across_nodes) ==
            0)
        r = 0;
    json_decref(kempty);
out:
    json_decref(empty);
    return r;
}

/* Parse the whole document into m. */
static int parse_root(ctx *c, json_t *root, uint64_t seed, sim_model *m)
{
    static const char *const keys[] = {"description", "host", "guests", NULL};
    if (!json_is_object(root))
        return fail(c, NULL, "the scenario must be a JSON object");
    if (check_keys(c, NULL, root, keys) < 0)
        return -EINVAL;
    int r = parse_host(c, json_object_get(root, "host"), &m->host);
    if (r < 0)
        return r;
    json_t *guests = json_object_get(root, "guests");
    if (!guests || json_is_null(guests))
        return 0;
    if (!json_is_array(guests))
        return fail(c, "guests", "must be a list");

    /* Count the guests first ("count" expands one entry into copies). */
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(guests); i++) {
        char path[64];
        int64_t n;
        json_t *g = json_array_get(guests, i);
        snprintf(path, sizeof(path), "guests[%zu]", i);
        if (!json_is_object(g))
            return fail(c, path, "a guest must be an object");
        if (get_int(c, path, g, "count", 1, 1, 1000000, &n) < 0)
            return -EINVAL;
        total += (size_t)n;
    }
    if (total > 1000000)
        return fail(c, "guests", "too many guests (%zu)", total);
    if (total && !(m->guests = mom_calloc(total, sizeof(*m->guests))))
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(guests); i++) {
        char path[64];
        int64_t n;
        double stagger;
        json_t *g = json_array_get(guests, i);
        snprintf(path, sizeof(path), "guests[%zu]", i);
        get_int(c, path, g, "count", 1, 1, 1000000, &n);
        if (get_num(c, path, g, "stagger", 0, 0, 1e12, &stagger) < 0)
            return -EINVAL;
        int width = 3;
        for (int64_t x = n; x >= 1000; x /= 10)
            width++;
        for (int64_t k = 0; k < n; k++) {
            sim_guest *sg = &m->guests[m->n_guests++];
            r = parse_guest(c, path, g, n > 1 || json_object_get(g, "count") ? (long)k + 1 : -1,
                            width, stagger, seed, sg);
            if (r < 0)
                return r;
            sg->pid = 10000 + (int64_t)(m->n_guests - 1);
            for (size_t j = 0; j + 1 < m->n_guests; j++)
                if (strcmp(m->guests[j].name, sg->name) == 0)
                    return fail(c, path, "duplicate guest name '%s'", sg->name);
        }
    }
    return 0;
}

int sim_scenario_parse(const char *text, const char *source, uint64_t seed, sim_model *ret,
                       char **ret_error)
{
    ctx c = {.source = source ? source : "scenario", .error = NULL};
    json_error_t jerr;
    *ret_error = NULL;
    memset(ret, 0, sizeof(*ret));
    ret->seed = seed;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        *ret_error = mom_asprintf("%s:%d:%d: invalid JSON: %s", c.source, jerr.line, jerr.column,
                                  jerr.text);
        return *ret_error ? -EINVAL : -ENOMEM;
    }
    int r = parse_root(&c, root, seed, ret);
    json_decref(root);
    if (r < 0) {
        sim_model_done(ret);
        memset(ret, 0, sizeof(*ret));
        if (r == -EINVAL && !c.error)
            r = -ENOMEM; /* a failed allocation inside the message path */
        *ret_error = c.error;
    }
    return r;
}
