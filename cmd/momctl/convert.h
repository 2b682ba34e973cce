/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* momctl policy convert: classic policy to Fortran-like text (convert.c). */
#ifndef MOMCTL_CONVERT_H
#define MOMCTL_CONVERT_H

/* `momctl policy convert [--context FILE]... [-o OUT] FILE.policy`; argv[0]
 * is "convert".  Returns the exit status: 0 converted fully, 1 converted
 * with constructs it could not convert (or a file could not be read or
 * parsed), 2 wrong usage. */
int momctl_policy_convert(int argc, char **argv);

#endif
