"""Heads switched off in the explorer, driven by setting parameters (no browser): the
selected instance and the slice against the notebook API on the same instances, the
sidebar's "prediction changed by the ablation" filter, choosing heads, what the views say."""

from __future__ import annotations

import h5py
import holoviews as hv
import numpy as np
import pytest

from attviz.explore.ablation_data import heads_text
from attviz.explore.address import query
from attviz.explore.state import Explorer
from attviz.explore.views.ablation import instance_html
from attviz.explore.views.corpus import CorpusView
from attviz.explore.views.slice_ablation import summary_html

hv.extension("bokeh")
ALL = [(layer, h) for layer in range(2) for h in range(4)]


@pytest.fixture(scope="module")
def corpus(ablation_store):
    import attviz

    with attviz.open(ablation_store) as c:
        yield c


@pytest.fixture
def ex(ablation_store):
    return Explorer(store=ablation_store)


def test_clicks_toggle_heads_and_the_instance_reruns(ex, corpus):
    ab = ex.ablation
    ex.instance = 4
    ab.click(1, 2)  # selects while the toggle is off
    assert (ex.layer, ex.highlight, ab.heads_off) == (1, 2, [])
    ab.click_toggles = True
    ab.click(1, 2)
    ab.click(0, 3)
    ab.click(1, 2)
    ab.click(1, 1)
    assert ab.heads_off == [(0, 3), (1, 1)]
    ab.wait()
    res = ab.current()
    assert res is not None and not ab.problem
    np.testing.assert_allclose(res.probabilities, corpus.ablate(4, ab.heads_off)[0], atol=1e-6)
    page = instance_html(ex)
    assert "Switched off: <b>0.3, 1.1</b>" in page and "Prediction" in page
    ab.layer_off(0)
    assert ab.heads_off == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 1)]
    assert ab.current() is None  # the heads changed: a new request went out
    ab.heads_off = ALL
    ab.wait()
    new = int(ab.current().probabilities.argmax())
    if new != ex.current().prediction:
        assert "Prediction changed" in instance_html(ex)


def test_the_slice_equals_the_api_and_the_filter_lists_the_changes(ex, corpus):
    ab = ex.ablation
    ex.filters.misclassified_only = True
    wrong = np.flatnonzero(corpus.instances["correct"] == False)  # noqa: E712
    assert ex.count == len(wrong) > 0
    ab.heads_off = ALL
    ab.run_slice(batch_size=5)
    ab.wait_slice()
    res = ab.slice_result
    assert res is not None and not res.sampled
    np.testing.assert_array_equal(res.instances, wrong)
    want = corpus.ablate(wrong, ALL)
    np.testing.assert_allclose(res.probabilities, want, atol=1e-6)
    changed = wrong[want.argmax(1) != corpus.store.columns.prediction[wrong]]
    assert len(changed)  # every head off: one prediction for all
    gold = corpus.store.columns.label[wrong]
    before, after, n = res.accuracy()
    assert before == 0.0 and n == len(wrong)
    assert after == pytest.approx((want.argmax(1) == gold).mean())
    text = summary_html(ex)
    assert f"<b class='av-changed-count'>{len(changed):,}</b>" in text
    assert "accuracy <b>0.000 → " in text

    ex.filters.ablation_changed = True
    np.testing.assert_array_equal(np.flatnonzero(ex.mask), changed)
    assert "ablation" not in str(query(ex))  # a session's result: not in the address bar
    cell = (int(gold[0]), int(want.argmax(1)[0]))
    ex.filters.ablation_cell = cell
    in_cell = wrong[(gold == cell[0]) & (want.argmax(1) == cell[1])]
    np.testing.assert_array_equal(np.flatnonzero(ex.mask), np.intersect1d(in_cell, changed))
    ex.filters.reset()
    assert ex.count == len(corpus)
    assert res.confusion_after(3).sum() == len(wrong)


def test_a_large_slice_runs_a_uniform_sample(ex, corpus):
    ab = ex.ablation
    ab.heads_off = [(1, 0)]
    ab.run_slice(limit=50)
    assert "a uniform sample of 50 of the slice's" in ab.slice_status
    ab.wait_slice()
    res = ab.slice_result
    assert res.sampled and len(res.instances) == 50 and res.slice_size == len(corpus)
    assert np.all(np.diff(res.instances) > 0)
    np.testing.assert_allclose(res.probabilities, corpus.ablate(res.instances, [(1, 0)]),
                               atol=1e-6)
    assert "a uniform sample of 50 of" in summary_html(ex)


def test_cancel_stops_the_slice(ex):
    ab = ex.ablation
    ab.heads_off = [(0, 0)]
    ab.run_slice(batch_size=1)
    ab.cancel_slice()
    assert not ab.slice_busy and ab.slice_status == "Cancelled."
    assert ab.slice_future.result(timeout=60) is None
    assert ab.slice_result is None


def test_choosing_heads_by_importance_and_by_contrast(ex, ablation_store):
    ab = ex.ablation
    ab.k = 3
    ex.filters.misclassified_only = True
    ab.most_important()
    with h5py.File(ablation_store, "r") as f:
        imp = f["/instances/head_stats/importance"][:].astype(np.float64)
        label, pred = f["/instances/label"][:], f["/instances/prediction"][:]
    score = np.abs(imp[label != pred]).mean(axis=0).ravel()
    want = sorted((int(i // 4), int(i % 4)) for i in np.argsort(-score)[:3])
    assert sorted(ab.heads_off) == want

    ex.filters.misclassified_only = False
    view = CorpusView(explorer=ex)
    view.settings.statistic = "importance"
    view.settings.contrast = "errors"
    view.show()
    grid = view._results["grid"]
    ab.largest_contrast(grid)
    diff = np.abs(imp[label != pred].mean(0) - imp[label == pred].mean(0)).ravel()
    assert sorted(ab.heads_off) == sorted((int(i // 4), int(i % 4))
                                          for i in np.argsort(-diff)[:3])
    assert ab.set_text("1.3, 0.0") == "" and ab.heads_off == [(0, 0), (1, 3)]
    assert "the model has layers 0-1" in ab.set_text("2.0")
    assert heads_text(ab.heads_off) == "0.0, 1.3"


def test_importance_is_a_statistic_of_the_corpus_view(ex, tiny_store):
    view = CorpusView(explorer=ex)
    assert "importance" in view.settings.param.statistic.objects.values()
    view.settings.statistic = "importance"
    view.show()
    assert view._results["grid"] is not None and not view._results["note"]
    ex.sort_by_head("importance", 1, 2)
    assert ex.filtered[0] == int(np.argmax(ex.opened.slices.column("importance", 1, 2)))
    plain = CorpusView(explorer=Explorer(store=tiny_store))
    plain.show()
    assert "--importance" in plain._results["note"]


def test_without_a_model_the_page_says_why(tmp_path, ablation_store):
    import shutil

    copy = tmp_path / "moved.h5"
    shutil.copy(ablation_store, copy)
    with h5py.File(copy, "a") as f:
        f.attrs["model"] = str(tmp_path / "gone")
    ex = Explorer(store=copy)
    ex.ablation.heads_off = [(0, 0)]
    ex.ablation.wait()
    assert ex.ablation.problem and "not on this server" in ex.ablation.status
