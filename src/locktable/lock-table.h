/* The lock table: FIFO-fair all-or-nothing locks on opaque string paths, with leases and fencing
 * tokens. Pure C with no D-Bus types, so other backends can sit beside it behind the same calls. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <glib.h>

typedef struct LockTable LockTable;
typedef struct LockOwner LockOwner;
/* Owners that share limits, e.g. all clients of one user. */
typedef struct LockGroup LockGroup;
/* A request: waiting until granted, then a held lock. The same object throughout. */
typedef struct Lock Lock;

/* Documented outcomes of lock table calls; negative values are fatal errno codes. */
enum {
        LOCK_E_PENDING = 1,        /* queued: on_granted or on_ended(TIMED_OUT) comes later */
        LOCK_E_WOULD_BLOCK,        /* nonblocking request that could not be granted at once */
        LOCK_E_NOT_FOUND,          /* no held lock with that id */
        LOCK_E_NOT_OWNER,          /* the lock is held by another owner */
        LOCK_E_QUOTA,              /* the owner holds or waits for too many locks */
        LOCK_E_GROUP_QUOTA,        /* the owner's group holds or waits for too many locks */
        LOCK_E_NO_PATHS,           /* empty path list */
        LOCK_E_TOO_MANY_PATHS,     /* more paths than max_paths_per_request */
        LOCK_E_EMPTY_PATH,         /* a path is "" */
        LOCK_E_PATH_TOO_LONG,      /* a path is longer than max_path_length bytes */
        LOCK_E_PATH_NOT_UTF8,      /* a path is not valid UTF-8 */
        LOCK_E_DEADLOCK,           /* waiting would close a cycle of owners waiting for each other */
        LOCK_E_GROUP_BYTES,        /* the request would take the owner's group past its byte budget */
};

typedef enum LockEndReason {
        LOCK_END_RELEASED,         /* released by its owner */
        LOCK_END_FORCED,           /* released by someone else (an admin's ForceRelease) */
        LOCK_END_EXPIRED,          /* the lease ran out */
        LOCK_END_OWNER_GONE,       /* the owner went away */
        LOCK_END_TIMED_OUT,        /* a waiting request's timeout passed */
        LOCK_END_CANCELLED,        /* a waiting request was dropped (owner gone) */
        LOCK_END_SHUTDOWN,         /* the table is being shut down */
        _LOCK_END_REASON_MAX,
} LockEndReason;

/* One Acquire: what every front end reads from its caller, and what the table needs to decide. */
typedef struct LockRequest {
        const char *const *paths;        /* duplicates collapse */
        size_t n_paths;
        bool shared;                     /* a reader lock, compatible with other shared holders */
        bool nonblocking;                /* LOCK_E_WOULD_BLOCK instead of waiting */
        bool skip_deadlock_check;        /* wait even where the wait closes a cycle of owners (for an
                                          * owner whose threads release what another thread waits on) */
        uint64_t timeout_usec;           /* 0: default_timeout_usec; UINT64_MAX: forever */
        uint64_t ttl_usec;               /* lease; 0 or longer than max_lock_usec: max_lock_usec */
} LockRequest;

#define LOCK_ID_SIZE 16 /* RANDOM_ID_SIZE */
#define LOCK_ID_STRING_MAX (LOCK_ID_SIZE * 2 + 1)

typedef struct LockTableLimits {
        uint64_t default_timeout_usec;   /* used for a timeout of 0 */
        uint64_t max_lock_usec;          /* longest lease; also the lease when none is asked for */
        size_t max_paths_per_request;
        size_t max_path_length;
        size_t max_locks_per_owner;      /* held plus waiting (a waiter may become a lock) */
        size_t max_waiters_per_owner;
        size_t max_locks_per_group;      /* the same, for all owners of a group together */
        size_t max_waiters_per_group;
        size_t max_bytes_per_group;      /* what the table keeps for a group's locks and waiters, plus
                                          * what is charged to it from outside (inboxes) */
} LockTableLimits;

#define LOCK_TABLE_LIMITS_DEFAULT {                                      \
                .default_timeout_usec = 20 * UINT64_C(1000000),          \
                .max_lock_usec = 120 * UINT64_C(1000000),                \
                .max_paths_per_request = 256,                            \
                .max_path_length = 4096,                                 \
                .max_locks_per_owner = 4096,                             \
                .max_waiters_per_owner = 256,                            \
                .max_locks_per_group = 65536,                            \
                .max_waiters_per_group = 4096,                           \
                .max_bytes_per_group = 64 << 20,                         \
        }

/* Callbacks must not call back into the table's mutating functions. */
typedef struct LockTableCallbacks {
        /* A queued request was granted. Not called for requests granted inside lock_table_acquire().
         * Requests one departure lets through are granted, and get their tokens, in arrival order. */
        void (*on_granted)(LockTable *table, Lock *lock, void *userdata);
        /* Called exactly once for every queued request and held lock, just before it is freed. */
        void (*on_ended)(LockTable *table, Lock *lock, LockEndReason reason, void *userdata);
        /* The earliest deadline changed (UINT64_MAX: none); re-arm the timer that calls
         * lock_table_dispatch_deadlines(). */
        void (*on_deadline_changed)(LockTable *table, uint64_t monotonic_usec, void *userdata);
        /* Injected clock, for tests; NULL means clock_gettime(). */
        uint64_t (*now)(clockid_t clock, void *userdata);
        /* Tokens up to the returned value may be handed out; called before the first grant and
         * whenever they run out, with the last token given so far. NULL: no ceiling. Lets tokens keep
         * increasing across restarts (the daemon persists the ceiling). */
        uint64_t (*reserve_tokens)(LockTable *table, uint64_t last_token, void *userdata);
} LockTableCallbacks;

LockTable *lock_table_new(const LockTableLimits *limits,
                          const LockTableCallbacks *callbacks,
                          void *userdata,
                          uint64_t token_floor);
/* Ends every waiting request and held lock with LOCK_END_SHUTDOWN, granting nothing; owners stay. */
void lock_table_shutdown(LockTable *table);
/* Shuts down, then frees the remaining owners and the table. */
LockTable *lock_table_free(LockTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LockTable, lock_table_free)

const LockTableLimits *lock_table_get_limits(const LockTable *table);
/* Applies to grants, refreshes and requests made from now on. */
void lock_table_set_limits(LockTable *table, const LockTableLimits *limits);

size_t lock_table_get_n_locks(const LockTable *table);
size_t lock_table_get_n_waiters(const LockTable *table);
uint64_t lock_table_get_last_token(const LockTable *table);
uint64_t lock_table_now(const LockTable *table, clockid_t clock);

LockGroup *lock_group_new(LockTable *table);
LockGroup *lock_group_ref(LockGroup *group);
LockGroup *lock_group_unref(LockGroup *group);
size_t lock_group_get_n_locks(const LockGroup *group);
size_t lock_group_get_n_waiters(const LockGroup *group);
/* The bytes charged to the group: its locks' and waiters' (paths and per-lock overhead, as the table
 * stores them) and what lock_group_charge() added. */
size_t lock_group_get_n_bytes(const LockGroup *group);
/* Charges (delta > 0) or gives back bytes kept outside the table, e.g. inbox messages. */
void lock_group_charge(LockGroup *group, ssize_t delta);

/* group may be NULL: the owner answers to its own limits only. The owner keeps a reference. */
LockOwner *lock_owner_new(LockTable *table, LockGroup *group, void *userdata);
/* Cancels the owner's waiting requests and releases its locks, then frees it. */
LockOwner *lock_owner_free(LockOwner *owner);
/* The owner is gone: cancels its waiting requests now and leaves its held locks to
 * lock_table_reap(), which releases them (LOCK_END_OWNER_GONE) a batch at a time, granting what
 * each lets through as lock_owner_free() would. From now on the owner's userdata is NULL (callbacks
 * see its locks without one), its locks are not visited by lock_table_iter_next(), and nothing is
 * granted to it. Returns NULL; true in *ret_pending when locks are left to reap. */
LockOwner *lock_owner_retire(LockOwner *owner, bool *ret_pending);
/* Releases locks of retired owners, oldest owner first, as long as their paths add up to at most
 * max_paths (at least one lock a call), and frees the owners left with none. Returns whether locks
 * are left to reap. */
bool lock_table_reap(LockTable *table, size_t max_paths);
/* Locks of retired owners not released yet. */
size_t lock_table_get_n_retired_locks(const LockTable *table);
void *lock_owner_get_userdata(const LockOwner *owner);
LockGroup *lock_owner_get_group(const LockOwner *owner);
size_t lock_owner_get_n_locks(const LockOwner *owner);
size_t lock_owner_get_n_waiters(const LockOwner *owner);

/* Checks a path list against the limits: 0, or a LOCK_E_* code and the index of the bad path. */
int lock_table_check_paths(const LockTable *table,
                           const char *const *paths,
                           size_t n_paths,
                           size_t *ret_bad_index);

/* Requests all paths at once. Returns 0 (granted), LOCK_E_PENDING (queued), LOCK_E_WOULD_BLOCK,
 * LOCK_E_QUOTA, LOCK_E_GROUP_QUOTA, LOCK_E_GROUP_BYTES, LOCK_E_DEADLOCK or a path error; *ret_lock is set for 0 and
 * LOCK_E_PENDING, and a refused request changes nothing. ret_path_index may be NULL; it is set for
 * a path error to the index of the bad path in request->paths, as by lock_table_check_paths(), and
 * for LOCK_E_DEADLOCK to the index of the first path on which the request would wait for an owner
 * in the cycle.
 *
 * Deadlocks, as fcntl()'s EDEADLK: a waiting request waits for every request, held or waiting, ahead
 * of it in any of its queues that conflicts with it (either of the two exclusive). Owner A waits for
 * owner B when a waiting request of A waits for a request of B; never for itself, as one owner may
 * be many threads. A request that would have to wait, unless nonblocking or skip_deadlock_check, is
 * refused with LOCK_E_DEADLOCK when an owner it would wait for waits, directly or through others,
 * for its own owner. */
int lock_table_acquire(LockTable *table,
                       LockOwner *owner,
                       const LockRequest *request,
                       void *lock_userdata,
                       Lock **ret_lock,
                       size_t *ret_path_index);

/* Finds a held lock by id. */
Lock *lock_table_find(const LockTable *table, const uint8_t id[LOCK_ID_SIZE]);

/* Releases a held lock of this owner: 0, LOCK_E_NOT_FOUND or LOCK_E_NOT_OWNER (also for a NULL owner). */
int lock_table_release(LockTable *table, const LockOwner *owner, const uint8_t id[LOCK_ID_SIZE]);
/* Ends a held lock or a waiting request, whoever owns it. */
void lock_table_end(LockTable *table, Lock *lock, LockEndReason reason);

/* Sets a held lock's lease to ttl_usec from now (0 or longer than the maximum: max_lock_usec).
 * Returns 0 and the new expiry (realtime), LOCK_E_NOT_FOUND or LOCK_E_NOT_OWNER. */
int lock_table_refresh(LockTable *table,
                       const LockOwner *owner,
                       const uint8_t id[LOCK_ID_SIZE],
                       uint64_t ttl_usec,
                       uint64_t *ret_expires_realtime);

/* For grants that a cluster confirms after this table made them. Moves a held lock's expiry to a
 * monotonic time (UINT64_MAX: none): the wait for the confirmation is bounded by the request's
 * timeout this way, and ends as LOCK_END_EXPIRED. */
void lock_table_set_expiry(LockTable *table, Lock *lock, uint64_t monotonic_usec);
/* The confirmation: the lock takes the cluster's token, and its hold time and a lease of lease_usec
 * (clamped as a request's) start now. Tokens at or below one seen before still raise the persisted
 * floor only when higher. */
void lock_table_confirm(LockTable *table, Lock *lock, uint64_t token, uint64_t lease_usec);

/* The earliest deadline (monotonic), UINT64_MAX when there is none. */
uint64_t lock_table_get_next_deadline(const LockTable *table);

/* Ends every request whose timeout and every lock whose lease has passed. */
void lock_table_dispatch_deadlines(LockTable *table);

/* Asserts that the table is consistent: queues linked both ways, their waiting requests in arrival
 * order, each queue knowing its first exclusive request; no waiting request that the grant rule would
 * grant, compatible holders, counts, ids and deadlines; every path and id in the hash chain its hash
 * names, and the hash tables neither overfull nor, once grown, more than half empty. O(size of the
 * table): for tests. */
void lock_table_check_invariants(const LockTable *table);

/* Visits the held locks, owner by owner, each owner's in grant order. */
typedef struct LockTableIter {
        GList *owner_link;
        Lock *lock;
} LockTableIter;
void lock_table_iter_init(LockTableIter *iter, LockTable *table);
bool lock_table_iter_next(LockTableIter *iter, Lock **ret_lock);

/* The shape of one of the table's hash tables. */
typedef struct LockTableHashStats {
        size_t n_entries;
        size_t n_buckets;
        size_t longest_chain;
        size_t total_probes;     /* entries read to find every entry once: n_entries when none collide */
} LockTableHashStats;
/* Of the path → queue table (one entry per path locked or waited for) and the id → lock table (one per
 * held lock); either may be NULL. O(size of the table): for tests. */
void lock_table_get_hash_stats(const LockTable *table,
                               LockTableHashStats *ret_paths,
                               LockTableHashStats *ret_ids);

/* Accessors. Paths are in request order with duplicates removed. */
LockOwner *lock_get_owner(const Lock *lock);
bool lock_is_granted(const Lock *lock);
bool lock_is_shared(const Lock *lock);
size_t lock_get_n_paths(const Lock *lock);
const char *lock_get_path(const Lock *lock, size_t i);
const uint8_t *lock_get_id(const Lock *lock);
uint64_t lock_get_token(const Lock *lock);
uint64_t lock_get_acquired_realtime(const Lock *lock);
/* When it was granted, on CLOCK_MONOTONIC (as lock_table_now()); 0 while waiting. */
uint64_t lock_get_acquired_monotonic(const Lock *lock);
uint64_t lock_get_expires_realtime(const Lock *lock);
void *lock_get_userdata(const Lock *lock);
void lock_set_userdata(Lock *lock, void *userdata);

/* Lock ids on the wire are 32 lowercase hex digits. Parsing returns 0 or -EINVAL. */
char *lock_id_to_string(const uint8_t id[LOCK_ID_SIZE], char buf[LOCK_ID_STRING_MAX]);
int lock_id_from_string(const char *s, uint8_t ret_id[LOCK_ID_SIZE]);

const char *lock_end_reason_to_string(LockEndReason reason);
