/* pylockctl in systemd's conventions, against a real pylockerd: --json=pretty|short|off and snake_case
 * keys in every verb, the same words in text and JSON, --no-legend, the pager and --no-pager, usage
 * errors (exit 64, one "pylockctl: " line), --user without a session bus, and the listing the shell
 * completions ask for. */
#undef G_DISABLE_ASSERT
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "cli-test-util.h"

typedef struct Fixture {
        Harness h;
        PylockerLocker *l;
        Child child;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        harness_start(&f->h, data);
        f->l = test_locker_open(&f->h, "test-holder", NULL);
        f->child = (Child) CHILD_INIT;
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        child_clear(&f->child);
        pylocker_locker_unref(f->l);
        harness_stop(&f->h);
}

static JsonNode *parse_json(const char *text) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) error = NULL;

        g_assert_true(json_parser_load_from_data(parser, text, -1, &error));
        g_assert_no_error(error);
        return json_node_copy(json_parser_get_root(parser));
}

static unsigned count_lines(const char *text) {
        unsigned n = 0;

        for (const char *p = text; *p; p++)
                n += *p == '\n';
        return n;
}

/* Every key of every object in the node is snake_case. */
static void assert_snake_case(JsonNode *node) {
        if (JSON_NODE_HOLDS_ARRAY(node)) {
                JsonArray *a = json_node_get_array(node);

                for (guint i = 0; i < json_array_get_length(a); i++)
                        assert_snake_case(json_array_get_element(a, i));
        } else if (JSON_NODE_HOLDS_OBJECT(node)) {
                g_autoptr(GList) members = json_object_get_members(json_node_get_object(node));

                for (GList *m = members; m; m = m->next) {
                        const char *key = m->data;

                        g_assert_cmpuint(strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_"), ==, strlen(key));
                        assert_snake_case(json_object_get_member(json_node_get_object(node), key));
                }
        }
}

static void test_json_modes(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autoptr(PylockerLock) held = NULL;
        const char *const verbs[][3] = {
                { "locks", NULL },
                { "clients", NULL },
                { "status", NULL },
                { "publish", "--no-self", "m" },
        };

        g_assert_cmpint(pylocker_locker_acquire(f->l, PATHS("/j1", "/j2"), NULL, &held, &error), ==, 0);

        for (size_t v = 0; v < G_N_ELEMENTS(verbs); v++) {
                g_autofree char *bare = NULL, *pretty = NULL, *shrt = NULL, *global = NULL, *off = NULL;
                g_autoptr(JsonNode) node = NULL;

                g_test_message("verb %s", verbs[v][0]);
                /* A bare --json is pretty, in every verb that prints data (publish too). */
                g_assert_cmpint(pylockctl_run(&f->h, &bare, NULL, verbs[v][0], "--json", verbs[v][1], verbs[v][2],
                                              NULL), ==, 0);
                g_assert_cmpint(pylockctl_run(&f->h, &pretty, NULL, verbs[v][0], "--json=pretty", verbs[v][1],
                                              verbs[v][2], NULL), ==, 0);
                g_assert_cmpint(pylockctl_run(&f->h, &shrt, NULL, verbs[v][0], "--json=short", verbs[v][1],
                                              verbs[v][2], NULL), ==, 0);
                g_assert_cmpint(pylockctl_run(&f->h, &global, NULL, "--json=short", verbs[v][0], verbs[v][1],
                                              verbs[v][2], NULL), ==, 0);
                g_assert_cmpint(pylockctl_run(&f->h, &off, NULL, "--json", verbs[v][0], "--json=off", verbs[v][1],
                                              verbs[v][2], NULL), ==, 0);
                g_assert_cmpint(count_lines(bare), >, 1);
                g_assert_cmpint(count_lines(pretty), >, 1);
                g_assert_cmpint(count_lines(shrt), ==, 1);
                g_assert_cmpint(count_lines(global), ==, 1);
                g_assert_false(g_str_has_prefix(off, "{") || g_str_has_prefix(off, "["));

                node = parse_json(pretty);
                assert_snake_case(node);
                g_clear_pointer(&node, json_node_unref);
                node = parse_json(shrt);
                assert_snake_case(node);
        }

        /* listen streams: one object a line by default, indented when asked. */
        {
                g_autofree char *line = NULL;
                g_autoptr(JsonNode) node = NULL;

                child_spawn_pylockctl(&f->child, &f->h, NULL, "listen", "--json", "--count", "1", "--name", "jl",
                                      NULL);
                while (pylockctl_run(&f->h, NULL, NULL, "publish", "--to", "jl", "--no-self", "hi", NULL) != 0)
                        g_usleep(10 * 1000);
                line = child_read_line(&f->child, 10000);
                g_assert_cmpint(child_wait(&f->child, 10000), ==, 0);
                node = parse_json(line);
                assert_snake_case(node);
                g_assert_cmpstr(json_object_get_string_member(json_node_get_object(node), "message"), ==, "hi");
                child_clear(&f->child);

                child_spawn_pylockctl(&f->child, &f->h, NULL, "listen", "--json=pretty", "--count", "1", "--name",
                                      "jl", NULL);
                while (pylockctl_run(&f->h, NULL, NULL, "publish", "--to", "jl", "--no-self", "hi", NULL) != 0)
                        g_usleep(10 * 1000);
                g_free(line);
                line = child_read_line(&f->child, 10000);
                g_assert_cmpstr(line, ==, "{");
        }

        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "locks", "--json=yaml", NULL), ==, 64);
}

static void test_same_words(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autoptr(PylockerLock) held = NULL;
        g_autofree char *text = NULL, *json = NULL, *socket = harness_direct_socket_path(&f->h);
        g_autofree char *direct_text = NULL, *direct_json = NULL;
        g_autoptr(JsonNode) node = NULL, direct_node = NULL;
        PylockerAcquireOptions options = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        JsonObject *lock;

        /* status: the connection is one word in both. */
        g_assert_cmpint(pylockctl_run(&f->h, &text, NULL, "status", NULL), ==, 0);
        g_assert_cmpint(pylockctl_run(&f->h, &json, NULL, "status", "--json", NULL), ==, 0);
        g_assert_nonnull(strstr(text, "Connection: bus\n"));
        node = parse_json(json);
        g_assert_cmpstr(json_object_get_string_member(json_node_get_object(node), "connection"), ==, "bus");
        g_assert_cmpint(pylockctl_run(&f->h, &direct_text, NULL, "--private-socket", socket, "status", NULL), ==, 0);
        g_assert_cmpint(pylockctl_run(&f->h, &direct_json, NULL, "--private-socket", socket, "status", "--json", NULL),
                        ==, 0);
        g_assert_nonnull(strstr(direct_text, "Connection: direct\n"));
        direct_node = parse_json(direct_json);
        g_assert_cmpstr(json_object_get_string_member(json_node_get_object(direct_node), "connection"), ==, "direct");
        g_assert_cmpint(json_object_get_int_member(json_node_get_object(direct_node), "lock_count"), ==, 0);

        /* locks: the mode is "shared" or "exclusive" in both. */
        options.flags = PYLOCKER_ACQUIRE_SHARED;
        g_assert_cmpint(pylocker_locker_acquire_path(f->l, "/s", &options, &held, &error), ==, 0);
        g_clear_pointer(&text, g_free);
        g_clear_pointer(&json, g_free);
        g_clear_pointer(&node, json_node_unref);
        g_assert_cmpint(pylockctl_run(&f->h, &text, NULL, "locks", NULL), ==, 0);
        g_assert_cmpint(pylockctl_run(&f->h, &json, NULL, "locks", "--json", NULL), ==, 0);
        g_assert_nonnull(strstr(text, "  shared  "));
        node = parse_json(json);
        lock = json_array_get_object_element(json_node_get_array(node), 0);
        g_assert_cmpstr(json_object_get_string_member(lock, "mode"), ==, "shared");
        g_assert_true(json_object_get_boolean_member(lock, "shared"));
}

static void test_no_legend(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autoptr(PylockerLock) held = NULL;
        g_autofree char *empty = NULL, *out = NULL, *global = NULL, *clients = NULL;

        g_assert_cmpint(pylockctl_run(&f->h, &empty, NULL, "locks", "--no-legend", NULL), ==, 0);
        g_assert_cmpstr(empty, ==, "");

        g_assert_cmpint(pylocker_locker_acquire_path(f->l, "/nl", NULL, &held, &error), ==, 0);
        g_assert_cmpint(pylockctl_run(&f->h, &out, NULL, "locks", "--no-legend", NULL), ==, 0);
        g_assert_cmpint(pylockctl_run(&f->h, &global, NULL, "--no-legend", "locks", NULL), ==, 0);
        g_assert_true(g_str_has_prefix(out, pylocker_lock_get_id(held)));
        g_assert_cmpuint(count_lines(out), ==, 1);
        g_assert_cmpstr(global, ==, out);

        g_assert_cmpint(pylockctl_run(&f->h, &clients, NULL, "clients", "--no-legend", NULL), ==, 0);
        g_assert_null(strstr(clients, "CLIENT ID"));
        g_assert_nonnull(strstr(clients, "test-holder"));
}

/* locks on a terminal (a pty from script(1)): paged through $PYLOCKCTL_PAGER unless --no-pager. */
static void test_pager(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autoptr(PylockerLock) held = NULL;

        g_assert_cmpint(pylocker_locker_acquire_path(f->l, "/paged", NULL, &held, &error), ==, 0);
        for (int no_pager = 0; no_pager <= 1; no_pager++) {
                g_autofree char *q_ctl = g_shell_quote(g_getenv("PYLOCKCTL"));
                g_autofree char *q_addr = g_shell_quote(f->h.bus_address);
                g_autofree char *cmd = g_strdup_printf("PYLOCKCTL_PAGER='sed s/^/paged:/' %s --address %s %s locks",
                                                       q_ctl, q_addr, no_pager ? "--no-pager" : "");
                g_autofree char *out = NULL;
                g_autoptr(GError) gerror = NULL;
                int status;

                g_assert_true(g_spawn_sync(NULL, (char **) (const char *[]) { "script", "-qec", cmd, "/dev/null", NULL },
                                           NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                                           test_child_die_with_parent, NULL, &out, NULL, &status, &gerror));
                g_assert_no_error(gerror);
                g_test_message("terminal: %s", out);
                g_assert_cmpint(test_exit_code(status), ==, 0);
                g_assert_nonnull(strstr(out, pylocker_lock_get_id(held)));
                if (no_pager)
                        g_assert_null(strstr(out, "paged:"));
                else
                        g_assert_nonnull(strstr(out, "paged:LOCK ID"));
        }

        /* Not a terminal: never paged. */
        {
                g_autofree char *out = NULL;

                g_assert_cmpint(pylockctl_run_env((const char *const[]) { "PYLOCKCTL_PAGER=sed s/^/paged:/", NULL },
                                                  &out, NULL, "--address", f->h.bus_address, "locks", NULL), ==, 0);
                g_assert_null(strstr(out, "paged:"));
        }
}

static void test_usage_errors(Fixture *f, gconstpointer data) {
        const char *const cases[][8] = {
                { NULL },
                { "no-such-verb", NULL },
                { "--no-such-option", "status", NULL },
                { "--address", NULL },
                { "--json=yaml", "locks", NULL },
                { "locks", "--no-such-option", NULL },
                { "locks", "extra", NULL },
                { "locks", "--no-legend=yes", NULL },
                { "status", "-x", NULL },
                { "run", "--no-such-option", "/p", "--", "true", NULL },
                { "run", "--timeout", NULL },
                { "run", "--timeout", "0", "/p", "--", "true", NULL },
                { "run", "--ttl", "infinity", "/p", "--", "true", NULL },
                { "run", "--name", "", "/p", "--", "true", NULL },
                { "run", "", "--", "true", NULL },
                { "run", "/p", "", "--", "true", NULL },
                { "run", "\xff", "--", "true", NULL },
                { "run", "/p", NULL },
                { "hold", NULL },
                { "hold", "", NULL },
                { "acquire", "", NULL },
                { "acquire", "--pid", "me", "/p", NULL },
                { "release", "xyz", NULL },
                { "release", NULL },
                { "force-release", "XYZ", NULL },
                { "force-release", "0123456789abcdef0123456789ABCDEF", NULL },
                { "publish", NULL },
                { "listen", "--count", "0", NULL },
                { "file-lock", "--wait", NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                const char *const *c = cases[i];
                g_autofree char *err = NULL;
                g_auto(GStrv) lines = NULL;

                g_assert_cmpint(pylockctl_run(&f->h, NULL, &err, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]), ==, 64);
                /* One message, with pylockctl's prefix and never getopt's. */
                lines = g_strsplit(err, "\n", -1);
                g_assert_cmpuint(g_strv_length(lines), ==, 2);
                g_assert_true(g_str_has_prefix(lines[0], "pylockctl: "));
                g_assert_cmpstr(lines[1], ==, "");
        }
        /* Nothing was locked by any of them. */
        g_assert_cmpuint(test_count_locks(f->l), ==, 0);

        /* A malformed id is a usage error for someone pylockerd would not let manage, too; a well-formed
         * one gets as far as the daemon, which refuses. */
        if (getuid() != 0) {
                g_test_message("not root: the other user's case is not tried");
                return;
        }
        for (int well_formed = 0; well_formed <= 1; well_formed++) {
                g_autofree char *q_ctl = g_shell_quote(g_getenv("PYLOCKCTL"));
                g_autofree char *q_addr = g_shell_quote(f->h.bus_address);
                g_autofree char *cmd = g_strdup_printf("setpriv --reuid=65534 --regid=65534 --clear-groups %s "
                                                       "--address %s force-release %s", q_ctl, q_addr,
                                                       well_formed ? "0123456789abcdef0123456789abcdef" : "XYZ");
                g_autofree char *err = NULL;
                int status;

                g_assert_true(g_spawn_command_line_sync(cmd, NULL, &err, &status, NULL));
                g_test_message("as nobody: %s", err);
                g_assert_cmpint(test_exit_code(status), ==, well_formed ? 1 : 64);
                g_assert_true(g_str_has_prefix(err, "pylockctl: "));
        }
}

static void test_user_without_session_bus(Fixture *f, gconstpointer data) {
        g_autofree char *err = NULL, *err2 = NULL;

        g_assert_cmpint(pylockctl_run_env((const char *const[]) { "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", NULL },
                                          NULL, &err, "--user", "status", NULL), ==, 1);
        g_assert_true(g_str_has_prefix(err, "pylockctl: No session bus for --user"));
        g_assert_null(strstr(err, "No medium found"));

        g_assert_cmpint(pylockctl_run_env((const char *const[]) { "DBUS_SESSION_BUS_ADDRESS",
                                                                  "XDG_RUNTIME_DIR=/nonexistent", NULL },
                                          NULL, &err2, "--user", "locks", NULL), ==, 1);
        g_assert_nonnull(strstr(err2, "nothing listens on /nonexistent/bus"));
}

static char **complete(Fixture *f, const char *what, const char *verb) {
        g_autofree char *out = NULL;
        g_auto(GStrv) lines = NULL;
        GPtrArray *values = g_ptr_array_new_with_free_func(g_free);

        g_assert_cmpint(pylockctl_run(&f->h, &out, NULL, "__complete", what, verb, NULL), ==, 0);
        lines = g_strsplit(out, "\n", -1);
        for (size_t i = 0; lines[i]; i++)
                if (lines[i][0])
                        g_ptr_array_add(values, g_strdup(lines[i]));
        g_ptr_array_add(values, NULL);
        return (char **) g_ptr_array_free(values, FALSE);
}

static void test_complete_listing(Fixture *f, gconstpointer data) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autoptr(PylockerLock) held = NULL;
        g_auto(GStrv) verbs = complete(f, "verbs", NULL), run_options = complete(f, "options", "run");
        g_auto(GStrv) globals = complete(f, "options", NULL), run_args = complete(f, "args", "run");
        g_auto(GStrv) release_args = complete(f, "args", "release"), ids = NULL, paths = NULL, clients = NULL;
        g_autofree char *help = NULL, *id_line = NULL;

        /* Every verb of --help, and not the hidden one. */
        g_assert_cmpint(pylockctl_run(&f->h, &help, NULL, "--help", NULL), ==, 0);
        g_assert_cmpuint(g_strv_length(verbs), ==, 12);
        for (size_t i = 0; verbs[i]; i++) {
                g_autofree char *name = g_strndup(verbs[i], strcspn(verbs[i], "\t"));
                g_autofree char *in_help = g_strdup_printf("\n  %s ", name);

                g_assert_nonnull(strstr(help, in_help));
        }
        g_assert_null(strstr(help, "__complete"));

        /* Options with the kind of their argument. */
        g_assert_true(g_strv_contains((const char *const *) run_options,
                                      "--timeout\tspan\tWait at most S for the lock (default: until granted;"));
        g_assert_true(g_strv_contains((const char *const *) run_options,
                                      "--name\ttext\tRegister with pylockerd as NAME, which 'pylockctl locks'"));
        g_assert_true(g_strv_contains((const char *const *) globals, "--json\tjson-mode?\tPrint data as JSON: "
                                      "pretty (the default), short"));
        g_assert_true(g_strv_contains((const char *const *) globals, "--address\taddress\tTalk to pylockerd on this "
                                      "D-Bus address"));
        g_assert_cmpstr(run_args[0], ==, "lock-path\t[OPTIONS] PATH... -- CMD [ARG...]");
        g_assert_cmpstr(run_args[1], ==, "command\tafter --");
        g_assert_cmpstr(release_args[0], ==, "lock-id\tLOCK_ID");
        g_assert_null(release_args[1]);

        /* From pylockerd: lock ids with their paths, locked paths, client ids and names. */
        g_assert_cmpint(pylocker_locker_acquire(f->l, PATHS("/c1", "/c2"), NULL, &held, &error), ==, 0);
        ids = complete(f, "lock-ids", NULL);
        paths = complete(f, "lock-paths", NULL);
        clients = complete(f, "clients", NULL);
        id_line = g_strdup_printf("%s\t/c1 /c2", pylocker_lock_get_id(held));
        g_assert_cmpstr(ids[0], ==, id_line);
        g_assert_null(ids[1]);
        g_assert_cmpstr(paths[0], ==, "/c1\ttest-holder");
        g_assert_cmpstr(paths[1], ==, "/c2\ttest-holder");
        {
                const char *client_id = pylocker_locker_get_client_id(f->l);
                g_autofree char *by_name = g_strdup_printf("test-holder\t%s", client_id);
                g_autofree char *by_id = g_strdup_printf("%s\ttest-holder", client_id);

                g_assert_true(g_strv_contains((const char *const *) clients, by_name));
                g_assert_true(g_strv_contains((const char *const *) clients, by_id));
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
        ADD("/pylockctl/output/json-modes", test_json_modes);
        ADD("/pylockctl/output/same-words", test_same_words);
        ADD("/pylockctl/output/no-legend", test_no_legend);
        ADD("/pylockctl/output/pager", test_pager);
        ADD("/pylockctl/usage-errors", test_usage_errors);
        ADD("/pylockctl/user-without-session-bus", test_user_without_session_bus);
        ADD("/pylockctl/complete-listing", test_complete_listing);
        return g_test_run();
}
