/* Helpers of the benchmarks. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

void bench_harness_start(Harness *h, const char *const *daemon_args) {
        harness_start(h, daemon_args);
        close(h->notify_fd);
        h->notify_fd = 0;
}

double bench_now(void) {
        struct timespec ts;

        g_assert_cmpint(clock_gettime(CLOCK_MONOTONIC, &ts), ==, 0);
        return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

void bench_result(const char *key, double value, const char *unit, const char *what) {
        printf("RESULT\t%s\t%.6g\t%s\t%s\n", key, value, unit, what);
        fflush(stdout);
}

void bench_note(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

double bench_percentile(double *samples, size_t n, double p) {
        size_t i;

        g_assert_cmpuint(n, >, 0);
        qsort(samples, n, sizeof(double), cmp_double);
        i = (size_t) (p / 100.0 * (n - 1) + 0.5);
        return samples[MIN(i, n - 1)];
}

double bench_median(double *values, size_t n) {
        return bench_percentile(values, n, 50);
}

double bench_seconds(void) {
        const char *s = g_getenv("PYLOCKER_BENCH_SECONDS");
        double v = s ? g_ascii_strtod(s, NULL) : 2.0;

        return v > 0 ? v : 2.0;
}

double bench_time_op(BenchOp *op, double seconds) {
        double start = bench_now(), end = start + seconds * 1e6, now;
        unsigned n = 0;

        do {
                for (int i = 0; i < 10; i++)
                        op->fn(op->data);
                n += 10;
                now = bench_now();
        } while (now < end);
        return (now - start) / n;
}

void bench_ops_run(BenchOp *ops, size_t n, double seconds) {
        for (size_t i = 0; i < n; i++)
                (void) bench_time_op(&ops[i], 0.05);
        for (int round = 0; round < BENCH_ROUNDS; round++)
                for (size_t i = 0; i < n; i++)
                        ops[i].usec[round] = bench_time_op(&ops[i], seconds / 4);
        for (size_t i = 0; i < n; i++)
                bench_result(ops[i].key, bench_median(ops[i].usec, BENCH_ROUNDS), "us", ops[i].what);
}

void bench_lib_pair(void *data) {
        BenchLibPair *p = data;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;

        if (pylocker_locker_acquire_path(p->locker, p->path, NULL, &lock, &error) < 0)
                g_error("pylocker_locker_acquire_path: %s", error.message);
        g_assert_cmpuint(pylocker_lock_get_token(lock), >, p->last_token);
        p->last_token = pylocker_lock_get_token(lock);
        g_assert_cmpint(pylocker_lock_release(lock, &error), ==, PYLOCKER_RELEASE_RELEASED);
        pylocker_lock_unref(lock);
}

void bench_lib_pair_nowait(void *data) {
        BenchLibPair *p = data;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;

        /* Each grant also shows that the release before it went through: one connection, in order. */
        if (pylocker_locker_acquire_path(p->locker, p->path, NULL, &lock, &error) < 0)
                g_error("pylocker_locker_acquire_path: %s", error.message);
        g_assert_cmpuint(pylocker_lock_get_token(lock), >, p->last_token);
        p->last_token = pylocker_lock_get_token(lock);
        g_assert_cmpint(pylocker_locker_release_nowait(p->locker, pylocker_lock_get_id(lock), &error), ==, 0);
        g_assert_false(pylocker_lock_is_held(lock));
        pylocker_lock_unref(lock);
}

PylockerLocker *bench_locker_open(Harness *h, const char *private_socket) {
        PylockerLockerOptions options = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLocker *l = NULL;

        options.transport = PYLOCKER_TRANSPORT_ADDRESS;
        options.address = h->bus_address;
        options.private_socket = private_socket;
        if (!private_socket)
                options.private_socket_mode = PYLOCKER_PRIVATE_SOCKET_DISABLED;
        if (pylocker_locker_open(&options, &l, &error) < 0)
                g_error("pylocker_locker_open: %s", error.message);
        g_assert_cmpint(pylocker_locker_is_direct(l), ==, private_socket != NULL);
        return l;
}

void bench_pump(sd_bus *const *buses, unsigned n, int timeout_ms) {
        g_autofree struct pollfd *fds = g_new(struct pollfd, n);

        for (unsigned i = 0; i < n; i++) {
                int r;

                while ((r = sd_bus_process(buses[i], NULL)) > 0)
                        ;
                g_assert_cmpint(r, ==, 0);
                fds[i] = (struct pollfd) { .fd = sd_bus_get_fd(buses[i]), .events = (short) sd_bus_get_events(buses[i]) };
        }
        g_assert_cmpint(poll(fds, n, timeout_ms), >=, 0);
}

/* --- the echo service --- */

static int echo_method(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable echo_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Echo", "", "", echo_method, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static int echo_on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        sd_id128_t id = SD_ID128_MAKE(6b,3c,1e,0a,55,21,4f,9d,8e,12,77,40,c3,aa,01,5e);
        sd_bus *bus = NULL;
        int cfd;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return 0;
        if (sd_bus_new(&bus) < 0 || sd_bus_set_fd(bus, cfd, cfd) < 0 || sd_bus_set_server(bus, 1, id) < 0 ||
            sd_bus_add_object_vtable(bus, NULL, ECHO_PATH, ECHO_IFACE, echo_vtable, NULL) < 0 ||
            sd_bus_attach_event(bus, sd_event_source_get_event(s), 0) < 0 || sd_bus_start(bus) < 0)
                _exit(3);
        /* The connection lives until the process ends; a closed peer just leaves it idle. */
        return 0;
}

static void echo_child(const char *bus_address, const char *socket_path, int ready_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        sd_event *event = NULL;
        sd_bus *bus = NULL;
        int lfd;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (sd_event_new(&event) < 0 || sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, bus_address) < 0 ||
            sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0 ||
            sd_bus_add_object_vtable(bus, NULL, ECHO_PATH, ECHO_IFACE, echo_vtable, NULL) < 0 ||
            sd_bus_request_name(bus, ECHO_NAME, 0) < 0 || sd_bus_attach_event(bus, event, 0) < 0)
                _exit(2);

        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (lfd < 0 || strlen(socket_path) >= sizeof(sa.sun_path))
                _exit(2);
        strcpy(sa.sun_path, socket_path);
        if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 128) < 0 ||
            sd_event_add_io(event, NULL, lfd, EPOLLIN, echo_on_accept, NULL) < 0)
                _exit(2);

        if (write(ready_fd, "R", 1) != 1)
                _exit(2);
        close(ready_fd);
        (void) sd_event_loop(event);
        _exit(0);
}

void echo_start(Echo *e, const char *bus_address, const char *dir) {
        int p[2];
        char c;
        pid_t pid;

        e->socket_path = g_build_filename(dir, "echo", NULL);
        g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                close(p[0]);
                echo_child(bus_address, e->socket_path, p[1]);
        }
        close(p[1]);
        if (read(p[0], &c, 1) != 1)
                g_error("the echo service did not start");
        close(p[0]);
        e->pid = pid;
}

void echo_stop(Echo *e) {
        int status;

        if (e->pid <= 0)
                return;
        g_assert_cmpint(kill(e->pid, SIGTERM), ==, 0);
        g_assert_cmpint(waitpid(e->pid, &status, 0), ==, e->pid);
        e->pid = 0;
        g_clear_pointer(&e->socket_path, g_free);
}

sd_bus *bench_connect_p2p(const char *socket_path) {
        g_autofree char *address = g_strdup_printf("unix:path=%s", socket_path);
        sd_bus *bus = NULL;

        g_assert_cmpint(sd_bus_new(&bus), >=, 0);
        g_assert_cmpint(sd_bus_set_address(bus, address), >=, 0);
        g_assert_cmpint(sd_bus_start(bus), >=, 0);
        return bus;
}

void echo_call(sd_bus *bus, bool p2p) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, p2p ? NULL : ECHO_NAME, ECHO_PATH, ECHO_IFACE, "Echo", &error, NULL, NULL);
        if (r < 0)
                g_error("Echo failed: %s", error.message ? error.message : strerror(-r));
}

uint64_t bench_rss(GPid pid) {
        g_autofree char *path = g_strdup_printf("/proc/%d/status", (int) pid);
        g_autofree char *text = NULL;
        const char *line;

        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        line = strstr(text, "\nVmRSS:");
        g_assert_nonnull(line);
        return g_ascii_strtoull(line + strlen("\nVmRSS:"), NULL, 10) * 1024;
}

/* --- raw org.pylocker.Locker calls --- */

sd_bus_message *bench_new_acquire(sd_bus *bus, bool direct, const char *path, uint64_t timeout_usec) {
        sd_bus_message *m = NULL;

        g_assert_cmpint(sd_bus_message_new_method_call(bus, &m, direct ? NULL : PYLOCKER_BUS_NAME,
                                                       PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE,
                                                       "Acquire"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "as", 1, path), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "t", timeout_usec), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "a{sv}", 0), >=, 0);
        return m;
}

sd_bus_message *bench_new_release(sd_bus *bus, bool direct, const char *lock_id) {
        sd_bus_message *m = NULL;

        g_assert_cmpint(sd_bus_message_new_method_call(bus, &m, direct ? NULL : PYLOCKER_BUS_NAME,
                                                       PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE,
                                                       "Release"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "s", lock_id), >=, 0);
        return m;
}

const char *bench_read_grant(sd_bus_message *reply, uint64_t *ret_token) {
        const char *id;
        uint64_t token;

        if (sd_bus_message_is_method_error(reply, NULL))
                g_error("Acquire failed: %s: %s", sd_bus_message_get_error(reply)->name,
                        sd_bus_message_get_error(reply)->message);
        g_assert_cmpint(sd_bus_message_read(reply, "st", &id, &token), >, 0);
        g_assert_cmpuint(strlen(id), ==, 32);
        g_assert_cmpuint(token, >, 0);
        *ret_token = token;
        return id;
}

void bench_check_released(sd_bus_message *reply) {
        uint32_t code;

        if (sd_bus_message_is_method_error(reply, NULL))
                g_error("Release failed: %s: %s", sd_bus_message_get_error(reply)->name,
                        sd_bus_message_get_error(reply)->message);
        g_assert_cmpint(sd_bus_message_read(reply, "u", &code), >, 0);
        g_assert_cmpuint(code, ==, 1);
}
