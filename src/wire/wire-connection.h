/* One connection of the wire protocol: its transport, input and output buffers, the preamble →
 * HELLO → requests state machine, requests in flight and back-pressure, the outgoing queue and its
 * cap, and the descriptors that go out with ACQUIRED frames. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "bus-polkit.h"
#include "client.h"
#include "service.h"
#include "wire-server.h"
#include "wire.h"

typedef struct WireConnection WireConnection;

typedef enum WireConnectionState {
        WIRE_CONNECTION_SNIFFING,       /* unix: a wire or a D-Bus client? nothing read yet */
        WIRE_CONNECTION_PREAMBLE,
        WIRE_CONNECTION_HELLO,          /* preamble read, HELLO expected */
        WIRE_CONNECTION_READY,          /* welcomed: requests */
        WIRE_CONNECTION_CLOSING,        /* nothing more is read; freed at the end of the round */
} WireConnectionState;

/* A request whose answer comes later (a waiting ACQUIRE): recycled through the connection's free
 * list, so that steady traffic allocates nothing. */
typedef struct WireRequest {
        WireConnection *connection;
        uint32_t serial;
        uint16_t flags;                 /* the header's: WIRE_FLAG_NO_REPLY */
        struct WireRequest *next_free;
} WireRequest;

typedef struct WireQueuedFd {
        uint64_t offset;                /* of its ACQUIRED frame, counted from the connection's first byte out */
        int fd;
} WireQueuedFd;

struct WireConnection {
        WireServer *server;
        WireTransport transport;
        WireConnectionState state;
        char *id;
        ClientTransport peer_transport;
        uid_t uid;
        pid_t pid;
        char *address;
        uint32_t max_frame_size;        /* of a frame from this client: the server's, or less */
        Client *client;                 /* from HELLO on */

        WireBuffer input;
        WireBuffer output;
        uint64_t output_sent;           /* bytes sent so far */
        GArray *fds;                    /* WireQueuedFd, in frame order; NULL until the first */
        bool output_blocked;            /* the transport took less than offered: wait to write */

        unsigned n_in_flight;           /* requests unanswered, NO_REPLY ones aside */
        WireRequest *free_requests;
        WireHeader held_header;         /* a request waiting for polkit's answer; the input waits too */
        uint8_t *held;                  /* its body (non-NULL while one is held) */
        ServiceAction held_action;
        BusPolkitQuery *polkit;

        bool read_eof;                  /* the client sent all it will send */
        bool hangup;                    /* the client has gone: its input is read whatever the limits */
        uint64_t deadline;              /* CLOCK_MONOTONIC, to be welcomed by */
        uint64_t last_active;           /* CLOCK_MONOTONIC, of its last round (for the idle timeout) */

        /* The server's lists (wire-internal.h); data points to the connection. */
        GList link;
        GList run_link;
        GList flush_link;
        GList close_link;
        GList greeting_link;
        bool in_run_queue;
        bool in_flush_queue;
        bool in_close_queue;
        bool in_greeting;
        uint32_t revents;               /* readiness reported for the next round */
        uint32_t watched;               /* events in the server's epoll */
        bool attached;                  /* in the server's epoll */
};

WireConnection *wire_connection_new(WireServer *server, const WireTransport *transport, const WirePeer *peer,
                                    WireConnectionState state);
/* Frees its client (its locks go, its waiters are cancelled) and closes the transport. The server
 * has let go of it first. */
WireConnection *wire_connection_free(WireConnection *c);

/* Returned by wire_connection_run() for a unix connection whose client speaks D-Bus. */
#define WIRE_RUN_DBUS 1

/* One round for the connection: reads at most once (when readable), handles at most
 * frames_per_round frames, asks for another round when more are buffered, closes it when the client
 * has gone. Returns 0 or WIRE_RUN_DBUS. */
int wire_connection_run(WireConnection *c, uint32_t revents);

/* Sends what is queued: one send, or one per descriptor to pass. */
void wire_connection_flush(WireConnection *c);
/* Nothing more is read; what is queued goes out at the end of the round, then the connection. */
void wire_connection_close(WireConnection *c);

/* Whether frames in its input are handled now: not closing, not waiting for polkit, not at
 * max_in_flight (unless the client has gone). */
bool wire_connection_can_process(const WireConnection *c);
/* The events to watch it for. */
uint32_t wire_connection_wanted_events(const WireConnection *c);

/* Queues one frame (its header's type, flags and serial) and, for ACQUIRED, the descriptor that goes
 * with it (taken, closed on failure). Returns 0, -EMSGSIZE (over WIRE_FRAME_MAX: nothing queued), or
 * -ENOTCONN when the connection is closing. */
int wire_connection_send(WireConnection *c, const WireMessage *m, int fd);
/* Queues an ERROR frame. */
void wire_connection_reply_error(WireConnection *c, uint32_t serial, const char *name, const char *format, ...)
        G_GNUC_PRINTF(4, 5);

/* A request answered later; counted in flight unless NO_REPLY. */
WireRequest *wire_connection_request_new(WireConnection *c, const WireHeader *header);
/* Done with it: the connection may read again if it was at max_in_flight. */
void wire_connection_request_free(WireRequest *request);
