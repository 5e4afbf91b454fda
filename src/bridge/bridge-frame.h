/* The D-Bus byte stream a bridge peer sends, checked as it crosses the shuttle: the SASL lines up to
 * BEGIN, then each message's fixed header, so that no message over the size cap reaches sd-bus.
 * Pure: no I/O, no allocation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BRIDGE_DBUS_HEADER_SIZE 16
/* The D-Bus specification's own limits. */
#define BRIDGE_DBUS_ARRAY_MAX (UINT32_C(64) << 20)
#define BRIDGE_DBUS_MESSAGE_MAX (UINT64_C(128) << 20)
/* Bytes of SASL lines before BEGIN; sd-bus sends well under 200. */
#define BRIDGE_AUTH_BYTES_MAX 4096

typedef struct BridgeDBusHeader {
        bool big_endian;
        uint8_t type;           /* 1 call, 2 return, 3 error, 4 signal */
        uint8_t flags;
        uint32_t body_length;
        uint32_t serial;
        uint32_t fields_length;
        uint64_t total_size;    /* fixed header, header fields padded to 8, body */
} BridgeDBusHeader;

/* Parses the 16 bytes every D-Bus message starts with. Returns 0, or -EBADMSG when they cannot start
 * a valid message (endianness, type, version, zero serial, array or message over the spec's limits). */
int bridge_dbus_header_parse(const uint8_t header[BRIDGE_DBUS_HEADER_SIZE], BridgeDBusHeader *ret);

typedef enum BridgeFramePhase {
        BRIDGE_FRAME_NUL,       /* the single NUL byte a client sends first */
        BRIDGE_FRAME_AUTH,      /* SASL lines, until BEGIN */
        BRIDGE_FRAME_HEADER,    /* collecting a message's fixed header */
        BRIDGE_FRAME_BODY,      /* passing the rest of a message */
} BridgeFramePhase;

typedef struct BridgeFramer {
        uint64_t max_message_size;
        BridgeFramePhase phase;
        size_t auth_bytes;
        size_t line_length;
        char line[16];          /* the start of the current SASL line: enough for "BEGIN\r" and
                                 * "AUTH ANONYMOUS" */
        uint8_t previous;       /* the last SASL byte */
        uint8_t header[BRIDGE_DBUS_HEADER_SIZE];
        size_t header_length;
        uint64_t remaining;     /* bytes of the current message still to come */
        uint64_t n_messages;
} BridgeFramer;

void bridge_framer_init(BridgeFramer *f, uint64_t max_message_size);

/* Checks the next n bytes of the stream. Returns 0 when they may pass, -EBADMSG for a malformed
 * stream, -EMSGSIZE for a message over the cap or SASL lines over BRIDGE_AUTH_BYTES_MAX, -EACCES for
 * an AUTH with any mechanism but ANONYMOUS (the secret authenticated the peer; inside TLS it claims no
 * identity, and EXTERNAL would only name the daemon's own uid on the socketpair). After an error the
 * framer stays failed. */
int bridge_framer_feed(BridgeFramer *f, const uint8_t *data, size_t n);
