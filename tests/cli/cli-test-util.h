/* What the tests of pylockctl's verbs share: pylockctl started in the background with its output on
 * pipes, lines read with a deadline, locks looked up by path. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

#include "client-util.h"

/* A pylockctl (or other program) started in the background. */
typedef struct Child {
        GPid pid;
        int out_fd;             /* its stdout, or -1 */
        GString *out;           /* what was read of it */
} Child;

#define CHILD_INIT { .out_fd = -1 }

/* Starts "pylockctl --address BUS ARGS..." with its stdout on a pipe, stderr inherited, extra env
 * ("NAME=VALUE", NULL-terminated, may be NULL) added. */
void child_spawn_pylockctl(Child *c, Harness *h, const char *const *env, ...) G_GNUC_NULL_TERMINATED;
/* Reads its stdout until a whole line is there, failing after timeout_ms; returns the line without its
 * newline (g_free). */
char *child_read_line(Child *c, int timeout_ms);
/* Waits for it to exit (failing after timeout_ms) and returns its status as a shell says it. */
int child_wait(Child *c, int timeout_ms);
/* Whether it is still running after ms. */
bool child_runs_after(Child *c, int ms);
/* Kills (SIGKILL) and reaps it if it still runs. For teardowns. */
void child_clear(Child *c);

/* Runs pylockctl with extra env and NO --address; returns its exit status, stdout and stderr. */
int pylockctl_run_env(const char *const *env, char **ret_out, char **ret_err, ...) G_GNUC_NULL_TERMINATED;

/* The lock on path in ListLocks, waiting up to timeout_ms for it to appear: its id (g_free), owner name
 * (g_free) and token. */
char *wait_lock_on_path(PylockerLocker *l, const char *path, int timeout_ms, char **ret_owner_name,
                        uint64_t *ret_token);
/* Waits until no lock is on path, failing after timeout_ms. */
void wait_no_lock_on_path(PylockerLocker *l, const char *path, int timeout_ms);

/* Makes this process the reaper of its orphaned descendants, so that a holder that 'pylockctl acquire'
 * left behind can be waited for by its PID once acquire exits. */
void become_subreaper(void);
/* Waits for a descendant (a child or an adopted orphan) to exit; its status as a shell says it. */
int wait_descendant(pid_t pid, int timeout_ms);

/* A NOTIFY_SOCKET for one test: an abstract datagram socket; *ret_env is "NOTIFY_SOCKET=@..." (g_free). */
int notify_socket_new(char **ret_env);
/* Receives notifications until one contains text (returned, g_free), or NULL after timeout_ms. */
char *notify_wait(int fd, const char *text, int timeout_ms);
