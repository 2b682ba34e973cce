/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "collectors/agent_socket.h"

#include <string.h>
#include <time.h>

#include "core/alloc.h"

double agent_socket_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Replace %(name)s and %(uuid)s in tmpl (and %% by %). */
char *agent_socket_expand(const char *tmpl, const char *name, const char *uuid)
{
    size_t cap = strlen(tmpl) + 1, len = 0;
    for (const char *p = tmpl; (p = strstr(p, "%(")); p += 2)
        cap += 256 + strlen(name ? name : "") + strlen(uuid ? uuid : "");
    char *out = mom_malloc(cap);
    if (!out)
        return NULL;
    for (const char *p = tmpl; *p;) {
        const char *rep = NULL;
        size_t skip = 0;
        if (strncmp(p, "%(name)s", 8) == 0) {
            rep = name ? name : "";
            skip = 8;
        } else if (strncmp(p, "%(uuid)s", 8) == 0) {
            rep = uuid ? uuid : "";
            skip = 8;
        } else if (strncmp(p, "%%", 2) == 0) {
            rep = "%";
            skip = 2;
        }
        if (rep) {
            size_t n = strlen(rep);
            memcpy(out + len, rep, n);
            len += n;
            p += skip;
        } else {
            out[len++] = *p++;
        }
    }
    out[len] = '\0';
    return out;
}
