/* Remote lockers: the TCP bridge's client end.
 *
 * sd-bus speaks to one end of a socketpair as it would to the private socket; a transport thread,
 * one per connected remote locker, moves the bytes between the other end and a TLS session on the
 * TCP connection. The thread touches nothing of the locker: the locker's API stays single-threaded.
 * The TCP connection and the TLS handshake happen in the caller's thread, in open (or restart), so
 * that their errors are the call's. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "bridge-psk.h"
#include "bridge-shuttle.h"
#include "bridge-tls.h"
#include "client-internal.h"
#include "lib-util.h"
#include "macro.h"

/* How long closing waits for the thread to pass on the last bytes before it is told to stop. */
#define LINK_DRAIN_TIMEOUT_MS 1000

struct RemoteLink {
        int tcp_fd;
        int plain_fd;           /* the thread's end of the socketpair */
        int stop_fd;            /* eventfd: the locker tells the thread to stop */
        int done_fd;            /* eventfd: the thread says it has finished */
        BridgeTls *tls;
        pthread_t thread;
        bool thread_started;
};

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

static void *link_thread(void *userdata) {
        RemoteLink *k = userdata;
        BridgeShuttle *s = bridge_shuttle_new(&bridge_tls_ops, k->tls, k->plain_fd, /* max_message_size= */ 0);
        uint64_t one = 1;

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = k->tcp_fd }, { .fd = k->plain_fd }, { .fd = k->stop_fd, .events = POLLIN },
                };
                uint32_t secure, plain;
                int r;

                r = bridge_shuttle_pump(s);
                if (r <= 0)
                        break;
                bridge_shuttle_get_events(s, &secure, &plain);
                /* An fd waited on for nothing would still report its hangup, over and over. */
                p[0].events = (short) secure;
                p[0].fd = secure ? k->tcp_fd : -1;
                p[1].events = (short) plain;
                p[1].fd = plain ? k->plain_fd : -1;
                if (poll(p, 3, -1) < 0 && errno != EINTR)
                        break;
                if (p[2].revents)
                        break;
        }

        if (!s->secure_broken)
                bridge_tls_bye(k->tls);
        bridge_shuttle_free(s);
        /* sd-bus sees the end of its stream, if it is still there. */
        (void) shutdown(k->plain_fd, SHUT_RDWR);
        (void) write(k->done_fd, &one, sizeof(one));
        return NULL;
}

void remote_link_close(RemoteLink *k) {
        uint64_t one = 1;

        if (!k)
                return;
        if (k->thread_started) {
                struct pollfd p = { .fd = k->done_fd, .events = POLLIN };

                /* The sd-bus end is closed by now: the thread passes on what it still has and ends.
                 * A forked child holding a copy of that end would keep it waiting: then stop it. */
                if (poll(&p, 1, LINK_DRAIN_TIMEOUT_MS) <= 0)
                        (void) write(k->stop_fd, &one, sizeof(one));
                (void) pthread_join(k->thread, NULL);
        }
        bridge_tls_free(k->tls);
        for (int *fd = &k->tcp_fd; fd <= &k->done_fd; fd++)
                if (*fd >= 0)
                        (void) close(*fd);
        g_free(k);
}

static int link_handshake(RemoteLink *k, const char *remote, gint64 deadline, PylockerError *error) {
        for (;;) {
                struct pollfd p = { .fd = k->tcp_fd };
                int r;

                r = bridge_tls_handshake(k->tls);
                if (r > 0)
                        return 0;
                if (r < 0)
                        return pylocker_error_setf(error, -ECONNREFUSED,
                                                   "TLS handshake with %s failed (a different secret, or not a "
                                                   "pylockerd bridge): %s", remote, bridge_tls_get_error(k->tls));
                p.events = bridge_tls_wants_write(k->tls) ? POLLOUT : POLLIN;
                r = poll(&p, 1, millis_left(deadline));
                if (r == 0)
                        return pylocker_error_setf(error, -ETIMEDOUT, "TLS handshake with %s timed out.", remote);
                if (r < 0 && errno != EINTR)
                        return pylocker_error_setf(error, -errno, "TLS handshake with %s: %s", remote,
                                                   g_strerror(errno));
        }
}

int remote_link_open(const char *remote, const char *secret_file, uint64_t timeout_usec, RemoteLink **ret,
                     int *ret_bus_fd, PylockerError *error) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_usec;
        g_autofree char *message = NULL;
        uint8_t psk[BRIDGE_PSK_SIZE];
        uint8_t *secret = NULL;
        size_t size = 0;
        RemoteLink *k;
        sigset_t all, saved;
        int pair[2], r;

        r = bridge_secret_load(secret_file, &secret, &size, &message);
        if (r < 0)
                return pylocker_error_setf(error, r, "%s", message);
        r = bridge_psk_derive(secret, size, psk);
        explicit_bzero(secret, size);
        g_free(secret);
        if (r < 0)
                return pylocker_error_setf(error, r, "Failed to derive the bridge key.");

        k = g_new0(RemoteLink, 1);
        k->tcp_fd = k->plain_fd = k->stop_fd = k->done_fd = -1;

        r = tcp_connect(remote, deadline, &k->tcp_fd, error);
        if (r < 0)
                goto fail;
        r = bridge_tls_new_client(k->tcp_fd, psk, &k->tls);
        if (r < 0) {
                r = pylocker_error_setf(error, r, "Failed to set up TLS: %s", g_strerror(-r));
                goto fail;
        }
        r = link_handshake(k, remote, deadline, error);
        if (r < 0)
                goto fail;

        k->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        k->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (k->stop_fd < 0 || k->done_fd < 0 ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) {
                r = pylocker_error_setf(error, -errno, "Failed to set up the transport: %s", g_strerror(errno));
                goto fail;
        }
        k->plain_fd = pair[1];

        /* Signals are the application's threads' business, not ours. */
        sigfillset(&all);
        (void) pthread_sigmask(SIG_SETMASK, &all, &saved);
        r = pthread_create(&k->thread, NULL, link_thread, k);
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r != 0) {
                (void) close(pair[0]);
                r = pylocker_error_setf(error, -r, "Failed to start the transport thread: %s", g_strerror(r));
                goto fail;
        }
        k->thread_started = true;

        explicit_bzero(psk, sizeof(psk));
        *ret = k;
        *ret_bus_fd = pair[0];
        return 0;

fail:
        explicit_bzero(psk, sizeof(psk));
        remote_link_close(k);
        return r;
}
