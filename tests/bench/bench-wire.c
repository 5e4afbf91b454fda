/* Benchmark: the wire protocol on the direct socket, spoken raw (docs/wire.md), without the library.
 *
 * One client: a PING round trip (the floor of any call), an Acquire+Release pair with the Release
 * answered, and one with the Release sent NO_REPLY, measured in alternation. Then many clients in
 * one process, one connection each with one call in flight, driven by one epoll loop (the shape of
 * the Redis clients of bench-alternatives): on distinct paths, and all contending for one path. Every
 * reply is checked: grants carry increasing tokens, under contention one holder at a time. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench-util.h"
#include "wire.h"

static const char *const daemon_args[] = {
        "--max-lock-time=1h",
        "--max-locks-per-client=100000",
        "--max-waiters-per-client=10000",
        NULL,
};

typedef struct WireClient {
        int fd;
        WireBuffer in;
        WireBuffer out;
        uint32_t serial;
        /* many clients */
        char path[64];
        uint8_t lock_id[WIRE_LOCK_ID_SIZE];
        uint64_t last_token;
        uint64_t pairs;
        bool acquiring;
        bool busy;
} WireClient;

static void client_send(WireClient *c, uint16_t type, uint16_t flags, const WireMessage *body) {
        WireMessage m = body ? *body : (WireMessage) {};

        m.header = (WireHeader) { .type = type, .flags = flags, .serial = ++c->serial };
        g_assert_cmpint(wire_message_encode(&c->out, &m, WIRE_FRAME_MAX), ==, 0);
}

static void client_flush(WireClient *c) {
        while (wire_buffer_length(&c->out) > 0) {
                ssize_t n = send(c->fd, wire_buffer_peek(&c->out), wire_buffer_length(&c->out), MSG_NOSIGNAL);

                g_assert_cmpint(n, >, 0);
                wire_buffer_consume(&c->out, (size_t) n);
        }
}

/* The next whole frame in c->in, decoded; false when none is there yet. */
static bool client_next_frame(WireClient *c, WireMessage *ret) {
        WireHeader h;

        if (wire_buffer_length(&c->in) < WIRE_HEADER_SIZE)
                return false;
        g_assert_cmpint(wire_header_parse(wire_buffer_peek(&c->in), WIRE_FRAME_MAX, &h), ==, 0);
        if (wire_buffer_length(&c->in) < WIRE_HEADER_SIZE + h.size)
                return false;
        g_assert_cmpint(wire_message_decode(&h, wire_buffer_peek(&c->in) + WIRE_HEADER_SIZE, ret), ==, 0);
        return true;
}

static void client_drop_frame(WireClient *c, WireMessage *m) {
        wire_message_clear(m);
        wire_buffer_consume(&c->in, WIRE_HEADER_SIZE + m->header.size);
}

/* Reads what is there; false on EAGAIN. */
static bool client_fill(WireClient *c) {
        ssize_t n = recv(c->fd, wire_buffer_reserve(&c->in, 65536), 65536, 0);

        if (n < 0 && errno == EAGAIN)
                return false;
        g_assert_cmpint(n, >, 0);
        c->in.end += (size_t) n;
        return true;
}

/* Blocking: the reply to the last request sent. */
static void client_reply(WireClient *c, WireMessage *ret) {
        while (!client_next_frame(c, ret))
                client_fill(c);
        g_assert_cmpuint(ret->header.serial, ==, c->serial);
}

static void client_connect(WireClient *c, const char *socket_path, bool blocking) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint8_t preamble[WIRE_PREAMBLE_SIZE];
        WireMessage hello = { .hello = { .name = "" } }, welcome;

        *c = (WireClient) {};
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(c->fd, >=, 0);
        g_strlcpy(sa.sun_path, socket_path, sizeof(sa.sun_path));
        g_assert_cmpint(connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);

        wire_preamble_write(preamble);
        memcpy(wire_buffer_reserve(&c->out, sizeof(preamble)), preamble, sizeof(preamble));
        c->out.end += sizeof(preamble);
        client_send(c, WIRE_HELLO, 0, &hello);
        client_flush(c);
        client_reply(c, &welcome);
        g_assert_cmpuint(welcome.header.type, ==, WIRE_WELCOME);
        client_drop_frame(c, &welcome);

        if (!blocking)
                g_assert_cmpint(fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK), ==, 0);
}

static void client_done(WireClient *c) {
        close(c->fd);
        wire_buffer_done(&c->in);
        wire_buffer_done(&c->out);
}

static void send_acquire(WireClient *c, const char *path) {
        const char *paths[] = { path };
        WireMessage m = { .acquire = { .timeout_usec = 60 * G_USEC_PER_SEC, .paths = paths, .n_paths = 1 } };

        client_send(c, WIRE_ACQUIRE, 0, &m);
}

static void send_release(WireClient *c, uint16_t flags) {
        WireMessage m = {};

        memcpy(m.lock_ref.lock_id, c->lock_id, WIRE_LOCK_ID_SIZE);
        client_send(c, WIRE_RELEASE, flags, &m);
}

/* A grant: its token is larger than this connection's last one. */
static void take_grant(WireClient *c, WireMessage *m) {
        if (m->header.type == WIRE_ERROR)
                g_error("Acquire failed: %s: %s", m->error.name, m->error.message);
        g_assert_cmpuint(m->header.type, ==, WIRE_ACQUIRED);
        g_assert_cmpuint(m->acquired.token, >, c->last_token);
        c->last_token = m->acquired.token;
        memcpy(c->lock_id, m->acquired.lock_id, WIRE_LOCK_ID_SIZE);
}

/* ---- one client ---- */

static void ping_op(void *data) {
        WireClient *c = data;
        WireMessage m;

        client_send(c, WIRE_PING, 0, NULL);
        client_flush(c);
        client_reply(c, &m);
        g_assert_cmpuint(m.header.type, ==, WIRE_OK);
        client_drop_frame(c, &m);
}

static void pair_op(void *data) {
        WireClient *c = data;
        WireMessage m;

        send_acquire(c, "/bench/wire");
        client_flush(c);
        client_reply(c, &m);
        take_grant(c, &m);
        client_drop_frame(c, &m);

        send_release(c, 0);
        client_flush(c);
        client_reply(c, &m);
        g_assert_cmpuint(m.header.type, ==, WIRE_VALUE);
        g_assert_cmpuint(m.value.value, ==, 1);
        client_drop_frame(c, &m);
}

/* The Release goes without an answer; the next Acquire's grant shows it was done (same path). */
static void pair_nowait_op(void *data) {
        WireClient *c = data;
        WireMessage m;

        send_acquire(c, "/bench/wire-nowait");
        client_flush(c);
        client_reply(c, &m);
        take_grant(c, &m);
        client_drop_frame(c, &m);

        send_release(c, WIRE_FLAG_NO_REPLY);
        client_flush(c);
}

/* ---- many clients ---- */

typedef struct Run {
        WireClient *clients;
        unsigned n;
        bool contended;
        bool stop;
        unsigned busy;
        uint64_t last_token;
        uint64_t grants;
} Run;

static void worker_start_acquire(Run *run, WireClient *c) {
        send_acquire(c, c->path);
        c->acquiring = true;
}

static void worker_on_frame(Run *run, WireClient *c, WireMessage *m) {
        if (c->acquiring) {
                take_grant(c, m);
                /* Under contention, each grant comes after the one before it. */
                if (run->contended) {
                        g_assert_cmpuint(m->acquired.token, >, run->last_token);
                        run->last_token = m->acquired.token;
                }
                run->grants++;
                c->acquiring = false;
                send_release(c, 0);
                return;
        }

        g_assert_cmpuint(m->header.type, ==, WIRE_VALUE);
        g_assert_cmpuint(m->value.value, ==, 1);
        c->pairs++;
        if (run->stop) {
                c->busy = false;
                run->busy--;
                return;
        }
        worker_start_acquire(run, c);
}

static void run_pump(Run *run, int epoll_fd, int timeout_ms) {
        struct epoll_event events[64];
        int n = epoll_wait(epoll_fd, events, G_N_ELEMENTS(events), timeout_ms);

        g_assert_cmpint(n, >=, 0);
        for (int i = 0; i < n; i++) {
                WireClient *c = events[i].data.ptr;
                WireMessage m;

                while (client_fill(c))
                        ;
                while (client_next_frame(c, &m)) {
                        worker_on_frame(run, c, &m);
                        client_drop_frame(c, &m);
                }
                client_flush(c);
        }
}

static double run_clients(const char *socket_path, unsigned n, bool contended, double seconds) {
        Run run = { .n = n, .contended = contended };
        int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        uint64_t start_grants;
        double start, end;

        g_assert_cmpint(epoll_fd, >=, 0);
        run.clients = g_new0(WireClient, n);
        for (unsigned i = 0; i < n; i++) {
                WireClient *c = &run.clients[i];
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

                client_connect(c, socket_path, false);
                if (contended)
                        g_strlcpy(c->path, "/bench/wire/contended", sizeof(c->path));
                else
                        g_snprintf(c->path, sizeof(c->path), "/bench/wire/distinct/%u", i);
                g_assert_cmpint(epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev), ==, 0);
        }
        for (unsigned i = 0; i < n; i++) {
                run.clients[i].busy = true;
                run.busy++;
                worker_start_acquire(&run, &run.clients[i]);
                client_flush(&run.clients[i]);
        }

        /* Warm-up, then the measured stretch. */
        end = bench_now() + 0.25 * G_USEC_PER_SEC;
        while (bench_now() < end)
                run_pump(&run, epoll_fd, 10);
        start_grants = run.grants;
        start = bench_now();
        end = start + seconds * G_USEC_PER_SEC;
        while (bench_now() < end)
                run_pump(&run, epoll_fd, 10);
        double rate = (double) (run.grants - start_grants) / ((bench_now() - start) / G_USEC_PER_SEC);

        run.stop = true;
        while (run.busy > 0)
                run_pump(&run, epoll_fd, 1000);
        for (unsigned i = 0; i < n; i++)
                client_done(&run.clients[i]);
        g_free(run.clients);
        close(epoll_fd);
        return rate;
}

int main(int argc, char *argv[]) {
        double seconds = bench_seconds();
        g_autofree char *socket_path = NULL;
        WireClient ping_client, pair_client, nowait_client;
        Harness h = {};

        bench_harness_start(&h, daemon_args);
        socket_path = harness_direct_socket_path(&h);

        /* bench-wire N,N,... [contended]: many-client runs alone. */
        if (argc >= 2) {
                g_auto(GStrv) counts = g_strsplit(argv[1], ",", 0);
                bool contended = argc >= 3 && g_str_equal(argv[2], "contended");

                for (size_t i = 0; counts[i]; i++)
                        printf("%s: %.0f\n", counts[i], run_clients(socket_path, atoi(counts[i]), contended, seconds));
                harness_stop(&h);
                return 0;
        }

        client_connect(&ping_client, socket_path, true);
        client_connect(&pair_client, socket_path, true);
        client_connect(&nowait_client, socket_path, true);
        {
                BenchOp ops[] = {
                        { "wire.rtt.us", "PING round trip, wire protocol, direct socket", ping_op, &ping_client },
                        { "wire.pair.us", "Acquire+Release, raw wire protocol, direct socket", pair_op, &pair_client },
                        { "wire.pair.nowait.us", "Acquire+Release (no reply), raw wire protocol, direct socket",
                          pair_nowait_op, &nowait_client },
                };

                bench_ops_run(ops, G_N_ELEMENTS(ops), seconds);
        }
        client_done(&ping_client);
        client_done(&pair_client);
        client_done(&nowait_client);

        for (unsigned n = 1; n <= 64; n *= 8) {
                g_autofree char *key = g_strdup_printf("distinct.wire.%u.rate", n);
                g_autofree char *what = g_strdup_printf("pairs/s, %u client%s on distinct paths, wire, direct socket",
                                                        n, n > 1 ? "s" : "");

                bench_result(key, run_clients(socket_path, n, false, seconds), "pairs/s", what);
        }
        for (unsigned n = 2; n <= 64; n = n == 2 ? 8 : 64) {
                g_autofree char *key = g_strdup_printf("contended.wire.%u.rate", n);
                g_autofree char *what = g_strdup_printf("hand-overs/s, %u clients on one path, wire, direct socket", n);

                bench_result(key, run_clients(socket_path, n, true, seconds), "grants/s", what);
                if (n == 64)
                        break;
        }

        harness_stop(&h);
        return 0;
}
