"""Joining stores and precompute blocks into one store file by copying."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..version import __version__
from .base import BaseStore
from .derive import ProfileSums
from .errors import StoreError
from .format import StoreMeta
from .part import Part
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
    precision: int = 16,
    compression: str | None = None,
    on_part: Callable[[Part], None] | None = None,
) -> Path:
    """Write the precompute blocks ``fragments``, in order, as the complete store ``out``
    (``precision`` and ``compression`` as :class:`StoreWriter` takes them; None: its
    default). ``on_part``: called with each part read from the blocks (to count what the
    store will hold without opening it again)."""
    total = 0
    for path in fragments:
        with Store(path, fragment=True) as block:
            total += block.n_instances
    extra = {"compression": compression} if compression else {}
    with StoreWriter(out, meta, vocab, tokenizer_json=tokenizer_json, precision=precision,
                     expected_instances=total, **extra) as w:
        for path in fragments:
            with Store(path, fragment=True) as block:
                problems = meta.compatible_with(block.meta)
                if problems:
                    raise StoreError(f"{path}: does not fit the store: {'; '.join(problems)}")
                for part in block.iter_parts():
                    w.append(part)
                    if on_part:
                        on_part(part)
                    if progress:
                        progress(part.n_instances)
                if not meta.all_layers:
                    for sums in block.profile_sums():
                        w.add_profile_sums(sums)
    return Path(out)


def profile_sums(store: BaseStore) -> ProfileSums:
    """The corpus profiles of ``store`` as sums (for a merge of stores that keep some
    layers: their profiles, which cover every layer, cannot be derived again)."""
    t = store.profiles()
    if t is None:
        raise StoreError(f"{store.path}: keeps some layers only and has no profiles; "
                         "its profiles cannot be made again without the model")
    return ProfileSums(
        key=t.key, position_sum=t.position_sum, position_count=t.position_count,
        entry_group=np.repeat(np.arange(len(t.key)), np.diff(t.token_start)),
        entry_id=t.token_id, token_sum=t.token_sum, token_count=t.token_count)


def merge(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    provenance: dict | None = None,
    progress: Callable[[int], None] | None = None,
    compression: str | None = None,
) -> Path:
    """Concatenate stores (files, or folders of shard stores) into one store file ``out``.

    All sources must share labels, layers, heads, stored layers and model. The merged store
    keeps the first source's provenance and precision, updated with ``provenance``, and
    derives its statistics, profiles and token index anew (a store of some layers keeps its
    statistics, and its profiles are added up: they cover layers it does not store). ``out``
    may be one of the sources: it is replaced only when the merged store is complete.
    ``compression``: as :class:`StoreWriter` takes it (None: its default).
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
            stored_layers=first.meta.stored_layers,
        )
        with StoreWriter(out, meta, first.vocab, tokenizer_json=first.tokenizer_json(),
                         precision=first.precision,
                         expected_instances=sum(s.n_instances for s in opened),
                         **({"compression": compression} if compression else {})) as w:
            for store in opened:
                for part in store.iter_parts():
                    w.append(part)
                    if progress:
                        progress(part.n_instances)
                if not meta.all_layers:
                    w.add_profile_sums(profile_sums(store))
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
