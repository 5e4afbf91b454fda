/* Unit tests of the intrusive chained hash table against a GHashTable. */
#undef G_DISABLE_ASSERT
#include <stdbool.h>

#include <glib.h>

#include "chain-table.h"
#include "macro.h"

typedef struct Entry {
        ChainLink link;
        uint64_t key;
        bool present;
} Entry;

static uint64_t key_hash(uint64_t key) {
        /* Fibonacci hashing: the table takes the low bits, so fold the well-mixed high ones down. */
        uint64_t h = key * UINT64_C(0x9e3779b97f4a7c15);

        return h ^ (h >> 32);
}

static uint64_t entry_hash(const ChainLink *link, const void *userdata) {
        return key_hash(container_of(link, const Entry, link)->key);
}

static Entry *table_find(const ChainTable *table, uint64_t key) {
        for (ChainLink *l = chain_table_first(table, key_hash(key)); l; l = l->next)
                if (container_of(l, Entry, link)->key == key)
                        return container_of(l, Entry, link);
        return NULL;
}

static void check_load(const ChainTable *table) {
        if (table->n_buckets == 0) {
                g_assert_cmpuint(table->n_entries, ==, 0);
                return;
        }
        g_assert_cmpuint(table->n_buckets & (table->n_buckets - 1), ==, 0);
        g_assert_cmpuint(table->n_entries, <=, CHAIN_TABLE_MAX_LOAD * table->n_buckets);
        if (table->n_buckets > CHAIN_TABLE_MIN_BUCKETS)
                g_assert_cmpuint(table->n_entries, >=, table->n_buckets / 2);
}

static void test_random_operations(void) {
        enum { N = 5000 };
        ChainTable table = CHAIN_TABLE_INIT(entry_hash, NULL);
        Entry *entries = g_new0(Entry, N);
        GRand *rand = g_rand_new_with_seed(7);
        size_t n_present = 0;

        for (size_t i = 0; i < N; i++)
                entries[i].key = (uint64_t) g_rand_int(rand) << 32 | i;

        for (int step = 0; step < 200000; step++) {
                /* Mostly adding in the first half, mostly removing in the second: the table grows
                 * and shrinks through several sizes. */
                bool add = g_rand_int_range(rand, 0, 100) < (step < 100000 ? 70 : 30);
                Entry *e = &entries[g_rand_int_range(rand, 0, N)];

                if (add && !e->present) {
                        chain_table_add(&table, &e->link, key_hash(e->key));
                        e->present = true;
                        n_present++;
                } else if (!add && e->present) {
                        chain_table_remove(&table, &e->link, key_hash(e->key));
                        e->present = false;
                        n_present--;
                }
                g_assert_cmpuint(table.n_entries, ==, n_present);
                check_load(&table);

                if (step % 5000 == 0)
                        for (size_t i = 0; i < N; i++)
                                g_assert_true(table_find(&table, entries[i].key) ==
                                              (entries[i].present ? &entries[i] : NULL));
        }

        chain_table_deinit(&table);
        g_rand_free(rand);
        g_free(entries);
}

/* Grown large, then emptied, the table is back at its smallest; its chains stay short meanwhile. */
static void test_shrink(void) {
        enum { N = 100000 };
        ChainTable table = CHAIN_TABLE_INIT(entry_hash, NULL);
        Entry *entries = g_new0(Entry, N);
        ChainTableStats stats;

        for (size_t i = 0; i < N; i++) {
                entries[i].key = i;
                chain_table_add(&table, &entries[i].link, key_hash(i));
        }
        chain_table_get_stats(&table, &stats);
        g_assert_cmpuint(stats.n_entries, ==, N);
        g_assert_cmpuint(stats.n_buckets, >=, N / CHAIN_TABLE_MAX_LOAD);
        g_assert_cmpuint(stats.longest_chain, <=, 16);
        g_assert_cmpuint(stats.total_probes, <=, 3 * N);

        for (size_t i = 0; i < N - 3; i++)
                chain_table_remove(&table, &entries[i].link, key_hash(i));
        g_assert_cmpuint(table.n_buckets, ==, CHAIN_TABLE_MIN_BUCKETS);
        for (size_t i = N - 3; i < N; i++)
                g_assert_true(table_find(&table, i) == &entries[i]);

        chain_table_deinit(&table);
        g_free(entries);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/chain-table/random-operations", test_random_operations);
        g_test_add_func("/chain-table/shrink", test_shrink);
        return g_test_run();
}
