/* The plain unix socket transport of the wire protocol: recvmsg() that closes any descriptor a peer
 * sends, sendmsg() that passes a lock handle with SCM_RIGHTS. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "wire-transport.h"

/* Room for this many descriptors a peer sends along at once; more are dropped by the kernel. */
#define RECV_FDS_MAX 8

static int unix_fd(void *ctx) {
        return (int) (intptr_t) ctx;
}

static void close_received_fds(struct msghdr *mh) {
        for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(mh); cmsg; cmsg = CMSG_NXTHDR(mh, cmsg)) {
                size_t n;

                if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
                        continue;
                n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < n; i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
                        (void) close(fd);
                }
        }
}

static ssize_t unix_recv(void *ctx, void *buf, size_t size) {
        union {
                struct cmsghdr cmsghdr;
                uint8_t buf[CMSG_SPACE(sizeof(int) * RECV_FDS_MAX)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        ssize_t n;

        /* The protocol never takes descriptors from clients: whatever comes is closed at once (and
         * never leaks into a child, thanks to MSG_CMSG_CLOEXEC). */
        n = recvmsg(unix_fd(ctx), &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
        if (mh.msg_controllen > 0)
                close_received_fds(&mh);
        return n;
}

static ssize_t unix_send(void *ctx, const struct iovec *iov, size_t n_iov, int fd) {
        union {
                struct cmsghdr cmsghdr;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct msghdr mh = {
                .msg_iov = (struct iovec *) iov,
                .msg_iovlen = n_iov,
        };
        ssize_t n;

        if (fd >= 0) {
                struct cmsghdr *cmsg;

                mh.msg_control = &control;
                mh.msg_controllen = sizeof(control);
                cmsg = CMSG_FIRSTHDR(&mh);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
        }

        n = sendmsg(unix_fd(ctx), &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
                return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
        return n;
}

static void unix_free(void *ctx) {
        (void) close(unix_fd(ctx));
}

static const WireTransportOps unix_ops = {
        .recv = unix_recv,
        .send = unix_send,
        .free = unix_free,
};

void wire_transport_unix(int fd, WireTransport *ret) {
        *ret = (WireTransport) {
                .ops = &unix_ops,
                .ctx = (void *) (intptr_t) fd,
                .fd = fd,
                .can_pass_fds = true,
        };
}

int wire_transport_unix_steal(WireTransport *t) {
        int fd = t->fd;

        g_assert(t->ops == &unix_ops);
        *t = (WireTransport) { .fd = -1 };
        return fd;
}

void wire_transport_done(WireTransport *t) {
        if (t->ops && t->ops->free)
                t->ops->free(t->ctx);
        *t = (WireTransport) { .fd = -1 };
}
