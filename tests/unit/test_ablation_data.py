"""The pure part of ablations: heads written as 3.7, 5.1; which instances of a slice run;
choosing heads; what a slice run changed, worked out by hand."""

import numpy as np
import pytest

from attviz.explore.ablation_data import (
    SliceResult,
    heads_text,
    mean_abs,
    parse_heads,
    slice_instances,
    top_heads,
)
from attviz.store.layout import how_to_add


def test_heads_are_written_layer_dot_head():
    assert parse_heads("3.7, 5.1;3.7 0.0", 6, 12) == [(0, 0), (3, 7), (5, 1)]
    assert parse_heads("", 6, 12) == []
    assert heads_text([(5, 1), (3, 7)]) == "3.7, 5.1"
    for bad, words in (("3", "LAYER.HEAD"), ("a.b", "LAYER.HEAD"), ("6.0", "layers 0-5"),
                       ("0.12", "heads 0-11"), ("-1.0", "LAYER.HEAD")):
        with pytest.raises(ValueError, match=words):
            parse_heads(bad, 6, 12)


def test_a_slice_runs_whole_up_to_the_limit_else_a_uniform_sample():
    mask = np.zeros(100, bool)
    mask[::3] = True
    idx, sampled = slice_instances(mask, limit=40)
    assert not sampled and np.array_equal(idx, np.arange(0, 100, 3))
    idx, sampled = slice_instances(mask, limit=10)
    assert sampled and len(idx) == 10 and np.all(mask[idx]) and np.all(np.diff(idx) > 0)
    assert np.array_equal(idx, slice_instances(mask, limit=10)[0])  # the same sample again


def test_top_heads_and_mean_absolute_importance():
    scores = np.array([[0.1, np.nan, 0.5], [0.7, 0.2, -1.0]])
    assert top_heads(scores, 2) == [(1, 0), (0, 2)]
    assert top_heads(scores, 10)[-1] == (1, 2)  # NaN never chosen
    assert len(top_heads(scores, 10)) == 5
    values = np.array([[[1, -2]], [[-3, 4]], [[5, 6]]], dtype=np.float16)
    mask = np.array([True, True, False])
    np.testing.assert_allclose(mean_abs(values, mask), [[2.0, 3.0]])
    assert np.isnan(mean_abs(values, np.zeros(3, bool))).all()


def test_what_a_slice_run_changed():
    # gold, stored prediction, new prediction of 5 instances
    gold = np.array([0, 1, 1, 2, -1])
    stored = np.array([0, 0, 1, 2, 1])
    new = np.array([1, 1, 1, 2, 0])
    res = SliceResult([(0, 1)], np.array([2, 4, 6, 8, 9]), gold, stored, np.eye(3)[new],
                      sampled=False, slice_size=5)
    np.testing.assert_array_equal(res.changed, [True, True, False, False, True])
    assert res.accuracy() == (0.75, 0.75, 4)
    assert res.flips() == {"errors": 1, "fixed": 1, "correct": 3, "broken": 1}
    np.testing.assert_array_equal(res.confusion_after(3), [[0, 1, 0], [0, 2, 0], [0, 0, 1]])
    assert np.flatnonzero(res.mask(12, True, None)).tolist() == [2, 4, 9]
    assert np.flatnonzero(res.mask(12, False, (1, 1))).tolist() == [4, 6]
    assert np.flatnonzero(res.mask(12, True, (1, 1))).tolist() == [4]


def test_how_a_store_gets_a_missing_statistic():
    assert "attviz index" in how_to_add("self_mean")
    assert "--importance" in how_to_add("importance") and "cannot" in how_to_add("importance")
    assert "--entropy" in how_to_add("entropy")
