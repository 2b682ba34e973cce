/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GuestIoTune and GuestIoTuneOptional: per-disk I/O limits (REFERENCE
 * §2.5, §2.8).  The collector joins the guest's I/O policy (one entry per
 * disk with a policy: name, path, guaranteed and maximum limits) with the
 * disks' current limits (name, path, ioTune), and produces two lists that
 * keep the same order, index by index:
 *
 *   io_tune          [{"name", "path", "guaranteed", "maximum", "current"}]
 *   io_tune_current  [{"name", "path", "ioTune"}]
 *
 * where every limit set is a MAP of the six limits (an absent limit is
 * NONE).  A policy entry matches the first current entry with an equal
 * path; when either side has no path, names are compared instead.  A
 * policy entry without a match is skipped.  When either input list is
 * empty or missing, the collector returns nothing.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hv.h"
#include "core/registry.h"
#include "core/value.h"
#include "mom/plugin.h"

typedef struct guest_iotune {
    const mom_plugin_api *api;
    bool unsupported_logged;
} guest_iotune;

static const char *const iotune_fields[] = {
    "io_tune", "io_tune_current", NULL,
};

static int guest_iotune_init(const mom_plugin_api *api, mom_entity *entity, void **ret_state)
{
    (void)entity;
    guest_iotune *g = mom_calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->api = api;
    *ret_state = g;
    return 0;
}

/* A non-empty string member of a disk entry, or NULL. */
static const char *entry_str(const mom_value *entry, const char *key)
{
    const mom_value *v = value_map_get(entry, key);
    if (!v || v->type != MOM_VALUE_STRING || v->u.s.len == 0)
        return NULL;
    return v->u.s.ptr;
}

/* The §2.5 matching rule: paths when both sides have one, else names. */
static bool disk_match(const mom_value *policy, const mom_value *current)
{
    const char *pp = entry_str(policy, "path"), *cp = entry_str(current, "path");
    if (pp && cp)
        return strcmp(pp, cp) == 0;
    const char *pn = entry_str(policy, "name"), *cn = entry_str(current, "name");
    return pn && cn && strcmp(pn, cn) == 0;
}

/* A MAP of the six limits of `src` (a limit set MAP or NULL), absent or
 * non-integer limits as NONE. */
static mom_value *limits_copy(const mom_value *src)
{
    mom_hv_io_limits l;
    if (src && src->type == MOM_VALUE_MAP)
        hv_limits_from_value(src, &l);
    else
        memset(&l, 0, sizeof(l));
    return hv_limits_to_value(&l);
}

/* NAME or PATH as a value: the current entry's, else the policy entry's,
 * else NONE. */
static mom_value *id_value(const mom_value *current, const mom_value *policy, const char *key)
{
    const char *s = entry_str(current, key);
    if (!s)
        s = entry_str(policy, key);
    return s ? value_new_string(s) : value_new_none();
}

/* Append the joined entries for one matched pair to both result lists. */
static int append_pair(mom_value *tune, mom_value *cur, const mom_value *p, const mom_value *c)
{
    mom_value *t = value_new_map();
    if (!t)
        return -ENOMEM;
    if (value_map_set(t, "name", id_value(c, p, "name")) < 0 ||
        value_map_set(t, "path", id_value(c, p, "path")) < 0 ||
        value_map_set(t, "guaranteed", limits_copy(value_map_get(p, "guaranteed"))) < 0 ||
        value_map_set(t, "maximum", limits_copy(value_map_get(p, "maximum"))) < 0 ||
        value_map_set(t, "current", limits_copy(value_map_get(c, "ioTune"))) < 0) {
        mom_value_unref(t);
        return -ENOMEM;
    }
    if (value_list_append(tune, t) < 0)
        return -ENOMEM;

    mom_value *s = value_new_map();
    if (!s)
        return -ENOMEM;
    if (value_map_set(s, "name", id_value(c, p, "name")) < 0 ||
        value_map_set(s, "path", id_value(c, p, "path")) < 0 ||
        value_map_set(s, "ioTune", limits_copy(value_map_get(c, "ioTune"))) < 0) {
        mom_value_unref(s);
        return -ENOMEM;
    }
    return value_list_append(cur, s) < 0 ? -ENOMEM : 0;
}

/* Fetch one of the two lists.  Returns 1 with *ret_list set when it holds
 * entries, 0 when there is nothing (empty, no data, unsupported) or a
 * negative errno for a collection error. */
static int fetch_list(guest_iotune *g, mom_entity *entity,
                      int (*op)(mom_entity *, mom_value **), mom_value **ret_list)
{
    const mom_plugin_api *api = g->api;
    mom_value *list = NULL;
    *ret_list = NULL;
    int r = op(entity, &list);
    if (r == -ENOTSUP) {
        if (!g->unsupported_logged)
            api->log(api, entity, MOM_LOG_WARN,
                     "The hypervisor interface does not report I/O tune information");
        g->unsupported_logged = true;
        return 0;
    }
    if (r == -ENODATA)
        return 0;
    if (r < 0) {
        api->value_unref(list);
        return r;
    }
    if (!list || list->type != MOM_VALUE_LIST || list->u.c.n == 0) {
        api->value_unref(list);
        return 0;
    }
    *ret_list = list;
    return 1;
}

/* One collection: join the policy with the current limits. */
static int guest_iotune_collect(void *state, mom_entity *entity, mom_sample *out)
{
    guest_iotune *g = state;
    const mom_plugin_api *api = g->api;
    mom_value *policy = NULL, *current = NULL, *tune = NULL, *cur = NULL;
    int r = fetch_list(g, entity, api->hv_io_tune_policy, &policy);
    if (r <= 0)
        goto done;
    if ((r = fetch_list(g, entity, api->hv_io_tune, &current)) <= 0)
        goto done;

    tune = value_new_list();
    cur = value_new_list();
    if (!tune || !cur) {
        r = -ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < policy->u.c.n; i++) {
        const mom_value *p = policy->u.c.items[i];
        if (p->type != MOM_VALUE_MAP)
            continue;
        for (size_t j = 0; j < current->u.c.n; j++) {
            const mom_value *c = current->u.c.items[j];
            if (c->type != MOM_VALUE_MAP || !disk_match(p, c))
                continue;
            if ((r = append_pair(tune, cur, p, c)) < 0)
                goto done;
            break;
        }
    }
    r = api->sample_set_value(out, "io_tune", tune);
    tune = NULL;
    if (r < 0)
        goto done;
    r = api->sample_set_value(out, "io_tune_current", cur);
    cur = NULL;
done:
    api->value_unref(policy);
    api->value_unref(current);
    api->value_unref(tune);
    api->value_unref(cur);
    return r < 0 ? r : 0;
}

static void guest_iotune_fini(void *state)
{
    mom_free(state);
}

const mom_collector mom_collector_GuestIoTune = {
    .size = sizeof(mom_collector),
    .name = "GuestIoTune",
    .kind = MOM_ENTITY_GUEST,
    .mandatory = iotune_fields,
    .optional = NULL,
    .init = guest_iotune_init,
    .collect = guest_iotune_collect,
    .fini = guest_iotune_fini,
};

const mom_collector mom_collector_GuestIoTuneOptional = {
    .size = sizeof(mom_collector),
    .name = "GuestIoTuneOptional",
    .kind = MOM_ENTITY_GUEST,
    .mandatory = NULL,
    .optional = iotune_fields,
    .init = guest_iotune_init,
    .collect = guest_iotune_collect,
    .fini = guest_iotune_fini,
};
