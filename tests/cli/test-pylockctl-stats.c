/* pylockerd's statistics against a real daemon: GetStatistics' counters move with grants, releases,
 * waits, timeouts, expiries, force-releases and refused deadlocks; the histograms count; the most
 * contended path shows; and pylockctl stats prints the same as text, JSON and OpenMetrics (checked
 * by check-openmetrics.py). Denials are counted in test-polkit, where there is someone to deny. */
#undef G_DISABLE_ASSERT
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "cli-test-util.h"

typedef struct Stats {
        GHashTable *values;             /* key → uint64_t* */
        uint64_t wait_count, wait_nonzero, hold_count;
        char *top_path;
        uint64_t top_waits;
} Stats;

static void stats_clear(Stats *s) {
        g_clear_pointer(&s->values, g_hash_table_unref);
        g_clear_pointer(&s->top_path, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Stats, stats_clear)

static uint64_t stat_get(const Stats *s, const char *key) {
        uint64_t *v = g_hash_table_lookup(s->values, key);

        if (!v)
                g_error("no statistic %s", key);
        return *v;
}

/* GetStatistics, read with plain sd-bus. */
static void get_stats(sd_bus *bus, Stats *ret) {
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *key;

        *ret = (Stats) { .values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free) };
        g_assert_cmpint(locker_call_method(bus, "GetStatistics", &error, &reply, ""), >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "{sv}"), >, 0);
        while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                const char *contents;
                char type;

                g_assert_cmpint(sd_bus_message_read(reply, "s", &key), >, 0);
                g_assert_cmpint(sd_bus_message_peek_type(reply, &type, &contents), >, 0);
                if (g_str_equal(contents, "t")) {
                        uint64_t v;

                        g_assert_cmpint(sd_bus_message_read(reply, "v", "t", &v), >, 0);
                        g_hash_table_insert(ret->values, g_strdup(key), g_memdup2(&v, sizeof(v)));
                } else if (g_str_equal(contents, "(ttat)")) {
                        uint64_t count, sum, total = 0;
                        const uint64_t *b;
                        size_t size;

                        g_assert_cmpint(sd_bus_message_enter_container(reply, 'v', "(ttat)"), >, 0);
                        g_assert_cmpint(sd_bus_message_enter_container(reply, 'r', "ttat"), >, 0);
                        g_assert_cmpint(sd_bus_message_read(reply, "tt", &count, &sum), >, 0);
                        g_assert_cmpint(sd_bus_message_read_array(reply, 't', (const void **) &b, &size), >=, 0);
                        g_assert_cmpuint(size / sizeof(uint64_t), ==, 40);
                        for (size_t i = 0; i < size / sizeof(uint64_t); i++)
                                total += b[i];
                        g_assert_cmpuint(total, ==, count);
                        if (g_str_equal(key, "wait_time_usec")) {
                                ret->wait_count = count;
                                ret->wait_nonzero = count - b[0];
                        } else if (g_str_equal(key, "hold_time_usec"))
                                ret->hold_count = count;
                        g_assert_cmpint(sd_bus_message_exit_container(reply), >, 0);
                        g_assert_cmpint(sd_bus_message_exit_container(reply), >, 0);
                } else {
                        const char *path;
                        uint64_t waits;

                        g_assert_cmpstr(contents, ==, "a(st)");
                        g_assert_cmpint(sd_bus_message_enter_container(reply, 'v', "a(st)"), >, 0);
                        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "(st)"), >, 0);
                        while (sd_bus_message_read(reply, "(st)", &path, &waits) > 0)
                                if (!ret->top_path) {
                                        ret->top_path = g_strdup(path);
                                        ret->top_waits = waits;
                                } else
                                        /* Most waited-for first. */
                                        g_assert_cmpuint(waits, <=, ret->top_waits);
                        g_assert_cmpint(sd_bus_message_exit_container(reply), >, 0);
                        g_assert_cmpint(sd_bus_message_exit_container(reply), >, 0);
                }
                g_assert_cmpint(sd_bus_message_exit_container(reply), >, 0);
        }
        sd_bus_message_unref(reply);
}

static void acquire_one_async(sd_bus *bus, AsyncCall *call, const char *path, uint64_t timeout_usec) {
        acquire_async(bus, call, &(AcquireArgs) {
                .paths = (const char *const[]) { path, NULL },
                .timeout_usec = timeout_usec,
        });
}

/* Runs through every event the counters count, and checks each moved as it should. */
static void make_history(HarnessFixture *f) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h), *c = harness_connect(&f->h);
        g_autofree char *x = NULL, *x2 = NULL, *y = NULL, *bx = NULL, *cz = NULL;
        AsyncCall waits = {}, times_out = {}, refused = {}, cycle = {}, leased = {};
        sd_bus_error error = SD_BUS_ERROR_NULL;
        g_auto(Stats) s0 = {}, s = {};
        sd_bus_message *forced = NULL;
        uint32_t code;

        get_stats(a, &s0);
        g_assert_cmpuint(stat_get(&s0, "grants"), ==, 0);
        g_assert_cmpuint(s0.wait_count, ==, 0);
        g_assert_null(s0.top_path);

        /* A grant at once, a wait behind it, and a grant on release after a wait. */
        x = acquire_ok(a, PATHS("stats/x"), NULL);
        acquire_one_async(b, &waits, "stats/x", 30 * SEC);
        acquire_one_async(c, &times_out, "stats/x", 200 * (SEC / 1000));
        harness_pump_until(&f->h, &times_out.done, 5000);
        assert_reply_error(times_out.reply, "org.pylocker.Locker.Error.Timeout");
        g_usleep(20 * 1000);
        g_assert_cmpint(release(a, x, NULL), ==, 1);
        harness_pump_until(&f->h, &waits.done, 5000);
        bx = reply_lock_id(waits.reply, NULL);

        /* A nonblocking try on a taken path counts as a timeout, and waits for nothing. */
        acquire_fails(c, &(AcquireArgs) { .paths = PATHS("stats/x"), .nonblocking = true },
                      "org.pylocker.Locker.Error.Timeout");

        /* A lease that runs out. */
        acquire_async(c, &leased, &(AcquireArgs) { .paths = PATHS("stats/leased"), .ttl_usec = 100 * (SEC / 1000) });
        harness_pump_until(&f->h, &leased.done, 5000);
        cz = reply_lock_id(leased.reply, NULL);
        harness_pump_for(&f->h, 400);

        /* A force-release (the bus owner's user may manage on a session bus). */
        g_assert_cmpint(locker_call_method(a, "ForceRelease", &error, &forced, "s", bx), >=, 0);
        g_assert_cmpint(sd_bus_message_read(forced, "u", &code), >, 0);
        g_assert_cmpuint(code, ==, 1);
        sd_bus_message_unref(forced);

        /* A deadlock refused: a holds x and waits for y, b holds y and asks for x. */
        x2 = acquire_ok(a, PATHS("stats/x"), NULL);
        y = acquire_ok(b, PATHS("stats/y"), NULL);
        acquire_one_async(a, &cycle, "stats/y", 30 * SEC);
        acquire_one_async(b, &refused, "stats/x", 30 * SEC);
        harness_pump_until(&f->h, &refused.done, 5000);
        assert_reply_error(refused.reply, "org.pylocker.Locker.Error.Deadlock");
        g_assert_cmpint(release(b, y, NULL), ==, 1);
        harness_pump_until(&f->h, &cycle.done, 5000);
        g_free(reply_lock_id(cycle.reply, NULL));

        get_stats(a, &s);
        /* x, x after waiting, leased, x again, y, y after waiting. */
        g_assert_cmpuint(stat_get(&s, "grants"), ==, 6);
        g_assert_cmpuint(stat_get(&s, "waits"), ==, 3);
        g_assert_cmpuint(stat_get(&s, "timeouts"), ==, 2);
        g_assert_cmpuint(stat_get(&s, "expiries"), ==, 1);
        g_assert_cmpuint(stat_get(&s, "force_releases"), ==, 1);
        g_assert_cmpuint(stat_get(&s, "deadlocks"), ==, 1);
        g_assert_cmpuint(stat_get(&s, "releases"), ==, 2);
        g_assert_cmpuint(stat_get(&s, "denials"), ==, 0);
        g_assert_cmpuint(stat_get(&s, "locks"), ==, 2);
        g_assert_cmpuint(stat_get(&s, "waiters"), ==, 0);
        g_assert_cmpuint(stat_get(&s, "clients"), ==, 3);
        g_assert_cmpuint(stat_get(&s, "clients_bus"), ==, 3);
        g_assert_cmpuint(stat_get(&s, "connections_bus"), >=, 3);
        g_assert_cmpuint(stat_get(&s, "connections_bridge"), ==, 0);
        g_assert_cmpuint(stat_get(&s, "uptime_usec"), >, 0);
        /* Every grant has a wait time, two of them more than nothing; every ended lock a hold time. */
        g_assert_cmpuint(s.wait_count, ==, 6);
        g_assert_cmpuint(s.wait_nonzero, ==, 2);
        g_assert_cmpuint(s.hold_count, ==, 4);
        /* x was waited for twice (once in vain), y and nothing else once. */
        g_assert_cmpstr(s.top_path, ==, "stats/x");
        g_assert_cmpuint(s.top_waits, ==, 2);

        /* A client gone: the gauge follows. */
        harness_disconnect(&f->h, c);
        harness_sync(&f->h);
        stats_clear(&s);
        get_stats(a, &s);
        g_assert_cmpuint(stat_get(&s, "clients"), ==, 2);

        async_call_clear(&waits);
        async_call_clear(&times_out);
        async_call_clear(&refused);
        async_call_clear(&cycle);
        async_call_clear(&leased);
        sd_bus_error_free(&error);
}

static void test_counters(HarnessFixture *f, gconstpointer data) {
        make_history(f);
}

static JsonNode *parse_json(const char *text) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) error = NULL;

        g_assert_true(json_parser_load_from_data(parser, text, -1, &error));
        g_assert_no_error(error);
        return json_node_copy(json_parser_get_root(parser));
}

static void test_pylockctl_output(HarnessFixture *f, gconstpointer data) {
        g_autofree char *text = NULL, *pretty = NULL, *shorter = NULL, *om = NULL, *err = NULL, *checked = NULL;
        g_autofree char *dir = g_dir_make_tmp("pylockctl-stats-XXXXXX", NULL);
        g_autofree char *file = g_build_filename(dir, "pylocker.prom", NULL);
        g_autofree char *check = g_test_build_filename(G_TEST_DIST, "cli", "check-openmetrics.py", NULL);
        g_autofree char *file_text = NULL, *usage = NULL;
        g_autoptr(JsonNode) root = NULL;
        JsonObject *o, *wait;
        JsonArray *contended;
        int status;

        make_history(f);

        /* Text: the JSON's words, as labels. */
        g_assert_cmpint(pylockctl_run(&f->h, &text, NULL, "stats", NULL), ==, 0);
        g_assert_nonnull(strstr(text, "Grants: 6\n"));
        g_assert_nonnull(strstr(text, "Force releases: 1\n"));
        g_assert_nonnull(strstr(text, "Deadlocks: 1\n"));
        g_assert_nonnull(strstr(text, "Connections bridge: 0\n"));
        g_assert_nonnull(strstr(text, "Queued bytes: "));
        g_assert_nonnull(strstr(text, "Wait time: count 6,"));
        g_assert_nonnull(strstr(text, "Hold time: count 4,"));
        g_assert_nonnull(strstr(text, "Contended paths:\n"));
        g_assert_nonnull(strstr(text, "2  stats/x\n"));

        /* JSON, pretty and short alike. */
        g_assert_cmpint(pylockctl_run(&f->h, &pretty, NULL, "stats", "--json", NULL), ==, 0);
        g_assert_cmpint(pylockctl_run(&f->h, &shorter, NULL, "stats", "--json=short", NULL), ==, 0);
        /* Short: one line. */
        g_assert_true(g_str_has_suffix(shorter, "\n"));
        g_assert_null(memchr(shorter, '\n', strlen(shorter) - 1));
        g_assert_cmpuint(strlen(pretty), >, strlen(shorter));
        root = parse_json(shorter);
        o = json_node_get_object(root);
        g_assert_cmpint(json_object_get_int_member(o, "grants"), ==, 6);
        g_assert_cmpint(json_object_get_int_member(o, "force_releases"), ==, 1);
        g_assert_cmpint(json_object_get_int_member(o, "expiries"), ==, 1);
        g_assert_cmpint(json_object_get_int_member(o, "timeouts"), ==, 2);
        g_assert_true(json_object_has_member(o, "queued_bytes"));
        wait = json_object_get_object_member(o, "wait_time_usec");
        g_assert_cmpint(json_object_get_int_member(wait, "count"), ==, 6);
        g_assert_cmpuint(json_array_get_length(json_object_get_array_member(wait, "buckets")), >=, 2);
        contended = json_object_get_array_member(o, "contended_paths");
        g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(contended, 0), "path"), ==,
                        "stats/x");
        g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(contended, 0), "waits"), ==, 2);
        /* Every number of the JSON is a line of the text, under the same words. */
        {
                g_autoptr(GList) members = json_object_get_members(o);

                for (GList *m = members; m; m = m->next) {
                        const char *key = m->data;
                        g_autofree char *label = NULL;

                        if (!JSON_NODE_HOLDS_VALUE(json_object_get_member(o, key)))
                                continue;
                        label = g_strdelimit(g_strdup(key), "_", ' ');
                        label[0] = g_ascii_toupper(label[0]);
                        if (g_str_has_suffix(label, " usec"))
                                label[strlen(label) - 5] = 0;
                        g_assert_nonnull(strstr(text, label));
                }
        }

        /* OpenMetrics, printed and written atomically to a file: valid, and the same. */
        g_assert_cmpint(pylockctl_run(&f->h, &om, NULL, "stats", "--openmetrics", NULL), ==, 0);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "stats", "--openmetrics", "--output", file, NULL), ==, 0);
        g_assert_true(g_file_get_contents(file, &file_text, NULL, NULL));
        g_assert_true(g_str_has_suffix(file_text, "# EOF\n"));
        g_assert_true(g_spawn_sync(NULL, (char *[]) { (char *) "python3", check, file, NULL }, NULL,
                                   G_SPAWN_SEARCH_PATH, NULL, NULL, &checked, &err, &status, NULL));
        if (!g_spawn_check_wait_status(status, NULL))
                g_error("%s", err);
        g_assert_nonnull(strstr(checked, "pylocker_grants_total 6\n"));
        g_assert_nonnull(strstr(checked, "pylocker_force_releases_total 1\n"));
        g_assert_nonnull(strstr(checked, "pylocker_connections_total{transport=\"bridge\"} 0\n"));
        g_assert_nonnull(strstr(checked, "pylocker_wait_time_seconds_count 6\n"));
        g_assert_nonnull(strstr(checked, "pylocker_hold_time_seconds_bucket{le=\"+Inf\"} 4\n"));
        g_assert_nonnull(strstr(checked, "pylocker_contended_path_waits{path=\"stats/x\"} 2\n"));
        g_assert_nonnull(strstr(om, "pylocker_grants_total 6\n"));
        g_assert_nonnull(strstr(om, "# TYPE pylocker_queued_bytes gauge\n# UNIT pylocker_queued_bytes bytes\n"));
        g_assert_nonnull(strstr(checked, "pylocker_queued_bytes "));

        /* Both or neither. */
        g_assert_cmpint(pylockctl_run(&f->h, NULL, &usage, "stats", "--openmetrics", "--json", NULL), ==, 64);
        g_assert_nonnull(strstr(usage, "exclude each other"));

        (void) unlink(file);
        (void) rmdir(dir);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        harness_test_add("/stats/counters", NULL, test_counters);
        harness_test_add("/stats/pylockctl", NULL, test_pylockctl_output);

        return g_test_run();
}
