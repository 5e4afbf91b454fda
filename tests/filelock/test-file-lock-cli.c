/* Integration tests of "pylockctl file-lock": exit codes, the lock while CMD runs, signals. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "test-util.h"

typedef struct Fixture {
        char *dir;
        char *lock_path;
        const char *pylockctl;
        GPid pid;               /* a pylockctl started asynchronously, stopped by pid if left */
        GPid command_pid;       /* and the command it runs */
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        f->dir = test_dir_new();
        f->lock_path = g_build_filename(f->dir, "test.lock", NULL);
        f->pylockctl = g_getenv("PYLOCKCTL");
        g_assert_nonnull(f->pylockctl);
        f->pid = f->command_pid = 0;
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        if (f->command_pid > 0)
                (void) kill(f->command_pid, SIGKILL);
        test_kill_child(&f->pid);
        test_dir_remove(f->dir);
        g_free(f->lock_path);
        g_free(f->dir);
}

/* Runs pylockctl with the arguments (NULL-terminated) in the fixture's directory. Returns
 * the exit status, 128+N for signal N as a shell would say it. */
static int run(Fixture *f, char **ret_out, char **ret_err, ...) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL, *err = NULL;
        const char *arg;
        int status;
        va_list ap;

        g_ptr_array_add(argv, (char *) f->pylockctl);
        va_start(ap, ret_err);
        while ((arg = va_arg(ap, const char *)))
                g_ptr_array_add(argv, (char *) arg);
        va_end(ap);
        g_ptr_array_add(argv, NULL);

        g_spawn_sync(f->dir, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
        g_assert_no_error(error);
        g_test_message("exit status %d, stderr: %s", status, err);
        if (ret_out)
                *ret_out = g_steal_pointer(&out);
        if (ret_err)
                *ret_err = g_steal_pointer(&err);
        return test_exit_code(status);
}

static void assert_lock_file_empty(const char *path) {
        g_autofree char *text = NULL;
        size_t len;

        text = test_read_file(path, &len);
        g_assert_cmpuint(len, ==, 0);
}

static void test_help(Fixture *f, gconstpointer data) {
        g_autofree char *out1 = NULL, *out2 = NULL, *out3 = NULL;

        g_assert_cmpint(run(f, &out1, NULL, "--help", NULL), ==, 0);
        g_assert_nonnull(strstr(out1, "file-lock"));
        g_assert_cmpint(run(f, &out2, NULL, "file-lock", "--help", NULL), ==, 0);
        g_assert_nonnull(strstr(out2, "Usage: pylockctl file-lock"));
        g_assert_cmpint(run(f, &out3, NULL, "--version", NULL), ==, 0);
        g_assert_true(g_str_has_prefix(out3, "pylockctl "));
}

static void test_usage_errors(Fixture *f, gconstpointer data) {
        g_autofree char *pass_file = g_build_filename(f->dir, "pass", NULL);
        g_autofree char *cwd_lock = g_build_filename(f->dir, ".lock", NULL);
        const char *const cases[][8] = {
                { NULL },
                { "no-such-verb", NULL },
                { "--no-such-option", NULL },
                { "file-lock", NULL },
                { "file-lock", "true", NULL },
                { "file-lock", "--", NULL },
                { "file-lock", "a", "b", "--", "true", NULL },
                { "file-lock", "--timeout", "soon", "--", "true", NULL },
                { "file-lock", "--wait", "-1", "--", "true", NULL },
                { "file-lock", "--dead-lock", "", "--", "true", NULL },
                { "file-lock", "--pass", "two\nlines", "--", "true", NULL },
                { "file-lock", "--pass", "x", "--pass-file", pass_file, "--", "true", NULL },
                { "file-lock", "--no-such-option", "--", "true", NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *err = NULL;
                const char *const *c = cases[i];

                g_assert_cmpint(run(f, NULL, &err, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]), ==, 64);
                g_assert_cmpstr(err, !=, "");
        }
        /* Bad input changes nothing. */
        g_assert_false(g_file_test(cwd_lock, G_FILE_TEST_EXISTS));
}

static void test_exit_status(Fixture *f, gconstpointer data) {
        g_autofree char *err = NULL;

        g_assert_cmpint(run(f, NULL, NULL, "file-lock", "--", "true", NULL), ==, 0);
        g_assert_cmpint(run(f, NULL, NULL, "file-lock", "--", "sh", "-c", "exit 7", NULL), ==, 7);
        g_assert_cmpint(run(f, NULL, NULL, "file-lock", "--", "sh", "-c", "kill -KILL $$", NULL), ==, 128 + SIGKILL);
        g_assert_cmpint(run(f, NULL, &err, "file-lock", "--", "/nonexistent/command", NULL), ==, 127);
        g_assert_nonnull(strstr(err, "/nonexistent/command"));
        /* CMD's own options are its own. */
        g_assert_cmpint(run(f, NULL, NULL, "file-lock", "--", "sh", "-c", "exit 3", "--timeout", NULL), ==, 3);
}

static void test_holds_lock_while_running(Fixture *f, gconstpointer data) {
        g_autofree char *data_file = g_build_filename(f->dir, "data", NULL);
        g_autofree char *lock = g_build_filename(f->dir, ".lock", NULL);
        g_autofree char *pass_file = g_build_filename(f->dir, "pass", NULL);
        g_autofree char *out = NULL, *out2 = NULL, *out3 = NULL;
        g_autoptr(GRegex) regex = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GMatchInfo) match = NULL;
        g_autofree char *random_pass = NULL;

        /* FILE: the lock file is ".lock" beside it, and FILE is created (mode "ab"). */
        g_assert_cmpint(run(f, &out, NULL, "file-lock", "--pass", "cli pass", data_file, "--", "cat", lock, NULL), ==, 0);
        regex = g_regex_new("^cli pass\\n[0-9]+\\.[0-9]{6}\\n[0-9]+$", G_REGEX_DOLLAR_ENDONLY, 0, NULL);
        g_assert_true(g_regex_match(regex, out, 0, NULL));
        assert_lock_file_empty(lock);
        g_assert_true(g_file_test(data_file, G_FILE_TEST_IS_REGULAR));

        /* --pass-file, one trailing newline dropped; --lock-path. */
        g_file_set_contents(pass_file, "from file\n", -1, &error);
        g_assert_no_error(error);
        g_assert_cmpint(run(f, &out2, NULL, "file-lock", "--pass-file", pass_file, "--lock-path", f->lock_path,
                            "--", "cat", f->lock_path, NULL), ==, 0);
        g_assert_true(g_str_has_prefix(out2, "from file\n"));
        assert_lock_file_empty(f->lock_path);

        /* No pass: a random one. */
        g_assert_cmpint(run(f, &out3, NULL, "file-lock", "--lock-path", f->lock_path, "--", "cat", f->lock_path, NULL), ==, 0);
        g_clear_pointer(&regex, g_regex_unref);
        regex = g_regex_new("^([0-9a-f-]{36})\\n", 0, 0, NULL);
        g_assert_true(g_regex_match(regex, out3, 0, &match));
        random_pass = g_match_info_fetch(match, 1);
        g_assert_true(g_uuid_string_is_valid(random_pass));
}

static void test_timeout_exit_75(Fixture *f, gconstpointer data) {
        g_autofree char *marker = g_build_filename(f->dir, "ran", NULL);
        g_autofree char *err = NULL;

        /* Held in the seed's format by a live process (this one) with another pass. */
        test_write_seed_lock(f->lock_path, "python", (uint64_t) g_get_real_time(), getpid());
        g_assert_cmpint(run(f, NULL, &err, "file-lock", "--lock-path", f->lock_path, "--timeout", "200ms",
                            "--", "touch", marker, NULL), ==, 75);
        g_assert_nonnull(strstr(err, "not had within 200ms"));
        g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));
}

static void test_nested_blocks(Fixture *f, gconstpointer data) {
        /* The inner pylockctl runs while the outer holds the lock: it times out (75), and the
         * outer passes that status on. */
        g_assert_cmpint(run(f, NULL, NULL, "file-lock", "--lock-path", f->lock_path, "--",
                            f->pylockctl, "file-lock", "--lock-path", f->lock_path, "--timeout", "100ms", "--", "true",
                            NULL), ==, 75);
        assert_lock_file_empty(f->lock_path);
}

static void test_refresh_keeps_lock(Fixture *f, gconstpointer data) {
        /* CMD outlives the 300 ms dead-lock age; the lock's time is kept fresh, so a contender
         * with the same age still finds it held. */
        g_assert_cmpint(run(f, NULL, NULL, "file-lock", "--lock-path", f->lock_path, "--dead-lock", "300ms", "--",
                            "sh", "-c", "sleep 0.8; exec \"$0\" file-lock --lock-path \"$1\" --dead-lock 300ms --timeout 100ms -- true",
                            f->pylockctl, f->lock_path, NULL), ==, 75);
        assert_lock_file_empty(f->lock_path);
}

static void test_forwards_signals(Fixture *f, gconstpointer data) {
        static const struct {
                int sig;
                int status;
        } cases[] = {
                { SIGTERM, 42 },
                { SIGINT, 43 },
                { SIGHUP, 44 },
        };
        g_autofree char *ready = g_build_filename(f->dir, "ready", NULL);

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) error = NULL;
                g_autofree char *pid_text = NULL;
                const char *argv[] = {
                        f->pylockctl, "file-lock", "--lock-path", f->lock_path, "--",
                        "sh", "-c",
                        "trap 'exit 42' TERM; trap 'exit 43' INT; trap 'exit 44' HUP; "
                        "echo $$ > \"$0.tmp\"; mv \"$0.tmp\" \"$0\"; while :; do sleep 0.02; done",
                        ready, NULL
                };
                int status;

                (void) g_unlink(ready);
                g_spawn_async(f->dir, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &f->pid, &error);
                g_assert_no_error(error);

                for (int tries = 0; !g_file_test(ready, G_FILE_TEST_EXISTS); tries++) {
                        g_assert_cmpint(tries, <, 500);
                        g_usleep(10 * 1000);
                }
                pid_text = test_read_file(ready, NULL);
                f->command_pid = (GPid) atoi(pid_text);
                g_assert_cmpint(f->command_pid, >, 0);

                g_assert_cmpint(kill(f->pid, cases[i].sig), ==, 0);
                g_assert_cmpint(waitpid(f->pid, &status, 0), ==, f->pid);
                f->pid = f->command_pid = 0;
                g_assert_true(WIFEXITED(status));
                g_assert_cmpint(WEXITSTATUS(status), ==, cases[i].status);
                assert_lock_file_empty(f->lock_path);
        }
}

int main(int argc, char *argv[]) {
        /* No G_TEST_OPTION_ISOLATE_DIRS: these tests keep to their own scratch directories, and
         * GLib 2.74 leaks the strings it sets there, which fails the sanitizer build. */
        g_test_init(&argc, &argv, NULL);

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
        ADD("/file-lock-cli/help", test_help);
        ADD("/file-lock-cli/usage-errors", test_usage_errors);
        ADD("/file-lock-cli/exit-status", test_exit_status);
        ADD("/file-lock-cli/holds-lock-while-running", test_holds_lock_while_running);
        ADD("/file-lock-cli/timeout-exit-75", test_timeout_exit_75);
        ADD("/file-lock-cli/nested-blocks", test_nested_blocks);
        ADD("/file-lock-cli/refresh-keeps-lock", test_refresh_keeps_lock);
        ADD("/file-lock-cli/forwards-signals", test_forwards_signals);
#undef ADD

        return g_test_run();
}
