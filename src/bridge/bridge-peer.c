/* One bridge connection in pylockerd. */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bridge-peer.h"
#include "bridge-tls.h"
#include "log.h"
#include "macro.h"
#include "peer-bus.h"
#include "sd-cleanup.h"

struct BridgePeer {
        BridgeListener *listener;
        char *address;
        char *display;
        int fd;                         /* TCP (or, for the fuzz target, the clear stream) */
        sd_event_source *io;
        sd_event_source *deadline;
        BridgeTls *tls;                 /* NULL for a clear stream */
        bool handshake_done;
        int plain_fd;                   /* our end of the socketpair */
        sd_event_source *plain_io;
        BridgeShuttle *shuttle;
        Client *client;                 /* owns the sd-bus server connection */
        bool freeing;
};

BridgePeer *bridge_peer_free(BridgePeer *peer) {
        BridgeListener *l;

        if (!peer || peer->freeing)
                return NULL;
        peer->freeing = true;
        l = peer->listener;

        peer->io = sd_event_source_disable_unref(peer->io);
        peer->plain_io = sd_event_source_disable_unref(peer->plain_io);
        peer->deadline = sd_event_source_disable_unref(peer->deadline);
        if (peer->tls && peer->handshake_done && peer->shuttle && !peer->shuttle->secure_broken)
                bridge_tls_bye(peer->tls);
        peer->shuttle = bridge_shuttle_free(peer->shuttle);
        peer->tls = bridge_tls_free(peer->tls);
        /* Our end of the socketpair goes first: client_free() flushes the server connection, which
         * would otherwise wait (up to sd-bus's call timeout, the whole daemon with it) for a reader
         * that will never come. Closed, the flush fails at once. */
        if (peer->plain_fd >= 0)
                (void) close(peer->plain_fd);
        peer->plain_fd = -1;
        if (peer->fd >= 0)
                (void) close(peer->fd);
        peer->fd = -1;

        /* Its locks, waiters and inbox go now, as with a bus client's disconnect. */
        if (peer->client) {
                log_debug("Bridge client %s (%s) disconnected.", peer->client->id, peer->display);
                g_clear_pointer(&peer->client, client_free);
        }

        bridge_listener_peer_gone(l, peer, peer->address, !peer->handshake_done);
        g_hash_table_steal(l->peers, peer);
        g_free(peer->address);
        g_free(peer->display);
        g_free(peer);
        return NULL;
}

/* epoll reports a hangup even to an fd waited on for nothing: such a source is turned off instead. */
static void io_source_wait_for(sd_event_source *source, uint32_t events) {
        if (events == 0) {
                (void) sd_event_source_set_enabled(source, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_io_events(source, events);
        (void) sd_event_source_set_enabled(source, SD_EVENT_ON);
}

static void peer_update_events(BridgePeer *peer) {
        uint32_t secure, plain;

        bridge_shuttle_get_events(peer->shuttle, &secure, &plain);
        io_source_wait_for(peer->io, secure);
        io_source_wait_for(peer->plain_io, plain);
}

static void peer_pump(BridgePeer *peer) {
        int r;

        r = bridge_shuttle_pump(peer->shuttle);
        if (r < 0) {
                log_full_errno(LOG_NOTICE, r, "Bridge client %s (%s) broke the D-Bus framing, dropping it: %m",
                                 peer->client ? peer->client->id : "?", peer->display);
                bridge_peer_free(peer);
                return;
        }
        if (r == 0) {
                /* The server connection closed: nothing more to say on this one. */
                bridge_peer_free(peer);
                return;
        }
        peer_update_events(peer);
}

static int on_plain_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        peer_pump(userdata);
        return 0;
}

static int on_server_disconnected(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        /* The peer's stream ended (the shuttle passed the end on) or broke the protocol. */
        bridge_peer_free(userdata);
        return 0;
}

/* The sd-bus server connection on one end of a socketpair, the shuttle on the other. */
static int peer_start_session(BridgePeer *peer, const BridgeSecureOps *ops, void *ctx) {
        BridgeListener *l = peer->listener;
        g_autoptr(sd_bus) bus = NULL;
        g_autofree char *id = NULL;
        int pair[2], r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0)
                return log_warning_errno(errno, "Failed to create a socketpair for a bridge client: %m");
        peer->plain_fd = pair[1];

        /* The secret authenticated the peer; inside TLS it authenticates anonymously. The socketpair
         * could carry fds, TCP cannot: never agree to them (AcquireHandle is refused here). */
        r = peer_bus_new(l->locker, l->event, pair[0], PEER_BUS_ANONYMOUS, "bridge", on_server_disconnected, peer, &bus);
        if (r < 0)
                return r;

        peer->shuttle = bridge_shuttle_new(ops, ctx, peer->plain_fd, peer->listener->config->max_message_size);
        r = sd_event_add_io(l->event, &peer->plain_io, peer->plain_fd, EPOLLIN, on_plain_io, peer);
        if (r < 0)
                return log_warning_errno(r, "Failed to watch a bridge socketpair: %m");
        (void) sd_event_source_set_description(peer->plain_io, "bridge-plain");

        id = g_strdup_printf("bridge-%" G_GUINT64_FORMAT, ++peer->listener->n_peers_started);
        peer->client = bus_locker_add_peer(l->locker, bus, id, CLIENT_TRANSPORT_BRIDGE, BRIDGE_PEER_UID, BRIDGE_PEER_PID);
        peer->client->address = g_strdup(peer->display);
        /* The client owns the connection now; our cleanup would close it. */
        sd_bus_unref(g_steal_pointer(&bus));
        log_debug("Bridge client %s connected from %s.", id, peer->display);
        return 0;
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

        r = peer_start_session(peer, &bridge_tls_ops, peer->tls);
        if (r < 0) {
                bridge_peer_free(peer);
                return;
        }
        /* Bytes may have come with the last handshake record. */
        peer_pump(peer);
}

static int on_secure_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        BridgePeer *peer = userdata;

        if (!peer->handshake_done)
                peer_handshake(peer);
        else
                peer_pump(peer);
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
        peer->plain_fd = -1;
        peer->address = g_strdup(address);
        peer->display = g_strdup(display);
        g_hash_table_add(l->peers, peer);

        r = sd_event_add_io(l->event, &peer->io, fd, EPOLLIN, on_secure_io, peer);
        if (r < 0) {
                bridge_peer_free(peer);
                return log_warning_errno(r, "Failed to watch a bridge connection: %m");
        }
        (void) sd_event_source_set_description(peer->io, "bridge-tcp");
        *ret = peer;
        return 0;
}

int bridge_peer_new(BridgeListener *l, int fd, const char *address, const char *display) {
        BridgePeer *peer;
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

static ssize_t plain_recv(void *ctx, void *buf, size_t n) {
        ssize_t r = recv(*(int *) ctx, buf, n, MSG_DONTWAIT);

        return r < 0 ? -errno : r;
}

static ssize_t plain_send(void *ctx, const void *buf, size_t n) {
        ssize_t r = send(*(int *) ctx, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);

        return r < 0 ? -errno : r;
}

static bool plain_wants_write(void *ctx) {
        return false;
}

static const BridgeSecureOps plain_ops = {
        .recv = plain_recv,
        .send = plain_send,
        .wants_write = plain_wants_write,
};

int bridge_peer_new_plain(BridgeListener *l, int fd, const char *display) {
        BridgePeer *peer;
        int r;

        r = peer_new(l, fd, display, display, &peer);
        if (r < 0)
                return r;
        peer->handshake_done = true;
        r = peer_start_session(peer, &plain_ops, &peer->fd);
        if (r < 0) {
                bridge_peer_free(peer);
                return r;
        }
        peer_pump(peer);
        return 0;
}
