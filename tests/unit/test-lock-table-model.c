/* A long random walk over the lock table checked step by step against a small reference model: plain
 * arrays and the grant rule as stated (a request is granted iff on each of its paths no conflicting
 * request that arrived before it is still there, held or waiting), quadratic and obviously right.
 * Deadlocks likewise: the owner graph is rebuilt from the requests for every search.
 *
 * PYLOCKER_MODEL_SEED=n replays a run (the seed is printed); PYLOCKER_MODEL_STEPS=n sets its length. */
#undef G_DISABLE_ASSERT
#include <string.h>

#include <glib.h>

#include "lock-table.h"

#define SEC UINT64_C(1000000)
#define N_PATHS 6
#define N_OWNERS 5
#define N_GROUPED 2   /* owners 0 and 1 share a group */
#define DEFAULT_STEPS 100000  /* about a second under ASan */

static const char *const path_names[N_PATHS] = { "a", "b", "c", "d", "e", "f" };

typedef enum RequestState {
        REQUEST_WAITING,
        REQUEST_HELD,
        REQUEST_ENDED,
} RequestState;

typedef struct Request {
        size_t owner;
        unsigned paths;          /* bit i: path_names[i] */
        bool shared;
        RequestState state;
        uint64_t seq;            /* arrival */
        uint64_t lease;
        uint64_t deadline;       /* monotonic: the timeout while waiting (UINT64_MAX: none), then the lease */
        uint64_t token;
        LockEndReason reason;
        Lock *lock;
} Request;

typedef struct Event {
        bool granted;
        size_t request;
        LockEndReason reason;
        uint64_t token;
} Event;

typedef struct Model {
        LockTable *table;
        LockTableLimits limits;
        GRand *rand;
        uint64_t mono;
        uint64_t real;
        GArray *requests;        /* Request, by index, never shrinks: the lock's userdata is the index */
        GArray *present;         /* size_t: the requests waiting or held, in arrival order */
        GArray *events;          /* Event, from the callbacks */
        guint n_events_seen;
        LockOwner *owners[N_OWNERS];
        LockGroup *group;
        size_t dying;            /* the owner being freed, or SIZE_MAX */
        uint64_t next_seq;
        uint64_t last_token;
        uint64_t announced_deadline;
        unsigned n_granted_at_once, n_granted_later, n_ended[_LOCK_END_REASON_MAX], n_refused, n_deadlocks;
} Model;

static Request *request_at(Model *m, size_t i) {
        return &g_array_index(m->requests, Request, i);
}

static Request *present_at(Model *m, guint k) {
        return request_at(m, g_array_index(m->present, size_t, k));
}

static uint64_t fake_now(clockid_t clock, void *userdata) {
        Model *m = userdata;

        return clock == CLOCK_REALTIME ? m->real : m->mono;
}

static void on_granted(LockTable *table, Lock *lock, void *userdata) {
        Model *m = userdata;
        Event e = {
                .granted = true,
                .request = GPOINTER_TO_SIZE(lock_get_userdata(lock)),
                .token = lock_get_token(lock),
        };

        g_array_append_val(m->events, e);
}

static void on_ended(LockTable *table, Lock *lock, LockEndReason reason, void *userdata) {
        Model *m = userdata;
        Event e = {
                .request = GPOINTER_TO_SIZE(lock_get_userdata(lock)),
                .reason = reason,
        };

        g_array_append_val(m->events, e);
}

static void on_deadline_changed(LockTable *table, uint64_t deadline, void *userdata) {
        Model *m = userdata;

        m->announced_deadline = deadline;
}

static const LockTableCallbacks model_callbacks = {
        .on_granted = on_granted,
        .on_ended = on_ended,
        .on_deadline_changed = on_deadline_changed,
        .now = fake_now,
};

static bool requests_conflict(const Request *a, const Request *b) {
        return (a->paths & b->paths) && (!a->shared || !b->shared);
}

/* The grant rule. */
static bool model_may_grant(Model *m, const Request *r) {
        for (guint k = 0; k < m->present->len; k++) {
                const Request *q = present_at(m, k);

                if (q->seq < r->seq && requests_conflict(q, r))
                        return false;
        }
        return true;
}

static uint64_t model_lease(Model *m, uint64_t ttl) {
        return ttl == 0 || ttl > m->limits.max_lock_usec ? m->limits.max_lock_usec : ttl;
}

static void model_count(Model *m, size_t owner, size_t *ret_held, size_t *ret_waiting) {
        *ret_held = *ret_waiting = 0;
        for (guint k = 0; k < m->present->len; k++) {
                const Request *q = present_at(m, k);

                if (owner != SIZE_MAX && q->owner != owner)
                        continue;
                if (q->state == REQUEST_HELD)
                        (*ret_held)++;
                else
                        (*ret_waiting)++;
        }
}

static void model_count_group(Model *m, size_t *ret_held, size_t *ret_waiting) {
        *ret_held = *ret_waiting = 0;
        for (size_t o = 0; o < N_GROUPED; o++) {
                size_t held, waiting;

                model_count(m, o, &held, &waiting);
                *ret_held += held;
                *ret_waiting += waiting;
        }
}

static uint64_t model_next_deadline(Model *m) {
        uint64_t next = UINT64_MAX;

        for (guint k = 0; k < m->present->len; k++)
                next = MIN(next, present_at(m, k)->deadline);
        return next;
}

static const Event *model_next_event(Model *m) {
        g_assert_cmpuint(m->n_events_seen, <, m->events->len);
        return &g_array_index(m->events, Event, m->n_events_seen++);
}

static void model_grant(Model *m, Request *r) {
        r->state = REQUEST_HELD;
        r->token = ++m->last_token;
        r->deadline = m->mono + r->lease;
}

static void model_end(Model *m, size_t i, LockEndReason reason) {
        Request *r = request_at(m, i);

        for (guint k = 0; k < m->present->len; k++)
                if (g_array_index(m->present, size_t, k) == i) {
                        g_array_remove_index(m->present, k);
                        break;
                }
        r->state = REQUEST_ENDED;
        r->reason = reason;
        r->lock = NULL;
        m->n_ended[reason]++;
}

/* After a request ended: the table must now grant, in arrival order, exactly the waiting requests
 * the rule lets through, and give them the next tokens. */
static void model_expect_grants(Model *m) {
        for (guint k = 0; k < m->present->len; k++) {
                Request *r = present_at(m, k);
                const Event *e;

                if (r->state != REQUEST_WAITING || r->owner == m->dying || !model_may_grant(m, r))
                        continue;

                e = model_next_event(m);
                g_assert_true(e->granted);
                g_assert_cmpuint(e->request, ==, g_array_index(m->present, size_t, k));
                model_grant(m, r);
                g_assert_cmpuint(e->token, ==, r->token);
                m->n_granted_later++;
        }
}

/* The next event must be the end of request i for this reason, followed by what that lets through. */
static void model_expect_end(Model *m, size_t i, LockEndReason reason) {
        const Event *e = model_next_event(m);

        g_assert_false(e->granted);
        g_assert_cmpuint(e->request, ==, i);
        g_assert_cmpint(e->reason, ==, reason);
        model_end(m, i, reason);
        model_expect_grants(m);
}

/* Compares everything observable with the model, and the model with its own rule. */
static void model_check(Model *m) {
        size_t held, waiting;

        g_assert_cmpuint(m->n_events_seen, ==, m->events->len);
        g_array_set_size(m->events, 0);
        m->n_events_seen = 0;

        lock_table_check_invariants(m->table);

        for (guint k = 0; k < m->present->len; k++) {
                const Request *r = present_at(m, k);

                if (r->owner != m->dying)
                        g_assert_cmpint(r->state == REQUEST_HELD, ==, model_may_grant(m, r));
                g_assert_cmpint(lock_is_granted(r->lock), ==, r->state == REQUEST_HELD);
                g_assert_cmpint(lock_is_shared(r->lock), ==, r->shared);
                g_assert_true(lock_get_owner(r->lock) == m->owners[r->owner]);
                g_assert_cmpuint(lock_get_n_paths(r->lock), ==, (unsigned) __builtin_popcount(r->paths));
                if (r->state == REQUEST_HELD) {
                        g_assert_cmpuint(lock_get_token(r->lock), ==, r->token);
                        /* Both clocks move together, so the lease ends as far ahead on either. */
                        g_assert_cmpuint(lock_get_expires_realtime(r->lock), ==, r->deadline - m->mono + m->real);
                        g_assert_true(lock_table_find(m->table, lock_get_id(r->lock)) == r->lock);
                } else
                        g_assert_cmpuint(lock_get_token(r->lock), ==, 0);
        }

        model_count(m, SIZE_MAX, &held, &waiting);
        g_assert_cmpuint(lock_table_get_n_locks(m->table), ==, held);
        g_assert_cmpuint(lock_table_get_n_waiters(m->table), ==, waiting);
        for (size_t o = 0; o < N_OWNERS; o++) {
                model_count(m, o, &held, &waiting);
                g_assert_cmpuint(lock_owner_get_n_locks(m->owners[o]), ==, held);
                g_assert_cmpuint(lock_owner_get_n_waiters(m->owners[o]), ==, waiting);
        }
        model_count_group(m, &held, &waiting);
        g_assert_cmpuint(lock_group_get_n_locks(m->group), ==, held);
        g_assert_cmpuint(lock_group_get_n_waiters(m->group), ==, waiting);

        g_assert_cmpuint(lock_table_get_last_token(m->table), ==, m->last_token);
        g_assert_cmpuint(lock_table_get_next_deadline(m->table), ==, model_next_deadline(m));
        g_assert_cmpuint(m->announced_deadline, ==, model_next_deadline(m));
}

/* Whether owner `from` waits, directly or through others, for owner `to`: owner A waits for owner B
 * when a waiting request of A conflicts with an earlier request of B on a path. */
static bool model_owner_reaches(Model *m, size_t from, size_t to) {
        bool seen[N_OWNERS] = {};
        size_t stack[N_OWNERS], n = 0;

        stack[n++] = from;
        seen[from] = true;
        while (n > 0) {
                size_t a = stack[--n];

                for (guint k = 0; k < m->present->len; k++) {
                        const Request *w = present_at(m, k);

                        if (w->owner != a || w->state != REQUEST_WAITING)
                                continue;
                        for (guint j = 0; j < m->present->len; j++) {
                                const Request *q = present_at(m, j);

                                if (q->seq >= w->seq || q->owner == a || !requests_conflict(q, w))
                                        continue;
                                if (q->owner == to)
                                        return true;
                                if (!seen[q->owner]) {
                                        seen[q->owner] = true;
                                        stack[n++] = q->owner;
                                }
                        }
                }
        }
        return false;
}

/* The index of the first path on which the new request would wait for an owner that waits for its
 * owner, or SIZE_MAX. */
static size_t model_deadlock_index(Model *m, const Request *r, const char *const *paths, size_t n_paths) {
        for (size_t i = 0; i < n_paths; i++) {
                unsigned bit = 0;

                while (!g_str_equal(path_names[bit], paths[i]))
                        bit++;
                for (guint k = 0; k < m->present->len; k++) {
                        const Request *q = present_at(m, k);

                        if ((q->paths & (1u << bit)) && (!q->shared || !r->shared) && q->owner != r->owner &&
                            model_owner_reaches(m, q->owner, r->owner))
                                return i;
                }
        }
        return SIZE_MAX;
}

static int model_expected_acquire(Model *m, Request *r, const LockRequest *request, size_t *ret_index) {
        size_t held, waiting, group_held = 0, group_waiting = 0;
        bool grouped = r->owner < N_GROUPED;

        model_count(m, r->owner, &held, &waiting);
        if (grouped)
                model_count_group(m, &group_held, &group_waiting);

        if (held + waiting >= m->limits.max_locks_per_owner)
                return LOCK_E_QUOTA;
        if (grouped && group_held + group_waiting >= m->limits.max_locks_per_group)
                return LOCK_E_GROUP_QUOTA;
        if (model_may_grant(m, r))
                return 0;
        if (request->nonblocking)
                return LOCK_E_WOULD_BLOCK;
        if (waiting >= m->limits.max_waiters_per_owner)
                return LOCK_E_QUOTA;
        if (grouped && group_waiting >= m->limits.max_waiters_per_group)
                return LOCK_E_GROUP_QUOTA;
        if (!request->skip_deadlock_check) {
                *ret_index = model_deadlock_index(m, r, request->paths, request->n_paths);
                if (*ret_index != SIZE_MAX)
                        return LOCK_E_DEADLOCK;
        }
        return LOCK_E_PENDING;
}

static void step_acquire(Model *m) {
        const char *paths[4];
        size_t n_paths = (size_t) g_rand_int_range(m->rand, 1, 5), index, expected_index = SIZE_MAX,
                got_index = SIZE_MAX;
        Request req = {
                .owner = (size_t) g_rand_int_range(m->rand, 0, N_OWNERS),
                .shared = g_rand_boolean(m->rand),
                .state = REQUEST_WAITING,
                .seq = m->next_seq + 1,
        };
        LockRequest request = {
                .paths = paths,
                .n_paths = n_paths,
                .shared = req.shared,
                .nonblocking = g_rand_int_range(m->rand, 0, 100) < 15,
                .skip_deadlock_check = g_rand_int_range(m->rand, 0, 100) < 10,
        };
        Lock *lock = NULL;
        int expected, r;

        /* Duplicates are allowed: they collapse. */
        for (size_t i = 0; i < n_paths; i++) {
                int p = g_rand_int_range(m->rand, 0, N_PATHS);

                paths[i] = path_names[p];
                req.paths |= 1u << p;
        }

        switch (g_rand_int_range(m->rand, 0, 8)) {
        case 0:
        case 1:
                request.timeout_usec = 0;
                break;
        case 2:
                request.timeout_usec = UINT64_MAX;
                break;
        default:
                request.timeout_usec = (uint64_t) g_rand_int_range(m->rand, 1, 40 * SEC);
        }
        request.ttl_usec = g_rand_boolean(m->rand) ? 0 : (uint64_t) g_rand_int_range(m->rand, 1, 90 * SEC);
        req.lease = model_lease(m, request.ttl_usec);

        /* Now and then an empty path: refused before anything else, and named. */
        if (g_rand_int_range(m->rand, 0, 100) < 3) {
                expected_index = (size_t) g_rand_int_range(m->rand, 0, (gint32) n_paths);
                paths[expected_index] = "";
                expected = LOCK_E_EMPTY_PATH;
        } else
                expected = model_expected_acquire(m, &req, &request, &expected_index);

        index = m->requests->len;
        r = lock_table_acquire(m->table, m->owners[req.owner], &request, GSIZE_TO_POINTER(index), &lock,
                               &got_index);
        g_assert_cmpint(r, ==, expected);

        if (r != 0 && r != LOCK_E_PENDING) {
                if (r == LOCK_E_EMPTY_PATH || r == LOCK_E_DEADLOCK)
                        g_assert_cmpuint(got_index, ==, expected_index);
                m->n_deadlocks += r == LOCK_E_DEADLOCK;
                m->n_refused++;
                return;
        }

        g_assert_nonnull(lock);
        req.lock = lock;
        m->next_seq++;
        if (r == 0) {
                model_grant(m, &req);
                m->n_granted_at_once++;
        } else
                req.deadline = request.timeout_usec == UINT64_MAX ? UINT64_MAX :
                        m->mono + (request.timeout_usec > 0 ? request.timeout_usec : m->limits.default_timeout_usec);
        g_array_append_val(m->requests, req);
        g_array_append_val(m->present, index);
}

static bool model_pick(Model *m, bool held_only, size_t *ret) {
        g_autoptr(GArray) candidates = g_array_new(FALSE, FALSE, sizeof(size_t));

        for (guint k = 0; k < m->present->len; k++)
                if (!held_only || present_at(m, k)->state == REQUEST_HELD)
                        g_array_append_val(candidates, g_array_index(m->present, size_t, k));
        if (candidates->len == 0)
                return false;
        *ret = g_array_index(candidates, size_t, g_rand_int_range(m->rand, 0, (gint32) candidates->len));
        return true;
}

static void step_release(Model *m) {
        uint8_t id[LOCK_ID_SIZE];
        size_t i;
        Request *r;

        if (!model_pick(m, /* held_only= */ true, &i))
                return;
        r = request_at(m, i);
        memcpy(id, lock_get_id(r->lock), sizeof(id));

        if (g_rand_int_range(m->rand, 0, 8) == 0) {
                size_t other = (r->owner + (size_t) g_rand_int_range(m->rand, 1, N_OWNERS)) % N_OWNERS;

                g_assert_cmpint(lock_table_release(m->table, m->owners[other], id), ==, LOCK_E_NOT_OWNER);
                return;
        }

        g_assert_cmpint(lock_table_release(m->table, m->owners[r->owner], id), ==, 0);
        model_expect_end(m, i, LOCK_END_RELEASED);
        g_assert_cmpint(lock_table_release(m->table, m->owners[r->owner], id), ==, LOCK_E_NOT_FOUND);
}

static void step_force(Model *m) {
        size_t i;

        if (!model_pick(m, /* held_only= */ false, &i))
                return;
        lock_table_end(m->table, request_at(m, i)->lock, LOCK_END_FORCED);
        model_expect_end(m, i, LOCK_END_FORCED);
}

static void step_refresh(Model *m) {
        uint64_t ttl = g_rand_boolean(m->rand) ? 0 : (uint64_t) g_rand_int_range(m->rand, 1, 90 * SEC);
        uint8_t id[LOCK_ID_SIZE];
        uint64_t expires = 0;
        size_t i;
        Request *r;

        if (!model_pick(m, /* held_only= */ true, &i))
                return;
        r = request_at(m, i);
        memcpy(id, lock_get_id(r->lock), sizeof(id));

        g_assert_cmpint(lock_table_refresh(m->table, m->owners[(r->owner + 1) % N_OWNERS], id, ttl, &expires), ==,
                        LOCK_E_NOT_OWNER);
        g_assert_cmpint(lock_table_refresh(m->table, m->owners[r->owner], id, ttl, &expires), ==, 0);
        r->deadline = m->mono + model_lease(m, ttl);
        g_assert_cmpuint(expires, ==, m->real + model_lease(m, ttl));
}

/* Time passes: every deadline that passed ends its request, earliest first (those due at the same
 * moment in any order), each end followed by what it lets through. */
static void step_time(Model *m) {
        uint64_t next = model_next_deadline(m), delta;

        if (next != UINT64_MAX && next - m->mono <= 100 * SEC && g_rand_boolean(m->rand))
                delta = next - m->mono;
        else
                delta = (uint64_t) g_rand_int_range(m->rand, 0, 15 * SEC);
        m->mono += delta;
        m->real += delta;

        lock_table_dispatch_deadlines(m->table);
        while (m->n_events_seen < m->events->len) {
                const Event *e = model_next_event(m);
                const Request *r = request_at(m, e->request);

                g_assert_false(e->granted);
                g_assert_cmpint(r->state, !=, REQUEST_ENDED);
                g_assert_cmpuint(r->deadline, <=, m->mono);
                g_assert_cmpuint(r->deadline, ==, model_next_deadline(m));
                g_assert_cmpint(e->reason, ==, r->state == REQUEST_HELD ? LOCK_END_EXPIRED : LOCK_END_TIMED_OUT);
                model_end(m, e->request, e->reason);
                model_expect_grants(m);
        }
        g_assert_cmpuint(model_next_deadline(m), >, m->mono);
}

/* The owner goes: its waiting requests are cancelled first (so its own releases grant it nothing),
 * then its locks end, each end followed by what it lets through for the others. */
static void step_owner_free(Model *m) {
        size_t o = (size_t) g_rand_int_range(m->rand, 0, N_OWNERS), held, waiting;

        m->dying = o;
        lock_owner_free(m->owners[o]);
        while (m->n_events_seen < m->events->len) {
                const Event *e = model_next_event(m);
                const Request *r = request_at(m, e->request);

                model_count(m, o, &held, &waiting);
                g_assert_false(e->granted);
                g_assert_cmpuint(r->owner, ==, o);
                g_assert_cmpint(r->state, ==, waiting > 0 ? REQUEST_WAITING : REQUEST_HELD);
                g_assert_cmpint(e->reason, ==, waiting > 0 ? LOCK_END_CANCELLED : LOCK_END_OWNER_GONE);
                model_end(m, e->request, e->reason);
                model_expect_grants(m);
        }
        model_count(m, o, &held, &waiting);
        g_assert_cmpuint(held + waiting, ==, 0);
        m->dying = SIZE_MAX;
        m->owners[o] = lock_owner_new(m->table, o < N_GROUPED ? m->group : NULL, NULL);
}

static uint64_t env_number(const char *name, uint64_t fallback) {
        const char *s = g_getenv(name);

        return s && *s ? g_ascii_strtoull(s, NULL, 10) : fallback;
}

static void test_model(void) {
        uint64_t seed = env_number("PYLOCKER_MODEL_SEED", g_random_int());
        uint64_t n_steps = env_number("PYLOCKER_MODEL_STEPS", DEFAULT_STEPS);
        uint64_t token_floor;
        Model m = {
                .limits = LOCK_TABLE_LIMITS_DEFAULT,
                .mono = 1000 * SEC,
                .real = 1700000000 * SEC,
                .dying = SIZE_MAX,
                .announced_deadline = UINT64_MAX,
        };

        g_test_message("PYLOCKER_MODEL_SEED=%" G_GUINT64_FORMAT " PYLOCKER_MODEL_STEPS=%" G_GUINT64_FORMAT,
                       seed, n_steps);
        m.rand = g_rand_new_with_seed((guint32) seed);

        /* Small enough that every limit is hit now and then. */
        m.limits.default_timeout_usec = 20 * SEC;
        m.limits.max_lock_usec = 60 * SEC;
        m.limits.max_locks_per_owner = 10;
        m.limits.max_waiters_per_owner = 6;
        m.limits.max_locks_per_group = 14;
        m.limits.max_waiters_per_group = 8;

        token_floor = (uint64_t) g_rand_int_range(m.rand, 0, 1000);
        m.last_token = token_floor;
        m.table = lock_table_new(&m.limits, &model_callbacks, &m, token_floor);
        m.requests = g_array_new(FALSE, FALSE, sizeof(Request));
        m.present = g_array_new(FALSE, FALSE, sizeof(size_t));
        m.events = g_array_new(FALSE, FALSE, sizeof(Event));
        m.group = lock_group_new(m.table);
        for (size_t o = 0; o < N_OWNERS; o++)
                m.owners[o] = lock_owner_new(m.table, o < N_GROUPED ? m.group : NULL, NULL);

        for (uint64_t step = 0; step < n_steps; step++) {
                int op = g_rand_int_range(m.rand, 0, 100);

                if (op < 45)
                        step_acquire(&m);
                else if (op < 65)
                        step_release(&m);
                else if (op < 70)
                        step_force(&m);
                else if (op < 78)
                        step_refresh(&m);
                else if (op < 97)
                        step_time(&m);
                else
                        step_owner_free(&m);
                model_check(&m);
        }

        g_test_message("%u granted at once, %u later, %u refused (%u deadlocks); ended: %u released, %u forced, "
                       "%u expired, %u owner gone, %u timed out, %u cancelled",
                       m.n_granted_at_once, m.n_granted_later, m.n_refused, m.n_deadlocks,
                       m.n_ended[LOCK_END_RELEASED], m.n_ended[LOCK_END_FORCED], m.n_ended[LOCK_END_EXPIRED],
                       m.n_ended[LOCK_END_OWNER_GONE], m.n_ended[LOCK_END_TIMED_OUT],
                       m.n_ended[LOCK_END_CANCELLED]);

        /* Shutdown ends everything and grants nothing. */
        m.table = lock_table_free(m.table);
        g_assert_cmpuint(m.events->len, ==, m.present->len);
        for (guint k = 0; k < m.events->len; k++) {
                const Event *e = &g_array_index(m.events, Event, k);

                g_assert_false(e->granted);
                g_assert_cmpint(e->reason, ==, LOCK_END_SHUTDOWN);
                g_assert_cmpint(request_at(&m, e->request)->state, !=, REQUEST_ENDED);
                request_at(&m, e->request)->state = REQUEST_ENDED;
        }

        lock_group_unref(m.group);
        g_array_unref(m.requests);
        g_array_unref(m.present);
        g_array_unref(m.events);
        g_rand_free(m.rand);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/lock-table-model/random-walk", test_model);
        return g_test_run();
}
