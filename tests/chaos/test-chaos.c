/* A fault campaign against a real pylockerd, and a checker of what it let happen.
 *
 * Client processes (libpylocker-dbus over the direct socket, over the bus and through the TCP bridge)
 * take locks on a few paths with short leases. Inside each critical section a client opens it at a
 * fenced store (a thread of this process that refuses a token lower than the highest it has seen on
 * that path), works a little, and commits (token, client, times) there. Meanwhile a nemesis SIGKILLs
 * clients, SIGSTOPs holders past their lease (so that their late commit is fenced), restarts the
 * daemon with SIGTERM and SIGKILL (clients reconnect with pylocker_locker_restart()), floods it from a
 * hostile client (many connections, big publications, huge path lists) and from a peer that
 * publishes to itself and never reads. At the end the history is checked:
 *
 *   - no two accepted critical sections on one path overlap, unless the earlier holder's lease had
 *     run out or the daemon restarted under it;
 *   - tokens on one path increase in grant order, never repeat, and every token after a restart is
 *     above every token before it (the daemon keeps a token ceiling in its --state-dir);
 *   - every fenced write comes from a holder whose lease had run out or whose daemon restarted;
 *   - after every fault some client is granted a lock and completes its critical section within
 *     the progress bound;
 *   - once the clients are gone, ListClients and ListLocks show nothing of them.
 *
 * PYLOCKER_CHAOS_SECONDS sets the length of the campaign (default 60), PYLOCKER_CHAOS_SEED replays the
 * nemesis's choices (the seed is printed), PYLOCKER_CHAOS_PROGRESS_SECONDS the progress bound
 * (default 10). Every process started is stopped by PID. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include <pylocker/pylocker.h>

#include "harness.h"
#include "wire-test.h"

#define N_PATHS 3
#define N_CLIENTS 7             /* 3 direct, 3 bus, 1 bridge */
#define TTL_USEC (1500 * MSEC)
#define ACQUIRE_TIMEOUT_USEC (2 * SEC)
#define SECRET "the chaos campaign's shared secret"

static const char *const chaos_paths[N_PATHS] = { "/chaos/a", "/chaos/b", "/chaos/c" };

typedef enum ClientKind {
        CLIENT_DIRECT,
        CLIENT_BUS,
        CLIENT_BRIDGE,
        _CLIENT_KIND_MAX,
} ClientKind;

static const char *const client_kind_names[_CLIENT_KIND_MAX] = { "direct", "bus", "bridge" };

/* What the clients share with the nemesis, in a file mapped by all. */
typedef struct Slot {
        int in_section;         /* holds a lock and has not sent its commit to the store yet */
} Slot;

typedef struct Shared {
        int stop;
        Slot slots[N_CLIENTS];
} Shared;

/* One message to the fenced store, and what it keeps of it. */
enum { STORE_OPEN = 1, STORE_COMMIT = 2 };

typedef struct StoreMsg {
        uint32_t kind;
        uint32_t path;
        uint32_t client;
        uint32_t padding;
        uint64_t token;
        uint64_t t0;            /* CLOCK_MONOTONIC µs, before the acquire was sent */
        uint64_t acquired;      /* when the acquire returned */
        uint64_t end;           /* when the work ended (COMMIT) */
} StoreMsg;

typedef struct Record {
        StoreMsg m;
        uint64_t received;      /* by the store */
        bool accepted;
} Record;

typedef struct Store {
        int listen_fd;
        int quit_fd[2];
        GThread *thread;
        GMutex mutex;
        GArray *records;        /* Record */
        uint64_t highest[N_PATHS];
        uint64_t last_accepted_commit;
        /* The daemon's notifications are read here while it runs, so that it never blocks sending
         * one; not while the nemesis restarts it and waits for READY=1 itself. */
        Harness *h;
        bool draining;
} Store;

typedef enum FaultKind {
        FAULT_KILL_CLIENT,
        FAULT_STOP_CLIENT,
        FAULT_RESTART_TERM,
        FAULT_RESTART_KILL,
        FAULT_FLOOD,
        FAULT_NEVER_READER,
        _FAULT_KIND_MAX,
} FaultKind;

static const char *const fault_names[_FAULT_KIND_MAX] = {
        "SIGKILL of a client", "SIGSTOP of a holder past its lease", "daemon restart after SIGTERM",
        "daemon restart after SIGKILL", "flood from a hostile client", "never-reading peer",
};

typedef struct Fault {
        FaultKind kind;
        uint64_t at;            /* when it began */
        uint64_t ready;         /* restarts: when the new daemon was ready */
        bool hit_holder;        /* SIGKILL/SIGSTOP: the client was inside a critical section */
        unsigned client;        /* SIGKILL/SIGSTOP: its number */
} Fault;

typedef struct Chaos {
        Harness h;
        char *exe;
        char *remote;
        int port;
        char *secret_file;
        char *state_arg, *bridge_arg, *secret_arg;
        Shared *shared;
        GPid pids[N_CLIENTS];
        unsigned next_client;   /* clients get numbers in the order they are started */
        unsigned client_numbers[N_CLIENTS];
        unsigned spawned;
        GRand *rand;
        GArray *faults;         /* Fault */
        Store store;
        unsigned failures;
        uint64_t start;
} Chaos;

static uint64_t now_usec(void) {
        return (uint64_t) g_get_monotonic_time();
}

static uint64_t env_number(const char *name, uint64_t fallback) {
        const char *s = g_getenv(name);

        return s && *s ? g_ascii_strtoull(s, NULL, 10) : fallback;
}

static char *path_in(const char *dir, const char *name) {
        return g_build_filename(dir, name, NULL);
}

static Shared *shared_map(const char *tmpdir, bool create) {
        g_autofree char *path = path_in(tmpdir, "shared");
        int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0600);
        void *p;

        g_assert_cmpint(fd, >=, 0);
        if (create)
                g_assert_cmpint(ftruncate(fd, sizeof(Shared)), ==, 0);
        p = mmap(NULL, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        g_assert_true(p != MAP_FAILED);
        close(fd);
        return p;
}

/* --- the fenced store --- */

static void store_handle(Store *s, int fd) {
        StoreMsg m;
        Record r = {};
        ssize_t n = recv(fd, &m, sizeof(m), MSG_DONTWAIT);
        char answer;

        if (n != sizeof(m) || m.path >= N_PATHS)
                return;
        r.m = m;
        r.received = now_usec();
        g_mutex_lock(&s->mutex);
        r.accepted = m.token >= s->highest[m.path];
        if (r.accepted)
                s->highest[m.path] = m.token;
        if (r.accepted && m.kind == STORE_COMMIT)
                s->last_accepted_commit = r.received;
        g_array_append_val(s->records, r);
        g_mutex_unlock(&s->mutex);
        answer = r.accepted ? 'A' : 'F';
        (void) send(fd, &answer, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static gpointer store_thread(gpointer data) {
        Store *s = data;
        g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(struct pollfd));

        g_array_append_val(fds, ((struct pollfd) { .fd = s->quit_fd[0], .events = POLLIN }));
        g_array_append_val(fds, ((struct pollfd) { .fd = s->listen_fd, .events = POLLIN }));
        g_array_append_val(fds, ((struct pollfd) { .fd = s->h->notify_fd, .events = POLLIN }));
        for (;;) {
                struct pollfd *p;

                g_mutex_lock(&s->mutex);
                g_array_index(fds, struct pollfd, 2).events = s->draining ? POLLIN : 0;
                g_mutex_unlock(&s->mutex);

                if (poll((struct pollfd *) fds->data, fds->len, -1) < 0) {
                        g_assert_cmpint(errno, ==, EINTR);
                        continue;
                }
                p = (struct pollfd *) fds->data;
                if (p[0].revents)
                        break;
                if (p[2].revents & POLLIN) {
                        g_mutex_lock(&s->mutex);
                        if (s->draining)
                                harness_notify_drain(s->h);
                        g_mutex_unlock(&s->mutex);
                }
                if (p[1].revents & POLLIN) {
                        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

                        /* Appending may move the array: p is not used after this. */
                        if (fd >= 0)
                                g_array_append_val(fds, ((struct pollfd) { .fd = fd, .events = POLLIN }));
                }
                for (guint i = 3; i < fds->len; i++) {
                        p = &g_array_index(fds, struct pollfd, i);
                        if (p->revents & POLLIN)
                                store_handle(s, p->fd);
                        else if (p->revents & (POLLHUP | POLLERR)) {
                                close(p->fd);
                                g_array_remove_index_fast(fds, i);
                                i--;
                        }
                }
        }
        for (guint i = 3; i < fds->len; i++)
                close(g_array_index(fds, struct pollfd, i).fd);
        return NULL;
}

static void store_set_draining(Store *s, bool draining) {
        g_mutex_lock(&s->mutex);
        s->draining = draining;
        g_mutex_unlock(&s->mutex);
}

static void store_start(Store *s, Harness *h) {
        g_autofree char *path = path_in(h->tmpdir, "store");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        g_mutex_init(&s->mutex);
        s->h = h;
        harness_notify_open(h);
        s->records = g_array_new(FALSE, FALSE, sizeof(Record));
        g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        g_assert_cmpint(s->listen_fd, >=, 0);
        g_assert_cmpint(bind(s->listen_fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(listen(s->listen_fd, 64), ==, 0);
        g_assert_cmpint(pipe2(s->quit_fd, O_CLOEXEC), ==, 0);
        s->thread = g_thread_new("store", store_thread, s);
}

static void store_stop(Store *s) {
        g_assert_cmpint(write(s->quit_fd[1], "q", 1), ==, 1);
        g_thread_join(s->thread);
        close(s->quit_fd[0]);
        close(s->quit_fd[1]);
        close(s->listen_fd);
}

static uint64_t store_last_accepted_commit(Store *s) {
        uint64_t t;

        g_mutex_lock(&s->mutex);
        t = s->last_accepted_commit;
        g_mutex_unlock(&s->mutex);
        return t;
}

static int store_connect(const char *tmpdir) {
        g_autofree char *path = path_in(tmpdir, "store");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        strcpy(sa.sun_path, path);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                exit(3);
        return fd;
}

/* True when the store accepted it; exits when the store is gone. */
static bool store_call(int fd, const StoreMsg *m) {
        char answer;

        if (send(fd, m, sizeof(*m), MSG_NOSIGNAL) != sizeof(*m))
                exit(3);
        while (recv(fd, &answer, 1, 0) != 1)
                if (errno != EINTR)
                        exit(3);
        return answer == 'A';
}

/* --- a client --- */

typedef struct ClientArgs {
        unsigned slot;
        unsigned number;
        ClientKind kind;
        const char *tmpdir;
        const char *bus_address;
        const char *remote;
} ClientArgs;

static int client_open(const ClientArgs *a, PylockerLocker **ret, PylockerError *error) {
        PylockerLockerOptions o = PYLOCKER_LOCKER_OPTIONS_INIT;
        g_autofree char *direct = g_build_filename(a->tmpdir, "run", "private", NULL);
        g_autofree char *secret = path_in(a->tmpdir, "secret");
        g_autofree char *name = g_strdup_printf("chaos-%u", a->number);

        o.name = name;
        switch (a->kind) {
        case CLIENT_DIRECT:
                o.transport = PYLOCKER_TRANSPORT_ADDRESS;
                o.address = a->bus_address;
                o.private_socket = direct;
                break;
        case CLIENT_BUS:
                o.transport = PYLOCKER_TRANSPORT_ADDRESS;
                o.address = a->bus_address;
                o.private_socket_mode = PYLOCKER_PRIVATE_SOCKET_DISABLED;
                break;
        default:
                o.transport = PYLOCKER_TRANSPORT_REMOTE;
                o.remote = a->remote;
                o.secret_file = secret;
                break;
        }
        return pylocker_locker_open(&o, ret, error);
}

static bool is_connection_error(int r) {
        return r == -ECONNRESET || r == -ENOTCONN || r == -ECONNREFUSED || r == -EHOSTUNREACH ||
               r == -ENOENT || r == -EPIPE || r == -ETIMEDOUT || r == -ENXIO || r == -ECANCELED;
}

static void on_message(PylockerLocker *locker, const PylockerPublication *p, void *userdata) {
        /* The flood's broadcasts: dropped, so that the inbox does not fill up. */
        (void) pylocker_locker_remove_message(locker, p->message, NULL, NULL);
}

/* Connects (again), as long as it takes; false when told to stop meanwhile. */
static bool client_connect(const ClientArgs *a, Shared *shared, PylockerLocker **locker) {
        for (;;) {
                PylockerError error = PYLOCKER_ERROR_INIT;
                int r;

                if (__atomic_load_n(&shared->stop, __ATOMIC_SEQ_CST))
                        return false;
                r = *locker ? pylocker_locker_restart(*locker, &error) : client_open(a, locker, &error);
                if (r >= 0) {
                        (void) pylocker_locker_set_message_callback(*locker, on_message, NULL);
                        return true;
                }
                g_usleep(50 * 1000);
        }
}

static int client_main(const ClientArgs *a) {
        Shared *shared = shared_map(a->tmpdir, false);
        Slot *slot = &shared->slots[a->slot];
        int store = store_connect(a->tmpdir);
        PylockerLocker *locker = NULL;
        GRand *rand = g_rand_new();
        unsigned other_errors = 0;

        if (!client_connect(a, shared, &locker))
                goto done;
        while (!__atomic_load_n(&shared->stop, __ATOMIC_SEQ_CST)) {
                PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
                PylockerError error = PYLOCKER_ERROR_INIT;
                PylockerLock *lock = NULL;
                unsigned path = (unsigned) g_rand_int_range(rand, 0, N_PATHS);
                StoreMsg m = { .path = path, .client = a->number };
                int r;

                while ((r = pylocker_locker_process(locker)) > 0)
                        ;
                if (!pylocker_locker_is_connected(locker)) {
                        if (!client_connect(a, shared, &locker))
                                break;
                        continue;
                }

                o.timeout_usec = ACQUIRE_TIMEOUT_USEC;
                o.ttl_usec = TTL_USEC;
                m.t0 = now_usec();
                r = pylocker_locker_acquire_path(locker, chaos_paths[path], &o, &lock, &error);
                if (r == -ETIMEDOUT)
                        continue;
                if (r < 0) {
                        if (!is_connection_error(r) && ++other_errors <= 5)
                                fprintf(stderr, "client %u: acquire: %s\n", a->number, error.message);
                        if (!pylocker_locker_is_connected(locker) && !client_connect(a, shared, &locker))
                                break;
                        if (pylocker_locker_is_connected(locker))
                                g_usleep(10 * 1000);
                        continue;
                }
                m.acquired = now_usec();
                m.token = pylocker_lock_get_token(lock);

                m.kind = STORE_OPEN;
                __atomic_store_n(&slot->in_section, 1, __ATOMIC_SEQ_CST);
                if (store_call(store, &m)) {
                        g_usleep((gulong) g_rand_int_range(rand, 1000, 8000));
                        m.kind = STORE_COMMIT;
                        m.end = now_usec();
                        /* Out of the section before the commit is sent: one stopped while the flag is
                         * up sends its commit only once it runs again. */
                        __atomic_store_n(&slot->in_section, 0, __ATOMIC_SEQ_CST);
                        (void) store_call(store, &m);
                }
                __atomic_store_n(&slot->in_section, 0, __ATOMIC_SEQ_CST);

                r = pylocker_lock_release(lock, &error);
                if (r < 0 && !is_connection_error(r) && ++other_errors <= 5)
                        fprintf(stderr, "client %u: release: %s\n", a->number, error.message);
                pylocker_lock_unref(lock);
        }
done:
        pylocker_locker_unref(locker);
        g_rand_free(rand);
        close(store);
        (void) munmap(shared, sizeof(Shared));
        return 0;
}

/* --- the flooders --- */

static void locker_unref(gpointer p) {
        (void) pylocker_locker_unref(p);
}

/* Many connections, big publications, huge path lists; then it goes, and everything of it with it. */
static int hostile_main(const char *tmpdir, const char *bus_address) {
        Harness h = { .tmpdir = (char *) tmpdir };
        g_autoptr(GPtrArray) raw = g_ptr_array_new_with_free_func((GDestroyNotify) wire_test_client_free);
        g_autoptr(GPtrArray) bus_lockers = g_ptr_array_new_with_free_func(locker_unref);
        g_autofree char *direct = g_build_filename(tmpdir, "run", "private", NULL);
        g_autofree char *big = g_malloc(60 * 1024 + 1);
        g_autofree char *middling = g_malloc(8 * 1024 + 1);
        PylockerLockerOptions o = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLocker *locker = NULL;
        g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);

        /* Connections that say nothing, and connections that said HELLO and then nothing. */
        for (int i = 0; i < 100; i++)
                g_ptr_array_add(raw, wire_test_connect_raw(&h));
        for (int i = 0; i < 100; i++)
                g_ptr_array_add(raw, wire_test_connect(&h, NULL));

        o.transport = PYLOCKER_TRANSPORT_ADDRESS;
        o.address = bus_address;
        o.private_socket_mode = PYLOCKER_PRIVATE_SOCKET_DISABLED;
        for (int i = 0; i < 16; i++) {
                PylockerLocker *l = NULL;

                if (pylocker_locker_open(&o, &l, &error) >= 0)
                        g_ptr_array_add(bus_lockers, l);
        }

        o.private_socket_mode = PYLOCKER_PRIVATE_SOCKET_AUTO;
        o.private_socket = direct;
        if (pylocker_locker_open(&o, &locker, &error) < 0)
                return 0;       /* the daemon went away: nothing to flood */

        memset(big, 'x', 60 * 1024);
        big[60 * 1024] = 0;
        memset(middling, 'y', 8 * 1024);
        middling[8 * 1024] = 0;
        for (int i = 0; i < 100; i++) {
                const char *self[] = { pylocker_locker_get_client_id(locker), NULL };

                big[0] = (char) ('a' + i % 26);
                (void) pylocker_locker_publish(locker, big, self, SEC, PYLOCKER_PUBLISH_NO_REPLACE, NULL, &error);
                while (pylocker_locker_process(locker) > 0)
                        ;
        }
        for (int i = 0; i < 20; i++) {
                middling[0] = (char) ('a' + i);
                (void) pylocker_locker_publish(locker, middling, NULL, SEC, PYLOCKER_PUBLISH_NOT_TO_SELF, NULL,
                                               &error);
        }

        /* Over the limit of paths, then at it with long paths, then at it with short ones. */
        for (int i = 0; i < 5000; i++)
                g_ptr_array_add(paths, g_strdup_printf("/hostile/%d", i));
        g_ptr_array_add(paths, NULL);
        for (int round = 0; round < 3; round++) {
                PylockerAcquireOptions a = PYLOCKER_ACQUIRE_OPTIONS_INIT;
                PylockerLock *lock = NULL;

                a.flags = PYLOCKER_ACQUIRE_NONBLOCKING;
                a.ttl_usec = SEC;
                if (round == 1) {
                        g_autofree char *filler = g_strnfill(4000, 'p');

                        for (int i = 0; i < 256; i++) {
                                g_free(paths->pdata[i]);
                                paths->pdata[i] = g_strdup_printf("/hostile/%d/%s", i, filler);
                        }
                }
                if (round >= 1) {
                        g_free(paths->pdata[256]);
                        paths->pdata[256] = NULL;
                }
                if (round == 2)
                        for (int i = 0; i < 256; i++) {
                                g_free(paths->pdata[i]);
                                paths->pdata[i] = g_strdup_printf("/hostile/%d", i);
                        }
                if (pylocker_locker_acquire(locker, (const char *const *) paths->pdata, &a, &lock, &error) >= 0) {
                        (void) pylocker_lock_release(lock, &error);
                        pylocker_lock_unref(lock);
                }
        }

        g_usleep(SEC);
        pylocker_locker_unref(locker);
        return 0;
}

/* Publishes big messages to itself, pipelined, and never reads a byte of what comes back. */
static int never_reader_main(const char *tmpdir) {
        Harness h = { .tmpdir = (char *) tmpdir };
        WireTestClient *c = wire_test_connect(&h, "never-reader");
        g_autofree char *text = g_strnfill(32 * 1024, 'n');
        const char *receivers[] = { c->client_id };
        uint64_t start = now_usec(), until = start + 2 * SEC;
        WireBuffer buf = {};
        bool hung_up = false;
        unsigned sent = 0;

        g_assert_cmpint(fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK), ==, 0);
        for (unsigned i = 0; now_usec() < until; i++) {
                WireMessage m = {
                        .publish = {
                                .flags = WIRE_PUBLISH_TO_SELF,
                                .timeout_usec = 2 * SEC,
                                .message = text,
                                .receivers = receivers,
                                .n_receivers = 1,
                        },
                };
                ssize_t n;

                text[i % 64] = (char) ('a' + i % 26);
                if (wire_buffer_length(&buf) < 256 * 1024) {
                        (void) wire_test_encode(c, &buf, WIRE_PUBLISH, 0, &m);
                        sent++;
                }
                n = send(c->fd, wire_buffer_peek(&buf), wire_buffer_length(&buf), MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n > 0)
                        wire_buffer_consume(&buf, (size_t) n);
                else if (n < 0 && errno != EAGAIN) {
                        hung_up = true;
                        break;
                } else
                        g_usleep(1000);
        }
        if (hung_up)
                printf("chaos:          the daemon hung up on the never-reading peer after %.1f s, %u publications\n",
                       (double) (now_usec() - start) / SEC, sent);
        else
                printf("chaos:          the never-reading peer was still connected after 2 s, %u publications\n",
                       sent);
        fflush(stdout);
        g_usleep(SEC);
        wire_buffer_done(&buf);
        wire_test_client_free(c);
        return 0;
}

/* --- the nemesis --- */

static void spawn_helper(Chaos *c, GPid *ret, const char *role, unsigned slot, ClientKind kind) {
        g_autofree char *slot_s = g_strdup_printf("%u", slot);
        g_autofree char *number_s = g_strdup_printf("%u", c->next_client);
        g_autofree char *kind_s = g_strdup_printf("%d", kind);
        const char *argv[] = { c->exe, role, slot_s, number_s, kind_s, c->h.tmpdir, c->h.bus_address, c->remote,
                               NULL };
        g_autoptr(GError) error = NULL;

        g_assert_true(g_spawn_async(NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, test_child_die_with_parent,
                                    NULL, ret, &error));
        g_assert_no_error(error);
}

static void spawn_client(Chaos *c, unsigned slot) {
        c->client_numbers[slot] = c->next_client;
        spawn_helper(c, &c->pids[slot], "client", slot, (ClientKind) (slot % _CLIENT_KIND_MAX));
        c->next_client++;
        c->spawned++;
}

/* A client that exits while the campaign runs has failed. */
static void check_clients_alive(Chaos *c) {
        for (unsigned i = 0; i < N_CLIENTS; i++) {
                int status;

                if (c->pids[i] <= 0 || waitpid(c->pids[i], &status, WNOHANG) != c->pids[i])
                        continue;
                fprintf(stderr, "FAIL: client %u (%s) exited by itself, status %d\n", c->client_numbers[i],
                        client_kind_names[i % _CLIENT_KIND_MAX], test_exit_code(status));
                c->failures++;
                c->pids[i] = 0;
                spawn_client(c, i);
        }
}

/* Stops the process and waits until it is stopped. */
static void stop_process(GPid pid) {
        int status;

        g_assert_cmpint(kill(pid, SIGSTOP), ==, 0);
        g_assert_cmpint(waitpid(pid, &status, WUNTRACED), ==, pid);
        g_assert_true(WIFSTOPPED(status));
}

/* Stops a client found inside a critical section (stopped first, then looked at, so that it cannot
 * leave the section in between), trying for up to timeout_ms; else any client. Returns its slot,
 * the client stopped. */
static unsigned stop_client(Chaos *c, int timeout_ms, bool *ret_in_section) {
        uint64_t until = now_usec() + (uint64_t) timeout_ms * MSEC;
        unsigned slot;

        for (;;) {
                slot = (unsigned) g_rand_int_range(c->rand, 0, N_CLIENTS);
                if (__atomic_load_n(&c->shared->slots[slot].in_section, __ATOMIC_SEQ_CST)) {
                        stop_process(c->pids[slot]);
                        if (__atomic_load_n(&c->shared->slots[slot].in_section, __ATOMIC_SEQ_CST)) {
                                *ret_in_section = true;
                                return slot;
                        }
                        g_assert_cmpint(kill(c->pids[slot], SIGCONT), ==, 0);
                }
                if (now_usec() > until)
                        break;
                g_usleep(1000);
        }
        stop_process(c->pids[slot]);
        *ret_in_section = false;
        return slot;
}

static void start_daemon(Chaos *c) {
        store_set_draining(&c->store, false);
        harness_start_daemon(&c->h, (const char *const[]) { c->state_arg, c->bridge_arg, c->secret_arg, NULL });
        store_set_draining(&c->store, true);
}

static void wait_helper(Chaos *c, GPid *pid, const char *what) {
        int status = test_wait_status(*pid, 60000);

        if (status == -1) {
                fprintf(stderr, "FAIL: the %s did not finish within 60 s\n", what);
                c->failures++;
                test_kill_child(pid);
                return;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "FAIL: the %s exited with %d\n", what, test_exit_code(status));
                c->failures++;
        }
        *pid = 0;
}

static void inject(Chaos *c, FaultKind kind) {
        Fault f = { .kind = kind, .at = now_usec() };
        unsigned slot;
        GPid pid = 0;
        int status;

        switch (kind) {
        case FAULT_KILL_CLIENT:
                slot = stop_client(c, 1000, &f.hit_holder);
                f.client = c->client_numbers[slot];
                f.at = now_usec();
                g_assert_cmpint(kill(c->pids[slot], SIGKILL), ==, 0);
                (void) waitpid(c->pids[slot], NULL, 0);
                c->pids[slot] = 0;
                c->shared->slots[slot].in_section = 0;
                spawn_client(c, slot);
                break;
        case FAULT_STOP_CLIENT:
                slot = stop_client(c, 2000, &f.hit_holder);
                f.client = c->client_numbers[slot];
                f.at = now_usec();
                g_usleep(TTL_USEC + SEC);
                g_assert_cmpint(kill(c->pids[slot], SIGCONT), ==, 0);
                break;
        case FAULT_RESTART_TERM:
        case FAULT_RESTART_KILL:
                g_assert_cmpint(kill(c->h.daemon_pid, kind == FAULT_RESTART_TERM ? SIGTERM : SIGKILL), ==, 0);
                status = test_wait_status(c->h.daemon_pid, 20000);
                g_assert_cmpint(status, !=, -1);
                if (kind == FAULT_RESTART_TERM && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
                        fprintf(stderr, "FAIL: pylockerd exited with %d after SIGTERM\n", test_exit_code(status));
                        c->failures++;
                }
                c->h.daemon_pid = 0;
                start_daemon(c);
                f.ready = now_usec();
                break;
        case FAULT_FLOOD:
                spawn_helper(c, &pid, "hostile", 0, 0);
                wait_helper(c, &pid, "hostile client");
                break;
        case FAULT_NEVER_READER:
                spawn_helper(c, &pid, "never-reader", 0, 0);
                wait_helper(c, &pid, "never-reading peer");
                break;
        default:
                g_assert_not_reached();
        }
        g_array_append_val(c->faults, f);
        printf("chaos: %6.1f s  %s%s\n", (double) (f.at - c->start) / SEC, fault_names[kind],
               f.hit_holder ? ", inside a critical section" : "");
        fflush(stdout);
}

/* --- the checker --- */

typedef struct Section {
        uint32_t path;
        uint32_t client;
        uint64_t token;
        uint64_t t0, acquired, end, received;
        bool open_accepted;
        bool committed;
        bool commit_accepted;
} Section;

static int section_compare_acquired(gconstpointer a, gconstpointer b) {
        const Section *x = a, *y = b;

        if (x->path != y->path)
                return x->path < y->path ? -1 : 1;
        return x->acquired < y->acquired ? -1 : x->acquired > y->acquired;
}

static int section_compare_token(gconstpointer a, gconstpointer b) {
        const Section *x = a, *y = b;

        return x->token < y->token ? -1 : x->token > y->token;
}

/* The daemon was killed (or stopped) between from and to. */
static bool restart_within(Chaos *c, uint64_t from, uint64_t to) {
        for (guint i = 0; i < c->faults->len; i++) {
                Fault *f = &g_array_index(c->faults, Fault, i);

                if ((f->kind == FAULT_RESTART_TERM || f->kind == FAULT_RESTART_KILL) && f->at >= from && f->at <= to)
                        return true;
        }
        return false;
}

/* Its holder may have lost the lock without being told in time: its lease ran out (it was stopped,
 * or slow) or the daemon restarted under it. */
static bool section_excused(Chaos *c, const Section *s, uint64_t until) {
        return until - s->t0 >= TTL_USEC || restart_within(c, s->t0, until);
}

static void fail(Chaos *c, const char *format, ...) G_GNUC_PRINTF(2, 3);
static void fail(Chaos *c, const char *format, ...) {
        va_list ap;

        if (++c->failures > 20)
                return;
        fputs("FAIL: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static void check_history(Chaos *c, uint64_t progress_bound) {
        g_autoptr(GHashTable) by_key = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GArray) sections = g_array_new(FALSE, FALSE, sizeof(Section));
        unsigned accepted = 0, fenced_opens = 0, fenced_commits = 0, overlaps_excused = 0;
        unsigned stops_in_section = 0, stale_fenced = 0, faults_by_kind[_FAULT_KIND_MAX] = {};
        uint64_t worst_progress = 0;
        FaultKind worst_kind = 0;
        uint64_t busy_until[N_PATHS] = {};      /* the latest end of an unexcused accepted section */
        const Section *busy_by[N_PATHS] = {};

        /* Records into sections, one per (client, token). */
        for (guint i = 0; i < c->store.records->len; i++) {
                Record *r = &g_array_index(c->store.records, Record, i);
                g_autofree char *key = g_strdup_printf("%u/%" G_GUINT64_FORMAT, r->m.client, r->m.token);
                gpointer index;
                Section *s;

                if (g_hash_table_lookup_extended(by_key, key, NULL, &index))
                        s = &g_array_index(sections, Section, GPOINTER_TO_UINT(index));
                else {
                        Section n = {
                                .path = r->m.path, .client = r->m.client, .token = r->m.token,
                                .t0 = r->m.t0, .acquired = r->m.acquired,
                        };

                        g_array_append_val(sections, n);
                        g_hash_table_insert(by_key, g_steal_pointer(&key), GUINT_TO_POINTER(sections->len - 1));
                        s = &g_array_index(sections, Section, sections->len - 1);
                }
                if (r->m.kind == STORE_OPEN) {
                        s->open_accepted = r->accepted;
                        if (!r->accepted) {
                                fenced_opens++;
                                if (!section_excused(c, s, r->received))
                                        fail(c, "client %u's open with token %" G_GUINT64_FORMAT " on %s was fenced "
                                             "%.3f s after its acquire, its lease still valid",
                                             s->client, s->token, chaos_paths[s->path],
                                             (double) (r->received - s->t0) / SEC);
                        }
                } else {
                        s->committed = true;
                        s->commit_accepted = r->accepted;
                        s->end = r->m.end;
                        s->received = r->received;
                        if (r->accepted)
                                accepted++;
                        else {
                                fenced_commits++;
                                if (!section_excused(c, s, r->received))
                                        fail(c, "client %u's commit with token %" G_GUINT64_FORMAT " on %s was fenced "
                                             "%.3f s after its acquire, its lease still valid",
                                             s->client, s->token, chaos_paths[s->path],
                                             (double) (r->received - s->t0) / SEC);
                        }
                }
        }

        /* No token handed out twice. */
        g_array_sort(sections, section_compare_token);
        for (guint i = 1; i < sections->len; i++) {
                Section *a = &g_array_index(sections, Section, i - 1), *b = &g_array_index(sections, Section, i);

                if (a->token == b->token)
                        fail(c, "token %" G_GUINT64_FORMAT " went to clients %u and %u", a->token, a->client,
                             b->client);
        }

        /* Per path in grant order: tokens increase, accepted sections do not overlap. */
        g_array_sort(sections, section_compare_acquired);
        for (guint i = 0; i < sections->len; i++) {
                Section *b = &g_array_index(sections, Section, i);

                if (i > 0) {
                        Section *a = &g_array_index(sections, Section, i - 1);

                        if (a->path == b->path && a->token >= b->token && !section_excused(c, b, b->acquired))
                                fail(c, "on %s token %" G_GUINT64_FORMAT " (client %u) was granted after %"
                                     G_GUINT64_FORMAT " (client %u)", chaos_paths[b->path], b->token, b->client,
                                     a->token, a->client);
                }
                if (!b->commit_accepted)
                        continue;
                if (busy_by[b->path] && b->acquired < busy_until[b->path])
                        fail(c, "on %s client %u's section (token %" G_GUINT64_FORMAT ") began %.3f ms before "
                             "client %u's (token %" G_GUINT64_FORMAT ") ended",
                             chaos_paths[b->path], b->client, b->token,
                             (double) (busy_until[b->path] - b->acquired) / MSEC, busy_by[b->path]->client,
                             busy_by[b->path]->token);
                if (section_excused(c, b, b->end))
                        overlaps_excused++;
                else if (b->end > busy_until[b->path]) {
                        busy_until[b->path] = b->end;
                        busy_by[b->path] = b;
                }
        }

        /* Across restarts tokens only grow. */
        for (guint i = 0; i < c->faults->len; i++) {
                Fault *f = &g_array_index(c->faults, Fault, i);
                uint64_t before = 0, after = UINT64_MAX;

                if (f->kind != FAULT_RESTART_TERM && f->kind != FAULT_RESTART_KILL)
                        continue;
                for (guint k = 0; k < sections->len; k++) {
                        Section *s = &g_array_index(sections, Section, k);

                        if (s->acquired < f->at)
                                before = MAX(before, s->token);
                        if (s->t0 > f->ready)
                                after = MIN(after, s->token);
                }
                if (after != UINT64_MAX && before >= after)
                        fail(c, "a token after restart %u (%" G_GUINT64_FORMAT ") is not above those before it (%"
                             G_GUINT64_FORMAT ")", i, after, before);
        }

        /* Progress after every fault. */
        for (guint i = 0; i < c->faults->len; i++) {
                Fault *f = &g_array_index(c->faults, Fault, i);
                uint64_t first = UINT64_MAX;

                faults_by_kind[f->kind]++;
                if (f->kind == FAULT_STOP_CLIENT && f->hit_holder)
                        stops_in_section++;
                if (f->kind == FAULT_STOP_CLIENT && f->hit_holder) {
                        /* The section it was stopped in, and whether anyone took its path meanwhile. */
                        const Section *stale = NULL;
                        unsigned taken = 0;

                        for (guint k = 0; k < sections->len; k++) {
                                Section *s = &g_array_index(sections, Section, k);

                                if (s->client == f->client && s->acquired <= f->at &&
                                    (!s->committed || s->received >= f->at))
                                        stale = s;
                        }
                        for (guint k = 0; stale && k < sections->len; k++) {
                                Section *s = &g_array_index(sections, Section, k);

                                /* Well before the holder ran again: their opens reached the store before
                                 * its commit. */
                                if (s->path == stale->path && s->token > stale->token && s->acquired > f->at &&
                                    s->acquired < f->at + TTL_USEC + SEC / 2)
                                        taken++;
                        }
                        if (stale && (!stale->open_accepted || (stale->committed && !stale->commit_accepted)))
                                stale_fenced++;
                        else if (stale && taken)
                                fail(c, "client %u, stopped past its lease while holding %s, which %u others took "
                                     "meanwhile, was not fenced", f->client, chaos_paths[stale->path], taken);
                        else
                                fprintf(stderr, "note: client %u, stopped past its lease, %s\n", f->client,
                                        stale ? "was not fenced: nobody took its path meanwhile" :
                                                "had no section in the store");
                }
                if (f->kind == FAULT_STOP_CLIENT && g_getenv("PYLOCKER_CHAOS_DEBUG"))
                        for (guint k = 0; k < sections->len; k++) {
                                Section *s = &g_array_index(sections, Section, k);

                                if (s->acquired + 3 * SEC > f->at && s->acquired < f->at + 3 * SEC &&
                                    (s->client == f->client || s->acquired > f->at))
                                        fprintf(stderr, "stop %u of client %u: client %u path %u token %" G_GUINT64_FORMAT
                                                " t0 %+.3f acq %+.3f end %+.3f recv %+.3f open %d commit %d\n",
                                                i, f->client, s->client, s->path, s->token,
                                                ((double) s->t0 - f->at) / SEC, ((double) s->acquired - f->at) / SEC,
                                                ((double) s->end - f->at) / SEC, ((double) s->received - f->at) / SEC,
                                                s->open_accepted, s->commit_accepted);
                        }
                for (guint k = 0; k < sections->len; k++) {
                        Section *s = &g_array_index(sections, Section, k);

                        /* A section granted after the fault, not one that was under way. */
                        if (s->commit_accepted && s->acquired > f->at)
                                first = MIN(first, s->received);
                }
                if (first == UINT64_MAX || first - f->at > progress_bound)
                        fail(c, "no critical section completed within %.1f s of fault %u (%s)",
                             (double) progress_bound / SEC, i, fault_names[f->kind]);
                else if (first - f->at > worst_progress) {
                        worst_progress = first - f->at;
                        worst_kind = f->kind;
                }
        }
        if (stops_in_section >= 2 && fenced_opens + fenced_commits == 0)
                fail(c, "%u holders were stopped past their lease and none of their writes was fenced",
                     stops_in_section);
        if (accepted == 0)
                fail(c, "no critical section completed at all");

        printf("chaos: %u critical sections completed (%u sections in all, %u past their lease or across a "
               "restart), %u clients started\n", accepted, sections->len, overlaps_excused, c->spawned);
        printf("chaos: fenced writes: %u (%u opens, %u commits); of %u holders stopped past their lease, %u "
               "fenced\n", fenced_opens + fenced_commits, fenced_opens, fenced_commits, stops_in_section,
               stale_fenced);
        printf("chaos: %u faults:\n", c->faults->len);
        for (int k = 0; k < _FAULT_KIND_MAX; k++) {
                printf("chaos:   %3u %s", faults_by_kind[k], fault_names[k]);
                if (k == FAULT_STOP_CLIENT)
                        printf(" (%u inside a critical section)", stops_in_section);
                printf("\n");
        }
        printf("chaos: worst time to progress after a fault: %.3f s (%s), bound %.1f s\n",
               (double) worst_progress / SEC, c->faults->len ? fault_names[worst_kind] : "-",
               (double) progress_bound / SEC);
}

/* Nothing of the campaign's clients is left in the daemon: only the checker's own locker. */
static void check_nothing_left(Chaos *c) {
        PylockerLockerOptions o = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLocker *locker = NULL;
        size_t n_clients = 0, n_locks = 0;

        o.transport = PYLOCKER_TRANSPORT_ADDRESS;
        o.address = c->h.bus_address;
        o.private_socket_mode = PYLOCKER_PRIVATE_SOCKET_DISABLED;
        o.name = "checker";
        g_assert_cmpint(pylocker_locker_open(&o, &locker, &error), ==, 0);
        for (int waited = 0;; waited += 50) {
                PylockerClientInfo *clients = NULL;
                PylockerLockInfo *locks = NULL;

                g_assert_cmpint(pylocker_locker_list_clients(locker, &clients, &n_clients, &error), >=, 0);
                g_assert_cmpint(pylocker_locker_list_locks(locker, &locks, &n_locks, &error), >=, 0);
                if ((n_clients == 1 && n_locks == 0) || waited >= 5000) {
                        for (size_t i = 0; i < n_clients && n_clients != 1; i++)
                                fprintf(stderr, "left: client %s (%s, pid %u)\n", clients[i].client_id,
                                        clients[i].name, clients[i].pid);
                        for (size_t i = 0; i < n_locks; i++)
                                fprintf(stderr, "left: lock %s of %s on %s\n", locks[i].lock_id, locks[i].owner_id,
                                        locks[i].paths[0]);
                        pylocker_client_info_array_free(clients, n_clients);
                        pylocker_lock_info_array_free(locks, n_locks);
                        break;
                }
                pylocker_client_info_array_free(clients, n_clients);
                pylocker_lock_info_array_free(locks, n_locks);
                g_usleep(50 * 1000);
        }
        if (n_clients != 1 || n_locks != 0)
                fail(c, "after the clients' end the daemon still lists %zu clients besides the checker and %zu "
                     "locks", n_clients - 1, n_locks);
        else
                printf("chaos: nothing left of the clients: ListClients has only the checker, ListLocks is empty\n");
        pylocker_locker_unref(locker);
}

static int chaos_main(void) {
        Chaos c = {};
        uint64_t seconds = env_number("PYLOCKER_CHAOS_SECONDS", 60);
        uint64_t progress_bound = env_number("PYLOCKER_CHAOS_PROGRESS_SECONDS", 10) * SEC;
        uint32_t seed = (uint32_t) env_number("PYLOCKER_CHAOS_SEED", g_random_int());
        g_autoptr(GError) error = NULL;
        uint64_t start, deadline;
        FaultKind first_kinds[_FAULT_KIND_MAX];

        printf("chaos: PYLOCKER_CHAOS_SEED=%u PYLOCKER_CHAOS_SECONDS=%" G_GUINT64_FORMAT "\n", seed, seconds);
        fflush(stdout);
        c.rand = g_rand_new_with_seed(seed);
        c.faults = g_array_new(FALSE, FALSE, sizeof(Fault));
        c.exe = g_file_read_link("/proc/self/exe", &error);
        g_assert_no_error(error);

        harness_start_bus_only(&c.h, NULL);
        c.shared = shared_map(c.h.tmpdir, true);
        c.port = test_free_tcp_port(AF_INET);
        c.remote = g_strdup_printf("127.0.0.1:%d", c.port);
        c.secret_file = path_in(c.h.tmpdir, "secret");
        g_assert_true(g_file_set_contents(c.secret_file, SECRET "\n", -1, &error));
        g_assert_cmpint(chmod(c.secret_file, 0600), ==, 0);
        c.state_arg = g_strdup_printf("--state-dir=%s/state", c.h.tmpdir);
        c.bridge_arg = g_strdup_printf("--bridge=%s", c.remote);
        c.secret_arg = g_strdup_printf("--secret-file=%s", c.secret_file);
        g_assert_cmpint(g_mkdir_with_parents(c.state_arg + strlen("--state-dir="), 0700), ==, 0);
        store_start(&c.store, &c.h);
        start_daemon(&c);

        for (unsigned i = 0; i < N_CLIENTS; i++)
                spawn_client(&c, i);

        start = c.start = now_usec();
        deadline = start + seconds * SEC;
        for (int i = 0; i < _FAULT_KIND_MAX; i++)
                first_kinds[i] = (FaultKind) i;
        for (int i = _FAULT_KIND_MAX - 1; i > 0; i--) {
                int k = g_rand_int_range(c.rand, 0, i + 1);
                FaultKind t = first_kinds[i];

                first_kinds[i] = first_kinds[k];
                first_kinds[k] = t;
        }
        /* A calm start, faults one after another, and a calm end in which progress must show. */
        g_usleep(SEC);
        while (now_usec() + 3 * SEC < deadline) {
                FaultKind kind;
                int dice = g_rand_int_range(c.rand, 0, 100);

                /* Every kind once, in a random order, then at random. */
                if (c.faults->len < _FAULT_KIND_MAX)
                        kind = first_kinds[c.faults->len];
                else
                        kind = dice < 25 ? FAULT_KILL_CLIENT :
                               dice < 50 ? FAULT_STOP_CLIENT :
                               dice < 62 ? FAULT_RESTART_TERM :
                               dice < 74 ? FAULT_RESTART_KILL :
                               dice < 87 ? FAULT_FLOOD : FAULT_NEVER_READER;
                inject(&c, kind);
                check_clients_alive(&c);
                g_usleep((gulong) g_rand_int_range(c.rand, 500, 2000) * 1000);
                check_clients_alive(&c);
        }
        /* Progress after the last fault, within the bound. */
        while (now_usec() < deadline ||
               (c.faults->len && store_last_accepted_commit(&c.store) <=
                                 g_array_index(c.faults, Fault, c.faults->len - 1).at &&
                now_usec() < g_array_index(c.faults, Fault, c.faults->len - 1).at + progress_bound)) {
                check_clients_alive(&c);
                g_usleep(100 * 1000);
        }

        /* The clients end by themselves: release, disconnect, exit 0 (and sanitizers have their say). */
        __atomic_store_n(&c.shared->stop, 1, __ATOMIC_SEQ_CST);
        for (unsigned i = 0; i < N_CLIENTS; i++) {
                g_autofree char *what = g_strdup_printf("client %u", c.client_numbers[i]);

                wait_helper(&c, &c.pids[i], what);
        }
        check_nothing_left(&c);

        store_stop(&c.store);
        harness_stop(&c.h);
        check_history(&c, progress_bound);
        printf("chaos: %s after %.1f s\n", c.failures ? "FAILED" : "passed", (double) (now_usec() - start) / SEC);

        g_array_free(c.store.records, TRUE);
        g_mutex_clear(&c.store.mutex);
        g_array_free(c.faults, TRUE);
        g_rand_free(c.rand);
        (void) munmap(c.shared, sizeof(Shared));
        g_free(c.exe);
        g_free(c.remote);
        g_free(c.secret_file);
        g_free(c.state_arg);
        g_free(c.bridge_arg);
        g_free(c.secret_arg);
        return c.failures ? 1 : 0;
}

int main(int argc, char *argv[]) {
        signal(SIGPIPE, SIG_IGN);
        if (argc == 8 && g_str_equal(argv[1], "client")) {
                ClientArgs a = {
                        .slot = (unsigned) atoi(argv[2]),
                        .number = (unsigned) atoi(argv[3]),
                        .kind = (ClientKind) atoi(argv[4]),
                        .tmpdir = argv[5],
                        .bus_address = argv[6],
                        .remote = argv[7],
                };

                return client_main(&a);
        }
        if (argc == 8 && g_str_equal(argv[1], "hostile"))
                return hostile_main(argv[5], argv[6]);
        if (argc == 8 && g_str_equal(argv[1], "never-reader"))
                return never_reader_main(argv[5]);
        return chaos_main();
}
