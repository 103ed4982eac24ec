"""The instance table's content: the order of the filtered instances, its pages, the rows of a
page, and the whole filtered table as CSV. Strings are read from the store only for the rows
built."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from .stores import DerivedColumns, SharedStore

TABLE_COLUMNS = ("id", "document", "segment", "gold", "predicted", "confidence", "correct",
                 "tokens")
CSV_PART = 50_000  # rows built at a time for the CSV


HEAD_STATISTIC = "head statistic"  # sort by the statistic of one head (given as ``values``)
SORT_KEYS = ("corpus order", "confidence", "tokens", "gold", "predicted", HEAD_STATISTIC)


def order(cols: DerivedColumns, mask: np.ndarray, sort_by: str = "corpus order",
          descending: bool = False, values: np.ndarray | None = None) -> np.ndarray:
    """Indices of the instances in ``mask``, sorted (stable; ties in corpus order).

    ``values``: [instances], the key of ``HEAD_STATISTIC`` (corpus order without it).
    """
    idx = np.flatnonzero(mask)
    if sort_by == HEAD_STATISTIC and values is None:
        sort_by = "corpus order"
    if sort_by == "corpus order":
        return idx[::-1] if descending else idx
    key = values[idx] if sort_by == HEAD_STATISTIC else {
        "confidence": cols.confidence, "tokens": cols.token_count, "gold": cols.label,
        "predicted": cols.prediction}[sort_by][idx]
    if descending:
        # stable descending sort keeping ties in corpus order
        o = np.argsort(-key.astype(np.float64), kind="stable")
    else:
        o = np.argsort(key, kind="stable")
    return idx[o]


def page_count(rows: int, page_size: int) -> int:
    """Pages of ``page_size`` rows that ``rows`` rows fill (at least one)."""
    return max(1, -(-rows // page_size))


def page_rows(order: np.ndarray, page: int, page_size: int) -> np.ndarray:
    """The instance indices on page ``page`` (1-based, clamped to the pages there are)."""
    p = min(max(1, page), page_count(len(order), page_size))
    start = (p - 1) * page_size
    return order[start : start + page_size]


def table_frame(opened: SharedStore | None, indices: np.ndarray) -> pd.DataFrame:
    """Rows of the instance table for ``indices``, in that order."""
    if opened is None or len(indices) == 0:
        return pd.DataFrame({c: [] for c in TABLE_COLUMNS})
    c = opened.cols
    names = np.array(opened.label_names + ["?"], dtype=object)  # -1 -> "?"
    docs = c.document[indices]
    uniq = np.unique(docs)
    ids = dict(zip(uniq.tolist(), opened.store.document_ids(uniq)))
    return pd.DataFrame({
        "id": indices.astype(np.int64),
        "document": [ids[d] for d in docs.tolist()],
        "segment": c.segment[indices].astype(np.int64),
        "gold": names[c.label[indices]],
        "predicted": names[c.prediction[indices]],
        "confidence": np.round(c.confidence[indices].astype(np.float64), 4),
        "correct": np.where(c.label[indices] < 0, "", np.where(c.correct[indices], "yes", "no")),
        "tokens": c.token_count[indices].astype(np.int64),
    })


def table_csv(opened: SharedStore | None, order: np.ndarray) -> io.StringIO:
    """CSV of the table of the instances ``order``, in that order (built in parts, so any
    size works)."""
    buf = io.StringIO()
    for start in range(0, max(1, len(order)), CSV_PART):
        part = order[start : start + CSV_PART]
        # read in file order, written in table order
        frame = table_frame(opened, np.sort(part)).set_index("id").loc[part].reset_index()
        frame.to_csv(buf, index=False, header=start == 0)
    buf.seek(0)
    return buf
