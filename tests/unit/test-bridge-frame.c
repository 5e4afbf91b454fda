/* The bridge's D-Bus stream checks: the fixed header parser and the framer over SASL and messages. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "bridge-frame.h"

/* A little-endian method call header: body and header-fields lengths, serial. */
static void header_le(uint8_t h[16], uint32_t body, uint32_t serial, uint32_t fields) {
        h[0] = 'l';
        h[1] = 1;
        h[2] = 0;
        h[3] = 1;
        for (int i = 0; i < 4; i++) {
                h[4 + i] = (uint8_t) (body >> (8 * i));
                h[8 + i] = (uint8_t) (serial >> (8 * i));
                h[12 + i] = (uint8_t) (fields >> (8 * i));
        }
}

static void test_header_valid(void) {
        uint8_t h[16];
        BridgeDBusHeader p;

        header_le(h, 100, 7, 61);
        g_assert_cmpint(bridge_dbus_header_parse(h, &p), ==, 0);
        g_assert_false(p.big_endian);
        g_assert_cmpuint(p.type, ==, 1);
        g_assert_cmpuint(p.body_length, ==, 100);
        g_assert_cmpuint(p.serial, ==, 7);
        g_assert_cmpuint(p.fields_length, ==, 61);
        /* 16 + 61 padded to 64 + 100 */
        g_assert_cmpuint(p.total_size, ==, 180);

        /* Big-endian: the same numbers, bytes the other way round. */
        memcpy(h, (const uint8_t[]) { 'B', 4, 1, 1, 0, 0, 0, 8, 0, 0, 1, 0, 0, 0, 0, 16 }, 16);
        g_assert_cmpint(bridge_dbus_header_parse(h, &p), ==, 0);
        g_assert_true(p.big_endian);
        g_assert_cmpuint(p.type, ==, 4);
        g_assert_cmpuint(p.flags, ==, 1);
        g_assert_cmpuint(p.body_length, ==, 8);
        g_assert_cmpuint(p.serial, ==, 256);
        g_assert_cmpuint(p.total_size, ==, 16 + 16 + 8);
}

static void test_header_invalid(void) {
        uint8_t h[16];
        BridgeDBusHeader p;

        header_le(h, 0, 1, 0);
        h[0] = 'x';
        g_assert_cmpint(bridge_dbus_header_parse(h, &p), ==, -EBADMSG);   /* endianness */
        header_le(h, 0, 1, 0);
        h[1] = 0;
        g_assert_cmpint(bridge_dbus_header_parse(h, &p), ==, -EBADMSG);   /* type 0 */
        h[1] = 5;
        g_assert_cmpint(bridge_dbus_header_parse(h, &p), ==, -EBADMSG);   /* unknown type */
        header_le(h, 0, 1, 0);
        h[3] = 2;
        g_assert_cmpint(bridge_dbus_header_parse(h, &p), ==, -EBADMSG);   /* protocol version */
        header_le(h, 0, 0, 0);
        g_assert_cmpint(bridge_dbus_header_parse(h, &p), ==, -EBADMSG);   /* serial 0 */
        header_le(h, 0, 1, BRIDGE_DBUS_ARRAY_MAX + 1);
        g_assert_cmpint(bridge_dbus_header_parse(h, &p), ==, -EBADMSG);   /* fields over 64 MiB */
        header_le(h, UINT32_MAX, 1, 0);
        g_assert_cmpint(bridge_dbus_header_parse(h, &p), ==, -EBADMSG);   /* message over 128 MiB */
}

static const char auth[] = "\0AUTH ANONYMOUS 616e6f6e796d6f7573\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n";

static void test_framer_stream(void) {
        uint8_t h[16], stream[1024];
        size_t n = sizeof(auth) - 1;
        BridgeFramer f;

        memcpy(stream, auth, n);
        header_le(h, 10, 1, 3);         /* 16 + 8 + 10 = 34 bytes */
        memcpy(stream + n, h, 16);
        memset(stream + n + 16, 'x', 18);
        n += 34;
        header_le(h, 0, 2, 0);          /* an empty message: the header alone */
        memcpy(stream + n, h, 16);
        n += 16;

        /* Whole, then byte by byte: the same verdict however the stream is cut. */
        bridge_framer_init(&f, 1024);
        g_assert_cmpint(bridge_framer_feed(&f, stream, n), ==, 0);
        g_assert_cmpuint(f.n_messages, ==, 2);
        g_assert_cmpint(f.phase, ==, BRIDGE_FRAME_HEADER);

        bridge_framer_init(&f, 1024);
        for (size_t i = 0; i < n; i++)
                g_assert_cmpint(bridge_framer_feed(&f, stream + i, 1), ==, 0);
        g_assert_cmpuint(f.n_messages, ==, 2);
}

static void test_framer_rejects(void) {
        uint8_t h[16], big[BRIDGE_AUTH_BYTES_MAX + 16];
        BridgeFramer f;

        bridge_framer_init(&f, 1024);
        g_assert_cmpint(bridge_framer_feed(&f, (const uint8_t *) "AUTH", 4), ==, -EBADMSG);    /* no NUL */
        /* Failed stays failed. */
        g_assert_cmpint(bridge_framer_feed(&f, (const uint8_t *) auth, 1), <, 0);

        bridge_framer_init(&f, 1024);
        g_assert_cmpint(bridge_framer_feed(&f, (const uint8_t *) "\0AUTH\n", 6), ==, -EBADMSG);  /* LF alone */
        bridge_framer_init(&f, 1024);
        g_assert_cmpint(bridge_framer_feed(&f, (const uint8_t *) "\0AU\rTH\r\n", 8), ==, -EBADMSG);
        bridge_framer_init(&f, 1024);
        g_assert_cmpint(bridge_framer_feed(&f, (const uint8_t *) "\0AUTH \x01\r\n", 9), ==, -EBADMSG);

        /* SASL that never ends. */
        memset(big, 'A', sizeof(big));
        big[0] = 0;
        bridge_framer_init(&f, 1024);
        g_assert_cmpint(bridge_framer_feed(&f, big, sizeof(big)), ==, -EMSGSIZE);

        /* A message over the cap is refused at its header, before its body. */
        bridge_framer_init(&f, 1024);
        g_assert_cmpint(bridge_framer_feed(&f, (const uint8_t *) auth, sizeof(auth) - 1), ==, 0);
        header_le(h, 1024, 1, 0);
        g_assert_cmpint(bridge_framer_feed(&f, h, 16), ==, -EMSGSIZE);

        /* Only ANONYMOUS: EXTERNAL would claim a uid, and the socketpair's is the daemon's. */
        bridge_framer_init(&f, 1024);
        g_assert_cmpint(bridge_framer_feed(&f, (const uint8_t *) "\0AUTH EXTERNAL 30\r\n", 20), ==, -EACCES);
        bridge_framer_init(&f, 1024);
        g_assert_cmpint(bridge_framer_feed(&f, (const uint8_t *) "\0AUTH ANONYMOUSLY\r\n", 20), ==, -EACCES);
        bridge_framer_init(&f, 1024);
        g_assert_cmpint(bridge_framer_feed(&f, (const uint8_t *) "\0AUTH\r\nAUTH ANONYMOUS\r\nBEGIN\r\n", 30), ==, 0);
        g_assert_cmpint(f.phase, ==, BRIDGE_FRAME_HEADER);

        /* Garbage after BEGIN. */
        bridge_framer_init(&f, 1024);
        g_assert_cmpint(bridge_framer_feed(&f, (const uint8_t *) auth, sizeof(auth) - 1), ==, 0);
        g_assert_cmpint(bridge_framer_feed(&f, (const uint8_t *) "GET / HTTP/1.1\r\n", 16), ==, -EBADMSG);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/bridge-frame/header/valid", test_header_valid);
        g_test_add_func("/bridge-frame/header/invalid", test_header_invalid);
        g_test_add_func("/bridge-frame/framer/stream", test_framer_stream);
        g_test_add_func("/bridge-frame/framer/rejects", test_framer_rejects);
        return g_test_run();
}
