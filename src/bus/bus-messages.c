/* The message calls of org.pylocker.Locker: Publish and the inbox calls. */
#include <errno.h>
#include <string.h>

#include "bus-errors.h"
#include "bus-internal.h"
#include "bus-options.h"
#include "log.h"
#include "macro.h"
#include "sd-cleanup.h"

static const BusOption publish_options[] = {
        { "to_self", BUS_OPTION_BOOL, offsetof(PublishRequest, to_self) },
        { "unique",  BUS_OPTION_BOOL, offsetof(PublishRequest, unique) },
        { "replace", BUS_OPTION_BOOL, offsetof(PublishRequest, replace) },
};

int bus_method_publish(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        g_auto(ServiceError) e = SERVICE_ERROR_NULL;
        PublishRequest request = PUBLISH_REQUEST_INIT;
        BusLocker *locker = userdata;
        size_t max_receivers = locker->service->settings.max_receivers;
        g_autoptr(GPtrArray) receivers = NULL;
        bool too_many;
        const char *id;
        Client *sender;
        int r;

        r = sd_bus_message_read(message, "s", &request.message);
        if (r < 0)
                return r;
        if (strlen(request.message) > locker->service->settings.max_message_size)
                /* Before the rest is read. */
                return sd_bus_error_setf(error, PL_ERROR_LIMITS_EXCEEDED,
                                         "Message is longer than %zu bytes.", locker->service->settings.max_message_size);
        r = bus_read_strings(message, max_receivers, "receiver", &receivers, &too_many, error);
        if (r < 0)
                return r;
        if (too_many)
                return sd_bus_error_setf(error, PL_ERROR_LIMITS_EXCEEDED,
                                         "Too many receivers: at most %zu per message.", max_receivers);
        request.receivers = (const char *const *) receivers->pdata;
        request.n_receivers = receivers->len;
        r = sd_bus_message_read(message, "t", &request.timeout_usec);
        if (r < 0)
                return r;
        r = bus_options_read(message, publish_options, ELEMENTSOF(publish_options), &request, error);
        if (r < 0)
                return r;

        r = bus_locker_get_client(locker, message, &sender, error);
        if (r < 0)
                return r;

        r = service_publish(locker->service, sender, &request, &id, &e);
        if (r < 0)
                return service_error_is_set(&e) ? bus_error_from_service(error, &e) : r;
        return sd_bus_reply_method_return(message, "s", id);
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
static int reply_publications(sd_bus_message *message, BusLocker *locker, const char *text, bool pop,
                              sd_bus_error *error) {
        g_autoptr(sd_bus_message) reply = NULL;
        Client *client;
        int r;

        r = bus_locker_get_client(locker, message, &client, error);
        if (r < 0)
                return r;

        r = bus_new_array_reply(message, "(sssstt)", &reply);
        if (r < 0)
                return r;
        service_inbox_foreach(client, text, append_publication, reply);
        r = bus_send_array_reply(reply);
        if (r < 0)
                return r;
        /* Only once the answer is on its way: a failed Pop loses nothing. */
        if (pop)
                (void) service_inbox_remove(client, text, NULL, 0);
        return 1;
}

int bus_method_list_messages(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return reply_publications(message, userdata, NULL, /* pop= */ false, error);
}

static int read_text_and_reply(sd_bus_message *message, void *userdata, bool pop, sd_bus_error *error) {
        const char *text;
        int r;

        r = sd_bus_message_read(message, "s", &text);
        if (r < 0)
                return r;
        return reply_publications(message, userdata, text, pop, error);
}

int bus_method_get_message(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return read_text_and_reply(message, userdata, /* pop= */ false, error);
}

int bus_method_pop_message(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return read_text_and_reply(message, userdata, /* pop= */ true, error);
}

int bus_method_has_message(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        BusLocker *locker = userdata;
        const char *text;
        Client *client;
        int r;

        r = sd_bus_message_read(message, "s", &text);
        if (r < 0)
                return r;
        r = bus_locker_get_client(locker, message, &client, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, "b", (int) service_inbox_has(client, text));
}

int bus_method_remove_message(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        BusLocker *locker = userdata;
        size_t max_senders = locker->service->settings.max_receivers;
        g_autoptr(GPtrArray) senders = NULL;
        bool too_many;
        const char *text;
        Client *client;
        int r;

        r = sd_bus_message_read(message, "s", &text);
        if (r < 0)
                return r;
        r = bus_read_strings(message, max_senders, "sender", &senders, &too_many, error);
        if (r < 0)
                return r;
        if (too_many)
                return sd_bus_error_setf(error, PL_ERROR_LIMITS_EXCEEDED,
                                         "Too many senders: at most %zu per call.", max_senders);
        r = bus_locker_get_client(locker, message, &client, error);
        if (r < 0)
                return r;

        return sd_bus_reply_method_return(message, "u",
                                          (uint32_t) service_inbox_remove(client, text, (const char *const *) senders->pdata,
                                                                          senders->len));
}
