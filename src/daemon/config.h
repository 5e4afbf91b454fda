/* pylockerd's settings: defaults, /etc/pylocker/pylockerd.conf (GKeyFile) and command line overrides. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lock-table.h"

typedef struct Config {
        LockTableLimits limits;
        unsigned max_direct_connections;
        size_t max_message_size;
        size_t max_inbox_length;
        unsigned max_publications_per_second;
        uint64_t idle_exit_usec;
} Config;

void config_init_defaults(Config *config);

/* Loads the file over the current values. A missing file is fine when missing_ok. On failure returns
 * a negative errno and a message naming the file, line and key. */
int config_load_file(Config *config, const char *path, bool missing_ok, char **ret_error);

/* Sets one setting by its key name, as in the file; used for command line overrides too.
 * Returns 0, or -EINVAL/-ERANGE/-ENOENT (unknown key) with a message. */
int config_set(Config *config, const char *key, const char *value, char **ret_error);
