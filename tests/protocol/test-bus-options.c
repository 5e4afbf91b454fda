/* The table-driven a{sv} reader and writer both ends use: every kind of row each way, what is left
 * out of a dictionary, the refusals and their texts, and skipping unknown keys. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <systemd/sd-bus.h>

#include "bus-options.h"
#include "sd-cleanup.h"

#define FLAG_A (UINT64_C(1) << 0)
#define FLAG_NOT_B (UINT64_C(1) << 40)

typedef struct Options {
        bool on;
        uint64_t flags;
        uint64_t big;
        uint32_t small;
        const char *name;
} Options;

static const BusOption table[] = {
        { "on",    BUS_OPTION_BOOL,   offsetof(Options, on) },
        { "a",     BUS_OPTION_FLAG,   offsetof(Options, flags), FLAG_A },
        { "b",     BUS_OPTION_FLAG,   offsetof(Options, flags), FLAG_NOT_B, .invert = true },
        { "big",   BUS_OPTION_UINT64, offsetof(Options, big) },
        { "small", BUS_OPTION_UINT32, offsetof(Options, small) },
        { "name",  BUS_OPTION_STRING, offsetof(Options, name) },
};

typedef struct Fixture {
        sd_bus *bus;            /* only to make messages with: never connected to anyone */
        int peer;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        int fds[2];

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
        g_assert_cmpint(sd_bus_new(&f->bus), >=, 0);
        g_assert_cmpint(sd_bus_set_fd(f->bus, fds[0], fds[0]), >=, 0);
        g_assert_cmpint(sd_bus_start(f->bus), >=, 0);
        f->peer = fds[1];
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        sd_bus_close_unref(f->bus);
        (void) close(f->peer);
}

static sd_bus_message *message_new(Fixture *f) {
        sd_bus_message *m = NULL;

        g_assert_cmpint(sd_bus_message_new_method_call(f->bus, &m, "org.example", "/", "org.example", "Call"), >=, 0);
        return m;
}

/* Seals m, so it can be read from the start. */
static void message_seal(sd_bus_message *m) {
        static uint64_t cookie;

        g_assert_cmpint(sd_bus_message_seal(m, ++cookie, 0), >=, 0);
        g_assert_cmpint(sd_bus_message_rewind(m, true), >=, 0);
}

/* The dictionary's keys, in order, "k,k,..." */
static char *dictionary_keys(sd_bus_message *m) {
        g_autoptr(GString) keys = g_string_new(NULL);
        const char *key;

        g_assert_cmpint(sd_bus_message_enter_container(m, 'a', "{sv}"), >=, 0);
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                g_assert_cmpint(sd_bus_message_read(m, "s", &key), >=, 0);
                g_string_append_printf(keys, "%s%s", keys->len ? "," : "", key);
                g_assert_cmpint(sd_bus_message_skip(m, "v"), >=, 0);
                g_assert_cmpint(sd_bus_message_exit_container(m), >=, 0);
        }
        g_assert_cmpint(sd_bus_message_exit_container(m), >=, 0);
        return g_string_free(g_steal_pointer(&keys), FALSE);
}

static void test_round_trip(Fixture *f, gconstpointer data) {
        g_autoptr(sd_bus_message) m = message_new(f);
        g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
        Options in = {
                .on = true,
                .flags = FLAG_A | FLAG_NOT_B,
                .big = UINT64_MAX,
                .small = 7,
                .name = "x",
        };
        Options out = {};
        g_autofree char *keys = NULL;

        g_assert_cmpint(bus_options_append(m, table, G_N_ELEMENTS(table), &in), >=, 0);
        message_seal(m);
        keys = dictionary_keys(m);
        g_assert_cmpstr(keys, ==, "on,a,b,big,small,name");

        g_assert_cmpint(sd_bus_message_rewind(m, true), >=, 0);
        g_assert_cmpint(bus_options_read(m, table, G_N_ELEMENTS(table), &out, &error), >=, 0);
        g_assert_false(sd_bus_error_is_set(&error));
        g_assert_true(out.on);
        g_assert_cmpuint(out.flags, ==, FLAG_A | FLAG_NOT_B);
        g_assert_cmpuint(out.big, ==, UINT64_MAX);
        g_assert_cmpuint(out.small, ==, 7);
        g_assert_cmpstr(out.name, ==, "x");
}

static void test_defaults_not_sent(Fixture *f, gconstpointer data) {
        g_autoptr(sd_bus_message) m = message_new(f);
        g_autoptr(sd_bus_message) m2 = message_new(f);
        g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
        Options zero = {}, out = { .on = true, .flags = FLAG_A, .big = 1, .small = 2, .name = "kept" };
        Options inverted = { .flags = FLAG_NOT_B };
        g_autofree char *keys = NULL;
        const char *key;
        int b;

        /* Nothing set: an empty dictionary, and reading it changes nothing. */
        g_assert_cmpint(bus_options_append(m, table, G_N_ELEMENTS(table), &zero), >=, 0);
        message_seal(m);
        keys = dictionary_keys(m);
        g_assert_cmpstr(keys, ==, "");
        g_assert_cmpint(sd_bus_message_rewind(m, true), >=, 0);
        g_assert_cmpint(bus_options_read(m, table, G_N_ELEMENTS(table), &out, &error), >=, 0);
        g_assert_true(out.on);
        g_assert_cmpuint(out.flags, ==, FLAG_A);
        g_assert_cmpuint(out.big, ==, 1);
        g_assert_cmpuint(out.small, ==, 2);
        g_assert_cmpstr(out.name, ==, "kept");

        /* An inverted flag goes out as false. */
        g_assert_cmpint(bus_options_append(m2, table, G_N_ELEMENTS(table), &inverted), >=, 0);
        message_seal(m2);
        g_assert_cmpint(sd_bus_message_enter_container(m2, 'a', "{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(m2, 'e', "sv"), >, 0);
        g_assert_cmpint(sd_bus_message_read(m2, "s", &key), >=, 0);
        g_assert_cmpstr(key, ==, "b");
        g_assert_cmpint(sd_bus_message_read(m2, "v", "b", &b), >=, 0);
        g_assert_false(b);
}

/* A dictionary of one entry: key, then the variant's type and value as sd_bus_message_append() takes them. */
static sd_bus_message *dictionary_new(Fixture *f, const char *key, ...) {
        sd_bus_message *m = message_new(f);
        va_list ap;

        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'e', "sv"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "s", key), >=, 0);
        va_start(ap, key);
        g_assert_cmpint(sd_bus_message_appendv(m, "v", ap), >=, 0);
        va_end(ap);
        g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
        message_seal(m);
        return m;
}

static void test_refusals(Fixture *f, gconstpointer data) {
        g_autoptr(sd_bus_message) unknown = dictionary_new(f, "color", "s", "red");
        g_autoptr(sd_bus_message) wrong = dictionary_new(f, "small", "t", UINT64_C(1));
        g_auto(sd_bus_error) e1 = SD_BUS_ERROR_NULL, e2 = SD_BUS_ERROR_NULL;
        Options out = {};

        g_assert_cmpint(bus_options_read(unknown, table, G_N_ELEMENTS(table), &out, &e1), ==, -EINVAL);
        g_assert_cmpstr(e1.name, ==, SD_BUS_ERROR_INVALID_ARGS);
        g_assert_cmpstr(e1.message, ==, "Unknown option 'color': expected on, a, b, big, small or name.");

        g_assert_cmpint(bus_options_read(wrong, table, G_N_ELEMENTS(table), &out, &e2), ==, -EINVAL);
        g_assert_cmpstr(e2.name, ==, SD_BUS_ERROR_INVALID_ARGS);
        g_assert_cmpstr(e2.message, ==, "Option 'small' must be of type 'u'.");
}

static void test_skip_unknown(Fixture *f, gconstpointer data) {
        g_autoptr(sd_bus_message) m = message_new(f);
        g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
        Options out = {};

        g_assert_cmpint(sd_bus_message_append(m, "a{sv}", 3, "color", "s", "red", "small", "u", UINT32_C(3),
                                              "shape", "as", 1, "round"), >=, 0);
        message_seal(m);
        g_assert_cmpint(bus_options_read_full(m, table, G_N_ELEMENTS(table), BUS_OPTIONS_SKIP_UNKNOWN, &out,
                                              &error), >=, 0);
        g_assert_false(sd_bus_error_is_set(&error));
        g_assert_cmpuint(out.small, ==, 3);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
        ADD("/protocol/bus-options/round-trip", test_round_trip);
        ADD("/protocol/bus-options/defaults-not-sent", test_defaults_not_sent);
        ADD("/protocol/bus-options/refusals", test_refusals);
        ADD("/protocol/bus-options/skip-unknown", test_skip_unknown);
        return g_test_run();
}
