/* The client end of the lean wire protocol (docs/wire.md) on the daemon's direct socket: the byte
 * transport, serials, the input and output buffers, the frames that wait for dispatch, blocking and
 * asynchronous calls. What a call means stays in client-lock.c, client-messages.c and client-info.c,
 * beside its D-Bus form. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <pylocker/pylocker-client.h>

#include "wire.h"

typedef struct PendingCall PendingCall;

/* How the bytes move: a plain unix socket here; a TLS session can take its place. */
typedef struct WireTransportOps {
        /* Reads up to size bytes into buf. timeout_usec 0: only what is there now, -EAGAIN when nothing
         * is; else waits up to about that long for something (USEC_INFINITY: forever), -EAGAIN when
         * nothing came. Returns the number of bytes, 0 at the end of the stream, or a negative errno
         * (-EINTR: try again). Descriptors that came with the bytes are appended to fds, in order. */
        ssize_t (*recv)(void *transport, void *buf, size_t size, uint64_t timeout_usec, GArray *fds);
        /* Writes what it can of buf without waiting: the number of bytes, -EAGAIN, or a negative errno. */
        ssize_t (*send)(void *transport, const void *buf, size_t size);
        /* Ends our direction of the stream (the peer reads its end), keeping the other open. */
        int (*shutdown)(void *transport);
        void (*free)(void *transport);
} WireTransportOps;

/* A frame received while a blocking call waited for its own reply, kept for the next dispatch. */
typedef struct WireFrame WireFrame;

typedef struct WireConn {
        const WireTransportOps *ops;
        void *transport;
        int fd;                         /* what a loop polls */

        WireBuffer in;                  /* received, not yet taken out as frames */
        WireBuffer out;                 /* encoded, not yet written */
        WireBuffer spare;               /* a buffer of a frame taken out, kept for the next one */
        GArray *fds;                    /* int: descriptors received and not yet claimed by a frame */
        GQueue frames;                  /* WireFrame*: to dispatch, oldest first */
        GHashTable *pending;            /* serial → PendingCall* (owned by the locker's list) */

        uint32_t last_serial;
        uint32_t max_send_size;         /* body of a frame the server takes: WELCOME's max_frame_size
                                         * (those it sends are at most WIRE_FRAME_MAX) */
        int broken;                     /* 0, or the negative errno that ended the stream */
        char *fatal;                    /* the server's last words (an ERROR with serial 0), if any */

        sd_event_source *io_source;     /* attached to an sd-event loop */
        sd_event_source *time_source;
} WireConn;

/* A reply taken out of the stream: its frame in a buffer of its own, decoded, and the descriptor
 * that came with it (an AcquireHandle's grant), owned by whoever takes it. */
typedef struct WireReply {
        WireBuffer frame;
        WireMessage message;
        int fd;
} WireReply;

#define WIRE_REPLY_NULL { .fd = -1 }

/* The D-Bus method a request type stands for: the same words in errors either way. */
const char *wire_request_name(uint16_t type);

/* Connects to the direct socket at path, says HELLO (with the locker's name) and reads WELCOME into
 * the locker (client id, server version, limits); l->wire is set on success. Fails with the daemon's
 * mapped error when it refused (a taken name), -EPROTONOSUPPORT when something answers there but
 * not in this protocol (a D-Bus-only daemon), or the errno of connecting (nobody listens). */
int wire_open(PylockerLocker *l, const char *path, PylockerError *error);
/* As wire_open(), on a transport already connected (the bridge's TLS session), taken over: freed by
 * the connection, on failure too. fd: what a loop polls. */
int wire_open_transport(PylockerLocker *l, const WireTransportOps *ops, void *transport, int fd, const char *where,
                        PylockerError *error);
/* Sets fd's SO_RCVTIMEO for a read that may wait timeout_usec, unless the one in place
 * (*rcvtimeo_usec, USEC_INFINITY for none) is short enough already. */
int wire_socket_set_rcvtimeo(int fd, uint64_t *rcvtimeo_usec, uint64_t timeout_usec);
/* Sends what can go without waiting, ends our side and waits a little for the daemon to close its
 * own (it has then let go of the client: its locks and its name), then forgets every frame and
 * descriptor. */
void wire_close(PylockerLocker *l);

/* Sends m (its serial is set here) and waits up to timeout_usec for its reply, which must be of
 * type reply_type or ERROR. Frames of others that come meanwhile wait for the next
 * pylocker_locker_process(). Returns 0 and the reply (give it back with wire_reply_done()), or a
 * negative errno with error filled: the daemon's error mapped as on the bus, -ETIMEDOUT, or
 * -ECONNRESET when the connection broke (the locker is then lost). */
int wire_call(PylockerLocker *l, WireMessage *m, uint64_t timeout_usec, uint16_t reply_type, WireReply *ret,
              PylockerError *error);
void wire_reply_done(PylockerLocker *l, WireReply *reply);

/* Sends m without waiting: with p, p's wire_reply handler gets its reply from
 * pylocker_locker_process() (and p joins the locker's pending calls); without, m should carry
 * NO_REPLY. Written at once as far as the socket takes it, the rest with the next write. On failure
 * p is freed and never called. */
int wire_send(PylockerLocker *l, WireMessage *m, PendingCall *p, uint64_t timeout_usec, PylockerError *error);

/* An ERROR frame as our error, through the same map as the bus's errors. */
int wire_map_error(PylockerLocker *l, const WireError *e, const char *what, PylockerError *error);

/* Lock ids: 16 bytes on the wire, 32 lower-case hex digits for everyone else. */
int wire_lock_id_parse(const char *text, uint8_t ret[WIRE_LOCK_ID_SIZE], PylockerError *error);
void wire_lock_id_format(const uint8_t id[WIRE_LOCK_ID_SIZE], char ret[WIRE_LOCK_ID_SIZE * 2 + 1]);

/* The event loop's view, as sd_bus_get_events(), sd_bus_get_timeout(), sd_bus_process() and
 * sd_bus_wait() give it for a bus. */
int wire_get_events(PylockerLocker *l);
int wire_get_timeout(PylockerLocker *l, uint64_t *ret_usec);
int wire_process(PylockerLocker *l);
int wire_wait(PylockerLocker *l, uint64_t timeout_usec);
