"""Arrays of strings as one UTF-8 byte buffer plus offsets (CSR), never one object per item."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StringArray:
    """``n`` strings: item ``i`` is ``data[offsets[i]:offsets[i+1]].decode('utf-8')``.

    data: [bytes] uint8; offsets: [n + 1] int64, starting at 0, non-decreasing.
    """

    data: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_list(cls, items: Iterable[str]) -> StringArray:
        encoded = [s.encode("utf-8", "surrogateescape") for s in items]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        if encoded:
            np.cumsum([len(b) for b in encoded], out=offsets[1:])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
        return cls(data, offsets)

    @classmethod
    def concat(cls, parts: Sequence[StringArray]) -> StringArray:
        if not parts:
            return cls.from_list([])
        data = np.concatenate([p.data for p in parts])
        offsets = [np.zeros(1, dtype=np.int64)]
        base = 0
        for p in parts:
            offsets.append(p.offsets[1:] + base)
            base += int(p.offsets[-1])
        return cls(data, np.concatenate(offsets))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        return self.data[self.offsets[i] : self.offsets[i + 1]].tobytes().decode("utf-8", "replace")

    def to_list(self) -> list[str]:
        raw = self.data.tobytes()
        o = self.offsets.tolist()
        return [raw[o[i] : o[i + 1]].decode("utf-8", "replace") for i in range(len(o) - 1)]

    def take(self, start: int, stop: int) -> StringArray:
        """Items ``start:stop`` as a new array with offsets starting at 0."""
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        return StringArray(self.data[lo:hi], self.offsets[start : stop + 1] - lo)
