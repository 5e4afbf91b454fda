/* One bridge connection in pylockerd. */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "bridge-peer.h"
#include "bridge-tls.h"
#include "log.h"
#include "macro.h"
#include "wire-server.h"

struct BridgePeer {
        BridgeListener *listener;
        char *address;
        char *display;
        int fd;                         /* TCP */
        sd_event_source *io;            /* during the handshake */
        sd_event_source *deadline;
        BridgeTls *tls;
        bool handshake_done;
        bool handed_over;               /* the wire server owns the peer, as its transport */
        bool freeing;
};

BridgePeer *bridge_peer_free(BridgePeer *peer) {
        BridgeListener *l;

        if (!peer || peer->freeing)
                return NULL;
        peer->freeing = true;
        l = peer->listener;

        peer->io = sd_event_source_disable_unref(peer->io);
        peer->deadline = sd_event_source_disable_unref(peer->deadline);
        if (peer->tls && peer->handshake_done)
                bridge_tls_bye(peer->tls);
        peer->tls = bridge_tls_free(peer->tls);
        if (peer->fd >= 0)
                (void) close(peer->fd);
        peer->fd = -1;

        bridge_listener_peer_gone(l, peer, peer->address, !peer->handshake_done);
        g_hash_table_steal(l->peers, peer);
        g_free(peer->address);
        g_free(peer->display);
        g_free(peer);
        return NULL;
}

/* ---- the TLS session as a wire connection's transport ---- */

static ssize_t tls_transport_recv(void *ctx, void *buf, size_t size) {
        BridgePeer *peer = ctx;
        ssize_t n = bridge_tls_recv(peer->tls, buf, size);

        if (n < 0 && n != -EAGAIN)
                log_debug("Bridge connection from %s: %s", peer->display, bridge_tls_get_error(peer->tls));
        return n;
}

static ssize_t tls_transport_send(void *ctx, const struct iovec *iov, size_t n_iov, int fd) {
        BridgePeer *peer = ctx;

        /* One record at a time; the connection offers the rest again. No descriptors cross TCP (the
         * transport says so: none is ever given). */
        if (fd >= 0 || n_iov == 0)
                return -EINVAL;
        return bridge_tls_send(peer->tls, iov[0].iov_base, iov[0].iov_len);
}

static size_t tls_transport_pending(void *ctx) {
        BridgePeer *peer = ctx;

        return bridge_tls_pending(peer->tls);
}

static void tls_transport_free(void *ctx) {
        /* The wire connection is done with it: the session, the socket and the listener's counts go. */
        bridge_peer_free(ctx);
}

static const WireTransportOps tls_transport_ops = {
        .recv = tls_transport_recv,
        .send = tls_transport_send,
        .pending = tls_transport_pending,
        .free = tls_transport_free,
};

/* Authenticated: the wire protocol's front end serves the connection from now on. */
static int peer_start_session(BridgePeer *peer) {
        BridgeListener *l = peer->listener;
        g_autofree char *id = g_strdup_printf("bridge-%" G_GUINT64_FORMAT, ++l->n_peers_started);
        WireTransport transport = {
                .ops = &tls_transport_ops,
                .ctx = peer,
                .fd = peer->fd,
                .can_pass_fds = false,
        };
        WirePeer who = {
                .id = id,
                .transport = CLIENT_TRANSPORT_BRIDGE,
                .uid = BRIDGE_PEER_UID,
                .pid = BRIDGE_PEER_PID,
                .address = peer->display,
                .max_frame_size = (uint32_t) MIN(l->config->max_message_size, (size_t) WIRE_FRAME_MAX),
        };

        /* The wire server watches the socket in its own epoll set. */
        peer->io = sd_event_source_disable_unref(peer->io);
        peer->handed_over = true;
        log_debug("Bridge client %s connected from %s.", id, peer->display);
        /* On failure it has freed the transport, and with it the peer. */
        return wire_server_add(l->wire, &transport, &who);
}

static void peer_handshake(BridgePeer *peer) {
        int r;

        r = bridge_tls_handshake(peer->tls);
        if (r == 0) {
                (void) sd_event_source_set_io_events(peer->io, bridge_tls_wants_write(peer->tls) ? EPOLLOUT : EPOLLIN);
                return;
        }
        if (r < 0) {
                log_info("Bridge connection from %s refused: %s", peer->display, bridge_tls_get_error(peer->tls));
                bridge_peer_free(peer);
                return;
        }

        peer->handshake_done = true;
        peer->deadline = sd_event_source_disable_unref(peer->deadline);
        bridge_listener_handshake_done(peer->listener, peer->address);

        /* Bytes that came with the last handshake record are read ahead: the wire server looks. */
        (void) peer_start_session(peer);
}

static int on_handshake_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        peer_handshake(userdata);
        return 0;
}

static int on_deadline(sd_event_source *source, uint64_t usec, void *userdata) {
        BridgePeer *peer = userdata;

        log_info("Bridge connection from %s refused: no TLS handshake within the time allowed.", peer->display);
        bridge_peer_free(peer);
        return 0;
}

static int peer_new(BridgeListener *l, int fd, const char *address, const char *display, BridgePeer **ret) {
        BridgePeer *peer = g_new0(BridgePeer, 1);
        int r;

        peer->listener = l;
        peer->fd = fd;
        peer->address = g_strdup(address);
        peer->display = g_strdup(display);
        g_hash_table_add(l->peers, peer);

        r = sd_event_add_io(l->event, &peer->io, fd, EPOLLIN, on_handshake_io, peer);
        if (r < 0) {
                bridge_peer_free(peer);
                return log_warning_errno(r, "Failed to watch a bridge connection: %m");
        }
        (void) sd_event_source_set_description(peer->io, "bridge-tcp");
        *ret = peer;
        return 0;
}

int bridge_peer_new(BridgeListener *l, int fd, const char *address, const char *display) {
        BridgePeer *peer = NULL;
        int r;

        r = peer_new(l, fd, address, display, &peer);
        if (r < 0)
                return r;

        r = bridge_tls_new_server(fd, l->psk, l->config->max_handshake_bytes, &peer->tls);
        if (r < 0) {
                bridge_peer_free(peer);
                return log_warning_errno(r, "Failed to set up a TLS session: %m");
        }
        r = sd_event_add_time_relative(l->event, &peer->deadline, CLOCK_MONOTONIC,
                                       l->config->handshake_timeout_usec, 10 * USEC_PER_MSEC, on_deadline, peer);
        if (r < 0) {
                bridge_peer_free(peer);
                return log_warning_errno(r, "Failed to add a handshake deadline: %m");
        }
        return 0;
}
