/* The verbs of pylockctl and what they share: exit codes and error printing. */
#pragma once

#include <stdint.h>

/* sysexits.h names, which scripts already know. */
#define EXIT_USAGE 64           /* EX_USAGE: bad command line */
#define EXIT_LOCK_TIMEOUT 75    /* EX_TEMPFAIL: the lock was not had in time, try again later */
#define EXIT_LOCK_LOST 76       /* EX_PROTOCOL: the lock was lost while the command ran */
/* Past sysexits.h's 64-78, so no script takes it for one of those (and not 77, which test harnesses
 * such as meson's read as "skipped"). */
#define EXIT_DEADLOCK 79        /* pylockerd refused the wait: it would close a cycle of waiting clients */

#include <stdbool.h>

#include <pylocker/pylocker.h>

/* The global options, for the verbs that talk to pylockerd. */
typedef struct CliGlobals {
        PylockerTransport transport;
        const char *address;
        const char *remote;
        const char *secret_file;
        const char *private_socket;
        bool no_private_socket;
        bool json;
} CliGlobals;

extern CliGlobals cli_globals;

/* Opens a locker as the global options say; on failure prints why and returns NULL. */
PylockerLocker *cli_open_locker(const char *name);

/* Formats a CLOCK_REALTIME time in microseconds as local time of day, "HH:MM:SS", or "-" for 0. */
const char *cli_format_time_of_day(char buf[static 16], uint64_t usec);

/* Parses a verb's own --json and --help; returns 1 after --help, -EXIT_USAGE on a bad option, else 0
 * with optind at the first positional argument. */
int cli_parse_simple(int argc, char *argv[], const char *usage);

/* Prints "pylockctl: MESSAGE" to stderr and returns exit_code. */
int cli_error(int exit_code, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Parses a time span for --OPTION ("20", "250ms", "infinity"); 0, or EXIT_USAGE after saying why. */
int cli_parse_span(const char *option, const char *value, uint64_t *ret);

/* Each verb gets argv from its own name on, and returns the process exit status. */
int verb_file_lock(int argc, char *argv[]);
int verb_run(int argc, char *argv[]);
int verb_locks(int argc, char *argv[]);
int verb_clients(int argc, char *argv[]);
int verb_status(int argc, char *argv[]);
int verb_force_release(int argc, char *argv[]);
int verb_publish(int argc, char *argv[]);
int verb_listen(int argc, char *argv[]);
