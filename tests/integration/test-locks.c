/* Locking over the bus against a real pylockerd: contention and hand-over, FIFO across paths, shared
 * locks, timeouts, nonblocking calls, Release's rules, leases with LockExpired, and Refresh. */
#undef G_DISABLE_ASSERT
#include <glib.h>

#include "harness.h"

static void test_contention_handover(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *id_a = NULL, *id_b = NULL;
        AsyncCall call = {};
        uint64_t token_a, token_b;

        id_a = acquire_ok(a, PATHS("/srv/data"), &token_a);
        acquire_async(b, &call, &(AcquireArgs) { .paths = PATHS("/srv/data"), .timeout_usec = 10 * SEC });

        /* B waits while A holds the path. */
        harness_sync(&f->h);
        g_assert_false(call.done);
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 1);
        g_assert_cmpuint(get_property_u(a, "LockCount"), ==, 1);

        g_assert_cmpint(release(a, id_a, NULL), ==, 1);
        harness_pump_until(&f->h, &call.done, 5000);
        id_b = reply_lock_id(call.reply, &token_b);
        g_assert_cmpstr(id_a, !=, id_b);
        g_assert_cmpuint(token_b, >, token_a);
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 0);
        g_assert_cmpint(release(b, id_b, NULL), ==, 1);
        async_call_clear(&call);
}

static void test_fifo_over_bus(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h), *c = harness_connect(&f->h);
        g_autofree char *hold = NULL, *id_b = NULL, *id_c = NULL;
        AsyncCall call_b = {}, call_c = {};

        hold = acquire_ok(a, PATHS("y"), NULL);
        acquire_async(b, &call_b, &(AcquireArgs) { .paths = PATHS("x", "y"), .timeout_usec = 10 * SEC });
        /* B is queued before C asks. */
        harness_sync(&f->h);
        /* x is free, but C comes after B, who waits for {x, y}. */
        acquire_async(c, &call_c, &(AcquireArgs) { .paths = PATHS("x"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        g_assert_false(call_b.done);
        g_assert_false(call_c.done);

        g_assert_cmpint(release(a, hold, NULL), ==, 1);
        harness_pump_until(&f->h, &call_b.done, 5000);
        id_b = reply_lock_id(call_b.reply, NULL);
        harness_sync(&f->h);
        g_assert_false(call_c.done);
        g_assert_cmpint(release(b, id_b, NULL), ==, 1);
        harness_pump_until(&f->h, &call_c.done, 5000);
        id_c = reply_lock_id(call_c.reply, NULL);
        async_call_clear(&call_b);
        async_call_clear(&call_c);
}

static void test_shared_over_bus(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h), *c = harness_connect(&f->h);
        g_autofree char *id_a = NULL, *id_b = NULL, *id_c = NULL;
        AsyncCall ca = {}, cb = {}, cc = {};

        acquire_async(a, &ca, &(AcquireArgs) { .paths = PATHS("r"), .shared = true });
        acquire_async(b, &cb, &(AcquireArgs) { .paths = PATHS("r"), .shared = true });
        harness_pump_until(&f->h, &ca.done, 5000);
        harness_pump_until(&f->h, &cb.done, 5000);
        id_a = reply_lock_id(ca.reply, NULL);
        id_b = reply_lock_id(cb.reply, NULL);

        acquire_async(c, &cc, &(AcquireArgs) { .paths = PATHS("r"), .timeout_usec = 10 * SEC });
        harness_sync(&f->h);
        g_assert_false(cc.done);
        g_assert_cmpint(release(a, id_a, NULL), ==, 1);
        harness_sync(&f->h);
        g_assert_false(cc.done);
        g_assert_cmpint(release(b, id_b, NULL), ==, 1);
        harness_pump_until(&f->h, &cc.done, 5000);
        id_c = reply_lock_id(cc.reply, NULL);
        async_call_clear(&ca);
        async_call_clear(&cb);
        async_call_clear(&cc);
}

static void test_timeout(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *id = NULL;
        AsyncCall call = {};

        id = acquire_ok(a, PATHS("t"), NULL);
        acquire_async(b, &call, &(AcquireArgs) { .paths = PATHS("t", "u"), .timeout_usec = 300 * MSEC });
        harness_pump_until(&f->h, &call.done, 5000);
        assert_reply_error(call.reply, "org.pylocker.Locker.Error.Timeout");

        /* No trace: no waiter, and u was never held. */
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 0);
        g_assert_cmpuint(count_locks(a), ==, 1);
        g_free(acquire_ok(b, PATHS("u"), NULL));
        async_call_clear(&call);
}

static void test_nonblocking(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *id = NULL, *id2 = NULL;

        id = acquire_ok(a, PATHS("n"), NULL);
        acquire_fails(b, &(AcquireArgs) { .paths = PATHS("n", "m"), .nonblocking = true },
                      "org.pylocker.Locker.Error.Timeout");
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 0);
        g_assert_cmpint(release(a, id, NULL), ==, 1);
        id2 = acquire_ok(b, PATHS("n", "m"), NULL);
}

static void test_release_rules(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *id = NULL;

        id = acquire_ok(a, PATHS("p"), NULL);
        release(b, id, "org.pylocker.Locker.Error.NotOwner");
        g_assert_cmpuint(count_locks(a), ==, 1);
        g_assert_cmpint(release(a, id, NULL), ==, 1);
        g_assert_cmpint(release(a, id, NULL), ==, 0);
        g_assert_cmpint(release(b, "00000000000000000000000000000000", NULL), ==, 0);
        release(a, "not-a-lock-id", "org.freedesktop.DBus.Error.InvalidArgs");
}

static void test_lock_expired_signal(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *observer = harness_connect(&f->h);
        SignalCatcher caught = {}, overheard = {};
        g_autofree char *id = NULL;
        AsyncCall call = {};

        g_assert_cmpint(locker_match_signal(a, "LockExpired", on_lock_expired, &caught), >=, 0);
        /* An ordinary match on another connection: unicast signals never reach it. */
        g_assert_cmpint(locker_match_signal(observer, "LockExpired", on_lock_expired, &overheard), >=, 0);

        acquire_async(a, &call, &(AcquireArgs) { .paths = PATHS("e1", "e2"), .ttl_usec = 300 * MSEC });
        harness_pump_until(&f->h, &call.done, 5000);
        id = reply_lock_id(call.reply, NULL);
        harness_pump_until(&f->h, &caught.done, 5000);
        g_assert_cmpstr(caught.lock_id, ==, id);
        g_assert_cmpuint(caught.n_paths, ==, 2);
        g_assert_cmpuint(count_locks(a), ==, 0);
        g_assert_cmpint(release(a, id, NULL), ==, 0);
        harness_sync(&f->h);
        g_assert_false(overheard.done);

        g_free(caught.lock_id);
        async_call_clear(&call);
}

static void test_refresh_extends(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        g_autofree char *id = NULL;
        SignalCatcher caught = {};
        AsyncCall call = {};
        uint64_t expires, before;

        g_assert_cmpint(locker_match_signal(a, "LockExpired", on_lock_expired, &caught), >=, 0);
        acquire_async(a, &call, &(AcquireArgs) { .paths = PATHS("r"), .ttl_usec = 400 * MSEC });
        harness_pump_until(&f->h, &call.done, 5000);
        id = reply_lock_id(call.reply, NULL);

        /* Refresh a few times past the original lease. */
        for (int i = 0; i < 4; i++) {
                harness_pump_for(&f->h, 200);
                before = (uint64_t) g_get_real_time();
                g_assert_cmpint(locker_call_method(a, "Refresh", &error, &reply, "st", id,
                                                   400 * MSEC), >=, 0);
                g_assert_cmpint(sd_bus_message_read(reply, "t", &expires), >, 0);
                reply = sd_bus_message_unref(reply);
                g_assert_cmpuint(expires, >=, before + 400 * MSEC - 50 * MSEC);
                g_assert_cmpuint(expires, <=, (uint64_t) g_get_real_time() + 400 * MSEC + 50 * MSEC);
        }
        g_assert_false(caught.done);
        g_assert_cmpuint(count_locks(a), ==, 1);

        /* A ttl past MaxLockTime is capped to it. */
        before = (uint64_t) g_get_real_time();
        g_assert_cmpint(locker_call_method(a, "Refresh", &error, &reply, "st", id, 3600 * SEC), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "t", &expires), >, 0);
        reply = sd_bus_message_unref(reply);
        g_assert_cmpuint(expires, <=, (uint64_t) g_get_real_time() + 120 * SEC);
        g_assert_cmpuint(expires, >=, before + 120 * SEC - SEC);

        g_assert_cmpint(release(a, id, NULL), ==, 1);
        g_assert_cmpint(locker_call_method(a, "Refresh", &error, NULL, "st", id, 0), <, 0);
        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.NotFound");
        sd_bus_error_free(&error);
        g_free(caught.lock_id);
        async_call_clear(&call);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        harness_test_add("/locks/acquire/contention-handover", NULL, test_contention_handover);
        harness_test_add("/locks/acquire/fifo-multi-path", NULL, test_fifo_over_bus);
        harness_test_add("/locks/acquire/shared", NULL, test_shared_over_bus);
        harness_test_add("/locks/acquire/timeout", NULL, test_timeout);
        harness_test_add("/locks/acquire/nonblocking", NULL, test_nonblocking);
        harness_test_add("/locks/release/rules", NULL, test_release_rules);
        harness_test_add("/locks/lease/lock-expired-signal", NULL, test_lock_expired_signal);
        harness_test_add("/locks/lease/refresh-extends", NULL, test_refresh_extends);

        return g_test_run();
}
