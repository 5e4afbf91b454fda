/* The keys and records of the lock namespace in etcd. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "cluster-keys.h"

char *cluster_rid_format(char buf[CLUSTER_RID_SIZE + 1], int64_t lease_id, uint64_t seq) {
        g_snprintf(buf, CLUSTER_RID_SIZE + 1, "%016" PRIx64 "-%016" PRIx64, (uint64_t) lease_id, seq);
        return buf;
}

/* base64url without padding of SHA-256: 43 characters. */
#define PATH_HASH_SIZE 43

static void path_hash(const char *path, char ret[PATH_HASH_SIZE + 1]) {
        g_autoptr(GChecksum) checksum = g_checksum_new(G_CHECKSUM_SHA256);
        guint8 digest[32];
        gsize n = sizeof(digest);
        g_autofree char *b64 = NULL;

        g_checksum_update(checksum, (const guchar *) path, strlen(path));
        g_checksum_get_digest(checksum, digest, &n);
        b64 = g_base64_encode(digest, n);
        for (size_t i = 0; i < PATH_HASH_SIZE; i++)
                ret[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
        ret[PATH_HASH_SIZE] = 0;
}

char *cluster_queue_prefix(const char *path) {
        char hash[PATH_HASH_SIZE + 1];

        path_hash(path, hash);
        return g_strconcat(CLUSTER_PREFIX "q/", hash, "/", NULL);
}

char *cluster_queue_key(const char *path, bool shared, const char *rid) {
        char hash[PATH_HASH_SIZE + 1];

        path_hash(path, hash);
        return g_strconcat(CLUSTER_PREFIX "q/", hash, shared ? "/s/" : "/x/", rid, NULL);
}

char *cluster_record_key(const char *rid) {
        return g_strconcat(CLUSTER_PREFIX "r/", rid, NULL);
}

char *cluster_message_key(const char *rid) {
        return g_strconcat(CLUSTER_PREFIX "m/", rid, NULL);
}

static bool rid_valid(const char *s, size_t size) {
        if (size != CLUSTER_RID_SIZE)
                return false;
        for (size_t i = 0; i < size; i++)
                if (i == 16 ? s[i] != '-' : !g_ascii_isxdigit(s[i]) || g_ascii_isupper(s[i]))
                        return false;
        return true;
}

ClusterKeyKind cluster_key_parse(const char *key, size_t size, const char **ret_rid) {
        const size_t prefix = strlen(CLUSTER_PREFIX);
        const char *rest;
        size_t n;

        if (size < prefix || memcmp(key, CLUSTER_PREFIX, prefix) != 0)
                return CLUSTER_KEY_OTHER;
        rest = key + prefix;
        n = size - prefix;
        if (size == strlen(CLUSTER_TOKEN_BASE_KEY) && memcmp(key, CLUSTER_TOKEN_BASE_KEY, size) == 0)
                return CLUSTER_KEY_TOKEN_BASE;

        if (n == 2 + CLUSTER_RID_SIZE && (rest[0] == 'r' || rest[0] == 'm') && rest[1] == '/' &&
            rid_valid(rest + 2, CLUSTER_RID_SIZE)) {
                if (ret_rid)
                        *ret_rid = rest + 2;
                return rest[0] == 'r' ? CLUSTER_KEY_RECORD : CLUSTER_KEY_MESSAGE;
        }

        /* q/<43>/<x|s>/<rid> */
        if (n == 2 + PATH_HASH_SIZE + 3 + CLUSTER_RID_SIZE && rest[0] == 'q' && rest[1] == '/' &&
            rest[2 + PATH_HASH_SIZE] == '/' && (rest[3 + PATH_HASH_SIZE] == 'x' || rest[3 + PATH_HASH_SIZE] == 's') &&
            rest[4 + PATH_HASH_SIZE] == '/' && rid_valid(rest + 5 + PATH_HASH_SIZE, CLUSTER_RID_SIZE)) {
                if (ret_rid)
                        *ret_rid = rest + 5 + PATH_HASH_SIZE;
                return CLUSTER_KEY_QUEUE;
        }
        return CLUSTER_KEY_OTHER;
}

void cluster_record_clear(ClusterRecord *record) {
        g_clear_pointer(&record->paths, g_strfreev);
        g_clear_pointer(&record->node, g_free);
        g_clear_pointer(&record->client, g_free);
        g_clear_pointer(&record->name, g_free);
        record->n_paths = 0;
}

ClusterRecord *cluster_record_free(ClusterRecord *record) {
        if (record) {
                cluster_record_clear(record);
                g_free(record);
        }
        return NULL;
}

/* ---- writing: members of one object, then its text ---- */

static void put_string(JsonBuilder *b, const char *name, const char *value) {
        json_builder_set_member_name(b, name);
        json_builder_add_string_value(b, value);
}

static void put_int(JsonBuilder *b, const char *name, gint64 value) {
        json_builder_set_member_name(b, name);
        json_builder_add_int_value(b, value);
}

static void put_bool(JsonBuilder *b, const char *name, bool value) {
        json_builder_set_member_name(b, name);
        json_builder_add_boolean_value(b, value);
}

static void put_strv(JsonBuilder *b, const char *name, char *const *v, size_t n) {
        json_builder_set_member_name(b, name);
        json_builder_begin_array(b);
        for (size_t i = 0; i < n; i++)
                json_builder_add_string_value(b, v[i]);
        json_builder_end_array(b);
}

/* Ends the builder's object and gives its text (g_free). */
static char *builder_to_text(JsonBuilder *b, size_t *ret_size) {
        g_autoptr(JsonGenerator) generator = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        gsize size;
        char *text;

        json_builder_end_object(b);
        root = json_builder_get_root(b);
        json_generator_set_root(generator, root);
        text = json_generator_to_data(generator, &size);
        if (ret_size)
                *ret_size = size;
        return text;
}

char *cluster_record_to_json(const ClusterRecord *record, size_t *ret_size) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        char id[LOCK_ID_STRING_MAX];

        json_builder_begin_object(b);
        put_string(b, "lock", lock_id_to_string(record->lock_id, id));
        put_strv(b, "paths", record->paths, record->n_paths);
        put_bool(b, "shared", record->shared);
        put_string(b, "node", record->node);
        put_string(b, "client", record->client);
        if (record->name)
                put_string(b, "name", record->name);
        put_int(b, "uid", record->uid);
        put_int(b, "lease_usec", (gint64) record->lease_usec);
        put_int(b, "created_realtime", (gint64) record->created_realtime);
        put_bool(b, "granted", record->granted);
        return builder_to_text(b, ret_size);
}

static const char *member_string(JsonObject *object, const char *name) {
        JsonNode *node = json_object_get_member(object, name);

        return node && JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING ?
                json_node_get_string(node) : NULL;
}

static bool member_int(JsonObject *object, const char *name, gint64 min, gint64 *ret) {
        JsonNode *node = json_object_get_member(object, name);

        if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
                return false;
        *ret = json_node_get_int(node);
        return *ret >= min;
}

static bool member_bool(JsonObject *object, const char *name, bool *ret) {
        JsonNode *node = json_object_get_member(object, name);

        if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN)
                return false;
        *ret = json_node_get_boolean(node);
        return true;
}

/* The object a JSON text holds, or NULL. */
static JsonObject *parse_object(JsonParser *parser, const char *text, size_t size) {
        JsonNode *node;

        if (!json_parser_load_from_data(parser, text, (gssize) size, NULL))
                return NULL;
        node = json_parser_get_root(parser);
        return node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

/* An array of strings (g_strfreev), or NULL when it is not one. */
static char **member_strv(JsonObject *object, const char *name, size_t *ret_n) {
        JsonNode *node = json_object_get_member(object, name);
        g_auto(GStrv) v = NULL;
        JsonArray *array;
        size_t n;

        if (!node || !JSON_NODE_HOLDS_ARRAY(node))
                return NULL;
        array = json_node_get_array(node);
        n = json_array_get_length(array);
        v = g_new0(char *, n + 1);
        for (size_t i = 0; i < n; i++) {
                JsonNode *element = json_array_get_element(array, (guint) i);

                if (!JSON_NODE_HOLDS_VALUE(element) || json_node_get_value_type(element) != G_TYPE_STRING)
                        return NULL;
                v[i] = g_strdup(json_node_get_string(element));
        }
        *ret_n = n;
        return g_steal_pointer(&v);
}

int cluster_record_from_json(const char *text, size_t size, ClusterRecord *ret) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_auto(ClusterRecord) record = {};
        JsonObject *object;
        const char *s;
        gint64 v;

        object = parse_object(parser, text, size);
        if (!object)
                return -EBADMSG;

        s = member_string(object, "lock");
        if (!s || lock_id_from_string(s, record.lock_id) < 0)
                return -EBADMSG;
        record.paths = member_strv(object, "paths", &record.n_paths);
        if (!record.paths || record.n_paths == 0)
                return -EBADMSG;

        if (!member_bool(object, "shared", &record.shared))
                return -EBADMSG;

        s = member_string(object, "node");
        if (!s)
                return -EBADMSG;
        record.node = g_strdup(s);
        s = member_string(object, "client");
        if (!s)
                return -EBADMSG;
        record.client = g_strdup(s);
        record.name = g_strdup(member_string(object, "name"));

        if (!member_int(object, "uid", 0, &v) || v > UINT32_MAX)
                return -EBADMSG;
        record.uid = (uid_t) v;
        if (!member_int(object, "lease_usec", 0, &v))
                return -EBADMSG;
        record.lease_usec = (uint64_t) v;
        if (!member_int(object, "created_realtime", 0, &v))
                return -EBADMSG;
        record.created_realtime = (uint64_t) v;
        if (!member_bool(object, "granted", &record.granted))
                return -EBADMSG;

        *ret = record;
        record = (ClusterRecord) {};
        return 0;
}

void cluster_message_clear(ClusterMessage *message) {
        g_clear_pointer(&message->node, g_free);
        g_clear_pointer(&message->sender, g_free);
        g_clear_pointer(&message->sender_name, g_free);
        g_clear_pointer(&message->message, g_free);
        g_clear_pointer(&message->receivers, g_strfreev);
        message->n_receivers = 0;
}

char *cluster_message_to_json(const ClusterMessage *message, size_t *ret_size) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        put_string(b, "node", message->node);
        put_string(b, "sender", message->sender);
        if (message->sender_name)
                put_string(b, "sender_name", message->sender_name);
        put_string(b, "message", message->message);
        put_strv(b, "receivers", message->receivers, message->n_receivers);
        put_int(b, "expires_realtime", (gint64) message->expires_realtime);
        put_bool(b, "unique", message->unique);
        put_bool(b, "replace", message->replace);
        return builder_to_text(b, ret_size);
}

int cluster_message_from_json(const char *text, size_t size, ClusterMessage *ret) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_auto(ClusterMessage) message = {};
        JsonObject *object;
        const char *s;
        gint64 v;

        object = parse_object(parser, text, size);
        if (!object)
                return -EBADMSG;

        if (!(s = member_string(object, "node")))
                return -EBADMSG;
        message.node = g_strdup(s);
        if (!(s = member_string(object, "sender")))
                return -EBADMSG;
        message.sender = g_strdup(s);
        message.sender_name = g_strdup(member_string(object, "sender_name"));
        if (!(s = member_string(object, "message")))
                return -EBADMSG;
        message.message = g_strdup(s);

        message.receivers = member_strv(object, "receivers", &message.n_receivers);
        if (!message.receivers)
                return -EBADMSG;
        if (!member_int(object, "expires_realtime", 0, &v))
                return -EBADMSG;
        message.expires_realtime = (uint64_t) v;
        if (!member_bool(object, "unique", &message.unique) || !member_bool(object, "replace", &message.replace))
                return -EBADMSG;

        *ret = message;
        message = (ClusterMessage) {};
        return 0;
}
