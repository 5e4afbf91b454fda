/* One bridge connection in pylockerd: the TLS handshake under its deadline; then the TLS session is
 * the transport of a wire protocol connection (docs/wire.md), client bridge-N, served by the wire
 * front end on the daemon's event loop. */
#pragma once

#include <stdbool.h>

#include "bridge-listener.h"

/* Takes fd (a connected, non-blocking TCP socket) and starts the handshake. The peer is added to
 * l->peers and frees itself when it ends. address: the source address (the key of the per-address
 * caps), display: "[ADDR]:PORT". */
int bridge_peer_new(BridgeListener *l, int fd, const char *address, const char *display);

/* Ends a connection still in its handshake. Once handed to the wire server, the peer is that
 * connection's transport and goes with it (the server frees it). */
BridgePeer *bridge_peer_free(BridgePeer *peer);
