/* State shared by the parts of the D-Bus client: the locker, its locks and its pending calls. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <pylocker/pylocker-client.h>
#include <pylocker/pylocker-messages.h>

#include "pylocker-names.h"
#include "wire.h"


/* How much longer than the lock timeout a waiting Acquire's D-Bus call may take: the daemon answers
 * at the timeout at the latest, so this only covers a slow or stuck daemon. */
#define CALL_TIMEOUT_MARGIN_USEC (10 * UINT64_C(1000000))
/* Calls that the daemon answers at once. */
#define CALL_TIMEOUT_USEC (25 * UINT64_C(1000000))

typedef struct PendingCall PendingCall;
typedef struct WireConn WireConn;

struct PylockerLocker {
        gint n_ref;

        /* The options, copied, for restart. */
        PylockerTransport transport;
        char *address;
        char *remote;
        char *secret_file;
        char *name;
        uint64_t default_timeout_usec;
        PylockerPrivateSocket private_socket_mode;
        char *private_socket;

        sd_bus *bus;                    /* NULL when closed or on the wire */
        WireConn *wire;                 /* the wire protocol (client-wire.c), instead of bus: on the direct
                                         * socket, or inside the bridge's TLS session (client-remote.c) */
        bool direct;                    /* bus is peer to peer with the daemon on its private socket */
        bool lost;                      /* the connection or the daemon went away */
        sd_bus_slot *filter_slot;

        char *client_id;
        char *daemon_unique;            /* the daemon's unique bus name; NULL over the private socket */
        char *server_version;
        uint64_t max_lock_usec;
        uint64_t server_default_timeout_usec;

        GPtrArray *owned;               /* PylockerLock*, one reference each: the held locks */
        GPtrArray *locks;               /* PylockerLock*, weak: every lock pointing back here */
        GPtrArray *pending;             /* PendingCall*, owned */

        PylockerLockLostFunc lost_callback;
        void *lost_userdata;

        PylockerMessageFunc message_callback;
        void *message_userdata;

        /* The loop the locker is attached to, kept across restarts. */
        sd_event *event;
        int64_t event_priority;
        GMainContext *glib_context;
        int glib_priority;
        GSource *glib_source;
};

struct PylockerLock {
        gint n_ref;
        PylockerLocker *locker;         /* weak, cleared when the locker is freed */
        char *id;
        char **paths;
        uint64_t token;
        bool shared;
        bool held;
        uint64_t expires_usec;
        PylockerLockLostFunc lost_callback;
        void *lost_userdata;
};

/* Connected (not closed), whether on a bus or on the wire. */
static inline bool locker_has_connection(const PylockerLocker *l) {
        return l->bus || l->wire;
}

/* client.c */
/* D-Bus errors that mean the daemon or the connection is gone. */
bool error_name_is_connection_loss(const char *name);
/* A new owned set: one lock reference each. */
GPtrArray *owned_locks_new(void);
/* The signal filter of a connection (userdata: the locker). */
int locker_filter(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
int locker_check_usable(PylockerLocker *l, PylockerError *error);
int locker_new_call(PylockerLocker *l, const char *member, sd_bus_message **ret, PylockerError *error);
int locker_call(PylockerLocker *l, sd_bus_message *m, uint64_t timeout_usec, sd_bus_message **ret_reply,
                PylockerError *error);
/* Turns a failed call (r, and the D-Bus error if any) into our error; connection errors mark the
 * locker lost. */
int locker_map_error(PylockerLocker *l, int r, const sd_bus_error *bus_error, const char *what,
                     PylockerError *error);
/* Marks the connection lost (once): detaches it from the loop and reports every held lock lost. */
void locker_set_lost(PylockerLocker *l);
void locker_lose_all(PylockerLocker *l, PylockerLockLostReason reason);
void locker_lose_lock(PylockerLocker *l, PylockerLock *lock, PylockerLockLostReason reason);
/* Drops a lock from the owned set without telling anyone (released by the caller's request). */
void locker_forget_lock(PylockerLocker *l, PylockerLock *lock);
PylockerLock *locker_find_owned(PylockerLocker *l, const char *id);
int locker_read_properties(sd_bus_message *reply, PylockerStatus *status);

/* client-connect.c */
/* Connects as the locker's options say: registers and reads the daemon's properties. */
int locker_connect(PylockerLocker *l, PylockerError *error);
/* Closes the connection (if any) and forgets what belonged to it; the locks are the caller's. */
void locker_drop_connection(PylockerLocker *l);

/* client-lock.c */
/* An asynchronous call: exactly one of the callbacks is set (none for an abandoned one). */
struct PendingCall {
        PylockerLocker *locker;
        sd_bus_slot *slot;
        /* On the wire: the request's serial, when a stuck daemon counts as gone (CLOCK_MONOTONIC),
         * whether its grant brings a handle, and what takes the reply (and frees the call). A blocking
         * call that gave up waiting is left here abandoned, so that a late grant is given back. */
        uint32_t serial;
        uint64_t deadline_usec;
        bool handle;
        bool abandoned;
        void (*wire_reply)(PylockerLocker *l, PendingCall *p, const WireMessage *m, int fd);
        /* Acquire: what the lock object will say; the reply does not repeat it. */
        char **paths;
        bool shared;
        uint64_t ttl_usec;
        PylockerAcquireFunc acquire_callback;
        /* Release. */
        char *lock_id;
        PylockerReleaseFunc release_callback;
        /* Publish. */
        PylockerPublishFunc publish_callback;
        void *userdata;
};

PendingCall *pending_call_free(PendingCall *p);
/* Takes a call out of its locker's list, when its reply came. */
void pending_call_detach(PendingCall *p);
/* Sends m with handler(reply, p) for the answer; on failure frees p. */
int pending_call_send(PylockerLocker *l, sd_bus_message *m, uint64_t call_timeout, PendingCall *p,
                      sd_bus_message_handler_t handler, PylockerError *error);
PylockerLock *lock_new(PylockerLocker *l, const char *id, const char *const *paths, uint64_t token, bool shared,
                       uint64_t expires_usec);
/* Drops every pending call; with a negative code their callbacks get it, with 0 they are not called. */
void pending_call_fail_all(PylockerLocker *l, int code);

/* client-messages.c */
/* MessagePublished from the daemon: to the message callback. */
void locker_on_message_published(PylockerLocker *l, sd_bus_message *m);
/* A publication received, on the bus or the wire, to the message callback. */
void locker_deliver_message(PylockerLocker *l, const char *publication_id, const char *sender, const char *message,
                            uint64_t expires_usec);

/* client-loop.c */
int loop_attach(PylockerLocker *l);
void loop_detach(PylockerLocker *l);

/* client-remote.c */
/* Connects to the bridge at l->remote (HOST:PORT) with the secret in l->secret_file, does the TLS
 * handshake and says HELLO inside: l->wire is set on success. */
int remote_open(PylockerLocker *l, PylockerError *error);

/* Fills error unless it is NULL, from another error. */
void pylocker_error_copy(PylockerError *dst, const PylockerError *src);
