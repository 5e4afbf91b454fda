/* What the daemon knows, for anyone who asks: its properties (status), every held lock (ListLocks) and
 * every client (ListClients), on the bus or the wire. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include <pylocker/pylocker-client.h>

#include "client-internal.h"
#include "client-wire.h"
#include "lib-util.h"
#include "sd-cleanup.h"

static int get_status_wire(PylockerLocker *locker, PylockerStatus *ret, PylockerError *error) {
        WireMessage m = { .header.type = WIRE_GET_STATUS };
        PylockerStatus status = {};
        WireReply reply;
        int r;

        r = wire_call(locker, &m, CALL_TIMEOUT_USEC, WIRE_STATUS, &reply, error);
        if (r < 0)
                return r;
        (void) g_strlcpy(status.version, reply.message.status.version, sizeof(status.version));
        status.max_lock_time_usec = reply.message.status.max_lock_usec;
        status.default_timeout_usec = reply.message.status.default_timeout_usec;
        status.lock_count = reply.message.status.lock_count;
        status.waiter_count = reply.message.status.waiter_count;
        status.client_count = reply.message.status.client_count;
        wire_reply_done(locker, &reply);
        *ret = status;
        return 0;
}

_public_ int pylocker_locker_get_status(PylockerLocker *locker, PylockerStatus *ret, PylockerError *error) {
        g_auto(sd_bus_error) bus_error = SD_BUS_ERROR_NULL;
        g_autoptr(sd_bus_message) reply = NULL;
        PylockerStatus status = {};
        int r;

        pylocker_error_clear(error);
        if (!locker || !ret)
                return pylocker_error_setf(error, -EINVAL, "No locker or no place for the status given.");
        r = locker_check_usable(locker, error);
        if (r < 0)
                return r;

        if (locker->wire) {
                r = get_status_wire(locker, &status, error);
                if (r < 0)
                        return r;
        } else {
                r = sd_bus_call_method(locker->bus, locker->direct ? NULL : locker->daemon_unique,
                                       PYLOCKER_OBJECT_PATH, "org.freedesktop.DBus.Properties", "GetAll", &bus_error,
                                       &reply, "s", PYLOCKER_INTERFACE);
                if (r < 0)
                        return locker_map_error(locker, r, &bus_error, "GetAll", error);
                r = locker_read_properties(reply, &status);
                if (r < 0)
                        return locker_map_error(locker, r, NULL, "GetAll", error);
        }

        /* The wire has no PropertiesChanged: what we keep is as fresh as the last status. */
        locker->max_lock_usec = status.max_lock_time_usec;
        locker->server_default_timeout_usec = status.default_timeout_usec;
        *ret = status;
        return 0;
}

static void lock_info_clear(PylockerLockInfo *info) {
        g_free(info->lock_id);
        g_strfreev(info->paths);
        g_free(info->owner_id);
        g_free(info->owner_name);
}

_public_ void pylocker_lock_info_array_free(PylockerLockInfo *infos, size_t n) {
        if (!infos)
                return;
        for (size_t i = 0; i < n; i++)
                lock_info_clear(&infos[i]);
        g_free(infos);
}

static int read_lock_infos(sd_bus_message *reply, GArray *infos) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(sassstbtt)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'r', "sassstbtt")) > 0) {
                PylockerLockInfo info = {};
                const char *id, *owner, *owner_name;
                int shared;

                r = sd_bus_message_read(reply, "s", &id);
                if (r < 0)
                        return r;
                r = sd_bus_message_read_strv(reply, &info.paths);
                if (r < 0)
                        return r;
                r = sd_bus_message_read(reply, "sstbtt", &owner, &owner_name, &info.token, &shared,
                                        &info.acquired_usec, &info.expires_usec);
                if (r < 0) {
                        g_strfreev(info.paths);
                        return r;
                }
                info.lock_id = g_strdup(id);
                info.owner_id = g_strdup(owner);
                info.owner_name = g_strdup(owner_name);
                info.flags = shared ? PYLOCKER_LOCK_INFO_SHARED : 0;
                g_array_append_val(infos, info);

                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

static int list_locks_wire(PylockerLocker *locker, PylockerLockInfo **ret, size_t *ret_n, PylockerError *error) {
        WireMessage m = { .header.type = WIRE_LIST_LOCKS };
        PylockerLockInfo *infos;
        WireReply reply;
        size_t n;
        int r;

        r = wire_call(locker, &m, CALL_TIMEOUT_USEC, WIRE_LOCKS, &reply, error);
        if (r < 0)
                return r;
        n = reply.message.locks.n_items;
        infos = g_new0(PylockerLockInfo, n);
        for (size_t i = 0; i < n; i++) {
                const WireLockInfo *w = &reply.message.locks.items[i];
                char id[WIRE_LOCK_ID_SIZE * 2 + 1];

                wire_lock_id_format(w->lock_id, id);
                infos[i] = (PylockerLockInfo) {
                        .lock_id = g_strdup(id),
                        .paths = g_new0(char *, w->n_paths + 1),
                        .owner_id = g_strdup(w->owner),
                        .owner_name = g_strdup(w->owner_name),
                        .token = w->token,
                        .acquired_usec = w->acquired_usec,
                        .expires_usec = w->expires_usec,
                        .flags = w->shared ? PYLOCKER_LOCK_INFO_SHARED : 0,
                };
                for (size_t j = 0; j < w->n_paths; j++)
                        infos[i].paths[j] = g_strdup(w->paths[j]);
        }
        wire_reply_done(locker, &reply);
        *ret_n = n;
        *ret = infos;
        return 0;
}

_public_ int pylocker_locker_list_locks(PylockerLocker *locker, PylockerLockInfo **ret, size_t *ret_n,
                                        PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        GArray *infos;
        int r;

        pylocker_error_clear(error);
        if (!locker || !ret || !ret_n)
                return pylocker_error_setf(error, -EINVAL, "No locker or no place for the locks given.");
        if (locker->wire)
                return list_locks_wire(locker, ret, ret_n, error);

        r = locker_new_call(locker, "ListLocks", &m, error);
        if (r < 0)
                return r;
        r = locker_call(locker, m, CALL_TIMEOUT_USEC, &reply, error);
        if (r < 0)
                return r;

        infos = g_array_new(FALSE, TRUE, sizeof(PylockerLockInfo));
        r = read_lock_infos(reply, infos);
        if (r < 0) {
                size_t n = infos->len;

                pylocker_lock_info_array_free((PylockerLockInfo *) (void *) g_array_free(infos, FALSE), n);
                return locker_map_error(locker, r, NULL, "ListLocks", error);
        }
        *ret_n = infos->len;
        *ret = (PylockerLockInfo *) (void *) g_array_free(infos, FALSE);
        return 0;
}

_public_ void pylocker_strv_free(char **strv) {
        g_strfreev(strv);
}

_public_ void pylocker_strv_freep(char ***p) {
        if (p)
                g_clear_pointer(p, g_strfreev);
}

/* g_ptr_array_sort() passes pointers to the elements. */
static gint compare_strp(gconstpointer a, gconstpointer b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

_public_ int pylocker_locker_get_locked_paths(PylockerLocker *locker, char ***ret, PylockerError *error) {
        g_autoptr(GHashTable) seen = NULL;
        g_autoptr(GPtrArray) paths = NULL;
        PylockerLockInfo *infos;
        size_t n;
        int r;

        if (!ret) {
                pylocker_error_clear(error);
                return pylocker_error_setf(error, -EINVAL, "No place for the paths given.");
        }
        r = pylocker_locker_list_locks(locker, &infos, &n, error);
        if (r < 0)
                return r;

        seen = g_hash_table_new(g_str_hash, g_str_equal);
        paths = g_ptr_array_new();
        for (size_t i = 0; i < n; i++)
                for (char **p = infos[i].paths; p && *p; p++)
                        if (g_hash_table_add(seen, *p))
                                g_ptr_array_add(paths, g_strdup(*p));
        pylocker_lock_info_array_free(infos, n);

        g_ptr_array_sort(paths, compare_strp);
        g_ptr_array_add(paths, NULL);
        *ret = (char **) g_ptr_array_free(g_steal_pointer(&paths), FALSE);
        return 0;
}

_public_ void pylocker_client_info_array_free(PylockerClientInfo *infos, size_t n) {
        if (!infos)
                return;
        for (size_t i = 0; i < n; i++) {
                g_free(infos[i].client_id);
                g_free(infos[i].name);
                g_free(infos[i].transport);
        }
        g_free(infos);
}

static int list_clients_wire(PylockerLocker *locker, PylockerClientInfo **ret, size_t *ret_n,
                             PylockerError *error) {
        WireMessage m = { .header.type = WIRE_LIST_CLIENTS };
        PylockerClientInfo *infos;
        WireReply reply;
        size_t n;
        int r;

        r = wire_call(locker, &m, CALL_TIMEOUT_USEC, WIRE_CLIENTS, &reply, error);
        if (r < 0)
                return r;
        n = reply.message.clients.n_items;
        infos = g_new0(PylockerClientInfo, n);
        for (size_t i = 0; i < n; i++) {
                const WireClientInfo *w = &reply.message.clients.items[i];

                infos[i] = (PylockerClientInfo) {
                        .client_id = g_strdup(w->id),
                        .name = g_strdup(w->name),
                        .uid = w->uid,
                        .pid = w->pid,
                        .transport = g_strdup(w->transport),
                };
        }
        wire_reply_done(locker, &reply);
        *ret_n = n;
        *ret = infos;
        return 0;
}

_public_ int pylocker_locker_list_clients(PylockerLocker *locker, PylockerClientInfo **ret, size_t *ret_n,
                                          PylockerError *error) {
        g_autoptr(sd_bus_message) m = NULL, reply = NULL;
        g_autoptr(GArray) infos = NULL;
        const char *id, *name, *transport;
        uint32_t uid, pid;
        size_t n;
        int r;

        pylocker_error_clear(error);
        if (!locker || !ret || !ret_n)
                return pylocker_error_setf(error, -EINVAL, "No locker or no place for the clients given.");
        if (locker->wire)
                return list_clients_wire(locker, ret, ret_n, error);

        r = locker_new_call(locker, "ListClients", &m, error);
        if (r < 0)
                return r;
        r = locker_call(locker, m, CALL_TIMEOUT_USEC, &reply, error);
        if (r < 0)
                return r;

        infos = g_array_new(FALSE, TRUE, sizeof(PylockerClientInfo));
        r = sd_bus_message_enter_container(reply, 'a', "(ssuus)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(ssuus)", &id, &name, &uid, &pid, &transport)) > 0) {
                PylockerClientInfo info = {
                        .client_id = g_strdup(id),
                        .name = g_strdup(name),
                        .uid = uid,
                        .pid = pid,
                        .transport = g_strdup(transport),
                };
                g_array_append_val(infos, info);
        }
        if (r < 0) {
                n = infos->len;
                pylocker_client_info_array_free((PylockerClientInfo *) (void *) g_array_free(g_steal_pointer(&infos),
                                                                                            FALSE), n);
                return locker_map_error(locker, r, NULL, "ListClients", error);
        }
        *ret_n = infos->len;
        *ret = (PylockerClientInfo *) (void *) g_array_free(g_steal_pointer(&infos), FALSE);
        return 0;
}
