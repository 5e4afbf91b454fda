/* pylockctl run: hold pylockerd locks on PATHs while a command runs. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <systemd/sd-event.h>

#include <pylocker/pylocker.h>

#include "cli-lock.h"
#include "command-runner.h"
#include "macro.h"
#include "sd-cleanup.h"
#include "time-util.h"
#include "verbs.h"

typedef struct Run {
        PylockerLocker *locker;
        PylockerLock *lock;
        CommandRunner *runner;
        sd_event_source *refresh_source;
        uint64_t ttl_usec;
        bool lost;
} Run;

static const CliOption options[] = {
        CLI_OPTION_HELP,
        CLI_LOCK_OPTIONS("Register with pylockerd as NAME, which 'pylockctl locks'\nshows (default: CMD's name)"),
};

const CliVerb cli_verb_run = {
        .name = "run",
        .run = verb_run,
        .summary = "Hold pylockerd locks on PATHs while a command runs",
        .synopsis = "[OPTIONS] PATH... -- CMD [ARG...]",
        .description = "Waits until every PATH is locked at once through pylockerd, runs CMD with\n"
                       "PYLOCKER_LOCK_ID and PYLOCKER_TOKEN (the fencing token) in its environment,\n"
                       "keeps the lock's lease refreshed while CMD runs, and releases the lock when CMD\n"
                       "ends.",
        .options = options,
        .n_options = ELEMENTSOF(options),
        .positional = CLI_ARG_LOCK_PATH,
        .command = true,
        .epilogue = "Exit status: CMD's (128+N if it was killed by signal N); 0 when SIGTERM or SIGINT\n"
                    "sent to pylockctl (systemctl stop, kill) stopped CMD; 75 when the lock was not\n"
                    "had in time; 76 when the lock was lost while CMD ran (it expired, was\n"
                    "force-released or pylockerd went away), in which case CMD got SIGTERM; 79 when\n"
                    "pylockerd refused the wait because it would deadlock; 64 on a usage error; 1\n"
                    "on any other error. SIGTERM, SIGINT and SIGHUP are passed on to CMD, which\n"
                    "also gets SIGTERM if pylockctl itself dies.",
};

static void on_lock_lost(PylockerLocker *locker, PylockerLock *lock, PylockerLockLostReason reason,
                         void *userdata) {
        Run *run = userdata;

        if (run->lost)
                return;
        run->lost = true;
        (void) cli_error(0, "Lock %s lost (%s); stopping the command.", pylocker_lock_get_id(lock),
                         reason == PYLOCKER_LOCK_LOST_DISCONNECTED ? "connection to pylockerd lost" :
                         reason == PYLOCKER_LOCK_LOST_EXPIRED ? "expired or force-released" : "no longer known");
        (void) sd_event_source_set_enabled(run->refresh_source, SD_EVENT_OFF);
        command_runner_kill(run->runner, SIGTERM);
}

static int on_refresh(sd_event_source *s, uint64_t usec, void *userdata) {
        Run *run = userdata;
        PylockerError error = PYLOCKER_ERROR_INIT;
        int r;

        r = pylocker_lock_refresh(run->lock, run->ttl_usec, &error);
        if (r < 0 && !run->lost)
                /* A loss has been handled by on_lock_lost(); anything else may pass: try again. */
                (void) cli_error(0, "Warning: failed to refresh the lock, retrying: %s", error.message);
        if (run->lost)
                return 0;

        (void) sd_event_source_set_time(s, usec_add(usec, cli_refresh_interval(run->locker, run->ttl_usec)));
        return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

static int parse_args(int argc, char *argv[], CliLockArgs *a, char ***ret_command) {
        CliParser p;
        int c = 0, r = 0, n_opts;

        /* PATHs and options come before the first "--", CMD after it. */
        n_opts = command_split(argc, argv, ret_command);

        cli_parser_init(&p, &cli_verb_run, n_opts, argv, /* stop_at_positional= */ false);
        while (r == 0 && (c = cli_parser_next(&p)) >= 0)
                r = cli_lock_parse_option(a, c, optarg);
        cli_parser_done(&p);
        g_assert(r >= 0);       /* the lock options are all it has */
        if (r != 0)
                return r;
        if (c == CLI_PARSE_EXIT)
                return p.exit_status;

        if (optind >= n_opts)
                return cli_error(EXIT_USAGE, "No PATH given: use 'pylockctl run PATH... -- CMD [ARG...]'.");
        if (!*ret_command)
                return cli_error(EXIT_USAGE, "No command given: use 'pylockctl run PATH... -- CMD [ARG...]'.");
        if (cli_lock_take_paths(a, "run", argv, optind, n_opts) != 0)
                return EXIT_USAGE;
        return -1;
}

int verb_run(int argc, char *argv[]) {
        g_auto(CliLockArgs) a = CLI_LOCK_ARGS_INIT;
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(PylockerLock) lock = NULL;
        g_auto(CommandRunner) runner = COMMAND_RUNNER_INIT;
        g_autoptr(sd_event_source) refresh_source = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *id_env = NULL, *token_env = NULL, *command_name = NULL;
        char **command = NULL;
        Run run = {};
        uint64_t now;
        int r;

        r = parse_args(argc, argv, &a, &command);
        if (r >= 0)
                return r;

        command_name = g_path_get_basename(command[0]);
        r = cli_lock_open(&a, command_name, &locker, &error);
        if (r < 0)
                return cli_lock_failed(&a, r, &error);
        r = cli_lock_acquire(locker, &a, !a.quiet && isatty(STDERR_FILENO) ? stderr : NULL, &lock, &error);
        if (r < 0)
                return cli_lock_failed(&a, r, &error);

        run.locker = locker;
        run.lock = lock;
        run.runner = &runner;
        run.ttl_usec = a.ttl_usec;
        (void) pylocker_locker_set_lock_lost_callback(locker, on_lock_lost, &run);

        r = command_runner_init(&runner);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Failed to set up the event loop: %s", g_strerror(-r));
        r = pylocker_locker_attach_event(locker, runner.event, 0, &error);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "%s", error.message);

        id_env = g_strconcat("PYLOCKER_LOCK_ID=", pylocker_lock_get_id(lock), NULL);
        token_env = g_strdup_printf("PYLOCKER_TOKEN=%" PRIu64, pylocker_lock_get_token(lock));
        r = command_runner_spawn(&runner, command, (char *[]) { id_env, token_env, NULL },
                                 /* die_with_parent= */ true);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Failed to start '%s': %s", command[0], g_strerror(-r));

        r = sd_event_now(runner.event, CLOCK_MONOTONIC, &now);
        if (r >= 0)
                /* 1 ms accuracy: sd-event's default would let a short lease run out first. */
                r = sd_event_add_time(runner.event, &refresh_source, CLOCK_MONOTONIC,
                                      usec_add(now, cli_refresh_interval(locker, a.ttl_usec)), USEC_PER_MSEC,
                                      on_refresh, &run);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Failed to set up the event loop: %s", g_strerror(-r));
        run.refresh_source = refresh_source;

        r = command_runner_wait(&runner);
        (void) pylocker_locker_detach(locker);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Event loop failed: %s", g_strerror(-r));

        if (run.lost)
                return EXIT_LOCK_LOST;

        /* CMD's status matters more to the caller than a release problem, which is only told. */
        r = pylocker_lock_release(lock, &error);
        if (r < 0)
                (void) cli_error(0, "Warning: failed to release the lock: %s", error.message);
        else if (r == PYLOCKER_RELEASE_NOT_FOUND)
                (void) cli_error(0, "Warning: the lock was already gone when '%s' ended.", command[0]);

        /* Stopped as asked (systemctl stop): a success, not CMD's 143 that would fail the unit. */
        if (command_runner_stopped(&runner))
                return EXIT_SUCCESS;
        return runner.exit_status;
}
