/* Example: lock two paths through pylockerd, work under the lock, release it.
 *
 *   cc acquire.c $(pkg-config --cflags --libs libpylocker-dbus) -o acquire
 *   ./acquire [DBUS_ADDRESS]
 *
 * Without an address it talks to the system's pylockerd (through its direct socket when it can). */
#include <stdio.h>
#include <stdlib.h>

#include <pylocker/pylocker.h>

int main(int argc, char *argv[]) {
        PylockerLockerOptions options = PYLOCKER_LOCKER_OPTIONS_INIT;
        PylockerError error = PYLOCKER_ERROR_INIT;
        const char *paths[] = { "/srv/example/a", "/srv/example/b", NULL };
        PylockerLocker *locker = NULL;
        PylockerLock *lock = NULL;
        int r;

        if (argc > 1) {
                options.transport = PYLOCKER_TRANSPORT_ADDRESS;
                options.address = argv[1];
        }
        options.name = "example";

        r = pylocker_locker_open(&options, &locker, &error);
        if (r < 0) {
                fprintf(stderr, "cannot reach pylockerd: %s\n", error.message);
                return EXIT_FAILURE;
        }

        /* All paths at once or none; the seed's codes tell why not. */
        r = pylocker_locker_acquire(locker, paths, NULL, &lock, &error);
        if (r < 0) {
                fprintf(stderr, "lock not had (code %d): %s\n", pylocker_acquire_code(r), error.message);
                pylocker_locker_unref(locker);
                return EXIT_FAILURE;
        }

        printf("locked %s and %s, lock %s, fencing token %llu\n", paths[0], paths[1],
               pylocker_lock_get_id(lock), (unsigned long long) pylocker_lock_get_token(lock));

        r = pylocker_lock_release(lock, &error);
        printf("released: %s\n", r == 1 ? "yes" : r == 0 ? "it was gone already" : error.message);

        pylocker_lock_unref(lock);
        pylocker_locker_unref(locker);
        return r == 1 ? EXIT_SUCCESS : EXIT_FAILURE;
}
