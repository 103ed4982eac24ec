"""The token plots' Bokeh figures (no browser): what an instance switch and a setting change
put into them. Expected values come from the store file through h5py."""

import h5py
import holoviews as hv
import numpy as np
import pytest
from bokeh.document import Document

from attviz.explore.state import Explorer
from attviz.explore.views import HeatmapView, SeriesView
from attviz.explore.views.series import legend_label

hv.extension("bokeh")


def from_file(path, k):
    """Tokens and self-attention [tokens, layers, heads] of instance k, read with h5py."""
    with h5py.File(path, "r") as f:
        start = f["/instances/token_start"][:]
        a, b = start[k], start[k + 1]
        att = f["/attention/self"][a:b].astype(np.float64)
        ids = f["/tokens/id"][a:b]
        voff, vdata = f["/vocab/token/offsets"][:], f["/vocab/token/data"][:].tobytes()
    tokens = [vdata[voff[t]:voff[t + 1]].decode() for t in ids]
    return tokens, att


def render(view):
    """The view's figure in a document, as a served page would have it."""
    doc = Document()
    doc.add_root(view.pane.get_root(doc))
    plots = view._live_plots()
    assert len(plots) == 1
    return plots[0]


def cells(plot):
    """The heatmap's heads cells (the first layer of its overlay; token scores above them)."""
    return HeatmapView._glyph_plots(plot)[0]


def other_length(path, k):
    with h5py.File(path, "r") as f:
        n = np.diff(f["/instances/token_start"][:])
    return int(np.flatnonzero(n != n[k])[0])


def figure_state(plot):
    return {"fig": plot.state, "sources": [id(g.handles["source"])
                                           for g in HeatmapView._glyph_plots(plot)]}


def test_heatmap_switch_replaces_data_in_the_same_figure(tiny_store):
    ex = Explorer(store=tiny_store)
    ex.layer, ex.heads = 0, [1, 3]
    view = HeatmapView(explorer=ex)
    plot = render(view)
    before, revision = figure_state(plot), view.revision
    k = other_length(tiny_store, ex.instance)
    ex.instance = k
    assert view.revision == revision  # no new figure
    assert figure_state(plot) == before  # the same figure and data source, new values
    tokens, att = from_file(tiny_store, k)
    data = cells(plot).handles["source"].data
    n = len(tokens)
    np.testing.assert_allclose(data["value"], att[:, 0, [1, 3]].reshape(-1), rtol=1e-6)
    assert list(data["token"]) == list(np.repeat(tokens, 2))
    np.testing.assert_array_equal(data["head"], np.tile([1, 3], n))
    np.testing.assert_array_equal(data["x0"], np.repeat(np.arange(n), 2) - 0.5)
    fill = plot.state.renderers[0].glyph.fill_color  # coloured by value, through the mapper
    assert (fill.field, fill.transform) == ("value", cells(plot).handles["color_mapper"])
    assert plot.handles["xaxis"].major_label_overrides[0] == tokens[0]
    assert plot.handles["x_range"].end == n - 0.5
    mapper = cells(plot).handles["color_mapper"]
    assert (mapper.low, mapper.high) == (pytest.approx(att[:, 0, [1, 3]].min(), rel=1e-6),
                                         pytest.approx(att[:, 0, [1, 3]].max(), rel=1e-6))


def test_series_switch_replaces_every_layer_in_place(tiny_store):
    ex = Explorer(store=tiny_store)
    ex.layer, ex.heads = 1, [0, 2, 3]
    view = SeriesView(explorer=ex)
    plot = render(view)
    before, revision = figure_state(plot), view.revision
    k = other_length(tiny_store, ex.instance)
    ex.instance = k
    assert view.revision == revision and figure_state(plot) == before
    tokens, att = from_file(tiny_store, k)
    vals = att[:, 1, [0, 2, 3]]
    heads, extremes, curve = [g.handles["source"].data for g in SeriesView._glyph_plots(plot)]
    np.testing.assert_allclose(heads["value"], vals.reshape(-1), rtol=1e-6)
    np.testing.assert_allclose(extremes["value"],
                               np.concatenate([vals.min(axis=1), vals.max(axis=1)]), rtol=1e-6)
    np.testing.assert_allclose(curve["value"], vals.mean(axis=1), rtol=1e-5)
    assert list(curve["token"]) == tokens
    lo, hi = plot.handles["y_range"].start, plot.handles["y_range"].end
    assert lo < vals.min() and hi > vals.max()


def test_an_aggregation_change_renames_the_series_in_the_same_figure(tiny_store):
    """The aggregation names the curve (legend, hover) and the y axis: all written into the
    figure shown, with the new curve, rather than a new figure."""
    ex = Explorer(store=tiny_store)
    ex.layer, ex.heads = 1, [0, 2, 3]
    view = SeriesView(explorer=ex)
    plot = render(view)
    before, revision = figure_state(plot), view.revision
    ex.aggregation = "max"
    assert view.revision == revision and figure_state(view._live_plots()[0]) == before
    _, att = from_file(tiny_store, ex.instance)
    curve = SeriesView._glyph_plots(plot)[2].handles["source"].data
    np.testing.assert_allclose(curve["value"], att[:, 1, [0, 2, 3]].max(axis=1), rtol=1e-6)
    legend = [legend_label(item) for item in plot.handles["legend"].items]
    assert legend == ["every head", "min / max", "max"]
    assert plot.handles["hover"].tooltips[1][0] == "max"
    assert plot.state.title.text.startswith("max over")
    assert plot.handles["yaxis"].axis_label == "self-attention"


def test_a_layer_or_heads_change_updates_the_same_figure(tiny_store):
    """Settings that keep the figure's make-up (layer, shown heads, words) change its data,
    ticks and title in place: the same Bokeh models, no re-render."""
    ex = Explorer(store=tiny_store)
    view = HeatmapView(explorer=ex)
    plot = render(view)
    before, revision = figure_state(plot), view.revision
    ex.layer = 0
    ex.heads = [0, 2]
    assert view.revision == revision and figure_state(view._live_plots()[0]) == before
    _, att = from_file(tiny_store, ex.instance)
    np.testing.assert_allclose(cells(plot).handles["source"].data["value"],
                               att[:, 0, [0, 2]].reshape(-1), rtol=1e-6)
    assert plot.state.title.text.startswith("Self-attention, layer 0:")
    assert plot.handles["yaxis"].major_label_overrides == {0: "h0", 1: "h2"}


def test_a_scale_change_re_renders(tiny_store):
    ex = Explorer(store=tiny_store)
    view = HeatmapView(explorer=ex)
    render(view)
    revision = view.revision
    ex.scale = "log"
    assert view.revision == revision + 1


def test_a_figure_made_again_after_an_in_place_switch_shows_the_current_instance(tiny_store):
    """E.g. the tab holding the view shown again: HoloViews re-uses its last element, which
    still holds the instance shown before the in-place switch."""
    ex = Explorer(store=tiny_store)
    view = HeatmapView(explorer=ex)
    render(view)
    k = other_length(tiny_store, ex.instance)
    ex.instance = k
    doc = Document()
    doc.add_root(view.pane.get_root(doc))
    fresh = [p for p in view._live_plots() if p.state.document is doc]
    assert len(fresh) == 1
    tokens, att = from_file(tiny_store, k)
    np.testing.assert_allclose(cells(fresh[0]).handles["source"].data["value"],
                               att[:, ex.layer, :].reshape(-1), rtol=1e-6)
    assert fresh[0].handles["xaxis"].major_label_overrides[0] == tokens[0]


def test_the_marker_follows_the_marked_token_after_an_in_place_switch(tiny_store):
    ex = Explorer(store=tiny_store)
    ex.hide_special = True
    view = SeriesView(explorer=ex)
    render(view)
    ex.instance = other_length(tiny_store, ex.instance)
    pos = int(ex.view_data().positions[3])
    ex.marked = pos
    assert [s.location for s in view.marker.spans] == [3.0]
    assert all(s.visible for s in view.marker.spans)


def test_series_view_is_built_only_once_on_screen(tiny_store):
    """In the page, the series view starts as a placeholder; the browser reporting that the
    placeholder is on screen puts the view, with the current instance, in its place."""
    from panel.io.state import set_curdoc

    from attviz.explore.app import build_app
    from attviz.explore.views.onscreen import OnScreenProbe

    ex = Explorer(store=tiny_store)
    doc = Document()
    with set_curdoc(doc):
        page = build_app([], explorer=ex)
        doc.add_root(page.get_root(doc))

        def series_figures():
            return [m for m in doc.models if type(m).__name__ == "figure"
                    and m.title.text.startswith(ex.aggregation)]

        (probe,) = page.select(OnScreenProbe)
        assert series_figures() == []
        k = other_length(tiny_store, ex.instance)
        ex.instance = k  # switching while off screen builds nothing
        assert series_figures() == []
        probe.seen = True  # what the browser sends when the placeholder scrolls in
        assert page.select(OnScreenProbe) == []
        (fig,) = series_figures()
        tokens, _ = from_file(tiny_store, k)
        assert fig.x_range.end == len(tokens) - 0.5
        assert list(fig.below[0].major_label_overrides.values())[:2] == tokens[:2]
        probe.seen = False
        probe.seen = True  # a second report builds nothing new
        assert series_figures() == [fig]


def test_on_screen_placeholder_keeps_the_views_height():
    from attviz.explore.views.onscreen import OnScreen

    calls = []
    lazy = OnScreen(lambda: calls.append(1) or "view", label="x", height=123)
    assert lazy.box.min_height == 123 and lazy.probe.height == 123
    assert calls == []
    lazy.show()
    lazy.show()
    assert calls == [1]


def test_every_plot_keeps_wheel_zoom_in_its_toolbar_but_inactive(tiny_store):
    """The mouse wheel over a plot scrolls the page; wheel zoom is chosen in the toolbar."""
    from bokeh.models import WheelZoomTool

    from attviz.explore.views import OverviewView

    ex = Explorer(store=tiny_store)
    figures = []
    for view in (HeatmapView(explorer=ex), SeriesView(explorer=ex), OverviewView(explorer=ex)):
        doc = Document()
        doc.add_root(view.pane.get_root(doc))
        figures += [m for m in doc.models if type(m).__name__ == "figure"]
    assert len(figures) == 3
    for fig in figures:
        wheel = [t for t in fig.tools if isinstance(t, WheelZoomTool)]
        assert len(wheel) == 1 and not wheel[0].modifiers, fig.title.text
        # "auto" activates only a wheel zoom that needs a modifier key
        assert fig.toolbar.active_scroll in (None, "auto"), fig.title.text


def test_sequence_view_height_is_fixed_per_store_and_fits_its_longest_instance(tiny_store):
    from attviz.explore.views.sequence import MAX_HEIGHT, SequenceView, sequence_height

    # grows with the tokens and the heads, never past the cap
    assert sequence_height(8, 4) < sequence_height(32, 4) < sequence_height(32, 12)
    assert sequence_height(512, 12) == sequence_height(100_000, 144) == MAX_HEIGHT
    ex = Explorer(store=tiny_store)
    with h5py.File(tiny_store, "r") as f:
        n = np.diff(f["/instances/token_start"][:])
        heads = int(f.attrs["num_heads"])
    view = SequenceView(explorer=ex)
    want = sequence_height(int(n.max()), heads)
    assert view.widget.height == want < MAX_HEIGHT
    for k in (int(np.argmin(n)), int(np.argmax(n)), 0):  # switching never changes it
        ex.instance = k
        assert view.widget.height == want


@pytest.mark.parametrize("view_class", [HeatmapView, SeriesView])
def test_a_setting_that_changes_the_tokens_changes_the_axes(tiny_store, view_class):
    ex = Explorer(store=tiny_store)
    view = view_class(explorer=ex)
    plot = render(view)
    tokens, _ = from_file(tiny_store, ex.instance)
    assert plot.handles["x_range"].end == len(tokens) - 0.5
    ex.hide_special = True  # [CLS] and [SEP] leave: two tokens fewer, the first is another
    with h5py.File(tiny_store, "r") as f:
        start = f["/instances/token_start"][ex.instance]
        n_special = int(f["/tokens/special"][start:start + len(tokens)].sum())
    assert n_special == 2
    plot = view._live_plots()[0]
    assert plot.handles["x_range"].end == len(tokens) - 2 - 0.5
    assert plot.handles["xaxis"].major_label_overrides[0] == tokens[1]


def _page(ex):
    """The explorer's page in a document, as a served session has it (the document, the page,
    and the main tabs)."""
    import panel as pn
    from panel.io.state import set_curdoc

    from attviz.explore.app import build_app

    doc = Document()
    with set_curdoc(doc):
        page = build_app([], explorer=ex)
        doc.add_root(page.get_root(doc))
    (tabs,) = [t for t in page.select(pn.Tabs) if "av-main-tabs" in t.css_classes]
    return doc, page, tabs


def test_the_corpus_view_is_made_when_its_tab_is_first_shown(tiny_store):
    """A session that never opens the Corpus tab has no corpus view: a filter change does no
    corpus work. Shown, the tab holds one view, which computes for the current filter."""
    import gc

    from panel.io.state import set_curdoc

    from attviz.explore.views.corpus import CorpusView

    ex = Explorer(store=tiny_store)

    def views():
        return [o for o in gc.get_objects() if isinstance(o, CorpusView) and o.explorer is ex]

    doc, page, tabs = _page(ex)
    with set_curdoc(doc):
        assert views() == [] and tabs[1].objects == []
        ex.filters.misclassified_only = True  # a filter change while the tab was never shown
        assert views() == []
        tabs.active = 1
        (view,) = views()
        assert len(tabs[1].objects) == 1  # the view, in the tab
        assert view.active and view.body.objects  # computed and drawn on showing
        tabs.active = 0
        assert not view.active
        tabs.active = 1
        assert views() == [view] and view.active  # the same view, shown again


def test_the_page_passes_bokehs_checks(tiny_store):
    """The served app leaves Bokeh's per-session document check off (it only logs); the page,
    with both main tabs shown, is checked here instead."""
    from bokeh.core.validation.check import check_integrity
    from panel.io.state import set_curdoc

    ex = Explorer(store=tiny_store)
    doc, page, tabs = _page(ex)
    with set_curdoc(doc):
        tabs.active = 1
        tabs.active = 0
    issues = check_integrity(doc.roots[0].references())
    assert issues.error == [], issues.error
    # boxes filled on demand (the relations tab, the AUROC figure) are empty until then
    assert {w.name for w in issues.warning} <= {"EMPTY_LAYOUT"}, issues.warning


def test_token_plots_draw_selected_and_other_points_alike_with_one_glyph_each(tiny_store):
    """A tap marks a token; it must not fade the rest of the plot. Each renderer draws its
    points not selected with its own glyph (one glyph model, none copied per state)."""
    ex = Explorer(store=tiny_store)
    for view in (HeatmapView(explorer=ex), SeriesView(explorer=ex)):
        fig = render(view).state
        renderers = [r for r in fig.renderers if hasattr(r, "glyph")]
        assert len(renderers) >= 2
        for r in renderers:
            assert r.nonselection_glyph is r.glyph
            assert r.selection_glyph == "auto" and r.muted_glyph == "auto"
        assert not [c for c in fig.center if type(c).__name__ == "Grid"]
