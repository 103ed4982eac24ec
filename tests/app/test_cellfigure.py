"""The layers x heads view and the cells figures: built once, then new values into the same
Bokeh models (no new figure for an instance switch, a layer or a scale)."""

from __future__ import annotations

import numpy as np
import pytest
from bokeh.models import LinearColorMapper, LogColorMapper

from attviz.explore.state import Explorer
from attviz.explore.viewdata import layer_head_means
from attviz.explore.views.cellfigure import CellFigure, color_range
from attviz.explore.views.overview import OverviewView
from attviz.store.synth import synthesize


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    path = tmp_path_factory.mktemp("subset") / "subset.h5"
    return synthesize(path, 60, layers=5, heads=3, classes=3, max_tokens=20, part_size=30,
                      stored_layers=[1, 3], progress=False)


def cells_of(view: OverviewView) -> dict:
    return view.figure.cells.data


def test_an_instance_switch_writes_the_new_means_into_the_same_figure(ex):
    view = OverviewView(explorer=ex)
    fig, source, mapper = view.figure.fig, view.figure.cells, view.figure.mapper
    for k in (1, 2):
        ex.instance = k
        assert view.pane.object is fig and view.figure.cells is source
        want = layer_head_means(ex.current(), ex.hide_special)
        np.testing.assert_allclose(cells_of(view)["mean"], want.ravel())
        # coloured over this instance's range
        assert (mapper.low, mapper.high) == pytest.approx((want.min(), want.max()))
    ex.scale = "log"  # another kind of colour map: a new mapper in the same figure
    assert view.pane.object is fig and isinstance(view.figure.mapper, LogColorMapper)
    assert view.figure.renderer.glyph.fill_color.transform is view.figure.mapper
    assert view.figure.colorbar.color_mapper is view.figure.mapper
    ex.scale = "linear"
    assert isinstance(view.figure.mapper, LinearColorMapper)


def test_the_outline_follows_the_selected_layer_and_head(ex):
    view = OverviewView(explorer=ex)
    ex.select_layer_head(0, 2)
    boxes = view.figure.outlines.data
    # the whole row of layer 0, then its head 2
    assert list(zip(boxes["x0"], boxes["y0"], boxes["x1"], boxes["y1"])) == [
        (-0.5, -0.5, ex.opened.store.meta.num_heads - 0.5, 0.5), (1.5, -0.5, 2.5, 0.5)]


def test_crosses_sit_on_the_rows_of_stored_layers(subset):
    ex = Explorer(store=subset)
    ex.instance = 1
    view = OverviewView(explorer=ex)
    assert view.figure.shown.yticks == [(0, "1"), (1, "3")]
    ex.ablation.heads_off = [(3, 2), (2, 0), (1, 1)]  # layer 2 is not stored: no cross
    assert view.marks.data == {"x": [2, 1], "y": [1, 0]}


def test_a_tap_picks_the_model_layer_of_the_row(subset):
    ex = Explorer(store=subset)
    ex.instance = 1
    view = OverviewView(explorer=ex)
    view.picker.tap(1.2, 0.9)  # row 1 is model layer 3
    assert ex.layer == 3 and ex.highlight == 1
    view.picker.tap(7.0, 0.0)  # off the grid: nothing
    assert ex.layer == 3 and ex.highlight == 1


def test_colour_ranges():
    from attviz.explore.views.cells import layer_head_cells

    values = np.array([[0.0, 0.2], [np.nan, 0.5]])
    c = layer_head_cells({"v": values}, "v", title="t", cmap="viridis")
    assert color_range(c) == (0.0, 0.5)
    c.log = True  # only positive values count on a log scale
    assert color_range(c) == (0.2, 0.5)
    c.clim = (-1.0, 1.0)
    assert color_range(c) == (-1.0, 1.0)
    fig = CellFigure(c, height=200)
    assert (fig.mapper.low, fig.mapper.high) == (-1.0, 1.0)


def test_a_confusion_figure_fits_only_as_many_classes():
    from attviz.explore.views.confusion import confusion_cells, confusion_figure

    three = confusion_cells(np.eye(3, dtype=int), ["a", "b", "c"], "t")
    fig = confusion_figure(three, 3, on_tap=lambda x, y: None)
    assert fig.fits(confusion_cells(2 * np.eye(3, dtype=int), ["a", "b", "c"], "t"))
    # sized by its cells: another store's four classes need a new figure
    assert not fig.fits(confusion_cells(np.eye(4, dtype=int), list("abcd"), "t"))
    grid = CellFigure(three, height=200)  # a figure that stretches takes any shape
    assert grid.fits(confusion_cells(np.eye(4, dtype=int), list("abcd"), "t"))
