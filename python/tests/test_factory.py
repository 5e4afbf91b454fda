# -*- coding: utf-8 -*-
"""SingleLocker (one locker per process) and LockersFactory / FACTORY (lockers by key)."""
import pickle
import threading

import pytest

from pylocker import FACTORY, ServerLocker, SingleLocker
from pylocker.ServerLocker import LockersFactory


def test_single_locker_is_one_instance(daemon, unique):
    S = SingleLocker(password='first', name='single')
    T = SingleLocker(password='second', name='ignored')
    assert S is T
    assert T.password == b'first' and T.name == 'single'
    assert isinstance(S, ServerLocker)
    ok, lid = S.acquire_lock(unique + 'p')
    assert ok and T.ownedLocks == {lid: [unique + 'p']}
    assert T.release_lock(lid) == (True, 1)
    # Loading a pickled SingleLocker gives the process's instance, as it is.
    assert pickle.loads(pickle.dumps(S)) is S
    assert S.isClient


def test_single_locker_from_threads(daemon):
    found = []
    threads = [threading.Thread(target=lambda: found.append(SingleLocker(password='x'))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 8 and all(f is found[0] for f in found)


def test_factory_is_a_singleton():
    assert LockersFactory() is FACTORY
    assert LockersFactory() is LockersFactory()


def test_factory_get_and_pop(daemon, unique):
    key = unique + 'key'
    L0 = FACTORY(key=key, password='my_password', autoconnect=False)
    L1 = FACTORY(key=key, password='another_password')
    assert L0 is L1 and L0.password == L1.password == b'my_password'
    # Not started by the factory unless asked.
    assert not L0.isClient
    assert FACTORY.get(key, restart=True) is L0 and L0.isClient
    L0.stop()
    # regenerate: a stopped locker is replaced by a new one made with the call's arguments.
    L2 = FACTORY.get(key, False, True, password='regenerated')
    assert L2 is not L0 and L2.password == b'regenerated' and L2.isClient
    assert FACTORY.get(key) is L2
    # pop: the locker, and the key is free again.
    assert FACTORY.pop(key) is L2
    L3 = FACTORY.get(key, password='new', autoconnect=False)
    assert L3 is not L2
    assert FACTORY.pop(key) is L3
    L2.stop()


def test_factory_bad_input():
    with pytest.raises(TypeError):
        FACTORY.get(3, password='x', autoconnect=False)
    with pytest.raises(TypeError):
        FACTORY.get('k', restart='yes', password='x', autoconnect=False)
