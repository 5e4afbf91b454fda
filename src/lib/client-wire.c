/* The lean wire protocol on the direct socket: connecting (preamble, HELLO, WELCOME), the byte
 * transport, serials, reading and writing frames, blocking and asynchronous calls, and dispatching
 * replies and events.
 *
 * A blocking call costs one send and one recv when all goes well: the request is written without
 * waiting, then the reply is read with a recv that waits (the socket stays blocking; every other
 * read and write says MSG_DONTWAIT), so there is no poll in between. Frames of others that come
 * first (events, replies of asynchronous calls) are set aside, in order, for the next
 * pylocker_locker_process(), as sd-bus does. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

#include "bus-errors.h"
#include "client-internal.h"
#include "client-wire.h"
#include "lib-util.h"
#include "log.h"
#include "macro.h"
#include "random-id.h"

/* Descriptors one recvmsg() can bring: the kernel stops at the first message that carries some. */
#define WIRE_FDS_MAX 16
/* What one read asks for at least. */
#define WIRE_READ_SIZE 16384
/* How long closing waits for the daemon to close its end. */
#define WIRE_CLOSE_TIMEOUT_USEC (1 * USEC_PER_SEC)

struct WireFrame {
        int fd;
        size_t size;                    /* header and body */
        uint8_t data[];
};

/* ---- the plain unix socket ---- */

typedef struct UnixTransport {
        int fd;
        uint64_t rcvtimeo_usec;         /* the socket's SO_RCVTIMEO; USEC_INFINITY: none */
} UnixTransport;

int wire_socket_set_rcvtimeo(int fd, uint64_t *rcvtimeo_usec, uint64_t timeout_usec) {
        struct timeval tv;

        /* Set only when the one in place would wait too long: a shorter one just wakes the caller
         * early, who waits again. Blocking calls with the usual timeouts change nothing here. */
        if (timeout_usec == USEC_INFINITY)
                return 0;
        if (*rcvtimeo_usec != USEC_INFINITY &&
            *rcvtimeo_usec <= usec_add(timeout_usec, timeout_usec / 16 + USEC_PER_MSEC))
                return 0;

        timeout_usec = MAX(timeout_usec, (uint64_t) 1);
        tv.tv_sec = (time_t) (timeout_usec / USEC_PER_SEC);
        tv.tv_usec = (suseconds_t) (timeout_usec % USEC_PER_SEC);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
                return -errno;
        *rcvtimeo_usec = timeout_usec;
        return 0;
}

static ssize_t unix_recv(void *transport, void *buf, size_t size, uint64_t timeout_usec, GArray *fds) {
        UnixTransport *t = transport;
        union {
                struct cmsghdr header;
                uint8_t buf[CMSG_SPACE(sizeof(int) * WIRE_FDS_MAX)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        ssize_t n;
        int r;

        if (timeout_usec != 0) {
                r = wire_socket_set_rcvtimeo(t->fd, &t->rcvtimeo_usec, timeout_usec);
                if (r < 0)
                        return r;
        }
        n = recvmsg(t->fd, &mh, MSG_CMSG_CLOEXEC | (timeout_usec == 0 ? MSG_DONTWAIT : 0));
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                        g_array_append_vals(fds, CMSG_DATA(c), (c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        /* A descriptor lost on the way would give the next ones to the wrong grants. */
        if (mh.msg_flags & MSG_CTRUNC)
                return -EBADMSG;
        return n;
}

static ssize_t unix_send(void *transport, const void *buf, size_t size) {
        UnixTransport *t = transport;
        ssize_t n;

        n = send(t->fd, buf, size, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        return n;
}

static int unix_shutdown(void *transport) {
        UnixTransport *t = transport;

        return shutdown(t->fd, SHUT_WR) < 0 ? -errno : 0;
}

static void unix_free(void *transport) {
        UnixTransport *t = transport;

        if (t->fd >= 0)
                (void) close(t->fd);
        g_free(t);
}

static const WireTransportOps unix_transport_ops = {
        .recv = unix_recv,
        .send = unix_send,
        .shutdown = unix_shutdown,
        .free = unix_free,
};

static int unix_connect(const char *path, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timeval tv = { .tv_sec = CALL_TIMEOUT_USEC / USEC_PER_SEC };
        _cleanup_close_ int fd = -1;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        /* Blocking: the reads that may wait say so, the others pass MSG_DONTWAIT. */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* A full backlog makes connect() wait: not longer than a call would. Our writes never wait. */
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        *ret_fd = steal_fd(&fd);
        return 0;
}

/* ---- names and ids ---- */

const char *wire_request_name(uint16_t type) {
        static const char *const names[] = {
                [WIRE_HELLO]               = "Register",
                [WIRE_SET_NAME]            = "Register",
                [WIRE_ACQUIRE]             = "Acquire",
                [WIRE_RELEASE]             = "Release",
                [WIRE_REFRESH]             = "Refresh",
                [WIRE_PUBLISH]             = "Publish",
                [WIRE_LIST_MESSAGES]       = "ListMessages",
                [WIRE_GET_MESSAGE]         = "GetMessage",
                [WIRE_POP_MESSAGE]         = "PopMessage",
                [WIRE_HAS_MESSAGE]         = "HasMessage",
                [WIRE_REMOVE_MESSAGE]      = "RemoveMessage",
                [WIRE_LIST_LOCKS]          = "ListLocks",
                [WIRE_LIST_CLIENTS]        = "ListClients",
                [WIRE_GET_STATUS]          = "GetAll",
                [WIRE_FORCE_RELEASE]       = "ForceRelease",
                [WIRE_SET_MAX_LOCK_TIME]   = "SetMaxLockTime",
                [WIRE_SET_DEFAULT_TIMEOUT] = "SetDefaultTimeout",
                [WIRE_PING]                = "Ping",
                [WIRE_GET_STATS]           = "GetStatistics",
        };

        if (type < ELEMENTSOF(names) && names[type])
                return names[type];
        return "request";
}

int wire_lock_id_parse(const char *text, uint8_t ret[WIRE_LOCK_ID_SIZE], PylockerError *error) {
        G_STATIC_ASSERT(WIRE_LOCK_ID_SIZE == RANDOM_ID_SIZE);

        /* What the daemon says of such an id on the bus. */
        if (random_id_from_string(text, ret) < 0) {
                int r = pylocker_error_setf(error, -EINVAL, "Invalid lock id '%.64s': expected 32 lowercase hex digits.",
                                            text);

                if (error)
                        (void) g_strlcpy(error->name, SD_BUS_ERROR_INVALID_ARGS, sizeof(error->name));
                return r;
        }
        return 0;
}

void wire_lock_id_format(const uint8_t id[WIRE_LOCK_ID_SIZE], char ret[WIRE_LOCK_ID_SIZE * 2 + 1]) {
        (void) random_id_to_string(id, ret);
}

int wire_map_error(PylockerLocker *l, const WireError *e, const char *what, PylockerError *error) {
        const sd_bus_error bus_error = SD_BUS_ERROR_MAKE_CONST(e->name, e->message);

        /* The ERROR frame carries the names of the D-Bus interface: one table maps both. */
        return locker_map_error(l, -sd_bus_error_get_errno(&bus_error), &bus_error, what, error);
}

/* ---- the connection ---- */

static WireConn *wire_conn_new(const WireTransportOps *ops, void *transport, int fd) {
        WireConn *w = g_new0(WireConn, 1);

        w->ops = ops;
        w->transport = transport;
        w->fd = fd;
        w->fds = g_array_new(FALSE, FALSE, sizeof(int));
        g_queue_init(&w->frames);
        w->pending = g_hash_table_new(g_direct_hash, g_direct_equal);
        w->max_send_size = WIRE_FRAME_MAX;
        return w;
}

static void wire_frame_free(WireFrame *f) {
        if (f->fd >= 0)
                (void) close(f->fd);
        g_free(f);
}

static void wire_conn_free(WireConn *w) {
        WireFrame *f;

        w->io_source = sd_event_source_disable_unref(w->io_source);
        w->time_source = sd_event_source_disable_unref(w->time_source);
        while ((f = g_queue_pop_head(&w->frames)))
                wire_frame_free(f);
        for (guint i = 0; i < w->fds->len; i++)
                (void) close(g_array_index(w->fds, int, i));
        g_array_unref(w->fds);
        g_hash_table_unref(w->pending);
        wire_buffer_done(&w->in);
        wire_buffer_done(&w->out);
        wire_buffer_done(&w->spare);
        w->ops->free(w->transport);
        g_free(w->fatal);
        g_free(w);
}

/* Marks the stream ended (once) and returns -ECONNRESET, what every call then fails with. */
static int wire_break(WireConn *w, int error) {
        if (!w->broken)
                w->broken = error < 0 ? error : -ECONNRESET;
        return -ECONNRESET;
}

static uint32_t wire_next_serial(WireConn *w) {
        /* Unique among the unanswered: after 2^32 requests, skip those still waiting. */
        do
                w->last_serial++;
        while (w->last_serial == 0 || g_hash_table_contains(w->pending, GUINT_TO_POINTER(w->last_serial)));
        return w->last_serial;
}

/* Encodes m with a fresh serial at the end of the output. */
static int wire_enqueue(WireConn *w, WireMessage *m) {
        m->header.serial = wire_next_serial(w);
        return wire_message_encode(&w->out, m, w->max_send_size);
}

static int wire_encode_error(PylockerLocker *l, int r, const char *what, PylockerError *error) {
        if (r == -EMSGSIZE) {
                /* What the daemon would say of a request that large. */
                r = pylocker_error_setf(error, -EDQUOT, "%s: the request exceeds the daemon's frame size of %u bytes.",
                                        what, l->wire->max_send_size);
                if (error)
                        (void) g_strlcpy(error->name, PL_ERROR_LIMITS_EXCEEDED, sizeof(error->name));
                return r;
        }
        return pylocker_error_setf(error, r, "%s: failed to build the request: %s", what, g_strerror(-r));
}

/* Writes what the socket takes now. Returns 0 (also when some is left), or -ECONNRESET. */
static int wire_write(WireConn *w) {
        while (wire_buffer_length(&w->out) > 0) {
                ssize_t n = w->ops->send(w->transport, wire_buffer_peek(&w->out), wire_buffer_length(&w->out));

                if (n == -EINTR)
                        continue;
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return wire_break(w, (int) n);
                wire_buffer_consume(&w->out, (size_t) n);
        }
        return 0;
}

/* Reads once into the input, waiting up to timeout_usec (0: not at all). Returns the number of bytes,
 * -EAGAIN, -EINTR, or -ECONNRESET at the end of the stream or on an error. */
static ssize_t wire_fill(WireConn *w, uint64_t timeout_usec) {
        size_t want = WIRE_READ_SIZE, have = wire_buffer_length(&w->in);
        WireHeader h;
        ssize_t n;

        if (w->broken)
                return -ECONNRESET;
        /* Room for the whole of a large frame that has begun. */
        if (have >= WIRE_HEADER_SIZE && wire_header_parse(wire_buffer_peek(&w->in), WIRE_FRAME_MAX, &h) >= 0)
                want = MAX(want, WIRE_HEADER_SIZE + (size_t) h.size - have);
        (void) wire_buffer_reserve(&w->in, want);

        n = w->ops->recv(w->transport, w->in.data + w->in.end, w->in.allocated - w->in.end, timeout_usec, w->fds);
        if (n == -EAGAIN || n == -EINTR)
                return n;
        if (n < 0)
                return wire_break(w, (int) n);
        if (n == 0)
                return wire_break(w, -ECONNRESET);
        w->in.end += (size_t) n;
        return n;
}

/* 1 and its header when a whole frame is at the front of the input, 0 when not yet, -ECONNRESET for
 * a header that breaks the protocol. */
static int wire_peek(WireConn *w, WireHeader *ret) {
        size_t have = wire_buffer_length(&w->in);
        int r;

        if (have < WIRE_HEADER_SIZE)
                return 0;
        r = wire_header_parse(wire_buffer_peek(&w->in), WIRE_FRAME_MAX, ret);
        if (r < 0)
                return wire_break(w, r);
        return have - WIRE_HEADER_SIZE >= ret->size;
}

/* Whether this frame brings a descriptor: the grant of an AcquireHandle. Asked in the order frames
 * arrive, which is the order of their descriptors. */
static bool wire_frame_has_fd(WireConn *w, const WireHeader *h, uint32_t call_serial, bool call_handle) {
        PendingCall *p;

        if (h->type != WIRE_ACQUIRED || h->serial == 0)
                return false;
        if (h->serial == call_serial)
                return call_handle;
        p = g_hash_table_lookup(w->pending, GUINT_TO_POINTER(h->serial));
        return p && p->handle;
}

static int wire_claim_fd(WireConn *w, const WireHeader *h, uint32_t call_serial, bool call_handle, int *ret_fd) {
        *ret_fd = -1;
        if (!wire_frame_has_fd(w, h, call_serial, call_handle))
                return 0;
        if (w->fds->len == 0)
                /* The server sends the handle with its grant: without it the stream is out of step. */
                return wire_break(w, -EBADMSG);
        *ret_fd = g_array_index(w->fds, int, 0);
        g_array_remove_index(w->fds, 0);
        return 0;
}

/* Moves the frame at the front of the input into a buffer of its own (the spare one when free), so
 * that whatever runs while it is used may read more. */
static void wire_take_frame(WireConn *w, const WireHeader *h, WireBuffer *ret) {
        size_t size = WIRE_HEADER_SIZE + (size_t) h->size;
        WireBuffer b = w->spare;

        w->spare = (WireBuffer) {};
        b.start = b.end = 0;
        memcpy(wire_buffer_reserve(&b, size), wire_buffer_peek(&w->in), size);
        b.end = size;
        wire_buffer_consume(&w->in, size);
        *ret = b;
}

/* A frame's buffer back to the current connection's spare, or freed. */
static void wire_give_back(PylockerLocker *l, WireBuffer *b) {
        if (l->wire && !l->wire->spare.data && b->allocated <= 4 * WIRE_READ_SIZE) {
                b->start = b->end = 0;
                l->wire->spare = *b;
        } else
                wire_buffer_done(b);
        *b = (WireBuffer) {};
}

/* Sets the frame at the front of the input aside, to dispatch later. */
static void wire_queue_frame(WireConn *w, const WireHeader *h, int fd) {
        size_t size = WIRE_HEADER_SIZE + (size_t) h->size;
        WireFrame *f = g_malloc(sizeof(WireFrame) + size);

        f->fd = fd;
        f->size = size;
        memcpy(f->data, wire_buffer_peek(&w->in), size);
        wire_buffer_consume(&w->in, size);
        if (h->type == WIRE_ERROR && h->serial == 0 && !w->fatal) {
                WireMessage m;

                /* The server's reason for closing, for the error that follows. */
                if (wire_message_decode(h, f->data + WIRE_HEADER_SIZE, &m) >= 0) {
                        w->fatal = g_strdup_printf("%s: %s", m.error.name, m.error.message);
                        wire_message_clear(&m);
                }
        }
        g_queue_push_tail(&w->frames, f);
}

/* Sets aside every whole frame the input holds. */
static int wire_queue_all(WireConn *w) {
        WireHeader h;
        int r, fd;

        while ((r = wire_peek(w, &h)) > 0) {
                r = wire_claim_fd(w, &h, 0, false, &fd);
                if (r < 0)
                        return r;
                wire_queue_frame(w, &h, fd);
        }
        return r;
}

static uint64_t now_usec(void) {
        return (uint64_t) g_get_monotonic_time();
}

static uint64_t usec_left(uint64_t deadline) {
        uint64_t now = now_usec();

        if (deadline == USEC_INFINITY)
                return USEC_INFINITY;
        return deadline > now ? deadline - now : 0;
}

/* Writes the whole output, reading meanwhile so that a server busy writing to us does not wait for
 * us forever. */
static int wire_flush(WireConn *w, uint64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = w->fd, .events = POLLIN | POLLOUT };
                uint64_t left;
                int r;

                r = wire_write(w);
                if (r < 0)
                        return r;
                if (wire_buffer_length(&w->out) == 0)
                        return 0;

                left = usec_left(deadline);
                if (left == 0)
                        return -ETIMEDOUT;
                r = poll(&p, 1, left == USEC_INFINITY ? -1 : (int) MIN((left + 999) / 1000, (uint64_t) INT_MAX));
                if (r < 0 && errno != EINTR)
                        return wire_break(w, -errno);
                if (r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
                        ssize_t n = wire_fill(w, 0);

                        if (n < 0 && n != -EAGAIN && n != -EINTR)
                                return (int) n;
                        r = wire_queue_all(w);
                        if (r < 0)
                                return r;
                }
        }
}

/* Reads until the reply of serial is at the front of the input, setting aside the frames before it,
 * and takes it out. */
static int wire_read_reply(WireConn *w, uint32_t serial, bool handle, uint64_t deadline, WireReply *ret) {
        for (;;) {
                uint64_t left;
                WireHeader h;
                ssize_t n;
                int r, fd;

                r = wire_peek(w, &h);
                if (r < 0)
                        return r;
                if (r > 0) {
                        r = wire_claim_fd(w, &h, serial, handle, &fd);
                        if (r < 0)
                                return r;
                        if (h.serial != serial) {
                                wire_queue_frame(w, &h, fd);
                                continue;
                        }

                        wire_take_frame(w, &h, &ret->frame);
                        ret->fd = fd;
                        r = wire_message_decode(&h, ret->frame.data + WIRE_HEADER_SIZE, &ret->message);
                        if (r < 0)
                                return wire_break(w, -EBADMSG);
                        return 0;
                }

                /* Waits for more; past the deadline, a last look without waiting. */
                left = usec_left(deadline);
                n = wire_fill(w, left);
                if (n == -EAGAIN && left == 0)
                        return -ETIMEDOUT;
                if (n < 0 && n != -EAGAIN && n != -EINTR)
                        return (int) n;
        }
}

/* A blocking call that gave up: its reply may still come, and a grant must not be kept unknowingly. */
static void wire_abandon(PylockerLocker *l, uint32_t serial, bool handle) {
        PendingCall *p = g_new0(PendingCall, 1);

        p->locker = l;
        p->serial = serial;
        p->handle = handle;
        p->abandoned = true;
        p->deadline_usec = USEC_INFINITY;
        g_hash_table_insert(l->wire->pending, GUINT_TO_POINTER(serial), p);
        g_ptr_array_add(l->pending, p);
}

void wire_reply_done(PylockerLocker *l, WireReply *reply) {
        wire_message_clear(&reply->message);
        if (reply->fd >= 0)
                (void) close(reply->fd);
        reply->fd = -1;
        wire_give_back(l, &reply->frame);
}

int wire_call(PylockerLocker *l, WireMessage *m, uint64_t timeout_usec, uint16_t reply_type, WireReply *ret,
              PylockerError *error) {
        WireConn *w = l->wire;
        const char *what = wire_request_name(m->header.type);
        uint64_t deadline = usec_add(now_usec(), timeout_usec);
        bool handle = m->header.type == WIRE_ACQUIRE && (m->acquire.flags & WIRE_ACQUIRE_HANDLE);
        int r;

        *ret = (WireReply) WIRE_REPLY_NULL;
        r = locker_check_usable(l, error);
        if (r < 0)
                return r;
        r = wire_enqueue(w, m);
        if (r < 0)
                return wire_encode_error(l, r, what, error);

        r = wire_flush(w, deadline);
        if (r >= 0)
                r = wire_read_reply(w, m->header.serial, handle, deadline, ret);
        if (r == -ETIMEDOUT)
                wire_abandon(l, m->header.serial, handle);
        if (r < 0) {
                g_autofree char *fatal = r == -ECONNRESET ? g_strdup(w->fatal) : NULL;

                wire_reply_done(l, ret);
                r = locker_map_error(l, r, NULL, what, error);
                if (fatal)
                        /* The server said why it closed: that is the better word. */
                        (void) pylocker_error_setf(error, r, "%s: connection to pylockerd lost: %s", what, fatal);
                return r;
        }

        if (ret->message.header.type == WIRE_ERROR) {
                r = wire_map_error(l, &ret->message.error, what, error);
                wire_reply_done(l, ret);
                return r;
        }
        if (ret->message.header.type != reply_type) {
                wire_reply_done(l, ret);
                return locker_map_error(l, wire_break(w, -EBADMSG), NULL, what, error);
        }
        return 0;
}

int wire_send(PylockerLocker *l, WireMessage *m, PendingCall *p, uint64_t timeout_usec, PylockerError *error) {
        WireConn *w = l->wire;
        const char *what = wire_request_name(m->header.type);
        int r;

        r = locker_check_usable(l, error);
        if (r < 0) {
                pending_call_free(p);
                return r;
        }
        r = wire_enqueue(w, m);
        if (r < 0) {
                pending_call_free(p);
                return wire_encode_error(l, r, what, error);
        }
        r = wire_write(w);
        if (r < 0) {
                pending_call_free(p);
                return locker_map_error(l, r, NULL, what, error);
        }

        if (p) {
                p->locker = l;
                p->serial = m->header.serial;
                p->deadline_usec = usec_add(now_usec(), timeout_usec);
                g_hash_table_insert(w->pending, GUINT_TO_POINTER(p->serial), p);
                g_ptr_array_add(l->pending, p);
        }
        return 0;
}

/* ---- connecting ---- */

static void log_level_from_environment(void) {
        static gsize done = 0;

        if (g_once_init_enter(&done)) {
                const char *level = getenv("PYLOCKER_LOG_LEVEL");

                if (level && strcmp(level, "debug") == 0)
                        log_set_max_level(LOG_DEBUG);
                g_once_init_leave(&done, 1);
        }
}

/* Says HELLO on l->wire, just set up, and reads WELCOME. where: the socket or the remote, for errors. */
static int wire_greet(PylockerLocker *l, const char *where, PylockerError *error) {
        WireMessage hello = {
                .header.type = WIRE_HELLO,
                .hello.name = l->name ?: "",
        };
        PylockerError e = PYLOCKER_ERROR_INIT;
        WireReply reply = WIRE_REPLY_NULL;
        WireConn *w = l->wire;
        const WireWelcome *welcome;
        uint8_t *preamble;
        int r;

        /* HELLO goes right behind the preamble, in one write. */
        preamble = wire_buffer_reserve(&w->out, WIRE_PREAMBLE_SIZE);
        wire_preamble_write(preamble);
        w->out.end += WIRE_PREAMBLE_SIZE;

        r = wire_call(l, &hello, CALL_TIMEOUT_USEC, WIRE_WELCOME, &reply, &e);
        if (r < 0) {
                /* The daemon answered and refused (a taken name): the bus would too. */
                bool refused = e.name[0] && !error_name_is_connection_loss(e.name) && !l->lost;

                wire_close(l);
                l->lost = false;
                if (refused) {
                        pylocker_error_copy(error, &e);
                        return r;
                }
                /* Nothing that speaks this protocol answered: an older daemon, say, whose direct socket
                 * speaks D-Bus only. */
                return pylocker_error_setf(error, -EPROTONOSUPPORT, "%s does not speak the wire protocol: %s", where,
                                           e.message);
        }

        welcome = &reply.message.welcome;
        if (welcome->version != WIRE_VERSION) {
                wire_reply_done(l, &reply);
                wire_close(l);
                return pylocker_error_setf(error, -EPROTONOSUPPORT, "%s chose wire protocol version %u.", where,
                                           (unsigned) welcome->version);
        }
        /* What the daemon takes; what it sends may be as large as any frame (docs/wire.md, Limits). */
        w->max_send_size = MIN(welcome->max_frame_size ?: WIRE_FRAME_MAX, WIRE_FRAME_MAX);
        g_free(l->client_id);
        l->client_id = g_strdup(welcome->client_id);
        g_free(l->server_version);
        l->server_version = g_strdup(welcome->server_version);
        l->max_lock_usec = welcome->max_lock_usec;
        l->server_default_timeout_usec = welcome->default_timeout_usec;
        wire_reply_done(l, &reply);
        return 0;
}

int wire_open(PylockerLocker *l, const char *path, PylockerError *error) {
        UnixTransport *t;
        int fd = -1, r;

        log_level_from_environment();

        r = unix_connect(path, &fd);
        if (r < 0)
                return pylocker_error_setf(error, r, "Cannot connect to %s: %s", path, g_strerror(-r));
        t = g_new0(UnixTransport, 1);
        t->fd = fd;
        t->rcvtimeo_usec = USEC_INFINITY;
        l->wire = wire_conn_new(&unix_transport_ops, t, fd);
        return wire_greet(l, path, error);
}

int wire_open_transport(PylockerLocker *l, const WireTransportOps *ops, void *transport, int fd, const char *where,
                        PylockerError *error) {
        log_level_from_environment();

        l->wire = wire_conn_new(ops, transport, fd);
        return wire_greet(l, where, error);
}

/* Ends our side and reads (and drops) what still comes until the daemon closes its own, which it does
 * once it has let go of the client. So a client that connects right after, a restart with the same
 * name say, finds the name free and the locks released. */
static void wire_drain(WireConn *w) {
        uint64_t deadline = usec_add(now_usec(), WIRE_CLOSE_TIMEOUT_USEC);
        uint8_t scratch[4096];

        if (w->ops->shutdown(w->transport) < 0)
                return;
        for (;;) {
                uint64_t left = usec_left(deadline);
                ssize_t n;

                if (left == 0)
                        return;
                n = w->ops->recv(w->transport, scratch, sizeof(scratch), left, w->fds);
                if (n == 0 || (n < 0 && n != -EAGAIN && n != -EINTR))
                        return;
        }
}

void wire_close(PylockerLocker *l) {
        WireConn *w = l->wire;

        if (!w)
                return;
        /* What is queued (a release that did not wait) goes if the socket takes it now; the daemon
         * drops what is left of ours with the connection anyway. */
        if (!w->broken)
                (void) wire_write(w);
        if (!w->broken && !l->lost)
                wire_drain(w);
        l->wire = NULL;
        wire_conn_free(w);
}

/* ---- dispatching ---- */

static PylockerLockLostReason lost_reason(uint32_t reason) {
        /* A closed handle is the lock gone without its lease running out, as a Refresh finds it. */
        return reason == WIRE_LOST_HANDLE_CLOSED ? PYLOCKER_LOCK_LOST_NOT_FOUND : PYLOCKER_LOCK_LOST_EXPIRED;
}

static void wire_dispatch_event(PylockerLocker *l, const WireMessage *m) {
        char id[WIRE_LOCK_ID_SIZE * 2 + 1];
        PylockerLock *lock;

        switch (m->header.type) {
        case WIRE_LOCK_LOST:
                wire_lock_id_format(m->lock_lost.lock_id, id);
                lock = locker_find_owned(l, id);
                if (lock)
                        locker_lose_lock(l, lock, lost_reason(m->lock_lost.reason));
                break;
        case WIRE_MESSAGE_PUBLISHED:
                locker_deliver_message(l, m->message_published.publication_id, m->message_published.sender,
                                       m->message_published.message, m->message_published.expires_usec);
                break;
        case WIRE_ERROR:
                /* The server's last words before it closes: the end of the stream follows. */
                if (!l->wire->fatal)
                        l->wire->fatal = g_strdup_printf("%s: %s", m->error.name, m->error.message);
                break;
        default:
                /* A later version's event. */
                break;
        }
}

/* The late grant of an abandoned blocking Acquire: nobody has the lock, so it goes back at once. */
static void wire_release_abandoned(PylockerLocker *l, const WireMessage *m) {
        WireMessage release = {
                .header = { .type = WIRE_RELEASE, .flags = WIRE_FLAG_NO_REPLY },
        };

        if (m->header.type != WIRE_ACQUIRED)
                return;
        memcpy(release.lock_ref.lock_id, m->acquired.lock_id, WIRE_LOCK_ID_SIZE);
        (void) wire_send(l, &release, NULL, 0, NULL);
}

/* One frame, decoded from its own buffer. fd (the grant's handle, or -1) is taken. */
static void wire_dispatch_frame(PylockerLocker *l, const WireHeader *h, const uint8_t *body, int fd) {
        WireMessage m;
        PendingCall *p;
        int r;

        r = wire_message_decode(h, body, &m);
        if (r < 0) {
                if (fd >= 0)
                        (void) close(fd);
                if (r == -EOPNOTSUPP && h->serial == 0)
                        /* An event of a later version. */
                        return;
                (void) wire_break(l->wire, -EBADMSG);
                return;
        }

        if (h->serial == 0) {
                wire_dispatch_event(l, &m);
                wire_message_clear(&m);
                return;
        }

        p = g_hash_table_lookup(l->wire->pending, GUINT_TO_POINTER(h->serial));
        if (!p) {
                /* A request sent with NO_REPLY failed: nobody waits for that answer. */
                if (h->type == WIRE_ERROR)
                        log_debug("pylocker: request %" G_GUINT32_FORMAT " failed, ignoring: %s: %s", h->serial,
                                  m.error.name, m.error.message);
                if (fd >= 0)
                        (void) close(fd);
                wire_message_clear(&m);
                return;
        }
        g_hash_table_remove(l->wire->pending, GUINT_TO_POINTER(h->serial));
        pending_call_detach(p);

        if (p->abandoned) {
                wire_release_abandoned(l, &m);
                if (fd >= 0)
                        (void) close(fd);
                pending_call_free(p);
        } else
                /* Takes fd and frees p. */
                p->wire_reply(l, p, &m, fd);
        wire_message_clear(&m);
}

/* Pending calls past their deadline get NoReply, as sd-bus gives them. Returns whether one did. */
static bool wire_time_out_one(PylockerLocker *l) {
        static const WireMessage no_reply = {
                .header.type = WIRE_ERROR,
                .error = { .name = SD_BUS_ERROR_NO_REPLY, .message = "Method call timed out" },
        };
        uint64_t now = now_usec();
        GHashTableIter i;
        gpointer value;

        g_hash_table_iter_init(&i, l->wire->pending);
        while (g_hash_table_iter_next(&i, NULL, &value)) {
                PendingCall *p = value;

                if (p->abandoned || p->deadline_usec > now)
                        continue;
                g_hash_table_iter_remove(&i);
                pending_call_detach(p);
                p->wire_reply(l, p, &no_reply, -1);
                return true;
        }
        return false;
}

int wire_process(PylockerLocker *l) {
        WireConn *w = l->wire;
        WireFrame *f;
        WireHeader h;
        int r, fd;

        if (l->lost)
                return 0;
        pylocker_locker_ref(l);

        if (wire_buffer_length(&w->out) > 0)
                (void) wire_write(w);

        /* What came during a blocking call first, then what the input holds, then the socket. */
        f = g_queue_pop_head(&w->frames);
        if (f) {
                WireHeader fh;

                if (wire_header_parse(f->data, WIRE_FRAME_MAX, &fh) >= 0)
                        wire_dispatch_frame(l, &fh, f->data + WIRE_HEADER_SIZE, steal_fd(&f->fd));
                wire_frame_free(f);
                r = 1;
                goto finish;
        }

        r = wire_peek(w, &h);
        if (r == 0 && !w->broken) {
                ssize_t n = wire_fill(w, 0);

                if (n > 0)
                        r = wire_peek(w, &h);
        }
        if (r > 0) {
                WireBuffer frame;

                r = wire_claim_fd(w, &h, 0, false, &fd);
                if (r >= 0) {
                        wire_take_frame(w, &h, &frame);
                        wire_dispatch_frame(l, &h, frame.data + WIRE_HEADER_SIZE, fd);
                        wire_give_back(l, &frame);
                }
                r = 1;
                goto finish;
        }

        if (w->broken) {
                /* Everything that came before the end is dispatched: now the end itself. */
                locker_set_lost(l);
                r = 1;
                goto finish;
        }

        r = wire_time_out_one(l) ? 1 : 0;
finish:
        pylocker_locker_unref(l);
        return r;
}

int wire_get_events(PylockerLocker *l) {
        WireConn *w = l->wire;

        return POLLIN | (wire_buffer_length(&w->out) > 0 ? POLLOUT : 0);
}

/* Whether process() has something to do without the socket's help. */
static bool wire_has_ready(WireConn *w) {
        WireHeader h;
        size_t have = wire_buffer_length(&w->in);

        if (!g_queue_is_empty(&w->frames) || w->broken)
                return true;
        if (have < WIRE_HEADER_SIZE)
                return false;
        /* A bad header is something to do too: break the connection. */
        return wire_header_parse(wire_buffer_peek(&w->in), WIRE_FRAME_MAX, &h) < 0 ||
               have - WIRE_HEADER_SIZE >= h.size;
}

int wire_get_timeout(PylockerLocker *l, uint64_t *ret_usec) {
        WireConn *w = l->wire;
        uint64_t until = USEC_INFINITY;
        GHashTableIter i;
        gpointer value;

        if (l->lost) {
                *ret_usec = USEC_INFINITY;
                return 0;
        }
        if (wire_has_ready(w)) {
                *ret_usec = 0;
                return 1;
        }
        g_hash_table_iter_init(&i, w->pending);
        while (g_hash_table_iter_next(&i, NULL, &value)) {
                PendingCall *p = value;

                if (!p->abandoned)
                        until = MIN(until, p->deadline_usec);
        }
        *ret_usec = until;
        return until != USEC_INFINITY;
}

int wire_wait(PylockerLocker *l, uint64_t timeout_usec) {
        struct pollfd p = { .fd = l->wire->fd, .events = (short) wire_get_events(l) };
        uint64_t until, left;
        int r;

        if (l->lost)
                return 0;
        (void) wire_get_timeout(l, &until);
        if (until != USEC_INFINITY) {
                uint64_t now = now_usec();

                if (until <= now)
                        return 1;
                timeout_usec = MIN(timeout_usec, until - now);
        }
        left = timeout_usec;
        r = poll(&p, 1, left == USEC_INFINITY ? -1 : (int) MIN((left + 999) / 1000, (uint64_t) INT_MAX));
        if (r < 0)
                return errno == EINTR ? 0 : -errno;
        return r > 0 ? 1 : 0;
}
