/* Running CMD under a lock: fork and exec, signals passed on, one sd-event loop until it exits. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "command-runner.h"
#include "macro.h"
#include "sd-cleanup.h"
#include "verbs.h"

static const int forwarded_signals[] = { SIGTERM, SIGINT, SIGHUP };

int command_split(int argc, char *argv[], char ***ret_command) {
        int n = argc;

        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--") == 0) {
                        n = i;
                        break;
                }
        *ret_command = n < argc - 1 ? argv + n + 1 : NULL;
        return n;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        CommandRunner *r = userdata;

        /* A terminal's signal (SI_KERNEL) already reached CMD, which shares our process group; only pass
         * on those sent to us alone. */
        if (si->ssi_code == SI_KERNEL)
                return 0;
        if (si->ssi_signo == SIGTERM || si->ssi_signo == SIGINT)
                r->stop_signal = (int) si->ssi_signo;
        command_runner_kill(r, (int) si->ssi_signo);
        return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        CommandRunner *r = userdata;

        r->exit_status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
        r->exited = true;
        return 0;
}

int command_runner_init(CommandRunner *r) {
        sigset_t mask;
        int ret;

        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGCHLD);
        for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++)
                (void) sigaddset(&mask, forwarded_signals[i]);
        if (sigprocmask(SIG_BLOCK, &mask, &r->old_mask) < 0)
                return -errno;
        r->masked = true;

        ret = sd_event_new(&r->event);
        if (ret < 0)
                return ret;
        for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++) {
                ret = sd_event_add_signal(r->event, &r->signal_sources[i], forwarded_signals[i], on_signal, r);
                if (ret < 0)
                        return ret;
        }
        return 0;
}

int command_runner_spawn(CommandRunner *r, char **command, char **env, bool die_with_parent) {
        g_auto(GStrv) envp = g_get_environ();
        pid_t parent = getpid(), pid;
        int ret;

        /* Made before the fork: the child may only exec (a remote locker has a thread of its own). */
        for (char **e = env; e && *e; e++) {
                g_autofree char *name = g_strndup(*e, strcspn(*e, "="));

                envp = g_environ_setenv(envp, name, *e + strlen(name) + (strchr(*e, '=') ? 1 : 0), TRUE);
        }

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                if (die_with_parent) {
                        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                        if (getppid() != parent)
                                _exit(EXIT_LOCK_LOST);
                }
                (void) sigprocmask(SIG_SETMASK, &r->old_mask, NULL);
                execvpe(command[0], command, envp);
                (void) cli_error(0, "Failed to execute '%s': %s", command[0], g_strerror(errno));
                _exit(errno == ENOENT ? 127 : 126);
        }

        r->child = pid;
        ret = sd_event_add_child(r->event, &r->child_source, pid, WEXITED, on_child, r);
        if (ret < 0)
                return ret;
        return 0;
}

void command_runner_kill(CommandRunner *r, int sig) {
        if (r->child > 0 && !r->exited)
                (void) kill(r->child, sig);
}

int command_runner_wait(CommandRunner *r) {
        int ret = 0;

        /* Not sd_event_loop(): at its exit sd-bus closes an attached connection, on which a lock may still
         * have to be released. */
        while (!r->exited && (ret = sd_event_run(r->event, UINT64_MAX)) >= 0)
                ;
        if (ret < 0)
                return ret;

        /* What came with CMD's end is dispatched too: systemd's stop sends SIGTERM to us and to CMD at
         * once, and CMD's end may be seen first. */
        while ((ret = sd_event_run(r->event, 0)) > 0)
                ;
        return ret < 0 ? ret : 0;
}

bool command_runner_stopped(const CommandRunner *r) {
        if (!r->exited || r->stop_signal == 0)
                return false;
        return r->exit_status == 128 + SIGTERM || r->exit_status == 128 + SIGINT;
}

void command_runner_done(CommandRunner *r) {
        if (r->child > 0 && !r->exited) {
                (void) kill(r->child, SIGTERM);
                (void) waitpid(r->child, NULL, 0);
        }
        r->child_source = sd_event_source_disable_unref(r->child_source);
        for (size_t i = 0; i < ELEMENTSOF(r->signal_sources); i++)
                r->signal_sources[i] = sd_event_source_disable_unref(r->signal_sources[i]);
        r->event = sd_event_unref(r->event);
        if (r->masked)
                (void) sigprocmask(SIG_SETMASK, &r->old_mask, NULL);
        r->masked = false;
}
