"""Which instances the sidebar keeps: boolean masks over the in-memory per-instance columns.

Everything here is numpy over arrays of length ``instances``. Conditions that read the
store (the text, a token, head statistics) arrive as masks computed and cached elsewhere
(:mod:`.slices`, :mod:`attviz.store.search`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HeadCondition:
    """"layer ``layer`` head ``head``: ``statistic`` >= (or <=) ``threshold``"."""

    statistic: str
    layer: int
    head: int
    threshold: float
    op: str = ">="

    def holds(self, values: np.ndarray) -> np.ndarray:
        v = values.astype(np.float64)
        return v >= self.threshold if self.op == ">=" else v <= self.threshold

    def __str__(self) -> str:
        return f"{self.statistic} of L{self.layer} H{self.head} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class InstanceFilter:
    """A combination of sidebar filters; every condition must hold (logical and).

    gold / predicted: class indices to keep (empty: all); cell: (gold, predicted) of a
    confusion cell or None; confidence: closed range of the largest class probability;
    tokens: closed range of the token count or None; text: substring of the instance text.
    """

    misclassified_only: bool = False
    gold: tuple[int, ...] = ()
    predicted: tuple[int, ...] = ()
    cell: tuple[int, int] | None = None
    confidence: tuple[float, float] = (0.0, 1.0)
    tokens: tuple[int, int] | None = None
    text: str = ""
    case_sensitive: bool = False
    inside_words: bool = False  # text found anywhere (a scan), not only as tokens
    token: int | None = None  # instances holding this token id
    heads: tuple[HeadCondition, ...] = ()  # conditions on head statistics, all must hold


@dataclass
class DerivedColumns:
    """Per-instance values the filters and the table need, computed once per store."""

    label: np.ndarray  # [instances] int16
    prediction: np.ndarray  # [instances] int16
    confidence: np.ndarray  # [instances] float32
    token_count: np.ndarray  # [instances] int32
    correct: np.ndarray  # [instances] bool
    document: np.ndarray  # [instances] int64
    segment: np.ndarray  # [instances] int32

    @classmethod
    def from_columns(cls, columns) -> DerivedColumns:
        return cls(
            label=columns.label,
            prediction=columns.prediction,
            confidence=columns.confidence.astype(np.float32),
            token_count=columns.token_count.astype(np.int32),
            correct=columns.correct,
            document=columns.document,
            segment=columns.segment,
        )

    def __len__(self) -> int:
        return len(self.label)


def _in(values: np.ndarray, keep: tuple[int, ...], n_classes: int) -> np.ndarray:
    lookup = np.zeros(n_classes + 1, dtype=bool)  # last slot: -1 (unknown)
    lookup[list(keep)] = True
    return lookup[values]


def apply_filter(cols: DerivedColumns, f: InstanceFilter, n_classes: int,
                 text_mask: np.ndarray | None = None, masks=()) -> np.ndarray:
    """[instances] bool: the instances that pass ``f``.

    ``text_mask`` is the store's search result for ``f.text`` (required when it is set);
    ``masks``: the results of ``f.token`` and ``f.heads``, each [instances] bool.
    """
    mask = np.ones(len(cols), dtype=bool)
    if f.misclassified_only:
        mask &= (cols.label >= 0) & ~cols.correct
    if f.gold:
        mask &= _in(cols.label, f.gold, n_classes)
    if f.predicted:
        mask &= _in(cols.prediction, f.predicted, n_classes)
    if f.cell is not None:
        mask &= (cols.label == f.cell[0]) & (cols.prediction == f.cell[1])
    lo, hi = f.confidence
    if lo > 0.0 or hi < 1.0:
        mask &= (cols.confidence >= lo) & (cols.confidence <= hi)
    if f.tokens is not None:
        mask &= (cols.token_count >= f.tokens[0]) & (cols.token_count <= f.tokens[1])
    if f.text:
        if text_mask is None:
            raise ValueError("a text filter needs the store's search result")
        mask &= text_mask
    for m in masks:
        mask &= m
    return mask


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
