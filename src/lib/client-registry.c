/* The process-wide default locker and the keyed registry: the seed's SingleLocker and LockersFactory.
 * One mutex guards both; lockers are opened under it, so two threads asking for the same key at once
 * get the same locker rather than two. */
#include <errno.h>

#include <glib.h>

#include <pylocker/pylocker-client.h>

#include "client-internal.h"
#include "lib-util.h"

static GMutex registry_mutex;
static GHashTable *registry;            /* key → PylockerLocker*, one reference each */
static PylockerLocker *default_locker;

static void locker_unref_void(gpointer l) {
        pylocker_locker_unref(l);
}

/* Gives the locker in *slot (opening one if it is NULL), restarted or regenerated as flags say.
 * Returns a new reference in *ret. Called with the mutex held. */
static int get_locked(PylockerLocker **slot, const PylockerLockerOptions *options, unsigned flags,
                      PylockerLocker **ret, PylockerError *error) {
        PylockerLocker *l;
        int r;

        if (*slot && !pylocker_locker_is_connected(*slot)) {
                if (flags & PYLOCKER_REGISTRY_REGENERATE) {
                        r = pylocker_locker_open(options, &l, error);
                        if (r < 0)
                                return r;
                        pylocker_locker_unref(*slot);
                        *slot = l;
                } else if (flags & PYLOCKER_REGISTRY_RESTART) {
                        r = pylocker_locker_restart(*slot, error);
                        if (r < 0)
                                return r;
                }
        }

        if (!*slot) {
                r = pylocker_locker_open(options, slot, error);
                if (r < 0)
                        return r;
        }

        *ret = pylocker_locker_ref(*slot);
        return 0;
}

static int check_flags(unsigned flags, PylockerError *error) {
        if (flags & ~(unsigned) (PYLOCKER_REGISTRY_RESTART | PYLOCKER_REGISTRY_REGENERATE))
                return pylocker_error_setf(error, -EINVAL, "Unknown registry flags 0x%x.", flags);
        return 0;
}

_public_ int pylocker_default_locker(const PylockerLockerOptions *options, unsigned flags, PylockerLocker **ret,
                                     PylockerError *error) {
        int r;

        pylocker_error_clear(error);
        if (!ret)
                return pylocker_error_setf(error, -EINVAL, "No place for the locker given.");
        r = check_flags(flags, error);
        if (r < 0)
                return r;

        g_mutex_lock(&registry_mutex);
        r = get_locked(&default_locker, options, flags, ret, error);
        g_mutex_unlock(&registry_mutex);
        return r;
}

static int registry_get_or_pop(const char *key, const PylockerLockerOptions *options, unsigned flags, bool pop,
                               PylockerLocker **ret, PylockerError *error) {
        PylockerLocker *slot = NULL;
        gpointer old_key = NULL;
        int r;

        pylocker_error_clear(error);
        if (!key || !ret)
                return pylocker_error_setf(error, -EINVAL, "No key or no place for the locker given.");
        r = check_flags(flags, error);
        if (r < 0)
                return r;

        g_mutex_lock(&registry_mutex);
        if (!registry)
                registry = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                 locker_unref_void);
        /* Taken out of the table while we work on it, put back (or not, for pop) after. */
        if (g_hash_table_steal_extended(registry, key, &old_key, (gpointer *) &slot))
                g_free(old_key);
        else
                slot = NULL;
        r = get_locked(&slot, options, flags, ret, error);
        if (slot) {
                if (pop)
                        pylocker_locker_unref(slot);
                else
                        g_hash_table_insert(registry, g_strdup(key), slot);
        }
        g_mutex_unlock(&registry_mutex);
        return r;
}

_public_ int pylocker_registry_get(const char *key, const PylockerLockerOptions *options, unsigned flags,
                                   PylockerLocker **ret, PylockerError *error) {
        return registry_get_or_pop(key, options, flags, /* pop= */ false, ret, error);
}

_public_ int pylocker_registry_pop(const char *key, const PylockerLockerOptions *options, unsigned flags,
                                   PylockerLocker **ret, PylockerError *error) {
        return registry_get_or_pop(key, options, flags, /* pop= */ true, ret, error);
}

_public_ void pylocker_registry_clear(void) {
        g_autoptr(GHashTable) table = NULL;
        PylockerLocker *l;

        g_mutex_lock(&registry_mutex);
        table = g_steal_pointer(&registry);
        l = g_steal_pointer(&default_locker);
        g_mutex_unlock(&registry_mutex);

        /* Outside the mutex: closing may run callbacks. */
        pylocker_locker_unref(l);
}
