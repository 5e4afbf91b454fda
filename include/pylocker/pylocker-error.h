/* Error reporting shared by every call of libpylocker-dbus. */
#ifndef PYLOCKER_ERROR_H
#define PYLOCKER_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Every call that can fail returns a negative errno-style code and, when given a
 * PylockerError, fills it with the same code and a message. The library never
 * prints and never aborts on bad input. The struct needs no freeing. */
typedef struct PylockerError {
        int code;           /* negative errno, 0 when no error */
        char name[128];     /* D-Bus error name when the daemon answered with one, else "" */
        char message[512];  /* human-readable, no trailing newline */
} PylockerError;

#define PYLOCKER_ERROR_INIT { 0, "", "" }

#ifdef __cplusplus
}
#endif

#endif
