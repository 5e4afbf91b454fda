/* pylockerd as a process: limits per client and per user and from the command line, the errors of
 * its configuration file, shutdown with waiters, and tokens across restarts. */
#undef G_DISABLE_ASSERT
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "harness.h"

static const char *const quota_args[] = { "--max-locks-per-client=2", "--max-waiters-per-client=1", NULL };

static void test_quota(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *a1 = NULL, *a2 = NULL, *b1 = NULL, *b2 = NULL;
        AsyncCall wait = {};

        a1 = acquire_ok(a, PATHS("q1"), NULL);
        a2 = acquire_ok(a, PATHS("q2"), NULL);
        acquire_fails(a, &(AcquireArgs) { .paths = PATHS("q3") },
                      "org.pylocker.Locker.Error.LimitsExceeded");

        /* Other clients are not affected; one waiter at most. */
        b1 = acquire_ok(b, PATHS("q3"), NULL);
        acquire_async(b, &wait, &(AcquireArgs) { .paths = PATHS("q1"), .timeout_usec = 10 * SEC });
        /* On the same connection, so handled after the first has become a waiter. */
        acquire_fails(b, &(AcquireArgs) { .paths = PATHS("q2") },
                      "org.pylocker.Locker.Error.LimitsExceeded");
        g_assert_cmpint(release(a, a1, NULL), ==, 1);
        harness_pump_until(&f->h, &wait.done, 5000);
        b2 = reply_lock_id(wait.reply, NULL);
        g_assert_cmpuint(count_locks(a), ==, 3);
        async_call_clear(&wait);
}

static const char *const config_args[] = { "--max-paths=2", "--max-path-length=8", NULL };

static void test_limits_from_options(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h);
        g_autofree char *ok = NULL;

        acquire_fails(a, &(AcquireArgs) { .paths = PATHS("a", "b", "c") },
                      "org.freedesktop.DBus.Error.InvalidArgs");
        acquire_fails(a, &(AcquireArgs) { .paths = PATHS("123456789") },
                      "org.freedesktop.DBus.Error.InvalidArgs");
        ok = acquire_ok(a, PATHS("12345678", "b"), NULL);
}

static const char *const user_quota_args[] = { "--max-locks-per-user=2", "--max-waiters-per-user=0", NULL };

/* One user's clients share per-user limits, so one user cannot exhaust the daemon for others. */
static void test_per_user_limits(HarnessFixture *f, gconstpointer data) {
        sd_bus *root = harness_connect(&f->h);
        char result[512] = {};
        int pipefd[2], status;
        pid_t pid;

        g_assert_cmpint(pipe(pipefd), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                g_autoptr(GString) s = g_string_new(NULL);
                sd_bus *c1 = NULL, *c2 = NULL;
                sd_bus_error e = SD_BUS_ERROR_NULL;
                const char *paths[] = { "u1", "u2", "u3" };

                close(pipefd[0]);
                if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        _exit(2);
                if (sd_bus_new(&c1) < 0 || sd_bus_set_address(c1, f->h.bus_address) < 0 ||
                    sd_bus_set_bus_client(c1, 1) < 0 || sd_bus_start(c1) < 0 ||
                    sd_bus_new(&c2) < 0 || sd_bus_set_address(c2, f->h.bus_address) < 0 ||
                    sd_bus_set_bus_client(c2, 1) < 0 || sd_bus_start(c2) < 0)
                        _exit(3);
                for (int i = 0; i < 3; i++) {
                        int r = locker_call_method(i % 2 ? c2 : c1, "Acquire", &e, NULL, "asta{sv}", 1, paths[i],
                                                   UINT64_C(0), 0);

                        g_string_append_printf(s, "%s%s", i ? " " : "", r >= 0 ? "ok" : e.name);
                        sd_bus_error_free(&e);
                }
                _exit(write(pipefd[1], s->str, s->len) > 0 ? 0 : 4);
        }
        close(pipefd[1]);
        g_assert_cmpint(read(pipefd[0], result, sizeof(result) - 1), >, 0);
        close(pipefd[0]);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_cmpstr(result, ==, "ok ok org.pylocker.Locker.Error.LimitsExceeded");

        /* Root is not counted with them, and their limit went with their clients. */
        g_free(acquire_ok(root, PATHS("u1"), NULL));
        g_free(acquire_ok(root, PATHS("r1"), NULL));
        g_free(acquire_ok(root, PATHS("r2"), NULL));
}

static void run_daemon_with_config(const char *config_text, const char *const *extra, int *ret_status,
                                   char **ret_stderr) {
        g_autofree char *dir = g_dir_make_tmp("pylocker-conf-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "pylockerd.conf", NULL);
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(path, config_text, -1, NULL));
        g_ptr_array_add(argv, (gpointer) g_getenv("PYLOCKERD"));
        g_ptr_array_add(argv, (gpointer) "--address=unix:path=/nonexistent");
        g_ptr_array_add(argv, (gpointer) "--config");
        g_ptr_array_add(argv, path);
        for (size_t i = 0; extra && extra[i]; i++)
                g_ptr_array_add(argv, (gpointer) extra[i]);
        g_ptr_array_add(argv, NULL);

        g_assert_true(g_spawn_sync(NULL, (char **) argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                                   ret_stderr, ret_status, &error));
        g_assert_no_error(error);
        g_unlink(path);
        g_rmdir(dir);
}

static void test_bad_config(void) {
        static const struct {
                const char *text;
                const char *expected;
        } cases[] = {
                { "[Locker]\nDefaultTimeout=5s\nMaxLockTime=soon\n", "pylockerd.conf:3: key MaxLockTime" },
                { "# comment\n[Locker]\n\nMaxLockTme=5\n", "pylockerd.conf:4: unknown key MaxLockTme" },
                { "[Locks]\nMaxLockTime=5\n", "pylockerd.conf:1: unknown section [Locks]" },
                { "[Locker]\nMaxPathLength=-3\n", "pylockerd.conf:2: key MaxPathLength" },
                { "[Locker]\nMaxPathLength=1\nMaxPathLength=2\n", "pylockerd.conf:3: key MaxPathLength is set twice" },
                { "[Locker]\njunk\n", "pylockerd.conf:2: expected KEY=VALUE" },
                { "MaxLockTime=5\n", "pylockerd.conf:1: key MaxLockTime is outside of a section" },
                { "[Locker]\nDefaultTimeout=0\n", "pylockerd.conf:2: key DefaultTimeout" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *err = NULL;
                int status;

                run_daemon_with_config(cases[i].text, NULL, &status, &err);
                g_test_message("stderr: %s", err);
                g_assert_false(g_spawn_check_wait_status(status, NULL));
                g_assert_nonnull(strstr(err, cases[i].expected));
        }

        /* A bad command line override is refused as clearly. */
        {
                g_autofree char *err = NULL;
                int status;

                run_daemon_with_config("[Locker]\n", PATHS("--max-lock-time=forever"),
                                       &status, &err);
                g_assert_false(g_spawn_check_wait_status(status, NULL));
                g_assert_nonnull(strstr(err, "MaxLockTime=forever"));
        }
}

static void test_shutdown_answers_waiters(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *id = NULL;
        AsyncCall call = {};
        int status;

        id = acquire_ok(a, PATHS("s"), NULL);
        acquire_async(b, &call, &(AcquireArgs) { .paths = PATHS("s"), .timeout_usec = 30 * SEC });
        harness_sync(&f->h);
        g_assert_false(call.done);

        status = harness_stop_daemon(&f->h);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        harness_pump_until(&f->h, &call.done, 5000);
        assert_reply_error(call.reply, "org.freedesktop.DBus.Error.NoServer");
        async_call_clear(&call);
}

static char *state_dir_arg(Harness *h) {
        g_autofree char *dir = g_build_filename(h->tmpdir, "state", NULL);

        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        return g_strdup_printf("--state-dir=%s", dir);
}

/* Tokens handed out after a restart are larger than any before it, even if the clock went back:
 * the ceiling persisted in the state directory says so. */
static void test_tokens_survive_restart(HarnessFixture *f, gconstpointer data) {
        g_autofree char *arg = state_dir_arg(&f->h);
        g_autofree char *ceiling_path = g_build_filename(f->h.tmpdir, "state", "token-ceiling", NULL);
        g_autofree char *text = NULL, *forged = NULL;
        const char *args[] = { arg, NULL };
        uint64_t t1, t2, t3, persisted;
        sd_bus *a;
        int status;

        /* The fixture's daemon has no state dir: restart it with one. */
        status = harness_stop_daemon(&f->h);
        g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        harness_start_daemon(&f->h, args);
        a = harness_connect(&f->h);
        g_free(acquire_ok(a, PATHS("t"), &t1));
        /* Counted from the realtime clock, in microseconds. */
        g_assert_cmpuint(t1, >, (uint64_t) g_get_real_time() - 3600 * SEC);

        g_assert_true(g_file_get_contents(ceiling_path, &text, NULL, NULL));
        persisted = g_ascii_strtoull(text, NULL, 10);
        g_assert_cmpuint(persisted, >=, t1);

        /* As if the last instance had handed out tokens far beyond the clock. */
        harness_disconnect(&f->h, a);
        status = harness_stop_daemon(&f->h);
        g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        forged = g_strdup_printf("%" G_GUINT64_FORMAT "\n", (guint64) (t1 + 1000000 * SEC));
        g_assert_true(g_file_set_contents(ceiling_path, forged, -1, NULL));
        harness_start_daemon(&f->h, args);
        a = harness_connect(&f->h);
        g_free(acquire_ok(a, PATHS("t"), &t2));
        g_assert_cmpuint(t2, >, t1 + 1000000 * SEC);

        /* Without the state dir, the clock alone still keeps later tokens above earlier ones. */
        harness_disconnect(&f->h, a);
        status = harness_stop_daemon(&f->h);
        g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        harness_start_daemon(&f->h, NULL);
        a = harness_connect(&f->h);
        g_free(acquire_ok(a, PATHS("t"), &t3));
        g_assert_cmpuint(t3, >, t1);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        harness_test_add("/daemon/limits/per-client-quota", quota_args, test_quota);
        harness_test_add("/daemon/limits/from-command-line", config_args, test_limits_from_options);
        harness_test_add("/daemon/limits/per-user", user_quota_args, test_per_user_limits);
        harness_test_add("/daemon/shutdown/answers-waiters", NULL, test_shutdown_answers_waiters);
        harness_test_add("/daemon/tokens/survive-restart", NULL, test_tokens_survive_restart);
        g_test_add_func("/daemon/config/bad-file", test_bad_config);

        return g_test_run();
}
