/* Small helpers shared by every part of pylocker-dbus: cleanup attributes and arithmetic. */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <glib.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void close_fdp(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
/* GLib 2.74 has no g_autofd. */
#define _cleanup_close_ _cleanup_(close_fdp)

static inline int steal_fd(int *fd) {
        int r = *fd;
        *fd = -1;
        return r;
}

#define USEC_INFINITY UINT64_MAX
#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_SEC UINT64_C(1000000)

/* Deadlines saturate instead of wrapping, so "wait forever" stays forever. */
static inline uint64_t usec_add(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The lease a lock gets for a requested one: none asked for (0) or more than the most allowed is the most
 * allowed. */
static inline uint64_t lease_clamp(uint64_t ttl_usec, uint64_t max_usec) {
        return ttl_usec == 0 || ttl_usec > max_usec ? max_usec : ttl_usec;
}

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define container_of(ptr, type, member) ((type *) (void *) ((char *) (ptr) - offsetof(type, member)))
