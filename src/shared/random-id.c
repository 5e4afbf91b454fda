/* Unguessable 128-bit ids (lock and publication ids), drawn from the kernel's CSPRNG in batches. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <glib.h>

#include "random-id.h"

void random_bytes(void *buf, size_t size) {
        uint8_t *p = buf;
        size_t done = 0;

        while (done < size) {
                ssize_t n = getrandom(p + done, size - done, 0);

                if (n < 0) {
                        /* getrandom() only fails on kernels older than 3.17, which we do not support:
                         * ids must be unguessable, so there is no weaker fallback. */
                        if (errno == EINTR)
                                continue;
                        g_error("getrandom() failed: %s", g_strerror(errno));
                }
                done += (size_t) n;
        }
}

void random_id_generate(RandomIdPool *pool, uint8_t ret_id[RANDOM_ID_SIZE]) {
        /* One getrandom() per 64 ids keeps the syscall off most grants. */
        if (pool->used + RANDOM_ID_SIZE > sizeof(pool->pool)) {
                random_bytes(pool->pool, sizeof(pool->pool));
                pool->used = 0;
        }
        memcpy(ret_id, pool->pool + pool->used, RANDOM_ID_SIZE);
        explicit_bzero(pool->pool + pool->used, RANDOM_ID_SIZE);
        pool->used += RANDOM_ID_SIZE;
}

void random_id_pool_wipe(RandomIdPool *pool) {
        explicit_bzero(pool->pool, sizeof(pool->pool));
        pool->used = sizeof(pool->pool);
}

char *random_id_to_string(const uint8_t id[RANDOM_ID_SIZE], char buf[RANDOM_ID_STRING_MAX]) {
        static const char hex[] = "0123456789abcdef";

        for (size_t i = 0; i < RANDOM_ID_SIZE; i++) {
                buf[2 * i] = hex[id[i] >> 4];
                buf[2 * i + 1] = hex[id[i] & 15];
        }
        buf[2 * RANDOM_ID_SIZE] = 0;
        return buf;
}

int random_id_from_string(const char *s, uint8_t ret_id[RANDOM_ID_SIZE]) {
        uint8_t id[RANDOM_ID_SIZE];

        if (strlen(s) != 2 * RANDOM_ID_SIZE)
                return -EINVAL;

        for (size_t i = 0; i < RANDOM_ID_SIZE; i++) {
                int hi = g_ascii_xdigit_value(s[2 * i]), lo = g_ascii_xdigit_value(s[2 * i + 1]);

                /* Uppercase would parse too, but then one id would have two spellings. */
                if (hi < 0 || lo < 0 || g_ascii_isupper(s[2 * i]) || g_ascii_isupper(s[2 * i + 1]))
                        return -EINVAL;
                id[i] = (uint8_t) (hi << 4 | lo);
        }

        memcpy(ret_id, id, sizeof(id));
        return 0;
}
