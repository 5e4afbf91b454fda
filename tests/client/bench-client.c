/* Benchmark: Acquire+Release pairs per second through libpylocker-dbus, one locker, an uncontended
 * path, over the bus and over the daemon's private socket. Beside the raw sd-bus numbers of
 * tests/bench/bench-acquire, this shows what the library's bookkeeping costs. */
#undef G_DISABLE_ASSERT
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "client-util.h"

static double pairs_per_second(PylockerLocker *l, int n, bool nowait) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        gint64 start = g_get_monotonic_time();

        for (int i = 0; i < n; i++) {
                PylockerLock *lock = NULL;

                g_assert_cmpint(pylocker_locker_acquire_path(l, "/bench/path", NULL, &lock, &error), ==, 0);
                if (nowait)
                        g_assert_cmpint(pylocker_locker_release_nowait(l, pylocker_lock_get_id(lock), &error), ==, 0);
                else
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

        /* The bus, the direct socket, and the direct socket with releases that do not wait. */
        for (int run = 0; run <= 2; run++) {
                bool direct = run > 0, nowait = run == 2;
                PylockerLocker *l = test_locker_open(&h, "bench", direct ? socket : NULL);
                double pairs;

                g_assert_cmpint(pylocker_locker_is_direct(l), ==, direct);
                (void) pairs_per_second(l, n / 10, nowait);        /* warm up */
                pairs = pairs_per_second(l, n, nowait);
                printf("library, %-30s Acquire+Release pairs: %9.0f /s  (%.1f us each)\n",
                       nowait ? "direct socket, release nowait:" : direct ? "direct socket:" : "bus:", pairs,
                       1e6 / pairs);
                pylocker_locker_unref(l);
        }

        harness_stop(&h);
        return 0;
}
