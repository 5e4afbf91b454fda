/* Message inboxes: publications delivered to clients' inboxes, with the seed's unique and replace
 * rules and timeouts on one deadline heap.
 *
 * A publication is stored once and linked into every inbox that took it; it goes when the last
 * inbox lets go of it or its timeout passes. Inboxes are short (bounded by the daemon's limit),
 * so looking a message up in one is a scan of it. */
#include <string.h>

#include "deadline-heap.h"
#include "inbox.h"
#include "lock-table.h"
#include "macro.h"
#include "random-id.h"

struct Publication {
        DeadlineHeapNode deadline;
        GQueue entries;               /* InboxEntry.publication_link */
        char id[RANDOM_ID_STRING_MAX];
        char *message;
        char *sender_id;
        char *sender_name;
        uint64_t published_realtime;
        uint64_t expires_realtime;
};

typedef struct InboxEntry {
        Publication *publication;
        Inbox *inbox;
        GList inbox_link;
        GList publication_link;
} InboxEntry;

struct Inbox {
        MessageStore *store;
        void *userdata;
        GList store_link;
        GQueue entries;               /* InboxEntry.inbox_link, oldest first */
        LockGroup *group;             /* charged for what the inbox holds; NULL: nobody */
};

struct MessageStore {
        MessageStoreCallbacks callbacks;
        void *userdata;
        GQueue inboxes;
        DeadlineHeap deadlines;
        uint64_t announced_deadline;
        RandomIdPool random;
        size_t max_group_bytes;
};

static uint64_t clock_now(clockid_t clock, void *userdata) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

MessageStore *message_store_new(const MessageStoreCallbacks *callbacks, void *userdata) {
        MessageStore *store = g_new0(MessageStore, 1);

        if (callbacks)
                store->callbacks = *callbacks;
        if (!store->callbacks.now)
                store->callbacks.now = clock_now;
        store->userdata = userdata;
        store->deadlines = (DeadlineHeap) DEADLINE_HEAP_INIT;
        store->announced_deadline = UINT64_MAX;
        store->random = (RandomIdPool) RANDOM_ID_POOL_INIT;
        store->max_group_bytes = SIZE_MAX;
        return store;
}

void message_store_set_max_group_bytes(MessageStore *store, size_t max_bytes) {
        store->max_group_bytes = max_bytes;
}

/* What one inbox's entry costs its group: the entry and, as if it were the inbox's alone, the
 * publication with its strings (a publication to many costs each receiver in full: what each could
 * be made to keep). */
static size_t entry_bytes(const char *message, const char *sender_id, const char *sender_name) {
        return sizeof(InboxEntry) + sizeof(Publication) + strlen(message) + strlen(sender_id) +
               strlen(sender_name) + 3;
}

static size_t publication_entry_bytes(const Publication *publication) {
        return entry_bytes(publication->message, publication->sender_id, publication->sender_name);
}

uint64_t message_store_get_next_deadline(const MessageStore *store) {
        DeadlineHeapNode *node = deadline_heap_peek(&store->deadlines);

        return node ? node->deadline : UINT64_MAX;
}

static void store_announce_deadline(MessageStore *store) {
        uint64_t next = message_store_get_next_deadline(store);

        if (next == store->announced_deadline)
                return;
        store->announced_deadline = next;
        if (store->callbacks.on_deadline_changed)
                store->callbacks.on_deadline_changed(store, next, store->userdata);
}

static void publication_free(MessageStore *store, Publication *publication) {
        g_assert_true(g_queue_is_empty(&publication->entries));
        deadline_heap_remove(&store->deadlines, &publication->deadline);
        g_free(publication->message);
        g_free(publication->sender_id);
        g_free(publication->sender_name);
        g_free(publication);
}

static void entry_free(MessageStore *store, InboxEntry *entry) {
        Publication *publication = entry->publication;

        if (entry->inbox->group)
                lock_group_charge(entry->inbox->group, -(ssize_t) publication_entry_bytes(publication));
        g_queue_unlink(&entry->inbox->entries, &entry->inbox_link);
        g_queue_unlink(&publication->entries, &entry->publication_link);
        g_free(entry);
        if (g_queue_is_empty(&publication->entries))
                publication_free(store, publication);
}

Inbox *inbox_new(MessageStore *store, void *userdata) {
        Inbox *inbox = g_new0(Inbox, 1);

        inbox->store = store;
        inbox->userdata = userdata;
        inbox->store_link.data = inbox;
        g_queue_push_tail_link(&store->inboxes, &inbox->store_link);
        return inbox;
}

Inbox *inbox_free(Inbox *inbox) {
        MessageStore *store;

        if (!inbox)
                return NULL;

        store = inbox->store;
        while (!g_queue_is_empty(&inbox->entries))
                entry_free(store, inbox->entries.head->data);
        g_queue_unlink(&store->inboxes, &inbox->store_link);
        lock_group_unref(inbox->group);
        g_free(inbox);
        store_announce_deadline(store);
        return NULL;
}

MessageStore *message_store_free(MessageStore *store) {
        if (!store)
                return NULL;

        while (!g_queue_is_empty(&store->inboxes))
                inbox_free(store->inboxes.head->data);
        deadline_heap_deinit(&store->deadlines);
        random_id_pool_wipe(&store->random);
        g_free(store);
        return NULL;
}

void inbox_set_group(Inbox *inbox, LockGroup *group) {
        g_assert_true(g_queue_is_empty(&inbox->entries));
        lock_group_unref(inbox->group);
        inbox->group = lock_group_ref(group);
}

size_t inbox_get_length(const Inbox *inbox) {
        return inbox->entries.length;
}

static size_t inbox_count(const Inbox *inbox, const char *message) {
        size_t n = 0;

        for (GList *l = inbox->entries.head; l; l = l->next)
                if (strcmp(((InboxEntry *) l->data)->publication->message, message) == 0)
                        n++;
        return n;
}

bool inbox_has(const Inbox *inbox, const char *message) {
        for (GList *l = inbox->entries.head; l; l = l->next)
                if (strcmp(((InboxEntry *) l->data)->publication->message, message) == 0)
                        return true;
        return false;
}

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
                          const Publication **ret_publication) {
        bool replace = !(flags & PUBLISH_NO_REPLACE), unique = flags & PUBLISH_UNIQUE;
        size_t n_taking = 0, cost = entry_bytes(message, sender_id, sender_name ?: "");
        Publication *publication;
        uint8_t id[RANDOM_ID_SIZE];
        int r = 0;

        /* Decide everything first, so that a full inbox changes nothing anywhere. Each receiver's
         * group is charged for its share meanwhile, so that receivers of one group add up; the charges
         * are taken back below, and made for good as entries come and go. */
        for (size_t i = 0; i < n_receivers; i++) {
                size_t held = unique || replace ? inbox_count(receivers[i], message) : 0;
                LockGroup *group = receivers[i]->group;

                ret_delivered[i] = !(unique && held > 0);
                if (!ret_delivered[i])
                        continue;
                n_taking++;
                if (inbox_get_length(receivers[i]) - (replace ? held : 0) >= max_inbox_length)
                        r = MESSAGE_E_INBOX_FULL;
                /* Earlier publications of the message are replaced: the same bytes again. */
                else if (group && !(replace && held > 0)) {
                        if (lock_group_get_n_bytes(group) + cost > store->max_group_bytes)
                                r = MESSAGE_E_OVER_BUDGET;
                        else
                                lock_group_charge(group, (ssize_t) cost);
                }
                if (r != 0) {
                        *ret_full_index = i;
                        ret_delivered[i] = false;
                        break;
                }
        }
        for (size_t i = 0; i < n_receivers; i++) {
                LockGroup *group = receivers[i]->group;
                size_t held;

                if (r != 0 && i >= *ret_full_index)
                        break;
                if (!ret_delivered[i] || !group)
                        continue;
                held = replace ? inbox_count(receivers[i], message) : 0;
                if (!(replace && held > 0))
                        lock_group_charge(group, -(ssize_t) cost);
        }
        if (r != 0)
                return r;
        if (n_receivers > 0 && n_taking == 0)
                return MESSAGE_E_ALL_REFUSED;

        *ret_publication = NULL;
        if (n_taking == 0)
                return 0;

        publication = g_new0(Publication, 1);
        random_id_generate(&store->random, id);
        random_id_to_string(id, publication->id);
        publication->message = g_strdup(message);
        publication->sender_id = g_strdup(sender_id);
        publication->sender_name = g_strdup(sender_name ?: "");
        publication->published_realtime = store->callbacks.now(CLOCK_REALTIME, store->userdata);
        if (timeout_usec > 0) {
                publication->expires_realtime = usec_add(publication->published_realtime, timeout_usec);
                deadline_heap_put(&store->deadlines, &publication->deadline,
                                  usec_add(store->callbacks.now(CLOCK_MONOTONIC, store->userdata), timeout_usec));
        }

        for (size_t i = 0; i < n_receivers; i++) {
                Inbox *inbox = receivers[i];
                InboxEntry *entry;

                if (!ret_delivered[i])
                        continue;

                if (replace)
                        (void) inbox_remove(inbox, message, NULL, 0);

                entry = g_new0(InboxEntry, 1);
                if (inbox->group)
                        lock_group_charge(inbox->group, (ssize_t) cost);
                entry->publication = publication;
                entry->inbox = inbox;
                entry->inbox_link.data = entry;
                entry->publication_link.data = entry;
                g_queue_push_tail_link(&inbox->entries, &entry->inbox_link);
                g_queue_push_tail_link(&publication->entries, &entry->publication_link);
        }

        store_announce_deadline(store);
        *ret_publication = publication;
        return 0;
}

void inbox_foreach(const Inbox *inbox, const char *message, InboxVisitor visit, void *userdata) {
        for (GList *l = inbox->entries.head; l; l = l->next) {
                const Publication *publication = ((InboxEntry *) l->data)->publication;

                if (!message || strcmp(publication->message, message) == 0)
                        visit(publication, userdata);
        }
}

static bool sent_by(const Publication *publication, const char *const *senders, size_t n_senders) {
        if (n_senders == 0)
                return true;
        for (size_t i = 0; i < n_senders; i++)
                if (strcmp(publication->sender_id, senders[i]) == 0 ||
                    (publication->sender_name[0] && strcmp(publication->sender_name, senders[i]) == 0))
                        return true;
        return false;
}

size_t inbox_remove(Inbox *inbox, const char *message, const char *const *senders, size_t n_senders) {
        size_t removed = 0;

        for (GList *l = inbox->entries.head; l;) {
                InboxEntry *entry = l->data;

                l = l->next;
                if (strcmp(entry->publication->message, message) != 0 ||
                    !sent_by(entry->publication, senders, n_senders))
                        continue;
                entry_free(inbox->store, entry);
                removed++;
        }

        if (removed > 0)
                store_announce_deadline(inbox->store);
        return removed;
}

void message_store_dispatch_deadlines(MessageStore *store) {
        uint64_t now = store->callbacks.now(CLOCK_MONOTONIC, store->userdata);
        DeadlineHeapNode *node;

        while ((node = deadline_heap_peek(&store->deadlines)) && node->deadline <= now) {
                Publication *publication = container_of(node, Publication, deadline);

                /* Freeing the last entry frees the publication and takes it off the heap. */
                while (!g_queue_is_empty(&publication->entries)) {
                        bool last = publication->entries.length == 1;

                        entry_free(store, publication->entries.head->data);
                        if (last)
                                break;
                }
        }
        store_announce_deadline(store);
}

const char *publication_get_id(const Publication *publication) {
        return publication->id;
}

const char *publication_get_message(const Publication *publication) {
        return publication->message;
}

const char *publication_get_sender_id(const Publication *publication) {
        return publication->sender_id;
}

const char *publication_get_sender_name(const Publication *publication) {
        return publication->sender_name;
}

uint64_t publication_get_published_realtime(const Publication *publication) {
        return publication->published_realtime;
}

uint64_t publication_get_expires_realtime(const Publication *publication) {
        return publication->expires_realtime;
}
