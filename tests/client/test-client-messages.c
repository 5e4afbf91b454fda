/* Messages through the client library against a real pylockerd: publish to ids, names and everyone,
 * to_self, unique and replace, the message callback, the inbox calls, expiry, errors and bad input,
 * over the bus and over the daemon's direct socket. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <glib.h>

#include "client-util.h"

#define ERROR_NOT_FOUND "org.pylocker.Locker.Error.NotFound"
#define ERROR_ALREADY_EXISTS "org.pylocker.Locker.Error.AlreadyExists"
#define ERROR_LIMITS_EXCEEDED "org.pylocker.Locker.Error.LimitsExceeded"
#define NAMES(...) ((const char *const[]) { __VA_ARGS__, NULL })

typedef struct Params {
        bool direct;                    /* lockers alternate: direct socket, bus, direct socket, ... */
        const char *const *daemon_args;
} Params;

typedef struct Fixture {
        Harness h;
        char *socket;
        bool direct;
        unsigned n_opened;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        const Params *p = data;

        harness_start(&f->h, p->daemon_args);
        f->socket = harness_direct_socket_path(&f->h);
        f->direct = p->direct;
        f->n_opened = 0;
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        harness_stop(&f->h);
        g_free(f->socket);
}

/* In the direct runs every other locker is on the bus, so both ways between the two are covered. */
static PylockerLocker *open_locker(Fixture *f, const char *name) {
        bool direct = f->direct && f->n_opened++ % 2 == 0;
        PylockerLocker *l = test_locker_open(&f->h, name, direct ? f->socket : NULL);

        g_assert_cmpint(pylocker_locker_is_direct(l), ==, direct);
        return l;
}

/* Every publication a locker's callback got, copied. */
typedef struct Received {
        GArray *got;            /* PylockerPublication */
        unsigned n;
} Received;

static void on_message(PylockerLocker *locker, const PylockerPublication *p, void *userdata) {
        Received *r = userdata;
        PylockerPublication copy = {
                .message = g_strdup(p->message),
                .publication_id = g_strdup(p->publication_id),
                .sender_id = g_strdup(p->sender_id),
                .sender_name = g_strdup(p->sender_name),
                .published_usec = p->published_usec,
                .expires_usec = p->expires_usec,
        };

        /* What the signal does not carry is said to be unknown, not made up. */
        g_assert_cmpstr(p->sender_name, ==, "");
        g_assert_cmpuint(p->published_usec, ==, 0);
        if (!r->got)
                r->got = g_array_new(FALSE, TRUE, sizeof(PylockerPublication));
        g_array_append_val(r->got, copy);
        r->n++;
}

static const PylockerPublication *received_last(Received *r) {
        g_assert_nonnull(r->got);
        g_assert_cmpuint(r->got->len, >, 0);
        return &g_array_index(r->got, PylockerPublication, r->got->len - 1);
}

static void received_clear(Received *r) {
        if (r->got)
                pylocker_publication_array_free((PylockerPublication *) (void *) g_array_free(r->got, FALSE), r->n);
        *r = (Received) {};
}

static void listen_on(PylockerLocker *l, Received *r) {
        g_assert_cmpint(pylocker_locker_set_message_callback(l, on_message, r), ==, 0);
}

static void pump_until_count(PylockerLocker *const *lockers, const unsigned *counter, unsigned target,
                             int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        while (*counter < target) {
                if (g_get_monotonic_time() > deadline)
                        g_error("only %u of %u after %d ms", *counter, target, timeout_ms);
                test_pump_for(lockers, 5);
        }
}

/* Publishes, expecting it taken; returns the id (g_free). */
static char *publish_ok(PylockerLocker *l, const char *message, const char *const *to, unsigned flags) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        char *id = NULL;

        g_assert_cmpint(pylocker_locker_publish(l, message, to, 0, flags, &id, &error), ==, 1);
        g_assert_cmpint(error.code, ==, 0);
        g_assert_nonnull(id);
        g_assert_cmpuint(strlen(id), ==, 32);
        return id;
}

static size_t inbox_count(PylockerLocker *l, const char *message) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerPublication *p = NULL;
        size_t n = 99;
        int r;

        r = message ? pylocker_locker_get_message(l, message, &p, &n, &error) :
                      pylocker_locker_list_messages(l, &p, &n, &error);
        g_assert_cmpint(r, >=, 0);
        g_assert_cmpuint((size_t) r, ==, n);
        g_assert_true((n == 0) == (p == NULL));
        pylocker_publication_array_free(p, n);
        return n;
}

/* Waits until the daemon has seen the others go. */
static void wait_n_clients(PylockerLocker *l, size_t n) {
        gint64 deadline = g_get_monotonic_time() + 10 * (gint64) SEC;

        for (;;) {
                PylockerError error = PYLOCKER_ERROR_INIT;
                PylockerClientInfo *infos = NULL;
                size_t n_infos = 0;

                g_assert_cmpint(pylocker_locker_list_clients(l, &infos, &n_infos, &error), ==, 0);
                pylocker_client_info_array_free(infos, n_infos);
                if (n_infos == n)
                        return;
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_usleep(20 * MSEC);
        }
}

static void test_targeted(Fixture *f, gconstpointer data) {
        PylockerLocker *a = open_locker(f, "alice"), *b = open_locker(f, "bob"), *c = open_locker(f, "carol");
        PylockerLocker *lockers[] = { a, b, c, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        Received ra = {}, rb = {}, rc = {};
        PylockerPublication *p = NULL;
        g_autofree char *id1 = NULL, *id2 = NULL;
        gint64 before = g_get_real_time();
        size_t n = 0;

        listen_on(a, &ra);
        listen_on(b, &rb);
        listen_on(c, &rc);

        /* By name; to_self by default, so alice gets it too. */
        id1 = publish_ok(a, "hello bob", NAMES("bob"), 0);
        pump_until_count(lockers, &rb.n, 1, 5000);
        pump_until_count(lockers, &ra.n, 1, 5000);
        g_assert_cmpstr(received_last(&rb)->publication_id, ==, id1);
        g_assert_cmpstr(received_last(&rb)->sender_id, ==, pylocker_locker_get_client_id(a));
        g_assert_cmpstr(received_last(&rb)->message, ==, "hello bob");
        g_assert_cmpuint(received_last(&rb)->expires_usec, ==, 0);
        g_assert_cmpstr(received_last(&ra)->publication_id, ==, id1);

        /* By client id, not to self: only carol. */
        id2 = publish_ok(a, "hello carol", NAMES(pylocker_locker_get_client_id(c)), PYLOCKER_PUBLISH_NOT_TO_SELF);
        pump_until_count(lockers, &rc.n, 1, 5000);
        g_assert_cmpstr(received_last(&rc)->publication_id, ==, id2);
        g_assert_cmpstr(received_last(&rc)->message, ==, "hello carol");
        /* Nothing more arrives for the others (the signals would have come before or with carol's). */
        test_pump_for(lockers, 300);
        g_assert_cmpuint(ra.n, ==, 1);
        g_assert_cmpuint(rb.n, ==, 1);
        g_assert_cmpuint(rc.n, ==, 1);

        /* The inboxes say the same, with what the signal did not carry. */
        g_assert_cmpint(pylocker_locker_list_messages(b, &p, &n, &error), ==, 1);
        g_assert_cmpuint(n, ==, 1);
        g_assert_cmpstr(p[0].message, ==, "hello bob");
        g_assert_cmpstr(p[0].publication_id, ==, id1);
        g_assert_cmpstr(p[0].sender_id, ==, pylocker_locker_get_client_id(a));
        g_assert_cmpstr(p[0].sender_name, ==, "alice");
        g_assert_cmpuint(p[0].published_usec, >=, (uint64_t) before - 2 * SEC);
        g_assert_cmpuint(p[0].published_usec, <=, (uint64_t) g_get_real_time() + 2 * SEC);
        g_assert_cmpuint(p[0].expires_usec, ==, 0);
        pylocker_publication_array_free(p, n);
        g_assert_cmpuint(inbox_count(a, NULL), ==, 1);
        g_assert_cmpint(pylocker_locker_has_message(a, "hello bob", &error), ==, 1);
        g_assert_cmpint(pylocker_locker_has_message(a, "hello carol", &error), ==, 0);
        g_assert_cmpuint(inbox_count(c, NULL), ==, 1);
        g_assert_cmpint(pylocker_locker_has_message(c, "hello carol", &error), ==, 1);

        received_clear(&ra);
        received_clear(&rb);
        received_clear(&rc);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
        pylocker_locker_unref(c);
}

static void test_broadcast(Fixture *f, gconstpointer data) {
        PylockerLocker *a = open_locker(f, "alice"), *b = open_locker(f, NULL), *c = open_locker(f, NULL);
        PylockerLocker *lockers[] = { a, b, c, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        Received ra = {}, rb = {}, rc = {};
        g_autofree char *id = NULL, *none = NULL;
        const char *const empty[] = { NULL };

        /* b and c never call anything after open: being registered is enough to be a receiver. */
        listen_on(a, &ra);
        listen_on(b, &rb);
        listen_on(c, &rc);

        id = publish_ok(a, "everyone", NULL, 0);
        pump_until_count(lockers, &ra.n, 1, 5000);
        pump_until_count(lockers, &rb.n, 1, 5000);
        pump_until_count(lockers, &rc.n, 1, 5000);
        g_assert_cmpstr(received_last(&rb)->publication_id, ==, id);
        g_assert_cmpstr(received_last(&rc)->publication_id, ==, id);
        g_assert_cmpstr(received_last(&ra)->message, ==, "everyone");

        /* An empty list is everyone too; not to self leaves alice out. */
        g_free(publish_ok(a, "everyone else", empty, PYLOCKER_PUBLISH_NOT_TO_SELF));
        pump_until_count(lockers, &rb.n, 2, 5000);
        pump_until_count(lockers, &rc.n, 2, 5000);
        test_pump_for(lockers, 300);
        g_assert_cmpuint(ra.n, ==, 1);
        g_assert_cmpstr(received_last(&rc)->message, ==, "everyone else");
        g_assert_cmpint(pylocker_locker_has_message(a, "everyone else", &error), ==, 0);

        /* Nobody left to deliver to: 0 and an empty id, not an error. */
        pylocker_locker_unref(b);
        pylocker_locker_unref(c);
        lockers[1] = NULL;
        wait_n_clients(a, 1);
        g_assert_cmpint(pylocker_locker_publish(a, "nobody", NULL, 0, PYLOCKER_PUBLISH_NOT_TO_SELF, &none, &error),
                        ==, 0);
        g_assert_cmpstr(none, ==, "");
        g_assert_cmpint(error.code, ==, 0);

        received_clear(&ra);
        received_clear(&rb);
        received_clear(&rc);
        pylocker_locker_unref(a);
}

static void test_get_pop_has_remove(Fixture *f, gconstpointer data) {
        PylockerLocker *a = open_locker(f, "alice"), *b = open_locker(f, "bob"), *c = open_locker(f, "carol");
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerPublication *p = NULL;
        g_autofree char *first = NULL, *second = NULL;
        size_t n = 0;

        first = publish_ok(a, "m", NAMES("bob"), PYLOCKER_PUBLISH_NOT_TO_SELF);
        second = publish_ok(a, "m", NAMES("bob"), PYLOCKER_PUBLISH_NOT_TO_SELF | PYLOCKER_PUBLISH_NO_REPLACE);
        g_free(publish_ok(c, "m", NAMES("bob"), PYLOCKER_PUBLISH_NOT_TO_SELF | PYLOCKER_PUBLISH_NO_REPLACE));
        g_free(publish_ok(c, "other", NAMES("bob"), PYLOCKER_PUBLISH_NOT_TO_SELF));
        g_assert_cmpuint(inbox_count(b, NULL), ==, 4);

        /* get leaves them, oldest first. */
        g_assert_cmpint(pylocker_locker_get_message(b, "m", &p, &n, &error), ==, 3);
        g_assert_cmpuint(n, ==, 3);
        g_assert_cmpstr(p[0].publication_id, ==, first);
        g_assert_cmpstr(p[1].publication_id, ==, second);
        g_assert_cmpstr(p[2].sender_name, ==, "carol");
        pylocker_publication_array_free(p, n);
        g_assert_cmpuint(inbox_count(b, NULL), ==, 4);
        g_assert_cmpint(pylocker_locker_has_message(b, "m", &error), ==, 1);

        /* pop takes them. */
        p = NULL;
        g_assert_cmpint(pylocker_locker_pop_message(b, "other", &p, &n, &error), ==, 1);
        g_assert_cmpstr(p[0].message, ==, "other");
        g_assert_cmpstr(p[0].sender_id, ==, pylocker_locker_get_client_id(c));
        pylocker_publication_array_free(p, n);
        g_assert_cmpint(pylocker_locker_has_message(b, "other", &error), ==, 0);
        p = (PylockerPublication *) (void *) &error;       /* must be overwritten */
        g_assert_cmpint(pylocker_locker_pop_message(b, "other", &p, &n, &error), ==, 0);
        g_assert_null(p);
        g_assert_cmpuint(n, ==, 0);
        g_assert_cmpuint(inbox_count(b, "absent"), ==, 0);

        /* remove: by sender name, by sender id, then from anyone. */
        g_assert_cmpint(pylocker_locker_remove_message(b, "m", NAMES("carol"), &error), ==, 1);
        g_assert_cmpuint(inbox_count(b, "m"), ==, 2);
        g_assert_cmpint(pylocker_locker_remove_message(b, "m", NAMES(pylocker_locker_get_client_id(c)), &error), ==, 0);
        g_assert_cmpint(pylocker_locker_remove_message(b, "m", NAMES(pylocker_locker_get_client_id(a)), &error), ==, 2);
        g_assert_cmpint(pylocker_locker_has_message(b, "m", &error), ==, 0);
        g_free(publish_ok(a, "m", NAMES("bob"), PYLOCKER_PUBLISH_NOT_TO_SELF));
        g_free(publish_ok(c, "m", NAMES("bob"), PYLOCKER_PUBLISH_NOT_TO_SELF | PYLOCKER_PUBLISH_NO_REPLACE));
        g_assert_cmpint(pylocker_locker_remove_message(b, "m", NULL, &error), ==, 2);
        g_assert_cmpint(pylocker_locker_remove_message(b, "m", (const char *const[]) { NULL }, &error), ==, 0);
        g_assert_cmpuint(inbox_count(b, NULL), ==, 0);

        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
        pylocker_locker_unref(c);
}

static void test_unique_replace(Fixture *f, gconstpointer data) {
        PylockerLocker *a = open_locker(f, "alice"), *b = open_locker(f, "bob"), *c = open_locker(f, "carol");
        PylockerLocker *lockers[] = { a, b, c, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerPublication *p = NULL;
        Received rb = {}, rc = {};
        g_autofree char *id = NULL, *kept = NULL, *again = NULL;
        size_t n = 0;
        int r;

        listen_on(b, &rb);
        listen_on(c, &rc);

        kept = publish_ok(a, "u", NAMES("bob"), PYLOCKER_PUBLISH_NOT_TO_SELF);
        pump_until_count(lockers, &rb.n, 1, 5000);

        /* Every receiver holds it: AlreadyExists, nothing changes. */
        r = pylocker_locker_publish(a, "u", NAMES("bob"), 0, PYLOCKER_PUBLISH_NOT_TO_SELF | PYLOCKER_PUBLISH_UNIQUE,
                                    &id, &error);
        g_assert_cmpint(r, ==, -EEXIST);
        g_assert_cmpint(error.code, ==, -EEXIST);
        g_assert_cmpstr(error.name, ==, ERROR_ALREADY_EXISTS);
        g_assert_nonnull(strstr(error.message, "holds this message already"));
        g_assert_null(id);

        /* Some refuse: the others take it, and only they hear of it. */
        id = publish_ok(a, "u", NAMES("bob", "carol"), PYLOCKER_PUBLISH_NOT_TO_SELF | PYLOCKER_PUBLISH_UNIQUE);
        pump_until_count(lockers, &rc.n, 1, 5000);
        g_assert_cmpstr(received_last(&rc)->publication_id, ==, id);
        test_pump_for(lockers, 300);
        g_assert_cmpuint(rb.n, ==, 1);
        g_assert_cmpint(pylocker_locker_get_message(b, "u", &p, &n, &error), ==, 1);
        g_assert_cmpstr(p[0].publication_id, ==, kept);
        pylocker_publication_array_free(p, n);

        /* replace (the default) keeps one publication, the newest, at the end. */
        again = publish_ok(a, "u", NAMES("bob"), PYLOCKER_PUBLISH_NOT_TO_SELF);
        g_assert_cmpint(pylocker_locker_get_message(b, "u", &p, &n, &error), ==, 1);
        g_assert_cmpstr(p[0].publication_id, ==, again);
        pylocker_publication_array_free(p, n);
        /* Without replace, one more beside it. */
        g_free(publish_ok(a, "u", NAMES("bob"), PYLOCKER_PUBLISH_NOT_TO_SELF | PYLOCKER_PUBLISH_NO_REPLACE));
        g_assert_cmpuint(inbox_count(b, "u"), ==, 2);
        pump_until_count(lockers, &rb.n, 3, 5000);

        received_clear(&rb);
        received_clear(&rc);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
        pylocker_locker_unref(c);
}

static void test_timeout(Fixture *f, gconstpointer data) {
        PylockerLocker *a = open_locker(f, "alice"), *b = open_locker(f, "bob");
        PylockerLocker *lockers[] = { a, b, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerPublication *p = NULL;
        Received rb = {};
        gint64 before = g_get_real_time();
        size_t n = 0;

        listen_on(b, &rb);
        g_assert_cmpint(pylocker_locker_publish(a, "short", NAMES("bob"), 400 * MSEC, PYLOCKER_PUBLISH_NOT_TO_SELF,
                                                NULL, &error), ==, 1);
        g_assert_cmpint(pylocker_locker_publish(a, "forever", NAMES("bob"), PYLOCKER_INFINITY,
                                                PYLOCKER_PUBLISH_NOT_TO_SELF, NULL, &error), ==, 1);
        pump_until_count(lockers, &rb.n, 2, 5000);
        g_assert_cmpstr(g_array_index(rb.got, PylockerPublication, 0).message, ==, "short");
        g_assert_cmpuint(g_array_index(rb.got, PylockerPublication, 0).expires_usec, >=,
                         (uint64_t) before + 400 * MSEC - 2 * SEC);
        g_assert_cmpuint(g_array_index(rb.got, PylockerPublication, 0).expires_usec, <=,
                         (uint64_t) g_get_real_time() + 400 * MSEC + 2 * SEC);
        g_assert_cmpuint(received_last(&rb)->expires_usec, ==, 0);

        g_assert_cmpint(pylocker_locker_get_message(b, "short", &p, &n, &error), >=, 0);
        /* Normally still there; on a very slow machine it may be gone already, which is no failure. */
        if (n == 1)
                g_assert_cmpuint(p[0].expires_usec, ==, g_array_index(rb.got, PylockerPublication, 0).expires_usec);
        pylocker_publication_array_free(p, n);

        /* Gone from the inbox once it ran out; the other stays. */
        for (gint64 deadline = g_get_monotonic_time() + 10 * (gint64) SEC;
             pylocker_locker_has_message(b, "short", &error) == 1;) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_usleep(50 * MSEC);
        }
        g_assert_cmpint(g_get_real_time(), >=, before + (gint64) (400 * MSEC));
        g_assert_cmpuint(inbox_count(b, "short"), ==, 0);
        g_assert_cmpint(pylocker_locker_has_message(b, "forever", &error), ==, 1);

        received_clear(&rb);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
}

static void test_errors(Fixture *f, gconstpointer data) {
        PylockerLocker *a = open_locker(f, "alice"), *b = open_locker(f, "bob");
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerPublication *p = NULL;
        char *id = NULL;
        size_t n = 0;
        int status, r;

        /* An unknown receiver fails the whole publication, naming it. */
        r = pylocker_locker_publish(a, "m", NAMES("bob", "nosuch"), 0, 0, &id, &error);
        g_assert_cmpint(r, ==, -ENOENT);
        g_assert_cmpint(error.code, ==, -ENOENT);
        g_assert_cmpstr(error.name, ==, ERROR_NOT_FOUND);
        g_assert_nonnull(strstr(error.message, "'nosuch'"));
        g_assert_null(id);
        g_assert_cmpint(pylocker_locker_has_message(b, "m", &error), ==, 0);
        g_assert_cmpint(pylocker_locker_has_message(a, "m", &error), ==, 0);
        g_assert_cmpint(pylocker_acquire_code(r), ==, PYLOCKER_ACQUIRE_OTHER_ERROR);

        /* Not connected: the seed's code 2. */
        g_assert_cmpint(pylocker_locker_close(b), ==, 0);
        r = pylocker_locker_publish(b, "m", NULL, 0, 0, NULL, &error);
        g_assert_cmpint(r, ==, -ENOTCONN);
        g_assert_cmpint(pylocker_acquire_code(r), ==, PYLOCKER_ACQUIRE_NOT_CONNECTED);
        g_assert_cmpint(pylocker_locker_has_message(b, "m", &error), ==, -ENOTCONN);

        /* Connection lost: the seed's code 1. */
        g_assert_cmpint(kill(f->h.daemon_pid, SIGKILL), ==, 0);
        g_assert_cmpint(waitpid(f->h.daemon_pid, &status, 0), ==, f->h.daemon_pid);
        f->h.daemon_pid = 0;
        r = pylocker_locker_publish(a, "m", NULL, 0, 0, NULL, &error);
        g_assert_cmpint(r, ==, -ECONNRESET);
        g_assert_cmpint(error.code, ==, -ECONNRESET);
        g_assert_cmpint(pylocker_acquire_code(r), ==, PYLOCKER_ACQUIRE_CONNECTION_LOST);
        g_assert_cmpint(pylocker_locker_list_messages(a, &p, &n, &error), ==, -ECONNRESET);
        g_assert_null(p);

        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
}

static void test_limits(Fixture *f, gconstpointer data) {
        PylockerLocker *a = open_locker(f, "alice"), *b = open_locker(f, "bob");
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *fits = g_strnfill(64, 'x'), *too_big = g_strnfill(65, 'x');
        PylockerPublication *p = NULL;
        size_t n = 0;
        int r;

        g_free(publish_ok(a, fits, NAMES("bob"), PYLOCKER_PUBLISH_NOT_TO_SELF));
        r = pylocker_locker_publish(a, too_big, NAMES("bob"), 0, PYLOCKER_PUBLISH_NOT_TO_SELF, NULL, &error);
        g_assert_cmpint(r, ==, -EDQUOT);
        g_assert_cmpint(error.code, ==, -EDQUOT);
        g_assert_cmpstr(error.name, ==, ERROR_LIMITS_EXCEEDED);
        g_assert_nonnull(strstr(error.message, "64 bytes"));
        g_assert_cmpint(pylocker_locker_list_messages(b, &p, &n, &error), ==, 1);
        g_assert_cmpstr(p[0].message, ==, fits);
        pylocker_publication_array_free(p, n);

        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
}

typedef struct PublishResult {
        bool done;
        int r;
        char *id;
        PylockerError error;
} PublishResult;

static void on_publish_result(PylockerLocker *locker, int r, const char *id, const PylockerError *error,
                              void *userdata) {
        PublishResult *res = userdata;

        g_assert_false(res->done);
        res->done = true;
        res->r = r;
        res->id = g_strdup(id);
        if (r < 0) {
                g_assert_null(id);
                g_assert_nonnull(error);
                g_assert_cmpint(error->code, ==, r);
                res->error = *error;
        } else
                g_assert_nonnull(id);
}

static void test_async(Fixture *f, gconstpointer data) {
        PylockerLocker *a = open_locker(f, "alice"), *b = open_locker(f, "bob");
        PylockerLocker *lockers[] = { a, b, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        PublishResult ok = {}, unknown = {}, refused = {}, cancelled = {};
        Received rb = {};

        listen_on(b, &rb);
        g_assert_cmpint(pylocker_locker_publish_async(a, "async", NAMES("bob"), 0, PYLOCKER_PUBLISH_NOT_TO_SELF,
                                                      on_publish_result, &ok, &error), ==, 0);
        g_assert_false(ok.done);
        test_pump_until(lockers, &ok.done, 5000);
        g_assert_cmpint(ok.r, ==, 1);
        g_assert_cmpuint(strlen(ok.id), ==, 32);
        pump_until_count(lockers, &rb.n, 1, 5000);
        g_assert_cmpstr(received_last(&rb)->publication_id, ==, ok.id);

        g_assert_cmpint(pylocker_locker_publish_async(a, "async", NAMES("nosuch"), 0, 0, on_publish_result, &unknown,
                                                      &error), ==, 0);
        test_pump_until(lockers, &unknown.done, 5000);
        g_assert_cmpint(unknown.r, ==, -ENOENT);
        g_assert_cmpstr(unknown.error.name, ==, ERROR_NOT_FOUND);
        g_assert_nonnull(strstr(unknown.error.message, "'nosuch'"));

        g_assert_cmpint(pylocker_locker_publish_async(a, "async", NAMES("bob"), 0,
                                                      PYLOCKER_PUBLISH_NOT_TO_SELF | PYLOCKER_PUBLISH_UNIQUE,
                                                      on_publish_result, &refused, &error), ==, 0);
        test_pump_until(lockers, &refused.done, 5000);
        g_assert_cmpint(refused.r, ==, -EEXIST);
        g_assert_cmpstr(refused.error.name, ==, ERROR_ALREADY_EXISTS);

        /* Closed before the answer: told, once, at the close. */
        g_assert_cmpint(pylocker_locker_publish_async(a, "late", NULL, 0, 0, on_publish_result, &cancelled, &error),
                        ==, 0);
        g_assert_cmpint(pylocker_locker_close(a), ==, 0);
        g_assert_true(cancelled.done);
        g_assert_cmpint(cancelled.r, ==, -ECANCELED);
        g_assert_cmpint(pylocker_locker_publish_async(a, "closed", NULL, 0, 0, on_publish_result, &cancelled, &error),
                        ==, -ENOTCONN);

        g_free(ok.id);
        received_clear(&rb);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
}

/* A callback may use the locker: here it pops what it was told of, so the inbox stays empty. */
static void on_message_pop(PylockerLocker *locker, const PylockerPublication *p, void *userdata) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerPublication *popped = NULL;
        unsigned *n = userdata;
        size_t n_popped = 0;

        g_assert_cmpint(pylocker_locker_pop_message(locker, p->message, &popped, &n_popped, &error), ==, 1);
        g_assert_cmpstr(popped[0].publication_id, ==, p->publication_id);
        pylocker_publication_array_free(popped, n_popped);
        (*n)++;
}

static void test_callback_uses_locker(Fixture *f, gconstpointer data) {
        PylockerLocker *a = open_locker(f, "alice"), *b = open_locker(f, "bob");
        PylockerLocker *lockers[] = { a, b, NULL };
        unsigned n = 0;

        g_assert_cmpint(pylocker_locker_set_message_callback(b, on_message_pop, &n), ==, 0);
        for (int i = 0; i < 5; i++) {
                g_autofree char *text = g_strdup_printf("pop %d", i);

                g_free(publish_ok(a, text, NAMES("bob"), PYLOCKER_PUBLISH_NOT_TO_SELF));
        }
        pump_until_count(lockers, &n, 5, 5000);
        g_assert_cmpuint(inbox_count(b, NULL), ==, 0);

        /* Cleared: nothing is called, the inbox still fills. */
        g_assert_cmpint(pylocker_locker_set_message_callback(b, NULL, NULL), ==, 0);
        g_free(publish_ok(a, "quiet", NAMES("bob"), PYLOCKER_PUBLISH_NOT_TO_SELF));
        test_pump_for(lockers, 200);
        g_assert_cmpuint(n, ==, 5);
        g_assert_cmpuint(inbox_count(b, NULL), ==, 1);

        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
}

/* On the bus anyone can send a peer a signal: only the daemon's count. */
static void test_forged_signal(Fixture *f, gconstpointer data) {
        PylockerLocker *b = open_locker(f, "bob");
        PylockerLocker *lockers[] = { b, NULL };
        sd_bus *forger = harness_connect(&f->h);
        sd_bus_message *signal = NULL;
        Received rb = {};

        g_assert_false(pylocker_locker_is_direct(b));
        listen_on(b, &rb);
        g_assert_cmpint(sd_bus_message_new_signal(forger, &signal, PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE,
                                                  "MessagePublished"), >=, 0);
        g_assert_cmpint(sd_bus_message_set_destination(signal, pylocker_locker_get_client_id(b)), >=, 0);
        g_assert_cmpint(sd_bus_message_append(signal, "ssst", "0123456789abcdef0123456789abcdef", ":1.1", "forged",
                                              UINT64_C(0)), >=, 0);
        g_assert_cmpint(sd_bus_send(forger, signal, NULL), >=, 0);
        g_assert_cmpint(sd_bus_flush(forger), >=, 0);
        sd_bus_message_unref(signal);
        test_pump_for(lockers, 300);
        g_assert_cmpuint(rb.n, ==, 0);

        /* The real thing still gets through. */
        g_free(publish_ok(b, "real", NULL, 0));
        pump_until_count(lockers, &rb.n, 1, 5000);
        g_assert_cmpstr(received_last(&rb)->message, ==, "real");
        g_assert_cmpuint(rb.n, ==, 1);

        received_clear(&rb);
        pylocker_locker_unref(b);
}

static void on_message_fail(PylockerLocker *locker, const PylockerPublication *p, void *userdata) {
        g_error("no callback expected");
}

static void on_publish_fail(PylockerLocker *locker, int r, const char *id, const PylockerError *error,
                            void *userdata) {
        g_error("no callback expected");
}

static void test_bad_input(Fixture *f, gconstpointer data) {
        PylockerLocker *a = open_locker(f, "alice");
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerPublication *p = NULL;
        char *id = NULL;
        size_t n = 0;

#define ASSERT_EINVAL(call, text)                                               \
        do {                                                                    \
                error = (PylockerError) PYLOCKER_ERROR_INIT;                    \
                g_assert_cmpint((call), ==, -EINVAL);                           \
                g_assert_cmpint(error.code, ==, -EINVAL);                       \
                g_assert_nonnull(strstr(error.message, text));                  \
        } while (0)

        ASSERT_EINVAL(pylocker_locker_publish(NULL, "m", NULL, 0, 0, &id, &error), "No locker");
        ASSERT_EINVAL(pylocker_locker_publish(a, NULL, NULL, 0, 0, &id, &error), "No message");
        ASSERT_EINVAL(pylocker_locker_publish(a, "\xff", NULL, 0, 0, &id, &error), "UTF-8");
        ASSERT_EINVAL(pylocker_locker_publish(a, "m", NAMES("bob", ""), 0, 0, &id, &error), "Receiver 1 is empty");
        ASSERT_EINVAL(pylocker_locker_publish(a, "m", NULL, 0, 1u << 7, &id, &error), "Unknown publish flags");
        g_assert_null(id);
        ASSERT_EINVAL(pylocker_locker_publish_async(NULL, "m", NULL, 0, 0, on_publish_fail, NULL, &error), "No locker");
        ASSERT_EINVAL(pylocker_locker_publish_async(a, "m", NULL, 0, 0, NULL, NULL, &error), "no callback");
        ASSERT_EINVAL(pylocker_locker_publish_async(a, NULL, NULL, 0, 0, on_publish_fail, NULL, &error), "No message");
        ASSERT_EINVAL(pylocker_locker_list_messages(NULL, &p, &n, &error), "No locker");
        ASSERT_EINVAL(pylocker_locker_list_messages(a, NULL, &n, &error), "no place");
        ASSERT_EINVAL(pylocker_locker_get_message(a, NULL, &p, &n, &error), "No message");
        ASSERT_EINVAL(pylocker_locker_pop_message(a, "m", &p, NULL, &error), "no place");
        ASSERT_EINVAL(pylocker_locker_has_message(NULL, "m", &error), "No locker");
        ASSERT_EINVAL(pylocker_locker_has_message(a, NULL, &error), "No message");
        ASSERT_EINVAL(pylocker_locker_remove_message(a, NULL, NULL, &error), "No message");
        ASSERT_EINVAL(pylocker_locker_remove_message(a, "m", NAMES(""), &error), "Sender 0 is empty");
        ASSERT_EINVAL(pylocker_locker_remove_message(NULL, "m", NULL, &error), "No locker");
#undef ASSERT_EINVAL
        g_assert_null(p);
        g_assert_cmpint(pylocker_locker_set_message_callback(NULL, on_message_fail, NULL), ==, -EINVAL);
        /* A NULL error is fine too. */
        g_assert_cmpint(pylocker_locker_publish(a, NULL, NULL, 0, 0, NULL, NULL), ==, -EINVAL);
        pylocker_publication_array_free(NULL, 0);
        pylocker_string_free(NULL);

        /* Nothing reached the daemon. */
        g_assert_cmpuint(inbox_count(a, NULL), ==, 0);
        pylocker_locker_unref(a);
}

int main(int argc, char *argv[]) {
        static const Params bus = { .direct = false }, direct = { .direct = true };
        static const char *const small_limits[] = { "--max-message-size=64", NULL };
        static const Params small_bus = { .daemon_args = small_limits };
        static const Params small_direct = { .direct = true, .daemon_args = small_limits };

        g_test_init(&argc, &argv, NULL);

#define ADD(path, func, params) g_test_add(path, Fixture, params, fixture_setup, func, fixture_teardown)
#define ADD_BOTH(name, func)                                            \
        do {                                                            \
                ADD("/client-messages/bus/" name, func, &bus);          \
                ADD("/client-messages/direct/" name, func, &direct);    \
        } while (0)
        ADD_BOTH("targeted", test_targeted);
        ADD_BOTH("broadcast", test_broadcast);
        ADD_BOTH("get-pop-has-remove", test_get_pop_has_remove);
        ADD_BOTH("unique-replace", test_unique_replace);
        ADD_BOTH("timeout", test_timeout);
        ADD_BOTH("errors", test_errors);
        ADD_BOTH("async", test_async);
        ADD_BOTH("callback-uses-locker", test_callback_uses_locker);
        ADD_BOTH("bad-input", test_bad_input);
        ADD("/client-messages/bus/limits", test_limits, &small_bus);
        ADD("/client-messages/direct/limits", test_limits, &small_direct);
        ADD("/client-messages/bus/forged-signal", test_forged_signal, &bus);
#undef ADD_BOTH
#undef ADD
        return g_test_run();
}
