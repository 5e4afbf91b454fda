/* pylockctl __complete: what the shell completion asks pylockctl itself, so that it never lags behind
 * the verbs and options, and can offer the lock ids, paths and clients pylockerd knows now. One item a
 * line, "VALUE<TAB>DESCRIPTION". Not in --help: an interface between pylockctl and its completions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include <pylocker/pylocker.h>

#include "macro.h"
#include "verbs.h"

static const char *const arg_kinds[_CLI_ARG_MAX] = {
        [CLI_ARG_NONE] = "none",
        [CLI_ARG_SPAN] = "span",
        [CLI_ARG_NUMBER] = "number",
        [CLI_ARG_TEXT] = "text",
        [CLI_ARG_FILE] = "file",
        [CLI_ARG_ADDRESS] = "address",
        [CLI_ARG_HOST_PORT] = "host-port",
        [CLI_ARG_CLIENT] = "client",
        [CLI_ARG_PID] = "pid",
        [CLI_ARG_JSON_MODE] = "json-mode",
        [CLI_ARG_LOCK_PATH] = "lock-path",
        [CLI_ARG_LOCK_ID] = "lock-id",
};

static const CliOption options[] = {
        CLI_OPTION_HELP,
};

const CliVerb cli_verb_complete = {
        .name = "__complete",
        .run = verb_complete,
        .summary = "What the shell completion asks",
        .synopsis = "verbs | options [VERB] | args VERB | lock-ids | lock-paths | clients",
        .description = "Lists, one a line as VALUE<TAB>DESCRIPTION: the verbs; the options of VERB (or\n"
                       "the global ones) with the kind of their argument; what VERB's arguments are\n"
                       "(and 'command' when CMD follows '--'); or, from pylockerd, the lock ids, the\n"
                       "locked paths, or the client ids and names. For the shell completions.",
        .options = options,
        .n_options = ELEMENTSOF(options),
        .hidden = true,
};

/* Tabs and newlines would break the lines apart. */
static void print_item(const char *value, const char *description) {
        g_autofree char *v = g_strdelimit(g_strdup(value), "\t\n", ' ');
        g_autofree char *d = g_strdelimit(g_strdup(description ?: ""), "\t\n", ' ');

        (void) printf("%s\t%s\n", v, d);
}

static const CliVerb *find_verb(const char *name) {
        for (size_t i = 0; i < cli_n_verbs; i++)
                if (strcmp(cli_verbs[i]->name, name) == 0)
                        return cli_verbs[i];
        return NULL;
}

static int list_options(const CliVerb *verb) {
        for (size_t i = 0; i < verb->n_options; i++) {
                const CliOption *o = &verb->options[i];
                g_autofree char *name = g_strconcat("--", o->name, NULL);
                g_autofree char *first_line = g_strndup(o->help, strcspn(o->help, "\n"));
                g_autofree char *description = g_strdup_printf("%s%s\t%s", arg_kinds[o->arg],
                                                               o->optional ? "?" : "", first_line);

                (void) printf("%s\t%s\n", name, description);
        }
        return EXIT_SUCCESS;
}

static int list_from_daemon(const char *what) {
        g_autoptr(PylockerLocker) locker = NULL;
        PylockerError error = PYLOCKER_ERROR_INIT;

        locker = cli_open_locker(NULL);
        if (!locker)
                return EXIT_FAILURE;

        if (strcmp(what, "clients") == 0) {
                PylockerClientInfo *infos = NULL;
                size_t n = 0;

                if (pylocker_locker_list_clients(locker, &infos, &n, &error) < 0)
                        return cli_error(EXIT_FAILURE, "%s", error.message);
                for (size_t i = 0; i < n; i++) {
                        print_item(infos[i].client_id, infos[i].name);
                        if (infos[i].name[0])
                                print_item(infos[i].name, infos[i].client_id);
                }
                pylocker_client_info_array_free(infos, n);
        } else {
                PylockerLockInfo *infos = NULL;
                g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
                size_t n = 0;

                if (pylocker_locker_list_locks(locker, &infos, &n, &error) < 0)
                        return cli_error(EXIT_FAILURE, "%s", error.message);
                for (size_t i = 0; i < n; i++) {
                        g_autofree char *paths = g_strjoinv(" ", infos[i].paths);

                        if (strcmp(what, "lock-ids") == 0)
                                print_item(infos[i].lock_id, paths);
                        else
                                for (char **p = infos[i].paths; *p; p++)
                                        if (g_hash_table_add(seen, *p))
                                                print_item(*p, infos[i].owner_name[0] ? infos[i].owner_name :
                                                                                        infos[i].owner_id);
                }
                g_hash_table_remove_all(seen);
                pylocker_lock_info_array_free(infos, n);
        }
        return EXIT_SUCCESS;
}

int verb_complete(int argc, char *argv[]) {
        const CliVerb *verb = NULL;
        CliParser p;
        const char *what;
        int c;

        cli_parser_init(&p, &cli_verb_complete, argc, argv, /* stop_at_positional= */ true);
        c = cli_parser_next(&p);
        cli_parser_done(&p);
        if (c == CLI_PARSE_EXIT)
                return p.exit_status;
        if (optind >= argc)
                return cli_error(EXIT_USAGE, "What to list? See 'pylockctl __complete --help'.");
        what = argv[optind];
        if (optind + 1 < argc) {
                verb = find_verb(argv[optind + 1]);
                if (!verb || optind + 2 < argc)
                        return cli_error(EXIT_USAGE, "No verb '%s'.", argv[optind + 1]);
        }

        if (strcmp(what, "verbs") == 0 && !verb) {
                for (size_t i = 0; i < cli_n_verbs; i++)
                        if (!cli_verbs[i]->hidden)
                                print_item(cli_verbs[i]->name, cli_verbs[i]->summary);
                return EXIT_SUCCESS;
        }
        if (strcmp(what, "options") == 0)
                return list_options(verb ?: &cli_globals_verb);
        if (strcmp(what, "args") == 0 && verb) {
                print_item(arg_kinds[verb->positional], verb->synopsis);
                if (verb->command)
                        print_item("command", "after --");
                return EXIT_SUCCESS;
        }
        if ((strcmp(what, "lock-ids") == 0 || strcmp(what, "lock-paths") == 0 || strcmp(what, "clients") == 0) &&
            !verb)
                return list_from_daemon(what);
        return cli_error(EXIT_USAGE, "Cannot list '%s'. See 'pylockctl __complete --help'.", what);
}
