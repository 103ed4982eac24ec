"""A folder of shard stores (one per SLURM task) opened as one store, without merging."""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import layout as L
from .base import OCCURRENCE_BLOCK, BaseStore, Columns, Instance, check_sorted_indices
from .errors import StoreError
from .part import Part
from .reader import Store
from .summaries import ProfileTables

# The one spelling of a shard store's file name: shard_name, shard_pattern and the reader of
# a folder of shards derive theirs from it.
SHARD_NAME = "shard-{index:05d}-of-{count:05d}.h5"


def shard_name(index: int, count: int) -> str:
    """The file name of shard ``index`` (0-based) of ``count``."""
    return SHARD_NAME.format(index=index, count=count)


def _name_parts(fill) -> str:
    """SHARD_NAME with each field replaced by ``fill(field, format spec)`` and each literal
    part by ``fill(None, literal)``."""
    out = []
    for literal, field, spec, _ in string.Formatter().parse(SHARD_NAME):
        out.append(fill(None, literal))
        if field is not None:
            out.append(fill(field, spec))
    return "".join(out)


def shard_pattern(count: int | None = None, index: int | None = None) -> str:
    """A shell pattern of shard store names: ``*`` where ``count`` or ``index`` is None."""
    values = {"index": index, "count": count}
    return _name_parts(lambda field, spec: spec if field is None else
                       "*" if values[field] is None else format(values[field], spec))


_SHARD_RE = re.compile("^" + _name_parts(
    lambda field, spec: re.escape(spec) if field is None else f"(?P<{field}>\\d+)") + "$")


def shard_paths(folder: str | os.PathLike) -> list[Path]:
    """The shard stores in ``folder``, in order; every shard of the set must be there.

    Files named ``shard-IIIII-of-NNNNN.h5`` must form a complete set 0..N-1; a folder of
    other ``*.h5`` files is taken in name order.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise StoreError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix == ".h5" and not p.name.startswith("."))
    if not files:
        raise StoreError(f"{folder}: no store files (*.h5) in this folder")
    named = [(p, _SHARD_RE.match(p.name)) for p in files]
    if any(m for _, m in named):
        counts = {int(m.group("count")) for _, m in named if m}
        if len(counts) != 1:
            raise StoreError(f"{folder}: shard files of different sets ({sorted(counts)} shards)")
        count = counts.pop()
        have = {int(m.group("index")) for _, m in named if m}
        missing = sorted(set(range(count)) - have)
        if missing:
            raise StoreError(
                f"{folder}: shard(s) {missing} of {count} are missing (not finished yet?)"
            )
        return [p for p, m in named if m]
    return files


class ShardedStore(BaseStore):
    """Shard stores side by side; instance k of the whole is instance k - offset of a shard."""

    def __init__(self, folder: str | os.PathLike, files: list[Path] | None = None) -> None:
        self.path = Path(folder)
        self.shards: list[Store] = []
        try:
            for p in files if files is not None else shard_paths(self.path):
                self.shards.append(Store(p))
            first = self.shards[0]
            for s in self.shards[1:]:
                problems = first.meta.compatible_with(s.meta)
                if problems:
                    raise StoreError(f"{s.path}: does not fit {first.path}: {'; '.join(problems)}")
        except BaseException:
            self.close()
            raise
        self.meta = first.meta
        counts = [s.n_instances for s in self.shards]
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        doc_counts = [s.n_documents for s in self.shards]
        self._doc_starts = np.concatenate([[0], np.cumsum(doc_counts)]).astype(np.int64)
        self.columns = join_columns(self.shards)
        self._profiles: ProfileTables | None = None

    @property
    def n_documents(self) -> int:
        return int(self._doc_starts[-1])

    @property
    def vocab(self) -> list[str]:
        return self.shards[0].vocab

    @property
    def precision(self) -> int:
        return self.shards[0].precision

    def _split(self, idx: np.ndarray, starts: np.ndarray):
        which = np.searchsorted(starts, idx, side="right") - 1
        for s in np.unique(which):
            yield int(s), idx[which == s] - starts[s]

    @property
    def head_stat_names(self) -> list[str]:
        names = [set(s.head_stat_names) for s in self.shards]
        return [n for n in self.shards[0].head_stat_names if all(n in x for x in names)]

    def read_head_stat(self, name: str, layer: int | None = None, head: int | None = None
                       ) -> np.ndarray:
        return np.concatenate([s.read_head_stat(name, layer, head) for s in self.shards])

    def profiles(self) -> ProfileTables | None:
        if self._profiles is None:
            tables = [s.profiles() for s in self.shards]
            if any(t is None for t in tables):
                return None
            self._profiles = ProfileTables.combine(tables)
        return self._profiles

    def postings(self, token_id: int) -> np.ndarray | None:
        lists = [s.postings(token_id) for s in self.shards]
        if any(x is None for x in lists):
            return None
        return np.concatenate([x + start for x, start in zip(lists, self._starts)])

    @property
    def has_occurrences(self) -> bool:
        return all(s.has_occurrences for s in self.shards)

    def occurrence_count(self, token_id: int) -> int:
        return sum(s.occurrence_count(token_id) for s in self.shards) if self.has_occurrences \
            else 0

    def occurrences(self, token_id: int, block: int = OCCURRENCE_BLOCK) -> Iterator[np.ndarray]:
        if not self.has_occurrences:
            return
        for s, base in zip(self.shards, self.columns.token_start[self._starts[:-1]]):
            for rows in s.occurrences(token_id, block):
                yield rows + base

    def tokenizer_json(self) -> bytes | None:
        return self.shards[0].tokenizer_json()

    def read_instances(self, indices) -> list[Instance]:
        idx = check_sorted_indices(indices, self.n_instances)
        out: list[Instance] = []
        for s, local in self._split(idx, self._starts):
            for inst in self.shards[s].read_instances(local):
                inst.index += int(self._starts[s])
                out.append(inst)
        return out

    def read_tokens(self, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = check_sorted_indices(indices, self.n_instances)
        got = [self.shards[s].read_tokens(local) for s, local in self._split(idx, self._starts)]
        if not got:
            return self.shards[0].read_tokens([])
        return tuple(np.concatenate(x) for x in zip(*got))

    def read_token_ids(self, indices) -> tuple[np.ndarray, np.ndarray]:
        idx = check_sorted_indices(indices, self.n_instances)
        got = [self.shards[s].read_token_ids(local) for s, local in self._split(idx, self._starts)]
        return tuple(np.concatenate(x) for x in zip(*got)) if got else \
            self.shards[0].read_token_ids([])

    def _gathered(self, method: str, idx: np.ndarray, starts: np.ndarray) -> list:
        """``method`` of each shard for its part of ``idx``, results one after another."""
        out: list = []
        for s, local in self._split(idx, starts):
            out.extend(getattr(self.shards[s], method)(local))
        return out

    def texts(self, indices) -> list[str]:
        return self._gathered("texts", check_sorted_indices(indices, self.n_instances),
                              self._starts)

    def document_ids(self, documents) -> list[str]:
        return self._gathered("document_ids", check_sorted_indices(documents, self.n_documents),
                              self._doc_starts)

    def search_text(self, query: str, case_sensitive: bool = False) -> np.ndarray:
        return np.concatenate([s.search_text(query, case_sensitive) for s in self.shards])

    def iter_parts(self, max_instances: int = 4096) -> Iterator[Part]:
        for s in self.shards:
            yield from s.iter_parts(max_instances)

    def close(self) -> None:
        for s in self.shards:
            s.close()


def join_columns(stores: list[BaseStore]) -> Columns:
    """The in-memory columns of ``stores`` one after another, offsets and indices shifted."""
    joined = {}
    for d in L.IN_MEMORY:
        values = [getattr(s.columns, d.name) for s in stores]
        if d.encoding == L.OFFSETS:
            base = np.cumsum([0] + [int(v[-1]) for v in values[:-1]])
            values = [values[0][:1]] + [v[1:] + b for v, b in zip(values, base)]
        elif d.shift:
            base = np.cumsum([0] + [s.sizes()[d.shift] for s in stores[:-1]])
            values = [v + b for v, b in zip(values, base)]
        joined[d.name] = np.concatenate(values)
    return Columns(**joined)


def open_store(path: str | os.PathLike, files: list[Path] | None = None) -> BaseStore:
    """Open a store file, or a folder of shard stores as one store. ``files``: the file(s)
    to read it from instead (the store's file, or the folder's shards in order), e.g. their
    paths with links resolved after checking where they lead."""
    p = Path(path)
    if p.is_dir():
        return ShardedStore(p, files)
    return Store(files[0] if files else p)
