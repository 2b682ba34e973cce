/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momctl's reader of momd's plot files (REFERENCE.md §8), shared by
 * `momctl plot` (which draws them as SVG) and `momctl top --plot-dir`
 * (which shows their last rows), and the entry points of both commands.
 *
 * A plot directory is BASE/momplot-NNN holding HostMonitor.dat and one
 * <guest>.dat per guest.  Each file repeats a header line
 * "# time<TAB> name<TAB> name..." (the field list may change between
 * headers) and has one data row per complete sample: the epoch time, then
 * one TAB-separated value per header field.
 */
#ifndef MOMCTL_PLOT_H
#define MOMCTL_PLOT_H

#include <stddef.h>

/* One parsed .dat file, column by column. */
typedef struct plot_data {
    char *name;     /* "HostMonitor" or the guest's name (file name less .dat) */
    size_t ncols;   /* fields seen in any header, in first-seen order */
    char **cols;    /* their names */
    size_t nrows;   /* data rows read */
    double *time;   /* epoch seconds of each row */
    double **val;   /* val[col][row]; NAN where a row has no number (None,
                     * a list, a field its header did not have) */
    size_t cap;     /* rows allocated in time and in each val[col] */
    size_t skipped; /* malformed lines ignored */
} plot_data;

/* Everything in one plot directory: the host file first (NULL when there is
 * none), then the guests in byte order of their names. */
typedef struct plot_set {
    char *dir; /* the momplot-NNN directory read */
    plot_data *host;
    plot_data **guests;
    size_t nguests;
} plot_set;

/*
 * Read the plot file at `path`, naming it `name`.  Header lines may repeat
 * and change; lines starting with '#' that are not headers ("# T
 * Incomplete data set"), rows that do not match their header, and a last
 * line without its newline (a row being written) are skipped.  With `tail`
 * non-zero only about the last `tail` bytes are read (rows before the
 * first header in them are skipped).  Returns 0 and *ret
 * (plot_data_free()), -ENOMEM, or the negative errno of opening or
 * reading the file.
 */
int plot_data_read(const char *path, const char *name, size_t tail, plot_data **ret);

/* Free a plot_data (accepts NULL). */
void plot_data_free(plot_data *d);

/* The column of field `field` (d->nrows values), or NULL when no header of
 * the file named it. */
const double *plot_data_column(const plot_data *d, const char *field);

/*
 * Find the plot directory `dir` names: `dir` itself when it holds .dat
 * files, else its momplot-NNN entry with the highest number (a plot-dir
 * base).  Returns 0 and *ret_dir (free()), -ENODATA when there is none
 * (with `dir` readable), -ENOMEM, or the errno of opening `dir`.
 */
int plot_find_dir(const char *dir, char **ret_dir);

/* Read every .dat file of the momplot directory `dir` (as found by
 * plot_find_dir()), each whole or (`tail` non-zero) its last `tail` bytes.
 * Returns 0 and *ret (plot_set_free()), -ENODATA when the directory has no
 * .dat file, -ENOMEM, or the errno of a failed read. */
int plot_set_read(const char *dir, size_t tail, plot_set **ret);

/* Free a plot_set (accepts NULL). */
void plot_set_free(plot_set *s);

/* The "plot" subcommand (plot.c): momctl plot DIR [-o OUT.svg]. */
int momctl_plot_main(int argc, char **argv);

/* The "top" subcommand (top.c): a live view of the host and the guests. */
int momctl_top_main(int argc, char **argv);

#endif
