"""The relations in the explorer, driven by setting parameters (no browser): what the raster,
the rollout rows and the text show, against transformers' eager maps computed here; the
diagonal check; the messages when the model cannot be used."""

import json
import os
import shutil
import subprocess
import sys

import h5py
import holoviews as hv
import numpy as np
from bokeh.document import Document

from attviz.analysis.words import unit_attention, word_grouping
from attviz.explore.state import Explorer
from attviz.explore.views import HeatmapView
from attviz.explore.views.relations import RelationsView
from attviz.explore.views.sequence import SequenceView
from attviz.store import open_store
from tests.helpers.paths import ROOT
from tests.helpers.reference import reference

hv.extension("bokeh")


def shown(ex, tiny_model):
    """Reference maps of the selected instance, with its special flags and spans."""
    with open_store(ex.opened.path) as s:
        inst = s.read_instance(ex.instance)
    maps, roll, grad_roll, _, cls = reference(tiny_model, inst.token_ids)
    return inst, maps, roll, grad_roll, cls


def render(*views):
    doc = Document()
    for v in views:
        doc.add_root(v.pane.get_root(doc))
    return doc


def test_the_raster_rows_and_text_show_the_model_s_attention(tiny_store, tiny_model):
    ex = Explorer(store=tiny_store)
    ex.instance = 3
    ex.layer, ex.heads = 1, [0, 2, 3]
    heat, raster, text = HeatmapView(explorer=ex), RelationsView(explorer=ex), SequenceView(
        explorer=ex)
    render(heat, raster)
    figure = heat._live_plots()[0].state
    ex.relations.enabled = True
    ex.relations.wait()
    inst, maps, roll, _, _ = shown(ex, tiny_model)
    # the rollout row goes into the heatmap shown: one figure, with a new row and title
    assert heat._live_plots()[0].state is figure
    assert figure.title.text.endswith("heads x tokens and token scores")
    assert figure.yaxis[0].major_label_overrides[3] == "rollout"
    assert figure.y_range.end == 3.5
    assert "matches the store (max difference" in ex.relations.status
    assert not ex.relations.problem
    # the raster: the mean of the shown heads, row i gives, column j receives
    want = maps[1][[0, 2, 3]].mean(axis=0)
    plot = raster._live_plots()[0]
    np.testing.assert_allclose(np.flipud(plot.handles["source"].data["image"][0]), want,
                               atol=1e-6)
    assert plot.handles["xaxis"].major_label_overrides[0] == inst.tokens[0]
    # the rollout row above the heads
    scores = HeatmapView._glyph_plots(heat._live_plots()[0])[1].handles["source"].data
    np.testing.assert_allclose(scores["score"], roll, atol=1e-6)
    assert list(scores["row"]) == ["rollout"] * inst.n_tokens
    # one head; then a tapped token colours the text by its row, or by its column
    ex.relations.head = 2
    np.testing.assert_allclose(np.flipud(plot.handles["source"].data["image"][0]),
                               maps[1][2], atol=1e-6)
    ex.relations.tap(4)
    payload = json.loads(text.widget.payload)
    np.testing.assert_allclose(payload["highlight"], maps[1][2][4], atol=1e-5)
    assert payload["tapped"] == 4 and "gives" in payload["title"]
    ex.relations.direction = "receives"
    payload = json.loads(text.widget.payload)
    np.testing.assert_allclose(payload["highlight"], maps[1][2][:, 4], atol=1e-5)
    ex.relations.colour = "rollout"
    payload = json.loads(text.widget.payload)
    np.testing.assert_allclose(payload["highlight"], roll, atol=1e-5)
    # the token the rollout starts from is left out of the colour scale
    assert max(payload["highlight_alpha"][1:]) == 1.0
    # another instance: the same figure shows it
    figure = plot.state
    ex.instance = 5
    ex.relations.wait()
    inst5, maps5, _, _, _ = shown(ex, tiny_model)
    assert raster._live_plots()[0].state is figure
    np.testing.assert_allclose(np.flipud(plot.handles["source"].data["image"][0]),
                               maps5[1][2], atol=1e-6)
    assert plot.handles["x_range"].end == inst5.n_tokens - 0.5


def test_gradient_rollout_for_the_predicted_and_another_class(tiny_store, tiny_model):
    ex = Explorer(store=tiny_store)
    ex.instance = 2
    text = SequenceView(explorer=ex)
    ex.relations.colour = "gradient"  # asks for relations with the gradient
    assert ex.relations.enabled and ex.relations.gradient
    ex.relations.wait()
    inst, _, _, grad_roll, cls = shown(ex, tiny_model)
    payload = json.loads(text.widget.payload)
    np.testing.assert_allclose(payload["highlight"], grad_roll, rtol=1e-3, atol=1e-5)
    assert f"for class {ex.label_names[cls]}" in payload["title"]
    other = (cls + 1) % len(ex.label_names)
    ex.relations.target = other
    ex.relations.wait()
    _, _, grad_other, _, _ = reference(tiny_model, inst.token_ids, cls=other)
    payload = json.loads(text.widget.payload)
    np.testing.assert_allclose(payload["highlight"], grad_other, rtol=1e-3, atol=1e-5)


def test_words_sum_what_they_receive_and_average_what_they_give(tiny_store, tiny_model):
    ex = Explorer(store=tiny_store)
    with open_store(tiny_store) as s:
        ex.instance = next(k for k in range(s.n_instances) if len(word_grouping(
            s.read_instance(k).spans, s.read_instance(k).special).first) < s.read_instance(
            k).n_tokens)
    ex.words, ex.hide_special = True, True
    ex.relations.enabled = True
    ex.relations.wait()
    inst, maps, roll, _, _ = shown(ex, tiny_model)
    g = word_grouping(inst.spans, inst.special)
    keep = ~inst.special[g.first]
    got = ex.relations.matrix(ex.view_data())
    want = unit_attention(maps[ex.layer].mean(axis=0), g)[np.ix_(keep, keep)]
    np.testing.assert_allclose(got, want, atol=1e-6)
    scores = ex.relations.scores(ex.view_data())["rollout"]
    np.testing.assert_allclose(scores, np.add.reduceat(roll, g.first)[keep], atol=1e-6)


def test_the_diagonal_check_warns_when_the_store_differs(tiny_store, tmp_path):
    changed = tmp_path / "changed.h5"
    shutil.copy(tiny_store, changed)
    with h5py.File(changed, "a") as f:
        a, b = f["/instances/token_start"][0:2]
        f["/attention/self"][a:b] = (f["/attention/self"][a:b] * 0.5).astype(np.float16)
    ex = Explorer(store=changed)
    ex.instance = 0
    ex.relations.enabled = True
    ex.relations.wait()
    assert ex.relations.problem and "⚠ differs from the store" in ex.relations.status
    ex.instance = 1
    ex.relations.wait()
    assert not ex.relations.problem and "matches the store" in ex.relations.status


def test_a_missing_or_changed_model_is_one_sentence_and_the_rest_works(tiny_store, tiny_model,
                                                                      tmp_path, monkeypatch):
    moved = tmp_path / "moved.h5"
    shutil.copy(tiny_store, moved)
    with h5py.File(moved, "a") as f:
        f.attrs["model"] = str(tmp_path / "gone" / tiny_model.name)
    ex = Explorer(store=moved)
    heat = HeatmapView(explorer=ex)
    render(heat)
    ex.relations.enabled = True
    ex.relations.wait()
    status = ex.relations.status
    assert ex.relations.problem and status.count(". ") == 0 and status.endswith(".")
    assert "is not on this server" in status and "--model-root" in status
    assert ex.relations.current() is None and ex.view_data() is not None
    ex.instance = 2  # the other views go on
    assert HeatmapView._glyph_plots(heat._live_plots()[0])[0].handles["source"].data["value"].size
    # the same store with a model root that holds the model
    root = tmp_path / "models"
    shutil.copytree(tiny_model, root / tiny_model.name)
    app_ex = Explorer(store=moved)
    app_ex.relations.model_root = str(root)  # what --model-root sets
    app_ex.relations.enabled = True
    app_ex.relations.wait()
    assert "matches the store" in app_ex.relations.status
    # no model libraries
    monkeypatch.setattr("attviz.relations.service.missing_libraries", lambda: ["torch"])
    ex.instance = 3
    ex.relations.wait()
    assert "pip install 'attviz[model]'" in ex.relations.status


def test_model_root_comes_from_the_server_options_or_the_environment(tiny_store, monkeypatch):
    from attviz.explore.app import server_args

    assert server_args(["--store", "s.h5", "--model-root", "/m"]).model_root == "/m"
    monkeypatch.setenv("ATTVIZ_MODEL_ROOT", "/from/env")
    assert server_args([]).model_root == "/from/env"


def test_torch_is_imported_only_when_relations_are_first_used(tiny_store):
    code = (
        "import sys\n"
        "from attviz.explore.app import build_app\n"
        "from attviz.explore.state import Explorer\n"
        f"ex = Explorer(store={str(tiny_store)!r})\n"
        "build_app([], explorer=ex)\n"
        "ex.instance = 2\n"
        "print('torch' in sys.modules)\n"
        "ex.relations.enabled = True\n"
        "ex.relations.wait()\n"
        "print('torch' in sys.modules, 'matches the store' in ex.relations.status)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["False", "True", "True"]
