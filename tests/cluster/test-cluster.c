/* pylockerd on etcd: several daemons, each on its own private bus, over one real etcd cluster, as in
 * docs/cluster.md. Every daemon and etcd member is a real process, stopped by PID. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "etcd-harness.h"
#include "harness.h"
#include "wire-test.h"

/* Short, so that the tests of a daemon's loss run in seconds; docs/cluster.md explains the default. */
#define SESSION_TTL_S 3

typedef struct Fixture {
        EtcdCluster *etcd;
        Harness d[3];
        unsigned n;
        unsigned ttl_s;           /* 0: SESSION_TTL_S */
} Fixture;

static void start_daemon(Fixture *f, unsigned i, const char *endpoints) {
        g_autofree char *endpoints_arg = g_strconcat("--etcd-endpoints=", endpoints, NULL);
        g_autofree char *node_arg = g_strdup_printf("--node=d%u", i + 1);
        g_autofree char *ttl_arg = g_strdup_printf("--session-ttl=%us", f->ttl_s ?: SESSION_TTL_S);
        const char *args[] = { "--backend=etcd", endpoints_arg, node_arg, ttl_arg, g_getenv("PYLOCKER_TEST_DEBUG") ? "--log-level=debug" : NULL, NULL };

        harness_start(&f->d[i], args);
}

static unsigned count_keys(Fixture *f, const char *prefix);

/* A daemon serves once its session is up: until then Acquire answers Unavailable. */
static void wait_available(Fixture *f, unsigned i) {
        sd_bus *bus = harness_connect(&f->d[i]);
        gint64 deadline = g_get_monotonic_time() + 20 * SEC;

        for (;;) {
                AsyncCall call = {};

                acquire_async(bus, &call, &(AcquireArgs) { .paths = (const char *const[]) { "probe", NULL },
                                                           .nonblocking = true });
                harness_pump_until(&f->d[i], &call.done, 10000);
                if (!sd_bus_message_is_method_error(call.reply, NULL)) {
                        g_autofree char *id = reply_lock_id(call.reply, NULL);

                        async_call_clear(&call);
                        g_assert_cmpint(release(bus, id, NULL), ==, 1);
                        break;
                }
                g_assert_cmpstr(sd_bus_message_get_error(call.reply)->name, ==, "org.pylocker.Locker.Error.Unavailable");
                async_call_clear(&call);
                if (g_get_monotonic_time() > deadline)
                        g_error("pylockerd d%u did not reach etcd within 20 s", i + 1);
                g_usleep(100 * 1000);
        }
        harness_disconnect(&f->d[i], bus);
}

static void setup(Fixture *f, unsigned n_members, unsigned n_daemons) {
        g_autofree char *endpoints = NULL;

        f->etcd = etcd_cluster_start(n_members);
        endpoints = etcd_cluster_endpoints(f->etcd);
        f->n = n_daemons;
        for (unsigned i = 0; i < n_daemons; i++)
                start_daemon(f, i, endpoints);
        for (unsigned i = 0; i < n_daemons; i++)
                wait_available(f, i);
}

static void teardown(Fixture *f) {
        for (unsigned i = 0; i < f->n; i++)
                harness_stop(&f->d[i]);
        g_clear_pointer(&f->etcd, etcd_cluster_stop);
}

/* How many keys etcd has under a prefix of the lock namespace, e.g. "pylocker/r/": a barrier that
 * says a request has reached etcd. */
static unsigned count_keys(Fixture *f, const char *prefix) {
        g_autofree char *key = g_base64_encode((const guchar *) prefix, strlen(prefix));
        g_autofree char *end_text = g_strdup(prefix);
        g_autofree char *end = NULL, *body = NULL, *answer = NULL;
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonObject *object;

        end_text[strlen(end_text) - 1]++;
        end = g_base64_encode((const guchar *) end_text, strlen(end_text));
        body = g_strdup_printf("{\"key\":\"%s\",\"range_end\":\"%s\",\"count_only\":true}", key, end);
        for (unsigned i = 0; i < etcd_cluster_size(f->etcd) && !answer; i++)
                if (etcd_cluster_member_pid(f->etcd, i) > 0)
                        answer = etcd_cluster_post(etcd_cluster_member_url(f->etcd, i), "/v3/kv/range", body);
        g_assert_nonnull(answer);
        g_assert_true(json_parser_load_from_data(parser, answer, -1, NULL));
        object = json_node_get_object(json_parser_get_root(parser));
        return json_object_has_member(object, "count") ?
                (unsigned) g_ascii_strtoull(json_object_get_string_member(object, "count"), NULL, 10) : 0;
}

static void pump_all_for(Fixture *f, int ms);

/* Pumps the clients meanwhile: what they queued goes out. */
static void wait_keys(Fixture *f, const char *prefix, unsigned n) {
        gint64 deadline = g_get_monotonic_time() + 10 * SEC;

        while (count_keys(f, prefix) != n) {
                if (g_get_monotonic_time() > deadline)
                        g_error("%u keys under %s expected, %u there", n, prefix, count_keys(f, prefix));
                pump_all_for(f, 20);
        }
}

static void pump_all_for(Fixture *f, int ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) ms * 1000;

        while (g_get_monotonic_time() < deadline)
                for (unsigned i = 0; i < f->n; i++)
                        if (f->d[i].daemon_pid > 0)
                                harness_pump_for(&f->d[i], 2);
}

/* A nonblocking Acquire of one path that must be granted at once. */
static char *acquire_nonblocking_ok(sd_bus *bus, const char *path) {
        AsyncCall call = {};
        char *id;

        acquire_async(bus, &call, &(AcquireArgs) { .paths = (const char *const[]) { path, NULL }, .nonblocking = true });
        while (!call.done) {
                int r = sd_bus_process(bus, NULL);

                g_assert_cmpint(r, >=, 0);
                if (r == 0)
                        (void) sd_bus_wait(bus, 100000);
        }
        id = reply_lock_id(call.reply, NULL);
        async_call_clear(&call);
        return id;
}

/* A lock held on one daemon holds back the same path on another, whose waiter gets it, with a higher
 * token, once it is released. */
static void test_handover(void) {
        Fixture f = {};
        sd_bus *b1, *b2;
        g_autofree char *id1 = NULL, *id2 = NULL;
        uint64_t t1, t2;
        AsyncCall call = {};

        setup(&f, 3, 2);
        b1 = harness_connect(&f.d[0]);
        b2 = harness_connect(&f.d[1]);

        id1 = acquire_ok(b1, PATHS("a"), &t1);
        acquire_fails(b2, &(AcquireArgs) { .paths = PATHS("a"), .nonblocking = true }, "org.pylocker.Locker.Error.Timeout");
        acquire_async(b2, &call, &(AcquireArgs) { .paths = PATHS("a"), .timeout_usec = 20 * SEC });
        wait_keys(&f, "pylocker/r/", 2);
        pump_all_for(&f, 300);
        g_assert_false(call.done);

        g_assert_cmpint(release(b1, id1, NULL), ==, 1);
        harness_pump_until(&f.d[1], &call.done, 10000);
        id2 = reply_lock_id(call.reply, &t2);
        g_assert_cmpuint(t2, >, t1);
        async_call_clear(&call);

        /* Another path is free on either daemon meanwhile. */
        g_free(acquire_ok(b1, PATHS("b"), NULL));

        g_assert_cmpint(release(b2, id2, NULL), ==, 1);
        teardown(&f);
}

/* Release is answered once etcd has dropped the lock, on the wire protocol as on D-Bus: right after
 * the answer, another daemon gets the path without waiting (nonblocking). */
static void test_release_then_elsewhere(void) {
        Fixture f = {};
        g_autoptr(WireTestClient) w = NULL;
        uint8_t id[WIRE_LOCK_ID_SIZE];
        sd_bus *b1, *b2;

        setup(&f, 1, 2);
        w = wire_test_connect(&f.d[0], NULL);
        b1 = harness_connect(&f.d[0]);
        b2 = harness_connect(&f.d[1]);
        for (unsigned i = 0; i < 20; i++) {
                g_autofree char *id1 = NULL, *id2 = NULL, *id3 = NULL;

                g_assert_cmpuint(wire_test_acquire(w, PATHS("w"), 0, id), >, 0);
                g_assert_cmpuint(wire_test_release(w, id), ==, 1);
                id2 = acquire_nonblocking_ok(b2, "w");
                g_assert_cmpint(release(b2, id2, NULL), ==, 1);

                id1 = acquire_ok(b1, PATHS("w"), NULL);
                g_assert_cmpint(release(b1, id1, NULL), ==, 1);
                id3 = acquire_nonblocking_ok(b2, "w");
                g_assert_cmpint(release(b2, id3, NULL), ==, 1);
        }
        g_clear_pointer(&w, wire_test_client_free);
        teardown(&f);
}

/* FIFO across daemons: {a} held on d1, {a,b} queued on d2, then {b} on d3: d3 must not pass d2, whose
 * request came first, though b itself is free. */
static void test_fifo(void) {
        Fixture f = {};
        sd_bus *b1, *b2, *b3;
        g_autofree char *id1 = NULL, *id2 = NULL, *id3 = NULL;
        AsyncCall c2 = {}, c3 = {};
        uint64_t t2, t3;

        setup(&f, 3, 3);
        b1 = harness_connect(&f.d[0]);
        b2 = harness_connect(&f.d[1]);
        b3 = harness_connect(&f.d[2]);

        id1 = acquire_ok(b1, PATHS("a"), NULL);
        acquire_async(b2, &c2, &(AcquireArgs) { .paths = PATHS("a", "b"), .timeout_usec = 30 * SEC });
        wait_keys(&f, "pylocker/r/", 2);
        acquire_async(b3, &c3, &(AcquireArgs) { .paths = PATHS("b"), .timeout_usec = 30 * SEC });
        wait_keys(&f, "pylocker/r/", 3);
        pump_all_for(&f, 500);
        g_assert_false(c2.done);
        g_assert_false(c3.done);

        g_assert_cmpint(release(b1, id1, NULL), ==, 1);
        harness_pump_until(&f.d[1], &c2.done, 10000);
        id2 = reply_lock_id(c2.reply, &t2);
        pump_all_for(&f, 300);
        g_assert_false(c3.done);

        g_assert_cmpint(release(b2, id2, NULL), ==, 1);
        harness_pump_until(&f.d[2], &c3.done, 10000);
        id3 = reply_lock_id(c3.reply, &t3);
        g_assert_cmpuint(t3, >, t2);
        g_assert_cmpint(release(b3, id3, NULL), ==, 1);

        async_call_clear(&c2);
        async_call_clear(&c3);
        teardown(&f);
}

/* Shared locks on two daemons at once; an exclusive one waits for both. */
static void test_shared(void) {
        Fixture f = {};
        sd_bus *b1, *b2;
        AsyncCall s1 = {}, s2 = {}, x = {};
        g_autofree char *id1 = NULL, *id2 = NULL;

        setup(&f, 1, 2);
        b1 = harness_connect(&f.d[0]);
        b2 = harness_connect(&f.d[1]);

        acquire_async(b1, &s1, &(AcquireArgs) { .paths = PATHS("s"), .shared = true });
        harness_pump_until(&f.d[0], &s1.done, 10000);
        id1 = reply_lock_id(s1.reply, NULL);
        acquire_async(b2, &s2, &(AcquireArgs) { .paths = PATHS("s"), .shared = true });
        harness_pump_until(&f.d[1], &s2.done, 10000);
        id2 = reply_lock_id(s2.reply, NULL);

        acquire_async(b2, &x, &(AcquireArgs) { .paths = PATHS("s"), .timeout_usec = 20 * SEC });
        pump_all_for(&f, 300);
        g_assert_false(x.done);
        g_assert_cmpint(release(b1, id1, NULL), ==, 1);
        pump_all_for(&f, 300);
        g_assert_false(x.done);
        g_assert_cmpint(release(b2, id2, NULL), ==, 1);
        harness_pump_until(&f.d[1], &x.done, 10000);
        g_free(reply_lock_id(x.reply, NULL));

        async_call_clear(&s1);
        async_call_clear(&s2);
        async_call_clear(&x);
        teardown(&f);
}

typedef struct ListedLock {
        char *id;
        char *owner;
} ListedLock;

/* The locks ListLocks shows on a daemon, with their owners. */
static GPtrArray *list_locks(sd_bus *bus) {
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        GPtrArray *locks = g_ptr_array_new();
        const char *id, *owner, *name;
        uint64_t token, acquired, expires;
        int shared, r;

        r = locker_call_method(bus, "ListLocks", &error, &reply, "");
        g_assert_cmpint(r, >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "(sassstbtt)"), >, 0);
        while ((r = sd_bus_message_enter_container(reply, 'r', "sassstbtt")) > 0) {
                ListedLock *l = g_new0(ListedLock, 1);

                g_assert_cmpint(sd_bus_message_read(reply, "s", &id), >, 0);
                g_assert_cmpint(sd_bus_message_skip(reply, "as"), >, 0);
                g_assert_cmpint(sd_bus_message_read(reply, "sstbtt", &owner, &name, &token, &shared, &acquired,
                                                    &expires), >, 0);
                g_assert_cmpint(sd_bus_message_exit_container(reply), >, 0);
                l->id = g_strdup(id);
                l->owner = g_strdup(owner);
                g_ptr_array_add(locks, l);
        }
        g_assert_cmpint(r, ==, 0);
        sd_bus_message_unref(reply);
        return locks;
}

static void listed_lock_free(gpointer p) {
        ListedLock *l = p;

        g_free(l->id);
        g_free(l->owner);
        g_free(l);
}

/* ListLocks on one daemon shows the locks held through the others; ForceRelease there ends them, and
 * their holder hears LockExpired. */
static void test_list_and_force_release(void) {
        Fixture f = {};
        sd_bus *b1, *b2;
        g_autofree char *id1 = NULL, *expected_owner = NULL;
        g_autoptr(GPtrArray) locks = NULL;
        SignalCatcher catcher = {};
        const char *unique;
        gint64 deadline;
        bool found = false;

        setup(&f, 1, 2);
        b1 = harness_connect(&f.d[0]);
        b2 = harness_connect(&f.d[1]);
        g_assert_cmpint(locker_match_signal(b1, "LockExpired", on_lock_expired, &catcher), >=, 0);

        id1 = acquire_ok(b1, PATHS("listed"), NULL);
        g_assert_cmpint(sd_bus_get_unique_name(b1, &unique), >=, 0);
        expected_owner = g_strconcat("d1/", unique, NULL);

        /* d2 learns of it through its watch. */
        deadline = g_get_monotonic_time() + 10 * SEC;
        while (!found) {
                locks = list_locks(b2);
                for (guint i = 0; i < locks->len; i++) {
                        ListedLock *l = locks->pdata[i];

                        if (g_str_equal(l->id, id1)) {
                                g_assert_cmpstr(l->owner, ==, expected_owner);
                                found = true;
                        }
                        listed_lock_free(l);
                }
                g_clear_pointer(&locks, g_ptr_array_unref);
                if (!found) {
                        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                        g_usleep(20 * 1000);
                }
        }

        g_assert_cmpint(locker_call_method(b2, "ForceRelease", NULL, NULL, "s", id1), >=, 0);
        harness_pump_until(&f.d[0], &catcher.done, 10000);
        g_assert_cmpstr(catcher.lock_id, ==, id1);
        /* Gone on d1 too, and free for d2. */
        g_assert_cmpint(release(b1, id1, NULL), ==, 0);
        g_free(acquire_ok(b2, PATHS("listed"), NULL));

        g_free(catcher.lock_id);
        teardown(&f);
}

/* A daemon SIGKILLed while holding a lock: its session ends on the cluster within the TTL, and a
 * waiter on another daemon gets the lock. */
static void test_daemon_killed(void) {
        Fixture f = {};
        sd_bus *b1, *b2;
        AsyncCall call = {};
        int status;

        setup(&f, 3, 2);
        b1 = harness_connect(&f.d[0]);
        b2 = harness_connect(&f.d[1]);
        g_free(acquire_ok(b1, PATHS("a"), NULL));
        acquire_async(b2, &call, &(AcquireArgs) { .paths = PATHS("a"), .timeout_usec = (SESSION_TTL_S + 2) * SEC });
        wait_keys(&f, "pylocker/r/", 2);

        g_assert_cmpint(kill(f.d[0].daemon_pid, SIGKILL), ==, 0);
        g_assert_cmpint(waitpid(f.d[0].daemon_pid, &status, 0), ==, f.d[0].daemon_pid);
        f.d[0].daemon_pid = 0;

        /* Within TTL + 2 s, or the Acquire times out. */
        harness_pump_until(&f.d[1], &call.done, (SESSION_TTL_S + 4) * 1000);
        g_free(reply_lock_id(call.reply, NULL));
        async_call_clear(&call);
        teardown(&f);
}

/* A daemon stopped with SIGTERM revokes its session: its locks are free for the others at once, not
 * after its TTL (a minute here, longer than the waiter's timeout). */
static void test_daemon_terminated(void) {
        Fixture f = { .ttl_s = 60 };
        sd_bus *b1, *b2;
        AsyncCall call = {};
        int status;

        setup(&f, 1, 2);
        b1 = harness_connect(&f.d[0]);
        b2 = harness_connect(&f.d[1]);
        g_free(acquire_ok(b1, PATHS("a"), NULL));
        acquire_async(b2, &call, &(AcquireArgs) { .paths = PATHS("a"), .timeout_usec = 15 * SEC });
        wait_keys(&f, "pylocker/r/", 2);

        status = harness_stop_daemon(&f.d[0]);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        harness_pump_until(&f.d[1], &call.done, 20000);
        g_free(reply_lock_id(call.reply, NULL));
        async_call_clear(&call);
        teardown(&f);
}

/* A daemon stopped past its TTL: the cluster gives its lock away; once it runs again it tells its
 * holder the lock expired, and the holder's Release finds nothing. */
static void test_daemon_stopped(void) {
        Fixture f = {};
        sd_bus *b1, *b2;
        g_autofree char *id1 = NULL;
        SignalCatcher catcher = {};
        AsyncCall call = {};

        setup(&f, 1, 2);
        b1 = harness_connect(&f.d[0]);
        b2 = harness_connect(&f.d[1]);
        g_assert_cmpint(locker_match_signal(b1, "LockExpired", on_lock_expired, &catcher), >=, 0);
        id1 = acquire_ok(b1, PATHS("a"), NULL);

        g_assert_cmpint(kill(f.d[0].daemon_pid, SIGSTOP), ==, 0);
        acquire_async(b2, &call, &(AcquireArgs) { .paths = PATHS("a"), .timeout_usec = (SESSION_TTL_S + 4) * SEC });
        harness_pump_until(&f.d[1], &call.done, (SESSION_TTL_S + 6) * 1000);
        g_free(reply_lock_id(call.reply, NULL));
        g_assert_cmpint(kill(f.d[0].daemon_pid, SIGCONT), ==, 0);

        harness_pump_until(&f.d[0], &catcher.done, 10000);
        g_assert_cmpstr(catcher.lock_id, ==, id1);
        g_assert_cmpint(release(b1, id1, NULL), ==, 0);
        /* It comes back: a new session, and the lock is still d2's. */
        wait_available(&f, 0);
        acquire_fails(b1, &(AcquireArgs) { .paths = PATHS("a"), .nonblocking = true }, "org.pylocker.Locker.Error.Timeout");

        g_free(catcher.lock_id);
        async_call_clear(&call);
        teardown(&f);
}

/* etcd gone: holders are told their locks expired before the cluster could give them away, new
 * requests fail with Unavailable; when etcd is back, so is the service. */
static void test_etcd_lost(void) {
        Fixture f = {};
        sd_bus *b1;
        g_autofree char *id1 = NULL;
        SignalCatcher catcher = {};
        GPid member;

        setup(&f, 1, 1);
        b1 = harness_connect(&f.d[0]);
        g_assert_cmpint(locker_match_signal(b1, "LockExpired", on_lock_expired, &catcher), >=, 0);
        id1 = acquire_ok(b1, PATHS("a"), NULL);

        member = etcd_cluster_member_pid(f.etcd, 0);
        g_assert_cmpint(kill(member, SIGSTOP), ==, 0);
        harness_pump_until(&f.d[0], &catcher.done, (SESSION_TTL_S + 2) * 1000);
        g_assert_cmpstr(catcher.lock_id, ==, id1);
        acquire_fails(b1, &(AcquireArgs) { .paths = PATHS("b") }, "org.pylocker.Locker.Error.Unavailable");

        g_assert_cmpint(kill(member, SIGCONT), ==, 0);
        wait_available(&f, 0);
        g_free(acquire_ok(b1, PATHS("a"), NULL));

        g_free(catcher.lock_id);
        teardown(&f);
}

/* No etcd at all: the daemon starts, and Acquire answers Unavailable rather than waiting. */
static void test_etcd_unreachable_at_start(void) {
        Fixture f = { .n = 1 };
        g_autofree char *endpoints = g_strdup_printf("http://127.0.0.1:%d", test_free_tcp_port(AF_INET));
        sd_bus *bus;

        start_daemon(&f, 0, endpoints);
        bus = harness_connect(&f.d[0]);
        acquire_fails(bus, &(AcquireArgs) { .paths = PATHS("a") }, "org.pylocker.Locker.Error.Unavailable");
        /* The rest of the service works. */
        g_assert_cmpuint(count_locks(bus), ==, 0);
        teardown(&f);
}

/* The revision etcd is at, from any member up. */
static int64_t etcd_revision(Fixture *f) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autofree char *answer = NULL;
        JsonObject *header;

        for (unsigned i = 0; i < etcd_cluster_size(f->etcd) && !answer; i++)
                if (etcd_cluster_member_pid(f->etcd, i) > 0)
                        answer = etcd_cluster_post(etcd_cluster_member_url(f->etcd, i), "/v3/kv/range",
                                                   "{\"key\":\"AA==\"}");
        g_assert_nonnull(answer);
        g_assert_true(json_parser_load_from_data(parser, answer, -1, NULL));
        header = json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)), "header");
        return g_ascii_strtoll(json_object_get_string_member(header, "revision"), NULL, 10);
}

/* A waiter whose daemon's watch falls behind etcd's compaction (its member died while the daemon was
 * stopped, and the release it waited for was compacted away before it came back) is not stuck: the
 * daemon reads the namespace again and grants it. */
static void test_compaction(void) {
        Fixture f = { .n = 2, .ttl_s = 10 };
        g_autofree char *endpoints1 = NULL, *endpoints2 = NULL, *id1 = NULL, *body = NULL, *answer = NULL;
        AsyncCall call = {};
        sd_bus *b1, *b2;

        f.etcd = etcd_cluster_start(3);
        endpoints1 = g_strdup_printf("%s,%s", etcd_cluster_member_url(f.etcd, 1), etcd_cluster_member_url(f.etcd, 2));
        endpoints2 = etcd_cluster_endpoints(f.etcd);
        start_daemon(&f, 0, endpoints1);
        start_daemon(&f, 1, endpoints2);
        wait_available(&f, 0);
        wait_available(&f, 1);
        b1 = harness_connect(&f.d[0]);
        b2 = harness_connect(&f.d[1]);

        id1 = acquire_ok(b1, PATHS("c"), NULL);
        acquire_async(b2, &call, &(AcquireArgs) { .paths = PATHS("c"), .timeout_usec = 30 * SEC });
        wait_keys(&f, "pylocker/r/", 2);

        /* d2 watches through member 0, the first of its endpoints. */
        g_assert_cmpint(kill(f.d[1].daemon_pid, SIGSTOP), ==, 0);
        etcd_cluster_kill_member(f.etcd, 0);
        g_assert_cmpint(release(b1, id1, NULL), ==, 1);
        body = g_strdup_printf("{\"revision\":\"%" G_GINT64_FORMAT "\",\"physical\":true}", etcd_revision(&f));
        answer = etcd_cluster_post(etcd_cluster_member_url(f.etcd, 1), "/v3/kv/compaction", body);
        g_assert_nonnull(answer);
        g_assert_cmpint(kill(f.d[1].daemon_pid, SIGCONT), ==, 0);

        harness_pump_until(&f.d[1], &call.done, 25000);
        g_free(reply_lock_id(call.reply, NULL));
        async_call_clear(&call);
        teardown(&f);
}

/* MessagePublished signals on one connection: the last sender and message. */
typedef struct Listener {
        unsigned n;
        char *sender;
        char *message;
} Listener;

static int on_message_published(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Listener *l = userdata;
        const char *id, *sender, *message;
        uint64_t expires;

        g_assert_cmpint(sd_bus_message_read(m, "ssst", &id, &sender, &message, &expires), >, 0);
        g_free(l->sender);
        g_free(l->message);
        l->sender = g_strdup(sender);
        l->message = g_strdup(message);
        l->n++;
        return 0;
}

static void publish(sd_bus *bus, const char *message, const char *const *receivers) {
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;

        g_assert_cmpint(locker_new_method_call(bus, &m, "Publish"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "s", message), >=, 0);
        g_assert_cmpint(sd_bus_message_append_strv(m, (char **) receivers), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "ta{sv}", UINT64_C(0), 0), >=, 0);
        if (sd_bus_call(bus, m, 10 * SEC, &error, &reply) < 0)
                g_error("Publish failed: %s: %s", error.name, error.message);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
}

/* A client on one daemon publishes to a client of another by its name, and to everyone: the receiver
 * hears MessagePublished from "NODE/ID", and can take the message out of its inbox. */
static void test_messages(void) {
        Fixture f = {};
        sd_bus *b1, *b2;
        Listener l1 = {}, l2 = {};
        g_autofree char *expected_sender = NULL;
        sd_bus_message *reply = NULL;
        const char *unique, *text, *sender;

        setup(&f, 1, 2);
        b1 = harness_connect(&f.d[0]);
        b2 = harness_connect(&f.d[1]);
        g_assert_cmpint(locker_call_method(b1, "Register", NULL, NULL, "s", "alice"), >=, 0);
        g_assert_cmpint(locker_match_signal(b1, "MessagePublished", on_message_published, &l1), >=, 0);
        g_assert_cmpint(locker_match_signal(b2, "MessagePublished", on_message_published, &l2), >=, 0);
        g_assert_cmpint(sd_bus_get_unique_name(b2, &unique), >=, 0);
        expected_sender = g_strconcat("d2/", unique, NULL);

        publish(b2, "to-alice", PATHS("alice"));
        harness_pump_until_count(&f.d[0], &l1.n, 1, 10000);
        g_assert_cmpstr(l1.sender, ==, expected_sender);
        g_assert_cmpstr(l1.message, ==, "to-alice");
        g_assert_cmpint(locker_call_method(b1, "PopMessage", NULL, &reply, "s", "to-alice"), >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "(sssstt)"), >, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'r', "sssstt"), >, 0);
        /* (message, publication id, sender id, sender name, published, expires) */
        g_assert_cmpint(sd_bus_message_read(reply, "s", &text), >, 0);
        g_assert_cmpstr(text, ==, "to-alice");
        g_assert_cmpint(sd_bus_message_read(reply, "ss", &sender, &sender), >, 0);
        g_assert_cmpstr(sender, ==, expected_sender);
        g_assert_cmpint(sd_bus_message_skip(reply, "stt"), >=, 0);
        g_assert_cmpint(sd_bus_message_exit_container(reply), >, 0);
        /* Only one. */
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'r', "sssstt"), ==, 0);
        sd_bus_message_unref(reply);

        /* To everyone: the sender too (to_self), and the other daemon's client. */
        publish(b2, "all", (const char *const[]) { NULL });
        harness_pump_until_count(&f.d[0], &l1.n, 2, 10000);
        g_assert_cmpstr(l1.message, ==, "all");
        /* The sender had "to-alice" too (to_self is the default). */
        harness_pump_until_count(&f.d[1], &l2.n, 2, 10000);
        g_assert_cmpstr(l2.message, ==, "all");
        /* Nothing came back to the sender from the other side. */
        pump_all_for(&f, 300);
        g_assert_cmpuint(l2.n, ==, 2);
        g_assert_cmpuint(l1.n, ==, 2);

        g_free(l1.sender);
        g_free(l1.message);
        g_free(l2.sender);
        g_free(l2.message);
        teardown(&f);
}

/* A TCP proxy to one etcd member (tests/cluster/tcp-proxy.py): SIGSTOP cuts whoever goes through it
 * off, as a partition does. Returns its PID; *ret_url is its URL (g_free), *ret_out its output. */
static GPid start_proxy(const char *member_url, char **ret_url, int *ret_out) {
        const char *target = member_url + strlen("http://");
        /* Debian's, not whatever python3 comes first in PATH. */
        const char *argv[] = { "/usr/bin/python3", g_getenv("PYLOCKER_TCP_PROXY"), target, NULL };
        g_autoptr(GError) error = NULL;
        char line[32] = {};
        size_t n = 0;
        GPid pid;
        int out;

        g_assert_nonnull(argv[1]);
        g_assert_true(g_spawn_async_with_pipes(NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                               test_child_die_with_parent, NULL, &pid, NULL, &out, NULL, &error));
        /* Its port, one line. The pipe stays open until it is stopped: a proxy writing into a closed
         * one would die. */
        while (n < sizeof(line) - 1 && !strchr(line, '\n')) {
                ssize_t k = read(out, line + n, sizeof(line) - 1 - n);

                if (k < 0 && errno == EINTR)
                        continue;
                g_assert_cmpint(k, >, 0);
                n += (size_t) k;
        }
        *ret_url = g_strdup_printf("http://127.0.0.1:%d", atoi(line));
        *ret_out = out;
        return pid;
}

/* A daemon cut off from etcd while its client holds a lock, and a waiter on another daemon: the
 * holder hears LockExpired before the waiter is granted (the cut-off daemon ends its lock before its
 * lease can have run out on the cluster), and the waiter gets the lock. */
static void test_partition(void) {
        Fixture f = { .n = 2 };
        g_autofree char *proxy_url = NULL, *endpoints = NULL, *id1 = NULL;
        SignalCatcher catcher = {};
        AsyncCall call = {};
        bool expired_first = false;
        sd_bus *b1, *b2;
        GPid proxy;
        int proxy_out;

        f.etcd = etcd_cluster_start(3);
        endpoints = etcd_cluster_endpoints(f.etcd);
        proxy = start_proxy(etcd_cluster_member_url(f.etcd, 0), &proxy_url, &proxy_out);
        start_daemon(&f, 0, proxy_url);
        start_daemon(&f, 1, endpoints);
        wait_available(&f, 0);
        wait_available(&f, 1);
        b1 = harness_connect(&f.d[0]);
        b2 = harness_connect(&f.d[1]);
        g_assert_cmpint(locker_match_signal(b1, "LockExpired", on_lock_expired, &catcher), >=, 0);

        id1 = acquire_ok(b1, PATHS("p"), NULL);
        acquire_async(b2, &call, &(AcquireArgs) { .paths = PATHS("p"), .timeout_usec = 20 * SEC });
        wait_keys(&f, "pylocker/r/", 2);

        g_assert_cmpint(kill(proxy, SIGSTOP), ==, 0);
        while (!call.done || !catcher.done) {
                pump_all_for(&f, 5);
                if (catcher.done && !call.done)
                        expired_first = true;
        }
        g_assert_true(expired_first);
        g_assert_cmpstr(catcher.lock_id, ==, id1);
        g_free(reply_lock_id(call.reply, NULL));

        /* Back in touch: a new session. */
        g_assert_cmpint(kill(proxy, SIGCONT), ==, 0);
        wait_available(&f, 0);

        g_free(catcher.lock_id);
        async_call_clear(&call);
        test_kill_child(&proxy);
        close(proxy_out);
        teardown(&f);
}

/* A randomized run over three daemons with a history checker, the etcd leader SIGKILLed halfway:
 * no two conflicting holders at once, tokens increasing on every path in grant order, every request
 * granted or timed out (or refused as Unavailable while the cluster elects a new leader), and
 * progress after the fault. */
#define N_PATHS 4
#define N_GRANTS 80

typedef struct RandomClient {
        Harness *h;
        sd_bus *bus;
        AsyncCall call;
        SignalCatcher lost;       /* LockExpired: its session with etcd was lost */
        bool waiting;
        char *id;                 /* held, or NULL */
        unsigned paths[2];
        unsigned n_paths;
        bool shared;
        unsigned hold;            /* rounds left to hold */
} RandomClient;

typedef struct History {
        unsigned exclusive[N_PATHS];
        unsigned shared[N_PATHS];
        uint64_t last_token[N_PATHS];            /* the highest of any grant */
        uint64_t last_exclusive_token[N_PATHS];
        unsigned grants, timeouts, unavailable, lost;
} History;

/* Tokens increase in grant order between conflicting grants: an exclusive one above every grant of
 * its paths before it, a shared one above every exclusive one (two shared grants may be made at once
 * and seen here in either order). */
static void history_grant(History *hist, RandomClient *c, uint64_t token) {
        for (unsigned k = 0; k < c->n_paths; k++) {
                unsigned p = c->paths[k];

                g_assert_cmpuint(hist->exclusive[p], ==, 0);
                if (!c->shared)
                        g_assert_cmpuint(hist->shared[p], ==, 0);
                g_assert_cmpuint(token, >, hist->last_exclusive_token[p]);
                if (!c->shared)
                        g_assert_cmpuint(token, >, hist->last_token[p]);
                hist->last_token[p] = MAX(hist->last_token[p], token);
                if (c->shared)
                        hist->shared[p]++;
                else {
                        hist->exclusive[p]++;
                        hist->last_exclusive_token[p] = token;
                }
        }
        hist->grants++;
}

static void history_release(History *hist, RandomClient *c) {
        for (unsigned k = 0; k < c->n_paths; k++) {
                unsigned p = c->paths[k];

                if (c->shared)
                        hist->shared[p]--;
                else
                        hist->exclusive[p]--;
        }
}

static void test_random_leader_killed(void) {
        Fixture f = { .ttl_s = 10 };
        RandomClient clients[6] = {};
        History hist = {};
        GRand *rand = g_rand_new_with_seed(g_test_rand_int());
        char names[N_PATHS][8];
        unsigned grants_at_kill = 0;
        gint64 deadline;
        bool killed = false;

        for (unsigned p = 0; p < N_PATHS; p++)
                g_snprintf(names[p], sizeof(names[p]), "r%u", p);
        setup(&f, 3, 3);
        for (unsigned i = 0; i < G_N_ELEMENTS(clients); i++) {
                clients[i].h = &f.d[i % 3];
                clients[i].bus = harness_connect(clients[i].h);
                g_assert_cmpint(locker_match_signal(clients[i].bus, "LockExpired", on_lock_expired,
                                                    &clients[i].lost), >=, 0);
        }

        deadline = g_get_monotonic_time() + 120 * SEC;
        while (hist.grants < N_GRANTS || !killed || hist.grants < grants_at_kill + N_GRANTS / 4) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);

                if (!killed && hist.grants >= N_GRANTS / 2) {
                        int leader = etcd_cluster_leader(f.etcd);

                        g_assert_cmpint(leader, >=, 0);
                        etcd_cluster_kill_member(f.etcd, (unsigned) leader);
                        killed = true;
                        grants_at_kill = hist.grants;
                }

                for (unsigned i = 0; i < G_N_ELEMENTS(clients); i++) {
                        RandomClient *c = &clients[i];

                        if (c->id && c->lost.done) {
                                /* Its daemon lost sight of etcd and ended the lock first. */
                                g_assert_cmpstr(c->lost.lock_id, ==, c->id);
                                history_release(&hist, c);
                                g_assert_cmpint(release(c->bus, c->id, NULL), ==, 0);
                                g_clear_pointer(&c->id, g_free);
                                g_clear_pointer(&c->lost.lock_id, g_free);
                                c->lost.done = false;
                                hist.lost++;
                        } else if (c->id && c->hold-- == 0) {
                                history_release(&hist, c);
                                g_assert_cmpint(release(c->bus, c->id, NULL), ==, 1);
                                g_clear_pointer(&c->id, g_free);
                        } else if (!c->id && !c->waiting) {
                                const char *paths[3] = {};

                                c->n_paths = 1 + (unsigned) g_rand_int_range(rand, 0, 2);
                                c->paths[0] = (unsigned) g_rand_int_range(rand, 0, N_PATHS);
                                c->paths[1] = (c->paths[0] + 1 + (unsigned) g_rand_int_range(rand, 0, N_PATHS - 1)) % N_PATHS;
                                c->shared = g_rand_int_range(rand, 0, 4) == 0;
                                for (unsigned k = 0; k < c->n_paths; k++)
                                        paths[k] = names[c->paths[k]];
                                acquire_async(c->bus, &c->call, &(AcquireArgs) {
                                                .paths = paths, .shared = c->shared, .timeout_usec = 8 * SEC });
                                c->waiting = true;
                        }
                }

                pump_all_for(&f, 5);

                for (unsigned i = 0; i < G_N_ELEMENTS(clients); i++) {
                        RandomClient *c = &clients[i];
                        const sd_bus_error *e;
                        uint64_t token;

                        if (!c->waiting || !c->call.done)
                                continue;
                        c->waiting = false;
                        e = sd_bus_message_get_error(c->call.reply);
                        if (!e) {
                                c->id = reply_lock_id(c->call.reply, &token);
                                history_grant(&hist, c, token);
                                c->hold = (unsigned) g_rand_int_range(rand, 0, 3);
                        } else if (g_str_equal(e->name, "org.pylocker.Locker.Error.Timeout"))
                                hist.timeouts++;
                        else if (killed && g_str_equal(e->name, "org.pylocker.Locker.Error.Unavailable"))
                                hist.unavailable++;
                        else
                                g_error("Acquire failed: %s: %s", e->name, e->message);
                        async_call_clear(&c->call);
                }
        }

        g_test_message("%u grants (%u before the leader was killed), %u timeouts, %u unavailable, %u lost",
                       hist.grants, grants_at_kill, hist.timeouts, hist.unavailable, hist.lost);
        for (unsigned i = 0; i < G_N_ELEMENTS(clients); i++) {
                if (clients[i].waiting) {
                        harness_pump_until(clients[i].h, &clients[i].call.done, 20000);
                        if (!sd_bus_message_get_error(clients[i].call.reply))
                                g_free(reply_lock_id(clients[i].call.reply, NULL));
                        async_call_clear(&clients[i].call);
                }
                g_free(clients[i].id);
                g_free(clients[i].lost.lock_id);
        }
        g_rand_free(rand);
        teardown(&f);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/cluster/handover", test_handover);
        g_test_add_func("/cluster/release-then-elsewhere", test_release_then_elsewhere);
        g_test_add_func("/cluster/fifo", test_fifo);
        g_test_add_func("/cluster/shared", test_shared);
        g_test_add_func("/cluster/list-and-force-release", test_list_and_force_release);
        g_test_add_func("/cluster/daemon-killed", test_daemon_killed);
        g_test_add_func("/cluster/daemon-terminated", test_daemon_terminated);
        g_test_add_func("/cluster/daemon-stopped", test_daemon_stopped);
        g_test_add_func("/cluster/etcd-lost", test_etcd_lost);
        g_test_add_func("/cluster/etcd-unreachable-at-start", test_etcd_unreachable_at_start);
        g_test_add_func("/cluster/compaction", test_compaction);
        g_test_add_func("/cluster/messages", test_messages);
        g_test_add_func("/cluster/partition", test_partition);
        g_test_add_func("/cluster/random-leader-killed", test_random_leader_killed);

        return g_test_run();
}
