"""Long instances in headless Chromium: a 4,096-token instance of a tiny long-context
classifier (ModernBERT-like: 3 layers x 4 heads, rotary positions, local attention of 16
tokens in two of three layers), precomputed with --max-length 4096, served by
`panel serve apps/`.

Measured (in the page, from navigation start or from the action, to the animation frame
after the one that shows the result): the page render of the long instance and of a short
one; scrolling the text and the token grid to their ends until the last tokens are built;
a zoom of the heatmap until the server's new image is drawn; the relations view from
opening its tab until the raster of the recomputed map is drawn (the model run
included), first with the model's loading, then in a new page with the model loaded; and
the server's memory. Then `attviz verify`'s eager diagonals, the relations
run and the precompute's extraction of the 4,096-token instance, each in a fresh process
(benchmarks/many_heads_bench.py's per_instance): time and peak memory. Screenshots go to
--shots.

    .venv/bin/python benchmarks/long_bench.py --shots long-shots --loads 3

Exits non-zero on errors only, never on slowness.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from app_bench import DEEP, RENDERED  # noqa: E402 - benchmarks/ is the script's folder
from many_heads_bench import per_instance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IMAGE = """(title) => {
  for (const v of Bokeh.index.all_views()) {
    if (v.model.type !== 'Figure' || !v.model.title || !v.model.title.text.startsWith(title))
      continue;
    for (const r of v.model.renderers) {
      const d = r.data_source ? r.data_source.data : null;
      const get = (k) => d instanceof Map ? d.get(k) : d[k];
      if (d && get('image')) return {x: get('x')[0], cells: get('image')[0].length,
                                     done: v.has_finished()};
    }
  }
  return null;
}"""

ZOOM = """([title, x0, x1, y0, y1]) => {
  for (const v of Bokeh.index.all_views()) {
    if (v.model.type !== 'Figure' || !v.model.title || !v.model.title.text.startsWith(title))
      continue;
    window.__t0 = performance.now();
    v.model.x_range.setv({start: x0, end: x1});
    if (y0 !== null) v.model.y_range.setv({start: y0, end: y1});
    v.trigger_ranges_update_event();
  }
}"""

# time from __t0 to the frame after ``cond`` holds (polled every animation frame)
AFTER = """(cond) => new Promise((done) => {
  const test = eval(cond);
  const frame = () => {
    if (test()) requestAnimationFrame(() => done((performance.now() - window.__t0) / 1000));
    else requestAnimationFrame(frame);
  };
  frame();
})"""


def make_store(tmp: Path) -> tuple[Path, Path]:
    from attviz.cli import main
    from attviz.testing import make_documents, save_tiny_classifier

    model = save_tiny_classifier(tmp / "model", family="modernbert", layers=3, window=16,
                                 max_positions=4096, max_length=4096)
    docs = make_documents(2, seed=6, min_words=4300, max_words=4400) + make_documents(
        4, seed=5, max_words=300)
    corpus = tmp / "long.csv"
    pd.DataFrame({"key": [f"d{i}" for i in range(len(docs))], "body": [t for t, _ in docs],
                  "topic": [lab for _, lab in docs]}).to_csv(corpus, index=False)
    out = tmp / "long.h5"
    assert main(["precompute", "--model", str(model), "--data", str(corpus), "--out",
                 str(out), "--text-column", "body", "--label-column", "topic", "--id-column",
                 "key", "--max-length", "4096", "--batch-size", "2", "--no-progress"]) == 0
    return model, out


SHOW = """(title) => {
  for (const v of Bokeh.index.all_views())
    if (v.model.type === 'Figure' && v.model.title && v.model.title.text.startsWith(title))
      v.canvas_view.el.scrollIntoView({block: 'center'});
}"""


def shot(page, path: Path, title: str | None = None) -> None:
    """A screenshot of the window, the figure ``title`` scrolled to its middle."""
    if title:
        page.evaluate(SHOW, title)
        time.sleep(0.5)
    page.screenshot(path=str(path))


def load(browser, url: str) -> tuple[object, float]:
    page = browser.new_page(viewport={"width": 1500, "height": 1250})
    page.add_init_script(DEEP + RENDERED)
    page.goto(url)
    page.wait_for_function("window.__rendered !== undefined", timeout=120000)
    return page, page.evaluate("window.__rendered")


def timed(page, action: str, cond: str, arg=None) -> float:
    page.evaluate(action, arg) if arg is not None else page.evaluate(action)
    return page.evaluate(AFTER, cond)


def measure(browser, url: str, long_k: int, short_k: int, loads: int, shots: Path) -> dict:
    res: dict = {"render_long_s": [], "render_short_s": []}
    for _ in range(loads):
        for key, k in (("render_long_s", long_k), ("render_short_s", short_k)):
            page, t = load(browser, f"{url}?instance={k}")
            res[key].append(round(t, 3))
            page.close()
            time.sleep(2)
    page, _ = load(browser, f"{url}?instance={long_k}")
    shot(page, shots / "long-page.png")
    shot(page, shots / "long-heatmap.png", "Self-attention")
    res["text_nodes_at_load"] = page.evaluate("window.__deep('.av-tok').length")
    res["grid_columns_at_load"] = page.evaluate("window.__deep('.av-col').length")
    res["scroll_text_to_end_s"] = timed(
        page, "() => { window.__t0 = performance.now(); "
        "window.__deep('.av-text')[0].scrollTop = 1e9; }",
        "() => window.__deep(\".av-tok[data-pos='4094']\").length > 0")
    res["scroll_grid_to_end_s"] = timed(
        page, "() => { window.__t0 = performance.now(); "
        "window.__deep('.av-grid')[0].scrollTop = 1e9; }",
        "() => window.__deep(\".av-col[data-pos='4095']\").length > 0")
    shot(page, shots / "long-scrolled.png")
    res["heatmap_image_cells"] = page.evaluate(IMAGE, "Self-attention")["cells"]
    res["heatmap_zoom_s"] = timed(
        page, ZOOM, "() => { const i = (" + IMAGE + ")('Self-attention'); "
        "return i && i.x === 1999.5 && i.done; }", ["Self-attention", 2000, 2099, None, None])
    res["heatmap_zoomed_cells"] = page.evaluate(IMAGE, "Self-attention")["cells"]
    shot(page, shots / "long-heatmap-zoomed.png", "Self-attention")
    page.evaluate("() => { window.__t0 = performance.now(); }")
    page.locator(".bk-tab", has_text="Relations").click()
    res["relations_tab_to_raster_s"] = page.evaluate(
        AFTER, "() => { const i = (" + IMAGE + ")('Token x token'); "
        "return i && i.cells > 1 && i.done; }")
    res["relations_image_cells"] = page.evaluate(IMAGE, "Token x token")["cells"]
    shot(page, shots / "long-relations.png", "Token x token")
    res["relations_zoom_s"] = timed(
        page, ZOOM, "() => { const i = (" + IMAGE + ")('Token x token'); "
        "return i && i.x === 99.5 && i.done; }", ["Token x token", 100, 199, 3900, 3999])
    res["relations_zoomed_cells"] = page.evaluate(IMAGE, "Token x token")["cells"]
    shot(page, shots / "long-relations-zoomed.png", "Token x token")
    page.close()
    # the same in a new page, the model loaded by the first (the server keeps it)
    page, _ = load(browser, f"{url}?instance={long_k}")
    page.evaluate("() => { window.__t0 = performance.now(); }")
    page.locator(".bk-tab", has_text="Relations").click()
    res["relations_tab_to_raster_model_loaded_s"] = page.evaluate(
        AFTER, "() => { const i = (" + IMAGE + ")('Token x token'); "
        "return i && i.cells > 1 && i.done; }")
    page.close()
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loads", type=int, default=3)
    ap.add_argument("--shots", default="long-shots")
    ap.add_argument("--json")
    args = ap.parse_args()
    import psutil
    from playwright.sync_api import sync_playwright

    from attviz.store import Store
    from tests.helpers.browser import CHROMIUM_ARGS
    from tests.helpers.served import Server

    shots = Path(args.shots)
    shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        model, store = make_store(Path(tmp))
        res: dict = {"precompute_s": round(time.perf_counter() - t, 1)}
        res["per_instance"] = per_instance(str(store), str(model),
                                           ("relations", "verify", "extraction"))
        with Store(store) as s:
            counts = s.columns.token_count
        long_k = int(np.flatnonzero(counts == 4096)[0])
        short_k = int(np.flatnonzero(counts < 400)[0])
        server = Server("--store", str(store))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                            args=CHROMIUM_ARGS)
                res.update(measure(browser, server.url, long_k, short_k, args.loads, shots))
                browser.close()
            proc = psutil.Process(server.proc.pid)
            res["server_rss_mb"] = round(sum(
                q.memory_info().rss for q in [proc, *proc.children(recursive=True)]) / 2**20)
        finally:
            server.stop()
    res["render_long_median_s"] = statistics.median(res["render_long_s"])
    res["render_short_median_s"] = statistics.median(res["render_short_s"])
    res["load_average"] = os.getloadavg()
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
