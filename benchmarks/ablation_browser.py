"""Head importance and ablation in headless Chromium against `panel serve apps/` on the BBC
demo store (precomputed with --importance), as a researcher would use them:

1. the Corpus tab: statistic "importance", contrast "misclassified against correct": the
   difference of mean importance per head and its AUROC render;
2. "the k largest contrasts" with k = 3 puts those three heads in "heads off";
3. the sidebar's "misclassified only", then "switch off over the slice": the time from the
   click until the summary (accuracy after, flips) shows; the confusion matrix after;
4. "list the changed predictions": the sidebar's filter lists the flipped instances;
   a screenshot of the page (``--screenshot``);
5. the sidebar's filters off again: the whole store's contrast grid above the slice's
   result, which stays until the next run (``--figure``, the README's picture);
6. the Instance tab: a head toggled on the layers x heads view: the time from the click
   until the new probabilities show (median of ``--clicks``), timed by Playwright and inside
   the page (from the click event to the animation frame after the one that showed them:
   Playwright's waits add their own latency, docs/benchmarks.md section 4); with
   ``--clicks-first`` before the Corpus tab is opened.

    .venv/bin/python benchmarks/ablation_browser.py demo-data/bbc-heldout.h5 \\
        --figure docs/images/ablation.png

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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.browser import Page  # noqa: E402
from tests.helpers.served import Server  # noqa: E402
from tests.helpers.waiting import until  # noqa: E402


def choose(page: Page, current: str, label: str) -> None:
    """Pick ``label`` in the select of the main tabs (not the sidebar's) whose options
    include ``current`` and ``label``."""
    select = page.page.locator(".av-main-tabs select").filter(
        has=page.page.locator("option", has_text=current)).filter(
        has=page.page.locator("option", has_text=label)).first
    select.select_option(label=label)


def slice_run(page: Page, out: dict, screenshots: list) -> None:
    p = page.page
    p.locator(".bk-tab", has_text="Corpus").click()
    p.wait_for_selector(".av-corpus-summary", timeout=60000)
    choose(page, "mean self-attention (self_mean)", "head importance dL/dg (importance)")
    page.wait_figure("importance: mean per head")
    choose(page, "none: the slice", "misclassified against correct")
    page.wait_figure("importance: A − B")
    page.wait_figure("AUROC")
    p.locator("button", has_text="the k largest contrasts").click()
    box = p.locator(".av-heads-off input")
    until(lambda: box.input_value().count(".") == 3, "three heads in the box")
    out["heads"] = box.input_value()
    if screenshots[0]:
        time.sleep(1.0)
        p.screenshot(path=screenshots[0], full_page=False)
    p.locator(".bk-Checkbox", has_text="misclassified only").locator(
        "input[type=checkbox]").check()
    # the filter applied before the next click (a click right after a box is ticked makes
    # Panel apply the box's change inside the click's event, outside the document lock)
    def filtered() -> bool:
        n, _, total = page.text_of(".av-count").split()[:3]
        return n != total

    until(filtered, "the misclassified slice in the count", timeout=60)
    shown = page.text_of(".av-count").split()[0]
    page.wait_text(".av-slice-ablation", f"holds {shown} instances", timeout=60)
    t0 = time.perf_counter()
    p.locator(".av-run-slice button").click()
    page.wait_text(".av-slice-ablation", "prediction(s) changed", timeout=600)
    out["slice_click_to_result_s"] = round(time.perf_counter() - t0, 2)
    out["slice_summary"] = page.text_of(".av-slice-ablation")
    page.wait_figure("Confusion with the heads off")
    p.locator(".av-show-changed button").click()
    changed = int(out["slice_summary"].split(" prediction(s) changed")[0].split()[-1]
                  .replace(",", ""))
    page.wait_text(".av-count", f"{changed:,} of", timeout=60)
    out["count_after_filter"] = page.text_of(".av-count")
    ticked = p.locator(".bk-Checkbox", has_text="prediction changed by the ablation").locator(
        "input[type=checkbox]")
    until(ticked.is_checked, "the sidebar's filter ticked", timeout=30)
    time.sleep(1.0)  # the table's page and the plots settle
    if screenshots[1]:
        p.screenshot(path=screenshots[1], full_page=False)
    if screenshots[2]:
        figure(page, screenshots[2])


def figure(page: Page, path: str) -> None:
    """The sidebar's filters off: the whole store's contrast grid (misclassified against
    correct) above the result of the last slice run, on one screen."""
    p = page.page
    for label in ("prediction changed by the ablation", "misclassified only"):
        box = p.locator(".bk-Checkbox", has_text=label).locator("input[type=checkbox]")
        box.uncheck()
        until(lambda b=box: not b.is_checked(), f"{label} unticked", timeout=30)
    total = page.text_of(".av-count").split()[2]
    page.wait_text(".av-count", f"{total} of {total}", timeout=60)
    page.wait_text(".av-corpus-summary", f"{total} of {total}", timeout=60)
    page.wait_text(".av-slice-ablation", f"holds {total} instances", timeout=60)
    page.wait_figure("importance: A − B")
    page.wait_figure("AUROC")
    page.wait_figure("Confusion with the heads off")
    time.sleep(2.0)  # the grid redrawn for the whole store
    p.evaluate("window.scrollTo(0, 0)")
    p.screenshot(path=path, full_page=False)


# Installed once: times a click inside the page, from the click event to the animation frame
# after the first one in which the ablation pane shows every text of window.__want; and
# (window.__first) until the frame that first showed the first of them.
CLICK_TIMER = """() => {
  const deep = (sel) => {
    const out = [];
    const walk = (root) => {
      root.querySelectorAll(sel).forEach(e => out.push(e));
      root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) walk(e.shadowRoot); });
    };
    walk(document);
    return out;
  };
  const shows = (w) => deep('.av-ablation').some(e => e.textContent.includes(w));
  const ready = () => window.__want.every(shows);
  window.__arm = (want) => {
    window.__want = want; window.__clicked = undefined; window.__shown = undefined;
    window.__first = undefined;
  };
  const frame = () => {
    if (window.__first === undefined && shows(window.__want[0]))
      window.__first = (performance.now() - window.__clicked) / 1000;
    if (ready())
      requestAnimationFrame(() => {
        window.__shown = (performance.now() - window.__clicked) / 1000;
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


def instance_clicks(page: Page, out: dict, clicks: int) -> None:
    p = page.page
    p.locator(".bk-tab", has_text="Instance").first.click()
    p.locator(".bk-tab", has_text="Layers x heads").click()
    title = "Mean self-attention per layer and head"
    page.wait_figure(title)
    p.locator(".bk-Checkbox", has_text="switches the head off").locator(
        "input[type=checkbox]").check()
    page.wait_figure(f"{title} (click: switch off")
    p.locator("button", has_text="all heads on").click()
    page.wait_text(".av-ablation", "No head is switched off")
    p.evaluate(CLICK_TIMER)
    times, in_page, heads_shown = [], [], []
    for k in range(clicks):
        x, y = page.figure_point(title, k % 12, 5)
        time.sleep(0.6)
        want = f"Switched off: 5.{k % 12}"
        p.evaluate("(w) => window.__arm(w)", [want, "Prediction"])
        t0 = time.perf_counter()
        p.mouse.click(x, y)
        page.wait_text(".av-ablation", want, timeout=60)
        page.wait_text(".av-ablation", "Prediction", timeout=60)
        times.append(time.perf_counter() - t0)
        p.wait_for_function("() => window.__shown !== undefined", timeout=10000)
        in_page.append(p.evaluate("() => window.__shown"))
        heads_shown.append(p.evaluate("() => window.__first"))
        p.evaluate("() => window.__arm(null)")
        time.sleep(0.6)  # not a double click
        p.mouse.click(*page.figure_point(title, k % 12, 5))  # on again (the page scrolled)
        page.wait_text(".av-ablation", "No head is switched off", timeout=60)
    out["instance_click_to_probabilities_s"] = {
        "median": round(statistics.median(times), 3), "max": round(max(times), 3)}
    out["instance_click_to_probabilities_in_page_s"] = {
        "median": round(statistics.median(in_page), 3), "max": round(max(in_page), 3)}
    out["instance_click_to_heads_off_shown_in_page_s"] = {  # before the model has run
        "median": round(statistics.median(heads_shown), 3), "max": round(max(heads_shown), 3)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--screenshot", help="PNG of the page after the slice run, the changed "
                    "predictions listed")
    ap.add_argument("--grid-screenshot", help="PNG of the importance contrast grid, the "
                    "three heads chosen")
    ap.add_argument("--figure", help="PNG of the page with the filters off again: the "
                    "whole store's contrast grid and the slice run's result")
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--clicks-first", action="store_true",
                    help="the Instance tab's clicks first, before the Corpus tab is built")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.helpers.browser import CHROMIUM_ARGS

    out: dict = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
                 "store": args.store}
    server = Server("--store", str(Path(args.store).resolve()))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=CHROMIUM_ARGS)
            page = Page(browser, server.url, height=1250)
            page.wait_ready()
            if args.clicks_first:  # the Corpus tab not yet built
                instance_clicks(page, out, args.clicks)
            slice_run(page, out, [args.grid_screenshot, args.screenshot, args.figure])
            if not args.clicks_first:
                instance_clicks(page, out, args.clicks)
            out["console_errors"] = page.errors()
            browser.close()
    finally:
        server.stop()
    print(json.dumps(out, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
