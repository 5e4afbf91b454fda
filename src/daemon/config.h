/* pylockerd's settings: defaults, /etc/pylocker/pylockerd.conf (GKeyFile) and command line overrides. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lock-table.h"

#define CONFIG_GROUP_LOCKER "Locker"
#define CONFIG_GROUP_BRIDGE "Bridge"

/* [Bridge]: the TCP bridge and its defences. */
typedef struct BridgeConfig {
        char *listen;                           /* Listen=, --bridge: ADDR:PORT to listen on, or NULL */
        char *secret_file;                      /* SecretFile=, --secret-file; NULL: the credential */
        uint64_t handshake_timeout_usec;        /* from accept() to a finished TLS handshake */
        unsigned max_connections;               /* bridge connections at once, handshaking or not */
        unsigned max_connections_per_address;   /* of them from one source address */
        unsigned max_failed_handshakes;         /* failures from one address before it backs off; 0: never */
        uint64_t failed_handshake_backoff_usec; /* how long new connections from it are refused */
        size_t max_handshake_bytes;             /* bytes a peer may send before its handshake is done */
        size_t max_message_size;                /* bytes of one D-Bus message from a peer */
        uint64_t keepalive_time_usec;           /* TCP keepalive: idle time before the first probe */
        uint64_t keepalive_interval_usec;       /* between probes */
        unsigned keepalive_count;               /* unanswered probes before the connection is dropped */
} BridgeConfig;

typedef struct Config {
        LockTableLimits limits;
        unsigned max_direct_connections;
        size_t max_message_size;
        size_t max_inbox_length;
        unsigned max_publications_per_second;
        uint64_t idle_exit_usec;
        const char *state_dir;      /* not owned; from --state-dir or $STATE_DIRECTORY */
        BridgeConfig bridge;        /* its strings are owned */
} Config;

void config_init_defaults(Config *config);
/* Frees the strings (the struct stays). */
void config_done(Config *config);
/* A copy with its own strings. */
void config_copy(Config *dst, const Config *src);

/* Loads the file over the current values. A missing file is fine when missing_ok. On failure returns
 * a negative errno and a message naming the file, line and key. */
int config_load_file(Config *config, const char *path, bool missing_ok, char **ret_error);

/* Sets one setting by its section and key names, as in the file; used for command line overrides too.
 * Returns 0, or -EINVAL/-ERANGE/-ENOENT (unknown key) with a message. */
int config_set(Config *config, const char *group, const char *key, const char *value, char **ret_error);
