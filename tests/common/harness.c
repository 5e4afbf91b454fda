/* Test harness: a private dbus-daemon and a real pylockerd on it, started and stopped by PID. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "harness.h"

static const char *env_or_fail(const char *name) {
        const char *value = g_getenv(name);

        if (!value)
                g_error("%s is not set: run the tests through meson test.", name);
        return value;
}

static void start_bus(Harness *h, const char *config_file) {
        const char *argv[] = {
                "dbus-daemon", "--nofork", "--print-address=1", NULL, NULL,
        };
        g_autofree char *config = g_strdup_printf("--config-file=%s", config_file);
        g_auto(GStrv) envp = g_get_environ();
        g_autoptr(GError) error = NULL;
        char line[1024];
        int out_fd;
        FILE *out;

        argv[3] = config;
        /* What it activates keeps its runtime files with the test's. */
        envp = g_environ_setenv(envp, "XDG_RUNTIME_DIR", h->tmpdir, TRUE);
        g_assert_true(g_spawn_async_with_pipes(NULL, (char **) argv, envp,
                                               G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                               G_SPAWN_STDERR_TO_DEV_NULL,
                                               test_child_die_with_parent, NULL, &h->bus_pid, NULL, &out_fd,
                                               NULL, &error));
        g_assert_no_error(error);

        out = fdopen(out_fd, "r");
        g_assert_nonnull(out);
        g_assert_nonnull(fgets(line, sizeof(line), out));
        fclose(out);
        h->bus_address = g_strdup(g_strstrip(line));
        g_assert_true(g_str_has_prefix(h->bus_address, "unix:"));
}

static int notify_socket_new(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, one = 1;

        g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), ==, 0);
        return fd;
}

char *harness_notify_socket_path(Harness *h) {
        return g_build_filename(h->tmpdir, "notify", NULL);
}

void harness_notify_open(Harness *h) {
        g_autofree char *notify_path = harness_notify_socket_path(h);

        if (h->notify_fd > 0)
                return;
        (void) g_unlink(notify_path);
        h->notify_fd = notify_socket_new(notify_path);
        h->notify_log = g_string_new(NULL);
}

void harness_wait_notify(Harness *h, const char *text, int timeout_ms) {
        for (int waited = 0; !strstr(h->notify_log->str, text); waited += 20) {
                struct pollfd p = { .fd = h->notify_fd, .events = POLLIN };
                char buf[4096];
                ssize_t n;

                if (waited > timeout_ms)
                        g_error("no notification with \"%s\" within %d ms; got: %s", text, timeout_ms,
                                h->notify_log->str);
                if (poll(&p, 1, 20) <= 0)
                        continue;
                n = recv(h->notify_fd, buf, sizeof(buf) - 1, 0);
                g_assert_cmpint(n, >=, 0);
                buf[n] = 0;
                g_string_append_printf(h->notify_log, "%s\n", buf);
        }
}

void harness_notify_drain(Harness *h) {
        char buf[4096];
        ssize_t n;

        if (h->notify_fd <= 0)
                return;
        while ((n = recv(h->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) >= 0) {
                buf[n] = 0;
                g_string_append_printf(h->notify_log, "%s\n", buf);
        }
}

void harness_start_daemon(Harness *h, const char *const *daemon_args) {
        g_autofree char *notify_path = harness_notify_socket_path(h);
        g_autofree char *config = g_build_filename(h->tmpdir, "empty.conf", NULL);
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_auto(GStrv) envp = g_get_environ();
        g_autofree char *direct = harness_direct_socket_path(h);
        g_autofree char *direct_arg = g_strdup_printf("--private-socket=%s", direct);
        const char *wrapper_env = g_getenv("PYLOCKER_DAEMON_WRAPPER");
        g_autofree char *etcd_endpoints = NULL, *etcd_arg = NULL;
        g_auto(GStrv) wrapper = NULL;
        g_autoptr(GError) error = NULL;

        harness_notify_open(h);
        g_assert_true(g_file_set_contents(config, "", 0, &error));

        /* A command line to run the daemon under (valgrind, for meson test --setup valgrind); it
         * runs in the daemon's process, so the PID stays the daemon's. */
        if (wrapper_env && *wrapper_env) {
                g_assert_true(g_shell_parse_argv(wrapper_env, NULL, &wrapper, &error));
                for (size_t i = 0; wrapper[i]; i++)
                        g_ptr_array_add(argv, wrapper[i]);
        }
        g_ptr_array_add(argv, (gpointer) env_or_fail("PYLOCKERD"));
        if (h->system_bus)
                g_ptr_array_add(argv, (gpointer) "--system");
        else {
                g_ptr_array_add(argv, (gpointer) "--address");
                g_ptr_array_add(argv, h->bus_address);
        }
        g_ptr_array_add(argv, (gpointer) "--config");
        g_ptr_array_add(argv, config);
        g_ptr_array_add(argv, direct_arg);
        /* The same tests over the etcd backend: its semantics are the memory table's. */
        if (g_strcmp0(g_getenv("PYLOCKER_TEST_BACKEND"), "etcd") == 0) {
                if (!h->etcd)
                        h->etcd = etcd_cluster_start(1);
                etcd_endpoints = etcd_cluster_endpoints(h->etcd);
                etcd_arg = g_strconcat("--etcd-endpoints=", etcd_endpoints, NULL);
                g_ptr_array_add(argv, (gpointer) "--backend=etcd");
                g_ptr_array_add(argv, etcd_arg);
                /* A test's daemon that is killed leaves its locks to the next one for this long. */
                g_ptr_array_add(argv, (gpointer) "--session-ttl=2s");
        }
        for (size_t i = 0; daemon_args && daemon_args[i]; i++)
                g_ptr_array_add(argv, (gpointer) daemon_args[i]);
        g_ptr_array_add(argv, NULL);

        envp = g_environ_setenv(envp, "NOTIFY_SOCKET", notify_path, TRUE);
        if (h->system_bus)
                envp = g_environ_setenv(envp, "DBUS_SYSTEM_BUS_ADDRESS", h->bus_address, TRUE);
        g_assert_true(g_spawn_async(NULL, (char **) argv->pdata, envp, G_SPAWN_DO_NOT_REAP_CHILD |
                                    (wrapper ? G_SPAWN_SEARCH_PATH : 0),
                                    test_child_die_with_parent, NULL, &h->daemon_pid, &error));
        g_assert_no_error(error);

        /* READY=1 comes once the bus name is ours: this instance's, not an earlier one's. */
        g_string_truncate(h->notify_log, 0);
        harness_wait_notify(h, "READY=1", wrapper ? 120000 : 20000);
}

void harness_start_bus_only(Harness *h, const char *service_dir) {
        g_autoptr(GError) error = NULL;

        h->tmpdir = g_dir_make_tmp("pylocker-test-XXXXXX", &error);
        g_assert_no_error(error);
        h->clients = g_ptr_array_new();
        if (!service_dir) {
                start_bus(h, env_or_fail("PYLOCKER_TEST_BUS_CONFIG"));
                return;
        }

        /* tests/data/session.conf, plus where to activate services from. */
        {
                g_autofree char *text = NULL, *config = NULL, *path = NULL;
                const char *end;

                g_assert_true(g_file_get_contents(env_or_fail("PYLOCKER_TEST_BUS_CONFIG"), &text, NULL, &error));
                end = strstr(text, "</busconfig>");
                g_assert_nonnull(end);
                config = g_strdup_printf("%.*s  <servicedir>%s</servicedir>\n</busconfig>\n", (int) (end - text),
                                         text, service_dir);
                path = g_build_filename(h->tmpdir, "session.conf", NULL);
                g_assert_true(g_file_set_contents(path, config, -1, &error));
                start_bus(h, path);
        }
}

void harness_start(Harness *h, const char *const *daemon_args) {
        harness_start_bus_only(h, NULL);
        harness_start_daemon(h, daemon_args);
}

void harness_fixture_setup(HarnessFixture *f, gconstpointer daemon_args) {
        harness_start(&f->h, daemon_args);
}

void harness_fixture_teardown(HarnessFixture *f, gconstpointer data) {
        harness_stop(&f->h);
}

static void write_file(const char *dir, const char *name, const char *text) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(path, text, -1, &error));
        g_assert_cmpint(chmod(path, 0644), ==, 0);
}

static void make_dir(const char *dir, const char *name) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        g_assert_cmpint(g_mkdir_with_parents(path, 0755), ==, 0);
        g_assert_cmpint(chmod(path, 0755), ==, 0);
}

GPid harness_polkitd_pid(Harness *h) {
        return h->polkitd_pid;
}

void harness_kill_polkitd(Harness *h) {
        if (h->polkitd_pid <= 0)
                return;
        (void) kill(h->polkitd_pid, SIGKILL);
        (void) waitpid(h->polkitd_pid, NULL, 0);
        h->polkitd_pid = 0;
}

/* polkitd has no options for its folders: in a mount namespace of its own, the repo's actions and
 * the test's rules are bind-mounted over the system's, which stay untouched. */
static void start_polkitd(Harness *h, const char *polkit_rules) {
        g_autofree char *pk = g_build_filename(h->tmpdir, "pk", NULL);
        g_autofree char *policy = NULL;
        g_autofree char *rules_dir = g_build_filename(pk, "rules.d", NULL);
        g_auto(GStrv) envp = g_environ_setenv(g_get_environ(), "DBUS_SYSTEM_BUS_ADDRESS", h->bus_address, TRUE);
        g_autoptr(GError) error = NULL;
        const char *argv[] = {
                "unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mount --bind \"$1/actions\" /usr/share/polkit-1/actions && "
                "mount --bind \"$1/rules.d\" /etc/polkit-1/rules.d && "
                "mount --bind \"$1/empty\" /usr/share/polkit-1/rules.d && "
                "exec /usr/lib/polkit-1/polkitd --no-debug",
                "sh", pk, NULL,
        };
        sd_bus *bus;

        make_dir(h->tmpdir, "pk/actions");
        make_dir(h->tmpdir, "pk/rules.d");
        make_dir(h->tmpdir, "pk/empty");
        g_assert_true(g_file_get_contents(env_or_fail("PYLOCKER_POLKIT_POLICY"), &policy, NULL, &error));
        write_file(pk, "actions/org.pylocker.policy", policy);
        if (polkit_rules)
                write_file(rules_dir, "50-test.rules", polkit_rules);

        g_assert_true(g_spawn_async(NULL, (char **) argv, envp,
                                    G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                    G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                                    test_child_die_with_parent, NULL, &h->polkitd_pid, &error));
        g_assert_no_error(error);

        /* Ready once it owns its name. */
        bus = harness_connect(h);
        for (int waited = 0;; waited += 20) {
                int r = sd_bus_get_name_creds(bus, "org.freedesktop.PolicyKit1", 0, NULL);

                if (r >= 0)
                        break;
                if (waited > 20000)
                        g_error("polkitd did not come up within 20 s");
                g_assert_cmpint(waitpid(h->polkitd_pid, NULL, WNOHANG), ==, 0);
                g_usleep(20 * 1000);
        }
        harness_disconnect(h, bus);
}

void harness_start_system(Harness *h, const char *polkit_rules, const char *const *daemon_args) {
        g_autoptr(GError) error = NULL;
        g_autofree char *config = NULL, *config_path = NULL;

        g_assert_cmpuint(geteuid(), ==, 0);
        h->tmpdir = g_dir_make_tmp("pylocker-test-XXXXXX", &error);
        g_assert_no_error(error);
        /* Test users must reach the sockets in it. */
        g_assert_cmpint(chmod(h->tmpdir, 0755), ==, 0);
        h->clients = g_ptr_array_new();
        h->system_bus = true;

        /* A trimmed copy of the system bus's own policy, with the repo's policy file included. */
        config = g_strdup_printf(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig>\n"
                "  <type>system</type>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <listen>unix:path=%s/system_bus_socket</listen>\n"
                "  <policy context=\"default\">\n"
                "    <allow user=\"*\"/>\n"
                "    <deny own=\"*\"/>\n"
                "    <deny send_type=\"method_call\"/>\n"
                "    <allow send_type=\"signal\"/>\n"
                "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
                "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
                "    <allow receive_type=\"method_call\"/>\n"
                "    <allow receive_type=\"method_return\"/>\n"
                "    <allow receive_type=\"error\"/>\n"
                "    <allow receive_type=\"signal\"/>\n"
                "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\n"
                "    <allow send_destination=\"org.freedesktop.DBus\"\n"
                "           send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
                "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Properties\"/>\n"
                "  </policy>\n"
                "  <include>/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf</include>\n"
                "  <include>%s</include>\n"
                "</busconfig>\n",
                h->tmpdir, env_or_fail("PYLOCKER_BUS_POLICY"));
        write_file(h->tmpdir, "system.conf", config);
        config_path = g_build_filename(h->tmpdir, "system.conf", NULL);

        start_bus(h, config_path);
        start_polkitd(h, polkit_rules);
        harness_start_daemon(h, daemon_args);
}

int harness_stop_daemon(Harness *h) {
        int status;

        g_assert_cmpint(h->daemon_pid, >, 0);
        g_assert_cmpint(kill(h->daemon_pid, SIGTERM), ==, 0);
        /* Under valgrind, its leak check at exit takes a while. */
        status = test_wait_status(h->daemon_pid, g_getenv("PYLOCKER_DAEMON_WRAPPER") ? 120000 : 20000);
        if (status == -1) {
                (void) kill(h->daemon_pid, SIGKILL);
                (void) waitpid(h->daemon_pid, &status, 0);
                g_error("pylockerd did not exit within 20 s of SIGTERM");
        }
        h->daemon_pid = 0;
        return status;
}

void harness_stop(Harness *h) {
        int status;

        for (guint i = 0; i < h->clients->len; i++)
                sd_bus_flush_close_unref(h->clients->pdata[i]);
        g_ptr_array_set_size(h->clients, 0);

        if (h->daemon_pid > 0) {
                status = harness_stop_daemon(h);
                /* A crash, a sanitizer report or a leak shows up here. */
                g_assert_true(WIFEXITED(status));
                g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        }

        harness_kill_polkitd(h);
        g_clear_pointer(&h->etcd, etcd_cluster_stop);

        if (h->bus_pid > 0) {
                g_assert_cmpint(kill(h->bus_pid, SIGTERM), ==, 0);
                if (test_wait_status(h->bus_pid, 10000) == -1) {
                        (void) kill(h->bus_pid, SIGKILL);
                        (void) waitpid(h->bus_pid, NULL, 0);
                }
                h->bus_pid = 0;
        }

        if (h->tmpdir) {
                const char *argv[] = { "rm", "-rf", "--", h->tmpdir, NULL };
                int rm_status;

                g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                                           &rm_status, NULL));
        }
        g_clear_pointer(&h->tmpdir, g_free);
        g_clear_pointer(&h->bus_address, g_free);
        g_clear_pointer(&h->clients, g_ptr_array_unref);
        if (h->notify_fd > 0)
                close(h->notify_fd);
        h->notify_fd = 0;
        if (h->notify_log)
                g_string_free(h->notify_log, TRUE);
        h->notify_log = NULL;
}

sd_bus *harness_connect(Harness *h) {
        sd_bus *bus = NULL;

        g_assert_cmpint(sd_bus_new(&bus), >=, 0);
        g_assert_cmpint(sd_bus_set_address(bus, h->bus_address), >=, 0);
        g_assert_cmpint(sd_bus_set_bus_client(bus, 1), >=, 0);
        g_assert_cmpint(sd_bus_negotiate_fds(bus, 1), >=, 0);
        g_assert_cmpint(sd_bus_start(bus), >=, 0);
        g_ptr_array_add(h->clients, bus);
        return bus;
}

char *harness_direct_socket_path(Harness *h) {
        return g_build_filename(h->tmpdir, "run", "private", NULL);
}

sd_bus *harness_connect_direct(Harness *h) {
        g_autofree char *path = harness_direct_socket_path(h);
        g_autofree char *address = g_strdup_printf("unix:path=%s", path);
        sd_bus *bus = NULL;

        g_assert_cmpint(sd_bus_new(&bus), >=, 0);
        g_assert_cmpint(sd_bus_set_address(bus, address), >=, 0);
        g_assert_cmpint(sd_bus_negotiate_fds(bus, 1), >=, 0);
        g_assert_cmpint(sd_bus_start(bus), >=, 0);
        g_ptr_array_add(h->clients, bus);
        return bus;
}

/* The bus tells everyone interested (pylockerd) that name is gone before it answers a later call. */
static void wait_name_gone(Harness *h, const char *name) {
        sd_bus *bus = NULL;
        bool temporary = false;

        for (guint i = 0; i < h->clients->len && !bus; i++)
                if (sd_bus_is_bus_client(h->clients->pdata[i]) > 0)
                        bus = h->clients->pdata[i];
        if (!bus) {
                bus = harness_connect(h);
                temporary = true;
        }
        for (int waited = 0;; waited += 5) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                int has_owner;

                if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", &error, &reply, "s", name) < 0)
                        g_error("NameHasOwner failed: %s", error.message);
                g_assert_cmpint(sd_bus_message_read(reply, "b", &has_owner), >, 0);
                sd_bus_message_unref(reply);
                if (!has_owner)
                        break;
                if (waited > 10000)
                        g_error("the bus still knows %s 10 s after it disconnected", name);
                g_usleep(5 * 1000);
        }
        if (temporary) {
                g_assert_true(g_ptr_array_remove(h->clients, bus));
                sd_bus_flush_close_unref(bus);
        }
}

void harness_disconnect(Harness *h, sd_bus *bus) {
        g_autofree char *name = NULL;
        const char *unique;

        g_assert_true(g_ptr_array_remove(h->clients, bus));
        if (sd_bus_is_bus_client(bus) > 0 && sd_bus_get_unique_name(bus, &unique) >= 0)
                name = g_strdup(unique);
        sd_bus_flush_close_unref(bus);
        if (name)
                wait_name_gone(h, name);
}

/* The daemon's sd_notify() blocks once the socket's queue is full: keep reading it. */
static void drain_notify(Harness *h) {
        char buf[4096];
        ssize_t n;

        if (h->notify_fd <= 0)
                return;
        while ((n = recv(h->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
                buf[n] = 0;
                g_string_append_printf(h->notify_log, "%s\n", buf);
        }
}

static bool pump_once(Harness *h, int poll_ms) {
        struct pollfd fds[64];
        bool progress = false;
        guint n = MIN(h->clients->len, G_N_ELEMENTS(fds));

        drain_notify(h);

        for (guint i = 0; i < n; i++) {
                sd_bus *bus = h->clients->pdata[i];
                int r;

                while ((r = sd_bus_process(bus, NULL)) > 0)
                        progress = true;
                g_assert_cmpint(r, >=, 0);
                fds[i] = (struct pollfd) { .fd = sd_bus_get_fd(bus), .events = (short) sd_bus_get_events(bus) };
        }
        if (!progress)
                (void) poll(fds, n, poll_ms);
        return progress;
}

void harness_pump_until(Harness *h, const bool *flag, int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        while (!*flag) {
                if (g_get_monotonic_time() > deadline)
                        g_error("condition not met within %d ms", timeout_ms);
                (void) pump_once(h, 10);
        }
}

void harness_pump_until_count(Harness *h, const unsigned *counter, unsigned target, int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        while (*counter < target) {
                if (g_get_monotonic_time() > deadline)
                        g_error("count %u not reached within %d ms (at %u)", target, timeout_ms, *counter);
                (void) pump_once(h, 10);
        }
}

void harness_pump_for(Harness *h, int ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) ms * 1000;

        while (g_get_monotonic_time() < deadline)
                (void) pump_once(h, 5);
}

void harness_sync(Harness *h) {
        for (int pass = 0; pass < 2; pass++)
                for (guint i = 0; i < h->clients->len; i++) {
                        sd_bus_error error = SD_BUS_ERROR_NULL;

                        /* sd-bus queues what arrives before the reply, and dispatches it below. */
                        if (sd_bus_call_method(h->clients->pdata[i], PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH,
                                               "org.freedesktop.DBus.Peer", "Ping", &error, NULL, NULL) < 0)
                                g_error("Ping of pylockerd failed: %s", error.message);
                }
        while (pump_once(h, 0))
                ;
}

int locker_call_method(sd_bus *bus, const char *member, sd_bus_error *ret_error, sd_bus_message **ret_reply,
                       const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = sd_bus_call_methodv(bus, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE, member, ret_error,
                                ret_reply, types, ap);
        va_end(ap);
        return r;
}

int locker_new_method_call(sd_bus *bus, sd_bus_message **ret, const char *member) {
        return sd_bus_message_new_method_call(bus, ret, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH,
                                              PYLOCKER_INTERFACE, member);
}

int locker_match_signal(sd_bus *bus, const char *member, sd_bus_message_handler_t callback, void *userdata) {
        return sd_bus_match_signal(bus, NULL, NULL, PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE, member,
                                   callback, userdata);
}

int on_lock_expired(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SignalCatcher *catcher = userdata;
        char **paths = NULL;
        const char *id;

        g_assert_cmpint(sd_bus_message_read(m, "s", &id), >, 0);
        g_assert_cmpint(sd_bus_message_read_strv(m, &paths), >, 0);
        g_free(catcher->lock_id);
        catcher->lock_id = g_strdup(id);
        catcher->n_paths = g_strv_length(paths);
        catcher->done = true;
        g_strfreev(paths);
        return 0;
}

void async_call_clear(AsyncCall *call) {
        call->slot = sd_bus_slot_unref(call->slot);
        call->reply = sd_bus_message_unref(call->reply);
        call->done = false;
}

static int on_async_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        AsyncCall *call = userdata;

        call->reply = sd_bus_message_ref(reply);
        call->done = true;
        return 0;
}

static sd_bus_message *new_acquire(sd_bus *bus, const AcquireArgs *args) {
        sd_bus_message *m = NULL;

        g_assert_nonnull(args->paths);
        g_assert_cmpint(locker_new_method_call(bus, &m, args->handle ? "AcquireHandle" : "Acquire"), >=, 0);
        g_assert_cmpint(sd_bus_message_append_strv(m, (char **) args->paths), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "t", args->timeout_usec), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "{sv}"), >=, 0);
        if (args->shared)
                g_assert_cmpint(sd_bus_message_append(m, "{sv}", "shared", "b", 1), >=, 0);
        if (args->nonblocking)
                g_assert_cmpint(sd_bus_message_append(m, "{sv}", "nonblocking", "b", 1), >=, 0);
        if (args->ttl_usec > 0)
                g_assert_cmpint(sd_bus_message_append(m, "{sv}", "ttl_usec", "t", args->ttl_usec), >=, 0);
        if (args->no_deadlock_check)
                g_assert_cmpint(sd_bus_message_append(m, "{sv}", "deadlock_check", "b", 0), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
        return m;
}

void acquire_async(sd_bus *bus, AsyncCall *call, const AcquireArgs *args) {
        sd_bus_message *m = new_acquire(bus, args);

        /* The D-Bus call timeout must outlast the lock timeout. */
        g_assert_cmpint(sd_bus_call_async(bus, &call->slot, m, on_async_reply, call, 60 * G_USEC_PER_SEC), >=, 0);
        sd_bus_message_unref(m);
}

char *reply_lock_id(sd_bus_message *reply, uint64_t *ret_token) {
        const char *id;
        uint64_t token;

        g_assert_nonnull(reply);
        if (sd_bus_message_is_method_error(reply, NULL))
                g_error("expected a grant, got %s: %s", sd_bus_message_get_error(reply)->name,
                        sd_bus_message_get_error(reply)->message);
        g_assert_cmpint(sd_bus_message_read(reply, "st", &id, &token), >, 0);
        g_assert_cmpuint(strlen(id), ==, 32);
        g_assert_cmpuint(token, >, 0);
        if (ret_token)
                *ret_token = token;
        return g_strdup(id);
}

void assert_reply_error(sd_bus_message *reply, const char *error_name) {
        g_assert_nonnull(reply);
        g_assert_true(sd_bus_message_is_method_error(reply, NULL));
        g_assert_cmpstr(sd_bus_message_get_error(reply)->name, ==, error_name);
}

char *acquire_ok(sd_bus *bus, const char *const *paths, uint64_t *ret_token) {
        sd_bus_message *m = new_acquire(bus, &(AcquireArgs) { .paths = paths });
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *id;
        int r;

        r = sd_bus_call(bus, m, 10 * G_USEC_PER_SEC, &error, &reply);
        if (r < 0)
                g_error("Acquire failed: %s: %s", error.name, error.message);
        id = reply_lock_id(reply, ret_token);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        return id;
}

void acquire_fails(sd_bus *bus, const AcquireArgs *args, const char *error_name) {
        sd_bus_message *m = new_acquire(bus, args);
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(bus, m, 30 * G_USEC_PER_SEC, &error, &reply);
        g_assert_cmpint(r, <, 0);
        g_assert_cmpstr(error.name, ==, error_name);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);
}

int release(sd_bus *bus, const char *lock_id, const char *expected_error) {
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uint32_t code;
        int r;

        r = locker_call_method(bus, "Release", &error, &reply, "s", lock_id);
        if (expected_error) {
                g_assert_cmpint(r, <, 0);
                g_assert_cmpstr(error.name, ==, expected_error);
                sd_bus_error_free(&error);
                return -1;
        }
        if (r < 0)
                g_error("Release failed: %s: %s", error.name, error.message);
        g_assert_cmpint(sd_bus_message_read(reply, "u", &code), >, 0);
        sd_bus_message_unref(reply);
        return (int) code;
}

uint32_t get_property_u(sd_bus *bus, const char *name) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uint32_t value = 0;

        g_assert_cmpint(sd_bus_get_property_trivial(bus, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH,
                                                    PYLOCKER_INTERFACE, name, &error, 'u', &value), >=, 0);
        return value;
}

uint64_t get_property_t(sd_bus *bus, const char *name) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t value = 0;

        g_assert_cmpint(sd_bus_get_property_trivial(bus, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH,
                                                    PYLOCKER_INTERFACE, name, &error, 't', &value), >=, 0);
        return value;
}

unsigned count_locks(sd_bus *bus) {
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        unsigned n = 0;
        int r;

        g_assert_cmpint(locker_call_method(bus, "ListLocks", &error, &reply, NULL), >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "(sassstbtt)"), >, 0);
        while ((r = sd_bus_message_at_end(reply, 0)) == 0) {
                g_assert_cmpint(sd_bus_message_skip(reply, "(sassstbtt)"), >, 0);
                n++;
        }
        g_assert_cmpint(r, >, 0);
        sd_bus_message_unref(reply);
        return n;
}
