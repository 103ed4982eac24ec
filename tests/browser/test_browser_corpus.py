"""The corpus view in headless Chromium: contrast grid, a head clicked sorts the table by it,
the token profile and the confusion matrix filter the instances. Expected values come from
the store read with h5py."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.helpers.browser import Page
from tests.helpers.waiting import until


@pytest.fixture(scope="module")
def raw(tiny_store):
    with h5py.File(tiny_store, "r") as f:
        start = f["/instances/token_start"][:]
        ids = f["/tokens/id"][:]
        return {"label": f["/instances/label"][:], "prediction": f["/instances/prediction"][:],
                "self_mean": f["/instances/head_stats/self_mean"][:],
                "ids": [set(ids[a:b].tolist()) for a, b in zip(start[:-1], start[1:])]}


def open_corpus(browser, server) -> Page:
    page = Page(browser, server.url)
    page.wait_ready()
    page.page.locator(".bk-tab", has_text="Corpus").click()
    page.page.wait_for_selector(".av-corpus-summary", timeout=30000)
    page.wait_figure("self_mean: mean per head")
    return page


def choose(page: Page, current: str, label: str) -> None:
    """Pick ``label`` in the select whose chosen option reads ``current``."""
    select = page.page.locator("select").filter(
        has=page.page.locator("option", has_text=current)).filter(
        has=page.page.locator("option", has_text=label)).first
    select.select_option(label=label)


def count(page: Page) -> int:
    return int(page.text_of(".av-count").split()[0].replace(",", ""))


def test_contrast_grid_then_a_head_sorts_the_table_by_it(browser, server, raw):
    page = open_corpus(browser, server)
    choose(page, "none: the slice", "misclassified against correct")
    page.wait_figure("AUROC")
    page.wait_figure("self_mean: A − B")
    wrong = (raw["label"] >= 0) & (raw["label"] != raw["prediction"])
    page.wait_text(".av-corpus-summary", f"misclassified ({wrong.sum():,})")
    layer, head = 1, 2
    x, y = page.figure_point("self_mean: A − B", head, layer)
    page.page.mouse.click(x, y)
    page.wait_text(".av-sorted", f"self_mean of layer {layer} head {head}, largest first")
    values = raw["self_mean"][:, layer, head].astype(np.float64)
    top = int(np.argsort(-values, kind="stable")[0])  # the table shows every instance
    first_row = page.page.locator(".av-table-row").first
    until(lambda: first_row.inner_text().split()[0] == str(top),
          f"instance {top} on the first row", on_fail=lambda: first_row.inner_text())
    page.page.locator(".av-table-row").first.click()
    page.wait_text(".av-instance", f"instance {top:,}")  # the Instance tab is shown again
    assert page.page.locator(".bk-tab.bk-active", has_text="Instance").count() == 1
    page.wait_text(".av-seq .av-title", f"layer {layer} head {head}")
    assert page.errors() == []
    page.close()


def test_a_token_of_the_profile_filters_the_instances(browser, server, raw, tiny_store):
    page = open_corpus(browser, server)
    page.wait_figure("Tokens: highest mean")
    page.wait_figure("By token position")
    x, y = page.figure_point("Tokens: highest mean", 0.001)  # the middle bar's start
    page.page.mouse.click(x, y)
    page.page.wait_for_selector(".av-token-filter", timeout=20000)
    token = page.text_of(".av-token-filter").split()[-1]
    with h5py.File(tiny_store, "r") as f:
        off, data = f["/vocab/token/offsets"][:], f["/vocab/token/data"][:].tobytes()
        vocab = [data[off[k] : off[k + 1]].decode() for k in range(len(off) - 1)]
    want = sum(vocab.index(token) in ids for ids in raw["ids"])
    until(lambda: count(page) == want, f"{want} instances holding {token!r}")
    page.page.get_by_text("× any token").click()
    until(lambda: count(page) == len(raw["ids"]), "every instance again")
    assert page.errors() == []
    page.close()


def test_a_confusion_cell_sets_the_filter(browser, server, raw):
    page = open_corpus(browser, server)
    page.wait_figure("Confusion")
    x, y = page.figure_point("Confusion", 1, 2)  # gold 0 (top row of 3), predicted 1
    page.page.mouse.click(x, y)
    want = int(((raw["label"] == 0) & (raw["prediction"] == 1)).sum())
    until(lambda: count(page) == want, f"{want} instances of the cell")
    page.wait_text(".av-corpus-summary", f"{want:,}</b>".replace("</b>", ""))
    assert page.errors() == []
    page.close()
