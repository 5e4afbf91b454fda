/* What every test program shares: time units, path lists, and its child processes. */
#undef G_DISABLE_ASSERT
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-common.h"

void test_child_die_with_parent(gpointer data) {
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
}

int test_exit_code(int wait_status) {
        return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

int test_wait_status(GPid pid, int timeout_ms) {
        for (int waited = 0;; waited += 10) {
                int status;
                pid_t r = waitpid(pid, &status, WNOHANG);

                if (r == pid)
                        return status;
                g_assert_cmpint(r, ==, 0);
                if (waited >= timeout_ms)
                        return -1;
                g_usleep(10 * 1000);
        }
}

int test_wait_exit(GPid *pid, int timeout_ms) {
        int status = test_wait_status(*pid, timeout_ms);

        if (status == -1)
                g_error("process %d did not exit within %d ms", (int) *pid, timeout_ms);
        *pid = 0;
        return test_exit_code(status);
}

void test_kill_child(GPid *pid) {
        if (*pid <= 0)
                return;
        (void) kill(*pid, SIGKILL);
        (void) waitpid(*pid, NULL, 0);
        *pid = 0;
}

int test_free_tcp_port(int family) {
        struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct sockaddr *p = family == AF_INET6 ? (struct sockaddr *) &sa6 : (struct sockaddr *) &sa;
        socklen_t length = family == AF_INET6 ? sizeof(sa6) : sizeof(sa);
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(bind(fd, p, length), ==, 0);
        g_assert_cmpint(getsockname(fd, p, &length), ==, 0);
        port = ntohs(family == AF_INET6 ? sa6.sin6_port : sa.sin_port);
        close(fd);
        return port;
}
