/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading whole files (configuration, policies, scenarios, snapshots). */
#ifndef MOM_CORE_FILEIO_H
#define MOM_CORE_FILEIO_H

#include <stddef.h>

/* Read the whole file at `path` into a new NUL-terminated buffer (free with
 * mom_free); *ret_len gets its length without the NUL (may be NULL).
 * Returns 0 or a negative errno (-ENOMEM included). */
int file_read_all(const char *path, char **ret, size_t *ret_len);

#endif
