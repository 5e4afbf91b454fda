/* A client of etcd's v3 JSON gateway (HTTP/1.1, JSON bodies with base64 keys and values) on an
 * sd-event loop: libcurl's multi interface driven by the loop's io and timer sources, json-glib for
 * the bodies. No thread, nothing blocking. Calls go out on one of a few channels, each its own
 * connection, so that a slow transaction never delays a lease renewal. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <systemd/sd-event.h>

typedef struct EtcdClient EtcdClient;
typedef struct EtcdCall EtcdCall;
typedef struct EtcdWatch EtcdWatch;

/* Which connection a call goes out on: calls of one channel are sent one at a time, in the order
 * they were made (a call waits in its channel's queue while another is in flight). */
typedef enum EtcdChannel {
        ETCD_CHANNEL_LEASE,     /* lease grant, keep-alive, revoke */
        ETCD_CHANNEL_TXN,       /* transactions, ranges, puts, deletes */
        ETCD_CHANNEL_QUERY,     /* reads that may run beside the transactions (e.g. listing) */
        _ETCD_CHANNEL_MAX,
} EtcdChannel;

typedef struct EtcdSettings {
        char **endpoints;        /* "http://127.0.0.1:2379", "https://host:2379", ...; at least one */
        const char *ca_file;     /* NULL: the system's; for https endpoints */
        const char *cert_file;   /* client certificate and key, or NULL */
        const char *key_file;
        const char *user;        /* etcd's auth: user and password, or NULL */
        const char *password;
        uint64_t connect_timeout_usec;   /* 0: 2 s */
} EtcdSettings;

/* error: 0, or a negative errno: -ETIMEDOUT (the call's timeout passed), -ECONNREFUSED,
 * -EHOSTUNREACH and the like (no endpoint answered; the client moved to the next endpoint for the
 * calls that follow), -EPROTO (an HTTP status other than 200, or a body that is not the JSON
 * expected; the gateway's error message is logged at debug), -ECANCELED (etcd_call_cancel() or the
 * client freed: the callback is not called then, see below).
 * reply: the parsed JSON object of the response on success (borrowed, valid during the callback),
 * else NULL; for a streaming endpoint (/v3/lease/keepalive) the "result" object of its first
 * message, the transfer being ended there. For an HTTP error with a JSON body ({"error": ..., "code": N, "message": ...}) the
 * error is -EPROTO and etcd_reply_error_code() gives N (a gRPC status code). */
typedef void (*EtcdReplyFunc)(EtcdClient *client, int error, JsonObject *reply, void *userdata);

/* The gRPC code of the last failed call's gateway error body, or -1. Valid during a reply callback. */
int etcd_client_last_grpc_code(const EtcdClient *client);

int etcd_client_new(sd_event *event, const EtcdSettings *settings, EtcdClient **ret);
/* Cancels every call and watch (their callbacks are not called) and frees the client. */
EtcdClient *etcd_client_free(EtcdClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EtcdClient, etcd_client_free)

/* The endpoint calls go to now. */
const char *etcd_client_get_endpoint(const EtcdClient *client);

/* POSTs body (taken, serialized once) to path, e.g. "/v3/kv/txn", on the channel. The callback is
 * called exactly once unless the call is cancelled or the client freed. timeout_usec: from when the
 * call is sent, not queued; 0: 5 s. ret may be NULL; the EtcdCall is valid until its callback
 * returns or it is cancelled. */
int etcd_client_call(EtcdClient *client,
                     EtcdChannel channel,
                     const char *path,
                     JsonNode *body,
                     uint64_t timeout_usec,
                     EtcdReplyFunc callback,
                     void *userdata,
                     EtcdCall **ret);
/* The same call, made at once and waited for (on the current endpoint, with the client's TLS
 * settings and auth token): for when the loop no longer runs, as at exit. Returns 0 for a 200 answer,
 * else as a callback's error. */
int etcd_client_call_blocking(EtcdClient *client, const char *path, JsonNode *body, uint64_t timeout_usec);

/* Drops a call, queued or in flight; its callback is not called. */
void etcd_call_cancel(EtcdCall *call);

/* One watch stream (POST /v3/watch, its own connection, chunked response). event: called with the
 * "result" object of every response message that carries events (created/progress-only messages
 * are not passed on), in order. ended: the stream ended (error < 0: connection lost, -ESTALE: the
 * start revision was compacted away (compact_revision is then set), 0: the server closed it);
 * called at most once, after which the watch is inert but must still be freed. The caller restarts
 * from the revision after the last it saw, maybe on another endpoint. */
typedef void (*EtcdWatchEventFunc)(EtcdWatch *watch, JsonObject *result, void *userdata);
typedef void (*EtcdWatchEndedFunc)(EtcdWatch *watch, int error, int64_t compact_revision, void *userdata);

/* Watches [key, range_end) from start_revision (0: now) with prev_kv off. */
int etcd_client_watch(EtcdClient *client,
                      const char *key,
                      size_t key_size,
                      const char *range_end,
                      size_t range_end_size,
                      int64_t start_revision,
                      EtcdWatchEventFunc event,
                      EtcdWatchEndedFunc ended,
                      void *userdata,
                      EtcdWatch **ret);
EtcdWatch *etcd_watch_free(EtcdWatch *watch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EtcdWatch, etcd_watch_free)

/* ---- helpers for the JSON of the v3 API ---- */

/* Adds member = base64(data) to a builder in an object. */
void etcd_json_add_bytes(JsonBuilder *builder, const char *member, const void *data, size_t size);
/* Decodes the base64 member of object; NULL when absent (g_free; *ret_size may be NULL). */
guchar *etcd_json_get_bytes(JsonObject *object, const char *member, size_t *ret_size);
/* int64 members come as JSON strings ("123"); absent: 0. */
int64_t etcd_json_get_int64(JsonObject *object, const char *member);
/* The prefix end of a key range: key with its last byte that is not 0xff incremented (g_free). */
char *etcd_prefix_end(const char *prefix, size_t size, size_t *ret_size);
