/* The shuttle between a secure side and a plain socket. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "bridge-shuttle.h"

BridgeShuttle *bridge_shuttle_new(const BridgeSecureOps *ops, void *ctx, int plain_fd, uint64_t max_message_size) {
        BridgeShuttle *s = g_new0(BridgeShuttle, 1);

        s->ops = ops;
        s->ctx = ctx;
        s->plain_fd = plain_fd;
        s->check_frames = max_message_size > 0;
        bridge_framer_init(&s->framer, max_message_size);
        return s;
}

BridgeShuttle *bridge_shuttle_free(BridgeShuttle *s) {
        if (s)
                explicit_bzero(s, sizeof(*s));
        g_free(s);
        return NULL;
}

static void secure_end(BridgeShuttle *s, int error) {
        s->secure_eof = true;
        if (error < 0) {
                s->secure_broken = true;
                if (s->secure_error == 0)
                        s->secure_error = error;
        }
}

/* Secure → in buffer. */
static int pump_secure_recv(BridgeShuttle *s, bool *progress) {
        ssize_t n;
        int r;

        if (s->secure_eof)
                return 0;
        if (s->in_start > 0 && s->in_end == sizeof(s->in)) {
                memmove(s->in, s->in + s->in_start, s->in_end - s->in_start);
                s->in_end -= s->in_start;
                s->in_start = 0;
        }
        if (s->in_end == sizeof(s->in))
                return 0;

        n = s->ops->recv(s->ctx, s->in + s->in_end, sizeof(s->in) - s->in_end);
        if (n == -EAGAIN) {
                s->secure_wants_write = s->ops->wants_write(s->ctx);
                return 0;
        }
        *progress = true;
        if (n <= 0) {
                secure_end(s, (int) n);
                return 0;
        }
        if (s->check_frames) {
                r = bridge_framer_feed(&s->framer, s->in + s->in_end, (size_t) n);
                if (r < 0)
                        return r;
        }
        s->in_end += (size_t) n;
        s->bytes_in += (uint64_t) n;
        return 0;
}

/* In buffer → plain; the end of the secure stream becomes the end of the plain one. */
static int pump_plain_write(BridgeShuttle *s, bool *progress) {
        if (s->in_end > s->in_start) {
                ssize_t n = send(s->plain_fd, s->in + s->in_start, s->in_end - s->in_start,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        if (errno == EPIPE || errno == ECONNRESET) {
                                /* The sd-bus end is gone: what was for it has nobody to go to. */
                                s->in_start = s->in_end = 0;
                                return 0;
                        }
                        return -errno;
                }
                s->in_start += (size_t) n;
                *progress = true;
        }
        if (s->in_start == s->in_end) {
                s->in_start = s->in_end = 0;
                if (s->secure_eof && !s->plain_shut) {
                        (void) shutdown(s->plain_fd, SHUT_WR);
                        s->plain_shut = true;
                        *progress = true;
                }
        }
        return 0;
}

/* Plain → out buffer. */
static int pump_plain_read(BridgeShuttle *s, bool *progress) {
        ssize_t n;

        if (s->plain_eof)
                return 0;
        if (s->out_start > 0 && s->out_end == sizeof(s->out) && s->send_inflight == 0) {
                memmove(s->out, s->out + s->out_start, s->out_end - s->out_start);
                s->out_end -= s->out_start;
                s->out_start = 0;
        }
        if (s->out_end == sizeof(s->out))
                return 0;

        n = recv(s->plain_fd, s->out + s->out_end, sizeof(s->out) - s->out_end, MSG_DONTWAIT);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                if (errno != ECONNRESET)
                        return -errno;
                n = 0;
        }
        *progress = true;
        if (n == 0) {
                s->plain_eof = true;
                return 0;
        }
        s->out_end += (size_t) n;
        return 0;
}

/* Out buffer → secure. */
static int pump_secure_send(BridgeShuttle *s, bool *progress) {
        size_t length;
        ssize_t n;

        if (s->secure_broken) {
                /* Nobody to send to: keep reading the plain side so it never blocks. */
                if (s->out_end > s->out_start)
                        *progress = true;
                s->out_start = s->out_end = 0;
                s->send_inflight = 0;
                return 0;
        }
        if (s->out_end == s->out_start)
                return 0;

        length = s->send_inflight ?: MIN(s->out_end - s->out_start, (size_t) BRIDGE_SHUTTLE_SEND_MAX);
        n = s->ops->send(s->ctx, s->out + s->out_start, length);
        if (n == -EAGAIN) {
                s->send_inflight = length;
                s->secure_wants_write = s->ops->wants_write(s->ctx);
                return 0;
        }
        *progress = true;
        s->send_inflight = 0;
        if (n < 0) {
                secure_end(s, (int) n);
                return 0;
        }
        s->out_start += (size_t) n;
        s->bytes_out += (uint64_t) n;
        if (s->out_start == s->out_end)
                s->out_start = s->out_end = 0;
        return 0;
}

int bridge_shuttle_pump(BridgeShuttle *s) {
        bool progress;
        int r;

        do {
                progress = false;
                s->secure_wants_write = false;

                r = pump_secure_recv(s, &progress);
                if (r < 0)
                        return r;
                r = pump_plain_write(s, &progress);
                if (r < 0)
                        return r;
                r = pump_plain_read(s, &progress);
                if (r < 0)
                        return r;
                r = pump_secure_send(s, &progress);
                if (r < 0)
                        return r;
        } while (progress);

        /* The sd-bus end closed: done once its last words are out. */
        if (s->plain_eof && s->out_end == s->out_start)
                return 0;
        return 1;
}

void bridge_shuttle_get_events(const BridgeShuttle *s, uint32_t *ret_secure, uint32_t *ret_plain) {
        uint32_t secure = 0, plain = 0;

        if (!s->secure_eof && s->in_end < sizeof(s->in))
                secure |= POLLIN;
        if (!s->secure_broken && (s->secure_wants_write || s->send_inflight > 0))
                secure |= POLLOUT;
        if (!s->plain_eof && s->out_end < sizeof(s->out))
                plain |= POLLIN;
        if (s->in_end > s->in_start)
                plain |= POLLOUT;

        *ret_secure = secure;
        *ret_plain = plain;
}
