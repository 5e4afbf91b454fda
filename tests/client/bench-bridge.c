/* Benchmark: Acquire+Release pairs per second for one remote locker through the bridge over loopback
 * (the wire protocol inside TLS 1.3 PSK, on the library's and the daemon's own loops), with the
 * Release answered and with it sent without waiting (pylocker_locker_release_nowait()), in
 * alternating rounds; the median round of each counts. */
#undef G_DISABLE_ASSERT
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "client-util.h"

#define ROUNDS 5

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

static int compare_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

int main(int argc, char *argv[]) {
        int n = argc > 1 ? atoi(argv[1]) : 10000;
        PylockerLockerOptions o = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *secret = NULL, *remote = NULL, *bridge_arg = NULL, *secret_arg = NULL;
        PylockerLocker *l = NULL;
        double confirmed[ROUNDS], nowait[ROUNDS];
        Harness h = {};
        double pairs;

        harness_start_bus_only(&h, NULL);
        secret = g_build_filename(h.tmpdir, "secret", NULL);
        g_assert_true(g_file_set_contents(secret, "benchmark secret, 32 bytes long", -1, NULL));
        g_assert_cmpint(chmod(secret, 0600), ==, 0);
        remote = g_strdup_printf("127.0.0.1:%d", test_free_tcp_port(AF_INET));
        bridge_arg = g_strdup_printf("--bridge=%s", remote);
        secret_arg = g_strdup_printf("--secret-file=%s", secret);
        harness_start_daemon(&h, (const char *const[]) { bridge_arg, secret_arg, NULL });
        /* The harness reads sd_notify messages only while it waits for one: over a long run the
         * daemon's STATUS= updates would fill the socket and block it in sendmsg(). Closed, they fail. */
        close(h.notify_fd);
        h.notify_fd = 0;

        o.transport = PYLOCKER_TRANSPORT_REMOTE;
        o.remote = remote;
        o.secret_file = secret;
        o.name = "bench";
        if (pylocker_locker_open(&o, &l, &error) < 0)
                g_error("remote open: %s", error.message);

        (void) pairs_per_second(l, n / 10, false);        /* warm up */
        for (int i = 0; i < ROUNDS; i++) {
                confirmed[i] = pairs_per_second(l, n / ROUNDS, false);
                nowait[i] = pairs_per_second(l, n / ROUNDS, true);
        }
        qsort(confirmed, ROUNDS, sizeof(double), compare_double);
        qsort(nowait, ROUNDS, sizeof(double), compare_double);
        pairs = confirmed[ROUNDS / 2];
        printf("library, bridge (TLS, loopback): Acquire+Release pairs: %9.0f /s  (%.1f us each)\n", pairs,
               1e6 / pairs);
        printf("library, bridge (TLS, loopback): Acquire+Release (no wait) pairs: %9.0f /s  (%.1f us each)\n",
               nowait[ROUNDS / 2], 1e6 / nowait[ROUNDS / 2]);
        /* The lines tests/bench/report.py reads. */
        printf("RESULT\tbridge.1.rate\t%.6g\tpairs/s\tbridge, library, 1 client\n", pairs);
        printf("RESULT\tbridge.1.nowait.rate\t%.6g\tpairs/s\tbridge, library, 1 client, Release without reply\n",
               nowait[ROUNDS / 2]);
        pylocker_locker_unref(l);

        harness_stop(&h);
        return 0;
}
