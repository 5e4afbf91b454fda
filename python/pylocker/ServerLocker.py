# -*- coding: utf-8 -*-
"""pylocker's ServerLocker, SingleLocker and LockersFactory over pylockerd.

pylockerd is always the lock server: a ServerLocker never serves, it is one client of the daemon,
with its own connection (so two instances in one process hold separate locks and inboxes). Where it
connects and how each of the seed's notions maps is described in docs/python.md.
"""
import errno
import os
import re
import socket
import threading
import time
import uuid
import weakref

from . import _pylocker
from ._common import (Error, LockNotOwnedError, PylockerConnectionError, PylockerStateError,
                      PylockerTypeError, PylockerValueError, check_bool, check_seconds, check_str, seconds,
                      usec)

__all__ = ['ServerLocker', 'SingleLocker', 'LockersFactory', 'FACTORY']

#: What get_running_server_fingerprint() and the server* properties name the server: the daemon.
SERVER_UNIQUE_NAME = 'org.pylocker.Locker'
SERVER_NAME = 'pylockerd'

# Lock ids of pylockerd: 128 random bits as 32 lowercase hex digits.
_LOCK_ID = re.compile(r'[0-9a-f]{32}\Z')

# The bridge's limits on a shared secret (after one trailing newline is dropped).
_SECRET_MIN, _SECRET_MAX = 16, 4096

# Errors that mean the connection is gone, or was never there / was closed.
_LOST = (errno.ECONNRESET, errno.EPIPE, errno.ESHUTDOWN)
_CLOSED = (errno.ENOTCONN, errno.ECANCELED)

_INSTANCES = weakref.WeakSet()


def _local_endpoint():
    """Where a local locker connects: (transport, D-Bus address, private socket, direct socket off,
    description). PYLOCKER_ADDRESS (a D-Bus address) wins over PYLOCKER_BUS (system, the default, or
    session); PYLOCKER_PRIVATE_SOCKET names the daemon's direct socket, or 'none' for the bus only."""
    private = os.environ.get('PYLOCKER_PRIVATE_SOCKET') or None
    disabled = private is not None and private.lower() in ('none', 'off', 'no', '0')
    if disabled:
        private = None
    address = os.environ.get('PYLOCKER_ADDRESS')
    if address:
        return _pylocker.TRANSPORT_ADDRESS, address, private, disabled, address
    bus = (os.environ.get('PYLOCKER_BUS') or 'system').lower()
    if bus == 'system':
        return _pylocker.TRANSPORT_SYSTEM, None, private, disabled, 'system bus'
    if bus in ('session', 'user'):
        return _pylocker.TRANSPORT_USER, None, private, disabled, 'session bus'
    raise PylockerValueError("PYLOCKER_BUS must be 'system' or 'session', not %r" % bus)


def _machine_address():
    """This machine's address as the seed found it: the source address of a route out, or 127.0.0.1
    (no packet is sent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(('10.255.255.255', 1))
        return s.getsockname()[0]
    except OSError:
        return '127.0.0.1'
    finally:
        s.close()


def _check_paths(path):
    """A path or a list, tuple or set of paths, as a tuple of str."""
    if type(path) is str and path:
        return (path,)
    if isinstance(path, (str, bytes, bytearray)):
        paths = (check_str(path, 'path'),)
    elif isinstance(path, (list, tuple, set, frozenset)):
        paths = tuple(check_str(p, 'path') for p in path)
    else:
        raise PylockerTypeError("path must be a string or a list of strings, not %s" % type(path).__name__)
    if not paths:
        raise PylockerValueError("path must be given")
    for p in paths:
        if not p:
            raise PylockerValueError("a path must not be empty")
    return paths


def _check_names(names, what):
    if names is None:
        return None
    if not isinstance(names, (list, tuple, set, frozenset)):
        raise PylockerTypeError("%s must be None or a list of unique names" % what)
    return tuple(check_str(n, '%s items' % what) for n in names)


def _check_password(password, what='password'):
    if isinstance(password, str):
        return password.encode('utf-8')
    if isinstance(password, (bytes, bytearray)):
        return bytes(password)
    raise PylockerTypeError("%s must be a string, not %s" % (what, type(password).__name__))


def _publication(item):
    """One inbox entry as the seed's publication dict."""
    message, pid, sender_id, sender_name, published, expires = item
    sender = sender_name or sender_id
    return {'action': 'publish',
            'message': message,
            'request_unique_id': pid,
            'client_unique_name': sender,
            'client_name': sender,
            'sender_id': sender_id,
            'request_utctime': published / 1e6,
            'timeout': (expires - published) / 1e6 if expires else None,
            'expires_utctime': expires / 1e6 if expires else None}


def _publication_dict(items):
    """The seed's publication dict of one message: its latest publication, with all of them (oldest
    first) under 'publications'; None when there is none."""
    if not items:
        return None
    publications = [_publication(i) for i in items]
    result = dict(publications[-1])
    result['publications'] = publications
    return result


class ServerLocker(object):
    """
    pylocker's ServerLocker as a client of pylockerd: locks on string paths, and messages, between
    threads, processes and machines. The daemon is the lock server; this instance never serves. The
    password is accepted and unused locally (the bus credentials decide, polkit authorizes), and is
    the bridge's shared secret for connect() to a remote pylockerd.

    .. code-block:: python

        from pylocker import ServerLocker

        # create locker instance.
        L = ServerLocker(password='server_password')

        # try to acquire the lock a single file path
        acquired, lockId = L.acquire_lock('my_path')

        # check if acquired.
        if acquired:
            print("Lock acquired for 'my_path'")
        else:
            print("Unable to acquire the lock. exit code %s"%lockId)

        # now release the lock.
        L.release_lock(lockId)
    """

    def __init__(self, password, name=None, serverFile=True, defaultTimeout=20, maxLockTime=120, port=3000,
                 allowServing=True, autoconnect=True, reconnect=False, connectTimeout=20, logger=False,
                 blocking=False, debugMode=False):
        self._setup(password=password, name=name, serverFile=serverFile, defaultTimeout=defaultTimeout,
                    maxLockTime=maxLockTime, port=port, allowServing=allowServing, reconnect=reconnect,
                    connectTimeout=connectTimeout, logger=logger, blocking=blocking, debugMode=debugMode)
        check_bool(autoconnect, 'autoconnect')
        if autoconnect:
            self.start()

    def _setup(self, password, name, serverFile, defaultTimeout, maxLockTime, port, allowServing, reconnect,
               connectTimeout, logger, blocking, debugMode):
        self._lock = threading.RLock()
        self._client = _pylocker.Client()
        self.debugMode = debugMode
        self._uniqueName = str(uuid.uuid4())
        if name is not None:
            name = check_str(name, 'locker name')
            if ':' in name:
                raise PylockerValueError("':' not allowed in ServerLocker name")
        self._name = name
        self._password = _check_password(password)
        self._pid = os.getpid()
        self.set_maximum_lock_time(maxLockTime)
        self.set_default_timeout(defaultTimeout)
        if isinstance(reconnect, bool):
            reconnect = -1 if reconnect else 0
        elif isinstance(reconnect, int):
            if reconnect < 0:
                raise PylockerValueError("reconnect must be >= 0")
        else:
            raise PylockerTypeError("reconnect must be boolean or integer")
        self._reconnect = reconnect
        self._connectTimeout = check_seconds(connectTimeout, 'connectTimeout')
        if isinstance(port, bool) or not isinstance(port, int):
            raise PylockerTypeError("port must be integer")
        if not 1 <= port <= 65535:
            raise PylockerValueError("port must be 1<=port<=65535")
        self._port = port
        self._allowServing = check_bool(allowServing, 'allowServing')
        self._blocking = check_bool(blocking, 'blocking')
        self._logger = logger
        self._serverFile = None
        self.set_server_file(serverFile)
        self._remote = None          # (address, port) of a bridge we connect to, else None
        self._endpoint = None        # what we are connected to, as text
        self._wanted = False         # started and not stopped: reconnect (after a loss, or a fork)
        self._forked = False
        self._global = {}            # frozenset(paths) -> lock id, of lockGlobal acquires
        self._globalLocks = {}
        self._address = None
        _INSTANCES.add(self)

    ############################# make pickle safe #############################
    def __getstate__(self):
        return {'password': self._password, 'name': self._name, 'serverFile': self._serverFile,
                'defaultTimeout': self._defaultTimeout, 'maxLockTime': self._maxLockTime, 'port': self._port,
                'allowServing': self._allowServing,
                'reconnect': self._reconnect if self._reconnect >= 0 else True,
                'connectTimeout': self._connectTimeout, 'blocking': self._blocking, 'debugMode': self._debugMode}

    def __setstate__(self, state):
        # A loaded locker is a new client, not connected until start() (as the seed says).
        state = dict(state)
        serverFile = state.pop('serverFile')
        self._setup(serverFile=False, logger=False, **state)
        self._serverFile = serverFile

    ############################### context manager ############################
    def __enter__(self):
        if not self.isClient:
            self.start()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.stop()

    def __repr__(self):
        return '<%s %s (%s) %s>' % (type(self).__name__, self.name, self._uniqueName,
                                    'connected to %s' % self._endpoint if self.isClient else 'not connected')

    ############################# debugging methods ############################
    def _warn(self, message):
        if self._debugMode:
            print('%s - WARNING - %s' % (self.__class__.__name__, message))
        return message

    ################################ properties ################################
    @property
    def debugMode(self):
        """debug mode flag"""
        return self._debugMode

    @debugMode.setter
    def debugMode(self, value):
        self._debugMode = check_bool(value, 'debugMode')

    @property
    def name(self):
        """locker user given name (its unique name when none was given)"""
        return self._name if self._name is not None else self._uniqueName

    @property
    def fingerprint(self):
        """this locker's fingerprint, in the seed's format (the server's is get_running_server_fingerprint())"""
        return "%s({now})@%s:{port}[%s]" % (self._uniqueName, self.address, self._pid)

    @property
    def canServe(self):
        """whether this instance can serve: never, pylockerd serves"""
        return False

    @property
    def uniqueName(self):
        """locker unique name: registered with pylockerd, so it addresses this locker's messages"""
        return self._uniqueName

    @property
    def clientId(self):
        """pylockerd's id of this locker's connection (':1.42', 'direct-3', 'bridge-7'), or None"""
        return self._client.info()[1] if self.isClient else None

    @property
    def serverFile(self):
        """serverlocker server file (kept for compatibility; nothing reads or writes it)"""
        return self._serverFile

    @property
    def pid(self):
        """python process pid"""
        return self._pid

    @property
    def serverAddress(self):
        """the pylockerd this locker is connected to: the bridge's host, or the local bus; None when not connected"""
        if not self.isClient:
            return None
        return self._remote[0] if self._remote else self._endpoint

    @property
    def serverPort(self):
        """the bridge's port of a remote pylockerd; None locally or when not connected"""
        if not self.isClient or not self._remote:
            return None
        return self._remote[1]

    @property
    def serverUniqueName(self):
        """server unique name: pylockerd's bus name, or None when not connected"""
        return SERVER_UNIQUE_NAME if self.isClient else None

    @property
    def serverName(self):
        """server user given name: 'pylockerd', or None when not connected"""
        return SERVER_NAME if self.isClient else None

    @property
    def serverMaxLockTime(self):
        """pylockerd's MaxLockTime in seconds (asked now), or None when not connected"""
        try:
            return seconds(self._client.status()['max_lock_time_usec'])
        except Error:
            return None

    @property
    def address(self):
        """locker instance machine address"""
        if self._address is None:
            self._address = _machine_address()
        return self._address

    @property
    def port(self):
        """locker instance port (unused: pylockerd's bridge has its own)"""
        return self._port

    @property
    def password(self):
        """locker password (bytes)"""
        return self._password

    @property
    def defaultTimeout(self):
        """locker timeout in seconds"""
        return self._defaultTimeout

    @property
    def maxLockTime(self):
        """locker maximum locking time in seconds: the lease of each lock (pylockerd's MaxLockTime caps it)"""
        return self._maxLockTime

    @property
    def isServer(self):
        """Whether this instance is being the lock server: never, pylockerd is"""
        return False

    @property
    def isClient(self):
        """Whether this instance is connected to pylockerd"""
        return self._client.connected()

    @property
    def messages(self):
        """list of received published messages (the texts in this locker's inbox, oldest first)"""
        seen = []
        for item in self._inbox(self._client.list_messages) or ():
            if item[0] not in seen:
                seen.append(item[0])
        return seen

    @property
    def lockedPaths(self):
        """dictionary copy of the locks all clients of pylockerd hold, self included: paths to
        {'lock_unique_id', 'client_name', 'client_unique_name'}; None when not connected"""
        locks = self._list_locks()
        if locks is None:
            return None
        result = {}
        for lock_id, paths, owner_id, owner_name, _token, _shared, _acquired, _expires in locks:
            for p in paths:
                result.setdefault(p, {'lock_unique_id': lock_id,
                                      'client_name': self._client_name(owner_id, owner_name),
                                      'client_unique_name': owner_name or owner_id})
        return result

    @property
    def ownedLocks(self):
        """dictionary copy of currently acquired locks by this locker: lock ids to path lists"""
        if self._forked:
            return {}
        return dict((lock_id, list(paths)) for lock_id, paths, _token, _expires in self._client.owned())

    @property
    def clientLocks(self):
        """dictionary copy of the locks all clients of pylockerd hold, self included: lock ids to
        path lists; None when not connected"""
        locks = self._list_locks()
        if locks is None:
            return None
        return dict((lock[0], list(lock[1])) for lock in locks)

    def _client_name(self, owner_id, owner_name):
        if owner_name == self._uniqueName:
            return self.name
        return owner_name or owner_id

    def _list_locks(self):
        self._check_fork()
        try:
            return self._client.list_locks()
        except Error as e:
            if e.errno in _LOST + _CLOSED:
                return None
            raise

    def _inbox(self, call, *args):
        """A call on the inbox; None when there is no connection, hence no inbox."""
        self._check_fork()
        try:
            return call(*args)
        except Error as e:
            if e.errno in _LOST + _CLOSED:
                return None
            raise

    ########################### fingerprint and files ##########################
    def get_running_server_fingerprint(self, serverFile=None, raiseNotFound=False, raiseError=True):
        """the running server's fingerprint: (uniqueName, timestamp, address, port, pid) of the
        pylockerd this locker is connected to; all None when not connected (an error with
        raiseNotFound). serverFile is accepted and unused: pylockerd writes no server file."""
        check_bool(raiseNotFound, 'raiseNotFound')
        check_bool(raiseError, 'raiseError')
        if serverFile is not None:
            check_str(serverFile, 'serverFile')
        if not self.isClient:
            if raiseNotFound:
                raise PylockerConnectionError("This locker is not connected to pylockerd")
            return None, None, None, None, None
        port = self.serverPort
        return (SERVER_UNIQUE_NAME, '%.6f' % time.time(), self.serverAddress,
                str(port) if port is not None else None, self._client.peer_pid())

    def set_maximum_lock_time(self, maxLockTime):
        """Set maximum allowed time for a lock to be acquired (seconds): each lock of this locker
        expires after it unless released (pylockerd's MaxLockTime caps it)."""
        self._maxLockTime = check_seconds(maxLockTime, 'maxLockTime')
        self._ttlUsec = usec(self._maxLockTime)

    def set_default_timeout(self, defaultTimeout):
        """Set default timeout to acquire a lock (seconds)."""
        self._defaultTimeout = check_seconds(defaultTimeout, 'defaultTimeout')
        self._defaultTimeoutUsec = usec(self._defaultTimeout)

    def set_server_file(self, serverFile):
        """set server file path (kept as the seed computes it; pylockerd needs none)"""
        if getattr(self, '_client', None) is not None and self._client.connected():
            raise PylockerStateError("not allowed to set serverFile when instance is a server or a client")
        if serverFile is True:
            serverFile = os.path.join(os.path.expanduser('~'), '.pylocker.serverlocker')
        elif serverFile is False:
            serverFile = None
        else:
            serverFile = check_str(serverFile, 'serverFile')
        self._serverFile = serverFile

    ############################## connect methods #############################
    def _open_local(self):
        transport, address, private, disabled, description = _local_endpoint()
        try:
            self._client.open(transport, address, None, None, self._uniqueName, private, disabled)
        except Error as e:
            raise PylockerConnectionError("Cannot reach pylockerd on the %s: %s" % (description, e.strerror),
                                          e) from None
        self._remote = None
        self._endpoint = description

    def _open_remote(self, address, port, password):
        secret = password
        if secret.endswith(b'\n'):
            secret = secret[:-2] if secret.endswith(b'\r\n') else secret[:-1]
        if not _SECRET_MIN <= len(secret) <= _SECRET_MAX:
            raise PylockerValueError("The password of a remote locker is the bridge's shared secret: %d to %d "
                                     "bytes, not %d" % (_SECRET_MIN, _SECRET_MAX, len(secret)))
        remote = '[%s]:%d' % (address, port) if ':' in address else '%s:%d' % (address, port)
        self._client.open(_pylocker.TRANSPORT_REMOTE, None, remote, password, self._uniqueName, None, False)
        self._remote = (address, port)
        self._endpoint = 'bridge %s' % remote

    def stop(self):
        """Stop the connection to pylockerd: the daemon releases this locker's locks, drops its
        waiting requests and its inbox at once."""
        with self._lock:
            self._wanted = False
            self._global.clear()
        self._client.close()

    def start(self, address=None, port=None, password=None, ntrials=3):
        """Connect to pylockerd: the local one, or with address and port a remote one through its
        bridge (see connect()). Raises PylockerConnectionError when it cannot."""
        if self.isClient:
            self._warn("locker '%s:%s' is already connected to %s" % (self.name, self._uniqueName, self._endpoint))
            return
        if address is not None or port is not None:
            if address is None or port is None:
                raise PylockerValueError("locker address and port can be either both None or both given")
            if not self.connect(address=address, port=port, password=password, ntrials=ntrials):
                raise PylockerConnectionError("Cannot connect to pylockerd's bridge at %s:%s: %s"
                                              % (address, port, self._lastError), self._lastError)
            return
        with self._lock:
            self._forked = False
            self._open_local()
            self._wanted = True

    def connect(self, address, port, password=None, ntrials=3):
        """connect to a remote pylockerd through its bridge (TLS with a key derived from password,
        the bridge's shared secret: 16 to 4096 bytes). Returns whether connection was successful."""
        if self.isClient:
            raise PylockerStateError("locker is already connected to %s; stop() it first" % self._endpoint)
        address = check_str(address, 'address')
        if not address:
            raise PylockerValueError("address must not be empty")
        if isinstance(port, bool) or not isinstance(port, int):
            raise PylockerTypeError("locker port must be integer")
        if not 1 <= port <= 65535:
            raise PylockerValueError("port must be 1<=port<=65535")
        if isinstance(ntrials, bool) or not isinstance(ntrials, int) or ntrials < 1:
            raise PylockerValueError("ntrials must be an integer >= 1")
        password = self._password if password is None else _check_password(password)
        deadline = time.monotonic() + self._connectTimeout
        self._lastError = None
        with self._lock:
            for trial in range(ntrials):
                try:
                    self._open_remote(address, port, password)
                except Error as e:
                    self._lastError = e
                    self._warn("locker failed to connect to %s:%s (%s); %d trials remaining"
                               % (address, port, e.strerror, ntrials - trial - 1))
                    if e.errno == errno.EINVAL:
                        raise PylockerValueError(e.strerror) from None
                    # A refused handshake (a different secret) would be refused again, and counts
                    # against this machine at the bridge.
                    if e.errno == errno.ECONNREFUSED or time.monotonic() >= deadline:
                        break
                    continue
                self._password = password
                self._forked = False
                self._wanted = True
                return True
        return False

    def reset(self, raiseError=False):
        """Recycle a disconnected locker: forget its state, as a fresh one. Not allowed while
        connected: then an error with raiseError, else (False, reason). Returns (True, None)."""
        check_bool(raiseError, 'raiseError')
        if self.isClient:
            message = "Not allowed to recycle a client or a serving locker"
            if raiseError:
                raise PylockerStateError(message)
            return False, message
        with self._lock:
            self._remote = None
            self._endpoint = None
            self._wanted = False
            self._forked = False
            self._global.clear()
            self._globalLocks.clear()
        return True, None

    def _check_fork(self):
        """In a child after fork(): connect as a new client before the first call (the parent's
        connection is the parent's)."""
        if not self._forked:
            return
        with self._lock:
            if not self._forked:
                return
            self._forked = False
            if not self._wanted:
                return
            try:
                if self._remote:
                    self._open_remote(self._remote[0], self._remote[1], self._password)
                else:
                    self._open_local()
            except (Error, PylockerConnectionError) as e:
                self._warn("locker could not reconnect after fork (%s)" % e)

    def _after_fork_child(self):
        self._client._after_fork_child()
        self._lock = threading.RLock()
        self._uniqueName = str(uuid.uuid4())
        self._pid = os.getpid()
        self._global = {}
        self._globalLocks = {}
        self._forked = True

    def _may_reconnect(self):
        """After a lost connection: reconnect if asked to (reconnect=True or a count left)."""
        if not self._wanted or self._reconnect == 0:
            return False
        with self._lock:
            if self._client.connected():
                return True
            try:
                self._client.restart()
            except Error as e:
                self._warn("locker could not reconnect (%s)" % e.strerror)
                return False
            if self._reconnect > 0:
                self._reconnect -= 1
            self._global.clear()
            self._warn("locker reconnected to %s" % self._endpoint)
            return True

    ############################## publish methods #############################
    def remove_published_message(self, message, senders=None):
        """Remove published message from this locker's inbox: from every sender, or only from
        senders (a list of unique names or client ids)."""
        message = check_str(message, 'published message')
        senders = _check_names(senders, 'senders')
        if senders == ():
            return
        self._inbox(self._client.remove_message, message, senders)

    def remove_message(self, *args, **kwargs):
        """alias to remove_published_message"""
        return self.remove_published_message(*args, **kwargs)

    def has_message(self, message):
        """Get whether a message exists in list of received published messages"""
        message = check_str(message, 'published message')
        return bool(self._inbox(self._client.has_message, message))

    def get_message(self, message):
        """get message from received published messages: the publication dict, or None"""
        message = check_str(message, 'published message')
        return _publication_dict(self._inbox(self._client.get_message, message))

    def pop_message(self, message):
        """pop message from received published messages: the publication dict, or None"""
        message = check_str(message, 'published message')
        return _publication_dict(self._inbox(self._client.pop_message, message))

    def publish_message(self, message, receivers=None, timeout=None, toSelf=True, unique=False, replace=True):
        """publish a message to ServerLocker instances (and any client) of pylockerd: receivers is a
        list of unique names, None for every client. Returns (True, publicationUniqueId) or
        (False, code): 1 connection lost, 2 not connected, or the error message."""
        check_bool(unique, 'unique')
        check_bool(toSelf, 'toSelf')
        check_bool(replace, 'replace')
        message = check_str(message, 'publishing message')
        receivers = _check_names(receivers, 'receivers')
        if timeout is not None:
            timeout = check_seconds(timeout, 'timeout')
        self._check_fork()
        flags = 0
        if receivers is not None:
            # Named, this locker receives it whatever toSelf says (as in the seed).
            me = (self._uniqueName, self.clientId)
            toSelf = toSelf or any(r in me for r in receivers)
            if not receivers:
                if not toSelf:
                    return True, ''
                receivers = (self._uniqueName,)
        if not toSelf:
            flags |= _pylocker.PUBLISH_NOT_TO_SELF
        if unique:
            flags |= _pylocker.PUBLISH_UNIQUE
        if not replace:
            flags |= _pylocker.PUBLISH_NO_REPLACE
        t = 0 if timeout is None else usec(timeout)
        for attempt in (0, 1):
            try:
                _r, publication_id = self._client.publish(message, receivers, t, flags)
                return True, publication_id
            except Error as e:
                if attempt == 0 and e.errno in _LOST + _CLOSED and self._may_reconnect():
                    continue
                if e.errno in _LOST:
                    return False, 1
                if e.errno in _CLOSED:
                    return False, 2
                if e.errno == errno.EINVAL:
                    raise PylockerValueError(e.strerror) from None
                return False, e.strerror

    def publish(self, *args, **kwargs):
        """alias to publish_message"""
        return self.publish_message(*args, **kwargs)

    ############################### lock methods ###############################
    def acquire_lock(self, path, timeout=None, lockGlobal=False):
        """Acquire a lock for given path or list of paths, all at once. Blocks until granted or
        timeout (defaultTimeout when None). With lockGlobal, a thread asking for exactly the paths
        of a lockGlobal lock this locker holds gets that lock at once. Returns (True, lockId) or
        (False, code): 0 not had before timeout, 1 connection lost, 2 not connected, or the error
        message."""
        paths = _check_paths(path)
        timeout_usec = self._defaultTimeoutUsec if timeout is None else usec(check_seconds(timeout, 'timeout'))
        if lockGlobal is not False:
            check_bool(lockGlobal, 'lockGlobal')
        if self._forked:
            self._check_fork()
        if lockGlobal:
            return self._acquire_global(paths, timeout_usec)
        return self._acquire(paths, timeout_usec)

    def _acquire(self, paths, timeout_usec):
        for attempt in (0, 1):
            try:
                return True, self._client.acquire(paths, timeout_usec, self._ttlUsec, False)
            except Error as e:
                if attempt == 0 and e.errno in _LOST + _CLOSED and self._may_reconnect():
                    continue
                if e.errno == errno.ETIMEDOUT:
                    return False, 0
                if e.errno in _LOST:
                    return False, 1
                if e.errno in _CLOSED:
                    return False, 2
                if e.errno == errno.EINVAL:
                    raise PylockerValueError(e.strerror) from None
                return False, e.strerror

    def _acquire_global(self, paths, timeout_usec):
        key = frozenset(paths)
        timeout = seconds(timeout_usec)
        deadline = time.monotonic() + timeout
        with self._lock:
            keyLock = self._globalLocks.setdefault(key, threading.Lock())
        if not keyLock.acquire(timeout=min(timeout, threading.TIMEOUT_MAX)):
            return False, 0
        try:
            lockId = self._global.get(key)
            if lockId is not None and lockId in self.ownedLocks:
                return True, lockId
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False, 0
            acquired, lockId = self._acquire(paths, usec(remaining))
            if acquired:
                self._global[key] = lockId
            return acquired, lockId
        finally:
            keyLock.release()

    def acquire(self, *args, **kwargs):
        """alias to acquire_lock"""
        return self.acquire_lock(*args, **kwargs)

    def release_lock(self, lockId):
        """release acquired lock given its id. Returns (True, 0) not found (already released,
        expired, or a failure code of acquire_lock), (True, 1) released, (False, 2) connection lost,
        (False, 3) not connected. Another client's lock raises LockNotOwnedError."""
        if type(lockId) is not str or len(lockId) != 32:
            if isinstance(lockId, bool) or not isinstance(lockId, (str, bytes, bytearray, int)):
                raise PylockerTypeError("lockId must be a lock id string, not %s" % type(lockId).__name__)
            if isinstance(lockId, int):
                # acquire_lock's failure code: there is no such lock.
                return True, 0
            lockId = check_str(lockId, 'lockId')
        if not _LOCK_ID.match(lockId):
            return True, 0
        if self._forked:
            self._check_fork()
        for attempt in (0, 1):
            try:
                code = self._client.release(lockId)
                break
            except Error as e:
                if attempt == 0 and e.errno in _LOST and self._may_reconnect():
                    # The lock went with the old connection.
                    return True, 0
                if e.errno in _LOST:
                    return False, 2
                if e.errno in _CLOSED:
                    return False, 3
                if e.errno == errno.EPERM:
                    raise LockNotOwnedError("Lock %s is held by another client of pylockerd, not by this locker"
                                            % lockId) from None
                if e.errno == errno.EINVAL:
                    raise PylockerValueError(e.strerror) from None
                return False, e.strerror
        if self._global:
            with self._lock:
                for key in [k for k, v in self._global.items() if v == lockId]:
                    del self._global[key]
        return True, code

    def release(self, *args, **kwargs):
        """alias to release_lock"""
        return self.release_lock(*args, **kwargs)


class SingleLocker(ServerLocker):
    """
    This is singleton implementation of ServerLocker class: one locker in a process, whatever the
    arguments of later calls.
    """
    _thisInstance = None
    _thisLock = threading.RLock()

    def __new__(cls, *args, **kwds):
        with cls._thisLock:
            instance = cls.__dict__.get('_thisInstance')
            if instance is None:
                instance = super(ServerLocker, cls).__new__(cls)
                instance._isInitialized = False
                cls._thisInstance = instance
            return instance

    def __init__(self, *args, **kwargs):
        with type(self)._thisLock:
            if self._isInitialized:
                return
            super(SingleLocker, self).__init__(*args, **kwargs)
            self._isInitialized = True

    def __setstate__(self, state):
        # Loading gives the process's one instance: it keeps its own state.
        with type(self)._thisLock:
            if getattr(self, '_isInitialized', False):
                return
            super(SingleLocker, self).__setstate__(state)
            self._isInitialized = True


class LockersFactory(object):
    """Locker factory: lockers by key, so that code that refers to lockers (and objects loaded by
    pickle) find the same instance. A locker taken from the factory is not guaranteed to be
    started: call locker.start(), or pass restart=True.

    .. code-block:: python

        from pylocker import FACTORY

        L0 = FACTORY(key='my_unique_locker_key', password='my_password', autoconnect=False)
        L1 = FACTORY(key='my_unique_locker_key', password='another_password')

        # verify that L0 is L1
        print(L0 is L1)
        print(L0.password, L1.password)
    """
    _thisInstance = None
    _thisLock = threading.RLock()

    def __new__(cls, *args, **kwds):
        with cls._thisLock:
            instance = cls.__dict__.get('_thisInstance')
            if instance is None:
                instance = super(LockersFactory, cls).__new__(cls)
                instance._isInitialized = False
                cls._thisInstance = instance
            return instance

    def __init__(self):
        with type(self)._thisLock:
            if self._isInitialized:
                return
            self._lut = {}
            self._lutLock = threading.RLock()
            self._isInitialized = True

    def __call__(self, key, *args, **kwargs):
        return self.get(key, *args, **kwargs)

    def get(self, key, restart=False, regenerate=False, *args, **kwargs):
        """get locker instance given a key, created with *args and **kwargs if there is none.
        restart: start it if it is not started or was stopped; regenerate: replace it then by a
        new one."""
        key = check_str(key, 'key')
        check_bool(restart, 'restart')
        check_bool(regenerate, 'regenerate')
        if restart and regenerate:
            regenerate = False
        with self._lutLock:
            locker = self._lut.get(key)
            created = locker is None
            if created:
                locker = self._lut[key] = ServerLocker(*args, **kwargs)
            if not locker.isClient:
                if restart:
                    locker.start()
                elif regenerate and not created:
                    locker = self._lut[key] = ServerLocker(*args, **kwargs)
            return locker

    def pop(self, key, restart=False, regenerate=False, *args, **kwargs):
        """get locker instance by key and remove it from factory"""
        with self._lutLock:
            locker = self.get(key, restart, regenerate, *args, **kwargs)
            self._lut.pop(check_str(key, 'key'), None)
            return locker


def _after_fork_child():
    for locker in list(_INSTANCES):
        try:
            locker._after_fork_child()
        except Exception:
            pass
    SingleLocker._thisLock = threading.RLock()
    LockersFactory._thisLock = threading.RLock()
    if FACTORY._isInitialized:
        FACTORY._lutLock = threading.RLock()


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork_child)

FACTORY = LockersFactory()
