/* pylockctl listen: registers with pylockerd and prints each message it receives, one line each. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <systemd/sd-event.h>

#include <pylocker/pylocker.h>

#include "macro.h"
#include "printer.h"
#include "sd-cleanup.h"
#include "time-util.h"
#include "verbs.h"

typedef struct Listen {
        sd_event *event;
        Printer *printer;
        uint64_t count;         /* 0: until a signal */
        uint64_t received;
        int status;             /* exit status, once done */
        bool done;
} Listen;

/* A line a message: the time it arrived, the sender and the message (escaped) as text; the
 * publication's id, sender, message and expiry as JSON. */
static const PrinterColumn message_columns[] = {
        { NULL,      "publication_id", CELL_STRING },
        { "TIME",    "received_usec",  CELL_TIME_OF_DAY },
        { "SENDER",  "sender",         CELL_STRING },
        { "MESSAGE", "message",        CELL_STRING },
        { NULL,      "expires_usec",   CELL_UINT },
};

enum {
        ARG_COUNT = CLI_OPT_VERB,
        ARG_NAME,
};

static const CliOption options[] = {
        CLI_OPTION_HELP,
        { "count", 0, ARG_COUNT, CLI_ARG_NUMBER, false, "N",
          "Exit after N messages (default: run until SIGTERM/SIGINT)" },
        { "name",  0, ARG_NAME,  CLI_ARG_TEXT,   false, "NAME",
          "Register with this name, so publishers can use --to NAME" },
        /* A stream: a bare --json is short here, one object a line. */
        { "json",  0, CLI_OPT_JSON, CLI_ARG_JSON_MODE, true, "MODE",
          "Print each message as JSON: short (the default, one\nobject a line), pretty or off" },
};

const CliVerb cli_verb_listen = {
        .name = "listen",
        .run = verb_listen,
        .summary = "Print the messages published to this client",
        .synopsis = "[OPTIONS]",
        .description = "Registers with pylockerd and prints each message published to it, one line\n"
                       "each: time received, sender's client id, message (control characters and\n"
                       "backslashes escaped C-style, so a message is always one line). Each message\n"
                       "is taken out of the inbox once printed. --json prints one object a line (short;\n"
                       "--json=pretty indents each): publication_id, received_usec, sender, message,\n"
                       "expires_usec (CLOCK_REALTIME microseconds, 0 = never).",
        .options = options,
        .n_options = ELEMENTSOF(options),
        .epilogue = "Exit status: 0 after N messages, or on SIGTERM or SIGINT; 64 on a usage error;\n"
                    "1 on any other error (pylockerd went away, the name is taken).",
};

/* The message as one printable line: C escapes for control characters (C0, DEL, C1), the Unicode
 * line and paragraph separators and the backslash; other UTF-8 as it is. */
static char *escape_line(const char *s) {
        GString *out = g_string_sized_new(strlen(s));

        for (const char *p = s; *p; p = g_utf8_next_char(p)) {
                gunichar c = g_utf8_get_char(p);

                switch (c) {
                case '\\':
                        g_string_append(out, "\\\\");
                        break;
                case '\n':
                        g_string_append(out, "\\n");
                        break;
                case '\r':
                        g_string_append(out, "\\r");
                        break;
                case '\t':
                        g_string_append(out, "\\t");
                        break;
                default:
                        if (c < 0x20 || c == 0x7f)
                                g_string_append_printf(out, "\\x%02x", (unsigned) c);
                        else if ((c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029)
                                g_string_append_printf(out, "\\u%04x", (unsigned) c);
                        else
                                g_string_append_len(out, p, g_utf8_next_char(p) - p);
                }
        }
        return g_string_free(out, FALSE);
}

static void finish(Listen *l, int status) {
        if (l->done)
                return;
        l->done = true;
        l->status = status;
        (void) sd_event_exit(l->event, status);
}

static void on_message(PylockerLocker *locker, const PylockerPublication *p, void *userdata) {
        Listen *l = userdata;
        PylockerError error = PYLOCKER_ERROR_INIT;
        const char *senders[] = { p->sender_id, NULL };
        g_autofree char *escaped = NULL;
        int r;

        /* Publications that were already on their way when the count was reached stay unprinted. */
        if (l->done)
                return;

        escaped = escape_line(p->message);
        printer_add_string(l->printer, p->publication_id);
        printer_add_uint(l->printer, (uint64_t) g_get_real_time());
        printer_add_string(l->printer, p->sender_id);
        printer_add_string_text(l->printer, p->message, escaped);
        printer_add_uint(l->printer, p->expires_usec);
        /* Flushed at once: a pipe's reader sees each message as it comes. */
        r = printer_flush(l->printer);
        if (r < 0) {
                /* A reader that stopped reading (head -1) wants no message about it. */
                if (r != -EPIPE)
                        (void) cli_error(0, "Failed to write: %s", g_strerror(-r));
                return finish(l, EXIT_FAILURE);
        }

        /* Printed: out of the inbox, so a long listen never fills it and blocks publishers. */
        if (pylocker_locker_remove_message(locker, p->message, senders, &error) < 0 &&
            pylocker_locker_is_connected(locker))
                (void) cli_error(0, "Failed to take a message out of the inbox, ignoring: %s", error.message);

        l->received++;
        if (l->count > 0 && l->received >= l->count)
                finish(l, EXIT_SUCCESS);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        finish(userdata, EXIT_SUCCESS);
        return 0;
}

int verb_listen(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(Printer) printer = NULL;
        g_autoptr(sd_event) event = NULL;
        g_autoptr(sd_event_source) sigterm = NULL, sigint = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        const char *name = NULL;
        Listen l = {};
        CliParser parser;
        sigset_t mask;
        int c = 0, r = 0;

        cli_parser_init(&parser, &cli_verb_listen, argc, argv, /* stop_at_positional= */ false);
        while (r == 0 && (c = cli_parser_next(&parser)) >= 0)
                switch (c) {
                case ARG_COUNT:
                        if (parse_uint(optarg, UINT64_MAX, &l.count) < 0 || l.count == 0)
                                r = cli_error(EXIT_USAGE, "--count needs a positive number, not '%s'.", optarg);
                        break;
                case ARG_NAME:
                        if (!optarg[0])
                                r = cli_error(EXIT_USAGE, "--name needs a name.");
                        name = optarg;
                        break;
                default:
                        g_assert_not_reached();
                }
        cli_parser_done(&parser);
        if (r != 0)
                return r;
        if (c == CLI_PARSE_EXIT)
                return parser.exit_status;
        if (optind < argc)
                return cli_error(EXIT_USAGE, "'listen' takes no arguments.");

        /* Before the locker exists, so that no signal is missed between registering and listening. */
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGTERM);
        (void) sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return cli_error(EXIT_FAILURE, "Failed to block signals: %s", g_strerror(errno));

        r = sd_event_new(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, &sigterm, SIGTERM, on_signal, &l);
        if (r >= 0)
                r = sd_event_add_signal(event, &sigint, SIGINT, on_signal, &l);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Failed to set up the event loop: %s", g_strerror(-r));
        l.event = event;
        printer = printer_new(PRINTER_LINES, message_columns, G_N_ELEMENTS(message_columns),
                              cli_json_mode(/* streams= */ true), /* legend= */ false);
        l.printer = printer;

        /* Opening registers: from here on, publications to us are queued until the loop runs. */
        locker = cli_open_locker(name);
        if (!locker)
                return EXIT_FAILURE;
        (void) pylocker_locker_set_message_callback(locker, on_message, &l);
        r = pylocker_locker_attach_event(locker, event, 0, &error);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "%s", error.message);

        /* Not sd_event_loop(): a lost connection detaches from the loop, which would then wait for
         * nothing but signals; each round checks. */
        while (!l.done) {
                r = sd_event_run(event, UINT64_MAX);
                if (r < 0)
                        return cli_error(EXIT_FAILURE, "Event loop failed: %s", g_strerror(-r));
                if (!l.done && !pylocker_locker_is_connected(locker))
                        return cli_error(EXIT_FAILURE, "The connection to pylockerd was lost.");
        }
        (void) pylocker_locker_detach(locker);
        return l.status;
}
