# -*- coding: utf-8 -*-
"""The package's identity. The API it carries is pylocker 3.1.0's; the code is pylocker-dbus's."""
from . import _pylocker

#: the version of pylocker-dbus this package was built from
__version__ = _pylocker.VERSION
#: the version of pylocker whose public API this package carries
__api_version__ = '3.1.0'
__author__ = 'pylocker-dbus contributors (API of pylocker by Bachir Aoun)'
__email__ = ''
__onlinedoc__ = 'docs/python.md in the pylocker-dbus repository'
__repository__ = 'the pylocker-dbus repository (python/)'
__pypi__ = 'not published: install with pip install . from the pylocker-dbus repository'
