"""Joining stores and precompute blocks into one store file by copying."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

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
) -> Path:
    """Write the precompute blocks ``fragments``, in order, as the complete store ``out``."""
    with StoreWriter(out, meta, vocab) as w:
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
    source's provenance, updated with ``provenance``.
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
        with StoreWriter(out, meta, first.vocab) as w:
            for store in opened:
                for part in store.iter_parts():
                    w.append(part)
                    if progress:
                        progress(part.n_instances)
    finally:
        for s in opened:
            s.close()
    return Path(out)
