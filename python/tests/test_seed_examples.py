# -*- coding: utf-8 -*-
"""Every code example of the seed's documentation (pylocker 3.1.0), in examples/, written out as the
seed means it (its text lost the else: lines and the release calls after '# now release the lock.';
Python 2's 'print fd' is print(fd)). Each runs unchanged, as its own Python process, against the
test's pylockerd, and shows the documented outcome."""
import os
import subprocess
import sys
import time

import pylocker

from conftest import wait_until

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'examples')


def run_example(name, cwd, timeout=60):
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, name)], cwd=str(cwd), env=dict(os.environ),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stderr == b'', p.stderr.decode()
    return p.stdout.decode().splitlines()


SERVER_LOCKER_OUTPUT = [
    "Lock acquired for 'my_path'",
    "In this if statement block I can safely do whatever I want with 'my_path' before releasing the lock",
    "Lock acquired for all of 'path_to_file1', 'path_to_file2' and  'path_to_directory'",
]


def test_server_locker_example(daemon, tmp_path):
    assert run_example('server_locker.py', tmp_path) == SERVER_LOCKER_OUTPUT
    # It released what it acquired (and its connection went with the process anyway).
    wait_until(lambda: daemon.status()['lock_count'] == 0, what='no lock left')


def test_server_locker_example_waits_for_a_holder(daemon, tmp_path):
    """Another locker holds 'my_path': the example blocks until it is released, then has it."""
    holder = pylocker.ServerLocker(password='server_password')
    acquired, lockId = holder.acquire_lock('my_path')
    assert acquired
    p = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, 'server_locker.py')], cwd=str(tmp_path),
                         env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: daemon.status()['waiter_count'] == 1, what="the example's wait")
        time.sleep(0.2)
        assert p.poll() is None
        assert holder.release_lock(lockId) == (True, 1)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err.decode()
    assert out.decode().splitlines() == SERVER_LOCKER_OUTPUT
    holder.stop()


def test_factory_example(daemon, tmp_path):
    # L0 and L1 are one locker, created with the first call's password.
    assert run_example('factory.py', tmp_path) == ['True', "b'my_password' b'my_password'"]


def test_locker_acquire_example(tmp_path):
    assert run_example('locker_acquire.py', tmp_path) == [
        "Lock acquired",
        "In this if statement block I can do whatever I want before releasing the lock",
    ]
    # '.lock' in the working directory, released: empty.
    assert (tmp_path / '.lock').read_bytes() == b''


def test_locker_with_example(tmp_path):
    assert run_example('locker_with.py', tmp_path) == ["Lock acquired, in this if statement do whatever you want"]
    assert (tmp_path / '.lock').read_bytes() == b''


def test_locker_file_example(tmp_path):
    lines = run_example('locker_file.py', tmp_path)
    # print(fd): the closed file object ("<_io.TextIOWrapper name='myfile.txt' mode='w' encoding=...>").
    assert len(lines) == 1 and lines[0].startswith("<_io.TextIOWrapper name='myfile.txt' mode='w'"), lines
    assert (tmp_path / 'myfile.txt').read_text() == "I have succesfuly acquired the lock !"
    assert (tmp_path / '.lock').read_bytes() == b''


def test_locker_file_example_closes_fd(tmp_path):
    """The same steps in this process: after the with block the file is closed and the lock free."""
    import uuid
    from pylocker import Locker
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        FL = Locker(filePath='myfile.txt', lockPass=str(uuid.uuid1()), mode='w')
        with FL as r:
            acquired, code, fd = r
            assert acquired and code == 0
            assert fd is not None and not fd.closed
            fd.write("I have succesfuly acquired the lock !")
        assert fd.closed
        assert (tmp_path / 'myfile.txt').read_text() == "I have succesfuly acquired the lock !"
    finally:
        os.chdir(cwd)
