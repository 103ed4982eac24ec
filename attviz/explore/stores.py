"""The shared-store registry: each store a server opens is opened once per process and
shared by all sessions, with its derived columns and small caches."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..search import search
from ..store import BaseStore, Instance, open_store
from .corpus import CorpusCache
from .filters import DerivedColumns
from .lru import LRU


@dataclass
class OpenedStore:
    """A store shared by all sessions, with its derived columns and small caches."""

    path: Path
    store: BaseStore
    cols: DerivedColumns
    _text_cache: LRU = field(default_factory=lambda: LRU(16))  # (query, case) -> mask
    _instances: LRU = field(default_factory=lambda: LRU(64))  # index -> Instance
    _corpus: CorpusCache | None = None

    @property
    def corpus(self) -> CorpusCache:
        """The store's corpus computations (made on first use, shared by all sessions)."""
        if self._corpus is None:
            self._corpus = CorpusCache(self.store)
        return self._corpus

    @property
    def label_names(self) -> list[str]:
        return self.store.label_names

    def search_text(self, query: str, case_sensitive: bool, inside_words: bool = False
                    ) -> np.ndarray:
        """[instances] bool: the instances whose text contains ``query`` (attviz.search)."""
        return self._text_cache.get((query, case_sensitive, inside_words),
                                    lambda: search(self.store, query, case_sensitive,
                                                   inside_words))

    def instance(self, index: int) -> Instance:
        return self._instances.get(index, lambda: self.store.read_instance(index))


class StoreRegistry:
    """Opened stores of one server process, by resolved path."""

    def __init__(self) -> None:
        self._stores: dict[Path, OpenedStore] = {}
        self._lock = threading.Lock()

    def open(self, path: Path) -> OpenedStore:
        path = Path(path).resolve()
        with self._lock:
            if path not in self._stores:
                store = open_store(path)
                self._stores[path] = OpenedStore(path, store,
                                                 DerivedColumns.from_columns(store.columns))
            return self._stores[path]

    def close_all(self) -> None:
        with self._lock:
            for s in self._stores.values():
                s.store.close()
            self._stores.clear()


_registry: StoreRegistry | None = None


def registry() -> StoreRegistry:
    """The process-wide registry (one store handle per file for all sessions)."""
    global _registry
    if _registry is None:
        _registry = StoreRegistry()
    return _registry
