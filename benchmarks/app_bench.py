"""Explorer speed and memory in headless Chromium, against `panel serve apps/`.

Measures, on one store:
- page render: from the browser's navigation start until the text tokens, the class
  probabilities and the instance table are on the page and the heatmap figure has finished
  drawing, taken inside the page on the first animation frame after all of them are there
  (`render_*`); first load of a fresh server, then warm loads. The same loads are also timed
  from the harness (`render_wall_*`: from `page.goto` until Playwright has seen the tokens,
  a canvas and the probabilities), which adds Playwright's own start-up and polling
  latency, 0.3-0.6 s on 2 cores, to the same render. The series
  view sits below the heatmap, off screen in this window, and is built when scrolled into
  view: measured apart, from the scroll until its figure is on the page;
- instance switch: from the click event on "next ›" until every view shows the new
  instance (title, tokens of the sequence view, probabilities, the heatmap's tick labels and
  the x range of the heatmap and the series view), taken inside the page on the animation
  frame after the one that shows it (`switch_*`); and from the harness, from Playwright's
  `click()` call until its polling sees the same (`switch_wall_*`, which adds the click's
  actionability checks and the polling);
- server memory (RSS) while one session steps through 200 instances.

    .venv/bin/python benchmarks/app_bench.py demo-data/bbc-heldout.h5

Exits non-zero only on errors, never on slowness.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.browser import CHROMIUM_ARGS  # noqa: E402
from tests.helpers.served import Server  # noqa: E402

# Finds elements inside shadow roots too (Bokeh renders every pane in one).
DEEP = """
window.__deep = (sel) => {
  const out = [];
  const walk = (root) => {
    root.querySelectorAll(sel).forEach(e => out.push(e));
    root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) walk(e.shadowRoot); });
  };
  walk(document);
  return out;
};
"""

READY = """([k, first, prob, tick, label, xend]) => {
  const d = window.__deep;
  const title = d('.av-instance')[0];
  if (!title || !title.textContent.includes(`instance ${k.toLocaleString('en-US')} `)) return false;
  const first_label = d('.av-label')[0];
  if (!first_label || first_label.textContent !== first) return false;
  const verdict = d('.av-verdict')[0];
  if (!verdict || !verdict.textContent.includes(prob)) return false;
  let plots = 0;
  for (const doc of Bokeh.documents) for (const m of doc._all_models.values()) {
    if (m.type !== 'Figure' || !m.title) continue;
    const t = m.title.text;
    if (!t.startsWith('Self-attention') && !t.startsWith('mean')) continue;
    if (m.x_range.end !== xend) return false;
    if (t.startsWith('Self-attention')) {
      const axis = (m.below || []).find(a => a.major_label_overrides !== undefined);
      const o = axis ? axis.major_label_overrides : null;
      const v = o ? (o.get ? o.get(tick) : o[tick]) : null;
      if (v !== label) return false;
    }
    plots += 1;
  }
  return plots === 2;
}"""


# Installed before each timed load, after DEEP: checks every animation frame whether the
# page is rendered and, on the frame after (so the frame that showed it has been painted),
# keeps the time since navigation start in window.__rendered.
RENDERED = """
(() => {
  const on_page = (sel) => window.__deep(sel).length > 0;
  const heatmap_drawn = () => {
    if (!window.Bokeh || !Bokeh.index || !Bokeh.index.all_views) return false;
    for (const v of Bokeh.index.all_views())
      if (v.model.type === 'Figure' && v.model.title &&
          v.model.title.text.startsWith('Self-attention')) return v.has_finished();
    return false;
  };
  const frame = () => {
    if (heatmap_drawn() && on_page('.av-tok') && on_page('.av-verdict') &&
        on_page('.av-table-row'))
      requestAnimationFrame(() => { window.__rendered = performance.now() / 1000; });
    else
      requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();
"""


# Installed once the page is up: times each switch inside the page, from the click event
# to the animation frame after the one in which READY(want) first holds.
SWITCH_TIMER = """(ready) => {
  window.__ready = eval(ready);
  window.__arm = (want) => {
    window.__want = want; window.__clicked = undefined; window.__switched = undefined;
  };
  const frame = () => {
    if (window.__ready(window.__want))
      requestAnimationFrame(() => {
        window.__switched = (performance.now() - window.__clicked) / 1000;
      });
    else
      requestAnimationFrame(frame);
  };
  window.addEventListener('click', (e) => {
    if (window.__want && window.__clicked === undefined) {
      window.__clicked = e.timeStamp; frame();
    }
  }, true);
}"""


FIGURES = """(n) => {
  let k = 0;
  for (const doc of Bokeh.documents) for (const m of doc._all_models.values())
    if (m.type === 'Figure') k += 1;
  return k >= n && window.__deep('canvas').length >= n;
}"""


def expected(store_path: str, k: int) -> list:
    """What the page shows once instance k is in every view: its title, first token,
    probability, the heatmap's second tick label and both token plots' x range."""
    from attviz.explore.views.tokenplot import token_ticks
    from attviz.store import open_store

    with open_store(store_path) as s:
        inst = s.read_instance(k)
    ticks = token_ticks(list(inst.tokens))
    tick, label = ticks[1] if len(ticks) > 1 else ticks[0]
    return [k, inst.tokens[0], f"({inst.probabilities.max():.3f})", tick, label,
            inst.n_tokens - 0.5]


def _page_loads(browser, url: str, loads: int) -> dict:
    """Render times of ``loads`` page loads (the first cold)."""
    renders, walls = [], []
    for _ in range(loads):
        page = browser.new_page(viewport={"width": 1500, "height": 1250})
        page.add_init_script(DEEP + RENDERED)
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(".av-tok", timeout=60000)
        page.wait_for_selector("canvas", timeout=60000)
        page.wait_for_selector(".av-verdict", timeout=60000)
        walls.append(time.perf_counter() - t0)
        page.wait_for_function("window.__rendered !== undefined", timeout=60000)
        renders.append(page.evaluate("window.__rendered"))
        page.close()
        time.sleep(3)  # the server tears the closed session down meanwhile
    return {"render_first_s": renders[0], "render_warm_median_s": statistics.median(renders[1:]),
            "render_warm_max_s": max(renders[1:]), "render_wall_first_s": walls[0],
            "render_wall_warm_median_s": statistics.median(walls[1:]),
            "render_wall_warm_max_s": max(walls[1:])}


def _switches(page, nxt, store: str, n: int) -> dict:
    """Times of ``n`` instance switches by the "next" button, in the page and on the wall."""
    page.evaluate(SWITCH_TIMER, READY)
    switches, walls = [], []
    for k in range(1, n + 1):
        want = expected(store, k)
        page.evaluate("(want) => window.__arm(want)", want)
        t0 = time.perf_counter()
        nxt.click()
        page.wait_for_function(READY, arg=want, timeout=30000, polling=20)
        walls.append(time.perf_counter() - t0)
        page.wait_for_function("window.__switched !== undefined", timeout=30000)
        switches.append(page.evaluate("window.__switched"))
    page.evaluate("window.__arm(null)")
    return {"switch_median_s": statistics.median(switches),
            "switch_p95_s": float(np.percentile(switches, 95)), "switch_max_s": max(switches),
            "switch_wall_median_s": statistics.median(walls),
            "switch_wall_p95_s": float(np.percentile(walls, 95)), "switch_wall_max_s": max(walls)}


def _memory(page, nxt, store: str, proc, start: int, steps: int) -> dict:
    """The server's memory while stepping through ``steps`` instances."""
    rss = [proc.memory_info().rss]
    for k in range(start + 1, start + 1 + steps):
        want = expected(store, k)
        nxt.click()
        page.wait_for_function(READY, arg=want, timeout=30000, polling=20)
        if (k - start) % 50 == 0:
            rss.append(proc.memory_info().rss)
    return {"rss_mb_before_steps": rss[0] / 2**20,
            "rss_mb_every_50_steps": [round(r / 2**20, 1) for r in rss[1:]],
            "rss_growth_mb_over_steps": (rss[-1] - rss[0]) / 2**20}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--loads", type=int, default=6, help="page loads (the first is cold)")
    ap.add_argument("--switches", type=int, default=40, help="timed instance switches")
    ap.add_argument("--steps", type=int, default=200, help="instances stepped for memory")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    server = Server("--store", str(Path(args.store).resolve()))
    proc = psutil.Process(server.proc.pid)
    results: dict = {"store": args.store}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            results.update(_page_loads(browser, server.url, args.loads))
            page = browser.new_page(viewport={"width": 1500, "height": 1250})
            page.goto(server.url)
            page.wait_for_selector(".av-tok", timeout=60000)
            page.wait_for_selector("canvas", timeout=60000)
            page.evaluate(DEEP)
            time.sleep(1.0)
            lazy = page.locator(".av-lazy")
            if lazy.count():  # the series view: built once scrolled into view
                t0 = time.perf_counter()
                lazy.scroll_into_view_if_needed()
                page.wait_for_function(FIGURES, arg=2, timeout=30000, polling=20)
                results["series_on_scroll_s"] = time.perf_counter() - t0
                time.sleep(1.0)
            nxt = page.get_by_role("button", name="next ›")
            results.update(_switches(page, nxt, args.store, args.switches))
            results.update(_memory(page, nxt, args.store, proc, args.switches, args.steps))
            browser.close()
    finally:
        server.stop()
    results["machine"] = (f"{platform.node()} {psutil.cpu_count()} cpu "
                          f"{psutil.virtual_memory().total / 2**30:.0f} GiB")
    print("| measure | value |")
    print("|---|---|")
    for key, value in results.items():
        if isinstance(value, float):
            value = f"{value:.3f}"
        print(f"| {key} | {value} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
