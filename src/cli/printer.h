/* One way for the verbs to print what they show: declared columns, then cells row by row, printed as
 * text (aligned columns, "Key: value" lines, or plain lines) or as JSON with the columns' keys. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "verbs.h"

typedef enum CellType {
        CELL_STRING,
        CELL_UINT,
        CELL_BOOL,
        CELL_STRV,              /* text: the strings joined by spaces; JSON: an array */
        CELL_TIME_OF_DAY,       /* CLOCK_REALTIME µs; text: local "HH:MM:SS" ("-" for 0); JSON: the number */
        CELL_TIME_SPAN,         /* µs; text: "1min 30s", "infinity"; JSON: the number */
} CellType;

typedef struct PrinterColumn {
        const char *header;     /* text: the column's header, or the record's key; NULL: in JSON only */
        const char *key;        /* the JSON member; NULL: in text only */
        CellType type;
        const char *if_empty;   /* text of an empty CELL_STRING (default: empty) */
        const char *if_true;    /* text of a CELL_BOOL (default: "yes" and "no") */
        const char *if_false;
} PrinterColumn;

typedef enum PrinterStyle {
        PRINTER_TABLE,          /* text: a header line (the legend), then a line a row, columns aligned;
                                 * JSON: an array of objects */
        PRINTER_RECORD,         /* one row; text: a "Header: value" line a column, headers aligned right;
                                 * JSON: an object */
        PRINTER_LINES,          /* each row printed as soon as it is complete; text: its cells separated by
                                 * spaces; JSON: an object (on one line when short) */
} PrinterStyle;

typedef struct Printer Printer;

/* json: CLI_JSON_OFF for text, else CLI_JSON_PRETTY (indented) or CLI_JSON_SHORT (no whitespace, one
 * line); see cli_json_mode(). legend: a table's header line. */
Printer *printer_new(PrinterStyle style, const PrinterColumn *columns, size_t n_columns, CliJson json,
                     bool legend);
Printer *printer_free(Printer *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Printer, printer_free)

/* A row's cells, in column order; the last column's completes the row. Each takes what its column's
 * type needs: string (CELL_STRING), uint (CELL_UINT, CELL_TIME_OF_DAY, CELL_TIME_SPAN), bool, strv. */
void printer_add_string(Printer *p, const char *value);
/* A string shown as text in text output and as value in JSON (a message escaped, a nicer word). */
void printer_add_string_text(Printer *p, const char *value, const char *text);
void printer_add_uint(Printer *p, uint64_t value);
void printer_add_bool(Printer *p, bool value);
void printer_add_strv(Printer *p, const char *const *value);

/* Prints what is collected (tables, records; lines are printed as they come) and flushes stdout.
 * Returns 0, or a negative errno when writing failed, now or for an earlier line. */
int printer_flush(Printer *p);
