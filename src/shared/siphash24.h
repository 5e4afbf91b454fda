/* SipHash-2-4 (Aumasson and Bernstein): a keyed 64-bit hash. Tables whose keys someone else chooses
 * hash them with it under a random key, so that nobody who does not know the key can make them
 * collide. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_SIZE 16

/* The state of one incremental hash: init, compress any number of times, finalize. */
typedef struct SipHash {
        uint64_t v0, v1, v2, v3;
        uint64_t tail;          /* the bytes of an unfinished 8-byte word, little-endian */
        size_t length;          /* bytes compressed so far */
} SipHash;

void siphash24_init(SipHash *state, const uint8_t key[SIPHASH_KEY_SIZE]);
void siphash24_compress(SipHash *state, const void *data, size_t size);
uint64_t siphash24_finalize(SipHash *state);

/* The one-shot hash of size bytes. */
uint64_t siphash24(const void *data, size_t size, const uint8_t key[SIPHASH_KEY_SIZE]);

/* A GHashFunc for strings under one random key of the process's (GHashTable's hash functions take no
 * data of their own): for tables of strings that clients choose, e.g. their names. */
unsigned siphash24_string_hash(const void *string);
