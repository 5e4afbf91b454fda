/* Locks: Acquire, AcquireHandle, Release, Refresh and ForceRelease, blocking and asynchronous, on the
 * bus or the wire, and the lock objects they give. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include <pylocker/pylocker-client.h>

#include "bus-options.h"
#include "client-internal.h"
#include "client-wire.h"
#include "lib-util.h"
#include "macro.h"
#include "sd-cleanup.h"

PendingCall *pending_call_free(PendingCall *p) {
        if (!p)
                return NULL;
        sd_bus_slot_unref(p->slot);
        g_strfreev(p->paths);
        g_free(p->lock_id);
        g_free(p);
        return NULL;
}

PylockerLock *lock_new(PylockerLocker *l, const char *id, const char *const *paths, uint64_t token, bool shared,
                       uint64_t expires_usec) {
        PylockerLock *lock = g_new0(PylockerLock, 1);

        lock->n_ref = 1;
        lock->locker = l;
        lock->id = g_strdup(id);
        lock->paths = g_strdupv((char **) paths);
        lock->token = token;
        lock->shared = shared;
        lock->held = true;
        lock->expires_usec = expires_usec;
        g_ptr_array_add(l->locks, lock);
        return lock;
}

static void lock_free(PylockerLock *lock) {
        if (lock->locker)
                (void) g_ptr_array_remove_fast(lock->locker->locks, lock);
        g_free(lock->id);
        g_strfreev(lock->paths);
        g_free(lock);
}

_public_ PylockerLock *pylocker_lock_ref(PylockerLock *lock) {
        if (lock)
                g_atomic_int_inc(&lock->n_ref);
        return lock;
}

_public_ PylockerLock *pylocker_lock_unref(PylockerLock *lock) {
        if (lock && g_atomic_int_dec_and_test(&lock->n_ref))
                lock_free(lock);
        return NULL;
}

_public_ void pylocker_lock_unrefp(PylockerLock **p) {
        if (p)
                *p = pylocker_lock_unref(*p);
}

_public_ const char *pylocker_lock_get_id(const PylockerLock *lock) {
        return lock ? lock->id : NULL;
}

_public_ uint64_t pylocker_lock_get_token(const PylockerLock *lock) {
        return lock ? lock->token : 0;
}

_public_ const char *const *pylocker_lock_get_paths(const PylockerLock *lock) {
        return lock ? (const char *const *) lock->paths : NULL;
}

_public_ int pylocker_lock_get_shared(const PylockerLock *lock) {
        return lock ? lock->shared : 0;
}

_public_ uint64_t pylocker_lock_get_expires(const PylockerLock *lock) {
        return lock ? lock->expires_usec : 0;
}

_public_ int pylocker_lock_is_held(const PylockerLock *lock) {
        return lock ? lock->held : 0;
}

_public_ int pylocker_lock_set_lost_callback(PylockerLock *lock, PylockerLockLostFunc callback, void *userdata) {
        if (!lock)
                return -EINVAL;
        lock->lost_callback = callback;
        lock->lost_userdata = userdata;
        return 0;
}

/* When a lock granted now ends, as far as we can tell without the daemon's word (a refresh gives it). */
static uint64_t lease_end(PylockerLocker *l, uint64_t ttl_usec) {
        return usec_add((uint64_t) g_get_real_time(), lease_clamp(ttl_usec, l->max_lock_usec));
}

static int check_paths(const char *const *paths, PylockerError *error) {
        if (!paths || !paths[0])
                return pylocker_error_setf(error, -EINVAL, "No paths given.");
        for (size_t i = 0; paths[i]; i++) {
                if (!paths[i][0])
                        return pylocker_error_setf(error, -EINVAL, "Path %zu is empty.", i);
                if (!g_utf8_validate(paths[i], -1, NULL))
                        return pylocker_error_setf(error, -EINVAL, "Path %zu is not valid UTF-8.", i);
        }
        return 0;
}

#define KNOWN_ACQUIRE_FLAGS (PYLOCKER_ACQUIRE_SHARED | PYLOCKER_ACQUIRE_NONBLOCKING | \
                             PYLOCKER_ACQUIRE_NO_DEADLOCK_CHECK)

static int check_acquire_options(const PylockerAcquireOptions *o, PylockerError *error) {
        for (size_t i = 0; i < ELEMENTSOF(o->reserved); i++)
                if (o->reserved[i])
                        return pylocker_error_setf(error, -EINVAL, "Reserved option fields must be zero.");
        if (o->flags & ~KNOWN_ACQUIRE_FLAGS)
                return pylocker_error_setf(error, -EINVAL, "Unknown acquire flags 0x%" PRIx64 ".",
                                           o->flags & ~KNOWN_ACQUIRE_FLAGS);
        return 0;
}

/* The Acquire options dictionary: only what differs from the daemon's defaults is sent. */
static const BusOption acquire_options[] = {
        { "shared",         BUS_OPTION_FLAG,   offsetof(PylockerAcquireOptions, flags), PYLOCKER_ACQUIRE_SHARED },
        { "nonblocking",    BUS_OPTION_FLAG,   offsetof(PylockerAcquireOptions, flags), PYLOCKER_ACQUIRE_NONBLOCKING },
        { "ttl_usec",       BUS_OPTION_UINT64, offsetof(PylockerAcquireOptions, ttl_usec) },
        { "deadlock_check", BUS_OPTION_FLAG,   offsetof(PylockerAcquireOptions, flags),
          PYLOCKER_ACQUIRE_NO_DEADLOCK_CHECK, .invert = true },
};

/* What every acquire checks before sending: paths and options (NULL options become the defaults, in
 * *options). Nothing is sent when it fails. */
static int acquire_check(const char *const *paths, const PylockerAcquireOptions **options, PylockerError *error) {
        static const PylockerAcquireOptions defaults = PYLOCKER_ACQUIRE_OPTIONS_INIT;
        int r;

        if (!*options)
                *options = &defaults;
        r = check_paths(paths, error);
        if (r < 0)
                return r;
        return check_acquire_options(*options, error);
}

/* The timeout sent: 0 lets the daemon apply its DefaultTimeout, current at the time of the call. */
static uint64_t acquire_timeout(PylockerLocker *l, const PylockerAcquireOptions *o) {
        return o->timeout_usec ?: l->default_timeout_usec;
}

/* How long we wait for the answer. The daemon defers it until the grant or the lock timeout: the
 * call must outlast the latter, and "forever" must not be cut short by a default. */
static uint64_t acquire_call_timeout(PylockerLocker *l, const PylockerAcquireOptions *o) {
        uint64_t effective = acquire_timeout(l, o) ?: l->server_default_timeout_usec;

        if (o->flags & PYLOCKER_ACQUIRE_NONBLOCKING)
                return CALL_TIMEOUT_USEC;
        if (effective == PYLOCKER_INFINITY)
                return UINT64_MAX;
        return usec_add(effective, CALL_TIMEOUT_MARGIN_USEC);
}

/* The Acquire or AcquireHandle call on the bus. */
static int acquire_bus_message(PylockerLocker *l, const char *member, const char *const *paths,
                               const PylockerAcquireOptions *o, sd_bus_message **ret, PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL;
        int r;

        r = locker_new_call(l, member, &m, error);
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(m, (char **) paths);
        if (r >= 0)
                r = sd_bus_message_append(m, "t", acquire_timeout(l, o));
        if (r >= 0)
                r = bus_options_append(m, acquire_options, ELEMENTSOF(acquire_options), o);
        if (r < 0)
                return pylocker_error_setf(error, r, "%s: failed to build the call: %s", member, g_strerror(-r));

        *ret = g_steal_pointer(&m);
        return 0;
}

/* The ACQUIRE frame: the same options, every one explicit. paths are borrowed until it is sent. */
static void acquire_wire_message(PylockerLocker *l, const char *const *paths, const PylockerAcquireOptions *o,
                                 bool handle, WireMessage *ret) {
        size_t n = 0;

        while (paths[n])
                n++;
        *ret = (WireMessage) {
                .header.type = WIRE_ACQUIRE,
                .acquire = {
                        .flags = (o->flags & PYLOCKER_ACQUIRE_SHARED ? WIRE_ACQUIRE_SHARED : 0) |
                                 (o->flags & PYLOCKER_ACQUIRE_NONBLOCKING ? WIRE_ACQUIRE_NONBLOCKING : 0) |
                                 (o->flags & PYLOCKER_ACQUIRE_NO_DEADLOCK_CHECK ? WIRE_ACQUIRE_NO_DEADLOCK_CHECK : 0) |
                                 (handle ? WIRE_ACQUIRE_HANDLE : 0),
                        .timeout_usec = acquire_timeout(l, o),
                        .ttl_usec = o->ttl_usec,
                        .paths = (const char **) paths,
                        .n_paths = n,
                },
        };
}

/* A grant, on the bus or the wire, becomes a held lock: one reference in the owned set, one returned. */
static PylockerLock *lock_grant(PylockerLocker *l, const char *id, const char *const *paths, uint64_t token,
                                bool shared, uint64_t expires_usec) {
        PylockerLock *lock = lock_new(l, id, paths, token, shared, expires_usec);

        g_ptr_array_add(l->owned, pylocker_lock_ref(lock));
        return lock;
}

/* ACQUIRED says when the lease ends, exactly. */
static PylockerLock *lock_from_acquired(PylockerLocker *l, const WireAcquired *a, const char *const *paths,
                                        bool shared) {
        char id[WIRE_LOCK_ID_SIZE * 2 + 1];

        wire_lock_id_format(a->lock_id, id);
        return lock_grant(l, id, paths, a->token, shared, a->expires_usec);
}

/* Turns a granted reply into a held lock. */
static int lock_from_reply(PylockerLocker *l, sd_bus_message *reply, const char *const *paths, bool shared,
                           uint64_t ttl_usec, int *ret_fd, PylockerLock **ret, PylockerError *error) {
        const char *id;
        uint64_t token;
        int r, fd;

        r = sd_bus_message_read(reply, "st", &id, &token);
        if (r < 0)
                return locker_map_error(l, r, NULL, "Acquire reply", error);
        if (ret_fd) {
                r = sd_bus_message_read(reply, "h", &fd);
                if (r < 0)
                        return locker_map_error(l, r, NULL, "AcquireHandle reply", error);
                /* The message's copy goes with the message. */
                fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return pylocker_error_setf(error, -errno, "Failed to keep the lock handle: %s",
                                                   g_strerror(errno));
                *ret_fd = fd;
        }

        *ret = lock_grant(l, id, paths, token, shared, lease_end(l, ttl_usec));
        return 0;
}

static int acquire_blocking_wire(PylockerLocker *l, const char *const *paths, const PylockerAcquireOptions *o,
                                 PylockerLock **ret, int *ret_fd, PylockerError *error) {
        WireReply reply;
        WireMessage m;
        int r;

        acquire_wire_message(l, paths, o, ret_fd != NULL, &m);
        r = wire_call(l, &m, acquire_call_timeout(l, o), WIRE_ACQUIRED, &reply, error);
        if (r < 0)
                return r;
        if (ret_fd) {
                int fd = steal_fd(&reply.fd);

                /* Away from the standard streams, as the bus path keeps it. */
                if (fd < 3) {
                        int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);

                        (void) close(fd);
                        if (moved < 0) {
                                r = -errno;
                                wire_reply_done(l, &reply);
                                return pylocker_error_setf(error, r, "Failed to keep the lock handle: %s",
                                                           g_strerror(-r));
                        }
                        fd = moved;
                }
                *ret_fd = fd;
        }
        *ret = lock_from_acquired(l, &reply.message.acquired, paths, o->flags & PYLOCKER_ACQUIRE_SHARED);
        wire_reply_done(l, &reply);
        return 0;
}

static int acquire_blocking(PylockerLocker *locker, const char *member, const char *const *paths,
                            const PylockerAcquireOptions *options, PylockerLock **ret, int *ret_fd,
                            PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        int r;

        pylocker_error_clear(error);
        if (!locker || !ret)
                return pylocker_error_setf(error, -EINVAL, "No locker or no place for the lock given.");
        r = acquire_check(paths, &options, error);
        if (r < 0)
                return r;
        if (locker->wire)
                return acquire_blocking_wire(locker, paths, options, ret, ret_fd, error);

        r = acquire_bus_message(locker, member, paths, options, &m, error);
        if (r < 0)
                return r;
        r = locker_call(locker, m, acquire_call_timeout(locker, options), &reply, error);
        if (r < 0)
                return r;
        return lock_from_reply(locker, reply, paths, options->flags & PYLOCKER_ACQUIRE_SHARED, options->ttl_usec,
                               ret_fd, ret, error);
}

_public_ int pylocker_locker_acquire(PylockerLocker *locker, const char *const *paths,
                                     const PylockerAcquireOptions *options, PylockerLock **ret,
                                     PylockerError *error) {
        return acquire_blocking(locker, "Acquire", paths, options, ret, NULL, error);
}

_public_ int pylocker_locker_acquire_path(PylockerLocker *locker, const char *path,
                                          const PylockerAcquireOptions *options, PylockerLock **ret,
                                          PylockerError *error) {
        const char *paths[] = { path, NULL };

        if (!path) {
                pylocker_error_clear(error);
                return pylocker_error_setf(error, -EINVAL, "No path given.");
        }
        return pylocker_locker_acquire(locker, paths, options, ret, error);
}

_public_ int pylocker_locker_acquire_handle(PylockerLocker *locker, const char *const *paths,
                                            const PylockerAcquireOptions *options, PylockerLock **ret,
                                            int *ret_fd, PylockerError *error) {
        if (!ret_fd) {
                pylocker_error_clear(error);
                return pylocker_error_setf(error, -EINVAL, "No place for the lock handle given.");
        }
        /* No descriptor crosses TCP: said here, without a round trip. */
        if (locker && locker->transport == PYLOCKER_TRANSPORT_REMOTE) {
                pylocker_error_clear(error);
                return pylocker_error_setf(error, -EOPNOTSUPP,
                                           "Lock handles need a local connection: none crosses the bridge.");
        }
        return acquire_blocking(locker, "AcquireHandle", paths, options, ret, ret_fd, error);
}

void pending_call_detach(PendingCall *p) {
        (void) g_ptr_array_remove_fast(p->locker->pending, p);
}

static int on_acquire_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PendingCall *p = userdata;
        PylockerLocker *l = pylocker_locker_ref(p->locker);
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        pending_call_detach(p);
        if (e)
                r = locker_map_error(l, -sd_bus_error_get_errno(e), e, "Acquire", &error);
        else
                r = lock_from_reply(l, reply, (const char *const *) p->paths, p->shared, p->ttl_usec, NULL, &lock,
                                    &error);

        p->acquire_callback(l, r, lock, r < 0 ? &error : NULL, p->userdata);
        pending_call_free(p);
        pylocker_locker_unref(l);
        return 0;
}

static int on_release_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);

int pending_call_send(PylockerLocker *l, sd_bus_message *m, uint64_t call_timeout, PendingCall *p,
                      sd_bus_message_handler_t handler, PylockerError *error) {
        int r;

        r = sd_bus_call_async(l->bus, &p->slot, m, handler, p, call_timeout);
        if (r < 0) {
                pending_call_free(p);
                return locker_map_error(l, r, NULL, sd_bus_message_get_member(m), error);
        }
        p->locker = l;
        g_ptr_array_add(l->pending, p);
        return 0;
}

static void on_acquire_wire_reply(PylockerLocker *l, PendingCall *p, const WireMessage *m, int fd) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerLock *lock = NULL;
        int r;

        pylocker_locker_ref(l);
        if (fd >= 0)
                (void) close(fd);
        if (m->header.type == WIRE_ACQUIRED) {
                lock = lock_from_acquired(l, &m->acquired, (const char *const *) p->paths, p->shared);
                r = 0;
        } else if (m->header.type == WIRE_ERROR)
                r = wire_map_error(l, &m->error, "Acquire", &error);
        else
                r = pylocker_error_setf(&error, -EBADMSG, "Acquire: unexpected reply %s.",
                                        wire_type_to_string(m->header.type));

        p->acquire_callback(l, r, lock, r < 0 ? &error : NULL, p->userdata);
        pending_call_free(p);
        pylocker_locker_unref(l);
}

_public_ int pylocker_locker_acquire_async(PylockerLocker *locker, const char *const *paths,
                                           const PylockerAcquireOptions *options, PylockerAcquireFunc callback,
                                           void *userdata, PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL;
        PendingCall *p;
        int r;

        pylocker_error_clear(error);
        if (!locker || !callback)
                return pylocker_error_setf(error, -EINVAL, "No locker or no callback given.");
        r = acquire_check(paths, &options, error);
        if (r < 0)
                return r;
        if (!locker->wire) {
                r = acquire_bus_message(locker, "Acquire", paths, options, &m, error);
                if (r < 0)
                        return r;
        }

        p = g_new0(PendingCall, 1);
        p->paths = g_strdupv((char **) paths);
        p->shared = options->flags & PYLOCKER_ACQUIRE_SHARED;
        p->ttl_usec = options->ttl_usec;
        p->acquire_callback = callback;
        p->userdata = userdata;
        if (locker->wire) {
                WireMessage wm;

                acquire_wire_message(locker, paths, options, /* handle= */ false, &wm);
                p->wire_reply = on_acquire_wire_reply;
                return wire_send(locker, &wm, p, acquire_call_timeout(locker, options), error);
        }
        return pending_call_send(locker, m, acquire_call_timeout(locker, options), p, on_acquire_reply, error);
}

static int check_lock_id(const char *lock_id, PylockerError *error) {
        if (!lock_id || !lock_id[0])
                return pylocker_error_setf(error, -EINVAL, "No lock id given.");
        return 0;
}

/* The answer of Release: the code, and our own lock forgotten if it was one. */
static int release_code(PylockerLocker *l, const char *lock_id, uint64_t released) {
        PylockerLock *lock = locker_find_owned(l, lock_id);

        if (lock)
                /* Released at our request, or already gone: either way nobody needs telling. */
                locker_forget_lock(l, lock);
        return released == 0 ? PYLOCKER_RELEASE_NOT_FOUND : PYLOCKER_RELEASE_RELEASED;
}

/* The reply of Release on the bus. */
static int release_result(PylockerLocker *l, sd_bus_message *reply, const char *lock_id, PylockerError *error) {
        uint32_t code;
        int r;

        r = sd_bus_message_read(reply, "u", &code);
        if (r < 0)
                return locker_map_error(l, r, NULL, "Release reply", error);
        return release_code(l, lock_id, code);
}

static int release_message(PylockerLocker *l, const char *member, const char *lock_id, sd_bus_message **ret,
                           PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL;
        int r;

        r = locker_new_call(l, member, &m, error);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", lock_id);
        if (r < 0)
                return pylocker_error_setf(error, r, "%s: failed to build the call: %s", member, g_strerror(-r));
        *ret = g_steal_pointer(&m);
        return 0;
}

/* RELEASE or FORCE_RELEASE (or REFRESH) of an id given as text; the id is checked as the daemon would. */
static int lock_ref_wire_message(PylockerLocker *l, uint16_t type, const char *lock_id, WireMessage *ret,
                                 PylockerError *error) {
        int r;

        r = locker_check_usable(l, error);
        if (r < 0)
                return r;
        *ret = (WireMessage) { .header.type = type };
        return wire_lock_id_parse(lock_id, type == WIRE_REFRESH ? ret->refresh.lock_id : ret->lock_ref.lock_id,
                                  error);
}

static int release_blocking_wire(PylockerLocker *l, bool force, const char *lock_id, PylockerError *error) {
        WireReply reply;
        WireMessage m;
        uint64_t value;
        int r;

        r = lock_ref_wire_message(l, force ? WIRE_FORCE_RELEASE : WIRE_RELEASE, lock_id, &m, error);
        if (r < 0)
                return r;
        r = wire_call(l, &m, CALL_TIMEOUT_USEC, WIRE_VALUE, &reply, error);
        if (r < 0)
                return r;
        value = reply.message.value.value;
        wire_reply_done(l, &reply);
        if (force)
                /* Our own lock, if it was, is reported lost by the LOCK_LOST that follows. */
                return value == 0 ? PYLOCKER_RELEASE_NOT_FOUND : PYLOCKER_RELEASE_RELEASED;
        return release_code(l, lock_id, value);
}

static int release_blocking(PylockerLocker *locker, const char *member, const char *lock_id,
                            PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        int r;

        pylocker_error_clear(error);
        if (!locker)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");
        r = check_lock_id(lock_id, error);
        if (r < 0)
                return r;
        if (locker->wire)
                return release_blocking_wire(locker, strcmp(member, "ForceRelease") == 0, lock_id, error);

        r = release_message(locker, member, lock_id, &m, error);
        if (r < 0)
                return r;
        r = locker_call(locker, m, CALL_TIMEOUT_USEC, &reply, error);
        if (r < 0)
                return r;
        if (strcmp(member, "ForceRelease") == 0) {
                uint32_t code;

                /* Our own lock, if it was, is reported lost by the LockExpired that follows. */
                r = sd_bus_message_read(reply, "u", &code);
                if (r < 0)
                        return locker_map_error(locker, r, NULL, "ForceRelease reply", error);
                return code == 0 ? PYLOCKER_RELEASE_NOT_FOUND : PYLOCKER_RELEASE_RELEASED;
        }
        return release_result(locker, reply, lock_id, error);
}

_public_ int pylocker_locker_release(PylockerLocker *locker, const char *lock_id, PylockerError *error) {
        return release_blocking(locker, "Release", lock_id, error);
}

_public_ int pylocker_locker_force_release(PylockerLocker *locker, const char *lock_id, PylockerError *error) {
        return release_blocking(locker, "ForceRelease", lock_id, error);
}

static int on_release_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PendingCall *p = userdata;
        PylockerLocker *l = pylocker_locker_ref(p->locker);
        PylockerError error = PYLOCKER_ERROR_INIT;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        pending_call_detach(p);
        if (e)
                r = locker_map_error(l, -sd_bus_error_get_errno(e), e, "Release", &error);
        else
                r = release_result(l, reply, p->lock_id, &error);

        p->release_callback(l, r, r < 0 ? &error : NULL, p->userdata);
        pending_call_free(p);
        pylocker_locker_unref(l);
        return 0;
}

static void on_release_wire_reply(PylockerLocker *l, PendingCall *p, const WireMessage *m, int fd) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        int r;

        pylocker_locker_ref(l);
        if (fd >= 0)
                (void) close(fd);
        if (m->header.type == WIRE_VALUE)
                r = release_code(l, p->lock_id, m->value.value);
        else if (m->header.type == WIRE_ERROR)
                r = wire_map_error(l, &m->error, "Release", &error);
        else
                r = pylocker_error_setf(&error, -EBADMSG, "Release: unexpected reply %s.",
                                        wire_type_to_string(m->header.type));

        p->release_callback(l, r, r < 0 ? &error : NULL, p->userdata);
        pending_call_free(p);
        pylocker_locker_unref(l);
}

_public_ int pylocker_locker_release_async(PylockerLocker *locker, const char *lock_id,
                                           PylockerReleaseFunc callback, void *userdata, PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL;
        WireMessage wm;
        PendingCall *p;
        int r;

        pylocker_error_clear(error);
        if (!locker || !callback)
                return pylocker_error_setf(error, -EINVAL, "No locker or no callback given.");
        r = check_lock_id(lock_id, error);
        if (r < 0)
                return r;
        if (locker->wire)
                r = lock_ref_wire_message(locker, WIRE_RELEASE, lock_id, &wm, error);
        else
                r = release_message(locker, "Release", lock_id, &m, error);
        if (r < 0)
                return r;

        p = g_new0(PendingCall, 1);
        p->lock_id = g_strdup(lock_id);
        p->release_callback = callback;
        p->userdata = userdata;
        if (locker->wire) {
                p->wire_reply = on_release_wire_reply;
                return wire_send(locker, &wm, p, CALL_TIMEOUT_USEC, error);
        }
        return pending_call_send(locker, m, CALL_TIMEOUT_USEC, p, on_release_reply, error);
}

_public_ int pylocker_locker_release_nowait(PylockerLocker *locker, const char *lock_id, PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL;
        PylockerLock *lock;
        WireMessage wm;
        uint8_t id[WIRE_LOCK_ID_SIZE];
        int r;

        pylocker_error_clear(error);
        if (!locker)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");
        r = check_lock_id(lock_id, error);
        if (r < 0)
                return r;
        r = locker_check_usable(locker, error);
        if (r < 0)
                return r;
        /* Checked here on the bus too: nobody would hear the daemon say it is not an id. */
        r = wire_lock_id_parse(lock_id, id, error);
        if (r < 0)
                return r;

        /* Built before the lock is forgotten: lock_id may be that lock's own string. */
        if (locker->wire) {
                wm = (WireMessage) { .header = { .type = WIRE_RELEASE, .flags = WIRE_FLAG_NO_REPLY } };
                memcpy(wm.lock_ref.lock_id, id, sizeof(id));
        } else {
                r = release_message(locker, "Release", lock_id, &m, error);
                if (r < 0)
                        return r;
                r = sd_bus_message_set_expect_reply(m, 0);
                if (r < 0)
                        return pylocker_error_setf(error, r, "Release: failed to build the call: %s", g_strerror(-r));
        }

        lock = locker_find_owned(locker, lock_id);
        if (lock)
                locker_forget_lock(locker, lock);

        if (locker->wire)
                return wire_send(locker, &wm, NULL, 0, error);
        /* Written now if the socket takes it, else with the next write or processing. */
        r = sd_bus_send(locker->bus, m, NULL);
        if (r < 0)
                return locker_map_error(locker, r, NULL, "Release", error);
        return 0;
}

void pending_call_fail_all(PylockerLocker *l, int code) {
        g_autoptr(GPtrArray) pending = g_steal_pointer(&l->pending);
        PylockerError error = PYLOCKER_ERROR_INIT;
        bool notify = code < 0;

        l->pending = g_ptr_array_new();
        /* No reply on the wire finds them any more either. */
        if (l->wire)
                g_hash_table_remove_all(l->wire->pending);
        if (code == -ECANCELED)
                (void) pylocker_error_setf(&error, code, "The locker was closed before the daemon answered.");
        else if (notify)
                (void) pylocker_error_setf(&error, code, "The connection to pylockerd was lost before it answered.");
        for (guint i = 0; i < pending->len; i++) {
                PendingCall *p = pending->pdata[i];

                /* No reply may reach a callback that has been told it was cancelled. */
                p->slot = sd_bus_slot_unref(p->slot);
                if (notify && p->acquire_callback)
                        p->acquire_callback(l, code, NULL, &error, p->userdata);
                else if (notify && p->release_callback)
                        p->release_callback(l, code, &error, p->userdata);
                else if (notify && p->publish_callback)
                        p->publish_callback(l, code, NULL, &error, p->userdata);
                pending_call_free(p);
        }
}

_public_ int pylocker_lock_release(PylockerLock *lock, PylockerError *error) {
        pylocker_error_clear(error);
        if (!lock)
                return pylocker_error_setf(error, -EINVAL, "No lock given.");
        if (!lock->locker)
                return pylocker_error_setf(error, -ENOTCONN, "The lock's locker is gone.");
        return pylocker_locker_release(lock->locker, lock->id, error);
}

_public_ int pylocker_lock_refresh(PylockerLock *lock, uint64_t ttl_usec, PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        PylockerLocker *l;
        uint64_t expires = 0;
        int r;

        pylocker_error_clear(error);
        if (!lock)
                return pylocker_error_setf(error, -EINVAL, "No lock given.");
        l = lock->locker;
        if (!l)
                return pylocker_error_setf(error, -ENOTCONN, "The lock's locker is gone.");
        if (!lock->held)
                return pylocker_error_setf(error, -ENOENT, "The lock %s is no longer held.", lock->id);

        if (l->wire) {
                WireReply wire_reply;
                WireMessage wm;

                r = lock_ref_wire_message(l, WIRE_REFRESH, lock->id, &wm, error);
                if (r < 0)
                        return r;
                wm.refresh.ttl_usec = ttl_usec;
                r = wire_call(l, &wm, CALL_TIMEOUT_USEC, WIRE_VALUE, &wire_reply, error);
                if (r >= 0) {
                        expires = wire_reply.message.value.value;
                        wire_reply_done(l, &wire_reply);
                }
        } else {
                r = locker_new_call(l, "Refresh", &m, error);
                if (r < 0)
                        return r;
                r = sd_bus_message_append(m, "st", lock->id, ttl_usec);
                if (r < 0)
                        return pylocker_error_setf(error, r, "Refresh: failed to build the call: %s", g_strerror(-r));
                r = locker_call(l, m, CALL_TIMEOUT_USEC, &reply, error);
                if (r >= 0) {
                        r = sd_bus_message_read(reply, "t", &expires);
                        if (r < 0)
                                return locker_map_error(l, r, NULL, "Refresh reply", error);
                }
        }
        if (r == -ENOENT && lock->held) {
                /* Gone without a LockExpired (its handle was closed, say): still a loss to report. */
                locker_lose_lock(l, lock, PYLOCKER_LOCK_LOST_NOT_FOUND);
                return r;
        }
        if (r < 0)
                return r;
        lock->expires_usec = expires;
        return 0;
}
