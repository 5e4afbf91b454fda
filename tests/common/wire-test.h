/* A raw wire protocol client for tests (docs/wire.md), on the codec: frames in and out of a blocking
 * unix socket to pylockerd's direct socket, or of a TLS session with its bridge; replies matched by
 * serial, events and received descriptors kept aside. Every failure fails the test. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "harness.h"
#include "wire.h"

/* One frame received: the decoded message points into body. */
typedef struct WireTestFrame {
        WireMessage m;
        uint8_t *body;
} WireTestFrame;

typedef struct BridgeTls BridgeTls;

typedef struct WireTestClient {
        int fd;
        BridgeTls *tls;         /* the bridge's session, or NULL on the direct socket */
        WireBuffer in;
        uint32_t serial;
        GQueue events;          /* WireTestFrame*: events received while waiting for replies */
        GQueue replies;         /* WireTestFrame*: replies received while waiting for others */
        GArray *fds;            /* descriptors received, oldest first */
        char *client_id;        /* from WELCOME */
        WireWelcome welcome;    /* its strings are not kept */
        bool eof;
} WireTestClient;

/* Connects to the bridge at 127.0.0.1:port with the secret and does the TLS handshake; sends nothing
 * inside yet. */
WireTestClient *wire_test_connect_bridge_raw(int port, const char *secret);
/* And says HELLO. */
WireTestClient *wire_test_connect_bridge(int port, const char *secret, const char *name);
/* Connects to the harness's direct socket and sends nothing. */
WireTestClient *wire_test_connect_raw(Harness *h);
/* Connects, sends the preamble and HELLO (name NULL: none) and waits for WELCOME. */
WireTestClient *wire_test_connect(Harness *h, const char *name);
void wire_test_client_free(WireTestClient *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WireTestClient, wire_test_client_free)

/* Writes bytes as they are. */
void wire_test_send_raw(WireTestClient *c, const void *data, size_t size);
/* The preamble for versions lowest..highest. */
void wire_test_send_preamble(WireTestClient *c, uint16_t lowest, uint16_t highest);
/* Encodes and writes one frame with the next serial (body: NULL for none); returns the serial. */
uint32_t wire_test_send(WireTestClient *c, uint16_t type, uint16_t flags, const WireMessage *body);
/* Encodes one frame into buf without sending it (for pipelining); returns its serial. */
uint32_t wire_test_encode(WireTestClient *c, WireBuffer *buf, uint16_t type, uint16_t flags, const WireMessage *body);

/* The next frame of any kind, in arrival order; false at the end of the stream. Fails after
 * timeout_ms. */
bool wire_test_recv(WireTestClient *c, WireTestFrame *ret, int timeout_ms);
/* The reply to serial (replies to others and events are kept for later), of this type (ERROR fails
 * the test with its name and message unless type is WIRE_ERROR). */
void wire_test_expect(WireTestClient *c, uint32_t serial, uint16_t type, WireTestFrame *ret);
/* The ERROR reply to serial, with this name. */
void wire_test_expect_error(WireTestClient *c, uint32_t serial, const char *name);
/* The next event of this type (earlier events of other types fail the test). */
void wire_test_expect_event(WireTestClient *c, uint16_t type, WireTestFrame *ret);
/* Nothing arrives for ms. */
void wire_test_assert_quiet(WireTestClient *c, int ms);
/* The daemon closes the connection within timeout_ms; frames before the end are dropped. */
void wire_test_expect_eof(WireTestClient *c, int timeout_ms);
/* The oldest descriptor received, taken; -1 for none. */
int wire_test_take_fd(WireTestClient *c);

void wire_test_frame_clear(WireTestFrame *f);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(WireTestFrame, wire_test_frame_clear)

/* ACQUIRE and its ACQUIRED reply: lock id and token. */
uint64_t wire_test_acquire(WireTestClient *c, const char *const *paths, uint64_t flags, uint8_t ret_id[WIRE_LOCK_ID_SIZE]);
/* RELEASE; returns the VALUE. */
uint64_t wire_test_release(WireTestClient *c, const uint8_t id[WIRE_LOCK_ID_SIZE]);
/* The lock id as D-Bus shows it (32 hex digits, g_free). */
char *wire_test_id_to_string(const uint8_t id[WIRE_LOCK_ID_SIZE]);
