/* Fencing tokens that keep increasing across restarts: a ceiling persisted in the state directory.
 *
 * Both floors are kept because each covers the other's weakness: the persisted ceiling survives the
 * clock being set back, and the clock covers a lost or unwritable state directory. A ceiling is
 * written (and synced) before any token under it is handed out, one block of a million at a time,
 * so the cost is one small write per million grants. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "macro.h"
#include "time-util.h"
#include "token-floor.h"

#define TOKEN_FLOOR_FILE "token-ceiling"

static uint64_t realtime_usec(void) {
        struct timespec ts;
        uint64_t usec;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return 0;
        usec = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
#if PYLOCKER_TEST_CLOCK
        /* Test builds only: a clock stepped by this many seconds (negative: back), so that a test can
         * show tokens never go back whatever the clock does, without setting the machine's clock. */
        const char *step = getenv("PYLOCKER_TEST_CLOCK_STEP_SEC");
        if (step) {
                int64_t s = g_ascii_strtoll(step, NULL, 10);

                usec = s < 0 ? usec - MIN(usec, (uint64_t) -s * USEC_PER_SEC) : usec_add(usec, (uint64_t) s * USEC_PER_SEC);
        }
#endif
        return usec;
}

uint64_t token_floor_load(const char *state_dir) {
        g_autofree char *path = NULL, *text = NULL;
        uint64_t persisted = 0, clock = realtime_usec();

        if (state_dir) {
                path = g_build_filename(state_dir, TOKEN_FLOOR_FILE, NULL);
                if (g_file_get_contents(path, &text, NULL, NULL) &&
                    parse_uint(g_strstrip(text), UINT64_MAX - TOKEN_FLOOR_BLOCK, &persisted) < 0) {
                        log_warning("Ignoring %s: not a number.", path);
                        persisted = 0;
                }
        }

        return MAX(persisted, clock);
}

uint64_t token_floor_reserve(const char *state_dir, uint64_t last_token) {
        uint64_t ceiling = usec_add(last_token, TOKEN_FLOOR_BLOCK);
        g_autofree char *path = NULL, *tmp = NULL, *text = NULL;
        _cleanup_close_ int fd = -1, dir_fd = -1;
        size_t length;

        if (!state_dir)
                return ceiling;

        path = g_build_filename(state_dir, TOKEN_FLOOR_FILE, NULL);
        tmp = g_strconcat(path, ".new", NULL);
        text = g_strdup_printf("%" PRIu64 "\n", ceiling);
        length = strlen(text);

        /* Written in full and synced, then renamed over, so a crash leaves the old or the new one. */
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, length) != (ssize_t) length || fsync(fd) < 0 || rename(tmp, path) < 0) {
                log_warning_errno(errno, "Failed to persist the token ceiling in %s, tokens may repeat after a "
                                  "restart with the clock set back: %m", state_dir);
                (void) unlink(tmp);
                return ceiling;
        }
        dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd >= 0)
                (void) fsync(dir_fd);

        return ceiling;
}
