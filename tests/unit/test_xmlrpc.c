/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The XML-RPC codec (src/rpc/xmlrpc.c), the RPC methods (dispatch.c) on a
 * real engine, and the HTTP server (server.c) on TCP and on a unix socket:
 * value mapping both ways, the extension types, every malformed-input
 * path, i8 at the 32-bit edges, escaping, allocation failures, the methods'
 * return shapes and faults, HTTP statuses, and the socket's mode.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"
#include "core/value.h"
#include "mom/mom.h"
#include "rpc/dispatch.h"
#include "rpc/server.h"
#include "rpc/xmlrpc.h"

/* ---- helpers ------------------------------------------------------------ */

static xmlrpc_call parse_ok(const char *doc)
{
    xmlrpc_call c = {NULL, NULL};
    char *err = NULL;
    int r = xmlrpc_parse_call(doc, strlen(doc), &c, &err);
    if (r != 0)
        fail_msg("parse failed (%d): %s\n%s", r, err ? err : "?", doc);
    assert_null(err);
    return c;
}

static void parse_bad(const char *doc, const char *want_in_error)
{
    xmlrpc_call c = {NULL, NULL};
    char *err = NULL;
    int r = xmlrpc_parse_call(doc, strlen(doc), &c, &err);
    if (r != -EBADMSG)
        fail_msg("expected -EBADMSG, got %d for: %.200s", r, doc);
    assert_null(c.method);
    assert_null(c.params);
    assert_non_null(err);
    if (want_in_error && !strstr(err, want_in_error))
        fail_msg("error '%s' lacks '%s'", err, want_in_error);
    mom_free(err);
}

/* A call document with one parameter written as `value_xml`. */
static char *one_param(const char *value_xml)
{
    return mom_asprintf("<?xml version=\"1.0\"?><methodCall><methodName>m</methodName>"
                        "<params><param>%s</param></params></methodCall>",
                        value_xml);
}

static mom_value *param_of(const char *value_xml)
{
    char *doc = one_param(value_xml);
    xmlrpc_call c = parse_ok(doc);
    mom_free(doc);
    assert_int_equal(mom_value_len(c.params), 1);
    mom_value *v = mom_value_ref(mom_value_at(c.params, 0));
    xmlrpc_call_done(&c);
    return v;
}

static void param_bad(const char *value_xml, const char *want)
{
    char *doc = one_param(value_xml);
    parse_bad(doc, want);
    mom_free(doc);
}

/* ---- reading ------------------------------------------------------------ */

static void test_parse_simple_call(void **state)
{
    (void)state;
    xmlrpc_call c = parse_ok("<?xml version='1.0'?>\n<methodCall>\n<methodName>ping</methodName>\n"
                             "<params>\n</params>\n</methodCall>\n");
    assert_string_equal(c.method, "ping");
    assert_int_equal(mom_value_type_of(c.params), MOM_VALUE_LIST);
    assert_int_equal(mom_value_len(c.params), 0);
    xmlrpc_call_done(&c);

    /* <params> may be missing; comments and white space are ignored. */
    c = parse_ok("<methodCall><!-- c --><methodName> system.listMethods </methodName>"
                 "</methodCall>");
    assert_string_equal(c.method, "system.listMethods");
    assert_int_equal(mom_value_len(c.params), 0);
    xmlrpc_call_done(&c);
    xmlrpc_call_done(NULL);
}

static void test_parse_scalars(void **state)
{
    (void)state;
    struct {
        const char *xml;
        mom_value_type type;
        int64_t i;
    } ints[] = {
        {"<value><int>42</int></value>", MOM_VALUE_INT, 42},
        {"<value><i4> -7 </i4></value>", MOM_VALUE_INT, -7},
        {"<value><i8>9223372036854775807</i8></value>", MOM_VALUE_INT, INT64_MAX},
        {"<value><i8>-9223372036854775808</i8></value>", MOM_VALUE_INT, INT64_MIN},
        {"<value><ex:i8 xmlns:ex='http://ws.apache.org/xmlrpc/namespaces/extensions'>"
         "4294967296</ex:i8></value>",
         MOM_VALUE_INT, 4294967296LL},
        {"<value><ex:i8>5</ex:i8></value>", MOM_VALUE_INT, 5}, /* undeclared prefix */
        {"<value><int>+3</int></value>", MOM_VALUE_INT, 3},
        {"<value><boolean>1</boolean></value>", MOM_VALUE_BOOL, 1},
        {"<value><boolean>0</boolean></value>", MOM_VALUE_BOOL, 0},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        mom_value *v = param_of(ints[i].xml);
        assert_int_equal(mom_value_type_of(v), ints[i].type);
        if (ints[i].type == MOM_VALUE_INT)
            assert_true(mom_value_int(v) == ints[i].i);
        else
            assert_int_equal(mom_value_bool(v), ints[i].i);
        mom_value_unref(v);
    }

    mom_value *v = param_of("<value><double>2.5e3</double></value>");
    assert_int_equal(mom_value_type_of(v), MOM_VALUE_REAL);
    assert_true(mom_value_real(v) == 2500.0);
    mom_value_unref(v);

    v = param_of("<value><nil/></value>");
    assert_int_equal(mom_value_type_of(v), MOM_VALUE_NONE);
    mom_value_unref(v);
    v = param_of("<value><ex:nil xmlns:ex='http://ws.apache.org/xmlrpc/namespaces/extensions'/>"
                 "</value>");
    assert_int_equal(mom_value_type_of(v), MOM_VALUE_NONE);
    mom_value_unref(v);

    v = param_of("<value><string>a &amp; b &lt;c&gt; &#233;</string></value>");
    assert_string_equal(mom_value_string(v), "a & b <c> \xc3\xa9");
    mom_value_unref(v);
    /* Bare text is a string, white space included. */
    v = param_of("<value>  two words </value>");
    assert_string_equal(mom_value_string(v), "  two words ");
    mom_value_unref(v);
    v = param_of("<value></value>");
    assert_int_equal(mom_value_type_of(v), MOM_VALUE_STRING);
    assert_int_equal(mom_value_len(v), 0);
    mom_value_unref(v);
    v = param_of("<value><string><![CDATA[(if (< a b) 1)]]></string></value>");
    assert_string_equal(mom_value_string(v), "(if (< a b) 1)");
    mom_value_unref(v);
    v = param_of("<value><base64>aGVs\nbG8=</base64></value>");
    assert_string_equal(mom_value_string(v), "hello");
    mom_value_unref(v);
    v = param_of("<value><base64>AGE</base64></value>"); /* NUL inside, no padding */
    assert_int_equal(mom_value_len(v), 2);
    assert_memory_equal(mom_value_string(v), "\0a", 2);
    mom_value_unref(v);
    v = param_of("<value><dateTime.iso8601>20261127T18:00:00</dateTime.iso8601></value>");
    assert_string_equal(mom_value_string(v), "20261127T18:00:00");
    mom_value_unref(v);
}

static void test_parse_containers(void **state)
{
    (void)state;
    mom_value *v = param_of(
        "<value><struct>\n"
        "  <member><name>host</name><value><struct>"
        "    <member><name>mem_free</name><value><i8>3000000000</i8></value></member>"
        "    <member><name>none</name><value><nil/></value></member>"
        "  </struct></value></member>\n"
        "  <member><name>list</name><value><array><data>"
        "    <value>a</value><value><int>1</int></value><value><array><data/></array></value>"
        "  </data></array></value></member>\n"
        "  <member><name>list</name><value><boolean>1</boolean></value></member>\n"
        "</struct></value>");
    assert_int_equal(mom_value_type_of(v), MOM_VALUE_MAP);
    assert_int_equal(mom_value_len(v), 2); /* a repeated name replaces */
    const mom_value *host = mom_value_get(v, "host");
    assert_true(mom_value_int(mom_value_get(host, "mem_free")) == 3000000000LL);
    assert_int_equal(mom_value_type_of(mom_value_get(host, "none")), MOM_VALUE_NONE);
    assert_int_equal(mom_value_type_of(mom_value_get(v, "list")), MOM_VALUE_BOOL);
    mom_value_unref(v);

    v = param_of("<value><array><data><value>a</value><value><int>1</int></value>"
                 "<value><array><data></data></array></value></data></array></value>");
    assert_int_equal(mom_value_len(v), 3);
    assert_string_equal(mom_value_string(mom_value_at(v, 0)), "a");
    assert_int_equal(mom_value_int(mom_value_at(v, 1)), 1);
    assert_int_equal(mom_value_len(mom_value_at(v, 2)), 0);
    mom_value_unref(v);

    /* Several parameters keep their order. */
    xmlrpc_call c = parse_ok("<methodCall><methodName>setNamedPolicy</methodName><params>"
                             "<param><value>n</value></param><param><value><nil/></value></param>"
                             "</params></methodCall>");
    assert_int_equal(mom_value_len(c.params), 2);
    assert_string_equal(mom_value_string(mom_value_at(c.params, 0)), "n");
    assert_int_equal(mom_value_type_of(mom_value_at(c.params, 1)), MOM_VALUE_NONE);
    xmlrpc_call_done(&c);
}

/* Nesting: XMLRPC_MAX_DEPTH levels pass, one more is refused. */
static char *nested(int levels)
{
    size_t n = (size_t)levels * 50 + 200;
    char *s = mom_malloc(n), *p = s;
    p += sprintf(p, "<methodCall><methodName>m</methodName><params><param>");
    for (int i = 0; i < levels - 1; i++)
        p += sprintf(p, "<value><array><data>");
    p += sprintf(p, "<value>x</value>");
    for (int i = 0; i < levels - 1; i++)
        p += sprintf(p, "</data></array></value>");
    sprintf(p, "</param></params></methodCall>");
    return s;
}

static void test_parse_depth(void **state)
{
    (void)state;
    char *ok = nested(XMLRPC_MAX_DEPTH);
    xmlrpc_call c = parse_ok(ok);
    xmlrpc_call_done(&c);
    mom_free(ok);
    char *deep = nested(XMLRPC_MAX_DEPTH + 1);
    parse_bad(deep, "nested");
    mom_free(deep);
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_bad("", "empty");
    parse_bad("<methodCall><methodName>ping</methodName>", "invalid XML");
    parse_bad("not xml", "invalid XML");
    parse_bad("<methodResponse/>", "not <methodCall>");
    parse_bad("<methodCall><params/></methodCall>", "without <methodName>");
    parse_bad("<methodCall><methodName>  </methodName></methodCall>", "without <methodName>");
    parse_bad("<methodCall><methodName>a</methodName><methodName>b</methodName></methodCall>",
              "unexpected <methodName>");
    parse_bad("<methodCall><methodName>a</methodName><params/><params/></methodCall>",
              "unexpected <params>");
    parse_bad("<methodCall><methodName>a<b/></methodName></methodCall>", "text only");
    parse_bad("<methodCall>junk<methodName>a</methodName></methodCall>", "unexpected text");
    parse_bad("<methodCall><methodName>a</methodName><params><value>1</value></params>"
              "</methodCall>",
              "unexpected <value>");
    parse_bad("<methodCall><methodName>a</methodName><params><param/></params></methodCall>",
              "exactly one <value>");
    parse_bad("<methodCall><methodName>a</methodName><params><param><value>1</value>"
              "<value>2</value></param></params></methodCall>",
              "exactly one <value>");
    /* No DTD, so no entity can expand (billion laughs, external files). */
    parse_bad("<?xml version='1.0'?><!DOCTYPE m [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]>"
              "<methodCall><methodName>&b;</methodName></methodCall>",
              "document type");
    parse_bad("<!DOCTYPE m SYSTEM 'file:///etc/passwd'><methodCall><methodName>a</methodName>"
              "</methodCall>",
              "document type");
    parse_bad("<methodCall><methodName>&undefined;</methodName></methodCall>", "invalid XML");

    param_bad("<value><int>12abc</int></value>", "invalid integer");
    param_bad("<value><int></int></value>", "empty integer");
    param_bad("<value><int>-</int></value>", "empty integer");
    param_bad("<value><i8>9223372036854775808</i8></value>", "64 bits");
    param_bad("<value><int>0x10</int></value>", "invalid integer");
    param_bad("<value><boolean>yes</boolean></value>", "bad boolean");
    param_bad("<value><double>1.5x</double></value>", "invalid double");
    param_bad("<value><double>0x1p3</double></value>", "invalid double");
    param_bad("<value><double></double></value>", "invalid double");
    param_bad("<value><base64>a$b</base64></value>", "base64");
    param_bad("<value><base64>QQ=A</base64></value>", "base64");
    param_bad("<value><base64>Q</base64></value>", "base64");
    param_bad("<value><blob>1</blob></value>", "unknown value type");
    param_bad("<value><int>1</int><int>2</int></value>", "more than one");
    param_bad("<value>text<int>1</int></value>", "mixes");
    param_bad("<value><nil>x</nil></value>", "empty");
    param_bad("<value><int><b/></int></value>", "text only");
    param_bad("<value><array></array></value>", "without <data>");
    param_bad("<value><array><data/><data/></array></value>", "unexpected <data>");
    param_bad("<value><array><data><int>1</int></data></array></value>", "unexpected <int>");
    param_bad("<value><struct><value>1</value></struct></value>", "unexpected <value>");
    param_bad("<value><struct><member><name>a</name></member></struct></value>", "<member>");
    param_bad("<value><struct><member><value>1</value><name>a</name></member></struct></value>",
              "<member>");
    param_bad("<value><struct><member><name>a</name><value>1</value><value>2</value></member>"
              "</struct></value>",
              "<member>");

    xmlrpc_call c;
    assert_int_equal(xmlrpc_parse_call(NULL, 0, &c, NULL), -EINVAL);
    /* Without ret_error the reason is dropped, the result the same. */
    assert_int_equal(xmlrpc_parse_call("<x/>", 4, &c, NULL), -EBADMSG);
    /* Bytes after the length are not read. */
    assert_int_equal(
        xmlrpc_parse_call("<methodCall><methodName>p</methodName></methodCall>", 20, &c, NULL),
        -EBADMSG);
}

static void test_parse_response(void **state)
{
    (void)state;
    const char *ok = "<?xml version='1.0'?><methodResponse><params><param><value><struct>"
                     "<member><name>a</name><value><i8>2147483648</i8></value></member>"
                     "</struct></value></param></params></methodResponse>";
    xmlrpc_response r;
    char *err = NULL;
    assert_int_equal(xmlrpc_parse_response(ok, strlen(ok), &r, &err), 0);
    assert_null(err);
    assert_false(r.fault);
    assert_true(mom_value_int(mom_value_get(r.value, "a")) == 2147483648LL);
    xmlrpc_response_done(&r);

    const char *fault = "<methodResponse><fault><value><struct><member><name>faultCode</name>"
                        "<value><int>7</int></value></member><member><name>faultString</name>"
                        "<value><string>no &amp; way</string></value></member></struct></value>"
                        "</fault></methodResponse>";
    assert_int_equal(xmlrpc_parse_response(fault, strlen(fault), &r, &err), 0);
    assert_true(r.fault);
    assert_null(r.value);
    assert_int_equal(r.fault_code, 7);
    assert_string_equal(r.fault_string, "no & way");
    xmlrpc_response_done(&r);

    const char *bad[] = {
        "<methodResponse/>",
        "<methodResponse><params/></methodResponse>",
        "<methodResponse><params><param><value>1</value></param><param><value>2</value>"
        "</param></params></methodResponse>",
        "<methodResponse><fault><value><int>1</int></value></fault></methodResponse>",
        "<methodResponse><fault><value><struct><member><name>faultCode</name><value>x</value>"
        "</member><member><name>faultString</name><value>y</value></member></struct></value>"
        "</fault></methodResponse>",
        "<methodResponse><params/><fault/></methodResponse>",
        "<methodResponse><other/></methodResponse>",
        "<methodCall><methodName>x</methodName></methodCall>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        assert_int_equal(xmlrpc_parse_response(bad[i], strlen(bad[i]), &r, &err), -EBADMSG);
        assert_non_null(err);
        mom_free(err);
    }
}

/* ---- writing ------------------------------------------------------------ */

static char *respond(mom_value *v)
{
    char *doc = xmlrpc_format_response(v, NULL);
    mom_value_unref(v);
    assert_non_null(doc);
    return doc;
}

static void test_format_integers(void **state)
{
    (void)state;
    struct {
        int64_t i;
        const char *want;
    } cases[] = {
        {0, "<int>0</int>"},
        {2147483647LL, "<int>2147483647</int>"},
        {2147483648LL, "<i8>2147483648</i8>"},
        {-2147483648LL, "<int>-2147483648</int>"},
        {-2147483649LL, "<i8>-2147483649</i8>"},
        {INT64_MAX, "<i8>9223372036854775807</i8>"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *doc = respond(value_new_int(cases[i].i));
        if (!strstr(doc, cases[i].want))
            fail_msg("%s not in %s", cases[i].want, doc);
        mom_free(doc);
    }
    char *doc = respond(value_new_none());
    assert_non_null(strstr(doc, "<value><nil/></value>"));
    mom_free(doc);
    doc = xmlrpc_format_response(NULL, NULL); /* NULL is nil too */
    assert_non_null(strstr(doc, "<nil/>"));
    mom_free(doc);
    doc = respond(value_new_bool(true));
    assert_non_null(strstr(doc, "<boolean>1</boolean>"));
    mom_free(doc);
    doc = respond(value_new_real(0.1));
    assert_non_null(strstr(doc, "<double>0.1</double>"));
    mom_free(doc);
    doc = respond(value_new_real(3.0));
    assert_non_null(strstr(doc, "<double>3.0</double>"));
    mom_free(doc);
}

static void test_format_escaping(void **state)
{
    (void)state;
    char *doc = respond(value_new_string("a&b<c>d\re\tf\ng\x01h"));
    assert_non_null(strstr(doc, "<string>a&amp;b&lt;c&gt;d&#13;e\tf\ng\xef\xbf\xbdh</string>"));
    mom_free(doc);
    /* Invalid UTF-8 (a lone continuation byte, an overlong form, a
     * surrogate) becomes U+FFFD; valid multibyte text stays. */
    doc = respond(value_new_string("\x80-\xc0\xaf-\xed\xa0\x80-\xe2\x82\xac-\xf0\x9f\x98\x80"));
    assert_non_null(strstr(doc, "<string>\xef\xbf\xbd-\xef\xbf\xbd\xef\xbf\xbd-"
                                "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd-\xe2\x82\xac-"
                                "\xf0\x9f\x98\x80</string>"));
    mom_free(doc);
    /* Whatever it holds, the document parses again. */
    xmlrpc_response r;
    doc = respond(value_new_stringn("\0\x02\xff<]]>&", 8));
    assert_int_equal(xmlrpc_parse_response(doc, strlen(doc), &r, NULL), 0);
    assert_string_equal(mom_value_string(r.value), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd<]]>&");
    xmlrpc_response_done(&r);
    mom_free(doc);
    /* \r survives the trip (a raw one would come back as \n). */
    doc = respond(value_new_string("a\r\nb"));
    assert_int_equal(xmlrpc_parse_response(doc, strlen(doc), &r, NULL), 0);
    assert_string_equal(mom_value_string(r.value), "a\r\nb");
    xmlrpc_response_done(&r);
    mom_free(doc);
}

/* A value with every type, for round trips. */
static mom_value *sample_value(void)
{
    mom_value *m = value_new_map();
    mom_value *host = value_new_map();
    value_map_set(host, "mem_available", value_new_int(4294967296LL));
    value_map_set(host, "neg", value_new_int(-5));
    value_map_set(host, "absent", value_new_none());
    value_map_set(host, "ratio", value_new_real(0.25));
    value_map_set(host, "on", value_new_bool(false));
    value_map_set(host, "name<&>", value_new_string("x & y"));
    mom_value *l = value_new_list();
    value_list_append(l, value_new_string(""));
    value_list_append(l, value_new_list());
    value_list_append(l, value_new_map());
    value_map_set(m, "host", host);
    value_map_set(m, "list", l);
    return m;
}

static void test_round_trips(void **state)
{
    (void)state;
    mom_value *v = sample_value();
    size_t len = 0;
    char *doc = xmlrpc_format_response(v, &len);
    assert_int_equal(len, strlen(doc));
    xmlrpc_response r;
    assert_int_equal(xmlrpc_parse_response(doc, len, &r, NULL), 0);
    assert_true(value_equal(v, r.value));
    xmlrpc_response_done(&r);
    mom_free(doc);

    mom_value *params = value_new_list();
    value_list_append(params, value_new_string("01-parameters"));
    value_list_append(params, mom_value_ref(v));
    doc = xmlrpc_format_call("setNamedPolicy", params, &len);
    xmlrpc_call c = parse_ok(doc);
    assert_string_equal(c.method, "setNamedPolicy");
    assert_true(value_equal(params, c.params));
    xmlrpc_call_done(&c);
    mom_free(doc);
    doc = xmlrpc_format_call("ping", NULL, NULL);
    c = parse_ok(doc);
    assert_int_equal(mom_value_len(c.params), 0);
    xmlrpc_call_done(&c);
    mom_free(doc);
    assert_null(xmlrpc_format_call(NULL, NULL, NULL));
    assert_null(xmlrpc_format_call("x", v, NULL)); /* params must be a LIST */
    mom_value_unref(params);
    mom_value_unref(v);

    doc = xmlrpc_format_fault(1, "<class 'Exception'>:method \"x\" is not supported", &len);
    assert_int_equal(xmlrpc_parse_response(doc, len, &r, NULL), 0);
    assert_true(r.fault);
    assert_int_equal(r.fault_code, 1);
    assert_string_equal(r.fault_string, "<class 'Exception'>:method \"x\" is not supported");
    xmlrpc_response_done(&r);
    mom_free(doc);
    doc = xmlrpc_format_fault(5000000000LL, NULL, &len);
    assert_int_equal(xmlrpc_parse_response(doc, len, &r, NULL), 0);
    assert_true(r.fault_code == 5000000000LL);
    assert_string_equal(r.fault_string, "");
    xmlrpc_response_done(&r);
    mom_free(doc);
}

/* Every allocation of parsing and writing may fail: the result is -ENOMEM
 * or NULL, never a crash or a leak (ASan/valgrind see leaks). */
static void test_alloc_failures(void **state)
{
    (void)state;
    mom_value *v = sample_value();
    char *ref = xmlrpc_format_response(v, NULL);
    bool done = false;
    for (long n = 1; !done && n < 10000; n++) {
        alloc_fail_at(n);
        char *doc = xmlrpc_format_response(v, NULL);
        alloc_fail_at(0);
        if (doc) {
            assert_string_equal(doc, ref);
            done = true;
        }
        mom_free(doc);
    }
    assert_true(done);

    mom_value *params = value_new_list();
    value_list_append(params, mom_value_ref(v));
    char *call = xmlrpc_format_call("m", params, NULL);
    done = false;
    for (long n = 1; !done && n < 10000; n++) {
        xmlrpc_call c = {NULL, NULL};
        char *err = NULL;
        alloc_fail_at(n);
        int r = xmlrpc_parse_call(call, strlen(call), &c, &err);
        alloc_fail_at(0);
        if (r == 0) {
            assert_true(value_equal(c.params, params));
            xmlrpc_call_done(&c);
            done = true;
        } else {
            assert_int_equal(r, -ENOMEM);
        }
        mom_free(err);
    }
    assert_true(done);
    done = false;
    for (long n = 1; !done && n < 10000; n++) {
        xmlrpc_response res;
        alloc_fail_at(n);
        int r = xmlrpc_parse_response(ref, strlen(ref), &res, NULL);
        alloc_fail_at(0);
        if (r == 0) {
            assert_true(value_equal(res.value, v));
            xmlrpc_response_done(&res);
            done = true;
        } else {
            assert_int_equal(r, -ENOMEM);
        }
    }
    assert_true(done);
    mom_free(call);
    mom_free(ref);
    mom_value_unref(params);
    mom_value_unref(v);
}

/* ---- the methods on an engine -------------------------------------------- */

static const mom_config_override engine_overrides[] = {
    {"main", "hypervisor-interface", "sim"}, {"main", "host-monitor-interval", "1"},
    {"main", "guest-manager-interval", "1"}, {"main", "guest-monitor-interval", "1"},
    {"main", "policy-engine-interval", "1"}, {"main", "controllers", "Balloon"},
    {"host", "collectors", "HostMemory"},    {"guest", "collectors", "GuestMemory, GuestBalloon"},
};

static mom_engine *new_engine(void)
{
    mom_config cfg;
    mom_config_init(&cfg);
    cfg.overrides = engine_overrides;
    cfg.n_overrides = sizeof(engine_overrides) / sizeof(engine_overrides[0]);
    mom_engine *e = NULL;
    assert_int_equal(mom_engine_new(&cfg, &e), 0);
    return e;
}

/* Run one call; returns the response (a value, or a fault). */
static xmlrpc_response call(mom_engine *e, const char *method, mom_value *params)
{
    size_t len = 0;
    char *req = xmlrpc_format_call(method, params, &len);
    mom_value_unref(params);
    assert_non_null(req);
    size_t rlen = 0;
    char *doc = dispatch_request(e, NULL, req, len, &rlen);
    mom_free(req);
    assert_non_null(doc);
    xmlrpc_response r;
    char *err = NULL;
    if (xmlrpc_parse_response(doc, rlen, &r, &err) != 0)
        fail_msg("bad response document: %s\n%s", err, doc);
    mom_free(doc);
    return r;
}

static mom_value *args(int n, ...)
{
    mom_value *l = value_new_list();
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *s = va_arg(ap, const char *);
        value_list_append(l, s ? value_new_string(s) : value_new_none());
    }
    va_end(ap);
    return l;
}

static void expect_result(mom_engine *e, const char *method, mom_value *params, mom_value_type type,
                          int b)
{
    xmlrpc_response r = call(e, method, params);
    if (r.fault)
        fail_msg("%s: fault %s", method, r.fault_string);
    assert_int_equal(mom_value_type_of(r.value), type);
    if (type == MOM_VALUE_BOOL)
        assert_int_equal(mom_value_bool(r.value), b);
    xmlrpc_response_done(&r);
}

static void expect_rpc_fault(mom_engine *e, const char *method, mom_value *params, const char *want)
{
    xmlrpc_response r = call(e, method, params);
    assert_true(r.fault);
    assert_int_equal(r.fault_code, DISPATCH_FAULT);
    if (!strstr(r.fault_string, want))
        fail_msg("fault '%s' lacks '%s'", r.fault_string, want);
    xmlrpc_response_done(&r);
}

static char *get_policy(mom_engine *e)
{
    xmlrpc_response r = call(e, "getPolicy", NULL);
    assert_false(r.fault);
    char *s = mom_strdup(mom_value_string(r.value));
    xmlrpc_response_done(&r);
    return s;
}

static void test_methods(void **state)
{
    (void)state;
    mom_engine *e = new_engine();

    /* Before the engine runs: ping is false and statistics are empty. */
    expect_result(e, "ping", NULL, MOM_VALUE_BOOL, 0);
    xmlrpc_response r = call(e, "getStatistics", NULL);
    assert_false(r.fault);
    assert_int_equal(mom_value_len(mom_value_get(r.value, "host")), 0);
    assert_int_equal(mom_value_len(mom_value_get(r.value, "guests")), 0);
    xmlrpc_response_done(&r);
    expect_result(e, "getActiveGuests", NULL, MOM_VALUE_LIST, 0);

    /* Policies. */
    char *p = get_policy(e);
    assert_string_equal(p, "0");
    mom_free(p);
    expect_result(e, "setPolicy", args(1, "(defvar a 1)"), MOM_VALUE_BOOL, 1);
    p = get_policy(e);
    assert_string_equal(p, "(defvar a 1)");
    mom_free(p);
    expect_result(e, "setPolicy", args(1, "(defvar (((("), MOM_VALUE_BOOL, 0);
    p = get_policy(e);
    assert_string_equal(p, "(defvar a 1)"); /* the running set stays */
    mom_free(p);
    expect_result(e, "setNamedPolicy", args(2, "01-parameters", "(defvar b 2)"), MOM_VALUE_BOOL, 1);
    p = get_policy(e);
    assert_string_equal(p, "(defvar b 2)\n(defvar a 1)");
    mom_free(p);
    r = call(e, "getNamedPolicies", NULL);
    assert_int_equal(mom_value_len(r.value), 2);
    assert_string_equal(mom_value_string(mom_value_get(r.value, "50_main_")), "(defvar a 1)");
    xmlrpc_response_done(&r);
    expect_result(e, "setNamedPolicy", args(2, "01-parameters", NULL), MOM_VALUE_BOOL, 1);
    expect_result(e, "setPolicy", args(1, NULL), MOM_VALUE_BOOL, 1);
    p = get_policy(e);
    assert_string_equal(p, "0");
    mom_free(p);
    /* Neither policy nor policy-dir: resetPolicies is nil. */
    expect_result(e, "resetPolicies", NULL, MOM_VALUE_NONE, 0);
    expect_result(e, "setVerbosity", args(1, "debug"), MOM_VALUE_BOOL, 1);
    mom_value *lvl = value_new_list();
    value_list_append(lvl, value_new_int(3));
    expect_result(e, "setVerbosity", lvl, MOM_VALUE_BOOL, 1);

    /* getControls: a struct; before the first policy cycle it is empty
     * apart from the host and guest maps. */
    r = call(e, "getControls", NULL);
    assert_int_equal(mom_value_type_of(r.value), MOM_VALUE_MAP);
    assert_non_null(mom_value_get(r.value, "host"));
    assert_non_null(mom_value_get(r.value, "guests"));
    xmlrpc_response_done(&r);

    /* Introspection. */
    r = call(e, "system.listMethods", NULL);
    assert_int_equal(mom_value_len(r.value), 13);
    for (size_t i = 1; i < mom_value_len(r.value); i++)
        assert_true(strcmp(mom_value_string(mom_value_at(r.value, i - 1)),
                           mom_value_string(mom_value_at(r.value, i))) < 0);
    xmlrpc_response_done(&r);
    r = call(e, "system.methodHelp", args(1, "setPolicy"));
    assert_non_null(strstr(mom_value_string(r.value), "policy"));
    xmlrpc_response_done(&r);
    r = call(e, "system.methodHelp", args(1, "nothing"));
    assert_string_equal(mom_value_string(r.value), "");
    xmlrpc_response_done(&r);
    r = call(e, "system.methodSignature", args(1, "ping"));
    assert_string_equal(mom_value_string(r.value), "signatures not supported");
    xmlrpc_response_done(&r);

    /* Faults, in Python's words. */
    expect_rpc_fault(e, "nothing", NULL, "<class 'Exception'>:method \"nothing\" is not supported");
    expect_rpc_fault(e, "ping", args(1, "x"),
                     "<class 'TypeError'>:ping() takes 0 positional arguments but 1 was given");
    expect_rpc_fault(e, "setPolicy", args(2, "a", "b"),
                     "setPolicy() takes 1 positional argument but 2 were given");
    expect_rpc_fault(e, "setNamedPolicy", args(1, "a"),
                     "setNamedPolicy() missing 1 required positional argument: 'name' and 'text'");
    mom_value *bad = value_new_list();
    value_list_append(bad, value_new_int(1));
    expect_rpc_fault(e, "setPolicy", bad, "setPolicy() argument 1 must be str or None, not int");
    bad = value_new_list();
    value_list_append(bad, value_new_none());
    value_list_append(bad, value_new_string("x"));
    expect_rpc_fault(e, "setNamedPolicy", bad, "argument 1 must be str, not NoneType");
    bad = value_new_list();
    value_list_append(bad, value_new_map());
    expect_rpc_fault(e, "setVerbosity", bad, "not dict");

    /* A document that is not a call is a fault too. */
    size_t rlen;
    char *doc = dispatch_request(e, NULL, "<oops", 5, &rlen);
    assert_int_equal(xmlrpc_parse_response(doc, rlen, &r, NULL), 0);
    assert_true(r.fault);
    assert_non_null(strstr(r.fault_string, "invalid XML-RPC request"));
    xmlrpc_response_done(&r);
    mom_free(doc);

    /* Running: ping turns true. */
    assert_int_equal(mom_engine_start(e), 0);
    expect_result(e, "ping", NULL, MOM_VALUE_BOOL, 1);
    mom_engine_free(e);
}

/* ---- the HTTP server ------------------------------------------------------ */

typedef struct server_env {
    mom_engine *e;
    conf *c;
    mlog log;
    rpcserver *s;
    char dir[64];
} server_env;

static void report_fail(mom_log_level level, const char *msg, void *ud)
{
    (void)level;
    (void)ud;
    fprintf(stderr, "config: %s\n", msg);
}

/* Start a server with [main] lines `extra`. */
static int start_server(server_env *env, const char *extra)
{
    char *text = mom_asprintf("[main]\n%s\n", extra);
    int r = conf_load_text("t.conf", text, strlen(text), NULL, 0, report_fail, NULL, &env->c);
    mom_free(text);
    assert_int_equal(r, 0);
    mlog_init(&env->log, NULL, NULL, MOM_LOG_DEBUG);
    return rpcserver_start(env->e, env->c, &env->log, &env->s);
}

static void stop_server(server_env *env)
{
    rpcserver_stop(env->s);
    env->s = NULL;
    conf_free(env->c);
    env->c = NULL;
}

static int setup_server(void **state)
{
    server_env *env = calloc(1, sizeof(*env));
    env->e = new_engine();
    snprintf(env->dir, sizeof(env->dir), "/tmp/mom-test-xmlrpc-XXXXXX");
    if (!mkdtemp(env->dir))
        return -1;
    *state = env;
    return 0;
}

static int teardown_server(void **state)
{
    server_env *env = *state;
    stop_server(env);
    mom_engine_free(env->e);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env->dir);
    if (system(cmd) != 0)
        return -1;
    free(env);
    return 0;
}

/* Send `req` to a TCP port or a unix socket path and read the whole reply
 * (the server closes: we send Connection: close). */
static char *exchange(int port, const char *path, const char *req, size_t len)
{
    int fd;
    if (path) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    } else {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    }
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    shutdown(fd, SHUT_WR);
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        ssize_t k = recv(fd, buf + n, cap - n - 1, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    close(fd);
    return buf;
}

static char *http_post(int port, const char *path, const char *url, const char *body)
{
    char *req = mom_asprintf("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                             url, strlen(body), body);
    char *reply = exchange(port, path, req, strlen(req));
    mom_free(req);
    return reply;
}

static int status_of(const char *reply)
{
    return strncmp(reply, "HTTP/1.1 ", 9) == 0 ? atoi(reply + 9) : -1;
}

static void test_server_tcp(void **state)
{
    server_env *env = *state;
    assert_int_equal(start_server(env, "rpc-port: 0"), 0);
    assert_non_null(env->s);
    int port = rpcserver_port(env->s);
    assert_true(port > 0);

    char *ping = xmlrpc_format_call("ping", NULL, NULL);
    char *reply = http_post(port, NULL, "/RPC2", ping);
    assert_int_equal(status_of(reply), 200);
    assert_non_null(strstr(reply, "Content-Type: text/xml"));
    assert_non_null(strstr(reply, "<boolean>0</boolean>")); /* engine not started */
    free(reply);
    /* TCP serves /RPC2 only. */
    reply = http_post(port, NULL, "/", ping);
    assert_int_equal(status_of(reply), 404);
    free(reply);
    const char *get = "GET /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    reply = exchange(port, NULL, get, strlen(get));
    assert_int_equal(status_of(reply), 501);
    assert_non_null(strstr(reply, "Allow: POST"));
    free(reply);
    const char *huge = "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n";
    reply = exchange(port, NULL, huge, strlen(huge));
    assert_int_equal(status_of(reply), 413);
    free(reply);
    /* Malformed XML is a fault with status 200. */
    reply = http_post(port, NULL, "/RPC2", "<methodCall>");
    assert_int_equal(status_of(reply), 200);
    assert_non_null(strstr(reply, "<name>faultCode</name>"));
    free(reply);
    mom_free(ping);
    stop_server(env);
}

static void test_server_unix(void **state)
{
    server_env *env = *state;
    char path[100], line[256];
    snprintf(path, sizeof(path), "%s/sub/mom.sock", env->dir);
    snprintf(line, sizeof(line), "rpc-port: %s\nrpc-socket-group: %d\nrpc-allow-uids: 0, %d", path,
             (int)getgid(), (int)getuid());
    assert_int_equal(start_server(env, line), 0);
    assert_int_equal(rpcserver_port(env->s), -1);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0660);
    assert_int_equal(st.st_gid, getgid());

    char *ping = xmlrpc_format_call("getPolicy", NULL, NULL);
    char *reply = http_post(0, path, "/", ping);
    assert_int_equal(status_of(reply), 200);
    assert_non_null(strstr(reply, "<string>0</string>"));
    free(reply);
    reply = http_post(0, path, "/RPC2", ping);
    assert_int_equal(status_of(reply), 200);
    free(reply);
    reply = http_post(0, path, "/other", ping);
    assert_int_equal(status_of(reply), 404);
    free(reply);
    mom_free(ping);
    stop_server(env);
    assert_int_equal(lstat(path, &st), -1); /* removed at stop */

    /* A stale socket is replaced; a file that is not a socket is not. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    close(fd);
    assert_int_equal(start_server(env, line), 0);
    stop_server(env);
    FILE *f = fopen(path, "w");
    fclose(f);
    assert_int_equal(start_server(env, line), -EEXIST);
    assert_null(env->s);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    stop_server(env);
}

static void test_server_config(void **state)
{
    server_env *env = *state;
    assert_int_equal(start_server(env, "rpc-port: -1"), 0);
    assert_null(env->s);
    stop_server(env);
    char line[256];
    snprintf(line, sizeof(line), "rpc-port: %s/x.sock\nrpc-socket-group: no-such-group-mom",
             env->dir);
    assert_int_equal(start_server(env, line), -EINVAL);
    assert_null(env->s);
    stop_server(env);
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    snprintf(line, sizeof(line), "rpc-port: %s", longpath);
    assert_int_equal(start_server(env, line), -ENAMETOOLONG);
    stop_server(env);
    /* A port in use. */
    assert_int_equal(start_server(env, "rpc-port: 0"), 0);
    char busy[64];
    snprintf(busy, sizeof(busy), "rpc-port: %d", rpcserver_port(env->s));
    server_env other = *env;
    other.s = NULL;
    assert_int_equal(start_server(&other, busy), -EADDRINUSE);
    assert_null(other.s);
    stop_server(&other);
    stop_server(env);
    rpcserver_stop(NULL);
    assert_int_equal(rpcserver_port(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_simple_call),
        cmocka_unit_test(test_parse_scalars),
        cmocka_unit_test(test_parse_containers),
        cmocka_unit_test(test_parse_depth),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_format_integers),
        cmocka_unit_test(test_format_escaping),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_methods),
        cmocka_unit_test_setup_teardown(test_server_tcp, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_server_unix, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_server_config, setup_server, teardown_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
