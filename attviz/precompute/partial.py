"""A precompute's folder of finished blocks (OUT.partial/), kept until the store is complete.

``job.json`` names the job the blocks belong to (its job key); ``block-NNNNNN.h5`` is one
finished block, written under a temporary name and renamed, so a block file exists whole
or not at all. A restarted run with the same job key skips the blocks it finds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from ..store import Part, StoreMeta


def partial_folder(out: str | os.PathLike) -> Path:
    """Where a run writing ``out`` keeps its finished blocks until the store is complete."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def block_path(partial: Path, block: int) -> Path:
    return partial / f"block-{block:06d}.h5"


def finished_blocks(out: str | os.PathLike) -> int:
    """How many finished blocks a run writing ``out`` has kept."""
    return len(list(partial_folder(out).glob("block-*.h5")))


def prepare(partial: Path, key: str, config: dict) -> None:
    """Create the folder for job ``key``, or check that the one there belongs to that job."""
    job = partial / "job.json"
    if partial.exists():
        try:
            have = json.loads(job.read_text()).get("job_key")
        except (OSError, ValueError):
            have = None
        if have != key:
            raise FileExistsError(
                f"{partial} holds blocks of a run with other settings, model or corpus; delete "
                "that folder to start over, or run with the settings it was made with"
            )
        for stale in partial.glob(".*.tmp"):  # a block being written when the run was killed
            stale.unlink(missing_ok=True)
        return
    partial.mkdir(parents=True)
    tmp = partial / ".job.json.tmp"
    tmp.write_text(json.dumps({"job_key": key, "config": config}, indent=1, default=str))
    os.replace(tmp, job)


def write_block(path: Path, meta: StoreMeta, part: Part) -> None:
    from ..store import StoreWriter

    with StoreWriter(path, meta, None, fragment=True) as w:
        w.append(part)


# Test-only hook: with ATTVIZ_TEST_PAUSE_BEFORE_BLOCK=k a run stops before computing block k
# (after the blocks before it are written) and waits to be killed, so that tests can kill or
# requeue it at a known point instead of racing it. It first creates OUT.partial/paused,
# which tests wait for; a run that finds that file already there (a restart) goes on.
TEST_PAUSE_VARIABLE = "ATTVIZ_TEST_PAUSE_BEFORE_BLOCK"
TEST_PAUSE_MARKER = "paused"
_TEST_PAUSE_LIMIT_S = 600  # a paused run nobody kills goes on after this


def pause_block_from_env() -> int | None:
    """The block ATTVIZ_TEST_PAUSE_BEFORE_BLOCK names (tests only), or None."""
    value = os.environ.get(TEST_PAUSE_VARIABLE, "").strip()
    return int(value) if value else None


def pause_for_test(partial: Path, block: int) -> None:
    """Wait to be killed before computing ``block``, once per partial folder (tests only)."""
    try:
        (partial / TEST_PAUSE_MARKER).open("x").close()
    except FileExistsError:
        return
    print(f"attviz: paused before block {block} ({TEST_PAUSE_VARIABLE}, for tests)",
          file=sys.stderr, flush=True)
    deadline = time.monotonic() + _TEST_PAUSE_LIMIT_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
