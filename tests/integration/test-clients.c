/* The clients of a real pylockerd and their lifetimes: a killed or disconnected client's locks and
 * waits, lock handles, Register and ListClients, and the direct socket beside the bus. */
#undef G_DISABLE_ASSERT
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "harness.h"

static void test_sigkill_frees_locks(HarnessFixture *f, gconstpointer data) {
        sd_bus *b = harness_connect(&f->h);
        g_autofree char *id_b = NULL;
        char buf[64] = {};
        int pipefd[2], status;
        AsyncCall call = {};
        pid_t pid;

        g_assert_cmpint(pipe(pipefd), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                /* The holder: a separate process with its own connection, killed while holding. */
                sd_bus *bus = NULL;
                char *id;

                close(pipefd[0]);
                if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, f->h.bus_address) < 0 ||
                    sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0)
                        _exit(1);
                id = acquire_ok(bus, PATHS("k1", "k2"), NULL);
                if (write(pipefd[1], id, strlen(id)) < 0)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(pipefd[1]);
        g_assert_cmpint(read(pipefd[0], buf, sizeof(buf) - 1), ==, 32);
        close(pipefd[0]);
        g_assert_cmpuint(count_locks(b), ==, 1);

        acquire_async(b, &call, &(AcquireArgs) { .paths = PATHS("k2"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        g_assert_false(call.done);

        g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        harness_pump_until(&f->h, &call.done, 5000);
        id_b = reply_lock_id(call.reply, NULL);
        g_assert_cmpuint(count_locks(b), ==, 1);
        g_assert_cmpint(release(b, buf, NULL), ==, 0);
        async_call_clear(&call);
}

static void test_disconnect_drops_waiter(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h), *c = harness_connect(&f->h);
        g_autofree char *id = NULL, *id_c = NULL;
        AsyncCall cb = {}, cc = {};

        id = acquire_ok(a, PATHS("d"), NULL);
        acquire_async(b, &cb, &(AcquireArgs) { .paths = PATHS("d"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        acquire_async(c, &cc, &(AcquireArgs) { .paths = PATHS("d"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 2);

        async_call_clear(&cb);
        harness_disconnect(&f->h, b);
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 1);

        g_assert_cmpint(release(a, id, NULL), ==, 1);
        harness_pump_until(&f->h, &cc.done, 5000);
        id_c = reply_lock_id(cc.reply, NULL);
        async_call_clear(&cc);
}

static void test_handle_close_frees(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *id = NULL, *id_b = NULL;
        AsyncCall ca = {}, cb = {};
        int fd, copy;

        acquire_async(a, &ca, &(AcquireArgs) { .paths = PATHS("h"), .handle = true });
        harness_pump_until(&f->h, &ca.done, 5000);
        {
                const char *s;
                uint64_t token;
                int received;

                g_assert_false(sd_bus_message_is_method_error(ca.reply, NULL));
                g_assert_cmpint(sd_bus_message_read(ca.reply, "sth", &s, &token, &received), >, 0);
                id = g_strdup(s);
                fd = fcntl(received, F_DUPFD_CLOEXEC, 3);
                g_assert_cmpint(fd, >=, 0);
        }
        async_call_clear(&ca);
        copy = dup(fd);
        g_assert_cmpint(copy, >=, 0);

        acquire_async(b, &cb, &(AcquireArgs) { .paths = PATHS("h"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        g_assert_false(cb.done);

        /* One copy left: still held. (The daemon would only learn of the last close, from the kernel in
         * its own time: no barrier tells that nothing came, so this waits a while.) */
        close(fd);
        harness_pump_for(&f->h, 200);
        g_assert_false(cb.done);

        close(copy);
        harness_pump_until(&f->h, &cb.done, 5000);
        id_b = reply_lock_id(cb.reply, NULL);
        /* The lock went with its handle, even though its owner is still connected. */
        g_assert_cmpint(release(a, id, NULL), ==, 0);
        async_call_clear(&cb);
}

static void test_register_and_list_clients(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *client_id, *unique, *name, *transport;
        uint32_t uid, pid;
        bool found = false;
        g_autofree char *lock = NULL;

        g_assert_cmpint(locker_call_method(a, "Register", &error, &reply, "s", "alpha"), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "s", &client_id), >, 0);
        g_assert_cmpint(sd_bus_get_unique_name(a, &unique), >=, 0);
        g_assert_cmpstr(client_id, ==, unique);
        reply = sd_bus_message_unref(reply);

        g_assert_cmpint(locker_call_method(b, "Register", &error, NULL, "s", "alpha"), <, 0);
        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.AlreadyExists");
        sd_bus_error_free(&error);

        lock = acquire_ok(a, PATHS("named"), NULL);
        g_assert_cmpint(locker_call_method(b, "ListClients", &error, &reply, NULL), >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "(ssuus)"), >, 0);
        while (sd_bus_message_read(reply, "(ssuus)", &client_id, &name, &uid, &pid, &transport) > 0)
                if (g_str_equal(client_id, unique)) {
                        g_assert_cmpstr(name, ==, "alpha");
                        g_assert_cmpuint(uid, ==, getuid());
                        g_assert_cmpuint(pid, ==, getpid());
                        g_assert_cmpstr(transport, ==, "bus");
                        found = true;
                }
        g_assert_true(found);
        reply = sd_bus_message_unref(reply);

        /* ListLocks names the owner. */
        g_assert_cmpint(locker_call_method(b, "ListLocks", &error, &reply, NULL), >=, 0);
        {
                const char *lock_id, *owner, *owner_name;
                char **paths = NULL;
                uint64_t token, acquired, expires;
                int shared;

                g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "(sassstbtt)"), >, 0);
                g_assert_cmpint(sd_bus_message_enter_container(reply, 'r', "sassstbtt"), >, 0);
                g_assert_cmpint(sd_bus_message_read(reply, "s", &lock_id), >, 0);
                g_assert_cmpint(sd_bus_message_read_strv(reply, &paths), >, 0);
                g_assert_cmpint(sd_bus_message_read(reply, "sstbtt", &owner, &owner_name, &token, &shared,
                                                    &acquired, &expires), >, 0);
                g_assert_cmpstr(lock_id, ==, lock);
                g_assert_cmpstr(paths[0], ==, "named");
                g_assert_cmpstr(owner, ==, unique);
                g_assert_cmpstr(owner_name, ==, "alpha");
                g_assert_false(shared);
                g_assert_cmpuint(expires, ==, acquired + 120 * SEC);
                g_assert_cmpuint(acquired, <=, (uint64_t) g_get_real_time());
                g_strfreev(paths);
        }
        reply = sd_bus_message_unref(reply);

        /* The name is free again once its client is gone. */
        harness_disconnect(&f->h, a);
        g_assert_cmpint(locker_call_method(b, "Register", &error, NULL, "s", "alpha"), >=, 0);
}

/* The direct socket: the same object peer to peer, one lock namespace with the bus. */
static void test_direct_socket(HarnessFixture *f, gconstpointer data) {
        g_autofree char *path = harness_direct_socket_path(&f->h);
        sd_bus *direct = harness_connect_direct(&f->h), *bus = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        g_autofree char *id = NULL, *id_bus = NULL;
        const char *client_id, *name, *transport;
        uint32_t uid, pid;
        AsyncCall call = {};
        bool found = false;
        struct stat st;

        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_true(S_ISSOCK(st.st_mode));
        g_assert_cmpuint(st.st_mode & 0777, ==, 0666);

        id = acquire_ok(direct, PATHS("shared/path"), NULL);
        acquire_async(bus, &call,
                      &(AcquireArgs) { .paths = PATHS("shared/path"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        g_assert_false(call.done);

        g_assert_cmpint(locker_call_method(bus, "ListClients", &error, &reply, NULL), >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "(ssuus)"), >, 0);
        while (sd_bus_message_read(reply, "(ssuus)", &client_id, &name, &uid, &pid, &transport) > 0)
                if (g_str_has_prefix(client_id, "direct-")) {
                        g_assert_cmpuint(uid, ==, getuid());
                        g_assert_cmpuint(pid, ==, getpid());
                        g_assert_cmpstr(transport, ==, "bus");
                        found = true;
                }
        g_assert_true(found);
        sd_bus_message_unref(reply);

        /* A bus client may not release the direct client's lock. */
        release(bus, id, "org.pylocker.Locker.Error.NotOwner");

        /* Disconnecting from the direct socket frees the lock at once. */
        harness_disconnect(&f->h, direct);
        harness_pump_until(&f->h, &call.done, 5000);
        id_bus = reply_lock_id(call.reply, NULL);
        g_assert_cmpuint(count_locks(bus), ==, 1);
        async_call_clear(&call);
}

static void test_direct_socket_signals_and_handles(HarnessFixture *f, gconstpointer data) {
        sd_bus *direct = harness_connect_direct(&f->h), *bus = harness_connect(&f->h);
        SignalCatcher caught = {};
        g_autofree char *id = NULL;
        AsyncCall call = {}, handle_call = {};
        const char *s;
        uint64_t token;
        int fd;

        g_assert_cmpint(locker_match_signal(direct, "LockExpired", on_lock_expired, &caught), >=, 0);
        acquire_async(direct, &call, &(AcquireArgs) { .paths = PATHS("lease"), .ttl_usec = 200 * MSEC });
        harness_pump_until(&f->h, &call.done, 5000);
        id = reply_lock_id(call.reply, NULL);
        harness_pump_until(&f->h, &caught.done, 5000);
        g_assert_cmpstr(caught.lock_id, ==, id);

        acquire_async(direct, &handle_call, &(AcquireArgs) { .paths = PATHS("handle"), .handle = true });
        harness_pump_until(&f->h, &handle_call.done, 5000);
        g_assert_false(sd_bus_message_is_method_error(handle_call.reply, NULL));
        g_assert_cmpint(sd_bus_message_read(handle_call.reply, "sth", &s, &token, &fd), >, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpuint(count_locks(bus), ==, 1);

        g_free(caught.lock_id);
        async_call_clear(&call);
        async_call_clear(&handle_call);
        /* The received fd went with the reply: the lock is gone with it. */
        g_assert_cmpuint(count_locks(bus), ==, 0);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        harness_test_add("/clients/sigkill-frees-locks", NULL, test_sigkill_frees_locks);
        harness_test_add("/clients/disconnect-drops-waiter", NULL, test_disconnect_drops_waiter);
        harness_test_add("/clients/handle/close-frees-lock", NULL, test_handle_close_frees);
        harness_test_add("/clients/register-and-list", NULL, test_register_and_list_clients);
        harness_test_add("/clients/direct/one-namespace-and-disconnect", NULL, test_direct_socket);
        harness_test_add("/clients/direct/signals-and-handles", NULL, test_direct_socket_signals_and_handles);

        return g_test_run();
}
