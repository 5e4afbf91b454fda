/* Benchmark: messages delivered per second from one publisher to one listener through
 * libpylocker-dbus, over the bus and over the daemon's direct socket. Delivered means the listener's
 * message callback ran; every publish and every callback is counted, and the two must match.
 *
 * Two ways of publishing: blocking calls one after the other (the listener drained after each), and
 * asynchronous calls with up to WINDOW unanswered at a time. The daemon runs with its publication rate
 * limit out of the way; the message is always the same text, so replace keeps the inbox at one. */
#undef G_DISABLE_ASSERT
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "client-util.h"

#define WINDOW 64

typedef struct Counts {
        unsigned published;     /* publish calls answered with an id */
        unsigned received;      /* message callbacks */
        unsigned in_flight;
} Counts;

static void on_message(PylockerLocker *locker, const PylockerPublication *p, void *userdata) {
        Counts *c = userdata;

        g_assert_cmpstr(p->message, ==, "bench");
        c->received++;
}

static void on_published(PylockerLocker *locker, int r, const char *id, const PylockerError *error,
                         void *userdata) {
        Counts *c = userdata;

        if (r != 1)
                g_error("publish failed: %d %s", r, error ? error->message : "");
        c->in_flight--;
        c->published++;
}

static void drain(PylockerLocker *l) {
        int r;

        while ((r = pylocker_locker_process(l)) > 0)
                ;
        g_assert_cmpint(r, ==, 0);
}

/* Processes both until something happens or 100 ms pass. */
static void pump(PylockerLocker *a, PylockerLocker *b) {
        struct pollfd fds[2] = {
                { .fd = pylocker_locker_get_fd(a), .events = (short) pylocker_locker_get_events(a) },
                { .fd = pylocker_locker_get_fd(b), .events = (short) pylocker_locker_get_events(b) },
        };

        drain(a);
        drain(b);
        fds[0].events = (short) pylocker_locker_get_events(a);
        fds[1].events = (short) pylocker_locker_get_events(b);
        (void) poll(fds, 2, 100);
        drain(a);
        drain(b);
}

static void wait_received(PylockerLocker *pub, PylockerLocker *sub, Counts *c, unsigned n) {
        gint64 deadline = g_get_monotonic_time() + 60 * (gint64) SEC;

        while (c->received < n || c->published < n) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                pump(pub, sub);
        }
}

static double run_blocking(PylockerLocker *pub, PylockerLocker *sub, Counts *c, unsigned n) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        const char *to[] = { pylocker_locker_get_client_id(sub), NULL };
        gint64 start = g_get_monotonic_time();

        *c = (Counts) {};
        for (unsigned i = 0; i < n; i++) {
                g_assert_cmpint(pylocker_locker_publish(pub, "bench", to, 0, PYLOCKER_PUBLISH_NOT_TO_SELF, NULL,
                                                        &error), ==, 1);
                c->published++;
                drain(sub);
        }
        wait_received(pub, sub, c, n);
        return n / ((g_get_monotonic_time() - start) / 1e6);
}

static double run_pipelined(PylockerLocker *pub, PylockerLocker *sub, Counts *c, unsigned n) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        const char *to[] = { pylocker_locker_get_client_id(sub), NULL };
        gint64 start = g_get_monotonic_time();
        unsigned sent = 0;

        *c = (Counts) {};
        while (sent < n) {
                while (sent < n && c->in_flight < WINDOW) {
                        g_assert_cmpint(pylocker_locker_publish_async(pub, "bench", to, 0, PYLOCKER_PUBLISH_NOT_TO_SELF,
                                                                      on_published, c, &error), ==, 0);
                        c->in_flight++;
                        sent++;
                }
                pump(pub, sub);
        }
        wait_received(pub, sub, c, n);
        return n / ((g_get_monotonic_time() - start) / 1e6);
}

int main(int argc, char *argv[]) {
        static const char *const daemon_args[] = { "--max-publications-per-second=4000000000", NULL };
        unsigned n = argc > 1 ? (unsigned) atoi(argv[1]) : 20000;
        g_autofree char *socket = NULL;
        Harness h = {};

        harness_start(&h, daemon_args);
        socket = harness_direct_socket_path(&h);

        for (int direct = 0; direct <= 1; direct++) {
                PylockerLocker *pub = test_locker_open(&h, "bench-publisher", direct ? socket : NULL);
                PylockerLocker *sub = test_locker_open(&h, "bench-listener", direct ? socket : NULL);
                const char *how = direct ? "direct socket:" : "bus:";
                Counts c = {};
                double rate;

                g_assert_cmpint(pylocker_locker_is_direct(pub), ==, direct);
                g_assert_cmpint(pylocker_locker_is_direct(sub), ==, direct);
                g_assert_cmpint(pylocker_locker_set_message_callback(sub, on_message, &c), ==, 0);

                (void) run_blocking(pub, sub, &c, n / 10);      /* warm up */
                rate = run_blocking(pub, sub, &c, n);
                g_assert_cmpuint(c.received, ==, c.published);
                printf("library, %-14s blocking publish:   %9.0f messages/s  (%u published, %u received)\n", how,
                       rate, c.published, c.received);

                rate = run_pipelined(pub, sub, &c, n);
                g_assert_cmpuint(c.received, ==, c.published);
                printf("library, %-14s async, %2d in flight: %9.0f messages/s  (%u published, %u received)\n", how,
                       WINDOW, rate, c.published, c.received);

                pylocker_locker_unref(sub);
                pylocker_locker_unref(pub);
        }

        harness_stop(&h);
        return 0;
}
