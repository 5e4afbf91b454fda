/* libpylocker-dbus: the public API, one include for all of it. */
#ifndef PYLOCKER_H
#define PYLOCKER_H

#include <pylocker/pylocker-cleanup.h>
#include <pylocker/pylocker-client.h>
#include <pylocker/pylocker-error.h>
#include <pylocker/pylocker-filelock.h>
#include <pylocker/pylocker-messages.h>

#endif
