/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the configuration reader: the input is a mom.conf
 * text.  Every problem report is discarded; what the fuzzer looks for is a
 * crash, a sanitizer report or a leak.  A successful load is also read back
 * through the getters, so that the lookups run on fuzzed data too.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void discard(mom_log_level level, const char *msg, void *userdata)
{
    (void)level;
    (void)msg;
    (void)userdata;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One override, so that override handling mixes with fuzzed text. */
    static const mom_config_override ov[] = {{"logging", "verbosity", "debug"}};
    conf *c = NULL;
    if (conf_load_text("fuzz.conf", (const char *)data, size, ov, 1, discard, NULL, &c) != 0)
        return 0;
    static const char *const sections[] = {"main", "logging", "host", "guest", "sim", "vdsm",
                                           "DEFAULT"};
    static const char *const keys[] = {"controllers", "collectors", "rpc-port", "verbosity",
                                       "worker-threads", "speed", "policy"};
    for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            const char *const *items;
            size_t n;
            const char *file;
            int line;
            (void)conf_get(c, sections[s], keys[k]);
            (void)conf_get_int(c, sections[s], keys[k]);
            (void)conf_get_real(c, sections[s], keys[k]);
            (void)conf_get_bool(c, sections[s], keys[k]);
            (void)conf_get_list(c, sections[s], keys[k], &items, &n);
            (void)conf_key_location(c, sections[s], keys[k], &file, &line);
        }
    }
    for (size_t i = 0; i < conf_n_collector_sections(c); i++) {
        const char *const *items;
        size_t n;
        const char *name = conf_collector_section(c, i);
        (void)name;
        (void)conf_get_list(c, "Collector: GuestQemuAgent", "socket_path", &items, &n);
    }
    (void)conf_parse_level(conf_get(c, "logging", "verbosity"));
    conf_free(c);
    return 0;
}
