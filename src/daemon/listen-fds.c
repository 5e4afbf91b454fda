/* Sockets handed over by systemd (socket activation), adopted by their FileDescriptorName=. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "bridge-listener.h"
#include "direct-socket.h"
#include "listen-fds.h"
#include "log.h"
#include "manager.h"

int listen_fds_adopt(Manager *manager) {
        g_auto(GStrv) names = NULL;
        int n, r;

        n = sd_listen_fds_with_names(/* unset_environment= */ true, &names);
        if (n < 0)
                return log_error_errno(n, "Failed to read the sockets passed by systemd: %m");

        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                const char *name = names && names[i] ? names[i] : "unknown";

                if (strcmp(name, "private") == 0 && sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0 &&
                    !manager->direct_source) {
                        r = direct_socket_adopt(manager, fd);
                        if (r < 0)
                                return r;
                        log_debug("Serving the direct socket passed by systemd.");
                        continue;
                }

                if (strcmp(name, "bridge") == 0) {
                        if (sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0) {
                                log_warning("Closing socket %d named \"bridge\": not a listening TCP socket.", fd);
                                (void) close(fd);
                                continue;
                        }
                        /* Passed the bridge's socket, we serve it, or fail to start for want of a secret:
                         * a socket left open would queue connections nobody answers. */
                        r = manager_enable_bridge(manager);
                        if (r >= 0)
                                r = bridge_listener_adopt(manager->bridge, fd);
                        if (r < 0) {
                                (void) close(fd);
                                return r;
                        }
                        manager->bridge_adopted = true;
                        log_debug("Serving the bridge socket passed by systemd.");
                        continue;
                }

                /* Not ours to serve: a socket left open would queue connections nobody answers. */
                log_warning("Closing unexpected socket %d named \"%s\" passed by systemd.", fd, name);
                (void) close(fd);
        }
        return 0;
}
