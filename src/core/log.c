/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/log.h"

#include <stdio.h>

void mlog_init(mlog *l, mom_log_fn fn, void *userdata, mom_log_level level)
{
    l->fn = fn;
    l->userdata = userdata;
    atomic_init(&l->level, (int)level);
}

void mlog_set_level(mlog *l, mom_log_level level)
{
    atomic_store(&l->level, (int)level);
}

void mlog_vmsg(const mlog *l, mom_log_level level, const char *logger, const char *fmt,
               va_list ap)
{
    if (!mlog_enabled(l, level))
        return;
    char buf[2048];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    l->fn(level, logger ? logger : "mom", buf, l->userdata);
}

void mlog_msg(const mlog *l, mom_log_level level, const char *logger, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mlog_vmsg(l, level, logger, fmt, ap);
    va_end(ap);
}

const char *mlog_level_name(mom_log_level level)
{
    switch (level) {
    case MOM_LOG_CRITICAL: return "CRITICAL";
    case MOM_LOG_ERROR: return "ERROR";
    case MOM_LOG_WARN: return "WARNING";
    case MOM_LOG_INFO: return "INFO";
    default: return "DEBUG";
    }
}
