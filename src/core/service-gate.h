/* A gate between the lock table and the callers: a lock the table grants is not the caller's until
 * the gate confirms it. The etcd backend is such a gate: the local table keeps this daemon's order,
 * quotas, leases and deadlock checks, and etcd orders the daemons' requests among themselves. Without
 * a gate (the memory backend) the table's grant is final. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lock-table.h"
#include "service-error.h"

typedef struct Service Service;
typedef struct Client Client;

/* A Release whose answer waits until the cluster has dropped the lock: answered says whether the
 * caller is still there to be answered. */
typedef void (*ServiceReleaseDone)(void *userdata, bool answered);
typedef struct ServiceReleaseWaiter ServiceReleaseWaiter;

/* A lock as the listings show it, local or held through another daemon. */
typedef struct ServiceLockInfo {
        const uint8_t *id;              /* LOCK_ID_SIZE bytes */
        const char *const *paths;
        size_t n_paths;
        bool shared;
        const char *owner;              /* a client id; "NODE/ID" for another daemon's client */
        const char *name;               /* the owner's friendly name, or NULL */
        uid_t uid;
        uint64_t token;
        uint64_t acquired_realtime;
        uint64_t expires_realtime;
} ServiceLockInfo;

typedef void (*ServiceLockVisitor)(const ServiceLockInfo *info, void *userdata);

/* A publication between daemons. */
typedef struct ServiceRemotePublication {
        const char *message;
        const char *sender_id;          /* "NODE/ID" */
        const char *sender_name;        /* or NULL */
        const char *const *receivers;   /* client ids or names; none: every client */
        size_t n_receivers;
        uint64_t expires_realtime;      /* 0: never */
        bool unique;
        bool replace;
} ServiceRemotePublication;

typedef struct ServiceGateOps {
        /* The table granted lock: confirm it with service_gate_confirm(), refuse it with
         * service_gate_refuse(), at once or later. lease_usec: the lease it will get (as asked: 0 is
         * the most allowed). gate_data: the gate's per-lock state, given back to retire. Not called
         * from within a lock table callback. */
        void (*admit)(void *gate, Lock *lock, bool nonblocking, uint64_t lease_usec, void **gate_data);
        /* The lock ended here, confirmed or not (any reason): its state in the cluster goes. Called
         * from within a lock table callback: it must not call back into the service at once. waiter,
         * when not NULL, is given to service_release_waiter_finish() once the cluster has it (or
         * never will), exactly once. */
        void (*retire)(void *gate, Lock *lock, void *gate_data, ServiceReleaseWaiter *waiter);
        /* Admin: ends a lock held through another daemon. 1 ended, 0 not known. */
        int (*force_release)(void *gate, const uint8_t id[LOCK_ID_SIZE], const char *by);
        /* Visits the locks held through other daemons. */
        void (*foreach_remote)(void *gate, ServiceLockVisitor visit, void *userdata);
        /* A publication made here goes to the other daemons too, for their clients among receivers
         * (none: all of their clients). */
        void (*publish)(void *gate, const ServiceRemotePublication *publication);
} ServiceGateOps;

/* Puts a gate in front of the table; before any lock is requested. */
void service_set_gate(Service *service, const ServiceGateOps *ops, void *gate);

/* The cluster granted an admitted lock, with its token. */
void service_gate_confirm(Service *service, Lock *lock, uint64_t token);
/* The cluster refused it (error: why, e.g. SERVICE_ERROR_UNAVAILABLE or SERVICE_ERROR_TIMEOUT for a
 * nonblocking request); the caller gets the error and the local grant is undone. */
void service_gate_refuse(Service *service, Lock *lock, ServiceErrorCode code, const char *message);
/* A confirmed lock ended in the cluster (force-released elsewhere, or the cluster lost sight of this
 * daemon): reason LOCK_END_FORCED or LOCK_END_EXPIRED; its holder is told. */
void service_gate_lose(Service *service, Lock *lock, LockEndReason reason);
/* The cluster dropped a released lock: its Release is answered, and the waiter freed. */
void service_release_waiter_finish(ServiceReleaseWaiter *waiter);

/* Whether a held lock is the caller's yet (always without a gate). */
bool service_lock_is_confirmed(const Lock *lock);

/* A publication from another daemon: into the inboxes of this daemon's clients among its receivers
 * (unknown ones are another daemon's), as a local Publish would, told to each. Limits apply as there;
 * a receiver whose inbox refuses it is skipped. */
void service_deliver_remote(Service *service, const ServiceRemotePublication *publication);

/* Visits every lock held: the table's confirmed ones, then those held through other daemons. */
void service_foreach_lock(Service *service, ServiceLockVisitor visit, void *userdata);
