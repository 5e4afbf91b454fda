/* Options dictionaries (a{sv}) read and written from one table per call. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "bus-options.h"

static char option_signature(BusOptionKind kind) {
        switch (kind) {
        case BUS_OPTION_UINT64:
                return 't';
        case BUS_OPTION_UINT32:
                return 'u';
        case BUS_OPTION_STRING:
                return 's';
        case BUS_OPTION_BOOL:
        case BUS_OPTION_FLAG:
                break;
        }
        return 'b';
}

static void *field(void *base, const BusOption *row) {
        return (uint8_t *) base + row->offset;
}

static const BusOption *find_row(const BusOption *table, size_t n_rows, const char *key) {
        for (size_t i = 0; i < n_rows; i++)
                if (strcmp(table[i].key, key) == 0)
                        return &table[i];
        return NULL;
}

static int unknown_key_error(const BusOption *table, size_t n_rows, const char *key, sd_bus_error *error) {
        g_autoptr(GString) expected = g_string_new(NULL);

        for (size_t i = 0; i < n_rows; i++)
                g_string_append_printf(expected, "%s%s", i == 0 ? "" : i + 1 == n_rows ? " or " : ", ",
                                       table[i].key);
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown option '%.64s': expected %s.", key,
                                 expected->str);
}

static int read_value(sd_bus_message *m, const BusOption *row, void *target) {
        const char *s;
        uint64_t u64;
        uint32_t u32;
        int b, r;

        switch (row->kind) {
        case BUS_OPTION_UINT64:
                r = sd_bus_message_read(m, "v", "t", &u64);
                if (r >= 0)
                        *(uint64_t *) field(target, row) = u64;
                return r;
        case BUS_OPTION_UINT32:
                r = sd_bus_message_read(m, "v", "u", &u32);
                if (r >= 0)
                        *(uint32_t *) field(target, row) = u32;
                return r;
        case BUS_OPTION_STRING:
                r = sd_bus_message_read(m, "v", "s", &s);
                if (r >= 0)
                        *(const char **) field(target, row) = s;
                return r;
        case BUS_OPTION_BOOL:
        case BUS_OPTION_FLAG:
                break;
        }

        r = sd_bus_message_read(m, "v", "b", &b);
        if (r < 0)
                return r;
        b = !!b ^ row->invert;
        if (row->kind == BUS_OPTION_BOOL)
                *(bool *) field(target, row) = b;
        else if (b)
                *(uint64_t *) field(target, row) |= row->flag;
        else
                *(uint64_t *) field(target, row) &= ~row->flag;
        return 0;
}

int bus_options_read(sd_bus_message *m, const BusOption *table, size_t n_rows, void *target,
                     sd_bus_error *error) {
        return bus_options_read_full(m, table, n_rows, 0, target, error);
}

int bus_options_read_full(sd_bus_message *m, const BusOption *table, size_t n_rows, BusOptionsFlags flags,
                          void *target, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;

        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const BusOption *row;
                const char *key;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                row = find_row(table, n_rows, key);
                if (!row && (flags & BUS_OPTIONS_SKIP_UNKNOWN))
                        r = sd_bus_message_skip(m, "v");
                else if (!row)
                        return unknown_key_error(table, n_rows, key, error);
                else
                        r = read_value(m, row, target);
                if (r == -ENXIO && row)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option '%s' must be of type '%c'.",
                                                 key, option_signature(row->kind));
                if (r < 0)
                        return r;

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        return sd_bus_message_exit_container(m);
}

int bus_options_append(sd_bus_message *m, const BusOption *table, size_t n_rows, const void *source) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;

        for (size_t i = 0; i < n_rows; i++) {
                const BusOption *row = &table[i];
                const void *p = (const uint8_t *) source + row->offset;

                switch (row->kind) {
                case BUS_OPTION_UINT64:
                        if (*(const uint64_t *) p == 0)
                                continue;
                        r = sd_bus_message_append(m, "{sv}", row->key, "t", *(const uint64_t *) p);
                        break;
                case BUS_OPTION_BOOL:
                        if (!*(const bool *) p)
                                continue;
                        r = sd_bus_message_append(m, "{sv}", row->key, "b", (int) !row->invert);
                        break;
                case BUS_OPTION_FLAG:
                        if (!(*(const uint64_t *) p & row->flag))
                                continue;
                        r = sd_bus_message_append(m, "{sv}", row->key, "b", (int) !row->invert);
                        break;
                case BUS_OPTION_UINT32:
                        if (*(const uint32_t *) p == 0)
                                continue;
                        r = sd_bus_message_append(m, "{sv}", row->key, "u", *(const uint32_t *) p);
                        break;
                case BUS_OPTION_STRING:
                        if (!*(const char *const *) p)
                                continue;
                        r = sd_bus_message_append(m, "{sv}", row->key, "s", *(const char *const *) p);
                        break;
                }
                if (r < 0)
                        return r;
        }

        return sd_bus_message_close_container(m);
}
