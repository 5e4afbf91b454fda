/* Unit tests of the lock table: FIFO order, all-or-nothing, shared/exclusive, expiry with an injected
 * clock, token monotonicity, limits and duplicate paths. */
#undef G_DISABLE_ASSERT
#include <string.h>

#include <glib.h>

#include "lock-table.h"
#include "test-common.h"

typedef struct Event {
        enum { EVENT_GRANTED, EVENT_ENDED } kind;
        LockEndReason reason;
        char *label;
        uint64_t token;
} Event;

typedef struct Fixture {
        LockTable *table;
        uint64_t mono;
        uint64_t real;
        uint64_t announced_deadline;
        GPtrArray *events;
} Fixture;

static uint64_t fake_now(clockid_t clock, void *userdata) {
        Fixture *f = userdata;

        return clock == CLOCK_REALTIME ? f->real : f->mono;
}

static void event_free(gpointer p) {
        Event *e = p;

        g_free(e->label);
        g_free(e);
}

static void on_granted(LockTable *table, Lock *lock, void *userdata) {
        Fixture *f = userdata;
        Event *e = g_new0(Event, 1);

        e->kind = EVENT_GRANTED;
        e->label = g_strdup(lock_get_userdata(lock));
        e->token = lock_get_token(lock);
        g_ptr_array_add(f->events, e);
}

static void on_ended(LockTable *table, Lock *lock, LockEndReason reason, void *userdata) {
        Fixture *f = userdata;
        Event *e = g_new0(Event, 1);

        e->kind = EVENT_ENDED;
        e->reason = reason;
        e->label = g_strdup(lock_get_userdata(lock));
        g_ptr_array_add(f->events, e);
}

static void on_deadline_changed(LockTable *table, uint64_t deadline, void *userdata) {
        Fixture *f = userdata;

        f->announced_deadline = deadline;
}

static const LockTableCallbacks fixture_callbacks = {
        .on_granted = on_granted,
        .on_ended = on_ended,
        .on_deadline_changed = on_deadline_changed,
        .now = fake_now,
};

static void fixture_setup_with(Fixture *f, const LockTableLimits *limits, uint64_t token_floor) {
        f->mono = 1000 * SEC;
        f->real = 1700000000 * SEC;
        f->announced_deadline = UINT64_MAX;
        f->events = g_ptr_array_new_with_free_func(event_free);
        f->table = lock_table_new(limits, &fixture_callbacks, f, token_floor);
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        LockTableLimits limits = LOCK_TABLE_LIMITS_DEFAULT;

        fixture_setup_with(f, &limits, 0);
}

/* Request flags of these tests, folded into a LockRequest. */
typedef enum LockFlags {
        LOCK_SHARED      = 1 << 0,
        LOCK_NONBLOCKING = 1 << 1,
        LOCK_SKIP_DEADLOCK_CHECK = 1 << 2,
} LockFlags;

static int table_acquire(LockTable *table, LockOwner *owner, const char *const *paths, size_t n_paths,
                         LockFlags flags, uint64_t timeout_usec, uint64_t ttl_usec, void *userdata, Lock **ret) {
        LockRequest request = {
                .paths = paths,
                .n_paths = n_paths,
                .shared = flags & LOCK_SHARED,
                .nonblocking = flags & LOCK_NONBLOCKING,
                .skip_deadlock_check = flags & LOCK_SKIP_DEADLOCK_CHECK,
                .timeout_usec = timeout_usec,
                .ttl_usec = ttl_usec,
        };

        return lock_table_acquire(table, owner, &request, userdata, ret, NULL);
}

static int table_acquire_index(LockTable *table, LockOwner *owner, const char *const *paths, size_t n_paths,
                               LockFlags flags, Lock **ret, size_t *ret_index) {
        LockRequest request = {
                .paths = paths,
                .n_paths = n_paths,
                .shared = flags & LOCK_SHARED,
                .nonblocking = flags & LOCK_NONBLOCKING,
                .skip_deadlock_check = flags & LOCK_SKIP_DEADLOCK_CHECK,
        };

        return lock_table_acquire(table, owner, &request, (void *) "refused", ret, ret_index);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        lock_table_free(f->table);
        g_ptr_array_unref(f->events);
}

/* The labels are the lock userdata: static strings naming each request. */
static Lock *acquire_ok(Fixture *f, LockOwner *owner, const char *label, LockFlags flags, const char *paths_csv) {
        g_auto(GStrv) paths = g_strsplit(paths_csv, ",", -1);
        Lock *lock = NULL;
        int r;

        r = table_acquire(f->table, owner, (const char *const *) paths, g_strv_length(paths), flags,
                               0, 0, (void *) label, &lock);
        g_assert_cmpint(r, ==, 0);
        g_assert_nonnull(lock);
        g_assert_true(lock_is_granted(lock));
        return lock;
}

static Lock *acquire_pending(Fixture *f, LockOwner *owner, const char *label, LockFlags flags,
                             uint64_t timeout, const char *paths_csv) {
        g_auto(GStrv) paths = g_strsplit(paths_csv, ",", -1);
        Lock *lock = NULL;
        int r;

        r = table_acquire(f->table, owner, (const char *const *) paths, g_strv_length(paths), flags,
                               timeout, 0, (void *) label, &lock);
        g_assert_cmpint(r, ==, LOCK_E_PENDING);
        g_assert_nonnull(lock);
        g_assert_false(lock_is_granted(lock));
        return lock;
}

static int acquire_result(Fixture *f, LockOwner *owner, LockFlags flags, const char *paths_csv) {
        g_auto(GStrv) paths = g_strsplit(paths_csv, ",", -1);
        Lock *lock = NULL;

        return table_acquire(f->table, owner, (const char *const *) paths, g_strv_length(paths), flags,
                                  0, 0, (void *) "probe", &lock);
}

static void release_ok(Fixture *f, LockOwner *owner, Lock *lock) {
        uint8_t id[LOCK_ID_SIZE];

        memcpy(id, lock_get_id(lock), sizeof(id));
        g_assert_cmpint(lock_table_release(f->table, owner, id), ==, 0);
}

/* Asserts the events since the last call, e.g. "granted:B ended:A/released". */
static void assert_events(Fixture *f, const char *expected) {
        g_autoptr(GString) got = g_string_new(NULL);

        for (guint i = 0; i < f->events->len; i++) {
                Event *e = f->events->pdata[i];

                if (got->len > 0)
                        g_string_append_c(got, ' ');
                if (e->kind == EVENT_GRANTED)
                        g_string_append_printf(got, "granted:%s", e->label);
                else
                        g_string_append_printf(got, "ended:%s/%s", e->label, lock_end_reason_to_string(e->reason));
        }
        g_assert_cmpstr(got->str, ==, expected);
        g_ptr_array_set_size(f->events, 0);
        if (f->table)
                lock_table_check_invariants(f->table);
}

static void test_exclusive_handover(Fixture *f, gconstpointer data) {
        LockOwner *a = lock_owner_new(f->table, NULL, NULL), *b = lock_owner_new(f->table, NULL, NULL);
        Lock *la, *lb;

        la = acquire_ok(f, a, "A", 0, "x");
        lb = acquire_pending(f, b, "B", 0, 0, "x");
        g_assert_cmpuint(lock_table_get_n_locks(f->table), ==, 1);
        g_assert_cmpuint(lock_table_get_n_waiters(f->table), ==, 1);
        assert_events(f, "");

        release_ok(f, a, la);
        assert_events(f, "ended:A/released granted:B");
        g_assert_true(lock_is_granted(lb));
        g_assert_cmpuint(lock_table_get_n_locks(f->table), ==, 1);
        g_assert_cmpuint(lock_table_get_n_waiters(f->table), ==, 0);
        g_assert_true(lock_get_owner(lb) == b);

        release_ok(f, b, lb);
        assert_events(f, "ended:B/released");
        g_assert_cmpuint(lock_table_get_n_locks(f->table), ==, 0);
}

static void test_fifo_order(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        Lock *la, *lb, *lc, *ld;

        la = acquire_ok(f, o, "A", 0, "x");
        lb = acquire_pending(f, o, "B", 0, 0, "x");
        lc = acquire_pending(f, o, "C", 0, 0, "x");
        ld = acquire_pending(f, o, "D", 0, 0, "x");

        release_ok(f, o, la);
        assert_events(f, "ended:A/released granted:B");
        release_ok(f, o, lb);
        assert_events(f, "ended:B/released granted:C");
        release_ok(f, o, lc);
        assert_events(f, "ended:C/released granted:D");
        release_ok(f, o, ld);
        assert_events(f, "ended:D/released");
}

/* A request waiting for {a,b} is never overtaken by a later request for a or for b. */
static void test_no_overtaking(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        Lock *hold_b, *ab, *a, *b;

        hold_b = acquire_ok(f, o, "holdB", 0, "b");
        ab = acquire_pending(f, o, "AB", 0, 0, "a,b");
        /* "a" is free, yet the later request for it queues behind AB. */
        a = acquire_pending(f, o, "A", 0, 0, "a");
        b = acquire_pending(f, o, "B", 0, 0, "b");
        g_assert_cmpint(acquire_result(f, o, LOCK_NONBLOCKING, "a"), ==, LOCK_E_WOULD_BLOCK);

        release_ok(f, o, hold_b);
        assert_events(f, "ended:holdB/released granted:AB");
        release_ok(f, o, ab);
        /* Both become free at once: A and B are granted together. */
        assert_events(f, "ended:AB/released granted:A granted:B");
        g_assert_true(lock_is_granted(a));
        g_assert_true(lock_is_granted(b));
        release_ok(f, o, a);
        release_ok(f, o, b);
}

/* Requests one release lets through are granted in arrival order, not in the order of the paths of
 * the released lock, and their tokens follow. */
static void test_grant_order(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        Lock *ab, *w1, *w2, *w3;

        ab = acquire_ok(f, o, "AB", 0, "a,b");
        w1 = acquire_pending(f, o, "W1", LOCK_SHARED, 0, "b");
        w2 = acquire_pending(f, o, "W2", 0, 0, "a");
        w3 = acquire_pending(f, o, "W3", LOCK_SHARED, 0, "b,c");
        release_ok(f, o, ab);
        assert_events(f, "ended:AB/released granted:W1 granted:W2 granted:W3");
        g_assert_cmpuint(lock_get_token(w1), <, lock_get_token(w2));
        g_assert_cmpuint(lock_get_token(w2), <, lock_get_token(w3));
}

/* Granted all at once or not at all; a waiting request holds nothing. */
static void test_all_or_nothing(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL), *p = lock_owner_new(f->table, NULL, NULL);
        LockTableIter iter;
        Lock *hold_c, *abc, *l;
        size_t n = 0;

        hold_c = acquire_ok(f, o, "holdC", 0, "c");
        g_assert_cmpint(acquire_result(f, p, LOCK_NONBLOCKING, "a,b,c"), ==, LOCK_E_WOULD_BLOCK);
        /* The failed nonblocking request left no trace: a and b are free. */
        l = acquire_ok(f, p, "AB", 0, "a,b");
        release_ok(f, p, l);
        assert_events(f, "ended:AB/released");

        abc = acquire_pending(f, p, "ABC", 0, 0, "a,b,c");
        lock_table_iter_init(&iter, f->table);
        while (lock_table_iter_next(&iter, &l)) {
                g_assert_true(l == hold_c);
                n++;
        }
        g_assert_cmpuint(n, ==, 1);
        g_assert_cmpuint(lock_get_token(abc), ==, 0);
        g_assert_cmpuint(lock_owner_get_n_locks(p), ==, 0);
        g_assert_cmpuint(lock_owner_get_n_waiters(p), ==, 1);

        release_ok(f, o, hold_c);
        assert_events(f, "ended:holdC/released granted:ABC");
        g_assert_cmpuint(lock_get_n_paths(abc), ==, 3);
        g_assert_cmpstr(lock_get_path(abc, 0), ==, "a");
        g_assert_cmpstr(lock_get_path(abc, 2), ==, "c");
}

static void test_shared(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        Lock *s1, *s2, *e, *s3;

        s1 = acquire_ok(f, o, "S1", LOCK_SHARED, "x");
        s2 = acquire_ok(f, o, "S2", LOCK_SHARED, "x");
        g_assert_true(lock_is_shared(s1));
        e = acquire_pending(f, o, "E", 0, 0, "x");
        /* A reader after a waiting writer waits: writers do not starve. */
        s3 = acquire_pending(f, o, "S3", LOCK_SHARED, 0, "x");

        release_ok(f, o, s1);
        assert_events(f, "ended:S1/released");
        release_ok(f, o, s2);
        assert_events(f, "ended:S2/released granted:E");
        release_ok(f, o, e);
        assert_events(f, "ended:E/released granted:S3");
        release_ok(f, o, s3);
}

/* Consecutive shared requests at the head of every queue they are in are granted together. */
static void test_shared_batch(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        Lock *e1, *s1, *s2, *s3, *e2;

        e1 = acquire_ok(f, o, "E1", 0, "x");
        s1 = acquire_pending(f, o, "S1", LOCK_SHARED, 0, "x");
        s2 = acquire_pending(f, o, "S2", LOCK_SHARED, 0, "x,y");
        s3 = acquire_pending(f, o, "S3", LOCK_SHARED, 0, "x");
        e2 = acquire_pending(f, o, "E2", 0, 0, "x");

        release_ok(f, o, e1);
        assert_events(f, "ended:E1/released granted:S1 granted:S2 granted:S3");
        g_assert_false(lock_is_granted(e2));
        release_ok(f, o, s2);
        release_ok(f, o, s1);
        assert_events(f, "ended:S2/released ended:S1/released");
        release_ok(f, o, s3);
        assert_events(f, "ended:S3/released granted:E2");
        release_ok(f, o, e2);
}

/* A shared request compatible with everything ahead of it is granted even past a waiting reader. */
static void test_shared_past_waiting_reader(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        Lock *hold_y, *s1, *s2;

        hold_y = acquire_ok(f, o, "holdY", 0, "y");
        s1 = acquire_pending(f, o, "S1", LOCK_SHARED, 0, "x,y");
        s2 = acquire_ok(f, o, "S2", LOCK_SHARED, "x");
        release_ok(f, o, hold_y);
        assert_events(f, "ended:holdY/released granted:S1");
        release_ok(f, o, s1);
        release_ok(f, o, s2);
}

static void test_timeout(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        Lock *hold, *w1, *w2;

        hold = acquire_ok(f, o, "hold", 0, "x");
        g_assert_cmpuint(f->announced_deadline, ==, f->mono + 120 * SEC);
        w1 = acquire_pending(f, o, "W1", 0, 5 * SEC, "x");
        g_assert_cmpuint(f->announced_deadline, ==, f->mono + 5 * SEC);
        /* 0 is the default timeout, 20 s. */
        w2 = acquire_pending(f, o, "W2", 0, 0, "x");
        (void) w1;
        (void) w2;

        f->mono += 5 * SEC - 1;
        lock_table_dispatch_deadlines(f->table);
        assert_events(f, "");
        f->mono += 1;
        lock_table_dispatch_deadlines(f->table);
        assert_events(f, "ended:W1/timed-out");
        g_assert_cmpuint(lock_table_get_n_waiters(f->table), ==, 1);
        g_assert_cmpuint(f->announced_deadline, ==, 1000 * SEC + 20 * SEC);

        f->mono = 1000 * SEC + 20 * SEC;
        lock_table_dispatch_deadlines(f->table);
        assert_events(f, "ended:W2/timed-out");
        g_assert_cmpuint(lock_table_get_n_waiters(f->table), ==, 0);
        g_assert_cmpuint(lock_owner_get_n_waiters(o), ==, 0);

        /* No trace: the holder's release grants nothing and leaves the table empty. */
        release_ok(f, o, hold);
        assert_events(f, "ended:hold/released");
        g_assert_cmpuint(lock_table_get_n_locks(f->table), ==, 0);
        g_assert_cmpuint(f->announced_deadline, ==, UINT64_MAX);
}

/* A writer that gives up stops blocking the readers queued behind it. */
static void test_timeout_wakes_followers(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        Lock *s1, *e, *s2;

        s1 = acquire_ok(f, o, "S1", LOCK_SHARED, "x");
        e = acquire_pending(f, o, "E", 0, 1 * SEC, "x");
        s2 = acquire_pending(f, o, "S2", LOCK_SHARED, 10 * SEC, "x");
        (void) e;

        f->mono += 1 * SEC;
        lock_table_dispatch_deadlines(f->table);
        assert_events(f, "ended:E/timed-out granted:S2");
        release_ok(f, o, s1);
        release_ok(f, o, s2);
}

static void test_wait_forever(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        Lock *hold, *w;

        hold = acquire_ok(f, o, "hold", 0, "x");
        w = acquire_pending(f, o, "W", 0, UINT64_MAX, "x");
        f->mono += 100 * SEC;
        lock_table_dispatch_deadlines(f->table);
        assert_events(f, "");
        release_ok(f, o, hold);
        assert_events(f, "ended:hold/released granted:W");
        release_ok(f, o, w);
}

static void test_expiry(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        uint8_t id[LOCK_ID_SIZE];
        uint64_t expires = 0;
        Lock *l, *w, *short_lease;
        int r;

        l = acquire_ok(f, o, "L", 0, "x");
        g_assert_cmpuint(lock_get_acquired_realtime(l), ==, f->real);
        g_assert_cmpuint(lock_get_expires_realtime(l), ==, f->real + 120 * SEC);
        w = acquire_pending(f, o, "W", 0, UINT64_MAX, "x");

        /* Refresh moves the lease to ttl from now, never past MaxLockTime. */
        f->mono += 100 * SEC;
        f->real += 100 * SEC;
        memcpy(id, lock_get_id(l), sizeof(id));
        r = lock_table_refresh(f->table, o, id, 50 * SEC, &expires);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(expires, ==, f->real + 50 * SEC);
        r = lock_table_refresh(f->table, o, id, 1000 * SEC, &expires);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(expires, ==, f->real + 120 * SEC);

        f->mono += 120 * SEC - 1;
        lock_table_dispatch_deadlines(f->table);
        assert_events(f, "");
        f->mono += 1;
        lock_table_dispatch_deadlines(f->table);
        assert_events(f, "ended:L/expired granted:W");
        g_assert_cmpint(lock_table_release(f->table, o, id), ==, LOCK_E_NOT_FOUND);
        g_assert_cmpint(lock_table_refresh(f->table, o, id, 0, &expires), ==, LOCK_E_NOT_FOUND);
        release_ok(f, o, w);

        /* A ttl shorter than MaxLockTime is the lease. */
        r = table_acquire(f->table, o, (const char *[]) { "y" }, 1, 0, 0, 3 * SEC, (void *) "S",
                               &short_lease);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(f->announced_deadline, ==, f->mono + 3 * SEC);
        f->mono += 3 * SEC;
        lock_table_dispatch_deadlines(f->table);
        assert_events(f, "ended:W/released ended:S/expired");
}

static void test_tokens(Fixture *f, gconstpointer data) {
        LockTableLimits limits = LOCK_TABLE_LIMITS_DEFAULT;
        LockOwner *o;
        uint64_t last;
        Lock *l;

        /* Restart the fixture with a floor: tokens continue above it. */
        fixture_teardown(f, data);
        fixture_setup_with(f, &limits, 5000);
        o = lock_owner_new(f->table, NULL, NULL);

        last = 5000;
        for (int i = 0; i < 1000; i++) {
                l = acquire_ok(f, o, "T", (i % 3 == 0) ? LOCK_SHARED : 0, (i % 2) ? "a" : "a,b");
                g_assert_cmpuint(lock_get_token(l), >, last);
                last = lock_get_token(l);
                release_ok(f, o, l);
        }
        g_assert_cmpuint(lock_table_get_last_token(f->table), ==, last);

        /* Deferred grants take their token when granted, not when queued. */
        l = acquire_ok(f, o, "H", 0, "q");
        Lock *w = acquire_pending(f, o, "W", 0, 0, "q");
        Lock *other = acquire_ok(f, o, "O", 0, "r");
        release_ok(f, o, l);
        g_assert_cmpuint(lock_get_token(w), >, lock_get_token(other));
        release_ok(f, o, w);
        release_ok(f, o, other);
        g_ptr_array_set_size(f->events, 0);
}

static void test_ids(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        char buf[LOCK_ID_STRING_MAX];
        uint8_t parsed[LOCK_ID_SIZE];

        for (int i = 0; i < 500; i++) {
                Lock *l = acquire_ok(f, o, "I", 0, "a");

                lock_id_to_string(lock_get_id(l), buf);
                g_assert_cmpuint(strlen(buf), ==, 32);
                g_assert_true(g_hash_table_add(seen, g_strdup(buf)));
                g_assert_cmpint(lock_id_from_string(buf, parsed), ==, 0);
                g_assert_true(memcmp(parsed, lock_get_id(l), LOCK_ID_SIZE) == 0);
                g_assert_true(lock_table_find(f->table, parsed) == l);
                release_ok(f, o, l);
                g_assert_null(lock_table_find(f->table, parsed));
        }
        g_ptr_array_set_size(f->events, 0);

        g_assert_cmpint(lock_id_from_string("", parsed), ==, -EINVAL);
        g_assert_cmpint(lock_id_from_string("0123456789abcdef0123456789abcde", parsed), ==, -EINVAL);
        g_assert_cmpint(lock_id_from_string("0123456789abcdef0123456789abcdeff", parsed), ==, -EINVAL);
        g_assert_cmpint(lock_id_from_string("0123456789abcdef0123456789abcdeg", parsed), ==, -EINVAL);
        g_assert_cmpint(lock_id_from_string("0123456789ABCDEF0123456789abcdef", parsed), ==, -EINVAL);
}

static void test_release_rules(Fixture *f, gconstpointer data) {
        LockOwner *a = lock_owner_new(f->table, NULL, NULL), *b = lock_owner_new(f->table, NULL, NULL);
        uint8_t id[LOCK_ID_SIZE];
        Lock *l;

        l = acquire_ok(f, a, "L", 0, "x");
        memcpy(id, lock_get_id(l), sizeof(id));
        g_assert_cmpint(lock_table_release(f->table, b, id), ==, LOCK_E_NOT_OWNER);
        g_assert_cmpint(lock_table_release(f->table, NULL, id), ==, LOCK_E_NOT_OWNER);
        g_assert_true(lock_table_find(f->table, id) == l);
        g_assert_cmpint(lock_table_release(f->table, a, id), ==, 0);
        g_assert_cmpint(lock_table_release(f->table, a, id), ==, LOCK_E_NOT_FOUND);
        assert_events(f, "ended:L/released");

        l = acquire_ok(f, a, "F", 0, "x");
        lock_table_end(f->table, l, LOCK_END_FORCED);
        assert_events(f, "ended:F/force-released");
}

/* Asserts that the request is refused as a deadlock on paths[index], and that nothing changed. */
static void assert_deadlock(Fixture *f, LockOwner *owner, LockFlags flags, const char *paths_csv, size_t index) {
        g_auto(GStrv) paths = g_strsplit(paths_csv, ",", -1);
        size_t n_locks = lock_table_get_n_locks(f->table), n_waiters = lock_table_get_n_waiters(f->table);
        size_t owner_locks = lock_owner_get_n_locks(owner), owner_waiters = lock_owner_get_n_waiters(owner);
        uint64_t last_token = lock_table_get_last_token(f->table);
        uint64_t next_deadline = lock_table_get_next_deadline(f->table);
        size_t got_index = SIZE_MAX;
        Lock *lock = NULL;

        g_assert_cmpint(table_acquire_index(f->table, owner, (const char *const *) paths, g_strv_length(paths),
                                            flags, &lock, &got_index), ==, LOCK_E_DEADLOCK);
        g_assert_cmpuint(got_index, ==, index);
        g_assert_null(lock);

        g_assert_cmpuint(lock_table_get_n_locks(f->table), ==, n_locks);
        g_assert_cmpuint(lock_table_get_n_waiters(f->table), ==, n_waiters);
        g_assert_cmpuint(lock_owner_get_n_locks(owner), ==, owner_locks);
        g_assert_cmpuint(lock_owner_get_n_waiters(owner), ==, owner_waiters);
        g_assert_cmpuint(lock_table_get_last_token(f->table), ==, last_token);
        g_assert_cmpuint(lock_table_get_next_deadline(f->table), ==, next_deadline);
        assert_events(f, "");
}

/* A holds x and waits for y, held by B: B asking for x would wait for A, which waits for B. */
static void test_deadlock_two_owners(Fixture *f, gconstpointer data) {
        LockOwner *a = lock_owner_new(f->table, NULL, NULL), *b = lock_owner_new(f->table, NULL, NULL);
        Lock *ax, *ay, *az, *bx;

        ax = acquire_ok(f, a, "AX", 0, "x");
        (void) acquire_ok(f, b, "BY", 0, "y");
        ay = acquire_pending(f, a, "AY", 0, 0, "y");

        /* z is free; x, given third (after a duplicate), is the first path B would wait for A on. */
        assert_deadlock(f, b, 0, "z,z,x,y", 2);
        assert_deadlock(f, b, LOCK_SHARED, "x", 0);
        /* Nonblocking is told it would block, whatever it would wait for. */
        g_assert_cmpint(acquire_result(f, b, LOCK_NONBLOCKING, "x"), ==, LOCK_E_WOULD_BLOCK);
        /* The refused request left nothing behind on z. */
        az = acquire_ok(f, a, "AZ", 0, "z");
        release_ok(f, a, az);
        assert_events(f, "ended:AZ/released");

        /* Skipping the check, B waits, in a cycle until one of them gives up. */
        bx = acquire_pending(f, b, "BX", LOCK_SKIP_DEADLOCK_CHECK, 0, "x");
        lock_table_end(f->table, ay, LOCK_END_FORCED);
        assert_events(f, "ended:AY/force-released");
        release_ok(f, a, ax);
        assert_events(f, "ended:AX/released granted:BX");
        g_assert_true(lock_is_granted(bx));
}

/* A cycle of three, one edge of it to a waiting request; a release breaks it. */
static void test_deadlock_three_owners(Fixture *f, gconstpointer data) {
        LockOwner *a = lock_owner_new(f->table, NULL, NULL), *b = lock_owner_new(f->table, NULL, NULL),
                *c = lock_owner_new(f->table, NULL, NULL), *d = lock_owner_new(f->table, NULL, NULL);
        Lock *cq;

        cq = acquire_ok(f, c, "CQ", LOCK_SHARED, "q");
        (void) acquire_ok(f, a, "AR", 0, "r");
        /* B waits for C; A, reading q behind B's writer, waits for B only (not for C's read). */
        (void) acquire_pending(f, b, "BQ", 0, 0, "q");
        (void) acquire_pending(f, a, "AQ", LOCK_SHARED, 0, "q");

        /* C would wait for A on r: C → A → B → C. */
        assert_deadlock(f, c, 0, "s,r", 1);
        /* D is in no cycle: it waits for A. */
        (void) acquire_pending(f, d, "DR", 0, 0, "r");

        /* Once C lets go of q, B holds it and waits for nobody: C may wait for r now. */
        release_ok(f, c, cq);
        assert_events(f, "ended:CQ/released granted:BQ");
        (void) acquire_pending(f, c, "CR", LOCK_SHARED, 0, "r");
        g_ptr_array_set_size(f->events, 0);
}

/* Readers that both want to write, or to read again behind a writer that waits for them. */
static void test_deadlock_shared(Fixture *f, gconstpointer data) {
        LockOwner *a = lock_owner_new(f->table, NULL, NULL), *b = lock_owner_new(f->table, NULL, NULL),
                *c = lock_owner_new(f->table, NULL, NULL);
        Lock *sa, *sb, *ea;

        sa = acquire_ok(f, a, "SA", LOCK_SHARED, "x");
        sb = acquire_ok(f, b, "SB", LOCK_SHARED, "x");
        /* A waits for B's read (its own does not count). */
        ea = acquire_pending(f, a, "EA", 0, 0, "x");

        /* B would wait for A's read and write; reading again, for A's write. */
        assert_deadlock(f, b, 0, "x", 0);
        assert_deadlock(f, b, LOCK_SHARED, "x", 0);
        /* C holds nothing A waits for: its read waits behind A's write. */
        (void) acquire_pending(f, c, "SC", LOCK_SHARED, 0, "x");
        /* A reading again waits behind its own write only: not a deadlock. */
        (void) acquire_pending(f, a, "SA2", LOCK_SHARED, 0, "x");

        release_ok(f, b, sb);
        assert_events(f, "ended:SB/released");
        release_ok(f, a, sa);
        assert_events(f, "ended:SA/released granted:EA");
        release_ok(f, a, ea);
        assert_events(f, "ended:EA/released granted:SC granted:SA2");
}

/* An owner waiting for itself is not deadlocked: it may be many threads. */
static void test_deadlock_self(Fixture *f, gconstpointer data) {
        LockOwner *a = lock_owner_new(f->table, NULL, NULL);
        Lock *l, *w;

        l = acquire_ok(f, a, "L", 0, "x");
        w = acquire_pending(f, a, "W", 0, 0, "x,y");
        (void) acquire_pending(f, a, "W2", LOCK_SHARED, 0, "y");
        release_ok(f, a, l);
        assert_events(f, "ended:L/released granted:W");
        release_ok(f, a, w);
        assert_events(f, "ended:W/released granted:W2");
}

static void test_owner_gone(Fixture *f, gconstpointer data) {
        LockOwner *a = lock_owner_new(f->table, NULL, NULL), *b = lock_owner_new(f->table, NULL, NULL);
        Lock *bw;

        (void) acquire_ok(f, a, "A1", 0, "x");
        (void) acquire_ok(f, a, "A2", LOCK_SHARED, "y");
        (void) acquire_pending(f, a, "A3", 0, 0, "y");
        bw = acquire_pending(f, b, "B", 0, 0, "x,y");

        lock_owner_free(a);
        /* A's own waiter is not granted on the way out; B gets both paths once A is gone. */
        assert_events(f, "ended:A3/cancelled ended:A1/owner-gone ended:A2/owner-gone granted:B");
        g_assert_true(lock_is_granted(bw));
        g_assert_cmpuint(lock_table_get_n_locks(f->table), ==, 1);
        g_assert_cmpuint(lock_table_get_n_waiters(f->table), ==, 0);
}

static void test_duplicates(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        GPtrArray *many = g_ptr_array_new_with_free_func(g_free);
        Lock *l;
        int r;

        l = acquire_ok(f, o, "D", 0, "a,b,a,b,a");
        g_assert_cmpuint(lock_get_n_paths(l), ==, 2);
        g_assert_cmpstr(lock_get_path(l, 0), ==, "a");
        g_assert_cmpstr(lock_get_path(l, 1), ==, "b");
        release_ok(f, o, l);

        /* Many paths: 200, of which 100 distinct. */
        for (int i = 0; i < 200; i++)
                g_ptr_array_add(many, g_strdup_printf("p%d", i % 100));
        r = table_acquire(f->table, o, (const char *const *) many->pdata, many->len, 0, 0, 0,
                               (void *) "M", &l);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(lock_get_n_paths(l), ==, 100);
        for (int i = 0; i < 100; i++) {
                g_autofree char *expected = g_strdup_printf("p%d", i);
                g_assert_cmpstr(lock_get_path(l, i), ==, expected);
        }
        release_ok(f, o, l);
        g_ptr_array_unref(many);
        g_ptr_array_set_size(f->events, 0);

        /* Paths are opaque bytes: no normalization. */
        l = acquire_ok(f, o, "N1", 0, "/tmp/x");
        Lock *l2 = acquire_ok(f, o, "N2", 0, "/tmp//x");
        Lock *l3 = acquire_ok(f, o, "N3", 0, "/TMP/x");
        release_ok(f, o, l);
        release_ok(f, o, l2);
        release_ok(f, o, l3);
}

/* Paths made of two-byte blocks that add the same to g_str_hash (djb2: h * 33 + c, and
 * 'A' * 33 + 'b' == 'B' * 33 + 'A') all have one g_str_hash value: in a table hashed by it they would
 * all be in one chain, and every lookup would read all of them. Under the table's keyed hash they
 * spread as any paths do. Chains are counted, not timed. Then, all released, both hash tables are
 * back at their smallest. */
static void test_colliding_paths(Fixture *f, gconstpointer data) {
        enum { N_BLOCKS = 14, N = 1 << N_BLOCKS };
        static const char *const blocks[2] = { "Ab", "BA" };
        LockTableLimits limits = LOCK_TABLE_LIMITS_DEFAULT;
        LockTableHashStats paths, ids;
        g_autofree Lock **locks = g_new(Lock *, N);
        guint djb_hash = 0;
        LockOwner *o;

        limits.max_locks_per_owner = N;
        limits.max_locks_per_group = N;
        lock_table_set_limits(f->table, &limits);
        o = lock_owner_new(f->table, NULL, NULL);

        for (unsigned i = 0; i < N; i++) {
                char path[1 + 2 * N_BLOCKS + 1] = "/";

                for (unsigned b = 0; b < N_BLOCKS; b++)
                        strcat(path, blocks[(i >> b) & 1]);
                if (i == 0)
                        djb_hash = g_str_hash(path);
                g_assert_cmpuint(g_str_hash(path), ==, djb_hash);
                locks[i] = acquire_ok(f, o, "C", 0, path);
        }
        lock_table_check_invariants(f->table);

        lock_table_get_hash_stats(f->table, &paths, &ids);
        g_test_message("%zu paths in %zu buckets: longest chain %zu, %.2f entries read per path found",
                       paths.n_entries, paths.n_buckets, paths.longest_chain,
                       (double) paths.total_probes / (double) paths.n_entries);
        g_assert_cmpuint(paths.n_entries, ==, N);
        g_assert_cmpuint(ids.n_entries, ==, N);
        /* One chain would be N long, and N (N + 1) / 2 reads find every path once. With at most two
         * entries per bucket on average the longest of thousands of chains is about 10. */
        g_assert_cmpuint(paths.longest_chain, <=, 16);
        g_assert_cmpuint(paths.total_probes, <=, 3 * N);
        g_assert_cmpuint(ids.longest_chain, <=, 16);
        g_assert_cmpuint(ids.total_probes, <=, 3 * N);

        for (unsigned i = 0; i < N; i++)
                release_ok(f, o, locks[i]);
        g_ptr_array_set_size(f->events, 0);
        lock_table_get_hash_stats(f->table, &paths, &ids);
        g_assert_cmpuint(paths.n_entries, ==, 0);
        g_assert_cmpuint(ids.n_entries, ==, 0);
        g_assert_cmpuint(paths.n_buckets, <=, 16);
        g_assert_cmpuint(ids.n_buckets, <=, 16);
}

/* Paths long enough that their queue keeps its hash: the table grows and shrinks through several
 * sizes with every path still found in the chain its hash names (the invariant checks), and each lock
 * still found by its path. */
static void test_long_paths(Fixture *f, gconstpointer data) {
        enum { N = 4096 };
        LockTableLimits limits = LOCK_TABLE_LIMITS_DEFAULT;
        g_autofree Lock **locks = g_new(Lock *, N);
        LockTableHashStats paths;
        LockOwner *o, *other;

        limits.max_locks_per_owner = N;
        limits.max_locks_per_group = N;
        lock_table_set_limits(f->table, &limits);
        o = lock_owner_new(f->table, NULL, NULL);
        other = lock_owner_new(f->table, NULL, NULL);

        for (unsigned i = 0; i < N; i++) {
                /* 63 to 4095 bytes: both sides of the length from which the hash is kept. */
                g_autofree char *path = g_strdup_printf("%0*u", (int) (63 + (i * 97) % 4033), i);

                locks[i] = acquire_ok(f, o, "C", 0, path);
        }
        lock_table_check_invariants(f->table);
        lock_table_get_hash_stats(f->table, &paths, NULL);
        g_assert_cmpuint(paths.n_entries, ==, N);

        for (unsigned i = 0; i < N; i++) {
                g_autofree char *path = g_strdup_printf("%0*u", (int) (63 + (i * 97) % 4033), i);
                const char *const one[] = { path };
                LockRequest request = { .paths = one, .n_paths = 1, .nonblocking = true };
                Lock *lock = NULL;

                /* Found by its path: held. */
                if (i % 512 == 0)
                        g_assert_cmpint(lock_table_acquire(f->table, other, &request, NULL, &lock, NULL), ==,
                                        LOCK_E_WOULD_BLOCK);
                release_ok(f, o, locks[i]);
                if (i % 512 == 0)
                        lock_table_check_invariants(f->table);
        }
        g_ptr_array_set_size(f->events, 0);
        lock_table_check_invariants(f->table);
        lock_table_get_hash_stats(f->table, &paths, NULL);
        g_assert_cmpuint(paths.n_entries, ==, 0);
        g_assert_cmpuint(paths.n_buckets, <=, 16);
}

static int acquire_path_index(Fixture *f, LockOwner *owner, const char *const *paths, size_t n_paths,
                              size_t *ret_index) {
        LockRequest request = { .paths = paths, .n_paths = n_paths };
        Lock *lock = NULL;

        *ret_index = 99;
        return lock_table_acquire(f->table, owner, &request, NULL, &lock, ret_index);
}

static void test_path_limits(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        g_autofree char *long_path = g_strnfill(4097, 'x');
        g_autofree char *max_path = g_strnfill(4096, 'x');
        const char *too_many[257];
        size_t bad = 99;
        Lock *l = NULL;

        for (size_t i = 0; i < G_N_ELEMENTS(too_many); i++)
                too_many[i] = "p";

        g_assert_cmpint(table_acquire(f->table, o, NULL, 0, 0, 0, 0, NULL, &l), ==, LOCK_E_NO_PATHS);
        g_assert_cmpint(table_acquire(f->table, o, too_many, 257, 0, 0, 0, NULL, &l), ==,
                        LOCK_E_TOO_MANY_PATHS);
        g_assert_cmpint(table_acquire(f->table, o, too_many, 256, 0, 0, 0, NULL, &l), ==, 0);
        release_ok(f, o, l);
        g_assert_cmpint(table_acquire(f->table, o, (const char *[]) { "a", "" }, 2, 0, 0, 0, NULL, &l),
                        ==, LOCK_E_EMPTY_PATH);
        g_assert_cmpint(lock_table_check_paths(f->table, (const char *[]) { "a", "" }, 2, &bad), ==,
                        LOCK_E_EMPTY_PATH);
        g_assert_cmpuint(bad, ==, 1);
        g_assert_cmpint(table_acquire(f->table, o, (const char *[]) { long_path }, 1, 0, 0, 0, NULL, &l),
                        ==, LOCK_E_PATH_TOO_LONG);
        g_assert_cmpint(table_acquire(f->table, o, (const char *[]) { max_path }, 1, 0, 0, 0, NULL, &l),
                        ==, 0);
        release_ok(f, o, l);
        g_assert_cmpint(table_acquire(f->table, o, (const char *[]) { "ok", "\xff\xfe" }, 2, 0, 0, 0,
                                           NULL, &l), ==, LOCK_E_PATH_NOT_UTF8);
        g_assert_cmpint(lock_table_check_paths(f->table, (const char *[]) { "ok", "\xff\xfe" }, 2, &bad), ==,
                        LOCK_E_PATH_NOT_UTF8);
        g_assert_cmpuint(bad, ==, 1);

        /* Acquire names the bad path too. */
        g_assert_cmpint(acquire_path_index(f, o, (const char *[]) { "a", "b", "" }, 3, &bad), ==,
                        LOCK_E_EMPTY_PATH);
        g_assert_cmpuint(bad, ==, 2);
        g_assert_cmpint(acquire_path_index(f, o, (const char *[]) { "a", long_path }, 2, &bad), ==,
                        LOCK_E_PATH_TOO_LONG);
        g_assert_cmpuint(bad, ==, 1);
        g_assert_cmpint(acquire_path_index(f, o, (const char *[]) { "\xff", "ok" }, 2, &bad), ==,
                        LOCK_E_PATH_NOT_UTF8);
        g_assert_cmpuint(bad, ==, 0);

        /* Refused requests changed nothing. */
        g_assert_cmpuint(lock_table_get_n_locks(f->table), ==, 0);
        g_assert_cmpuint(lock_table_get_n_waiters(f->table), ==, 0);
        g_ptr_array_set_size(f->events, 0);
}

static void test_owner_quota(Fixture *f, gconstpointer data) {
        LockTableLimits limits = LOCK_TABLE_LIMITS_DEFAULT;
        LockOwner *o, *other;
        Lock *l[3], *w;

        fixture_teardown(f, data);
        limits.max_locks_per_owner = 3;
        limits.max_waiters_per_owner = 1;
        fixture_setup_with(f, &limits, 0);
        o = lock_owner_new(f->table, NULL, NULL);
        other = lock_owner_new(f->table, NULL, NULL);

        (void) acquire_ok(f, other, "held", 0, "busy");
        l[0] = acquire_ok(f, o, "L0", 0, "a");
        l[1] = acquire_ok(f, o, "L1", 0, "b");
        w = acquire_pending(f, o, "W", 0, 0, "busy");
        /* Held plus waiting reach the limit of 3. */
        g_assert_cmpint(acquire_result(f, o, 0, "c"), ==, LOCK_E_QUOTA);
        release_ok(f, o, l[1]);
        /* One waiter at most. */
        g_assert_cmpint(acquire_result(f, o, 0, "busy"), ==, LOCK_E_QUOTA);
        l[2] = acquire_ok(f, o, "L2", 0, "c");
        /* Other owners are not affected. */
        (void) acquire_ok(f, other, "free", 0, "d");
        g_assert_cmpuint(lock_owner_get_n_locks(o), ==, 2);
        g_assert_cmpuint(lock_owner_get_n_waiters(o), ==, 1);
        (void) w;
        (void) l[0];
        (void) l[2];
        g_ptr_array_set_size(f->events, 0);
}

static void test_limits_change(Fixture *f, gconstpointer data) {
        LockTableLimits limits = *lock_table_get_limits(f->table);
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);
        Lock *l;

        limits.max_lock_usec = 7 * SEC;
        limits.default_timeout_usec = 2 * SEC;
        lock_table_set_limits(f->table, &limits);
        l = acquire_ok(f, o, "L", 0, "x");
        g_assert_cmpuint(lock_get_expires_realtime(l), ==, f->real + 7 * SEC);
        (void) acquire_pending(f, o, "W", 0, 0, "x");
        g_assert_cmpuint(f->announced_deadline, ==, f->mono + 2 * SEC);
        f->mono += 2 * SEC;
        lock_table_dispatch_deadlines(f->table);
        assert_events(f, "ended:W/timed-out");
}

static void test_shutdown_ends_everything(Fixture *f, gconstpointer data) {
        LockOwner *o = lock_owner_new(f->table, NULL, NULL);

        (void) acquire_ok(f, o, "L", 0, "x");
        (void) acquire_pending(f, o, "W", 0, 0, "x");
        f->table = lock_table_free(f->table);
        assert_events(f, "ended:W/shutdown ended:L/shutdown");
        /* Teardown frees NULL. */
}

/* Random operations checked against the invariants after every step (compatible holders per path,
 * no waiter left that the grant rule would grant: lock_table_check_invariants()), and every waiter
 * granted in the end once the holders go. */
typedef struct ModelLock {
        Lock *lock;
        LockOwner *owner;
        bool shared;
        char paths[3][4];
        size_t n_paths;
} ModelLock;

static void test_random_invariants(Fixture *f, gconstpointer data) {
        LockOwner *owners[4];
        GRand *rand = g_rand_new_with_seed(20261127);
        g_autoptr(GPtrArray) live = g_ptr_array_new_with_free_func(g_free);

        for (size_t i = 0; i < G_N_ELEMENTS(owners); i++)
                owners[i] = lock_owner_new(f->table, NULL, NULL);

        for (int step = 0; step < 20000; step++) {
                int op = g_rand_int_range(rand, 0, 10);

                if (op < 5 || live->len == 0) {
                        ModelLock *m = g_new0(ModelLock, 1);
                        const char *paths[3];
                        int r;

                        m->owner = owners[g_rand_int_range(rand, 0, G_N_ELEMENTS(owners))];
                        m->shared = g_rand_boolean(rand);
                        m->n_paths = (size_t) g_rand_int_range(rand, 1, 4);
                        for (size_t i = 0; i < m->n_paths; i++) {
                                g_snprintf(m->paths[i], sizeof(m->paths[i]), "p%d", g_rand_int_range(rand, 0, 6));
                                paths[i] = m->paths[i];
                        }
                        r = table_acquire(f->table, m->owner, paths, m->n_paths,
                                               m->shared ? LOCK_SHARED : 0, UINT64_MAX, 0, m, &m->lock);
                        g_assert_true(r == 0 || r == LOCK_E_PENDING || r == LOCK_E_QUOTA || r == LOCK_E_DEADLOCK);
                        if (r != 0 && r != LOCK_E_PENDING)
                                g_free(m);
                        else
                                g_ptr_array_add(live, m);
                } else {
                        /* Release a random held lock (there is one: something waits only behind a
                         * holder). Picking among all requests instead would let waiters pile up to
                         * the quota. */
                        g_autoptr(GArray) held = g_array_new(FALSE, FALSE, sizeof(guint));
                        guint i;
                        ModelLock *m;

                        for (i = 0; i < live->len; i++)
                                if (lock_is_granted(((ModelLock *) live->pdata[i])->lock))
                                        g_array_append_val(held, i);
                        g_assert_cmpuint(held->len, >, 0);
                        i = g_array_index(held, guint, g_rand_int_range(rand, 0, (gint32) held->len));
                        m = live->pdata[i];
                        release_ok(f, m->owner, m->lock);
                        g_ptr_array_remove_index_fast(live, i);
                }
                g_ptr_array_set_size(f->events, 0);
                lock_table_check_invariants(f->table);

                /* Invariant: on each path, one exclusive holder alone, or only shared holders. */
                for (int p = 0; p < 6; p++) {
                        char name[4];
                        int exclusive = 0, shared = 0;

                        g_snprintf(name, sizeof(name), "p%d", p);
                        for (guint i = 0; i < live->len; i++) {
                                ModelLock *m = live->pdata[i];

                                if (!lock_is_granted(m->lock))
                                        continue;
                                for (size_t k = 0; k < lock_get_n_paths(m->lock); k++)
                                        if (g_str_equal(lock_get_path(m->lock, k), name)) {
                                                if (m->shared)
                                                        shared++;
                                                else
                                                        exclusive++;
                                        }
                        }
                        g_assert_true(exclusive == 0 || (exclusive == 1 && shared == 0));
                }

                /* Invariant: no waiter while nothing is held (nothing could block it). */
                if (lock_table_get_n_locks(f->table) == 0)
                        g_assert_cmpuint(lock_table_get_n_waiters(f->table), ==, 0);
        }

        /* Liveness: releasing every held lock, repeatedly, grants every waiter in the end. */
        while (live->len > 0) {
                bool progress = false;

                for (guint i = 0; i < live->len;) {
                        ModelLock *m = live->pdata[i];

                        if (lock_is_granted(m->lock)) {
                                release_ok(f, m->owner, m->lock);
                                g_ptr_array_remove_index_fast(live, i);
                                progress = true;
                        } else
                                i++;
                }
                g_assert_true(progress);
        }
        g_assert_cmpuint(lock_table_get_n_waiters(f->table), ==, 0);
        g_ptr_array_set_size(f->events, 0);
        g_rand_free(rand);
}


static void test_group_quota(Fixture *f, gconstpointer data) {
        LockTableLimits limits = LOCK_TABLE_LIMITS_DEFAULT;
        LockGroup *user;
        LockOwner *a, *b, *other;
        Lock *w;

        fixture_teardown(f, data);
        limits.max_locks_per_group = 3;
        limits.max_waiters_per_group = 1;
        fixture_setup_with(f, &limits, 0);
        user = lock_group_new(f->table);
        a = lock_owner_new(f->table, user, NULL);
        b = lock_owner_new(f->table, user, NULL);
        other = lock_owner_new(f->table, NULL, NULL);
        lock_group_unref(user);

        (void) acquire_ok(f, other, "busy", 0, "busy");
        (void) acquire_ok(f, a, "A1", 0, "a1");
        (void) acquire_ok(f, b, "B1", 0, "b1");
        /* One waiter for the whole group. */
        w = acquire_pending(f, a, "AW", 0, 0, "busy");
        g_assert_cmpint(acquire_result(f, b, 0, "busy"), ==, LOCK_E_GROUP_QUOTA);
        /* Three held or waiting for the whole group, though each owner has room of its own. */
        g_assert_cmpint(acquire_result(f, b, 0, "b2"), ==, LOCK_E_GROUP_QUOTA);
        g_assert_cmpuint(lock_group_get_n_locks(user), ==, 2);
        g_assert_cmpuint(lock_group_get_n_waiters(user), ==, 1);
        /* Outside the group nothing changes. */
        (void) acquire_ok(f, other, "O2", 0, "o2");

        /* Freeing an owner gives the room back. */
        lock_owner_free(a);
        g_assert_cmpuint(lock_group_get_n_locks(user), ==, 1);
        g_assert_cmpuint(lock_group_get_n_waiters(user), ==, 0);
        (void) acquire_ok(f, b, "B2", 0, "b2");
        (void) w;
        g_ptr_array_set_size(f->events, 0);
}

static uint64_t reserve_in_blocks(LockTable *table, uint64_t last_token, void *userdata) {
        GArray *calls = userdata;

        g_array_append_val(calls, last_token);
        return last_token + 10;
}

static void test_token_reservation(void) {
        LockTableLimits limits = LOCK_TABLE_LIMITS_DEFAULT;
        g_autoptr(GArray) calls = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        LockTableCallbacks callbacks = { .reserve_tokens = reserve_in_blocks };
        LockTable *table = lock_table_new(&limits, &callbacks, calls, 1000);
        LockOwner *o = lock_owner_new(table, NULL, NULL);
        uint64_t last = 1000;

        for (int i = 0; i < 25; i++) {
                Lock *l = NULL;
                uint8_t id[LOCK_ID_SIZE];

                g_assert_cmpint(table_acquire(table, o, (const char *[]) { "t" }, 1, 0, 0, 0, NULL, &l), ==, 0);
                g_assert_cmpuint(lock_get_token(l), ==, last + 1);
                last = lock_get_token(l);
                memcpy(id, lock_get_id(l), sizeof(id));
                g_assert_cmpint(lock_table_release(table, o, id), ==, 0);
        }
        /* Asked before the first grant, then each time a block of 10 ran out. */
        g_assert_cmpuint(calls->len, ==, 3);
        g_assert_cmpuint(g_array_index(calls, uint64_t, 0), ==, 1000);
        g_assert_cmpuint(g_array_index(calls, uint64_t, 1), ==, 1010);
        g_assert_cmpuint(g_array_index(calls, uint64_t, 2), ==, 1020);
        lock_table_free(table);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) g_test_add("/lock-table/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("acquire/exclusive-handover", test_exclusive_handover);
        ADD("fairness/fifo", test_fifo_order);
        ADD("fairness/no-overtaking", test_no_overtaking);
        ADD("acquire/all-or-nothing", test_all_or_nothing);
        ADD("fairness/grant-order", test_grant_order);
        ADD("shared/readers-and-writers", test_shared);
        ADD("shared/batch-grant", test_shared_batch);
        ADD("shared/past-waiting-reader", test_shared_past_waiting_reader);
        ADD("timeout/expiry", test_timeout);
        ADD("timeout/wakes-followers", test_timeout_wakes_followers);
        ADD("timeout/forever", test_wait_forever);
        ADD("lease/expiry-and-refresh", test_expiry);
        ADD("token/monotonic", test_tokens);
        ADD("id/unique-and-parsed", test_ids);
        ADD("release/rules", test_release_rules);
        ADD("owner/gone", test_owner_gone);
        ADD("deadlock/two-owners", test_deadlock_two_owners);
        ADD("deadlock/three-owners", test_deadlock_three_owners);
        ADD("deadlock/shared", test_deadlock_shared);
        ADD("deadlock/self", test_deadlock_self);
        ADD("paths/duplicates", test_duplicates);
        ADD("paths/colliding-hashes", test_colliding_paths);
        ADD("paths/long", test_long_paths);
        ADD("limits/paths", test_path_limits);
        ADD("limits/owner-quota", test_owner_quota);
        ADD("limits/change", test_limits_change);
        ADD("shutdown/ends-everything", test_shutdown_ends_everything);
        ADD("random/invariants", test_random_invariants);
        ADD("limits/group-quota", test_group_quota);
        g_test_add_func("/lock-table/token/reservation", test_token_reservation);
#undef ADD

        return g_test_run();
}
