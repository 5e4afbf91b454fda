/* A client of pylockerd: one bus peer (or bridge peer) with its identity, name and lock owner. */
#pragma once

#include <sys/types.h>

#include <glib.h>
#include <systemd/sd-bus.h>

#include "bus-polkit.h"
#include "inbox.h"
#include "lock-table.h"

typedef struct Manager Manager;

/* What polkit said about a client, kept while it is connected. */
typedef enum ClientAuth {
        CLIENT_AUTH_UNKNOWN,
        CLIENT_AUTH_ALLOWED,
        CLIENT_AUTH_DENIED,
} ClientAuth;

typedef enum ClientTransport {
        CLIENT_TRANSPORT_BUS,
        CLIENT_TRANSPORT_BRIDGE,
        _CLIENT_TRANSPORT_MAX,
} ClientTransport;

#define CLIENT_NAME_MAX 255

typedef struct Client {
        Manager *manager;
        char *id;                 /* unique bus name, or bridge-N */
        char *name;               /* friendly name, NULL when unset */
        char *address;            /* a bridge peer's "[ADDR]:PORT", shown as its name while it has none */
        uid_t uid;
        pid_t pid;
        ClientTransport transport;
        sd_bus *bus;              /* where to send its signals: the bus, or its own peer connection */
        LockOwner *owner;
        Inbox *inbox;
        ClientAuth authorized[_POLKIT_ACTION_MAX];
        uint64_t publish_window_start;   /* CLOCK_MONOTONIC second of the current window */
        unsigned publish_window_count;
} Client;

/* Creates a client and adds it to the manager's registry; the id must not be in use. */
Client *client_new(Manager *manager, const char *id, ClientTransport transport, sd_bus *bus, uid_t uid, pid_t pid);
/* Releases its locks, drops its waiting requests, removes it from the registry. */
Client *client_free(Client *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Client, client_free)

/* Sets or clears (NULL or "") the friendly name. Returns 0, -EEXIST (taken by another client) or
 * -EINVAL (too long, or a control character). */
int client_set_name(Client *client, const char *name);

/* Counts a publication against the per-second limit; false when over it. */
bool client_publish_allowed(Client *client, uint64_t monotonic_usec, unsigned per_second);

const char *client_transport_to_string(ClientTransport transport);

/* The name ListClients and ListLocks show: the friendly name, else a bridge peer's address, else "". */
const char *client_get_display_name(const Client *client);
