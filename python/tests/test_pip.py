# -*- coding: utf-8 -*-
"""pip install . works offline (meson-python, --no-build-isolation), from the repository's root and from
python/: each into a virtual environment of its own, built from a copy of the repository's files (the
build writes into its source tree), and the installed package works against pylockerd."""
import os
import shutil
import subprocess
import sys

import pytest

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SMOKE = r'''
import os, sys
import pylocker, pylocker._pylocker
assert pylocker._pylocker.__file__.startswith(sys.prefix), pylocker._pylocker.__file__
L = pylocker.ServerLocker(password='x')
ok, lid = L.acquire_lock('/pip/smoke')
assert ok and L.ownedLocks == {lid: ['/pip/smoke']}, lid
assert L.release_lock(lid) == (True, 1)
L.stop()
FL = pylocker.Locker(filePath=None, lockPass='p', lockPath=sys.argv[1])
assert FL.acquire_lock() == (True, 0) and FL.release_lock() == (True, 2)
print('works')
'''


def copy_sources(dest):
    """The repository's files (what git knows of, else all but build directories), links kept."""
    try:
        out = subprocess.run(['git', '-C', SOURCE_ROOT, 'ls-files', '-z', '--cached', '--others',
                              '--exclude-standard'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             check=True).stdout
        files = [f for f in out.decode().split('\0') if f]
    except (OSError, subprocess.CalledProcessError):
        files = None
    if files is None:
        shutil.copytree(SOURCE_ROOT, dest, symlinks=True,
                        ignore=shutil.ignore_patterns('build*', '.git', '.mesonpy*'))
        return
    for f in files:
        src, dst = os.path.join(SOURCE_ROOT, f), os.path.join(dest, f)
        if not os.path.lexists(src):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)


def clean_env(extra=None):
    # Not the build's package, not the sanitizer runtime the tests' interpreter preloads.
    env = dict(os.environ)
    for k in ('PYTHONPATH', 'LD_PRELOAD', 'PYTHONDONTWRITEBYTECODE'):
        env.pop(k, None)
    env.update(extra or {})
    return env


@pytest.mark.parametrize('where', ['.', 'python'])
def test_pip_install(daemon, tmp_path, where):
    src = str(tmp_path / 'src')
    copy_sources(src)
    venv = str(tmp_path / 'venv')
    subprocess.run([sys.executable, '-m', 'venv', '--system-site-packages', '--without-pip', venv], check=True)
    python = os.path.join(venv, 'bin', 'python')
    p = subprocess.run([python, '-m', 'pip', 'install', '--no-build-isolation', '--no-index', '--no-deps',
                        '--config-settings=compile-args=-j2', os.path.join(src, where)],
                       env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    assert p.returncode == 0, p.stdout.decode()[-4000:]
    p = subprocess.run([python, '-c', SMOKE, str(tmp_path / 'lk')], cwd=str(tmp_path), env=clean_env(daemon.env()),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == b'works\n'
