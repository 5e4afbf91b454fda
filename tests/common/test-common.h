/* What every test program shares: time units, path lists, and its child processes. */
#pragma once

#include <stdint.h>

#include <glib.h>

#define MSEC UINT64_C(1000)
#define SEC UINT64_C(1000000)

/* A NULL-terminated list of paths (or names), as a compound literal: PATHS("a", "b"). */
#define PATHS(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* A GSpawnChildSetupFunc: the child is killed when the test process dies, whatever happens to it. */
void test_child_die_with_parent(gpointer data);

/* A wait status as a shell reports it: the exit code, or 128+N for signal N. */
int test_exit_code(int wait_status);

/* Waits for the child for up to timeout_ms; returns its wait status, or -1 if it is still running. */
int test_wait_status(GPid pid, int timeout_ms);

/* Waits for the child *pid to exit, failing the test after timeout_ms; then *pid is 0. Returns its
 * exit code as test_exit_code() says it. */
int test_wait_exit(GPid *pid, int timeout_ms);

/* SIGKILLs and reaps the child *pid if there is one (> 0); then *pid is 0. For teardowns. */
void test_kill_child(GPid *pid);

/* A TCP port on loopback (AF_INET or AF_INET6) that was free a moment ago. */
int test_free_tcp_port(int family);
