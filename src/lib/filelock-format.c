/* The seed's lock file, as text: parsing and writing, byte for byte what pylocker's Python Locker reads
 * and writes. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "filelock-format.h"
#include "macro.h"

#define LINES_MAX 4

/* Python's readlines(): each line keeps its '\n'; a last line without one still counts. Fills up to
 * LINES_MAX lines and returns how many there are, capped at LINES_MAX. */
static size_t split_lines(const char *data, size_t size, const char *line[LINES_MAX], size_t len[LINES_MAX]) {
        size_t n = 0, start = 0;

        for (size_t i = 0; i < size && n < LINES_MAX; i++)
                if (data[i] == '\n') {
                        line[n] = data + start;
                        len[n++] = i + 1 - start;
                        start = i + 1;
                }
        if (n < LINES_MAX && start < size) {
                line[n] = data + start;
                len[n++] = size - start;
        }
        return n;
}

/* Copies a line with surrounding ASCII whitespace stripped, as Python's float()/int() do. */
static bool line_strip(const char *line, size_t len, char *buf, size_t size) {
        while (len > 0 && g_ascii_isspace(line[0])) {
                line++;
                len--;
        }
        while (len > 0 && g_ascii_isspace(line[len - 1]))
                len--;
        if (len == 0 || len >= size || memchr(line, '\0', len))
                return false;
        memcpy(buf, line, len);
        buf[len] = '\0';
        return true;
}

static bool parse_time(const char *line, size_t len, double *ret) {
        char buf[64], *end;
        double t;

        if (!line_strip(line, len, buf, sizeof(buf)))
                return false;
        t = g_ascii_strtod(buf, &end);
        if (*end != '\0' || end == buf)
                return false;
        *ret = t;
        return true;
}

static bool parse_pid(const char *line, size_t len, long long *ret) {
        char buf[32], *end;
        long long pid;

        if (!line_strip(line, len, buf, sizeof(buf)))
                return false;
        if (!g_ascii_isdigit(buf[buf[0] == '-' || buf[0] == '+' ? 1 : 0]))
                return false;
        errno = 0;
        pid = strtoll(buf, &end, 10);
        if (*end != '\0' || errno == ERANGE)
                return false;
        *ret = pid;
        return true;
}

LockFileState lock_file_parse(const char *data, size_t size, const char *pass, LockFileHolder *ret_holder) {
        const char *line[LINES_MAX];
        size_t len[LINES_MAX], pass_len = strlen(pass);
        LockFileHolder holder;

        if (split_lines(data, size, line, len) != 3)
                return LOCK_FILE_FREE;
        if (len[0] == pass_len + 1 && memcmp(line[0], pass, pass_len) == 0)
                return LOCK_FILE_OURS;

        if (!parse_time(line[1], len[1], &holder.time))
                return LOCK_FILE_BAD_TIME;
        if (!parse_pid(line[2], len[2], &holder.pid))
                return LOCK_FILE_BAD_PID;
        if (ret_holder)
                *ret_holder = holder;
        return LOCK_FILE_HELD;
}

bool lock_file_first_line_is(const char *data, size_t size, const char *pass) {
        const char *nl = memchr(data, '\n', size);
        size_t first = nl ? (size_t) (nl - data) : size, pass_len = strlen(pass);

        return first == pass_len && memcmp(data, pass, pass_len) == 0;
}

bool lock_file_is_stale(const LockFileHolder *holder, uint64_t now_usec, uint64_t dead_lock_usec) {
        if (dead_lock_usec == UINT64_MAX)
                return false;
        /* In seconds, as the seed compares them. */
        return (double) now_usec / 1e6 - holder->time > (double) dead_lock_usec / 1e6;
}

char *lock_file_format(const char *pass, uint64_t now_usec, long pid) {
        return g_strdup_printf("%s\n%" PRIu64 ".%06" PRIu64 "\n%ld", pass, now_usec / USEC_PER_SEC,
                               now_usec % USEC_PER_SEC, pid);
}
