/* What the tests of pylockctl's verbs share. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli-test-util.h"

void child_spawn_pylockctl(Child *c, Harness *h, const char *const *env, ...) {
        g_autoptr(GPtrArray) argv = NULL;
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) envp = g_get_environ();
        va_list ap;

        va_start(ap, env);
        argv = pylockctl_argv(h, ap);
        va_end(ap);
        for (const char *const *e = env; e && *e; e++) {
                g_autofree char *name = g_strndup(*e, strcspn(*e, "="));

                envp = g_environ_setenv(envp, name, strchr(*e, '=') + 1, TRUE);
        }
        g_assert_true(g_spawn_async_with_pipes(NULL, (char **) argv->pdata, envp, G_SPAWN_DO_NOT_REAP_CHILD,
                                               test_child_die_with_parent, NULL, &c->pid, NULL, &c->out_fd, NULL,
                                               &error));
        g_assert_no_error(error);
        c->out = g_string_new(NULL);
}

char *child_read_line(Child *c, int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        for (;;) {
                const char *nl = strchr(c->out->str, '\n');
                struct pollfd p = { .fd = c->out_fd, .events = POLLIN };
                char buf[512];
                ssize_t n;
                int left;

                if (nl) {
                        char *line = g_strndup(c->out->str, (gsize) (nl - c->out->str));

                        g_string_erase(c->out, 0, nl - c->out->str + 1);
                        return line;
                }
                left = (int) ((deadline - g_get_monotonic_time()) / 1000);
                if (left <= 0)
                        g_error("no line from process %d within %d ms (so far: '%s')", (int) c->pid, timeout_ms,
                                c->out->str);
                if (poll(&p, 1, left) <= 0)
                        continue;
                n = read(c->out_fd, buf, sizeof(buf));
                if (n <= 0)
                        g_error("process %d closed its output without a line (so far: '%s')", (int) c->pid,
                                c->out->str);
                g_string_append_len(c->out, buf, n);
        }
}

int child_wait(Child *c, int timeout_ms) {
        return test_wait_exit(&c->pid, timeout_ms);
}

bool child_runs_after(Child *c, int ms) {
        int status = test_wait_status(c->pid, ms);

        if (status == -1)
                return true;
        g_test_message("process %d exited early, status %d", (int) c->pid, test_exit_code(status));
        c->pid = 0;
        return false;
}

void child_clear(Child *c) {
        test_kill_child(&c->pid);
        if (c->out_fd >= 0)
                (void) close(c->out_fd);
        c->out_fd = -1;
        if (c->out)
                g_string_free(c->out, TRUE);
        c->out = NULL;
}

int pylockctl_run_env(const char *const *env, char **ret_out, char **ret_err, ...) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL, *err = NULL;
        g_auto(GStrv) envp = g_get_environ();
        const char *arg;
        int status;
        va_list ap;

        g_ptr_array_add(argv, (gpointer) g_getenv("PYLOCKCTL"));
        va_start(ap, ret_err);
        while ((arg = va_arg(ap, const char *)))
                g_ptr_array_add(argv, (gpointer) arg);
        va_end(ap);
        g_ptr_array_add(argv, NULL);
        for (const char *const *e = env; e && *e; e++) {
                g_autofree char *name = g_strndup(*e, strcspn(*e, "="));
                const char *value = strchr(*e, '=');

                envp = value ? g_environ_setenv(envp, name, value + 1, TRUE) : g_environ_unsetenv(envp, name);
        }

        g_assert_true(g_spawn_sync(NULL, (char **) argv->pdata, envp, G_SPAWN_DEFAULT, test_child_die_with_parent,
                                   NULL, &out, &err, &status, &error));
        g_assert_no_error(error);
        g_test_message("stdout: %s\nstderr: %s", out, err);
        if (ret_out)
                *ret_out = g_steal_pointer(&out);
        if (ret_err)
                *ret_err = g_steal_pointer(&err);
        return test_exit_code(status);
}

static char *find_lock(PylockerLocker *l, const char *path, char **ret_owner_name, uint64_t *ret_token) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLockInfo *infos = NULL;
        char *id = NULL;
        size_t n = 0;

        g_assert_cmpint(pylocker_locker_list_locks(l, &infos, &n, &error), ==, 0);
        for (size_t k = 0; k < n && !id; k++)
                if (g_strv_contains((const char *const *) infos[k].paths, path)) {
                        id = g_strdup(infos[k].lock_id);
                        if (ret_owner_name)
                                *ret_owner_name = g_strdup(infos[k].owner_name);
                        if (ret_token)
                                *ret_token = infos[k].token;
                }
        pylocker_lock_info_array_free(infos, n);
        return id;
}

char *wait_lock_on_path(PylockerLocker *l, const char *path, int timeout_ms, char **ret_owner_name,
                        uint64_t *ret_token) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        for (;;) {
                char *id = find_lock(l, path, ret_owner_name, ret_token);

                if (id)
                        return id;
                if (g_get_monotonic_time() > deadline)
                        g_error("no lock on %s appeared within %d ms", path, timeout_ms);
                g_usleep(10 * 1000);
        }
}

void wait_no_lock_on_path(PylockerLocker *l, const char *path, int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        for (;;) {
                g_autofree char *id = find_lock(l, path, NULL, NULL);

                if (!id)
                        return;
                if (g_get_monotonic_time() > deadline)
                        g_error("the lock on %s (%s) stayed for %d ms", path, id, timeout_ms);
                g_usleep(10 * 1000);
        }
}

void become_subreaper(void) {
        g_assert_cmpint(prctl(PR_SET_CHILD_SUBREAPER, 1), ==, 0);
}

int wait_descendant(pid_t pid, int timeout_ms) {
        int status = test_wait_status(pid, timeout_ms);

        if (status == -1)
                g_error("process %d did not exit within %d ms", (int) pid, timeout_ms);
        return test_exit_code(status);
}

int notify_socket_new(char **ret_env) {
        static unsigned counter;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        g_autofree char *name = g_strdup_printf("pylockctl-test-notify-%d-%u", (int) getpid(), counter++);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        g_assert_cmpint(fd, >=, 0);
        memcpy(sa.sun_path + 1, name, strlen(name));
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 +
                                                                       strlen(name))), ==, 0);
        *ret_env = g_strconcat("NOTIFY_SOCKET=@", name, NULL);
        return fd;
}

char *notify_wait(int fd, const char *text, int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                char buf[4096];
                ssize_t n;
                int left = (int) ((deadline - g_get_monotonic_time()) / 1000);

                if (left <= 0)
                        return NULL;
                if (poll(&p, 1, left) <= 0)
                        continue;
                n = recv(fd, buf, sizeof(buf) - 1, 0);
                if (n < 0)
                        continue;
                buf[n] = '\0';
                g_test_message("notify: %s", buf);
                if (strstr(buf, text))
                        return g_strdup(buf);
        }
}
