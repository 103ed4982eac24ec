"""``python -m attviz.cli ARGS``: the `attviz` command."""

import sys

from .main import main

sys.exit(main())
