/* Integration tests of what the service core added: deadlocks refused between real clients, a
 * Release that expects no reply, and oversized path lists refused before they are read. */
#undef G_DISABLE_ASSERT
#include <string.h>

#include <glib.h>

#include "harness.h"

#include "test-common.h"

typedef HarnessFixture Fixture;

static char *acquire_one(Harness *h, sd_bus *bus, const char *path) {
        return acquire_ok(bus, (const char *const[]) { path, NULL }, NULL);
}

static void acquire_one_async(sd_bus *bus, AsyncCall *call, const char *path, bool deadlock_check) {
        acquire_async(bus, call, &(AcquireArgs) {
                .paths = (const char *const[]) { path, NULL },
                .timeout_usec = 30 * SEC,
                .no_deadlock_check = !deadlock_check,
        });
}

static void test_two_client_cycle(Fixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *x = acquire_one(&f->h, a, "x");
        g_autofree char *y = acquire_one(&f->h, b, "y");
        AsyncCall a_waits = {}, b_refused = {}, b_waits = {};
        const sd_bus_error *e;

        /* A holds x and waits for y, held by B. */
        acquire_one_async(a, &a_waits, "y", true);
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 1);
        g_assert_false(a_waits.done);

        /* B holding y now asks for x: each would wait for the other forever. */
        acquire_one_async(b, &b_refused, "x", true);
        harness_pump_until(&f->h, &b_refused.done, 5000);
        assert_reply_error(b_refused.reply, "org.pylocker.Locker.Error.Deadlock");
        e = sd_bus_message_get_error(b_refused.reply);
        g_assert_nonnull(strstr(e->message, "path 0"));
        /* Nothing changed: A still waits, nothing more is queued, both locks are held. */
        g_assert_cmpuint(get_property_u(b, "WaiterCount"), ==, 1);
        g_assert_cmpuint(count_locks(b), ==, 2);
        g_assert_false(a_waits.done);

        /* Opting out, B waits; once B gives up y, A gets it. */
        acquire_one_async(b, &b_waits, "x", false);
        g_assert_cmpuint(get_property_u(b, "WaiterCount"), ==, 2);
        g_assert_cmpint(release(b, y, NULL), ==, 1);
        harness_pump_until(&f->h, &a_waits.done, 5000);
        g_free(reply_lock_id(a_waits.reply, NULL));
        g_assert_false(b_waits.done);
        /* And once A gives up x, B gets it. */
        g_assert_cmpint(release(a, x, NULL), ==, 1);
        harness_pump_until(&f->h, &b_waits.done, 5000);
        g_free(reply_lock_id(b_waits.reply, NULL));

        async_call_clear(&a_waits);
        async_call_clear(&b_refused);
        async_call_clear(&b_waits);
}

static void test_self_wait_is_no_deadlock(Fixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *x = acquire_one(&f->h, a, "x");
        AsyncCall again = {};

        /* One client waiting for its own lock is many threads, not a deadlock. */
        acquire_one_async(a, &again, "x", true);
        g_assert_cmpuint(get_property_u(b, "WaiterCount"), ==, 1);
        g_assert_false(again.done);
        g_assert_cmpint(release(a, x, NULL), ==, 1);
        harness_pump_until(&f->h, &again.done, 5000);
        g_free(reply_lock_id(again.reply, NULL));
        async_call_clear(&again);
}

static void test_release_without_reply(Fixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h);
        g_autofree char *x = acquire_one(&f->h, a, "x");
        sd_bus_message *m = NULL;

        g_assert_cmpint(locker_new_method_call(a, &m, "Release"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "s", x), >=, 0);
        g_assert_cmpint(sd_bus_message_set_expect_reply(m, 0), >=, 0);
        g_assert_cmpint(sd_bus_send(a, m, NULL), >=, 0);
        sd_bus_message_unref(m);

        /* Calls on one connection are handled in order: by this answer the Release was. */
        g_assert_cmpuint(count_locks(a), ==, 0);
}

static void test_too_many_paths(Fixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h);
        g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
        AsyncCall call = {};

        for (int i = 0; i < 300; i++)
                g_ptr_array_add(paths, g_strdup_printf("p%d", i));
        g_ptr_array_add(paths, NULL);
        acquire_async(a, &call, &(AcquireArgs) { .paths = (const char *const *) paths->pdata, .timeout_usec = 10 * SEC });
        harness_pump_until(&f->h, &call.done, 5000);
        assert_reply_error(call.reply, "org.freedesktop.DBus.Error.InvalidArgs");
        g_assert_nonnull(strstr(sd_bus_message_get_error(call.reply)->message, "Too many paths"));
        async_call_clear(&call);
        g_assert_cmpuint(count_locks(a), ==, 0);
}

static void test_unknown_method(Fixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;

        /* A typo is named as one, before any authorization, and makes nobody a client. */
        g_assert_cmpint(locker_call_method(a, "Aquire", &error, NULL, ""), <, 0);
        g_assert_cmpstr(error.name, ==, SD_BUS_ERROR_UNKNOWN_METHOD);
        g_assert_cmpuint(get_property_u(a, "ClientCount"), ==, 0);
        sd_bus_error_free(&error);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        harness_test_add("/deadlock/two-client-cycle", NULL, test_two_client_cycle);
        harness_test_add("/deadlock/self-wait", NULL, test_self_wait_is_no_deadlock);
        harness_test_add("/core/release-without-reply", NULL, test_release_without_reply);
        harness_test_add("/core/unknown-method", NULL, test_unknown_method);
        harness_test_add("/core/too-many-paths", NULL, test_too_many_paths);

        return g_test_run();
}
