/* Benchmark of the lock-file locker: acquire+release pairs per second, alone and contended.
 *
 * Usage: bench-filelock [ROUNDS]   (pairs per run, default 20000; split among contenders) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "contend.h"
#include "test-util.h"

static int bench(const char *dir, unsigned n_processes, unsigned total_rounds, uint64_t *overlaps) {
        g_autofree char *lock_path = g_strdup_printf("%s/bench-%u.lock", dir, n_processes);
        ContendOptions o = {
                .lock_path = lock_path,
                .n_processes = n_processes,
                .rounds = total_rounds / n_processes,
        };
        ContendResult r;

        if (contend_run(&o, &r) < 0) {
                fprintf(stderr, "Failed to start %u processes.\n", n_processes);
                return 1;
        }
        printf("%u process%s: %" PRIu64 " pairs in %.3f s: %.0f acquire+release pairs/s, %" PRIu64 " overlaps\n",
               n_processes, n_processes == 1 ? "  " : "es", r.pairs, r.seconds, (double) r.pairs / r.seconds,
               r.overlaps);
        *overlaps += r.overlaps;
        if (r.failed_processes > 0 || r.bad_codes > 0 || r.pairs != (uint64_t) o.rounds * n_processes) {
                fprintf(stderr, "%u failed processes, %" PRIu64 " unexpected codes.\n",
                        r.failed_processes, r.bad_codes);
                return 1;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        g_autofree char *dir = NULL;
        unsigned rounds = 20000;
        uint64_t overlaps = 0;
        int r;

        if (argc > 1)
                rounds = (unsigned) strtoul(argv[1], NULL, 10);
        if (rounds < 4) {
                fprintf(stderr, "Usage: %s [ROUNDS]  (at least 4)\n", argv[0]);
                return 2;
        }

        dir = test_dir_new();
        printf("lock file in %s, %u pairs per run, %d CPUs\n", dir, rounds, g_get_num_processors());
        r = bench(dir, 1, rounds, &overlaps);
        if (r == 0)
                r = bench(dir, 4, rounds, &overlaps);
        printf("overlaps found: %" PRIu64 "\n", overlaps);
        test_dir_remove(dir);

        return r != 0 || overlaps > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
