/* Plain sockets for the benchmarks: loopback TCP, a blocking request/response helper, and minimal
 * clients of Redis (RESP) and etcd (its JSON gateway over HTTP/1.1 keep-alive). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <glib.h>

/* Connects to 127.0.0.1:port with TCP_NODELAY, retrying up to timeout_ms; -1 if it never answers. */
int net_connect_loopback(int port, int timeout_ms);
void net_write_all(int fd, const void *buf, size_t n);
void net_read_exact(int fd, void *buf, size_t n);

/* Redis: sends one command (already RESP-encoded) and checks the reply is exactly expected. */
void redis_roundtrip(int fd, const char *command, size_t command_len, const char *expected);
/* The RESP encoding of the words. */
char *redis_command(const char *const *words, size_t *ret_len);

/* etcd: POST of a JSON body on a keep-alive connection; returns the response body (g_free). Fails
 * on any status but 200. */
char *etcd_post(int fd, int port, const char *path, const char *body);
