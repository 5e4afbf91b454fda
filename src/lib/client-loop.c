/* Event loops: sd-event, a GLib main context, or the caller's own poll(). */
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>

#include <glib.h>

#include <pylocker/pylocker-client.h>

#include "client-internal.h"
#include "client-wire.h"
#include "lib-util.h"
#include "macro.h"

/* What a loop polls, the same for a bus and the wire. A lost wire connection has nothing to poll,
 * as sd-bus says of a closed bus. */
static int locker_poll_fd(PylockerLocker *l) {
        if (l->wire)
                return l->lost ? -ENOTCONN : l->wire->fd;
        return sd_bus_get_fd(l->bus);
}

static int locker_poll_events(PylockerLocker *l) {
        if (l->wire)
                return l->lost ? -ENOTCONN : wire_get_events(l);
        return sd_bus_get_events(l->bus);
}

static int locker_poll_timeout(PylockerLocker *l, uint64_t *ret_usec) {
        return l->wire ? wire_get_timeout(l, ret_usec) : sd_bus_get_timeout(l->bus, ret_usec);
}

/* A GSource that polls the locker's connection and processes it, as sd_bus_attach_event() does for
 * sd-event. It follows the locker, not one connection, so a restart needs only a new fd. */
typedef struct BusSource {
        GSource source;
        PylockerLocker *locker;         /* weak: the locker destroys the source first */
        gpointer fd_tag;
} BusSource;

static gboolean bus_source_prepare(GSource *source, gint *timeout) {
        BusSource *s = (BusSource *) source;
        PylockerLocker *l = s->locker;
        uint64_t until;
        int events;

        *timeout = -1;
        if (!locker_has_connection(l))
                return FALSE;

        /* GIOCondition values are poll(2)'s on Linux. */
        events = locker_poll_events(l);
        g_source_modify_unix_fd(source, s->fd_tag, events > 0 ? (GIOCondition) events : 0);

        if (locker_poll_timeout(l, &until) < 0 || until == UINT64_MAX)
                return FALSE;
        /* Both are CLOCK_MONOTONIC microseconds. */
        if (until <= (uint64_t) g_get_monotonic_time()) {
                *timeout = 0;
                return TRUE;
        }
        *timeout = (gint) MIN((until - (uint64_t) g_get_monotonic_time() + 999) / 1000, (uint64_t) G_MAXINT);
        return FALSE;
}

static gboolean bus_source_check(GSource *source) {
        BusSource *s = (BusSource *) source;
        uint64_t until;

        if (!locker_has_connection(s->locker))
                return FALSE;
        if (g_source_query_unix_fd(source, s->fd_tag) != 0)
                return TRUE;
        return locker_poll_timeout(s->locker, &until) >= 0 && until <= (uint64_t) g_get_monotonic_time();
}

static gboolean bus_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data) {
        BusSource *s = (BusSource *) source;
        PylockerLocker *l = pylocker_locker_ref(s->locker);

        /* Drains what is readable now; what comes later wakes us again. */
        while (pylocker_locker_process(l) > 0)
                if (!l->glib_source)
                        break;
        pylocker_locker_unref(l);
        return G_SOURCE_CONTINUE;
}

static GSourceFuncs bus_source_funcs = {
        .prepare = bus_source_prepare,
        .check = bus_source_check,
        .dispatch = bus_source_dispatch,
};

static void glib_source_destroy(PylockerLocker *l) {
        if (!l->glib_source)
                return;
        g_source_destroy(l->glib_source);
        g_clear_pointer(&l->glib_source, g_source_unref);
}

static int glib_source_create(PylockerLocker *l) {
        BusSource *s;
        int fd;

        fd = locker_poll_fd(l);
        if (fd < 0)
                return fd;

        s = (BusSource *) g_source_new(&bus_source_funcs, sizeof(BusSource));
        s->locker = l;
        s->fd_tag = g_source_add_unix_fd(&s->source, fd, G_IO_IN);
        g_source_set_priority(&s->source, l->glib_priority);
        g_source_set_name(&s->source, "pylocker-locker");
        (void) g_source_attach(&s->source, l->glib_context);
        l->glib_source = &s->source;
        return 0;
}

/* The wire on sd-event, as sd_bus_attach_event() does it for a bus: an io source whose prepare
 * callback sets the events and the time source (the earliest call deadline, or now when frames wait
 * for dispatch). A dispatch processes a bounded batch; what is left makes the timer fire at once. */
#define WIRE_EVENT_BATCH 64

static int wire_event_dispatch(PylockerLocker *l) {
        pylocker_locker_ref(l);
        for (unsigned i = 0; i < WIRE_EVENT_BATCH; i++)
                /* A callback may close, restart or detach the locker. */
                if (pylocker_locker_process(l) <= 0 || !l->wire || !l->event)
                        break;
        pylocker_locker_unref(l);
        return 0;
}

static int on_wire_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        return wire_event_dispatch(userdata);
}

static int on_wire_time(sd_event_source *s, uint64_t usec, void *userdata) {
        return wire_event_dispatch(userdata);
}

static int on_wire_prepare(sd_event_source *s, void *userdata) {
        PylockerLocker *l = userdata;
        WireConn *w = l->wire;
        uint64_t until;
        int r;

        r = sd_event_source_set_io_events(w->io_source, (uint32_t) wire_get_events(l));
        if (r < 0)
                return r;
        (void) wire_get_timeout(l, &until);
        if (until == UINT64_MAX)
                return sd_event_source_set_enabled(w->time_source, SD_EVENT_OFF);
        r = sd_event_source_set_time(w->time_source, until);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(w->time_source, SD_EVENT_ONESHOT);
}

static void wire_event_detach(PylockerLocker *l) {
        if (!l->wire)
                return;
        l->wire->io_source = sd_event_source_disable_unref(l->wire->io_source);
        l->wire->time_source = sd_event_source_disable_unref(l->wire->time_source);
}

static int wire_event_attach(PylockerLocker *l) {
        WireConn *w = l->wire;
        int r;

        r = sd_event_add_io(l->event, &w->io_source, w->fd, EPOLLIN, on_wire_io, l);
        if (r >= 0)
                r = sd_event_source_set_prepare(w->io_source, on_wire_prepare);
        if (r >= 0)
                r = sd_event_source_set_priority(w->io_source, l->event_priority);
        /* Call deadlines are the caller's: an explicit accuracy, not sd-event's default of 250 ms. */
        if (r >= 0)
                r = sd_event_add_time(l->event, &w->time_source, CLOCK_MONOTONIC, 0, 1, on_wire_time, l);
        if (r >= 0)
                r = sd_event_source_set_priority(w->time_source, l->event_priority);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->time_source, SD_EVENT_OFF);
        if (r >= 0) {
                (void) sd_event_source_set_description(w->io_source, "pylocker-wire");
                (void) sd_event_source_set_description(w->time_source, "pylocker-wire-timer");
        }
        if (r < 0)
                wire_event_detach(l);
        return r;
}

int loop_attach(PylockerLocker *l) {
        int r;

        /* A lost connection has nothing more to deliver; a restart attaches the new one. */
        if (!locker_has_connection(l) || l->lost)
                return 0;
        if (l->event) {
                r = l->wire ? wire_event_attach(l) : sd_bus_attach_event(l->bus, l->event, l->event_priority);
                if (r < 0)
                        return r;
        }
        if (l->glib_context)
                return glib_source_create(l);
        return 0;
}

void loop_detach(PylockerLocker *l) {
        if (l->wire)
                wire_event_detach(l);
        else if (l->bus && l->event)
                (void) sd_bus_detach_event(l->bus);
        glib_source_destroy(l);
}

static int check_detached(PylockerLocker *locker, PylockerError *error) {
        if (locker->event || locker->glib_context)
                return pylocker_error_setf(error, -EBUSY, "The locker is already attached to an event loop.");
        return 0;
}

_public_ int pylocker_locker_attach_event(PylockerLocker *locker, struct sd_event *event, int64_t priority,
                                          PylockerError *error) {
        int r;

        pylocker_error_clear(error);
        if (!locker || !event)
                return pylocker_error_setf(error, -EINVAL, "No locker or no event loop given.");
        r = check_detached(locker, error);
        if (r < 0)
                return r;

        locker->event = sd_event_ref(event);
        locker->event_priority = priority;
        r = loop_attach(locker);
        if (r < 0) {
                locker->event = sd_event_unref(locker->event);
                return pylocker_error_setf(error, r, "Failed to attach to the event loop: %s", g_strerror(-r));
        }
        return 0;
}

_public_ int pylocker_locker_attach_glib(PylockerLocker *locker, struct _GMainContext *context, int priority,
                                         PylockerError *error) {
        int r;

        pylocker_error_clear(error);
        if (!locker)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");
        r = check_detached(locker, error);
        if (r < 0)
                return r;

        locker->glib_context = g_main_context_ref(context ?: g_main_context_default());
        locker->glib_priority = priority;
        r = loop_attach(locker);
        if (r < 0) {
                g_clear_pointer(&locker->glib_context, g_main_context_unref);
                return pylocker_error_setf(error, r, "Failed to attach to the main context: %s", g_strerror(-r));
        }
        return 0;
}

_public_ int pylocker_locker_detach(PylockerLocker *locker) {
        if (!locker)
                return -EINVAL;
        loop_detach(locker);
        locker->event = sd_event_unref(locker->event);
        g_clear_pointer(&locker->glib_context, g_main_context_unref);
        return 0;
}

_public_ int pylocker_locker_get_fd(PylockerLocker *locker) {
        if (!locker)
                return -EINVAL;
        if (!locker_has_connection(locker))
                return -ENOTCONN;
        return locker_poll_fd(locker);
}

_public_ int pylocker_locker_get_events(PylockerLocker *locker) {
        if (!locker)
                return -EINVAL;
        if (!locker_has_connection(locker))
                return -ENOTCONN;
        return locker_poll_events(locker);
}

_public_ int pylocker_locker_get_timeout(PylockerLocker *locker, uint64_t *ret_usec) {
        int r;

        if (!locker || !ret_usec)
                return -EINVAL;
        if (!locker_has_connection(locker))
                return -ENOTCONN;
        r = locker_poll_timeout(locker, ret_usec);
        if (r < 0 && locker->lost) {
                /* A closed connection has nothing more to wait for. */
                *ret_usec = PYLOCKER_INFINITY;
                return 0;
        }
        return r;
}

_public_ int pylocker_locker_process(PylockerLocker *locker) {
        int r;

        if (!locker)
                return -EINVAL;
        if (!locker_has_connection(locker))
                return -ENOTCONN;
        if (locker->wire)
                /* A loss is reported from there, through the lost-lock callbacks. */
                return wire_process(locker);

        r = sd_bus_process(locker->bus, NULL);
        if (r < 0 && (locker->lost || r == -ENOTCONN || r == -ECONNRESET)) {
                /* The loss is told through the lost-lock callbacks (and the Disconnected signal that
                 * sd-bus queues has run them already), not as an error of the loop. */
                if (!locker->lost) {
                        locker_set_lost(locker);
                        return 1;
                }
                return 0;
        }
        return r;
}

_public_ int pylocker_locker_wait(PylockerLocker *locker, uint64_t timeout_usec) {
        int r;

        if (!locker)
                return -EINVAL;
        if (!locker_has_connection(locker))
                return -ENOTCONN;
        if (locker->wire)
                return wire_wait(locker, timeout_usec);
        r = sd_bus_wait(locker->bus, timeout_usec);
        if (r < 0 && locker->lost)
                return 0;
        return r;
}
