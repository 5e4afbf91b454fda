/* Benchmark: pylockerd with --backend=etcd against etcd itself, on a 1-member etcd cluster started by
 * the etcd harness (data on /dev/shm).
 *
 *  - raw etcd: a put-if-absent transaction (compare create_revision = 0, then a put with a lease
 *    granted once) and a deleterange, one client, through the project's etcd client (libcurl multi
 *    and json-glib on an sd-event loop): the same HTTP/1.1 + JSON path the daemon takes to etcd;
 *  - pylockerd on that etcd: Acquire+Release pairs of one client through libpylocker-dbus over the
 *    direct socket, one path, uncontended; timed in rounds with the raw pairs, so that their ratio
 *    comes from the same moments;
 *  - hand-over across two daemons on the same etcd: client A on daemon 1 holds a path, client B on
 *    daemon 2 waits for it (its request is in etcd); the time from A's release call to B's grant,
 *    median over the rounds.
 *
 * Beside them, on stderr: the etcd requests and raft proposals per backend pair (etcd's /metrics)
 * and the CPU time per pair of etcd, each daemon and this client; with
 * $PYLOCKER_BENCH_ETCD_BREAKDOWN set, the same for the daemon's two transactions sent raw, without
 * and with two watches on their keys.
 *
 * Skipped (no result lines, exit 0) when there is no etcd binary. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-glib/json-glib.h>

#include <pylocker/pylocker.h>

#include "bench-util.h"
#include "etcd-client.h"
#include "etcd-harness.h"

#define SESSION_TTL "10s"
#define HANDOVER_ROUNDS 200
#define COUNTED_PAIRS 1000

/* --- raw etcd through the etcd client --- */

typedef struct RawEtcd {
        sd_event *event;
        EtcdClient *client;
        int64_t lease;
        bool done;
        int error;
        JsonNode *reply;        /* a copy of the last answer */
} RawEtcd;

static void raw_on_reply(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        RawEtcd *r = userdata;

        r->done = true;
        r->error = error;
        if (reply) {
                r->reply = json_node_new(JSON_NODE_OBJECT);
                json_node_set_object(r->reply, reply);
        }
}

/* Sends body (taken) to path and runs the loop until the answer: its object (valid until the next). */
static JsonObject *raw_call(RawEtcd *r, const char *path, JsonBuilder *b) {
        g_clear_pointer(&r->reply, json_node_unref);
        r->done = false;
        g_assert_cmpint(etcd_client_call(r->client, ETCD_CHANNEL_TXN, path, json_builder_get_root(b), 0,
                                         raw_on_reply, r, NULL), ==, 0);
        while (!r->done)
                g_assert_cmpint(sd_event_run(r->event, UINT64_MAX), >=, 0);
        if (r->error < 0)
                return NULL;
        g_assert_nonnull(r->reply);
        return json_node_get_object(r->reply);
}

static const char raw_key[] = "bench/raw/lock";
static const char raw_value[] = "holder-token";

static void raw_pair(void *data) {
        RawEtcd *r = data;
        g_autoptr(JsonBuilder) txn = json_builder_new();
        g_autoptr(JsonBuilder) del = json_builder_new();
        char lease[32];
        JsonObject *o;

        g_snprintf(lease, sizeof(lease), "%" G_GINT64_FORMAT, r->lease);
        /* {"compare":[{"target":"CREATE","key":K,"create_revision":"0"}],
         *  "success":[{"request_put":{"key":K,"value":V,"lease":L}}]} */
        json_builder_begin_object(txn);
        json_builder_set_member_name(txn, "compare");
        json_builder_begin_array(txn);
        json_builder_begin_object(txn);
        json_builder_set_member_name(txn, "target");
        json_builder_add_string_value(txn, "CREATE");
        etcd_json_add_bytes(txn, "key", raw_key, strlen(raw_key));
        json_builder_set_member_name(txn, "create_revision");
        json_builder_add_string_value(txn, "0");
        json_builder_end_object(txn);
        json_builder_end_array(txn);
        json_builder_set_member_name(txn, "success");
        json_builder_begin_array(txn);
        json_builder_begin_object(txn);
        json_builder_set_member_name(txn, "request_put");
        json_builder_begin_object(txn);
        etcd_json_add_bytes(txn, "key", raw_key, strlen(raw_key));
        etcd_json_add_bytes(txn, "value", raw_value, strlen(raw_value));
        json_builder_set_member_name(txn, "lease");
        json_builder_add_string_value(txn, lease);
        json_builder_end_object(txn);
        json_builder_end_object(txn);
        json_builder_end_array(txn);
        json_builder_end_object(txn);

        o = raw_call(r, "/v3/kv/txn", txn);
        if (!o || !json_object_get_boolean_member_with_default(o, "succeeded", FALSE))
                g_error("etcd did not grant the lock (error %d)", r->error);

        json_builder_begin_object(del);
        etcd_json_add_bytes(del, "key", raw_key, strlen(raw_key));
        json_builder_end_object(del);
        o = raw_call(r, "/v3/kv/deleterange", del);
        if (!o || etcd_json_get_int64(o, "deleted") != 1)
                g_error("etcd did not delete the lock (error %d)", r->error);
}

static void raw_open(RawEtcd *r, const char *endpoints) {
        g_auto(GStrv) list = g_strsplit(endpoints, ",", -1);
        EtcdSettings settings = { .endpoints = list };
        double deadline = bench_now() + 30e6;

        g_assert_cmpint(sd_event_new(&r->event), >=, 0);
        g_assert_cmpint(etcd_client_new(r->event, &settings, &r->client), ==, 0);
        /* A fresh member may take a moment to elect itself: until a lease is granted. */
        for (;;) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                JsonObject *o;

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "TTL");
                json_builder_add_string_value(b, "600");
                json_builder_end_object(b);
                o = raw_call(r, "/v3/lease/grant", b);
                if (o && (r->lease = etcd_json_get_int64(o, "ID")) > 0)
                        break;
                g_assert_cmpfloat(bench_now(), <, deadline);
                g_usleep(100 * 1000);
        }
}

static void raw_close(RawEtcd *r) {
        g_clear_pointer(&r->reply, json_node_unref);
        g_clear_pointer(&r->client, etcd_client_free);
        g_clear_pointer(&r->event, sd_event_unref);
}

/* --- etcd's own counters (GET /metrics) --- */

static size_t append_to_string(char *data, size_t size, size_t n, void *userdata) {
        g_string_append_len(userdata, data, (gssize) (size * n));
        return size * n;
}

/* The sum of every sample of a metric whose labels contain each of the NULL-terminated strings. */
static double etcd_metric(const char *url, const char *metric, const char *const *labels) {
        g_autofree char *full = g_strconcat(url, "/metrics", NULL);
        g_autoptr(GString) out = g_string_new(NULL);
        g_auto(GStrv) lines = NULL;
        CURL *easy = curl_easy_init();
        double sum = 0;

        g_assert_nonnull(easy);
        (void) curl_easy_setopt(easy, CURLOPT_URL, full);
        (void) curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
        (void) curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, append_to_string);
        (void) curl_easy_setopt(easy, CURLOPT_WRITEDATA, out);
        g_assert_cmpint(curl_easy_perform(easy), ==, CURLE_OK);
        curl_easy_cleanup(easy);

        lines = g_strsplit(out->str, "\n", -1);
        for (char **l = lines; *l; l++) {
                const char *value;
                bool match = true;

                if (!g_str_has_prefix(*l, metric) || ((*l)[strlen(metric)] != '{' && (*l)[strlen(metric)] != ' '))
                        continue;
                for (const char *const *k = labels; k && *k && match; k++)
                        match = strstr(*l, *k) != NULL;
                value = strrchr(*l, ' ');
                if (match && value)
                        sum += g_ascii_strtod(value + 1, NULL);
        }
        return sum;
}

typedef struct EtcdCounts {
        double txn, range, put, del, proposals;
} EtcdCounts;

static EtcdCounts etcd_counts(const char *url) {
        static const char *const kv[] = { "etcdserverpb.KV", NULL };
        EtcdCounts c;

        c.txn = etcd_metric(url, "grpc_server_handled_total", (const char *const[]) { "grpc_method=\"Txn\"", kv[0], NULL });
        c.range = etcd_metric(url, "grpc_server_handled_total", (const char *const[]) { "grpc_method=\"Range\"", kv[0], NULL });
        c.put = etcd_metric(url, "grpc_server_handled_total", (const char *const[]) { "grpc_method=\"Put\"", kv[0], NULL });
        c.del = etcd_metric(url, "grpc_server_handled_total",
                            (const char *const[]) { "grpc_method=\"DeleteRange\"", kv[0], NULL });
        c.proposals = etcd_metric(url, "etcd_server_proposals_committed_total", NULL);
        return c;
}

/* CPU time (user + system) a process has used, microseconds, from /proc/PID/stat. */
static double cpu_usec(GPid pid) {
        g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int) pid);
        g_autofree char *text = NULL;
        g_auto(GStrv) fields = NULL;
        const char *rest;

        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        rest = strrchr(text, ')');
        g_assert_nonnull(rest);
        fields = g_strsplit(rest + 2, " ", -1);
        /* After "pid (comm) ": state is field 3, utime 14, stime 15. */
        g_assert_cmpuint(g_strv_length(fields), >, 13);
        return (g_ascii_strtod(fields[11], NULL) + g_ascii_strtod(fields[12], NULL)) * 1e6 / sysconf(_SC_CLK_TCK);
}

/* Wall and CPU time per call of fn over n calls: etcd's, each daemon's, this process's. */
static void cpu_per_call(const char *name, void (*fn)(void *), void *data, unsigned n, GPid etcd, GPid d1, GPid d2) {
        double w0 = bench_now(), e0 = cpu_usec(etcd), a0 = cpu_usec(d1), b0 = cpu_usec(d2), s0 = cpu_usec(getpid());
        double w, e, a, b, me;

        for (unsigned i = 0; i < n; i++)
                fn(data);
        w = (bench_now() - w0) / n;
        e = (cpu_usec(etcd) - e0) / n;
        a = (cpu_usec(d1) - a0) / n;
        b = (cpu_usec(d2) - b0) / n;
        me = (cpu_usec(getpid()) - s0) / n;
        bench_note("%s, per pair over %u: wall %.0f us; CPU etcd %.0f us, daemon 1 %.0f us, daemon 2 %.0f us, "
                   "this client %.0f us", name, n, w, e, a, b, me);
}

/* The daemon's two transactions of an uncontended one-path pair, sent raw (keys under bench/shape/,
 * which no daemon watches): the admission (compare no key under the path's queue; put the queue key,
 * a record of about the daemon's size and the grant key, all with the lease; read the grant key and
 * a token base) and the delete of the three keys. */
typedef struct ShapedPair {
        RawEtcd *raw;
        uint64_t seq;
} ShapedPair;

static void shaped_put(JsonBuilder *b, const char *key, const char *value, const char *lease) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "request_put");
        json_builder_begin_object(b);
        etcd_json_add_bytes(b, "key", key, strlen(key));
        etcd_json_add_bytes(b, "value", value, strlen(value));
        json_builder_set_member_name(b, "lease");
        json_builder_add_string_value(b, lease);
        json_builder_end_object(b);
        json_builder_end_object(b);
}

static void shaped_range(JsonBuilder *b, const char *key, bool keys_only) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "request_range");
        json_builder_begin_object(b);
        etcd_json_add_bytes(b, "key", key, strlen(key));
        if (keys_only) {
                json_builder_set_member_name(b, "keys_only");
                json_builder_add_boolean_value(b, true);
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
}

static void shaped_pair(void *data) {
        ShapedPair *p = data;
        RawEtcd *r = p->raw;
        static const char queue[] = "bench/shape/q/0123456789abcdef/";
        char lease[32], rid[64];
        g_autofree char *qkey = NULL, *rkey = NULL, *gkey = NULL, *end = NULL;
        g_autoptr(JsonBuilder) txn = json_builder_new();
        g_autoptr(JsonBuilder) del = json_builder_new();
        const char *record = "{\"lock\":\"0123456789abcdef0123456789abcdef\",\"paths\":[\"/bench/etcd\"],"
                             "\"shared\":false,\"node\":\"d1\",\"client\":\":1.23\",\"uid\":0,"
                             "\"lease_usec\":3600000000,\"created_realtime\":1795951937498715}";
        size_t end_size;
        JsonObject *o;

        g_snprintf(lease, sizeof(lease), "%" G_GINT64_FORMAT, r->lease);
        g_snprintf(rid, sizeof(rid), "%016" G_GINT64_MODIFIER "x-%016" G_GINT64_MODIFIER "x", r->lease, ++p->seq);
        qkey = g_strconcat(queue, "x/", rid, NULL);
        rkey = g_strconcat("bench/shape/r/", rid, NULL);
        gkey = g_strconcat("bench/shape/g/", rid, NULL);
        end = etcd_prefix_end(queue, strlen(queue), &end_size);

        json_builder_begin_object(txn);
        json_builder_set_member_name(txn, "compare");
        json_builder_begin_array(txn);
        json_builder_begin_object(txn);
        json_builder_set_member_name(txn, "target");
        json_builder_add_string_value(txn, "CREATE");
        json_builder_set_member_name(txn, "result");
        json_builder_add_string_value(txn, "EQUAL");
        etcd_json_add_bytes(txn, "key", queue, strlen(queue));
        etcd_json_add_bytes(txn, "range_end", end, end_size);
        json_builder_set_member_name(txn, "create_revision");
        json_builder_add_string_value(txn, "0");
        json_builder_end_object(txn);
        json_builder_end_array(txn);
        json_builder_set_member_name(txn, "success");
        json_builder_begin_array(txn);
        shaped_put(txn, qkey, "", lease);
        shaped_put(txn, rkey, record, lease);
        shaped_put(txn, gkey, "", lease);
        shaped_range(txn, gkey, true);
        shaped_range(txn, "bench/shape/token-base", false);
        json_builder_end_array(txn);
        json_builder_end_object(txn);
        o = raw_call(r, "/v3/kv/txn", txn);
        if (!o || !json_object_get_boolean_member_with_default(o, "succeeded", FALSE))
                g_error("etcd did not take the shaped admission (error %d)", r->error);

        json_builder_begin_object(del);
        json_builder_set_member_name(del, "success");
        json_builder_begin_array(del);
        for (int i = 0; i < 3; i++) {
                const char *k = i == 0 ? qkey : i == 1 ? rkey : gkey;

                json_builder_begin_object(del);
                json_builder_set_member_name(del, "request_delete_range");
                json_builder_begin_object(del);
                etcd_json_add_bytes(del, "key", k, strlen(k));
                json_builder_end_object(del);
                json_builder_end_object(del);
        }
        json_builder_end_array(del);
        json_builder_end_object(del);
        o = raw_call(r, "/v3/kv/txn", del);
        if (!o)
                g_error("etcd did not take the shaped delete (error %d)", r->error);
}

static void on_watch_event(EtcdWatch *watch, JsonObject *result, void *userdata) {
}

static void on_watch_ended(EtcdWatch *watch, int error, int64_t compact_revision, void *userdata) {
        g_error("a watch of bench/shape/ ended: %d", error);
}

static void cpu_per_call(const char *name, void (*fn)(void *), void *data, unsigned n, GPid etcd, GPid d1, GPid d2);

/* The daemon's transactions sent raw, without and then with two watches on their keys (as the two
 * daemons watch theirs), to tell etcd's cost of those transactions and of the watches from the
 * daemon's own. */
static void shaped_breakdown(RawEtcd *raw, GPid etcd, GPid d1, GPid d2) {
        static const char prefix[] = "bench/shape/";
        ShapedPair p = { .raw = raw };
        EtcdWatch *w[2] = {};
        g_autofree char *end = NULL;
        size_t end_size;

        for (int i = 0; i < 10; i++)
                shaped_pair(&p);
        cpu_per_call("raw etcd, the daemon's 2 transactions", shaped_pair, &p, COUNTED_PAIRS, etcd, d1, d2);
        end = etcd_prefix_end(prefix, strlen(prefix), &end_size);
        for (int i = 0; i < 2; i++)
                g_assert_cmpint(etcd_client_watch(raw->client, prefix, strlen(prefix), end, end_size, 0,
                                                  on_watch_event, on_watch_ended, NULL, &w[i]), ==, 0);
        for (int i = 0; i < 10; i++)
                shaped_pair(&p);
        cpu_per_call("raw etcd, the daemon's 2 transactions, 2 watches", shaped_pair, &p, COUNTED_PAIRS, etcd, d1, d2);
        for (int i = 0; i < 2; i++)
                etcd_watch_free(w[i]);
}

/* --- pylockerd on etcd --- */

static void daemon_start(Harness *h, const char *endpoints, const char *node) {
        g_autofree char *endpoints_arg = g_strconcat("--etcd-endpoints=", endpoints, NULL);
        g_autofree char *node_arg = g_strconcat("--node=", node, NULL);
        const char *args[] = { "--backend=etcd", endpoints_arg, node_arg, "--session-ttl=" SESSION_TTL,
                               "--max-lock-time=1h",
                               g_getenv("PYLOCKER_BENCH_DEBUG") ? "--log-level=debug" : NULL, NULL };

        bench_harness_start(h, args);
}

/* A locker on the daemon's direct socket, once the daemon serves (its etcd session is up: until then
 * Acquire fails as unavailable). */
static PylockerLocker *locker_open_when_available(Harness *h) {
        g_autofree char *direct = harness_direct_socket_path(h);
        PylockerLocker *l = bench_locker_open(h, direct);
        PylockerAcquireOptions options = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        double deadline = bench_now() + 20e6;

        options.flags = PYLOCKER_ACQUIRE_NONBLOCKING;
        for (;;) {
                PylockerError error = PYLOCKER_ERROR_INIT;
                PylockerLock *lock = NULL;

                if (pylocker_locker_acquire_path(l, "/bench/probe", &options, &lock, &error) == 0) {
                        g_assert_cmpint(pylocker_lock_release(lock, &error), ==, PYLOCKER_RELEASE_RELEASED);
                        pylocker_lock_unref(lock);
                        return l;
                }
                if (bench_now() > deadline)
                        g_error("pylockerd did not reach etcd within 20 s: %s", error.message);
                g_usleep(100 * 1000);
        }
}

/* How many keys etcd has under prefix (a blocking request of its own, outside what is timed). */
static unsigned count_keys(const char *url, const char *prefix) {
        g_autofree char *key = g_base64_encode((const guchar *) prefix, strlen(prefix));
        g_autofree char *end_text = g_strdup(prefix);
        g_autofree char *end = NULL, *body = NULL, *answer = NULL;
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonObject *o;

        end_text[strlen(end_text) - 1]++;
        end = g_base64_encode((const guchar *) end_text, strlen(end_text));
        body = g_strdup_printf("{\"key\":\"%s\",\"range_end\":\"%s\",\"count_only\":true}", key, end);
        answer = etcd_cluster_post(url, "/v3/kv/range", body);
        g_assert_nonnull(answer);
        g_assert_true(json_parser_load_from_data(parser, answer, -1, NULL));
        o = json_node_get_object(json_parser_get_root(parser));
        return (unsigned) etcd_json_get_int64(o, "count");
}

/* Processes both lockers until idle, then polls them for up to timeout_ms. */
static void pump2(PylockerLocker *a, PylockerLocker *b, int timeout_ms) {
        PylockerLocker *l[2] = { a, b };
        struct pollfd fds[2];

        for (int i = 0; i < 2; i++) {
                int r;

                while ((r = pylocker_locker_process(l[i])) > 0)
                        ;
                g_assert_cmpint(r, ==, 0);
                fds[i] = (struct pollfd) { .fd = pylocker_locker_get_fd(l[i]),
                                           .events = (short) pylocker_locker_get_events(l[i]) };
        }
        g_assert_cmpint(poll(fds, 2, timeout_ms), >=, 0);
}

typedef struct Grant {
        bool done;
        int r;
        PylockerLock *lock;
        double at;              /* bench_now() when the callback ran */
        char message[256];
} Grant;

static void on_grant(PylockerLocker *locker, int r, PylockerLock *lock, const PylockerError *error, void *userdata) {
        Grant *g = userdata;

        g->at = bench_now();
        g->done = true;
        g->r = r;
        g->lock = lock ? pylocker_lock_ref(lock) : NULL;
        if (r < 0)
                g_strlcpy(g->message, error->message, sizeof(g->message));
}

typedef struct Released {
        bool done;
        int r;
} Released;

static void on_released(PylockerLocker *locker, int r, const PylockerError *error, void *userdata) {
        Released *x = userdata;

        x->done = true;
        x->r = r;
}

/* One hand-over: A holds, B's request waits in etcd, A releases; microseconds from A's release call
 * to B's grant. */
static double handover_round(PylockerLocker *a, PylockerLocker *b, const char *etcd_url, uint64_t *last_token) {
        PylockerAcquireOptions wait = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *held = NULL;
        Grant g = {};
        Released x = {};
        double t0, deadline;

        if (pylocker_locker_acquire_path(a, "/bench/handover", NULL, &held, &error) < 0)
                g_error("A's acquire: %s", error.message);
        g_assert_cmpuint(pylocker_lock_get_token(held), >, *last_token);

        wait.timeout_usec = 30 * UINT64_C(1000000);
        g_assert_cmpint(pylocker_locker_acquire_async(b, PATHS("/bench/handover"), &wait, on_grant, &g, &error), ==, 0);
        /* B's request is in etcd (its record beside A's) and its daemon has read what is ahead of it. */
        deadline = bench_now() + 10e6;
        while (count_keys(etcd_url, "pylocker/r/") < 2) {
                g_assert_cmpfloat(bench_now(), <, deadline);
                pump2(a, b, 1);
        }
        pump2(a, b, 5);
        g_assert_false(g.done);

        t0 = bench_now();
        g_assert_cmpint(pylocker_locker_release_async(a, pylocker_lock_get_id(held), on_released, &x, &error), ==, 0);
        deadline = t0 + 10e6;
        while (!g.done || !x.done) {
                g_assert_cmpfloat(bench_now(), <, deadline);
                pump2(a, b, 100);
        }
        g_assert_cmpint(x.r, ==, PYLOCKER_RELEASE_RELEASED);
        if (g.r < 0)
                g_error("B's acquire: %s", g.message);
        g_assert_cmpuint(pylocker_lock_get_token(g.lock), >, pylocker_lock_get_token(held));
        *last_token = pylocker_lock_get_token(g.lock);
        g_assert_cmpint(pylocker_lock_release(g.lock, &error), ==, PYLOCKER_RELEASE_RELEASED);
        pylocker_lock_unref(g.lock);
        pylocker_lock_unref(held);
        return g.at - t0;
}

int main(int argc, char *argv[]) {
        double seconds = bench_seconds();
        g_autofree char *endpoints = NULL;
        g_autofree double *handover = g_new(double, HANDOVER_ROUNDS);
        BenchLibPair lib = { .path = "/bench/etcd" };
        PylockerLocker *a, *b;
        RawEtcd raw = {};
        EtcdCluster *etcd;
        Harness d1 = {}, d2 = {};
        uint64_t last_token = 0;
        double end;
        unsigned n = 0;
        BenchOp ops[2];

        if (!g_find_program_in_path("etcd")) {
                bench_note("no etcd binary (Debian: etcd-server): no etcd backend figures");
                return 0;
        }

        etcd = etcd_cluster_start(1);
        endpoints = etcd_cluster_endpoints(etcd);
        raw_open(&raw, endpoints);
        daemon_start(&d1, endpoints, "d1");
        daemon_start(&d2, endpoints, "d2");
        lib.locker = locker_open_when_available(&d1);

        ops[0] = (BenchOp) { "etcd.raw.pair.us",
                             "raw etcd: txn put-if-absent (with a lease) + deleterange, 1 client, etcd client on sd-event",
                             raw_pair, &raw };
        ops[1] = (BenchOp) { "etcd.backend.pair.us",
                             "pylockerd --backend=etcd: Acquire+Release, libpylocker-dbus, direct socket, 1 client",
                             bench_lib_pair, &lib };
        bench_ops_run(ops, G_N_ELEMENTS(ops), seconds);

        /* What etcd is asked per pair (KV requests and raft proposals, from its /metrics; the two
         * daemons' keep-alives fall in too, a handful over the few seconds), and where the time goes:
         * CPU per pair of each process, raw pairs against backend pairs. */
        {
                const char *url = etcd_cluster_member_url(etcd, 0);
                GPid etcd_pid = etcd_cluster_member_pid(etcd, 0);
                EtcdCounts c0, c1;

                cpu_per_call("raw etcd", raw_pair, &raw, COUNTED_PAIRS, etcd_pid, d1.daemon_pid, d2.daemon_pid);
                c0 = etcd_counts(url);
                cpu_per_call("etcd backend", bench_lib_pair, &lib, COUNTED_PAIRS, etcd_pid, d1.daemon_pid, d2.daemon_pid);
                c1 = etcd_counts(url);
                bench_note("etcd per backend pair: %.2f txn, %.2f range, %.2f put, %.2f deleterange, %.2f proposals",
                           (c1.txn - c0.txn) / COUNTED_PAIRS, (c1.range - c0.range) / COUNTED_PAIRS,
                           (c1.put - c0.put) / COUNTED_PAIRS, (c1.del - c0.del) / COUNTED_PAIRS,
                           (c1.proposals - c0.proposals) / COUNTED_PAIRS);
                bench_result("etcd.backend.requests_per_pair",
                             (c1.txn - c0.txn + c1.range - c0.range + c1.put - c0.put + c1.del - c0.del) / COUNTED_PAIRS,
                             "requests", "etcd KV requests (txn, range, put, deleterange) per backend pair");
                bench_result("etcd.backend.proposals_per_pair", (c1.proposals - c0.proposals) / COUNTED_PAIRS,
                             "proposals", "etcd raft proposals committed per backend pair");
                if (g_getenv("PYLOCKER_BENCH_ETCD_BREAKDOWN"))
                        shaped_breakdown(&raw, etcd_pid, d1.daemon_pid, d2.daemon_pid);
        }

        /* The hand-overs: up to HANDOVER_ROUNDS, for about the time of one rate measurement. */
        a = locker_open_when_available(&d1);
        b = locker_open_when_available(&d2);
        (void) handover_round(a, b, etcd_cluster_member_url(etcd, 0), &last_token);
        end = bench_now() + seconds * 1e6;
        while (n < HANDOVER_ROUNDS && (n < 50 || bench_now() < end))
                handover[n++] = handover_round(a, b, etcd_cluster_member_url(etcd, 0), &last_token);
        bench_note("hand-over: %u rounds, p90 %.0f us", n, bench_percentile(handover, n, 90));
        bench_result("etcd.handover.p50.us", bench_median(handover, n), "us",
                     "hand-over across two pylockerd on one etcd: A's release call to B's grant, median");

        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
        pylocker_locker_unref(lib.locker);
        harness_stop(&d1);
        harness_stop(&d2);
        raw_close(&raw);
        etcd_cluster_stop(etcd);
        return 0;
}
