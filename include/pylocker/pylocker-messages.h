/* Messages through pylockerd: the seed's publish_message, messages, get_message, pop_message,
 * has_message and remove_published_message, and a callback for each publication received.
 *
 * Every client of pylockerd has an inbox there. pylocker_locker_publish() puts a message into the
 * inboxes of its receivers (client ids or friendly names; none: every client), and each receiver that
 * takes it gets the daemon's MessagePublished signal, which the library hands to the locker's message
 * callback. The inbox keeps the publication until it is popped, removed or expires; an inbox that is
 * full (the daemon's MaxInboxLength) makes publications to it fail, so a locker that only listens should
 * pop or remove what it has seen. A locker is a client from its open on (it registers there), so it
 * receives broadcasts whether or not it ever calls anything else.
 *
 * Errors are those of pylocker-client.h, and:
 *   -ENOENT   a receiver is no client (NotFound; the message names it); nothing was published
 *   -EEXIST   every receiver already held the message (AlreadyExists, with PYLOCKER_PUBLISH_UNIQUE)
 *   -EDQUOT   a limit of the daemon (LimitsExceeded: message size, a full inbox, publications per
 *             second); nothing was published
 * The seed's failure codes 1 (connection lost) and 2 (not connected) are -ECONNRESET and -ENOTCONN,
 * which pylocker_acquire_code() turns into PYLOCKER_ACQUIRE_CONNECTION_LOST and _NOT_CONNECTED. */
#ifndef PYLOCKER_MESSAGES_H
#define PYLOCKER_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#include <pylocker/pylocker-client.h>
#include <pylocker/pylocker-error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Flags of a publication; 0 gives the seed's defaults (toSelf=True, unique=False, replace=True). */
enum {
        PYLOCKER_PUBLISH_NOT_TO_SELF = 1 << 0,  /* never to this locker, even when named (toSelf=False);
                                                 * without it, to this locker too, named or not */
        PYLOCKER_PUBLISH_UNIQUE = 1 << 1,       /* a receiver whose inbox holds the same message refuses
                                                 * it (unique=True) */
        PYLOCKER_PUBLISH_NO_REPLACE = 1 << 2    /* keep the message's earlier publications in each inbox
                                                 * beside the new one (replace=False) */
};

/* One publication in an inbox. Times are CLOCK_REALTIME microseconds. */
typedef struct PylockerPublication {
        char *message;
        char *publication_id;   /* 32 hex digits */
        char *sender_id;        /* the sender's client id */
        char *sender_name;      /* its friendly name; "" when it set none, and always "" in
                                 * PylockerMessageFunc (the signal does not carry it) */
        uint64_t published_usec;        /* 0 in PylockerMessageFunc (the signal does not carry it) */
        uint64_t expires_usec;          /* 0: never */
        uint64_t flags;                 /* none defined yet: 0 */
        uint64_t reserved[8];           /* zero */
} PylockerPublication;

/* Result of pylocker_locker_publish_async(): r as pylocker_locker_publish() returns it; publication_id
 * is the id when r is 1, "" when r is 0, NULL on error. Both pointers are only valid during the call. */
typedef void (*PylockerPublishFunc)(PylockerLocker *locker, int r, const char *publication_id,
                                    const PylockerError *error, void *userdata);

/* Called for each publication this locker receives (the daemon's MessagePublished, believed only from
 * the daemon: on a bus, from the unique name it answered Register with). publication and its strings
 * are only valid during the call. */
typedef void (*PylockerMessageFunc)(PylockerLocker *locker, const PylockerPublication *publication,
                                    void *userdata);

/* Publishes message to receivers (a NULL-terminated list of client ids or friendly names; NULL or
 * empty: every client), for timeout_usec (0 or PYLOCKER_INFINITY: until taken out of the inbox), with
 * PYLOCKER_PUBLISH_* flags. Blocks until the daemon answers. Returns 1 and the publication id in
 * *ret_publication_id when at least one receiver took it (others may have refused it, with
 * PYLOCKER_PUBLISH_UNIQUE); 0 and "" when there was nobody to deliver to (a broadcast with
 * PYLOCKER_PUBLISH_NOT_TO_SELF and no other client); or a negative errno (see above), leaving
 * *ret_publication_id alone. ret_publication_id may be NULL; else free it with pylocker_string_free(). */
int pylocker_locker_publish(PylockerLocker *locker, const char *message, const char *const *receivers,
                            uint64_t timeout_usec, unsigned flags, char **ret_publication_id,
                            PylockerError *error);

/* The same, without blocking: callback runs once, from the locker's event processing, with the result
 * (or with -ECANCELED when the locker is closed first, -ECONNRESET when the connection is lost).
 * Returns 0 when the request is sent, or a negative errno (and callback never runs). */
int pylocker_locker_publish_async(PylockerLocker *locker, const char *message, const char *const *receivers,
                                  uint64_t timeout_usec, unsigned flags, PylockerPublishFunc callback,
                                  void *userdata, PylockerError *error);

/* Sets (or with NULL, clears) the callback for received publications. It runs from the locker's event
 * processing (pylocker_locker_process(), or the sd-event or GLib loop the locker is attached to),
 * never from within a blocking call, once per publication taken into this locker's inbox, in the
 * order they were published. It may call the locker, blocking calls included, and drop its
 * references. Publications that arrive while no callback is set are only in the inbox. */
int pylocker_locker_set_message_callback(PylockerLocker *locker, PylockerMessageFunc callback, void *userdata);

/* The seed's messages: this locker's whole inbox, oldest first. Returns the number of publications
 * (also in *ret_n) and *ret, an array to free with pylocker_publication_array_free() (NULL when
 * empty), or a negative errno. */
int pylocker_locker_list_messages(PylockerLocker *locker, PylockerPublication **ret, size_t *ret_n,
                                  PylockerError *error);

/* The publications of message in the inbox (several when published with PYLOCKER_PUBLISH_NO_REPLACE),
 * as pylocker_locker_list_messages() returns them; 0 and NULL when there are none. */
int pylocker_locker_get_message(PylockerLocker *locker, const char *message, PylockerPublication **ret,
                                size_t *ret_n, PylockerError *error);
/* The same, and they leave the inbox. */
int pylocker_locker_pop_message(PylockerLocker *locker, const char *message, PylockerPublication **ret,
                                size_t *ret_n, PylockerError *error);

/* 1 when the inbox holds message, 0 when not, or a negative errno. */
int pylocker_locker_has_message(PylockerLocker *locker, const char *message, PylockerError *error);

/* Removes message's publications from the inbox: all of them when senders is NULL or empty, else only
 * those from the senders listed (NULL-terminated client ids or friendly names). Returns how many were
 * removed, or a negative errno. */
int pylocker_locker_remove_message(PylockerLocker *locker, const char *message, const char *const *senders,
                                   PylockerError *error);

void pylocker_publication_array_free(PylockerPublication *publications, size_t n);
/* Frees a string the library returned. NULL is fine. */
void pylocker_string_free(char *s);
/* For cleanup by scope (pylocker-cleanup.h): frees *p and sets it to NULL. */
void pylocker_string_freep(char **p);

#ifdef PYLOCKER_CLEANUP
#define PYLOCKER_CLEANUP_STRING PYLOCKER_CLEANUP(pylocker_string_freep)
#endif

#ifdef __cplusplus
}
#endif

#endif
