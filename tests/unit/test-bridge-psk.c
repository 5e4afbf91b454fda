/* The bridge's key: HKDF-SHA256 of the secret (a fixed vector), the secret file's checks, and the
 * HOST:PORT syntax. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "bridge-psk.h"

static void test_derive_vector(void) {
        static const char secret[] = "0123456789abcdef0123456789abcdef";
        uint8_t psk[BRIDGE_PSK_SIZE];
        g_autofree char *hex = NULL;

        /* Computed independently: HMAC-SHA256 by the RFC 5869 steps with the documented salt and info. */
        g_assert_cmpint(bridge_psk_derive((const uint8_t *) secret, strlen(secret), psk), ==, 0);
        hex = g_malloc(2 * BRIDGE_PSK_SIZE + 1);
        for (size_t i = 0; i < BRIDGE_PSK_SIZE; i++)
                g_snprintf(hex + 2 * i, 3, "%02x", psk[i]);
        g_assert_cmpstr(hex, ==, "9d6ab04f097001d989824b811069bb81bf75ad4c375184cb5d14b27dcf0c3cff");

        /* Another secret, another key. */
        g_assert_cmpint(bridge_psk_derive((const uint8_t *) secret, strlen(secret) - 1, psk), ==, 0);
        for (size_t i = 0; i < BRIDGE_PSK_SIZE; i++)
                g_snprintf(hex + 2 * i, 3, "%02x", psk[i]);
        g_assert_cmpstr(hex, !=, "9d6ab04f097001d989824b811069bb81bf75ad4c375184cb5d14b27dcf0c3cff");
}

static char *write_secret(const char *dir, const char *name, const char *text, gssize length, mode_t mode) {
        char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(path, text, length, &error));
        g_assert_cmpint(chmod(path, mode), ==, 0);
        return path;
}

static void test_secret_load(void) {
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = g_dir_make_tmp("bridge-psk-XXXXXX", &error);
        g_autofree char *good = write_secret(dir, "good", "0123456789abcdef0123\r\n", -1, 0600);
        g_autofree char *exact = write_secret(dir, "exact", "0123456789abcdef", -1, 0400);
        g_autofree char *shorter = write_secret(dir, "short", "0123456789abcde\n", -1, 0600);
        g_autofree char *readable = write_secret(dir, "readable", "0123456789abcdef0123", -1, 0644);
        g_autofree char *group = write_secret(dir, "group", "0123456789abcdef0123", -1, 0640);
        g_autofree char *binary = write_secret(dir, "binary", "\0\1\2\3\4\5\6\7\0\1\2\3\4\5\6\7", 16, 0600);
        g_autofree char *message = NULL;
        uint8_t *secret = NULL;
        size_t size = 0;

        g_assert_no_error(error);

        /* One trailing newline, LF or CRLF, is not part of it. */
        g_assert_cmpint(bridge_secret_load(good, &secret, &size, &message), ==, 0);
        g_assert_cmpuint(size, ==, 20);
        g_assert_cmpmem(secret, size, "0123456789abcdef0123", 20);
        g_clear_pointer(&secret, g_free);

        g_assert_cmpint(bridge_secret_load(exact, &secret, &size, &message), ==, 0);
        g_assert_cmpuint(size, ==, BRIDGE_SECRET_MIN);
        g_clear_pointer(&secret, g_free);

        g_assert_cmpint(bridge_secret_load(binary, &secret, &size, &message), ==, 0);
        g_assert_cmpuint(size, ==, 16);
        g_clear_pointer(&secret, g_free);

        g_assert_cmpint(bridge_secret_load(shorter, &secret, &size, &message), ==, -EINVAL);
        g_assert_nonnull(strstr(message, "too short: 15 bytes"));
        g_clear_pointer(&message, g_free);

        g_assert_cmpint(bridge_secret_load(readable, &secret, &size, &message), ==, -EPERM);
        g_assert_nonnull(strstr(message, "group or others (mode 0644)"));
        g_clear_pointer(&message, g_free);
        g_assert_cmpint(bridge_secret_load(group, &secret, &size, &message), ==, -EPERM);
        g_clear_pointer(&message, g_free);

        g_assert_cmpint(bridge_secret_load(dir, &secret, &size, &message), ==, -EINVAL);
        g_assert_nonnull(strstr(message, "not a regular file"));
        g_clear_pointer(&message, g_free);

        for (const char *const *p = (const char *const[]) { good, exact, shorter, readable, group, binary, NULL };
             *p; p++)
                g_assert_cmpint(g_unlink(*p), ==, 0);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void test_split_host_port(void) {
        char *host = NULL;
        uint16_t port = 0;

        g_assert_cmpint(bridge_split_host_port("192.0.2.1:3000", &host, &port), ==, 0);
        g_assert_cmpstr(host, ==, "192.0.2.1");
        g_assert_cmpuint(port, ==, 3000);
        g_clear_pointer(&host, g_free);
        g_assert_cmpint(bridge_split_host_port("[2001:db8::1]:65535", &host, &port), ==, 0);
        g_assert_cmpstr(host, ==, "2001:db8::1");
        g_assert_cmpuint(port, ==, 65535);
        g_clear_pointer(&host, g_free);
        g_assert_cmpint(bridge_split_host_port("locker.example:1", &host, &port), ==, 0);
        g_assert_cmpstr(host, ==, "locker.example");
        g_clear_pointer(&host, g_free);
        g_assert_cmpint(bridge_split_host_port("*:3000", &host, &port), ==, 0);
        g_assert_null(host);
        g_assert_cmpint(bridge_split_host_port(":3000", &host, &port), ==, 0);
        g_assert_null(host);

        for (const char *const *bad = (const char *const[]) {
                     "", "3000", "host:", "host:0", "host:65536", "host:12x", "2001:db8::1:3000", "[]:1",
                     "[::1]3000", "host:-1", "host: 1", NULL }; *bad; bad++)
                g_assert_cmpint(bridge_split_host_port(*bad, &host, &port), ==, -EINVAL);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/bridge-psk/derive/vector", test_derive_vector);
        g_test_add_func("/bridge-psk/secret/load", test_secret_load);
        g_test_add_func("/bridge-psk/split-host-port", test_split_host_port);
        return g_test_run();
}
