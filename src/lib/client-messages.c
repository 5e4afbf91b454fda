/* Messages: Publish (blocking and asynchronous), the inbox calls, and MessagePublished to the
 * locker's message callback, on the bus or the wire. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include <pylocker/pylocker-messages.h>

#include "bus-options.h"
#include "client-internal.h"
#include "client-wire.h"
#include "lib-util.h"
#include "macro.h"
#include "sd-cleanup.h"

#define KNOWN_PUBLISH_FLAGS (PYLOCKER_PUBLISH_NOT_TO_SELF | PYLOCKER_PUBLISH_UNIQUE | PYLOCKER_PUBLISH_NO_REPLACE)

typedef struct PublishOptions {
        uint64_t flags;         /* PYLOCKER_PUBLISH_* */
} PublishOptions;

/* The Publish options dictionary: only what differs from the daemon's defaults (the seed's) is sent. */
static const BusOption publish_options[] = {
        { "to_self", BUS_OPTION_FLAG, offsetof(PublishOptions, flags), PYLOCKER_PUBLISH_NOT_TO_SELF, .invert = true },
        { "unique",  BUS_OPTION_FLAG, offsetof(PublishOptions, flags), PYLOCKER_PUBLISH_UNIQUE },
        { "replace", BUS_OPTION_FLAG, offsetof(PublishOptions, flags), PYLOCKER_PUBLISH_NO_REPLACE, .invert = true },
};

static int check_message(const char *message, PylockerError *error) {
        if (!message)
                return pylocker_error_setf(error, -EINVAL, "No message given.");
        /* D-Bus strings are UTF-8: sd-bus would refuse it later with a less helpful word. */
        if (!g_utf8_validate(message, -1, NULL))
                return pylocker_error_setf(error, -EINVAL, "The message is not valid UTF-8.");
        return 0;
}

/* Receivers and senders: client ids or names, none empty. NULL is the empty list. */
static int check_names(const char *what, const char *const *names, PylockerError *error) {
        for (size_t i = 0; names && names[i]; i++) {
                if (!names[i][0])
                        return pylocker_error_setf(error, -EINVAL, "%s %zu is empty.", what, i);
                if (!g_utf8_validate(names[i], -1, NULL))
                        return pylocker_error_setf(error, -EINVAL, "%s %zu is not valid UTF-8.", what, i);
        }
        return 0;
}

static int append_names(sd_bus_message *m, const char *const *names) {
        static char *const empty[] = { NULL };

        return sd_bus_message_append_strv(m, names ? (char **) names : (char **) empty);
}

static int publish_check(const char *message, const char *const *receivers, unsigned flags, PylockerError *error) {
        int r;

        r = check_message(message, error);
        if (r < 0)
                return r;
        r = check_names("Receiver", receivers, error);
        if (r < 0)
                return r;
        if (flags & ~(unsigned) KNOWN_PUBLISH_FLAGS)
                return pylocker_error_setf(error, -EINVAL, "Unknown publish flags 0x%x.",
                                           flags & ~(unsigned) KNOWN_PUBLISH_FLAGS);
        return 0;
}

/* The daemon's 0 is "never", as is our PYLOCKER_INFINITY. */
static uint64_t publish_timeout(uint64_t timeout_usec) {
        return timeout_usec == PYLOCKER_INFINITY ? UINT64_C(0) : timeout_usec;
}

static int publish_message_new(PylockerLocker *l, const char *message, const char *const *receivers,
                               uint64_t timeout_usec, unsigned flags, sd_bus_message **ret, PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL;
        PublishOptions options = { .flags = flags };
        int r;

        r = locker_new_call(l, "Publish", &m, error);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", message);
        if (r >= 0)
                r = append_names(m, receivers);
        if (r >= 0)
                r = sd_bus_message_append(m, "t", publish_timeout(timeout_usec));
        if (r >= 0)
                r = bus_options_append(m, publish_options, ELEMENTSOF(publish_options), &options);
        if (r < 0)
                return pylocker_error_setf(error, r, "Publish: failed to build the call: %s", g_strerror(-r));

        *ret = g_steal_pointer(&m);
        return 0;
}

static size_t strv_length0(const char *const *strv) {
        size_t n = 0;

        while (strv && strv[n])
                n++;
        return n;
}

/* The PUBLISH frame: every flag explicit. The strings are borrowed until it is sent. */
static void publish_wire_message(const char *message, const char *const *receivers, uint64_t timeout_usec,
                                 unsigned flags, WireMessage *ret) {
        *ret = (WireMessage) {
                .header.type = WIRE_PUBLISH,
                .publish = {
                        .flags = (flags & PYLOCKER_PUBLISH_NOT_TO_SELF ? 0 : WIRE_PUBLISH_TO_SELF) |
                                 (flags & PYLOCKER_PUBLISH_UNIQUE ? WIRE_PUBLISH_UNIQUE : 0) |
                                 (flags & PYLOCKER_PUBLISH_NO_REPLACE ? 0 : WIRE_PUBLISH_REPLACE),
                        .timeout_usec = publish_timeout(timeout_usec),
                        .message = message,
                        .receivers = (const char **) receivers,
                        .n_receivers = strv_length0(receivers),
                },
        };
}

/* 1 with an id, or 0 and "" when nobody took it. */
static int publish_code(const char *id) {
        return id[0] ? 1 : 0;
}

static int publish_result(PylockerLocker *l, sd_bus_message *reply, const char **ret_id, PylockerError *error) {
        const char *id;
        int r;

        r = sd_bus_message_read(reply, "s", &id);
        if (r < 0)
                return locker_map_error(l, r, NULL, "Publish reply", error);
        *ret_id = id;
        return publish_code(id);
}

_public_ int pylocker_locker_publish(PylockerLocker *locker, const char *message, const char *const *receivers,
                                     uint64_t timeout_usec, unsigned flags, char **ret_publication_id,
                                     PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        const char *id = NULL;
        int r;

        pylocker_error_clear(error);
        if (!locker)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");
        r = publish_check(message, receivers, flags, error);
        if (r < 0)
                return r;

        if (locker->wire) {
                WireReply wire_reply;
                WireMessage wm;

                publish_wire_message(message, receivers, timeout_usec, flags, &wm);
                r = wire_call(locker, &wm, CALL_TIMEOUT_USEC, WIRE_PUBLISHED, &wire_reply, error);
                if (r < 0)
                        return r;
                id = wire_reply.message.published.publication_id;
                if (ret_publication_id)
                        *ret_publication_id = g_strdup(id);
                r = publish_code(id);
                wire_reply_done(locker, &wire_reply);
                return r;
        }

        r = publish_message_new(locker, message, receivers, timeout_usec, flags, &m, error);
        if (r < 0)
                return r;
        r = locker_call(locker, m, CALL_TIMEOUT_USEC, &reply, error);
        if (r < 0)
                return r;
        r = publish_result(locker, reply, &id, error);
        if (r < 0)
                return r;
        if (ret_publication_id)
                *ret_publication_id = g_strdup(id);
        return r;
}

static int on_publish_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PendingCall *p = userdata;
        PylockerLocker *l = pylocker_locker_ref(p->locker);
        PylockerError error = PYLOCKER_ERROR_INIT;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *id = NULL;
        int r;

        pending_call_detach(p);
        if (e)
                r = locker_map_error(l, -sd_bus_error_get_errno(e), e, "Publish", &error);
        else
                r = publish_result(l, reply, &id, &error);

        p->publish_callback(l, r, r < 0 ? NULL : id, r < 0 ? &error : NULL, p->userdata);
        pending_call_free(p);
        pylocker_locker_unref(l);
        return 0;
}

static void on_publish_wire_reply(PylockerLocker *l, PendingCall *p, const WireMessage *m, int fd) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        const char *id = NULL;
        int r;

        pylocker_locker_ref(l);
        if (fd >= 0)
                (void) close(fd);
        if (m->header.type == WIRE_PUBLISHED) {
                id = m->published.publication_id;
                r = publish_code(id);
        } else if (m->header.type == WIRE_ERROR)
                r = wire_map_error(l, &m->error, "Publish", &error);
        else
                r = pylocker_error_setf(&error, -EBADMSG, "Publish: unexpected reply %s.",
                                        wire_type_to_string(m->header.type));

        p->publish_callback(l, r, r < 0 ? NULL : id, r < 0 ? &error : NULL, p->userdata);
        pending_call_free(p);
        pylocker_locker_unref(l);
}

_public_ int pylocker_locker_publish_async(PylockerLocker *locker, const char *message,
                                           const char *const *receivers, uint64_t timeout_usec, unsigned flags,
                                           PylockerPublishFunc callback, void *userdata, PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL;
        PendingCall *p;
        int r;

        pylocker_error_clear(error);
        if (!locker || !callback)
                return pylocker_error_setf(error, -EINVAL, "No locker or no callback given.");
        r = publish_check(message, receivers, flags, error);
        if (r < 0)
                return r;
        if (!locker->wire) {
                r = publish_message_new(locker, message, receivers, timeout_usec, flags, &m, error);
                if (r < 0)
                        return r;
        }

        p = g_new0(PendingCall, 1);
        p->publish_callback = callback;
        p->userdata = userdata;
        if (locker->wire) {
                WireMessage wm;

                publish_wire_message(message, receivers, timeout_usec, flags, &wm);
                p->wire_reply = on_publish_wire_reply;
                return wire_send(locker, &wm, p, CALL_TIMEOUT_USEC, error);
        }
        return pending_call_send(locker, m, CALL_TIMEOUT_USEC, p, on_publish_reply, error);
}

_public_ int pylocker_locker_set_message_callback(PylockerLocker *locker, PylockerMessageFunc callback,
                                                  void *userdata) {
        if (!locker)
                return -EINVAL;
        locker->message_callback = callback;
        locker->message_userdata = userdata;
        return 0;
}

void locker_deliver_message(PylockerLocker *l, const char *publication_id, const char *sender, const char *message,
                            uint64_t expires_usec) {
        PylockerPublication publication = {
                .message = (char *) message,
                .publication_id = (char *) publication_id,
                .sender_id = (char *) sender,
                .sender_name = (char *) "",
                .expires_usec = expires_usec,
        };

        if (!l->message_callback)
                return;
        /* The callback may drop the caller's last reference. */
        pylocker_locker_ref(l);
        l->message_callback(l, &publication, l->message_userdata);
        pylocker_locker_unref(l);
}

void locker_on_message_published(PylockerLocker *l, sd_bus_message *m) {
        const char *id, *sender, *message;
        uint64_t expires;

        if (!l->message_callback)
                return;
        /* A malformed signal is not the daemon's: ignored. */
        if (sd_bus_message_read(m, "ssst", &id, &sender, &message, &expires) < 0)
                return;
        locker_deliver_message(l, id, sender, message, expires);
}

static void publication_clear(PylockerPublication *p) {
        g_free(p->message);
        g_free(p->publication_id);
        g_free(p->sender_id);
        g_free(p->sender_name);
}

_public_ void pylocker_publication_array_free(PylockerPublication *publications, size_t n) {
        if (!publications)
                return;
        for (size_t i = 0; i < n; i++)
                publication_clear(&publications[i]);
        g_free(publications);
}

_public_ void pylocker_string_free(char *s) {
        g_free(s);
}

_public_ void pylocker_string_freep(char **p) {
        if (p)
                g_clear_pointer(p, g_free);
}

static void publication_append(GArray *publications, const char *message, const char *id, const char *sender,
                               const char *sender_name, uint64_t published, uint64_t expires) {
        PylockerPublication p = {
                .message = g_strdup(message),
                .publication_id = g_strdup(id),
                .sender_id = g_strdup(sender),
                .sender_name = g_strdup(sender_name),
                .published_usec = published,
                .expires_usec = expires,
        };

        g_array_append_val(publications, p);
}

static int read_publications(sd_bus_message *reply, GArray *publications) {
        const char *message, *id, *sender, *sender_name;
        uint64_t published, expires;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(sssstt)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "(sssstt)", &message, &id, &sender, &sender_name, &published,
                                        &expires)) > 0)
                publication_append(publications, message, id, sender, sender_name, published, expires);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

/* The count, and the array (NULL when empty) in *ret. */
static int publications_return(GArray *publications, PylockerPublication **ret, size_t *ret_n) {
        size_t n = publications->len;

        *ret_n = n;
        *ret = (PylockerPublication *) (void *) g_array_free(publications, n == 0);
        /* The daemon's inbox is far shorter; a count that does not fit is still not an error. */
        return (int) MIN(n, (size_t) INT_MAX);
}

static int call_publications_wire(PylockerLocker *locker, uint16_t type, const char *message,
                                  PylockerPublication **ret, size_t *ret_n, PylockerError *error) {
        WireMessage m = { .header.type = type, .message_ref.message = message };
        GArray *publications;
        WireReply reply;
        int r;

        r = wire_call(locker, &m, CALL_TIMEOUT_USEC, WIRE_PUBLICATIONS, &reply, error);
        if (r < 0)
                return r;
        publications = g_array_sized_new(FALSE, TRUE, sizeof(PylockerPublication),
                                         (guint) reply.message.publications.n_items);
        for (size_t i = 0; i < reply.message.publications.n_items; i++) {
                const WirePublication *p = &reply.message.publications.items[i];

                publication_append(publications, p->message, p->publication_id, p->sender, p->sender_name,
                                   p->published_usec, p->expires_usec);
        }
        wire_reply_done(locker, &reply);
        return publications_return(publications, ret, ret_n);
}

/* ListMessages (message NULL), GetMessage or PopMessage. */
static int call_publications(PylockerLocker *locker, const char *member, const char *message,
                             PylockerPublication **ret, size_t *ret_n, PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        GArray *publications;
        size_t n;
        int r;

        pylocker_error_clear(error);
        if (!locker || !ret || !ret_n)
                return pylocker_error_setf(error, -EINVAL, "No locker or no place for the publications given.");
        if (strcmp(member, "ListMessages") != 0) {
                r = check_message(message, error);
                if (r < 0)
                        return r;
        }

        if (locker->wire)
                return call_publications_wire(locker,
                                              strcmp(member, "ListMessages") == 0 ? WIRE_LIST_MESSAGES :
                                              strcmp(member, "GetMessage") == 0 ? WIRE_GET_MESSAGE : WIRE_POP_MESSAGE,
                                              message, ret, ret_n, error);

        r = locker_new_call(locker, member, &m, error);
        if (r < 0)
                return r;
        if (message) {
                r = sd_bus_message_append(m, "s", message);
                if (r < 0)
                        return pylocker_error_setf(error, r, "%s: failed to build the call: %s", member,
                                                   g_strerror(-r));
        }
        r = locker_call(locker, m, CALL_TIMEOUT_USEC, &reply, error);
        if (r < 0)
                return r;

        publications = g_array_new(FALSE, TRUE, sizeof(PylockerPublication));
        r = read_publications(reply, publications);
        n = publications->len;
        if (r < 0) {
                pylocker_publication_array_free((PylockerPublication *) (void *) g_array_free(publications, FALSE),
                                                n);
                return locker_map_error(locker, r, NULL, member, error);
        }
        return publications_return(publications, ret, ret_n);
}

_public_ int pylocker_locker_list_messages(PylockerLocker *locker, PylockerPublication **ret, size_t *ret_n,
                                           PylockerError *error) {
        return call_publications(locker, "ListMessages", NULL, ret, ret_n, error);
}

_public_ int pylocker_locker_get_message(PylockerLocker *locker, const char *message, PylockerPublication **ret,
                                         size_t *ret_n, PylockerError *error) {
        return call_publications(locker, "GetMessage", message, ret, ret_n, error);
}

_public_ int pylocker_locker_pop_message(PylockerLocker *locker, const char *message, PylockerPublication **ret,
                                         size_t *ret_n, PylockerError *error) {
        return call_publications(locker, "PopMessage", message, ret, ret_n, error);
}

/* HAS_MESSAGE or REMOVE_MESSAGE: their VALUE. */
static int call_value_wire(PylockerLocker *locker, WireMessage *m, uint64_t *ret, PylockerError *error) {
        WireReply reply;
        int r;

        r = wire_call(locker, m, CALL_TIMEOUT_USEC, WIRE_VALUE, &reply, error);
        if (r < 0)
                return r;
        *ret = reply.message.value.value;
        wire_reply_done(locker, &reply);
        return 0;
}

_public_ int pylocker_locker_has_message(PylockerLocker *locker, const char *message, PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        int r, exists;

        pylocker_error_clear(error);
        if (!locker)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");
        r = check_message(message, error);
        if (r < 0)
                return r;

        if (locker->wire) {
                WireMessage wm = { .header.type = WIRE_HAS_MESSAGE, .message_ref.message = message };
                uint64_t value;

                r = call_value_wire(locker, &wm, &value, error);
                return r < 0 ? r : value ? 1 : 0;
        }

        r = locker_new_call(locker, "HasMessage", &m, error);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", message);
        if (r < 0)
                return pylocker_error_setf(error, r, "HasMessage: failed to build the call: %s", g_strerror(-r));
        r = locker_call(locker, m, CALL_TIMEOUT_USEC, &reply, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "b", &exists);
        if (r < 0)
                return locker_map_error(locker, r, NULL, "HasMessage reply", error);
        return exists ? 1 : 0;
}

_public_ int pylocker_locker_remove_message(PylockerLocker *locker, const char *message,
                                            const char *const *senders, PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        uint32_t removed;
        int r;

        pylocker_error_clear(error);
        if (!locker)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");
        r = check_message(message, error);
        if (r < 0)
                return r;
        r = check_names("Sender", senders, error);
        if (r < 0)
                return r;

        if (locker->wire) {
                WireMessage wm = {
                        .header.type = WIRE_REMOVE_MESSAGE,
                        .remove_message = {
                                .message = message,
                                .senders = (const char **) senders,
                                .n_senders = strv_length0(senders),
                        },
                };
                uint64_t value;

                r = call_value_wire(locker, &wm, &value, error);
                return r < 0 ? r : (int) MIN(value, (uint64_t) INT_MAX);
        }

        r = locker_new_call(locker, "RemoveMessage", &m, error);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", message);
        if (r >= 0)
                r = append_names(m, senders);
        if (r < 0)
                return pylocker_error_setf(error, r, "RemoveMessage: failed to build the call: %s", g_strerror(-r));
        r = locker_call(locker, m, CALL_TIMEOUT_USEC, &reply, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "u", &removed);
        if (r < 0)
                return locker_map_error(locker, r, NULL, "RemoveMessage reply", error);
        return (int) MIN(removed, (uint32_t) INT_MAX);
}
