/* The org.pylocker.Locker object on D-Bus: vtable, method handlers, deferred replies and signals. */
#pragma once

#include <systemd/sd-bus.h>

#include "lock-table.h"

typedef struct Manager Manager;

/* Serves the object on a connection (the bus, or later a peer-to-peer one). */
int bus_locker_add_object(Manager *manager, sd_bus *bus);

/* Lock table callbacks: answer deferred Acquire calls and tell holders of lost locks. */
void bus_locker_lock_granted(Manager *manager, Lock *lock);
void bus_locker_lock_ended(Manager *manager, Lock *lock, LockEndReason reason);
