/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libmom policy tools: check policy files and evaluate a policy set once on
 * a snapshot read from JSON, without an engine or a hypervisor.  This is
 * what `momctl policy check` and `momctl policy eval` are made of, and what
 * a host program can use to validate policies before it installs them.
 *
 * A policy set is given as a list of file paths.  Each file is a policy
 * named after its base name without the .mom / .policy extension; the set
 * runs in byte order of those names, and two files that give the same name
 * are an error (POLICY-LANGUAGE.md §10).  The dialect of each file comes
 * from its extension, else from its text.
 *
 * Threads: none of these functions keeps state between calls; any thread
 * may call them, also several at once.  Callbacks run on the calling thread
 * before the function returns.
 */
#ifndef MOM_POLICY_H
#define MOM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mom/mom.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Options shared by the functions below.  Fill with mom_policy_opts_init()
 * and then set what you need; `size` lets the struct grow.  The struct is
 * only read during the call.
 */
typedef struct mom_policy_opts {
    size_t size; /* sizeof(mom_policy_opts), set by mom_policy_opts_init */
    /* Where the policy's own log lines go: the output of classic `debug`
     * and Fortran-like `print` (MOM_LOG_DEBUG), warnings (MOM_LOG_WARN).
     * NULL: they are dropped.  Called on the calling thread. */
    mom_log_fn log_fn;
    void *log_userdata;
    mom_log_level log_level; /* lines up to this level pass; 0 = MOM_LOG_DEBUG */
    int64_t step_limit;      /* evaluation steps per guest; 0 = 100000 (policy-step-limit) */
    int depth_limit;         /* call depth; 0 = 200 (policy-depth-limit) */
    /* A momd configuration file (NULL: none).  The load-time checks of the
     * Fortran-like dialect then take the fields of its [host] and [guest]
     * collectors and the controls of its controllers as what is
     * configured: a statistic no configured collector produces and a
     * control no configured controller carries out are warned about, and
     * a name in no catalog is an error (POLICY-LANGUAGE.md §11).  Without
     * it every built-in collector and controller counts as configured
     * (for mom_policy_eval: the snapshot's fields are the configured
     * fields).  Plugins of its plugin-dir are not loaded. */
    const char *config_file;
} mom_policy_opts;

/* Fill `opts` with the defaults.  Any thread. */
MOM_API void mom_policy_opts_init(mom_policy_opts *opts);

/*
 * Report callback of mom_policy_check(): one diagnostic, normally
 * "FILE:LINE:COL: error: MESSAGE" or "FILE:LINE:COL: warning: MESSAGE",
 * without a trailing newline.  `line` is valid only during the call.
 */
typedef void (*mom_policy_report_fn)(const char *line, bool is_error, void *userdata);

/*
 * Check the n policy files `paths` as `momd --check-policy` does: each file
 * on its own, so that the errors of every file are reported, then the
 * files as one set (duplicate names); every error and warning goes to
 * `report` (may be NULL), and nothing is kept (n == 0: an empty set, which
 * always loads).  The policy's log lines go to opts->log_fn.
 * `opts` may be NULL for the defaults.  The paths are only read during the
 * call.  Returns 0 when the set loads (warnings do not count),
 * MOM_E_POLICY when it does not (a file cannot be read, two files give the
 * same name, or a load-time error; at least one error was reported),
 * -EINVAL for bad arguments (a NULL path) or -ENOMEM.
 */
MOM_API int mom_policy_check(const mom_policy_opts *opts, const char *const *paths, size_t n,
                             mom_policy_report_fn report, void *userdata);

/* Flags of mom_policy_eval(). */
enum {
    /* Add "results": the results list of the classic top-level expressions
     * (POLICY-CLASSIC.md appendix), as a LIST of STRING in the notation of
     * POLICY-CLASSIC.md §0. */
    MOM_POLICY_EVAL_RESULTS = 1u << 0,
};

/*
 * Dry run: load the n policy files `paths` as one policy set, read a
 * snapshot from the `len` bytes of JSON at `snapshot_json` (format below),
 * evaluate the set once on it and describe the outcome in *ret_output, a
 * MAP value (n == 0 evaluates the empty set, which sets nothing):
 *
 *   {"ok": true,
 *    "host": {CONTROL: VALUE, ...},
 *    "guests": {NAME: {CONTROL: VALUE, ..., "io_tune": [DISK, ...]}, ...},
 *    "results": ["0", "'bar'", ...]}                (MOM_POLICY_EVAL_RESULTS)
 *
 * The controls are the values the policy set, before any controller
 * converts or clamps them.  "host" is always there; every guest of the
 * snapshot is there ({} when the policy set nothing for it); "io_tune"
 * appears last, for guests with I/O-tune data only, and lists every disk's
 * limits after evaluation as {"name", "path", "ioTune": LIMITS}.
 *
 * On failure *ret_output is {"ok": false, "error": MESSAGE}.  Failures are:
 * a policy file that cannot be read or does not load, an invalid snapshot,
 * a run-time error of the evaluation, or a control whose value is not a
 * finite number (NaN or an infinity anywhere in it).
 *
 * Snapshot format:
 *   {"host": [SAMPLE, ...], "host_props": {...},
 *    "guests": [{"props": {"name": ..., "uuid": ..., "pid": ...},
 *                "stats": [SAMPLE, ...]}, ...]}
 * Samples are oldest first, the last one is the current one, and no list
 * of samples is empty.  A SAMPLE maps field names to values; null or a
 * missing key means absent.  Every field that appears in any sample of an
 * entity is declared for that entity.  Every guest is ready.  io_tune is a
 * list of {"name", "path", "guaranteed": LIMITS, "maximum": LIMITS,
 * "current": LIMITS}, io_tune_current a list of {"name", "path", "ioTune":
 * LIMITS}; LIMITS has the six keys total_bytes_sec, read_bytes_sec,
 * write_bytes_sec, total_iops_sec, read_iops_sec, write_iops_sec.
 *
 * `opts` may be NULL for the defaults.  Everything passed in is only read
 * during the call.  *ret_output belongs to the caller (mom_value_unref());
 * when ret_error is not NULL, a failure's message is also stored there
 * (free with mom_free(); NULL on success).
 *
 * Returns 0 on success; on failure, with *ret_output set: MOM_E_POLICY
 * (load, run-time or non-finite result), -EBADMSG (invalid snapshot),
 * MOM_E_CONFIG (opts->config_file does not load), or
 * the negative errno of a policy file that cannot be read.  -EINVAL (bad
 * arguments: a NULL pointer, unknown flags) and -ENOMEM leave
 * *ret_output and *ret_error untouched.
 */
MOM_API int mom_policy_eval(const mom_policy_opts *opts, const char *const *paths, size_t n,
                            const char *snapshot_json, size_t len, unsigned flags,
                            mom_value **ret_output, char **ret_error);

/*
 * Render a value as one line of JSON: integers as integers, reals in
 * shortest round-trip form (an integral real keeps ".0"; NaN and infinities
 * become null), BOOL as true/false, NONE as null, MAP keys in their order.
 * *ret_json is the caller's: free with mom_free().  Returns 0, -EINVAL or
 * -ENOMEM.  Any thread.
 */
MOM_API int mom_value_to_json(const mom_value *v, char **ret_json);

/*
 * Convert the classic policy file `path` to the Fortran-like dialect
 * (`momctl policy convert`, POLICY-LANGUAGE.md §12), for the constructs
 * both dialects share.  The n_context files `context_paths` are other
 * classic files of the same policy set: their globals, functions and calls
 * inform the conversion (the types of shared variables, which procedures
 * return values), but they are not converted.
 *
 * On success *ret_text is the Fortran-like text and *ret_report holds one
 * line per finding, each ending in a newline:
 *   "PATH:LINE: cannot convert: REASON" -- the construct at LINE is not
 *       converted; the text keeps it as a comment after a line
 *       "! cannot convert (line LINE): REASON";
 *   "PATH:LINE: note: ..." -- converted, but worth knowing (a renamed
 *       local, a call of a procedure defined elsewhere).
 * *ret_unconverted (may be NULL) gets the number of "cannot convert"
 * lines.  Both strings are the caller's: free with mom_free().
 *
 * Returns 0 (even when some constructs were not converted), MOM_E_POLICY
 * when a file does not parse (*ret_report names the error as
 * "PATH:LINE:COL: error: MESSAGE", *ret_text is NULL), the negative errno
 * of a file that cannot be read (*ret_report names it, *ret_text is NULL),
 * -EINVAL for bad arguments or -ENOMEM (then neither string is set).  Any
 * thread.
 */
MOM_API int mom_policy_convert(const char *path, const char *const *context_paths,
                               size_t n_context, char **ret_text, char **ret_report,
                               size_t *ret_unconverted);

#ifdef __cplusplus
}
#endif
#endif
