/* Many clients in one process: each a connection of its own (to the bus or the direct socket) doing
 * Acquire+Release pairs with asynchronous calls, all driven by one poll loop. */
#pragma once

#include "bench-util.h"

typedef struct PairRun PairRun;

typedef struct PairWorker {
        PairRun *run;
        sd_bus *bus;
        char path[64];
        char lock_id[33];
        uint64_t last_token;
        uint64_t pairs;
        bool busy;
} PairWorker;

struct PairRun {
        Harness *h;
        PairWorker *workers;
        sd_bus **buses;
        unsigned n;
        bool direct;
        bool contended;         /* all on one path */
        bool stop;
        unsigned busy;
        PairWorker *holder;     /* contended: who holds the path now, as the clients see it */
        uint64_t last_token;    /* contended: tokens of successive grants must increase */
        uint64_t grants;
};

/* n clients over the bus or the direct socket, on distinct paths or all on one; runs for seconds
 * after a warm-up and returns pairs (grants) per second. Every reply is checked. */
double pair_run(Harness *h, unsigned n, bool direct, bool contended, double seconds);
