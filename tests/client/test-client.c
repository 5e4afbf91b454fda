/* The client library against a real pylockerd on a private bus: locks, contention, losses, handles,
 * event loops, the registry, and bad input. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <systemd/sd-event.h>

#include "client-util.h"

typedef struct Fixture {
        Harness h;
        char *socket;           /* the daemon's private socket, for the tests that want one */
} Fixture;

/* The test data of the tests that want the private socket, told apart by its address. */
static const char with_private_socket[] = "private-socket";
#define WITH_PRIVATE_SOCKET ((gconstpointer) with_private_socket)

static void fixture_setup(Fixture *f, gconstpointer data) {
        /* The harness's daemon always serves a direct socket; the tests without one ignore it. */
        harness_start(&f->h, NULL);
        f->socket = data == WITH_PRIVATE_SOCKET ? harness_direct_socket_path(&f->h) : NULL;
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        pylocker_registry_clear();
        harness_stop(&f->h);
        g_free(f->socket);
}

static void test_blocking(Fixture *f, gconstpointer data) {
        PylockerLocker *l = test_locker_open(&f->h, "blocking", NULL);
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLockInfo *infos = NULL;
        PylockerLock *lock = NULL;
        g_autofree char *id = NULL;
        char **paths = NULL;
        size_t n = 0;

        g_assert_cmpint(pylocker_locker_acquire(l, PATHS("/a", "/b"), NULL, &lock, &error), ==, 0);
        g_assert_cmpint(error.code, ==, 0);
        g_assert_cmpuint(strlen(pylocker_lock_get_id(lock)), ==, 32);
        g_assert_cmpuint(pylocker_lock_get_token(lock), >, 0);
        g_assert_cmpstr(pylocker_lock_get_paths(lock)[0], ==, "/a");
        g_assert_cmpstr(pylocker_lock_get_paths(lock)[1], ==, "/b");
        g_assert_true(pylocker_lock_is_held(lock));
        g_assert_cmpuint(pylocker_lock_get_expires(lock), >, (uint64_t) g_get_real_time());
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(l), ==, 1);
        g_assert_true(pylocker_locker_get_owned_lock(l, 0) == lock);
        id = g_strdup(pylocker_lock_get_id(lock));

        g_assert_cmpint(pylocker_locker_list_locks(l, &infos, &n, &error), ==, 0);
        g_assert_cmpuint(n, ==, 1);
        g_assert_cmpstr(infos[0].lock_id, ==, id);
        g_assert_cmpstr(infos[0].owner_id, ==, pylocker_locker_get_client_id(l));
        g_assert_cmpstr(infos[0].owner_name, ==, "blocking");
        g_assert_cmpuint(infos[0].token, ==, pylocker_lock_get_token(lock));
        pylocker_lock_info_array_free(infos, n);

        g_assert_cmpint(pylocker_locker_get_locked_paths(l, &paths, &error), ==, 0);
        g_assert_cmpstr(paths[0], ==, "/a");
        g_assert_cmpstr(paths[1], ==, "/b");
        g_assert_null(paths[2]);
        pylocker_strv_free(paths);

        /* A refresh gives the daemon's exact expiry. */
        g_assert_cmpint(pylocker_lock_refresh(lock, 5 * SEC, &error), ==, 0);
        g_assert_cmpuint(pylocker_lock_get_expires(lock), <=, (uint64_t) g_get_real_time() + 5 * SEC);

        g_assert_cmpint(pylocker_lock_release(lock, &error), ==, PYLOCKER_RELEASE_RELEASED);
        g_assert_false(pylocker_lock_is_held(lock));
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(l), ==, 0);
        g_assert_cmpint(pylocker_locker_release(l, id, &error), ==, PYLOCKER_RELEASE_NOT_FOUND);
        g_assert_cmpuint(test_count_locks(l), ==, 0);

        /* One path, shared: two shared holders at once. */
        PylockerAcquireOptions shared = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerLock *s1 = NULL, *s2 = NULL;
        shared.shared = 1;
        shared.nonblocking = 1;
        g_assert_cmpint(pylocker_locker_acquire_path(l, "/s", &shared, &s1, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(l, "/s", &shared, &s2, &error), ==, 0);
        g_assert_true(pylocker_lock_get_shared(s1));
        g_assert_cmpuint(pylocker_lock_get_token(s2), >, pylocker_lock_get_token(s1));
        g_assert_cmpint(pylocker_lock_release(s1, &error), ==, 1);
        g_assert_cmpint(pylocker_lock_release(s2, &error), ==, 1);

        pylocker_lock_unref(s1);
        pylocker_lock_unref(s2);
        pylocker_lock_unref(lock);
        pylocker_locker_unref(l);
}

static void test_async(Fixture *f, gconstpointer data) {
        PylockerLocker *l = test_locker_open(&f->h, NULL, NULL);
        PylockerLocker *lockers[] = { l, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        AsyncResult a = {}, rel = {};

        g_assert_cmpint(pylocker_locker_acquire_async(l, PATHS("/async"), NULL, on_acquire_result, &a, &error), ==, 0);
        g_assert_false(a.done);
        test_pump_until(lockers, &a.done, 5000);
        g_assert_cmpint(a.r, ==, 0);
        g_assert_true(pylocker_lock_is_held(a.lock));
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(l), ==, 1);

        g_assert_cmpint(pylocker_locker_release_async(l, pylocker_lock_get_id(a.lock), on_release_result, &rel,
                                                      &error), ==, 0);
        test_pump_until(lockers, &rel.done, 5000);
        g_assert_cmpint(rel.r, ==, PYLOCKER_RELEASE_RELEASED);
        g_assert_false(pylocker_lock_is_held(a.lock));
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(l), ==, 0);

        async_result_clear(&rel);
        g_assert_cmpint(pylocker_locker_release_async(l, pylocker_lock_get_id(a.lock), on_release_result, &rel,
                                                      &error), ==, 0);
        test_pump_until(lockers, &rel.done, 5000);
        g_assert_cmpint(rel.r, ==, PYLOCKER_RELEASE_NOT_FOUND);

        async_result_clear(&a);
        pylocker_locker_unref(l);
}


/* Two processes, each with its own locker: the second waits until the first lets go. */
static void test_contention_processes(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;
        int to_parent[2], to_child[2], status;
        char buf[64] = {};
        uint64_t child_token;
        gint64 released_at;
        pid_t pid;

        g_assert_cmpint(pipe(to_parent), ==, 0);
        g_assert_cmpint(pipe(to_child), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                PylockerLocker *l;
                PylockerLock *held = NULL;
                char go;

                close(to_parent[0]);
                close(to_child[1]);
                l = test_locker_open(&f->h, "child", NULL);
                if (pylocker_locker_acquire_path(l, "/procs", NULL, &held, &error) < 0)
                        _exit(2);
                g_snprintf(buf, sizeof(buf), "%" G_GUINT64_FORMAT, (guint64) pylocker_lock_get_token(held));
                if (write(to_parent[1], buf, strlen(buf)) < 0 || read(to_child[0], &go, 1) != 1)
                        _exit(3);
                g_usleep(300 * 1000);
                _exit(pylocker_lock_release(held, &error) == 1 ? 0 : 4);
        }
        close(to_parent[1]);
        close(to_child[0]);
        g_assert_cmpint(read(to_parent[0], buf, sizeof(buf) - 1), >, 0);
        child_token = g_ascii_strtoull(buf, NULL, 10);

        {
                PylockerLocker *l = test_locker_open(&f->h, "parent", NULL);
                PylockerAcquireOptions options = PYLOCKER_ACQUIRE_OPTIONS_INIT;

                /* Taken by the child: nonblocking fails, blocking waits for its release. */
                options.nonblocking = 1;
                g_assert_cmpint(pylocker_locker_acquire_path(l, "/procs", &options, &lock, &error), ==, -ETIMEDOUT);
                g_assert_cmpint(write(to_child[1], "g", 1), ==, 1);
                released_at = g_get_monotonic_time();
                g_assert_cmpint(pylocker_locker_acquire_path(l, "/procs", NULL, &lock, &error), ==, 0);
                g_assert_cmpint(g_get_monotonic_time() - released_at, >=, 250 * 1000);
                g_assert_cmpuint(pylocker_lock_get_token(lock), >, child_token);
                g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
                g_assert_true(WIFEXITED(status));
                g_assert_cmpint(WEXITSTATUS(status), ==, 0);
                g_assert_cmpint(pylocker_lock_release(lock, &error), ==, 1);
                pylocker_lock_unref(lock);
                pylocker_locker_unref(l);
        }
        close(to_parent[0]);
        close(to_child[1]);
}

static void test_contention(Fixture *f, gconstpointer data) {
        PylockerLocker *a = test_locker_open(&f->h, "a", NULL), *b = test_locker_open(&f->h, "b", NULL);
        PylockerLocker *lockers[] = { a, b, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *held = NULL;
        AsyncResult waiting = {};

        g_assert_cmpint(pylocker_locker_acquire_path(a, "/c", NULL, &held, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_async(b, PATHS("/c"), NULL, on_acquire_result, &waiting, &error), ==, 0);
        test_pump_for(lockers, 200);
        g_assert_false(waiting.done);

        /* The hand-over: a's release grants b's waiting request. */
        g_assert_cmpint(pylocker_lock_release(held, &error), ==, 1);
        test_pump_until(lockers, &waiting.done, 5000);
        g_assert_cmpint(waiting.r, ==, 0);
        g_assert_cmpuint(pylocker_lock_get_token(waiting.lock), >, pylocker_lock_get_token(held));
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(b), ==, 1);

        async_result_clear(&waiting);
        pylocker_lock_unref(held);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
}

static void test_timeout(Fixture *f, gconstpointer data) {
        PylockerLocker *a = test_locker_open(&f->h, NULL, NULL), *b = test_locker_open(&f->h, NULL, NULL);
        PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *held = NULL, *none = NULL;
        gint64 start;
        int r;

        g_assert_cmpint(pylocker_locker_acquire_path(a, "/t", NULL, &held, &error), ==, 0);

        o.timeout_usec = 300 * MSEC;
        start = g_get_monotonic_time();
        r = pylocker_locker_acquire_path(b, "/t", &o, &none, &error);
        g_assert_cmpint(r, ==, -ETIMEDOUT);
        g_assert_cmpint(pylocker_acquire_code(r), ==, PYLOCKER_ACQUIRE_TIMED_OUT);
        g_assert_cmpint(error.code, ==, -ETIMEDOUT);
        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.Timeout");
        g_assert_cmpuint(strlen(error.message), >, 0);
        g_assert_cmpint(g_get_monotonic_time() - start, >=, 300 * 1000);
        g_assert_null(none);

        /* Nonblocking: at once, same code. */
        o.timeout_usec = 0;
        o.nonblocking = 1;
        start = g_get_monotonic_time();
        r = pylocker_locker_acquire_path(b, "/t", &o, &none, &error);
        g_assert_cmpint(r, ==, -ETIMEDOUT);
        g_assert_cmpint(pylocker_acquire_code(r), ==, PYLOCKER_ACQUIRE_TIMED_OUT);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 1000 * 1000);

        /* The locker's own default timeout applies when the call gives none. */
        g_assert_cmpint(pylocker_locker_set_default_timeout(b, 100 * MSEC), ==, 0);
        g_assert_cmpuint(pylocker_locker_get_default_timeout(b), ==, 100 * MSEC);
        start = g_get_monotonic_time();
        g_assert_cmpint(pylocker_locker_acquire_path(b, "/t", NULL, &none, &error), ==, -ETIMEDOUT);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * 1000 * 1000);

        /* Nonblocking on a free path succeeds. */
        g_assert_cmpint(pylocker_locker_acquire_path(b, "/free", &o, &none, &error), ==, 0);
        g_assert_cmpint(pylocker_acquire_code(0), ==, PYLOCKER_ACQUIRE_SUCCESS);

        pylocker_lock_unref(none);
        pylocker_lock_unref(held);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
}

static void test_release_codes(Fixture *f, gconstpointer data) {
        PylockerLocker *a = test_locker_open(&f->h, NULL, NULL), *b = test_locker_open(&f->h, NULL, NULL);
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *held = NULL;

        g_assert_cmpint(pylocker_locker_acquire_path(a, "/r", NULL, &held, &error), ==, 0);

        g_assert_cmpint(pylocker_locker_release(b, pylocker_lock_get_id(held), &error), ==, -EPERM);
        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.NotOwner");
        g_assert_true(pylocker_lock_is_held(held));

        /* A well-formed id nobody has. */
        g_assert_cmpint(pylocker_locker_release(b, "0123456789abcdef0123456789abcdef", &error), ==, 0);
        /* A malformed one is the daemon's InvalidArgs. */
        g_assert_cmpint(pylocker_locker_release(b, "nope", &error), ==, -EINVAL);
        g_assert_cmpstr(error.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");

        g_assert_cmpint(pylocker_lock_release(held, &error), ==, 1);
        g_assert_cmpint(pylocker_lock_release(held, &error), ==, 0);

        pylocker_lock_unref(held);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
}

static void test_lost_expiry(Fixture *f, gconstpointer data) {
        PylockerLocker *l = test_locker_open(&f->h, NULL, NULL);
        PylockerLocker *lockers[] = { l, NULL };
        PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;
        LostRecord lost = {};

        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(l, on_lock_lost_record, &lost), ==, 0);
        o.ttl_usec = 200 * MSEC;
        g_assert_cmpint(pylocker_locker_acquire_path(l, "/ttl", &o, &lock, &error), ==, 0);
        g_assert_cmpuint(pylocker_lock_get_expires(lock), <=, (uint64_t) g_get_real_time() + 200 * MSEC);

        test_pump_until(lockers, &lost.flag, 5000);
        g_assert_cmpuint(lost.count, ==, 1);
        g_assert_cmpint(lost.last_reason, ==, PYLOCKER_LOCK_LOST_EXPIRED);
        g_assert_cmpstr(lost.last_id, ==, pylocker_lock_get_id(lock));
        g_assert_false(pylocker_lock_is_held(lock));
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(l), ==, 0);
        g_assert_cmpint(pylocker_lock_refresh(lock, 0, &error), ==, -ENOENT);

        lost_record_clear(&lost);
        pylocker_lock_unref(lock);
        pylocker_locker_unref(l);
}

static void test_lost_force_release(Fixture *f, gconstpointer data) {
        PylockerLocker *a = test_locker_open(&f->h, NULL, NULL), *admin = test_locker_open(&f->h, NULL, NULL);
        PylockerLocker *lockers[] = { a, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL, *other = NULL;
        LostRecord lost = {}, lost_other = {};

        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(a, on_lock_lost_record, &lost), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(a, "/f", NULL, &lock, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(a, "/g", NULL, &other, &error), ==, 0);
        /* A lock's own callback takes precedence over its locker's. */
        g_assert_cmpint(pylocker_lock_set_lost_callback(other, on_lock_lost_record, &lost_other), ==, 0);

        g_assert_cmpint(pylocker_locker_force_release(admin, pylocker_lock_get_id(lock), &error), ==, 1);
        test_pump_until(lockers, &lost.flag, 5000);
        g_assert_cmpint(lost.last_reason, ==, PYLOCKER_LOCK_LOST_EXPIRED);
        g_assert_cmpstr(lost.last_id, ==, pylocker_lock_get_id(lock));

        g_assert_cmpint(pylocker_locker_force_release(admin, pylocker_lock_get_id(other), &error), ==, 1);
        test_pump_until(lockers, &lost_other.flag, 5000);
        g_assert_cmpuint(lost.count, ==, 1);
        g_assert_cmpuint(lost_other.count, ==, 1);
        g_assert_cmpint(pylocker_locker_force_release(admin, pylocker_lock_get_id(other), &error), ==, 0);

        lost_record_clear(&lost);
        lost_record_clear(&lost_other);
        pylocker_lock_unref(lock);
        pylocker_lock_unref(other);
        pylocker_locker_unref(a);
        pylocker_locker_unref(admin);
}

static void test_lost_daemon_killed(Fixture *f, gconstpointer data) {
        PylockerLocker *a = test_locker_open(&f->h, NULL, f->socket), *b = NULL;
        PylockerLocker *lockers[] = { a, NULL, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *l1 = NULL, *l2 = NULL, *none = NULL;
        AsyncResult waiting = {};
        LostRecord lost = {};
        int status, r;

        b = test_locker_open(&f->h, NULL, f->socket);
        g_assert_cmpint(pylocker_locker_is_direct(a), ==, f->socket != NULL);
        lockers[1] = b;
        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(a, on_lock_lost_record, &lost), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(a, "/k1", NULL, &l1, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(a, "/k2", NULL, &l2, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_async(b, PATHS("/k1"), NULL, on_acquire_result, &waiting, &error), ==, 0);
        test_pump_for(lockers, 100);
        g_assert_false(waiting.done);

        g_assert_cmpint(kill(f->h.daemon_pid, SIGKILL), ==, 0);
        g_assert_cmpint(waitpid(f->h.daemon_pid, &status, 0), ==, f->h.daemon_pid);
        f->h.daemon_pid = 0;

        test_pump_until(lockers, &waiting.done, 5000);
        while (lost.count < 2) {
                lost.flag = false;
                test_pump_until(lockers, &lost.flag, 5000);
        }
        g_assert_cmpuint(lost.count, ==, 2);
        g_assert_cmpint(lost.last_reason, ==, PYLOCKER_LOCK_LOST_DISCONNECTED);
        g_assert_false(pylocker_lock_is_held(l1));
        g_assert_false(pylocker_lock_is_held(l2));
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(a), ==, 0);
        g_assert_false(pylocker_locker_is_connected(a));

        /* The waiter learns it too. */
        g_assert_cmpint(waiting.r, ==, -ECONNRESET);
        g_assert_cmpint(pylocker_acquire_code(waiting.r), ==, PYLOCKER_ACQUIRE_CONNECTION_LOST);

        /* And every later call says so. */
        r = pylocker_locker_acquire_path(a, "/k3", NULL, &none, &error);
        g_assert_cmpint(r, ==, -ECONNRESET);
        g_assert_cmpint(pylocker_acquire_code(r), ==, PYLOCKER_ACQUIRE_CONNECTION_LOST);
        g_assert_nonnull(strstr(error.message, "lost"));
        g_assert_cmpint(pylocker_lock_release(l1, &error), ==, -ECONNRESET);
        g_assert_cmpint(pylocker_lock_refresh(l2, 0, &error), ==, -ENOENT);
        g_assert_cmpint(pylocker_locker_acquire_async(b, PATHS("/k1"), NULL, on_acquire_result, &waiting, &error),
                        ==, -ECONNRESET);

        async_result_clear(&waiting);
        lost_record_clear(&lost);
        pylocker_lock_unref(l1);
        pylocker_lock_unref(l2);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
}

static void test_close_restart(Fixture *f, gconstpointer data) {
        PylockerLocker *a = test_locker_open(&f->h, NULL, NULL), *b = test_locker_open(&f->h, NULL, NULL);
        PylockerLocker *lockers[] = { b, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *held = NULL, *none = NULL;
        AsyncResult waiting = {};
        LostRecord lost = {};
        int r;

        g_assert_cmpint(pylocker_locker_acquire_path(a, "/x", NULL, &held, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(a, on_lock_lost_record, &lost), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_async(a, PATHS("/x"), NULL, on_acquire_result, &waiting, &error), ==, 0);

        g_assert_cmpint(pylocker_locker_close(a), ==, 0);
        g_assert_true(waiting.done);
        g_assert_cmpint(waiting.r, ==, -ECANCELED);
        g_assert_cmpuint(lost.count, ==, 1);
        g_assert_cmpint(lost.last_reason, ==, PYLOCKER_LOCK_LOST_DISCONNECTED);

        r = pylocker_locker_acquire_path(a, "/x", NULL, &none, &error);
        g_assert_cmpint(r, ==, -ENOTCONN);
        g_assert_cmpint(pylocker_acquire_code(r), ==, PYLOCKER_ACQUIRE_NOT_CONNECTED);

        /* The daemon freed the lock with the connection. */
        test_pump_for(lockers, 50);
        g_assert_cmpuint(test_count_locks(b), ==, 0);

        g_assert_cmpint(pylocker_locker_restart(a, &error), ==, 0);
        g_assert_true(pylocker_locker_is_connected(a));
        g_assert_cmpint(pylocker_locker_acquire_path(a, "/x", NULL, &none, &error), ==, 0);

        async_result_clear(&waiting);
        lost_record_clear(&lost);
        pylocker_lock_unref(none);
        pylocker_lock_unref(held);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
}

static void test_handle(Fixture *f, gconstpointer data) {
        PylockerLocker *l = test_locker_open(&f->h, NULL, NULL), *other = test_locker_open(&f->h, NULL, NULL);
        PylockerLocker *lockers[] = { l, other, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;
        int fd = -1, go[2], status;
        pid_t child;
        char c = 'x';

        g_assert_cmpint(pylocker_locker_acquire_handle(l, PATHS("/h"), NULL, &lock, &fd, &error), ==, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpuint(test_count_locks(other), ==, 1);

        g_assert_cmpint(pipe(go), ==, 0);
        child = fork();
        g_assert_cmpint(child, >=, 0);
        if (child == 0) {
                /* Keeps its copy of the handle until told to go. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                close(go[1]);
                (void) read(go[0], &c, 1);
                _exit(0);
        }
        close(go[0]);

        /* The parent lets go; the child's copy keeps the lock. */
        close(fd);
        test_pump_for(lockers, 200);
        g_assert_cmpuint(test_count_locks(other), ==, 1);

        g_assert_cmpint(write(go[1], &c, 1), ==, 1);
        close(go[1]);
        g_assert_cmpint(waitpid(child, &status, 0), ==, child);
        g_assert_true(WIFEXITED(status));

        /* Every copy is closed now: the daemon releases it. */
        for (int i = 0; i < 200 && test_count_locks(other) > 0; i++)
                test_pump_for(lockers, 10);
        g_assert_cmpuint(test_count_locks(other), ==, 0);

        /* The owner learns it at its next refresh, as a loss. */
        g_assert_cmpint(pylocker_lock_refresh(lock, 0, &error), ==, -ENOENT);
        g_assert_false(pylocker_lock_is_held(lock));
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(l), ==, 0);

        pylocker_lock_unref(lock);
        pylocker_locker_unref(l);
        pylocker_locker_unref(other);
}

typedef struct LoopTest {
        AsyncResult result;
        sd_event *event;
        PylockerLock *held;
} LoopTest;

static void on_acquire_exit(PylockerLocker *locker, int r, PylockerLock *lock, const PylockerError *error,
                            void *userdata) {
        LoopTest *t = userdata;

        on_acquire_result(locker, r, lock, error, &t->result);
        if (t->event)
                (void) sd_event_exit(t->event, 0);
}

static int on_release_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        LoopTest *t = userdata;
        PylockerError error = PYLOCKER_ERROR_INIT;

        g_assert_cmpint(pylocker_lock_release(t->held, &error), ==, 1);
        return 0;
}

static void test_loop_sd_event(Fixture *f, gconstpointer data) {
        PylockerLocker *a = test_locker_open(&f->h, NULL, NULL), *b = test_locker_open(&f->h, NULL, NULL);
        PylockerError error = PYLOCKER_ERROR_INIT;
        sd_event_source *timer = NULL;
        LoopTest t = {};
        uint64_t now;

        g_assert_cmpint(sd_event_new(&t.event), >=, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(a, "/e", NULL, &t.held, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_attach_event(b, t.event, 0, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_attach_event(b, t.event, 0, &error), ==, -EBUSY);

        /* b waits on the loop; a timer on the same loop releases a's lock. */
        g_assert_cmpint(pylocker_locker_acquire_async(b, PATHS("/e"), NULL, on_acquire_exit, &t, &error), ==, 0);
        g_assert_cmpint(sd_event_now(t.event, CLOCK_MONOTONIC, &now), >=, 0);
        g_assert_cmpint(sd_event_add_time(t.event, &timer, CLOCK_MONOTONIC, now + 100 * MSEC, MSEC,
                                          on_release_timer, &t), >=, 0);
        g_assert_cmpint(sd_event_loop(t.event), ==, 0);

        g_assert_true(t.result.done);
        g_assert_cmpint(t.result.r, ==, 0);
        g_assert_true(pylocker_lock_is_held(t.result.lock));

        g_assert_cmpint(pylocker_locker_detach(b), ==, 0);
        sd_event_source_unref(timer);
        async_result_clear(&t.result);
        pylocker_lock_unref(t.held);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
        sd_event_unref(t.event);
}

static gboolean on_glib_release(gpointer userdata) {
        LoopTest *t = userdata;
        PylockerError error = PYLOCKER_ERROR_INIT;

        g_assert_cmpint(pylocker_lock_release(t->held, &error), ==, 1);
        return G_SOURCE_REMOVE;
}

static void test_loop_glib(Fixture *f, gconstpointer data) {
        PylockerLocker *a = test_locker_open(&f->h, NULL, NULL), *b = test_locker_open(&f->h, NULL, NULL);
        PylockerError error = PYLOCKER_ERROR_INIT;
        GMainContext *context = g_main_context_new();
        GSource *timeout;
        LoopTest t = {};
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        g_assert_cmpint(pylocker_locker_acquire_path(a, "/g", NULL, &t.held, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_attach_glib(b, context, G_PRIORITY_DEFAULT, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_async(b, PATHS("/g"), NULL, on_acquire_exit, &t, &error), ==, 0);

        timeout = g_timeout_source_new(100);
        g_source_set_callback(timeout, on_glib_release, &t, NULL);
        g_source_attach(timeout, context);
        g_source_unref(timeout);

        while (!t.result.done && g_get_monotonic_time() < deadline)
                (void) g_main_context_iteration(context, TRUE);
        g_assert_true(t.result.done);
        g_assert_cmpint(t.result.r, ==, 0);

        /* Signals come through the context too: a forced release reaches b's callback. */
        LostRecord lost = {};
        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(b, on_lock_lost_record, &lost), ==, 0);
        g_assert_cmpint(pylocker_locker_force_release(a, pylocker_lock_get_id(t.result.lock), &error), ==, 1);
        while (!lost.flag && g_get_monotonic_time() < deadline)
                (void) g_main_context_iteration(context, TRUE);
        g_assert_true(lost.flag);

        g_assert_cmpint(pylocker_locker_detach(b), ==, 0);
        lost_record_clear(&lost);
        async_result_clear(&t.result);
        pylocker_lock_unref(t.held);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
        g_main_context_unref(context);
}

static void test_properties(Fixture *f, gconstpointer data) {
        PylockerLocker *l = test_locker_open(&f->h, "props", NULL);
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerClientInfo *clients = NULL;
        PylockerStatus status;
        PylockerLock *lock = NULL;
        size_t n = 0;
        bool found = false;

        g_assert_cmpstr(pylocker_locker_get_name(l), ==, "props");
        g_assert_true(g_str_has_prefix(pylocker_locker_get_client_id(l), ":"));
        g_assert_cmpstr(pylocker_locker_get_server_version(l), ==, g_getenv("PYLOCKER_VERSION"));
        g_assert_cmpuint(pylocker_locker_get_max_lock_time(l), >, 0);
        g_assert_cmpuint(pylocker_locker_get_default_timeout(l), >, 0);
        g_assert_false(pylocker_locker_is_direct(l));

        g_assert_cmpint(pylocker_locker_acquire_path(l, "/p", NULL, &lock, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_get_status(l, &status, &error), ==, 0);
        g_assert_cmpstr(status.version, ==, g_getenv("PYLOCKER_VERSION"));
        g_assert_cmpuint(status.max_lock_time_usec, ==, pylocker_locker_get_max_lock_time(l));
        g_assert_cmpuint(status.default_timeout_usec, ==, pylocker_locker_get_default_timeout(l));
        g_assert_cmpuint(status.lock_count, ==, 1);
        g_assert_cmpuint(status.waiter_count, ==, 0);
        g_assert_cmpuint(status.client_count, >=, 1);

        g_assert_cmpint(pylocker_locker_list_clients(l, &clients, &n, &error), ==, 0);
        for (size_t i = 0; i < n; i++)
                if (strcmp(clients[i].client_id, pylocker_locker_get_client_id(l)) == 0) {
                        g_assert_cmpstr(clients[i].name, ==, "props");
                        g_assert_cmpuint(clients[i].pid, ==, (uint32_t) getpid());
                        g_assert_cmpuint(clients[i].uid, ==, (uint32_t) getuid());
                        g_assert_cmpstr(clients[i].transport, ==, "bus");
                        found = true;
                }
        g_assert_true(found);
        pylocker_client_info_array_free(clients, n);

        pylocker_lock_unref(lock);
        pylocker_locker_unref(l);
}

static void test_registry(Fixture *f, gconstpointer data) {
        PylockerLockerOptions o = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLocker *d1 = NULL, *d2 = NULL, *a = NULL, *a2 = NULL, *b = NULL, *p = NULL, *a3 = NULL;

        o.transport = PYLOCKER_TRANSPORT_ADDRESS;
        o.address = f->h.bus_address;
        o.private_socket_mode = PYLOCKER_PRIVATE_SOCKET_DISABLED;

        g_assert_cmpint(pylocker_default_locker(&o, 0, &d1, &error), ==, 0);
        g_assert_cmpint(pylocker_default_locker(NULL, 0, &d2, &error), ==, 0);
        g_assert_true(d1 == d2);

        g_assert_cmpint(pylocker_registry_get("a", &o, 0, &a, &error), ==, 0);
        g_assert_cmpint(pylocker_registry_get("a", &o, 0, &a2, &error), ==, 0);
        g_assert_true(a == a2);
        g_assert_true(a != d1);
        g_assert_cmpint(pylocker_registry_get("b", &o, 0, &b, &error), ==, 0);
        g_assert_true(a != b);

        /* Pop gives the same locker and takes it out. */
        g_assert_cmpint(pylocker_registry_pop("a", &o, 0, &p, &error), ==, 0);
        g_assert_true(p == a);
        pylocker_locker_unref(p);
        g_assert_cmpint(pylocker_registry_get("a", &o, 0, &p, &error), ==, 0);
        g_assert_true(p != a);

        /* Restart: the same object, connected again. */
        g_assert_cmpint(pylocker_locker_close(b), ==, 0);
        pylocker_locker_unref(a2);
        g_assert_cmpint(pylocker_registry_get("b", &o, 0, &a2, &error), ==, 0);
        g_assert_true(a2 == b);
        g_assert_false(pylocker_locker_is_connected(a2));
        pylocker_locker_unref(a2);
        g_assert_cmpint(pylocker_registry_get("b", &o, PYLOCKER_REGISTRY_RESTART, &a2, &error), ==, 0);
        g_assert_true(a2 == b);
        g_assert_true(pylocker_locker_is_connected(b));

        /* Regenerate: a new object in the old one's place. */
        g_assert_cmpint(pylocker_locker_close(p), ==, 0);
        g_assert_cmpint(pylocker_registry_get("a", &o, PYLOCKER_REGISTRY_REGENERATE, &a3, &error), ==, 0);
        g_assert_true(a3 != p);
        g_assert_true(pylocker_locker_is_connected(a3));
        g_assert_false(pylocker_locker_is_connected(p));

        /* Bad flags and keys. */
        g_assert_cmpint(pylocker_registry_get("a", &o, 1u << 7, &a3, &error), ==, -EINVAL);
        g_assert_cmpint(pylocker_registry_get(NULL, &o, 0, &a3, &error), ==, -EINVAL);

        pylocker_registry_clear();
        /* Our references outlive the registry's. */
        g_assert_true(pylocker_locker_is_connected(d1));

        for (PylockerLocker **x = (PylockerLocker *[]) { d1, d2, a, a2, b, p, a3, NULL }; *x; x++)
                pylocker_locker_unref(*x);
}

#define ASSERT_EINVAL(call)                                                     \
        do {                                                                    \
                PylockerError _e = PYLOCKER_ERROR_INIT;                         \
                PylockerError *error = &_e;                                     \
                g_assert_cmpint((call), ==, -EINVAL);                           \
                g_assert_cmpint(_e.code, ==, -EINVAL);                          \
                g_assert_cmpuint(strlen(_e.message), >, 0);                     \
        } while (0)

static void dummy_acquire(PylockerLocker *l, int r, PylockerLock *lock, const PylockerError *e, void *u) {
        g_assert_not_reached();
}

static void dummy_release(PylockerLocker *l, int r, const PylockerError *e, void *u) {
        g_assert_not_reached();
}

static void test_bad_input(Fixture *f, gconstpointer data) {
        PylockerLocker *l = test_locker_open(&f->h, NULL, NULL);
        PylockerLockerOptions o = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerAcquireOptions ao = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError e = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;
        PylockerLockInfo *infos;
        PylockerClientInfo *clients;
        PylockerStatus status;
        PylockerLocker *out;
        char **strv;
        uint64_t u;
        size_t n;
        int fd;

        ASSERT_EINVAL(pylocker_locker_open(NULL, NULL, error));
        o.transport = PYLOCKER_TRANSPORT_ADDRESS;
        ASSERT_EINVAL(pylocker_locker_open(&o, &out, error));          /* no address */
        o.address = "";
        ASSERT_EINVAL(pylocker_locker_open(&o, &out, error));
        o.address = f->h.bus_address;
        o.private_socket = "relative/path";
        ASSERT_EINVAL(pylocker_locker_open(&o, &out, error));
        o.private_socket = NULL;
        o.transport = (PylockerTransport) 42;
        ASSERT_EINVAL(pylocker_locker_open(&o, &out, error));
        o.transport = PYLOCKER_TRANSPORT_ADDRESS;
        o.reserved[0] = &o;
        ASSERT_EINVAL(pylocker_locker_open(&o, &out, error));
        o.reserved[0] = NULL;
        o.transport = PYLOCKER_TRANSPORT_REMOTE;
        ASSERT_EINVAL(pylocker_locker_open(&o, &out, error));          /* no host:port */

        /* The bridge: well-formed, but the secret file is read first, before any connection. */
        o.remote = "host.example:7000";
        g_assert_cmpint(pylocker_locker_open(&o, &out, &e), ==, -EINVAL);       /* no secret file */
        o.secret_file = "/nonexistent/pylocker.secret";
        g_assert_cmpint(pylocker_locker_open(&o, &out, &e), ==, -ENOENT);
        g_assert_nonnull(strstr(e.message, "Cannot open the secret file"));
        o.remote = "host.example";
        ASSERT_EINVAL(pylocker_locker_open(&o, &out, error));          /* no port */

        ASSERT_EINVAL(pylocker_locker_acquire(NULL, PATHS("/x"), NULL, &lock, error));
        ASSERT_EINVAL(pylocker_locker_acquire(l, NULL, NULL, &lock, error));
        ASSERT_EINVAL(pylocker_locker_acquire(l, (const char *const[]) { NULL }, NULL, &lock, error));
        ASSERT_EINVAL(pylocker_locker_acquire(l, PATHS("/x", ""), NULL, &lock, error));
        ASSERT_EINVAL(pylocker_locker_acquire(l, PATHS("/\xff"), NULL, &lock, error));
        ASSERT_EINVAL(pylocker_locker_acquire(l, PATHS("/x"), NULL, NULL, error));
        ao.reserved[1] = &ao;
        ASSERT_EINVAL(pylocker_locker_acquire(l, PATHS("/x"), &ao, &lock, error));
        ao.reserved[1] = NULL;
        ASSERT_EINVAL(pylocker_locker_acquire_path(l, NULL, NULL, &lock, error));
        ASSERT_EINVAL(pylocker_locker_acquire_path(l, "", NULL, &lock, error));
        ASSERT_EINVAL(pylocker_locker_acquire_async(l, PATHS("/x"), NULL, NULL, NULL, error));
        ASSERT_EINVAL(pylocker_locker_acquire_async(l, NULL, NULL, dummy_acquire, NULL, error));
        ASSERT_EINVAL(pylocker_locker_acquire_async(NULL, PATHS("/x"), NULL, dummy_acquire, NULL, error));
        ASSERT_EINVAL(pylocker_locker_acquire_handle(l, PATHS("/x"), NULL, &lock, NULL, error));
        ASSERT_EINVAL(pylocker_locker_acquire_handle(l, NULL, NULL, &lock, &fd, error));
        ASSERT_EINVAL(pylocker_locker_release(l, NULL, error));
        ASSERT_EINVAL(pylocker_locker_release(l, "", error));
        ASSERT_EINVAL(pylocker_locker_release(NULL, "0123456789abcdef0123456789abcdef", error));
        ASSERT_EINVAL(pylocker_locker_release_async(l, NULL, dummy_release, NULL, error));
        ASSERT_EINVAL(pylocker_locker_release_async(l, "0123456789abcdef0123456789abcdef", NULL, NULL, error));
        ASSERT_EINVAL(pylocker_locker_force_release(l, NULL, error));
        ASSERT_EINVAL(pylocker_locker_force_release(NULL, "x", error));
        ASSERT_EINVAL(pylocker_lock_release(NULL, error));
        ASSERT_EINVAL(pylocker_lock_refresh(NULL, 0, error));
        ASSERT_EINVAL(pylocker_locker_get_status(NULL, &status, error));
        ASSERT_EINVAL(pylocker_locker_get_status(l, NULL, error));
        ASSERT_EINVAL(pylocker_locker_list_locks(l, NULL, &n, error));
        ASSERT_EINVAL(pylocker_locker_list_locks(NULL, &infos, &n, error));
        ASSERT_EINVAL(pylocker_locker_list_clients(l, &clients, NULL, error));
        ASSERT_EINVAL(pylocker_locker_get_locked_paths(l, NULL, error));
        ASSERT_EINVAL(pylocker_locker_get_locked_paths(NULL, &strv, error));
        ASSERT_EINVAL(pylocker_locker_restart(NULL, error));
        ASSERT_EINVAL(pylocker_locker_attach_event(l, NULL, 0, error));
        ASSERT_EINVAL(pylocker_locker_attach_event(NULL, NULL, 0, error));
        ASSERT_EINVAL(pylocker_locker_attach_glib(NULL, NULL, 0, error));
        ASSERT_EINVAL(pylocker_default_locker(NULL, 0, NULL, error));
        ASSERT_EINVAL(pylocker_default_locker(NULL, 1u << 9, &out, error));
        ASSERT_EINVAL(pylocker_registry_get(NULL, NULL, 0, &out, error));
        ASSERT_EINVAL(pylocker_registry_pop("k", NULL, 0, NULL, error));

        /* Calls without an error struct say the same with their return value. */
        g_assert_cmpint(pylocker_locker_close(NULL), ==, -EINVAL);
        g_assert_cmpint(pylocker_locker_detach(NULL), ==, -EINVAL);
        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(NULL, NULL, NULL), ==, -EINVAL);
        g_assert_cmpint(pylocker_locker_set_default_timeout(NULL, 0), ==, -EINVAL);
        g_assert_cmpint(pylocker_lock_set_lost_callback(NULL, NULL, NULL), ==, -EINVAL);
        g_assert_cmpint(pylocker_locker_get_fd(NULL), ==, -EINVAL);
        g_assert_cmpint(pylocker_locker_get_events(NULL), ==, -EINVAL);
        g_assert_cmpint(pylocker_locker_get_timeout(NULL, &u), ==, -EINVAL);
        g_assert_cmpint(pylocker_locker_get_timeout(l, NULL), ==, -EINVAL);
        g_assert_cmpint(pylocker_locker_process(NULL), ==, -EINVAL);
        g_assert_cmpint(pylocker_locker_wait(NULL, 0), ==, -EINVAL);
        g_assert_cmpint(pylocker_acquire_code(-EINVAL), ==, PYLOCKER_ACQUIRE_OTHER_ERROR);

        /* Getters of NULL are harmless. */
        g_assert_null(pylocker_locker_get_name(NULL));
        g_assert_null(pylocker_locker_get_client_id(NULL));
        g_assert_null(pylocker_locker_get_server_version(NULL));
        g_assert_cmpuint(pylocker_locker_get_max_lock_time(NULL), ==, 0);
        g_assert_cmpuint(pylocker_locker_get_default_timeout(NULL), ==, 0);
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(NULL), ==, 0);
        g_assert_null(pylocker_locker_get_owned_lock(l, 5));
        g_assert_null(pylocker_lock_get_id(NULL));
        g_assert_null(pylocker_lock_get_paths(NULL));
        g_assert_cmpuint(pylocker_lock_get_token(NULL), ==, 0);
        g_assert_false(pylocker_lock_is_held(NULL));
        g_assert_false(pylocker_locker_is_connected(NULL));
        g_assert_null(pylocker_locker_unref(NULL));
        g_assert_null(pylocker_lock_unref(NULL));
        g_assert_null(pylocker_locker_ref(NULL));
        pylocker_lock_info_array_free(NULL, 3);
        pylocker_client_info_array_free(NULL, 3);
        pylocker_strv_free(NULL);

        /* Nothing of that reached the daemon or left a lock behind. */
        g_assert_cmpuint(test_count_locks(l), ==, 0);
        g_assert_true(pylocker_locker_is_connected(l));
        pylocker_locker_unref(l);
}

static void test_direct_lock(Fixture *f, gconstpointer data) {
        PylockerLocker *d = test_locker_open(&f->h, "direct", f->socket);
        PylockerLocker *lockers[] = { d, NULL };
        PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerClientInfo *clients = NULL;
        PylockerLock *lock = NULL, *ttl = NULL;
        AsyncResult a = {};
        LostRecord lost = {};
        bool found = false;
        size_t n = 0;

        g_assert_true(pylocker_locker_is_direct(d));
        g_assert_true(g_str_has_prefix(pylocker_locker_get_client_id(d), "direct-"));
        g_assert_cmpstr(pylocker_locker_get_server_version(d), ==, g_getenv("PYLOCKER_VERSION"));

        g_assert_cmpint(pylocker_locker_acquire_path(d, "/d", NULL, &lock, &error), ==, 0);
        g_assert_cmpuint(test_count_locks(d), ==, 1);
        g_assert_cmpint(pylocker_lock_refresh(lock, 0, &error), ==, 0);
        g_assert_cmpint(pylocker_lock_release(lock, &error), ==, 1);
        g_assert_cmpint(pylocker_lock_release(lock, &error), ==, 0);

        g_assert_cmpint(pylocker_locker_acquire_async(d, PATHS("/d"), NULL, on_acquire_result, &a, &error), ==, 0);
        test_pump_until(lockers, &a.done, 5000);
        g_assert_cmpint(a.r, ==, 0);

        /* LockExpired comes over the direct socket as over the bus. */
        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(d, on_lock_lost_record, &lost), ==, 0);
        o.ttl_usec = 150 * MSEC;
        g_assert_cmpint(pylocker_locker_acquire_path(d, "/dttl", &o, &ttl, &error), ==, 0);
        test_pump_until(lockers, &lost.flag, 5000);
        g_assert_cmpstr(lost.last_id, ==, pylocker_lock_get_id(ttl));
        g_assert_cmpint(lost.last_reason, ==, PYLOCKER_LOCK_LOST_EXPIRED);

        g_assert_cmpint(pylocker_locker_list_clients(d, &clients, &n, &error), ==, 0);
        for (size_t i = 0; i < n; i++)
                if (strcmp(clients[i].client_id, pylocker_locker_get_client_id(d)) == 0) {
                        g_assert_cmpstr(clients[i].name, ==, "direct");
                        g_assert_cmpuint(clients[i].pid, ==, (uint32_t) getpid());
                        found = true;
                }
        g_assert_true(found);
        pylocker_client_info_array_free(clients, n);

        lost_record_clear(&lost);
        async_result_clear(&a);
        pylocker_lock_unref(ttl);
        pylocker_lock_unref(lock);
        pylocker_locker_unref(d);
}

static void test_direct_fallback(Fixture *f, gconstpointer data) {
        g_autofree char *missing = g_build_filename(f->h.tmpdir, "missing", NULL);
        PylockerLocker *l = test_locker_open(&f->h, NULL, missing);

        /* No socket there: the bus. */
        g_assert_false(pylocker_locker_is_direct(l));
        g_assert_true(g_str_has_prefix(pylocker_locker_get_client_id(l), ":"));
        pylocker_locker_unref(l);
}

static void test_direct_contention(Fixture *f, gconstpointer data) {
        PylockerLocker *d = test_locker_open(&f->h, NULL, f->socket), *b = test_locker_open(&f->h, NULL, NULL);
        PylockerLocker *lockers[] = { d, b, NULL };
        PylockerAcquireOptions nb = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *held = NULL, *none = NULL;
        AsyncResult waiting = {}, back = {};

        g_assert_true(pylocker_locker_is_direct(d));
        g_assert_false(pylocker_locker_is_direct(b));

        /* One namespace: the direct holder blocks the bus client, and hands over to it. */
        g_assert_cmpint(pylocker_locker_acquire_path(d, "/shared-ns", NULL, &held, &error), ==, 0);
        nb.nonblocking = 1;
        g_assert_cmpint(pylocker_locker_acquire_path(b, "/shared-ns", &nb, &none, &error), ==, -ETIMEDOUT);
        g_assert_cmpint(pylocker_locker_release(b, pylocker_lock_get_id(held), &error), ==, -EPERM);
        g_assert_cmpint(pylocker_locker_acquire_async(b, PATHS("/shared-ns"), NULL, on_acquire_result, &waiting,
                                                      &error), ==, 0);
        test_pump_for(lockers, 100);
        g_assert_false(waiting.done);
        g_assert_cmpint(pylocker_lock_release(held, &error), ==, 1);
        test_pump_until(lockers, &waiting.done, 5000);
        g_assert_cmpint(waiting.r, ==, 0);

        /* And the other way round. */
        g_assert_cmpint(pylocker_locker_acquire_async(d, PATHS("/shared-ns"), NULL, on_acquire_result, &back,
                                                      &error), ==, 0);
        test_pump_for(lockers, 100);
        g_assert_false(back.done);
        g_assert_cmpint(pylocker_lock_release(waiting.lock, &error), ==, 1);
        test_pump_until(lockers, &back.done, 5000);
        g_assert_cmpint(back.r, ==, 0);
        g_assert_cmpuint(pylocker_lock_get_token(back.lock), >, pylocker_lock_get_token(waiting.lock));

        async_result_clear(&waiting);
        async_result_clear(&back);
        pylocker_lock_unref(held);
        pylocker_locker_unref(d);
        pylocker_locker_unref(b);
}

static void test_direct_disconnect_frees(Fixture *f, gconstpointer data) {
        PylockerLocker *d = test_locker_open(&f->h, NULL, f->socket), *b = test_locker_open(&f->h, NULL, NULL);
        PylockerLocker *lockers[] = { b, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *held = NULL;
        AsyncResult waiting = {};

        g_assert_cmpint(pylocker_locker_acquire(d, PATHS("/gone1", "/gone2"), NULL, &held, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_async(b, PATHS("/gone2"), NULL, on_acquire_result, &waiting, &error),
                        ==, 0);
        test_pump_for(lockers, 100);
        g_assert_false(waiting.done);

        /* Dropping the direct connection frees its locks at once: the waiter gets the path. */
        pylocker_lock_unref(held);
        pylocker_locker_unref(d);
        test_pump_until(lockers, &waiting.done, 5000);
        g_assert_cmpint(waiting.r, ==, 0);
        g_assert_cmpuint(test_count_locks(b), ==, 1);

        async_result_clear(&waiting);
        pylocker_locker_unref(b);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define ADD(path, func, data) \
        g_test_add(path, Fixture, data, fixture_setup, func, fixture_teardown)
        ADD("/client/acquire-release/blocking", test_blocking, NULL);
        ADD("/client/acquire-release/async", test_async, NULL);
        ADD("/client/contention/hand-over", test_contention, NULL);
        ADD("/client/contention/two-processes", test_contention_processes, NULL);
        ADD("/client/acquire/timeout-and-nonblocking", test_timeout, NULL);
        ADD("/client/release/codes-and-not-owner", test_release_codes, NULL);
        ADD("/client/lost/expiry", test_lost_expiry, NULL);
        ADD("/client/lost/force-release", test_lost_force_release, NULL);
        ADD("/client/lost/daemon-killed", test_lost_daemon_killed, NULL);
        ADD("/client/close-and-restart", test_close_restart, NULL);
        ADD("/client/handle/passed-to-child", test_handle, NULL);
        ADD("/client/loop/sd-event", test_loop_sd_event, NULL);
        ADD("/client/loop/glib", test_loop_glib, NULL);
        ADD("/client/properties", test_properties, NULL);
        ADD("/client/registry", test_registry, NULL);
        ADD("/client/bad-input", test_bad_input, NULL);
        ADD("/client/direct/lock", test_direct_lock, WITH_PRIVATE_SOCKET);
        ADD("/client/direct/fallback-to-bus", test_direct_fallback, WITH_PRIVATE_SOCKET);
        ADD("/client/direct/contention-with-bus", test_direct_contention, WITH_PRIVATE_SOCKET);
        ADD("/client/direct/disconnect-frees", test_direct_disconnect_frees, WITH_PRIVATE_SOCKET);
        ADD("/client/direct/daemon-killed", test_lost_daemon_killed, WITH_PRIVATE_SOCKET);
        return g_test_run();
}
