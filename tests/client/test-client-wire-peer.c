/* The library's wire client against a scripted stand-in for pylockerd on a direct socket, for what a
 * real daemon does not do on demand: frames that arrive a byte at a time, events and descriptors
 * ahead of a reply, an event of a later version, the server's last words, the frame size limits. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "client-util.h"
#include "wire.h"

/* --- the stand-in, in a child process: one connection, one script --- */

typedef struct Peer {
        int fd;
        WireBuffer in;
        WireBuffer out;
        uint8_t last_id[WIRE_LOCK_ID_SIZE];
        int pipes[2][2];        /* handles given out: their read ends are kept here */
} Peer;

static void peer_read_exactly(Peer *p, size_t n) {
        while (wire_buffer_length(&p->in) < n) {
                ssize_t k = read(p->fd, wire_buffer_reserve(&p->in, 4096), 4096);

                if (k <= 0)
                        _exit(0);       /* the client went away: the script ends */
                p->in.end += (size_t) k;
        }
}

/* The next request, decoded; its body stays in p->in until the next call. */
static void peer_next(Peer *p, WireMessage *ret) {
        static size_t last = 0;
        WireHeader h;

        wire_buffer_consume(&p->in, last);
        peer_read_exactly(p, WIRE_HEADER_SIZE);
        g_assert_cmpint(wire_header_parse(wire_buffer_peek(&p->in), WIRE_FRAME_MAX, &h), ==, 0);
        peer_read_exactly(p, WIRE_HEADER_SIZE + h.size);
        g_assert_cmpint(wire_message_decode(&h, wire_buffer_peek(&p->in) + WIRE_HEADER_SIZE, ret), ==, 0);
        last = WIRE_HEADER_SIZE + h.size;
}

static void peer_queue(Peer *p, WireMessage m) {
        g_assert_cmpint(wire_message_encode(&p->out, &m, WIRE_FRAME_MAX), ==, 0);
}

/* Writes what is queued: at once, or a byte at a time, with fd (if any) along with the first byte. */
static void peer_flush(Peer *p, bool bytewise, int fd) {
        while (wire_buffer_length(&p->out) > 0) {
                size_t n = bytewise ? 1 : wire_buffer_length(&p->out);
                union {
                        struct cmsghdr header;
                        uint8_t buf[CMSG_SPACE(sizeof(int))];
                } control = {};
                struct iovec iov = { .iov_base = (void *) wire_buffer_peek(&p->out), .iov_len = n };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t k;

                if (fd >= 0) {
                        struct cmsghdr *c;

                        mh.msg_control = &control;
                        mh.msg_controllen = sizeof(control);
                        c = CMSG_FIRSTHDR(&mh);
                        c->cmsg_level = SOL_SOCKET;
                        c->cmsg_type = SCM_RIGHTS;
                        c->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(c), &fd, sizeof(int));
                        fd = -1;
                }
                k = sendmsg(p->fd, &mh, MSG_NOSIGNAL);
                if (k <= 0)
                        _exit(0);
                wire_buffer_consume(&p->out, (size_t) k);
                if (bytewise)
                        g_usleep(200);
        }
}

static void peer_welcome(Peer *p, const WireMessage *hello, uint32_t max_frame_size) {
        g_assert_cmpuint(hello->header.type, ==, WIRE_HELLO);
        peer_queue(p, (WireMessage) {
                .header = { .type = WIRE_WELCOME, .serial = hello->header.serial },
                .welcome = {
                        .version = WIRE_VERSION,
                        .client_id = "direct-7",
                        .server_version = "stand-in",
                        .max_lock_usec = 3600 * SEC,
                        .default_timeout_usec = 60 * SEC,
                        .max_frame_size = max_frame_size,
                        .max_in_flight = 64,
                        .max_paths = 64,
                },
        });
}

static void peer_acquired(Peer *p, uint32_t serial, uint8_t id_byte) {
        WireMessage m = {
                .header = { .type = WIRE_ACQUIRED, .serial = serial },
                .acquired = { .token = id_byte, .expires_usec = 1000 },
        };

        memset(m.acquired.lock_id, id_byte, WIRE_LOCK_ID_SIZE);
        memcpy(p->last_id, m.acquired.lock_id, WIRE_LOCK_ID_SIZE);
        peer_queue(p, m);
}

/* Every frame split into single bytes, the reply's too. */
static void script_split(Peer *p) {
        WireMessage m;

        peer_next(p, &m);
        peer_welcome(p, &m, WIRE_FRAME_MAX);
        peer_flush(p, true, -1);
        for (uint8_t i = 1;;) {
                peer_next(p, &m);
                if (m.header.type == WIRE_ACQUIRE)
                        peer_acquired(p, m.header.serial, i++);
                else
                        peer_queue(p, (WireMessage) { .header = { .type = WIRE_VALUE, .serial = m.header.serial },
                                                      .value.value = 1 });
                wire_message_clear(&m);
                peer_flush(p, true, -1);
        }
}

/* The second ACQUIRE's reply comes after LOCK_LOST of the first lock, an event of a later version,
 * and MESSAGE_PUBLISHED. */
static void script_events_first(Peer *p) {
        uint8_t first[WIRE_LOCK_ID_SIZE];
        WireMessage m;

        peer_next(p, &m);
        peer_welcome(p, &m, WIRE_FRAME_MAX);
        peer_flush(p, false, -1);

        peer_next(p, &m);
        peer_acquired(p, m.header.serial, 0x11);
        memcpy(first, p->last_id, sizeof(first));
        wire_message_clear(&m);
        peer_flush(p, false, -1);

        peer_next(p, &m);
        WireMessage lost = { .header.type = WIRE_LOCK_LOST, .lock_lost.reason = WIRE_LOST_EXPIRED };
        memcpy(lost.lock_lost.lock_id, first, sizeof(first));
        peer_queue(p, lost);
        /* A later version's event: a header and a body nobody here knows. */
        memcpy(wire_buffer_reserve(&p->out, WIRE_HEADER_SIZE + 3),
               (const uint8_t[]) { 3, 0, 0, 0, 0x9f, 0, 0, 0, 0, 0, 0, 0, 'n', 'e', 'w' }, WIRE_HEADER_SIZE + 3);
        p->out.end += WIRE_HEADER_SIZE + 3;
        peer_queue(p, (WireMessage) {
                .header.type = WIRE_MESSAGE_PUBLISHED,
                .message_published = { .publication_id = "0123456789abcdef0123456789abcdef",
                                       .sender = "direct-1", .message = "meanwhile" },
        });
        peer_acquired(p, m.header.serial, 0x22);
        wire_message_clear(&m);
        peer_flush(p, false, -1);
        for (;;)
                peer_next(p, &m);
}

/* Two handle grants; the first one's descriptor rides on an event ahead of it. HAS_MESSAGE "check"
 * answers 1 when the client wrote '1' into the first handle and '2' into the second. */
static void script_handles(Peer *p) {
        WireMessage m;
        char c[2];

        peer_next(p, &m);
        peer_welcome(p, &m, WIRE_FRAME_MAX);
        peer_flush(p, false, -1);

        for (int i = 0; i < 2; i++) {
                g_assert_cmpint(pipe2(p->pipes[i], O_CLOEXEC), ==, 0);
                peer_next(p, &m);
                g_assert_cmpuint(m.acquire.flags & WIRE_ACQUIRE_HANDLE, !=, 0);
                if (i == 0) {
                        peer_queue(p, (WireMessage) {
                                .header.type = WIRE_MESSAGE_PUBLISHED,
                                .message_published = { .publication_id = "", .sender = "x", .message = "carrier" },
                        });
                        peer_flush(p, false, p->pipes[i][1]);
                        peer_acquired(p, m.header.serial, 0x31);
                        peer_flush(p, true, -1);
                } else {
                        peer_acquired(p, m.header.serial, 0x32);
                        peer_flush(p, false, p->pipes[i][1]);
                }
                close(p->pipes[i][1]);
                wire_message_clear(&m);
        }

        peer_next(p, &m);
        g_assert_cmpuint(m.header.type, ==, WIRE_HAS_MESSAGE);
        c[0] = read(p->pipes[0][0], &c[0], 1) == 1 ? c[0] : 0;
        c[1] = read(p->pipes[1][0], &c[1], 1) == 1 ? c[1] : 0;
        peer_queue(p, (WireMessage) { .header = { .type = WIRE_VALUE, .serial = m.header.serial },
                                      .value.value = c[0] == '1' && c[1] == '2' });
        peer_flush(p, false, -1);
        for (;;)
                peer_next(p, &m);
}

/* The first ACQUIRE gets the server's last words and the end of the stream. */
static void script_fatal(Peer *p) {
        WireMessage m;

        peer_next(p, &m);
        peer_welcome(p, &m, WIRE_FRAME_MAX);
        peer_flush(p, false, -1);
        peer_next(p, &m);
        peer_queue(p, (WireMessage) {
                .header.type = WIRE_ERROR,
                .error = { .name = "org.freedesktop.DBus.Error.LimitsExceeded", .message = "Too many frames." },
        });
        peer_flush(p, false, -1);
        _exit(0);
}

/* A server that announced 256 bytes for its requests answers with 400 (which is fine), then with a
 * header over any frame's size. */
static void script_oversize(Peer *p) {
        g_autofree char *big = g_strnfill(400, 'x');
        WireMessage m;

        peer_next(p, &m);
        peer_welcome(p, &m, 256);
        peer_flush(p, false, -1);
        peer_next(p, &m);
        peer_queue(p, (WireMessage) {
                .header = { .type = WIRE_PUBLISHED, .serial = m.header.serial },
                .published.publication_id = big,
        });
        peer_flush(p, false, -1);
        peer_next(p, &m);
        memcpy(wire_buffer_reserve(&p->out, WIRE_HEADER_SIZE), (const uint8_t[]) { 1, 0, 0x10, 0, 0x44, 0, 0, 0 },
               8);
        memcpy(p->out.data + p->out.end + 8, &m.header.serial, 4);
        p->out.end += WIRE_HEADER_SIZE;
        peer_flush(p, false, -1);
        for (;;)
                peer_next(p, &m);
}

/* Reads nothing for a while, then counts the RELEASEs sent without a reply until REMOVE_MESSAGE, whose
 * VALUE is the count. */
static void script_slow_reader(Peer *p) {
        uint64_t count = 0;
        WireMessage m;

        peer_next(p, &m);
        peer_welcome(p, &m, WIRE_FRAME_MAX);
        peer_flush(p, false, -1);
        g_usleep(300 * 1000);
        for (;;) {
                peer_next(p, &m);
                if (m.header.type != WIRE_RELEASE)
                        break;
                g_assert_cmpuint(m.header.flags, ==, WIRE_FLAG_NO_REPLY);
                count++;
        }
        g_assert_cmpuint(m.header.type, ==, WIRE_REMOVE_MESSAGE);
        peer_queue(p, (WireMessage) { .header = { .type = WIRE_VALUE, .serial = m.header.serial },
                                      .value.value = count });
        peer_flush(p, false, -1);
        for (;;)
                peer_next(p, &m);
}

typedef void (*Script)(Peer *p);

_Noreturn static void serve(int listen_fd, Script script) {
        Peer p = {};

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        p.fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        g_assert_cmpint(p.fd, >=, 0);
        peer_read_exactly(&p, WIRE_PREAMBLE_SIZE);
        g_assert_cmpint(wire_preamble_parse(wire_buffer_peek(&p.in)), ==, WIRE_VERSION);
        wire_buffer_consume(&p.in, WIRE_PREAMBLE_SIZE);
        script(&p);
        _exit(0);
}

/* --- the tests --- */

typedef struct Fixture {
        char *dir;
        char *socket;
        GPid server;
        Harness h;              /* only its bus address: a bus that is not there */
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        f->dir = g_dir_make_tmp("pylocker-wire-peer-XXXXXX", NULL);
        g_assert_nonnull(f->dir);
        f->socket = g_build_filename(f->dir, "private", NULL);
        f->h.bus_address = g_strconcat("unix:path=", f->dir, "/no-bus", NULL);
        g_assert_cmpuint(strlen(f->socket), <, sizeof(sa.sun_path));
        strcpy(sa.sun_path, f->socket);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(listen(fd, 16), ==, 0);
        f->server = fork();
        g_assert_cmpint(f->server, >=, 0);
        if (f->server == 0)
                serve(fd, (Script) data);
        (void) close(fd);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        test_kill_child(&f->server);
        (void) g_unlink(f->socket);
        (void) g_rmdir(f->dir);
        g_free(f->h.bus_address);
        g_free(f->socket);
        g_free(f->dir);
}

static PylockerLocker *peer_locker_open(Fixture *f) {
        PylockerLocker *l = test_locker_open(&f->h, NULL, f->socket);

        g_assert_true(pylocker_locker_is_direct(l));
        g_assert_cmpstr(pylocker_locker_get_client_id(l), ==, "direct-7");
        g_assert_cmpstr(pylocker_locker_get_server_version(l), ==, "stand-in");
        g_assert_cmpuint(pylocker_locker_get_max_lock_time(l), ==, 3600 * SEC);
        return l;
}

static void test_split(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerLocker) l = peer_locker_open(f);
        PylockerError error = PYLOCKER_ERROR_INIT;

        for (int i = 1; i <= 3; i++) {
                g_autoptr(PylockerLock) lock = NULL;
                char id[33];

                /* The stand-in's ids are 16 times the byte i, its tokens i. */
                for (int j = 0; j < 16; j++)
                        g_snprintf(id + 2 * j, 3, "%02x", (unsigned) i);
                g_assert_cmpint(pylocker_locker_acquire_path(l, "/split", NULL, &lock, &error), ==, 0);
                g_assert_cmpstr(pylocker_lock_get_id(lock), ==, id);
                g_assert_cmpuint(pylocker_lock_get_token(lock), ==, (uint64_t) i);
                g_assert_cmpuint(pylocker_lock_get_expires(lock), ==, 1000);
                g_assert_cmpint(pylocker_lock_release(lock, &error), ==, 1);
        }
        g_assert_cmpint(pylocker_locker_process(l), ==, 0);
}

typedef struct Seen {
        GString *log;
        bool message;
} Seen;

static void on_lost(PylockerLocker *locker, PylockerLock *lock, PylockerLockLostReason reason, void *userdata) {
        Seen *s = userdata;

        g_string_append_printf(s->log, "lost %.2s %d;", pylocker_lock_get_id(lock), (int) reason);
}

static void on_message(PylockerLocker *locker, const PylockerPublication *p, void *userdata) {
        Seen *s = userdata;

        g_string_append_printf(s->log, "message %s from %s;", p->message, p->sender_id);
        s->message = true;
}

static void test_events_first(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerLocker) l = peer_locker_open(f);
        g_autoptr(PylockerLock) first = NULL, second = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        Seen seen = { .log = g_string_new(NULL) };

        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(l, on_lost, &seen), ==, 0);
        g_assert_cmpint(pylocker_locker_set_message_callback(l, on_message, &seen), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(l, "/a", NULL, &first, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(l, "/b", NULL, &second, &error), ==, 0);
        g_assert_cmpstr(pylocker_lock_get_id(second), ==, "22222222222222222222222222222222");

        /* Nothing ran yet; processing runs them in order, the unknown event skipped. */
        g_assert_cmpstr(seen.log->str, ==, "");
        g_assert_true(pylocker_lock_is_held(first));
        test_pump_until((PylockerLocker *const[]) { l, NULL }, &seen.message, 5000);
        g_assert_cmpstr(seen.log->str, ==, "lost 11 0;message meanwhile from direct-1;");
        g_assert_false(pylocker_lock_is_held(first));
        g_assert_true(pylocker_lock_is_held(second));
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(l), ==, 1);
        g_assert_true(pylocker_locker_is_connected(l));
        g_string_free(seen.log, TRUE);
}

static void test_handles(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerLocker) l = peer_locker_open(f);
        g_autoptr(PylockerLock) a = NULL, b = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        int fa = -1, fb = -1;

        g_assert_cmpint(pylocker_locker_acquire_handle(l, PATHS("/a"), NULL, &a, &fa, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_handle(l, PATHS("/b"), NULL, &b, &fb, &error), ==, 0);
        g_assert_cmpint(fa, >=, 3);
        g_assert_cmpint(fb, >=, 3);
        g_assert_cmpint(fcntl(fa, F_GETFD), ==, FD_CLOEXEC);
        g_assert_cmpint(write(fa, "1", 1), ==, 1);
        g_assert_cmpint(write(fb, "2", 1), ==, 1);
        /* The stand-in says whether each byte came out of the pipe it meant for that grant. */
        g_assert_cmpint(pylocker_locker_has_message(l, "check", &error), ==, 1);
        close(fa);
        close(fb);
}

static void test_fatal(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerLocker) l = peer_locker_open(f);
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;

        g_assert_cmpint(pylocker_locker_acquire_path(l, "/a", NULL, &lock, &error), ==, -ECONNRESET);
        g_assert_nonnull(strstr(error.message, "Too many frames."));
        g_assert_false(pylocker_locker_is_connected(l));
}

static void test_oversize(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerLocker) l = peer_locker_open(f);
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *big = g_strnfill(300, 'y'), *id = NULL;

        /* Over the frame size it announced: refused here, nothing sent. */
        g_assert_cmpint(pylocker_locker_publish(l, big, NULL, 0, 0, NULL, &error), ==, -EDQUOT);
        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.LimitsExceeded");
        g_assert_true(pylocker_locker_is_connected(l));

        /* Its answers are not bound by it. */
        g_assert_cmpint(pylocker_locker_publish(l, "small", NULL, 0, 0, &id, &error), ==, 1);
        g_assert_cmpuint(strlen(id), ==, 400);

        /* A frame larger than any ends the connection, as soon as its header says so. */
        g_assert_cmpint(pylocker_locker_publish(l, "small", NULL, 0, 0, NULL, &error), ==, -ECONNRESET);
        g_assert_false(pylocker_locker_is_connected(l));
}

/* Releases that do not wait fill the socket: the rest waits in the locker, which asks for POLLOUT,
 * and goes with the next write; none is lost, none is sent twice. */
static void test_full_socket(Fixture *f, gconstpointer data) {
        g_autoptr(PylockerLocker) l = peer_locker_open(f);
        PylockerError error = PYLOCKER_ERROR_INIT;
        unsigned n = 0;

        while (!(pylocker_locker_get_events(l) & POLLOUT)) {
                g_assert_cmpuint(n, <, 1000000);
                g_assert_cmpint(pylocker_locker_release_nowait(l, "0123456789abcdef0123456789abcdef", &error), ==, 0);
                n++;
        }
        /* A few more behind them, queued without a try. */
        for (int i = 0; i < 3; i++, n++)
                g_assert_cmpint(pylocker_locker_release_nowait(l, "0123456789abcdef0123456789abcdef", &error), ==, 0);
        g_assert_cmpint(pylocker_locker_process(l), >=, 0);
        g_assert_cmpint(pylocker_locker_remove_message(l, "count", NULL, &error), ==, (int) n);
        g_assert_cmpint(pylocker_locker_get_events(l), ==, POLLIN);
        g_test_message("%u releases, the last ones queued in the locker", n);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define ADD(path, script, func) \
        g_test_add(path, Fixture, (gconstpointer) (script), fixture_setup, func, fixture_teardown)
        ADD("/client/wire-peer/split-frames", script_split, test_split);
        ADD("/client/wire-peer/events-before-the-reply", script_events_first, test_events_first);
        ADD("/client/wire-peer/handles-in-order", script_handles, test_handles);
        ADD("/client/wire-peer/last-words", script_fatal, test_fatal);
        ADD("/client/wire-peer/frame-limits", script_oversize, test_oversize);
        ADD("/client/wire-peer/full-socket", script_slow_reader, test_full_socket);
        return g_test_run();
}
