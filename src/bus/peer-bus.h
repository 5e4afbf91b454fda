/* One peer-to-peer sd-bus server connection serving org.pylocker.Locker: the direct socket's and the
 * bridge's. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>

#include <systemd/sd-event.h>

#include "bus-locker.h"

typedef enum PeerBusFlags {
        PEER_BUS_ANONYMOUS  = 1 << 0,  /* the peer was authenticated otherwise (the bridge's secret) */
        PEER_BUS_ALLOW_FDS  = 1 << 1,  /* unix fds may cross (AcquireHandle) */
} PeerBusFlags;

/* Takes fd (closed on failure too), serves the object and the authorization filter on it, attached to
 * loop; on_disconnected runs when the peer goes. */
int peer_bus_new(BusLocker *locker, sd_event *event, int fd, PeerBusFlags flags, const char *description,
                 sd_bus_message_handler_t on_disconnected, void *userdata, sd_bus **ret);
