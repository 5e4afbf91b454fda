/* The wire codec: every message type round-trips, the layout is the one docs/wire.md gives, and
 * every malformed header or body is refused without reading past it. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "wire.h"

static const uint8_t lock_id[WIRE_LOCK_ID_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* Encodes m, checks the header, decodes the body into *ret (which points into *buffer). */
static void round_trip(const WireMessage *m, WireBuffer *buffer, WireMessage *ret) {
        WireHeader header;

        g_assert_cmpint(wire_message_encode(buffer, m, WIRE_FRAME_MAX), ==, 0);
        g_assert_cmpuint(wire_buffer_length(buffer), >=, WIRE_HEADER_SIZE);
        g_assert_cmpint(wire_header_parse(wire_buffer_peek(buffer), WIRE_FRAME_MAX, &header), ==, 0);
        g_assert_cmpuint(header.size, ==, wire_buffer_length(buffer) - WIRE_HEADER_SIZE);
        g_assert_cmpuint(header.type, ==, m->header.type);
        g_assert_cmpuint(header.flags, ==, m->header.flags);
        g_assert_cmpuint(header.serial, ==, m->header.serial);
        g_assert_cmpint(wire_message_decode(&header, wire_buffer_peek(buffer) + WIRE_HEADER_SIZE, ret), ==, 0);
}

static void test_preamble(void) {
        uint8_t p[WIRE_PREAMBLE_SIZE];

        wire_preamble_write(p);
        g_assert_cmpmem(p, sizeof(p), "PLKW\1\0\1\0", 8);
        g_assert_cmpint(wire_preamble_parse(p), ==, WIRE_VERSION);

        /* A range that includes 1 is fine; one that leaves it out is not. */
        memcpy(p, "PLKW\1\0\7\0", 8);
        g_assert_cmpint(wire_preamble_parse(p), ==, WIRE_VERSION);
        memcpy(p, "PLKW\2\0\3\0", 8);
        g_assert_cmpint(wire_preamble_parse(p), ==, -EPROTONOSUPPORT);
        memcpy(p, "PLKW\0\0\0\0", 8);
        g_assert_cmpint(wire_preamble_parse(p), ==, -EPROTONOSUPPORT);
        /* A D-Bus client's first bytes. */
        memcpy(p, "\0AUTH EX", 8);
        g_assert_cmpint(wire_preamble_parse(p), ==, -EBADMSG);
}

static void test_header(void) {
        const uint8_t good[WIRE_HEADER_SIZE] = { 0x10, 0, 0, 0, 0x04, 0, 0x01, 0, 0x2a, 0, 0, 0 };
        uint8_t h[WIRE_HEADER_SIZE];
        WireHeader header;

        g_assert_cmpint(wire_header_parse(good, WIRE_FRAME_MAX, &header), ==, 0);
        g_assert_cmpuint(header.size, ==, 16);
        g_assert_cmpuint(header.type, ==, WIRE_RELEASE);
        g_assert_cmpuint(header.flags, ==, WIRE_FLAG_NO_REPLY);
        g_assert_cmpuint(header.serial, ==, 42);

        /* The size is checked against the caller's limit before any body is read. */
        g_assert_cmpint(wire_header_parse(good, 15, &header), ==, -EMSGSIZE);
        memcpy(h, good, sizeof(h));
        h[0] = 0x01; h[1] = 0x00; h[2] = 0x10; h[3] = 0x00;  /* 1 MiB + 1 */
        g_assert_cmpint(wire_header_parse(h, UINT32_MAX, &header), ==, -EMSGSIZE);
        h[0] = 0xff; h[1] = 0xff; h[2] = 0xff; h[3] = 0xff;
        g_assert_cmpint(wire_header_parse(h, UINT32_MAX, &header), ==, -EMSGSIZE);

        memcpy(h, good, sizeof(h));
        h[6] = 0x02;
        g_assert_cmpint(wire_header_parse(h, WIRE_FRAME_MAX, &header), ==, -EBADMSG);
        h[6] = 0; h[7] = 0x80;
        g_assert_cmpint(wire_header_parse(h, WIRE_FRAME_MAX, &header), ==, -EBADMSG);

        /* Unknown types pass the header: they get an error reply, not a closed connection. */
        memcpy(h, good, sizeof(h));
        h[4] = 0x3e;
        g_assert_cmpint(wire_header_parse(h, WIRE_FRAME_MAX, &header), ==, 0);
        g_assert_false(wire_type_is_request(header.type));
        g_assert_null(wire_type_to_string(header.type));
}

/* The layout of docs/wire.md's example, byte for byte. */
static void test_layout(void) {
        const char *paths[] = { "/a" };
        WireMessage m = {
                .header = { .type = WIRE_ACQUIRE, .serial = 2 },
                .acquire = { .paths = paths, .n_paths = 1 },
        };
        static const uint8_t expected[] = {
                0x23, 0, 0, 0, 0x03, 0, 0, 0, 0x02, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0,
                1, 0, 0, 0,
                2, 0, 0, 0, '/', 'a', 0,
        };
        WireBuffer b = {};

        g_assert_cmpint(wire_message_encode(&b, &m, WIRE_FRAME_MAX), ==, 0);
        g_assert_cmpmem(wire_buffer_peek(&b), wire_buffer_length(&b), expected, sizeof(expected));

        /* HELLO without a name: 13 bytes of body. */
        wire_buffer_consume(&b, wire_buffer_length(&b));
        m = (WireMessage) { .header = { .type = WIRE_HELLO, .serial = 1 }, .hello = { .name = "" } };
        g_assert_cmpint(wire_message_encode(&b, &m, WIRE_FRAME_MAX), ==, 0);
        g_assert_cmpuint(wire_buffer_length(&b), ==, WIRE_HEADER_SIZE + 13);

        /* RELEASE: the raw id only. */
        wire_buffer_consume(&b, wire_buffer_length(&b));
        m = (WireMessage) { .header = { .type = WIRE_RELEASE, .flags = WIRE_FLAG_NO_REPLY, .serial = 3 } };
        memcpy(m.lock_ref.lock_id, lock_id, sizeof(lock_id));
        g_assert_cmpint(wire_message_encode(&b, &m, WIRE_FRAME_MAX), ==, 0);
        g_assert_cmpuint(wire_buffer_length(&b), ==, WIRE_HEADER_SIZE + 16);
        g_assert_cmpmem(wire_buffer_peek(&b) + WIRE_HEADER_SIZE, 16, lock_id, 16);
        wire_buffer_done(&b);
}

static void test_requests(void) {
        const char *paths[] = { "/srv/a", "/srv/ü", "" };
        const char *receivers[] = { ":1.4", "worker" };
        WireBuffer b = {};
        WireMessage in, out;

        in = (WireMessage) {
                .header = { .type = WIRE_ACQUIRE, .serial = 7 },
                .acquire = { .flags = WIRE_ACQUIRE_SHARED | WIRE_ACQUIRE_HANDLE, .timeout_usec = 5,
                             .ttl_usec = UINT64_MAX, .paths = paths, .n_paths = 3 },
        };
        round_trip(&in, &b, &out);
        g_assert_cmpuint(out.acquire.flags, ==, in.acquire.flags);
        g_assert_cmpuint(out.acquire.timeout_usec, ==, 5);
        g_assert_cmpuint(out.acquire.ttl_usec, ==, UINT64_MAX);
        g_assert_cmpuint(out.acquire.n_paths, ==, 3);
        for (size_t i = 0; i < 3; i++)
                g_assert_cmpstr(out.acquire.paths[i], ==, paths[i]);
        g_assert_null(out.acquire.paths[3]);
        wire_message_clear(&out);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) {
                .header = { .type = WIRE_PUBLISH, .serial = 8 },
                .publish = { .flags = WIRE_PUBLISH_TO_SELF | WIRE_PUBLISH_REPLACE, .timeout_usec = 9,
                             .message = "hello", .receivers = receivers, .n_receivers = 2 },
        };
        round_trip(&in, &b, &out);
        g_assert_cmpstr(out.publish.message, ==, "hello");
        g_assert_cmpuint(out.publish.n_receivers, ==, 2);
        g_assert_cmpstr(out.publish.receivers[1], ==, "worker");
        g_assert_cmpuint(out.publish.flags, ==, in.publish.flags);
        wire_message_clear(&out);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_REFRESH, .serial = 9 }, .refresh = { .ttl_usec = 77 } };
        memcpy(in.refresh.lock_id, lock_id, sizeof(lock_id));
        round_trip(&in, &b, &out);
        g_assert_cmpmem(out.refresh.lock_id, 16, lock_id, 16);
        g_assert_cmpuint(out.refresh.ttl_usec, ==, 77);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) {
                .header = { .type = WIRE_REMOVE_MESSAGE, .serial = 10 },
                .remove_message = { .message = "m", .senders = NULL, .n_senders = 0 },
        };
        round_trip(&in, &b, &out);
        g_assert_cmpstr(out.remove_message.message, ==, "m");
        g_assert_cmpuint(out.remove_message.n_senders, ==, 0);
        wire_message_clear(&out);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_SET_NAME, .serial = 11 }, .hello = { .name = "job" } };
        round_trip(&in, &b, &out);
        g_assert_cmpstr(out.hello.name, ==, "job");
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_PING, .serial = 12 } };
        round_trip(&in, &b, &out);
        g_assert_cmpuint(b.end - b.start, ==, WIRE_HEADER_SIZE);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_GET_STATS, .serial = 13 } };
        round_trip(&in, &b, &out);
        g_assert_cmpuint(b.end - b.start, ==, WIRE_HEADER_SIZE);
        g_assert_true(wire_type_is_request(WIRE_GET_STATS));
        g_assert_cmpstr(wire_type_to_string(WIRE_GET_STATS), ==, "GET_STATS");
        wire_buffer_done(&b);
}

static void test_replies(void) {
        const char *paths[] = { "/x", "/y" };
        WirePublication publications[] = {
                { "m1", "p1", ":1.2", "", 100, 0 },
                { "m2", "p2", "direct-3", "worker", 200, 300 },
        };
        WireLockInfo locks[] = { { .paths = paths, .n_paths = 2, .owner = ":1.9", .owner_name = "n",
                                   .token = 5, .shared = true, .acquired_usec = 1, .expires_usec = 2 } };
        WireClientInfo clients[] = { { "direct-1", "", 1000, 4242, "bus" } };
        static const uint64_t buckets[] = { 1, 0, 2, UINT64_MAX };
        WireStatsValue stats_values[] = { { "grants", 7 }, { "queued_bytes", UINT64_MAX } };
        WireStatsHistogram stats_histograms[] = {
                { "wait_time_usec", 3, 9, buckets, G_N_ELEMENTS(buckets) },
                { "hold_time_usec", 0, 0, NULL, 0 },
        };
        WireStatsPath stats_paths[] = { { "/hot", 4 } };
        WireBuffer b = {};
        WireMessage in, out;

        memcpy(locks[0].lock_id, lock_id, sizeof(lock_id));

        in = (WireMessage) {
                .header = { .type = WIRE_WELCOME, .serial = 1 },
                .welcome = { 1, "direct-1", "2.0", 10, 20, 65536, 64, 256 },
        };
        round_trip(&in, &b, &out);
        g_assert_cmpuint(out.welcome.version, ==, 1);
        g_assert_cmpstr(out.welcome.client_id, ==, "direct-1");
        g_assert_cmpstr(out.welcome.server_version, ==, "2.0");
        g_assert_cmpuint(out.welcome.max_lock_usec, ==, 10);
        g_assert_cmpuint(out.welcome.default_timeout_usec, ==, 20);
        g_assert_cmpuint(out.welcome.max_frame_size, ==, 65536);
        g_assert_cmpuint(out.welcome.max_in_flight, ==, 64);
        g_assert_cmpuint(out.welcome.max_paths, ==, 256);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_ACQUIRED, .serial = 2 }, .acquired = { .token = 99, .expires_usec = 98 } };
        memcpy(in.acquired.lock_id, lock_id, sizeof(lock_id));
        round_trip(&in, &b, &out);
        g_assert_cmpmem(out.acquired.lock_id, 16, lock_id, 16);
        g_assert_cmpuint(out.acquired.token, ==, 99);
        g_assert_cmpuint(out.acquired.expires_usec, ==, 98);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_PUBLICATIONS, .serial = 3 }, .publications = { publications, 2 } };
        round_trip(&in, &b, &out);
        g_assert_cmpuint(out.publications.n_items, ==, 2);
        g_assert_cmpstr(out.publications.items[1].sender_name, ==, "worker");
        g_assert_cmpuint(out.publications.items[1].expires_usec, ==, 300);
        g_assert_cmpstr(out.publications.items[0].message, ==, "m1");
        wire_message_clear(&out);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_LOCKS, .serial = 4 }, .locks = { locks, 1 } };
        round_trip(&in, &b, &out);
        g_assert_cmpuint(out.locks.n_items, ==, 1);
        g_assert_cmpmem(out.locks.items[0].lock_id, 16, lock_id, 16);
        g_assert_cmpuint(out.locks.items[0].n_paths, ==, 2);
        g_assert_cmpstr(out.locks.items[0].paths[1], ==, "/y");
        g_assert_true(out.locks.items[0].shared);
        g_assert_cmpuint(out.locks.items[0].token, ==, 5);
        wire_message_clear(&out);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_CLIENTS, .serial = 5 }, .clients = { clients, 1 } };
        round_trip(&in, &b, &out);
        g_assert_cmpuint(out.clients.n_items, ==, 1);
        g_assert_cmpuint(out.clients.items[0].pid, ==, 4242);
        g_assert_cmpstr(out.clients.items[0].transport, ==, "bus");
        wire_message_clear(&out);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_STATUS, .serial = 6 }, .status = { "2.0", 1, 2, 3, 4, 5 } };
        round_trip(&in, &b, &out);
        g_assert_cmpstr(out.status.version, ==, "2.0");
        g_assert_cmpuint(out.status.client_count, ==, 5);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_STATS, .serial = 6 },
                             .stats = { stats_values, 2, stats_histograms, 2, stats_paths, 1 } };
        round_trip(&in, &b, &out);
        g_assert_cmpuint(out.stats.n_values, ==, 2);
        g_assert_cmpstr(out.stats.values[0].name, ==, "grants");
        g_assert_cmpuint(out.stats.values[0].value, ==, 7);
        g_assert_cmpstr(out.stats.values[1].name, ==, "queued_bytes");
        g_assert_cmpuint(out.stats.values[1].value, ==, UINT64_MAX);
        g_assert_cmpuint(out.stats.n_histograms, ==, 2);
        g_assert_cmpstr(out.stats.histograms[0].name, ==, "wait_time_usec");
        g_assert_cmpuint(out.stats.histograms[0].count, ==, 3);
        g_assert_cmpuint(out.stats.histograms[0].sum_usec, ==, 9);
        g_assert_cmpmem(out.stats.histograms[0].buckets, out.stats.histograms[0].n_buckets * sizeof(uint64_t),
                        buckets, sizeof(buckets));
        g_assert_cmpuint(out.stats.histograms[1].n_buckets, ==, 0);
        g_assert_cmpuint(out.stats.n_contended, ==, 1);
        g_assert_cmpstr(out.stats.contended[0].path, ==, "/hot");
        g_assert_cmpuint(out.stats.contended[0].waits, ==, 4);
        wire_message_clear(&out);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        /* Nothing at all: three empty lists, 12 bytes. */
        in = (WireMessage) { .header = { .type = WIRE_STATS, .serial = 6 } };
        round_trip(&in, &b, &out);
        g_assert_cmpuint(wire_buffer_length(&b), ==, WIRE_HEADER_SIZE + 12);
        g_assert_cmpuint(out.stats.n_values + out.stats.n_histograms + out.stats.n_contended, ==, 0);
        wire_message_clear(&out);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_ERROR, .serial = 7 },
                             .error = { "org.pylocker.Locker.Error.Timeout", "Timed out" } };
        round_trip(&in, &b, &out);
        g_assert_cmpstr(out.error.name, ==, "org.pylocker.Locker.Error.Timeout");
        g_assert_cmpstr(out.error.message, ==, "Timed out");
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_LOCK_LOST }, .lock_lost = { .reason = WIRE_LOST_FORCE_RELEASED } };
        memcpy(in.lock_lost.lock_id, lock_id, sizeof(lock_id));
        round_trip(&in, &b, &out);
        g_assert_cmpuint(out.lock_lost.reason, ==, WIRE_LOST_FORCE_RELEASED);
        wire_buffer_consume(&b, wire_buffer_length(&b));

        in = (WireMessage) { .header = { .type = WIRE_MESSAGE_PUBLISHED },
                             .message_published = { "p", "s", "m", 4 } };
        round_trip(&in, &b, &out);
        g_assert_cmpstr(out.message_published.sender, ==, "s");
        g_assert_cmpuint(out.message_published.expires_usec, ==, 4);
        wire_buffer_done(&b);
}

/* Decodes body as a frame of type; returns the result. */
static int decode_raw(uint16_t type, const void *body, size_t size) {
        WireHeader header = { .size = (uint32_t) size, .type = type, .serial = 1 };
        g_autofree uint8_t *copy = g_memdup2(body, size);  /* exactly size bytes: ASan sees overreads */
        WireMessage m;
        int r;

        r = wire_message_decode(&header, copy, &m);
        if (r >= 0)
                wire_message_clear(&m);
        else
                g_assert_null(m.allocated);
        return r;
}

static void test_bad_bodies(void) {
        /* Truncated anywhere: every prefix of a good ACQUIRE fails. */
        const char *paths[] = { "/a", "/b" };
        WireMessage m = { .header = { .type = WIRE_ACQUIRE, .serial = 1 }, .acquire = { .paths = paths, .n_paths = 2 } };
        WireBuffer b = {};

        g_assert_cmpint(wire_message_encode(&b, &m, WIRE_FRAME_MAX), ==, 0);
        size_t size = wire_buffer_length(&b) - WIRE_HEADER_SIZE;
        const uint8_t *body = wire_buffer_peek(&b) + WIRE_HEADER_SIZE;
        for (size_t n = 0; n < size; n++)
                g_assert_cmpint(decode_raw(WIRE_ACQUIRE, body, n), ==, -EBADMSG);
        g_assert_cmpint(decode_raw(WIRE_ACQUIRE, body, size), ==, 0);

        /* Bytes after the last field are room for later versions. */
        g_autofree uint8_t *longer = g_malloc0(size + 5);
        memcpy(longer, body, size);
        g_assert_cmpint(decode_raw(WIRE_ACQUIRE, longer, size + 5), ==, 0);

        /* Unknown ACQUIRE flag. */
        g_autofree uint8_t *copy = g_memdup2(body, size);
        copy[4] = 1;
        g_assert_cmpint(decode_raw(WIRE_ACQUIRE, copy, size), ==, -EBADMSG);
        wire_buffer_done(&b);

        /* Strings: missing zero byte, a zero inside, bad UTF-8, a length past the end. */
        static const uint8_t no_nul[] = { 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 'a', 'b', 'c' };
        static const uint8_t inner_nul[] = { 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 'a', 0, 0 };
        static const uint8_t bad_utf8[] = { 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0xc3, 0x28, 0 };
        static const uint8_t huge_length[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 'a', 0 };
        static const uint8_t hello_flags[] = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
        static const uint8_t good_hello[] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'x', 0 };
        g_assert_cmpint(decode_raw(WIRE_HELLO, no_nul, sizeof(no_nul)), ==, -EBADMSG);
        g_assert_cmpint(decode_raw(WIRE_HELLO, inner_nul, sizeof(inner_nul)), ==, -EBADMSG);
        g_assert_cmpint(decode_raw(WIRE_HELLO, bad_utf8, sizeof(bad_utf8)), ==, -EBADMSG);
        g_assert_cmpint(decode_raw(WIRE_HELLO, huge_length, sizeof(huge_length)), ==, -EBADMSG);
        g_assert_cmpint(decode_raw(WIRE_HELLO, hello_flags, sizeof(hello_flags)), ==, -EBADMSG);
        g_assert_cmpint(decode_raw(WIRE_HELLO, good_hello, sizeof(good_hello)), ==, 0);

        /* A count the body cannot hold is refused before anything is allocated for it. */
        uint8_t acquire_count[28] = {};
        acquire_count[24] = 0xff; acquire_count[25] = 0xff; acquire_count[26] = 0xff; acquire_count[27] = 0x0f;
        g_assert_cmpint(decode_raw(WIRE_ACQUIRE, acquire_count, sizeof(acquire_count)), ==, -EBADMSG);
        uint8_t locks_count[4] = { 0xff, 0xff, 0xff, 0xff };
        g_assert_cmpint(decode_raw(WIRE_LOCKS, locks_count, sizeof(locks_count)), ==, -EBADMSG);

        /* A bool that is neither 0 nor 1. */
        WireLockInfo info = { .owner = "o", .owner_name = "", .shared = true };
        m = (WireMessage) { .header = { .type = WIRE_LOCKS }, .locks = { &info, 1 } };
        b = (WireBuffer) {};
        g_assert_cmpint(wire_message_encode(&b, &m, WIRE_FRAME_MAX), ==, 0);
        copy = (g_free(copy), g_memdup2(wire_buffer_peek(&b) + WIRE_HEADER_SIZE, wire_buffer_length(&b) - WIRE_HEADER_SIZE));
        size = wire_buffer_length(&b) - WIRE_HEADER_SIZE;
        g_assert_cmpint(decode_raw(WIRE_LOCKS, copy, size), ==, 0);
        copy[4 + 16 + 4 + 6 + 5 + 8] = 2;
        g_assert_cmpint(decode_raw(WIRE_LOCKS, copy, size), ==, -EBADMSG);
        wire_buffer_done(&b);

        /* STATS: every prefix of a good one fails; a bucket count past the body, or a bad name,
         * fails too. */
        {
                static const uint64_t buckets[] = { 5, 6 };
                WireStatsValue value = { "grants", 1 };
                WireStatsHistogram histogram = { "wait_time_usec", 11, 12, buckets, 2 };
                WireStatsPath path = { "/p", 3 };
                size_t bucket_count;

                m = (WireMessage) { .header = { .type = WIRE_STATS },
                                    .stats = { &value, 1, &histogram, 1, &path, 1 } };
                b = (WireBuffer) {};
                g_assert_cmpint(wire_message_encode(&b, &m, WIRE_FRAME_MAX), ==, 0);
                g_free(copy);
                size = wire_buffer_length(&b) - WIRE_HEADER_SIZE;
                copy = g_memdup2(wire_buffer_peek(&b) + WIRE_HEADER_SIZE, size);
                wire_buffer_done(&b);
                for (size_t n = 0; n < size; n++)
                        g_assert_cmpint(decode_raw(WIRE_STATS, copy, n), ==, -EBADMSG);
                g_assert_cmpint(decode_raw(WIRE_STATS, copy, size), ==, 0);

                /* values: 4 + (4 + 6 + 1) + 8; histograms: 4, then its name, count and sum. */
                bucket_count = 4 + 11 + 8 + 4 + (4 + 14 + 1) + 16;
                g_assert_cmpuint(copy[bucket_count], ==, 2);
                copy[bucket_count] = 3;
                g_assert_cmpint(decode_raw(WIRE_STATS, copy, size), ==, -EBADMSG);
                copy[bucket_count] = 0xff; copy[bucket_count + 3] = 0xff;
                g_assert_cmpint(decode_raw(WIRE_STATS, copy, size), ==, -EBADMSG);
                copy[bucket_count] = 2; copy[bucket_count + 3] = 0;
                copy[4 + 4] = 0xff;   /* the first value's name: "\xffrants" */
                g_assert_cmpint(decode_raw(WIRE_STATS, copy, size), ==, -EBADMSG);

                uint8_t values_count[4] = { 0xff, 0xff, 0xff, 0xff };
                g_assert_cmpint(decode_raw(WIRE_STATS, values_count, sizeof(values_count)), ==, -EBADMSG);
        }

        /* Unknown type. */
        g_assert_cmpint(decode_raw(0x3e, "", 0), ==, -EOPNOTSUPP);
        g_assert_cmpint(decode_raw(0xffff, "", 0), ==, -EOPNOTSUPP);
}

static void test_encode_limits(void) {
        g_autofree char *big = g_malloc(2000);
        const char *bad[] = { "\xc3\x28" };
        const char *with_null[] = { "/a", NULL };
        WireBuffer b = {};
        WireMessage m;

        memset(big, 'a', 1999);
        big[1999] = 0;

        /* Over the caller's limit: nothing appended, the buffer as it was. */
        m = (WireMessage) { .header = { .type = WIRE_PING, .serial = 1 } };
        g_assert_cmpint(wire_message_encode(&b, &m, 0), ==, 0);
        size_t before = wire_buffer_length(&b);
        m = (WireMessage) { .header = { .type = WIRE_PUBLISH, .serial = 2 }, .publish = { .message = big } };
        g_assert_cmpint(wire_message_encode(&b, &m, 1000), ==, -EMSGSIZE);
        g_assert_cmpuint(wire_buffer_length(&b), ==, before);
        g_assert_cmpint(wire_message_encode(&b, &m, 4000), ==, 0);

        /* Strings the protocol cannot carry fail the call. */
        m = (WireMessage) { .header = { .type = WIRE_ACQUIRE, .serial = 3 }, .acquire = { .paths = bad, .n_paths = 1 } };
        g_assert_cmpint(wire_message_encode(&b, &m, WIRE_FRAME_MAX), ==, -EINVAL);
        m.acquire.paths = with_null;
        m.acquire.n_paths = 2;
        g_assert_cmpint(wire_message_encode(&b, &m, WIRE_FRAME_MAX), ==, -EINVAL);
        m = (WireMessage) { .header = { .type = 0x3e, .serial = 4 } };
        g_assert_cmpint(wire_message_encode(&b, &m, WIRE_FRAME_MAX), ==, -EOPNOTSUPP);
        wire_buffer_done(&b);
}

/* Frames appended while earlier ones are consumed: the queue moves its content, offsets hold. */
static void test_buffer_queue(void) {
        WireBuffer b = {};
        unsigned n_read = 0;

        for (unsigned i = 1; i <= 5000; i++) {
                WireMessage m = { .header = { .type = WIRE_VALUE, .serial = i }, .value = { i * 3 } };
                g_assert_cmpint(wire_message_encode(&b, &m, WIRE_FRAME_MAX), ==, 0);

                /* Read two of every three frames. */
                while (i % 3 != 0 && wire_buffer_length(&b) >= WIRE_HEADER_SIZE) {
                        WireHeader h;
                        WireMessage out;

                        g_assert_cmpint(wire_header_parse(wire_buffer_peek(&b), WIRE_FRAME_MAX, &h), ==, 0);
                        g_assert_cmpint(wire_message_decode(&h, wire_buffer_peek(&b) + WIRE_HEADER_SIZE, &out), ==, 0);
                        n_read++;
                        g_assert_cmpuint(h.serial, ==, n_read);
                        g_assert_cmpuint(out.value.value, ==, n_read * 3);
                        wire_buffer_consume(&b, WIRE_HEADER_SIZE + h.size);
                        if (n_read % 2 == 0)
                                break;
                }
        }
        g_assert_cmpuint(b.allocated, <=, 16384);
        wire_buffer_done(&b);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/wire/preamble", test_preamble);
        g_test_add_func("/wire/header", test_header);
        g_test_add_func("/wire/layout", test_layout);
        g_test_add_func("/wire/requests", test_requests);
        g_test_add_func("/wire/replies", test_replies);
        g_test_add_func("/wire/bad-bodies", test_bad_bodies);
        g_test_add_func("/wire/encode-limits", test_encode_limits);
        g_test_add_func("/wire/buffer-queue", test_buffer_queue);
        return g_test_run();
}
