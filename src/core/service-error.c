/* What the service answers when a call fails: a code and a message. */
#include <errno.h>
#include <stdbool.h>

#include "bus-errors.h"
#include "service-error.h"

static const int code_errno[_SERVICE_ERROR_MAX] = {
        [SERVICE_ERROR_INVALID_ARGS]    = EINVAL,
        [SERVICE_ERROR_TIMEOUT]         = ETIMEDOUT,
        [SERVICE_ERROR_NOT_OWNER]       = EPERM,
        [SERVICE_ERROR_LIMITS_EXCEEDED] = EDQUOT,
        [SERVICE_ERROR_ALREADY_EXISTS]  = EEXIST,
        [SERVICE_ERROR_NOT_FOUND]       = ENOENT,
        [SERVICE_ERROR_DEADLOCK]        = EDEADLK,
        [SERVICE_ERROR_UNAVAILABLE]     = EHOSTUNREACH,
        [SERVICE_ERROR_ACCESS_DENIED]   = EACCES,
        [SERVICE_ERROR_NOT_SUPPORTED]   = EOPNOTSUPP,
        [SERVICE_ERROR_SHUTTING_DOWN]   = ESHUTDOWN,
        [SERVICE_ERROR_CANCELLED]       = ECANCELED,
};

static const char *const code_name[_SERVICE_ERROR_MAX] = {
        [SERVICE_ERROR_INVALID_ARGS]    = SD_BUS_ERROR_INVALID_ARGS,
        [SERVICE_ERROR_TIMEOUT]         = PL_ERROR_TIMEOUT,
        [SERVICE_ERROR_NOT_OWNER]       = PL_ERROR_NOT_OWNER,
        [SERVICE_ERROR_LIMITS_EXCEEDED] = PL_ERROR_LIMITS_EXCEEDED,
        [SERVICE_ERROR_ALREADY_EXISTS]  = PL_ERROR_ALREADY_EXISTS,
        [SERVICE_ERROR_NOT_FOUND]       = PL_ERROR_NOT_FOUND,
        [SERVICE_ERROR_DEADLOCK]        = PL_ERROR_DEADLOCK,
        [SERVICE_ERROR_UNAVAILABLE]     = PL_ERROR_UNAVAILABLE,
        [SERVICE_ERROR_ACCESS_DENIED]   = SD_BUS_ERROR_ACCESS_DENIED,
        [SERVICE_ERROR_NOT_SUPPORTED]   = SD_BUS_ERROR_NOT_SUPPORTED,
        [SERVICE_ERROR_SHUTTING_DOWN]   = SD_BUS_ERROR_NO_SERVER,
        [SERVICE_ERROR_CANCELLED]       = SD_BUS_ERROR_NO_REPLY,
};

int service_error_code_to_errno(ServiceErrorCode code) {
        return code < _SERVICE_ERROR_MAX ? code_errno[code] : EIO;
}

const char *service_error_code_to_name(ServiceErrorCode code) {
        return code < _SERVICE_ERROR_MAX ? code_name[code] : SD_BUS_ERROR_FAILED;
}

int service_error_setf(ServiceError *error, ServiceErrorCode code, const char *format, ...) {
        va_list ap;

        if (error && !error->message) {
                error->code = code;
                va_start(ap, format);
                error->message = g_strdup_vprintf(format, ap);
                va_end(ap);
        }
        return -service_error_code_to_errno(code);
}

bool service_error_is_set(const ServiceError *error) {
        return error && error->message;
}

void service_error_clear(ServiceError *error) {
        g_clear_pointer(&error->message, g_free);
        error->code = _SERVICE_ERROR_MAX;
}
