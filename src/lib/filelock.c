/* The lock-file locker: the seed's Locker (the format of its lock file is filelock-format.c), made
 * race-free among our own processes by an open-file-description lock held only around check-and-write.
 *
 * The lock file's content stays the single truth (so Python Lockers and we see the same
 * state); the kernel lock only makes "read, judge, write" one step for our processes. It is
 * not held while the lock is had: holders with the same pass share the lock and a holder past
 * the dead-lock age is taken over, both of which the content alone decides. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include <pylocker/pylocker-filelock.h>

#include "filelock-format.h"
#include "lib-util.h"
#include "macro.h"

/* Python's Locker has no limits; these only keep a hostile lock file from costing memory. */
#define LOCK_PASS_MAX 4096
#define LOCK_FILE_MAX (64 * 1024)

/* With wait 0 the seed spins; we sleep instead, starting short so a lock released by another
 * process is still noticed within microseconds, and growing so a long wait costs no CPU. */
#define BACKOFF_MIN_USEC UINT64_C(20)
#define BACKOFF_MAX_USEC (2 * USEC_PER_MSEC)

/* Each retry means the lock file was replaced under us; only a renaming storm gets this far. */
#define REOPEN_MAX 64

struct PylockerFileLock {
        char *file_path;        /* absolute, or NULL */
        char *lock_pass;
        char *mode;
        char *lock_path;        /* absolute */
        uint64_t timeout_usec;
        uint64_t wait_usec;
        uint64_t dead_lock_usec;

        int lock_fd;            /* kept between calls; its inode is checked against the path on use */
        FILE *file;             /* opened on acquire, closed on release */
        bool held;              /* this locker set the lock and has not released it */
};

typedef enum LockState {
        LOCK_FREE,              /* empty, or not the seed's three lines */
        LOCK_OURS,              /* first line is our pass */
        LOCK_FORGOTTEN,         /* holder older than the dead-lock age, or its process is gone */
        LOCK_BUSY,
} LockState;

typedef struct LockContent {
        char stack[512];
        char *data;             /* stack or heap */
        size_t size;
} LockContent;

static void lock_content_done(LockContent *c) {
        if (c->data != c->stack)
                g_free(c->data);
        c->data = NULL;
}

static bool mode_is_valid(const char *mode) {
        static const char *const modes[] = {
                "r", "rb", "r+", "r+b", "rb+",
                "w", "wb", "w+", "w+b", "wb+",
                "a", "ab", "a+", "a+b", "ab+",
        };

        if (!mode)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(modes); i++)
                if (strcmp(mode, modes[i]) == 0)
                        return true;
        return false;
}

static int validate_pass(const char *pass, PylockerError *error) {
        if (!pass)
                return pylocker_error_setf(error, -EINVAL, "No lock pass given.");
        /* The pass is the first line of the lock file. */
        if (strchr(pass, '\n'))
                return pylocker_error_setf(error, -EINVAL, "Lock pass must not contain a newline.");
        if (strlen(pass) > LOCK_PASS_MAX)
                return pylocker_error_setf(error, -EINVAL, "Lock pass is longer than %d bytes.",
                                           LOCK_PASS_MAX);
        return 0;
}

/* Not canonicalized: ".." and symlinks mean what the kernel says they mean. */
static char *path_make_absolute(const char *path) {
        g_autofree char *cwd = NULL;

        if (g_path_is_absolute(path))
                return g_strdup(path);
        cwd = g_get_current_dir();
        return g_build_filename(cwd, path, NULL);
}

static char *default_lock_path(const char *file_path) {
        g_autofree char *dir = NULL;

        if (!file_path) {
                dir = g_get_current_dir();
                return g_build_filename(dir, ".lock", NULL);
        }
        dir = g_path_get_dirname(file_path);
        return g_build_filename(dir, ".lock", NULL);
}

_public_ int pylocker_file_lock_new(const char *file_path, const char *lock_pass,
                                    PylockerFileLock **ret, PylockerError *error) {
        PylockerFileLock *l;
        int r;

        pylocker_error_clear(error);
        if (!ret)
                return pylocker_error_setf(error, -EINVAL, "No place to return the locker.");
        if (file_path && file_path[0] == '\0')
                return pylocker_error_setf(error, -EINVAL, "File path must not be empty.");
        r = validate_pass(lock_pass, error);
        if (r < 0)
                return r;

        l = g_new0(PylockerFileLock, 1);
        l->file_path = file_path ? path_make_absolute(file_path) : NULL;
        l->lock_pass = g_strdup(lock_pass);
        l->mode = g_strdup(PYLOCKER_FILE_LOCK_DEFAULT_MODE);
        l->lock_path = default_lock_path(l->file_path);
        l->timeout_usec = PYLOCKER_FILE_LOCK_DEFAULT_TIMEOUT_USEC;
        l->wait_usec = PYLOCKER_FILE_LOCK_DEFAULT_WAIT_USEC;
        l->dead_lock_usec = PYLOCKER_FILE_LOCK_DEFAULT_DEAD_LOCK_USEC;
        l->lock_fd = -1;

        *ret = l;
        return 0;
}

static void lock_fd_close(PylockerFileLock *l) {
        /* Closing the only descriptor of the open file description also drops its OFD lock. */
        if (l->lock_fd >= 0)
                (void) close(l->lock_fd);
        l->lock_fd = -1;
}

static int file_close(PylockerFileLock *l, PylockerError *error) {
        FILE *f = l->file;
        int r = 0;

        if (!f)
                return 0;
        l->file = NULL;

        /* The seed flushes and syncs before closing, so what the holder wrote is on disk
         * before the next holder reads it. Devices and pipes cannot be synced: fine. */
        if (fflush(f) != 0)
                r = -errno;
        else if (fsync(fileno(f)) < 0 && errno != EINVAL && errno != EROFS)
                r = -errno;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r < 0)
                return pylocker_error_setf(error, r, "Failed to close '%s': %s",
                                           l->file_path, g_strerror(-r));
        return 0;
}

static int file_open(PylockerFileLock *l, PylockerError *error) {
        g_autofree char *mode = NULL;
        FILE *f;

        if (!l->file_path || l->file)
                return 0;

        /* "e": O_CLOEXEC, so a command run under the lock does not inherit it by accident. */
        mode = g_strconcat(l->mode, "e", NULL);
        f = fopen(l->file_path, mode);
        if (!f)
                return pylocker_error_setf(error, -errno, "Failed to open '%s' in mode '%s': %s",
                                           l->file_path, l->mode, g_strerror(errno));
        l->file = f;
        return 0;
}

/* Takes the check-and-write section: an OFD write lock on the inode the lock path names now.
 * Returns 1 when entered, 0 when another process of ours is in it (non-blocking only),
 * -ENOENT without a message when the lock file does not exist and create is false. */
static int section_enter(PylockerFileLock *l, bool blocking, bool create, PylockerError *error) {
        for (unsigned attempt = 0; attempt < REOPEN_MAX; attempt++) {
                struct flock fl = {
                        .l_type = F_WRLCK,
                        .l_whence = SEEK_SET,
                };
                struct stat st_fd, st_path;

                if (l->lock_fd < 0) {
                        int fd = open(l->lock_path, O_RDWR | O_CLOEXEC | O_NOCTTY | (create ? O_CREAT : 0),
                                      0666);
                        if (fd < 0) {
                                if (errno == ENOENT && !create)
                                        return -ENOENT;
                                return pylocker_error_setf(error, -errno, "Failed to open lock file '%s': %s",
                                                           l->lock_path, g_strerror(errno));
                        }
                        l->lock_fd = fd;
                }

                if (fcntl(l->lock_fd, blocking ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0) {
                        if (errno == EINTR)
                                continue;
                        if (!blocking && (errno == EAGAIN || errno == EACCES))
                                return 0;
                        return pylocker_error_setf(error, -errno, "Failed to lock '%s': %s",
                                                   l->lock_path, g_strerror(errno));
                }

                if (fstat(l->lock_fd, &st_fd) < 0)
                        return pylocker_error_setf(error, -errno, "Failed to stat lock file '%s': %s",
                                                   l->lock_path, g_strerror(errno));
                if (!S_ISREG(st_fd.st_mode)) {
                        lock_fd_close(l);
                        return pylocker_error_setf(error, -EINVAL, "Lock file '%s' is not a regular file.",
                                                   l->lock_path);
                }

                /* A Python Locker renames a new file over the path, and so do we when replacing
                 * content; someone may also delete it. The lock only counts on the inode the
                 * path names now, so check after locking and start over on a stale one. */
                if (stat(l->lock_path, &st_path) < 0) {
                        if (errno != ENOENT)
                                return pylocker_error_setf(error, -errno, "Failed to stat lock file '%s': %s",
                                                           l->lock_path, g_strerror(errno));
                        if (!create) {
                                lock_fd_close(l);
                                return -ENOENT;
                        }
                } else if (st_fd.st_dev == st_path.st_dev && st_fd.st_ino == st_path.st_ino)
                        return 1;

                lock_fd_close(l);
        }

        return pylocker_error_setf(error, -EAGAIN, "Lock file '%s' keeps being replaced, giving up.",
                                   l->lock_path);
}

static void section_leave(PylockerFileLock *l) {
        struct flock fl = {
                .l_type = F_UNLCK,
                .l_whence = SEEK_SET,
        };

        if (l->lock_fd >= 0)
                (void) fcntl(l->lock_fd, F_OFD_SETLK, &fl);
}

static int lock_content_read(PylockerFileLock *l, LockContent *c, PylockerError *error) {
        struct stat st;
        size_t size, done = 0;

        c->data = c->stack;
        c->size = 0;

        if (fstat(l->lock_fd, &st) < 0)
                return pylocker_error_setf(error, -errno, "Failed to stat lock file '%s': %s",
                                           l->lock_path, g_strerror(errno));
        if (st.st_size > LOCK_FILE_MAX)
                return pylocker_error_setf(error, -EFBIG, "Lock file '%s' is larger than %d bytes.",
                                           l->lock_path, LOCK_FILE_MAX);
        size = (size_t) st.st_size;
        if (size > sizeof(c->stack))
                c->data = g_malloc(size);

        /* A Python Locker may empty the file meanwhile (it releases in place without our
         * kernel lock), so a short read is simply what is there. */
        while (done < size) {
                ssize_t n = pread(l->lock_fd, c->data + done, size - done, (off_t) done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return pylocker_error_setf(error, -errno, "Failed to read lock file '%s': %s",
                                                   l->lock_path, g_strerror(errno));
                }
                if (n == 0)
                        break;
                done += (size_t) n;
        }
        c->size = done;
        return 0;
}

/* kill(pid, 0) as the seed does, and a zombie counts as gone: a killed holder whose parent
 * does not reap it (an init that never calls wait) must not keep the lock until the
 * dead-lock age. */
static bool pid_is_alive(long long pid) {
        g_autofree char *path = NULL, *stat_text = NULL;
        const char *p;

        if (pid < 0 || pid > INT_MAX)
                return false;
        if (pid == 0)
                return true;    /* cannot be told apart from a process group; keep waiting */
        if (kill((pid_t) pid, 0) < 0 && errno == ESRCH)
                return false;

        path = g_strdup_printf("/proc/%lld/stat", pid);
        if (!g_file_get_contents(path, &stat_text, NULL, NULL))
                return true;
        p = strrchr(stat_text, ')');
        if (!p || p[1] != ' ')
                return true;
        return p[2] != 'Z' && p[2] != 'X';
}

static int lock_content_judge(PylockerFileLock *l, const LockContent *c, LockState *ret, PylockerError *error) {
        LockFileHolder holder;

        switch (lock_file_parse(c->data, c->size, l->lock_pass, &holder)) {
        case LOCK_FILE_FREE:
                *ret = LOCK_FREE;
                return 0;
        case LOCK_FILE_OURS:
                *ret = LOCK_OURS;
                return 0;
        /* The seed fails on a time or pid it cannot read, rather than guessing. */
        case LOCK_FILE_BAD_TIME:
                return pylocker_error_setf(error, -EBADMSG,
                                           "Lock file '%s' has no valid time on its second line.",
                                           l->lock_path);
        case LOCK_FILE_BAD_PID:
                return pylocker_error_setf(error, -EBADMSG,
                                           "Lock file '%s' has no valid pid on its third line.",
                                           l->lock_path);
        case LOCK_FILE_HELD:
                break;
        }

        if (lock_file_is_stale(&holder, (uint64_t) g_get_real_time(), l->dead_lock_usec) ||
            !pid_is_alive(holder.pid))
                *ret = LOCK_FORGOTTEN;
        else
                *ret = LOCK_BUSY;
        return 0;
}

/* Writes our three lines: the pass, the time with six decimals, the pid, no final newline,
 * as the seed's "%s\n%.6f\n%s". */
static int lock_content_write(PylockerFileLock *l, bool replace, PylockerError *error) {
        g_autofree char *text = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t len;
        ssize_t n;

        text = lock_file_format(l->lock_pass, (uint64_t) g_get_real_time(), (long) getpid());
        len = strlen(text);

        if (!replace) {
                /* The file is empty: one write takes it from nothing to all three lines, so a
                 * reader sees either. */
                n = pwrite(l->lock_fd, text, len, 0);
                if (n == (ssize_t) len)
                        return 0;
                n = n < 0 ? -errno : -EIO;
                if (ftruncate(l->lock_fd, 0) < 0) {
                        /* Nothing more to do: a reader takes a partial file for a stale one. */
                }
                return pylocker_error_setf(error, (int) n, "Failed to write lock file '%s': %s",
                                           l->lock_path, g_strerror((int) -n));
        }

        /* Replacing content: write a new file and rename it over, as the seed does, so a
         * reader without our kernel lock sees the old lines or the new, never a mix. The name
         * follows the seed's "<lock path>_<unique id>_<pid>". */
        tmp = g_strdup_printf("%s_%08" PRIx32 "%08" PRIx32 "_%ld", l->lock_path,
                              g_random_int(), g_random_int(), (long) getpid());
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0666);
        if (fd < 0)
                return pylocker_error_setf(error, -errno, "Failed to create '%s': %s",
                                           tmp, g_strerror(errno));
        /* Keep the lock file usable by whoever could use it before. */
        if (fstat(l->lock_fd, &st) >= 0)
                (void) fchmod(fd, st.st_mode & 07777);

        n = write(fd, text, len);
        if (n != (ssize_t) len) {
                n = n < 0 ? -errno : -EIO;
                (void) unlink(tmp);
                return pylocker_error_setf(error, (int) n, "Failed to write '%s': %s",
                                           tmp, g_strerror((int) -n));
        }
        if (rename(tmp, l->lock_path) < 0) {
                int r = -errno;
                (void) unlink(tmp);
                return pylocker_error_setf(error, r, "Failed to rename '%s' to '%s': %s",
                                           tmp, l->lock_path, g_strerror(-r));
        }

        /* Our section lock was on the old inode; closing it ends the section. Waiters that
         * locked the old inode notice the path changed and reopen. */
        lock_fd_close(l);
        l->lock_fd = steal_fd(&fd);
        return 0;
}

/* One attempt. Returns 1 and sets *ret_code when the lock is had, 0 when busy, or <0. */
static int lock_try(PylockerFileLock *l, int *ret_code, PylockerError *error) {
        LockContent c = {};
        LockState state = LOCK_BUSY;
        int r;

        r = section_enter(l, /* blocking= */ false, /* create= */ true, error);
        if (r <= 0)
                return r;

        r = lock_content_read(l, &c, error);
        if (r < 0)
                goto finish;
        r = lock_content_judge(l, &c, &state, error);
        if (r < 0)
                goto finish;
        if (state == LOCK_BUSY) {
                r = 0;
                goto finish;
        }

        r = lock_content_write(l, /* replace= */ c.size > 0, error);
        if (r < 0)
                goto finish;

        *ret_code = state == LOCK_OURS ? PYLOCKER_FILE_LOCK_ALREADY_SET :
                    state == LOCK_FORGOTTEN ? PYLOCKER_FILE_LOCK_TAKEN_OVER :
                    PYLOCKER_FILE_LOCK_ACQUIRED;
        r = 1;

finish:
        section_leave(l);
        lock_content_done(&c);
        return r;
}

/* Empties the lock file if its first line is our pass. Returns a release code (0, 1, 2, 4). */
static int lock_give_back(PylockerFileLock *l, PylockerError *error) {
        LockContent c = {};
        int r;

        r = section_enter(l, /* blocking= */ true, /* create= */ false, error);
        if (r == -ENOENT)
                return PYLOCKER_FILE_LOCK_NO_LOCK_FILE;
        if (r < 0)
                return r;

        r = lock_content_read(l, &c, error);
        if (r < 0)
                goto finish;
        if (c.size == 0) {
                r = PYLOCKER_FILE_LOCK_WAS_EMPTY;
                goto finish;
        }

        /* The seed compares the first line without its line end to the pass. */
        if (!lock_file_first_line_is(c.data, c.size, l->lock_pass)) {
                r = PYLOCKER_FILE_LOCK_NOT_OWNER;
                goto finish;
        }

        /* Emptied in place, as the seed does: a reader sees all three lines or none. */
        if (ftruncate(l->lock_fd, 0) < 0) {
                r = pylocker_error_setf(error, -errno, "Failed to empty lock file '%s': %s",
                                        l->lock_path, g_strerror(errno));
                goto finish;
        }
        r = PYLOCKER_FILE_LOCK_RELEASED;

finish:
        section_leave(l);
        lock_content_done(&c);
        return r;
}

_public_ int pylocker_file_lock_acquire(PylockerFileLock *l, PylockerError *error) {
        uint64_t now, deadline, backoff = BACKOFF_MIN_USEC;
        int r, code = PYLOCKER_FILE_LOCK_ACQUIRED;

        pylocker_error_clear(error);
        if (!l)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");

        now = (uint64_t) g_get_monotonic_time();
        deadline = usec_add(now, l->timeout_usec);
        for (;;) {
                uint64_t delay;

                r = lock_try(l, &code, error);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;

                now = (uint64_t) g_get_monotonic_time();
                if (now >= deadline)
                        return PYLOCKER_FILE_LOCK_TIMED_OUT;
                if (l->wait_usec > 0)
                        delay = l->wait_usec;
                else {
                        delay = backoff;
                        backoff = MIN(backoff * 2, BACKOFF_MAX_USEC);
                }
                g_usleep((gulong) MIN(delay, deadline - now));
        }

        r = file_open(l, error);
        if (r < 0) {
                /* Not had after all: give back what this call set, keep what was already set. */
                if (code != PYLOCKER_FILE_LOCK_ALREADY_SET) {
                        (void) lock_give_back(l, NULL);
                        l->held = false;
                }
                return r;
        }

        l->held = true;
        return code;
}

_public_ int pylocker_file_lock_release(PylockerFileLock *l, PylockerError *error) {
        int r, code;

        pylocker_error_clear(error);
        if (!l)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");

        code = lock_give_back(l, error);
        if (code < 0)
                return code;
        l->held = false;
        if (code == PYLOCKER_FILE_LOCK_NOT_OWNER || !l->file)
                return code;

        r = file_close(l, error);
        if (r < 0)
                return r;
        return PYLOCKER_FILE_LOCK_CLOSED;
}

_public_ int pylocker_file_lock_refresh(PylockerFileLock *l, PylockerError *error) {
        LockContent c = {};
        int r;

        pylocker_error_clear(error);
        if (!l)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");

        r = section_enter(l, /* blocking= */ true, /* create= */ false, error);
        if (r == -ENOENT)
                return pylocker_error_setf(error, -ENOLCK, "Lock file '%s' is gone.", l->lock_path);
        if (r < 0)
                return r;

        r = lock_content_read(l, &c, error);
        if (r >= 0) {
                if (lock_file_parse(c.data, c.size, l->lock_pass, /* ret_holder= */ NULL) == LOCK_FILE_OURS)
                        r = lock_content_write(l, /* replace= */ true, error);
                else
                        r = pylocker_error_setf(error, -ENOLCK,
                                                "Lock file '%s' no longer holds this locker's pass.",
                                                l->lock_path);
        }

        section_leave(l);
        lock_content_done(&c);
        return r < 0 ? r : 0;
}

_public_ PylockerFileLock *pylocker_file_lock_free(PylockerFileLock *l) {
        if (!l)
                return NULL;

        /* Like the seed's destructor, but only for a lock this locker set itself. */
        if (l->held)
                (void) lock_give_back(l, NULL);
        (void) file_close(l, NULL);
        lock_fd_close(l);

        g_free(l->file_path);
        g_free(l->lock_pass);
        g_free(l->mode);
        g_free(l->lock_path);
        g_free(l);
        return NULL;
}

_public_ void pylocker_file_lock_freep(PylockerFileLock **p) {
        if (p)
                *p = pylocker_file_lock_free(*p);
}

_public_ int pylocker_file_lock_set_mode(PylockerFileLock *l, const char *mode, PylockerError *error) {
        pylocker_error_clear(error);
        if (!l)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");
        if (!mode_is_valid(mode))
                return pylocker_error_setf(error, -EINVAL,
                                           "Invalid mode '%s': must be one of r, r+, w, w+, a, a+, "
                                           "each optionally with b (rb, r+b, rb+, ...).",
                                           mode ? mode : "(null)");
        g_free(l->mode);
        l->mode = g_strdup(mode);
        return 0;
}

_public_ int pylocker_file_lock_set_lock_path(PylockerFileLock *l, const char *lock_path,
                                              PylockerError *error) {
        char *p;

        pylocker_error_clear(error);
        if (!l)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");
        if (lock_path && lock_path[0] == '\0')
                return pylocker_error_setf(error, -EINVAL, "Lock path must not be empty.");

        p = lock_path ? path_make_absolute(lock_path) : default_lock_path(l->file_path);
        if (strcmp(p, l->lock_path) != 0)
                lock_fd_close(l);
        g_free(l->lock_path);
        l->lock_path = p;
        return 0;
}

_public_ int pylocker_file_lock_set_timeout(PylockerFileLock *l, uint64_t usec, PylockerError *error) {
        pylocker_error_clear(error);
        if (!l)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");
        l->timeout_usec = usec;
        return 0;
}

_public_ int pylocker_file_lock_set_wait(PylockerFileLock *l, uint64_t usec, PylockerError *error) {
        pylocker_error_clear(error);
        if (!l)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");
        /* g_usleep() takes an unsigned long; the time left caps it anyway. */
        if (usec == PYLOCKER_FILE_LOCK_INFINITY)
                return pylocker_error_setf(error, -EINVAL, "Wait between attempts must be finite.");
        l->wait_usec = usec;
        return 0;
}

_public_ int pylocker_file_lock_set_dead_lock(PylockerFileLock *l, uint64_t usec, PylockerError *error) {
        pylocker_error_clear(error);
        if (!l)
                return pylocker_error_setf(error, -EINVAL, "No locker given.");
        l->dead_lock_usec = usec;
        return 0;
}

_public_ const char *pylocker_file_lock_get_file_path(const PylockerFileLock *l) {
        return l ? l->file_path : NULL;
}

_public_ const char *pylocker_file_lock_get_lock_pass(const PylockerFileLock *l) {
        return l ? l->lock_pass : NULL;
}

_public_ const char *pylocker_file_lock_get_mode(const PylockerFileLock *l) {
        return l ? l->mode : NULL;
}

_public_ const char *pylocker_file_lock_get_lock_path(const PylockerFileLock *l) {
        return l ? l->lock_path : NULL;
}

_public_ uint64_t pylocker_file_lock_get_timeout(const PylockerFileLock *l) {
        return l ? l->timeout_usec : 0;
}

_public_ uint64_t pylocker_file_lock_get_wait(const PylockerFileLock *l) {
        return l ? l->wait_usec : 0;
}

_public_ uint64_t pylocker_file_lock_get_dead_lock(const PylockerFileLock *l) {
        return l ? l->dead_lock_usec : 0;
}

_public_ FILE *pylocker_file_lock_get_file(const PylockerFileLock *l) {
        return l ? l->file : NULL;
}

_public_ int pylocker_file_lock_get_fd(const PylockerFileLock *l) {
        return l && l->file ? fileno(l->file) : -1;
}
