/* The message half of org.pylocker.Locker: Publish, the inbox calls and MessagePublished. */
#include <errno.h>
#include <string.h>

#include "bus-errors.h"
#include "bus-locker.h"
#include "bus-messages.h"
#include "bus-options.h"
#include "client.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "sd-cleanup.h"

typedef struct PublishOptions {
        bool to_self;
        bool unique;
        bool replace;
} PublishOptions;

static const BusOption publish_options[] = {
        { "to_self", BUS_OPTION_BOOL, offsetof(PublishOptions, to_self) },
        { "unique",  BUS_OPTION_BOOL, offsetof(PublishOptions, unique) },
        { "replace", BUS_OPTION_BOOL, offsetof(PublishOptions, replace) },
};

/* Receivers by client id or friendly name; empty: every client. An unknown receiver fails the whole
 * call, so that nothing is published to only some of what was meant. */
static int resolve_receivers(Manager *manager, char **names, Client *sender, bool to_self, GPtrArray **ret,
                             sd_bus_error *error) {
        g_autoptr(GPtrArray) receivers = g_ptr_array_new();
        g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);

        for (size_t i = 0; names[i]; i++) {
                Client *c = g_hash_table_lookup(manager->clients, names[i]) ?:
                            g_hash_table_lookup(manager->client_names, names[i]);

                if (!c)
                        return sd_bus_error_setf(error, PL_ERROR_NOT_FOUND,
                                                 "No client with the id or name '%.255s'.", names[i]);
                if (g_hash_table_add(seen, c))
                        g_ptr_array_add(receivers, c);
        }

        if (!names[0]) {
                GHashTableIter iter;
                gpointer c;

                g_hash_table_iter_init(&iter, manager->clients);
                while (g_hash_table_iter_next(&iter, NULL, &c)) {
                        g_hash_table_add(seen, c);
                        g_ptr_array_add(receivers, c);
                }
        }

        /* to_self, as in the seed: also to the sender, or never to it. */
        if (to_self && g_hash_table_add(seen, sender))
                g_ptr_array_add(receivers, sender);
        if (!to_self)
                g_ptr_array_remove(receivers, sender);

        *ret = g_steal_pointer(&receivers);
        return 0;
}

static void send_message_published(Client *receiver, const Publication *publication) {
        g_autoptr(sd_bus_message) signal = NULL;
        int r;

        r = bus_locker_new_signal_to(receiver, "MessagePublished", &signal);
        if (r >= 0)
                r = sd_bus_message_append(signal, "ssst", publication_get_id(publication),
                                          publication_get_sender_id(publication),
                                          publication_get_message(publication),
                                          publication_get_expires_realtime(publication));
        if (r >= 0)
                r = sd_bus_send(receiver->bus, signal, NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to signal a publication to %s, ignoring: %m", receiver->id);
}

int bus_messages_method_publish(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *manager = userdata;
        PublishOptions options = { .to_self = true, .replace = true };
        g_autoptr(GPtrArray) receivers = NULL;
        g_auto(GStrv) names = NULL;
        g_autofree bool *delivered = NULL;
        g_autofree Inbox **inboxes = NULL;
        const Publication *publication = NULL;
        const char *text;
        uint64_t timeout_usec;
        size_t full_index = 0;
        Client *sender;
        int r;

        r = sd_bus_message_read(message, "s", &text);
        if (r < 0)
                return r;
        if (strlen(text) > manager->config.max_message_size)
                return sd_bus_error_setf(error, PL_ERROR_LIMITS_EXCEEDED,
                                         "Message is longer than %zu bytes.", manager->config.max_message_size);

        r = sd_bus_message_read_strv(message, &names);
        if (r < 0)
                return r;
        /* An empty array reads as NULL. */
        if (!names)
                names = g_new0(char *, 1);
        r = sd_bus_message_read(message, "t", &timeout_usec);
        if (r < 0)
                return r;
        r = bus_options_read(message, publish_options, ELEMENTSOF(publish_options), &options, error);
        if (r < 0)
                return r;

        r = bus_locker_get_client(manager, message, &sender, error);
        if (r < 0)
                return r;
        r = resolve_receivers(manager, names, sender, options.to_self, &receivers, error);
        if (r < 0)
                return r;

        if (!client_publish_allowed(sender, lock_table_now(manager->table, CLOCK_MONOTONIC),
                                    manager->config.max_publications_per_second))
                return sd_bus_error_setf(error, PL_ERROR_LIMITS_EXCEEDED,
                                         "More than %u publications in one second.",
                                         manager->config.max_publications_per_second);

        inboxes = g_new(Inbox *, receivers->len + 1);
        delivered = g_new0(bool, receivers->len + 1);
        for (guint i = 0; i < receivers->len; i++)
                inboxes[i] = ((Client *) receivers->pdata[i])->inbox;

        r = message_store_publish(manager->messages, text, sender->id, sender->name, inboxes, receivers->len,
                                  timeout_usec, (options.unique ? PUBLISH_UNIQUE : 0) |
                                  (options.replace ? 0 : PUBLISH_NO_REPLACE),
                                  manager->config.max_inbox_length, delivered, &full_index, &publication);
        if (r == MESSAGE_E_ALL_REFUSED)
                return sd_bus_error_set(error, PL_ERROR_ALREADY_EXISTS,
                                        "Every receiver holds this message already (unique).");
        if (r == MESSAGE_E_INBOX_FULL)
                return sd_bus_error_setf(error, PL_ERROR_LIMITS_EXCEEDED,
                                         "The inbox of %s is full (%zu messages); nothing was published.",
                                         ((Client *) receivers->pdata[full_index])->id,
                                         manager->config.max_inbox_length);
        if (r < 0)
                return r;

        for (guint i = 0; i < receivers->len; i++)
                if (delivered[i])
                        send_message_published(receivers->pdata[i], publication);

        return sd_bus_reply_method_return(message, "s", publication ? publication_get_id(publication) : "");
}

static void append_publication(const Publication *publication, void *userdata) {
        sd_bus_message *reply = userdata;
        int r;

        /* A failed append makes the reply invalid; sd-bus then refuses to send it, which is reported. */
        r = sd_bus_message_append(reply, "(sssstt)", publication_get_message(publication),
                                  publication_get_id(publication), publication_get_sender_id(publication),
                                  publication_get_sender_name(publication),
                                  publication_get_published_realtime(publication),
                                  publication_get_expires_realtime(publication));
        if (r < 0)
                log_debug_errno(r, "Failed to append a publication: %m");
}

/* Replies with the caller's publications of text (NULL: all), and removes them if pop. */
static int reply_publications(sd_bus_message *message, Manager *manager, const char *text, bool pop,
                              sd_bus_error *error) {
        g_autoptr(sd_bus_message) reply = NULL;
        Client *client;
        int r;

        r = bus_locker_get_client(manager, message, &client, error);
        if (r < 0)
                return r;

        r = bus_locker_new_array_reply(message, "(sssstt)", &reply);
        if (r < 0)
                return r;
        inbox_foreach(client->inbox, text, append_publication, reply);
        r = bus_locker_send_array_reply(reply);
        if (r < 0)
                return r;
        /* Only once the answer is on its way: a failed Pop loses nothing. */
        if (pop)
                (void) inbox_remove(client->inbox, text, NULL, 0);
        return 1;
}

int bus_messages_method_list(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return reply_publications(message, userdata, NULL, /* pop= */ false, error);
}

int bus_messages_method_get(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        const char *text;
        int r;

        r = sd_bus_message_read(message, "s", &text);
        if (r < 0)
                return r;
        return reply_publications(message, userdata, text, /* pop= */ false, error);
}

int bus_messages_method_pop(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        const char *text;
        int r;

        r = sd_bus_message_read(message, "s", &text);
        if (r < 0)
                return r;
        return reply_publications(message, userdata, text, /* pop= */ true, error);
}

int bus_messages_method_has(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *manager = userdata;
        const char *text;
        Client *client;
        int r;

        r = sd_bus_message_read(message, "s", &text);
        if (r < 0)
                return r;
        r = bus_locker_get_client(manager, message, &client, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, "b", (int) inbox_has(client->inbox, text));
}

int bus_messages_method_remove(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *manager = userdata;
        g_auto(GStrv) senders = NULL;
        const char *text;
        Client *client;
        int r;

        r = sd_bus_message_read(message, "s", &text);
        if (r < 0)
                return r;
        r = sd_bus_message_read_strv(message, &senders);
        if (r < 0)
                return r;
        if (!senders)
                senders = g_new0(char *, 1);
        r = bus_locker_get_client(manager, message, &client, error);
        if (r < 0)
                return r;

        return sd_bus_reply_method_return(message, "u",
                                          (uint32_t) inbox_remove(client->inbox, text, (const char *const *) senders,
                                                                  g_strv_length(senders)));
}
