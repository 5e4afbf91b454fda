/* The examples run against a real pylockerd: the C program through the library, the Python script
 * through Gio. */
#undef G_DISABLE_ASSERT
#include <string.h>

#include <glib.h>

#include "harness.h"

static char *run_example(const char *const *argv) {
        g_autoptr(GError) error = NULL;
        g_autofree char *err = NULL;
        char *out = NULL;
        int status;

        g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                                   &error));
        g_assert_no_error(error);
        g_test_message("stdout: %s\nstderr: %s", out, err);
        g_assert_true(g_spawn_check_wait_status(status, NULL));
        return out;
}

static void test_c_example(HarnessFixture *f, gconstpointer data) {
        g_autofree char *out = run_example((const char *const[]) {
                g_getenv("PYLOCKER_EXAMPLE_ACQUIRE"), f->h.bus_address, NULL });

        g_assert_true(g_str_has_prefix(out, "locked /srv/example/a and /srv/example/b, lock "));
        g_assert_nonnull(strstr(out, "fencing token "));
        g_assert_nonnull(strstr(out, "released: yes\n"));
}

static void test_python_example(HarnessFixture *f, gconstpointer data) {
        g_autofree char *out = run_example((const char *const[]) {
                "/usr/bin/python3", g_getenv("PYLOCKER_EXAMPLE_PYTHON"), f->h.bus_address, NULL });

        g_assert_cmpstr(out, ==,
                        "Lock acquired for 'my_path'\n"
                        "released: (True, 1)\n"
                        "Lock acquired for all of 'path_to_file1', 'path_to_file2' and 'path_to_directory'\n"
                        "released: (True, 1)\n"
                        "released again: (True, 0)\n");
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        harness_test_add("/examples/c-library", NULL, test_c_example);
        harness_test_add("/examples/python-gio", NULL, test_python_example);
        return g_test_run();
}
