"""The store catalog: the root folder a server shows, the stores listed under it, and the
confinement of every path a browser sends (picker, URL) to that folder.

Anything that lands outside the root (``..``, absolute paths, symbolic links pointing out)
is refused. A catalog with a scope (a signed-in user's folders, given by the lab server:
:mod:`attviz.lab.access`) lists only the stores under those folders and refuses any other
path with the same message, logged with the user's name.

Every file a store opens is checked, links followed: the file itself, or each shard of a
folder of shards. A store with any file outside the allowed folders (the scope's, else the
root) is not listed, and refused like a path outside; the store is then opened through the
files as checked (their resolved paths), not through the links.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..store import StoreError
from ..store.shards import shard_paths, shard_pattern
from .stores import SharedStore, registry

log = logging.getLogger("attviz.explore")
SHARD_GLOB = shard_pattern()  # any shard store


@dataclass(frozen=True)
class Scope:
    """What one session may open: the stores under ``folders`` (resolved paths inside the
    root). ``user`` is None when nobody is signed in (then nothing is allowed)."""

    user: str | None
    groups: tuple[str, ...]
    folders: tuple[Path, ...]

    def allows(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` (resolved) is one of the folders or inside one."""
        path = Path(path).resolve()
        return any(path == f or f in path.parents for f in self.folders)


class OutsideRoot(StoreError):
    """A requested path is not inside the server's store root."""


def refusal(requested: str, root: Path) -> OutsideRoot:
    return OutsideRoot(f"{requested}: not inside the store folder {root}; refused")


def resolve_inside(root: Path, requested: str, scope: Scope | None = None) -> Path:
    """``requested`` (relative to ``root``) as an absolute path inside ``root`` (and inside
    the folders of ``scope`` when given), or raise :class:`OutsideRoot`."""
    root = Path(root).resolve()
    if not requested or "\x00" in requested:
        raise OutsideRoot("no store named")
    candidate = Path(requested)
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise refusal(requested, root)
    if scope is not None and not scope.allows(resolved):
        raise refusal(requested, root)
    return resolved


def store_files(path: Path) -> list[Path]:
    """The files opening the store at ``path`` reads (the file, or each shard of a folder),
    resolved: every link followed. Raise :class:`StoreError` for a folder without a complete
    set of shards."""
    if path.is_dir():
        return [p.resolve() for p in shard_paths(path)]
    return [path.resolve()]


def inside_any(path: Path, folders) -> bool:
    """Whether the resolved ``path`` is one of ``folders`` or inside one."""
    return any(path == f or f in path.parents for f in folders)


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


class StoreCatalog:
    """The stores under one root folder (None: no folder configured), by relative name; with
    a ``scope``, only those under the scope's folders."""

    def __init__(self, root: str | Path | None, scope: Scope | None = None) -> None:
        self.root = Path(root).resolve() if root else None
        self.scope = scope

    @classmethod
    def around(cls, root: str | Path | None, store: str | Path | None,
               scope: Scope | None = None) -> StoreCatalog:
        """The catalog of a server started with ``--root`` and ``--store``: the root when
        given, else the store's folder (a folder of shard stores is listed from its parent)."""
        if root:
            return cls(root, scope)
        if store:
            path = Path(store).resolve()
            is_root = path.is_dir() and not list(path.glob(SHARD_GLOB))
            return cls(path if is_root else path.parent, scope)
        return cls(None, scope)

    @property
    def allowed(self) -> tuple[Path, ...]:
        """The folders every file of a store must lie in: the scope's, else the root."""
        if self.scope is not None:
            return self.scope.folders
        return (self.root,) if self.root else ()

    def names(self) -> list[str]:
        """The stores the picker offers."""
        if not self.root:
            return []
        if self.scope is None:
            return [n for n in list_stores(self.root) if self._confined(self.root / n)]
        found: set[str] = set()
        for folder in self.scope.folders:
            if folder.is_dir() and any(folder.glob(SHARD_GLOB)) and folder != self.root:
                names = [str(folder.relative_to(self.root))]
            elif folder.is_dir():
                names = [str((folder / n).relative_to(self.root)) for n in list_stores(folder)]
            else:
                names = []
            found.update(n for n in names if self._confined(self.root / n))
        return sorted(found)

    def _confined(self, path: Path) -> list[Path] | None:
        """The resolved files of the store at ``path`` when each is inside the allowed
        folders, else None. A folder whose shards do not form a set is let through (opening
        it says what is wrong, and opens nothing)."""
        try:
            files = store_files(path)
        except StoreError:
            return []
        except OSError:
            return None
        return files if all(inside_any(f, self.allowed) for f in files) else None

    def _refuse(self, requested: str) -> OutsideRoot:
        if self.scope is not None:
            log.warning("refused store %r to user %r", requested, self.scope.user)
        return refusal(requested, self.root)

    def _resolve(self, requested: str) -> Path:
        """``requested`` inside the root and the scope; a refusal is logged with the user."""
        try:
            return resolve_inside(self.root, requested, self.scope)
        except OutsideRoot:
            if self.scope is not None:
                log.warning("refused store %r to user %r", requested, self.scope.user)
            raise

    def _checked(self, requested: str) -> tuple[Path, list[Path] | None]:
        """``requested`` resolved, and its files (None: it does not exist); raise
        :class:`OutsideRoot` when it or any of its files is outside the allowed folders."""
        path = self._resolve(requested)
        if not path.exists():
            return path, None
        files = self._confined(path)
        if files is None:
            raise self._refuse(requested)
        return path, files

    def name_of(self, path: str | Path) -> str:
        """The name of ``path`` relative to the root (``.`` for the root itself), or raise."""
        path = Path(path).resolve()
        if self.root is not None:
            if path == self.root:
                return "."
            if self.root in path.parents:
                return str(path.relative_to(self.root))
        raise OutsideRoot(f"{path}: not inside the store folder {self.root}")

    def first(self, store: str | Path | None = None) -> str:
        """The store shown first: ``store`` when given, else the first one listed; raise
        :class:`StoreError` saying why there is none."""
        if store and (self.scope is None or self.scope.allows(store)):
            return self.name_of(store)
        names = self.names()
        if names:
            return names[0]
        if self.scope is not None:
            if self.scope.user is None:
                raise StoreError("Sign-in is required to see the stores of this server.")
            raise StoreError(f"No stores for {self.scope.user}: their groups "
                             f"({', '.join(self.scope.groups) or 'none'}) have no stores.")
        if self.root is None:
            raise StoreError("No store given: start with `panel serve apps/ --args --store "
                             "STORE.h5` or set ATTVIZ_STORE.")
        raise StoreError(f"No stores (*.h5) under {self.root}.")

    def locate(self, requested: str) -> str:
        """The name of the store ``requested`` by a browser (a path relative to the root, e.g.
        from the URL); raise :class:`StoreError` when it is outside the root or missing."""
        if self.root is None:
            raise StoreError("no store folder is configured; refused")
        path, files = self._checked(requested)
        if files is None:
            raise StoreError(f"{requested}: no such store under {self.root}")
        return self.name_of(path)

    def open(self, name: str) -> SharedStore:
        """Store ``name``, opened once per server process and shared by its sessions."""
        if self.root is None:
            raise StoreError("no store folder is configured; refused")
        path, files = self._checked(name)
        return registry().open(path, files or None)
