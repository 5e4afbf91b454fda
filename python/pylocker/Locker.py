# -*- coding: utf-8 -*-
"""pylocker's old Locker (a lock file and a lock pass) on libpylocker-dbus's lock-file locker.

The lock file's format and the codes are the seed's, so this Locker, the seed's Python Locker, C
programs using the library and ``pylockctl file-lock`` honour each other's locks (the library's
scheme is described in docs/filelock.md).
"""
import atexit
import os
import weakref

from . import _pylocker
from ._common import Error, PylockerTypeError, PylockerValueError, check_seconds, check_str, usec

__all__ = ['Locker']

_LOCKERS = weakref.WeakSet()


@atexit.register
def _release_at_exit():
    # The seed releases its locks at exit; a weak set does it without keeping lockers alive.
    for locker in list(_LOCKERS):
        try:
            if locker._held:
                locker.release_lock()
        except Exception:
            pass


class Locker(object):
    """
    This is the old Locker implementation: a lock file holding the lock pass of whoever has the
    lock. Any user who knows the lock pass can access whatever is locked.

    .. code-block:: python

        import uuid
        from pylocker import Locker

        #  create a unique lock pass. This can be any string.
        lpass = str(uuid.uuid1())

        # create locker instance.
        FL = Locker(filePath=None, lockPass=lpass)

        # try to acquire the lock
        acquired, code = FL.acquire_lock()

        # check if acquired.
        if acquired:
            print("Lock acquired")
        else:
            print("Unable to acquire the lock. exit code %s"%code)

        # now release the lock.
        FL.release_lock()
    """

    def __init__(self, filePath, lockPass, mode='ab', lockPath=None, timeout=60, wait=0, deadLock=120):
        self.__fd = None
        self._held = False
        lockPass = self.__check_pass(lockPass)
        self.__lock = _pylocker.FileLock(lockPass)
        self.__lockPass = lockPass
        self.set_file_path(filePath)
        self.set_mode(mode)
        self.set_lock_path(lockPath)
        self.set_wait(wait)
        self.set_timeout(timeout)
        self.set_dead_lock(deadLock)
        _LOCKERS.add(self)

    def __enter__(self):
        acquired, code = self.acquire_lock()
        self.__fd = None
        if acquired and self.__filePath is not None:
            try:
                self.__fd = open(self.__filePath, self.__mode)
            except BaseException:
                self.release_lock()
                raise
        return acquired, code, self.__fd

    def __exit__(self, type, value, traceback):
        self.release_lock()

    @staticmethod
    def __check_pass(lockPass):
        lockPass = check_str(lockPass, 'lockPass')
        if '\n' in lockPass:
            raise PylockerValueError("lockPass must be not contain a new line")
        return lockPass

    @property
    def filePath(self):
        """locker file path"""
        return self.__filePath

    @property
    def lockPass(self):
        """locker pass"""
        return self.__lockPass

    @property
    def lockPath(self):
        """locker lock path"""
        return self.__lock.settings()[2]

    @property
    def timeout(self):
        """locker timeout in seconds"""
        return self.__timeout

    @property
    def wait(self):
        """locker wait in seconds"""
        return self.__wait

    @property
    def deadLock(self):
        """locker deadLock in seconds"""
        return self.__deadLock

    def set_mode(self, mode):
        """Set file opening mode: r, r+, w, w+, a, a+, each also with b."""
        if not isinstance(mode, str):
            raise PylockerTypeError("mode must be a string, not %s" % type(mode).__name__)
        try:
            self.__lock.set_mode(mode)
        except Error:
            raise PylockerValueError("mode must be any of 'r','rb','r+','rb+','w','wb','w+','wb+','a','ab','a+',"
                                     "'ab+' '%s' is given" % mode) from None
        self.__mode = mode

    def set_file_path(self, filePath):
        """Set the file that is opened (in the locker's mode) whenever the lock is had with 'with'."""
        if filePath is not None:
            filePath = check_str(filePath, 'filePath')
        self.__filePath = filePath

    def set_lock_pass(self, lockPass):
        """Set the locking pass (a lock set with the old pass is released)."""
        lockPass = self.__check_pass(lockPass)
        self.__lock.set_lock_pass(lockPass)
        self._held = False
        self.__lockPass = lockPass

    def set_lock_path(self, lockPath):
        """Set the managing lock file path: None for '.lock' in the file's directory, or in the
        working directory when there is no file."""
        if lockPath is not None:
            lockPath = check_str(lockPath, 'lockPath')
        elif self.__filePath is None:
            lockPath = os.path.join(os.getcwd(), '.lock')
        else:
            lockPath = os.path.join(os.path.dirname(os.path.abspath(self.__filePath)), '.lock')
        try:
            self.__lock.set_lock_path(lockPath)
        except Error as e:
            raise PylockerValueError("lockPath cannot be used: %s" % e.strerror) from None

    def set_timeout(self, timeout):
        """set the timeout limit (seconds, >= wait; 0 tries once)."""
        try:
            timeout = check_seconds(timeout, 'timeout', allow_zero=True)
            if timeout < self.__wait:
                raise PylockerValueError("timeout must not be smaller than wait")
        except (TypeError, ValueError):
            raise PylockerValueError('timeout must be a positive number bigger than wait') from None
        self.__lock.set_timeout(usec(timeout))
        self.__timeout = timeout

    def set_wait(self, wait):
        """set the waiting time between attempts (seconds; 0: a short back-off)."""
        try:
            wait = check_seconds(wait, 'wait', allow_zero=True)
        except (TypeError, ValueError):
            raise PylockerValueError('wait must be a positive number') from None
        if wait == float('inf'):
            raise PylockerValueError('wait must be a positive number')
        self.__lock.set_wait(usec(wait))
        self.__wait = wait

    def set_dead_lock(self, deadLock):
        """Set the dead lock time (seconds): an older lock is taken for forgotten."""
        try:
            deadLock = check_seconds(deadLock, 'deadLock', allow_zero=True)
        except (TypeError, ValueError):
            raise PylockerValueError('deadLock must be a positive number') from None
        self.__lock.set_dead_lock(usec(deadLock))
        self.__deadLock = deadLock

    def acquire_lock(self, verbose=False, raiseError=False):
        """Try to acquire the lock. Returns (result, code): 0 set, 1 was already set with this pass,
        2 an old or forgotten lock was taken over, 3 not set before timeout (result False), or an
        Exception when setting it failed (result False)."""
        try:
            code = self.__lock.acquire()
        except Error as e:
            code = Exception("Failed to set the lock (%s)" % e.strerror)
            code.__cause__ = e
            if verbose:
                print(str(code))
            if raiseError:
                raise code from e
            return False, code
        acquired = code != 3
        if acquired:
            self._held = True
        return acquired, code

    def release_lock(self, verbose=False, raiseError=False):
        """Release the lock when set and close file descriptor if opened. Returns (result, code):
        0 no lock file, 1 lock file empty, 2 released, 3 released and the file closed, 4 held by
        another pass (result False), or an Exception (result False)."""
        try:
            code = self.__lock.release()
        except Error as e:
            code = Exception("Unable to release lock file '%s' (%s)" % (self.lockPath, e.strerror))
            code.__cause__ = e
            if verbose:
                print(str(code))
            if raiseError:
                raise code from e
            return False, code
        released = code != 4
        if released:
            self._held = False
        if released and self.__fd is not None:
            try:
                if not self.__fd.closed:
                    self.__fd.flush()
                    os.fsync(self.__fd.fileno())
                    self.__fd.close()
            except Exception as err:
                code = Exception("Unable to close file descriptor of locked file '%s' (%s)" % (self.__filePath, err))
                if verbose:
                    print(str(code))
                if raiseError:
                    raise code from err
            else:
                code = 3
        return released, code

    def refresh(self):
        """Rewrite the lock's time, so that a long holder is not taken for forgotten after deadLock."""
        self.__lock.refresh()

    def acquire(self, *args, **kwargs):
        """Alias to acquire_lock"""
        return self.acquire_lock(*args, **kwargs)

    def release(self, *args, **kwargs):
        """Alias to release_lock"""
        return self.release_lock(*args, **kwargs)
