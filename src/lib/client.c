/* The locker handle: calls and their errors, what the daemon tells us unasked (LockExpired,
 * PropertiesChanged, its own disappearance), and the held locks it ends. Connecting is in
 * client-connect.c, the daemon's lists and status in client-info.c. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include <pylocker/pylocker-client.h>

#include "bus-options.h"
#include "client-internal.h"
#include "lib-util.h"
#include "macro.h"
#include "sd-cleanup.h"


void pylocker_error_copy(PylockerError *dst, const PylockerError *src) {
        if (dst && src && dst != src)
                *dst = *src;
}

static bool errno_is_connection_loss(int r) {
        return r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE || r == -ESHUTDOWN || r == -ECONNABORTED;
}

bool error_name_is_connection_loss(const char *name) {
        static const char *const names[] = {
                SD_BUS_ERROR_NO_REPLY,          /* the daemon died with our call, or never answered */
                SD_BUS_ERROR_SERVICE_UNKNOWN,   /* its unique name is gone */
                SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                SD_BUS_ERROR_DISCONNECTED,
                SD_BUS_ERROR_NO_SERVER,         /* pylockerd is shutting down */
        };

        if (!name)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(name, names[i]) == 0)
                        return true;
        /* sd-bus's own name for an errno of the connection (the peer hung up during a call): not
         * the daemon's answer. */
        if (g_str_has_prefix(name, "System.Error.")) {
                const sd_bus_error e = SD_BUS_ERROR_MAKE_CONST(name, NULL);

                return errno_is_connection_loss(-sd_bus_error_get_errno(&e));
        }
        return false;
}

int locker_map_error(PylockerLocker *l, int r, const sd_bus_error *bus_error, const char *what,
                     PylockerError *error) {
        bool has_name = bus_error && sd_bus_error_is_set(bus_error);

        if ((has_name && error_name_is_connection_loss(bus_error->name)) ||
            (!has_name && errno_is_connection_loss(r)) || (l && l->lost)) {
                const char *detail = has_name && bus_error->message ? bus_error->message : g_strerror(-r);

                /* Whatever we held is gone with the daemon or the connection: say so to the holders
                 * now, not at the next event. */
                if (l && locker_has_connection(l))
                        locker_set_lost(l);
                return pylocker_error_setf(error, -ECONNRESET, "%s: connection to pylockerd lost: %s", what,
                                           detail);
        }

        if (has_name) {
                r = sd_bus_error_get_errno(bus_error);
                if (r <= 0)
                        r = EIO;
                if (r == EDEADLK)
                        /* The daemon's text names the cycle; ours says what it means for the caller. */
                        r = pylocker_error_setf(error, -r, "%s: would deadlock: %s", what,
                                                bus_error->message ?: bus_error->name);
                else
                        r = pylocker_error_setf(error, -r, "%s: %s", what, bus_error->message ?: bus_error->name);
                if (error)
                        (void) g_strlcpy(error->name, bus_error->name, sizeof(error->name));
                return r;
        }

        if (r >= 0)
                r = -EIO;
        return pylocker_error_setf(error, r, "%s: %s", what, g_strerror(-r));
}

int locker_check_usable(PylockerLocker *l, PylockerError *error) {
        if (!locker_has_connection(l))
                return pylocker_error_setf(error, -ENOTCONN, "The locker is not connected.");
        if (l->lost)
                return pylocker_error_setf(error, -ECONNRESET, "The connection to pylockerd was lost.");
        return 0;
}

int locker_new_call(PylockerLocker *l, const char *member, sd_bus_message **ret, PylockerError *error) {
        int r;

        r = locker_check_usable(l, error);
        if (r < 0)
                return r;

        /* On the bus, calls go to the daemon instance that knows our locks, not to whoever owns
         * the name later: a restarted daemon answers ServiceUnknown instead of pretending. */
        r = sd_bus_message_new_method_call(l->bus, ret, l->direct ? NULL : l->daemon_unique ?: PYLOCKER_BUS_NAME,
                                           PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE, member);
        if (r < 0)
                return locker_map_error(l, r, NULL, member, error);
        return 0;
}

int locker_call(PylockerLocker *l, sd_bus_message *m, uint64_t timeout_usec, sd_bus_message **ret_reply,
                PylockerError *error) {
        g_auto(sd_bus_error) bus_error = SD_BUS_ERROR_NULL;
        g_autoptr(sd_bus_message) reply = NULL;
        int r;

        r = locker_check_usable(l, error);
        if (r < 0)
                return r;

        r = sd_bus_call(l->bus, m, timeout_usec, &bus_error, &reply);
        if (r < 0)
                return locker_map_error(l, r, &bus_error, sd_bus_message_get_member(m), error);

        if (ret_reply)
                *ret_reply = g_steal_pointer(&reply);
        return 0;
}

PylockerLock *locker_find_owned(PylockerLocker *l, const char *id) {
        for (guint i = 0; i < l->owned->len; i++) {
                PylockerLock *lock = l->owned->pdata[i];

                if (strcmp(lock->id, id) == 0)
                        return lock;
        }
        return NULL;
}

void locker_forget_lock(PylockerLocker *l, PylockerLock *lock) {
        lock->held = false;
        /* Drops the set's reference; lock may be gone after this. */
        (void) g_ptr_array_remove(l->owned, lock);
}

static void call_lost_callback(PylockerLocker *l, PylockerLock *lock, PylockerLockLostReason reason) {
        if (lock->lost_callback)
                lock->lost_callback(l, lock, reason, lock->lost_userdata);
        else if (l->lost_callback)
                l->lost_callback(l, lock, reason, l->lost_userdata);
}

void locker_lose_lock(PylockerLocker *l, PylockerLock *lock, PylockerLockLostReason reason) {
        /* Keep both alive through the callback, which may drop its references. */
        pylocker_locker_ref(l);
        pylocker_lock_ref(lock);
        locker_forget_lock(l, lock);
        call_lost_callback(l, lock, reason);
        pylocker_lock_unref(lock);
        pylocker_locker_unref(l);
}

static void lock_unref_void(gpointer lock) {
        pylocker_lock_unref(lock);
}

GPtrArray *owned_locks_new(void) {
        return g_ptr_array_new_with_free_func(lock_unref_void);
}

void locker_set_lost(PylockerLocker *l) {
        if (l->lost)
                return;
        l->lost = true;
        /* Nothing more will come from this connection; a closed socket would only wake the loop
         * in vain. A restart attaches the new one. */
        loop_detach(l);
        pylocker_locker_ref(l);
        locker_lose_all(l, PYLOCKER_LOCK_LOST_DISCONNECTED);
        /* Their replies would never be dispatched now. */
        pending_call_fail_all(l, -ECONNRESET);
        pylocker_locker_unref(l);
}

void locker_lose_all(PylockerLocker *l, PylockerLockLostReason reason) {
        g_autoptr(GPtrArray) lost = NULL;

        pylocker_locker_ref(l);
        /* Taken out first: a callback may acquire again (and fail) without seeing these. */
        lost = g_steal_pointer(&l->owned);
        l->owned = owned_locks_new();
        for (guint i = 0; i < lost->len; i++)
                ((PylockerLock *) lost->pdata[i])->held = false;
        for (guint i = 0; i < lost->len; i++)
                call_lost_callback(l, lost->pdata[i], reason);
        g_clear_pointer(&lost, g_ptr_array_unref);
        pylocker_locker_unref(l);
}

/* The interface's properties as GetAll and PropertiesChanged give them: read into a status, with the
 * version borrowed from the message until it is copied. */
typedef struct PropertiesRead {
        PylockerStatus status;
        const char *version;
} PropertiesRead;

static const BusOption properties[] = {
        { "Version",        BUS_OPTION_STRING, offsetof(PropertiesRead, version) },
        { "MaxLockTime",    BUS_OPTION_UINT64, offsetof(PropertiesRead, status.max_lock_time_usec) },
        { "DefaultTimeout", BUS_OPTION_UINT64, offsetof(PropertiesRead, status.default_timeout_usec) },
        { "LockCount",      BUS_OPTION_UINT32, offsetof(PropertiesRead, status.lock_count) },
        { "WaiterCount",    BUS_OPTION_UINT32, offsetof(PropertiesRead, status.waiter_count) },
        { "ClientCount",    BUS_OPTION_UINT32, offsetof(PropertiesRead, status.client_count) },
};

/* Reads an a{sv} of the interface's properties into status; absent ones keep their values, unknown
 * ones are skipped (a newer daemon may have more). */
int locker_read_properties(sd_bus_message *m, PylockerStatus *status) {
        PropertiesRead p = { .status = *status };
        int r;

        r = bus_options_read_full(m, properties, ELEMENTSOF(properties), BUS_OPTIONS_SKIP_UNKNOWN, &p,
                                  /* error= */ NULL);
        if (r < 0)
                return r;
        if (p.version)
                (void) g_strlcpy(p.status.version, p.version, sizeof(p.status.version));
        *status = p.status;
        return 0;
}

static void on_lock_expired(PylockerLocker *l, sd_bus_message *m) {
        const char *id;
        PylockerLock *lock;

        if (sd_bus_message_read(m, "s", &id) < 0)
                return;
        lock = locker_find_owned(l, id);
        if (lock)
                locker_lose_lock(l, lock, PYLOCKER_LOCK_LOST_EXPIRED);
}

static void on_properties_changed(PylockerLocker *l, sd_bus_message *m) {
        PylockerStatus status = {
                .max_lock_time_usec = l->max_lock_usec,
                .default_timeout_usec = l->server_default_timeout_usec,
        };
        const char *iface;

        if (sd_bus_message_read(m, "s", &iface) < 0 || strcmp(iface, PYLOCKER_INTERFACE) != 0)
                return;
        if (locker_read_properties(m, &status) < 0)
                return;
        l->max_lock_usec = status.max_lock_time_usec;
        l->server_default_timeout_usec = status.default_timeout_usec;
}

static void on_name_owner_changed(PylockerLocker *l, sd_bus_message *m) {
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return;
        if (!l->daemon_unique || strcmp(old_owner, l->daemon_unique) != 0 ||
            strcmp(new_owner, l->daemon_unique) == 0)
                return;
        /* Our daemon instance gave up the name or exited: the locks went with it. */
        locker_set_lost(l);
}

/* One filter instead of matches: the signals we want are unicast (LockExpired, MessagePublished), local
 * (Disconnected), or matched on the bus by the AddMatch rules sent at connect. */
int locker_filter(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        PylockerLocker *l = userdata;
        const char *sender = sd_bus_message_get_sender(m);
        bool from_daemon;

        if (!sd_bus_message_is_signal(m, NULL, NULL))
                return 0;

        if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.Local", "Disconnected")) {
                locker_set_lost(l);
                return 0;
        }

        if (l->direct)
                /* Peer to peer: only the daemon is on the other end. */
                from_daemon = true;
        else
                /* Anyone on the bus can send us a signal; only the daemon's count. */
                from_daemon = sender && l->daemon_unique && strcmp(sender, l->daemon_unique) == 0;

        if (from_daemon && sd_bus_message_is_signal(m, PYLOCKER_INTERFACE, "LockExpired") &&
            g_strcmp0(sd_bus_message_get_path(m), PYLOCKER_OBJECT_PATH) == 0)
                on_lock_expired(l, m);
        else if (from_daemon && sd_bus_message_is_signal(m, PYLOCKER_INTERFACE, "MessagePublished") &&
                 g_strcmp0(sd_bus_message_get_path(m), PYLOCKER_OBJECT_PATH) == 0)
                locker_on_message_published(l, m);
        else if (from_daemon && sd_bus_message_is_signal(m, "org.freedesktop.DBus.Properties", "PropertiesChanged") &&
                 g_strcmp0(sd_bus_message_get_path(m), PYLOCKER_OBJECT_PATH) == 0)
                on_properties_changed(l, m);
        else if (!l->direct && g_strcmp0(sender, "org.freedesktop.DBus") == 0 &&
                 sd_bus_message_is_signal(m, "org.freedesktop.DBus", "NameOwnerChanged"))
                on_name_owner_changed(l, m);
        return 0;
}

_public_ PylockerLocker *pylocker_locker_ref(PylockerLocker *locker) {
        if (locker)
                g_atomic_int_inc(&locker->n_ref);
        return locker;
}

static void locker_free(PylockerLocker *l) {
        /* No callbacks from here: nobody holds the locker any more to receive them. */
        pending_call_fail_all(l, 0);
        for (guint i = 0; i < l->locks->len; i++) {
                PylockerLock *lock = l->locks->pdata[i];

                lock->locker = NULL;
                lock->held = false;
        }
        g_ptr_array_set_size(l->locks, 0);
        g_clear_pointer(&l->owned, g_ptr_array_unref);
        locker_drop_connection(l);
        g_clear_pointer(&l->event, sd_event_unref);
        g_clear_pointer(&l->glib_context, g_main_context_unref);
        g_ptr_array_unref(l->locks);
        g_ptr_array_unref(l->pending);
        g_free(l->address);
        g_free(l->remote);
        g_free(l->secret_file);
        g_free(l->name);
        g_free(l->private_socket);
        g_free(l->client_id);
        g_free(l->server_version);
        g_free(l);
}

_public_ PylockerLocker *pylocker_locker_unref(PylockerLocker *locker) {
        if (locker && g_atomic_int_dec_and_test(&locker->n_ref))
                locker_free(locker);
        return NULL;
}

_public_ void pylocker_locker_unrefp(PylockerLocker **p) {
        if (p)
                *p = pylocker_locker_unref(*p);
}

_public_ int pylocker_locker_is_connected(const PylockerLocker *locker) {
        return locker && locker_has_connection(locker) && !locker->lost;
}

_public_ int pylocker_locker_is_direct(const PylockerLocker *locker) {
        if (!locker)
                return 0;
        /* The direct socket speaks the wire protocol, or D-Bus to an older daemon. */
        return locker->transport != PYLOCKER_TRANSPORT_REMOTE && (locker->wire || (locker->bus && locker->direct));
}

_public_ int pylocker_locker_set_lock_lost_callback(PylockerLocker *locker, PylockerLockLostFunc callback,
                                                    void *userdata) {
        if (!locker)
                return -EINVAL;
        locker->lost_callback = callback;
        locker->lost_userdata = userdata;
        return 0;
}

_public_ const char *pylocker_locker_get_name(const PylockerLocker *locker) {
        return locker ? locker->name : NULL;
}

_public_ const char *pylocker_locker_get_client_id(const PylockerLocker *locker) {
        return locker ? locker->client_id : NULL;
}

_public_ const char *pylocker_locker_get_server_version(const PylockerLocker *locker) {
        return locker ? locker->server_version : NULL;
}

_public_ uint64_t pylocker_locker_get_max_lock_time(const PylockerLocker *locker) {
        return locker ? locker->max_lock_usec : 0;
}

_public_ uint64_t pylocker_locker_get_default_timeout(const PylockerLocker *locker) {
        if (!locker)
                return 0;
        return locker->default_timeout_usec ?: locker->server_default_timeout_usec;
}

_public_ int pylocker_locker_set_default_timeout(PylockerLocker *locker, uint64_t usec) {
        if (!locker)
                return -EINVAL;
        locker->default_timeout_usec = usec;
        return 0;
}

_public_ size_t pylocker_locker_get_n_owned_locks(const PylockerLocker *locker) {
        return locker ? locker->owned->len : 0;
}

_public_ PylockerLock *pylocker_locker_get_owned_lock(const PylockerLocker *locker, size_t index) {
        if (!locker || index >= locker->owned->len)
                return NULL;
        return locker->owned->pdata[index];
}

_public_ PylockerAcquireCode pylocker_acquire_code(int r) {
        if (r >= 0)
                return PYLOCKER_ACQUIRE_SUCCESS;
        switch (r) {
        case -ETIMEDOUT:
                return PYLOCKER_ACQUIRE_TIMED_OUT;
        case -ECONNRESET:
                return PYLOCKER_ACQUIRE_CONNECTION_LOST;
        case -ENOTCONN:
                return PYLOCKER_ACQUIRE_NOT_CONNECTED;
        case -EDEADLK:
                return PYLOCKER_ACQUIRE_DEADLOCK;
        default:
                return PYLOCKER_ACQUIRE_OTHER_ERROR;
        }
}
