/* The service core's lease and timeout timer, on a real sd-event loop without any front end: it is
 * armed only when the earliest deadline moves earlier than what it is armed for, so a stream of
 * Acquire and Release leaves it alone, and a timer that fires early finds nothing due and is armed for
 * what is next: leases still end on time. */
#undef G_DISABLE_ASSERT
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "service.h"
#include "test-common.h"

typedef struct Fixture {
        sd_event *event;
        Service *service;
        Client *client;
        Lock *granted;          /* by the last Acquire */
        GPtrArray *lost;        /* the paths of the locks whose lease ran out, in order (owned) */
} Fixture;

static void on_lock_lost(Client *client, Lock *lock, LockLostReason reason) {
        Fixture *f = client->link;

        g_ptr_array_add(f->lost, g_strdup(lock_get_path(lock, 0)));
}

static const ClientOps fixture_ops = {
        .lock_lost = on_lock_lost,
};

static void fixture_setup(Fixture *f, gconstpointer data) {
        ServiceSettings settings = { .limits = LOCK_TABLE_LIMITS_DEFAULT };

        g_assert_cmpint(sd_event_new(&f->event), >=, 0);
        g_assert_cmpint(service_new(f->event, &settings, /* state_dir= */ NULL, /* polkit= */ false,
                                    /* callbacks= */ NULL, /* userdata= */ NULL, &f->service), ==, 0);
        f->client = client_new(f->service, "client", CLIENT_TRANSPORT_BUS, getuid(), getpid(), &fixture_ops, f);
        f->lost = g_ptr_array_new_with_free_func(g_free);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        service_free(f->service);
        sd_event_unref(f->event);
        g_ptr_array_unref(f->lost);
}

static int on_acquired(Service *service, Client *client, const AcquireResult *result, void *userdata) {
        Fixture *f = userdata;

        g_assert_null(result->error);
        f->granted = result->lock;
        return 0;
}

/* A lock on path with a lease of ttl_usec, granted at once; returns its id. */
static void acquire(Fixture *f, const char *path, uint64_t ttl_usec, uint8_t ret_id[LOCK_ID_SIZE]) {
        const char *paths[] = { path };
        AcquireCall call = {
                .request = { .paths = paths, .n_paths = 1, .ttl_usec = ttl_usec },
                .done = on_acquired,
                .userdata = f,
        };
        g_auto(ServiceError) error = SERVICE_ERROR_NULL;

        f->granted = NULL;
        g_assert_cmpint(service_acquire(f->service, f->client, &call, &error), ==, 0);
        g_assert_nonnull(f->granted);
        memcpy(ret_id, lock_get_id(f->granted), LOCK_ID_SIZE);
}

static void release(Fixture *f, const uint8_t id[LOCK_ID_SIZE]) {
        g_auto(ServiceError) error = SERVICE_ERROR_NULL;

        g_assert_cmpint(service_release(f->service, f->client, id, &error, NULL, NULL), ==, 1);
}

/* When the lock deadline timer is armed for; UINT64_MAX when it is off. */
static uint64_t armed_for(Fixture *f) {
        int enabled = SD_EVENT_OFF;
        uint64_t usec;

        g_assert_cmpint(sd_event_source_get_enabled(f->service->deadline_source, &enabled), >=, 0);
        if (enabled == SD_EVENT_OFF)
                return UINT64_MAX;
        g_assert_cmpint(sd_event_source_get_time(f->service->deadline_source, &usec), >=, 0);
        return usec;
}

static uint64_t now_usec(Fixture *f) {
        return lock_table_now(f->service->table, CLOCK_MONOTONIC);
}

/* Runs the loop until n leases have run out; fails after 10 s. */
static void run_until_lost(Fixture *f, guint n) {
        uint64_t give_up = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        while (f->lost->len < n) {
                g_assert_cmpint(g_get_monotonic_time(), <, give_up);
                g_assert_cmpint(sd_event_run(f->event, 100 * 1000), >=, 0);
        }
}

static void test_pairs_leave_timer(Fixture *f, gconstpointer data) {
        uint8_t id[LOCK_ID_SIZE];
        uint64_t armed;

        g_assert_cmpuint(armed_for(f), ==, UINT64_MAX);
        acquire(f, "/p", 60 * SEC, id);
        armed = armed_for(f);
        g_assert_cmpuint(armed, ==, lock_table_get_next_deadline(f->service->table));
        release(f, id);
        /* Nothing is held, and the timer stays as it was. */
        g_assert_cmpuint(lock_table_get_next_deadline(f->service->table), ==, UINT64_MAX);
        g_assert_cmpuint(armed_for(f), ==, armed);

        /* Each new lease ends later than the one the timer is armed for: it is never moved. */
        for (int i = 0; i < 1000; i++) {
                acquire(f, "/p", 60 * SEC, id);
                g_assert_cmpuint(armed_for(f), ==, armed);
                release(f, id);
                g_assert_cmpuint(armed_for(f), ==, armed);
        }
}

static void test_earlier_moves_timer(Fixture *f, gconstpointer data) {
        uint8_t long_id[LOCK_ID_SIZE], short_id[LOCK_ID_SIZE];
        uint64_t start = now_usec(f);

        acquire(f, "/long", 60 * SEC, long_id);
        g_assert_cmpuint(armed_for(f), >=, start + 60 * SEC);
        acquire(f, "/short", 200 * MSEC, short_id);
        g_assert_cmpuint(armed_for(f), ==, lock_table_get_next_deadline(f->service->table));
        g_assert_cmpuint(armed_for(f), <, start + 60 * SEC);

        run_until_lost(f, 1);
        g_assert_cmpstr(f->lost->pdata[0], ==, "/short");
        g_assert_cmpuint(now_usec(f), >=, start + 200 * MSEC);
        /* Then armed for the long lease exactly. */
        g_assert_cmpuint(armed_for(f), ==, lock_table_get_next_deadline(f->service->table));
        g_assert_cmpuint(lock_table_get_n_locks(f->service->table), ==, 1);
}

static void test_early_fire_rearms(Fixture *f, gconstpointer data) {
        uint8_t first[LOCK_ID_SIZE], second[LOCK_ID_SIZE];
        uint64_t start = now_usec(f), armed;

        acquire(f, "/first", 100 * MSEC, first);
        armed = armed_for(f);
        release(f, first);
        acquire(f, "/second", 400 * MSEC, second);
        /* Still armed for the first lease, which is gone. */
        g_assert_cmpuint(armed_for(f), ==, armed);
        g_assert_cmpuint(armed, <, lock_table_get_next_deadline(f->service->table));

        /* It fires at about 100 ms with nothing due, and the second lease ends on time, not before. */
        run_until_lost(f, 1);
        g_assert_cmpstr(f->lost->pdata[0], ==, "/second");
        g_assert_cmpuint(now_usec(f), >=, start + 400 * MSEC);
        g_assert_cmpuint(lock_table_get_n_locks(f->service->table), ==, 0);
        g_assert_cmpuint(armed_for(f), ==, UINT64_MAX);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) g_test_add("/service-deadlines/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("pairs-leave-timer", test_pairs_leave_timer);
        ADD("earlier-moves-timer", test_earlier_moves_timer);
        ADD("early-fire-rearms", test_early_fire_rearms);
#undef ADD

        return g_test_run();
}
