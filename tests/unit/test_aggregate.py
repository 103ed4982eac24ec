"""Aggregates against values worked out by hand."""

import math

import numpy as np
import pytest

from attviz.analysis.aggregate import AGGREGATIONS, aggregate

# two tokens x four heads
V = np.array([[0.1, 0.2, 0.3, 0.4],
              [0.5, 0.5, 0.5, 0.5]])


def test_mean_max_min_range():
    assert aggregate(V, "mean") == pytest.approx([0.25, 0.5])
    assert aggregate(V, "max") == pytest.approx([0.4, 0.5])
    assert aggregate(V, "min") == pytest.approx([0.1, 0.5])
    assert aggregate(V, "range") == pytest.approx([0.3, 0.0])


def test_std_uses_h_minus_one():
    # deviations from 0.25: -.15 -.05 .05 .15 -> squares .0225 .0025 .0025 .0225 = .05
    assert aggregate(V, "std") == pytest.approx([math.sqrt(0.05 / 3), 0.0])
    assert aggregate(V[:, :1], "std") == pytest.approx([0.0, 0.0])


def test_binned_entropy_by_hand():
    # token 0: four heads in four different bins -> H = ln 4, normalised by ln 4 -> 1
    # token 1: all in one bin -> 0
    assert aggregate(V, "entropy") == pytest.approx([1.0, 0.0])
    # three heads: two in bin 0.50-0.51 (0.501, 0.509), one in bin 0.90-0.91
    v = np.array([[0.501, 0.509, 0.9]])
    p = np.array([2 / 3, 1 / 3])
    want = -(p * np.log(p)).sum() / math.log(3)
    assert aggregate(v, "entropy") == pytest.approx([want])
    # 1.0 lands in the last bin with 0.995
    assert aggregate(np.array([[1.0, 0.995]]), "entropy") == pytest.approx([0.0])


def test_attviz_code_entropy_divides_by_occupied_bins():
    v = np.array([[0.501, 0.509, 0.9]])
    p = np.array([2 / 3, 1 / 3])
    assert aggregate(v, "entropy (AttViz code)") == pytest.approx([-(p * np.log(p)).sum() / 2])
    # four heads in four bins: ln(4) / 4
    assert aggregate(V, "entropy (AttViz code)")[0] == pytest.approx(math.log(4) / 4)


def test_shannon_entropy_by_hand():
    # token 1: equal values -> uniform -> 1; token 0: p = v / 1.0
    p = V[0] / V[0].sum()
    want = -(p * np.log(p)).sum() / math.log(4)
    assert aggregate(V, "shannon entropy") == pytest.approx([want, 1.0])
    # all attention in one head -> 0
    assert aggregate(np.array([[0.0, 0.9, 0.0]]), "shannon entropy") == pytest.approx([0.0])


def test_every_aggregation_handles_one_head_and_no_tokens():
    for how in AGGREGATIONS:
        assert aggregate(np.zeros((0, 3)), how).shape == (0,)
        assert np.isfinite(aggregate(np.array([[0.3], [0.7]]), how)).all()
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(V, "median")
