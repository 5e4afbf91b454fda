/* The direct socket: the wire protocol (docs/wire.md), or D-Bus peer to peer for a client whose
 * first byte is 0, on a private unix socket; the bus daemon's two hops saved. */
#pragma once

typedef struct Manager Manager;

/* Sets up the wire server that every accepted connection goes to first. */
int direct_socket_init(Manager *manager);

/* Listens on path (created 0666; its directory 0755 if missing). The same object and rules as on
 * the bus, identity from the peer credentials. */
int direct_socket_listen(Manager *manager, const char *path);
/* Serves an already listening socket (socket activation). */
int direct_socket_adopt(Manager *manager, int fd);
void direct_socket_close(Manager *manager);
