/* The daemon: its event loop, the bus connection and bus name, the front ends around the service core,
 * idle exit and status. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "direct-socket.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "sd-cleanup.h"

static void on_clients_changed(Service *service, void *userdata) {
        manager_update_idle(userdata);
}

static void on_limit_changed(Service *service, const char *name, void *userdata) {
        Manager *manager = userdata;

        if (manager->bus_locker)
                bus_locker_limit_changed(manager->bus_locker, name);
}

static const ServiceCallbacks manager_service_callbacks = {
        .on_clients_changed = on_clients_changed,
        .on_limit_changed = on_limit_changed,
};

/* How long answers may take to go out on SIGTERM. */
#define EXIT_FLUSH_USEC (500 * UINT64_C(1000))
/* How long etcd gets to drop this daemon's keys on SIGTERM. */
#define EXIT_REVOKE_USEC (300 * UINT64_C(1000))

static int on_exit_answer_waiters(sd_event_source *source, void *userdata) {
        Manager *manager = userdata;

        /* Runs before sd-bus's own exit handler flushes and closes the connection, so every waiting
         * Acquire still gets its answer. */
        if (!manager->exiting)
                (void) sd_notify(false, "STOPPING=1");
        manager->exiting = true;
        service_shutdown(manager->service);
        /* Other daemons get this one's paths now rather than once its session runs out. */
        etcd_gate_stop(manager->etcd_gate, EXIT_REVOKE_USEC);

        /* Whatever the peers do, we are gone within a second: each connection's answers get until
         * the deadline to go out, and sd-bus's own exit handlers (which would flush without end) find
         * nothing left to do. */
        {
                uint64_t now = 0, deadline;

                (void) sd_event_now(manager->event, CLOCK_MONOTONIC, &now);
                deadline = now + EXIT_FLUSH_USEC;
                bus_locker_close_peers(manager->bus_locker, deadline);
                if (manager->bus) {
                        (void) bus_flush_until(manager->bus, deadline);
                        (void) sd_bus_detach_event(manager->bus);
                }
        }
        return 0;
}

static void on_etcd_available(void *userdata);

static int read_password(const char *path, char **ret) {
        g_autoptr(GError) error = NULL;
        g_autofree char *text = NULL;

        if (!g_file_get_contents(path, &text, NULL, &error))
                return log_error_errno(EINVAL, "Failed to read [Backend] PasswordFile=%s: %s", path, error->message);
        g_strchomp(text);
        *ret = g_steal_pointer(&text);
        return 0;
}

static int manager_start_etcd(Manager *manager) {
        const BackendConfig *backend = &manager->config.backend;
        g_auto(GStrv) endpoints = g_strsplit(backend->endpoints, ",", -1);
        g_autofree char *password = NULL;
        EtcdGateSettings settings;
        int r;

        for (size_t i = 0; endpoints[i]; i++)
                g_strstrip(endpoints[i]);
        if (backend->password_file) {
                r = read_password(backend->password_file, &password);
                if (r < 0)
                        return r;
        }

        settings = (EtcdGateSettings) {
                .etcd = {
                        .endpoints = endpoints,
                        .ca_file = backend->ca_file,
                        .cert_file = backend->certificate_file,
                        .key_file = backend->key_file,
                        .user = backend->user,
                        .password = password,
                },
                .node = backend->node ?: g_get_host_name(),
                .session_ttl_usec = backend->session_ttl_usec,
        };
        r = etcd_gate_new(manager->service, manager->event, &settings, &manager->etcd_gate);
        if (r < 0)
                return r;
        etcd_gate_set_available_callback(manager->etcd_gate, on_etcd_available, manager);
        log_info("Lock table on etcd at %s, as node %s.", backend->endpoints, settings.node);
        return 0;
}

int manager_new(const Config *config, Manager **ret) {
        sd_event_source *exit_source;
        g_autoptr(Manager) manager = g_new0(Manager, 1);
        int r;

        config_copy(&manager->config, config);

        /* Not sd_event_default(): the default loop checks its thread with gettid() on every iteration,
         * a system call per request on the direct socket. Everything is attached to this one
         * explicitly. */
        r = sd_event_new(&manager->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %m");

        r = sd_event_add_exit(manager->event, &exit_source, on_exit_answer_waiters, manager);
        if (r < 0)
                return log_error_errno(r, "Failed to add exit handler: %m");
        r = sd_event_source_set_priority(exit_source, SD_EVENT_PRIORITY_IMPORTANT);
        if (r < 0)
                return log_error_errno(r, "Failed to set exit handler priority: %m");
        r = sd_event_source_set_floating(exit_source, true);
        sd_event_source_unref(exit_source);
        if (r < 0)
                return log_error_errno(r, "Failed to make exit handler floating: %m");

        /* polkit is asked once we know the bus is the system bus. */
        r = service_new(manager->event, &manager->config.service, config->state_dir, /* polkit= */ false,
                        &manager_service_callbacks, manager, &manager->service);
        if (r < 0)
                return r;
        if (manager->config.backend.type == BACKEND_ETCD) {
                r = manager_start_etcd(manager);
                if (r < 0)
                        return r;
        }
        manager->bus_locker = bus_locker_new(manager->service);
        manager->bus_locker->event = manager->event;
        manager->bus_locker->max_queued_bytes = manager->config.max_queued_bytes;
        r = direct_socket_init(manager);
        if (r < 0)
                return r;

        *ret = g_steal_pointer(&manager);
        return 0;
}

Manager *manager_free(Manager *manager) {
        if (!manager)
                return NULL;

        /* Answer every waiting Acquire before going: callers learn now, not from their call timeout. */
        if (manager->service)
                service_shutdown(manager->service);

        /* The front ends first, each closing its clients (the wire front end before the bus's, whose
         * connection its polkit queries use); then the core. */
        g_clear_pointer(&manager->wire_server, wire_server_free);
        g_clear_pointer(&manager->direct_users, g_hash_table_unref);
        g_clear_pointer(&manager->bridge, bridge_listener_free);
        g_clear_pointer(&manager->bus_locker, bus_locker_free);
        direct_socket_close(manager);
        g_free(manager->direct_socket_wanted);
        g_clear_pointer(&manager->service, service_free);
        /* After the service, which retires its locks through it. */
        g_clear_pointer(&manager->etcd_gate, etcd_gate_free);

        if (manager->bus) {
                (void) bus_flush_until(manager->bus, 0);
                manager->bus = sd_bus_close_unref(manager->bus);
        }
        sd_event_source_disable_unref(manager->ready_timer);
        sd_event_source_disable_unref(manager->idle_source);
        sd_event_source_disable_unref(manager->status_source);
        sd_event_source_disable_unref(manager->status_timer);
        g_free(manager->status_sent);
        sd_event_unref(manager->event);
        config_done(&manager->config);
        g_free(manager);
        return NULL;
}

/* A client's locks and waiters go the moment its connection does. The bus sends NameOwnerChanged
 * after every message of that connection, so nothing it sent is handled after this. */
static int on_name_owner_changed(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *manager = userdata;
        const char *name, *old_owner, *new_owner;
        int r;

        r = sd_bus_message_read(message, "sss", &name, &old_owner, &new_owner);
        if (r < 0) {
                log_debug_errno(r, "Failed to parse NameOwnerChanged, ignoring: %m");
                return 0;
        }
        if (name[0] != ':' || new_owner[0] != 0)
                return 0;

        bus_locker_name_gone(manager->bus_locker, name);
        return 0;
}

static int status_update(Manager *manager);

static void manager_send_ready(Manager *manager) {
        if (manager->ready_sent)
                return;
        manager->ready_sent = true;
        manager->ready_timer = sd_event_source_disable_unref(manager->ready_timer);
        (void) sd_notify(false, "READY=1");
        /* Counts from now on, whatever was reported before. */
        g_clear_pointer(&manager->status_sent, g_free);
        manager->status_sent_usec = 0;
        if (manager->status_source)
                (void) status_update(manager);
        manager_update_idle(manager);
}

static int on_ready_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Manager *manager = userdata;

        log_warning("No session with etcd yet: serving, Acquire answers Unavailable until there is one.");
        manager_send_ready(manager);
        return 0;
}

static void on_etcd_available(void *userdata) {
        Manager *manager = userdata;

        /* Only once the bus name is ours (the timer is armed then). */
        if (manager->ready_timer)
                manager_send_ready(manager);
}

static int on_name_acquired(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        Manager *manager = userdata;
        const sd_bus_error *error = sd_bus_message_get_error(message);
        int r;

        if (error) {
                r = sd_bus_error_get_errno(error);

                log_error_errno(r, "Failed to own bus name %s: %s", PYLOCKER_BUS_NAME, error->message);
                return sd_event_exit(manager->event, -r);
        }

        log_debug("Owning bus name %s.", PYLOCKER_BUS_NAME);

        /* Only now: the name proves no other instance serves this socket path. */
        if (manager->direct_socket_wanted && direct_socket_listen(manager, manager->direct_socket_wanted) < 0)
                log_warning("Serving on the bus only; clients fall back to it.");

        /* On etcd, ready once the session is up, or after a session's TTL without one: then it
         * serves all the same, Acquire answering Unavailable until etcd does. */
        if (manager->etcd_gate && !etcd_gate_is_available(manager->etcd_gate)) {
                r = sd_event_add_time_relative(manager->event, &manager->ready_timer, CLOCK_MONOTONIC,
                                               manager->config.backend.session_ttl_usec, 0, on_ready_timer, manager);
                if (r >= 0)
                        return 0;
        }
        manager_send_ready(manager);
        return 0;
}

static int on_name_released(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        Manager *manager = userdata;

        /* Calls that were on their way to us are answered by now; later ones start a new instance. */
        log_debug("Idle: bus name released, exiting.");
        return sd_event_exit(manager->event, 0);
}

static int on_idle(sd_event_source *source, uint64_t usec, void *userdata) {
        Manager *manager = userdata;
        int r;

        if (service_get_n_clients(manager->service) > 0 || manager->exiting)
                return 0;

        /* As systemd's bus_event_loop_with_idle(): give the name up first, so that nothing sent to it
         * is lost, and leave once the bus has confirmed. */
        manager->exiting = true;
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Idle, exiting");
        r = sd_bus_release_name_async(manager->bus, NULL, PYLOCKER_BUS_NAME, on_name_released, manager);
        if (r < 0)
                return sd_event_exit(manager->event, log_error_errno(r, "Failed to release the bus name: %m"));
        return 0;
}

void manager_update_idle(Manager *manager) {
        int r;

        if (manager->idle_exit_usec == 0 || manager->exiting)
                return;

        /* A lock, a waiter or a message always belongs to a client: no client, nothing to keep. */
        if (service_get_n_clients(manager->service) > 0) {
                if (manager->idle_source)
                        (void) sd_event_source_set_enabled(manager->idle_source, SD_EVENT_OFF);
                return;
        }

        if (!manager->idle_source) {
                r = sd_event_add_time_relative(manager->event, &manager->idle_source, CLOCK_MONOTONIC,
                                               manager->idle_exit_usec, USEC_PER_SEC, on_idle, manager);
                if (r < 0)
                        log_warning_errno(r, "Failed to add idle timer, staying: %m");
                return;
        }
        r = sd_event_source_set_time_relative(manager->idle_source, manager->idle_exit_usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(manager->idle_source, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Failed to arm idle timer, staying: %m");
}

/* STATUS= for systemctl status, with counts: sent after a loop iteration that changed them, at most
 * once a second. */
static char *status_text(Manager *manager) {
        return g_strdup_printf("STATUS=%u locks, %u waiting, %u clients",
                               (unsigned) lock_table_get_n_locks(manager->service->table),
                               (unsigned) lock_table_get_n_waiters(manager->service->table),
                               (unsigned) service_get_n_clients(manager->service));
}

static int on_status_timer(sd_event_source *source, uint64_t usec, void *userdata);

static int status_update(Manager *manager) {
        g_autofree char *text = status_text(manager);
        uint64_t now;

        if (g_strcmp0(text, manager->status_sent) == 0 || manager->exiting)
                return 0;

        (void) sd_event_now(manager->event, CLOCK_MONOTONIC, &now);
        if (now < manager->status_sent_usec + USEC_PER_SEC) {
                if (!manager->status_timer)
                        (void) sd_event_add_time(manager->event, &manager->status_timer, CLOCK_MONOTONIC,
                                                 manager->status_sent_usec + USEC_PER_SEC, 100 * USEC_PER_MSEC,
                                                 on_status_timer, manager);
                else {
                        (void) sd_event_source_set_time(manager->status_timer, manager->status_sent_usec + USEC_PER_SEC);
                        (void) sd_event_source_set_enabled(manager->status_timer, SD_EVENT_ONESHOT);
                }
                return 0;
        }

        (void) sd_notify(false, text);
        g_free(manager->status_sent);
        manager->status_sent = g_steal_pointer(&text);
        manager->status_sent_usec = now;
        return 0;
}

static int on_status_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        return status_update(userdata);
}

static int on_post(sd_event_source *source, void *userdata) {
        return status_update(userdata);
}

int manager_connect_bus(Manager *manager, BusKind kind, const char *address) {
        g_autoptr(sd_bus) bus = NULL;
        int r;

        switch (kind) {
        case BUS_KIND_SYSTEM:
                r = sd_bus_open_system(&bus);
                break;
        case BUS_KIND_USER:
                r = sd_bus_open_user(&bus);
                break;
        default:
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, true);
                if (r >= 0)
                        r = sd_bus_start(bus);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the %s bus: %m",
                                       kind == BUS_KIND_SYSTEM ? "system" : kind == BUS_KIND_USER ? "user" : "given");
        manager->bus_kind = kind;
        manager->service->polkit = kind == BUS_KIND_SYSTEM;
        manager->bus_locker->bus = bus;

        /* Installed before the name is requested, so that no client can be missed. */
        r = sd_bus_add_match(bus, NULL,
                             "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                             "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg2=''",
                             on_name_owner_changed, manager);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to NameOwnerChanged: %m");

        r = bus_locker_add_object(manager->bus_locker, bus);
        if (r < 0)
                return r;

        r = sd_bus_attach_event(bus, manager->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach bus to event loop: %m");

        r = sd_bus_request_name_async(bus, NULL, PYLOCKER_BUS_NAME, 0, on_name_acquired, manager);
        if (r < 0)
                return log_error_errno(r, "Failed to request bus name %s: %m", PYLOCKER_BUS_NAME);

        /* Without the bus there is nothing to serve: leave the loop. */
        r = sd_bus_set_exit_on_disconnect(bus, true);
        if (r < 0)
                return log_error_errno(r, "Failed to set exit on disconnect: %m");

        manager->bus = g_steal_pointer(&bus);

        /* Only under systemd is there anyone to read STATUS=. */
        if (getenv("NOTIFY_SOCKET")) {
                r = sd_event_add_post(manager->event, &manager->status_source, on_post, manager);
                if (r < 0)
                        log_warning_errno(r, "Failed to add status updates, ignoring: %m");
        }
        return 0;
}

int manager_enable_bridge(Manager *manager) {
        uint8_t *secret = NULL;
        size_t size = 0;
        int r;

        if (manager->bridge)
                return 0;

        r = bridge_secret_find(&manager->config.bridge, &secret, &size);
        if (r < 0)
                return r;
        r = bridge_listener_new(manager->event, manager->wire_server, &manager->config.bridge, secret, size,
                                &manager->bridge);
        explicit_bzero(secret, size);
        g_free(secret);
        return r;
}

int manager_run(Manager *manager) {
        int r;

        r = sd_event_loop(manager->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return r;
}
