/* pylockctl publish: one message into the inboxes of some or every pylockerd client. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include <pylocker/pylocker.h>

#include "macro.h"
#include "printer.h"
#include "verbs.h"

static const PrinterColumn publication_columns[] = {
        { "PUBLICATION ID", "publication_id", CELL_STRING },
};

enum {
        ARG_TO = CLI_OPT_VERB,
        ARG_TIMEOUT,
        ARG_UNIQUE,
        ARG_NO_REPLACE,
        ARG_NO_SELF,
};

static const CliOption options[] = {
        CLI_OPTION_HELP,
        { "to",         0, ARG_TO,         CLI_ARG_CLIENT, false, "ID",
          "A receiver, by client id or name (repeatable)" },
        { "timeout",    0, ARG_TIMEOUT,    CLI_ARG_SPAN,   false, "S",
          "Remove it from the inboxes after S (default: never)" },
        { "unique",     0, ARG_UNIQUE,     CLI_ARG_NONE,   false, NULL,
          "Receivers that hold MESSAGE already refuse it" },
        { "no-replace", 0, ARG_NO_REPLACE, CLI_ARG_NONE,   false, NULL,
          "Keep earlier publications of MESSAGE beside the new one" },
        { "no-self",    0, ARG_NO_SELF,    CLI_ARG_NONE,   false, NULL, "Never deliver to this publisher" },
        CLI_OPTION_JSON("Print {\"publication_id\": ...}"),
};

const CliVerb cli_verb_publish = {
        .name = "publish",
        .run = verb_publish,
        .summary = "Publish a message to some or every client",
        .synopsis = "[OPTIONS] MESSAGE",
        .description = "Publishes MESSAGE into the inboxes of the receivers (every client of\n"
                       "pylockerd when no --to is given, this one included unless --no-self) and\n"
                       "prints the publication id.",
        .options = options,
        .n_options = ELEMENTSOF(options),
        .positional = CLI_ARG_TEXT,
        .epilogue = "Exit status: 0 when published (an empty id when there was nobody to deliver\n"
                    "to); 2 when every receiver held MESSAGE already (--unique), so nothing was\n"
                    "published; 64 on a usage error; 1 on any other error (an unknown receiver, a\n"
                    "limit of pylockerd), in which case nothing was published.",
};

int verb_publish(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(Printer) p = NULL;
        g_autoptr(GPtrArray) receivers = g_ptr_array_new();
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *id = NULL;
        uint64_t timeout_usec = 0;
        unsigned flags = 0;
        CliParser parser;
        int c, r;

        cli_parser_init(&parser, &cli_verb_publish, argc, argv, /* stop_at_positional= */ false);
        while ((c = cli_parser_next(&parser)) >= 0)
                switch (c) {
                case ARG_TO:
                        if (!optarg[0]) {
                                cli_parser_done(&parser);
                                return cli_error(EXIT_USAGE, "--to needs a client id or name.");
                        }
                        g_ptr_array_add(receivers, optarg);
                        break;
                case ARG_TIMEOUT:
                        if (cli_parse_span("timeout", optarg, &timeout_usec) != 0) {
                                cli_parser_done(&parser);
                                return EXIT_USAGE;
                        }
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
                default:
                        g_assert_not_reached();
                }
        cli_parser_done(&parser);
        if (c == CLI_PARSE_EXIT)
                return parser.exit_status;

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
        p = printer_new(PRINTER_LINES, publication_columns, G_N_ELEMENTS(publication_columns),
                        cli_json_mode(/* streams= */ false), /* legend= */ false);
        if (cli_globals.json || r > 0)
                printer_add_string(p, id);
        r = printer_flush(p);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Failed to write the publication id: %s", g_strerror(-r));
        return EXIT_SUCCESS;
}
