/* The wire protocol on a real pylockerd's direct socket, spoken raw (docs/wire.md): the handshake,
 * the lock and message requests beside D-Bus clients, handles, events, and every kind of bad input,
 * after which other clients must be served as before. */
#undef G_DISABLE_ASSERT
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "wire-test.h"

#define ERROR_INVALID_ARGS "org.freedesktop.DBus.Error.InvalidArgs"
#define ERROR_UNKNOWN_METHOD "org.freedesktop.DBus.Error.UnknownMethod"
#define ERROR_LIMITS "org.freedesktop.DBus.Error.LimitsExceeded"
#define ERROR_NOT_SUPPORTED "org.freedesktop.DBus.Error.NotSupported"

/* Another client, on the bus and on the wire, is served as ever. */
static void assert_others_served(Harness *h) {
        g_autoptr(WireTestClient) w = wire_test_connect(h, NULL);
        sd_bus *bus = harness_connect(h);
        g_autofree char *id = NULL;
        uint8_t lock[WIRE_LOCK_ID_SIZE];

        wire_test_acquire(w, PATHS("others/wire"), 0, lock);
        g_assert_cmpuint(wire_test_release(w, lock), ==, 1);
        id = acquire_ok(bus, PATHS("others/bus"), NULL);
        g_assert_cmpint(release(bus, id, NULL), ==, 1);
        harness_disconnect(h, bus);
}

/* Whether ListClients on the bus shows a client with this id; its name and transport if so. */
static bool bus_find_client(sd_bus *bus, const char *id, char **ret_name, char **ret_transport, uint32_t *ret_pid) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *client_id, *name, *transport;
        uint32_t uid, pid;
        bool found = false;

        g_assert_cmpint(locker_call_method(bus, "ListClients", &error, &reply, NULL), >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "(ssuus)"), >, 0);
        while (sd_bus_message_read(reply, "(ssuus)", &client_id, &name, &uid, &pid, &transport) > 0)
                if (g_str_equal(client_id, id)) {
                        g_assert_cmpuint(uid, ==, getuid());
                        if (ret_name)
                                *ret_name = g_strdup(name);
                        if (ret_transport)
                                *ret_transport = g_strdup(transport);
                        if (ret_pid)
                                *ret_pid = pid;
                        found = true;
                }
        sd_bus_message_unref(reply);
        return found;
}

/* The client is gone from the daemon's list within timeout_ms. */
static void wait_client_gone(sd_bus *bus, const char *id, int timeout_ms) {
        for (int waited = 0; bus_find_client(bus, id, NULL, NULL, NULL); waited += 10) {
                if (waited > timeout_ms)
                        g_error("client %s still listed after %d ms", id, timeout_ms);
                g_usleep(10 * 1000);
        }
}

static void test_hello(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, "wire-alpha");
        g_autoptr(WireTestClient) other = NULL;
        sd_bus *bus = harness_connect(&f->h);
        g_autofree char *name = NULL, *transport = NULL;
        g_auto(WireTestFrame) clients = {}, status = {};
        uint32_t pid = 0, serial;
        bool found = false;

        g_assert_cmpuint(w->welcome.version, ==, 1);
        g_assert_true(g_str_has_prefix(w->client_id, "direct-"));
        g_assert_cmpuint(w->welcome.max_lock_usec, ==, 120 * SEC);
        g_assert_cmpuint(w->welcome.default_timeout_usec, ==, 20 * SEC);
        g_assert_cmpuint(w->welcome.max_frame_size, ==, WIRE_FRAME_MAX);
        g_assert_cmpuint(w->welcome.max_in_flight, >, 0);
        g_assert_cmpuint(w->welcome.max_paths, ==, 256);

        /* ListClients on the bus shows it as a direct client shows, with its name. */
        g_assert_true(bus_find_client(bus, w->client_id, &name, &transport, &pid));
        g_assert_cmpstr(name, ==, "wire-alpha");
        g_assert_cmpstr(transport, ==, "bus");
        g_assert_cmpuint(pid, ==, getpid());

        /* And LIST_CLIENTS on the wire. */
        serial = wire_test_send(w, WIRE_LIST_CLIENTS, 0, NULL);
        wire_test_expect(w, serial, WIRE_CLIENTS, &clients);
        for (size_t i = 0; i < clients.m.clients.n_items; i++) {
                const WireClientInfo *c = &clients.m.clients.items[i];

                if (g_str_equal(c->id, w->client_id)) {
                        g_assert_cmpstr(c->name, ==, "wire-alpha");
                        g_assert_cmpuint(c->uid, ==, getuid());
                        g_assert_cmpuint(c->pid, ==, getpid());
                        g_assert_cmpstr(c->transport, ==, "bus");
                        found = true;
                }
        }
        g_assert_true(found);

        serial = wire_test_send(w, WIRE_GET_STATUS, 0, NULL);
        wire_test_expect(w, serial, WIRE_STATUS, &status);
        g_assert_cmpstr(status.m.status.version, ==, g_getenv("PYLOCKER_VERSION"));
        g_assert_cmpuint(status.m.status.client_count, ==, 2);

        /* The name is one namespace with the bus's. */
        {
                sd_bus_error error = SD_BUS_ERROR_NULL;

                g_assert_cmpint(locker_call_method(bus, "Register", &error, NULL, "s", "wire-alpha"), <, 0);
                g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.AlreadyExists");
                sd_bus_error_free(&error);
        }

        /* HELLO once only; SET_NAME renames. */
        serial = wire_test_send(w, WIRE_HELLO, 0, &(WireMessage) { .hello.name = "" });
        wire_test_expect_error(w, serial, ERROR_INVALID_ARGS);
        serial = wire_test_send(w, WIRE_SET_NAME, 0, &(WireMessage) { .hello.name = "wire-beta" });
        wire_test_expect(w, serial, WIRE_OK, NULL);
        g_clear_pointer(&name, g_free);
        g_assert_true(bus_find_client(bus, w->client_id, &name, NULL, NULL));
        g_assert_cmpstr(name, ==, "wire-beta");

        /* A taken name in HELLO: an error, and the end of that connection. */
        other = wire_test_connect_raw(&f->h);
        wire_test_send_preamble(other, 1, 1);
        serial = wire_test_send(other, WIRE_HELLO, 0, &(WireMessage) { .hello.name = "wire-beta" });
        wire_test_expect_error(other, serial, "org.pylocker.Locker.Error.AlreadyExists");
        wire_test_expect_eof(other, 5000);

        /* Gone with its connection. */
        g_free(name);
        name = g_strdup(w->client_id);
        g_clear_pointer(&w, wire_test_client_free);
        wait_client_gone(bus, name, 5000);
}

static void test_acquire_release_refresh(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        sd_bus *bus = harness_connect(&f->h);
        g_auto(WireTestFrame) acquired = {}, refreshed = {};
        g_autofree char *text = NULL;
        uint8_t id[WIRE_LOCK_ID_SIZE];
        uint64_t now = (uint64_t) g_get_real_time();
        WireMessage m = {};
        uint32_t serial;

        serial = wire_test_send(w, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .paths = (const char **) PATHS("a", "b"), .n_paths = 2 } });
        wire_test_expect(w, serial, WIRE_ACQUIRED, &acquired);
        memcpy(id, acquired.m.acquired.lock_id, sizeof(id));
        g_assert_cmpuint(acquired.m.acquired.token, >, 0);
        g_assert_cmpuint(acquired.m.acquired.expires_usec, >=, now + 119 * SEC);
        g_assert_cmpuint(acquired.m.acquired.expires_usec, <=, (uint64_t) g_get_real_time() + 120 * SEC);

        /* The same lock on the bus: its id in text, held by the wire client. */
        g_assert_cmpuint(count_locks(bus), ==, 1);
        text = wire_test_id_to_string(id);
        release(bus, text, "org.pylocker.Locker.Error.NotOwner");

        memcpy(m.refresh.lock_id, id, sizeof(id));
        m.refresh.ttl_usec = 10 * SEC;
        serial = wire_test_send(w, WIRE_REFRESH, 0, &m);
        wire_test_expect(w, serial, WIRE_VALUE, &refreshed);
        g_assert_cmpuint(refreshed.m.value.value, <=, (uint64_t) g_get_real_time() + 10 * SEC);
        g_assert_cmpuint(refreshed.m.value.value, >, (uint64_t) g_get_real_time() + 9 * SEC);

        g_assert_cmpuint(wire_test_release(w, id), ==, 1);
        g_assert_cmpuint(wire_test_release(w, id), ==, 0);
        g_assert_cmpuint(count_locks(bus), ==, 0);

        /* Refreshing what is gone. */
        serial = wire_test_send(w, WIRE_REFRESH, 0, &m);
        wire_test_expect_error(w, serial, "org.pylocker.Locker.Error.NotFound");

        /* The service's own checks, with the same errors as on D-Bus. */
        serial = wire_test_send(w, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .paths = (const char **) PATHS(""), .n_paths = 1 } });
        wire_test_expect_error(w, serial, ERROR_INVALID_ARGS);
        serial = wire_test_send(w, WIRE_ACQUIRE, 0, &(WireMessage) { .acquire = { .n_paths = 0 } });
        wire_test_expect_error(w, serial, ERROR_INVALID_ARGS);
}

static void test_pipelined(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        WireBuffer out = {};
        uint32_t serials[40];
        uint64_t last_token = 0;
        WireTestFrame frame = {};
        unsigned n_acquired = 0;

        /* Twenty ACQUIREs and a PING between each, in one write: answered in order, by serial. */
        for (unsigned i = 0; i < G_N_ELEMENTS(serials); i++) {
                g_autofree char *path = g_strdup_printf("pipe/%u", i / 2);

                if (i % 2 == 0)
                        serials[i] = wire_test_encode(w, &out, WIRE_ACQUIRE, 0, &(WireMessage) {
                                        .acquire = { .paths = (const char *[]) { path }, .n_paths = 1 } });
                else
                        serials[i] = wire_test_encode(w, &out, WIRE_PING, 0, NULL);
        }
        wire_test_send_raw(w, wire_buffer_peek(&out), wire_buffer_length(&out));
        wire_buffer_done(&out);

        for (unsigned i = 0; i < G_N_ELEMENTS(serials); i++) {
                g_assert_true(wire_test_recv(w, &frame, 10000));
                g_assert_cmpuint(frame.m.header.serial, ==, serials[i]);
                if (i % 2 == 0) {
                        g_assert_cmpuint(frame.m.header.type, ==, WIRE_ACQUIRED);
                        g_assert_cmpuint(frame.m.acquired.token, >, last_token);
                        last_token = frame.m.acquired.token;
                        n_acquired++;
                } else
                        g_assert_cmpuint(frame.m.header.type, ==, WIRE_OK);
                wire_test_frame_clear(&frame);
        }
        g_assert_cmpuint(n_acquired, ==, 20);
}

/* A wire client and a D-Bus client on the same paths: one lock table, shared and exclusive. */
static void test_contention_with_bus(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        sd_bus *bus = harness_connect(&f->h);
        g_autofree char *bus_id = NULL, *shared_id = NULL;
        uint8_t id[WIRE_LOCK_ID_SIZE], shared[WIRE_LOCK_ID_SIZE];
        AsyncCall call = {};
        uint32_t serial;

        /* Exclusive on the wire: the bus waits, and gets it on release. */
        wire_test_acquire(w, PATHS("c/x"), 0, id);
        acquire_async(bus, &call, &(AcquireArgs) { .paths = PATHS("c/x"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        g_assert_false(call.done);
        g_assert_cmpuint(wire_test_release(w, id), ==, 1);
        harness_pump_until(&f->h, &call.done, 5000);
        bus_id = reply_lock_id(call.reply, NULL);
        async_call_clear(&call);

        /* Held on the bus: the wire's nonblocking try fails as on D-Bus. */
        serial = wire_test_send(w, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .flags = WIRE_ACQUIRE_NONBLOCKING, .paths = (const char **) PATHS("c/x"),
                                     .n_paths = 1 } });
        wire_test_expect_error(w, serial, "org.pylocker.Locker.Error.Timeout");
        g_assert_cmpint(release(bus, bus_id, NULL), ==, 1);

        /* Shared with shared: both at once; exclusive waits for both. */
        wire_test_acquire(w, PATHS("c/s"), WIRE_ACQUIRE_SHARED, shared);
        acquire_async(bus, &call, &(AcquireArgs) { .paths = PATHS("c/s"), .shared = true });
        harness_pump_until(&f->h, &call.done, 5000);
        shared_id = reply_lock_id(call.reply, NULL);
        async_call_clear(&call);

        serial = wire_test_send(w, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .flags = WIRE_ACQUIRE_NONBLOCKING, .paths = (const char **) PATHS("c/s"),
                                     .n_paths = 1 } });
        wire_test_expect_error(w, serial, "org.pylocker.Locker.Error.Timeout");
        acquire_async(bus, &call, &(AcquireArgs) { .paths = PATHS("c/s"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        g_assert_false(call.done);
        g_assert_cmpuint(wire_test_release(w, shared), ==, 1);
        harness_sync(&f->h);
        g_assert_false(call.done);
        g_assert_cmpint(release(bus, shared_id, NULL), ==, 1);
        harness_pump_until(&f->h, &call.done, 5000);
        g_free(reply_lock_id(call.reply, NULL));
        async_call_clear(&call);
}

static void test_waiting_acquire(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) a = wire_test_connect(&f->h, NULL);
        g_autoptr(WireTestClient) b = wire_test_connect(&f->h, NULL);
        g_auto(WireTestFrame) granted = {}, ping = {};
        uint8_t id[WIRE_LOCK_ID_SIZE];
        uint64_t token_a;
        uint32_t waiting, serial;

        token_a = wire_test_acquire(a, PATHS("w"), 0, id);
        waiting = wire_test_send(b, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .timeout_usec = 10 * SEC, .paths = (const char **) PATHS("w"), .n_paths = 1 } });

        /* Meanwhile its other requests are answered: the PING's reply overtakes the ACQUIRE's. */
        serial = wire_test_send(b, WIRE_PING, 0, NULL);
        g_assert_true(wire_test_recv(b, &ping, 5000));
        g_assert_cmpuint(ping.m.header.serial, ==, serial);
        g_assert_cmpuint(ping.m.header.type, ==, WIRE_OK);

        g_assert_cmpuint(wire_test_release(a, id), ==, 1);
        wire_test_expect(b, waiting, WIRE_ACQUIRED, &granted);
        g_assert_cmpuint(granted.m.acquired.token, >, token_a);

        /* A wait that times out is answered with Timeout. */
        serial = wire_test_send(a, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .timeout_usec = 100 * MSEC, .paths = (const char **) PATHS("w"), .n_paths = 1 } });
        wire_test_expect_error(a, serial, "org.pylocker.Locker.Error.Timeout");

        /* A waiter that hangs up is forgotten: the next one gets the lock. */
        {
                g_autoptr(WireTestClient) gone = wire_test_connect(&f->h, NULL);
                g_auto(WireTestFrame) next = {};

                (void) wire_test_send(gone, WIRE_ACQUIRE, 0, &(WireMessage) {
                                .acquire = { .timeout_usec = 10 * SEC, .paths = (const char **) PATHS("w"),
                                             .n_paths = 1 } });
                serial = wire_test_send(gone, WIRE_PING, 0, NULL);
                wire_test_expect(gone, serial, WIRE_OK, NULL);
                waiting = wire_test_send(a, WIRE_ACQUIRE, 0, &(WireMessage) {
                                .acquire = { .timeout_usec = 10 * SEC, .paths = (const char **) PATHS("w"),
                                             .n_paths = 1 } });
                serial = wire_test_send(a, WIRE_PING, 0, NULL);
                wire_test_expect(a, serial, WIRE_OK, NULL);
                g_clear_pointer(&gone, wire_test_client_free);

                g_assert_cmpuint(wire_test_release(b, granted.m.acquired.lock_id), ==, 1);
                wire_test_expect(a, waiting, WIRE_ACQUIRED, &next);
        }
}

static void test_handle(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        sd_bus *bus = harness_connect(&f->h);
        g_auto(WireTestFrame) acquired = {}, lost = {};
        AsyncCall call = {};
        struct stat st;
        uint32_t serial;
        int fd, copy;

        serial = wire_test_send(w, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .flags = WIRE_ACQUIRE_HANDLE, .paths = (const char **) PATHS("h"), .n_paths = 1 } });
        wire_test_expect(w, serial, WIRE_ACQUIRED, &acquired);

        /* The write end of a pipe came with the frame, and only one. */
        fd = wire_test_take_fd(w);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(wire_test_take_fd(w), ==, -1);
        g_assert_cmpint(fstat(fd, &st), ==, 0);
        g_assert_true(S_ISFIFO(st.st_mode));
        g_assert_cmpint(fcntl(fd, F_GETFL) & O_ACCMODE, ==, O_WRONLY);
        copy = dup(fd);

        acquire_async(bus, &call, &(AcquireArgs) { .paths = PATHS("h"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        g_assert_false(call.done);

        /* Held while a copy is open; gone with the last one, and its holder is told why. */
        close(fd);
        harness_pump_for(&f->h, 100);
        g_assert_false(call.done);
        close(copy);
        harness_pump_until(&f->h, &call.done, 5000);
        g_free(reply_lock_id(call.reply, NULL));
        async_call_clear(&call);

        wire_test_expect_event(w, WIRE_LOCK_LOST, &lost);
        g_assert_cmpmem(lost.m.lock_lost.lock_id, WIRE_LOCK_ID_SIZE, acquired.m.acquired.lock_id, WIRE_LOCK_ID_SIZE);
        g_assert_cmpuint(lost.m.lock_lost.reason, ==, WIRE_LOST_HANDLE_CLOSED);

        /* Several handles in one go arrive one each, in the order of their frames. */
        {
                WireBuffer out = {};
                uint32_t serials[3];
                uint8_t ids[3][WIRE_LOCK_ID_SIZE];

                for (unsigned i = 0; i < 3; i++) {
                        g_autofree char *path = g_strdup_printf("h/%u", i);

                        serials[i] = wire_test_encode(w, &out, WIRE_ACQUIRE, 0, &(WireMessage) {
                                        .acquire = { .flags = i == 1 ? 0 : WIRE_ACQUIRE_HANDLE,
                                                     .paths = (const char *[]) { path }, .n_paths = 1 } });
                }
                wire_test_send_raw(w, wire_buffer_peek(&out), wire_buffer_length(&out));
                wire_buffer_done(&out);
                for (unsigned i = 0; i < 3; i++) {
                        g_auto(WireTestFrame) a = {};

                        wire_test_expect(w, serials[i], WIRE_ACQUIRED, &a);
                        memcpy(ids[i], a.m.acquired.lock_id, WIRE_LOCK_ID_SIZE);
                }
                g_assert_cmpuint(w->fds->len, ==, 2);

                /* The first descriptor is the first lock's: closing it ends that one alone. */
                close(wire_test_take_fd(w));
                wire_test_frame_clear(&lost);
                wire_test_expect_event(w, WIRE_LOCK_LOST, &lost);
                g_assert_cmpmem(lost.m.lock_lost.lock_id, WIRE_LOCK_ID_SIZE, ids[0], WIRE_LOCK_ID_SIZE);
                /* Left: the two others, and the bus client's on "h". */
                g_assert_cmpuint(count_locks(bus), ==, 3);
                g_assert_cmpuint(wire_test_release(w, ids[1]), ==, 1);
                g_assert_cmpuint(wire_test_release(w, ids[2]), ==, 1);
        }
}

/* Descriptors a client sends are closed, and change nothing. */
static void test_client_fds_closed(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        union {
                struct cmsghdr cmsghdr;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        uint8_t frame[WIRE_HEADER_SIZE] = { 0, 0, 0, 0, WIRE_PING, 0, 0, 0, 77, 0, 0, 0 };
        struct iovec iov = { .iov_base = frame, .iov_len = sizeof(frame) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh);
        char buf[1];
        int pipefd[2];

        g_assert_cmpint(pipe(pipefd), ==, 0);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &pipefd[1], sizeof(int));
        g_assert_cmpint(sendmsg(w->fd, &mh, MSG_NOSIGNAL), ==, sizeof(frame));
        w->serial = 77;
        wire_test_expect(w, 77, WIRE_OK, NULL);

        /* The daemon's copy is closed: with ours, the last writer goes. */
        close(pipefd[1]);
        g_assert_cmpint(read(pipefd[0], buf, 1), ==, 0);
        close(pipefd[0]);
}

static void test_no_reply(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        g_autoptr(WireTestClient) other = wire_test_connect(&f->h, NULL);
        sd_bus *bus = harness_connect(&f->h);
        g_auto(WireTestFrame) next = {};
        uint8_t id[WIRE_LOCK_ID_SIZE], other_id[WIRE_LOCK_ID_SIZE];
        WireMessage m = {};
        uint32_t serial, failing;

        wire_test_acquire(w, PATHS("n"), 0, id);
        memcpy(m.lock_ref.lock_id, id, sizeof(id));
        (void) wire_test_send(w, WIRE_RELEASE, WIRE_FLAG_NO_REPLY, &m);

        /* No answer to the RELEASE: the PING's is the next frame. */
        serial = wire_test_send(w, WIRE_PING, 0, NULL);
        g_assert_true(wire_test_recv(w, &next, 5000));
        g_assert_cmpuint(next.m.header.serial, ==, serial);
        g_assert_cmpuint(count_locks(bus), ==, 0);

        /* A NO_REPLY request that fails is still answered, with its serial. */
        wire_test_acquire(other, PATHS("n"), 0, other_id);
        memcpy(m.lock_ref.lock_id, other_id, sizeof(other_id));
        failing = wire_test_send(w, WIRE_RELEASE, WIRE_FLAG_NO_REPLY, &m);
        wire_test_expect_error(w, failing, "org.pylocker.Locker.Error.NotOwner");
        g_assert_cmpuint(count_locks(bus), ==, 1);
}

static void test_lock_lost(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        g_autoptr(WireTestClient) admin = wire_test_connect(&f->h, NULL);
        g_auto(WireTestFrame) acquired = {}, lost = {}, forced = {}, value = {};
        WireMessage m = {};
        uint8_t id[WIRE_LOCK_ID_SIZE];
        uint32_t serial;

        /* The lease runs out. */
        serial = wire_test_send(w, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .ttl_usec = 200 * MSEC, .paths = (const char **) PATHS("lease"), .n_paths = 1 } });
        wire_test_expect(w, serial, WIRE_ACQUIRED, &acquired);
        wire_test_expect_event(w, WIRE_LOCK_LOST, &lost);
        g_assert_cmpmem(lost.m.lock_lost.lock_id, WIRE_LOCK_ID_SIZE, acquired.m.acquired.lock_id, WIRE_LOCK_ID_SIZE);
        g_assert_cmpuint(lost.m.lock_lost.reason, ==, WIRE_LOST_EXPIRED);

        /* Force-released by an admin (the daemon's own user, on a session bus). */
        wire_test_acquire(w, PATHS("forced"), 0, id);
        memcpy(m.lock_ref.lock_id, id, sizeof(id));
        serial = wire_test_send(admin, WIRE_FORCE_RELEASE, 0, &m);
        wire_test_expect(admin, serial, WIRE_VALUE, &value);
        g_assert_cmpuint(value.m.value.value, ==, 1);
        wire_test_expect_event(w, WIRE_LOCK_LOST, &forced);
        g_assert_cmpmem(forced.m.lock_lost.lock_id, WIRE_LOCK_ID_SIZE, id, WIRE_LOCK_ID_SIZE);
        g_assert_cmpuint(forced.m.lock_lost.reason, ==, WIRE_LOST_FORCE_RELEASED);

        /* Released by its owner: not lost, nothing said. */
        wire_test_acquire(w, PATHS("mine"), 0, id);
        g_assert_cmpuint(wire_test_release(w, id), ==, 1);
        wire_test_assert_quiet(w, 100);
}

static void test_publish(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) a = wire_test_connect(&f->h, "publisher");
        g_autoptr(WireTestClient) b = wire_test_connect(&f->h, "receiver");
        g_auto(WireTestFrame) published = {}, event = {}, got = {}, has = {}, popped = {}, list = {}, removed = {};
        g_autofree char *pub_id = NULL;
        uint32_t serial;

        /* To the receiver by name, not to self. */
        serial = wire_test_send(a, WIRE_PUBLISH, 0, &(WireMessage) {
                        .publish = { .flags = WIRE_PUBLISH_REPLACE, .timeout_usec = 60 * SEC, .message = "hello",
                                     .receivers = (const char **) PATHS("receiver"), .n_receivers = 1 } });
        wire_test_expect(a, serial, WIRE_PUBLISHED, &published);
        pub_id = g_strdup(published.m.published.publication_id);
        g_assert_cmpstr(pub_id, !=, "");

        wire_test_expect_event(b, WIRE_MESSAGE_PUBLISHED, &event);
        g_assert_cmpstr(event.m.message_published.publication_id, ==, pub_id);
        g_assert_cmpstr(event.m.message_published.sender, ==, a->client_id);
        g_assert_cmpstr(event.m.message_published.message, ==, "hello");
        g_assert_cmpuint(event.m.message_published.expires_usec, >, (uint64_t) g_get_real_time());
        wire_test_assert_quiet(a, 50);

        serial = wire_test_send(b, WIRE_GET_MESSAGE, 0, &(WireMessage) { .message_ref.message = "hello" });
        wire_test_expect(b, serial, WIRE_PUBLICATIONS, &got);
        g_assert_cmpuint(got.m.publications.n_items, ==, 1);
        g_assert_cmpstr(got.m.publications.items[0].publication_id, ==, pub_id);
        g_assert_cmpstr(got.m.publications.items[0].sender, ==, a->client_id);
        g_assert_cmpstr(got.m.publications.items[0].sender_name, ==, "publisher");

        serial = wire_test_send(b, WIRE_HAS_MESSAGE, 0, &(WireMessage) { .message_ref.message = "hello" });
        wire_test_expect(b, serial, WIRE_VALUE, &has);
        g_assert_cmpuint(has.m.value.value, ==, 1);
        serial = wire_test_send(b, WIRE_POP_MESSAGE, 0, &(WireMessage) { .message_ref.message = "hello" });
        wire_test_expect(b, serial, WIRE_PUBLICATIONS, &popped);
        g_assert_cmpuint(popped.m.publications.n_items, ==, 1);
        serial = wire_test_send(b, WIRE_LIST_MESSAGES, 0, NULL);
        wire_test_expect(b, serial, WIRE_PUBLICATIONS, &list);
        g_assert_cmpuint(list.m.publications.n_items, ==, 0);

        /* To everyone and to self: the publisher hears of it too, before its own answer. */
        serial = wire_test_send(a, WIRE_PUBLISH, 0, &(WireMessage) {
                        .publish = { .flags = WIRE_PUBLISH_TO_SELF | WIRE_PUBLISH_REPLACE, .message = "all" } });
        {
                g_auto(WireTestFrame) first = {}, second = {};

                g_assert_true(wire_test_recv(a, &first, 5000));
                g_assert_cmpuint(first.m.header.type, ==, WIRE_MESSAGE_PUBLISHED);
                g_assert_true(wire_test_recv(a, &second, 5000));
                g_assert_cmpuint(second.m.header.serial, ==, serial);
                g_assert_cmpuint(second.m.header.type, ==, WIRE_PUBLISHED);
        }
        wire_test_frame_clear(&event);
        wire_test_expect_event(b, WIRE_MESSAGE_PUBLISHED, &event);
        g_assert_cmpstr(event.m.message_published.message, ==, "all");
        serial = wire_test_send(b, WIRE_REMOVE_MESSAGE, 0, &(WireMessage) {
                        .remove_message = { .message = "all", .senders = (const char **) PATHS("publisher"),
                                            .n_senders = 1 } });
        wire_test_expect(b, serial, WIRE_VALUE, &removed);
        g_assert_cmpuint(removed.m.value.value, ==, 1);

        /* An unknown receiver fails the whole publication. */
        serial = wire_test_send(a, WIRE_PUBLISH, 0, &(WireMessage) {
                        .publish = { .message = "x", .receivers = (const char **) PATHS("nobody"), .n_receivers = 1 } });
        wire_test_expect_error(a, serial, "org.pylocker.Locker.Error.NotFound");
}

static void test_admin(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        sd_bus *bus = harness_connect(&f->h);
        g_auto(WireTestFrame) status = {}, locks = {}, acquired = {};
        g_autofree char *text = NULL;
        uint8_t id[WIRE_LOCK_ID_SIZE];
        uint32_t serial;

        serial = wire_test_send(w, WIRE_SET_MAX_LOCK_TIME, 0, &(WireMessage) { .usec.usec = 30 * SEC });
        wire_test_expect(w, serial, WIRE_OK, NULL);
        g_assert_cmpuint(get_property_t(bus, "MaxLockTime"), ==, 30 * SEC);
        serial = wire_test_send(w, WIRE_SET_DEFAULT_TIMEOUT, 0, &(WireMessage) { .usec.usec = 5 * SEC });
        wire_test_expect(w, serial, WIRE_OK, NULL);
        g_assert_cmpuint(get_property_t(bus, "DefaultTimeout"), ==, 5 * SEC);
        serial = wire_test_send(w, WIRE_SET_DEFAULT_TIMEOUT, 0, &(WireMessage) { .usec.usec = 0 });
        wire_test_expect_error(w, serial, ERROR_INVALID_ARGS);

        serial = wire_test_send(w, WIRE_GET_STATUS, 0, NULL);
        wire_test_expect(w, serial, WIRE_STATUS, &status);
        g_assert_cmpuint(status.m.status.max_lock_usec, ==, 30 * SEC);
        g_assert_cmpuint(status.m.status.default_timeout_usec, ==, 5 * SEC);
        g_assert_cmpuint(status.m.status.lock_count, ==, 0);

        serial = wire_test_send(w, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .flags = WIRE_ACQUIRE_SHARED, .paths = (const char **) PATHS("l/1", "l/2"),
                                     .n_paths = 2 } });
        wire_test_expect(w, serial, WIRE_ACQUIRED, &acquired);
        memcpy(id, acquired.m.acquired.lock_id, sizeof(id));
        g_assert_cmpuint(acquired.m.acquired.expires_usec, <=, (uint64_t) g_get_real_time() + 30 * SEC);

        serial = wire_test_send(w, WIRE_LIST_LOCKS, 0, NULL);
        wire_test_expect(w, serial, WIRE_LOCKS, &locks);
        g_assert_cmpuint(locks.m.locks.n_items, ==, 1);
        g_assert_cmpmem(locks.m.locks.items[0].lock_id, WIRE_LOCK_ID_SIZE, id, WIRE_LOCK_ID_SIZE);
        g_assert_cmpuint(locks.m.locks.items[0].n_paths, ==, 2);
        g_assert_cmpstr(locks.m.locks.items[0].paths[1], ==, "l/2");
        g_assert_cmpstr(locks.m.locks.items[0].owner, ==, w->client_id);
        g_assert_true(locks.m.locks.items[0].shared);
        g_assert_cmpuint(locks.m.locks.items[0].token, ==, acquired.m.acquired.token);

        text = wire_test_id_to_string(id);
        g_assert_cmpint(release(bus, text, "org.pylocker.Locker.Error.NotOwner"), ==, -1);
        g_assert_cmpuint(wire_test_release(w, id), ==, 1);

        /* ForceRelease of what is not there. */
        {
                g_auto(WireTestFrame) value = {};
                WireMessage m = {};

                memcpy(m.lock_ref.lock_id, id, sizeof(id));
                serial = wire_test_send(w, WIRE_FORCE_RELEASE, 0, &m);
                wire_test_expect(w, serial, WIRE_VALUE, &value);
                g_assert_cmpuint(value.m.value.value, ==, 0);
        }
}

/* A daemon that stops answers every waiting ACQUIRE first. */
static void test_shutdown(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) a = wire_test_connect(&f->h, NULL);
        g_autoptr(WireTestClient) b = wire_test_connect(&f->h, NULL);
        uint8_t id[WIRE_LOCK_ID_SIZE];
        uint32_t waiting, serial;
        int status;

        wire_test_acquire(a, PATHS("s"), 0, id);
        waiting = wire_test_send(b, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .timeout_usec = 60 * SEC, .paths = (const char **) PATHS("s"), .n_paths = 1 } });
        serial = wire_test_send(b, WIRE_PING, 0, NULL);
        wire_test_expect(b, serial, WIRE_OK, NULL);

        status = harness_stop_daemon(&f->h);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        wire_test_expect_error(b, waiting, "org.freedesktop.DBus.Error.NoServer");
        wire_test_expect_eof(b, 5000);
        wire_test_expect_eof(a, 5000);
}

/* ---- bad input: each ends at most its own connection ---- */

static void test_bad_first_bytes(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect_raw(&f->h);
        g_autoptr(WireTestClient) wrong_magic = wire_test_connect_raw(&f->h);
        g_autoptr(WireTestClient) silent = wire_test_connect_raw(&f->h);

        wire_test_send_raw(w, "GET / HTTP/1.1\r\n\r\n", 18);
        wire_test_expect_eof(w, 5000);
        /* P, but not PLKW. */
        wire_test_send_raw(wrong_magic, "PLKX\1\0\1\0", 8);
        wire_test_expect_eof(wrong_magic, 5000);
        /* Saying nothing holds nobody up. */
        assert_others_served(&f->h);
        g_clear_pointer(&silent, wire_test_client_free);
        assert_others_served(&f->h);
}

static void test_bad_version(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect_raw(&f->h);
        g_auto(WireTestFrame) error = {};

        wire_test_send_preamble(w, 2, 3);
        g_assert_true(wire_test_recv(w, &error, 5000));
        g_assert_cmpuint(error.m.header.type, ==, WIRE_ERROR);
        g_assert_cmpuint(error.m.header.serial, ==, 0);
        g_assert_cmpstr(error.m.error.name, ==, ERROR_NOT_SUPPORTED);
        wire_test_expect_eof(w, 5000);
        assert_others_served(&f->h);
}

static void test_bad_truncated(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        sd_bus *bus = harness_connect(&f->h);
        g_autofree char *id = g_strdup(w->client_id);
        WireBuffer out = {};

        /* An ACQUIRE cut short, then the end: nothing is locked, the client goes. */
        (void) wire_test_encode(w, &out, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .paths = (const char **) PATHS("t"), .n_paths = 1 } });
        wire_test_send_raw(w, wire_buffer_peek(&out), wire_buffer_length(&out) - 3);
        wire_buffer_done(&out);
        g_clear_pointer(&w, wire_test_client_free);

        wait_client_gone(bus, id, 5000);
        g_assert_cmpuint(count_locks(bus), ==, 0);
        assert_others_served(&f->h);
}

static void test_bad_frame_size(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        g_auto(WireTestFrame) error = {};
        uint32_t size = WIRE_FRAME_MAX + 1;
        uint8_t header[WIRE_HEADER_SIZE] = {
                (uint8_t) size, (uint8_t) (size >> 8), (uint8_t) (size >> 16), (uint8_t) (size >> 24),
                WIRE_PUBLISH, 0, 0, 0, 9, 0, 0, 0,
        };

        /* The header alone: the answer comes before any of the body. */
        wire_test_send_raw(w, header, sizeof(header));
        g_assert_true(wire_test_recv(w, &error, 5000));
        g_assert_cmpuint(error.m.header.type, ==, WIRE_ERROR);
        g_assert_cmpuint(error.m.header.serial, ==, 0);
        g_assert_cmpstr(error.m.error.name, ==, ERROR_LIMITS);
        wire_test_expect_eof(w, 5000);
        assert_others_served(&f->h);
}

static void test_bad_flags(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        g_auto(WireTestFrame) error = {};
        uint8_t header[WIRE_HEADER_SIZE] = { 0, 0, 0, 0, WIRE_PING, 0, 0, 0x80, 5, 0, 0, 0 };

        wire_test_send_raw(w, header, sizeof(header));
        g_assert_true(wire_test_recv(w, &error, 5000));
        g_assert_cmpuint(error.m.header.serial, ==, 0);
        g_assert_cmpstr(error.m.error.name, ==, ERROR_INVALID_ARGS);
        wire_test_expect_eof(w, 5000);
        assert_others_served(&f->h);
}

static void test_bad_type(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        uint8_t frame[WIRE_HEADER_SIZE + 4] = { 4, 0, 0, 0, 0x30, 0, 0, 0, 42, 0, 0, 0, 1, 2, 3, 4 };
        uint32_t serial;

        /* Unknown, or a reply's type: UnknownMethod, and the connection stays. */
        wire_test_send_raw(w, frame, sizeof(frame));
        w->serial = 42;
        wire_test_expect_error(w, 42, ERROR_UNKNOWN_METHOD);
        serial = wire_test_send(w, WIRE_WELCOME, 0, NULL);
        wire_test_expect_error(w, serial, ERROR_UNKNOWN_METHOD);
        serial = wire_test_send(w, WIRE_PING, 0, NULL);
        wire_test_expect(w, serial, WIRE_OK, NULL);
        assert_others_served(&f->h);
}

static void test_bad_body(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        /* RELEASE with 15 bytes of lock id; ACQUIRE with an unknown flag; a string without its zero. */
        uint8_t short_release[WIRE_HEADER_SIZE + 15] = { 15, 0, 0, 0, WIRE_RELEASE, 0, 0, 0, 10, 0, 0, 0 };
        uint8_t bad_string[WIRE_HEADER_SIZE + 6] = { 6, 0, 0, 0, WIRE_HAS_MESSAGE, 0, 0, 0, 12, 0, 0, 0,
                                                      2, 0, 0, 0, 'a', 'b' };
        uint8_t id[WIRE_LOCK_ID_SIZE];
        uint32_t serial;

        wire_test_send_raw(w, short_release, sizeof(short_release));
        wire_test_expect_error(w, 10, ERROR_INVALID_ARGS);
        w->serial = 10;
        serial = wire_test_send(w, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .flags = 1 << 7, .paths = (const char **) PATHS("b"), .n_paths = 1 } });
        wire_test_expect_error(w, serial, ERROR_INVALID_ARGS);
        w->serial = 11;
        wire_test_send_raw(w, bad_string, sizeof(bad_string));
        wire_test_expect_error(w, 12, ERROR_INVALID_ARGS);
        w->serial = 12;

        /* Still a client like any other. */
        wire_test_acquire(w, PATHS("b"), 0, id);
        g_assert_cmpuint(wire_test_release(w, id), ==, 1);
        assert_others_served(&f->h);
}

static void test_bad_before_hello(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect_raw(&f->h);
        g_autoptr(WireTestClient) zero = NULL;
        sd_bus *bus = harness_connect(&f->h);
        uint32_t serial;

        wire_test_send_preamble(w, 1, 1);
        serial = wire_test_send(w, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .paths = (const char **) PATHS("early"), .n_paths = 1 } });
        wire_test_expect_error(w, serial, ERROR_INVALID_ARGS);
        wire_test_expect_eof(w, 5000);
        g_assert_cmpuint(count_locks(bus), ==, 0);

        /* Serial 0 is no request's. */
        zero = wire_test_connect(&f->h, NULL);
        zero->serial = UINT32_MAX;
        (void) wire_test_send(zero, WIRE_PING, 0, NULL);
        wire_test_expect_eof(zero, 5000);
        assert_others_served(&f->h);
}

/* A client that never reads is dropped once its queue passes the cap; the publisher is not. */
static void test_bad_never_reads(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) sink = wire_test_connect(&f->h, "sink");
        g_autoptr(WireTestClient) publisher = wire_test_connect(&f->h, NULL);
        sd_bus *bus = harness_connect(&f->h);
        g_autofree char *text = g_malloc(60 * 1024 + 1);
        bool dropped = false;

        memset(text, 'm', 60 * 1024);
        text[60 * 1024] = 0;

        /* Well past the cap (4 MiB) and what the socket holds; then publishing to it fails: it is
         * gone. */
        for (unsigned i = 0; i < 400 && !dropped; i++) {
                g_auto(WireTestFrame) answer = {};
                uint32_t serial;

                serial = wire_test_send(publisher, WIRE_PUBLISH, 0, &(WireMessage) {
                                .publish = { .flags = WIRE_PUBLISH_REPLACE, .message = text,
                                             .receivers = (const char **) PATHS("sink"), .n_receivers = 1 } });
                g_assert_true(wire_test_recv(publisher, &answer, 10000));
                g_assert_cmpuint(answer.m.header.serial, ==, serial);
                if (answer.m.header.type == WIRE_ERROR) {
                        g_assert_cmpstr(answer.m.error.name, ==, "org.pylocker.Locker.Error.NotFound");
                        g_assert_cmpuint(i, >, 4 * 1024 / 60);
                        dropped = true;
                } else
                        g_assert_cmpuint(answer.m.header.type, ==, WIRE_PUBLISHED);
        }
        g_assert_true(dropped);
        g_assert_false(bus_find_client(bus, sink->client_id, NULL, NULL, NULL));

        /* Its socket ends after what was sent (the last frame may be cut short). */
        wire_test_expect_eof(sink, 10000);
        assert_others_served(&f->h);
}

/* Past max_in_flight unanswered requests, the daemon reads no further: no error, only a wait. */
static void test_bad_in_flight(HarnessFixture *f, gconstpointer data) {
        g_autoptr(WireTestClient) w = wire_test_connect(&f->h, NULL);
        sd_bus *bus = harness_connect(&f->h);
        g_autofree char *holder = acquire_ok(bus, PATHS("busy"), NULL);
        g_autofree uint32_t *serials = NULL;
        g_auto(WireTestFrame) first = {}, second = {};
        uint32_t max = w->welcome.max_in_flight, ping;
        WireBuffer out = {};

        serials = g_new(uint32_t, max);
        for (uint32_t i = 0; i < max; i++)
                serials[i] = wire_test_encode(w, &out, WIRE_ACQUIRE, 0, &(WireMessage) {
                                .acquire = { .timeout_usec = 60 * SEC, .paths = (const char **) PATHS("busy"),
                                             .n_paths = 1 } });
        ping = wire_test_encode(w, &out, WIRE_PING, 0, NULL);
        wire_test_send_raw(w, wire_buffer_peek(&out), wire_buffer_length(&out));
        wire_buffer_done(&out);

        /* Every ACQUIRE waits; the PING behind them is not even read. */
        for (int waited = 0; get_property_u(bus, "WaiterCount") < max; waited += 10) {
                g_assert_cmpint(waited, <, 10000);
                g_usleep(10 * 1000);
        }
        wire_test_assert_quiet(w, 200);

        /* One answer out, one more read: the first waiter's grant, then the PING's OK. */
        g_assert_cmpint(release(bus, holder, NULL), ==, 1);
        g_assert_true(wire_test_recv(w, &first, 5000));
        g_assert_cmpuint(first.m.header.serial, ==, serials[0]);
        g_assert_cmpuint(first.m.header.type, ==, WIRE_ACQUIRED);
        g_assert_true(wire_test_recv(w, &second, 5000));
        g_assert_cmpuint(second.m.header.serial, ==, ping);
        g_assert_cmpuint(second.m.header.type, ==, WIRE_OK);
        assert_others_served(&f->h);

        /* Hanging up while held back: its waits and its lock go at once. */
        g_clear_pointer(&w, wire_test_client_free);
        for (int waited = 0; count_locks(bus) > 0 || get_property_u(bus, "WaiterCount") > 0; waited += 10) {
                g_assert_cmpint(waited, <, 10000);
                g_usleep(10 * 1000);
        }
}

/* The direct socket's slots: a connection that says nothing holds one until its deadline; wire and
 * D-Bus connections count alike. */
static void test_silent_deadline(gconstpointer data) {
        Harness h = {};
        g_autofree char *config = NULL, *config_arg = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(WireTestClient) silent = NULL, preamble_only = NULL, refused = NULL, late = NULL;
        sd_bus *direct;

        harness_start_bus_only(&h, NULL);
        config = g_build_filename(h.tmpdir, "wire.conf", NULL);
        g_assert_true(g_file_set_contents(config,
                                          "[Locker]\nMaxDirectConnections=3\n[Bridge]\nHandshakeTimeout=500ms\n",
                                          -1, &error));
        config_arg = g_strdup_printf("--config=%s", config);
        harness_start_daemon(&h, (const char *const[]) { config_arg, NULL });

        direct = harness_connect_direct(&h);
        silent = wire_test_connect_raw(&h);
        preamble_only = wire_test_connect_raw(&h);
        wire_test_send_preamble(preamble_only, 1, 1);

        /* Three taken (accepted in order): the fourth is closed at once. */
        refused = wire_test_connect_raw(&h);
        wire_test_expect_eof(refused, 2000);

        /* Past the deadline, the silent ones go and their slots with them; the D-Bus peer stays. */
        wire_test_expect_eof(silent, 5000);
        wire_test_expect_eof(preamble_only, 5000);
        late = wire_test_connect(&h, NULL);
        g_assert_cmpuint(get_property_u(direct, "ClientCount"), ==, 2);

        g_clear_pointer(&late, wire_test_client_free);
        harness_stop(&h);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        harness_test_add("/wire/hello", NULL, test_hello);
        harness_test_add("/wire/acquire-release-refresh", NULL, test_acquire_release_refresh);
        harness_test_add("/wire/pipelined", NULL, test_pipelined);
        harness_test_add("/wire/contention-with-bus", NULL, test_contention_with_bus);
        harness_test_add("/wire/waiting-acquire", NULL, test_waiting_acquire);
        harness_test_add("/wire/handle", NULL, test_handle);
        harness_test_add("/wire/client-fds-closed", NULL, test_client_fds_closed);
        harness_test_add("/wire/no-reply", NULL, test_no_reply);
        harness_test_add("/wire/lock-lost", NULL, test_lock_lost);
        harness_test_add("/wire/publish", NULL, test_publish);
        harness_test_add("/wire/admin", NULL, test_admin);
        harness_test_add("/wire/shutdown", NULL, test_shutdown);
        harness_test_add("/wire/bad/first-bytes", NULL, test_bad_first_bytes);
        harness_test_add("/wire/bad/version", NULL, test_bad_version);
        harness_test_add("/wire/bad/truncated", NULL, test_bad_truncated);
        harness_test_add("/wire/bad/frame-size", NULL, test_bad_frame_size);
        harness_test_add("/wire/bad/flags", NULL, test_bad_flags);
        harness_test_add("/wire/bad/type", NULL, test_bad_type);
        harness_test_add("/wire/bad/body", NULL, test_bad_body);
        harness_test_add("/wire/bad/before-hello", NULL, test_bad_before_hello);
        harness_test_add("/wire/bad/never-reads", NULL, test_bad_never_reads);
        harness_test_add("/wire/bad/in-flight", NULL, test_bad_in_flight);
        g_test_add_data_func("/wire/bad/silent-deadline", NULL, test_silent_deadline);

        return g_test_run();
}
