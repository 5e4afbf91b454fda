/* What one local user must not be able to do to everyone else, against a real pylockerd: stall the
 * loop with a huge request, pass a name off as another client, make tokens go back, and settings
 * that would disarm a limit; and what a client that does not read leaves queued, as the statistics
 * show it. Latencies are asserted only as generous bounds. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "harness.h"
#include "wire-test.h"

/* A call of another client while the attack runs must be answered within this long. */
#define HEALTHY_BOUND_USEC (2 * SEC)

static void acquire_answered_within_bound(sd_bus *bus, const char *path) {
        g_autofree char *id = NULL;
        int64_t start = g_get_monotonic_time();

        id = acquire_ok(bus, PATHS(path), NULL);
        g_test_message("healthy Acquire answered in %" G_GINT64_FORMAT " ms", (g_get_monotonic_time() - start) / 1000);
        g_assert_cmpint(g_get_monotonic_time() - start, <, HEALTHY_BOUND_USEC);
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        AsyncCall *call = userdata;

        call->reply = sd_bus_message_ref(m);
        call->done = true;
        return 0;
}

/* Sends member with an array of n copies of one string where the method takes its string array. */
static void send_huge_array(sd_bus *bus, const char *member, size_t n, AsyncCall *call) {
        sd_bus_message *m = NULL;

        g_assert_cmpint(locker_new_method_call(bus, &m, member), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "s", "hello"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "s"), >=, 0);
        for (size_t i = 0; i < n; i++)
                g_assert_cmpint(sd_bus_message_append_basic(m, 's', "nobody-here"), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
        if (strcmp(member, "Publish") == 0)
                g_assert_cmpint(sd_bus_message_append(m, "ta{sv}", (uint64_t) 0, 0), >=, 0);
        g_assert_cmpint(sd_bus_call_async(bus, &call->slot, m, on_reply, call, 120 * SEC), >=, 0);
        sd_bus_message_unref(m);
        g_assert_cmpint(sd_bus_flush(bus), >=, 0);
}

/* 400 000 receivers (about 5 MB) once took the loop 27 s, read whole (in quadratic time) before any
 * check: now the array is refused after MaxReceiversPerMessage + 1 reads, and another client's
 * Acquire sent right behind it is answered within the bound. The same for RemoveMessage's senders. */
static void test_huge_string_arrays(HarnessFixture *f, gconstpointer data) {
        sd_bus *attacker = harness_connect(&f->h), *healthy = harness_connect(&f->h);
        static const char *const members[] = { "Publish", "RemoveMessage" };

        for (size_t i = 0; i < G_N_ELEMENTS(members); i++) {
                AsyncCall call = {};

                send_huge_array(attacker, members[i], 400000, &call);
                /* Let the bus hand it over whole before the other client's call, which it would
                 * otherwise forward first. */
                harness_pump_for(&f->h, 500);
                acquire_answered_within_bound(healthy, members[i]);
                harness_pump_until(&f->h, &call.done, 5000);
                assert_reply_error(call.reply, "org.pylocker.Locker.Error.LimitsExceeded");
                async_call_clear(&call);
        }
}

/* Too many paths: InvalidArgs "Too many paths", not whatever the unread rest of the call gives. */
static void test_too_many_paths(HarnessFixture *f, gconstpointer data) {
        sd_bus *bus = harness_connect(&f->h);
        __attribute__((cleanup(sd_bus_error_free))) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL;

        g_assert_cmpint(locker_new_method_call(bus, &m, "Acquire"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "s"), >=, 0);
        for (size_t i = 0; i < 300; i++) {
                char p[32];

                g_snprintf(p, sizeof(p), "/p/%zu", i);
                g_assert_cmpint(sd_bus_message_append_basic(m, 's', p), >=, 0);
        }
        g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "ta{sv}", (uint64_t) 0, 0), >=, 0);
        g_assert_cmpint(sd_bus_call(bus, m, 10 * SEC, &error, NULL), <, 0);
        g_assert_cmpstr(error.name, ==, SD_BUS_ERROR_INVALID_ARGS);
        g_assert_nonnull(strstr(error.message, "Too many paths"));
        sd_bus_message_unref(m);
}

/* Paths with Unicode noncharacters: GDBus sends them (sd-bus would refuse to), pylockerd answers the
 * documented InvalidArgs. */
static void test_noncharacter_paths(HarnessFixture *f, gconstpointer data) {
        static const char *const paths[] = { "/x\xef\xbf\xbe", "/x\xef\xb7\x90" };  /* U+FFFE, U+FDD0 */
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) c = g_dbus_connection_new_for_address_sync(
                f->h.bus_address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);

        g_assert_no_error(error);
        for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
                const char *one[] = { paths[i], NULL };
                g_autoptr(GVariant) reply = NULL;
                g_autofree char *remote = NULL;

                g_clear_error(&error);
                reply = g_dbus_connection_call_sync(c, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE,
                                                    "Acquire", g_variant_new("(^asta{sv})", one, (guint64) 0, NULL),
                                                    NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
                g_assert_null(reply);
                g_assert_nonnull(error);
                remote = g_dbus_error_get_remote_error(error);
                g_test_message("%s", error->message);
                g_assert_cmpstr(remote, ==, SD_BUS_ERROR_INVALID_ARGS);
        }
}

/* A friendly name shaped like a client id would pass for that client as a receiver. */
static void test_name_like_id(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        static const char *const names[] = { ":1.1", "direct-1", "bridge-12", NULL };
        const char *b_id;

        g_assert_cmpint(sd_bus_get_unique_name(b, &b_id), >=, 0);
        for (size_t i = 0; names[i]; i++) {
                __attribute__((cleanup(sd_bus_error_free))) sd_bus_error error = SD_BUS_ERROR_NULL;

                g_assert_cmpint(locker_call_method(a, "Register", &error, NULL, "s", names[i]), <, 0);
                g_assert_cmpstr(error.name, ==, SD_BUS_ERROR_INVALID_ARGS);
        }
        {
                __attribute__((cleanup(sd_bus_error_free))) sd_bus_error error = SD_BUS_ERROR_NULL;

                g_assert_cmpint(locker_call_method(a, "Register", &error, NULL, "s", b_id), <, 0);
                g_assert_cmpstr(error.name, ==, SD_BUS_ERROR_INVALID_ARGS);
        }
        /* Names that only start like one are fine. */
        g_assert_cmpint(locker_call_method(a, "Register", NULL, NULL, "s", "direct-line"), >=, 0);
}

static void run_daemon_with_config(const char *config_text, int *ret_status, char **ret_stderr) {
        g_autofree char *dir = g_dir_make_tmp("pylocker-conf-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "pylockerd.conf", NULL);
        g_autoptr(GError) error = NULL;
        const char *argv[] = { g_getenv("PYLOCKERD"), "--address=unix:path=/nonexistent", "--config", path, NULL };

        g_assert_true(g_file_set_contents(path, config_text, -1, NULL));
        g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                                   ret_stderr, ret_status, &error));
        g_assert_no_error(error);
        g_unlink(path);
        g_rmdir(dir);
}

/* Settings that would disarm a limit are refused at start. */
static void test_settings_out_of_range(void) {
        static const struct {
                const char *text;
                const char *expected;
        } cases[] = {
                { "[Locker]\nMaxDirectConnections=0\n", "key MaxDirectConnections" },
                { "[Locker]\nMaxLockTime=213503982d\n", "key MaxLockTime" },
                { "[Locker]\nMaxLockTime=367d\n", "key MaxLockTime" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *err = NULL;
                int status;

                run_daemon_with_config(cases[i].text, &status, &err);
                g_test_message("stderr: %s", err);
                g_assert_false(g_spawn_check_wait_status(status, NULL));
                g_assert_nonnull(strstr(err, cases[i].expected));
        }
}

/* SetMaxLockTime refuses what the file would. */
static void test_set_max_lock_time_range(HarnessFixture *f, gconstpointer data) {
        sd_bus *bus = harness_connect(&f->h);
        __attribute__((cleanup(sd_bus_error_free))) sd_bus_error error = SD_BUS_ERROR_NULL;

        g_assert_cmpint(locker_call_method(bus, "SetMaxLockTime", &error, NULL, "t", UINT64_MAX - 1), <, 0);
        g_assert_cmpstr(error.name, ==, SD_BUS_ERROR_INVALID_ARGS);
        g_assert_cmpint(locker_call_method(bus, "SetMaxLockTime", NULL, NULL, "t", (uint64_t) 3600 * SEC), >=, 0);
}

/* SIGTERM stops the daemon within a second, and the direct socket goes with it. */
static void test_prompt_stop(HarnessFixture *f, gconstpointer data) {
        g_autofree char *direct = harness_direct_socket_path(&f->h);
        sd_bus *a = harness_connect(&f->h), *d = harness_connect_direct(&f->h);
        int64_t start;
        int status;

        g_free(acquire_ok(a, PATHS("x"), NULL));
        g_free(acquire_ok(d, PATHS("y"), NULL));
        start = g_get_monotonic_time();
        status = harness_stop_daemon(&f->h);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 1 * SEC);
        g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        g_assert_false(g_file_test(direct, G_FILE_TEST_EXISTS));
}

/* Starts pylockerd --user on the harness's bus, its clock stepped by step_sec, and returns its pid
 * once it answers. */
static GPid start_user_daemon(Harness *h, const char *state_home, int step_sec) {
        g_autofree char *step = g_strdup_printf("%d", step_sec);
        g_autofree char *runtime = g_build_filename(h->tmpdir, "user-runtime", NULL);
        g_autofree char *config = g_build_filename(h->tmpdir, "empty.conf", NULL);
        g_auto(GStrv) envp = g_get_environ();
        g_autoptr(GError) error = NULL;
        const char *argv[] = { g_getenv("PYLOCKERD"), "--user", "--config", config, NULL };
        sd_bus *probe;
        GPid pid;

        g_assert_cmpint(g_mkdir_with_parents(runtime, 0700), ==, 0);
        g_assert_true(g_file_set_contents(config, "", 0, NULL));
        envp = g_environ_setenv(envp, "DBUS_SESSION_BUS_ADDRESS", h->bus_address, TRUE);
        envp = g_environ_setenv(envp, "XDG_STATE_HOME", state_home, TRUE);
        envp = g_environ_setenv(envp, "XDG_RUNTIME_DIR", runtime, TRUE);
        envp = g_environ_setenv(envp, "PYLOCKER_TEST_CLOCK_STEP_SEC", step, TRUE);
        envp = g_environ_unsetenv(envp, "STATE_DIRECTORY");
        g_assert_true(g_spawn_async(NULL, (char **) argv, envp, G_SPAWN_DO_NOT_REAP_CHILD, test_child_die_with_parent,
                                    NULL, &pid, &error));
        g_assert_no_error(error);

        probe = harness_connect(h);
        for (int i = 0; i < 200; i++) {
                if (sd_bus_call_method(probe, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH, "org.freedesktop.DBus.Peer",
                                       "Ping", NULL, NULL, "") >= 0)
                        break;
                g_usleep(50 * 1000);
        }
        harness_disconnect(h, probe);
        return pid;
}

/* The user instance keeps a token ceiling too: with the clock stepped back ten minutes across a
 * restart, tokens still go up. */
static void test_user_tokens_clock_back(void) {
        Harness h = {};
        g_autofree char *state_home = NULL;
        uint64_t t1, t2;
        sd_bus *a;
        GPid pid;

        harness_start_bus_only(&h, NULL);
        state_home = g_build_filename(h.tmpdir, "state-home", NULL);

        pid = start_user_daemon(&h, state_home, 0);
        a = harness_connect(&h);
        g_free(acquire_ok(a, PATHS("t"), &t1));
        harness_disconnect(&h, a);
        g_assert_cmpint(kill(pid, SIGTERM), ==, 0);
        g_assert_cmpint(test_wait_exit(&pid, 20000), ==, 0);

        pid = start_user_daemon(&h, state_home, -600);
        a = harness_connect(&h);
        g_free(acquire_ok(a, PATHS("t"), &t2));
        harness_disconnect(&h, a);
        g_assert_cmpint(kill(pid, SIGTERM), ==, 0);
        g_assert_cmpint(test_wait_exit(&pid, 20000), ==, 0);

        g_assert_cmpuint(t2, >, t1);
        g_assert_true(g_file_test(state_home, G_FILE_TEST_IS_DIR));
        harness_stop(&h);
}

/* A D-Bus client that sends its first call in the same packet as BEGIN (libdbus and GDBus do) is
 * answered on the direct socket at once, not when it hangs up. */
static void test_call_pipelined_with_begin(HarnessFixture *f, gconstpointer data) {
        g_autofree char *path = harness_direct_socket_path(&f->h);
        g_autofree char *auth = g_strdup_printf("AUTH EXTERNAL %x\r\nBEGIN\r\n", 0);
        g_autoptr(GDBusMessage) call = g_dbus_message_new_method_call(NULL, PYLOCKER_OBJECT_PATH,
                                                                      "org.freedesktop.DBus.Peer", "Ping");
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) packet = g_string_new("");
        g_autofree guchar *blob = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[4096];
        gsize blob_size;
        size_t got = 0;
        int64_t start;
        int fd;

        /* The uid in hex digits of its decimal text, as EXTERNAL has it. */
        {
                g_autofree char *uid = g_strdup_printf("%u", (unsigned) getuid());
                g_autoptr(GString) hex = g_string_new("");

                for (const char *p = uid; *p; p++)
                        g_string_append_printf(hex, "%02x", (unsigned char) *p);
                g_free(auth);
                auth = g_strdup_printf("AUTH EXTERNAL %s\r\nBEGIN\r\n", hex->str);
        }
        g_dbus_message_set_serial(call, 1);
        blob = g_dbus_message_to_blob(call, &blob_size, G_DBUS_CAPABILITY_FLAGS_NONE, &error);
        g_assert_no_error(error);
        g_string_append_c(packet, 0);
        g_string_append(packet, auth);
        g_string_append_len(packet, (const char *) blob, (gssize) blob_size);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
        g_assert_cmpint(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(send(fd, packet->str, packet->len, MSG_NOSIGNAL), ==, (ssize_t) packet->len);

        /* "OK <guid>\r\n", then the method return: a D-Bus message of type 2. */
        start = g_get_monotonic_time();
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                const char *nl;
                ssize_t n;

                g_assert_cmpint(g_get_monotonic_time() - start, <, HEALTHY_BOUND_USEC);
                if (poll(&p, 1, 100) <= 0)
                        continue;
                n = recv(fd, buf + got, sizeof(buf) - got, 0);
                g_assert_cmpint(n, >, 0);
                got += (size_t) n;
                nl = memchr(buf, '\n', got);
                if (nl && (size_t) (nl - buf) + 1 + 2 <= got) {
                        g_assert_true(g_str_has_prefix(buf, "OK "));
                        g_assert_cmpint(buf[nl - buf + 2], ==, 2);  /* METHOD_RETURN */
                        break;
                }
        }
        close(fd);
}

/* Publishes n messages of size bytes to one receiver; returns how many were taken before the first
 * error, whose name goes to *ret_error (g_free; NULL: none). Each call answered within the bound. */
static unsigned publish_many(sd_bus *bus, const char *to, unsigned n, size_t size, char **ret_error) {
        g_autofree char *text = g_malloc(size + 1);

        memset(text, 'm', size);
        text[size] = 0;
        *ret_error = NULL;
        for (unsigned i = 0; i < n; i++) {
                __attribute__((cleanup(sd_bus_error_free))) sd_bus_error error = SD_BUS_ERROR_NULL;
                const char *receivers[] = { to, NULL };
                sd_bus_message *m = NULL;
                int64_t start = g_get_monotonic_time();
                int r;

                g_assert_cmpint(locker_new_method_call(bus, &m, "Publish"), >=, 0);
                g_assert_cmpint(sd_bus_message_append(m, "s", text), >=, 0);
                g_assert_cmpint(sd_bus_message_append_strv(m, (char **) receivers), >=, 0);
                g_assert_cmpint(sd_bus_message_append(m, "ta{sv}", (uint64_t) 0, 1, "to_self", "b", 0), >=, 0);
                r = sd_bus_call(bus, m, 10 * SEC, &error, NULL);
                sd_bus_message_unref(m);
                g_assert_cmpint(g_get_monotonic_time() - start, <, HEALTHY_BOUND_USEC);
                if (r < 0) {
                        *ret_error = g_strdup(error.name);
                        return i;
                }
        }
        return n;
}

/* A direct D-Bus peer that never reads: signals for it are queued up to MaxQueuedBytesPerConnection
 * (16 MiB), then it is dropped, its name with it; the publisher is answered all along. */
static void test_peer_that_never_reads_is_dropped(HarnessFixture *f, gconstpointer data) {
        sd_bus *sink = harness_connect_direct(&f->h), *publisher = harness_connect(&f->h);
        g_autofree char *error = NULL;
        unsigned n;

        g_assert_cmpint(locker_call_method(sink, "Register", NULL, NULL, "s", "sink"), >=, 0);
        /* 64 MiB of MessagePublished for the sink, which never reads again. */
        n = publish_many(publisher, "sink", 1000, 64000, &error);
        {
                g_autofree char *status_path = g_strdup_printf("/proc/%d/status", (int) f->h.daemon_pid);
                g_autofree char *status = NULL;
                const char *rss;

                g_assert_true(g_file_get_contents(status_path, &status, NULL, NULL));
                rss = strstr(status, "VmRSS:");
                g_test_message("published %u, then %s; daemon %.*s", n, error, rss ? (int) strcspn(rss, "\n") : 0,
                               rss ? rss : "");
        }
        g_assert_cmpuint(n, <, 1000);
        g_assert_cmpstr(error, ==, "org.pylocker.Locker.Error.NotFound");
        /* Between the cap and its double: what the kernel's socket buffers took aside. */
        g_assert_cmpuint(n, >=, 200);
        g_assert_cmpuint(n, <=, 600);
}

/* SIGTERM exits within a second even while a peer that never reads has megabytes queued. */
static void test_stop_with_peer_that_never_reads(HarnessFixture *f, gconstpointer data) {
        g_autofree char *direct = harness_direct_socket_path(&f->h);
        sd_bus *sink = harness_connect_direct(&f->h), *publisher = harness_connect(&f->h);
        g_autofree char *error = NULL;
        int64_t start;
        int status;

        g_assert_cmpint(locker_call_method(sink, "Register", NULL, NULL, "s", "sink"), >=, 0);
        g_assert_cmpuint(publish_many(publisher, "sink", 100, 64000, &error), ==, 100);
        start = g_get_monotonic_time();
        status = harness_stop_daemon(&f->h);
        g_test_message("stopped in %" G_GINT64_FORMAT " µs", g_get_monotonic_time() - start);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 1 * SEC);
        g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        g_assert_false(g_file_test(direct, G_FILE_TEST_EXISTS));
}

/* One value of GetStatistics, asked by bus. */
static uint64_t get_statistic(sd_bus *bus, const char *key) {
        sd_bus_message *reply = NULL;
        uint64_t value = UINT64_MAX;
        const char *k;

        g_assert_cmpint(locker_call_method(bus, "GetStatistics", NULL, &reply, ""), >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "{sv}"), >, 0);
        while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                g_assert_cmpint(sd_bus_message_read(reply, "s", &k), >, 0);
                if (g_str_equal(k, key))
                        g_assert_cmpint(sd_bus_message_read(reply, "v", "t", &value), >, 0);
                else
                        g_assert_cmpint(sd_bus_message_skip(reply, "v"), >, 0);
                g_assert_cmpint(sd_bus_message_exit_container(reply), >, 0);
        }
        sd_bus_message_unref(reply);
        g_assert_cmpuint(value, !=, UINT64_MAX);
        return value;
}

/* queued_bytes drops to 0 within 5 s, while sink (a D-Bus peer, or NULL) reads what comes. */
static void wait_nothing_queued(sd_bus *bus, sd_bus *sink) {
        for (int64_t deadline = g_get_monotonic_time() + 5 * SEC;;) {
                if (sink)
                        while (sd_bus_process(sink, NULL) > 0)
                                ;
                if (get_statistic(bus, "queued_bytes") == 0)
                        return;
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_usleep(10 * 1000);
        }
}

#define SINK_MESSAGE_SIZE 64000

/* Publishes 64 kB messages to "sink", which does not read, until some wait in the daemon: past what
 * the socket's buffer takes (sd-bus asks for 8 MiB of it, the wire server takes the default), at
 * most max_messages. Returns how many. */
static unsigned fill_sink(sd_bus *publisher, unsigned max_messages) {
        unsigned n = 0;
        uint64_t queued;

        do {
                g_autofree char *error = NULL;

                g_assert_cmpuint(n, <, max_messages);
                g_assert_cmpuint(publish_many(publisher, "sink", 10, SINK_MESSAGE_SIZE, &error), ==, 10);
                n += 10;
                queued = get_statistic(publisher, "queued_bytes");
        } while (queued == 0);
        g_test_message("%u published, %" G_GUINT64_FORMAT " bytes queued for the sink", n, queued);
        /* Never more than was published, headers and all. */
        g_assert_cmpuint(queued, <, n * (SINK_MESSAGE_SIZE + 1024));
        return n;
}

/* A wire client that does not read: its output buffer is the gauge, until it reads or goes. */
static void test_queued_bytes_wire(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) sink = wire_test_connect(&f->h, "sink");
        sd_bus *publisher = harness_connect(&f->h);

        unsigned n;

        g_assert_cmpuint(get_statistic(publisher, "queued_bytes"), ==, 0);
        /* Within the 4 MiB it may have queued before it is dropped. */
        n = fill_sink(publisher, 60);
        for (unsigned i = 0; i < n; i++) {
                g_auto(WireTestFrame) event = {};

                wire_test_expect_event(sink, WIRE_MESSAGE_PUBLISHED, &event);
        }
        wait_nothing_queued(publisher, NULL);

        (void) fill_sink(publisher, 60);
        g_clear_pointer(&sink, wire_test_client_free);
        wait_nothing_queued(publisher, NULL);
}

/* The same for a D-Bus peer on the direct socket: the estimate its cap is checked against. */
static void test_queued_bytes_peer(HarnessFixture *f, gconstpointer data) {
        sd_bus *sink = harness_connect_direct(&f->h), *publisher = harness_connect(&f->h);

        g_assert_cmpint(locker_call_method(sink, "Register", NULL, NULL, "s", "sink"), >=, 0);
        g_assert_cmpuint(get_statistic(publisher, "queued_bytes"), ==, 0);
        /* Within MaxQueuedBytesPerConnection (16 MiB) past the socket's buffer. */
        (void) fill_sink(publisher, 500);
        wait_nothing_queued(publisher, sink);

        (void) fill_sink(publisher, 500);
        harness_disconnect(&f->h, sink);
        wait_nothing_queued(publisher, NULL);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        harness_test_add("/hardening/huge-arrays/others-served", NULL, test_huge_string_arrays);
        harness_test_add("/hardening/paths/too-many", NULL, test_too_many_paths);
        harness_test_add("/hardening/paths/noncharacters", NULL, test_noncharacter_paths);
        harness_test_add("/hardening/names/like-an-id", NULL, test_name_like_id);
        harness_test_add("/hardening/settings/set-max-lock-time", NULL, test_set_max_lock_time_range);
        g_test_add_func("/hardening/settings/out-of-range", test_settings_out_of_range);
        harness_test_add("/hardening/stop/prompt", NULL, test_prompt_stop);
        g_test_add_func("/hardening/tokens/user-instance-clock-back", test_user_tokens_clock_back);
        harness_test_add("/hardening/direct/call-pipelined-with-begin", NULL, test_call_pipelined_with_begin);
        harness_test_add("/hardening/direct/peer-that-never-reads-is-dropped", NULL,
                         test_peer_that_never_reads_is_dropped);
        harness_test_add("/hardening/stop/peer-that-never-reads", NULL, test_stop_with_peer_that_never_reads);
        harness_test_add("/hardening/stats/queued-bytes-wire", NULL, test_queued_bytes_wire);
        harness_test_add("/hardening/stats/queued-bytes-peer", NULL, test_queued_bytes_peer);
        return g_test_run();
}
