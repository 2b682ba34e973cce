/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulated host (hypervisor-interface: sim).  See docs/simulator.md.
 */
#ifndef MOM_HV_SIM_H
#define MOM_HV_SIM_H

#include "core/config.h"
#include "core/hv.h"
#include "core/log.h"

/* Build the simulator from [sim] scenario/seed/speed.  Fills `ret` with the
 * ops table, userdata, destroy, refresh and the private proc/sys roots. */
int sim_create(const conf *c, const mlog *log, hv *ret);

/* Same, from a scenario given as JSON text (tests, benchmarks); seed and
 * speed as in [sim]; root_dir NULL = a new temporary directory. */
int sim_create_from_text(const char *json, uint64_t seed, double speed, const char *root_dir,
                         const mlog *log, hv *ret);

#endif
