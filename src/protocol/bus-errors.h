/* The D-Bus error names of org.pylocker.Locker and their errno mapping, shared by daemon and library. */
#pragma once

#include <systemd/sd-bus.h>

#define PL_ERROR_TIMEOUT          "org.pylocker.Locker.Error.Timeout"
#define PL_ERROR_NOT_OWNER        "org.pylocker.Locker.Error.NotOwner"
#define PL_ERROR_LIMITS_EXCEEDED  "org.pylocker.Locker.Error.LimitsExceeded"
#define PL_ERROR_ALREADY_EXISTS   "org.pylocker.Locker.Error.AlreadyExists"
#define PL_ERROR_NOT_FOUND        "org.pylocker.Locker.Error.NotFound"
#define PL_ERROR_DEADLOCK         "org.pylocker.Locker.Error.Deadlock"
#define PL_ERROR_UNAVAILABLE      "org.pylocker.Locker.Error.Unavailable"

/* Registered with sd_bus_error_add_map(), so sd_bus_error_get_errno() understands our names. */
extern const sd_bus_error_map pylocker_bus_error_map[];
