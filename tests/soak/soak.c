/* A soak of pylockerd: a million Acquire+Release pairs from worker processes that connect and
 * disconnect all along, and the daemon's resident memory, which must come back flat.
 *
 * 8 workers (libpylocker-dbus on the direct socket, and every other one on the bus) each make their
 * share of the pairs on their own paths and on one path they all share, closing their locker and
 * opening a new one every PYLOCKER_SOAK_RECONNECT pairs (default 1000). VmRSS of the daemon is read
 * from /proc/PID/status once a tenth of the pairs are done (the warm-up: its tables and buffers at
 * their working size) and again at the end, after every worker is gone; the end may not be more than
 * 10 % above the start. PYLOCKER_SOAK_PAIRS sets the total (default 1000000).
 *
 * Not in the plain suite: meson test -C build --suite soak -v, or run by hand (see docs/testing.md). */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include <pylocker/pylocker.h>

#include "harness.h"

#define N_WORKERS 8
#define N_OWN_PATHS 16

typedef struct Progress {
        uint64_t pairs[N_WORKERS];
        uint64_t reconnects[N_WORKERS];
        uint64_t errors[N_WORKERS];
} Progress;

static uint64_t env_number(const char *name, uint64_t fallback) {
        const char *s = g_getenv(name);

        return s && *s ? g_ascii_strtoull(s, NULL, 10) : fallback;
}

static Progress *progress_map(const char *tmpdir, bool create) {
        g_autofree char *path = g_build_filename(tmpdir, "soak-progress", NULL);
        int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0600);
        void *p;

        g_assert_cmpint(fd, >=, 0);
        if (create)
                g_assert_cmpint(ftruncate(fd, sizeof(Progress)), ==, 0);
        p = mmap(NULL, sizeof(Progress), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        g_assert_true(p != MAP_FAILED);
        close(fd);
        return p;
}

static PylockerLocker *worker_open(unsigned index, const char *tmpdir, const char *bus_address) {
        PylockerLockerOptions o = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        g_autofree char *direct = g_build_filename(tmpdir, "run", "private", NULL);
        PylockerLocker *locker = NULL;
        int r;

        o.transport = PYLOCKER_TRANSPORT_ADDRESS;
        o.address = bus_address;
        if (index % 2)
                o.private_socket_mode = PYLOCKER_PRIVATE_SOCKET_DISABLED;
        else
                o.private_socket = direct;
        r = pylocker_locker_open(&o, &locker, &error);
        if (r < 0) {
                fprintf(stderr, "worker %u: open: %s\n", index, error.message);
                exit(1);
        }
        return locker;
}

static int worker_main(unsigned index, uint64_t pairs, uint64_t reconnect_every, const char *tmpdir,
                       const char *bus_address) {
        Progress *progress = progress_map(tmpdir, false);
        PylockerLocker *locker = NULL;
        char own[N_OWN_PATHS][64];

        for (unsigned k = 0; k < N_OWN_PATHS; k++)
                snprintf(own[k], sizeof(own[k]), "/soak/%u/%u", index, k);

        for (uint64_t i = 0; i < pairs; i++) {
                PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
                PylockerError error = PYLOCKER_ERROR_INIT;
                PylockerLock *lock = NULL;
                const char *path = i % 10 == 0 ? "/soak/shared" : own[i % N_OWN_PATHS];
                int r;

                if (i % reconnect_every == 0) {
                        pylocker_locker_unref(locker);
                        locker = worker_open(index, tmpdir, bus_address);
                        progress->reconnects[index]++;
                }
                o.timeout_usec = 30 * SEC;
                r = pylocker_locker_acquire_path(locker, path, &o, &lock, &error);
                if (r < 0) {
                        fprintf(stderr, "worker %u: acquire %s: %s\n", index, path, error.message);
                        progress->errors[index]++;
                        continue;
                }
                r = pylocker_lock_release(lock, &error);
                if (r != PYLOCKER_RELEASE_RELEASED) {
                        fprintf(stderr, "worker %u: release: %d %s\n", index, r, error.message);
                        progress->errors[index]++;
                }
                pylocker_lock_unref(lock);
                __atomic_store_n(&progress->pairs[index], i + 1, __ATOMIC_RELAXED);
        }
        pylocker_locker_unref(locker);
        (void) munmap(progress, sizeof(Progress));
        return 0;
}

static uint64_t rss_kib(GPid pid) {
        g_autofree char *path = g_strdup_printf("/proc/%d/status", (int) pid);
        g_autofree char *text = NULL;
        const char *line;

        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        line = strstr(text, "\nVmRSS:");
        g_assert_nonnull(line);
        return g_ascii_strtoull(line + strlen("\nVmRSS:"), NULL, 10);
}

static uint64_t total(const uint64_t *v) {
        uint64_t sum = 0;

        for (unsigned i = 0; i < N_WORKERS; i++)
                sum += __atomic_load_n(&v[i], __ATOMIC_RELAXED);
        return sum;
}

static unsigned count_clients(Harness *h) {
        sd_bus *bus = harness_connect(h);
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        unsigned n = 0;

        g_assert_cmpint(locker_call_method(bus, "ListClients", &error, &reply, ""), >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', NULL), >, 0);
        while (sd_bus_message_skip(reply, NULL) > 0)
                n++;
        sd_bus_message_unref(reply);
        harness_disconnect(h, bus);
        return n;
}

int main(int argc, char *argv[]) {
        uint64_t pairs = env_number("PYLOCKER_SOAK_PAIRS", 1000000);
        uint64_t reconnect_every = MAX(env_number("PYLOCKER_SOAK_RECONNECT", 1000), 1);
        uint64_t per_worker = pairs / N_WORKERS, warm_up = pairs / 10;
        uint64_t rss_start = 0, rss_end, rss_max = 0, rss_begin, t_start, t_warm = 0, t_end;
        g_autofree char *exe = NULL;
        g_autoptr(GError) error = NULL;
        GPid workers[N_WORKERS] = {};
        Harness h = {};
        Progress *progress;
        int failures = 0;

        if (argc == 7 && g_str_equal(argv[1], "worker"))
                return worker_main((unsigned) atoi(argv[2]), g_ascii_strtoull(argv[3], NULL, 10),
                                   g_ascii_strtoull(argv[4], NULL, 10), argv[5], argv[6]);

        exe = g_file_read_link("/proc/self/exe", &error);
        g_assert_no_error(error);
        harness_start(&h, NULL);
        progress = progress_map(h.tmpdir, true);
        rss_begin = rss_kib(h.daemon_pid);

        t_start = (uint64_t) g_get_monotonic_time();
        for (unsigned i = 0; i < N_WORKERS; i++) {
                g_autofree char *index = g_strdup_printf("%u", i);
                g_autofree char *count = g_strdup_printf("%" G_GUINT64_FORMAT, per_worker);
                g_autofree char *every = g_strdup_printf("%" G_GUINT64_FORMAT, reconnect_every);
                const char *wargv[] = { exe, "worker", index, count, every, h.tmpdir, h.bus_address, NULL };

                g_assert_true(g_spawn_async(NULL, (char **) wargv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                            test_child_die_with_parent, NULL, &workers[i], &error));
                g_assert_no_error(error);
        }

        for (unsigned running = N_WORKERS; running > 0;) {
                uint64_t done = total(progress->pairs), rss = rss_kib(h.daemon_pid);

                rss_max = MAX(rss_max, rss);
                if (!rss_start && done >= warm_up) {
                        rss_start = rss;
                        t_warm = (uint64_t) g_get_monotonic_time();
                        printf("soak: warmed up after %" G_GUINT64_FORMAT " pairs, %.1f s: daemon VmRSS %"
                               G_GUINT64_FORMAT " KiB\n", done, (double) (t_warm - t_start) / SEC, rss);
                        fflush(stdout);
                }
                /* The daemon's STATUS= must not fill the notification socket's queue. */
                harness_notify_drain(&h);
                running = 0;
                for (unsigned i = 0; i < N_WORKERS; i++) {
                        int status;

                        if (workers[i] <= 0)
                                continue;
                        if (waitpid(workers[i], &status, WNOHANG) == workers[i]) {
                                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                                        fprintf(stderr, "soak: worker %u exited with %d\n", i,
                                                test_exit_code(status));
                                        failures++;
                                }
                                workers[i] = 0;
                        } else
                                running++;
                }
                if (running)
                        g_usleep(100 * 1000);
        }
        t_end = (uint64_t) g_get_monotonic_time();

        /* Every worker is gone: the daemon has forgotten them once ListClients shows at most the
         * caller. */
        for (int waited = 0; count_clients(&h) > 1 && waited < 10000; waited += 50)
                g_usleep(50 * 1000);
        harness_notify_drain(&h);
        rss_end = rss_kib(h.daemon_pid);
        rss_max = MAX(rss_max, rss_end);

        printf("soak: %" G_GUINT64_FORMAT " Acquire+Release pairs by %d workers in %.1f s (%.0f pairs/s), %"
               G_GUINT64_FORMAT " connections, %" G_GUINT64_FORMAT " errors\n",
               total(progress->pairs), N_WORKERS, (double) (t_end - t_start) / SEC,
               (double) total(progress->pairs) * SEC / (double) (t_end - t_start), total(progress->reconnects),
               total(progress->errors));
        printf("soak: daemon VmRSS: %" G_GUINT64_FORMAT " KiB idle at start, %" G_GUINT64_FORMAT " KiB after the "
               "warm-up, %" G_GUINT64_FORMAT " KiB at the end (%+.1f %%), %" G_GUINT64_FORMAT " KiB at most\n",
               rss_begin, rss_start, rss_end, rss_start ? 100.0 * ((double) rss_end - (double) rss_start) / (double) rss_start : 0.0,
               rss_max);
        if (total(progress->pairs) != per_worker * N_WORKERS || total(progress->errors) != 0) {
                fprintf(stderr, "soak: FAIL: not every pair was made without an error\n");
                failures++;
        }
        if (!rss_start || rss_end * 10 > rss_start * 11) {
                fprintf(stderr, "soak: FAIL: the daemon's VmRSS grew by more than 10 %% from the warm-up\n");
                failures++;
        }

        (void) munmap(progress, sizeof(Progress));
        harness_stop(&h);
        printf("soak: %s\n", failures ? "FAILED" : "passed");
        return failures ? 1 : 0;
}
