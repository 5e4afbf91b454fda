/* pylockctl file-lock: hold a pylocker lock file while a command runs. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <systemd/sd-event.h>

#include <pylocker/pylocker.h>

#include "command-runner.h"
#include "macro.h"
#include "sd-cleanup.h"
#include "time-util.h"
#include "verbs.h"

/* Lets a long command keep the lock: its time is rewritten well before the dead-lock age, but
 * not so often that a tiny age turns the wait into a busy loop. */
#define REFRESH_MIN_USEC (10 * USEC_PER_MSEC)

typedef struct FileLockArgs {
        char *pass;
        char *pass_file;
        char *lock_path;
        uint64_t timeout_usec;
        uint64_t wait_usec;
        uint64_t dead_lock_usec;
        const char *file;
        char **command;
} FileLockArgs;

static void file_lock_args_done(FileLockArgs *a) {
        g_free(a->pass);
        g_free(a->pass_file);
        g_free(a->lock_path);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(FileLockArgs, file_lock_args_done)

enum {
        ARG_PASS = CLI_OPT_VERB,
        ARG_PASS_FILE,
        ARG_LOCK_PATH,
        ARG_TIMEOUT,
        ARG_WAIT,
        ARG_DEAD_LOCK,
};

static const CliOption options[] = {
        CLI_OPTION_HELP,
        { "pass",      0, ARG_PASS,      CLI_ARG_TEXT, false, "PASS", "Lock pass (default: a random one)" },
        { "pass-file", 0, ARG_PASS_FILE, CLI_ARG_FILE, false, "F",
          "Read the lock pass from file F (one trailing newline\ndropped)" },
        { "lock-path", 0, ARG_LOCK_PATH, CLI_ARG_FILE, false, "F", "Lock file to use instead of the default" },
        { "timeout",   0, ARG_TIMEOUT,   CLI_ARG_SPAN, false, "S",
          "Give up after S (default 60s; a bare number is seconds)" },
        { "wait",      0, ARG_WAIT,      CLI_ARG_SPAN, false, "S",
          "Pause between attempts (default 0: a short back-off)" },
        { "dead-lock", 0, ARG_DEAD_LOCK, CLI_ARG_SPAN, false, "S", "Take over a lock older than S (default 120s)" },
};

const CliVerb cli_verb_file_lock = {
        .name = "file-lock",
        .run = verb_file_lock,
        .summary = "Hold a pylocker lock file while a command runs",
        .synopsis = "[OPTIONS] [FILE] -- CMD [ARG...]",
        .description = "Takes a pylocker lock file, runs CMD, releases the lock when CMD ends and exits\n"
                       "with CMD's status (128+N if it was killed by signal N). The lock file is '.lock'\n"
                       "beside FILE, or in the working directory without FILE; FILE is opened for\n"
                       "appending (and created) while the lock is held, as pylocker's Locker does.",
        .options = options,
        .n_options = ELEMENTSOF(options),
        .positional = CLI_ARG_FILE,
        .command = true,
        .epilogue = "Exit status: CMD's; 0 when SIGTERM or SIGINT sent to pylockctl stopped CMD; 75\n"
                    "when the lock was not had in time; 64 on a usage error; 1 on any other error.\n"
                    "SIGTERM, SIGINT and SIGHUP are passed on to CMD.",
};

static int parse_args(int argc, char *argv[], FileLockArgs *a) {
        int c = 0, r = 0, n_opts, n_positional;
        CliParser parser;

        /* Options and FILE come before the first "--", CMD after it. */
        n_opts = command_split(argc, argv, &a->command);

        cli_parser_init(&parser, &cli_verb_file_lock, n_opts, argv, /* stop_at_positional= */ false);
        while (r == 0 && (c = cli_parser_next(&parser)) >= 0)
                switch (c) {
                case ARG_PASS:
                        g_free(a->pass);
                        a->pass = g_strdup(optarg);
                        break;
                case ARG_PASS_FILE:
                        g_free(a->pass_file);
                        a->pass_file = g_strdup(optarg);
                        break;
                case ARG_LOCK_PATH:
                        g_free(a->lock_path);
                        a->lock_path = g_strdup(optarg);
                        break;
                case ARG_TIMEOUT:
                        r = cli_parse_span("timeout", optarg, &a->timeout_usec);
                        break;
                case ARG_WAIT:
                        r = cli_parse_span("wait", optarg, &a->wait_usec);
                        break;
                case ARG_DEAD_LOCK:
                        r = cli_parse_span("dead-lock", optarg, &a->dead_lock_usec);
                        break;
                default:
                        g_assert_not_reached();
                }
        cli_parser_done(&parser);
        if (r != 0)
                return -r;
        if (c == CLI_PARSE_EXIT)
                return parser.exit_status == EXIT_SUCCESS ? 1 : -parser.exit_status;

        if (a->pass && a->pass_file)
                return -cli_error(EXIT_USAGE, "--pass and --pass-file exclude each other.");

        n_positional = n_opts - optind;
        if (n_positional > 1)
                return -cli_error(EXIT_USAGE, "At most one FILE may be given, got '%s' and '%s'.",
                                  argv[optind], argv[optind + 1]);
        a->file = n_positional == 1 ? argv[optind] : NULL;

        if (!a->command)
                return -cli_error(EXIT_USAGE, "No command given: use 'pylockctl file-lock [FILE] -- CMD [ARG...]'.");
        return 0;
}

static char *read_pass_file(const char *path) {
        g_autoptr(GError) gerror = NULL;
        char *text = NULL;
        size_t len;

        if (!g_file_get_contents(path, &text, &len, &gerror)) {
                (void) cli_error(EXIT_FAILURE, "Failed to read pass file: %s", gerror->message);
                return NULL;
        }
        if (strlen(text) != len) {
                (void) cli_error(EXIT_FAILURE, "Pass file '%s' contains a NUL byte.", path);
                g_free(text);
                return NULL;
        }
        /* Editors end files with a newline; it is not part of the pass. */
        if (len > 0 && text[len - 1] == '\n')
                text[len - 1] = '\0';
        return text;
}

typedef struct Refresh {
        PylockerFileLock *lock;
        uint64_t interval;
} Refresh;

/* Rewrites the lock's time well before the dead-lock age, so a long CMD keeps the lock. */
static int on_refresh(sd_event_source *s, uint64_t usec, void *userdata) {
        Refresh *refresh = userdata;
        PylockerError error = PYLOCKER_ERROR_INIT;

        if (pylocker_file_lock_refresh(refresh->lock, &error) < 0) {
                /* Lost (taken over, removed): refreshing cannot win it back. */
                (void) cli_error(0, "Warning: %s", error.message);
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        (void) sd_event_source_set_time(s, usec_add(usec, refresh->interval));
        return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

int verb_file_lock(int argc, char *argv[]) {
        g_auto(FileLockArgs) a = {
                .timeout_usec = PYLOCKER_FILE_LOCK_DEFAULT_TIMEOUT_USEC,
                .wait_usec = PYLOCKER_FILE_LOCK_DEFAULT_WAIT_USEC,
                .dead_lock_usec = PYLOCKER_FILE_LOCK_DEFAULT_DEAD_LOCK_USEC,
        };
        g_autoptr(PylockerFileLock) lock = NULL;
        g_auto(CommandRunner) runner = COMMAND_RUNNER_INIT;
        g_autoptr(sd_event_source) refresh_source = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        Refresh refresh = {};
        int r, code;

        r = parse_args(argc, argv, &a);
        if (r > 0)
                return EXIT_SUCCESS;    /* --help */
        if (r < 0)
                return -r;

        if (a.pass_file) {
                a.pass = read_pass_file(a.pass_file);
                if (!a.pass)
                        return EXIT_FAILURE;
        } else if (!a.pass)
                a.pass = g_uuid_string_random();

        /* Refusals of the values given are usage errors; the library has said why. */
        if (pylocker_file_lock_new(a.file, a.pass, &lock, &error) < 0 ||
            pylocker_file_lock_set_timeout(lock, a.timeout_usec, &error) < 0 ||
            pylocker_file_lock_set_wait(lock, a.wait_usec, &error) < 0 ||
            pylocker_file_lock_set_dead_lock(lock, a.dead_lock_usec, &error) < 0 ||
            (a.lock_path && pylocker_file_lock_set_lock_path(lock, a.lock_path, &error) < 0))
                return cli_error(EXIT_USAGE, "%s", error.message);

        code = pylocker_file_lock_acquire(lock, &error);
        if (code < 0)
                return cli_error(EXIT_FAILURE, "%s", error.message);
        if (code == PYLOCKER_FILE_LOCK_TIMED_OUT) {
                char buf[FORMAT_TIME_SPAN_MAX];
                return cli_error(EXIT_LOCK_TIMEOUT, "Lock '%s' not had within %s.",
                                 pylocker_file_lock_get_lock_path(lock),
                                 format_time_span(buf, sizeof(buf), a.timeout_usec));
        }

        r = command_runner_init(&runner);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Failed to set up the event loop: %s", g_strerror(-r));
        r = command_runner_spawn(&runner, a.command, /* env= */ NULL, /* die_with_parent= */ false);
        if (r < 0)
                /* The lock is given back by the cleanup. */
                return cli_error(EXIT_FAILURE, "Failed to start '%s': %s", a.command[0], g_strerror(-r));

        if (a.dead_lock_usec != PYLOCKER_FILE_LOCK_INFINITY && a.dead_lock_usec > 0) {
                uint64_t now;

                refresh.lock = lock;
                refresh.interval = MAX(a.dead_lock_usec / 3, REFRESH_MIN_USEC);
                r = sd_event_now(runner.event, CLOCK_MONOTONIC, &now);
                if (r >= 0)
                        r = sd_event_add_time(runner.event, &refresh_source, CLOCK_MONOTONIC,
                                              usec_add(now, refresh.interval), USEC_PER_MSEC, on_refresh, &refresh);
                if (r < 0)
                        return cli_error(EXIT_FAILURE, "Failed to set up the event loop: %s", g_strerror(-r));
        }

        r = command_runner_wait(&runner);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Failed to wait for '%s': %s", a.command[0], g_strerror(-r));

        /* CMD's status matters more to the caller than a release problem, which is only told. */
        code = pylocker_file_lock_release(lock, &error);
        if (code < 0)
                (void) cli_error(0, "Warning: %s", error.message);
        else if (code == PYLOCKER_FILE_LOCK_NOT_OWNER)
                (void) cli_error(0, "Warning: lock '%s' was taken over by another pass while '%s' ran.",
                                 pylocker_file_lock_get_lock_path(lock), a.command[0]);

        /* Stopped as asked (systemctl stop): a success, not CMD's 143 that would fail the unit. */
        if (command_runner_stopped(&runner))
                return EXIT_SUCCESS;
        return runner.exit_status;
}
