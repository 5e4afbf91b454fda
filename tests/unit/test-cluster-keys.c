/* The keys and records of the lock namespace in etcd (src/cluster/cluster-keys.c). */
#include <errno.h>
#include <string.h>

#include "cluster-keys.h"
#include "test-common.h"

static void test_rid(void) {
        char rid[CLUSTER_RID_SIZE + 1];

        g_assert_cmpstr(cluster_rid_format(rid, 0x38a5a2271588cb05, 2), ==, "38a5a2271588cb05-0000000000000002");
        g_assert_cmpuint(strlen(rid), ==, CLUSTER_RID_SIZE);
        /* A negative lease id (etcd's are int64) still makes 16 digits. */
        g_assert_cmpstr(cluster_rid_format(rid, -1, UINT64_MAX), ==, "ffffffffffffffff-ffffffffffffffff");
}

static void test_queue_keys(void) {
        g_autofree char *prefix = cluster_queue_prefix("/srv/backup");
        g_autofree char *x = cluster_queue_key("/srv/backup", false, "38a5a2271588cb05-0000000000000002");
        g_autofree char *s = cluster_queue_key("/srv/backup", true, "38a5a2271588cb05-0000000000000002");
        g_autofree char *other = cluster_queue_prefix("/srv/backup2");
        g_autofree char *big = g_strnfill(4096, 'p');
        g_autofree char *big_prefix = cluster_queue_prefix(big);
        const char *rid = NULL;

        /* base64url of SHA-256("/srv/backup"): one length whatever the path, no '/' or '+' inside. */
        g_assert_true(g_str_has_prefix(prefix, CLUSTER_PREFIX "q/"));
        g_assert_cmpuint(strlen(prefix), ==, strlen(CLUSTER_PREFIX "q/") + 43 + 1);
        g_assert_cmpuint(strlen(big_prefix), ==, strlen(prefix));
        g_assert_null(strpbrk(prefix + strlen(CLUSTER_PREFIX "q/"), "+="));
        g_assert_true(strchr(prefix + strlen(CLUSTER_PREFIX "q/"), '/') == prefix + strlen(prefix) - 1);
        g_assert_cmpstr(prefix, !=, other);
        /* Neither is a prefix of the other: the range of one path's queue holds no other path's keys. */
        g_assert_false(g_str_has_prefix(other, prefix));

        g_assert_true(g_str_has_prefix(x, prefix));
        g_assert_true(g_str_has_prefix(x + strlen(prefix), "x/"));
        g_assert_true(g_str_has_prefix(s + strlen(prefix), "s/"));

        g_assert_cmpint(cluster_key_parse(x, strlen(x), &rid), ==, CLUSTER_KEY_QUEUE);
        g_assert_cmpint(strncmp(rid, "38a5a2271588cb05-0000000000000002", CLUSTER_RID_SIZE), ==, 0);
        g_assert_cmpint(cluster_key_parse(s, strlen(s), NULL), ==, CLUSTER_KEY_QUEUE);
}

static void test_parse(void) {
        static const char *const others[] = {
                "", "pylocker", "pylocker/", "other/r/38a5a2271588cb05-0000000000000002",
                "pylocker/r/38a5a2271588cb05-000000000000000",       /* short */
                "pylocker/r/38A5a2271588cb05-0000000000000002",      /* upper case */
                "pylocker/r/38a5a2271588cb05_0000000000000002",      /* no dash */
                "pylocker/x/38a5a2271588cb05-0000000000000002",
                "pylocker/g/38a5a2271588cb05-0000000000000002",
                "pylocker/token-base2",
        };
        g_autofree char *record = cluster_record_key("38a5a2271588cb05-0000000000000002");
        g_autofree char *message = cluster_message_key("38a5a2271588cb05-0000000000000002");
        const char *rid = NULL;

        g_assert_cmpint(cluster_key_parse(record, strlen(record), &rid), ==, CLUSTER_KEY_RECORD);
        g_assert_true(rid == record + strlen(CLUSTER_PREFIX "r/"));
        g_assert_cmpint(cluster_key_parse(message, strlen(message), NULL), ==, CLUSTER_KEY_MESSAGE);
        g_assert_cmpint(cluster_key_parse(CLUSTER_TOKEN_BASE_KEY, strlen(CLUSTER_TOKEN_BASE_KEY), NULL), ==,
                        CLUSTER_KEY_TOKEN_BASE);
        for (size_t i = 0; i < G_N_ELEMENTS(others); i++)
                g_assert_cmpint(cluster_key_parse(others[i], strlen(others[i]), NULL), ==, CLUSTER_KEY_OTHER);
}

static void test_record(void) {
        const char *paths[] = { "a", "b/ü", NULL };
        ClusterRecord in = {
                .paths = (char **) paths,
                .n_paths = 2,
                .shared = true,
                .node = (char *) "host1",
                .client = (char *) ":1.5",
                .name = (char *) "backup",
                .uid = 1000,
                .lease_usec = 30000000,
                .created_realtime = 1795952025072711,
                .granted = true,
        };
        g_auto(ClusterRecord) out = {};
        g_autofree char *json = NULL;
        size_t size;

        memset(in.lock_id, 0xab, sizeof(in.lock_id));
        json = cluster_record_to_json(&in, &size);
        g_assert_cmpint(cluster_record_from_json(json, size, &out), ==, 0);
        g_assert_cmpmem(out.lock_id, LOCK_ID_SIZE, in.lock_id, LOCK_ID_SIZE);
        g_assert_cmpuint(out.n_paths, ==, 2);
        g_assert_cmpstr(out.paths[1], ==, "b/ü");
        g_assert_true(out.shared);
        g_assert_cmpstr(out.node, ==, "host1");
        g_assert_cmpstr(out.client, ==, ":1.5");
        g_assert_cmpstr(out.name, ==, "backup");
        g_assert_cmpuint(out.uid, ==, 1000);
        g_assert_cmpuint(out.lease_usec, ==, 30000000);
        g_assert_cmpuint(out.created_realtime, ==, 1795952025072711);
        g_assert_true(out.granted);
}

static void test_record_invalid(void) {
        static const char *const bad[] = {
                "", "[]", "{}", "not json",
                "{\"lock\":\"xyz\",\"paths\":[\"a\"],\"shared\":false,\"node\":\"n\",\"client\":\"c\",\"uid\":0,\"lease_usec\":1,\"created_realtime\":1,\"granted\":true}",
                "{\"lock\":\"abababababababababababababababab\",\"paths\":[],\"shared\":false,\"node\":\"n\",\"client\":\"c\",\"uid\":0,\"lease_usec\":1,\"created_realtime\":1,\"granted\":true}",
                "{\"lock\":\"abababababababababababababababab\",\"paths\":[1],\"shared\":false,\"node\":\"n\",\"client\":\"c\",\"uid\":0,\"lease_usec\":1,\"created_realtime\":1,\"granted\":true}",
                "{\"lock\":\"abababababababababababababababab\",\"paths\":[\"a\"],\"shared\":0,\"node\":\"n\",\"client\":\"c\",\"uid\":0,\"lease_usec\":1,\"created_realtime\":1,\"granted\":true}",
                "{\"lock\":\"abababababababababababababababab\",\"paths\":[\"a\"],\"shared\":false,\"client\":\"c\",\"uid\":0,\"lease_usec\":1,\"created_realtime\":1,\"granted\":true}",
                "{\"lock\":\"abababababababababababababababab\",\"paths\":[\"a\"],\"shared\":false,\"node\":\"n\",\"client\":\"c\",\"uid\":-1,\"lease_usec\":1,\"created_realtime\":1,\"granted\":true}",
                "{\"lock\":\"abababababababababababababababab\",\"paths\":[\"a\"],\"shared\":false,\"node\":\"n\",\"client\":\"c\",\"uid\":0,\"lease_usec\":1,\"created_realtime\":1}",
                "{\"lock\":\"abababababababababababababababab\",\"paths\":[\"a\"],\"shared\":false,\"node\":\"n\",\"client\":\"c\",\"uid\":4294967296,\"lease_usec\":1,\"created_realtime\":1,\"granted\":true}",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                ClusterRecord out = {};

                g_assert_cmpint(cluster_record_from_json(bad[i], strlen(bad[i]), &out), ==, -EBADMSG);
                g_assert_null(out.paths);
        }
}

static void test_message(void) {
        const char *receivers[] = { "alice", "d2/:1.3", NULL };
        ClusterMessage in = {
                .node = (char *) "d1",
                .sender = (char *) "d1/:1.7",
                .message = (char *) "hello",
                .receivers = (char **) receivers,
                .n_receivers = 2,
                .expires_realtime = 42,
                .unique = true,
        };
        g_auto(ClusterMessage) out = {};
        g_autofree char *json = NULL;
        size_t size;

        json = cluster_message_to_json(&in, &size);
        g_assert_cmpint(cluster_message_from_json(json, size, &out), ==, 0);
        g_assert_cmpstr(out.node, ==, "d1");
        g_assert_cmpstr(out.sender, ==, "d1/:1.7");
        g_assert_null(out.sender_name);
        g_assert_cmpstr(out.message, ==, "hello");
        g_assert_cmpuint(out.n_receivers, ==, 2);
        g_assert_cmpstr(out.receivers[1], ==, "d2/:1.3");
        g_assert_cmpuint(out.expires_realtime, ==, 42);
        g_assert_true(out.unique);
        g_assert_false(out.replace);

        g_assert_cmpint(cluster_message_from_json("{\"node\":\"d1\"}", 13, &(ClusterMessage) {}), ==, -EBADMSG);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/cluster-keys/rid", test_rid);
        g_test_add_func("/cluster-keys/queue-keys", test_queue_keys);
        g_test_add_func("/cluster-keys/parse", test_parse);
        g_test_add_func("/cluster-keys/record", test_record);
        g_test_add_func("/cluster-keys/record-invalid", test_record_invalid);
        g_test_add_func("/cluster-keys/message", test_message);

        return g_test_run();
}
