/* libFuzzer target: the input is a stream of wire frames, as a peer could send them. Each frame
 * whose header passes is decoded; a decoded frame is encoded again, and that encoding must decode
 * to the same encoding (the codec's two halves agree on everything they accept). */
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const WireMessage *m) {
        WireBuffer first = {}, second = {};
        WireHeader header;
        WireMessage again;

        /* Every string the decoder let through is valid, so encoding cannot refuse it. */
        if (wire_message_encode(&first, m, WIRE_FRAME_MAX) < 0)
                abort();
        if (wire_header_parse(wire_buffer_peek(&first), WIRE_FRAME_MAX, &header) < 0 ||
            header.size != wire_buffer_length(&first) - WIRE_HEADER_SIZE ||
            header.type != m->header.type || header.serial != m->header.serial)
                abort();
        if (wire_message_decode(&header, wire_buffer_peek(&first) + WIRE_HEADER_SIZE, &again) < 0)
                abort();
        if (wire_message_encode(&second, &again, WIRE_FRAME_MAX) < 0)
                abort();
        if (wire_buffer_length(&first) != wire_buffer_length(&second) ||
            memcmp(wire_buffer_peek(&first), wire_buffer_peek(&second), wire_buffer_length(&first)) != 0)
                abort();
        wire_message_clear(&again);
        wire_buffer_done(&first);
        wire_buffer_done(&second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* An optional preamble, as a connection starts. */
        if (size >= WIRE_PREAMBLE_SIZE && memcmp(data, WIRE_MAGIC, 4) == 0) {
                (void) wire_preamble_parse(data);
                data += WIRE_PREAMBLE_SIZE;
                size -= WIRE_PREAMBLE_SIZE;
        }

        while (size >= WIRE_HEADER_SIZE) {
                WireHeader header;
                WireMessage m;
                uint8_t *body;

                if (wire_header_parse(data, WIRE_FRAME_MAX, &header) < 0)
                        return 0;
                data += WIRE_HEADER_SIZE;
                size -= WIRE_HEADER_SIZE;
                if (header.size > size)
                        return 0;

                /* A copy of exactly the body, so that reading past it is caught. */
                body = malloc(header.size ?: 1);
                if (!body)
                        abort();
                memcpy(body, data, header.size);
                if (wire_message_decode(&header, body, &m) >= 0) {
                        check_round_trip(&m);
                        wire_message_clear(&m);
                }
                free(body);
                data += header.size;
                size -= header.size;
        }
        return 0;
}
