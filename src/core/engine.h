/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine object behind the public mom_engine handle.  Internal: only
 * engine.c touches the fields; tests and benchmarks use the functions at
 * the end.
 */
#ifndef MOM_CORE_ENGINE_H
#define MOM_CORE_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/api.h"
#include "core/config.h"
#include "core/hv.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/pool.h"
#include "core/registry.h"
#include "core/snapshot.h"
#include "core/strmap.h"
#include "lang/policy.h"
#include "mom/mom.h"

struct mom_engine {
    /* configuration, fixed after mom_engine_new */
    conf *conf;
    mlog log;
    registry *registry;
    struct rpcserver *rpc;      /* the XML-RPC server when rpc-port says so */
    struct plugin_set *plugins; /* loadable plugins from [main] plugin-dir (issue 7) */
    hv hv;
    bool hv_ready;
    api_env env;
    const mom_collector **host_coll, **guest_coll;
    size_t n_host_coll, n_guest_coll;
    fieldtab *host_fields, *guest_fields;
    const mom_controller **ctls;
    void **ctl_state;
    size_t n_ctls, ctl_inited;
    size_t history;
    double call_deadline; /* seconds */
    void (*cycle_fn)(const mom_value *report, void *userdata);
    void *cycle_userdata;

    /* policy set (policy_mu) */
    pthread_mutex_t policy_mu;
    policy_set *policy;
    policy_catalog *policy_catalog; /* issue 4: names the policy checks accept */

    /* published snapshot (pub_mu) */
    pthread_mutex_t pub_mu;
    snapshot *published;
    mom_value *last_report;  /* the last cycle's report (getControls) */

    /* thread state (state_mu) */
    pthread_mutex_t state_mu;
    pthread_cond_t state_cv;
    pthread_t thread;
    bool started, joined, running;
    atomic_bool stop_req, reload_req;
    atomic_bool manager_req; /* hv.wake: run the guest manager now */
    int wake_fd;
    int fatal_rc;

    /* engine thread only */
    pool *pool;
    monitor *host;
    monitor **guests; /* discovery order */
    size_t n_guests, guests_cap;
    strmap guest_map;    /* id -> monitor */
    strmap listed;       /* ids of the last guest list */
    strmap info_pending; /* ids with a get_vm_info call outstanding */
    bool list_failing;
    uint64_t sample_seq;  /* the number of the last sample added to a history */
    uint64_t monitor_serial; /* the serial of the last monitor made (monitor.serial) */
    bool dirty;
    bool stopping;
    double last_publish;
    char *plot_dir;      /* this run's momplot-NNN, or NULL */
    atomic_uint_fast64_t cycles;
};

/* Number of monitored guests (engine thread, or after stop). */
size_t engine_n_guests(mom_engine *e);
/* Policy cycles run so far (any thread). */
uint64_t engine_cycles(mom_engine *e);

#endif
