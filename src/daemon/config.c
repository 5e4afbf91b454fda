/* pylockerd's settings: defaults, /etc/pylocker/pylockerd.conf (GKeyFile) and command line overrides. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <glib.h>

#include "bridge-psk.h"
#include "bus-locker.h"
#include "config.h"
#include "macro.h"
#include "time-util.h"

/* The file's sections: [Locker] for the lock service, [Bridge] for the TCP bridge, [Backend] for where
 * the lock table lives. */
static const char *const config_groups[] = { CONFIG_GROUP_LOCKER, CONFIG_GROUP_BRIDGE, CONFIG_GROUP_BACKEND };

typedef enum SettingType {
        SETTING_TIME_SPAN,
        SETTING_SIZE,
        SETTING_UNSIGNED,
        SETTING_ADDRESS,        /* string: HOST:PORT, [V6ADDR]:PORT or *:PORT */
        SETTING_PATH,           /* string: a file name */
        SETTING_STRING,         /* string: not empty, no control characters */
        SETTING_URLS,           /* string: http:// or https:// URLs, comma-separated */
        SETTING_BACKEND_TYPE,   /* memory or etcd */
} SettingType;

typedef struct Setting {
        const char *group;
        const char *key;
        SettingType type;
        size_t offset;
        uint64_t min;
        uint64_t max;
} Setting;

#define BRIDGE(field) offsetof(Config, bridge.field)
#define BACKEND(field) offsetof(Config, backend.field)
static const Setting settings[] = {
        { CONFIG_GROUP_LOCKER, "DefaultTimeout",      SETTING_TIME_SPAN, offsetof(Config, service.limits.default_timeout_usec),  1, UINT64_MAX },
        { CONFIG_GROUP_LOCKER, "MaxLockTime",         SETTING_TIME_SPAN, offsetof(Config, service.limits.max_lock_usec),         1, MAX_LOCK_TIME_LIMIT_USEC },
        { CONFIG_GROUP_LOCKER, "MaxPathsPerRequest",  SETTING_SIZE, offsetof(Config, service.limits.max_paths_per_request), 1, 1 << 20 },
        { CONFIG_GROUP_LOCKER, "MaxPathLength",       SETTING_SIZE, offsetof(Config, service.limits.max_path_length),       1, 1 << 20 },
        { CONFIG_GROUP_LOCKER, "MaxLocksPerClient",   SETTING_SIZE, offsetof(Config, service.limits.max_locks_per_owner),   1, UINT32_MAX },
        { CONFIG_GROUP_LOCKER, "MaxWaitersPerClient", SETTING_SIZE, offsetof(Config, service.limits.max_waiters_per_owner), 0, UINT32_MAX },
        { CONFIG_GROUP_LOCKER, "MaxLocksPerUser",     SETTING_SIZE, offsetof(Config, service.limits.max_locks_per_group),   1, UINT32_MAX },
        { CONFIG_GROUP_LOCKER, "MaxWaitersPerUser",   SETTING_SIZE, offsetof(Config, service.limits.max_waiters_per_group), 0, UINT32_MAX },
        { CONFIG_GROUP_LOCKER, "MaxBytesPerUser",     SETTING_SIZE, offsetof(Config, service.limits.max_bytes_per_group),   64 << 10, SIZE_MAX },
        { CONFIG_GROUP_LOCKER, "MaxDirectConnections", SETTING_UNSIGNED, offsetof(Config, max_direct_connections), 1, 1 << 20 },
        { CONFIG_GROUP_LOCKER, "MaxDirectConnectionsPerUser", SETTING_UNSIGNED, offsetof(Config, max_direct_connections_per_user), 1, 1 << 20 },
        { CONFIG_GROUP_LOCKER, "IdleTimeout",         SETTING_TIME_SPAN, offsetof(Config, idle_timeout_usec), USEC_PER_SEC, UINT64_MAX },
        { CONFIG_GROUP_LOCKER, "MaxQueuedBytesPerConnection", SETTING_SIZE, offsetof(Config, max_queued_bytes), 64 << 10, SIZE_MAX },
        { CONFIG_GROUP_LOCKER, "MaxMessageSize",      SETTING_SIZE, offsetof(Config, service.max_message_size), 1, 64 << 20 },
        { CONFIG_GROUP_LOCKER, "MaxInboxLength",      SETTING_SIZE, offsetof(Config, service.max_inbox_length), 1, UINT32_MAX },
        { CONFIG_GROUP_LOCKER, "MaxReceiversPerMessage", SETTING_SIZE, offsetof(Config, service.max_receivers), 1, 1 << 20 },
        { CONFIG_GROUP_LOCKER, "MaxPublicationsPerSecond", SETTING_UNSIGNED, offsetof(Config, service.max_publications_per_second), 1, UINT32_MAX },
        { CONFIG_GROUP_LOCKER, "IdleExit",            SETTING_TIME_SPAN, offsetof(Config, idle_exit_usec), 0, UINT64_MAX },

        { CONFIG_GROUP_BRIDGE, "Listen",                   SETTING_ADDRESS,   BRIDGE(listen),                   0, 0 },
        { CONFIG_GROUP_BRIDGE, "SecretFile",               SETTING_PATH,      BRIDGE(secret_file),              0, 0 },
        { CONFIG_GROUP_BRIDGE, "HandshakeTimeout",         SETTING_TIME_SPAN, BRIDGE(handshake_timeout_usec),   1, 3600 * USEC_PER_SEC },
        { CONFIG_GROUP_BRIDGE, "MaxConnections",           SETTING_UNSIGNED,  BRIDGE(max_connections),          0, 1 << 20 },
        { CONFIG_GROUP_BRIDGE, "MaxConnectionsPerAddress", SETTING_UNSIGNED,  BRIDGE(max_connections_per_address), 0, 1 << 20 },
        { CONFIG_GROUP_BRIDGE, "MaxFailedHandshakes",      SETTING_UNSIGNED,  BRIDGE(max_failed_handshakes),    0, UINT32_MAX },
        { CONFIG_GROUP_BRIDGE, "FailedHandshakeBackoff",   SETTING_TIME_SPAN, BRIDGE(failed_handshake_backoff_usec), 1, 24 * 3600 * USEC_PER_SEC },
        { CONFIG_GROUP_BRIDGE, "MaxHandshakeBytes",        SETTING_SIZE,      BRIDGE(max_handshake_bytes),      512, 1 << 20 },
        { CONFIG_GROUP_BRIDGE, "MaxMessageSize",           SETTING_SIZE,      BRIDGE(max_message_size),         4096, 128 << 20 },
        { CONFIG_GROUP_BRIDGE, "KeepAliveTime",            SETTING_TIME_SPAN, BRIDGE(keepalive_time_usec),      USEC_PER_SEC, 32767 * USEC_PER_SEC },
        { CONFIG_GROUP_BRIDGE, "KeepAliveInterval",        SETTING_TIME_SPAN, BRIDGE(keepalive_interval_usec),  USEC_PER_SEC, 32767 * USEC_PER_SEC },
        { CONFIG_GROUP_BRIDGE, "KeepAliveCount",           SETTING_UNSIGNED,  BRIDGE(keepalive_count),          1, 127 },

        { CONFIG_GROUP_BACKEND, "Type",            SETTING_BACKEND_TYPE, BACKEND(type),             0, 0 },
        { CONFIG_GROUP_BACKEND, "Endpoints",       SETTING_URLS,      BACKEND(endpoints),           0, 0 },
        /* etcd grants leases of whole seconds, of at least a few. */
        { CONFIG_GROUP_BACKEND, "SessionTTL",      SETTING_TIME_SPAN, BACKEND(session_ttl_usec),    2 * USEC_PER_SEC, 3600 * USEC_PER_SEC },
        { CONFIG_GROUP_BACKEND, "Node",            SETTING_STRING,    BACKEND(node),                0, 0 },
        { CONFIG_GROUP_BACKEND, "CAFile",          SETTING_PATH,      BACKEND(ca_file),             0, 0 },
        { CONFIG_GROUP_BACKEND, "CertificateFile", SETTING_PATH,      BACKEND(certificate_file),    0, 0 },
        { CONFIG_GROUP_BACKEND, "KeyFile",         SETTING_PATH,      BACKEND(key_file),            0, 0 },
        { CONFIG_GROUP_BACKEND, "User",            SETTING_STRING,    BACKEND(user),                0, 0 },
        { CONFIG_GROUP_BACKEND, "PasswordFile",    SETTING_PATH,      BACKEND(password_file),       0, 0 },
};

/* The string settings, freed and copied together. */
static const size_t owned_strings[] = {
        BRIDGE(listen), BRIDGE(secret_file),
        BACKEND(endpoints), BACKEND(node), BACKEND(ca_file), BACKEND(certificate_file), BACKEND(key_file),
        BACKEND(user), BACKEND(password_file),
};

static char **config_string(Config *config, size_t offset) {
        return (char **) (void *) ((char *) config + offset);
}

void config_init_defaults(Config *config) {
        *config = (Config) {
                .service = {
                        .limits = LOCK_TABLE_LIMITS_DEFAULT,
                        .max_message_size = 64 * 1024,
                        .max_inbox_length = 1024,
                        .max_receivers = 1024,
                        .max_publications_per_second = 1000,
                },
                .max_direct_connections = 4096,
                .max_direct_connections_per_user = 256,
                .idle_timeout_usec = 10 * 60 * USEC_PER_SEC,
                .max_queued_bytes = BUS_MAX_QUEUED_BYTES_DEFAULT,
                .bridge = {
                        .handshake_timeout_usec = 5 * USEC_PER_SEC,
                        .max_connections = 64,
                        .max_connections_per_address = 8,
                        .max_failed_handshakes = 5,
                        .failed_handshake_backoff_usec = 60 * USEC_PER_SEC,
                        .max_handshake_bytes = 16 * 1024,
                        .max_message_size = 1024 * 1024,   /* the wire protocol's frame limit */
                        .keepalive_time_usec = 60 * USEC_PER_SEC,
                        .keepalive_interval_usec = 10 * USEC_PER_SEC,
                        .keepalive_count = 6,
                },
                .backend = {
                        .type = BACKEND_MEMORY,
                        .session_ttl_usec = 10 * USEC_PER_SEC,
                },
        };
}

void config_done(Config *config) {
        for (size_t i = 0; i < ELEMENTSOF(owned_strings); i++)
                g_clear_pointer(config_string(config, owned_strings[i]), g_free);
}

void config_copy(Config *dst, const Config *src) {
        *dst = *src;
        for (size_t i = 0; i < ELEMENTSOF(owned_strings); i++)
                *config_string(dst, owned_strings[i]) = g_strdup(*config_string((Config *) src, owned_strings[i]));
}

int config_check(const Config *config, char **ret_error) {
        if (config->backend.type == BACKEND_ETCD && !config->backend.endpoints) {
                *ret_error = g_strdup("[Backend] Type=etcd needs Endpoints=");
                return -EINVAL;
        }
        if (!config->backend.certificate_file != !config->backend.key_file) {
                *ret_error = g_strdup("[Backend] CertificateFile= and KeyFile= go together");
                return -EINVAL;
        }
        if (!config->backend.user != !config->backend.password_file) {
                *ret_error = g_strdup("[Backend] User= and PasswordFile= go together");
                return -EINVAL;
        }
        return 0;
}

static bool url_valid(const char *url) {
        g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
        const char *scheme = uri ? g_uri_get_scheme(uri) : NULL;

        return scheme && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
               g_uri_get_host(uri) && *g_uri_get_host(uri) && g_uri_get_port(uri) > 0 &&
               (g_uri_get_path(uri)[0] == 0 || strcmp(g_uri_get_path(uri), "/") == 0) &&
               !g_uri_get_query(uri) && !g_uri_get_userinfo(uri);
}

static bool group_known(const char *group) {
        for (size_t i = 0; i < ELEMENTSOF(config_groups); i++)
                if (strcmp(config_groups[i], group) == 0)
                        return true;
        return false;
}

static const Setting *setting_find(const char *group, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(settings); i++)
                if (strcmp(settings[i].group, group) == 0 && strcmp(settings[i].key, key) == 0)
                        return &settings[i];
        return NULL;
}

static int config_set_string(Config *config, const Setting *s, const char *value, char **ret_error) {
        char **field = (char **) (void *) ((char *) config + s->offset);
        g_autofree char *host = NULL;
        uint16_t port;

        if (s->type == SETTING_ADDRESS && bridge_split_host_port(value, &host, &port) < 0) {
                *ret_error = g_strdup_printf("%s=%s is not an address and port (e.g. 192.0.2.1:3000, "
                                             "[2001:db8::1]:3000, *:3000)", s->key, value);
                return -EINVAL;
        }
        if (s->type == SETTING_PATH && *value == 0) {
                *ret_error = g_strdup_printf("%s= needs a file name", s->key);
                return -EINVAL;
        }
        if (s->type == SETTING_STRING) {
                if (*value == 0 || strlen(value) > 255) {
                        *ret_error = g_strdup_printf("%s= needs 1 to 255 characters", s->key);
                        return -EINVAL;
                }
                for (const char *p = value; *p; p++)
                        if ((unsigned char) *p < ' ' || *p == 0x7f) {
                                *ret_error = g_strdup_printf("%s= has a control character", s->key);
                                return -EINVAL;
                        }
        }
        if (s->type == SETTING_URLS) {
                g_auto(GStrv) urls = g_strsplit(value, ",", -1);

                for (size_t i = 0; urls[i] || i == 0; i++)
                        if (!urls[i] || !url_valid(g_strstrip(urls[i]))) {
                                *ret_error = g_strdup_printf("%s=%s is not a comma-separated list of "
                                                             "http:// or https:// URLs with a port "
                                                             "(e.g. https://192.0.2.1:2379)", s->key, value);
                                return -EINVAL;
                        }
        }
        g_free(*field);
        *field = g_strdup(value);
        return 0;
}

int config_set(Config *config, const char *group, const char *key, const char *value, char **ret_error) {
        const Setting *s = setting_find(group, key);
        uint64_t v;
        int r;

        if (!s) {
                *ret_error = g_strdup_printf("unknown setting %s in [%s]", key, group);
                return -ENOENT;
        }
        if (s->type == SETTING_ADDRESS || s->type == SETTING_PATH || s->type == SETTING_STRING ||
            s->type == SETTING_URLS)
                return config_set_string(config, s, value, ret_error);
        if (s->type == SETTING_BACKEND_TYPE) {
                if (strcmp(value, "memory") != 0 && strcmp(value, "etcd") != 0) {
                        *ret_error = g_strdup_printf("%s=%s is not memory or etcd", key, value);
                        return -EINVAL;
                }
                *(BackendType *) (void *) ((char *) config + s->offset) =
                        strcmp(value, "etcd") == 0 ? BACKEND_ETCD : BACKEND_MEMORY;
                return 0;
        }

        if (s->type == SETTING_TIME_SPAN)
                r = parse_time_span(value, &v);
        else
                r = parse_uint(value, UINT64_MAX, &v);
        if (r == 0 && (v < s->min || v > s->max))
                r = -ERANGE;
        if (r < 0) {
                *ret_error = g_strdup_printf("%s=%s is not %s", key, value,
                                             s->type == SETTING_TIME_SPAN ?
                                             "a valid time span (e.g. 20s, 500ms, 2min; at least 1us)" :
                                             r == -ERANGE ? "within the allowed range" : "a non-negative integer");
                return r;
        }

        if (s->type == SETTING_TIME_SPAN)
                *(uint64_t *) ((char *) config + s->offset) = v;
        else if (s->type == SETTING_SIZE)
                *(size_t *) ((char *) config + s->offset) = (size_t) v;
        else
                *(unsigned *) ((char *) config + s->offset) = (unsigned) v;
        return 0;
}

/* GKeyFile keeps no line numbers, so a first pass over the text finds the line of each key and
 * rejects what GKeyFile would take silently: unknown groups and keys, and duplicates. */
static int config_scan_lines(const char *path, const char *text, GHashTable *key_lines, char **ret_error) {
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        g_autofree char *group = NULL;

        for (size_t n = 0; lines[n]; n++) {
                const char *line = lines[n];
                const char *eq;
                g_autofree char *key = NULL, *qualified = NULL;

                while (g_ascii_isspace(*line))
                        line++;
                if (*line == 0 || *line == '#')
                        continue;

                if (*line == '[') {
                        const char *end = strchr(line, ']');

                        if (!end) {
                                *ret_error = g_strdup_printf("%s:%zu: malformed section header", path, n + 1);
                                return -EINVAL;
                        }
                        g_free(group);
                        group = g_strndup(line + 1, (gsize) (end - line - 1));
                        if (!group_known(group)) {
                                *ret_error = g_strdup_printf("%s:%zu: unknown section [%s]", path, n + 1, group);
                                return -EINVAL;
                        }
                        continue;
                }

                eq = strchr(line, '=');
                if (!eq) {
                        *ret_error = g_strdup_printf("%s:%zu: expected KEY=VALUE", path, n + 1);
                        return -EINVAL;
                }
                key = g_strstrip(g_strndup(line, (gsize) (eq - line)));
                if (!group) {
                        *ret_error = g_strdup_printf("%s:%zu: key %s is outside of a section", path, n + 1, key);
                        return -EINVAL;
                }
                if (!setting_find(group, key)) {
                        *ret_error = g_strdup_printf("%s:%zu: unknown key %s in [%s]", path, n + 1, key, group);
                        return -EINVAL;
                }
                qualified = g_strconcat(group, "/", key, NULL);
                if (g_hash_table_contains(key_lines, qualified)) {
                        *ret_error = g_strdup_printf("%s:%zu: key %s is set twice", path, n + 1, key);
                        return -EINVAL;
                }
                g_hash_table_insert(key_lines, g_steal_pointer(&qualified), GSIZE_TO_POINTER(n + 1));
        }
        return 0;
}

int config_load_file(Config *config, const char *path, bool missing_ok, char **ret_error) {
        g_autoptr(GHashTable) key_lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GKeyFile) file = g_key_file_new();
        g_autoptr(GError) error = NULL;
        g_autofree char *text = NULL;
        _cleanup_(config_done) Config loaded = {};
        gsize length;
        int r;

        if (!g_file_get_contents(path, &text, &length, &error)) {
                if (missing_ok && g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return 0;
                *ret_error = g_strdup_printf("%s: %s", path, error->message);
                return -EIO;
        }
        if (strlen(text) != length) {
                *ret_error = g_strdup_printf("%s: contains a NUL byte", path);
                return -EINVAL;
        }

        r = config_scan_lines(path, text, key_lines, ret_error);
        if (r < 0)
                return r;

        if (!g_key_file_load_from_data(file, text, length, G_KEY_FILE_NONE, &error)) {
                *ret_error = g_strdup_printf("%s: %s", path, error->message);
                return -EINVAL;
        }

        config_copy(&loaded, config);
        for (size_t g = 0; g < ELEMENTSOF(config_groups); g++) {
                const char *group = config_groups[g];
                g_auto(GStrv) keys = g_key_file_get_keys(file, group, NULL, NULL);

                for (size_t i = 0; keys && keys[i]; i++) {
                        g_autofree char *value = g_key_file_get_string(file, group, keys[i], &error);
                        g_autofree char *message = NULL, *qualified = g_strconcat(group, "/", keys[i], NULL);
                        size_t line = GPOINTER_TO_SIZE(g_hash_table_lookup(key_lines, qualified));

                        if (!value) {
                                *ret_error = g_strdup_printf("%s:%zu: key %s: %s", path, line, keys[i],
                                                             error->message);
                                return -EINVAL;
                        }
                        r = config_set(&loaded, group, keys[i], value, &message);
                        if (r < 0) {
                                *ret_error = g_strdup_printf("%s:%zu: key %s: %s", path, line, keys[i], message);
                                return r;
                        }
                }
        }

        config_done(config);
        *config = loaded;
        loaded = (Config) {};
        return 0;
}
