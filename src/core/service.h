/* The service core: what pylockerd does, for every front end alike. It owns the lock table, the
 * message store and the clients, and speaks in plain C requests and replies: no D-Bus type, no
 * socket. A front end (the D-Bus object, the bridge) reads its caller's request, calls in here and
 * writes the answer; the core reaches a client back only through the client's ClientOps. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>
#include <systemd/sd-event.h>

#include "client.h"
#include "inbox.h"
#include "lock-table.h"
#include "service-error.h"
#include "service-gate.h"
#include "service-stats.h"

typedef struct Service Service;

/* The longest MaxLockTime may be: a year. Longer is no lease at all, and near 2^64 µs the expiry
 * times would wrap. */
#define MAX_LOCK_TIME_LIMIT_USEC (UINT64_C(366) * 24 * 3600 * 1000000)

/* The settings the core answers to. */
typedef struct ServiceSettings {
        LockTableLimits limits;
        size_t max_message_size;
        size_t max_inbox_length;
        size_t max_receivers;           /* receivers of one Publish, senders of one RemoveMessage */
        unsigned max_publications_per_second;
} ServiceSettings;

typedef struct ServiceCallbacks {
        /* A client came or went. */
        void (*on_clients_changed)(Service *service, void *userdata);
        /* A limit was set to a new value, by whichever front end: "MaxLockTime" or "DefaultTimeout". */
        void (*on_limit_changed)(Service *service, const char *name, void *userdata);
} ServiceCallbacks;

struct Service {
        sd_event *event;
        LockTable *table;
        MessageStore *messages;
        ServiceSettings settings;
        GHashTable *clients;        /* client id → Client (owned) */
        GHashTable *client_names;   /* friendly name → Client */
        GHashTable *users;          /* uid → UserLimits, for every uid but 0 with a client */
        sd_event_source *deadline_source;
        sd_event_source *message_deadline_source;
        sd_event_source *reap_source;     /* releases gone clients' locks, a batch at a time */
        char *state_dir;            /* where the token ceiling is kept, or NULL */
        uid_t uid;                  /* our own */
        bool polkit;                /* ask polkit about callers who are neither root nor us */
        const ServiceCallbacks *callbacks;
        void *userdata;
        ServiceStats stats;
        const ServiceGateOps *gate_ops;  /* NULL: the table's grants are final */
        void *gate;
        GQueue gate_admissions;     /* LockBinding.admission_link: granted by the table in a callback */
        GQueue gate_confirming;     /* LockBinding.confirming_link: admitted, the gate's answer awaited */
        ServiceReleaseWaiter *releasing;  /* the Release being made, for the gate's retire */
        sd_event_source *gate_admit_source;
};

int service_new(sd_event *event, const ServiceSettings *settings, const char *state_dir, bool polkit,
                const ServiceCallbacks *callbacks, void *userdata, Service **ret);
/* The client goes: its Acquires that the gate has not answered yet are cancelled now, while its front
 * end can still be told, and its Releases that wait for the cluster will not be answered. */
void service_client_gone(Service *service, Client *client);

/* Answers every waiting request (shutting down), frees every client, then the service. */
Service *service_free(Service *service);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Service, service_free)

/* Answers every waiting request: the service is going. */
void service_shutdown(Service *service);

size_t service_get_n_clients(const Service *service);
/* The sum over every client of its ClientOps.queued_bytes(): a walk over the clients. */
uint64_t service_get_queued_bytes(const Service *service);
Client *service_find_client(const Service *service, const char *id);
/* By client id, else by friendly name. */
Client *service_find_receiver(const Service *service, const char *id_or_name);

/* ---- statistics: one set of keys for every front end (docs/org.pylocker.Locker.md) ---- */

#define SERVICE_STATS_N_VALUES 19
#define SERVICE_STATS_N_HISTOGRAMS 2

typedef struct ServiceStatsValue {
        const char *key;        /* "grants", ... */
        uint64_t value;
} ServiceStatsValue;

typedef struct ServiceStatsHistogramRef {
        const char *key;        /* "wait_time_usec", "hold_time_usec" */
        const ServiceHistogram *histogram;
} ServiceStatsHistogramRef;

/* What GetStatistics and the wire protocol's GET_STATS answer, in their order. The pointers are
 * valid until the service runs again. */
typedef struct ServiceStatsView {
        ServiceStatsValue values[SERVICE_STATS_N_VALUES];
        ServiceStatsHistogramRef histograms[SERVICE_STATS_N_HISTOGRAMS];
        const ServiceContendedPath *contended[SERVICE_STATS_TOP_PATHS];   /* most waited-for first */
        size_t n_contended;
} ServiceStatsView;

void service_get_statistics(Service *service, ServiceStatsView *ret);

/* ---- authorization: one table, method → action, asked by every front end ---- */

typedef enum ServiceAction {
        SERVICE_ACTION_ACQUIRE,
        SERVICE_ACTION_PUBLISH,
        SERVICE_ACTION_MANAGE,
        _SERVICE_ACTION_MAX,
} ServiceAction;

/* The polkit action id, e.g. "org.pylocker.manage". */
const char *service_action_to_string(ServiceAction action);
/* The action a method of org.pylocker.Locker needs; -ENOENT for a method that is not ours. */
int service_method_action(const char *method, ServiceAction *ret);
/* > 0 allowed; 0: only polkit can tell (the front end asks it and records its final answer with
 * client_set_verdict()); < 0 refused, error set. */
int service_authorize(Service *service, Client *client, ServiceAction action, ServiceError *error);
/* The text of an AccessDenied for an action: what it is for, its polkit id and how to get it.
 * interactive_required: polkit would grant it after authentication the caller did not allow. */
char *service_action_denied_message(ServiceAction action, bool interactive_required);
/* A front end heard polkit refuse a call (the core's rule refusals are counted by the core). */
static inline void service_note_denial(Service *service) {
        service->stats.denials++;
}

/* ---- locks ---- */

/* How an Acquire ends, given to its completion exactly once. */
typedef struct AcquireResult {
        Lock *lock;             /* granted; NULL on error */
        int handle_fd;          /* with a handle: the write end to pass on (borrowed), else -1 */
        const ServiceError *error;
} AcquireResult;

/* Answers the caller. Returns < 0 when the answer could not be sent; for a grant made at once the
 * lock is then taken back (nobody would know its id). */
typedef int (*AcquireCompletion)(Service *service, Client *client, const AcquireResult *result, void *userdata);

typedef struct AcquireCall {
        LockRequest request;
        bool with_handle;        /* the lock also goes when every copy of a pipe's write end is closed */
        AcquireCompletion done;
        void *userdata;          /* the front end's, for done; it frees it in done */
} AcquireCall;

/* Validates and queues or grants. Returns 0 when done was called or will be, exactly once (at
 * once for a grant or a refusal at the table; later for a wait); < 0 with error set, done never
 * called, for a request refused before the table. */
int service_acquire(Service *service, Client *client, const AcquireCall *call, ServiceError *error);
/* 1 released, 0 not found (released or expired already), < 0 with error set (another's lock). With a
 * gate and done given: 2, released here and answered through done once the cluster has dropped it
 * (done may have been called already when this returns). */
int service_release(Service *service, Client *client, const uint8_t id[LOCK_ID_SIZE], ServiceError *error,
                    ServiceReleaseDone done, void *userdata);
int service_refresh(Service *service, Client *client, const uint8_t id[LOCK_ID_SIZE], uint64_t ttl_usec,
                    uint64_t *ret_expires_realtime, ServiceError *error);
/* Admin: ends anyone's lock; 1 released, 0 not found. by: who asked, for the log. */
int service_force_release(Service *service, const uint8_t id[LOCK_ID_SIZE], const char *by);
/* Admin: < 0 with error set for a value out of range. */
int service_set_max_lock_time(Service *service, uint64_t usec, ServiceError *error);
int service_set_default_timeout(Service *service, uint64_t usec, ServiceError *error);
/* Parses a lock id: < 0 with error set for a malformed one. */
int service_parse_lock_id(const char *text, uint8_t ret_id[LOCK_ID_SIZE], ServiceError *error);

/* ---- messages ---- */

typedef struct PublishRequest {
        const char *message;
        const char *const *receivers;   /* client ids or names; none: every client */
        size_t n_receivers;
        uint64_t timeout_usec;          /* 0: never expires */
        bool to_self;
        bool unique;
        bool replace;
} PublishRequest;

#define PUBLISH_REQUEST_INIT { .to_self = true, .replace = true }

/* Delivers into the receivers' inboxes and tells each one. *ret_id: the publication's id, or ""
 * when nobody took it (valid until the service runs again). */
int service_publish(Service *service, Client *sender, const PublishRequest *request, const char **ret_id,
                    ServiceError *error);
/* Calls visit for the client's publications of message (NULL: all), oldest first. */
void service_inbox_foreach(Client *client, const char *message, InboxVisitor visit, void *userdata);
/* Removes the client's publications of message, from the given senders (none: from anyone). */
size_t service_inbox_remove(Client *client, const char *message, const char *const *senders, size_t n_senders);
bool service_inbox_has(Client *client, const char *message);
