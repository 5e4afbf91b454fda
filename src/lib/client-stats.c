/* The daemon's statistics: GetStatistics' a{sv}, or the wire protocol's STATS, read into plain
 * arrays, keys kept as the daemon sends them, so that a newer daemon's counters reach an older
 * library's callers. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include <pylocker/pylocker-client.h>

#include "client-internal.h"
#include "client-wire.h"
#include "lib-util.h"
#include "sd-cleanup.h"

_public_ void pylocker_statistics_free(PylockerStatistics *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_values; i++)
                g_free(s->values[i].name);
        for (size_t i = 0; i < s->n_histograms; i++) {
                g_free(s->histograms[i].name);
                g_free(s->histograms[i].buckets);
        }
        for (size_t i = 0; i < s->n_contended; i++)
                g_free(s->contended[i].path);
        g_free(s->values);
        g_free(s->histograms);
        g_free(s->contended);
        g_free(s);
}

static int read_histogram(sd_bus_message *reply, const char *key, GArray *histograms) {
        PylockerHistogram h = {};
        const void *buckets;
        size_t size;
        int r;

        r = sd_bus_message_enter_container(reply, 'r', "ttat");
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "tt", &h.count, &h.sum_usec);
        if (r < 0)
                return r;
        r = sd_bus_message_read_array(reply, 't', &buckets, &size);
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;
        h.name = g_strdup(key);
        h.n_buckets = size / sizeof(uint64_t);
        h.buckets = g_memdup2(buckets, h.n_buckets * sizeof(uint64_t));
        g_array_append_val(histograms, h);
        return 0;
}

static int read_contended(sd_bus_message *reply, GArray *contended) {
        const char *path;
        uint64_t waits;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(st)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "(st)", &path, &waits)) > 0) {
                PylockerContendedPath c = { .path = g_strdup(path), .waits = waits };

                g_array_append_val(contended, c);
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

static int read_statistics(sd_bus_message *reply, GArray *values, GArray *histograms, GArray *contended) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key, *contents;
                char type;

                r = sd_bus_message_read(reply, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(reply, &type, &contents);
                if (r < 0)
                        return r;

                if (g_str_equal(contents, "t") || g_str_equal(contents, "u")) {
                        PylockerStatistic v = { .name = g_strdup(key) };
                        uint32_t u;

                        if (contents[0] == 't')
                                r = sd_bus_message_read(reply, "v", "t", &v.value);
                        else {
                                r = sd_bus_message_read(reply, "v", "u", &u);
                                v.value = u;
                        }
                        g_array_append_val(values, v);
                } else if (g_str_equal(contents, "(ttat)") || g_str_equal(contents, "a(st)")) {
                        r = sd_bus_message_enter_container(reply, 'v', contents);
                        if (r < 0)
                                return r;
                        r = contents[0] == '(' ? read_histogram(reply, key, histograms) :
                                                 read_contended(reply, contended);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(reply);
                } else
                        /* Something a newer daemon sends that we cannot show. */
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

static int get_statistics_wire(PylockerLocker *locker, PylockerStatistics **ret, PylockerError *error) {
        WireMessage m = { .header.type = WIRE_GET_STATS };
        const WireStats *w;
        PylockerStatistics *s;
        WireReply reply;
        int r;

        r = wire_call(locker, &m, CALL_TIMEOUT_USEC, WIRE_STATS, &reply, error);
        if (r < 0)
                return r;
        w = &reply.message.stats;

        s = g_new0(PylockerStatistics, 1);
        s->n_values = w->n_values;
        s->values = g_new0(PylockerStatistic, w->n_values);
        for (size_t i = 0; i < w->n_values; i++)
                s->values[i] = (PylockerStatistic) { .name = g_strdup(w->values[i].name), .value = w->values[i].value };
        s->n_histograms = w->n_histograms;
        s->histograms = g_new0(PylockerHistogram, w->n_histograms);
        for (size_t i = 0; i < w->n_histograms; i++)
                s->histograms[i] = (PylockerHistogram) {
                        .name = g_strdup(w->histograms[i].name),
                        .count = w->histograms[i].count,
                        .sum_usec = w->histograms[i].sum_usec,
                        .buckets = g_memdup2(w->histograms[i].buckets, w->histograms[i].n_buckets * sizeof(uint64_t)),
                        .n_buckets = w->histograms[i].n_buckets,
                };
        s->n_contended = w->n_contended;
        s->contended = g_new0(PylockerContendedPath, w->n_contended);
        for (size_t i = 0; i < w->n_contended; i++)
                s->contended[i] = (PylockerContendedPath) {
                        .path = g_strdup(w->contended[i].path),
                        .waits = w->contended[i].waits,
                };
        wire_reply_done(locker, &reply);
        *ret = s;
        return 0;
}

_public_ int pylocker_locker_get_statistics(PylockerLocker *locker, PylockerStatistics **ret,
                                            PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        g_autoptr(GArray) values = NULL, histograms = NULL, contended = NULL;
        PylockerStatistics *s;
        int r;

        pylocker_error_clear(error);
        if (!locker || !ret)
                return pylocker_error_setf(error, -EINVAL, "No locker or no place for the statistics given.");
        if (locker->wire)
                return get_statistics_wire(locker, ret, error);

        r = locker_new_call(locker, "GetStatistics", &m, error);
        if (r < 0)
                return r;
        r = locker_call(locker, m, CALL_TIMEOUT_USEC, &reply, error);
        if (r < 0)
                return r;

        values = g_array_new(FALSE, TRUE, sizeof(PylockerStatistic));
        histograms = g_array_new(FALSE, TRUE, sizeof(PylockerHistogram));
        contended = g_array_new(FALSE, TRUE, sizeof(PylockerContendedPath));
        r = read_statistics(reply, values, histograms, contended);

        s = g_new0(PylockerStatistics, 1);
        s->n_values = values->len;
        s->values = (PylockerStatistic *) (void *) g_array_free(g_steal_pointer(&values), FALSE);
        s->n_histograms = histograms->len;
        s->histograms = (PylockerHistogram *) (void *) g_array_free(g_steal_pointer(&histograms), FALSE);
        s->n_contended = contended->len;
        s->contended = (PylockerContendedPath *) (void *) g_array_free(g_steal_pointer(&contended), FALSE);
        if (r < 0) {
                pylocker_statistics_free(s);
                return locker_map_error(locker, r, NULL, "GetStatistics", error);
        }
        *ret = s;
        return 0;
}
