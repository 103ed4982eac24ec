"""The shared-store registry: each store a server opens is opened once per process and
shared by all sessions, with its derived columns and small caches.

A store file replaced while served (a new precompute renamed over it) is opened anew for
the sessions that open it afterwards; sessions that opened the old one keep reading it
through their handle. An instance that cannot be read (a damaged chunk) is logged once, with
the file and HDF5 path, and its error kept, so it is not read again.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..store import BaseStore, Instance, StoreError, open_store
from ..store.search import search
from .lru import LRU
from .slices import SliceCache

log = logging.getLogger("attviz.explore")


def identity(path: Path) -> tuple | None:
    """What tells a store from one written over it at the same path (device, inode, size and
    modification time of its file, or of each file of a folder); None when it is gone."""
    try:
        files = sorted(path.glob("*.h5")) if path.is_dir() else [path]
        return tuple((f.name, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
                     for f in files for st in [os.stat(f)])
    except OSError:
        return None


@dataclass
class DerivedColumns:
    """Per-instance values the filters and the table need, computed once per store."""

    label: np.ndarray  # [instances] int16
    prediction: np.ndarray  # [instances] int16
    confidence: np.ndarray  # [instances] float32
    token_count: np.ndarray  # [instances] int32
    correct: np.ndarray  # [instances] bool
    document: np.ndarray  # [instances] int64
    segment: np.ndarray  # [instances] int32

    @classmethod
    def from_columns(cls, columns) -> DerivedColumns:
        return cls(
            label=columns.label,
            prediction=columns.prediction,
            confidence=columns.confidence.astype(np.float32),
            token_count=columns.token_count.astype(np.int32),
            correct=columns.correct,
            document=columns.document,
            segment=columns.segment,
        )

    def __len__(self) -> int:
        return len(self.label)


@dataclass
class SharedStore:
    """A store shared by all sessions, with its derived columns and small caches."""

    path: Path
    store: BaseStore
    cols: DerivedColumns
    identity: tuple | None = None  # of the file(s) when opened
    _failed: dict = field(default_factory=dict)  # index -> why it cannot be read
    _text_cache: LRU = field(default_factory=lambda: LRU(16))  # (query, case) -> mask
    _instances: LRU = field(default_factory=lambda: LRU(64))  # index -> Instance
    _slices: SliceCache | None = None

    @property
    def slices(self) -> SliceCache:
        """What the corpus view and the corpus queries compute from the store, cached by slice
        (made on first use, shared by all sessions)."""
        if self._slices is None:
            self._slices = SliceCache(self.store)
        return self._slices

    @property
    def label_names(self) -> list[str]:
        return self.store.label_names

    def search_text(self, query: str, case_sensitive: bool, inside_words: bool = False
                    ) -> np.ndarray:
        """[instances] bool: the instances whose text contains ``query`` (attviz.store.search)."""
        return self._text_cache.get((query, case_sensitive, inside_words),
                                    lambda: search(self.store, query, case_sensitive,
                                                   inside_words))

    def instance(self, index: int) -> Instance:
        """Instance ``index``; raise :class:`StoreError` (logged the first time) when a part of
        it cannot be read."""
        if index in self._failed:  # a message, not the error: its traceback holds sessions
            raise StoreError(self._failed[index])
        try:
            return self._instances.get(index, lambda: self.store.read_instance(index))
        except StoreError as e:
            log.error("instance %d: %s", index, e)
            self._failed[index] = str(e)
            raise

    def drop_caches(self) -> None:
        """Forget the cached instances, text searches and corpus results."""
        self._text_cache.clear()
        self._instances.clear()
        if self._slices is not None:
            self._slices.drop()

    def gone(self) -> bool:
        """Whether the store was deleted from disk (the open handle still reads it)."""
        return not self.path.exists()


class StoreRegistry:
    """Opened stores of one server process, by resolved path."""

    def __init__(self) -> None:
        self._stores: dict[Path, SharedStore] = {}
        self._lock = threading.Lock()

    def open(self, path: Path, files: list[Path] | None = None) -> SharedStore:
        """The store at ``path``: the one already open unless the file changed since.
        ``files``: the files to open it from, checked by the caller (see
        :func:`attviz.store.open_store`)."""
        path = Path(path).resolve()
        with self._lock:
            now = identity(path)  # before opening: a change after it is seen next time
            known = self._stores.get(path)
            if known is None or known.identity != now:
                self._stores.pop(path, None)  # sessions holding it keep reading it
                store = open_store(path, files)
                self._stores[path] = SharedStore(path, store,
                                                 DerivedColumns.from_columns(store.columns),
                                                 identity=now)
            return self._stores[path]


    def drop_caches(self) -> None:
        """Every open store's caches forgotten (see :meth:`SharedStore.drop_caches`)."""
        with self._lock:
            stores = list(self._stores.values())
        for store in stores:
            store.drop_caches()


_registry: StoreRegistry | None = None


def registry() -> StoreRegistry:
    """The process-wide registry (one store handle per file for all sessions)."""
    global _registry
    if _registry is None:
        _registry = StoreRegistry()
    return _registry
