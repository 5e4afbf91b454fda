/* The org.pylocker.Locker object on D-Bus: vtable, method handlers, deferred replies and signals. */
#pragma once

#include <systemd/sd-bus.h>

#include "lock-table.h"

typedef struct Manager Manager;

/* Serves the object on a connection (the bus, or later a peer-to-peer one). */
int bus_locker_add_object(Manager *manager, sd_bus *bus);

typedef struct Client Client;

/* Finds the calling client, registering it on its first call. */
int bus_locker_get_client(Manager *manager, sd_bus_message *message, Client **ret, sd_bus_error *error);

/* A method return holding one open array of contents; bus_locker_send_array_reply() closes and
 * sends it. */
int bus_locker_new_array_reply(sd_bus_message *call, const char *contents, sd_bus_message **ret);
int bus_locker_send_array_reply(sd_bus_message *reply);

/* A signal addressed to one client alone: unicast on the bus, or on its own peer connection. */
int bus_locker_new_signal_to(Client *client, const char *member, sd_bus_message **ret);

/* Lock table callbacks: answer deferred Acquire calls and tell holders of lost locks. */
void bus_locker_lock_granted(Manager *manager, Lock *lock);
void bus_locker_lock_ended(Manager *manager, Lock *lock, LockEndReason reason);
