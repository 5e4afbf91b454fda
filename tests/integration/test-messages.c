/* Integration tests of messages: Publish, the inbox calls and MessagePublished, with several real
 * clients on a private bus and a real pylockerd. */
#undef G_DISABLE_ASSERT
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "harness.h"

/* Counts MessagePublished signals on one connection and keeps the last one. */
typedef struct Listener {
        unsigned n;
        char *last_id;
        char *last_sender;
        char *last_message;
        uint64_t last_expires;
} Listener;

static int on_message_published(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Listener *l = userdata;
        const char *id, *sender, *message;

        g_assert_cmpint(sd_bus_message_read(m, "ssst", &id, &sender, &message, &l->last_expires), >, 0);
        g_free(l->last_id);
        g_free(l->last_sender);
        g_free(l->last_message);
        l->last_id = g_strdup(id);
        l->last_sender = g_strdup(sender);
        l->last_message = g_strdup(message);
        l->n++;
        return 0;
}

static void listener_clear(Listener *l) {
        g_free(l->last_id);
        g_free(l->last_sender);
        g_free(l->last_message);
        *l = (Listener) {};
}

static void listen_on(sd_bus *bus, Listener *l) {
        /* An ordinary match rule: what reaches it was addressed to this connection. */
        g_assert_cmpint(locker_match_signal(bus, "MessagePublished", on_message_published, l), >=, 0);
}

static const char *client_id(sd_bus *bus) {
        const char *unique;

        g_assert_cmpint(sd_bus_get_unique_name(bus, &unique), >=, 0);
        return unique;
}

static void register_name(sd_bus *bus, const char *name) {
        sd_bus_error error = SD_BUS_ERROR_NULL;

        g_assert_cmpint(locker_call_method(bus, "Register", &error, NULL, "s", name), >=, 0);
}

enum { UNSET, NO, YES };

typedef struct PublishArgs {
        const char *const *to;
        uint64_t timeout_usec;
        /* Options: UNSET (not sent), NO or YES. */
        int to_self;
        int unique;
        int replace;
} PublishArgs;

/* Publishes; returns the publication id (g_free), or NULL after checking the expected error. */
static char *publish_full(sd_bus *bus, const char *message, const PublishArgs *a, const char *expected_error) {
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *id;
        char *result = NULL;
        int r;

        g_assert_cmpint(locker_new_method_call(bus, &m, "Publish"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "s", message), >=, 0);
        g_assert_cmpint(sd_bus_message_append_strv(m, (char **) (a->to ?: (const char *const[]) { NULL })), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "t", a->timeout_usec), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "{sv}"), >=, 0);
        if (a->to_self != UNSET)
                g_assert_cmpint(sd_bus_message_append(m, "{sv}", "to_self", "b", a->to_self == YES), >=, 0);
        if (a->unique != UNSET)
                g_assert_cmpint(sd_bus_message_append(m, "{sv}", "unique", "b", a->unique == YES), >=, 0);
        if (a->replace != UNSET)
                g_assert_cmpint(sd_bus_message_append(m, "{sv}", "replace", "b", a->replace == YES), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);

        r = sd_bus_call(bus, m, 10 * SEC, &error, &reply);
        if (expected_error) {
                g_assert_cmpint(r, <, 0);
                g_assert_cmpstr(error.name, ==, expected_error);
        } else {
                if (r < 0)
                        g_error("Publish failed: %s: %s", error.name, error.message);
                g_assert_cmpint(sd_bus_message_read(reply, "s", &id), >, 0);
                result = g_strdup(id);
        }
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        return result;
}

#define PUBLISH(bus, message, ...) publish_full((bus), (message), &(PublishArgs) { __VA_ARGS__ }, NULL)
#define PUBLISH_FAILS(bus, message, error, ...) \
        g_assert_null(publish_full((bus), (message), &(PublishArgs) { __VA_ARGS__ }, (error)))
#define TO(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* The inbox as "message<sender-id message<sender-id ..." from a call returning a(sssstt). */
static char *inbox_call(sd_bus *bus, const char *member, const char *message) {
        g_autoptr(GString) s = g_string_new(NULL);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *text, *id, *sender, *name;
        uint64_t published, expires;
        int r;

        if (message)
                r = locker_call_method(bus, member, &error, &reply, "s", message);
        else
                r = locker_call_method(bus, member, &error, &reply, NULL);
        g_assert_cmpint(r, >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "(sssstt)"), >, 0);
        while ((r = sd_bus_message_read(reply, "(sssstt)", &text, &id, &sender, &name, &published, &expires)) > 0) {
                g_assert_cmpuint(strlen(id), ==, 32);
                g_assert_cmpuint(published, <=, (uint64_t) g_get_real_time());
                g_string_append_printf(s, "%s%s<%s", s->len ? " " : "", text, sender);
        }
        g_assert_cmpint(r, ==, 0);
        sd_bus_message_unref(reply);
        return g_string_free(g_steal_pointer(&s), FALSE);
}

#define ASSERT_INBOX(bus, expected) do {                                \
                g_autofree char *_got = inbox_call((bus), "ListMessages", NULL); \
                g_autofree char *_exp = (expected);                     \
                g_assert_cmpstr(_got, ==, _exp);                        \
        } while (0)

static bool has_message(sd_bus *bus, const char *message) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int b;

        g_assert_cmpint(locker_call_method(bus, "HasMessage", &error, &reply, "s", message), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "b", &b), >, 0);
        sd_bus_message_unref(reply);
        return b;
}

static void test_targeted_and_broadcast(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h), *c = harness_connect(&f->h);
        Listener la = {}, lb = {}, lc = {};
        g_autofree char *id1 = NULL, *id2 = NULL;

        listen_on(a, &la);
        listen_on(b, &lb);
        listen_on(c, &lc);
        register_name(a, "alice");
        register_name(b, "bob");
        register_name(c, "carol");

        /* Targeted by id, to_self off: only B. */
        id1 = PUBLISH(a, "to-bob", .to = TO(client_id(b)), .to_self = NO);
        g_assert_cmpuint(strlen(id1), ==, 32);
        harness_pump_until_count(&f->h, &lb.n, 1, 5000);
        harness_sync(&f->h);
        g_assert_cmpuint(lb.n, ==, 1);
        g_assert_cmpstr(lb.last_id, ==, id1);
        g_assert_cmpstr(lb.last_sender, ==, client_id(a));
        g_assert_cmpstr(lb.last_message, ==, "to-bob");
        g_assert_cmpuint(lb.last_expires, ==, 0);
        g_assert_cmpuint(la.n, ==, 0);
        g_assert_cmpuint(lc.n, ==, 0);
        ASSERT_INBOX(b, g_strdup_printf("to-bob<%s", client_id(a)));
        ASSERT_INBOX(a, g_strdup(""));
        ASSERT_INBOX(c, g_strdup(""));

        /* By name, to_self on (the default): C and A itself. */
        id2 = PUBLISH(a, "to-carol", .to = TO("carol"));
        harness_sync(&f->h);
        g_assert_cmpuint(lc.n, ==, 1);
        g_assert_cmpuint(la.n, ==, 1);
        g_assert_cmpuint(lb.n, ==, 1);
        g_assert_true(has_message(c, "to-carol"));
        g_assert_true(has_message(a, "to-carol"));
        g_assert_false(has_message(b, "to-carol"));

        /* Broadcast without self: B and C. */
        g_free(PUBLISH(a, "all", .to_self = NO));
        harness_sync(&f->h);
        g_assert_cmpuint(la.n, ==, 1);
        g_assert_cmpuint(lb.n, ==, 2);
        g_assert_cmpuint(lc.n, ==, 2);

        /* Broadcast with self: everyone. */
        g_free(PUBLISH(c, "all-2", .to = NULL));
        harness_sync(&f->h);
        g_assert_cmpuint(la.n, ==, 2);
        g_assert_cmpuint(lb.n, ==, 3);
        g_assert_cmpuint(lc.n, ==, 3);

        /* An unknown receiver is an error, and nobody gets anything. */
        PUBLISH_FAILS(a, "lost", "org.pylocker.Locker.Error.NotFound", .to = TO("bob", "nobody"));
        harness_sync(&f->h);
        g_assert_cmpuint(lb.n, ==, 3);
        g_assert_false(has_message(b, "lost"));

        listener_clear(&la);
        listener_clear(&lb);
        listener_clear(&lc);
}

/* A third peer that is no receiver never sees the signal, even with a match rule for it. */
static void test_not_a_receiver(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h), *outsider = harness_connect(&f->h);
        Listener lb = {}, lo = {};

        listen_on(b, &lb);
        listen_on(outsider, &lo);
        /* A peer that never called the daemon is no client: broadcasts skip it too. */
        register_name(b, "bob");
        g_free(PUBLISH(a, "secret", .to = TO("bob"), .to_self = NO));
        g_free(PUBLISH(a, "broadcast", .to_self = NO));
        harness_pump_until_count(&f->h, &lb.n, 2, 5000);
        harness_sync(&f->h);
        g_assert_cmpuint(lb.n, ==, 2);
        g_assert_cmpuint(lo.n, ==, 0);
        listener_clear(&lb);
        listener_clear(&lo);
}

static void test_unique_replace_matrix(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        const char *sa = NULL;

        register_name(b, "bob");
        sa = client_id(a);

        /* replace (default): the earlier publication is replaced. */
        g_free(PUBLISH(a, "m", .to = TO("bob"), .to_self = NO));
        g_free(PUBLISH(a, "m", .to = TO("bob"), .to_self = NO));
        ASSERT_INBOX(b, g_strdup_printf("m<%s", sa));

        /* no replace: one more. */
        g_free(PUBLISH(a, "m", .to = TO("bob"), .to_self = NO, .replace = NO));
        ASSERT_INBOX(b, g_strdup_printf("m<%s m<%s", sa, sa));

        /* unique: refused by the only receiver, which holds it. */
        PUBLISH_FAILS(a, "m", "org.pylocker.Locker.Error.AlreadyExists", .to = TO("bob"), .to_self = NO, .unique = YES,
                      .replace = NO);
        PUBLISH_FAILS(a, "m", "org.pylocker.Locker.Error.AlreadyExists", .to = TO("bob"), .to_self = NO, .unique = YES);
        ASSERT_INBOX(b, g_strdup_printf("m<%s m<%s", sa, sa));

        /* unique, some take it: success, and only those hold it once more. */
        {
                g_autofree char *id = PUBLISH(a, "m", .to = TO("bob"), .unique = YES);

                g_assert_cmpuint(strlen(id), ==, 32);
                ASSERT_INBOX(a, g_strdup_printf("m<%s", sa));
                ASSERT_INBOX(b, g_strdup_printf("m<%s m<%s", sa, sa));
        }

        /* unique where nobody holds it: taken. */
        g_free(PUBLISH(a, "n", .to = TO("bob"), .to_self = NO, .unique = YES, .replace = NO));
        ASSERT_INBOX(b, g_strdup_printf("m<%s m<%s n<%s", sa, sa, sa));
}

static void test_get_pop_remove(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h), *c = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *sa, *sb;
        uint32_t removed;

        register_name(c, "carol");
        register_name(b, "bob");
        sa = client_id(a);
        sb = client_id(b);
        g_free(PUBLISH(a, "m", .to = TO("carol"), .to_self = NO, .replace = NO));
        g_free(PUBLISH(b, "m", .to = TO("carol"), .to_self = NO, .replace = NO));
        g_free(PUBLISH(a, "k", .to = TO("carol"), .to_self = NO));

        /* Get leaves them, Pop takes them. */
        {
                g_autofree char *got = inbox_call(c, "GetMessage", "m");
                g_autofree char *expected = g_strdup_printf("m<%s m<%s", sa, sb);

                g_assert_cmpstr(got, ==, expected);
        }
        {
                g_autofree char *got = inbox_call(c, "GetMessage", "none");

                g_assert_cmpstr(got, ==, "");
        }
        ASSERT_INBOX(c, g_strdup_printf("m<%s m<%s k<%s", sa, sb, sa));
        {
                g_autofree char *got = inbox_call(c, "PopMessage", "k");
                g_autofree char *expected = g_strdup_printf("k<%s", sa);

                g_assert_cmpstr(got, ==, expected);
        }
        ASSERT_INBOX(c, g_strdup_printf("m<%s m<%s", sa, sb));
        {
                g_autofree char *got = inbox_call(c, "PopMessage", "k");

                g_assert_cmpstr(got, ==, "");
        }

        /* Remove from one sender, by name, then from anyone. */
        g_assert_cmpint(locker_call_method(c, "RemoveMessage", &error, &reply, "sas", "m", 1, "bob"), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "u", &removed), >, 0);
        g_assert_cmpuint(removed, ==, 1);
        reply = sd_bus_message_unref(reply);
        ASSERT_INBOX(c, g_strdup_printf("m<%s", sa));
        g_free(PUBLISH(b, "m", .to = TO("carol"), .to_self = NO, .replace = NO));
        g_assert_cmpint(locker_call_method(c, "RemoveMessage", &error, &reply, "sas", "m", 0), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "u", &removed), >, 0);
        g_assert_cmpuint(removed, ==, 2);
        reply = sd_bus_message_unref(reply);
        ASSERT_INBOX(c, g_strdup(""));
}

static void test_timeout_expiry(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        Listener lb = {};
        uint64_t before = (uint64_t) g_get_real_time();

        listen_on(b, &lb);
        register_name(b, "bob");
        g_free(PUBLISH(a, "brief", .to = TO("bob"), .to_self = NO, .timeout_usec = 300 * MSEC));
        harness_pump_until_count(&f->h, &lb.n, 1, 5000);
        g_assert_cmpuint(lb.last_expires, >=, before + 300 * MSEC);
        g_assert_cmpuint(lb.last_expires, <=, (uint64_t) g_get_real_time() + 300 * MSEC);
        g_free(PUBLISH(a, "lasting", .to = TO("bob"), .to_self = NO));
        g_assert_true(has_message(b, "brief"));

        harness_pump_for(&f->h, 600);
        g_assert_false(has_message(b, "brief"));
        g_assert_true(has_message(b, "lasting"));
        g_assert_cmpuint(lb.n, ==, 2);
        listener_clear(&lb);
}

static void test_inbox_discarded_on_disconnect(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h), *b2;

        register_name(b, "bob");
        g_free(PUBLISH(a, "m", .to = TO("bob"), .to_self = NO));
        g_assert_true(has_message(b, "m"));
        harness_disconnect(&f->h, b);

        /* The name is free, and the new client's inbox is empty. */
        b2 = harness_connect(&f->h);
        register_name(b2, "bob");
        g_assert_false(has_message(b2, "m"));
        PUBLISH_FAILS(a, "m", "org.pylocker.Locker.Error.NotFound", .to = TO(":1.9999"));
}

static void test_limits(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        g_autofree char *big = g_strnfill(64, 'x');
        g_autofree char *too_big = g_strnfill(65, 'x');

        register_name(b, "bob");

        /* Message size (64 bytes here). */
        g_free(PUBLISH(a, big, .to = TO("bob"), .to_self = NO));
        PUBLISH_FAILS(a, too_big, "org.pylocker.Locker.Error.LimitsExceeded", .to = TO("bob"), .to_self = NO);

        /* Inbox length (3 here): full means nothing is published and nothing is lost. */
        g_free(PUBLISH(a, "2", .to = TO("bob"), .to_self = NO));
        g_free(PUBLISH(a, "3", .to = TO("bob"), .to_self = NO));
        PUBLISH_FAILS(a, "4", "org.pylocker.Locker.Error.LimitsExceeded", .to = TO("bob"));
        g_assert_false(has_message(a, "4"));
        ASSERT_INBOX(b, g_strdup_printf("%s<%s 2<%s 3<%s", big, client_id(a), client_id(a), client_id(a)));
        /* Replacing a held message does not grow the inbox. */
        g_free(PUBLISH(a, "3", .to = TO("bob"), .to_self = NO));

        /* Publications per second (5 here; the ones above count, except the one refused for its size):
         * within a few more the limit applies, whichever second they fall in. */
        for (int i = 0; i < 10; i++) {
                sd_bus_message *reply = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                int r = locker_call_method(a, "Publish", &error, &reply, "sasta{sv}", "rate", 0, 0, 1,
                                           "to_self", "b", 0);

                sd_bus_message_unref(reply);
                if (r < 0) {
                        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.LimitsExceeded");
                        sd_bus_error_free(&error);
                        return;
                }
        }
        g_error("the publication rate limit never applied");
}

static void test_bad_arguments(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *invalid = "org.freedesktop.DBus.Error.InvalidArgs";

        g_assert_cmpint(locker_call_method(a, "Publish", &error, NULL, "sasta{sv}", "m", 0, 0, 1, "uniq",
                                           "b", 1), <, 0);
        g_assert_cmpstr(error.name, ==, invalid);
        sd_bus_error_free(&error);
        g_assert_cmpint(locker_call_method(a, "Publish", &error, NULL, "sasta{sv}", "m", 0, 0, 1, "unique",
                                           "s", "yes"), <, 0);
        g_assert_cmpstr(error.name, ==, invalid);
        sd_bus_error_free(&error);
        g_assert_cmpint(locker_call_method(a, "Publish", &error, NULL, "s", "m"), <, 0);
        g_assert_cmpstr(error.name, ==, invalid);
        sd_bus_error_free(&error);
        g_assert_cmpint(locker_call_method(a, "RemoveMessage", &error, NULL, "s", "m"), <, 0);
        g_assert_cmpstr(error.name, ==, invalid);
        sd_bus_error_free(&error);
        ASSERT_INBOX(a, g_strdup(""));
}

int main(int argc, char *argv[]) {
        static const char *const small_limits[] = {
                "--max-message-size=64", "--max-inbox-length=3", "--max-publications-per-second=5", NULL,
        };

        g_test_init(&argc, &argv, NULL);

#define ADD(path, args, fn) harness_test_add("/messages/" path, args, fn)
        ADD("targeted-and-broadcast", NULL, test_targeted_and_broadcast);
        ADD("not-a-receiver", NULL, test_not_a_receiver);
        ADD("unique-replace-matrix", NULL, test_unique_replace_matrix);
        ADD("get-pop-remove", NULL, test_get_pop_remove);
        ADD("timeout-expiry", NULL, test_timeout_expiry);
        ADD("inbox-discarded-on-disconnect", NULL, test_inbox_discarded_on_disconnect);
        ADD("limits", small_limits, test_limits);
        ADD("bad-arguments", NULL, test_bad_arguments);
#undef ADD

        return g_test_run();
}
