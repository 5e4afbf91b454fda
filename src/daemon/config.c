/* pylockerd's settings: defaults, /etc/pylocker/pylockerd.conf (GKeyFile) and command line overrides. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <glib.h>

#include "config.h"
#include "macro.h"
#include "time-util.h"

#define CONFIG_GROUP "Locker"

typedef enum SettingType {
        SETTING_TIME_SPAN,
        SETTING_SIZE,
        SETTING_UNSIGNED,
} SettingType;

typedef struct Setting {
        const char *key;
        SettingType type;
        size_t offset;
        uint64_t min;
        uint64_t max;
} Setting;

#define LIMIT(field) offsetof(Config, limits.field)
static const Setting settings[] = {
        { "DefaultTimeout",      SETTING_TIME_SPAN, LIMIT(default_timeout_usec),  1, UINT64_MAX },
        { "MaxLockTime",         SETTING_TIME_SPAN, LIMIT(max_lock_usec),         1, UINT64_MAX - 1 },
        { "MaxPathsPerRequest",  SETTING_SIZE,      LIMIT(max_paths_per_request), 1, 1 << 20 },
        { "MaxPathLength",       SETTING_SIZE,      LIMIT(max_path_length),       1, 1 << 20 },
        { "MaxLocksPerClient",   SETTING_SIZE,      LIMIT(max_locks_per_owner),   1, UINT32_MAX },
        { "MaxWaitersPerClient", SETTING_SIZE,      LIMIT(max_waiters_per_owner), 0, UINT32_MAX },
        { "MaxDirectConnections", SETTING_UNSIGNED, offsetof(Config, max_direct_connections), 0, 1 << 20 },
        { "MaxMessageSize",      SETTING_SIZE,      offsetof(Config, max_message_size), 1, 64 << 20 },
        { "MaxInboxLength",      SETTING_SIZE,      offsetof(Config, max_inbox_length), 1, UINT32_MAX },
        { "MaxPublicationsPerSecond", SETTING_UNSIGNED, offsetof(Config, max_publications_per_second), 1, UINT32_MAX },
        { "IdleExit",            SETTING_TIME_SPAN, offsetof(Config, idle_exit_usec), 0, UINT64_MAX },
};

void config_init_defaults(Config *config) {
        *config = (Config) {
                .limits = LOCK_TABLE_LIMITS_DEFAULT,
                .max_direct_connections = 4096,
                .max_message_size = 64 * 1024,
                .max_inbox_length = 1024,
                .max_publications_per_second = 1000,
        };
}

static const Setting *setting_find(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(settings); i++)
                if (strcmp(settings[i].key, key) == 0)
                        return &settings[i];
        return NULL;
}

int config_set(Config *config, const char *key, const char *value, char **ret_error) {
        const Setting *s = setting_find(key);
        uint64_t v;
        int r;

        if (!s) {
                *ret_error = g_strdup_printf("unknown setting %s", key);
                return -ENOENT;
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
                g_autofree char *key = NULL;

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
                        if (strcmp(group, CONFIG_GROUP) != 0) {
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
                if (!setting_find(key)) {
                        *ret_error = g_strdup_printf("%s:%zu: unknown key %s in [%s]", path, n + 1, key, group);
                        return -EINVAL;
                }
                if (g_hash_table_contains(key_lines, key)) {
                        *ret_error = g_strdup_printf("%s:%zu: key %s is set twice", path, n + 1, key);
                        return -EINVAL;
                }
                g_hash_table_insert(key_lines, g_steal_pointer(&key), GSIZE_TO_POINTER(n + 1));
        }
        return 0;
}

int config_load_file(Config *config, const char *path, bool missing_ok, char **ret_error) {
        g_autoptr(GHashTable) key_lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GKeyFile) file = g_key_file_new();
        g_autoptr(GError) error = NULL;
        g_autofree char *text = NULL;
        g_auto(GStrv) keys = NULL;
        Config loaded = *config;
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

        keys = g_key_file_get_keys(file, CONFIG_GROUP, NULL, NULL);
        for (size_t i = 0; keys && keys[i]; i++) {
                g_autofree char *value = g_key_file_get_string(file, CONFIG_GROUP, keys[i], &error);
                g_autofree char *message = NULL;
                size_t line = GPOINTER_TO_SIZE(g_hash_table_lookup(key_lines, keys[i]));

                if (!value) {
                        *ret_error = g_strdup_printf("%s:%zu: key %s: %s", path, line, keys[i], error->message);
                        return -EINVAL;
                }
                r = config_set(&loaded, keys[i], value, &message);
                if (r < 0) {
                        *ret_error = g_strdup_printf("%s:%zu: key %s: %s", path, line, keys[i], message);
                        return r;
                }
        }

        *config = loaded;
        return 0;
}
