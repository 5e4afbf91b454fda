/* The settings of the TCP bridge and its defences ([Bridge] in pylockerd.conf). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* [Bridge]: the TCP bridge and its defences. */
typedef struct BridgeConfig {
        char *listen;                           /* Listen=, --bridge: ADDR:PORT to listen on, or NULL */
        char *secret_file;                      /* SecretFile=, --secret-file; NULL: the credential */
        uint64_t handshake_timeout_usec;        /* from accept() to a finished TLS handshake */
        unsigned max_connections;               /* bridge connections at once, handshaking or not */
        unsigned max_connections_per_address;   /* of them from one source address */
        unsigned max_failed_handshakes;         /* failures from one address before it backs off; 0: never */
        uint64_t failed_handshake_backoff_usec; /* how long new connections from it are refused */
        size_t max_handshake_bytes;             /* bytes a peer may send before its handshake is done */
        size_t max_message_size;                /* bytes of one D-Bus message from a peer */
        uint64_t keepalive_time_usec;           /* TCP keepalive: idle time before the first probe */
        uint64_t keepalive_interval_usec;       /* between probes */
        unsigned keepalive_count;               /* unanswered probes before the connection is dropped */
} BridgeConfig;
