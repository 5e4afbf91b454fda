/* Helpers of the benchmarks: clocks, percentiles, result lines, the echo service that gives the
 * reference round trips, and the raw sd-bus calls of org.pylocker.Locker. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <pylocker/pylocker.h>

#include "harness.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus_message, sd_bus_message_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_event, sd_event_unref)

#define ECHO_NAME "org.pylocker.BenchEcho"
#define ECHO_PATH "/org/pylocker/BenchEcho"
#define ECHO_IFACE "org.pylocker.BenchEcho"

/* harness_start(), then the harness stops listening for sd_notify messages: it reads them only
 * while it waits for one, so over a long run pylockerd's STATUS= updates would fill the socket and
 * block the daemon in sendmsg(). Closed, the daemon's sd_notify() just fails. */
void bench_harness_start(Harness *h, const char *const *daemon_args);

/* Monotonic microseconds, as a double for rates. */
double bench_now(void);

/* One result line on stdout, read by run-all.sh: "RESULT<TAB>key<TAB>value<TAB>unit<TAB>what". */
void bench_result(const char *key, double value, const char *unit, const char *what);
/* A note on stderr (progress, parameters). */
void bench_note(const char *format, ...) G_GNUC_PRINTF(1, 2);

/* The p-th percentile (0..100) of n samples; sorts them. */
double bench_percentile(double *samples, size_t n, double p);
/* The median of n values (sorts them). */
double bench_median(double *values, size_t n);

/* Seconds each rate measurement runs, from $PYLOCKER_BENCH_SECONDS (default 2). */
double bench_seconds(void);

/* One operation timed in rounds beside others (bench_ops_run). */
#define BENCH_ROUNDS 5
typedef struct BenchOp {
        const char *key;                /* of its result line, in microseconds per operation */
        const char *what;
        void (*fn)(void *data);
        void *data;
        double usec[BENCH_ROUNDS];
} BenchOp;

/* Microseconds per call of op's fn, calling it for about seconds. */
double bench_time_op(BenchOp *op, double seconds);
/* Calls each op briefly (every connection warmed up), then times each in BENCH_ROUNDS rounds of
 * seconds/4, one op right after the other, so that a noisy neighbour slows the figure and its
 * reference alike; prints the median round of each. */
void bench_ops_run(BenchOp *ops, size_t n, double seconds);

/* An Acquire+Release pair through libpylocker-dbus on path, as a BenchOp's fn; checks the grant and
 * that tokens increase. */
typedef struct BenchLibPair {
        PylockerLocker *locker;
        const char *path;
        uint64_t last_token;
} BenchLibPair;

void bench_lib_pair(void *data);
/* The same, with the release not waiting for its answer (pylocker_locker_release_nowait()). */
void bench_lib_pair_nowait(void *data);
/* A locker on the harness's bus, or on its direct socket when private_socket is given. */
PylockerLocker *bench_locker_open(Harness *h, const char *private_socket);

/* Processes each connection until it has nothing more, then polls them all for up to timeout_ms.
 * (Not sd-event: it dispatches one source per iteration and prepares every connection before each,
 * which with 64 connections costs the client more than the calls do.) */
void bench_pump(sd_bus *const *buses, unsigned n, int timeout_ms);

/* The echo service: a forked process with an empty method Echo, on the bus (as ECHO_NAME) and on a
 * unix socket peer to peer. Stopped by PID. */
typedef struct Echo {
        GPid pid;
        char *socket_path;
} Echo;

void echo_start(Echo *e, const char *bus_address, const char *dir);
void echo_stop(Echo *e);
/* A peer-to-peer sd-bus connection to the echo service's socket. */
sd_bus *bench_connect_p2p(const char *socket_path);

/* Blocking empty calls: Echo on the bus (destination set) or peer to peer (none). */
void echo_call(sd_bus *bus, bool p2p);

/* Resident memory of a process, bytes, from /proc/PID/status. */
uint64_t bench_rss(GPid pid);

/* Raw Acquire/Release calls. destination NULL on a direct connection. */
sd_bus_message *bench_new_acquire(sd_bus *bus, bool direct, const char *path, uint64_t timeout_usec);
sd_bus_message *bench_new_release(sd_bus *bus, bool direct, const char *lock_id);
/* Checks a grant and returns its lock id (borrowed from reply) and token. */
const char *bench_read_grant(sd_bus_message *reply, uint64_t *ret_token);
/* Checks a Release reply says 1 (released). */
void bench_check_released(sd_bus_message *reply);
