"""The page gets the server's changes in the order the server made them.

Panel writes a widget's or pane's change at once; a change made to a Bokeh model directly
went through Bokeh's session, which writes it after the callback. A message made later
could so reach the page first, and when it named a model that the earlier one defined, the
page refused it ("reference pNNNN isn't known"). The server numbers its messages as it
makes them (msgid), so the page must receive them in increasing order.
"""

from __future__ import annotations

import numpy as np

from tests.helpers.raw import counts
from tests.helpers.ws_frames import Frames


def test_changes_reach_the_page_in_the_order_they_were_made(browser, server, tiny_store):
    """Filters that move the selection between instances (the views then show the new one
    in place: new data in the same figures), and a row picked in the table."""
    from playwright.sync_api import expect

    from attviz.store import Store

    label, pred, _ = counts(tiny_store)
    with Store(tiny_store) as s:
        names = s.label_names
    total = len(label)
    page = browser.new_page(viewport={"width": 1500, "height": 1300})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    frames = Frames(page)
    page.goto(server.url)
    count, instance = page.locator(".av-count").first, page.locator(".av-instance").first
    expect(count).to_contain_text(f"{total:,} of {total:,} instances", timeout=60_000)
    page.locator(".av-table-row").first.wait_for()
    cells = page.locator(".bk-panel-models-widgets-CustomSelect",
                        has_text="confusion cell").locator("select")
    shown = []
    # the most common prediction, and a gold label it is wrong for
    common = int(np.bincount(pred).argmax())
    other = next(k for k in range(len(names))
                 if k != common and ((label == k) & (pred == common)).any())
    # correct, wrong, correct: the instance changes
    for g, p in [(common, common), (other, common), (common, common)]:
        n = int(((label == g) & (pred == p)).sum())
        assert n > 0, (g, p)
        cells.select_option(label=f"{names[g]} → {names[p]}")
        expect(count).to_contain_text(f"{n:,} of {total:,} instances")
        shown.append(instance.inner_text())
    page.locator(".av-table-row").nth(1).click()
    expect(instance).not_to_have_text(shown[-1])
    got, late = frames.patches(), frames.late()
    page.close()
    assert len(set(shown)) == 2, shown  # the filters moved the selection
    assert len(got) > 3
    assert late == [], f"messages made earlier came after later ones: {late} in {got}"
    assert errors == [], f"{errors}\n{frames.explain(errors)}"
