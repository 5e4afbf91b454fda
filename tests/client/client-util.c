/* Helpers of the client library's tests. */
#undef G_DISABLE_ASSERT
#include <poll.h>
#include <string.h>
#include <sys/wait.h>

#include "client-util.h"

PylockerLocker *test_locker_open(Harness *h, const char *name, const char *private_socket) {
        PylockerLockerOptions options = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLocker *l = NULL;
        int r;

        options.transport = PYLOCKER_TRANSPORT_ADDRESS;
        options.address = h->bus_address;
        options.name = name;
        options.private_socket = private_socket;
        if (!private_socket)
                options.private_socket_mode = PYLOCKER_PRIVATE_SOCKET_DISABLED;
        r = pylocker_locker_open(&options, &l, &error);
        if (r < 0)
                g_error("pylocker_locker_open: %d %s", r, error.message);
        g_assert_nonnull(l);
        return l;
}

static void pump_once(PylockerLocker *const *lockers, int poll_ms) {
        struct pollfd fds[16];
        bool progress = false;
        size_t n = 0;

        for (size_t i = 0; lockers[i]; i++) {
                int r, fd;

                while ((r = pylocker_locker_process(lockers[i])) > 0)
                        progress = true;
                /* A closed locker has nothing to process. */
                if (r == -ENOTCONN)
                        continue;
                g_assert_cmpint(r, >=, 0);
                fd = pylocker_locker_get_fd(lockers[i]);
                if (fd < 0 || !pylocker_locker_is_connected(lockers[i]))
                        continue;
                g_assert_cmpuint(n, <, G_N_ELEMENTS(fds));
                fds[n++] = (struct pollfd) { .fd = fd, .events = (short) pylocker_locker_get_events(lockers[i]) };
        }
        if (!progress)
                (void) poll(fds, n, poll_ms);
}

void test_pump_until(PylockerLocker *const *lockers, const bool *flag, int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        while (!*flag) {
                if (g_get_monotonic_time() > deadline)
                        g_error("condition not met within %d ms", timeout_ms);
                pump_once(lockers, 10);
        }
}

void test_pump_for(PylockerLocker *const *lockers, int ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) ms * 1000;

        while (g_get_monotonic_time() < deadline)
                pump_once(lockers, 5);
}

void lost_record_clear(LostRecord *r) {
        g_clear_pointer(&r->last_id, g_free);
        r->count = 0;
        r->flag = false;
}

void on_lock_lost_record(PylockerLocker *locker, PylockerLock *lock, PylockerLockLostReason reason, void *userdata) {
        LostRecord *r = userdata;

        /* When told, the lock is already not held. */
        g_assert_false(pylocker_lock_is_held(lock));
        r->count++;
        r->last_reason = reason;
        g_free(r->last_id);
        r->last_id = g_strdup(pylocker_lock_get_id(lock));
        r->flag = true;
}

void async_result_clear(AsyncResult *a) {
        a->lock = pylocker_lock_unref(a->lock);
        a->done = false;
        a->r = 0;
        memset(&a->error, 0, sizeof(a->error));
}

void on_acquire_result(PylockerLocker *locker, int r, PylockerLock *lock, const PylockerError *error,
                       void *userdata) {
        AsyncResult *a = userdata;

        g_assert_false(a->done);
        a->done = true;
        a->r = r;
        a->lock = lock;
        if (r < 0) {
                g_assert_null(lock);
                g_assert_nonnull(error);
                g_assert_cmpint(error->code, ==, r);
                a->error = *error;
        } else
                g_assert_nonnull(lock);
}

void on_release_result(PylockerLocker *locker, int r, const PylockerError *error, void *userdata) {
        AsyncResult *a = userdata;

        g_assert_false(a->done);
        a->done = true;
        a->r = r;
        if (r < 0)
                a->error = *error;
}

size_t test_count_locks(PylockerLocker *l) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLockInfo *infos = NULL;
        size_t n = 0;

        g_assert_cmpint(pylocker_locker_list_locks(l, &infos, &n, &error), ==, 0);
        pylocker_lock_info_array_free(infos, n);
        return n;
}

GPtrArray *pylockctl_argv(Harness *h, va_list ap) {
        GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
        const char *arg;

        g_ptr_array_add(argv, g_strdup(g_getenv("PYLOCKCTL")));
        g_ptr_array_add(argv, g_strdup("--address"));
        g_ptr_array_add(argv, g_strdup(h->bus_address));
        while ((arg = va_arg(ap, const char *)))
                g_ptr_array_add(argv, g_strdup(arg));
        g_ptr_array_add(argv, NULL);
        return argv;
}

int pylockctl_run(Harness *h, char **ret_out, char **ret_err, ...) {
        g_autoptr(GPtrArray) argv = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL, *err = NULL;
        int status;
        va_list ap;

        va_start(ap, ret_err);
        argv = pylockctl_argv(h, ap);
        va_end(ap);

        g_assert_true(g_spawn_sync(NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, test_child_die_with_parent,
                                   NULL, &out, &err, &status, &error));
        g_assert_no_error(error);
        g_test_message("stdout: %s\nstderr: %s", out, err);
        if (ret_out)
                *ret_out = g_steal_pointer(&out);
        if (ret_err)
                *ret_err = g_steal_pointer(&err);
        return test_exit_code(status);
}
