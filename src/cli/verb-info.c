/* pylockctl locks, clients, status and force-release: what pylockerd knows, as aligned columns or
 * JSON whose keys are the columns' names in snake_case. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include <pylocker/pylocker.h>

#include "macro.h"
#include "pager.h"
#include "printer.h"
#include "verbs.h"

static const PrinterColumn lock_columns[] = {
        { "LOCK ID",  "lock_id",       CELL_STRING },
        { "TOKEN",    "token",         CELL_UINT },
        { "MODE",     "mode",          CELL_STRING },
        { NULL,       "shared",        CELL_BOOL },     /* the D-Bus field, as the mode */
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

/* The text keeps the daemon's property names; JSON has them in snake_case, durations in µs. */
static const PrinterColumn status_columns[] = {
        { "Version",        "version",              CELL_STRING },
        { "MaxLockTime",    "max_lock_time_usec",   CELL_TIME_SPAN },
        { "DefaultTimeout", "default_timeout_usec", CELL_TIME_SPAN },
        { "LockCount",      "lock_count",           CELL_UINT },
        { "WaiterCount",    "waiter_count",         CELL_UINT },
        { "ClientCount",    "client_count",         CELL_UINT },
        { "Connection",     "connection",           CELL_STRING },
};

/* Prints what the printer collected; 0 or EXIT_FAILURE after saying why. */
static int print_all(Printer *p) {
        int r = printer_flush(p);

        pager_close();
        /* A reader that stopped reading (grep -q) wants no message about it. */
        if (r == -EPIPE)
                return EXIT_FAILURE;
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Failed to write: %s", g_strerror(-r));
        return EXIT_SUCCESS;
}

/* Parses a verb that takes only the common options and no arguments; -1 to go on, else the exit status. */
static int parse_no_args(const CliVerb *verb, int argc, char *argv[]) {
        CliParser p;
        int c;

        cli_parser_init(&p, verb, argc, argv, /* stop_at_positional= */ false);
        c = cli_parser_next(&p);
        cli_parser_done(&p);
        g_assert(c < 0);        /* the common options are all it has */
        if (c == CLI_PARSE_EXIT)
                return p.exit_status;
        if (optind < argc)
                return cli_error(EXIT_USAGE, "'%s' takes no arguments.", verb->name);
        return -1;
}

static const CliOption list_options[] = {
        CLI_OPTION_HELP,
        CLI_OPTION_JSON("Print the list"),
        CLI_OPTION_NO_LEGEND,
};

const CliVerb cli_verb_locks = {
        .name = "locks",
        .run = verb_locks,
        .summary = "List the locks held",
        .synopsis = "[--json[=MODE]] [--no-legend]",
        .description = "Lists every lock pylockerd holds: id, fencing token, mode, owner's client id and\n"
                       "name, times of day acquired and expiring, paths. With --json, an array of objects\n"
                       "with the keys lock_id, token, mode, shared, owner_id, owner_name, acquired_usec,\n"
                       "expires_usec (CLOCK_REALTIME microseconds) and paths.",
        .options = list_options,
        .n_options = ELEMENTSOF(list_options),
};

int verb_locks(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(Printer) p = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLockInfo *infos = NULL;
        CliJson json;
        size_t n = 0;
        int r;

        r = parse_no_args(&cli_verb_locks, argc, argv);
        if (r >= 0)
                return r;
        json = cli_json_mode(/* streams= */ false);

        locker = cli_open_locker(NULL);
        if (!locker)
                return EXIT_FAILURE;
        r = pylocker_locker_list_locks(locker, &infos, &n, &error);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "%s", error.message);

        if (!json && n == 0) {
                if (!cli_globals.no_legend)
                        (void) puts("No locks.");
                return EXIT_SUCCESS;
        }

        pager_open();
        p = printer_new(PRINTER_TABLE, lock_columns, G_N_ELEMENTS(lock_columns), json, !cli_globals.no_legend);
        for (size_t i = 0; i < n; i++) {
                bool shared = infos[i].flags & PYLOCKER_LOCK_INFO_SHARED;

                printer_add_string(p, infos[i].lock_id);
                printer_add_uint(p, infos[i].token);
                printer_add_string(p, shared ? "shared" : "exclusive");
                printer_add_bool(p, shared);
                printer_add_string(p, infos[i].owner_id);
                printer_add_string(p, infos[i].owner_name);
                printer_add_uint(p, infos[i].acquired_usec);
                printer_add_uint(p, infos[i].expires_usec);
                printer_add_strv(p, (const char *const *) infos[i].paths);
        }
        pylocker_lock_info_array_free(infos, n);
        return print_all(p);
}

const CliVerb cli_verb_clients = {
        .name = "clients",
        .run = verb_clients,
        .summary = "List the daemon's clients",
        .synopsis = "[--json[=MODE]] [--no-legend]",
        .description = "Lists pylockerd's clients: client id, name, uid, pid, transport. With --json, an\n"
                       "array of objects with the keys client_id, name, uid, pid and transport.",
        .options = list_options,
        .n_options = ELEMENTSOF(list_options),
};

int verb_clients(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(Printer) p = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerClientInfo *infos = NULL;
        size_t n = 0;
        int r;

        r = parse_no_args(&cli_verb_clients, argc, argv);
        if (r >= 0)
                return r;

        locker = cli_open_locker(NULL);
        if (!locker)
                return EXIT_FAILURE;
        r = pylocker_locker_list_clients(locker, &infos, &n, &error);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "%s", error.message);

        pager_open();
        p = printer_new(PRINTER_TABLE, client_columns, G_N_ELEMENTS(client_columns), cli_json_mode(false),
                        !cli_globals.no_legend);
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

static const CliOption status_options[] = {
        CLI_OPTION_HELP,
        CLI_OPTION_JSON("Print the properties"),
};

const CliVerb cli_verb_status = {
        .name = "status",
        .run = verb_status,
        .summary = "Show the daemon's properties",
        .synopsis = "[--json[=MODE]]",
        .description = "Shows pylockerd's properties and how this client reached it (Connection: direct,\n"
                       "bus or bridge). With --json, an object with the keys version, max_lock_time_usec,\n"
                       "default_timeout_usec, lock_count, waiter_count, client_count and connection.",
        .options = status_options,
        .n_options = ELEMENTSOF(status_options),
};

int verb_status(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(Printer) p = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerStatus s;
        int r;

        r = parse_no_args(&cli_verb_status, argc, argv);
        if (r >= 0)
                return r;

        locker = cli_open_locker(NULL);
        if (!locker)
                return EXIT_FAILURE;
        r = pylocker_locker_get_status(locker, &s, &error);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "%s", error.message);

        p = printer_new(PRINTER_RECORD, status_columns, G_N_ELEMENTS(status_columns), cli_json_mode(false),
                        /* legend= */ true);
        printer_add_string(p, s.version);
        printer_add_uint(p, s.max_lock_time_usec);
        printer_add_uint(p, s.default_timeout_usec);
        printer_add_uint(p, s.lock_count);
        printer_add_uint(p, s.waiter_count);
        printer_add_uint(p, s.client_count);
        /* One word for each, in text and JSON: the direct socket is what --private-socket names. */
        if (cli_globals.remote)
                printer_add_string(p, "bridge");
        else if (pylocker_locker_is_direct(locker))
                printer_add_string(p, "direct");
        else
                printer_add_string(p, "bus");
        return print_all(p);
}

static const CliOption help_only[] = {
        CLI_OPTION_HELP,
};

const CliVerb cli_verb_force_release = {
        .name = "force-release",
        .run = verb_force_release,
        .summary = "Release anyone's lock (admin)",
        .synopsis = "LOCK_ID",
        .description = "Releases anyone's lock; its holder is told it lost it. Needs the right to manage\n"
                       "pylockerd (root, or polkit's org.pylocker.manage).",
        .options = help_only,
        .n_options = ELEMENTSOF(help_only),
        .positional = CLI_ARG_LOCK_ID,
        .epilogue = "Exit status: 0 when released; 1 when there was no such lock, or on any other\n"
                    "error (not allowed); 64 on a usage error (a malformed LOCK_ID included).",
};

int verb_force_release(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        CliParser p;
        int c, r;

        cli_parser_init(&p, &cli_verb_force_release, argc, argv, /* stop_at_positional= */ false);
        c = cli_parser_next(&p);
        cli_parser_done(&p);
        if (c == CLI_PARSE_EXIT)
                return p.exit_status;
        if (argc - optind != 1)
                return cli_error(EXIT_USAGE, "'force-release' takes one LOCK_ID.");
        /* Checked here, so that a malformed id is a usage error for everyone, not only for those the
         * daemon lets past its authorization. */
        if (cli_check_lock_id(argv[optind]) != 0)
                return EXIT_USAGE;

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
