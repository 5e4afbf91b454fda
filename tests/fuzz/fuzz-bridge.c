/* libFuzzer target: the input is what a bridge peer sends once its TLS handshake is done. It goes
 * through the bridge's connection handling as it is: the shuttle with its D-Bus framing checks, the
 * socketpair, the sd-bus server connection and the org.pylocker.Locker handlers, with one lock table
 * shared by every input. The first byte also picks which other parser sees the rest: HOST:PORT
 * splitting and the framer on its own. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "bridge-frame.h"
#include "bridge-listener.h"
#include "bridge-peer.h"
#include "log.h"
#include "manager.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Manager *manager;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        static const uint8_t secret[] = "fuzzing secret, 32 bytes long!!";
        Config config;

        log_set_max_level(LOG_CRIT);
        config_init_defaults(&config);
        config.bridge.max_message_size = 64 * 1024;
        if (manager_new(&config, &manager) < 0)
                abort();
        config_done(&config);
        if (bridge_listener_new(manager->event, manager->bus_locker, &manager->config.bridge, secret,
                                sizeof(secret) - 1, &manager->bridge) < 0)
                abort();
        return 0;
}

static void run_loop(unsigned iterations) {
        for (unsigned i = 0; i < iterations && g_hash_table_size(manager->bridge->peers) > 0; i++)
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
        BridgeFramer framer;
        uint16_t port;

        if (bridge_split_host_port(text, &host, &port) == 0 && port == 0)
                abort();
        bridge_framer_init(&framer, 4096);
        for (size_t i = 0; i < size; i += 7)
                if (bridge_framer_feed(&framer, data + i, MIN((size_t) 7, size - i)) < 0)
                        break;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t written = 0;
        int pair[2];

        if (size > 0 && data[0] == 0xff) {
                fuzz_parsers(data + 1, size - 1);
                return 0;
        }

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0)
                abort();
        if (bridge_peer_new_plain(manager->bridge, pair[1], "[fuzz]:1") < 0)
                abort();

        /* In the pieces the socket takes, letting the daemon's loop run in between. */
        while (written < size && g_hash_table_size(manager->bridge->peers) > 0) {
                ssize_t n = send(pair[0], data + written, size - written, MSG_DONTWAIT | MSG_NOSIGNAL);

                if (n > 0)
                        written += (size_t) n;
                else if (n < 0 && errno != EAGAIN)
                        break;
                run_loop(8);
                drain(pair[0]);
        }
        (void) shutdown(pair[0], SHUT_WR);
        for (int round = 0; round < 64 && g_hash_table_size(manager->bridge->peers) > 0; round++) {
                run_loop(4);
                drain(pair[0]);
        }
        (void) close(pair[0]);
        run_loop(64);

        /* The end of the stream must end the connection, and the client with it. */
        if (g_hash_table_size(manager->bridge->peers) > 0)
                abort();
        return 0;
}
