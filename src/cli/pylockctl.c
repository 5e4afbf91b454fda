/* pylockctl: the command line client. Global options, then one verb from the table. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "verbs.h"

typedef struct Verb {
        const char *name;
        int (*run)(int argc, char *argv[]);
        const char *summary;
} Verb;

static const Verb verbs[] = {
        { "file-lock", verb_file_lock, "Hold a pylocker lock file while a command runs" },
};

int cli_error(int exit_code, const char *format, ...) {
        va_list ap;

        (void) fputs("pylockctl: ", stderr);
        va_start(ap, format);
        (void) vfprintf(stderr, format, ap);
        va_end(ap);
        (void) fputc('\n', stderr);
        return exit_code;
}

static void help(FILE *f) {
        (void) fprintf(f,
                       "Usage: pylockctl [OPTIONS] VERB [VERB-ARGS]\n"
                       "\n"
                       "Client of pylocker-dbus.\n"
                       "\n"
                       "Options:\n"
                       "  -h --help       Show this help\n"
                       "     --version    Show the version\n"
                       "\n"
                       "Verbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                (void) fprintf(f, "  %-14s  %s\n", verbs[i].name, verbs[i].summary);
        (void) fprintf(f, "\nSee 'pylockctl VERB --help' for a verb's options.\n");
}

int main(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
        };
        static const struct option options[] = {
                { "help",    no_argument, NULL, 'h'         },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c;

        /* "+": stop at the verb, whose options are its own. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return EXIT_SUCCESS;
                case ARG_VERSION:
                        (void) printf("pylockctl %s\n", PACKAGE_VERSION);
                        return EXIT_SUCCESS;
                default:
                        return EXIT_USAGE;      /* getopt has said what was wrong */
                }

        if (optind >= argc) {
                help(stderr);
                return EXIT_USAGE;
        }

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(argv[optind], verbs[i].name) == 0) {
                        /* Each verb parses its options afresh with getopt. */
                        int verb_argc = argc - optind;
                        char **verb_argv = argv + optind;

                        optind = 0;
                        return verbs[i].run(verb_argc, verb_argv);
                }

        return cli_error(EXIT_USAGE, "Unknown verb '%s'. See 'pylockctl --help'.", argv[optind]);
}
