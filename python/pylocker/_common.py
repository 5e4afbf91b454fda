# -*- coding: utf-8 -*-
"""What the seed's modules share here: exceptions, argument checks and units.

Where the seed checked an argument with an ``assert``, the exceptions raised here are also
``AssertionError`` subclasses, so code written against the seed that caught ``AssertionError`` keeps
working, while the type says what is wrong.
"""
import math
import numbers

from . import _pylocker

#: A call of libpylocker-dbus failed (an ``OSError``: errno, strerror, and ``dbus_name``).
Error = _pylocker.Error

INFINITY_USEC = _pylocker.INFINITY


class PylockerTypeError(TypeError, AssertionError):
    """An argument of the wrong type."""


class PylockerValueError(ValueError, AssertionError):
    """An argument with a value that cannot be used."""


class PylockerStateError(RuntimeError, AssertionError):
    """The call is not possible in the locker's state (connecting a connected locker, say)."""


class PylockerConnectionError(ConnectionError):
    """pylockerd could not be reached (or the bridge refused the connection)."""

    def __init__(self, message, error=None):
        super().__init__(message)
        #: the library's error (errno, strerror, dbus_name), when there is one
        self.error = error


class LockNotOwnedError(PermissionError):
    """release_lock() of a lock that another client of pylockerd holds."""


def check_bool(value, what):
    if not isinstance(value, bool):
        raise PylockerTypeError("%s must be a boolean, not %s" % (what, type(value).__name__))
    return value


def check_str(value, what, allow_bytes=True):
    """A str; bytes are taken as UTF-8, as the seed took both."""
    if allow_bytes and isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode('utf-8')
        except UnicodeDecodeError:
            raise PylockerValueError("%s must be valid UTF-8" % what) from None
    if not isinstance(value, str):
        raise PylockerTypeError("%s must be a string, not %s" % (what, type(value).__name__))
    return value


def check_seconds(value, what, positive=True, allow_zero=False):
    """A number of seconds as a float: > 0 (or >= 0 with allow_zero); inf means forever."""
    if (type(value) is float or type(value) is int) and value > 0 and value == value:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise PylockerTypeError("%s must be a number of seconds, not %s" % (what, type(value).__name__))
    value = float(value)
    if math.isnan(value):
        raise PylockerValueError("%s must be a number, not NaN" % what)
    if value < 0 or (value == 0 and not allow_zero):
        raise PylockerValueError("%s must be a %s number of seconds, not %r"
                                 % (what, "non-negative" if allow_zero else "positive", value))
    return value


def usec(seconds):
    """Seconds (float, inf for never) to the library's microseconds."""
    if math.isinf(seconds):
        return INFINITY_USEC
    return min(int(round(seconds * 1e6)), INFINITY_USEC - 1)


def seconds(usec_value):
    """The library's microseconds to seconds (inf for its infinity)."""
    if usec_value >= INFINITY_USEC:
        return math.inf
    return usec_value / 1e6
