/* The D-Bus byte stream a bridge peer sends, checked as it crosses the shuttle. */
#include <errno.h>
#include <string.h>

#include "bridge-frame.h"

static uint32_t read_u32(const uint8_t *p, bool big_endian) {
        if (big_endian)
                return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
        return (uint32_t) p[3] << 24 | (uint32_t) p[2] << 16 | (uint32_t) p[1] << 8 | p[0];
}

int bridge_dbus_header_parse(const uint8_t header[BRIDGE_DBUS_HEADER_SIZE], BridgeDBusHeader *ret) {
        BridgeDBusHeader h = {};
        uint64_t fields_padded;

        if (header[0] == 'B')
                h.big_endian = true;
        else if (header[0] != 'l')
                return -EBADMSG;
        h.type = header[1];
        if (h.type < 1 || h.type > 4)
                return -EBADMSG;
        h.flags = header[2];
        if (header[3] != 1)
                return -EBADMSG;
        h.body_length = read_u32(header + 4, h.big_endian);
        h.serial = read_u32(header + 8, h.big_endian);
        h.fields_length = read_u32(header + 12, h.big_endian);
        if (h.serial == 0 || h.fields_length > BRIDGE_DBUS_ARRAY_MAX)
                return -EBADMSG;

        fields_padded = ((uint64_t) h.fields_length + 7) & ~UINT64_C(7);
        h.total_size = BRIDGE_DBUS_HEADER_SIZE + fields_padded + h.body_length;
        if (h.total_size > BRIDGE_DBUS_MESSAGE_MAX)
                return -EBADMSG;

        *ret = h;
        return 0;
}

void bridge_framer_init(BridgeFramer *f, uint64_t max_message_size) {
        *f = (BridgeFramer) {
                .max_message_size = max_message_size,
                .phase = BRIDGE_FRAME_NUL,
        };
}

#define FRAMER_FAILED ((BridgeFramePhase) -1)

static int framer_fail(BridgeFramer *f, int r) {
        f->phase = FRAMER_FAILED;
        return r;
}

/* One byte of the SASL exchange: printable ASCII lines ending in CRLF. */
static int framer_auth_byte(BridgeFramer *f, uint8_t c) {
        uint8_t previous = f->previous;

        if (++f->auth_bytes > BRIDGE_AUTH_BYTES_MAX)
                return framer_fail(f, -EMSGSIZE);

        f->previous = c;
        if (c == '\n') {
                if (previous != '\r')
                        return framer_fail(f, -EBADMSG);
                if (f->line_length == 6 && memcmp(f->line, "BEGIN\r", 6) == 0) {
                        f->phase = BRIDGE_FRAME_HEADER;
                        f->header_length = 0;
                }
                /* "AUTH" alone asks which mechanisms there are: harmless. */
                if (f->line_length > 5 && memcmp(f->line, "AUTH ", 5) == 0 &&
                    !(f->line_length >= 15 && memcmp(f->line, "AUTH ANONYMOUS", 14) == 0 &&
                      (f->line[14] == ' ' || f->line[14] == '\r')))
                        return framer_fail(f, -EACCES);
                f->line_length = 0;
                return 0;
        }
        /* A CR only ever ends a line. */
        if (previous == '\r')
                return framer_fail(f, -EBADMSG);
        if (c != '\r' && (c < 0x20 || c > 0x7e))
                return framer_fail(f, -EBADMSG);
        if (f->line_length < sizeof(f->line))
                f->line[f->line_length] = (char) c;
        f->line_length++;
        return 0;
}

int bridge_framer_feed(BridgeFramer *f, const uint8_t *data, size_t n) {
        size_t i = 0;
        int r;

        while (i < n)
                switch (f->phase) {
                case BRIDGE_FRAME_NUL:
                        if (data[i++] != 0)
                                return framer_fail(f, -EBADMSG);
                        f->phase = BRIDGE_FRAME_AUTH;
                        break;

                case BRIDGE_FRAME_AUTH:
                        r = framer_auth_byte(f, data[i++]);
                        if (r < 0)
                                return r;
                        break;

                case BRIDGE_FRAME_HEADER: {
                        size_t take = BRIDGE_DBUS_HEADER_SIZE - f->header_length;
                        BridgeDBusHeader h;

                        if (take > n - i)
                                take = n - i;
                        memcpy(f->header + f->header_length, data + i, take);
                        f->header_length += take;
                        i += take;
                        if (f->header_length < BRIDGE_DBUS_HEADER_SIZE)
                                break;

                        r = bridge_dbus_header_parse(f->header, &h);
                        if (r < 0)
                                return framer_fail(f, r);
                        if (h.total_size > f->max_message_size)
                                return framer_fail(f, -EMSGSIZE);
                        f->remaining = h.total_size - BRIDGE_DBUS_HEADER_SIZE;
                        f->n_messages++;
                        f->phase = f->remaining > 0 ? BRIDGE_FRAME_BODY : BRIDGE_FRAME_HEADER;
                        f->header_length = 0;
                        break;
                }

                case BRIDGE_FRAME_BODY: {
                        uint64_t take = f->remaining < n - i ? f->remaining : n - i;

                        f->remaining -= take;
                        i += (size_t) take;
                        if (f->remaining == 0) {
                                f->phase = BRIDGE_FRAME_HEADER;
                                f->header_length = 0;
                        }
                        break;
                }

                default:
                        return -EBADMSG;
                }
        return 0;
}
