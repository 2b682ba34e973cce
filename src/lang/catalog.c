/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The load-time catalog of component names: the built-in collectors and
 * controllers (read from a registry of the built-ins, so that the catalog
 * follows the collectors' own declarations), the properties of §5, and
 * whatever the configuration adds.
 */
#include "lang/catalog.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/registry.h"

static int add(catalog *c, const char *name, unsigned known, unsigned conf)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->names[i], name) == 0) {
            c->known[i] |= (uint8_t)known;
            c->conf[i] |= (uint8_t)conf;
            return 0;
        }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 128;
        const char **nn = mom_realloc(c->names, cap * sizeof(*nn));
        if (!nn)
            return -ENOMEM;
        c->names = nn;
        uint8_t *nk = mom_realloc(c->known, cap);
        if (!nk)
            return -ENOMEM;
        c->known = nk;
        uint8_t *nc = mom_realloc(c->conf, cap);
        if (!nc)
            return -ENOMEM;
        c->conf = nc;
        c->cap = cap;
    }
    c->names[c->n] = name;
    c->known[c->n] = (uint8_t)known;
    c->conf[c->n] = (uint8_t)conf;
    c->n++;
    return 0;
}

static int add_list(catalog *c, const char *const *l, unsigned known, unsigned conf)
{
    for (; l && *l; l++) {
        int r = add(c, *l, known, conf);
        if (r < 0)
            return r;
    }
    return 0;
}

int catalog_init(catalog *c, const policy_catalog *pc)
{
    memset(c, 0, sizeof(*c));
    /* What the configuration gives, per category; a NULL list means
     * "the built-ins are what is configured". */
    unsigned builtin_conf = 0;
    if (!pc || !pc->host_fields)
        builtin_conf |= CB_HOST_FIELD;
    if (!pc || !pc->guest_fields)
        builtin_conf |= CB_GUEST_FIELD;
    if (!pc || !pc->host_controls)
        builtin_conf |= CB_HOST_CTL;
    if (!pc || !pc->guest_controls)
        builtin_conf |= CB_GUEST_CTL;
    registry *reg = NULL;
    int r = registry_new(&reg);
    for (size_t i = 0; r == 0 && i < registry_n_collectors(reg); i++) {
        const mom_collector *col = registry_collector_at(reg, i);
        unsigned bit = col->kind == MOM_ENTITY_HOST ? CB_HOST_FIELD : CB_GUEST_FIELD;
        r = add_list(c, col->mandatory, bit, bit & builtin_conf);
        if (r == 0)
            r = add_list(c, col->optional, bit, bit & builtin_conf);
    }
    for (size_t i = 0; r == 0 && i < registry_n_controllers(reg); i++) {
        const mom_controller *ctl = registry_controller_at(reg, i);
        r = add_list(c, ctl->host_controls, CB_HOST_CTL, CB_HOST_CTL & builtin_conf);
        if (r == 0)
            r = add_list(c, ctl->guest_controls, CB_GUEST_CTL, CB_GUEST_CTL & builtin_conf);
    }
    registry_free(reg);
    static const char *const host_props[] = { "interval", NULL };
    static const char *const guest_props[] = { "name", "uuid", "pid", NULL };
    if (r == 0)
        r = add_list(c, host_props, CB_HOST_PROP, CB_HOST_PROP);
    if (r == 0)
        r = add_list(c, guest_props, CB_GUEST_PROP, CB_GUEST_PROP);
    if (r == 0 && pc) {
        r = add_list(c, pc->host_fields, CB_HOST_FIELD, CB_HOST_FIELD);
        if (r == 0)
            r = add_list(c, pc->guest_fields, CB_GUEST_FIELD, CB_GUEST_FIELD);
        if (r == 0)
            r = add_list(c, pc->host_controls, CB_HOST_CTL, CB_HOST_CTL);
        if (r == 0)
            r = add_list(c, pc->guest_controls, CB_GUEST_CTL, CB_GUEST_CTL);
    }
    if (r < 0)
        catalog_done(c);
    return r;
}

void catalog_done(catalog *c)
{
    mom_free(c->names);
    mom_free(c->known);
    mom_free(c->conf);
    memset(c, 0, sizeof(*c));
}

unsigned catalog_lookup(const catalog *c, const char *name, unsigned *ret_conf)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->names[i], name) == 0) {
            if (ret_conf)
                *ret_conf = c->conf[i];
            return c->known[i];
        }
    if (ret_conf)
        *ret_conf = 0;
    return 0;
}

int catalog_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 100;
    int d[66][66];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

bool catalog_close(const char *name, const char *cand, int dist)
{
    size_t l = strlen(name);
    int limit = l <= 3 ? 1 : l <= 8 ? 2 : 3;
    (void)cand;
    return dist <= limit;
}

const char *catalog_suggest(const catalog *c, const char *name, unsigned mask)
{
    const char *best = NULL;
    int bd = 1000;
    for (size_t i = 0; i < c->n; i++) {
        if (!(c->known[i] & mask))
            continue;
        int d = catalog_distance(name, c->names[i]);
        if (d < bd) {
            bd = d;
            best = c->names[i];
        }
    }
    return best && catalog_close(name, best, bd) ? best : NULL;
}
