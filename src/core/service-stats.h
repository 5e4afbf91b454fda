/* What pylockerd counts about itself: plain counters bumped where the core decides, two log2
 * histograms of wait and hold times, and the paths waited for most. Nothing here allocates or takes
 * a clock on an uncontended Acquire: a grant is a few increments, a release one clock read more. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bucket i counts samples of at most 2^i µs; the last one counts the rest (2^38 µs is three days). */
#define SERVICE_HISTOGRAM_BUCKETS 40
/* How many of the most waited-for paths are kept. */
#define SERVICE_STATS_TOP_PATHS 10

typedef struct ServiceHistogram {
        uint64_t buckets[SERVICE_HISTOGRAM_BUCKETS];
        uint64_t count;
        uint64_t sum_usec;
} ServiceHistogram;

/* Where a client came from, for the statistics: the bus, the direct socket (wire or D-Bus peer to
 * peer) or the bridge. */
typedef enum ServiceStatsTransport {
        SERVICE_STATS_TRANSPORT_BUS,
        SERVICE_STATS_TRANSPORT_DIRECT,
        SERVICE_STATS_TRANSPORT_BRIDGE,
        _SERVICE_STATS_TRANSPORT_MAX,
} ServiceStatsTransport;

typedef struct ServiceContendedPath {
        char *path;             /* NULL: unused slot */
        uint64_t waits;         /* an upper bound once the slot was taken over (space-saving) */
} ServiceContendedPath;

typedef struct ServiceStats {
        uint64_t grants;
        uint64_t releases;          /* by their owner, or by closing every copy of the handle */
        uint64_t expiries;          /* leases (or MaxLockTime) run out */
        uint64_t timeouts;          /* waits that ran out of time, and nonblocking tries refused */
        uint64_t force_releases;
        uint64_t deadlocks;         /* waits refused because they would close a cycle */
        uint64_t denials;           /* calls refused by the authorization rule or by polkit */
        uint64_t waits;             /* requests that had to wait */
        uint64_t connections[_SERVICE_STATS_TRANSPORT_MAX];   /* clients ever, by transport */
        uint64_t clients[_SERVICE_STATS_TRANSPORT_MAX];       /* clients now, by transport */
        ServiceHistogram wait_time;  /* every grant: 0 for one made at once */
        ServiceHistogram hold_time;  /* every held lock that ended */
        ServiceContendedPath contended[SERVICE_STATS_TOP_PATHS];
        uint64_t started_monotonic;
} ServiceStats;

void service_stats_init(ServiceStats *stats, uint64_t monotonic_usec);
void service_stats_done(ServiceStats *stats);

void service_histogram_add(ServiceHistogram *h, uint64_t usec);
/* The upper bound of bucket i in µs; UINT64_MAX for the last. */
uint64_t service_histogram_bucket_le(size_t i);

/* A request has to wait on this path: only then, so the uncontended path never gets here. */
void service_stats_note_wait(ServiceStats *stats, const char *path);
/* The kept paths, most waited-for first; returns how many (at most SERVICE_STATS_TOP_PATHS). */
size_t service_stats_top_paths(const ServiceStats *stats, const ServiceContendedPath *ret[SERVICE_STATS_TOP_PATHS]);

const char *service_stats_transport_to_string(ServiceStatsTransport transport);
