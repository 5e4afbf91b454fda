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

#include "command-runner.h"
#include "macro.h"
#include "sd-cleanup.h"
#include "time-util.h"
#include "verbs.h"

/* A lease is refreshed at a third of its length, so two refreshes may fail or be late before it
 * runs out; never more often than this, so a tiny lease does not become a busy loop. */
#define REFRESH_MIN_USEC (10 * USEC_PER_MSEC)

typedef struct RunArgs {
        uint64_t timeout_usec;
        uint64_t ttl_usec;
        bool nonblock;
        bool shared;
        bool no_deadlock_check;
        bool quiet;
        char **paths;           /* NULL-terminated, g_strfreev */
        char **command;         /* into argv */
} RunArgs;

typedef struct Run {
        PylockerLocker *locker;
        PylockerLock *lock;
        CommandRunner *runner;
        sd_event_source *refresh_source;
        uint64_t ttl_usec;
        bool lost;
} Run;

static void help(void) {
        (void) printf("Usage: pylockctl [GLOBAL-OPTIONS] run [OPTIONS] PATH... -- CMD [ARG...]\n"
                      "\n"
                      "Locks every PATH at once through pylockerd, runs CMD with PYLOCKER_LOCK_ID and\n"
                      "PYLOCKER_TOKEN (the fencing token) in its environment, keeps the lock's lease\n"
                      "refreshed while CMD runs, and releases the lock when CMD ends.\n"
                      "\n"
                      "Options:\n"
                      "  -h --help          Show this help\n"
                      "     --timeout S     Wait at most S for the lock (default: the daemon's\n"
                      "                     DefaultTimeout; 'infinity' waits forever)\n"
                      "     --nonblock      Try once, do not wait\n"
                      "     --shared        Take a shared (reader) lock\n"
                      "     --no-deadlock-check\n"
                      "                     Wait even where the wait would close a cycle of clients\n"
                      "                     waiting for each other (pylockerd refuses it otherwise)\n"
                      "     --ttl S         Lease of the lock, refreshed every third of it (default:\n"
                      "                     the daemon's MaxLockTime)\n"
                      "     --quiet         Do not say on a terminal who holds what we wait for\n"
                      "\n"
                      "Exit status: CMD's (128+N if it was killed by signal N); 75 when the lock was\n"
                      "not had in time; 76 when the lock was lost while CMD ran (it expired, was\n"
                      "force-released or pylockerd went away), in which case CMD got SIGTERM; 79 when\n"
                      "pylockerd refused the wait because it would deadlock; 64 on a usage error; 1\n"
                      "on any other error. SIGTERM, SIGINT and SIGHUP are passed on to CMD, which\n"
                      "also gets SIGTERM if pylockctl itself dies.\n");
}

static int parse_args(int argc, char *argv[], RunArgs *a) {
        enum {
                ARG_TIMEOUT = 0x100,
                ARG_NONBLOCK,
                ARG_SHARED,
                ARG_NO_DEADLOCK_CHECK,
                ARG_TTL,
                ARG_QUIET,
        };
        static const struct option options[] = {
                { "help",              no_argument,       NULL, 'h'                   },
                { "timeout",           required_argument, NULL, ARG_TIMEOUT           },
                { "nonblock",          no_argument,       NULL, ARG_NONBLOCK          },
                { "shared",            no_argument,       NULL, ARG_SHARED            },
                { "no-deadlock-check", no_argument,       NULL, ARG_NO_DEADLOCK_CHECK },
                { "ttl",               required_argument, NULL, ARG_TTL               },
                { "quiet",             no_argument,       NULL, ARG_QUIET             },
                {}
        };
        int c, r, n_opts;

        /* PATHs and options come before the first "--", CMD after it. */
        n_opts = command_split(argc, argv, &a->command);

        while ((c = getopt_long(n_opts, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case ARG_TIMEOUT:
                        r = cli_parse_span("timeout", optarg, &a->timeout_usec);
                        if (r != 0)
                                return -r;
                        if (a->timeout_usec == 0)
                                return -cli_error(EXIT_USAGE, "--timeout must be positive; use --nonblock to "
                                                  "try once.");
                        break;
                case ARG_NONBLOCK:
                        a->nonblock = true;
                        break;
                case ARG_SHARED:
                        a->shared = true;
                        break;
                case ARG_NO_DEADLOCK_CHECK:
                        a->no_deadlock_check = true;
                        break;
                case ARG_QUIET:
                        a->quiet = true;
                        break;
                case ARG_TTL:
                        r = cli_parse_span("ttl", optarg, &a->ttl_usec);
                        if (r != 0)
                                return -r;
                        if (a->ttl_usec == 0 || a->ttl_usec == PYLOCKER_INFINITY)
                                return -cli_error(EXIT_USAGE, "--ttl must be positive and finite.");
                        break;
                default:
                        return -EXIT_USAGE;     /* getopt has said what was wrong */
                }

        if (optind >= n_opts)
                return -cli_error(EXIT_USAGE, "No PATH given: use 'pylockctl run PATH... -- CMD [ARG...]'.");
        if (!a->command)
                return -cli_error(EXIT_USAGE, "No command given: use 'pylockctl run PATH... -- CMD [ARG...]'.");

        a->paths = g_new0(char *, n_opts - optind + 1);
        for (int i = optind; i < n_opts; i++)
                a->paths[i - optind] = g_strdup(argv[i]);
        return 0;
}

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

static uint64_t refresh_interval(Run *run) {
        uint64_t lease = run->ttl_usec ?: pylocker_locker_get_max_lock_time(run->locker);

        return MAX(lease / 3, REFRESH_MIN_USEC);
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

        (void) sd_event_source_set_time(s, usec_add(usec, refresh_interval(run)));
        return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

/* On a terminal, before waiting: who holds what we wait for. */
static void say_who_holds(PylockerLocker *locker, char **paths) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLockInfo *infos = NULL;
        size_t n = 0;

        if (pylocker_locker_list_locks(locker, &infos, &n, &error) < 0)
                return;

        for (size_t i = 0; i < n; i++)
                for (char **p = infos[i].paths; *p; p++) {
                        g_autoptr(GDateTime) since = g_date_time_new_from_unix_local(
                                (gint64) (infos[i].acquired_usec / USEC_PER_SEC));
                        g_autofree char *when = since ? g_date_time_format(since, "%H:%M:%S") : g_strdup("?");

                        if (!g_strv_contains((const char *const *) paths, *p))
                                continue;
                        (void) fprintf(stderr, "pylockctl: waiting for '%s', held by %s%s%s%s since %s%s\n", *p,
                                       infos[i].owner_id, infos[i].owner_name[0] ? " (" : "", infos[i].owner_name,
                                       infos[i].owner_name[0] ? ")" : "", when,
                                       (infos[i].flags & PYLOCKER_LOCK_INFO_SHARED) ? " (shared)" : "");
                }
        pylocker_lock_info_array_free(infos, n);
}

int verb_run(int argc, char *argv[]) {
        RunArgs a = {};
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(PylockerLock) lock = NULL;
        g_auto(CommandRunner) runner = COMMAND_RUNNER_INIT;
        g_autoptr(sd_event_source) refresh_source = NULL;
        PylockerAcquireOptions options = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *joined = NULL, *id_env = NULL, *token_env = NULL;
        Run run = {};
        uint64_t now;
        int r;

        r = parse_args(argc, argv, &a);
        if (r != 0) {
                g_strfreev(a.paths);
                return r > 0 ? EXIT_SUCCESS : -r;
        }
        joined = g_strjoinv("', '", a.paths);

        locker = cli_open_locker(NULL);
        if (!locker) {
                g_strfreev(a.paths);
                return EXIT_FAILURE;
        }

        options.timeout_usec = a.timeout_usec;
        options.ttl_usec = a.ttl_usec;
        if (a.shared)
                options.flags |= PYLOCKER_ACQUIRE_SHARED;
        if (a.nonblock)
                options.flags |= PYLOCKER_ACQUIRE_NONBLOCKING;
        if (a.no_deadlock_check)
                options.flags |= PYLOCKER_ACQUIRE_NO_DEADLOCK_CHECK;
        if (!a.nonblock && !a.quiet && isatty(STDERR_FILENO)) {
                /* Try once; when taken, say by whom, then wait in line like anyone. */
                options.flags |= PYLOCKER_ACQUIRE_NONBLOCKING;
                r = pylocker_locker_acquire(locker, (const char *const *) a.paths, &options, &lock, &error);
                options.flags &= ~PYLOCKER_ACQUIRE_NONBLOCKING;
                if (r == -ETIMEDOUT) {
                        say_who_holds(locker, a.paths);
                        error = (PylockerError) PYLOCKER_ERROR_INIT;
                        r = pylocker_locker_acquire(locker, (const char *const *) a.paths, &options, &lock, &error);
                }
        } else
                r = pylocker_locker_acquire(locker, (const char *const *) a.paths, &options, &lock, &error);
        g_strfreev(a.paths);
        if (r == -ETIMEDOUT)
                return cli_error(EXIT_LOCK_TIMEOUT, "Lock on '%s' not had%s.", joined,
                                 a.nonblock ? " (taken, and --nonblock given)" : " in time");
        if (r == -EDEADLK)
                /* The library's message says "would deadlock" and the daemon's text names the cycle. */
                return cli_error(EXIT_DEADLOCK, "Lock on '%s' not had: %s", joined, error.message);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "%s", error.message);

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
        r = command_runner_spawn(&runner, a.command, (char *[]) { id_env, token_env, NULL },
                                 /* die_with_parent= */ true);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Failed to start '%s': %s", a.command[0], g_strerror(-r));

        r = sd_event_now(runner.event, CLOCK_MONOTONIC, &now);
        if (r >= 0)
                /* 1 ms accuracy: sd-event's default would let a short lease run out first. */
                r = sd_event_add_time(runner.event, &refresh_source, CLOCK_MONOTONIC,
                                      usec_add(now, refresh_interval(&run)), USEC_PER_MSEC, on_refresh, &run);
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
                (void) cli_error(0, "Warning: the lock was already gone when '%s' ended.", a.command[0]);
        return runner.exit_status;
}
