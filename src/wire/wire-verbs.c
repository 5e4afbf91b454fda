/* The requests of the wire protocol, answered by the service core as bus-locks.c and bus-messages.c
 * answer D-Bus calls: the frame read into the core's request, authorized by the same rule (polkit
 * asked about the process behind the socket when the rule cannot tell), the core called, the reply
 * frame written. And the core's calls back to a wire client: lost locks, publications, disconnect. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "bus-errors.h"
#include "log.h"
#include "macro.h"
#include "wire-internal.h"
#include "wire-verbs.h"

G_STATIC_ASSERT(WIRE_LOCK_ID_SIZE == LOCK_ID_SIZE);

/* The D-Bus method each request is, for the core's one method → action table. GET_STATUS reads what
 * D-Bus offers as properties and PING nothing: neither is authorized there, nor here. HELLO is
 * authorized as Register when it gives a name. */
static const char *const request_methods[_WIRE_REQUEST_LAST + 1] = {
        [WIRE_HELLO]               = "Register",
        [WIRE_SET_NAME]            = "Register",
        [WIRE_ACQUIRE]             = "Acquire",
        [WIRE_RELEASE]             = "Release",
        [WIRE_REFRESH]             = "Refresh",
        [WIRE_PUBLISH]             = "Publish",
        [WIRE_LIST_MESSAGES]       = "ListMessages",
        [WIRE_GET_MESSAGE]         = "GetMessage",
        [WIRE_POP_MESSAGE]         = "PopMessage",
        [WIRE_HAS_MESSAGE]         = "HasMessage",
        [WIRE_REMOVE_MESSAGE]      = "RemoveMessage",
        [WIRE_LIST_LOCKS]          = "ListLocks",
        [WIRE_LIST_CLIENTS]        = "ListClients",
        [WIRE_FORCE_RELEASE]       = "ForceRelease",
        [WIRE_SET_MAX_LOCK_TIME]   = "SetMaxLockTime",
        [WIRE_SET_DEFAULT_TIMEOUT] = "SetDefaultTimeout",
        [WIRE_GET_STATS]           = "GetStatistics",
};

void wire_verbs_actions_init(int actions[_WIRE_REQUEST_LAST + 1]) {
        for (size_t type = 0; type <= _WIRE_REQUEST_LAST; type++) {
                ServiceAction action;
                int r;

                actions[type] = -1;
                if (!request_methods[type])
                        continue;
                /* A name missing from the core's table would go unauthorized: never. */
                r = service_method_action(request_methods[type], &action);
                if (r < 0)
                        g_error("%s is not in the core's method table.", request_methods[type]);
                actions[type] = (int) action;
        }
}

/* ---- answers ---- */

static void reply_service_error(WireConnection *c, uint32_t serial, const ServiceError *e, int r) {
        if (service_error_is_set(e))
                wire_connection_reply_error(c, serial, service_error_code_to_name(e->code), "%s", e->message);
        else
                wire_connection_reply_error(c, serial, SD_BUS_ERROR_FAILED, "%s", g_strerror(r < 0 ? -r : EIO));
}

/* Queues the answer to the request, unless it asked for none. Returns 0, or < 0 when it could not
 * be queued (an ERROR LimitsExceeded goes instead when it would not fit in a frame). */
static int answer(WireConnection *c, const WireHeader *h, WireMessage *m, uint16_t type) {
        int r;

        if (h->flags & WIRE_FLAG_NO_REPLY)
                return 0;

        m->header = (WireHeader) { .type = type, .serial = h->serial };
        r = wire_connection_send(c, m, -1);
        if (r == -EMSGSIZE)
                wire_connection_reply_error(c, h->serial, PL_ERROR_LIMITS_EXCEEDED,
                                            "The answer would be larger than a frame (%u bytes).",
                                            (unsigned) WIRE_FRAME_MAX);
        return r;
}

static void answer_ok(WireConnection *c, const WireHeader *h) {
        (void) answer(c, h, &(WireMessage) {}, WIRE_OK);
}

static void answer_value(WireConnection *c, const WireHeader *h, uint64_t value) {
        (void) answer(c, h, &(WireMessage) { .value.value = value }, WIRE_VALUE);
}

/* ---- authorization ---- */

static void on_polkit_answer(int r, bool final, const sd_bus_error *error, void *userdata) {
        WireConnection *c = userdata;
        WireServer *s = c->server;
        g_autofree uint8_t *body = g_steal_pointer(&c->held);
        WireHeader header = c->held_header;

        c->polkit = NULL;    /* freed by now */
        if (c->state == WIRE_CONNECTION_CLOSING)
                return;

        if (final && c->client)
                c->client->verdicts[c->held_action] = r > 0 ? CLIENT_VERDICT_ALLOWED : CLIENT_VERDICT_DENIED;
        if (r > 0)
                /* Handled anew: the core finds the verdict now, as a D-Bus call dispatched again does. */
                wire_verbs_dispatch(c, &header, body);
        else {
                service_note_denial(s->service);
                wire_connection_reply_error(c, header.serial, error->name, "%s", error->message ?: error->name);
                if (header.type == WIRE_HELLO)
                        wire_connection_close(c);
        }

        /* On with what came behind it. */
        if (wire_connection_can_process(c))
                wire_server_schedule_run(s, c);
        wire_server_update_watch(s, c);
}

/* Keeps the request, and the input behind it, until polkit has answered. */
static void hold_for_polkit(WireConnection *c, const WireHeader *h, const uint8_t *body, ServiceAction action) {
        WireServer *s = c->server;
        int r;

        if (!s->polkit)
                r = -ENOTCONN;
        else
                r = bus_polkit_check_process(s->polkit, c->pid, c->uid, action, on_polkit_answer, c, &c->polkit);
        if (r < 0) {
                log_warning_errno(r, "Failed to ask polkit about %s: %m", c->id);
                wire_connection_reply_error(c, h->serial, SD_BUS_ERROR_ACCESS_DENIED,
                                            "Authorization could not be checked: %s", g_strerror(-r));
                if (h->type == WIRE_HELLO)
                        wire_connection_close(c);
                return;
        }

        c->held_header = *h;
        c->held = g_malloc(h->size + 1);
        memcpy(c->held, body, h->size);
        c->held_action = action;
        wire_server_update_watch(s, c);
}

/* true: the request may go on. false: it was refused (answered) or waits for polkit. */
static bool authorize(WireConnection *c, const WireHeader *h, const uint8_t *body, int action) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        int r;

        if (action < 0)
                return true;

        r = service_authorize(c->server->service, c->client, (ServiceAction) action, &e);
        if (r > 0)
                return true;
        if (r < 0)
                reply_service_error(c, h->serial, &e, r);
        else
                hold_for_polkit(c, h, body, (ServiceAction) action);
        return false;
}

/* ---- the requests ---- */

static void verb_hello(WireConnection *c, const WireHeader *h, const uint8_t *body, const WireMessage *m) {
        WireServer *s = c->server;
        const LockTableLimits *limits = lock_table_get_limits(s->service->table);
        WireMessage welcome;
        int r;

        if (c->state != WIRE_CONNECTION_HELLO) {
                wire_connection_reply_error(c, h->serial, SD_BUS_ERROR_INVALID_ARGS, "HELLO was answered already.");
                return;
        }

        /* The client exists from HELLO on (it is asked about before its name is set). */
        if (!c->client) {
                c->client = client_new(s->service, c->id, c->peer_transport, c->uid, c->pid, &wire_client_ops, c);
                c->client->address = g_strdup(c->address);
                log_debug("Client %s connected (uid %u, pid %d).", c->id, (unsigned) c->uid, (int) c->pid);
        }

        if (m->hello.name[0]) {
                if (!authorize(c, h, body, s->actions[WIRE_HELLO])) {
                        /* Refused: without WELCOME there is nothing to go on with. */
                        if (!c->held)
                                wire_connection_close(c);
                        return;
                }
                r = client_set_name(c->client, m->hello.name);
                if (r < 0) {
                        if (r == -EEXIST)
                                wire_connection_reply_error(c, h->serial, PL_ERROR_ALREADY_EXISTS,
                                                            "The name '%s' is taken by another client.", m->hello.name);
                        else
                                wire_connection_reply_error(c, h->serial, SD_BUS_ERROR_INVALID_ARGS,
                                                            "Invalid client name: at most %d bytes, no control characters, not shaped like a client id.",
                                                            CLIENT_NAME_MAX);
                        wire_connection_close(c);
                        return;
                }
        }

        welcome = (WireMessage) {
                .welcome = {
                        .version = WIRE_VERSION,
                        .client_id = c->client->id,
                        .server_version = PACKAGE_VERSION,
                        .max_lock_usec = limits->max_lock_usec,
                        .default_timeout_usec = limits->default_timeout_usec,
                        .max_frame_size = c->max_frame_size,
                        .max_in_flight = s->settings.max_in_flight,
                        .max_paths = (uint32_t) MIN(limits->max_paths_per_request, UINT32_MAX),
                },
        };
        /* WELCOME goes whatever the flags: the client needs it. */
        welcome.header = (WireHeader) { .type = WIRE_WELCOME, .serial = h->serial };
        (void) wire_connection_send(c, &welcome, -1);
        c->state = WIRE_CONNECTION_READY;
        wire_server_welcomed(s, c);
}

static void verb_set_name(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        int r;

        r = client_set_name(c->client, m->hello.name);
        if (r == -EEXIST)
                wire_connection_reply_error(c, h->serial, PL_ERROR_ALREADY_EXISTS,
                                            "The name '%s' is taken by another client.", m->hello.name);
        else if (r < 0)
                wire_connection_reply_error(c, h->serial, SD_BUS_ERROR_INVALID_ARGS,
                                            "Invalid client name: at most %d bytes, no control characters, not shaped like a client id.",
                                            CLIENT_NAME_MAX);
        else
                answer_ok(c, h);
}

/* The answer to an ACQUIRE, now or when it ends. */
static int acquire_done(Service *service, Client *client, const AcquireResult *result, void *userdata) {
        WireRequest *request = userdata;
        WireConnection *c = request->connection;
        WireMessage m;
        int fd = -1, r = 0;

        if (!result->lock) {
                /* Cancelled: the client is gone, nobody to answer. */
                if (result->error->code != SERVICE_ERROR_CANCELLED)
                        reply_service_error(c, request->serial, result->error, -EIO);
        } else if (c->state == WIRE_CONNECTION_CLOSING)
                /* Its disconnect releases it (taken back at once when granted at once). */
                r = -ENOTCONN;
        else if (!(request->flags & WIRE_FLAG_NO_REPLY)) {
                /* The core keeps its copy of the handle only until we return. */
                if (result->handle_fd >= 0) {
                        fd = fcntl(result->handle_fd, F_DUPFD_CLOEXEC, 3);
                        if (fd < 0) {
                                r = -errno;
                                wire_connection_reply_error(c, request->serial,
                                                            service_error_code_to_name(SERVICE_ERROR_LIMITS_EXCEEDED),
                                                            "Failed to pass the lock handle: %s", g_strerror(errno));
                        }
                }
                if (r >= 0) {
                        m = (WireMessage) {
                                .header = { .type = WIRE_ACQUIRED, .serial = request->serial },
                                .acquired = {
                                        .token = lock_get_token(result->lock),
                                        .expires_usec = lock_get_expires_realtime(result->lock),
                                },
                        };
                        memcpy(m.acquired.lock_id, lock_get_id(result->lock), WIRE_LOCK_ID_SIZE);
                        r = wire_connection_send(c, &m, fd);
                }
        }

        wire_connection_request_free(request);
        return r;
}

static void verb_acquire(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        const WireAcquire *a = &m->acquire;
        AcquireCall call = {
                .request = {
                        .paths = a->paths,
                        .n_paths = a->n_paths,
                        .shared = a->flags & WIRE_ACQUIRE_SHARED,
                        .nonblocking = a->flags & WIRE_ACQUIRE_NONBLOCKING,
                        .skip_deadlock_check = a->flags & WIRE_ACQUIRE_NO_DEADLOCK_CHECK,
                        .timeout_usec = a->timeout_usec,
                        .ttl_usec = a->ttl_usec,
                },
                .with_handle = a->flags & WIRE_ACQUIRE_HANDLE,
                .done = acquire_done,
        };
        int r;

        if (call.with_handle && !c->transport.can_pass_fds) {
                wire_connection_reply_error(c, h->serial, SD_BUS_ERROR_INVALID_ARGS,
                                            "This connection cannot pass file descriptors: HANDLE is not available.");
                return;
        }

        call.userdata = wire_connection_request_new(c, h);
        r = service_acquire(c->server->service, c->client, &call, &e);
        if (r < 0) {
                wire_connection_request_free(call.userdata);
                reply_service_error(c, h->serial, &e, r);
        }
}

static void release_done(void *userdata, bool answered) {
        WireRequest *request = userdata;
        WireConnection *c = request->connection;

        if (answered && !(request->flags & WIRE_FLAG_NO_REPLY))
                answer_value(c, &(WireHeader) { .serial = request->serial, .flags = request->flags }, 1);
        wire_connection_request_free(request);
}

static void verb_release(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        int r;

        WireRequest *request = wire_connection_request_new(c, h);

        r = service_release(c->server->service, c->client, m->lock_ref.lock_id, &e, release_done, request);
        if (r == 2)
                /* Answered once the cluster has it. */
                return;
        wire_connection_request_free(request);
        if (r < 0)
                reply_service_error(c, h->serial, &e, r);
        else
                answer_value(c, h, (uint64_t) r);
}

static void verb_refresh(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        uint64_t expires;
        int r;

        r = service_refresh(c->server->service, c->client, m->refresh.lock_id, m->refresh.ttl_usec, &expires, &e);
        if (r < 0)
                reply_service_error(c, h->serial, &e, r);
        else
                answer_value(c, h, expires);
}

static void verb_force_release(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        answer_value(c, h, (uint64_t) service_force_release(c->server->service, m->lock_ref.lock_id, c->client->id));
}

static void verb_set_limit(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        int r;

        r = h->type == WIRE_SET_MAX_LOCK_TIME ? service_set_max_lock_time(c->server->service, m->usec.usec, &e) :
                                                service_set_default_timeout(c->server->service, m->usec.usec, &e);
        if (r < 0)
                reply_service_error(c, h->serial, &e, r);
        else
                answer_ok(c, h);
}

typedef struct ListLocksItems {
        GArray *items;          /* WireLockInfo */
        GPtrArray *strings;     /* what they point to */
} ListLocksItems;

static void add_lock_info(const ServiceLockInfo *info, void *userdata) {
        ListLocksItems *l = userdata;
        const char **paths = g_memdup2(info->paths, sizeof(char *) * (info->n_paths + 1));
        WireLockInfo item = {
                .paths = paths,
                .n_paths = info->n_paths,
                .owner = g_strdup(info->owner),
                .owner_name = g_strdup(info->name ?: ""),
                .token = info->token,
                .shared = info->shared,
                .acquired_usec = info->acquired_realtime,
                .expires_usec = info->expires_realtime,
        };

        /* The visitor's strings live only during the call. */
        for (size_t i = 0; i < info->n_paths; i++) {
                paths[i] = g_strdup(info->paths[i]);
                g_ptr_array_add(l->strings, (char *) paths[i]);
        }
        g_ptr_array_add(l->strings, paths);
        g_ptr_array_add(l->strings, (char *) item.owner);
        g_ptr_array_add(l->strings, (char *) item.owner_name);
        memcpy(item.lock_id, info->id, WIRE_LOCK_ID_SIZE);
        g_array_append_val(l->items, item);
}

static void verb_list_locks(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        g_autoptr(GArray) items = g_array_new(false, false, sizeof(WireLockInfo));
        g_autoptr(GPtrArray) strings = g_ptr_array_new_with_free_func(g_free);

        service_foreach_lock(c->server->service, add_lock_info,
                             &(ListLocksItems) { .items = items, .strings = strings });

        (void) answer(c, h, &(WireMessage) {
                        .locks = { .items = (WireLockInfo *) (void *) items->data, .n_items = items->len },
                }, WIRE_LOCKS);
}

static void verb_list_clients(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        g_autoptr(GArray) items = g_array_new(false, false, sizeof(WireClientInfo));
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init(&iter, c->server->service->clients);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                Client *client = value;
                WireClientInfo info = {
                        .id = client->id,
                        .name = client_get_display_name(client),
                        .uid = (uint32_t) client->uid,
                        .pid = (uint32_t) client->pid,
                        .transport = client_transport_to_string(client->transport),
                };

                g_array_append_val(items, info);
        }

        (void) answer(c, h, &(WireMessage) {
                        .clients = { .items = (WireClientInfo *) (void *) items->data, .n_items = items->len },
                }, WIRE_CLIENTS);
}

static void verb_get_status(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        Service *service = c->server->service;
        const LockTableLimits *limits = lock_table_get_limits(service->table);

        (void) answer(c, h, &(WireMessage) {
                        .status = {
                                .version = PACKAGE_VERSION,
                                .max_lock_usec = limits->max_lock_usec,
                                .default_timeout_usec = limits->default_timeout_usec,
                                .lock_count = (uint32_t) MIN(lock_table_get_n_locks(service->table), UINT32_MAX),
                                .waiter_count = (uint32_t) MIN(lock_table_get_n_waiters(service->table), UINT32_MAX),
                                .client_count = (uint32_t) MIN(service_get_n_clients(service), UINT32_MAX),
                        },
                }, WIRE_STATUS);
}

static void verb_get_stats(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        WireStatsValue values[SERVICE_STATS_N_VALUES];
        WireStatsHistogram histograms[SERVICE_STATS_N_HISTOGRAMS];
        WireStatsPath contended[SERVICE_STATS_TOP_PATHS];
        ServiceStatsView view;

        /* The same keys, in the same order, as GetStatistics on D-Bus. */
        service_get_statistics(c->server->service, &view);
        for (size_t i = 0; i < SERVICE_STATS_N_VALUES; i++)
                values[i] = (WireStatsValue) { .name = view.values[i].key, .value = view.values[i].value };
        for (size_t i = 0; i < SERVICE_STATS_N_HISTOGRAMS; i++) {
                const ServiceHistogram *sh = view.histograms[i].histogram;

                histograms[i] = (WireStatsHistogram) {
                        .name = view.histograms[i].key,
                        .count = sh->count,
                        .sum_usec = sh->sum_usec,
                        .buckets = sh->buckets,
                        .n_buckets = SERVICE_HISTOGRAM_BUCKETS,
                };
        }
        for (size_t i = 0; i < view.n_contended; i++)
                contended[i] = (WireStatsPath) { .path = view.contended[i]->path, .waits = view.contended[i]->waits };

        (void) answer(c, h, &(WireMessage) {
                        .stats = {
                                .values = values,
                                .n_values = SERVICE_STATS_N_VALUES,
                                .histograms = histograms,
                                .n_histograms = SERVICE_STATS_N_HISTOGRAMS,
                                .contended = contended,
                                .n_contended = view.n_contended,
                        },
                }, WIRE_STATS);
}

static void verb_ping(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        answer_ok(c, h);
}

static void verb_publish(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        const WirePublish *p = &m->publish;
        PublishRequest request = {
                .message = p->message,
                .receivers = p->receivers,
                .n_receivers = p->n_receivers,
                .timeout_usec = p->timeout_usec,
                .to_self = p->flags & WIRE_PUBLISH_TO_SELF,
                .unique = p->flags & WIRE_PUBLISH_UNIQUE,
                .replace = p->flags & WIRE_PUBLISH_REPLACE,
        };
        const char *id;
        int r;

        r = service_publish(c->server->service, c->client, &request, &id, &e);
        if (r < 0)
                reply_service_error(c, h->serial, &e, r);
        else
                (void) answer(c, h, &(WireMessage) { .published.publication_id = id }, WIRE_PUBLISHED);
}

static void collect_publication(const Publication *publication, void *userdata) {
        WirePublication item = {
                .message = publication_get_message(publication),
                .publication_id = publication_get_id(publication),
                .sender = publication_get_sender_id(publication),
                .sender_name = publication_get_sender_name(publication) ?: "",
                .published_usec = publication_get_published_realtime(publication),
                .expires_usec = publication_get_expires_realtime(publication),
        };

        g_array_append_val((GArray *) userdata, item);
}

/* Answers with the client's publications of text (NULL: all), and removes them if pop. */
static void answer_publications(WireConnection *c, const WireHeader *h, const char *text, bool pop) {
        g_autoptr(GArray) items = g_array_new(false, false, sizeof(WirePublication));
        int r;

        service_inbox_foreach(c->client, text, collect_publication, items);
        r = answer(c, h, &(WireMessage) {
                        .publications = { .items = (WirePublication *) (void *) items->data, .n_items = items->len },
                }, WIRE_PUBLICATIONS);
        /* Only once the answer is on its way: a failed Pop loses nothing. */
        if (pop && r >= 0)
                (void) service_inbox_remove(c->client, text, NULL, 0);
}

static void verb_list_messages(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        answer_publications(c, h, NULL, /* pop= */ false);
}

static void verb_get_message(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        answer_publications(c, h, m->message_ref.message, h->type == WIRE_POP_MESSAGE);
}

static void verb_has_message(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        answer_value(c, h, service_inbox_has(c->client, m->message_ref.message));
}

static void verb_remove_message(WireConnection *c, const WireHeader *h, const WireMessage *m) {
        const WireRemoveMessage *r = &m->remove_message;
        size_t max = c->server->service->settings.max_receivers;

        if (r->n_senders > max) {
                wire_connection_reply_error(c, h->serial, PL_ERROR_LIMITS_EXCEEDED,
                                            "Too many senders: at most %zu per call.", max);
                return;
        }
        answer_value(c, h, service_inbox_remove(c->client, r->message, r->senders, r->n_senders));
}

typedef void (*WireVerb)(WireConnection *c, const WireHeader *h, const WireMessage *m);

static const WireVerb verbs[_WIRE_REQUEST_LAST + 1] = {
        [WIRE_SET_NAME]            = verb_set_name,
        [WIRE_ACQUIRE]             = verb_acquire,
        [WIRE_RELEASE]             = verb_release,
        [WIRE_REFRESH]             = verb_refresh,
        [WIRE_PUBLISH]             = verb_publish,
        [WIRE_LIST_MESSAGES]       = verb_list_messages,
        [WIRE_GET_MESSAGE]         = verb_get_message,
        [WIRE_POP_MESSAGE]         = verb_get_message,
        [WIRE_HAS_MESSAGE]         = verb_has_message,
        [WIRE_REMOVE_MESSAGE]      = verb_remove_message,
        [WIRE_LIST_LOCKS]          = verb_list_locks,
        [WIRE_LIST_CLIENTS]        = verb_list_clients,
        [WIRE_GET_STATUS]          = verb_get_status,
        [WIRE_FORCE_RELEASE]       = verb_force_release,
        [WIRE_SET_MAX_LOCK_TIME]   = verb_set_limit,
        [WIRE_SET_DEFAULT_TIMEOUT] = verb_set_limit,
        [WIRE_PING]                = verb_ping,
        [WIRE_GET_STATS]           = verb_get_stats,
};

void wire_verbs_dispatch(WireConnection *c, const WireHeader *h, const uint8_t *body) {
        WireMessage m;
        int r;

        if (h->serial == 0) {
                /* An answer with serial 0 would read as the end of the connection: so be it. */
                wire_connection_reply_error(c, 0, SD_BUS_ERROR_INVALID_ARGS, "A request's serial must not be 0.");
                wire_connection_close(c);
                return;
        }
        if (c->state == WIRE_CONNECTION_HELLO && h->type != WIRE_HELLO) {
                wire_connection_reply_error(c, h->serial, SD_BUS_ERROR_INVALID_ARGS,
                                            "The first frame must be HELLO, not %s (0x%04x).",
                                            wire_type_to_string(h->type) ?: "unknown", (unsigned) h->type);
                wire_connection_close(c);
                return;
        }
        if (!wire_type_is_request(h->type)) {
                wire_connection_reply_error(c, h->serial, SD_BUS_ERROR_UNKNOWN_METHOD,
                                            "Unknown request type 0x%04x.", (unsigned) h->type);
                return;
        }

        r = wire_message_decode(h, body, &m);
        if (r < 0) {
                wire_connection_reply_error(c, h->serial, SD_BUS_ERROR_INVALID_ARGS, "Malformed %s request.",
                                            wire_type_to_string(h->type));
                if (c->state == WIRE_CONNECTION_HELLO)
                        wire_connection_close(c);
                return;
        }

        if (h->type == WIRE_HELLO)
                verb_hello(c, h, body, &m);
        else if (authorize(c, h, body, c->server->actions[h->type]))
                verbs[h->type](c, h, &m);
        wire_message_clear(&m);
}

/* ---- the core's calls back ---- */

static void send_lock_lost(Client *client, Lock *lock, LockLostReason reason) {
        static const uint32_t reasons[_LOCK_LOST_REASON_MAX] = {
                [LOCK_LOST_EXPIRED]       = WIRE_LOST_EXPIRED,
                [LOCK_LOST_FORCED]        = WIRE_LOST_FORCE_RELEASED,
                [LOCK_LOST_HANDLE_CLOSED] = WIRE_LOST_HANDLE_CLOSED,
        };
        WireConnection *c = client->link;
        WireMessage m = {
                .header = { .type = WIRE_LOCK_LOST },
                .lock_lost = { .reason = reasons[reason] },
        };
        int r;

        memcpy(m.lock_lost.lock_id, lock_get_id(lock), WIRE_LOCK_ID_SIZE);
        r = wire_connection_send(c, &m, -1);
        if (r < 0 && r != -ENOTCONN)
                log_debug_errno(r, "Failed to tell %s about its lost lock, ignoring: %m", client->id);
}

static void send_message_published(Client *client, const Publication *publication) {
        WireConnection *c = client->link;
        int r;

        /* Nothing comes before WELCOME (a HELLO may wait for polkit): the inbox has it anyway. */
        if (c->state != WIRE_CONNECTION_READY)
                return;

        r = wire_connection_send(c, &(WireMessage) {
                        .header = { .type = WIRE_MESSAGE_PUBLISHED },
                        .message_published = {
                                .publication_id = publication_get_id(publication),
                                .sender = publication_get_sender_id(publication),
                                .message = publication_get_message(publication),
                                .expires_usec = publication_get_expires_realtime(publication),
                        },
                }, -1);
        /* A message larger than a frame (MaxMessageSize= above 1 MiB) stays in the inbox, untold. */
        if (r < 0 && r != -ENOTCONN)
                log_debug_errno(r, "Failed to tell %s about a publication, ignoring: %m", client->id);
}

static void disconnect(Client *client) {
        WireConnection *c = client->link;

        /* Freed by its connection: nothing more to do. Freed by the core: the connection goes too. */
        if (c->client != client)
                return;
        c->client = NULL;
        wire_connection_close(c);
}

static size_t queued_bytes(Client *client) {
        WireConnection *c = client->link;

        /* Frames encoded and not yet taken by the socket (or the TLS session): what the kernel's
         * buffer holds beside them is not ours to see. */
        return wire_buffer_length(&c->output);
}

const ClientOps wire_client_ops = {
        .lock_lost = send_lock_lost,
        .message_published = send_message_published,
        .disconnect = disconnect,
        .queued_bytes = queued_bytes,
};
