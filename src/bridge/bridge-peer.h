/* One bridge connection in pylockerd: the TLS handshake under its deadline, then the shuttle between
 * the TLS session and a socketpair whose other end is an sd-bus server connection serving the
 * org.pylocker.Locker object, and the client (bridge-N) that connection is. */
#pragma once

#include <stdbool.h>

#include "bridge-listener.h"
#include "bridge-shuttle.h"

/* Takes fd (a connected, non-blocking TCP socket) and starts the handshake. The peer is added to
 * l->peers and frees itself when it ends. address: the source address (the key of the per-address
 * caps), display: "[ADDR]:PORT". */
int bridge_peer_new(BridgeListener *l, int fd, const char *address, const char *display);

/* As bridge_peer_new(), but fd carries the D-Bus stream in the clear, as after a handshake: for the
 * fuzz target only. */
int bridge_peer_new_plain(BridgeListener *l, int fd, const char *display);

/* Ends the connection now: the client and its locks go, the sockets close. */
BridgePeer *bridge_peer_free(BridgePeer *peer);
