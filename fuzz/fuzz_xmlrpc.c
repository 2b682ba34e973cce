/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the XML-RPC codec (src/rpc/xmlrpc.c): the input is
 * read both as a methodCall (what the server parses from any local client)
 * and as a methodResponse (what momctl parses from momd).  Whatever parses
 * is written back out and must parse again to an equal value, unless it
 * holds text that XML cannot carry (control characters, invalid UTF-8),
 * which the writer replaces.  The fuzzer looks for crashes, sanitizer
 * reports, leaks and broken round trips.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/value.h"
#include "rpc/xmlrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when the n bytes at s are text that XML carries unchanged: valid
 * UTF-8 without surrogates or U+FFFE/U+FFFF, and no control characters
 * other than tab and newline.  (Base64 can bring in any bytes.) */
static bool xml_text(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n')
                return false;
            i++;
            continue;
        }
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
        if (len == 0 || c >= 0xf8 || i + len > n)
            return false;
        uint32_t cp = c & (0x3f >> (len - 1));
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
            cp == 0xffff)
            return false;
        i += len;
    }
    return true;
}

/* True when v round-trips exactly: all its text is xml_text() and no real
 * is NaN (NaN never equals itself). */
static bool plain_text(const mom_value *v)
{
    switch (mom_value_type_of(v)) {
    case MOM_VALUE_STRING:
        return xml_text((const unsigned char *)mom_value_string(v), mom_value_len(v));
    case MOM_VALUE_LIST:
    case MOM_VALUE_MAP:
        for (size_t i = 0; i < mom_value_len(v); i++) {
            if (mom_value_type_of(v) == MOM_VALUE_MAP) {
                const char *k = mom_value_key_at(v, i);
                if (!xml_text((const unsigned char *)k, strlen(k)))
                    return false;
            }
            if (!plain_text(mom_value_at(v, i)))
                return false;
        }
        return true;
    case MOM_VALUE_REAL: return mom_value_real(v) == mom_value_real(v);
    default: return true;
    }
}

/* Format v as a response and read it back. */
static void round_trip(const mom_value *v)
{
    size_t len = 0;
    char *doc = xmlrpc_format_response(v, &len);
    if (!doc)
        return;
    xmlrpc_response r;
    int rc = xmlrpc_parse_response(doc, len, &r, NULL);
    if (rc != 0)
        abort(); /* the writer produced something the reader refuses */
    if (plain_text(v) && !value_equal(v, r.value))
        abort();
    xmlrpc_response_done(&r);
    mom_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xmlrpc_call c = {NULL, NULL};
    char *err = NULL;
    if (xmlrpc_parse_call((const char *)data, size, &c, &err) == 0) {
        round_trip(c.params);
        char *doc = xmlrpc_format_call(c.method, c.params, NULL);
        mom_free(doc);
        xmlrpc_call_done(&c);
    }
    mom_free(err);

    xmlrpc_response r;
    err = NULL;
    if (xmlrpc_parse_response((const char *)data, size, &r, &err) == 0) {
        if (r.fault) {
            char *doc = xmlrpc_format_fault(r.fault_code, r.fault_string, NULL);
            mom_free(doc);
        } else {
            round_trip(r.value);
        }
        xmlrpc_response_done(&r);
    }
    mom_free(err);
    return 0;
}
