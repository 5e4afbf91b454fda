/* The verbs' printer: rows of typed cells to aligned text or to JSON (json-glib). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "macro.h"
#include "printer.h"
#include "time-util.h"
#include "verbs.h"

struct Printer {
        PrinterStyle style;
        const PrinterColumn *columns;
        size_t n_columns;
        CliJson json;
        bool legend;

        size_t column;          /* the next cell's */
        JsonObject *object;     /* the row being filled (JSON) */
        GPtrArray *text_row;    /* the row being filled (text): char*, one a text column */

        JsonArray *objects;     /* complete rows (JSON tables and records) */
        GPtrArray *text_rows;   /* complete rows (text tables and records): GPtrArray* */
        int error;              /* the first failure to write */
};

Printer *printer_new(PrinterStyle style, const PrinterColumn *columns, size_t n_columns, CliJson json,
                     bool legend) {
        Printer *p = g_new0(Printer, 1);

        g_assert(json != CLI_JSON_DEFAULT);     /* resolved by cli_json_mode() */
        p->style = style;
        p->columns = columns;
        p->n_columns = n_columns;
        p->json = json;
        p->legend = legend;
        p->objects = json_array_new();
        p->text_rows = g_ptr_array_new_with_free_func((GDestroyNotify) g_ptr_array_unref);
        return p;
}

Printer *printer_free(Printer *p) {
        if (!p)
                return NULL;
        g_clear_pointer(&p->object, json_object_unref);
        g_clear_pointer(&p->text_row, g_ptr_array_unref);
        json_array_unref(p->objects);
        g_ptr_array_unref(p->text_rows);
        g_free(p);
        return NULL;
}

static int print_line(Printer *p, const char *line) {
        if (puts(line) < 0 && p->error == 0)
                p->error = -errno ?: -EIO;
        return p->error;
}

static char *json_to_text(Printer *p, JsonNode *node) {
        g_autoptr(JsonGenerator) gen = json_generator_new();

        json_generator_set_root(gen, node);
        /* Short: JSON strings escape every control character, so this is one line. */
        json_generator_set_pretty(gen, p->json == CLI_JSON_PRETTY);
        return json_generator_to_data(gen, NULL);
}

/* A row is complete: printed now (lines) or kept for printer_flush(). */
static void row_end(Printer *p) {
        g_autoptr(JsonObject) object = g_steal_pointer(&p->object);
        g_autoptr(GPtrArray) text_row = g_steal_pointer(&p->text_row);

        p->column = 0;
        if (p->style != PRINTER_LINES) {
                if (p->json)
                        json_array_add_object_element(p->objects, g_steal_pointer(&object));
                else
                        g_ptr_array_add(p->text_rows, g_steal_pointer(&text_row));
                return;
        }

        if (p->json) {
                g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), object);
                g_autofree char *line = json_to_text(p, node);

                (void) print_line(p, line);
        } else {
                g_autofree char *line = NULL;

                g_ptr_array_add(text_row, NULL);
                line = g_strjoinv(" ", (char **) text_row->pdata);
                (void) print_line(p, line);
        }
}

/* The column of the next cell, with the row started if it is its first. */
static const PrinterColumn *cell_begin(Printer *p, CellType type) {
        const PrinterColumn *c;

        g_assert(p->column < p->n_columns);
        c = &p->columns[p->column];
        g_assert(type == c->type ||
                 (type == CELL_UINT && (c->type == CELL_TIME_OF_DAY || c->type == CELL_TIME_SPAN)));
        if (p->column == 0) {
                p->object = json_object_new();
                p->text_row = g_ptr_array_new_with_free_func(g_free);
        }
        return c;
}

/* Hands over text (to the row, or freed when the column is not in text) and ends the row after its
 * last cell. The JSON member, if any, is already set. */
static void cell_end(Printer *p, const PrinterColumn *c, char *text) {
        if (c->header)
                g_ptr_array_add(p->text_row, text);
        else
                g_free(text);
        if (++p->column == p->n_columns)
                row_end(p);
}

void printer_add_string_text(Printer *p, const char *value, const char *text) {
        const PrinterColumn *c = cell_begin(p, CELL_STRING);

        if (c->key)
                json_object_set_string_member(p->object, c->key, value ?: "");
        cell_end(p, c, g_strdup(text && text[0] ? text : c->if_empty ?: ""));
}

void printer_add_string(Printer *p, const char *value) {
        printer_add_string_text(p, value, value);
}

void printer_add_uint(Printer *p, uint64_t value) {
        const PrinterColumn *c = cell_begin(p, CELL_UINT);
        char buf[MAX(FORMAT_TIME_SPAN_MAX, 16)];

        if (c->key)
                json_object_set_int_member(p->object, c->key, (gint64) value);
        if (c->type == CELL_TIME_OF_DAY)
                cell_end(p, c, g_strdup(cli_format_time_of_day(buf, value)));
        else if (c->type == CELL_TIME_SPAN)
                cell_end(p, c, g_strdup(format_time_span(buf, sizeof(buf), value)));
        else
                cell_end(p, c, g_strdup_printf("%" PRIu64, value));
}

void printer_add_bool(Printer *p, bool value) {
        const PrinterColumn *c = cell_begin(p, CELL_BOOL);

        if (c->key)
                json_object_set_boolean_member(p->object, c->key, value);
        cell_end(p, c, g_strdup(value ? c->if_true ?: "yes" : c->if_false ?: "no"));
}

void printer_add_strv(Printer *p, const char *const *value) {
        const PrinterColumn *c = cell_begin(p, CELL_STRV);

        if (c->key) {
                JsonArray *array = json_array_new();

                for (const char *const *s = value; s && *s; s++)
                        json_array_add_string_element(array, *s);
                json_object_set_array_member(p->object, c->key, array);
        }
        cell_end(p, c, g_strjoinv(" ", (char **) (value ?: (const char *const[]) { NULL })));
}

/* The text columns: aligned under a header line. */
static void print_table(Printer *p) {
        g_autofree size_t *width = g_new0(size_t, p->n_columns);
        g_autoptr(GPtrArray) header = g_ptr_array_new();
        size_t n = 0;

        for (size_t i = 0; i < p->n_columns; i++)
                if (p->columns[i].header)
                        g_ptr_array_add(header, (char *) p->columns[i].header);
        n = header->len;
        if (p->legend)
                g_ptr_array_insert(p->text_rows, 0, g_ptr_array_ref(header));

        for (guint i = 0; i < p->text_rows->len; i++) {
                GPtrArray *row = p->text_rows->pdata[i];

                for (size_t c = 0; c < n; c++)
                        width[c] = MAX(width[c], (size_t) g_utf8_strlen(row->pdata[c], -1));
        }
        for (guint i = 0; i < p->text_rows->len; i++) {
                GPtrArray *row = p->text_rows->pdata[i];
                g_autoptr(GString) line = g_string_new(NULL);

                for (size_t c = 0; c < n; c++) {
                        const char *cell = row->pdata[c];

                        g_string_append(line, cell);
                        if (c + 1 < n)
                                g_string_append_printf(line, "%*s  ",
                                                       (int) (width[c] - (size_t) g_utf8_strlen(cell, -1)), "");
                }
                if (print_line(p, line->str) < 0)
                        return;
        }
}

/* One row as "Header: value" lines, the headers aligned right. */
static void print_record(Printer *p) {
        GPtrArray *row;
        size_t width = 0, t = 0;

        if (p->text_rows->len == 0)
                return;
        row = p->text_rows->pdata[0];
        for (size_t i = 0; i < p->n_columns; i++)
                if (p->columns[i].header)
                        width = MAX(width, strlen(p->columns[i].header));
        for (size_t i = 0; i < p->n_columns; i++) {
                g_autofree char *line = NULL;

                if (!p->columns[i].header)
                        continue;
                line = g_strdup_printf("%*s: %s", (int) width, p->columns[i].header, (char *) row->pdata[t++]);
                if (print_line(p, line) < 0)
                        return;
        }
}

int printer_flush(Printer *p) {
        g_assert(p->column == 0);       /* no row left half done */

        if (p->style == PRINTER_TABLE && p->json) {
                g_autoptr(JsonNode) node = json_node_init_array(json_node_alloc(), p->objects);
                g_autofree char *text = json_to_text(p, node);

                (void) print_line(p, text);
        } else if (p->style == PRINTER_RECORD && p->json) {
                g_autoptr(JsonNode) node = NULL;
                g_autofree char *text = NULL;

                if (json_array_get_length(p->objects) > 0) {
                        node = json_node_init_object(json_node_alloc(), json_array_get_object_element(p->objects, 0));
                        text = json_to_text(p, node);
                        (void) print_line(p, text);
                }
        } else if (p->style == PRINTER_TABLE)
                print_table(p);
        else if (p->style == PRINTER_RECORD)
                print_record(p);

        /* Printed: what a second flush would print again is gone. */
        if (p->style != PRINTER_LINES) {
                g_clear_pointer(&p->objects, json_array_unref);
                p->objects = json_array_new();
                g_ptr_array_set_size(p->text_rows, 0);
        }

        if (fflush(stdout) != 0 && p->error == 0)
                p->error = -errno ?: -EIO;
        return p->error;
}
