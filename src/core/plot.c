/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/plot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

struct plotfile {
    FILE *f;
    const fieldtab *fields;
    size_t *order; /* field ids in byte order of their names */
    char *header;
};

char *plot_dir_create(const char *base, const mlog *log)
{
    DIR *d = opendir(base);
    if (!d && errno == ENOENT && mkdir(base, 0755) == 0)
        d = opendir(base);
    if (!d) {
        mlog_msg(log, MOM_LOG_WARN, "mom.Plotter", "cannot use plot-dir %s: %s; plotting is off",
                 base, strerror(errno));
        return NULL;
    }
    int max = -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strncmp(n, "momplot-", 8) == 0 && strlen(n) == 11 && n[8] >= '0' && n[8] <= '9' &&
            n[9] >= '0' && n[9] <= '9' && n[10] >= '0' && n[10] <= '9') {
            int v = atoi(n + 8);
            if (v > max)
                max = v;
        }
    }
    closedir(d);
    if (max + 1 > 999) {
        mlog_msg(log, MOM_LOG_WARN, "mom.Plotter",
                 "plot-dir %s already holds momplot-999; plotting is off", base);
        return NULL;
    }
    char *dir = mom_asprintf("%s/momplot-%03d", base, max + 1);
    if (!dir)
        return NULL;
    if (mkdir(dir, 0755) < 0) {
        mlog_msg(log, MOM_LOG_WARN, "mom.Plotter", "cannot create %s: %s; plotting is off", dir,
                 strerror(errno));
        mom_free(dir);
        return NULL;
    }
    return dir;
}

static int cmp_field(const void *a, const void *b, void *tab)
{
    const fieldtab *t = tab;
    return strcmp(t->names[*(const size_t *)a], t->names[*(const size_t *)b]);
}

plotfile *plot_open(const char *dir, const char *name, const fieldtab *fields, const mlog *log)
{
    plotfile *p = mom_calloc(1, sizeof(*p));
    char *path = mom_asprintf("%s/%s.dat", dir, name);
    if (!p || !path)
        goto fail;
    /* a guest name with '/' would leave the directory */
    for (char *c = path + strlen(dir) + 1; *c; c++)
        if (*c == '/')
            *c = '_';
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || !(p->f = fdopen(fd, "a"))) {
        mlog_msg(log, MOM_LOG_WARN, "mom.Plotter", "cannot open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    p->fields = fields;
    p->order = mom_calloc(fields->n ? fields->n : 1, sizeof(size_t));
    if (!p->order)
        goto fail;
    for (size_t i = 0; i < fields->n; i++)
        p->order[i] = i;
    qsort_r(p->order, fields->n, sizeof(size_t), cmp_field, (void *)fields);
    size_t len = 7;
    for (size_t i = 0; i < fields->n; i++)
        len += strlen(fields->names[i]) + 2;
    p->header = mom_malloc(len + 2);
    if (!p->header)
        goto fail;
    char *w = p->header;
    w += sprintf(w, "# time");
    for (size_t i = 0; i < fields->n; i++)
        w += sprintf(w, "\t %s", fields->names[p->order[i]]);
    strcpy(w, "\n");
    mom_free(path);
    return p;
fail:
    mom_free(path);
    plot_close(p);
    return NULL;
}

void plot_close(plotfile *p)
{
    if (!p)
        return;
    if (p->f)
        fclose(p->f);
    mom_free(p->order);
    mom_free(p->header);
    mom_free(p);
}

void plot_write(plotfile *p, const sample *s)
{
    if (!p)
        return;
    fputs(p->header, p->f);
    if (s) {
        char num[48];
        value_format_real(s->time, num, sizeof(num), true);
        bool complete = true;
        for (size_t i = 0; i < p->fields->n; i++)
            if (s->f[p->order[i]].kind == FV_MISSING)
                complete = false;
        if (!complete) {
            fprintf(p->f, "# %s Incomplete data set\n", num);
        } else {
            fputs(num, p->f);
            for (size_t i = 0; i < p->fields->n; i++) {
                const fval *f = &s->f[p->order[i]];
                fputc('\t', p->f);
                if (f->kind == FV_INT) {
                    fprintf(p->f, "%lld", (long long)f->u.i);
                } else if (f->kind == FV_REAL) {
                    value_format_real(f->u.r, num, sizeof(num), true);
                    fputs(num, p->f);
                } else if (f->kind == FV_VALUE) {
                    char *t = value_to_python(f->u.v);
                    fputs(t ? t : "None", p->f);
                    mom_free(t);
                } else {
                    fputs("None", p->f);
                }
            }
            fputc('\n', p->f);
        }
    }
    fflush(p->f);
}
