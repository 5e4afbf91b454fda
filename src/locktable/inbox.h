/* Message inboxes: publications delivered to clients' inboxes, with the seed's unique and replace
 * rules and timeouts on one deadline heap. Pure C with no D-Bus types. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <glib.h>

typedef struct MessageStore MessageStore;
typedef struct Inbox Inbox;
typedef struct Publication Publication;

/* Documented outcomes of message_store_publish(); negative values are fatal errno codes. */
enum {
        MESSAGE_E_ALL_REFUSED = 1,   /* unique: every receiver holds the message already */
        MESSAGE_E_INBOX_FULL,        /* a receiver's inbox is full: nothing was delivered */
        MESSAGE_E_OVER_BUDGET,       /* a receiver's group would pass its byte budget: nothing delivered */
};

typedef enum PublishFlags {
        PUBLISH_UNIQUE     = 1 << 0,   /* refuse a receiver whose inbox holds the message */
        PUBLISH_NO_REPLACE = 1 << 1,   /* keep earlier publications of the message beside the new one */
} PublishFlags;

typedef struct MessageStoreCallbacks {
        /* The earliest expiry changed (UINT64_MAX: none): re-arm the timer that calls
         * message_store_dispatch_deadlines(). */
        void (*on_deadline_changed)(MessageStore *store, uint64_t monotonic_usec, void *userdata);
        /* Injected clock, for tests; NULL means clock_gettime(). */
        uint64_t (*now)(clockid_t clock, void *userdata);
} MessageStoreCallbacks;

MessageStore *message_store_new(const MessageStoreCallbacks *callbacks, void *userdata);
/* Frees remaining inboxes too. */
MessageStore *message_store_free(MessageStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MessageStore, message_store_free)

Inbox *inbox_new(MessageStore *store, void *userdata);
/* Discards every publication in it. */
Inbox *inbox_free(Inbox *inbox);
size_t inbox_get_length(const Inbox *inbox);
/* Charges what the (empty) inbox will hold to group (a reference is kept), or to nobody (NULL). */
typedef struct LockGroup LockGroup;
void inbox_set_group(Inbox *inbox, LockGroup *group);
/* A publication that would take a receiver's group past max_bytes is refused (MESSAGE_E_OVER_BUDGET);
 * SIZE_MAX (the default): no budget. */
void message_store_set_max_group_bytes(MessageStore *store, size_t max_bytes);

/* Delivers one publication into the inboxes of the given (distinct) receivers. timeout_usec 0 never
 * expires. For each receiver: with PUBLISH_UNIQUE, a receiver whose inbox holds the message refuses
 * it; otherwise, unless PUBLISH_NO_REPLACE, the message's earlier publications in that inbox are
 * removed, and the new one is added at the end. ret_delivered[i] says whether receiver i took it.
 * Returns 0 (at least one receiver took it, or there was none), MESSAGE_E_ALL_REFUSED, or
 * MESSAGE_E_INBOX_FULL or MESSAGE_E_OVER_BUDGET with *ret_full_index (an inbox at max_inbox_length
 * that would grow, or whose group is at its budget: then nothing is delivered and nothing removed). *ret_publication is set for 0 when it was delivered. */
int message_store_publish(MessageStore *store,
                          const char *message,
                          const char *sender_id,
                          const char *sender_name,
                          Inbox *const *receivers,
                          size_t n_receivers,
                          uint64_t timeout_usec,
                          PublishFlags flags,
                          size_t max_inbox_length,
                          bool *ret_delivered,
                          size_t *ret_full_index,
                          const Publication **ret_publication);

/* Calls visit for the inbox's publications of message (NULL: all), oldest first. */
typedef void (*InboxVisitor)(const Publication *publication, void *userdata);
void inbox_foreach(const Inbox *inbox, const char *message, InboxVisitor visit, void *userdata);
bool inbox_has(const Inbox *inbox, const char *message);
/* Removes the inbox's publications of message from the given senders (by sender id or name;
 * n_senders 0: from anyone). Returns how many were removed. */
size_t inbox_remove(Inbox *inbox, const char *message, const char *const *senders, size_t n_senders);

uint64_t message_store_get_next_deadline(const MessageStore *store);
/* Removes every publication whose timeout passed from every inbox. */
void message_store_dispatch_deadlines(MessageStore *store);

const char *publication_get_id(const Publication *publication);
const char *publication_get_message(const Publication *publication);
const char *publication_get_sender_id(const Publication *publication);
const char *publication_get_sender_name(const Publication *publication);
uint64_t publication_get_published_realtime(const Publication *publication);
/* 0: never expires. */
uint64_t publication_get_expires_realtime(const Publication *publication);
