/* Clients of the D-Bus front end: who calls (bus names and peer connections), how they are told
 * about lost locks and publications, and how the core's errors read on the bus. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "time-util.h"

#include "bus-internal.h"
#include "bus-polkit.h"
#include "log.h"
#include "macro.h"
#include "pylocker-names.h"
#include "sd-cleanup.h"

/* The client's side of the connection: its own peer connection, or a reference to the bus. */
typedef struct BusLink {
        BusLocker *locker;
        sd_bus *bus;
        /* Peer connections: the estimated size of each message we queued that sd-bus may not have
         * written yet (newest last), and their sum. */
        GQueue queued_sizes;
        size_t queued_bytes;
        bool dropped;                  /* over its output cap: goes at the next defer */
        bool signals_dropped;          /* bus clients: a signal was dropped for the bus's queue (logged) */
        sd_event_source *drop_source;
} BusLink;

static bool link_is_peer(const BusLink *link) {
        return g_hash_table_contains(link->locker->peer_clients, link->bus);
}

static int on_drop(sd_event_source *source, void *userdata) {
        Client *client = userdata;

        /* Its locks and waiters go, as on a disconnect. */
        client_free(client);
        return 0;
}

/* A peer connection over its output cap is dropped: logged once, closed at the next defer (never
 * inside the core's loop over receivers, which may still use what freeing the client frees). */
static void link_drop(Client *client, const char *why) {
        BusLink *link = client->link;
        int r;

        if (link->dropped)
                return;
        link->dropped = true;
        log_warning("Dropping client %s (uid %u): %s.", client->id, (unsigned) client->uid, why);
        r = sd_event_add_defer(link->locker->event, &link->drop_source, on_drop, client);
        if (r < 0)
                log_error_errno(r, "Failed to schedule dropping %s: %m", client->id);
}

/* Forgets the estimates of messages sd-bus has written: the queued estimate is the newest of our
 * messages, as many as sd-bus says are still queued. Returns how many that is. */
static uint64_t link_prune(BusLink *link) {
        uint64_t n = 0;

        if (sd_bus_get_n_queued_write(link->bus, &n) < 0)
                n = 0;
        while (link->queued_sizes.length > n)
                link->queued_bytes -= GPOINTER_TO_SIZE(g_queue_pop_head(&link->queued_sizes));
        return n;
}

/* Accounts size more bytes about to be queued for a peer: false (and the peer dropped) when that
 * would put more than the cap in its queue. */
static bool link_account(Client *client, size_t size) {
        BusLink *link = client->link;
        uint64_t n;

        if (link->dropped)
                return false;
        if (!link_is_peer(link))
                return true;
        n = link_prune(link);
        if (link->queued_bytes + size > link->locker->max_queued_bytes ||
            n >= BUS_MAX_QUEUED_SIGNALS) {
                link_drop(client, "more output queued for it than MaxQueuedBytesPerConnection, it does not read");
                return false;
        }
        g_queue_push_tail(&link->queued_sizes, GSIZE_TO_POINTER(size));
        link->queued_bytes += size;
        return true;
}

/* Whether a signal may be queued for this client: on a peer connection, within its cap; on the bus,
 * while the bus connection's queue is short (else this signal is dropped, not the bus). */
static bool may_signal(Client *client, size_t size) {
        BusLink *link = client->link;
        uint64_t n = 0;

        if (link_is_peer(link))
                return link_account(client, size);
        if (sd_bus_get_n_queued_write(link->bus, &n) >= 0 && n >= BUS_MAX_QUEUED_SIGNALS) {
                if (!link->signals_dropped)
                        log_warning("The bus connection is backed up: dropping signals to %s (its messages "
                                    "stay in its inbox).", client->id);
                link->signals_dropped = true;
                return false;
        }
        link->signals_dropped = false;
        return true;
}

/* Roughly what a message with these payload bytes takes queued: header and framing on top. */
#define MESSAGE_OVERHEAD 256

int bus_error_from_service(sd_bus_error *error, const ServiceError *e) {
        if (!service_error_is_set(e))
                return -EIO;
        return sd_bus_error_set(error, service_error_code_to_name(e->code), e->message);
}

int bus_reply_service_error(sd_bus_message *call, const ServiceError *e) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        (void) bus_error_from_service(&error, e);
        return sd_bus_reply_method_error(call, &error);
}

static int new_signal_to(Client *client, const char *member, sd_bus_message **ret) {
        BusLink *link = client->link;
        g_autoptr(sd_bus_message) signal = NULL;
        int r;

        r = sd_bus_message_new_signal(link->bus, &signal, PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE, member);
        if (r < 0)
                return r;
        /* Unicast: other peers on the bus never see it, whatever their match rules. */
        if (sd_bus_is_bus_client(link->bus)) {
                r = sd_bus_message_set_destination(signal, client->id);
                if (r < 0)
                        return r;
        }

        *ret = g_steal_pointer(&signal);
        return 0;
}

static void send_lock_expired(Client *client, Lock *lock, LockLostReason reason) {
        g_autoptr(sd_bus_message) signal = NULL;
        char id[LOCK_ID_STRING_MAX];
        size_t size;
        int r;

        /* LockExpired is for leases and ForceRelease only: on D-Bus, a closed handle is the holder's
         * own release, as documented. */
        if (reason == LOCK_LOST_HANDLE_CLOSED)
                return;

        size = MESSAGE_OVERHEAD;
        for (size_t i = 0; i < lock_get_n_paths(lock); i++)
                size += 8 + strlen(lock_get_path(lock, i));
        if (!may_signal(client, size))
                return;

        /* Only the holder learns about its lock. */
        r = new_signal_to(client, "LockExpired", &signal);
        if (r >= 0)
                r = sd_bus_message_append(signal, "s", lock_id_to_string(lock_get_id(lock), id));
        if (r >= 0)
                r = bus_append_lock_paths(signal, lock);
        if (r >= 0)
                r = sd_bus_send(((BusLink *) client->link)->bus, signal, NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to tell %s about its lost lock, ignoring: %m", client->id);
}

static void send_message_published(Client *receiver, const Publication *publication) {
        g_autoptr(sd_bus_message) signal = NULL;
        int r;

        if (!may_signal(receiver, MESSAGE_OVERHEAD + strlen(publication_get_message(publication))))
                return;

        r = new_signal_to(receiver, "MessagePublished", &signal);
        if (r >= 0)
                r = sd_bus_message_append(signal, "ssst", publication_get_id(publication),
                                          publication_get_sender_id(publication),
                                          publication_get_message(publication),
                                          publication_get_expires_realtime(publication));
        if (r >= 0)
                r = sd_bus_send(((BusLink *) receiver->link)->bus, signal, NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to signal a publication to %s, ignoring: %m", receiver->id);
}

static void disconnect(Client *client) {
        BusLink *link = client->link;

        link->drop_source = sd_event_source_disable_unref(link->drop_source);
        if (g_hash_table_remove(link->locker->peer_clients, link->bus)) {
                /* A peer-to-peer connection is the client's own: it goes with it. Never flushed
                 * without a bound: on the way out until the deadline, else not at all (the peer hung
                 * up, or was dropped for not reading). */
                (void) sd_bus_detach_event(link->bus);
                if (link->locker->flush_deadline > 0 && !link->dropped)
                        (void) bus_flush_until(link->bus, link->locker->flush_deadline);
                sd_bus_close_unref(link->bus);
        } else
                sd_bus_unref(link->bus);
        g_queue_clear(&link->queued_sizes);
        g_free(link);
}

static void on_alarm(int sig) {
        /* Only to interrupt sd-bus's poll in bus_flush_until(). */
}

int bus_flush_until(sd_bus *bus, uint64_t deadline) {
        struct sigaction sa = { .sa_handler = on_alarm }, old_sa;
        struct itimerval timer = {}, old_timer;
        uint64_t n = 0, now;
        struct timespec ts;
        int r;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;

        if (sd_bus_get_n_queued_write(bus, &n) >= 0 && n == 0)
                return 0;
        if (now >= deadline)
                return -ETIMEDOUT;

        /* sd_bus_flush() polls without a timeout while the peer does not read: an alarm without
         * SA_RESTART interrupts that poll at the deadline. */
        timer.it_value.tv_sec = (time_t) ((deadline - now) / USEC_PER_SEC);
        timer.it_value.tv_usec = (suseconds_t) ((deadline - now) % USEC_PER_SEC);
        (void) sigaction(SIGALRM, &sa, &old_sa);
        (void) setitimer(ITIMER_REAL, &timer, &old_timer);
        r = sd_bus_flush(bus);
        (void) setitimer(ITIMER_REAL, &(struct itimerval) {}, NULL);
        (void) sigaction(SIGALRM, &old_sa, NULL);
        if (r == -EINTR)
                return -ETIMEDOUT;
        return r < 0 ? r : 0;
}

void bus_locker_close_peers(BusLocker *locker, uint64_t deadline) {
        g_autoptr(GList) clients = g_hash_table_get_values(locker->peer_clients);

        locker->flush_deadline = deadline;
        for (GList *l = clients; l; l = l->next)
                client_free(l->data);
}

/* A peer connection's estimate; the bus connection is shared by every bus client, and the bus
 * daemon, not we, holds what they have not read: nothing here. */
static size_t queued_bytes(Client *client) {
        BusLink *link = client->link;

        if (!link_is_peer(link))
                return 0;
        (void) link_prune(link);
        return link->queued_bytes;
}

static const ClientOps bus_client_ops = {
        .lock_lost = send_lock_expired,
        .message_published = send_message_published,
        .disconnect = disconnect,
        .queued_bytes = queued_bytes,
};

static Client *client_new_on(BusLocker *locker, sd_bus *bus, const char *id, ClientTransport transport, uid_t uid,
                             pid_t pid) {
        BusLink *link = g_new0(BusLink, 1);

        link->locker = locker;
        link->bus = sd_bus_ref(bus);
        return client_new(locker->service, id, transport, uid, pid, &bus_client_ops, link);
}

Client *bus_locker_add_peer(BusLocker *locker, sd_bus *bus, const char *id, ClientTransport transport, uid_t uid,
                            pid_t pid) {
        Client *client = client_new_on(locker, bus, id, transport, uid, pid);

        g_hash_table_insert(locker->peer_clients, bus, client);
        return client;
}

Client *bus_locker_get_peer(BusLocker *locker, sd_bus *bus) {
        return g_hash_table_lookup(locker->peer_clients, bus);
}

void bus_locker_name_gone(BusLocker *locker, const char *name) {
        Client *client = service_find_client(locker->service, name);

        if (client && !g_hash_table_contains(locker->peer_clients, ((BusLink *) client->link)->bus)) {
                log_debug("Client %s disconnected.", name);
                client_free(client);
        }
}

int bus_locker_get_client(BusLocker *locker, sd_bus_message *message, Client **ret, sd_bus_error *error) {
        g_autoptr(sd_bus_creds) creds = NULL;
        const char *sender = sd_bus_message_get_sender(message);
        Client *client;
        uid_t uid = (uid_t) -1;
        pid_t pid = 0;
        int r;

        if (!sender) {
                /* Peer to peer: the connection is the client, registered when it connected. */
                client = bus_locker_get_peer(locker, sd_bus_message_get_bus(message));
                if (!client)
                        return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                                                "Calls without a sender are not accepted on this connection.");
                /* A peer that calls without reading its answers goes like one that never reads its
                 * signals: an answer is at least this big. */
                if (!link_account(client, MESSAGE_OVERHEAD))
                        return sd_bus_error_set(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                                "Too much output queued for this connection.");
                *ret = client;
                return 0;
        }

        client = service_find_client(locker->service, sender);
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

        client = client_new_on(locker, sd_bus_message_get_bus(message), sender, CLIENT_TRANSPORT_BUS, uid, pid);
        log_debug("Client %s registered (uid %u, pid %d).", sender, (unsigned) uid, (int) pid);
        *ret = client;
        return 0;
}

BusLocker *bus_locker_new(Service *service) {
        BusLocker *locker = g_new0(BusLocker, 1);

        locker->service = service;
        locker->max_queued_bytes = BUS_MAX_QUEUED_BYTES_DEFAULT;
        locker->peer_clients = g_hash_table_new(NULL, NULL);
        return locker;
}

BusLocker *bus_locker_free(BusLocker *locker) {
        GHashTableIter iter;
        gpointer client;

        if (!locker)
                return NULL;

        bus_polkit_registry_free(locker);
        /* Every client is ours to close: bus clients hold a reference to our bus. */
        g_hash_table_iter_init(&iter, locker->service->clients);
        while (g_hash_table_iter_next(&iter, NULL, &client))
                if (((Client *) client)->ops == &bus_client_ops) {
                        g_hash_table_iter_steal(&iter);
                        client_free(client);
                }
        g_hash_table_unref(locker->peer_clients);
        g_free(locker);
        return NULL;
}

int bus_read_strings(sd_bus_message *message, size_t max, const char *what, GPtrArray **ret, bool *ret_too_many,
                     sd_bus_error *error) {
        g_autoptr(GPtrArray) strings = g_ptr_array_new();
        const char *s;
        int r;

        *ret_too_many = false;
        r = sd_bus_message_enter_container(message, 'a', "s");
        if (r < 0)
                return r;
        for (;;) {
                r = sd_bus_message_read_basic(message, 's', &s);
                if (r == -EBADMSG)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Invalid %s: not valid UTF-8 (or a Unicode noncharacter).", what);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                g_ptr_array_add(strings, (gpointer) s);
                if (strings->len > max) {
                        /* The caller refuses the list: no need to look at the rest. */
                        *ret_too_many = true;
                        *ret = g_steal_pointer(&strings);
                        return 0;
                }
        }
        r = sd_bus_message_exit_container(message);
        if (r < 0)
                return r;

        *ret = g_steal_pointer(&strings);
        return 0;
}

int bus_new_array_reply(sd_bus_message *call, const char *contents, sd_bus_message **ret) {
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

int bus_send_array_reply(sd_bus_message *reply) {
        int r;

        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}
