/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the JSON snapshot reader (core/snapshot_json.c) and of the
 * public dry-run API built on it (mom_policy_eval, mom_policy_check,
 * mom_value_to_json), with policy sets the placeholder policy store
 * accepts as well as the real dialects (empty files).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/snapshot_json.h"
#include "core/value.h"
#include "mom/policy.h"

/* ---- helpers ------------------------------------------------------------- */

static int parse(const char *text, snapshot **ret, char **ret_error)
{
    *ret = NULL;
    *ret_error = NULL;
    return snapshot_json_parse(text, strlen(text), NULL, ret, ret_error);
}

static const fval *slot(const snap_entity *e, size_t idx, const char *field)
{
    int id = fieldtab_find(e->fields, field);
    assert_true(id >= 0);
    assert_true(idx < e->n_samples);
    return &e->samples[idx]->f[id];
}

static void assert_int_slot(const snap_entity *e, size_t idx, const char *field, int64_t v)
{
    const fval *f = slot(e, idx, field);
    assert_int_equal(f->kind, FV_INT);
    assert_int_equal(f->u.i, v);
}

static char *fixture_path(const char *rel)
{
    const char *root = getenv("MOM_TEST_SRCDIR");
    char *p = mom_asprintf("%s/tests/fixtures/%s", root ? root : ".", rel);
    assert_non_null(p);
    return p;
}

/* ---- valid documents ------------------------------------------------------- */

static const char *const doc_basic =
    "{\"host\": [{\"mem_free\": 100, \"mem_available\": 1000},"
    "            {\"mem_free\": 201, \"mem_available\": 1000, \"swap_total\": null,"
    "             \"ratio\": 2.0, \"half\": 0.5, \"flag\": true, \"tag\": \"x\","
    "             \"list\": [1, 2.5, \"s\", null, false], \"obj\": {\"a\": 1}}],"
    " \"host_props\": {\"interval\": 5},"
    " \"guests\": [{\"props\": {\"name\": \"vm1\", \"uuid\": \"u-1\", \"pid\": 77, \"extra\": "
    "\"e\"},"
    "               \"stats\": [{\"balloon_cur\": 10}, {\"balloon_cur\": 21, \"mem_unused\": 4}]},"
    "              {\"props\": {\"name\": \"vm2\"}, \"stats\": [{\"balloon_cur\": 11}]}]}";

static void test_basic_shape(void **state)
{
    (void)state;
    snapshot *s;
    char *err;
    assert_int_equal(parse(doc_basic, &s, &err), 0);
    assert_null(err);
    assert_int_equal(s->host.kind, MOM_ENTITY_HOST);
    assert_string_equal(s->host.id, "host");
    assert_string_equal(s->host.name, "host");
    assert_int_equal(s->host.n_samples, 2);
    assert_ptr_equal(s->host_fields, s->host.fields);
    assert_int_equal(s->n_guests, 2);

    const snap_entity *g1 = &s->guests[0], *g2 = &s->guests[1];
    assert_int_equal(g1->kind, MOM_ENTITY_GUEST);
    assert_string_equal(g1->name, "vm1");
    assert_string_equal(g1->uuid, "u-1");
    assert_string_equal(g1->id, "u-1"); /* the uuid when given */
    assert_int_equal(g1->pid, 77);
    assert_string_equal(g2->name, "vm2");
    assert_null(g2->uuid);
    assert_string_equal(g2->id, "vm2"); /* else the name */
    assert_int_equal(g2->pid, 0);

    /* Props are kept as a map, unknown keys included. */
    assert_int_equal(mom_value_int(mom_value_get(s->host.props, "interval")), 5);
    assert_string_equal(mom_value_string(mom_value_get(g1->props, "name")), "vm1");
    assert_string_equal(mom_value_string(mom_value_get(g1->props, "extra")), "e");
    assert_int_equal(mom_value_int(mom_value_get(g1->props, "pid")), 77);
    assert_null(mom_value_get(g2->props, "uuid"));
    snapshot_unref(s);
}

static void test_value_kinds(void **state)
{
    (void)state;
    snapshot *s;
    char *err;
    assert_int_equal(parse(doc_basic, &s, &err), 0);
    const snap_entity *h = &s->host;
    assert_int_slot(h, 0, "mem_free", 100);
    assert_int_slot(h, 1, "mem_free", 201);
    /* Declared in the second sample only: absent in the first. */
    assert_int_equal(slot(h, 0, "ratio")->kind, FV_NONE);
    /* null is absent. */
    assert_int_equal(slot(h, 1, "swap_total")->kind, FV_NONE);
    /* A JSON real stays a real, even when integral. */
    assert_int_equal(slot(h, 1, "ratio")->kind, FV_REAL);
    assert_true(slot(h, 1, "ratio")->u.r == 2.0);
    assert_int_equal(slot(h, 1, "half")->kind, FV_REAL);
    assert_true(slot(h, 1, "half")->u.r == 0.5);
    /* Booleans, strings, lists and objects are values. */
    const fval *f = slot(h, 1, "flag");
    assert_int_equal(f->kind, FV_VALUE);
    assert_int_equal(mom_value_type_of(f->u.v), MOM_VALUE_BOOL);
    assert_true(mom_value_bool(f->u.v));
    f = slot(h, 1, "tag");
    assert_int_equal(f->kind, FV_VALUE);
    assert_string_equal(mom_value_string(f->u.v), "x");
    f = slot(h, 1, "list");
    assert_int_equal(f->kind, FV_VALUE);
    char *json = value_to_json(f->u.v);
    assert_string_equal(json, "[1, 2.5, \"s\", null, false]");
    mom_free(json);
    assert_int_equal(mom_value_type_of(mom_value_at(f->u.v, 0)), MOM_VALUE_INT);
    assert_int_equal(mom_value_type_of(mom_value_at(f->u.v, 1)), MOM_VALUE_REAL);
    f = slot(h, 1, "obj");
    assert_int_equal(mom_value_type_of(f->u.v), MOM_VALUE_MAP);
    assert_int_equal(mom_value_int(mom_value_get(f->u.v, "a")), 1);
    /* snap_entity_current reads the last sample. */
    const fval *cur = snap_entity_current(h, "mem_free");
    assert_non_null(cur);
    assert_int_equal(cur->u.i, 201);
    snapshot_unref(s);
}

static void test_declared_fields_per_entity(void **state)
{
    (void)state;
    snapshot *s;
    char *err;
    assert_int_equal(parse(doc_basic, &s, &err), 0);
    const snap_entity *h = &s->host, *g1 = &s->guests[0], *g2 = &s->guests[1];
    /* Every entity owns its table, and it is the one it uses. */
    assert_non_null(h->own_fields);
    assert_ptr_equal(h->fields, h->own_fields);
    assert_ptr_equal(g1->fields, g1->own_fields);
    assert_ptr_equal(g2->fields, g2->own_fields);
    assert_ptr_not_equal(g1->fields, g2->fields);
    /* Each declares exactly what its own samples carry, all optional. */
    assert_int_equal(h->fields->n, 9);
    assert_int_equal(h->fields->n_mandatory, 0);
    assert_int_equal(g1->fields->n, 2);
    assert_true(fieldtab_find(g1->fields, "mem_unused") >= 0);
    assert_int_equal(g2->fields->n, 1);
    assert_int_equal(fieldtab_find(g2->fields, "mem_unused"), -1);
    assert_int_equal(fieldtab_find(g1->fields, "mem_free"), -1);
    assert_null(snap_entity_current(g2, "mem_unused"));
    /* Order of first appearance. */
    assert_string_equal(h->fields->names[0], "mem_free");
    assert_string_equal(h->fields->names[2], "swap_total");
    /* Slots exist for every declared field in every sample. */
    assert_int_equal(g1->samples[0]->n, 2);
    assert_int_equal(slot(g1, 0, "mem_unused")->kind, FV_NONE);
    assert_int_slot(g1, 1, "mem_unused", 4);
    snapshot_unref(s);
}

static void test_minimal_document(void **state)
{
    (void)state;
    snapshot *s;
    char *err;
    /* host_props and guests are optional; a sample may be empty. */
    assert_int_equal(parse("{\"host\": [{}]}", &s, &err), 0);
    assert_int_equal(s->n_guests, 0);
    assert_int_equal(s->host.n_samples, 1);
    assert_int_equal(s->host.fields->n, 0);
    assert_int_equal(mom_value_type_of(s->host.props), MOM_VALUE_MAP);
    assert_int_equal(mom_value_len(s->host.props), 0);
    snapshot_unref(s);
}

static const char *const doc_io =
    "{\"host\": [{}], \"guests\": [{\"props\": {\"name\": \"g\"}, \"stats\": [{"
    "\"io_tune\": [{\"name\": \"vda\", \"path\": \"/d/a\","
    "  \"guaranteed\": {\"total_bytes_sec\": 1, \"read_bytes_sec\": 2, \"write_bytes_sec\": 3,"
    "                  \"total_iops_sec\": 4, \"read_iops_sec\": 5, \"write_iops_sec\": 6},"
    "  \"maximum\": {\"total_bytes_sec\": 1000.7, \"read_bytes_sec\": null, \"write_bytes_sec\": 0,"
    "               \"total_iops_sec\": 0, \"read_iops_sec\": 0, \"write_iops_sec\": 0},"
    "  \"current\": {\"total_bytes_sec\": 7, \"read_bytes_sec\": 0, \"write_bytes_sec\": 0,"
    "               \"total_iops_sec\": 0, \"read_iops_sec\": 0, \"write_iops_sec\": 8}},"
    " {\"name\": \"vdb\","
    "  \"guaranteed\": {\"total_bytes_sec\": 0, \"read_bytes_sec\": 0, \"write_bytes_sec\": 0,"
    "                  \"total_iops_sec\": 0, \"read_iops_sec\": 0, \"write_iops_sec\": 0},"
    "  \"maximum\": {\"total_bytes_sec\": 0, \"read_bytes_sec\": 0, \"write_bytes_sec\": 0,"
    "               \"total_iops_sec\": 0, \"read_iops_sec\": 0, \"write_iops_sec\": 0},"
    "  \"current\": {\"total_bytes_sec\": 0, \"read_bytes_sec\": 0, \"write_bytes_sec\": 0,"
    "               \"total_iops_sec\": 0, \"read_iops_sec\": 0, \"write_iops_sec\": 0}}],"
    "\"io_tune_current\": [{\"name\": \"vda\", \"path\": \"/d/a\", \"ioTune\":"
    "  {\"total_bytes_sec\": 7, \"read_bytes_sec\": 0, \"write_bytes_sec\": 0,"
    "   \"total_iops_sec\": 0, \"read_iops_sec\": 0, \"write_iops_sec\": 8}}]}]}]}";

static void test_io_tune_values(void **state)
{
    (void)state;
    snapshot *s;
    char *err;
    assert_int_equal(parse(doc_io, &s, &err), 0);
    const snap_entity *g = &s->guests[0];
    const fval *f = slot(g, 0, "io_tune");
    assert_int_equal(f->kind, FV_VALUE);
    assert_int_equal(mom_value_type_of(f->u.v), MOM_VALUE_LIST);
    assert_int_equal(mom_value_len(f->u.v), 2);
    const mom_value *r0 = mom_value_at(f->u.v, 0);
    assert_string_equal(mom_value_string(mom_value_get(r0, "name")), "vda");
    assert_string_equal(mom_value_string(mom_value_get(r0, "path")), "/d/a");
    const mom_value *mx = mom_value_get(r0, "maximum");
    assert_int_equal(mom_value_type_of(mom_value_get(mx, "total_bytes_sec")), MOM_VALUE_REAL);
    assert_true(mom_value_real(mom_value_get(mx, "total_bytes_sec")) == 1000.7);
    assert_int_equal(mom_value_type_of(mom_value_get(mx, "read_bytes_sec")), MOM_VALUE_NONE);
    assert_int_equal(
        mom_value_int(mom_value_get(mom_value_get(r0, "guaranteed"), "write_iops_sec")), 6);
    assert_int_equal(mom_value_int(mom_value_get(mom_value_get(r0, "current"), "write_iops_sec")),
                     8);
    /* A disk without a path. */
    assert_null(mom_value_get(mom_value_at(f->u.v, 1), "path"));
    f = slot(g, 0, "io_tune_current");
    assert_int_equal(mom_value_len(f->u.v), 1);
    const mom_value *c0 = mom_value_at(f->u.v, 0);
    assert_int_equal(mom_value_int(mom_value_get(mom_value_get(c0, "ioTune"), "total_bytes_sec")),
                     7);
    snapshot_unref(s);
}

/* ---- invalid documents -------------------------------------------------------- */

#define LIM6                                                                                       \
    "{\"total_bytes_sec\": 0, \"read_bytes_sec\": 0, \"write_bytes_sec\": 0, "                     \
    "\"total_iops_sec\": 0, \"read_iops_sec\": 0, \"write_iops_sec\": 0}"
#define GUEST_IO(io)                                                                               \
    "{\"host\": [{}], \"guests\": [{\"props\": {\"name\": \"g\"}, "                                \
    "\"stats\": [{\"x\": 1}, {\"io_tune\": " io "}]}]}"
#define GUEST_IOC(io)                                                                              \
    "{\"host\": [{}], \"guests\": [{\"props\": {\"name\": \"g\"}, "                                \
    "\"stats\": [{\"io_tune_current\": " io "}]}]}"
#define ONE_GUEST(g) "{\"host\": [{}], \"guests\": [" g "]}"

static const struct {
    const char *text;
    const char *error;
} bad_docs[] = {
    {"[]", "snapshot: the document must be an object, not a list"},
    {"{}", "snapshot: host: missing (a non-empty list of host samples is required)"},
    {"{\"host\": []}", "snapshot: host: must be a non-empty list of samples"},
    {"{\"host\": {}}", "snapshot: host: must be a non-empty list of samples"},
    {"{\"host\": [{}, 3]}", "snapshot: host[1]: must be an object (a sample), not an integer"},
    {"{\"host\": [{\"\": 1}]}", "snapshot: host[0]: a field name must not be empty"},
    {"{\"host\": [{}], \"time\": 1}", "snapshot: time: unknown key"},
    {"{\"host\": [{}], \"host_props\": []}", "snapshot: host_props: must be an object, not a list"},
    {"{\"host\": [{}], \"guests\": {}}",
     "snapshot: guests: must be a list of guests, not an object"},
    {"{\"host\": [{}], \"guests\": [{\"props\": {\"name\": \"a\"}, \"stats\": [{}]},"
     " {\"props\": {\"name\": \"b\"}, \"stats\": [{}]}, {\"props\": {\"name\": \"c\"}, \"stats\": "
     "[]}]}",
     "snapshot: guests[2].stats: must be a non-empty list of samples"},
    {ONE_GUEST("7"), "snapshot: guests[0]: must be an object with props and stats, not an integer"},
    {ONE_GUEST("{\"stats\": [{}]}"),
     "snapshot: guests[0].props: missing (a guest has props with at least a name)"},
    {ONE_GUEST("{\"props\": {\"name\": \"a\"}}"),
     "snapshot: guests[0].stats: missing (a guest needs a non-empty list of samples)"},
    {ONE_GUEST("{\"props\": {\"name\": \"a\"}, \"stats\": [{}], \"x\": 1}"),
     "snapshot: guests[0].x: unknown key"},
    {ONE_GUEST("{\"props\": [], \"stats\": [{}]}"),
     "snapshot: guests[0].props: must be an object, not a list"},
    {ONE_GUEST("{\"props\": {\"uuid\": \"u\"}, \"stats\": [{}]}"),
     "snapshot: guests[0].props.name: missing (every guest has a name)"},
    {ONE_GUEST("{\"props\": {\"name\": 5}, \"stats\": [{}]}"),
     "snapshot: guests[0].props.name: must be a non-empty string"},
    {ONE_GUEST("{\"props\": {\"name\": \"\"}, \"stats\": [{}]}"),
     "snapshot: guests[0].props.name: must be a non-empty string"},
    {ONE_GUEST("{\"props\": {\"name\": \"a\", \"uuid\": 3}, \"stats\": [{}]}"),
     "snapshot: guests[0].props.uuid: must be a non-empty string or null"},
    {ONE_GUEST("{\"props\": {\"name\": \"a\", \"pid\": -1}, \"stats\": [{}]}"),
     "snapshot: guests[0].props.pid: must be an integer >= 0 or null"},
    {ONE_GUEST("{\"props\": {\"name\": \"a\", \"pid\": \"7\"}, \"stats\": [{}]}"),
     "snapshot: guests[0].props.pid: must be an integer >= 0 or null"},
    {ONE_GUEST("{\"props\": {\"name\": \"a\"}, \"stats\": [{}, [] ]}"),
     "snapshot: guests[0].stats[1]: must be an object (a sample), not a list"},
    {"{\"host\": [{}], \"guests\": [{\"props\": {\"name\": \"a\"}, \"stats\": [{}]},"
     " {\"props\": {\"name\": \"a\"}, \"stats\": [{}]}]}",
     "snapshot: guests[1].props.name: duplicate guest name \"a\" (also guests[0])"},
    {"{\"host\": [{}], \"guests\": [{\"props\": {\"name\": \"a\", \"uuid\": \"u\"}, \"stats\": "
     "[{}]},"
     " {\"props\": {\"name\": \"b\", \"uuid\": \"u\"}, \"stats\": [{}]}]}",
     "snapshot: guests[1].props.uuid: duplicate guest id \"u\" (also guests[0])"},
    {GUEST_IO("{}"), "snapshot: guests[0].stats[1].io_tune: must be a list of disks or null, "
                     "not an object"},
    {GUEST_IO("[1]"), "snapshot: guests[0].stats[1].io_tune[0]: must be an object, not an integer"},
    {GUEST_IO("[{\"path\": \"p\", \"guaranteed\": " LIM6 ", \"maximum\": " LIM6
              ", \"current\": " LIM6 "}]"),
     "snapshot: guests[0].stats[1].io_tune[0].name: missing (every disk has a name)"},
    {GUEST_IO("[{\"name\": 1}]"),
     "snapshot: guests[0].stats[1].io_tune[0].name: must be a string, not an integer"},
    {GUEST_IO("[{\"name\": \"n\", \"path\": 2}]"),
     "snapshot: guests[0].stats[1].io_tune[0].path: must be a string or null, not an integer"},
    {GUEST_IO("[{\"name\": \"n\", \"guaranteed\": " LIM6 ", \"current\": " LIM6 "}]"),
     "snapshot: guests[0].stats[1].io_tune[0].maximum: missing"},
    {GUEST_IO("[{\"name\": \"n\", \"ioTune\": " LIM6 "}]"),
     "snapshot: guests[0].stats[1].io_tune[0].ioTune: unknown key"},
    {GUEST_IO("[{\"name\": \"n\", \"guaranteed\": " LIM6 ", \"maximum\": 5, \"current\": " LIM6
              "}]"),
     "snapshot: guests[0].stats[1].io_tune[0].maximum: must be an object with the six I/O "
     "limits, not an integer"},
    {GUEST_IO("[{\"name\": \"n\", \"guaranteed\": " LIM6 ", \"maximum\": {\"total_bytes_sec\": 1},"
              " \"current\": " LIM6 "}]"),
     "snapshot: guests[0].stats[1].io_tune[0].maximum.read_bytes_sec: missing (a limit set has "
     "all six limits)"},
    {GUEST_IO("[{\"name\": \"n\", \"guaranteed\": {\"total_bytes_sec\": \"1\"}}]"),
     "snapshot: guests[0].stats[1].io_tune[0].guaranteed.total_bytes_sec: must be a number or "
     "null, not a string"},
    {GUEST_IO("[{\"name\": \"n\", \"guaranteed\": {\"total_bytes\": 1}}]"),
     "snapshot: guests[0].stats[1].io_tune[0].guaranteed.total_bytes: unknown key"},
    {GUEST_IOC("[{\"name\": \"n\", \"path\": null}]"),
     "snapshot: guests[0].stats[0].io_tune_current[0].ioTune: missing"},
    {GUEST_IOC("[{\"name\": \"n\", \"ioTune\": " LIM6 ", \"maximum\": " LIM6 "}]"),
     "snapshot: guests[0].stats[0].io_tune_current[0].maximum: unknown key"},
    {GUEST_IOC("3"), "snapshot: guests[0].stats[0].io_tune_current: must be a list of disks or "
                     "null, not an integer"},
};

static void test_shape_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
        snapshot *s;
        char *err;
        int r = parse(bad_docs[i].text, &s, &err);
        if (r != -EBADMSG || !err || strcmp(err, bad_docs[i].error) != 0)
            fail_msg("document %zu: r=%d\n  got:  %s\n  want: %s", i, r, err ? err : "(null)",
                     bad_docs[i].error);
        assert_null(s);
        mom_free(err);
    }
}

static void test_syntax_errors(void **state)
{
    (void)state;
    snapshot *s;
    char *err;
    /* Line and column of the problem, from jansson. */
    assert_int_equal(parse("{\"host\": [{}],\n  \"guests\": [}\n", &s, &err), -EBADMSG);
    assert_non_null(err);
    assert_true(strncmp(err, "snapshot:2:", 11) == 0);
    mom_free(err);
    /* Duplicate keys are refused. */
    assert_int_equal(parse("{\"host\": [{\"a\": 1, \"a\": 2}]}", &s, &err), -EBADMSG);
    assert_non_null(strstr(err, "snapshot:1:"));
    assert_non_null(strstr(err, "duplicate"));
    mom_free(err);
    /* Empty text. */
    assert_int_equal(parse("", &s, &err), -EBADMSG);
    assert_true(strncmp(err, "snapshot:", 9) == 0);
    mom_free(err);
    /* The label names the document. */
    assert_int_equal(snapshot_json_parse("{", 1, "snap.json", &s, &err), -EBADMSG);
    assert_true(strncmp(err, "snap.json:1:", 12) == 0);
    mom_free(err);
    /* ret_error may be NULL. */
    assert_int_equal(snapshot_json_parse("{", 1, NULL, &s, NULL), -EBADMSG);
    assert_int_equal(snapshot_json_parse(NULL, 0, NULL, &s, NULL), -EINVAL);
}

static void test_load_file(void **state)
{
    (void)state;
    snapshot *s = NULL;
    char *err = NULL;
    char *path = fixture_path("snapshots/classic-10.1-balloon.json");
    assert_int_equal(snapshot_json_load_file(path, &s, &err), 0);
    assert_int_equal(s->n_guests, 2);
    assert_int_slot(&s->host, 0, "mem_free", 2400000);
    assert_int_slot(&s->host, 1, "mem_free", 2000000);
    assert_int_slot(&s->guests[0], 1, "mem_unused", 1300000);
    assert_int_equal(slot(&s->guests[1], 1, "mem_unused")->kind, FV_NONE);
    assert_string_equal(s->guests[1].id, "uuid-vm-b");
    snapshot_unref(s);
    mom_free(path);

    assert_int_equal(snapshot_json_load_file("/nonexistent/snap.json", &s, &err), -ENOENT);
    assert_string_equal(err, "/nonexistent/snap.json: No such file or directory");
    mom_free(err);
}

/* Every allocation of the reader may fail: it then says -ENOMEM, returns
 * nothing and leaks nothing; otherwise the answer is the normal one. */
static void test_alloc_failures(void **state)
{
    (void)state;
    const char *docs[] = {doc_basic, doc_io, bad_docs[9].text, bad_docs[22].text};
    for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
        snapshot *good;
        char *good_err;
        int want = parse(docs[d], &good, &good_err);
        snapshot_unref(good);
        mom_free(good_err);
        for (long n = 1;; n++) {
            snapshot *s = NULL;
            char *err = NULL;
            alloc_fail_at(n);
            int r = snapshot_json_parse(docs[d], strlen(docs[d]), NULL, &s, &err);
            long used = alloc_count();
            alloc_fail_at(0);
            if (r == -ENOMEM) {
                assert_null(s);
                assert_null(err);
                continue;
            }
            assert_int_equal(r, want);
            snapshot_unref(s);
            mom_free(err);
            if (used < n)
                break;
        }
    }
}

/* ---- the public dry run --------------------------------------------------------- */

typedef struct tmpfiles {
    char dir[64];
    char *paths[4];
    size_t n;
} tmpfiles;

static const char *tmp_policy(tmpfiles *t, const char *name, const char *text)
{
    if (!t->dir[0]) {
        strcpy(t->dir, "/tmp/mom-test-snapjson-XXXXXX");
        assert_non_null(mkdtemp(t->dir));
    }
    assert_true(t->n < 4);
    char *p = mom_asprintf("%s/%s", t->dir, name);
    FILE *f = fopen(p, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    t->paths[t->n++] = p;
    return p;
}

static void tmp_done(tmpfiles *t)
{
    for (size_t i = 0; i < t->n; i++) {
        unlink(t->paths[i]);
        mom_free(t->paths[i]);
    }
    if (t->dir[0])
        rmdir(t->dir);
}

static char *to_json(const mom_value *v)
{
    char *s = NULL;
    assert_int_equal(mom_value_to_json(v, &s), 0);
    return s;
}

static void test_eval_empty_set(void **state)
{
    (void)state;
    tmpfiles t = {0};
    const char *p = tmp_policy(&t, "empty.policy", "\n");
    mom_value *out = NULL;
    char *err = (char *)"untouched";
    int r = mom_policy_eval(NULL, &p, 1, doc_basic, strlen(doc_basic), 0, &out, &err);
    assert_int_equal(r, 0);
    assert_null(err);
    char *json = to_json(out);
    assert_string_equal(json,
                        "{\"ok\": true, \"host\": {}, \"guests\": {\"vm1\": {}, \"vm2\": {}}}");
    mom_free(json);
    mom_value_unref(out);

    /* With the results flag, an empty set has an empty results list. */
    r = mom_policy_eval(NULL, &p, 1, doc_basic, strlen(doc_basic), MOM_POLICY_EVAL_RESULTS, &out,
                        NULL);
    assert_int_equal(r, 0);
    json = to_json(out);
    assert_string_equal(json,
                        "{\"ok\": true, \"host\": {}, \"guests\": {\"vm1\": {}, \"vm2\": {}}, "
                        "\"results\": []}");
    mom_free(json);
    mom_value_unref(out);
    tmp_done(&t);
}

static void test_eval_io_tune_output(void **state)
{
    (void)state;
    tmpfiles t = {0};
    const char *p = tmp_policy(&t, "empty.policy", "");
    mom_value *out = NULL;
    assert_int_equal(mom_policy_eval(NULL, &p, 1, doc_io, strlen(doc_io), 0, &out, NULL), 0);
    const mom_value *g = mom_value_get(mom_value_get(out, "guests"), "g");
    const mom_value *io = mom_value_get(g, "io_tune");
    assert_non_null(io);
    char *json = to_json(io);
    assert_string_equal(
        json, "[{\"name\": \"vda\", \"path\": \"/d/a\", \"ioTune\": {\"total_bytes_sec\": 7, "
              "\"read_bytes_sec\": 0, \"write_bytes_sec\": 0, \"total_iops_sec\": 0, "
              "\"read_iops_sec\": 0, \"write_iops_sec\": 8}}, "
              "{\"name\": \"vdb\", \"path\": null, \"ioTune\": {\"total_bytes_sec\": 0, "
              "\"read_bytes_sec\": 0, \"write_bytes_sec\": 0, \"total_iops_sec\": 0, "
              "\"read_iops_sec\": 0, \"write_iops_sec\": 0}}]");
    mom_free(json);
    mom_value_unref(out);

    /* No I/O-tune data: no io_tune key. */
    assert_int_equal(mom_policy_eval(NULL, &p, 1, doc_basic, strlen(doc_basic), 0, &out, NULL), 0);
    assert_null(mom_value_get(mom_value_get(mom_value_get(out, "guests"), "vm1"), "io_tune"));
    mom_value_unref(out);
    tmp_done(&t);
}

static void test_eval_failures(void **state)
{
    (void)state;
    tmpfiles t = {0};
    const char *p = tmp_policy(&t, "empty.policy", "");
    mom_value *out = NULL;
    char *err = NULL;

    /* An invalid snapshot. */
    int r = mom_policy_eval(NULL, &p, 1, "{}", 2, 0, &out, &err);
    assert_int_equal(r, -EBADMSG);
    char *json = to_json(out);
    assert_string_equal(json, "{\"ok\": false, \"error\": \"snapshot: host: missing (a non-empty "
                              "list of host samples is required)\"}");
    assert_string_equal(err, "snapshot: host: missing (a non-empty list of host samples is "
                             "required)");
    mom_free(json);
    mom_free(err);
    mom_value_unref(out);

    /* A policy file that cannot be read. */
    const char *missing[] = {p, "/nonexistent/x.policy"};
    r = mom_policy_eval(NULL, missing, 2, doc_basic, strlen(doc_basic), 0, &out, &err);
    assert_int_equal(r, -ENOENT);
    assert_string_equal(err, "/nonexistent/x.policy:1:1: error: cannot read the policy: No such "
                             "file or directory");
    assert_false(mom_value_bool(mom_value_get(out, "ok")));
    assert_string_equal(mom_value_string(mom_value_get(out, "error")), err);
    mom_free(err);
    mom_value_unref(out);

    /* Two files that give the same policy name. */
    const char *dup[] = {p, p};
    r = mom_policy_eval(NULL, dup, 2, doc_basic, strlen(doc_basic), 0, &out, &err);
    assert_int_equal(r, MOM_E_POLICY);
    assert_non_null(strstr(err, "policy name 'empty' is also given by"));
    mom_value_unref(out);
    mom_free(err);

    /* Bad arguments leave the outputs alone. */
    out = NULL;
    err = NULL;
    assert_int_equal(mom_policy_eval(NULL, &p, 1, NULL, 0, 0, &out, &err), -EINVAL);
    assert_int_equal(mom_policy_eval(NULL, &p, 1, "{}", 2, 0x80, &out, &err), -EINVAL);
    assert_int_equal(mom_policy_eval(NULL, &p, 1, "{}", 2, 0, NULL, &err), -EINVAL);
    const char *nullpath[] = {NULL};
    assert_int_equal(mom_policy_eval(NULL, nullpath, 1, "{}", 2, 0, &out, &err), -EINVAL);
    assert_null(out);
    assert_null(err);
    assert_int_equal(mom_value_to_json(NULL, &err), -EINVAL);
    tmp_done(&t);
}

static void report_count(const char *line, bool is_error, void *userdata)
{
    int *n = userdata;
    assert_non_null(line);
    if (is_error)
        n[0]++;
    else
        n[1]++;
}

static void test_check(void **state)
{
    (void)state;
    tmpfiles t = {0};
    const char *p = tmp_policy(&t, "a.policy", "  \n");
    const char *q = tmp_policy(&t, "b.policy", "");
    int n[2] = {0, 0};
    const char *both[] = {p, q};
    assert_int_equal(mom_policy_check(NULL, both, 2, report_count, n), 0);
    assert_int_equal(n[0], 0);
    assert_int_equal(mom_policy_check(NULL, NULL, 0, report_count, n), 0);
    /* Every unreadable file is reported. */
    const char *bad[] = {p, "/nonexistent/x.mom", "/nonexistent/c.policy"};
    assert_int_equal(mom_policy_check(NULL, bad, 3, report_count, n), MOM_E_POLICY);
    assert_int_equal(n[0], 2);
    assert_int_equal(mom_policy_check(NULL, bad, 3, NULL, NULL), MOM_E_POLICY);
    /* Two files that give the same name. */
    const char *dup[] = {p, p};
    n[0] = 0;
    assert_int_equal(mom_policy_check(NULL, dup, 2, report_count, n), MOM_E_POLICY);
    assert_int_equal(n[0], 1);
    const char *nullpath[] = {p, NULL};
    assert_int_equal(mom_policy_check(NULL, nullpath, 2, NULL, NULL), -EINVAL);
    tmp_done(&t);
}

/* The dry run under allocation failure: -ENOMEM with nothing returned, or
 * the normal answer; no leak either way. */
static void test_eval_alloc_failures(void **state)
{
    (void)state;
    tmpfiles t = {0};
    const char *p = tmp_policy(&t, "empty.policy", "");
    for (long n = 1;; n++) {
        mom_value *out = NULL;
        char *err = NULL;
        alloc_fail_at(n);
        int r = mom_policy_eval(NULL, &p, 1, doc_io, strlen(doc_io), MOM_POLICY_EVAL_RESULTS, &out,
                                &err);
        long used = alloc_count();
        alloc_fail_at(0);
        if (r == -ENOMEM) {
            assert_null(out);
            assert_null(err);
        } else {
            assert_int_equal(r, 0);
            assert_true(mom_value_bool(mom_value_get(out, "ok")));
        }
        mom_value_unref(out);
        mom_free(err);
        if (r == 0 && used < n)
            break;
        assert_true(n < 100000);
    }
    tmp_done(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_shape),
        cmocka_unit_test(test_value_kinds),
        cmocka_unit_test(test_declared_fields_per_entity),
        cmocka_unit_test(test_minimal_document),
        cmocka_unit_test(test_io_tune_values),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_eval_empty_set),
        cmocka_unit_test(test_eval_io_tune_output),
        cmocka_unit_test(test_eval_failures),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_eval_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
