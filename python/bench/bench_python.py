#!/usr/bin/python3
"""Acquire+release pairs per second through the Python package, beside the C library's in the same run:
one process on an uncontended path, and four processes on one path, on pylockerd's direct socket (the
default way of a local locker). Each figure is the median of five rounds of half the measuring time,
Python and C alternating, so that a noisy neighbour slows both alike. Prints RESULT lines for tests/bench/run-all.sh.

    bench_python.py BENCH_PYTHON_PAIRS     (the C program tests/bench/bench-python-pairs)

Environment: PYLOCKERD, PYLOCKER_TEST_BUS_CONFIG, PYTHONPATH (the build's python/), and
PYLOCKER_BENCH_SECONDS (per measurement, default 2)."""
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))
from pylocker_testing import Daemon, tool_env  # noqa: E402

ROUNDS = 5

WORKER = r'''
import sys, time
from pylocker import ServerLocker
path, seconds = sys.argv[1], float(sys.argv[2])
L = ServerLocker(password='bench')
acquire, release = L.acquire_lock, L.release_lock
for _ in range(50):
    ok, lid = acquire(path)
    release(lid)
print('ready', flush=True)
sys.stdin.readline()
n = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    ok, lid = acquire(path, timeout=60)
    if not ok:
        raise SystemExit('not acquired: %s' % (lid,))
    released = release(lid)
    if released != (True, 1):
        raise SystemExit('not released: %s' % (released,))
    n += 1
print(n, flush=True)
'''


def note(text):
    print(text, file=sys.stderr, flush=True)


def result(key, value, unit, what):
    print('RESULT\t%s\t%.3f\t%s\t%s' % (key, value, unit, what), flush=True)


def python_rate(daemon, nprocs, path, seconds):
    env = dict(os.environ)
    env.update(daemon.env())
    procs = [subprocess.Popen([sys.executable, '-c', WORKER, path, str(seconds)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=env) for _ in range(nprocs)]
    try:
        for p in procs:
            if p.stdout.readline().strip() != b'ready':
                raise SystemExit('a Python worker did not start')
        for p in procs:
            p.stdin.write(b'go\n')
            p.stdin.flush()
        total = 0
        for p in procs:
            out, _ = p.communicate(timeout=seconds + 120)
            if p.returncode != 0:
                raise SystemExit('a Python worker failed')
            total += int(out)
        return total / seconds
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def c_rate(pairs_program, daemon, nprocs, path, seconds):
    out = subprocess.run([pairs_program, daemon.address, daemon.private_socket, path, str(seconds), str(nprocs)],
                         stdout=subprocess.PIPE, env=tool_env(), timeout=seconds + 300, check=True).stdout.decode()
    words = out.split()
    return int(words[1]) / float(words[3])


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    pairs_program = sys.argv[1]
    seconds = max(0.5, float(os.environ.get('PYLOCKER_BENCH_SECONDS') or 2) / 2)
    d = Daemon()
    try:
        figures = {}
        for nprocs in (1, 4):
            py, c = [], []
            for r in range(ROUNDS):
                path = '/bench/python/%d/%d' % (nprocs, r)
                c.append(c_rate(pairs_program, d, nprocs, path + '/c', seconds))
                py.append(python_rate(d, nprocs, path + '/py', seconds))
                note('   %d process%s, round %d: C %.0f/s, Python %.0f/s'
                     % (nprocs, 'es' if nprocs > 1 else '', r + 1, c[-1], py[-1]))
            figures[nprocs] = (statistics.median(py), statistics.median(c))
        py1, c1 = figures[1]
        py4, c4 = figures[4]
        result('python.pairs.1.rate', py1, '/s', 'Python ServerLocker acquire+release pairs/s, 1 process, '
               'uncontended path, direct socket')
        result('python.lib.pairs.1.rate', c1, '/s', 'the same through the C library')
        result('python.pairs.4.rate', py4, '/s', 'Python ServerLocker pairs/s, 4 processes on one path')
        result('python.lib.pairs.4.rate', c4, '/s', 'the same through the C library')
    finally:
        d.stop()


if __name__ == '__main__':
    main()
