/* The D-Bus front end of the service: the org.pylocker.Locker object on the bus and on peer-to-peer
 * connections. It reads each call into a request, asks the core, and writes the answer. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>
#include <systemd/sd-bus.h>

#include "service.h"

typedef struct BusLocker {
        Service *service;
        sd_bus *bus;                  /* the bus connection, for polkit and PropertiesChanged; or NULL */
        GHashTable *peer_clients;     /* sd_bus* of a peer-to-peer connection → Client */
        GHashTable *polkit_registry;  /* sd_bus_message* → pending or answered polkit query */
        sd_event *event;              /* for deferred drops of peers over their output cap */
        size_t max_queued_bytes;      /* per peer connection: more queued for it and it is dropped */
        uint64_t flush_deadline;      /* CLOCK_MONOTONIC: flushing a peer on the way out stops here */
} BusLocker;

/* The default of MaxQueuedBytesPerConnection. */
#define BUS_MAX_QUEUED_BYTES_DEFAULT (16u << 20)
/* Messages queued on the bus connection itself past which signals to bus clients are dropped (they
 * still find their messages in the inbox): one client that does not read must not hold the bus. */
#define BUS_MAX_QUEUED_SIGNALS 4096

BusLocker *bus_locker_new(Service *service);
/* Frees the peer clients and cancels pending polkit queries. */
BusLocker *bus_locker_free(BusLocker *locker);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BusLocker, bus_locker_free)

/* Serves the object and the authorization filter on a connection: the bus, or a peer's. */
int bus_locker_add_object(BusLocker *locker, sd_bus *bus);

/* A peer-to-peer connection becomes a client; the client owns the connection from now on and
 * closes it when it goes. */
Client *bus_locker_add_peer(BusLocker *locker, sd_bus *bus, const char *id, ClientTransport transport,
                            uid_t uid, pid_t pid);
/* The client of a peer-to-peer connection, or NULL. */
Client *bus_locker_get_peer(BusLocker *locker, sd_bus *bus);
/* Flushes the connection's output, giving up at deadline (CLOCK_MONOTONIC µs) whatever the peer does:
 * 0 all written, -ETIMEDOUT given up. */
int bus_flush_until(sd_bus *bus, uint64_t deadline);
/* On the way out: flushes every peer connection until deadline at the latest and closes them, so that
 * none holds the exit (sd-bus's own exit handler would flush without end). */
void bus_locker_close_peers(BusLocker *locker, uint64_t deadline);
/* A bus name went away: its client goes. */
void bus_locker_name_gone(BusLocker *locker, const char *name);
/* A limit changed (the core's on_limit_changed): PropertiesChanged for it on the bus. */
void bus_locker_limit_changed(BusLocker *locker, const char *property);
