"""A precompute's folder of finished blocks (OUT.partial/), kept until the store is complete.

``job.json`` names the job the blocks belong to (its job key); ``block-NNNNNN.h5`` is one
finished block, written under a temporary name and renamed, so a block file exists whole
or not at all. A restarted run with the same job key skips the blocks it finds.
"""

from __future__ import annotations

import json
import os
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


def write_block(path: Path, meta: StoreMeta, part: Part, precision: int = 16) -> None:
    """Write one finished block, uncompressed: it lives until the store is assembled, which
    compresses once (compressing blocks too cost 2-3% of a CPU precompute)."""
    from ..store import StoreWriter

    with StoreWriter(path, meta, None, fragment=True, precision=precision,
                     compression="none") as w:
        w.append(part)
