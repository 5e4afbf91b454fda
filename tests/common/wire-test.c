/* A raw wire protocol client for tests. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bridge-psk.h"
#include "bridge-tls.h"
#include "wire-test.h"

static void frame_free(gpointer p) {
        WireTestFrame *f = p;

        wire_test_frame_clear(f);
        g_free(f);
}

void wire_test_frame_clear(WireTestFrame *f) {
        wire_message_clear(&f->m);
        g_clear_pointer(&f->body, g_free);
}

WireTestClient *wire_test_connect_raw(Harness *h) {
        g_autofree char *path = harness_direct_socket_path(h);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        WireTestClient *c = g_new0(WireTestClient, 1);

        g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(c->fd, >=, 0);
        g_assert_cmpint(connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        c->fds = g_array_new(false, false, sizeof(int));
        g_queue_init(&c->events);
        g_queue_init(&c->replies);
        return c;
}

WireTestClient *wire_test_connect_bridge_raw(int port, const char *secret) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        WireTestClient *c = g_new0(WireTestClient, 1);
        uint8_t psk[BRIDGE_PSK_SIZE];
        int k;

        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(c->fd, >=, 0);
        g_assert_cmpint(connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(bridge_psk_derive((const uint8_t *) secret, strlen(secret), psk), ==, 0);
        g_assert_cmpint(fcntl(c->fd, F_SETFL, O_NONBLOCK), ==, 0);
        g_assert_cmpint(bridge_tls_new_client(c->fd, psk, &c->tls), ==, 0);
        while ((k = bridge_tls_handshake(c->tls)) == 0) {
                struct pollfd p = { .fd = c->fd, .events = bridge_tls_wants_write(c->tls) ? POLLOUT : POLLIN };

                g_assert_cmpint(poll(&p, 1, 10000), ==, 1);
        }
        if (k < 0)
                g_error("TLS handshake with the bridge failed: %s", bridge_tls_get_error(c->tls));
        /* Blocking from here on, as on the direct socket. */
        g_assert_cmpint(fcntl(c->fd, F_SETFL, 0), ==, 0);
        c->fds = g_array_new(false, false, sizeof(int));
        g_queue_init(&c->events);
        g_queue_init(&c->replies);
        return c;
}

static void say_hello(WireTestClient *c, const char *name) {
        g_auto(WireTestFrame) welcome = {};
        uint32_t serial;

        wire_test_send_preamble(c, WIRE_VERSION, WIRE_VERSION);
        serial = wire_test_send(c, WIRE_HELLO, 0, &(WireMessage) { .hello = { .name = name ?: "" } });
        wire_test_expect(c, serial, WIRE_WELCOME, &welcome);
        c->welcome = welcome.m.welcome;
        c->client_id = g_strdup(welcome.m.welcome.client_id);
        c->welcome.client_id = c->client_id;
        c->welcome.server_version = NULL;
}

WireTestClient *wire_test_connect_bridge(int port, const char *secret, const char *name) {
        WireTestClient *c = wire_test_connect_bridge_raw(port, secret);

        say_hello(c, name);
        return c;
}

WireTestClient *wire_test_connect(Harness *h, const char *name) {
        WireTestClient *c = wire_test_connect_raw(h);

        say_hello(c, name);
        return c;
}

void wire_test_client_free(WireTestClient *c) {
        if (!c)
                return;
        bridge_tls_free(c->tls);
        if (c->fd >= 0)
                close(c->fd);
        for (guint i = 0; i < c->fds->len; i++)
                close(g_array_index(c->fds, int, i));
        g_array_unref(c->fds);
        g_queue_clear_full(&c->events, frame_free);
        g_queue_clear_full(&c->replies, frame_free);
        wire_buffer_done(&c->in);
        g_free(c->client_id);
        g_free(c);
}

void wire_test_send_raw(WireTestClient *c, const void *data, size_t size) {
        const uint8_t *p = data;

        while (size > 0) {
                ssize_t n;

                if (c->tls) {
                        struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };

                        n = bridge_tls_send(c->tls, p, size);
                        if (n == -EAGAIN) {
                                g_assert_cmpint(poll(&pfd, 1, 10000), ==, 1);
                                continue;
                        }
                } else
                        n = send(c->fd, p, size, MSG_NOSIGNAL);
                g_assert_cmpint(n, >, 0);
                p += n;
                size -= (size_t) n;
        }
}

void wire_test_send_preamble(WireTestClient *c, uint16_t lowest, uint16_t highest) {
        uint8_t p[WIRE_PREAMBLE_SIZE] = { 'P', 'L', 'K', 'W', (uint8_t) lowest, (uint8_t) (lowest >> 8),
                                          (uint8_t) highest, (uint8_t) (highest >> 8) };

        wire_test_send_raw(c, p, sizeof(p));
}

uint32_t wire_test_encode(WireTestClient *c, WireBuffer *buf, uint16_t type, uint16_t flags, const WireMessage *body) {
        WireMessage m = body ? *body : (WireMessage) {};

        m.header = (WireHeader) { .type = type, .flags = flags, .serial = ++c->serial };
        g_assert_cmpint(wire_message_encode(buf, &m, WIRE_FRAME_MAX), ==, 0);
        return c->serial;
}

uint32_t wire_test_send(WireTestClient *c, uint16_t type, uint16_t flags, const WireMessage *body) {
        WireBuffer buf = {};
        uint32_t serial = wire_test_encode(c, &buf, type, flags, body);

        wire_test_send_raw(c, wire_buffer_peek(&buf), wire_buffer_length(&buf));
        wire_buffer_done(&buf);
        return serial;
}

/* Reads once, keeping descriptors; false at the end of the stream. */
static bool fill(WireTestClient *c, int timeout_ms) {
        union {
                struct cmsghdr cmsghdr;
                uint8_t buf[CMSG_SPACE(sizeof(int) * 16)];
        } control;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        struct iovec iov;
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        ssize_t n;
        int r;

        /* Records read ahead by TLS are there without the socket saying so. */
        r = c->tls && bridge_tls_pending(c->tls) > 0 ? 1 : poll(&p, 1, timeout_ms);
        g_assert_cmpint(r, >=, 0);
        if (r == 0)
                g_error("nothing from pylockerd within %d ms", timeout_ms);

        if (c->tls) {
                n = bridge_tls_recv(c->tls, wire_buffer_reserve(&c->in, 65536), 65536);
                if (n == -EAGAIN)
                        return true;    /* a partial record: poll again */
                if (n < 0) {
                        c->eof = true;
                        return false;
                }
                if (n == 0) {
                        c->eof = true;
                        return false;
                }
                c->in.end += (size_t) n;
                return true;
        }

        iov = (struct iovec) { .iov_base = wire_buffer_reserve(&c->in, 65536), .iov_len = 65536 };
        n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == ECONNRESET) {
                /* Closed by the daemon with our requests unread. */
                c->eof = true;
                return false;
        }
        g_assert_cmpint(n, >=, 0);
        g_assert_false(mh.msg_flags & MSG_CTRUNC);
        for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
                g_assert_cmpint(cmsg->cmsg_type, ==, SCM_RIGHTS);
                for (size_t i = 0; i < (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
                        g_array_append_val(c->fds, fd);
                }
        }
        if (n == 0) {
                c->eof = true;
                return false;
        }
        c->in.end += (size_t) n;
        return true;
}

bool wire_test_recv(WireTestClient *c, WireTestFrame *ret, int timeout_ms) {
        for (;;) {
                size_t length = wire_buffer_length(&c->in);
                WireHeader h;

                if (length >= WIRE_HEADER_SIZE) {
                        g_assert_cmpint(wire_header_parse(wire_buffer_peek(&c->in), WIRE_FRAME_MAX, &h), ==, 0);
                        if (length - WIRE_HEADER_SIZE >= h.size) {
                                *ret = (WireTestFrame) { .body = g_memdup2(wire_buffer_peek(&c->in) + WIRE_HEADER_SIZE,
                                                                           h.size + 1) };
                                wire_buffer_consume(&c->in, WIRE_HEADER_SIZE + h.size);
                                if (wire_message_decode(&h, ret->body, &ret->m) < 0)
                                        g_error("pylockerd sent a malformed %s frame", wire_type_to_string(h.type));
                                return true;
                        }
                }
                /* A connection that is dropped may end in the middle of a frame. */
                if (c->eof)
                        return false;
                (void) fill(c, timeout_ms);
        }
}

static WireTestFrame *frame_steal(WireTestFrame *f) {
        WireTestFrame *copy = g_new(WireTestFrame, 1);

        *copy = *f;
        *f = (WireTestFrame) {};
        return copy;
}

static bool take_reply(WireTestClient *c, uint32_t serial, WireTestFrame *ret) {
        for (GList *l = c->replies.head; l; l = l->next) {
                WireTestFrame *f = l->data;

                if (f->m.header.serial == serial) {
                        *ret = *f;
                        g_free(f);
                        g_queue_delete_link(&c->replies, l);
                        return true;
                }
        }
        return false;
}

void wire_test_expect(WireTestClient *c, uint32_t serial, uint16_t type, WireTestFrame *ret) {
        WireTestFrame f = {};

        while (!take_reply(c, serial, &f)) {
                if (!wire_test_recv(c, &f, 10000))
                        g_error("pylockerd closed the connection before answering request %u", serial);
                if (f.m.header.type >= WIRE_LOCK_LOST)
                        g_queue_push_tail(&c->events, frame_steal(&f));
                else {
                        /* An error about the connection itself comes with serial 0. */
                        if (f.m.header.serial == 0 && f.m.header.type == WIRE_ERROR)
                                g_error("pylockerd ended the connection: %s: %s", f.m.error.name, f.m.error.message);
                        g_queue_push_tail(&c->replies, frame_steal(&f));
                }
        }

        if (f.m.header.type == WIRE_ERROR && type != WIRE_ERROR)
                g_error("request %u failed: %s: %s", serial, f.m.error.name, f.m.error.message);
        g_assert_cmpstr(wire_type_to_string(f.m.header.type), ==, wire_type_to_string(type));
        if (ret)
                *ret = f;
        else
                wire_test_frame_clear(&f);
}

void wire_test_expect_error(WireTestClient *c, uint32_t serial, const char *name) {
        g_auto(WireTestFrame) f = {};

        wire_test_expect(c, serial, WIRE_ERROR, &f);
        g_assert_cmpstr(f.m.error.name, ==, name);
}

void wire_test_expect_event(WireTestClient *c, uint16_t type, WireTestFrame *ret) {
        WireTestFrame *queued = g_queue_pop_head(&c->events);
        WireTestFrame f = {};

        if (queued) {
                f = *queued;
                g_free(queued);
        } else
                for (;;) {
                        if (!wire_test_recv(c, &f, 10000))
                                g_error("pylockerd closed the connection before sending %s", wire_type_to_string(type));
                        if (f.m.header.type >= WIRE_LOCK_LOST)
                                break;
                        g_queue_push_tail(&c->replies, frame_steal(&f));
                }

        g_assert_cmpuint(f.m.header.serial, ==, 0);
        g_assert_cmpstr(wire_type_to_string(f.m.header.type), ==, wire_type_to_string(type));
        if (ret)
                *ret = f;
        else
                wire_test_frame_clear(&f);
}

void wire_test_assert_quiet(WireTestClient *c, int ms) {
        struct pollfd p = { .fd = c->fd, .events = POLLIN };

        g_assert_true(!c->tls || bridge_tls_pending(c->tls) == 0);
        g_assert_cmpuint(wire_buffer_length(&c->in), ==, 0);
        g_assert_true(g_queue_is_empty(&c->events));
        g_assert_true(g_queue_is_empty(&c->replies));
        g_assert_cmpint(poll(&p, 1, ms), ==, 0);
}

void wire_test_expect_eof(WireTestClient *c, int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;
        WireTestFrame f = {};

        while (wire_test_recv(c, &f, (int) MAX((deadline - g_get_monotonic_time()) / 1000, 1)))
                wire_test_frame_clear(&f);
        g_assert_true(c->eof);
}

int wire_test_take_fd(WireTestClient *c) {
        int fd;

        if (c->fds->len == 0)
                return -1;
        fd = g_array_index(c->fds, int, 0);
        g_array_remove_index(c->fds, 0);
        return fd;
}

uint64_t wire_test_acquire(WireTestClient *c, const char *const *paths, uint64_t flags,
                           uint8_t ret_id[WIRE_LOCK_ID_SIZE]) {
        g_auto(WireTestFrame) f = {};
        uint32_t serial;

        serial = wire_test_send(c, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = {
                                .flags = flags,
                                .paths = (const char **) paths,
                                .n_paths = g_strv_length((char **) paths),
                        },
                });
        wire_test_expect(c, serial, WIRE_ACQUIRED, &f);
        g_assert_cmpuint(f.m.acquired.token, >, 0);
        memcpy(ret_id, f.m.acquired.lock_id, WIRE_LOCK_ID_SIZE);
        return f.m.acquired.token;
}

uint64_t wire_test_release(WireTestClient *c, const uint8_t id[WIRE_LOCK_ID_SIZE]) {
        g_auto(WireTestFrame) f = {};
        WireMessage m = {};
        uint32_t serial;

        memcpy(m.lock_ref.lock_id, id, WIRE_LOCK_ID_SIZE);
        serial = wire_test_send(c, WIRE_RELEASE, 0, &m);
        wire_test_expect(c, serial, WIRE_VALUE, &f);
        return f.m.value.value;
}

char *wire_test_id_to_string(const uint8_t id[WIRE_LOCK_ID_SIZE]) {
        GString *s = g_string_sized_new(WIRE_LOCK_ID_SIZE * 2);

        for (size_t i = 0; i < WIRE_LOCK_ID_SIZE; i++)
                g_string_append_printf(s, "%02x", id[i]);
        return g_string_free(s, false);
}
