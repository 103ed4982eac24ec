"""A store's rows appended in a background thread.

Compressing the rows, the self-attention above all, is most of the work of writing a
store. h5py lets other threads run while HDF5 compresses, so :class:`Sink` appends each
part's rows in a thread of its own while the writer derives the statistics and profiles
of the same part. Appends are written in the order asked; :meth:`Sink.wait` raises what
went wrong.

With ``gzip`` (HDF5's shuffle and deflate filters), the sink makes the bytes of the chunks
that hold whole rows itself: each chunk is byte-shuffled and deflated with zlib-ng (zlib's
format, faster; it also lets other threads run) in a pool of threads, one per core, and
written with HDF5's direct chunk write; single tokens' self-attention values (the layout's
``entropy_only``) are coded with Huffman codes alone, at three times the speed and no
larger (LZ matching finds no repeats in them); a reader gets what HDF5's own filters would give.
The rows of a chunk not yet full wait in memory until the next append or
:meth:`Sink.close`, which writes the last chunk padded with zeros (HDF5 stores an edge
chunk whole).
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from . import codec
from . import layout as L

try:  # zlib-ng: the same deflate streams as zlib's, 1.5x as fast and 1.4% smaller here
    from zlib_ng import zlib_ng as zlib
except ImportError:  # pragma: no cover - a dependency; zlib writes the same format
    import zlib


def _direct_gzip(ds) -> bool:
    """Whether ``ds`` is filtered exactly as gzip of codec.filters does it: deflate at
    codec.GZIP_LEVEL, after a shuffle where its values are wider than a byte."""
    if ds.chunks is None or tuple(ds.chunks[1:]) != tuple(ds.shape[1:]):
        return False  # a chunk must hold whole rows
    plist = ds.id.get_create_plist()
    names = [plist.get_filter(i)[3] for i in range(plist.get_nfilters())]
    want = [b"shuffle", b"deflate"] if ds.dtype.itemsize > 1 else [b"deflate"]
    if names != want:
        return False
    return tuple(plist.get_filter(len(names) - 1)[2]) == (codec.GZIP_LEVEL,)


def _huffman(ds) -> bool:
    """Whether ``ds`` holds values that gzip codes with Huffman codes alone."""
    d = L.BY_PATH.get(ds.name)
    return bool(d and d.entropy_only)


def shuffled(values: np.ndarray) -> np.ndarray:
    """The bytes of ``values`` (C order) as HDF5's shuffle filter lays them out: byte 0 of
    every value, then byte 1, ... (unchanged for values of one byte); uint8, contiguous."""
    size = values.dtype.itemsize
    raw = np.ascontiguousarray(values).view(np.uint8)
    return np.ascontiguousarray(raw.reshape(-1, size).T if size > 1 else raw)


def gzip_chunk(values: np.ndarray, huffman: bool = False) -> bytes:
    """One chunk (all its rows, C order) as HDF5's shuffle and deflate filters store it
    (``huffman``: deflated with Huffman codes alone, no LZ matching: the same format)."""
    raw = shuffled(values).data
    if not huffman:
        return zlib.compress(raw, codec.GZIP_LEVEL)
    deflate = zlib.compressobj(codec.GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS, 8,
                               zlib.Z_HUFFMAN_ONLY)
    return deflate.compress(raw) + deflate.flush()


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
    huffman = [_huffman(ds)] * len(pieces)
    for i, data in enumerate(pool.map(gzip_chunk, pieces, huffman)):
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


class Sink:
    """Appends rows to resizable datasets of a file open for writing, in a background
    thread, in the order asked; ``compression``: the file's (one of
    :data:`.codec.COMPRESSIONS`). Rows appended here may not be read back until
    :meth:`close` (with gzip, a chunk's rows wait in memory until it is full)."""

    def __init__(self, compression: str):
        self._gzip = compression == codec.GZIP
        self._thread = ThreadPoolExecutor(1, "attviz-sink")
        self._zlib: ThreadPoolExecutor | None = None
        self._parts: list[list[Future]] = [[]]  # the appends of each part not yet waited for
        self._tails: dict[str, tuple[object, np.ndarray | None]] = {}  # name: (ds, rows held)

    def extend(self, ds, values: np.ndarray, flush: bool = False) -> None:
        """Append ``values`` to ``ds`` after the rows asked for before; ``flush``: compress
        HDF5's cached chunks of ``ds`` in the thread too (for a dataset whose chunks fill
        in order: the others stay cached until full, and are compressed once)."""
        self._parts[-1].append(self._thread.submit(self._append, ds, values, flush))

    def next_part(self, in_flight: int = 1) -> None:
        """Start the appends of the next part, once those of all but the last ``in_flight``
        parts are written (so that a part is derived while the one before is written, and
        no more is held); raises the first append that failed."""
        self._parts.append([])
        self.wait(keep=in_flight + 1)

    def wait(self, keep: int = 0) -> None:
        """Wait until the appends of all parts but the last ``keep`` are written; raises
        the first that failed."""
        done = self._parts[: max(0, len(self._parts) - keep)]
        self._parts = self._parts[len(done) :] or [[]]
        for future in (f for part in done for f in part):
            future.result()

    def close(self) -> None:
        """Wait for every append, and write the rows still held (raises what went wrong)."""
        try:
            self.wait()
            for ds, tail in self._tails.values():
                if tail is not None and len(tail):
                    write_gzip_chunks(ds, len(ds) - len(tail), tail, self._zlib, pad=True)
            self._tails.clear()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop the threads, once the append being written is done (errors are dropped)."""
        self._thread.shutdown(wait=True)
        if self._zlib is not None:
            self._zlib.shutdown(wait=True)

    def _tail(self, ds, n: int) -> np.ndarray | None:
        """The rows of ``ds``'s last chunk not yet full (``n`` rows written so far) when its
        chunks are deflated here; None when HDF5 compresses them."""
        if ds.name not in self._tails:
            tail = None
            if self._gzip and _direct_gzip(ds):  # rows HDF5 wrote before are rewritten here
                tail = ds[n - n % ds.chunks[0] : n]
                if self._zlib is None:
                    self._zlib = ThreadPoolExecutor(_threads(), "attviz-deflate")
            self._tails[ds.name] = (ds, tail)
        return self._tails[ds.name][1]

    def _append(self, ds, values: np.ndarray, flush: bool) -> None:
        n = ds.shape[0]
        tail = self._tail(ds, n)
        ds.resize(n + len(values), axis=0)
        if tail is None:
            if len(values):
                ds[n:] = values
                if flush:
                    ds.flush()
            return
        rows = np.concatenate([tail, np.asarray(values, dtype=ds.dtype)])
        full = len(rows) // ds.chunks[0] * ds.chunks[0]
        write_gzip_chunks(ds, n - len(tail), rows[:full], self._zlib)
        self._tails[ds.name] = (ds, rows[full:].copy())
