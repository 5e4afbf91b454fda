/* The D-Bus error names of org.pylocker.Locker and their errno mapping, shared by daemon and library. */
#include <errno.h>

#include "bus-errors.h"

/* Not static: sd-bus requires the map to outlive every bus. */
const sd_bus_error_map pylocker_bus_error_map[] = {
        SD_BUS_ERROR_MAP(PL_ERROR_TIMEOUT,         ETIMEDOUT),
        SD_BUS_ERROR_MAP(PL_ERROR_NOT_OWNER,       EPERM),
        SD_BUS_ERROR_MAP(PL_ERROR_LIMITS_EXCEEDED, EDQUOT),
        SD_BUS_ERROR_MAP(PL_ERROR_ALREADY_EXISTS,  EEXIST),
        SD_BUS_ERROR_MAP(PL_ERROR_NOT_FOUND,       ENOENT),
        SD_BUS_ERROR_MAP(PL_ERROR_DEADLOCK,        EDEADLK),
        SD_BUS_ERROR_MAP(PL_ERROR_UNAVAILABLE,     EHOSTUNREACH),
        SD_BUS_ERROR_MAP_END
};
