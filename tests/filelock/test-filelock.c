/* Unit tests of the lock-file locker API: codes, modes, errors, the seed's lock file format. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include <pylocker/pylocker.h>

#include "test-util.h"

typedef struct Fixture {
        char *dir;
        char *lock_path;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        f->dir = test_dir_new();
        f->lock_path = g_build_filename(f->dir, "test.lock", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        test_dir_remove(f->dir);
        g_free(f->lock_path);
        g_free(f->dir);
}

/* A locker on the fixture's lock file, with a short timeout so a failing test ends fast. */
static PylockerFileLock *locker_new(Fixture *f, const char *file, const char *pass, uint64_t timeout_usec) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerFileLock *l = NULL;

        g_assert_cmpint(pylocker_file_lock_new(file, pass, &l, &error), ==, 0);
        g_assert_cmpint(pylocker_file_lock_set_lock_path(l, f->lock_path, &error), ==, 0);
        g_assert_cmpint(pylocker_file_lock_set_timeout(l, timeout_usec, &error), ==, 0);
        return l;
}

static int acquire(PylockerFileLock *l) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        int r = pylocker_file_lock_acquire(l, &error);

        if (r < 0)
                g_test_message("acquire: %s", error.message);
        g_assert_cmpint(error.code, ==, r < 0 ? r : 0);
        return r;
}

static int release(PylockerFileLock *l) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        int r = pylocker_file_lock_release(l, &error);

        if (r < 0)
                g_test_message("release: %s", error.message);
        g_assert_cmpint(error.code, ==, r < 0 ? r : 0);
        return r;
}

static void test_defaults(void) {
        g_autoptr(PylockerFileLock) a = NULL, b = NULL;
        g_autofree char *cwd = g_get_current_dir();
        g_autofree char *cwd_lock = g_build_filename(cwd, ".lock", NULL);
        g_autofree char *file = g_build_filename(cwd, "data.txt", NULL);
        PylockerError error = PYLOCKER_ERROR_INIT;

        /* No file: ".lock" in the working directory. Nothing is created by new(). */
        g_assert_cmpint(pylocker_file_lock_new(NULL, "p", &a, &error), ==, 0);
        g_assert_null(pylocker_file_lock_get_file_path(a));
        g_assert_cmpstr(pylocker_file_lock_get_lock_pass(a), ==, "p");
        g_assert_cmpstr(pylocker_file_lock_get_lock_path(a), ==, cwd_lock);
        g_assert_cmpstr(pylocker_file_lock_get_mode(a), ==, "ab");
        g_assert_cmpuint(pylocker_file_lock_get_timeout(a), ==, 60 * G_USEC_PER_SEC);
        g_assert_cmpuint(pylocker_file_lock_get_wait(a), ==, 0);
        g_assert_cmpuint(pylocker_file_lock_get_dead_lock(a), ==, 120 * G_USEC_PER_SEC);
        g_assert_null(pylocker_file_lock_get_file(a));
        g_assert_cmpint(pylocker_file_lock_get_fd(a), ==, -1);

        /* A relative file: made absolute, ".lock" beside it; NULL lock path restores that. */
        g_assert_cmpint(pylocker_file_lock_new("data.txt", "p", &b, &error), ==, 0);
        g_assert_cmpstr(pylocker_file_lock_get_file_path(b), ==, file);
        g_assert_cmpstr(pylocker_file_lock_get_lock_path(b), ==, cwd_lock);
        g_assert_cmpint(pylocker_file_lock_set_lock_path(b, "/x/y.lock", &error), ==, 0);
        g_assert_cmpstr(pylocker_file_lock_get_lock_path(b), ==, "/x/y.lock");
        g_assert_cmpint(pylocker_file_lock_set_lock_path(b, NULL, &error), ==, 0);
        g_assert_cmpstr(pylocker_file_lock_get_lock_path(b), ==, cwd_lock);
}

static void test_bad_input(Fixture *f, gconstpointer data) {
        static const char *const good_modes[] = {
                "r", "rb", "r+", "r+b", "rb+", "w", "wb", "w+", "w+b", "wb+", "a", "ab", "a+", "a+b", "ab+",
        };
        static const char *const bad_modes[] = { "", "x", "rw", "b", "r++", "ab+x", "R", "a+ " };
        g_autoptr(PylockerFileLock) l = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *long_pass = g_strnfill(5000, 'x');

        g_assert_cmpint(pylocker_file_lock_new(NULL, "a\nb", &l, &error), ==, -EINVAL);
        g_assert_cmpint(error.code, ==, -EINVAL);
        g_assert_nonnull(strstr(error.message, "newline"));
        g_assert_null(l);
        g_assert_cmpint(pylocker_file_lock_new(NULL, NULL, &l, &error), ==, -EINVAL);
        g_assert_cmpint(pylocker_file_lock_new(NULL, long_pass, &l, &error), ==, -EINVAL);
        g_assert_cmpint(pylocker_file_lock_new("", "p", &l, &error), ==, -EINVAL);
        g_assert_cmpint(pylocker_file_lock_new(NULL, "p", NULL, &error), ==, -EINVAL);
        /* Without an error struct the code alone tells. */
        g_assert_cmpint(pylocker_file_lock_new(NULL, "a\nb", &l, NULL), ==, -EINVAL);
        g_assert_null(l);

        l = locker_new(f, NULL, "p", 0);
        for (size_t i = 0; i < G_N_ELEMENTS(good_modes); i++) {
                g_assert_cmpint(pylocker_file_lock_set_mode(l, good_modes[i], &error), ==, 0);
                g_assert_cmpstr(pylocker_file_lock_get_mode(l), ==, good_modes[i]);
        }
        /* A refused value changes nothing. */
        g_assert_cmpint(pylocker_file_lock_set_mode(l, "ab", &error), ==, 0);
        for (size_t i = 0; i < G_N_ELEMENTS(bad_modes); i++) {
                g_assert_cmpint(pylocker_file_lock_set_mode(l, bad_modes[i], &error), ==, -EINVAL);
                g_assert_nonnull(strstr(error.message, "Invalid mode"));
                g_assert_cmpstr(pylocker_file_lock_get_mode(l), ==, "ab");
        }
        g_assert_cmpint(pylocker_file_lock_set_mode(l, NULL, &error), ==, -EINVAL);
        g_assert_cmpint(pylocker_file_lock_set_lock_path(l, "", &error), ==, -EINVAL);
        g_assert_cmpstr(pylocker_file_lock_get_lock_path(l), ==, f->lock_path);
        g_assert_cmpint(pylocker_file_lock_set_wait(l, PYLOCKER_FILE_LOCK_INFINITY, &error), ==, -EINVAL);
        g_assert_cmpuint(pylocker_file_lock_get_wait(l), ==, 0);
        g_assert_cmpint(pylocker_file_lock_acquire(NULL, &error), ==, -EINVAL);
        g_assert_cmpint(pylocker_file_lock_release(NULL, &error), ==, -EINVAL);

        /* Nothing above touched the file system, and a success clears the error struct. */
        g_assert_false(g_file_test(f->lock_path, G_FILE_TEST_EXISTS));
        g_assert_cmpint(pylocker_file_lock_set_timeout(l, 1, &error), ==, 0);
        g_assert_cmpint(error.code, ==, 0);
        g_assert_cmpstr(error.message, ==, "");
}

static void test_acquire_release_codes(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerFileLock) a = locker_new(f, NULL, "pass-a", 0);
        g_autoptr(PylockerFileLock) a2 = locker_new(f, NULL, "pass-a", 0);
        g_autoptr(PylockerFileLock) b = locker_new(f, NULL, "pass-b", 100 * 1000);
        g_autofree char *held = NULL, *after = NULL;
        int64_t start;

        /* release 0: no lock file, and release does not create one. */
        g_assert_cmpint(release(a), ==, PYLOCKER_FILE_LOCK_NO_LOCK_FILE);
        g_assert_false(g_file_test(f->lock_path, G_FILE_TEST_EXISTS));

        g_assert_cmpint(acquire(a), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        g_assert_cmpint(acquire(a), ==, PYLOCKER_FILE_LOCK_ALREADY_SET);
        /* The pass is the key: another locker with it shares the lock, as in the seed. */
        g_assert_cmpint(acquire(a2), ==, PYLOCKER_FILE_LOCK_ALREADY_SET);

        /* acquire 3: held by a live holder with another pass; the timeout is honoured. */
        held = test_read_file(f->lock_path, NULL);
        start = g_get_monotonic_time();
        g_assert_cmpint(acquire(b), ==, PYLOCKER_FILE_LOCK_TIMED_OUT);
        g_assert_cmpint(g_get_monotonic_time() - start, >=, 100 * 1000);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 2 * G_USEC_PER_SEC);

        /* release 4: not ours; the lock file is left as it was. */
        g_assert_cmpint(release(b), ==, PYLOCKER_FILE_LOCK_NOT_OWNER);
        after = test_read_file(f->lock_path, NULL);
        g_assert_cmpstr(after, ==, held);

        g_assert_cmpint(release(a), ==, PYLOCKER_FILE_LOCK_RELEASED);
        g_assert_cmpint(release(a), ==, PYLOCKER_FILE_LOCK_WAS_EMPTY);
        g_assert_cmpint(release(a2), ==, PYLOCKER_FILE_LOCK_WAS_EMPTY);
        g_assert_cmpint(acquire(b), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        g_assert_cmpint(release(b), ==, PYLOCKER_FILE_LOCK_RELEASED);
}

static void test_timeout_zero_tries_once(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerFileLock) a = locker_new(f, NULL, "a", 0);
        g_autoptr(PylockerFileLock) b = locker_new(f, NULL, "b", 0);

        g_assert_cmpint(acquire(a), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        g_assert_cmpint(acquire(b), ==, PYLOCKER_FILE_LOCK_TIMED_OUT);
        g_assert_cmpint(release(a), ==, PYLOCKER_FILE_LOCK_RELEASED);
        g_assert_cmpint(acquire(b), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
}

static void test_wait_between_attempts(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerFileLock) a = locker_new(f, NULL, "a", 0);
        g_autoptr(PylockerFileLock) b = locker_new(f, NULL, "b", 250 * 1000);
        int64_t start;

        g_assert_cmpint(pylocker_file_lock_set_wait(b, 100 * 1000, NULL), ==, 0);
        g_assert_cmpint(acquire(a), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        /* Attempts at 0, 100, 200 and 250 ms (the last wait cut to the time left). */
        start = g_get_monotonic_time();
        g_assert_cmpint(acquire(b), ==, PYLOCKER_FILE_LOCK_TIMED_OUT);
        g_assert_cmpint(g_get_monotonic_time() - start, >=, 250 * 1000);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 2 * G_USEC_PER_SEC);
}

static void test_taken_over_dead_pid(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerFileLock) l = locker_new(f, NULL, "mine", 0);
        g_autofree char *text = NULL;
        g_autofree char *prefix = NULL;

        test_write_seed_lock(f->lock_path, "gone", (uint64_t) g_get_real_time(), test_dead_pid());
        g_assert_cmpint(acquire(l), ==, PYLOCKER_FILE_LOCK_TAKEN_OVER);
        text = test_read_file(f->lock_path, NULL);
        prefix = g_strdup("mine\n");
        g_assert_true(g_str_has_prefix(text, prefix));

        /* A negative pid is dead to the seed, too. */
        test_write_seed_lock(f->lock_path, "odd", (uint64_t) g_get_real_time(), -5);
        g_assert_cmpint(acquire(l), ==, PYLOCKER_FILE_LOCK_TAKEN_OVER);
}

static void test_dead_lock_age(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerFileLock) a = locker_new(f, NULL, "a", 0);
        g_autoptr(PylockerFileLock) b = locker_new(f, NULL, "b", 50 * 1000);
        int64_t start;

        g_assert_cmpint(pylocker_file_lock_set_dead_lock(b, 300 * 1000, NULL), ==, 0);
        g_assert_cmpint(acquire(a), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        start = g_get_monotonic_time();

        /* The holder is alive (this very process) and younger than 300 ms: wait. */
        g_assert_cmpint(acquire(b), ==, PYLOCKER_FILE_LOCK_TIMED_OUT);
        /* Older than that: forgotten, taken over. */
        g_assert_cmpint(pylocker_file_lock_set_timeout(b, 5 * G_USEC_PER_SEC, NULL), ==, 0);
        g_assert_cmpint(acquire(b), ==, PYLOCKER_FILE_LOCK_TAKEN_OVER);
        g_assert_cmpint(g_get_monotonic_time() - start, >=, 250 * 1000);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 4 * G_USEC_PER_SEC);

        /* The old holder finds it lost the lock. */
        g_assert_cmpint(release(a), ==, PYLOCKER_FILE_LOCK_NOT_OWNER);
        g_assert_cmpint(release(b), ==, PYLOCKER_FILE_LOCK_RELEASED);

        /* An infinite age never takes a live holder's lock over. */
        g_assert_cmpint(acquire(a), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        test_write_seed_lock(f->lock_path, "a-old", 1000000, getpid());
        g_assert_cmpint(pylocker_file_lock_set_dead_lock(b, PYLOCKER_FILE_LOCK_INFINITY, NULL), ==, 0);
        g_assert_cmpint(pylocker_file_lock_set_timeout(b, 50 * 1000, NULL), ==, 0);
        g_assert_cmpint(acquire(b), ==, PYLOCKER_FILE_LOCK_TIMED_OUT);
}

static void test_refresh(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerFileLock) a = locker_new(f, NULL, "a", 0);
        g_autoptr(PylockerFileLock) b = locker_new(f, NULL, "b", 0);
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *before = NULL, *after = NULL;

        g_assert_cmpint(pylocker_file_lock_refresh(a, &error), ==, -ENOLCK);
        g_assert_cmpint(acquire(a), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        before = test_read_file(f->lock_path, NULL);
        g_usleep(20 * 1000);
        g_assert_cmpint(pylocker_file_lock_refresh(a, &error), ==, 0);
        after = test_read_file(f->lock_path, NULL);
        g_assert_cmpstr(before, !=, after);
        g_assert_cmpfloat(g_ascii_strtod(strchr(after, '\n') + 1, NULL), >,
                          g_ascii_strtod(strchr(before, '\n') + 1, NULL));

        g_assert_cmpint(pylocker_file_lock_refresh(b, &error), ==, -ENOLCK);
        g_assert_nonnull(strstr(error.message, f->lock_path));
        g_assert_cmpint(release(a), ==, PYLOCKER_FILE_LOCK_RELEASED);
        g_assert_cmpint(pylocker_file_lock_refresh(a, &error), ==, -ENOLCK);
}

static void test_free_releases(Fixture *f, gconstpointer data) {
        PylockerFileLock *a = locker_new(f, NULL, "a", 0);
        PylockerFileLock *b = locker_new(f, NULL, "b", 0);
        size_t len = 1;
        g_autofree char *text = NULL;

        g_assert_cmpint(acquire(a), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        /* Not holding: free leaves the lock file alone. */
        g_assert_null(pylocker_file_lock_free(b));
        g_assert_null(pylocker_file_lock_free(a));
        text = test_read_file(f->lock_path, &len);
        g_assert_cmpuint(len, ==, 0);
        g_assert_null(pylocker_file_lock_free(NULL));
}

/* The seed reads anything but exactly three lines as a free lock. */
static void test_not_three_lines_is_free(Fixture *f, gconstpointer data) {
        static const char *const contents[] = { "garbage", "a\nb", "a\nb\nc\nd", "\n\n\n\n", "x\n1.0\n1\n\n" };
        g_autoptr(PylockerFileLock) l = locker_new(f, NULL, "mine", 0);
        g_autoptr(GError) gerror = NULL;

        for (size_t i = 0; i < G_N_ELEMENTS(contents); i++) {
                g_file_set_contents(f->lock_path, contents[i], -1, &gerror);
                g_assert_no_error(gerror);
                g_assert_cmpint(acquire(l), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        }
}

/* Three lines whose time or pid cannot be read: the seed fails, and so do we, leaving it. */
static void test_unreadable_lock_fails(Fixture *f, gconstpointer data) {
        static const char *const contents[] = { "x\nnot-a-time\n1", "x\n1.5\nnot-a-pid", "x\n\n1" };
        g_autoptr(PylockerFileLock) l = locker_new(f, NULL, "mine", 0);
        g_autoptr(GError) gerror = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;

        for (size_t i = 0; i < G_N_ELEMENTS(contents); i++) {
                g_autofree char *after = NULL;

                g_file_set_contents(f->lock_path, contents[i], -1, &gerror);
                g_assert_no_error(gerror);
                g_assert_cmpint(pylocker_file_lock_acquire(l, &error), ==, -EBADMSG);
                g_assert_nonnull(strstr(error.message, f->lock_path));
                after = test_read_file(f->lock_path, NULL);
                g_assert_cmpstr(after, ==, contents[i]);
        }
}

static void test_interop_seed_lock_blocks(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerFileLock) l = locker_new(f, NULL, "ours", 200 * 1000);
        g_autofree char *before = NULL, *after = NULL;
        int64_t start;

        /* Written by hand as the seed writes it, with a live pid (ours) and another pass. */
        test_write_seed_lock(f->lock_path, "python-pass", (uint64_t) g_get_real_time(), getpid());
        before = test_read_file(f->lock_path, NULL);

        start = g_get_monotonic_time();
        g_assert_cmpint(acquire(l), ==, PYLOCKER_FILE_LOCK_TIMED_OUT);
        g_assert_cmpint(g_get_monotonic_time() - start, >=, 200 * 1000);
        after = test_read_file(f->lock_path, NULL);
        g_assert_cmpstr(after, ==, before);
        g_assert_cmpint(release(l), ==, PYLOCKER_FILE_LOCK_NOT_OWNER);

        /* The seed's own release empties the file in place: free again. */
        g_assert_cmpint(truncate(f->lock_path, 0), ==, 0);
        g_assert_cmpint(acquire(l), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
}

static void test_interop_written_format(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerFileLock) l = locker_new(f, NULL, "our pass", 0);
        g_autoptr(GRegex) regex = NULL;
        g_autoptr(GMatchInfo) match = NULL;
        g_auto(GStrv) lines = NULL;
        g_autofree char *text = NULL, *empty = NULL, *pid = NULL;
        int64_t before = g_get_real_time();
        double t;
        size_t len;

        g_assert_cmpint(acquire(l), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        text = test_read_file(f->lock_path, &len);

        /* The seed's "%s\n%.6f\n%s" % (pass, time, pid): three lines, no final newline. */
        regex = g_regex_new("^our pass\\n([0-9]+\\.[0-9]{6})\\n([0-9]+)$", G_REGEX_DOLLAR_ENDONLY, 0, NULL);
        g_assert_true(g_regex_match(regex, text, 0, &match));
        pid = g_match_info_fetch(match, 2);
        g_assert_cmpint(atol(pid), ==, getpid());
        lines = g_strsplit(text, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 3);
        t = g_ascii_strtod(lines[1], NULL);
        g_assert_cmpfloat(t, >=, (double) before / 1e6 - 1);
        g_assert_cmpfloat(t, <=, (double) g_get_real_time() / 1e6 + 1);

        /* Released: the file stays, empty, which the seed reads as free. */
        g_assert_cmpint(release(l), ==, PYLOCKER_FILE_LOCK_RELEASED);
        empty = test_read_file(f->lock_path, &len);
        g_assert_cmpuint(len, ==, 0);
}

/* The seed renames a new lock file over the path; a locker holding the old inode open must
 * judge the new one. */
static void test_lock_file_replaced(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerFileLock) a = locker_new(f, NULL, "a", 50 * 1000);

        g_assert_cmpint(acquire(a), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        g_assert_cmpint(release(a), ==, PYLOCKER_FILE_LOCK_RELEASED);
        test_write_seed_lock(f->lock_path, "python", (uint64_t) g_get_real_time(), getpid());
        g_assert_cmpint(acquire(a), ==, PYLOCKER_FILE_LOCK_TIMED_OUT);
        g_assert_cmpint(release(a), ==, PYLOCKER_FILE_LOCK_NOT_OWNER);

        /* Deleted meanwhile: release says so, acquire makes a new one. */
        g_assert_cmpint(g_unlink(f->lock_path), ==, 0);
        g_assert_cmpint(release(a), ==, PYLOCKER_FILE_LOCK_NO_LOCK_FILE);
        g_assert_cmpint(acquire(a), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        g_assert_true(g_file_test(f->lock_path, G_FILE_TEST_IS_REGULAR));
}

static void test_mode_r_missing_file(Fixture *f, gconstpointer data) {
        g_autofree char *file = g_build_filename(f->dir, "missing.txt", NULL);
        g_autoptr(PylockerFileLock) l = locker_new(f, file, "r-pass", 0);
        g_autoptr(PylockerFileLock) other = locker_new(f, NULL, "other", 0);
        PylockerError error = PYLOCKER_ERROR_INIT;
        size_t len;
        g_autofree char *text = NULL;

        g_assert_cmpint(pylocker_file_lock_set_mode(l, "r", &error), ==, 0);
        g_assert_cmpint(pylocker_file_lock_acquire(l, &error), ==, -ENOENT);
        g_assert_nonnull(strstr(error.message, file));
        g_assert_nonnull(strstr(error.message, "No such file"));
        g_assert_null(pylocker_file_lock_get_file(l));
        g_assert_false(g_file_test(file, G_FILE_TEST_EXISTS));

        /* Not had, so given back: the lock file is empty and another pass gets it at once. */
        text = test_read_file(f->lock_path, &len);
        g_assert_cmpuint(len, ==, 0);
        g_assert_cmpint(acquire(other), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
}

static char *file_with(Fixture *f, const char *name, const char *content) {
        g_autoptr(GError) gerror = NULL;
        char *path = g_build_filename(f->dir, name, NULL);

        g_file_set_contents(path, content, -1, &gerror);
        g_assert_no_error(gerror);
        return path;
}

/* Acquires in mode, runs the check on the opened file, releases (code 3) and returns the
 * file's content. */
static char *with_mode(Fixture *f, const char *file, const char *mode, void (*check)(FILE *)) {
        g_autoptr(PylockerFileLock) l = locker_new(f, file, "mode-pass", 0);
        FILE *fp;

        g_assert_cmpint(pylocker_file_lock_set_mode(l, mode, NULL), ==, 0);
        g_assert_cmpint(acquire(l), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        fp = pylocker_file_lock_get_file(l);
        g_assert_nonnull(fp);
        g_assert_cmpint(pylocker_file_lock_get_fd(l), ==, fileno(fp));
        /* Already had: the same stream stays. */
        g_assert_cmpint(acquire(l), ==, PYLOCKER_FILE_LOCK_ALREADY_SET);
        g_assert_true(pylocker_file_lock_get_file(l) == fp);
        check(fp);
        g_assert_cmpint(release(l), ==, PYLOCKER_FILE_LOCK_CLOSED);
        g_assert_null(pylocker_file_lock_get_file(l));
        g_assert_cmpint(pylocker_file_lock_get_fd(l), ==, -1);
        return test_read_file(file, NULL);
}

static void check_write_x(FILE *fp) {
        g_assert_cmpint(fputs("x", fp), >=, 0);
}

static void check_read_hello_then_write(FILE *fp) {
        char buf[16] = {};

        g_assert_nonnull(fgets(buf, sizeof(buf), fp));
        g_assert_cmpstr(buf, ==, "hello");
        g_assert_cmpint(fseek(fp, 0, SEEK_SET), ==, 0);
        g_assert_cmpint(fputs("J", fp), >=, 0);
}

static void check_write_then_read_back(FILE *fp) {
        char buf[32] = {};

        g_assert_cmpint(fputs("written", fp), >=, 0);
        g_assert_cmpint(fseek(fp, 0, SEEK_SET), ==, 0);
        g_assert_nonnull(fgets(buf, sizeof(buf), fp));
        g_assert_true(g_str_has_suffix(buf, "written"));
}

static void check_read_only(FILE *fp) {
        char buf[16] = {};

        g_assert_nonnull(fgets(buf, sizeof(buf), fp));
        g_assert_cmpstr(buf, ==, "hello");
        /* Read-only stream: writing fails. */
        g_assert_cmpint(fputs("y", fp), ==, EOF);
}

static void test_modes(Fixture *f, gconstpointer data) {
        static const char *const variants[][2] = {
                /* mode, and the content after writing "written" over an initial "hello" */
                { "w+", "written" }, { "w+b", "written" }, { "wb+", "written" },
                { "a+", "hellowritten" }, { "a+b", "hellowritten" }, { "ab+", "hellowritten" },
        };
        g_autofree char *file = NULL, *text = NULL;

        /* r: reads, cannot write; rb likewise. */
        file = file_with(f, "r.txt", "hello");
        text = with_mode(f, file, "r", check_read_only);
        g_assert_cmpstr(text, ==, "hello");
        g_clear_pointer(&text, g_free);
        text = with_mode(f, file, "rb", check_read_only);
        g_assert_cmpstr(text, ==, "hello");
        g_clear_pointer(&text, g_free);

        /* r+ (and its b forms): reads from the start, writes in place, no truncation. */
        for (size_t i = 0; i < 3; i++) {
                static const char *const m[] = { "r+", "r+b", "rb+" };
                g_autofree char *path = file_with(f, "rplus.txt", "hello");
                g_autofree char *out = with_mode(f, path, m[i], check_read_hello_then_write);
                g_assert_cmpstr(out, ==, "Jello");
        }

        /* w truncates; a appends; both create the file. */
        for (size_t i = 0; i < 2; i++) {
                static const char *const m[] = { "w", "wb" };
                g_autofree char *path = file_with(f, "w.txt", "hello");
                g_autofree char *out = with_mode(f, path, m[i], check_write_x);
                g_assert_cmpstr(out, ==, "x");
        }
        for (size_t i = 0; i < 2; i++) {
                static const char *const m[] = { "a", "ab" };
                g_autofree char *path = file_with(f, "a.txt", "hello");
                g_autofree char *out = with_mode(f, path, m[i], check_write_x);
                g_assert_cmpstr(out, ==, "hellox");
        }
        g_clear_pointer(&file, g_free);
        file = g_build_filename(f->dir, "new-by-a.txt", NULL);
        text = with_mode(f, file, "ab", check_write_x);
        g_assert_cmpstr(text, ==, "x");

        /* w+ and a+: written content reads back through the same stream. */
        for (size_t i = 0; i < G_N_ELEMENTS(variants); i++) {
                g_autofree char *path = file_with(f, "plus.txt", "hello");
                g_autofree char *out = with_mode(f, path, variants[i][0], check_write_then_read_back);
                g_assert_cmpstr(out, ==, variants[i][1]);
        }
}

static void test_missing_directory(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerFileLock) l = locker_new(f, NULL, "p", 0);
        g_autofree char *path = g_build_filename(f->dir, "no-such-dir", ".lock", NULL);
        PylockerError error = PYLOCKER_ERROR_INIT;

        g_assert_cmpint(pylocker_file_lock_set_lock_path(l, path, &error), ==, 0);
        g_assert_cmpint(pylocker_file_lock_acquire(l, &error), ==, -ENOENT);
        g_assert_nonnull(strstr(error.message, path));
        g_assert_cmpint(release(l), ==, PYLOCKER_FILE_LOCK_NO_LOCK_FILE);
}

/* In the child: acquire in dir must fail with EACCES and a message naming the path.
 * Returns an exit status: 0 when it did. */
static int expect_permission_denied(const char *lock_path) {
        PylockerFileLock *l = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        int r;

        if (pylocker_file_lock_new(NULL, "unprivileged", &l, &error) < 0 ||
            pylocker_file_lock_set_lock_path(l, lock_path, &error) < 0 ||
            pylocker_file_lock_set_timeout(l, 0, &error) < 0)
                return 10;
        r = pylocker_file_lock_acquire(l, &error);
        fprintf(stderr, "acquire of '%s': %d (%s)\n", lock_path, r, error.message);
        pylocker_file_lock_free(l);
        if (r != -EACCES)
                return 11;
        if (!strstr(error.message, "Permission denied") || !strstr(error.message, lock_path))
                return 12;
        return 0;
}

static void test_no_write_permission(Fixture *f, gconstpointer data) {
        g_autofree char *ro_dir = g_build_filename(f->dir, "read-only", NULL);
        g_autofree char *fresh = g_build_filename(ro_dir, ".lock", NULL);
        g_autofree char *taken = g_build_filename(ro_dir, "taken.lock", NULL);
        g_autofree char *before = NULL, *after = NULL;
        bool root = geteuid() == 0;
        int status;
        pid_t pid;

        g_assert_cmpint(g_mkdir(ro_dir, 0755), ==, 0);
        /* A lock file writable by all, but held by a dead pid: taking it over means writing a
         * new file beside it, which the directory forbids. */
        test_write_seed_lock(taken, "gone", (uint64_t) g_get_real_time(), test_dead_pid());
        g_assert_cmpint(g_chmod(taken, 0666), ==, 0);
        before = test_read_file(taken, NULL);
        if (!root)
                g_assert_cmpint(g_chmod(ro_dir, 0555), ==, 0);

        /* Root writes anywhere: the check runs in a child that dropped to nobody. */
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                int r;

                if (root && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                             setresuid(65534, 65534, 65534) < 0)) {
                        fprintf(stderr, "Failed to drop privileges: %s\n", g_strerror(errno));
                        _exit(20);
                }
                r = expect_permission_denied(fresh);
                if (r == 0)
                        r = expect_permission_denied(taken);
                _exit(r);
        }
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);

        /* Nothing changed. */
        g_assert_false(g_file_test(fresh, G_FILE_TEST_EXISTS));
        after = test_read_file(taken, NULL);
        g_assert_cmpstr(after, ==, before);
}

int main(int argc, char *argv[]) {
        /* No G_TEST_OPTION_ISOLATE_DIRS: these tests keep to their own scratch directories, and
         * GLib 2.74 leaks the strings it sets there, which fails the sanitizer build. */
        g_test_init(&argc, &argv, NULL);

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
        g_test_add_func("/filelock/new/defaults", test_defaults);
        ADD("/filelock/new/bad-input", test_bad_input);
        ADD("/filelock/codes/acquire-release", test_acquire_release_codes);
        ADD("/filelock/codes/timeout-zero-tries-once", test_timeout_zero_tries_once);
        ADD("/filelock/codes/wait-between-attempts", test_wait_between_attempts);
        ADD("/filelock/codes/taken-over-dead-pid", test_taken_over_dead_pid);
        ADD("/filelock/codes/dead-lock-age", test_dead_lock_age);
        ADD("/filelock/refresh", test_refresh);
        ADD("/filelock/free-releases", test_free_releases);
        ADD("/filelock/seed-format/not-three-lines-is-free", test_not_three_lines_is_free);
        ADD("/filelock/seed-format/unreadable-lock-fails", test_unreadable_lock_fails);
        ADD("/filelock/seed-format/seed-lock-blocks", test_interop_seed_lock_blocks);
        ADD("/filelock/seed-format/written-format", test_interop_written_format);
        ADD("/filelock/seed-format/lock-file-replaced", test_lock_file_replaced);
        ADD("/filelock/mode/r-missing-file", test_mode_r_missing_file);
        ADD("/filelock/mode/all", test_modes);
        ADD("/filelock/errors/missing-directory", test_missing_directory);
        ADD("/filelock/errors/no-write-permission", test_no_write_permission);
#undef ADD

        return g_test_run();
}
