/* The daemon: its event loop, the bus connection and bus name, the front ends around the service core,
 * idle exit and status. */
#pragma once

#include <stdbool.h>

#include <glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bridge-listener.h"
#include "bus-locker.h"
#include "config.h"
#include "etcd-gate.h"
#include "pylocker-names.h"
#include "service.h"
#include "wire-server.h"


typedef enum BusKind {
        BUS_KIND_SYSTEM,
        BUS_KIND_USER,
        BUS_KIND_ADDRESS,
} BusKind;

typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        BusKind bus_kind;
        Service *service;           /* what the daemon does */
        EtcdGate *etcd_gate;        /* with [Backend] Type=etcd: the cluster's order in front of the table */
        BusLocker *bus_locker;      /* the D-Bus front end on the bus and the peer connections */
        char *direct_socket_wanted; /* where to listen once the bus name is ours, or NULL */
        char *direct_socket_path;   /* where we listen */
        sd_event_source *direct_source;
        uint64_t n_direct_connections;  /* for the direct-N client ids */
        WireServer *wire_server;    /* the wire front end; each direct connection starts there */
        size_t n_direct_dbus_peers; /* direct connections that turned out to speak D-Bus */
        GHashTable *direct_users;   /* uid → its direct connections, wire and D-Bus alike */
        BridgeListener *bridge;     /* the TCP bridge, when enabled */
        bool bridge_adopted;        /* its socket came from systemd */
        uint64_t idle_exit_usec;      /* 0: never */
        sd_event_source *idle_source;
        bool exiting;
        bool ready_sent;
        sd_event_source *ready_timer;   /* READY=1 waits for etcd's session, this long at most */
        sd_event_source *status_source;
        sd_event_source *status_timer;
        char *status_sent;
        uint64_t status_sent_usec;
        Config config;
} Manager;

int manager_new(const Config *config, Manager **ret);
Manager *manager_free(Manager *manager);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Manager, manager_free)

/* Connects, starts serving the object and requests the bus name; READY=1 is sent once it is ours. */
int manager_connect_bus(Manager *manager, BusKind kind, const char *address);

int manager_run(Manager *manager);

/* Reads the bridge's secret and sets up its listener (no socket yet). Returns 0 or < 0, logged: a
 * bridge without a usable secret is a start-up error. */
int manager_enable_bridge(Manager *manager);

/* Arms the idle exit timer when nobody is connected, disarms it otherwise. */
void manager_update_idle(Manager *manager);
