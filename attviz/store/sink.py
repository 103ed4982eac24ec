"""A store's self-attention (its largest dataset) appended in a background thread.

Compressing the diagonals is most of the work of writing a store. h5py lets other
threads run while HDF5 compresses, so :class:`AttentionSink` appends each part's
diagonals in a thread of its own while the writer derives the statistics and profiles of
the same part. One part is written at a time, in order; :meth:`AttentionSink.wait`
raises what went wrong.

With ``gzip`` (HDF5's shuffle and deflate filters), the sink makes the chunks' bytes
itself: each chunk is byte-shuffled and deflated with :mod:`zlib` (which also lets other
threads run) in a pool of threads, one per core, and written with HDF5's direct chunk
write; what a reader gets is the same as from HDF5's own filters. The rows of a chunk not
yet full wait in memory until the next part or :meth:`AttentionSink.close`, which writes
the last chunk padded with zeros (HDF5 stores an edge chunk whole).
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from . import codec

GZIP_LEVEL = 4  # as codec.filters asks HDF5's deflate filter for


def _direct_gzip(ds) -> bool:
    """Whether ``ds`` is filtered exactly as gzip of codec.filters does it: deflate at
    GZIP_LEVEL, after a shuffle where its values are wider than a byte."""
    if ds.chunks is None or tuple(ds.chunks[1:]) != tuple(ds.shape[1:]):
        return False  # a chunk must hold whole rows
    plist = ds.id.get_create_plist()
    names = [plist.get_filter(i)[3] for i in range(plist.get_nfilters())]
    want = [b"shuffle", b"deflate"] if ds.dtype.itemsize > 1 else [b"deflate"]
    if names != want:
        return False
    return tuple(plist.get_filter(len(names) - 1)[2]) == (GZIP_LEVEL,)


def gzip_chunk(values: np.ndarray) -> bytes:
    """One chunk (all its rows, C order) as HDF5's shuffle and deflate filters store it."""
    size = values.dtype.itemsize
    raw = np.ascontiguousarray(values).view(np.uint8)
    if size > 1:  # byte k of every value, then byte k + 1 (HDF5's shuffle filter)
        raw = raw.reshape(-1, size).T
    return zlib.compress(np.ascontiguousarray(raw).data, GZIP_LEVEL)


def _threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def write_gzip_chunks(ds, start: int, rows: np.ndarray, pool, pad: bool = False) -> None:
    """Write ``rows`` (whole chunks; ``pad``: the last one may be short, and is padded
    with zeros) into the gzip dataset ``ds`` from row ``start``, a chunk boundary, each
    chunk compressed by a thread of ``pool``."""
    step = ds.chunks[0]
    if pad and len(rows) % step:
        rows = np.concatenate([rows, np.zeros((step - len(rows) % step, *rows.shape[1:]),
                                              rows.dtype)])
    pieces = [rows[a : a + step] for a in range(0, len(rows), step)]
    tail = (0,) * (rows.ndim - 1)
    for i, data in enumerate(pool.map(gzip_chunk, pieces)):
        ds.id.write_direct_chunk((start + i * step, *tail), data)


def write_array(ds, data: np.ndarray, compression: str) -> None:
    """Write ``data`` as the whole of the new dataset ``ds`` of the same shape and dtype,
    compressed as ``compression`` says (gzip: chunks deflated in threads)."""
    if not data.size:
        return
    if compression == codec.GZIP and _direct_gzip(ds):
        with ThreadPoolExecutor(_threads(), "attviz-deflate") as pool:
            write_gzip_chunks(ds, 0, np.asarray(data, ds.dtype), pool, pad=True)
    else:
        ds[...] = data


class AttentionSink:
    """Appends rows to the resizable dataset ``ds`` (of a file open for writing) in a
    background thread, one part at a time; ``compression``: the store's (one of
    :data:`.codec.COMPRESSIONS`)."""

    def __init__(self, ds, compression: str):
        self._ds = ds
        self._rows = ds.chunks[0]
        self._direct = compression == codec.GZIP and _direct_gzip(ds)
        self._tail = ds[:0]  # rows of the last chunk not yet written (direct writes only)
        self._thread = ThreadPoolExecutor(1, "attviz-attention")
        self._zlib = ThreadPoolExecutor(_threads(), "attviz-deflate") if self._direct else None
        self._pending: Future | None = None

    def submit(self, values: np.ndarray) -> None:
        """Append ``values`` after the rows submitted before (raises what went wrong with
        the part before)."""
        self.wait()
        self._pending = self._thread.submit(self._append, values)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the last part, and write the rows still held (raises what went wrong)."""
        try:
            self.wait()
            if self._direct and len(self._tail):
                write_gzip_chunks(self._ds, len(self._ds) - len(self._tail), self._tail,
                                  self._zlib, pad=True)
                self._tail = self._tail[:0]
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop the threads, once the part being written is done (errors are dropped)."""
        self._thread.shutdown(wait=True)
        if self._zlib is not None:
            self._zlib.shutdown(wait=True)

    def _append(self, values: np.ndarray) -> None:
        ds = self._ds
        n = ds.shape[0]
        ds.resize(n + len(values), axis=0)
        if not self._direct:
            if len(values):
                ds[n:] = values
                ds.flush()  # compress what HDF5 caches here, not when the file closes
            return
        rows = np.concatenate([self._tail, np.asarray(values, dtype=ds.dtype)])
        full = len(rows) // self._rows * self._rows
        write_gzip_chunks(ds, n - len(self._tail), rows[:full], self._zlib)
        self._tail = rows[full:].copy()
