"""Long instances (4,096 tokens): the heatmap and the relations raster are aggregated on the
server to the pixels shown and made anew when zoomed; zoomed in, exact values."""

import holoviews as hv
import numpy as np
import pytest
from bokeh.document import Document

from attviz.explore.state import Explorer
from attviz.explore.views import HeatmapView
from attviz.explore.views import raster as R
from attviz.explore.views.heatmap import RASTER_FROM
from attviz.store.synth import synthesize

hv.extension("bokeh")


@pytest.fixture(scope="module")
def long_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "long.h5"
    return synthesize(path, 12, layers=2, heads=4, classes=3, max_tokens=4096, part_size=12,
                      seed=3, progress=False)


def _figure(view):
    doc = Document()
    doc.add_root(view.pane.get_root(doc))
    (plot,) = view._live_plots()
    return plot


def test_the_heatmap_of_a_long_instance_is_an_image_of_the_pixels(long_store):
    ex = Explorer(store=long_store)
    long = int(np.flatnonzero(ex.opened.cols.token_count == 4096)[0])
    ex.instance = long
    view = HeatmapView(explorer=ex)
    plot = _figure(view)
    source = view._glyph_plots(plot)[0].handles["source"]
    img = source.data["image"][0]
    vd = ex.view_data()
    assert len(vd.positions) == 4096 > RASTER_FROM
    assert img.shape == (4, 1024) and img.shape[1] <= R.PIXELS  # 4 tokens a pixel
    # each pixel the largest of its tokens
    np.testing.assert_array_equal(img[:, 0], vd.values[:4].max(axis=0).astype(np.float32))
    # zoomed in to 300 tokens: every token's exact value
    view.on_zoom(plot, 1000.2, 1299.6, -0.5, 3.5)
    img = source.data["image"][0]
    assert source.data["x"] == [999.5] and img.shape == (4, 301)
    np.testing.assert_array_equal(img, vd.values[1000:1301].T.astype(np.float32))
    ticks = plot.handles["xaxis"].ticker.ticks
    assert min(ticks) >= 1000 and max(ticks) <= 1300
    # another long instance: written into the same figure
    other = int(np.flatnonzero(ex.opened.cols.token_count == 4096)[1])
    ex.instance = other
    assert view._live_plots() == [plot]
    assert source.data["image"][0].shape == (4, 1024)


def test_a_4096_square_map_goes_out_in_pixels():
    m = np.random.default_rng(0).random((4096, 4096)).astype(np.float32)
    whole = R.square(m, pixels=600)
    assert whole.image.shape == (586, 586) and whole.per == (7, 7)
    assert whole.image.max() == m.max()
    part = R.square(m, (10.0, 209.9), (3900.0, 4095.5), pixels=600)
    assert part.exact and part.image.shape == (196, 201)  # tokens 10..210, 3900..4095
    i, j = 7, 50  # row 7 is drawn at y = 4088
    assert part.image[4095 - i - 3900, j - 10] == m[i, j]
