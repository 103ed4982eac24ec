"""The Corpus tab's work (no browser): nothing while it is hidden, and a figure redrawn only
when what it shows changed, into the same Bokeh figure."""

from __future__ import annotations

import holoviews as hv
import numpy as np
from bokeh.document import Document

from attviz.explore.state import Explorer
from attviz.explore.views.corpus import FIGURES, CorpusView

hv.extension("bokeh")


def revisions(view: CorpusView) -> dict:
    return {name: getattr(view, f"{name}_rev") for name in FIGURES}


def counted(view: CorpusView) -> list:
    """Calls of the view's corpus computation, recorded."""
    calls = []
    compute = view.compute

    def counting():
        calls.append(1)
        return compute()

    view.compute = counting
    return calls


def test_a_hidden_corpus_tab_does_no_corpus_work(tiny_store):
    ex = Explorer(store=tiny_store)
    view = CorpusView(explorer=ex)
    calls = counted(view)
    ex.filters.misclassified_only = True  # never shown: nothing computed
    assert calls == []
    view.show()
    assert len(calls) == 1
    view.hide()
    for change in (dict(misclassified_only=False), dict(gold=[1]), dict(gold=[])):
        ex.filters.param.update(**change)
    ex.layer = 0
    assert len(calls) == 1
    view.show()  # what changed while hidden is computed once
    assert len(calls) == 2


def test_figures_are_redrawn_only_when_what_they_show_changed(tiny_store):
    ex = Explorer(store=tiny_store)
    view = CorpusView(explorer=ex)
    view.show()
    first = revisions(view)
    view.hide()
    ex.filters.misclassified_only = True
    ex.filters.misclassified_only = False  # the same slice again while hidden
    view.show()
    assert revisions(view) == first
    ex.filters.misclassified_only = True
    second = revisions(view)
    assert all(second[n] == first[n] + 1 for n in FIGURES)
    view.settings.min_count = 2  # the token profile's setting: only its figure
    assert revisions(view) == {**second, "tokens": second["tokens"] + 1}


def test_a_filter_change_updates_the_same_figures(tiny_store):
    ex = Explorer(store=tiny_store)
    view = CorpusView(explorer=ex)
    view.show()
    doc = Document()
    doc.add_root(view.body.get_root(doc))
    panes = {"grid": view.grid, "confusion": view.confusion, "tokens": view.tokens}

    def state():
        out = {}
        for name, pane in panes.items():
            (model, _parent), = pane._models.values()  # the pane's model in this document
            out[name] = model
        return out

    def cells(fig):
        (found,) = [r for r in fig.renderers if "count" in getattr(r.data_source, "data", {})]
        return found

    def counts(fig) -> float:
        return sum(cells(fig).data_source.data["count"])

    def colour_range(fig) -> tuple[float, float]:
        mapper = cells(fig).glyph.fill_color["transform"]
        return mapper.low, mapper.high

    before = state()
    total = counts(before["confusion"])
    ex.filters.misclassified_only = True
    after = state()
    assert {n: after[n].id for n in after} == {n: before[n].id for n in before}
    assert counts(after["confusion"]) == ex.count < total
    # the colours follow the counts shown: a range kept from a larger slice paled every
    # cell of a small one, and the white numbers of its largest cells vanished on them
    data = cells(after["confusion"]).data_source.data
    small = min(c for c in data["count"] if c > 0)
    g, p = next((g, p) for g, p, c in zip(data["gold"], data["predicted"], data["count"])
                if c == small)
    names = ex.label_names
    ex.filters.cell = (names.index(g), names.index(p))
    assert counts(after["confusion"]) == small
    assert colour_range(after["confusion"]) == (0, max(1, small))


def figure_titles(root) -> list[str]:
    from bokeh.models import Title

    return [m.text for m in root.references() if isinstance(m, Title) and m.text]


def test_the_auroc_figure_is_built_when_a_contrast_is_first_chosen(tiny_store):
    from attviz.explore.corpus_state import CONTRASTS

    ex = Explorer(store=tiny_store)
    view = CorpusView(explorer=ex)
    view.show()
    doc = Document()
    root = view.body.get_root(doc)
    doc.add_root(root)
    titles = figure_titles(root)
    assert any(t.startswith("self_mean: mean per head") for t in titles)
    assert not any("AUROC" in t for t in titles) and view.auroc_box.objects == []
    view.settings.contrast = CONTRASTS["misclassified against correct"]
    assert any(t.startswith("AUROC") for t in figure_titles(root))
    view.settings.contrast = CONTRASTS["none: the slice"]  # hidden again, kept for next time
    assert view.auroc_box.objects == [view.auroc] and not view.auroc_box.visible
    # a contrast already set when the view is made (a shared link) places it at once
    other = CorpusView(explorer=ex)
    other.settings.contrast = CONTRASTS["misclassified against correct"]
    assert other.auroc_box.objects == [other.auroc]


def test_the_position_figure_draws_the_profile_of_each_shown_head(tiny_store):
    from bokeh.models import GlyphRenderer, HoverTool, Legend

    ex = Explorer(store=tiny_store)
    view = CorpusView(explorer=ex)
    view.settings.per_head = True
    view.show()
    prof = view._results["positions"]
    fig = view.positions.object
    assert fig.title.text == f"By token position · layer {ex.layer} · exact"
    (legend,) = [m for m in fig.right if isinstance(m, Legend)]
    heads = [h for h in ex.heads if h < prof.mean.shape[1]] or list(range(prof.mean.shape[1]))
    assert [item.label.value for item in legend.items] == [f"head {h}" for h in heads]
    for item, h in zip(legend.items, heads):
        (line,) = item.renderers
        np.testing.assert_array_equal(line.data_source.data[line.glyph.y], prof.mean[:, h])
        assert line.glyph.line_color == ex.head_colors[h % len(ex.head_colors)]
        assert line.name == f"head {h}"  # shown on hover as $name
    (hover,) = [t for t in fig.tools if isinstance(t, HoverTool)]
    assert ("mean", "$snap_y{0.0000}") in hover.tooltips and ("head", "$name") in hover.tooltips
    # one data source and one glyph model per line
    assert len({id(r.data_source) for r in fig.renderers}) == 1
    assert all(r.nonselection_glyph is r.glyph for r in fig.renderers)
    view.settings.per_head = False  # the mean of the shown heads, their range as a band
    fig = view.positions.object
    (legend,) = [m for m in fig.right if isinstance(m, Legend)]
    labels = [item.label.value for item in legend.items]
    assert labels == ["range of the shown heads", "mean of the shown heads"]
    mean = legend.items[1].renderers[0]
    np.testing.assert_allclose(mean.data_source.data["mean"], prof.mean[:, heads].mean(axis=1))
    ex.layer = 0  # another layer: its profile into the same figure
    assert view.positions.object is fig
    assert fig.title.text.startswith("By token position · layer 0")
    prof = view._results["positions"]
    np.testing.assert_allclose(mean.data_source.data["mean"], prof.mean[:, heads].mean(axis=1))
    ex.filters.misclassified_only = True  # another slice: the same figure, its profile
    prof = view._results["positions"]
    assert view.positions.object is fig
    np.testing.assert_array_equal(mean.data_source.data["count"], prof.count)
    view.settings.per_head = True  # other lines: a new figure
    assert view.positions.object is not fig
    assert all(isinstance(r, GlyphRenderer) for r in view.positions.object.renderers)
