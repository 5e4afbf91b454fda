/* org.pylocker.Locker as the running daemon serves it: its introspection against the XML, the
 * properties and their change signal, bad arguments refused without a trace, ForceRelease. */
#undef G_DISABLE_ASSERT
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib.h>

#include "harness.h"

/* The running daemon's introspection of the interface equals dbus/org.pylocker.Locker.xml. */
static void assert_annotations_equal(GDBusAnnotationInfo **a, GDBusAnnotationInfo **b, const char *where) {
        guint na = a ? g_strv_length((char **) a) : 0, nb = b ? g_strv_length((char **) b) : 0;

        g_test_message("annotations of %s", where);
        g_assert_cmpuint(na, ==, nb);
        for (guint i = 0; i < na; i++) {
                g_assert_cmpstr(a[i]->key, ==, b[i]->key);
                g_assert_cmpstr(a[i]->value, ==, b[i]->value);
        }
}

static void assert_args_equal(GDBusArgInfo **a, GDBusArgInfo **b, const char *where) {
        guint na = a ? g_strv_length((char **) a) : 0, nb = b ? g_strv_length((char **) b) : 0;

        g_test_message("arguments of %s", where);
        g_assert_cmpuint(na, ==, nb);
        for (guint i = 0; i < na; i++) {
                g_assert_cmpstr(a[i]->name, ==, b[i]->name);
                g_assert_cmpstr(a[i]->signature, ==, b[i]->signature);
        }
}

static void test_introspection_matches_xml(HarnessFixture *f, gconstpointer data) {
        sd_bus *bus = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        g_autoptr(GDBusNodeInfo) live_node = NULL, file_node = NULL;
        g_autoptr(GError) gerror = NULL;
        g_autofree char *file_xml = NULL;
        GDBusInterfaceInfo *live, *file;
        const char *xml;

        g_assert_cmpint(sd_bus_call_method(bus, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH,
                                           "org.freedesktop.DBus.Introspectable", "Introspect", &error,
                                           &reply, NULL), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "s", &xml), >, 0);
        live_node = g_dbus_node_info_new_for_xml(xml, &gerror);
        g_assert_no_error(gerror);

        g_assert_true(g_file_get_contents(g_getenv("PYLOCKER_INTERFACE_XML"), &file_xml, NULL, &gerror));
        file_node = g_dbus_node_info_new_for_xml(file_xml, &gerror);
        g_assert_no_error(gerror);

        live = g_dbus_node_info_lookup_interface(live_node, PYLOCKER_INTERFACE);
        file = g_dbus_node_info_lookup_interface(file_node, PYLOCKER_INTERFACE);
        g_assert_nonnull(live);
        g_assert_nonnull(file);

        g_assert_cmpuint(g_strv_length((char **) live->methods), ==, g_strv_length((char **) file->methods));
        for (guint i = 0; file->methods[i]; i++) {
                GDBusMethodInfo *fm = file->methods[i];
                GDBusMethodInfo *lm = g_dbus_interface_info_lookup_method(live, fm->name);

                g_test_message("method %s", fm->name);
                g_assert_nonnull(lm);
                assert_args_equal(lm->in_args, fm->in_args, fm->name);
                assert_args_equal(lm->out_args, fm->out_args, fm->name);
                assert_annotations_equal(lm->annotations, fm->annotations, fm->name);
        }

        g_assert_cmpuint(g_strv_length((char **) live->signals), ==, g_strv_length((char **) file->signals));
        for (guint i = 0; file->signals[i]; i++) {
                GDBusSignalInfo *fs = file->signals[i];
                GDBusSignalInfo *ls = g_dbus_interface_info_lookup_signal(live, fs->name);

                g_assert_nonnull(ls);
                assert_args_equal(ls->args, fs->args, fs->name);
                assert_annotations_equal(ls->annotations, fs->annotations, fs->name);
        }

        g_assert_cmpuint(g_strv_length((char **) live->properties), ==, g_strv_length((char **) file->properties));
        for (guint i = 0; file->properties[i]; i++) {
                GDBusPropertyInfo *fp = file->properties[i];
                GDBusPropertyInfo *lp = g_dbus_interface_info_lookup_property(live, fp->name);

                g_test_message("property %s", fp->name);
                g_assert_nonnull(lp);
                g_assert_cmpstr(lp->signature, ==, fp->signature);
                g_assert_cmpint(lp->flags, ==, fp->flags);
                assert_annotations_equal(lp->annotations, fp->annotations, fp->name);
        }

        sd_bus_message_unref(reply);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        bool *seen = userdata;

        *seen = true;
        return 0;
}

static void test_properties(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *b = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *version = NULL, *id = NULL;
        bool changed = false;
        AsyncCall call = {};

        g_assert_cmpint(sd_bus_get_property_string(a, PYLOCKER_BUS_NAME, PYLOCKER_OBJECT_PATH,
                                                   PYLOCKER_INTERFACE, "Version", &error, &version), >=, 0);
        g_assert_cmpstr(version, ==, g_getenv("PYLOCKER_VERSION"));
        g_assert_cmpuint(get_property_t(a, "MaxLockTime"), ==, 120 * SEC);
        g_assert_cmpuint(get_property_t(a, "DefaultTimeout"), ==, 20 * SEC);

        g_assert_cmpint(sd_bus_match_signal(b, NULL, NULL, PYLOCKER_OBJECT_PATH,
                                            "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                            on_properties_changed, &changed), >=, 0);
        g_assert_cmpint(locker_call_method(a, "SetMaxLockTime", &error, NULL, "t", 5 * SEC), >=, 0);
        harness_pump_until(&f->h, &changed, 5000);
        g_assert_cmpuint(get_property_t(a, "MaxLockTime"), ==, 5 * SEC);
        changed = false;
        g_assert_cmpint(locker_call_method(a, "SetDefaultTimeout", &error, NULL, "t", 250 * MSEC), >=, 0);
        harness_pump_until(&f->h, &changed, 5000);
        g_assert_cmpuint(get_property_t(a, "DefaultTimeout"), ==, 250 * MSEC);

        /* The new default timeout applies to a timeout of 0. */
        id = acquire_ok(a, PATHS("q"), NULL);
        acquire_async(b, &call, &(AcquireArgs) { .paths = PATHS("q") });
        harness_pump_until(&f->h, &call.done, 5000);
        assert_reply_error(call.reply, "org.pylocker.Locker.Error.Timeout");

        g_assert_cmpuint(get_property_u(a, "LockCount"), ==, 1);
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 0);
        g_assert_cmpuint(get_property_u(a, "ClientCount"), ==, 2);
        async_call_clear(&call);
}

static void call_expect_error(sd_bus *bus, const char *error_name, const char *member, const char *types, ...) {
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        va_list ap;

        g_assert_cmpint(locker_new_method_call(bus, &m, member), >=, 0);
        va_start(ap, types);
        g_assert_cmpint(sd_bus_message_appendv(m, types, ap), >=, 0);
        va_end(ap);
        g_assert_cmpint(sd_bus_call(bus, m, 10 * SEC, &error, &reply), <, 0);
        g_test_message("%s: %s", error.name, error.message);
        g_assert_cmpstr(error.name, ==, error_name);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);
}

static void test_bad_arguments(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h);
        g_autofree char *held = NULL, *long_path = g_strnfill(4097, 'x'), *long_name = g_strnfill(256, 'n');
        g_autoptr(GPtrArray) many = g_ptr_array_new_with_free_func(g_free);
        const char *invalid = "org.freedesktop.DBus.Error.InvalidArgs";
        sd_bus_message *m = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;

        held = acquire_ok(a, PATHS("held"), NULL);

        call_expect_error(a, invalid, "Acquire", "asta{sv}", 0, 0, 0);
        call_expect_error(a, invalid, "Acquire", "asta{sv}", 2, "ok", "", 0, 0);
        call_expect_error(a, invalid, "Acquire", "asta{sv}", 1, long_path, 0, 0);
        call_expect_error(a, invalid, "Acquire", "asta{sv}", 1, "x", 0, 1, "sharde", "b", 1);
        call_expect_error(a, invalid, "Acquire", "asta{sv}", 1, "x", 0, 1, "shared", "s", "yes");
        call_expect_error(a, invalid, "Acquire", "asta{sv}", 1, "x", 0, 1, "ttl_usec", "u", 5);
        call_expect_error(a, invalid, "Acquire", "s", "x");
        call_expect_error(a, invalid, "AcquireHandle", "asta{sv}", 0, 0, 0);
        call_expect_error(a, invalid, "Release", "s", "HELD");
        call_expect_error(a, invalid, "Release", "u", 5);
        call_expect_error(a, invalid, "Refresh", "st", "zz", 0);
        call_expect_error(a, invalid, "ForceRelease", "s", "");
        call_expect_error(a, invalid, "SetMaxLockTime", "t", 0);
        call_expect_error(a, invalid, "SetDefaultTimeout", "t", 0);
        call_expect_error(a, invalid, "Register", "s", long_name);
        call_expect_error(a, invalid, "Register", "s", "tab\there");

        /* 257 paths: one more than the limit. */
        for (int i = 0; i < 257; i++)
                g_ptr_array_add(many, g_strdup_printf("p%d", i));
        g_ptr_array_add(many, NULL);
        g_assert_cmpint(locker_new_method_call(a, &m, "Acquire"), >=, 0);
        g_assert_cmpint(sd_bus_message_append_strv(m, (char **) many->pdata), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "ta{sv}", 0, 0), >=, 0);
        g_assert_cmpint(sd_bus_call(a, m, 10 * SEC, &error, NULL), <, 0);
        g_assert_cmpstr(error.name, ==, invalid);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);

        /* Nothing changed. */
        g_assert_cmpuint(count_locks(a), ==, 1);
        g_assert_cmpuint(get_property_u(a, "WaiterCount"), ==, 0);
        g_assert_cmpuint(get_property_t(a, "MaxLockTime"), ==, 120 * SEC);
        g_assert_cmpuint(get_property_t(a, "DefaultTimeout"), ==, 20 * SEC);
        g_assert_cmpint(release(a, held, NULL), ==, 1);
}

static void test_force_release(HarnessFixture *f, gconstpointer data) {
        sd_bus *a = harness_connect(&f->h), *admin = harness_connect(&f->h);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        g_autofree char *id = NULL;
        SignalCatcher caught = {};
        uint32_t code;
        int pipefd[2], status;
        pid_t pid;

        g_assert_cmpint(locker_match_signal(a, "LockExpired", on_lock_expired, &caught), >=, 0);
        id = acquire_ok(a, PATHS("f"), NULL);

        /* An unprivileged user may not. */
        g_assert_cmpint(pipe(pipefd), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                sd_bus *bus = NULL;
                sd_bus_error e = SD_BUS_ERROR_NULL;
                char result[256];

                close(pipefd[0]);
                if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        _exit(2);
                if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, f->h.bus_address) < 0 ||
                    sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0)
                        _exit(3);
                (void) locker_call_method(bus, "ForceRelease", &e, NULL, "s", id);
                g_snprintf(result, sizeof(result), "%s", e.name ?: "none");
                _exit(write(pipefd[1], result, strlen(result)) > 0 ? 0 : 4);
        }
        close(pipefd[1]);
        {
                char result[256] = {};

                g_assert_cmpint(read(pipefd[0], result, sizeof(result) - 1), >, 0);
                g_assert_cmpstr(result, ==, "org.freedesktop.DBus.Error.AccessDenied");
        }
        close(pipefd[0]);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_cmpuint(count_locks(a), ==, 1);

        /* Root may; the holder is told. */
        g_assert_cmpint(locker_call_method(admin, "ForceRelease", &error, &reply, "s", id), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "u", &code), >, 0);
        g_assert_cmpuint(code, ==, 1);
        reply = sd_bus_message_unref(reply);
        harness_pump_until(&f->h, &caught.done, 5000);
        g_assert_cmpstr(caught.lock_id, ==, id);
        g_assert_cmpuint(count_locks(a), ==, 0);

        g_assert_cmpint(locker_call_method(admin, "ForceRelease", &error, &reply, "s", id), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "u", &code), >, 0);
        g_assert_cmpuint(code, ==, 0);
        sd_bus_message_unref(reply);
        g_free(caught.lock_id);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        harness_test_add("/interface/introspection-matches-xml", NULL, test_introspection_matches_xml);
        harness_test_add("/interface/properties/read-back", NULL, test_properties);
        harness_test_add("/interface/args/invalid-change-nothing", NULL, test_bad_arguments);
        harness_test_add("/interface/admin/force-release", NULL, test_force_release);

        return g_test_run();
}
