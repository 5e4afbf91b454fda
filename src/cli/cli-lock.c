/* Taking a pylockerd lock for run, hold and acquire. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "cli-lock.h"
#include "macro.h"
#include "time-util.h"

/* pylockerd's limit on client names; longer ones are refused by it, so they are a usage error here. */
#define NAME_MAX_LENGTH 255

/* A wait that pylockerd ended sooner than this is not asked again at once: no busy loop, whatever the
 * daemon's settings. */
#define REISSUE_MIN_USEC (10 * USEC_PER_MSEC)

void cli_lock_args_done(CliLockArgs *a) {
        g_clear_pointer(&a->paths, g_strfreev);
}

static bool name_ok(const char *name) {
        if (name[0] == '\0' || strlen(name) > NAME_MAX_LENGTH)
                return false;
        for (const char *p = name; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

int cli_lock_parse_option(CliLockArgs *a, int id, const char *value) {
        switch (id) {
        case CLI_LOCK_OPT_TIMEOUT:
                if (cli_parse_span("timeout", value, &a->timeout_usec) != 0)
                        return EXIT_USAGE;
                if (a->timeout_usec == 0)
                        return cli_error(EXIT_USAGE, "--timeout must be positive; use --nonblock to try once.");
                return 0;
        case CLI_LOCK_OPT_NONBLOCK:
                a->nonblock = true;
                return 0;
        case CLI_LOCK_OPT_SHARED:
                a->shared = true;
                return 0;
        case CLI_LOCK_OPT_NO_DEADLOCK_CHECK:
                a->no_deadlock_check = true;
                return 0;
        case CLI_LOCK_OPT_TTL:
                if (cli_parse_span("ttl", value, &a->ttl_usec) != 0)
                        return EXIT_USAGE;
                if (a->ttl_usec == 0 || a->ttl_usec == PYLOCKER_INFINITY)
                        return cli_error(EXIT_USAGE, "--ttl must be positive and finite.");
                return 0;
        case CLI_LOCK_OPT_QUIET:
                a->quiet = true;
                return 0;
        case CLI_LOCK_OPT_NAME:
                if (!name_ok(value))
                        return cli_error(EXIT_USAGE, "Invalid --name '%s': 1 to %d bytes, no control characters.",
                                         value, NAME_MAX_LENGTH);
                a->name = value;
                return 0;
        default:
                return -1;
        }
}

int cli_lock_take_paths(CliLockArgs *a, const char *verb, char **argv, int first, int n) {
        if (first >= n)
                return cli_error(EXIT_USAGE, "No PATH given. See 'pylockctl %s --help'.", verb);
        for (int i = first; i < n; i++) {
                if (argv[i][0] == '\0')
                        return cli_error(EXIT_USAGE, "An empty PATH cannot be locked.");
                if (!g_utf8_validate(argv[i], -1, NULL))
                        /* Not echoed: a terminal would show its bytes as it pleases. */
                        return cli_error(EXIT_USAGE, "PATH %d is not valid UTF-8.", i - first + 1);
        }

        g_strfreev(a->paths);
        a->paths = g_new0(char *, n - first + 1);
        for (int i = first; i < n; i++)
                a->paths[i - first] = g_strdup(argv[i]);
        return 0;
}

int cli_lock_open(const CliLockArgs *a, const char *default_name, PylockerLocker **ret, PylockerError *error) {
        g_autofree char *unique = NULL;
        const char *name = a->name;
        int r;

        /* A default that pylockerd would refuse is no reason to fail: the client goes unnamed. */
        if (!name && default_name && name_ok(default_name))
                name = default_name;
        r = cli_open_locker_full(name, ret, error);
        if (r != -EEXIST || a->name || !name)
                return r;

        unique = g_strdup_printf("%.200s[%d]", name, (int) getpid());
        *error = (PylockerError) PYLOCKER_ERROR_INIT;
        return cli_open_locker_full(unique, ret, error);
}

int cli_lock_acquire(PylockerLocker *locker, const CliLockArgs *a, FILE *notes, PylockerLock **ret,
                     PylockerError *error) {
        PylockerAcquireOptions options = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        uint64_t deadline = PYLOCKER_INFINITY;
        int r = -ETIMEDOUT;

        options.ttl_usec = a->ttl_usec;
        if (a->shared)
                options.flags |= PYLOCKER_ACQUIRE_SHARED;
        if (a->no_deadlock_check)
                options.flags |= PYLOCKER_ACQUIRE_NO_DEADLOCK_CHECK;
        if (a->nonblock) {
                options.flags |= PYLOCKER_ACQUIRE_NONBLOCKING;
                return pylocker_locker_acquire(locker, (const char *const *) a->paths, &options, ret, error);
        }
        if (a->timeout_usec != PYLOCKER_INFINITY)
                deadline = usec_add((uint64_t) g_get_monotonic_time(), a->timeout_usec);

        if (notes) {
                /* Try once; when taken, say by whom, then wait in line like anyone. */
                options.flags |= PYLOCKER_ACQUIRE_NONBLOCKING;
                r = pylocker_locker_acquire(locker, (const char *const *) a->paths, &options, ret, error);
                options.flags &= ~PYLOCKER_ACQUIRE_NONBLOCKING;
                if (r != -ETIMEDOUT)
                        return r;
                cli_lock_say_who_holds(locker, a->paths, notes);
                *error = (PylockerError) PYLOCKER_ERROR_INIT;
        }

        for (;;) {
                uint64_t start = (uint64_t) g_get_monotonic_time();

                if (deadline == PYLOCKER_INFINITY)
                        options.timeout_usec = PYLOCKER_INFINITY;
                else if (start < deadline)
                        options.timeout_usec = deadline - start;
                else {
                        /* The last answer was a Timeout, or the time ran out before any. */
                        if (error)
                                error->code = r;
                        return r;
                }

                r = pylocker_locker_acquire(locker, (const char *const *) a->paths, &options, ret, error);
                if (r != -ETIMEDOUT)
                        return r;

                /* pylockerd ended the wait before we would have: it bounds waits. Ask again, for what is
                 * left; the place in the queue is lost, but not the lock. */
                if ((uint64_t) g_get_monotonic_time() - start < REISSUE_MIN_USEC)
                        g_usleep(REISSUE_MIN_USEC);
                if (deadline == PYLOCKER_INFINITY || (uint64_t) g_get_monotonic_time() < deadline)
                        *error = (PylockerError) PYLOCKER_ERROR_INIT;
        }
}

int cli_lock_failure(const CliLockArgs *a, int r, const PylockerError *error, char **ret_message) {
        g_autofree char *joined = g_strjoinv("', '", a->paths);

        switch (r) {
        case -ETIMEDOUT:
                *ret_message = g_strdup_printf("Lock on '%s' not had%s.", joined,
                                               a->nonblock ? " (taken, and --nonblock given)" : " in time");
                return EXIT_LOCK_TIMEOUT;
        case -EDEADLK:
                /* The library's message says "would deadlock" and the daemon's text names the cycle. */
                *ret_message = g_strdup_printf("Lock on '%s' not had: %s", joined, error->message);
                return EXIT_DEADLOCK;
        case -EINVAL:
                /* pylockerd refused the request as it was given (a path too long, too many paths). */
                *ret_message = g_strdup(error->message);
                return EXIT_USAGE;
        case -EEXIST:
                *ret_message = g_strdup_printf("The name '%s' is taken by another client of pylockerd.",
                                               a->name ?: "");
                return EXIT_FAILURE;
        default:
                *ret_message = g_strdup(error->message);
                return EXIT_FAILURE;
        }
}

int cli_lock_failed(const CliLockArgs *a, int r, const PylockerError *error) {
        g_autofree char *message = NULL;
        int code = cli_lock_failure(a, r, error, &message);

        return cli_error(code, "%s", message);
}

void cli_lock_say_who_holds(PylockerLocker *locker, char **paths, FILE *f) {
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
                        (void) fprintf(f, "pylockctl: waiting for '%s', held by %s%s%s%s since %s%s\n", *p,
                                       infos[i].owner_id, infos[i].owner_name[0] ? " (" : "", infos[i].owner_name,
                                       infos[i].owner_name[0] ? ")" : "", when,
                                       (infos[i].flags & PYLOCKER_LOCK_INFO_SHARED) ? " (shared)" : "");
                }
        (void) fflush(f);
        pylocker_lock_info_array_free(infos, n);
}

char *cli_process_name(pid_t pid) {
        g_autofree char *path = g_strdup_printf("/proc/%d/comm", (int) pid);
        char *text = NULL;

        if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
                return NULL;
        g_strchomp(text);
        if (text[0] == '\0')
                g_clear_pointer(&text, g_free);
        return text;
}

uint64_t cli_refresh_interval(PylockerLocker *locker, uint64_t ttl_usec) {
        uint64_t lease = ttl_usec ?: pylocker_locker_get_max_lock_time(locker);

        return MAX(lease / 3, CLI_REFRESH_MIN_USEC);
}
