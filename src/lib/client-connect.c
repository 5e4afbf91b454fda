/* Opening a locker and its connection: the daemon's private socket first, else the system bus, the
 * session bus or a given address, or the bridge for a remote locker; registering, reading the
 * daemon's properties; closing and restarting. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include <pylocker/pylocker-client.h>

#include "bus-errors.h"
#include "client-internal.h"
#include "client-wire.h"
#include "lib-util.h"
#include "log.h"
#include "macro.h"
#include "sd-cleanup.h"

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

void locker_drop_connection(PylockerLocker *l) {
        loop_detach(l);
        wire_close(l);
        l->filter_slot = sd_bus_slot_unref(l->filter_slot);
        g_clear_pointer(&l->bus, sd_bus_flush_close_unref);
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

/* The bridge: the wire protocol inside a TLS session, as on the direct socket. */
static int locker_connect_remote(PylockerLocker *l, PylockerError *error) {
        int r;

        r = remote_open(l, error);
        if (r < 0)
                return r;
        return loop_attach(l);
}

/* The direct socket: the wire protocol, or D-Bus peer to peer with a daemon that speaks only that
 * there. Returns 0 when connected, 1 when the bus should be tried instead, or the daemon's refusal. */
static int locker_connect_direct(PylockerLocker *l, const char *path, PylockerError *error) {
        PylockerError direct_error = PYLOCKER_ERROR_INIT;
        int r;

        r = wire_open(l, path, &direct_error);
        if (r >= 0)
                return 0;
        if (r == -EPROTONOSUPPORT) {
                log_debug("pylocker: %s; trying D-Bus there.", direct_error.message);
                pylocker_error_clear(&direct_error);
                r = bus_new_direct(path, &l->bus);
                if (r >= 0) {
                        l->direct = true;
                        r = locker_handshake(l, &direct_error);
                        if (r >= 0)
                                return 0;
                        locker_drop_connection(l);
                } else
                        (void) pylocker_error_setf(&direct_error, r, "D-Bus on %s: %s", path, g_strerror(-r));
        }

        /* The daemon answered and refused (a taken name, say): the bus would too. */
        if (direct_error.name[0] && !error_name_is_connection_loss(direct_error.name)) {
                pylocker_error_copy(error, &direct_error);
                return r;
        }
        /* A stale socket, or a daemon without one: the bus still works. */
        log_debug("pylocker: %s; using the bus.", direct_error.message);
        return 1;
}

int locker_connect(PylockerLocker *l, PylockerError *error) {
        g_autofree char *path = NULL;
        int r;

        if (l->transport == PYLOCKER_TRANSPORT_REMOTE)
                return locker_connect_remote(l, error);

        path = private_socket_path(l);
        if (path && access(path, F_OK) >= 0) {
                r = locker_connect_direct(l, path, error);
                if (r < 0)
                        return r;
                if (r == 0)
                        return loop_attach(l);
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
        return loop_attach(l);
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
        l->owned = owned_locks_new();
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

_public_ int pylocker_locker_close(PylockerLocker *locker) {
        if (!locker)
                return -EINVAL;
        if (!locker_has_connection(locker))
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
        if (locker_has_connection(locker) && !locker->lost)
                return 0;

        (void) pylocker_locker_close(locker);
        return locker_connect(locker, error);
}
