/* One connection of the wire protocol: reading, framing, the state machine, output and its cap. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus-errors.h"
#include "log.h"
#include "macro.h"
#include "wire-internal.h"
#include "wire-verbs.h"

/* Free room for one read: small enough for thousands of idle connections, big enough for a burst of
 * pipelined requests. A frame larger than this gets room for itself once its header is in. */
#define INPUT_ROOM 4096
/* A buffer that grew past this for one large frame is given back once it is empty. */
#define BUFFER_KEEP (64 * 1024)

static void buffer_trim(WireBuffer *b) {
        if (wire_buffer_length(b) == 0 && b->allocated > BUFFER_KEEP)
                wire_buffer_done(b);
}

WireConnection *wire_connection_new(WireServer *server, const WireTransport *transport, const WirePeer *peer,
                                    WireConnectionState state) {
        WireConnection *c = g_new0(WireConnection, 1);

        c->server = server;
        c->transport = *transport;
        c->state = state;
        c->id = g_strdup(peer->id);
        c->peer_transport = peer->transport;
        c->uid = peer->uid;
        c->pid = peer->pid;
        c->address = g_strdup(peer->address);
        c->max_frame_size = peer->max_frame_size > 0 ? MIN(peer->max_frame_size, server->settings.max_frame_size)
                                                      : server->settings.max_frame_size;
        c->link.data = c->run_link.data = c->flush_link.data = c->close_link.data = c->greeting_link.data = c;
        return c;
}

WireConnection *wire_connection_free(WireConnection *c) {
        WireRequest *request;

        if (!c)
                return NULL;

        c->polkit = bus_polkit_query_free(c->polkit);
        g_clear_pointer(&c->held, g_free);
        c->state = WIRE_CONNECTION_CLOSING;
        if (c->client) {
                Client *client = g_steal_pointer(&c->client);

                /* Its locks go and its waiters are cancelled now, as with a bus client's disconnect. */
                log_debug("Client %s disconnected.", client->id);
                client_free(client);
        }

        /* Every waiting request was cancelled above: all are back on the free list. */
        while ((request = c->free_requests)) {
                c->free_requests = request->next_free;
                g_free(request);
        }
        if (c->fds) {
                for (guint i = 0; i < c->fds->len; i++)
                        (void) close(g_array_index(c->fds, WireQueuedFd, i).fd);
                g_array_unref(c->fds);
        }
        wire_buffer_done(&c->input);
        wire_buffer_done(&c->output);
        wire_transport_done(&c->transport);
        g_free(c->id);
        g_free(c->address);
        g_free(c);
        return NULL;
}

bool wire_connection_can_process(const WireConnection *c) {
        if (c->state == WIRE_CONNECTION_CLOSING || c->state == WIRE_CONNECTION_SNIFFING || c->held)
                return false;
        /* A client that has gone reads no answers: nothing to hold back for, only its requests to
         * carry out (a Publish, a Release sent before it went). */
        return c->n_in_flight < c->server->settings.max_in_flight || c->hangup || c->read_eof;
}

uint32_t wire_connection_wanted_events(const WireConnection *c) {
        uint32_t events = 0;

        if (c->state == WIRE_CONNECTION_CLOSING)
                return 0;
        if (!c->read_eof && (c->state == WIRE_CONNECTION_SNIFFING || wire_connection_can_process(c)))
                events |= EPOLLIN;
        if (c->output_blocked)
                events |= EPOLLOUT;
        return events;
}

void wire_connection_close(WireConnection *c) {
        if (c->state == WIRE_CONNECTION_CLOSING)
                return;
        c->state = WIRE_CONNECTION_CLOSING;
        /* Out of the epoll set at once: nothing more is read from it. */
        wire_server_update_watch(c->server, c);
        wire_server_schedule_close(c->server, c);
}

/* ---- output ---- */

static void connection_overflow(WireConnection *c) {
        WireServer *s = c->server;

        /* Give it a chance first: the socket may take it now. */
        wire_connection_flush(c);
        if (c->state == WIRE_CONNECTION_CLOSING || wire_buffer_length(&c->output) <= s->settings.max_output_size)
                return;

        /* Once: it is closing from now on, and nothing more is queued for it. */
        log_notice("Client %s reads nothing of what it is sent (%zu bytes waiting), disconnecting it.",
                   c->id, wire_buffer_length(&c->output));
        wire_connection_close(c);
}

int wire_connection_send(WireConnection *c, const WireMessage *m, int fd) {
        _cleanup_close_ int fd_owned = fd;
        uint64_t offset = c->output_sent + wire_buffer_length(&c->output);
        int r;

        if (c->state == WIRE_CONNECTION_CLOSING)
                return -ENOTCONN;

        r = wire_message_encode(&c->output, m, WIRE_FRAME_MAX);
        if (r < 0)
                return r;

        if (fd >= 0) {
                if (!c->fds)
                        c->fds = g_array_new(false, false, sizeof(WireQueuedFd));
                g_array_append_val(c->fds, ((WireQueuedFd) { .offset = offset, .fd = steal_fd(&fd_owned) }));
        }

        wire_server_schedule_flush(c->server, c);
        if (wire_buffer_length(&c->output) > c->server->settings.max_output_size)
                connection_overflow(c);
        return 0;
}

void wire_connection_reply_error(WireConnection *c, uint32_t serial, const char *name, const char *format, ...) {
        g_autofree char *text = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        text = g_strdup_vprintf(format, ap);
        va_end(ap);

        r = wire_connection_send(c, &(WireMessage) {
                        .header = { .type = WIRE_ERROR, .serial = serial },
                        .error = { .name = name, .message = text },
                }, -1);
        if (r < 0 && r != -ENOTCONN)
                log_debug_errno(r, "Failed to queue an error for %s, ignoring: %m", c->id);
}

void wire_connection_flush(WireConnection *c) {
        bool was_blocked = c->output_blocked;

        /* One send for everything queued, unless descriptors go along: one send per descriptor, each
         * covering its ACQUIRED frame's first byte, so that it arrives no later than its frame. */
        while (wire_buffer_length(&c->output) > 0) {
                size_t length = wire_buffer_length(&c->output);
                int fd = -1;
                ssize_t n;

                if (c->fds && c->fds->len > 0) {
                        fd = g_array_index(c->fds, WireQueuedFd, 0).fd;
                        if (c->fds->len > 1)
                                length = MIN(length,
                                             (size_t) (g_array_index(c->fds, WireQueuedFd, 1).offset - c->output_sent));
                }

                n = c->transport.ops->send(c->transport.ctx,
                                           &(struct iovec) { .iov_base = (void *) wire_buffer_peek(&c->output),
                                                             .iov_len = length },
                                           1, fd);
                if (n == -EAGAIN) {
                        c->output_blocked = true;
                        break;
                }
                if (n < 0) {
                        log_debug_errno((int) n, "Failed to send to %s, disconnecting it: %m", c->id);
                        c->output_blocked = false;
                        wire_buffer_consume(&c->output, wire_buffer_length(&c->output));
                        wire_connection_close(c);
                        return;
                }

                if (fd >= 0) {
                        /* It went with the first byte: the client's copy is the one that counts now. */
                        (void) close(fd);
                        g_array_remove_index(c->fds, 0);
                }
                wire_buffer_consume(&c->output, (size_t) n);
                c->output_sent += (uint64_t) n;
                c->output_blocked = (size_t) n < length;
                if (c->output_blocked)
                        break;
        }
        if (wire_buffer_length(&c->output) == 0) {
                c->output_blocked = false;
                buffer_trim(&c->output);
        }

        if (c->output_blocked != was_blocked)
                wire_server_update_watch(c->server, c);
}

/* ---- requests answered later ---- */

WireRequest *wire_connection_request_new(WireConnection *c, const WireHeader *header) {
        WireRequest *request = c->free_requests;

        if (request)
                c->free_requests = request->next_free;
        else
                request = g_new(WireRequest, 1);

        *request = (WireRequest) {
                .connection = c,
                .serial = header->serial,
                .flags = header->flags,
        };
        if (!(header->flags & WIRE_FLAG_NO_REPLY))
                c->n_in_flight++;
        return request;
}

void wire_connection_request_free(WireRequest *request) {
        WireConnection *c = request->connection;

        if (!(request->flags & WIRE_FLAG_NO_REPLY)) {
                g_assert(c->n_in_flight > 0);
                if (c->n_in_flight-- == c->server->settings.max_in_flight && wire_connection_can_process(c)) {
                        /* Below the limit again: read on, starting with what is buffered. */
                        wire_server_schedule_run(c->server, c);
                        wire_server_update_watch(c->server, c);
                }
        }
        request->connection = NULL;
        request->next_free = c->free_requests;
        c->free_requests = request;
}

/* ---- input ---- */

/* Whether the input holds what the current state would handle: a preamble, or a whole frame (or a
 * header that ends the connection). */
static bool input_has_frame(const WireConnection *c) {
        size_t length = wire_buffer_length(&c->input);
        const uint8_t *p = wire_buffer_peek(&c->input);
        uint32_t size;

        if (c->state == WIRE_CONNECTION_PREAMBLE)
                return length >= WIRE_PREAMBLE_SIZE;
        if (c->state != WIRE_CONNECTION_HELLO && c->state != WIRE_CONNECTION_READY)
                return false;
        if (length < WIRE_HEADER_SIZE)
                return false;
        size = (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
        return size > c->max_frame_size || length - WIRE_HEADER_SIZE >= size;
}

/* Handles what is buffered, up to *budget frames. Returns 1 when it stopped for want of bytes, 0
 * otherwise (budget spent, paused, closing). */
static int process_input(WireConnection *c, unsigned *budget) {
        for (;;) {
                size_t length = wire_buffer_length(&c->input);
                const uint8_t *p = wire_buffer_peek(&c->input);
                WireHeader header;
                int r;

                if (!wire_connection_can_process(c))
                        return 0;

                if (c->state == WIRE_CONNECTION_PREAMBLE) {
                        if (length < WIRE_PREAMBLE_SIZE)
                                return 1;
                        r = wire_preamble_parse(p);
                        if (r == -EPROTONOSUPPORT) {
                                log_debug("Connection %s: no common protocol version, closing it.", c->id);
                                wire_connection_reply_error(c, 0, SD_BUS_ERROR_NOT_SUPPORTED,
                                                            "This server speaks version %d of the protocol only.",
                                                            WIRE_VERSION);
                                wire_connection_close(c);
                                return 0;
                        }
                        if (r < 0) {
                                log_debug("Connection %s: not the protocol's preamble, closing it.", c->id);
                                wire_connection_close(c);
                                return 0;
                        }
                        wire_buffer_consume(&c->input, WIRE_PREAMBLE_SIZE);
                        c->state = WIRE_CONNECTION_HELLO;
                        continue;
                }

                if (length < WIRE_HEADER_SIZE)
                        return 1;
                if (*budget == 0)
                        return 0;

                /* The header is checked before the body is waited for: what a frame costs is known
                 * before it arrives. */
                r = wire_header_parse(p, c->max_frame_size, &header);
                if (r == -EMSGSIZE) {
                        log_debug("Connection %s: frame over the limit, closing it.", c->id);
                        wire_connection_reply_error(c, 0, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                                    "Frame body of %" PRIu32 " bytes: at most %" PRIu32 " allowed.",
                                                    (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
                                                    (uint32_t) p[3] << 24,
                                                    c->max_frame_size);
                        wire_connection_close(c);
                        return 0;
                }
                if (r < 0) {
                        log_debug("Connection %s: unknown header flags, closing it.", c->id);
                        wire_connection_reply_error(c, 0, SD_BUS_ERROR_INVALID_ARGS,
                                                    "Unknown header flags 0x%04x.", (unsigned) (p[6] | p[7] << 8));
                        wire_connection_close(c);
                        return 0;
                }
                if (length - WIRE_HEADER_SIZE < header.size) {
                        (void) wire_buffer_reserve(&c->input, header.size - (length - WIRE_HEADER_SIZE));
                        return 1;
                }

                (*budget)--;
                wire_verbs_dispatch(c, &header, p + WIRE_HEADER_SIZE);
                wire_buffer_consume(&c->input, WIRE_HEADER_SIZE + header.size);
        }
}

/* One read into the input: > 0 bytes, 0 end of stream, -EAGAIN, or < 0 broken. */
static ssize_t connection_read(WireConnection *c) {
        ssize_t n;

        (void) wire_buffer_reserve(&c->input, INPUT_ROOM);
        n = c->transport.ops->recv(c->transport.ctx, c->input.data + c->input.end, c->input.allocated - c->input.end);
        if (n > 0)
                c->input.end += (size_t) n;
        return n;
}

/* The first byte of a unix connection, looked at without taking it: a D-Bus server expects it.
 * Returns WIRE_RUN_DBUS, 0 for a wire client (now in PREAMBLE), -EAGAIN, or < 0 when closed. */
static int sniff(WireConnection *c) {
        uint8_t byte;
        ssize_t n;

        n = recv(c->transport.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return -EAGAIN;
        if (n <= 0) {
                log_debug("Connection %s closed before saying anything.", c->id);
                wire_connection_close(c);
                return -ENOTCONN;
        }

        if (byte == 0)
                return WIRE_RUN_DBUS;
        if (byte != WIRE_MAGIC[0]) {
                log_debug("Connection %s speaks neither D-Bus nor the wire protocol (first byte 0x%02x), closing it.",
                          c->id, byte);
                wire_connection_close(c);
                return -EPROTO;
        }
        c->state = WIRE_CONNECTION_PREAMBLE;
        return 0;
}

int wire_connection_run(WireConnection *c, uint32_t revents) {
        WireServer *s = c->server;
        unsigned budget = s->settings.frames_per_round;
        bool readable;
        int r;

        if (c->state == WIRE_CONNECTION_CLOSING)
                return 0;

        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &c->last_active);
        if (revents & EPOLLOUT)
                wire_server_schedule_flush(s, c);
        if (revents & (EPOLLHUP | EPOLLERR))
                c->hangup = true;
        readable = (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->hangup || wire_transport_pending(&c->transport) > 0;

        if (c->state == WIRE_CONNECTION_SNIFFING) {
                if (!readable)
                        return 0;
                r = sniff(c);
                if (r == WIRE_RUN_DBUS)
                        return r;
                if (r < 0) {
                        wire_server_update_watch(s, c);
                        return 0;
                }
        }

        /* Buffered frames first, then one read when more is wanted: a request costs one recv(). */
        for (bool have_read = false;; have_read = true) {
                ssize_t n;

                if (process_input(c, &budget) == 0 || have_read || !readable || c->read_eof)
                        break;

                n = connection_read(c);
                if (n == -EAGAIN)
                        break;
                if (n < 0) {
                        log_debug_errno((int) n, "Failed to read from %s, disconnecting it: %m", c->id);
                        wire_connection_close(c);
                        return 0;
                }
                if (n == 0) {
                        c->read_eof = true;
                        break;
                }
        }

        if (c->state == WIRE_CONNECTION_CLOSING)
                return 0;
        buffer_trim(&c->input);

        if (c->read_eof && !c->held && !input_has_frame(c)) {
                /* Everything it sent is done (a truncated last frame is dropped): it goes, and its
                 * locks with it. */
                wire_connection_close(c);
                return 0;
        }
        if (wire_connection_can_process(c) &&
            (input_has_frame(c) || (!c->read_eof && wire_transport_pending(&c->transport) > 0)))
                wire_server_schedule_run(s, c);

        wire_server_update_watch(s, c);
        return 0;
}
