/* TLS ends here: GnuTLS sessions of the bridge, TLS 1.3 with the pre-shared key and (EC)DHE, non-blocking,
 * on a connected TCP socket. Shared by pylockerd (server) and libpylocker-dbus (client). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge-psk.h"
#include <sys/types.h>

typedef struct BridgeTls BridgeTls;

/* A server session on fd (not owned, non-blocking): refuses the handshake once the peer has sent more
 * than max_handshake_bytes before it completes. */
int bridge_tls_new_server(int fd, const uint8_t psk[BRIDGE_PSK_SIZE], size_t max_handshake_bytes, BridgeTls **ret);
/* A client session on fd (not owned). */
int bridge_tls_new_client(int fd, const uint8_t psk[BRIDGE_PSK_SIZE], BridgeTls **ret);
BridgeTls *bridge_tls_free(BridgeTls *t);

/* Goes on with the handshake. Returns 1 when done (TLS 1.3, PSK with (EC)DHE checked), 0 when it waits
 * for the socket (bridge_tls_wants_write() says which way), or a negative errno; then
 * bridge_tls_get_error() says why. */
int bridge_tls_handshake(BridgeTls *t);
bool bridge_tls_wants_write(BridgeTls *t);
const char *bridge_tls_get_error(BridgeTls *t);

/* Sends close_notify, without waiting. */
void bridge_tls_bye(BridgeTls *t);

/* The record layer, after the handshake. recv: > 0 bytes, 0 at the end of the stream, -EAGAIN, or
 * -ECONNRESET (bridge_tls_get_error() says why). send: > 0 bytes taken (at most one record), -EAGAIN
 * (the next send resumes the interrupted record: pass the same bytes again), or -ECONNRESET. */
ssize_t bridge_tls_recv(BridgeTls *t, void *buf, size_t n);
ssize_t bridge_tls_send(BridgeTls *t, const void *buf, size_t n);
/* Decrypted bytes read ahead, which no poll on the socket would announce. */
size_t bridge_tls_pending(BridgeTls *t);
/* After the handshake, reads wait in recv() (for a blocking socket with SO_RCVTIMEO, as the library
 * uses it) instead of passing MSG_DONTWAIT; sends never wait. */
void bridge_tls_set_blocking_reads(BridgeTls *t, bool b);
