"""Moved to :mod:`legrand_async.cli.demo` (issue 14); this name stays an alias of that module.

``import legrand_async.demo`` gives the very module object (``sys.modules`` is pointed at it), so
``run_demo``, ``RESERVE``, ``DemoClock`` and a monkeypatch of its globals all keep working.
"""

import sys

from .cli import demo as _demo
from .cli.demo import *  # noqa: F403 - what type checkers see; at run time it is the module

sys.modules[__name__] = _demo
