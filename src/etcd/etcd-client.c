/* A client of etcd's v3 JSON gateway on sd-event. Each channel owns one easy handle, reused so that
 * its keep-alive connection is too, and sends one call at a time; the rest wait in its queue. Every
 * user callback runs from the event loop, never from inside libcurl, so that it may make, cancel or
 * free anything. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <curl/curl.h>

#include "curl-glue.h"
#include "etcd-client.h"
#include "log.h"
#include "macro.h"

#define DEFAULT_CONNECT_TIMEOUT_USEC (2 * USEC_PER_SEC)
#define DEFAULT_CALL_TIMEOUT_USEC (5 * USEC_PER_SEC)

typedef struct Channel {
        EtcdClient *client;
        EtcdChannel id;
        CURL *easy;
        GQueue queue;                   /* EtcdCall, waiting to be sent */
        EtcdCall *current;              /* in flight */
        sd_event_source *kick;          /* sends the next call from the loop */
        bool waiting_auth;
} Channel;

struct EtcdCall {
        EtcdClient *client;
        Channel *channel;
        CurlTransfer transfer;
        GList link;                     /* in the channel's queue while waiting */
        char *path;
        char *body;
        uint64_t timeout_usec;
        EtcdReplyFunc callback;
        void *userdata;
        size_t endpoint;                /* the index it was sent to */
        GByteArray *response;
        struct curl_slist *headers;
        bool completing;
        bool reauthenticated;           /* resent once after an auth error already */
        bool stream_done;               /* a whole streamed message came; the rest is not waited for */
};

struct EtcdWatch {
        EtcdClient *client;             /* NULL once the client is gone */
        CURL *easy;
        CurlTransfer transfer;
        char *body;
        struct curl_slist *headers;
        GByteArray *buffer;
        sd_event_source *process;
        EtcdWatchEventFunc event;
        EtcdWatchEndedFunc ended;
        void *userdata;
        size_t endpoint;
        CURLcode result;
        bool active;                    /* in the multi */
        bool finished;                  /* the transfer is over, result is set */
        bool waiting_auth;
        bool is_ended;
        unsigned n_busy;
        bool freed;
};

struct EtcdClient {
        sd_event *event;
        CurlGlue *glue;
        char **endpoints;
        size_t n_endpoints;
        size_t current;
        char *ca_file;
        char *cert_file;
        char *key_file;
        char *user;
        char *password;
        uint64_t connect_timeout_usec;
        Channel channels[_ETCD_CHANNEL_MAX];
        GList *watches;

        char *token;
        CURL *auth_easy;
        CurlTransfer auth_transfer;
        GByteArray *auth_response;
        struct curl_slist *auth_headers;
        char *auth_body;
        size_t auth_endpoint;
        bool authenticating;

        int last_grpc_code;
        unsigned n_busy;
        bool freed;
};

static void client_destroy(EtcdClient *client);
static void watch_destroy(EtcdWatch *watch);
static void auth_start(EtcdClient *client);

/* ---- helpers ---- */

void etcd_json_add_bytes(JsonBuilder *builder, const char *member, const void *data, size_t size) {
        g_autofree char *encoded = g_base64_encode(data, size);

        json_builder_set_member_name(builder, member);
        json_builder_add_string_value(builder, encoded);
}

guchar *etcd_json_get_bytes(JsonObject *object, const char *member, size_t *ret_size) {
        JsonNode *node = object ? json_object_get_member(object, member) : NULL;
        const char *s;
        gsize size;
        guchar *data;

        if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
                return NULL;
        s = json_node_get_string(node);
        data = g_base64_decode(s, &size);
        /* g_base64_decode() gives NULL for "": an empty value is still there. */
        if (!data)
                data = g_malloc0(1);
        if (ret_size)
                *ret_size = size;
        return data;
}

int64_t etcd_json_get_int64(JsonObject *object, const char *member) {
        JsonNode *node = object ? json_object_get_member(object, member) : NULL;
        gint64 v;

        if (!node || !JSON_NODE_HOLDS_VALUE(node))
                return 0;
        if (json_node_get_value_type(node) == G_TYPE_INT64)
                return json_node_get_int(node);
        if (json_node_get_value_type(node) != G_TYPE_STRING)
                return 0;
        if (!g_ascii_string_to_signed(json_node_get_string(node), 10, INT64_MIN, INT64_MAX, &v, NULL))
                return 0;
        return v;
}

char *etcd_prefix_end(const char *prefix, size_t size, size_t *ret_size) {
        char *end;

        /* etcd's convention: no byte to increment (empty, or all 0xff) means "to the end", "\0". */
        while (size > 0 && (unsigned char) prefix[size - 1] == 0xff)
                size--;
        if (size == 0) {
                if (ret_size)
                        *ret_size = 1;
                return g_malloc0(2);
        }

        end = g_malloc(size + 1);
        memcpy(end, prefix, size);
        end[size - 1] = (char) ((unsigned char) end[size - 1] + 1);
        end[size] = 0;
        if (ret_size)
                *ret_size = size;
        return end;
}

/* ---- errors and endpoints ---- */

static bool curl_error_is_connection(CURLcode r) {
        switch (r) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
                return true;
        default:
                return false;
        }
}

static int curl_error_to_errno(CURL *easy, CURLcode r) {
        long os_errno = 0;

        switch (r) {
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_RESOLVE_HOST:
                return -EHOSTUNREACH;
        case CURLE_COULDNT_CONNECT:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
                /* What the socket said (ECONNREFUSED, EHOSTUNREACH, ECONNRESET...) when curl kept it. */
                if (curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno > 0)
                        return (int) -os_errno;
                return r == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -ECONNRESET;
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
                return -ECONNRESET;
        case CURLE_SSL_CONNECT_ERROR:
                return -ECONNABORTED;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
                return -EACCES;
        default:
                return -EIO;
        }
}

/* The endpoint that failed is left for the calls that follow, unless another failure moved on
 * already (calls of several channels fail together when an endpoint dies). */
static void client_rotate(EtcdClient *client, size_t failed, CURLcode r) {
        if (client->n_endpoints < 2 || failed != client->current)
                return;
        client->current = (client->current + 1) % client->n_endpoints;
        log_debug("etcd endpoint %s failed (%s), using %s now.",
                  client->endpoints[failed], curl_easy_strerror(r), client->endpoints[client->current]);
}

const char *etcd_client_get_endpoint(const EtcdClient *client) {
        return client->endpoints[client->current];
}

int etcd_client_last_grpc_code(const EtcdClient *client) {
        return client->last_grpc_code;
}

static size_t write_to_array(char *data, size_t size, size_t n, void *userdata) {
        g_byte_array_append(userdata, (const guint8 *) data, size * n);
        return size * n;
}

static int easy_setup_common(EtcdClient *client, CURL *easy) {
        if (curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) (client->connect_timeout_usec / USEC_PER_MSEC)) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_POST, 1L) != CURLE_OK)
                return -EINVAL;
        if (client->ca_file && curl_easy_setopt(easy, CURLOPT_CAINFO, client->ca_file) != CURLE_OK)
                return -EINVAL;
        if (client->cert_file && curl_easy_setopt(easy, CURLOPT_SSLCERT, client->cert_file) != CURLE_OK)
                return -EINVAL;
        if (client->key_file && curl_easy_setopt(easy, CURLOPT_SSLKEY, client->key_file) != CURLE_OK)
                return -EINVAL;
        return 0;
}

/* JSON bodies; "Expect:" off, or curl waits a second for a "100 Continue" before larger bodies. */
static struct curl_slist *make_headers(EtcdClient *client) {
        struct curl_slist *headers = NULL;

        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = curl_slist_append(headers, "Expect:");
        if (client->token) {
                g_autofree char *h = g_strconcat("Authorization: ", client->token, NULL);
                headers = curl_slist_append(headers, h);
        }
        return headers;
}

static char *endpoint_url(EtcdClient *client, size_t endpoint, const char *path) {
        const char *base = client->endpoints[endpoint];
        size_t n = strlen(base);

        /* "http://host:2379/" and "/v3/kv/put" make one slash. */
        while (n > 0 && base[n - 1] == '/')
                n--;
        return g_strdup_printf("%.*s%s", (int) n, base, path);
}

static bool is_auth_error(int grpc_code, const char *message) {
        /* An expired or unknown token, or none (a request without one is refused as from the empty
         * user name). */
        return grpc_code == 16 ||
               (message && (strstr(message, "invalid auth token") || strstr(message, "user name is empty")));
}

/* ---- calls ---- */

static void call_free(EtcdCall *call) {
        if (!call)
                return;
        g_free(call->path);
        g_free(call->body);
        if (call->response)
                g_byte_array_unref(call->response);
        curl_slist_free_all(call->headers);
        g_free(call);
}

static void channel_kick(Channel *channel) {
        if (channel->current || g_queue_is_empty(&channel->queue))
                return;
        (void) sd_event_source_set_enabled(channel->kick, SD_EVENT_ONESHOT);
}

/* Calls the callback and frees the call; false when the client was freed meanwhile. */
static bool call_complete(EtcdCall *call, int error, JsonObject *reply) {
        EtcdClient *client = call->client;
        Channel *channel = call->channel;

        if (channel->current == call)
                channel->current = NULL;
        else
                g_queue_unlink(&channel->queue, &call->link);

        call->completing = true;
        client->n_busy++;
        call->callback(client, error, reply, call->userdata);
        client->n_busy--;
        call_free(call);

        if (client->freed) {
                if (client->n_busy == 0)
                        client_destroy(client);
                return false;
        }
        channel_kick(channel);
        return true;
}

static size_t call_write(char *data, size_t size, size_t n, void *userdata) {
        EtcdCall *call = userdata;
        const guint8 *nl;

        g_byte_array_append(call->response, (const guint8 *) data, size * n);

        /* A streaming endpoint (/v3/lease/keepalive) may keep the response open after its one
         * message: one whole {"result": ...} line is the reply, the transfer is ended there. */
        nl = memchr(call->response->data, '\n', call->response->len);
        if (nl && call->response->len > 10 && memcmp(call->response->data, "{\"result\":", 10) == 0) {
                call->stream_done = true;
                return 0;
        }
        return size * n;
}

static void call_done(CurlTransfer *transfer, CURLcode r);

static int channel_send(Channel *channel, EtcdCall *call) {
        EtcdClient *client = channel->client;
        g_autofree char *url = NULL;
        CURL *easy = channel->easy;

        call->endpoint = client->current;
        url = endpoint_url(client, call->endpoint, call->path);
        curl_slist_free_all(call->headers);
        call->headers = make_headers(client);
        if (call->response)
                g_byte_array_set_size(call->response, 0);
        else
                call->response = g_byte_array_new();
        call->stream_done = false;
        call->transfer.done = call_done;

        if (curl_easy_setopt(easy, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_HTTPHEADER, call->headers) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(call->body)) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call->body) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) (call->timeout_usec / USEC_PER_MSEC)) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_WRITEDATA, call) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_PRIVATE, &call->transfer) != CURLE_OK)
                return -EINVAL;

        channel->current = call;
        return curl_glue_add(client->glue, easy);
}

static int on_channel_kick(sd_event_source *source, void *userdata) {
        Channel *channel = userdata;
        EtcdClient *client = channel->client;
        EtcdCall *call;
        GList *l;
        int r;

        if (channel->current || g_queue_is_empty(&channel->queue))
                return 0;

        if (client->user && !client->token) {
                channel->waiting_auth = true;
                auth_start(client);
                return 0;
        }

        l = g_queue_pop_head_link(&channel->queue);
        call = l->data;
        r = channel_send(channel, call);
        if (r < 0) {
                channel->current = NULL;
                g_queue_push_head_link(&channel->queue, &call->link);
                client->last_grpc_code = -1;
                (void) call_complete(call, r, NULL);
        }
        return 0;
}

/* Parses a gateway body: the object, or NULL. */
static JsonParser *parse_body(const GByteArray *body, JsonObject **ret) {
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonNode *root;

        *ret = NULL;
        if (!json_parser_load_from_data(parser, (const char *) body->data, (gssize) body->len, NULL))
                return NULL;
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root))
                return NULL;
        *ret = json_node_get_object(root);
        return g_steal_pointer(&parser);
}

static void call_done(CurlTransfer *transfer, CURLcode r) {
        EtcdCall *call = container_of(transfer, EtcdCall, transfer);
        EtcdClient *client = call->client;
        g_autoptr(JsonParser) parser = NULL;
        JsonObject *object = NULL, *reply = NULL;
        const char *message = NULL;
        long status = 0;
        size_t len;
        int error = 0;

        client->last_grpc_code = -1;

        if (r == CURLE_WRITE_ERROR && call->stream_done) {
                /* The first line alone. */
                len = (const guint8 *) memchr(call->response->data, '\n', call->response->len) - call->response->data;
                g_byte_array_set_size(call->response, len);
                r = CURLE_OK;
                status = 200;
        } else if (r == CURLE_OK)
                (void) curl_easy_getinfo(call->channel->easy, CURLINFO_RESPONSE_CODE, &status);

        if (r != CURLE_OK) {
                error = curl_error_to_errno(call->channel->easy, r);
                log_debug("etcd call %s on %s failed: %s", call->path, client->endpoints[call->endpoint],
                          curl_easy_strerror(r));
                if (curl_error_is_connection(r))
                        client_rotate(client, call->endpoint, r);
                (void) call_complete(call, error, NULL);
                return;
        }

        parser = parse_body(call->response, &object);
        if (object && status == 200) {
                JsonNode *n;

                /* A streamed message: {"result": {...}} or {"error": {"grpc_code": N, ...}}. */
                if ((n = json_object_get_member(object, "result")) && JSON_NODE_HOLDS_OBJECT(n))
                        reply = json_node_get_object(n);
                else if ((n = json_object_get_member(object, "error")) && JSON_NODE_HOLDS_OBJECT(n)) {
                        JsonObject *e = json_node_get_object(n);

                        client->last_grpc_code = (int) json_object_get_int_member_with_default(e, "grpc_code", -1);
                        message = json_object_get_string_member_with_default(e, "message", NULL);
                        error = -EPROTO;
                } else
                        reply = object;
        } else if (object) {
                client->last_grpc_code = (int) json_object_get_int_member_with_default(object, "code", -1);
                message = json_object_get_string_member_with_default(object, "message", NULL);
                error = -EPROTO;
        } else
                error = -EPROTO;

        if (error < 0) {
                log_debug("etcd call %s failed with HTTP status %ld, gRPC code %d: %s", call->path, status,
                          client->last_grpc_code, message ?: "(no JSON error body)");

                if (client->user && !call->reauthenticated && is_auth_error(client->last_grpc_code, message)) {
                        Channel *channel = call->channel;

                        /* The token expired (or the server forgot it): a new one, and the call once
                         * more, first in its queue. */
                        call->reauthenticated = true;
                        g_clear_pointer(&client->token, g_free);
                        channel->current = NULL;
                        g_queue_push_head_link(&channel->queue, &call->link);
                        channel_kick(channel);
                        return;
                }
        }

        (void) call_complete(call, error, error < 0 ? NULL : reply);
}

int etcd_client_call(EtcdClient *client,
                     EtcdChannel channel,
                     const char *path,
                     JsonNode *body,
                     uint64_t timeout_usec,
                     EtcdReplyFunc callback,
                     void *userdata,
                     EtcdCall **ret) {
        EtcdCall *call;

        g_return_val_if_fail(client, -EINVAL);
        g_return_val_if_fail(channel >= 0 && channel < _ETCD_CHANNEL_MAX, -EINVAL);
        g_return_val_if_fail(path, -EINVAL);
        g_return_val_if_fail(callback, -EINVAL);

        call = g_new0(EtcdCall, 1);
        call->client = client;
        call->channel = &client->channels[channel];
        call->link.data = call;
        call->path = g_strdup(path);
        call->body = body ? json_to_string(body, FALSE) : g_strdup("{}");
        call->timeout_usec = timeout_usec > 0 ? timeout_usec : DEFAULT_CALL_TIMEOUT_USEC;
        call->callback = callback;
        call->userdata = userdata;
        if (body)
                json_node_unref(body);

        g_queue_push_tail_link(&call->channel->queue, &call->link);
        channel_kick(call->channel);

        if (ret)
                *ret = call;
        return 0;
}

int etcd_client_call_blocking(EtcdClient *client, const char *path, JsonNode *body, uint64_t timeout_usec) {
        g_autoptr(JsonNode) owned = body;
        g_autoptr(JsonGenerator) generator = json_generator_new();
        g_autoptr(GByteArray) answer = g_byte_array_new();
        g_autofree char *text = NULL, *url = NULL;
        struct curl_slist *headers;
        long status = 0;
        CURLcode c;
        CURL *easy;
        int r;

        json_generator_set_root(generator, owned);
        text = json_generator_to_data(generator, NULL);
        url = endpoint_url(client, client->current, path);

        easy = curl_easy_init();
        if (!easy)
                return -ENOMEM;
        headers = make_headers(client);
        r = easy_setup_common(client, easy);
        if (r >= 0 &&
            (curl_easy_setopt(easy, CURLOPT_URL, url) != CURLE_OK ||
             curl_easy_setopt(easy, CURLOPT_POSTFIELDS, text) != CURLE_OK ||
             curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
             curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) MAX(timeout_usec / USEC_PER_MSEC, 1)) != CURLE_OK ||
             curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_to_array) != CURLE_OK ||
             curl_easy_setopt(easy, CURLOPT_WRITEDATA, answer) != CURLE_OK))
                r = -EINVAL;
        if (r >= 0) {
                c = curl_easy_perform(easy);
                if (c != CURLE_OK)
                        r = curl_error_to_errno(easy, c);
                else if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200)
                        r = -EPROTO;
        }
        curl_easy_cleanup(easy);
        curl_slist_free_all(headers);
        return r;
}

void etcd_call_cancel(EtcdCall *call) {
        Channel *channel;

        if (!call || call->completing)
                return;

        channel = call->channel;
        if (channel->current == call) {
                /* The connection goes with it: an unfinished response cannot be skipped. */
                curl_glue_remove(channel->client->glue, channel->easy);
                channel->current = NULL;
                channel_kick(channel);
        } else
                g_queue_unlink(&channel->queue, &call->link);
        call_free(call);
}

/* ---- authentication ---- */

static void auth_done(CurlTransfer *transfer, CURLcode r);

static void auth_start(EtcdClient *client) {
        g_autoptr(JsonBuilder) builder = NULL;
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *url = NULL;
        CURL *easy = client->auth_easy;

        if (client->authenticating)
                return;

        builder = json_builder_new();
        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, "name");
        json_builder_add_string_value(builder, client->user);
        json_builder_set_member_name(builder, "password");
        json_builder_add_string_value(builder, client->password ?: "");
        json_builder_end_object(builder);
        root = json_builder_get_root(builder);

        g_free(client->auth_body);
        client->auth_body = json_to_string(root, FALSE);
        g_byte_array_set_size(client->auth_response, 0);
        client->auth_endpoint = client->current;
        url = endpoint_url(client, client->auth_endpoint, "/v3/auth/authenticate");
        client->auth_transfer.done = auth_done;

        if (curl_easy_setopt(easy, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_HTTPHEADER, client->auth_headers) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(client->auth_body)) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_POSTFIELDS, client->auth_body) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) (DEFAULT_CALL_TIMEOUT_USEC / USEC_PER_MSEC)) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_WRITEDATA, client->auth_response) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_PRIVATE, &client->auth_transfer) != CURLE_OK ||
            curl_glue_add(client->glue, easy) < 0) {
                log_warning("Cannot start authenticating to etcd.");
                return;
        }
        client->authenticating = true;
}

static void watch_end(EtcdWatch *watch, int error, int64_t compact_revision);
static void watch_start(EtcdWatch *watch);

static void auth_done(CurlTransfer *transfer, CURLcode r) {
        EtcdClient *client = container_of(transfer, EtcdClient, auth_transfer);
        g_autoptr(JsonParser) parser = NULL;
        JsonObject *object = NULL;
        const char *token = NULL;
        long status = 0;
        int error = 0;

        client->authenticating = false;

        if (r != CURLE_OK) {
                error = curl_error_to_errno(client->auth_easy, r);
                if (curl_error_is_connection(r))
                        client_rotate(client, client->auth_endpoint, r);
        } else {
                (void) curl_easy_getinfo(client->auth_easy, CURLINFO_RESPONSE_CODE, &status);
                parser = parse_body(client->auth_response, &object);
                if (object)
                        token = json_object_get_string_member_with_default(object, "token", NULL);
                if (status != 200 || !token) {
                        client->last_grpc_code = object ? (int) json_object_get_int_member_with_default(object, "code", -1) : -1;
                        /* A wrong user name or password is code 3, "authentication failed". */
                        error = client->last_grpc_code == 3 ? -EACCES : -EPROTO;
                }
        }

        if (error < 0)
                log_warning_errno(error, "Authenticating as %s to etcd at %s failed: %m", client->user,
                                  client->endpoints[client->auth_endpoint]);
        else {
                g_free(client->token);
                client->token = g_strdup(token);
                log_debug("Authenticated as %s to etcd.", client->user);
        }

        /* Everything that waited: sent now, or failed with the reason. One failed call per channel;
         * the next in its queue tries again. */
        for (EtcdChannel i = 0; i < _ETCD_CHANNEL_MAX; i++) {
                Channel *channel = &client->channels[i];

                if (!channel->waiting_auth)
                        continue;
                channel->waiting_auth = false;
                if (error < 0 && !g_queue_is_empty(&channel->queue)) {
                        EtcdCall *call = g_queue_peek_head(&channel->queue);

                        if (!call_complete(call, error, NULL))
                                return;
                } else
                        channel_kick(channel);
        }

        for (GList *l = client->watches; l; ) {
                EtcdWatch *watch = l->data;

                l = l->next;
                if (!watch->waiting_auth)
                        continue;
                watch->waiting_auth = false;
                if (error < 0)
                        watch_end(watch, error, 0);
                else
                        watch_start(watch);
                if (client->freed)
                        return;
        }
}

/* ---- watches ---- */

static size_t watch_write(char *data, size_t size, size_t n, void *userdata) {
        EtcdWatch *watch = userdata;

        /* Looked at from the loop: the callbacks may do anything, which libcurl's may not. */
        g_byte_array_append(watch->buffer, (const guint8 *) data, size * n);
        if (memchr(data, '\n', size * n))
                (void) sd_event_source_set_enabled(watch->process, SD_EVENT_ONESHOT);
        return size * n;
}

static void watch_done(CurlTransfer *transfer, CURLcode r) {
        EtcdWatch *watch = container_of(transfer, EtcdWatch, transfer);

        watch->active = false;
        watch->finished = true;
        watch->result = r;
        (void) sd_event_source_set_enabled(watch->process, SD_EVENT_ONESHOT);
}

static void watch_stop(EtcdWatch *watch) {
        if (watch->active && watch->client)
                curl_glue_remove(watch->client->glue, watch->easy);
        watch->active = false;
        watch->waiting_auth = false;
        if (watch->process)
                (void) sd_event_source_set_enabled(watch->process, SD_EVENT_OFF);
}

/* Calls ended (once); the watch is inert afterwards. */
static void watch_end(EtcdWatch *watch, int error, int64_t compact_revision) {
        EtcdClient *client = watch->client;

        if (watch->is_ended)
                return;
        watch->is_ended = true;
        watch_stop(watch);

        watch->n_busy++;
        if (client)
                client->n_busy++;
        watch->ended(watch, error, compact_revision, watch->userdata);
        if (client) {
                client->n_busy--;
                if (client->freed && client->n_busy == 0)
                        client_destroy(client);
        }
        watch->n_busy--;
        if (watch->freed && watch->n_busy == 0)
                watch_destroy(watch);
}

static void watch_start(EtcdWatch *watch) {
        EtcdClient *client = watch->client;
        g_autofree char *url = NULL;

        if (client->user && !client->token) {
                watch->waiting_auth = true;
                auth_start(client);
                return;
        }

        watch->endpoint = client->current;
        url = endpoint_url(client, watch->endpoint, "/v3/watch");
        curl_slist_free_all(watch->headers);
        watch->headers = make_headers(client);
        /* etcd's require-leader: a member cut off from the majority ends the watch rather than let it
         * go quiet, so the watcher moves to another one. */
        watch->headers = curl_slist_append(watch->headers, "Grpc-Metadata-hasleader: true");
        watch->transfer.done = watch_done;

        if (curl_easy_setopt(watch->easy, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(watch->easy, CURLOPT_HTTPHEADER, watch->headers) != CURLE_OK ||
            curl_easy_setopt(watch->easy, CURLOPT_POSTFIELDSIZE, (long) strlen(watch->body)) != CURLE_OK ||
            curl_easy_setopt(watch->easy, CURLOPT_POSTFIELDS, watch->body) != CURLE_OK ||
            curl_glue_add(client->glue, watch->easy) < 0) {
                watch->finished = true;
                watch->result = CURLE_FAILED_INIT;
                (void) sd_event_source_set_enabled(watch->process, SD_EVENT_ONESHOT);
                return;
        }
        watch->active = true;
}

/* One message of the stream; false when the watch ended (or was freed) meanwhile. */
static bool watch_message(EtcdWatch *watch, const char *line, size_t size) {
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonObject *object, *result;
        JsonNode *root, *n, *events;

        if (!json_parser_load_from_data(parser, line, (gssize) size, NULL) ||
            !(root = json_parser_get_root(parser)) || !JSON_NODE_HOLDS_OBJECT(root)) {
                log_debug("etcd watch sent what is not a JSON object: %.*s", (int) MIN(size, 200), line);
                watch_end(watch, -EPROTO, 0);
                return false;
        }
        object = json_node_get_object(root);

        n = json_object_get_member(object, "result");
        if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
                JsonNode *e = json_object_get_member(object, "error");

                log_debug("etcd watch failed: %s", e && JSON_NODE_HOLDS_OBJECT(e) ?
                          json_object_get_string_member_with_default(json_node_get_object(e), "message", "?") : "?");
                watch_end(watch, -EPROTO, 0);
                return false;
        }
        result = json_node_get_object(n);

        if (json_object_get_boolean_member_with_default(result, "canceled", FALSE)) {
                int64_t compact = etcd_json_get_int64(result, "compact_revision");
                const char *reason = json_object_get_string_member_with_default(result, "cancel_reason", NULL);
                int error = compact > 0 ? -ESTALE : -EPROTO;

                log_debug("etcd watch cancelled by the server (compact revision %" PRIi64 "): %s", compact,
                          reason ?: "no reason given");
                if (reason && watch->client && is_auth_error(-1, reason)) {
                        /* A restart authenticates anew. */
                        g_clear_pointer(&watch->client->token, g_free);
                        error = -EACCES;
                }
                watch_end(watch, error, compact);
                return false;
        }

        events = json_object_get_member(result, "events");
        if (!events || !JSON_NODE_HOLDS_ARRAY(events) || json_array_get_length(json_node_get_array(events)) == 0)
                return true;    /* created, or a progress notification */

        watch->n_busy++;
        watch->event(watch, result, watch->userdata);
        watch->n_busy--;
        if (watch->freed) {
                if (watch->n_busy == 0)
                        watch_destroy(watch);
                return false;
        }
        return !watch->is_ended && watch->client;
}

static int on_watch_process(sd_event_source *source, void *userdata) {
        EtcdWatch *watch = userdata;
        g_autoptr(GByteArray) buffer = NULL;
        size_t start = 0;

        if (watch->is_ended)
                return 0;

        /* Taken, so that a callback freeing the watch frees nothing still read here. */
        buffer = g_steal_pointer(&watch->buffer);
        watch->buffer = g_byte_array_new();

        while (start < buffer->len) {
                const guint8 *nl = memchr(buffer->data + start, '\n', buffer->len - start);
                size_t end;

                if (!nl)
                        break;
                end = nl - buffer->data;
                if (end > start && !watch_message(watch, (const char *) buffer->data + start, end - start))
                        return 0;
                start = end + 1;
        }
        if (start < buffer->len)
                g_byte_array_append(watch->buffer, buffer->data + start, buffer->len - start);

        if (watch->finished) {
                EtcdClient *client = watch->client;
                int error = 0;

                if (watch->result != CURLE_OK) {
                        error = curl_error_to_errno(watch->easy, watch->result);
                        log_debug("etcd watch on %s failed: %s", client->endpoints[watch->endpoint],
                                  curl_easy_strerror(watch->result));
                        if (curl_error_is_connection(watch->result))
                                client_rotate(client, watch->endpoint, watch->result);
                } else {
                        long status = 0;

                        (void) curl_easy_getinfo(watch->easy, CURLINFO_RESPONSE_CODE, &status);
                        if (status != 200) {
                                log_debug("etcd watch answered with HTTP status %ld.", status);
                                error = -EPROTO;
                        }
                }
                watch_end(watch, error, 0);
        }
        return 0;
}

int etcd_client_watch(EtcdClient *client,
                      const char *key,
                      size_t key_size,
                      const char *range_end,
                      size_t range_end_size,
                      int64_t start_revision,
                      EtcdWatchEventFunc event,
                      EtcdWatchEndedFunc ended,
                      void *userdata,
                      EtcdWatch **ret) {
        g_autoptr(JsonBuilder) builder = NULL;
        g_autoptr(JsonNode) root = NULL;
        EtcdWatch *watch;
        int r;

        g_return_val_if_fail(client, -EINVAL);
        g_return_val_if_fail(key, -EINVAL);
        g_return_val_if_fail(event, -EINVAL);
        g_return_val_if_fail(ended, -EINVAL);
        g_return_val_if_fail(ret, -EINVAL);

        builder = json_builder_new();
        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, "create_request");
        json_builder_begin_object(builder);
        etcd_json_add_bytes(builder, "key", key, key_size);
        if (range_end)
                etcd_json_add_bytes(builder, "range_end", range_end, range_end_size);
        if (start_revision > 0) {
                g_autofree char *s = g_strdup_printf("%" PRIi64, start_revision);

                json_builder_set_member_name(builder, "start_revision");
                json_builder_add_string_value(builder, s);
        }
        /* Messages without events now and then, which tell a live stream from a dead one. */
        json_builder_set_member_name(builder, "progress_notify");
        json_builder_add_boolean_value(builder, TRUE);
        json_builder_end_object(builder);
        json_builder_end_object(builder);
        root = json_builder_get_root(builder);

        watch = g_new0(EtcdWatch, 1);
        watch->client = client;
        watch->body = json_to_string(root, FALSE);
        watch->buffer = g_byte_array_new();
        watch->event = event;
        watch->ended = ended;
        watch->userdata = userdata;

        watch->easy = curl_easy_init();
        if (!watch->easy) {
                r = -ENOMEM;
                goto fail;
        }
        r = easy_setup_common(client, watch->easy);
        if (r < 0)
                goto fail;
        /* No timeout for the stream; TCP's keep-alive finds a peer that is gone without a word. */
        if (curl_easy_setopt(watch->easy, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
            curl_easy_setopt(watch->easy, CURLOPT_TCP_KEEPIDLE, 10L) != CURLE_OK ||
            curl_easy_setopt(watch->easy, CURLOPT_TCP_KEEPINTVL, 5L) != CURLE_OK ||
            curl_easy_setopt(watch->easy, CURLOPT_WRITEFUNCTION, watch_write) != CURLE_OK ||
            curl_easy_setopt(watch->easy, CURLOPT_WRITEDATA, watch) != CURLE_OK ||
            curl_easy_setopt(watch->easy, CURLOPT_PRIVATE, &watch->transfer) != CURLE_OK) {
                r = -EINVAL;
                goto fail;
        }

        r = sd_event_add_defer(client->event, &watch->process, on_watch_process, watch);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_enabled(watch->process, SD_EVENT_OFF);
        (void) sd_event_source_set_description(watch->process, "etcd-watch");

        client->watches = g_list_prepend(client->watches, watch);
        watch_start(watch);
        *ret = watch;
        return 0;

fail:
        watch->client = NULL;
        watch_destroy(watch);
        return r;
}

static void watch_destroy(EtcdWatch *watch) {
        if (watch->client)
                watch->client->watches = g_list_remove(watch->client->watches, watch);
        sd_event_source_disable_unref(watch->process);
        if (watch->easy)
                curl_easy_cleanup(watch->easy);
        curl_slist_free_all(watch->headers);
        g_byte_array_unref(watch->buffer);
        g_free(watch->body);
        g_free(watch);
}

EtcdWatch *etcd_watch_free(EtcdWatch *watch) {
        if (!watch)
                return NULL;

        watch_stop(watch);
        watch->is_ended = true;
        watch->freed = true;
        if (watch->n_busy == 0)
                watch_destroy(watch);
        return NULL;
}

/* ---- the client ---- */

int etcd_client_new(sd_event *event, const EtcdSettings *settings, EtcdClient **ret) {
        g_autoptr(EtcdClient) client = NULL;
        int r;

        g_return_val_if_fail(event, -EINVAL);
        g_return_val_if_fail(settings, -EINVAL);
        g_return_val_if_fail(ret, -EINVAL);

        if (!settings->endpoints || !settings->endpoints[0])
                return -EINVAL;

        /* Once per process, before any thread; nothing else of libcurl is thread-safe before. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -ENOMEM;

        client = g_new0(EtcdClient, 1);
        client->event = sd_event_ref(event);
        client->endpoints = g_strdupv(settings->endpoints);
        client->n_endpoints = g_strv_length(client->endpoints);
        client->ca_file = g_strdup(settings->ca_file);
        client->cert_file = g_strdup(settings->cert_file);
        client->key_file = g_strdup(settings->key_file);
        client->user = g_strdup(settings->user);
        client->password = g_strdup(settings->password);
        client->connect_timeout_usec = settings->connect_timeout_usec > 0 ? settings->connect_timeout_usec :
                                                                             DEFAULT_CONNECT_TIMEOUT_USEC;
        client->last_grpc_code = -1;
        client->auth_response = g_byte_array_new();

        r = curl_glue_new(event, &client->glue);
        if (r < 0)
                return r;

        for (EtcdChannel i = 0; i < _ETCD_CHANNEL_MAX; i++) {
                Channel *channel = &client->channels[i];

                channel->client = client;
                channel->id = i;
                g_queue_init(&channel->queue);
                channel->easy = curl_easy_init();
                if (!channel->easy)
                        return -ENOMEM;
                r = easy_setup_common(client, channel->easy);
                if (r < 0)
                        return r;
                if (curl_easy_setopt(channel->easy, CURLOPT_WRITEFUNCTION, call_write) != CURLE_OK)
                        return -EINVAL;
                r = sd_event_add_defer(event, &channel->kick, on_channel_kick, channel);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_enabled(channel->kick, SD_EVENT_OFF);
                (void) sd_event_source_set_description(channel->kick, "etcd-channel");
        }

        client->auth_easy = curl_easy_init();
        if (!client->auth_easy)
                return -ENOMEM;
        r = easy_setup_common(client, client->auth_easy);
        if (r < 0)
                return r;
        if (curl_easy_setopt(client->auth_easy, CURLOPT_WRITEFUNCTION, write_to_array) != CURLE_OK)
                return -EINVAL;
        client->auth_headers = curl_slist_append(NULL, "Content-Type: application/json");

        *ret = g_steal_pointer(&client);
        return 0;
}

static void client_destroy(EtcdClient *client) {
        for (EtcdChannel i = 0; i < _ETCD_CHANNEL_MAX; i++) {
                Channel *channel = &client->channels[i];

                sd_event_source_disable_unref(channel->kick);
                if (channel->easy)
                        curl_easy_cleanup(channel->easy);
        }
        if (client->auth_easy)
                curl_easy_cleanup(client->auth_easy);
        curl_slist_free_all(client->auth_headers);
        g_byte_array_unref(client->auth_response);
        g_free(client->auth_body);
        curl_glue_free(client->glue);
        g_strfreev(client->endpoints);
        g_free(client->ca_file);
        g_free(client->cert_file);
        g_free(client->key_file);
        g_free(client->user);
        if (client->password)
                memset(client->password, 0, strlen(client->password));
        g_free(client->password);
        g_free(client->token);
        sd_event_unref(client->event);
        g_free(client);
}

EtcdClient *etcd_client_free(EtcdClient *client) {
        if (!client || client->freed)
                return NULL;

        client->freed = true;

        for (EtcdChannel i = 0; i < _ETCD_CHANNEL_MAX; i++) {
                Channel *channel = &client->channels[i];
                GList *l;

                if (channel->current) {
                        curl_glue_remove(client->glue, channel->easy);
                        call_free(g_steal_pointer(&channel->current));
                }
                /* The links are the calls' own: popped as links, never freed by the queue. */
                while ((l = g_queue_pop_head_link(&channel->queue)))
                        call_free(l->data);
                if (channel->kick)
                        (void) sd_event_source_set_enabled(channel->kick, SD_EVENT_OFF);
        }
        if (client->authenticating && client->auth_easy)
                curl_glue_remove(client->glue, client->auth_easy);
        client->authenticating = false;

        /* Watches outlive the client, inert, until their owners free them. */
        for (GList *l = client->watches; l; l = l->next) {
                EtcdWatch *watch = l->data;

                watch_stop(watch);
                watch->is_ended = true;
                watch->client = NULL;
        }
        g_clear_pointer(&client->watches, g_list_free);

        if (client->n_busy == 0)
                client_destroy(client);
        return NULL;
}
