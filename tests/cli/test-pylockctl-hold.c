/* pylockctl's locks without a command under them, and run's waiting, naming and stopping, against a real
 * pylockerd: hold (READY=1 only once granted, SIGTERM releases, a loss is 76), acquire and release (a
 * holder in the background, let go by release, by the script's end, or lost), run past the daemon's
 * DefaultTimeout, run --name, and run stopped by SIGTERM. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "cli-test-util.h"

typedef struct Fixture {
        Harness h;
        PylockerLocker *l;      /* the test's own client, "test-holder" */
        Child child;
        pid_t holder;           /* a holder left by acquire, killed if left */
        int notify_fd;
        char *tmpdir;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        harness_start(&f->h, data);
        f->l = test_locker_open(&f->h, "test-holder", NULL);
        f->child = (Child) CHILD_INIT;
        f->holder = 0;
        f->notify_fd = -1;
        f->tmpdir = g_dir_make_tmp("pylockctl-hold-XXXXXX", NULL);
        g_assert_nonnull(f->tmpdir);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->tmpdir);

        child_clear(&f->child);
        if (f->holder > 0) {
                (void) kill(f->holder, SIGKILL);
                (void) waitpid(f->holder, NULL, 0);
        }
        if (f->notify_fd >= 0)
                (void) close(f->notify_fd);
        pylocker_locker_unref(f->l);
        harness_stop(&f->h);
        g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
        g_free(f->tmpdir);
}

static JsonObject *parse_object(const char *text) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) error = NULL;

        g_assert_true(json_parser_load_from_data(parser, text, -1, &error));
        g_assert_no_error(error);
        g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
        return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

/* --- hold --- */

static void test_hold_ready_only_when_granted(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autoptr(PylockerLock) held = NULL;
        g_autofree char *notify_env = NULL, *ready = NULL, *waiting = NULL, *id = NULL, *line = NULL,
                        *name = NULL, *stopping = NULL;

        sd_bus *bus = harness_connect(&f->h);

        g_assert_cmpint(pylocker_locker_acquire_path(f->l, "/hold", NULL, &held, &error), ==, 0);
        f->notify_fd = notify_socket_new(&notify_env);
        child_spawn_pylockctl(&f->child, &f->h, (const char *const[]) { notify_env, NULL },
                              "hold", "--name", "held-by-hold", "/hold", NULL);

        /* Waiting, and saying so, but not ready while the test holds the lock: once its Acquire waits in
         * pylockerd, nothing else was sent. */
        waiting = notify_wait(f->notify_fd, "STATUS=Waiting for the lock on '/hold'", 10000);
        g_assert_nonnull(waiting);
        g_assert_null(strstr(waiting, "READY=1"));
        for (int i = 0; i < 1000 && get_property_u(bus, "WaiterCount") == 0; i++)
                g_usleep(10 * 1000);
        g_assert_cmpuint(get_property_u(bus, "WaiterCount"), ==, 1);
        g_assert_null(notify_wait(f->notify_fd, "", 200));
        g_assert_true(child_runs_after(&f->child, 0));

        g_assert_cmpint(pylocker_lock_release(held, &error), ==, 1);
        ready = notify_wait(f->notify_fd, "READY=1", 10000);
        g_assert_nonnull(ready);
        line = child_read_line(&f->child, 10000);
        id = wait_lock_on_path(f->l, "/hold", 10000, &name, NULL);
        g_assert_cmpstr(line, ==, id);
        g_assert_cmpstr(name, ==, "held-by-hold");
        g_assert_nonnull(strstr(ready, id));

        /* SIGTERM: released, exit 0. */
        g_assert_cmpint(kill(f->child.pid, SIGTERM), ==, 0);
        g_assert_cmpint(child_wait(&f->child, 10000), ==, 0);
        g_assert_cmpuint(test_count_locks(f->l), ==, 0);
        stopping = notify_wait(f->notify_fd, "STOPPING=1", 5000);
        g_assert_nonnull(stopping);
}

static void test_hold_refreshes_and_lost(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *id = NULL, *line = NULL;

        /* A lease of 300 ms outlived: only the refreshes keep it. */
        child_spawn_pylockctl(&f->child, &f->h, NULL, "hold", "--ttl", "0.3", "/lost", NULL);
        line = child_read_line(&f->child, 10000);
        g_assert_true(child_runs_after(&f->child, 1200));
        id = wait_lock_on_path(f->l, "/lost", 1000, NULL, NULL);
        g_assert_cmpstr(id, ==, line);

        /* Force-released: the holder exits 76, which fails a unit. */
        g_assert_cmpint(pylocker_locker_force_release(f->l, id, &error), ==, 1);
        g_assert_cmpint(child_wait(&f->child, 10000), ==, 76);
}

static void test_hold_released_by_release_verb(Fixture *f, gconstpointer data) {
        g_autofree char *line = NULL, *out = NULL;

        child_spawn_pylockctl(&f->child, &f->h, NULL, "hold", "--json=short", "/hr", NULL);
        {
                g_autoptr(JsonObject) o = NULL;

                line = child_read_line(&f->child, 10000);
                o = parse_object(line);
                g_assert_cmpint(json_object_get_int_member(o, "holder_pid"), ==, f->child.pid);
                g_free(line);
                line = g_strdup(json_object_get_string_member(o, "lock_id"));
        }
        g_assert_cmpint(pylockctl_run(&f->h, &out, NULL, "release", line, NULL), ==, 0);
        /* Returned once the lock is free. */
        g_assert_cmpuint(test_count_locks(f->l), ==, 0);
        g_assert_cmpint(child_wait(&f->child, 10000), ==, 0);
}

/* --- acquire and release --- */

static void test_acquire_release(Fixture *f, gconstpointer data) {
        g_autofree char *out = NULL, *err = NULL, *name = NULL, *id_file = g_build_filename(f->tmpdir, "id", NULL);
        g_autofree char *file_id = NULL, *text = NULL, *found = NULL;
        g_autoptr(JsonObject) o = NULL;
        uint64_t token = 0;
        const char *id;

        become_subreaper();
        g_assert_cmpint(pylockctl_run(&f->h, &text, NULL, "acquire", "--json=short", "--name", "my-script",
                                      "--id-file", id_file, "/acq/a", "/acq/b", NULL), ==, 0);
        /* One line of JSON; acquire has exited, the holder keeps the lock. */
        g_assert_cmpstr(strchr(text, '\n'), ==, "\n");
        o = parse_object(text);
        id = json_object_get_string_member(o, "lock_id");
        f->holder = (pid_t) json_object_get_int_member(o, "holder_pid");
        g_assert_cmpint(f->holder, >, 0);
        g_assert_cmpint(kill(f->holder, 0), ==, 0);
        g_assert_cmpstr(json_object_get_string_member(o, "mode"), ==, "exclusive");
        g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "paths")), ==, 2);
        g_assert_true(g_file_get_contents(id_file, &file_id, NULL, NULL));
        g_assert_cmpstr(g_strchomp(file_id), ==, id);
        found = wait_lock_on_path(f->l, "/acq/b", 1000, &name, &token);
        g_assert_cmpstr(found, ==, id);
        g_assert_cmpstr(name, ==, "my-script");
        g_assert_cmpuint(token, ==, (uint64_t) json_object_get_int_member(o, "token"));

        /* Others wait for it. */
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "run", "--nonblock", "/acq/a", "--", "true", NULL), ==, 75);

        g_assert_cmpint(pylockctl_run(&f->h, &out, NULL, "release", id, NULL), ==, 0);
        g_assert_nonnull(strstr(out, id));
        /* Free once release returns, and the holder is gone. */
        g_assert_cmpuint(test_count_locks(f->l), ==, 0);
        g_assert_cmpint(wait_descendant(f->holder, 10000), ==, 0);
        f->holder = 0;

        /* Again: no such lock any more, and nobody holds it. */
        g_assert_cmpint(pylockctl_run(&f->h, NULL, &err, "release", id, NULL), ==, 1);
        g_assert_nonnull(strstr(err, "No lock"));
}

static void test_acquire_text_and_waits(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autoptr(PylockerLock) held = NULL;
        g_autofree char *out = NULL, *line = NULL, *found = NULL;
        gint64 start;

        become_subreaper();
        /* Taken: not had within --timeout, or at once with --nonblock; no holder stays behind. */
        g_assert_cmpint(pylocker_locker_acquire_path(f->l, "/aw", NULL, &held, &error), ==, 0);
        start = g_get_monotonic_time();
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "acquire", "--timeout", "0.3", "/aw", NULL), ==, 75);
        g_assert_cmpint(g_get_monotonic_time() - start, >=, 300 * 1000);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "acquire", "--nonblock", "/aw", NULL), ==, 75);
        g_assert_cmpuint(test_count_locks(f->l), ==, 1);

        /* On a terminal (a pty from script(1)) it says who holds what it waits for, as run does: the
         * holder finds out, acquire says it. */
        {
                g_autofree char *q_ctl = g_shell_quote(g_getenv("PYLOCKCTL"));
                g_autofree char *q_addr = g_shell_quote(f->h.bus_address);
                g_autofree char *cmd = g_strdup_printf("%s --address %s acquire --timeout 0.3 /aw", q_ctl, q_addr);
                g_autofree char *terminal = NULL, *expected = NULL;
                g_autoptr(GError) gerror = NULL;
                int status;

                g_assert_true(g_spawn_sync(NULL, (char **) (const char *[]) { "script", "-qec", cmd, "/dev/null", NULL },
                                           NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                                           test_child_die_with_parent, NULL, &terminal, NULL, &status, &gerror));
                g_assert_no_error(gerror);
                g_test_message("terminal: %s", terminal);
                g_assert_cmpint(test_exit_code(status), ==, 75);
                expected = g_strdup_printf("pylockctl: waiting for '/aw', held by %s (test-holder) since ",
                                           pylocker_locker_get_client_id(f->l));
                g_assert_nonnull(strstr(terminal, expected));
                g_assert_nonnull(strstr(terminal, "pylockctl: Lock on '/aw' not had in time."));
        }

        /* Without --timeout it waits (here past the daemon's DefaultTimeout of 1s) until granted; its
         * text output is the lock id alone. */
        child_spawn_pylockctl(&f->child, &f->h, NULL, "acquire", "/aw", NULL);
        g_assert_true(child_runs_after(&f->child, 1500));
        g_assert_cmpint(pylocker_lock_release(held, &error), ==, 1);
        line = child_read_line(&f->child, 10000);
        g_assert_cmpint(child_wait(&f->child, 10000), ==, 0);
        g_assert_cmpuint(strlen(line), ==, 32);
        found = wait_lock_on_path(f->l, "/aw", 1000, NULL, NULL);
        g_assert_cmpstr(found, ==, line);
        g_assert_cmpint(pylockctl_run(&f->h, &out, NULL, "release", line, NULL), ==, 0);
        g_assert_cmpuint(test_count_locks(f->l), ==, 0);
}

static void test_acquire_released_when_script_exits(Fixture *f, gconstpointer data) {
        g_autoptr(GError) gerror = NULL;
        g_autofree char *text = NULL;
        g_autoptr(JsonObject) o = NULL;
        GPid script = 0;

        become_subreaper();
        g_assert_true(g_spawn_async(NULL, (char **) (const char *[]) { "sleep", "60", NULL }, NULL,
                                    G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, test_child_die_with_parent,
                                    NULL, &script, &gerror));
        g_assert_no_error(gerror);
        {
                g_autofree char *pid = g_strdup_printf("%d", (int) script);

                g_assert_cmpint(pylockctl_run(&f->h, &text, NULL, "acquire", "--json", "--pid", pid, "/script", NULL),
                                ==, 0);
        }
        o = parse_object(text);
        f->holder = (pid_t) json_object_get_int_member(o, "holder_pid");
        g_free(wait_lock_on_path(f->l, "/script", 1000, NULL, NULL));

        /* The script ends without releasing: the holder lets go of the lock itself. */
        g_assert_cmpint(kill(script, SIGKILL), ==, 0);
        g_assert_cmpint(test_wait_exit(&script, 10000), ==, 128 + SIGKILL);
        g_assert_cmpint(wait_descendant(f->holder, 10000), ==, 0);
        f->holder = 0;
        g_assert_cmpuint(test_count_locks(f->l), ==, 0);
}

static void test_acquire_lost(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *id = NULL, *err = NULL, *text = NULL;
        g_autoptr(JsonObject) o = NULL;

        become_subreaper();
        g_assert_cmpint(pylockctl_run(&f->h, &text, NULL, "acquire", "--json", "/al", NULL), ==, 0);
        o = parse_object(text);
        f->holder = (pid_t) json_object_get_int_member(o, "holder_pid");
        id = g_strdup(json_object_get_string_member(o, "lock_id"));

        /* Lost while the script works: its release says so with 76. */
        g_assert_cmpint(pylocker_locker_force_release(f->l, id, &error), ==, 1);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, &err, "release", id, NULL), ==, 76);
        g_assert_nonnull(strstr(err, "expired or was force-released"));
        g_assert_cmpint(wait_descendant(f->holder, 10000), ==, 76);
        f->holder = 0;
}

static void test_release_refusals(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autoptr(PylockerLock) held = NULL;
        g_autofree char *err = NULL, *text = NULL;
        g_autoptr(JsonObject) o = NULL;
        const char *id;

        become_subreaper();
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "release", "not-an-id", NULL), ==, 64);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "release", NULL), ==, 64);

        /* Another client's lock: only its holder, or force-release, can end it. */
        g_assert_cmpint(pylocker_locker_acquire_path(f->l, "/mine", NULL, &held, &error), ==, 0);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, &err, "release", pylocker_lock_get_id(held), NULL), ==, 1);
        g_assert_nonnull(strstr(err, "held by"));
        g_assert_nonnull(strstr(err, "test-holder"));
        g_assert_true(pylocker_lock_is_held(held));
        g_assert_cmpuint(test_count_locks(f->l), ==, 1);

        if (getuid() != 0) {
                g_test_message("not root: the other user's case is not tried");
                return;
        }
        /* A holder of root's is not released by another user; root may release anyone's. */
        g_assert_cmpint(pylockctl_run(&f->h, &text, NULL, "acquire", "--json", "--pid", "0", "/root-held", NULL),
                        ==, 0);
        o = parse_object(text);
        f->holder = (pid_t) json_object_get_int_member(o, "holder_pid");
        id = json_object_get_string_member(o, "lock_id");
        {
                g_autofree char *q_ctl = g_shell_quote(g_getenv("PYLOCKCTL"));
                g_autofree char *q_addr = g_shell_quote(f->h.bus_address);
                g_autofree char *cmd = g_strdup_printf("setpriv --reuid=65534 --regid=65534 --clear-groups %s "
                                                       "--address %s release %s", q_ctl, q_addr, id);
                g_autofree char *other_err = NULL;
                int status;

                g_assert_true(g_spawn_command_line_sync(cmd, NULL, &other_err, &status, NULL));
                g_test_message("as nobody: %s", other_err);
                g_assert_cmpint(test_exit_code(status), ==, 1);
                g_assert_nonnull(strstr(other_err, "another user"));
        }
        g_free(wait_lock_on_path(f->l, "/root-held", 1000, NULL, NULL));
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "release", id, NULL), ==, 0);
        g_assert_cmpint(wait_descendant(f->holder, 10000), ==, 0);
        f->holder = 0;
}

/* --- run --- */

static void test_run_waits_past_default_timeout(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autoptr(PylockerLock) held = NULL;
        g_autofree char *line = NULL;
        gint64 start;

        g_assert_cmpint(pylocker_locker_acquire_path(f->l, "/rw", NULL, &held, &error), ==, 0);
        /* The daemon's DefaultTimeout is 1s here; run waits on. */
        start = g_get_monotonic_time();
        child_spawn_pylockctl(&f->child, &f->h, NULL, "run", "/rw", "--", "echo", "ran", NULL);
        g_assert_true(child_runs_after(&f->child, 2500));
        g_assert_cmpint(pylocker_lock_release(held, &error), ==, 1);
        line = child_read_line(&f->child, 10000);
        g_assert_cmpstr(line, ==, "ran");
        g_assert_cmpint(child_wait(&f->child, 10000), ==, 0);
        g_assert_cmpint(g_get_monotonic_time() - start, >=, 2500 * 1000);

        /* --timeout still bounds it. */
        g_clear_pointer(&held, pylocker_lock_unref);
        g_assert_cmpint(pylocker_locker_acquire_path(f->l, "/rw", NULL, &held, &error), ==, 0);
        start = g_get_monotonic_time();
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "run", "--timeout", "0.4", "/rw", "--", "true", NULL), ==, 75);
        g_assert_cmpint(g_get_monotonic_time() - start, >=, 400 * 1000);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 1000 * 1000);
}

static void test_run_name(Fixture *f, gconstpointer data) {
        g_autofree char *ready = g_build_filename(f->tmpdir, "ready", NULL);
        g_autofree char *script = g_strdup_printf("touch '%s'; exec sleep 60", ready);
        g_autofree char *name = NULL, *second = NULL, *out = NULL, *expected = NULL;
        Child other = CHILD_INIT;

        /* --name: what locks shows. */
        child_spawn_pylockctl(&f->child, &f->h, NULL, "run", "--name", "nightly-backup", "/rn", "--", "sh", "-c",
                              script, NULL);
        g_free(wait_lock_on_path(f->l, "/rn", 10000, &name, NULL));
        g_assert_cmpstr(name, ==, "nightly-backup");
        g_assert_cmpint(pylockctl_run(&f->h, &out, NULL, "locks", NULL), ==, 0);
        g_assert_nonnull(strstr(out, " nightly-backup "));

        /* Taken by another client: an explicit name is refused. */
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "run", "--name", "nightly-backup", "/rn2", "--", "true",
                                      NULL), ==, 1);
        child_clear(&f->child);
        wait_no_lock_on_path(f->l, "/rn", 10000);
        g_clear_pointer(&name, g_free);

        /* By default CMD's name; a second of the same name gets its pid added, and both run. */
        child_spawn_pylockctl(&f->child, &f->h, NULL, "run", "/rd1", "--", "sleep", "60", NULL);
        g_free(wait_lock_on_path(f->l, "/rd1", 10000, &name, NULL));
        g_assert_cmpstr(name, ==, "sleep");
        child_spawn_pylockctl(&other, &f->h, NULL, "run", "/rd2", "--", "/bin/sleep", "60", NULL);
        g_free(wait_lock_on_path(f->l, "/rd2", 10000, &second, NULL));
        expected = g_strdup_printf("sleep[%d]", (int) other.pid);
        g_assert_cmpstr(second, ==, expected);
        child_clear(&other);
}

/* Starts run with CMD in the background and waits until CMD runs (it touches the ready file). */
static void start_run(Fixture *f, const char *path, const char *cmd_script) {
        g_autofree char *ready = g_build_filename(f->tmpdir, "ready", NULL);
        g_autofree char *script = g_strdup_printf("%s; touch '%s'; while :; do sleep 0.05; done", cmd_script, ready);

        (void) g_unlink(ready);
        child_clear(&f->child);
        child_spawn_pylockctl(&f->child, &f->h, NULL, "run", path, "--", "sh", "-c", script, NULL);
        for (int i = 0; i < 1000 && !g_file_test(ready, G_FILE_TEST_EXISTS); i++)
                g_usleep(10 * 1000);
        g_assert_true(g_file_test(ready, G_FILE_TEST_EXISTS));
}

static void test_run_stopped(Fixture *f, gconstpointer data) {
        /* SIGTERM to run, passed on, ends CMD: a stop as asked, exit 0 (not 143). */
        start_run(f, "/stop", "trap - TERM");
        g_assert_cmpint(kill(f->child.pid, SIGTERM), ==, 0);
        g_assert_cmpint(child_wait(&f->child, 10000), ==, 0);
        g_assert_cmpuint(test_count_locks(f->l), ==, 0);

        /* The same with SIGINT sent to run alone. */
        start_run(f, "/stop", "trap - INT");
        g_assert_cmpint(kill(f->child.pid, SIGINT), ==, 0);
        g_assert_cmpint(child_wait(&f->child, 10000), ==, 0);

        /* A CMD that answers SIGTERM with a status of its own keeps it. */
        start_run(f, "/stop", "trap 'exit 3' TERM");
        g_assert_cmpint(kill(f->child.pid, SIGTERM), ==, 0);
        g_assert_cmpint(child_wait(&f->child, 10000), ==, 3);

        /* SIGHUP is passed on, but is no stop: CMD's 129 stays. */
        start_run(f, "/stop", "trap - HUP");
        g_assert_cmpint(kill(f->child.pid, SIGHUP), ==, 0);
        g_assert_cmpint(child_wait(&f->child, 10000), ==, 128 + SIGHUP);
}

static void test_run_stopped_with_its_group(Fixture *f, gconstpointer data) {
        g_autofree char *ready = g_build_filename(f->tmpdir, "ready", NULL);
        g_autofree char *script = g_strdup_printf("touch '%s'; while :; do sleep 0.05; done", ready);
        g_autofree char *q_ctl = g_shell_quote(g_getenv("PYLOCKCTL"));
        g_autofree char *q_addr = g_shell_quote(f->h.bus_address);
        g_autofree char *q_script = g_shell_quote(script);
        g_autofree char *cmd = NULL;
        g_autoptr(GError) gerror = NULL;
        GPid pid = 0;

        /* As systemctl stop does: SIGTERM to every process of the unit at once (here its process group). */
        cmd = g_strdup_printf("exec setsid %s --address %s run /group -- sh -c %s", q_ctl, q_addr, q_script);
        g_assert_true(g_spawn_async(NULL, (char **) (const char *[]) { "/bin/sh", "-c", cmd, NULL }, NULL,
                                    G_SPAWN_DO_NOT_REAP_CHILD, test_child_die_with_parent, NULL, &pid, &gerror));
        g_assert_no_error(gerror);
        f->child.pid = pid;
        for (int i = 0; i < 1000 && !g_file_test(ready, G_FILE_TEST_EXISTS); i++)
                g_usleep(10 * 1000);
        g_assert_true(g_file_test(ready, G_FILE_TEST_EXISTS));
        g_free(wait_lock_on_path(f->l, "/group", 1000, NULL, NULL));

        g_assert_cmpint(kill(-pid, SIGTERM), ==, 0);
        g_assert_cmpint(child_wait(&f->child, 10000), ==, 0);
        g_assert_cmpuint(test_count_locks(f->l), ==, 0);
}

int main(int argc, char *argv[]) {
        static const char *const short_default_timeout[] = { "--default-timeout=1s", NULL };

        g_test_init(&argc, &argv, NULL);

#define ADD(path, func) g_test_add(path, Fixture, short_default_timeout, fixture_setup, func, fixture_teardown)
        ADD("/pylockctl/hold/ready-only-when-granted", test_hold_ready_only_when_granted);
        ADD("/pylockctl/hold/refreshes-and-lost", test_hold_refreshes_and_lost);
        ADD("/pylockctl/hold/released-by-release", test_hold_released_by_release_verb);
        ADD("/pylockctl/acquire/release", test_acquire_release);
        ADD("/pylockctl/acquire/text-and-waits", test_acquire_text_and_waits);
        ADD("/pylockctl/acquire/released-when-script-exits", test_acquire_released_when_script_exits);
        ADD("/pylockctl/acquire/lost", test_acquire_lost);
        ADD("/pylockctl/release/refusals", test_release_refusals);
        ADD("/pylockctl/run/waits-past-default-timeout", test_run_waits_past_default_timeout);
        ADD("/pylockctl/run/name", test_run_name);
        ADD("/pylockctl/run/stopped", test_run_stopped);
        ADD("/pylockctl/run/stopped-with-its-group", test_run_stopped_with_its_group);
        return g_test_run();
}
