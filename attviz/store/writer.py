"""Writing stores. A store appears under its final name only once it is complete."""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np

from .. import dims
from . import codec, derive
from . import format as F
from . import layout as L
from .derive import Profiles, ProfileSums
from .part import Part
from .sink import Sink, write_array
from .strings import StringArray

WRITE_CACHE_BYTES = 16 << 20  # HDF5 chunk cache per dataset while writing
FRAGMENT_ROWS = 1024  # rows per chunk of per-instance statistics in precompute blocks
MIN_COLUMN_ROWS = 1024  # the shortest chunk of one head's statistic (2 KiB of float16)
DERIVED_CHUNK_BYTES = 256 << 10  # about this much per chunk of profiles and the index
FRAGMENT_SUMS = "/fragment/profile_sums"  # a precompute block's profile sums (not a store's)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot open or sync a directory
        _fsync_path(path)


def temporary_name(path: Path) -> Path:
    """Where a store is written before it is renamed to ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def remove_stale_temporaries(path: Path) -> None:
    """Delete what writers of ``path`` that were killed left (their process is gone)."""
    for stale in Path(path).parent.glob(f".{Path(path).name}.*.tmp"):
        pid = stale.name[len(Path(path).name) + 2 : -4]
        try:
            os.kill(int(pid), 0)
            continue  # a writer still running
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        stale.unlink(missing_ok=True)


class StoreWriter:
    """Appends :class:`Part` objects to a new store at ``path``.

    The file is written under a temporary name in the same folder and renamed to ``path``
    by :meth:`close` after an fsync, so ``path`` exists only when complete. Used as a
    context manager, an exception removes the temporary file and leaves ``path`` as it was.

    ``vocab`` (index = token id) is required for a complete store; ``fragment=True`` writes
    a part of a store (a precompute block) that :func:`attviz.store.assemble` joins later.
    A complete store also gets what :mod:`attviz.store.derive` computes from its rows
    (``derive``, on by default): self-attention statistics for parts that lack them, the
    corpus profiles and the token index. ``tokenizer_json``: the bytes of the tokenizer's
    tokenizer.json, stored so that queries can be tokenized without the model.
    ``expected_instances`` sizes the chunks of the statistics per instance and head (a
    column of one head is read whole; its chunks should not be much longer than the store).

    ``meta.stored_layers`` says which layers' diagonals the store keeps (parts bring only
    those); ``precision`` 16 stores them as float16, 8 as log8 codes (:mod:`.codec`; also
    the corpus profiles' means). ``compression``: one of :data:`.codec.COMPRESSIONS`. A
    store that keeps some layers only gets its profiles from the parts' ``profile_sums``
    (and :meth:`add_profile_sums`), which cover every layer.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        meta: F.StoreMeta,
        vocab: list[str] | StringArray | None,
        *,
        fragment: bool = False,
        compression: str = codec.ZSTD,
        precision: int = 16,
        attention_chunk_rows: int | None = None,
        derive: bool | None = None,
        tokenizer_json: bytes | None = None,
        expected_instances: int | None = None,
    ) -> None:
        if vocab is None and not fragment:
            raise ValueError("a complete store needs the vocabulary")
        self.path = Path(path)
        self.meta = meta
        self.fragment = fragment
        self.tmp = temporary_name(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path)
        if compression not in codec.COMPRESSIONS:
            raise ValueError(f"compression {compression!r}: choose one of "
                             f"{', '.join(codec.COMPRESSIONS)}")
        self._compression = compression
        self.precision = codec.parse_precision(precision)
        self._column_rows = L.COLUMN_CHUNK
        if expected_instances:
            self._column_rows = int(min(L.COLUMN_CHUNK, max(
                MIN_COLUMN_ROWS, 1 << max(0, int(expected_instances) - 1).bit_length())))
        # chunks of one head's statistics fill over many appends: keep them cached until full
        # HDF5 1.10's headers and chunk indexes: 1/4 of the earliest format's metadata
        self._file = h5py.File(self.tmp, "w", libver=("v110", "v110"),
                               rdcc_nbytes=WRITE_CACHE_BYTES, rdcc_nslots=10007)
        self._n_instances = self._n_tokens = self._n_documents = 0
        self._closed, self._sink, self._profiles = False, None, None
        self._string_bytes: dict[str, int] = {}  # bytes appended to each group of strings
        self._sums_written = 0  # profile sums of a fragment
        try:  # whatever fails from here leaves no temporary file
            self._create_datasets(attention_chunk_rows)
            self._sink = Sink(compression)
            if vocab is not None:
                if not isinstance(vocab, StringArray):
                    vocab = StringArray.from_list(vocab)
                self._write_strings(L.BY_PATH[L.VOCAB_TOKEN], vocab)
                if derive if derive is not None else not fragment:
                    self._profiles = Profiles(meta.num_classes, meta.num_layers,
                                              meta.num_heads, len(vocab))
            if tokenizer_json:
                self._write_array(L.TOKENIZER_JSON, np.frombuffer(tokenizer_json, np.uint8))
        except BaseException:
            self.abort()
            raise

    # -- layout -----------------------------------------------------------------------------
    def _sizes(self) -> dict[str, int]:
        m = self.meta
        return L.fixed_sizes(m.num_layers, m.num_heads, m.num_classes, len(m.layers))

    def _dtype(self, d: L.Dataset) -> np.dtype:
        """What ``d`` is stored as in this store."""
        if d.log8 and self.precision == 8:
            return np.dtype(np.uint8)
        return np.dtype(d.dtype or np.float16)

    def _filters(self, dtype, size: int = 1, entropy_only: bool = False) -> dict:
        """Compression of a dataset of ``dtype`` (nothing for an empty one)."""
        return codec.filters(self._compression, dtype, entropy_only) if size else {}

    def _mark(self, ds, d: L.Dataset) -> None:
        """The dataset's attributes: its named dimensions and, for 8-bit codes, its encoding."""
        if d.dims_attr:
            ds.attrs["dims"] = d.dims_attr
        if ds.dtype == np.uint8 and d.log8:
            ds.attrs.update(codec.log8_attrs())

    def _create_datasets(self, attention_rows: int | None) -> None:
        sizes = self._sizes()
        for d in L.APPENDED:
            if not d.required:
                continue  # optional datasets are made when the first part brings them
            self._create(d, sizes, attention_rows)

    def _create(self, d: L.Dataset, sizes: dict[str, int], attention_rows: int | None) -> None:
        if d.encoding == L.STRINGS:
            self._string_group(d, resizable=True)
            return
        tail = tuple(sizes[x] for x in d.dims[1:])
        dtype = np.dtype(np.int64) if d.encoding == L.OFFSETS else self._dtype(d)
        rows = (attention_rows if d.chunk_rows is None and attention_rows
                else d.chunks(len(self.meta.layers), self.meta.num_heads, dtype.itemsize))
        chunk_tail = tail
        if d.column_chunks and not self.fragment:
            chunk_tail = (1, *tail[1:])  # one layer's heads over many instances
            rows = self._column_rows
        elif d.column_chunks:
            rows = FRAGMENT_ROWS
        if d.encoding == L.OFFSETS:
            ds = self._file.create_dataset(d.path, data=np.zeros(1, np.int64), maxshape=(None,),
                                           chunks=(rows,), **self._filters(dtype))
        else:
            ds = self._file.create_dataset(
                d.path, shape=(0, *tail), maxshape=(None, *tail), dtype=dtype,
                chunks=(rows, *chunk_tail), **self._filters(dtype, 1, d.entropy_only))
        self._mark(ds, d)

    def _string_group(self, d: L.Dataset, resizable: bool) -> h5py.Group:
        g = self._file.create_group(d.path)
        g.attrs["encoding-type"] = F.STRING_ENCODING
        g.attrs["encoding-version"] = F.STRING_ENCODING_VERSION
        if resizable:
            g.create_dataset(
                "data", shape=(0,), maxshape=(None,), dtype=np.uint8,
                chunks=(d.chunk_rows,), **self._filters(np.uint8))
            g.create_dataset(
                "offsets", data=np.zeros(1, np.int64), maxshape=(None,), chunks=(L.COLUMN_CHUNK,),
                **self._filters(np.int64))
        return g

    def _write_strings(self, d: L.Dataset, strings: StringArray) -> None:
        g = self._string_group(d, resizable=False)
        data = strings.data
        g.create_dataset("data", data=data, dtype=np.uint8,
                         chunks=(max(1, min(len(data), L.STRING_CHUNK)),) if len(data) else None,
                         **self._filters(np.uint8, len(data)))
        g.create_dataset("offsets", data=strings.offsets, dtype=np.int64,
                         chunks=(min(len(strings.offsets), L.COLUMN_CHUNK),),
                         **self._filters(np.int64, len(strings.offsets) - 1))

    # -- appending --------------------------------------------------------------------------
    def _extend(self, name: str, values: np.ndarray, flush: bool = False) -> None:
        self._sink.extend(self._file[name], values, flush)  # written in the sink's thread

    def _extend_strings(self, name: str, strings: StringArray) -> None:
        base = self._string_bytes.get(name, 0)
        self._extend(f"{name}/data", strings.data)
        self._extend(f"{name}/offsets", strings.offsets[1:] + base)
        self._string_bytes[name] = base + len(strings.data)

    def append(self, part: Part) -> None:
        """Add ``part``'s instances (and its documents) after those written so far. Its
        arrays are written in a thread after this returns: leave them unchanged."""
        if self._closed:
            raise ValueError("writer is closed")
        m = self.meta
        if part.attention.shape[1:] != (len(m.layers), m.num_heads):
            raise ValueError(f"part has {part.attention.shape[1:]} stored layers x heads, "
                             f"store has {(len(m.layers), m.num_heads)}")
        if part.probabilities.shape[1] != m.num_classes:
            raise ValueError(f"part has {part.probabilities.shape[1]} classes, store has "
                             f"{m.num_classes}")
        self._sink.next_part()
        part = replace(part, attention=codec.convert(part.attention, self.precision))
        self._extend(L.ATTENTION, part.attention, flush=True)  # written while derived
        if self._profiles is not None:
            part = self._derive(part)
        elif self.fragment and part.profile_sums is not None:
            self._write_sums(part.profile_sums)
        written = {dims.INSTANCES: self._n_instances, dims.TOKENS: self._n_tokens,
                   dims.DOCUMENTS: self._n_documents}
        sizes = self._sizes()
        for d in L.PART_FIELDS:
            if d.path == L.ATTENTION:
                continue
            value = getattr(part, d.field)
            present = d.path in self._file
            if value is None:
                if present:
                    raise ValueError(f"the store has {d.path} but this part does not")
                continue
            if not present:
                if written[d.rows]:
                    raise ValueError(f"this part has {d.path} but the parts before it did not")
                self._create(d, sizes, None)
            if d.encoding == L.STRINGS:
                self._extend_strings(d.path, value)
            elif d.encoding == L.OFFSETS:
                self._extend(d.path, written[dims.TOKENS] + np.cumsum(value))
            else:
                self._extend(d.path, value + written[d.shift] if d.shift else value)
        self._n_instances += part.n_instances
        self._n_tokens += part.n_tokens
        self._n_documents += len(part.document_ids)

    def _derive(self, part: Part) -> Part:
        """``part`` with the self-attention statistics it lacks; fed to the profiles.

        A store of every layer derives the profiles from the stored (decoded) values; one of
        some layers takes the sums that came with the part, made from every layer."""
        every = self.meta.all_layers
        missing = [n for n in L.SELF_STAT_NAMES if getattr(part, n) is None]
        if missing and not every:
            raise ValueError("a part for a store of some layers must bring the statistics of "
                             "every layer (self_mean, self_max, self_argmax)")
        attention = codec.to_float(part.attention) if every else None  # float32: fast sums
        if missing:
            stats = derive.self_statistics(attention, part.special, part.token_count)
            part = replace(part, **{n: stats[n] for n in missing})
        if not every and part.profile_sums is not None:
            self._profiles.add_sums(part.profile_sums)
        self._profiles.add(part.label, part.prediction, part.token_count, part.token_id,
                           attention, {n: getattr(part, n) for n in L.HEAD_STAT_NAMES
                                       if getattr(part, n) is not None})
        return part

    def add_profile_sums(self, sums: ProfileSums) -> None:
        """Sums of every layer for the profiles of a store that keeps some layers (those of
        instances appended without them, e.g. read from a precompute block)."""
        if self._profiles is None:
            raise ValueError("this writer derives no profiles")
        self._profiles.add_sums(sums)

    def _write_sums(self, sums: ProfileSums) -> None:
        """A fragment's profile sums, under /fragment/profile_sums/<n>/ (n: each part's)."""
        g = self._file.require_group(f"{FRAGMENT_SUMS}/{self._sums_written}")
        for name in ProfileSums.FIELDS:
            value = getattr(sums, name)
            g.create_dataset(name, data=value, **self._filters(value.dtype, value.size))
        self._sums_written += 1

    def _write_array(self, path: str, data: np.ndarray) -> None:
        d = L.BY_PATH.get(path) or L.BY_PATH[path.rsplit("/", 1)[0] + "/<statistic>"]
        if d.log8 and self.precision == 8:
            data = codec.encode_log8(data)
        row_bytes = max(1, data[:1].nbytes)
        rows = L.even_chunk_rows(len(data), DERIVED_CHUNK_BYTES // row_bytes)
        ds = self._file.create_dataset(path, shape=data.shape, dtype=data.dtype,
                                       chunks=(rows, *data.shape[1:]) if data.size else None,
                                       **self._filters(data.dtype, data.size, d.entropy_only))
        write_array(ds, data, self._compression)
        self._mark(ds, d)

    def _write_pieces(self, path: str, total: int, dtype: np.dtype, pieces) -> None:
        """A derived 1-d dataset of ``total`` entries, written from (start, values) pieces."""
        rows = L.even_chunk_rows(total, DERIVED_CHUNK_BYTES // dtype.itemsize)
        chunks = (rows,) if total else None
        ds = self._file.create_dataset(path, shape=(total,), dtype=dtype, chunks=chunks,
                                       **self._filters(dtype, total))
        self._mark(ds, L.BY_PATH[path])
        for start, values in pieces:
            ds[start : start + len(values)] = values

    def _write_derived(self, tables: dict[str, np.ndarray]) -> None:
        """The profiles (their ``tables``) and the token index, from everything appended."""
        for path, data in tables.items():
            self._write_array(path, data)
        self._file[L.GROUP_KEY].parent.parent.attrs["grouping"] = self._profiles.grouping
        ids, start = self._file[L.TOKEN_ID], self._file[L.TOKEN_START][:]
        vocab = self._profiles.vocab
        offsets, pieces = derive.occurrence_index(lambda a, b: ids[a:b], len(ids), vocab)
        self._write_array(L.INDEX_OCCURRENCE_OFFSETS, offsets)
        self._write_pieces(L.INDEX_OCCURRENCES, int(offsets[-1]),
                           derive.occurrence_dtype(len(ids)), pieces)
        for path, data in zip((L.INDEX_OFFSETS, L.INDEX_INSTANCES),
                              derive.token_index(lambda a, b: ids[a:b], start, vocab)):
            self._write_array(path, data)

    # -- finishing --------------------------------------------------------------------------
    def _write_attrs(self) -> None:
        a = self._file.attrs
        a["format"] = F.FORMAT_NAME
        a["format_version"] = F.FORMAT_VERSION
        a["label_names"] = np.array([str(x) for x in self.meta.label_names],
                                    dtype=h5py.string_dtype())
        a["num_layers"] = int(self.meta.num_layers)
        a["num_heads"] = int(self.meta.num_heads)
        a[F.STORED_LAYERS] = np.array(self.meta.layers, dtype=np.int32)
        if self.fragment:
            a["fragment"] = True
        for key, value in self.meta.provenance.items():
            if key in F.CORE_ATTRS + F.LAYOUT_ATTRS or key == "fragment":
                raise ValueError(f"provenance key {key!r} is reserved")
            value = F.encode_attr(value)
            if isinstance(value, list):
                value = np.array(value, dtype=h5py.string_dtype())
            a[key] = value

    def close(self) -> Path:
        """Finish the store: attributes, fsync, rename to the final name. Returns the path."""
        if self._closed:
            return self.path
        try:
            tables = self._profiles.tables() if self._profiles is not None else None
            self._sink.close()  # the rows written: the token index reads them back
            if tables is not None:
                self._write_derived(tables)
            self._write_attrs()
            self._file.close()
            _fsync_path(self.tmp)
            os.replace(self.tmp, self.path)
            _fsync_dir(self.path.parent)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; the final path is left untouched."""
        self._closed = True
        if self._sink is not None:
            self._sink.shutdown()
        with contextlib.suppress(Exception):
            self._file.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
