/* The service core: the tables, the clients, their deadlines, and who may do what. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "service-internal.h"
#include "siphash24.h"
#include "token-floor.h"

/* Paths of a gone client's locks released per loop iteration, whatever the number of locks: about a
 * millisecond of work, and other clients are served between batches. (256 locks a batch stalled a
 * healthy client for seconds when each had 256 paths of 4 KiB.) */
#define REAP_BATCH_PATHS 1024

/* User-set deadlines must fire on time: sd-event would coalesce them by 250 ms by default. */
#define DEADLINE_ACCURACY_USEC (1 * USEC_PER_MSEC)

static void arm_timer(Service *service, sd_event_source *source, uint64_t deadline) {
        int r;

        if (deadline == UINT64_MAX) {
                (void) sd_event_source_set_enabled(source, SD_EVENT_OFF);
                return;
        }

        r = sd_event_source_set_time(source, deadline);
        if (r >= 0)
                r = sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        if (r < 0)
                /* Without the timer, timeouts and leases would never end: better to stop loudly. */
                (void) sd_event_exit(service->event, log_error_errno(r, "Failed to arm deadline timer: %m"));
}

/* Arms the timer for deadline if it is not armed for that or earlier already; never moves it later. A
 * timer that fires early finds nothing due and is armed for what is next (on_deadline()), so leases
 * and timeouts still end on time. Moving it on every change would cost a timerfd_settime() each time
 * the earliest deadline changes (sd-event re-arms its timerfd then): twice per Acquire and Release
 * pair with nothing else held, where the lease of each new lock is later than the last one's. */
static void advance_timer(Service *service, sd_event_source *source, uint64_t deadline) {
        int enabled = SD_EVENT_OFF;
        uint64_t armed;

        if (deadline == UINT64_MAX)
                return;

        (void) sd_event_source_get_enabled(source, &enabled);
        if (enabled != SD_EVENT_OFF && sd_event_source_get_time(source, &armed) >= 0 && armed <= deadline)
                return;

        arm_timer(service, source, deadline);
}

static void on_deadline_changed(LockTable *table, uint64_t deadline, void *userdata) {
        Service *service = userdata;

        advance_timer(service, service->deadline_source, deadline);
}

/* Also when nothing is due: the deadline it was armed for may have gone, or moved later. */
static int on_deadline(sd_event_source *source, uint64_t usec, void *userdata) {
        Service *service = userdata;

        lock_table_dispatch_deadlines(service->table);
        arm_timer(service, source, lock_table_get_next_deadline(service->table));
        return 0;
}

static void on_message_deadline_changed(MessageStore *store, uint64_t deadline, void *userdata) {
        Service *service = userdata;

        advance_timer(service, service->message_deadline_source, deadline);
}

static int on_message_deadline(sd_event_source *source, uint64_t usec, void *userdata) {
        Service *service = userdata;

        message_store_dispatch_deadlines(service->messages);
        arm_timer(service, source, message_store_get_next_deadline(service->messages));
        return 0;
}

static const MessageStoreCallbacks service_message_callbacks = {
        .on_deadline_changed = on_message_deadline_changed,
};

static int add_deadline_timer(Service *service, sd_event_source **ret, sd_event_time_handler_t handler,
                              const char *description) {
        int r;

        r = sd_event_add_time(service->event, ret, CLOCK_MONOTONIC, 0, DEADLINE_ACCURACY_USEC, handler, service);
        if (r < 0)
                return log_error_errno(r, "Failed to add %s timer: %m", description);
        r = sd_event_source_set_enabled(*ret, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to disable %s timer: %m", description);
        (void) sd_event_source_set_description(*ret, description);
        return 0;
}

static int on_reap(sd_event_source *source, void *userdata) {
        Service *service = userdata;

        if (lock_table_reap(service->table, REAP_BATCH_PATHS))
                service_schedule_reap(service);
        else
                service_users_sweep(service);
        return 0;
}

void service_schedule_reap(Service *service) {
        int r;

        r = sd_event_source_set_enabled(service->reap_source, SD_EVENT_ONESHOT);
        if (r < 0) {
                /* The loop is in trouble: better stalled once than locks held by nobody for good. */
                log_warning_errno(r, "Failed to schedule releasing a gone client's locks, releasing them now: %m");
                (void) lock_table_reap(service->table, SIZE_MAX);
                service_users_sweep(service);
        }
}

static uint64_t on_reserve_tokens(LockTable *table, uint64_t last_token, void *userdata) {
        Service *service = userdata;

        return token_floor_reserve(service->state_dir, last_token);
}

static const LockTableCallbacks service_table_callbacks = {
        .on_granted = service_lock_granted,
        .on_ended = service_lock_ended,
        .on_deadline_changed = on_deadline_changed,
        .reserve_tokens = on_reserve_tokens,
};

int service_new(sd_event *event, const ServiceSettings *settings, const char *state_dir, bool polkit,
                const ServiceCallbacks *callbacks, void *userdata, Service **ret) {
        g_autoptr(Service) service = g_new0(Service, 1);
        int r;

        service->event = sd_event_ref(event);
        service->settings = *settings;
        service->state_dir = g_strdup(state_dir);
        service->uid = geteuid();
        service->polkit = polkit;
        service->callbacks = callbacks;
        service->userdata = userdata;
        service->clients = g_hash_table_new(g_str_hash, g_str_equal);
        service_stats_init(&service->stats, 0);
        /* Names are the clients' choice: keyed, so that none can make them collide. */
        service->client_names = g_hash_table_new(siphash24_string_hash, g_str_equal);

        r = add_deadline_timer(service, &service->deadline_source, on_deadline, "lock deadlines");
        if (r < 0)
                return r;
        r = add_deadline_timer(service, &service->message_deadline_source, on_message_deadline,
                               "message deadlines");
        if (r < 0)
                return r;

        r = sd_event_add_defer(event, &service->reap_source, on_reap, service);
        if (r < 0)
                return log_error_errno(r, "Failed to add the defer source releasing gone clients' locks: %m");
        r = sd_event_source_set_enabled(service->reap_source, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to disable the defer source releasing gone clients' locks: %m");
        /* Below everything else: a re-armed defer source counts as pending since before any I/O
         * that came in meanwhile, so at the same priority it would run batch after batch ahead of
         * the clients. */
        r = sd_event_source_set_priority(service->reap_source, SD_EVENT_PRIORITY_NORMAL + 1);
        if (r < 0)
                return log_error_errno(r, "Failed to set the priority of releasing gone clients' locks: %m");
        (void) sd_event_source_set_description(service->reap_source, "reap-locks");

        service->table = lock_table_new(&service->settings.limits, &service_table_callbacks, service,
                                        token_floor_load(service->state_dir));
        service->stats.started_monotonic = lock_table_now(service->table, CLOCK_MONOTONIC);
        service->messages = message_store_new(&service_message_callbacks, service);
        message_store_set_max_group_bytes(service->messages, service->settings.limits.max_bytes_per_group);

        *ret = g_steal_pointer(&service);
        return 0;
}

void service_shutdown(Service *service) {
        lock_table_shutdown(service->table);
}

Service *service_free(Service *service) {
        GHashTableIter iter;
        gpointer client;

        if (!service)
                return NULL;

        /* Answer every waiting Acquire before going: callers learn now, not from their call timeout. */
        if (service->table)
                lock_table_shutdown(service->table);

        if (service->clients) {
                /* Nobody to tell any more: the front ends go before the service. */
                service->callbacks = NULL;
                g_hash_table_iter_init(&iter, service->clients);
                while (g_hash_table_iter_next(&iter, NULL, &client)) {
                        g_hash_table_iter_steal(&iter);
                        client_free(client);
                }
                g_hash_table_unref(service->clients);
        }
        if (service->client_names)
                g_hash_table_unref(service->client_names);
        if (service->users)
                g_hash_table_unref(service->users);
        lock_table_free(service->table);
        message_store_free(service->messages);
        sd_event_source_disable_unref(service->gate_admit_source);
        sd_event_source_disable_unref(service->deadline_source);
        sd_event_source_disable_unref(service->message_deadline_source);
        sd_event_source_disable_unref(service->reap_source);
        sd_event_unref(service->event);
        g_free(service->state_dir);
        service_stats_done(&service->stats);
        g_free(service);
        return NULL;
}

size_t service_get_n_clients(const Service *service) {
        return g_hash_table_size(service->clients);
}

uint64_t service_get_queued_bytes(const Service *service) {
        GHashTableIter iter;
        gpointer value;
        uint64_t sum = 0;

        g_hash_table_iter_init(&iter, service->clients);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                Client *client = value;

                if (client->ops && client->ops->queued_bytes)
                        sum += client->ops->queued_bytes(client);
        }
        return sum;
}

Client *service_find_client(const Service *service, const char *id) {
        return g_hash_table_lookup(service->clients, id);
}

Client *service_find_receiver(const Service *service, const char *id_or_name) {
        return g_hash_table_lookup(service->clients, id_or_name) ?:
               g_hash_table_lookup(service->client_names, id_or_name);
}

/* ---- authorization ---- */

static const struct {
        const char *method;
        ServiceAction action;
} method_actions[] = {
        { "Register",          SERVICE_ACTION_PUBLISH },
        { "Acquire",           SERVICE_ACTION_ACQUIRE },
        { "AcquireHandle",     SERVICE_ACTION_ACQUIRE },
        { "Release",           SERVICE_ACTION_ACQUIRE },
        { "Refresh",           SERVICE_ACTION_ACQUIRE },
        { "ListLocks",         SERVICE_ACTION_ACQUIRE },
        { "ListClients",       SERVICE_ACTION_ACQUIRE },
        { "GetStatistics",     SERVICE_ACTION_ACQUIRE },
        { "Publish",           SERVICE_ACTION_PUBLISH },
        { "ListMessages",      SERVICE_ACTION_PUBLISH },
        { "GetMessage",        SERVICE_ACTION_PUBLISH },
        { "PopMessage",        SERVICE_ACTION_PUBLISH },
        { "HasMessage",        SERVICE_ACTION_PUBLISH },
        { "RemoveMessage",     SERVICE_ACTION_PUBLISH },
        { "SetMaxLockTime",    SERVICE_ACTION_MANAGE },
        { "SetDefaultTimeout", SERVICE_ACTION_MANAGE },
        { "ForceRelease",      SERVICE_ACTION_MANAGE },
};

static const char *const service_action_table[_SERVICE_ACTION_MAX] = {
        [SERVICE_ACTION_ACQUIRE] = "org.pylocker.acquire",
        [SERVICE_ACTION_PUBLISH] = "org.pylocker.publish",
        [SERVICE_ACTION_MANAGE]  = "org.pylocker.manage",
};

const char *service_action_to_string(ServiceAction action) {
        return action >= 0 && action < _SERVICE_ACTION_MAX ? service_action_table[action] : NULL;
}

int service_method_action(const char *method, ServiceAction *ret) {
        for (size_t i = 0; method && i < ELEMENTSOF(method_actions); i++)
                if (strcmp(method_actions[i].method, method) == 0) {
                        *ret = method_actions[i].action;
                        return 0;
                }
        return -ENOENT;
}

/* What each action lets a caller do, as the start of the sentence that refuses it. */
static const char *const service_action_purpose_table[_SERVICE_ACTION_MAX] = {
        [SERVICE_ACTION_ACQUIRE] = "Taking and listing locks",
        [SERVICE_ACTION_PUBLISH] = "Registering and messaging",
        [SERVICE_ACTION_MANAGE]  = "Managing locks",
};

char *service_action_denied_message(ServiceAction action, bool interactive_required) {
        const char *id = service_action_to_string(action), *purpose;

        if (!id)
                return g_strdup("Access denied.");
        purpose = service_action_purpose_table[action];
        if (interactive_required)
                return g_strdup_printf("%s needs the polkit action %s, which polkit grants this caller only "
                                       "after authentication: call again allowing interactive authorization, "
                                       "or see pylockerd(8) for a polkit rule granting it to a group.",
                                       purpose, id);
        return g_strdup_printf("%s needs the polkit action %s (root has it; see pylockerd(8) for a polkit "
                               "rule granting it to a group).", purpose, id);
}

static int authorize_refuse(Service *service, ServiceError *error, const char *format, ...) G_GNUC_PRINTF(3, 4);

static int authorize_refuse(Service *service, ServiceError *error, const char *format, ...) {
        g_autofree char *message = NULL;
        va_list ap;

        service->stats.denials++;
        va_start(ap, format);
        message = g_strdup_vprintf(format, ap);
        va_end(ap);
        return service_error_setf(error, SERVICE_ERROR_ACCESS_DENIED, "%s", message);
}

int service_authorize(Service *service, Client *client, ServiceAction action, ServiceError *error) {
        /* A bridge peer proved it has the shared secret, which is all there is to know about it: it
         * may lock and publish like any client, but management stays with local root and polkit's
         * admins. Nobody on another machine can be asked for a password. */
        if (client->transport == CLIENT_TRANSPORT_BRIDGE) {
                if (action != SERVICE_ACTION_MANAGE)
                        return 1;
                return authorize_refuse(service, error, "%s needs the polkit action %s, which bridge clients "
                                        "never have: manage pylockerd on its own machine.",
                                        service_action_purpose_table[action], service_action_to_string(action));
        }

        if (client->uid == 0)
                return 1;

        if (!service->polkit) {
                /* A session bus: every peer is the bus owner's user, so there is nobody to ask. */
                if (action != SERVICE_ACTION_MANAGE || client->uid == service->uid)
                        return 1;
                return authorize_refuse(service, error, "%s is for root and the daemon's own user only on a "
                                        "session bus.", service_action_purpose_table[action]);
        }

        if (client->verdicts[action] == CLIENT_VERDICT_ALLOWED)
                return 1;
        if (client->verdicts[action] == CLIENT_VERDICT_DENIED) {
                g_autofree char *message = service_action_denied_message(action, /* interactive_required= */ false);

                return authorize_refuse(service, error, "%s", message);
        }
        return 0;
}
