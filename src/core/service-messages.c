/* The message calls of the service: publish into inboxes, and the inbox calls. */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "service-internal.h"
#include "macro.h"

/* Receivers by client id or friendly name; none: every client. An unknown receiver fails the whole
 * call, so that nothing is published to only some of what was meant; with a gate it may be another
 * daemon's, and is left to the cluster. */
static int resolve_receivers(Service *service, const PublishRequest *request, Client *sender, GPtrArray **ret,
                             ServiceError *error) {
        g_autoptr(GPtrArray) receivers = g_ptr_array_new();
        g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);

        for (size_t i = 0; i < request->n_receivers; i++) {
                Client *c = service_find_receiver(service, request->receivers[i]);

                if (!c && service->gate_ops)
                        continue;
                if (!c)
                        return service_error_setf(error, SERVICE_ERROR_NOT_FOUND,
                                                  "No client with the id or name '%.255s'.", request->receivers[i]);
                if (g_hash_table_add(seen, c))
                        g_ptr_array_add(receivers, c);
        }

        if (request->n_receivers == 0) {
                GHashTableIter iter;
                gpointer c;

                g_hash_table_iter_init(&iter, service->clients);
                while (g_hash_table_iter_next(&iter, NULL, &c)) {
                        g_hash_table_add(seen, c);
                        g_ptr_array_add(receivers, c);
                }
        }

        /* to_self, as in the seed: also to the sender, or never to it. */
        if (sender && request->to_self && g_hash_table_add(seen, sender))
                g_ptr_array_add(receivers, sender);
        if (sender && !request->to_self)
                g_ptr_array_remove(receivers, sender);

        *ret = g_steal_pointer(&receivers);
        return 0;
}

int service_publish(Service *service, Client *sender, const PublishRequest *request, const char **ret_id,
                    ServiceError *error) {
        const ServiceSettings *settings = &service->settings;
        g_autoptr(GPtrArray) receivers = NULL;
        g_autofree bool *delivered = NULL;
        g_autofree Inbox **inboxes = NULL;
        const Publication *publication = NULL;
        size_t full_index = 0;
        int r;

        if (strlen(request->message) > settings->max_message_size)
                return service_error_setf(error, SERVICE_ERROR_LIMITS_EXCEEDED, "Message is longer than %zu bytes.",
                                          settings->max_message_size);

        if (request->n_receivers > settings->max_receivers)
                return service_error_setf(error, SERVICE_ERROR_LIMITS_EXCEEDED,
                                          "Too many receivers: at most %zu per message.", settings->max_receivers);

        r = resolve_receivers(service, request, sender, &receivers, error);
        if (r < 0)
                return r;

        if (!client_publish_allowed(sender, lock_table_now(service->table, CLOCK_MONOTONIC),
                                    settings->max_publications_per_second))
                return service_error_setf(error, SERVICE_ERROR_LIMITS_EXCEEDED, "More than %u publications in one second.",
                                          settings->max_publications_per_second);

        inboxes = g_new(Inbox *, receivers->len + 1);
        delivered = g_new0(bool, receivers->len + 1);
        for (guint i = 0; i < receivers->len; i++)
                inboxes[i] = ((Client *) receivers->pdata[i])->inbox;

        r = message_store_publish(service->messages, request->message, sender->id, sender->name, inboxes,
                                  receivers->len, request->timeout_usec,
                                  (request->unique ? PUBLISH_UNIQUE : 0) | (request->replace ? 0 : PUBLISH_NO_REPLACE),
                                  settings->max_inbox_length, delivered, &full_index, &publication);
        if (r == MESSAGE_E_ALL_REFUSED)
                return service_error_setf(error, SERVICE_ERROR_ALREADY_EXISTS,
                                          "Every receiver holds this message already (unique).");
        if (r == MESSAGE_E_INBOX_FULL)
                return service_error_setf(error, SERVICE_ERROR_LIMITS_EXCEEDED,
                                          "The inbox of %s is full (%zu messages); nothing was published.",
                                          ((Client *) receivers->pdata[full_index])->id, settings->max_inbox_length);
        if (r == MESSAGE_E_OVER_BUDGET)
                return service_error_setf(error, SERVICE_ERROR_LIMITS_EXCEEDED,
                                          "The user of %s is at its memory budget (MaxBytesPerUser=%zu bytes of "
                                          "locks and messages); nothing was published.",
                                          ((Client *) receivers->pdata[full_index])->id,
                                          settings->limits.max_bytes_per_group);
        if (r < 0)
                return r;

        for (guint i = 0; i < receivers->len; i++) {
                Client *receiver = receivers->pdata[i];

                if (delivered[i] && receiver->ops->message_published)
                        receiver->ops->message_published(receiver, publication);
        }

        if (service->gate_ops)
                service->gate_ops->publish(service->gate, &(ServiceRemotePublication) {
                                .message = request->message,
                                .sender_id = sender->id,
                                .sender_name = sender->name,
                                .receivers = request->receivers,
                                .n_receivers = request->n_receivers,
                                .expires_realtime = request->timeout_usec == 0 ? 0 :
                                        usec_add(lock_table_now(service->table, CLOCK_REALTIME), request->timeout_usec),
                                .unique = request->unique,
                                .replace = request->replace,
                        });

        *ret_id = publication ? publication_get_id(publication) : "";
        return 0;
}

void service_deliver_remote(Service *service, const ServiceRemotePublication *p) {
        const PublishRequest request = {
                .message = p->message,
                .receivers = p->receivers,
                .n_receivers = p->n_receivers,
        };
        g_autoptr(GPtrArray) receivers = NULL;
        uint64_t now = lock_table_now(service->table, CLOCK_REALTIME), timeout = 0;
        const Publication *publication = NULL;
        PublishFlags flags = (p->unique ? PUBLISH_UNIQUE : 0) | (p->replace ? 0 : PUBLISH_NO_REPLACE);

        if (strlen(p->message) > service->settings.max_message_size ||
            p->n_receivers > service->settings.max_receivers)
                return;
        if (p->expires_realtime != 0) {
                if (p->expires_realtime <= now)
                        return;
                timeout = p->expires_realtime - now;
        }
        /* Without a gate nothing comes from elsewhere; with one, unknown receivers are skipped. */
        (void) resolve_receivers(service, &request, NULL, &receivers, NULL);

        /* One by one: a full inbox here refuses it for that receiver only. */
        for (guint i = 0; i < receivers->len; i++) {
                Client *receiver = receivers->pdata[i];
                Inbox *inbox = receiver->inbox;
                bool delivered = false;
                size_t full_index;
                int r;

                r = message_store_publish(service->messages, p->message, p->sender_id, p->sender_name, &inbox, 1,
                                          timeout, flags, service->settings.max_inbox_length, &delivered,
                                          &full_index, &publication);
                if (r < 0 || r == MESSAGE_E_INBOX_FULL || r == MESSAGE_E_OVER_BUDGET) {
                        log_debug("A publication from %s was not delivered to %s (%d).", p->sender_id, receiver->id, r);
                        continue;
                }
                if (delivered && receiver->ops->message_published)
                        receiver->ops->message_published(receiver, publication);
        }
}

void service_inbox_foreach(Client *client, const char *message, InboxVisitor visit, void *userdata) {
        inbox_foreach(client->inbox, message, visit, userdata);
}

size_t service_inbox_remove(Client *client, const char *message, const char *const *senders, size_t n_senders) {
        return inbox_remove(client->inbox, message, senders, n_senders);
}

bool service_inbox_has(Client *client, const char *message) {
        return inbox_has(client->inbox, message);
}
