/* The lock table: FIFO-fair all-or-nothing locks on opaque string paths, with leases and fencing
 * tokens.
 *
 * Every path has a queue of every request on it, held or waiting, in arrival order, and a second
 * queue of just the exclusive ones. A request is enqueued on all its paths at once and granted
 * when, on each of them, it is at the head (exclusive) or no exclusive request is ahead of it
 * (shared): lock_slot_is_clear(), the one rule for a new request and a woken one alike. Since every
 * queue orders requests by the same arrival sequence, the oldest waiting request is never blocked
 * by a younger one: the table itself never deadlocks, and nobody starves. (Owners that wait while
 * holding locks can still wait for each other in a cycle: lock_would_deadlock() refuses that.)
 * Granting looks only at the queues a departing request was in, from where it stood, so its cost
 * does not depend on the locks held elsewhere. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deadline-heap.h"
#include "lock-table.h"
#include "macro.h"
#include "random-id.h"

G_STATIC_ASSERT(LOCK_ID_SIZE == RANDOM_ID_SIZE);

typedef struct PathQueue {
        GQueue entries;      /* every request on this path: link data is the Lock */
        GQueue exclusive;    /* the exclusive requests among them, same order */
        char path[];
} PathQueue;

typedef struct LockSlot {
        PathQueue *queue;
        GList entry_link;
        GList exclusive_link;
} LockSlot;

struct Lock {
        /* First, so that a Lock* is also a pointer to its id: the id table is a set keyed by it. */
        uint8_t id[LOCK_ID_SIZE];
        LockTable *table;
        LockOwner *owner;
        GList owner_link;
        DeadlineHeapNode deadline;   /* the timeout while waiting, the lease once granted */
        uint64_t seq;
        uint64_t token;
        uint64_t acquired_realtime;
        uint64_t acquired_monotonic;
        uint64_t lease_usec;
        void *userdata;
        bool granted;
        bool shared;
        size_t n_slots;
        LockSlot slots[];
};

struct LockGroup {
        unsigned n_ref;
        size_t n_locks;
        size_t n_waiters;
};

struct LockOwner {
        LockTable *table;
        LockGroup *group;
        void *userdata;
        GList table_link;
        GQueue locks;
        GQueue waiters;
        uint64_t search;             /* the last deadlock search that reached it */
        LockOwner *search_next;      /* that search's stack */
        bool dying;
};

struct LockTable {
        LockTableLimits limits;
        LockTableCallbacks callbacks;
        void *userdata;
        GHashTable *queues;          /* path → PathQueue */
        GHashTable *locks;           /* set of held Locks, keyed by id */
        GQueue owners;
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

static guint lock_id_hash(gconstpointer p) {
        guint h;

        /* The id is uniformly random, so any four bytes of it are a good hash. */
        memcpy(&h, p, sizeof(h));
        return h;
}

static gboolean lock_id_equal(gconstpointer a, gconstpointer b) {
        return memcmp(a, b, LOCK_ID_SIZE) == 0;
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
        table->queues = g_hash_table_new(g_str_hash, g_str_equal);
        table->locks = g_hash_table_new(lock_id_hash, lock_id_equal);
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
        return g_hash_table_size(table->locks);
}

size_t lock_table_get_n_waiters(const LockTable *table) {
        return table->n_waiters;
}

uint64_t lock_table_get_last_token(const LockTable *table) {
        return table->last_token;
}

static void table_new_lock_id(LockTable *table, uint8_t ret_id[LOCK_ID_SIZE]) {
        do
                random_id_generate(&table->random, ret_id);
        while (g_hash_table_contains(table->locks, ret_id));
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
        g_free(group);
        return NULL;
}

size_t lock_group_get_n_locks(const LockGroup *group) {
        return group->n_locks;
}

size_t lock_group_get_n_waiters(const LockGroup *group) {
        return group->n_waiters;
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

/* Removes duplicates in place, keeping the first occurrence of each path. Returns the new count. */
static size_t paths_dedup(const char **paths, size_t n_paths) {
        size_t n_unique = 0;

        if (n_paths <= 16) {
                for (size_t i = 0; i < n_paths; i++) {
                        bool seen = false;

                        for (size_t j = 0; j < n_unique && !seen; j++)
                                seen = strcmp(paths[j], paths[i]) == 0;
                        if (!seen)
                                paths[n_unique++] = paths[i];
                }
                return n_unique;
        }

        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        for (size_t i = 0; i < n_paths; i++)
                if (g_hash_table_add(seen, (gpointer) paths[i]))
                        paths[n_unique++] = paths[i];
        return n_unique;
}

static PathQueue *table_get_queue(LockTable *table, const char *path) {
        PathQueue *queue = g_hash_table_lookup(table->queues, path);
        size_t length;

        if (queue)
                return queue;

        length = strlen(path);
        queue = g_malloc0(sizeof(PathQueue) + length + 1);
        memcpy(queue->path, path, length + 1);
        g_hash_table_insert(table->queues, queue->path, queue);
        return queue;
}

/* The grant rule, on one path: no request ahead of this one in the queue conflicts with it (either
 * of the two exclusive). The requests it holds for form a prefix of the queue: whatever is behind an
 * exclusive request conflicts with it, and a shared one is held back only by an exclusive one
 * ahead, which is ahead of those behind it too. */
static bool lock_slot_is_clear(const Lock *lock, const LockSlot *slot) {
        const GList *first_exclusive;

        if (!lock->shared)
                return slot->queue->entries.head == &slot->entry_link;

        first_exclusive = slot->queue->exclusive.head;
        return !first_exclusive || ((const Lock *) first_exclusive->data)->seq > lock->seq;
}

static bool lock_is_grantable(const Lock *lock) {
        for (size_t i = 0; i < lock->n_slots; i++)
                if (!lock_slot_is_clear(lock, &lock->slots[i]))
                        return false;
        return true;
}

static void lock_grant(LockTable *table, Lock *lock) {
        table_new_lock_id(table, lock->id);
        lock->granted = true;
        if (table->last_token >= table->token_ceiling)
                table->token_ceiling = table->callbacks.reserve_tokens ?
                        table->callbacks.reserve_tokens(table, table->last_token, table->userdata) : UINT64_MAX;
        g_assert_cmpuint(table->token_ceiling, >, table->last_token);
        lock->token = ++table->last_token;
        if (lock->owner->group)
                lock->owner->group->n_locks++;
        lock->acquired_realtime = lock_table_now(table, CLOCK_REALTIME);
        lock->acquired_monotonic = lock_table_now(table, CLOCK_MONOTONIC);
        deadline_heap_put(&table->deadlines, &lock->deadline, usec_add(lock->acquired_monotonic, lock->lease_usec));
        g_hash_table_add(table->locks, lock);
        g_queue_push_tail_link(&lock->owner->locks, &lock->owner_link);
}

/* Notes a request woken by a departure. Whether it is grantable no longer changes before it is
 * granted: what is left of the departure only unblocks more, and callbacks cannot touch queues. */
static void table_wake(LockTable *table, Lock *lock) {
        if (lock->granted || lock->owner->dying || !lock_is_grantable(lock))
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
static void path_queue_wake(LockTable *table, PathQueue *queue, GList *next, bool departed_exclusive) {
        if (departed_exclusive) {
                for (GList *l = next; l; l = l->next) {
                        if (!lock_slot_is_clear(l->data, container_of(l, LockSlot, entry_link)))
                                break;
                        table_wake(table, l->data);
                }
        } else if (queue->exclusive.head) {
                GList *first_exclusive = queue->exclusive.head;

                if (lock_slot_is_clear(first_exclusive->data,
                                       container_of(first_exclusive, LockSlot, exclusive_link)))
                        table_wake(table, first_exclusive->data);
        }
}

static int lock_compare_seq(const void *a, const void *b) {
        const Lock *x = *(Lock *const *) a, *y = *(Lock *const *) b;

        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Grants what one departure woke in arrival order, so that tokens follow arrival whichever queue
 * found a request first. A request woken on two paths is there twice. */
static void table_grant_woken(LockTable *table) {
        /* Found in arrival order already unless more than one queue woke something. */
        for (size_t i = 1; i < table->n_woken; i++)
                if (table->woken[i - 1]->seq > table->woken[i]->seq) {
                        qsort(table->woken, table->n_woken, sizeof(Lock *), lock_compare_seq);
                        break;
                }

        for (size_t i = 0; i < table->n_woken; i++) {
                Lock *lock = table->woken[i];

                if (lock->granted)
                        continue;

                g_queue_unlink(&lock->owner->waiters, &lock->owner_link);
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
}

static void lock_unlink_slots(LockTable *table, Lock *lock, bool wake) {
        for (size_t i = 0; i < lock->n_slots; i++) {
                LockSlot *slot = &lock->slots[i];
                PathQueue *queue = slot->queue;
                GList *next = slot->entry_link.next;

                g_queue_unlink(&queue->entries, &slot->entry_link);
                if (!lock->shared)
                        g_queue_unlink(&queue->exclusive, &slot->exclusive_link);

                if (g_queue_is_empty(&queue->entries)) {
                        g_hash_table_remove(table->queues, queue->path);
                        g_free(queue);
                        continue;
                }

                /* Waking queue by queue is enough: a request blocked by this one on several paths is
                 * woken when the last of them is unlinked. */
                if (wake)
                        path_queue_wake(table, queue, next, !lock->shared);
        }
        if (table->n_woken > 0)
                table_grant_woken(table);
}

static void lock_end_internal(LockTable *table, Lock *lock, LockEndReason reason, bool wake) {
        deadline_heap_remove(&table->deadlines, &lock->deadline);
        if (lock->granted) {
                g_queue_unlink(&lock->owner->locks, &lock->owner_link);
                g_hash_table_remove(table->locks, lock);
                if (lock->owner->group)
                        lock->owner->group->n_locks--;
        } else {
                g_queue_unlink(&lock->owner->waiters, &lock->owner_link);
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
        while (!g_queue_is_empty(&owner->waiters))
                lock_end_internal(table, owner->waiters.head->data, waiter_reason, wake);
        while (!g_queue_is_empty(&owner->locks))
                lock_end_internal(table, owner->locks.head->data, lock_reason, wake);
}

LockOwner *lock_owner_free(LockOwner *owner) {
        LockTable *table;

        if (!owner)
                return NULL;

        table = owner->table;
        g_assert_false(table->in_callback);
        owner_end_all(owner, LOCK_END_CANCELLED, LOCK_END_OWNER_GONE, true);
        g_queue_unlink(&table->owners, &owner->table_link);
        lock_group_unref(owner->group);
        g_free(owner);
        table_announce_deadline(table);
        return NULL;
}

void lock_table_shutdown(LockTable *table) {
        g_assert_false(table->in_callback);

        /* All waiters of all owners first: a lock ending must not grant anything now. */
        for (GList *l = table->owners.head; l; l = l->next) {
                LockOwner *owner = l->data;

                owner->dying = true;
                while (!g_queue_is_empty(&owner->waiters))
                        lock_end_internal(table, owner->waiters.head->data, LOCK_END_SHUTDOWN, false);
        }
        for (GList *l = table->owners.head; l; l = l->next)
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
                lock_group_unref(owner->group);
                g_free(owner);
        }

        g_assert_cmpuint(g_hash_table_size(table->queues), ==, 0);
        g_assert_cmpuint(g_hash_table_size(table->locks), ==, 0);
        g_hash_table_unref(table->queues);
        g_hash_table_unref(table->locks);
        deadline_heap_deinit(&table->deadlines);
        random_id_pool_wipe(&table->random);
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
        const GList *l = lock->shared ? slot->queue->exclusive.head : slot->queue->entries.head;

        for (; l && ((const Lock *) l->data)->seq < lock->seq; l = l->next) {
                LockOwner *owner = ((const Lock *) l->data)->owner;

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
        for (const GList *l = owner->waiters.head; l; l = l->next) {
                const Lock *waiter = l->data;

                for (size_t i = 0; i < waiter->n_slots; i++)
                        if (lock_slot_push_blockers(table, waiter, &waiter->slots[i], target, stack))
                                return true;
        }
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
        for (size_t i = 0; i < lock->n_slots; i++) {
                /* Its own owner is skipped here, so this only pushes the owners it would wait for. */
                (void) lock_slot_push_blockers(table, lock, &lock->slots[i], lock->owner, &stack);

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
        g_autofree const char **unique = NULL;
        uint64_t timeout_usec = request->timeout_usec, ttl_usec = request->ttl_usec;
        size_t n_unique, bad_index, slot_index;
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

        unique = g_memdup2(request->paths, request->n_paths * sizeof(char *));
        n_unique = paths_dedup(unique, request->n_paths);

        lock = g_malloc0(sizeof(Lock) + n_unique * sizeof(LockSlot));
        lock->table = table;
        lock->owner = owner;
        lock->owner_link.data = lock;
        lock->seq = ++table->next_seq;
        lock->shared = request->shared;
        lock->lease_usec = lease_clamp(ttl_usec, table->limits.max_lock_usec);
        lock->userdata = lock_userdata;
        lock->n_slots = n_unique;

        for (size_t i = 0; i < n_unique; i++) {
                LockSlot *slot = &lock->slots[i];

                slot->queue = table_get_queue(table, unique[i]);
                slot->entry_link.data = lock;
                g_queue_push_tail_link(&slot->queue->entries, &slot->entry_link);
                if (!lock->shared) {
                        slot->exclusive_link.data = lock;
                        g_queue_push_tail_link(&slot->queue->exclusive, &slot->exclusive_link);
                }
        }

        if (lock_is_grantable(lock)) {
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
                        *ret_path_index = paths_index(request->paths, lock->slots[slot_index].queue->path);
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
        g_queue_push_tail_link(&owner->waiters, &lock->owner_link);
        table->n_waiters++;
        if (owner->group)
                owner->group->n_waiters++;
        table_announce_deadline(table);

        *ret_lock = lock;
        return LOCK_E_PENDING;
}

Lock *lock_table_find(const LockTable *table, const uint8_t id[LOCK_ID_SIZE]) {
        return g_hash_table_lookup(table->locks, id);
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

                lock_end_internal(table, lock, lock->granted ? LOCK_END_EXPIRED : LOCK_END_TIMED_OUT, true);
        }
        table_announce_deadline(table);
}

void lock_table_iter_init(LockTableIter *iter, LockTable *table) {
        g_hash_table_iter_init(&iter->iter, table->locks);
}

bool lock_table_iter_next(LockTableIter *iter, Lock **ret_lock) {
        gpointer key;

        if (!g_hash_table_iter_next(&iter->iter, &key, NULL))
                return false;
        *ret_lock = key;
        return true;
}

static void lock_check(const LockTable *table, const LockOwner *owner, const Lock *lock, bool granted) {
        g_assert_true(lock->table == table);
        g_assert_true(lock->owner == owner);
        g_assert_true(lock->owner_link.data == lock);
        g_assert_cmpint(lock->granted, ==, granted);
        g_assert_cmpuint(lock->n_slots, >, 0);
        g_assert_cmpuint(lock->seq, >, 0);
        g_assert_cmpuint(lock->seq, <=, table->next_seq);

        if (granted) {
                g_assert_true(g_hash_table_lookup(table->locks, lock->id) == lock);
                g_assert_cmpuint(lock->token, >, 0);
                g_assert_cmpuint(lock->token, <=, table->last_token);
                /* Nothing joins a queue ahead of a holder, so what was clear at the grant stays so. */
                g_assert_true(lock_is_grantable(lock));
                /* A lock always has a lease. */
                g_assert_true(deadline_heap_node_is_queued(&lock->deadline));
        } else {
                g_assert_cmpuint(lock->token, ==, 0);
                /* Every departure wakes what it held back. */
                g_assert_false(lock_is_grantable(lock));
        }

        if (deadline_heap_node_is_queued(&lock->deadline)) {
                g_assert_cmpuint(lock->deadline.index, <=, table->deadlines.n_nodes);
                g_assert_true(table->deadlines.nodes[lock->deadline.index - 1] == &lock->deadline);
        }

        for (size_t i = 0; i < lock->n_slots; i++) {
                const LockSlot *slot = &lock->slots[i];

                g_assert_true(g_hash_table_lookup(table->queues, slot->queue->path) == slot->queue);
                g_assert_true(slot->entry_link.data == lock);
                if (!lock->shared)
                        g_assert_true(slot->exclusive_link.data == lock);
        }
}

static void path_queue_check(const PathQueue *queue, GHashTable *requests) {
        const GList *exclusive = queue->exclusive.head, *prev = NULL;
        size_t n_exclusive = 0, held_exclusive = 0, held_shared = 0;
        uint64_t seq = 0;

        /* Emptied queues are dropped at once. */
        g_assert_nonnull(queue->entries.head);

        for (const GList *l = queue->entries.head; l; prev = l, l = l->next) {
                const Lock *lock = l->data;
                const LockSlot *slot = container_of(l, LockSlot, entry_link);

                g_assert_true(g_hash_table_contains(requests, lock));
                g_assert_true(slot >= lock->slots && slot < lock->slots + lock->n_slots);
                g_assert_true(slot->queue == queue);
                g_assert_true(l->prev == prev);
                /* Arrival order, and each request once. */
                g_assert_cmpuint(lock->seq, >, seq);
                seq = lock->seq;

                if (!lock->shared) {
                        /* The exclusive sub-queue: exactly these, in the same order. */
                        g_assert_true(exclusive == &slot->exclusive_link);
                        exclusive = exclusive->next;
                        n_exclusive++;
                }

                if (lock->granted) {
                        if (lock->shared)
                                held_shared++;
                        else
                                held_exclusive++;
                }
        }
        g_assert_true(queue->entries.tail == prev);
        g_assert_null(exclusive);
        g_assert_cmpuint(queue->exclusive.length, ==, n_exclusive);

        /* One exclusive holder alone, or shared holders only. */
        g_assert_true(held_exclusive == 0 || (held_exclusive == 1 && held_shared == 0));
}

void lock_table_check_invariants(const LockTable *table) {
        g_autoptr(GHashTable) requests = g_hash_table_new(NULL, NULL);
        g_autoptr(GHashTable) groups = g_hash_table_new_full(NULL, NULL, NULL, g_free);
        size_t n_locks = 0, n_waiters = 0, n_slots = 0, n_entries = 0, n_deadlines = 0;
        GHashTableIter iter;
        gpointer key, value;

        g_assert_false(table->in_callback);
        g_assert_cmpuint(table->last_token, <=, table->token_ceiling);

        for (const GList *l = table->owners.head; l; l = l->next) {
                const LockOwner *owner = l->data;
                const GQueue *lists[2] = { &owner->locks, &owner->waiters };

                g_assert_true(owner->table == table);
                g_assert_true(&owner->table_link == l);

                for (size_t k = 0; k < 2; k++) {
                        uint64_t last = 0;
                        size_t n = 0;

                        for (const GList *m = lists[k]->head; m; m = m->next, n++) {
                                const Lock *lock = m->data;
                                bool added;

                                g_assert_true(&lock->owner_link == m);
                                lock_check(table, owner, lock, /* granted= */ k == 0);
                                added = g_hash_table_add(requests, (gpointer) lock);
                                g_assert_true(added);
                                /* Locks in grant order, waiters in arrival order. */
                                g_assert_cmpuint(k == 0 ? lock->token : lock->seq, >, last);
                                last = k == 0 ? lock->token : lock->seq;
                                n_slots += lock->n_slots;
                                n_deadlines += deadline_heap_node_is_queued(&lock->deadline);
                        }
                        g_assert_cmpuint(lists[k]->length, ==, n);
                }
                n_locks += owner->locks.length;
                n_waiters += owner->waiters.length;

                if (owner->group) {
                        size_t *counts = g_hash_table_lookup(groups, owner->group);

                        if (!counts) {
                                counts = g_new0(size_t, 3);
                                g_hash_table_insert(groups, owner->group, counts);
                        }
                        counts[0] += owner->locks.length;
                        counts[1] += owner->waiters.length;
                        counts[2]++;
                }
        }
        g_assert_cmpuint(g_hash_table_size(table->locks), ==, n_locks);
        g_assert_cmpuint(table->n_waiters, ==, n_waiters);

        g_hash_table_iter_init(&iter, groups);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                const LockGroup *group = key;
                const size_t *counts = value;

                g_assert_cmpuint(group->n_locks, ==, counts[0]);
                g_assert_cmpuint(group->n_waiters, ==, counts[1]);
                g_assert_cmpuint(group->n_ref, >=, counts[2]);
        }

        g_hash_table_iter_init(&iter, table->queues);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                const PathQueue *queue = value;

                g_assert_true(key == queue->path);
                path_queue_check(queue, requests);
                n_entries += queue->entries.length;
        }
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
        return lock->granted;
}

bool lock_is_shared(const Lock *lock) {
        return lock->shared;
}

size_t lock_get_n_paths(const Lock *lock) {
        return lock->n_slots;
}

const char *lock_get_path(const Lock *lock, size_t i) {
        g_assert_cmpuint(i, <, lock->n_slots);
        return lock->slots[i].queue->path;
}

const uint8_t *lock_get_id(const Lock *lock) {
        return lock->id;
}

uint64_t lock_get_token(const Lock *lock) {
        return lock->token;
}

uint64_t lock_get_acquired_realtime(const Lock *lock) {
        return lock->acquired_realtime;
}

uint64_t lock_get_expires_realtime(const Lock *lock) {
        if (!lock->granted)
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
