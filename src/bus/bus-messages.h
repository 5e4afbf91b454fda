/* The message half of org.pylocker.Locker: Publish, the inbox calls and MessagePublished. */
#pragma once

#include <systemd/sd-bus.h>

int bus_messages_method_publish(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_messages_method_list(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_messages_method_get(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_messages_method_pop(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_messages_method_has(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_messages_method_remove(sd_bus_message *message, void *userdata, sd_bus_error *error);
