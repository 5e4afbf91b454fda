/* Sockets handed over by systemd (socket activation), adopted by their FileDescriptorName=. */
#pragma once

typedef struct Manager Manager;

/* Adopts "private" as the direct socket and "bridge" as the bridge's TCP socket (which needs the
 * bridge's secret); closes the rest with a message. Returns 0 or < 0. */
int listen_fds_adopt(Manager *manager);
