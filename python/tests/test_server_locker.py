# -*- coding: utf-8 -*-
"""ServerLocker's API: the seed's signatures, defaults, codes and properties, as they map on
pylockerd, and clear exceptions for bad input."""
import inspect
import os
import pickle
import re
import time

import pytest

import pylocker
from pylocker import ServerLocker
from pylocker.ServerLocker import ServerLocker as ServerLockerFromModule

from conftest import wait_until


def test_signatures_and_defaults_are_the_seeds():
    assert ServerLockerFromModule is ServerLocker
    sig = inspect.signature(ServerLocker.__init__)
    assert [(p.name, p.default) for p in list(sig.parameters.values())[1:]] == [
        ('password', inspect.Parameter.empty), ('name', None), ('serverFile', True), ('defaultTimeout', 20),
        ('maxLockTime', 120), ('port', 3000), ('allowServing', True), ('autoconnect', True),
        ('reconnect', False), ('connectTimeout', 20), ('logger', False), ('blocking', False),
        ('debugMode', False)]

    def params(fn):
        return [(p.name, p.default) for p in list(inspect.signature(fn).parameters.values())[1:]]
    E = inspect.Parameter.empty
    assert params(ServerLocker.acquire_lock) == [('path', E), ('timeout', None), ('lockGlobal', False)]
    assert params(ServerLocker.release_lock) == [('lockId', E)]
    assert params(ServerLocker.publish_message) == [('message', E), ('receivers', None), ('timeout', None),
                                                    ('toSelf', True), ('unique', False), ('replace', True)]
    assert params(ServerLocker.remove_published_message) == [('message', E), ('senders', None)]
    assert params(ServerLocker.start) == [('address', None), ('port', None), ('password', None), ('ntrials', 3)]
    assert params(ServerLocker.connect) == [('address', E), ('port', E), ('password', None), ('ntrials', 3)]
    assert params(ServerLocker.get_running_server_fingerprint) == [('serverFile', None), ('raiseNotFound', False),
                                                                   ('raiseError', True)]
    assert params(ServerLocker.reset) == [('raiseError', False)]
    for alias in ('acquire', 'release', 'publish', 'remove_message'):
        assert callable(getattr(ServerLocker, alias))
    for name in ('has_message', 'get_message', 'pop_message', 'set_default_timeout', 'set_maximum_lock_time',
                 'set_server_file', 'stop'):
        assert callable(getattr(ServerLocker, name))


def test_properties(daemon, unique):
    L = ServerLocker(password='server_password', name='worker')
    assert L.isClient and not L.isServer and not L.canServe
    assert L.name == 'worker'
    assert re.match(r'[0-9a-f-]{36}\Z', L.uniqueName)
    assert L.password == b'server_password'
    assert L.defaultTimeout == 20 and L.maxLockTime == 120
    assert L.port == 3000
    assert L.pid == os.getpid()
    assert L.serverFile == os.path.join(os.path.expanduser('~'), '.pylocker.serverlocker')
    assert L.debugMode is False
    assert L.fingerprint == '%s({now})@%s:{port}[%d]' % (L.uniqueName, L.address, os.getpid())
    assert L.serverUniqueName == 'org.pylocker.Locker' and L.serverName == 'pylockerd'
    assert L.serverMaxLockTime == 120.0
    assert L.serverAddress == daemon.address and L.serverPort is None
    assert L.clientId.startswith('direct-')
    unique_name, timestamp, address, port, pid = L.get_running_server_fingerprint()
    assert unique_name == 'org.pylocker.Locker' and address == daemon.address and port is None
    assert abs(float(timestamp) - time.time()) < 60
    assert pid == daemon.daemon.pid
    assert L.lockedPaths is not None and L.clientLocks is not None
    assert L.ownedLocks == {} and L.messages == []
    # A locker without a name is named by its unique name, as in the seed.
    M = ServerLocker(password='x', serverFile=False)
    assert M.name == M.uniqueName and M.serverFile is None
    assert M.uniqueName != L.uniqueName
    L.stop()
    assert not L.isClient
    assert L.serverAddress is None and L.serverUniqueName is None and L.serverMaxLockTime is None
    assert L.lockedPaths is None and L.clientLocks is None
    assert L.get_running_server_fingerprint() == (None, None, None, None, None)
    with pytest.raises(ConnectionError):
        L.get_running_server_fingerprint(raiseNotFound=True)
    M.stop()


def test_the_bus_without_the_direct_socket(daemon, unique, monkeypatch):
    monkeypatch.setenv('PYLOCKER_PRIVATE_SOCKET', 'none')
    L = ServerLocker(password='x')
    assert L.clientId.startswith(':')
    ok, lid = L.acquire_lock(unique + 'p')
    assert ok and L.release_lock(lid) == (True, 1)
    assert L.get_running_server_fingerprint()[4] is None
    L.stop()


def test_acquire_and_release_codes(daemon, unique):
    L = ServerLocker(password='x')
    ok, lid = L.acquire_lock(unique + 'a')
    assert ok and re.match(r'[0-9a-f]{32}\Z', lid)
    assert L.ownedLocks == {lid: [unique + 'a']}
    assert L.lockedPaths[unique + 'a'] == {'lock_unique_id': lid, 'client_name': L.name,
                                           'client_unique_name': L.uniqueName}
    assert L.clientLocks[lid] == [unique + 'a']
    # 1: found and released; 0: not found (again, or never existed, or a failure code).
    assert L.release_lock(lid) == (True, 1)
    assert L.release_lock(lid) == (True, 0)
    assert L.release_lock('0' * 32) == (True, 0)
    assert L.release_lock(0) == (True, 0)
    assert L.release_lock('Unable to acquire') == (True, 0)
    assert L.ownedLocks == {}
    # Every call a new lock, also on the same path.
    ok1, a = L.acquire_lock(unique + 'x')
    ok2, b = L.acquire_lock(unique + 'y')
    assert ok1 and ok2 and a != b
    assert L.release(a) == (True, 1) and L.release(b) == (True, 1)
    L.stop()


def test_many_paths_all_or_nothing(daemon, unique):
    L = ServerLocker(password='x')
    other = ServerLocker(password='x')
    ok, b = other.acquire_lock(unique + 'b')
    assert ok
    paths = (unique + 'a', unique + 'b', unique + 'c')
    assert L.acquire_lock(paths, timeout=0.2) == (False, 0)
    # It held nothing while it waited: 'a' is free.
    ok, a = other.acquire_lock(unique + 'a', timeout=1)
    assert ok and other.release_lock(a) == (True, 1)
    assert other.release_lock(b) == (True, 1)
    ok, lid = L.acquire_lock(list(paths))
    assert ok and sorted(L.ownedLocks[lid]) == sorted(paths)
    assert set(L.lockedPaths) >= set(paths)
    ok, s = L.acquire_lock({unique + 's1', unique + 's2'})
    assert ok
    L.stop()
    other.stop()


def test_timeouts(daemon, unique):
    L = ServerLocker(password='x', defaultTimeout=0.3)
    holder = ServerLocker(password='x')
    assert holder.acquire_lock(unique + 'p')[0]
    started = time.monotonic()
    assert L.acquire_lock(unique + 'p') == (False, 0)
    assert 0.25 < time.monotonic() - started < 5
    L.set_default_timeout(0.1)
    assert L.defaultTimeout == 0.1
    started = time.monotonic()
    assert L.acquire_lock(unique + 'p', timeout=0.5) == (False, 0)
    assert 0.45 < time.monotonic() - started < 5
    assert daemon.status()['waiter_count'] == 0
    holder.stop()
    L.stop()


def test_max_lock_time_is_the_lease(daemon, unique):
    L = ServerLocker(password='x', maxLockTime=0.3)
    other = ServerLocker(password='x')
    ok, lid = L.acquire_lock(unique + 'p')
    assert ok
    # The daemon ends it after maxLockTime: another locker gets the path.
    ok, lid2 = other.acquire_lock(unique + 'p', timeout=10)
    assert ok
    wait_until(lambda: L.ownedLocks == {}, what='the expiry seen')
    assert L.release_lock(lid) == (True, 0)
    L.set_maximum_lock_time(60)
    assert L.maxLockTime == 60
    other.stop()
    L.stop()


def test_lock_global(daemon, unique):
    import threading
    L = ServerLocker(password='x')
    ok, lid = L.acquire_lock(unique + 'g', lockGlobal=True)
    assert ok
    # Another thread asking for exactly these paths globally gets the same lock at once.
    result = []
    t = threading.Thread(target=lambda: result.append(L.acquire_lock([unique + 'g'], timeout=0.5,
                                                                     lockGlobal=True)))
    t.start()
    t.join(10)
    assert result == [(True, lid)]
    # Not global: a new lock, which waits (and times out here).
    assert L.acquire_lock(unique + 'g', timeout=0.2) == (False, 0)
    assert L.release_lock(lid) == (True, 1)
    ok, lid2 = L.acquire_lock(unique + 'g', lockGlobal=True)
    assert ok and lid2 != lid
    L.stop()


def test_another_clients_lock_is_not_ours(daemon, unique):
    A = ServerLocker(password='x')
    B = ServerLocker(password='x')
    ok, lid = A.acquire_lock(unique + 'p')
    assert ok
    with pytest.raises(pylocker.LockNotOwnedError) as e:
        B.release_lock(lid)
    assert lid in str(e.value)
    assert isinstance(e.value, PermissionError)
    assert A.release_lock(lid) == (True, 1)
    A.stop()
    B.stop()


def test_bad_input_raises_clear_errors(daemon, unique):
    L = ServerLocker(password='x')
    for bad, exc in ((None, TypeError), (3, TypeError), ([], ValueError), ('', ValueError), ([unique, 4], TypeError),
                     ('a\0b', ValueError), ('x' * 5000, ValueError), ([unique + str(i) for i in range(300)], ValueError)):
        with pytest.raises(exc):
            L.acquire_lock(bad, timeout=1)
    for bad, exc in (('1', TypeError), (0, ValueError), (-1, ValueError), (float('nan'), ValueError),
                     (True, TypeError)):
        with pytest.raises(exc):
            L.acquire_lock(unique + 'p', timeout=bad)
    with pytest.raises(TypeError):
        L.acquire_lock(unique + 'p', lockGlobal=1)
    for bad in (None, 1.5, [], True):
        with pytest.raises(TypeError):
            L.release_lock(bad)
    with pytest.raises(TypeError):
        L.publish_message(3)
    with pytest.raises(TypeError):
        L.publish_message('m', receivers='not a list')
    with pytest.raises(ValueError):
        L.publish_message('m', timeout=0)
    with pytest.raises(TypeError):
        L.publish_message('m', unique='yes')
    with pytest.raises(ValueError):
        L.set_default_timeout(0)
    with pytest.raises(ValueError):
        L.set_maximum_lock_time(-1)
    # The seed's asserts: these errors are AssertionErrors too.
    with pytest.raises(AssertionError):
        L.acquire_lock([], timeout=1)
    with pytest.raises(ValueError):
        ServerLocker(password='x', name='a:b', autoconnect=False)
    with pytest.raises(TypeError):
        ServerLocker(password=3, autoconnect=False)
    with pytest.raises(ValueError):
        ServerLocker(password='x', port=0, autoconnect=False)
    with pytest.raises(TypeError):
        ServerLocker(password='x', autoconnect='yes')
    with pytest.raises(TypeError):
        ServerLocker(password='x', reconnect='yes', autoconnect=False)
    L.stop()


def test_start_stop_reset(daemon, unique):
    L = ServerLocker(password='x', autoconnect=False)
    assert not L.isClient
    L.start()
    assert L.isClient
    L.start()     # already connected: nothing happens
    assert L.reset() == (False, "Not allowed to recycle a client or a serving locker")
    with pytest.raises(AssertionError):
        L.reset(raiseError=True)
    with pytest.raises(RuntimeError):
        L.set_server_file('/tmp/x')
    ok, lid = L.acquire_lock(unique + 'p')
    assert ok
    L.stop()
    # Stopped: the daemon released its lock; the seed's codes for neither client nor server.
    assert L.acquire_lock(unique + 'p', timeout=1) == (False, 2)
    assert L.release_lock(lid) == (False, 3)
    assert L.reset() == (True, None)
    L.set_server_file('/tmp/elsewhere/.server')
    assert L.serverFile == '/tmp/elsewhere/.server'
    L.start()
    ok, lid = L.acquire_lock(unique + 'p', timeout=1)
    assert ok
    L.stop()


def test_with_statement(daemon, unique):
    with ServerLocker(password='x', autoconnect=False) as L:
        assert L.isClient
        ok, lid = L.acquire_lock(unique + 'p')
        assert ok
    assert not L.isClient
    wait_until(lambda: daemon.status()['lock_count'] == 0, what='its lock gone with its connection')


def test_pickle(daemon, unique):
    L = ServerLocker(password='pw', name='n', defaultTimeout=3, maxLockTime=7, serverFile='/tmp/sf')
    assert L.acquire_lock(unique + 'p')[0]
    M = pickle.loads(pickle.dumps(L))
    # Loaded: the same settings, a new client that is not connected until start().
    assert not M.isClient
    assert (M.password, M.name, M.defaultTimeout, M.maxLockTime, M.serverFile) == (b'pw', 'n', 3.0, 7.0, '/tmp/sf')
    assert M.uniqueName != L.uniqueName
    assert M.acquire_lock(unique + 'q', timeout=1) == (False, 2)
    M.start()
    assert M.acquire_lock(unique + 'p', timeout=0.2) == (False, 0)
    L.stop()
    M.stop()


def test_debug_mode_prints(daemon, capsys):
    L = ServerLocker(password='x', debugMode=True)
    L.start()
    assert 'WARNING' in capsys.readouterr().out
    L.debugMode = False
    L.start()
    assert capsys.readouterr().out == ''
    with pytest.raises(TypeError):
        L.debugMode = 'yes'
    L.stop()


def test_package_functions():
    for fn in ('get_version', 'get_author', 'get_email', 'get_doc', 'get_repository', 'get_pypi'):
        assert isinstance(getattr(pylocker, fn)(), str)
    assert pylocker.get_version() == pylocker.__version__
    from pylocker.Locker import Locker
    assert Locker is pylocker.Locker
    from pylocker.ServerLocker import SingleLocker, LockersFactory, FACTORY
    assert (SingleLocker, FACTORY) == (pylocker.SingleLocker, pylocker.FACTORY)
    assert isinstance(FACTORY, LockersFactory)
