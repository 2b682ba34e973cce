/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/hv.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

const char *const hv_limit_names[6] = {
    "total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
    "total_iops_sec",  "read_iops_sec",  "write_iops_sec",
};

static int64_t *limit_slot(mom_hv_io_limits *l, int i)
{
    switch (i) {
    case 0: return &l->total_bytes_sec;
    case 1: return &l->read_bytes_sec;
    case 2: return &l->write_bytes_sec;
    case 3: return &l->total_iops_sec;
    case 4: return &l->read_iops_sec;
    default: return &l->write_iops_sec;
    }
}

mom_value *hv_limits_to_value(const mom_hv_io_limits *l)
{
    mom_value *m = value_new_map();
    for (int i = 0; m && i < 6; i++) {
        mom_value *v = (l && (l->present & (1u << i)))
                           ? value_new_int(*limit_slot((mom_hv_io_limits *)l, i))
                           : value_new_none();
        if (value_map_set(m, hv_limit_names[i], v) < 0) {
            mom_value_unref(m);
            return NULL;
        }
    }
    return m;
}

void hv_limits_from_value(const mom_value *map, mom_hv_io_limits *ret)
{
    memset(ret, 0, sizeof(*ret));
    for (int i = 0; i < 6; i++) {
        const mom_value *v = value_map_get(map, hv_limit_names[i]);
        int64_t n;
        if (v && v->type != MOM_VALUE_NONE && value_to_int(v, &n) == 0) {
            *limit_slot(ret, i) = n;
            ret->present |= 1u << i;
        }
    }
}

void hv_list_init(mom_hv_list *l)
{
    memset(l, 0, sizeof(*l));
}

void hv_list_done(mom_hv_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        mom_free(l->ids[i]);
    mom_free(l->ids);
    memset(l, 0, sizeof(*l));
}

MOM_API int mom_hv_list_add(mom_hv_list *list, const char *id)
{
    if (!list || !id)
        return -EINVAL;
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        char **ids = mom_realloc(list->ids, cap * sizeof(*ids));
        if (!ids)
            return -ENOMEM;
        list->ids = ids;
        list->cap = cap;
    }
    if (!(list->ids[list->n] = mom_strdup(id)))
        return -ENOMEM;
    list->n++;
    return 0;
}

static mom_value *disk_entry(const char *name, const char *path)
{
    mom_value *m = value_new_map();
    if (!m)
        return NULL;
    if (value_map_set(m, "name", name ? value_new_string(name) : value_new_none()) < 0 ||
        value_map_set(m, "path", path ? value_new_string(path) : value_new_none()) < 0) {
        mom_value_unref(m);
        return NULL;
    }
    return m;
}

static int disk_list_append(mom_hv_disk_list *list, mom_value *m)
{
    if (!list->list && !(list->list = value_new_list())) {
        mom_value_unref(m);
        return -ENOMEM;
    }
    return value_list_append(list->list, m);
}

MOM_API int mom_hv_disk_list_add_policy(mom_hv_disk_list *list, const char *name,
                                        const char *path, const mom_hv_io_limits *guaranteed,
                                        const mom_hv_io_limits *maximum)
{
    if (!list)
        return -EINVAL;
    mom_value *m = disk_entry(name, path);
    if (!m || value_map_set(m, "guaranteed", hv_limits_to_value(guaranteed)) < 0 ||
        value_map_set(m, "maximum", hv_limits_to_value(maximum)) < 0) {
        mom_value_unref(m);
        return -ENOMEM;
    }
    return disk_list_append(list, m);
}

MOM_API int mom_hv_disk_list_add_tune(mom_hv_disk_list *list, const char *name, const char *path,
                                      const mom_hv_io_limits *current)
{
    if (!list)
        return -EINVAL;
    mom_value *m = disk_entry(name, path);
    if (!m || value_map_set(m, "ioTune", hv_limits_to_value(current)) < 0) {
        mom_value_unref(m);
        return -ENOMEM;
    }
    return disk_list_append(list, m);
}

void hv_init_embedded(hv *h, const mom_hv_ops *ops, void *userdata)
{
    memset(h, 0, sizeof(*h));
    h->name = "embedded";
    h->ops = ops;
    h->userdata = userdata;
}

void hv_destroy(hv *h)
{
    if (h && h->destroy)
        h->destroy(h->userdata);
    if (h)
        memset(h, 0, sizeof(*h));
}

bool hv_has(const hv *h, const char *op)
{
    if (!h || !h->ops)
        return false;
    static const struct {
        const char *name;
        size_t off;
    } ops[] = {
        {"get_vm_list", offsetof(mom_hv_ops, get_vm_list)},
        {"get_vm_info", offsetof(mom_hv_ops, get_vm_info)},
        {"start_vm_memory_stats", offsetof(mom_hv_ops, start_vm_memory_stats)},
        {"get_vm_memory_stats", offsetof(mom_hv_ops, get_vm_memory_stats)},
        {"get_vm_balloon_info", offsetof(mom_hv_ops, get_vm_balloon_info)},
        {"set_vm_balloon_target", offsetof(mom_hv_ops, set_vm_balloon_target)},
        {"get_vm_cpu_tune_info", offsetof(mom_hv_ops, get_vm_cpu_tune_info)},
        {"set_vm_cpu_tune", offsetof(mom_hv_ops, set_vm_cpu_tune)},
        {"get_vm_io_tune_policy", offsetof(mom_hv_ops, get_vm_io_tune_policy)},
        {"get_vm_io_tune", offsetof(mom_hv_ops, get_vm_io_tune)},
        {"set_vm_io_tune", offsetof(mom_hv_ops, set_vm_io_tune)},
        {"ksm_tune", offsetof(mom_hv_ops, ksm_tune)},
        {"qemu_agent_command", offsetof(mom_hv_ops, qemu_agent_command)},
        {"free_reply", offsetof(mom_hv_ops, free_reply)},
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(ops[i].name, op) == 0) {
            /* a caller's table may be older (smaller) than ours */
            if (h->ops->size && ops[i].off + sizeof(void *) > h->ops->size)
                return false;
            return *(void *const *)((const char *)h->ops + ops[i].off) != NULL;
        }
    }
    return false;
}
