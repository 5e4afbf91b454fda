/* pylockctl: the command line client. Global options, then one verb from the table. */
#include <getopt.h>
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

typedef struct Verb {
        const char *name;
        int (*run)(int argc, char *argv[]);
        const char *summary;
} Verb;

static const Verb verbs[] = {
        { "run",           verb_run,           "Hold pylockerd locks on PATHs while a command runs" },
        { "locks",         verb_locks,         "List the locks held" },
        { "clients",       verb_clients,       "List the daemon's clients" },
        { "status",        verb_status,        "Show the daemon's properties" },
        { "force-release", verb_force_release, "Release anyone's lock (admin)" },
        { "publish",       verb_publish,       "Publish a message to some or every client" },
        { "listen",        verb_listen,        "Print the messages published to this client" },
        { "file-lock",     verb_file_lock,     "Hold a pylocker lock file while a command runs" },
};

PylockerLocker *cli_open_locker(const char *name) {
        PylockerLockerOptions options = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLocker *locker = NULL;

        options.transport = cli_globals.transport;
        options.address = cli_globals.address;
        options.remote = cli_globals.remote;
        options.secret_file = cli_globals.secret_file;
        options.private_socket = cli_globals.private_socket;
        options.private_socket_mode = cli_globals.no_private_socket ? PYLOCKER_PRIVATE_SOCKET_DISABLED :
                                                                      PYLOCKER_PRIVATE_SOCKET_AUTO;
        options.name = name;
        if (pylocker_locker_open(&options, &locker, &error) < 0) {
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

int cli_parse_simple(int argc, char *argv[], const char *usage) {
        enum {
                ARG_JSON = 0x100,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h'      },
                { "json", no_argument, NULL, ARG_JSON },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        (void) fputs(usage, stdout);
                        return 1;
                case ARG_JSON:
                        cli_globals.json = true;
                        break;
                default:
                        return -EXIT_USAGE;
                }
        return 0;
}

int cli_parse_span(const char *option, const char *value, uint64_t *ret) {
        if (parse_time_span(value, ret) < 0)
                return cli_error(EXIT_USAGE, "Invalid time span for --%s: '%s'.", option, value);
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

static void help(FILE *f) {
        (void) fprintf(f,
                       "Usage: pylockctl [OPTIONS] VERB [VERB-ARGS]\n"
                       "\n"
                       "Client of pylocker-dbus.\n"
                       "\n"
                       "Options:\n"
                       "  -h --help                 Show this help\n"
                       "     --version              Show the version\n"
                       "     --system               Talk to the system's pylockerd (the default)\n"
                       "     --user                 Talk to the user's pylockerd (session bus)\n"
                       "     --address ADDRESS      Talk to pylockerd on this D-Bus address\n"
                       "     --remote HOST:PORT     Talk to a remote pylockerd through its bridge\n"
                       "     --secret-file FILE     Shared secret of the bridge, with --remote\n"
                       "     --private-socket PATH  Try pylockerd's private socket at PATH first\n"
                       "     --no-private-socket    Always go through the bus\n"
                       "     --json                 Print data as JSON (locks, clients, status, publish, listen)\n"
                       "\n"
                       "Verbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                (void) fprintf(f, "  %-14s  %s\n", verbs[i].name, verbs[i].summary);
        (void) fprintf(f, "\nSee 'pylockctl VERB --help' for a verb's options.\n");
}

int main(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_SYSTEM,
                ARG_USER,
                ARG_ADDRESS,
                ARG_REMOTE,
                ARG_SECRET_FILE,
                ARG_PRIVATE_SOCKET,
                ARG_NO_PRIVATE_SOCKET,
                ARG_JSON,
        };
        static const struct option options[] = {
                { "help",              no_argument,       NULL, 'h'                   },
                { "version",           no_argument,       NULL, ARG_VERSION           },
                { "system",            no_argument,       NULL, ARG_SYSTEM            },
                { "user",              no_argument,       NULL, ARG_USER              },
                { "address",           required_argument, NULL, ARG_ADDRESS           },
                { "remote",            required_argument, NULL, ARG_REMOTE            },
                { "secret-file",       required_argument, NULL, ARG_SECRET_FILE       },
                { "private-socket",    required_argument, NULL, ARG_PRIVATE_SOCKET    },
                { "no-private-socket", no_argument,       NULL, ARG_NO_PRIVATE_SOCKET },
                { "json",              no_argument,       NULL, ARG_JSON              },
                {}
        };
        int c;

        /* "+": stop at the verb, whose options are its own. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return EXIT_SUCCESS;
                case ARG_VERSION:
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
                        if (optarg[0] != '/')
                                return cli_error(EXIT_USAGE, "--private-socket needs an absolute path.");
                        cli_globals.private_socket = optarg;
                        break;
                case ARG_NO_PRIVATE_SOCKET:
                        cli_globals.no_private_socket = true;
                        break;
                case ARG_JSON:
                        cli_globals.json = true;
                        break;
                default:
                        return EXIT_USAGE;      /* getopt has said what was wrong */
                }

        if (cli_globals.transport == PYLOCKER_TRANSPORT_REMOTE && !cli_globals.secret_file)
                return cli_error(EXIT_USAGE, "--remote needs --secret-file.");
        if (cli_globals.secret_file && cli_globals.transport != PYLOCKER_TRANSPORT_REMOTE)
                return cli_error(EXIT_USAGE, "--secret-file goes with --remote.");

        if (optind >= argc) {
                help(stderr);
                return EXIT_USAGE;
        }

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(argv[optind], verbs[i].name) == 0) {
                        /* Each verb parses its options afresh with getopt. */
                        int verb_argc = argc - optind;
                        char **verb_argv = argv + optind;

                        optind = 0;
                        return verbs[i].run(verb_argc, verb_argv);
                }

        return cli_error(EXIT_USAGE, "Unknown verb '%s'. See 'pylockctl --help'.", argv[optind]);
}
