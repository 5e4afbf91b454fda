/* The lean wire protocol of the direct socket and the bridge (docs/wire.md): frame header, message
 * bodies, their encoder and their checking decoder. Pure: no I/O; decoded strings point into the
 * frame's bytes, only string arrays are allocated. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC "PLKW"
#define WIRE_PREAMBLE_SIZE 8
#define WIRE_VERSION 1
#define WIRE_HEADER_SIZE 12
/* The largest body either side ever accepts; a server may announce less in WELCOME. */
#define WIRE_FRAME_MAX (UINT32_C(1) << 20)
#define WIRE_LOCK_ID_SIZE 16

/* Header flags. */
#define WIRE_FLAG_NO_REPLY      (UINT16_C(1) << 0)
#define _WIRE_FLAGS_KNOWN       WIRE_FLAG_NO_REPLY

/* ACQUIRE flags. */
#define WIRE_ACQUIRE_SHARED             (UINT64_C(1) << 0)
#define WIRE_ACQUIRE_NONBLOCKING        (UINT64_C(1) << 1)
#define WIRE_ACQUIRE_NO_DEADLOCK_CHECK  (UINT64_C(1) << 2)
#define WIRE_ACQUIRE_HANDLE             (UINT64_C(1) << 3)
#define _WIRE_ACQUIRE_KNOWN             (UINT64_C(0xf))

/* PUBLISH flags: every bit explicit, the D-Bus defaults are TO_SELF | REPLACE. */
#define WIRE_PUBLISH_TO_SELF    (UINT64_C(1) << 0)
#define WIRE_PUBLISH_UNIQUE     (UINT64_C(1) << 1)
#define WIRE_PUBLISH_REPLACE    (UINT64_C(1) << 2)
#define _WIRE_PUBLISH_KNOWN     (UINT64_C(0x7))

/* LOCK_LOST reasons. */
#define WIRE_LOST_EXPIRED         1
#define WIRE_LOST_FORCE_RELEASED  2
#define WIRE_LOST_HANDLE_CLOSED   3

typedef enum WireType {
        /* requests, client → server */
        WIRE_HELLO               = 0x01,
        WIRE_SET_NAME            = 0x02,
        WIRE_ACQUIRE             = 0x03,
        WIRE_RELEASE             = 0x04,
        WIRE_REFRESH             = 0x05,
        WIRE_PUBLISH             = 0x06,
        WIRE_LIST_MESSAGES       = 0x07,
        WIRE_GET_MESSAGE         = 0x08,
        WIRE_POP_MESSAGE         = 0x09,
        WIRE_HAS_MESSAGE         = 0x0a,
        WIRE_REMOVE_MESSAGE      = 0x0b,
        WIRE_LIST_LOCKS          = 0x0c,
        WIRE_LIST_CLIENTS        = 0x0d,
        WIRE_GET_STATUS          = 0x0e,
        WIRE_FORCE_RELEASE       = 0x0f,
        WIRE_SET_MAX_LOCK_TIME   = 0x10,
        WIRE_SET_DEFAULT_TIMEOUT = 0x11,
        WIRE_PING                = 0x12,
        WIRE_GET_STATS           = 0x13,
        _WIRE_REQUEST_LAST       = WIRE_GET_STATS,
        /* replies, server → client, with the request's serial */
        WIRE_OK                  = 0x40,
        WIRE_WELCOME             = 0x41,
        WIRE_ACQUIRED            = 0x42,
        WIRE_VALUE               = 0x43,
        WIRE_PUBLISHED           = 0x44,
        WIRE_PUBLICATIONS        = 0x45,
        WIRE_LOCKS               = 0x46,
        WIRE_CLIENTS             = 0x47,
        WIRE_STATUS              = 0x48,
        WIRE_STATS               = 0x49,
        WIRE_ERROR               = 0x7f,
        /* events, server → client, serial 0 */
        WIRE_LOCK_LOST           = 0x80,
        WIRE_MESSAGE_PUBLISHED   = 0x81,
} WireType;

static inline bool wire_type_is_request(uint16_t type) {
        return type >= WIRE_HELLO && type <= _WIRE_REQUEST_LAST;
}
const char *wire_type_to_string(uint16_t type);

typedef struct WireHeader {
        uint32_t size;          /* body bytes after the header */
        uint16_t type;
        uint16_t flags;
        uint32_t serial;        /* a request's id, echoed by its reply; 0 on events */
} WireHeader;

/* "PLKW", lowest and highest version the client speaks (u16 LE each). */
void wire_preamble_write(uint8_t ret[WIRE_PREAMBLE_SIZE]);
/* Returns the version both speak (WIRE_VERSION), -EBADMSG when the magic is wrong,
 * -EPROTONOSUPPORT when the range leaves out WIRE_VERSION. */
int wire_preamble_parse(const uint8_t preamble[WIRE_PREAMBLE_SIZE]);

/* Returns 0, -EBADMSG (unknown flag bits), -EMSGSIZE (size over max_size). The type is not
 * checked here: an unknown request in a good frame gets an error reply, not a closed connection. */
int wire_header_parse(const uint8_t data[WIRE_HEADER_SIZE], uint32_t max_size, WireHeader *ret);

/* ---- bodies ---- */

typedef struct WireHello {
        uint64_t flags;                 /* none defined: 0 */
        const char *name;               /* "" for none */
} WireHello;

typedef struct WireWelcome {
        uint16_t version;
        const char *client_id;
        const char *server_version;
        uint64_t max_lock_usec;
        uint64_t default_timeout_usec;
        uint32_t max_frame_size;
        uint32_t max_in_flight;
        uint32_t max_paths;
} WireWelcome;

typedef struct WireAcquire {
        uint64_t flags;                 /* WIRE_ACQUIRE_* */
        uint64_t timeout_usec;          /* 0: the server's default */
        uint64_t ttl_usec;              /* 0: MaxLockTime */
        const char **paths;
        size_t n_paths;
} WireAcquire;

typedef struct WireAcquired {
        uint8_t lock_id[WIRE_LOCK_ID_SIZE];
        uint64_t token;
        uint64_t expires_usec;          /* CLOCK_REALTIME */
} WireAcquired;

typedef struct WireLockRef {            /* RELEASE, FORCE_RELEASE */
        uint8_t lock_id[WIRE_LOCK_ID_SIZE];
} WireLockRef;

typedef struct WireRefresh {
        uint8_t lock_id[WIRE_LOCK_ID_SIZE];
        uint64_t ttl_usec;
} WireRefresh;

typedef struct WirePublish {
        uint64_t flags;                 /* WIRE_PUBLISH_* */
        uint64_t timeout_usec;          /* 0: never expires */
        const char *message;
        const char **receivers;         /* none: every client */
        size_t n_receivers;
} WirePublish;

typedef struct WireMessageRef {         /* GET_MESSAGE, POP_MESSAGE, HAS_MESSAGE */
        const char *message;
} WireMessageRef;

typedef struct WireRemoveMessage {
        const char *message;
        const char **senders;           /* none: from anyone */
        size_t n_senders;
} WireRemoveMessage;

typedef struct WireUsec {               /* SET_MAX_LOCK_TIME, SET_DEFAULT_TIMEOUT */
        uint64_t usec;
} WireUsec;

typedef struct WireValue {              /* Release/ForceRelease code, HasMessage, RemoveMessage count,
                                         * Refresh's new expiry */
        uint64_t value;
} WireValue;

typedef struct WirePublished {
        const char *publication_id;     /* "" when nobody took it */
} WirePublished;

typedef struct WirePublication {
        const char *message;
        const char *publication_id;
        const char *sender;
        const char *sender_name;
        uint64_t published_usec;
        uint64_t expires_usec;          /* 0: never */
} WirePublication;

typedef struct WirePublications {
        WirePublication *items;
        size_t n_items;
} WirePublications;

typedef struct WireLockInfo {
        uint8_t lock_id[WIRE_LOCK_ID_SIZE];
        const char **paths;
        size_t n_paths;
        const char *owner;
        const char *owner_name;
        uint64_t token;
        bool shared;
        uint64_t acquired_usec;
        uint64_t expires_usec;
} WireLockInfo;

typedef struct WireLocks {
        WireLockInfo *items;
        size_t n_items;
} WireLocks;

typedef struct WireClientInfo {
        const char *id;
        const char *name;
        uint32_t uid;
        uint32_t pid;
        const char *transport;
} WireClientInfo;

typedef struct WireClients {
        WireClientInfo *items;
        size_t n_items;
} WireClients;

typedef struct WireStatus {
        const char *version;
        uint64_t max_lock_usec;
        uint64_t default_timeout_usec;
        uint32_t lock_count;
        uint32_t waiter_count;
        uint32_t client_count;
} WireStatus;

typedef struct WireStatsValue {
        const char *name;               /* GetStatistics' key: "grants", ... */
        uint64_t value;
} WireStatsValue;

typedef struct WireStatsHistogram {
        const char *name;               /* "wait_time_usec", "hold_time_usec" */
        uint64_t count;
        uint64_t sum_usec;
        const uint64_t *buckets;        /* decoded: allocated with the message */
        size_t n_buckets;
} WireStatsHistogram;

typedef struct WireStatsPath {
        const char *path;
        uint64_t waits;
} WireStatsPath;

typedef struct WireStats {              /* GetStatistics' a{sv}, by the type of its values */
        WireStatsValue *values;
        size_t n_values;
        WireStatsHistogram *histograms;
        size_t n_histograms;
        WireStatsPath *contended;       /* the most waited-for first */
        size_t n_contended;
} WireStats;

typedef struct WireError {
        const char *name;               /* a D-Bus error name of org.pylocker.Locker (bus-errors.h) or
                                         * org.freedesktop.DBus.Error.* */
        const char *message;
} WireError;

typedef struct WireLockLost {
        uint8_t lock_id[WIRE_LOCK_ID_SIZE];
        uint32_t reason;                /* WIRE_LOST_* */
} WireLockLost;

typedef struct WireMessagePublished {
        const char *publication_id;
        const char *sender;
        const char *message;
        uint64_t expires_usec;
} WireMessagePublished;

/* One frame, decoded or to encode. The member of the union is the one of header.type; types with an
 * empty body (LIST_*, GET_STATUS, PING, GET_STATS, OK) use none. */
typedef struct WireMessage {
        WireHeader header;
        union {
                WireHello hello;                /* HELLO, SET_NAME (flags 0) */
                WireWelcome welcome;
                WireAcquire acquire;
                WireAcquired acquired;
                WireLockRef lock_ref;
                WireRefresh refresh;
                WirePublish publish;
                WireMessageRef message_ref;
                WireRemoveMessage remove_message;
                WireUsec usec;
                WireValue value;
                WirePublished published;
                WirePublications publications;
                WireLocks locks;
                WireClients clients;
                WireStatus status;
                WireStats stats;
                WireError error;
                WireLockLost lock_lost;
                WireMessagePublished message_published;
        };
        void *allocated;                /* what decoding allocated; freed by wire_message_clear() */
        bool allocated_list;            /* allocated is a GPtrArray of blocks, not one block */
} WireMessage;

/* Decodes a body of header->size bytes. Strings point into body (which must stay); arrays are
 * allocated, at most in proportion to the body's size. Returns 0; -EOPNOTSUPP for an unknown type;
 * -EBADMSG for a body that is truncated or has bad contents (a string not followed by its zero
 * byte, with a zero byte or invalid UTF-8 inside, a bool not 0/1, a count larger than the body could
 * hold, unknown flag bits); bytes after the last field are ignored. On error *ret holds nothing to
 * free. */
int wire_message_decode(const WireHeader *header, const uint8_t *body, WireMessage *ret);
void wire_message_clear(WireMessage *m);

/* ---- buffers and encoding ---- */

/* A byte queue: appended at end, consumed from start. */
typedef struct WireBuffer {
        uint8_t *data;
        size_t start;
        size_t end;
        size_t allocated;
} WireBuffer;

static inline size_t wire_buffer_length(const WireBuffer *b) {
        return b->end - b->start;
}
static inline const uint8_t *wire_buffer_peek(const WireBuffer *b) {
        return b->data + b->start;
}
/* Room for n more bytes at data + end (moving the content to the front or growing); returns it. */
uint8_t *wire_buffer_reserve(WireBuffer *b, size_t n);
void wire_buffer_consume(WireBuffer *b, size_t n);
void wire_buffer_done(WireBuffer *b);

/* Appends one frame of m (header.type, .flags, .serial; size is computed). Returns 0, or -EMSGSIZE
 * when the body would exceed max_size (nothing appended), -EINVAL for a request string that is not
 * UTF-8 (or a NULL in a list). */
int wire_message_encode(WireBuffer *b, const WireMessage *m, uint32_t max_size);
