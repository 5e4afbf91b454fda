/* The bridge's shared secret and the TLS pre-shared key derived from it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "bridge-psk.h"

int bridge_secret_load(const char *path, uint8_t **ret_secret, size_t *ret_size, char **ret_error) {
        uint8_t buffer[BRIDGE_SECRET_MAX + 3];
        struct stat st;
        size_t size = 0;
        int fd, r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                *ret_error = g_strdup_printf("Cannot open the secret file %s: %s", path, g_strerror(errno));
                return r;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                *ret_error = g_strdup_printf("Cannot read the secret file %s: %s", path, g_strerror(errno));
                goto finish;
        }
        if (!S_ISREG(st.st_mode)) {
                r = -EINVAL;
                *ret_error = g_strdup_printf("The secret file %s is not a regular file.", path);
                goto finish;
        }
        if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
                r = -EPERM;
                *ret_error = g_strdup_printf("The secret file %s is accessible to group or others (mode %04o); "
                                             "make it readable by its owner only (chmod 600).",
                                             path, (unsigned) (st.st_mode & 07777));
                goto finish;
        }

        while (size < sizeof(buffer)) {
                ssize_t n = read(fd, buffer + size, sizeof(buffer) - size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        *ret_error = g_strdup_printf("Cannot read the secret file %s: %s", path,
                                                     g_strerror(errno));
                        goto finish;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }

        /* "openssl rand -hex 32 > file" leaves a newline that is not part of the secret. */
        if (size > 0 && buffer[size - 1] == '\n') {
                size--;
                if (size > 0 && buffer[size - 1] == '\r')
                        size--;
        }
        if (size < BRIDGE_SECRET_MIN) {
                r = -EINVAL;
                *ret_error = g_strdup_printf("The secret in %s is too short: %zu bytes, at least %d are needed.",
                                             path, size, BRIDGE_SECRET_MIN);
                goto finish;
        }
        if (size > BRIDGE_SECRET_MAX) {
                r = -EINVAL;
                *ret_error = g_strdup_printf("The secret in %s is too long: more than %d bytes.", path,
                                             BRIDGE_SECRET_MAX);
                goto finish;
        }

        *ret_secret = g_memdup2(buffer, size);
        *ret_size = size;
finish:
        explicit_bzero(buffer, sizeof(buffer));
        (void) close(fd);
        return r;
}

int bridge_psk_derive(const uint8_t *secret, size_t size, uint8_t ret_psk[BRIDGE_PSK_SIZE]) {
        uint8_t prk[32];
        const gnutls_datum_t key = { .data = (unsigned char *) secret, .size = (unsigned) size };
        const gnutls_datum_t salt = { .data = (unsigned char *) BRIDGE_PSK_SALT, .size = strlen(BRIDGE_PSK_SALT) };
        const gnutls_datum_t info = { .data = (unsigned char *) BRIDGE_PSK_INFO, .size = strlen(BRIDGE_PSK_INFO) };
        gnutls_datum_t prk_datum = { .data = prk, .size = sizeof(prk) };
        int r;

        r = gnutls_hkdf_extract(GNUTLS_MAC_SHA256, &key, &salt, prk);
        if (r >= 0)
                r = gnutls_hkdf_expand(GNUTLS_MAC_SHA256, &prk_datum, &info, ret_psk, BRIDGE_PSK_SIZE);
        explicit_bzero(prk, sizeof(prk));
        return r < 0 ? -EIO : 0;
}

int bridge_split_host_port(const char *text, char **ret_host, uint16_t *ret_port) {
        g_autofree char *host = NULL;
        const char *colon, *port_text;
        char *end;
        unsigned long port;

        if (!text || !*text)
                return -EINVAL;

        if (text[0] == '[') {
                const char *close = strchr(text, ']');

                if (!close || close[1] != ':' || close == text + 1)
                        return -EINVAL;
                host = g_strndup(text + 1, (gsize) (close - text - 1));
                port_text = close + 2;
        } else {
                colon = strrchr(text, ':');
                if (!colon)
                        return -EINVAL;
                /* An IPv6 address needs its brackets, or its last group would pass for the port. */
                if (memchr(text, ':', (size_t) (colon - text)))
                        return -EINVAL;
                if (colon > text && !(colon == text + 1 && text[0] == '*'))
                        host = g_strndup(text, (gsize) (colon - text));
                port_text = colon + 1;
        }

        if (!g_ascii_isdigit(port_text[0]))
                return -EINVAL;
        errno = 0;
        port = strtoul(port_text, &end, 10);
        if (errno != 0 || *end != 0 || port == 0 || port > 65535)
                return -EINVAL;

        *ret_host = g_steal_pointer(&host);
        *ret_port = (uint16_t) port;
        return 0;
}
