/* Integration tests of the lock-file locker across processes: contention, killed holders. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include <pylocker/pylocker.h>

#include "contend.h"
#include "test-util.h"

typedef struct Fixture {
        char *dir;
        char *lock_path;
        pid_t child;            /* stopped by pid in teardown if a test left it running */
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        f->dir = test_dir_new();
        f->lock_path = g_build_filename(f->dir, "test.lock", NULL);
        f->child = -1;
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        test_kill_child(&f->child);
        test_dir_remove(f->dir);
        g_free(f->lock_path);
        g_free(f->dir);
}

/* Checks the enter/leave log: strictly alternating, each leave by the one who entered. */
static void assert_log_without_overlap(const char *path, uint64_t expected_rounds) {
        g_autofree char *text = test_read_file(path, NULL);
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        uint64_t rounds = 0;
        size_t n = g_strv_length(lines);

        /* The log ends with a newline, so the last piece is empty. */
        g_assert_cmpuint(n, ==, 2 * expected_rounds + 1);
        for (size_t i = 0; i + 1 < n; i += 2) {
                const char *enter = lines[i], *leave = lines[i + 1];

                if (!g_str_has_prefix(enter, "enter ") || !g_str_has_prefix(leave, "leave ") ||
                    strcmp(enter + 6, leave + 6) != 0)
                        g_error("Overlap in the log at line %zu: '%s' then '%s'", i + 1, enter, leave);
                rounds++;
        }
        g_assert_cmpuint(rounds, ==, expected_rounds);
}

static void run_contention(Fixture *f, unsigned n_processes, unsigned rounds, unsigned jitter_usec) {
        g_autofree char *counter = g_build_filename(f->dir, "counter", NULL);
        g_autofree char *log = g_build_filename(f->dir, "log", NULL);
        g_autofree char *count = NULL;
        uint64_t total = (uint64_t) n_processes * rounds;
        ContendOptions o = {
                .lock_path = f->lock_path,
                .n_processes = n_processes,
                .rounds = rounds,
                .counter_path = counter,
                .log_path = log,
                .jitter_usec = jitter_usec,
        };
        ContendResult result;

        g_assert_cmpint(contend_run(&o, &result), ==, 0);
        g_test_message("%u processes x %u rounds: %.2f s, %" G_GUINT64_FORMAT " overlaps",
                       n_processes, rounds, result.seconds, result.overlaps);

        g_assert_cmpuint(result.failed_processes, ==, 0);
        g_assert_cmpuint(result.bad_codes, ==, 0);
        g_assert_cmpuint(result.overlaps, ==, 0);
        g_assert_cmpuint(result.pairs, ==, total);
        /* An overlap would have lost an increment. */
        count = test_read_file(counter, NULL);
        g_assert_cmpuint(g_ascii_strtoull(count, NULL, 10), ==, total);
        assert_log_without_overlap(log, total);
}

static void test_two_contenders(Fixture *f, gconstpointer data) {
        run_contention(f, 2, 2000, 50);
}

static void test_four_contenders(Fixture *f, gconstpointer data) {
        run_contention(f, 4, 1000, 50);
}

/* No pause between rounds: the same process keeps winning, the others must still finish. */
static void test_four_contenders_tight(Fixture *f, gconstpointer data) {
        run_contention(f, 4, 500, 0);
}

/* Forks a child holding the lock with pass "child" until killed. */
static void start_holder(Fixture *f) {
        int pipefd[2];
        char c;

        g_assert_cmpint(pipe(pipefd), ==, 0);
        f->child = fork();
        g_assert_cmpint(f->child, >=, 0);
        if (f->child == 0) {
                PylockerFileLock *l = NULL;
                int code;

                (void) close(pipefd[0]);
                if (pylocker_file_lock_new(NULL, "child", &l, NULL) < 0 ||
                    pylocker_file_lock_set_lock_path(l, f->lock_path, NULL) < 0)
                        _exit(1);
                code = pylocker_file_lock_acquire(l, NULL);
                (void) !write(pipefd[1], code == PYLOCKER_FILE_LOCK_ACQUIRED ? "y" : "n", 1);
                for (;;)
                        pause();
        }
        (void) close(pipefd[1]);
        g_assert_cmpint(read(pipefd[0], &c, 1), ==, 1);
        (void) close(pipefd[0]);
        g_assert_cmpint(c, ==, 'y');
}

static void test_killed_holder_taken_over(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerFileLock) l = NULL;
        int64_t start;
        int status;

        g_assert_cmpint(pylocker_file_lock_new(NULL, "parent", &l, NULL), ==, 0);
        g_assert_cmpint(pylocker_file_lock_set_lock_path(l, f->lock_path, NULL), ==, 0);
        g_assert_cmpint(pylocker_file_lock_set_timeout(l, 100 * 1000, NULL), ==, 0);

        /* Alive: it keeps the lock. */
        start_holder(f);
        g_assert_cmpint(pylocker_file_lock_acquire(l, NULL), ==, PYLOCKER_FILE_LOCK_TIMED_OUT);

        /* Killed, and not yet reaped (a zombie counts as gone): taken over at once. */
        g_assert_cmpint(kill(f->child, SIGKILL), ==, 0);
        g_assert_cmpint(pylocker_file_lock_set_timeout(l, 5 * G_USEC_PER_SEC, NULL), ==, 0);
        start = g_get_monotonic_time();
        g_assert_cmpint(pylocker_file_lock_acquire(l, NULL), ==, PYLOCKER_FILE_LOCK_TAKEN_OVER);
        g_assert_cmpint(g_get_monotonic_time() - start, <, G_USEC_PER_SEC);
        g_assert_cmpint(waitpid(f->child, &status, 0), ==, f->child);
        g_assert_true(WIFSIGNALED(status));
        f->child = -1;
        g_assert_cmpint(pylocker_file_lock_release(l, NULL), ==, PYLOCKER_FILE_LOCK_RELEASED);

        /* Killed and reaped. */
        start_holder(f);
        g_assert_cmpint(kill(f->child, SIGKILL), ==, 0);
        g_assert_cmpint(waitpid(f->child, &status, 0), ==, f->child);
        f->child = -1;
        g_assert_cmpint(pylocker_file_lock_acquire(l, NULL), ==, PYLOCKER_FILE_LOCK_TAKEN_OVER);
}

/* A waiter gets the lock soon after the holder lets go, without spinning. */
static void test_waiter_gets_released_lock(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerFileLock) l = NULL;
        struct rusage before, after;
        int64_t start, elapsed, cpu;

        g_assert_cmpint(pylocker_file_lock_new(NULL, "waiter", &l, NULL), ==, 0);
        g_assert_cmpint(pylocker_file_lock_set_lock_path(l, f->lock_path, NULL), ==, 0);
        g_assert_cmpint(pylocker_file_lock_set_timeout(l, 10 * G_USEC_PER_SEC, NULL), ==, 0);

        f->child = fork();
        g_assert_cmpint(f->child, >=, 0);
        if (f->child == 0) {
                PylockerFileLock *h = NULL;

                if (pylocker_file_lock_new(NULL, "holder", &h, NULL) < 0 ||
                    pylocker_file_lock_set_lock_path(h, f->lock_path, NULL) < 0 ||
                    pylocker_file_lock_acquire(h, NULL) != PYLOCKER_FILE_LOCK_ACQUIRED)
                        _exit(1);
                g_usleep(500 * 1000);
                _exit(pylocker_file_lock_release(h, NULL) == PYLOCKER_FILE_LOCK_RELEASED ? 0 : 2);
        }

        /* Let the child take it first. */
        for (int i = 0; i < 1000; i++) {
                g_autofree char *text = NULL;
                size_t len = 0;

                if (g_file_get_contents(f->lock_path, &text, &len, NULL) && len > 0)
                        break;
                g_usleep(1000);
        }

        g_assert_cmpint(getrusage(RUSAGE_SELF, &before), ==, 0);
        start = g_get_monotonic_time();
        g_assert_cmpint(pylocker_file_lock_acquire(l, NULL), ==, PYLOCKER_FILE_LOCK_ACQUIRED);
        elapsed = g_get_monotonic_time() - start;
        g_assert_cmpint(getrusage(RUSAGE_SELF, &after), ==, 0);
        cpu = (after.ru_utime.tv_sec - before.ru_utime.tv_sec + after.ru_stime.tv_sec - before.ru_stime.tv_sec) *
              G_USEC_PER_SEC +
              (after.ru_utime.tv_usec - before.ru_utime.tv_usec + after.ru_stime.tv_usec - before.ru_stime.tv_usec);
        g_test_message("waited %" G_GINT64_FORMAT " us, using %" G_GINT64_FORMAT " us of CPU", elapsed, cpu);
        g_assert_cmpint(elapsed, <, 2 * G_USEC_PER_SEC);
        /* Waiting about 0.4 s with wait 0: a busy loop would use all of it. */
        g_assert_cmpint(cpu, <, elapsed / 4);

        {
                int status;
                g_assert_cmpint(waitpid(f->child, &status, 0), ==, f->child);
                f->child = -1;
                g_assert_true(WIFEXITED(status));
                g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        }
}

int main(int argc, char *argv[]) {
        /* No G_TEST_OPTION_ISOLATE_DIRS: these tests keep to their own scratch directories, and
         * GLib 2.74 leaks the strings it sets there, which fails the sanitizer build. */
        g_test_init(&argc, &argv, NULL);

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
        ADD("/filelock/processes/two-contenders", test_two_contenders);
        ADD("/filelock/processes/four-contenders", test_four_contenders);
        ADD("/filelock/processes/four-contenders-tight", test_four_contenders_tight);
        ADD("/filelock/processes/killed-holder-taken-over", test_killed_holder_taken_over);
        ADD("/filelock/processes/waiter-gets-released-lock", test_waiter_gets_released_lock);
#undef ADD

        return g_test_run();
}
