/* Benchmark: the cost of an uncontended Acquire with 10, 10 000 and 1 000 000 locks held by other
 * clients, and pylockerd's resident memory per held lock.
 *
 * Three daemons, each on its own private bus. Loader clients (LOADERS connections to the direct
 * socket) take single-path locks with pipelined asynchronous Acquires (WINDOW in flight each) and
 * keep them: 10 in the first daemon, 10 000 in the second, 1 000 000 in the third. A probe client
 * on each direct socket then times Acquire alone (its Release is not timed) on paths of its own,
 * going round the three in turns of 100. Memory: VmRSS of the third daemon with no locks held,
 * then with 1 000 000. */
#undef G_DISABLE_ASSERT
#include <stdio.h>
#include <stdlib.h>

#include "bench-util.h"

#define LOADERS 4
#define WINDOW 512
/* Samples per level; $PYLOCKER_BENCH_SAMPLES overrides (more, to profile the daemon meanwhile). */
static unsigned n_samples = 3000;

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

/* One daemon with its loaders and its probe connection. */
typedef struct Instance {
        Harness h;
        Load load;
        sd_bus *probe;
        uint64_t last_token;
        unsigned held;
        const char *tag;
        const char *label;
        GArray *samples;        /* double */
} Instance;

static void instance_start(Instance *in, unsigned held, const char *tag, const char *label) {
        in->held = held;
        in->tag = tag;
        in->label = label;
        in->samples = g_array_new(FALSE, FALSE, sizeof(double));
        bench_harness_start(&in->h, daemon_args);
        g_assert_cmpint(sd_event_new(&in->load.event), >=, 0);
        for (unsigned i = 0; i < LOADERS; i++) {
                in->load.loaders[i].load = &in->load;
                in->load.loaders[i].bus = harness_connect_direct(&in->h);
                g_assert_cmpint(sd_bus_attach_event(in->load.loaders[i].bus, in->load.event, 0), >=, 0);
        }
        in->probe = harness_connect_direct(&in->h);
}

static void instance_stop(Instance *in) {
        for (unsigned i = 0; i < LOADERS; i++)
                g_assert_cmpint(sd_bus_detach_event(in->load.loaders[i].bus), >=, 0);
        sd_event_unref(in->load.event);
        g_array_unref(in->samples);
        harness_stop(&in->h);
}

/* n uncontended Acquires (each Release after it untimed) on the probe's own paths; record keeps
 * their times. */
static void probe(Instance *in, unsigned n, bool record) {
        for (unsigned i = 0; i < n; i++) {
                char path[32];
                g_autoptr(sd_bus_message) m = NULL, reply = NULL, rel = NULL, rel_reply = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                uint64_t token;
                const char *id;
                double start, usec;

                g_snprintf(path, sizeof(path), "/probe/%u", i % 1000);
                m = bench_new_acquire(in->probe, true, path, 0);
                start = bench_now();
                if (sd_bus_call(in->probe, m, 0, &error, &reply) < 0)
                        g_error("Acquire failed: %s", error.message);
                usec = bench_now() - start;
                if (record)
                        g_array_append_val(in->samples, usec);
                id = bench_read_grant(reply, &token);
                g_assert_cmpuint(token, >, in->last_token);
                in->last_token = token;
                rel = bench_new_release(in->probe, true, id);
                if (sd_bus_call(in->probe, rel, 0, &error, &rel_reply) < 0)
                        g_error("Release failed: %s", error.message);
                bench_check_released(rel_reply);
        }
}

static void report(Instance *in) {
        double *v = (double *) in->samples->data;
        size_t n = in->samples->len;
        g_autofree char *k50 = g_strdup_printf("acquire.held.%s.p50.us", in->tag);
        g_autofree char *k99 = g_strdup_printf("acquire.held.%s.p99.us", in->tag);
        g_autofree char *w50 = g_strdup_printf("uncontended Acquire, %s locks held, direct socket, p50", in->label);
        g_autofree char *w99 = g_strdup_printf("uncontended Acquire, %s locks held, direct socket, p99", in->label);

        bench_result(k50, bench_percentile(v, n, 50), "us", w50);
        bench_result(k99, bench_percentile(v, n, 99), "us", w99);
}

/* Three daemons side by side, holding 10, 10 000 and 1 000 000 locks; the probe goes round them in
 * short turns, so that whatever else runs on the machine weighs on all three alike. */
int main(int argc, char *argv[]) {
        unsigned big = argc > 1 ? (unsigned) atoi(argv[1]) : 1000000;
        Instance in[3] = {};
        uint64_t rss_empty, rss_full;
        sd_bus *bus;

        if (g_getenv("PYLOCKER_BENCH_SAMPLES"))
                n_samples = MAX(atoi(g_getenv("PYLOCKER_BENCH_SAMPLES")), 100);
        instance_start(&in[0], 10, "10", "10");
        instance_start(&in[1], 10000, "10000", "10 000");
        instance_start(&in[2], big, big == 1000000 ? "1000000" : "big", "1 000 000");

        /* Every connection registered and the allocator warm before the baseline. */
        for (int i = 0; i < 3; i++)
                probe(&in[i], 200, false);
        rss_empty = bench_rss(in[2].h.daemon_pid);
        for (int i = 0; i < 3; i++) {
                load_to(&in[i].load, in[i].held);
                /* A bus connection made now: one left idle through the load was found closed once. */
                bus = harness_connect(&in[i].h);
                g_assert_cmpuint(get_property_u(bus, "LockCount"), ==, in[i].held);
                harness_disconnect(&in[i].h, bus);
        }
        rss_full = bench_rss(in[2].h.daemon_pid);

        for (int i = 0; i < 3; i++)
                probe(&in[i], 200, false);
        for (unsigned turn = 0; turn < n_samples / 100; turn++)
                for (int i = 0; i < 3; i++)
                        probe(&in[i], 100, true);
        for (int i = 0; i < 3; i++)
                report(&in[i]);

        bench_result("rss.empty.bytes", rss_empty, "bytes", "pylockerd VmRSS, no locks held");
        bench_result("rss.full.bytes", rss_full, "bytes", "pylockerd VmRSS, 1 000 000 locks held");
        bench_result("rss.per_lock.bytes", (double) (rss_full - rss_empty) / big, "bytes",
                     "pylockerd resident memory per held single-path lock, at 1 000 000");

        for (int i = 0; i < 3; i++)
                instance_stop(&in[i]);
        return 0;
}
