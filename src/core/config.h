/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Configuration: the original MOM's mom.conf (Python configparser dialect),
 * read by our own reader, checked against the schema of every known key.
 *
 * Format: `[section]` headers (case-sensitive names), `key: value` or
 * `key = value` (keys case-insensitive, stored lower-case), continuation
 * lines (indented lines append "\n" + text to the previous value), comments
 * are lines whose first non-blank character is `#` or `;`, `[DEFAULT]` gives
 * defaults to every section, no interpolation (except that collector
 * templates keep `%(name)s` raw for their collectors).
 *
 * Errors are reported as "FILE:LINE: KEY: reason" (for a file) or
 * "override: [SECTION] KEY: reason" (for an override).
 */
#ifndef MOM_CORE_CONFIG_H
#define MOM_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mom/mom.h"

typedef struct conf conf;

/* Called once per problem; level is MOM_LOG_ERROR or MOM_LOG_WARN. */
typedef void (*conf_report_fn)(mom_log_level level, const char *msg, void *userdata);

/*
 * Read and validate.  `path` may be NULL (defaults only).  Overrides are
 * applied after the file.  Every error and warning goes to `report`; the
 * return is 0 (possibly with warnings), MOM_E_CONFIG after any error, or
 * -ENOMEM / -errno for an unreadable file (also reported).
 */
int conf_load(const char *path, const mom_config_override *overrides, size_t n_overrides,
              conf_report_fn report, void *userdata, conf **ret);
/* Parse text as if read from file `name` (for tests and the fuzzer). */
int conf_load_text(const char *name, const char *text, size_t len,
                   const mom_config_override *overrides, size_t n_overrides,
                   conf_report_fn report, void *userdata, conf **ret);
void conf_free(conf *c);

/* Value of a key (defaults applied), or NULL when the key has no value.
 * Section "main", "logging", "host", "guest", "sim" or "Collector: NAME". */
const char *conf_get(const conf *c, const char *section, const char *key);
/* Typed getters for keys the schema knows; they cannot fail after a
 * successful conf_load because values were validated there. */
int64_t conf_get_int(const conf *c, const char *section, const char *key);
double conf_get_real(const conf *c, const char *section, const char *key);
bool conf_get_bool(const conf *c, const char *section, const char *key);
/* Comma-separated list, items trimmed; empty items dropped.  *ret_items
 * is an array of n strings owned by the conf (valid until conf_free). */
int conf_get_list(const conf *c, const char *section, const char *key,
                  const char *const **ret_items, size_t *ret_n);

/* Where a key's effective value came from: *ret_file is the file name (or
 * "override"), *ret_line its line (0 for defaults and overrides).  Returns
 * -ENOENT when the key was never set. */
int conf_key_location(const conf *c, const char *section, const char *key,
                      const char **ret_file, int *ret_line);

/* Names of the [Collector: NAME] sections present (owned by conf). */
size_t conf_n_collector_sections(const conf *c);
const char *conf_collector_section(const conf *c, size_t i);

/* Log level from text as [logging] verbosity reads it: "5"/"debug",
 * "4"/"info", "3"/"warn"/"warning", "2"/"error", "1"/"critical"; anything
 * else is debug (as in the original). */
mom_log_level conf_parse_level(const char *text);

#endif
