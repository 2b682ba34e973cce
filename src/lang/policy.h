/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy sets: the engine's only interface to the policy languages.
 *
 * A policy set is a map name -> (text, dialect, file label).  Every change
 * compiles the whole set; when that fails the running set is kept and the
 * error text is returned.  Evaluation runs the compiled set over one
 * snapshot and produces controls; any run-time error makes the whole cycle
 * fail (no controls, and nothing the cycle did to saved state is kept).
 *
 * Threads: a policy_set is not thread-safe; the engine serialises access
 * with its own mutex.
 */
#ifndef MOM_LANG_POLICY_H
#define MOM_LANG_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "core/snapshot.h"

typedef enum policy_dialect {
    POLICY_DIALECT_GUESS = 0,  /* from the file name, else from the text */
    POLICY_DIALECT_CLASSIC,
    POLICY_DIALECT_FORTRAN,
} policy_dialect;

/* The names the load-time checks accept (Fortran-like dialect): fields and
 * controls of each entity kind.  NULL-terminated arrays; NULL = built-in
 * catalog only. */
typedef struct policy_catalog {
    const char *const *host_fields;
    const char *const *guest_fields;
    const char *const *host_controls;
    const char *const *guest_controls;
} policy_catalog;

/* Catalogs built from configured collectors and controllers (the engine's
 * configuration, momctl --config): every field of the field tables, and
 * every control of the controllers.  Each list is present (non-NULL) even
 * when empty, so a configuration without controllers warns about every
 * control.  The strings are copied.  NULL on ENOMEM.  Free with
 * policy_catalog_free (which accepts NULL). */
struct fieldtab;
struct mom_controller;
policy_catalog *policy_catalog_new(const struct fieldtab *host_fields,
                                   const struct fieldtab *guest_fields,
                                   const struct mom_controller *const *controllers,
                                   size_t n_controllers);
/* Add names to one list of a catalog made by policy_catalog_new (which:
 * 0 host fields, 1 guest fields, 2 host controls, 3 guest controls);
 * duplicates are ignored.  0 or -ENOMEM. */
int policy_catalog_add(policy_catalog *c, int which, const char *const *names);
void policy_catalog_free(policy_catalog *c);

typedef struct policy_opts {
    int64_t step_limit;   /* per guest per cycle (policy-step-limit) */
    int depth_limit;      /* call depth (policy-depth-limit) */
    const mlog *log;      /* debug output and warnings; may be NULL */
    const policy_catalog *catalog; /* may be NULL */
} policy_opts;

typedef struct policy_set policy_set;

int policy_set_new(const policy_opts *opts, policy_set **ret);
void policy_set_free(policy_set *p);

/* Store `text` under `name` (NULL text deletes the name) and recompile.
 * `file` labels errors (the path it came from, or NULL: the name is used);
 * the dialect comes from `file`'s extension, else from the text.
 * 0 on success; MOM_E_POLICY with *ret_error (free with mom_free) when the
 * new set does not load, in which case nothing changed. */
int policy_set_set(policy_set *p, const char *name, const char *text, const char *file,
                   char **ret_error);

/* Replace the whole set at once (setPolicy, reset from files).  Arrays of
 * n entries; files[i] may be NULL.  All or nothing, as policy_set_set. */
int policy_set_replace(policy_set *p, const char *const *names, const char *const *texts,
                       const char *const *files, size_t n, char **ret_error);

/* The texts joined with "\n" in name order, or "0" for an empty set
 * (caller frees with mom_free). */
char *policy_set_text(const policy_set *p);
/* MAP name -> STRING of the stored texts (caller unrefs). */
mom_value *policy_set_named(const policy_set *p);
size_t policy_set_count(const policy_set *p);

/*
 * Evaluate once.  On success returns 0 and *ret_controls (free with
 * controls_free); if ret_results is not NULL it receives a LIST of the
 * results of the top-level classic expressions (strings in the notation of
 * POLICY-CLASSIC §0).  On failure returns MOM_E_POLICY with *ret_error:
 * "FILE:LINE:COL: error: MESSAGE[ (guest NAME)]".
 */
int policy_set_eval(policy_set *p, const snapshot *snap, controls **ret_controls,
                    mom_value **ret_results, char **ret_error);

/* Check a set of files without keeping it (momctl policy check, momd
 * --check-policy).  Errors and warnings are reported one per line through
 * `report`; returns 0 or MOM_E_POLICY. */
typedef void (*policy_report_fn)(const char *line, int is_error, void *userdata);
int policy_check_files(const policy_opts *opts, const char *const *paths, size_t n,
                       policy_report_fn report, void *userdata);

/* Replace the set by the policy files of the configuration (start-up,
 * SIGHUP, resetPolicies): `policy_file` (may be NULL) is stored under
 * "50_main_", and every *.mom and *.policy file of `policy_dir` (may be
 * NULL) not starting with '.' under its name (policy_name_from_path), in
 * sorted order.  Two files with one name, an unreadable file or a file
 * that does not load fail the whole call: MOM_E_POLICY with *ret_error
 * ("FILE:LINE:COL: error: MESSAGE"; free with mom_free), and the running
 * set stays. */
int policy_set_load_files(policy_set *p, const char *policy_file, const char *policy_dir,
                          char **ret_error);

/* The dialect of a text: from the file name's extension (.mom, .policy),
 * else a "dialect:" first line, else a guess from the first character
 * (POLICY-LANGUAGE, top section). */
policy_dialect policy_guess_dialect(const char *file, const char *text);

/* Name of a policy file as §10 of POLICY-LANGUAGE says: base name without
 * the .mom / .policy extension.  Caller frees. */
char *policy_name_from_path(const char *path);

#endif
