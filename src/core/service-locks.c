/* The lock calls of the service: acquire with its deferred answer and optional handle, release,
 * refresh, and the admin calls. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "service-internal.h"
#include "time-util.h"

/* What the core keeps for a lock beyond the table: the completion of an Acquire still waiting, and
 * for a lock with a handle the pipe whose last closed write end releases it. It is the lock's
 * userdata while either is there; plain locks granted at once need none. */
typedef struct LockBinding {
        Service *service;
        Lock *lock;
        AcquireCompletion done;         /* NULL once answered */
        void *done_userdata;
        int handle_read_fd;
        int handle_write_fd;
        sd_event_source *handle_source;
        bool handle_closed;             /* ending because its handle was closed */
        uint64_t wait_start;            /* CLOCK_MONOTONIC, when it had to wait */
        /* With a gate: a binding for every lock, as long as it lives. */
        bool admitted;                  /* given to the gate: retire it when it ends */
        bool nonblocking;
        uint64_t lease_usec;
        uint64_t deadline;              /* CLOCK_MONOTONIC, the end of the wait; UINT64_MAX: none */
        void *gate_data;
        GList admission_link;           /* in Service.gate_admissions while waiting for admit */
        GList confirming_link;          /* in Service.gate_confirming while granted by the table and the
                                         * gate's answer awaited (data set then) */
        ServiceErrorCode gate_error;
        char *gate_message;             /* why the gate refused it, or NULL */
} LockBinding;

static LockBinding *lock_binding_free(LockBinding *binding) {
        if (!binding)
                return NULL;

        sd_event_source_disable_unref(binding->handle_source);
        if (binding->admission_link.data)
                g_queue_unlink(&binding->service->gate_admissions, &binding->admission_link);
        if (binding->confirming_link.data)
                g_queue_unlink(&binding->service->gate_confirming, &binding->confirming_link);
        g_free(binding->gate_message);
        close_fdp(&binding->handle_read_fd);
        close_fdp(&binding->handle_write_fd);
        g_free(binding);
        return NULL;
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LockBinding, lock_binding_free)

static LockBinding *lock_binding_new(Service *service) {
        LockBinding *binding = g_new0(LockBinding, 1);

        binding->service = service;
        binding->handle_read_fd = -1;
        binding->handle_write_fd = -1;
        binding->deadline = UINT64_MAX;
        return binding;
}

static int on_handle_closed(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        LockBinding *binding = userdata;

        /* Every copy of the write end is closed: the lock goes, as if released by its owner (who is
         * told, where its front end says so: the handle may have been closed by another process). */
        log_debug("Handle of a lock closed, releasing it.");
        binding->handle_closed = true;
        lock_table_end(binding->service->table, binding->lock, LOCK_END_RELEASED);
        return 0;
}

/* Gives the grant to the caller. Afterwards the binding is the lock's userdata only while a handle
 * is watched; otherwise it is freed. */
static int answer_granted(Service *service, Lock *lock, LockBinding *binding) {
        Client *client = lock_owner_get_userdata(lock_get_owner(lock));
        AcquireResult result = {
                .lock = lock,
                .handle_fd = binding->handle_write_fd,
        };
        int r, k;

        r = binding->done(service, client, &result, binding->done_userdata);
        binding->done = NULL;

        if (binding->handle_write_fd < 0) {
                /* The gate's state stays with the lock until it ends. */
                if (!service->gate_ops) {
                        lock_set_userdata(lock, NULL);
                        lock_binding_free(binding);
                }
                return r;
        }

        /* Our copy must go either way: only the caller's copies may keep the lock. */
        close_fdp(&binding->handle_write_fd);
        binding->lock = lock;
        k = sd_event_add_io(service->event, &binding->handle_source, binding->handle_read_fd, EPOLLHUP,
                            on_handle_closed, binding);
        if (k < 0)
                log_warning_errno(k, "Failed to watch a lock's handle, the lock stays until released: %m");
        return r;
}

static void count_grant(Service *service, LockBinding *binding, uint64_t granted) {
        service->stats.grants++;
        service_histogram_add(&service->stats.wait_time,
                              binding->wait_start > 0 && granted > binding->wait_start ? granted - binding->wait_start : 0);
}

/* Hands a lock the table granted to the gate, its wait still bounded by the request's timeout. */
static bool is_confirming(const LockBinding *binding) {
        return binding && binding->confirming_link.data;
}

static void set_confirming(Service *service, LockBinding *binding, bool confirming) {
        if (confirming == is_confirming(binding))
                return;
        if (confirming) {
                binding->confirming_link.data = binding;
                g_queue_push_tail_link(&service->gate_confirming, &binding->confirming_link);
        } else {
                g_queue_unlink(&service->gate_confirming, &binding->confirming_link);
                binding->confirming_link.data = NULL;
        }
}

static void gate_admit(Service *service, Lock *lock, LockBinding *binding) {
        binding->admitted = true;
        binding->lock = lock;
        set_confirming(service, binding, true);
        lock_table_set_expiry(service->table, lock, binding->deadline);
        service->gate_ops->admit(service->gate, lock, binding->nonblocking,
                                 lease_clamp(binding->lease_usec, lock_table_get_limits(service->table)->max_lock_usec),
                                 &binding->gate_data);
}

/* The table granted them in a callback, where the table must not be touched: admit them now. */
static int on_gate_admissions(sd_event_source *source, void *userdata) {
        Service *service = userdata;
        GList *link;

        while ((link = g_queue_pop_head_link(&service->gate_admissions))) {
                LockBinding *binding = link->data;

                link->data = NULL;
                gate_admit(service, binding->lock, binding);
        }
        return 0;
}

static void queue_gate_admission(Service *service, Lock *lock, LockBinding *binding) {
        int r;

        binding->lock = lock;
        binding->admission_link.data = binding;
        g_queue_push_tail_link(&service->gate_admissions, &binding->admission_link);

        if (!service->gate_admit_source) {
                r = sd_event_add_defer(service->event, &service->gate_admit_source, on_gate_admissions, service);
                if (r < 0) {
                        (void) sd_event_exit(service->event, log_error_errno(r, "Failed to add admission source: %m"));
                        return;
                }
                (void) sd_event_source_set_description(service->gate_admit_source, "gate admissions");
        }
        (void) sd_event_source_set_enabled(service->gate_admit_source, SD_EVENT_ONESHOT);
}

void service_lock_granted(LockTable *table, Lock *lock, void *userdata) {
        Service *service = userdata;
        LockBinding *binding = lock_get_userdata(lock);
        int r;

        if (service->gate_ops) {
                queue_gate_admission(service, lock, binding);
                return;
        }

        count_grant(service, binding, lock_get_acquired_monotonic(lock));
        r = answer_granted(service, lock, binding);
        if (r < 0)
                /* The caller is gone or its connection is broken: its disconnect releases the lock. */
                log_debug_errno(r, "Failed to answer a granted Acquire, ignoring: %m");
}

void service_set_gate(Service *service, const ServiceGateOps *ops, void *gate) {
        g_assert(lock_table_get_n_locks(service->table) == 0 && lock_table_get_n_waiters(service->table) == 0);

        service->gate_ops = ops;
        service->gate = gate;
}

bool service_lock_is_confirmed(const Lock *lock) {
        LockBinding *binding = lock_get_userdata(lock);

        return lock_is_granted(lock) && !is_confirming(binding);
}

void service_gate_confirm(Service *service, Lock *lock, uint64_t token) {
        LockBinding *binding = lock_get_userdata(lock);
        int r;

        g_assert(is_confirming(binding));

        set_confirming(service, binding, false);
        lock_table_confirm(service->table, lock, token, binding->lease_usec);
        count_grant(service, binding, lock_get_acquired_monotonic(lock));
        r = answer_granted(service, lock, binding);
        if (r < 0) {
                /* Nobody would know the id: take the lock back at once. */
                log_debug_errno(r, "Failed to answer a granted Acquire, releasing its lock: %m");
                lock_table_end(service->table, lock, LOCK_END_RELEASED);
        }
}

void service_gate_refuse(Service *service, Lock *lock, ServiceErrorCode code, const char *message) {
        LockBinding *binding = lock_get_userdata(lock);

        g_assert(is_confirming(binding));

        binding->gate_error = code;
        binding->gate_message = g_strdup(message);
        lock_table_end(service->table, lock, LOCK_END_CANCELLED);
}

void service_gate_lose(Service *service, Lock *lock, LockEndReason reason) {
        g_assert(service_lock_is_confirmed(lock));
        lock_table_end(service->table, lock, reason);
}

/* A held lock ended: its hold time, and why. */
static void lock_ended_count(Service *service, Lock *lock, LockEndReason reason) {
        uint64_t now = lock_table_now(service->table, CLOCK_MONOTONIC), acquired = lock_get_acquired_monotonic(lock);

        service_histogram_add(&service->stats.hold_time, now > acquired ? now - acquired : 0);
        switch (reason) {
        case LOCK_END_RELEASED:
        case LOCK_END_OWNER_GONE:
                service->stats.releases++;
                break;
        case LOCK_END_FORCED:
                service->stats.force_releases++;
                break;
        case LOCK_END_EXPIRED:
                service->stats.expiries++;
                break;
        default:
                break;
        }
}

/* An Acquire ended before its answer: why, to the caller. */
static void answer_unanswered(Service *service, Client *client, Lock *lock, LockBinding *binding,
                              LockEndReason reason) {
        g_auto(ServiceError) error = SERVICE_ERROR_NULL;

        if (binding->gate_message)
                (void) service_error_setf(&error, binding->gate_error, "%s", binding->gate_message);
        else if (reason == LOCK_END_TIMED_OUT || reason == LOCK_END_EXPIRED) {
                /* Expired unanswered: the wait for the gate passed the request's timeout. */
                service->stats.timeouts++;
                (void) service_error_setf(&error, SERVICE_ERROR_TIMEOUT,
                                          "Timed out waiting for the lock on %zu path(s).",
                                          lock_get_n_paths(lock));
        } else if (reason == LOCK_END_SHUTDOWN)
                (void) service_error_setf(&error, SERVICE_ERROR_SHUTTING_DOWN, "pylockerd is shutting down.");
        else
                (void) service_error_setf(&error, SERVICE_ERROR_CANCELLED, "The caller is gone.");

        (void) binding->done(service, client, &(AcquireResult) { .handle_fd = -1, .error = &error },
                             binding->done_userdata);
}

void service_lock_ended(LockTable *table, Lock *lock, LockEndReason reason, void *userdata) {
        g_autoptr(LockBinding) binding = lock_get_userdata(lock);
        Service *service = userdata;
        Client *client = lock_owner_get_userdata(lock_get_owner(lock));

        if (binding && binding->admitted) {
                ServiceReleaseWaiter *waiter = reason == LOCK_END_RELEASED ? g_steal_pointer(&service->releasing) : NULL;

                service->gate_ops->retire(service->gate, lock, binding->gate_data, waiter);
        }

        /* Waiting, or granted by the table and not yet by the gate: the Acquire awaits its answer. */
        if (!lock_is_granted(lock) || (binding && binding->done)) {
                g_assert_nonnull(binding);
                g_assert_nonnull(binding->done);
                answer_unanswered(service, client, lock, binding, reason);
                return;
        }

        lock_ended_count(service, lock, reason);
        /* A gone client's locks are released after it (service_reap()): nobody to tell. */
        if (client && client->ops->lock_lost) {
                /* No holder may lose a lock silently. */
                if (reason == LOCK_END_EXPIRED)
                        client->ops->lock_lost(client, lock, LOCK_LOST_EXPIRED);
                else if (reason == LOCK_END_FORCED)
                        client->ops->lock_lost(client, lock, LOCK_LOST_FORCED);
                else if (reason == LOCK_END_RELEASED && binding && binding->handle_closed)
                        client->ops->lock_lost(client, lock, LOCK_LOST_HANDLE_CLOSED);
        }
}

static int table_error(Service *service, int code, size_t index, ServiceError *error) {
        const LockTableLimits *limits = lock_table_get_limits(service->table);

        switch (code) {
        case LOCK_E_NO_PATHS:
                return service_error_setf(error, SERVICE_ERROR_INVALID_ARGS, "No paths given.");
        case LOCK_E_TOO_MANY_PATHS:
                return service_error_setf(error, SERVICE_ERROR_INVALID_ARGS, "Too many paths: at most %zu per request.",
                                          limits->max_paths_per_request);
        case LOCK_E_EMPTY_PATH:
                return service_error_setf(error, SERVICE_ERROR_INVALID_ARGS, "Path %zu is empty.", index);
        case LOCK_E_PATH_TOO_LONG:
                return service_error_setf(error, SERVICE_ERROR_INVALID_ARGS, "Path %zu is longer than %zu bytes.",
                                          index, limits->max_path_length);
        case LOCK_E_PATH_NOT_UTF8:
                return service_error_setf(error, SERVICE_ERROR_INVALID_ARGS, "Path %zu is not valid UTF-8.", index);
        case LOCK_E_WOULD_BLOCK:
                return service_error_setf(error, SERVICE_ERROR_TIMEOUT,
                                          "The lock is taken and nonblocking was requested.");
        case LOCK_E_QUOTA:
                return service_error_setf(error, SERVICE_ERROR_LIMITS_EXCEEDED,
                                          "Too many locks held or awaited by this client (at most %zu, "
                                          "of which %zu waiting).",
                                          limits->max_locks_per_owner, limits->max_waiters_per_owner);
        case LOCK_E_GROUP_QUOTA:
                return service_error_setf(error, SERVICE_ERROR_LIMITS_EXCEEDED,
                                          "Too many locks held or awaited by this user's clients (at most %zu, "
                                          "of which %zu waiting).",
                                          limits->max_locks_per_group, limits->max_waiters_per_group);
        case LOCK_E_GROUP_BYTES:
                return service_error_setf(error, SERVICE_ERROR_LIMITS_EXCEEDED,
                                          "The locks held or awaited by this user's clients would pass its memory "
                                          "budget (MaxBytesPerUser=%zu bytes of paths and messages).",
                                          limits->max_bytes_per_group);
        case LOCK_E_DEADLOCK:
                return service_error_setf(error, SERVICE_ERROR_DEADLOCK,
                                          "Waiting for path %zu would deadlock: its holder waits, directly or "
                                          "through others, for a lock of this client.", index);
        default:
                return code < 0 ? code :
                       service_error_setf(error, SERVICE_ERROR_INVALID_ARGS, "Refused (%d).", code);
        }
}

int service_acquire(Service *service, Client *client, const AcquireCall *call, ServiceError *error) {
        g_autoptr(LockBinding) binding = NULL;
        size_t index = 0;
        Lock *lock;
        int r;

        g_assert(call->done);

        /* A plain lock granted at once needs nothing beside the table: the binding is made only for a
         * handle, or once the request has to wait. */
        if (call->with_handle) {
                int fds[2];

                if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
                        return service_error_setf(error, SERVICE_ERROR_LIMITS_EXCEEDED,
                                                  "Failed to create lock handle: %s", g_strerror(errno));
                binding = lock_binding_new(service);
                binding->handle_read_fd = fds[0];
                binding->handle_write_fd = fds[1];
        }

        /* The table checks the paths too, and says which one is bad. */
        r = lock_table_acquire(service->table, client->owner, &call->request, binding, &lock, &index);
        if (r != 0 && r != LOCK_E_PENDING) {
                if (r == LOCK_E_WOULD_BLOCK)
                        service->stats.timeouts++;
                else if (r == LOCK_E_DEADLOCK)
                        service->stats.deadlocks++;
                return table_error(service, r, index, error);
        }

        if (service->gate_ops) {
                /* Every lock gets a binding: the gate keeps its state there. */
                uint64_t timeout = call->request.timeout_usec ?: lock_table_get_limits(service->table)->default_timeout_usec;

                if (!binding)
                        binding = lock_binding_new(service);
                binding->done = call->done;
                binding->done_userdata = call->userdata;
                binding->nonblocking = call->request.nonblocking;
                binding->lease_usec = call->request.ttl_usec;
                binding->wait_start = lock_table_now(service->table, CLOCK_MONOTONIC);
                binding->deadline = timeout == UINT64_MAX ? UINT64_MAX : usec_add(binding->wait_start, timeout);
                binding->lock = lock;
                lock_set_userdata(lock, binding);
                if (r == LOCK_E_PENDING) {
                        service->stats.waits++;
                        g_steal_pointer(&binding);
                        return 0;
                }
                /* Last: the gate may answer at once, and the lock and binding be gone on return. */
                gate_admit(service, lock, g_steal_pointer(&binding));
                return 0;
        }

        if (r == 0) {
                /* Plain increments: all the statistics an uncontended grant costs. */
                service->stats.grants++;
                service->stats.wait_time.buckets[0]++;
                service->stats.wait_time.count++;
        }

        if (!binding) {
                if (r == 0) {
                        r = call->done(service, client, &(AcquireResult) { .lock = lock, .handle_fd = -1 },
                                       call->userdata);
                        goto answered;
                }
                binding = lock_binding_new(service);
                lock_set_userdata(lock, binding);
        }
        binding->done = call->done;
        binding->done_userdata = call->userdata;

        if (r == LOCK_E_PENDING) {
                /* The answer comes with the grant, the timeout or the caller's disconnect. */
                binding->wait_start = lock_table_now(service->table, CLOCK_MONOTONIC);
                service->stats.waits++;
                for (size_t i = 0; i < lock_get_n_paths(lock); i++)
                        service_stats_note_wait(&service->stats, lock_get_path(lock, i));
                g_steal_pointer(&binding);
                return 0;
        }
        r = answer_granted(service, lock, g_steal_pointer(&binding));

answered:
        if (r < 0) {
                /* Nobody would know the id: take the lock back at once. */
                log_debug_errno(r, "Failed to answer an Acquire, releasing its lock: %m");
                lock_table_end(service->table, lock, LOCK_END_RELEASED);
        }
        return 0;
}

int service_parse_lock_id(const char *text, uint8_t ret_id[LOCK_ID_SIZE], ServiceError *error) {
        if (lock_id_from_string(text, ret_id) < 0)
                return service_error_setf(error, SERVICE_ERROR_INVALID_ARGS,
                                          "Invalid lock id '%.64s': expected 32 lowercase hex digits.", text);
        return 0;
}

struct ServiceReleaseWaiter {
        Client *client;          /* NULL once gone */
        GList link;              /* in Client.release_waiters */
        ServiceReleaseDone done;
        void *userdata;
};

void service_release_waiter_finish(ServiceReleaseWaiter *waiter) {
        if (waiter->client) {
                g_queue_unlink(&waiter->client->release_waiters, &waiter->link);
                waiter->done(waiter->userdata, true);
        }
        g_free(waiter);
}

void service_client_gone(Service *service, Client *client) {
        GList *link, *next;

        while ((link = g_queue_pop_head_link(&client->release_waiters))) {
                ServiceReleaseWaiter *waiter = link->data;

                waiter->client = NULL;
                waiter->done(waiter->userdata, false);
        }

        /* Answered now: once the client is freed, its front end cannot be reached any more. Those
         * the table granted in a callback and the gate has not seen yet first. */
        for (link = service->gate_admissions.head; link; link = next) {
                LockBinding *binding = link->data;

                next = link->next;
                if (lock_owner_get_userdata(lock_get_owner(binding->lock)) == client) {
                        lock_table_end(service->table, binding->lock, LOCK_END_CANCELLED);
                        next = service->gate_admissions.head;
                }
        }
        for (link = service->gate_confirming.head; link; link = next) {
                LockBinding *binding = link->data;

                next = link->next;
                if (lock_owner_get_userdata(lock_get_owner(binding->lock)) == client) {
                        /* May free bindings after this one too: start over. */
                        lock_table_end(service->table, binding->lock, LOCK_END_CANCELLED);
                        next = service->gate_confirming.head;
                }
        }
}

int service_release(Service *service, Client *client, const uint8_t id[LOCK_ID_SIZE], ServiceError *error,
                    ServiceReleaseDone done, void *userdata) {
        ServiceReleaseWaiter *waiter = NULL;
        int r;

        if (service->gate_ops && done) {
                waiter = g_new0(ServiceReleaseWaiter, 1);
                waiter->client = client;
                waiter->done = done;
                waiter->userdata = userdata;
                waiter->link.data = waiter;
                g_queue_push_tail_link(&client->release_waiters, &waiter->link);
                service->releasing = waiter;
        }

        r = lock_table_release(service->table, client->owner, id);
        if (waiter && service->releasing) {
                /* Not released: nothing for the gate to confirm. */
                service->releasing = NULL;
                g_queue_unlink(&client->release_waiters, &waiter->link);
                g_free(waiter);
                waiter = NULL;
        }
        if (r == LOCK_E_NOT_FOUND)
                return 0;
        if (r == LOCK_E_NOT_OWNER)
                return service_error_setf(error, SERVICE_ERROR_NOT_OWNER, "The lock is held by another client.");
        if (r < 0)
                return r;
        return waiter ? 2 : 1;
}

int service_refresh(Service *service, Client *client, const uint8_t id[LOCK_ID_SIZE], uint64_t ttl_usec,
                    uint64_t *ret_expires_realtime, ServiceError *error) {
        int r;

        r = lock_table_refresh(service->table, client->owner, id, ttl_usec, ret_expires_realtime);
        if (r == LOCK_E_NOT_FOUND)
                return service_error_setf(error, SERVICE_ERROR_NOT_FOUND, "No such lock: it was released or expired.");
        if (r == LOCK_E_NOT_OWNER)
                return service_error_setf(error, SERVICE_ERROR_NOT_OWNER, "The lock is held by another client.");
        return r;
}

int service_force_release(Service *service, const uint8_t id[LOCK_ID_SIZE], const char *by) {
        Lock *lock = lock_table_find(service->table, id);

        if (!lock || !service_lock_is_confirmed(lock))
                return service->gate_ops ? service->gate_ops->force_release(service->gate, id, by) : 0;

        Client *owner = lock_owner_get_userdata(lock_get_owner(lock));

        log_info("Lock of client %s force-released by %s.", owner ? owner->id : "(gone)", by);
        lock_table_end(service->table, lock, LOCK_END_FORCED);
        return 1;
}

static int set_limit(Service *service, uint64_t *field, const char *name, uint64_t usec, bool infinity_ok,
                     ServiceError *error) {
        char buf[FORMAT_TIME_SPAN_MAX];

        if (usec == 0 || (!infinity_ok && usec > MAX_LOCK_TIME_LIMIT_USEC))
                return service_error_setf(error, SERVICE_ERROR_INVALID_ARGS, "Invalid %s: %" PRIu64 ".",
                                          infinity_ok ? "default timeout" : "maximum lock time", usec);

        if (*field == usec)
                return 0;
        *field = usec;
        lock_table_set_limits(service->table, &service->settings.limits);
        log_info("%s set to %s.", name, format_time_span(buf, sizeof(buf), usec));
        if (service->callbacks && service->callbacks->on_limit_changed)
                service->callbacks->on_limit_changed(service, name, service->userdata);
        return 0;
}

int service_set_max_lock_time(Service *service, uint64_t usec, ServiceError *error) {
        return set_limit(service, &service->settings.limits.max_lock_usec, "MaxLockTime", usec,
                         /* infinity_ok= */ false, error);
}

int service_set_default_timeout(Service *service, uint64_t usec, ServiceError *error) {
        return set_limit(service, &service->settings.limits.default_timeout_usec, "DefaultTimeout", usec,
                         /* infinity_ok= */ true, error);
}

void service_foreach_lock(Service *service, ServiceLockVisitor visit, void *userdata) {
        LockTableIter iter;
        Lock *lock;

        lock_table_iter_init(&iter, service->table);
        while (lock_table_iter_next(&iter, &lock)) {
                Client *owner = lock_owner_get_userdata(lock_get_owner(lock));
                size_t n = lock_get_n_paths(lock);
                g_autofree const char **paths = NULL;

                if (!service_lock_is_confirmed(lock))
                        continue;

                paths = g_new(const char *, n + 1);
                for (size_t i = 0; i < n; i++)
                        paths[i] = lock_get_path(lock, i);
                paths[n] = NULL;
                visit(&(ServiceLockInfo) {
                                .id = lock_get_id(lock),
                                .paths = paths,
                                .n_paths = n,
                                .shared = lock_is_shared(lock),
                                .owner = owner->id,
                                .name = client_get_display_name(owner),
                                .uid = owner->uid,
                                .token = lock_get_token(lock),
                                .acquired_realtime = lock_get_acquired_realtime(lock),
                                .expires_realtime = lock_get_expires_realtime(lock),
                        }, userdata);
        }

        if (service->gate_ops)
                service->gate_ops->foreach_remote(service->gate, visit, userdata);
}
