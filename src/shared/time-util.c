/* Parsing and formatting of time spans ("20s", "1.5min", "250ms") in microseconds. */
#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <string.h>

#include <glib.h>

#include "macro.h"
#include "time-util.h"

static const struct {
        const char *suffix;
        uint64_t usec;
} time_units[] = {
        { "us",   1 },
        { "usec", 1 },
        { "ms",   USEC_PER_MSEC },
        { "msec", USEC_PER_MSEC },
        { "s",    USEC_PER_SEC },
        { "sec",  USEC_PER_SEC },
        { "",     USEC_PER_SEC },
        { "min",  60 * USEC_PER_SEC },
        { "m",    60 * USEC_PER_SEC },
        { "h",    3600 * USEC_PER_SEC },
        { "hr",   3600 * USEC_PER_SEC },
        { "d",    86400 * USEC_PER_SEC },
};

int parse_uint(const char *text, uint64_t max, uint64_t *ret) {
        guint64 value;

        if (!text || !g_ascii_isdigit(text[0]))
                return -EINVAL;
        if (!g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, &value, NULL))
                return -EINVAL;
        if (value > max)
                return -ERANGE;

        *ret = value;
        return 0;
}

int parse_time_span(const char *text, uint64_t *ret_usec) {
        uint64_t whole = 0, frac = 0, frac_scale = 1, unit = 0;
        const char *p = text;

        if (!text)
                return -EINVAL;
        if (strcmp(text, "infinity") == 0) {
                *ret_usec = USEC_INFINITY;
                return 0;
        }
        if (!g_ascii_isdigit(*p))
                return -EINVAL;

        for (; g_ascii_isdigit(*p); p++) {
                if (whole > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                whole = whole * 10 + (uint64_t) (*p - '0');
        }
        if (*p == '.') {
                p++;
                if (!g_ascii_isdigit(*p))
                        return -EINVAL;
                /* Digits past microsecond precision of the largest unit carry no meaning. */
                for (; g_ascii_isdigit(*p); p++)
                        if (frac_scale < UINT64_C(100000000000)) {
                                frac = frac * 10 + (uint64_t) (*p - '0');
                                frac_scale *= 10;
                        }
        }

        for (size_t i = 0; i < ELEMENTSOF(time_units); i++)
                if (strcmp(p, time_units[i].suffix) == 0) {
                        unit = time_units[i].usec;
                        break;
                }
        if (unit == 0)
                return -EINVAL;

        if (whole > UINT64_MAX / unit)
                return -ERANGE;

        *ret_usec = usec_add(whole * unit, frac * unit / frac_scale);
        return *ret_usec == UINT64_MAX ? -ERANGE : 0;
}

const char *format_time_span(char *buf, size_t size, uint64_t usec) {
        if (usec == USEC_INFINITY)
                (void) snprintf(buf, size, "infinity");
        else if (usec % USEC_PER_SEC == 0)
                (void) snprintf(buf, size, "%" PRIu64 "s", usec / USEC_PER_SEC);
        else if (usec % USEC_PER_MSEC == 0)
                (void) snprintf(buf, size, "%" PRIu64 "ms", usec / USEC_PER_MSEC);
        else
                (void) snprintf(buf, size, "%" PRIu64 "us", usec);
        return buf;
}
