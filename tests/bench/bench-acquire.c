/* Benchmark: Acquire+Release pairs per second for one sd-bus client on an uncontended path, over the
 * bus and over the direct socket, each against an empty round trip (Peer.Ping to the daemon) on the
 * same connection as the reference. */
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

                g_assert_cmpint(sd_bus_call_method(bus, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH,
                                                   "org.freedesktop.DBus.Peer", "Ping", &error, NULL,
                                                   NULL), >=, 0);
        }
        return n / ((g_get_monotonic_time() - start) / 1e6);
}

int main(int argc, char *argv[]) {
        int n = argc > 1 ? atoi(argv[1]) : 20000;
        Harness h = {};

        harness_start(&h, NULL);

        for (int direct = 0; direct <= 1; direct++) {
                sd_bus *bus = direct ? harness_connect_direct(&h) : harness_connect(&h);
                const char *via = direct ? "direct socket" : "bus";
                double pairs, pings;

                /* Warm up: the first call registers the client. */
                (void) pairs_per_second(bus, 100);
                pings = pings_per_second(bus, n);
                pairs = pairs_per_second(bus, n);

                printf("%-13s empty round trips (Peer.Ping): %9.0f /s  (%.1f us each)\n", via, pings, 1e6 / pings);
                printf("%-13s Acquire+Release pairs:         %9.0f /s  (%.1f us each)\n", via, pairs, 1e6 / pairs);
                printf("%-13s pair / two empty round trips:  %9.2f\n", via, (1e6 / pairs) / (2e6 / pings));
        }

        harness_stop(&h);
        return 0;
}
