/* Helpers for the lock-file tests: scratch directories, lock files in the seed's format. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "test-common.h"

/* A new directory under the temporary directory, mode 0755 so a dropped-privilege child can
 * reach into it. */
char *test_dir_new(void);
/* Removes a directory tree made by a test; NULL is fine. */
void test_dir_remove(const char *path);

/* Writes a lock file the way the seed's Python Locker does: "PASS\nSECONDS.MICROS\nPID", no
 * final newline, rename over. time_usec is CLOCK_REALTIME microseconds. */
void test_write_seed_lock(const char *lock_path, const char *pass, uint64_t time_usec, long pid);

/* The pid of a process that has exited and been reaped. */
pid_t test_dead_pid(void);

/* The file's bytes (NUL-terminated, *ret_len without it); asserts on failure. */
char *test_read_file(const char *path, size_t *ret_len);
