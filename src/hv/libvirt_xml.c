/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading a libvirt domain's XML with libxml2, and mapping libvirt's
 * memory statistics (per-domain tags and bulk typed parameters) to the
 * hypervisor contract's fields (REFERENCE §6.2, PEERS §4.1).
 *
 * From the XML the backend keeps only what changes slowly: whether the
 * domain has a balloon device, the guaranteed minimum, the disks, and the
 * oVirt tune metadata (vcpuLimit and the ioTune policy, the format vdsm
 * writes):
 *
 *   <metadata>
 *     <ovirt-tune:qos xmlns:ovirt-tune="http://ovirt.org/vm/tune/1.0">
 *       <ovirt-tune:vcpuLimit>50</ovirt-tune:vcpuLimit>
 *       <ovirt-tune:ioTune>
 *         <ovirt-tune:device name="vda" path="/img/a.qcow2">
 *           <ovirt-tune:guaranteed><ovirt-tune:total_bytes_sec>..</...>
 *           <ovirt-tune:maximum>...</ovirt-tune:maximum>
 *
 * Elements of the metadata are matched by local name inside the subtree
 * whose namespace is the tune namespace, whatever prefix it uses.
 */
#include "hv/libvirt_xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libvirt/libvirt.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "core/alloc.h"
#include "core/hv.h"

/* ---- small libxml2 helpers --------------------------------------------- */

static bool is_elem(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The first element child of `parent` named `name`, or NULL. */
static xmlNode *child(const xmlNode *parent, const char *name)
{
    for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
        if (is_elem(n, name))
            return n;
    return NULL;
}

/* An attribute's value as a mom_strdup'd string (NULL when absent or on
 * allocation failure: *ret_oom tells the two apart). */
static char *attr_dup(xmlNode *n, const char *name, bool *ret_oom)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *s = mom_strdup((const char *)v);
    xmlFree(v);
    if (!s)
        *ret_oom = true;
    return s;
}

/* Parse the text content of `n` as a non-negative decimal integer
 * (surrounding blanks allowed).  false when absent or malformed. */
static bool text_int(xmlNode *n, int64_t *ret)
{
    xmlChar *t = n ? xmlNodeGetContent(n) : NULL;
    if (!t)
        return false;
    const char *p = (const char *)t;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    bool ok = end != p && errno == 0 && v >= 0;
    while (ok && end && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    ok = ok && end && *end == '\0';
    xmlFree(t);
    if (ok)
        *ret = v;
    return ok;
}

/* libvirt's memory units (docs: formatdomain "Memory Allocation"), as a
 * factor to bytes; NULL means KiB.  0 for an unknown unit. */
static uint64_t unit_bytes(const char *unit)
{
    static const struct {
        const char *name;
        uint64_t bytes;
    } units[] = {
        {"b", 1},
        {"bytes", 1},
        {"KB", 1000},
        {"k", 1024},
        {"KiB", 1024},
        {"MB", 1000000},
        {"M", 1048576},
        {"MiB", 1048576},
        {"GB", 1000000000},
        {"G", 1073741824},
        {"GiB", 1073741824},
        {"TB", 1000000000000},
        {"T", 1099511627776},
        {"TiB", 1099511627776},
    };
    if (!unit)
        return 1024;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(unit, units[i].name) == 0)
            return units[i].bytes;
    /* libvirt accepts the single letters in either case */
    if (strlen(unit) == 1)
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strcasecmp(unit, units[i].name) == 0)
                return units[i].bytes;
    return 0;
}

/* A memory size element (<min_guarantee unit='MiB'>256</...>) in KiB,
 * rounded down; false when absent, malformed or of an unknown unit. */
static bool mem_kib(xmlNode *n, int64_t *ret)
{
    int64_t v;
    if (!n || !text_int(n, &v))
        return false;
    xmlChar *u = xmlGetProp(n, (const xmlChar *)"unit");
    uint64_t f = unit_bytes((const char *)u);
    xmlFree(u);
    if (f == 0)
        return false;
    unsigned __int128 bytes = (unsigned __int128)(uint64_t)v * f;
    unsigned __int128 kib = bytes / 1024;
    if (kib > INT64_MAX)
        return false;
    *ret = (int64_t)kib;
    return true;
}

/* ---- the tune metadata --------------------------------------------------- */

static bool in_tune_ns(const xmlNode *n)
{
    return n && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, LIBVIRT_XML_TUNE_NS) == 0;
}

/* The first element named `name` in the subtree below `n` (depth first). */
static xmlNode *find_desc(xmlNode *n, const char *name)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)c->name, name) == 0)
            return c;
        xmlNode *d = find_desc(c, name);
        if (d)
            return d;
    }
    return NULL;
}

/* The six limits below a <guaranteed> or <maximum> element. */
static void read_limits(xmlNode *n, mom_hv_io_limits *ret)
{
    memset(ret, 0, sizeof(*ret));
    int64_t *slots[6] = {&ret->total_bytes_sec, &ret->read_bytes_sec, &ret->write_bytes_sec,
                         &ret->total_iops_sec,  &ret->read_iops_sec,  &ret->write_iops_sec};
    for (int i = 0; n && i < 6; i++) {
        int64_t v;
        if (text_int(child(n, hv_limit_names[i]), &v)) {
            *slots[i] = v;
            ret->present |= 1u << i;
        }
    }
}

static int push_disk(libvirt_xml_disk **arr, size_t *n, size_t *cap, const libvirt_xml_disk *d)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        libvirt_xml_disk *a = mom_realloc(*arr, nc * sizeof(*a));
        if (!a)
            return -ENOMEM;
        *arr = a;
        *cap = nc;
    }
    (*arr)[(*n)++] = *d;
    return 0;
}

/* Give back an array's unused capacity (best effort). */
static void shrink(libvirt_xml_disk **arr, size_t n)
{
    if (!*arr)
        return;
    if (n == 0) {
        mom_free(*arr);
        *arr = NULL;
        return;
    }
    libvirt_xml_disk *a = mom_realloc(*arr, n * sizeof(**arr));
    if (a)
        *arr = a;
}

/* vcpuLimit and the ioTune devices of the tune metadata element `qos`. */
static int read_tune(xmlNode *qos, libvirt_xml_domain *d)
{
    int64_t v;
    if (text_int(find_desc(qos, "vcpuLimit"), &v))
        d->vcpu_user_limit = v;
    xmlNode *io = find_desc(qos, "ioTune");
    size_t cap = 0;
    for (xmlNode *dev = io ? io->children : NULL; dev; dev = dev->next) {
        if (!is_elem(dev, "device"))
            continue;
        libvirt_xml_disk disk;
        memset(&disk, 0, sizeof(disk));
        bool oom = false;
        disk.name = attr_dup(dev, "name", &oom);
        disk.path = attr_dup(dev, "path", &oom);
        read_limits(child(dev, "guaranteed"), &disk.guaranteed);
        read_limits(child(dev, "maximum"), &disk.maximum);
        if (oom || push_disk(&d->policy, &d->n_policy, &cap, &disk) < 0) {
            mom_free(disk.name);
            mom_free(disk.path);
            return -ENOMEM;
        }
    }
    return 0;
}

/* ---- the domain ---------------------------------------------------------- */

/* One <disk>: target dev and the source's path (file, dev, volume or
 * network name, whichever the disk type uses). */
static int read_disk(xmlNode *n, libvirt_xml_domain *d, size_t *cap)
{
    xmlChar *device = xmlGetProp(n, (const xmlChar *)"device");
    bool is_disk = !device || strcmp((const char *)device, "disk") == 0;
    xmlFree(device);
    if (!is_disk)
        return 0; /* cdrom, floppy, lun: no I/O tune */
    libvirt_xml_disk disk;
    memset(&disk, 0, sizeof(disk));
    bool oom = false;
    xmlNode *t = child(n, "target");
    if (t)
        disk.name = attr_dup(t, "dev", &oom);
    xmlNode *s = child(n, "source");
    static const char *const src_attrs[] = {"file", "dev", "volume", "name", NULL};
    for (size_t i = 0; s && !disk.path && !oom && src_attrs[i]; i++)
        disk.path = attr_dup(s, src_attrs[i], &oom);
    if (oom || (!disk.name && !disk.path) || push_disk(&d->disks, &d->n_disks, cap, &disk) < 0) {
        mom_free(disk.name);
        mom_free(disk.path);
        return oom ? -ENOMEM : 0;
    }
    return 0;
}

int libvirt_xml_parse_domain(const char *xml, libvirt_xml_domain *ret)
{
    if (!xml)
        return -EINVAL;
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return -EINVAL;
    int rc = 0;
    libvirt_xml_domain d;
    memset(&d, 0, sizeof(d));
    d.vcpu_user_limit = 100;
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!is_elem(root, "domain")) {
        rc = -EINVAL;
        goto out;
    }
    int64_t v;
    if (mem_kib(child(child(root, "memtune"), "min_guarantee"), &v))
        d.balloon_min = v;
    xmlNode *devices = child(root, "devices");
    size_t cap = 0;
    for (xmlNode *n = devices ? devices->children : NULL; n; n = n->next) {
        if (is_elem(n, "memballoon")) {
            xmlChar *model = xmlGetProp(n, (const xmlChar *)"model");
            d.has_balloon = !model || strcmp((const char *)model, "none") != 0;
            xmlFree(model);
        } else if (is_elem(n, "disk") && (rc = read_disk(n, &d, &cap)) < 0) {
            goto out;
        }
    }
    xmlNode *meta = child(root, "metadata");
    for (xmlNode *n = meta ? meta->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && in_tune_ns(n)) {
            rc = read_tune(n, &d);
            break;
        }
out:
    xmlFreeDoc(doc);
    if (rc < 0) {
        libvirt_xml_domain_done(&d);
        return rc;
    }
    /* Kept for minutes per guest: no spare capacity. */
    shrink(&d.disks, d.n_disks);
    shrink(&d.policy, d.n_policy);
    *ret = d;
    return 0;
}

static void free_disks(libvirt_xml_disk *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mom_free(a[i].name);
        mom_free(a[i].path);
    }
    mom_free(a);
}

void libvirt_xml_domain_done(libvirt_xml_domain *d)
{
    if (!d)
        return;
    free_disks(d->disks, d->n_disks);
    free_disks(d->policy, d->n_policy);
    memset(d, 0, sizeof(*d));
}

/* ---- statistics ---------------------------------------------------------- */

/* Store v into *slot and set its present bit, unless it does not fit an
 * int64. */
static void put(mom_hv_memory_stats *m, uint32_t bit, int64_t *slot, unsigned long long v)
{
    if (v > INT64_MAX)
        return;
    *slot = (int64_t)v;
    m->present |= bit;
}

/* Derived: mem_free = MemFree + disk caches, when both are known. */
static void derive_free(mom_hv_memory_stats *m, bool has_caches, unsigned long long caches)
{
    if ((m->present & MOM_HV_MEM_UNUSED) && has_caches && caches <= (unsigned long long)INT64_MAX &&
        (unsigned long long)m->mem_unused + caches <= (unsigned long long)INT64_MAX) {
        m->mem_free = m->mem_unused + (int64_t)caches;
        m->present |= MOM_HV_MEM_FREE;
    }
}

bool libvirt_xml_map_memstats(const void *stats, int n, mom_hv_memory_stats *ret)
{
    const virDomainMemoryStatStruct *st = stats;
    bool has_caches = false;
    unsigned long long caches = 0;
    ret->present = 0;
    for (int i = 0; i < n; i++) {
        unsigned long long v = st[i].val;
        switch (st[i].tag) {
        case VIR_DOMAIN_MEMORY_STAT_SWAP_IN: put(ret, MOM_HV_SWAP_IN, &ret->swap_in, v); break;
        case VIR_DOMAIN_MEMORY_STAT_SWAP_OUT: put(ret, MOM_HV_SWAP_OUT, &ret->swap_out, v); break;
        case VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT:
            put(ret, MOM_HV_MAJOR_FAULT, &ret->major_fault, v);
            break;
        case VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT:
            put(ret, MOM_HV_MINOR_FAULT, &ret->minor_fault, v);
            break;
        case VIR_DOMAIN_MEMORY_STAT_UNUSED: put(ret, MOM_HV_MEM_UNUSED, &ret->mem_unused, v); break;
        case VIR_DOMAIN_MEMORY_STAT_AVAILABLE:
            put(ret, MOM_HV_MEM_AVAILABLE, &ret->mem_available, v);
            break;
        case VIR_DOMAIN_MEMORY_STAT_USABLE:
            put(ret, MOM_HV_MEM_USABLE, &ret->mem_usable, v);
            break;
        case VIR_DOMAIN_MEMORY_STAT_DISK_CACHES:
            has_caches = true;
            caches = v;
            break;
        default: /* ACTUAL_BALLOON, RSS, LAST_UPDATE, HUGETLB_*: not guest memory */
            break;
        }
    }
    derive_free(ret, has_caches, caches);
    return ret->present != 0;
}

void libvirt_xml_parse_bulk(const void *params, int n_params, libvirt_xml_bulk *ret)
{
    const virTypedParameter *p = params;
    memset(ret, 0, sizeof(*ret));
    ret->mem.size = sizeof(ret->mem);
    static const struct {
        const char *name;
        uint32_t bit;
        size_t off;
    } map[] = {
        {"balloon.swap_in", MOM_HV_SWAP_IN, offsetof(mom_hv_memory_stats, swap_in)},
        {"balloon.swap_out", MOM_HV_SWAP_OUT, offsetof(mom_hv_memory_stats, swap_out)},
        {"balloon.major_fault", MOM_HV_MAJOR_FAULT, offsetof(mom_hv_memory_stats, major_fault)},
        {"balloon.minor_fault", MOM_HV_MINOR_FAULT, offsetof(mom_hv_memory_stats, minor_fault)},
        {"balloon.unused", MOM_HV_MEM_UNUSED, offsetof(mom_hv_memory_stats, mem_unused)},
        {"balloon.available", MOM_HV_MEM_AVAILABLE, offsetof(mom_hv_memory_stats, mem_available)},
        {"balloon.usable", MOM_HV_MEM_USABLE, offsetof(mom_hv_memory_stats, mem_usable)},
    };
    bool has_caches = false;
    unsigned long long caches = 0;
    for (int i = 0; p && i < n_params; i++) {
        unsigned long long v;
        switch (p[i].type) {
        case VIR_TYPED_PARAM_ULLONG: v = p[i].value.ul; break;
        case VIR_TYPED_PARAM_LLONG:
            if (p[i].value.l < 0)
                continue;
            v = (unsigned long long)p[i].value.l;
            break;
        case VIR_TYPED_PARAM_UINT: v = p[i].value.ui; break;
        case VIR_TYPED_PARAM_INT:
            if (p[i].value.i < 0)
                continue;
            v = (unsigned long long)p[i].value.i;
            break;
        default: continue;
        }
        const char *f = p[i].field;
        if (strcmp(f, "balloon.current") == 0 && v <= INT64_MAX) {
            ret->cur = (int64_t)v;
            ret->has_cur = true;
        } else if (strcmp(f, "balloon.maximum") == 0 && v <= INT64_MAX) {
            ret->max = (int64_t)v;
            ret->has_max = true;
        } else if (strcmp(f, "balloon.disk_caches") == 0) {
            has_caches = true;
            caches = v;
        } else {
            for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++)
                if (strcmp(f, map[k].name) == 0) {
                    put(&ret->mem, map[k].bit, (int64_t *)((char *)&ret->mem + map[k].off), v);
                    break;
                }
        }
    }
    derive_free(&ret->mem, has_caches, caches);
}
