/* Unit tests of SipHash-2-4 against the reference implementation's test vectors. */
#undef G_DISABLE_ASSERT
#include <string.h>

#include <glib.h>

#include "siphash24.h"

/* vectors_sip64 of the reference implementation (github.com/veorq/SipHash, vectors.h), read as
 * little-endian numbers: the hash of the n bytes 00 01 02 ... (n-1) under the key 00 01 ... 0f. */
static const uint64_t reference_vectors[64] = {
        UINT64_C(0x726fdb47dd0e0e31), UINT64_C(0x74f839c593dc67fd), UINT64_C(0x0d6c8009d9a94f5a),
        UINT64_C(0x85676696d7fb7e2d), UINT64_C(0xcf2794e0277187b7), UINT64_C(0x18765564cd99a68d),
        UINT64_C(0xcbc9466e58fee3ce), UINT64_C(0xab0200f58b01d137), UINT64_C(0x93f5f5799a932462),
        UINT64_C(0x9e0082df0ba9e4b0), UINT64_C(0x7a5dbbc594ddb9f3), UINT64_C(0xf4b32f46226bada7),
        UINT64_C(0x751e8fbc860ee5fb), UINT64_C(0x14ea5627c0843d90), UINT64_C(0xf723ca908e7af2ee),
        UINT64_C(0xa129ca6149be45e5), UINT64_C(0x3f2acc7f57c29bdb), UINT64_C(0x699ae9f52cbe4794),
        UINT64_C(0x4bc1b3f0968dd39c), UINT64_C(0xbb6dc91da77961bd), UINT64_C(0xbed65cf21aa2ee98),
        UINT64_C(0xd0f2cbb02e3b67c7), UINT64_C(0x93536795e3a33e88), UINT64_C(0xa80c038ccd5ccec8),
        UINT64_C(0xb8ad50c6f649af94), UINT64_C(0xbce192de8a85b8ea), UINT64_C(0x17d835b85bbb15f3),
        UINT64_C(0x2f2e6163076bcfad), UINT64_C(0xde4daaaca71dc9a5), UINT64_C(0xa6a2506687956571),
        UINT64_C(0xad87a3535c49ef28), UINT64_C(0x32d892fad841c342), UINT64_C(0x7127512f72f27cce),
        UINT64_C(0xa7f32346f95978e3), UINT64_C(0x12e0b01abb051238), UINT64_C(0x15e034d40fa197ae),
        UINT64_C(0x314dffbe0815a3b4), UINT64_C(0x027990f029623981), UINT64_C(0xcadcd4e59ef40c4d),
        UINT64_C(0x9abfd8766a33735c), UINT64_C(0x0e3ea96b5304a7d0), UINT64_C(0xad0c42d6fc585992),
        UINT64_C(0x187306c89bc215a9), UINT64_C(0xd4a60abcf3792b95), UINT64_C(0xf935451de4f21df2),
        UINT64_C(0xa9538f0419755787), UINT64_C(0xdb9acddff56ca510), UINT64_C(0xd06c98cd5c0975eb),
        UINT64_C(0xe612a3cb9ecba951), UINT64_C(0xc766e62cfcadaf96), UINT64_C(0xee64435a9752fe72),
        UINT64_C(0xa192d576b245165a), UINT64_C(0x0a8787bf8ecb74b2), UINT64_C(0x81b3e73d20b49b6f),
        UINT64_C(0x7fa8220ba3b2ecea), UINT64_C(0x245731c13ca42499), UINT64_C(0xb78dbfaf3a8d83bd),
        UINT64_C(0xea1ad565322a1a0b), UINT64_C(0x60e61c23a3795013), UINT64_C(0x6606d7e446282b93),
        UINT64_C(0x6ca4ecb15c5f91e1), UINT64_C(0x9f626da15c9625f3), UINT64_C(0xe51b38608ef25f57),
        UINT64_C(0x958a324ceb064572),
};

static void reference_key(uint8_t key[SIPHASH_KEY_SIZE]) {
        for (unsigned i = 0; i < SIPHASH_KEY_SIZE; i++)
                key[i] = (uint8_t) i;
}

static void test_reference_vectors(void) {
        uint8_t key[SIPHASH_KEY_SIZE], input[64];

        reference_key(key);
        for (unsigned i = 0; i < sizeof(input); i++)
                input[i] = (uint8_t) i;

        for (size_t n = 0; n < G_N_ELEMENTS(reference_vectors); n++)
                g_assert_cmphex(siphash24(input, n, key), ==, reference_vectors[n]);
}

/* Compressing in pieces of any sizes gives the one-shot hash. */
static void test_incremental(void) {
        uint8_t key[SIPHASH_KEY_SIZE], input[64];

        reference_key(key);
        for (unsigned i = 0; i < sizeof(input); i++)
                input[i] = (uint8_t) i;

        for (size_t n = 0; n <= sizeof(input); n++)
                for (size_t piece = 1; piece <= 9; piece++) {
                        SipHash state;

                        siphash24_init(&state, key);
                        for (size_t done = 0; done < n; done += MIN(piece, n - done))
                                siphash24_compress(&state, input + done, MIN(piece, n - done));
                        g_assert_cmphex(siphash24_finalize(&state), ==,
                                        n < G_N_ELEMENTS(reference_vectors) ? reference_vectors[n] :
                                        siphash24(input, n, key));
                }
}

/* The key matters: one bit of it changes the hash. */
static void test_key(void) {
        uint8_t key[SIPHASH_KEY_SIZE];
        const char *text = "/some/path";

        reference_key(key);
        for (unsigned bit = 0; bit < 8 * SIPHASH_KEY_SIZE; bit++) {
                uint8_t other[SIPHASH_KEY_SIZE];

                memcpy(other, key, sizeof(other));
                other[bit / 8] ^= (uint8_t) (1u << (bit % 8));
                g_assert_cmphex(siphash24(text, strlen(text), other), !=,
                                siphash24(text, strlen(text), key));
        }
}

/* The keyed string hash: one key for the process, so equal strings hash equal; strings that
 * g_str_hash() makes collide (the same value from two-character blocks) do not here. */
static void test_string_hash(void) {
        g_assert_cmpuint(siphash24_string_hash("name"), ==, siphash24_string_hash("name"));
        /* "Ab" and "BA" share g_str_hash's value (33 * 'A' + 'b' == 33 * 'B' + 'A'). */
        g_assert_cmpuint(g_str_hash("Ab"), ==, g_str_hash("BA"));
        g_assert_cmpuint(siphash24_string_hash("Ab"), !=, siphash24_string_hash("BA"));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/siphash24/reference-vectors", test_reference_vectors);
        g_test_add_func("/siphash24/incremental", test_incremental);
        g_test_add_func("/siphash24/key", test_key);
        g_test_add_func("/siphash24/string-hash", test_string_hash);

        return g_test_run();
}
