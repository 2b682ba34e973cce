/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Snapshots read from JSON: what `momctl policy eval` (and tests) run a
 * policy set on instead of a live host.
 *
 *   {"host": [SAMPLE, ...], "host_props": {...},
 *    "guests": [{"props": {"name": ..., "uuid": ..., "pid": ...},
 *                "stats": [SAMPLE, ...]}, ...]}
 *
 * Samples are oldest first; the last one is the current one; no entity has
 * an empty list.  A SAMPLE maps field names to values; null or a missing key
 * means absent.  Each entity gets a field table of its own
 * (snap_entity.own_fields) that declares, as optional, every field that
 * appears in any of its samples.  The snapshot's shared host_fields points
 * at the host's table; guest_fields is NULL because guests may declare
 * different fields (use each entity's `fields`).  Every guest is ready.
 *
 * Values: JSON integers become FV_INT, JSON reals FV_REAL (2.0 stays a
 * real), null FV_NONE, and strings, booleans, lists and objects FV_VALUE
 * (a mom_value).  The fields io_tune and io_tune_current are checked
 * against the shapes of REFERENCE.md §2.5.
 */
#ifndef MOM_CORE_SNAPSHOT_JSON_H
#define MOM_CORE_SNAPSHOT_JSON_H

#include <stddef.h>

#include "core/snapshot.h"

/*
 * Build a snapshot from `len` bytes of JSON text.  On success returns 0 and
 * *ret (release with snapshot_unref).  On invalid input returns -EBADMSG and
 * *ret_error (free with mom_free), "LABEL:LINE:COL: MESSAGE" for a syntax
 * error or "LABEL: PATH: MESSAGE" for a shape error, PATH being where in the
 * document the problem is ("guests[2].stats"); `label` names the document
 * (NULL: "snapshot").  -ENOMEM when memory runs out (then *ret_error may be
 * NULL).  *ret and *ret_error are only written on the paths described.
 */
int snapshot_json_parse(const char *text, size_t len, const char *label, snapshot **ret,
                        char **ret_error);

/* The same for a file; a file that cannot be read gives its negative errno
 * and "PATH: REASON" in *ret_error. */
int snapshot_json_load_file(const char *path, snapshot **ret, char **ret_error);

#endif
