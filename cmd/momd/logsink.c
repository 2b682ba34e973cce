/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * momd's log sinks: standard error, the systemd journal, or a file rotated
 * by size (see logsink.h).
 */
#include "logsink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

void logsink_init(logsink *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->kind = LOGSINK_STDERR;
    s->fd = -1;
    s->level = MOM_LOG_INFO;
}

void logsink_done(logsink *s)
{
    logsink_release(s);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->path);
    s->path = NULL;
    s->kind = LOGSINK_STDERR;
    pthread_mutex_destroy(&s->lock);
}

const char *logsink_level_name(mom_log_level level)
{
    switch (level) {
    case MOM_LOG_CRITICAL: return "CRITICAL";
    case MOM_LOG_ERROR: return "ERROR";
    case MOM_LOG_WARN: return "WARNING";
    case MOM_LOG_INFO: return "INFO";
    default: return "DEBUG";
    }
}

mom_log_level logsink_parse_level(const char *text)
{
    static const struct {
        const char *name;
        mom_log_level level;
    } names[] = {
        {"5", MOM_LOG_DEBUG},    {"debug", MOM_LOG_DEBUG}, {"4", MOM_LOG_INFO},
        {"info", MOM_LOG_INFO},  {"3", MOM_LOG_WARN},      {"warn", MOM_LOG_WARN},
        {"warning", MOM_LOG_WARN}, {"2", MOM_LOG_ERROR},   {"error", MOM_LOG_ERROR},
        {"1", MOM_LOG_CRITICAL}, {"critical", MOM_LOG_CRITICAL},
    };
    if (!text)
        return MOM_LOG_DEBUG;
    /* Surrounding blanks are not part of the value. */
    while (*text == ' ' || *text == '\t')
        text++;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].name) == len && strncasecmp(names[i].name, text, len) == 0)
            return names[i].level;
    }
    return MOM_LOG_DEBUG;
}

void logsink_set_level(logsink *s, mom_log_level level)
{
    pthread_mutex_lock(&s->lock);
    s->level = level;
    pthread_mutex_unlock(&s->lock);
}

/* Write all of buf to fd, retrying after interruptions and short writes. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Open the sink's file for appending and learn its current size. */
static int open_file(logsink *s)
{
    int fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    if (s->fd >= 0)
        close(s->fd);
    s->fd = fd;
    s->size = (uint64_t)st.st_size;
    return 0;
}

/* Report a failure of the file sink on standard error, once per errno
 * value, so a full disk does not flood the terminal. */
static void report_file_error(logsink *s, const char *what, int err)
{
    if (s->open_errno == err)
        return;
    s->open_errno = err;
    fprintf(stderr, "momd: %s %s: %s\n", what, s->path, strerror(-err));
}

/*
 * Rotate as Python's RotatingFileHandler does: FILE.(n-1) -> FILE.n, ...,
 * FILE.1 -> FILE.2, FILE -> FILE.1, then start an empty FILE.  The oldest
 * backup falls off the end because rename() replaces it.
 */
static void rotate(logsink *s)
{
    size_t plen = strlen(s->path) + 16;
    char *from = malloc(plen), *to = malloc(plen);
    if (!from || !to)
        goto out;
    for (unsigned i = s->backup_count - 1; i >= 1; i--) {
        snprintf(from, plen, "%s.%u", s->path, i);
        snprintf(to, plen, "%s.%u", s->path, i + 1);
        if (rename(from, to) < 0 && errno != ENOENT)
            report_file_error(s, "cannot rotate", -errno);
    }
    snprintf(to, plen, "%s.1", s->path);
    if (rename(s->path, to) < 0 && errno != ENOENT) {
        report_file_error(s, "cannot rotate", -errno);
        goto out;
    }
    int r = open_file(s);
    if (r < 0)
        report_file_error(s, "cannot open log file", r);
out:
    free(from);
    free(to);
}

/* Append one formatted line to the file, rotating first when the line
 * would make the file reach max-bytes.  Called with the lock held. */
static void file_write(logsink *s, const char *line, size_t len)
{
    if (s->fd < 0) {
        int r = open_file(s);
        if (r < 0) {
            report_file_error(s, "cannot open log file", r);
            (void)write_all(STDERR_FILENO, line, len);
            return;
        }
    }
    /* Python rotates when size + len >= max-bytes; an empty file is never
     * rotated, so a single long line cannot make empty backups. */
    if (s->max_bytes > 0 && s->backup_count > 0 && s->size > 0 &&
        s->size + len >= s->max_bytes)
        rotate(s);
    int r = write_all(s->fd, line, len);
    if (r == 0) {
        s->size += len;
        s->open_errno = 0;
    } else {
        report_file_error(s, "cannot write log file", r);
    }
}

/* Syslog priority of a MOM level, for the journal. */
static int journal_priority(mom_log_level level)
{
    switch (level) {
    case MOM_LOG_CRITICAL: return LOG_CRIT;
    case MOM_LOG_ERROR: return LOG_ERR;
    case MOM_LOG_WARN: return LOG_WARNING;
    case MOM_LOG_INFO: return LOG_INFO;
    default: return LOG_DEBUG;
    }
}

/* Write one line with time `ts` to the current target.  Called with the
 * lock held. */
static void emit(logsink *s, const struct timespec *ts, mom_log_level level, const char *logger,
                 const char *msg)
{
    if (s->kind == LOGSINK_JOURNAL) {
        sd_journal_send("MESSAGE=%s - %s", logger, msg, "PRIORITY=%d", journal_priority(level),
                        "SYSLOG_IDENTIFIER=momd", "MOM_LOGGER=%s", logger, NULL);
        return;
    }

    /* "2024-05-01 12:00:00,123 - mom.Policy - INFO - message", as the
     * original's Python logging formats it (local time, milliseconds). */
    struct tm tm;
    char stamp[32];
    localtime_r(&ts->tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
    long ms = ts->tv_nsec / 1000000;

    char small[1024];
    char *line = small;
    int n = snprintf(small, sizeof(small), "%s,%03ld - %s - %s - %s\n", stamp, ms, logger,
                     logsink_level_name(level), msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(small)) {
        line = malloc((size_t)n + 1);
        if (!line) {
            /* Out of memory: the truncated line is better than none. */
            line = small;
            n = sizeof(small) - 1;
            small[n - 1] = '\n';
        } else {
            snprintf(line, (size_t)n + 1, "%s,%03ld - %s - %s - %s\n", stamp, ms, logger,
                     logsink_level_name(level), msg);
        }
    }
    if (s->kind == LOGSINK_FILE)
        file_write(s, line, (size_t)n);
    else
        (void)write_all(STDERR_FILENO, line, (size_t)n);
    if (line != small)
        free(line);
}

/* Keep a line while holding.  Returns false when it could not be kept
 * (then the caller writes it). Called with the lock held. */
static bool hold_line(logsink *s, const struct timespec *ts, mom_log_level level,
                      const char *logger, const char *msg)
{
    /* A bound, so that a runaway start-up cannot eat memory. */
    if (s->n_held >= 10000)
        return false;
    if (s->n_held == s->cap_held) {
        size_t cap = s->cap_held ? s->cap_held * 2 : 32;
        logsink_line *nl = realloc(s->held, cap * sizeof(*nl));
        if (!nl)
            return false;
        s->held = nl;
        s->cap_held = cap;
    }
    logsink_line *l = &s->held[s->n_held];
    l->ts = *ts;
    l->level = level;
    l->logger = strdup(logger);
    l->msg = strdup(msg);
    if (!l->logger || !l->msg) {
        free(l->logger);
        free(l->msg);
        return false;
    }
    s->n_held++;
    return true;
}

void logsink_log(mom_log_level level, const char *logger, const char *msg, void *userdata)
{
    logsink *s = userdata;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!logger)
        logger = "mom";
    if (!msg)
        msg = "";
    pthread_mutex_lock(&s->lock);
    if (!s->holding || !hold_line(s, &ts, level, logger, msg))
        emit(s, &ts, level, logger, msg);
    pthread_mutex_unlock(&s->lock);
}

void logsink_hold(logsink *s)
{
    pthread_mutex_lock(&s->lock);
    s->holding = true;
    pthread_mutex_unlock(&s->lock);
}

void logsink_release(logsink *s)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n_held; i++) {
        logsink_line *l = &s->held[i];
        emit(s, &l->ts, l->level, l->logger, l->msg);
        free(l->logger);
        free(l->msg);
    }
    free(s->held);
    s->held = NULL;
    s->n_held = s->cap_held = 0;
    s->holding = false;
    pthread_mutex_unlock(&s->lock);
}

void logsink_msg(logsink *s, mom_log_level level, const char *fmt, ...)
{
    pthread_mutex_lock(&s->lock);
    bool pass = (int)level <= (int)s->level;
    pthread_mutex_unlock(&s->lock);
    if (!pass)
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    logsink_log(level, "momd", buf, s);
}

int logsink_configure(logsink *s, const char *target, uint64_t max_bytes,
                      unsigned backup_count)
{
    if (!target || !*target || strcmp(target, "stdio") == 0) {
        pthread_mutex_lock(&s->lock);
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
        s->kind = LOGSINK_STDERR;
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    if (strcmp(target, "journal") == 0) {
        pthread_mutex_lock(&s->lock);
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
        s->kind = LOGSINK_JOURNAL;
        pthread_mutex_unlock(&s->lock);
        return 0;
    }

    char *path = strdup(target);
    if (!path)
        return -ENOMEM;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) {
        int err = -errno;
        free(path);
        return err;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = -errno;
        close(fd);
        free(path);
        return err;
    }

    pthread_mutex_lock(&s->lock);
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    s->path = path;
    s->fd = fd;
    s->size = (uint64_t)st.st_size;
    s->max_bytes = max_bytes;
    s->backup_count = backup_count;
    s->open_errno = 0;
    s->kind = LOGSINK_FILE;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int logsink_reopen(logsink *s)
{
    int r = 0;
    pthread_mutex_lock(&s->lock);
    if (s->kind == LOGSINK_FILE) {
        r = open_file(s);
        if (r < 0)
            report_file_error(s, "cannot reopen log file", r);
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}
