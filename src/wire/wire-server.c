/* The wire front end's server: every connection on one sd-event io source over an inner epoll, in
 * rounds with a fairness cap per connection; the HELLO deadline; the registry and its counts.
 *
 * A round handles every ready connection: one read each, at most frames_per_round frames, then one
 * send each for all that the round produced. A connection with frames left over gets another round
 * from a defer source, so a client that pipelines without end cannot starve the others; so does
 * output or a close requested from outside a round (a grant from another front end, a lease run
 * out). Connections are freed only between rounds, never under a caller's feet. */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "time-util.h"
#include "wire-internal.h"
#include "wire-verbs.h"

/* Readiness taken from the inner epoll at once. */
#define EPOLL_BATCH 64
#define HELLO_TIMER_ACCURACY_USEC (10 * USEC_PER_MSEC)

static void server_wake(WireServer *s) {
        int r;

        /* A round in progress looks at its queues when it ends. */
        if (s->in_round || s->freeing)
                return;
        r = sd_event_source_set_enabled(s->defer_source, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Failed to schedule a round of the wire connections: %m");
}

void wire_server_schedule_run(WireServer *s, WireConnection *c) {
        if (c->in_run_queue || c->state == WIRE_CONNECTION_CLOSING)
                return;
        c->in_run_queue = true;
        g_queue_push_tail_link(&s->run_queue, &c->run_link);
        server_wake(s);
}

void wire_server_schedule_flush(WireServer *s, WireConnection *c) {
        if (c->in_flush_queue)
                return;
        c->in_flush_queue = true;
        g_queue_push_tail_link(&s->flush_queue, &c->flush_link);
        server_wake(s);
}

void wire_server_schedule_close(WireServer *s, WireConnection *c) {
        if (c->in_close_queue)
                return;
        c->in_close_queue = true;
        g_queue_push_tail_link(&s->close_queue, &c->close_link);
        server_wake(s);
}

static void connection_detach(WireServer *s, WireConnection *c) {
        if (!c->attached)
                return;
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->transport.fd, NULL) < 0)
                log_debug_errno(errno, "Failed to stop watching connection %s, ignoring: %m", c->id);
        c->attached = false;
        c->watched = 0;
        s->n_attached--;
}

void wire_server_update_watch(WireServer *s, WireConnection *c) {
        uint32_t events;
        struct epoll_event ev;

        if (c->state == WIRE_CONNECTION_CLOSING) {
                connection_detach(s, c);
                return;
        }

        events = wire_connection_wanted_events(c);
        /* epoll reports a hang-up even to an fd watched for nothing: one that cannot be handled now
         * (polkit is being asked) is left out until it can. */
        if (events == 0 && c->hangup) {
                connection_detach(s, c);
                return;
        }
        if (c->attached && c->watched == events)
                return;

        ev = (struct epoll_event) { .events = events, .data.ptr = c };
        if (epoll_ctl(s->epoll_fd, c->attached ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->transport.fd, &ev) < 0) {
                log_warning_errno(errno, "Failed to watch connection %s, closing it: %m", c->id);
                wire_connection_close(c);
                return;
        }
        if (!c->attached)
                s->n_attached++;
        c->attached = true;
        c->watched = events;
}

/* ---- the HELLO deadline: one timer for the oldest connection not welcomed yet ---- */

static int on_hello_timeout(sd_event_source *source, uint64_t usec, void *userdata);

static void greeting_rearm(WireServer *s) {
        WireConnection *c = g_queue_peek_head(&s->greeting);
        int r;

        if (!c) {
                if (s->hello_timer)
                        (void) sd_event_source_set_enabled(s->hello_timer, SD_EVENT_OFF);
                return;
        }

        if (!s->hello_timer) {
                r = sd_event_add_time(s->event, &s->hello_timer, CLOCK_MONOTONIC, c->deadline,
                                      HELLO_TIMER_ACCURACY_USEC, on_hello_timeout, s);
                if (r >= 0)
                        (void) sd_event_source_set_description(s->hello_timer, "wire-hello");
        } else {
                r = sd_event_source_set_time(s->hello_timer, c->deadline);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s->hello_timer, SD_EVENT_ONESHOT);
        }
        if (r < 0)
                log_warning_errno(r, "Failed to arm the timer of connections without HELLO, ignoring: %m");
}

static void greeting_remove(WireServer *s, WireConnection *c) {
        bool was_head;

        if (!c->in_greeting)
                return;
        was_head = g_queue_peek_head_link(&s->greeting) == &c->greeting_link;
        g_queue_unlink(&s->greeting, &c->greeting_link);
        c->in_greeting = false;
        if (was_head && !s->freeing)
                greeting_rearm(s);
}

void wire_server_welcomed(WireServer *s, WireConnection *c) {
        greeting_remove(s, c);
}

static int on_hello_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        WireServer *s = userdata;
        WireConnection *c;

        /* Connections come in order, each with the same time allowed: the expired ones are first. */
        while ((c = g_queue_peek_head(&s->greeting)) && c->deadline <= usec) {
                g_queue_unlink(&s->greeting, &c->greeting_link);
                c->in_greeting = false;
                log_debug("Connection %s said no HELLO in the time allowed, closing it.", c->id);
                wire_connection_close(c);
        }
        greeting_rearm(s);
        return 0;
}

/* ---- the registry ---- */

static void server_unlink(WireServer *s, WireConnection *c) {
        connection_detach(s, c);
        greeting_remove(s, c);
        if (c->in_run_queue)
                g_queue_unlink(&s->run_queue, &c->run_link);
        if (c->in_flush_queue)
                g_queue_unlink(&s->flush_queue, &c->flush_link);
        if (c->in_close_queue)
                g_queue_unlink(&s->close_queue, &c->close_link);
        c->in_run_queue = c->in_flush_queue = c->in_close_queue = false;
        g_queue_unlink(&s->connections, &c->link);
        g_assert(s->n_connections[c->peer_transport] > 0);
        s->n_connections[c->peer_transport]--;
}

static void server_free_connection(WireServer *s, WireConnection *c) {
        ClientTransport transport = c->peer_transport;
        uid_t uid = c->uid;

        c->state = WIRE_CONNECTION_CLOSING;
        server_unlink(s, c);
        /* Whatever it was told last (an ERROR before closing, answers at shutdown) goes if the socket
         * takes it now; nothing waits for a client that does not read. */
        if (wire_buffer_length(&c->output) > 0)
                wire_connection_flush(c);
        wire_connection_free(c);
        if (s->callbacks && s->callbacks->on_closed)
                s->callbacks->on_closed(s, transport, uid, s->userdata);
}

/* ---- the idle timeout ---- */

/* Whether closing it would take nothing from its client: no lock held or awaited, no message in its
 * inbox, no request unanswered or waiting for polkit, no output queued. */
static bool connection_holds_nothing(const WireConnection *c) {
        return c->state == WIRE_CONNECTION_READY && c->client && c->n_in_flight == 0 && !c->held && !c->polkit &&
               lock_owner_get_n_locks(c->client->owner) == 0 && lock_owner_get_n_waiters(c->client->owner) == 0 &&
               inbox_get_length(c->client->inbox) == 0 && wire_buffer_length(&c->output) == 0;
}

static int on_idle_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        WireServer *s = userdata;
        uint64_t timeout = s->settings.idle_timeout_usec;
        char buf[FORMAT_TIME_SPAN_MAX];

        /* A walk over every connection, a few thousand at most, once per half timeout: cheaper than
         * a timer per connection re-armed on every frame. A connection goes between one and one and a
         * half timeouts after its last frame. */
        for (GList *l = s->connections.head; l; l = l->next) {
                WireConnection *c = l->data;

                if (c->peer_transport != CLIENT_TRANSPORT_BUS || c->in_close_queue || !connection_holds_nothing(c) ||
                    usec < c->last_active || usec - c->last_active < timeout)
                        continue;
                log_debug("Connection %s was idle for %s holding nothing, closing it.", c->id,
                          format_time_span(buf, sizeof(buf), timeout));
                wire_connection_close(c);
        }
        (void) sd_event_source_set_time_relative(source, MAX(timeout / 2, USEC_PER_SEC / 10));
        return 0;
}

static void server_hand_over(WireServer *s, WireConnection *c) {
        g_autofree char *id = g_steal_pointer(&c->id), *address = g_steal_pointer(&c->address);
        WirePeer peer = {
                .id = id,
                .transport = c->peer_transport,
                .uid = c->uid,
                .pid = c->pid,
                .address = address,
        };
        int fd;

        server_unlink(s, c);
        fd = wire_transport_unix_steal(&c->transport);
        wire_connection_free(c);

        log_debug("Connection %s speaks D-Bus.", id);
        if (s->callbacks && s->callbacks->on_dbus_peer)
                s->callbacks->on_dbus_peer(s, fd, &peer, s->userdata);
        else
                (void) close(fd);
}

static int server_add(WireServer *s, const WireTransport *transport, const WirePeer *peer,
                      WireConnectionState state) {
        WireConnection *c = wire_connection_new(s, transport, peer, state);
        uint64_t now = 0;

        g_queue_push_tail_link(&s->connections, &c->link);
        s->n_connections[c->peer_transport]++;

        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        c->deadline = usec_add(now, s->settings.hello_timeout_usec);
        c->last_active = now;
        c->in_greeting = true;
        g_queue_push_tail_link(&s->greeting, &c->greeting_link);
        if (g_queue_get_length(&s->greeting) == 1)
                greeting_rearm(s);

        wire_server_update_watch(s, c);
        if (wire_transport_pending(&c->transport) > 0)
                wire_server_schedule_run(s, c);
        return 0;
}

int wire_server_add_unix(WireServer *s, int fd, const WirePeer *peer) {
        WireTransport transport;

        wire_transport_unix(fd, &transport);
        return server_add(s, &transport, peer, WIRE_CONNECTION_SNIFFING);
}

int wire_server_add(WireServer *s, const WireTransport *transport, const WirePeer *peer) {
        return server_add(s, transport, peer, WIRE_CONNECTION_PREAMBLE);
}

size_t wire_server_get_n_connections(const WireServer *s, ClientTransport transport) {
        return transport >= 0 && transport < _CLIENT_TRANSPORT_MAX ? s->n_connections[transport] : 0;
}

/* ---- rounds ---- */

static void server_finish_round(WireServer *s) {
        GList *l;

        /* Closing first: what freeing a client sets off (grants to others) is sent below. */
        for (;;) {
                if ((l = g_queue_pop_head_link(&s->close_queue))) {
                        WireConnection *c = l->data;

                        c->in_close_queue = false;
                        server_free_connection(s, c);
                } else if ((l = g_queue_pop_head_link(&s->flush_queue))) {
                        WireConnection *c = l->data;

                        c->in_flush_queue = false;
                        if (c->state != WIRE_CONNECTION_CLOSING)
                                wire_connection_flush(c);
                } else
                        break;
        }
}

static void server_round(WireServer *s) {
        GQueue run = s->run_queue;
        GList *l;

        s->run_queue = (GQueue) G_QUEUE_INIT;
        s->in_round = true;

        /* What is scheduled meanwhile runs in the next round: each connection once per round. */
        while ((l = g_queue_pop_head_link(&run))) {
                WireConnection *c = l->data;
                uint32_t revents = c->revents;

                c->revents = 0;
                c->in_run_queue = false;
                if (wire_connection_run(c, revents) == WIRE_RUN_DBUS)
                        server_hand_over(s, c);
        }

        server_finish_round(s);
        s->in_round = false;

        if (!g_queue_is_empty(&s->run_queue) || !g_queue_is_empty(&s->flush_queue) ||
            !g_queue_is_empty(&s->close_queue))
                server_wake(s);
}

static void server_ready(WireServer *s, WireConnection *c, uint32_t events) {
        c->revents |= events;
        if (!c->in_run_queue) {
                c->in_run_queue = true;
                g_queue_push_tail_link(&s->run_queue, &c->run_link);
        }
}

static int on_epoll(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        WireServer *s = userdata;
        struct epoll_event events[EPOLL_BATCH];
        WireConnection *sole;
        int n;

        sole = g_queue_get_length(&s->connections) == 1 ? g_queue_peek_head(&s->connections) : NULL;
        if (sole && sole->attached && (sole->watched & EPOLLIN))
                /* The inner epoll's readiness is this connection's, for what it is watched for: no
                 * need to ask which (a hang-up or an error shows up as the read's result). */
                server_ready(s, sole, sole->watched);
        else {
                n = epoll_wait(s->epoll_fd, events, EPOLL_BATCH, 0);
                if (n < 0) {
                        if (errno != EINTR)
                                log_warning_errno(errno, "Failed to wait for wire connections, ignoring: %m");
                        return 0;
                }
                for (int i = 0; i < n; i++)
                        server_ready(s, events[i].data.ptr, events[i].events);
        }

        server_round(s);
        return 0;
}

static int on_defer(sd_event_source *source, void *userdata) {
        server_round(userdata);
        return 0;
}

int wire_server_new(sd_event *event, Service *service, BusLocker *polkit, const WireServerSettings *settings,
                    const WireServerCallbacks *callbacks, void *userdata, WireServer **ret) {
        g_autoptr(WireServer) s = g_new0(WireServer, 1);
        int r;

        s->epoll_fd = -1;
        s->event = sd_event_ref(event);
        s->service = service;
        s->polkit = polkit;
        s->settings = *settings;
        s->settings.max_frame_size = MIN(s->settings.max_frame_size, WIRE_FRAME_MAX);
        s->settings.max_in_flight = MAX(s->settings.max_in_flight, 1u);
        s->settings.frames_per_round = MAX(s->settings.frames_per_round, 1u);
        s->callbacks = callbacks;
        s->userdata = userdata;
        wire_verbs_actions_init(s->actions);

        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (s->epoll_fd < 0)
                return log_error_errno(errno, "Failed to create the wire connections' epoll: %m");

        r = sd_event_add_io(event, &s->io_source, s->epoll_fd, EPOLLIN, on_epoll, s);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the wire connections: %m");
        (void) sd_event_source_set_description(s->io_source, "wire-connections");

        r = sd_event_add_defer(event, &s->defer_source, on_defer, s);
        if (r < 0)
                return log_error_errno(r, "Failed to add the wire connections' defer source: %m");
        r = sd_event_source_set_enabled(s->defer_source, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to disable the wire connections' defer source: %m");
        (void) sd_event_source_set_description(s->defer_source, "wire-round");

        if (s->settings.idle_timeout_usec != UINT64_MAX) {
                r = sd_event_add_time_relative(event, &s->idle_timer, CLOCK_MONOTONIC,
                                               MAX(s->settings.idle_timeout_usec / 2, USEC_PER_SEC / 10),
                                               USEC_PER_SEC / 10, on_idle_timer, s);
                if (r < 0)
                        return log_error_errno(r, "Failed to add the wire connections' idle timer: %m");
                (void) sd_event_source_set_enabled(s->idle_timer, SD_EVENT_ON);
                (void) sd_event_source_set_description(s->idle_timer, "wire-idle");
        }

        *ret = g_steal_pointer(&s);
        return 0;
}

WireServer *wire_server_free(WireServer *s) {
        WireConnection *c;

        if (!s)
                return NULL;

        s->freeing = true;
        /* Answers given at shutdown go out first, where the sockets take them. */
        for (GList *l = s->connections.head; l; l = l->next)
                if (wire_buffer_length(&((WireConnection *) l->data)->output) > 0)
                        wire_connection_flush(l->data);
        while ((c = g_queue_peek_head(&s->connections)))
                server_free_connection(s, c);

        sd_event_source_disable_unref(s->hello_timer);
        sd_event_source_disable_unref(s->idle_timer);
        sd_event_source_disable_unref(s->defer_source);
        sd_event_source_disable_unref(s->io_source);
        if (s->epoll_fd >= 0)
                (void) close(s->epoll_fd);
        sd_event_unref(s->event);
        g_free(s);
        return NULL;
}
