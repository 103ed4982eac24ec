"""Pausing a precompute at a known block, so that a test can kill or requeue it there instead
of racing it.

A process started with :func:`env` (or a SLURM task submitted with it) loads
``helpers/pause/sitecustomize.py`` first, which sets the seam
``attviz.precompute.job.before_block``: before computing block ``k`` the run creates
``OUT.partial/paused`` (which tests wait for) and waits to be killed. A run that finds that
file already there (a restart) goes on.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "ATTVIZ_TEST_PAUSE_BEFORE_BLOCK"
MARKER = "paused"
LIMIT_S = 600  # a paused run nobody kills goes on after this
SITE = Path(__file__).resolve().parent / "pause"


def env(block: int) -> dict[str, str]:
    """Environment variables that pause a precompute before block ``block``."""
    path = os.pathsep.join(p for p in (str(SITE), os.environ.get("PYTHONPATH", "")) if p)
    return {VARIABLE: str(block), "PYTHONPATH": path}
