/* The bridge's shared secret and the TLS pre-shared key derived from it; used by pylockerd and by
 * libpylocker-dbus, so both ends derive the same key. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* TLS 1.3 only, PSK with (EC)DHE only: every session has forward secrecy, a peer without the key
 * never completes a handshake, and no certificate is ever involved. */
#define BRIDGE_TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+DHE-PSK"
/* The PSK identity: fixed, the secret is what authenticates. */
#define BRIDGE_PSK_IDENTITY "pylocker-bridge"
/* HKDF-SHA256: PRK = Extract(salt, secret), PSK = Expand(PRK, info, 32). Changing either changes
 * every key: they version the derivation. */
#define BRIDGE_PSK_SALT "pylocker-dbus bridge v1"
#define BRIDGE_PSK_INFO "pylocker-dbus bridge TLS 1.3 PSK"
#define BRIDGE_PSK_SIZE 32

#define BRIDGE_SECRET_MIN 16
#define BRIDGE_SECRET_MAX 4096

/* Reads a secret file: a regular file neither readable nor writable by group or others, of
 * BRIDGE_SECRET_MIN to BRIDGE_SECRET_MAX bytes once one trailing newline (LF or CRLF) is dropped.
 * Returns 0 and the bytes (g_free, after clearing), or a negative errno and a message (g_free)
 * naming the file and the problem. */
int bridge_secret_load(const char *path, uint8_t **ret_secret, size_t *ret_size, char **ret_error);

/* Derives the PSK from the secret. Returns 0 or a negative errno. */
int bridge_psk_derive(const uint8_t *secret, size_t size, uint8_t ret_psk[BRIDGE_PSK_SIZE]);

/* Splits "HOST:PORT", "[V6ADDR]:PORT" or ":PORT"/"*:PORT" (host NULL). Returns 0 or -EINVAL. */
int bridge_split_host_port(const char *text, char **ret_host, uint16_t *ret_port);
