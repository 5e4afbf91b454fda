/* An intrusive chained hash table; see chain-table.h. */
#include <glib.h>

#include "chain-table.h"

void chain_table_deinit(ChainTable *table) {
        g_free(table->buckets);
        table->buckets = NULL;
        table->n_buckets = 0;
        table->n_entries = 0;
}

/* Halving needs no hash: an entry's bucket is its hash modulo the number of buckets, a power of two,
 * so buckets i and i + n/2 become bucket i. (Rehashing would cost a hash of every key: a second
 * for half a million 4 KiB paths.) */
static void chain_table_halve(ChainTable *table) {
        size_t n = table->n_buckets / 2;
        ChainLink **old = table->buckets;

        table->buckets = g_new(ChainLink *, n);
        for (size_t i = 0; i < n; i++) {
                ChainLink *upper = old[i + n], **tail = &upper;

                while (*tail)
                        tail = &(*tail)->next;
                *tail = old[i];
                table->buckets[i] = upper;
        }
        table->n_buckets = n;
        g_free(old);
}

static void chain_table_resize(ChainTable *table, size_t n_buckets) {
        ChainLink **old = table->buckets;
        size_t n_old = table->n_buckets;

        table->buckets = g_new0(ChainLink *, n_buckets);
        table->n_buckets = n_buckets;
        for (size_t i = 0; i < n_old; i++)
                for (ChainLink *l = old[i], *next; l; l = next) {
                        uint64_t hash = table->hash(l, table->userdata);
                        ChainLink **head = &table->buckets[chain_table_bucket_index(table, hash)];

                        next = l->next;
                        l->next = *head;
                        *head = l;
                }
        g_free(old);
}

void chain_table_add(ChainTable *table, ChainLink *link, uint64_t hash) {
        ChainLink **head;

        if (table->n_buckets == 0) {
                table->buckets = g_new0(ChainLink *, CHAIN_TABLE_MIN_BUCKETS);
                table->n_buckets = CHAIN_TABLE_MIN_BUCKETS;
        }

        head = &table->buckets[chain_table_bucket_index(table, hash)];
        link->next = *head;
        *head = link;
        table->n_entries++;

        if (table->n_entries > CHAIN_TABLE_MAX_LOAD * table->n_buckets)
                chain_table_resize(table, table->n_buckets * 2);
}

void chain_table_remove(ChainTable *table, ChainLink *link, uint64_t hash) {
        ChainLink **p;

        g_assert_cmpuint(table->n_buckets, >, 0);
        for (p = &table->buckets[chain_table_bucket_index(table, hash)]; *p != link; p = &(*p)->next)
                g_assert_nonnull(*p);
        *p = link->next;
        link->next = NULL;
        table->n_entries--;

        /* Halving at one entry per two buckets, a quarter of where it doubles: a table that hovers
         * around a size does not resize back and forth. */
        if (table->n_buckets > CHAIN_TABLE_MIN_BUCKETS && table->n_entries < table->n_buckets / 2)
                chain_table_halve(table);
}

void chain_table_get_stats(const ChainTable *table, ChainTableStats *ret) {
        *ret = (ChainTableStats) {
                .n_entries = table->n_entries,
                .n_buckets = table->n_buckets,
        };

        for (size_t i = 0; i < table->n_buckets; i++) {
                size_t length = 0;

                for (const ChainLink *l = table->buckets[i]; l; l = l->next)
                        ret->total_probes += ++length;
                ret->longest_chain = MAX(ret->longest_chain, length);
        }
}
