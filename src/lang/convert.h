/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Classic-to-Fortran-like conversion (POLICY-LANGUAGE.md §12): the engine
 * behind `momctl policy convert` and mom_policy_convert().
 *
 * The converter works on the classic parse tree (parse_classic.h) and
 * prints Fortran-like text for the constructs both dialects share.  It
 * infers the types the Fortran-like dialect needs from the whole program
 * (the file and any context files of the same policy set), and where the
 * classic meaning cannot be kept exactly (eager `and`/`or` with side
 * effects, truth values of unknown type, a function that reads a caller's
 * local that it cannot pass on, ...) it refuses the construct: the output
 * then holds the classic text as a comment and the report names the line.
 */
#ifndef MOM_LANG_CONVERT_H
#define MOM_LANG_CONVERT_H

#include <stddef.h>

/*
 * Convert the classic text `src` (`len` bytes) of the policy file `path`.
 * `ctx_paths`/`ctx_srcs`/`ctx_lens` are n_ctx other classic files of the
 * same policy set: they are analysed (their globals, functions and call
 * sites inform the conversion) but not converted.  On success *ret_text
 * holds the Fortran-like text, *ret_report the report lines ("PATH:LINE:
 * cannot convert: REASON" and "PATH:LINE: note: ..."), each ending in a
 * newline (both mom_free()), and *ret_unconverted the number of constructs
 * that could not be converted.  Returns 0, -ENOMEM, or -EBADMSG when a file
 * does not parse (then *ret_report names the error, *ret_text is NULL).
 */
int convert_text(const char *path, const char *src, size_t len, const char *const *ctx_paths,
                 const char *const *ctx_srcs, const size_t *ctx_lens, size_t n_ctx,
                 char **ret_text, char **ret_report, size_t *ret_unconverted);

#endif
