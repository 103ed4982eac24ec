"""Loaded first by a Python started with tests.helpers.pausing.env(): pauses a precompute
before the block the environment names (see tests/helpers/pausing.py)."""

import os
import sys
import time

_BLOCK = os.environ.get("ATTVIZ_TEST_PAUSE_BEFORE_BLOCK", "").strip()

if _BLOCK:
    import attviz.precompute.job as _job

    def _pause(partial, block, _at=int(_BLOCK)):
        if block != _at:
            return
        try:
            (partial / "paused").open("x").close()
        except FileExistsError:  # a restart: go on
            return
        print(f"attviz: paused before block {block} (tests)", file=sys.stderr, flush=True)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            time.sleep(0.05)

    _job.before_block = _pause
