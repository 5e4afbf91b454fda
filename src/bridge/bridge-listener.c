/* The bridge's TCP listener in pylockerd. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "bridge-listener.h"
#include "bridge-peer.h"
#include "log.h"
#include "macro.h"

#define CREDENTIAL_NAME "pylocker.secret"
/* Past this many remembered addresses, those with nothing to remember are forgotten. */
#define ADDRESSES_PRUNE_AT 1024

int bridge_secret_find(const BridgeConfig *config, uint8_t **ret_secret, size_t *ret_size) {
        g_autofree char *path = NULL, *error = NULL;
        const char *credentials = getenv("CREDENTIALS_DIRECTORY");
        int r;

        if (config->secret_file)
                path = g_strdup(config->secret_file);
        else if (credentials && *credentials)
                path = g_build_filename(credentials, CREDENTIAL_NAME, NULL);
        else
                return log_error_errno(ENOKEY, "The bridge needs a shared secret: set SecretFile= in [Bridge], "
                                       "pass --secret-file=FILE, or provide the credential " CREDENTIAL_NAME
                                       " (LoadCredential=).");

        r = bridge_secret_load(path, ret_secret, ret_size, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error);
        return 0;
}

static void bridge_address_free(gpointer p) {
        BridgeAddress *a = p;

        g_free(a->address);
        g_free(a);
}

static void source_free_void(gpointer p) {
        (void) sd_event_source_disable_unref(p);
}

static void peer_free_void(gpointer p) {
        bridge_peer_free(p);
}

int bridge_listener_new(sd_event *event, WireServer *wire, const BridgeConfig *config, const uint8_t *secret,
                        size_t secret_size, BridgeListener **ret) {
        g_autoptr(BridgeListener) l = g_new0(BridgeListener, 1);
        int r;

        l->event = event;
        l->wire = wire;
        l->config = config;
        l->sources = g_ptr_array_new_with_free_func(source_free_void);
        l->peers = g_hash_table_new_full(NULL, NULL, peer_free_void, NULL);
        l->addresses = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, bridge_address_free);

        r = bridge_psk_derive(secret, secret_size, l->psk);
        if (r < 0)
                return log_error_errno(r, "Failed to derive the bridge key: %m");

        *ret = g_steal_pointer(&l);
        return 0;
}

BridgeListener *bridge_listener_free(BridgeListener *l) {
        if (!l)
                return NULL;
        g_clear_pointer(&l->sources, g_ptr_array_unref);
        /* Each peer takes its client (and that client's locks) with it. */
        if (l->peers) {
                GHashTableIter iter;
                gpointer peer;

                g_hash_table_iter_init(&iter, l->peers);
                while (g_hash_table_iter_next(&iter, &peer, NULL)) {
                        g_hash_table_iter_steal(&iter);
                        bridge_peer_free(peer);
                        g_hash_table_iter_init(&iter, l->peers);
                }
                g_hash_table_unref(l->peers);
        }
        g_clear_pointer(&l->addresses, g_hash_table_unref);
        explicit_bzero(l->psk, sizeof(l->psk));
        g_free(l);
        return NULL;
}

static uint64_t now_usec(BridgeListener *l) {
        uint64_t now = 0;

        (void) sd_event_now(l->event, CLOCK_MONOTONIC, &now);
        return now;
}

static BridgeAddress *address_get(BridgeListener *l, const char *address, bool create) {
        BridgeAddress *a = g_hash_table_lookup(l->addresses, address);

        if (a || !create)
                return a;

        if (g_hash_table_size(l->addresses) >= ADDRESSES_PRUNE_AT) {
                uint64_t now = now_usec(l);
                GHashTableIter iter;
                gpointer value;

                g_hash_table_iter_init(&iter, l->addresses);
                while (g_hash_table_iter_next(&iter, NULL, &value)) {
                        BridgeAddress *old = value;

                        if (old->n_connections == 0 && old->backoff_until <= now)
                                g_hash_table_iter_remove(&iter);
                }
        }

        a = g_new0(BridgeAddress, 1);
        a->address = g_strdup(address);
        g_hash_table_insert(l->addresses, a->address, a);
        return a;
}

static void address_maybe_forget(BridgeListener *l, BridgeAddress *a) {
        if (a->n_connections == 0 && a->n_failures == 0 && a->backoff_until <= now_usec(l))
                g_hash_table_remove(l->addresses, a->address);
}

void bridge_listener_peer_gone(BridgeListener *l, BridgePeer *peer, const char *address, bool handshake_failed) {
        BridgeAddress *a = address_get(l, address, false);

        if (!a)
                return;
        if (a->n_connections > 0)
                a->n_connections--;
        if (handshake_failed && l->config->max_failed_handshakes > 0 &&
            ++a->n_failures >= l->config->max_failed_handshakes) {
                a->backoff_until = usec_add(now_usec(l), l->config->failed_handshake_backoff_usec);
                a->n_failures = 0;
                log_notice("Bridge: %u failed handshakes from %s, refusing it for %" G_GUINT64_FORMAT " ms.",
                           l->config->max_failed_handshakes, address,
                           l->config->failed_handshake_backoff_usec / USEC_PER_MSEC);
        }
        address_maybe_forget(l, a);
}

void bridge_listener_handshake_done(BridgeListener *l, const char *address) {
        BridgeAddress *a = address_get(l, address, false);

        if (a)
                a->n_failures = 0;
}

/* Refusals are logged at most once a second: a flood must not flood the journal too. */
static void log_refusal(BridgeListener *l, const char *display, const char *why) {
        uint64_t now = now_usec(l);

        l->n_refused++;
        if (now < l->last_refusal_log_usec + USEC_PER_SEC && l->last_refusal_log_usec != 0)
                return;
        l->last_refusal_log_usec = now;
        log_notice("Bridge connection from %s refused: %s (%" G_GUINT64_FORMAT " refused so far).",
                   display, why, l->n_refused);
}

static void sockaddr_format(const struct sockaddr_storage *sa, char **ret_address, char **ret_display) {
        char text[INET6_ADDRSTRLEN] = "?";
        uint16_t port = 0;

        if (sa->ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

                (void) inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
                port = ntohs(in->sin_port);
        } else if (sa->ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

                /* An IPv4 peer on a dual-stack socket counts as its IPv4 address. */
                if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
                        (void) inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof(text));
                else
                        (void) inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
                port = ntohs(in6->sin6_port);
        }
        *ret_address = g_strdup(text);
        *ret_display = g_strdup_printf("[%s]:%u", text, (unsigned) port);
}

static void socket_set_keepalive(BridgeListener *l, int fd) {
        const BridgeConfig *c = l->config;
        int one = 1;
        int idle = (int) (c->keepalive_time_usec / USEC_PER_SEC);
        int interval = (int) (c->keepalive_interval_usec / USEC_PER_SEC);
        int count = (int) c->keepalive_count;
        /* Data the peer never acknowledges ends the connection as soon as silence would. */
        unsigned user_timeout = (unsigned) ((c->keepalive_time_usec + c->keepalive_interval_usec * c->keepalive_count) /
                                            USEC_PER_MSEC);

        if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval)) < 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count)) < 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout)) < 0)
                log_debug_errno(errno, "Failed to set TCP keepalive on a bridge connection, ignoring: %m");
        /* Small request and reply messages: never wait to coalesce them. */
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int on_connection(sd_event_source *source, int listen_fd, uint32_t revents, void *userdata) {
        BridgeListener *l = userdata;
        struct sockaddr_storage sa = {};
        socklen_t length = sizeof(sa);
        g_autofree char *address = NULL, *display = NULL;
        BridgeAddress *a;
        int fd;

        fd = accept4(listen_fd, (struct sockaddr *) &sa, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(errno, "Failed to accept a bridge connection, ignoring: %m");
                return 0;
        }
        sockaddr_format(&sa, &address, &display);

        a = address_get(l, address, false);
        if (a && a->backoff_until > now_usec(l)) {
                log_refusal(l, display, "backing off after failed handshakes");
                (void) close(fd);
                return 0;
        }
        if (g_hash_table_size(l->peers) >= l->config->max_connections) {
                log_refusal(l, display, "MaxConnections= reached");
                (void) close(fd);
                return 0;
        }
        if (a && a->n_connections >= l->config->max_connections_per_address) {
                log_refusal(l, display, "MaxConnectionsPerAddress= reached");
                (void) close(fd);
                return 0;
        }

        socket_set_keepalive(l, fd);
        a = address_get(l, address, true);
        a->n_connections++;
        /* On failure the peer has closed fd and given its count back. */
        (void) bridge_peer_new(l, fd, address, display);
        return 0;
}

int bridge_listener_adopt(BridgeListener *l, int fd) {
        sd_event_source *source = NULL;
        int flags, r;

        /* A connection that went before accept() must not block the loop. */
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Failed to make the bridge socket non-blocking: %m");

        r = sd_event_add_io(l->event, &source, fd, EPOLLIN, on_connection, l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the bridge socket: %m");
        (void) sd_event_source_set_io_fd_own(source, true);
        (void) sd_event_source_set_description(source, "bridge-listener");
        g_ptr_array_add(l->sources, source);
        return 0;
}

int bridge_listener_listen(BridgeListener *l, const char *address) {
        struct addrinfo hints = {
                .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
        };
        struct addrinfo *result = NULL;
        g_autofree char *host = NULL, *port_text = NULL;
        uint16_t port;
        int fd, r, one = 1, zero = 0;

        r = bridge_split_host_port(address, &host, &port);
        if (r < 0)
                return log_error_errno(r, "Invalid bridge address '%s': expected ADDR:PORT, [V6ADDR]:PORT or *:PORT.",
                                       address);
        port_text = g_strdup_printf("%u", (unsigned) port);

        /* No host: every address, IPv6 and IPv4 on one dual-stack socket. */
        if (!host) {
                hints.ai_family = AF_INET6;
                host = g_strdup("::");
        }
        r = getaddrinfo(host, port_text, &hints, &result);
        if (r != 0)
                return log_error_errno(EINVAL, "Invalid bridge address '%s': %s", address, gai_strerror(r));

        fd = socket(result->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = log_error_errno(errno, "Failed to create the bridge socket: %m");
                goto finish;
        }
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (result->ai_family == AF_INET6)
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, strcmp(host, "::") == 0 ? &zero : &one,
                                  sizeof(int));
        if (bind(fd, result->ai_addr, result->ai_addrlen) < 0) {
                r = log_error_errno(errno, "Failed to bind the bridge socket to %s: %m", address);
                (void) close(fd);
                goto finish;
        }
        if (listen(fd, SOMAXCONN) < 0) {
                r = log_error_errno(errno, "Failed to listen on %s: %m", address);
                (void) close(fd);
                goto finish;
        }
        r = bridge_listener_adopt(l, fd);
        if (r < 0) {
                (void) close(fd);
                goto finish;
        }
        log_debug("Bridge listening on %s.", address);
finish:
        freeaddrinfo(result);
        return r;
}
