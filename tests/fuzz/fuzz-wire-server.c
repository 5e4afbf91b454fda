/* libFuzzer target: the input is what a wire client sends (a bridge peer once its TLS handshake is
 * done, or a direct-socket client after its first bytes). It goes through the daemon's wire front
 * end as it is: framing and limits, HELLO, every request's handler and the service core, with one
 * lock table shared by every input. A first byte 0xff sends the rest to HOST:PORT splitting instead. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "bridge-psk.h"
#include "log.h"
#include "manager.h"
#include "wire-server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Manager *manager;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        Config config;

        log_set_max_level(LOG_CRIT);
        config_init_defaults(&config);
        if (manager_new(&config, &manager) < 0)
                abort();
        config_done(&config);
        return 0;
}

static size_t n_connections(void) {
        return wire_server_get_n_connections(manager->wire_server, CLIENT_TRANSPORT_BRIDGE);
}

static void run_loop(unsigned iterations) {
        for (unsigned i = 0; i < iterations && n_connections() > 0; i++)
                if (sd_event_run(manager->event, 0) < 0)
                        abort();
}

static void drain(int fd) {
        char buf[65536];

        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                ;
}

static void fuzz_parsers(const uint8_t *data, size_t size) {
        g_autofree char *text = g_strndup((const char *) data, size), *host = NULL;
        uint16_t port;

        if (bridge_split_host_port(text, &host, &port) == 0 && port == 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        WirePeer peer = {
                .id = "bridge-fuzz",
                .transport = CLIENT_TRANSPORT_BRIDGE,
                .uid = 65534,
                .address = "[fuzz]:1",
        };
        WireTransport transport;
        size_t written = 0;
        int pair[2];

        if (size > 0 && data[0] == 0xff) {
                fuzz_parsers(data + 1, size - 1);
                return 0;
        }

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0)
                abort();
        /* As the bridge does it, without TLS: no descriptors pass. */
        wire_transport_unix(pair[1], &transport);
        transport.can_pass_fds = false;
        if (wire_server_add(manager->wire_server, &transport, &peer) < 0)
                abort();

        /* In the pieces the socket takes, letting the daemon's loop run in between. */
        while (written < size && n_connections() > 0) {
                ssize_t n = send(pair[0], data + written, size - written, MSG_DONTWAIT | MSG_NOSIGNAL);

                if (n > 0)
                        written += (size_t) n;
                else if (n < 0 && errno != EAGAIN)
                        break;
                run_loop(8);
                drain(pair[0]);
        }
        (void) shutdown(pair[0], SHUT_WR);
        for (int round = 0; round < 64 && n_connections() > 0; round++) {
                run_loop(4);
                drain(pair[0]);
        }
        (void) close(pair[0]);
        run_loop(64);

        /* The end of the stream must end the connection, and the client with it. */
        if (n_connections() > 0 || service_get_n_clients(manager->service) > 0)
                abort();
        return 0;
}
