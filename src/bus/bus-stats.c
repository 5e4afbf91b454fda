/* GetStatistics: the core's counters, histograms and most contended paths as one a{sv}. The keys are
 * the core's (service_get_statistics(), the same as the wire protocol's STATS), the names pylockctl
 * stats prints; docs/org.pylocker.Locker.md lists them. */
#include "bus-internal.h"
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

static int append_contended(sd_bus_message *m, const ServiceStatsView *view) {
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "contended_paths");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a(st)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(st)");
        for (size_t i = 0; r >= 0 && i < view->n_contended; i++)
                r = sd_bus_message_append(m, "(st)", view->contended[i]->path, view->contended[i]->waits);
        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

int bus_method_get_statistics(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        g_autoptr(sd_bus_message) reply = NULL;
        BusLocker *locker = userdata;
        ServiceStatsView view;
        int r;

        service_get_statistics(locker->service, &view);

        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < SERVICE_STATS_N_VALUES; i++) {
                r = append_uint(reply, view.values[i].key, view.values[i].value);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < SERVICE_STATS_N_HISTOGRAMS; i++) {
                r = append_histogram(reply, view.histograms[i].key, view.histograms[i].histogram);
                if (r < 0)
                        return r;
        }
        r = append_contended(reply, &view);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}
