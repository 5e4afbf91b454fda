/* Options dictionaries (a{sv}) read and written from one table per call, as systemd's
 * bus_map_all_properties() does: a new option is one row on each side, never another if-chain. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

typedef enum BusOptionKind {
        BUS_OPTION_BOOL,        /* 'b' into a bool */
        BUS_OPTION_FLAG,        /* 'b' into the bit .flag of a uint64_t */
        BUS_OPTION_UINT64,      /* 't' into a uint64_t */
        BUS_OPTION_UINT32,      /* 'u' into a uint32_t */
        BUS_OPTION_STRING,      /* 's' into a const char *, borrowed from the message (valid while it is);
                                 * appended when not NULL */
} BusOptionKind;

typedef enum BusOptionsFlags {
        BUS_OPTIONS_SKIP_UNKNOWN = 1 << 0,      /* keys not in the table are skipped, not refused (a
                                                 * properties dictionary, which may grow) */
} BusOptionsFlags;

typedef struct BusOption {
        const char *key;
        BusOptionKind kind;
        size_t offset;
        uint64_t flag;          /* BUS_OPTION_FLAG: the bit */
        bool invert;            /* the field holds the negation of the boolean on the wire */
} BusOption;

/* Reads an a{sv} into target, row by row; keys not in the table and values of the wrong type are
 * InvalidArgs naming what is expected. Fields of absent keys keep their values (the defaults). */
int bus_options_read(sd_bus_message *m, const BusOption *table, size_t n_rows, void *target,
                     sd_bus_error *error);
/* The same, with BUS_OPTIONS_* flags. */
int bus_options_read_full(sd_bus_message *m, const BusOption *table, size_t n_rows, BusOptionsFlags flags,
                          void *target, sd_bus_error *error);

/* Appends an a{sv} with the rows whose field is set (true, the bit set, nonzero, not NULL): what is not
 * sent is the default on the other side. */
int bus_options_append(sd_bus_message *m, const BusOption *table, size_t n_rows, const void *source);
