# -*- coding: utf-8 -*-
"""Fixtures of the Python package's tests: pylockerd on a private bus (pylocker_testing.Daemon), for a
module or for one test, lockers pointed at it, child Python processes. meson test sets the
environment (PYLOCKERD, PYLOCKCTL, PYLOCKER_TEST_BUS_CONFIG, PYTHONPATH)."""
import os
import subprocess
import sys
import textwrap

import pytest

from pylocker_testing import (BUS_CONFIG, PYLOCKCTL, PYLOCKERD, Daemon, die_with_parent, free_port,  # noqa: F401
                              tool_env, wait_until)

if not (PYLOCKERD and PYLOCKCTL and BUS_CONFIG):
    raise RuntimeError("PYLOCKERD, PYLOCKCTL and PYLOCKER_TEST_BUS_CONFIG are not set: run the tests through "
                       "meson test")


@pytest.fixture(scope='module')
def daemon():
    """One bus and pylockerd for a test module; tests use paths of their own."""
    d = Daemon()
    yield d
    d.stop()


@pytest.fixture
def fresh_daemon():
    """A bus and pylockerd of the test's own."""
    d = Daemon()
    yield d
    d.stop()


@pytest.fixture(autouse=True)
def _point_at(request, monkeypatch):
    """Every test's lockers connect to its daemon (the module's or its own)."""
    for name in ('fresh_daemon', 'daemon'):
        if name in request.fixturenames:
            d = request.getfixturevalue(name)
            for k, v in d.env().items():
                monkeypatch.setenv(k, v)
            monkeypatch.delenv('PYLOCKER_BUS', raising=False)
            break
    yield


@pytest.fixture
def unique(request):
    """A path prefix of this test's own."""
    return '/test/%s/%s/' % (os.getpid(), request.node.name)


class Child(object):
    """A Python process running a script with the test's environment (pylocker importable, pointed at
    the daemon); it prints lines the test reads. Stopped by PID."""

    def __init__(self, script, env=None, args=()):
        full_env = dict(os.environ)
        full_env.update(env or {})
        # Unbuffered: readline() must not take more than a line from the pipe, or select() would not
        # see what it took.
        self.proc = subprocess.Popen([sys.executable, '-c', textwrap.dedent(script)] + list(args), bufsize=0,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=full_env, preexec_fn=die_with_parent)

    def readline(self, timeout=30):
        import select
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "child printed nothing within %s s" % timeout
        line = self.proc.stdout.readline().decode().rstrip('\n')
        assert line, "child ended: %s" % self.proc.stderr.read().decode()
        return line

    def expect(self, text, timeout=30):
        line = self.readline(timeout)
        assert line == text, "expected %r, child printed %r" % (text, line)

    def send(self, line):
        self.proc.stdin.write((line + '\n').encode())
        self.proc.stdin.flush()

    def finish(self, timeout=60):
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out.decode(), err.decode()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def children():
    started = []

    def start(script, env=None, args=()):
        c = Child(script, env, args)
        started.append(c)
        return c
    yield start
    for c in started:
        c.kill()
