/* A client of the service: one peer of a front end (a bus name, a direct or bridge connection) with
 * its identity, name, lock owner and inbox. The front end reaches it through its ClientOps. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

#include "inbox.h"
#include "lock-table.h"

typedef struct Service Service;
typedef struct Client Client;

/* What polkit said about a client, kept while it is connected. */
typedef enum ClientVerdict {
        CLIENT_VERDICT_UNKNOWN,
        CLIENT_VERDICT_ALLOWED,
        CLIENT_VERDICT_DENIED,
} ClientVerdict;

typedef enum ClientTransport {
        CLIENT_TRANSPORT_BUS,
        CLIENT_TRANSPORT_BRIDGE,
        _CLIENT_TRANSPORT_MAX,
} ClientTransport;

#define CLIENT_NAME_MAX 255
#define CLIENT_N_ACTIONS 3 /* _SERVICE_ACTION_MAX */

/* Why a held lock ended without its owner releasing it. */
typedef enum LockLostReason {
        LOCK_LOST_EXPIRED,              /* its lease (or MaxLockTime) ran out */
        LOCK_LOST_FORCED,               /* an admin force-released it */
        LOCK_LOST_HANDLE_CLOSED,        /* every copy of its handle was closed */
        _LOCK_LOST_REASON_MAX,
} LockLostReason;

/* How the core reaches a client back; implemented by its front end. */
typedef struct ClientOps {
        /* A held lock ended without its owner releasing it; called just before the lock is freed. */
        void (*lock_lost)(Client *client, Lock *lock, LockLostReason reason);
        /* A publication was delivered into its inbox. */
        void (*message_published)(Client *client, const Publication *publication);
        /* The client is being freed: let go of the connection. */
        void (*disconnect)(Client *client);
        /* Bytes produced for it that it has not read yet, as far as the front end knows; NULL: none
         * kept here. Asked only when statistics are read, so nothing is counted on the way out. */
        size_t (*queued_bytes)(Client *client);
} ClientOps;

struct Client {
        Service *service;
        char *id;                 /* unique bus name, direct-N or bridge-N */
        char *name;               /* friendly name, NULL when unset */
        char *address;            /* a bridge peer's "[ADDR]:PORT", shown as its name while it has none */
        uid_t uid;
        pid_t pid;
        ClientTransport transport;
        const ClientOps *ops;
        void *link;               /* the front end's connection state */
        LockOwner *owner;
        Inbox *inbox;
        ClientVerdict verdicts[CLIENT_N_ACTIONS];
        GQueue release_waiters;   /* ServiceReleaseWaiter: Releases answered once the cluster has them */
        uint64_t publish_window_start;   /* CLOCK_MONOTONIC second of the current window */
        unsigned publish_window_count;
};

/* Creates a client and adds it to the service's registry; the id must not be in use. */
Client *client_new(Service *service, const char *id, ClientTransport transport, uid_t uid, pid_t pid,
                   const ClientOps *ops, void *link);
/* Releases its locks, drops its waiting requests, removes it from the registry, disconnects it. */
Client *client_free(Client *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Client, client_free)

/* Sets or clears (NULL or "") the friendly name. Returns 0, -EEXIST (taken by another client) or
 * -EINVAL (too long, or a control character). */
/* Whether a friendly name has the shape of a client id (":1.5", "direct-3", "bridge-7"): refused. */
bool client_name_looks_like_id(const char *name);
int client_set_name(Client *client, const char *name);

/* Counts a publication against the per-second limit; false when over it. */
bool client_publish_allowed(Client *client, uint64_t monotonic_usec, unsigned per_second);

const char *client_transport_to_string(ClientTransport transport);

/* The name ListClients and ListLocks show: the friendly name, else a bridge peer's address, else "". */
const char *client_get_display_name(const Client *client);
