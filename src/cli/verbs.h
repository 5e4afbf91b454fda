/* The verbs of pylockctl and what they share: exit codes and error printing. */
#pragma once

/* sysexits.h names, which scripts already know. */
#define EXIT_USAGE 64           /* EX_USAGE: bad command line */
#define EXIT_LOCK_TIMEOUT 75    /* EX_TEMPFAIL: the lock was not had in time, try again later */

/* Prints "pylockctl: MESSAGE" to stderr and returns exit_code. */
int cli_error(int exit_code, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Each verb gets argv from its own name on, and returns the process exit status. */
int verb_file_lock(int argc, char *argv[]);
