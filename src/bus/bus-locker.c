/* The org.pylocker.Locker object on D-Bus: its vtable and properties, served on a connection. */
#include <string.h>

#include "bus-errors.h"
#include "bus-internal.h"
#include "bus-polkit.h"
#include "log.h"
#include "pylocker-names.h"

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int property_get_limit(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const LockTableLimits *limits = lock_table_get_limits(((BusLocker *) userdata)->service->table);

        return sd_bus_message_append(reply, "t", strcmp(property, "MaxLockTime") == 0 ?
                                     limits->max_lock_usec : limits->default_timeout_usec);
}

static int property_get_count(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Service *service = ((BusLocker *) userdata)->service;
        size_t n;

        if (strcmp(property, "LockCount") == 0)
                n = lock_table_get_n_locks(service->table);
        else if (strcmp(property, "WaiterCount") == 0)
                n = lock_table_get_n_waiters(service->table);
        else
                n = service_get_n_clients(service);

        return sd_bus_message_append(reply, "u", (uint32_t) MIN(n, UINT32_MAX));
}

static const sd_bus_vtable locker_vtable[] = {
        SD_BUS_VTABLE_START(0),

        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MaxLockTime", "t", property_get_limit, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DefaultTimeout", "t", property_get_limit, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LockCount", "u", property_get_count, 0, 0),
        SD_BUS_PROPERTY("WaiterCount", "u", property_get_count, 0, 0),
        SD_BUS_PROPERTY("ClientCount", "u", property_get_count, 0, 0),

        SD_BUS_METHOD_WITH_ARGS("Register",
                                SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("s", client_id),
                                bus_method_register, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Acquire",
                                SD_BUS_ARGS("as", paths, "t", timeout_usec, "a{sv}", options),
                                SD_BUS_RESULT("s", lock_id, "t", token),
                                bus_method_acquire, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AcquireHandle",
                                SD_BUS_ARGS("as", paths, "t", timeout_usec, "a{sv}", options),
                                SD_BUS_RESULT("s", lock_id, "t", token, "h", handle),
                                bus_method_acquire_handle, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Release",
                                SD_BUS_ARGS("s", lock_id),
                                SD_BUS_RESULT("u", code),
                                bus_method_release, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Refresh",
                                SD_BUS_ARGS("s", lock_id, "t", ttl_usec),
                                SD_BUS_RESULT("t", expires_usec),
                                bus_method_refresh, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListLocks",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sassstbtt)", locks),
                                bus_method_list_locks, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListClients",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ssuus)", clients),
                                bus_method_list_clients, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetStatistics",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a{sv}", statistics),
                                bus_method_get_statistics, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetMaxLockTime",
                                SD_BUS_ARGS("t", usec),
                                SD_BUS_NO_RESULT,
                                bus_method_set_max_lock_time, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetDefaultTimeout",
                                SD_BUS_ARGS("t", usec),
                                SD_BUS_NO_RESULT,
                                bus_method_set_default_timeout, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ForceRelease",
                                SD_BUS_ARGS("s", lock_id),
                                SD_BUS_RESULT("u", code),
                                bus_method_force_release, SD_BUS_VTABLE_UNPRIVILEGED),

        SD_BUS_METHOD_WITH_ARGS("Publish",
                                SD_BUS_ARGS("s", message, "as", receivers, "t", timeout_usec, "a{sv}", options),
                                SD_BUS_RESULT("s", publication_id),
                                bus_method_publish, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListMessages",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sssstt)", publications),
                                bus_method_list_messages, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetMessage",
                                SD_BUS_ARGS("s", message),
                                SD_BUS_RESULT("a(sssstt)", publications),
                                bus_method_get_message, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PopMessage",
                                SD_BUS_ARGS("s", message),
                                SD_BUS_RESULT("a(sssstt)", publications),
                                bus_method_pop_message, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("HasMessage",
                                SD_BUS_ARGS("s", message),
                                SD_BUS_RESULT("b", exists),
                                bus_method_has_message, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveMessage",
                                SD_BUS_ARGS("s", message, "as", senders),
                                SD_BUS_RESULT("u", removed),
                                bus_method_remove_message, SD_BUS_VTABLE_UNPRIVILEGED),

        SD_BUS_SIGNAL_WITH_ARGS("LockExpired", SD_BUS_ARGS("s", lock_id, "as", paths), 0),
        SD_BUS_SIGNAL_WITH_ARGS("MessagePublished",
                                SD_BUS_ARGS("s", publication_id, "s", sender, "s", message, "t", expires_usec), 0),

        SD_BUS_VTABLE_END
};

int bus_locker_add_object(BusLocker *locker, sd_bus *bus) {
        int r;

        r = sd_bus_add_object_vtable(bus, NULL, PYLOCKER_OBJECT_PATH, PYLOCKER_INTERFACE, locker_vtable, locker);
        if (r < 0)
                return log_error_errno(r, "Failed to add object vtable: %m");

        /* Every call is authorized in one place, before its handler runs. */
        r = sd_bus_add_filter(bus, NULL, bus_authorize_filter, locker);
        if (r < 0)
                return log_error_errno(r, "Failed to add authorization filter: %m");

        r = sd_bus_error_add_map(pylocker_bus_error_map);
        if (r < 0)
                return log_error_errno(r, "Failed to register error map: %m");

        return 0;
}
