/* Benchmark: limits that need no daemon: flock(2) LOCK_EX+LOCK_UN pairs in one process, and a
 * 16-byte ping-pong over loopback TCP, plain and (with GnuTLS) through TLS 1.3 with a pre-shared
 * key. The echo servers are forked children, stopped by PID. (The empty D-Bus round trips, on the
 * bus and peer to peer, are measured by bench-pairs beside the pairs they bound.) */
#undef G_DISABLE_ASSERT
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include <glib/gstdio.h>

#include "bench-net.h"
#include "bench-util.h"

#define PING_SIZE 16
#define PSK_IDENTITY "bench"
#define PSK_HEX "8f0c2b5a1e7d4c3b9a6f5e4d3c2b1a0f8e7d6c5b4a3928171615141312111009"

static double flock_pair_usec(double seconds) {
        g_autofree char *path = NULL;
        double start, end, now;
        unsigned n = 0;
        int fd;

        fd = g_file_open_tmp("pylocker-bench-flock-XXXXXX", &path, NULL);
        g_assert_cmpint(fd, >=, 0);
        start = bench_now();
        end = start + seconds * 1e6;
        do {
                for (int i = 0; i < 100; i++) {
                        g_assert_cmpint(flock(fd, LOCK_EX), ==, 0);
                        g_assert_cmpint(flock(fd, LOCK_UN), ==, 0);
                }
                n += 100;
                now = bench_now();
        } while (now < end);
        close(fd);
        (void) g_unlink(path);
        return (now - start) / n;
}

/* A listening socket on 127.0.0.1, any free port. */
static int listen_loopback(int *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(listen(fd, 16), ==, 0);
        g_assert_cmpint(getsockname(fd, (struct sockaddr *) &sa, &len), ==, 0);
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

static int accept_one(int lfd) {
        int one = 1, fd = accept(lfd, NULL, NULL);

        if (fd < 0)
                _exit(2);
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return fd;
}

static pid_t fork_server(void) {
        pid_t pid;

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0)
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        return pid;
}

static void stop_server(pid_t pid) {
        (void) kill(pid, SIGTERM);
        g_assert_cmpint(waitpid(pid, NULL, 0), ==, pid);
}

static double tcp_rtt_usec(double seconds) {
        char out[PING_SIZE], in[PING_SIZE];
        double start, end, now;
        unsigned n = 0;
        int port, lfd = listen_loopback(&port), fd;
        pid_t pid = fork_server();

        if (pid == 0) {
                int cfd = accept_one(lfd);
                char buf[PING_SIZE];

                for (;;) {
                        size_t got = 0;

                        while (got < PING_SIZE) {
                                ssize_t k = read(cfd, buf + got, PING_SIZE - got);

                                if (k <= 0)
                                        _exit(0);
                                got += k;
                        }
                        if (write(cfd, buf, PING_SIZE) != PING_SIZE)
                                _exit(2);
                }
        }
        close(lfd);
        fd = net_connect_loopback(port, 1000);
        g_assert_cmpint(fd, >=, 0);
        start = bench_now();
        end = start + seconds * 1e6;
        do {
                for (int i = 0; i < 100; i++) {
                        g_snprintf(out, sizeof(out), "ping %010u", n + i);
                        net_write_all(fd, out, PING_SIZE);
                        net_read_exact(fd, in, PING_SIZE);
                        g_assert_cmpint(memcmp(in, out, PING_SIZE), ==, 0);
                }
                n += 100;
                now = bench_now();
        } while (now < end);
        close(fd);
        stop_server(pid);
        return (now - start) / n;
}

static const char *tls_priority = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+ECDHE-PSK:+PSK";

static void tls_check(int r, const char *what) {
        if (r < 0)
                g_error("%s: %s", what, gnutls_strerror(r));
}

static void tls_write(gnutls_session_t s, const char *buf) {
        ssize_t k;

        do
                k = gnutls_record_send(s, buf, PING_SIZE);
        while (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED);
        g_assert_cmpint(k, ==, PING_SIZE);
}

static bool tls_read(gnutls_session_t s, char *buf) {
        size_t got = 0;

        while (got < PING_SIZE) {
                ssize_t k = gnutls_record_recv(s, buf + got, PING_SIZE - got);

                if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED)
                        continue;
                if (k <= 0)
                        return false;
                got += k;
        }
        return true;
}

static double tls_rtt_usec(double seconds) {
        gnutls_datum_t key = { (unsigned char *) PSK_HEX, strlen(PSK_HEX) };
        char out[PING_SIZE], in[PING_SIZE];
        double start, end, now;
        unsigned n = 0;
        int port, lfd = listen_loopback(&port), fd;
        pid_t pid = fork_server();
        gnutls_psk_client_credentials_t cred;
        gnutls_session_t s;

        if (pid == 0) {
                gnutls_psk_server_credentials_t scred;
                gnutls_session_t ss;
                int cfd = accept_one(lfd);
                char buf[PING_SIZE];

                tls_check(gnutls_psk_allocate_server_credentials(&scred), "server credentials");
                tls_check(gnutls_psk_set_server_credentials_file(scred, g_getenv("BENCH_PSK_FILE")), "psk file");
                tls_check(gnutls_init(&ss, GNUTLS_SERVER), "gnutls_init");
                tls_check(gnutls_priority_set_direct(ss, tls_priority, NULL), "priority");
                tls_check(gnutls_credentials_set(ss, GNUTLS_CRD_PSK, scred), "credentials");
                gnutls_transport_set_int(ss, cfd);
                tls_check(gnutls_handshake(ss), "server handshake");
                while (tls_read(ss, buf))
                        tls_write(ss, buf);
                _exit(0);
        }
        close(lfd);

        tls_check(gnutls_psk_allocate_client_credentials(&cred), "client credentials");
        tls_check(gnutls_psk_set_client_credentials(cred, PSK_IDENTITY, &key, GNUTLS_PSK_KEY_HEX), "psk");
        tls_check(gnutls_init(&s, GNUTLS_CLIENT), "gnutls_init");
        tls_check(gnutls_priority_set_direct(s, tls_priority, NULL), "priority");
        tls_check(gnutls_credentials_set(s, GNUTLS_CRD_PSK, cred), "credentials");
        fd = net_connect_loopback(port, 1000);
        g_assert_cmpint(fd, >=, 0);
        gnutls_transport_set_int(s, fd);
        tls_check(gnutls_handshake(s), "client handshake");
        g_assert_cmpint(gnutls_protocol_get_version(s), ==, GNUTLS_TLS1_3);
        g_assert_cmpint(gnutls_auth_get_type(s), ==, GNUTLS_CRD_PSK);

        start = bench_now();
        end = start + seconds * 1e6;
        do {
                for (int i = 0; i < 100; i++) {
                        g_snprintf(out, sizeof(out), "ping %010u", n + i);
                        tls_write(s, out);
                        g_assert_true(tls_read(s, in));
                        g_assert_cmpint(memcmp(in, out, PING_SIZE), ==, 0);
                }
                n += 100;
                now = bench_now();
        } while (now < end);
        (void) gnutls_bye(s, GNUTLS_SHUT_WR);
        close(fd);
        gnutls_deinit(s);
        gnutls_psk_free_client_credentials(cred);
        stop_server(pid);
        return (now - start) / n;
}

int main(int argc, char *argv[]) {
        double seconds = bench_seconds();

        bench_result("flock.pair.us", flock_pair_usec(seconds), "us", "flock LOCK_EX+LOCK_UN pair, one process");
        bench_result("tcp.rtt.us", tcp_rtt_usec(seconds), "us", "16-byte ping-pong, loopback TCP");
        {
                g_autofree char *psk_file = NULL;
                g_autofree char *text = g_strdup_printf("%s:%s\n", PSK_IDENTITY, PSK_HEX);
                int fd = g_file_open_tmp("pylocker-bench-psk-XXXXXX", &psk_file, NULL);

                g_assert_cmpint(fd, >=, 0);
                close(fd);
                g_assert_true(g_file_set_contents(psk_file, text, -1, NULL));
                g_setenv("BENCH_PSK_FILE", psk_file, TRUE);
                bench_result("tls.rtt.us", tls_rtt_usec(seconds), "us",
                             "16-byte ping-pong, loopback TCP, TLS 1.3 PSK (GnuTLS)");
                (void) g_unlink(psk_file);
        }
        return 0;
}
