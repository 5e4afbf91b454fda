/* The etcd backend. The local lock table keeps this daemon's order, quotas, leases and deadlock checks;
 * each request the table grants is then written to etcd and granted there in the order of the
 * cluster, as in docs/cluster.md:
 *
 *  - one transaction writes one key per path (under a prefix of one length per path) and the request's
 *    record, all under this daemon's lease; when no earlier conflicting key exists under any of the
 *    paths the record is written as granted at once: one commit per uncontended Acquire;
 *  - otherwise the request waits for every earlier conflicting key (smaller create revision) to go,
 *    seen through one watch, then commits the grant with a transaction that checks its record still
 *    exists with its create revision. All keys of a request share one revision, so waits only point
 *    to smaller revisions: FIFO across daemons, and no cycle;
 *  - the token is the revision of the commit that granted it (the record's, written granted) plus a
 *    base kept in etcd that is only ever raised;
 *  - this daemon expires its own locks before its lease can have expired on the cluster, when
 *    keep-alives go unanswered. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-keys.h"
#include "etcd-gate.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"

/* Grant commits are idempotent: retried this often when etcd's answer was lost. */
#define GRANT_ATTEMPTS 3
#define RETRY_USEC (500 * UINT64_C(1000))
/* A Release waits this many failed deletes (5 s) for etcd before it is answered anyway. */
#define DELETE_ATTEMPTS_BEFORE_ANSWER 10
#define CALL_TIMEOUT_USEC (5 * UINT64_C(1000000))

typedef enum RequestState {
        REQUEST_ADMITTING,      /* the first transaction is in flight */
        REQUEST_WAITING,        /* behind earlier keys */
        REQUEST_GRANTING,       /* the grant commit is in flight */
        REQUEST_GRANTED,
        REQUEST_DELETING,       /* ended here: its keys are being deleted */
} RequestState;

typedef struct GateRequest GateRequest;

/* A record of any daemon's request, as the watch shows them. */
typedef struct GateRecord {
        ClusterRecord record;
        char rid[CLUSTER_RID_SIZE + 1];
        uint64_t token;          /* 0: not granted */
} GateRecord;

struct EtcdGate {
        Service *service;
        sd_event *event;
        EtcdClient *client;
        char *node;
        uint64_t ttl_usec;

        /* The session. */
        int64_t lease_id;                /* 0: none */
        bool available;                  /* lease alive, namespace loaded, watch started */
        uint64_t lease_valid_until;      /* CLOCK_MONOTONIC */
        uint64_t keepalive_sent;
        EtcdCall *lease_call;
        sd_event_source *lease_timer;    /* the next keep-alive, or the next attempt at a session */
        sd_event_source *expiry_timer;

        /* The namespace as the watch shows it. */
        EtcdCall *load_call;
        EtcdWatch *watch;
        int64_t next_revision;           /* where the watch goes on from */
        sd_event_source *watch_timer;
        sd_event_source *recount_timer;  /* the safety net under the watch */
        uint64_t token_base;
        GHashTable *records;             /* rid → GateRecord, every daemon's */

        /* This daemon's requests. */
        uint64_t seq;
        GHashTable *requests;            /* rid → GateRequest (owned) */
        GHashTable *blockers;            /* queue key → GPtrArray of GateRequest waiting for it to go */
        GHashTable *recent_deletes;      /* queue key → revision, while a range is in flight */
        GHashTable *suspects;            /* rids whose transaction may be applied after their cleanup */
        unsigned n_ranges_in_flight;

        void (*available_callback)(void *userdata);
        void *available_userdata;
};

struct GateRequest {
        EtcdGate *gate;
        Lock *lock;              /* NULL once it ended here */
        char rid[CLUSTER_RID_SIZE + 1];
        int64_t lease_id;
        size_t n_paths;
        char **keys;             /* its key in each path's queue */
        char **ranges;           /* where earlier requests it conflicts with are: the queue, or its x/ part */
        char *record_key;
        char *record_granted;    /* the record's value once granted (JSON) */
        size_t record_granted_size;
        bool shared;
        bool nonblocking;
        bool written;            /* something of it may be in etcd */
        bool record_gone;        /* its record was deleted by another while a call of it was in flight */
        RequestState state;
        int64_t revision;        /* the create revision of its keys */
        uint64_t waiting_since;  /* CLOCK_MONOTONIC, when it began to wait here */
        GHashTable *ahead;       /* queue keys of earlier conflicting requests still there */
        EtcdCall *call;
        unsigned attempts;
        unsigned delete_attempts;
        sd_event_source *retry_timer;
        ServiceReleaseWaiter *waiter;   /* a Release answered once its keys are deleted */
};

static void request_recount(GateRequest *req);
static void request_send_grant(GateRequest *req);
static void request_delete(GateRequest *req);
static void gate_session_lost(EtcdGate *gate, const char *why);
static void gate_watch_start(EtcdGate *gate);
static void gate_load(EtcdGate *gate);

/* ---- JSON of the v3 API ---- */

static void add_key(JsonBuilder *b, const char *member, const char *key) {
        etcd_json_add_bytes(b, member, key, strlen(key));
}

static void add_range_end(JsonBuilder *b, const char *prefix) {
        size_t size;
        g_autofree char *end = etcd_prefix_end(prefix, strlen(prefix), &size);

        etcd_json_add_bytes(b, "range_end", end, size);
}

static void add_int64(JsonBuilder *b, const char *member, int64_t v) {
        char buf[32];

        g_snprintf(buf, sizeof(buf), "%" PRIi64, v);
        json_builder_set_member_name(b, member);
        json_builder_add_string_value(b, buf);
}

static void add_put(JsonBuilder *b, const char *key, const char *value, size_t size, int64_t lease) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "request_put");
        json_builder_begin_object(b);
        add_key(b, "key", key);
        etcd_json_add_bytes(b, "value", value, size);
        if (lease)
                add_int64(b, "lease", lease);
        json_builder_end_object(b);
        json_builder_end_object(b);
}

/* prefix: the range of every key under key. */
static void add_range(JsonBuilder *b, const char *key, bool prefix, bool keys_only) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "request_range");
        json_builder_begin_object(b);
        add_key(b, "key", key);
        if (prefix)
                add_range_end(b, key);
        if (keys_only) {
                json_builder_set_member_name(b, "keys_only");
                json_builder_add_boolean_value(b, true);
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
}

static void add_delete(JsonBuilder *b, const char *key) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "request_delete_range");
        json_builder_begin_object(b);
        add_key(b, "key", key);
        json_builder_end_object(b);
        json_builder_end_object(b);
}

/* CREATE(key or every key under it) == revision; 0 under a prefix: no key there. */
static void add_compare_create(JsonBuilder *b, const char *key, bool prefix, int64_t revision) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "target");
        json_builder_add_string_value(b, "CREATE");
        json_builder_set_member_name(b, "result");
        json_builder_add_string_value(b, "EQUAL");
        add_key(b, "key", key);
        if (prefix)
                add_range_end(b, key);
        add_int64(b, "create_revision", revision);
        json_builder_end_object(b);
}

static JsonArray *reply_responses(JsonObject *reply) {
        JsonNode *node = json_object_get_member(reply, "responses");

        return node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
}

static bool reply_succeeded(JsonObject *reply) {
        JsonNode *node = json_object_get_member(reply, "succeeded");

        return node && JSON_NODE_HOLDS_VALUE(node) && json_node_get_boolean(node);
}

static int64_t reply_revision(JsonObject *reply) {
        JsonNode *node = json_object_get_member(reply, "header");

        return node && JSON_NODE_HOLDS_OBJECT(node) ? etcd_json_get_int64(json_node_get_object(node), "revision") : 0;
}

/* The kvs of the i-th response, a range; NULL when there is none or no key was found. */
static JsonArray *response_kvs(JsonArray *responses, guint i) {
        JsonObject *response, *range;
        JsonNode *node;

        if (!responses || i >= json_array_get_length(responses))
                return NULL;
        response = json_array_get_object_element(responses, i);
        node = response ? json_object_get_member(response, "response_range") : NULL;
        if (!node || !JSON_NODE_HOLDS_OBJECT(node))
                return NULL;
        range = json_node_get_object(node);
        node = json_object_get_member(range, "kvs");
        return node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
}

static uint64_t parse_token_base(JsonObject *kv) {
        g_autofree guchar *value = NULL;
        g_autofree char *text = NULL;
        size_t size;
        uint64_t base;
        char *end;

        value = etcd_json_get_bytes(kv, "value", &size);
        if (!value || size == 0 || size > 20)
                return 0;
        text = g_strndup((const char *) value, size);
        errno = 0;
        base = strtoull(text, &end, 10);
        return errno == 0 && *end == 0 ? base : 0;
}

/* A grant transaction's token: its revision plus the base (its range at responses[i]), read in the
 * same transaction, so tokens increase with revisions. */
static uint64_t reply_token(JsonObject *reply, guint i) {
        JsonArray *base = response_kvs(reply_responses(reply), i);
        int64_t revision = reply_revision(reply);

        if (revision <= 0)
                return 0;
        return (uint64_t) revision +
               (base && json_array_get_length(base) == 1 ? parse_token_base(json_array_get_object_element(base, 0)) : 0);
}

static int gate_call(EtcdGate *gate, EtcdChannel channel, const char *path, JsonBuilder *b,
                     EtcdReplyFunc callback, void *userdata, EtcdCall **ret) {
        /* A renewal stuck on a dead member must leave time for another one before the lease's end. */
        uint64_t timeout = channel == ETCD_CHANNEL_LEASE ? MAX(gate->ttl_usec / 4, 500 * UINT64_C(1000)) :
                                                           CALL_TIMEOUT_USEC;

        return etcd_client_call(gate->client, channel, path, json_builder_get_root(b), timeout,
                                callback, userdata, ret);
}

/* Whether the lease surely lives on the cluster: a grant answered after that must not be given. */
static bool gate_lease_valid(EtcdGate *gate) {
        uint64_t now = 0;

        (void) sd_event_now(gate->event, CLOCK_MONOTONIC, &now);
        return gate->available && now < gate->lease_valid_until;
}

/* ---- requests ---- */

static void request_free(gpointer p) {
        GateRequest *req = p;

        if (req->call)
                etcd_call_cancel(req->call);
        sd_event_source_disable_unref(req->retry_timer);
        if (req->waiter)
                service_release_waiter_finish(req->waiter);
        g_strfreev(req->keys);
        g_strfreev(req->ranges);
        g_free(req->record_key);
        g_free(req->record_granted);
        if (req->ahead)
                g_hash_table_unref(req->ahead);
        g_free(req);
}

static void request_forget(GateRequest *req) {
        /* Frees it. */
        g_hash_table_remove(req->gate->requests, req->rid);
}

static void request_unblock(GateRequest *req) {
        GHashTableIter iter;
        gpointer key;

        if (!req->ahead)
                return;
        g_hash_table_iter_init(&iter, req->ahead);
        while (g_hash_table_iter_next(&iter, &key, NULL)) {
                GPtrArray *waiting = g_hash_table_lookup(req->gate->blockers, key);

                if (!waiting)
                        continue;
                g_ptr_array_remove_fast(waiting, req);
                if (waiting->len == 0)
                        g_hash_table_remove(req->gate->blockers, key);
        }
        g_hash_table_remove_all(req->ahead);
}

static void request_refuse(GateRequest *req, ServiceErrorCode code, const char *message) {
        Lock *lock = req->lock;

        /* Ends the lock here, which retires the request. */
        if (lock)
                service_gate_refuse(req->gate->service, lock, code, message);
}

static void range_done(EtcdGate *gate) {
        g_assert(gate->n_ranges_in_flight > 0);
        if (--gate->n_ranges_in_flight == 0)
                g_hash_table_remove_all(gate->recent_deletes);
}

/* Collects what the request waits for from the ranges at responses[first...], read at its revision
 * or later: the earlier keys (smaller create revision) still there. */
static void request_wait(GateRequest *req, JsonArray *responses, guint first) {
        EtcdGate *gate = req->gate;

        request_unblock(req);
        if (!req->ahead)
                req->ahead = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        for (size_t i = 0; i < req->n_paths; i++) {
                JsonArray *kvs = response_kvs(responses, (guint) (first + i));

                for (guint k = 0; kvs && k < json_array_get_length(kvs); k++) {
                        JsonObject *kv = json_array_get_object_element(kvs, k);
                        g_autofree guchar *key = NULL;
                        size_t size;
                        gpointer deleted;

                        if (etcd_json_get_int64(kv, "create_revision") >= req->revision)
                                continue;
                        key = etcd_json_get_bytes(kv, "key", &size);
                        if (!key)
                                continue;
                        key = g_realloc(key, size + 1);
                        key[size] = 0;
                        /* Gone already, and the watch said so before this answer came. */
                        if (g_hash_table_lookup_extended(gate->recent_deletes, key, NULL, &deleted) &&
                            GPOINTER_TO_SIZE(deleted) > (size_t) req->revision)
                                continue;
                        if (!g_hash_table_add(req->ahead, g_strdup((char *) key)))
                                continue;
                        GPtrArray *waiting = g_hash_table_lookup(gate->blockers, key);
                        if (!waiting) {
                                waiting = g_ptr_array_new();
                                g_hash_table_insert(gate->blockers, g_strdup((char *) key), waiting);
                        }
                        g_ptr_array_add(waiting, req);
                }
        }

        if (g_hash_table_size(req->ahead) == 0)
                request_send_grant(req);
        else {
                if (req->state != REQUEST_WAITING && req->waiting_since == 0)
                        (void) sd_event_now(gate->event, CLOCK_MONOTONIC, &req->waiting_since);
                req->state = REQUEST_WAITING;
        }
}

static void on_grant_reply(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        GateRequest *req = userdata;
        uint64_t token;

        req->call = NULL;
        if (!req->lock) {
                request_delete(req);
                return;
        }
        if (error < 0) {
                if (++req->attempts < GRANT_ATTEMPTS && req->lease_id == req->gate->lease_id) {
                        log_debug_errno(error, "Grant commit of %s failed, retrying: %m", req->rid);
                        request_send_grant(req);
                        return;
                }
                request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "etcd did not answer the grant of the lock.");
                return;
        }
        if (!reply_succeeded(reply) || req->record_gone) {
                request_refuse(req, SERVICE_ERROR_UNAVAILABLE,
                               "The request vanished from etcd while it waited (its session ended, or it was removed).");
                return;
        }
        if (!gate_lease_valid(req->gate)) {
                request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "The session with etcd may have ended.");
                return;
        }
        token = reply_token(reply, 1);
        if (token == 0) {
                request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "etcd answered the grant without its revision.");
                return;
        }
        req->state = REQUEST_GRANTED;
        service_gate_confirm(req->gate->service, req->lock, token);
}

/* Grants it if its record is still the one it wrote: a request whose session ended while it waited
 * must not be granted from an answer that came late. */
static void request_send_grant(GateRequest *req) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        int r;

        req->state = REQUEST_GRANTING;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "compare");
        json_builder_begin_array(b);
        add_compare_create(b, req->record_key, false, req->revision);
        json_builder_end_array(b);
        json_builder_set_member_name(b, "success");
        json_builder_begin_array(b);
        add_put(b, req->record_key, req->record_granted, req->record_granted_size, req->lease_id);
        add_range(b, CLUSTER_TOKEN_BASE_KEY, false, false);
        json_builder_end_array(b);
        json_builder_end_object(b);

        r = gate_call(req->gate, ETCD_CHANNEL_TXN, "/v3/kv/txn", b, on_grant_reply, req, &req->call);
        if (r < 0)
                request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "Failed to send the grant to etcd.");
}

static void on_admission_reply(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        GateRequest *req = userdata;
        EtcdGate *gate = req->gate;
        uint64_t token;

        req->call = NULL;
        if (!req->lock)
                request_delete(req);
        else if (error < 0) {
                /* It may have been written, or be written yet: ending it here deletes whatever it
                 * wrote, and the watch shows whether it comes later. */
                g_hash_table_add(gate->suspects, g_strdup(req->rid));
                request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "etcd did not answer the request.");
        }
        else if (reply_succeeded(reply)) {
                token = reply_token(reply, (guint) req->n_paths + 1);
                req->revision = reply_revision(reply);
                if (token == 0)
                        request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "etcd answered the request without its revision.");
                else if (req->record_gone)
                        /* Force-released by another daemon before this answer came. */
                        request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "The request was removed from etcd.");
                else if (!gate_lease_valid(gate))
                        request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "The session with etcd may have ended.");
                else {
                        req->state = REQUEST_GRANTED;
                        service_gate_confirm(gate->service, req->lock, token);
                }
        } else if (req->nonblocking) {
                req->written = false;
                request_refuse(req, SERVICE_ERROR_TIMEOUT, "The lock is taken and nonblocking was requested.");
        } else {
                req->revision = reply_revision(reply);
                /* After its keys and record come the ranges of the queues. */
                request_wait(req, reply_responses(reply), (guint) req->n_paths + 1);
        }
        range_done(gate);
}

static void request_send_admission(GateRequest *req, ClusterRecord *record) {
        EtcdGate *gate = req->gate;
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree char *value = NULL;
        size_t size;
        int r;

        record->granted = false;
        value = cluster_record_to_json(record, &size);
        record->granted = true;
        req->record_granted = cluster_record_to_json(record, &req->record_granted_size);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "compare");
        json_builder_begin_array(b);
        for (size_t i = 0; i < req->n_paths; i++)
                add_compare_create(b, req->ranges[i], true, 0);
        json_builder_end_array(b);

        /* Nothing ahead on any path: written as granted at once. */
        json_builder_set_member_name(b, "success");
        json_builder_begin_array(b);
        for (size_t i = 0; i < req->n_paths; i++)
                add_put(b, req->keys[i], "", 0, req->lease_id);
        add_put(b, req->record_key, req->record_granted, req->record_granted_size, req->lease_id);
        add_range(b, CLUSTER_TOKEN_BASE_KEY, false, false);
        json_builder_end_array(b);

        /* Else queued, and what is ahead read at the same revision. */
        json_builder_set_member_name(b, "failure");
        json_builder_begin_array(b);
        if (!req->nonblocking) {
                for (size_t i = 0; i < req->n_paths; i++)
                        add_put(b, req->keys[i], "", 0, req->lease_id);
                add_put(b, req->record_key, value, size, req->lease_id);
                for (size_t i = 0; i < req->n_paths; i++)
                        add_range(b, req->ranges[i], true, true);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);

        req->written = true;
        gate->n_ranges_in_flight++;
        r = gate_call(gate, ETCD_CHANNEL_TXN, "/v3/kv/txn", b, on_admission_reply, req, &req->call);
        if (r < 0) {
                range_done(gate);
                req->written = false;
                request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "Failed to send the request to etcd.");
        }
}

static int on_delete_retry(sd_event_source *source, uint64_t usec, void *userdata) {
        GateRequest *req = userdata;

        req->retry_timer = sd_event_source_disable_unref(req->retry_timer);
        request_delete(req);
        return 0;
}

static void on_delete_reply(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        GateRequest *req = userdata;
        EtcdGate *gate = req->gate;
        int r;

        req->call = NULL;
        /* Keys left behind would hold others back until the lease ends: try again while it lives. */
        if (error < 0 && req->lease_id == gate->lease_id) {
                log_debug_errno(error, "Failed to delete the keys of %s, retrying: %m", req->rid);
                /* The Release has waited long enough: it is answered, the deleting goes on. */
                if (++req->delete_attempts >= DELETE_ATTEMPTS_BEFORE_ANSWER && req->waiter) {
                        log_warning("etcd has not taken the release of %s yet; answering it, still trying.", req->rid);
                        service_release_waiter_finish(g_steal_pointer(&req->waiter));
                }
                r = sd_event_add_time_relative(gate->event, &req->retry_timer, CLOCK_MONOTONIC, RETRY_USEC, 0,
                                               on_delete_retry, req);
                if (r >= 0)
                        return;
        }
        request_forget(req);
}

/* Ends it in etcd: one transaction deletes its keys. */
static void request_delete(GateRequest *req) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        int r;

        req->retry_timer = sd_event_source_disable_unref(req->retry_timer);
        request_unblock(req);
        req->state = REQUEST_DELETING;
        if (!req->written) {
                request_forget(req);
                return;
        }

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "success");
        json_builder_begin_array(b);
        for (size_t i = 0; i < req->n_paths; i++)
                add_delete(b, req->keys[i]);
        add_delete(b, req->record_key);
        json_builder_end_array(b);
        json_builder_end_object(b);

        r = gate_call(req->gate, ETCD_CHANNEL_TXN, "/v3/kv/txn", b, on_delete_reply, req, &req->call);
        if (r < 0)
                on_delete_reply(req->gate->client, r, NULL, req);
}

static GateRequest *request_new(EtcdGate *gate, Lock *lock, bool nonblocking) {
        GateRequest *req = g_new0(GateRequest, 1);

        req->gate = gate;
        req->lock = lock;
        req->lease_id = gate->lease_id;
        cluster_rid_format(req->rid, gate->lease_id, ++gate->seq);
        req->shared = lock_is_shared(lock);
        req->nonblocking = nonblocking;
        req->n_paths = lock_get_n_paths(lock);
        req->keys = g_new0(char *, req->n_paths + 1);
        req->ranges = g_new0(char *, req->n_paths + 1);
        for (size_t i = 0; i < req->n_paths; i++) {
                g_autofree char *queue = cluster_queue_prefix(lock_get_path(lock, i));

                req->keys[i] = cluster_queue_key(lock_get_path(lock, i), req->shared, req->rid);
                /* A shared request conflicts with the exclusive ones only. */
                req->ranges[i] = req->shared ? g_strconcat(queue, "x/", NULL) : g_steal_pointer(&queue);
        }
        req->record_key = cluster_record_key(req->rid);
        g_hash_table_insert(gate->requests, req->rid, req);
        return req;
}

static void gate_admit(void *userdata, Lock *lock, bool nonblocking, uint64_t lease_usec, void **gate_data) {
        EtcdGate *gate = userdata;
        Client *owner = lock_owner_get_userdata(lock_get_owner(lock));
        GateRequest *req;
        ClusterRecord record;

        if (!gate->available) {
                service_gate_refuse(gate->service, lock, SERVICE_ERROR_UNAVAILABLE,
                                    "The lock namespace in etcd cannot be reached.");
                return;
        }

        req = request_new(gate, lock, nonblocking);
        *gate_data = req;

        record = (ClusterRecord) {
                .n_paths = req->n_paths,
                .shared = req->shared,
                .node = gate->node,
                .client = owner->id,
                .name = owner->name,
                .uid = owner->uid,
                .lease_usec = lease_usec,
                .created_realtime = lock_table_now(gate->service->table, CLOCK_REALTIME),
        };
        g_autofree const char **paths = g_new(const char *, req->n_paths + 1);
        for (size_t i = 0; i < req->n_paths; i++)
                paths[i] = lock_get_path(lock, i);
        paths[req->n_paths] = NULL;
        record.paths = (char **) paths;
        memcpy(record.lock_id, lock_get_id(lock), LOCK_ID_SIZE);

        request_send_admission(req, &record);
}

static void gate_retire(void *userdata, Lock *lock, void *gate_data, ServiceReleaseWaiter *waiter) {
        GateRequest *req = gate_data;

        if (!req) {
                if (waiter)
                        service_release_waiter_finish(waiter);
                return;
        }
        req->lock = NULL;
        req->waiter = waiter;
        log_debug("Request %s ended here%s; deleting it from etcd.", req->rid, waiter ? ", its Release waits" : "");
        /* In flight: the answer deletes it. */
        if (req->call)
                return;
        request_delete(req);
}

/* ---- what other daemons hold ---- */

static GateRecord *gate_find_record(EtcdGate *gate, const uint8_t id[LOCK_ID_SIZE]) {
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init(&iter, gate->records);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                GateRecord *r = value;

                if (r->token > 0 && memcmp(r->record.lock_id, id, LOCK_ID_SIZE) == 0)
                        return r;
        }
        return NULL;
}

static void on_record_keys_deleted(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        if (error < 0)
                log_warning_errno(error, "Failed to delete a request's keys in etcd: %m");
}

/* Deletes every key of a request known by its record: another daemon's (ForceRelease), or one of this
 * session that no request of this daemon knows. */
static void gate_delete_record_keys(EtcdGate *gate, const GateRecord *r) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree char *record_key = cluster_record_key(r->rid);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "success");
        json_builder_begin_array(b);
        for (size_t i = 0; i < r->record.n_paths; i++) {
                g_autofree char *key = cluster_queue_key(r->record.paths[i], r->record.shared, r->rid);

                add_delete(b, key);
        }
        add_delete(b, record_key);
        json_builder_end_array(b);
        json_builder_end_object(b);
        (void) gate_call(gate, ETCD_CHANNEL_TXN, "/v3/kv/txn", b, on_record_keys_deleted, NULL, NULL);
}

/* A record of this daemon's current session that none of its requests knows: a transaction that etcd
 * applied after the request's cleanup had run (its answer had timed out). */
static bool gate_record_is_orphan(EtcdGate *gate, const GateRecord *r) {
        char lease[17];

        if (gate->lease_id == 0 || !g_str_equal(r->record.node, gate->node))
                return false;
        g_snprintf(lease, sizeof(lease), "%016" PRIx64, (uint64_t) gate->lease_id);
        return strncmp(r->rid, lease, 16) == 0 && !g_hash_table_contains(gate->requests, r->rid);
}

static int gate_force_release(void *userdata, const uint8_t id[LOCK_ID_SIZE], const char *by) {
        EtcdGate *gate = userdata;
        GateRecord *r = gate_find_record(gate, id);

        if (!r)
                return 0;

        log_info("Lock of client %s on %s force-released by %s.", r->record.client, r->record.node, by);
        gate_delete_record_keys(gate, r);
        return 1;
}

static void gate_foreach_remote(void *userdata, ServiceLockVisitor visit, void *visit_userdata) {
        EtcdGate *gate = userdata;
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init(&iter, gate->records);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                GateRecord *r = value;
                g_autofree char *owner = NULL;

                if (r->token == 0 || g_str_equal(r->record.node, gate->node))
                        continue;
                owner = g_strconcat(r->record.node, "/", r->record.client, NULL);
                visit(&(ServiceLockInfo) {
                                .id = r->record.lock_id,
                                .paths = (const char *const *) r->record.paths,
                                .n_paths = r->record.n_paths,
                                .shared = r->record.shared,
                                .owner = owner,
                                .name = r->record.name,
                                .uid = r->record.uid,
                                .token = r->token,
                                .acquired_realtime = r->record.created_realtime,
                                .expires_realtime = usec_add(r->record.created_realtime, r->record.lease_usec),
                        }, visit_userdata);
        }
}

/* ---- messages to the other daemons' clients ---- */

static void on_message_written(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        if (error < 0)
                log_warning_errno(error, "Failed to pass a publication to the other daemons: %m");
}

static void gate_publish(void *userdata, const ServiceRemotePublication *p) {
        EtcdGate *gate = userdata;
        g_autoptr(JsonBuilder) b = NULL;
        g_autofree char *sender = NULL, *value = NULL, *key = NULL;
        char rid[CLUSTER_RID_SIZE + 1];
        size_t size;
        int r;

        if (!gate->available) {
                log_debug("No session with etcd: a publication reaches this daemon's clients only.");
                return;
        }

        sender = g_strconcat(gate->node, "/", p->sender_id, NULL);
        value = cluster_message_to_json(&(ClusterMessage) {
                        .node = gate->node,
                        .sender = sender,
                        .sender_name = (char *) p->sender_name,
                        .message = (char *) p->message,
                        .receivers = (char **) p->receivers,
                        .n_receivers = p->n_receivers,
                        .expires_realtime = p->expires_realtime,
                        .unique = p->unique,
                        .replace = p->replace,
                }, &size);
        key = cluster_message_key(cluster_rid_format(rid, gate->lease_id, ++gate->seq));

        b = json_builder_new();
        json_builder_begin_object(b);
        add_key(b, "key", key);
        etcd_json_add_bytes(b, "value", value, size);
        add_int64(b, "lease", gate->lease_id);
        json_builder_end_object(b);
        r = gate_call(gate, ETCD_CHANNEL_TXN, "/v3/kv/put", b, on_message_written, NULL, NULL);
        if (r < 0) {
                log_warning_errno(r, "Failed to pass a publication to the other daemons: %m");
                return;
        }

        /* Deleted once written (the channel keeps the order): the other daemons' watches have seen it
         * by then, and nothing is left for a late one to deliver twice. */
        g_clear_object(&b);
        b = json_builder_new();
        json_builder_begin_object(b);
        add_key(b, "key", key);
        json_builder_end_object(b);
        (void) gate_call(gate, ETCD_CHANNEL_TXN, "/v3/kv/deleterange", b, on_message_written, NULL, NULL);
}

static void gate_message_put(EtcdGate *gate, JsonObject *kv) {
        g_auto(ClusterMessage) message = {};
        g_autofree guchar *value = NULL;
        size_t size;

        value = etcd_json_get_bytes(kv, "value", &size);
        if (!value || cluster_message_from_json((const char *) value, size, &message) < 0) {
                log_debug("Ignoring a publication in etcd that is not one.");
                return;
        }
        if (g_str_equal(message.node, gate->node))
                return;

        service_deliver_remote(gate->service, &(ServiceRemotePublication) {
                        .message = message.message,
                        .sender_id = message.sender,
                        .sender_name = message.sender_name,
                        .receivers = (const char *const *) message.receivers,
                        .n_receivers = message.n_receivers,
                        .expires_realtime = message.expires_realtime,
                        .unique = message.unique,
                        .replace = message.replace,
                });
}

static const ServiceGateOps etcd_gate_ops = {
        .admit = gate_admit,
        .retire = gate_retire,
        .force_release = gate_force_release,
        .foreach_remote = gate_foreach_remote,
        .publish = gate_publish,
};

static void gate_record_free(gpointer p) {
        GateRecord *r = p;

        cluster_record_clear(&r->record);
        g_free(r);
}

static void gate_put_record(EtcdGate *gate, const char *rid, JsonObject *kv) {
        g_autofree guchar *value = NULL;
        GateRecord *r;
        size_t size;

        value = etcd_json_get_bytes(kv, "value", &size);
        r = g_new0(GateRecord, 1);
        if (!value || cluster_record_from_json((const char *) value, size, &r->record) < 0) {
                log_debug("Ignoring a record in etcd that is not one: %.*s", CLUSTER_RID_SIZE, rid);
                g_free(r);
                return;
        }
        memcpy(r->rid, rid, CLUSTER_RID_SIZE);
        /* Put again by the commit that grants it: that revision is the token. */
        if (r->record.granted)
                r->token = (uint64_t) etcd_json_get_int64(kv, "mod_revision") + gate->token_base;
        /* Replace, not insert: the key is the record's own rid, freed with the old record. */
        g_hash_table_replace(gate->records, r->rid, r);
        /* Only for a request whose transaction's fate was unknown: this daemon's own records of
         * requests already deleted come by here too when the watch lags behind the answers. */
        if (g_hash_table_remove(gate->suspects, r->rid) && gate_record_is_orphan(gate, r)) {
                log_debug("Deleting %s, written after its request had ended here.", r->rid);
                gate_delete_record_keys(gate, r);
        }
}

/* ---- the watch ---- */

static void gate_key_deleted(EtcdGate *gate, const char *key, size_t size, int64_t revision) {
        g_autofree char *k = g_strndup(key, size);
        const char *rid = NULL;
        char rid_buf[CLUSTER_RID_SIZE + 1];
        GateRequest *req;
        GPtrArray *waiting;
        char *stored_key;

        switch (cluster_key_parse(key, size, &rid)) {
        case CLUSTER_KEY_QUEUE:
                if (gate->n_ranges_in_flight > 0)
                        g_hash_table_insert(gate->recent_deletes, g_strdup(k), GSIZE_TO_POINTER((size_t) revision));
                if (!g_hash_table_steal_extended(gate->blockers, k, (gpointer *) &stored_key, (gpointer *) &waiting))
                        break;
                for (guint i = 0; i < waiting->len; i++) {
                        GateRequest *w = waiting->pdata[i];

                        g_hash_table_remove(w->ahead, k);
                        if (g_hash_table_size(w->ahead) == 0 && w->state == REQUEST_WAITING)
                                request_send_grant(w);
                }
                g_ptr_array_unref(waiting);
                g_free(stored_key);
                break;

        case CLUSTER_KEY_RECORD:
                memcpy(rid_buf, rid, CLUSTER_RID_SIZE);
                rid_buf[CLUSTER_RID_SIZE] = 0;
                g_hash_table_remove(gate->records, rid_buf);
                req = g_hash_table_lookup(gate->requests, rid_buf);
                if (!req || !req->lock)
                        break;
                /* Not by this daemon: force-released elsewhere, or its session ended on the cluster. An
                 * answer in flight must not grant it. */
                if (req->call)
                        req->record_gone = true;
                else if (req->state == REQUEST_GRANTED)
                        service_gate_lose(gate->service, req->lock, LOCK_END_FORCED);
                else if (req->state == REQUEST_WAITING)
                        request_refuse(req, SERVICE_ERROR_UNAVAILABLE,
                                       "The request was removed from etcd while it waited.");
                break;

        default:
                break;
        }
}

static void gate_key_put(EtcdGate *gate, const char *key, size_t size, JsonObject *kv) {
        const char *rid = NULL;
        uint64_t base;

        switch (cluster_key_parse(key, size, &rid)) {
        case CLUSTER_KEY_RECORD:
                gate_put_record(gate, rid, kv);
                break;
        case CLUSTER_KEY_MESSAGE:
                gate_message_put(gate, kv);
                break;
        case CLUSTER_KEY_TOKEN_BASE:
                base = parse_token_base(kv);
                gate->token_base = MAX(gate->token_base, base);
                break;
        default:
                break;
        }
}

static void on_watch_event(EtcdWatch *watch, JsonObject *result, void *userdata) {
        EtcdGate *gate = userdata;
        JsonNode *node = json_object_get_member(result, "events");
        JsonArray *events;

        if (!node || !JSON_NODE_HOLDS_ARRAY(node))
                return;
        events = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(events); i++) {
                JsonObject *event = json_array_get_object_element(events, i);
                JsonNode *kv_node = event ? json_object_get_member(event, "kv") : NULL;
                JsonObject *kv = kv_node && JSON_NODE_HOLDS_OBJECT(kv_node) ? json_node_get_object(kv_node) : NULL;
                const char *type = event && json_object_has_member(event, "type") ?
                        json_object_get_string_member(event, "type") : "PUT";
                g_autofree guchar *key = NULL;
                int64_t revision;
                size_t size;

                if (!kv)
                        continue;
                key = etcd_json_get_bytes(kv, "key", &size);
                if (!key)
                        continue;
                revision = etcd_json_get_int64(kv, "mod_revision");
                if (revision >= gate->next_revision)
                        gate->next_revision = revision + 1;
                if (g_strcmp0(type, "DELETE") == 0)
                        gate_key_deleted(gate, (const char *) key, size, revision);
                else
                        gate_key_put(gate, (const char *) key, size, kv);
        }
}

static int on_watch_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        EtcdGate *gate = userdata;

        gate->watch_timer = sd_event_source_disable_unref(gate->watch_timer);
        if (gate->next_revision > 0)
                gate_watch_start(gate);
        else
                gate_load(gate);
        return 0;
}

static void gate_retry_watch_later(EtcdGate *gate) {
        if (gate->watch_timer)
                return;
        if (sd_event_add_time_relative(gate->event, &gate->watch_timer, CLOCK_MONOTONIC, RETRY_USEC, 0,
                                       on_watch_timer, gate) < 0)
                log_warning("Failed to schedule the watch's restart; waiters may stall until the next session.");
}

static void on_watch_ended(EtcdWatch *watch, int error, int64_t compact_revision, void *userdata) {
        EtcdGate *gate = userdata;

        gate->watch = etcd_watch_free(gate->watch);
        if (error == -ESTALE) {
                /* Events were compacted away before we saw them: read the namespace again, and what
                 * every waiting request waits for. */
                log_info("The watch fell behind etcd's compaction (revision %" PRIi64 "), reloading.",
                         compact_revision);
                gate->next_revision = 0;
        } else
                log_debug_errno(error, "The watch on etcd ended, restarting: %m");
        gate_retry_watch_later(gate);
}

/* Reads again what the requests waiting for longer than min_wait_usec wait for. */
static void gate_recount_waiting(EtcdGate *gate, uint64_t min_wait_usec) {
        g_autoptr(GPtrArray) waiting = g_ptr_array_new();
        GHashTableIter iter;
        gpointer value;
        uint64_t now = 0;

        (void) sd_event_now(gate->event, CLOCK_MONOTONIC, &now);
        g_hash_table_iter_init(&iter, gate->requests);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                GateRequest *req = value;

                if (req->state == REQUEST_WAITING && req->lock && !req->call && !req->retry_timer &&
                    now - req->waiting_since >= min_wait_usec)
                        g_ptr_array_add(waiting, req);
        }
        for (guint i = 0; i < waiting->len; i++)
                request_recount(waiting->pdata[i]);
}

static void gate_watch_start(EtcdGate *gate) {
        const char *prefix = CLUSTER_PREFIX;
        size_t end_size;
        g_autofree char *end = etcd_prefix_end(prefix, strlen(prefix), &end_size);
        int r;

        r = etcd_client_watch(gate->client, prefix, strlen(prefix), end, end_size, gate->next_revision,
                              on_watch_event, on_watch_ended, gate, &gate->watch);
        if (r < 0) {
                log_debug_errno(r, "Failed to start the watch on etcd: %m");
                gate_retry_watch_later(gate);
                return;
        }
        /* Whatever the watch missed while it was down, a waiting request reads for itself. A restart
         * from the very revision etcd compacted to is not refused, and may still lack a delete made
         * at it (etcd 3.4). */
        gate_recount_waiting(gate, 0);
}

/* ---- loading the namespace ---- */

static int on_recount_retry(sd_event_source *source, uint64_t usec, void *userdata) {
        GateRequest *req = userdata;

        req->retry_timer = sd_event_source_disable_unref(req->retry_timer);
        if (req->lock)
                request_recount(req);
        return 0;
}

static void on_recount_reply(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        GateRequest *req = userdata;
        EtcdGate *gate = req->gate;

        req->call = NULL;
        if (!req->lock)
                request_delete(req);
        else if (error < 0) {
                /* A read: tried again while the session lives (it fails in elections, when recounts
                 * are most needed); the session's end fails the request if it comes to that. */
                log_debug_errno(error, "Failed to read what %s waits for, retrying: %m", req->rid);
                if (sd_event_add_time_relative(gate->event, &req->retry_timer, CLOCK_MONOTONIC, RETRY_USEC, 0,
                                               on_recount_retry, req) < 0)
                        request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "etcd did not answer while the request waited.");
        } else
                request_wait(req, reply_responses(reply), 0);
        range_done(gate);
}

/* Reads again what a waiting request waits for: after a gap in the watch. */
static void request_recount(GateRequest *req) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        int r;

        request_unblock(req);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "success");
        json_builder_begin_array(b);
        for (size_t i = 0; i < req->n_paths; i++)
                add_range(b, req->ranges[i], true, true);
        json_builder_end_array(b);
        json_builder_end_object(b);

        req->gate->n_ranges_in_flight++;
        /* Beside the transactions, not ahead of grants and releases: recent_deletes covers the order. */
        r = gate_call(req->gate, ETCD_CHANNEL_QUERY, "/v3/kv/txn", b, on_recount_reply, req, &req->call);
        if (r < 0) {
                range_done(req->gate);
                request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "Failed to ask etcd about a waiting request.");
        }
}

static void on_token_base_reply(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        EtcdGate *gate = userdata;

        gate->load_call = NULL;
        if (error < 0) {
                log_debug_errno(error, "Failed to raise the token base in etcd: %m");
                gate->next_revision = 0;
                gate_retry_watch_later(gate);
                return;
        }
        /* Raised, or raised by another daemon meanwhile: either way read it again. */
        gate_load(gate);
}

/* Tokens are revision + base. The base is raised past this daemon's last token when a cluster's
 * revisions are below it (a cluster rebuilt from scratch): tokens never go backwards here. */
static bool gate_check_token_base(EtcdGate *gate, JsonArray *base_kvs, int64_t revision) {
        uint64_t floor = lock_table_get_last_token(gate->service->table), base = 0;
        int64_t base_mod_revision = 0;
        g_autoptr(JsonBuilder) b = NULL;
        char value[32];

        if (base_kvs && json_array_get_length(base_kvs) == 1) {
                JsonObject *kv = json_array_get_object_element(base_kvs, 0);

                base = parse_token_base(kv);
                base_mod_revision = etcd_json_get_int64(kv, "mod_revision");
        }
        gate->token_base = base;
        if (base + (uint64_t) revision > floor && base_mod_revision > 0)
                return true;

        log_info("Raising the token base in etcd from %" PRIu64 " to %" PRIu64 ".", base, floor);
        b = json_builder_new();
        g_snprintf(value, sizeof(value), "%" PRIu64, MAX(floor, base));
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "compare");
        json_builder_begin_array(b);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "target");
        json_builder_add_string_value(b, "MOD");
        json_builder_set_member_name(b, "result");
        json_builder_add_string_value(b, "EQUAL");
        add_key(b, "key", CLUSTER_TOKEN_BASE_KEY);
        add_int64(b, "mod_revision", base_mod_revision);
        json_builder_end_object(b);
        json_builder_end_array(b);
        json_builder_set_member_name(b, "success");
        json_builder_begin_array(b);
        add_put(b, CLUSTER_TOKEN_BASE_KEY, value, strlen(value), 0);
        json_builder_end_array(b);
        json_builder_end_object(b);
        if (gate_call(gate, ETCD_CHANNEL_TXN, "/v3/kv/txn", b, on_token_base_reply, gate, &gate->load_call) < 0)
                gate_retry_watch_later(gate);
        return false;
}

/* After a gap in the watch: this daemon's requests whose record went meanwhile (force-released
 * elsewhere) end here too, and records of this session that no request knows (a transaction applied
 * after its cleanup) are deleted. */
static void gate_check_own_records(EtcdGate *gate, int64_t revision) {
        g_autoptr(GPtrArray) lost = g_ptr_array_new();
        g_autoptr(GPtrArray) orphans = g_ptr_array_new();
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init(&iter, gate->requests);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                GateRequest *req = value;

                if (req->lock && !req->call && req->revision > 0 && req->revision <= revision &&
                    (req->state == REQUEST_GRANTED || req->state == REQUEST_WAITING) &&
                    !g_hash_table_contains(gate->records, req->rid))
                        g_ptr_array_add(lost, req);
        }
        g_hash_table_iter_init(&iter, gate->records);
        while (g_hash_table_iter_next(&iter, NULL, &value))
                if (gate_record_is_orphan(gate, value))
                        g_ptr_array_add(orphans, value);

        for (guint i = 0; i < lost->len; i++) {
                GateRequest *req = lost->pdata[i];

                if (req->state == REQUEST_GRANTED)
                        service_gate_lose(gate->service, req->lock, LOCK_END_FORCED);
                else
                        request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "The request was removed from etcd while it waited.");
        }
        for (guint i = 0; i < orphans->len; i++)
                gate_delete_record_keys(gate, orphans->pdata[i]);
}

static void on_load_reply(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        EtcdGate *gate = userdata;
        JsonArray *responses, *kvs;
        int64_t revision;

        gate->load_call = NULL;
        if (error < 0) {
                log_debug_errno(error, "Failed to read the lock namespace from etcd: %m");
                gate_retry_watch_later(gate);
                return;
        }
        responses = reply_responses(reply);
        revision = reply_revision(reply);
        if (!gate_check_token_base(gate, response_kvs(responses, 1), revision))
                return;

        g_hash_table_remove_all(gate->records);
        kvs = response_kvs(responses, 0);
        for (guint i = 0; kvs && i < json_array_get_length(kvs); i++) {
                JsonObject *kv = json_array_get_object_element(kvs, i);
                g_autofree guchar *key = NULL;
                const char *rid;
                size_t size;

                key = etcd_json_get_bytes(kv, "key", &size);
                if (key && cluster_key_parse((const char *) key, size, &rid) == CLUSTER_KEY_RECORD)
                        gate_put_record(gate, rid, kv);
        }

        gate->next_revision = revision + 1;
        gate_check_own_records(gate, revision);
        gate_watch_start(gate);

        if (!gate->available && gate->lease_id) {
                gate->available = true;
                log_info("Serving locks through etcd at %s as node %s.", etcd_client_get_endpoint(gate->client),
                         gate->node);
                if (gate->available_callback)
                        gate->available_callback(gate->available_userdata);
        }
}

static void gate_load(EtcdGate *gate) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree char *records = g_strconcat(CLUSTER_PREFIX, "r/", NULL);

        if (gate->load_call)
                return;
        gate->watch = etcd_watch_free(gate->watch);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "success");
        json_builder_begin_array(b);
        add_range(b, records, true, false);
        add_range(b, CLUSTER_TOKEN_BASE_KEY, false, false);
        json_builder_end_array(b);
        json_builder_end_object(b);
        if (gate_call(gate, ETCD_CHANNEL_QUERY, "/v3/kv/txn", b, on_load_reply, gate, &gate->load_call) < 0)
                gate_retry_watch_later(gate);
}

/* ---- the session ---- */

static void gate_schedule_lease(EtcdGate *gate, uint64_t usec) {
        (void) sd_event_source_set_time_relative(gate->lease_timer, usec);
        (void) sd_event_source_set_enabled(gate->lease_timer, SD_EVENT_ONESHOT);
}

/* The lease may have ended on the cluster once this passes: act as if it had. The cluster ends it
 * TTL after the leader last heard from us, later than we sent: the margin covers clock rates. */
static void gate_lease_renewed(EtcdGate *gate, uint64_t sent, uint64_t ttl_usec) {
        uint64_t margin = MIN(MAX(ttl_usec / 10, 500 * UINT64_C(1000)), ttl_usec / 2);

        gate->lease_valid_until = sent + ttl_usec - margin;
        (void) sd_event_source_set_time(gate->expiry_timer, gate->lease_valid_until);
        (void) sd_event_source_set_enabled(gate->expiry_timer, SD_EVENT_ONESHOT);
}

static JsonObject *lease_result(JsonObject *reply) {
        JsonNode *node = json_object_get_member(reply, "result");

        return node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : reply;
}

static void on_keepalive_reply(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        EtcdGate *gate = userdata;
        int64_t ttl;

        gate->lease_call = NULL;
        if (error < 0) {
                log_debug_errno(error, "Lease keep-alive failed, retrying: %m");
                gate_schedule_lease(gate, RETRY_USEC);
                return;
        }
        ttl = etcd_json_get_int64(lease_result(reply), "TTL");
        if (ttl <= 0) {
                gate_session_lost(gate, "etcd says its lease has expired");
                return;
        }
        gate_lease_renewed(gate, gate->keepalive_sent, (uint64_t) ttl * USEC_PER_SEC);
        gate_schedule_lease(gate, gate->ttl_usec / 3);
}

static void on_grant_lease_reply(EtcdClient *client, int error, JsonObject *reply, void *userdata) {
        EtcdGate *gate = userdata;
        int64_t id, ttl;

        gate->lease_call = NULL;
        if (error >= 0) {
                id = etcd_json_get_int64(reply, "ID");
                ttl = etcd_json_get_int64(reply, "TTL");
                if (id == 0 || ttl <= 0)
                        error = -EPROTO;
        }
        if (error < 0) {
                log_debug_errno(error, "Failed to start a session with etcd, retrying: %m");
                gate_schedule_lease(gate, RETRY_USEC * 2);
                return;
        }

        gate->lease_id = id;
        gate->seq = 0;
        log_debug("Session with etcd started: lease %" PRIx64 ", TTL %" PRIi64 " s.", (uint64_t) id, ttl);
        gate_lease_renewed(gate, gate->keepalive_sent, (uint64_t) ttl * USEC_PER_SEC);
        gate_schedule_lease(gate, gate->ttl_usec / 3);
        gate->next_revision = 0;
        gate_load(gate);
}

static int on_lease_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        EtcdGate *gate = userdata;
        g_autoptr(JsonBuilder) b = json_builder_new();
        uint64_t now = 0;
        int r;

        if (gate->lease_call)
                return 0;
        (void) sd_event_now(gate->event, CLOCK_MONOTONIC, &now);
        gate->keepalive_sent = now;

        json_builder_begin_object(b);
        if (gate->lease_id) {
                add_int64(b, "ID", gate->lease_id);
                json_builder_end_object(b);
                r = gate_call(gate, ETCD_CHANNEL_LEASE, "/v3/lease/keepalive", b, on_keepalive_reply, gate,
                              &gate->lease_call);
        } else {
                add_int64(b, "TTL", (int64_t) ((gate->ttl_usec + USEC_PER_SEC - 1) / USEC_PER_SEC));
                json_builder_end_object(b);
                r = gate_call(gate, ETCD_CHANNEL_LEASE, "/v3/lease/grant", b, on_grant_lease_reply, gate,
                              &gate->lease_call);
        }
        if (r < 0)
                gate_schedule_lease(gate, RETRY_USEC);
        return 0;
}

/* This daemon can no longer tell whether its lease lives: its locks may be granted elsewhere any
 * moment now, so its holders lose them first and its waiters are told. */
static void gate_session_lost(EtcdGate *gate, const char *why) {
        g_autoptr(GPtrArray) requests = g_ptr_array_new();
        GHashTableIter iter;
        gpointer value;

        if (gate->lease_id)
                log_warning("Lost the session with etcd (%s): ending this daemon's locks.", why);
        gate->available = false;
        gate->lease_id = 0;
        /* Whatever that session wrote goes with its lease. */
        g_hash_table_remove_all(gate->suspects);
        (void) sd_event_source_set_enabled(gate->expiry_timer, SD_EVENT_OFF);
        if (gate->lease_call) {
                etcd_call_cancel(gate->lease_call);
                gate->lease_call = NULL;
        }

        g_hash_table_iter_init(&iter, gate->requests);
        while (g_hash_table_iter_next(&iter, NULL, &value))
                g_ptr_array_add(requests, value);
        for (guint i = 0; i < requests->len; i++) {
                GateRequest *req = requests->pdata[i];

                if (!req->lock)
                        continue;
                if (req->state == REQUEST_GRANTED)
                        service_gate_lose(gate->service, req->lock, LOCK_END_EXPIRED);
                else
                        request_refuse(req, SERVICE_ERROR_UNAVAILABLE, "The session with etcd was lost.");
        }

        gate_schedule_lease(gate, RETRY_USEC);
}

/* A live watch should miss nothing; etcd 3.4 has had bugs where it did. A request waiting for longer
 * than a session's TTL reads what it waits for again, so that none waits for ever. */
static int on_recount_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        EtcdGate *gate = userdata;

        if (gate->available)
                gate_recount_waiting(gate, gate->ttl_usec);
        (void) sd_event_source_set_time_relative(source, gate->ttl_usec);
        return 0;
}

static int on_expiry_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        gate_session_lost(userdata, "no keep-alive answered in time");
        return 0;
}

void etcd_gate_set_available_callback(EtcdGate *gate, void (*callback)(void *userdata), void *userdata) {
        gate->available_callback = callback;
        gate->available_userdata = userdata;
}

bool etcd_gate_is_available(const EtcdGate *gate) {
        return gate->available;
}

int etcd_gate_new(Service *service, sd_event *event, const EtcdGateSettings *settings, EtcdGate **ret) {
        g_autoptr(EtcdGate) gate = g_new0(EtcdGate, 1);
        int r;

        gate->service = service;
        gate->event = sd_event_ref(event);
        gate->node = g_strdup(settings->node);
        gate->ttl_usec = settings->session_ttl_usec;
        gate->records = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, gate_record_free);
        gate->requests = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, request_free);
        gate->blockers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
        gate->recent_deletes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        gate->suspects = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        r = etcd_client_new(event, &settings->etcd, &gate->client);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the etcd client: %m");

        /* Both exact: sd-event's default accuracy would let the deadline slip by 250 ms. */
        r = sd_event_add_time_relative(event, &gate->lease_timer, CLOCK_MONOTONIC, 0, 1, on_lease_timer, gate);
        if (r < 0)
                return log_error_errno(r, "Failed to add the lease timer: %m");
        r = sd_event_add_time(event, &gate->expiry_timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_expiry_timer, gate);
        if (r < 0)
                return log_error_errno(r, "Failed to add the lease expiry timer: %m");
        (void) sd_event_source_set_enabled(gate->expiry_timer, SD_EVENT_OFF);
        r = sd_event_add_time_relative(event, &gate->recount_timer, CLOCK_MONOTONIC, gate->ttl_usec, 0,
                                       on_recount_timer, gate);
        if (r < 0)
                return log_error_errno(r, "Failed to add the recount timer: %m");
        (void) sd_event_source_set_enabled(gate->recount_timer, SD_EVENT_ON);
        /* A renewal must not wait behind a busy loop's other work. */
        (void) sd_event_source_set_priority(gate->lease_timer, SD_EVENT_PRIORITY_IMPORTANT);
        (void) sd_event_source_set_priority(gate->expiry_timer, SD_EVENT_PRIORITY_IMPORTANT);

        service_set_gate(service, &etcd_gate_ops, gate);
        *ret = g_steal_pointer(&gate);
        return 0;
}

void etcd_gate_stop(EtcdGate *gate, uint64_t timeout_usec) {
        g_autoptr(JsonBuilder) b = NULL;
        int r;

        if (!gate)
                return;
        /* Nothing starts again during the exit's last rounds. */
        (void) sd_event_source_set_enabled(gate->lease_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(gate->expiry_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(gate->recount_timer, SD_EVENT_OFF);
        if (gate->lease_call) {
                etcd_call_cancel(gate->lease_call);
                gate->lease_call = NULL;
        }
        if (!gate->lease_id)
                return;

        /* At exit the loop no longer runs: one blocking call, bounded. Without it, other daemons wait
         * for this one's keys until the lease runs out. */
        b = json_builder_new();
        json_builder_begin_object(b);
        add_int64(b, "ID", gate->lease_id);
        json_builder_end_object(b);
        r = etcd_client_call_blocking(gate->client, "/v3/lease/revoke", json_builder_get_root(b), timeout_usec);
        if (r < 0)
                log_debug_errno(r, "Failed to revoke the lease in etcd; its keys go when it runs out: %m");
        gate->lease_id = 0;
        gate->available = false;
}

EtcdGate *etcd_gate_free(EtcdGate *gate) {
        if (!gate)
                return NULL;

        if (gate->lease_call)
                etcd_call_cancel(gate->lease_call);
        if (gate->load_call)
                etcd_call_cancel(gate->load_call);
        gate->watch = etcd_watch_free(gate->watch);
        if (gate->requests)
                g_hash_table_unref(gate->requests);
        if (gate->blockers)
                g_hash_table_unref(gate->blockers);
        if (gate->recent_deletes)
                g_hash_table_unref(gate->recent_deletes);
        if (gate->suspects)
                g_hash_table_unref(gate->suspects);
        if (gate->records)
                g_hash_table_unref(gate->records);
        etcd_client_free(gate->client);
        sd_event_source_disable_unref(gate->lease_timer);
        sd_event_source_disable_unref(gate->expiry_timer);
        sd_event_source_disable_unref(gate->watch_timer);
        sd_event_source_disable_unref(gate->recount_timer);
        sd_event_unref(gate->event);
        g_free(gate->node);
        g_free(gate);
        return NULL;
}
