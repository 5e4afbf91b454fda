/* Test harness: a cluster of real etcd members on 127.0.0.1, started and stopped by PID. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "etcd-harness.h"

#define MAX_MEMBERS 3

typedef struct Member {
        char *name;
        char *data_dir;
        char *log_file;
        char *client_url;
        char *peer_url;
        GPid pid;
} Member;

struct EtcdCluster {
        char *tmpdir;
        char *token;
        char *initial_cluster;
        unsigned n;
        Member members[MAX_MEMBERS];
};

static size_t write_to_string(char *data, size_t size, size_t n, void *userdata) {
        g_string_append_len(userdata, data, (gssize) (size * n));
        return size * n;
}

char *etcd_cluster_post(const char *url, const char *path, const char *body) {
        g_autofree char *full = g_strconcat(url, path, NULL);
        g_autoptr(GString) out = g_string_new(NULL);
        CURL *easy = curl_easy_init();
        long status = 0;
        CURLcode r;

        g_assert_nonnull(easy);
        (void) curl_easy_setopt(easy, CURLOPT_URL, full);
        (void) curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
        (void) curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 2000L);
        (void) curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_to_string);
        (void) curl_easy_setopt(easy, CURLOPT_WRITEDATA, out);
        r = curl_easy_perform(easy);
        if (r == CURLE_OK)
                (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(easy);
        if (r != CURLE_OK || status != 200)
                return NULL;
        return g_string_free(g_steal_pointer(&out), FALSE);
}

static void show_logs(const EtcdCluster *c) {
        for (unsigned i = 0; i < c->n; i++) {
                g_autofree char *text = NULL;

                if (g_file_get_contents(c->members[i].log_file, &text, NULL, NULL))
                        g_printerr("---- %s ----\n%s\n", c->members[i].log_file, text);
        }
}

static void member_spawn(EtcdCluster *c, unsigned i, bool existing) {
        Member *m = &c->members[i];
        const char *argv[] = {
                "etcd",
                "--name", m->name,
                "--data-dir", m->data_dir,
                "--listen-client-urls", m->client_url,
                "--advertise-client-urls", m->client_url,
                "--listen-peer-urls", m->peer_url,
                "--initial-advertise-peer-urls", m->peer_url,
                "--initial-cluster", c->initial_cluster,
                "--initial-cluster-token", c->token,
                "--initial-cluster-state", existing ? "existing" : "new",
                "--heartbeat-interval", "100",
                "--election-timeout", "1000",
                "--max-txn-ops", "1024",
                NULL,
        };
        int fd = open(m->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        pid_t pid;

        g_assert_cmpint(fd, >=, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY);

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                (void) dup2(null, STDIN_FILENO);
                (void) dup2(fd, STDOUT_FILENO);
                (void) dup2(fd, STDERR_FILENO);
                execvp(argv[0], (char **) argv);
                _exit(127);
        }
        close(fd);
        m->pid = pid;
}

static bool member_healthy(const Member *m) {
        g_autofree char *full = g_strconcat(m->client_url, "/health", NULL);
        g_autoptr(GString) out = g_string_new(NULL);
        CURL *easy = curl_easy_init();
        long status = 0;
        CURLcode r;

        (void) curl_easy_setopt(easy, CURLOPT_URL, full);
        (void) curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 1000L);
        (void) curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_to_string);
        (void) curl_easy_setopt(easy, CURLOPT_WRITEDATA, out);
        r = curl_easy_perform(easy);
        if (r == CURLE_OK)
                (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(easy);
        return r == CURLE_OK && status == 200 && strstr(out->str, "\"true\"");
}

static void wait_healthy(EtcdCluster *c, unsigned i) {
        Member *m = &c->members[i];

        for (int waited = 0; waited < 20000; waited += 50) {
                int status;

                if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
                        m->pid = 0;
                        show_logs(c);
                        g_error("etcd member %s exited with %d", m->name, test_exit_code(status));
                }
                if (member_healthy(m))
                        return;
                g_usleep(50 * 1000);
        }
        show_logs(c);
        g_error("etcd member %s is not healthy after 20 s", m->name);
}

EtcdCluster *etcd_cluster_start(unsigned n) {
        g_autoptr(GString) initial = g_string_new(NULL);
        g_autoptr(GError) error = NULL;
        EtcdCluster *c;

        g_assert_cmpuint(n, >=, 1);
        g_assert_cmpuint(n, <=, MAX_MEMBERS);
        (void) curl_global_init(CURL_GLOBAL_DEFAULT);

        c = g_new0(EtcdCluster, 1);
        c->n = n;
        c->tmpdir = g_dir_make_tmp("etcd-test-XXXXXX", &error);
        g_assert_no_error(error);
        /* In memory: fsyncs on tmpfs cost nothing, which keeps elections fast. */
        if (g_file_test("/dev/shm", G_FILE_TEST_IS_DIR)) {
                g_autofree char *shm = g_build_filename("/dev/shm", strrchr(c->tmpdir, '/') + 1, NULL);

                g_assert_cmpint(g_rmdir(c->tmpdir), ==, 0);
                g_assert_cmpint(g_mkdir(shm, 0700), ==, 0);
                g_free(c->tmpdir);
                c->tmpdir = g_steal_pointer(&shm);
        }
        c->token = g_strdup_printf("test-%d-%s", (int) getpid(), strrchr(c->tmpdir, '-') + 1);

        for (unsigned i = 0; i < n; i++) {
                Member *m = &c->members[i];

                m->name = g_strdup_printf("m%u", i);
                m->data_dir = g_strdup_printf("%s/%s.etcd", c->tmpdir, m->name);
                m->log_file = g_strdup_printf("%s/%s.log", c->tmpdir, m->name);
                m->client_url = g_strdup_printf("http://127.0.0.1:%d", test_free_tcp_port(AF_INET));
                m->peer_url = g_strdup_printf("http://127.0.0.1:%d", test_free_tcp_port(AF_INET));
                g_string_append_printf(initial, "%s%s=%s", i > 0 ? "," : "", m->name, m->peer_url);
        }
        c->initial_cluster = g_strdup(initial->str);

        for (unsigned i = 0; i < n; i++)
                member_spawn(c, i, false);
        for (unsigned i = 0; i < n; i++)
                wait_healthy(c, i);
        return c;
}

static void remove_tree(const char *path) {
        g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
        const char *name;

        if (dir)
                while ((name = g_dir_read_name(dir))) {
                        g_autofree char *child = g_build_filename(path, name, NULL);

                        if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
                                remove_tree(child);
                        else
                                (void) g_unlink(child);
                }
        (void) g_rmdir(path);
}

void etcd_cluster_stop(EtcdCluster *c) {
        if (!c)
                return;

        for (unsigned i = 0; i < c->n; i++) {
                Member *m = &c->members[i];

                if (m->pid > 0) {
                        /* A stopped member (SIGSTOP) must be able to take its SIGTERM. */
                        (void) kill(m->pid, SIGCONT);
                        (void) kill(m->pid, SIGTERM);
                }
        }
        for (unsigned i = 0; i < c->n; i++) {
                Member *m = &c->members[i];

                if (m->pid > 0 && test_wait_status(m->pid, 5000) == -1)
                        test_kill_child(&m->pid);
                m->pid = 0;
        }
        remove_tree(c->tmpdir);

        for (unsigned i = 0; i < c->n; i++) {
                Member *m = &c->members[i];

                g_free(m->name);
                g_free(m->data_dir);
                g_free(m->log_file);
                g_free(m->client_url);
                g_free(m->peer_url);
        }
        g_free(c->tmpdir);
        g_free(c->token);
        g_free(c->initial_cluster);
        g_free(c);
}

unsigned etcd_cluster_size(const EtcdCluster *c) {
        return c->n;
}

char *etcd_cluster_endpoints(const EtcdCluster *c) {
        g_autoptr(GString) s = g_string_new(NULL);

        for (unsigned i = 0; i < c->n; i++)
                g_string_append_printf(s, "%s%s", i > 0 ? "," : "", c->members[i].client_url);
        return g_string_free(g_steal_pointer(&s), FALSE);
}

const char *etcd_cluster_member_url(const EtcdCluster *c, unsigned i) {
        g_assert_cmpuint(i, <, c->n);
        return c->members[i].client_url;
}

GPid etcd_cluster_member_pid(const EtcdCluster *c, unsigned i) {
        g_assert_cmpuint(i, <, c->n);
        return c->members[i].pid;
}

void etcd_cluster_kill_member(EtcdCluster *c, unsigned i) {
        g_assert_cmpuint(i, <, c->n);
        test_kill_child(&c->members[i].pid);
}

void etcd_cluster_restart_member(EtcdCluster *c, unsigned i) {
        g_assert_cmpuint(i, <, c->n);
        g_assert_cmpint(c->members[i].pid, ==, 0);
        member_spawn(c, i, true);
        wait_healthy(c, i);
}

static char *status_member(const char *body, char **ret_leader) {
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonObject *o, *header;

        if (!json_parser_load_from_data(parser, body, -1, NULL))
                return NULL;
        o = json_node_get_object(json_parser_get_root(parser));
        header = json_object_get_object_member(o, "header");
        if (!header)
                return NULL;
        *ret_leader = g_strdup(json_object_get_string_member_with_default(o, "leader", ""));
        return g_strdup(json_object_get_string_member_with_default(header, "member_id", ""));
}

int etcd_cluster_leader(const EtcdCluster *c) {
        for (unsigned i = 0; i < c->n; i++) {
                g_autofree char *body = NULL, *id = NULL, *leader = NULL;

                if (c->members[i].pid <= 0)
                        continue;
                body = etcd_cluster_post(c->members[i].client_url, "/v3/maintenance/status", "{}");
                if (!body)
                        continue;
                id = status_member(body, &leader);
                if (id && leader && strcmp(id, leader) == 0)
                        return (int) i;
        }
        return -1;
}
