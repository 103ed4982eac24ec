"""Stores the server may open: one root folder, opened once per process and shared.

Every path a browser sends (picker, URL) is resolved inside the root; anything that lands
outside it (``..``, absolute paths, symbolic links pointing out) is refused.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..store import BaseStore, Instance, StoreError, open_store
from .filters import DerivedColumns

SHARD_GLOB = "shard-*-of-*.h5"


class OutsideRoot(StoreError):
    """A requested path is not inside the server's store root."""


def resolve_inside(root: Path, requested: str) -> Path:
    """``requested`` (relative to ``root``) as an absolute path inside ``root``, or raise."""
    root = Path(root).resolve()
    if not requested or "\x00" in requested:
        raise OutsideRoot("no store named")
    candidate = Path(requested)
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise OutsideRoot(f"{requested}: not inside the store folder {root}; refused")
    return resolved


def list_stores(root: Path, limit: int = 500) -> list[str]:
    """Store files (``*.h5``) and folders of shard stores under ``root``, relative paths."""
    root = Path(root).resolve()
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and not d.endswith(".partial"))
        here = Path(dirpath)
        if any(Path(f).match(SHARD_GLOB) for f in filenames) and here != root:
            found.append(str(here.relative_to(root)))
            dirnames[:] = []
            continue
        for f in sorted(filenames):
            target = (here / f).resolve()
            if f.endswith(".h5") and not f.startswith(".") and root in target.parents:
                found.append(str((here / f).relative_to(root)))
        if len(found) >= limit:
            break
    return found[:limit]


@dataclass
class OpenedStore:
    """A store shared by all sessions, with its derived columns and small caches."""

    path: Path
    store: BaseStore
    cols: DerivedColumns
    _text_cache: OrderedDict = field(default_factory=OrderedDict)
    _instances: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def label_names(self) -> list[str]:
        return self.store.label_names

    def search_text(self, query: str, case_sensitive: bool) -> np.ndarray:
        key = (query, case_sensitive)
        with self._lock:
            if key in self._text_cache:
                self._text_cache.move_to_end(key)
                return self._text_cache[key]
            mask = self.store.search_text(query, case_sensitive)
            self._text_cache[key] = mask
            while len(self._text_cache) > 16:
                self._text_cache.popitem(last=False)
            return mask

    def instance(self, index: int) -> Instance:
        with self._lock:
            if index in self._instances:
                self._instances.move_to_end(index)
                return self._instances[index]
            inst = self.store.read_instance(index)
            self._instances[index] = inst
            while len(self._instances) > 64:
                self._instances.popitem(last=False)
            return inst


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
