/* Benchmark: Acquire+Release pairs against the round trips that bound them.
 *
 * One private dbus-daemon, one pylockerd and the echo service (an empty method on the same bus and
 * peer to peer on a unix socket). In rounds, each figure is measured right after its reference, so
 * that a noisy neighbour slows both; the median round counts. Then many clients in one process (one
 * connection each, one sd-event loop) on distinct paths and contending for one path, and the wake-up
 * latency from a Release to the next waiter's grant. */
#undef G_DISABLE_ASSERT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pylocker/pylocker.h>

#include "bench-loop.h"

static const char *const daemon_args[] = {
        "--max-lock-time=1h",
        "--max-locks-per-client=100000",
        "--max-waiters-per-client=10000",
        NULL,
};

typedef struct RawPair {
        sd_bus *bus;
        bool direct;
        uint64_t last_token;
} RawPair;

static void raw_pair(void *data) {
        RawPair *p = data;
        g_autoptr(sd_bus_message) acquire = bench_new_acquire(p->bus, p->direct, "/bench/path", 0);
        g_autoptr(sd_bus_message) reply = NULL, release = NULL, release_reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t token;
        const char *id;

        if (sd_bus_call(p->bus, acquire, 0, &error, &reply) < 0)
                g_error("Acquire failed: %s", error.message);
        id = bench_read_grant(reply, &token);
        g_assert_cmpuint(token, >, p->last_token);
        p->last_token = token;
        release = bench_new_release(p->bus, p->direct, id);
        if (sd_bus_call(p->bus, release, 0, &error, &release_reply) < 0)
                g_error("Release failed: %s", error.message);
        bench_check_released(release_reply);
}

/* GetStatistics over the bus, answered whole (what one scrape of the metrics costs the daemon). */
static void stats_call(void *data) {
        RawPair *p = data;
        g_autoptr(sd_bus_message) reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;

        if (sd_bus_call_method(p->bus, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE,
                               "GetStatistics", &error, &reply, "") < 0)
                g_error("GetStatistics failed: %s", error.message);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "{sv}"), >, 0);
}

typedef struct EchoOp {
        sd_bus *bus;
        bool p2p;
} EchoOp;

static void echo_op(void *data) {
        EchoOp *e = data;

        echo_call(e->bus, e->p2p);
}

/* --- wake-up latency --- */

typedef struct Pending {
        sd_bus_message *reply;
        double at;
} Pending;

static int on_pending_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Pending *p = userdata;

        p->at = bench_now();
        p->reply = sd_bus_message_ref(reply);
        return 0;
}

static void wait_pending(sd_bus *bus, Pending *p) {
        while (!p->reply) {
                int r = sd_bus_process(bus, NULL);

                g_assert_cmpint(r, >=, 0);
                if (r == 0)
                        g_assert_cmpint(sd_bus_wait(bus, 10 * G_USEC_PER_SEC), >=, 0);
        }
}

static void ping(sd_bus *bus) {
        sd_bus_error error = SD_BUS_ERROR_NULL;

        if (sd_bus_call_method(bus, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH, "org.freedesktop.DBus.Peer",
                               "Ping", &error, NULL, NULL) < 0)
                g_error("Ping failed: %s", error.message);
}

/* Client a holds the path, b's Acquire waits (a Ping on b's connection after it proves the daemon
 * has queued it); the time from a sending Release to b getting its grant is one sample. Then b
 * holds and a waits. */
static void wakeup_latency(Harness *h, unsigned n, double *ret_p50, double *ret_p99) {
        sd_bus *bus[2] = { harness_connect(h), harness_connect(h) };
        g_autofree double *samples = g_new(double, n);
        char id[33];
        uint64_t token, last_token;
        int holder = 0;

        memcpy(id, acquire_ok(bus[0], (const char *const[]) { "/bench/wakeup", NULL }, &last_token), 33);
        for (unsigned i = 0; i < n; i++) {
                sd_bus *a = bus[holder], *b = bus[!holder];
                g_autoptr(sd_bus_message) acquire = bench_new_acquire(b, false, "/bench/wakeup", 0);
                g_autoptr(sd_bus_message) release = bench_new_release(a, false, id);
                Pending grant = {}, released = {};
                double sent;

                g_assert_cmpint(sd_bus_call_async(b, NULL, acquire, on_pending_reply, &grant, 0), >=, 0);
                ping(b);
                g_assert_null(grant.reply);

                sent = bench_now();
                g_assert_cmpint(sd_bus_call_async(a, NULL, release, on_pending_reply, &released, 0), >=, 0);
                wait_pending(b, &grant);
                samples[i] = grant.at - sent;

                memcpy(id, bench_read_grant(grant.reply, &token), 33);
                g_assert_cmpuint(token, >, last_token);
                last_token = token;
                wait_pending(a, &released);
                bench_check_released(released.reply);
                sd_bus_message_unref(grant.reply);
                sd_bus_message_unref(released.reply);
                holder = !holder;
        }
        g_assert_cmpint(release(bus[holder], id, NULL), ==, 1);
        *ret_p50 = bench_percentile(samples, n, 50);
        *ret_p99 = bench_percentile(samples, n, 99);
        harness_disconnect(h, bus[0]);
        harness_disconnect(h, bus[1]);
}

static void echo_latency(sd_bus *bus, unsigned n, double *ret_p50, double *ret_p99) {
        g_autofree double *samples = g_new(double, n);

        for (unsigned i = 0; i < n; i++) {
                double start = bench_now();

                echo_call(bus, false);
                samples[i] = bench_now() - start;
        }
        *ret_p50 = bench_percentile(samples, n, 50);
        *ret_p99 = bench_percentile(samples, n, 99);
}

int main(int argc, char *argv[]) {
        double seconds = bench_seconds();
        g_autofree char *direct_socket = NULL;
        Harness h = {};
        Echo echo = {};
        EchoOp echo_bus, echo_p2p;
        RawPair raw_bus, raw_direct, stats_bus;
        BenchLibPair lib_bus, lib_direct, lib_direct_nowait;
        double p50, p99;

        bench_harness_start(&h, daemon_args);
        if (argc == 2 && g_str_equal(argv[1], "wakeup")) {
                wakeup_latency(&h, 2000, &p50, &p99);
                printf("wakeup p50 %.1f p99 %.1f\n", p50, p99);
                harness_stop(&h);
                return 0;
        }
        /* bench-pairs N,N... direct contended: many-client runs alone (to look at them closer). */
        if (argc == 4) {
                g_auto(GStrv) counts = g_strsplit(argv[1], ",", 0);

                for (size_t i = 0; counts[i]; i++)
                        printf("%s: %.0f\n", counts[i],
                               pair_run(&h, atoi(counts[i]), atoi(argv[2]), atoi(argv[3]), seconds));
                harness_stop(&h);
                return 0;
        }
        echo_start(&echo, h.bus_address, h.tmpdir);
        direct_socket = harness_direct_socket_path(&h);

        echo_bus = (EchoOp) { .bus = harness_connect(&h), .p2p = false };
        echo_p2p = (EchoOp) { .bus = bench_connect_p2p(echo.socket_path), .p2p = true };
        raw_bus = (RawPair) { .bus = harness_connect(&h), .direct = false };
        raw_direct = (RawPair) { .bus = harness_connect_direct(&h), .direct = true };
        stats_bus = (RawPair) { .bus = harness_connect(&h), .direct = false };
        lib_bus = (BenchLibPair) { .locker = bench_locker_open(&h, NULL), .path = "/bench/library" };
        lib_direct = (BenchLibPair) { .locker = bench_locker_open(&h, direct_socket), .path = "/bench/library" };
        lib_direct_nowait = (BenchLibPair) { .locker = bench_locker_open(&h, direct_socket),
                                             .path = "/bench/library-nowait" };

        {
                BenchOp ops[] = {
                        { "rtt.bus.us", "empty sd-bus call over the bus", echo_op, &echo_bus },
                        { "pair.raw.bus.us", "Acquire+Release, raw sd-bus, over the bus", raw_pair, &raw_bus },
                        { "stats.bus.us", "GetStatistics, raw sd-bus, over the bus", stats_call, &stats_bus },
                        { "pair.lib.bus.us", "Acquire+Release, libpylocker-dbus, over the bus", bench_lib_pair,
                          &lib_bus },
                        { "rtt.p2p.us", "empty sd-bus call peer to peer (unix socket)", echo_op, &echo_p2p },
                        { "pair.raw.direct.us", "Acquire+Release, raw sd-bus, direct socket", raw_pair,
                          &raw_direct },
                        { "pair.lib.direct.us", "Acquire+Release, libpylocker-dbus, direct socket", bench_lib_pair,
                          &lib_direct },
                        { "pair.lib.direct.nowait.us",
                          "Acquire+Release without waiting for the release, libpylocker-dbus, direct socket",
                          bench_lib_pair_nowait, &lib_direct_nowait },
                };

                bench_ops_run(ops, G_N_ELEMENTS(ops), seconds);
        }
        pylocker_locker_unref(lib_bus.locker);
        pylocker_locker_unref(lib_direct.locker);
        pylocker_locker_unref(lib_direct_nowait.locker);

        for (int direct = 0; direct <= 1; direct++)
                for (unsigned n = 1; n <= 64; n *= 8) {
                        g_autofree char *key = g_strdup_printf("distinct.%s.%u.rate", direct ? "direct" : "bus", n);
                        g_autofree char *what = g_strdup_printf("pairs/s, %u client%s on distinct paths, %s", n,
                                                                n > 1 ? "s" : "", direct ? "direct socket" : "bus");

                        bench_result(key, pair_run(&h, n, direct, false, seconds), "pairs/s", what);
                }
        for (unsigned n = 2; n <= 64; n = n == 2 ? 8 : 64) {
                g_autofree char *key = g_strdup_printf("contended.bus.%u.rate", n);
                g_autofree char *what = g_strdup_printf("hand-overs/s, %u clients on one path, bus", n);

                bench_result(key, pair_run(&h, n, false, true, seconds), "grants/s", what);
                if (n == 64)
                        break;
        }

        echo_latency(echo_bus.bus, 2000, &p50, &p99);
        bench_result("rtt.bus.p50.us", p50, "us", "empty bus call, p50");
        bench_result("rtt.bus.p99.us", p99, "us", "empty bus call, p99");
        wakeup_latency(&h, 2000, &p50, &p99);
        bench_result("wakeup.p50.us", p50, "us", "Release to the next waiter's grant, bus, p50");
        bench_result("wakeup.p99.us", p99, "us", "Release to the next waiter's grant, bus, p99");

        sd_bus_flush_close_unref(echo_p2p.bus);
        echo_stop(&echo);
        harness_stop(&h);
        return 0;
}
