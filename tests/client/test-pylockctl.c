/* pylockctl's pylockerd verbs against a real daemon: run's environment, exit codes, leases and losses;
 * locks, clients and status, as text and JSON. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "client-util.h"

typedef struct Fixture {
        Harness h;
        PylockerLocker *l;
        GPid pid;               /* a pylockctl started asynchronously, killed by PID if left */
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        harness_start(&f->h, data);
        f->l = test_locker_open(&f->h, "test-holder", NULL);
        f->pid = 0;
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        test_kill_child(&f->pid);
        pylocker_locker_unref(f->l);
        harness_stop(&f->h);
}




static void spawn(Fixture *f, ...) {
        g_autoptr(GPtrArray) argv = NULL;
        g_autoptr(GError) error = NULL;
        va_list ap;

        va_start(ap, f);
        argv = pylockctl_argv(&f->h, ap);
        va_end(ap);
        g_assert_true(g_spawn_async(NULL, (char **) argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                    test_child_die_with_parent, NULL, &f->pid, &error));
        g_assert_no_error(error);
}

/* Waits until ListLocks shows a lock on path; returns its id (g_free). */
static char *wait_lock_on(Fixture *f, const char *path) {
        for (int i = 0; i < 500; i++) {
                PylockerError error = PYLOCKER_ERROR_INIT;
                PylockerLockInfo *infos = NULL;
                char *id = NULL;
                size_t n = 0;

                g_assert_cmpint(pylocker_locker_list_locks(f->l, &infos, &n, &error), ==, 0);
                for (size_t k = 0; k < n && !id; k++)
                        if (g_strv_contains((const char *const *) infos[k].paths, path))
                                id = g_strdup(infos[k].lock_id);
                pylocker_lock_info_array_free(infos, n);
                if (id)
                        return id;
                g_usleep(10 * 1000);
        }
        g_error("no lock on %s appeared", path);
}

static void test_run_env_and_status(Fixture *f, gconstpointer data) {
        g_autofree char *out = NULL;
        g_auto(GStrv) words = NULL;

        g_assert_cmpint(pylockctl_run(&f->h, &out, NULL, "run", "/env", "/env2", "--",
                            "sh", "-c", "printf '%s %s' \"$PYLOCKER_LOCK_ID\" \"$PYLOCKER_TOKEN\"; exit 3", NULL),
                        ==, 3);
        words = g_strsplit(out, " ", -1);
        g_assert_cmpuint(g_strv_length(words), ==, 2);
        g_assert_cmpuint(strlen(words[0]), ==, 32);
        g_assert_cmpuint(g_ascii_strtoull(words[1], NULL, 10), >, 0);

        /* Released when CMD ended. */
        g_assert_cmpuint(test_count_locks(f->l), ==, 0);

        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "run", "/env", "--", "sh", "-c", "kill -KILL $$", NULL), ==, 128 + SIGKILL);
        g_clear_pointer(&out, g_free);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, &out, "run", "/env", "--", "true", NULL), ==, 0);
        /* Released by pylockctl itself, not by its disconnect: nothing to warn about. */
        g_assert_cmpstr(out, ==, "");
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "run", "/env", "--", "/nonexistent/command", NULL), ==, 127);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "run", "--", "true", NULL), ==, 64);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "run", "/env", NULL), ==, 64);
        g_assert_cmpuint(test_count_locks(f->l), ==, 0);
}

static void test_run_timeout(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *held = NULL;
        g_autofree char *err = NULL;
        gint64 start;

        g_assert_cmpint(pylocker_locker_acquire_path(f->l, "/busy", NULL, &held, &error), ==, 0);

        start = g_get_monotonic_time();
        g_assert_cmpint(pylockctl_run(&f->h, NULL, &err, "run", "--timeout", "0.3", "/busy", "--", "true", NULL), ==, 75);
        g_assert_cmpint(g_get_monotonic_time() - start, >=, 300 * 1000);
        g_assert_nonnull(strstr(err, "/busy"));

        /* --nonblock: at once. */
        start = g_get_monotonic_time();
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "run", "--nonblock", "/busy", "--", "true", NULL), ==, 75);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 2 * 1000 * 1000);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "run", "--nonblock", "/free", "--", "true", NULL), ==, 0);

        /* Shared with a shared holder: fine; with the exclusive one: not. */
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "run", "--nonblock", "--shared", "/busy", "--", "true", NULL), ==, 75);

        g_assert_cmpint(pylocker_lock_release(held, &error), ==, 1);
        pylocker_lock_unref(held);
}


/* On a terminal (a pty from script(1)), run says who holds what it waits for, unless --quiet. */
static void test_run_says_who_holds(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *held = NULL;

        g_assert_cmpint(pylocker_locker_acquire_path(f->l, "/held", NULL, &held, &error), ==, 0);

        for (int quiet = 0; quiet <= 1; quiet++) {
                g_autofree char *q_ctl = g_shell_quote(g_getenv("PYLOCKCTL"));
                g_autofree char *q_addr = g_shell_quote(f->h.bus_address);
                g_autofree char *cmd = g_strdup_printf("%s --address %s run --timeout 0.3 %s /held -- true", q_ctl,
                                                       q_addr, quiet ? "--quiet" : "");
                g_autofree char *out = NULL, *expected = NULL;
                g_autoptr(GError) gerror = NULL;
                int status;

                g_assert_true(g_spawn_sync(NULL, (char **) (const char *[]) { "script", "-qec", cmd, "/dev/null", NULL }, NULL,
                                           G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                                           test_child_die_with_parent, NULL, &out, NULL, &status, &gerror));
                g_assert_no_error(gerror);
                g_test_message("terminal: %s", out);
                g_assert_true(WIFEXITED(status));
                g_assert_cmpint(WEXITSTATUS(status), ==, 75);
                expected = g_strdup_printf("waiting for '/held', held by %s (test-holder) since ",
                                           pylocker_locker_get_client_id(f->l));
                if (quiet)
                        g_assert_null(strstr(out, "waiting for"));
                else
                        g_assert_nonnull(strstr(out, expected));
        }

        /* Not on a terminal: silent. */
        {
                g_autofree char *err = NULL;

                g_assert_cmpint(pylockctl_run(&f->h, NULL, &err, "run", "--timeout", "0.3", "/held", "--", "true", NULL), ==, 75);
                g_assert_null(strstr(err, "waiting for"));
        }

        g_assert_cmpint(pylocker_lock_release(held, &error), ==, 1);
        pylocker_lock_unref(held);
}

static void test_run_force_released(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *dir = g_dir_make_tmp("pylockctl-test-XXXXXX", NULL);
        g_autofree char *marker = g_build_filename(dir, "marker", NULL);
        g_autofree char *ready = g_build_filename(dir, "ready", NULL);
        g_autofree char *script = g_strdup_printf("trap 'echo term > %s; exit 0' TERM; touch %s; "
                                                  "while :; do sleep 0.05; done", marker, ready);
        g_autofree char *id = NULL, *content = NULL;

        spawn(f, "run", "/fr", "--", "sh", "-c", script, NULL);
        id = wait_lock_on(f, "/fr");
        /* CMD is running with its trap in place. */
        for (int i = 0; i < 1000 && !g_file_test(ready, G_FILE_TEST_EXISTS); i++)
                g_usleep(10 * 1000);
        g_assert_true(g_file_test(ready, G_FILE_TEST_EXISTS));

        g_assert_cmpint(pylocker_locker_force_release(f->l, id, &error), ==, 1);
        g_assert_cmpint(test_wait_exit(&f->pid, 10000), ==, 76);

        /* CMD was told, with SIGTERM. */
        g_assert_true(g_file_get_contents(marker, &content, NULL, NULL));
        g_assert_cmpstr(content, ==, "term\n");
        g_assert_cmpuint(test_count_locks(f->l), ==, 0);
        (void) g_unlink(marker);
        (void) g_unlink(ready);
        (void) g_rmdir(dir);
}

static void test_run_refreshes_lease(Fixture *f, gconstpointer data) {
        /* A lease of 300 ms outlived by CMD: only the refreshes keep it. */
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "run", "--ttl", "0.3", "/lease", "--", "sleep", "1.2", NULL), ==, 0);
        g_assert_cmpuint(test_count_locks(f->l), ==, 0);
}

static void test_run_forwards_signals(Fixture *f, gconstpointer data) {
        g_autofree char *dir = g_dir_make_tmp("pylockctl-test-XXXXXX", NULL);
        g_autofree char *ready = g_build_filename(dir, "ready", NULL);
        g_autofree char *script = g_strdup_printf("trap 'exit 42' HUP; touch %s; while :; do sleep 0.05; done",
                                                  ready);

        spawn(f, "run", "/sig", "--", "sh", "-c", script, NULL);
        g_free(wait_lock_on(f, "/sig"));
        for (int i = 0; i < 1000 && !g_file_test(ready, G_FILE_TEST_EXISTS); i++)
                g_usleep(10 * 1000);
        g_assert_true(g_file_test(ready, G_FILE_TEST_EXISTS));
        (void) g_unlink(ready);
        (void) g_rmdir(dir);
        g_assert_cmpint(kill(f->pid, SIGHUP), ==, 0);
        g_assert_cmpint(test_wait_exit(&f->pid, 10000), ==, 42);
}

static JsonNode *parse_json(const char *text) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) error = NULL;

        g_assert_true(json_parser_load_from_data(parser, text, -1, &error));
        g_assert_no_error(error);
        return json_node_copy(json_parser_get_root(parser));
}

static void test_locks(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *held = NULL;
        g_autofree char *out = NULL, *text = NULL;
        g_autoptr(JsonNode) root = NULL;
        JsonArray *array, *paths;
        JsonObject *lock = NULL;

        g_assert_cmpint(pylockctl_run(&f->h, &out, NULL, "locks", NULL), ==, 0);
        g_assert_cmpstr(out, ==, "No locks.\n");

        g_assert_cmpint(pylocker_locker_acquire(f->l, PATHS("/j1", "/j2"), NULL, &held, &error), ==, 0);
        g_assert_cmpint(pylockctl_run(&f->h, &text, NULL, "locks", "--json", NULL), ==, 0);
        root = parse_json(text);
        g_assert_true(JSON_NODE_HOLDS_ARRAY(root));
        array = json_node_get_array(root);
        g_assert_cmpuint(json_array_get_length(array), ==, 1);
        lock = json_array_get_object_element(array, 0);
        g_assert_cmpstr(json_object_get_string_member(lock, "lock_id"), ==, pylocker_lock_get_id(held));
        g_assert_cmpstr(json_object_get_string_member(lock, "owner_id"), ==, pylocker_locker_get_client_id(f->l));
        g_assert_cmpstr(json_object_get_string_member(lock, "owner_name"), ==, "test-holder");
        g_assert_cmpint(json_object_get_int_member(lock, "token"), ==, (gint64) pylocker_lock_get_token(held));
        g_assert_false(json_object_get_boolean_member(lock, "shared"));
        g_assert_cmpint(json_object_get_int_member(lock, "expires_usec"), >,
                        json_object_get_int_member(lock, "acquired_usec"));
        paths = json_object_get_array_member(lock, "paths");
        g_assert_cmpuint(json_array_get_length(paths), ==, 2);
        g_assert_cmpstr(json_array_get_string_element(paths, 0), ==, "/j1");
        g_assert_cmpstr(json_array_get_string_element(paths, 1), ==, "/j2");

        /* The global --json works too; the table shows the same lock. */
        g_clear_pointer(&text, g_free);
        g_assert_cmpint(pylockctl_run(&f->h, &text, NULL, "--json", "locks", NULL), ==, 0);
        g_assert_nonnull(strstr(text, pylocker_lock_get_id(held)));
        g_clear_pointer(&out, g_free);
        g_assert_cmpint(pylockctl_run(&f->h, &out, NULL, "locks", NULL), ==, 0);
        g_assert_true(g_str_has_prefix(out, "LOCK ID"));
        g_assert_nonnull(strstr(out, pylocker_lock_get_id(held)));
        g_assert_nonnull(strstr(out, "test-holder"));
        g_assert_nonnull(strstr(out, "/j1 /j2"));

        pylocker_lock_unref(held);
}

static void test_clients_and_status(Fixture *f, gconstpointer data) {
        g_autofree char *out = NULL, *text = NULL, *expect = NULL;
        g_autoptr(JsonNode) root = NULL;
        JsonArray *array;
        bool found = false;

        g_assert_cmpint(pylockctl_run(&f->h, &text, NULL, "clients", "--json", NULL), ==, 0);
        root = parse_json(text);
        array = json_node_get_array(root);
        for (guint i = 0; i < json_array_get_length(array); i++) {
                JsonObject *c = json_array_get_object_element(array, i);

                if (g_strcmp0(json_object_get_string_member(c, "name"), "test-holder") == 0) {
                        g_assert_cmpstr(json_object_get_string_member(c, "client_id"), ==,
                                        pylocker_locker_get_client_id(f->l));
                        g_assert_cmpint(json_object_get_int_member(c, "pid"), ==, getpid());
                        found = true;
                }
        }
        g_assert_true(found);

        g_assert_cmpint(pylockctl_run(&f->h, &out, NULL, "status", NULL), ==, 0);
        expect = g_strdup_printf("Version: %s\n", g_getenv("PYLOCKER_VERSION"));
        g_assert_nonnull(strstr(out, expect));
        g_assert_nonnull(strstr(out, "MaxLockTime: "));
        g_assert_nonnull(strstr(out, "DefaultTimeout: "));
        g_assert_nonnull(strstr(out, "LockCount: 0\n"));
        g_assert_nonnull(strstr(out, "WaiterCount: 0\n"));
        g_assert_nonnull(strstr(out, "ClientCount: "));

        g_clear_pointer(&text, g_free);
        g_clear_pointer(&root, json_node_unref);
        g_assert_cmpint(pylockctl_run(&f->h, &text, NULL, "status", "--json", NULL), ==, 0);
        root = parse_json(text);
        g_assert_cmpstr(json_object_get_string_member(json_node_get_object(root), "version"), ==,
                        g_getenv("PYLOCKER_VERSION"));
        g_assert_cmpint(json_object_get_int_member(json_node_get_object(root), "max_lock_time_usec"), ==,
                        (gint64) pylocker_locker_get_max_lock_time(f->l));
}

static void test_force_release_and_remote(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *held = NULL;
        g_autofree char *err = NULL;

        g_assert_cmpint(pylocker_locker_acquire_path(f->l, "/admin", NULL, &held, &error), ==, 0);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "force-release", pylocker_lock_get_id(held), NULL), ==, 0);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "force-release", pylocker_lock_get_id(held), NULL), ==, 1);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "force-release", "not-an-id", NULL), ==, 64);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "force-release", NULL), ==, 64);

        /* The secret file is checked before anything goes on the network. */
        g_assert_cmpint(pylockctl_run(&f->h, NULL, &err, "--remote", "host.example:7000", "--secret-file", "/dev/null",
                                      "status", NULL), ==, 1);
        g_assert_nonnull(strstr(err, "not a regular file"));
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "--remote", "host.example:7000", "status", NULL), ==, 64);

        pylocker_lock_unref(held);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
        ADD("/pylockctl/run/says-who-holds", test_run_says_who_holds);
        ADD("/pylockctl/run/env-and-status", test_run_env_and_status);
        ADD("/pylockctl/run/timeout-and-nonblock", test_run_timeout);
        ADD("/pylockctl/run/force-released", test_run_force_released);
        ADD("/pylockctl/run/refreshes-lease", test_run_refreshes_lease);
        ADD("/pylockctl/run/forwards-signals", test_run_forwards_signals);
        ADD("/pylockctl/locks", test_locks);
        ADD("/pylockctl/clients-and-status", test_clients_and_status);
        ADD("/pylockctl/force-release-and-remote", test_force_release_and_remote);
        return g_test_run();
}
