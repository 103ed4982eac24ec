"""Which store folders each group of a lab may open: the access file (TOML) of a server's
store root, and the scope of one signed-in user.

::

    [groups]
    nlp = ["bbc", "shared"]      # folders under the store root, recursively
    hate = ["tweets"]

A user sees the stores under the folders of all their groups; a group not in the file sees
none. Folders are resolved when the file is read; one that resolves outside the root is an
error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..explore.catalog import Scope
from .users import check_group

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None


@dataclass(frozen=True)
class Access:
    """The folders of each group, resolved under ``root``."""

    root: Path
    groups: dict[str, tuple[Path, ...]]

    @classmethod
    def load(cls, path: str | os.PathLike, root: str | os.PathLike) -> Access:
        """Read the access file ``path`` for the store root ``root``; raise
        :class:`UserError` saying what is wrong with it."""
        path, root = Path(path), Path(root).resolve()
        if tomllib is None:
            raise UserError("reading an access file needs Python 3.11 or newer "
                            "(or `pip install tomli`)")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path}: no such access file") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise UserError(f"{path}: not a readable access file ({e})") from None
        extra = set(data) - {"groups"}
        if extra or not isinstance(data.get("groups"), dict):
            raise UserError(f"{path}: an access file has one table, [groups], mapping each "
                            "group to a list of folders under the store root")
        groups = {}
        for group, folders in data["groups"].items():
            try:
                check_group(group)
            except UserError as e:
                raise UserError(f"{path}: {e}") from None
            if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
                raise UserError(f"{path}: group {group!r} must map to a list of folder names")
            groups[group] = tuple(_inside(path, root, f) for f in folders)
        return cls(root, groups)

    def scope(self, user: str | None, groups: Iterable[str]) -> Scope:
        """The scope of ``user`` in ``groups`` (nothing without a user)."""
        groups = tuple(groups) if user else ()
        folders = tuple(dict.fromkeys(f for g in groups for f in self.groups.get(g, ())))
        return Scope(user, groups, folders)


def _inside(path: Path, root: Path, folder: str) -> Path:
    resolved = (root / folder).resolve()
    if not folder or "\x00" in folder or (resolved != root and root not in resolved.parents):
        raise UserError(f"{path}: folder {folder!r} is not inside the store root {root}")
    return resolved
