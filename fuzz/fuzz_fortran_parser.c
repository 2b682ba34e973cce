/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the Fortran-like parser, resolver and evaluator:
 * the input is a policy text, loaded as the file "fuzz.mom" next to a
 * small classic policy (so that cross-dialect calls and shared globals
 * are reachable) and, when the set loads, evaluated twice on a small fixed
 * snapshot (a host and two guests, one with an I/O-tune record) with a
 * small step budget.  Errors are expected; crashes, sanitizer reports and
 * leaks are what the fuzzer looks for.  The same text is then checked
 * with policy_check_files' reporting path through a one-file set.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/snapshot_json.h"
#include "lang/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LIM(t) "{\"total_bytes_sec\": " t ", \"read_bytes_sec\": 0, \"write_bytes_sec\": 0, " \
               "\"total_iops_sec\": 0, \"read_iops_sec\": 3, \"write_iops_sec\": null}"

static const char snap_text[] =
    "{\"host_props\": {\"interval\": 5},"
    " \"host\": [{\"mem_free\": 100, \"mem_available\": 1000, \"swap_total\": null,"
    "             \"ksm_run\": 1},"
    "            {\"mem_free\": 201, \"mem_available\": 1000, \"swap_total\": 2.5,"
    "             \"ksm_run\": 0}],"
    " \"guests\": ["
    "  {\"props\": {\"name\": \"vm1\", \"uuid\": \"u-1\", \"pid\": 7},"
    "   \"stats\": [{\"balloon_cur\": 10, \"mem_unused\": null, \"io_tune\": null},"
    "              {\"balloon_cur\": 30, \"mem_unused\": 4, \"io_tune\": [{\"name\": \"vda\","
    "               \"path\": \"/a\", \"guaranteed\": " LIM("0") ","
    "               \"maximum\": " LIM("1000.7") ", \"current\": " LIM("0") "}]}]},"
    "  {\"props\": {\"name\": \"vm2\", \"uuid\": \"u-2\"},"
    "   \"stats\": [{\"balloon_cur\": 11, \"mem_unused\": null, \"io_tune\": null}]}]}";

static const char classic_text[] = "(defvar shared 1)\n(def twice (x) (* 2 x))\n";

static void ignore(const char *line, int is_error, void *userdata)
{
    (void)line;
    (void)is_error;
    (void)userdata;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    snapshot *snap = NULL;
    char *err = NULL;
    if (snapshot_json_parse(snap_text, sizeof(snap_text) - 1, "fuzz", &snap, &err) < 0)
        abort();
    policy_opts o = { .step_limit = 20000, .depth_limit = 50 };
    policy_set *p = NULL;
    if (policy_set_new(&o, &p) < 0)
        abort();
    if (policy_set_set(p, "00-classic", classic_text, "00-classic.policy", &err) != 0)
        abort();
    if (policy_set_set(p, "fuzz", text, "fuzz.mom", &err) == 0) {
        /* Twice, so that save variables, per-entity memory and caches
         * are reused. */
        for (int i = 0; i < 2; i++) {
            controls *c = NULL;
            char *e2 = NULL;
            int r = policy_set_eval(p, snap, &c, NULL, &e2);
            if ((r == 0) != (c != NULL) || (r != 0 && !e2))
                abort();
            controls_free(c);
            mom_free(e2);
        }
    } else if (!err) {
        abort();
    }
    mom_free(err);
    policy_set_free(p);
    snapshot_unref(snap);
    free(text);
    (void)ignore;
    return 0;
}
