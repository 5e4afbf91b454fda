/* pylockctl stats: pylockerd's counters, wait and hold time histograms and most contended paths, as
 * text, as JSON (the daemon's keys), or as OpenMetrics text for Prometheus, printed or written
 * atomically to a file (node_exporter's textfile collector reads it). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include <pylocker/pylocker.h>

#include "macro.h"
#include "verbs.h"

enum {
        OPT_OPENMETRICS = CLI_OPT_VERB,
        OPT_OUTPUT,
};

static const CliOption stats_options[] = {
        CLI_OPTION_HELP,
        CLI_OPTION_JSON("Print the statistics"),
        { "openmetrics", 0, OPT_OPENMETRICS, CLI_ARG_NONE, false, NULL, "Print them in the OpenMetrics text format" },
        { "output", 0, OPT_OUTPUT, CLI_ARG_FILE, false, "FILE",
          "Write them to FILE instead, atomically (a temporary file\nrenamed over it)" },
};

const CliVerb cli_verb_stats = {
        .name = "stats",
        .run = verb_stats,
        .summary = "Show the daemon's counters and histograms",
        .synopsis = "[--json[=MODE] | --openmetrics] [--output FILE]",
        .description = "Shows what pylockerd counted since it started: grants, releases, expiries, timeouts,\n"
                       "force releases, deadlocks refused, denials, waits, connections and clients by\n"
                       "transport, the bytes queued for clients that have not read them, the wait and\n"
                       "hold time histograms (log2 buckets of microseconds) and the paths waited for\n"
                       "most; asked as the other verbs ask (the direct socket, the bus, or --remote).\n"
                       "With --json, an object with the daemon's keys: grants, releases, ... as numbers,\n"
                       "wait_time_usec and hold_time_usec as objects {count, sum_usec, buckets: [{le_usec,\n"
                       "count}]} (the non-empty buckets; le_usec null for the last, unbounded one) and\n"
                       "contended_paths as [{path, waits}]. With --openmetrics, the OpenMetrics text\n"
                       "format, as node_exporter's textfile collector reads it.",
        .options = stats_options,
        .n_options = ELEMENTSOF(stats_options),
        .epilogue = "Exit status: 0 when printed; 1 when pylockerd could not be asked or FILE written.",
};

/* ---- text ---- */

/* "force_releases" → "Force releases", "wait_time_usec" → "Wait time": the same words as the key. */
static char *key_to_label(const char *key) {
        g_autofree char *base = g_str_has_suffix(key, "_usec") ? g_strndup(key, strlen(key) - 5) : g_strdup(key);

        g_strdelimit(base, "_", ' ');
        base[0] = g_ascii_toupper(base[0]);
        return g_steal_pointer(&base);
}

/* A duration to read at a glance, three digits at most: "750us", "2.1ms", "16.8s", "4.6h". The
 * exact microseconds are in the JSON. */
static char *format_duration(uint64_t usec) {
        if (usec < 1000)
                return g_strdup_printf("%" PRIu64 "us", usec);
        if (usec < 1000 * 1000)
                return g_strdup_printf("%.3gms", (double) usec / 1e3);
        if (usec < 60 * USEC_PER_SEC)
                return g_strdup_printf("%.3gs", (double) usec / 1e6);
        if (usec < 3600 * USEC_PER_SEC)
                return g_strdup_printf("%.3gmin", (double) usec / 60e6);
        return g_strdup_printf("%.3gh", (double) usec / 3600e6);
}

static char *format_value(const char *key, uint64_t value) {
        if (g_str_has_suffix(key, "_usec"))
                return format_duration(value);
        return g_strdup_printf("%" PRIu64, value);
}

static void text_histogram(GString *out, const PylockerHistogram *h) {
        g_autofree char *label = key_to_label(h->name), *sum = format_duration(h->sum_usec);

        g_string_append_printf(out, "\n%s: count %" PRIu64 ", sum %s\n", label, h->count, sum);
        for (size_t i = 0; i < h->n_buckets; i++) {
                g_autofree char *le = NULL;

                if (h->buckets[i] == 0)
                        continue;
                le = i + 1 == h->n_buckets ? NULL : format_duration(UINT64_C(1) << i);
                g_string_append_printf(out, "  %2s %9s  %" PRIu64 "\n", le ? "<=" : "", le ?: "more", h->buckets[i]);
        }
}

static void text_statistics(GString *out, const PylockerStatistics *s) {
        g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func(g_free);
        size_t width = 0;

        for (size_t i = 0; i < s->n_values; i++) {
                char *label = key_to_label(s->values[i].name);

                width = MAX(width, (size_t) g_utf8_strlen(label, -1));
                g_ptr_array_add(labels, label);
        }
        for (size_t i = 0; i < s->n_values; i++) {
                g_autofree char *value = format_value(s->values[i].name, s->values[i].value);
                const char *label = labels->pdata[i];

                g_string_append_printf(out, "%*s%s: %s\n", (int) (width - g_utf8_strlen(label, -1)), "", label, value);
        }
        for (size_t i = 0; i < s->n_histograms; i++)
                text_histogram(out, &s->histograms[i]);

        g_string_append(out, "\nContended paths:");
        if (s->n_contended == 0)
                g_string_append(out, " none\n");
        else
                g_string_append(out, "\n");
        for (size_t i = 0; i < s->n_contended; i++)
                g_string_append_printf(out, "  %8" PRIu64 "  %s\n", s->contended[i].waits, s->contended[i].path);
}

/* ---- JSON ---- */

static void json_statistics(GString *out, const PylockerStatistics *s, CliJson json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *text = NULL;

        json_builder_begin_object(b);
        for (size_t i = 0; i < s->n_values; i++) {
                json_builder_set_member_name(b, s->values[i].name);
                json_builder_add_int_value(b, (gint64) MIN(s->values[i].value, (uint64_t) G_MAXINT64));
        }
        for (size_t i = 0; i < s->n_histograms; i++) {
                const PylockerHistogram *h = &s->histograms[i];

                json_builder_set_member_name(b, h->name);
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "count");
                json_builder_add_int_value(b, (gint64) h->count);
                json_builder_set_member_name(b, "sum_usec");
                json_builder_add_int_value(b, (gint64) MIN(h->sum_usec, (uint64_t) G_MAXINT64));
                json_builder_set_member_name(b, "buckets");
                json_builder_begin_array(b);
                for (size_t j = 0; j < h->n_buckets; j++) {
                        if (h->buckets[j] == 0)
                                continue;
                        json_builder_begin_object(b);
                        json_builder_set_member_name(b, "le_usec");
                        if (j + 1 == h->n_buckets)
                                json_builder_add_null_value(b);
                        else
                                json_builder_add_int_value(b, (gint64) (UINT64_C(1) << j));
                        json_builder_set_member_name(b, "count");
                        json_builder_add_int_value(b, (gint64) h->buckets[j]);
                        json_builder_end_object(b);
                }
                json_builder_end_array(b);
                json_builder_end_object(b);
        }
        json_builder_set_member_name(b, "contended_paths");
        json_builder_begin_array(b);
        for (size_t i = 0; i < s->n_contended; i++) {
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "path");
                json_builder_add_string_value(b, s->contended[i].path);
                json_builder_set_member_name(b, "waits");
                json_builder_add_int_value(b, (gint64) s->contended[i].waits);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);

        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        json_generator_set_pretty(gen, json == CLI_JSON_PRETTY);
        text = json_generator_to_data(gen, NULL);
        g_string_append(out, text);
        g_string_append_c(out, '\n');
}

/* ---- OpenMetrics ---- */

typedef enum MetricType {
        METRIC_COUNTER,
        METRIC_GAUGE,
} MetricType;

/* How each key the daemon sends becomes a metric; keys not here come out as "unknown". Keys that share
 * a family (by transport) follow each other in the daemon's order. */
static const struct {
        const char *key;
        const char *family;     /* without "pylocker_" */
        MetricType type;
        const char *transport;  /* the label's value, or NULL */
        const char *help;
} metrics[] = {
        { "grants",             "grants",            METRIC_COUNTER, NULL,
          "Locks granted, at once or after waiting." },
        { "releases",           "releases",          METRIC_COUNTER, NULL,
          "Held locks ended by their owner (release, handle closed, disconnect)." },
        { "expiries",           "expiries",          METRIC_COUNTER, NULL,
          "Held locks whose lease ran out." },
        { "timeouts",           "timeouts",          METRIC_COUNTER, NULL,
          "Acquires that timed out waiting, or nonblocking ones refused." },
        { "force_releases",     "force_releases",    METRIC_COUNTER, NULL,
          "Held locks force-released by an admin." },
        { "deadlocks",          "deadlocks",         METRIC_COUNTER, NULL,
          "Waits refused because they would deadlock." },
        { "denials",            "denials",           METRIC_COUNTER, NULL,
          "Calls refused authorization." },
        { "waits",              "waits",             METRIC_COUNTER, NULL,
          "Acquires that had to wait." },
        { "connections_bus",    "connections",       METRIC_COUNTER, "bus",
          "Clients that connected, by transport." },
        { "connections_direct", "connections",       METRIC_COUNTER, "direct",
          NULL },
        { "connections_bridge", "connections",       METRIC_COUNTER, "bridge",
          NULL },
        { "clients",            "clients",           METRIC_GAUGE,   NULL,
          "Clients connected now." },
        { "clients_bus",        "transport_clients", METRIC_GAUGE,   "bus",
          "Clients connected now, by transport." },
        { "clients_direct",     "transport_clients", METRIC_GAUGE,   "direct",
          NULL },
        { "clients_bridge",     "transport_clients", METRIC_GAUGE,   "bridge",
          NULL },
        { "locks",              "locks",             METRIC_GAUGE,   NULL,
          "Locks held now." },
        { "waiters",            "waiters",           METRIC_GAUGE,   NULL,
          "Acquires waiting now." },
        { "queued_bytes",       "queued_bytes",      METRIC_GAUGE,   NULL,
          "Output produced for clients that they have not read yet." },
        { "uptime_usec",        "uptime_seconds",    METRIC_GAUGE,   NULL,
          "Time since pylockerd started." },
};

static void om_label_value(GString *out, const char *value) {
        for (const char *p = value; *p; p++)
                if (*p == '\\')
                        g_string_append(out, "\\\\");
                else if (*p == '"')
                        g_string_append(out, "\\\"");
                else if (*p == '\n')
                        g_string_append(out, "\\n");
                else
                        g_string_append_c(out, *p);
}

/* Microseconds as seconds, exactly (six decimals at most, no trailing zeros). */
static void om_seconds(GString *out, uint64_t usec) {
        g_string_append_printf(out, "%" PRIu64, usec / USEC_PER_SEC);
        if (usec % USEC_PER_SEC) {
                char frac[8];

                (void) snprintf(frac, sizeof(frac), "%06" PRIu64, usec % USEC_PER_SEC);
                for (size_t n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
                        frac[n - 1] = 0;
                g_string_append_printf(out, ".%s", frac);
        }
}

static void om_family(GString *out, const char *family, const char *type, const char *unit, const char *help) {
        g_string_append_printf(out, "# TYPE pylocker_%s %s\n", family, type);
        if (unit)
                g_string_append_printf(out, "# UNIT pylocker_%s %s\n", family, unit);
        if (help)
                g_string_append_printf(out, "# HELP pylocker_%s %s\n", family, help);
}

static void om_value(GString *out, const char *key, uint64_t value) {
        for (size_t i = 0; i < ELEMENTSOF(metrics); i++) {
                bool seconds = g_str_has_suffix(metrics[i].family, "_seconds");
                const char *unit = seconds ? "seconds" :
                                   g_str_has_suffix(metrics[i].family, "_bytes") ? "bytes" : NULL;

                if (!g_str_equal(metrics[i].key, key))
                        continue;
                /* The first of a family carries its help. */
                if (metrics[i].help)
                        om_family(out, metrics[i].family, metrics[i].type == METRIC_COUNTER ? "counter" : "gauge",
                                  unit, metrics[i].help);
                g_string_append_printf(out, "pylocker_%s%s", metrics[i].family,
                                       metrics[i].type == METRIC_COUNTER ? "_total" : "");
                if (metrics[i].transport)
                        g_string_append_printf(out, "{transport=\"%s\"}", metrics[i].transport);
                g_string_append_c(out, ' ');
                if (seconds)
                        om_seconds(out, value);
                else
                        g_string_append_printf(out, "%" PRIu64, value);
                g_string_append_c(out, '\n');
                return;
        }

        /* A key of a newer daemon: its value, without claims about it. */
        om_family(out, key, "unknown", NULL, NULL);
        g_string_append_printf(out, "pylocker_%s %" PRIu64 "\n", key, value);
}

static void om_histogram(GString *out, const PylockerHistogram *h) {
        /* "wait_time_usec" → pylocker_wait_time_seconds */
        g_autofree char *base = g_str_has_suffix(h->name, "_usec") ? g_strndup(h->name, strlen(h->name) - 5) :
                                                                    g_strdup(h->name);
        g_autofree char *family = g_strconcat(base, "_seconds", NULL);
        g_autofree char *help = key_to_label(h->name);
        uint64_t cumulative = 0;

        om_family(out, family, "histogram", "seconds", NULL);
        g_string_append_printf(out, "# HELP pylocker_%s %s of locks, in log2 buckets.\n", family, help);
        for (size_t i = 0; i + 1 < h->n_buckets; i++) {
                cumulative += h->buckets[i];
                g_string_append_printf(out, "pylocker_%s_bucket{le=\"", family);
                om_seconds(out, UINT64_C(1) << i);
                g_string_append_printf(out, "\"} %" PRIu64 "\n", cumulative);
        }
        g_string_append_printf(out, "pylocker_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", family, h->count);
        g_string_append_printf(out, "pylocker_%s_count %" PRIu64 "\n", family, h->count);
        g_string_append_printf(out, "pylocker_%s_sum ", family);
        om_seconds(out, h->sum_usec);
        g_string_append_c(out, '\n');
}

static void openmetrics_statistics(GString *out, const PylockerStatistics *s) {
        for (size_t i = 0; i < s->n_values; i++)
                om_value(out, s->values[i].name, s->values[i].value);
        for (size_t i = 0; i < s->n_histograms; i++)
                om_histogram(out, &s->histograms[i]);

        om_family(out, "contended_path_waits", "gauge", NULL,
                  "Acquires that waited for a path, for the paths waited for most (an upper bound).");
        for (size_t i = 0; i < s->n_contended; i++) {
                g_string_append(out, "pylocker_contended_path_waits{path=\"");
                om_label_value(out, s->contended[i].path);
                g_string_append_printf(out, "\"} %" PRIu64 "\n", s->contended[i].waits);
        }
        g_string_append(out, "# EOF\n");
}

/* ---- the verb ---- */

int verb_stats(int argc, char *argv[]) {
        g_autoptr(PylockerLocker) locker = NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        g_autoptr(GError) gerror = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerStatistics *s = NULL;
        const char *output = NULL;
        bool openmetrics = false;
        CliParser p;
        CliJson json;
        int c, r;

        cli_parser_init(&p, &cli_verb_stats, argc, argv, /* stop_at_positional= */ false);
        while ((c = cli_parser_next(&p)) >= 0)
                switch (c) {
                case OPT_OPENMETRICS:
                        openmetrics = true;
                        break;
                case OPT_OUTPUT:
                        output = optarg;
                        break;
                default:
                        g_assert_not_reached();
                }
        cli_parser_done(&p);
        if (c == CLI_PARSE_EXIT)
                return p.exit_status;
        if (optind < argc)
                return cli_error(EXIT_USAGE, "'stats' takes no arguments.");
        json = cli_json_mode(/* streams= */ false);
        if (openmetrics && json != CLI_JSON_OFF)
                return cli_error(EXIT_USAGE, "--openmetrics and --json exclude each other.");
        locker = cli_open_locker(NULL);
        if (!locker)
                return EXIT_FAILURE;
        r = pylocker_locker_get_statistics(locker, &s, &error);
        if (r < 0)
                return cli_error(EXIT_FAILURE, "%s", error.message);

        if (openmetrics)
                openmetrics_statistics(out, s);
        else if (json != CLI_JSON_OFF)
                json_statistics(out, s, json);
        else
                text_statistics(out, s);
        pylocker_statistics_free(s);

        if (output) {
                /* Renamed over FILE: a reader sees the old file or the new one, never half of one. */
                if (!g_file_set_contents_full(output, out->str, (gssize) out->len, G_FILE_SET_CONTENTS_CONSISTENT,
                                              0644, &gerror))
                        return cli_error(EXIT_FAILURE, "Failed to write %s: %s", output, gerror->message);
                return EXIT_SUCCESS;
        }
        if (fwrite(out->str, 1, out->len, stdout) != out->len || fflush(stdout) != 0) {
                if (errno == EPIPE)
                        return EXIT_FAILURE;
                return cli_error(EXIT_FAILURE, "Failed to write: %s", g_strerror(errno));
        }
        return EXIT_SUCCESS;
}
