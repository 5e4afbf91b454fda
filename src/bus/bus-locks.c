/* The lock calls of org.pylocker.Locker: read the call into a request, ask the core, answer. */
#include <errno.h>
#include <string.h>

#include "bus-errors.h"
#include "bus-internal.h"
#include "bus-options.h"
#include "log.h"
#include "macro.h"
#include "pylocker-names.h"
#include "sd-cleanup.h"

/* The Acquire options, read straight into the request. */
static const BusOption acquire_options[] = {
        { "shared",         BUS_OPTION_BOOL,   offsetof(LockRequest, shared) },
        { "nonblocking",    BUS_OPTION_BOOL,   offsetof(LockRequest, nonblocking) },
        { "ttl_usec",       BUS_OPTION_UINT64, offsetof(LockRequest, ttl_usec) },
        { "deadlock_check", BUS_OPTION_BOOL,   offsetof(LockRequest, skip_deadlock_check), .invert = true },
};

int bus_append_lock_paths(sd_bus_message *m, const Lock *lock) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "s");
        if (r < 0)
                return r;
        for (size_t i = 0; i < lock_get_n_paths(lock); i++) {
                r = sd_bus_message_append_basic(m, 's', lock_get_path(lock, i));
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static int read_lock_id(sd_bus_message *message, uint8_t ret_id[LOCK_ID_SIZE], sd_bus_error *error) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        const char *text;
        int r;

        r = sd_bus_message_read(message, "s", &text);
        if (r < 0)
                return r;
        if (service_parse_lock_id(text, ret_id, &e) < 0)
                return bus_error_from_service(error, &e);
        return 0;
}

/* The answer to an Acquire, now or when it ends; the call is the completion's userdata. */
static int acquire_done(Service *service, Client *client, const AcquireResult *result, void *userdata) {
        g_autoptr(sd_bus_message) call = userdata;
        char id[LOCK_ID_STRING_MAX];

        if (!result->lock) {
                /* Cancelled: the caller is gone, there is nobody to answer. */
                if (result->error->code == SERVICE_ERROR_CANCELLED)
                        return 0;
                return bus_reply_service_error(call, result->error);
        }

        lock_id_to_string(lock_get_id(result->lock), id);
        if (result->handle_fd < 0)
                return sd_bus_reply_method_return(call, "st", id, lock_get_token(result->lock));
        return sd_bus_reply_method_return(call, "sth", id, lock_get_token(result->lock), result->handle_fd);
}

static int acquire(sd_bus_message *message, BusLocker *locker, bool with_handle, sd_bus_error *error) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        size_t max_paths = lock_table_get_limits(locker->service->table)->max_paths_per_request;
        g_autoptr(GPtrArray) paths = NULL;
        bool too_many;
        AcquireCall call = {
                .with_handle = with_handle,
                .done = acquire_done,
        };
        Client *client;
        int r;

        r = bus_read_strings(message, max_paths, "path", &paths, &too_many, error);
        if (r < 0)
                return r;
        if (too_many)
                /* The rest of the call is left unread: refuse before looking further. */
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Too many paths: at most %zu per request.",
                                         max_paths);
        call.request.paths = (const char *const *) paths->pdata;
        call.request.n_paths = paths->len;
        r = sd_bus_message_read(message, "t", &call.request.timeout_usec);
        if (r < 0)
                return r;
        r = bus_options_read(message, acquire_options, ELEMENTSOF(acquire_options), &call.request, error);
        if (r < 0)
                return r;

        if (with_handle && !sd_bus_can_send(sd_bus_message_get_bus(message), SD_BUS_TYPE_UNIX_FD))
                return sd_bus_error_set(error, SD_BUS_ERROR_NOT_SUPPORTED,
                                        "This connection cannot pass file descriptors.");

        r = bus_locker_get_client(locker, message, &client, error);
        if (r < 0)
                return r;

        call.userdata = sd_bus_message_ref(message);
        r = service_acquire(locker->service, client, &call, &e);
        if (r < 0) {
                sd_bus_message_unref(message);
                return bus_error_from_service(error, &e);
        }
        return 1;
}

int bus_method_acquire(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return acquire(message, userdata, /* with_handle= */ false, error);
}

int bus_method_acquire_handle(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return acquire(message, userdata, /* with_handle= */ true, error);
}

int bus_method_register(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        BusLocker *locker = userdata;
        const char *name;
        Client *client;
        int r;

        r = sd_bus_message_read(message, "s", &name);
        if (r < 0)
                return r;
        r = bus_locker_get_client(locker, message, &client, error);
        if (r < 0)
                return r;

        r = client_set_name(client, name);
        if (r == -EEXIST)
                return sd_bus_error_setf(error, PL_ERROR_ALREADY_EXISTS,
                                         "The name '%s' is taken by another client.", name);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid client name: at most %d bytes, no control characters, not shaped like a client id.",
                                         CLIENT_NAME_MAX);

        return sd_bus_reply_method_return(message, "s", client->id);
}

static void release_done(void *userdata, bool answered) {
        sd_bus_message *message = userdata;
        int r;

        if (answered) {
                r = sd_bus_reply_method_return(message, "u", 1);
                if (r < 0)
                        log_debug_errno(r, "Failed to answer a Release, ignoring: %m");
        }
        sd_bus_message_unref(message);
}

int bus_method_release(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        BusLocker *locker = userdata;
        uint8_t id[LOCK_ID_SIZE];
        Client *client;
        int r;

        r = read_lock_id(message, id, error);
        if (r < 0)
                return r;
        r = bus_locker_get_client(locker, message, &client, error);
        if (r < 0)
                return r;

        r = service_release(locker->service, client, id, &e, release_done, sd_bus_message_ref(message));
        if (r != 2)
                sd_bus_message_unref(message);
        if (r < 0)
                return service_error_is_set(&e) ? bus_error_from_service(error, &e) : r;
        if (r == 2)
                /* Answered once the cluster has it. */
                return 1;
        r = sd_bus_reply_method_return(message, "u", (uint32_t) r);
        /* A caller that expects no reply has had its answer: sd-bus must not take 0 for "no such
         * method". */
        return r < 0 ? r : 1;
}

int bus_method_refresh(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        BusLocker *locker = userdata;
        uint8_t id[LOCK_ID_SIZE];
        uint64_t ttl_usec, expires;
        Client *client;
        int r;

        r = read_lock_id(message, id, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(message, "t", &ttl_usec);
        if (r < 0)
                return r;
        r = bus_locker_get_client(locker, message, &client, error);
        if (r < 0)
                return r;

        r = service_refresh(locker->service, client, id, ttl_usec, &expires, &e);
        if (r < 0)
                return service_error_is_set(&e) ? bus_error_from_service(error, &e) : r;
        return sd_bus_reply_method_return(message, "t", expires);
}

typedef struct ListLocksReply {
        sd_bus_message *reply;
        int error;
} ListLocksReply;

static void append_lock_info(const ServiceLockInfo *info, void *userdata) {
        ListLocksReply *l = userdata;
        char id[LOCK_ID_STRING_MAX];
        int r;

        if (l->error < 0)
                return;
        r = sd_bus_message_open_container(l->reply, 'r', "sassstbtt");
        if (r >= 0)
                r = sd_bus_message_append(l->reply, "s", lock_id_to_string(info->id, id));
        if (r >= 0)
                r = sd_bus_message_append_strv(l->reply, (char **) info->paths);
        if (r >= 0)
                r = sd_bus_message_append(l->reply, "sstbtt", info->owner, info->name ?: "", info->token,
                                          (int) info->shared, info->acquired_realtime, info->expires_realtime);
        if (r >= 0)
                r = sd_bus_message_close_container(l->reply);
        l->error = r;
}

int bus_method_list_locks(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        g_autoptr(sd_bus_message) reply = NULL;
        BusLocker *locker = userdata;
        ListLocksReply l;
        int r;

        /* The authorization filter has registered the caller already. */
        r = bus_new_array_reply(message, "(sassstbtt)", &reply);
        if (r < 0)
                return r;

        l = (ListLocksReply) { .reply = reply };
        service_foreach_lock(locker->service, append_lock_info, &l);
        if (l.error < 0)
                return l.error;

        return bus_send_array_reply(reply);
}

int bus_method_list_clients(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        g_autoptr(sd_bus_message) reply = NULL;
        BusLocker *locker = userdata;
        GHashTableIter iter;
        gpointer value;
        int r;

        /* The authorization filter has registered the caller already. */
        r = bus_new_array_reply(message, "(ssuus)", &reply);
        if (r < 0)
                return r;

        g_hash_table_iter_init(&iter, locker->service->clients);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                Client *c = value;

                r = sd_bus_message_append(reply, "(ssuus)", c->id, client_get_display_name(c), (uint32_t) c->uid,
                                          (uint32_t) c->pid, client_transport_to_string(c->transport));
                if (r < 0)
                        return r;
        }

        return bus_send_array_reply(reply);
}

/* PropertiesChanged follows from the core's on_limit_changed, whichever front end set the limit. */
static int set_limit(sd_bus_message *message, BusLocker *locker, bool max_lock_time, sd_bus_error *error) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        uint64_t usec;
        int r;

        r = sd_bus_message_read(message, "t", &usec);
        if (r < 0)
                return r;

        r = max_lock_time ? service_set_max_lock_time(locker->service, usec, &e) :
                            service_set_default_timeout(locker->service, usec, &e);
        if (r < 0)
                return bus_error_from_service(error, &e);

        return sd_bus_reply_method_return(message, NULL);
}

void bus_locker_limit_changed(BusLocker *locker, const char *property) {
        int r;

        if (!locker->bus)
                return;
        r = sd_bus_emit_properties_changed(locker->bus, PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE, property, NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to signal that %s changed, ignoring: %m", property);
}

int bus_method_set_max_lock_time(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return set_limit(message, userdata, /* max_lock_time= */ true, error);
}

int bus_method_set_default_timeout(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return set_limit(message, userdata, /* max_lock_time= */ false, error);
}

int bus_method_force_release(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        BusLocker *locker = userdata;
        uint8_t id[LOCK_ID_SIZE];
        int r;

        r = read_lock_id(message, id, error);
        if (r < 0)
                return r;
        r = service_force_release(locker->service, id, sd_bus_message_get_sender(message) ?: "a peer");
        return sd_bus_reply_method_return(message, "u", (uint32_t) r);
}
