/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal logging: formats a line and hands it to the host's callback when
 * the level passes the current verbosity.  The library never prints.
 */
#ifndef MOM_CORE_LOG_H
#define MOM_CORE_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "mom/mom.h"

typedef struct mlog {
    mom_log_fn fn;
    void *userdata;
    atomic_int level; /* lines with level <= this pass */
} mlog;

void mlog_init(mlog *l, mom_log_fn fn, void *userdata, mom_log_level level);
static inline bool mlog_enabled(const mlog *l, mom_log_level level)
{
    return l && l->fn && (int)level <= atomic_load_explicit(&((mlog *)l)->level, memory_order_relaxed);
}
void mlog_set_level(mlog *l, mom_log_level level);
void mlog_msg(const mlog *l, mom_log_level level, const char *logger, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void mlog_vmsg(const mlog *l, mom_log_level level, const char *logger, const char *fmt,
               va_list ap);
/* "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL". */
const char *mlog_level_name(mom_log_level level);

#endif
