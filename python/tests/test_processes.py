# -*- coding: utf-8 -*-
"""Lockers in several processes: contention, Ctrl-C during a wait, fork(), a daemon that goes away."""
import os
import signal
import sys
import time

import pytest

import pylocker
from pylocker import ServerLocker

from conftest import wait_until

CONTEND = r'''
import os, sys, time
from pylocker import ServerLocker
path, log, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
L = ServerLocker(password='x')
print('ready', flush=True)
sys.stdin.readline()
for i in range(rounds):
    ok, lid = L.acquire_lock(path, timeout=120)
    assert ok, lid
    with open(log, 'a') as f:
        f.write('%d in\n' % os.getpid())
        f.flush()
        time.sleep(0.0002)
        f.write('%d out\n' % os.getpid())
    assert L.release_lock(lid) == (True, 1)
print('done', flush=True)
'''


def test_processes_contending_take_turns(daemon, unique, tmp_path, children):
    log = str(tmp_path / 'log')
    rounds, n = 150, 4
    procs = [children(CONTEND, args=(unique + 'p', log, str(rounds))) for _ in range(n)]
    for p in procs:
        p.expect('ready')
    for p in procs:
        p.send('go')
    for p in procs:
        p.expect('done', timeout=120)
        assert p.finish()[0] == 0
    lines = open(log).read().splitlines()
    assert len(lines) == 2 * rounds * n
    pids = set()
    for k in range(0, len(lines), 2):
        pid, what = lines[k].split()
        assert what == 'in'
        assert lines[k + 1] == pid + ' out', "overlap at line %d" % k
        pids.add(pid)
    assert len(pids) == n
    assert daemon.status()['lock_count'] == 0


INTERRUPTED = r'''
import sys
from pylocker import ServerLocker
path, other = sys.argv[1], sys.argv[2]
L = ServerLocker(password='x')
if other:
    ok, kept = L.acquire_lock(other)
    assert ok
print(L.uniqueName, flush=True)
try:
    L.acquire_lock(path, timeout=60)
    print('acquired', flush=True)
except KeyboardInterrupt:
    print('interrupted', flush=True)
stats = L._client.stats()
print('taken_back' if stats['taken_back'] else 'abandoned' if stats['abandoned'] else 'none', flush=True)
sys.stdin.readline()
print(sorted(L.ownedLocks.values()), flush=True)
ok, lid = L.acquire_lock(path, timeout=30)
print('again %s' % ok, flush=True)
sys.stdin.readline()
'''


def test_ctrl_c_during_a_wait_takes_the_request_back(daemon, unique, children):
    holder = ServerLocker(password='x')
    ok, held = holder.acquire_lock(unique + 'p')
    assert ok
    child = children(INTERRUPTED, args=(unique + 'p', ''))
    child.readline()
    wait_until(lambda: daemon.status()['waiter_count'] == 1, what="the child's wait")
    child.proc.send_signal(signal.SIGINT)
    child.expect('interrupted')
    # Nothing of ours was at stake: the request was taken back at once by reconnecting.
    child.expect('taken_back')
    status = daemon.status()
    assert status['waiter_count'] == 0
    assert status['lock_count'] == 1
    # When the holder lets go, nobody gets the path behind its back.
    assert holder.release_lock(held) == (True, 1)
    assert daemon.status()['lock_count'] == 0
    # The locker goes on working.
    child.send('')
    child.expect('[]')
    child.expect('again True')
    child.send('')
    assert child.finish()[0] == 0
    holder.stop()


def test_ctrl_c_while_holding_leaves_nothing_behind(daemon, unique, children):
    """The interrupted locker holds another lock, which must stay: its request is left to the reaper,
    which gives the path back the moment it is granted."""
    holder = ServerLocker(password='x')
    ok, held = holder.acquire_lock(unique + 'p')
    assert ok
    child = children(INTERRUPTED, args=(unique + 'p', unique + 'kept'))
    child.readline()
    wait_until(lambda: daemon.status()['waiter_count'] == 1, what="the child's wait")
    child.proc.send_signal(signal.SIGINT)
    child.expect('interrupted')
    child.expect('abandoned')
    assert holder.release_lock(held) == (True, 1)
    # Granted to the abandoned request and released at once: a third locker gets the path.
    third = ServerLocker(password='x')
    ok, lid = third.acquire_lock(unique + 'p', timeout=10)
    assert ok
    assert third.release_lock(lid) == (True, 1)
    wait_until(lambda: daemon.status()['waiter_count'] == 0, what='no waiter left')
    # The child's other lock is untouched.
    locked = holder.lockedPaths
    assert list(locked) == [unique + 'kept']
    child.send('')
    child.expect(str([[unique + 'kept']]))
    child.expect('again True')
    child.send('')
    assert child.finish()[0] == 0
    holder.stop()
    third.stop()


def test_keyboard_interrupt_in_this_process(daemon, unique):
    """SIGINT to ourselves while the main thread waits: KeyboardInterrupt, no waiter left."""
    holder = ServerLocker(password='x')
    assert holder.acquire_lock(unique + 'p')[0]
    L = ServerLocker(password='x')
    import threading
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        L.acquire_lock(unique + 'p', timeout=30)
    assert time.monotonic() - started < 5
    timer.join()
    assert daemon.status()['waiter_count'] == 0
    assert L.isClient
    assert L.acquire_lock(unique + 'p', timeout=0.1) == (False, 0)
    holder.stop()
    ok, lid = L.acquire_lock(unique + 'p', timeout=5)
    assert ok
    L.stop()


FORK = r'''
import os, sys
from pylocker import ServerLocker, SingleLocker
path = sys.argv[1]
L = SingleLocker(password='x')
ok, lid = L.acquire_lock(path)
assert ok
parent_name = L.uniqueName
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    # The child's locker is a new client of its own: the parent's lock is not its lock.
    S = SingleLocker(password='ignored')
    out = [S is L, S.ownedLocks == {}, S.uniqueName != parent_name, S.acquire_lock(path, timeout=0.2)]
    ok2, lid2 = S.acquire_lock(path + '.child', timeout=5)
    out.append(ok2 and S.release_lock(lid2) == (True, 1))
    os.write(w, repr(out).encode())
    os._exit(0)
os.close(w)
data = os.read(r, 4096).decode()
os.waitpid(pid, 0)
print(data, flush=True)
print(L.ownedLocks == {lid: [path]}, L.release_lock(lid), flush=True)
'''


def test_fork_gives_the_child_its_own_client(daemon, unique, children):
    child = children(FORK, args=(unique + 'p',))
    assert child.readline() == str([True, True, True, (False, 0), True])
    assert child.readline() == 'True (True, 1)'
    assert child.finish()[0] == 0


def test_daemon_gone_gives_the_seed_codes(fresh_daemon, unique):
    L = ServerLocker(password='x')
    ok, lid = L.acquire_lock(unique + 'p')
    assert ok
    assert fresh_daemon.stop_daemon() == 0
    # Connection lost: code 1 for acquire_lock and publish_message, 2 for release_lock.
    assert L.acquire_lock(unique + 'q', timeout=1) == (False, 1)
    assert L.release_lock(lid) == (False, 2)
    assert L.publish_message('m') == (False, 1)
    assert not L.isClient
    assert L.ownedLocks == {}
    # A new daemon: start() connects again (reconnect=False does not do it by itself).
    fresh_daemon.start_daemon()
    assert L.acquire_lock(unique + 'q', timeout=1) == (False, 1)
    L.stop()
    L.start()
    ok, lid = L.acquire_lock(unique + 'q', timeout=1)
    assert ok
    L.stop()


def test_reconnect_after_the_daemon_restarts(fresh_daemon, unique):
    L = ServerLocker(password='x', reconnect=True)
    name = L.uniqueName
    assert L.acquire_lock(unique + 'p')[0]
    assert fresh_daemon.stop_daemon() == 0
    fresh_daemon.start_daemon()
    ok, lid = L.acquire_lock(unique + 'p', timeout=5)
    assert ok, lid
    assert L.isClient and L.uniqueName == name
    assert L.ownedLocks == {lid: [unique + 'p']}
    L.stop()


def test_unreachable_daemon_raises(tmp_path, monkeypatch):
    monkeypatch.setenv('PYLOCKER_ADDRESS', 'unix:path=%s' % (tmp_path / 'nothing'))
    monkeypatch.setenv('PYLOCKER_PRIVATE_SOCKET', str(tmp_path / 'nothing-either'))
    with pytest.raises(pylocker.PylockerConnectionError) as e:
        ServerLocker(password='x')
    assert 'Cannot reach pylockerd' in str(e.value)
    assert isinstance(e.value, ConnectionError)
    # Not started: the seed's codes for a locker that is neither client nor server.
    L = ServerLocker(password='x', autoconnect=False)
    assert not L.isClient and not L.isServer
    assert L.acquire_lock('p', timeout=1) == (False, 2)
    assert L.release_lock('0123456789abcdef0123456789abcdef') == (False, 3)
    assert L.publish_message('m') == (False, 2)
    with pytest.raises(pylocker.PylockerConnectionError):
        L.start()
