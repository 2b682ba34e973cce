/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parser of the classic dialect (POLICY-CLASSIC §2):
 *
 *   program := value*
 *   value   := number | string | symbol | operator
 *            | "(" value* ")" | "[" value* "]" | "{" value* "}"
 *
 * `{ a b }` becomes the list `(eval a b)`.  Nothing but the brackets is
 * checked here; every other error is found when the program runs.
 */
#ifndef MOM_LANG_PARSE_CLASSIC_H
#define MOM_LANG_PARSE_CLASSIC_H

#include <stddef.h>
#include <stdint.h>

#include "lang/ast.h"

/* Deepest bracket nesting a text may have. */
#define PARSEC_MAX_DEPTH 256

/* Parse `src` into top-level nodes allocated in `ar` (tokens keep
 * pointing into `src`, which must outlive the nodes).  Returns 0, -ENOMEM,
 * or -EBADMSG with *err describing the lexical or parse error. */
int parsec_text(arena *ar, uint16_t file, const char *src, size_t len, node ***ret_top,
                size_t *ret_n, lang_error *err);

#endif
