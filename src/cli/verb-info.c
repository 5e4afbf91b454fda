/* pylockctl locks, clients, status and force-release: what pylockerd knows, as aligned columns or
 * JSON with the D-Bus field names. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include <pylocker/pylocker.h>

#include "time-util.h"
#include "verbs.h"

static void print_json(JsonBuilder *b) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        g_autofree char *text = NULL;

        json_generator_set_root(gen, root);
        json_generator_set_pretty(gen, TRUE);
        text = json_generator_to_data(gen, NULL);
        (void) puts(text);
}

/* A table: a header row and data rows of strings, each column as wide as its widest cell. */
static void print_table(GPtrArray *rows, size_t n_columns) {
        g_autofree size_t *width = g_new0(size_t, n_columns);

        for (guint i = 0; i < rows->len; i++)
                for (size_t c = 0; c < n_columns; c++)
                        width[c] = MAX(width[c], (size_t) g_utf8_strlen(((char **) rows->pdata[i])[c], -1));
        for (guint i = 0; i < rows->len; i++) {
                char **row = rows->pdata[i];

                for (size_t c = 0; c < n_columns; c++) {
                        if (c + 1 == n_columns)
                                (void) printf("%s\n", row[c]);
                        else
                                (void) printf("%s%*s  ", row[c],
                                              (int) (width[c] - (size_t) g_utf8_strlen(row[c], -1)), "");
                }
        }
}

static const char *locks_usage =
        "Usage: pylockctl [GLOBAL-OPTIONS] locks [--json]\n"
        "\n"
        "Lists every lock pylockerd holds: id, fencing token, mode, owner, times of day\n"
        "acquired and expiring, paths. With --json, an array of objects with the D-Bus\n"
        "field names (times in CLOCK_REALTIME microseconds).\n";

int verb_locks(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLockInfo *infos = NULL;
        size_t n = 0;
        int r;

        r = cli_parse_simple(argc, argv, locks_usage);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : -r;
        if (optind < argc)
                return cli_error(EXIT_USAGE, "'locks' takes no arguments.");

        locker = cli_open_locker(NULL);
        if (!locker)
                return EXIT_FAILURE;
        r = pylocker_locker_list_locks(locker, &infos, &n, &error);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "%s", error.message);

        if (cli_globals.json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_array(b);
                for (size_t i = 0; i < n; i++) {
                        json_builder_begin_object(b);
                        json_builder_set_member_name(b, "lock_id");
                        json_builder_add_string_value(b, infos[i].lock_id);
                        json_builder_set_member_name(b, "paths");
                        json_builder_begin_array(b);
                        for (char **p = infos[i].paths; p && *p; p++)
                                json_builder_add_string_value(b, *p);
                        json_builder_end_array(b);
                        json_builder_set_member_name(b, "owner_id");
                        json_builder_add_string_value(b, infos[i].owner_id);
                        json_builder_set_member_name(b, "owner_name");
                        json_builder_add_string_value(b, infos[i].owner_name);
                        json_builder_set_member_name(b, "token");
                        json_builder_add_int_value(b, (gint64) infos[i].token);
                        json_builder_set_member_name(b, "shared");
                        json_builder_add_boolean_value(b, (infos[i].flags & PYLOCKER_LOCK_INFO_SHARED) != 0);
                        json_builder_set_member_name(b, "acquired_usec");
                        json_builder_add_int_value(b, (gint64) infos[i].acquired_usec);
                        json_builder_set_member_name(b, "expires_usec");
                        json_builder_add_int_value(b, (gint64) infos[i].expires_usec);
                        json_builder_end_object(b);
                }
                json_builder_end_array(b);
                print_json(b);
        } else if (n == 0)
                (void) puts("No locks.");
        else {
                g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);
                char acquired[16], expires[16];

                g_ptr_array_add(rows, g_strsplit("LOCK ID|TOKEN|MODE|OWNER|NAME|ACQUIRED|EXPIRES|PATHS", "|", -1));
                for (size_t i = 0; i < n; i++) {
                        char **row = g_new0(char *, 9);

                        row[0] = g_strdup(infos[i].lock_id);
                        row[1] = g_strdup_printf("%" PRIu64, infos[i].token);
                        row[2] = g_strdup(infos[i].flags & PYLOCKER_LOCK_INFO_SHARED ? "shared" : "exclusive");
                        row[3] = g_strdup(infos[i].owner_id);
                        row[4] = g_strdup(infos[i].owner_name[0] ? infos[i].owner_name : "-");
                        row[5] = g_strdup(cli_format_time_of_day(acquired, infos[i].acquired_usec));
                        row[6] = g_strdup(cli_format_time_of_day(expires, infos[i].expires_usec));
                        row[7] = g_strjoinv(" ", infos[i].paths);
                        g_ptr_array_add(rows, row);
                }
                print_table(rows, 8);
        }

        pylocker_lock_info_array_free(infos, n);
        return EXIT_SUCCESS;
}

static const char *clients_usage =
        "Usage: pylockctl [GLOBAL-OPTIONS] clients [--json]\n"
        "\n"
        "Lists pylockerd's clients: id, name, uid, pid, transport.\n";

int verb_clients(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerClientInfo *infos = NULL;
        size_t n = 0;
        int r;

        r = cli_parse_simple(argc, argv, clients_usage);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : -r;
        if (optind < argc)
                return cli_error(EXIT_USAGE, "'clients' takes no arguments.");

        locker = cli_open_locker(NULL);
        if (!locker)
                return EXIT_FAILURE;
        r = pylocker_locker_list_clients(locker, &infos, &n, &error);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "%s", error.message);

        if (cli_globals.json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_array(b);
                for (size_t i = 0; i < n; i++) {
                        json_builder_begin_object(b);
                        json_builder_set_member_name(b, "client_id");
                        json_builder_add_string_value(b, infos[i].client_id);
                        json_builder_set_member_name(b, "name");
                        json_builder_add_string_value(b, infos[i].name);
                        json_builder_set_member_name(b, "uid");
                        json_builder_add_int_value(b, infos[i].uid);
                        json_builder_set_member_name(b, "pid");
                        json_builder_add_int_value(b, infos[i].pid);
                        json_builder_set_member_name(b, "transport");
                        json_builder_add_string_value(b, infos[i].transport);
                        json_builder_end_object(b);
                }
                json_builder_end_array(b);
                print_json(b);
        } else {
                g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);

                g_ptr_array_add(rows, g_strsplit("CLIENT ID|NAME|UID|PID|TRANSPORT", "|", -1));
                for (size_t i = 0; i < n; i++) {
                        char **row = g_new0(char *, 6);

                        row[0] = g_strdup(infos[i].client_id);
                        row[1] = g_strdup(infos[i].name[0] ? infos[i].name : "-");
                        row[2] = g_strdup_printf("%" PRIu32, infos[i].uid);
                        row[3] = g_strdup_printf("%" PRIu32, infos[i].pid);
                        row[4] = g_strdup(infos[i].transport);
                        g_ptr_array_add(rows, row);
                }
                print_table(rows, 5);
        }

        pylocker_client_info_array_free(infos, n);
        return EXIT_SUCCESS;
}

static const char *status_usage =
        "Usage: pylockctl [GLOBAL-OPTIONS] status [--json]\n"
        "\n"
        "Shows pylockerd's properties and how this client reached it.\n";

int verb_status(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerStatus s;
        char max[FORMAT_TIME_SPAN_MAX], def[FORMAT_TIME_SPAN_MAX];
        int r;

        r = cli_parse_simple(argc, argv, status_usage);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : -r;
        if (optind < argc)
                return cli_error(EXIT_USAGE, "'status' takes no arguments.");

        locker = cli_open_locker(NULL);
        if (!locker)
                return EXIT_FAILURE;
        r = pylocker_locker_get_status(locker, &s, &error);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "%s", error.message);

        if (cli_globals.json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "Version");
                json_builder_add_string_value(b, s.version);
                json_builder_set_member_name(b, "MaxLockTime");
                json_builder_add_int_value(b, (gint64) s.max_lock_time_usec);
                json_builder_set_member_name(b, "DefaultTimeout");
                json_builder_add_int_value(b, (gint64) s.default_timeout_usec);
                json_builder_set_member_name(b, "LockCount");
                json_builder_add_int_value(b, s.lock_count);
                json_builder_set_member_name(b, "WaiterCount");
                json_builder_add_int_value(b, s.waiter_count);
                json_builder_set_member_name(b, "ClientCount");
                json_builder_add_int_value(b, s.client_count);
                json_builder_set_member_name(b, "Connection");
                json_builder_add_string_value(b, cli_globals.remote ? "bridge" :
                                              pylocker_locker_is_direct(locker) ? "direct" : "bus");
                json_builder_end_object(b);
                print_json(b);
                return EXIT_SUCCESS;
        }

        (void) printf("       Version: %s\n"
                      "   MaxLockTime: %s\n"
                      "DefaultTimeout: %s\n"
                      "     LockCount: %" PRIu32 "\n"
                      "   WaiterCount: %" PRIu32 "\n"
                      "   ClientCount: %" PRIu32 "\n"
                      "    Connection: %s\n",
                      s.version,
                      format_time_span(max, sizeof(max), s.max_lock_time_usec),
                      format_time_span(def, sizeof(def), s.default_timeout_usec),
                      s.lock_count, s.waiter_count, s.client_count,
                      cli_globals.remote ? "bridge" : pylocker_locker_is_direct(locker) ? "private socket" : "bus");
        return EXIT_SUCCESS;
}

static const char *force_release_usage =
        "Usage: pylockctl [GLOBAL-OPTIONS] force-release LOCK_ID\n"
        "\n"
        "Releases anyone's lock; its holder is told it lost it. Needs the right to manage\n"
        "pylockerd. Exit status: 0 when released, 1 when there was no such lock.\n";

int verb_force_release(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        int r;

        r = cli_parse_simple(argc, argv, force_release_usage);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : -r;
        if (argc - optind != 1)
                return cli_error(EXIT_USAGE, "'force-release' takes one LOCK_ID.");

        locker = cli_open_locker(NULL);
        if (!locker)
                return EXIT_FAILURE;
        r = pylocker_locker_force_release(locker, argv[optind], &error);
        if (r < 0)
                return cli_error(r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE, "%s", error.message);
        if (r == PYLOCKER_RELEASE_NOT_FOUND)
                return cli_error(EXIT_FAILURE, "No lock %s (already released or expired).", argv[optind]);
        (void) printf("Released lock %s.\n", argv[optind]);
        return EXIT_SUCCESS;
}
