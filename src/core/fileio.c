/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "core/alloc.h"

int file_read_all(const char *path, char **ret, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, len = 0;
    char *buf = mom_malloc(cap);
    int r = buf ? 0 : -ENOMEM;
    while (r == 0) {
        if (len + 1 >= cap) {
            char *nb = cap <= SIZE_MAX / 2 ? mom_realloc(buf, cap * 2) : NULL;
            if (!nb) {
                r = -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + len, cap - len - 1);
        if (got < 0) {
            if (errno != EINTR)
                r = -errno;
            continue;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    if (r < 0) {
        mom_free(buf);
        return r;
    }
    buf[len] = '\0';
    *ret = buf;
    if (ret_len)
        *ret_len = len;
    return 0;
}
