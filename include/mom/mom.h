/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libmom: the Memory Overcommitment Manager engine.
 *
 * A host program creates an engine from a mom_config, starts it (the engine
 * then runs in a thread of its own), talks to it through the functions below
 * and finally stops and frees it.  Every function here is thread-safe unless
 * its comment says otherwise.
 *
 * Errors: functions return 0 on success or a negative errno value; codes in
 * the MOM_E_* range below are project codes.  mom_strerror() describes both.
 *
 * Memory: every pointer a function hands back through a ret_ parameter is
 * owned by the caller and released with the function named in the comment
 * (mom_free() for strings, mom_value_unref() for values).
 */
#ifndef MOM_MOM_H
#define MOM_MOM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MOM_VERSION_MAJOR 0
#define MOM_VERSION_MINOR 1
#define MOM_VERSION_PATCH 0
#define MOM_VERSION_STRING "0.1.0"

#if defined(MOM_BUILDING_LIBRARY)
#define MOM_API __attribute__((visibility("default")))
#else
#define MOM_API
#endif

/* Project error codes (negative, below the errno range). */
enum {
    MOM_E_BASE = -1000,
    MOM_E_CONFIG = -1001,    /* the configuration is invalid */
    MOM_E_POLICY = -1002,    /* a policy failed to load */
    MOM_E_STATE = -1003,     /* the engine is not in a state that allows this */
    MOM_E_FATAL = -1004,     /* a collector failed fatally */
    MOM_E_NOPOLICY = -1005,  /* no policy language is available for this text */
    MOM_E_ABI = -1006,       /* plugin ABI mismatch */
};

/* Log levels, numbered as the original MOM numbers its verbosity. */
typedef enum mom_log_level {
    MOM_LOG_CRITICAL = 1,
    MOM_LOG_ERROR = 2,
    MOM_LOG_WARN = 3,
    MOM_LOG_INFO = 4,
    MOM_LOG_DEBUG = 5,
} mom_log_level;

/*
 * Log callback.  `logger` is a short component name ("mom.HostMonitor",
 * "mom.Policy", ...), `msg` one line without a trailing newline; both are
 * valid only during the call.  Called from any engine thread, possibly
 * several at once: it must be thread-safe and must not call into the engine.
 */
typedef void (*mom_log_fn)(mom_log_level level, const char *logger, const char *msg,
                           void *userdata);

typedef struct mom_hv_ops mom_hv_ops; /* see mom/hypervisor.h */
typedef struct mom_engine mom_engine;
typedef struct mom_value mom_value; /* immutable reference-counted value, see below */

/* One configuration key override: [section] key = value.  Overrides are
 * applied after the configuration file is read and win over it. */
typedef struct mom_config_override {
    const char *section;
    const char *key;
    const char *value;
} mom_config_override;

/*
 * Engine configuration.  Fill it with mom_config_init() and then set the
 * members you need; `size` lets the struct grow in later versions.
 * mom_engine_new() copies everything it needs, so the struct and the strings
 * it points to may be released as soon as mom_engine_new() returns (the
 * hv_ops table must stay valid until mom_engine_free()).
 */
typedef struct mom_config {
    size_t size;                          /* sizeof(mom_config), set by mom_config_init */
    const char *config_file;              /* mom.conf path, or NULL for the defaults */
    const mom_config_override *overrides; /* array of n_overrides overrides, may be NULL */
    size_t n_overrides;
    mom_log_fn log_fn;                    /* NULL: log lines are dropped */
    void *log_userdata;
    mom_log_level log_level;              /* initial verbosity; 0 = from the configuration */
    /* Embedding: a hypervisor-callback table supplied by the host program.
     * When set, it replaces `hypervisor-interface` from the configuration. */
    const mom_hv_ops *hv_ops;
    void *hv_userdata;
    /* Called on the engine thread after every policy cycle with a MAP
     * describing it (see mom_cycle_fn).  May be NULL. */
    void (*cycle_fn)(const mom_value *report, void *userdata);
    void *cycle_userdata;
} mom_config;

/*
 * The cycle report handed to mom_config.cycle_fn (borrowed for the call):
 *   {"time": REAL epoch seconds, "ok": BOOL, "error": STRING (when not ok),
 *    "host": {"mem_available", "mem_free", "mem_unused", "psi_mem_some_avg10",
 *             "ksm_run", "ksm_pages_sharing", ... latest values, NONE when absent},
 *    "host_controls": {name: value},
 *    "guests": [{"name", "balloon_cur", "balloon_max", "balloon_min",
 *                "mem_unused", "mem_available", "controls": {name: value}}, ...]}
 * Values are what the cycle saw and decided (controls before any clamp).
 */

/* Fill `cfg` with defaults (all NULL, size set).  Any thread. */
MOM_API void mom_config_init(mom_config *cfg);

/*
 * Create an engine: read and validate the configuration, build the
 * collectors, controllers and the hypervisor interface, and load the
 * configured policies.  Nothing runs until mom_engine_start().
 * On error *ret is untouched, a reason was logged through cfg->log_fn, and
 * the return is -EINVAL, -ENOMEM, MOM_E_CONFIG, MOM_E_POLICY, or MOM_E_ABI
 * (a plugin in plugin-dir was built for another plugin ABI).
 * The engine is freed with mom_engine_free().
 */
MOM_API int mom_engine_new(const mom_config *cfg, mom_engine **ret);

/*
 * Validate a configuration without building an engine: the file, the
 * overrides, every key, collector and controller name.  Problems are logged
 * through cfg->log_fn.  Returns 0 or MOM_E_CONFIG.
 */
MOM_API int mom_config_check(const mom_config *cfg);

/* The effective value of a configuration key of the engine (defaults
 * applied).  *ret_value is a copy: free with mom_free().  -ENOENT when the
 * key has no value. */
MOM_API int mom_engine_config_get(mom_engine *e, const char *section, const char *key,
                                  char **ret_value);

/* Start the engine thread.  Returns -EALREADY when already started,
 * MOM_E_STATE after mom_engine_stop(), or a negative errno.  Any thread. */
MOM_API int mom_engine_start(mom_engine *e);

/* Stop the engine thread and its workers and wait for them (bounded by the
 * call deadline for workers stuck in a hypervisor call, which are then
 * abandoned and reaped at free).  Idempotent.  Must not be called from a
 * callback that the engine runs. */
MOM_API int mom_engine_stop(mom_engine *e);

/* Stop (if needed) and release the engine.  Accepts NULL. */
MOM_API void mom_engine_free(mom_engine *e);

/* Block until the engine thread has ended (after mom_engine_stop() from
 * another thread, or a fatal error).  Returns 0, or the fatal error. */
MOM_API int mom_engine_wait(mom_engine *e);

/* Ask the engine to reload its policy files (as on SIGHUP).  The reload
 * happens on the engine thread; a set that fails to load is logged and the
 * running set stays.  Safe to call from a signal handler's thread via a
 * flag; the call itself only writes an eventfd. */
MOM_API int mom_engine_reload(mom_engine *e);

/* Change the log verbosity: a level name or number as in [logging]
 * verbosity.  Unknown text means debug, as in the original. */
MOM_API int mom_engine_set_verbosity(mom_engine *e, const char *level);

/* true when the engine thread is running. */
MOM_API bool mom_engine_ping(mom_engine *e);

/* ---- policies ------------------------------------------------------ */

/*
 * Replace every named policy by `text` under the name "50_main_" (NULL:
 * leave the set empty).  Returns 0 when the new set is running,
 * MOM_E_POLICY when it failed to load (the running set stays; the reason is
 * logged and, when ret_error is not NULL, stored there: free with
 * mom_free()), MOM_E_NOPOLICY when no policy language is built in.
 */
MOM_API int mom_engine_set_policy(mom_engine *e, const char *text, char **ret_error);

/* Store `text` as the named policy `name` (NULL text deletes it).  Same
 * results as mom_engine_set_policy(). */
MOM_API int mom_engine_set_named_policy(mom_engine *e, const char *name, const char *text,
                                        char **ret_error);

/* The whole set as one text: the named policies in name order joined by
 * newlines, or "0" for an empty set.  Free with mom_free(). */
MOM_API int mom_engine_get_policy(mom_engine *e, char **ret_text);

/* The named policies as a MAP value name -> STRING.  Free with
 * mom_value_unref(). */
MOM_API int mom_engine_get_named_policies(mom_engine *e, mom_value **ret_map);

/* Clear the set and reload it from `policy` or `policy-dir`.  Returns 0,
 * -ENOENT when neither is configured, or MOM_E_POLICY (running set kept). */
MOM_API int mom_engine_reset_policies(mom_engine *e, char **ret_error);

/* ---- statistics ---------------------------------------------------- */

/*
 * The latest published statistics as a MAP value:
 *   {"host": {field: value, ...}, "guests": {name: {field: value, ...}, ...}}
 * with the latest sample of the host and of every ready guest (absent
 * optional fields are NONE).  Before the first host sample it is
 * {"host": {}, "guests": {}}.  Free with mom_value_unref().
 */
MOM_API int mom_engine_get_statistics(mom_engine *e, mom_value **ret_stats);

/* The last policy cycle's report (the MAP described above mom_config's
 * cycle_fn: time, ok, error, host and guest values, host_controls and each
 * guest's controls), or NONE before the first cycle.  The controls are the
 * policy's decisions before controllers convert or clamp them.  Free with
 * mom_value_unref().  Any thread. */
MOM_API int mom_engine_get_controls(mom_engine *e, mom_value **ret_report);

/* Names of the ready guests as a LIST of STRING.  Free with mom_value_unref(). */
MOM_API int mom_engine_get_active_guests(mom_engine *e, mom_value **ret_list);

/* ---- values (read-only views of statistics and policies) ------------ */

typedef enum mom_value_type {
    MOM_VALUE_NONE = 0,
    MOM_VALUE_BOOL,
    MOM_VALUE_INT,
    MOM_VALUE_REAL,
    MOM_VALUE_STRING,
    MOM_VALUE_LIST,
    MOM_VALUE_MAP,
} mom_value_type;

/* Values are immutable and reference counted; any thread may read them. */
MOM_API mom_value_type mom_value_type_of(const mom_value *v);
MOM_API bool mom_value_bool(const mom_value *v);
MOM_API int64_t mom_value_int(const mom_value *v);
MOM_API double mom_value_real(const mom_value *v);
MOM_API const char *mom_value_string(const mom_value *v);   /* NUL-terminated */
MOM_API size_t mom_value_len(const mom_value *v);           /* LIST, MAP, STRING */
MOM_API const mom_value *mom_value_at(const mom_value *v, size_t i);        /* LIST/MAP item */
MOM_API const char *mom_value_key_at(const mom_value *v, size_t i);         /* MAP key */
MOM_API const mom_value *mom_value_get(const mom_value *v, const char *key); /* MAP lookup */
MOM_API mom_value *mom_value_ref(const mom_value *v);
MOM_API void mom_value_unref(mom_value *v); /* accepts NULL */

/* ---- misc ----------------------------------------------------------- */

MOM_API const char *mom_version(void);      /* "MAJOR.MINOR.PATCH" */
MOM_API const char *mom_strerror(int err);  /* static text for errno or MOM_E_* */
MOM_API void mom_free(void *p);             /* frees strings returned by the library */

#ifdef __cplusplus
}
#endif
#endif
