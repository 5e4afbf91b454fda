/* The direct socket: the wire protocol, or D-Bus peer to peer, on a private unix socket; the bus
 * daemon's two hops saved. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "direct-socket.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "peer-bus.h"
#include "sd-cleanup.h"

/* Root and the daemon's own user are trusted not to starve others (as with the per-user lock
 * limits), and must be able to connect whatever the others do: no per-user cap for them, and the
 * last sixteenth of MaxDirectConnections is theirs alone. */
static bool direct_user_exempt(uid_t uid) {
        return uid == 0 || uid == geteuid();
}

static unsigned direct_user_get(Manager *manager, uid_t uid) {
        return manager->direct_users ? GPOINTER_TO_UINT(g_hash_table_lookup(manager->direct_users,
                                                                            GUINT_TO_POINTER(uid))) : 0;
}

static void direct_user_add(Manager *manager, uid_t uid, int delta) {
        unsigned n = direct_user_get(manager, uid);

        if (direct_user_exempt(uid))
                return;
        g_assert(delta > 0 || n > 0);
        n += delta;
        if (!manager->direct_users)
                manager->direct_users = g_hash_table_new(NULL, NULL);
        if (n == 0)
                g_hash_table_remove(manager->direct_users, GUINT_TO_POINTER(uid));
        else
                g_hash_table_insert(manager->direct_users, GUINT_TO_POINTER(uid), GUINT_TO_POINTER(n));
}

static int on_peer_disconnected(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *manager = userdata;
        sd_bus *bus = sd_bus_message_get_bus(message);
        Client *client = bus_locker_get_peer(manager->bus_locker, bus);

        /* Its locks and waiters go now, as with a bus client's disconnect. */
        if (client) {
                log_debug("Client %s disconnected.", client->id);
                direct_user_add(manager, client->uid, -1);
                client_free(client);
                g_assert(manager->n_direct_dbus_peers > 0);
                manager->n_direct_dbus_peers--;
        }
        return 0;
}

/* The client's first byte was 0: D-Bus peer to peer, served as before the wire protocol. */
static void on_dbus_peer(WireServer *server, int fd, const WirePeer *peer, void *userdata) {
        Manager *manager = userdata;
        g_autoptr(sd_bus) bus = NULL;
        int r;

        r = peer_bus_new(manager->bus_locker, manager->event, fd, PEER_BUS_ALLOW_FDS, "direct", on_peer_disconnected,
                         manager, &bus);
        if (r < 0) {
                direct_user_add(manager, peer->uid, -1);
                return;
        }

        (void) bus_locker_add_peer(manager->bus_locker, bus, peer->id, peer->transport, peer->uid, peer->pid);
        manager->n_direct_dbus_peers++;
        /* The client owns the connection now; our cleanup would close it. */
        sd_bus_unref(g_steal_pointer(&bus));
        log_debug("Client %s connected over D-Bus (uid %u, pid %d).", peer->id, (unsigned) peer->uid, (int) peer->pid);
}

static void on_wire_closed(WireServer *server, ClientTransport transport, uid_t uid, void *userdata) {
        /* Bridge peers have the bridge's own caps (MaxConnections, MaxConnectionsPerAddress). */
        if (transport == CLIENT_TRANSPORT_BUS)
                direct_user_add(userdata, uid, -1);
}

static const WireServerCallbacks direct_wire_callbacks = {
        .on_dbus_peer = on_dbus_peer,
        .on_closed = on_wire_closed,
};

int direct_socket_init(Manager *manager) {
        WireServerSettings settings = WIRE_SERVER_SETTINGS_DEFAULT;

        /* A connection that says nothing may hold its slot as long as a bridge handshake may take. */
        settings.hello_timeout_usec = manager->config.bridge.handshake_timeout_usec;
        settings.idle_timeout_usec = manager->config.idle_timeout_usec;
        return wire_server_new(manager->event, manager->service, manager->bus_locker, &settings,
                               &direct_wire_callbacks, manager, &manager->wire_server);
}

static int direct_connection_start(Manager *manager, int fd) {
        _cleanup_close_ int fd_owned = fd;
        g_autofree char *id = NULL;
        struct ucred ucred;
        socklen_t length = sizeof(ucred);
        size_t n;

        /* Wire clients, D-Bus peers and those that have not said which yet, alike. */
        n = wire_server_get_n_connections(manager->wire_server, CLIENT_TRANSPORT_BUS) + manager->n_direct_dbus_peers;
        if (n >= manager->config.max_direct_connections)
                return log_warning_errno(EMFILE, "Refusing direct connection: %u connections already.",
                                         manager->config.max_direct_connections);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &ucred, &length) < 0)
                return log_warning_errno(errno, "Failed to read peer credentials: %m");

        if (!direct_user_exempt(ucred.uid)) {
                unsigned max = manager->config.max_direct_connections;

                /* At debug level: each refusal is of the one user's doing, and would flood the log. */
                if (direct_user_get(manager, ucred.uid) >= manager->config.max_direct_connections_per_user)
                        return log_debug_errno(EMFILE, "Refusing direct connection of uid %u: %u connections "
                                               "already (MaxDirectConnectionsPerUser).", (unsigned) ucred.uid,
                                               manager->config.max_direct_connections_per_user);
                if (n >= max - max / 16)
                        return log_debug_errno(EMFILE, "Refusing direct connection of uid %u: the last %u "
                                               "connections are kept for root.", (unsigned) ucred.uid, max / 16);
        }
        direct_user_add(manager, ucred.uid, 1);

        /* Its first bytes tell a wire client from a D-Bus one; the wire server reads them, never
         * waiting for them. */
        id = g_strdup_printf("direct-%" G_GUINT64_FORMAT, ++manager->n_direct_connections);
        return wire_server_add_unix(manager->wire_server, steal_fd(&fd_owned),
                                    &(WirePeer) {
                                            .id = id,
                                            .transport = CLIENT_TRANSPORT_BUS,
                                            .uid = ucred.uid,
                                            .pid = ucred.pid,
                                    });
}

static int on_direct_connection(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Manager *manager = userdata;
        int connection;

        connection = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (connection < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(errno, "Failed to accept direct connection, ignoring: %m");
                return 0;
        }

        /* A failed connection affects nobody else: it was logged, its fd is closed. */
        (void) direct_connection_start(manager, connection);
        return 0;
}

int direct_socket_adopt(Manager *manager, int fd) {
        int r;

        r = sd_event_add_io(manager->event, &manager->direct_source, fd, EPOLLIN, on_direct_connection, manager);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the direct socket: %m");
        (void) sd_event_source_set_io_fd_own(manager->direct_source, true);
        (void) sd_event_source_set_description(manager->direct_source, "direct-socket");
        return 0;
}

int direct_socket_listen(Manager *manager, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        g_autofree char *dir = g_path_get_dirname(path);
        _cleanup_close_ int fd = -1;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(ENAMETOOLONG, "Direct socket path is too long: %s", path);
        strcpy(sa.sun_path, path);

        if (g_mkdir_with_parents(dir, 0755) < 0)
                return log_error_errno(errno, "Failed to create %s: %m", dir);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create the direct socket: %m");

        /* A stale socket of an earlier instance: we own the bus name, so nobody else serves it. */
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return log_error_errno(errno, "Failed to bind the direct socket %s: %m", path);
        /* Everyone may connect, as everyone may call us on the bus; the same rules apply. */
        if (chmod(path, 0666) < 0)
                return log_error_errno(errno, "Failed to make %s accessible: %m", path);
        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(errno, "Failed to listen on %s: %m", path);

        r = direct_socket_adopt(manager, fd);
        if (r < 0)
                return r;
        steal_fd(&fd);

        manager->direct_socket_path = g_strdup(path);
        log_debug("Listening on direct socket %s.", path);
        return 0;
}

void direct_socket_close(Manager *manager) {
        manager->direct_source = sd_event_source_disable_unref(manager->direct_source);
        if (manager->direct_socket_path) {
                (void) unlink(manager->direct_socket_path);
                g_clear_pointer(&manager->direct_socket_path, g_free);
        }
}
