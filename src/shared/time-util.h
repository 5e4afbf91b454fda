/* Parsing and formatting of time spans ("20s", "1.5min", "250ms") in microseconds. */
#pragma once

#include <stdint.h>

/* Returns 0 and sets *ret_usec, or -EINVAL (bad syntax or unit) or -ERANGE (overflow).
 * A bare number is seconds, as in the seed and in systemd's *Sec= settings. */
int parse_time_span(const char *text, uint64_t *ret_usec);

/* Returns 0 and sets *ret, or -EINVAL / -ERANGE. Plain decimal only, no sign, no spaces. */
int parse_uint(const char *text, uint64_t max, uint64_t *ret);

/* Writes the span in its largest exact unit, e.g. "90s", "250ms", "infinity", into buf. */
const char *format_time_span(char *buf, size_t size, uint64_t usec);
#define FORMAT_TIME_SPAN_MAX 64
