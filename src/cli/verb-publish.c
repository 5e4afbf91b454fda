/* pylockctl publish: one message into the inboxes of some or every pylockerd client. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include <pylocker/pylocker.h>

#include "printer.h"
#include "verbs.h"

static const PrinterColumn publication_columns[] = {
        { "PUBLICATION ID", "publication_id", CELL_STRING },
};

static void help(void) {
        (void) printf("Usage: pylockctl [GLOBAL-OPTIONS] publish [OPTIONS] MESSAGE\n"
                      "\n"
                      "Publishes MESSAGE into the inboxes of the receivers (every client of\n"
                      "pylockerd when no --to is given, this one included unless --no-self) and\n"
                      "prints the publication id.\n"
                      "\n"
                      "Options:\n"
                      "  -h --help          Show this help\n"
                      "     --to ID         A receiver, by client id or name (repeatable)\n"
                      "     --timeout S     Remove it from the inboxes after S (default: never)\n"
                      "     --unique        Receivers that hold MESSAGE already refuse it\n"
                      "     --no-replace    Keep earlier publications of MESSAGE beside the new one\n"
                      "     --no-self       Never deliver to this publisher\n"
                      "     --json          Print {\"publication_id\": ...}\n"
                      "\n"
                      "Exit status: 0 when published (an empty id when there was nobody to deliver\n"
                      "to); 2 when every receiver held MESSAGE already (--unique), so nothing was\n"
                      "published; 64 on a usage error; 1 on any other error (an unknown receiver, a\n"
                      "limit of pylockerd), in which case nothing was published.\n");
}

int verb_publish(int argc, char *argv[]) {
        enum {
                ARG_TO = 0x100,
                ARG_TIMEOUT,
                ARG_UNIQUE,
                ARG_NO_REPLACE,
                ARG_NO_SELF,
                ARG_JSON,
        };
        static const struct option options[] = {
                { "help",       no_argument,       NULL, 'h'            },
                { "to",         required_argument, NULL, ARG_TO         },
                { "timeout",    required_argument, NULL, ARG_TIMEOUT    },
                { "unique",     no_argument,       NULL, ARG_UNIQUE     },
                { "no-replace", no_argument,       NULL, ARG_NO_REPLACE },
                { "no-self",    no_argument,       NULL, ARG_NO_SELF    },
                { "json",       no_argument,       NULL, ARG_JSON       },
                {}
        };
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(Printer) p = NULL;
        g_autoptr(GPtrArray) receivers = g_ptr_array_new();
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *id = NULL;
        uint64_t timeout_usec = 0;
        unsigned flags = 0;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case ARG_TO:
                        if (!optarg[0])
                                return cli_error(EXIT_USAGE, "--to needs a client id or name.");
                        g_ptr_array_add(receivers, optarg);
                        break;
                case ARG_TIMEOUT:
                        if (cli_parse_span("timeout", optarg, &timeout_usec) != 0)
                                return EXIT_USAGE;
                        break;
                case ARG_UNIQUE:
                        flags |= PYLOCKER_PUBLISH_UNIQUE;
                        break;
                case ARG_NO_REPLACE:
                        flags |= PYLOCKER_PUBLISH_NO_REPLACE;
                        break;
                case ARG_NO_SELF:
                        flags |= PYLOCKER_PUBLISH_NOT_TO_SELF;
                        break;
                case ARG_JSON:
                        cli_globals.json = true;
                        break;
                default:
                        return EXIT_USAGE;      /* getopt has said what was wrong */
                }

        if (optind >= argc)
                return cli_error(EXIT_USAGE, "No MESSAGE given: use 'pylockctl publish [OPTIONS] MESSAGE'.");
        if (optind + 1 < argc)
                return cli_error(EXIT_USAGE, "One MESSAGE only; quote it if it has spaces.");
        g_ptr_array_add(receivers, NULL);

        locker = cli_open_locker(NULL);
        if (!locker)
                return EXIT_FAILURE;
        r = pylocker_locker_publish(locker, argv[optind], (const char *const *) receivers->pdata, timeout_usec, flags,
                                    &id, &error);
        if (r == -EEXIST)
                return cli_error(2, "Not published: every receiver holds this message already.");
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Not published: %s", error.message);
        if (r == 0)
                (void) cli_error(0, "Nobody to deliver to: nothing was published.");

        /* Nobody took it: no id to print, but JSON still says so with an empty one. */
        p = printer_new(PRINTER_LINES, publication_columns, G_N_ELEMENTS(publication_columns), cli_globals.json);
        if (cli_globals.json || r > 0)
                printer_add_string(p, id);
        r = printer_flush(p);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Failed to write the publication id: %s", g_strerror(-r));
        return EXIT_SUCCESS;
}
