/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plot files in the original's format (REFERENCE §8). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/plot.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_dir_numbering(void **state)
{
    (void)state;
    char base[] = "/tmp/mom-plot-XXXXXX";
    assert_non_null(mkdtemp(base));
    mlog log;
    mlog_init(&log, NULL, NULL, MOM_LOG_DEBUG);
    char *d0 = plot_dir_create(base, &log);
    assert_non_null(d0);
    assert_non_null(strstr(d0, "/momplot-000"));
    char other[300];
    snprintf(other, sizeof(other), "%s/momplot-041", base);
    mkdir(other, 0755);
    snprintf(other, sizeof(other), "%s/momplot-7", base); /* not three digits: ignored */
    mkdir(other, 0755);
    char *d1 = plot_dir_create(base, &log);
    assert_non_null(strstr(d1, "/momplot-042"));
    snprintf(other, sizeof(other), "%s/momplot-999", base);
    mkdir(other, 0755);
    assert_null(plot_dir_create(base, &log)); /* would exceed 999: plotting off */
    mom_free(d0);
    mom_free(d1);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

static void test_header_and_rows(void **state)
{
    (void)state;
    char base[] = "/tmp/mom-plot-XXXXXX";
    assert_non_null(mkdtemp(base));
    mlog log;
    mlog_init(&log, NULL, NULL, MOM_LOG_DEBUG);
    fieldtab *t = fieldtab_new();
    fieldtab_add(t, "mem_free", true);
    fieldtab_add(t, "balloon_cur", true);
    fieldtab_add(t, "swap_total", false);
    fieldtab_add(t, "io_tune", false);
    fieldtab_add(t, "avg", false);
    fieldtab_finish(t);
    plotfile *p = plot_open(base, "vm1", t, &log);
    assert_non_null(p);
    sample *s = sample_new(t->n);
    s->time = 1700000000.25;
    s->f[fieldtab_find(t, "mem_free")] = (fval){.kind = FV_INT, .u.i = 201};
    s->f[fieldtab_find(t, "balloon_cur")] = (fval){.kind = FV_INT, .u.i = 2097152};
    s->f[fieldtab_find(t, "swap_total")].kind = FV_NONE;
    s->f[fieldtab_find(t, "avg")] = (fval){.kind = FV_REAL, .u.r = 0.1375};
    mom_value *l = value_new_list(), *m = value_new_map();
    value_map_set(m, "name", value_new_string("vda"));
    value_map_set(m, "total_bytes_sec", value_new_int(0));
    value_list_append(l, m);
    fval_set_value(&s->f[fieldtab_find(t, "io_tune")], l);
    plot_write(p, s);
    plot_write(p, NULL); /* an incomplete collection: header only */
    s->f[fieldtab_find(t, "avg")].kind = FV_MISSING;
    plot_write(p, s);
    plot_close(p);
    char path[300];
    snprintf(path, sizeof(path), "%s/vm1.dat", base);
    const char *want =
        "# time\t avg\t balloon_cur\t io_tune\t mem_free\t swap_total\n"
        "1700000000.25\t0.1375\t2097152\t[{'name': 'vda', 'total_bytes_sec': 0}]\t201\tNone\n"
        "# time\t avg\t balloon_cur\t io_tune\t mem_free\t swap_total\n"
        "# time\t avg\t balloon_cur\t io_tune\t mem_free\t swap_total\n"
        "# 1700000000.25 Incomplete data set\n";
    assert_string_equal(slurp(path), want);
    sample_unref(s);
    fieldtab_free(t);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dir_numbering),
        cmocka_unit_test(test_header_and_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
