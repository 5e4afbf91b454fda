/* A pager for the long lists (locks, clients), as systemctl has: only when stdout is a terminal. */
#pragma once

/* Unless --no-pager was given or stdout is not a terminal, pipes stdout into $PYLOCKCTL_PAGER, else
 * $PAGER, else less (with LESS=FRSXMK unless set, so a short list leaves no pager behind), else more;
 * a pager of "" or "cat" means none. */
void pager_open(void);

/* Flushes stdout, closes the pipe and waits for the pager to exit. Nothing when none was opened. */
void pager_close(void);
