/* The C library's side of the Python benchmark (python/bench/bench_python.py): Acquire+Release pairs
 * per second through libpylocker-dbus, as the Python ServerLocker makes them (one locker per process,
 * blocking calls, the direct socket), in N processes on one path.
 *
 *   bench-python-pairs ADDRESS PRIVATE_SOCKET PATH SECONDS NPROCS
 *
 * Each process opens its locker and warms up, then all start together and count pairs for SECONDS.
 * Prints "pairs TOTAL seconds SECONDS". Children are waited for by PID. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pylocker/pylocker.h>

static double now_sec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int pair(PylockerLocker *l, const char *path) {
        PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;
        int r;

        o.timeout_usec = 60 * UINT64_C(1000000);
        r = pylocker_locker_acquire_path(l, path, &o, &lock, &error);
        if (r < 0) {
                fprintf(stderr, "acquire: %s\n", error.message);
                return r;
        }
        r = pylocker_lock_release(lock, &error);
        pylocker_lock_unref(lock);
        if (r != PYLOCKER_RELEASE_RELEASED) {
                fprintf(stderr, "release: %d %s\n", r, error.message);
                return r < 0 ? r : -EIO;
        }
        return 0;
}

/* One process: warms up, says so on ready_fd, waits for a byte on go_fd, counts for seconds, writes
 * the count to result_fd. */
static int worker(const char *address, const char *private_socket, const char *path, double seconds, int ready_fd,
                  int go_fd, int result_fd) {
        PylockerLockerOptions o = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLocker *l = NULL;
        unsigned long long n = 0;
        double end;
        char c = 0;

        o.transport = PYLOCKER_TRANSPORT_ADDRESS;
        o.address = address;
        o.private_socket = private_socket;
        if (pylocker_locker_open(&o, &l, &error) < 0) {
                fprintf(stderr, "open: %s\n", error.message);
                return 1;
        }
        for (int i = 0; i < 50; i++)
                if (pair(l, path) < 0)
                        return 1;
        if (write(ready_fd, "r", 1) != 1 || read(go_fd, &c, 1) != 1)
                return 1;

        end = now_sec() + seconds;
        while (now_sec() < end) {
                if (pair(l, path) < 0)
                        return 1;
                n++;
        }
        if (write(result_fd, &n, sizeof(n)) != (ssize_t) sizeof(n))
                return 1;
        pylocker_locker_unref(l);
        return 0;
}

int main(int argc, char *argv[]) {
        int ready[2], go[2], result[2], nprocs, status = 0;
        unsigned long long total = 0;
        pid_t pids[64];
        double seconds;

        if (argc != 6) {
                fprintf(stderr, "Usage: %s ADDRESS PRIVATE_SOCKET PATH SECONDS NPROCS\n", argv[0]);
                return 64;
        }
        seconds = atof(argv[4]);
        nprocs = atoi(argv[5]);
        if (seconds <= 0 || nprocs < 1 || nprocs > 64) {
                fprintf(stderr, "Bad SECONDS or NPROCS.\n");
                return 64;
        }
        if (pipe(ready) < 0 || pipe(go) < 0 || pipe(result) < 0) {
                perror("pipe");
                return 1;
        }

        for (int i = 0; i < nprocs; i++) {
                pids[i] = fork();
                if (pids[i] < 0) {
                        perror("fork");
                        return 1;
                }
                if (pids[i] == 0) {
                        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                        _exit(worker(argv[1], argv[2], argv[3], seconds, ready[1], go[0], result[1]));
                }
        }
        /* Our copies of the workers' ends: a worker that dies early then shows as EOF, and a hung run
         * ends after a while. */
        (void) close(ready[1]);
        (void) close(result[1]);
        (void) close(go[0]);
        (void) alarm((unsigned) seconds + 300);
        for (int i = 0; i < nprocs; i++) {
                char c;

                if (read(ready[0], &c, 1) != 1) {
                        fprintf(stderr, "A worker did not start.\n");
                        return 1;
                }
        }
        for (int i = 0; i < nprocs; i++)
                if (write(go[1], "g", 1) != 1)
                        return 1;
        for (int i = 0; i < nprocs; i++) {
                unsigned long long n;

                if (read(result[0], &n, sizeof(n)) != (ssize_t) sizeof(n)) {
                        fprintf(stderr, "A worker failed.\n");
                        status = 1;
                        break;
                }
                total += n;
        }
        for (int i = 0; i < nprocs; i++) {
                int s;

                if (status)
                        (void) kill(pids[i], SIGTERM);
                if (waitpid(pids[i], &s, 0) < 0 || !WIFEXITED(s) || WEXITSTATUS(s) != 0)
                        status = 1;
        }
        if (status)
                return status;
        printf("pairs %llu seconds %.3f\n", total, seconds);
        return 0;
}
