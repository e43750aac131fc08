"""``python -m legrand_async.cli``: the ``legrand-async`` command."""

import sys

from . import main

sys.exit(main())
