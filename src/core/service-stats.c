/* The service's own statistics: counters, histograms and the most contended paths. */
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "macro.h"
#include "service-stats.h"
#include "service.h"

void service_stats_init(ServiceStats *stats, uint64_t monotonic_usec) {
        *stats = (ServiceStats) { .started_monotonic = monotonic_usec };
}

void service_stats_done(ServiceStats *stats) {
        for (size_t i = 0; i < SERVICE_STATS_TOP_PATHS; i++)
                g_clear_pointer(&stats->contended[i].path, g_free);
}

static size_t histogram_bucket(uint64_t usec) {
        size_t i;

        if (usec <= 1)
                return 0;
        /* ceil(log2(usec)): the smallest i with usec <= 2^i. */
        i = 64 - (size_t) __builtin_clzll(usec - 1);
        return MIN(i, (size_t) SERVICE_HISTOGRAM_BUCKETS - 1);
}

void service_histogram_add(ServiceHistogram *h, uint64_t usec) {
        h->buckets[histogram_bucket(usec)]++;
        h->count++;
        h->sum_usec += usec;
}

uint64_t service_histogram_bucket_le(size_t i) {
        return i + 1 >= SERVICE_HISTOGRAM_BUCKETS ? UINT64_MAX : UINT64_C(1) << i;
}

/* Space-saving: a path already kept counts on; a new one takes a free slot, else the slot of the
 * least waited-for, starting from its count (so a count is never below the path's true waits and
 * a path waited for often enough always gets in). Ten string compares per waiting path, and an
 * allocation only when a slot changes hands. */
void service_stats_note_wait(ServiceStats *stats, const char *path) {
        ServiceContendedPath *min = NULL;

        for (size_t i = 0; i < SERVICE_STATS_TOP_PATHS; i++) {
                ServiceContendedPath *e = &stats->contended[i];

                if (!e->path) {
                        if (!min || min->path)
                                min = e;
                        continue;
                }
                if (strcmp(e->path, path) == 0) {
                        e->waits++;
                        return;
                }
                if (!min || (min->path && e->waits < min->waits))
                        min = e;
        }

        g_free(min->path);
        min->path = g_strdup(path);
        min->waits++;
}

static int contended_compare(const void *a, const void *b) {
        const ServiceContendedPath *x = *(const ServiceContendedPath *const *) a;
        const ServiceContendedPath *y = *(const ServiceContendedPath *const *) b;

        if (x->waits != y->waits)
                return x->waits > y->waits ? -1 : 1;
        return strcmp(x->path, y->path);
}

size_t service_stats_top_paths(const ServiceStats *stats, const ServiceContendedPath *ret[SERVICE_STATS_TOP_PATHS]) {
        size_t n = 0;

        for (size_t i = 0; i < SERVICE_STATS_TOP_PATHS; i++)
                if (stats->contended[i].path)
                        ret[n++] = &stats->contended[i];
        qsort(ret, n, sizeof(ret[0]), contended_compare);
        return n;
}

static const char *const transport_table[_SERVICE_STATS_TRANSPORT_MAX] = {
        [SERVICE_STATS_TRANSPORT_BUS]    = "bus",
        [SERVICE_STATS_TRANSPORT_DIRECT] = "direct",
        [SERVICE_STATS_TRANSPORT_BRIDGE] = "bridge",
};

const char *service_stats_transport_to_string(ServiceStatsTransport transport) {
        return transport >= 0 && transport < _SERVICE_STATS_TRANSPORT_MAX ? transport_table[transport] : NULL;
}

/* ---- what the front ends answer ---- */

void service_get_statistics(Service *service, ServiceStatsView *ret) {
        const ServiceStats *stats = &service->stats;
        uint64_t now = lock_table_now(service->table, CLOCK_MONOTONIC);
        const ServiceStatsValue values[] = {
                { "grants",             stats->grants },
                { "releases",           stats->releases },
                { "expiries",           stats->expiries },
                { "timeouts",           stats->timeouts },
                { "force_releases",     stats->force_releases },
                { "deadlocks",          stats->deadlocks },
                { "denials",            stats->denials },
                { "waits",              stats->waits },
                { "connections_bus",    stats->connections[SERVICE_STATS_TRANSPORT_BUS] },
                { "connections_direct", stats->connections[SERVICE_STATS_TRANSPORT_DIRECT] },
                { "connections_bridge", stats->connections[SERVICE_STATS_TRANSPORT_BRIDGE] },
                { "clients",            service_get_n_clients(service) },
                { "clients_bus",        stats->clients[SERVICE_STATS_TRANSPORT_BUS] },
                { "clients_direct",     stats->clients[SERVICE_STATS_TRANSPORT_DIRECT] },
                { "clients_bridge",     stats->clients[SERVICE_STATS_TRANSPORT_BRIDGE] },
                { "locks",              lock_table_get_n_locks(service->table) },
                { "waiters",            lock_table_get_n_waiters(service->table) },
                { "queued_bytes",       service_get_queued_bytes(service) },
                { "uptime_usec",        now > stats->started_monotonic ? now - stats->started_monotonic : 0 },
        };

        G_STATIC_ASSERT(G_N_ELEMENTS(values) == SERVICE_STATS_N_VALUES);
        memcpy(ret->values, values, sizeof(values));
        ret->histograms[0] = (ServiceStatsHistogramRef) { "wait_time_usec", &stats->wait_time };
        ret->histograms[1] = (ServiceStatsHistogramRef) { "hold_time_usec", &stats->hold_time };
        ret->n_contended = service_stats_top_paths(stats, ret->contended);
}
