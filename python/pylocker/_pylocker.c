/* pylocker._pylocker: the module, its error type, and Client, one connection to pylockerd (a
 * PylockerLocker) that many Python threads may use at once.
 *
 * The library's locker is for one thread at a time, so every call on it is made under the client's
 * mutex, with the GIL released (the GIL is never taken while the mutex is held). An acquire that has
 * to wait does not hold the mutex while it waits: it sends an asynchronous Acquire, then polls the
 * locker's fd and its own eventfd without the mutex, and takes the mutex only to process what came.
 * Other threads' calls go on meanwhile. A blocking call made by another thread may read the reply a
 * waiter expects into the library's queue, where poll() cannot see it: so whoever leaves the mutex
 * while acquires are pending first processes the locker until it is idle, which runs the waiters'
 * callbacks, and those wake their threads through the eventfds.
 *
 * A wait interrupted by a signal (Ctrl-C) takes its request back: by reconnecting when that loses
 * nothing (no lock held, no other request pending, an empty inbox: the daemon then drops the request
 * at once), else by leaving it to a reaper thread that releases the lock the moment it is granted. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "_pylocker.h"

#ifndef PYLOCKER_PY_VERSION
#define PYLOCKER_PY_VERSION "unknown"
#endif

/* How long a reconnect that takes back a waiting request keeps trying while the daemon has not yet
 * seen the old connection go (it still holds our name): 500 × 10 ms. */
#define RENAME_TRIES 500
#define RENAME_PAUSE_USEC 10000

PyObject *pylocker_py_error = NULL;

PyObject *pylocker_py_str(const char *s) {
        if (!s)
                s = "";
        return PyUnicode_DecodeUTF8(s, (Py_ssize_t) strlen(s), "replace");
}

PyObject *pylocker_py_raise(int r, const PylockerError *error) {
        PyObject *exc, *name;
        const char *message = error && error->message[0] ? error->message : strerror(r < 0 ? -r : r);

        exc = PyObject_CallFunction(pylocker_py_error, "iN", r < 0 ? -r : r, pylocker_py_str(message));
        if (!exc)
                return NULL;
        name = error && error->name[0] ? pylocker_py_str(error->name) : Py_NewRef(Py_None);
        if (!name || PyObject_SetAttrString(exc, "dbus_name", name) < 0) {
                Py_XDECREF(name);
                Py_DECREF(exc);
                return NULL;
        }
        Py_DECREF(name);
        PyErr_SetObject(pylocker_py_error, exc);
        Py_DECREF(exc);
        return NULL;
}

static int error_set(PylockerError *error, int r, const char *message) {
        error->code = r;
        error->name[0] = 0;
        (void) snprintf(error->message, sizeof(error->message), "%s", message);
        return r;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Milliseconds from now until deadline (CLOCK_MONOTONIC µs), rounded up, capped by cap_ms. */
static int msec_until(uint64_t deadline, uint64_t now, int cap_ms) {
        uint64_t ms;

        if (deadline <= now)
                return 0;
        ms = (deadline - now + 999) / 1000;
        return ms > (uint64_t) cap_ms ? cap_ms : (int) ms;
}

/* --- Client --- */

typedef struct Client Client;
typedef struct Waiter Waiter;

/* One asynchronous Acquire in flight. Its thread frees it once done; an abandoned one (its thread
 * was interrupted) is freed by the callback, which hands a granted lock over for release. */
struct Waiter {
        Waiter *next;
        Client *client;
        pthread_t thread;       /* the waiting thread */
        int wake_fd;            /* its eventfd (the thread's own, see thread_wake_fd()); -1 once abandoned */
        bool done;
        bool abandoned;
        int r;
        PylockerLock *lock;     /* the grant, our reference */
        PylockerError error;
};

struct Client {
        PyObject_HEAD
        pthread_mutex_t mutex;          /* guards everything below and every call on locker */
        PylockerLocker *locker;         /* NULL before the first open */
        Waiter *waiters;                /* asynchronous Acquires in flight */
        PylockerLock **orphans;         /* granted to abandoned waiters: to release */
        size_t n_orphans;
        size_t n_orphans_allocated;
        pthread_t reaper;
        bool reaper_started;            /* a thread to join */
        bool reaper_running;
        bool closing;
        int reaper_wake_fd;
        int secret_fd;                  /* the bridge secret of a remote locker, in a memfd */
        unsigned skip_tries;            /* acquires left that go out asynchronously at once */
        unsigned long n_taken_back;     /* interrupted waits taken back by reconnecting */
        unsigned long n_abandoned;      /* interrupted waits left to the reaper */
        PyObject *weakreflist;
};

static void waiter_free(Waiter *w) {
        if (!w)
                return;
        pylocker_lock_unref(w->lock);
        free(w);
}

/* Each thread that waits has one eventfd, made on its first wait and closed when it exits; a child
 * after fork() makes its own (the parent's is shared with it). */
static pthread_key_t wake_fd_key;
static pthread_once_t wake_fd_once = PTHREAD_ONCE_INIT;
static unsigned fork_generation;

typedef struct WakeFd {
        int fd;
        unsigned generation;
} WakeFd;

static void wake_fd_destroy(void *p) {
        WakeFd *w = p;

        if (w->fd >= 0)
                (void) close(w->fd);
        free(w);
}

static void wake_fd_after_fork(void) {
        fork_generation++;
}

static void wake_fd_init(void) {
        (void) pthread_key_create(&wake_fd_key, wake_fd_destroy);
        (void) pthread_atfork(NULL, NULL, wake_fd_after_fork);
}

/* This thread's eventfd, or -1 with errno set. */
static int thread_wake_fd(void) {
        WakeFd *w;

        (void) pthread_once(&wake_fd_once, wake_fd_init);
        w = pthread_getspecific(wake_fd_key);
        if (w && w->generation == fork_generation)
                return w->fd;
        if (w) {
                /* Inherited through fork(): the descriptor is shared with the parent. */
                (void) close(w->fd);
        } else {
                w = calloc(1, sizeof(WakeFd));
                if (!w)
                        return -1;
                if (pthread_setspecific(wake_fd_key, w) != 0) {
                        free(w);
                        errno = ENOMEM;
                        return -1;
                }
        }
        w->generation = fork_generation;
        w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        return w->fd;
}

static void waiter_unlink(Client *c, Waiter *w) {
        for (Waiter **p = &c->waiters; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        w->next = NULL;
                        return;
                }
}

static bool client_has_abandoned(Client *c) {
        for (Waiter *w = c->waiters; w; w = w->next)
                if (w->abandoned)
                        return true;
        return false;
}

static void orphan_add(Client *c, PylockerLock *lock) {
        if (c->n_orphans == c->n_orphans_allocated) {
                size_t n = c->n_orphans_allocated ? c->n_orphans_allocated * 2 : 4;
                PylockerLock **a = realloc(c->orphans, n * sizeof(PylockerLock *));

                if (!a) {
                        /* Out of memory: the lease, or our disconnect, ends it. */
                        pylocker_lock_unref(lock);
                        return;
                }
                c->orphans = a;
                c->n_orphans_allocated = n;
        }
        c->orphans[c->n_orphans++] = lock;
}

static void on_acquired(PylockerLocker *locker, int r, PylockerLock *lock, const PylockerError *error,
                        void *userdata) {
        Waiter *w = userdata;

        w->done = true;
        w->r = r;
        if (r >= 0)
                w->lock = lock;
        else if (error)
                w->error = *error;
        else
                (void) error_set(&w->error, r, strerror(-r));

        if (w->abandoned) {
                Client *c = w->client;

                waiter_unlink(c, w);
                if (w->lock)
                        orphan_add(c, w->lock);
                w->lock = NULL;
                waiter_free(w);
                return;
        }
        /* Processed by another thread: its own is awake. */
        if (!pthread_equal(w->thread, pthread_self()))
                (void) eventfd_write(w->wake_fd, 1);
}

/* Processes the locker until it is idle (callbacks run from here), and releases what abandoned
 * waiters were granted. Mutex held. */
static void client_dispatch(Client *c) {
        for (;;) {
                if (!c->locker)
                        break;
                while (pylocker_locker_process(c->locker) > 0)
                        ;
                if (c->n_orphans == 0)
                        break;
                while (c->n_orphans > 0) {
                        PylockerLock *lock = c->orphans[--c->n_orphans];

                        /* Nobody waits for the answer. */
                        (void) pylocker_locker_release_nowait(c->locker, pylocker_lock_get_id(lock), NULL);
                        pylocker_lock_unref(lock);
                }
        }
        while (c->n_orphans > 0)
                pylocker_lock_unref(c->orphans[--c->n_orphans]);
}

static void client_lock(Client *c) {
        (void) pthread_mutex_lock(&c->mutex);
}

/* Leaves the mutex; first, while acquires are in flight, processes what a blocking call may have
 * queued for them (see the top of this file). */
static void client_unlock(Client *c) {
        if (c->waiters || c->n_orphans > 0)
                client_dispatch(c);
        (void) pthread_mutex_unlock(&c->mutex);
}

static int client_check(Client *c, PylockerError *error) {
        if (!c->locker)
                return error_set(error, -ENOTCONN, "The locker is not connected to pylockerd.");
        return 0;
}

/* The reaper: processes the locker while abandoned waiters are pending, so that a lock granted to
 * one is released at once even when no other thread uses the locker. */
static void *reaper_main(void *userdata) {
        Client *c = userdata;

        client_lock(c);
        for (;;) {
                struct pollfd p[2] = {};
                uint64_t until = PYLOCKER_INFINITY;
                int events;

                client_dispatch(c);
                if (c->closing || !c->locker)
                        break;
                /* Done once no abandoned request is pending and what it sent (a release that does not
                 * wait for its answer, say) has gone out. */
                events = pylocker_locker_get_events(c->locker);
                if (!client_has_abandoned(c) && (events < 0 || !(events & POLLOUT)))
                        break;
                p[0].fd = pylocker_locker_get_fd(c->locker);
                if (p[0].fd < 0)
                        break;
                p[0].events = events > 0 ? (short) events : POLLIN;
                (void) pylocker_locker_get_timeout(c->locker, &until);
                p[1].fd = c->reaper_wake_fd;
                p[1].events = POLLIN;
                (void) pthread_mutex_unlock(&c->mutex);

                (void) poll(p, 2, msec_until(until, now_usec(), PYLOCKER_PY_SLICE_MSEC));
                if (p[1].revents & POLLIN) {
                        eventfd_t v;

                        (void) eventfd_read(c->reaper_wake_fd, &v);
                }
                client_lock(c);
        }
        c->reaper_running = false;
        (void) pthread_mutex_unlock(&c->mutex);
        return NULL;
}

/* Mutex held. */
static void reaper_ensure(Client *c) {
        sigset_t all, old;

        if (c->reaper_running)
                return;
        if (c->reaper_started) {
                /* It is on its way out (it no longer needs the mutex). */
                (void) pthread_join(c->reaper, NULL);
                c->reaper_started = false;
        }
        if (c->reaper_wake_fd < 0)
                return;

        /* Signals are for Python's threads: the reaper blocks them all. */
        (void) sigfillset(&all);
        (void) pthread_sigmask(SIG_SETMASK, &all, &old);
        if (pthread_create(&c->reaper, NULL, reaper_main, c) == 0)
                c->reaper_started = c->reaper_running = true;
        (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Restarts the locker, waiting while the daemon still has the old connection's name. Mutex held. */
static int client_restart(Client *c, PylockerError *error) {
        int r = 0;

        for (unsigned i = 0; i < RENAME_TRIES; i++) {
                r = pylocker_locker_restart(c->locker, error);
                if (r != -EEXIST)
                        break;
                (void) usleep(RENAME_PAUSE_USEC);
        }
        return r;
}

static PyObject *client_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
        Client *c;

        c = (Client *) type->tp_alloc(type, 0);
        if (!c)
                return NULL;
        c->secret_fd = -1;
        c->reaper_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->reaper_wake_fd < 0 || pthread_mutex_init(&c->mutex, NULL) != 0) {
                PyErr_SetFromErrno(PyExc_OSError);
                if (c->reaper_wake_fd >= 0)
                        (void) close(c->reaper_wake_fd);
                Py_TYPE(c)->tp_free(c);
                return NULL;
        }
        return (PyObject *) c;
}

static void client_teardown(Client *c) {
        client_lock(c);
        c->closing = true;
        if (c->reaper_wake_fd >= 0)
                (void) eventfd_write(c->reaper_wake_fd, 1);
        (void) pthread_mutex_unlock(&c->mutex);
        if (c->reaper_started)
                (void) pthread_join(c->reaper, NULL);

        client_lock(c);
        /* Disconnects: the daemon releases our locks and drops our requests. No callback runs. */
        c->locker = pylocker_locker_unref(c->locker);
        while (c->waiters) {
                Waiter *w = c->waiters;

                c->waiters = w->next;
                waiter_free(w);
        }
        while (c->n_orphans > 0)
                pylocker_lock_unref(c->orphans[--c->n_orphans]);
        free(c->orphans);
        c->orphans = NULL;
        (void) pthread_mutex_unlock(&c->mutex);
        (void) pthread_mutex_destroy(&c->mutex);
        if (c->reaper_wake_fd >= 0)
                (void) close(c->reaper_wake_fd);
        if (c->secret_fd >= 0)
                (void) close(c->secret_fd);
}

static void client_dealloc(Client *c) {
        if (c->weakreflist)
                PyObject_ClearWeakRefs((PyObject *) c);
        Py_BEGIN_ALLOW_THREADS
        client_teardown(c);
        Py_END_ALLOW_THREADS
        Py_TYPE(c)->tp_free(c);
}

/* A file holding secret, readable by us only, that never touches a disk: a memfd (else an unnamed
 * O_TMPFILE). Returns its fd, or -1 with errno set. */
static int secret_fd_new(const char *secret, size_t size) {
        int fd;

        fd = memfd_create("pylocker-bridge-secret", MFD_CLOEXEC);
        if (fd < 0)
                fd = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return -1;
        if (fchmod(fd, 0600) < 0)
                goto fail;
        for (size_t done = 0; done < size;) {
                ssize_t n = write(fd, secret + done, size - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        goto fail;
                done += (size_t) n;
        }
        return fd;

fail:
        {
                int saved = errno ? errno : EIO;

                (void) close(fd);
                errno = saved;
        }
        return -1;
}

/* open(transport, address, remote, secret, name, private_socket, private_socket_disabled) */
static PyObject *client_open(Client *c, PyObject *args) {
        PylockerLockerOptions o = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLocker *locker = NULL;
        const char *address, *remote, *name, *private_socket;
        const char *secret;
        Py_ssize_t secret_size;
        char secret_path[64];
        int transport, disabled, secret_fd = -1, r;

        if (!PyArg_ParseTuple(args, "izzz#zzp", &transport, &address, &remote, &secret, &secret_size, &name,
                              &private_socket, &disabled))
                return NULL;
        if (transport < PYLOCKER_TRANSPORT_SYSTEM || transport > PYLOCKER_TRANSPORT_REMOTE) {
                PyErr_SetString(PyExc_ValueError, "unknown transport");
                return NULL;
        }

        if (secret) {
                secret_fd = secret_fd_new(secret, (size_t) secret_size);
                if (secret_fd < 0)
                        return PyErr_SetFromErrno(PyExc_OSError);
                (void) snprintf(secret_path, sizeof(secret_path), "/proc/self/fd/%d", secret_fd);
                o.secret_file = secret_path;
        }
        o.transport = (PylockerTransport) transport;
        o.address = address;
        o.remote = remote;
        o.name = name;
        o.private_socket = private_socket;
        o.private_socket_mode = disabled ? PYLOCKER_PRIVATE_SOCKET_DISABLED : PYLOCKER_PRIVATE_SOCKET_AUTO;

        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        if (c->locker) {
                /* Its requests fail (their threads see -ECANCELED), its locks go with it. */
                (void) pylocker_locker_close(c->locker);
                c->locker = pylocker_locker_unref(c->locker);
        }
        for (unsigned i = 0; i < RENAME_TRIES; i++) {
                r = pylocker_locker_open(&o, &locker, &error);
                if (r != -EEXIST)
                        break;
                (void) usleep(RENAME_PAUSE_USEC);
        }
        if (r >= 0) {
                c->locker = locker;
                if (c->secret_fd >= 0)
                        (void) close(c->secret_fd);
                c->secret_fd = secret_fd;
                secret_fd = -1;
        }
        client_unlock(c);
        Py_END_ALLOW_THREADS

        if (secret_fd >= 0)
                (void) close(secret_fd);
        if (r < 0)
                return pylocker_py_raise(r, &error);
        Py_RETURN_NONE;
}

static PyObject *client_close(Client *c, PyObject *unused) {
        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        if (c->locker)
                (void) pylocker_locker_close(c->locker);
        client_unlock(c);
        Py_END_ALLOW_THREADS
        Py_RETURN_NONE;
}

static PyObject *client_restart_py(Client *c, PyObject *unused) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        int r;

        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        r = client_check(c, &error);
        if (r >= 0)
                r = client_restart(c, &error);
        client_unlock(c);
        Py_END_ALLOW_THREADS
        if (r < 0)
                return pylocker_py_raise(r, &error);
        Py_RETURN_NONE;
}

/* (connected, client id, direct, max lock time µs, default timeout µs, server version) */
static PyObject *client_info(Client *c, PyObject *unused) {
        char *id = NULL, *version = NULL;
        uint64_t max_lock = 0, default_timeout = 0;
        int connected = 0, direct = 0;
        PyObject *result;

        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        if (c->locker) {
                client_dispatch(c);
                connected = pylocker_locker_is_connected(c->locker);
                direct = pylocker_locker_is_direct(c->locker);
                id = pylocker_locker_get_client_id(c->locker) ? strdup(pylocker_locker_get_client_id(c->locker)) :
                                                                 NULL;
                version = pylocker_locker_get_server_version(c->locker) ?
                                  strdup(pylocker_locker_get_server_version(c->locker)) : NULL;
                max_lock = pylocker_locker_get_max_lock_time(c->locker);
                default_timeout = pylocker_locker_get_default_timeout(c->locker);
        }
        client_unlock(c);
        Py_END_ALLOW_THREADS

        result = Py_BuildValue("(NNNKKN)", PyBool_FromLong(connected),
                               id ? pylocker_py_str(id) : Py_NewRef(Py_None), PyBool_FromLong(direct),
                               (unsigned long long) max_lock, (unsigned long long) default_timeout,
                               version ? pylocker_py_str(version) : Py_NewRef(Py_None));
        free(id);
        free(version);
        return result;
}

static PyObject *client_connected(Client *c, PyObject *unused) {
        int connected = 0;

        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        if (c->locker) {
                client_dispatch(c);
                connected = pylocker_locker_is_connected(c->locker);
        }
        client_unlock(c);
        Py_END_ALLOW_THREADS
        return PyBool_FromLong(connected);
}

/* The pid at the other end of a direct socket (the daemon), or None. */
static PyObject *client_peer_pid(Client *c, PyObject *unused) {
        struct ucred cred = {};
        socklen_t len = sizeof(cred);
        int r = -1;

        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        if (c->locker && pylocker_locker_is_direct(c->locker)) {
                int fd = pylocker_locker_get_fd(c->locker);

                if (fd >= 0)
                        r = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
        }
        client_unlock(c);
        Py_END_ALLOW_THREADS
        if (r < 0 || cred.pid <= 0)
                Py_RETURN_NONE;
        return PyLong_FromLong((long) cred.pid);
}

static PyObject *client_stats(Client *c, PyObject *unused) {
        unsigned long taken_back, abandoned;
        unsigned waiting = 0;
        int reaper;

        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        taken_back = c->n_taken_back;
        abandoned = c->n_abandoned;
        for (Waiter *w = c->waiters; w; w = w->next)
                waiting++;
        reaper = c->reaper_running;
        (void) pthread_mutex_unlock(&c->mutex);
        Py_END_ALLOW_THREADS
        return Py_BuildValue("{s:k,s:k,s:I,s:N}", "taken_back", taken_back, "abandoned", abandoned, "pending",
                             waiting, "reaper", PyBool_FromLong(reaper));
}

/* Paths from a tuple of str, as UTF-8 borrowed from the objects (which args keeps alive). */
static const char **paths_from_tuple(PyObject *tuple) {
        Py_ssize_t n = PyTuple_GET_SIZE(tuple);
        const char **paths;

        if (n == 0) {
                PyErr_SetString(PyExc_ValueError, "no path given");
                return NULL;
        }
        paths = PyMem_Calloc((size_t) n + 1, sizeof(char *));
        if (!paths)
                return (const char **) PyErr_NoMemory();
        for (Py_ssize_t i = 0; i < n; i++) {
                PyObject *item = PyTuple_GET_ITEM(tuple, i);
                Py_ssize_t size;

                if (!PyUnicode_Check(item)) {
                        PyErr_Format(PyExc_TypeError, "path must be str, not %.100s", Py_TYPE(item)->tp_name);
                        goto fail;
                }
                paths[i] = PyUnicode_AsUTF8AndSize(item, &size);
                if (!paths[i])
                        goto fail;
                if (strlen(paths[i]) != (size_t) size) {
                        PyErr_SetString(PyExc_ValueError, "path contains a NUL character");
                        goto fail;
                }
        }
        return paths;

fail:
        PyMem_Free(paths);
        return NULL;
}

static char *lock_take_id(PylockerLock *lock) {
        char *id = strdup(pylocker_lock_get_id(lock) ?: "");

        pylocker_lock_unref(lock);
        return id;
}

/* After a try found the path taken, how many acquires skip the try. */
#define SKIP_TRIES 8

/* Acquires: returns 0 and *ret_id when had, 1 and *ret_waiter when its answer is to be waited for,
 * or a negative errno. No GIL.
 *
 * A waiting Acquire goes out asynchronously: a blocking call would hold the mutex while it waits, and
 * a thread of this locker that must release the path first would then wait for it. Where paths are
 * free, a blocking try (nonblocking) is cheaper than an asynchronous call and its processing; where
 * they are taken, it is a wasted round trip. So a locker tries first unless a recent try found the
 * paths taken. nonblocking: try once, never wait. */
static int acquire_start(Client *c, const char *const *paths, const PylockerAcquireOptions *o, bool nonblocking,
                         char **ret_id, Waiter **ret_waiter, PylockerError *error) {
        PylockerLock *lock = NULL;
        Waiter *w;
        int r;

        client_lock(c);
        r = client_check(c, error);
        if (r < 0) {
                client_unlock(c);
                return r;
        }

        if (nonblocking || c->skip_tries == 0) {
                PylockerAcquireOptions once = *o;

                once.flags |= PYLOCKER_ACQUIRE_NONBLOCKING;
                r = pylocker_locker_acquire(c->locker, paths, &once, &lock, error);
                if (r >= 0) {
                        *ret_id = lock_take_id(lock);
                        r = *ret_id ? 0 : error_set(error, -ENOMEM, "Out of memory.");
                }
                if (r != -ETIMEDOUT || nonblocking) {
                        client_unlock(c);
                        return r;
                }
                c->skip_tries = SKIP_TRIES;
                memset(error, 0, sizeof(*error));
        } else
                c->skip_tries--;

        w = calloc(1, sizeof(Waiter));
        if (!w) {
                client_unlock(c);
                return error_set(error, -ENOMEM, "Out of memory.");
        }
        w->client = c;
        w->thread = pthread_self();
        w->wake_fd = thread_wake_fd();
        if (w->wake_fd < 0) {
                r = error_set(error, -errno, "Cannot make an eventfd.");
                waiter_free(w);
                client_unlock(c);
                return r;
        }
        r = pylocker_locker_acquire_async(c->locker, paths, o, on_acquired, w, error);
        if (r < 0) {
                waiter_free(w);
                client_unlock(c);
                return r;
        }
        w->next = c->waiters;
        c->waiters = w;
        *ret_waiter = w;
        /* Sending read nothing, so nothing waits to be processed: no need to process on the way out. */
        (void) pthread_mutex_unlock(&c->mutex);
        return 1;
}

/* Waits up to one slice for w. Returns 0 and *ret_id when granted, 1 when the slice ran out, or a
 * negative errno. In every case but 1, w is freed. polled: whether the fd was polled since the
 * locker was last processed (else what came is processed already, see the top of this file). No
 * GIL. */
static int acquire_wait(Client *c, Waiter *w, bool polled, char **ret_id, PylockerError *error) {
        uint64_t slice_end = now_usec() + PYLOCKER_PY_SLICE_MSEC * UINT64_C(1000);

        for (;;) {
                struct pollfd p[2] = {};
                uint64_t until = PYLOCKER_INFINITY, now;
                int r;

                client_lock(c);
                if (polled)
                        client_dispatch(c);
                if (!w->done && (!c->locker || (p[0].fd = pylocker_locker_get_fd(c->locker)) < 0)) {
                        /* Closed under us without the request failing: cannot happen, but never hang. */
                        waiter_unlink(c, w);
                        w->done = true;
                        w->r = error_set(&w->error, -ENOTCONN, "The locker was closed.");
                }
                if (w->done) {
                        waiter_unlink(c, w);
                        r = w->r;
                        if (r >= 0) {
                                /* Lock objects are freed under the mutex: the last unref touches the
                                 * locker. */
                                *ret_id = lock_take_id(w->lock);
                                w->lock = NULL;
                                r = *ret_id ? 0 : error_set(error, -ENOMEM, "Out of memory.");
                        } else
                                *error = w->error;
                        (void) pthread_mutex_unlock(&c->mutex);
                        waiter_free(w);
                        return r;
                }
                p[0].events = (short) pylocker_locker_get_events(c->locker);
                if (p[0].events <= 0)
                        p[0].events = POLLIN;
                (void) pylocker_locker_get_timeout(c->locker, &until);
                (void) pthread_mutex_unlock(&c->mutex);

                now = now_usec();
                if (now >= slice_end)
                        return 1;
                p[1].fd = w->wake_fd;
                p[1].events = POLLIN;
                (void) poll(p, 2, msec_until(until < slice_end ? until : slice_end, now, PYLOCKER_PY_SLICE_MSEC));
                if (p[1].revents & POLLIN) {
                        eventfd_t v;

                        (void) eventfd_read(w->wake_fd, &v);
                }
                polled = true;
        }
}

/* The wait for w was interrupted: takes the request back (see the top of this file). No GIL. */
static void acquire_cancel(Client *c, Waiter *w) {
        PylockerPublication *inbox = NULL;
        size_t n_inbox = 0;
        bool alone;

        client_lock(c);
        client_dispatch(c);
        if (w->done) {
                /* Answered meanwhile: give back what it got. */
                waiter_unlink(c, w);
                if (w->r >= 0 && c->locker)
                        (void) pylocker_locker_release_nowait(c->locker, pylocker_lock_get_id(w->lock), NULL);
                waiter_free(w);
                client_unlock(c);
                return;
        }

        w->abandoned = true;
        w->wake_fd = -1;

        alone = c->locker && pylocker_locker_is_connected(c->locker) && c->waiters == w && !w->next &&
                c->n_orphans == 0 && pylocker_locker_get_n_owned_locks(c->locker) == 0 &&
                pylocker_locker_list_messages(c->locker, &inbox, &n_inbox, NULL) == 0;
        pylocker_publication_array_free(inbox, n_inbox);
        if (alone) {
                /* Nothing of ours would go with the connection but this request: the daemon drops it
                 * at once. The callback (-ECANCELED) frees w. */
                (void) pylocker_locker_close(c->locker);
                (void) client_restart(c, NULL);
                c->n_taken_back++;
        } else {
                reaper_ensure(c);
                c->n_abandoned++;
        }
        client_unlock(c);
}

/* acquire(paths, timeout_usec, ttl_usec, nonblocking) -> lock id; raises Error. */
static PyObject *client_acquire(Client *c, PyObject *args) {
        PylockerAcquireOptions o = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        unsigned long long timeout_usec, ttl_usec;
        PyObject *tuple, *result;
        const char **paths;
        Waiter *w = NULL;
        char *id = NULL;
        int nonblocking, r;

        if (!PyArg_ParseTuple(args, "O!KKp", &PyTuple_Type, &tuple, &timeout_usec, &ttl_usec, &nonblocking))
                return NULL;
        paths = paths_from_tuple(tuple);
        if (!paths)
                return NULL;
        o.timeout_usec = timeout_usec;
        o.ttl_usec = ttl_usec;

        Py_BEGIN_ALLOW_THREADS
        r = acquire_start(c, paths, &o, nonblocking, &id, &w, &error);
        Py_END_ALLOW_THREADS

        for (bool polled = false; r == 1; polled = true) {
                Py_BEGIN_ALLOW_THREADS
                r = acquire_wait(c, w, polled, &id, &error);
                Py_END_ALLOW_THREADS
                if (r == 1 && PyErr_CheckSignals() < 0) {
                        PyObject *type, *value, *traceback;

                        PyErr_Fetch(&type, &value, &traceback);
                        Py_BEGIN_ALLOW_THREADS
                        acquire_cancel(c, w);
                        Py_END_ALLOW_THREADS
                        PyErr_Restore(type, value, traceback);
                        PyMem_Free(paths);
                        return NULL;
                }
        }
        PyMem_Free(paths);
        if (r < 0)
                return pylocker_py_raise(r, &error);
        result = pylocker_py_str(id);
        free(id);
        return result;
}

/* release(lock_id) -> 0 (not found) or 1 (released); raises Error. */
static PyObject *client_release(Client *c, PyObject *args) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        const char *id;
        int r;

        if (!PyArg_ParseTuple(args, "s", &id))
                return NULL;
        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        r = client_check(c, &error);
        if (r >= 0)
                r = pylocker_locker_release(c->locker, id, &error);
        client_unlock(c);
        Py_END_ALLOW_THREADS
        if (r < 0)
                return pylocker_py_raise(r, &error);
        return PyLong_FromLong(r);
}

static PyObject *strv_to_tuple(const char *const *strv) {
        Py_ssize_t n = 0;
        PyObject *t;

        while (strv && strv[n])
                n++;
        t = PyTuple_New(n);
        if (!t)
                return NULL;
        for (Py_ssize_t i = 0; i < n; i++) {
                PyObject *s = pylocker_py_str(strv[i]);

                if (!s) {
                        Py_DECREF(t);
                        return NULL;
                }
                PyTuple_SET_ITEM(t, i, s);
        }
        return t;
}

/* The locks this client holds, as the library knows them (expiries processed first): a list of
 * (lock id, paths, token, expires µs realtime). */
typedef struct OwnedCopy {
        char *id;
        char **paths;
        uint64_t token;
        uint64_t expires;
} OwnedCopy;

static char **strv_copy(const char *const *strv) {
        size_t n = 0;
        char **copy;

        while (strv && strv[n])
                n++;
        copy = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; copy && i < n; i++)
                copy[i] = strdup(strv[i]);
        return copy;
}

static void strv_free_copy(char **strv) {
        for (size_t i = 0; strv && strv[i]; i++)
                free(strv[i]);
        free(strv);
}

static PyObject *client_owned(Client *c, PyObject *unused) {
        OwnedCopy *owned = NULL;
        size_t n = 0;
        PyObject *list;

        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        if (c->locker) {
                client_dispatch(c);
                n = pylocker_locker_get_n_owned_locks(c->locker);
                owned = n > 0 ? calloc(n, sizeof(OwnedCopy)) : NULL;
                if (!owned)
                        n = 0;
                for (size_t i = 0; i < n; i++) {
                        PylockerLock *lock = pylocker_locker_get_owned_lock(c->locker, i);

                        owned[i].id = strdup(pylocker_lock_get_id(lock) ?: "");
                        owned[i].paths = strv_copy(pylocker_lock_get_paths(lock));
                        owned[i].token = pylocker_lock_get_token(lock);
                        owned[i].expires = pylocker_lock_get_expires(lock);
                }
        }
        client_unlock(c);
        Py_END_ALLOW_THREADS

        list = PyList_New(0);
        for (size_t i = 0; i < n; i++) {
                PyObject *item = NULL;

                if (list && owned[i].id && owned[i].paths)
                        item = Py_BuildValue("(NNKK)", pylocker_py_str(owned[i].id),
                                             strv_to_tuple((const char *const *) owned[i].paths),
                                             (unsigned long long) owned[i].token,
                                             (unsigned long long) owned[i].expires);
                else if (list)
                        PyErr_NoMemory();
                if (!item || PyList_Append(list, item) < 0)
                        Py_CLEAR(list);
                Py_XDECREF(item);
                free(owned[i].id);
                strv_free_copy(owned[i].paths);
        }
        free(owned);
        return list;
}

/* Every lock of the daemon: a list of (lock id, paths, owner id, owner name, token, shared, acquired,
 * expires). */
static PyObject *client_list_locks(Client *c, PyObject *unused) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLockInfo *infos = NULL;
        size_t n = 0;
        PyObject *list;
        int r;

        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        r = client_check(c, &error);
        if (r >= 0)
                r = pylocker_locker_list_locks(c->locker, &infos, &n, &error);
        client_unlock(c);
        Py_END_ALLOW_THREADS
        if (r < 0)
                return pylocker_py_raise(r, &error);

        list = PyList_New(0);
        for (size_t i = 0; list && i < n; i++) {
                const PylockerLockInfo *l = infos + i;
                PyObject *item = Py_BuildValue("(NNNNKNKK)", pylocker_py_str(l->lock_id),
                                               strv_to_tuple((const char *const *) l->paths),
                                               pylocker_py_str(l->owner_id), pylocker_py_str(l->owner_name),
                                               (unsigned long long) l->token,
                                               PyBool_FromLong(!!(l->flags & PYLOCKER_LOCK_INFO_SHARED)),
                                               (unsigned long long) l->acquired_usec,
                                               (unsigned long long) l->expires_usec);

                if (!item || PyList_Append(list, item) < 0)
                        Py_CLEAR(list);
                Py_XDECREF(item);
        }
        pylocker_lock_info_array_free(infos, n);
        return list;
}

/* Receivers or senders: None, or a tuple of str, as a NULL-terminated array borrowed from args. */
static int names_from_arg(PyObject *obj, const char ***ret) {
        Py_ssize_t n;
        const char **names;

        *ret = NULL;
        if (obj == Py_None)
                return 0;
        if (!PyTuple_Check(obj)) {
                PyErr_SetString(PyExc_TypeError, "expected None or a tuple of str");
                return -1;
        }
        n = PyTuple_GET_SIZE(obj);
        names = PyMem_Calloc((size_t) n + 1, sizeof(char *));
        if (!names) {
                PyErr_NoMemory();
                return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
                PyObject *item = PyTuple_GET_ITEM(obj, i);
                Py_ssize_t size;

                if (!PyUnicode_Check(item)) {
                        PyErr_Format(PyExc_TypeError, "name must be str, not %.100s", Py_TYPE(item)->tp_name);
                        goto fail;
                }
                names[i] = PyUnicode_AsUTF8AndSize(item, &size);
                if (!names[i])
                        goto fail;
                if (strlen(names[i]) != (size_t) size) {
                        PyErr_SetString(PyExc_ValueError, "name contains a NUL character");
                        goto fail;
                }
        }
        *ret = names;
        return 0;

fail:
        PyMem_Free(names);
        return -1;
}

/* publish(message, receivers, timeout_usec, flags) -> (r, publication id); raises Error. */
static PyObject *client_publish(Client *c, PyObject *args) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        unsigned long long timeout_usec;
        const char **receivers = NULL;
        PyObject *receivers_obj, *result;
        const char *message;
        Py_ssize_t message_size;
        unsigned flags;
        char *id = NULL;
        int r;

        if (!PyArg_ParseTuple(args, "s#OKI", &message, &message_size, &receivers_obj, &timeout_usec, &flags))
                return NULL;
        if (strlen(message) != (size_t) message_size) {
                PyErr_SetString(PyExc_ValueError, "message contains a NUL character");
                return NULL;
        }
        if (names_from_arg(receivers_obj, &receivers) < 0)
                return NULL;

        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        r = client_check(c, &error);
        if (r >= 0)
                r = pylocker_locker_publish(c->locker, message, receivers, timeout_usec, flags, &id, &error);
        client_unlock(c);
        Py_END_ALLOW_THREADS
        PyMem_Free(receivers);
        if (r < 0)
                return pylocker_py_raise(r, &error);
        result = Py_BuildValue("(iN)", r, pylocker_py_str(id));
        pylocker_string_free(id);
        return result;
}

static PyObject *publications_to_list(PylockerPublication *p, size_t n) {
        PyObject *list = PyList_New(0);

        for (size_t i = 0; list && i < n; i++) {
                PyObject *item = Py_BuildValue("(NNNNKK)", pylocker_py_str(p[i].message),
                                               pylocker_py_str(p[i].publication_id), pylocker_py_str(p[i].sender_id),
                                               pylocker_py_str(p[i].sender_name),
                                               (unsigned long long) p[i].published_usec,
                                               (unsigned long long) p[i].expires_usec);

                if (!item || PyList_Append(list, item) < 0)
                        Py_CLEAR(list);
                Py_XDECREF(item);
        }
        pylocker_publication_array_free(p, n);
        return list;
}

enum { INBOX_LIST, INBOX_GET, INBOX_POP };

static PyObject *client_inbox(Client *c, PyObject *args, int what) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerPublication *p = NULL;
        const char *message = NULL;
        size_t n = 0;
        int r;

        if (what != INBOX_LIST && !PyArg_ParseTuple(args, "s", &message))
                return NULL;
        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        r = client_check(c, &error);
        if (r >= 0) {
                if (what == INBOX_LIST)
                        r = pylocker_locker_list_messages(c->locker, &p, &n, &error);
                else if (what == INBOX_GET)
                        r = pylocker_locker_get_message(c->locker, message, &p, &n, &error);
                else
                        r = pylocker_locker_pop_message(c->locker, message, &p, &n, &error);
        }
        client_unlock(c);
        Py_END_ALLOW_THREADS
        if (r < 0)
                return pylocker_py_raise(r, &error);
        return publications_to_list(p, n);
}

static PyObject *client_list_messages(Client *c, PyObject *unused) {
        return client_inbox(c, NULL, INBOX_LIST);
}

static PyObject *client_get_message(Client *c, PyObject *args) {
        return client_inbox(c, args, INBOX_GET);
}

static PyObject *client_pop_message(Client *c, PyObject *args) {
        return client_inbox(c, args, INBOX_POP);
}

static PyObject *client_has_message(Client *c, PyObject *args) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        const char *message;
        int r;

        if (!PyArg_ParseTuple(args, "s", &message))
                return NULL;
        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        r = client_check(c, &error);
        if (r >= 0)
                r = pylocker_locker_has_message(c->locker, message, &error);
        client_unlock(c);
        Py_END_ALLOW_THREADS
        if (r < 0)
                return pylocker_py_raise(r, &error);
        return PyBool_FromLong(r);
}

/* remove_message(message, senders) -> number removed. */
static PyObject *client_remove_message(Client *c, PyObject *args) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        const char **senders = NULL;
        PyObject *senders_obj;
        const char *message;
        int r;

        if (!PyArg_ParseTuple(args, "sO", &message, &senders_obj))
                return NULL;
        if (names_from_arg(senders_obj, &senders) < 0)
                return NULL;
        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        r = client_check(c, &error);
        if (r >= 0)
                r = pylocker_locker_remove_message(c->locker, message, senders, &error);
        client_unlock(c);
        Py_END_ALLOW_THREADS
        PyMem_Free(senders);
        if (r < 0)
                return pylocker_py_raise(r, &error);
        return PyLong_FromLong(r);
}

/* The daemon's properties, fresh: a dict. */
static PyObject *client_status(Client *c, PyObject *unused) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerStatus s = {};
        int r;

        Py_BEGIN_ALLOW_THREADS
        client_lock(c);
        r = client_check(c, &error);
        if (r >= 0)
                r = pylocker_locker_get_status(c->locker, &s, &error);
        client_unlock(c);
        Py_END_ALLOW_THREADS
        if (r < 0)
                return pylocker_py_raise(r, &error);
        return Py_BuildValue("{s:N,s:K,s:K,s:I,s:I,s:I}", "version", pylocker_py_str(s.version),
                             "max_lock_time_usec", (unsigned long long) s.max_lock_time_usec,
                             "default_timeout_usec", (unsigned long long) s.default_timeout_usec,
                             "lock_count", s.lock_count, "waiter_count", s.waiter_count,
                             "client_count", s.client_count);
}

/* In a child after fork(): the parent's connection, requests and threads are not ours. The locker is
 * left as it is (closing it here would touch the parent's connection and its transport thread), and
 * this client starts afresh, not connected. */
static PyObject *client_after_fork_child(Client *c, PyObject *unused) {
        (void) pthread_mutex_init(&c->mutex, NULL);
        c->locker = NULL;
        c->waiters = NULL;
        c->n_orphans = 0;
        c->reaper_started = c->reaper_running = false;
        c->closing = false;
        c->reaper_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        Py_RETURN_NONE;
}

static PyMethodDef client_methods[] = {
        { "open", (PyCFunction) client_open, METH_VARARGS,
          "open(transport, address, remote, secret, name, private_socket, private_socket_disabled)" },
        { "close", (PyCFunction) client_close, METH_NOARGS, "Disconnects (the daemon drops our locks)." },
        { "restart", (PyCFunction) client_restart_py, METH_NOARGS, "Connects again, as last opened." },
        { "info", (PyCFunction) client_info, METH_NOARGS,
          "(connected, client id, direct, max lock time µs, default timeout µs, server version)" },
        { "connected", (PyCFunction) client_connected, METH_NOARGS, "Whether connected and usable." },
        { "peer_pid", (PyCFunction) client_peer_pid, METH_NOARGS, "pid of the daemon on a direct socket." },
        { "stats", (PyCFunction) client_stats, METH_NOARGS, "Counters of interrupted waits." },
        { "acquire", (PyCFunction) client_acquire, METH_VARARGS,
          "acquire(paths, timeout_usec, ttl_usec, nonblocking) -> lock id" },
        { "release", (PyCFunction) client_release, METH_VARARGS, "release(lock_id) -> 0 or 1" },
        { "owned", (PyCFunction) client_owned, METH_NOARGS, "[(lock id, paths, token, expires)]" },
        { "list_locks", (PyCFunction) client_list_locks, METH_NOARGS,
          "[(lock id, paths, owner id, owner name, token, shared, acquired, expires)]" },
        { "publish", (PyCFunction) client_publish, METH_VARARGS,
          "publish(message, receivers, timeout_usec, flags) -> (r, publication id)" },
        { "list_messages", (PyCFunction) client_list_messages, METH_NOARGS,
          "[(message, publication id, sender id, sender name, published, expires)]" },
        { "get_message", (PyCFunction) client_get_message, METH_VARARGS, "as list_messages, for one message" },
        { "pop_message", (PyCFunction) client_pop_message, METH_VARARGS, "as get_message, and removes them" },
        { "has_message", (PyCFunction) client_has_message, METH_VARARGS, "has_message(message) -> bool" },
        { "remove_message", (PyCFunction) client_remove_message, METH_VARARGS,
          "remove_message(message, senders) -> number removed" },
        { "status", (PyCFunction) client_status, METH_NOARGS, "The daemon's properties." },
        { "_after_fork_child", (PyCFunction) client_after_fork_child, METH_NOARGS,
          "Forget the parent's connection (called in a child after fork)." },
        {}
};

PyTypeObject pylocker_py_client_type = {
        PyVarObject_HEAD_INIT(NULL, 0)
        .tp_name = "pylocker._pylocker.Client",
        .tp_doc = "One connection to pylockerd (a PylockerLocker), usable from many threads.",
        .tp_basicsize = sizeof(Client),
        .tp_flags = Py_TPFLAGS_DEFAULT,
        .tp_new = client_new,
        .tp_dealloc = (destructor) client_dealloc,
        .tp_methods = client_methods,
        .tp_weaklistoffset = offsetof(Client, weakreflist),
};

/* --- the module --- */

static struct PyModuleDef module = {
        PyModuleDef_HEAD_INIT,
        .m_name = "pylocker._pylocker",
        .m_doc = "The C part of pylocker: libpylocker-dbus for Python.",
        .m_size = -1,
};

PyMODINIT_FUNC PyInit__pylocker(void);

PyMODINIT_FUNC PyInit__pylocker(void) {
        PyObject *m;

        if (PyType_Ready(&pylocker_py_client_type) < 0 || PyType_Ready(&pylocker_py_file_lock_type) < 0)
                return NULL;
        m = PyModule_Create(&module);
        if (!m)
                return NULL;

        pylocker_py_error = PyErr_NewExceptionWithDoc(
                "pylocker._pylocker.Error",
                "A call of libpylocker-dbus failed: errno, strerror (the library's message), and dbus_name "
                "(the daemon's D-Bus error name, or None).",
                PyExc_OSError, NULL);
        if (!pylocker_py_error ||
            PyModule_AddObjectRef(m, "Error", pylocker_py_error) < 0 ||
            PyModule_AddObjectRef(m, "Client", (PyObject *) &pylocker_py_client_type) < 0 ||
            PyModule_AddObjectRef(m, "FileLock", (PyObject *) &pylocker_py_file_lock_type) < 0 ||
            PyModule_AddStringConstant(m, "VERSION", PYLOCKER_PY_VERSION) < 0 ||
            PyModule_AddIntConstant(m, "TRANSPORT_SYSTEM", PYLOCKER_TRANSPORT_SYSTEM) < 0 ||
            PyModule_AddIntConstant(m, "TRANSPORT_USER", PYLOCKER_TRANSPORT_USER) < 0 ||
            PyModule_AddIntConstant(m, "TRANSPORT_ADDRESS", PYLOCKER_TRANSPORT_ADDRESS) < 0 ||
            PyModule_AddIntConstant(m, "TRANSPORT_REMOTE", PYLOCKER_TRANSPORT_REMOTE) < 0 ||
            PyModule_AddIntConstant(m, "PUBLISH_NOT_TO_SELF", PYLOCKER_PUBLISH_NOT_TO_SELF) < 0 ||
            PyModule_AddIntConstant(m, "PUBLISH_UNIQUE", PYLOCKER_PUBLISH_UNIQUE) < 0 ||
            PyModule_AddIntConstant(m, "PUBLISH_NO_REPLACE", PYLOCKER_PUBLISH_NO_REPLACE) < 0 ||
            PyModule_AddObject(m, "INFINITY", PyLong_FromUnsignedLongLong(PYLOCKER_INFINITY)) < 0) {
                Py_DECREF(m);
                return NULL;
        }
        return m;
}
