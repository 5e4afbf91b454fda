/* Unit tests of the time span and integer parsers. */
#undef G_DISABLE_ASSERT
#include <errno.h>

#include <glib.h>

#include "time-util.h"

static void test_parse_time_span(void) {
        static const struct {
                const char *text;
                int result;
                uint64_t usec;
        } cases[] = {
                { "20", 0, 20000000 },
                { "20s", 0, 20000000 },
                { "1.5", 0, 1500000 },
                { "250ms", 0, 250000 },
                { "7us", 0, 7 },
                { "2min", 0, 120000000 },
                { "1h", 0, 3600000000 },
                { "0", 0, 0 },
                { "0.000001", 0, 1 },
                { "infinity", 0, UINT64_MAX },
                { "", -EINVAL, 0 },
                { "s", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 s", -EINVAL, 0 },
                { "1.", -EINVAL, 0 },
                { "1x", -EINVAL, 0 },
                { "99999999999999999999", -ERANGE, 0 },
                { "999999999999999d", -ERANGE, 0 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                uint64_t usec = 12345;
                int r = parse_time_span(cases[i].text, &usec);

                g_test_message("parsing '%s'", cases[i].text);
                g_assert_cmpint(r, ==, cases[i].result);
                g_assert_cmpuint(usec, ==, r == 0 ? cases[i].usec : 12345);
        }
}

static void test_parse_uint(void) {
        uint64_t v = 7;

        g_assert_cmpint(parse_uint("42", 100, &v), ==, 0);
        g_assert_cmpuint(v, ==, 42);
        g_assert_cmpint(parse_uint("101", 100, &v), ==, -ERANGE);
        g_assert_cmpint(parse_uint("-1", 100, &v), ==, -EINVAL);
        g_assert_cmpint(parse_uint("+1", 100, &v), ==, -EINVAL);
        g_assert_cmpint(parse_uint("1a", 100, &v), ==, -EINVAL);
        g_assert_cmpint(parse_uint("", 100, &v), ==, -EINVAL);
        g_assert_cmpuint(v, ==, 42);
}

static void test_format_time_span(void) {
        char buf[FORMAT_TIME_SPAN_MAX];

        g_assert_cmpstr(format_time_span(buf, sizeof(buf), 20000000), ==, "20s");
        g_assert_cmpstr(format_time_span(buf, sizeof(buf), 1500), ==, "1500us");
        g_assert_cmpstr(format_time_span(buf, sizeof(buf), 250000), ==, "250ms");
        g_assert_cmpstr(format_time_span(buf, sizeof(buf), UINT64_MAX), ==, "infinity");
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/time-util/parse-time-span", test_parse_time_span);
        g_test_add_func("/time-util/parse-uint", test_parse_uint);
        g_test_add_func("/time-util/format-time-span", test_format_time_span);
        return g_test_run();
}
