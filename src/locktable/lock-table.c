/* The lock table: FIFO-fair all-or-nothing locks on opaque string paths, with leases and fencing
 * tokens.
 *
 * Every path has a queue of every request on it, held or waiting, in arrival order, and knows the
 * first exclusive request in it. A request is enqueued on all its paths at once and granted when, on
 * each of them, it is at the head (exclusive) or no exclusive request is ahead of it (shared):
 * lock_slot_is_clear(), the one rule for a new request and a woken one alike. Since every queue
 * orders requests by the same arrival sequence, the oldest waiting request is never blocked by a
 * younger one: the table itself never deadlocks, and nobody starves. (Owners that wait while holding
 * locks can still wait for each other in a cycle: lock_would_deadlock() refuses that.) Granting looks
 * only at the queues a departing request was in, from where it stood, so its cost does not depend on
 * the locks held elsewhere.
 *
 * Memory is what a million held locks cost, so the layout is compact: a single-path lock is one
 * 120-byte allocation (its one queue entry inline, every list link intrusive, the flags and path count
 * in the spare bytes of its deadline node, and what only a waiting or only a held request needs
 * sharing the same bytes), a path's queue is one allocation with the path inline, and both lookups,
 * path → queue and id → lock, are intrusive chained hash tables whose entries keep no hash. Paths come
 * from clients, so they are hashed with SipHash under a key drawn when the table is made: nobody can
 * choose paths that pile up in one chain. Lock ids are random already, so their first bytes are their
 * hash. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chain-table.h"
#include "deadline-heap.h"
#include "lock-table.h"
#include "macro.h"
#include "random-id.h"
#include "siphash24.h"

G_STATIC_ASSERT(LOCK_ID_SIZE == RANDOM_ID_SIZE);

typedef struct PathQueue PathQueue;

/* A request's entry in the queue of one of its paths. A queue is linked forward to NULL and backward
 * round to its tail (head->prev is the tail), so that a queue keeps just its head. */
typedef struct LockSlot {
        uintptr_t queue;             /* the PathQueue, and SLOT_HAS_LOCK_POINTER */
        struct LockSlot *prev;
        struct LockSlot *next;
} LockSlot;

/* A request made for one path finds its Lock from its slot by container_of(); one made for several
 * cannot (the slot's place among them is not known), so each of its slots is followed by a pointer to
 * the Lock, and says so in the low bit of its queue pointer. */
#define SLOT_HAS_LOCK_POINTER ((uintptr_t) 1)

typedef struct LockSlotEntry {
        LockSlot slot;
        Lock *lock;                  /* only with SLOT_HAS_LOCK_POINTER: not even allocated otherwise */
} LockSlotEntry;

struct PathQueue {
        ChainLink table_link;        /* in LockTable.queues, keyed by path */
        LockSlot *head;              /* every request on this path, held or waiting, in arrival order */
        LockSlot *first_exclusive;   /* the first exclusive request among them; NULL when there is none */
        char path[];
};

typedef struct LockLink {
        Lock *prev;
        Lock *next;
} LockLink;

typedef struct LockList {
        Lock *head;
        Lock *tail;
        size_t length;
} LockList;

/* In the spare bytes of a Lock's deadline node: two flags, and the number of paths above them. */
#define LOCK_FLAG_SHARED ((uint32_t) 1 << 0)
#define LOCK_FLAG_GRANTED ((uint32_t) 1 << 1)
#define LOCK_N_SLOTS_SHIFT 2
#define LOCK_N_SLOTS_MAX (UINT32_MAX >> LOCK_N_SLOTS_SHIFT)

struct Lock {
        uint8_t id[LOCK_ID_SIZE];    /* all zero until granted */
        LockOwner *owner;
        LockLink owner_link;         /* in the owner's waiters, then in its locks */
        ChainLink id_link;           /* in LockTable.locks, once granted */
        DeadlineHeapNode deadline;   /* the timeout while waiting, the lease once granted; and the flags */
        union {
                struct {             /* while waiting */
                        uint64_t seq;            /* arrival order, compared only between waiting requests */
                        uint64_t lease_usec;     /* the lease it will get */
                };
                struct {             /* once granted */
                        uint64_t token;
                        uint64_t acquired_realtime;
                        uint64_t acquired_monotonic;
                };
        };
        void *userdata;
        LockSlotEntry slots[];       /* a request for one path has just slots[0].slot */
};

/* A held single-path lock in a 128-byte malloc chunk (120 bytes and the allocator's 8). */
G_STATIC_ASSERT(sizeof(void *) != 8 || offsetof(Lock, slots) + sizeof(LockSlot) == 120);
G_STATIC_ASSERT(sizeof(void *) != 8 || sizeof(PathQueue) == 24);

struct LockGroup {
        unsigned n_ref;
        size_t n_locks;
        size_t n_waiters;
        size_t n_bytes;
};

struct LockOwner {
        LockTable *table;
        LockGroup *group;
        void *userdata;
        GList table_link;
        LockList locks;              /* in grant order */
        LockList waiters;            /* in arrival order */
        uint64_t search;             /* the last deadlock search that reached it */
        LockOwner *search_next;      /* that search's stack */
        bool dying;
        bool retired;                /* gone: in LockTable.retired, its locks left to lock_table_reap() */
};

struct LockTable {
        LockTableLimits limits;
        LockTableCallbacks callbacks;
        void *userdata;
        uint8_t hash_key[SIPHASH_KEY_SIZE];
        ChainTable queues;           /* PathQueue.table_link, by the keyed hash of the path */
        ChainTable locks;            /* Lock.id_link of the held locks, by id */
        GQueue owners;
        GQueue retired;              /* owners gone with locks still to release, oldest first */
        size_t n_retired_locks;
        DeadlineHeap deadlines;
        uint64_t announced_deadline;
        uint64_t next_seq;
        uint64_t n_searches;
        uint64_t last_token;
        uint64_t token_ceiling;
        size_t n_waiters;
        RandomIdPool random;
        Lock **woken;                /* what one departure made grantable, until granted */
        size_t n_woken;
        size_t n_woken_allocated;
        bool in_callback;
};

static inline bool lock_has_flag(const Lock *lock, uint32_t flag) {
        return lock->deadline.spare & flag;
}

static inline size_t lock_n_slots(const Lock *lock) {
        return lock->deadline.spare >> LOCK_N_SLOTS_SHIFT;
}

static inline LockSlot *lock_slot(Lock *lock, size_t i) {
        return &lock->slots[i].slot;
}

static inline const LockSlot *lock_slot_const(const Lock *lock, size_t i) {
        return &lock->slots[i].slot;
}

static inline PathQueue *slot_get_queue(const LockSlot *slot) {
        return (PathQueue *) (slot->queue & ~SLOT_HAS_LOCK_POINTER);
}

static inline Lock *slot_get_lock(const LockSlot *slot) {
        if (slot->queue & SLOT_HAS_LOCK_POINTER)
                return container_of(slot, LockSlotEntry, slot)->lock;
        return container_of(slot, Lock, slots);
}

/* What the table keeps for a request, as charged to its owner's group: the Lock with its slots, and
 * a queue with the path in it for each path. A queue shared with other requests is charged to each of
 * them: the budget bounds what a group could make the table keep, whoever else is on its paths. */
static size_t lock_bytes(size_t n_slots, bool lock_pointers, size_t path_bytes) {
        return offsetof(Lock, slots) + n_slots * (lock_pointers ? sizeof(LockSlotEntry) : sizeof(LockSlot)) +
               n_slots * (sizeof(PathQueue) + 1) + path_bytes;
}

static size_t lock_get_bytes(const Lock *lock) {
        size_t n_slots = lock_n_slots(lock), path_bytes = 0;

        for (size_t i = 0; i < n_slots; i++)
                path_bytes += strlen(slot_get_queue(lock_slot_const(lock, i))->path);
        return lock_bytes(n_slots, lock_slot_const(lock, 0)->queue & SLOT_HAS_LOCK_POINTER, path_bytes);
}

static void lock_list_append(LockList *list, Lock *lock) {
        lock->owner_link = (LockLink) { .prev = list->tail };
        if (list->tail)
                list->tail->owner_link.next = lock;
        else
                list->head = lock;
        list->tail = lock;
        list->length++;
}

static void lock_list_unlink(LockList *list, Lock *lock) {
        if (lock->owner_link.prev)
                lock->owner_link.prev->owner_link.next = lock->owner_link.next;
        else
                list->head = lock->owner_link.next;
        if (lock->owner_link.next)
                lock->owner_link.next->owner_link.prev = lock->owner_link.prev;
        else
                list->tail = lock->owner_link.prev;
        lock->owner_link = (LockLink) {};
        list->length--;
}

static void path_queue_append(PathQueue *queue, LockSlot *slot, bool exclusive) {
        slot->next = NULL;
        if (queue->head) {
                LockSlot *tail = queue->head->prev;

                tail->next = slot;
                slot->prev = tail;
                queue->head->prev = slot;
        } else {
                queue->head = slot;
                slot->prev = slot;
        }
        if (exclusive && !queue->first_exclusive)
                queue->first_exclusive = slot;
}

static void path_queue_unlink(PathQueue *queue, LockSlot *slot) {
        if (queue->first_exclusive == slot) {
                /* Each shared request is passed over here at most once: from now on it is ahead of the
                 * first exclusive one, and nothing joins a queue but at its tail. */
                LockSlot *s = slot->next;

                while (s && lock_has_flag(slot_get_lock(s), LOCK_FLAG_SHARED))
                        s = s->next;
                queue->first_exclusive = s;
        }

        if (slot == queue->head) {
                queue->head = slot->next;
                if (queue->head)
                        queue->head->prev = slot->prev;
        } else {
                slot->prev->next = slot->next;
                if (slot->next)
                        slot->next->prev = slot->prev;
                else
                        queue->head->prev = slot->prev;
        }
        slot->prev = slot->next = NULL;
}

static uint64_t table_path_hash(const LockTable *table, const char *path, size_t length) {
        return siphash24(path, length, table->hash_key);
}

/* A queue of a path this long keeps its hash after the path: growing the table hashes every path
 * again, which for half a million paths of 4 KiB stalled the loop for seconds; finding the end of a
 * path is ten times cheaper than hashing it. Shorter paths (most) cost nothing more. */
#define PATH_HASH_KEPT_MIN_LENGTH 64

static size_t path_queue_kept_hash_offset(size_t length) {
        return (sizeof(PathQueue) + length + 1 + sizeof(uint64_t) - 1) & ~(sizeof(uint64_t) - 1);
}

static PathQueue *path_queue_new(const char *path, size_t length, uint64_t hash) {
        PathQueue *queue;

        if (length < PATH_HASH_KEPT_MIN_LENGTH)
                queue = g_malloc(sizeof(PathQueue) + length + 1);
        else {
                queue = g_malloc(path_queue_kept_hash_offset(length) + sizeof(uint64_t));
                memcpy((uint8_t *) queue + path_queue_kept_hash_offset(length), &hash, sizeof(hash));
        }
        *queue = (PathQueue) {};
        memcpy(queue->path, path, length + 1);
        return queue;
}

static uint64_t path_queue_hash(const LockTable *table, const PathQueue *queue) {
        size_t length = strlen(queue->path);
        uint64_t hash;

        if (length < PATH_HASH_KEPT_MIN_LENGTH)
                return table_path_hash(table, queue->path, length);
        memcpy(&hash, (const uint8_t *) queue + path_queue_kept_hash_offset(length), sizeof(hash));
        return hash;
}

static uint64_t path_queue_rehash(const ChainLink *link, const void *userdata) {
        return path_queue_hash(userdata, container_of(link, const PathQueue, table_link));
}

/* The ids are uniformly random, so any 8 bytes of one are a good hash, and a client that looks up ids
 * of its choosing only picks which chain it reads: it cannot make any chain longer. */
static uint64_t lock_id_hash(const uint8_t id[LOCK_ID_SIZE]) {
        uint64_t h;

        memcpy(&h, id, sizeof(h));
        return h;
}

static uint64_t lock_rehash(const ChainLink *link, const void *userdata) {
        return lock_id_hash(container_of(link, const Lock, id_link)->id);
}

static PathQueue *table_find_queue(const LockTable *table, const char *path, uint64_t hash) {
        for (ChainLink *l = chain_table_first(&table->queues, hash); l; l = l->next) {
                PathQueue *queue = container_of(l, PathQueue, table_link);

                if (strcmp(queue->path, path) == 0)
                        return queue;
        }
        return NULL;
}

static uint64_t clock_now(clockid_t clock, void *userdata) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

uint64_t lock_table_now(const LockTable *table, clockid_t clock) {
        return table->callbacks.now(clock, table->userdata);
}

LockTable *lock_table_new(const LockTableLimits *limits,
                          const LockTableCallbacks *callbacks,
                          void *userdata,
                          uint64_t token_floor) {
        LockTable *table = g_new0(LockTable, 1);

        table->limits = *limits;
        if (callbacks)
                table->callbacks = *callbacks;
        if (!table->callbacks.now)
                table->callbacks.now = clock_now;
        table->userdata = userdata;
        random_bytes(table->hash_key, sizeof(table->hash_key));
        table->queues = (ChainTable) CHAIN_TABLE_INIT(path_queue_rehash, table);
        table->locks = (ChainTable) CHAIN_TABLE_INIT(lock_rehash, table);
        table->deadlines = (DeadlineHeap) DEADLINE_HEAP_INIT;
        table->announced_deadline = UINT64_MAX;
        table->last_token = token_floor;
        table->token_ceiling = token_floor;
        table->random = (RandomIdPool) RANDOM_ID_POOL_INIT;
        return table;
}

const LockTableLimits *lock_table_get_limits(const LockTable *table) {
        return &table->limits;
}

void lock_table_set_limits(LockTable *table, const LockTableLimits *limits) {
        table->limits = *limits;
}

size_t lock_table_get_n_locks(const LockTable *table) {
        return table->locks.n_entries;
}

size_t lock_table_get_n_waiters(const LockTable *table) {
        return table->n_waiters;
}

uint64_t lock_table_get_last_token(const LockTable *table) {
        return table->last_token;
}

/* 128 bits from the kernel's CSPRNG: that two of a billion live locks share one is a 1 in 10^21
 * chance, so there is no search for a duplicate. That search cost every grant a walk along a chain
 * of locks scattered over the heap, a few cache misses each time with a million locks held. (Were it
 * ever to happen, lock_table_check_invariants() would notice.) */
static void table_new_lock_id(LockTable *table, uint8_t ret_id[LOCK_ID_SIZE]) {
        random_id_generate(&table->random, ret_id);
}

static void table_announce_deadline(LockTable *table) {
        uint64_t next = lock_table_get_next_deadline(table);

        if (next == table->announced_deadline)
                return;
        table->announced_deadline = next;
        if (table->callbacks.on_deadline_changed)
                table->callbacks.on_deadline_changed(table, next, table->userdata);
}

LockGroup *lock_group_new(LockTable *table) {
        LockGroup *group = g_new0(LockGroup, 1);

        group->n_ref = 1;
        return group;
}

LockGroup *lock_group_ref(LockGroup *group) {
        if (group)
                group->n_ref++;
        return group;
}

LockGroup *lock_group_unref(LockGroup *group) {
        if (!group || --group->n_ref > 0)
                return NULL;
        g_assert_cmpuint(group->n_locks + group->n_waiters, ==, 0);
        g_assert_cmpuint(group->n_bytes, ==, 0);
        g_free(group);
        return NULL;
}

size_t lock_group_get_n_locks(const LockGroup *group) {
        return group->n_locks;
}

size_t lock_group_get_n_waiters(const LockGroup *group) {
        return group->n_waiters;
}

size_t lock_group_get_n_bytes(const LockGroup *group) {
        return group->n_bytes;
}

void lock_group_charge(LockGroup *group, ssize_t delta) {
        if (delta < 0)
                g_assert_cmpuint(group->n_bytes, >=, (size_t) -delta);
        group->n_bytes += (size_t) delta;
}

LockOwner *lock_owner_new(LockTable *table, LockGroup *group, void *userdata) {
        LockOwner *owner = g_new0(LockOwner, 1);

        owner->table = table;
        owner->group = lock_group_ref(group);
        owner->userdata = userdata;
        owner->table_link.data = owner;
        g_queue_push_tail_link(&table->owners, &owner->table_link);
        return owner;
}

void *lock_owner_get_userdata(const LockOwner *owner) {
        return owner->userdata;
}

LockGroup *lock_owner_get_group(const LockOwner *owner) {
        return owner->group;
}

size_t lock_owner_get_n_locks(const LockOwner *owner) {
        return owner->locks.length;
}

size_t lock_owner_get_n_waiters(const LockOwner *owner) {
        return owner->waiters.length;
}

int lock_table_check_paths(const LockTable *table,
                           const char *const *paths,
                           size_t n_paths,
                           size_t *ret_bad_index) {
        *ret_bad_index = 0;
        if (n_paths == 0)
                return LOCK_E_NO_PATHS;
        if (n_paths > table->limits.max_paths_per_request) {
                *ret_bad_index = table->limits.max_paths_per_request;
                return LOCK_E_TOO_MANY_PATHS;
        }

        for (size_t i = 0; i < n_paths; i++) {
                size_t length = strlen(paths[i]);

                *ret_bad_index = i;
                if (length == 0)
                        return LOCK_E_EMPTY_PATH;
                if (length > table->limits.max_path_length)
                        return LOCK_E_PATH_TOO_LONG;
                if (!g_utf8_validate(paths[i], (gssize) length, NULL))
                        return LOCK_E_PATH_NOT_UTF8;
        }

        *ret_bad_index = 0;
        return 0;
}

static PathQueue *table_get_queue(LockTable *table, const char *path, size_t *ret_length) {
        size_t length = *ret_length = strlen(path);
        uint64_t hash = table_path_hash(table, path, length);
        PathQueue *queue = table_find_queue(table, path, hash);

        if (queue)
                return queue;

        queue = path_queue_new(path, length, hash);
        chain_table_add(&table->queues, &queue->table_link, hash);
        return queue;
}

static void table_free_queue(LockTable *table, PathQueue *queue) {
        g_assert_null(queue->head);
        chain_table_remove(&table->queues, &queue->table_link, path_queue_hash(table, queue));
        g_free(queue);
}

/* The grant rule, on one path: no request ahead of this one in the queue conflicts with it (either
 * of the two exclusive). The requests it holds for form a prefix of the queue: whatever is behind an
 * exclusive request conflicts with it, and a shared one is held back only by an exclusive one
 * ahead, which is ahead of those behind it too. */
static bool lock_slot_is_clear(const Lock *lock, const LockSlot *slot) {
        const PathQueue *queue = slot_get_queue(slot);
        const Lock *first_exclusive;

        /* What was clear at the grant stays so: nothing joins a queue ahead of a holder. (A held lock
         * has no arrival number to compare any more: its token took its place.) */
        if (lock_has_flag(lock, LOCK_FLAG_GRANTED))
                return true;

        if (!lock_has_flag(lock, LOCK_FLAG_SHARED))
                return queue->head == slot;

        if (!queue->first_exclusive)
                return true;
        first_exclusive = slot_get_lock(queue->first_exclusive);
        /* A held exclusive request is at the head, ahead of every waiting one; waiting requests are
         * in arrival order. */
        return !lock_has_flag(first_exclusive, LOCK_FLAG_GRANTED) && first_exclusive->seq > lock->seq;
}

static bool lock_is_grantable(const Lock *lock) {
        for (size_t i = 0; i < lock_n_slots(lock); i++)
                if (!lock_slot_is_clear(lock, lock_slot_const(lock, i)))
                        return false;
        return true;
}

static void lock_grant(LockTable *table, Lock *lock) {
        uint64_t lease_usec = lock->lease_usec;

        table_new_lock_id(table, lock->id);
        lock->deadline.spare |= LOCK_FLAG_GRANTED;
        if (table->last_token >= table->token_ceiling)
                table->token_ceiling = table->callbacks.reserve_tokens ?
                        table->callbacks.reserve_tokens(table, table->last_token, table->userdata) : UINT64_MAX;
        g_assert_cmpuint(table->token_ceiling, >, table->last_token);
        /* From here on the bytes of seq and lease_usec hold token and times. */
        lock->token = ++table->last_token;
        if (lock->owner->group)
                lock->owner->group->n_locks++;
        lock->acquired_realtime = lock_table_now(table, CLOCK_REALTIME);
        lock->acquired_monotonic = lock_table_now(table, CLOCK_MONOTONIC);
        deadline_heap_put(&table->deadlines, &lock->deadline, usec_add(lock->acquired_monotonic, lease_usec));
        chain_table_add(&table->locks, &lock->id_link, lock_id_hash(lock->id));
        lock_list_append(&lock->owner->locks, lock);
}

/* Notes a request woken by a departure. Whether it is grantable no longer changes before it is
 * granted: what is left of the departure only unblocks more, and callbacks cannot touch queues. */
static void table_wake(LockTable *table, Lock *lock) {
        if (lock_has_flag(lock, LOCK_FLAG_GRANTED) || lock->owner->dying || !lock_is_grantable(lock))
                return;
        if (table->n_woken == table->n_woken_allocated) {
                table->n_woken_allocated = MAX(table->n_woken_allocated * 2, 16u);
                table->woken = g_renew(Lock *, table->woken, table->n_woken_allocated);
        }
        table->woken[table->n_woken++] = lock;
}

/* After a request left the queue from just before `next`, wakes what it was holding back. Only
 * requests that conflicted with it can be clear here now: after an exclusive one, those behind it,
 * so the clear prefix from `next` on; after a shared one, the first exclusive request. */
static void path_queue_wake(LockTable *table, PathQueue *queue, LockSlot *next, bool departed_exclusive) {
        if (departed_exclusive) {
                for (LockSlot *s = next; s; s = s->next) {
                        Lock *lock = slot_get_lock(s);

                        if (!lock_slot_is_clear(lock, s))
                                break;
                        table_wake(table, lock);
                }
        } else if (queue->first_exclusive) {
                Lock *lock = slot_get_lock(queue->first_exclusive);

                if (lock_slot_is_clear(lock, queue->first_exclusive))
                        table_wake(table, lock);
        }
}

static int lock_compare_seq(const void *a, const void *b) {
        const Lock *x = *(Lock *const *) a, *y = *(Lock *const *) b;

        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Grants what one departure woke in arrival order, so that tokens follow arrival whichever queue
 * found a request first. A request woken on two paths is there twice. */
static void table_grant_woken(LockTable *table) {
        /* Found in arrival order already unless more than one queue woke something. Sorted before
         * any is granted: granting replaces a request's arrival number with its token. */
        for (size_t i = 1; i < table->n_woken; i++)
                if (table->woken[i - 1]->seq > table->woken[i]->seq) {
                        qsort(table->woken, table->n_woken, sizeof(Lock *), lock_compare_seq);
                        break;
                }

        for (size_t i = 0; i < table->n_woken; i++) {
                Lock *lock = table->woken[i];

                if (lock_has_flag(lock, LOCK_FLAG_GRANTED))
                        continue;

                lock_list_unlink(&lock->owner->waiters, lock);
                table->n_waiters--;
                if (lock->owner->group)
                        lock->owner->group->n_waiters--;
                lock_grant(table, lock);

                if (table->callbacks.on_granted) {
                        table->in_callback = true;
                        table->callbacks.on_granted(table, lock, table->userdata);
                        table->in_callback = false;
                }
        }
        table->n_woken = 0;

        /* One wide hand-over does not keep its array for good. */
        if (table->n_woken_allocated > 64) {
                g_free(table->woken);
                table->woken = NULL;
                table->n_woken_allocated = 0;
        }
}

static void lock_unlink_slots(LockTable *table, Lock *lock, bool wake) {
        bool exclusive = !lock_has_flag(lock, LOCK_FLAG_SHARED);

        for (size_t i = 0; i < lock_n_slots(lock); i++) {
                LockSlot *slot = lock_slot(lock, i), *next = slot->next;
                PathQueue *queue = slot_get_queue(slot);

                path_queue_unlink(queue, slot);
                if (!queue->head) {
                        table_free_queue(table, queue);
                        continue;
                }

                /* Waking queue by queue is enough: a request blocked by this one on several paths is
                 * woken when the last of them is unlinked. */
                if (wake)
                        path_queue_wake(table, queue, next, exclusive);
        }
        if (table->n_woken > 0)
                table_grant_woken(table);
}

static void lock_end_internal(LockTable *table, Lock *lock, LockEndReason reason, bool wake) {
        if (lock->owner->group)
                lock_group_charge(lock->owner->group, -(ssize_t) lock_get_bytes(lock));
        if (lock->owner->retired)
                table->n_retired_locks--;
        deadline_heap_remove(&table->deadlines, &lock->deadline);
        if (lock_has_flag(lock, LOCK_FLAG_GRANTED)) {
                lock_list_unlink(&lock->owner->locks, lock);
                chain_table_remove(&table->locks, &lock->id_link, lock_id_hash(lock->id));
                if (lock->owner->group)
                        lock->owner->group->n_locks--;
        } else {
                lock_list_unlink(&lock->owner->waiters, lock);
                table->n_waiters--;
                if (lock->owner->group)
                        lock->owner->group->n_waiters--;
        }

        if (table->callbacks.on_ended) {
                table->in_callback = true;
                table->callbacks.on_ended(table, lock, reason, table->userdata);
                table->in_callback = false;
        }

        lock_unlink_slots(table, lock, wake);
        explicit_bzero(lock->id, sizeof(lock->id));
        g_free(lock);
}

void lock_table_end(LockTable *table, Lock *lock, LockEndReason reason) {
        g_assert_false(table->in_callback);
        lock_end_internal(table, lock, reason, reason != LOCK_END_SHUTDOWN);
        table_announce_deadline(table);
}

static void owner_end_all(LockOwner *owner, LockEndReason waiter_reason, LockEndReason lock_reason, bool wake) {
        LockTable *table = owner->table;

        /* Waiters first, so that releasing the owner's locks does not grant them. */
        owner->dying = true;
        while (owner->waiters.head)
                lock_end_internal(table, owner->waiters.head, waiter_reason, wake);
        while (owner->locks.head)
                lock_end_internal(table, owner->locks.head, lock_reason, wake);
}

static void owner_destroy(LockOwner *owner) {
        lock_group_unref(owner->group);
        g_free(owner);
}

LockOwner *lock_owner_free(LockOwner *owner) {
        LockTable *table;

        if (!owner)
                return NULL;

        table = owner->table;
        g_assert_false(table->in_callback);
        g_assert_false(owner->retired);
        owner_end_all(owner, LOCK_END_CANCELLED, LOCK_END_OWNER_GONE, true);
        g_queue_unlink(&table->owners, &owner->table_link);
        owner_destroy(owner);
        table_announce_deadline(table);
        return NULL;
}

LockOwner *lock_owner_retire(LockOwner *owner, bool *ret_pending) {
        LockTable *table;
        bool pending = false;

        if (!owner)
                goto done;

        table = owner->table;
        g_assert_false(table->in_callback);
        g_assert_false(owner->retired);
        /* Its waiters go at once (there are few), told while the front end still knows the owner; they
         * are ended first so that releasing its locks grants them nothing. */
        owner->dying = true;
        while (owner->waiters.head)
                lock_end_internal(table, owner->waiters.head, LOCK_END_CANCELLED, true);
        owner->userdata = NULL;
        g_queue_unlink(&table->owners, &owner->table_link);
        if (owner->locks.head) {
                owner->retired = true;
                table->n_retired_locks += owner->locks.length;
                g_queue_push_tail_link(&table->retired, &owner->table_link);
                pending = true;
        } else
                owner_destroy(owner);
        table_announce_deadline(table);
done:
        if (ret_pending)
                *ret_pending = pending;
        return NULL;
}

bool lock_table_reap(LockTable *table, size_t max_paths) {
        bool first = true;

        g_assert_false(table->in_callback);

        while (table->retired.head) {
                LockOwner *owner = table->retired.head->data;

                /* Each release wakes and grants what it held back, as lock_owner_free() does, so the
                 * grant rule holds between batches: a waiter only waits for what is still held. A
                 * batch is counted in paths, not locks: a lock of 256 long paths costs as much to free
                 * as 256 of one. */
                while (owner->locks.head) {
                        size_t n = lock_n_slots(owner->locks.head);

                        if (n > max_paths && !first)
                                break;
                        lock_end_internal(table, owner->locks.head, LOCK_END_OWNER_GONE, true);
                        max_paths = n > max_paths ? 0 : max_paths - n;
                        first = false;
                }
                if (owner->locks.head)
                        break;
                g_queue_unlink(&table->retired, &owner->table_link);
                owner_destroy(owner);
        }
        table_announce_deadline(table);
        return table->retired.head != NULL;
}

size_t lock_table_get_n_retired_locks(const LockTable *table) {
        return table->n_retired_locks;
}

void lock_table_shutdown(LockTable *table) {
        g_assert_false(table->in_callback);

        /* All waiters of all owners first: a lock ending must not grant anything now. */
        for (GList *l = table->owners.head; l; l = l->next) {
                LockOwner *owner = l->data;

                owner->dying = true;
                while (owner->waiters.head)
                        lock_end_internal(table, owner->waiters.head, LOCK_END_SHUTDOWN, false);
        }
        for (GList *l = table->owners.head; l; l = l->next)
                owner_end_all(l->data, LOCK_END_SHUTDOWN, LOCK_END_SHUTDOWN, false);
        for (GList *l = table->retired.head; l; l = l->next)
                owner_end_all(l->data, LOCK_END_SHUTDOWN, LOCK_END_SHUTDOWN, false);
        table_announce_deadline(table);
}

LockTable *lock_table_free(LockTable *table) {
        if (!table)
                return NULL;

        lock_table_shutdown(table);
        while (!g_queue_is_empty(&table->owners)) {
                LockOwner *owner = table->owners.head->data;

                g_queue_unlink(&table->owners, &owner->table_link);
                owner_destroy(owner);
        }
        while (!g_queue_is_empty(&table->retired)) {
                LockOwner *owner = table->retired.head->data;

                g_queue_unlink(&table->retired, &owner->table_link);
                owner_destroy(owner);
        }

        g_assert_cmpuint(table->queues.n_entries, ==, 0);
        g_assert_cmpuint(table->locks.n_entries, ==, 0);
        chain_table_deinit(&table->queues);
        chain_table_deinit(&table->locks);
        deadline_heap_deinit(&table->deadlines);
        random_id_pool_wipe(&table->random);
        explicit_bzero(table->hash_key, sizeof(table->hash_key));
        g_free(table->woken);
        g_free(table);
        return NULL;
}

/* Pushes onto *stack the owners, other than its own and those already reached, of the requests that
 * `lock` waits for in one of its queues: those ahead of it, only the exclusive ones for a shared
 * request. Returns true instead when one of them is `target`. */
static bool lock_slot_push_blockers(LockTable *table,
                                    const Lock *lock,
                                    const LockSlot *slot,
                                    const LockOwner *target,
                                    LockOwner **stack) {
        bool shared = lock_has_flag(lock, LOCK_FLAG_SHARED);
        const PathQueue *queue = slot_get_queue(slot);

        /* Then nothing ahead conflicts, and a shared request might not even be behind the first
         * exclusive one, where the walk below starts. */
        if (lock_slot_is_clear(lock, slot))
                return false;

        /* Every request ahead of a shared one's first conflicting request is shared. */
        for (const LockSlot *s = shared ? queue->first_exclusive : queue->head; s != slot; s = s->next) {
                const Lock *other = slot_get_lock(s);
                LockOwner *owner = other->owner;

                if (shared && lock_has_flag(other, LOCK_FLAG_SHARED))
                        continue;
                if (owner == lock->owner || owner->search == table->n_searches)
                        continue;
                if (owner == target)
                        return true;
                owner->search = table->n_searches;
                owner->search_next = *stack;
                *stack = owner;
        }
        return false;
}

/* The same for every path of every waiting request of `owner`. */
static bool owner_push_blockers(LockTable *table, const LockOwner *owner, const LockOwner *target,
                                LockOwner **stack) {
        for (const Lock *waiter = owner->waiters.head; waiter; waiter = waiter->owner_link.next)
                for (size_t i = 0; i < lock_n_slots(waiter); i++)
                        if (lock_slot_push_blockers(table, waiter, lock_slot_const(waiter, i), target, stack))
                                return true;
        return false;
}

/* Whether `lock`, which would have to wait, would close a cycle of owners waiting for each other; if
 * so, *ret_slot is the first of its paths on which it would wait for an owner in the cycle.
 *
 * Checking new requests suffices: they join queues at the tail, so the requests a waiting one waits
 * for only ever go away, and no cycle forms later. Each owner is expanded at most once per search
 * (one reached before did not lead back), so a search reads each waiting request's queues at most
 * once, up to where it stands: the worst case is every entry ahead of every waiting request, the
 * usual one a few owners, and it stops at the first cycle. */
static bool lock_would_deadlock(LockTable *table, const Lock *lock, size_t *ret_slot) {
        LockOwner *stack = NULL;

        table->n_searches++;
        for (size_t i = 0; i < lock_n_slots(lock); i++) {
                /* Its own owner is skipped here, so this only pushes the owners it would wait for. */
                (void) lock_slot_push_blockers(table, lock, lock_slot_const(lock, i), lock->owner, &stack);

                while (stack) {
                        LockOwner *owner = stack;

                        stack = owner->search_next;
                        if (owner_push_blockers(table, owner, lock->owner, &stack)) {
                                *ret_slot = i;
                                return true;
                        }
                }
        }
        return false;
}

/* The index of the first occurrence of a path known to be in the list. */
static size_t paths_index(const char *const *paths, const char *path) {
        size_t i = 0;

        while (strcmp(paths[i], path) != 0)
                i++;
        return i;
}

int lock_table_acquire(LockTable *table,
                       LockOwner *owner,
                       const LockRequest *request,
                       void *lock_userdata,
                       Lock **ret_lock,
                       size_t *ret_path_index) {
        uint64_t timeout_usec = request->timeout_usec;
        size_t n_slots = 0, bad_index, slot_index, path_bytes = 0, charge = 0;
        bool lock_pointers;
        Lock *lock;
        int r;

        g_assert_false(table->in_callback);

        r = lock_table_check_paths(table, request->paths, request->n_paths, &bad_index);
        if (r != 0) {
                if (ret_path_index)
                        *ret_path_index = bad_index;
                return r;
        }
        if (owner->locks.length + owner->waiters.length >= table->limits.max_locks_per_owner)
                return LOCK_E_QUOTA;
        if (owner->group && owner->group->n_locks + owner->group->n_waiters >= table->limits.max_locks_per_group)
                return LOCK_E_GROUP_QUOTA;
        g_assert_cmpuint(request->n_paths, <=, LOCK_N_SLOTS_MAX);

        /* Room for every path given: a path given twice leaves its entry unused, which costs only the
         * client that sent it. */
        lock_pointers = request->n_paths > 1;
        lock = g_malloc0(offsetof(Lock, slots) +
                         (lock_pointers ? request->n_paths * sizeof(LockSlotEntry) : sizeof(LockSlot)));
        lock->owner = owner;
        lock->seq = ++table->next_seq;
        lock->lease_usec = lease_clamp(request->ttl_usec, table->limits.max_lock_usec);
        lock->userdata = lock_userdata;
        if (request->shared)
                lock->deadline.spare |= LOCK_FLAG_SHARED;

        for (size_t i = 0; i < request->n_paths; i++) {
                size_t length;
                PathQueue *queue = table_get_queue(table, request->paths[i], &length);
                LockSlot *slot;

                /* A path given before: this request is at the tail of its queue already. */
                if (queue->head && slot_get_lock(queue->head->prev) == lock)
                        continue;
                path_bytes += length;

                slot = lock_slot(lock, n_slots);
                slot->queue = (uintptr_t) queue;
                if (lock_pointers) {
                        slot->queue |= SLOT_HAS_LOCK_POINTER;
                        lock->slots[n_slots].lock = lock;
                }
                path_queue_append(queue, slot, !request->shared);
                n_slots++;
        }
        lock->deadline.spare |= (uint32_t) n_slots << LOCK_N_SLOTS_SHIFT;

        if (owner->group) {
                charge = lock_bytes(n_slots, lock_pointers, path_bytes);
                if (charge > table->limits.max_bytes_per_group - MIN(owner->group->n_bytes,
                                                                     table->limits.max_bytes_per_group)) {
                        /* It is last in every queue it joined, so leaving wakes nobody. */
                        lock_unlink_slots(table, lock, /* wake= */ false);
                        g_free(lock);
                        return LOCK_E_GROUP_BYTES;
                }
        }

        if (lock_is_grantable(lock)) {
                if (owner->group)
                        owner->group->n_bytes += charge;
                lock_grant(table, lock);
                table_announce_deadline(table);
                *ret_lock = lock;
                return 0;
        }

        /* It would have to wait: only now is the deadlock search worth its cost. */
        if (request->nonblocking)
                r = LOCK_E_WOULD_BLOCK;
        else if (owner->waiters.length >= table->limits.max_waiters_per_owner)
                r = LOCK_E_QUOTA;
        else if (owner->group && owner->group->n_waiters >= table->limits.max_waiters_per_group)
                r = LOCK_E_GROUP_QUOTA;
        else if (!request->skip_deadlock_check && lock_would_deadlock(table, lock, &slot_index)) {
                r = LOCK_E_DEADLOCK;
                if (ret_path_index)
                        *ret_path_index = paths_index(request->paths, lock_get_path(lock, slot_index));
        }
        if (r != 0) {
                /* It is last in every queue it joined, so leaving wakes nobody. */
                lock_unlink_slots(table, lock, /* wake= */ false);
                g_free(lock);
                return r;
        }

        if (timeout_usec == 0)
                timeout_usec = table->limits.default_timeout_usec;
        if (timeout_usec != UINT64_MAX)
                deadline_heap_put(&table->deadlines, &lock->deadline,
                                  usec_add(lock_table_now(table, CLOCK_MONOTONIC), timeout_usec));
        lock_list_append(&owner->waiters, lock);
        table->n_waiters++;
        if (owner->group) {
                owner->group->n_waiters++;
                owner->group->n_bytes += charge;
        }
        table_announce_deadline(table);

        *ret_lock = lock;
        return LOCK_E_PENDING;
}

Lock *lock_table_find(const LockTable *table, const uint8_t id[LOCK_ID_SIZE]) {
        for (ChainLink *l = chain_table_first(&table->locks, lock_id_hash(id)); l; l = l->next) {
                Lock *lock = container_of(l, Lock, id_link);

                if (memcmp(lock->id, id, LOCK_ID_SIZE) == 0)
                        return lock;
        }
        return NULL;
}

int lock_table_release(LockTable *table, const LockOwner *owner, const uint8_t id[LOCK_ID_SIZE]) {
        Lock *lock = lock_table_find(table, id);

        if (!lock)
                return LOCK_E_NOT_FOUND;
        if (lock->owner != owner)
                return LOCK_E_NOT_OWNER;

        lock_table_end(table, lock, LOCK_END_RELEASED);
        return 0;
}

int lock_table_refresh(LockTable *table,
                       const LockOwner *owner,
                       const uint8_t id[LOCK_ID_SIZE],
                       uint64_t ttl_usec,
                       uint64_t *ret_expires_realtime) {
        Lock *lock = lock_table_find(table, id);
        uint64_t lease;

        g_assert_false(table->in_callback);

        if (!lock)
                return LOCK_E_NOT_FOUND;
        if (lock->owner != owner)
                return LOCK_E_NOT_OWNER;

        lease = lease_clamp(ttl_usec, table->limits.max_lock_usec);
        deadline_heap_put(&table->deadlines, &lock->deadline,
                          usec_add(lock_table_now(table, CLOCK_MONOTONIC), lease));
        table_announce_deadline(table);

        *ret_expires_realtime = lock_get_expires_realtime(lock);
        return 0;
}

void lock_table_set_expiry(LockTable *table, Lock *lock, uint64_t monotonic_usec) {
        g_assert_false(table->in_callback);
        g_assert_true(lock_has_flag(lock, LOCK_FLAG_GRANTED));

        deadline_heap_put(&table->deadlines, &lock->deadline, monotonic_usec);
        table_announce_deadline(table);
}

void lock_table_confirm(LockTable *table, Lock *lock, uint64_t token, uint64_t lease_usec) {
        g_assert_false(table->in_callback);
        g_assert_true(lock_has_flag(lock, LOCK_FLAG_GRANTED));
        g_assert_cmpuint(token, >, 0);

        lock->token = token;
        if (token > table->last_token) {
                table->last_token = token;
                /* Persisted like the table's own tokens, so that none goes backwards after a restart. */
                if (table->last_token >= table->token_ceiling)
                        table->token_ceiling = table->callbacks.reserve_tokens ?
                                table->callbacks.reserve_tokens(table, table->last_token, table->userdata) :
                                UINT64_MAX;
        }
        lock->acquired_realtime = lock_table_now(table, CLOCK_REALTIME);
        lock->acquired_monotonic = lock_table_now(table, CLOCK_MONOTONIC);
        deadline_heap_put(&table->deadlines, &lock->deadline,
                          usec_add(lock->acquired_monotonic, lease_clamp(lease_usec, table->limits.max_lock_usec)));
        table_announce_deadline(table);
}

uint64_t lock_table_get_next_deadline(const LockTable *table) {
        DeadlineHeapNode *node = deadline_heap_peek(&table->deadlines);

        return node ? node->deadline : UINT64_MAX;
}

void lock_table_dispatch_deadlines(LockTable *table) {
        uint64_t now = lock_table_now(table, CLOCK_MONOTONIC);
        DeadlineHeapNode *node;

        g_assert_false(table->in_callback);

        while ((node = deadline_heap_peek(&table->deadlines)) && node->deadline <= now) {
                Lock *lock = container_of(node, Lock, deadline);

                lock_end_internal(table, lock,
                                  lock_has_flag(lock, LOCK_FLAG_GRANTED) ? LOCK_END_EXPIRED : LOCK_END_TIMED_OUT,
                                  true);
        }
        table_announce_deadline(table);
}

void lock_table_iter_init(LockTableIter *iter, LockTable *table) {
        *iter = (LockTableIter) { .owner_link = table->owners.head };
}

bool lock_table_iter_next(LockTableIter *iter, Lock **ret_lock) {
        while (!iter->lock) {
                if (!iter->owner_link)
                        return false;
                iter->lock = ((LockOwner *) iter->owner_link->data)->locks.head;
                iter->owner_link = iter->owner_link->next;
        }

        *ret_lock = iter->lock;
        iter->lock = iter->lock->owner_link.next;
        return true;
}

static void hash_stats(const ChainTable *table, LockTableHashStats *ret) {
        ChainTableStats stats;

        chain_table_get_stats(table, &stats);
        *ret = (LockTableHashStats) {
                .n_entries = stats.n_entries,
                .n_buckets = stats.n_buckets,
                .longest_chain = stats.longest_chain,
                .total_probes = stats.total_probes,
        };
}

void lock_table_get_hash_stats(const LockTable *table,
                               LockTableHashStats *ret_paths,
                               LockTableHashStats *ret_ids) {
        if (ret_paths)
                hash_stats(&table->queues, ret_paths);
        if (ret_ids)
                hash_stats(&table->locks, ret_ids);
}

static void lock_list_check(const LockList *list) {
        const Lock *prev = NULL;
        size_t n = 0;

        for (const Lock *l = list->head; l; prev = l, l = l->owner_link.next, n++)
                g_assert_true(l->owner_link.prev == prev);
        g_assert_true(list->tail == prev);
        g_assert_cmpuint(list->length, ==, n);
}

static void chain_table_check(const ChainTable *table) {
        if (table->n_buckets == 0) {
                g_assert_cmpuint(table->n_entries, ==, 0);
                return;
        }
        g_assert_cmpuint(table->n_buckets & (table->n_buckets - 1), ==, 0);
        g_assert_cmpuint(table->n_entries, <=, CHAIN_TABLE_MAX_LOAD * table->n_buckets);
        /* It gives memory back: never more than twice the buckets that would do. */
        if (table->n_buckets > CHAIN_TABLE_MIN_BUCKETS)
                g_assert_cmpuint(table->n_entries, >=, table->n_buckets / 2);
}

static void lock_check(const LockTable *table, const LockOwner *owner, const Lock *lock, bool granted) {
        size_t n_slots = lock_n_slots(lock);

        g_assert_true(lock->owner == owner);
        g_assert_cmpint(lock_has_flag(lock, LOCK_FLAG_GRANTED), ==, granted);
        g_assert_cmpuint(n_slots, >, 0);

        if (granted) {
                g_assert_true(lock_table_find(table, lock->id) == lock);
                g_assert_cmpuint(lock->token, >, 0);
                g_assert_cmpuint(lock->token, <=, table->last_token);
                /* A lock always has a lease. */
                g_assert_true(deadline_heap_node_is_queued(&lock->deadline));
        } else {
                g_assert_cmpuint(lock->seq, >, 0);
                g_assert_cmpuint(lock->seq, <=, table->next_seq);
                for (size_t i = 0; i < LOCK_ID_SIZE; i++)
                        g_assert_cmpuint(lock->id[i], ==, 0);
                /* Every departure wakes what it held back. */
                g_assert_false(lock_is_grantable(lock));
        }

        if (deadline_heap_node_is_queued(&lock->deadline)) {
                g_assert_cmpuint(lock->deadline.index, <=, table->deadlines.n_nodes);
                g_assert_true(table->deadlines.nodes[lock->deadline.index - 1] == &lock->deadline);
        }

        for (size_t i = 0; i < n_slots; i++) {
                const LockSlot *slot = lock_slot_const(lock, i);
                const PathQueue *queue = slot_get_queue(slot);

                g_assert_true(table_find_queue(table, queue->path, path_queue_hash(table, queue)) == queue);
                g_assert_true(slot_get_lock(slot) == lock);
                /* Only a request for one path may do without the pointers. */
                if (!(slot->queue & SLOT_HAS_LOCK_POINTER))
                        g_assert_cmpuint(n_slots, ==, 1);
                /* Duplicates collapsed: one slot per queue. */
                for (size_t j = 0; j < i && n_slots <= 64; j++)
                        g_assert_true(slot_get_queue(lock_slot_const(lock, j)) != queue);
        }
}

/* The grant rule checked the long way, by walking the queue, against lock_slot_is_clear(): what a held
 * request must be, and what decides for a waiting one. */
static void path_queue_check(const PathQueue *queue, GHashTable *requests) {
        const LockSlot *prev = NULL, *first_exclusive = NULL;
        size_t held_exclusive = 0, held_shared = 0;
        bool any_ahead = false, exclusive_ahead = false;
        uint64_t seq = 0;

        /* Emptied queues are dropped at once. */
        g_assert_nonnull(queue->head);

        for (const LockSlot *s = queue->head; s; prev = s, s = s->next) {
                const Lock *lock = slot_get_lock(s);
                bool shared = lock_has_flag(lock, LOCK_FLAG_SHARED), clear;
                ptrdiff_t offset = (const char *) s - (const char *) lock->slots;

                g_assert_true(g_hash_table_contains(requests, lock));
                /* One of the lock's own slots. */
                g_assert_cmpint(offset, >=, 0);
                g_assert_cmpint(offset % (ptrdiff_t) sizeof(LockSlotEntry), ==, 0);
                g_assert_cmpuint((size_t) offset / sizeof(LockSlotEntry), <, lock_n_slots(lock));
                g_assert_true(slot_get_queue(s) == queue);
                if (prev)
                        g_assert_true(s->prev == prev);

                clear = shared ? !exclusive_ahead : !any_ahead;
                if (lock_has_flag(lock, LOCK_FLAG_GRANTED)) {
                        g_assert_true(clear);
                        if (shared)
                                held_shared++;
                        else
                                held_exclusive++;
                } else {
                        /* Arrival order among the waiting (a held request keeps no arrival number). */
                        g_assert_cmpuint(lock->seq, >, seq);
                        seq = lock->seq;
                        g_assert_cmpint(lock_slot_is_clear(lock, s), ==, clear);
                }

                if (!shared && !first_exclusive)
                        first_exclusive = s;
                any_ahead = true;
                exclusive_ahead = exclusive_ahead || !shared;
        }
        g_assert_true(queue->head->prev == prev);
        g_assert_true(queue->first_exclusive == first_exclusive);

        /* One exclusive holder alone, or shared holders only. */
        g_assert_true(held_exclusive == 0 || (held_exclusive == 1 && held_shared == 0));
}

void lock_table_check_invariants(const LockTable *table) {
        g_autoptr(GHashTable) requests = g_hash_table_new(NULL, NULL);
        g_autoptr(GHashTable) groups = g_hash_table_new_full(NULL, NULL, NULL, g_free);
        size_t n_locks = 0, n_waiters = 0, n_slots = 0, n_entries = 0, n_deadlines = 0;
        size_t n_queues = 0, n_ids = 0, n_retired_locks = 0;
        GHashTableIter iter;
        gpointer key, value;

        g_assert_false(table->in_callback);
        g_assert_cmpuint(table->last_token, <=, table->token_ceiling);

        for (size_t q = 0; q < 2; q++)
                for (const GList *l = (q == 0 ? &table->owners : &table->retired)->head; l; l = l->next) {
                        const LockOwner *owner = l->data;
                        const LockList *lists[2] = { &owner->locks, &owner->waiters };

                        g_assert_true(owner->table == table);
                        g_assert_true(&owner->table_link == l);
                        g_assert_true(owner->retired == (q == 1));
                        if (owner->retired) {
                                /* Gone: nothing waits, nobody is told, nothing is granted to it. */
                                g_assert_true(owner->dying);
                                g_assert_null(owner->userdata);
                                g_assert_cmpuint(owner->waiters.length, ==, 0);
                                n_retired_locks += owner->locks.length;
                        }

                        for (size_t k = 0; k < 2; k++) {
                                uint64_t last = 0;

                                lock_list_check(lists[k]);
                                for (const Lock *lock = lists[k]->head; lock; lock = lock->owner_link.next) {
                                        bool added;

                                        lock_check(table, owner, lock, /* granted= */ k == 0);
                                        added = g_hash_table_add(requests, (gpointer) lock);
                                        g_assert_true(added);
                                        /* Locks in grant order, waiters in arrival order. */
                                        g_assert_cmpuint(k == 0 ? lock->token : lock->seq, >, last);
                                        last = k == 0 ? lock->token : lock->seq;
                                        n_slots += lock_n_slots(lock);
                                        n_deadlines += deadline_heap_node_is_queued(&lock->deadline);
                                }
                        }
                        n_locks += owner->locks.length;
                        n_waiters += owner->waiters.length;

                        if (owner->group) {
                                size_t *counts = g_hash_table_lookup(groups, owner->group);

                                if (!counts) {
                                        counts = g_new0(size_t, 4);
                                        g_hash_table_insert(groups, owner->group, counts);
                                }
                                counts[0] += owner->locks.length;
                                counts[1] += owner->waiters.length;
                                counts[2]++;
                                for (size_t k = 0; k < 2; k++)
                                        for (const Lock *lock = lists[k]->head; lock; lock = lock->owner_link.next)
                                                counts[3] += lock_get_bytes(lock);
                        }
                }
        g_assert_cmpuint(table->n_retired_locks, ==, n_retired_locks);
        g_assert_cmpuint(table->locks.n_entries, ==, n_locks);
        g_assert_cmpuint(table->n_waiters, ==, n_waiters);

        g_hash_table_iter_init(&iter, groups);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                const LockGroup *group = key;
                const size_t *counts = value;

                g_assert_cmpuint(group->n_locks, ==, counts[0]);
                g_assert_cmpuint(group->n_waiters, ==, counts[1]);
                g_assert_cmpuint(group->n_ref, >=, counts[2]);
                /* Exact for the table's part; what others charged comes on top. */
                g_assert_cmpuint(group->n_bytes, >=, counts[3]);
        }

        /* Each held lock in the chain its id hashes to, and nothing else in the id table. */
        chain_table_check(&table->locks);
        for (size_t b = 0; b < table->locks.n_buckets; b++)
                for (const ChainLink *l = table->locks.buckets[b]; l; l = l->next) {
                        const Lock *lock = container_of(l, const Lock, id_link);

                        g_assert_true(g_hash_table_contains(requests, lock));
                        g_assert_true(lock_has_flag(lock, LOCK_FLAG_GRANTED));
                        g_assert_cmpuint(chain_table_bucket_index(&table->locks, lock_id_hash(lock->id)),
                                         ==, b);
                        n_ids++;
                }
        g_assert_cmpuint(n_ids, ==, n_locks);

        /* Each queue in the chain its path hashes to under the table's key. */
        chain_table_check(&table->queues);
        for (size_t b = 0; b < table->queues.n_buckets; b++)
                for (const ChainLink *l = table->queues.buckets[b]; l; l = l->next) {
                        const PathQueue *queue = container_of(l, const PathQueue, table_link);

                        g_assert_cmpuint(chain_table_bucket_index(&table->queues, path_queue_hash(table, queue)),
                                         ==, b);
                        path_queue_check(queue, requests);
                        for (const LockSlot *s = queue->head; s; s = s->next)
                                n_entries++;
                        n_queues++;
                }
        g_assert_cmpuint(n_queues, ==, table->queues.n_entries);
        /* Every slot of every request is in its queue once, and nothing else is in a queue. */
        g_assert_cmpuint(n_entries, ==, n_slots);

        /* The heap holds the deadlines of these requests and nothing else, in heap order. */
        g_assert_cmpuint(table->deadlines.n_nodes, ==, n_deadlines);
        for (size_t i = 0; i < table->deadlines.n_nodes; i++) {
                g_assert_cmpuint(table->deadlines.nodes[i]->index, ==, i + 1);
                if (i > 0)
                        g_assert_cmpuint(table->deadlines.nodes[(i - 1) / 2]->deadline, <=,
                                         table->deadlines.nodes[i]->deadline);
        }
        g_assert_cmpuint(table->announced_deadline, ==, lock_table_get_next_deadline(table));
}

LockOwner *lock_get_owner(const Lock *lock) {
        return lock->owner;
}

bool lock_is_granted(const Lock *lock) {
        return lock_has_flag(lock, LOCK_FLAG_GRANTED);
}

bool lock_is_shared(const Lock *lock) {
        return lock_has_flag(lock, LOCK_FLAG_SHARED);
}

size_t lock_get_n_paths(const Lock *lock) {
        return lock_n_slots(lock);
}

const char *lock_get_path(const Lock *lock, size_t i) {
        g_assert_cmpuint(i, <, lock_n_slots(lock));
        return slot_get_queue(lock_slot_const(lock, i))->path;
}

const uint8_t *lock_get_id(const Lock *lock) {
        return lock->id;
}

uint64_t lock_get_token(const Lock *lock) {
        return lock_is_granted(lock) ? lock->token : 0;
}

uint64_t lock_get_acquired_realtime(const Lock *lock) {
        return lock_is_granted(lock) ? lock->acquired_realtime : 0;
}

uint64_t lock_get_acquired_monotonic(const Lock *lock) {
        return lock_is_granted(lock) ? lock->acquired_monotonic : 0;
}

uint64_t lock_get_expires_realtime(const Lock *lock) {
        if (!lock_is_granted(lock))
                return 0;

        /* Deadlines are monotonic, immune to clock changes; shown as a time of day they are counted
         * from the wall clock at the grant, so the same lease always reads the same. */
        return usec_add(lock->acquired_realtime, lock->deadline.deadline - lock->acquired_monotonic);
}

void *lock_get_userdata(const Lock *lock) {
        return lock->userdata;
}

void lock_set_userdata(Lock *lock, void *userdata) {
        lock->userdata = userdata;
}

char *lock_id_to_string(const uint8_t id[LOCK_ID_SIZE], char buf[LOCK_ID_STRING_MAX]) {
        return random_id_to_string(id, buf);
}

int lock_id_from_string(const char *s, uint8_t ret_id[LOCK_ID_SIZE]) {
        return random_id_from_string(s, ret_id);
}

static const char *const lock_end_reason_table[_LOCK_END_REASON_MAX] = {
        [LOCK_END_RELEASED]   = "released",
        [LOCK_END_FORCED]     = "force-released",
        [LOCK_END_EXPIRED]    = "expired",
        [LOCK_END_OWNER_GONE] = "owner-gone",
        [LOCK_END_TIMED_OUT]  = "timed-out",
        [LOCK_END_CANCELLED]  = "cancelled",
        [LOCK_END_SHUTDOWN]   = "shutdown",
};

const char *lock_end_reason_to_string(LockEndReason reason) {
        if (reason < 0 || reason >= _LOCK_END_REASON_MAX)
                return NULL;
        return lock_end_reason_table[reason];
}
