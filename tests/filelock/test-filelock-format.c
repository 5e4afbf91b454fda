/* Unit tests of the lock file's text format (src/lib/filelock-format.c): which contents are free,
 * ours or someone's, how time and pid are read, the release rule, the dead-lock age, and what we write. */
#undef G_DISABLE_ASSERT
#include <string.h>

#include <glib.h>

#include "filelock-format.h"

/* lock_file_parse() of a NUL-terminated text. */
static LockFileState parse(const char *text, const char *pass, LockFileHolder *ret) {
        return lock_file_parse(text, strlen(text), pass, ret);
}

static void test_free(void) {
        /* The seed takes anything but exactly three lines as free. */
        g_assert_cmpint(parse("", "p", NULL), ==, LOCK_FILE_FREE);
        g_assert_cmpint(parse("p", "p", NULL), ==, LOCK_FILE_FREE);
        g_assert_cmpint(parse("p\n1.0", "p", NULL), ==, LOCK_FILE_FREE);
        g_assert_cmpint(parse("other\n1.0\n42\n\n", "p", NULL), ==, LOCK_FILE_FREE);
        g_assert_cmpint(parse("a\nb\nc\nd\ne", "p", NULL), ==, LOCK_FILE_FREE);
        g_assert_cmpint(parse("\n\n", "p", NULL), ==, LOCK_FILE_FREE);
}

static void test_ours(void) {
        /* The first line is the pass with its line end, whatever the others say. */
        g_assert_cmpint(parse("p\n1.5\n42", "p", NULL), ==, LOCK_FILE_OURS);
        g_assert_cmpint(parse("p\ngarbage\nnot a pid", "p", NULL), ==, LOCK_FILE_OURS);
        g_assert_cmpint(parse("p\n1.5\n42\n", "p", NULL), ==, LOCK_FILE_OURS);
        /* A prefix or an extension of the pass is another pass. */
        g_assert_cmpint(parse("pass\n1.5\n42", "pa", NULL), ==, LOCK_FILE_HELD);
        g_assert_cmpint(parse("pa\n1.5\n42", "pass", NULL), ==, LOCK_FILE_HELD);
        g_assert_cmpint(parse("\n1.5\n42", "", NULL), ==, LOCK_FILE_OURS);
}

static void test_held(void) {
        LockFileHolder h = {};

        g_assert_cmpint(parse("other\n1700000000.250000\n42", "p", &h), ==, LOCK_FILE_HELD);
        g_assert_cmpfloat(h.time, ==, 1700000000.25);
        g_assert_cmpint(h.pid, ==, 42);

        /* Whitespace around the numbers is Python's float() and int()'s business, and so are signs. */
        g_assert_cmpint(parse("other\n \t12.5 \n +7 \n", "p", &h), ==, LOCK_FILE_HELD);
        g_assert_cmpfloat(h.time, ==, 12.5);
        g_assert_cmpint(h.pid, ==, 7);
        g_assert_cmpint(parse("other\n1e3\n-1", "p", &h), ==, LOCK_FILE_HELD);
        g_assert_cmpfloat(h.time, ==, 1000.0);
        g_assert_cmpint(h.pid, ==, -1);
        g_assert_cmpint(parse("other\r\n3\r\n0\r\n", "p", &h), ==, LOCK_FILE_HELD);
        g_assert_cmpint(h.pid, ==, 0);
}

static void test_unreadable(void) {
        static const char nul_time[] = "other\n1.\0" "5\n42";
        LockFileHolder h = { .time = 9, .pid = 9 };

        /* The seed fails rather than guess; the holder is left alone. */
        g_assert_cmpint(parse("other\nsoon\n42", "p", &h), ==, LOCK_FILE_BAD_TIME);
        g_assert_cmpint(parse("other\n\n42", "p", &h), ==, LOCK_FILE_BAD_TIME);
        g_assert_cmpint(parse("other\n1.0\n4.2", "p", &h), ==, LOCK_FILE_BAD_PID);
        g_assert_cmpint(parse("other\n1.0\npid", "p", &h), ==, LOCK_FILE_BAD_PID);
        g_assert_cmpint(parse("other\n1.0\n-", "p", &h), ==, LOCK_FILE_BAD_PID);
        g_assert_cmpint(parse("other\n1.0\n99999999999999999999", "p", &h), ==, LOCK_FILE_BAD_PID);
        g_assert_cmpint(lock_file_parse(nul_time, sizeof(nul_time) - 1, "p", &h), ==, LOCK_FILE_BAD_TIME);
        g_assert_cmpfloat(h.time, ==, 9);
        g_assert_cmpint(h.pid, ==, 9);
}

static void test_first_line(void) {
        /* Release's rule: the first line without its end, however many lines follow. */
        g_assert_true(lock_file_first_line_is("p", 1, "p"));
        g_assert_true(lock_file_first_line_is("p\n", 2, "p"));
        g_assert_true(lock_file_first_line_is("p\nanything\nat\nall", 17, "p"));
        g_assert_false(lock_file_first_line_is("px\n", 3, "p"));
        g_assert_false(lock_file_first_line_is("x\np", 3, "p"));
        g_assert_false(lock_file_first_line_is("", 0, "p"));
}

static void test_stale(void) {
        LockFileHolder h = { .time = 100.0, .pid = 1 };

        g_assert_false(lock_file_is_stale(&h, 150 * G_USEC_PER_SEC, 60 * G_USEC_PER_SEC));
        g_assert_false(lock_file_is_stale(&h, 160 * G_USEC_PER_SEC, 60 * G_USEC_PER_SEC));
        g_assert_true(lock_file_is_stale(&h, 160 * G_USEC_PER_SEC + 1, 60 * G_USEC_PER_SEC));
        g_assert_true(lock_file_is_stale(&h, 100 * G_USEC_PER_SEC + 1, 0));
        g_assert_false(lock_file_is_stale(&h, UINT64_MAX, UINT64_MAX));
}

static void test_format(void) {
        g_autofree char *text = lock_file_format("pass", UINT64_C(1700000000250000), 4242);
        g_autofree char *zero = lock_file_format("", 7, 1);
        LockFileHolder h = {};

        g_assert_cmpstr(text, ==, "pass\n1700000000.250000\n4242");
        g_assert_cmpstr(zero, ==, "\n0.000007\n1");

        /* What we write reads back: ours for our pass, held for another. */
        g_assert_cmpint(parse(text, "pass", NULL), ==, LOCK_FILE_OURS);
        g_assert_cmpint(parse(text, "other", &h), ==, LOCK_FILE_HELD);
        g_assert_cmpfloat(h.time, ==, 1700000000.25);
        g_assert_cmpint(h.pid, ==, 4242);
        g_assert_true(lock_file_first_line_is(text, strlen(text), "pass"));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/filelock/format/free", test_free);
        g_test_add_func("/filelock/format/ours", test_ours);
        g_test_add_func("/filelock/format/held", test_held);
        g_test_add_func("/filelock/format/unreadable", test_unreadable);
        g_test_add_func("/filelock/format/first-line", test_first_line);
        g_test_add_func("/filelock/format/stale", test_stale);
        g_test_add_func("/filelock/format/write", test_format);
        return g_test_run();
}
