/* GetStatistics: the core's counters, histograms and most contended paths as one a{sv}. The keys are
 * the names pylockctl stats prints, in snake_case; docs/org.pylocker.Locker.md lists them. */
#include "bus-internal.h"
#include "lock-table.h"
#include "sd-cleanup.h"

static int append_uint(sd_bus_message *m, const char *key, uint64_t value) {
        return sd_bus_message_append(m, "{sv}", key, "t", value);
}

static int append_histogram(sd_bus_message *m, const char *key, const ServiceHistogram *h) {
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "(ttat)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "ttat");
        if (r >= 0)
                r = sd_bus_message_append(m, "tt", h->count, h->sum_usec);
        if (r >= 0)
                r = sd_bus_message_append_array(m, 't', h->buckets, sizeof(h->buckets));
        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

static int append_contended(sd_bus_message *m, const ServiceStats *stats) {
        const ServiceContendedPath *top[SERVICE_STATS_TOP_PATHS];
        size_t n = service_stats_top_paths(stats, top);
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "contended_paths");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a(st)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(st)");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(m, "(st)", top[i]->path, top[i]->waits);
        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

int bus_method_get_statistics(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        g_autoptr(sd_bus_message) reply = NULL;
        BusLocker *locker = userdata;
        Service *service = locker->service;
        const ServiceStats *stats = &service->stats;
        uint64_t now = lock_table_now(service->table, CLOCK_MONOTONIC);
        const struct {
                const char *key;
                uint64_t value;
        } values[] = {
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
                { "uptime_usec",        now > stats->started_monotonic ? now - stats->started_monotonic : 0 },
        };
        int r;

        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < G_N_ELEMENTS(values); i++) {
                r = append_uint(reply, values[i].key, values[i].value);
                if (r < 0)
                        return r;
        }
        r = append_histogram(reply, "wait_time_usec", &stats->wait_time);
        if (r < 0)
                return r;
        r = append_histogram(reply, "hold_time_usec", &stats->hold_time);
        if (r < 0)
                return r;
        r = append_contended(reply, stats);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}
