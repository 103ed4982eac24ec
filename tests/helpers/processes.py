"""The `attviz` command in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

from .paths import ROOT

# a prelude that makes torch and transformers impossible to import (a viewer-only install)
NO_MODEL_STACK = "sys.modules['torch'] = None\nsys.modules['transformers'] = None"


def attviz_process(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    """``attviz ARGS`` in a fresh interpreter, after running ``prelude`` there."""
    code = f"import sys\n{prelude}\nfrom attviz.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def attviz(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``python -m attviz.cli ARGS`` of this checkout, ``stdin`` its input."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "attviz.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60)
