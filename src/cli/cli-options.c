/* The verbs' option tables: getopt_long over them with pylockctl's own messages, and --help from them. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "macro.h"
#include "verbs.h"

/* The column where --help's option texts start. */
#define HELP_COLUMN 22

void cli_parser_init(CliParser *p, const CliVerb *verb, int argc, char *argv[], bool stop_at_positional) {
        /* ":" first: a missing argument is told apart from an unknown option. */
        GString *shorts = g_string_new(stop_at_positional ? "+:" : ":");

        *p = (CliParser) {
                .verb = verb,
                .argc = argc,
                .argv = argv,
                .long_options = g_new0(struct option, verb->n_options + 1),
        };
        for (size_t i = 0; i < verb->n_options; i++) {
                const CliOption *o = &verb->options[i];

                p->long_options[i] = (struct option) {
                        .name = o->name,
                        .has_arg = o->arg == CLI_ARG_NONE ? no_argument :
                                   o->optional ? optional_argument : required_argument,
                        .val = o->id,
                };
                if (o->short_name) {
                        /* getopt returns the letter itself: that is the option's id. */
                        g_assert(o->id == o->short_name);
                        g_string_append_c(shorts, o->short_name);
                        if (o->arg != CLI_ARG_NONE)
                                g_string_append(shorts, o->optional ? "::" : ":");
                }
        }
        p->short_options = g_string_free(shorts, FALSE);

        /* Each parse starts afresh (glibc: 0 also resets its internal state); getopt's own messages
         * would say "run: ..." or "/usr/bin/pylockctl: ...", so ours are printed instead. */
        optind = 0;
        opterr = 0;
}

void cli_parser_done(CliParser *p) {
        g_clear_pointer(&p->long_options, g_free);
        g_clear_pointer(&p->short_options, g_free);
}

static const CliOption *find_option(const CliVerb *verb, int id) {
        for (size_t i = 0; i < verb->n_options; i++)
                if (verb->options[i].id == id)
                        return &verb->options[i];
        return NULL;
}

static int usage_error(CliParser *p, const char *format, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(CliParser *p, const char *format, ...) {
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, format);
        text = g_strdup_vprintf(format, ap);
        va_end(ap);
        (void) cli_error(0, "%s See 'pylockctl%s%s --help'.", text, p->verb->name ? " " : "",
                         p->verb->name ?: "");
        p->exit_status = EXIT_USAGE;
        return CLI_PARSE_EXIT;
}

static int parse_json_mode(const char *value, CliJson *ret) {
        if (!value)
                *ret = CLI_JSON_DEFAULT;
        else if (strcmp(value, "pretty") == 0)
                *ret = CLI_JSON_PRETTY;
        else if (strcmp(value, "short") == 0)
                *ret = CLI_JSON_SHORT;
        else if (strcmp(value, "off") == 0)
                *ret = CLI_JSON_OFF;
        else
                return -EINVAL;
        return 0;
}

int cli_parser_next(CliParser *p) {
        for (;;) {
                const CliOption *o;
                int c;

                c = getopt_long(p->argc, p->argv, p->short_options, p->long_options, NULL);
                switch (c) {
                case -1:
                        return CLI_PARSE_END;

                case ':':
                        /* optopt: the option's id, which is also the letter of a short one. */
                        o = find_option(p->verb, optopt);
                        if (o && (optopt != o->short_name || strncmp(p->argv[optind - 1], "--", 2) == 0))
                                return usage_error(p, "Option '--%s' needs an argument.", o->name);
                        return usage_error(p, "Option '-%c' needs an argument.", optopt);

                case '?':
                        if (optopt == 0)
                                /* An unknown long option, or an abbreviation of more than one. */
                                return usage_error(p, "Unknown option '%s'.", p->argv[optind - 1]);
                        o = find_option(p->verb, optopt);
                        if (o && o->arg == CLI_ARG_NONE && strncmp(p->argv[optind - 1], "--", 2) == 0)
                                return usage_error(p, "Option '--%s' takes no argument.", o->name);
                        return usage_error(p, "Unknown option '-%c'.", optopt);

                case CLI_OPT_HELP:
                        cli_verb_help(p->verb);
                        p->exit_status = EXIT_SUCCESS;
                        return CLI_PARSE_EXIT;

                case CLI_OPT_JSON:
                        if (parse_json_mode(optarg, &cli_globals.json) < 0)
                                return usage_error(p, "Invalid --json mode '%s': use pretty, short or off.", optarg);
                        break;

                case CLI_OPT_NO_LEGEND:
                        cli_globals.no_legend = true;
                        break;

                default:
                        return c;
                }
        }
}

CliJson cli_json_mode(bool streams) {
        if (cli_globals.json == CLI_JSON_DEFAULT)
                return streams ? CLI_JSON_SHORT : CLI_JSON_PRETTY;
        return cli_globals.json;
}

static void print_options(const CliOption *options, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const CliOption *o = &options[i];
                g_autoptr(GString) left = g_string_new(NULL);
                g_auto(GStrv) lines = g_strsplit(o->help, "\n", -1);

                if (o->short_name)
                        g_string_append_printf(left, "  -%c --%s", o->short_name, o->name);
                else
                        g_string_append_printf(left, "     --%s", o->name);
                if (o->arg != CLI_ARG_NONE && o->optional)
                        g_string_append_printf(left, "[=%s]", o->metavar ?: "ARG");
                else if (o->arg != CLI_ARG_NONE)
                        g_string_append_printf(left, " %s", o->metavar ?: "ARG");

                if (left->len + 2 > HELP_COLUMN)
                        (void) printf("%s\n%*s", left->str, HELP_COLUMN, "");
                else
                        (void) printf("%-*s", HELP_COLUMN, left->str);
                for (size_t l = 0; lines[l]; l++) {
                        if (l > 0)
                                (void) printf("%*s", HELP_COLUMN, "");
                        (void) printf("%s\n", lines[l]);
                }
        }
}

void cli_verb_help(const CliVerb *verb) {
        if (!verb->name) {
                (void) printf("Usage: pylockctl [OPTIONS] VERB [VERB-ARGS]\n\n%s\n\nOptions:\n", verb->description);
                print_options(verb->options, verb->n_options);
                (void) printf("\nVerbs:\n");
                for (size_t i = 0; i < cli_n_verbs; i++)
                        if (!cli_verbs[i]->hidden)
                                (void) printf("  %-14s  %s\n", cli_verbs[i]->name, cli_verbs[i]->summary);
                (void) printf("\nSee 'pylockctl VERB --help' for a verb's options, and pylockctl(1).\n");
                return;
        }

        (void) printf("Usage: pylockctl %s%s %s\n\n%s\n", verb == &cli_verb_file_lock ? "" : "[GLOBAL-OPTIONS] ",
                      verb->name, verb->synopsis, verb->description);
        if (verb->n_options > 0) {
                (void) printf("\nOptions:\n");
                print_options(verb->options, verb->n_options);
        }
        if (verb->epilogue)
                (void) printf("\n%s\n", verb->epilogue);
}
