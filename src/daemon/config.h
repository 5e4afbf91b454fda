/* pylockerd's settings: defaults, /etc/pylocker/pylockerd.conf (GKeyFile) and command line overrides. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bridge-config.h"
#include "service.h"

#define CONFIG_GROUP_LOCKER "Locker"
#define CONFIG_GROUP_BRIDGE "Bridge"
#define CONFIG_GROUP_BACKEND "Backend"

typedef enum BackendType {
        BACKEND_MEMORY,
        BACKEND_ETCD,
} BackendType;

/* [Backend]: where the lock table lives. */
typedef struct BackendConfig {
        BackendType type;
        char *endpoints;            /* etcd client URLs, comma-separated */
        uint64_t session_ttl_usec;
        char *node;                 /* NULL: the host name */
        char *ca_file;
        char *certificate_file;
        char *key_file;
        char *user;
        char *password_file;
} BackendConfig;

typedef struct Config {
        ServiceSettings service;
        unsigned max_direct_connections;
        unsigned max_direct_connections_per_user;   /* of one uid other than root and our own */
        uint64_t idle_timeout_usec;   /* a welcomed direct connection holding nothing; UINT64_MAX: never */
        size_t max_queued_bytes;    /* per D-Bus peer connection */
        uint64_t idle_exit_usec;
        const char *state_dir;      /* not owned; from --state-dir or $STATE_DIRECTORY */
        BridgeConfig bridge;        /* its strings are owned */
        BackendConfig backend;      /* its strings are owned */
} Config;

void config_init_defaults(Config *config);
/* Frees the strings (the struct stays). */
void config_done(Config *config);
/* A copy with its own strings. */
void config_copy(Config *dst, const Config *src);

/* Loads the file over the current values. A missing file is fine when missing_ok. On failure returns
 * a negative errno and a message naming the file, line and key. */
/* Checks what single settings cannot: e.g. Type=etcd needs Endpoints=. Returns 0, or -EINVAL and a
 * message naming the settings. */
int config_check(const Config *config, char **ret_error);

int config_load_file(Config *config, const char *path, bool missing_ok, char **ret_error);

/* Sets one setting by its section and key names, as in the file; used for command line overrides too.
 * Returns 0, or -EINVAL/-ERANGE/-ENOENT (unknown key) with a message. */
int config_set(Config *config, const char *group, const char *key, const char *value, char **ret_error);
