/* pylockerd as a service: sd_notify READY/STATUS/STOPPING, idle exit, socket activation with
 * systemd-socket-activate, and D-Bus activation from the repo's activation file. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "harness.h"

static void setup_bus_only(HarnessFixture *f, gconstpointer data) {
        harness_start_bus_only(&f->h, data);
}

static void test_status_and_stopping(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h);
        g_autofree char *id = NULL;
        int status;

        harness_wait_notify(&f->h, "READY=1", 5000);
        id = acquire_ok(a, PATHS("s"), NULL);
        /* Counts reach systemd within about a second. */
        harness_wait_notify(&f->h, "STATUS=1 locks, 0 waiting, 1 clients", 5000);

        status = harness_stop_daemon(&f->h);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        harness_wait_notify(&f->h, "STOPPING=1", 1000);
}

static bool daemon_running(Harness *h) {
        int status;
        pid_t r = waitpid(h->daemon_pid, &status, WNOHANG);

        if (r == 0)
                return true;
        g_assert_cmpint(r, ==, h->daemon_pid);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        h->daemon_pid = 0;
        return false;
}

static void test_idle_exit(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *observer;
        g_autofree char *id = NULL;

        id = acquire_ok(a, PATHS("idle"), NULL);
        /* A client holding a lock keeps it alive well past the idle period. */
        harness_pump_for(&f->h, 800);
        g_assert_true(daemon_running(&f->h));
        g_assert_cmpuint(count_locks(a), ==, 1);

        harness_disconnect(&f->h, a);
        for (int waited = 0; daemon_running(&f->h); waited += 20) {
                if (waited > 10000)
                        g_error("pylockerd did not exit when idle");
                g_usleep(20 * 1000);
        }
        harness_wait_notify(&f->h, "STOPPING=1", 1000);

        /* It gave its name up. */
        observer = harness_connect(&f->h);
        g_assert_cmpint(sd_bus_get_name_creds(observer, PYLOCKER_BUS_NAME, 0, NULL), <, 0);
}

/* systemd-socket-activate passes the direct socket and a TCP socket named "bridge", then execs the
 * daemon on the first connection. The bridge is served (tests/client/test-bridge.c talks to it); here
 * it only must not get in the way. */
static void test_socket_activation(HarnessFixture *f, gconstpointer data) {
        g_autofree char *notify = harness_notify_socket_path(&f->h);
        g_autofree char *direct = g_build_filename(f->h.tmpdir, "activated", NULL);
        g_autofree char *address = g_strdup_printf("unix:path=%s", direct);
        g_autofree char *tcp = g_strdup_printf("127.0.0.1:%d", test_free_tcp_port(AF_INET));
        g_autofree char *notify_env = g_strdup_printf("NOTIFY_SOCKET=%s", notify);
        g_autofree char *config = g_build_filename(f->h.tmpdir, "empty.conf", NULL);
        g_autofree char *secret = g_build_filename(f->h.tmpdir, "secret", NULL);
        g_autofree char *secret_arg = g_strdup_printf("--secret-file=%s", secret);
        g_autoptr(GError) error = NULL;
        sd_bus *bus = NULL, *observer;
        g_autofree char *id = NULL;
        int stderr_fd, status;
        char buf[4096];
        ssize_t n;

        g_assert_true(g_file_set_contents(config, "", 0, &error));
        g_assert_true(g_file_set_contents(secret, "0123456789abcdef0123456789abcdef\n", -1, &error));
        g_assert_cmpint(chmod(secret, 0600), ==, 0);
        /* Owns the notify socket before anything can write to it. */
        harness_notify_open(&f->h);
        {
                const char *argv[] = {
                        "systemd-socket-activate", "-l", direct, "-l", tcp, "--fdname=private:bridge",
                        "-E", notify_env, g_getenv("PYLOCKERD"), "--address", f->h.bus_address, "--config", config,
                        secret_arg, NULL,
                };

                g_assert_true(g_spawn_async_with_pipes(NULL, (char **) argv, NULL,
                                                       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                                       G_SPAWN_STDOUT_TO_DEV_NULL,
                                                       test_child_die_with_parent, NULL, &f->h.daemon_pid, NULL, NULL,
                                                       &stderr_fd, &error));
                g_assert_no_error(error);
        }

        /* The first connection starts the daemon, which serves it through the passed socket. */
        for (int waited = 0; !g_file_test(direct, G_FILE_TEST_EXISTS); waited += 10) {
                g_assert_cmpint(waited, <, 10000);
                g_usleep(10 * 1000);
        }
        g_assert_cmpint(sd_bus_new(&bus), >=, 0);
        g_assert_cmpint(sd_bus_set_address(bus, address), >=, 0);
        g_assert_cmpint(sd_bus_start(bus), >=, 0);
        id = acquire_ok(bus, PATHS("activated"), NULL);
        harness_wait_notify(&f->h, "READY=1", 10000);

        /* The same lock table answers on the bus. */
        observer = harness_connect(&f->h);
        g_assert_cmpuint(count_locks(observer), ==, 1);
        sd_bus_flush_close_unref(bus);

        status = harness_stop_daemon(&f->h);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        n = read(stderr_fd, buf, sizeof(buf) - 1);
        close(stderr_fd);
        g_assert_cmpint(n, >=, 0);
        buf[n] = 0;
        g_test_message("daemon said: %s", buf);
        /* Both sockets adopted: none closed as unexpected. */
        g_assert_null(strstr(buf, "Closing"));
}

static void test_dbus_activation(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h);
        sd_bus_creds *creds = NULL;
        g_autofree char *id = NULL;
        pid_t pid;

        /* Nobody serves the name until the first call. */
        g_assert_cmpint(sd_bus_get_name_creds(a, PYLOCKER_BUS_NAME, 0, NULL), <, 0);
        id = acquire_ok(a, PATHS("activated"), NULL);
        g_assert_cmpuint(count_locks(a), ==, 1);

        /* Stop what the bus started, by its PID. */
        g_assert_cmpint(sd_bus_get_name_creds(a, PYLOCKER_BUS_NAME, SD_BUS_CREDS_PID, &creds), >=, 0);
        g_assert_cmpint(sd_bus_creds_get_pid(creds, &pid), >=, 0);
        sd_bus_creds_unref(creds);
        g_assert_cmpint(pid, >, 1);
        g_assert_cmpint(kill(pid, SIGTERM), ==, 0);
        for (int waited = 0; sd_bus_get_name_creds(a, PYLOCKER_BUS_NAME, 0, NULL) >= 0; waited += 20) {
                g_assert_cmpint(waited, <, 10000);
                g_usleep(20 * 1000);
        }
}

int main(int argc, char *argv[]) {
        static const char *const idle_args[] = { "--idle-exit=300ms", NULL };

        g_test_init(&argc, &argv, NULL);

        harness_test_add("/service/status-and-stopping", NULL, test_status_and_stopping);
        harness_test_add("/service/idle-exit", idle_args, test_idle_exit);
        g_test_add("/service/socket-activation", HarnessFixture, NULL, setup_bus_only, test_socket_activation,
                   harness_fixture_teardown);
        g_test_add("/service/dbus-activation", HarnessFixture, g_getenv("PYLOCKER_TEST_SERVICE_DIR"),
                   setup_bus_only, test_dbus_activation, harness_fixture_teardown);

        return g_test_run();
}
