/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Plot files in the original MOM's format (REFERENCE §8): with `plot-dir`
 * set, a new numbered subdirectory momplot-NNN per run, one file per
 * monitor (HostMonitor.dat, <guest name>.dat) with a header line at every
 * collection attempt and a data row after every complete sample.
 * Engine thread only.
 */
#ifndef MOM_CORE_PLOT_H
#define MOM_CORE_PLOT_H

#include <stdio.h>

#include "core/log.h"
#include "core/sample.h"

typedef struct plotfile plotfile;

/* Create BASE/momplot-NNN (NNN one above the highest existing, from 000).
 * Returns the new directory (free with mom_free) or NULL with a warning
 * logged when plotting cannot start (unreadable base, NNN above 999). */
char *plot_dir_create(const char *base, const mlog *log);

/* Open DIR/NAME.dat for appending (NULL on failure, logged once). */
plotfile *plot_open(const char *dir, const char *name, const fieldtab *fields, const mlog *log);
void plot_close(plotfile *p);
/* One collection attempt: the header line, then the row of `s` when the
 * collection was complete (s != NULL). */
void plot_write(plotfile *p, const sample *s);

#endif
