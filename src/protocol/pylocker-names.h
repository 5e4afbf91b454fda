/* The names both ends of org.pylocker.Locker agree on: bus name, object, interface, socket paths. */
#pragma once

#define PYLOCKER_BUS_NAME "org.pylocker.Locker"
#define PYLOCKER_OBJECT_PATH "/org/pylocker/Locker"
#define PYLOCKER_INTERFACE "org.pylocker.Locker"

/* The direct socket of the system instance, and of a user's below $XDG_RUNTIME_DIR. */
#define PYLOCKER_PRIVATE_SOCKET_SYSTEM "/run/pylocker/private"
#define PYLOCKER_PRIVATE_SOCKET_RUNTIME "pylocker/private"
