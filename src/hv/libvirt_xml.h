/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the libvirt backend reads from a domain's XML (with libxml2) and
 * from a bulk statistics record.  Pure functions, tested on their own.
 */
#ifndef MOM_HV_LIBVIRT_XML_H
#define MOM_HV_LIBVIRT_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mom/hypervisor.h"

/* The namespace of vdsm's tune metadata (vcpuLimit, ioTune). */
#define LIBVIRT_XML_TUNE_NS "http://ovirt.org/vm/tune/1.0"

typedef struct libvirt_xml_disk {
    char *name; /* target dev ("vda"), may be NULL */
    char *path; /* source file, dev, volume or name; may be NULL */
    mom_hv_io_limits guaranteed, maximum; /* policy entries only */
} libvirt_xml_disk;

typedef struct libvirt_xml_domain {
    bool has_balloon;        /* a <memballoon> whose model is not "none" */
    int64_t balloon_min;     /* KiB, from <memtune><min_guarantee>, else 0 */
    int64_t vcpu_user_limit; /* percent, from the tune metadata, else 100 */
    libvirt_xml_disk *disks; /* <disk device='disk'> entries, in XML order */
    size_t n_disks;
    libvirt_xml_disk *policy; /* the tune metadata's ioTune devices */
    size_t n_policy;
} libvirt_xml_domain;

/* Parse a domain's XML (virDomainGetXMLDesc).  Returns 0, -EINVAL when it
 * is not a domain document, or -ENOMEM.  `ret` is filled only on
 * success; release it with libvirt_xml_domain_done. */
int libvirt_xml_parse_domain(const char *xml, libvirt_xml_domain *ret);
void libvirt_xml_domain_done(libvirt_xml_domain *d);

/* One record of virConnectGetAllDomainStats(VIR_DOMAIN_STATS_BALLOON):
 * memory statistics with their present bits, and the balloon's current
 * and maximum size (KiB). */
typedef struct libvirt_xml_bulk {
    mom_hv_memory_stats mem;
    bool has_cur, has_max;
    int64_t cur, max;
} libvirt_xml_bulk;

/* Map the typed parameters of one bulk record ("balloon.current", ...).
 * `params` is a virTypedParameterPtr. */
void libvirt_xml_parse_bulk(const void *params, int n_params, libvirt_xml_bulk *ret);

/* Map virDomainMemoryStats tags to the contract's fields (REFERENCE §6.2:
 * AVAILABLE is the guest's total, USABLE its MemAvailable).  `stats` is a
 * virDomainMemoryStatPtr.  Returns true when any guest-reported figure is
 * present (ACTUAL_BALLOON and RSS come from the host, not the guest). */
bool libvirt_xml_map_memstats(const void *stats, int n, mom_hv_memory_stats *ret);

#endif
