/* SipHash-2-4, as the reference implementation and the paper define it: two compression rounds per
 * 8-byte word, four finalization rounds, words and key read little-endian. */
#include <string.h>

#include "random-id.h"
#include "siphash24.h"

static inline uint64_t rotl64(uint64_t x, unsigned b) {
        return (x << b) | (x >> (64 - b));
}

static inline uint64_t read_le64(const uint8_t *p) {
        uint64_t x = 0;

        for (unsigned i = 0; i < 8; i++)
                x |= (uint64_t) p[i] << (8 * i);
        return x;
}

static inline void sip_round(SipHash *s) {
        s->v0 += s->v1;
        s->v1 = rotl64(s->v1, 13);
        s->v1 ^= s->v0;
        s->v0 = rotl64(s->v0, 32);
        s->v2 += s->v3;
        s->v3 = rotl64(s->v3, 16);
        s->v3 ^= s->v2;
        s->v0 += s->v3;
        s->v3 = rotl64(s->v3, 21);
        s->v3 ^= s->v0;
        s->v2 += s->v1;
        s->v1 = rotl64(s->v1, 17);
        s->v1 ^= s->v2;
        s->v2 = rotl64(s->v2, 32);
}

static inline void sip_word(SipHash *s, uint64_t m) {
        s->v3 ^= m;
        sip_round(s);
        sip_round(s);
        s->v0 ^= m;
}

void siphash24_init(SipHash *state, const uint8_t key[SIPHASH_KEY_SIZE]) {
        uint64_t k0 = read_le64(key), k1 = read_le64(key + 8);

        *state = (SipHash) {
                /* "somepseudorandomlygeneratedbytes" */
                .v0 = k0 ^ UINT64_C(0x736f6d6570736575),
                .v1 = k1 ^ UINT64_C(0x646f72616e646f6d),
                .v2 = k0 ^ UINT64_C(0x6c7967656e657261),
                .v3 = k1 ^ UINT64_C(0x7465646279746573),
        };
}

void siphash24_compress(SipHash *state, const void *data, size_t size) {
        const uint8_t *p = data, *end = p + size;
        unsigned used = state->length & 7;

        state->length += size;

        /* First fill the word left unfinished by the previous call. */
        if (used > 0) {
                for (; used < 8 && p < end; used++, p++)
                        state->tail |= (uint64_t) *p << (8 * used);
                if (used < 8)
                        return;
                sip_word(state, state->tail);
                state->tail = 0;
        }

        for (; end - p >= 8; p += 8)
                sip_word(state, read_le64(p));

        for (unsigned i = 0; p < end; i++, p++)
                state->tail |= (uint64_t) *p << (8 * i);
}

uint64_t siphash24_finalize(SipHash *state) {
        /* The last word: the leftover bytes, and the length (mod 256) in its top byte. */
        sip_word(state, state->tail | (uint64_t) state->length << 56);

        state->v2 ^= 0xff;
        for (unsigned i = 0; i < 4; i++)
                sip_round(state);

        return state->v0 ^ state->v1 ^ state->v2 ^ state->v3;
}

uint64_t siphash24(const void *data, size_t size, const uint8_t key[SIPHASH_KEY_SIZE]) {
        SipHash state;

        siphash24_init(&state, key);
        siphash24_compress(&state, data, size);
        return siphash24_finalize(&state);
}

unsigned siphash24_string_hash(const void *string) {
        static uint8_t key[SIPHASH_KEY_SIZE];
        static int key_set;

        /* Only the main loop's thread hashes these: no lock needed, only the one-time key. */
        if (!__atomic_load_n(&key_set, __ATOMIC_ACQUIRE)) {
                random_bytes(key, sizeof(key));
                __atomic_store_n(&key_set, 1, __ATOMIC_RELEASE);
        }
        return (unsigned) siphash24(string, strlen(string), key);
}
