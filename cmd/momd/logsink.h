/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momd's log sinks: where the lines the engine (and momd itself) logs go.
 *
 * A sink starts out writing to standard error, so that anything that goes
 * wrong before the configuration is read is seen by whoever started momd.
 * Once the engine has read [logging], logsink_configure() switches it to the
 * configured target: "stdio" (standard error), "journal" (the systemd
 * journal) or a file path (appended to, rotated by size the way Python's
 * RotatingFileHandler does it).
 *
 * Every line written to a stream reads "time - logger name - LEVEL - message"
 * (REFERENCE.md §7.2).  logsink_log() has the mom_log_fn signature and is
 * thread-safe, so it is handed to the engine directly.
 */
#ifndef MOMD_LOGSINK_H
#define MOMD_LOGSINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "mom/mom.h"

typedef enum logsink_kind {
    LOGSINK_STDERR = 0,
    LOGSINK_JOURNAL,
    LOGSINK_FILE,
} logsink_kind;

/* A line kept while the sink holds its output (see logsink_hold). */
typedef struct logsink_line {
    struct timespec ts;
    mom_log_level level;
    char *logger;
    char *msg;
} logsink_line;

typedef struct logsink {
    pthread_mutex_t lock;
    logsink_kind kind;
    char *path;            /* LOGSINK_FILE: the log file */
    int fd;                /* LOGSINK_FILE: open file, -1 when closed */
    uint64_t size;         /* LOGSINK_FILE: bytes in the current file */
    uint64_t max_bytes;    /* rotate before a line would reach this; 0 = never */
    unsigned backup_count; /* FILE.1 .. FILE.n kept; 0 = never rotate */
    mom_log_level level;   /* momd's own messages pass when <= this */
    int open_errno;        /* last failure to open or rotate, reported once */
    bool holding;          /* keep lines in `held` instead of writing them */
    logsink_line *held;
    size_t n_held, cap_held;
} logsink;

/* Initialise a sink that writes to standard error at level info. */
void logsink_init(logsink *s);

/* Release the sink (closes the file).  Accepts a sink that was never
 * configured. */
void logsink_done(logsink *s);

/*
 * Switch to `target` ("stdio", "journal" or a path) with the given rotation
 * limits.  On failure (the file cannot be opened) the sink keeps writing
 * where it wrote before and a negative errno is returned.
 */
int logsink_configure(logsink *s, const char *target, uint64_t max_bytes,
                      unsigned backup_count);

/*
 * Hold every line in memory (with its time) until logsink_release(): used
 * while the engine reads the configuration, so that the lines it logs then
 * end up in the configured target.  If holding fails (no memory) or too
 * many lines pile up, lines go straight to the current target.
 */
void logsink_hold(logsink *s);

/* Stop holding and write the held lines, in order, to the current target. */
void logsink_release(logsink *s);

/* Close and reopen the log file (after an external rotation, on SIGHUP).
 * Returns 0 or a negative errno; a no-op for the other targets. */
int logsink_reopen(logsink *s);

/* Level filter for momd's own messages (logsink_msg); the engine filters
 * its own lines before calling logsink_log(). */
void logsink_set_level(logsink *s, mom_log_level level);

/* The mom_log_fn: write one line.  `userdata` is the logsink. */
void logsink_log(mom_log_level level, const char *logger, const char *msg, void *userdata);

/* A message of momd's own, under the logger name "momd", when `level`
 * passes the sink's level. */
void logsink_msg(logsink *s, mom_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Verbosity text as [logging] verbosity reads it: a number 1-5 or a name
 * (debug, info, warn/warning, error, critical, any case); anything else is
 * debug, as in the original. */
mom_log_level logsink_parse_level(const char *text);

/* "CRITICAL", "ERROR", "WARNING", "INFO" or "DEBUG". */
const char *logsink_level_name(mom_log_level level);

#endif
