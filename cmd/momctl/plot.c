/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momctl plot: draw momd's plot files (REFERENCE.md §8) as one SVG picture.
 *
 *   momctl plot DIR [-o OUT.svg]
 *
 * DIR is a momplot-NNN directory, or a plot-dir base (then its newest
 * momplot-NNN is drawn).  The picture stacks one panel for the host (free
 * memory over time, with the total as a reference line) and one per guest
 * (balloon size with its bounds, guest free memory), all on the same time
 * axis, so that a person can see what the policy did and why.
 *
 * The SVG is written by hand.  Each series is one <path> with an id
 * ("host-mem_free", "guest-web1-balloon_cur"), a class, data-entity and
 * data-field attributes and a <title>, so that tests and scripts can find
 * it.  This file also holds the plot-file reader that top.c uses.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "momctl.h"
#include "plot.h"

/* ---- reading plot files --------------------------------------------------- */

void plot_data_free(plot_data *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->ncols; i++) {
        free(d->cols[i]);
        free(d->val[i]);
    }
    free(d->cols);
    free(d->val);
    free(d->time);
    free(d->name);
    free(d);
}

const double *plot_data_column(const plot_data *d, const char *field)
{
    for (size_t i = 0; i < d->ncols; i++)
        if (strcmp(d->cols[i], field) == 0)
            return d->val[i];
    return NULL;
}

/* The index of column `name` in *ret_idx, adding the column (NAN for the
 * rows read so far) when no header named it before. */
static int data_column_index(plot_data *d, const char *name, size_t *ret_idx)
{
    for (size_t i = 0; i < d->ncols; i++)
        if (strcmp(d->cols[i], name) == 0) {
            *ret_idx = i;
            return 0;
        }
    char **cols = realloc(d->cols, (d->ncols + 1) * sizeof(*cols));
    if (!cols)
        return -ENOMEM;
    d->cols = cols;
    double **val = realloc(d->val, (d->ncols + 1) * sizeof(*val));
    if (!val)
        return -ENOMEM;
    d->val = val;
    char *n = strdup(name);
    double *v = malloc((d->cap ? d->cap : 1) * sizeof(*v));
    if (!n || !v) {
        free(n);
        free(v);
        return -ENOMEM;
    }
    for (size_t r = 0; r < d->nrows; r++)
        v[r] = NAN;
    d->cols[d->ncols] = n;
    d->val[d->ncols] = v;
    *ret_idx = d->ncols++;
    return 0;
}

/* Make room for one more row in the time and every column. */
static int data_reserve_row(plot_data *d)
{
    if (d->nrows < d->cap)
        return 0;
    size_t cap = d->cap ? d->cap * 2 : 64;
    double *t = realloc(d->time, cap * sizeof(*t));
    if (!t)
        return -ENOMEM;
    d->time = t;
    for (size_t c = 0; c < d->ncols; c++) {
        double *v = realloc(d->val[c], cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        d->val[c] = v;
    }
    d->cap = cap;
    return 0;
}

/* The number in `tok`, or NAN when the whole token is not a finite number
 * ("None", a list in Python's notation, an empty token). */
static double parse_number(const char *tok)
{
    char *end;
    errno = 0;
    double x = strtod(tok, &end);
    if (end == tok || *end || errno || !isfinite(x))
        return NAN;
    return x;
}

/* The state of one file being read: the current header's columns. */
typedef struct reader {
    plot_data *d;
    size_t *map;    /* header position -> column index */
    size_t nmap;    /* fields in the current header; SIZE_MAX before one */
    char *last_hdr; /* the current header line, to skip repeated ones fast */
} reader;

/* header: "# time" { TAB [spaces] name } */
static int read_header(reader *r, char *line)
{
    if (r->last_hdr && strcmp(r->last_hdr, line) == 0)
        return 0;
    free(r->last_hdr);
    r->last_hdr = strdup(line);
    if (!r->last_hdr)
        return -ENOMEM;
    size_t n = 0;
    for (const char *c = line; *c; c++)
        n += *c == '\t';
    size_t *map = realloc(r->map, (n ? n : 1) * sizeof(*map));
    if (!map)
        return -ENOMEM;
    r->map = map;
    r->nmap = 0;
    char *save = NULL;
    strtok_r(line, "\t", &save); /* "# time" */
    for (char *tok; (tok = strtok_r(NULL, "\t", &save));) {
        tok += strspn(tok, " ");
        size_t len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\r'))
            tok[--len] = '\0';
        if (!len)
            continue;
        int rc = data_column_index(r->d, tok, &r->map[r->nmap]);
        if (rc < 0)
            return rc;
        r->nmap++;
    }
    return 0;
}

/* row: time { TAB value }, one value per field of the current header. */
static int read_row(reader *r, char *line)
{
    plot_data *d = r->d;
    if (r->nmap == SIZE_MAX) {
        d->skipped++; /* a row before any header */
        return 0;
    }
    size_t n = 0;
    for (const char *c = line; *c; c++)
        n += *c == '\t';
    if (n != r->nmap) {
        d->skipped++;
        return 0;
    }
    char *tab = strchr(line, '\t');
    if (tab)
        *tab = '\0';
    double t = parse_number(line);
    if (isnan(t)) {
        d->skipped++;
        return 0;
    }
    int rc = data_reserve_row(d);
    if (rc < 0)
        return rc;
    size_t row = d->nrows;
    d->time[row] = t;
    for (size_t c = 0; c < d->ncols; c++)
        d->val[c][row] = NAN;
    char *tok = tab ? tab + 1 : NULL;
    for (size_t i = 0; i < r->nmap; i++) {
        char *next = strchr(tok, '\t');
        if (next)
            *next = '\0';
        d->val[r->map[i]][row] = parse_number(tok);
        tok = next ? next + 1 : NULL;
    }
    d->nrows++;
    return 0;
}

int plot_data_read(const char *path, const char *name, size_t tail, plot_data **ret)
{
    int rc = 0;
    reader r = {.nmap = SIZE_MAX};
    char *line = NULL;
    size_t linecap = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    r.d = calloc(1, sizeof(*r.d));
    if (!r.d || !(r.d->name = strdup(name))) {
        rc = -ENOMEM;
        goto out;
    }
    ssize_t len;
    if (tail && fseeko(f, 0, SEEK_END) == 0) {
        off_t size = ftello(f);
        if (size > (off_t)tail && fseeko(f, size - (off_t)tail, SEEK_SET) == 0) {
            /* Skip the rest of the line the seek landed in. */
            if (getline(&line, &linecap, f) < 0)
                goto out_eof;
        } else {
            rewind(f);
        }
    }
    while ((len = getline(&line, &linecap, f)) > 0) {
        if (line[len - 1] != '\n')
            break; /* a row momd is still writing */
        line[--len] = '\0';
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (strncmp(line, "# time", 6) == 0 && (line[6] == '\t' || line[6] == '\0'))
            rc = read_header(&r, line);
        else if (line[0] == '#' || line[0] == '\0')
            continue; /* "# T Incomplete data set", blank lines */
        else
            rc = read_row(&r, line);
        if (rc < 0)
            goto out;
    }
out_eof:
    if (ferror(f))
        rc = -EIO;
out:
    free(line);
    free(r.map);
    free(r.last_hdr);
    fclose(f);
    if (rc < 0) {
        plot_data_free(r.d);
        return rc;
    }
    *ret = r.d;
    return 0;
}

/* NNN when `name` is "momplot-NNN" (three digits), else -1. */
static int momplot_number(const char *name)
{
    if (strncmp(name, "momplot-", 8) != 0 || strlen(name) != 11)
        return -1;
    for (int i = 8; i < 11; i++)
        if (name[i] < '0' || name[i] > '9')
            return -1;
    return atoi(name + 8);
}

static bool is_dat_name(const char *name)
{
    size_t len = strlen(name);
    return name[0] != '.' && len > 4 && strcmp(name + len - 4, ".dat") == 0;
}

int plot_find_dir(const char *dir, char **ret_dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    bool has_dat = false;
    int max = -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (is_dat_name(de->d_name))
            has_dat = true;
        int num = momplot_number(de->d_name);
        if (num > max)
            max = num;
    }
    closedir(d);
    if (!has_dat && max < 0)
        return -ENODATA;
    char *path = NULL;
    if (has_dat)
        path = strdup(dir);
    else if (asprintf(&path, "%s/momplot-%03d", dir, max) < 0)
        path = NULL;
    if (!path)
        return -ENOMEM;
    *ret_dir = path;
    return 0;
}

void plot_set_free(plot_set *s)
{
    if (!s)
        return;
    plot_data_free(s->host);
    for (size_t i = 0; i < s->nguests; i++)
        plot_data_free(s->guests[i]);
    free(s->guests);
    free(s->dir);
    free(s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int plot_set_read(const char *dir, size_t tail, plot_set **ret)
{
    int rc = 0;
    char **names = NULL;
    size_t n = 0;
    plot_set *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(dir)))
        goto nomem;
    DIR *d = opendir(dir);
    if (!d) {
        rc = -errno;
        goto fail;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_dat_name(de->d_name))
            continue;
        char **nn = realloc(names, (n + 1) * sizeof(*nn));
        if (nn)
            names = nn;
        if (!nn || !(names[n] = strdup(de->d_name))) {
            closedir(d);
            goto nomem;
        }
        n++;
    }
    closedir(d);
    if (n == 0) {
        rc = -ENODATA;
        goto fail;
    }
    qsort(names, n, sizeof(*names), cmp_str);
    s->guests = calloc(n, sizeof(*s->guests));
    if (!s->guests)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
            goto nomem;
        names[i][strlen(names[i]) - 4] = '\0';
        plot_data *pd = NULL;
        rc = plot_data_read(path, names[i], tail, &pd);
        free(path);
        if (rc < 0)
            goto fail;
        if (strcmp(names[i], "HostMonitor") == 0 && !s->host)
            s->host = pd;
        else
            s->guests[s->nguests++] = pd;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    *ret = s;
    return 0;
nomem:
    rc = -ENOMEM;
fail:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    plot_set_free(s);
    return rc;
}

/* ---- drawing -------------------------------------------------------------- */

/* How one series is drawn. */
typedef struct series_style {
    const char *field;
    const char *label; /* legend text */
    const char *colour;
    const char *dash; /* stroke-dasharray, or NULL for a solid line */
    double width;
} series_style;

/* Colours from the Okabe-Ito palette, which colour-blind readers can tell
 * apart; dashed and dotted lines are the bounds and references. */
static const series_style host_styles[] = {
    {"mem_available", "mem_available (total RAM)", "#555555", "8 5", 1.5},
    {"mem_free", "mem_free (free+buffers+cache)", "#0072B2", NULL, 2.0},
    {"mem_unused", "mem_unused (MemFree)", "#009E73", NULL, 2.0},
};
static const series_style guest_styles[] = {
    {"balloon_max", "balloon_max (upper bound)", "#D55E00", "8 5", 1.5},
    {"balloon_min", "balloon_min (lower bound)", "#E69F00", "2 3", 2.0},
    {"balloon_cur", "balloon_cur (balloon size)", "#0072B2", NULL, 2.0},
    {"mem_unused", "mem_unused (guest free)", "#009E73", NULL, 2.0},
};
#define N_HOST_STYLES (sizeof(host_styles) / sizeof(host_styles[0]))
#define N_GUEST_STYLES (sizeof(guest_styles) / sizeof(guest_styles[0]))

/* Geometry of the picture (pixels). */
enum {
    PIC_WIDTH = 1040,
    PIC_LEFT = 80,    /* room for the y tick labels and the y axis label */
    PIC_LEGEND = 250, /* room on the right for the legend */
    PIC_HEADING = 72, /* the heading above the first panel */
    PANEL_TITLE = 30, /* a panel's title above its plot area */
    PANEL_BELOW = 52, /* x tick labels, x axis label and a gap below */
};

/* One panel's plot area and the scales shared by the whole picture. */
typedef struct frame {
    double left, top, pw, ph; /* plot area */
    double t0, span;          /* time axis: epoch start, seconds shown */
    double xstep;             /* time tick step (s) */
    double ymax, ystep;       /* value axis, in `unit` */
    double unit_kib;          /* KiB per unit (1024 for MiB) */
} frame;

/* Write `s` with the XML special characters escaped, control characters
 * and bytes that are not UTF-8 replaced by '?', so that any guest name or
 * directory keeps the document well-formed. */
static void put_xml(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        bool ok = len > 0 && !(len == 2 && c < 0xC2);
        for (size_t i = 1; ok && i < len; i++)
            ok = (p[i] & 0xC0) == 0x80;
        if (!ok) {
            fputc('?', f);
            p++;
            continue;
        }
        if (len > 1) {
            fwrite(p, 1, len, f);
            p += len;
            continue;
        }
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(c < 0x20 || c == 0x7f ? '?' : (int)c, f); break;
        }
        p++;
    }
}

/* A step of 1, 2 or 5 times a power of ten that cuts [0, range] into
 * about `target` intervals. */
static double nice_step(double range, int target)
{
    if (!(range > 0))
        return 1;
    double raw = range / target;
    double mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    double m = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
    return m * mag;
}

/* Format tick value `v` with as many decimals as `step` needs. */
static void fmt_tick(char *buf, size_t size, double v, double step)
{
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6)
        dec = 6;
    if (fabs(v) < step * 1e-6)
        v = 0; /* no "-0" */
    snprintf(buf, size, "%.*f", dec, v);
}

static double x_of(const frame *fr, double t)
{
    return fr->left + (t - fr->t0) / fr->span * fr->pw;
}

static double y_of(const frame *fr, double kib)
{
    double y = fr->top + fr->ph - kib / fr->unit_kib / fr->ymax * fr->ph;
    return y < fr->top - 2 ? fr->top - 2 : y;
}

/* Emit one point of a path: a move after a gap, a line otherwise. */
static void path_point(FILE *f, double x, double y, bool *pen, size_t *seg)
{
    fprintf(f, "%s%.1f %.1f", *pen ? " L" : (*seg ? " M" : "M"), x, y);
    if (!*pen)
        *seg = 0;
    *pen = true;
    (*seg)++;
}

/* End a run of points; a lone point gets a tiny stroke so it shows. */
static void path_break(FILE *f, bool *pen, size_t *seg)
{
    if (*pen && *seg == 1)
        fputs(" h0.8", f);
    *pen = false;
}

/*
 * The path data of the values v[0..n) at times t[0..n): NAN values break
 * the line.  Long series are thinned per pixel column to their first,
 * lowest, highest and last point, which keeps every peak and dip visible
 * while a day of 5-second samples stays a few thousand points.
 */
static void put_path_data(FILE *f, const frame *fr, const double *t, const double *v, size_t n)
{
    bool pen = false;
    size_t seg = 0, emitted = 0;
    long bucket = LONG_MIN;
    size_t first = 0, lo = 0, hi = 0, last = 0;
    bool open = false;
    for (size_t i = 0; i <= n; i++) {
        bool gap = i == n || isnan(v[i]);
        long b = gap ? LONG_MIN : (long)floor(x_of(fr, t[i]));
        if (open && (gap || b != bucket)) {
            size_t idx[4] = {first, lo, hi, last};
            /* Sort the four indices (insertion sort) and drop repeats. */
            for (int a = 1; a < 4; a++)
                for (int c = a; c > 0 && idx[c - 1] > idx[c]; c--) {
                    size_t tmp = idx[c];
                    idx[c] = idx[c - 1];
                    idx[c - 1] = tmp;
                }
            for (int a = 0; a < 4; a++)
                if (a == 0 || idx[a] != idx[a - 1]) {
                    path_point(f, x_of(fr, t[idx[a]]), y_of(fr, v[idx[a]]), &pen, &seg);
                    emitted++;
                }
            open = false;
        }
        if (gap) {
            if (emitted)
                path_break(f, &pen, &seg);
            continue;
        }
        if (!open) {
            open = true;
            bucket = b;
            first = lo = hi = last = i;
        } else {
            last = i;
            if (v[i] < v[lo])
                lo = i;
            if (v[i] > v[hi])
                hi = i;
        }
    }
}

/* The id-safe form of a guest name: letters, digits, '_', '.', '-'. */
static char *id_part(const char *name)
{
    char *s = strdup(name);
    if (!s)
        return NULL;
    for (char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '.' || *c == '-'))
            *c = '_';
    return s;
}

/* Whether column `field` of `d` holds at least one number. */
static bool has_values(const plot_data *d, const char *field)
{
    const double *v = plot_data_column(d, field);
    for (size_t i = 0; v && i < d->nrows; i++)
        if (!isnan(v[i]))
            return true;
    return false;
}

/* The frame's y scale for the series of `d` drawn with `st`: MiB, or GiB
 * when the largest value is 2 GiB or more. */
static void fit_y(frame *fr, const plot_data *d, const series_style *st, size_t nst)
{
    double max = 0;
    for (size_t s = 0; s < nst; s++) {
        const double *v = plot_data_column(d, st[s].field);
        for (size_t i = 0; v && i < d->nrows; i++)
            if (!isnan(v[i]) && v[i] > max)
                max = v[i];
    }
    fr->unit_kib = max >= 2.0 * 1024 * 1024 ? 1024.0 * 1024 : 1024.0;
    double m = max / fr->unit_kib;
    fr->ystep = nice_step(m > 0 ? m : 1, 5);
    fr->ymax = ceil(m / fr->ystep - 1e-9) * fr->ystep;
    if (fr->ymax < m * 1.02) /* headroom, so that a flat top line stays visible */
        fr->ymax += fr->ystep;
    if (!(m > 0)) { /* nothing above zero: an axis from 0 to 1 */
        fr->ystep = 0.2;
        fr->ymax = 1;
    }
}

/* Axes, grid lines, tick labels and the frame of one plot area. */
static void put_axes(FILE *f, const frame *fr)
{
    const char *unit = fr->unit_kib > 1024 ? "GiB" : "MiB";
    char buf[64];
    fputs("<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">\n", f);
    for (double y = 0; y <= fr->ymax + fr->ystep * 1e-6; y += fr->ystep) {
        double py = fr->top + fr->ph - y / fr->ymax * fr->ph;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", fr->left, py,
                fr->left + fr->pw, py);
    }
    for (double x = 0; x <= fr->span + fr->xstep * 1e-6; x += fr->xstep) {
        double px = fr->left + x / fr->span * fr->pw;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px, fr->top, px,
                fr->top + fr->ph);
    }
    fputs("</g>\n", f);
    fprintf(f,
            "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"none\" stroke=\"#444444\" stroke-width=\"1\"/>\n",
            fr->left, fr->top, fr->pw, fr->ph);
    fputs("<g class=\"yticks\" font-size=\"11\" text-anchor=\"end\" fill=\"#333333\">\n", f);
    for (double y = 0; y <= fr->ymax + fr->ystep * 1e-6; y += fr->ystep) {
        double py = fr->top + fr->ph - y / fr->ymax * fr->ph;
        fmt_tick(buf, sizeof(buf), y, fr->ystep);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", fr->left - 6, py + 4, buf);
    }
    fputs("</g>\n", f);
    fputs("<g class=\"xticks\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333333\">\n", f);
    for (double x = 0; x <= fr->span + fr->xstep * 1e-6; x += fr->xstep) {
        double px = fr->left + x / fr->span * fr->pw;
        fmt_tick(buf, sizeof(buf), x, fr->xstep);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", px, fr->top + fr->ph + 15, buf);
    }
    fputs("</g>\n", f);
    double cy = fr->top + fr->ph / 2;
    fprintf(f,
            "<text class=\"ylabel\" x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 %.1f %.1f)\">memory (%s)</text>\n",
            fr->left - 52, cy, fr->left - 52, cy, unit);
    fprintf(f,
            "<text class=\"xlabel\" x=\"%.1f\" y=\"%.1f\" font-size=\"12\" "
            "text-anchor=\"middle\">time (s)</text>\n",
            fr->left + fr->pw / 2, fr->top + fr->ph + 32);
}

/*
 * One panel: title, axes, a path per series that has numbers, a legend.
 * `kind` is "host" or "guest"; `idname` the id-safe entity name (NULL for
 * the host); `title` the panel's title.
 */
static void put_panel(FILE *f, frame *fr, const plot_data *d, const char *kind, const char *idname,
                      const char *title, const series_style *st, size_t nst)
{
    fit_y(fr, d, st, nst);
    const char *unit = fr->unit_kib > 1024 ? "GiB" : "MiB";
    fprintf(f, "<g class=\"panel %s\" id=\"panel-%s%s%s\" data-entity=\"", kind, kind,
            idname ? "-" : "", idname ? idname : "");
    put_xml(f, d->name);
    fputs("\">\n", f);
    fprintf(f,
            "<text class=\"panel-title\" x=\"%.1f\" y=\"%.1f\" font-size=\"15\" "
            "font-weight=\"bold\">",
            fr->left, fr->top - 10);
    put_xml(f, title);
    fputs("</text>\n", f);
    put_axes(f, fr);

    /* Solid lines first, then the dashed bounds and references on top of
     * them: a bound that a series reaches stays visible. */
    bool any = false;
    for (size_t k = 0; k < 2 * nst; k++) {
        size_t s = k % nst;
        if ((k < nst) != !st[s].dash || !has_values(d, st[s].field))
            continue;
        any = true;
        fprintf(f, "<path id=\"%s-%s%s%s\" class=\"series %s %s\" data-entity=\"", kind,
                idname ? idname : "", idname ? "-" : "", st[s].field, kind, st[s].field);
        put_xml(f, d->name);
        fprintf(f,
                "\" data-field=\"%s\" data-unit=\"%s\" fill=\"none\" stroke=\"%s\" "
                "stroke-width=\"%.1f\" stroke-linejoin=\"round\"",
                st[s].field, unit, st[s].colour, st[s].width);
        if (st[s].dash)
            fprintf(f, " stroke-dasharray=\"%s\"", st[s].dash);
        fputs(" d=\"", f);
        put_path_data(f, fr, d->time, plot_data_column(d, st[s].field), d->nrows);
        fputs("\"><title>", f);
        put_xml(f, title);
        fprintf(f, ": %s (%s)</title></path>\n", st[s].label, unit);
    }
    if (!any)
        fprintf(f,
                "<text class=\"nodata\" x=\"%.1f\" y=\"%.1f\" font-size=\"14\" fill=\"#888888\" "
                "text-anchor=\"middle\">no data</text>\n",
                fr->left + fr->pw / 2, fr->top + fr->ph / 2);

    /* The legend lists every series of the kind, greyed out when the file
     * has no numbers for it, so that all panels read the same way. */
    double lx = fr->left + fr->pw + 16, ly = fr->top + 12;
    fputs("<g class=\"legend\" font-size=\"12\">\n", f);
    for (size_t s = 0; s < nst; s++, ly += 20) {
        bool have = has_values(d, st[s].field);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"%.1f\"%s%s%s/>\n",
                lx, ly, lx + 30, ly, have ? st[s].colour : "#cccccc", st[s].width,
                st[s].dash ? " stroke-dasharray=\"" : "", st[s].dash ? st[s].dash : "",
                st[s].dash ? "\"" : "");
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%s</text>\n", lx + 36, ly + 4,
                have ? "#222222" : "#aaaaaa", st[s].label);
    }
    fputs("</g>\n</g>\n", f);
}

/* Earliest and latest row time over the whole set; false when no row. */
static bool time_range(const plot_set *set, double *ret_t0, double *ret_t1)
{
    double t0 = INFINITY, t1 = -INFINITY;
    for (size_t i = 0; i <= set->nguests; i++) {
        const plot_data *d = i == set->nguests ? set->host : set->guests[i];
        for (size_t r = 0; d && r < d->nrows; r++) {
            if (d->time[r] < t0)
                t0 = d->time[r];
            if (d->time[r] > t1)
                t1 = d->time[r];
        }
    }
    *ret_t0 = t0;
    *ret_t1 = t1;
    return t0 <= t1;
}

/* Epoch time `t` as local "YYYY-MM-DD HH:MM:SS ZONE". */
static void fmt_time(char *buf, size_t size, double t)
{
    time_t tt = (time_t)floor(t);
    struct tm tm;
    if (!localtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm))
        snprintf(buf, size, "%.0f", t);
}

/* Write the whole picture of `set` to `f`. */
static void put_svg(FILE *f, const plot_set *set)
{
    double t0, t1;
    bool have_rows = time_range(set, &t0, &t1);
    if (!have_rows)
        t0 = t1 = 0;
    size_t npanels = set->nguests + (set->host ? 1 : 0);
    double ph = set->nguests > 8 ? 150 : 200;
    double block = PANEL_TITLE + ph + PANEL_BELOW;
    double height = PIC_HEADING + (double)npanels * block + 8;

    frame fr = {
        .left = PIC_LEFT,
        .pw = PIC_WIDTH - PIC_LEFT - PIC_LEGEND,
        .ph = ph,
        .t0 = t0,
        .span = t1 - t0 > 0 ? t1 - t0 : 1,
    };
    fr.xstep = nice_step(fr.span, 8);
    /* Show whole ticks: the axis ends on the tick after the last sample. */
    fr.span = ceil(fr.span / fr.xstep - 1e-9) * fr.xstep;

    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
            "height=\"%.0f\" viewBox=\"0 0 %d %.0f\" font-family=\"sans-serif\">\n",
            PIC_WIDTH, height, PIC_WIDTH, height);
    fputs("<title>MOM plot: ", f);
    put_xml(f, set->dir);
    fputs("</title>\n", f);
    fprintf(f, "<rect width=\"%d\" height=\"%.0f\" fill=\"#ffffff\"/>\n", PIC_WIDTH, height);

    fputs("<text class=\"heading\" x=\"20\" y=\"28\" font-size=\"18\" font-weight=\"bold\">"
          "MOM plot: ",
          f);
    put_xml(f, set->dir);
    fputs("</text>\n<text class=\"subheading\" x=\"20\" y=\"50\" font-size=\"13\" "
          "fill=\"#333333\">",
          f);
    if (have_rows) {
        char a[64], b[64];
        fmt_time(a, sizeof(a), t0);
        fmt_time(b, sizeof(b), t1);
        fprintf(f, "%s to %s (%.0f s); ", a, b, t1 - t0);
    } else {
        fputs("no samples yet; ", f);
    }
    fprintf(f, "%s and %zu guest%s; time in seconds since the first sample</text>\n",
            set->host ? "host" : "no host file", set->nguests, set->nguests == 1 ? "" : "s");

    double top = PIC_HEADING;
    if (set->host) {
        fr.top = top + PANEL_TITLE;
        put_panel(f, &fr, set->host, "host", NULL, "Host", host_styles, N_HOST_STYLES);
        top += block;
    }
    char **ids = calloc(set->nguests ? set->nguests : 1, sizeof(*ids));
    for (size_t g = 0; g < set->nguests; g++, top += block) {
        const plot_data *d = set->guests[g];
        char *id = id_part(d->name);
        /* Distinct names that map to the same id get a number. */
        for (size_t k = 0; id && ids && k < g; k++)
            if (ids[k] && strcmp(ids[k], id) == 0) {
                char *more = NULL;
                if (asprintf(&more, "%s-%zu", id, g + 1) < 0)
                    more = NULL;
                free(id);
                id = more;
                k = (size_t)-1; /* check again from the start */
            }
        char *title = NULL;
        if (asprintf(&title, "Guest %s", d->name) < 0)
            title = NULL;
        fr.top = top + PANEL_TITLE;
        put_panel(f, &fr, d, "guest", id ? id : "guest", title ? title : d->name, guest_styles,
                  N_GUEST_STYLES);
        free(title);
        if (ids)
            ids[g] = id;
        else
            free(id);
    }
    for (size_t g = 0; ids && g < set->nguests; g++)
        free(ids[g]);
    free(ids);
    fputs("</svg>\n", f);
}

/* ---- the command -------------------------------------------------------------- */

static void plot_help(FILE *f)
{
    fprintf(f, "Usage: momctl plot DIR [-o OUT.svg]\n"
               "\n"
               "Draw momd's plot files as an SVG picture: one panel for the host (free\n"
               "memory, with the total as a dashed line) and one per guest (balloon size\n"
               "with its bounds, guest free memory), on a common time axis.\n"
               "\n"
               "DIR is a momplot-NNN directory, or a plot-dir (its newest momplot-NNN is\n"
               "drawn).\n"
               "\n"
               "Options:\n"
               "  -o, --output FILE  write the picture to FILE (default: standard output)\n"
               "  -h, --help         show this help\n"
               "\n"
               "Exit status: 0 success, 1 no readable plot files, 2 wrong usage.\n");
}

int momctl_plot_main(int argc, char **argv)
{
    static const char cmd[] = "momctl plot";
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': plot_help(stdout); return MOMCTL_EXIT_OK;
        case ':': return momctl_usage_error(cmd, "option '%s' needs an argument", argv[optind - 1]);
        default:
            if (optopt)
                return momctl_usage_error(cmd, "unknown option '-%c'", optopt);
            return momctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return momctl_usage_error(cmd, "no plot directory given");
    if (optind + 1 < argc)
        return momctl_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    if (out && !*out)
        return momctl_usage_error(cmd, "empty output file name");
    const char *arg = argv[optind];

    char *dir = NULL;
    int rc = plot_find_dir(arg, &dir);
    if (rc == -ENODATA) {
        fprintf(stderr, "%s: %s: no plot files (no .dat file and no momplot-NNN directory)\n", cmd,
                arg);
        return MOMCTL_EXIT_FAIL;
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s: %s\n", cmd, arg, strerror(-rc));
        return MOMCTL_EXIT_FAIL;
    }
    plot_set *set = NULL;
    rc = plot_set_read(dir, 0, &set);
    if (rc < 0) {
        if (rc == -ENODATA)
            fprintf(stderr, "%s: %s: no .dat plot files\n", cmd, dir);
        else
            fprintf(stderr, "%s: %s: %s\n", cmd, dir, strerror(-rc));
        free(dir);
        return MOMCTL_EXIT_FAIL;
    }
    free(dir);

    FILE *f = stdout;
    if (out && strcmp(out, "-") != 0) {
        f = fopen(out, "we");
        if (!f) {
            fprintf(stderr, "%s: %s: %s\n", cmd, out, strerror(errno));
            plot_set_free(set);
            return MOMCTL_EXIT_FAIL;
        }
    }
    put_svg(f, set);
    plot_set_free(set);
    int status = MOMCTL_EXIT_OK;
    if (f != stdout) {
        if (ferror(f) | fclose(f)) {
            fprintf(stderr, "%s: %s: write failed\n", cmd, out);
            status = MOMCTL_EXIT_FAIL;
        }
    } else if (fflush(f) != 0 || ferror(f)) {
        fprintf(stderr, "%s: standard output: write failed\n", cmd);
        status = MOMCTL_EXIT_FAIL;
    }
    return status;
}
