# -*- coding: utf-8 -*-
"""Messages between lockers: publish_message's options and codes, the inbox calls, between two
lockers of one process and between processes."""
import time

import pytest

from pylocker import ServerLocker

from conftest import wait_until


@pytest.fixture
def pair(daemon):
    A = ServerLocker(password='x', name='alice')
    B = ServerLocker(password='x', name='bob')
    yield A, B
    A.stop()
    B.stop()


def test_publish_to_a_receiver(pair):
    A, B = pair
    ok, pid = A.publish_message('hello', receivers=[B.uniqueName])
    assert ok and len(pid) == 32
    # toSelf (default True): A has it too.
    assert B.has_message('hello') and A.has_message('hello')
    assert B.messages == ['hello']
    p = B.get_message('hello')
    assert p['message'] == 'hello'
    assert p['request_unique_id'] == pid
    assert p['client_unique_name'] == A.uniqueName
    assert p['sender_id'] == A.clientId
    assert p['timeout'] is None
    assert abs(p['request_utctime'] - time.time()) < 60
    assert [q['request_unique_id'] for q in p['publications']] == [pid]
    # get leaves it, pop takes it.
    assert B.has_message('hello')
    assert B.pop_message('hello')['request_unique_id'] == pid
    assert not B.has_message('hello')
    assert B.get_message('hello') is None and B.pop_message('hello') is None


def test_broadcast_and_to_self(pair):
    A, B = pair
    ok, pid = A.publish_message('all', toSelf=False)
    assert ok
    assert B.has_message('all') and not A.has_message('all')
    # Named, a locker receives it whatever toSelf says, as in the seed.
    ok, _ = A.publish_message('me', receivers=[A.uniqueName], toSelf=False)
    assert ok and A.has_message('me')
    # Nobody: an empty list and toSelf=False.
    assert A.publish_message('nobody', receivers=[], toSelf=False) == (True, '')
    assert not A.has_message('nobody') and not B.has_message('nobody')
    ok, _ = A.publish_message('only me', receivers=[])
    assert ok and A.has_message('only me') and not B.has_message('only me')


def test_unique_and_replace(pair):
    A, B = pair
    ok, first = A.publish_message('m', receivers=[B.uniqueName], toSelf=False)
    assert ok
    # unique: B already holds the text: refused (nothing changes).
    ok, code = A.publish_message('m', receivers=[B.uniqueName], toSelf=False, unique=True)
    assert ok is False and isinstance(code, str)
    assert B.get_message('m')['request_unique_id'] == first
    # replace (default): one publication, the new one.
    ok, second = A.publish_message('m', receivers=[B.uniqueName], toSelf=False)
    assert ok
    assert [p['request_unique_id'] for p in B.get_message('m')['publications']] == [second]
    # replace=False: both kept, oldest first; the dict is the latest's.
    ok, third = A.publish_message('m', receivers=[B.uniqueName], toSelf=False, replace=False)
    assert ok
    p = B.get_message('m')
    assert [q['request_unique_id'] for q in p['publications']] == [second, third]
    assert p['request_unique_id'] == third
    assert B.messages == ['m']


def test_timeout_expires(pair):
    A, B = pair
    ok, _ = A.publish_message('short', receivers=[B.uniqueName], timeout=0.3, toSelf=False)
    assert ok
    p = B.get_message('short')
    assert p['timeout'] == pytest.approx(0.3, abs=0.05)
    assert p['expires_utctime'] is not None
    wait_until(lambda: not B.has_message('short'), timeout=10, what='the publication to expire')


def test_remove_published_message(pair, daemon):
    A, B = pair
    C = ServerLocker(password='x')
    A.publish_message('x', receivers=[B.uniqueName], toSelf=False, replace=False)
    C.publish_message('x', receivers=[B.uniqueName], toSelf=False, replace=False)
    assert len(B.get_message('x')['publications']) == 2
    # From one sender only (by unique name), then from all.
    assert B.remove_published_message('x', senders=[A.uniqueName]) is None
    assert [p['client_unique_name'] for p in B.get_message('x')['publications']] == [C.uniqueName]
    B.remove_message('x')
    assert not B.has_message('x')
    B.remove_published_message('never there')
    C.stop()


def test_unknown_receiver(pair):
    A, B = pair
    ok, code = A.publish_message('m', receivers=['no-such-locker'])
    assert ok is False and 'no-such-locker' in code
    assert not A.has_message('m')


def test_inbox_goes_with_the_connection(pair):
    A, B = pair
    A.publish_message('m', receivers=[B.uniqueName])
    B.stop()
    assert B.messages == [] and not B.has_message('m') and B.get_message('m') is None
    # Once the daemon has seen B go (in its own time), B's name addresses nobody.
    wait_until(lambda: A.publish_message('m', receivers=[B.uniqueName])[0] is False, what='B gone')


LISTENER = r'''
import sys, time
from pylocker import ServerLocker
L = ServerLocker(password='x')
print(L.uniqueName, flush=True)
deadline = time.monotonic() + 30
while not L.has_message('ping') and time.monotonic() < deadline:
    time.sleep(0.01)
p = L.pop_message('ping')
sender = p['client_unique_name']
ok, pid = L.publish_message('pong', receivers=[sender], toSelf=False)
print('answered %s' % ok, flush=True)
sys.stdin.readline()
'''


def test_messages_between_processes(daemon, children):
    A = ServerLocker(password='x')
    child = children(LISTENER)
    name = child.readline()
    assert A.publish_message('ping', receivers=[name], toSelf=False)[0]
    child.expect('answered True')
    wait_until(lambda: A.has_message('pong'), what='the answer')
    assert A.get_message('pong')['client_unique_name'] == name
    child.send('')
    assert child.finish()[0] == 0
    A.stop()
