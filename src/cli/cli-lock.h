/* Taking a pylockerd lock for run, hold and acquire: their shared options, the name the client
 * registers, the wait until granted, and the exit status of a refusal. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <glib.h>

#include <pylocker/pylocker.h>

#include "verbs.h"

/* The option ids of the lock options; a verb's own come after CLI_LOCK_OPT_END. */
enum {
        CLI_LOCK_OPT_TIMEOUT = CLI_OPT_VERB,
        CLI_LOCK_OPT_NONBLOCK,
        CLI_LOCK_OPT_SHARED,
        CLI_LOCK_OPT_NO_DEADLOCK_CHECK,
        CLI_LOCK_OPT_TTL,
        CLI_LOCK_OPT_QUIET,
        CLI_LOCK_OPT_NAME,
        CLI_LOCK_OPT_END,
};

/* The rows of a verb's option table, after CLI_OPTION_HELP. */
#define CLI_LOCK_OPTIONS(name_help)                                                                          \
        { "timeout", 0, CLI_LOCK_OPT_TIMEOUT, CLI_ARG_SPAN, false, "S",                                     \
          "Wait at most S for the lock (default: until granted;\n'infinity' says the same)" },               \
        { "nonblock", 0, CLI_LOCK_OPT_NONBLOCK, CLI_ARG_NONE, false, NULL, "Try once, do not wait" },        \
        { "shared", 0, CLI_LOCK_OPT_SHARED, CLI_ARG_NONE, false, NULL, "Take a shared (reader) lock" },      \
        { "no-deadlock-check", 0, CLI_LOCK_OPT_NO_DEADLOCK_CHECK, CLI_ARG_NONE, false, NULL,                 \
          "Wait even where the wait would close a cycle of clients\nwaiting for each other (pylockerd "      \
          "refuses it otherwise)" },                                                                         \
        { "ttl", 0, CLI_LOCK_OPT_TTL, CLI_ARG_SPAN, false, "S",                                              \
          "Lease of the lock, refreshed every third of it (default:\nthe daemon's MaxLockTime)" },          \
        { "quiet", 0, CLI_LOCK_OPT_QUIET, CLI_ARG_NONE, false, NULL,                                         \
          "Do not say on a terminal who holds what we wait for" },                                          \
        { "name", 0, CLI_LOCK_OPT_NAME, CLI_ARG_TEXT, false, "NAME", name_help }

typedef struct CliLockArgs {
        uint64_t timeout_usec;  /* PYLOCKER_INFINITY (the default): until granted */
        uint64_t ttl_usec;      /* 0: the daemon's MaxLockTime */
        bool nonblock;
        bool shared;
        bool no_deadlock_check;
        bool quiet;
        const char *name;       /* --name, or NULL for the verb's default */
        char **paths;           /* NULL-terminated, g_strfreev */
} CliLockArgs;

#define CLI_LOCK_ARGS_INIT { .timeout_usec = PYLOCKER_INFINITY }

void cli_lock_args_done(CliLockArgs *a);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CliLockArgs, cli_lock_args_done)

/* Takes one of the lock options: 0 when taken, EXIT_USAGE after saying why, -1 when the id is not one
 * of them. */
int cli_lock_parse_option(CliLockArgs *a, int id, const char *value);

/* Takes the positional arguments argv[first..n) as the paths: 0, or EXIT_USAGE after saying why (none
 * given, an empty one, one not UTF-8). */
int cli_lock_take_paths(CliLockArgs *a, const char *verb, char **argv, int first, int n);

/* Connects, registered as --name, or else as default_name; a default name another client has already
 * taken gets "[PID]" (ours) added, so two of a kind can wait side by side. Negative errno and error. */
int cli_lock_open(const CliLockArgs *a, const char *default_name, PylockerLocker **ret, PylockerError *error);

/* Waits until every path is granted (or --timeout, or once with --nonblock). pylockerd answers a wait
 * longer than it allows with Timeout: the Acquire is then sent again for what is left, until granted.
 * notes, when given (a terminal, without --quiet): where to say who holds what we wait for, before
 * waiting. Returns 0 and *ret, or a negative errno with error filled. */
int cli_lock_acquire(PylockerLocker *locker, const CliLockArgs *a, FILE *notes, PylockerLock **ret,
                     PylockerError *error);

/* The exit status of a failed cli_lock_open() or cli_lock_acquire(), after saying why on stderr:
 * 75 not had in time, 79 deadlock, 64 refused as invalid (InvalidArgs), 1 otherwise. */
int cli_lock_failed(const CliLockArgs *a, int r, const PylockerError *error);
/* The same without printing: the exit status, and the message in *ret_message (g_free). */
int cli_lock_failure(const CliLockArgs *a, int r, const PylockerError *error, char **ret_message);

/* Lines of "waiting for 'PATH', held by CLIENT (NAME) since HH:MM:SS" to f, for the paths held now. */
void cli_lock_say_who_holds(PylockerLocker *locker, char **paths, FILE *f);

/* The command name of a process (its /proc/PID/comm), or NULL (g_free). */
char *cli_process_name(pid_t pid);

/* The lease refresh: every third of the lease, never more often than this. */
#define CLI_REFRESH_MIN_USEC (10 * 1000)
uint64_t cli_refresh_interval(PylockerLocker *locker, uint64_t ttl_usec);
