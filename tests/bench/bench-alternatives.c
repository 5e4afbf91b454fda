/* Benchmark: what users would pick instead of pylockerd, on loopback, started by run-all.sh.
 *
 * Redis (port in $PYLOCKER_BENCH_REDIS_PORT): a lock is SET key val NX PX 30000 and DEL key; one
 * client without pipelining, then 8 and 64 clients (one connection each, one poll loop, one
 * command in flight each), on distinct keys. etcd ($PYLOCKER_BENCH_ETCD_PORT): a lock is a
 * put-if-absent transaction (create_revision = 0) with a lease granted once, and a delete, over one
 * keep-alive connection to the JSON gateway. Every reply is checked.
 *
 * pylockerd's one-client pairs over the direct socket are measured here too, in rounds with Redis
 * and etcd, so that their ratios come from the same moments. */
#undef G_DISABLE_ASSERT
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pylocker/pylocker.h>

#include "bench-net.h"
#include "bench-util.h"

/* --- Redis --- */

typedef struct RedisPair {
        int fd;
        char *set;
        size_t set_len;
        char *del;
        size_t del_len;
} RedisPair;

static void redis_pair_init(RedisPair *p, int fd, unsigned i) {
        g_autofree char *key = g_strdup_printf("bench:lock:%u", i);
        const char *set[] = { "SET", key, "holder-token", "NX", "PX", "30000", NULL };
        const char *del[] = { "DEL", key, NULL };

        p->fd = fd;
        p->set = redis_command(set, &p->set_len);
        p->del = redis_command(del, &p->del_len);
}

static void redis_pair(void *data) {
        RedisPair *p = data;

        redis_roundtrip(p->fd, p->set, p->set_len, "+OK\r\n");
        redis_roundtrip(p->fd, p->del, p->del_len, ":1\r\n");
}

/* n clients, one connection each, driven by one poll loop. Returns pairs per second. */
static double redis_many(int port, unsigned n, double seconds) {
        g_autofree RedisPair *pairs = g_new0(RedisPair, n);
        g_autofree struct pollfd *fds = g_new0(struct pollfd, n);
        g_autofree int *phase = g_new0(int, n);        /* 0: SET sent, 1: DEL sent */
        g_autofree size_t *got = g_new0(size_t, n);
        g_autofree char *bufs = g_new0(char, 8 * n);
        uint64_t count = 0, start_count = 0;
        double start = 0, warm_end, end;
        bool stop = false;
        unsigned busy = n;

        for (unsigned i = 0; i < n; i++) {
                int fd = net_connect_loopback(port, 1000);

                g_assert_cmpint(fd, >=, 0);
                redis_pair_init(&pairs[i], fd, 1000 + i);
                fds[i] = (struct pollfd) { .fd = fd, .events = POLLIN };
                net_write_all(fd, pairs[i].set, pairs[i].set_len);
        }
        warm_end = bench_now() + 0.3e6;
        end = warm_end + seconds * 1e6;
        while (busy > 0) {
                double now = bench_now();

                if (start == 0 && now >= warm_end) {
                        start = now;
                        start_count = count;
                }
                if (!stop && now >= end) {
                        stop = true;
                        end = now;
                        count -= start_count;
                }
                g_assert_cmpint(poll(fds, n, 1000), >, 0);
                for (unsigned i = 0; i < n; i++) {
                        const char *expected = phase[i] == 0 ? "+OK\r\n" : ":1\r\n";
                        size_t want = strlen(expected);
                        ssize_t k;

                        if (!(fds[i].revents & POLLIN))
                                continue;
                        k = read(fds[i].fd, bufs + 8 * i + got[i], want - got[i]);
                        g_assert_cmpint(k, >, 0);
                        got[i] += k;
                        if (got[i] < want)
                                continue;
                        if (memcmp(bufs + 8 * i, expected, want) != 0)
                                g_error("Redis answered \"%.*s\", expected \"%s\"", (int) want, bufs + 8 * i, expected);
                        got[i] = 0;
                        if (phase[i] == 0) {
                                phase[i] = 1;
                                net_write_all(fds[i].fd, pairs[i].del, pairs[i].del_len);
                                continue;
                        }
                        count++;
                        phase[i] = 0;
                        if (stop) {
                                fds[i].fd = -fds[i].fd - 1;     /* done: poll ignores it */
                                busy--;
                                continue;
                        }
                        net_write_all(fds[i].fd, pairs[i].set, pairs[i].set_len);
                }
        }
        for (unsigned i = 0; i < n; i++) {
                close(-fds[i].fd - 1);
                g_free(pairs[i].set);
                g_free(pairs[i].del);
        }
        return count / ((end - start) / 1e6);
}

/* --- etcd --- */

typedef struct EtcdPair {
        int fd;
        int port;
        char *txn;
        char *del;
} EtcdPair;

static void etcd_pair_init(EtcdPair *p, int port) {
        g_autofree char *key = g_base64_encode((const guchar *) "bench/lock", strlen("bench/lock"));
        g_autofree char *value = g_base64_encode((const guchar *) "holder-token", strlen("holder-token"));
        g_autofree char *grant = NULL;
        const char *id;
        char lease[32];
        double deadline = bench_now() + 30e6;

        p->port = port;
        p->fd = net_connect_loopback(port, 30000);
        g_assert_cmpint(p->fd, >=, 0);
        /* A fresh member may take a moment to elect itself: wait until a lease is granted. */
        for (;;) {
                grant = etcd_post(p->fd, port, "/v3/lease/grant", "{\"TTL\":\"60\"}");
                id = strstr(grant, "\"ID\":\"");
                if (id)
                        break;
                g_assert_cmpfloat(bench_now(), <, deadline);
                g_clear_pointer(&grant, g_free);
                g_usleep(100 * 1000);
        }
        id += strlen("\"ID\":\"");
        g_assert_cmpuint(strspn(id, "0123456789"), <, sizeof(lease));
        g_snprintf(lease, sizeof(lease), "%.*s", (int) strspn(id, "0123456789"), id);
        g_assert_cmpuint(strlen(lease), >, 0);

        p->txn = g_strdup_printf("{\"compare\":[{\"target\":\"CREATE\",\"key\":\"%s\",\"create_revision\":\"0\"}],"
                                 "\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\",\"lease\":\"%s\"}}]}",
                                 key, key, value, lease);
        p->del = g_strdup_printf("{\"key\":\"%s\"}", key);
}

static void etcd_pair(void *data) {
        EtcdPair *p = data;
        g_autofree char *txn = etcd_post(p->fd, p->port, "/v3/kv/txn", p->txn);
        g_autofree char *del = NULL;

        if (!strstr(txn, "\"succeeded\":true"))
                g_error("etcd did not grant the lock: %s", txn);
        del = etcd_post(p->fd, p->port, "/v3/kv/deleterange", p->del);
        if (!strstr(del, "\"deleted\":\"1\""))
                g_error("etcd did not delete the lock: %s", del);
}

static int env_port(const char *name) {
        const char *s = g_getenv(name);

        return s ? atoi(s) : 0;
}

int main(int argc, char *argv[]) {
        double seconds = bench_seconds();
        int redis_port = env_port("PYLOCKER_BENCH_REDIS_PORT"), etcd_port = env_port("PYLOCKER_BENCH_ETCD_PORT");
        g_autofree char *direct_socket = NULL;
        BenchLibPair lib = { .path = "/bench/alt" }, lib_nowait = { .path = "/bench/alt-nowait" };
        RedisPair redis = {};
        EtcdPair etcd = {};
        Harness h = {};
        BenchOp ops[4];
        size_t n_ops = 0;

        bench_harness_start(&h, (const char *const[]) { "--max-lock-time=1h", NULL });
        direct_socket = harness_direct_socket_path(&h);
        lib.locker = bench_locker_open(&h, direct_socket);
        ops[n_ops++] = (BenchOp) { "alt.pylockerd.direct.us", "Acquire+Release, libpylocker-dbus, direct socket",
                                   bench_lib_pair, &lib };
        lib_nowait.locker = bench_locker_open(&h, direct_socket);
        ops[n_ops++] = (BenchOp) { "alt.pylockerd.direct.nowait.us",
                                   "Acquire+Release without waiting for the release, libpylocker-dbus, direct socket",
                                   bench_lib_pair_nowait, &lib_nowait };

        if (redis_port > 0) {
                int fd = net_connect_loopback(redis_port, 20000);

                if (fd < 0)
                        g_error("Redis does not answer on port %d", redis_port);
                redis_pair_init(&redis, fd, 0);
                ops[n_ops++] = (BenchOp) { "redis.1.us", "Redis SET NX PX + DEL, 1 client", redis_pair, &redis };
        } else
                bench_note("PYLOCKER_BENCH_REDIS_PORT is not set: no Redis figures");

        if (etcd_port > 0) {
                etcd_pair_init(&etcd, etcd_port);
                ops[n_ops++] = (BenchOp) { "etcd.1.us", "etcd txn put-if-absent with lease + delete, 1 client",
                                           etcd_pair, &etcd };
        } else
                bench_note("PYLOCKER_BENCH_ETCD_PORT is not set: no etcd figures");

        bench_ops_run(ops, n_ops, seconds);

        if (redis_port > 0) {
                for (unsigned n = 8; n <= 64; n *= 8) {
                        g_autofree char *key = g_strdup_printf("redis.%u.rate", n);
                        g_autofree char *what = g_strdup_printf("Redis SET NX PX + DEL pairs/s, %u clients", n);

                        bench_result(key, redis_many(redis_port, n, seconds), "pairs/s", what);
                }
                close(redis.fd);
                g_free(redis.set);
                g_free(redis.del);
        }
        if (etcd_port > 0) {
                close(etcd.fd);
                g_free(etcd.txn);
                g_free(etcd.del);
        }

        pylocker_locker_unref(lib.locker);
        pylocker_locker_unref(lib_nowait.locker);
        harness_stop(&h);
        return 0;
}
