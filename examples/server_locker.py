#!/usr/bin/python3
"""The seed's ServerLocker example, against pylockerd through Gio (GLib's own D-Bus).

    L = ServerLocker(password='server_password')
    acquired, lockId = L.acquire_lock('my_path')
    ...
    L.release_lock(lockId)

Usage: server_locker.py [DBUS_ADDRESS]   (default: the system bus)
"""
import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

NAME, PATH, IFACE = "org.pylocker.Locker", "/org/pylocker/Locker", "org.pylocker.Locker"


class ServerLocker:
    """Where the seed asked for a password, the bus vouches for the caller."""

    def __init__(self, address=None, name=None, default_timeout=20):
        if address:
            flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
                     Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
            self.bus = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
        else:
            self.bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
        self.default_timeout = default_timeout
        self.proxy = Gio.DBusProxy.new_sync(self.bus, Gio.DBusProxyFlags.NONE, None, NAME, PATH, IFACE, None)
        if name:
            self.proxy.call_sync("Register", GLib.Variant("(s)", (name,)), Gio.DBusCallFlags.NONE, -1, None)

    def acquire_lock(self, path, timeout=None):
        """(True, lock_id) or (False, code): 0 timed out, 1 connection lost, or the error message."""
        paths = [path] if isinstance(path, str) else list(path)
        timeout = self.default_timeout if timeout is None else timeout
        args = GLib.Variant("(asta{sv})", (paths, int(timeout * 1e6), {}))
        try:
            lock_id, _token = self.proxy.call_sync("Acquire", args, Gio.DBusCallFlags.NONE,
                                                   int((timeout + 10) * 1000), None).unpack()
            return True, lock_id
        except GLib.Error as e:
            if "org.pylocker.Locker.Error.Timeout" in e.message:
                return False, 0
            if e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CLOSED):
                return False, 1
            return False, e.message

    def release_lock(self, lock_id):
        """(True, 0) not found, (True, 1) released, or (False, message)."""
        try:
            (code,) = self.proxy.call_sync("Release", GLib.Variant("(s)", (lock_id,)),
                                           Gio.DBusCallFlags.NONE, -1, None).unpack()
            return True, code
        except GLib.Error as e:
            return False, e.message


def main():
    L = ServerLocker(address=sys.argv[1] if len(sys.argv) > 1 else None, name="seed-example")

    acquired, lock_id = L.acquire_lock("my_path")
    if acquired:
        print("Lock acquired for 'my_path'")
    else:
        print("Unable to acquire the lock. exit code %s" % lock_id)
        return 1
    print("released:", L.release_lock(lock_id))

    acquired, lock_id = L.acquire_lock(("path_to_file1", "path_to_file2", "path_to_directory"))
    if acquired:
        print("Lock acquired for all of 'path_to_file1', 'path_to_file2' and 'path_to_directory'")
    else:
        print("Unable to acquire the lock. exit code %s" % lock_id)
        return 1
    print("released:", L.release_lock(lock_id))
    print("released again:", L.release_lock(lock_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
