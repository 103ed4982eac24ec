"""The corpus view's computations over slices of one opened store, shared by all sessions of
a server process and cached: the profile groups, head statistics (whole, or one head's
column), token posting lists, and results keyed by the slices (masks) they are for."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np

from ..errors import UserError
from ..store import BaseStore
from ..store.layout import how_to_add
from . import corpus_data as C
from .lru import LRU


def digest(mask: np.ndarray | None) -> bytes | None:
    """A short key for a boolean mask over the instances (None for None)."""
    if mask is None:
        return None
    return hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=16).digest()


class SliceCache:
    """What the corpus view and the head / token filters read from one store.

    The whole [instances, layers, heads] statistic is kept for one statistic at a time
    (144 MB at 1,000,000 instances x 72 heads); single columns and results are small.
    """

    def __init__(self, store: BaseStore) -> None:
        self.store = store
        self._groups: C.Groups | None = None
        self._matrix: LRU[np.ndarray] = LRU(1)
        self._columns: LRU[np.ndarray] = LRU(32)
        self._tokens: LRU[np.ndarray] = LRU(16)
        self._results: LRU[object] = LRU(64)
        self._samples: LRU[tuple] = LRU(2)  # what profiles of slices read, by slice

    def drop(self) -> None:
        """Forget every cached read and result (the groups stay: they cost a pass over the
        store and are what any corpus view needs first)."""
        for cache in (self._matrix, self._columns, self._tokens, self._results, self._samples):
            cache.clear()

    @property
    def groups(self) -> C.Groups:
        if self._groups is None:
            self._groups = C.Groups(self.store)
        return self._groups

    @property
    def statistics(self) -> list[str]:
        """The statistics per instance and head the store holds."""
        return self.store.head_stat_names

    def matrix(self, stat: str) -> np.ndarray:
        """[instances, layers, heads] of ``stat``."""
        self._check(stat)
        return self._matrix.get(stat, lambda: self.store.read_head_stat(stat))

    def layers(self, stat: str) -> Iterator[np.ndarray]:
        """``stat``'s layers one at a time ([instances, heads] each), read as they are asked
        for unless the whole statistic is here; once all are read it is kept, as by
        :meth:`matrix`."""
        self._check(stat)
        held = self._matrix.peek(stat)
        if held is not None:
            yield from (held[:, j, :] for j in range(held.shape[1]))
            return
        whole = None
        n_layers = self.store.meta.num_layers
        for j in range(n_layers):
            part = self.store.read_head_stat(stat, j)
            yield part
            if whole is None:
                whole = np.empty((part.shape[0], n_layers, part.shape[1]), part.dtype)
            whole[:, j, :] = part
        self._matrix.get(stat, lambda: whole)

    def column(self, stat: str, layer: int, head: int) -> np.ndarray:
        """[instances] of ``stat`` for one head (from the whole statistic if it is here)."""
        self._check(stat)

        def read():
            held = self._matrix.peek(stat)
            if held is not None:
                return np.ascontiguousarray(held[:, layer, head])
            return self.store.read_head_stat(stat, layer, head)

        return self._columns.get((stat, int(layer), int(head)), read)

    def token_mask(self, token_id: int) -> np.ndarray:
        """[instances] bool: the instances holding ``token_id`` (from the token index)."""

        def make():
            hits = self.store.postings(int(token_id))
            if hits is None:
                raise UserError("this store has no token index; add it with "
                                "`attviz index STORE`")
            mask = np.zeros(self.store.n_instances, dtype=bool)
            mask[hits] = True
            return mask

        return self._tokens.get(int(token_id), make)

    def sample(self, mask: np.ndarray) -> tuple:
        """The tokens of a uniform sample of ``mask`` (shared by the token and position
        profiles of the same slice)."""
        return self._samples.get(digest(mask), lambda: C.read_sample(self.store, mask))

    # -- results, cached by slice -------------------------------------------------------------
    def grid(self, stat: str, a: np.ndarray, b: np.ndarray | None) -> C.Grid:
        return self._results.get(("grid", stat, digest(a), digest(b)), lambda: C.head_grid(
            self.store, self.groups, stat, a, b, matrix=lambda: self.matrix(stat),
            layers=lambda: self.layers(stat)))

    def tokens(self, a: np.ndarray, layer: int, head: int | None, b: np.ndarray | None,
               min_count: int, top: int) -> C.TokenProfile:
        key = ("tokens", digest(a), digest(b), layer, head, min_count, top)
        return self._results.get(key, lambda: C.token_profile(
            self.store, self.groups, a, layer, head, b, min_count, top, self.sample))

    def positions(self, mask: np.ndarray, layer: int) -> C.PositionProfile:
        return self._results.get(("positions", digest(mask), layer), lambda: C.position_profile(
            self.store, self.groups, mask, layer, self.sample))

    def _check(self, stat: str) -> None:
        if stat not in self.statistics:
            raise UserError(f"this store has no statistic {stat!r}; {how_to_add(stat)}")
