/* Integration tests: a real pylockerd on a private dbus-daemon, driven by several real sd-bus clients. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <glib.h>

#include "harness.h"

/* The running daemon's introspection of the interface equals dbus/org.pylocker.Locker.xml. */
static void assert_annotations_equal(GDBusAnnotationInfo **a, GDBusAnnotationInfo **b, const char *where) {
        guint na = a ? g_strv_length((char **) a) : 0, nb = b ? g_strv_length((char **) b) : 0;

        g_test_message("annotations of %s", where);
        g_assert_cmpuint(na, ==, nb);
        for (guint i = 0; i < na; i++) {
                g_assert_cmpstr(a[i]->key, ==, b[i]->key);
                g_assert_cmpstr(a[i]->value, ==, b[i]->value);
        }
}

static void assert_args_equal(GDBusArgInfo **a, GDBusArgInfo **b, const char *where) {
        guint na = a ? g_strv_length((char **) a) : 0, nb = b ? g_strv_length((char **) b) : 0;

        g_test_message("arguments of %s", where);
        g_assert_cmpuint(na, ==, nb);
        for (guint i = 0; i < na; i++) {
                g_assert_cmpstr(a[i]->name, ==, b[i]->name);
                g_assert_cmpstr(a[i]->signature, ==, b[i]->signature);
        }
}

static void test_introspection_matches_xml(HarnessFixture *f, gconstpointer data) {
        sd_bus *bus = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        g_autoptr(GDBusNodeInfo) live_node = NULL, file_node = NULL;
        g_autoptr(GError) gerror = NULL;
        g_autofree char *file_xml = NULL;
        GDBusInterfaceInfo *live, *file;
        const char *xml;

        g_assert_cmpint(sd_bus_call_method(bus, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH,
                                           "org.freedesktop.DBus.Introspectable", "Introspect", &error,
                                           &reply, NULL), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "s", &xml), >, 0);
        live_node = g_dbus_node_info_new_for_xml(xml, &gerror);
        g_assert_no_error(gerror);

        g_assert_true(g_file_get_contents(g_getenv("PYLOCKER_INTERFACE_XML"), &file_xml, NULL, &gerror));
        file_node = g_dbus_node_info_new_for_xml(file_xml, &gerror);
        g_assert_no_error(gerror);

        live = g_dbus_node_info_lookup_interface(live_node, PYLOCKER_INTERFACE);
        file = g_dbus_node_info_lookup_interface(file_node, PYLOCKER_INTERFACE);
        g_assert_nonnull(live);
        g_assert_nonnull(file);

        g_assert_cmpuint(g_strv_length((char **) live->methods), ==, g_strv_length((char **) file->methods));
        for (guint i = 0; file->methods[i]; i++) {
                GDBusMethodInfo *fm = file->methods[i];
                GDBusMethodInfo *lm = g_dbus_interface_info_lookup_method(live, fm->name);

                g_test_message("method %s", fm->name);
                g_assert_nonnull(lm);
                assert_args_equal(lm->in_args, fm->in_args, fm->name);
                assert_args_equal(lm->out_args, fm->out_args, fm->name);
                assert_annotations_equal(lm->annotations, fm->annotations, fm->name);
        }

        g_assert_cmpuint(g_strv_length((char **) live->signals), ==, g_strv_length((char **) file->signals));
        for (guint i = 0; file->signals[i]; i++) {
                GDBusSignalInfo *fs = file->signals[i];
                GDBusSignalInfo *ls = g_dbus_interface_info_lookup_signal(live, fs->name);

                g_assert_nonnull(ls);
                assert_args_equal(ls->args, fs->args, fs->name);
                assert_annotations_equal(ls->annotations, fs->annotations, fs->name);
        }

        g_assert_cmpuint(g_strv_length((char **) live->properties), ==, g_strv_length((char **) file->properties));
        for (guint i = 0; file->properties[i]; i++) {
                GDBusPropertyInfo *fp = file->properties[i];
                GDBusPropertyInfo *lp = g_dbus_interface_info_lookup_property(live, fp->name);

                g_test_message("property %s", fp->name);
                g_assert_nonnull(lp);
                g_assert_cmpstr(lp->signature, ==, fp->signature);
                g_assert_cmpint(lp->flags, ==, fp->flags);
                assert_annotations_equal(lp->annotations, fp->annotations, fp->name);
        }

        sd_bus_message_unref(reply);
}

static void test_contention_handover(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *id_a = NULL, *id_b = NULL;
        AsyncCall call = {};
        uint64_t token_a, token_b;

        id_a = acquire_ok(a, PATHS("/srv/data"), &token_a);
        acquire_async(b, &call, &(AcquireArgs) { .paths = PATHS("/srv/data"), .timeout_usec = 10 * SEC });

        /* B waits while A holds the path. */
        harness_sync(&f->h);
        g_assert_false(call.done);
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 1);
        g_assert_cmpuint(get_property_u(a, "LockCount"), ==, 1);

        g_assert_cmpint(release(a, id_a, NULL), ==, 1);
        harness_pump_until(&f->h, &call.done, 5000);
        id_b = reply_lock_id(call.reply, &token_b);
        g_assert_cmpstr(id_a, !=, id_b);
        g_assert_cmpuint(token_b, >, token_a);
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 0);
        g_assert_cmpint(release(b, id_b, NULL), ==, 1);
        async_call_clear(&call);
}

static void test_fifo_over_bus(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h), *c = harness_connect(&f->h);
        g_autofree char *hold = NULL, *id_b = NULL, *id_c = NULL;
        AsyncCall call_b = {}, call_c = {};

        hold = acquire_ok(a, PATHS("y"), NULL);
        acquire_async(b, &call_b, &(AcquireArgs) { .paths = PATHS("x", "y"), .timeout_usec = 10 * SEC });
        /* B is queued before C asks. */
        harness_sync(&f->h);
        /* x is free, but C comes after B, who waits for {x, y}. */
        acquire_async(c, &call_c, &(AcquireArgs) { .paths = PATHS("x"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        g_assert_false(call_b.done);
        g_assert_false(call_c.done);

        g_assert_cmpint(release(a, hold, NULL), ==, 1);
        harness_pump_until(&f->h, &call_b.done, 5000);
        id_b = reply_lock_id(call_b.reply, NULL);
        harness_sync(&f->h);
        g_assert_false(call_c.done);
        g_assert_cmpint(release(b, id_b, NULL), ==, 1);
        harness_pump_until(&f->h, &call_c.done, 5000);
        id_c = reply_lock_id(call_c.reply, NULL);
        async_call_clear(&call_b);
        async_call_clear(&call_c);
}

static void test_shared_over_bus(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h), *c = harness_connect(&f->h);
        g_autofree char *id_a = NULL, *id_b = NULL, *id_c = NULL;
        AsyncCall ca = {}, cb = {}, cc = {};

        acquire_async(a, &ca, &(AcquireArgs) { .paths = PATHS("r"), .shared = true });
        acquire_async(b, &cb, &(AcquireArgs) { .paths = PATHS("r"), .shared = true });
        harness_pump_until(&f->h, &ca.done, 5000);
        harness_pump_until(&f->h, &cb.done, 5000);
        id_a = reply_lock_id(ca.reply, NULL);
        id_b = reply_lock_id(cb.reply, NULL);

        acquire_async(c, &cc, &(AcquireArgs) { .paths = PATHS("r"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        g_assert_false(cc.done);
        g_assert_cmpint(release(a, id_a, NULL), ==, 1);
        harness_sync(&f->h);
        g_assert_false(cc.done);
        g_assert_cmpint(release(b, id_b, NULL), ==, 1);
        harness_pump_until(&f->h, &cc.done, 5000);
        id_c = reply_lock_id(cc.reply, NULL);
        async_call_clear(&ca);
        async_call_clear(&cb);
        async_call_clear(&cc);
}

static void test_timeout(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *id = NULL;
        AsyncCall call = {};

        id = acquire_ok(a, PATHS("t"), NULL);
        acquire_async(b, &call, &(AcquireArgs) { .paths = PATHS("t", "u"), .timeout_usec = 300 * MSEC });
        harness_pump_until(&f->h, &call.done, 5000);
        assert_reply_error(call.reply, "org.pylocker.Locker.Error.Timeout");

        /* No trace: no waiter, and u was never held. */
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 0);
        g_assert_cmpuint(count_locks(a), ==, 1);
        g_free(acquire_ok(b, PATHS("u"), NULL));
        async_call_clear(&call);
}

static void test_nonblocking(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *id = NULL, *id2 = NULL;

        id = acquire_ok(a, PATHS("n"), NULL);
        acquire_fails(b, &(AcquireArgs) { .paths = PATHS("n", "m"), .nonblocking = true },
                      "org.pylocker.Locker.Error.Timeout");
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 0);
        g_assert_cmpint(release(a, id, NULL), ==, 1);
        id2 = acquire_ok(b, PATHS("n", "m"), NULL);
}

static void test_release_rules(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *id = NULL;

        id = acquire_ok(a, PATHS("p"), NULL);
        release(b, id, "org.pylocker.Locker.Error.NotOwner");
        g_assert_cmpuint(count_locks(a), ==, 1);
        g_assert_cmpint(release(a, id, NULL), ==, 1);
        g_assert_cmpint(release(a, id, NULL), ==, 0);
        g_assert_cmpint(release(b, "00000000000000000000000000000000", NULL), ==, 0);
        release(a, "not-a-lock-id", "org.freedesktop.DBus.Error.InvalidArgs");
}

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

typedef struct SignalCatcher {
        char *lock_id;
        unsigned n_paths;
        bool done;
} SignalCatcher;

static int on_lock_expired(sd_bus_message *m, void *userdata, sd_bus_error *error) {
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

static void test_lock_expired_signal(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *observer = harness_connect(&f->h);
        SignalCatcher caught = {}, overheard = {};
        g_autofree char *id = NULL;
        AsyncCall call = {};

        g_assert_cmpint(locker_match_signal(a, "LockExpired", on_lock_expired, &caught), >=, 0);
        /* An ordinary match on another connection: unicast signals never reach it. */
        g_assert_cmpint(locker_match_signal(observer, "LockExpired", on_lock_expired, &overheard), >=, 0);

        acquire_async(a, &call, &(AcquireArgs) { .paths = PATHS("e1", "e2"), .ttl_usec = 300 * MSEC });
        harness_pump_until(&f->h, &call.done, 5000);
        id = reply_lock_id(call.reply, NULL);
        harness_pump_until(&f->h, &caught.done, 5000);
        g_assert_cmpstr(caught.lock_id, ==, id);
        g_assert_cmpuint(caught.n_paths, ==, 2);
        g_assert_cmpuint(count_locks(a), ==, 0);
        g_assert_cmpint(release(a, id, NULL), ==, 0);
        harness_sync(&f->h);
        g_assert_false(overheard.done);

        g_free(caught.lock_id);
        async_call_clear(&call);
}

static void test_refresh_extends(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        g_autofree char *id = NULL;
        SignalCatcher caught = {};
        AsyncCall call = {};
        uint64_t expires, before;

        g_assert_cmpint(locker_match_signal(a, "LockExpired", on_lock_expired, &caught), >=, 0);
        acquire_async(a, &call, &(AcquireArgs) { .paths = PATHS("r"), .ttl_usec = 400 * MSEC });
        harness_pump_until(&f->h, &call.done, 5000);
        id = reply_lock_id(call.reply, NULL);

        /* Refresh a few times past the original lease. */
        for (int i = 0; i < 4; i++) {
                harness_pump_for(&f->h, 200);
                before = (uint64_t) g_get_real_time();
                g_assert_cmpint(locker_call_method(a, "Refresh", &error, &reply, "st", id,
                                                   400 * MSEC), >=, 0);
                g_assert_cmpint(sd_bus_message_read(reply, "t", &expires), >, 0);
                reply = sd_bus_message_unref(reply);
                g_assert_cmpuint(expires, >=, before + 400 * MSEC - 50 * MSEC);
                g_assert_cmpuint(expires, <=, (uint64_t) g_get_real_time() + 400 * MSEC + 50 * MSEC);
        }
        g_assert_false(caught.done);
        g_assert_cmpuint(count_locks(a), ==, 1);

        /* A ttl past MaxLockTime is capped to it. */
        before = (uint64_t) g_get_real_time();
        g_assert_cmpint(locker_call_method(a, "Refresh", &error, &reply, "st", id, 3600 * SEC), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "t", &expires), >, 0);
        reply = sd_bus_message_unref(reply);
        g_assert_cmpuint(expires, <=, (uint64_t) g_get_real_time() + 120 * SEC);
        g_assert_cmpuint(expires, >=, before + 120 * SEC - SEC);

        g_assert_cmpint(release(a, id, NULL), ==, 1);
        g_assert_cmpint(locker_call_method(a, "Refresh", &error, NULL, "st", id, 0), <, 0);
        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.NotFound");
        sd_bus_error_free(&error);
        g_free(caught.lock_id);
        async_call_clear(&call);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        bool *seen = userdata;

        *seen = true;
        return 0;
}

static void test_properties(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *version = NULL, *id = NULL;
        bool changed = false;
        AsyncCall call = {};

        g_assert_cmpint(sd_bus_get_property_string(a, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH,
                                                   PYLOCKER_INTERFACE, "Version", &error, &version), >=, 0);
        g_assert_cmpstr(version, ==, g_getenv("PYLOCKER_VERSION"));
        g_assert_cmpuint(get_property_t(a, "MaxLockTime"), ==, 120 * SEC);
        g_assert_cmpuint(get_property_t(a, "DefaultTimeout"), ==, 20 * SEC);

        g_assert_cmpint(sd_bus_match_signal(b, NULL, NULL, PYLOCKER_OBJECT_PATH,
                                            "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                            on_properties_changed, &changed), >=, 0);
        g_assert_cmpint(locker_call_method(a, "SetMaxLockTime", &error, NULL, "t", 5 * SEC), >=, 0);
        harness_pump_until(&f->h, &changed, 5000);
        g_assert_cmpuint(get_property_t(a, "MaxLockTime"), ==, 5 * SEC);
        changed = false;
        g_assert_cmpint(locker_call_method(a, "SetDefaultTimeout", &error, NULL, "t", 250 * MSEC), >=, 0);
        harness_pump_until(&f->h, &changed, 5000);
        g_assert_cmpuint(get_property_t(a, "DefaultTimeout"), ==, 250 * MSEC);

        /* The new default timeout applies to a timeout of 0. */
        id = acquire_ok(a, PATHS("q"), NULL);
        acquire_async(b, &call, &(AcquireArgs) { .paths = PATHS("q") });
        harness_pump_until(&f->h, &call.done, 5000);
        assert_reply_error(call.reply, "org.pylocker.Locker.Error.Timeout");

        g_assert_cmpuint(get_property_u(a, "LockCount"), ==, 1);
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 0);
        g_assert_cmpuint(get_property_u(a, "ClientCount"), ==, 2);
        async_call_clear(&call);
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

static void call_expect_error(sd_bus *bus, const char *error_name, const char *member, const char *types, ...) {
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        va_list ap;

        g_assert_cmpint(locker_new_method_call(bus, &m, member), >=, 0);
        va_start(ap, types);
        g_assert_cmpint(sd_bus_message_appendv(m, types, ap), >=, 0);
        va_end(ap);
        g_assert_cmpint(sd_bus_call(bus, m, 10 * SEC, &error, &reply), <, 0);
        g_test_message("%s: %s", error.name, error.message);
        g_assert_cmpstr(error.name, ==, error_name);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);
}

static void test_bad_arguments(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h);
        g_autofree char *held = NULL, *long_path = g_strnfill(4097, 'x'), *long_name = g_strnfill(256, 'n');
        g_autoptr(GPtrArray) many = g_ptr_array_new_with_free_func(g_free);
        const char *invalid = "org.freedesktop.DBus.Error.InvalidArgs";
        sd_bus_message *m = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;

        held = acquire_ok(a, PATHS("held"), NULL);

        call_expect_error(a, invalid, "Acquire", "asta{sv}", 0, 0, 0);
        call_expect_error(a, invalid, "Acquire", "asta{sv}", 2, "ok", "", 0, 0);
        call_expect_error(a, invalid, "Acquire", "asta{sv}", 1, long_path, 0, 0);
        call_expect_error(a, invalid, "Acquire", "asta{sv}", 1, "x", 0, 1, "sharde", "b", 1);
        call_expect_error(a, invalid, "Acquire", "asta{sv}", 1, "x", 0, 1, "shared", "s", "yes");
        call_expect_error(a, invalid, "Acquire", "asta{sv}", 1, "x", 0, 1, "ttl_usec", "u", 5);
        call_expect_error(a, invalid, "Acquire", "s", "x");
        call_expect_error(a, invalid, "AcquireHandle", "asta{sv}", 0, 0, 0);
        call_expect_error(a, invalid, "Release", "s", "HELD");
        call_expect_error(a, invalid, "Release", "u", 5);
        call_expect_error(a, invalid, "Refresh", "st", "zz", 0);
        call_expect_error(a, invalid, "ForceRelease", "s", "");
        call_expect_error(a, invalid, "SetMaxLockTime", "t", 0);
        call_expect_error(a, invalid, "SetDefaultTimeout", "t", 0);
        call_expect_error(a, invalid, "Register", "s", long_name);
        call_expect_error(a, invalid, "Register", "s", "tab\there");

        /* 257 paths: one more than the limit. */
        for (int i = 0; i < 257; i++)
                g_ptr_array_add(many, g_strdup_printf("p%d", i));
        g_ptr_array_add(many, NULL);
        g_assert_cmpint(locker_new_method_call(a, &m, "Acquire"), >=, 0);
        g_assert_cmpint(sd_bus_message_append_strv(m, (char **) many->pdata), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "ta{sv}", 0, 0), >=, 0);
        g_assert_cmpint(sd_bus_call(a, m, 10 * SEC, &error, NULL), <, 0);
        g_assert_cmpstr(error.name, ==, invalid);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);

        /* Nothing changed. */
        g_assert_cmpuint(count_locks(a), ==, 1);
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 0);
        g_assert_cmpuint(get_property_t(a, "MaxLockTime"), ==, 120 * SEC);
        g_assert_cmpuint(get_property_t(a, "DefaultTimeout"), ==, 20 * SEC);
        g_assert_cmpint(release(a, held, NULL), ==, 1);
}

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

static void test_force_release(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *admin = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        g_autofree char *id = NULL;
        SignalCatcher caught = {};
        uint32_t code;
        int pipefd[2], status;
        pid_t pid;

        g_assert_cmpint(locker_match_signal(a, "LockExpired", on_lock_expired, &caught), >=, 0);
        id = acquire_ok(a, PATHS("f"), NULL);

        /* An unprivileged user may not. */
        g_assert_cmpint(pipe(pipefd), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                sd_bus *bus = NULL;
                sd_bus_error e = SD_BUS_ERROR_NULL;
                char result[256];

                close(pipefd[0]);
                if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        _exit(2);
                if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, f->h.bus_address) < 0 ||
                    sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0)
                        _exit(3);
                (void) locker_call_method(bus, "ForceRelease", &e, NULL, "s", id);
                g_snprintf(result, sizeof(result), "%s", e.name ?: "none");
                _exit(write(pipefd[1], result, strlen(result)) > 0 ? 0 : 4);
        }
        close(pipefd[1]);
        {
                char result[256] = {};

                g_assert_cmpint(read(pipefd[0], result, sizeof(result) - 1), >, 0);
                g_assert_cmpstr(result, ==, "org.freedesktop.DBus.Error.AccessDenied");
        }
        close(pipefd[0]);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_cmpuint(count_locks(a), ==, 1);

        /* Root may; the holder is told. */
        g_assert_cmpint(locker_call_method(admin, "ForceRelease", &error, &reply, "s", id), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "u", &code), >, 0);
        g_assert_cmpuint(code, ==, 1);
        reply = sd_bus_message_unref(reply);
        harness_pump_until(&f->h, &caught.done, 5000);
        g_assert_cmpstr(caught.lock_id, ==, id);
        g_assert_cmpuint(count_locks(a), ==, 0);

        g_assert_cmpint(locker_call_method(admin, "ForceRelease", &error, &reply, "s", id), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "u", &code), >, 0);
        g_assert_cmpuint(code, ==, 0);
        sd_bus_message_unref(reply);
        g_free(caught.lock_id);
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

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) harness_test_add("/daemon/" path, NULL, fn)
#define ADD_WITH(path, args, fn) harness_test_add("/daemon/" path, args, fn)
        ADD("introspection-matches-xml", test_introspection_matches_xml);
        ADD("acquire/contention-handover", test_contention_handover);
        ADD("acquire/fifo-multi-path", test_fifo_over_bus);
        ADD("acquire/shared", test_shared_over_bus);
        ADD("acquire/timeout", test_timeout);
        ADD("acquire/nonblocking", test_nonblocking);
        ADD("release/rules", test_release_rules);
        ADD("client/sigkill-frees-locks", test_sigkill_frees_locks);
        ADD("client/disconnect-drops-waiter", test_disconnect_drops_waiter);
        ADD("handle/close-frees-lock", test_handle_close_frees);
        ADD("lease/lock-expired-signal", test_lock_expired_signal);
        ADD("lease/refresh-extends", test_refresh_extends);
        ADD("properties/read-back", test_properties);
        ADD("client/register-and-list", test_register_and_list_clients);
        ADD("args/invalid-change-nothing", test_bad_arguments);
        ADD_WITH("limits/per-client-quota", quota_args, test_quota);
        ADD_WITH("limits/from-command-line", config_args, test_limits_from_options);
        ADD("admin/force-release", test_force_release);
        ADD("shutdown/answers-waiters", test_shutdown_answers_waiters);
        ADD("direct/one-namespace-and-disconnect", test_direct_socket);
        ADD("tokens/survive-restart", test_tokens_survive_restart);
        ADD_WITH("limits/per-user", user_quota_args, test_per_user_limits);
        ADD("direct/signals-and-handles", test_direct_socket_signals_and_handles);
        g_test_add_func("/daemon/config/bad-file", test_bad_config);
#undef ADD
#undef ADD_WITH

        return g_test_run();
}
