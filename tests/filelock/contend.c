/* Several processes taking the same lock file in turn, watching for two inside at once. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include <pylocker/pylocker.h>

#include "contend.h"

/* Shared by all processes; updated with atomics, so the check itself cannot race. */
typedef struct Shared {
        int inside;
        uint64_t pairs;
        uint64_t overlaps;
        uint64_t bad_codes;
} Shared;

static void append_line(int fd, const char *verb, unsigned id) {
        char line[64];
        int n = snprintf(line, sizeof(line), "%s %u\n", verb, id);

        /* O_APPEND: one write is one line, even when an overlap lets two writers in. */
        (void) !write(fd, line, (size_t) n);
}

static void counter_increment(int fd) {
        char buf[32] = {};
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        unsigned long long value = n > 0 ? strtoull(buf, NULL, 10) : 0;
        int len;

        sched_yield();
        len = snprintf(buf, sizeof(buf), "%llu", value + 1);
        (void) !pwrite(fd, buf, (size_t) len, 0);
}

static int worker(const ContendOptions *o, unsigned id, Shared *shared) {
        g_autofree char *pass = g_strdup_printf("contender-%u", id);
        PylockerFileLock *lock = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;
        int log_fd = -1, counter_fd = -1;

        if (pylocker_file_lock_new(NULL, pass, &lock, &error) < 0 ||
            pylocker_file_lock_set_lock_path(lock, o->lock_path, &error) < 0) {
                fprintf(stderr, "contender %u: %s\n", id, error.message);
                return 1;
        }
        if (o->log_path)
                log_fd = open(o->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (o->counter_path)
                counter_fd = open(o->counter_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if ((o->log_path && log_fd < 0) || (o->counter_path && counter_fd < 0)) {
                fprintf(stderr, "contender %u: cannot open its files: %s\n", id, g_strerror(errno));
                return 1;
        }

        for (unsigned i = 0; i < o->rounds; i++) {
                int code = pylocker_file_lock_acquire(lock, &error);
                if (code != PYLOCKER_FILE_LOCK_ACQUIRED) {
                        if (code < 0)
                                fprintf(stderr, "contender %u: %s\n", id, error.message);
                        __atomic_add_fetch(&shared->bad_codes, 1, __ATOMIC_SEQ_CST);
                        if (code != PYLOCKER_FILE_LOCK_ALREADY_SET && code != PYLOCKER_FILE_LOCK_TAKEN_OVER)
                                continue;
                }

                if (__atomic_add_fetch(&shared->inside, 1, __ATOMIC_SEQ_CST) != 1)
                        __atomic_add_fetch(&shared->overlaps, 1, __ATOMIC_SEQ_CST);
                if (log_fd >= 0)
                        append_line(log_fd, "enter", id);
                if (counter_fd >= 0)
                        counter_increment(counter_fd);
                if (log_fd >= 0)
                        append_line(log_fd, "leave", id);
                __atomic_sub_fetch(&shared->inside, 1, __ATOMIC_SEQ_CST);

                code = pylocker_file_lock_release(lock, &error);
                if (code == PYLOCKER_FILE_LOCK_RELEASED)
                        __atomic_add_fetch(&shared->pairs, 1, __ATOMIC_SEQ_CST);
                else {
                        if (code < 0)
                                fprintf(stderr, "contender %u: %s\n", id, error.message);
                        __atomic_add_fetch(&shared->bad_codes, 1, __ATOMIC_SEQ_CST);
                }

                if (o->jitter_usec > 0)
                        g_usleep((gulong) g_random_int_range(0, (gint32) o->jitter_usec + 1));
        }

        pylocker_file_lock_free(lock);
        if (log_fd >= 0)
                (void) close(log_fd);
        if (counter_fd >= 0)
                (void) close(counter_fd);
        return 0;
}

int contend_run(const ContendOptions *o, ContendResult *ret) {
        g_autofree pid_t *pids = g_new0(pid_t, o->n_processes);
        Shared *shared;
        int64_t start;
        unsigned failed = 0;

        shared = mmap(NULL, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (shared == MAP_FAILED)
                return -errno;
        memset(shared, 0, sizeof(*shared));

        start = g_get_monotonic_time();
        for (unsigned i = 0; i < o->n_processes; i++) {
                pids[i] = fork();
                if (pids[i] < 0) {
                        int r = -errno;
                        /* Stop what was started, by pid, and leave nothing behind. */
                        for (unsigned j = 0; j < i; j++) {
                                (void) kill(pids[j], SIGKILL);
                                (void) waitpid(pids[j], NULL, 0);
                        }
                        (void) munmap(shared, sizeof(Shared));
                        return r;
                }
                if (pids[i] == 0) {
                        /* Each child its own random sequence for the jitter. */
                        g_random_set_seed((guint32) getpid());
                        (void) fflush(stderr);
                        _exit(worker(o, i, shared));
                }
        }

        for (unsigned i = 0; i < o->n_processes; i++) {
                int status;

                if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        failed++;
        }

        *ret = (ContendResult) {
                .pairs = shared->pairs,
                .overlaps = shared->overlaps,
                .bad_codes = shared->bad_codes,
                .failed_processes = failed,
                .seconds = (double) (g_get_monotonic_time() - start) / 1e6,
        };
        (void) munmap(shared, sizeof(Shared));
        return 0;
}
