"""Switching heads off in headless Chromium: cells of the layers x heads view toggled for the
selected instance, and the misclassified slice run with heads off, then listed by the
sidebar's "prediction changed by the ablation" filter. Expected values come from the
notebook API (the store's model run here)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.browser import Page
from tests.helpers.served import Server
from tests.helpers.waiting import until

ALL = [(layer, h) for layer in range(2) for h in range(4)]


@pytest.fixture(scope="module")
def served(ablation_store):
    s = Server("--store", str(ablation_store))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def corpus(ablation_store):
    import attviz

    with attviz.open(ablation_store) as c:
        yield c


def count(page: Page) -> int:
    return int(page.text_of(".av-count").split()[0].replace(",", ""))


def test_cells_toggle_heads_and_the_new_probabilities_show(browser, served, corpus):
    page = Page(browser, served.url)
    page.wait_ready()
    page.page.locator(".bk-tab", has_text="Layers x heads").click()
    title = "Mean self-attention per layer and head"
    page.wait_figure(title)
    page.page.locator(".bk-Checkbox", has_text="switches the head off").locator(
        "input[type=checkbox]").check()
    page.wait_figure(f"{title} (click: switch off")
    x, y = page.figure_point(title, 2, 1)  # head 2 of layer 1
    page.page.mouse.click(x, y)
    page.wait_text(".av-ablation", "Switched off: 1.2")
    page.wait_text(".av-ablation", "Prediction", timeout=60)
    k = int(page.text_of(".av-instance").split()[1].replace(",", ""))
    p = corpus.ablate(k, [(1, 2)])[0]
    assert f"{p.max():.4f}" in page.text_of(".av-ablation-table")
    page.page.mouse.click(*page.figure_point(title, 2, 1))  # on again (the page scrolled)
    page.wait_text(".av-ablation", "No head is switched off")
    page.page.locator("button", has_text="all heads of layer").click()
    page.wait_text(".av-ablation", "Switched off: 1.0, 1.1, 1.2, 1.3")
    p = corpus.ablate(k, [(1, h) for h in range(4)])[0]
    page.wait_text(".av-ablation-table", f"{p.max():.4f}", timeout=60)
    assert page.errors() == []
    page.close()


def test_the_slice_with_heads_off_and_the_changed_filter(browser, served, corpus):
    cols = corpus.store.columns
    wrong = np.flatnonzero((cols.label >= 0) & (cols.label != cols.prediction))
    probs = corpus.ablate(wrong, ALL)
    changed = wrong[probs.argmax(1) != cols.prediction[wrong]]
    fixed = int((probs.argmax(1) == cols.label[wrong]).sum())
    assert len(changed)  # every head off: one prediction for all

    page = Page(browser, served.url)
    page.wait_ready()
    page.page.locator(".bk-Checkbox", has_text="misclassified only").locator(
        "input[type=checkbox]").check()
    page.wait_text(".av-count", f"{len(wrong):,} of")
    page.page.locator(".bk-tab", has_text="Corpus").click()
    page.page.wait_for_selector(".av-slice-ablation", timeout=30000)
    heads = page.page.locator(".av-heads-off input")
    heads.fill("0.0, 0.1, 0.2, 0.3, 1.0, 1.1, 1.2, 1.3")
    heads.press("Enter")
    page.wait_text(".av-slice-ablation", "runs all of them")
    page.page.locator(".av-run-slice button").click()
    page.wait_text(".av-slice-ablation", "prediction(s) changed", timeout=120)
    summary = page.text_of(".av-slice-ablation")
    assert f"{len(changed):,} prediction(s) changed" in summary
    assert f"{fixed:,} of {len(wrong):,}" in summary  # errors now correct
    assert "accuracy 0.000 → " in summary
    page.wait_figure("Confusion with the heads off")
    page.page.locator(".av-show-changed button").click()
    until(lambda: count(page) == len(changed), f"{len(changed)} changed predictions",
          on_fail=lambda: page.text_of(".av-count"))
    box = page.page.locator(".bk-Checkbox", has_text="prediction changed by the ablation")
    until(lambda: box.locator("input[type=checkbox]").is_checked(), "the filter's box ticked")
    assert "ablation" not in page.page.url  # a session's result is not in the address
    assert page.errors() == []
    page.close()
