/* Benchmark: Acquire+Release pairs per second for one sd-bus client on an uncontended path, against
 * the empty round trip of the same bus (Peer.Ping to the daemon) as the reference. */
#undef G_DISABLE_ASSERT
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "harness.h"

static double pairs_per_second(sd_bus *bus, int n) {
        gint64 start = g_get_monotonic_time();

        for (int i = 0; i < n; i++) {
                g_autofree char *id = acquire_ok(bus, (const char *const[]) { "/bench/path", NULL }, NULL);
                g_assert_cmpint(release(bus, id, NULL), ==, 1);
        }
        return n / ((g_get_monotonic_time() - start) / 1e6);
}

static double pings_per_second(sd_bus *bus, int n) {
        gint64 start = g_get_monotonic_time();

        for (int i = 0; i < n; i++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;

                g_assert_cmpint(sd_bus_call_method(bus, LOCKER_DEST, LOCKER_PATH, "org.freedesktop.DBus.Peer", "Ping",
                                                   &error, NULL, NULL), >=, 0);
        }
        return n / ((g_get_monotonic_time() - start) / 1e6);
}

int main(int argc, char *argv[]) {
        int n = argc > 1 ? atoi(argv[1]) : 20000;
        Harness h = {};
        double pairs, pings;
        sd_bus *bus;

        harness_start(&h, NULL);
        bus = harness_connect(&h);

        /* Warm up: the first call registers the client. */
        (void) pairs_per_second(bus, 100);
        pings = pings_per_second(bus, n);
        pairs = pairs_per_second(bus, n);

        printf("empty bus round trips (Peer.Ping):     %9.0f /s  (%.1f us each)\n", pings, 1e6 / pings);
        printf("Acquire+Release pairs, one client:     %9.0f /s  (%.1f us each)\n", pairs, 1e6 / pairs);
        printf("pair cost / two empty round trips:     %9.2f\n", (1e6 / pairs) / (2e6 / pings));

        harness_stop(&h);
        return 0;
}
