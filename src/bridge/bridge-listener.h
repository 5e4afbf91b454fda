/* The bridge's TCP listener in pylockerd: accepting, the caps on connections in total and per source
 * address, and the back-off of addresses whose handshakes fail. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <systemd/sd-event.h>

#include "bridge-config.h"
#include "bridge-psk.h"
#include "wire-server.h"

typedef struct BridgePeer BridgePeer;

/* What is known about one source address. */
typedef struct BridgeAddress {
        char *address;
        unsigned n_connections;
        unsigned n_failures;            /* failed handshakes since the last success or back-off */
        uint64_t backoff_until;         /* CLOCK_MONOTONIC; new connections refused before it */
} BridgeAddress;

typedef struct BridgeListener {
        sd_event *event;
        WireServer *wire;               /* serves each peer's connection once authenticated; must be
                                         * freed before the listener (its connections own their peers) */
        const BridgeConfig *config;     /* the daemon's */
        uint8_t psk[BRIDGE_PSK_SIZE];
        GPtrArray *sources;             /* sd_event_source* of each listening socket (owning its fd) */
        GHashTable *peers;              /* BridgePeer* (owned) */
        GHashTable *addresses;          /* address → BridgeAddress* (owned) */
        uint64_t n_peers_started;       /* for the bridge-N client ids */
        uint64_t n_refused;
        uint64_t last_refusal_log_usec;
} BridgeListener;

/* The uid and pid that bridge clients show (ListClients) and are counted under (per-user limits):
 * the overflow uid "nobody", and no process. */
#define BRIDGE_PEER_UID 65534
#define BRIDGE_PEER_PID 0

/* Reads the secret: config->secret_file, else $CREDENTIALS_DIRECTORY/pylocker.secret. Returns 0 or
 * a negative errno, logged. */
int bridge_secret_find(const BridgeConfig *config, uint8_t **ret_secret, size_t *ret_size);

int bridge_listener_new(sd_event *event, WireServer *wire, const BridgeConfig *config, const uint8_t *secret,
                        size_t secret_size, BridgeListener **ret);
BridgeListener *bridge_listener_free(BridgeListener *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BridgeListener, bridge_listener_free)

/* Listens on ADDR:PORT ("*:PORT" for every address, IPv6 and IPv4). */
int bridge_listener_listen(BridgeListener *l, const char *address);
/* Serves a listening TCP socket passed by systemd. */
int bridge_listener_adopt(BridgeListener *l, int fd);

/* Called by a peer as it goes: handshake_failed counts against its address. */
void bridge_listener_peer_gone(BridgeListener *l, BridgePeer *peer, const char *address, bool handshake_failed);
void bridge_listener_handshake_done(BridgeListener *l, const char *address);
