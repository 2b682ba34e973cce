/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Placeholder policy store used until the policy languages land: it keeps
 * named texts but accepts only a set that is empty (no text, or text made
 * of white space only), and says so for anything else.
 */
#include "lang/policy.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "core/alloc.h"

typedef struct entry {
    char *name;
    char *text;
} entry;

struct policy_set {
    policy_opts opts;
    size_t n;
    entry *e;
};

int policy_set_new(const policy_opts *opts, policy_set **ret)
{
    policy_set *p = mom_calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    if (opts)
        p->opts = *opts;
    *ret = p;
    return 0;
}

void policy_set_free(policy_set *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        mom_free(p->e[i].name);
        mom_free(p->e[i].text);
    }
    mom_free(p->e);
    mom_free(p);
}

static bool blank(const char *t)
{
    for (; t && *t; t++)
        if (!isspace((unsigned char)*t))
            return false;
    return true;
}

static int refuse(const char *name, char **ret_error)
{
    if (ret_error)
        *ret_error = mom_asprintf("%s: error: no policy language is built into this "
                                  "version; only an empty policy set is accepted",
                                  name ? name : "policy");
    return MOM_E_POLICY;
}

int policy_set_set(policy_set *p, const char *name, const char *text, const char *file,
                   char **ret_error)
{
    if (!p || !name)
        return -EINVAL;
    if (text && !blank(text))
        return refuse(file ? file : name, ret_error);
    size_t i;
    for (i = 0; i < p->n; i++)
        if (strcmp(p->e[i].name, name) == 0)
            break;
    if (!text) {
        if (i < p->n) {
            mom_free(p->e[i].name);
            mom_free(p->e[i].text);
            memmove(&p->e[i], &p->e[i + 1], (p->n - i - 1) * sizeof(entry));
            p->n--;
        }
        return 0;
    }
    char *t = mom_strdup(text);
    if (!t)
        return -ENOMEM;
    if (i < p->n) {
        mom_free(p->e[i].text);
        p->e[i].text = t;
        return 0;
    }
    entry *ne = mom_realloc(p->e, (p->n + 1) * sizeof(entry));
    char *n = mom_strdup(name);
    if (!ne || !n) {
        if (ne)
            p->e = ne;
        mom_free(t);
        mom_free(n);
        return -ENOMEM;
    }
    p->e = ne;
    /* keep name order */
    size_t at = 0;
    while (at < p->n && strcmp(p->e[at].name, name) < 0)
        at++;
    memmove(&p->e[at + 1], &p->e[at], (p->n - at) * sizeof(entry));
    p->e[at].name = n;
    p->e[at].text = t;
    p->n++;
    return 0;
}

int policy_set_replace(policy_set *p, const char *const *names, const char *const *texts,
                       const char *const *files, size_t n, char **ret_error)
{
    for (size_t i = 0; i < n; i++)
        if (texts[i] && !blank(texts[i]))
            return refuse(files && files[i] ? files[i] : names[i], ret_error);
    while (p->n)
        policy_set_set(p, p->e[0].name, NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        int r = policy_set_set(p, names[i], texts[i], NULL, ret_error);
        if (r < 0)
            return r;
    }
    return 0;
}

char *policy_set_text(const policy_set *p)
{
    if (!p->n)
        return mom_strdup("0");
    size_t len = 0;
    for (size_t i = 0; i < p->n; i++)
        len += strlen(p->e[i].text) + 1;
    char *s = mom_malloc(len + 1), *w = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < p->n; i++) {
        if (i)
            *w++ = '\n';
        size_t l = strlen(p->e[i].text);
        memcpy(w, p->e[i].text, l);
        w += l;
    }
    *w = '\0';
    return s;
}

mom_value *policy_set_named(const policy_set *p)
{
    mom_value *m = value_new_map();
    for (size_t i = 0; m && i < p->n; i++)
        if (value_map_set(m, p->e[i].name, value_new_string(p->e[i].text)) < 0) {
            mom_value_unref(m);
            return NULL;
        }
    return m;
}

size_t policy_set_count(const policy_set *p)
{
    return p->n;
}

int policy_set_eval(policy_set *p, const snapshot *snap, controls **ret_controls,
                    mom_value **ret_results, char **ret_error)
{
    (void)p;
    (void)ret_error;
    controls *c = controls_new(snap->n_guests);
    if (!c)
        return -ENOMEM;
    if (ret_results)
        *ret_results = value_new_list();
    *ret_controls = c;
    return 0;
}

int policy_check_files(const policy_opts *opts, const char *const *paths, size_t n,
                       policy_report_fn report, void *userdata)
{
    (void)opts;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *line = mom_asprintf("%s: error: no policy language is built into this version",
                                  paths[i]);
        if (report && line)
            report(line, 1, userdata);
        mom_free(line);
        rc = MOM_E_POLICY;
    }
    return rc;
}

char *policy_name_from_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 4 && strcmp(base + len - 4, ".mom") == 0)
        len -= 4;
    else if (len > 7 && strcmp(base + len - 7, ".policy") == 0)
        len -= 7;
    return mom_strndup(base, len);
}
