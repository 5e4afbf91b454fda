/* The lock-file locker: pylocker's old Locker (lock pass + lock file) as a C API.
 *
 * A lock file holds three lines, "PASS\nSECONDS.MICROS\nPID" (no final newline), or nothing
 * when the lock is free, byte for byte what pylocker's Python Locker writes, so both honour
 * each other's locks. Among processes using this library, check-and-write is made atomic with
 * an open-file-description lock on the lock file. See docs/filelock.md. */
#ifndef PYLOCKER_FILELOCK_H
#define PYLOCKER_FILELOCK_H

#include <stdint.h>
#include <stdio.h>

#include <pylocker/pylocker-cleanup.h>
#include <pylocker/pylocker-error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Results of pylocker_file_lock_acquire(), the seed's codes. */
enum {
        PYLOCKER_FILE_LOCK_ACQUIRED = 0,      /* lock was free and is now set */
        PYLOCKER_FILE_LOCK_ALREADY_SET = 1,   /* lock was already set with this pass */
        PYLOCKER_FILE_LOCK_TAKEN_OVER = 2,    /* holder dead or older than the dead-lock age */
        PYLOCKER_FILE_LOCK_TIMED_OUT = 3      /* not had before the timeout; nothing changed */
};

/* Results of pylocker_file_lock_release(), the seed's codes. */
enum {
        PYLOCKER_FILE_LOCK_NO_LOCK_FILE = 0,  /* no lock file */
        PYLOCKER_FILE_LOCK_WAS_EMPTY = 1,     /* lock file empty: nothing to release */
        PYLOCKER_FILE_LOCK_RELEASED = 2,      /* lock file had this pass and is now empty */
        PYLOCKER_FILE_LOCK_CLOSED = 3,        /* as 0-2, and the opened file was closed */
        PYLOCKER_FILE_LOCK_NOT_OWNER = 4      /* lock file has another pass: left alone */
};

#define PYLOCKER_FILE_LOCK_DEFAULT_MODE "ab"
#define PYLOCKER_FILE_LOCK_DEFAULT_TIMEOUT_USEC UINT64_C(60000000)
#define PYLOCKER_FILE_LOCK_DEFAULT_WAIT_USEC UINT64_C(0)
#define PYLOCKER_FILE_LOCK_DEFAULT_DEAD_LOCK_USEC UINT64_C(120000000)
/* For timeout and dead-lock age: never. */
#define PYLOCKER_FILE_LOCK_INFINITY UINT64_MAX

typedef struct PylockerFileLock PylockerFileLock;

/* file_path: the file opened (in the locker's mode) whenever the lock is had, or NULL.
 * lock_pass: any string without a newline; holders with the same pass share the lock.
 * The lock file defaults to ".lock" beside file_path, or in the working directory when
 * file_path is NULL. Relative paths are made absolute here, against the working directory.
 * Returns 0 and sets *ret, or a negative errno. Does not touch the file system. */
int pylocker_file_lock_new(const char *file_path, const char *lock_pass,
                           PylockerFileLock **ret, PylockerError *error);

/* Releases the lock if this locker holds it, closes the opened file, frees. NULL is fine.
 * Returns NULL. */
PylockerFileLock *pylocker_file_lock_free(PylockerFileLock *lock);

/* Setters: 0 on success; on a bad value a negative errno, and nothing changes.
 * mode: r, r+, w, w+, a, a+, each also with b (rb, r+b or rb+, ...). Default "ab".
 * lock_path: NULL restores the default.
 * Times in microseconds, PYLOCKER_FILE_LOCK_INFINITY for never (timeout, dead-lock age).
 * wait: pause between attempts; 0 means "as soon as possible", done with a short growing
 * back-off rather than a busy loop. A wait longer than the time left is cut to it. */
int pylocker_file_lock_set_mode(PylockerFileLock *lock, const char *mode, PylockerError *error);
int pylocker_file_lock_set_lock_path(PylockerFileLock *lock, const char *lock_path, PylockerError *error);
int pylocker_file_lock_set_timeout(PylockerFileLock *lock, uint64_t usec, PylockerError *error);
int pylocker_file_lock_set_wait(PylockerFileLock *lock, uint64_t usec, PylockerError *error);
int pylocker_file_lock_set_dead_lock(PylockerFileLock *lock, uint64_t usec, PylockerError *error);

/* Getters. Strings are owned by the locker; file path is NULL when there is none. */
const char *pylocker_file_lock_get_file_path(const PylockerFileLock *lock);
const char *pylocker_file_lock_get_lock_pass(const PylockerFileLock *lock);
const char *pylocker_file_lock_get_mode(const PylockerFileLock *lock);
const char *pylocker_file_lock_get_lock_path(const PylockerFileLock *lock);
uint64_t pylocker_file_lock_get_timeout(const PylockerFileLock *lock);
uint64_t pylocker_file_lock_get_wait(const PylockerFileLock *lock);
uint64_t pylocker_file_lock_get_dead_lock(const PylockerFileLock *lock);

/* Tries to set the lock until the timeout. Returns a PYLOCKER_FILE_LOCK_* acquire code
 * (0, 1, 2: had; 3: timed out), or a negative errno with error filled (not had).
 * When had and a file path is set, the file is opened in the locker's mode (kept open if
 * already open); if it cannot be opened the lock is given back and the error returned. */
int pylocker_file_lock_acquire(PylockerFileLock *lock, PylockerError *error);

/* Empties the lock file if it holds this locker's pass. Returns a PYLOCKER_FILE_LOCK_*
 * release code (0 to 4), or a negative errno with error filled. With codes 0 to 2 the
 * opened file, if any, is flushed, synced and closed, and 3 is returned instead. */
int pylocker_file_lock_release(PylockerFileLock *lock, PylockerError *error);

/* Rewrites the lock's time (and pid) so a long holder is not taken for forgotten once the
 * dead-lock age has passed. Returns 0, or -ENOLCK when the lock file no longer has this
 * locker's pass, or another negative errno. */
int pylocker_file_lock_refresh(PylockerFileLock *lock, PylockerError *error);

/* The file opened by acquire, or NULL / -1. Owned by the locker: do not fclose() or
 * close() it; release or free closes it. Valid until then. */
FILE *pylocker_file_lock_get_file(const PylockerFileLock *lock);
int pylocker_file_lock_get_fd(const PylockerFileLock *lock);

/* For cleanup by scope (pylocker-cleanup.h): as pylocker_file_lock_free(*p), and sets *p to NULL. */
void pylocker_file_lock_freep(PylockerFileLock **p);

#ifdef PYLOCKER_CLEANUP
#define PYLOCKER_CLEANUP_FILE_LOCK PYLOCKER_CLEANUP(pylocker_file_lock_freep)
#endif

/* Only when <glib.h> came first. */
#ifdef G_DEFINE_AUTOPTR_CLEANUP_FUNC
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PylockerFileLock, pylocker_file_lock_free)
#endif

#ifdef __cplusplus
}
#endif

#endif
