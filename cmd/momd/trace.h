/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momd --trace: one line per guest per policy cycle on standard output,
 * built from the cycle report the engine hands to mom_config.cycle_fn.
 */
#ifndef MOMD_TRACE_H
#define MOMD_TRACE_H

#include <stdio.h>

#include "mom/mom.h"

/* Print the column header (and a line naming the units) to `out`. */
void trace_header(FILE *out);

/* The cycle_fn: print the lines for one cycle report to the FILE given as
 * userdata and flush it.  Runs on the engine thread. */
void trace_cycle(const mom_value *report, void *userdata);

#endif
