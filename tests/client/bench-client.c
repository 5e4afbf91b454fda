/* Benchmark: Acquire+Release pairs per second through libpylocker-dbus, one locker, an uncontended
 * path, over the bus and over the daemon's private socket. Beside the raw sd-bus numbers of
 * tests/bench/bench-acquire, this shows what the library's bookkeeping costs. */
#undef G_DISABLE_ASSERT
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "client-util.h"

static double pairs_per_second(PylockerLocker *l, int n) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        gint64 start = g_get_monotonic_time();

        for (int i = 0; i < n; i++) {
                PylockerLock *lock = NULL;

                g_assert_cmpint(pylocker_locker_acquire_path(l, "/bench/path", NULL, &lock, &error), ==, 0);
                g_assert_cmpint(pylocker_lock_release(lock, &error), ==, 1);
                pylocker_lock_unref(lock);
        }
        return n / ((g_get_monotonic_time() - start) / 1e6);
}

int main(int argc, char *argv[]) {
        int n = argc > 1 ? atoi(argv[1]) : 20000;
        g_autofree char *socket = NULL;
        Harness h = {};

        harness_start(&h, NULL);
        socket = harness_direct_socket_path(&h);

        for (int direct = 0; direct <= 1; direct++) {
                PylockerLocker *l = test_locker_open(&h, "bench", direct ? socket : NULL);
                double pairs;

                g_assert_cmpint(pylocker_locker_is_direct(l), ==, direct);
                (void) pairs_per_second(l, n / 10);        /* warm up */
                pairs = pairs_per_second(l, n);
                printf("library, %-14s Acquire+Release pairs: %9.0f /s  (%.1f us each)\n",
                       direct ? "direct socket:" : "bus:", pairs, 1e6 / pairs);
                pylocker_locker_unref(l);
        }

        harness_stop(&h);
        return 0;
}
