/* How a wire connection's bytes travel: an ops struct, so that a TLS session (the bridge) can take
 * the place of the plain unix socket of the direct socket. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct WireTransportOps {
        /* Reads at most size bytes: > 0 bytes read, 0 at the end of the stream, -EAGAIN when nothing is
         * there yet, other < 0 when the transport is broken. File descriptors that come along are
         * closed. */
        ssize_t (*recv)(void *ctx, void *buf, size_t size);
        /* Writes from iov, passing fd (>= 0) along with the first byte (SCM_RIGHTS): > 0 bytes written
         * (fd passed), -EAGAIN when nothing could be written (fd not passed), other < 0 when broken. A
         * transport that cannot pass descriptors is never given one. */
        ssize_t (*send)(void *ctx, const struct iovec *iov, size_t n_iov, int fd);
        /* Bytes readable at once without waiting for fd to become readable (a TLS session's decrypted
         * records read ahead); NULL: never any. */
        size_t (*pending)(void *ctx);
        /* Ends the transport: frees ctx and closes what it owns. */
        void (*free)(void *ctx);
} WireTransportOps;

typedef struct WireTransport {
        const WireTransportOps *ops;
        void *ctx;
        int fd;                 /* what readiness is watched on; owned by ctx */
        bool can_pass_fds;      /* ACQUIRE with HANDLE is possible */
} WireTransport;

/* A connected unix stream socket (non-blocking), owned by the transport from now on. */
void wire_transport_unix(int fd, WireTransport *ret);
/* Takes the fd back from a unix transport, which is then empty (its free does nothing). */
int wire_transport_unix_steal(WireTransport *t);

static inline size_t wire_transport_pending(const WireTransport *t) {
        return t->ops && t->ops->pending ? t->ops->pending(t->ctx) : 0;
}

/* Frees the transport (NULL ops: nothing to free). */
void wire_transport_done(WireTransport *t);
