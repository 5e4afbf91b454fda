/* Authorization of every method call: one method → polkit action table, asked asynchronously. */
#pragma once

#include <stdbool.h>

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

/* For front ends whose calls are not D-Bus messages (the wire protocol): polkit asked about the
 * process at the other end of a socket, as its credentials name it (a unix-process subject, as for
 * a D-Bus peer-to-peer caller), never interactively. */
typedef struct BusPolkitQuery BusPolkitQuery;

/* polkit's answer: r > 0 allowed; r < 0 refused or not checked, with error set (AccessDenied, or
 * InteractiveAuthorizationRequired for a challenge). final: the answer may be kept for the client
 * (client->verdicts). The query is freed before the callback runs. */
typedef void (*BusPolkitCallback)(int r, bool final, const sd_bus_error *error, void *userdata);

/* Starts CheckAuthorization on the bus. Returns 0 with the query in flight (callback called once,
 * later), or < 0 (callback never called). */
int bus_polkit_check_process(BusLocker *locker, pid_t pid, uid_t uid, ServiceAction action,
                             BusPolkitCallback callback, void *userdata, BusPolkitQuery **ret);
/* Cancels a query in flight: its callback is never called. */
BusPolkitQuery *bus_polkit_query_free(BusPolkitQuery *query);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BusPolkitQuery, bus_polkit_query_free)
