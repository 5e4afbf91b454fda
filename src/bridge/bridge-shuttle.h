/* The shuttle: moves bytes between a secure side (a TLS session, behind BridgeSecureOps) and a plain
 * socket (one end of the socketpair whose other end an sd-bus connection reads), both non-blocking,
 * and checks the D-Bus stream coming in from the secure side. It owns no fd and knows no event loop:
 * the daemon drives it from sd-event, the library from its transport thread's poll(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bridge-frame.h"

#define BRIDGE_SHUTTLE_BUFFER_SIZE (64 * 1024)
/* At most one TLS record's worth per send. */
#define BRIDGE_SHUTTLE_SEND_MAX (16 * 1024)

typedef struct BridgeSecureOps {
        /* Return > 0 bytes, 0 at the end of the stream, -EAGAIN, or another negative errno. After
         * -EAGAIN from send, the next send passes the same bytes again. */
        ssize_t (*recv)(void *ctx, void *buf, size_t n);
        ssize_t (*send)(void *ctx, const void *buf, size_t n);
        /* After -EAGAIN: whether the secure side waits to write (else to read). */
        bool (*wants_write)(void *ctx);
} BridgeSecureOps;

typedef struct BridgeShuttle {
        const BridgeSecureOps *ops;
        void *ctx;
        int plain_fd;
        bool check_frames;
        BridgeFramer framer;
        uint8_t in[BRIDGE_SHUTTLE_BUFFER_SIZE];    /* secure → plain */
        size_t in_start, in_end;
        uint8_t out[BRIDGE_SHUTTLE_BUFFER_SIZE];   /* plain → secure */
        size_t out_start, out_end;
        size_t send_inflight;                      /* bytes of a send that gave -EAGAIN */
        bool secure_eof;                           /* nothing more comes from the secure side */
        bool secure_broken;                        /* and nothing can be sent to it */
        bool secure_wants_write;
        bool plain_eof;
        bool plain_shut;
        int secure_error;                          /* why the secure side ended, 0 for a clean end */
        uint64_t bytes_in, bytes_out;
} BridgeShuttle;

/* max_message_size: the cap on messages from the secure side, which is then checked as a D-Bus
 * client's stream; 0 checks nothing (the client end). plain_fd is not owned. */
BridgeShuttle *bridge_shuttle_new(const BridgeSecureOps *ops, void *ctx, int plain_fd, uint64_t max_message_size);
BridgeShuttle *bridge_shuttle_free(BridgeShuttle *s);

/* Moves bytes both ways until nothing moves. The end of the secure side (or its failure) is passed on
 * as the end of the plain stream (shutdown(SHUT_WR)), so the sd-bus end reads every byte that came
 * before it and then sees the disconnection. Returns 1 while there is more to do, 0 when the plain
 * side has closed and everything it sent is delivered (or cannot be), or a negative errno when the
 * stream from the secure side broke the rules (-EBADMSG, -EMSGSIZE) or the plain socket failed. */
int bridge_shuttle_pump(BridgeShuttle *s);

/* The poll events (POLLIN/POLLOUT, equal to EPOLLIN/EPOLLOUT) each fd waits for now. */
void bridge_shuttle_get_events(const BridgeShuttle *s, uint32_t *ret_secure, uint32_t *ret_plain);
