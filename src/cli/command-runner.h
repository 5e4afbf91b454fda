/* Running CMD while a verb holds a lock (run, file-lock): the "--" between the verb's arguments and CMD,
 * the fork and exec, termination signals passed on to CMD, and one sd-event loop until CMD exits, to
 * which the verb adds its own sources (refreshing the lock, hearing of its loss). */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>
#include <systemd/sd-event.h>

/* The index of the first "--" in argv (argc without one): getopt is given only what comes before it, so
 * CMD's own options are never taken for the verb's. *ret_command is what follows it, or NULL when there
 * is no command. */
int command_split(int argc, char *argv[], char ***ret_command);

typedef struct CommandRunner {
        sd_event *event;
        sd_event_source *child_source;
        sd_event_source *signal_sources[3];
        sigset_t old_mask;
        bool masked;
        pid_t child;            /* -1 before the spawn */
        bool exited;
        int exit_status;        /* once exited: as a shell says it, N or 128+N after signal N */
        int stop_signal;        /* SIGTERM or SIGINT sent to us alone (by systemctl stop, kill) and passed on
                                 * to CMD, else 0 */
} CommandRunner;

#define COMMAND_RUNNER_INIT { .child = -1 }

/* Blocks SIGCHLD, SIGTERM, SIGINT and SIGHUP (so none is lost between the fork and the loop, and a
 * terminal's Ctrl-C reaches CMD through us instead of killing us with the lock), and makes the event
 * loop, in which the last three are passed on to CMD. Returns 0 or a negative errno. */
int command_runner_init(CommandRunner *r);

/* Forks and runs command (searched in $PATH) with the signal mask we were started with and env
 * ("NAME=VALUE" strings, NULL-terminated, may be NULL) added to our environment. With
 * die_with_parent, CMD gets SIGTERM when we die (nobody keeps its lock then), and exits
 * EXIT_LOCK_LOST at once if we are gone before it starts. Returns 0 or a negative errno. */
int command_runner_spawn(CommandRunner *r, char **command, char **env, bool die_with_parent);

/* Sends CMD a signal, if it runs. */
void command_runner_kill(CommandRunner *r, int sig);

/* Runs the loop until CMD has exited: then r->exit_status is its status. Returns 0, or a negative errno
 * when the loop failed. */
int command_runner_wait(CommandRunner *r);

/* Once CMD has exited: true when a SIGTERM or SIGINT passed on to it ended it (it was killed by SIGTERM
 * or SIGINT, or exited 128+N as shells do), so the stop was asked for and is no failure of CMD's. */
bool command_runner_stopped(const CommandRunner *r);

/* Restores the signal mask and frees; a CMD still running (after a failure) gets SIGTERM and is waited
 * for. */
void command_runner_done(CommandRunner *r);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CommandRunner, command_runner_done)
