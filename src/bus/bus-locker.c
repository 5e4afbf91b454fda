/* The org.pylocker.Locker object on D-Bus: the vtable, the lock handlers, deferred replies and signals. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bus-errors.h"
#include "bus-locker.h"
#include "bus-messages.h"
#include "bus-options.h"
#include "bus-polkit.h"
#include "client.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "sd-cleanup.h"
#include "time-util.h"

/* What the bus side keeps for a lock beyond the table: the Acquire call to answer while it waits, and
 * for AcquireHandle the pipe whose last closed write end releases it. Plain locks granted at once
 * need none. */
typedef struct LockBinding {
        Manager *manager;
        Lock *lock;
        sd_bus_message *call;
        int handle_read_fd;
        int handle_write_fd;
        sd_event_source *handle_source;
} LockBinding;

static LockBinding *lock_binding_free(LockBinding *binding) {
        if (!binding)
                return NULL;

        sd_bus_message_unref(binding->call);
        sd_event_source_disable_unref(binding->handle_source);
        close_fdp(&binding->handle_read_fd);
        close_fdp(&binding->handle_write_fd);
        g_free(binding);
        return NULL;
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LockBinding, lock_binding_free)

static LockBinding *lock_binding_new(Manager *manager) {
        LockBinding *binding = g_new0(LockBinding, 1);

        binding->manager = manager;
        binding->handle_read_fd = -1;
        binding->handle_write_fd = -1;
        return binding;
}

static int on_handle_closed(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        LockBinding *binding = userdata;

        /* Every copy of the write end is closed: the lock goes, as if released by its owner. */
        log_debug("Handle of a lock closed, releasing it.");
        lock_table_end(binding->manager->table, binding->lock, LOCK_END_RELEASED);
        return 0;
}

static int reply_granted(Manager *manager, Lock *lock, sd_bus_message *call, LockBinding *binding) {
        char id[LOCK_ID_STRING_MAX];
        int r;

        lock_id_to_string(lock_get_id(lock), id);

        if (!binding || binding->handle_write_fd < 0)
                return sd_bus_reply_method_return(call, "st", id, lock_get_token(lock));

        r = sd_bus_reply_method_return(call, "sth", id, lock_get_token(lock), binding->handle_write_fd);
        /* Our copy must go either way: only the caller's copies may keep the lock. */
        close_fdp(&binding->handle_write_fd);
        binding->handle_write_fd = -1;
        if (r < 0)
                return r;

        binding->lock = lock;
        return sd_event_add_io(manager->event, &binding->handle_source, binding->handle_read_fd, EPOLLHUP,
                               on_handle_closed, binding);
}

void bus_locker_lock_granted(Manager *manager, Lock *lock) {
        LockBinding *binding = lock_get_userdata(lock);
        g_autoptr(sd_bus_message) call = g_steal_pointer(&binding->call);
        int r;

        r = reply_granted(manager, lock, call, binding);
        if (r < 0)
                /* The caller is gone or its connection is broken: its disconnect releases the lock. */
                log_debug_errno(r, "Failed to answer a granted Acquire, ignoring: %m");

        if (binding->handle_source)
                return;
        lock_set_userdata(lock, NULL);
        lock_binding_free(binding);
}

int bus_locker_new_signal_to(Client *client, const char *member, sd_bus_message **ret) {
        g_autoptr(sd_bus_message) signal = NULL;
        int r;

        r = sd_bus_message_new_signal(client->bus, &signal, PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE, member);
        if (r < 0)
                return r;
        /* Unicast: other peers on the bus never see it, whatever their match rules. */
        if (sd_bus_is_bus_client(client->bus)) {
                r = sd_bus_message_set_destination(signal, client->id);
                if (r < 0)
                        return r;
        }

        *ret = g_steal_pointer(&signal);
        return 0;
}

static int append_lock_paths(sd_bus_message *m, const Lock *lock) {
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

static int send_lock_expired(Manager *manager, Lock *lock) {
        Client *client = lock_owner_get_userdata(lock_get_owner(lock));
        g_autoptr(sd_bus_message) signal = NULL;
        char id[LOCK_ID_STRING_MAX];
        int r;

        /* Only the holder learns about its lock. */
        r = bus_locker_new_signal_to(client, "LockExpired", &signal);
        if (r < 0)
                return r;
        r = sd_bus_message_append(signal, "s", lock_id_to_string(lock_get_id(lock), id));
        if (r < 0)
                return r;
        r = append_lock_paths(signal, lock);
        if (r < 0)
                return r;

        return sd_bus_send(client->bus, signal, NULL);
}

void bus_locker_lock_ended(Manager *manager, Lock *lock, LockEndReason reason) {
        g_autoptr(LockBinding) binding = lock_get_userdata(lock);
        int r = 0;

        if (!lock_is_granted(lock)) {
                g_assert_nonnull(binding);
                g_assert_nonnull(binding->call);

                if (reason == LOCK_END_TIMED_OUT)
                        r = sd_bus_reply_method_errorf(binding->call, PL_ERROR_TIMEOUT,
                                                       "Timed out waiting for the lock on %zu path(s).",
                                                       lock_get_n_paths(lock));
                else if (reason == LOCK_END_SHUTDOWN)
                        r = sd_bus_reply_method_errorf(binding->call, SD_BUS_ERROR_NO_SERVER,
                                                       "pylockerd is shutting down.");
                /* Cancelled: the caller is gone, there is nobody to answer. */
        } else if (reason == LOCK_END_EXPIRED || reason == LOCK_END_FORCED)
                /* No holder may lose a lock silently. */
                r = send_lock_expired(manager, lock);

        if (r < 0)
                log_debug_errno(r, "Failed to tell the client about its %s lock, ignoring: %m",
                                lock_end_reason_to_string(reason));
}

int bus_locker_get_client(Manager *manager, sd_bus_message *message, Client **ret, sd_bus_error *error) {
        g_autoptr(sd_bus_creds) creds = NULL;
        const char *sender = sd_bus_message_get_sender(message);
        Client *client;
        uid_t uid = (uid_t) -1;
        pid_t pid = 0;
        int r;

        if (!sender) {
                /* Peer to peer: the connection is the client, registered when it connected. */
                client = g_hash_table_lookup(manager->peer_clients, sd_bus_message_get_bus(message));
                if (!client)
                        return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                                                "Calls without a sender are not accepted on this connection.");
                *ret = client;
                return 0;
        }

        client = g_hash_table_lookup(manager->clients, sender);
        if (client) {
                *ret = client;
                return 0;
        }

        /* The bus vouches for these. A sender that is already gone fails here and never becomes a
         * client, so nothing can outlive its NameOwnerChanged. */
        r = sd_bus_query_sender_creds(message, SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        (void) sd_bus_creds_get_pid(creds, &pid);

        client = client_new(manager, sender, CLIENT_TRANSPORT_BUS, sd_bus_message_get_bus(message), uid, pid);
        log_debug("Client %s registered (uid %u, pid %d).", sender, (unsigned) uid, (int) pid);
        *ret = client;
        return 0;
}

static int read_lock_id(sd_bus_message *message, uint8_t ret_id[LOCK_ID_SIZE], sd_bus_error *error) {
        const char *text;
        int r;

        r = sd_bus_message_read(message, "s", &text);
        if (r < 0)
                return r;
        if (lock_id_from_string(text, ret_id) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid lock id '%.64s': expected 32 lowercase hex digits.", text);
        return 0;
}

/* Reads at most max + 1 paths, pointing into the message: enough to refuse an oversized list
 * without copying it. */
static int read_paths(sd_bus_message *message, size_t max, GPtrArray **ret) {
        g_autoptr(GPtrArray) paths = g_ptr_array_new();
        const char *path;
        int r;

        r = sd_bus_message_enter_container(message, 'a', "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read_basic(message, 's', &path)) > 0) {
                g_ptr_array_add(paths, (gpointer) path);
                if (paths->len > max) {
                        /* The caller refuses the list: no need to look at the rest. */
                        *ret = g_steal_pointer(&paths);
                        return 0;
                }
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(message);
        if (r < 0)
                return r;

        *ret = g_steal_pointer(&paths);
        return 0;
}

/* The Acquire options, read straight into the request. */
static const BusOption acquire_options[] = {
        { "shared",      BUS_OPTION_BOOL,   offsetof(LockRequest, shared) },
        { "nonblocking", BUS_OPTION_BOOL,   offsetof(LockRequest, nonblocking) },
        { "ttl_usec",    BUS_OPTION_UINT64, offsetof(LockRequest, ttl_usec) },
};

static int path_error(LockTable *table, int code, size_t index, sd_bus_error *error) {
        const LockTableLimits *limits = lock_table_get_limits(table);

        switch (code) {
        case LOCK_E_NO_PATHS:
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "No paths given.");
        case LOCK_E_TOO_MANY_PATHS:
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Too many paths: at most %zu per request.", limits->max_paths_per_request);
        case LOCK_E_EMPTY_PATH:
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Path %zu is empty.", index);
        case LOCK_E_PATH_TOO_LONG:
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Path %zu is longer than %zu bytes.", index, limits->max_path_length);
        case LOCK_E_PATH_NOT_UTF8:
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Path %zu is not valid UTF-8.", index);
        default:
                return -EINVAL;
        }
}

static int acquire(sd_bus_message *message, Manager *manager, bool with_handle, sd_bus_error *error) {
        g_autoptr(LockBinding) binding = NULL;
        g_autoptr(GPtrArray) paths = NULL;
        LockRequest request = {};
        const LockTableLimits *limits = lock_table_get_limits(manager->table);
        size_t bad_index;
        Client *client;
        Lock *lock;
        int r;

        r = read_paths(message, limits->max_paths_per_request, &paths);
        if (r < 0)
                return r;
        request.paths = (const char *const *) paths->pdata;
        request.n_paths = paths->len;
        r = sd_bus_message_read(message, "t", &request.timeout_usec);
        if (r < 0)
                return r;
        r = bus_options_read(message, acquire_options, ELEMENTSOF(acquire_options), &request, error);
        if (r < 0)
                return r;

        r = lock_table_check_paths(manager->table, request.paths, request.n_paths, &bad_index);
        if (r != 0)
                return path_error(manager->table, r, bad_index, error);

        if (with_handle) {
                int fds[2];

                if (!sd_bus_can_send(sd_bus_message_get_bus(message), SD_BUS_TYPE_UNIX_FD))
                        return sd_bus_error_set(error, SD_BUS_ERROR_NOT_SUPPORTED,
                                                "This connection cannot pass file descriptors.");
                binding = lock_binding_new(manager);
                if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
                        return sd_bus_error_set_errnof(error, errno, "Failed to create lock handle: %m");
                binding->handle_read_fd = fds[0];
                binding->handle_write_fd = fds[1];
        }

        r = bus_locker_get_client(manager, message, &client, error);
        if (r < 0)
                return r;

        r = lock_table_acquire(manager->table, client->owner, &request, binding, &lock, NULL);
        switch (r) {
        case 0:
                r = reply_granted(manager, lock, message, binding);
                if (r < 0) {
                        /* Nobody would know the id: take the lock back at once. */
                        lock_set_userdata(lock, NULL);
                        lock_table_end(manager->table, lock, LOCK_END_RELEASED);
                        return r;
                }
                if (binding && binding->handle_source)
                        g_steal_pointer(&binding);
                else
                        lock_set_userdata(lock, NULL);
                return 1;

        case LOCK_E_PENDING:
                /* The answer is deferred until the grant, the timeout or the caller's disconnect. */
                if (!binding)
                        binding = lock_binding_new(manager);
                binding->call = sd_bus_message_ref(message);
                lock_set_userdata(lock, g_steal_pointer(&binding));
                return 1;

        case LOCK_E_WOULD_BLOCK:
                return sd_bus_error_set(error, PL_ERROR_TIMEOUT, "The lock is taken and nonblocking was requested.");

        case LOCK_E_QUOTA:
                return sd_bus_error_setf(error, PL_ERROR_LIMITS_EXCEEDED,
                                         "Too many locks held or awaited by this client (at most %zu, "
                                         "of which %zu waiting).",
                                         limits->max_locks_per_owner, limits->max_waiters_per_owner);
        case LOCK_E_GROUP_QUOTA:
                return sd_bus_error_setf(error, PL_ERROR_LIMITS_EXCEEDED,
                                         "Too many locks held or awaited by this user's clients (at most %zu, "
                                         "of which %zu waiting).",
                                         limits->max_locks_per_group, limits->max_waiters_per_group);
        case LOCK_E_DEADLOCK:
                return sd_bus_error_set(error, PL_ERROR_DEADLOCK,
                                        "Waiting would deadlock with a client that waits for this one.");
        default:
                return r < 0 ? r : path_error(manager->table, r, 0, error);
        }
}

static int method_acquire(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return acquire(message, userdata, /* with_handle= */ false, error);
}

static int method_acquire_handle(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return acquire(message, userdata, /* with_handle= */ true, error);
}

static int method_register(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *manager = userdata;
        const char *name;
        Client *client;
        int r;

        r = sd_bus_message_read(message, "s", &name);
        if (r < 0)
                return r;
        r = bus_locker_get_client(manager, message, &client, error);
        if (r < 0)
                return r;

        r = client_set_name(client, name);
        if (r == -EEXIST)
                return sd_bus_error_setf(error, PL_ERROR_ALREADY_EXISTS,
                                         "The name '%s' is taken by another client.", name);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid client name: at most %d bytes, no control characters.",
                                         CLIENT_NAME_MAX);

        return sd_bus_reply_method_return(message, "s", client->id);
}

static int method_release(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *manager = userdata;
        uint8_t id[LOCK_ID_SIZE];
        Client *client;
        int r;

        r = read_lock_id(message, id, error);
        if (r < 0)
                return r;
        r = bus_locker_get_client(manager, message, &client, error);
        if (r < 0)
                return r;

        r = lock_table_release(manager->table, client->owner, id);
        if (r == LOCK_E_NOT_FOUND)
                return sd_bus_reply_method_return(message, "u", 0);
        if (r == LOCK_E_NOT_OWNER)
                return sd_bus_error_set(error, PL_ERROR_NOT_OWNER, "The lock is held by another client.");
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, "u", 1);
}

static int method_refresh(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *manager = userdata;
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
        r = bus_locker_get_client(manager, message, &client, error);
        if (r < 0)
                return r;

        r = lock_table_refresh(manager->table, client->owner, id, ttl_usec, &expires);
        if (r == LOCK_E_NOT_FOUND)
                return sd_bus_error_set(error, PL_ERROR_NOT_FOUND, "No such lock: it was released or expired.");
        if (r == LOCK_E_NOT_OWNER)
                return sd_bus_error_set(error, PL_ERROR_NOT_OWNER, "The lock is held by another client.");
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, "t", expires);
}

int bus_locker_new_array_reply(sd_bus_message *call, const char *contents, sd_bus_message **ret) {
        g_autoptr(sd_bus_message) reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', contents);
        if (r < 0)
                return r;
        *ret = g_steal_pointer(&reply);
        return 0;
}

int bus_locker_send_array_reply(sd_bus_message *reply) {
        int r;

        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_locks(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        g_autoptr(sd_bus_message) reply = NULL;
        Manager *manager = userdata;
        LockTableIter iter;
        Lock *lock;
        int r;

        /* The authorization filter has registered the caller already. */
        r = bus_locker_new_array_reply(message, "(sassstbtt)", &reply);
        if (r < 0)
                return r;

        lock_table_iter_init(&iter, manager->table);
        while (lock_table_iter_next(&iter, &lock)) {
                Client *owner = lock_owner_get_userdata(lock_get_owner(lock));
                char id[LOCK_ID_STRING_MAX];

                r = sd_bus_message_open_container(reply, 'r', "sassstbtt");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "s", lock_id_to_string(lock_get_id(lock), id));
                if (r < 0)
                        return r;
                r = append_lock_paths(reply, lock);
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "sstbtt",
                                          owner->id, client_get_display_name(owner),
                                          lock_get_token(lock), (int) lock_is_shared(lock),
                                          lock_get_acquired_realtime(lock), lock_get_expires_realtime(lock));
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }

        return bus_locker_send_array_reply(reply);
}

static int method_list_clients(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        g_autoptr(sd_bus_message) reply = NULL;
        Manager *manager = userdata;
        GHashTableIter iter;
        gpointer value;
        int r;

        /* The authorization filter has registered the caller already. */
        r = bus_locker_new_array_reply(message, "(ssuus)", &reply);
        if (r < 0)
                return r;

        g_hash_table_iter_init(&iter, manager->clients);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                Client *c = value;

                r = sd_bus_message_append(reply, "(ssuus)", c->id, client_get_display_name(c), (uint32_t) c->uid,
                                          (uint32_t) c->pid, client_transport_to_string(c->transport));
                if (r < 0)
                        return r;
        }

        return bus_locker_send_array_reply(reply);
}

static int set_limit(sd_bus_message *message, Manager *manager, bool max_lock_time, sd_bus_error *error) {
        LockTableLimits limits = *lock_table_get_limits(manager->table);
        char buf[FORMAT_TIME_SPAN_MAX];
        uint64_t usec;
        int r;

        r = sd_bus_message_read(message, "t", &usec);
        if (r < 0)
                return r;
        if (usec == 0 || (max_lock_time && usec == UINT64_MAX))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid %s: %" PRIu64 ".",
                                         max_lock_time ? "maximum lock time" : "default timeout", usec);

        if (max_lock_time)
                limits.max_lock_usec = usec;
        else
                limits.default_timeout_usec = usec;
        manager_set_limits(manager, &limits);
        log_info("%s set to %s.", max_lock_time ? "MaxLockTime" : "DefaultTimeout",
                 format_time_span(buf, sizeof(buf), usec));

        return sd_bus_reply_method_return(message, NULL);
}

static int method_set_max_lock_time(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return set_limit(message, userdata, /* max_lock_time= */ true, error);
}

static int method_set_default_timeout(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return set_limit(message, userdata, /* max_lock_time= */ false, error);
}

static int method_force_release(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *manager = userdata;
        uint8_t id[LOCK_ID_SIZE];
        Lock *lock;
        int r;

        r = read_lock_id(message, id, error);
        if (r < 0)
                return r;
        lock = lock_table_find(manager->table, id);
        if (!lock)
                return sd_bus_reply_method_return(message, "u", 0);

        log_info("Lock of client %s force-released by %s.",
                 ((Client *) lock_owner_get_userdata(lock_get_owner(lock)))->id,
                 sd_bus_message_get_sender(message) ?: "a peer");
        lock_table_end(manager->table, lock, LOCK_END_FORCED);
        return sd_bus_reply_method_return(message, "u", 1);
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int property_get_limit(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const LockTableLimits *limits = lock_table_get_limits(((Manager *) userdata)->table);

        return sd_bus_message_append(reply, "t", strcmp(property, "MaxLockTime") == 0 ?
                                     limits->max_lock_usec : limits->default_timeout_usec);
}

static int property_get_count(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *manager = userdata;
        size_t n;

        if (strcmp(property, "LockCount") == 0)
                n = lock_table_get_n_locks(manager->table);
        else if (strcmp(property, "WaiterCount") == 0)
                n = lock_table_get_n_waiters(manager->table);
        else
                n = g_hash_table_size(manager->clients);

        return sd_bus_message_append(reply, "u", (uint32_t) MIN(n, UINT32_MAX));
}

static const sd_bus_vtable locker_vtable[] = {
        SD_BUS_VTABLE_START(0),

        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MaxLockTime", "t", property_get_limit, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DefaultTimeout", "t", property_get_limit, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LockCount", "u", property_get_count, 0, 0),
        SD_BUS_PROPERTY("WaiterCount", "u", property_get_count, 0, 0),
        SD_BUS_PROPERTY("ClientCount", "u", property_get_count, 0, 0),

        SD_BUS_METHOD_WITH_ARGS("Register",
                                SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("s", client_id),
                                method_register, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Acquire",
                                SD_BUS_ARGS("as", paths, "t", timeout_usec, "a{sv}", options),
                                SD_BUS_RESULT("s", lock_id, "t", token),
                                method_acquire, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AcquireHandle",
                                SD_BUS_ARGS("as", paths, "t", timeout_usec, "a{sv}", options),
                                SD_BUS_RESULT("s", lock_id, "t", token, "h", handle),
                                method_acquire_handle, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Release",
                                SD_BUS_ARGS("s", lock_id),
                                SD_BUS_RESULT("u", code),
                                method_release, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Refresh",
                                SD_BUS_ARGS("s", lock_id, "t", ttl_usec),
                                SD_BUS_RESULT("t", expires_usec),
                                method_refresh, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListLocks",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sassstbtt)", locks),
                                method_list_locks, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListClients",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ssuus)", clients),
                                method_list_clients, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetMaxLockTime",
                                SD_BUS_ARGS("t", usec),
                                SD_BUS_NO_RESULT,
                                method_set_max_lock_time, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetDefaultTimeout",
                                SD_BUS_ARGS("t", usec),
                                SD_BUS_NO_RESULT,
                                method_set_default_timeout, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ForceRelease",
                                SD_BUS_ARGS("s", lock_id),
                                SD_BUS_RESULT("u", code),
                                method_force_release, SD_BUS_VTABLE_UNPRIVILEGED),

        SD_BUS_METHOD_WITH_ARGS("Publish",
                                SD_BUS_ARGS("s", message, "as", receivers, "t", timeout_usec, "a{sv}", options),
                                SD_BUS_RESULT("s", publication_id),
                                bus_messages_method_publish, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListMessages",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sssstt)", publications),
                                bus_messages_method_list, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetMessage",
                                SD_BUS_ARGS("s", message),
                                SD_BUS_RESULT("a(sssstt)", publications),
                                bus_messages_method_get, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PopMessage",
                                SD_BUS_ARGS("s", message),
                                SD_BUS_RESULT("a(sssstt)", publications),
                                bus_messages_method_pop, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("HasMessage",
                                SD_BUS_ARGS("s", message),
                                SD_BUS_RESULT("b", exists),
                                bus_messages_method_has, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveMessage",
                                SD_BUS_ARGS("s", message, "as", senders),
                                SD_BUS_RESULT("u", removed),
                                bus_messages_method_remove, SD_BUS_VTABLE_UNPRIVILEGED),

        SD_BUS_SIGNAL_WITH_ARGS("LockExpired", SD_BUS_ARGS("s", lock_id, "as", paths), 0),
        SD_BUS_SIGNAL_WITH_ARGS("MessagePublished",
                                SD_BUS_ARGS("s", publication_id, "s", sender, "s", message, "t", expires_usec), 0),

        SD_BUS_VTABLE_END
};

int bus_locker_add_object(Manager *manager, sd_bus *bus) {
        int r;

        r = sd_bus_add_object_vtable(bus, NULL, PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE, locker_vtable, manager);
        if (r < 0)
                return log_error_errno(r, "Failed to add object vtable: %m");

        /* Every call is authorized in one place, before its handler runs. */
        r = sd_bus_add_filter(bus, NULL, bus_authorize_filter, manager);
        if (r < 0)
                return log_error_errno(r, "Failed to add authorization filter: %m");

        r = sd_bus_error_add_map(pylocker_bus_error_map);
        if (r < 0)
                return log_error_errno(r, "Failed to register error map: %m");

        return 0;
}
