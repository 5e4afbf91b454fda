/* Authorization on a private system-type bus (the repo's bus policy included) with real polkitd and
 * the repo's polkit actions: root, an unprivileged user made by the test, and a user granted by a
 * group rule. Needs root. */
#undef G_DISABLE_ASSERT
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "harness.h"
#include "wire-test.h"

static char user_plain[32], user_admin[32], group_admin[32];

static const char polkit_rules_template[] =
        "polkit.addRule(function(action, subject) {\n"
        "    if (action.id == \"org.pylocker.manage\" && subject.isInGroup(\"%s\"))\n"
        "        return polkit.Result.YES;\n"
        "});\n";

static void fixture_setup(HarnessFixture *f, gconstpointer data) {
        g_autofree char *rules = g_strdup_printf(polkit_rules_template, group_admin);

        harness_start_system(&f->h, rules, NULL);
}

static void run_quiet(const char *const *argv) {
        int status;

        g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL,
                                   G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                                   NULL, NULL, NULL, NULL, &status, NULL));
        g_assert_true(g_spawn_check_wait_status(status, NULL));
}

/* Whether a name like pylkt1234u belongs to a test process that is gone. */
static bool stale_name(const char *name) {
        long pid;

        if (!g_str_has_prefix(name, "pylkt"))
                return false;
        pid = strtol(name + 5, NULL, 10);
        return pid > 0 && kill((pid_t) pid, 0) < 0 && errno == ESRCH;
}

/* Users and groups of an earlier run that died before removing them (not of one still running). */
static void users_remove_stale(void) {
        struct passwd *pw;
        struct group *gr;
        g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) groups = g_ptr_array_new_with_free_func(g_free);

        setpwent();
        while ((pw = getpwent()))
                if (stale_name(pw->pw_name))
                        g_ptr_array_add(users, g_strdup(pw->pw_name));
        endpwent();
        setgrent();
        while ((gr = getgrent()))
                if (stale_name(gr->gr_name))
                        g_ptr_array_add(groups, g_strdup(gr->gr_name));
        endgrent();

        for (guint i = 0; i < users->len; i++)
                run_quiet((const char *const[]) { "userdel", users->pdata[i], NULL });
        for (guint i = 0; i < groups->len; i++)
                run_quiet((const char *const[]) { "groupdel", groups->pdata[i], NULL });
}

static void users_create(void) {
        users_remove_stale();
        g_snprintf(user_plain, sizeof(user_plain), "pylkt%du", (int) getpid());
        g_snprintf(user_admin, sizeof(user_admin), "pylkt%da", (int) getpid());
        g_snprintf(group_admin, sizeof(group_admin), "pylkt%dg", (int) getpid());

        run_quiet((const char *const[]) { "groupadd", group_admin, NULL });
        run_quiet((const char *const[]) { "useradd", "-M", "-N", "-s", "/usr/sbin/nologin", user_plain, NULL });
        run_quiet((const char *const[]) { "useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-G", group_admin,
                                          user_admin, NULL });
}

static void users_remove(void) {
        run_quiet((const char *const[]) { "userdel", user_plain, NULL });
        run_quiet((const char *const[]) { "userdel", user_admin, NULL });
        run_quiet((const char *const[]) { "groupdel", group_admin, NULL });
}

/* What a child does as the given user, reporting each call's result as "ok" or the error name. */
typedef enum ChildScript {
        SCRIPT_CALLS,           /* Acquire, Publish, SetMaxLockTime, ForceRelease, own the name */
        SCRIPT_CALLS_INTERACTIVE,
        SCRIPT_DIRECT_CALLS,    /* Acquire and SetMaxLockTime over the direct socket */
        SCRIPT_WIRE_CALLS,      /* the same in the wire protocol, after HELLO with a name */
        SCRIPT_ACQUIRE_ONLY,
        SCRIPT_WIRE_ACQUIRE_ONLY,
        SCRIPT_EXPLAIN,         /* refused calls on the bus, the wire and in pylockctl: "what|name|message" lines */
        SCRIPT_UNKNOWN_NAMES,   /* wrong method and property names, and Set: "what=name" */
} ChildScript;

static void append_result(GString *s, const char *what, int r, const sd_bus_error *error) {
        g_string_append_printf(s, "%s%s=%s", s->len ? " " : "", what, r >= 0 ? "ok" : error->name ?: "errno");
}

static sd_bus_message *new_call(sd_bus *bus, const char *member, bool interactive) {
        sd_bus_message *m = NULL;

        if (locker_new_method_call(bus, &m, member) < 0)
                _exit(10);
        (void) sd_bus_message_set_allow_interactive_authorization(m, interactive);
        return m;
}

static void append_wire_result(GString *s, const char *what, const WireTestFrame *f) {
        g_string_append_printf(s, "%s%s=%s", s->len ? " " : "", what,
                               f->m.header.type == WIRE_ERROR ? f->m.error.name : "ok");
}

/* The wire protocol on the direct socket: each request's result, in the order of the answers. */
static void child_run_wire(Harness *h, ChildScript script, int out_fd) {
        g_autoptr(GString) s = g_string_new(NULL);
        WireTestClient *w = wire_test_connect_raw(h);
        WireTestFrame f = {};
        WireBuffer out = {};

        wire_test_send_preamble(w, 1, 1);
        /* A name is a Register: asked about as publish. */
        (void) wire_test_send(w, WIRE_HELLO, 0, &(WireMessage) {
                        .hello.name = script == SCRIPT_WIRE_CALLS ? "wire-under-polkit" : "" });
        if (!wire_test_recv(w, &f, 60000))
                _exit(14);
        append_wire_result(s, "Hello", &f);
        wire_test_frame_clear(&f);

        (void) wire_test_send(w, WIRE_ACQUIRE, 0, &(WireMessage) {
                        .acquire = { .paths = (const char **) PATHS("polkit/wire"), .n_paths = 1 } });
        if (!wire_test_recv(w, &f, 60000))
                _exit(14);
        append_wire_result(s, "Acquire", &f);
        wire_test_frame_clear(&f);

        if (script == SCRIPT_WIRE_CALLS) {
                /* Behind a request that waits for polkit, the next one waits too: answers in order. */
                (void) wire_test_encode(w, &out, WIRE_SET_MAX_LOCK_TIME, 0, &(WireMessage) { .usec.usec = 60 * SEC });
                (void) wire_test_encode(w, &out, WIRE_PING, 0, NULL);
                wire_test_send_raw(w, wire_buffer_peek(&out), wire_buffer_length(&out));
                wire_buffer_done(&out);
                for (unsigned i = 0; i < 2; i++) {
                        if (!wire_test_recv(w, &f, 60000))
                                _exit(14);
                        append_wire_result(s, i == 0 ? "SetMaxLockTime" : "Ping", &f);
                        wire_test_frame_clear(&f);
                }
        }

        _exit(write(out_fd, s->str, s->len) == (ssize_t) s->len ? 0 : 12);
}

static sd_bus *child_connect_bus(Harness *h) {
        sd_bus *bus = NULL;

        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, h->bus_address) < 0 ||
            sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0)
                _exit(11);
        return bus;
}

static void append_explained(GString *s, const char *what, int r, const sd_bus_error *error) {
        g_string_append_printf(s, "%s|%s|%s\n", what, r >= 0 ? "ok" : error->name, r >= 0 ? "" : error->message);
}

/* Refusals, each with the text that says which polkit action is missing and how to get it: on the bus
 * (interactive or not, and the verdict kept for the next call), on the wire, and from pylockctl. */
static void child_run_explain(Harness *h, const char *foreign_lock, int out_fd) {
        g_autoptr(GString) s = g_string_new(NULL);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus = child_connect_bus(h);
        g_autofree char *err = NULL;
        WireTestClient *w;
        WireTestFrame f = {};
        sd_bus_message *m;
        int r, status;

        for (unsigned i = 0; i < 2; i++) {
                m = new_call(bus, "SetMaxLockTime", /* interactive= */ i == 1);
                (void) sd_bus_message_append(m, "t", 60 * SEC);
                r = sd_bus_call(bus, m, 10 * SEC, &error, NULL);
                append_explained(s, i == 0 ? "SetMaxLockTime" : "SetMaxLockTime-interactive", r, &error);
                sd_bus_error_free(&error);
                sd_bus_message_unref(m);
        }
        m = new_call(bus, "ForceRelease", /* interactive= */ false);
        (void) sd_bus_message_append(m, "s", foreign_lock);
        r = sd_bus_call(bus, m, 10 * SEC, &error, NULL);
        append_explained(s, "ForceRelease", r, &error);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);

        /* Reading the statistics is for everyone who may list locks. */
        r = locker_call_method(bus, "GetStatistics", &error, NULL, "");
        append_explained(s, "GetStatistics", r, &error);
        sd_bus_error_free(&error);

        w = wire_test_connect(h, NULL);
        (void) wire_test_send(w, WIRE_SET_MAX_LOCK_TIME, 0, &(WireMessage) { .usec.usec = 60 * SEC });
        if (!wire_test_recv(w, &f, 60000))
                _exit(14);
        g_string_append_printf(s, "wire|%s|%s\n", f.m.header.type == WIRE_ERROR ? f.m.error.name : "ok",
                               f.m.header.type == WIRE_ERROR ? f.m.error.message : "");
        wire_test_frame_clear(&f);
        /* GET_STATS needs what GetStatistics needs. */
        (void) wire_test_send(w, WIRE_GET_STATS, 0, NULL);
        if (!wire_test_recv(w, &f, 60000))
                _exit(14);
        g_string_append_printf(s, "wire-stats|%s\n", f.m.header.type == WIRE_ERROR ? f.m.error.name :
                                                       f.m.header.type == WIRE_STATS ? "ok" : "?");
        wire_test_frame_clear(&f);

        g_assert_true(g_spawn_sync(NULL, (char *[]) { (char *) g_getenv("PYLOCKCTL"), (char *) "--address",
                                                      h->bus_address, (char *) "force-release",
                                                      (char *) foreign_lock, NULL },
                                   NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err, &status, NULL));
        g_strchomp(err);
        g_string_append_printf(s, "pylockctl|%d|%s\n", WEXITSTATUS(status), err);

        _exit(write(out_fd, s->str, s->len) == (ssize_t) s->len ? 0 : 12);
}

/* Names that are not ours are told so at once, before anyone is asked about the caller (polkitd is
 * stopped meanwhile: a question to it would hang), and Set is refused for every property. */
static void child_run_unknown_names(Harness *h, int out_fd) {
        g_autoptr(GString) s = g_string_new(NULL);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus = child_connect_bus(h);
        int r;

#define PROPERTIES_CALL(what, member, ...)                                                                    \
        do {                                                                                                  \
                r = sd_bus_call_method(bus, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH,                          \
                                       "org.freedesktop.DBus.Properties", member, &error, NULL, __VA_ARGS__); \
                append_result(s, what, r, &error);                                                            \
                sd_bus_error_free(&error);                                                                    \
        } while (0)

        r = locker_call_method(bus, "Aquire", &error, NULL, "");
        append_result(s, "Aquire", r, &error);
        sd_bus_error_free(&error);
        PROPERTIES_CALL("Get", "Get", "ss", PYLOCKER_INTERFACE, "LockCounts");
        PROPERTIES_CALL("SetUnknown", "Set", "ssv", PYLOCKER_INTERFACE, "LockCounts", "u", 1);
        PROPERTIES_CALL("SetKnown", "Set", "ssv", PYLOCKER_INTERFACE, "MaxLockTime", "t", 60 * SEC);
        PROPERTIES_CALL("SetConst", "Set", "ssv", PYLOCKER_INTERFACE, "Version", "s", "9");
        PROPERTIES_CALL("GetKnown", "Get", "ss", PYLOCKER_INTERFACE, "LockCount");
        PROPERTIES_CALL("GetAll", "GetAll", "s", PYLOCKER_INTERFACE);
#undef PROPERTIES_CALL

        _exit(write(out_fd, s->str, s->len) == (ssize_t) s->len ? 0 : 12);
}

static void child_run(Harness *h, ChildScript script, const char *foreign_lock, int out_fd) {
        g_autoptr(GString) s = g_string_new(NULL);
        bool interactive = script == SCRIPT_CALLS_INTERACTIVE;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus = NULL;
        sd_bus_message *m;
        int r;

        if (script == SCRIPT_WIRE_CALLS || script == SCRIPT_WIRE_ACQUIRE_ONLY)
                child_run_wire(h, script, out_fd);
        if (script == SCRIPT_EXPLAIN)
                child_run_explain(h, foreign_lock, out_fd);
        if (script == SCRIPT_UNKNOWN_NAMES)
                child_run_unknown_names(h, out_fd);

        if (script == SCRIPT_DIRECT_CALLS) {
                g_autofree char *path = harness_direct_socket_path(h);
                g_autofree char *address = g_strdup_printf("unix:path=%s", path);

                if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, address) < 0 || sd_bus_start(bus) < 0)
                        _exit(11);
        } else if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, h->bus_address) < 0 ||
                   sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0)
                _exit(11);

        m = new_call(bus, "Acquire", interactive);
        (void) sd_bus_message_append(m, "asta{sv}", 1, script == SCRIPT_ACQUIRE_ONLY ? "stalled" : "polkit/path",
                                     UINT64_C(0), 0);
        r = sd_bus_call(bus, m, 60 * SEC, &error, NULL);
        append_result(s, "Acquire", r, &error);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);

        if (script == SCRIPT_CALLS || script == SCRIPT_CALLS_INTERACTIVE) {
                m = new_call(bus, "Publish", interactive);
                (void) sd_bus_message_append(m, "sasta{sv}", "hello", 0, UINT64_C(0), 0);
                r = sd_bus_call(bus, m, 10 * SEC, &error, NULL);
                append_result(s, "Publish", r, &error);
                sd_bus_error_free(&error);
                sd_bus_message_unref(m);
        }

        if (script != SCRIPT_ACQUIRE_ONLY) {
                m = new_call(bus, "SetMaxLockTime", interactive);
                (void) sd_bus_message_append(m, "t", 60 * SEC);
                r = sd_bus_call(bus, m, 10 * SEC, &error, NULL);
                append_result(s, "SetMaxLockTime", r, &error);
                sd_bus_error_free(&error);
                sd_bus_message_unref(m);
        }

        if (script == SCRIPT_CALLS || script == SCRIPT_CALLS_INTERACTIVE) {
                m = new_call(bus, "ForceRelease", interactive);
                (void) sd_bus_message_append(m, "s", foreign_lock);
                r = sd_bus_call(bus, m, 10 * SEC, &error, NULL);
                append_result(s, "ForceRelease", r, &error);
                sd_bus_error_free(&error);
                sd_bus_message_unref(m);

                r = sd_bus_request_name(bus, PYLOCKER_BUS_NAME, 0);
                g_string_append_printf(s, " RequestName=%s", r >= 0 ? "ok" : g_strerror(-r));
        }

        _exit(write(out_fd, s->str, s->len) == (ssize_t) s->len ? 0 : 12);
}

/* Runs the script in a child process as user (NULL: root); returns its report. */
static char *run_as(Harness *h, const char *user, ChildScript script, const char *foreign_lock, pid_t *ret_pid,
                    int *ret_fd) {
        int fds[2];
        pid_t pid;

        g_assert_cmpint(pipe(fds), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                close(fds[0]);
                if (user) {
                        struct passwd *pw = getpwnam(user);

                        if (!pw || initgroups(user, pw->pw_gid) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
                            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
                                _exit(13);
                }
                child_run(h, script, foreign_lock, fds[1]);
        }
        close(fds[1]);

        if (ret_pid) {
                /* The caller collects the report later. */
                *ret_pid = pid;
                *ret_fd = fds[0];
                return NULL;
        }

        {
                char buf[2048] = {};
                ssize_t n;
                int status;

                n = read(fds[0], buf, sizeof(buf) - 1);
                close(fds[0]);
                g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
                g_assert_true(WIFEXITED(status));
                g_assert_cmpint(WEXITSTATUS(status), ==, 0);
                g_assert_cmpint(n, >, 0);
                return g_strdup(buf);
        }
}

static void test_root_may_do_everything(HarnessFixture *f, gconstpointer data) {
        sd_bus *holder = harness_connect(&f->h);
        g_autofree char *id = acquire_ok(holder, PATHS("held"), NULL);
        g_autofree char *report = run_as(&f->h, NULL, SCRIPT_CALLS, id, NULL, NULL);

        /* Root already owns the name through the daemon: a second owner is refused as "exists". */
        g_assert_cmpstr(report, ==, "Acquire=ok Publish=ok SetMaxLockTime=ok ForceRelease=ok RequestName=File exists");
        g_assert_cmpuint(get_property_t(holder, "MaxLockTime"), ==, 60 * SEC);
}

static void test_user_may_lock_not_manage(HarnessFixture *f, gconstpointer data) {
        sd_bus *holder = harness_connect(&f->h);
        g_autofree char *id = acquire_ok(holder, PATHS("held"), NULL);
        g_autofree char *report = run_as(&f->h, user_plain, SCRIPT_CALLS, id, NULL, NULL);
        g_autofree char *report2 = run_as(&f->h, user_plain, SCRIPT_CALLS_INTERACTIVE, id, NULL, NULL);

        /* auth_admin_keep without an agent: a challenge, which a caller that did not allow interaction
         * is told to retry with it; one that did is denied. The bus policy keeps the name from it. */
        g_assert_cmpstr(report, ==,
                        "Acquire=ok Publish=ok "
                        "SetMaxLockTime=org.freedesktop.DBus.Error.InteractiveAuthorizationRequired "
                        "ForceRelease=org.freedesktop.DBus.Error.InteractiveAuthorizationRequired "
                        "RequestName=Permission denied");
        g_assert_cmpstr(report2, ==,
                        "Acquire=ok Publish=ok "
                        "SetMaxLockTime=org.freedesktop.DBus.Error.AccessDenied "
                        "ForceRelease=org.freedesktop.DBus.Error.AccessDenied "
                        "RequestName=Permission denied");
        g_assert_cmpuint(get_property_t(holder, "MaxLockTime"), ==, 120 * SEC);
        g_assert_cmpuint(count_locks(holder), ==, 1);
}

static void test_group_rule_grants_manage(HarnessFixture *f, gconstpointer data) {
        sd_bus *holder = harness_connect(&f->h);
        g_autofree char *id = acquire_ok(holder, PATHS("held"), NULL);
        g_autofree char *report = run_as(&f->h, user_admin, SCRIPT_CALLS, id, NULL, NULL);

        g_assert_cmpstr(report, ==,
                        "Acquire=ok Publish=ok SetMaxLockTime=ok ForceRelease=ok RequestName=Permission denied");
        g_assert_cmpuint(get_property_t(holder, "MaxLockTime"), ==, 60 * SEC);
        g_assert_cmpuint(count_locks(holder), ==, 0);
}

static void test_direct_socket_authorized_alike(HarnessFixture *f, gconstpointer data) {
        g_autofree char *plain = run_as(&f->h, user_plain, SCRIPT_DIRECT_CALLS, NULL, NULL, NULL);
        g_autofree char *admin = run_as(&f->h, user_admin, SCRIPT_DIRECT_CALLS, NULL, NULL, NULL);

        g_assert_cmpstr(plain, ==,
                        "Acquire=ok SetMaxLockTime=org.freedesktop.DBus.Error.InteractiveAuthorizationRequired");
        g_assert_cmpstr(admin, ==, "Acquire=ok SetMaxLockTime=ok");
}

/* The wire protocol asks polkit about the process behind the socket, as for a D-Bus peer, and never
 * interactively. */
static void test_wire_authorized_alike(HarnessFixture *f, gconstpointer data) {
        sd_bus *bus = harness_connect(&f->h);
        g_autofree char *plain = run_as(&f->h, user_plain, SCRIPT_WIRE_CALLS, NULL, NULL, NULL);
        g_autofree char *admin = NULL;

        g_assert_cmpstr(plain, ==,
                        "Hello=ok Acquire=ok "
                        "SetMaxLockTime=org.freedesktop.DBus.Error.InteractiveAuthorizationRequired Ping=ok");
        g_assert_cmpuint(get_property_t(bus, "MaxLockTime"), ==, 120 * SEC);

        admin = run_as(&f->h, user_admin, SCRIPT_WIRE_CALLS, NULL, NULL, NULL);
        g_assert_cmpstr(admin, ==, "Hello=ok Acquire=ok SetMaxLockTime=ok Ping=ok");
        g_assert_cmpuint(get_property_t(bus, "MaxLockTime"), ==, 60 * SEC);
}

static void test_polkitd_gone_is_an_error(HarnessFixture *f, gconstpointer data) {
        char buf[512] = {};
        pid_t pid;
        int fd, status;
        ssize_t n;

        /* polkitd hangs, then dies, while the question is out. */
        g_assert_cmpint(kill(harness_polkitd_pid(&f->h), SIGSTOP), ==, 0);
        (void) run_as(&f->h, user_plain, SCRIPT_ACQUIRE_ONLY, NULL, &pid, &fd);
        g_usleep(300 * 1000);
        harness_kill_polkitd(&f->h);

        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_cmpint(n, >, 0);
        g_assert_cmpstr(buf, ==, "Acquire=org.freedesktop.DBus.Error.AccessDenied");

        /* And with polkitd gone for good, at once; on the wire too. */
        {
                g_autofree char *report = run_as(&f->h, user_plain, SCRIPT_ACQUIRE_ONLY, NULL, NULL, NULL);
                g_autofree char *wire = run_as(&f->h, user_plain, SCRIPT_WIRE_ACQUIRE_ONLY, NULL, NULL, NULL);

                g_assert_cmpstr(report, ==, "Acquire=org.freedesktop.DBus.Error.AccessDenied");
                g_assert_cmpstr(wire, ==, "Hello=ok Acquire=org.freedesktop.DBus.Error.AccessDenied");
        }

        /* Root needs no polkit. */
        {
                g_autofree char *report = run_as(&f->h, NULL, SCRIPT_ACQUIRE_ONLY, NULL, NULL, NULL);

                g_assert_cmpstr(report, ==, "Acquire=ok");
        }
}

/* The one statistic that needs someone to refuse: denials, read by root. */
static uint64_t get_denials(sd_bus *bus) {
        sd_bus_message *reply = NULL;
        uint64_t denials = UINT64_MAX;
        const char *key;

        g_assert_cmpint(locker_call_method(bus, "GetStatistics", NULL, &reply, ""), >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "{sv}"), >, 0);
        while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                g_assert_cmpint(sd_bus_message_read(reply, "s", &key), >, 0);
                if (g_str_equal(key, "denials"))
                        g_assert_cmpint(sd_bus_message_read(reply, "v", "t", &denials), >, 0);
                else
                        g_assert_cmpint(sd_bus_message_skip(reply, "v"), >, 0);
                g_assert_cmpint(sd_bus_message_exit_container(reply), >, 0);
        }
        sd_bus_message_unref(reply);
        return denials;
}

static void test_refusals_explained(HarnessFixture *f, gconstpointer data) {
        sd_bus *holder = harness_connect(&f->h);
        g_autofree char *id = acquire_ok(holder, PATHS("held"), NULL);
        g_autofree char *report = NULL;
        g_auto(GStrv) lines = NULL;
        const char *how = "Managing locks needs the polkit action org.pylocker.manage";
        const char *rule = "see pylockerd(8) for a polkit rule granting it to a group";

        g_assert_cmpuint(get_denials(holder), ==, 0);
        report = run_as(&f->h, user_plain, SCRIPT_EXPLAIN, id, NULL, NULL);
        lines = g_strsplit(report, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 8);

        /* Without interaction: polkit would ask for a password, so say how to let it. */
        g_assert_true(g_str_has_prefix(lines[0], "SetMaxLockTime|org.freedesktop.DBus.Error.InteractiveAuthorizationRequired|"));
        g_assert_nonnull(strstr(lines[0], how));
        g_assert_nonnull(strstr(lines[0], "allowing interactive authorization"));
        g_assert_nonnull(strstr(lines[0], rule));
        /* With interaction allowed and nobody to answer: refused, the same way, and remembered. */
        g_assert_true(g_str_has_prefix(lines[1], "SetMaxLockTime-interactive|org.freedesktop.DBus.Error.AccessDenied|"));
        g_assert_nonnull(strstr(lines[1], how));
        g_assert_nonnull(strstr(lines[1], "(root has it; " ));
        g_assert_nonnull(strstr(lines[1], rule));
        g_assert_true(g_str_has_prefix(lines[2], "ForceRelease|org.freedesktop.DBus.Error.AccessDenied|"));
        g_assert_nonnull(strstr(lines[2], how));
        g_assert_cmpstr(lines[3], ==, "GetStatistics|ok|");
        /* The wire client's ERROR frame and pylockctl's message carry the same text. */
        g_assert_true(g_str_has_prefix(lines[4], "wire|org.freedesktop.DBus.Error.InteractiveAuthorizationRequired|"));
        g_assert_nonnull(strstr(lines[4], how));
        g_assert_cmpstr(lines[5], ==, "wire-stats|ok");
        g_assert_true(g_str_has_prefix(lines[6], "pylockctl|1|pylockctl: "));
        g_assert_nonnull(strstr(lines[6], how));
        g_assert_nonnull(strstr(lines[6], rule));

        /* Each refusal counted once; the lock is still there. */
        g_assert_cmpuint(get_denials(holder), ==, 5);
        g_assert_cmpuint(count_locks(holder), ==, 1);
}

static void test_unknown_names_before_authorization(HarnessFixture *f, gconstpointer data) {
        sd_bus *bus = harness_connect(&f->h);
        g_autofree char *report = NULL;

        g_assert_cmpint(kill(harness_polkitd_pid(&f->h), SIGSTOP), ==, 0);
        report = run_as(&f->h, user_plain, SCRIPT_UNKNOWN_NAMES, NULL, NULL, NULL);
        g_assert_cmpint(kill(harness_polkitd_pid(&f->h), SIGCONT), ==, 0);

        g_assert_cmpstr(report, ==,
                        "Aquire=org.freedesktop.DBus.Error.UnknownMethod "
                        "Get=org.freedesktop.DBus.Error.UnknownProperty "
                        "SetUnknown=org.freedesktop.DBus.Error.UnknownProperty "
                        "SetKnown=org.freedesktop.DBus.Error.PropertyReadOnly "
                        "SetConst=org.freedesktop.DBus.Error.PropertyReadOnly "
                        "GetKnown=ok GetAll=ok");
        /* Nothing was changed, and nobody became a client. */
        g_assert_cmpuint(get_property_t(bus, "MaxLockTime"), ==, 120 * SEC);
        g_assert_cmpuint(get_property_u(bus, "ClientCount"), ==, 0);
}

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);

        /* Not skipped: an authorization test that did not run must not pass. */
        if (geteuid() != 0)
                g_error("needs root: it creates users and runs polkitd in a mount namespace of its own");

#define ADD(path, fn) g_test_add("/polkit/" path, HarnessFixture, NULL, fixture_setup, fn, harness_fixture_teardown)
        ADD("root-may-do-everything", test_root_may_do_everything);
        ADD("user-may-lock-not-manage", test_user_may_lock_not_manage);
        ADD("group-rule-grants-manage", test_group_rule_grants_manage);
        ADD("direct-socket-authorized-alike", test_direct_socket_authorized_alike);
        ADD("wire-authorized-alike", test_wire_authorized_alike);
        ADD("polkitd-gone-is-an-error", test_polkitd_gone_is_an_error);
        ADD("refusals-explained", test_refusals_explained);
        ADD("unknown-names-before-authorization", test_unknown_names_before_authorization);
#undef ADD

        users_create();
        r = g_test_run();
        users_remove();
        return r;
}
