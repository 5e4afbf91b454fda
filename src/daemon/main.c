/* pylockerd: command line, settings and the run() checklist. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bridge-listener.h"
#include "config.h"
#include "listen-fds.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

typedef struct Arguments {
        BusKind bus_kind;
        bool bus_kind_set;
        const char *address;
        const char *config_file;
        const char *private_socket;
        const char *state_dir;
        bool no_private_socket;
        GPtrArray *overrides;     /* "Group/Key=value" strings, applied after the file */
} Arguments;

static void help(void) {
        printf("Usage: pylockerd [OPTIONS...]\n\n"
               "The pylocker lock service on D-Bus.\n\n"
               "  -h --help                    Show this help\n"
               "     --version                 Show the version\n"
               "     --system                  Serve on the system bus (default, unless activated\n"
               "                               on a session bus)\n"
               "     --user                    Serve on the user's session bus\n"
               "     --address=ADDRESS         Serve on the bus at this D-Bus address\n"
               "     --config=FILE             Read settings from FILE instead of\n"
               "                               " DEFAULT_CONFIG_FILE "\n"
               "     --default-timeout=SPAN    Acquire timeout when a caller passes 0 (20s)\n"
               "     --max-lock-time=SPAN      Longest lease of a lock (120s)\n"
               "     --max-locks-per-client=N  Locks a client may hold or await (4096)\n"
               "     --max-waiters-per-client=N\n"
               "                               Requests a client may have waiting (256)\n"
               "     --max-locks-per-user=N    Locks all clients of one user (not root) may hold\n"
               "                               or await (65536)\n"
               "     --max-waiters-per-user=N  Requests they may have waiting (4096)\n"
               "     --max-paths=N             Paths in one request (256)\n"
               "     --max-path-length=N       Bytes in one path (4096)\n"
               "     --max-message-size=N      Bytes in one message (65536)\n"
               "     --max-inbox-length=N      Publications one client's inbox holds (1024)\n"
               "     --max-publications-per-second=N\n"
               "                               Publications one client may make a second (1000)\n"
               "     --idle-exit=SPAN          Exit after this long without clients (0: never;\n"
               "                               30s when activated by a session bus)\n"
               "     --private-socket=PATH     Serve the direct socket at PATH (default:\n"
               "                               /run/pylocker/private with --system,\n"
               "                               $XDG_RUNTIME_DIR/pylocker/private with --user)\n"
               "     --no-private-socket       Serve on the bus only\n"
               "     --bridge=ADDR:PORT        Serve the TCP bridge for remote machines here\n"
               "                               (e.g. 192.0.2.1:3000, [2001:db8::1]:3000, *:3000)\n"
               "     --secret-file=FILE        The bridge's shared secret (default: the credential\n"
               "                               pylocker.secret in $CREDENTIALS_DIRECTORY)\n"
               "     --backend=TYPE            Where the lock table lives: memory (the default) or\n"
               "                               etcd, shared by every pylockerd on the same cluster\n"
               "     --etcd-endpoints=URLS     etcd's client URLs, comma-separated\n"
               "     --node=NAME               This daemon's name in the cluster (the host name)\n"
               "     --session-ttl=SPAN        How long the cluster keeps this daemon's locks once\n"
               "                               it is gone (10s)\n"
               "     --state-dir=DIR           Keep the fencing token ceiling here (default:\n"
               "                               $STATE_DIRECTORY, as systemd's StateDirectory= sets;\n"
               "                               $XDG_STATE_HOME/pylocker with --user)\n"
               "     --log-level=LEVEL         debug, info, notice, warning or err (info)\n");
}

static int parse_log_level(const char *text) {
        static const char *const names[] = {
                [LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i] && strcmp(names[i], text) == 0)
                        return (int) i;
        return -EINVAL;
}

static int parse_argv(int argc, char *argv[], Arguments *args) {
        enum {
                ARG_VERSION = 0x100,
                ARG_SYSTEM,
                ARG_USER,
                ARG_ADDRESS,
                ARG_CONFIG,
                ARG_DEFAULT_TIMEOUT,
                ARG_MAX_LOCK_TIME,
                ARG_MAX_LOCKS_PER_CLIENT,
                ARG_MAX_WAITERS_PER_CLIENT,
                ARG_MAX_LOCKS_PER_USER,
                ARG_MAX_WAITERS_PER_USER,
                ARG_MAX_PATHS,
                ARG_MAX_PATH_LENGTH,
                ARG_MAX_MESSAGE_SIZE,
                ARG_MAX_INBOX_LENGTH,
                ARG_MAX_PUBLICATIONS_PER_SECOND,
                ARG_IDLE_EXIT,
                ARG_BRIDGE,
                ARG_SECRET_FILE,
                ARG_BACKEND,
                ARG_ETCD_ENDPOINTS,
                ARG_NODE,
                ARG_SESSION_TTL,
                ARG_LOG_LEVEL,
                ARG_PRIVATE_SOCKET,
                ARG_NO_PRIVATE_SOCKET,
                ARG_STATE_DIR,
        };
        static const struct option options[] = {
                { "help",                   no_argument,       NULL, 'h' },
                { "version",                no_argument,       NULL, ARG_VERSION },
                { "system",                 no_argument,       NULL, ARG_SYSTEM },
                { "user",                   no_argument,       NULL, ARG_USER },
                { "address",                required_argument, NULL, ARG_ADDRESS },
                { "config",                 required_argument, NULL, ARG_CONFIG },
                { "default-timeout",        required_argument, NULL, ARG_DEFAULT_TIMEOUT },
                { "max-lock-time",          required_argument, NULL, ARG_MAX_LOCK_TIME },
                { "max-locks-per-client",   required_argument, NULL, ARG_MAX_LOCKS_PER_CLIENT },
                { "max-waiters-per-client", required_argument, NULL, ARG_MAX_WAITERS_PER_CLIENT },
                { "max-locks-per-user",     required_argument, NULL, ARG_MAX_LOCKS_PER_USER },
                { "max-waiters-per-user",   required_argument, NULL, ARG_MAX_WAITERS_PER_USER },
                { "max-paths",              required_argument, NULL, ARG_MAX_PATHS },
                { "max-path-length",        required_argument, NULL, ARG_MAX_PATH_LENGTH },
                { "max-message-size",       required_argument, NULL, ARG_MAX_MESSAGE_SIZE },
                { "max-inbox-length",       required_argument, NULL, ARG_MAX_INBOX_LENGTH },
                { "max-publications-per-second", required_argument, NULL, ARG_MAX_PUBLICATIONS_PER_SECOND },
                { "idle-exit",              required_argument, NULL, ARG_IDLE_EXIT },
                { "bridge",                 required_argument, NULL, ARG_BRIDGE },
                { "secret-file",            required_argument, NULL, ARG_SECRET_FILE },
                { "backend",                required_argument, NULL, ARG_BACKEND },
                { "etcd-endpoints",         required_argument, NULL, ARG_ETCD_ENDPOINTS },
                { "node",                   required_argument, NULL, ARG_NODE },
                { "session-ttl",            required_argument, NULL, ARG_SESSION_TTL },
                { "log-level",              required_argument, NULL, ARG_LOG_LEVEL },
                { "private-socket",         required_argument, NULL, ARG_PRIVATE_SOCKET },
                { "no-private-socket",      no_argument,       NULL, ARG_NO_PRIVATE_SOCKET },
                { "state-dir",              required_argument, NULL, ARG_STATE_DIR },
                {}
        };
        /* Command line overrides use the same names and parsers as the file. */
        static const char *const override_keys[] = {
                [ARG_DEFAULT_TIMEOUT - ARG_DEFAULT_TIMEOUT] = "DefaultTimeout",
                [ARG_MAX_LOCK_TIME - ARG_DEFAULT_TIMEOUT] = "MaxLockTime",
                [ARG_MAX_LOCKS_PER_CLIENT - ARG_DEFAULT_TIMEOUT] = "MaxLocksPerClient",
                [ARG_MAX_WAITERS_PER_CLIENT - ARG_DEFAULT_TIMEOUT] = "MaxWaitersPerClient",
                [ARG_MAX_LOCKS_PER_USER - ARG_DEFAULT_TIMEOUT] = "MaxLocksPerUser",
                [ARG_MAX_WAITERS_PER_USER - ARG_DEFAULT_TIMEOUT] = "MaxWaitersPerUser",
                [ARG_MAX_PATHS - ARG_DEFAULT_TIMEOUT] = "MaxPathsPerRequest",
                [ARG_MAX_PATH_LENGTH - ARG_DEFAULT_TIMEOUT] = "MaxPathLength",
                [ARG_MAX_MESSAGE_SIZE - ARG_DEFAULT_TIMEOUT] = "MaxMessageSize",
                [ARG_MAX_INBOX_LENGTH - ARG_DEFAULT_TIMEOUT] = "MaxInboxLength",
                [ARG_MAX_PUBLICATIONS_PER_SECOND - ARG_DEFAULT_TIMEOUT] = "MaxPublicationsPerSecond",
                [ARG_IDLE_EXIT - ARG_DEFAULT_TIMEOUT] = "IdleExit",
                [ARG_BRIDGE - ARG_DEFAULT_TIMEOUT] = "Listen",
                [ARG_SECRET_FILE - ARG_DEFAULT_TIMEOUT] = "SecretFile",
                [ARG_BACKEND - ARG_DEFAULT_TIMEOUT] = "Type",
                [ARG_ETCD_ENDPOINTS - ARG_DEFAULT_TIMEOUT] = "Endpoints",
                [ARG_NODE - ARG_DEFAULT_TIMEOUT] = "Node",
                [ARG_SESSION_TTL - ARG_DEFAULT_TIMEOUT] = "SessionTTL",
        };
        int c, level;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("pylockerd %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_SYSTEM:
                case ARG_USER:
                case ARG_ADDRESS:
                        if (args->bus_kind_set)
                                return log_error_errno(EINVAL, "Only one of --system, --user and --address may be given.");
                        args->bus_kind_set = true;
                        args->bus_kind = c == ARG_SYSTEM ? BUS_KIND_SYSTEM : c == ARG_USER ? BUS_KIND_USER : BUS_KIND_ADDRESS;
                        args->address = c == ARG_ADDRESS ? optarg : NULL;
                        break;
                case ARG_CONFIG:
                        args->config_file = optarg;
                        break;
                case ARG_DEFAULT_TIMEOUT ... ARG_SESSION_TTL:
                        g_ptr_array_add(args->overrides,
                                        g_strdup_printf("%s/%s=%s",
                                                        c >= ARG_BACKEND ? CONFIG_GROUP_BACKEND :
                                                        c >= ARG_BRIDGE ? CONFIG_GROUP_BRIDGE : CONFIG_GROUP_LOCKER,
                                                        override_keys[c - ARG_DEFAULT_TIMEOUT], optarg));
                        break;
                case ARG_LOG_LEVEL:
                        level = parse_log_level(optarg);
                        if (level < 0)
                                return log_error_errno(EINVAL, "Invalid log level '%s'.", optarg);
                        log_set_max_level(level);
                        break;
                case ARG_PRIVATE_SOCKET:
                        if (optarg[0] != '/')
                                return log_error_errno(EINVAL, "--private-socket= needs an absolute path.");
                        args->private_socket = optarg;
                        args->no_private_socket = false;
                        break;
                case ARG_STATE_DIR:
                        args->state_dir = optarg;
                        break;
                case ARG_NO_PRIVATE_SOCKET:
                        args->private_socket = NULL;
                        args->no_private_socket = true;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        g_assert_not_reached();
                }

        if (optind < argc)
                return log_error_errno(EINVAL, "This program takes no positional arguments.");

        if (!args->bus_kind_set) {
                /* Activated by a session bus: serve there. */
                const char *starter = getenv("DBUS_STARTER_BUS_TYPE");

                args->bus_kind = starter && strcmp(starter, "session") == 0 ? BUS_KIND_USER : BUS_KIND_SYSTEM;
        }
        return 1;
}

/* Fills config; the caller frees it with config_done() whatever this returns. */
static int load_config(const Arguments *args, Config *config) {
        g_autofree char *error = NULL;
        int r;

        config_init_defaults(config);
        /* Started by a bus for a call: go again when nobody needs us. */
        if (getenv("DBUS_STARTER_BUS_TYPE"))
                config->idle_exit_usec = 30 * USEC_PER_SEC;
        r = config_load_file(config, args->config_file ?: DEFAULT_CONFIG_FILE,
                             /* missing_ok= */ !args->config_file, &error);
        if (r < 0)
                return log_error_errno(r, "Bad configuration: %s", error);

        for (guint i = 0; i < args->overrides->len; i++) {
                const char *item = args->overrides->pdata[i];
                const char *slash = strchr(item, '/'), *eq = strchr(item, '=');
                g_autofree char *group = g_strndup(item, (gsize) (slash - item));
                g_autofree char *key = g_strndup(slash + 1, (gsize) (eq - slash - 1));

                r = config_set(config, group, key, eq + 1, &error);
                if (r < 0)
                        return log_error_errno(r, "Bad command line option: %s", error);
        }

        r = config_check(config, &error);
        if (r < 0)
                return log_error_errno(r, "Bad configuration: %s", error);
        return 0;
}

static char *default_private_socket(const Arguments *args) {
        const char *runtime_dir;

        if (args->no_private_socket)
                return NULL;
        if (args->private_socket)
                return g_strdup(args->private_socket);

        switch (args->bus_kind) {
        case BUS_KIND_SYSTEM:
                return g_strdup(PYLOCKER_PRIVATE_SOCKET_SYSTEM);
        case BUS_KIND_USER:
                runtime_dir = getenv("XDG_RUNTIME_DIR");
                if (!runtime_dir || runtime_dir[0] != '/') {
                        log_notice("XDG_RUNTIME_DIR is not set: serving on the bus only.");
                        return NULL;
                }
                return g_build_filename(runtime_dir, PYLOCKER_PRIVATE_SOCKET_RUNTIME, NULL);
        default:
                /* A bus given by address has no conventional place for it. */
                return NULL;
        }
}

/* Every direct connection and lock handle is a file descriptor. */
static void bump_nofile_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
                return;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                log_debug_errno(errno, "Failed to raise the file descriptor limit, ignoring: %m");
}

static int run(int argc, char *argv[]) {
        g_autoptr(GPtrArray) overrides = g_ptr_array_new_with_free_func(g_free);
        g_auto(GStrv) state_dirs = NULL;
        g_autofree char *user_state_dir = NULL;
        _cleanup_(config_done) Config config = {};
        g_autoptr(Manager) manager = NULL;
        Arguments args = { .overrides = overrides };
        int r;

        r = parse_argv(argc, argv, &args);
        if (r <= 0)
                return r;

        r = load_config(&args, &config);
        if (r < 0)
                return r;

        bump_nofile_limit();

        /* systemd may list several state directories; ours is the first. */
        if (!args.state_dir && getenv("STATE_DIRECTORY")) {
                state_dirs = g_strsplit(getenv("STATE_DIRECTORY"), ":", 2);
                args.state_dir = state_dirs[0];
        }
        /* The user instance keeps its token ceiling too, so that its tokens never go back across a
         * restart with the clock set back: $XDG_STATE_HOME/pylocker (~/.local/state/pylocker). */
        if (!args.state_dir && args.bus_kind == BUS_KIND_USER) {
                user_state_dir = g_build_filename(g_get_user_state_dir(), "pylocker", NULL);
                if (g_mkdir_with_parents(user_state_dir, 0700) < 0)
                        log_warning_errno(errno, "Failed to create %s, tokens may repeat after a restart with "
                                          "the clock set back: %m", user_state_dir);
                else
                        args.state_dir = user_state_dir;
        }
        config.state_dir = args.state_dir;

        r = manager_new(&config, &manager);
        if (r < 0)
                return r;
        manager->direct_socket_wanted = default_private_socket(&args);
        manager->idle_exit_usec = config.idle_exit_usec;

        /* Sockets from systemd first: a passed direct socket replaces listening on our own. */
        r = listen_fds_adopt(manager);
        if (r < 0)
                return r;
        if (manager->direct_source)
                g_clear_pointer(&manager->direct_socket_wanted, g_free);

        /* A bridge socket from systemd replaces listening on our own, as for the direct socket. */
        if (manager->config.bridge.listen && !manager->bridge_adopted) {
                r = manager_enable_bridge(manager);
                if (r < 0)
                        return r;
                r = bridge_listener_listen(manager->bridge, manager->config.bridge.listen);
                if (r < 0)
                        return r;
        }

        r = sd_event_set_watchdog(manager->event, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable watchdog, ignoring: %m");

        /* A NULL handler makes the signal leave the event loop; shutdown answers all waiters. */
        r = sd_event_add_signal(manager->event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(manager->event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to install signal handlers: %m");

        r = manager_connect_bus(manager, args.bus_kind, args.address);
        if (r < 0)
                return r;

        return manager_run(manager);
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);

        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
