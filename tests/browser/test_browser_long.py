"""Instances of 4,096 tokens in headless Chromium: a tiny long-context classifier
(ModernBERT-like: rotary positions, local attention of 16 tokens in two of three layers)
precomputed with --max-length 4096. The text and the token grid are built as they come on
screen; the heatmap and the relations raster arrive as images of the pixels shown and are
made anew when zoomed, exact once zoomed in."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from tests.helpers.browser import FIND_FIGURE, Page
from tests.helpers.served import Server
from tests.helpers.stores import precompute_args

HEATMAP, RASTER = "Self-attention", "Token x token"

# a page script: the image a figure draws (its glyph's data) and where
IMAGE = f"""(title) => {{
  const v = ({FIND_FIGURE})(title);
  if (v === null) return null;
  for (const r of v.model.renderers) {{
    const d = r.data_source ? r.data_source.data : null;
    const get = (k) => d instanceof Map ? d.get(k) : d[k];
    if (d && get('image')) {{
      const img = get('image')[0];
      return {{cells: img.length, x: get('x')[0], dw: get('dw')[0], y: get('y')[0],
               dh: get('dh')[0]}};
    }}
  }}
  return null;
}}"""

# a page script: zoom a figure to [x0, x1] x [y0, y1] as the browser's tools do
ZOOM = f"""([title, x0, x1, y0, y1]) => {{
  const v = ({FIND_FIGURE})(title);
  v.model.x_range.setv({{start: x0, end: x1}});
  if (y0 !== null) v.model.y_range.setv({{start: y0, end: y1}});
  v.trigger_ranges_update_event();
}}"""


@pytest.fixture(scope="module")
def long_store(tmp_path_factory):
    from attviz.cli import main
    from attviz.testing import make_documents, save_tiny_classifier

    d = tmp_path_factory.mktemp("long")
    model = save_tiny_classifier(d / "model", family="modernbert", layers=3, window=16,
                                 max_positions=4096, max_length=4096)
    docs = make_documents(2, seed=6, min_words=4300, max_words=4400) + make_documents(
        3, seed=5, max_words=300)
    corpus = d / "long.csv"
    pd.DataFrame({"key": [f"d{i}" for i in range(len(docs))], "body": [t for t, _ in docs],
                  "topic": [lab for _, lab in docs]}).to_csv(corpus, index=False)
    out = d / "long.h5"
    args = precompute_args(model, corpus, out)
    args[args.index("--max-length") + 1] = "4096"
    args[args.index("--stride") + 1] = "0"
    assert main(args + ["--batch-size", "2"]) == 0
    return out


@pytest.fixture(scope="module")
def long_server(long_store):
    s = Server("--store", str(long_store))
    yield s
    s.stop()


def test_a_4096_token_instance(browser, long_server, long_store):
    from attviz.store import Store

    with Store(long_store) as s:
        k = int(np.flatnonzero(s.columns.token_count == 4096)[0])
        inst = s.read_instance(k)
    t0 = time.perf_counter()
    page = Page(browser, f"{long_server.url}?instance={k}")
    page.wait_ready()
    page.wait_figure(HEATMAP)
    shown = time.perf_counter() - t0
    assert shown < 60, shown  # the render time is measured in benchmarks/long_bench.py
    # the text and the grid: only the blocks near the screen have their token nodes
    built = page.page.locator(".av-tok").count()
    cols = page.page.locator(".av-col").count()
    assert 0 < built < 2048 and 0 < cols < 2048, (built, cols)
    assert page.text_of(".av-text").startswith(inst.text[:40])  # all the text is there
    page.page.locator(".av-text").evaluate("e => { e.scrollTop = e.scrollHeight; }")
    page.page.wait_for_selector(".av-text .av-tok[data-pos='4094']", timeout=10000)
    page.page.locator(".av-grid").evaluate("e => { e.scrollTop = e.scrollHeight; }")
    page.page.wait_for_selector(".av-col[data-pos='4095']", timeout=10000)
    # the heatmap: an image of at most a cell a pixel, not 4 x 4,096 cells
    img = page.page.evaluate(IMAGE, HEATMAP)
    assert img is not None and img["cells"] <= 4 * 1500 and img["dw"] >= 4095, img
    page.page.evaluate(ZOOM, [HEATMAP, 2000.0, 2099.0, None, None])
    page.page.wait_for_function(f"(t) => {{ const i = ({IMAGE})(t); "
                                "return i && i.x === 1999.5 && i.cells === 4 * 100; }",
                                arg=HEATMAP, timeout=20000)
    assert not page.errors(), page.errors()


def test_relations_of_a_4096_token_instance(browser, long_server, long_store):
    from attviz.store import Store

    with Store(long_store) as s:
        k = int(np.flatnonzero(s.columns.token_count == 4096)[0])
    page = Page(browser, f"{long_server.url}?instance={k}")
    page.wait_ready()
    page.page.locator(".bk-tab", has_text="Relations").click()
    page.wait_text(".av-rel-status", "matches the store", timeout=120)
    page.wait_figure(RASTER)
    img = page.page.evaluate(IMAGE, RASTER)
    assert img["cells"] <= 600 * 600 and img["dw"] >= 4096, img  # never 4,096 x 4,096
    page.page.evaluate(ZOOM, [RASTER, 100.0, 199.0, 3900.0, 3999.0])
    page.page.wait_for_function(f"(t) => {{ const i = ({IMAGE})(t); "
                                "return i && i.x === 99.5 && i.cells === 100 * 100; }",
                                arg=RASTER, timeout=20000)
    assert not page.errors(), page.errors()
