/* The seed's lock file, as text: "PASS\nSECONDS.MICROS\nPID" (no final newline), or anything else for a
 * free lock. Pure: no file system, no clock, no processes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum LockFileState {
        LOCK_FILE_FREE,         /* not exactly three lines (empty included): the seed takes it as free */
        LOCK_FILE_OURS,         /* three lines, the first is the pass asked about */
        LOCK_FILE_HELD,         /* three lines with another pass; time and pid read */
        LOCK_FILE_BAD_TIME,     /* another pass, and the second line is no number: the seed fails */
        LOCK_FILE_BAD_PID,      /* another pass, and the third line is no integer: the seed fails */
} LockFileState;

typedef struct LockFileHolder {
        double time;            /* CLOCK_REALTIME seconds, as written */
        long long pid;          /* as written: may be 0, negative or no process at all */
} LockFileHolder;

/* How a lock file with these bytes (size of them, NULs allowed) stands for a locker with pass. Lines are
 * Python's readlines(): each keeps its '\n', a last line without one still counts; time and pid are read
 * as Python's float() and int() do, surrounding whitespace stripped. *ret_holder is set for
 * LOCK_FILE_HELD only. */
LockFileState lock_file_parse(const char *data, size_t size, const char *pass, LockFileHolder *ret_holder);

/* Whether the first line, without its line end, is pass: what the seed's release checks, whatever the
 * other lines are. */
bool lock_file_first_line_is(const char *data, size_t size, const char *pass);

/* Whether a holder who wrote its time at holder->time is older than the dead-lock age at now_usec
 * (both CLOCK_REALTIME); never with a dead_lock_usec of UINT64_MAX. */
bool lock_file_is_stale(const LockFileHolder *holder, uint64_t now_usec, uint64_t dead_lock_usec);

/* Our three lines, as the seed's "%s\n%.6f\n%s": the pass, now_usec as seconds with six decimals, the
 * pid, no final newline. g_free() the result. */
char *lock_file_format(const char *pass, uint64_t now_usec, long pid);
