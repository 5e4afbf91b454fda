/* The keys and records of the lock namespace in etcd, as every daemon of a cluster writes them:
 *
 *   pylocker/q/<H>/<x|s>/<rid>   one per path of a request, H = base64url(SHA-256(path)): every path's
 *                                queue under a prefix of one length, whatever the path
 *   pylocker/r/<rid>             the request's record (JSON: paths, mode, node, client, ...), written
 *                                again, granted, by the commit that grants it: that revision is the token
 *   pylocker/token-base          added to revisions to make tokens, only ever raised
 *   pylocker/m/<rid>             a publication for the other daemons' clients, deleted once written
 *
 * rid = the daemon's lease id and a sequence number, both 16 hex digits: unique across daemons, and
 * known before the request's transaction is sent. Pure functions, for the backend and its tests. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

#include "lock-table.h"

#define CLUSTER_PREFIX "pylocker/"
#define CLUSTER_RID_SIZE (16 + 1 + 16)
#define CLUSTER_TOKEN_BASE_KEY CLUSTER_PREFIX "token-base"

/* rid into buf (CLUSTER_RID_SIZE + 1 bytes). */
char *cluster_rid_format(char buf[CLUSTER_RID_SIZE + 1], int64_t lease_id, uint64_t seq);

/* "pylocker/q/<H>/": the queue of a path (g_free). */
char *cluster_queue_prefix(const char *path);
/* The key of a request in a path's queue (g_free). */
char *cluster_queue_key(const char *path, bool shared, const char *rid);
char *cluster_record_key(const char *rid);
char *cluster_message_key(const char *rid);

typedef enum ClusterKeyKind {
        CLUSTER_KEY_OTHER,
        CLUSTER_KEY_QUEUE,
        CLUSTER_KEY_RECORD,
        CLUSTER_KEY_TOKEN_BASE,
        CLUSTER_KEY_MESSAGE,
} ClusterKeyKind;

/* What a key is; *ret_rid (may be NULL) points into key for queue, record and message keys. */
ClusterKeyKind cluster_key_parse(const char *key, size_t size, const char **ret_rid);

/* A request's record. */
typedef struct ClusterRecord {
        uint8_t lock_id[LOCK_ID_SIZE];
        char **paths;
        size_t n_paths;
        bool shared;
        char *node;
        char *client;
        char *name;                 /* or NULL */
        uid_t uid;
        uint64_t lease_usec;
        uint64_t created_realtime;
        bool granted;
} ClusterRecord;

void cluster_record_clear(ClusterRecord *record);
ClusterRecord *cluster_record_free(ClusterRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ClusterRecord, cluster_record_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ClusterRecord, cluster_record_clear)

/* JSON text (g_free; *ret_size its length). */
char *cluster_record_to_json(const ClusterRecord *record, size_t *ret_size);
/* 0 or -EBADMSG for anything that is not a record this code wrote. */
int cluster_record_from_json(const char *text, size_t size, ClusterRecord *ret);

/* A publication between daemons. */
typedef struct ClusterMessage {
        char *node;
        char *sender;
        char *sender_name;          /* or NULL */
        char *message;
        char **receivers;
        size_t n_receivers;
        uint64_t expires_realtime;  /* 0: never */
        bool unique;
        bool replace;
} ClusterMessage;

void cluster_message_clear(ClusterMessage *message);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ClusterMessage, cluster_message_clear)
char *cluster_message_to_json(const ClusterMessage *message, size_t *ret_size);
int cluster_message_from_json(const char *text, size_t size, ClusterMessage *ret);
