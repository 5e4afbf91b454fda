/* Holding a granted lock with no command under it (hold, and the process acquire leaves behind): the
 * lease refreshed, the loss noticed, and the ways to let go: SIGTERM or SIGINT, 'pylockctl release ID'
 * through the holder's control socket, or the end of a watched process.
 *
 * The control socket is a SOCK_SEQPACKET unix socket in the abstract namespace, named after the lock
 * id; 'pylockctl release' connects, sends "RELEASE" and reads one answer: "RELEASED" (the lock is free
 * now), "LOST <why>" (it had been lost before), "DENIED" (only the holder's user and root may), or
 * "FAILED <why>". The holder checks its caller's uid (SO_PEERCRED); release checks the holder's. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <glib.h>
#include <systemd/sd-event.h>

#include <pylocker/pylocker.h>

typedef struct Holder {
        PylockerLocker *locker;         /* borrowed */
        PylockerLock *lock;             /* borrowed */
        uint64_t ttl_usec;
        bool notify;                    /* tell systemd (sd_notify) what happens */
        bool linger;                    /* after a loss, stay (while the watched process lives) to tell
                                         * 'pylockctl release' why */

        sd_event *event;
        sd_event_source *refresh_source;
        sd_event_source *signal_sources[2];
        sd_event_source *control_source;
        sd_event_source *watch_source;
        int control_fd;
        int watch_fd;                   /* a pidfd, or -1 */
        pid_t watch_pid;                /* 0: none */
        bool masked;
        sigset_t old_mask;

        bool lost;
        char *lost_message;             /* why, once lost */
        bool done;
        int exit_status;
} Holder;

#define HOLDER_INIT { .control_fd = -1, .watch_fd = -1 }

/* The control socket's address for a lock id (abstract: no file, gone with its process). */
void holder_socket_address(const char *lock_id, struct sockaddr_un *ret, socklen_t *ret_length);

/* Blocks SIGTERM and SIGINT (then handled by the loop), makes the loop with the lease refresh and the
 * lost-lock callback, and attaches the locker. 0, or a negative errno. */
int holder_init(Holder *h, PylockerLocker *locker, PylockerLock *lock, uint64_t ttl_usec, bool notify,
                bool linger);

/* Listens on the control socket. 0, or a negative errno (-EADDRINUSE: someone else has the name). */
int holder_listen(Holder *h);

/* Lets go when the process pid exits. pidfd: from pidfd_open(), taken over; -1 when the kernel has
 * none (the process is then looked at every second). */
int holder_watch(Holder *h, pid_t pid, int pidfd);

/* Runs until let go or lost; returns the exit status: 0 when released as asked, 76 when lost. */
int holder_run(Holder *h);

void holder_done(Holder *h);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Holder, holder_done)

/* pidfd_open(2), or -1 with errno. */
int cli_pidfd_open(pid_t pid);
