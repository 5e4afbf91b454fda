/* Between the parts of the service core. */
#pragma once

#include "service.h"

/* Lock table callbacks (service-locks.c). */
void service_lock_granted(LockTable *table, Lock *lock, void *userdata);
void service_lock_ended(LockTable *table, Lock *lock, LockEndReason reason, void *userdata);
