"""Per-token aggregates of self-attention over a set of heads (docs/aggregations.md).

``values``: [tokens, heads] self-attention values A[l, h, i, i] of the heads aggregated over
(the shown heads of one layer, or all layers x heads flattened). Every function returns
[tokens] float64.
"""

from __future__ import annotations

import numpy as np

BIN_WIDTH = 0.01  # histogram bins of the binned entropy: [0, 0.01), ..., [0.99, 1.00]


def mean(values: np.ndarray) -> np.ndarray:
    return values.mean(axis=1)


def std(values: np.ndarray) -> np.ndarray:
    """Sample standard deviation, sqrt(1/(h-1) * sum_j (v_j - mean)^2); 0 for one head."""
    h = values.shape[1]
    if h < 2:
        return np.zeros(values.shape[0])
    return values.std(axis=1, ddof=1)


def maximum(values: np.ndarray) -> np.ndarray:
    return values.max(axis=1)


def minimum(values: np.ndarray) -> np.ndarray:
    return values.min(axis=1)


def value_range(values: np.ndarray) -> np.ndarray:
    return values.max(axis=1) - values.min(axis=1)


def _bin_counts(values: np.ndarray) -> np.ndarray:
    """[tokens, bins] how many heads fall in each bin of width BIN_WIDTH over [0, 1]."""
    n_bins = int(round(1 / BIN_WIDTH))
    bins = np.clip(np.floor(values / BIN_WIDTH).astype(np.int64), 0, n_bins - 1)
    counts = np.zeros((values.shape[0], n_bins), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(values.shape[0]), values.shape[1]), bins.ravel()), 1)
    return counts


def binned_entropy(values: np.ndarray) -> np.ndarray:
    """Entropy of the histogram of the heads' values, normalised to [0, 1].

    Each value goes into one of 100 bins of width 0.01 over [0, 1] (1.0 into the last);
    P_k = (heads in bin k) / h; H = -sum_k P_k ln P_k; divided by ln(min(h, 100)), the
    largest H possible, so 0 means all heads agree to 0.01 and 1 means every head differs.
    """
    h = values.shape[1]
    if h < 2:
        return np.zeros(values.shape[0])
    p = _bin_counts(values) / h
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=1) / np.log(min(h, int(round(1 / BIN_WIDTH))))


def binned_entropy_attviz_code(values: np.ndarray) -> np.ndarray:
    """The binned entropy as AttViz's browser code computes it, for comparison.

    Same bins and P_k, natural log, but H is divided by K, the number of occupied bins
    (values lie in [0, ln(h)/h], so they shrink as heads are added).
    """
    counts = _bin_counts(values)
    p = counts / values.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=1) / np.maximum(1, (counts > 0).sum(axis=1))


def shannon_entropy(values: np.ndarray) -> np.ndarray:
    """Normalised Shannon entropy of the heads' distribution, in [0, 1].

    p_j = v_j / sum_j v_j over the h heads; H = -sum_j p_j ln p_j / ln h. 1 when all heads
    give the token the same self-attention, 0 when one head holds all of it.
    """
    h = values.shape[1]
    if h < 2:
        return np.zeros(values.shape[0])
    total = values.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(total > 0, values / total, 1.0 / h)
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=1) / np.log(h)


AGGREGATIONS = {
    "mean": mean,
    "std": std,
    "max": maximum,
    "min": minimum,
    "range": value_range,
    "entropy": binned_entropy,
    "entropy (AttViz code)": binned_entropy_attviz_code,
    "shannon entropy": shannon_entropy,
}


def aggregate(values: np.ndarray, how: str) -> np.ndarray:
    """[tokens] aggregate ``how`` of ``values`` [tokens, heads] (float64)."""
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError("values must be [tokens, heads]")
    if v.shape[0] == 0:
        return np.zeros(0)
    return AGGREGATIONS[how](v)
