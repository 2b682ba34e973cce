/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulator's scenario files: JSON text (docs/simulator.md) turned
 * into a sim_model, plus the built-in default scenario.
 */
#ifndef MOM_HV_SIM_SCENARIO_H
#define MOM_HV_SIM_SCENARIO_H

#include <stdint.h>

#include "hv/sim_model.h"

/* The built-in scenario, used when [sim] scenario is empty. */
extern const char sim_scenario_default[];

/*
 * Parse `text` (named `source` in messages: a file name, or "built-in
 * scenario") into *ret, which must be zeroed.  Guest UUIDs and noise are
 * derived from `seed`.  On failure returns -EINVAL (or -ENOMEM), leaves
 * *ret empty, and sets *ret_error to a message naming the source and the
 * problem ("FILE:LINE:COLUMN: ..." for JSON syntax errors, "FILE:
 * guests[1].workload[0].type: ..." for content errors), to be freed with
 * mom_free().
 */
int sim_scenario_parse(const char *text, const char *source, uint64_t seed, sim_model *ret,
                       char **ret_error);

#endif
