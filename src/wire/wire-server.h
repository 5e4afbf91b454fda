/* The wire protocol front end (docs/wire.md): every wire connection of the daemon, served by the
 * service core as the D-Bus front end serves bus callers, on one sd-event source. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>
#include <systemd/sd-event.h>

#include "bus-locker.h"
#include "client.h"
#include "service.h"
#include "wire-transport.h"
#include "wire.h"

typedef struct WireServer WireServer;

typedef struct WireServerSettings {
        uint32_t max_frame_size;        /* body bytes of one frame from a client; announced in WELCOME */
        uint32_t max_in_flight;         /* a client's unanswered requests before its input is left unread */
        size_t max_output_size;         /* bytes queued for a client that does not read before it is dropped */
        unsigned frames_per_round;      /* frames handled per connection per round: nobody starves */
        uint64_t hello_timeout_usec;    /* from accept() to HELLO answered */
        uint64_t idle_timeout_usec;     /* a welcomed unix connection that holds nothing and sends
                                         * nothing for this long is closed; UINT64_MAX: never */
} WireServerSettings;

#define WIRE_SERVER_SETTINGS_DEFAULT {                                  \
                .max_frame_size = WIRE_FRAME_MAX,                       \
                .max_in_flight = 128,                                   \
                .max_output_size = 4 << 20,                             \
                .frames_per_round = 32,                                 \
                .hello_timeout_usec = 5 * UINT64_C(1000000),            \
                .idle_timeout_usec = UINT64_MAX,                        \
        }

/* Who is at the other end of a connection. */
typedef struct WirePeer {
        const char *id;                 /* the client id: direct-N, bridge-N */
        ClientTransport transport;      /* as ListClients shows it */
        uid_t uid;
        pid_t pid;
        const char *address;            /* a remote peer's "[ADDR]:PORT", or NULL */
        uint32_t max_frame_size;        /* body bytes of one frame from it; 0: the server's */
} WirePeer;

typedef struct WireServerCallbacks {
        /* A unix connection whose client speaks D-Bus (its first byte is 0): fd is now the callee's
         * (non-blocking, nothing read from it), to serve D-Bus peer to peer on. */
        void (*on_dbus_peer)(WireServer *server, int fd, const WirePeer *peer, void *userdata);
        /* A connection of that transport and uid was freed (not one handed over to D-Bus). */
        void (*on_closed)(WireServer *server, ClientTransport transport, uid_t uid, void *userdata);
} WireServerCallbacks;

/* polkit is asked through locker's bus connection, for clients the core cannot decide on. */
int wire_server_new(sd_event *event, Service *service, BusLocker *polkit, const WireServerSettings *settings,
                    const WireServerCallbacks *callbacks, void *userdata, WireServer **ret);
/* Sends what is queued where the socket takes it at once, then frees every connection and its
 * client. */
WireServer *wire_server_free(WireServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WireServer, wire_server_free)

/* Takes a connected, non-blocking unix stream socket (closed on failure too). Its first byte tells:
 * "PLKW" a wire client, 0 a D-Bus client (handed to on_dbus_peer), anything else is closed; so is a
 * connection that has not said HELLO within hello_timeout_usec. Nothing blocks on it. */
int wire_server_add_unix(WireServer *server, int fd, const WirePeer *peer);
/* Takes a transport whose client speaks the wire protocol from its first byte (the preamble). */
int wire_server_add(WireServer *server, const WireTransport *transport, const WirePeer *peer);

/* Connections of that transport, welcomed or not yet (not those handed over to D-Bus). */
size_t wire_server_get_n_connections(const WireServer *server, ClientTransport transport);
