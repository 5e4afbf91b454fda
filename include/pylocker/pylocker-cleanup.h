/* Cleanup by scope for libpylocker-dbus objects.
 *
 * Every object type has a pylocker_*p() function taking a pointer to the variable (NULL inside is
 * fine), as systemd's sd_bus_unrefp() does, for the cleanup attribute of GCC and clang:
 *
 *     PYLOCKER_CLEANUP(pylocker_locker_unrefp) PylockerLocker *locker = NULL;
 *
 * or the shorter PYLOCKER_CLEANUP_LOCKER, _LOCK, _STRV, _STRING and _FILE_LOCK next to each type.
 * The functions are plain C and exported, so they serve other compilers and language bindings too.
 *
 * When <glib.h> is included before the pylocker headers, they also declare the GLib cleanup
 * functions of their types: g_autoptr(PylockerLocker), g_autoptr(PylockerLock) and
 * g_autoptr(PylockerFileLock) then work without a G_DEFINE_AUTOPTR_CLEANUP_FUNC of your own (which
 * would now be a second definition: drop it). */
#ifndef PYLOCKER_CLEANUP_H
#define PYLOCKER_CLEANUP_H

#if defined(__GNUC__) || defined(__clang__)
#define PYLOCKER_CLEANUP(func) __attribute__((cleanup(func)))
#endif

#endif
