/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt's event loop, shared by every libvirt backend of the process
 * (see libvirt_loop.h).
 *
 * This is the one piece of process-wide state in libmom: libvirt keeps
 * its event-loop implementation in a process global, so whether it is
 * registered, and the thread that runs it, cannot hang off an engine.
 * A mutex guards it; users are counted so that the thread runs only while
 * some backend needs it and valgrind sees it joined.
 *
 * libvirt has no getter for the registered implementation, but
 * virEventAddTimeout() returns -1 without one and a timer id with one,
 * which tells the two cases apart without disturbing a host program's
 * loop (the probe timer is disabled and removed at once).
 */
#include "hv/libvirt_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include <libvirt/libvirt.h>

static pthread_mutex_t loop_mu = PTHREAD_MUTEX_INITIALIZER;
static bool loop_probed;   /* the check below was made */
static bool loop_ours;     /* we registered the default implementation */
static unsigned loop_users;
static pthread_t loop_thread;
static atomic_bool loop_quit;

static void noop_timer(int timer, void *opaque)
{
    (void)timer;
    (void)opaque;
}

/* Fires once, right after the last user asked the loop to stop: it only
 * makes virEventRunDefaultImpl() return so the thread sees loop_quit. */
static void quit_timer(int timer, void *opaque)
{
    (void)opaque;
    virEventRemoveTimeout(timer);
}

static void *loop_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&loop_quit))
        if (virEventRunDefaultImpl() < 0)
            break;
    return NULL;
}

int libvirt_loop_acquire(bool *ret_ours)
{
    int rc = 0;
    pthread_mutex_lock(&loop_mu);
    if (!loop_probed) {
        int t = virEventAddTimeout(-1, noop_timer, NULL, NULL);
        if (t >= 0) {
            virEventRemoveTimeout(t);
            loop_ours = false;
        } else {
            if (virEventRegisterDefaultImpl() < 0) {
                rc = -EIO;
                goto out;
            }
            loop_ours = true;
        }
        loop_probed = true;
    }
    if (loop_ours && loop_users == 0) {
        atomic_store(&loop_quit, false);
        int r = pthread_create(&loop_thread, NULL, loop_main, NULL);
        if (r != 0) {
            rc = -r;
            goto out;
        }
    }
    loop_users++;
    *ret_ours = loop_ours;
out:
    pthread_mutex_unlock(&loop_mu);
    return rc;
}

void libvirt_loop_release(void)
{
    pthread_mutex_lock(&loop_mu);
    if (loop_users > 0 && --loop_users == 0 && loop_ours) {
        atomic_store(&loop_quit, true);
        /* A zero timeout fires at the next iteration; if it cannot be
         * added the loop still ends at its next event. */
        virEventAddTimeout(0, quit_timer, NULL, NULL);
        pthread_join(loop_thread, NULL);
    }
    pthread_mutex_unlock(&loop_mu);
}
