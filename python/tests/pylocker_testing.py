# -*- coding: utf-8 -*-
"""A private dbus-daemon (tests/data/session.conf) and a real pylockerd on it, with its direct socket,
started as tests/common/harness.c starts them and stopped by PID; pylockerd must exit 0 (a sanitizer
report fails it). For the tests (conftest.py) and the benchmark (python/bench). The environment says
where the programs are: PYLOCKERD, PYLOCKCTL, PYLOCKER_TEST_BUS_CONFIG (meson test sets them)."""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PYLOCKERD = os.environ.get('PYLOCKERD')
PYLOCKCTL = os.environ.get('PYLOCKCTL')
BUS_CONFIG = os.environ.get('PYLOCKER_TEST_BUS_CONFIG')

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def die_with_parent():
    # A test that dies leaves no daemon behind.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def tool_env(extra=None):
    """The environment of the programs we start that are not Python (dbus-daemon, pylockerd,
    pylockctl): without the interpreter's preloaded sanitizer runtime, with the daemon's own
    sanitizer options."""
    env = dict(os.environ)
    env.pop('LD_PRELOAD', None)
    if 'PYLOCKER_TEST_DAEMON_ASAN_OPTIONS' in env:
        env['ASAN_OPTIONS'] = env['PYLOCKER_TEST_DAEMON_ASAN_OPTIONS']
    env.update(extra or {})
    return env


def free_port():
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_status(proc, timeout):
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


class Daemon(object):
    """A private session bus and a pylockerd on it. env() gives the variables that point pylocker at
    them (PYLOCKER_ADDRESS, PYLOCKER_PRIVATE_SOCKET)."""

    def __init__(self, args=(), direct=True):
        self.tmpdir = tempfile.mkdtemp(prefix='pylocker-py-test-')
        os.chmod(self.tmpdir, 0o755)
        self.args = list(args)
        self.direct = direct
        self.bus = None
        self.daemon = None
        self.address = None
        self.private_socket = os.path.join(self.tmpdir, 'run', 'private')
        self.notify_path = os.path.join(self.tmpdir, 'notify')
        self._start_bus()
        self.start_daemon()

    def _start_bus(self):
        self.bus = subprocess.Popen(['dbus-daemon', '--nofork', '--print-address=1', '--config-file=' + BUS_CONFIG],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    env=tool_env({'XDG_RUNTIME_DIR': self.tmpdir}), preexec_fn=die_with_parent)
        line = self.bus.stdout.readline().decode().strip()
        self.bus.stdout.close()
        assert line.startswith('unix:'), "dbus-daemon printed %r" % line
        self.address = line

    def start_daemon(self, extra_args=()):
        config = os.path.join(self.tmpdir, 'empty.conf')
        open(config, 'w').close()
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)
        notify.bind(self.notify_path)
        argv = [PYLOCKERD, '--address', self.address, '--config', config,
                '--private-socket=' + self.private_socket] + self.args + list(extra_args)
        self.daemon = subprocess.Popen(argv, env=tool_env({'NOTIFY_SOCKET': self.notify_path}),
                                       preexec_fn=die_with_parent)
        # READY=1 comes once the bus name is ours.
        try:
            deadline = time.monotonic() + 30
            seen = b''
            while b'READY=1' not in seen:
                left = deadline - time.monotonic()
                assert left > 0, "pylockerd sent no READY=1 (got %r)" % seen
                assert self.daemon.poll() is None, "pylockerd exited with %s" % self.daemon.returncode
                notify.settimeout(min(left, 0.5))
                try:
                    seen += notify.recv(4096) + b'\n'
                except socket.timeout:
                    pass
        finally:
            # Nobody reads it any more: pylockerd's STATUS= updates would fill it and block the daemon
            # in sendmsg(). Gone, its sd_notify() just fails.
            notify.close()
            os.unlink(self.notify_path)

    def env(self):
        env = {'PYLOCKER_ADDRESS': self.address}
        env['PYLOCKER_PRIVATE_SOCKET'] = self.private_socket if self.direct else 'none'
        return env

    def stop_daemon(self):
        """SIGTERM; returns the exit status."""
        if not self.daemon:
            return None
        self.daemon.send_signal(signal.SIGTERM)
        status = wait_status(self.daemon, 30)
        if status is None:
            self.daemon.kill()
            self.daemon.wait()
        self.daemon = None
        return status

    def stop(self):
        status = self.stop_daemon()
        if self.bus:
            self.bus.send_signal(signal.SIGTERM)
            if wait_status(self.bus, 10) is None:
                self.bus.kill()
                self.bus.wait()
            self.bus = None
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        assert status == 0, "pylockerd exited with status %s" % status

    def status(self):
        """The daemon's properties, through a locker of our own."""
        from pylocker import _pylocker
        c = _pylocker.Client()
        c.open(_pylocker.TRANSPORT_ADDRESS, self.address, None, None, None,
               self.private_socket if self.direct else None, not self.direct)
        try:
            return c.status()
        finally:
            c.close()

    def pylockctl(self, *args, timeout=60, check=True):
        argv = [PYLOCKCTL, '--address', self.address] + list(args)
        p = subprocess.run(argv, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if check:
            assert p.returncode == 0, "pylockctl %s: %s %s" % (args, p.returncode, p.stderr.decode())
        return p


def wait_until(predicate, timeout=20, what='condition'):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.01)
