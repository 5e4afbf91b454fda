/* An intrusive chained hash table: each entry embeds a ChainLink, and the table itself is only an array
 * of bucket heads, a power of two of them. Entries do not keep their hash (that would cost each of them
 * 8 bytes): callers pass it in, and doubling asks the table's hash function again for every entry
 * (halving needs no hash: it merges bucket pairs).
 * Lookups are the caller's own loop over a chain, so that comparing keys costs no indirect call:
 *
 *         for (ChainLink *l = chain_table_first(&t, hash); l; l = l->next)
 *                 if (strcmp(container_of(l, Thing, link)->name, name) == 0)
 *                         return container_of(l, Thing, link);
 *
 * The table doubles when it holds more than CHAIN_TABLE_MAX_LOAD entries per bucket and halves when it
 * holds fewer than one per two buckets, so that chains stay short with a good hash and the array
 * shrinks as entries go. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct ChainLink {
        struct ChainLink *next;
} ChainLink;

typedef uint64_t (*ChainHashFunc)(const ChainLink *link, const void *userdata);

typedef struct ChainTable {
        ChainLink **buckets;
        size_t n_buckets;          /* 0 until the first entry comes */
        size_t n_entries;
        ChainHashFunc hash;
        const void *userdata;
} ChainTable;

#define CHAIN_TABLE_INIT(hash_func, data) { .hash = (hash_func), .userdata = (data) }
#define CHAIN_TABLE_MIN_BUCKETS 16
/* Two entries per bucket at most on average: a successful lookup reads two entries or fewer on
 * average, and the bucket array costs 4 to 8 bytes per entry instead of 8 to 16 with one. */
#define CHAIN_TABLE_MAX_LOAD 2

/* Frees the bucket array; the entries are the caller's. */
void chain_table_deinit(ChainTable *table);

static inline size_t chain_table_bucket_index(const ChainTable *table, uint64_t hash) {
        return (size_t) (hash & (table->n_buckets - 1));
}

/* The first entry of the chain that entries with this hash are in; NULL when it is empty. */
static inline ChainLink *chain_table_first(const ChainTable *table, uint64_t hash) {
        return table->n_buckets > 0 ? table->buckets[chain_table_bucket_index(table, hash)] : NULL;
}

/* Adds an entry that is not in the table; hash is the table's hash function's value for it. */
void chain_table_add(ChainTable *table, ChainLink *link, uint64_t hash);
/* Removes an entry that is in the table. */
void chain_table_remove(ChainTable *table, ChainLink *link, uint64_t hash);

typedef struct ChainTableStats {
        size_t n_entries;
        size_t n_buckets;
        size_t longest_chain;
        size_t total_probes;       /* entries read to find every entry once: n_entries when no two collide */
} ChainTableStats;

/* How the entries spread over the buckets; O(n), for tests. */
void chain_table_get_stats(const ChainTable *table, ChainTableStats *ret);
