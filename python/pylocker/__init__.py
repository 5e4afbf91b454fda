# -*- coding: utf-8 -*-
"""
PYthon LOCKER or pylocker package provides a pythonic way to create locking system that can be used
for general purposes as well as for locking files upon reading or writing.

This pylocker is pylocker 3.1.0's API over pylockerd, the lock service of pylocker-dbus, through its
C library libpylocker-dbus:

* ServerLocker, SingleLocker, LockersFactory and FACTORY: locks on string paths and messages between
  threads, processes and machines, served by pylockerd (never by a locker), over the system bus, a
  session bus, or for remote machines the daemon's TLS bridge;
* Locker: the lock file and lock pass, in the seed's file format, compatible with the seed's Locker,
  with C programs and with ``pylockctl file-lock``.

See docs/python.md for how each of the seed's notions maps.
"""
from .__pkginfo__ import __version__, __author__, __email__, __onlinedoc__, __repository__, __pypi__
from ._common import (Error, LockNotOwnedError, PylockerConnectionError, PylockerStateError, PylockerTypeError,
                      PylockerValueError)
from .Locker import Locker
from .ServerLocker import ServerLocker, SingleLocker, LockersFactory, FACTORY


def get_version():
    """Get pylocker's version number."""
    return __version__


def get_author():
    """Get pylocker's author's name."""
    return __author__


def get_email():
    """Get pylocker's author's email."""
    return __email__


def get_doc():
    """Get pylocker's official online documentation link."""
    return __onlinedoc__


def get_repository():
    """Get pylocker's official online repository link."""
    return __repository__


def get_pypi():
    """Get pylocker pypi's link."""
    return __pypi__
