# -*- coding: utf-8 -*-
"""A remote locker: connect(address, port, password) reaches pylockerd through its TLS-PSK bridge,
with the password as the shared secret; locks and messages are one namespace with local lockers."""
import os
import time

import pytest

import pylocker
from pylocker import ServerLocker

from conftest import Daemon, free_port

SECRET = 'a shared secret, long enough for the bridge'


@pytest.fixture(scope='module')
def bridge():
    port = free_port()
    secret_dir = os.path.join('/tmp', 'pylocker-py-secret-%d' % os.getpid())
    os.makedirs(secret_dir, exist_ok=True)
    secret_file = os.path.join(secret_dir, 'secret')
    with open(secret_file, 'w') as f:
        f.write(SECRET + '\n')
    os.chmod(secret_file, 0o600)
    d = Daemon(args=['--bridge=127.0.0.1:%d' % port, '--secret-file=' + secret_file])
    d.port = port
    yield d
    d.stop()
    os.unlink(secret_file)
    os.rmdir(secret_dir)


@pytest.fixture(autouse=True)
def _local_is_the_bridges_daemon(bridge, monkeypatch):
    for k, v in bridge.env().items():
        monkeypatch.setenv(k, v)


def remote(bridge, password=SECRET, **kwargs):
    R = ServerLocker(password='local password, unused', autoconnect=False, **kwargs)
    assert R.connect('127.0.0.1', bridge.port, password=password) is True
    return R


def test_connect_with_the_right_secret(bridge, unique):
    R = remote(bridge)
    assert R.isClient and not R.isServer
    assert R.clientId.startswith('bridge-')
    assert R.serverAddress == '127.0.0.1' and R.serverPort == bridge.port
    # connect() with a password makes it the locker's password, as in the seed.
    assert R.password == SECRET.encode()
    assert R.get_running_server_fingerprint()[2:4] == ('127.0.0.1', str(bridge.port))
    ok, lid = R.acquire_lock(unique + 'p')
    assert ok
    assert R.ownedLocks == {lid: [unique + 'p']}
    # One namespace with the local lockers.
    local = ServerLocker(password='x')
    assert local.acquire_lock(unique + 'p', timeout=0.2) == (False, 0)
    assert local.lockedPaths[unique + 'p']['client_unique_name'] == R.uniqueName
    assert R.release_lock(lid) == (True, 1)
    ok, lid = local.acquire_lock(unique + 'p', timeout=5)
    assert ok
    # Contention the other way round, and the hand-over.
    import threading
    result = []
    t = threading.Thread(target=lambda: result.append(R.acquire_lock(unique + 'p', timeout=30)))
    t.start()
    time.sleep(0.2)
    assert local.release_lock(lid) == (True, 1)
    t.join(30)
    assert result and result[0][0] is True
    assert R.release_lock(result[0][1]) == (True, 1)
    local.stop()
    R.stop()


def test_messages_across_the_bridge(bridge):
    R = remote(bridge)
    local = ServerLocker(password='x')
    assert R.publish_message('from afar', receivers=[local.uniqueName], toSelf=False)[0]
    assert local.get_message('from afar')['client_unique_name'] == R.uniqueName
    assert local.publish_message('back', receivers=[R.uniqueName], toSelf=False)[0]
    assert R.has_message('back') and R.messages == ['back']
    local.stop()
    R.stop()


def test_start_with_address_and_port(bridge, unique):
    R = ServerLocker(password=SECRET, autoconnect=False)
    R.start(address='127.0.0.1', port=bridge.port)
    assert R.isClient and R.clientId.startswith('bridge-')
    R.stop()
    # Stopped, start() without an address connects locally.
    R.start()
    assert R.isClient and not R.clientId.startswith('bridge-')
    R.stop()


def test_wrong_secret_is_refused(bridge):
    R = ServerLocker(password='x', autoconnect=False)
    assert R.connect('127.0.0.1', bridge.port, password='not the secret, though long enough') is False
    assert not R.isClient
    assert R.acquire_lock('p', timeout=1) == (False, 2)
    # start() says why.
    with pytest.raises(pylocker.PylockerConnectionError) as e:
        R.start('127.0.0.1', bridge.port, password='still not the secret, long enough')
    assert 'bridge' in str(e.value)
    # The bridge goes on serving the right secret.
    R2 = remote(bridge)
    R2.stop()


def test_bad_remote_arguments(bridge):
    R = ServerLocker(password='x', autoconnect=False)
    with pytest.raises(ValueError):
        R.connect('127.0.0.1', bridge.port, password='short')
    with pytest.raises(TypeError):
        R.connect('127.0.0.1', '3000')
    with pytest.raises(ValueError):
        R.connect('127.0.0.1', 70000)
    with pytest.raises(ValueError):
        R.start(address='127.0.0.1')
    # Nobody listening: False after its trials.
    assert R.connect('127.0.0.1', 1, password=SECRET, ntrials=1) is False
    R2 = remote(bridge)
    with pytest.raises(RuntimeError):
        R2.connect('127.0.0.1', bridge.port)
    R2.stop()


def test_remote_locker_after_the_bridge_restarts(bridge, unique):
    R = remote(bridge, reconnect=True)
    assert R.acquire_lock(unique + 'p')[0]
    assert bridge.stop_daemon() == 0
    bridge.start_daemon()
    # reconnect=True: the next call connects again through the bridge (the secret is kept in memory).
    ok, lid = R.acquire_lock(unique + 'p', timeout=10)
    assert ok, lid
    assert R.clientId.startswith('bridge-')
    R.stop()
