/* The D-Bus client of pylockerd: the seed's ServerLocker, SingleLocker and LockersFactory as a C API.
 *
 * A PylockerLocker is one connection to pylockerd: over its private socket when it can (peer to peer,
 * no bus daemon in between, in the lean wire protocol of docs/wire.md), else over the system bus, the
 * user's session bus or a given D-Bus address. Locks are taken with pylocker_locker_acquire() (blocking) or pylocker_locker_acquire_async()
 * (a callback), and come back as PylockerLock objects.
 *
 * Threads: a PylockerLocker and its locks are not thread-safe. Every call on a locker, on its locks and
 * on the event loop it is attached to must come from one thread at a time (not necessarily the same
 * one), and callbacks run in the thread that dispatches the locker (pylocker_locker_process(), or the
 * thread running the sd-event or GMainContext loop it is attached to). Only these are thread-safe:
 * pylocker_locker_ref(), pylocker_locker_unref() when it does not drop the last reference,
 * pylocker_lock_ref(), pylocker_lock_unref() when it does not drop the last reference,
 * pylocker_acquire_code(), and the process-wide registry calls pylocker_default_locker(),
 * pylocker_registry_get(), pylocker_registry_pop() and pylocker_registry_clear(), which guard the
 * registry with a mutex (but the lockers they return are, again, for one thread at a time).
 *
 * Errors: every call that can fail returns a negative errno and, given a PylockerError, fills it with
 * the same code, the D-Bus error name when the daemon answered with one, and a message. The ones with
 * a meaning of their own:
 *   -ETIMEDOUT   the lock was not had before the timeout (or at once, with nonblocking)
 *   -ECONNRESET  the connection to pylockerd was lost (it exited, or the connection broke); the
 *                locker stays unusable until pylocker_locker_restart()
 *   -ENOTCONN    the locker is not connected (closed with pylocker_locker_close())
 *   -EPERM       the lock is held by another client (NotOwner), or management refused
 *   -EINVAL      bad arguments, whether caught here or by the daemon (InvalidArgs)
 *   -EDEADLK     the daemon refused a wait that would close a cycle of clients waiting for each
 *                other (Deadlock); PYLOCKER_ACQUIRE_NO_DEADLOCK_CHECK waits anyway
 *   -ECONNREFUSED  a remote locker's TLS handshake failed (a different secret, or not a bridge)
 *   -EOPNOTSUPP  acquire_handle on a remote locker (no fds cross TCP)
 * The library never prints and never aborts on bad input. */
#ifndef PYLOCKER_CLIENT_H
#define PYLOCKER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <pylocker/pylocker-cleanup.h>
#include <pylocker/pylocker-error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Event loops the locker can be attached to, without requiring their headers here. */
struct sd_event;
struct _GMainContext;

/* Timeouts and lifetimes: "never" / "wait forever". */
#define PYLOCKER_INFINITY UINT64_MAX

typedef struct PylockerLocker PylockerLocker;
typedef struct PylockerLock PylockerLock;

/* Where a locker connects. */
typedef enum PylockerTransport {
        PYLOCKER_TRANSPORT_SYSTEM = 0,   /* the system bus (and /run/pylocker/private) */
        PYLOCKER_TRANSPORT_USER = 1,     /* the user's session bus (and $XDG_RUNTIME_DIR/pylocker/private) */
        PYLOCKER_TRANSPORT_ADDRESS = 2,  /* the D-Bus address in .address (private socket only if given) */
        PYLOCKER_TRANSPORT_REMOTE = 3    /* the TCP bridge at .remote with .secret_file (a transport thread
                                          * per connected locker carries TLS; see docs/bridge.md) */
} PylockerTransport;

/* How pylocker_locker_open() uses the daemon's private socket. */
typedef enum PylockerPrivateSocket {
        PYLOCKER_PRIVATE_SOCKET_AUTO = 0,     /* .private_socket, else the transport's default path; the
                                               * bus when there is no socket or it does not answer */
        PYLOCKER_PRIVATE_SOCKET_DISABLED = 1  /* always the bus */
} PylockerPrivateSocket;

/* The options and info structs of this ABI all end in "uint64_t flags" (booleans are its bits, as
 * defined next to each struct; bits not defined must be 0) and "uint64_t reserved[N]" (must be zero
 * in what you pass; zero in what the library fills). Later versions give new options and
 * information bits of flags or a reserved slot, so the struct's size and layout never change. */

/* Options of pylocker_locker_open(). Start from PYLOCKER_LOCKER_OPTIONS_INIT (zeroes are defaults);
 * the strings are copied. */
typedef struct PylockerLockerOptions {
        PylockerTransport transport;
        const char *address;            /* D-Bus address, for PYLOCKER_TRANSPORT_ADDRESS */
        const char *remote;             /* "host:port", for PYLOCKER_TRANSPORT_REMOTE */
        const char *secret_file;        /* shared secret, for PYLOCKER_TRANSPORT_REMOTE */
        const char *name;               /* friendly client name sent with Register; NULL: none */
        uint64_t default_timeout_usec;  /* for acquires with timeout 0; 0: the daemon's DefaultTimeout */
        PylockerPrivateSocket private_socket_mode;
        const char *private_socket;     /* path of the private socket to try first; NULL: the default */
        uint64_t flags;                 /* none defined yet: must be 0 */
        uint64_t reserved[8];           /* must be zero */
} PylockerLockerOptions;

#define PYLOCKER_LOCKER_OPTIONS_INIT { PYLOCKER_TRANSPORT_SYSTEM, NULL, NULL, NULL, NULL, 0, \
                                       PYLOCKER_PRIVATE_SOCKET_AUTO, NULL, 0, { 0 } }

/* Flags of an acquire. */
#define PYLOCKER_ACQUIRE_SHARED            (UINT64_C(1) << 0)  /* a reader lock, shared with other shared
                                                                * holders */
#define PYLOCKER_ACQUIRE_NONBLOCKING       (UINT64_C(1) << 1)  /* try once: -ETIMEDOUT at once if taken */
#define PYLOCKER_ACQUIRE_NO_DEADLOCK_CHECK (UINT64_C(1) << 2)  /* wait even where the wait closes a cycle
                                                                * of clients waiting for each other,
                                                                * instead of -EDEADLK (for a client whose
                                                                * other threads release what it waits on) */

/* Options of an acquire. NULL means all defaults; zeroes are defaults. */
typedef struct PylockerAcquireOptions {
        uint64_t timeout_usec;  /* 0: the locker's default timeout; PYLOCKER_INFINITY: wait forever */
        uint64_t ttl_usec;      /* lease; 0: the daemon's MaxLockTime (the most it allows anyway) */
        uint64_t flags;         /* PYLOCKER_ACQUIRE_* */
        uint64_t reserved[5];   /* must be zero */
} PylockerAcquireOptions;

#define PYLOCKER_ACQUIRE_OPTIONS_INIT { 0, 0, 0, { 0 } }

/* The seed's failure codes of acquire_lock(), from an acquire's negative return value. */
typedef enum PylockerAcquireCode {
        PYLOCKER_ACQUIRE_TIMED_OUT = 0,        /* -ETIMEDOUT: not had before the timeout */
        PYLOCKER_ACQUIRE_CONNECTION_LOST = 1,  /* -ECONNRESET: connection to the server lost */
        PYLOCKER_ACQUIRE_NOT_CONNECTED = 2,    /* -ENOTCONN: the locker is not connected */
        PYLOCKER_ACQUIRE_OTHER_ERROR = 3,      /* anything else: the message says what */
        PYLOCKER_ACQUIRE_SUCCESS = 4,          /* r >= 0 */
        PYLOCKER_ACQUIRE_DEADLOCK = 5          /* -EDEADLK: waiting would have closed a cycle of clients
                                                * waiting for each other, so the daemon refused it; the
                                                * message names the cycle. Retrying the same wait is no
                                                * use before a lock of the cycle is released */
} PylockerAcquireCode;

PylockerAcquireCode pylocker_acquire_code(int r);

/* The seed's codes of release(), as pylocker_locker_release() returns them (errors are negative). */
enum {
        PYLOCKER_RELEASE_NOT_FOUND = 0,   /* no such lock: already released or expired */
        PYLOCKER_RELEASE_RELEASED = 1     /* it was ours and is released now */
};

/* Why a held lock was lost. */
typedef enum PylockerLockLostReason {
        PYLOCKER_LOCK_LOST_EXPIRED = 0,       /* the daemon ended it: lease or MaxLockTime ran out, or an
                                               * admin's ForceRelease (the daemon's LockExpired signal, or
                                               * LOCK_LOST on the private socket) */
        PYLOCKER_LOCK_LOST_DISCONNECTED = 1,  /* the connection to pylockerd was lost or pylockerd exited */
        PYLOCKER_LOCK_LOST_NOT_FOUND = 2      /* gone without its lease running out: its handle was closed
                                               * (told by the daemon on the private socket), or a Refresh
                                               * found it gone */
} PylockerLockLostReason;

/* Called once per held lock that is lost; the lock is no longer held when it runs. */
typedef void (*PylockerLockLostFunc)(PylockerLocker *locker, PylockerLock *lock,
                                     PylockerLockLostReason reason, void *userdata);

/* Result of pylocker_locker_acquire_async(): r is 0 and lock a new reference (the callee owns it),
 * or r is a negative errno, lock NULL and error says why. error is only valid during the call. */
typedef void (*PylockerAcquireFunc)(PylockerLocker *locker, int r, PylockerLock *lock,
                                    const PylockerError *error, void *userdata);

/* Result of pylocker_locker_release_async(): r is a PYLOCKER_RELEASE_* code or a negative errno. */
typedef void (*PylockerReleaseFunc)(PylockerLocker *locker, int r, const PylockerError *error, void *userdata);

/* --- lockers --- */

/* Connects (private socket first, see PylockerPrivateSocket), registers with options->name and reads
 * the daemon's properties. options NULL: the system bus with every default. On success returns 0 and
 * *ret (one reference). */
int pylocker_locker_open(const PylockerLockerOptions *options, PylockerLocker **ret, PylockerError *error);

PylockerLocker *pylocker_locker_ref(PylockerLocker *locker);
/* Dropping the last reference disconnects (the daemon releases the locker's locks) and frees it,
 * without calling any callback: pending asynchronous calls are dropped, held locks just stop being
 * held. Lock objects the caller still has stay valid (not held, no locker). NULL is fine.
 * Returns NULL. */
PylockerLocker *pylocker_locker_unref(PylockerLocker *locker);

/* Disconnects. The daemon releases every lock of this connection at once; they are reported lost
 * (PYLOCKER_LOCK_LOST_DISCONNECTED) to the lost-lock callback, and pending asynchronous calls get
 * -ECANCELED, before this returns. Later calls give -ENOTCONN until pylocker_locker_restart(). */
int pylocker_locker_close(PylockerLocker *locker);

/* Connects afresh with the same options when the locker is closed or its connection was lost.
 * Returns 0 (also when it was connected: nothing is done), or a negative errno. */
int pylocker_locker_restart(PylockerLocker *locker, PylockerError *error);

/* 1 when connected and usable, 0 when closed or lost. */
int pylocker_locker_is_connected(const PylockerLocker *locker);
/* 1 when connected over the daemon's private socket, 0 over a bus. */
int pylocker_locker_is_direct(const PylockerLocker *locker);

/* Called for every held lock of this locker that is lost, unless the lock has its own callback
 * (pylocker_lock_set_lost_callback()). It runs from event processing (LockExpired, a dropped
 * connection) or from within the call that found the loss (a blocking call that saw the connection
 * go, a Refresh that found the lock gone, pylocker_locker_close()). */
int pylocker_locker_set_lock_lost_callback(PylockerLocker *locker, PylockerLockLostFunc callback,
                                           void *userdata);

/* Properties. Strings are owned by the locker and valid until it is restarted or freed; after a
 * close or a loss they keep the last connection's values. Version, MaxLockTime and DefaultTimeout
 * are read at open; on a bus they are kept current from the daemon's PropertiesChanged, on the
 * private socket each pylocker_locker_get_status() refreshes them. */
const char *pylocker_locker_get_name(const PylockerLocker *locker);
const char *pylocker_locker_get_client_id(const PylockerLocker *locker);
const char *pylocker_locker_get_server_version(const PylockerLocker *locker);
uint64_t pylocker_locker_get_max_lock_time(const PylockerLocker *locker);
/* The locker's own default timeout when set, else the daemon's DefaultTimeout. */
uint64_t pylocker_locker_get_default_timeout(const PylockerLocker *locker);
/* usec 0: follow the daemon's DefaultTimeout again. */
int pylocker_locker_set_default_timeout(PylockerLocker *locker, uint64_t usec);

/* The locks this locker holds, as far as it knows: acquired, and neither released nor reported lost.
 * Locks are borrowed (valid until released, lost or the next call that changes the set). */
size_t pylocker_locker_get_n_owned_locks(const PylockerLocker *locker);
PylockerLock *pylocker_locker_get_owned_lock(const PylockerLocker *locker, size_t index);

/* The daemon's properties, fetched fresh. */
typedef struct PylockerStatus {
        char version[64];
        uint64_t max_lock_time_usec;
        uint64_t default_timeout_usec;
        uint32_t lock_count;
        uint32_t waiter_count;
        uint32_t client_count;
        uint64_t flags;         /* none defined yet: 0 */
        uint64_t reserved[8];   /* zero */
} PylockerStatus;

int pylocker_locker_get_status(PylockerLocker *locker, PylockerStatus *ret, PylockerError *error);

/* Flags of a PylockerLockInfo. */
#define PYLOCKER_LOCK_INFO_SHARED (UINT64_C(1) << 0)    /* a shared (reader) lock; else exclusive */

/* One held lock, as ListLocks describes it. Times are CLOCK_REALTIME microseconds. */
typedef struct PylockerLockInfo {
        char *lock_id;
        char **paths;           /* NULL-terminated */
        char *owner_id;
        char *owner_name;       /* "" when the owner set none */
        uint64_t token;
        uint64_t acquired_usec;
        uint64_t expires_usec;
        uint64_t flags;         /* PYLOCKER_LOCK_INFO_* */
        uint64_t reserved[8];   /* zero */
} PylockerLockInfo;

/* Every lock the daemon holds, for anyone. *ret is an array of *ret_n entries; free it with
 * pylocker_lock_info_array_free(). */
int pylocker_locker_list_locks(PylockerLocker *locker, PylockerLockInfo **ret, size_t *ret_n,
                               PylockerError *error);
void pylocker_lock_info_array_free(PylockerLockInfo *infos, size_t n);

/* The seed's lockedPaths: every path held by anyone, sorted, without duplicates, as a
 * NULL-terminated array; free with pylocker_strv_free(). */
int pylocker_locker_get_locked_paths(PylockerLocker *locker, char ***ret, PylockerError *error);
void pylocker_strv_free(char **strv);

/* One client, as ListClients describes it. */
typedef struct PylockerClientInfo {
        char *client_id;
        char *name;
        uint32_t uid;
        uint32_t pid;
        char *transport;        /* "bus" (direct socket clients too, ids "direct-N") or "bridge" */
        uint64_t flags;         /* none defined yet: 0 */
        uint64_t reserved[8];   /* zero */
} PylockerClientInfo;

int pylocker_locker_list_clients(PylockerLocker *locker, PylockerClientInfo **ret, size_t *ret_n,
                                 PylockerError *error);
void pylocker_client_info_array_free(PylockerClientInfo *infos, size_t n);

/* The daemon's statistics (GetStatistics; since PYLOCKER_1.2), each under the daemon's key, in the
 * daemon's order; keys this library does not know come through too. */
typedef struct PylockerStatistic {
        char *name;             /* "grants", "clients", ... */
        uint64_t value;
} PylockerStatistic;

/* Log2 buckets: buckets[i] counts the samples of at most 2^i microseconds (not cumulative); the last
 * bucket counts the rest. */
typedef struct PylockerHistogram {
        char *name;             /* "wait_time_usec", "hold_time_usec" */
        uint64_t count;
        uint64_t sum_usec;
        uint64_t *buckets;
        size_t n_buckets;
} PylockerHistogram;

typedef struct PylockerContendedPath {
        char *path;
        uint64_t waits;         /* requests that waited for it (at most this many: see the docs) */
} PylockerContendedPath;

typedef struct PylockerStatistics {
        PylockerStatistic *values;
        size_t n_values;
        PylockerHistogram *histograms;
        size_t n_histograms;
        PylockerContendedPath *contended;   /* the most waited-for first */
        size_t n_contended;
        uint64_t reserved[8];   /* zero */
} PylockerStatistics;

/* Reads them over the locker's connection: GetStatistics on D-Bus, GET_STATS on the wire protocol
 * (the direct socket's default, the bridge), with the same keys. Free *ret with
 * pylocker_statistics_free(). */
int pylocker_locker_get_statistics(PylockerLocker *locker, PylockerStatistics **ret, PylockerError *error);
void pylocker_statistics_free(PylockerStatistics *statistics);

/* --- acquiring and releasing --- */

/* Locks every path of the NULL-terminated list at once (all or nothing). Blocks until granted, timed
 * out or failed. Returns 0 and *ret (a reference the caller owns; dropping it does not release the
 * lock), or a negative errno (see pylocker_acquire_code()). */
int pylocker_locker_acquire(PylockerLocker *locker, const char *const *paths,
                            const PylockerAcquireOptions *options, PylockerLock **ret, PylockerError *error);
/* The same for one path. */
int pylocker_locker_acquire_path(PylockerLocker *locker, const char *path,
                                 const PylockerAcquireOptions *options, PylockerLock **ret, PylockerError *error);

/* The same, without blocking: callback runs once, from the locker's event processing, with the
 * result (or with -ECANCELED when the locker is closed first). Returns 0 when the request is sent,
 * or a negative errno (and callback never runs). */
int pylocker_locker_acquire_async(PylockerLocker *locker, const char *const *paths,
                                  const PylockerAcquireOptions *options, PylockerAcquireFunc callback,
                                  void *userdata, PylockerError *error);

/* As pylocker_locker_acquire(), and the lock is also released by the daemon when every copy of
 * *ret_fd is closed, so it can be handed to another process. *ret_fd (O_CLOEXEC) is the caller's to
 * close. A lock released that way stays among the owned locks until released, refreshed or lost. */
int pylocker_locker_acquire_handle(PylockerLocker *locker, const char *const *paths,
                                   const PylockerAcquireOptions *options, PylockerLock **ret, int *ret_fd,
                                   PylockerError *error);

/* Releases a lock by id (any id: another client's gives -EPERM). Returns PYLOCKER_RELEASE_NOT_FOUND,
 * PYLOCKER_RELEASE_RELEASED or a negative errno. */
int pylocker_locker_release(PylockerLocker *locker, const char *lock_id, PylockerError *error);
int pylocker_locker_release_async(PylockerLocker *locker, const char *lock_id, PylockerReleaseFunc callback,
                                  void *userdata, PylockerError *error);

/* Releases a lock by id without waiting for the daemon's answer (since PYLOCKER_1.1). The lock leaves
 * the owned set at once (not held, no lost-lock callback for it). The request is written at once if
 * the socket takes it, else it stays queued and goes with the next write or processing. Nothing of
 * the answer comes back: on the direct socket a failure (another client's lock, an unknown one is no
 * failure) arrives as an error the library logs at debug level ($PYLOCKER_LOG_LEVEL=debug) and
 * otherwise drops; on a bus the daemon sends no answer at all. Returns 0 when the request is sent or
 * queued, or a negative errno: -EINVAL (not a lock id), -ENOTCONN, -ECONNRESET. */
int pylocker_locker_release_nowait(PylockerLocker *locker, const char *lock_id, PylockerError *error);

/* Admin: releases anyone's lock (its holder gets LockExpired). Same codes as release. */
int pylocker_locker_force_release(PylockerLocker *locker, const char *lock_id, PylockerError *error);

/* --- locks --- */

PylockerLock *pylocker_lock_ref(PylockerLock *lock);
/* NULL is fine. Returns NULL. Does not release the lock. */
PylockerLock *pylocker_lock_unref(PylockerLock *lock);

/* Strings are owned by the lock. NULL / 0 for a NULL lock. */
const char *pylocker_lock_get_id(const PylockerLock *lock);
uint64_t pylocker_lock_get_token(const PylockerLock *lock);
const char *const *pylocker_lock_get_paths(const PylockerLock *lock);
int pylocker_lock_get_shared(const PylockerLock *lock);
/* CLOCK_REALTIME microseconds the lease ends at: on a bus reckoned from the requested lease (or
 * MaxLockTime) when granted, exact after a refresh; on the private socket always the daemon's. */
uint64_t pylocker_lock_get_expires(const PylockerLock *lock);
/* 1 while held (neither released nor lost), else 0. */
int pylocker_lock_is_held(const PylockerLock *lock);

/* Releases this lock through its locker: as pylocker_locker_release(). */
int pylocker_lock_release(PylockerLock *lock, PylockerError *error);

/* Extends the lease by ttl_usec from now (0: MaxLockTime; never past MaxLockTime). Returns 0, or a
 * negative errno; -ENOENT when the lock is gone, which is also reported to the lost-lock callback. */
int pylocker_lock_refresh(PylockerLock *lock, uint64_t ttl_usec, PylockerError *error);

/* A callback for this lock alone, instead of its locker's. */
int pylocker_lock_set_lost_callback(PylockerLock *lock, PylockerLockLostFunc callback, void *userdata);

/* --- cleanup by scope (see pylocker-cleanup.h) --- */

/* Each drops what *p points to (NULL is fine) and sets *p to NULL. */
void pylocker_locker_unrefp(PylockerLocker **p);
void pylocker_lock_unrefp(PylockerLock **p);
void pylocker_strv_freep(char ***p);

#ifdef PYLOCKER_CLEANUP
#define PYLOCKER_CLEANUP_LOCKER PYLOCKER_CLEANUP(pylocker_locker_unrefp)
#define PYLOCKER_CLEANUP_LOCK PYLOCKER_CLEANUP(pylocker_lock_unrefp)
#define PYLOCKER_CLEANUP_STRV PYLOCKER_CLEANUP(pylocker_strv_freep)
#endif

/* Only when <glib.h> came first. */
#ifdef G_DEFINE_AUTOPTR_CLEANUP_FUNC
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PylockerLocker, pylocker_locker_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PylockerLock, pylocker_lock_unref)
#endif

/* --- event loops --- */

/* Lets an sd-event loop dispatch the locker (callbacks then run from it). priority as in
 * sd_event_source_set_priority(). One loop at a time; detach before attaching elsewhere. */
int pylocker_locker_attach_event(PylockerLocker *locker, struct sd_event *event, int64_t priority,
                                 PylockerError *error);
/* The same for a GLib main context (NULL: the global default), with a GSource of this priority. */
int pylocker_locker_attach_glib(PylockerLocker *locker, struct _GMainContext *context, int priority,
                                PylockerError *error);
int pylocker_locker_detach(PylockerLocker *locker);

/* Or drive it yourself: poll get_fd() for get_events() (poll(2) flags) until get_timeout()
 * (CLOCK_MONOTONIC microseconds, PYLOCKER_INFINITY for none), then call process() until it returns 0.
 * process() returns > 0 when it did something, 0 when idle, or a negative errno. wait() blocks up to
 * timeout_usec for something to process. Connection loss is not an error of process(): it is
 * reported to the lost-lock callbacks and process() returns > 0. */
int pylocker_locker_get_fd(PylockerLocker *locker);
int pylocker_locker_get_events(PylockerLocker *locker);
int pylocker_locker_get_timeout(PylockerLocker *locker, uint64_t *ret_usec);
int pylocker_locker_process(PylockerLocker *locker);
int pylocker_locker_wait(PylockerLocker *locker, uint64_t timeout_usec);

/* --- the process-wide default locker and the keyed registry (the seed's SingleLocker and
 * LockersFactory); thread-safe --- */

/* Flags of the registry calls. */
enum {
        PYLOCKER_REGISTRY_RESTART = 1 << 0,     /* a found locker that is closed or lost is restarted */
        PYLOCKER_REGISTRY_REGENERATE = 1 << 1   /* a found locker that is closed or lost is replaced by
                                                 * a new one, opened with options */
};

/* The one locker of the process: opened with options on the first call, shared afterwards (options
 * are then only used to regenerate). Returns a new reference. */
int pylocker_default_locker(const PylockerLockerOptions *options, unsigned flags, PylockerLocker **ret,
                            PylockerError *error);

/* The locker registered under key, opened with options and registered if there is none. Returns a
 * new reference; the same key gives the same locker. */
int pylocker_registry_get(const char *key, const PylockerLockerOptions *options, unsigned flags,
                          PylockerLocker **ret, PylockerError *error);
/* As get, and the locker leaves the registry (the next get makes a new one). */
int pylocker_registry_pop(const char *key, const PylockerLockerOptions *options, unsigned flags,
                          PylockerLocker **ret, PylockerError *error);
/* Drops the registry's references to every locker, the default one included. */
void pylocker_registry_clear(void);

#ifdef __cplusplus
}
#endif

#endif
