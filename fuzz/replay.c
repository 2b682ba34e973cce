/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replays a fuzz corpus without libFuzzer: every regular file in the
 * directory given as the only argument is fed once to the target's
 * LLVMFuzzerTestOneInput(), in name order, and each prints one TAP line.
 * A crash or a sanitizer report ends the program, which the test runner
 * counts as a failure; otherwise it exits 0.  `make check` links this with
 * each fuzz/fuzz_*.c target.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read the whole of path into a new buffer (plain malloc: this is a
 * program, not library code). */
static int read_all(int dirfd, const char *name, uint8_t **ret, size_t *ret_len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    int r = 0;
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    for (;;) {
        if (len == cap) {
            uint8_t *p = realloc(buf, cap * 2);
            if (!p) {
                r = -ENOMEM;
                goto out;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
out:
    close(fd);
    if (r < 0) {
        free(buf);
        return r;
    }
    *ret = buf;
    *ret_len = len;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS-DIRECTORY\n", argv[0]);
        return 2;
    }
    int dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dirfd >= 0 ? fdopendir(dirfd) : NULL;
    if (!d) {
        fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
        if (dirfd >= 0)
            close(dirfd);
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (de->d_name[0] == '.' || fstatat(dirfd, de->d_name, &st, 0) < 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(names, cap * sizeof(*p));
            if (!p)
                return 1;
            names = p;
        }
        if (!(names[n] = strdup(de->d_name)))
            return 1;
        n++;
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);

    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *data = NULL;
        size_t len = 0;
        int r = read_all(dirfd, names[i], &data, &len);
        if (r < 0) {
            printf("not ok %zu - %s # cannot read: %s\n", i + 1, names[i], strerror(-r));
            failed = 1;
        } else {
            LLVMFuzzerTestOneInput(data, len);
            printf("ok %zu - %s\n", i + 1, names[i]);
        }
        fflush(stdout);
        free(data);
        free(names[i]);
    }
    printf("1..%zu\n", n);
    free(names);
    closedir(d);
    return failed;
}
