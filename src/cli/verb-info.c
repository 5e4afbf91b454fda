/* pylockctl locks, clients, status and force-release: what pylockerd knows, as aligned columns or
 * JSON with the D-Bus field names. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include <pylocker/pylocker.h>

#include "printer.h"
#include "verbs.h"

static const PrinterColumn lock_columns[] = {
        { "LOCK ID",  "lock_id",       CELL_STRING },
        { "TOKEN",    "token",         CELL_UINT },
        { "MODE",     "shared",        CELL_BOOL, .if_true = "shared", .if_false = "exclusive" },
        { "OWNER",    "owner_id",      CELL_STRING },
        { "NAME",     "owner_name",    CELL_STRING, .if_empty = "-" },
        { "ACQUIRED", "acquired_usec", CELL_TIME_OF_DAY },
        { "EXPIRES",  "expires_usec",  CELL_TIME_OF_DAY },
        { "PATHS",    "paths",         CELL_STRV },
};

static const PrinterColumn client_columns[] = {
        { "CLIENT ID", "client_id", CELL_STRING },
        { "NAME",      "name",      CELL_STRING, .if_empty = "-" },
        { "UID",       "uid",       CELL_UINT },
        { "PID",       "pid",       CELL_UINT },
        { "TRANSPORT", "transport", CELL_STRING },
};

/* The daemon's properties keep their D-Bus names. */
static const PrinterColumn status_columns[] = {
        { "Version",        "Version",        CELL_STRING },
        { "MaxLockTime",    "MaxLockTime",    CELL_TIME_SPAN },
        { "DefaultTimeout", "DefaultTimeout", CELL_TIME_SPAN },
        { "LockCount",      "LockCount",      CELL_UINT },
        { "WaiterCount",    "WaiterCount",    CELL_UINT },
        { "ClientCount",    "ClientCount",    CELL_UINT },
        { "Connection",     "Connection",     CELL_STRING },
};

/* Prints what the printer collected; 0 or EXIT_FAILURE after saying why. */
static int print_all(Printer *p) {
        int r = printer_flush(p);

        if (r < 0)
                return cli_error(EXIT_FAILURE, "Failed to write: %s", g_strerror(-r));
        return EXIT_SUCCESS;
}

static const char *locks_usage =
        "Usage: pylockctl [GLOBAL-OPTIONS] locks [--json]\n"
        "\n"
        "Lists every lock pylockerd holds: id, fencing token, mode, owner, times of day\n"
        "acquired and expiring, paths. With --json, an array of objects with the D-Bus\n"
        "field names (times in CLOCK_REALTIME microseconds).\n";

int verb_locks(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(Printer) p = NULL;
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

        if (!cli_globals.json && n == 0) {
                (void) puts("No locks.");
                return EXIT_SUCCESS;
        }

        p = printer_new(PRINTER_TABLE, lock_columns, G_N_ELEMENTS(lock_columns), cli_globals.json);
        for (size_t i = 0; i < n; i++) {
                printer_add_string(p, infos[i].lock_id);
                printer_add_uint(p, infos[i].token);
                printer_add_bool(p, infos[i].flags & PYLOCKER_LOCK_INFO_SHARED);
                printer_add_string(p, infos[i].owner_id);
                printer_add_string(p, infos[i].owner_name);
                printer_add_uint(p, infos[i].acquired_usec);
                printer_add_uint(p, infos[i].expires_usec);
                printer_add_strv(p, (const char *const *) infos[i].paths);
        }
        pylocker_lock_info_array_free(infos, n);
        return print_all(p);
}

static const char *clients_usage =
        "Usage: pylockctl [GLOBAL-OPTIONS] clients [--json]\n"
        "\n"
        "Lists pylockerd's clients: id, name, uid, pid, transport.\n";

int verb_clients(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(Printer) p = NULL;
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

        p = printer_new(PRINTER_TABLE, client_columns, G_N_ELEMENTS(client_columns), cli_globals.json);
        for (size_t i = 0; i < n; i++) {
                printer_add_string(p, infos[i].client_id);
                printer_add_string(p, infos[i].name);
                printer_add_uint(p, infos[i].uid);
                printer_add_uint(p, infos[i].pid);
                printer_add_string(p, infos[i].transport);
        }
        pylocker_client_info_array_free(infos, n);
        return print_all(p);
}

static const char *status_usage =
        "Usage: pylockctl [GLOBAL-OPTIONS] status [--json]\n"
        "\n"
        "Shows pylockerd's properties and how this client reached it.\n";

int verb_status(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(Printer) p = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerStatus s;
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

        p = printer_new(PRINTER_RECORD, status_columns, G_N_ELEMENTS(status_columns), cli_globals.json);
        printer_add_string(p, s.version);
        printer_add_uint(p, s.max_lock_time_usec);
        printer_add_uint(p, s.default_timeout_usec);
        printer_add_uint(p, s.lock_count);
        printer_add_uint(p, s.waiter_count);
        printer_add_uint(p, s.client_count);
        if (cli_globals.remote)
                printer_add_string(p, "bridge");
        else if (pylocker_locker_is_direct(locker))
                printer_add_string_text(p, "direct", "private socket");
        else
                printer_add_string(p, "bus");
        return print_all(p);
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
