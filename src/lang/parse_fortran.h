/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parser of the Fortran-like dialect (POLICY-LANGUAGE.md §4 - §8, §13):
 *
 *   file      := { declaration | statement | procedure }
 *   procedure := [prefix] (function | subroutine) name [(args)] [result(r)]
 *                { declaration } { statement } end [function|subroutine [name]]
 *
 * It builds the tree of lang/fortran.h with names still unresolved
 * (FX_NAME, FX_FCALL); lang/resolve_fortran.c does the rest.
 */
#ifndef MOM_LANG_PARSE_FORTRAN_H
#define MOM_LANG_PARSE_FORTRAN_H

#include <stddef.h>
#include <stdint.h>

#include "lang/ast.h"
#include "lang/fortran.h"

/* Deepest nesting of expressions and blocks a text may have. */
#define PARSEF_MAX_DEPTH 256

/* Parse `src` (which must outlive the tree) into *ret, allocated in `ar`.
 * Returns 0, -ENOMEM, or -EBADMSG with *err describing the first lexical
 * or syntax error. */
int parsef_text(arena *ar, uint16_t file, const char *src, size_t len, ffile **ret,
                lang_error *err);

#endif
