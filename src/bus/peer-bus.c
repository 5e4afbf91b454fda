/* One peer-to-peer sd-bus server connection serving org.pylocker.Locker: the direct socket's and the
 * bridge's. */
#include <errno.h>

#include <systemd/sd-id128.h>

#include "bus-locker.h"
#include "log.h"
#include "macro.h"
#include "peer-bus.h"
#include "sd-cleanup.h"

static void bus_unref_void(void *userdata) {
        sd_bus_unref(userdata);
}

/* Runs after each loop iteration until the connection is authenticated. A client may send its first
 * calls in the same packet as the authentication's BEGIN (libdbus and GDBus do): sd-bus then reads
 * them into its buffer while authenticating, and no readiness of the socket will ever announce them.
 * So once the connection is ready, process what sits in the buffer. */
static int on_peer_post(sd_event_source *source, void *userdata) {
        sd_bus *bus = userdata;
        int r = 0;

        if (sd_bus_is_open(bus) > 0) {
                if (sd_bus_is_ready(bus) <= 0)
                        return 0;
                /* At most one round of calls: more wait for the next iteration. */
                for (unsigned i = 0; i < 64; i++) {
                        r = sd_bus_process(bus, NULL);
                        if (r <= 0)
                                break;
                }
                if (r > 0)
                        return 0;
        }

        (void) sd_event_source_set_floating(source, false);
        sd_event_source_disable_unref(source);
        return 0;
}

static int peer_bus_kick_when_ready(sd_event *event, sd_bus *bus) {
        sd_event_source *source;
        int r;

        r = sd_event_add_post(event, &source, on_peer_post, bus);
        if (r < 0)
                return r;
        sd_bus_ref(bus);
        (void) sd_event_source_set_destroy_callback(source, bus_unref_void);
        (void) sd_event_source_set_description(source, "peer-bus-kick");
        /* The loop owns it: freed with the loop if the connection never becomes ready. */
        return sd_event_source_set_floating(source, true);
}

int peer_bus_new(BusLocker *locker, sd_event *event, int fd, PeerBusFlags flags, const char *description,
                 sd_bus_message_handler_t on_disconnected, void *userdata, sd_bus **ret) {
        _cleanup_close_ int fd_owned = fd;
        g_autoptr(sd_bus) bus = NULL;
        sd_id128_t server_id;
        int r;

        r = sd_id128_randomize(&server_id);
        if (r < 0)
                return log_warning_errno(r, "Failed to make a server id: %m");
        r = sd_bus_new(&bus);
        if (r < 0)
                return log_warning_errno(r, "Failed to allocate connection: %m");
        r = sd_bus_set_fd(bus, fd, fd);
        if (r < 0)
                return log_warning_errno(r, "Failed to set connection fd: %m");
        steal_fd(&fd_owned);

        r = sd_bus_set_server(bus, true, server_id);
        if (r >= 0 && (flags & PEER_BUS_ANONYMOUS))
                r = sd_bus_set_anonymous(bus, true);
        if (r >= 0)
                r = sd_bus_negotiate_fds(bus, !!(flags & PEER_BUS_ALLOW_FDS));
        if (r >= 0)
                r = sd_bus_set_description(bus, description);
        if (r < 0)
                return log_warning_errno(r, "Failed to set up connection: %m");

        r = sd_bus_match_signal(bus, NULL, NULL, "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                                "Disconnected", on_disconnected, userdata);
        if (r < 0)
                return log_warning_errno(r, "Failed to watch for disconnection: %m");
        r = bus_locker_add_object(locker, bus);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_warning_errno(r, "Failed to attach connection to event loop: %m");
        r = sd_bus_start(bus);
        if (r < 0)
                return log_warning_errno(r, "Failed to start connection: %m");
        r = peer_bus_kick_when_ready(event, bus);
        if (r < 0)
                return log_warning_errno(r, "Failed to watch connection for its start: %m");

        *ret = g_steal_pointer(&bus);
        return 0;
}
