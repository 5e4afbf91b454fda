/* The etcd client against real etcd members: the KV, lease and watch calls, its channels, endpoint
 * rotation, timeouts, cancellation; and its pure helpers. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include "etcd-client.h"
#include "etcd-harness.h"
#include "log.h"
#include "test-common.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_event, sd_event_unref)

static EtcdCluster *cluster1;   /* shared by the tests that leave it as they found it */

/* ---- the loop and synchronous calls ---- */

static void run_until(sd_event *e, const bool *flag, uint64_t timeout_usec) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_usec;

        while (!*flag) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_assert_cmpint(sd_event_run(e, 100 * MSEC), >=, 0);
        }
}

static void run_for(sd_event *e, uint64_t usec) {
        gint64 deadline = g_get_monotonic_time() + (gint64) usec;

        while (g_get_monotonic_time() < deadline)
                g_assert_cmpint(sd_event_run(e, 20 * MSEC), >=, 0);
}

typedef struct Reply {
        bool done;
        int error;
        JsonNode *reply;        /* a copy */
        int grpc_code;
        unsigned order;
} Reply;

static unsigned completions;

static void on_reply(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        Reply *r = userdata;

        g_assert_false(r->done);
        r->done = true;
        r->error = error;
        r->grpc_code = etcd_client_last_grpc_code(client);
        r->order = ++completions;
        if (reply) {
                r->reply = json_node_new(JSON_NODE_OBJECT);
                json_node_set_object(r->reply, reply);
        }
}

static void reply_clear(Reply *r) {
        if (r->reply)
                json_node_unref(r->reply);
        *r = (Reply) {};
}

static JsonNode *json(const char *text) {
        g_autoptr(GError) error = NULL;
        JsonNode *n = json_from_string(text, &error);

        g_assert_no_error(error);
        return n;
}

static void start_call(EtcdClient *c, EtcdChannel ch, const char *path, const char *body, uint64_t timeout,
                       Reply *r, EtcdCall **ret) {
        g_assert_cmpint(etcd_client_call(c, ch, path, json(body), timeout, on_reply, r, ret), ==, 0);
}

/* The call's error; *r holds the reply. */
static int call_sync(sd_event *e, EtcdClient *c, EtcdChannel ch, const char *path, const char *body, Reply *r) {
        reply_clear(r);
        start_call(c, ch, path, body, 0, r, NULL);
        run_until(e, &r->done, 20 * SEC);
        return r->error;
}

static JsonObject *obj(Reply *r) {
        g_assert_nonnull(r->reply);
        return json_node_get_object(r->reply);
}

static EtcdClient *client_new(sd_event *e, const char *endpoints) {
        g_auto(GStrv) list = g_strsplit(endpoints, ",", -1);
        EtcdSettings settings = { .endpoints = list, .connect_timeout_usec = 500 * MSEC };
        EtcdClient *c = NULL;

        g_assert_cmpint(etcd_client_new(e, &settings, &c), ==, 0);
        return c;
}

static sd_event *event_new(void) {
        sd_event *e = NULL;

        g_assert_cmpint(sd_event_new(&e), >=, 0);
        return e;
}

static char *b64(const char *s) {
        return g_base64_encode((const guchar *) s, strlen(s));
}

/* A put of key=value: its error. */
static int put(sd_event *e, EtcdClient *c, const char *key, const char *value, int64_t lease) {
        g_autofree char *k = b64(key), *v = b64(value);
        g_autofree char *body = g_strdup_printf("{\"key\":\"%s\",\"value\":\"%s\",\"lease\":\"%" PRIi64 "\"}", k, v, lease);
        Reply r = {};
        int error = call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/put", body, &r);

        reply_clear(&r);
        return error;
}

/* The number of keys under prefix. */
static int64_t count_prefix(sd_event *e, EtcdClient *c, const char *prefix) {
        g_autofree char *end = etcd_prefix_end(prefix, strlen(prefix), NULL);
        g_autofree char *k = b64(prefix), *re = b64(end);
        g_autofree char *body = g_strdup_printf("{\"key\":\"%s\",\"range_end\":\"%s\",\"count_only\":true}", k, re);
        Reply r = {};
        int64_t n;

        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_QUERY, "/v3/kv/range", body, &r), ==, 0);
        n = etcd_json_get_int64(obj(&r), "count");
        reply_clear(&r);
        return n;
}

/* ---- pure helpers ---- */

static void test_prefix_end(void) {
        size_t n;
        g_autofree char *a = etcd_prefix_end("abc", 3, &n);
        g_autofree char *b = etcd_prefix_end("a\xff\xff", 3, &n);
        g_autofree char *c = NULL, *d = NULL, *f = NULL;

        g_assert_cmpuint(n, ==, 1);
        g_assert_cmpmem(b, n, "b", 1);
        f = etcd_prefix_end("abc", 3, &n);
        g_assert_cmpmem(f, n, "abd", 3);
        g_assert_cmpstr(a, ==, "abd");
        c = etcd_prefix_end("\xff\xff", 2, &n);
        g_assert_cmpuint(n, ==, 1);
        g_assert_cmpint(c[0], ==, 0);
        d = etcd_prefix_end("x\xfe", 2, &n);
        g_assert_cmpuint(n, ==, 2);
        g_assert_cmpmem(d, n, "x\xff", 2);
        g_free(c);
        c = etcd_prefix_end("", 0, &n);
        g_assert_cmpuint(n, ==, 1);
        g_assert_cmpint(c[0], ==, 0);
}

static void test_bytes(void) {
        const char data[] = { 'k', 0, (char) 0xff, '/' };
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree guchar *back = NULL, *empty = NULL;
        JsonObject *o;
        size_t n = 0;

        json_builder_begin_object(b);
        etcd_json_add_bytes(b, "key", data, sizeof(data));
        etcd_json_add_bytes(b, "empty", "", 0);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        o = json_node_get_object(root);

        g_assert_cmpstr(json_object_get_string_member(o, "key"), ==, "awD/Lw==");
        back = etcd_json_get_bytes(o, "key", &n);
        g_assert_cmpmem(back, n, data, sizeof(data));
        empty = etcd_json_get_bytes(o, "empty", &n);
        g_assert_nonnull(empty);
        g_assert_cmpuint(n, ==, 0);
        g_assert_null(etcd_json_get_bytes(o, "absent", NULL));
}

static void test_int64(void) {
        g_autoptr(JsonNode) n = json("{\"a\":\"123\",\"b\":\"-9223372036854775808\",\"c\":7,\"d\":\"x1\","
                                     "\"e\":\"9223372036854775808\",\"f\":true}");
        JsonObject *o = json_node_get_object(n);

        g_assert_cmpint(etcd_json_get_int64(o, "a"), ==, 123);
        g_assert_cmpint(etcd_json_get_int64(o, "b"), ==, INT64_MIN);
        g_assert_cmpint(etcd_json_get_int64(o, "c"), ==, 7);
        g_assert_cmpint(etcd_json_get_int64(o, "d"), ==, 0);
        g_assert_cmpint(etcd_json_get_int64(o, "e"), ==, 0);
        g_assert_cmpint(etcd_json_get_int64(o, "f"), ==, 0);
        g_assert_cmpint(etcd_json_get_int64(o, "absent"), ==, 0);
}

/* ---- against etcd ---- */

static void test_kv(void) {
        g_autoptr(sd_event) e = event_new();
        g_autofree char *eps = etcd_cluster_endpoints(cluster1);
        g_autoptr(EtcdClient) c = client_new(e, eps);
        g_autofree char *k = b64("kv/a"), *p = b64("kv/"), *pe = NULL, *v = b64("one");
        g_autofree char *pend = etcd_prefix_end("kv/", 3, NULL);
        g_autofree char *txn = NULL, *body = NULL;
        g_autofree guchar *value = NULL;
        Reply r = {};
        JsonArray *kvs;
        size_t n;

        pe = b64(pend);
        g_assert_cmpstr(etcd_client_get_endpoint(c), ==, etcd_cluster_member_url(cluster1, 0));

        g_assert_cmpint(put(e, c, "kv/a", "one", 0), ==, 0);
        body = g_strdup_printf("{\"key\":\"%s\"}", k);
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/range", body, &r), ==, 0);
        kvs = json_object_get_array_member(obj(&r), "kvs");
        g_assert_cmpuint(json_array_get_length(kvs), ==, 1);
        value = etcd_json_get_bytes(json_array_get_object_element(kvs, 0), "value", &n);
        g_assert_cmpmem(value, n, "one", 3);
        g_assert_cmpint(etcd_json_get_int64(json_object_get_object_member(obj(&r), "header"), "revision"), >, 1);

        /* "No key under kv/": false now, so the failure branch runs (a range of the prefix). */
        txn = g_strdup_printf("{\"compare\":[{\"key\":\"%s\",\"range_end\":\"%s\",\"target\":\"CREATE\","
                              "\"result\":\"EQUAL\",\"create_revision\":\"0\"}],"
                              "\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}],"
                              "\"failure\":[{\"request_range\":{\"key\":\"%s\",\"range_end\":\"%s\"}}]}",
                              p, pe, k, v, p, pe);
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/txn", txn, &r), ==, 0);
        g_assert_false(json_object_get_boolean_member_with_default(obj(&r), "succeeded", FALSE));
        g_assert_true(json_object_has_member(json_array_get_object_element(
                json_object_get_array_member(obj(&r), "responses"), 0), "response_range"));

        /* Deleted, the condition holds and the success branch runs. */
        g_free(body);
        body = g_strdup_printf("{\"key\":\"%s\",\"range_end\":\"%s\"}", p, pe);
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/deleterange", body, &r), ==, 0);
        g_assert_cmpint(etcd_json_get_int64(obj(&r), "deleted"), ==, 1);
        g_assert_cmpint(count_prefix(e, c, "kv/"), ==, 0);

        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/txn", txn, &r), ==, 0);
        g_assert_true(json_object_get_boolean_member_with_default(obj(&r), "succeeded", FALSE));
        g_assert_cmpint(count_prefix(e, c, "kv/"), ==, 1);
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/deleterange", body, &r), ==, 0);

        /* A gateway error: -EPROTO and the gRPC code (3, InvalidArgument: a number is no key). */
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/range", "{\"key\":1}", &r), ==, -EPROTO);
        g_assert_null(r.reply);
        g_assert_cmpint(r.grpc_code, ==, 3);
        reply_clear(&r);
}

static void test_lease(void) {
        g_autoptr(sd_event) e = event_new();
        g_autofree char *eps = etcd_cluster_endpoints(cluster1);
        g_autoptr(EtcdClient) c = client_new(e, eps);
        g_autofree char *id_body = NULL;
        Reply r = {};
        int64_t id;

        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_LEASE, "/v3/lease/grant", "{\"TTL\":\"30\"}", &r), ==, 0);
        id = etcd_json_get_int64(obj(&r), "ID");
        g_assert_cmpint(id, >, 0);
        g_assert_cmpint(etcd_json_get_int64(obj(&r), "TTL"), ==, 30);

        g_assert_cmpint(put(e, c, "lease/k", "v", id), ==, 0);
        g_assert_cmpint(count_prefix(e, c, "lease/"), ==, 1);

        /* The keep-alive is a stream on the gateway: its one result is the reply. */
        id_body = g_strdup_printf("{\"ID\":\"%" PRIi64 "\"}", id);
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_LEASE, "/v3/lease/keepalive", id_body, &r), ==, 0);
        g_assert_cmpint(etcd_json_get_int64(obj(&r), "ID"), ==, id);
        g_assert_cmpint(etcd_json_get_int64(obj(&r), "TTL"), ==, 30);

        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_LEASE, "/v3/lease/revoke", id_body, &r), ==, 0);
        g_assert_cmpint(count_prefix(e, c, "lease/"), ==, 0);

        /* Revoked: a keep-alive says TTL 0, a second revoke is NotFound (5). */
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_LEASE, "/v3/lease/keepalive", id_body, &r), ==, 0);
        g_assert_cmpint(etcd_json_get_int64(obj(&r), "TTL"), ==, 0);
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_LEASE, "/v3/lease/revoke", id_body, &r), ==, -EPROTO);
        g_assert_cmpint(r.grpc_code, ==, 5);
        reply_clear(&r);
}

typedef struct WatchLog {
        GPtrArray *events;      /* "PUT key value" / "DELETE key" */
        int64_t last_revision;
        bool ended;
        int error;
        int64_t compact_revision;
} WatchLog;

static void on_watch_event(EtcdWatch *w, JsonObject *result, void *userdata) {
        WatchLog *log = userdata;
        JsonArray *events = json_object_get_array_member(result, "events");

        for (guint i = 0; i < json_array_get_length(events); i++) {
                JsonObject *ev = json_array_get_object_element(events, i);
                JsonObject *kv = json_object_get_object_member(ev, "kv");
                /* PUT is the enum's zero: the gateway leaves it out. */
                const char *type = json_object_get_string_member_with_default(ev, "type", "PUT");
                g_autofree guchar *key = etcd_json_get_bytes(kv, "key", NULL);
                g_autofree guchar *value = etcd_json_get_bytes(kv, "value", NULL);

                g_ptr_array_add(log->events, g_strdup_printf("%s %s%s%s", type, (char *) key,
                                                             value ? " " : "", value ? (char *) value : ""));
                log->last_revision = etcd_json_get_int64(kv, "mod_revision");
        }
}

static void on_watch_ended(EtcdWatch *w, int error, int64_t compact_revision, void *userdata) {
        WatchLog *log = userdata;

        g_assert_false(log->ended);
        log->ended = true;
        log->error = error;
        log->compact_revision = compact_revision;
}

static void test_watch(void) {
        g_autoptr(sd_event) e = event_new();
        g_autofree char *eps = etcd_cluster_endpoints(cluster1);
        g_autoptr(EtcdClient) c = client_new(e, eps);
        g_autofree char *end = etcd_prefix_end("w/", 2, NULL);
        g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
        WatchLog log = { .events = events };
        g_autoptr(EtcdWatch) w = NULL;
        g_autofree char *p = b64("w/"), *pe = b64(end), *body = NULL;
        Reply r = {};

        g_assert_cmpint(etcd_client_watch(c, "w/", 2, end, strlen(end), 0, on_watch_event, on_watch_ended, &log, &w), ==, 0);
        run_for(e, 300 * MSEC);         /* created */

        g_assert_cmpint(put(e, c, "w/a", "1", 0), ==, 0);
        g_assert_cmpint(put(e, c, "other", "x", 0), ==, 0);
        g_assert_cmpint(put(e, c, "w/b", "2", 0), ==, 0);
        g_assert_cmpint(put(e, c, "w/a", "3", 0), ==, 0);
        body = g_strdup_printf("{\"key\":\"%s\",\"range_end\":\"%s\"}", p, pe);
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/deleterange", body, &r), ==, 0);
        reply_clear(&r);

        for (gint64 deadline = g_get_monotonic_time() + 10 * SEC; events->len < 5;) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_assert_cmpint(sd_event_run(e, 100 * MSEC), >=, 0);
        }
        g_assert_cmpuint(events->len, ==, 5);
        g_assert_cmpstr(events->pdata[0], ==, "PUT w/a 1");
        g_assert_cmpstr(events->pdata[1], ==, "PUT w/b 2");
        g_assert_cmpstr(events->pdata[2], ==, "PUT w/a 3");
        /* One deleterange, two events, in key order. */
        g_assert_cmpstr(events->pdata[3], ==, "DELETE w/a");
        g_assert_cmpstr(events->pdata[4], ==, "DELETE w/b");
        g_assert_false(log.ended);
        g_assert_cmpuint(events->len, ==, 5);

        /* Restarting from a revision replays from there. */
        {
                g_autoptr(GPtrArray) events2 = g_ptr_array_new_with_free_func(g_free);
                WatchLog log2 = { .events = events2 };
                g_autoptr(EtcdWatch) w2 = NULL;

                g_assert_cmpint(etcd_client_watch(c, "w/b", 3, NULL, 0, log.last_revision - 1, on_watch_event,
                                                  on_watch_ended, &log2, &w2), ==, 0);
                for (gint64 deadline = g_get_monotonic_time() + 10 * SEC; events2->len < 1;) {
                        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                        g_assert_cmpint(sd_event_run(e, 100 * MSEC), >=, 0);
                }
                g_assert_cmpstr(events2->pdata[0], ==, "DELETE w/b");
        }
}

static void test_watch_compacted(void) {
        g_autoptr(sd_event) e = event_new();
        g_autofree char *eps = etcd_cluster_endpoints(cluster1);
        g_autoptr(EtcdClient) c = client_new(e, eps);
        g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
        WatchLog log = { .events = events };
        g_autoptr(EtcdWatch) w = NULL;
        g_autofree char *body = NULL;
        Reply r = {};
        int64_t rev;

        g_assert_cmpint(put(e, c, "compact/a", "1", 0), ==, 0);
        g_assert_cmpint(put(e, c, "compact/a", "2", 0), ==, 0);
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/range", "{\"key\":\"Y29tcGFjdC9h\"}", &r), ==, 0);
        rev = etcd_json_get_int64(json_object_get_object_member(obj(&r), "header"), "revision");
        body = g_strdup_printf("{\"revision\":\"%" PRIi64 "\",\"physical\":true}", rev);
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/compaction", body, &r), ==, 0);
        reply_clear(&r);

        g_assert_cmpint(etcd_client_watch(c, "compact/a", 9, NULL, 0, rev - 1, on_watch_event, on_watch_ended,
                                          &log, &w), ==, 0);
        run_until(e, &log.ended, 10 * SEC);
        g_assert_cmpint(log.error, ==, -ESTALE);
        g_assert_cmpint(log.compact_revision, ==, rev);
        g_assert_cmpuint(events->len, ==, 0);
}

static void test_channels(void) {
        g_autoptr(sd_event) e = event_new();
        g_autofree char *eps = etcd_cluster_endpoints(cluster1);
        g_autoptr(EtcdClient) c = client_new(e, eps);
        g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
        WatchLog log = { .events = events };
        g_autoptr(EtcdWatch) w = NULL;
        g_autoptr(GString) big = g_string_new(NULL);
        g_autofree char *bigb64 = NULL;
        enum { N = 60 };
        Reply txns[N] = {}, lease = {};

        g_assert_cmpint(etcd_client_watch(c, "ch/", 3, "ch0", 3, 0, on_watch_event, on_watch_ended, &log, &w), ==, 0);

        /* A long queue of transactions, each with 128 puts of 4 KiB: the lease call goes after them
         * in time but on its own connection. */
        for (int i = 0; i < 4096; i++)
                g_string_append_c(big, 'a' + i % 26);
        bigb64 = b64(big->str);
        for (int i = 0; i < N; i++) {
                g_autoptr(GString) t = g_string_new("{\"success\":[");

                for (int j = 0; j < 128; j++) {
                        g_autofree char *key = g_strdup_printf("ch/%d/%d", i, j);
                        g_autofree char *k = b64(key);

                        g_string_append_printf(t, "%s{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}",
                                               j > 0 ? "," : "", k, bigb64);
                }
                g_string_append(t, "]}");
                start_call(c, ETCD_CHANNEL_TXN, "/v3/kv/txn", t->str, 30 * SEC, &txns[i], NULL);
        }
        completions = 0;
        start_call(c, ETCD_CHANNEL_LEASE, "/v3/lease/grant", "{\"TTL\":\"10\"}", 0, &lease, NULL);

        run_until(e, &lease.done, 20 * SEC);
        g_assert_cmpint(lease.error, ==, 0);
        g_assert_cmpint(etcd_json_get_int64(obj(&lease), "TTL"), ==, 10);
        g_assert_false(txns[N - 1].done);
        g_assert_false(log.ended);

        /* The transactions complete in the order they were made. */
        run_until(e, &txns[N - 1].done, 60 * SEC);
        for (int i = 0; i < N; i++) {
                g_assert_true(txns[i].done);
                g_assert_cmpint(txns[i].error, ==, 0);
                if (i > 0)
                        g_assert_cmpuint(txns[i].order, >, txns[i - 1].order);
                reply_clear(&txns[i]);
        }
        g_assert_cmpuint(txns[0].order, ==, 0);
        reply_clear(&lease);

        for (gint64 deadline = g_get_monotonic_time() + 10 * SEC; events->len < N * 128;) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_assert_cmpint(sd_event_run(e, 100 * MSEC), >=, 0);
        }
        g_assert_false(log.ended);
        {
                Reply r = {};
                g_autofree char *body = g_strdup_printf("{\"key\":\"%s\",\"range_end\":\"Y2gw\"}", "Y2gv");

                g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/deleterange", body, &r), ==, 0);
                g_assert_cmpint(etcd_json_get_int64(obj(&r), "deleted"), ==, N * 128);
                reply_clear(&r);
        }
}

static void test_rotation(void) {
        g_autoptr(sd_event) e = event_new();
        g_autofree char *dead = g_strdup_printf("http://127.0.0.1:%d", test_free_tcp_port(AF_INET));
        g_autofree char *eps = g_strdup_printf("%s,%s", dead, etcd_cluster_member_url(cluster1, 0));
        g_autoptr(EtcdClient) c = client_new(e, eps);
        Reply a = {}, b = {};

        g_assert_cmpstr(etcd_client_get_endpoint(c), ==, dead);
        /* Two channels fail on the dead endpoint together: it moves on once, not twice. */
        start_call(c, ETCD_CHANNEL_TXN, "/v3/kv/range", "{\"key\":\"eA==\"}", 0, &a, NULL);
        start_call(c, ETCD_CHANNEL_QUERY, "/v3/kv/range", "{\"key\":\"eA==\"}", 0, &b, NULL);
        run_until(e, &a.done, 10 * SEC);
        run_until(e, &b.done, 10 * SEC);
        g_assert_cmpint(a.error, ==, -ECONNREFUSED);
        g_assert_cmpint(b.error, ==, -ECONNREFUSED);
        g_assert_cmpstr(etcd_client_get_endpoint(c), ==, etcd_cluster_member_url(cluster1, 0));

        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/range", "{\"key\":\"eA==\"}", &a), ==, 0);
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_LEASE, "/v3/lease/grant", "{\"TTL\":\"5\"}", &b), ==, 0);
        reply_clear(&a);
        reply_clear(&b);
}

static void test_cancel(void) {
        g_autoptr(sd_event) e = event_new();
        g_autofree char *eps = etcd_cluster_endpoints(cluster1);
        g_autoptr(EtcdClient) c = client_new(e, eps);
        Reply inflight = {}, queued = {}, after = {};
        EtcdCall *call1 = NULL, *call2 = NULL;

        start_call(c, ETCD_CHANNEL_TXN, "/v3/kv/put", "{\"key\":\"Y2FuY2Vs\",\"value\":\"MQ==\"}", 0, &inflight, &call1);
        start_call(c, ETCD_CHANNEL_TXN, "/v3/kv/put", "{\"key\":\"Y2FuY2Vs\",\"value\":\"Mg==\"}", 0, &queued, &call2);
        start_call(c, ETCD_CHANNEL_TXN, "/v3/kv/range", "{\"key\":\"Y2FuY2Vs\"}", 0, &after, NULL);
        /* The first goes out, the others wait in the queue. */
        g_assert_cmpint(sd_event_run(e, 0), >=, 0);
        etcd_call_cancel(call2);
        etcd_call_cancel(call1);

        run_until(e, &after.done, 10 * SEC);
        g_assert_cmpint(after.error, ==, 0);
        run_for(e, 300 * MSEC);
        g_assert_false(inflight.done);
        g_assert_false(queued.done);
        /* The queued put never went out. */
        if (json_object_has_member(obj(&after), "kvs")) {
                g_autofree guchar *v = etcd_json_get_bytes(json_array_get_object_element(
                        json_object_get_array_member(obj(&after), "kvs"), 0), "value", NULL);

                g_assert_cmpstr((char *) v, ==, "1");
        }
        reply_clear(&after);
}

static void test_free_in_flight(void) {
        g_autoptr(sd_event) e = event_new();
        g_autofree char *eps = etcd_cluster_endpoints(cluster1);
        EtcdClient *c = client_new(e, eps);
        g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
        WatchLog log = { .events = events };
        g_autoptr(EtcdWatch) w = NULL;
        Reply r[6] = {};

        g_assert_cmpint(etcd_client_watch(c, "free/", 5, NULL, 0, 0, on_watch_event, on_watch_ended, &log, &w), ==, 0);
        for (int i = 0; i < 6; i++)
                start_call(c, (EtcdChannel) (i % _ETCD_CHANNEL_MAX), i % 3 == 0 ? "/v3/lease/grant" : "/v3/kv/range",
                           i % 3 == 0 ? "{\"TTL\":\"5\"}" : "{\"key\":\"eA==\"}", 0, &r[i], NULL);
        g_assert_cmpint(sd_event_run(e, 0), >=, 0);
        g_assert_cmpint(sd_event_run(e, 0), >=, 0);
        c = etcd_client_free(c);
        run_for(e, 300 * MSEC);
        for (int i = 0; i < 6; i++)
                g_assert_false(r[i].done);
        g_assert_false(log.ended);
}

/* Freeing the client from a reply callback, with other calls in flight. */
static void on_reply_free(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        EtcdClient **c = userdata;

        g_assert_cmpint(error, ==, 0);
        *c = etcd_client_free(*c);
}

static void test_free_in_callback(void) {
        g_autoptr(sd_event) e = event_new();
        g_autofree char *eps = etcd_cluster_endpoints(cluster1);
        EtcdClient *c = client_new(e, eps);
        Reply other = {};

        g_assert_cmpint(etcd_client_call(c, ETCD_CHANNEL_LEASE, "/v3/lease/grant", json("{\"TTL\":\"5\"}"), 0,
                                         on_reply_free, &c, NULL), ==, 0);
        start_call(c, ETCD_CHANNEL_TXN, "/v3/kv/range", "{\"key\":\"eA==\"}", 0, &other, NULL);
        /* The callback sets c to NULL. */
        for (gint64 deadline = g_get_monotonic_time() + 10 * SEC;;) {
                if (!c)
                        break;
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_assert_cmpint(sd_event_run(e, 100 * MSEC), >=, 0);
        }
        run_for(e, 200 * MSEC);
        reply_clear(&other);
}

static void test_timeout(void) {
        g_autoptr(EtcdCluster) cl = etcd_cluster_start(1);
        g_autoptr(sd_event) e = event_new();
        g_autofree char *eps = etcd_cluster_endpoints(cl);
        g_autoptr(EtcdClient) c = client_new(e, eps);
        Reply r = {};
        gint64 start;

        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/range", "{\"key\":\"eA==\"}", &r), ==, 0);
        reply_clear(&r);

        g_assert_cmpint(kill(etcd_cluster_member_pid(cl, 0), SIGSTOP), ==, 0);
        start = g_get_monotonic_time();
        start_call(c, ETCD_CHANNEL_TXN, "/v3/kv/range", "{\"key\":\"eA==\"}", 700 * MSEC, &r, NULL);
        run_until(e, &r.done, 10 * SEC);
        g_assert_cmpint(r.error, ==, -ETIMEDOUT);
        g_assert_cmpint(g_get_monotonic_time() - start, >=, 600 * MSEC);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 3 * SEC);
        g_assert_cmpint(kill(etcd_cluster_member_pid(cl, 0), SIGCONT), ==, 0);

        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_TXN, "/v3/kv/range", "{\"key\":\"eA==\"}", &r), ==, 0);
        reply_clear(&r);
}

static void test_cluster_member_killed(void) {
        g_autoptr(EtcdCluster) cl = etcd_cluster_start(3);
        g_autoptr(sd_event) e = event_new();
        g_autofree char *eps = etcd_cluster_endpoints(cl);
        g_autoptr(EtcdClient) c = client_new(e, eps);
        g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
        WatchLog log = { .events = events };
        g_autoptr(EtcdWatch) w = NULL;
        int leader, failures = 0;

        leader = etcd_cluster_leader(cl);
        g_test_message("member %d leads; member 0 will be killed", leader);
        g_assert_cmpint(leader, >=, 0);
        g_assert_cmpint(put(e, c, "k3/a", "1", 0), ==, 0);
        g_assert_cmpint(etcd_client_watch(c, "k3/", 3, "k30", 3, 0, on_watch_event, on_watch_ended, &log, &w), ==, 0);
        run_for(e, 300 * MSEC);

        /* The member the client talks to goes; the watch on it ends, calls go on through the
         * others. Until the others elected a leader (if the dead one was), a call may fail or time
         * out: the caller retries, a few times at most. */
        etcd_cluster_kill_member(cl, 0);
        for (int r = -1; r < 0; failures++) {
                g_assert_cmpint(failures, <, 4);
                r = put(e, c, "k3/a", "first", 0);
                g_assert_true(r == 0 || r == -ECONNREFUSED || r == -ECONNRESET || r == -ETIMEDOUT || r == -EPROTO);
        }
        for (int i = 0; i < 20; i++) {
                g_autofree char *value = g_strdup_printf("%d", i);

                g_assert_cmpint(put(e, c, "k3/a", value, 0), ==, 0);
        }
        g_assert_cmpstr(etcd_client_get_endpoint(c), !=, etcd_cluster_member_url(cl, 0));
        run_until(e, &log.ended, 10 * SEC);
        g_assert_cmpint(log.error, <, 0);

        /* Back, it catches up, and a new watch on the others sees what it missed. */
        etcd_cluster_restart_member(cl, 0);
        g_assert_cmpint(etcd_cluster_leader(cl), >=, 0);
        {
                g_autoptr(GPtrArray) events2 = g_ptr_array_new_with_free_func(g_free);
                WatchLog log2 = { .events = events2 };
                g_autoptr(EtcdWatch) w2 = NULL;

                g_assert_cmpint(etcd_client_watch(c, "k3/", 3, "k30", 3, 0, on_watch_event, on_watch_ended,
                                                  &log2, &w2), ==, 0);
                run_for(e, 300 * MSEC);
                g_assert_cmpint(put(e, c, "k3/a", "last", 0), ==, 0);
                for (gint64 deadline = g_get_monotonic_time() + 10 * SEC; events2->len < 1;) {
                        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                        g_assert_cmpint(sd_event_run(e, 100 * MSEC), >=, 0);
                }
                g_assert_cmpstr(events2->pdata[0], ==, "PUT k3/a last");
        }
}

static void etcdctl(const char *endpoint, const char *const *args) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autoptr(GError) error = NULL;
        int status;

        g_ptr_array_add(argv, (char *) "etcdctl");
        g_ptr_array_add(argv, (char *) "--endpoints");
        g_ptr_array_add(argv, (char *) endpoint);
        for (; *args; args++)
                g_ptr_array_add(argv, (char *) *args);
        g_ptr_array_add(argv, NULL);
        g_assert_true(g_spawn_sync(NULL, (char **) argv->pdata, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                                   NULL, NULL, NULL, NULL, &status, &error));
        g_assert_no_error(error);
        g_assert_cmpint(status, ==, 0);
}

static void test_auth(void) {
        g_autoptr(EtcdCluster) cl = etcd_cluster_start(1);
        const char *url = etcd_cluster_member_url(cl, 0);
        g_autoptr(sd_event) e = event_new();
        char *endpoints[] = { (char *) url, NULL };
        EtcdSettings settings = { .endpoints = endpoints, .user = "root", .password = "pw" };
        g_autoptr(EtcdClient) c = NULL, bad = NULL, none = NULL;
        g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
        WatchLog log = { .events = events };
        g_autoptr(EtcdWatch) w = NULL;
        Reply r = {};

        etcdctl(url, PATHS("user", "add", "root:pw"));
        etcdctl(url, PATHS("auth", "enable"));

        g_assert_cmpint(etcd_client_new(e, &settings, &c), ==, 0);
        g_assert_cmpint(etcd_client_watch(c, "auth/", 5, NULL, 0, 0, on_watch_event, on_watch_ended, &log, &w), ==, 0);
        run_for(e, 300 * MSEC);
        g_assert_cmpint(put(e, c, "auth/", "1", 0), ==, 0);
        g_assert_cmpint(call_sync(e, c, ETCD_CHANNEL_LEASE, "/v3/lease/grant", "{\"TTL\":\"5\"}", &r), ==, 0);
        for (gint64 deadline = g_get_monotonic_time() + 10 * SEC; events->len < 1;) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_assert_cmpint(sd_event_run(e, 100 * MSEC), >=, 0);
        }
        g_assert_cmpstr(events->pdata[0], ==, "PUT auth/ 1");

        /* Without a user, the gateway refuses; with a wrong password, authentication does. */
        settings.user = NULL;
        g_assert_cmpint(etcd_client_new(e, &settings, &none), ==, 0);
        g_assert_cmpint(call_sync(e, none, ETCD_CHANNEL_TXN, "/v3/kv/range", "{\"key\":\"eA==\"}", &r), ==, -EPROTO);
        settings.user = "root";
        settings.password = "wrong";
        g_assert_cmpint(etcd_client_new(e, &settings, &bad), ==, 0);
        g_assert_cmpint(call_sync(e, bad, ETCD_CHANNEL_TXN, "/v3/kv/range", "{\"key\":\"eA==\"}", &r), ==, -EACCES);
        reply_clear(&r);
}

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);
        if (g_getenv("ETCD_TEST_DEBUG"))
                log_set_max_level(LOG_DEBUG);

        g_test_add_func("/etcd/helpers/prefix-end", test_prefix_end);
        g_test_add_func("/etcd/helpers/bytes", test_bytes);
        g_test_add_func("/etcd/helpers/int64", test_int64);
        g_test_add_func("/etcd/kv", test_kv);
        g_test_add_func("/etcd/lease", test_lease);
        g_test_add_func("/etcd/watch", test_watch);
        g_test_add_func("/etcd/watch-compacted", test_watch_compacted);
        g_test_add_func("/etcd/channels", test_channels);
        g_test_add_func("/etcd/rotation", test_rotation);
        g_test_add_func("/etcd/cancel", test_cancel);
        g_test_add_func("/etcd/free-in-flight", test_free_in_flight);
        g_test_add_func("/etcd/free-in-callback", test_free_in_callback);
        g_test_add_func("/etcd/timeout", test_timeout);
        g_test_add_func("/etcd/cluster/member-killed", test_cluster_member_killed);
        g_test_add_func("/etcd/auth", test_auth);

        /* Only if a test that needs it runs (-p picks some). */
        cluster1 = etcd_cluster_start(1);
        r = g_test_run();
        etcd_cluster_stop(cluster1);
        return r;
}
