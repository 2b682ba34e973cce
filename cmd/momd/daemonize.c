/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Daemonising momd: see daemonize.h.
 */
#include "daemonize.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* The original process: wait for the daemon's one-byte status and exit
 * with it.  End of file without a byte means the daemon died early. */
static void __attribute__((noreturn)) wait_for_daemon(int fd, pid_t child)
{
    unsigned char status = 1;
    ssize_t n;
    do {
        n = read(fd, &status, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        status = 1;
    /* Reap the intermediate child, which exits right after its fork. */
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
        ;
    _exit(status);
}

int daemonize_start(daemonize_state *d)
{
    int p[2];
    d->notify_fd = -1;
    d->pid_file = NULL;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    /* Whatever is buffered must not be written twice by the children. */
    fflush(NULL);

    pid_t pid = fork();
    if (pid < 0) {
        int err = -errno;
        close(p[0]);
        close(p[1]);
        return err;
    }
    if (pid > 0) {
        close(p[1]);
        wait_for_daemon(p[0], pid);
    }

    /* First child: a new session without a controlling terminal, then a
     * second fork so the daemon is not a session leader and can never
     * acquire a terminal again. */
    close(p[0]);
    if (setsid() < 0)
        _exit(1);
    pid = fork();
    if (pid < 0)
        _exit(1);
    if (pid > 0)
        _exit(0);

    /* The daemon. */
    if (chdir("/") < 0) {
        /* "/" always exists; carry on in whatever directory we are. */
    }
    umask(022);
    d->notify_fd = p[1];
    return 0;
}

int daemonize_write_pid_file(daemonize_state *d, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
    if (fd < 0)
        return -errno;
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    ssize_t n = write(fd, buf, (size_t)len);
    int err = n == len ? 0 : (n < 0 ? -errno : -EIO);
    if (close(fd) < 0 && err == 0)
        err = -errno;
    if (err < 0) {
        unlink(path);
        return err;
    }
    free(d->pid_file);
    d->pid_file = strdup(path);
    return d->pid_file ? 0 : -ENOMEM;
}

void daemonize_remove_pid_file(daemonize_state *d)
{
    if (!d->pid_file)
        return;
    unlink(d->pid_file);
    free(d->pid_file);
    d->pid_file = NULL;
}

/* Put fd 0, 1 and 2 on /dev/null. */
static void null_stdio(void)
{
    fflush(NULL);
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    /* dup2() clears close-on-exec on the copies, as standard streams need. */
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);
}

void daemonize_ready(daemonize_state *d)
{
    if (d->notify_fd < 0)
        return;
    null_stdio();
    unsigned char ok = 0;
    ssize_t n;
    do {
        n = write(d->notify_fd, &ok, 1);
    } while (n < 0 && errno == EINTR);
    close(d->notify_fd);
    d->notify_fd = -1;
}

void daemonize_fail(daemonize_state *d, int status)
{
    if (d->notify_fd < 0)
        return;
    unsigned char st = (unsigned char)(status ? status : 1);
    ssize_t n;
    do {
        n = write(d->notify_fd, &st, 1);
    } while (n < 0 && errno == EINTR);
    close(d->notify_fd);
    d->notify_fd = -1;
}
