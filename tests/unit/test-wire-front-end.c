/* The pure parts of the wire front end: the unix transport's descriptor handling, the request →
 * action table, and the one table of error names every front end answers with. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "bus-errors.h"
#include "service.h"
#include "wire-transport.h"
#include "wire-verbs.h"

static void socketpair_nonblock(int fds[2]) {
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), ==, 0);
}

/* A descriptor sent along goes with the first byte of its send, and only with it. */
static void test_transport_passes_fd(void) {
        union {
                struct cmsghdr cmsghdr;
                uint8_t buf[CMSG_SPACE(sizeof(int) * 4)];
        } control;
        WireTransport t;
        int fds[2], pipefd[2], received = -1;
        char data[16];
        struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        ssize_t n;

        socketpair_nonblock(fds);
        wire_transport_unix(fds[0], &t);
        g_assert_true(t.can_pass_fds);
        g_assert_cmpint(pipe2(pipefd, O_CLOEXEC), ==, 0);

        n = t.ops->send(t.ctx, &(struct iovec) { .iov_base = (void *) "abc", .iov_len = 3 }, 1, pipefd[1]);
        g_assert_cmpint(n, ==, 3);
        n = t.ops->send(t.ctx, &(struct iovec) { .iov_base = (void *) "def", .iov_len = 3 }, 1, -1);
        g_assert_cmpint(n, ==, 3);
        close(pipefd[1]);

        /* The first read stops after the bytes that carried the descriptor. */
        n = recvmsg(fds[1], &mh, MSG_CMSG_CLOEXEC);
        g_assert_cmpint(n, ==, 3);
        g_assert_cmpmem(data, 3, "abc", 3);
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                g_assert_cmpint(c->cmsg_type, ==, SCM_RIGHTS);
                g_assert_cmpuint(c->cmsg_len, ==, CMSG_LEN(sizeof(int)));
                memcpy(&received, CMSG_DATA(c), sizeof(int));
        }
        g_assert_cmpint(received, >=, 0);
        n = recv(fds[1], data, sizeof(data), 0);
        g_assert_cmpint(n, ==, 3);
        g_assert_cmpmem(data, 3, "def", 3);

        /* The received copy is the pipe's last writer now. */
        close(received);
        g_assert_cmpint(read(pipefd[0], data, 1), ==, 0);
        close(pipefd[0]);

        /* Nothing there: -EAGAIN; the peer gone: 0. */
        g_assert_cmpint(t.ops->recv(t.ctx, data, sizeof(data)), ==, -EAGAIN);
        close(fds[1]);
        g_assert_cmpint(t.ops->recv(t.ctx, data, sizeof(data)), ==, 0);
        g_assert_cmpint(t.ops->send(t.ctx, &(struct iovec) { .iov_base = (void *) "x", .iov_len = 1 }, 1, -1), ==,
                        -EPIPE);
        wire_transport_done(&t);
        g_assert_null(t.ops);
}

/* Descriptors a peer sends are closed as they arrive; the bytes come through. */
static void test_transport_closes_received_fds(void) {
        union {
                struct cmsghdr cmsghdr;
                uint8_t buf[CMSG_SPACE(sizeof(int) * 2)];
        } control = {};
        WireTransport t;
        int fds[2], pipe1[2], pipe2_[2];
        char data[8];
        struct iovec iov = { .iov_base = (void *) "hello", .iov_len = 5 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        struct cmsghdr *c;
        int passed[2];

        socketpair_nonblock(fds);
        wire_transport_unix(fds[0], &t);
        g_assert_cmpint(pipe(pipe1), ==, 0);
        g_assert_cmpint(pipe(pipe2_), ==, 0);
        passed[0] = pipe1[1];
        passed[1] = pipe2_[1];
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(passed));
        memcpy(CMSG_DATA(c), passed, sizeof(passed));
        g_assert_cmpint(sendmsg(fds[1], &mh, 0), ==, 5);
        close(pipe1[1]);
        close(pipe2_[1]);

        g_assert_cmpint(t.ops->recv(t.ctx, data, sizeof(data)), ==, 5);
        g_assert_cmpmem(data, 5, "hello", 5);
        /* No writer is left anywhere. */
        g_assert_cmpint(read(pipe1[0], data, 1), ==, 0);
        g_assert_cmpint(read(pipe2_[0], data, 1), ==, 0);

        close(pipe1[0]);
        close(pipe2_[0]);
        close(fds[1]);
        wire_transport_done(&t);
}

/* Stealing the socket back (a D-Bus client) leaves it open and the transport empty. */
static void test_transport_steal(void) {
        WireTransport t;
        int fds[2], fd;

        socketpair_nonblock(fds);
        wire_transport_unix(fds[0], &t);
        fd = wire_transport_unix_steal(&t);
        g_assert_cmpint(fd, ==, fds[0]);
        wire_transport_done(&t);
        g_assert_cmpint(fcntl(fd, F_GETFD), >=, 0);
        close(fds[0]);
        close(fds[1]);
}

/* Every request is authorized as its D-Bus method is, but for GET_STATUS and PING (no method). */
static void test_actions(void) {
        int actions[_WIRE_REQUEST_LAST + 1];

        wire_verbs_actions_init(actions);
        g_assert_cmpint(actions[0], ==, -1);
        for (int type = WIRE_HELLO; type <= _WIRE_REQUEST_LAST; type++)
                if (type == WIRE_GET_STATUS || type == WIRE_PING)
                        g_assert_cmpint(actions[type], ==, -1);
                else
                        g_assert_cmpint(actions[type], >=, 0);

        g_assert_cmpint(actions[WIRE_HELLO], ==, SERVICE_ACTION_PUBLISH);
        g_assert_cmpint(actions[WIRE_SET_NAME], ==, SERVICE_ACTION_PUBLISH);
        g_assert_cmpint(actions[WIRE_ACQUIRE], ==, SERVICE_ACTION_ACQUIRE);
        g_assert_cmpint(actions[WIRE_LIST_CLIENTS], ==, SERVICE_ACTION_ACQUIRE);
        g_assert_cmpint(actions[WIRE_GET_STATS], ==, SERVICE_ACTION_ACQUIRE);
        g_assert_cmpint(actions[WIRE_REMOVE_MESSAGE], ==, SERVICE_ACTION_PUBLISH);
        g_assert_cmpint(actions[WIRE_FORCE_RELEASE], ==, SERVICE_ACTION_MANAGE);
        g_assert_cmpint(actions[WIRE_SET_MAX_LOCK_TIME], ==, SERVICE_ACTION_MANAGE);
        g_assert_cmpint(actions[WIRE_SET_DEFAULT_TIMEOUT], ==, SERVICE_ACTION_MANAGE);
}

/* Every code has a name, and each org.pylocker name maps back to the code's errno. */
static void test_error_names(void) {
        for (int code = 0; code < _SERVICE_ERROR_MAX; code++) {
                const char *name = service_error_code_to_name(code);
                bool found = false;

                g_assert_nonnull(name);
                g_assert_true(g_str_has_prefix(name, "org.pylocker.Locker.Error.") ||
                              g_str_has_prefix(name, "org.freedesktop.DBus.Error."));
                if (!g_str_has_prefix(name, "org.pylocker."))
                        continue;
                for (const sd_bus_error_map *m = pylocker_bus_error_map; m->name; m++)
                        if (g_str_equal(m->name, name)) {
                                g_assert_cmpint(m->code, ==, service_error_code_to_errno(code));
                                found = true;
                        }
                g_assert_true(found);
        }
        g_assert_cmpstr(service_error_code_to_name(SERVICE_ERROR_INVALID_ARGS), ==, SD_BUS_ERROR_INVALID_ARGS);
        g_assert_cmpstr(service_error_code_to_name(SERVICE_ERROR_ACCESS_DENIED), ==, SD_BUS_ERROR_ACCESS_DENIED);
        g_assert_cmpstr(service_error_code_to_name(_SERVICE_ERROR_MAX), ==, SD_BUS_ERROR_FAILED);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/wire-front-end/transport/passes-fd", test_transport_passes_fd);
        g_test_add_func("/wire-front-end/transport/closes-received-fds", test_transport_closes_received_fds);
        g_test_add_func("/wire-front-end/transport/steal", test_transport_steal);
        g_test_add_func("/wire-front-end/actions", test_actions);
        g_test_add_func("/service-error/names", test_error_names);

        return g_test_run();
}
