/* The public cleanup helpers: the pylocker_*p() functions, the PYLOCKER_CLEANUP_* macros and
 * g_autoptr(), which the headers make available when <glib.h> comes first. Under ASan a helper
 * that does not free shows as a leak. */
#undef G_DISABLE_ASSERT
#include <glib.h>

#include <pylocker/pylocker.h>

static void test_null(void) {
        PylockerLocker *locker = NULL;
        PylockerLock *lock = NULL;
        PylockerFileLock *file_lock = NULL;
        char **strv = NULL, *s = NULL;

        /* Nothing to drop: fine, and still NULL. */
        pylocker_locker_unrefp(&locker);
        pylocker_lock_unrefp(&lock);
        pylocker_file_lock_freep(&file_lock);
        pylocker_strv_freep(&strv);
        pylocker_string_freep(&s);
        g_assert_null(locker);
        g_assert_null(lock);
        g_assert_null(file_lock);
        g_assert_null(strv);
        g_assert_null(s);

        /* A NULL pointer to the variable too. */
        pylocker_locker_unrefp(NULL);
        pylocker_lock_unrefp(NULL);
        pylocker_file_lock_freep(NULL);
        pylocker_strv_freep(NULL);
        pylocker_string_freep(NULL);
}

static void test_freep_clears(void) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerFileLock *lock = NULL;
        char **strv = g_strsplit("a b", " ", -1), *s = g_strdup("x");

        g_assert_cmpint(pylocker_file_lock_new(NULL, "pass", &lock, &error), ==, 0);
        pylocker_file_lock_freep(&lock);
        g_assert_null(lock);
        pylocker_strv_freep(&strv);
        g_assert_null(strv);
        pylocker_string_freep(&s);
        g_assert_null(s);
}

static void test_scopes(void) {
        PylockerError error = PYLOCKER_ERROR_INIT;

        {
                PYLOCKER_CLEANUP_FILE_LOCK PylockerFileLock *lock = NULL;
                PYLOCKER_CLEANUP_STRV char **strv = g_strsplit("a b", " ", -1);
                PYLOCKER_CLEANUP_STRING char *s = g_strdup("x");
                PYLOCKER_CLEANUP_LOCKER PylockerLocker *locker = NULL;
                PYLOCKER_CLEANUP_LOCK PylockerLock *l = NULL;

                /* Each is dropped at the closing brace, the NULL ones included. */
                g_assert_cmpint(pylocker_file_lock_new(NULL, "pass", &lock, &error), ==, 0);
                (void) strv;
                (void) s;
                (void) locker;
                (void) l;
        }
        {
                g_autoptr(PylockerFileLock) lock = NULL;
                g_autoptr(PylockerLocker) locker = NULL;
                g_autoptr(PylockerLock) l = NULL;

                g_assert_cmpint(pylocker_file_lock_new("file", "pass", &lock, &error), ==, 0);
                (void) locker;
                (void) l;
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/abi/cleanup/null", test_null);
        g_test_add_func("/abi/cleanup/freep-clears", test_freep_clears);
        g_test_add_func("/abi/cleanup/scopes", test_scopes);
        return g_test_run();
}
