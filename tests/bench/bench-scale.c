/* Benchmark: the cost of an uncontended Acquire with 10, 10 000 and 1 000 000 locks held by other
 * clients, and pylockerd's resident memory per held lock.
 *
 * Loader clients (LOADERS connections to the direct socket) take single-path locks with pipelined
 * asynchronous Acquires (WINDOW in flight each) and keep them. A probe client on the direct socket
 * then times Acquire alone (its Release is not timed) on paths of its own. Memory: VmRSS of the
 * daemon with no locks held, then with 1 000 000. */
#undef G_DISABLE_ASSERT
#include <stdio.h>
#include <stdlib.h>

#include "bench-util.h"

#define LOADERS 4
#define WINDOW 512
#define SAMPLES 3000

static const char *const daemon_args[] = {
        "--max-lock-time=2h",
        "--max-locks-per-client=2000000",
        "--max-locks-per-user=4000000",
        "--default-timeout=10min",
        NULL,
};

typedef struct Loader {
        struct Load *load;
        sd_bus *bus;
        uint64_t last_token;
        unsigned in_flight;
} Loader;

typedef struct Load {
        Loader loaders[LOADERS];
        sd_event *event;
        unsigned next;          /* next path index to lock */
        unsigned end;
        unsigned granted;
} Load;

static void loader_send(Loader *l);

static int on_load_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Loader *l = userdata;
        uint64_t token;

        (void) bench_read_grant(reply, &token);
        /* One connection's requests are answered in order: its tokens increase. */
        g_assert_cmpuint(token, >, l->last_token);
        l->last_token = token;
        l->load->granted++;
        l->in_flight--;
        loader_send(l);
        return 0;
}

static void loader_send(Loader *l) {
        Load *load = l->load;

        while (l->in_flight < WINDOW && load->next < load->end) {
                char path[32];
                g_autoptr(sd_bus_message) m = NULL;

                g_snprintf(path, sizeof(path), "/load/%u", load->next++);
                m = bench_new_acquire(l->bus, true, path, 0);
                g_assert_cmpint(sd_bus_call_async(l->bus, NULL, m, on_load_reply, l, 600 * G_USEC_PER_SEC), >=, 0);
                l->in_flight++;
        }
}

/* Locks paths until count are held in all. */
static void load_to(Load *load, unsigned count) {
        double start = bench_now();
        unsigned before = load->granted;

        load->end = count;
        for (unsigned i = 0; i < LOADERS; i++)
                loader_send(&load->loaders[i]);
        while (load->granted < count)
                g_assert_cmpint(sd_event_run(load->event, 100 * 1000), >=, 0);
        bench_note("held %u locks (%.0f acquires/s pipelined)", count,
                   (count - before) / ((bench_now() - start) / 1e6));
}

/* p50 and p99 of an uncontended Acquire on the probe's own paths. */
static void probe(sd_bus *bus, const char *tag, double *ret_p50) {
        g_autofree double *samples = g_new(double, SAMPLES);
        uint64_t last_token = 0;
        double p50, p99;

        for (unsigned i = 0; i < SAMPLES + 200; i++) {
                char path[32];
                g_autoptr(sd_bus_message) m = NULL, reply = NULL, rel = NULL, rel_reply = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                uint64_t token;
                const char *id;
                double start;

                g_snprintf(path, sizeof(path), "/probe/%u", i % 1000);
                m = bench_new_acquire(bus, true, path, 0);
                start = bench_now();
                if (sd_bus_call(bus, m, 0, &error, &reply) < 0)
                        g_error("Acquire failed: %s", error.message);
                /* The first 200 warm up. */
                if (i >= 200)
                        samples[i - 200] = bench_now() - start;
                id = bench_read_grant(reply, &token);
                g_assert_cmpuint(token, >, last_token);
                last_token = token;
                rel = bench_new_release(bus, true, id);
                if (sd_bus_call(bus, rel, 0, &error, &rel_reply) < 0)
                        g_error("Release failed: %s", error.message);
                bench_check_released(rel_reply);
        }
        p50 = bench_percentile(samples, SAMPLES, 50);
        p99 = bench_percentile(samples, SAMPLES, 99);
        {
                g_autofree char *k50 = g_strdup_printf("acquire.held.%s.p50.us", tag);
                g_autofree char *k99 = g_strdup_printf("acquire.held.%s.p99.us", tag);
                g_autofree char *w50 = g_strdup_printf("uncontended Acquire, %s locks held, direct socket, p50", tag);
                g_autofree char *w99 = g_strdup_printf("uncontended Acquire, %s locks held, direct socket, p99", tag);

                bench_result(k50, p50, "us", w50);
                bench_result(k99, p99, "us", w99);
        }
        *ret_p50 = p50;
}

int main(int argc, char *argv[]) {
        unsigned big = argc > 1 ? (unsigned) atoi(argv[1]) : 1000000;
        Harness h = {};
        Load load = {};
        sd_bus *probe_bus, *bus;
        uint64_t rss_empty, rss_full;
        double p50;

        bench_harness_start(&h, daemon_args);
        g_assert_cmpint(sd_event_new(&load.event), >=, 0);
        for (unsigned i = 0; i < LOADERS; i++) {
                load.loaders[i].load = &load;
                load.loaders[i].bus = harness_connect_direct(&h);
                g_assert_cmpint(sd_bus_attach_event(load.loaders[i].bus, load.event, 0), >=, 0);
        }
        probe_bus = harness_connect_direct(&h);

        /* Every connection registered and the allocator warm before the baseline. */
        probe(probe_bus, "0", &p50);
        rss_empty = bench_rss(h.daemon_pid);

        load_to(&load, 10);
        probe(probe_bus, "10", &p50);
        load_to(&load, 10000);
        probe(probe_bus, "10000", &p50);
        load_to(&load, big);
        /* A bus connection made now: one left idle through the load was found closed once. */
        bus = harness_connect(&h);
        g_assert_cmpuint(get_property_u(bus, "LockCount"), ==, big);
        rss_full = bench_rss(h.daemon_pid);
        probe(probe_bus, big == 1000000 ? "1000000" : "big", &p50);

        bench_result("rss.empty.bytes", rss_empty, "bytes", "pylockerd VmRSS, no locks held");
        bench_result("rss.full.bytes", rss_full, "bytes", "pylockerd VmRSS, 1 000 000 locks held");
        bench_result("rss.per_lock.bytes", (double) (rss_full - rss_empty) / big, "bytes",
                     "pylockerd resident memory per held single-path lock, at 1 000 000");

        for (unsigned i = 0; i < LOADERS; i++)
                g_assert_cmpint(sd_bus_detach_event(load.loaders[i].bus), >=, 0);
        sd_event_unref(load.event);
        harness_stop(&h);
        return 0;
}
