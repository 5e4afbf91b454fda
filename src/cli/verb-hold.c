/* pylockctl hold, acquire and release: a lock held with no command under it. hold holds it in the
 * foreground (the process of pylocker-lock@.service); acquire leaves a holder in the background for a
 * script, which 'pylockctl release ID' asks to let go. pylockerd releases the locks of a client that
 * disconnects, so some process must stay connected for as long as the lock is meant to be held. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>

#include <pylocker/pylocker.h>

#include "cli-lock.h"
#include "holder.h"
#include "macro.h"
#include "printer.h"
#include "time-util.h"
#include "verbs.h"

/* How long release waits for the holder's answer: it makes one Release call, which the library bounds
 * to less than this. */
#define RELEASE_ANSWER_TIMEOUT_SEC 60

/* What hold and acquire print once granted: the id as text; as JSON, what a script may want of it. */
static const PrinterColumn granted_columns[] = {
        { "LOCK ID", "lock_id",    CELL_STRING },
        { NULL,      "token",      CELL_UINT },
        { NULL,      "mode",       CELL_STRING },
        { NULL,      "paths",      CELL_STRV },
        { NULL,      "holder_pid", CELL_UINT },
};

static int print_granted(const char *id, uint64_t token, bool shared, char **paths, pid_t holder) {
        g_autoptr(Printer) p = printer_new(PRINTER_LINES, granted_columns, G_N_ELEMENTS(granted_columns),
                                           cli_json_mode(/* streams= */ false), /* legend= */ false);

        printer_add_string(p, id);
        printer_add_uint(p, token);
        printer_add_string(p, shared ? "shared" : "exclusive");
        printer_add_strv(p, (const char *const *) paths);
        printer_add_uint(p, (uint64_t) holder);
        return printer_flush(p);
}

/* Parses run's, hold's and acquire's common part; extra takes a verb's own options (0, or an exit
 * status after saying why). Returns -1 to go on, else the exit status. */
static int parse_lock_verb(const CliVerb *verb, int argc, char *argv[], CliLockArgs *a,
                           int (*extra)(int id, const char *value, void *userdata), void *userdata) {
        CliParser p;
        int c = 0, r = 0;

        cli_parser_init(&p, verb, argc, argv, /* stop_at_positional= */ false);
        while (r == 0 && (c = cli_parser_next(&p)) >= 0) {
                r = cli_lock_parse_option(a, c, optarg);
                if (r < 0)
                        r = extra(c, optarg, userdata);
        }
        cli_parser_done(&p);
        if (r != 0)
                return r;
        if (c == CLI_PARSE_EXIT)
                return p.exit_status;
        if (cli_lock_take_paths(a, verb->name, argv, optind, argc) != 0)
                return EXIT_USAGE;
        return -1;
}

/* --- hold --- */

static const CliOption hold_options[] = {
        CLI_OPTION_HELP,
        CLI_LOCK_OPTIONS("Register with pylockerd as NAME (default: the unit\nrunning it, else the parent's name)"),
        CLI_OPTION_JSON("Print the lock"),
};

const CliVerb cli_verb_hold = {
        .name = "hold",
        .run = verb_hold,
        .summary = "Hold a lock until stopped (the process of pylocker-lock@.service)",
        .synopsis = "[OPTIONS] PATH...",
        .description = "Waits until every PATH is locked at once, prints the lock id, then holds the lock\n"
                       "with its lease refreshed until SIGTERM, SIGINT or 'pylockctl release ID', and\n"
                       "releases it. Under systemd (Type=notify) it sends READY=1 once the lock is\n"
                       "granted, and no sooner: pylocker-lock@.service runs it, so that a unit with\n"
                       "BindsTo= and After= an instance runs only while the lock is held.",
        .options = hold_options,
        .n_options = ELEMENTSOF(hold_options),
        .positional = CLI_ARG_LOCK_PATH,
        .epilogue = "Exit status: 0 when it let go as asked (SIGTERM, SIGINT, 'pylockctl release'),\n"
                    "the lock released; 76 when the lock was lost (it expired, was force-released, or\n"
                    "pylockerd went away); 75 when not had in time (--timeout, --nonblock); 79 when\n"
                    "pylockerd refused the wait because it would deadlock; 64 on a usage error; 1 on\n"
                    "any other error.",
};

static int no_extra(int id, const char *value, void *userdata) {
        g_assert_not_reached();
}

/* Under systemd, the unit; else the process that started us. */
static char *default_holder_name(void) {
        char *unit = NULL;

        if (getenv("INVOCATION_ID") && sd_pid_get_unit(0, &unit) >= 0)
                return unit;
        return cli_process_name(getppid());
}

int verb_hold(int argc, char *argv[]) {
        g_auto(CliLockArgs) a = CLI_LOCK_ARGS_INIT;
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(PylockerLock) lock = NULL;
        g_auto(Holder) holder = HOLDER_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *joined = NULL, *name = NULL;
        int r;

        r = parse_lock_verb(&cli_verb_hold, argc, argv, &a, no_extra, NULL);
        if (r >= 0)
                return r;
        joined = g_strjoinv("', '", a.paths);

        name = default_holder_name();
        r = cli_lock_open(&a, name, &locker, &error);
        if (r < 0)
                return cli_lock_failed(&a, r, &error);

        (void) sd_notifyf(/* unset_environment= */ 0, "STATUS=Waiting for the lock on '%s'", joined);
        r = cli_lock_acquire(locker, &a, !a.quiet && isatty(STDERR_FILENO) ? stderr : NULL, &lock, &error);
        if (r < 0) {
                g_autofree char *message = NULL;
                int code = cli_lock_failure(&a, r, &error, &message);

                (void) sd_notifyf(0, "STATUS=%s", message);
                return cli_error(code, "%s", message);
        }

        r = holder_init(&holder, locker, lock, a.ttl_usec, /* notify= */ true, /* linger= */ false);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "Failed to set up the event loop: %s", g_strerror(-r));
        r = holder_listen(&holder);
        if (r < 0)
                (void) cli_error(0, "Warning: 'pylockctl release %s' will not reach this holder: %s",
                                 pylocker_lock_get_id(lock), g_strerror(-r));

        r = print_granted(pylocker_lock_get_id(lock), pylocker_lock_get_token(lock), a.shared, a.paths, getpid());
        if (r < 0)
                (void) cli_error(0, "Warning: failed to print the lock id: %s", g_strerror(-r));
        (void) sd_notifyf(0, "READY=1\nSTATUS=Holding lock %s (token %" PRIu64 ") on '%s'",
                          pylocker_lock_get_id(lock), pylocker_lock_get_token(lock), joined);

        return holder_run(&holder);
}

/* --- acquire --- */

enum {
        ARG_ID_FILE = CLI_LOCK_OPT_END,
        ARG_PID,
};

static const CliOption acquire_options[] = {
        CLI_OPTION_HELP,
        CLI_LOCK_OPTIONS("Register with pylockerd as NAME (default: the name of\nthe process that ran acquire)"),
        { "id-file", 0, ARG_ID_FILE, CLI_ARG_FILE, false, "FILE", "Write the lock id to FILE too" },
        { "pid",     0, ARG_PID,     CLI_ARG_PID,  false, "PID",
          "Release when process PID exits (default: the process\nthat ran acquire, the script; 0: never)" },
        CLI_OPTION_JSON("Print the lock"),
};

const CliVerb cli_verb_acquire = {
        .name = "acquire",
        .run = verb_acquire,
        .summary = "Lock PATHs for a script, until 'pylockctl release ID'",
        .synopsis = "[OPTIONS] PATH...",
        .description = "Waits until every PATH is locked at once, leaves a holder process in the\n"
                       "background that keeps the lock and its lease, prints the lock id and exits.\n"
                       "'pylockctl release ID' makes the holder release it. The holder also lets go\n"
                       "when the process given by --pid exits (by default the one that ran acquire:\n"
                       "in id=$(pylockctl acquire PATH), the script itself), so a script that dies\n"
                       "leaves no lock behind. --json prints lock_id, token, mode, paths, holder_pid.",
        .options = acquire_options,
        .n_options = ELEMENTSOF(acquire_options),
        .positional = CLI_ARG_LOCK_PATH,
        .epilogue = "Exit status: 0 when the lock is held (by the holder); 75 when not had in time\n"
                    "(--timeout, --nonblock); 79 when pylockerd refused the wait because it would\n"
                    "deadlock; 64 on a usage error; 1 on any other error.",
};

typedef struct AcquireArgs {
        const char *id_file;
        pid_t watch_pid;
        bool watch_given;
} AcquireArgs;

static int acquire_option(int id, const char *value, void *userdata) {
        AcquireArgs *aa = userdata;
        uint64_t pid;

        switch (id) {
        case ARG_ID_FILE:
                if (value[0] == '\0')
                        return cli_error(EXIT_USAGE, "--id-file needs a file name.");
                aa->id_file = value;
                return 0;
        case ARG_PID:
                if (parse_uint(value, INT32_MAX, &pid) < 0)
                        return cli_error(EXIT_USAGE, "--pid needs a process id, or 0 for none, not '%s'.", value);
                aa->watch_pid = (pid_t) pid;
                aa->watch_given = true;
                return 0;
        default:
                g_assert_not_reached();
        }
}

/* The holder: in the background, reporting to acquire through report (a line "OK ID TOKEN PID" or
 * "FAIL STATUS MESSAGE"; lines before them are notes for a terminal), which it closes. Returns its exit
 * status. */
static int holder_main(const CliLockArgs *a, FILE *report, bool notes, pid_t watch_pid, int watch_fd) {
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(PylockerLock) lock = NULL;
        g_auto(Holder) holder = HOLDER_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *name = NULL, *message = NULL;
        int r, code;

        name = cli_process_name(watch_pid > 0 ? watch_pid : getppid());
        r = cli_lock_open(a, name, &locker, &error);
        if (r >= 0)
                r = cli_lock_acquire(locker, a, notes ? report : NULL, &lock, &error);
        if (r < 0) {
                code = cli_lock_failure(a, r, &error, &message);
                (void) fprintf(report, "FAIL %d %s\n", code, g_strdelimit(message, "\n", ' '));
                (void) fclose(report);
                return code;
        }

        r = holder_init(&holder, locker, lock, a->ttl_usec, /* notify= */ false, /* linger= */ true);
        if (r >= 0)
                r = holder_listen(&holder);
        if (r >= 0 && watch_pid > 0)
                r = holder_watch(&holder, watch_pid, watch_fd);
        else
                close_fdp(&watch_fd);
        if (r < 0) {
                (void) pylocker_lock_release(lock, NULL);
                (void) fprintf(report, "FAIL %d Failed to set up the holder of lock %s: %s\n", EXIT_FAILURE,
                               pylocker_lock_get_id(lock), g_strerror(-r));
                (void) fclose(report);
                return EXIT_FAILURE;
        }

        /* Granted: from now on we outlive acquire. */
        (void) prctl(PR_SET_PDEATHSIG, 0);
        (void) fprintf(report, "OK %s %" PRIu64 " %d\n", pylocker_lock_get_id(lock), pylocker_lock_get_token(lock),
                       (int) getpid());
        if (fclose(report) != 0) {
                /* Nobody heard of the lock: it must not stay. */
                (void) pylocker_lock_release(lock, NULL);
                return EXIT_FAILURE;
        }
        return holder_run(&holder);
}

static int write_id_file(const char *path, const char *id) {
        g_autoptr(GError) gerror = NULL;
        g_autofree char *text = g_strconcat(id, "\n", NULL);

        if (!g_file_set_contents(path, text, -1, &gerror))
                return cli_error(EXIT_FAILURE, "Failed to write the lock id: %s", gerror->message);
        return 0;
}

/* The holder got the lock, but acquire cannot hand it over: the holder lets go (SIGTERM). */
static void stop_holder(pid_t pid) {
        (void) kill(pid, SIGTERM);
}

int verb_acquire(int argc, char *argv[]) {
        g_auto(CliLockArgs) a = CLI_LOCK_ARGS_INIT;
        AcquireArgs aa = {};
        _cleanup_close_ int watch_fd = -1;
        g_autofree char *line = NULL;
        g_auto(GStrv) ok = NULL;
        FILE *report = NULL;
        bool notes;
        size_t size = 0;
        pid_t parent = getpid(), child;
        int fds[2], r;

        r = parse_lock_verb(&cli_verb_acquire, argc, argv, &a, acquire_option, &aa);
        if (r >= 0)
                return r;
        if (!aa.watch_given)
                aa.watch_pid = getppid() > 1 ? getppid() : 0;
        if (aa.watch_pid > 0) {
                watch_fd = cli_pidfd_open(aa.watch_pid);
                if (watch_fd < 0 && errno == ESRCH)
                        return cli_error(EXIT_USAGE, "No process %d to watch (--pid).", (int) aa.watch_pid);
                if (watch_fd < 0 && errno != ENOSYS)
                        return cli_error(EXIT_FAILURE, "Failed to watch process %d: %s", (int) aa.watch_pid,
                                         g_strerror(errno));
        }
        notes = !a.quiet && isatty(STDERR_FILENO);

        if (pipe2(fds, O_CLOEXEC) < 0)
                return cli_error(EXIT_FAILURE, "Failed to make a pipe: %s", g_strerror(errno));
        (void) fflush(stdout);
        (void) fflush(stderr);
        child = fork();
        if (child < 0) {
                (void) close(fds[0]);
                (void) close(fds[1]);
                return cli_error(EXIT_FAILURE, "Failed to start the holder: %s", g_strerror(errno));
        }

        if (child == 0) {
                int null_fd;

                (void) close(fds[0]);
                /* Its own session: a terminal's signals and hang-up are the script's, not its. Until the
                 * grant, acquire's death (Ctrl-C) ends the wait too. */
                (void) setsid();
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != parent)
                        _exit(EXIT_FAILURE);
                (void) signal(SIGPIPE, SIG_IGN);
                /* No descriptor of the script's kept open: $(...) returns when acquire exits. */
                null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(null_fd, STDOUT_FILENO) < 0 ||
                    dup2(null_fd, STDERR_FILENO) < 0)
                        _exit(EXIT_FAILURE);
                if (null_fd > STDERR_FILENO)
                        (void) close(null_fd);
                if (chdir("/") < 0)
                        _exit(EXIT_FAILURE);
                report = fdopen(fds[1], "w");
                if (!report)
                        _exit(EXIT_FAILURE);
                return holder_main(&a, report, notes, aa.watch_pid, steal_fd(&watch_fd));
        }

        (void) close(fds[1]);
        report = fdopen(fds[0], "r");
        if (!report) {
                (void) close(fds[0]);
                stop_holder(child);
                return cli_error(EXIT_FAILURE, "Failed to read from the holder: %s", g_strerror(errno));
        }
        while (getline(&line, &size, report) > 0) {
                g_strchomp(line);
                if (g_str_has_prefix(line, "OK ")) {
                        g_auto(GStrv) words = g_strsplit(line + 3, " ", 3);

                        if (g_strv_length(words) == 3)
                                ok = g_steal_pointer(&words);
                        break;
                }
                if (g_str_has_prefix(line, "FAIL ")) {
                        char *end = NULL;
                        long code = strtol(line + 5, &end, 10);

                        (void) fclose(report);
                        (void) waitpid(child, NULL, 0);
                        if (code <= 0 || code > 255)
                                code = EXIT_FAILURE;
                        return cli_error((int) code, "%s", end && *end == ' ' ? end + 1 : "The holder failed.");
                }
                (void) fputs(line, stderr);
                (void) fputc('\n', stderr);
        }
        (void) fclose(report);
        if (!ok) {
                (void) waitpid(child, NULL, WNOHANG);
                return cli_error(EXIT_FAILURE, "The holder exited without saying whether it got the lock.");
        }

        {
                const char *id = ok[0];
                uint64_t token = 0;

                (void) parse_uint(ok[1], UINT64_MAX, &token);
                if (aa.id_file && write_id_file(aa.id_file, id) != 0) {
                        stop_holder(child);
                        return EXIT_FAILURE;
                }
                r = print_granted(id, token, a.shared, a.paths, child);
                if (r < 0) {
                        stop_holder(child);
                        return cli_error(EXIT_FAILURE, "Failed to print the lock id, so it was released: %s",
                                         g_strerror(-r));
                }
        }
        return EXIT_SUCCESS;
}

/* --- release --- */

static const CliOption release_options[] = {
        CLI_OPTION_HELP,
};

const CliVerb cli_verb_release = {
        .name = "release",
        .run = verb_release,
        .summary = "Release a lock taken by 'pylockctl acquire' (or held by 'hold')",
        .synopsis = "LOCK_ID",
        .description = "Makes the holder that 'pylockctl acquire' left behind (or a 'pylockctl hold') on\n"
                       "this machine release LOCK_ID, and returns once the lock is free. Only the\n"
                       "holder's user and root may.",
        .options = release_options,
        .n_options = ELEMENTSOF(release_options),
        .positional = CLI_ARG_LOCK_ID,
        .epilogue = "Exit status: 0 when released; 76 when the lock had been lost meanwhile (it\n"
                    "expired, was force-released, or pylockerd went away); 1 when no holder of\n"
                    "LOCK_ID runs on this machine for this user, or on any other error; 64 on a usage\n"
                    "error (a malformed LOCK_ID included).",
};

/* No holder answers for the id: say whether there is such a lock at all. */
static int no_holder(const char *id) {
        g_autoptr(PylockerLocker) locker = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLockInfo *infos = NULL;
        size_t n = 0;
        int r = -1;

        if (cli_open_locker_full(NULL, &locker, &error) < 0 ||
            pylocker_locker_list_locks(locker, &infos, &n, &error) < 0)
                return cli_error(EXIT_FAILURE, "No holder of lock %s runs on this machine.", id);

        for (size_t i = 0; i < n && r < 0; i++)
                if (strcmp(infos[i].lock_id, id) == 0)
                        r = cli_error(EXIT_FAILURE, "Lock %s is held by %s%s%s%s, not by a 'pylockctl acquire' or "
                                      "'hold' of this machine: only its holder can release it ('pylockctl "
                                      "force-release' releases anyone's, for admins).", id, infos[i].owner_id,
                                      infos[i].owner_name[0] ? " (" : "", infos[i].owner_name,
                                      infos[i].owner_name[0] ? ")" : "");
        pylocker_lock_info_array_free(infos, n);
        if (r >= 0)
                return r;
        return cli_error(EXIT_FAILURE, "No lock %s (already released, expired or lost).", id);
}

int verb_release(int argc, char *argv[]) {
        struct timeval tv = { .tv_sec = RELEASE_ANSWER_TIMEOUT_SEC };
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa;
        struct ucred cred;
        socklen_t length;
        char reply[600];
        const char *id;
        CliParser p;
        ssize_t n;
        int c;

        cli_parser_init(&p, &cli_verb_release, argc, argv, /* stop_at_positional= */ false);
        c = cli_parser_next(&p);
        cli_parser_done(&p);
        if (c == CLI_PARSE_EXIT)
                return p.exit_status;
        if (argc - optind != 1)
                return cli_error(EXIT_USAGE, "'release' takes one LOCK_ID.");
        id = argv[optind];
        if (cli_check_lock_id(id) != 0)
                return EXIT_USAGE;

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return cli_error(EXIT_FAILURE, "Failed to make a socket: %s", g_strerror(errno));
        holder_socket_address(id, &sa, &length);
        if (connect(fd, (struct sockaddr *) &sa, length) < 0) {
                if (errno == ECONNREFUSED || errno == ENOENT)
                        return no_holder(id);
                return cli_error(EXIT_FAILURE, "Failed to reach the holder of lock %s: %s", id, g_strerror(errno));
        }

        /* Anyone may bind a name in the abstract namespace: only our own user's holder (or, for root,
         * anyone's) is believed. */
        length = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) < 0)
                return cli_error(EXIT_FAILURE, "Failed to check the holder of lock %s: %s", id, g_strerror(errno));
        if (cred.uid != getuid() && getuid() != 0)
                return cli_error(EXIT_FAILURE, "The holder of lock %s runs as another user (uid %u): only it, or "
                                 "root, may release it.", id, (unsigned) cred.uid);

        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (send(fd, "RELEASE", strlen("RELEASE"), MSG_NOSIGNAL) < 0)
                return cli_error(EXIT_FAILURE, "Failed to ask the holder of lock %s: %s", id, g_strerror(errno));
        n = recv(fd, reply, sizeof(reply) - 1, 0);
        if (n < 0)
                return cli_error(EXIT_FAILURE, "No answer from the holder of lock %s: %s", id, g_strerror(errno));
        reply[n] = '\0';

        if (strcmp(reply, "RELEASED") == 0) {
                (void) printf("Released lock %s.\n", id);
                return EXIT_SUCCESS;
        }
        if (g_str_has_prefix(reply, "LOST "))
                return cli_error(EXIT_LOCK_LOST, "Lock %s had been lost before this release: %s.", id, reply + 5);
        if (strcmp(reply, "DENIED") == 0)
                return cli_error(EXIT_FAILURE, "The holder of lock %s refused: only its user or root may release "
                                 "it.", id);
        if (g_str_has_prefix(reply, "FAILED "))
                return cli_error(EXIT_FAILURE, "The holder of lock %s failed to release it: %s", id, reply + 7);
        return cli_error(EXIT_FAILURE, "The holder of lock %s hung up without an answer.", id);
}
