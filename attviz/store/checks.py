"""What a reader checks when a store opens: every dataset of the layout table present where
required, with sizes consistent with each other and with the root attributes."""

from __future__ import annotations

import numpy as np

from .. import dims
from . import layout as L
from .base import Columns
from .errors import StoreError, reading
from .format import StoreMeta


def present(file, where, is_fragment: bool) -> list[tuple[L.Dataset, str, tuple]]:
    """(row of the layout, HDF5 path, shape) of every dataset present in ``file`` (named
    ``where`` in messages); string arrays and offsets have their item count as first
    dimension; a ``<statistic>`` row stands for every dataset in its group."""
    found, missing = [], []
    for d in L.LAYOUT:
        paths = [d.path]
        if "<" in d.path:
            group = file.get(d.path.rsplit("/", 1)[0])
            paths = [f"{group.name}/{k}" for k in group] if group is not None else []
        for h5path in paths:
            node = file.get(h5path)
            if node is None:
                # a precompute block holds its rows only; the rest comes at assembly
                if d.required and not (is_fragment and d.combine == L.ONCE):
                    missing.append(h5path)
                continue
            with reading(where, h5path):
                shape = node["offsets"].shape if d.encoding == L.STRINGS else node.shape
            if d.encoding in (L.STRINGS, L.OFFSETS):
                shape = (shape[0] - 1,)
            found.append((d, h5path, tuple(shape)))
    if missing:
        raise StoreError(f"{where}: {', '.join(missing)} missing; the store is incomplete "
                         "or damaged")
    return found


def check_layout(file, where, meta: StoreMeta, cols: Columns, is_fragment: bool = False
                 ) -> dict[str, tuple]:
    """Raise a StoreError naming every inconsistency; else the shape of each dataset
    present, by HDF5 path (string arrays: (items,))."""
    found = present(file, where, is_fragment)
    shapes = {h5path: shape for _, h5path, shape in found}
    n, start, doc = len(cols.label), cols.token_start, cols.document
    n_tokens = shapes[L.ATTENTION][0]
    first = {d.path: shape[0] for d, _, shape in found}
    sizes = {dims.INSTANCES: n, dims.TOKENS: n_tokens, dims.DOCUMENTS: first[L.DOCUMENT_ROW],
             dims.VOCAB: first.get(L.VOCAB_TOKEN), dims.GROUPS: first.get(L.GROUP_KEY),
             dims.ENTRIES: first.get(L.TOKEN_PROFILE_ID),
             dims.POSTINGS: first.get(L.INDEX_INSTANCES), dims.KEY: 2,
             dims.OCCURRENCES: first.get(L.INDEX_OCCURRENCES),
             dims.POSITIONS: shapes.get(L.POSITION_COUNT, (0, None))[1],
             **L.fixed_sizes(meta.num_layers, meta.num_heads, meta.num_classes,
                             len(meta.layers))}
    problems = []
    if len(start) != n + 1:
        problems.append(f"{L.TOKEN_START} has {len(start)} entries, expected {n + 1}")
    elif start[0] != 0 or np.any(np.diff(start) < 0):
        problems.append(f"{L.TOKEN_START} is not a non-decreasing offset array from 0")
    elif start[-1] != n_tokens:
        problems.append(f"{L.TOKEN_START} ends at {start[-1]} but {L.ATTENTION} has "
                        f"{n_tokens} rows")
    for d, h5path, shape in found:
        if h5path == L.TOKEN_START:
            continue
        want = sizes.get(d.rows)
        if want is not None and shape[0] != want:
            what = "items" if d.encoding == L.STRINGS else "entries"
            problems.append(f"{h5path} has {shape[0]} {what}, expected {want}")
        tail = tuple(sizes.get(x) for x in d.dims[1:])
        if d.encoding == L.ARRAY and None not in tail and shape[1:] != tail:
            named = " x ".join(f"{sizes[x]} {x}" for x in d.dims[1:])
            problems.append(f"{h5path} is {shape[1:]} per row, expected {named}")
    if n and len(doc) == n and (doc.min() < 0 or doc.max() >= sizes[dims.DOCUMENTS]
                                or np.any(np.diff(doc) < 0)):
        problems.append(f"{L.DOCUMENT} must be non-decreasing indices into {L.DOCUMENT_ROW}")
    if problems:
        raise StoreError(f"{where}: inconsistent store: " + "; ".join(problems))
    return shapes
