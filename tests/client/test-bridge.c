/* The TCP bridge against a real pylockerd: a remote locker (the library) and bus clients in one lock
 * and message namespace, over loopback and between two network namespaces; connections that must be
 * refused (wrong secret, plain text, random bytes, TLS without the key, too slow, too many, too big)
 * while a healthy remote client goes on working; a killed remote client's locks; the secret's checks;
 * socket activation; the statistics, the same through it, the direct socket and D-Bus. */
#undef G_DISABLE_ASSERT
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "bridge-psk.h"
#include "bridge-tls.h"
#include "client-util.h"
#include "wire-test.h"

#define SECRET "correct horse battery staple 42"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus_message, sd_bus_message_unref)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(sd_bus_error, sd_bus_error_free)

typedef struct Fixture {
        Harness h;
        int port;
        char *secret_file;
        char *remote;           /* 127.0.0.1:port */
} Fixture;

static char *write_file(const char *dir, const char *name, const char *text, mode_t mode) {
        char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(path, text, -1, &error));
        g_assert_cmpint(chmod(path, mode), ==, 0);
        return path;
}

/* The bus, then pylockerd with the bridge on 127.0.0.1 and [Bridge] settings from config_text. */
static void fixture_setup(Fixture *f, gconstpointer data) {
        const char *config_text = data ?: "";
        g_autofree char *config = NULL, *config_arg = NULL, *bridge_arg = NULL, *secret_arg = NULL;

        harness_start_bus_only(&f->h, NULL);
        f->port = test_free_tcp_port(AF_INET);
        f->remote = g_strdup_printf("127.0.0.1:%d", f->port);
        f->secret_file = write_file(f->h.tmpdir, "secret", SECRET "\n", 0600);
        config = write_file(f->h.tmpdir, "bridge.conf", config_text, 0644);
        config_arg = g_strdup_printf("--config=%s", config);
        bridge_arg = g_strdup_printf("--bridge=%s", f->remote);
        secret_arg = g_strdup_printf("--secret-file=%s", f->secret_file);
        harness_start_daemon(&f->h, (const char *const[]) { config_arg, bridge_arg, secret_arg, NULL });
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        harness_stop(&f->h);
        g_free(f->secret_file);
        g_free(f->remote);
}

static int remote_open(const char *remote, const char *secret_file, const char *name, PylockerLocker **ret,
                       PylockerError *error) {
        PylockerLockerOptions o = PYLOCKER_LOCKER_OPTIONS_INIT;

        o.transport = PYLOCKER_TRANSPORT_REMOTE;
        o.remote = remote;
        o.secret_file = secret_file;
        o.name = name;
        return pylocker_locker_open(&o, ret, error);
}

static PylockerLocker *remote_open_ok(Fixture *f, const char *name) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLocker *l = NULL;
        int r = remote_open(f->remote, f->secret_file, name, &l, &error);

        if (r < 0)
                g_error("remote open: %d %s", r, error.message);
        return l;
}

/* A lock taken and given back through it, at once. */
static void assert_remote_works(PylockerLocker *l) {
        PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;

        o.flags |= PYLOCKER_ACQUIRE_NONBLOCKING;
        g_assert_cmpint(pylocker_locker_acquire(l, PATHS("/healthy"), &o, &lock, &error), ==, 0);
        g_assert_cmpint(pylocker_lock_release(lock, &error), ==, 1);
        pylocker_lock_unref(lock);
}

static const PylockerClientInfo *find_client(PylockerClientInfo *clients, size_t n, const char *id) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(clients[i].client_id, id) == 0)
                        return &clients[i];
        return NULL;
}

static int tcp_connect(const char *source, const char *host, int port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        if (source) {
                struct sockaddr_in src = { .sin_family = AF_INET };

                g_assert_cmpint(inet_pton(AF_INET, source, &src.sin_addr), ==, 1);
                g_assert_cmpint(bind(fd, (struct sockaddr *) &src, sizeof(src)), ==, 0);
        }
        g_assert_cmpint(inet_pton(AF_INET, host, &sa.sin_addr), ==, 1);
        g_assert_cmpint(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        return fd;
}

/* Whether the server closes fd within ms, without our sending anything more. */
static bool closed_within(int fd, int ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char buf[4096];

        for (gint64 deadline = g_get_monotonic_time() + ms * 1000; g_get_monotonic_time() < deadline;) {
                ssize_t n;

                if (poll(&p, 1, (int) MAX((deadline - g_get_monotonic_time()) / 1000, 1)) <= 0)
                        continue;
                n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno == ECONNRESET))
                        return true;
        }
        return false;
}

/* --- tests --- */

static void test_contend_and_hand_over(Fixture *f, gconstpointer data) {
        PylockerLocker *remote = remote_open_ok(f, "remote-worker");
        PylockerError error = PYLOCKER_ERROR_INIT;
        sd_bus *bus = harness_connect(&f->h);
        PylockerClientInfo *clients = NULL;
        const PylockerClientInfo *me;
        PylockerLock *lock = NULL;
        AsyncCall call = {};
        AsyncResult result = {};
        g_autofree char *bus_lock = NULL;
        size_t n = 0;

        g_assert_cmpint(pylocker_locker_is_connected(remote), ==, 1);
        g_assert_cmpint(pylocker_locker_is_direct(remote), ==, 0);
        g_assert_true(g_str_has_prefix(pylocker_locker_get_client_id(remote), "bridge-"));

        /* ListClients: transport "bridge", the overflow uid, no pid, its registered name. */
        g_assert_cmpint(pylocker_locker_list_clients(remote, &clients, &n, &error), ==, 0);
        me = find_client(clients, n, pylocker_locker_get_client_id(remote));
        g_assert_nonnull(me);
        g_assert_cmpstr(me->transport, ==, "bridge");
        g_assert_cmpuint(me->uid, ==, 65534);
        g_assert_cmpuint(me->pid, ==, 0);
        g_assert_cmpstr(me->name, ==, "remote-worker");
        pylocker_client_info_array_free(clients, n);

        /* The remote client holds the path; the bus client waits for it and gets it on release. */
        g_assert_cmpint(pylocker_locker_acquire_path(remote, "/shared/resource", NULL, &lock, &error), ==, 0);
        g_assert_cmpuint(count_locks(bus), ==, 1);
        acquire_async(bus, &call,
                      &(AcquireArgs) { .paths = PATHS("/shared/resource"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        g_assert_false(call.done);
        g_assert_cmpuint(get_property_u(bus, "WaiterCount"), ==, 1);
        g_assert_cmpint(pylocker_lock_release(lock, &error), ==, 1);
        g_clear_pointer(&lock, pylocker_lock_unref);
        harness_pump_until(&f->h, &call.done, 5000);
        bus_lock = reply_lock_id(call.reply, NULL);
        async_call_clear(&call);

        /* And back: the bus client holds it, the remote one waits. */
        g_assert_cmpint(pylocker_locker_acquire_async(remote, PATHS("/shared/resource"), NULL, on_acquire_result,
                                                      &result, &error), ==, 0);
        test_pump_for((PylockerLocker *[]) { remote, NULL }, 100);
        g_assert_false(result.done);
        g_assert_cmpint(release(bus, bus_lock, NULL), ==, 1);
        test_pump_until((PylockerLocker *[]) { remote, NULL }, &result.done, 5000);
        g_assert_cmpint(result.r, ==, 0);
        g_assert_cmpint(pylocker_lock_is_held(result.lock), ==, 1);

        /* No handles over TCP, and no management from another machine. */
        {
                PylockerLock *handle_lock = NULL;
                int handle = -1;

                g_assert_cmpint(pylocker_locker_acquire_handle(remote, PATHS("/handle"), NULL, &handle_lock, &handle,
                                                               &error), ==, -EOPNOTSUPP);
                g_assert_cmpint(pylocker_locker_force_release(remote, pylocker_lock_get_id(result.lock), &error), ==,
                                -EACCES);
                g_assert_cmpint(pylocker_locker_is_connected(remote), ==, 1);
        }

        /* Closing the remote locker releases its lock at once. */
        pylocker_locker_unref(remote);
        for (int waited = 0; count_locks(bus) > 0; waited += 10) {
                g_assert_cmpint(waited, <, 2000);
                g_usleep(10 * 1000);
        }
        async_result_clear(&result);
}

/* The statistics of one locker, by key, the values that move on their own (uptime) aside. */
static void assert_same_statistics(const PylockerStatistics *a, const PylockerStatistics *b) {
        g_assert_cmpuint(a->n_values, ==, b->n_values);
        for (size_t i = 0; i < a->n_values; i++) {
                g_assert_cmpstr(a->values[i].name, ==, b->values[i].name);
                if (g_str_equal(a->values[i].name, "uptime_usec"))
                        g_assert_cmpuint(a->values[i].value, <=, b->values[i].value);
                else
                        g_assert_cmpuint(a->values[i].value, ==, b->values[i].value);
        }
        g_assert_cmpuint(a->n_histograms, ==, b->n_histograms);
        for (size_t i = 0; i < a->n_histograms; i++) {
                g_assert_cmpstr(a->histograms[i].name, ==, b->histograms[i].name);
                g_assert_cmpuint(a->histograms[i].count, ==, b->histograms[i].count);
                g_assert_cmpuint(a->histograms[i].sum_usec, ==, b->histograms[i].sum_usec);
                g_assert_cmpmem(a->histograms[i].buckets, a->histograms[i].n_buckets * sizeof(uint64_t),
                                b->histograms[i].buckets, b->histograms[i].n_buckets * sizeof(uint64_t));
        }
        g_assert_cmpuint(a->n_contended, ==, b->n_contended);
        for (size_t i = 0; i < a->n_contended; i++) {
                g_assert_cmpstr(a->contended[i].path, ==, b->contended[i].path);
                g_assert_cmpuint(a->contended[i].waits, ==, b->contended[i].waits);
        }
}

static uint64_t statistic(const PylockerStatistics *s, const char *name) {
        for (size_t i = 0; i < s->n_values; i++)
                if (g_str_equal(s->values[i].name, name))
                        return s->values[i].value;
        g_error("no statistic %s", name);
}

/* The library reads the same statistics over D-Bus, the direct socket's wire protocol and the
 * bridge. */
static void test_statistics(Fixture *f, gconstpointer data) {
        g_autofree char *socket = harness_direct_socket_path(&f->h);
        PylockerLocker *on_bus = test_locker_open(&f->h, "stats-bus", NULL);
        PylockerLocker *direct = test_locker_open(&f->h, "stats-direct", socket);
        PylockerLocker *remote = remote_open_ok(f, "stats-remote");
        PylockerStatistics *s[3] = {};
        PylockerError error = PYLOCKER_ERROR_INIT;
        sd_bus *bus = harness_connect(&f->h);
        g_autofree char *held = NULL;
        AsyncResult result = {};

        g_assert_false(pylocker_locker_is_direct(on_bus));
        g_assert_true(pylocker_locker_is_direct(direct));

        /* Something to count: a wait through the bridge for a path the bus holds. */
        held = acquire_ok(bus, PATHS("/stats/contended"), NULL);
        g_assert_cmpint(pylocker_locker_acquire_async(remote, PATHS("/stats/contended"), NULL, on_acquire_result,
                                                      &result, &error), ==, 0);
        test_pump_for((PylockerLocker *[]) { remote, NULL }, 100);
        g_assert_cmpint(release(bus, held, NULL), ==, 1);
        test_pump_until((PylockerLocker *[]) { remote, NULL }, &result.done, 5000);
        g_assert_cmpint(result.r, ==, 0);
        g_assert_cmpint(pylocker_lock_release(result.lock, &error), ==, 1);

        g_assert_cmpint(pylocker_locker_get_statistics(on_bus, &s[0], &error), ==, 0);
        g_assert_cmpint(pylocker_locker_get_statistics(direct, &s[1], &error), ==, 0);
        g_assert_cmpint(pylocker_locker_get_statistics(remote, &s[2], &error), ==, 0);
        assert_same_statistics(s[0], s[1]);
        assert_same_statistics(s[1], s[2]);

        g_assert_cmpuint(statistic(s[2], "grants"), ==, 2);
        g_assert_cmpuint(statistic(s[2], "waits"), ==, 1);
        g_assert_cmpuint(statistic(s[2], "clients_direct"), ==, 1);
        g_assert_cmpuint(statistic(s[2], "clients_bridge"), ==, 1);
        g_assert_cmpuint(statistic(s[2], "queued_bytes"), ==, 0);
        g_assert_cmpuint(s[2]->n_histograms, ==, 2);
        g_assert_cmpuint(s[2]->histograms[0].n_buckets, ==, 40);
        g_assert_cmpuint(s[2]->n_contended, ==, 1);
        g_assert_cmpstr(s[2]->contended[0].path, ==, "/stats/contended");

        for (size_t i = 0; i < G_N_ELEMENTS(s); i++)
                pylocker_statistics_free(s[i]);
        async_result_clear(&result);
        pylocker_locker_unref(remote);
        pylocker_locker_unref(direct);
        pylocker_locker_unref(on_bus);
}

typedef struct Received {
        bool flag;
        char *message;
        char *sender;
} Received;

static int on_message_published(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Received *r = userdata;
        const char *id, *sender, *message;
        uint64_t expires;

        g_assert_cmpint(sd_bus_message_read(m, "ssst", &id, &sender, &message, &expires), >=, 0);
        g_free(r->message);
        g_free(r->sender);
        r->message = g_strdup(message);
        r->sender = g_strdup(sender);
        r->flag = true;
        return 0;
}

static char *call_register(sd_bus *bus, const char *name) {
        g_autoptr(sd_bus_message) reply = NULL;
        const char *id;

        g_assert_cmpint(locker_call_method(bus, "Register", NULL, &reply, "s", name), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "s", &id), >=, 0);
        return g_strdup(id);
}

static void publish(sd_bus *bus, const char *message, const char *to) {
        g_autoptr(sd_bus_message) reply = NULL;
        g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;

        g_assert_cmpint(locker_call_method(bus, "Publish", &error, &reply, "sast" "a{sv}", message,
                                           to ? 1 : 0, to, UINT64_C(0), 0), >=, 0);
}

static void test_messages(Fixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) remote = wire_test_connect_bridge(f->port, SECRET, "remote-peer");
        sd_bus *bus = harness_connect(&f->h);
        g_autofree char *bus_id = call_register(bus, "bus-peer");
        g_auto(WireTestFrame) event = {}, reply = {};
        const char *receivers[] = { bus_id };
        Received at_bus = {};
        uint32_t serial;

        g_assert_true(g_str_has_prefix(remote->client_id, "bridge-"));
        g_assert_cmpint(locker_match_signal(bus, "MessagePublished", on_message_published, &at_bus), >=, 0);

        /* Bus → bridge peer, by its name. */
        publish(bus, "hello remote", "remote-peer");
        wire_test_expect_event(remote, WIRE_MESSAGE_PUBLISHED, &event);
        g_assert_cmpstr(event.m.message_published.message, ==, "hello remote");
        g_assert_cmpstr(event.m.message_published.sender, ==, bus_id);
        serial = wire_test_send(remote, WIRE_HAS_MESSAGE, 0,
                                &(WireMessage) { .message_ref = { .message = "hello remote" } });
        wire_test_expect(remote, serial, WIRE_VALUE, &reply);
        g_assert_cmpuint(reply.m.value.value, ==, 1);

        /* to_self: the publisher got its own copy. */
        harness_pump_until(&f->h, &at_bus.flag, 5000);
        g_assert_cmpstr(at_bus.message, ==, "hello remote");
        at_bus.flag = false;
        g_clear_pointer(&at_bus.message, g_free);
        g_clear_pointer(&at_bus.sender, g_free);

        /* Bridge peer → bus, by its client id. */
        serial = wire_test_send(remote, WIRE_PUBLISH, 0, &(WireMessage) {
                .publish = { .flags = WIRE_PUBLISH_TO_SELF | WIRE_PUBLISH_REPLACE, .message = "hello bus",
                             .receivers = receivers, .n_receivers = 1 } });
        wire_test_expect(remote, serial, WIRE_PUBLISHED, NULL);
        harness_pump_until(&f->h, &at_bus.flag, 5000);
        g_assert_cmpstr(at_bus.message, ==, "hello bus");
        g_assert_cmpstr(at_bus.sender, ==, remote->client_id);

        /* What a bridge peer may not do: manage, or ask for a handle (no descriptors cross TCP). */
        serial = wire_test_send(remote, WIRE_SET_MAX_LOCK_TIME, 0, &(WireMessage) { .usec = { 1000000 } });
        wire_test_expect_error(remote, serial, SD_BUS_ERROR_ACCESS_DENIED);
        serial = wire_test_send(remote, WIRE_ACQUIRE, 0, &(WireMessage) {
                .acquire = { .flags = WIRE_ACQUIRE_HANDLE, .paths = (const char *[]) { "/handle" }, .n_paths = 1 } });
        wire_test_expect_error(remote, serial, SD_BUS_ERROR_INVALID_ARGS);
        g_assert_cmpuint(count_locks(bus), ==, 0);
        /* The connection is still good after both. */
        serial = wire_test_send(remote, WIRE_LIST_LOCKS, 0, NULL);
        wire_test_expect(remote, serial, WIRE_LOCKS, NULL);

        g_free(at_bus.message);
        g_free(at_bus.sender);
}

/* pylockctl --remote: every verb that talks to pylockerd. */
static void test_pylockctl(Fixture *f, gconstpointer data) {
        sd_bus *bus = harness_connect(&f->h);
        g_autofree char *bus_id = call_register(bus, "cli-target");
        g_autofree char *held = acquire_ok(bus, PATHS("/cli/held"), NULL);
        g_autofree char *out = NULL, *err = NULL;
        g_autoptr(sd_bus_message) reply = NULL;
        g_autoptr(GError) gerror = NULL;
        const char *argv[] = { g_getenv("PYLOCKCTL"), "--remote", f->remote, "--secret-file", f->secret_file,
                               "listen", "--count", "1", NULL };
        GPid listener;
        int listen_out, status, has;
        char buf[512];
        ssize_t n;

#define CTL(out, err, ...) pylockctl_run(&f->h, out, err, "--remote", f->remote, "--secret-file", f->secret_file, \
                                         __VA_ARGS__, NULL)
        g_assert_cmpint(CTL(&out, NULL, "status"), ==, 0);
        g_assert_nonnull(strstr(out, "Connection: bridge"));
        g_clear_pointer(&out, g_free);

        g_assert_cmpint(CTL(NULL, NULL, "run", "/cli/path", "--", "sh", "-c", "test -n \"$PYLOCKER_LOCK_ID\""), ==, 0);
        g_assert_cmpint(CTL(NULL, NULL, "run", "--nonblock", "/cli/held", "--", "true"), ==, 75);

        g_assert_cmpint(CTL(&out, NULL, "locks"), ==, 0);
        g_assert_nonnull(strstr(out, held));
        g_clear_pointer(&out, g_free);
        g_assert_cmpint(CTL(&out, NULL, "clients", "--json"), ==, 0);
        g_assert_nonnull(strstr(out, "\"bridge\""));
        g_clear_pointer(&out, g_free);
        g_assert_cmpint(CTL(&out, NULL, "stats", "--json"), ==, 0);
        g_assert_nonnull(strstr(out, "\"clients_bridge\" : 1"));
        g_clear_pointer(&out, g_free);

        g_assert_cmpint(CTL(NULL, NULL, "publish", "--to", bus_id, "from the cli"), ==, 0);
        g_assert_cmpint(locker_call_method(bus, "HasMessage", NULL, &reply, "s", "from the cli"), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "b", &has), >=, 0);
        g_assert_true(has);

        /* listen: published to everyone until it has heard one. */
        g_assert_true(g_spawn_async_with_pipes(NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                               &listener, NULL, &listen_out, NULL, &gerror));
        g_assert_no_error(gerror);
        for (int waited = 0; waitpid(listener, &status, WNOHANG) == 0; waited += 200) {
                g_assert_cmpint(waited, <, 10000);
                publish(bus, "to everyone", NULL);
                g_usleep(200 * 1000);
        }
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        n = read(listen_out, buf, sizeof(buf) - 1);
        close(listen_out);
        g_assert_cmpint(n, >, 0);
        buf[n] = 0;
        g_assert_nonnull(strstr(buf, "to everyone"));

        /* Management stays local. */
        g_assert_cmpint(CTL(NULL, &err, "force-release", held), ==, 1);
        g_assert_nonnull(strstr(err, "org.pylocker.manage, which bridge clients never have"));
#undef CTL
}

/* Everything a healthy remote client must not notice. */
static void test_refused(Fixture *f, gconstpointer data) {
        PylockerLocker *healthy = remote_open_ok(f, "healthy");
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *wrong = write_file(f->h.tmpdir, "wrong", "a different secret, long enough\n", 0600);
        g_autofree char *port = g_strdup_printf("%d", f->port);
        g_autofree char *out = NULL, *err = NULL;
        PylockerLocker *l = NULL;
        uint8_t noise[4096];
        int fd, status;

        /* A wrong secret: the handshake fails, on both ends. */
        g_assert_cmpint(remote_open(f->remote, wrong, "intruder", &l, &error), ==, -ECONNREFUSED);
        g_assert_null(l);
        g_assert_nonnull(strstr(error.message, "TLS handshake"));
        assert_remote_works(healthy);

        /* Plain text D-Bus, straight onto the port. */
        fd = tcp_connect("127.0.0.2", "127.0.0.1", f->port);
        g_assert_cmpint(send(fd, "\0AUTH ANONYMOUS\r\nBEGIN\r\n", 24, MSG_NOSIGNAL), ==, 24);
        g_assert_true(closed_within(fd, 3000));
        close(fd);
        assert_remote_works(healthy);

        /* Random bytes. */
        for (size_t i = 0; i < sizeof(noise); i++)
                noise[i] = (uint8_t) g_random_int();
        fd = tcp_connect("127.0.0.3", "127.0.0.1", f->port);
        (void) send(fd, noise, sizeof(noise), MSG_NOSIGNAL);
        g_assert_true(closed_within(fd, 3000));
        close(fd);
        assert_remote_works(healthy);

        /* TLS with certificates only, no key: no common ground. */
        {
                const char *argv[] = { "timeout", "10", "gnutls-cli", "--insecure", "--port", port, "127.0.0.1", NULL };

                g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL,
                                           NULL, NULL, &out, &err, &status, NULL));
                g_test_message("gnutls-cli: %s%s", out, err);
                g_assert_true(WIFEXITED(status));
                g_assert_cmpint(WEXITSTATUS(status), ==, 1);          /* refused, not timed out (124) */
                /* Our alert, handshake_failure (40). */
                g_assert_nonnull(strstr(out, "Received alert [40]"));
        }
        assert_remote_works(healthy);

        /* A client that never finishes the handshake is cut off at HandshakeTimeout= (1s here). */
        fd = tcp_connect("127.0.0.4", "127.0.0.1", f->port);
        g_assert_false(closed_within(fd, 500));
        assert_remote_works(healthy);
        g_assert_true(closed_within(fd, 3000));
        close(fd);

        /* And the bytes before the handshake are capped: a huge "ClientHello" is cut off early. */
        fd = tcp_connect("127.0.0.5", "127.0.0.1", f->port);
        memset(noise, 0, sizeof(noise));
        noise[0] = 22;          /* a handshake record... */
        noise[1] = 3;
        noise[2] = 1;
        noise[3] = 0x40;        /* ...of 16 KiB that never completes */
        noise[4] = 0x00;
        for (int i = 0; i < 8; i++)
                (void) send(fd, noise, sizeof(noise), MSG_NOSIGNAL | MSG_DONTWAIT);
        g_assert_true(closed_within(fd, 900));
        close(fd);
        assert_remote_works(healthy);

        pylocker_locker_unref(healthy);
}

/* A peer that sends request after request, never reads a reply, and drops the connection: the daemon
 * must let go of it at once, not wait on replies nobody will read. */
static void test_unread_replies(Fixture *f, gconstpointer data) {
        sd_bus *bus = harness_connect(&f->h);
        g_autoptr(WireTestClient) c = wire_test_connect_bridge(f->port, SECRET, "unread");
        WireBuffer stream = {};
        gint64 start;
        size_t sent = 0;

        for (unsigned i = 0; i < 20000; i++)
                (void) wire_test_encode(c, &stream, WIRE_LIST_CLIENTS, 0, NULL);

        /* Keep our receive buffer small, so the daemon's replies back up quickly. */
        (void) setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &(int) { 4096 }, sizeof(int));
        g_assert_cmpint(fcntl(c->fd, F_SETFL, O_NONBLOCK), ==, 0);

        /* As much as goes in 2 seconds. */
        for (start = g_get_monotonic_time();
             sent < wire_buffer_length(&stream) && g_get_monotonic_time() < start + 2 * G_USEC_PER_SEC;) {
                struct pollfd p = { .fd = c->fd, .events = POLLOUT };
                ssize_t n = bridge_tls_send(c->tls, wire_buffer_peek(&stream) + sent,
                                            MIN(wire_buffer_length(&stream) - sent, (size_t) 16384));

                if (n == -EAGAIN) {
                        (void) poll(&p, 1, 100);
                        continue;
                }
                if (n < 0)
                        break;          /* the daemon gave up on us first */
                sent += (size_t) n;
        }
        g_test_message("sent %zu of %zu bytes of requests", sent, wire_buffer_length(&stream));
        g_assert_cmpuint(sent, >, 100000);

        /* Unread data makes the close a reset. */
        (void) setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &(struct linger) { .l_onoff = 1, .l_linger = 0 },
                          sizeof(struct linger));
        start = g_get_monotonic_time();
        g_clear_pointer(&c, wire_test_client_free);

        /* The daemon answers others at once, and the peer is gone. */
        g_assert_cmpuint(count_locks(bus), ==, 0);
        for (;;) {
                g_autoptr(sd_bus_message) reply = NULL;
                unsigned bridge_clients = 0;
                const char *id, *name, *transport;
                uint32_t uid, pid;

                g_assert_cmpint(locker_call_method(bus, "ListClients", NULL, &reply, ""), >=, 0);
                g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "(ssuus)"), >, 0);
                while (sd_bus_message_read(reply, "(ssuus)", &id, &name, &uid, &pid, &transport) > 0)
                        bridge_clients += strcmp(transport, "bridge") == 0;
                if (bridge_clients == 0)
                        break;
                g_assert_cmpint(g_get_monotonic_time() - start, <, 2 * G_USEC_PER_SEC);
                g_usleep(10 * 1000);
        }
        g_test_message("dropped %.1f ms after the reset", (g_get_monotonic_time() - start) / 1000.0);
        wire_buffer_done(&stream);
}

static void test_kill_client(Fixture *f, gconstpointer data) {
        sd_bus *bus = harness_connect(&f->h);
        AsyncCall call = {};
        int ready[2], status;
        gint64 killed_at;
        pid_t child;
        char c;

        g_assert_cmpint(pipe2(ready, O_CLOEXEC), ==, 0);
        child = fork();
        g_assert_cmpint(child, >=, 0);
        if (child == 0) {
                PylockerError error = PYLOCKER_ERROR_INIT;
                PylockerLocker *l = NULL;
                PylockerLock *lock = NULL;

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (remote_open(f->remote, f->secret_file, "doomed", &l, &error) < 0 ||
                    pylocker_locker_acquire_path(l, "/killed", NULL, &lock, &error) < 0)
                        _exit(1);
                (void) write(ready[1], "x", 1);
                for (;;)
                        pause();
        }
        close(ready[1]);
        g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
        close(ready[0]);

        /* The bus client waits for the remote child's lock. */
        g_assert_cmpuint(count_locks(bus), ==, 1);
        acquire_async(bus, &call, &(AcquireArgs) { .paths = PATHS("/killed"), .timeout_usec = 30 * SEC });
        harness_sync(&f->h);
        g_assert_false(call.done);

        killed_at = g_get_monotonic_time();
        g_assert_cmpint(kill(child, SIGKILL), ==, 0);
        g_assert_cmpint(waitpid(child, &status, 0), ==, child);
        g_assert_true(WIFSIGNALED(status));

        /* The kernel closes its connection; the daemon releases its lock at once, not at expiry. */
        harness_pump_until(&f->h, &call.done, 2000);
        g_test_message("handed over %.1f ms after the kill", (g_get_monotonic_time() - killed_at) / 1000.0);
        g_free(reply_lock_id(call.reply, NULL));
        async_call_clear(&call);
}

static void test_caps(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLocker *a = remote_open_ok(f, "a"), *b = remote_open_ok(f, "b"), *c = NULL;
        int held, refused;

        /* Per address: 2 from 127.0.0.1. */
        g_assert_cmpint(remote_open(f->remote, f->secret_file, "c", &c, &error), <, 0);
        g_assert_null(c);
        assert_remote_works(a);
        assert_remote_works(b);

        /* In total: 3, the third from another address, still handshaking. */
        held = tcp_connect("127.0.0.2", "127.0.0.1", f->port);
        g_assert_false(closed_within(held, 300));
        refused = tcp_connect("127.0.0.3", "127.0.0.1", f->port);
        g_assert_true(closed_within(refused, 1000));
        close(refused);

        /* A freed place can be taken again. */
        pylocker_locker_unref(b);
        for (int tries = 0;; tries++) {
                g_assert_cmpint(tries, <, 100);
                error = (PylockerError) PYLOCKER_ERROR_INIT;
                if (remote_open(f->remote, f->secret_file, "c", &c, &error) == 0)
                        break;
                g_usleep(20 * 1000);
        }
        assert_remote_works(c);

        close(held);
        pylocker_locker_unref(a);
        pylocker_locker_unref(c);
}

static void test_backoff(Fixture *f, gconstpointer data) {
        PylockerLocker *healthy = remote_open_ok(f, "healthy");
        int fd;

        /* Two failed handshakes from 127.0.0.9 (MaxFailedHandshakes=2)... */
        for (int i = 0; i < 2; i++) {
                fd = tcp_connect("127.0.0.9", "127.0.0.1", f->port);
                g_assert_cmpint(send(fd, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL), ==, 18);
                g_assert_true(closed_within(fd, 2000));
                close(fd);
        }
        /* ...and its next connection is closed before it says anything, for FailedHandshakeBackoff=1s. */
        fd = tcp_connect("127.0.0.9", "127.0.0.1", f->port);
        g_assert_true(closed_within(fd, 500));
        close(fd);
        /* Other addresses are not affected. */
        fd = tcp_connect("127.0.0.10", "127.0.0.1", f->port);
        g_assert_false(closed_within(fd, 300));
        close(fd);
        assert_remote_works(healthy);

        g_usleep(1200 * 1000);
        fd = tcp_connect("127.0.0.9", "127.0.0.1", f->port);
        g_assert_false(closed_within(fd, 300));
        close(fd);
        pylocker_locker_unref(healthy);
}

static void test_message_size(Fixture *f, gconstpointer data) {
        PylockerLocker *healthy = remote_open_ok(f, "healthy"), *big = remote_open_ok(f, "big");
        g_autoptr(WireTestClient) raw = wire_test_connect_bridge(f->port, SECRET, "raw");
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *path = g_strnfill(6000, 'p');
        g_auto(WireTestFrame) frame = {};
        PylockerLock *lock = NULL;

        path[0] = '/';
        /* WELCOME said MaxMessageSize=4096: the library does not send what the daemon would refuse. */
        g_assert_cmpuint(raw->welcome.max_frame_size, ==, 4096);
        g_assert_cmpint(pylocker_locker_acquire_path(big, path, NULL, &lock, &error), ==, -EDQUOT);
        g_assert_cmpint(pylocker_locker_is_connected(big), ==, 1);
        assert_remote_works(big);

        /* A frame over it all the same ends that connection, before its body is read, and only that one. */
        (void) wire_test_send(raw, WIRE_ACQUIRE, 0, &(WireMessage) {
                .acquire = { .paths = (const char *[]) { path }, .n_paths = 1 } });
        g_assert_true(wire_test_recv(raw, &frame, 5000));
        g_assert_cmpuint(frame.m.header.type, ==, WIRE_ERROR);
        g_assert_cmpuint(frame.m.header.serial, ==, 0);
        g_assert_cmpstr(frame.m.error.name, ==, SD_BUS_ERROR_LIMITS_EXCEEDED);
        wire_test_expect_eof(raw, 5000);
        assert_remote_works(healthy);
        pylocker_locker_unref(big);
        pylocker_locker_unref(healthy);
}

static void test_ipv6(Fixture *f, gconstpointer data) {
        g_autofree char *remote = g_strdup_printf("[::1]:%d", f->port);
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerClientInfo *clients = NULL;
        PylockerLocker *l = NULL;
        size_t n = 0;

        if (remote_open(remote, f->secret_file, NULL, &l, &error) < 0)
                g_error("IPv6 remote: %s", error.message);
        assert_remote_works(l);
        /* No name registered: the address shows in its place. */
        g_assert_cmpint(pylocker_locker_list_clients(l, &clients, &n, &error), ==, 0);
        g_assert_true(g_str_has_prefix(find_client(clients, n, pylocker_locker_get_client_id(l))->name, "[::1]:"));
        pylocker_client_info_array_free(clients, n);
        pylocker_locker_unref(l);
}

static void ipv6_setup(Fixture *f, gconstpointer data) {
        g_autofree char *bridge_arg = NULL, *secret_arg = NULL;

        harness_start_bus_only(&f->h, NULL);
        f->port = test_free_tcp_port(AF_INET6);
        f->remote = g_strdup_printf("[::1]:%d", f->port);
        f->secret_file = write_file(f->h.tmpdir, "secret", SECRET "\n", 0600);
        bridge_arg = g_strdup_printf("--bridge=[::1]:%d", f->port);
        secret_arg = g_strdup_printf("--secret-file=%s", f->secret_file);
        harness_start_daemon(&f->h, (const char *const[]) { bridge_arg, secret_arg, NULL });
}

/* pylockerd refuses to start with a bad secret, saying why. */
static void test_secret_checks(Fixture *f, gconstpointer data) {
        g_autofree char *shorter = write_file(f->h.tmpdir, "short", "only 15 bytes!!\n", 0600);
        g_autofree char *readable = write_file(f->h.tmpdir, "readable", SECRET "\n", 0644);
        g_autofree char *bridge_arg = g_strdup_printf("--bridge=127.0.0.1:%d", test_free_tcp_port(AF_INET));
        struct {
                const char *secret;
                const char *message;
        } cases[] = {
                { shorter, "too short: 15 bytes, at least 16" },
                { readable, "accessible to group or others (mode 0644)" },
                { NULL, "needs a shared secret" },
                { "/nonexistent/secret", "Cannot open the secret file" },
        };

        /* [Bridge] settings are checked like [Locker]'s: file, line and key. */
        {
                g_autofree char *config = write_file(f->h.tmpdir, "bad.conf",
                                                     "[Locker]\nMaxLockTime=1min\n[Bridge]\n# comment\nMaxConnections=lots\n",
                                                     0644);
                g_autofree char *config_arg = g_strdup_printf("--config=%s", config);
                g_autofree char *secret_arg = g_strdup_printf("--secret-file=%s", shorter);
                const char *argv[] = { g_getenv("PYLOCKERD"), "--address", f->h.bus_address, config_arg, NULL };
                const char *argv2[] = { g_getenv("PYLOCKERD"), "--address", f->h.bus_address, "--bridge=3000",
                                        secret_arg, NULL };
                g_autofree char *err = NULL, *err2 = NULL;
                int status;

                g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                                           &err, &status, NULL));
                g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
                g_assert_nonnull(strstr(err, "bad.conf:5: key MaxConnections: MaxConnections=lots is not"));
                g_assert_true(g_spawn_sync(NULL, (char **) argv2, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                                           &err2, &status, NULL));
                g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
                g_assert_nonnull(strstr(err2, "Listen=3000 is not an address and port"));
        }

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *secret_arg = cases[i].secret ? g_strdup_printf("--secret-file=%s", cases[i].secret) :
                                                                g_strdup("--log-level=info");
                const char *argv[] = { g_getenv("PYLOCKERD"), "--address", f->h.bus_address, "--no-private-socket",
                                       bridge_arg, secret_arg, NULL };
                g_auto(GStrv) envp = g_environ_unsetenv(g_get_environ(), "CREDENTIALS_DIRECTORY");
                g_autofree char *err = NULL;
                int status;

                g_assert_true(g_spawn_sync(NULL, (char **) argv, envp, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                                           &err, &status, NULL));
                g_test_message("%s", err);
                g_assert_true(WIFEXITED(status));
                g_assert_cmpint(WEXITSTATUS(status), ==, 1);
                g_assert_nonnull(strstr(err, cases[i].message));
        }
}

static void bus_only_setup(Fixture *f, gconstpointer data) {
        harness_start_bus_only(&f->h, NULL);
}

/* systemd-socket-activate holds the bridge port and starts pylockerd on the first connection: a
 * remote locker's. The secret comes as a systemd credential. */
static void test_socket_activation(Fixture *f, gconstpointer data) {
        g_autofree char *credentials = g_build_filename(f->h.tmpdir, "credentials", NULL);
        g_autofree char *notify = harness_notify_socket_path(&f->h);
        g_autofree char *notify_env = g_strdup_printf("NOTIFY_SOCKET=%s", notify);
        g_autofree char *credentials_env = g_strdup_printf("CREDENTIALS_DIRECTORY=%s", credentials);
        g_autofree char *secret = NULL, *config = NULL, *listen = NULL;
        g_autoptr(GError) gerror = NULL;
        PylockerLocker *l;

        f->port = test_free_tcp_port(AF_INET);
        f->remote = g_strdup_printf("127.0.0.1:%d", f->port);
        listen = g_strdup(f->remote);
        g_assert_cmpint(g_mkdir(credentials, 0700), ==, 0);
        secret = write_file(credentials, "pylocker.secret", SECRET, 0400);
        f->secret_file = write_file(f->h.tmpdir, "client-secret", SECRET, 0600);
        config = write_file(f->h.tmpdir, "empty.conf", "", 0644);
        harness_notify_open(&f->h);
        {
                const char *argv[] = {
                        "systemd-socket-activate", "-l", listen, "--fdname=bridge", "-E", notify_env,
                        "-E", credentials_env, g_getenv("PYLOCKERD"), "--address", f->h.bus_address,
                        "--config", config, "--no-private-socket", NULL,
                };

                g_assert_true(g_spawn_async(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                            NULL, NULL, &f->h.daemon_pid, &gerror));
                g_assert_no_error(gerror);
        }

        /* Wait for the port; then the first connection execs the daemon, which serves it. */
        for (int waited = 0;; waited += 10) {
                /* A probe would be a connection: look at the listening table instead. */
                g_autofree char *tcp = NULL;
                g_autofree char *needle = g_strdup_printf(":%04X 00000000:0000 0A", f->port);

                g_assert_true(g_file_get_contents("/proc/net/tcp", &tcp, NULL, NULL));
                if (strstr(tcp, needle))
                        break;
                g_assert_cmpint(waited, <, 10000);
                g_usleep(10 * 1000);
        }

        l = remote_open_ok(f, "first");
        harness_wait_notify(&f->h, "READY=1", 10000);
        assert_remote_works(l);
        g_assert_true(g_str_has_prefix(pylocker_locker_get_client_id(l), "bridge-"));
        pylocker_locker_unref(l);
}

/* Two network namespaces joined by a veth pair: pylockerd in one, the remote client in the other. */
typedef struct Netns {
        char *a, *b;
        bool made;
} Netns;

static int run_ip(const char *args, char **ret_err) {
        g_autofree char *command = g_strdup_printf("ip %s", args);
        g_auto(GStrv) argv = g_strsplit(command, " ", -1);
        int status;

        if (ret_err)
                g_clear_pointer(ret_err, g_free);
        g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                                   NULL, ret_err, &status, NULL));
        return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

static void netns_child_setup(gpointer data) {
        int fd = open(data, O_RDONLY | O_CLOEXEC);

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
                _exit(120);
        close(fd);
}

static void test_netns(Fixture *f, gconstpointer data) {
        unsigned tag = (unsigned) getpid() % 100000;
        g_autofree char *a = g_strdup_printf("plbr-a-%u", tag), *b = g_strdup_printf("plbr-b-%u", tag);
        g_autofree char *a_path = g_strdup_printf("/run/netns/%s", a), *b_path = g_strdup_printf("/run/netns/%s", b);
        g_autofree char *err = NULL, *cmd = NULL, *bridge_arg = NULL, *secret_arg = NULL, *notify = NULL;
        g_autoptr(GError) gerror = NULL;
        g_auto(GStrv) envp = g_get_environ();
        sd_bus *bus;
        g_autofree char *bus_lock = NULL;
        int status;
        pid_t child;

        if (run_ip(cmd = g_strdup_printf("netns add %s", a), &err) != 0) {
                g_test_skip_printf("cannot create network namespaces here: %s", err);
                return;
        }
        g_clear_pointer(&cmd, g_free);
        g_clear_pointer(&err, g_free);
        g_assert_cmpint(run_ip(cmd = g_strdup_printf("netns add %s", b), &err), ==, 0);
        g_clear_pointer(&cmd, g_free);
        g_assert_cmpint(run_ip(cmd = g_strdup_printf("link add plbrA%u type veth peer name plbrB%u", tag, tag), &err), ==, 0);
        g_clear_pointer(&cmd, g_free);
        g_assert_cmpint(run_ip(cmd = g_strdup_printf("link set plbrA%u netns %s", tag, a), &err), ==, 0);
        g_clear_pointer(&cmd, g_free);
        g_assert_cmpint(run_ip(cmd = g_strdup_printf("link set plbrB%u netns %s", tag, b), &err), ==, 0);
        g_clear_pointer(&cmd, g_free);
        g_assert_cmpint(run_ip(cmd = g_strdup_printf("-n %s addr add 10.231.7.1/24 dev plbrA%u", a, tag), &err), ==, 0);
        g_clear_pointer(&cmd, g_free);
        g_assert_cmpint(run_ip(cmd = g_strdup_printf("-n %s addr add 10.231.7.2/24 dev plbrB%u", b, tag), &err), ==, 0);
        g_clear_pointer(&cmd, g_free);
        g_assert_cmpint(run_ip(cmd = g_strdup_printf("-n %s link set plbrA%u up", a, tag), &err), ==, 0);
        g_clear_pointer(&cmd, g_free);
        g_assert_cmpint(run_ip(cmd = g_strdup_printf("-n %s link set plbrB%u up", b, tag), &err), ==, 0);
        g_clear_pointer(&cmd, g_free);

        /* pylockerd in namespace A, on the bus (a socket in the file system, seen from every namespace). */
        f->port = 3000 + (int) (tag % 1000);
        f->remote = g_strdup_printf("10.231.7.1:%d", f->port);
        f->secret_file = write_file(f->h.tmpdir, "secret", SECRET "\n", 0600);
        bridge_arg = g_strdup_printf("--bridge=%s", f->remote);
        secret_arg = g_strdup_printf("--secret-file=%s", f->secret_file);
        harness_notify_open(&f->h);
        notify = harness_notify_socket_path(&f->h);
        envp = g_environ_setenv(envp, "NOTIFY_SOCKET", notify, TRUE);
        {
                const char *argv[] = { g_getenv("PYLOCKERD"), "--address", f->h.bus_address, "--no-private-socket",
                                       bridge_arg, secret_arg, NULL };

                g_assert_true(g_spawn_async(NULL, (char **) argv, envp, G_SPAWN_DO_NOT_REAP_CHILD, netns_child_setup,
                                            a_path, &f->h.daemon_pid, &gerror));
                g_assert_no_error(gerror);
        }
        harness_wait_notify(&f->h, "READY=1", 10000);

        /* The bus client holds the path; the remote one, in namespace B, waits for it. */
        bus = harness_connect(&f->h);
        bus_lock = acquire_ok(bus, PATHS("/netns/resource"), NULL);
        child = fork();
        g_assert_cmpint(child, >=, 0);
        if (child == 0) {
                PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
                PylockerError error = PYLOCKER_ERROR_INIT;
                PylockerClientInfo *clients = NULL;
                PylockerLocker *l = NULL;
                PylockerLock *lock = NULL;
                size_t n = 0;
                int code = 0;

                netns_child_setup(b_path);
                o.timeout_usec = 10 * SEC;
                if (remote_open(f->remote, f->secret_file, NULL, &l, &error) < 0)
                        _exit(2);
                if (pylocker_locker_acquire(l, PATHS("/netns/resource"), &o, &lock, &error) < 0)
                        _exit(3);
                /* The daemon saw it come from namespace B's address. */
                if (pylocker_locker_list_clients(l, &clients, &n, &error) < 0)
                        _exit(4);
                if (!g_str_has_prefix(find_client(clients, n, pylocker_locker_get_client_id(l))->name,
                                      "[10.231.7.2]:"))
                        code = 5;
                pylocker_client_info_array_free(clients, n);
                if (pylocker_lock_release(lock, &error) != 1)
                        code = 6;
                pylocker_lock_unref(lock);
                pylocker_locker_unref(l);
                _exit(code);
        }

        for (int waited = 0; get_property_u(bus, "WaiterCount") < 1; waited += 20) {
                g_assert_cmpint(waited, <, 10000);
                g_usleep(20 * 1000);
        }
        g_assert_cmpint(release(bus, bus_lock, NULL), ==, 1);
        g_assert_cmpint(waitpid(child, &status, 0), ==, child);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        g_assert_cmpuint(count_locks(bus), ==, 0);

        harness_stop(&f->h);
        g_assert_cmpint(run_ip(cmd = g_strdup_printf("netns del %s", a), NULL), ==, 0);
        g_clear_pointer(&cmd, g_free);
        g_assert_cmpint(run_ip(cmd = g_strdup_printf("netns del %s", b), NULL), ==, 0);
        g_clear_pointer(&cmd, g_free);
}

static void netns_teardown(Fixture *f, gconstpointer data) {
        /* Stopped inside the test, before its namespaces went; harness_stop() is harmless twice. */
        if (f->h.clients)
                harness_stop(&f->h);
        g_free(f->secret_file);
        g_free(f->remote);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add("/bridge/contend-and-hand-over", Fixture, NULL, fixture_setup, test_contend_and_hand_over,
                   fixture_teardown);
        g_test_add("/bridge/messages", Fixture, NULL, fixture_setup, test_messages, fixture_teardown);
        g_test_add("/bridge/statistics", Fixture, NULL, fixture_setup, test_statistics, fixture_teardown);
        g_test_add("/bridge/pylockctl", Fixture, NULL, fixture_setup, test_pylockctl, fixture_teardown);
        g_test_add("/bridge/refused", Fixture,
                   "[Bridge]\nHandshakeTimeout=1s\nMaxFailedHandshakes=100\nMaxHandshakeBytes=8192\n",
                   fixture_setup, test_refused, fixture_teardown);
        g_test_add("/bridge/kill-client", Fixture, NULL, fixture_setup, test_kill_client, fixture_teardown);
        g_test_add("/bridge/unread-replies", Fixture, NULL, fixture_setup, test_unread_replies, fixture_teardown);
        g_test_add("/bridge/caps", Fixture,
                   "[Bridge]\nMaxConnections=3\nMaxConnectionsPerAddress=2\nHandshakeTimeout=30s\n",
                   fixture_setup, test_caps, fixture_teardown);
        g_test_add("/bridge/backoff", Fixture, "[Bridge]\nMaxFailedHandshakes=2\nFailedHandshakeBackoff=1s\n",
                   fixture_setup, test_backoff, fixture_teardown);
        g_test_add("/bridge/message-size", Fixture, "[Bridge]\nMaxMessageSize=4096\n", fixture_setup,
                   test_message_size, fixture_teardown);
        g_test_add("/bridge/ipv6", Fixture, NULL, ipv6_setup, test_ipv6, fixture_teardown);
        g_test_add("/bridge/secret-checks", Fixture, NULL, bus_only_setup, test_secret_checks, fixture_teardown);
        g_test_add("/bridge/socket-activation", Fixture, NULL, bus_only_setup, test_socket_activation,
                   fixture_teardown);
        g_test_add("/bridge/netns", Fixture, NULL, bus_only_setup, test_netns, netns_teardown);
        return g_test_run();
}
