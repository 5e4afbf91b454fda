/* Many clients in one process, driven by one sd-event loop. */
#undef G_DISABLE_ASSERT
#include <string.h>

#include "bench-loop.h"

#define CALL_TIMEOUT_USEC (120 * G_USEC_PER_SEC)
#define ACQUIRE_TIMEOUT_USEC (60 * G_USEC_PER_SEC)

static void worker_send_acquire(PairWorker *w);

static int on_release_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PairWorker *w = userdata;

        bench_check_released(reply);
        w->pairs++;
        if (w->run->stop) {
                w->busy = false;
                w->run->busy--;
                return 0;
        }
        worker_send_acquire(w);
        return 0;
}

static int on_acquire_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PairWorker *w = userdata;
        PairRun *run = w->run;
        g_autoptr(sd_bus_message) m = NULL;
        uint64_t token;
        const char *id = bench_read_grant(reply, &token);

        g_assert_cmpuint(token, >, w->last_token);
        w->last_token = token;
        if (run->contended) {
                /* One holder at a time, and each grant later than the one before. */
                g_assert_null(run->holder);
                g_assert_cmpuint(token, >, run->last_token);
                run->last_token = token;
                run->holder = w;
        }
        run->grants++;
        memcpy(w->lock_id, id, 33);

        /* The holder gives the lock up as it sends Release. */
        if (run->contended)
                run->holder = NULL;
        m = bench_new_release(w->bus, run->direct, w->lock_id);
        g_assert_cmpint(sd_bus_call_async(w->bus, NULL, m, on_release_reply, w, CALL_TIMEOUT_USEC), >=, 0);
        return 0;
}

static void worker_send_acquire(PairWorker *w) {
        g_autoptr(sd_bus_message) m = bench_new_acquire(w->bus, w->run->direct, w->path, ACQUIRE_TIMEOUT_USEC);

        g_assert_cmpint(sd_bus_call_async(w->bus, NULL, m, on_acquire_reply, w, CALL_TIMEOUT_USEC), >=, 0);
}

static uint64_t run_pairs(PairRun *run) {
        uint64_t total = 0;

        for (unsigned i = 0; i < run->n; i++)
                total += run->workers[i].pairs;
        return total;
}

static void run_once(PairRun *run, int timeout_ms) {
        bench_pump(run->buses, run->n, timeout_ms);
}

static void run_for(PairRun *run, double usec) {
        double end = bench_now() + usec;

        while (bench_now() < end)
                run_once(run, 10);
}

double pair_run(Harness *h, unsigned n, bool direct, bool contended, double seconds) {
        PairRun run = { .h = h, .n = n, .direct = direct, .contended = contended };
        uint64_t start_pairs, end_pairs;
        double start, end;

        run.workers = g_new0(PairWorker, n);
        run.buses = g_new0(sd_bus *, n);
        for (unsigned i = 0; i < n; i++) {
                PairWorker *w = &run.workers[i];

                w->run = &run;
                w->bus = direct ? harness_connect_direct(h) : harness_connect(h);
                run.buses[i] = w->bus;
                if (contended)
                        g_snprintf(w->path, sizeof(w->path), "/bench/contended");
                else
                        g_snprintf(w->path, sizeof(w->path), "/bench/distinct/%u", i);
        }
        for (unsigned i = 0; i < n; i++) {
                run.workers[i].busy = true;
                run.busy++;
                worker_send_acquire(&run.workers[i]);
        }

        /* Warm up: every client registered, caches filled. */
        run_for(&run, MIN(0.3, seconds / 2) * 1e6);
        start_pairs = run_pairs(&run);
        start = bench_now();
        run_for(&run, seconds * 1e6);
        end_pairs = run_pairs(&run);
        end = bench_now();

        /* Every call started is answered and checked before the connections go. */
        run.stop = true;
        while (run.busy > 0)
                run_once(&run, 100);
        g_assert_cmpuint(run.grants, ==, run_pairs(&run));
        for (unsigned i = 0; i < n; i++) {
                g_assert_cmpuint(run.workers[i].pairs, >, 0);
                harness_disconnect(h, run.workers[i].bus);
        }
        g_free(run.workers);
        g_free(run.buses);
        return (end_pairs - start_pairs) / ((end - start) / 1e6);
}
