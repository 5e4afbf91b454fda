/* What one unprivileged user, run as a user the test makes, must not be able to take from the others:
 * every direct connection, idle for ever; memory, through locks on big paths; the loop, by leaving
 * with thousands of locks. Needs root. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "harness.h"
#include "wire-test.h"

static char user_name[32];

static void run_quiet(const char *const *argv) {
        int status;

        g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL,
                                   G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                                   NULL, NULL, NULL, NULL, &status, NULL));
        g_assert_true(g_spawn_check_wait_status(status, NULL));
}

/* A daemon on a bus of its own with these settings, its directory open to the test user. */
static void start_with_config(Harness *h, const char *config_text) {
        g_autofree char *config = NULL, *config_arg = NULL;

        harness_start_bus_only(h, NULL);
        g_assert_cmpint(chmod(h->tmpdir, 0755), ==, 0);
        config = g_build_filename(h->tmpdir, "limits.conf", NULL);
        g_assert_true(g_file_set_contents(config, config_text, -1, NULL));
        config_arg = g_strdup_printf("--config=%s", config);
        harness_start_daemon(h, (const char *const[]) { config_arg, NULL });
}

/* The attacker: fn runs in a child as the test user, and may talk to the parent over the two pipes
 * (to_parent, from_parent). Returns its pid. */
typedef void (*ChildFn)(Harness *h, int to_parent, int from_parent);

static pid_t run_as_user(Harness *h, ChildFn fn, int *ret_from_child, int *ret_to_child) {
        int up[2], down[2];
        pid_t pid;

        g_assert_cmpint(pipe(up), ==, 0);
        g_assert_cmpint(pipe(down), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                struct passwd *pw = getpwnam(user_name);

                close(up[0]);
                close(down[1]);
                if (!pw || setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
                    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
                        _exit(13);
                fn(h, up[1], down[0]);
                _exit(0);
        }
        close(up[1]);
        close(down[0]);
        *ret_from_child = up[0];
        *ret_to_child = down[1];
        return pid;
}

static void child_wait_for_parent(int from_parent) {
        char c;

        (void) read(from_parent, &c, 1);
}

static void tell(int fd) {
        g_assert_cmpint(write(fd, "x", 1), ==, 1);
}

static void wait_for(int fd) {
        char c;

        g_assert_cmpint(read(fd, &c, 1), ==, 1);
}

static void child_reap(pid_t pid, int from_child, int to_child, bool killed) {
        int status;

        close(to_child);
        close(from_child);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        if (killed)
                g_assert_true(WIFSIGNALED(status));
        else {
                g_assert_true(WIFEXITED(status));
                g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        }
}

static int raw_connect(Harness *h) {
        g_autofree char *path = harness_direct_socket_path(h);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
        g_assert_cmpint(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        return fd;
}

/* Whether the daemon closes the connection (EOF) within timeout_ms, without a byte sent on it. */
static bool closed_within(int fd, int timeout_ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char c;

        if (poll(&p, 1, timeout_ms) <= 0)
                return false;
        return read(fd, &c, 1) == 0;
}

/* ---- (1) the per-user connection cap ---- */

static void child_fill_connections(Harness *h, int to_parent, int from_parent) {
        int refused;

        /* Up to its cap: these stay open. */
        for (unsigned i = 0; i < 4; i++)
                (void) harness_connect_direct(h);
        /* One more is closed at once, not after the 5 s allowed to say HELLO. */
        refused = raw_connect(h);
        g_assert_true(closed_within(refused, 2000));
        close(refused);
        tell(to_parent);
        child_wait_for_parent(from_parent);
}

static void test_connection_cap(gconstpointer data) {
        Harness h = {};
        int from_child, to_child;
        pid_t pid;
        sd_bus *root;

        start_with_config(&h, "[Locker]\nMaxDirectConnections=8\nMaxDirectConnectionsPerUser=4\n");
        pid = run_as_user(&h, child_fill_connections, &from_child, &to_child);
        wait_for(from_child);

        /* The user holds its four; root connects and locks. */
        root = harness_connect_direct(&h);
        g_free(acquire_ok(root, PATHS("root-still-in"), NULL));
        g_assert_cmpuint(get_property_u(root, "ClientCount"), ==, 5);

        tell(to_child);
        child_reap(pid, from_child, to_child, false);
        harness_stop(&h);
}

/* ---- (2) the idle timeout ---- */

static void test_idle_timeout(gconstpointer data) {
        Harness h = {};
        g_autoptr(WireTestClient) idle = NULL, holder = NULL;
        uint8_t id[WIRE_LOCK_ID_SIZE];

        start_with_config(&h, "[Locker]\nIdleTimeout=1s\n");

        /* As the test user, over the wire: one idle, one holding a lock. */
        {
                int up[2];
                pid_t pid;

                g_assert_cmpint(pipe(up), ==, 0);
                pid = fork();
                g_assert_cmpint(pid, >=, 0);
                if (pid == 0) {
                        struct passwd *pw = getpwnam(user_name);

                        close(up[0]);
                        if (!pw || setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
                            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
                                _exit(13);
                        idle = wire_test_connect(&h, NULL);
                        holder = wire_test_connect(&h, NULL);
                        (void) wire_test_acquire(holder, PATHS("held-while-idle"), 0, id);
                        /* The idle one goes, the one holding a lock stays, and still answers. */
                        wire_test_expect_eof(idle, 4000);
                        wire_test_assert_quiet(holder, 1500);
                        g_assert_cmpuint(wire_test_release(holder, id), >, 0);
                        tell(up[1]);
                        _exit(0);
                }
                close(up[1]);
                wait_for(up[0]);
                close(up[0]);
                {
                        int status;

                        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
                        g_assert_true(WIFEXITED(status));
                        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
                }
        }
        harness_stop(&h);
}

/* ---- (3) the byte budget ---- */

static void child_big_paths(Harness *h, int to_parent, int from_parent) {
        sd_bus *bus = harness_connect_direct(h);
        g_autofree char *big = g_strnfill(4000, 'p');
        __attribute__((cleanup(sd_bus_error_free))) sd_bus_error error = SD_BUS_ERROR_NULL;
        unsigned granted = 0;

        /* 64 paths of 4 KB: about 260 KB a lock, so the 1 MiB budget refuses the fourth or so. */
        for (unsigned n = 0; n < 64; n++) {
                sd_bus_message *m = NULL;
                int r;

                g_assert_cmpint(locker_new_method_call(bus, &m, "Acquire"), >=, 0);
                g_assert_cmpint(sd_bus_message_open_container(m, 'a', "s"), >=, 0);
                for (unsigned i = 0; i < 64; i++) {
                        g_autofree char *p = g_strdup_printf("/%u/%u/%s", n, i, big);

                        g_assert_cmpint(sd_bus_message_append_basic(m, 's', p), >=, 0);
                }
                g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
                g_assert_cmpint(sd_bus_message_append(m, "ta{sv}", (uint64_t) 0, 0), >=, 0);
                r = sd_bus_call(bus, m, 10 * SEC, &error, NULL);
                sd_bus_message_unref(m);
                if (r < 0)
                        break;
                granted++;
        }
        g_assert_cmpuint(granted, >=, 2);
        g_assert_cmpuint(granted, <, 8);
        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.LimitsExceeded");
        g_assert_nonnull(strstr(error.message, "MaxBytesPerUser"));
        tell(to_parent);
        child_wait_for_parent(from_parent);
}

static void test_byte_budget(gconstpointer data) {
        Harness h = {};
        int from_child, to_child;
        pid_t pid;
        sd_bus *root;

        start_with_config(&h, "[Locker]\nMaxBytesPerUser=1048576\n");
        pid = run_as_user(&h, child_big_paths, &from_child, &to_child);
        wait_for(from_child);

        /* Another user is not affected. */
        root = harness_connect_direct(&h);
        g_free(acquire_ok(root, PATHS("root-still-locks"), NULL));

        tell(to_child);
        child_reap(pid, from_child, to_child, false);
        harness_stop(&h);
}

/* ---- (4) a client leaving with thousands of locks ---- */

#define TEARDOWN_LOCKS 4096
#define TEARDOWN_PATHS 32

static void child_many_locks(Harness *h, int to_parent, int from_parent) {
        sd_bus *bus = harness_connect_direct(h);

        for (unsigned n = 0; n < TEARDOWN_LOCKS; n++) {
                const char *paths[TEARDOWN_PATHS + 1] = {};
                g_autofree char *last = NULL;
                char buf[TEARDOWN_PATHS][48];

                for (unsigned i = 0; i < TEARDOWN_PATHS; i++) {
                        /* The last lock's first path is the one the parent waits for. */
                        if (n == TEARDOWN_LOCKS - 1 && i == 0)
                                g_strlcpy(buf[i], "last-of-the-dead", sizeof(buf[i]));
                        else
                                g_snprintf(buf[i], sizeof(buf[i]), "/dead/%u/%u", n, i);
                        paths[i] = buf[i];
                }
                last = acquire_ok(bus, paths, NULL);
        }
        tell(to_parent);
        child_wait_for_parent(from_parent);
}

static void test_teardown_in_batches(gconstpointer data) {
        Harness h = {};
        int from_child, to_child;
        pid_t pid;
        sd_bus *root;
        AsyncCall waiter = {};
        unsigned answered_meanwhile = 0;

        start_with_config(&h, "[Locker]\nMaxLocksPerClient=8192\nMaxLocksPerUser=8192\n");
        root = harness_connect_direct(&h);
        pid = run_as_user(&h, child_many_locks, &from_child, &to_child);
        wait_for(from_child);

        /* Behind the dead client's last lock (its locks go in grant order). */
        acquire_async(root, &waiter, &(AcquireArgs) { .paths = PATHS("last-of-the-dead"), .timeout_usec = 60 * SEC });
        harness_pump_for(&h, 200);
        g_assert_false(waiter.done);

        g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
        child_reap(pid, from_child, to_child, true);

        /* Once the daemon has seen it go, its locks are released a batch at a time: calls of others are
         * answered in between, while the waiter still waits for the last of them. (Released all at
         * once, the waiter was granted before anything else was answered.) */
        while (get_property_u(root, "ClientCount") > 1)
                ;
        for (unsigned i = 0; i < 1000 && !waiter.done; i++) {
                g_autofree char *path = g_strdup_printf("/healthy/%u", i);
                g_autofree char *id = acquire_ok(root, PATHS(path), NULL);

                while (sd_bus_process(root, NULL) > 0)
                        ;
                if (!waiter.done)
                        answered_meanwhile++;
                (void) release(root, id, NULL);
        }
        g_test_message("%u calls of another client answered during the teardown", answered_meanwhile);
        g_assert_cmpuint(answered_meanwhile, >, 0);

        harness_pump_until(&h, &waiter.done, 30000);
        g_free(reply_lock_id(waiter.reply, NULL));
        async_call_clear(&waiter);
        harness_stop(&h);
}

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);

        /* Not skipped: a limit that was not tested must not pass. */
        if (geteuid() != 0)
                g_error("needs root: it creates a user to attack from");

        g_test_add_data_func("/user-limits/connections/cap-leaves-room-for-root", NULL, test_connection_cap);
        g_test_add_data_func("/user-limits/connections/idle-timeout", NULL, test_idle_timeout);
        g_test_add_data_func("/user-limits/memory/byte-budget", NULL, test_byte_budget);
        g_test_add_data_func("/user-limits/teardown/others-served-between-batches", NULL, test_teardown_in_batches);

        g_snprintf(user_name, sizeof(user_name), "pylkt%dl", (int) getpid());
        run_quiet((const char *const[]) { "useradd", "-M", "-N", "-s", "/usr/sbin/nologin", user_name, NULL });
        r = g_test_run();
        run_quiet((const char *const[]) { "userdel", user_name, NULL });
        return r;
}
