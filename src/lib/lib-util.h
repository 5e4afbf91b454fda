/* Helpers private to libpylocker-dbus: symbol export and filling PylockerError. */
#pragma once

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

#include <pylocker/pylocker-error.h>

/* The project builds with -fvisibility=hidden; only what is marked here can be exported,
 * and the version script then decides which of those really are. */
#define _public_ __attribute__((visibility("default")))

static inline void pylocker_error_clear(PylockerError *error) {
        if (!error)
                return;
        error->code = 0;
        error->name[0] = '\0';
        error->message[0] = '\0';
}

/* Returns code (a negative errno), so callers can write "return pylocker_error_setf(...);". */
__attribute__((format(printf, 3, 4)))
static inline int pylocker_error_setf(PylockerError *error, int code, const char *format, ...) {
        va_list ap;

        assert(code < 0);
        if (!error)
                return code;

        error->code = code;
        error->name[0] = '\0';
        va_start(ap, format);
        (void) vsnprintf(error->message, sizeof(error->message), format, ap);
        va_end(ap);
        return code;
}
