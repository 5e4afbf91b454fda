/* Test harness: a private dbus-daemon and a real pylockerd on it, started and stopped by PID. */
#pragma once

#include <stdbool.h>

#include <glib.h>
#include <systemd/sd-bus.h>

#include "etcd-harness.h"
#include "pylocker-names.h"
#include "test-common.h"

typedef struct Harness {
        char *tmpdir;
        GPid bus_pid;
        char *bus_address;
        GPid daemon_pid;
        GPid polkitd_pid;
        bool system_bus;
        int notify_fd;
        GString *notify_log;     /* every sd_notify message received, one a line */
        GPtrArray *clients;      /* sd_bus*, closed at teardown */
        EtcdCluster *etcd;       /* with PYLOCKER_TEST_BACKEND=etcd: the daemon's lock table */
} Harness;

/* The fixture of the tests that need a bus and a pylockerd and nothing else of their own. */
typedef struct HarnessFixture {
        Harness h;
} HarnessFixture;

/* Starts the harness with the test's data as pylockerd's extra arguments (NULL-terminated, may be
 * NULL), and stops it. */
void harness_fixture_setup(HarnessFixture *f, gconstpointer daemon_args);
void harness_fixture_teardown(HarnessFixture *f, gconstpointer data);

/* Adds a test on HarnessFixture: fn(HarnessFixture *f, gconstpointer daemon_args). */
#define harness_test_add(path, daemon_args, fn) \
        g_test_add((path), HarnessFixture, (daemon_args), harness_fixture_setup, (fn), harness_fixture_teardown)

/* Starts the bus, then pylockerd with these extra arguments (NULL-terminated, may be NULL), and waits
 * for its READY=1. */
void harness_start(Harness *h, const char *const *daemon_args);
/* Stops pylockerd with SIGTERM and asserts it exits 0 (sanitizer reports fail it), then the bus. */
void harness_stop(Harness *h);
/* SIGTERMs the daemon and returns its wait status, without asserting. */
int harness_stop_daemon(Harness *h);
void harness_start_daemon(Harness *h, const char *const *daemon_args);

/* Reads notifications until one contains text, failing after timeout_ms. */
void harness_wait_notify(Harness *h, const char *text, int timeout_ms);
/* Reads the notifications queued on the NOTIFY_SOCKET, without waiting. pylockerd sends a STATUS=
 * at most once a second while its figures change, and blocks in sd_notify() once the socket's queue
 * (net.unix.max_dgram_qlen, 10 by default) is full: a test that runs the daemon busy for longer than
 * that without waiting for a notification must call this now and then. */
void harness_notify_drain(Harness *h);
/* Binds the NOTIFY_SOCKET the harness owns (done by harness_start_daemon too). */
void harness_notify_open(Harness *h);
/* The path of the NOTIFY_SOCKET the harness owns (g_free). */
char *harness_notify_socket_path(Harness *h);
/* Starts only the bus (session type); with service_dir, it activates services from there. */
void harness_start_bus_only(Harness *h, const char *service_dir);

/* A new client connection to the test bus, closed at teardown. */
sd_bus *harness_connect(Harness *h);
/* A new peer-to-peer connection to the daemon's direct socket, closed at teardown. */
sd_bus *harness_connect_direct(Harness *h);
/* The direct socket's path (g_free). */
char *harness_direct_socket_path(Harness *h);
/* Closes a connection of the harness. A bus connection: returns once the bus has forgotten it, so
 * pylockerd has its NameOwnerChanged before anything the test sends it afterwards. (A direct one:
 * pylockerd sees the end of the socket in its own time.) */
void harness_disconnect(Harness *h, sd_bus *bus);

/* Processes every client connection until *flag is true, failing the test after timeout_ms. */
void harness_pump_until(Harness *h, const bool *flag, int timeout_ms);
/* Processes every client connection until *counter reaches target, failing after timeout_ms. */
void harness_pump_until_count(Harness *h, const unsigned *counter, unsigned target, int timeout_ms);
/* Processes every client connection for this long. For what needs time to pass. */
void harness_pump_for(Harness *h, int ms);
/* A barrier instead of a sleep: returns once pylockerd has handled every call the harness's
 * connections sent before, and each connection has dispatched whatever the daemon sent it meanwhile
 * (replies, signals). D-Bus keeps the order of the messages between two peers: a round trip to the
 * daemon on every connection makes sure of the first, a second one of the second. After it,
 * "nothing happened" can be asserted without waiting for it not to happen. */
void harness_sync(Harness *h);

/* sd_bus_call_method(), sd_bus_message_new_method_call() and sd_bus_match_signal() on pylockerd's
 * object and interface. */
int locker_call_method(sd_bus *bus, const char *member, sd_bus_error *ret_error, sd_bus_message **ret_reply,
                       const char *types, ...);
int locker_new_method_call(sd_bus *bus, sd_bus_message **ret, const char *member);
int locker_match_signal(sd_bus *bus, const char *member, sd_bus_message_handler_t callback, void *userdata);

/* LockExpired signals caught by locker_match_signal(bus, "LockExpired", on_lock_expired, &catcher): the
 * last one's lock id (g_free) and number of paths. */
typedef struct SignalCatcher {
        char *lock_id;
        unsigned n_paths;
        bool done;
} SignalCatcher;

int on_lock_expired(sd_bus_message *m, void *userdata, sd_bus_error *error);

/* An asynchronous method call and its reply. */
typedef struct AsyncCall {
        sd_bus_slot *slot;
        sd_bus_message *reply;
        bool done;
} AsyncCall;

void async_call_clear(AsyncCall *call);

/* The arguments of an Acquire call, with designated initializers:
 *     acquire_async(bus, &call, &(AcquireArgs) { .paths = PATHS("x"), .timeout_usec = 10 * SEC });
 * A field left zero sends nothing: no option, the daemon's default. */
typedef struct AcquireArgs {
        const char *const *paths;       /* NULL-terminated */
        uint64_t timeout_usec;          /* 0: the daemon's DefaultTimeout */
        bool shared;
        bool nonblocking;
        uint64_t ttl_usec;              /* 0: no ttl_usec option */
        bool no_deadlock_check;         /* deadlock_check=false: wait even where it closes a cycle */
        bool handle;                    /* AcquireHandle instead of Acquire */
} AcquireArgs;

/* Sends Acquire (or AcquireHandle); the reply lands in call. */
void acquire_async(sd_bus *bus, AsyncCall *call, const AcquireArgs *args);
/* Acquire of the NULL-terminated paths, without options, that must succeed at once; returns the lock
 * id (g_free) and token. */
char *acquire_ok(sd_bus *bus, const char *const *paths, uint64_t *ret_token);
/* Acquire that must fail with this error name. */
void acquire_fails(sd_bus *bus, const AcquireArgs *args, const char *error_name);
/* Release; returns the code, or -1 after asserting the error name when expected_error is given. */
int release(sd_bus *bus, const char *lock_id, const char *expected_error);

/* Reads the lock id and token from a successful Acquire reply. */
char *reply_lock_id(sd_bus_message *reply, uint64_t *ret_token);
void assert_reply_error(sd_bus_message *reply, const char *error_name);

uint32_t get_property_u(sd_bus *bus, const char *name);
uint64_t get_property_t(sd_bus *bus, const char *name);
/* Number of locks in ListLocks. */
unsigned count_locks(sd_bus *bus);

/* A private system-type bus whose policy includes the repo's, real polkitd on it in its own mount
 * namespace (the repo's actions, the given rules text, nothing of the host's), and pylockerd with
 * --system. Needs root. */
void harness_start_system(Harness *h, const char *polkit_rules, const char *const *daemon_args);
/* polkitd's PID, 0 once stopped. */
GPid harness_polkitd_pid(Harness *h);
/* Kills polkitd (SIGKILL) and reaps it. */
void harness_kill_polkitd(Harness *h);
