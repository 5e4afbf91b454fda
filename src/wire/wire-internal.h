/* Between the parts of the wire front end: the server's state and what connections ask of it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>
#include <systemd/sd-event.h>

#include "service.h"
#include "wire-connection.h"
#include "wire-server.h"

struct WireServer {
        sd_event *event;
        Service *service;
        BusLocker *polkit;
        WireServerSettings settings;
        const WireServerCallbacks *callbacks;
        void *userdata;

        int epoll_fd;                   /* every connection's transport fd */
        sd_event_source *io_source;     /* the one source: epoll_fd readable */
        sd_event_source *defer_source;  /* another round: buffered frames, output or closes waiting */
        sd_event_source *hello_timer;   /* the oldest connection not welcomed yet */
        sd_event_source *idle_timer;    /* looks for idle connections now and then */

        GQueue connections;             /* every connection */
        GQueue run_queue;               /* to run in the next round */
        GQueue flush_queue;             /* output to send at the end of the round */
        GQueue close_queue;             /* to free at the end of the round */
        GQueue greeting;                /* not welcomed yet, oldest first */
        unsigned n_attached;            /* connections in epoll_fd */
        size_t n_connections[_CLIENT_TRANSPORT_MAX];
        int actions[_WIRE_REQUEST_LAST + 1];  /* ServiceAction per request type, -1 for none */
        bool in_round;
        bool freeing;
};

/* Asks for another round for the connection (buffered frames to handle). */
void wire_server_schedule_run(WireServer *s, WireConnection *c);
/* Its output goes out at the end of this round, or in a round soon. */
void wire_server_schedule_flush(WireServer *s, WireConnection *c);
/* Freed at the end of this round, or in a round soon. */
void wire_server_schedule_close(WireServer *s, WireConnection *c);
/* Watches it for wire_connection_wanted_events(). */
void wire_server_update_watch(WireServer *s, WireConnection *c);
/* It said HELLO and was answered: no deadline any more. */
void wire_server_welcomed(WireServer *s, WireConnection *c);
