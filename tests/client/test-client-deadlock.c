/* Acquire options on the wire and the daemon's Deadlock refusal, against a stand-in for pylockerd on
 * a direct socket: it answers Acquire for "/cycle" with org.pylocker.Locker.Error.Deadlock unless the
 * request turned the check off, and grants anything else with a lock id that spells out the options
 * dictionary it received, so the tests see exactly what the library sent. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "client-util.h"

#define DEADLOCK_TEXT "Waiting for '/cycle' would close a cycle: direct-1 waits for direct-2, which waits for direct-1."

/* --- the stand-in, in a child process --- */

/* "key=value,..." of an a{sv} of booleans and uint64s, in the order received; "-" when empty. */
static int read_options(sd_bus_message *m, GString *out) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;
                uint64_t u;
                int b;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                if (strcmp(contents, "b") == 0) {
                        r = sd_bus_message_read(m, "v", "b", &b);
                        g_string_append_printf(out, "%s%s=%s", out->len ? "," : "", key, b ? "true" : "false");
                } else if (strcmp(contents, "t") == 0) {
                        r = sd_bus_message_read(m, "v", "t", &u);
                        g_string_append_printf(out, "%s%s=%" G_GUINT64_FORMAT, out->len ? "," : "", key, u);
                } else
                        r = -EBADMSG;
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        if (out->len == 0)
                g_string_append(out, "-");
        return sd_bus_message_exit_container(m);
}

static int method_acquire(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        g_auto(GStrv) paths = NULL;
        g_autoptr(GString) options = g_string_new(NULL);
        uint64_t timeout;
        int r;

        r = sd_bus_message_read_strv(m, &paths);
        if (r >= 0)
                r = sd_bus_message_read(m, "t", &timeout);
        if (r >= 0)
                r = read_options(m, options);
        if (r < 0)
                return r;

        if (g_strv_contains((const char *const *) paths, "/cycle") &&
            !strstr(options->str, "deadlock_check=false"))
                return sd_bus_error_set(error, "org.pylocker.Locker.Error.Deadlock", DEADLOCK_TEXT);
        return sd_bus_reply_method_return(m, "st", options->str, UINT64_C(1));
}

static int method_register(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "s", "direct-1");
}

static int method_release(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "u", UINT32_C(1));
}

static int method_refresh(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "t", (uint64_t) g_get_real_time() + 60 * SEC);
}

static int property_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", "stand-in");
}

static int property_usec(sd_bus *bus, const char *path, const char *interface, const char *property,
                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", 60 * SEC);
}

static int property_count(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", UINT32_C(0));
}

static const sd_bus_vtable locker_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MaxLockTime", "t", property_usec, 0, 0),
        SD_BUS_PROPERTY("DefaultTimeout", "t", property_usec, 0, 0),
        SD_BUS_PROPERTY("LockCount", "u", property_count, 0, 0),
        SD_BUS_PROPERTY("WaiterCount", "u", property_count, 0, 0),
        SD_BUS_PROPERTY("ClientCount", "u", property_count, 0, 0),
        SD_BUS_METHOD("Register", "s", "s", method_register, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Acquire", "asta{sv}", "st", method_acquire, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Release", "s", "u", method_release, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Refresh", "st", "t", method_refresh, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        /* Nothing more will come; the connection stays unfreed until the stand-in is killed. */
        (void) sd_bus_detach_event(sd_bus_message_get_bus(m));
        return 0;
}

static int on_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        sd_bus *bus = NULL;
        sd_id128_t id;
        int conn;

        conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (conn < 0)
                return 0;
        g_assert_cmpint(sd_id128_randomize(&id), >=, 0);
        g_assert_cmpint(sd_bus_new(&bus), >=, 0);
        g_assert_cmpint(sd_bus_set_fd(bus, conn, conn), >=, 0);
        g_assert_cmpint(sd_bus_set_server(bus, true, id), >=, 0);
        g_assert_cmpint(sd_bus_match_signal(bus, NULL, NULL, "/org/freedesktop/DBus/Local",
                                            "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, NULL), >=, 0);
        g_assert_cmpint(sd_bus_add_object_vtable(bus, NULL, "/org/pylocker/Locker", "org.pylocker.Locker",
                                                 locker_vtable, NULL), >=, 0);
        g_assert_cmpint(sd_bus_attach_event(bus, sd_event_source_get_event(s), 0), >=, 0);
        /* Like an older pylockerd, the stand-in speaks only D-Bus there: a client that begins in the
         * wire protocol is hung up on, and the library tries D-Bus next. */
        if (sd_bus_start(bus) < 0)
                sd_bus_flush_close_unref(bus);
        return 0;
}

_Noreturn static void serve(int listen_fd) {
        sd_event *event = NULL;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        g_assert_cmpint(sd_event_new(&event), >=, 0);
        g_assert_cmpint(sd_event_add_io(event, NULL, listen_fd, EPOLLIN, on_connection, NULL), >=, 0);
        (void) sd_event_loop(event);
        _exit(0);
}

/* --- the tests --- */

typedef struct Fixture {
        char *dir;
        char *socket;
        pid_t server;
        Harness h;              /* only its bus address, for pylockctl: a bus that is not there */
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        f->dir = g_dir_make_tmp("pylocker-deadlock-XXXXXX", NULL);
        g_assert_nonnull(f->dir);
        f->socket = g_build_filename(f->dir, "private", NULL);
        f->h.bus_address = g_strconcat("unix:path=", f->dir, "/no-bus", NULL);
        g_assert_cmpuint(strlen(f->socket), <, sizeof(sa.sun_path));
        strcpy(sa.sun_path, f->socket);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(listen(fd, 16), ==, 0);
        f->server = fork();
        g_assert_cmpint(f->server, >=, 0);
        if (f->server == 0)
                serve(fd);
        (void) close(fd);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        (void) kill(f->server, SIGKILL);
        (void) waitpid(f->server, NULL, 0);
        (void) g_unlink(f->socket);
        (void) g_rmdir(f->dir);
        g_free(f->h.bus_address);
        g_free(f->socket);
        g_free(f->dir);
}

static PylockerLocker *open_locker(Fixture *f) {
        PylockerLockerOptions options = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLocker *l = NULL;

        options.transport = PYLOCKER_TRANSPORT_ADDRESS;
        options.address = f->h.bus_address;
        options.private_socket = f->socket;
        if (pylocker_locker_open(&options, &l, &error) < 0)
                g_error("open: %s", error.message);
        g_assert_true(pylocker_locker_is_direct(l));
        return l;
}

/* The lock id of a granted acquire: the options dictionary as the stand-in received it. */
static char *acquire_options_seen(PylockerLocker *l, const char *path, const PylockerAcquireOptions *o) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autoptr(PylockerLock) lock = NULL;

        g_assert_cmpint(pylocker_locker_acquire_path(l, path, o, &lock, &error), ==, 0);
        return g_strdup(pylocker_lock_get_id(lock));
}

static void test_options_on_the_wire(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerLocker) l = open_locker(f);
        PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        g_autofree char *none = NULL, *all = NULL, *no_check = NULL;

        /* Defaults are not sent: the daemon's defaults apply. */
        none = acquire_options_seen(l, "/x", NULL);
        g_assert_cmpstr(none, ==, "-");

        o.flags = PYLOCKER_ACQUIRE_SHARED | PYLOCKER_ACQUIRE_NONBLOCKING | PYLOCKER_ACQUIRE_NO_DEADLOCK_CHECK;
        o.ttl_usec = 5 * SEC;
        all = acquire_options_seen(l, "/x", &o);
        g_assert_cmpstr(all, ==, "shared=true,nonblocking=true,ttl_usec=5000000,deadlock_check=false");

        /* The flag is the negation of the wire's boolean. */
        o = (PylockerAcquireOptions) PYLOCKER_ACQUIRE_OPTIONS_INIT;
        o.flags = PYLOCKER_ACQUIRE_NO_DEADLOCK_CHECK;
        no_check = acquire_options_seen(l, "/cycle", &o);
        g_assert_cmpstr(no_check, ==, "deadlock_check=false");
}

static void test_deadlock_refused(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerLocker) l = open_locker(f);
        PylockerLocker *lockers[] = { l, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;
        AsyncResult a = {};
        int r;

        r = pylocker_locker_acquire_path(l, "/cycle", NULL, &lock, &error);
        g_assert_cmpint(r, ==, -EDEADLK);
        g_assert_null(lock);
        g_assert_cmpint(pylocker_acquire_code(r), ==, PYLOCKER_ACQUIRE_DEADLOCK);
        g_assert_cmpint(error.code, ==, -EDEADLK);
        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.Deadlock");
        g_assert_cmpstr(error.message, ==, "Acquire: would deadlock: " DEADLOCK_TEXT);
        /* Not a loss of the connection: the locker goes on. */
        g_assert_true(pylocker_locker_is_connected(l));

        g_assert_cmpint(pylocker_locker_acquire_async(l, PATHS("/a", "/cycle"), NULL, on_acquire_result, &a, &error),
                        ==, 0);
        test_pump_until(lockers, &a.done, 5000);
        g_assert_cmpint(a.r, ==, -EDEADLK);
        g_assert_cmpstr(a.error.message, ==, "Acquire: would deadlock: " DEADLOCK_TEXT);
        async_result_clear(&a);
}

/* pylockctl run: a refusal is exit 79 with the daemon's text; --no-deadlock-check sends
 * deadlock_check=false. */
static void test_pylockctl_deadlock(Fixture *f, gconstpointer data) {
        g_autofree char *out = NULL, *err = NULL, *out2 = NULL;

        g_assert_cmpint(pylockctl_run(&f->h, &out, &err, "--private-socket", f->socket, "run", "/cycle", "--",
                                      "echo", "ran", NULL), ==, 79);
        g_assert_cmpstr(out, ==, "");
        g_assert_nonnull(strstr(err, "would deadlock: " DEADLOCK_TEXT));

        g_assert_cmpint(pylockctl_run(&f->h, &out2, NULL, "--private-socket", f->socket, "run",
                                      "--no-deadlock-check", "/cycle", "--", "sh", "-c", "echo \"$PYLOCKER_LOCK_ID\"",
                                      NULL), ==, 0);
        g_assert_cmpstr(out2, ==, "deadlock_check=false\n");
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add("/client/deadlock/options-on-the-wire", Fixture, NULL, fixture_setup, test_options_on_the_wire,
                   fixture_teardown);
        g_test_add("/client/deadlock/refused", Fixture, NULL, fixture_setup, test_deadlock_refused,
                   fixture_teardown);
        g_test_add("/client/deadlock/pylockctl", Fixture, NULL, fixture_setup, test_pylockctl_deadlock,
                   fixture_teardown);
        return g_test_run();
}
