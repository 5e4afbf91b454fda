/* A client of pylockerd: one bus peer (or bridge peer) with its identity, name and lock owner. */
#include <errno.h>
#include <string.h>

#include "client.h"
#include "manager.h"

Client *client_new(Manager *manager, const char *id, ClientTransport transport, sd_bus *bus, uid_t uid, pid_t pid) {
        Client *client = g_new0(Client, 1);

        client->manager = manager;
        client->id = g_strdup(id);
        client->transport = transport;
        client->bus = sd_bus_ref(bus);
        client->uid = uid;
        client->pid = pid;
        client->owner = lock_owner_new(manager->table, manager_user_group_get(manager, uid), client);
        client->inbox = inbox_new(manager->messages, client);

        g_assert_false(g_hash_table_contains(manager->clients, client->id));
        g_hash_table_insert(manager->clients, client->id, client);
        manager_update_idle(manager);
        if (!sd_bus_is_bus_client(bus))
                g_hash_table_insert(manager->peer_clients, bus, client);
        return client;
}

Client *client_free(Client *client) {
        Manager *manager;

        if (!client)
                return NULL;

        manager = client->manager;
        lock_owner_free(client->owner);
        manager_user_group_put(manager, client->uid);
        inbox_free(client->inbox);
        if (client->name)
                g_hash_table_remove(manager->client_names, client->name);
        g_hash_table_remove(manager->clients, client->id);
        if (g_hash_table_remove(manager->peer_clients, client->bus)) {
                /* A peer-to-peer connection is the client's own: it goes with it. */
                (void) sd_bus_detach_event(client->bus);
                sd_bus_flush_close_unref(client->bus);
        } else
                sd_bus_unref(client->bus);
        g_free(client->name);
        g_free(client->address);
        g_free(client->id);
        g_free(client);
        manager_update_idle(manager);
        return NULL;
}

int client_set_name(Client *client, const char *name) {
        GHashTable *names = client->manager->client_names;
        Client *holder;

        if (name && *name == 0)
                name = NULL;
        if (name) {
                if (strlen(name) > CLIENT_NAME_MAX)
                        return -EINVAL;
                for (const char *p = name; *p; p++)
                        if ((unsigned char) *p < 0x20 || *p == 0x7f)
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
