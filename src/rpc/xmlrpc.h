/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * XML-RPC codec: turns request and response documents into mom_values and
 * back.  Pure: no I/O, no state between calls, so any thread may use it and
 * the fuzzer can drive it directly.
 *
 * Value mapping (requests are read leniently, replies are written the way
 * Python's xmlrpc.client reads them):
 *
 *   <int> <i4> <i8> <ex:i8>   -> INT (64-bit)      INT   -> <int>, or <i8>
 *                                                          beyond 32 bits
 *   <boolean> 0|1             -> BOOL              BOOL  -> <boolean>
 *   <double>                  -> REAL              REAL  -> <double>
 *   <string>, bare text       -> STRING            STRING-> <string>
 *   <base64>                  -> STRING (decoded)
 *   <dateTime.iso8601>        -> STRING (as sent)
 *   <nil/> <ex:nil/>          -> NONE              NONE  -> <nil/>
 *   <array><data>...          -> LIST              LIST  -> <array>
 *   <struct><member>...       -> MAP               MAP   -> <struct>
 *
 * Parsing uses libxml2 without network access and without a DTD: a
 * document that declares one is refused, so no entity is ever expanded.
 * Nesting depth and document size are limited (below).
 */
#ifndef MOM_RPC_XMLRPC_H
#define MOM_RPC_XMLRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mom/mom.h"

/* Largest document the parsers accept, and deepest value nesting. */
#define XMLRPC_MAX_DOC (64u * 1024u * 1024u)
#define XMLRPC_MAX_DEPTH 64

/* A parsed <methodCall>. */
typedef struct xmlrpc_call {
    char *method;      /* mom_malloc'ed */
    mom_value *params; /* LIST, one item per <param> */
} xmlrpc_call;

/* A parsed <methodResponse>: a value or a fault. */
typedef struct xmlrpc_response {
    bool fault;
    mom_value *value;   /* the result (NULL for a fault) */
    int64_t fault_code; /* faults only */
    char *fault_string; /* faults only, mom_malloc'ed */
} xmlrpc_response;

/*
 * Parse the `len` bytes at `buf` as a methodCall.  On success fills *ret
 * (release with xmlrpc_call_done()).  On failure returns -EBADMSG (not
 * XML, not a methodCall, a bad value, too deep or too big) or -ENOMEM, and
 * stores a one-line reason in *ret_error when ret_error is not NULL
 * (mom_free()).
 */
int xmlrpc_parse_call(const char *buf, size_t len, xmlrpc_call *ret, char **ret_error);
void xmlrpc_call_done(xmlrpc_call *c);

/* Parse a methodResponse; same results as xmlrpc_parse_call().  Release
 * with xmlrpc_response_done(). */
int xmlrpc_parse_response(const char *buf, size_t len, xmlrpc_response *ret, char **ret_error);
void xmlrpc_response_done(xmlrpc_response *r);

/*
 * Serialisers.  Each returns a new NUL-terminated document (mom_free()) and
 * its length in *ret_len (may be NULL), or NULL when out of memory.
 * xmlrpc_format_call: `params` is a LIST of parameters, or NULL for none.
 * xmlrpc_format_response: `value` is the single result (NULL means nil).
 */
char *xmlrpc_format_call(const char *method, const mom_value *params, size_t *ret_len);
char *xmlrpc_format_response(const mom_value *value, size_t *ret_len);
char *xmlrpc_format_fault(int64_t code, const char *message, size_t *ret_len);

#endif
