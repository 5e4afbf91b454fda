/* Remote lockers: the TCP bridge's client end. The TCP connection and the TLS handshake happen in
 * the caller's thread, in open (or restart), so that their errors are the call's; then the TLS session
 * is the transport of the locker's wire connection (docs/wire.md), on the caller's loop like the
 * direct socket's: no thread, no socketpair. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "bridge-psk.h"
#include "bridge-tls.h"
#include "client-internal.h"
#include "client-wire.h"
#include "lib-util.h"
#include "macro.h"

typedef struct TlsTransport {
        int fd;                         /* TCP, blocking: reads that must not wait pass MSG_DONTWAIT */
        BridgeTls *tls;
        uint64_t rcvtimeo_usec;         /* the socket's SO_RCVTIMEO; USEC_INFINITY: none */
} TlsTransport;

static int millis_left(gint64 deadline) {
        gint64 left = deadline - g_get_monotonic_time();

        return left <= 0 ? 0 : (int) MIN((left + 999) / 1000, (gint64) G_MAXINT);
}

static int tcp_connect(const char *remote, gint64 deadline, int *ret_fd, PylockerError *error) {
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
        struct addrinfo *result = NULL;
        g_autofree char *host = NULL, *port_text = NULL;
        uint16_t port;
        int r, last = -ECONNREFUSED;

        r = bridge_split_host_port(remote, &host, &port);
        if (r < 0 || !host)
                return pylocker_error_setf(error, -EINVAL, "Invalid remote '%s': expected HOST:PORT or [V6ADDR]:PORT.",
                                           remote);
        port_text = g_strdup_printf("%u", (unsigned) port);
        r = getaddrinfo(host, port_text, &hints, &result);
        if (r != 0)
                return pylocker_error_setf(error, r == EAI_SYSTEM ? -errno : -EHOSTUNREACH,
                                           "Cannot resolve %s: %s", host, gai_strerror(r));

        for (struct addrinfo *ai = result; ai; ai = ai->ai_next) {
                struct pollfd p = {};
                socklen_t length = sizeof(int);
                int fd, so_error = 0, one = 1;

                fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fd < 0) {
                        last = -errno;
                        continue;
                }
                if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
                        last = -errno;
                        (void) close(fd);
                        continue;
                }
                p.fd = fd;
                p.events = POLLOUT;
                r = poll(&p, 1, millis_left(deadline));
                if (r == 0)
                        so_error = ETIMEDOUT;
                else if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length) < 0)
                        so_error = errno;
                if (so_error != 0) {
                        last = -so_error;
                        (void) close(fd);
                        continue;
                }
                (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                (void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
                freeaddrinfo(result);
                *ret_fd = fd;
                return 0;
        }
        freeaddrinfo(result);
        return pylocker_error_setf(error, last, "Cannot connect to %s: %s", remote, g_strerror(-last));
}

static int tls_handshake(TlsTransport *t, const char *remote, gint64 deadline, PylockerError *error) {
        for (;;) {
                struct pollfd p = { .fd = t->fd };
                int r;

                r = bridge_tls_handshake(t->tls);
                if (r > 0)
                        return 0;
                if (r < 0)
                        return pylocker_error_setf(error, -ECONNREFUSED,
                                                   "TLS handshake with %s failed (a different secret, or not a "
                                                   "pylockerd bridge): %s", remote, bridge_tls_get_error(t->tls));
                p.events = bridge_tls_wants_write(t->tls) ? POLLOUT : POLLIN;
                r = poll(&p, 1, millis_left(deadline));
                if (r == 0)
                        return pylocker_error_setf(error, -ETIMEDOUT, "TLS handshake with %s timed out.", remote);
                if (r < 0 && errno != EINTR)
                        return pylocker_error_setf(error, -errno, "TLS handshake with %s: %s", remote,
                                                   g_strerror(errno));
        }
}

/* ---- the TLS session as the wire connection's transport ---- */

static ssize_t tls_recv(void *transport, void *buf, size_t size, uint64_t timeout_usec, GArray *fds) {
        TlsTransport *t = transport;
        int r;

        /* Records read ahead are returned without touching the socket; otherwise a read that may wait
         * waits in recv() itself, under SO_RCVTIMEO, so that a call costs one send and one recv. */
        if (timeout_usec != 0) {
                r = wire_socket_set_rcvtimeo(t->fd, &t->rcvtimeo_usec, timeout_usec);
                if (r < 0)
                        return r;
        }
        bridge_tls_set_blocking_reads(t->tls, timeout_usec != 0);
        return bridge_tls_recv(t->tls, buf, size);
}

static ssize_t tls_send(void *transport, const void *buf, size_t size) {
        TlsTransport *t = transport;

        return bridge_tls_send(t->tls, buf, size);
}

static int tls_shutdown(void *transport) {
        TlsTransport *t = transport;

        /* close_notify, then the end of our side of the TCP stream; the daemon's answers may still come. */
        bridge_tls_bye(t->tls);
        return shutdown(t->fd, SHUT_WR) < 0 ? -errno : 0;
}

static void tls_free(void *transport) {
        TlsTransport *t = transport;

        bridge_tls_free(t->tls);
        if (t->fd >= 0)
                (void) close(t->fd);
        g_free(t);
}

static const WireTransportOps tls_transport_ops = {
        .recv = tls_recv,
        .send = tls_send,
        .shutdown = tls_shutdown,
        .free = tls_free,
};

int remote_open(PylockerLocker *l, PylockerError *error) {
        gint64 deadline = g_get_monotonic_time() + (gint64) CALL_TIMEOUT_USEC;
        g_autofree char *message = NULL;
        uint8_t psk[BRIDGE_PSK_SIZE];
        uint8_t *secret = NULL;
        size_t size = 0;
        TlsTransport *t;
        int r;

        r = bridge_secret_load(l->secret_file, &secret, &size, &message);
        if (r < 0)
                return pylocker_error_setf(error, r, "%s", message);
        r = bridge_psk_derive(secret, size, psk);
        explicit_bzero(secret, size);
        g_free(secret);
        if (r < 0)
                return pylocker_error_setf(error, r, "Failed to derive the bridge key.");

        t = g_new0(TlsTransport, 1);
        t->fd = -1;
        t->rcvtimeo_usec = USEC_INFINITY;

        r = tcp_connect(l->remote, deadline, &t->fd, error);
        if (r < 0)
                goto fail;
        r = bridge_tls_new_client(t->fd, psk, &t->tls);
        if (r < 0) {
                r = pylocker_error_setf(error, r, "Failed to set up TLS: %s", g_strerror(-r));
                goto fail;
        }
        r = tls_handshake(t, l->remote, deadline, error);
        if (r < 0)
                goto fail;
        /* From here on every read or write says itself whether it may wait. */
        if (fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) & ~O_NONBLOCK) < 0) {
                r = pylocker_error_setf(error, -errno, "Failed to set up the connection: %s", g_strerror(errno));
                goto fail;
        }
        explicit_bzero(psk, sizeof(psk));

        /* Taken over by the wire connection, on failure too. */
        return wire_open_transport(l, &tls_transport_ops, t, t->fd, l->remote, error);

fail:
        explicit_bzero(psk, sizeof(psk));
        tls_free(t);
        return r;
}
