/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/snapshot.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"

snapshot *snapshot_new(size_t n_guests)
{
    snapshot *s = mom_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    if (n_guests) {
        s->guests = mom_calloc(n_guests, sizeof(snap_entity));
        if (!s->guests) {
            mom_free(s);
            return NULL;
        }
    }
    s->n_guests = n_guests;
    return s;
}

snapshot *snapshot_ref(snapshot *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

static void entity_release(snap_entity *e)
{
    mom_free(e->id);
    mom_free(e->name);
    mom_free(e->uuid);
    mom_value_unref(e->props);
    for (size_t i = 0; i < e->n_samples; i++)
        sample_unref(e->samples[i]);
    mom_free(e->samples);
    fieldtab_free(e->own_fields);
    memset(e, 0, sizeof(*e));
}

void snapshot_unref(snapshot *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    entity_release(&s->host);
    for (size_t i = 0; i < s->n_guests; i++)
        entity_release(&s->guests[i]);
    mom_free(s->guests);
    mom_free(s);
}

int snap_entity_init(snap_entity *e, mom_entity_kind kind, const char *id, const char *name,
                     const char *uuid, int64_t pid, mom_value *props, const fieldtab *fields,
                     sample *const *samples, size_t n_samples)
{
    e->kind = kind;
    e->pid = pid;
    e->serial = 0;
    e->fields = fields;
    e->id = mom_strdup(id ? id : "");
    e->name = mom_strdup(name ? name : "");
    e->uuid = uuid ? mom_strdup(uuid) : NULL;
    e->props = props ? mom_value_ref(props) : value_new_map();
    e->samples = n_samples ? mom_calloc(n_samples, sizeof(sample *)) : NULL;
    if (!e->id || !e->name || (uuid && !e->uuid) || !e->props || (n_samples && !e->samples))
        return -ENOMEM;
    e->uniform = fields != NULL;
    for (size_t i = 0; i < n_samples; i++) {
        e->samples[i] = sample_ref(samples[i]);
        if (!fields || samples[i]->n != fields->n)
            e->uniform = false;
    }
    e->n_samples = n_samples;
    return 0;
}

const fval *snap_entity_current(const snap_entity *e, const char *field)
{
    if (!e->n_samples)
        return NULL;
    int id = fieldtab_find(e->fields, field);
    if (id < 0)
        return NULL;
    return &e->samples[e->n_samples - 1]->f[id];
}

static mom_value *entity_stats(const snap_entity *e)
{
    mom_value *m = value_new_map();
    if (!m || !e->n_samples)
        return m;
    const sample *s = e->samples[e->n_samples - 1];
    for (size_t i = 0; i < e->fields->n && i < s->n; i++) {
        if (value_map_set(m, e->fields->names[i], fval_to_value(&s->f[i])) < 0)
            goto fail;
    }
    if (s->extras) {
        for (size_t i = 0; i < s->extras->u.c.n; i++)
            if (value_map_set(m, s->extras->u.c.keys[i], mom_value_ref(s->extras->u.c.items[i])) < 0)
                goto fail;
    }
    return m;
fail:
    mom_value_unref(m);
    return NULL;
}

mom_value *snapshot_statistics(const snapshot *s)
{
    mom_value *top = value_new_map();
    mom_value *guests = value_new_map();
    if (!top || !guests)
        goto fail;
    if (s && s->host.n_samples) {
        if (value_map_set(top, "host", entity_stats(&s->host)) < 0)
            goto fail;
    } else if (value_map_set(top, "host", value_new_map()) < 0) {
        goto fail;
    }
    for (size_t i = 0; s && i < s->n_guests; i++)
        if (value_map_set(guests, s->guests[i].name, entity_stats(&s->guests[i])) < 0)
            goto fail;
    if (value_map_set(top, "guests", guests) < 0) {
        guests = NULL;
        goto fail;
    }
    return top;
fail:
    mom_value_unref(guests);
    mom_value_unref(top);
    return NULL;
}

controls *controls_new(size_t n_guests)
{
    controls *c = mom_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->host = value_new_map();
    c->guests = mom_calloc(n_guests ? n_guests : 1, sizeof(mom_value *));
    c->n_guests = n_guests;
    if (!c->host || !c->guests)
        goto fail;
    for (size_t i = 0; i < n_guests; i++)
        if (!(c->guests[i] = value_new_map()))
            goto fail;
    return c;
fail:
    controls_free(c);
    return NULL;
}

void controls_free(controls *c)
{
    if (!c)
        return;
    mom_value_unref(c->host);
    if (c->shared) {
        ctl_maps_unref(c->shared);
    } else {
        for (size_t i = 0; c->guests && i < c->n_guests; i++)
            mom_value_unref(c->guests[i]);
        mom_free(c->guests);
    }
    mom_free(c);
}

ctl_maps *ctl_maps_new(size_t n)
{
    if (n > (SIZE_MAX - sizeof(ctl_maps)) / sizeof(mom_value *))
        return NULL;
    ctl_maps *m = mom_calloc(1, sizeof(*m) + n * sizeof(mom_value *));
    if (!m)
        return NULL;
    atomic_init(&m->refs, 1);
    m->n = n;
    return m;
}

ctl_maps *ctl_maps_ref(ctl_maps *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void ctl_maps_unref(ctl_maps *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < m->n; i++)
        mom_value_unref(m->maps[i]);
    mom_free(m);
}

bool ctl_maps_shared(ctl_maps *m)
{
    return atomic_load_explicit(&m->refs, memory_order_acquire) != 1;
}

int controls_set(controls *c, int guest, const char *name, mom_value *v)
{
    if (guest >= (int)c->n_guests) {
        mom_value_unref(v);
        return -EINVAL;
    }
    return value_map_set(guest < 0 ? c->host : c->guests[guest], name, v);
}
