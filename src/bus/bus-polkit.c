/* Authorization of every method call: one method → polkit action table, asked asynchronously.
 *
 * As systemd's bus-polkit.c: a call that needs polkit's answer starts a CheckAuthorization call and
 * is left unanswered; when the answer comes, the original message is rewound and queued for
 * reading again, so its handler runs anew and finds the verdict here. The daemon never blocks on
 * polkit. */
#include <errno.h>
#include <string.h>

#include "bus-internal.h"
#include "bus-polkit.h"
#include "log.h"
#include "macro.h"
#include "pylocker-names.h"
#include "sd-cleanup.h"

/* Long enough for a person to answer an authentication agent. */
#define POLKIT_CALL_TIMEOUT_USEC (120 * USEC_PER_SEC)

/* A CheckAuthorization in flight, or answered and waiting for its call to come round again. */
typedef struct PolkitQuery {
        BusLocker *locker;
        sd_bus_message *request;
        sd_bus_slot *slot;
        sd_bus_message *reply;
        ServiceAction action;
} PolkitQuery;

static void polkit_query_free(PolkitQuery *query) {
        if (!query)
                return;
        sd_bus_slot_unref(query->slot);
        sd_bus_message_unref(query->request);
        sd_bus_message_unref(query->reply);
        g_free(query);
}

void bus_polkit_registry_free(BusLocker *locker) {
        g_clear_pointer(&locker->polkit_registry, g_hash_table_unref);
}

static int on_check_authorization(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PolkitQuery *query = userdata;
        int r;

        query->slot = sd_bus_slot_unref(query->slot);
        query->reply = sd_bus_message_ref(reply);

        /* Run the original call again: its handler finds the answer in the registry. */
        r = sd_bus_message_rewind(query->request, true);
        if (r >= 0)
                r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(query->request), query->request);
        if (r < 0) {
                log_warning_errno(r, "Failed to dispatch a call again after polkit's answer: %m");
                (void) sd_bus_reply_method_errno(query->request, r, NULL);
                g_hash_table_remove(query->locker->polkit_registry, query->request);
        }
        return 1;
}

/* The process at the other end of a socket, as its credentials name it. A start time of 0 has
 * polkitd look it up: the daemon's sandbox hides other users' processes from it. */
static int polkit_subject_append_process(sd_bus_message *m, pid_t pid, uid_t uid) {
        return sd_bus_message_append(m, "(sa{sv})", "unix-process", 3,
                                     "pid", "u", (uint32_t) pid,
                                     "start-time", "t", UINT64_C(0),
                                     "uid", "i", (int32_t) uid);
}

static int polkit_subject_append(sd_bus_message *m, sd_bus_message *request, Client *client) {
        const char *sender = sd_bus_message_get_sender(request);

        if (sender)
                return sd_bus_message_append(m, "(sa{sv})", "system-bus-name", 1, "name", "s", sender);

        /* Peer to peer: the process at the other end. */
        return polkit_subject_append_process(m, client->pid, client->uid);
}

/* CheckAuthorization of a subject appended by the caller: the call up to the subject. */
static int polkit_check_new(BusLocker *locker, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(locker->bus, ret, "org.freedesktop.PolicyKit1",
                                              "/org/freedesktop/PolicyKit1/Authority",
                                              "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
}

/* The rest of CheckAuthorization after the subject. */
static int polkit_check_append(sd_bus_message *call, ServiceAction action, bool interactive) {
        /* Flag 1: AllowUserInteraction, only when the caller said it may wait for an agent. */
        return sd_bus_message_append(call, "sa{ss}us", service_action_to_string(action), 0, (uint32_t) interactive, "");
}

static int polkit_query_start(BusLocker *locker, sd_bus_message *request, Client *client, ServiceAction action,
                              sd_bus_error *error) {
        g_autoptr(sd_bus_message) call = NULL;
        PolkitQuery *query;
        int r;

        r = polkit_check_new(locker, &call);
        if (r < 0)
                return r;
        r = polkit_subject_append(call, request, client);
        if (r < 0)
                return r;
        r = polkit_check_append(call, action, sd_bus_message_get_allow_interactive_authorization(request) > 0);
        if (r < 0)
                return r;

        query = g_new0(PolkitQuery, 1);
        query->locker = locker;
        query->request = sd_bus_message_ref(request);
        query->action = action;
        r = sd_bus_call_async(locker->bus, &query->slot, call, on_check_authorization, query,
                              POLKIT_CALL_TIMEOUT_USEC);
        if (r < 0) {
                polkit_query_free(query);
                return sd_bus_error_set_errnof(error, r, "Failed to ask polkit: %m");
        }

        if (!locker->polkit_registry)
                locker->polkit_registry = g_hash_table_new_full(NULL, NULL, NULL,
                                                                (GDestroyNotify) polkit_query_free);
        g_hash_table_insert(locker->polkit_registry, request, query);
        return 0;
}

/* Turns polkit's answer into a verdict: > 0 allowed, < 0 refused with error set. final tells
 * whether the verdict may be kept for the client. */
static int polkit_verdict(sd_bus_message *reply, ServiceAction action, bool interactive, bool *ret_final,
                          sd_bus_error *error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        g_autofree char *message = NULL;
        bool interactive_required;
        int authorized, challenge, r;

        *ret_final = false;
        if (e) {
                /* polkitd gone, not installed or failing: an error for this call, never a hang. */
                log_warning("polkit could not decide on %s: %s", service_action_to_string(action),
                            e->message ?: e->name);
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Authorization could not be checked: %s", e->message ?: e->name);
        }

        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to parse polkit's answer: %m");

        if (authorized) {
                *ret_final = true;
                return 1;
        }
        /* A challenge tells a caller that did not allow interaction to ask again allowing it; one that
         * did has had its chance. Either way it learns which action it lacks and how it is granted. */
        interactive_required = challenge && !interactive;
        message = service_action_denied_message(action, interactive_required);
        if (interactive_required)
                return sd_bus_error_set(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED, message);
        *ret_final = true;
        return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, message);
}

static int polkit_query_verdict(PolkitQuery *query, bool *ret_final, sd_bus_error *error) {
        return polkit_verdict(query->reply, query->action,
                              sd_bus_message_get_allow_interactive_authorization(query->request) > 0, ret_final, error);
}

/* ---- a process, for front ends without D-Bus messages ---- */

struct BusPolkitQuery {
        sd_bus_slot *slot;
        ServiceAction action;
        BusPolkitCallback callback;
        void *userdata;
};

BusPolkitQuery *bus_polkit_query_free(BusPolkitQuery *query) {
        if (!query)
                return NULL;
        sd_bus_slot_unref(query->slot);
        g_free(query);
        return NULL;
}

static int on_process_checked(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        BusPolkitQuery *query = userdata;
        BusPolkitCallback callback = query->callback;
        void *callback_userdata = query->userdata;
        bool final;
        int r;

        r = polkit_verdict(reply, query->action, /* interactive= */ false, &final, &error);
        /* The query is over before its owner hears of it: the callback may free what owns it. */
        bus_polkit_query_free(query);
        callback(r, final, &error, callback_userdata);
        return 1;
}

int bus_polkit_check_process(BusLocker *locker, pid_t pid, uid_t uid, ServiceAction action,
                             BusPolkitCallback callback, void *userdata, BusPolkitQuery **ret) {
        g_autoptr(sd_bus_message) call = NULL;
        BusPolkitQuery *query;
        int r;

        if (!locker->bus)
                return -ENOTCONN;

        r = polkit_check_new(locker, &call);
        if (r >= 0)
                r = polkit_subject_append_process(call, pid, uid);
        if (r >= 0)
                r = polkit_check_append(call, action, /* interactive= */ false);
        if (r < 0)
                return r;

        query = g_new0(BusPolkitQuery, 1);
        query->action = action;
        query->callback = callback;
        query->userdata = userdata;
        r = sd_bus_call_async(locker->bus, &query->slot, call, on_process_checked, query, POLKIT_CALL_TIMEOUT_USEC);
        if (r < 0) {
                bus_polkit_query_free(query);
                return r;
        }

        *ret = query;
        return 0;
}

int bus_authorize_filter(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        BusLocker *locker = userdata;
        int r;

        if (!sd_bus_message_is_method_call(message, PYLOCKER_INTERFACE, NULL) ||
            g_strcmp0(sd_bus_message_get_path(message), PYLOCKER_OBJECT_PATH) != 0)
                return 0;

        r = bus_authorize(locker, message, &error);
        if (r > 0)
                return 0;          /* on to the handler */
        if (r == 0)
                return 1;          /* polkit decides; the call comes round again */

        if (!sd_bus_error_is_set(&error))
                (void) sd_bus_error_set_errno(&error, r);
        (void) sd_bus_reply_method_error(message, &error);
        return 1;
}

int bus_authorize(BusLocker *locker, sd_bus_message *message, sd_bus_error *error) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        PolkitQuery *query;
        ServiceAction action;
        Client *client;
        bool final;
        int r;

        r = service_method_action(sd_bus_message_get_member(message), &action);
        if (r < 0)
                /* Not one of our methods: sd-bus answers UnknownMethod, and nobody is registered or asked. */
                return 1;

        /* Every peer that calls becomes a client, authorized or not: its identity and polkit's final
         * answers are then kept for its connection. */
        r = bus_locker_get_client(locker, message, &client, error);
        if (r < 0)
                return r;

        /* The call comes round again with polkit's answer. */
        query = locker->polkit_registry ? g_hash_table_lookup(locker->polkit_registry, message) : NULL;
        if (query) {
                if (!query->reply)
                        /* Dispatched again before the answer: cannot happen, but never answer twice. */
                        return 0;
                r = polkit_query_verdict(query, &final, error);
                if (r < 0)
                        service_note_denial(locker->service);
                if (final)
                        client->verdicts[action] = r > 0 ? CLIENT_VERDICT_ALLOWED : CLIENT_VERDICT_DENIED;
                g_hash_table_remove(locker->polkit_registry, message);
                return r;
        }

        r = service_authorize(locker->service, client, action, &e);
        if (r < 0)
                return bus_error_from_service(error, &e);
        if (r > 0)
                return 1;

        r = polkit_query_start(locker, message, client, action, error);
        if (r < 0)
                return r;
        return 0;
}
