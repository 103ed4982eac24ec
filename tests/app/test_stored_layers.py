"""The explorer on a store of some layers (`--layers`) in 8 bits: model layer numbers in
every view, the slider offers the stored layers, statistics and profiles cover all."""

import holoviews as hv
import numpy as np
import panel as pn
import pytest

from attviz.explore import corpus_data as C
from attviz.explore.filters import HeadCondition
from attviz.explore.sidebar import _layer_slider
from attviz.explore.state import Explorer
from attviz.explore.views.overview import overview_cells
from attviz.store import Store
from attviz.store.synth import synthesize

hv.extension("bokeh")


@pytest.fixture(scope="module")
def some(tmp_path_factory):
    path = tmp_path_factory.mktemp("some") / "some.h5"
    return synthesize(path, 800, layers=5, heads=3, classes=3, max_tokens=30, part_size=300,
                      stored_layers=[1, 3], precision=8, progress=False)


def test_the_views_show_stored_layers_by_their_numbers(some):
    ex = Explorer(store=some)
    assert ex.stored_layers == [1, 3] and ex.layer == 3 and ex.param.layer.bounds == (0, 4)
    ex.instance = 5
    inst = ex.current()
    vd = ex.view_data()
    assert vd.layer == 3
    np.testing.assert_array_equal(vd.values, inst.attention[:, 1, :][:, vd.heads])
    ex.layer = 1
    np.testing.assert_array_equal(ex.view_data().values, inst.attention[:, 0, :])
    ex.layer = 4  # not stored: the nearest stored layer
    assert ex.layer == 3
    slider = _layer_slider(ex)
    assert isinstance(slider, pn.widgets.DiscreteSlider) and slider.options == [1, 3]


def test_clicking_a_layer_that_is_not_stored(some):
    ex = Explorer(store=some)
    ex.instance = 2
    ex.select_layer_head(2, 1)  # the head grid covers every layer
    assert ex.layer == 3 and ex.highlight == 1
    assert "Layer 2's diagonals are not in this store" in ex.notice
    ex.select_layer_head(1, 2)
    assert ex.layer == 1 and ex.highlight == 2


def test_the_overview_rows_are_the_stored_layers(some):
    ex = Explorer(store=some)
    ex.instance = 3
    shown = overview_cells(ex)
    assert shown.yticks == [(0, "1"), (1, "3")]
    assert sorted(set(shown.columns["layer"].tolist())) == [1, 3]


def test_filters_and_profiles_use_model_layers(some):
    ex = Explorer(store=some)
    with Store(some) as s:
        col = s.read_head_stat("self_max", 2, 1)  # layer 2 is not stored: its statistic is
    ex.filters.head_filters = [HeadCondition("self_max", 2, 1, float(np.median(col)))]
    assert ex.count == int((col.astype(np.float64) >= float(np.median(col))).sum())
    # a slice that is no union of groups: the profile reads a sample of stored layer 3
    shared = ex.opened
    mask = shared.cols.confidence > 0.5
    prof = C.position_profile(shared.store, shared.slices.groups, mask, 3)
    assert not prof.exact and prof.mean.shape[1] == 3
    with pytest.raises(Exception, match="layer 2's diagonals are not in this store"):
        C.position_profile(shared.store, shared.slices.groups, mask, 2)
    exact = C.position_profile(shared.store, shared.slices.groups,
                               np.ones(len(mask), bool), 2)  # every layer in the profiles
    assert exact.exact and np.isfinite(exact.mean).all()
