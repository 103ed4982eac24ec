"""Joining stores and precompute blocks into one store file by copying."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ..version import __version__
from .errors import StoreError
from .format import StoreMeta
from .reader import Store
from .shards import open_store
from .strings import StringArray
from .writer import StoreWriter


def assemble(
    fragments: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    meta: StoreMeta,
    vocab: list[str] | StringArray,
    progress: Callable[[int], None] | None = None,
    tokenizer_json: bytes | None = None,
) -> Path:
    """Write the precompute blocks ``fragments``, in order, as the complete store ``out``."""
    total = 0
    for path in fragments:
        with Store(path, fragment=True) as block:
            total += block.n_instances
    with StoreWriter(out, meta, vocab, tokenizer_json=tokenizer_json,
                     expected_instances=total) as w:
        for path in fragments:
            with Store(path, fragment=True) as block:
                problems = meta.compatible_with(block.meta)
                if problems:
                    raise StoreError(f"{path}: does not fit the store: {'; '.join(problems)}")
                for part in block.iter_parts():
                    w.append(part)
                    if progress:
                        progress(part.n_instances)
    return Path(out)


def merge(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    provenance: dict | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Concatenate stores (files, or folders of shard stores) into one store file ``out``.

    All sources must share labels, layers, heads and model. The merged store keeps the first
    source's provenance, updated with ``provenance``, and derives its statistics, profiles
    and token index anew. ``out`` may be one of the sources: it is replaced only when the
    merged store is complete.
    """
    opened = []
    try:
        for s in sources:
            opened.append(open_store(s))
        if not opened:
            raise StoreError("nothing to merge")
        first = opened[0]
        for other in opened[1:]:
            problems = first.meta.compatible_with(other.meta)
            if problems:
                raise StoreError(f"{other.path}: does not fit {first.path}: {'; '.join(problems)}")
        meta = StoreMeta(
            label_names=first.meta.label_names,
            num_layers=first.meta.num_layers,
            num_heads=first.meta.num_heads,
            provenance={**first.meta.provenance, **(provenance or {})},
        )
        with StoreWriter(out, meta, first.vocab, tokenizer_json=first.tokenizer_json(),
                         expected_instances=sum(s.n_instances for s in opened)) as w:
            for store in opened:
                for part in store.iter_parts():
                    w.append(part)
                    if progress:
                        progress(part.n_instances)
    finally:
        for s in opened:
            s.close()
    return Path(out)


def index(path: str | os.PathLike, progress: Callable[[int], None] | None = None) -> list[Path]:
    """Give the store at ``path`` (a file, or each file of a folder of shards) everything
    derived from its stored diagonals: statistics per instance and head, profiles, the token
    index. Each file is rewritten under a temporary name and renamed over the original when
    complete, so a run stopped at any moment leaves the store as it was."""
    from .shards import shard_paths

    p = Path(path)
    files = shard_paths(p) if p.is_dir() else [p]
    for f in files:
        merge([f], f, provenance={"indexed_by": __version__}, progress=progress)
    return files
