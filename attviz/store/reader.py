"""Reading one store file. Opening reads the per-instance columns and nothing per token."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from .. import dims
from . import base, codec
from . import format as F
from . import layout as L
from .base import BaseStore, Columns, Instance, check_sorted_indices, contiguous_runs
from .checks import check_layout
from .datasets import OpenDatasets, read_runs
from .errors import StoreError, reading
from .part import Part
from .strings import StringArray
from .summaries import ProfileTables
from .textscan import scan_texts

codec.register_filters()  # Blosc2 and Zstandard (hdf5plugin), before any store is read

# what reading an instance needs (per-token data, its text and its document's id)
_INSTANCE_DATASETS = tuple(L.BY_PATH[p] for p in (
    L.ATTENTION, L.TOKEN_ID, L.TOKEN_SPAN, L.TOKEN_SPECIAL, L.TEXT, L.DOCUMENT, L.DOCUMENT_ID))


def _decode_attr(value):
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        value = [v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v
                 for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            pass
    return value


class Store(BaseStore):
    """A store file opened read-only.

    ``fragment=True`` also opens a precompute block (a store without vocabulary).
    """

    def __init__(self, path: str | os.PathLike, *, fragment: bool = False) -> None:
        self.path = Path(path)
        self._file = self._open(self.path)
        self._datasets = OpenDatasets(self._file)
        try:
            self.meta = self._read_meta(fragment)
            self.columns = self._read_columns()
        except BaseException:
            self._file.close()
            raise
        self._vocab: list[str] | None = None
        self._profiles: ProfileTables | None = None
        self._offsets: dict[str, np.ndarray] = {}  # the token index's offsets, once read

    # -- opening ----------------------------------------------------------------------------
    @staticmethod
    def _open(path: Path) -> h5py.File:
        if not path.exists():
            raise StoreError(f"{path}: no such file")
        if path.is_dir():
            raise StoreError(f"{path}: is a folder; open it with attviz.store.open_store")
        try:
            # 4 MiB of chunk cache per dataset (HDF5's default is 1 MiB): consecutive
            # instances then read from chunks already decompressed
            return h5py.File(path, "r", rdcc_nbytes=F.CHUNK_CACHE_BYTES, rdcc_nslots=10007)
        except Exception as e:
            if path.stat().st_size == 0:
                raise StoreError(f"{path}: the file is empty, not an attviz store") from None
            try:
                is_hdf5 = h5py.is_hdf5(path)
            except Exception:
                is_hdf5 = False
            if not is_hdf5:
                raise StoreError(
                    f"{path}: not an HDF5 file, so not an attviz store "
                    "(made by `attviz precompute`)"
                ) from None
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StoreError(
                f"{path}: HDF5 cannot open the file ({first}); it is truncated or damaged, "
                "re-run the precompute that wrote it"
            ) from None

    def _read_meta(self, fragment: bool) -> F.StoreMeta:
        attrs = self._file.attrs
        with reading(self.path, "/ (root attributes)"):
            fmt = _decode_attr(attrs.get("format", ""))
            if fmt != F.FORMAT_NAME:
                raise StoreError(
                    f"{self.path}: an HDF5 file but not an attviz store "
                    f"(its root attribute 'format' is {fmt!r}, expected {F.FORMAT_NAME!r})"
                )
            version = str(_decode_attr(attrs.get("format_version", "")))
            try:
                major, _minor = L.version_tuple(version)
            except ValueError:
                raise StoreError(
                    f"{self.path}: root attribute 'format_version' is {version!r}, not major.minor"
                ) from None
            if major > F.MAJOR:
                writer = _decode_attr(attrs.get("attviz_version", "")) or f"{major}.0"
                raise StoreError(
                    f"{self.path}: written in attviz store format {version} by attviz {writer}; "
                    f"this attviz reads format {F.MAJOR}.x only: install attviz {writer} or newer "
                    f"(pip install -U 'attviz>={writer}')"
                )
            self._is_fragment = bool(attrs.get("fragment", False))
            if self._is_fragment and not fragment:
                raise StoreError(
                    f"{self.path}: a block of an unfinished precompute, not a whole store; "
                    "re-run the precompute to finish it"
                )
            missing = [k for k in F.CORE_ATTRS if k not in attrs]
            if missing:
                raise StoreError(f"{self.path}: root attributes {missing} are missing")
            provenance = {
                k: _decode_attr(v) for k, v in attrs.items()
                if k not in F.CORE_ATTRS + F.LAYOUT_ATTRS + ("fragment",)
            }
            stored = attrs.get(F.STORED_LAYERS)
            try:
                return F.StoreMeta(
                    label_names=[str(x) for x in _decode_attr(attrs["label_names"])],
                    num_layers=int(attrs["num_layers"]),
                    num_heads=int(attrs["num_heads"]),
                    provenance=provenance,
                    format_version=version,
                    stored_layers=None if stored is None else [int(x) for x in stored],
                )
            except ValueError as e:
                raise StoreError(f"{self.path}: root attribute {F.STORED_LAYERS}: {e}") from None

    def _read(self, h5path: str, sel=slice(None), decode: bool = True) -> np.ndarray:
        """Dataset ``h5path`` (rows ``sel``); 8-bit codes decoded to float32 unless not
        ``decode``."""
        with reading(self.path, h5path):
            ds, log8 = self._datasets.get(h5path)
            value = ds[sel]
            return codec.decode_log8(value) if decode and log8 else value

    def _read_columns(self) -> Columns:
        cols = Columns(**{d.name: self._read(d.path) for d in L.IN_MEMORY})
        cols.token_start = cols.token_start.astype(np.int64, copy=False)
        self._text_offsets = self._read(L.TEXT + "/offsets")
        self._shapes = check_layout(self._file, self.path, self.meta, cols, self._is_fragment)
        return cols

    # -- metadata -----------------------------------------------------------------------------
    @property
    def precision(self) -> int:
        """Bits per stored self-attention value: 16 (float16) or 8 (log8 codes)."""
        with reading(self.path, L.ATTENTION):
            return 8 if self._datasets.get(L.ATTENTION)[0].dtype == np.uint8 else 16

    @property
    def n_documents(self) -> int:
        return self._shapes[L.DOCUMENT_ROW][0]

    @property
    def vocab(self) -> list[str]:
        if self._vocab is None:
            self._vocab = self._read_strings(L.VOCAB_TOKEN).to_list()
        return self._vocab

    def _read_strings(self, group: str, start: int = 0, stop: int | None = None) -> StringArray:
        offsets = self._read(group + "/offsets", slice(start, None if stop is None else stop + 1))
        data = self._read(group + "/data", slice(int(offsets[0]), int(offsets[-1])))
        return StringArray(data, offsets - offsets[0])

    # -- what a complete store derives ---------------------------------------------------------
    @property
    def head_stat_names(self) -> list[str]:
        return [d.name for d in L.HEAD_STAT_ROWS if d.path in self._shapes]

    def read_head_stat(self, name: str, layer: int | None = None, head: int | None = None
                       ) -> np.ndarray:
        path = f"{L.HEAD_STATS}/{name}"
        if path not in self._shapes:
            raise StoreError(f"{self.path}: has no {path}; {L.how_to_add(name)}")
        if layer is None:
            return self._read(path, slice(None))
        return self._read(path, np.s_[:, layer, :] if head is None else np.s_[:, layer, head])

    def profiles(self) -> ProfileTables | None:
        if L.GROUP_KEY not in self._shapes:
            return None
        if self._profiles is None:
            names = [p.rsplit("/", 1)[-1] for p in self._shapes
                     if p.startswith(L.GROUP_HEAD_SUM + "/")]
            with reading(self.path, "/profiles"):
                grouping = _decode_attr(self._file["/profiles"].attrs.get("grouping", ""))
            self._profiles = ProfileTables.read(self._read, names, str(grouping))
        return self._profiles

    def _entries(self, offsets: str, token_id: int) -> tuple[int, int]:
        """The entries of ``token_id`` in the index whose CSR offsets are ``offsets``."""
        if offsets not in self._offsets:
            self._offsets[offsets] = self._read(offsets) if offsets in self._shapes else []
        off = self._offsets[offsets]
        ok = 0 <= token_id < len(off) - 1
        return (int(off[token_id]), int(off[token_id + 1])) if ok else (0, 0)

    def postings(self, token_id: int) -> np.ndarray | None:
        if L.INDEX_OFFSETS not in self._shapes:
            return None
        a, b = self._entries(L.INDEX_OFFSETS, token_id)
        return self._read(L.INDEX_INSTANCES, slice(a, b)).astype(np.int64)

    @property
    def has_occurrences(self) -> bool:
        return L.INDEX_OCCURRENCES in self._shapes and L.INDEX_OCCURRENCE_OFFSETS in self._shapes

    def occurrence_count(self, token_id: int) -> int:
        a, b = self._entries(L.INDEX_OCCURRENCE_OFFSETS, token_id)
        return b - a

    def occurrences(self, token_id: int, block: int = base.OCCURRENCE_BLOCK
                    ) -> Iterator[np.ndarray]:
        a, b = self._entries(L.INDEX_OCCURRENCE_OFFSETS, token_id)
        for lo in range(a, b, block):
            yield self._read(L.INDEX_OCCURRENCES, slice(lo, min(b, lo + block))).astype(np.int64)

    def tokenizer_json(self) -> bytes | None:
        if L.TOKENIZER_JSON not in self._shapes:
            return None
        return self._read(L.TOKENIZER_JSON).tobytes()

    # -- per-token reads ------------------------------------------------------------------------
    def _read_rows(self, start: int, stop: int, datasets) -> dict[str, object]:
        """Instances ``start:stop`` of ``datasets`` (layout rows) by Part field name; the
        tokens and documents they own; document indices counted from the first of those."""
        ts, docs = self.columns.token_start, self.columns.document
        d0 = int(docs[start]) if stop > start else 0
        d1 = int(docs[stop - 1]) + 1 if stop > start else 0
        bounds = {dims.INSTANCES: (start, stop), dims.TOKENS: (int(ts[start]), int(ts[stop])),
                  dims.DOCUMENTS: (d0, d1)}
        out: dict[str, object] = {}
        for d in datasets:
            lo, hi = bounds[d.rows]
            if d.path not in self._shapes:
                value = None
            elif d.encoding == L.STRINGS:
                value = self._read_strings(d.path, lo, hi)
            elif d.encoding == L.OFFSETS:
                value = np.diff(getattr(self.columns, d.name)[lo : hi + 1])
            elif d.in_memory:
                value = getattr(self.columns, d.name)[lo:hi]
            else:
                value = self._read(d.path, slice(lo, hi), decode=False)
            if d.shift and value is not None:
                value = value - bounds[d.shift][0]
            out[d.field] = value
        return out

    def read_instances(self, indices) -> list[Instance]:
        idx = check_sorted_indices(indices, self.n_instances)
        out: list[Instance] = []
        ts = self.columns.token_start
        for a, b in contiguous_runs(idx):
            rows = self._read_rows(a, b, _INSTANCE_DATASETS)
            t0 = int(ts[a])
            att = codec.to_float(rows["attention"])
            layers = tuple(self.meta.layers)
            ids, texts, doc_ids = rows["token_id"], rows["text"], rows["document_ids"]
            vocab = self.vocab
            for k in range(a, b):
                s, e = int(ts[k]) - t0, int(ts[k + 1]) - t0
                tid = ids[s:e]
                out.append(Instance(
                    index=k,
                    document_id=doc_ids[int(rows["document"][k - a])],
                    segment=int(self.columns.segment[k]),
                    text=texts[k - a],
                    token_ids=tid,
                    tokens=[vocab[t] if 0 <= t < len(vocab) else f"[{t}]" for t in tid.tolist()],
                    spans=rows["span"][s:e],
                    special=rows["special"][s:e],
                    attention=att[s:e],
                    label=int(self.columns.label[k]),
                    prediction=int(self.columns.prediction[k]),
                    probabilities=self.columns.probabilities[k],
                    layers=layers,
                ))
        return out

    def _token_runs(self, indices) -> tuple[np.ndarray, list[tuple[int, int]]]:
        idx = check_sorted_indices(indices, self.n_instances)
        ts = self.columns.token_start
        return np.diff(ts)[idx], [(int(ts[a]), int(ts[b])) for a, b in contiguous_runs(idx)]

    def read_tokens(self, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts, runs = self._token_runs(indices)
        return (counts, self._read_runs(L.TOKEN_ID, runs),
                codec.to_float(self._read_runs(L.ATTENTION, runs)))

    def read_token_ids(self, indices) -> tuple[np.ndarray, np.ndarray]:
        counts, runs = self._token_runs(indices)
        return counts, self._read_runs(L.TOKEN_ID, runs)

    def _read_runs(self, h5path: str, runs: list[tuple[int, int]]) -> np.ndarray:
        """Rows ``a:b`` of every run (sorted, disjoint), one after another, in one read."""
        with reading(self.path, h5path):
            return read_runs(self._datasets.get(h5path)[0], runs)

    def texts(self, indices) -> list[str]:
        """The texts of the instances at sorted ``indices`` (contiguous ones read as one
        run)."""
        idx = check_sorted_indices(indices, self.n_instances)
        off = self._text_offsets
        runs = [(int(off[a]), int(off[b])) for a, b in contiguous_runs(idx)]
        raw = self._read_text_runs(runs)
        ends = np.cumsum(off[idx + 1] - off[idx])
        starts = ends - (off[idx + 1] - off[idx])
        return [raw[int(a) : int(b)].decode("utf-8", "replace") for a, b in zip(starts, ends)]

    def _read_text_runs(self, runs: list[tuple[int, int]]) -> bytes:
        """Bytes ``a:b`` of the texts for every run, one after another. Compressed texts
        are read run by run (each decompresses one or two small chunks, kept in the chunk
        cache for the next run; a union of thousands of ranges in one HDF5 read took 3x
        as long), uncompressed ones in one read."""
        path = L.TEXT + "/data"
        with reading(self.path, path):
            ds = self._datasets.get(path)[0]
            if ds.id.get_create_plist().get_nfilters() == 0:
                return self._read_runs(path, runs).tobytes()
            return b"".join(ds[a:b].tobytes() for a, b in runs)

    def document_ids(self, documents) -> list[str]:
        idx = check_sorted_indices(documents, self.n_documents)
        out: list[str] = []
        for a, b in contiguous_runs(idx):
            out.extend(self._read_strings(L.DOCUMENT_ID, a, b).to_list())
        return out

    def search_text(self, query: str, case_sensitive: bool = False) -> np.ndarray:
        with reading(self.path, L.TEXT + "/data"):
            return scan_texts(self._datasets.get(L.TEXT + "/data")[0], self._text_offsets, query,
                              case_sensitive)

    def profile_sums(self) -> list:
        """The profile sums a precompute block holds for a store of some layers
        (:class:`~attviz.store.derive.ProfileSums`, one per part written; none otherwise)."""
        from .derive import ProfileSums
        from .writer import FRAGMENT_SUMS

        with reading(self.path, FRAGMENT_SUMS):
            group = self._file.get(FRAGMENT_SUMS)
            if group is None:
                return []
            return [ProfileSums(**{n: group[k][n][:] for n in ProfileSums.FIELDS})
                    for k in sorted(group, key=int)]

    # -- copying ---------------------------------------------------------------------------
    def read_part(self, start: int, stop: int) -> Part:
        """Instances ``start:stop`` as a Part; they must cover whole documents."""
        return Part(**self._read_rows(start, stop, L.PART_FIELDS))

    def iter_parts(self, max_instances: int = 4096) -> Iterator[Part]:
        n, docs = self.n_instances, self.columns.document
        start = 0
        while start < n:
            stop = min(n, start + max_instances)
            if stop < n:  # move the cut back to a document boundary (or past one long document)
                cut = int(np.searchsorted(docs, docs[stop], side="left"))
                stop = cut if cut > start else int(np.searchsorted(docs, docs[stop], side="right"))
            yield self.read_part(start, stop)
            start = stop

    def close(self) -> None:
        try:
            self._file.close()
        except Exception:
            pass
