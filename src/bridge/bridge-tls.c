/* TLS ends here: GnuTLS sessions of the bridge. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>
#include <gnutls/gnutls.h>

#include "bridge-tls.h"

struct BridgeTls {
        gnutls_session_t session;
        gnutls_psk_server_credentials_t server_credentials;
        gnutls_psk_client_credentials_t client_credentials;
        int fd;
        bool server;
        bool handshake_done;
        bool over_limit;
        bool blocking_reads;            /* the library's calls wait in recv() itself */
        bool send_pending;              /* a record send gave GNUTLS_E_AGAIN: it is resumed, not redone */
        size_t handshake_bytes;
        size_t max_handshake_bytes;
        uint8_t psk[BRIDGE_PSK_SIZE];
        char error[160];
};

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t n) {
        BridgeTls *t = ptr;
        ssize_t r;

        if (!t->handshake_done && t->max_handshake_bytes > 0) {
                /* Read no more than the allowance, and one byte to see it was exceeded. */
                size_t allowed = t->max_handshake_bytes - t->handshake_bytes + 1;

                if (n > allowed)
                        n = allowed;
        }
        r = recv(t->fd, buf, n, t->blocking_reads && t->handshake_done ? 0 : MSG_DONTWAIT);
        if (r < 0) {
                gnutls_transport_set_errno(t->session, errno == EWOULDBLOCK ? EAGAIN : errno);
                return -1;
        }
        if (!t->handshake_done && t->max_handshake_bytes > 0) {
                t->handshake_bytes += (size_t) r;
                if (t->handshake_bytes > t->max_handshake_bytes) {
                        t->over_limit = true;
                        gnutls_transport_set_errno(t->session, EMSGSIZE);
                        return -1;
                }
        }
        return r;
}

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const void *buf, size_t n) {
        BridgeTls *t = ptr;
        ssize_t r;

        /* Never SIGPIPE: a vanished peer is an error of this connection only. */
        r = send(t->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0)
                gnutls_transport_set_errno(t->session, errno);
        return r;
}

static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms) {
        BridgeTls *t = ptr;
        char c;
        ssize_t r;

        /* Non-blocking throughout: only ever asked whether data is there now. */
        r = recv(t->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return 0;
        return 1;
}

static int tls_server_key(gnutls_session_t session, const char *username, gnutls_datum_t *key) {
        BridgeTls *t = gnutls_session_get_ptr(session);

        if (!t || strcmp(username, BRIDGE_PSK_IDENTITY) != 0)
                return -1;
        key->data = gnutls_malloc(BRIDGE_PSK_SIZE);
        if (!key->data)
                return -1;
        memcpy(key->data, t->psk, BRIDGE_PSK_SIZE);
        key->size = BRIDGE_PSK_SIZE;
        return 0;
}

static int tls_new(int fd, const uint8_t psk[BRIDGE_PSK_SIZE], bool server, BridgeTls **ret) {
        BridgeTls *t = g_new0(BridgeTls, 1);
        int r;

        t->fd = fd;
        t->server = server;
        memcpy(t->psk, psk, BRIDGE_PSK_SIZE);

        r = gnutls_init(&t->session, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK |
                                     GNUTLS_NO_SIGNAL);
        if (r < 0) {
                t->session = NULL;
                goto fail;
        }
        gnutls_session_set_ptr(t->session, t);

        r = gnutls_priority_set_direct(t->session, BRIDGE_TLS_PRIORITY, NULL);
        if (r < 0)
                goto fail;

        if (server) {
                r = gnutls_psk_allocate_server_credentials(&t->server_credentials);
                if (r < 0)
                        goto fail;
                gnutls_psk_set_server_credentials_function(t->server_credentials, tls_server_key);
                r = gnutls_credentials_set(t->session, GNUTLS_CRD_PSK, t->server_credentials);
        } else {
                const gnutls_datum_t key = { .data = t->psk, .size = BRIDGE_PSK_SIZE };

                r = gnutls_psk_allocate_client_credentials(&t->client_credentials);
                if (r < 0)
                        goto fail;
                r = gnutls_psk_set_client_credentials(t->client_credentials, BRIDGE_PSK_IDENTITY, &key,
                                                      GNUTLS_PSK_KEY_RAW);
                if (r >= 0)
                        r = gnutls_credentials_set(t->session, GNUTLS_CRD_PSK, t->client_credentials);
        }
        if (r < 0)
                goto fail;

        gnutls_transport_set_ptr(t->session, t);
        gnutls_transport_set_pull_function(t->session, tls_pull);
        gnutls_transport_set_push_function(t->session, tls_push);
        gnutls_transport_set_pull_timeout_function(t->session, tls_pull_timeout);
        /* Our own deadline applies (the daemon's handshake timer, the library's poll). */
        gnutls_handshake_set_timeout(t->session, 0);

        *ret = t;
        return 0;

fail:
        bridge_tls_free(t);
        return r == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EIO;
}

int bridge_tls_new_server(int fd, const uint8_t psk[BRIDGE_PSK_SIZE], size_t max_handshake_bytes, BridgeTls **ret) {
        BridgeTls *t;
        int r;

        r = tls_new(fd, psk, true, &t);
        if (r < 0)
                return r;
        t->max_handshake_bytes = max_handshake_bytes;
        *ret = t;
        return 0;
}

int bridge_tls_new_client(int fd, const uint8_t psk[BRIDGE_PSK_SIZE], BridgeTls **ret) {
        return tls_new(fd, psk, false, ret);
}

BridgeTls *bridge_tls_free(BridgeTls *t) {
        if (!t)
                return NULL;
        if (t->session)
                gnutls_deinit(t->session);
        if (t->server_credentials)
                gnutls_psk_free_server_credentials(t->server_credentials);
        if (t->client_credentials)
                gnutls_psk_free_client_credentials(t->client_credentials);
        explicit_bzero(t->psk, sizeof(t->psk));
        g_free(t);
        return NULL;
}

static int tls_fail(BridgeTls *t, int r, const char *what) {
        (void) g_snprintf(t->error, sizeof(t->error), "%s: %s", what,
                          t->over_limit ? "too many bytes before the handshake completed" : gnutls_strerror(r));
        return t->over_limit ? -EMSGSIZE : -ECONNREFUSED;
}

int bridge_tls_handshake(BridgeTls *t) {
        int r;

        if (t->handshake_done)
                return 1;

        r = gnutls_handshake(t->session);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
                return 0;
        if (r < 0) {
                /* Tell the peer why, if the socket takes it now; we do not wait for it. */
                if (!t->over_limit)
                        (void) gnutls_alert_send_appropriate(t->session, r);
                return tls_fail(t, r, "TLS handshake failed");
        }

        /* The priority string allows nothing else; make sure of it anyway. */
        if (gnutls_protocol_get_version(t->session) != GNUTLS_TLS1_3 ||
            gnutls_auth_get_type(t->session) != GNUTLS_CRD_PSK ||
            (gnutls_kx_get(t->session) != GNUTLS_KX_ECDHE_PSK && gnutls_kx_get(t->session) != GNUTLS_KX_DHE_PSK)) {
                (void) g_strlcpy(t->error, "TLS handshake gave something other than TLS 1.3 with PSK and (EC)DHE",
                                 sizeof(t->error));
                return -EPROTO;
        }
        t->handshake_done = true;
        return 1;
}

bool bridge_tls_wants_write(BridgeTls *t) {
        return gnutls_record_get_direction(t->session) == 1;
}

const char *bridge_tls_get_error(BridgeTls *t) {
        return t->error[0] ? t->error : "no error";
}

void bridge_tls_bye(BridgeTls *t) {
        if (t->handshake_done)
                (void) gnutls_bye(t->session, GNUTLS_SHUT_WR);
}

void bridge_tls_set_blocking_reads(BridgeTls *t, bool b) {
        t->blocking_reads = b;
}

ssize_t bridge_tls_recv(BridgeTls *t, void *buf, size_t n) {
        ssize_t r;

        r = gnutls_record_recv(t->session, buf, n);
        if (r >= 0)
                return r;
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
                return -EAGAIN;
        if (r == GNUTLS_E_PREMATURE_TERMINATION)
                return 0;
        (void) g_snprintf(t->error, sizeof(t->error), "TLS receive failed: %s", gnutls_strerror((int) r));
        return -ECONNRESET;
}

ssize_t bridge_tls_send(BridgeTls *t, const void *buf, size_t n) {
        ssize_t r;

        /* GnuTLS wants an interrupted record finished, not started again: NULL, 0 resumes it (and
         * counts its bytes, which are still the first of buf). */
        r = t->send_pending ? gnutls_record_send(t->session, NULL, 0) : gnutls_record_send(t->session, buf, n);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
                t->send_pending = true;
                return -EAGAIN;
        }
        t->send_pending = false;
        if (r >= 0)
                return r;
        (void) g_snprintf(t->error, sizeof(t->error), "TLS send failed: %s", gnutls_strerror((int) r));
        return -ECONNRESET;
}

size_t bridge_tls_pending(BridgeTls *t) {
        return gnutls_record_check_pending(t->session);
}
