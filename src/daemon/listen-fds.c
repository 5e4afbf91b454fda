/* Sockets handed over by systemd (socket activation), adopted by their FileDescriptorName=. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

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

                /* Not ours to serve: a socket left open would queue connections nobody answers. */
                if (strcmp(name, "bridge") == 0)
                        log_warning("Closing socket %d named \"bridge\": this pylockerd has no bridge.", fd);
                else
                        log_warning("Closing unexpected socket %d named \"%s\" passed by systemd.", fd, name);
                (void) close(fd);
        }
        return 0;
}
