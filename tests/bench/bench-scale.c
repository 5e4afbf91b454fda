/* Benchmark: the cost of an uncontended Acquire with 10, 10 000 and 1 000 000 locks held by other
 * clients, and pylockerd's resident memory per held lock.
 *
 * Three daemons, each on its own private bus. Loader clients (LOADERS connections to the direct
 * socket) take single-path locks with pipelined asynchronous Acquires (WINDOW in flight each) and
 * keep them: 10 in the first daemon, 10 000 in the second, 1 000 000 in the third (or the number
 * given as the first argument). A probe client on each direct socket then times Acquire alone (its
 * Release is not timed) on paths of its own, going round the three in turns of 100. Memory: VmRSS of
 * the third daemon with no locks held, then with 1 000 000.
 *
 * Last come the two ratios the targets are stated in, as results and in words on stderr: resident
 * bytes per held lock against TARGET_BYTES_PER_LOCK, and the Acquire p50 with the most locks held
 * against the p50 with 10 held (flat: at most TARGET_P50_RATIO). */
#undef G_DISABLE_ASSERT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-util.h"

#define LOADERS 4
#define WINDOW 512
#define TARGET_BYTES_PER_LOCK 200.0
#define TARGET_P50_RATIO 1.2
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

/* Prints the p50 and p99; returns the p50. */
static double report(Instance *in) {
        double *v = (double *) in->samples->data;
        size_t n = in->samples->len;
        double p50 = bench_percentile(v, n, 50);
        g_autofree char *k50 = g_strdup_printf("acquire.held.%s.p50.us", in->tag);
        g_autofree char *k99 = g_strdup_printf("acquire.held.%s.p99.us", in->tag);
        g_autofree char *w50 = g_strdup_printf("uncontended Acquire, %s locks held, direct socket, p50", in->label);
        g_autofree char *w99 = g_strdup_printf("uncontended Acquire, %s locks held, direct socket, p99", in->label);

        bench_result(k50, p50, "us", w50);
        bench_result(k99, bench_percentile(v, n, 99), "us", w99);
        return p50;
}

/* 1000000 as "1 000 000". */
static char *format_count(unsigned n) {
        g_autofree char *digits = g_strdup_printf("%u", n);
        GString *s = g_string_new(NULL);
        size_t length = strlen(digits);

        for (size_t i = 0; i < length; i++) {
                if (i > 0 && (length - i) % 3 == 0)
                        g_string_append_c(s, ' ');
                g_string_append_c(s, digits[i]);
        }
        return g_string_free(s, FALSE);
}

/* Three daemons side by side, holding 10, 10 000 and 1 000 000 locks; the probe goes round them in
 * short turns, so that whatever else runs on the machine weighs on all three alike. */
int main(int argc, char *argv[]) {
        unsigned big = argc > 1 ? (unsigned) atoi(argv[1]) : 1000000;
        g_autofree char *big_label = format_count(big);
        g_autofree char *what = NULL;
        Instance in[3] = {};
        uint64_t rss_empty, rss_full;
        double p50[3], per_lock, memory_ratio, p50_ratio;
        sd_bus *bus;

        if (g_getenv("PYLOCKER_BENCH_SAMPLES"))
                n_samples = MAX(atoi(g_getenv("PYLOCKER_BENCH_SAMPLES")), 100);
        instance_start(&in[0], 10, "10", "10");
        instance_start(&in[1], 10000, "10000", "10 000");
        instance_start(&in[2], big, big == 1000000 ? "1000000" : "big", big_label);

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
                p50[i] = report(&in[i]);

        per_lock = (double) (rss_full - rss_empty) / big;
        bench_result("rss.empty.bytes", rss_empty, "bytes", "pylockerd VmRSS, no locks held");
        what = g_strdup_printf("pylockerd VmRSS, %s locks held", big_label);
        bench_result("rss.full.bytes", rss_full, "bytes", what);
        g_free(what);
        what = g_strdup_printf("pylockerd resident memory per held single-path lock, at %s", big_label);
        bench_result("rss.per_lock.bytes", per_lock, "bytes", what);

        /* The targets' ratios. */
        memory_ratio = per_lock / TARGET_BYTES_PER_LOCK;
        p50_ratio = p50[2] / p50[0];
        g_free(what);
        what = g_strdup_printf("resident bytes per held lock at %s / %.0f B (target <= 1.0)", big_label,
                               TARGET_BYTES_PER_LOCK);
        bench_result("rss.per_lock.target_ratio", memory_ratio, "ratio", what);
        g_free(what);
        what = g_strdup_printf("uncontended Acquire p50, %s held / 10 held (target <= %.1f)", big_label,
                               TARGET_P50_RATIO);
        bench_result("acquire.held.p50_ratio", p50_ratio, "ratio", what);
        bench_note("memory: %.1f B per held lock at %s locks (RSS %.1f -> %.1f MiB): %.3f x %.0f B, %s",
                   per_lock, big_label, rss_empty / 1048576.0, rss_full / 1048576.0, memory_ratio,
                   TARGET_BYTES_PER_LOCK, memory_ratio <= 1.0 ? "met" : "MISSED");
        bench_note("Acquire p50: %.1f us with 10 held, %.1f us with 10 000, %.1f us with %s: %.3f x, %s",
                   p50[0], p50[1], p50[2], big_label, p50_ratio,
                   p50_ratio <= TARGET_P50_RATIO ? "met" : "MISSED");

        for (int i = 0; i < 3; i++)
                instance_stop(&in[i]);
        return 0;
}
