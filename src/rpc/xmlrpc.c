/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * XML-RPC codec (see xmlrpc.h).  Reading goes through libxml2's tree
 * parser with network access off and no DTD; writing is a plain string
 * builder that produces what Python's xmlrpc.client produces, plus <i8>
 * for large integers and <nil/> for NONE.
 */
#include "rpc/xmlrpc.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "core/alloc.h"
#include "core/sbuf.h"
#include "core/value.h"

/* ---- errors -------------------------------------------------------------- */

/* Store the first reason of a failure in *err (when err is not NULL) and
 * return -EBADMSG. */
static int bad(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(char **err, const char *fmt, ...)
{
    if (err && !*err) {
        char buf[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        *err = mom_strdup(buf);
    }
    return -EBADMSG;
}

/* ---- tree helpers -------------------------------------------------------- */

/* The element name without a namespace prefix: <ex:nil/> is "nil" whether
 * or not the document declared the prefix. */
static const char *local_name(const xmlNode *n)
{
    const char *name = (const char *)n->name;
    const char *colon = strrchr(name, ':');
    return colon ? colon + 1 : name;
}

static bool is_text(const xmlNode *n)
{
    return n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE;
}

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

/*
 * Walk the children of `parent` that are elements, starting after `prev`
 * (NULL: from the first child).  Blank text, comments and processing
 * instructions are skipped; any other text is an error.  *ret is NULL at
 * the end.
 */
static int next_element(const xmlNode *parent, const xmlNode *prev, const xmlNode **ret, char **err)
{
    const xmlNode *c = prev ? prev->next : parent->children;
    for (; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            *ret = c;
            return 0;
        }
        if (is_text(c)) {
            if (!is_blank((const char *)c->content))
                return bad(err, "unexpected text inside <%s>", local_name(parent));
        } else if (c->type != XML_COMMENT_NODE && c->type != XML_PI_NODE) {
            return bad(err, "unexpected node inside <%s>", local_name(parent));
        }
    }
    *ret = NULL;
    return 0;
}

/* The text of an element that must hold text only, as a new string
 * (mom_free()); *ret_len is its length. */
static int text_of(const xmlNode *n, char **ret, size_t *ret_len, char **err)
{
    size_t len = 0;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (is_text(c))
            len += strlen((const char *)c->content);
        else if (c->type != XML_COMMENT_NODE && c->type != XML_PI_NODE)
            return bad(err, "<%s> must hold text only", local_name(n));
    }
    char *s = mom_malloc(len + 1);
    if (!s)
        return -ENOMEM;
    size_t at = 0;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (!is_text(c))
            continue;
        size_t l = strlen((const char *)c->content);
        memcpy(s + at, c->content, l);
        at += l;
    }
    s[at] = '\0';
    *ret = s;
    if (ret_len)
        *ret_len = at;
    return 0;
}

/* Trim ASCII white space at both ends, in place; returns the start. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* ---- scalar conversions -------------------------------------------------- */

/* Decimal integer with an optional sign, as Python's int() reads it
 * (surrounding white space allowed, no other bases). */
static int parse_int(char *text, int64_t *ret, char **err)
{
    char *s = trim(text);
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!*p)
        return bad(err, "empty integer");
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return bad(err, "invalid integer '%.40s'", s);
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return bad(err, "integer '%.40s' does not fit in 64 bits", s);
    *ret = v;
    return 0;
}

static int parse_bool(char *text, bool *ret, char **err)
{
    char *s = trim(text);
    if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)
        *ret = true;
    else if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0)
        *ret = false;
    else
        return bad(err, "bad boolean value '%.40s'", s);
    return 0;
}

/* A double as Python's float() reads it: decimal notation, inf, nan. */
static int parse_double(char *text, double *ret, char **err)
{
    char *s = trim(text);
    if (!*s || strpbrk(s, "xX"))
        return bad(err, "invalid double '%.40s'", s);
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end)
        return bad(err, "invalid double '%.40s'", s);
    *ret = d;
    return 0;
}

static int b64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decode base64 in place (white space ignored, '=' padding optional);
 * returns the decoded length or -EBADMSG. */
static int decode_base64(char *s, size_t *ret_len, char **err)
{
    size_t out = 0;
    unsigned acc = 0;
    int bits = 0;
    bool pad = false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c == '=') {
            pad = true;
            continue;
        }
        int d = b64_digit(c);
        if (d < 0 || pad)
            return bad(err, "invalid base64 data");
        acc = (acc << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            s[out++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (bits >= 6)
        return bad(err, "truncated base64 data");
    s[out] = '\0';
    *ret_len = out;
    return 0;
}

/* ---- values -------------------------------------------------------------- */

static int parse_value(const xmlNode *value, int depth, mom_value **ret, char **err);

/* array := <array> <data> value* </data> </array> */
static int parse_array(const xmlNode *array, int depth, mom_value **ret, char **err)
{
    const xmlNode *data = NULL, *extra = NULL;
    int r = next_element(array, NULL, &data, err);
    if (r < 0)
        return r;
    if (!data || strcmp(local_name(data), "data") != 0)
        return bad(err, "<array> without <data>");
    if ((r = next_element(array, data, &extra, err)) < 0)
        return r;
    if (extra)
        return bad(err, "unexpected <%s> in <array>", local_name(extra));
    mom_value *list = value_new_list();
    if (!list)
        return -ENOMEM;
    const xmlNode *v = NULL;
    for (;;) {
        if ((r = next_element(data, v, &v, err)) < 0)
            goto fail;
        if (!v)
            break;
        if (strcmp(local_name(v), "value") != 0) {
            r = bad(err, "unexpected <%s> in <data>", local_name(v));
            goto fail;
        }
        mom_value *item = NULL;
        if ((r = parse_value(v, depth + 1, &item, err)) < 0)
            goto fail;
        if ((r = value_list_append(list, item)) < 0)
            goto fail;
    }
    *ret = list;
    return 0;
fail:
    mom_value_unref(list);
    return r;
}

/* struct := <struct> (<member> <name>TEXT</name> value </member>)* </struct> */
static int parse_struct(const xmlNode *st, int depth, mom_value **ret, char **err)
{
    mom_value *map = value_new_map();
    if (!map)
        return -ENOMEM;
    const xmlNode *m = NULL;
    char *name = NULL;
    int r;
    for (;;) {
        if ((r = next_element(st, m, &m, err)) < 0)
            goto fail;
        if (!m)
            break;
        if (strcmp(local_name(m), "member") != 0) {
            r = bad(err, "unexpected <%s> in <struct>", local_name(m));
            goto fail;
        }
        const xmlNode *n = NULL, *v = NULL, *extra = NULL;
        if ((r = next_element(m, NULL, &n, err)) < 0 ||
            (n && (r = next_element(m, n, &v, err)) < 0) ||
            (v && (r = next_element(m, v, &extra, err)) < 0))
            goto fail;
        if (!n || strcmp(local_name(n), "name") != 0 || !v || strcmp(local_name(v), "value") != 0 ||
            extra) {
            r = bad(err, "a <member> needs exactly a <name> and a <value>");
            goto fail;
        }
        if ((r = text_of(n, &name, NULL, err)) < 0)
            goto fail;
        mom_value *item = NULL;
        if ((r = parse_value(v, depth + 1, &item, err)) < 0)
            goto fail;
        if ((r = value_map_set(map, name, item)) < 0)
            goto fail;
        mom_free(name);
        name = NULL;
    }
    *ret = map;
    return 0;
fail:
    mom_free(name);
    mom_value_unref(map);
    return r;
}

/* value := <value> (TEXT | <TYPE>...</TYPE>) </value> */
static int parse_value(const xmlNode *value, int depth, mom_value **ret, char **err)
{
    if (depth > XMLRPC_MAX_DEPTH)
        return bad(err, "values nested deeper than %d levels", XMLRPC_MAX_DEPTH);
    const xmlNode *type = NULL;
    bool text = false;
    for (const xmlNode *c = value->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            if (type)
                return bad(err, "<value> holds more than one element");
            type = c;
        } else if (is_text(c)) {
            if (!is_blank((const char *)c->content))
                text = true;
        } else if (c->type != XML_COMMENT_NODE && c->type != XML_PI_NODE) {
            return bad(err, "unexpected node inside <value>");
        }
    }
    char *s = NULL;
    size_t len = 0;
    int r;
    if (!type) {
        /* Bare text is a string, white space included. */
        if ((r = text_of(value, &s, &len, err)) < 0)
            return r;
        *ret = value_new_stringn(s, len);
        mom_free(s);
        return *ret ? 0 : -ENOMEM;
    }
    if (text)
        return bad(err, "<value> mixes text and <%s>", local_name(type));
    const char *t = local_name(type);
    if (strcmp(t, "array") == 0)
        return parse_array(type, depth, ret, err);
    if (strcmp(t, "struct") == 0)
        return parse_struct(type, depth, ret, err);
    if (strcmp(t, "nil") == 0) {
        if (type->children)
            return bad(err, "<nil/> must be empty");
        *ret = value_new_none();
        return *ret ? 0 : -ENOMEM;
    }
    if ((r = text_of(type, &s, &len, err)) < 0)
        return r;
    mom_value *v = NULL;
    if (strcmp(t, "int") == 0 || strcmp(t, "i4") == 0 || strcmp(t, "i8") == 0 ||
        strcmp(t, "i1") == 0 || strcmp(t, "i2") == 0) {
        int64_t i = 0;
        if ((r = parse_int(s, &i, err)) < 0)
            goto out;
        v = value_new_int(i);
    } else if (strcmp(t, "boolean") == 0) {
        bool b = false;
        if ((r = parse_bool(s, &b, err)) < 0)
            goto out;
        v = value_new_bool(b);
    } else if (strcmp(t, "double") == 0) {
        double d = 0;
        if ((r = parse_double(s, &d, err)) < 0)
            goto out;
        v = value_new_real(d);
    } else if (strcmp(t, "string") == 0 || strcmp(t, "dateTime.iso8601") == 0) {
        v = value_new_stringn(s, len);
    } else if (strcmp(t, "base64") == 0) {
        if ((r = decode_base64(s, &len, err)) < 0)
            goto out;
        v = value_new_stringn(s, len);
    } else {
        r = bad(err, "unknown value type <%.40s>", t);
        goto out;
    }
    r = v ? 0 : -ENOMEM;
    *ret = v;
out:
    mom_free(s);
    return r;
}

/* ---- documents ----------------------------------------------------------- */

/* Read the document with libxml2.  A DTD (and so any entity declaration)
 * is refused before parsing, so nothing can expand. */
static int read_doc(const char *buf, size_t len, xmlDoc **ret, char **err)
{
    if (len > XMLRPC_MAX_DOC)
        return bad(err, "document larger than %u bytes", XMLRPC_MAX_DOC);
    if (len == 0)
        return bad(err, "empty document");
    if (memmem(buf, len, "<!DOCTYPE", 9) || memmem(buf, len, "<!ENTITY", 8))
        return bad(err, "a document type declaration is not allowed");
    xmlParserCtxt *ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return -ENOMEM;
    xmlDoc *doc = xmlCtxtReadMemory(ctxt, buf, (int)len, NULL, NULL,
                                    XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR |
                                        XML_PARSE_NOWARNING);
    int r = 0;
    if (!doc) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        if (e && e->code == XML_ERR_NO_MEMORY) {
            r = -ENOMEM;
        } else if (e && e->message) {
            char msg[160];
            snprintf(msg, sizeof(msg), "%s", e->message);
            char *nl = strchr(msg, '\n');
            if (nl)
                *nl = '\0';
            r = bad(err, "invalid XML at line %d: %s", e->line, msg);
        } else {
            r = bad(err, "invalid XML");
        }
    } else if (doc->intSubset || doc->extSubset) {
        r = bad(err, "a document type declaration is not allowed");
    } else if (!xmlDocGetRootElement(doc)) {
        r = bad(err, "no root element");
    }
    if (r < 0 && doc) {
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    *ret = doc;
    return r;
}

/* params := <params> (<param> value </param>)* </params>, appended to list. */
static int parse_params(const xmlNode *params, mom_value *list, char **err)
{
    const xmlNode *p = NULL;
    int r;
    for (;;) {
        if ((r = next_element(params, p, &p, err)) < 0)
            return r;
        if (!p)
            return 0;
        if (strcmp(local_name(p), "param") != 0)
            return bad(err, "unexpected <%s> in <params>", local_name(p));
        const xmlNode *v = NULL, *extra = NULL;
        if ((r = next_element(p, NULL, &v, err)) < 0 ||
            (v && (r = next_element(p, v, &extra, err)) < 0))
            return r;
        if (!v || strcmp(local_name(v), "value") != 0 || extra)
            return bad(err, "a <param> needs exactly one <value>");
        mom_value *item = NULL;
        if ((r = parse_value(v, 1, &item, err)) < 0)
            return r;
        if ((r = value_list_append(list, item)) < 0)
            return r;
    }
}

/* call := <methodCall> <methodName>NAME</methodName> params? </methodCall> */
int xmlrpc_parse_call(const char *buf, size_t len, xmlrpc_call *ret, char **ret_error)
{
    char *err = NULL;
    xmlDoc *doc = NULL;
    xmlrpc_call c = {NULL, NULL};
    int r;
    if (!buf || !ret) {
        r = -EINVAL;
        goto out;
    }
    if ((r = read_doc(buf, len, &doc, &err)) < 0)
        goto out;
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (strcmp(local_name(root), "methodCall") != 0) {
        r = bad(&err, "the root element is <%s>, not <methodCall>", local_name(root));
        goto out;
    }
    if (!(c.params = value_new_list())) {
        r = -ENOMEM;
        goto out;
    }
    const xmlNode *n = NULL;
    bool seen_params = false;
    for (;;) {
        if ((r = next_element(root, n, &n, &err)) < 0)
            goto out;
        if (!n)
            break;
        const char *name = local_name(n);
        if (strcmp(name, "methodName") == 0 && !c.method) {
            char *m = NULL;
            if ((r = text_of(n, &m, NULL, &err)) < 0)
                goto out;
            char *t = trim(m);
            c.method = mom_strdup(t);
            mom_free(m);
            if (!c.method) {
                r = -ENOMEM;
                goto out;
            }
        } else if (strcmp(name, "params") == 0 && !seen_params) {
            seen_params = true;
            if ((r = parse_params(n, c.params, &err)) < 0)
                goto out;
        } else {
            r = bad(&err, "unexpected <%s> in <methodCall>", name);
            goto out;
        }
    }
    if (!c.method || !*c.method) {
        r = bad(&err, "<methodCall> without <methodName>");
        goto out;
    }
    *ret = c;
    c.method = NULL;
    c.params = NULL;
    r = 0;
out:
    xmlrpc_call_done(&c);
    if (doc)
        xmlFreeDoc(doc);
    if (ret_error)
        *ret_error = err;
    else
        mom_free(err);
    return r;
}

void xmlrpc_call_done(xmlrpc_call *c)
{
    if (!c)
        return;
    mom_free(c->method);
    mom_value_unref(c->params);
    c->method = NULL;
    c->params = NULL;
}

/* The fault struct: faultCode (int) and faultString (string). */
static int read_fault(const xmlNode *fault, xmlrpc_response *res, char **err)
{
    const xmlNode *v = NULL, *extra = NULL;
    int r;
    if ((r = next_element(fault, NULL, &v, err)) < 0 ||
        (v && (r = next_element(fault, v, &extra, err)) < 0))
        return r;
    if (!v || strcmp(local_name(v), "value") != 0 || extra)
        return bad(err, "a <fault> needs exactly one <value>");
    mom_value *f = NULL;
    if ((r = parse_value(v, 1, &f, err)) < 0)
        return r;
    const mom_value *code = mom_value_get(f, "faultCode");
    const mom_value *msg = mom_value_get(f, "faultString");
    if (mom_value_type_of(f) != MOM_VALUE_MAP || !code ||
        mom_value_type_of(code) != MOM_VALUE_INT || !msg ||
        mom_value_type_of(msg) != MOM_VALUE_STRING) {
        mom_value_unref(f);
        return bad(err, "a fault needs an int faultCode and a string faultString");
    }
    res->fault = true;
    res->fault_code = mom_value_int(code);
    res->fault_string = mom_strdup(mom_value_string(msg));
    mom_value_unref(f);
    return res->fault_string ? 0 : -ENOMEM;
}

/* response := <methodResponse> (params-with-one-param | <fault> value </fault>) */
int xmlrpc_parse_response(const char *buf, size_t len, xmlrpc_response *ret, char **ret_error)
{
    char *err = NULL;
    xmlDoc *doc = NULL;
    xmlrpc_response res = {false, NULL, 0, NULL};
    mom_value *list = NULL;
    int r;
    if (!buf || !ret) {
        r = -EINVAL;
        goto out;
    }
    if ((r = read_doc(buf, len, &doc, &err)) < 0)
        goto out;
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (strcmp(local_name(root), "methodResponse") != 0) {
        r = bad(&err, "the root element is <%s>, not <methodResponse>", local_name(root));
        goto out;
    }
    const xmlNode *n = NULL, *extra = NULL;
    if ((r = next_element(root, NULL, &n, &err)) < 0 ||
        (n && (r = next_element(root, n, &extra, &err)) < 0))
        goto out;
    if (!n || extra) {
        r = bad(&err, "<methodResponse> needs exactly one of <params> or <fault>");
        goto out;
    }
    if (strcmp(local_name(n), "fault") == 0) {
        r = read_fault(n, &res, &err);
    } else if (strcmp(local_name(n), "params") == 0) {
        if (!(list = value_new_list())) {
            r = -ENOMEM;
            goto out;
        }
        if ((r = parse_params(n, list, &err)) < 0)
            goto out;
        if (mom_value_len(list) != 1) {
            r = bad(&err, "a response holds exactly one parameter, not %zu", mom_value_len(list));
            goto out;
        }
        res.value = mom_value_ref(mom_value_at(list, 0));
    } else {
        r = bad(&err, "unexpected <%s> in <methodResponse>", local_name(n));
    }
    if (r < 0)
        goto out;
    *ret = res;
    res.value = NULL;
    res.fault_string = NULL;
out:
    xmlrpc_response_done(&res);
    mom_value_unref(list);
    if (doc)
        xmlFreeDoc(doc);
    if (ret_error)
        *ret_error = err;
    else
        mom_free(err);
    return r;
}

void xmlrpc_response_done(xmlrpc_response *r)
{
    if (!r)
        return;
    mom_value_unref(r->value);
    mom_free(r->fault_string);
    r->value = NULL;
    r->fault_string = NULL;
    r->fault = false;
}

/* ---- writing ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* No overlong forms, surrogates, or the two non-characters XML bans. */
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
        return 0;
    return len;
}

/*
 * Text content: &, < and > escaped as Python does, \r as a character
 * reference (XML would turn a raw one into \n), and what XML 1.0 cannot
 * carry (other control characters, invalid UTF-8) replaced by U+FFFD.
 */
static void sb_text(sbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t start = 0, i = 0;
    while (i < n) {
        const char *rep = NULL;
        size_t adv = 1;
        unsigned char c = p[i];
        if (c == '&')
            rep = "&amp;";
        else if (c == '<')
            rep = "&lt;";
        else if (c == '>')
            rep = "&gt;";
        else if (c == '\r')
            rep = "&#13;";
        else if (c < 0x20 && c != '\t' && c != '\n')
            rep = "\xef\xbf\xbd";
        else if (c >= 0x80 && (adv = utf8_seq(p + i, n - i)) == 0) {
            rep = "\xef\xbf\xbd";
            adv = 1;
        }
        if (rep) {
            sbuf_put(b, s + start, i - start);
            sbuf_puts(b, rep);
            start = i + adv;
        }
        i += adv;
    }
    sbuf_put(b, s + start, n - start);
}

/* One <value>; depth-limited like the reader, so a cyclic or absurd value
 * cannot recurse without end. */
static void sb_value(sbuf *b, const mom_value *v, int depth)
{
    char num[40];
    if (depth > XMLRPC_MAX_DEPTH) {
        b->failed = true;
        return;
    }
    sbuf_puts(b, "<value>");
    switch (v ? mom_value_type_of(v) : MOM_VALUE_NONE) {
    case MOM_VALUE_NONE: sbuf_puts(b, "<nil/>"); break;
    case MOM_VALUE_BOOL:
        sbuf_puts(b, mom_value_bool(v) ? "<boolean>1</boolean>" : "<boolean>0</boolean>");
        break;
    case MOM_VALUE_INT: {
        int64_t i = mom_value_int(v);
        bool wide = i > INT32_MAX || i < INT32_MIN;
        snprintf(num, sizeof(num), wide ? "<i8>%lld</i8>" : "<int>%lld</int>", (long long)i);
        sbuf_puts(b, num);
        break;
    }
    case MOM_VALUE_REAL:
        sbuf_puts(b, "<double>");
        value_format_real(mom_value_real(v), num, sizeof(num), true);
        sbuf_puts(b, num);
        sbuf_puts(b, "</double>");
        break;
    case MOM_VALUE_STRING:
        sbuf_puts(b, "<string>");
        sb_text(b, mom_value_string(v), mom_value_len(v));
        sbuf_puts(b, "</string>");
        break;
    case MOM_VALUE_LIST:
        sbuf_puts(b, "<array><data>\n");
        for (size_t i = 0; i < mom_value_len(v); i++) {
            sb_value(b, mom_value_at(v, i), depth + 1);
            sbuf_puts(b, "\n");
        }
        sbuf_puts(b, "</data></array>");
        break;
    case MOM_VALUE_MAP:
        sbuf_puts(b, "<struct>\n");
        for (size_t i = 0; i < mom_value_len(v); i++) {
            const char *k = mom_value_key_at(v, i);
            sbuf_puts(b, "<member>\n<name>");
            sb_text(b, k, strlen(k));
            sbuf_puts(b, "</name>\n");
            sb_value(b, mom_value_at(v, i), depth + 1);
            sbuf_puts(b, "\n</member>\n");
        }
        sbuf_puts(b, "</struct>");
        break;
    default: b->failed = true; break;
    }
    sbuf_puts(b, "</value>");
}

static char *sb_finish(sbuf *b, size_t *ret_len)
{
    size_t len = b->len;
    char *s = sbuf_take(b);
    if (s && ret_len)
        *ret_len = len;
    return s;
}

char *xmlrpc_format_call(const char *method, const mom_value *params, size_t *ret_len)
{
    sbuf b = {NULL, 0, 0, false};
    if (!method)
        return NULL;
    if (params && mom_value_type_of(params) != MOM_VALUE_LIST)
        return NULL;
    sbuf_puts(&b, "<?xml version='1.0'?>\n<methodCall>\n<methodName>");
    sb_text(&b, method, strlen(method));
    sbuf_puts(&b, "</methodName>\n<params>\n");
    for (size_t i = 0; params && i < mom_value_len(params); i++) {
        sbuf_puts(&b, "<param>\n");
        sb_value(&b, mom_value_at(params, i), 1);
        sbuf_puts(&b, "\n</param>\n");
    }
    sbuf_puts(&b, "</params>\n</methodCall>\n");
    return sb_finish(&b, ret_len);
}

char *xmlrpc_format_response(const mom_value *value, size_t *ret_len)
{
    sbuf b = {NULL, 0, 0, false};
    sbuf_puts(&b, "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n");
    sb_value(&b, value, 1);
    sbuf_puts(&b, "\n</param>\n</params>\n</methodResponse>\n");
    return sb_finish(&b, ret_len);
}

char *xmlrpc_format_fault(int64_t code, const char *message, size_t *ret_len)
{
    sbuf b = {NULL, 0, 0, false};
    char num[40];
    bool wide = code > INT32_MAX || code < INT32_MIN;
    snprintf(num, sizeof(num), wide ? "<i8>%lld</i8>" : "<int>%lld</int>", (long long)code);
    sbuf_puts(&b, "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n"
                "<member>\n<name>faultCode</name>\n<value>");
    sbuf_puts(&b, num);
    sbuf_puts(&b, "</value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>");
    if (message)
        sb_text(&b, message, strlen(message));
    sbuf_puts(&b, "</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n");
    return sb_finish(&b, ret_len);
}
