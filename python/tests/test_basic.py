import pylocker
from pylocker import ServerLocker


def test_acquire_release(daemon, unique):
    L = ServerLocker(password='x')
    ok, lid = L.acquire_lock(unique + 'a')
    assert ok, lid
    assert L.ownedLocks == {lid: [unique + 'a']}
    assert L.release_lock(lid) == (True, 1)
    assert L.release_lock(lid) == (True, 0)
