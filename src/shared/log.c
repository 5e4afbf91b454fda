/* Daemon logging to stderr with <N> priority prefixes that journald parses. */
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static int max_level = LOG_INFO;

void log_set_max_level(int level) {
        max_level = level;
}

int log_internal(int level, int error, const char *format, ...) {
        int saved_errno = error < 0 ? -error : error;
        char buffer[2048];
        va_list ap;

        if (level > max_level)
                return -saved_errno;

        /* %m in the format expands to the given error, not whatever errno happens to be. */
        errno = saved_errno;
        va_start(ap, format);
        (void) vsnprintf(buffer, sizeof(buffer), format, ap);
        va_end(ap);

        (void) fprintf(stderr, "<%d>%s\n", level, buffer);
        errno = saved_errno;
        return -saved_errno;
}
