/* Between the parts of the service core. */
#pragma once

#include "service.h"

/* Lock table callbacks (service-locks.c). */
void service_lock_granted(LockTable *table, Lock *lock, void *userdata);
void service_lock_ended(LockTable *table, Lock *lock, LockEndReason reason, void *userdata);

/* Releases the locks of gone clients a batch per loop iteration, from now on (service.c). */
void service_schedule_reap(Service *service);
/* Forgets the users with no client and nothing left in the table (client.c). */
void service_users_sweep(Service *service);
