/* Unguessable 128-bit ids (lock and publication ids), drawn from the kernel's CSPRNG in batches. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define RANDOM_ID_SIZE 16
#define RANDOM_ID_STRING_MAX (RANDOM_ID_SIZE * 2 + 1)

typedef struct RandomIdPool {
        size_t used;
        uint8_t pool[1024];
} RandomIdPool;

#define RANDOM_ID_POOL_INIT { .used = sizeof(((RandomIdPool *) 0)->pool) }

void random_id_generate(RandomIdPool *pool, uint8_t ret_id[RANDOM_ID_SIZE]);
void random_id_pool_wipe(RandomIdPool *pool);

/* Fills buf from the kernel's CSPRNG (hash keys and the like); aborts if it cannot. */
void random_bytes(void *buf, size_t size);

/* Ids on the wire are 32 lowercase hex digits. Parsing returns 0 or -EINVAL. */
char *random_id_to_string(const uint8_t id[RANDOM_ID_SIZE], char buf[RANDOM_ID_STRING_MAX]);
int random_id_from_string(const char *s, uint8_t ret_id[RANDOM_ID_SIZE]);
