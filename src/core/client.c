/* A client of the service: identity, name, lock owner and inbox. */
#include <errno.h>
#include <string.h>

#include "client.h"
#include "service-internal.h"

G_STATIC_ASSERT(CLIENT_N_ACTIONS == _SERVICE_ACTION_MAX);

/* The lock group of a uid's clients, shared limits for them all; NULL for root. It stays while locks
 * of the user's gone clients are being released, so that a new client of the user finds them
 * counted. */
typedef struct UserLimits {
        LockGroup *group;
        unsigned n_clients;
} UserLimits;

static void user_limits_free(gpointer p) {
        UserLimits *u = p;

        lock_group_unref(u->group);
        g_free(u);
}

static LockGroup *user_group_get(Service *service, uid_t uid) {
        UserLimits *u;

        /* Root is trusted not to starve others; everyone else shares per-user limits. */
        if (uid == 0)
                return NULL;

        if (!service->users)
                service->users = g_hash_table_new_full(NULL, NULL, NULL, user_limits_free);
        u = g_hash_table_lookup(service->users, GUINT_TO_POINTER(uid));
        if (!u) {
                u = g_new0(UserLimits, 1);
                u->group = lock_group_new(service->table);
                g_hash_table_insert(service->users, GUINT_TO_POINTER(uid), u);
        }
        u->n_clients++;
        return u->group;
}

static bool user_limits_unused(const UserLimits *u) {
        return u->n_clients == 0 && lock_group_get_n_locks(u->group) + lock_group_get_n_waiters(u->group) == 0 &&
               lock_group_get_n_bytes(u->group) == 0;
}

static void user_group_put(Service *service, uid_t uid) {
        UserLimits *u = uid == 0 ? NULL : g_hash_table_lookup(service->users, GUINT_TO_POINTER(uid));

        if (u && --u->n_clients == 0 && user_limits_unused(u))
                g_hash_table_remove(service->users, GUINT_TO_POINTER(uid));
}

static gboolean user_limits_unused_cb(gpointer key, gpointer value, gpointer userdata) {
        return user_limits_unused(value);
}

void service_users_sweep(Service *service) {
        if (service->users)
                g_hash_table_foreach_remove(service->users, user_limits_unused_cb, NULL);
}

static void clients_changed(Service *service) {
        if (service->callbacks && service->callbacks->on_clients_changed)
                service->callbacks->on_clients_changed(service, service->userdata);
}

/* For the statistics: a bus client's id is its unique name (":1.42"); the other clients of the bus
 * transport came through the direct socket (wire or D-Bus peer to peer). */
static ServiceStatsTransport client_stats_transport(const Client *client) {
        if (client->transport == CLIENT_TRANSPORT_BRIDGE)
                return SERVICE_STATS_TRANSPORT_BRIDGE;
        return client->id[0] == ':' ? SERVICE_STATS_TRANSPORT_BUS : SERVICE_STATS_TRANSPORT_DIRECT;
}

Client *client_new(Service *service, const char *id, ClientTransport transport, uid_t uid, pid_t pid,
                   const ClientOps *ops, void *link) {
        Client *client = g_new0(Client, 1);

        client->service = service;
        client->id = g_strdup(id);
        client->transport = transport;
        client->uid = uid;
        client->pid = pid;
        client->ops = ops;
        client->link = link;
        client->owner = lock_owner_new(service->table, user_group_get(service, uid), client);
        client->inbox = inbox_new(service->messages, client);
        inbox_set_group(client->inbox, uid == 0 ? NULL : lock_owner_get_group(client->owner));

        g_assert_false(g_hash_table_contains(service->clients, client->id));
        g_hash_table_insert(service->clients, client->id, client);
        service->stats.connections[client_stats_transport(client)]++;
        service->stats.clients[client_stats_transport(client)]++;
        clients_changed(service);
        return client;
}

Client *client_free(Client *client) {
        Service *service;
        bool reap;

        if (!client)
                return NULL;

        service = client->service;
        service_client_gone(service, client);
        /* Thousands of locks would hold the loop for seconds: they go in batches (service_reap()). */
        lock_owner_retire(client->owner, &reap);
        if (reap)
                service_schedule_reap(service);
        inbox_free(client->inbox);
        user_group_put(service, client->uid);
        if (client->name)
                g_hash_table_remove(service->client_names, client->name);
        g_hash_table_remove(service->clients, client->id);
        service->stats.clients[client_stats_transport(client)]--;
        if (client->ops && client->ops->disconnect)
                client->ops->disconnect(client);
        g_free(client->name);
        g_free(client->address);
        g_free(client->id);
        g_free(client);
        clients_changed(service);
        return NULL;
}

bool client_name_looks_like_id(const char *name) {
        const char *digits;

        if (name[0] == ':')
                return true;   /* a bus's unique name */
        digits = g_str_has_prefix(name, "direct-") ? name + strlen("direct-") :
                 g_str_has_prefix(name, "bridge-") ? name + strlen("bridge-") : NULL;
        if (!digits || !*digits)
                return false;
        for (const char *p = digits; *p; p++)
                if (!g_ascii_isdigit(*p))
                        return false;
        return true;
}

int client_set_name(Client *client, const char *name) {
        GHashTable *names = client->service->client_names;
        Client *holder;

        if (name && *name == 0)
                name = NULL;
        if (name) {
                if (strlen(name) > CLIENT_NAME_MAX)
                        return -EINVAL;
                for (const char *p = name; *p; p++)
                        if ((unsigned char) *p < 0x20 || *p == 0x7f)
                                return -EINVAL;
                /* Receivers are looked up by id first: a name shaped like an id would pass for
                 * another client, now or once a client with that id connects. */
                if (client_name_looks_like_id(name))
                        return -EINVAL;
                holder = g_hash_table_lookup(names, name);
                if (holder == client)
                        return 0;
                if (holder)
                        return -EEXIST;
        }

        if (client->name) {
                g_hash_table_remove(names, client->name);
                g_clear_pointer(&client->name, g_free);
        }
        if (name) {
                client->name = g_strdup(name);
                g_hash_table_insert(names, client->name, client);
        }
        return 0;
}

bool client_publish_allowed(Client *client, uint64_t monotonic_usec, unsigned per_second) {
        uint64_t second = monotonic_usec / 1000000;

        if (second != client->publish_window_start) {
                client->publish_window_start = second;
                client->publish_window_count = 0;
        }
        if (client->publish_window_count >= per_second)
                return false;
        client->publish_window_count++;
        return true;
}

const char *client_get_display_name(const Client *client) {
        return client->name ?: client->address ?: "";
}

const char *client_transport_to_string(ClientTransport transport) {
        static const char *const table[_CLIENT_TRANSPORT_MAX] = {
                [CLIENT_TRANSPORT_BUS] = "bus",
                [CLIENT_TRANSPORT_BRIDGE] = "bridge",
        };

        return transport >= 0 && transport < _CLIENT_TRANSPORT_MAX ? table[transport] : NULL;
}
