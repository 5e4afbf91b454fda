#!/usr/bin/python3
"""Runs pytest on the files given, for meson test: exit 77 (SKIP) when pytest is missing or when any
test was skipped (the reasons printed), so that a skipped test never counts as a pass."""
import sys

try:
    import pytest
except ImportError:
    print("SKIP: pytest is not installed (Debian: python3-pytest)")
    sys.exit(77)


class Skips(object):
    def __init__(self):
        self.skipped = []

    def pytest_runtest_logreport(self, report):
        if report.skipped:
            self.skipped.append((report.nodeid, report.longrepr))


skips = Skips()
status = pytest.main(['-v', '-p', 'no:cacheprovider', '-o', 'console_output_style=classic'] + sys.argv[1:],
                     plugins=[skips])
if status == 0 and skips.skipped:
    for nodeid, why in skips.skipped:
        print("SKIPPED %s: %s" % (nodeid, why))
    sys.exit(77)
sys.exit(int(status))
