# -*- coding: utf-8 -*-
"""One ServerLocker used from many threads: waits do not block the instance's other calls, the GIL is
released while waiting, threads contending on one path never overlap; two instances in one process
are two clients."""
import threading
import time

import pytest

from pylocker import ServerLocker

from conftest import wait_until


def in_thread(fn, *args, **kwargs):
    result = {}

    def run():
        try:
            result['value'] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: B902 - reported to the test
            result['error'] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def joined(t, result, timeout=30):
    t.join(timeout)
    assert not t.is_alive(), "the thread is still running"
    if 'error' in result:
        raise result['error']
    return result['value']


def test_release_from_another_thread_while_one_waits(daemon, unique):
    L = ServerLocker(password='x')
    ok, first = L.acquire_lock(unique + 'p')
    assert ok
    # A second thread of the same locker waits for the path (the seed blocks even within a process).
    t, result = in_thread(L.acquire_lock, unique + 'p', timeout=30)
    wait_until(lambda: daemon.status()['waiter_count'] == 1, what='the waiting thread')
    started = time.monotonic()
    assert L.release_lock(first) == (True, 1)
    assert time.monotonic() - started < 2
    ok, second = joined(t, result)
    assert ok and second != first
    assert L.ownedLocks == {second: [unique + 'p']}
    assert L.release_lock(second) == (True, 1)
    L.stop()


def test_calls_go_on_while_threads_wait(daemon, unique):
    """Publishing, reading the inbox and acquiring other paths take a round trip each while three
    threads wait on the instance."""
    L = ServerLocker(password='x')
    holder = ServerLocker(password='x')
    ok, held = holder.acquire_lock(unique + 'busy')
    assert ok
    waiting = [in_thread(L.acquire_lock, unique + 'busy', timeout=30) for _ in range(3)]
    wait_until(lambda: daemon.status()['waiter_count'] == 3, what='three waiting threads')

    started = time.monotonic()
    for i in range(20):
        ok, pid = L.publish_message('hello %d' % i, receivers=[L.uniqueName])
        assert ok, pid
        assert L.has_message('hello %d' % i)
        ok, other = L.acquire_lock(unique + 'free', timeout=5)
        assert ok
        assert L.release_lock(other) == (True, 1)
    assert time.monotonic() - started < 10
    assert len(L.messages) == 20

    # The waiters are still waiting, then served one after the other.
    assert all(t.is_alive() for t, _ in waiting)
    assert holder.release_lock(held) == (True, 1)
    for _ in range(3):
        finished = wait_until(lambda: [w for w in waiting if not w[0].is_alive() and 'done' not in w[1]],
                              what='a grant')
        t, r = finished[0]
        ok, lid = joined(t, r)
        assert ok
        r['done'] = True
        assert L.release_lock(lid) == (True, 1)
    L.stop()
    holder.stop()


def test_gil_is_released_while_waiting(daemon, unique):
    L = ServerLocker(password='x')
    holder = ServerLocker(password='x')
    ok, held = holder.acquire_lock(unique + 'p')
    assert ok
    t, result = in_thread(L.acquire_lock, unique + 'p', timeout=1.0)
    wait_until(lambda: daemon.status()['waiter_count'] == 1, what='the waiting thread')
    # Pure Python in this thread runs while the other one waits.
    count = 0
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        count += 1
    assert count > 10000
    assert joined(t, result) == (False, 0)
    holder.stop()
    L.stop()


def test_threads_contending_never_overlap(daemon, unique):
    L = ServerLocker(password='x')
    inside = []
    overlaps = []
    counter = {'n': 0}
    rounds, nthreads = 40, 6

    def worker():
        for _ in range(rounds):
            ok, lid = L.acquire_lock(unique + 'shared', timeout=60)
            assert ok, lid
            inside.append(1)
            if len(inside) != 1:
                overlaps.append(len(inside))
            n = counter['n']
            time.sleep(0.0005)
            counter['n'] = n + 1
            inside.pop()
            assert L.release_lock(lid) == (True, 1)

    threads = [in_thread(worker) for _ in range(nthreads)]
    for t, r in threads:
        joined(t, r, timeout=120)
    assert overlaps == []
    assert counter['n'] == rounds * nthreads
    assert L.ownedLocks == {}
    L.stop()


def test_timeout_in_a_thread(daemon, unique):
    L = ServerLocker(password='x')
    holder = ServerLocker(password='x')
    assert holder.acquire_lock(unique + 'p')[0]
    started = time.monotonic()
    t, result = in_thread(L.acquire_lock, unique + 'p', timeout=0.4)
    assert joined(t, result) == (False, 0)
    elapsed = time.monotonic() - started
    assert 0.35 <= elapsed < 5, elapsed
    assert daemon.status()['waiter_count'] == 0
    holder.stop()
    L.stop()


def test_stop_while_a_thread_waits(daemon, unique):
    L = ServerLocker(password='x')
    holder = ServerLocker(password='x')
    assert holder.acquire_lock(unique + 'p')[0]
    t, result = in_thread(L.acquire_lock, unique + 'p', timeout=30)
    wait_until(lambda: daemon.status()['waiter_count'] == 1, what='the waiting thread')
    L.stop()
    # The wait ends: the locker is neither a client nor a server any more.
    assert joined(t, result) == (False, 2)
    wait_until(lambda: daemon.status()['waiter_count'] == 0, what='the request gone')
    holder.stop()


def test_two_instances_are_two_clients(daemon, unique):
    A = ServerLocker(password='x', name='a')
    B = ServerLocker(password='x', name='b')
    assert A.clientId != B.clientId
    ok, lid = A.acquire_lock(unique + 'p')
    assert ok
    # B is another client: it waits for A, and times out.
    assert B.acquire_lock(unique + 'p', timeout=0.2) == (False, 0)
    assert B.ownedLocks == {}
    assert A.ownedLocks == {lid: [unique + 'p']}
    # Separate inboxes.
    assert A.publish_message('for b', receivers=[B.uniqueName], toSelf=False)[0]
    assert B.has_message('for b') and not A.has_message('for b')
    # Stopping A releases its lock; B gets the path.
    A.stop()
    ok, lid_b = B.acquire_lock(unique + 'p', timeout=5)
    assert ok
    assert B.release_lock(lid_b) == (True, 1)
    B.stop()


@pytest.mark.parametrize('n', [2, 4])
def test_instances_in_threads(daemon, unique, n):
    """Each thread its own locker on one path: they take turns."""
    order = []

    def worker(i):
        L = ServerLocker(password='x')
        for _ in range(10):
            ok, lid = L.acquire_lock(unique + 'p', timeout=60)
            assert ok
            order.append(('in', i))
            time.sleep(0.001)
            order.append(('out', i))
            assert L.release_lock(lid) == (True, 1)
        L.stop()

    threads = [in_thread(worker, i) for i in range(n)]
    for t, r in threads:
        joined(t, r, timeout=120)
    assert len(order) == 20 * n
    for k in range(0, len(order), 2):
        assert order[k][0] == 'in' and order[k + 1] == ('out', order[k][1])
