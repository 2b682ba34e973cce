/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momctl top: a live view of the host and every guest, like top(1).
 *
 *   momctl top [--socket PATH | --port N] [--interval S] [--once]
 *   momctl top --plot-dir DIR [--interval S] [--once]
 *
 * Each frame shows the host's memory (total, free with its share, unused,
 * swap), memory pressure (PSI), the KSM state, and one row per guest: the
 * balloon's size, bounds and last target, the guest's free memory, and how
 * the balloon moved since the previous frame.  The data comes from momd
 * over RPC (getStatistics, and getControls when the server has it), or
 * from the newest rows of momd's plot files.
 *
 * Drawing uses plain ANSI escape codes (cursor home, clear to end of line
 * and of screen), so it works over ssh on any terminal without curses.
 * `q` or Ctrl-C quits; the terminal is switched to non-canonical input
 * only when standard input is a terminal, and restored on every way out.
 * --once prints a single frame with no escape codes, for scripts and tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "momctl.h"
#include "mom/mom.h"
#include "plot.h"
#include "rpc.h"

/* Bytes read from the end of each plot file per frame: several rows even
 * for hosts with many fields, without re-reading a day of history. */
#define TOP_PLOT_TAIL (64u * 1024u)

/* ---- one frame of data ------------------------------------------------------ */

/* Host values (KiB unless noted; NAN when unknown). */
typedef struct top_host {
    double mem_available, mem_free, mem_unused;
    double swap_total, swap_usage;
    double psi_some10, psi_full10; /* % */
    double ksm_run, ksm_pages_sharing, ksm_pages_shared, ksm_pages_to_scan, ksmd_cpu;
} top_host;

typedef struct top_guest {
    char *name;
    double balloon_cur, balloon_max, balloon_min, target;
    double mem_unused, mem_available, swap_usage;
    double time; /* sample time (plot files only), else NAN */
} top_guest;

typedef struct top_frame {
    bool have_host;
    top_host host;
    top_guest *guests;
    size_t nguests;
    double time;     /* epoch time the data is from */
    char error[512]; /* why there is no data, or "" */
} top_frame;

/* Where frames come from and what the last one showed. */
typedef struct top_state {
    const char *socket; /* RPC: unix socket, or NULL for TCP */
    int port;           /* RPC: TCP port, or -1 */
    double timeout;     /* RPC: seconds per call */
    bool controls;      /* RPC: momd answered getControls (tried once) */
    bool controls_tried;
    const char *plot_arg; /* plot files: the directory given, or NULL */
    double interval;      /* seconds between frames */
    top_guest *prev;      /* the previous frame's guests, to show changes */
    size_t nprev;
} top_state;

/* The number a value holds, NAN for anything else (None, a string). */
static double value_number(const mom_value *v)
{
    if (!v)
        return NAN;
    switch (mom_value_type_of(v)) {
    case MOM_VALUE_INT: return (double)mom_value_int(v);
    case MOM_VALUE_REAL: return mom_value_real(v);
    case MOM_VALUE_BOOL: return mom_value_bool(v) ? 1 : 0;
    default: return NAN;
    }
}

/* A field getter: the value of `field` in `src`, or NAN. */
typedef double (*field_fn)(const void *src, const char *field);

static double map_field(const void *src, const char *field)
{
    const mom_value *m = src;
    if (!m || mom_value_type_of(m) != MOM_VALUE_MAP)
        return NAN;
    return value_number(mom_value_get(m, field));
}

static double plot_field(const void *src, const char *field)
{
    const plot_data *d = src;
    const double *v = plot_data_column(d, field);
    return v && d->nrows ? v[d->nrows - 1] : NAN;
}

static void fill_host(top_host *h, field_fn get, const void *src)
{
    h->mem_available = get(src, "mem_available");
    h->mem_free = get(src, "mem_free");
    h->mem_unused = get(src, "mem_unused");
    h->swap_total = get(src, "swap_total");
    h->swap_usage = get(src, "swap_usage");
    h->psi_some10 = get(src, "psi_mem_some_avg10");
    h->psi_full10 = get(src, "psi_mem_full_avg10");
    h->ksm_run = get(src, "ksm_run");
    h->ksm_pages_sharing = get(src, "ksm_pages_sharing");
    h->ksm_pages_shared = get(src, "ksm_pages_shared");
    h->ksm_pages_to_scan = get(src, "ksm_pages_to_scan");
    h->ksmd_cpu = get(src, "ksmd_cpu_usage");
}

/* Fill guest `g` named `name`; 0 or -ENOMEM. */
static int fill_guest(top_guest *g, const char *name, field_fn get, const void *src)
{
    g->name = strdup(name);
    if (!g->name)
        return -ENOMEM;
    g->balloon_cur = get(src, "balloon_cur");
    g->balloon_max = get(src, "balloon_max");
    g->balloon_min = get(src, "balloon_min");
    g->mem_unused = get(src, "mem_unused");
    g->mem_available = get(src, "mem_available");
    g->swap_usage = get(src, "swap_usage");
    g->target = NAN;
    g->time = NAN;
    return 0;
}

static void free_guests(top_guest *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(g[i].name);
    free(g);
}

static void frame_done(top_frame *fr)
{
    free_guests(fr->guests, fr->nguests);
    memset(fr, 0, sizeof(*fr));
}

static int cmp_guest(const void *a, const void *b)
{
    return strcmp(((const top_guest *)a)->name, ((const top_guest *)b)->name);
}

/*
 * The last balloon targets, from getControls when momd offers it.  The
 * reply is read as {"guests": {NAME: {"balloon_target": N, ...}}}; a momd
 * without the method answers with a fault once and is not asked again.
 */
static void rpc_targets(top_state *st, top_frame *fr)
{
    if (st->controls_tried && !st->controls)
        return;
    mom_value *res = NULL;
    char why[256];
    int rc = momctl_rpc_call(st->socket, st->port, st->timeout, "getControls", NULL, &res, why,
                             sizeof(why));
    if (!st->controls_tried) {
        st->controls_tried = true;
        st->controls = rc == 0;
    }
    if (rc < 0)
        return;
    const mom_value *guests = mom_value_get(res, "guests");
    if (guests && mom_value_type_of(guests) == MOM_VALUE_MAP)
        for (size_t i = 0; i < fr->nguests; i++)
            fr->guests[i].target =
                map_field(mom_value_get(guests, fr->guests[i].name), "balloon_target");
    mom_value_unref(res);
}

/* A frame from momd's getStatistics.  On failure fr->error says why. */
static int frame_from_rpc(top_state *st, top_frame *fr)
{
    mom_value *stats = NULL;
    char why[400];
    fr->time = (double)time(NULL);
    int rc = momctl_rpc_call(st->socket, st->port, st->timeout, "getStatistics", NULL, &stats, why,
                             sizeof(why));
    if (rc < 0) {
        snprintf(fr->error, sizeof(fr->error), "cannot get statistics from momd at %s: %s",
                 st->socket ? st->socket : "localhost", why);
        return rc;
    }
    const mom_value *host = mom_value_get(stats, "host");
    const mom_value *guests = mom_value_get(stats, "guests");
    if (host && mom_value_type_of(host) == MOM_VALUE_MAP && mom_value_len(host) > 0) {
        fr->have_host = true;
        fill_host(&fr->host, map_field, host);
    }
    size_t n = guests && mom_value_type_of(guests) == MOM_VALUE_MAP ? mom_value_len(guests) : 0;
    fr->guests = calloc(n ? n : 1, sizeof(*fr->guests));
    if (!fr->guests) {
        mom_value_unref(stats);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        rc = fill_guest(&fr->guests[i], mom_value_key_at(guests, i), map_field,
                        mom_value_at(guests, i));
        if (rc < 0) {
            mom_value_unref(stats);
            return rc;
        }
        fr->nguests++;
    }
    mom_value_unref(stats);
    qsort(fr->guests, fr->nguests, sizeof(*fr->guests), cmp_guest);
    rpc_targets(st, fr);
    return 0;
}

/* The median time between the host's rows, or 0 when unknown. */
static double row_interval(const plot_data *d)
{
    if (!d || d->nrows < 2)
        return 0;
    size_t n = d->nrows - 1;
    double *dt = malloc(n * sizeof(*dt));
    if (!dt)
        return 0;
    for (size_t i = 0; i < n; i++)
        dt[i] = d->time[i + 1] - d->time[i];
    for (size_t i = 1; i < n; i++) /* insertion sort: a few hundred rows at most */
        for (size_t j = i; j > 0 && dt[j - 1] > dt[j]; j--) {
            double t = dt[j];
            dt[j] = dt[j - 1];
            dt[j - 1] = t;
        }
    double m = dt[n / 2];
    free(dt);
    return m;
}

/*
 * A frame from the last rows of the newest plot files.  Guests whose last
 * row is much older than the newest row anywhere have gone away and are
 * left out.  Sets *ret_interval to the host's sampling interval when it
 * can tell.
 */
static int frame_from_plot(top_state *st, top_frame *fr, double *ret_interval)
{
    char *dir = NULL;
    plot_set *set = NULL;
    int rc = plot_find_dir(st->plot_arg, &dir);
    if (rc == 0)
        rc = plot_set_read(dir, TOP_PLOT_TAIL, &set);
    if (rc < 0) {
        snprintf(fr->error, sizeof(fr->error), "%s: %s", dir ? dir : st->plot_arg,
                 rc == -ENODATA ? "no plot files" : strerror(-rc));
        free(dir);
        return rc;
    }
    free(dir);
    double newest = -INFINITY;
    if (set->host && set->host->nrows) {
        fr->have_host = true;
        fill_host(&fr->host, plot_field, set->host);
        newest = set->host->time[set->host->nrows - 1];
    }
    for (size_t i = 0; i < set->nguests; i++)
        if (set->guests[i]->nrows && set->guests[i]->time[set->guests[i]->nrows - 1] > newest)
            newest = set->guests[i]->time[set->guests[i]->nrows - 1];
    double iv = row_interval(set->host);
    if (ret_interval)
        *ret_interval = iv;
    double stale = 5 * (iv > 0 ? iv : 5) + 10;
    fr->guests = calloc(set->nguests ? set->nguests : 1, sizeof(*fr->guests));
    if (!fr->guests) {
        plot_set_free(set);
        return -ENOMEM;
    }
    for (size_t i = 0; i < set->nguests; i++) {
        const plot_data *d = set->guests[i];
        if (!d->nrows || d->time[d->nrows - 1] < newest - stale)
            continue;
        rc = fill_guest(&fr->guests[fr->nguests], d->name, plot_field, d);
        if (rc < 0) {
            plot_set_free(set);
            return rc;
        }
        fr->guests[fr->nguests++].time = d->time[d->nrows - 1];
    }
    fr->time = isfinite(newest) ? newest : (double)time(NULL);
    plot_set_free(set);
    return 0;
}

/* ---- drawing a frame ------------------------------------------------------ */

/* The lines of one frame, kept so that they can be cut to the terminal. */
typedef struct screen {
    char **lines;
    size_t n;
} screen;

static void scr_add(screen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void scr_add(screen *s, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (r < 0)
        return;
    char **l = realloc(s->lines, (s->n + 1) * sizeof(*l));
    if (!l) {
        free(line);
        return;
    }
    s->lines = l;
    s->lines[s->n++] = line;
}

static void scr_done(screen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->lines[i]);
    free(s->lines);
    s->lines = NULL;
    s->n = 0;
}

/* KiB as whole MiB, right-aligned in `width` columns ("-" when unknown). */
static const char *mib(char *buf, size_t size, double kib)
{
    if (isnan(kib))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.0f", kib / 1024);
    return buf;
}

/* `part` as a percentage of `whole`, or "-". */
static const char *pct(char *buf, size_t size, double part, double whole)
{
    if (isnan(part) || isnan(whole) || whole <= 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.1f%%", 100 * part / whole);
    return buf;
}

/* A PSI share as "12.34%", or "-". */
static const char *psi(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.2f%%", v);
    return buf;
}

/* A copy of a guest name safe to print on a terminal: control characters
 * (which could move the cursor or change colours) become '?'. */
static void safe_name(char *buf, size_t size, const char *name)
{
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char)name[i];
        buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    buf[i] = '\0';
}

/* The previous frame's balloon size of guest `name`, or NAN. */
static double prev_balloon(const top_state *st, const char *name)
{
    for (size_t i = 0; i < st->nprev; i++)
        if (strcmp(st->prev[i].name, name) == 0)
            return st->prev[i].balloon_cur;
    return NAN;
}

/* Lay out frame `fr` as lines. */
static void render(const top_state *st, const top_frame *fr, screen *s)
{
    char a[32], b[32], c[32], d[32], e[32], f[32];
    char when[64];
    time_t tt = (time_t)fr->time;
    struct tm tm;
    if (!localtime_r(&tt, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(when, sizeof(when), "?");
    char source[300];
    if (st->plot_arg)
        snprintf(source, sizeof(source), "plot files %s", st->plot_arg);
    else if (st->socket)
        snprintf(source, sizeof(source), "momd at %s", st->socket);
    else
        snprintf(source, sizeof(source), "momd at localhost:%d", st->port);
    scr_add(s, "momctl top - %s - %s - every %.3g s - sizes in MiB", source, when, st->interval);
    if (fr->error[0]) {
        scr_add(s, "%s", "");
        scr_add(s, "error: %s", fr->error);
        return;
    }
    if (!fr->have_host) {
        scr_add(s, "Host      no sample yet");
    } else {
        const top_host *h = &fr->host;
        scr_add(s, "Host      total %s MiB  free %s MiB (%s)  unused %s MiB  swap %s/%s MiB",
                mib(a, sizeof(a), h->mem_available), mib(b, sizeof(b), h->mem_free),
                pct(c, sizeof(c), h->mem_free, h->mem_available), mib(d, sizeof(d), h->mem_unused),
                mib(e, sizeof(e), h->swap_usage), mib(f, sizeof(f), h->swap_total));
        if (isnan(h->psi_some10) && isnan(h->psi_full10))
            scr_add(s, "Pressure  n/a (no PSI)");
        else
            scr_add(s, "Pressure  some avg10 %s  full avg10 %s", psi(a, sizeof(a), h->psi_some10),
                    psi(b, sizeof(b), h->psi_full10));
        if (isnan(h->ksm_run)) {
            scr_add(s, "KSM       n/a");
        } else {
            const char *run = h->ksm_run == 0   ? "stopped"
                              : h->ksm_run == 1 ? "running"
                                                : "unmerging";
            /* pages_sharing counts the pages KSM saves (4 KiB each). */
            scr_add(s,
                    "KSM       %s  pages_sharing %.0f (%s MiB saved)  pages_shared %.0f  "
                    "ksmd cpu %.0f%%",
                    run, h->ksm_pages_sharing, mib(a, sizeof(a), h->ksm_pages_sharing * 4),
                    h->ksm_pages_shared, h->ksmd_cpu);
        }
    }
    scr_add(s, "%s", "");
    size_t w = 8;
    for (size_t i = 0; i < fr->nguests; i++)
        if (strlen(fr->guests[i].name) > w)
            w = strlen(fr->guests[i].name);
    if (w > 24)
        w = 24;
    scr_add(s, "%-*s %8s %8s %8s %8s %8s %8s %6s", (int)w, "GUEST", "BALLOON", "CHANGE", "MAX",
            "MIN", "TARGET", "FREE", "FREE%");
    for (size_t i = 0; i < fr->nguests; i++) {
        const top_guest *gu = &fr->guests[i];
        char name[64];
        safe_name(name, sizeof(name), gu->name);
        double before = prev_balloon(st, gu->name);
        char change[32];
        if (isnan(before) || isnan(gu->balloon_cur))
            snprintf(change, sizeof(change), "-");
        else if (gu->balloon_cur == before)
            snprintf(change, sizeof(change), "0");
        else
            snprintf(change, sizeof(change), "%+.0f", (gu->balloon_cur - before) / 1024);
        /* The guest's free share of its own memory: of the total the
         * guest sees when known, else of the balloon. */
        double whole = isnan(gu->mem_available) ? gu->balloon_cur : gu->mem_available;
        scr_add(s, "%-*.*s %8s %8s %8s %8s %8s %8s %6s", (int)w, (int)w, name,
                mib(a, sizeof(a), gu->balloon_cur), change, mib(b, sizeof(b), gu->balloon_max),
                mib(c, sizeof(c), gu->balloon_min), mib(d, sizeof(d), gu->target),
                mib(e, sizeof(e), gu->mem_unused), pct(f, sizeof(f), gu->mem_unused, whole));
    }
    if (fr->nguests == 0)
        scr_add(s, "(no guests ready)");
}

/* Keep this frame's balloon sizes for the next frame's CHANGE column. */
static void remember(top_state *st, top_frame *fr)
{
    free_guests(st->prev, st->nprev);
    st->prev = fr->guests;
    st->nprev = fr->nguests;
    fr->guests = NULL;
    fr->nguests = 0;
}

/* ---- the terminal ------------------------------------------------------------ */

/* Signals only write their number here; the loop polls the read end.  This
 * is a program, not the library, so one process-wide pipe is fine. */
static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(sig_pipe[1], &b, 1) < 0) {
        /* The pipe is full: a wake-up is already pending. */
    }
    errno = saved;
}

/* Draw the screen in place: home, each line cut to the terminal and
 * cleared to its end, then clear below. */
static void draw_live(const screen *s)
{
    struct winsize ws = {0};
    size_t cols = 200, rows = 1000;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        cols = ws.ws_col;
        rows = ws.ws_row ? ws.ws_row : rows;
    }
    fputs("\033[H", stdout);
    size_t n = s->n;
    if (n > rows - 1 && rows > 2)
        n = rows - 2;
    for (size_t i = 0; i < n; i++) {
        fwrite(s->lines[i], 1, strnlen(s->lines[i], cols - 1), stdout);
        fputs("\033[K\n", stdout);
    }
    if (n < s->n)
        printf("... %zu more lines (enlarge the window)\033[K\n", s->n - n);
    fputs("q quits\033[K\033[J", stdout);
    fflush(stdout);
}

static void top_help(FILE *f)
{
    fprintf(f,
            "Usage: momctl top [--socket PATH | --port N] [--interval S] [--once]\n"
            "       momctl top --plot-dir DIR [--interval S] [--once]\n"
            "\n"
            "A live view of the host and every guest, refreshed every interval: host\n"
            "memory, pressure, KSM and swap; per guest the balloon size, its change\n"
            "since the last frame, its bounds and last target, and free memory.\n"
            "Press q or Ctrl-C to quit.\n"
            "\n"
            "Options:\n"
            "  -s, --socket PATH    momd's unix socket (default %s)\n"
            "  -p, --port N         momd's TCP port on localhost instead of the socket\n"
            "      --plot-dir DIR   read momd's plot files in DIR (a momplot-NNN directory\n"
            "                       or a plot-dir) instead of asking momd\n"
            "  -i, --interval S     seconds between frames (default: the sampling interval\n"
            "                       of the plot files, else 5)\n"
            "  -t, --timeout S      give up on a call to momd after S seconds (default 5)\n"
            "  -1, --once           print one frame without escape codes and exit\n"
            "  -h, --help           show this help\n"
            "\n"
            "Exit status: 0 success, 1 no data (--once), 2 wrong usage.\n",
            MOMCTL_DEFAULT_SOCKET);
}

/* Parse a positive number of seconds (at most a day). */
static bool parse_seconds(const char *s, double *ret)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 86400)
        return false;
    *ret = v;
    return true;
}

/* One frame from whichever source is configured. */
static int get_frame(top_state *st, top_frame *fr, double *ret_interval)
{
    memset(fr, 0, sizeof(*fr));
    if (ret_interval)
        *ret_interval = 0;
    if (st->plot_arg)
        return frame_from_plot(st, fr, ret_interval);
    return frame_from_rpc(st, fr);
}

/* The live loop: frames until q, Ctrl-C, SIGTERM or SIGHUP. */
static int run_live(top_state *st, bool interval_given)
{
    bool tty_in = isatty(STDIN_FILENO);
    bool tty_out = isatty(STDOUT_FILENO);
    struct termios saved;
    bool raw = false, have_saved = false;
    int status = MOMCTL_EXIT_OK;

    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        fprintf(stderr, "momctl top: pipe: %s\n", strerror(errno));
        return MOMCTL_EXIT_FAIL;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    struct sigaction old[4];
    static const int sigs[4] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH};
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], &sa, &old[i]);

    if (tty_in && tcgetattr(STDIN_FILENO, &saved) == 0) {
        have_saved = true;
        struct termios t = saved;
        t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
    }
    if (tty_out)
        fputs("\033[?25l\033[H\033[2J", stdout); /* hide the cursor, clear */

    bool quit = false;
    while (!quit) {
        top_frame fr;
        double iv = 0;
        get_frame(st, &fr, &iv);
        if (!interval_given && iv > 0)
            st->interval = iv < 1 ? 1 : iv > 60 ? 60 : iv;
        screen s = {0};
        render(st, &fr, &s);
        if (tty_out) {
            draw_live(&s);
        } else {
            for (size_t i = 0; i < s.n; i++)
                printf("%s\n", s.lines[i]);
            printf("\n");
            fflush(stdout);
        }
        scr_done(&s);
        if (!fr.error[0])
            remember(st, &fr);
        frame_done(&fr);

        /* Wait for the next frame, a key or a signal. */
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double left = st->interval - (double)(now.tv_sec - start.tv_sec) -
                          (double)(now.tv_nsec - start.tv_nsec) / 1e9;
            if (left <= 0)
                break;
            struct pollfd pf[2] = {{.fd = sig_pipe[0], .events = POLLIN},
                                   {.fd = STDIN_FILENO, .events = POLLIN}};
            int r = poll(pf, raw ? 2 : 1, (int)ceil(left * 1000));
            if (r < 0 && errno != EINTR)
                break;
            bool redraw = false;
            if (r > 0 && (pf[0].revents & POLLIN)) {
                unsigned char b;
                while (read(sig_pipe[0], &b, 1) == 1)
                    if (b == SIGWINCH)
                        redraw = true;
                    else
                        quit = true;
            }
            if (r > 0 && raw && (pf[1].revents & (POLLIN | POLLHUP))) {
                char keys[64];
                ssize_t k = read(STDIN_FILENO, keys, sizeof(keys));
                if (k <= 0)
                    raw = false; /* end of input: stop watching it */
                for (ssize_t i = 0; i < k; i++)
                    if (keys[i] == 'q' || keys[i] == 'Q')
                        quit = true;
                    else if (keys[i] == ' ')
                        redraw = true; /* space refreshes now, as in top */
            }
            if (quit || redraw)
                break;
        }
    }

    if (tty_out)
        fputs("\n\033[?25h", stdout); /* show the cursor again */
    fflush(stdout);
    if (have_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], &old[i], NULL);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
    return status;
}

int momctl_top_main(int argc, char **argv)
{
    static const char cmd[] = "momctl top";
    enum { OPT_PLOT_DIR = 256 };
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"port", required_argument, NULL, 'p'},
        {"plot-dir", required_argument, NULL, OPT_PLOT_DIR},
        {"interval", required_argument, NULL, 'i'},
        {"timeout", required_argument, NULL, 't'},
        {"once", no_argument, NULL, '1'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    top_state st = {.port = -1, .timeout = 5, .interval = 5};
    bool once = false, interval_given = false;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:p:i:t:1h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': st.socket = optarg; break;
        case 'p': {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 0 || v > 65535)
                return momctl_usage_error(cmd, "invalid port '%s'", optarg);
            st.port = (int)v;
            break;
        }
        case OPT_PLOT_DIR: st.plot_arg = optarg; break;
        case 'i':
            if (!parse_seconds(optarg, &st.interval))
                return momctl_usage_error(cmd, "invalid interval '%s'", optarg);
            interval_given = true;
            break;
        case 't':
            if (!parse_seconds(optarg, &st.timeout))
                return momctl_usage_error(cmd, "invalid timeout '%s'", optarg);
            break;
        case '1': once = true; break;
        case 'h': top_help(stdout); return MOMCTL_EXIT_OK;
        case ':': return momctl_usage_error(cmd, "option '%s' needs an argument", argv[optind - 1]);
        default:
            if (optopt)
                return momctl_usage_error(cmd, "unknown option '-%c'", optopt);
            return momctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return momctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (st.socket && st.port >= 0)
        return momctl_usage_error(cmd, "--socket and --port exclude each other");
    if (st.plot_arg && (st.socket || st.port >= 0))
        return momctl_usage_error(cmd, "--plot-dir excludes --socket and --port");
    if (st.plot_arg && !*st.plot_arg)
        return momctl_usage_error(cmd, "empty plot directory name");
    if (!st.plot_arg && !st.socket && st.port < 0)
        st.socket = MOMCTL_DEFAULT_SOCKET;

    int status;
    if (once) {
        top_frame fr;
        double iv = 0;
        int rc = get_frame(&st, &fr, &iv);
        if (!interval_given && iv > 0)
            st.interval = iv;
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", cmd, fr.error[0] ? fr.error : strerror(-rc));
            status = MOMCTL_EXIT_FAIL;
        } else {
            screen s = {0};
            render(&st, &fr, &s);
            for (size_t i = 0; i < s.n; i++)
                printf("%s\n", s.lines[i]);
            scr_done(&s);
            status = MOMCTL_EXIT_OK;
        }
        frame_done(&fr);
    } else {
        status = run_live(&st, interval_given);
    }
    free_guests(st.prev, st.nprev);
    return status;
}
