/* The verbs of pylockctl and what they share: exit codes, error printing, the global options, and the
 * tables every verb declares its options in (from which its --help, its parsing and the shell
 * completion all come). */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pylocker/pylocker.h>

/* sysexits.h names, which scripts already know. */
#define EXIT_USAGE 64           /* EX_USAGE: bad command line */
#define EXIT_LOCK_TIMEOUT 75    /* EX_TEMPFAIL: the lock was not had in time, try again later */
#define EXIT_LOCK_LOST 76       /* EX_PROTOCOL: the lock was lost while the command ran */
/* Past sysexits.h's 64-78, so no script takes it for one of those (and not 77, which test harnesses
 * such as meson's read as "skipped"). */
#define EXIT_DEADLOCK 79        /* pylockerd refused the wait: it would close a cycle of waiting clients */

/* How data is printed, systemd's --json=MODE. */
typedef enum CliJson {
        CLI_JSON_OFF,
        CLI_JSON_DEFAULT,       /* a bare --json: pretty, except where a verb streams (listen: short) */
        CLI_JSON_PRETTY,
        CLI_JSON_SHORT,
} CliJson;

/* The global options, for the verbs that talk to pylockerd. */
typedef struct CliGlobals {
        PylockerTransport transport;
        const char *address;
        const char *remote;
        const char *secret_file;
        const char *private_socket;
        bool no_private_socket;
        CliJson json;
        bool no_legend;
        bool no_pager;
} CliGlobals;

extern CliGlobals cli_globals;

/* What an option's argument is: for --help's wording, for parsing, and for the shell completion, which
 * asks 'pylockctl __complete options VERB' and completes each kind its own way. */
typedef enum CliArg {
        CLI_ARG_NONE,
        CLI_ARG_SPAN,           /* a time span: "20", "250ms", "infinity" */
        CLI_ARG_NUMBER,
        CLI_ARG_TEXT,           /* free text: a name, a pass */
        CLI_ARG_FILE,
        CLI_ARG_ADDRESS,        /* a D-Bus address */
        CLI_ARG_HOST_PORT,
        CLI_ARG_CLIENT,         /* a client id or name of pylockerd */
        CLI_ARG_PID,
        CLI_ARG_JSON_MODE,      /* pretty, short, off */
        CLI_ARG_LOCK_PATH,      /* positional only: lock paths */
        CLI_ARG_LOCK_ID,        /* positional only: a lock id */
        _CLI_ARG_MAX,
} CliArg;

/* The ids of the options every data verb takes; a verb's own ids start at CLI_OPT_VERB. */
enum {
        CLI_OPT_HELP = 'h',
        CLI_OPT_JSON = 0x100,
        CLI_OPT_NO_LEGEND,
        CLI_OPT_VERB = 0x200,
};

typedef struct CliOption {
        const char *name;       /* the long name, without "--" */
        char short_name;        /* 0: none */
        int id;                 /* what cli_parser_next() returns for it */
        CliArg arg;
        bool optional;          /* the argument may be left out (then only "--name=ARG" gives one) */
        const char *metavar;    /* the argument in --help: "S", "N", "FILE" */
        const char *help;       /* --help's text; "\n" continues it on the next line */
} CliOption;

#define CLI_OPTION_HELP { "help", 'h', CLI_OPT_HELP, CLI_ARG_NONE, false, NULL, "Show this help" }
#define CLI_OPTION_JSON(what) \
        { "json", 0, CLI_OPT_JSON, CLI_ARG_JSON_MODE, true, "MODE", what " as JSON: pretty (the default), short\nor off" }
#define CLI_OPTION_NO_LEGEND { "no-legend", 0, CLI_OPT_NO_LEGEND, CLI_ARG_NONE, false, NULL, \
                               "Print no column headers and no \"No locks.\"" }

typedef struct CliVerb {
        const char *name;
        int (*run)(int argc, char *argv[]);
        const char *summary;            /* a line of 'pylockctl --help' */
        const char *synopsis;           /* after "pylockctl [GLOBAL-OPTIONS] VERB " */
        const char *description;        /* --help's paragraph */
        const CliOption *options;
        size_t n_options;
        CliArg positional;              /* what the positional arguments are, for the completion */
        bool command;                   /* "-- CMD [ARG...]" follows */
        const char *epilogue;           /* --help's last paragraph: the exit statuses */
        bool hidden;                    /* not in 'pylockctl --help' */
} CliVerb;

extern const CliVerb cli_verb_run, cli_verb_hold, cli_verb_acquire, cli_verb_release, cli_verb_locks,
        cli_verb_clients, cli_verb_status, cli_verb_stats, cli_verb_force_release, cli_verb_publish, cli_verb_listen,
        cli_verb_file_lock, cli_verb_complete;

/* Every verb, in the order of 'pylockctl --help'. */
extern const CliVerb *const cli_verbs[];
extern const size_t cli_n_verbs;
/* The global options, as a verb without a name. */
extern const CliVerb cli_globals_verb;

/* getopt_long over a verb's table, with pylockctl's own messages ("pylockctl: ..." and exit 64). */
typedef struct CliParser {
        const CliVerb *verb;
        int argc;
        char **argv;
        struct option *long_options;
        char *short_options;
        int exit_status;        /* after CLI_PARSE_EXIT: what the verb returns */
} CliParser;

enum {
        CLI_PARSE_END = -1,     /* no options left: optind is the first positional argument */
        CLI_PARSE_EXIT = -2,    /* --help printed, or a usage error said: return p->exit_status */
};

/* Parses argv[0..argc) (argc: up to a "--" that starts CMD). stop_at_positional: the global options,
 * which end at the verb. */
void cli_parser_init(CliParser *p, const CliVerb *verb, int argc, char *argv[], bool stop_at_positional);
void cli_parser_done(CliParser *p);
/* The next option's id, with optarg its argument (NULL when an optional one is left out); the common
 * ones (--help, --json, --no-legend) are handled here and not returned. CLI_PARSE_END or
 * CLI_PARSE_EXIT when done. */
int cli_parser_next(CliParser *p);

/* Prints the verb's --help (the globals' for cli_globals_verb) to stdout. */
void cli_verb_help(const CliVerb *verb);

/* Opens a locker as the global options say; on failure prints why and returns NULL. */
PylockerLocker *cli_open_locker(const char *name);
/* The same without printing: a negative errno, and error filled with a message that says what to do
 * (no session bus for --user, no system bus...). */
int cli_open_locker_full(const char *name, PylockerLocker **ret, PylockerError *error);

/* Formats a CLOCK_REALTIME time in microseconds as local time of day, "HH:MM:SS", or "-" for 0. */
const char *cli_format_time_of_day(char buf[static 16], uint64_t usec);

/* The JSON mode a verb prints with: the bare --json made pretty, or short for a verb that streams. */
CliJson cli_json_mode(bool streams);

/* Prints "pylockctl: MESSAGE" to stderr and returns exit_code. */
int cli_error(int exit_code, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Parses a time span for --OPTION ("20", "250ms", "infinity"); 0, or EXIT_USAGE after saying why. */
int cli_parse_span(const char *option, const char *value, uint64_t *ret);

/* A lock id as pylockerd makes them (32 lowercase hex digits); 0, or EXIT_USAGE after saying why. */
int cli_check_lock_id(const char *id);

/* Each verb gets argv from its own name on, and returns the process exit status. */
int verb_file_lock(int argc, char *argv[]);
int verb_run(int argc, char *argv[]);
int verb_hold(int argc, char *argv[]);
int verb_acquire(int argc, char *argv[]);
int verb_release(int argc, char *argv[]);
int verb_locks(int argc, char *argv[]);
int verb_clients(int argc, char *argv[]);
int verb_status(int argc, char *argv[]);
int verb_stats(int argc, char *argv[]);
int verb_force_release(int argc, char *argv[]);
int verb_publish(int argc, char *argv[]);
int verb_listen(int argc, char *argv[]);
int verb_complete(int argc, char *argv[]);
