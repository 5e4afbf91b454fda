/* Plain sockets for the benchmarks. */
#undef G_DISABLE_ASSERT
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-net.h"

int net_connect_loopback(int port, int timeout_ms) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons(port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        int one = 1;

        for (int waited = 0;; waited += 50) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

                g_assert_cmpint(fd, >=, 0);
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
                        g_assert_cmpint(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), ==, 0);
                        return fd;
                }
                close(fd);
                if (waited >= timeout_ms)
                        return -1;
                g_usleep(50 * 1000);
        }
}

void net_write_all(int fd, const void *buf, size_t n) {
        const char *p = buf;

        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                g_assert_cmpint(k, >, 0);
                p += k;
                n -= k;
        }
}

void net_read_exact(int fd, void *buf, size_t n) {
        char *p = buf;

        while (n > 0) {
                ssize_t k = read(fd, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k == 0)
                        g_error("connection closed by the peer");
                g_assert_cmpint(k, >, 0);
                p += k;
                n -= k;
        }
}

char *redis_command(const char *const *words, size_t *ret_len) {
        GString *s = g_string_new(NULL);
        size_t n = g_strv_length((char **) words);

        g_string_append_printf(s, "*%zu\r\n", n);
        for (size_t i = 0; i < n; i++)
                g_string_append_printf(s, "$%zu\r\n%s\r\n", strlen(words[i]), words[i]);
        *ret_len = s->len;
        return g_string_free(s, FALSE);
}

void redis_roundtrip(int fd, const char *command, size_t command_len, const char *expected) {
        size_t n = strlen(expected);
        char buf[64];

        g_assert_cmpuint(n, <, sizeof(buf));
        net_write_all(fd, command, command_len);
        /* Simple replies of known length: what comes is either exactly that, or wrong. */
        net_read_exact(fd, buf, n);
        if (memcmp(buf, expected, n) != 0)
                g_error("Redis answered \"%.*s\", expected \"%s\"", (int) n, buf, expected);
}

/* Reads until the buffer holds a full header block; returns its length. */
static size_t read_headers(int fd, GString *in) {
        for (;;) {
                char *end = strstr(in->str, "\r\n\r\n");
                char buf[4096];
                ssize_t k;

                if (end)
                        return end - in->str + 4;
                k = read(fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        g_error("etcd closed the connection");
                g_string_append_len(in, buf, k);
        }
}

static void read_more(int fd, GString *in, size_t want) {
        while (in->len < want) {
                char buf[4096];
                ssize_t k = read(fd, buf, sizeof(buf));

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        g_error("etcd closed the connection");
                g_string_append_len(in, buf, k);
        }
}

char *etcd_post(int fd, int port, const char *path, const char *body) {
        g_autofree char *request = g_strdup_printf("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                                   path, port, strlen(body), body);
        g_autoptr(GString) in = g_string_new(NULL);
        g_autoptr(GString) out = g_string_new(NULL);
        g_autofree char *headers = NULL;
        size_t header_len;
        const char *cl;

        net_write_all(fd, request, strlen(request));
        header_len = read_headers(fd, in);
        headers = g_ascii_strdown(in->str, header_len);
        if (!g_str_has_prefix(headers, "http/1.1 200"))
                g_error("etcd answered %s to %s: %s", headers, path, body);

        cl = strstr(headers, "\r\ncontent-length:");
        if (cl) {
                size_t n = g_ascii_strtoull(cl + strlen("\r\ncontent-length:"), NULL, 10);

                read_more(fd, in, header_len + n);
                g_assert_cmpuint(in->len, ==, header_len + n);
                return g_strndup(in->str + header_len, n);
        }

        /* Chunked. */
        g_assert_nonnull(strstr(headers, "transfer-encoding: chunked"));
        for (size_t at = header_len;;) {
                char *line_end;
                size_t n;

                while (!(line_end = strstr(in->str + at, "\r\n")))
                        read_more(fd, in, in->len + 1);
                n = g_ascii_strtoull(in->str + at, NULL, 16);
                at = line_end - in->str + 2;
                read_more(fd, in, at + n + 2);
                if (n == 0) {
                        g_assert_cmpuint(in->len, ==, at + 2);
                        return g_string_free(g_steal_pointer(&out), FALSE);
                }
                g_string_append_len(out, in->str + at, n);
                at += n + 2;
        }
}
