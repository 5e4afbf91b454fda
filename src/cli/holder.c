/* Holding a granted lock with no command under it: one sd-event loop until let go or lost. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "cli-lock.h"
#include "holder.h"
#include "macro.h"
#include "sd-cleanup.h"
#include "time-util.h"
#include "verbs.h"

#define CONTROL_NAME_PREFIX "pylocker/holder/"
/* How long a release's caller may take to say what it wants. */
#define CONTROL_RECV_TIMEOUT_USEC (5 * USEC_PER_SEC)
/* Without pidfds, how often the watched process is looked at. */
#define WATCH_POLL_USEC USEC_PER_SEC

static const int handled_signals[] = { SIGTERM, SIGINT };

int cli_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
        return (int) syscall(SYS_pidfd_open, pid, 0);
#else
        errno = ENOSYS;
        return -1;
#endif
}

void holder_socket_address(const char *lock_id, struct sockaddr_un *ret, socklen_t *ret_length) {
        size_t n;

        *ret = (struct sockaddr_un) { .sun_family = AF_UNIX };
        /* sun_path[0] stays NUL: the abstract namespace. Lock ids are 32 characters: it fits. */
        n = (size_t) g_snprintf(ret->sun_path + 1, sizeof(ret->sun_path) - 1, CONTROL_NAME_PREFIX "%s", lock_id);
        *ret_length = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + MIN(n, sizeof(ret->sun_path) - 2));
}

static void status(Holder *h, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void status(Holder *h, const char *format, ...) {
        g_autofree char *text = NULL;
        va_list ap;

        if (!h->notify)
                return;
        va_start(ap, format);
        text = g_strdup_vprintf(format, ap);
        va_end(ap);
        (void) sd_notify(/* unset_environment= */ 0, text);
}

static void finish(Holder *h, int exit_status) {
        if (h->done)
                return;
        h->done = true;
        h->exit_status = exit_status;
}

/* Lets go of the lock as asked: EXIT_SUCCESS when released, EXIT_LOCK_LOST when it had been lost (or
 * was found gone), EXIT_FAILURE when the release failed; *ret_why says why it was not released. */
static int release(Holder *h, char **ret_why) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        int r;

        *ret_why = NULL;
        if (!h->lost) {
                status(h, "STOPPING=1\nSTATUS=Releasing lock %s", pylocker_lock_get_id(h->lock));
                r = pylocker_lock_release(h->lock, &error);
                if (r == PYLOCKER_RELEASE_RELEASED)
                        return EXIT_SUCCESS;
                if (r < 0 && !h->lost) {
                        *ret_why = g_strdup(error.message);
                        return EXIT_FAILURE;
                }
                /* Found gone: pylockerd told why before it answered, and that may still wait to be
                 * read. */
                for (int i = 0; i < 16 && !h->lost && pylocker_locker_process(h->locker) > 0; i++)
                        ;
        }
        /* Lost before, or meanwhile (told by the callback during the call), or found gone. */
        *ret_why = g_strdup(h->lost_message ?: "it was no longer held");
        return EXIT_LOCK_LOST;
}

static void let_go(Holder *h, const char *why) {
        g_autofree char *not_released = NULL;
        int r;

        r = release(h, &not_released);
        if (r == EXIT_FAILURE)
                (void) cli_error(0, "Failed to release lock %s (%s): %s", pylocker_lock_get_id(h->lock), why,
                                 not_released);
        finish(h, r);
}

static void on_lock_lost(PylockerLocker *locker, PylockerLock *lock, PylockerLockLostReason reason,
                         void *userdata) {
        Holder *h = userdata;

        if (lock != h->lock || h->lost)
                return;
        h->lost = true;
        h->lost_message = g_strdup(reason == PYLOCKER_LOCK_LOST_DISCONNECTED ? "the connection to pylockerd was lost" :
                                   reason == PYLOCKER_LOCK_LOST_EXPIRED ? "it expired or was force-released" :
                                   "it was no longer known to pylockerd");
        (void) sd_event_source_set_enabled(h->refresh_source, SD_EVENT_OFF);
        (void) cli_error(0, "Lock %s lost: %s.", pylocker_lock_get_id(lock), h->lost_message);
        status(h, "STATUS=Lost lock %s: %s", pylocker_lock_get_id(lock), h->lost_message);

        /* Someone may still want to hear of it: 'pylockctl release' of the script that holds it. */
        if (!h->linger || h->watch_pid == 0)
                finish(h, EXIT_LOCK_LOST);
}

static int on_refresh(sd_event_source *s, uint64_t usec, void *userdata) {
        Holder *h = userdata;
        PylockerError error = PYLOCKER_ERROR_INIT;

        if (pylocker_lock_refresh(h->lock, h->ttl_usec, &error) < 0 && !h->lost)
                /* A loss has been handled by on_lock_lost(); anything else may pass: try again. */
                (void) cli_error(0, "Warning: failed to refresh the lock, retrying: %s", error.message);
        if (h->lost)
                return 0;
        (void) sd_event_source_set_time(s, usec_add(usec, cli_refresh_interval(h->locker, h->ttl_usec)));
        return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Holder *h = userdata;

        let_go(h, si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        return 0;
}

static void watched_gone(Holder *h) {
        h->watch_source = sd_event_source_disable_unref(h->watch_source);
        let_go(h, "the watched process exited");
}

static int on_watch_fd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        watched_gone(userdata);
        return 0;
}

static int on_watch_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        Holder *h = userdata;

        if (kill(h->watch_pid, 0) < 0 && errno == ESRCH) {
                watched_gone(h);
                return 0;
        }
        (void) sd_event_source_set_time(s, usec_add(usec, WATCH_POLL_USEC));
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void answer(int fd, const char *text) {
        (void) send(fd, text, strlen(text), MSG_NOSIGNAL);
}

static int on_control(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Holder *h = userdata;
        struct timeval tv = { .tv_sec = CONTROL_RECV_TIMEOUT_USEC / USEC_PER_SEC };
        struct ucred cred;
        socklen_t length = sizeof(cred);
        g_autofree char *why = NULL, *text = NULL;
        _cleanup_close_ int peer = -1;
        char request[64];
        ssize_t n;
        int r;

        peer = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (peer < 0)
                return 0;       /* gone before we looked: nothing asked */

        if (getsockopt(peer, SOL_SOCKET, SO_PEERCRED, &cred, &length) < 0 ||
            (cred.uid != getuid() && cred.uid != 0)) {
                answer(peer, "DENIED");
                return 0;
        }
        (void) setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        n = recv(peer, request, sizeof(request) - 1, 0);
        if (n < 0)
                return 0;
        request[n] = '\0';
        if (strcmp(request, "RELEASE") != 0) {
                answer(peer, "FAILED unknown request");
                return 0;
        }

        r = release(h, &why);
        if (r == EXIT_SUCCESS)
                answer(peer, "RELEASED");
        else {
                text = g_strconcat(r == EXIT_LOCK_LOST ? "LOST " : "FAILED ", why, NULL);
                answer(peer, text);
        }
        finish(h, r);
        return 0;
}

int holder_init(Holder *h, PylockerLocker *locker, PylockerLock *lock, uint64_t ttl_usec, bool notify,
                bool linger) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        sigset_t mask;
        uint64_t now;
        int r;

        h->locker = locker;
        h->lock = lock;
        h->ttl_usec = ttl_usec;
        h->notify = notify;
        h->linger = linger;

        (void) sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(handled_signals); i++)
                (void) sigaddset(&mask, handled_signals[i]);
        if (sigprocmask(SIG_BLOCK, &mask, &h->old_mask) < 0)
                return -errno;
        h->masked = true;

        r = sd_event_new(&h->event);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(handled_signals); i++) {
                r = sd_event_add_signal(h->event, &h->signal_sources[i], handled_signals[i], on_signal, h);
                if (r < 0)
                        return r;
        }

        r = sd_event_now(h->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        /* 1 ms accuracy: sd-event's default would let a short lease run out first. */
        r = sd_event_add_time(h->event, &h->refresh_source, CLOCK_MONOTONIC,
                              usec_add(now, cli_refresh_interval(locker, ttl_usec)), USEC_PER_MSEC, on_refresh, h);
        if (r < 0)
                return r;

        (void) pylocker_lock_set_lost_callback(lock, on_lock_lost, h);
        r = pylocker_locker_attach_event(locker, h->event, 0, &error);
        if (r < 0)
                return r;
        return 0;
}

int holder_listen(Holder *h) {
        struct sockaddr_un sa;
        socklen_t length;
        int r;

        holder_socket_address(pylocker_lock_get_id(h->lock), &sa, &length);
        h->control_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (h->control_fd < 0)
                return -errno;
        if (bind(h->control_fd, (struct sockaddr *) &sa, length) < 0 || listen(h->control_fd, 4) < 0)
                return -errno;
        r = sd_event_add_io(h->event, &h->control_source, h->control_fd, EPOLLIN, on_control, h);
        if (r < 0)
                return r;
        return 0;
}

int holder_watch(Holder *h, pid_t pid, int pidfd) {
        uint64_t now;
        int r;

        h->watch_pid = pid;
        if (pidfd >= 0) {
                h->watch_fd = pidfd;
                /* A pidfd is readable once its process has exited. */
                return sd_event_add_io(h->event, &h->watch_source, pidfd, EPOLLIN, on_watch_fd, h);
        }

        r = sd_event_now(h->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        return sd_event_add_time(h->event, &h->watch_source, CLOCK_MONOTONIC, usec_add(now, WATCH_POLL_USEC),
                                 USEC_PER_MSEC * 100, on_watch_poll, h);
}

int holder_run(Holder *h) {
        int r;

        /* Not sd_event_loop(): at its exit sd-bus closes an attached connection, on which the lock may
         * still have to be released. */
        while (!h->done) {
                r = sd_event_run(h->event, UINT64_MAX);
                if (r < 0) {
                        (void) cli_error(0, "Event loop failed: %s", g_strerror(-r));
                        return EXIT_FAILURE;
                }
        }
        return h->exit_status;
}

void holder_done(Holder *h) {
        if (h->locker)
                (void) pylocker_locker_detach(h->locker);
        if (h->lock)
                (void) pylocker_lock_set_lost_callback(h->lock, NULL, NULL);
        h->refresh_source = sd_event_source_disable_unref(h->refresh_source);
        h->control_source = sd_event_source_disable_unref(h->control_source);
        h->watch_source = sd_event_source_disable_unref(h->watch_source);
        for (size_t i = 0; i < ELEMENTSOF(h->signal_sources); i++)
                h->signal_sources[i] = sd_event_source_disable_unref(h->signal_sources[i]);
        h->event = sd_event_unref(h->event);
        close_fdp(&h->control_fd);
        h->control_fd = -1;
        close_fdp(&h->watch_fd);
        h->watch_fd = -1;
        g_clear_pointer(&h->lost_message, g_free);
        if (h->masked)
                (void) sigprocmask(SIG_SETMASK, &h->old_mask, NULL);
        h->masked = false;
}
