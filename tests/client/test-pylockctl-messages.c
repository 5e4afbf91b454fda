/* pylockctl publish and listen against a real pylockerd: ids printed, errors and exit codes, one line
 * per message as text and JSON, flushed into a pipe, and the end on a count or a signal. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "client-util.h"

typedef struct Fixture {
        Harness h;
        PylockerLocker *l;      /* "tester", on the bus */
        GPid pid;               /* a pylockctl listen, killed by PID if left */
        int out_fd;             /* its stdout */
        GString *out;           /* what was read from it */
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        harness_start(&f->h, data);
        f->l = test_locker_open(&f->h, "tester", NULL);
        f->pid = 0;
        f->out_fd = -1;
        f->out = g_string_new(NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        test_kill_child(&f->pid);
        if (f->out_fd >= 0)
                (void) close(f->out_fd);
        g_string_free(f->out, TRUE);
        pylocker_locker_unref(f->l);
        harness_stop(&f->h);
}




/* Starts pylockctl --address BUS listen ARGS... with its stdout on a pipe. */
static void spawn_listen(Fixture *f, ...) {
        g_autoptr(GPtrArray) argv = NULL;
        g_autoptr(GError) error = NULL;
        va_list ap;

        va_start(ap, f);
        argv = pylockctl_argv(&f->h, ap);
        va_end(ap);
        g_assert_true(g_spawn_async_with_pipes(NULL, (char **) argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                               test_child_die_with_parent, NULL, &f->pid, NULL, &f->out_fd, NULL,
                                               &error));
        g_assert_no_error(error);
}

/* Reads what the listener printed until it has n lines (or EOF), failing after timeout_ms. */
static void read_lines(Fixture *f, unsigned n, int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        for (;;) {
                struct pollfd pfd = { .fd = f->out_fd, .events = POLLIN };
                unsigned lines = 0;
                char buf[4096];
                ssize_t k;

                for (const char *p = f->out->str; (p = strchr(p, '\n')); p++)
                        lines++;
                if (lines >= n)
                        return;
                if (g_get_monotonic_time() > deadline)
                        g_error("only %u of %u lines within %d ms: '%s'", lines, n, timeout_ms, f->out->str);
                if (poll(&pfd, 1, 50) <= 0)
                        continue;
                k = read(f->out_fd, buf, sizeof(buf));
                g_assert_cmpint(k, >=, 0);
                if (k == 0)
                        return;         /* EOF */
                g_string_append_len(f->out, buf, k);
        }
}

/* Waits until a client with this name is registered; returns its id (g_free). */
static char *wait_client(Fixture *f, const char *name) {
        for (int i = 0; i < 1000; i++) {
                PylockerError error = PYLOCKER_ERROR_INIT;
                PylockerClientInfo *infos = NULL;
                char *id = NULL;
                size_t n = 0;

                g_assert_cmpint(pylocker_locker_list_clients(f->l, &infos, &n, &error), ==, 0);
                for (size_t k = 0; k < n && !id; k++)
                        if (strcmp(infos[k].name, name) == 0)
                                id = g_strdup(infos[k].client_id);
                pylocker_client_info_array_free(infos, n);
                if (id)
                        return id;
                g_usleep(10 * 1000);
        }
        g_error("no client named %s appeared", name);
}

static bool is_publication_id(const char *s) {
        if (strlen(s) != 32)
                return false;
        for (const char *p = s; *p; p++)
                if (!g_ascii_isxdigit(*p))
                        return false;
        return true;
}

static void test_listen_json_count(Fixture *f, gconstpointer data) {
        g_autofree char *listener = NULL, *out1 = NULL, *out2 = NULL;
        g_auto(GStrv) lines = NULL;
        const char *tricky = "two \"quoted\"\nlines\t\x01 \xc3\xa9";
        gint64 before = g_get_real_time();

        spawn_listen(f, "listen", "--count", "2", "--json", "--name", "json-listener", NULL);
        listener = wait_client(f, "json-listener");

        g_assert_cmpint(pylockctl_run(&f->h, &out1, NULL, "publish", "--to", "json-listener", "--no-self", "one", NULL), ==, 0);
        g_assert_cmpint(pylockctl_run(&f->h, &out2, NULL, "publish", "--to", listener, "--timeout", "60", "--no-self", tricky, NULL),
                        ==, 0);
        g_strchomp(out1);
        g_strchomp(out2);
        g_assert_true(is_publication_id(out1));
        g_assert_true(is_publication_id(out2));

        g_assert_cmpint(test_wait_exit(&f->pid, 20000), ==, 0);
        read_lines(f, 3, 5000);         /* to EOF: a third line must not come */
        g_assert_true(g_str_has_suffix(f->out->str, "\n"));
        lines = g_strsplit(f->out->str, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 3);
        g_assert_cmpstr(lines[2], ==, "");

        for (int i = 0; i < 2; i++) {
                g_autoptr(JsonParser) parser = json_parser_new();
                g_autoptr(GError) error = NULL;
                JsonObject *o;

                g_assert_true(json_parser_load_from_data(parser, lines[i], -1, &error));
                g_assert_no_error(error);
                g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
                o = json_node_get_object(json_parser_get_root(parser));
                g_assert_cmpuint(json_object_get_size(o), ==, 5);
                g_assert_cmpstr(json_object_get_string_member(o, "publication_id"), ==, i == 0 ? out1 : out2);
                /* When it arrived, as the text's first column says in local time. */
                g_assert_cmpint(json_object_get_int_member(o, "received_usec"), >=, before);
                g_assert_cmpint(json_object_get_int_member(o, "received_usec"), <=, g_get_real_time());
                g_assert_cmpstr(json_object_get_string_member(o, "message"), ==, i == 0 ? "one" : tricky);
                /* Sent by the publishing pylockctl, a bus client. */
                g_assert_true(g_str_has_prefix(json_object_get_string_member(o, "sender"), ":"));
                g_assert_cmpstr(json_object_get_string_member(o, "sender"), !=, listener);
                if (i == 0)
                        g_assert_cmpint(json_object_get_int_member(o, "expires_usec"), ==, 0);
                else {
                        g_assert_cmpint(json_object_get_int_member(o, "expires_usec"), >=,
                                        before + 60 * (gint64) SEC - 5 * (gint64) SEC);
                        g_assert_cmpint(json_object_get_int_member(o, "expires_usec"), <=,
                                        g_get_real_time() + 60 * (gint64) SEC + 5 * (gint64) SEC);
                }
        }
}

static void test_listen_human_escapes(Fixture *f, gconstpointer data) {
        g_autofree char *listener = NULL;
        g_autoptr(GRegex) regex = NULL;
        g_autofree char *expected = NULL, *sender = NULL;

        spawn_listen(f, "listen", "--count", "1", "--name", "human-listener", NULL);
        listener = wait_client(f, "human-listener");

        /* From the library, so the sender's id is known. */
        g_assert_cmpint(pylocker_locker_publish(f->l, "first\nsecond\\ \x1b[31m\r", PATHS("human-listener"), 0,
                                                PYLOCKER_PUBLISH_NOT_TO_SELF, NULL, NULL), ==, 1);
        g_assert_cmpint(test_wait_exit(&f->pid, 20000), ==, 0);
        read_lines(f, 2, 5000);

        sender = g_regex_escape_string(pylocker_locker_get_client_id(f->l), -1);
        expected = g_strdup_printf("^[0-9]{2}:[0-9]{2}:[0-9]{2} %s first\\\\nsecond\\\\\\\\ \\\\x1b\\[31m\\\\r\n$",
                                   sender);
        g_test_message("output: '%s', pattern '%s'", f->out->str, expected);
        regex = g_regex_new(expected, 0, 0, NULL);
        g_assert_nonnull(regex);
        g_assert_true(g_regex_match(regex, f->out->str, 0, NULL));
}

static void test_listen_until_signal(Fixture *f, gconstpointer data) {
        g_autofree char *unused = NULL;

        spawn_listen(f, "listen", NULL);
        /* Unnamed: it shows up as one more client. */
        for (int i = 0;; i++) {
                PylockerClientInfo *infos = NULL;
                size_t n = 0;

                g_assert_cmpint(pylocker_locker_list_clients(f->l, &infos, &n, NULL), ==, 0);
                pylocker_client_info_array_free(infos, n);
                if (n == 2)
                        break;
                g_assert_cmpint(i, <, 1000);
                g_usleep(10 * 1000);
        }

        /* A broadcast reaches a pure listener, and each line comes through the pipe as it is printed. */
        g_assert_cmpint(pylocker_locker_publish(f->l, "broadcast 1", NULL, 0, PYLOCKER_PUBLISH_NOT_TO_SELF, NULL,
                                                NULL), ==, 1);
        read_lines(f, 1, 10000);
        g_assert_nonnull(strstr(f->out->str, " broadcast 1\n"));
        g_assert_cmpint(pylocker_locker_publish(f->l, "broadcast 2", NULL, 0, PYLOCKER_PUBLISH_NOT_TO_SELF, NULL,
                                                NULL), ==, 1);
        read_lines(f, 2, 10000);
        g_assert_nonnull(strstr(f->out->str, " broadcast 2\n"));

        /* It takes what it printed out of its inbox: a unique publication is taken again. */
        g_assert_cmpint(pylocker_locker_publish(f->l, "broadcast 1", NULL, 0,
                                                PYLOCKER_PUBLISH_NOT_TO_SELF | PYLOCKER_PUBLISH_UNIQUE, NULL, NULL),
                        ==, 1);
        read_lines(f, 3, 10000);

        g_assert_cmpint(kill(f->pid, SIGTERM), ==, 0);
        g_assert_cmpint(test_wait_exit(&f->pid, 20000), ==, 0);

        spawn_listen(f, "listen", "--name", "interrupted", NULL);
        unused = wait_client(f, "interrupted");
        g_assert_cmpint(kill(f->pid, SIGINT), ==, 0);
        g_assert_cmpint(test_wait_exit(&f->pid, 20000), ==, 0);
}

static void test_publish(Fixture *f, gconstpointer data) {
        g_autofree char *out = NULL, *err = NULL, *socket = harness_direct_socket_path(&f->h);
        g_autoptr(JsonParser) parser = json_parser_new();
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerPublication *p = NULL;
        gint64 before = g_get_real_time();
        size_t n = 0;

        g_assert_cmpint(pylockctl_run(&f->h, &out, &err, "publish", "--to", "tester", "--timeout", "60", "--no-self", "hello", NULL),
                        ==, 0);
        g_strchomp(out);
        g_assert_true(is_publication_id(out));
        g_assert_cmpint(pylocker_locker_get_message(f->l, "hello", &p, &n, &error), ==, 1);
        g_assert_cmpstr(p[0].publication_id, ==, out);
        g_assert_cmpint(p[0].expires_usec, >=, before + 55 * (gint64) SEC);
        g_assert_cmpint(p[0].expires_usec, <=, g_get_real_time() + 65 * (gint64) SEC);
        g_assert_true(g_str_has_prefix(p[0].sender_id, ":"));
        pylocker_publication_array_free(p, n);

        /* --no-replace keeps both; the global options apply: this one comes over the direct socket,
         * and says so in JSON. */
        g_clear_pointer(&out, g_free);
        g_assert_cmpint(pylockctl_run(&f->h, &out, NULL, "--private-socket", socket, "--json", "publish", "--to", "tester",
                            "--no-replace", "--no-self", "hello", NULL), ==, 0);
        g_assert_true(json_parser_load_from_data(parser, out, -1, NULL));
        g_assert_true(is_publication_id(json_object_get_string_member(json_node_get_object(json_parser_get_root(parser)),
                                                                      "publication_id")));
        g_assert_cmpint(pylocker_locker_get_message(f->l, "hello", &p, &n, &error), ==, 2);
        g_assert_true(g_str_has_prefix(p[1].sender_id, "direct-"));
        pylocker_publication_array_free(p, n);

        /* --unique: refused by every receiver, exit 2. */
        g_clear_pointer(&err, g_free);
        g_clear_pointer(&out, g_free);
        g_assert_cmpint(pylockctl_run(&f->h, &out, &err, "publish", "--to", "tester", "--unique", "--no-self", "hello", NULL), ==, 2);
        g_assert_cmpstr(out, ==, "");
        g_assert_nonnull(strstr(err, "every receiver holds this message already"));
        g_assert_cmpint(pylocker_locker_get_message(f->l, "hello", &p, &n, &error), ==, 2);
        pylocker_publication_array_free(p, n);

        /* Usage errors. */
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "publish", NULL), ==, 64);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "publish", "a", "b", NULL), ==, 64);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "publish", "--timeout", "soon", "m", NULL), ==, 64);
        g_assert_cmpint(pylockctl_run(&f->h, NULL, NULL, "listen", "--count", "0", NULL), ==, 64);
}

static void test_publish_errors(Fixture *f, gconstpointer data) {
        g_autofree char *out = NULL, *err = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;

        /* An unknown receiver: nothing published to anyone, a clear message, exit 1. */
        g_assert_cmpint(pylockctl_run(&f->h, &out, &err, "publish", "--to", "tester", "--to", "unknown", "m", NULL), ==, 1);
        g_assert_cmpstr(out, ==, "");
        g_assert_true(g_str_has_prefix(err, "pylockctl: Not published: "));
        g_assert_nonnull(strstr(err, "'unknown'"));
        g_assert_cmpint(pylocker_locker_has_message(f->l, "m", &error), ==, 0);

        /* Nobody to deliver to: not an error, no id. */
        pylocker_locker_unref(f->l);
        f->l = NULL;
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        for (int i = 0;; i++) {
                int status = pylockctl_run(&f->h, &out, &err, "publish", "--no-self", "m", NULL);

                g_assert_cmpint(status, ==, 0);
                /* Until the daemon has seen the tester go, it is still a receiver. */
                if (strcmp(out, "") == 0)
                        break;
                g_assert_cmpint(i, <, 100);
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
                g_usleep(50 * 1000);
        }
        g_assert_nonnull(strstr(err, "Nobody to deliver to"));
        f->l = test_locker_open(&f->h, "tester", NULL);
}

static void test_publish_limits(Fixture *f, gconstpointer data) {
        g_autofree char *err = NULL, *big = g_strnfill(65, 'x');

        g_assert_cmpint(pylockctl_run(&f->h, NULL, &err, "publish", "--to", "tester", big, NULL), ==, 1);
        g_assert_nonnull(strstr(err, "longer than 64 bytes"));
}

int main(int argc, char *argv[]) {
        static const char *const small_limits[] = { "--max-message-size=64", NULL };

        g_test_init(&argc, &argv, NULL);

#define ADD(path, func, data) g_test_add(path, Fixture, data, fixture_setup, func, fixture_teardown)
        ADD("/pylockctl/listen/json-count", test_listen_json_count, NULL);
        ADD("/pylockctl/listen/human-escapes", test_listen_human_escapes, NULL);
        ADD("/pylockctl/listen/until-signal", test_listen_until_signal, NULL);
        ADD("/pylockctl/publish/delivers", test_publish, NULL);
        ADD("/pylockctl/publish/errors", test_publish_errors, NULL);
        ADD("/pylockctl/publish/limits", test_publish_limits, small_limits);
#undef ADD
        return g_test_run();
}
