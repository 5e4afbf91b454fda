/* The pager of the long lists: a child reading our stdout through a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pager.h"
#include "verbs.h"

static pid_t pager_pid;

void pager_open(void) {
        const char *pager;
        int fds[2];
        pid_t pid;

        if (pager_pid > 0 || cli_globals.no_pager || !isatty(STDOUT_FILENO))
                return;
        pager = getenv("PYLOCKCTL_PAGER") ?: getenv("PAGER");
        if (pager && (pager[0] == '\0' || strcmp(pager, "cat") == 0))
                return;

        (void) fflush(stdout);
        if (pipe2(fds, O_CLOEXEC) < 0)
                return;
        pid = fork();
        if (pid < 0) {
                (void) close(fds[0]);
                (void) close(fds[1]);
                return;
        }
        if (pid == 0) {
                if (dup2(fds[0], STDIN_FILENO) < 0)
                        _exit(EXIT_FAILURE);
                /* Quit at once when it fits the screen, keep colours, no screen switch. */
                (void) setenv("LESS", "FRSXMK", /* overwrite= */ 0);
                if (pager)
                        (void) execl("/bin/sh", "sh", "-c", pager, (char *) NULL);
                else {
                        (void) execlp("less", "less", (char *) NULL);
                        (void) execlp("more", "more", (char *) NULL);
                }
                /* No pager to be had: pass the text through. */
                (void) execlp("cat", "cat", (char *) NULL);
                _exit(EXIT_FAILURE);
        }

        if (dup2(fds[1], STDOUT_FILENO) < 0) {
                (void) close(fds[0]);
                (void) close(fds[1]);
                (void) kill(pid, SIGTERM);
                (void) waitpid(pid, NULL, 0);
                return;
        }
        (void) close(fds[0]);
        (void) close(fds[1]);
        pager_pid = pid;
}

void pager_close(void) {
        int fd;

        if (pager_pid <= 0)
                return;
        (void) fflush(stdout);
        /* The pager sees the end of its input; stdout stays a valid (empty) descriptor. */
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                (void) dup2(fd, STDOUT_FILENO);
                (void) close(fd);
        } else
                (void) close(STDOUT_FILENO);
        while (waitpid(pager_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        pager_pid = 0;
}
