"""The corpus view on the demo store, as a person uses it, in headless Chromium; checked
against the store read with h5py; the screenshot for the README.

    .venv/bin/python scripts/check_demo_corpus.py [--store demo-data/bbc-heldout.h5]
        [--screenshot docs/images/corpus.png]

Opens the Corpus tab, contrasts misclassified against correct instances, clicks the head
whose AUROC is furthest from 0.5, checks that the table's first row is the instance where
that head's statistic is largest, waits for the token and position profiles, takes the
screenshot, then clicks the first row and checks that the Instance tab shows it. Exits 1
when a check fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.browser import CHROMIUM_ARGS, Page  # noqa: E402
from tests.helpers.served import Server  # noqa: E402
from tests.helpers.waiting import until  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default=str(ROOT / "demo-data" / "bbc-heldout.h5"))
    ap.add_argument("--screenshot", default=str(ROOT / "docs" / "images" / "corpus.png"))
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from attviz.explore.corpus_data import auroc

    with h5py.File(args.store, "r") as f:
        stat = f["/instances/head_stats/self_mean"][:]
        label, pred = f["/instances/label"][:], f["/instances/prediction"][:]
    wrong, right = (label >= 0) & (label != pred), (label >= 0) & (label == pred)
    far = np.abs(auroc(stat, wrong, right) - 0.5)
    layer, head = (int(x) for x in np.unravel_index(np.nanargmax(far), far.shape))
    top = int(np.argsort(-stat[:, layer, head].astype(np.float64), kind="stable")[0])
    server = Server("--store", args.store)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = Page(browser, server.url, height=1250)
            page.page.set_viewport_size({"width": 1680, "height": 1250})
            page.wait_ready()
            page.page.locator(".bk-tab", has_text="Corpus").click()
            page.wait_figure("self_mean: mean per head")
            page.page.locator("select").filter(has=page.page.locator(
                "option", has_text="misclassified against correct")).first.select_option(
                label="misclassified against correct")
            page.wait_figure("AUROC")
            page.wait_figure("self_mean: A − B")
            page.wait_text(".av-corpus-summary", f"misclassified ({wrong.sum():,})")
            x, y = page.figure_point("self_mean: A − B", head, layer)
            page.page.mouse.click(x, y)
            page.wait_text(".av-sorted", f"self_mean of layer {layer} head {head}, largest")
            row = page.page.locator(".tabulator-row").first
            until(lambda: row.inner_text().split()[0].replace(",", "") == str(top),
                  f"instance {top} on the first row", on_fail=lambda: row.inner_text())
            page.wait_figure("Tokens: largest A − B")
            page.wait_figure("By token position")
            page.page.mouse.move(5, 5)
            page.page.wait_for_timeout(1000)
            page.page.screenshot(path=args.screenshot)
            row.click()
            page.wait_text(".av-instance", f"instance {top:,}")
            errors = page.errors()
            browser.close()
    finally:
        server.stop()
    print(f"head grid in contrast mode: layer {layer} head {head} (AUROC furthest from 0.5); "
          f"table's first row: instance {top}, the largest self_mean there (h5py); "
          f"token and position profiles drawn; screenshot {args.screenshot}; "
          f"console errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
