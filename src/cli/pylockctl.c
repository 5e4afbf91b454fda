/* pylockctl: the command line client. Global options, then one verb from the table. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "macro.h"
#include "time-util.h"
#include "verbs.h"

CliGlobals cli_globals = {
        .transport = PYLOCKER_TRANSPORT_SYSTEM,
};

const CliVerb *const cli_verbs[] = {
        &cli_verb_run,
        &cli_verb_hold,
        &cli_verb_acquire,
        &cli_verb_release,
        &cli_verb_locks,
        &cli_verb_clients,
        &cli_verb_status,
        &cli_verb_stats,
        &cli_verb_force_release,
        &cli_verb_publish,
        &cli_verb_listen,
        &cli_verb_file_lock,
        &cli_verb_complete,
};
const size_t cli_n_verbs = ELEMENTSOF(cli_verbs);

enum {
        ARG_VERSION = CLI_OPT_VERB,
        ARG_SYSTEM,
        ARG_USER,
        ARG_ADDRESS,
        ARG_REMOTE,
        ARG_SECRET_FILE,
        ARG_PRIVATE_SOCKET,
        ARG_NO_PRIVATE_SOCKET,
        ARG_NO_PAGER,
};

static const CliOption global_options[] = {
        CLI_OPTION_HELP,
        { "version",           0, ARG_VERSION,           CLI_ARG_NONE,      false, NULL, "Show the version" },
        { "system",            0, ARG_SYSTEM,            CLI_ARG_NONE,      false, NULL,
          "Talk to the system's pylockerd (the default)" },
        { "user",              0, ARG_USER,              CLI_ARG_NONE,      false, NULL,
          "Talk to the user's pylockerd (session bus)" },
        { "address",           0, ARG_ADDRESS,           CLI_ARG_ADDRESS,   false, "ADDRESS",
          "Talk to pylockerd on this D-Bus address" },
        { "remote",            0, ARG_REMOTE,            CLI_ARG_HOST_PORT, false, "HOST:PORT",
          "Talk to a remote pylockerd through its bridge" },
        { "secret-file",       0, ARG_SECRET_FILE,       CLI_ARG_FILE,      false, "FILE",
          "Shared secret of the bridge, with --remote" },
        { "private-socket",    0, ARG_PRIVATE_SOCKET,    CLI_ARG_FILE,      false, "PATH",
          "Try pylockerd's private socket at PATH first" },
        { "no-private-socket", 0, ARG_NO_PRIVATE_SOCKET, CLI_ARG_NONE,      false, NULL,
          "Always go through the bus" },
        CLI_OPTION_JSON("Print data"),
        CLI_OPTION_NO_LEGEND,
        { "no-pager",          0, ARG_NO_PAGER,          CLI_ARG_NONE,      false, NULL,
          "Do not pipe the lists of locks and clients into a pager" },
};

const CliVerb cli_globals_verb = {
        .description = "Client of pylocker-dbus: locks on paths and messages through pylockerd.",
        .options = global_options,
        .n_options = ELEMENTSOF(global_options),
};

/* The library says what failed; where the bus itself is missing, say what to do about it. */
static void explain_no_bus(int r, PylockerError *error) {
        const char *runtime_dir = getenv("XDG_RUNTIME_DIR");

        if (r != -ENOMEDIUM && r != -ENOENT && r != -ECONNREFUSED)
                return;
        if (cli_globals.transport == PYLOCKER_TRANSPORT_USER && !getenv("DBUS_SESSION_BUS_ADDRESS")) {
                if (!runtime_dir)
                        g_snprintf(error->message, sizeof(error->message),
                                   "No session bus for --user: neither $DBUS_SESSION_BUS_ADDRESS nor "
                                   "$XDG_RUNTIME_DIR is set (is this a login session?). Use --system, or "
                                   "--address with the address of a bus pylockerd serves.");
                else
                        g_snprintf(error->message, sizeof(error->message),
                                   "No session bus for --user: nothing listens on %s/bus and "
                                   "$DBUS_SESSION_BUS_ADDRESS is not set. Use --system, or --address with the "
                                   "address of a bus pylockerd serves.", runtime_dir);
        } else if (cli_globals.transport == PYLOCKER_TRANSPORT_SYSTEM && !getenv("DBUS_SYSTEM_BUS_ADDRESS"))
                g_snprintf(error->message, sizeof(error->message),
                           "No system bus: nothing listens on /run/dbus/system_bus_socket (is D-Bus running?).");
}

int cli_open_locker_full(const char *name, PylockerLocker **ret, PylockerError *error) {
        PylockerLockerOptions options = PYLOCKER_LOCKER_OPTIONS_INIT;
        int r;

        options.transport = cli_globals.transport;
        options.address = cli_globals.address;
        options.remote = cli_globals.remote;
        options.secret_file = cli_globals.secret_file;
        options.private_socket = cli_globals.private_socket;
        options.private_socket_mode = cli_globals.no_private_socket ? PYLOCKER_PRIVATE_SOCKET_DISABLED :
                                                                      PYLOCKER_PRIVATE_SOCKET_AUTO;
        options.name = name;
        r = pylocker_locker_open(&options, ret, error);
        if (r < 0)
                explain_no_bus(r, error);
        return r;
}

PylockerLocker *cli_open_locker(const char *name) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLocker *locker = NULL;

        if (cli_open_locker_full(name, &locker, &error) < 0) {
                (void) cli_error(0, "%s", error.message);
                return NULL;
        }
        return locker;
}

const char *cli_format_time_of_day(char buf[static 16], uint64_t usec) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;

        if (usec == 0 || usec == UINT64_MAX || !localtime_r(&t, &tm) || strftime(buf, 16, "%H:%M:%S", &tm) == 0)
                return strcpy(buf, "-");
        return buf;
}

int cli_parse_span(const char *option, const char *value, uint64_t *ret) {
        if (parse_time_span(value, ret) < 0)
                return cli_error(EXIT_USAGE, "Invalid time span for --%s: '%s'.", option, value);
        return 0;
}

int cli_check_lock_id(const char *id) {
        size_t n = strspn(id, "0123456789abcdef");

        if (n != 32 || id[n] != '\0')
                return cli_error(EXIT_USAGE, "Invalid lock id '%.64s': expected 32 lowercase hex digits, as "
                                 "'pylockctl locks' shows them.", id);
        return 0;
}

int cli_error(int exit_code, const char *format, ...) {
        va_list ap;

        (void) fputs("pylockctl: ", stderr);
        va_start(ap, format);
        (void) vfprintf(stderr, format, ap);
        va_end(ap);
        (void) fputc('\n', stderr);
        return exit_code;
}

int main(int argc, char *argv[]) {
        CliParser p;
        int c;

        /* Stops at the verb, whose options are its own. */
        cli_parser_init(&p, &cli_globals_verb, argc, argv, /* stop_at_positional= */ true);
        while ((c = cli_parser_next(&p)) >= 0)
                switch (c) {
                case ARG_VERSION:
                        cli_parser_done(&p);
                        (void) printf("pylockctl %s\n", PACKAGE_VERSION);
                        return EXIT_SUCCESS;
                case ARG_SYSTEM:
                        cli_globals.transport = PYLOCKER_TRANSPORT_SYSTEM;
                        break;
                case ARG_USER:
                        cli_globals.transport = PYLOCKER_TRANSPORT_USER;
                        break;
                case ARG_ADDRESS:
                        cli_globals.transport = PYLOCKER_TRANSPORT_ADDRESS;
                        cli_globals.address = optarg;
                        break;
                case ARG_REMOTE:
                        cli_globals.transport = PYLOCKER_TRANSPORT_REMOTE;
                        cli_globals.remote = optarg;
                        break;
                case ARG_SECRET_FILE:
                        cli_globals.secret_file = optarg;
                        break;
                case ARG_PRIVATE_SOCKET:
                        if (optarg[0] != '/') {
                                cli_parser_done(&p);
                                return cli_error(EXIT_USAGE, "--private-socket needs an absolute path.");
                        }
                        cli_globals.private_socket = optarg;
                        break;
                case ARG_NO_PRIVATE_SOCKET:
                        cli_globals.no_private_socket = true;
                        break;
                case ARG_NO_PAGER:
                        cli_globals.no_pager = true;
                        break;
                default:
                        g_assert_not_reached();
                }
        cli_parser_done(&p);
        if (c == CLI_PARSE_EXIT)
                return p.exit_status;

        if (cli_globals.transport == PYLOCKER_TRANSPORT_REMOTE && !cli_globals.secret_file)
                return cli_error(EXIT_USAGE, "--remote needs --secret-file.");
        if (cli_globals.secret_file && cli_globals.transport != PYLOCKER_TRANSPORT_REMOTE)
                return cli_error(EXIT_USAGE, "--secret-file goes with --remote.");

        if (optind >= argc)
                return cli_error(EXIT_USAGE, "No verb given. See 'pylockctl --help'.");

        for (size_t i = 0; i < cli_n_verbs; i++)
                if (strcmp(argv[optind], cli_verbs[i]->name) == 0)
                        /* Each verb parses its options afresh, from its own name on. */
                        return cli_verbs[i]->run(argc - optind, argv + optind);

        return cli_error(EXIT_USAGE, "Unknown verb '%s'. See 'pylockctl --help'.", argv[optind]);
}
