/* The C part of the Python package pylocker: a thin, thread-safe layer over libpylocker-dbus. */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pylocker/pylocker.h>

/* pylocker._pylocker.Error: an OSError (errno, message) with the daemon's D-Bus error name, if any, in
 * its dbus_name attribute. Raised by every call that fails; the Python layer turns it into the seed's
 * codes or a clearer exception. */
extern PyObject *pylocker_py_error;

/* Raises pylocker_py_error from a negative errno and the library's error (which may be NULL or empty).
 * Returns NULL. */
PyObject *pylocker_py_raise(int r, const PylockerError *error);

/* A str from UTF-8 the library gave us; invalid bytes are replaced rather than failing. NULL gives "". */
PyObject *pylocker_py_str(const char *s);

/* How long a wait may run with the GIL released before it looks at Python's signals (Ctrl-C), in
 * milliseconds. */
#define PYLOCKER_PY_SLICE_MSEC 100

extern PyTypeObject pylocker_py_client_type;
extern PyTypeObject pylocker_py_file_lock_type;
