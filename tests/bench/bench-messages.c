/* Benchmark: messages delivered per second, from one publisher to one and to 64 receivers, over the
 * bus with raw sd-bus (Publish, and the MessagePublished signals each receiver gets).
 *
 * The publisher keeps WINDOW Publish calls in flight, each naming every receiver by client id, with
 * to_self false; the text is always the same, so with replace (the default) each inbox holds one
 * publication however long it runs. Receivers are connections of their own in the same process,
 * all on one poll loop (bench_pump()); each checks every signal (sender, text, one per publication). */
#undef G_DISABLE_ASSERT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-util.h"

#define WINDOW 16
#define TEXT "tick"

static const char *const daemon_args[] = {
        "--max-publications-per-second=1000000000",
        NULL,
};

typedef struct Receiver {
        struct Pub *pub;
        sd_bus *bus;
        char *id;
        uint64_t received;
} Receiver;

typedef struct Pub {
        sd_bus *bus;
        char *id;
        Receiver *receivers;
        unsigned n;
        uint64_t published;
        uint64_t delivered;
        unsigned in_flight;
        bool stop;
} Pub;

static char *register_client(sd_bus *bus, const char *name) {
        g_autoptr(sd_bus_message) reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *id;

        if (locker_call_method(bus, "Register", &error, &reply, "s", name) < 0)
                g_error("Register failed: %s", error.message);
        g_assert_cmpint(sd_bus_message_read(reply, "s", &id), >, 0);
        return g_strdup(id);
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Receiver *r = userdata;
        const char *publication, *sender, *text;
        uint64_t expires;

        if (!sd_bus_message_is_signal(m, PYLOCKER_INTERFACE, "MessagePublished"))
                return 0;
        g_assert_cmpint(sd_bus_message_read(m, "ssst", &publication, &sender, &text, &expires), >, 0);
        g_assert_cmpuint(strlen(publication), ==, 32);
        g_assert_cmpstr(sender, ==, r->pub->id);
        g_assert_cmpstr(text, ==, TEXT);
        g_assert_cmpuint(expires, ==, 0);
        r->received++;
        r->pub->delivered++;
        return 0;
}

static void publish(Pub *p);

static int on_publish_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Pub *p = userdata;
        const char *id;

        if (sd_bus_message_is_method_error(reply, NULL))
                g_error("Publish failed: %s: %s", sd_bus_message_get_error(reply)->name,
                        sd_bus_message_get_error(reply)->message);
        g_assert_cmpint(sd_bus_message_read(reply, "s", &id), >, 0);
        g_assert_cmpuint(strlen(id), ==, 32);
        p->published++;
        p->in_flight--;
        publish(p);
        return 0;
}

static void publish(Pub *p) {
        while (!p->stop && p->in_flight < WINDOW) {
                g_autoptr(sd_bus_message) m = NULL;

                g_assert_cmpint(locker_new_method_call(p->bus, &m, "Publish"), >=, 0);
                g_assert_cmpint(sd_bus_message_append(m, "s", TEXT), >=, 0);
                g_assert_cmpint(sd_bus_message_open_container(m, 'a', "s"), >=, 0);
                for (unsigned i = 0; i < p->n; i++)
                        g_assert_cmpint(sd_bus_message_append_basic(m, 's', p->receivers[i].id), >=, 0);
                g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
                g_assert_cmpint(sd_bus_message_append(m, "ta{sv}", UINT64_C(0), 1, "to_self", "b", 0), >=, 0);
                g_assert_cmpint(sd_bus_call_async(p->bus, NULL, m, on_publish_reply, p, 60 * G_USEC_PER_SEC), >=, 0);
                p->in_flight++;
        }
}

static void run_for(GPtrArray *buses, double usec) {
        double end = bench_now() + usec;

        while (bench_now() < end)
                bench_pump((sd_bus *const *) buses->pdata, buses->len, 10);
}

static double deliveries_per_second(Harness *h, unsigned n, double seconds) {
        g_autoptr(GPtrArray) buses = g_ptr_array_new();
        Pub p = { .n = n };
        uint64_t start_count;
        double start, deadline;

        p.bus = harness_connect(h);
        p.id = register_client(p.bus, "publisher");
        g_ptr_array_add(buses, p.bus);
        p.receivers = g_new0(Receiver, n);
        for (unsigned i = 0; i < n; i++) {
                Receiver *r = &p.receivers[i];
                g_autofree char *name = g_strdup_printf("receiver-%u", i);

                r->pub = &p;
                r->bus = harness_connect(h);
                r->id = register_client(r->bus, name);
                g_assert_cmpint(sd_bus_add_filter(r->bus, NULL, on_signal, r), >=, 0);
                g_ptr_array_add(buses, r->bus);
        }

        publish(&p);
        run_for(buses, 0.3e6);
        start_count = p.delivered;
        start = bench_now();
        run_for(buses, seconds * 1e6);
        {
                double rate = (p.delivered - start_count) / ((bench_now() - start) / 1e6);

                /* Whatever was published reaches every receiver, once. */
                p.stop = true;
                deadline = bench_now() + 60e6;
                while (p.in_flight > 0 || p.delivered < p.published * n) {
                        g_assert_cmpfloat(bench_now(), <, deadline);
                        bench_pump((sd_bus *const *) buses->pdata, buses->len, 10);
                }
                run_for(buses, 0.05e6);
                g_assert_cmpuint(p.delivered, ==, p.published * n);
                for (unsigned i = 0; i < n; i++) {
                        g_assert_cmpuint(p.receivers[i].received, ==, p.published);
                        harness_disconnect(h, p.receivers[i].bus);
                        g_free(p.receivers[i].id);
                }
                harness_disconnect(h, p.bus);
                g_free(p.receivers);
                g_free(p.id);
                return rate;
        }
}

int main(int argc, char *argv[]) {
        double seconds = bench_seconds();
        Harness h = {};

        bench_harness_start(&h, daemon_args);
        bench_result("messages.1.rate", deliveries_per_second(&h, 1, seconds), "msgs/s",
                     "messages delivered/s, 1 publisher to 1 receiver, bus");
        bench_result("messages.64.rate", deliveries_per_second(&h, 64, seconds), "msgs/s",
                     "messages delivered/s, 1 publisher to 64 receivers, bus");
        harness_stop(&h);
        return 0;
}
