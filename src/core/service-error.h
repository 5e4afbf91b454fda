/* What the service answers when a call fails: a code every front end maps to its own error names,
 * and a message for people. */
#pragma once

#include <glib.h>

typedef enum ServiceErrorCode {
        SERVICE_ERROR_INVALID_ARGS,
        SERVICE_ERROR_TIMEOUT,
        SERVICE_ERROR_NOT_OWNER,
        SERVICE_ERROR_LIMITS_EXCEEDED,
        SERVICE_ERROR_ALREADY_EXISTS,
        SERVICE_ERROR_NOT_FOUND,
        SERVICE_ERROR_DEADLOCK,
        SERVICE_ERROR_UNAVAILABLE,
        SERVICE_ERROR_ACCESS_DENIED,
        SERVICE_ERROR_NOT_SUPPORTED,
        SERVICE_ERROR_SHUTTING_DOWN,
        SERVICE_ERROR_CANCELLED,        /* the caller is gone: nobody to answer */
        _SERVICE_ERROR_MAX,
} ServiceErrorCode;

typedef struct ServiceError {
        ServiceErrorCode code;
        char *message;                  /* NULL: no error */
} ServiceError;

#define SERVICE_ERROR_NULL { .code = _SERVICE_ERROR_MAX }

/* Sets the error (the first one set wins) and returns the negative errno of its code. */
int service_error_setf(ServiceError *error, ServiceErrorCode code, const char *format, ...)
        G_GNUC_PRINTF(3, 4);
bool service_error_is_set(const ServiceError *error);
void service_error_clear(ServiceError *error);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ServiceError, service_error_clear)

/* The errno a code stands for (positive), as the library reports it. */
int service_error_code_to_errno(ServiceErrorCode code);
/* The error name a code is answered with, on D-Bus and on the wire alike: one of
 * org.pylocker.Locker.Error.* or org.freedesktop.DBus.Error.*. */
const char *service_error_code_to_name(ServiceErrorCode code);
