# -*- coding: utf-8 -*-
"""The lock-file Locker: the seed's codes, the file it opens, the lock file's format, and mutual
exclusion with C lockers (pylockctl file-lock) and other processes."""
import inspect
import os
import re
import subprocess
import sys
import time

import pytest

from pylocker import Locker

from conftest import PYLOCKCTL, tool_env, wait_until


def test_signature_and_defaults():
    params = [(p.name, p.default) for p in list(inspect.signature(Locker.__init__).parameters.values())[1:]]
    assert params == [('filePath', inspect.Parameter.empty), ('lockPass', inspect.Parameter.empty), ('mode', 'ab'),
                      ('lockPath', None), ('timeout', 60), ('wait', 0), ('deadLock', 120)]
    FL = Locker(filePath=None, lockPass='p')
    assert (FL.filePath, FL.lockPass, FL.timeout, FL.wait, FL.deadLock) == (None, 'p', 60.0, 0.0, 120.0)
    assert FL.lockPath == os.path.join(os.getcwd(), '.lock')
    FL = Locker(filePath='/tmp/some/file.txt', lockPass='p')
    assert FL.lockPath == '/tmp/some/.lock'
    for name in ('set_mode', 'set_file_path', 'set_lock_pass', 'set_lock_path', 'set_timeout', 'set_wait',
                 'set_dead_lock', 'acquire', 'release'):
        assert callable(getattr(FL, name))


def test_acquire_and_release_codes(tmp_path):
    lock = str(tmp_path / 'lk')
    A = Locker(filePath=None, lockPass='alice', lockPath=lock)
    # 0: the lock was free and is now set (no lock file yet).
    assert A.acquire_lock() == (True, 0)
    text = open(lock, 'rb').read().decode()
    assert re.match(r'alice\n\d+\.\d{6}\n%d\Z' % os.getpid(), text), text
    # 1: already set with this pass, by this locker or another one with the same pass.
    assert A.acquire_lock() == (True, 1)
    A2 = Locker(filePath=None, lockPass='alice', lockPath=lock)
    assert A2.acquire_lock() == (True, 1)
    # 3: another pass does not get it before its timeout.
    B = Locker(filePath=None, lockPass='bob', lockPath=lock, timeout=0.2)
    started = time.monotonic()
    assert B.acquire_lock() == (False, 3)
    assert 0.15 < time.monotonic() - started < 5
    # 4: not ours to release.
    assert B.release_lock() == (False, 4)
    # 2: ours, released; 1: found empty; 0: no lock file.
    assert A.release_lock() == (True, 2)
    assert open(lock, 'rb').read() == b''
    assert A.release_lock() == (True, 1)
    os.unlink(lock)
    assert A.release_lock() == (True, 0)
    assert B.acquire_lock() == (True, 0)
    assert B.release() == (True, 2)
    # Dropping a locker that had the lock gives back a lock of its pass, as the seed's destructor does.
    assert B.acquire_lock() == (True, 0)
    del B
    assert open(lock, 'rb').read() == b''
    del A2


def test_takeover_of_forgotten_locks(tmp_path):
    lock = str(tmp_path / 'lk')
    # A holder whose process is gone.
    p = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], stdout=subprocess.PIPE)
    dead = int(p.stdout)
    open(lock, 'w').write('other\n%.6f\n%d' % (time.time(), dead))
    assert Locker(filePath=None, lockPass='me', lockPath=lock).acquire_lock() == (True, 2)
    # A live holder older than deadLock.
    open(lock, 'w').write('other\n%.6f\n%d' % (time.time() - 1000, os.getppid()))
    assert Locker(filePath=None, lockPass='me2', lockPath=lock, deadLock=120).acquire_lock() == (True, 2)
    # Younger than deadLock: held.
    open(lock, 'w').write('other\n%.6f\n%d' % (time.time(), os.getppid()))
    assert Locker(filePath=None, lockPass='me3', lockPath=lock, timeout=0.1).acquire_lock() == (False, 3)


def test_with_opens_the_file_and_release_closes_it(tmp_path):
    path = str(tmp_path / 'data.bin')
    FL = Locker(filePath=path, lockPass='p')
    # acquire_lock alone opens nothing (as in the seed): the file does not exist.
    assert FL.acquire_lock() == (True, 0)
    assert not os.path.exists(path)
    assert FL.release_lock() == (True, 2)
    with FL as (acquired, code, fd):
        assert acquired and code == 0 and fd.mode == 'ab'
        fd.write(b'one')
    assert fd.closed
    with FL as (acquired, code, fd):
        fd.write(b'two')
        # Released and closed: code 3.
        assert FL.release_lock() == (True, 3)
    assert open(path, 'rb').read() == b'onetwo'
    # Mode 'r' on a missing file: the error comes out and the lock is given back.
    FR = Locker(filePath=str(tmp_path / 'missing'), lockPass='p', mode='r')
    with pytest.raises(FileNotFoundError):
        with FR:
            pass
    assert open(FR.lockPath, 'rb').read() == b''


def test_with_when_not_acquired(tmp_path):
    lock = str(tmp_path / 'lk')
    holder = Locker(filePath=None, lockPass='holder', lockPath=lock)
    assert holder.acquire_lock()[0]
    FL = Locker(filePath=str(tmp_path / 'f'), lockPass='p', lockPath=lock, timeout=0.1)
    with FL as (acquired, code, fd):
        assert (acquired, code, fd) == (False, 3, None)
    assert not os.path.exists(str(tmp_path / 'f'))
    assert holder.release_lock() == (True, 2)


def test_errors_are_returned_or_raised(tmp_path):
    FL = Locker(filePath=None, lockPass='p', lockPath=str(tmp_path / 'no' / 'such' / 'dir' / 'lk'))
    acquired, code = FL.acquire_lock()
    assert acquired is False and isinstance(code, Exception)
    with pytest.raises(Exception):
        FL.acquire_lock(raiseError=True)


def test_bad_input():
    with pytest.raises(ValueError):
        Locker(filePath=None, lockPass='a\nb')
    with pytest.raises(TypeError):
        Locker(filePath=None, lockPass=3)
    with pytest.raises(ValueError):
        Locker(filePath=None, lockPass='p', mode='x')
    with pytest.raises(ValueError):
        Locker(filePath=None, lockPass='p', timeout=-1)
    with pytest.raises(ValueError):
        Locker(filePath=None, lockPass='p', wait=2, timeout=1)
    with pytest.raises(ValueError):
        Locker(filePath=None, lockPass='p', deadLock='x')
    with pytest.raises(TypeError):
        Locker(filePath=3, lockPass='p')
    # The seed's asserts: AssertionErrors too.
    with pytest.raises(AssertionError):
        Locker(filePath=None, lockPass='p', mode='x')


def test_set_lock_pass(tmp_path):
    lock = str(tmp_path / 'lk')
    FL = Locker(filePath=None, lockPass='old', lockPath=lock, timeout=0.1)
    assert FL.acquire_lock() == (True, 0)
    FL.set_lock_pass('new')
    assert FL.lockPass == 'new'
    # The lock set with the old pass was given back.
    assert open(lock, 'rb').read() == b''
    assert FL.acquire_lock() == (True, 0)
    assert open(lock, 'rb').read().startswith(b'new\n')


def ctl(*args, stdin=None):
    return subprocess.Popen([PYLOCKCTL, 'file-lock'] + list(args), env=tool_env(), stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_pylockctl_file_lock_and_python_exclude_each_other(tmp_path):
    lock = str(tmp_path / 'lk')
    # pylockctl holds the lock while its command waits for a line.
    p = ctl('--pass', 'c-side', '--lock-path', lock, '--', 'sh', '-c', 'echo held; read x', stdin=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b'held\n'
        FL = Locker(filePath=None, lockPass='python-side', lockPath=lock, timeout=0.3)
        assert FL.acquire_lock() == (False, 3)
        # Released when its command ends: then ours.
        p.stdin.write(b'\n')
        p.stdin.close()
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    FL.set_timeout(10)
    assert FL.acquire_lock() == (True, 0)
    # While Python holds it, pylockctl times out (exit 75) without running its command.
    q = ctl('--pass', 'c-side', '--lock-path', lock, '--timeout', '0.3', '--', 'sh', '-c', 'echo ran')
    out, err = q.communicate(timeout=30)
    assert q.returncode == 75 and out == b'', err
    # The same pass shares the lock (the seed's code 1).
    q = ctl('--pass', 'python-side', '--lock-path', lock, '--timeout', '1', '--', 'sh', '-c', 'echo ran')
    out, err = q.communicate(timeout=30)
    assert q.returncode == 0 and out == b'ran\n', err
    assert FL.release_lock()[0]


CONTEND = r'''
import os, sys, time
from pylocker import Locker
lock, log, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
FL = Locker(filePath=None, lockPass='pass-%d' % os.getpid(), lockPath=lock, timeout=120)
for i in range(rounds):
    acquired, code = FL.acquire_lock()
    assert acquired and code == 0, code
    with open(log, 'a') as f:
        f.write('%d in\n' % os.getpid()); f.flush()
        time.sleep(0.0002)
        f.write('%d out\n' % os.getpid())
    assert FL.release_lock() == (True, 2)
'''


def test_processes_contending_with_pylockctl(tmp_path, children):
    """Python processes and pylockctl file-lock commands on one lock file never overlap."""
    lock, log = str(tmp_path / 'lk'), str(tmp_path / 'log')
    rounds = 100
    procs = [children(CONTEND, args=(lock, log, str(rounds))) for _ in range(2)]
    script = 'echo "$$ in" >> %s; echo "$$ out" >> %s' % (log, log)
    c_runs = 0
    while any(p.proc.poll() is None for p in procs) or c_runs < 20:
        q = ctl('--lock-path', lock, '--timeout', '60', '--', 'sh', '-c', script)
        assert q.wait(60) == 0
        c_runs += 1
    for p in procs:
        assert p.finish()[0] == 0
    lines = open(log).read().splitlines()
    assert len(lines) == 2 * (2 * rounds + c_runs)
    for k in range(0, len(lines), 2):
        pid, what = lines[k].split()
        assert what == 'in' and lines[k + 1] == pid + ' out', "overlap at line %d" % k


def test_shared_between_threads(tmp_path):
    import threading
    lock = str(tmp_path / 'lk')
    FL = Locker(filePath=None, lockPass='p', lockPath=lock)
    errors = []

    def work():
        try:
            for _ in range(50):
                assert FL.acquire_lock()[0]
                FL.release_lock()
        except Exception as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_ctrl_c_while_waiting_for_a_lock_file(tmp_path):
    import signal
    import threading
    lock = str(tmp_path / 'lk')
    holder = Locker(filePath=None, lockPass='holder', lockPath=lock)
    assert holder.acquire_lock()[0]
    FL = Locker(filePath=None, lockPass='waiter', lockPath=lock, timeout=30)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        FL.acquire_lock()
    assert time.monotonic() - started < 5
    timer.join()
    assert open(lock, 'rb').read().startswith(b'holder\n')
    assert holder.release_lock() == (True, 2)
