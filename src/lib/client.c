/* The locker handle: connecting (private socket first, then the bus), what the daemon tells us
 * unasked (LockExpired, PropertiesChanged, its own disappearance), calls and their errors. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include <pylocker/pylocker-client.h>

#include "bus-errors.h"
#include "bus-options.h"
#include "client-internal.h"
#include "lib-util.h"
#include "macro.h"
#include "sd-cleanup.h"


void pylocker_error_copy(PylockerError *dst, const PylockerError *src) {
        if (dst && src && dst != src)
                *dst = *src;
}

static bool error_name_is_connection_loss(const char *name) {
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
        return false;
}

static bool errno_is_connection_loss(int r) {
        return r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE || r == -ESHUTDOWN || r == -ECONNABORTED;
}

int locker_map_error(PylockerLocker *l, int r, const sd_bus_error *bus_error, const char *what,
                     PylockerError *error) {
        bool has_name = bus_error && sd_bus_error_is_set(bus_error);

        if ((has_name && error_name_is_connection_loss(bus_error->name)) ||
            (!has_name && errno_is_connection_loss(r)) || (l && l->lost)) {
                const char *detail = has_name && bus_error->message ? bus_error->message : g_strerror(-r);

                /* Whatever we held is gone with the daemon or the connection: say so to the holders
                 * now, not at the next event. */
                if (l && l->bus)
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
        if (!l->bus)
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

void locker_set_lost(PylockerLocker *l) {
        if (l->lost)
                return;
        l->lost = true;
        /* Nothing more will come from this connection; a closed socket would only wake the loop
         * in vain. A restart attaches the new one. */
        loop_detach_bus(l);
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
        l->owned = g_ptr_array_new_with_free_func(lock_unref_void);
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
static int locker_filter(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
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

/* D-Bus address values escape everything but a few safe bytes. */
static char *address_escape(const char *s) {
        GString *out = g_string_new(NULL);

        for (const char *p = s; *p; p++)
                if (g_ascii_isalnum(*p) || strchr("-_/.\\*", *p))
                        g_string_append_c(out, *p);
                else
                        g_string_append_printf(out, "%%%02x", (unsigned char) *p);
        return g_string_free(out, FALSE);
}

static char *private_socket_path(PylockerLocker *l) {
        const char *runtime;

        if (l->private_socket_mode == PYLOCKER_PRIVATE_SOCKET_DISABLED)
                return NULL;
        if (l->private_socket)
                return g_strdup(l->private_socket);
        switch (l->transport) {
        case PYLOCKER_TRANSPORT_SYSTEM:
                return g_strdup(PYLOCKER_PRIVATE_SOCKET_SYSTEM);
        case PYLOCKER_TRANSPORT_USER:
                runtime = getenv("XDG_RUNTIME_DIR");
                return runtime && runtime[0] == '/' ? g_build_filename(runtime, PYLOCKER_PRIVATE_SOCKET_RUNTIME, NULL) : NULL;
        default:
                /* A daemon on a given address listens privately only where it is told. */
                return NULL;
        }
}

/* A connection to a D-Bus address: to the bus daemon (bus_client) or peer to peer with pylockerd. */
static int bus_new_at(const char *address, bool bus_client, sd_bus **ret) {
        g_autoptr(sd_bus) bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r < 0)
                return r;
        r = sd_bus_set_bus_client(bus, bus_client);
        if (r < 0)
                return r;
        r = sd_bus_negotiate_fds(bus, 1);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = g_steal_pointer(&bus);
        return 0;
}

static int bus_new_direct(const char *path, sd_bus **ret) {
        g_autofree char *escaped = address_escape(path), *address = NULL;

        address = g_strconcat("unix:path=", escaped, NULL);
        /* Peer to peer with the daemon itself: no Hello, calls carry no destination. */
        return bus_new_at(address, /* bus_client= */ false, ret);
}

static int bus_new_bus(PylockerLocker *l, sd_bus **ret) {
        switch (l->transport) {
        case PYLOCKER_TRANSPORT_SYSTEM:
                return sd_bus_open_system(ret);
        case PYLOCKER_TRANSPORT_USER:
                return sd_bus_open_user(ret);
        case PYLOCKER_TRANSPORT_ADDRESS:
                return bus_new_at(l->address, /* bus_client= */ true, ret);
        default:
                return -EOPNOTSUPP;
        }
}

static void locker_drop_connection(PylockerLocker *l) {
        loop_detach_bus(l);
        l->filter_slot = sd_bus_slot_unref(l->filter_slot);
        g_clear_pointer(&l->bus, sd_bus_flush_close_unref);
        g_clear_pointer(&l->remote_link, remote_link_close);
        g_clear_pointer(&l->daemon_unique, g_free);
        l->direct = false;
        l->lost = false;
}

static int add_match_async(sd_bus *bus, const char *rule) {
        /* The reply is not waited for: the daemon processes it before our next message. */
        return sd_bus_call_method_async(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "AddMatch", NULL, NULL, "s", rule);
}

/* Registers on the current connection and reads the daemon's properties. */
static int locker_handshake(PylockerLocker *l, PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        PylockerStatus status = {};
        const char *client_id;
        int r;

        r = sd_bus_add_filter(l->bus, &l->filter_slot, locker_filter, l);
        if (r < 0)
                return pylocker_error_setf(error, r, "Failed to add signal filter: %s", g_strerror(-r));

        if (!l->direct) {
                r = add_match_async(l->bus, "type='signal',sender='org.freedesktop.DBus',"
                                    "path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',"
                                    "member='NameOwnerChanged',arg0='" PYLOCKER_BUS_NAME "'");
                if (r >= 0)
                        r = add_match_async(l->bus, "type='signal',sender='" PYLOCKER_BUS_NAME "',"
                                            "path='" PYLOCKER_OBJECT_PATH "',"
                                            "interface='org.freedesktop.DBus.Properties',"
                                            "member='PropertiesChanged',arg0='" PYLOCKER_INTERFACE "'");
                if (r < 0)
                        return locker_map_error(l, r, NULL, "AddMatch", error);
        }

        r = locker_new_call(l, "Register", &m, error);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", l->name ?: "");
        if (r < 0)
                return locker_map_error(l, r, NULL, "Register", error);
        r = locker_call(l, m, CALL_TIMEOUT_USEC, &reply, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &client_id);
        if (r < 0)
                return locker_map_error(l, r, NULL, "Register", error);
        g_free(l->client_id);
        l->client_id = g_strdup(client_id);
        if (!l->direct) {
                const char *sender = sd_bus_message_get_sender(reply);

                if (!sender)
                        return pylocker_error_setf(error, -EPROTO, "Register: reply without a sender.");
                l->daemon_unique = g_strdup(sender);
        }

        /* Now addressed to the daemon's unique name. */
        g_clear_pointer(&reply, sd_bus_message_unref);
        r = sd_bus_call_method(l->bus, l->direct ? NULL : l->daemon_unique, PYLOCKER_OBJECT_PATH,
                               "org.freedesktop.DBus.Properties", "GetAll", NULL, &reply, "s", PYLOCKER_INTERFACE);
        if (r < 0)
                return locker_map_error(l, r, NULL, "GetAll", error);
        r = locker_read_properties(reply, &status);
        if (r < 0)
                return locker_map_error(l, r, NULL, "GetAll", error);
        g_free(l->server_version);
        l->server_version = g_strdup(status.version);
        l->max_lock_usec = status.max_lock_time_usec;
        l->server_default_timeout_usec = status.default_timeout_usec;
        return 0;
}

/* The bridge: peer to peer with the daemon, as on its private socket, through the TLS transport. */
static int locker_connect_remote(PylockerLocker *l, PylockerError *error) {
        g_autoptr(sd_bus) bus = NULL;
        int fd, r;

        r = remote_link_open(l->remote, l->secret_file, CALL_TIMEOUT_USEC, &l->remote_link, &fd, error);
        if (r < 0)
                return r;

        r = sd_bus_new(&bus);
        if (r >= 0) {
                r = sd_bus_set_fd(bus, fd, fd);
                if (r < 0)
                        (void) close(fd);
        } else
                (void) close(fd);
        /* The secret authenticated us; inside TLS we are anonymous. No fds cross TCP. */
        if (r >= 0)
                r = sd_bus_set_anonymous(bus, 1);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 0);
        if (r >= 0)
                r = sd_bus_negotiate_fds(bus, 0);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                g_clear_pointer(&l->remote_link, remote_link_close);
                return pylocker_error_setf(error, r, "Failed to start the connection to %s: %s", l->remote,
                                           g_strerror(-r));
        }
        l->bus = g_steal_pointer(&bus);
        l->direct = true;

        r = locker_handshake(l, error);
        if (r < 0) {
                locker_drop_connection(l);
                return r;
        }
        return loop_attach_bus(l);
}

static int locker_connect(PylockerLocker *l, PylockerError *error) {
        g_autofree char *path = NULL;
        int r;

        if (l->transport == PYLOCKER_TRANSPORT_REMOTE)
                return locker_connect_remote(l, error);

        path = private_socket_path(l);
        if (path && access(path, F_OK) >= 0) {
                PylockerError direct_error = PYLOCKER_ERROR_INIT;

                r = bus_new_direct(path, &l->bus);
                if (r >= 0) {
                        l->direct = true;
                        r = locker_handshake(l, &direct_error);
                        if (r >= 0)
                                return loop_attach_bus(l);
                        /* The daemon answered and refused (a taken name, say): the bus would too. */
                        if (direct_error.name[0] && !error_name_is_connection_loss(direct_error.name)) {
                                pylocker_error_copy(error, &direct_error);
                                locker_drop_connection(l);
                                return r;
                        }
                        locker_drop_connection(l);
                }
                /* A stale socket, or a daemon without one: the bus still works. */
        }

        r = bus_new_bus(l, &l->bus);
        if (r < 0)
                return pylocker_error_setf(error, r, "cannot reach org.pylocker.Locker on the %s bus%s%s: %s",
                                           l->transport == PYLOCKER_TRANSPORT_SYSTEM ? "system" :
                                           l->transport == PYLOCKER_TRANSPORT_USER ? "session" : "D-Bus",
                                           l->address ? " at " : "", l->address ?: "", g_strerror(-r));
        r = locker_handshake(l, error);
        if (r < 0) {
                locker_drop_connection(l);
                return r;
        }
        return loop_attach_bus(l);
}

static int options_check(const PylockerLockerOptions *o, PylockerError *error) {
        for (size_t i = 0; i < ELEMENTSOF(o->reserved); i++)
                if (o->reserved[i])
                        return pylocker_error_setf(error, -EINVAL, "Reserved option fields must be zero.");
        if (o->flags)
                return pylocker_error_setf(error, -EINVAL, "Unknown locker flags 0x%" PRIx64 ".", o->flags);

        switch (o->transport) {
        case PYLOCKER_TRANSPORT_SYSTEM:
        case PYLOCKER_TRANSPORT_USER:
                break;
        case PYLOCKER_TRANSPORT_ADDRESS:
                if (!o->address || !o->address[0])
                        return pylocker_error_setf(error, -EINVAL, "No D-Bus address given.");
                break;
        case PYLOCKER_TRANSPORT_REMOTE:
                if (!o->remote || !o->remote[0] || !strchr(o->remote, ':'))
                        return pylocker_error_setf(error, -EINVAL, "Remote lockers need HOST:PORT.");
                if (!o->secret_file || !o->secret_file[0])
                        return pylocker_error_setf(error, -EINVAL, "Remote lockers need a secret file.");
                break;
        default:
                return pylocker_error_setf(error, -EINVAL, "Unknown transport %d.", (int) o->transport);
        }

        if (o->private_socket_mode != PYLOCKER_PRIVATE_SOCKET_AUTO &&
            o->private_socket_mode != PYLOCKER_PRIVATE_SOCKET_DISABLED)
                return pylocker_error_setf(error, -EINVAL, "Unknown private socket mode %d.",
                                           (int) o->private_socket_mode);
        if (o->private_socket && o->private_socket[0] != '/')
                return pylocker_error_setf(error, -EINVAL, "The private socket path must be absolute: '%s'.",
                                           o->private_socket);
        if (o->name && strchr(o->name, '\n'))
                return pylocker_error_setf(error, -EINVAL, "Client names are one line.");
        return 0;
}

_public_ int pylocker_locker_open(const PylockerLockerOptions *options, PylockerLocker **ret, PylockerError *error) {
        static const PylockerLockerOptions defaults = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerLocker *l;
        int r;

        pylocker_error_clear(error);
        if (!ret)
                return pylocker_error_setf(error, -EINVAL, "No place for the locker given.");
        if (!options)
                options = &defaults;
        r = options_check(options, error);
        if (r < 0)
                return r;

        /* Error codes must mean the same in every process that uses us. */
        r = sd_bus_error_add_map(pylocker_bus_error_map);
        if (r < 0)
                return pylocker_error_setf(error, r, "Failed to register D-Bus error names: %s", g_strerror(-r));

        l = g_new0(PylockerLocker, 1);
        l->n_ref = 1;
        l->transport = options->transport;
        l->address = g_strdup(options->address);
        l->remote = g_strdup(options->remote);
        l->secret_file = g_strdup(options->secret_file);
        l->name = g_strdup(options->name);
        l->default_timeout_usec = options->default_timeout_usec;
        l->private_socket_mode = options->private_socket_mode;
        l->private_socket = g_strdup(options->private_socket);
        l->owned = g_ptr_array_new_with_free_func(lock_unref_void);
        l->locks = g_ptr_array_new();
        l->pending = g_ptr_array_new();

        r = locker_connect(l, error);
        if (r < 0) {
                pylocker_locker_unref(l);
                return r;
        }
        *ret = l;
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

_public_ int pylocker_locker_close(PylockerLocker *locker) {
        if (!locker)
                return -EINVAL;
        if (!locker->bus)
                return 0;

        pylocker_locker_ref(locker);
        locker_drop_connection(locker);
        /* The daemon drops every lock of a closed connection; the holders hear it from us. */
        locker_lose_all(locker, PYLOCKER_LOCK_LOST_DISCONNECTED);
        pending_call_fail_all(locker, -ECANCELED);
        pylocker_locker_unref(locker);
        return 0;
}

_public_ int pylocker_locker_restart(PylockerLocker *locker, PylockerError *error) {
        pylocker_error_clear(error);
        if (!locker)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");
        if (locker->bus && !locker->lost)
                return 0;

        (void) pylocker_locker_close(locker);
        return locker_connect(locker, error);
}

_public_ int pylocker_locker_is_connected(const PylockerLocker *locker) {
        return locker && locker->bus && !locker->lost;
}

_public_ int pylocker_locker_is_direct(const PylockerLocker *locker) {
        return locker && locker->bus && locker->direct && !locker->remote_link;
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

_public_ int pylocker_locker_get_status(PylockerLocker *locker, PylockerStatus *ret, PylockerError *error) {
        g_auto(sd_bus_error) bus_error = SD_BUS_ERROR_NULL;
        g_autoptr(sd_bus_message) reply = NULL;
        PylockerStatus status = {};
        int r;

        pylocker_error_clear(error);
        if (!locker || !ret)
                return pylocker_error_setf(error, -EINVAL, "No locker or no place for the status given.");
        r = locker_check_usable(locker, error);
        if (r < 0)
                return r;

        r = sd_bus_call_method(locker->bus, locker->direct ? NULL : locker->daemon_unique, PYLOCKER_OBJECT_PATH,
                               "org.freedesktop.DBus.Properties", "GetAll", &bus_error, &reply, "s",
                               PYLOCKER_INTERFACE);
        if (r < 0)
                return locker_map_error(locker, r, &bus_error, "GetAll", error);
        r = locker_read_properties(reply, &status);
        if (r < 0)
                return locker_map_error(locker, r, NULL, "GetAll", error);

        locker->max_lock_usec = status.max_lock_time_usec;
        locker->server_default_timeout_usec = status.default_timeout_usec;
        *ret = status;
        return 0;
}

static void lock_info_clear(PylockerLockInfo *info) {
        g_free(info->lock_id);
        g_strfreev(info->paths);
        g_free(info->owner_id);
        g_free(info->owner_name);
}

_public_ void pylocker_lock_info_array_free(PylockerLockInfo *infos, size_t n) {
        if (!infos)
                return;
        for (size_t i = 0; i < n; i++)
                lock_info_clear(&infos[i]);
        g_free(infos);
}

static int read_lock_infos(sd_bus_message *reply, GArray *infos) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(sassstbtt)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'r', "sassstbtt")) > 0) {
                PylockerLockInfo info = {};
                const char *id, *owner, *owner_name;
                int shared;

                r = sd_bus_message_read(reply, "s", &id);
                if (r < 0)
                        return r;
                r = sd_bus_message_read_strv(reply, &info.paths);
                if (r < 0)
                        return r;
                r = sd_bus_message_read(reply, "sstbtt", &owner, &owner_name, &info.token, &shared,
                                        &info.acquired_usec, &info.expires_usec);
                if (r < 0) {
                        g_strfreev(info.paths);
                        return r;
                }
                info.lock_id = g_strdup(id);
                info.owner_id = g_strdup(owner);
                info.owner_name = g_strdup(owner_name);
                info.flags = shared ? PYLOCKER_LOCK_INFO_SHARED : 0;
                g_array_append_val(infos, info);

                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

_public_ int pylocker_locker_list_locks(PylockerLocker *locker, PylockerLockInfo **ret, size_t *ret_n,
                                        PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        GArray *infos;
        int r;

        pylocker_error_clear(error);
        if (!locker || !ret || !ret_n)
                return pylocker_error_setf(error, -EINVAL, "No locker or no place for the locks given.");

        r = locker_new_call(locker, "ListLocks", &m, error);
        if (r < 0)
                return r;
        r = locker_call(locker, m, CALL_TIMEOUT_USEC, &reply, error);
        if (r < 0)
                return r;

        infos = g_array_new(FALSE, TRUE, sizeof(PylockerLockInfo));
        r = read_lock_infos(reply, infos);
        if (r < 0) {
                size_t n = infos->len;

                pylocker_lock_info_array_free((PylockerLockInfo *) (void *) g_array_free(infos, FALSE), n);
                return locker_map_error(locker, r, NULL, "ListLocks", error);
        }
        *ret_n = infos->len;
        *ret = (PylockerLockInfo *) (void *) g_array_free(infos, FALSE);
        return 0;
}

_public_ void pylocker_strv_free(char **strv) {
        g_strfreev(strv);
}

_public_ void pylocker_strv_freep(char ***p) {
        if (p)
                g_clear_pointer(p, g_strfreev);
}

/* g_ptr_array_sort() passes pointers to the elements. */
static gint compare_strp(gconstpointer a, gconstpointer b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

_public_ int pylocker_locker_get_locked_paths(PylockerLocker *locker, char ***ret, PylockerError *error) {
        g_autoptr(GHashTable) seen = NULL;
        g_autoptr(GPtrArray) paths = NULL;
        PylockerLockInfo *infos;
        size_t n;
        int r;

        if (!ret) {
                pylocker_error_clear(error);
                return pylocker_error_setf(error, -EINVAL, "No place for the paths given.");
        }
        r = pylocker_locker_list_locks(locker, &infos, &n, error);
        if (r < 0)
                return r;

        seen = g_hash_table_new(g_str_hash, g_str_equal);
        paths = g_ptr_array_new();
        for (size_t i = 0; i < n; i++)
                for (char **p = infos[i].paths; p && *p; p++)
                        if (g_hash_table_add(seen, *p))
                                g_ptr_array_add(paths, g_strdup(*p));
        pylocker_lock_info_array_free(infos, n);

        g_ptr_array_sort(paths, compare_strp);
        g_ptr_array_add(paths, NULL);
        *ret = (char **) g_ptr_array_free(g_steal_pointer(&paths), FALSE);
        return 0;
}

_public_ void pylocker_client_info_array_free(PylockerClientInfo *infos, size_t n) {
        if (!infos)
                return;
        for (size_t i = 0; i < n; i++) {
                g_free(infos[i].client_id);
                g_free(infos[i].name);
                g_free(infos[i].transport);
        }
        g_free(infos);
}

_public_ int pylocker_locker_list_clients(PylockerLocker *locker, PylockerClientInfo **ret, size_t *ret_n,
                                          PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        g_autoptr(GArray) infos = NULL;
        const char *id, *name, *transport;
        uint32_t uid, pid;
        size_t n;
        int r;

        pylocker_error_clear(error);
        if (!locker || !ret || !ret_n)
                return pylocker_error_setf(error, -EINVAL, "No locker or no place for the clients given.");

        r = locker_new_call(locker, "ListClients", &m, error);
        if (r < 0)
                return r;
        r = locker_call(locker, m, CALL_TIMEOUT_USEC, &reply, error);
        if (r < 0)
                return r;

        infos = g_array_new(FALSE, TRUE, sizeof(PylockerClientInfo));
        r = sd_bus_message_enter_container(reply, 'a', "(ssuus)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(ssuus)", &id, &name, &uid, &pid, &transport)) > 0) {
                PylockerClientInfo info = {
                        .client_id = g_strdup(id),
                        .name = g_strdup(name),
                        .uid = uid,
                        .pid = pid,
                        .transport = g_strdup(transport),
                };
                g_array_append_val(infos, info);
        }
        if (r < 0) {
                n = infos->len;
                pylocker_client_info_array_free((PylockerClientInfo *) (void *) g_array_free(g_steal_pointer(&infos),
                                                                                            FALSE), n);
                return locker_map_error(locker, r, NULL, "ListClients", error);
        }
        *ret_n = infos->len;
        *ret = (PylockerClientInfo *) (void *) g_array_free(g_steal_pointer(&infos), FALSE);
        return 0;
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
