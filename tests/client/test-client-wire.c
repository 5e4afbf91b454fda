/* The client library on the daemon's direct socket, in the wire protocol, against a real pylockerd:
 * every call, events that come during a blocking call, pipelined calls answered by serial, handles,
 * releases that do not wait, event loops, the fallbacks and a daemon that dies. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <systemd/sd-event.h>

#include "client-util.h"

typedef struct Fixture {
        Harness h;
        char *socket;           /* the daemon's direct socket */
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        harness_start(&f->h, NULL);
        f->socket = harness_direct_socket_path(&f->h);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        pylocker_registry_clear();
        harness_stop(&f->h);
        g_free(f->socket);
}

/* A locker on the direct socket, which must have taken it. */
static PylockerLocker *wire_locker_open(Fixture *f, const char *name) {
        PylockerLocker *l = test_locker_open(&f->h, name, f->socket);

        g_assert_true(pylocker_locker_is_direct(l));
        g_assert_true(g_str_has_prefix(pylocker_locker_get_client_id(l), "direct-"));
        return l;
}

/* The daemon's record of a client, by id: NULL when it lists none such (g_free the fields). */
static bool find_client(PylockerLocker *l, const char *id, PylockerClientInfo *ret) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerClientInfo *clients = NULL;
        bool found = false;
        size_t n = 0;

        g_assert_cmpint(pylocker_locker_list_clients(l, &clients, &n, &error), ==, 0);
        for (size_t i = 0; i < n; i++)
                if (strcmp(clients[i].client_id, id) == 0) {
                        *ret = clients[i];
                        ret->client_id = g_strdup(clients[i].client_id);
                        ret->name = g_strdup(clients[i].name);
                        ret->transport = g_strdup(clients[i].transport);
                        found = true;
                }
        pylocker_client_info_array_free(clients, n);
        return found;
}

static void client_info_clear(PylockerClientInfo *c) {
        g_free(c->client_id);
        g_free(c->name);
        g_free(c->transport);
}

typedef struct Messages {
        unsigned count;
        char *last_message;
        char *last_sender;
        bool flag;
} Messages;

static void on_message(PylockerLocker *l, const PylockerPublication *p, void *userdata) {
        Messages *m = userdata;

        m->count++;
        g_free(m->last_message);
        m->last_message = g_strdup(p->message);
        g_free(m->last_sender);
        m->last_sender = g_strdup(p->sender_id);
        m->flag = true;
}

static void messages_clear(Messages *m) {
        g_clear_pointer(&m->last_message, g_free);
        g_clear_pointer(&m->last_sender, g_free);
        m->count = 0;
        m->flag = false;
}

typedef struct PublishResult {
        bool done;
        int r;
        char *id;
} PublishResult;

static void on_publish_result(PylockerLocker *l, int r, const char *id, const PylockerError *error, void *userdata) {
        PublishResult *p = userdata;

        g_assert_false(p->done);
        p->done = true;
        p->r = r;
        p->id = g_strdup(id);
}

/* Every call of the library, on the wire. */
static void test_every_call(Fixture *f, gconstpointer data) {
        PylockerLocker *l = wire_locker_open(f, "wire"), *other = wire_locker_open(f, "other");
        PylockerLocker *lockers[] = { l, other, NULL };
        PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL, *s1 = NULL, *s2 = NULL, *none = NULL;
        PylockerPublication *pubs = NULL;
        PylockerLockInfo *infos = NULL;
        PylockerClientInfo me = {};
        PylockerStatus status = {};
        AsyncResult a = {}, rel = {};
        PublishResult pub = {};
        Messages got = {};
        char **paths = NULL, *id = NULL;
        g_autofree char *lock_id = NULL;
        uint64_t expires;
        size_t n = 0;

        /* The daemon lists it, with its name and process. */
        g_assert_true(find_client(other, pylocker_locker_get_client_id(l), &me));
        g_assert_cmpstr(me.name, ==, "wire");
        g_assert_cmpuint(me.pid, ==, (uint32_t) getpid());
        g_assert_cmpuint(me.uid, ==, (uint32_t) getuid());
        client_info_clear(&me);
        g_assert_cmpstr(pylocker_locker_get_server_version(l), ==, g_getenv("PYLOCKER_VERSION"));
        g_assert_cmpuint(pylocker_locker_get_max_lock_time(l), >, 0);
        g_assert_cmpuint(pylocker_locker_get_default_timeout(l), >, 0);

        /* Status. */
        g_assert_cmpint(pylocker_locker_get_status(l, &status, &error), ==, 0);
        g_assert_cmpstr(status.version, ==, g_getenv("PYLOCKER_VERSION"));
        g_assert_cmpuint(status.max_lock_time_usec, ==, pylocker_locker_get_max_lock_time(l));
        g_assert_cmpuint(status.client_count, >=, 2);
        g_assert_cmpuint(status.lock_count, ==, 0);

        /* Blocking acquire of two paths, list, locked paths, refresh, release. */
        g_assert_cmpint(pylocker_locker_acquire(l, PATHS("/w/a", "/w/b"), NULL, &lock, &error), ==, 0);
        lock_id = g_strdup(pylocker_lock_get_id(lock));
        g_assert_cmpuint(strlen(lock_id), ==, 32);
        g_assert_cmpuint(pylocker_lock_get_token(lock), >, 0);
        g_assert_cmpstr(pylocker_lock_get_paths(lock)[1], ==, "/w/b");
        g_assert_cmpuint(pylocker_lock_get_expires(lock), >, (uint64_t) g_get_real_time());
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(l), ==, 1);
        g_assert_cmpint(pylocker_locker_list_locks(other, &infos, &n, &error), ==, 0);
        g_assert_cmpuint(n, ==, 1);
        g_assert_cmpstr(infos[0].lock_id, ==, lock_id);
        g_assert_cmpstr(infos[0].owner_id, ==, pylocker_locker_get_client_id(l));
        g_assert_cmpstr(infos[0].owner_name, ==, "wire");
        g_assert_cmpstr(infos[0].paths[0], ==, "/w/a");
        g_assert_cmpstr(infos[0].paths[1], ==, "/w/b");
        g_assert_null(infos[0].paths[2]);
        g_assert_cmpuint(infos[0].token, ==, pylocker_lock_get_token(lock));
        g_assert_cmpuint(infos[0].expires_usec, ==, pylocker_lock_get_expires(lock));
        g_assert_cmpuint(infos[0].flags, ==, 0);
        pylocker_lock_info_array_free(infos, n);
        g_assert_cmpint(pylocker_locker_get_locked_paths(other, &paths, &error), ==, 0);
        g_assert_cmpstr(paths[0], ==, "/w/a");
        g_assert_cmpstr(paths[1], ==, "/w/b");
        g_assert_null(paths[2]);
        pylocker_strv_free(paths);
        g_assert_cmpint(pylocker_lock_refresh(lock, 5 * SEC, &error), ==, 0);
        expires = pylocker_lock_get_expires(lock);
        g_assert_cmpuint(expires, <=, (uint64_t) g_get_real_time() + 5 * SEC);
        g_assert_cmpuint(expires, >, (uint64_t) g_get_real_time());

        /* Refused: taken (nonblocking), another's (NotOwner), a bad id (InvalidArgs, checked here). */
        o.flags = PYLOCKER_ACQUIRE_NONBLOCKING;
        g_assert_cmpint(pylocker_locker_acquire_path(other, "/w/a", &o, &none, &error), ==, -ETIMEDOUT);
        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.Timeout");
        g_assert_cmpint(pylocker_locker_release(other, lock_id, &error), ==, -EPERM);
        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.NotOwner");
        g_assert_cmpint(pylocker_locker_release(other, "not-an-id", &error), ==, -EINVAL);
        g_assert_cmpstr(error.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");
        g_assert_true(pylocker_locker_is_connected(other));

        g_assert_cmpint(pylocker_lock_release(lock, &error), ==, PYLOCKER_RELEASE_RELEASED);
        g_assert_false(pylocker_lock_is_held(lock));
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(l), ==, 0);
        g_assert_cmpint(pylocker_locker_release(l, lock_id, &error), ==, PYLOCKER_RELEASE_NOT_FOUND);
        g_assert_cmpint(pylocker_lock_refresh(lock, 0, &error), ==, -ENOENT);
        pylocker_lock_unref(lock);

        /* Shared. */
        o.flags = PYLOCKER_ACQUIRE_SHARED | PYLOCKER_ACQUIRE_NONBLOCKING;
        g_assert_cmpint(pylocker_locker_acquire_path(l, "/w/s", &o, &s1, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(other, "/w/s", &o, &s2, &error), ==, 0);
        g_assert_true(pylocker_lock_get_shared(s2));
        g_assert_cmpint(pylocker_locker_list_locks(l, &infos, &n, &error), ==, 0);
        g_assert_cmpuint(n, ==, 2);
        g_assert_cmpuint(infos[0].flags, ==, PYLOCKER_LOCK_INFO_SHARED);
        pylocker_lock_info_array_free(infos, n);
        g_assert_cmpint(pylocker_lock_release(s1, &error), ==, 1);
        g_assert_cmpint(pylocker_lock_release(s2, &error), ==, 1);
        pylocker_lock_unref(s1);
        pylocker_lock_unref(s2);

        /* A lease: expires and the owner hears it. */
        LostRecord lost = {};
        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(l, on_lock_lost_record, &lost), ==, 0);
        o = (PylockerAcquireOptions) PYLOCKER_ACQUIRE_OPTIONS_INIT;
        o.ttl_usec = 100 * MSEC;
        g_assert_cmpint(pylocker_locker_acquire_path(l, "/w/ttl", &o, &lock, &error), ==, 0);
        g_assert_cmpuint(pylocker_lock_get_expires(lock), <=, (uint64_t) g_get_real_time() + 100 * MSEC);
        test_pump_until(lockers, &lost.flag, 5000);
        g_assert_cmpstr(lost.last_id, ==, pylocker_lock_get_id(lock));
        g_assert_cmpint(lost.last_reason, ==, PYLOCKER_LOCK_LOST_EXPIRED);
        pylocker_lock_unref(lock);

        /* Force release (the session bus lets anyone manage): the holder hears it. */
        lost_record_clear(&lost);
        g_assert_cmpint(pylocker_locker_acquire_path(l, "/w/forced", NULL, &lock, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_force_release(other, pylocker_lock_get_id(lock), &error), ==, 1);
        g_assert_cmpint(pylocker_locker_force_release(other, pylocker_lock_get_id(lock), &error), ==, 0);
        test_pump_until(lockers, &lost.flag, 5000);
        g_assert_cmpint(lost.last_reason, ==, PYLOCKER_LOCK_LOST_EXPIRED);
        g_assert_false(pylocker_lock_is_held(lock));
        pylocker_lock_unref(lock);
        lost_record_clear(&lost);

        /* Asynchronous acquire and release. */
        g_assert_cmpint(pylocker_locker_acquire_async(l, PATHS("/w/async"), NULL, on_acquire_result, &a, &error), ==, 0);
        test_pump_until(lockers, &a.done, 5000);
        g_assert_cmpint(a.r, ==, 0);
        g_assert_cmpstr(pylocker_lock_get_paths(a.lock)[0], ==, "/w/async");
        g_assert_true(pylocker_lock_is_held(a.lock));
        g_assert_cmpint(pylocker_locker_release_async(l, pylocker_lock_get_id(a.lock), on_release_result, &rel,
                                                      &error), ==, 0);
        test_pump_until(lockers, &rel.done, 5000);
        g_assert_cmpint(rel.r, ==, PYLOCKER_RELEASE_RELEASED);
        g_assert_false(pylocker_lock_is_held(a.lock));
        async_result_clear(&rel);
        g_assert_cmpint(pylocker_locker_release_async(other, pylocker_lock_get_id(a.lock), on_release_result, &rel,
                                                      &error), ==, 0);
        test_pump_until(lockers, &rel.done, 5000);
        g_assert_cmpint(rel.r, ==, PYLOCKER_RELEASE_NOT_FOUND);
        async_result_clear(&rel);
        async_result_clear(&a);

        /* Messages: blocking and asynchronous publish, the callback, the inbox calls. */
        g_assert_cmpint(pylocker_locker_set_message_callback(other, on_message, &got), ==, 0);
        g_assert_cmpint(pylocker_locker_publish(l, "hello", PATHS("other"), 0, 0, &id, &error), ==, 1);
        g_assert_cmpuint(strlen(id), ==, 32);
        pylocker_string_free(id);
        test_pump_until(lockers, &got.flag, 5000);
        g_assert_cmpstr(got.last_message, ==, "hello");
        g_assert_cmpstr(got.last_sender, ==, pylocker_locker_get_client_id(l));
        g_assert_cmpint(pylocker_locker_publish(l, "nobody", NULL, 0, PYLOCKER_PUBLISH_NOT_TO_SELF, NULL, &error), ==, 1);
        g_assert_cmpint(pylocker_locker_publish(l, "x", PATHS("no-such-client"), 0, 0, NULL, &error), ==, -ENOENT);
        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.NotFound");
        g_assert_cmpint(pylocker_locker_publish_async(l, "later", PATHS("other"), 10 * SEC, PYLOCKER_PUBLISH_NO_REPLACE,
                                                      on_publish_result, &pub, &error), ==, 0);
        test_pump_until(lockers, &pub.done, 5000);
        g_assert_cmpint(pub.r, ==, 1);
        g_assert_cmpuint(strlen(pub.id), ==, 32);
        g_free(pub.id);

        g_assert_cmpint(pylocker_locker_has_message(other, "hello", &error), ==, 1);
        g_assert_cmpint(pylocker_locker_has_message(other, "missing", &error), ==, 0);
        g_assert_cmpint(pylocker_locker_list_messages(other, &pubs, &n, &error), ==, 3);
        g_assert_cmpuint(n, ==, 3);
        g_assert_cmpstr(pubs[0].message, ==, "hello");
        g_assert_cmpstr(pubs[0].sender_id, ==, pylocker_locker_get_client_id(l));
        g_assert_cmpstr(pubs[0].sender_name, ==, "wire");
        g_assert_cmpuint(pubs[0].published_usec, >, 0);
        g_assert_cmpuint(pubs[0].expires_usec, ==, 0);
        g_assert_cmpuint(pubs[2].expires_usec, >, 0);
        pylocker_publication_array_free(pubs, n);
        g_assert_cmpint(pylocker_locker_get_message(other, "hello", &pubs, &n, &error), ==, 1);
        pylocker_publication_array_free(pubs, n);
        g_assert_cmpint(pylocker_locker_pop_message(other, "hello", &pubs, &n, &error), ==, 1);
        pylocker_publication_array_free(pubs, n);
        g_assert_cmpint(pylocker_locker_get_message(other, "hello", &pubs, &n, &error), ==, 0);
        g_assert_null(pubs);
        g_assert_cmpint(pylocker_locker_remove_message(other, "later", PATHS("wire"), &error), ==, 1);
        g_assert_cmpint(pylocker_locker_remove_message(other, "nobody", NULL, &error), ==, 1);
        g_assert_cmpint(pylocker_locker_list_messages(other, &pubs, &n, &error), ==, 0);
        g_assert_cmpuint(n, ==, 0);

        /* Restart: a new client, the same locker. */
        g_assert_cmpint(pylocker_locker_close(l), ==, 0);
        g_assert_false(pylocker_locker_is_connected(l));
        g_assert_cmpint(pylocker_locker_acquire_path(l, "/w/closed", NULL, &none, &error), ==, -ENOTCONN);
        g_assert_cmpint(pylocker_locker_restart(l, &error), ==, 0);
        g_assert_true(pylocker_locker_is_direct(l));
        g_assert_cmpint(pylocker_locker_acquire_path(l, "/w/again", NULL, &lock, &error), ==, 0);
        g_assert_true(find_client(other, pylocker_locker_get_client_id(l), &me));
        client_info_clear(&me);
        pylocker_lock_unref(lock);

        messages_clear(&got);
        pylocker_locker_unref(l);
        pylocker_locker_unref(other);
}

/* A lease ran out and a message came while a blocking call waited: both wait for processing. */
static void test_events_during_call(Fixture *f, gconstpointer data) {
        PylockerLocker *l = wire_locker_open(f, "events");
        PylockerLocker *lockers[] = { l, NULL };
        PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerStatus status;
        PylockerLock *lock = NULL;
        LostRecord lost = {};
        Messages got = {};
        uint64_t until = 0;
        struct pollfd p;

        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(l, on_lock_lost_record, &lost), ==, 0);
        g_assert_cmpint(pylocker_locker_set_message_callback(l, on_message, &got), ==, 0);
        o.ttl_usec = 50 * MSEC;
        g_assert_cmpint(pylocker_locker_acquire_path(l, "/events", &o, &lock, &error), ==, 0);

        /* The expiry goes out while we do not read; a publication to ourselves follows it. */
        g_usleep(300 * 1000);
        g_assert_cmpint(pylocker_locker_publish(l, "to-me", NULL, 0, 0, NULL, &error), ==, 1);
        g_assert_cmpint(pylocker_locker_get_status(l, &status, &error), ==, 0);
        g_assert_cmpuint(lost.count, ==, 0);
        g_assert_cmpuint(got.count, ==, 0);
        g_assert_true(pylocker_lock_is_held(lock));

        /* The socket has nothing more to say: the loop is told to process now. */
        p = (struct pollfd) { .fd = pylocker_locker_get_fd(l), .events = POLLIN };
        g_assert_cmpint(poll(&p, 1, 0), ==, 0);
        g_assert_cmpint(pylocker_locker_get_timeout(l, &until), >=, 0);
        g_assert_cmpuint(until, ==, 0);
        g_assert_cmpint(pylocker_locker_wait(l, 5 * SEC), >, 0);

        /* In the order they came. */
        g_assert_cmpint(pylocker_locker_process(l), >, 0);
        g_assert_cmpuint(lost.count, ==, 1);
        g_assert_cmpint(lost.last_reason, ==, PYLOCKER_LOCK_LOST_EXPIRED);
        g_assert_false(pylocker_lock_is_held(lock));
        g_assert_cmpuint(got.count, ==, 0);
        test_pump_until(lockers, &got.flag, 5000);
        g_assert_cmpuint(got.count, ==, 1);
        g_assert_cmpstr(got.last_message, ==, "to-me");
        while (pylocker_locker_process(l) > 0)
                ;
        g_assert_cmpuint(got.count, ==, 1);
        g_assert_cmpint(pylocker_locker_get_timeout(l, &until), >=, 0);
        g_assert_cmpuint(until, ==, PYLOCKER_INFINITY);

        messages_clear(&got);
        lost_record_clear(&lost);
        pylocker_lock_unref(lock);
        pylocker_locker_unref(l);
}

#define N_PIPELINED 16

typedef struct Pipelined {
        AsyncResult results[N_PIPELINED];
        unsigned order[N_PIPELINED];
        unsigned n_done;
} Pipelined;

typedef struct PipelinedSlot {
        Pipelined *p;
        unsigned index;
} PipelinedSlot;

static void on_pipelined(PylockerLocker *locker, int r, PylockerLock *lock, const PylockerError *error, void *userdata) {
        PipelinedSlot *s = userdata;

        on_acquire_result(locker, r, lock, error, &s->p->results[s->index]);
        s->p->order[s->p->n_done++] = s->index;
}

/* Many acquires in flight on one connection; each answer reaches its own callback, in the order the
 * daemon answers, which is not the order of the requests when one of them waits. */
static void test_pipelined(Fixture *f, gconstpointer data) {
        PylockerLocker *l = wire_locker_open(f, "pipelined"), *holder = wire_locker_open(f, "holder");
        PylockerLocker *lockers[] = { l, holder, NULL };
        PylockerError error = PYLOCKER_ERROR_INIT;
        PipelinedSlot slots[N_PIPELINED];
        PylockerLock *held = NULL;
        Pipelined p = {};
        bool all = false;

        g_assert_cmpint(pylocker_locker_acquire_path(holder, "/pipe/0", NULL, &held, &error), ==, 0);
        for (unsigned i = 0; i < N_PIPELINED; i++) {
                g_autofree char *path = g_strdup_printf("/pipe/%u", i);

                slots[i] = (PipelinedSlot) { &p, i };
                g_assert_cmpint(pylocker_locker_acquire_async(l, PATHS(path), NULL, on_pipelined, &slots[i], &error),
                                ==, 0);
        }

        /* All but the first are granted at once. */
        while (p.n_done < N_PIPELINED - 1)
                test_pump_for(lockers, 10);
        test_pump_for(lockers, 100);
        g_assert_cmpuint(p.n_done, ==, N_PIPELINED - 1);
        g_assert_false(p.results[0].done);
        g_assert_cmpint(pylocker_lock_release(held, &error), ==, 1);
        test_pump_until(lockers, &p.results[0].done, 5000);
        g_assert_cmpuint(p.order[N_PIPELINED - 1], ==, 0);

        for (unsigned i = 0; i < N_PIPELINED; i++) {
                g_autofree char *path = g_strdup_printf("/pipe/%u", i);

                g_assert_cmpint(p.results[i].r, ==, 0);
                g_assert_cmpstr(pylocker_lock_get_paths(p.results[i].lock)[0], ==, path);
                g_assert_true(pylocker_lock_is_held(p.results[i].lock));
        }
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(l), ==, N_PIPELINED);

        /* And releases in flight, one connection, in order. */
        for (unsigned i = 0; i < N_PIPELINED; i++)
                g_assert_cmpint(pylocker_locker_release_async(l, pylocker_lock_get_id(p.results[i].lock),
                                                              on_release_result, &p.results[i], &error), ==, 0);
        for (unsigned i = 0; i < N_PIPELINED; i++)
                p.results[i].done = false;
        while (!all) {
                test_pump_for(lockers, 10);
                all = true;
                for (unsigned i = 0; i < N_PIPELINED; i++)
                        all = all && p.results[i].done;
        }
        for (unsigned i = 0; i < N_PIPELINED; i++) {
                g_assert_cmpint(p.results[i].r, ==, PYLOCKER_RELEASE_RELEASED);
                async_result_clear(&p.results[i]);
        }
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(l), ==, 0);
        g_assert_cmpuint(test_count_locks(holder), ==, 0);

        pylocker_lock_unref(held);
        pylocker_locker_unref(l);
        pylocker_locker_unref(holder);
}

/* The handle comes with the grant; closing every copy ends the lock, and the owner hears it. */
static void test_handle(Fixture *f, gconstpointer data) {
        PylockerLocker *l = wire_locker_open(f, NULL), *other = wire_locker_open(f, NULL);
        PylockerLocker *lockers[] = { l, other, NULL };
        PylockerAcquireOptions nb = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL, *second = NULL, *none = NULL, *taken = NULL;
        int fd = -1, fd2 = -1, fd3 = -1;
        LostRecord lost = {};

        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(l, on_lock_lost_record, &lost), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_handle(l, PATHS("/h1"), NULL, &lock, &fd, &error), ==, 0);
        g_assert_cmpint(fd, >=, 3);
        g_assert_cmpint(fcntl(fd, F_GETFD), ==, FD_CLOEXEC);
        g_assert_cmpint(pylocker_locker_acquire_handle(l, PATHS("/h2"), NULL, &second, &fd2, &error), ==, 0);
        g_assert_cmpint(fd2, >=, 3);
        g_assert_cmpint(fd2, !=, fd);
        g_assert_cmpuint(test_count_locks(other), ==, 2);

        /* A refused one brings no descriptor, and the next still gets its own. */
        nb.flags = PYLOCKER_ACQUIRE_NONBLOCKING;
        g_assert_cmpint(pylocker_locker_acquire_handle(other, PATHS("/h1"), &nb, &none, &fd3, &error), ==, -ETIMEDOUT);
        g_assert_cmpint(fd3, ==, -1);

        close(fd);
        test_pump_until(lockers, &lost.flag, 5000);
        g_assert_cmpstr(lost.last_id, ==, pylocker_lock_get_id(lock));
        g_assert_cmpint(lost.last_reason, ==, PYLOCKER_LOCK_LOST_NOT_FOUND);
        g_assert_false(pylocker_lock_is_held(lock));
        g_assert_true(pylocker_lock_is_held(second));
        g_assert_cmpint(pylocker_locker_acquire_path(other, "/h1", &nb, &taken, &error), ==, 0);
        g_assert_cmpuint(test_count_locks(other), ==, 2);

        g_assert_cmpint(pylocker_lock_release(second, &error), ==, 1);
        /* The daemon's end of the handle went with the lock. */
        g_assert_cmpint(pylocker_locker_acquire_path(other, "/h2", &nb, &none, &error), ==, 0);
        pylocker_lock_unref(none);

        close(fd2);
        lost_record_clear(&lost);
        pylocker_lock_unref(lock);
        pylocker_lock_unref(second);
        pylocker_lock_unref(taken);
        pylocker_locker_unref(l);
        pylocker_locker_unref(other);
}

/* Releases that do not wait: the lock is gone for its owner at once and for everyone right after; one
 * that the daemon refuses changes nothing and leaves the connection as it was. */
static void test_release_nowait(Fixture *f, gconstpointer data) {
        PylockerLocker *a = wire_locker_open(f, "a"), *b = wire_locker_open(f, "b");
        PylockerLocker *bus = test_locker_open(&f->h, "bus", NULL);
        PylockerLocker *lockers[] = { a, b, bus, NULL };
        PylockerAcquireOptions wait = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL, *other = NULL, *mine = NULL;
        g_autofree char *id = NULL;
        LostRecord lost = {};
        uint64_t until;

        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(a, on_lock_lost_record, &lost), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(a, "/nowait", NULL, &lock, &error), ==, 0);
        id = g_strdup(pylocker_lock_get_id(lock));
        g_assert_cmpint(pylocker_locker_release_nowait(a, id, &error), ==, 0);
        g_assert_false(pylocker_lock_is_held(lock));
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(a), ==, 0);
        /* Written at once: nothing waits to go out, nothing to process. */
        g_assert_cmpint(pylocker_locker_get_events(a), ==, POLLIN);
        g_assert_cmpint(pylocker_locker_process(a), ==, 0);

        /* Another client gets it (it would wait the default timeout otherwise). */
        wait.timeout_usec = 5 * SEC;
        g_assert_cmpint(pylocker_locker_acquire_path(b, "/nowait", &wait, &other, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_release(a, id, &error), ==, PYLOCKER_RELEASE_NOT_FOUND);

        /* Not a's to release: refused, which nobody hears; b still holds it, a still works. */
        g_assert_cmpint(pylocker_locker_release_nowait(a, pylocker_lock_get_id(other), &error), ==, 0);
        test_pump_for(lockers, 100);
        g_assert_true(pylocker_lock_is_held(other));
        g_assert_cmpuint(test_count_locks(a), ==, 1);
        g_assert_true(pylocker_locker_is_connected(a));
        g_assert_cmpint(pylocker_locker_get_timeout(a, &until), >=, 0);
        g_assert_cmpuint(until, ==, PYLOCKER_INFINITY);
        g_assert_cmpint(pylocker_locker_acquire_path(a, "/nowait-2", NULL, &mine, &error), ==, 0);
        g_assert_cmpint(pylocker_lock_release(mine, &error), ==, 1);
        g_assert_cmpuint(lost.count, ==, 0);

        /* Not an id at all: said here, nothing sent. */
        g_assert_cmpint(pylocker_locker_release_nowait(a, "nope", &error), ==, -EINVAL);
        g_assert_cmpint(pylocker_locker_release_nowait(a, NULL, &error), ==, -EINVAL);

        /* The same on the bus. */
        g_assert_cmpint(pylocker_lock_release(other, &error), ==, 1);
        pylocker_lock_unref(other);
        g_assert_false(pylocker_locker_is_direct(bus));
        g_assert_cmpint(pylocker_locker_acquire_path(bus, "/nowait", NULL, &other, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_release_nowait(bus, pylocker_lock_get_id(other), &error), ==, 0);
        g_assert_false(pylocker_lock_is_held(other));
        g_assert_cmpuint(pylocker_locker_get_n_owned_locks(bus), ==, 0);
        pylocker_lock_unref(mine);
        g_assert_cmpint(pylocker_locker_acquire_path(b, "/nowait", &wait, &mine, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_release_nowait(bus, pylocker_lock_get_id(mine), &error), ==, 0);
        test_pump_for(lockers, 100);
        g_assert_true(pylocker_lock_is_held(mine));
        g_assert_cmpuint(test_count_locks(bus), ==, 1);
        g_assert_true(pylocker_locker_is_connected(bus));

        /* A closed locker sends nothing. */
        g_assert_cmpint(pylocker_locker_close(a), ==, 0);
        g_assert_cmpint(pylocker_locker_release_nowait(a, id, &error), ==, -ENOTCONN);

        lost_record_clear(&lost);
        pylocker_lock_unref(lock);
        pylocker_lock_unref(other);
        pylocker_lock_unref(mine);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
        pylocker_locker_unref(bus);
}

typedef struct LoopTest {
        AsyncResult result;
        sd_event *event;
        PylockerLock *held;
        LostRecord lost;
        Messages got;
} LoopTest;

static void on_acquire_loop(PylockerLocker *locker, int r, PylockerLock *lock, const PylockerError *error,
                            void *userdata) {
        LoopTest *t = userdata;

        on_acquire_result(locker, r, lock, error, &t->result);
}

static int on_release_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        LoopTest *t = userdata;
        PylockerError error = PYLOCKER_ERROR_INIT;

        g_assert_cmpint(pylocker_lock_release(t->held, &error), ==, 1);
        return 0;
}

/* Runs the loop until *flag; the loop must wake for it (it waits without a timeout of its own). */
static void run_until(sd_event *event, const bool *flag) {
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        while (!*flag) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_assert_cmpint(sd_event_run(event, 10 * SEC), >=, 0);
        }
}

static void test_loop_sd_event(Fixture *f, gconstpointer data) {
        PylockerLocker *a = wire_locker_open(f, NULL), *b = wire_locker_open(f, "b");
        PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        sd_event_source *timer = NULL;
        PylockerLock *lock = NULL;
        PylockerStatus status;
        LoopTest t = {};
        uint64_t now;

        g_assert_cmpint(sd_event_new(&t.event), >=, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(a, "/e", NULL, &t.held, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_attach_event(b, t.event, 0, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_attach_event(b, t.event, 0, &error), ==, -EBUSY);

        /* b waits on the loop; a timer on the same loop releases a's lock. */
        g_assert_cmpint(pylocker_locker_acquire_async(b, PATHS("/e"), NULL, on_acquire_loop, &t, &error), ==, 0);
        g_assert_cmpint(sd_event_now(t.event, CLOCK_MONOTONIC, &now), >=, 0);
        g_assert_cmpint(sd_event_add_time(t.event, &timer, CLOCK_MONOTONIC, now + 100 * MSEC, MSEC,
                                          on_release_timer, &t), >=, 0);
        run_until(t.event, &t.result.done);
        g_assert_cmpint(t.result.r, ==, 0);
        g_assert_true(pylocker_lock_is_held(t.result.lock));

        /* Events that came during a blocking call are dispatched by the loop without the fd waking it. */
        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(b, on_lock_lost_record, &t.lost), ==, 0);
        g_assert_cmpint(pylocker_locker_set_message_callback(b, on_message, &t.got), ==, 0);
        o.ttl_usec = 50 * MSEC;
        g_assert_cmpint(pylocker_locker_acquire_path(b, "/e-ttl", &o, &lock, &error), ==, 0);
        g_usleep(300 * 1000);
        g_assert_cmpint(pylocker_locker_publish(b, "loop", NULL, 0, 0, NULL, &error), ==, 1);
        g_assert_cmpint(pylocker_locker_get_status(b, &status, &error), ==, 0);
        g_assert_cmpuint(t.lost.count, ==, 0);
        run_until(t.event, &t.got.flag);
        g_assert_cmpuint(t.lost.count, ==, 1);
        g_assert_cmpstr(t.got.last_message, ==, "loop");

        /* Detached: nothing more is dispatched by it. */
        g_assert_cmpint(pylocker_locker_detach(b), ==, 0);
        t.got.flag = false;
        g_assert_cmpint(pylocker_locker_publish(a, "after", PATHS("b"), 0, 0, NULL, &error), ==, 1);
        for (int i = 0; i < 5; i++)
                g_assert_cmpint(sd_event_run(t.event, 20 * MSEC), >=, 0);
        g_assert_false(t.got.flag);
        g_assert_cmpint(pylocker_locker_attach_event(b, t.event, 0, &error), ==, 0);
        run_until(t.event, &t.got.flag);
        g_assert_cmpint(pylocker_locker_detach(b), ==, 0);

        sd_event_source_unref(timer);
        async_result_clear(&t.result);
        lost_record_clear(&t.lost);
        messages_clear(&t.got);
        pylocker_lock_unref(lock);
        pylocker_lock_unref(t.held);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
        sd_event_unref(t.event);
}

static gboolean on_glib_release(gpointer userdata) {
        LoopTest *t = userdata;
        PylockerError error = PYLOCKER_ERROR_INIT;

        g_assert_cmpint(pylocker_lock_release(t->held, &error), ==, 1);
        return G_SOURCE_REMOVE;
}

static gboolean on_stuck(gpointer userdata) {
        g_error("the main context was not woken within 10 s");
        return G_SOURCE_REMOVE;
}

/* Iterates, blocking, until *flag: the context must wake for it. */
static void iterate_until(GMainContext *context, const bool *flag) {
        GSource *guard = g_timeout_source_new_seconds(10);

        g_source_set_callback(guard, on_stuck, NULL, NULL);
        g_source_attach(guard, context);
        while (!*flag)
                (void) g_main_context_iteration(context, TRUE);
        g_source_destroy(guard);
        g_source_unref(guard);
}

static void test_loop_glib(Fixture *f, gconstpointer data) {
        PylockerLocker *a = wire_locker_open(f, NULL), *b = wire_locker_open(f, NULL);
        PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        GMainContext *context = g_main_context_new();
        PylockerLock *lock = NULL;
        PylockerStatus status;
        GSource *timeout;
        LoopTest t = {};

        g_assert_cmpint(pylocker_locker_acquire_path(a, "/g", NULL, &t.held, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_attach_glib(b, context, G_PRIORITY_DEFAULT, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_async(b, PATHS("/g"), NULL, on_acquire_loop, &t, &error), ==, 0);

        timeout = g_timeout_source_new(100);
        g_source_set_callback(timeout, on_glib_release, &t, NULL);
        g_source_attach(timeout, context);
        g_source_unref(timeout);
        iterate_until(context, &t.result.done);
        g_assert_cmpint(t.result.r, ==, 0);

        /* Events come through the context too: a forced release reaches b's callback. */
        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(b, on_lock_lost_record, &t.lost), ==, 0);
        g_assert_cmpint(pylocker_locker_force_release(a, pylocker_lock_get_id(t.result.lock), &error), ==, 1);
        iterate_until(context, &t.lost.flag);

        /* And those kept from a blocking call. */
        t.lost.flag = false;
        o.ttl_usec = 50 * MSEC;
        g_assert_cmpint(pylocker_locker_acquire_path(b, "/g-ttl", &o, &lock, &error), ==, 0);
        g_usleep(300 * 1000);
        g_assert_cmpint(pylocker_locker_get_status(b, &status, &error), ==, 0);
        g_assert_false(t.lost.flag);
        iterate_until(context, &t.lost.flag);
        g_assert_cmpuint(t.lost.count, ==, 2);

        g_assert_cmpint(pylocker_locker_detach(b), ==, 0);
        lost_record_clear(&t.lost);
        async_result_clear(&t.result);
        pylocker_lock_unref(lock);
        pylocker_lock_unref(t.held);
        pylocker_locker_unref(a);
        pylocker_locker_unref(b);
        g_main_context_unref(context);
}

/* A socket file nobody listens on, and a listener that hangs up at once: the bus. */
static void test_fallback(Fixture *f, gconstpointer data) {
        g_autofree char *missing = g_build_filename(f->h.tmpdir, "missing", NULL);
        g_autofree char *stale = g_build_filename(f->h.tmpdir, "stale", NULL);
        g_autofree char *rude = g_build_filename(f->h.tmpdir, "rude", NULL);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;
        PylockerLocker *l;
        pid_t child;
        int fd;

        l = test_locker_open(&f->h, NULL, missing);
        g_assert_false(pylocker_locker_is_direct(l));
        g_assert_true(g_str_has_prefix(pylocker_locker_get_client_id(l), ":"));
        pylocker_locker_unref(l);

        strcpy(sa.sun_path, stale);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        close(fd);
        l = test_locker_open(&f->h, NULL, stale);
        g_assert_false(pylocker_locker_is_direct(l));
        pylocker_locker_unref(l);

        strcpy(sa.sun_path, rude);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(listen(fd, 8), ==, 0);
        child = fork();
        g_assert_cmpint(child, >=, 0);
        if (child == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (;;) {
                        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

                        if (c >= 0)
                                close(c);
                }
        }
        close(fd);
        l = test_locker_open(&f->h, NULL, rude);
        g_assert_false(pylocker_locker_is_direct(l));
        g_assert_cmpint(pylocker_locker_acquire_path(l, "/fallback", NULL, &lock, &error), ==, 0);
        g_assert_cmpint(pylocker_lock_release(lock, &error), ==, 1);
        test_kill_child(&child);

        pylocker_lock_unref(lock);
        pylocker_locker_unref(l);
}

/* A taken name is the daemon's answer on the socket: not tried again on the bus. */
static void test_name_taken(Fixture *f, gconstpointer data) {
        PylockerLockerOptions options = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerLocker *first = wire_locker_open(f, "unique"), *second = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;

        options.transport = PYLOCKER_TRANSPORT_ADDRESS;
        options.address = f->h.bus_address;
        options.private_socket = f->socket;
        options.name = "unique";
        g_assert_cmpint(pylocker_locker_open(&options, &second, &error), ==, -EEXIST);
        g_assert_cmpstr(error.name, ==, "org.pylocker.Locker.Error.AlreadyExists");
        g_assert_null(second);
        pylocker_locker_unref(first);
}

/* The daemon dies (SIGKILL, by its PID) while a blocking acquire waits: the call fails with the
 * connection error, every held lock is reported lost, later calls say the same, a restart cannot
 * reach it. */
static void test_daemon_killed(Fixture *f, gconstpointer data) {
        PylockerLocker *a = wire_locker_open(f, NULL), *holder = wire_locker_open(f, NULL);
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *held = NULL, *mine = NULL, *none = NULL;
        AsyncResult waiting = {};
        LostRecord lost = {};
        pid_t killer;
        int status;

        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(a, on_lock_lost_record, &lost), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(holder, "/k", NULL, &held, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_path(a, "/mine", NULL, &mine, &error), ==, 0);
        g_assert_cmpint(pylocker_locker_acquire_async(a, PATHS("/k", "/other"), NULL, on_acquire_result, &waiting,
                                                      &error), ==, 0);

        killer = fork();
        g_assert_cmpint(killer, >=, 0);
        if (killer == 0) {
                g_usleep(200 * 1000);
                _exit(kill(f->h.daemon_pid, SIGKILL) < 0);
        }
        g_assert_cmpint(pylocker_locker_acquire_path(a, "/k", NULL, &none, &error), ==, -ECONNRESET);
        g_assert_cmpint(pylocker_acquire_code(error.code), ==, PYLOCKER_ACQUIRE_CONNECTION_LOST);
        g_assert_nonnull(strstr(error.message, "lost"));
        g_assert_cmpint(waitpid(killer, &status, 0), ==, killer);
        g_assert_cmpint(test_exit_code(status), ==, 0);
        g_assert_cmpint(waitpid(f->h.daemon_pid, &status, 0), ==, f->h.daemon_pid);
        f->h.daemon_pid = 0;

        /* Told from within the call that found it. */
        g_assert_cmpuint(lost.count, ==, 1);
        g_assert_cmpint(lost.last_reason, ==, PYLOCKER_LOCK_LOST_DISCONNECTED);
        g_assert_false(pylocker_lock_is_held(mine));
        g_assert_true(waiting.done);
        g_assert_cmpint(waiting.r, ==, -ECONNRESET);
        g_assert_false(pylocker_locker_is_connected(a));
        g_assert_cmpint(pylocker_locker_process(a), ==, 0);

        g_assert_cmpint(pylocker_locker_release(a, pylocker_lock_get_id(mine), &error), ==, -ECONNRESET);
        g_assert_cmpint(pylocker_locker_release_nowait(a, pylocker_lock_get_id(mine), &error), ==, -ECONNRESET);
        g_assert_cmpint(pylocker_locker_publish(a, "x", NULL, 0, 0, NULL, &error), ==, -ECONNRESET);

        /* The other locker learns it from its own processing. */
        lost_record_clear(&lost);
        g_assert_cmpint(pylocker_locker_set_lock_lost_callback(holder, on_lock_lost_record, &lost), ==, 0);
        test_pump_until((PylockerLocker *const[]) { holder, NULL }, &lost.flag, 5000);
        g_assert_false(pylocker_lock_is_held(held));

        async_result_clear(&waiting);
        lost_record_clear(&lost);
        pylocker_lock_unref(held);
        pylocker_lock_unref(mine);
        pylocker_locker_unref(a);
        pylocker_locker_unref(holder);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define ADD(path, func) \
        g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
        ADD("/client/wire/every-call", test_every_call);
        ADD("/client/wire/events-during-call", test_events_during_call);
        ADD("/client/wire/pipelined", test_pipelined);
        ADD("/client/wire/handle", test_handle);
        ADD("/client/wire/release-nowait", test_release_nowait);
        ADD("/client/wire/loop/sd-event", test_loop_sd_event);
        ADD("/client/wire/loop/glib", test_loop_glib);
        ADD("/client/wire/fallback-to-bus", test_fallback);
        ADD("/client/wire/name-taken", test_name_taken);
        ADD("/client/wire/daemon-killed", test_daemon_killed);
        return g_test_run();
}
