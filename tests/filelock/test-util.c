/* Helpers for the lock-file tests: scratch directories, lock files in the seed's format. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "test-util.h"

char *test_dir_new(void) {
        g_autoptr(GError) error = NULL;
        char *dir;

        dir = g_dir_make_tmp("pylocker-filelock-XXXXXX", &error);
        g_assert_no_error(error);
        g_assert_cmpint(g_chmod(dir, 0755), ==, 0);
        return dir;
}

void test_dir_remove(const char *path) {
        g_autoptr(GDir) dir = NULL;
        const char *name;

        if (!path)
                return;
        dir = g_dir_open(path, 0, NULL);
        if (dir)
                while ((name = g_dir_read_name(dir))) {
                        g_autofree char *child = g_build_filename(path, name, NULL);

                        if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
                            !g_file_test(child, G_FILE_TEST_IS_SYMLINK)) {
                                (void) g_chmod(child, 0755);
                                test_dir_remove(child);
                        } else
                                (void) g_unlink(child);
                }
        (void) g_rmdir(path);
}

void test_write_seed_lock(const char *lock_path, const char *pass, uint64_t time_usec, long pid) {
        g_autoptr(GError) error = NULL;
        g_autofree char *text = NULL;

        text = g_strdup_printf("%s\n%" PRIu64 ".%06" PRIu64 "\n%ld", pass,
                               time_usec / G_USEC_PER_SEC, time_usec % G_USEC_PER_SEC, pid);
        /* g_file_set_contents() writes a temporary file and renames it over, as the seed does. */
        g_file_set_contents(lock_path, text, -1, &error);
        g_assert_no_error(error);
}

pid_t test_dead_pid(void) {
        int status;
        pid_t pid = fork();

        g_assert_cmpint(pid, >=, 0);
        if (pid == 0)
                _exit(0);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        return pid;
}

char *test_read_file(const char *path, size_t *ret_len) {
        g_autoptr(GError) error = NULL;
        char *text = NULL;
        size_t len = 0;

        g_file_get_contents(path, &text, &len, &error);
        g_assert_no_error(error);
        if (ret_len)
                *ret_len = len;
        return text;
}
