/* Unit tests of the message inboxes: delivery, the unique x replace matrix, removal, expiry with an
 * injected clock, limits. */
#undef G_DISABLE_ASSERT
#include <string.h>

#include <glib.h>

#include "inbox.h"
#include "test-common.h"

typedef struct Fixture {
        MessageStore *store;
        Inbox *a, *b, *c;
        uint64_t mono, real, announced;
} Fixture;

static uint64_t fake_now(clockid_t clock, void *userdata) {
        Fixture *f = userdata;

        return clock == CLOCK_REALTIME ? f->real : f->mono;
}

static void on_deadline_changed(MessageStore *store, uint64_t deadline, void *userdata) {
        ((Fixture *) userdata)->announced = deadline;
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        static const MessageStoreCallbacks callbacks = {
                .on_deadline_changed = on_deadline_changed,
                .now = fake_now,
        };

        f->mono = 500 * SEC;
        f->real = 1700000000 * SEC;
        f->announced = UINT64_MAX;
        f->store = message_store_new(&callbacks, f);
        f->a = inbox_new(f->store, (void *) "A");
        f->b = inbox_new(f->store, (void *) "B");
        f->c = inbox_new(f->store, (void *) "C");
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        message_store_free(f->store);
}

static int publish(Fixture *f, const char *message, const char *sender, Inbox *r1, Inbox *r2,
                   uint64_t timeout, PublishFlags flags, bool delivered[2]) {
        Inbox *receivers[2] = { r1, r2 };
        const Publication *p = NULL;
        size_t full = 99;
        bool local[2];

        return message_store_publish(f->store, message, sender, "", receivers, r2 ? 2 : (r1 ? 1 : 0), timeout,
                                     flags, 1024, delivered ?: local, &full, &p);
}

static void collect(const Publication *p, void *userdata) {
        g_string_append_printf(userdata, "%s%s<%s", ((GString *) userdata)->len ? " " : "",
                               publication_get_message(p), publication_get_sender_id(p));
}

static void assert_inbox(Inbox *inbox, const char *expected) {
        g_autoptr(GString) s = g_string_new(NULL);

        inbox_foreach(inbox, NULL, collect, s);
        g_assert_cmpstr(s->str, ==, expected);
}

static void test_delivery(Fixture *f, gconstpointer data) {
        Inbox *receivers[2] = { f->a, f->b };
        const Publication *p = NULL;
        bool delivered[2];
        size_t full;

        g_assert_cmpint(message_store_publish(f->store, "hello", "s1", "sender", receivers, 2, 0, 0, 1024,
                                              delivered, &full, &p), ==, 0);
        g_assert_nonnull(p);
        g_assert_true(delivered[0] && delivered[1]);
        g_assert_cmpuint(strlen(publication_get_id(p)), ==, 32);
        g_assert_cmpstr(publication_get_sender_name(p), ==, "sender");
        g_assert_cmpuint(publication_get_published_realtime(p), ==, f->real);
        g_assert_cmpuint(publication_get_expires_realtime(p), ==, 0);
        assert_inbox(f->a, "hello<s1");
        assert_inbox(f->b, "hello<s1");
        assert_inbox(f->c, "");
        g_assert_true(inbox_has(f->a, "hello"));
        g_assert_false(inbox_has(f->c, "hello"));

        /* Nobody to deliver to is not an error, and publishes nothing. */
        g_assert_cmpint(message_store_publish(f->store, "x", "s1", "", NULL, 0, 0, 0, 1024, delivered, &full, &p),
                        ==, 0);
        g_assert_null(p);
}

/* The unique x replace matrix, for a receiver that holds the message already. */
static void test_unique_replace_matrix(Fixture *f, gconstpointer data) {
        bool delivered[2];

        /* replace (default): the earlier publication goes, the new one is last. */
        g_assert_cmpint(publish(f, "m", "s1", f->a, NULL, 0, 0, NULL), ==, 0);
        g_assert_cmpint(publish(f, "other", "s1", f->a, NULL, 0, 0, NULL), ==, 0);
        g_assert_cmpint(publish(f, "m", "s2", f->a, NULL, 0, 0, NULL), ==, 0);
        assert_inbox(f->a, "other<s1 m<s2");

        /* no replace: one more. */
        g_assert_cmpint(publish(f, "m", "s3", f->a, NULL, 0, PUBLISH_NO_REPLACE, NULL), ==, 0);
        assert_inbox(f->a, "other<s1 m<s2 m<s3");

        /* unique, no replace: refused where held, taken elsewhere. */
        g_assert_cmpint(publish(f, "m", "s4", f->a, f->b, 0, PUBLISH_UNIQUE | PUBLISH_NO_REPLACE, delivered), ==, 0);
        g_assert_false(delivered[0]);
        g_assert_true(delivered[1]);
        assert_inbox(f->a, "other<s1 m<s2 m<s3");
        assert_inbox(f->b, "m<s4");

        /* unique with replace: unique wins, nothing is replaced. */
        g_assert_cmpint(publish(f, "m", "s5", f->a, f->b, 0, PUBLISH_UNIQUE, delivered), ==, MESSAGE_E_ALL_REFUSED);
        assert_inbox(f->a, "other<s1 m<s2 m<s3");
        assert_inbox(f->b, "m<s4");

        /* unique where not held: taken. */
        g_assert_cmpint(publish(f, "new", "s6", f->a, NULL, 0, PUBLISH_UNIQUE, NULL), ==, 0);
        assert_inbox(f->a, "other<s1 m<s2 m<s3 new<s6");
}

static void test_remove(Fixture *f, gconstpointer data) {
        const char *senders[] = { "s2", "named" };
        const Publication *p;
        Inbox *receivers[1] = { f->a };
        bool delivered[1];
        size_t full;

        g_assert_cmpint(publish(f, "m", "s1", f->a, f->b, 0, PUBLISH_NO_REPLACE, NULL), ==, 0);
        g_assert_cmpint(publish(f, "m", "s2", f->a, NULL, 0, PUBLISH_NO_REPLACE, NULL), ==, 0);
        g_assert_cmpint(message_store_publish(f->store, "m", "s3", "named", receivers, 1, 0, PUBLISH_NO_REPLACE, 1024,
                                              delivered, &full, &p), ==, 0);
        g_assert_cmpint(publish(f, "k", "s2", f->a, NULL, 0, 0, NULL), ==, 0);

        /* By sender id or name, only that message. */
        g_assert_cmpuint(inbox_remove(f->a, "m", senders, 2), ==, 2);
        assert_inbox(f->a, "m<s1 k<s2");
        /* From anyone. */
        g_assert_cmpuint(inbox_remove(f->a, "m", NULL, 0), ==, 1);
        g_assert_cmpuint(inbox_remove(f->a, "m", NULL, 0), ==, 0);
        assert_inbox(f->a, "k<s2");
        /* B's copy of the shared publication is untouched. */
        assert_inbox(f->b, "m<s1");
}

static void test_expiry(Fixture *f, gconstpointer data) {
        g_assert_cmpint(publish(f, "short", "s1", f->a, f->b, 5 * SEC, 0, NULL), ==, 0);
        g_assert_cmpuint(f->announced, ==, f->mono + 5 * SEC);
        g_assert_cmpint(publish(f, "long", "s1", f->a, NULL, 10 * SEC, 0, NULL), ==, 0);
        g_assert_cmpint(publish(f, "forever", "s1", f->a, NULL, 0, 0, NULL), ==, 0);

        f->mono += 5 * SEC - 1;
        message_store_dispatch_deadlines(f->store);
        assert_inbox(f->a, "short<s1 long<s1 forever<s1");
        f->mono += 1;
        message_store_dispatch_deadlines(f->store);
        assert_inbox(f->a, "long<s1 forever<s1");
        assert_inbox(f->b, "");
        g_assert_cmpuint(f->announced, ==, 500 * SEC + 10 * SEC);

        /* Removed by hand before expiry: the deadline goes with it. */
        g_assert_cmpuint(inbox_remove(f->a, "long", NULL, 0), ==, 1);
        g_assert_cmpuint(f->announced, ==, UINT64_MAX);
        f->mono += 100 * SEC;
        message_store_dispatch_deadlines(f->store);
        assert_inbox(f->a, "forever<s1");
}

static void test_inbox_full(Fixture *f, gconstpointer data) {
        Inbox *receivers[2] = { f->a, f->b };
        const Publication *p;
        bool delivered[2];
        size_t full = 99;

        for (int i = 0; i < 3; i++) {
                g_autofree char *m = g_strdup_printf("m%d", i);

                g_assert_cmpint(message_store_publish(f->store, m, "s", "", &f->b, 1, 0, 0, 3, delivered, &full, &p),
                                ==, 0);
        }
        /* B is full: nothing is delivered, not even to A, and B keeps what it has. */
        g_assert_cmpint(message_store_publish(f->store, "x", "s", "", receivers, 2, 0, 0, 3, delivered, &full, &p),
                        ==, MESSAGE_E_INBOX_FULL);
        g_assert_cmpuint(full, ==, 1);
        assert_inbox(f->a, "");
        assert_inbox(f->b, "m0<s m1<s m2<s");

        /* Replacing a message it holds does not grow it: allowed. */
        g_assert_cmpint(message_store_publish(f->store, "m1", "t", "", &f->b, 1, 0, 0, 3, delivered, &full, &p),
                        ==, 0);
        assert_inbox(f->b, "m0<s m2<s m1<t");
}

static void test_inbox_free_discards(Fixture *f, gconstpointer data) {
        g_assert_cmpint(publish(f, "m", "s", f->a, f->b, 10 * SEC, 0, NULL), ==, 0);
        f->b = inbox_free(f->b);
        assert_inbox(f->a, "m<s");
        f->a = inbox_free(f->a);
        /* The last inbox gone, the publication and its deadline are gone too. */
        g_assert_cmpuint(f->announced, ==, UINT64_MAX);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) g_test_add("/inbox/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("delivery", test_delivery);
        ADD("unique-replace-matrix", test_unique_replace_matrix);
        ADD("remove", test_remove);
        ADD("expiry", test_expiry);
        ADD("full", test_inbox_full);
        ADD("free-discards", test_inbox_free_discards);
#undef ADD

        return g_test_run();
}
