"""Reading the datasets of an open store file: each dataset opened once, and many row
ranges of one dataset in one HDF5 read."""

from __future__ import annotations

import h5py
import numpy as np

from . import codec


class OpenDatasets:
    """The datasets of ``file`` by path, each opened at its first use, with whether it
    holds 8-bit log codes. Looking a dataset up by its path and reading its attributes
    took ~1/4 of reading one instance, and a dataset opened again starts with an empty
    chunk cache (its chunks decompressed again)."""

    def __init__(self, file: h5py.File) -> None:
        self._file = file
        self._open: dict[str, tuple[h5py.Dataset, bool]] = {}

    def get(self, h5path: str) -> tuple[h5py.Dataset, bool]:
        """(the dataset at ``h5path``, whether it holds 8-bit log codes)."""
        got = self._open.get(h5path)
        if got is None:
            ds = self._file[h5path]
            got = (ds, ds.dtype == np.uint8 and codec.is_log8(ds.attrs))
            self._open[h5path] = got
        return got


def read_runs(ds: h5py.Dataset, runs: list[tuple[int, int]]) -> np.ndarray:
    """Rows ``a:b`` of ``ds`` for every run (sorted, disjoint), one after another, in one
    read."""
    tail = ds.shape[1:]
    total = sum(b - a for a, b in runs)
    out = np.empty((total, *tail), dtype=ds.dtype)
    if total == 0:
        return out
    space = ds.id.get_space()
    space.select_none()
    for a, b in runs:
        space.select_hyperslab((a, *(0 for _ in tail)), (b - a, *tail), op=h5py.h5s.SELECT_OR)
    ds.id.read(h5py.h5s.create_simple(out.shape), space, out)
    return out
