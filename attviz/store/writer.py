"""Writing stores. A store appears under its final name only once it is complete."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from . import format as F
from .part import Part
from .strings import StringArray


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temporary_name(path: Path) -> Path:
    """Where a store is written before it is renamed to ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


class StoreWriter:
    """Appends :class:`Part` objects to a new store at ``path``.

    The file is written under a temporary name in the same folder and renamed to ``path``
    by :meth:`close` after an fsync, so ``path`` exists only when complete. Used as a
    context manager, an exception removes the temporary file and leaves ``path`` as it was.

    ``vocab`` (index = token id) is required for a complete store; ``fragment=True`` writes
    a part of a store (a precompute block) that :func:`attviz.store.assemble` joins later.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        meta: F.StoreMeta,
        vocab: list[str] | StringArray | None,
        *,
        fragment: bool = False,
        compression: str | None = F.COMPRESSION,
        attention_chunk_rows: int | None = None,
    ) -> None:
        if vocab is None and not fragment:
            raise ValueError("a complete store needs the vocabulary")
        self.path = Path(path)
        self.meta = meta
        self.fragment = fragment
        self.tmp = temporary_name(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._compression = compression
        self._file = h5py.File(self.tmp, "w", libver=("earliest", "v110"))
        self._n_instances = 0
        self._n_tokens = 0
        self._n_documents = 0
        self._closed = False
        rows = attention_chunk_rows or F.attention_chunk_rows(meta.num_layers, meta.num_heads)
        self._create_datasets(rows)
        if vocab is not None:
            if not isinstance(vocab, StringArray):
                vocab = StringArray.from_list(vocab)
            self._write_strings(F.VOCAB_TOKEN, vocab, resizable=False)

    # -- layout -----------------------------------------------------------------------------
    def _dataset(self, name: str, shape_tail: tuple, dtype, chunk_rows: int,
                 compress: bool = True) -> None:
        ds = self._file.create_dataset(
            name,
            shape=(0, *shape_tail),
            maxshape=(None, *shape_tail),
            dtype=dtype,
            chunks=(chunk_rows, *shape_tail),
            compression=self._compression if compress else F.ATTENTION_COMPRESSION,
            shuffle=False,
        )
        if name in F.DIMS:
            ds.attrs["dims"] = list(F.DIMS[name])

    def _create_datasets(self, attention_rows: int) -> None:
        m = self.meta
        self._dataset(F.ATTENTION, (m.num_layers, m.num_heads), np.float16, attention_rows,
                      compress=False)
        self._dataset(F.TOKEN_ID, (), np.int32, F.COLUMN_CHUNK)
        self._dataset(F.TOKEN_SPAN, (2,), np.int32, F.COLUMN_CHUNK // 2)
        self._dataset(F.TOKEN_SPECIAL, (), np.bool_, F.COLUMN_CHUNK)
        start = self._file.create_dataset(
            F.TOKEN_START, data=np.zeros(1, np.int64), maxshape=(None,), chunks=(F.COLUMN_CHUNK,),
            compression=self._compression,
        )
        start.attrs["dims"] = ["instances + 1"]
        self._dataset(F.LABEL, (), np.int16, F.COLUMN_CHUNK)
        self._dataset(F.PREDICTION, (), np.int16, F.COLUMN_CHUNK)
        self._dataset(F.PROBABILITIES, (m.num_classes,), np.float32, F.COLUMN_CHUNK // 8)
        self._dataset(F.DOCUMENT, (), np.int64, F.COLUMN_CHUNK)
        self._dataset(F.SEGMENT, (), np.int32, F.COLUMN_CHUNK)
        self._dataset(F.DOCUMENT_ROW, (), np.int64, F.COLUMN_CHUNK)
        self._string_group(F.TEXT, resizable=True)
        self._string_group(F.DOCUMENT_ID, resizable=True)

    def _string_group(self, name: str, resizable: bool) -> h5py.Group:
        g = self._file.create_group(name)
        g.attrs["encoding-type"] = F.STRING_ENCODING
        g.attrs["encoding-version"] = F.STRING_ENCODING_VERSION
        if resizable:
            # instance texts stay uncompressed: the text filter scans them all
            compress = None if name == F.TEXT else self._compression
            g.create_dataset(
                "data", shape=(0,), maxshape=(None,), dtype=np.uint8,
                chunks=(F.STRING_CHUNK,), compression=compress,
            )
            g.create_dataset(
                "offsets", data=np.zeros(1, np.int64), maxshape=(None,), chunks=(F.COLUMN_CHUNK,),
                compression=self._compression,
            )
        return g

    def _write_strings(self, name: str, strings: StringArray, resizable: bool) -> None:
        g = self._string_group(name, resizable=resizable)
        g.create_dataset("data", data=strings.data, dtype=np.uint8,
                         compression=self._compression if len(strings.data) else None)
        g.create_dataset("offsets", data=strings.offsets, dtype=np.int64,
                         compression=self._compression if len(strings.offsets) > 1 else None)

    # -- appending --------------------------------------------------------------------------
    def _extend(self, name: str, values: np.ndarray) -> None:
        ds = self._file[name]
        n = ds.shape[0]
        ds.resize(n + len(values), axis=0)
        if len(values):
            ds[n:] = values

    def _extend_strings(self, name: str, strings: StringArray) -> None:
        g = self._file[name]
        base = g["offsets"][-1]
        self._extend(f"{name}/data", strings.data)
        self._extend(f"{name}/offsets", strings.offsets[1:] + base)

    def append(self, part: Part) -> None:
        """Add ``part``'s instances (and its documents) after those written so far."""
        if self._closed:
            raise ValueError("writer is closed")
        if part.attention.shape[1:] != (self.meta.num_layers, self.meta.num_heads):
            raise ValueError(
                f"part has {part.attention.shape[1:]} layers x heads, store has "
                f"{(self.meta.num_layers, self.meta.num_heads)}"
            )
        if part.probabilities.shape[1] != self.meta.num_classes:
            raise ValueError(
                f"part has {part.probabilities.shape[1]} classes, store has {self.meta.num_classes}"
            )
        self._extend(F.ATTENTION, part.attention)
        self._extend(F.TOKEN_ID, part.token_id)
        self._extend(F.TOKEN_SPAN, part.span)
        self._extend(F.TOKEN_SPECIAL, part.special)
        self._extend(F.TOKEN_START, self._n_tokens + np.cumsum(part.token_count))
        self._extend(F.LABEL, part.label)
        self._extend(F.PREDICTION, part.prediction)
        self._extend(F.PROBABILITIES, part.probabilities)
        self._extend(F.DOCUMENT, part.document + self._n_documents)
        self._extend(F.SEGMENT, part.segment)
        self._extend_strings(F.TEXT, part.text)
        self._extend_strings(F.DOCUMENT_ID, part.document_ids)
        self._extend(F.DOCUMENT_ROW, part.document_row)
        self._n_instances += part.n_instances
        self._n_tokens += part.n_tokens
        self._n_documents += len(part.document_ids)

    # -- finishing --------------------------------------------------------------------------
    def _write_attrs(self) -> None:
        a = self._file.attrs
        a["format"] = F.FORMAT_NAME
        a["format_version"] = F.FORMAT_VERSION
        a["label_names"] = np.array([str(x) for x in self.meta.label_names], dtype=h5py.string_dtype())
        a["num_layers"] = int(self.meta.num_layers)
        a["num_heads"] = int(self.meta.num_heads)
        if self.fragment:
            a["fragment"] = True
        for key, value in self.meta.provenance.items():
            if key in F.CORE_ATTRS or key == "fragment":
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
        try:
            self._file.close()
        except Exception:
            pass
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
