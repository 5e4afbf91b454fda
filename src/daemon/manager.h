/* The daemon's state: event loop, bus connection, lock table, client registry and settings. */
#pragma once

#include <stdbool.h>

#include <glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bridge-listener.h"
#include "client.h"
#include "config.h"
#include "inbox.h"
#include "lock-table.h"
#include "pylocker-names.h"


typedef enum BusKind {
        BUS_KIND_SYSTEM,
        BUS_KIND_USER,
        BUS_KIND_ADDRESS,
} BusKind;

typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        BusKind bus_kind;
        sd_event_source *deadline_source;
        sd_event_source *message_deadline_source;
        LockTable *table;
        MessageStore *messages;
        GHashTable *clients;        /* client id → Client (owned) */
        GHashTable *client_names;   /* friendly name → Client */
        GHashTable *peer_clients;   /* sd_bus* of a peer-to-peer connection → Client */
        GHashTable *users;          /* uid → UserLimits, for every uid but 0 with a client */
        char *state_dir;            /* where the token ceiling is kept, or NULL */
        char *direct_socket_wanted; /* where to listen once the bus name is ours, or NULL */
        char *direct_socket_path;   /* where we listen */
        sd_event_source *direct_source;
        uint64_t n_direct_connections;
        BridgeListener *bridge;     /* the TCP bridge, when enabled */
        bool bridge_adopted;        /* its socket came from systemd */
        GHashTable *polkit_registry;  /* sd_bus_message* → pending or answered polkit query */
        uint64_t idle_exit_usec;      /* 0: never */
        sd_event_source *idle_source;
        bool exiting;
        sd_event_source *status_source;
        sd_event_source *status_timer;
        char *status_sent;
        uint64_t status_sent_usec;
        Config config;
        uid_t uid;                  /* our own; callers with it or uid 0 may manage */
} Manager;

/* The lock group of a uid's clients, shared limits for them all; NULL for root. Counted per client:
 * manager_user_group_get() for each client_new(), manager_user_group_put() for each free. */
LockGroup *manager_user_group_get(Manager *manager, uid_t uid);
void manager_user_group_put(Manager *manager, uid_t uid);

int manager_new(const Config *config, Manager **ret);
Manager *manager_free(Manager *manager);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Manager, manager_free)

/* Connects, starts serving the object and requests the bus name; READY=1 is sent once it is ours. */
int manager_connect_bus(Manager *manager, BusKind kind, const char *address);

/* Updates the lock limits and announces the changed properties. */
void manager_set_limits(Manager *manager, const LockTableLimits *limits);

int manager_run(Manager *manager);

/* Reads the bridge's secret and sets up its listener (no socket yet). Returns 0 or < 0, logged: a
 * bridge without a usable secret is a start-up error. */
int manager_enable_bridge(Manager *manager);

/* Arms the idle exit timer when nobody is connected, disarms it otherwise. */
void manager_update_idle(Manager *manager);
