/* The requests of the wire protocol: each frame read into a core request, authorized as on D-Bus,
 * answered with its reply frame; and the core's calls back to a wire client (ClientOps). */
#pragma once

#include "client.h"
#include "wire-connection.h"

extern const ClientOps wire_client_ops;

/* Handles one whole frame of a connection in state HELLO or READY. body (header->size bytes) is
 * only valid during the call. */
void wire_verbs_dispatch(WireConnection *c, const WireHeader *header, const uint8_t *body);

/* The action each request type needs (filled in from the core's one table), -1 for none. */
void wire_verbs_actions_init(int actions[_WIRE_REQUEST_LAST + 1]);
