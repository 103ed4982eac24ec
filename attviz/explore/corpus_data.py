"""Corpus statistics of a slice of instances: the head grid (a statistic's mean per head, or
the contrast of two slices with AUROC), token and position profiles, and the confusion
matrix. Pure functions of the store and boolean masks over its instances.

Profiles are exact, from the store's per-group sums, when a slice is a union of groups
(the whole store, label filters, misclassified only, a confusion cell); otherwise they
are computed exactly on a uniform random sample of the slice, whose size they report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..store import BaseStore
from ..store.derive import group_keys
from ..workers import Workers

SAMPLE = 500  # instances read for a profile of a slice that is not a union of groups


@dataclass(frozen=True)
class Grid:
    """[layers, heads] values of a statistic over a slice, or of slice A against slice B.

    value: the mean (or mean A − mean B); mean_a, mean_b: the two means (mean_b None
    without contrast); auroc: P(a > b) + ½ P(a = b) for a drawn from A and b from B;
    n_a, n_b: instance counts.
    """

    value: np.ndarray
    mean_a: np.ndarray
    mean_b: np.ndarray | None
    auroc: np.ndarray | None
    n_a: int
    n_b: int


@dataclass(frozen=True)
class TokenProfile:
    """Tokens ranked by mean self-attention (or by its difference between two slices).

    token_id, mean ([tokens] means in A), count (occurrences in A), mean_b / count_b (in B,
    contrast only); exact: from the per-group sums; sample: instances read when not exact.
    """

    token_id: np.ndarray
    mean: np.ndarray
    count: np.ndarray
    mean_b: np.ndarray | None
    count_b: np.ndarray | None
    exact: bool
    sample: int


@dataclass(frozen=True)
class PositionProfile:
    """mean: [positions, heads] mean self-attention of each head of the layer at each token
    position; count: [positions] tokens at that position; exact / sample as above."""

    mean: np.ndarray
    count: np.ndarray
    exact: bool
    sample: int


class Groups:
    """Which profile group each instance is in, and which slices are unions of groups."""

    def __init__(self, store: BaseStore) -> None:
        self.tables = store.profiles()
        self.group = None
        if self.tables is not None:
            c = store.columns
            self.group = self.tables.group_of(group_keys(c.label, c.prediction,
                                                         self.tables.grouping))
            self.size = np.bincount(self.group, minlength=len(self.tables.count))

    def union(self, mask: np.ndarray) -> np.ndarray | None:
        """The groups whose union is exactly ``mask``, or None (or no profiles)."""
        if self.group is None:
            return None
        inside = np.bincount(self.group[mask], minlength=len(self.size))
        if np.all((inside == 0) | (inside == self.size)):
            return np.flatnonzero(inside)
        return None


# -- the head grid ------------------------------------------------------------------------------
def sortable(values: np.ndarray) -> np.ndarray:
    """float16 or int16 values as uint16 keys, in the same order (ties stay ties): the sign
    bit set for values from +0 up, every bit flipped for negative floats. Where no float is
    negative (nor -0), the bits themselves are in order and are returned as they are."""
    if values.dtype == np.float16:
        bits = np.ascontiguousarray(values).view(np.uint16)
        if not (bits >= 0x8000).any():  # an order-preserving key is all AUROC needs
            return bits
        bits = bits.copy()
        bits[bits == 0x8000] = 0  # -0 ties +0 (on the bits: float16 arithmetic is slow)
        return bits ^ ((bits >> 15) * np.uint16(0x7FFF) | np.uint16(0x8000))
    bits = np.ascontiguousarray(values).view(np.uint16)
    return bits ^ np.uint16(0x8000)  # two's complement int16: flip the sign bit


_CHUNK = 1 << 16  # rows counted at a time: temporaries of ~6 MB for 12 heads
# Threads for AUROC's layers (counting releases the GIL): as many as the cores, at most 4.
_layers_pool = Workers(max(1, min(4, os.cpu_count() or 1)), "attviz-auroc")


def _counts(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """[heads, 65536] how often each 16-bit key occurs for each head among ``rows`` of
    ``values`` ([instances, heads], float16 or int16)."""
    heads = values.shape[1]
    base = np.arange(heads, dtype=np.intp) << 16
    out = np.zeros(heads << 16, np.int64)
    for s in range(0, len(rows), _CHUNK):
        keys = sortable(values[rows[s : s + _CHUNK]]).astype(np.intp)
        keys += base  # one bincount for all heads; intp, so bincount does not copy it again
        out += np.bincount(keys.ravel(), minlength=heads << 16)
    return out.reshape(heads, -1)


def auroc(values, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[layers, heads] AUROC of telling slice A from slice B (boolean masks) by ``values``
    ([instances, layers, heads], float16 or int16; or its layers, [instances, heads] each,
    one after another, e.g. as they are read): exact with ties, by counting the 65,536
    possible 16-bit values of each head, each layer in a worker thread as soon as it is
    there."""
    if isinstance(values, np.ndarray):
        values = [values[:, j, :] for j in range(values.shape[1])]
    n_a, n_b = int(a.sum()), int(b.sum())
    in_a, in_b = np.flatnonzero(a), np.flatnonzero(b)

    def layer(v: np.ndarray) -> np.ndarray:
        if n_a == 0 or n_b == 0:
            return np.full(v.shape[1], np.nan)
        ca, cb = _counts(v, in_a), _counts(v, in_b)
        below = np.cumsum(cb, axis=1) - cb  # values of B under each value
        return (ca * (below + 0.5 * cb)).sum(axis=1) / (n_a * n_b)

    rows = [_layers_pool().submit(layer, v) for v in values]
    return np.stack([r.result() for r in rows])


def head_grid(store: BaseStore, groups: Groups, stat: str, a: np.ndarray,
              b: np.ndarray | None = None, matrix=None, layers=None) -> Grid:
    """The mean of ``stat`` per head over slice ``a`` (boolean mask), or A against B.

    ``matrix()`` returns the whole [instances, layers, heads] statistic (cached by the
    caller); it is not read when every slice is a union of groups and no AUROC is needed.
    ``layers()`` gives the same statistic a layer at a time, for the AUROC to count each
    layer while the next is read (default: from ``matrix()``).
    """
    matrix = matrix or (lambda: store.read_head_stat(stat))
    layers = layers or matrix

    def mean(mask):
        union = groups.union(mask)
        sums = groups.tables.head_sums.get(stat) if groups.tables is not None else None
        if union is not None and sums is not None:
            n = groups.tables.count[union].sum()
            if n == 0:  # an empty slice (an empty union of groups) has no mean
                return np.full(sums.shape[1:], np.nan)
            return sums[union].sum(axis=0) / n
        m = matrix()
        if not mask.any():
            return np.full(m.shape[1:], np.nan)
        idx = np.flatnonzero(mask)
        # a layer at a time: no float64 copy of the selection
        return np.stack([np.add.reduce(m[idx, layer], axis=0, dtype=np.float64)
                         for layer in range(m.shape[1])]) / len(idx)

    ma = mean(a)
    if b is None:
        return Grid(ma, ma, None, None, int(a.sum()), 0)
    mb = mean(b)
    n_a, n_b = int(a.sum()), int(b.sum())
    roc = auroc(layers(), a, b) if n_a and n_b else np.full(ma.shape, np.nan)  # no read
    return Grid(ma - mb, ma, mb, roc, n_a, n_b)


# -- profiles -----------------------------------------------------------------------------------
def sample_of(mask: np.ndarray, size: int = SAMPLE, seed: int = 0) -> np.ndarray:
    """A uniform random sample (sorted) of the instances in ``mask``, all if fewer."""
    idx = np.flatnonzero(mask)
    if len(idx) <= size:
        return idx
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(idx, size=size, replace=False))


def read_sample(store: BaseStore, mask: np.ndarray):
    """(instances, token_count, token_id, attention) of a uniform sample of ``mask``."""
    idx = sample_of(mask)
    return (idx, *store.read_tokens(idx))


def sampled_layer(store: BaseStore, layer: int) -> int:
    """Where model layer ``layer`` is in the diagonals a sample reads (the stored layers);
    UserError when the store does not hold it."""
    j = store.meta.stored_index(int(layer))
    if j is None:
        raise UserError(f"layer {layer}'s diagonals are not in this store (it holds layers "
                        f"{', '.join(map(str, store.meta.layers))}): a profile of a slice "
                        "that is not a union of confusion cells needs them")
    return j


def _head_values(values: np.ndarray, layer: int, head: int | None) -> np.ndarray:
    """[..., layers, heads] -> [...]: one head, or the mean over the layer's heads."""
    v = values[..., layer, :]
    return v.mean(axis=-1) if head is None else v[..., head]


def token_sums(store: BaseStore, groups: Groups, mask: np.ndarray, layer: int,
               head: int | None, vocab_size: int, sample=None
               ) -> tuple[np.ndarray, np.ndarray, bool, int]:
    """Per token id: the sum and count of self-attention over the slice ([vocab] each),
    whether exact, and the sample size when not. ``sample(mask)``: what
    :func:`read_sample` returns (e.g. cached)."""
    union = groups.union(mask)
    t = groups.tables
    if union is not None:
        rows = np.concatenate([np.arange(t.token_start[g], t.token_start[g + 1]) for g in union]
                              or [np.zeros(0, np.int64)])
        ids = t.token_id[rows]
        sums = _head_values(t.token_sum[rows].astype(np.float64), layer, head)
        return (np.bincount(ids, weights=sums, minlength=vocab_size),
                np.bincount(ids, weights=t.token_count[rows], minlength=vocab_size), True, 0)
    j = sampled_layer(store, layer)
    idx, _, ids, att = (sample or (lambda m: read_sample(store, m)))(mask)
    vals = _head_values(att.astype(np.float64), j, head)
    keep = (ids >= 0) & (ids < vocab_size)
    return (np.bincount(ids[keep], weights=vals[keep], minlength=vocab_size),
            np.bincount(ids[keep], minlength=vocab_size).astype(np.float64), False, len(idx))


def token_profile(store: BaseStore, groups: Groups, a: np.ndarray, layer: int,
                  head: int | None, b: np.ndarray | None = None, min_count: int = 5,
                  top: int = 30, sample=None) -> TokenProfile:
    """The ``top`` tokens with the highest mean self-attention in slice A (at least
    ``min_count`` occurrences); with B, those whose mean differs most between A and B."""
    v = len(store.vocab)
    sa, ca, exact, n = token_sums(store, groups, a, layer, head, v, sample)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = sa / ca
        if b is None:
            score = np.where(ca >= min_count, ma, -np.inf)
            mb = cb = None
        else:
            sb, cb, exact_b, nb = token_sums(store, groups, b, layer, head, v, sample)
            exact, n = exact and exact_b, max(n, nb)
            mb = sb / cb
            ok = (ca >= min_count) & (cb >= min_count)
            score = np.where(ok, np.abs(ma - mb), -np.inf)
    order = np.argsort(-score, kind="stable")
    order = order[np.isfinite(score[order])][:top]
    return TokenProfile(order, ma[order], ca[order].astype(np.int64),
                        None if mb is None else mb[order],
                        None if cb is None else cb[order].astype(np.int64), exact, n)


def position_profile(store: BaseStore, groups: Groups, mask: np.ndarray, layer: int,
                     sample=None) -> PositionProfile:
    """Mean self-attention by token position, for every head of ``layer``."""
    union = groups.union(mask)
    if union is not None:
        t = groups.tables
        sums = t.position_sum[union][:, :, layer, :].astype(np.float64).sum(axis=0)
        count = t.position_count[union].sum(axis=0)
        exact, n = True, 0
    else:
        j = sampled_layer(store, layer)
        idx, tc, _, att = (sample or (lambda m: read_sample(store, m)))(mask)
        starts = np.concatenate([[0], np.cumsum(tc)[:-1]]).astype(np.int64)
        pos = np.arange(int(tc.sum())) - np.repeat(starts, tc)
        width = int(tc.max()) if len(tc) else 0
        sums = np.zeros((width, att.shape[2]))
        np.add.at(sums, pos, att[:, j, :].astype(np.float64))
        count = np.bincount(pos, minlength=width)
        exact, n = False, len(idx)
    keep = np.flatnonzero(count > 0)
    last = int(keep[-1]) + 1 if len(keep) else 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums[:last] / count[:last, None]
    return PositionProfile(mean, count[:last].astype(np.int64), exact, n)


def confusion(label: np.ndarray, prediction: np.ndarray, mask: np.ndarray, n_classes: int
              ) -> np.ndarray:
    """[classes (gold), classes (predicted)] counts of the labelled instances in ``mask``."""
    keep = mask & (label >= 0)
    m = np.bincount(label[keep].astype(np.int64) * n_classes + prediction[keep],
                    minlength=n_classes * n_classes)
    return m.reshape(n_classes, n_classes)
