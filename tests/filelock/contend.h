/* Several processes taking the same lock file in turn, watching for two inside at once. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct ContendOptions {
        const char *lock_path;
        unsigned n_processes;
        unsigned rounds;        /* per process */
        /* Inside the lock: read-modify-write this counter file (NULL: none), with a yield in
         * between so an overlap would lose an increment. */
        const char *counter_path;
        /* Inside the lock: append "enter N" and "leave N" lines here (NULL: none). */
        const char *log_path;
        /* Outside the lock: sleep up to this long, so processes interleave (0: tight loop). */
        unsigned jitter_usec;
} ContendOptions;

typedef struct ContendResult {
        uint64_t pairs;         /* acquire (code 0) + release (code 2) pairs completed */
        uint64_t overlaps;      /* times a process entered while another was inside */
        uint64_t bad_codes;     /* acquire or release codes other than 0 and 2, errors included */
        unsigned failed_processes;
        double seconds;
} ContendResult;

/* Forks the processes, waits for all of them. Returns 0, or -errno if they could not run. */
int contend_run(const ContendOptions *options, ContendResult *ret);
