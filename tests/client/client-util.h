/* Helpers of the client library's tests: lockers on the harness's bus, pumping them, lost-lock records. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

#include <glib.h>

#include <pylocker/pylocker.h>

#include "harness.h"


/* A locker on the harness's bus; private_socket NULL: the bus only, else that socket first. */
PylockerLocker *test_locker_open(Harness *h, const char *name, const char *private_socket);

/* Processes the lockers (NULL-terminated) until *flag, failing after timeout_ms. */
void test_pump_until(PylockerLocker *const *lockers, const bool *flag, int timeout_ms);
void test_pump_for(PylockerLocker *const *lockers, int ms);

/* Records lost-lock callbacks. */
typedef struct LostRecord {
        unsigned count;
        PylockerLockLostReason last_reason;
        char *last_id;
        bool flag;      /* set at each loss */
} LostRecord;

void lost_record_clear(LostRecord *r);
void on_lock_lost_record(PylockerLocker *locker, PylockerLock *lock, PylockerLockLostReason reason, void *userdata);

/* Records an asynchronous acquire or release. */
typedef struct AsyncResult {
        bool done;
        int r;
        PylockerLock *lock;
        PylockerError error;
} AsyncResult;

void async_result_clear(AsyncResult *a);
void on_acquire_result(PylockerLocker *locker, int r, PylockerLock *lock, const PylockerError *error,
                       void *userdata);
void on_release_result(PylockerLocker *locker, int r, const PylockerError *error, void *userdata);

/* Number of locks ListLocks shows, through the given locker. */
size_t test_count_locks(PylockerLocker *l);

/* pylockctl, run against the harness's bus. */
/* argv for "pylockctl --address BUS" and the NULL-terminated arguments in ap (g_ptr_array_unref). */
GPtrArray *pylockctl_argv(Harness *h, va_list ap);
/* Runs it to the end; returns its exit status as a shell says it (128+N for signal N). */
int pylockctl_run(Harness *h, char **ret_out, char **ret_err, ...);
