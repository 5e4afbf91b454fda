/* Authorization of every method call: one method → polkit action table, asked asynchronously. */
#pragma once

#include <systemd/sd-bus.h>

#include "bus-locker.h"

/* An sd-bus filter that authorizes every call of org.pylocker.Locker before its handler runs. */
int bus_authorize_filter(sd_bus_message *message, void *userdata, sd_bus_error *error);

/* systemd's contract: > 0 allowed, 0 pending (return 1 from the handler: the call is dispatched
 * again once polkit has answered), < 0 refused or failed with error set. On the system bus, callers
 * with uid 0 pass, everyone else is asked about (once per client and action when the answer is
 * final). On other buses, managing is for root and the daemon's own user, the rest for everyone. */
int bus_authorize(BusLocker *locker, sd_bus_message *message, sd_bus_error *error);

/* Cancels every pending query (at shutdown). */
void bus_polkit_registry_free(BusLocker *locker);
