/* Between the parts of the D-Bus front end. */
#pragma once

#include <systemd/sd-bus.h>

#include "bus-locker.h"

/* Finds the calling client, registering it on its first call. */
int bus_locker_get_client(BusLocker *locker, sd_bus_message *message, Client **ret, sd_bus_error *error);

/* The core's answer as a D-Bus error: returns the negative errno sd-bus expects from a handler. */
int bus_error_from_service(sd_bus_error *error, const ServiceError *e);
/* The same, as the reply to a deferred call. */
int bus_reply_service_error(sd_bus_message *call, const ServiceError *e);

/* A method return holding one open array of contents; bus_send_array_reply() closes and sends it. */
int bus_new_array_reply(sd_bus_message *call, const char *contents, sd_bus_message **ret);
int bus_send_array_reply(sd_bus_message *reply);

/* Reads an array of strings, pointing into the message, one at a time: at most max + 1 of them, so
 * that an oversized array is refused after max + 1 reads, whatever its length (*ret_too_many set,
 * the rest left unread). A string that is not valid UTF-8 (sd-bus also refuses noncharacters) gives
 * InvalidArgs naming what, rather than sd-bus's InconsistentMessage. */
int bus_read_strings(sd_bus_message *message, size_t max, const char *what, GPtrArray **ret, bool *ret_too_many,
                     sd_bus_error *error);

/* The lock calls (bus-locks.c). */
int bus_method_register(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_acquire(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_acquire_handle(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_release(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_refresh(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_list_locks(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_list_clients(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_set_max_lock_time(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_set_default_timeout(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_force_release(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_append_lock_paths(sd_bus_message *m, const Lock *lock);

/* The message calls (bus-messages.c). */
int bus_method_publish(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_list_messages(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_get_message(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_pop_message(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_has_message(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_method_remove_message(sd_bus_message *message, void *userdata, sd_bus_error *error);
