"""The served app in headless Chromium (Debian's), driven by Playwright.

Counts and values are computed independently from the store files with h5py.
"""

from __future__ import annotations

import h5py
import pytest

from tests.helpers.browser import XSS_ID, XSS_LABELS, Page
from tests.helpers.raw import counts
from tests.helpers.served import Server
from tests.helpers.stores import ODD_LABEL_NAMES
from tests.helpers.waiting import until


def test_page_renders_without_console_errors(browser, server):
    page = Page(browser, server.url)
    page.wait_ready()
    page.wait_figure("Self-attention")
    page.page.wait_for_selector(".av-table-row")
    assert page.errors() == []
    body = page.text_of(".av-count")
    assert " of " in body
    page.close()


def test_misclassified_only_shows_the_count_from_the_store(browser, server, tiny_store):
    """By its box, and by its words: people click the words beside a checkbox too."""
    label, pred, _ = counts(tiny_store)
    wrong = int(((label >= 0) & (label != pred)).sum())
    total = len(label)
    page = Page(browser, server.url)
    page.wait_ready()
    page.wait_text(".av-count", f"{total:,} of {total:,} instances")
    checkbox = page.page.locator(".bk-Checkbox", has_text="misclassified only")
    box = checkbox.locator("input[type=checkbox]")
    box.check()
    page.wait_text(".av-count", f"{wrong:,} of {total:,} instances")
    words = checkbox.locator(".bk-label").bounding_box()
    for shown, checked in ((total, False), (wrong, True)):
        page.page.mouse.click(words["x"] + words["width"] / 2, words["y"] + words["height"] / 2)
        page.wait_text(".av-count", f"{shown:,} of {total:,} instances")
        assert box.is_checked() == checked
    assert page.errors() == []
    page.close()


def test_selecting_an_instance_updates_tokens_heatmap_and_probabilities(browser, server,
                                                                        tiny_store):
    label, pred, tokens = counts(tiny_store)
    page = Page(browser, server.url)
    page.wait_ready()
    page.show_series()
    page.wait_text(".av-instance", "instance 0 ")
    assert page.tokens() == tokens[0]
    row = page.page.locator(".av-table-row").nth(5)
    row.click()
    page.wait_text(".av-instance", "instance 5 ")
    until(lambda: page.tokens() == tokens[5], "instance 5's tokens are shown")
    assert page.tokens() == tokens[5]
    heat = next(f for f in page.figures() if f["title"].startswith("Self-attention"))
    assert [heat["ticks"][str(i)] for i in sorted(map(int, heat["ticks"]))][:3] == tokens[5][:3]
    with h5py.File(tiny_store, "r") as f:
        names = [x.decode() if isinstance(x, bytes) else x for x in f.attrs["label_names"]]
        probs = f["/instances/probabilities"][5]
    verdict = page.wait_text(".av-verdict", f"({probs.max():.3f})")
    assert f"predicted {names[pred[5]]}" in verdict
    # next / previous buttons step through the filtered table
    page.page.get_by_role("button", name="next ›").click()
    page.wait_text(".av-instance", "instance 6 ")
    # the plots show instance 6 after the other tab was shown and this one rebuilt
    assert tokens[6][:3] != tokens[5][:3]
    page.page.locator(".bk-tab", has_text="Layers x heads").click()
    page.wait_figure("Mean self")
    page.page.locator(".bk-tab", has_text="Heads x tokens").click()

    def token_plots():
        return [f for f in page.figures() if f["title"].startswith(("Self-attention", "mean"))]

    until(lambda: token_plots() and all(f["xend"] == len(tokens[6]) - 0.5
                                        for f in token_plots()),
          "the token plots show instance 6")
    figs = token_plots()
    shown = [f for f in figs if f["title"].startswith("Self-attention")]
    assert len(shown) >= 1 and len(figs) > len(shown)  # the series view is checked too
    for heat in shown:
        assert [heat["ticks"][str(i)] for i in sorted(map(int, heat["ticks"]))][:3] == tokens[6][:3]
    assert all(f["xend"] == len(tokens[6]) - 0.5 for f in figs)
    assert page.errors() == []
    page.close()


def test_hover_links_text_heatmap_and_series(browser, server, tiny_store):
    _, _, tokens = counts(tiny_store)
    page = Page(browser, server.url)
    page.wait_ready()
    page.show_series()
    # text -> heatmap and series: both draw a marker at the token
    target = page.page.locator(".av-text .av-tok[data-pos='4']")
    target.hover()
    until(lambda: sum(4 in f["spans"] for f in page.figures()) >= 2,
          "the heatmap and the series mark token 4")
    spans = [f["spans"] for f in page.figures()]
    assert sum(4 in s for s in spans) >= 2, spans
    assert page.page.locator(".av-col.av-marked").get_attribute("data-pos") == "4"
    # heatmap -> text: hovering token 7 in the heatmap marks it in the text and the series.
    # Park the pointer on the header first: scrolling to the heatmap must not slide text
    # tokens under a resting pointer.
    page.page.mouse.move(5, 5)
    x, y = page.heatmap_point(7)
    page.page.mouse.move(x, y)
    page.page.mouse.move(x + 1, y)
    marked = page.page.locator(".av-tok.av-marked")
    until(lambda: marked.count() and marked.first.get_attribute("data-pos") == "7",
          "the text marks token 7")
    assert page.page.locator(".av-tok.av-marked").first.get_attribute("data-pos") == "7"
    assert sum(7 in f["spans"] for f in page.figures()) >= 2
    # tap works too
    x, y = page.heatmap_point(9)
    page.page.mouse.click(x, y)
    page.wait_text(".av-col.av-marked .av-label", tokens[0][9])
    # series -> text: the pointer over token 12 of the series view marks it
    page.page.mouse.move(5, 5)
    x, y = page.figure_point("mean over", 12)
    page.page.mouse.move(x, y)
    page.page.mouse.move(x + 1, y)
    page.wait_text(".av-col.av-marked .av-label", tokens[0][12])
    assert page.errors() == []
    page.close()


def test_series_view_is_built_when_scrolled_into_view(browser, server, tiny_store):
    _, _, tokens = counts(tiny_store)
    page = Page(browser, server.url + "?instance=3", height=800)
    page.wait_ready()
    page.wait_text(".av-instance", "instance 3 ")
    # the placeholder's own observer has looked (and found it off screen: nothing was sent)
    page.page.wait_for_selector(".av-lazy[data-checked]", timeout=20000)
    assert page.page.locator(".av-lazy").count() == 1
    box = page.page.locator(".av-lazy").bounding_box()
    assert box is not None and box["y"] > page.page.viewport_size["height"]  # below the fold
    assert [f for f in page.figures() if f["title"].startswith("mean")] == []
    page.show_series()
    series = [f for f in page.figures() if f["title"].startswith("mean")]
    assert len(series) == 1 and series[0]["xend"] == len(tokens[3]) - 0.5
    assert page.page.locator(".av-lazy").count() == 0
    assert page.errors() == []
    page.close()


def test_the_mouse_wheel_over_a_plot_scrolls_the_page(browser, server):
    page = Page(browser, server.url, height=800)
    page.wait_ready()
    page.wait_figure("Self-attention")
    x, y = page.heatmap_point(3)  # in the middle of the window
    before = page.figure_place("Self-attention")
    page.page.mouse.move(x, y)
    page.page.mouse.wheel(0, 150)
    # the page scrolled: the heatmap moved up
    page.wait_figure_above("Self-attention", before["top"] - 100)
    after = page.figure_place("Self-attention")
    assert after["top"] <= before["top"] - 100, (before, after)
    assert (after["xstart"], after["xend"]) == (before["xstart"], before["xend"])  # no zoom
    assert page.errors() == []
    page.close()


def test_the_token_grid_follows_a_short_text_and_switching_never_moves_the_plots(
        browser, server, tiny_store):
    _, _, tokens = counts(tiny_store)
    lengths = [len(t) for t in tokens]
    short = min(k for k in range(len(tokens) - 1) if lengths[k + 1] >= 2 * lengths[k])
    page = Page(browser, server.url + f"?instance={short}")
    page.wait_ready()
    page.wait_text(".av-instance", f"instance {short} ")
    page.wait_figure("Self-attention")
    until(lambda: page.tokens() == tokens[short], "the short instance's tokens are shown")
    last = page.page.locator(".av-text .av-tok").last.bounding_box()  # the text's last line
    grid = page.page.locator(".av-grid").bounding_box()
    gap = grid["y"] - (last["y"] + last["height"])
    assert 0 <= gap < 30, (last, grid)
    top = page.figure_place("Self-attention")["top"]
    page.page.get_by_role("button", name="next ›").click()
    page.wait_text(".av-instance", f"instance {short + 1} ")
    page.wait_figure_xend("Self-attention", lengths[short + 1] - 0.5)
    assert page.tokens() == tokens[short + 1]
    assert page.figure_place("Self-attention")["top"] == top
    assert page.errors() == []
    page.close()


def test_clicking_the_overview_selects_layer_and_head(browser, server):
    page = Page(browser, server.url)
    page.wait_ready()
    page.page.locator(".bk-tab", has_text="Layers x heads").click()
    page.wait_figure("Mean self")
    x, y = page.figure_point("Mean self", 2, 0)  # head 2 of layer 0
    page.page.mouse.click(x, y)
    page.wait_text(".av-seq .av-title", "layer 0 head 2")
    assert page.errors() == []
    page.close()


@pytest.fixture(scope="module")
def hostile_server(hostile_root):
    s = Server("--root", str(hostile_root), "--store", str(hostile_root / "xss.h5"))
    yield s
    s.stop()


def test_corpus_strings_are_shown_as_text_and_no_script_runs(browser, hostile_server):
    page = Page(browser, hostile_server.url + "?store=xss.h5&instance=0")
    page.wait_ready()
    page.wait_text(".av-text", "<img src=x")
    # every part that shows corpus strings has rendered
    page.wait_text(".av-instance", XSS_ID)
    page.wait_text(".av-probs", XSS_LABELS[1])
    page.wait_text(".av-table", XSS_ID)
    text = page.text_of(".av-text")
    assert ('<img src=x onerror="window.__xss=1">' in text
            and "<script>window.__xss=2</script>" in text)
    assert XSS_ID in page.text_of(".av-instance")
    assert XSS_LABELS[1] in page.text_of(".av-probs")
    assert XSS_ID in page.text_of(".av-table")
    # hover everything that could carry an injected handler
    page.page.locator(".av-instance").hover()
    page.page.locator(".av-table-row").first.hover()
    page.page.locator(".av-table-cell").nth(1).hover()
    hovered = page.page.locator(".av-tok").all()[:5]
    for tok in hovered:
        tok.hover()
    # the server has answered the last hover (the heatmap marks that token): every event
    # the page sent before it has been handled
    last = int(hovered[-1].get_attribute("data-pos"))
    until(lambda: any(last in f["spans"] for f in page.figures()),
          f"the heatmap marks the hovered token {last}")
    ran = page.page.evaluate("() => window.__xss === undefined ? null : window.__xss")
    assert ran is None, f"injected script {ran} ran"
    assert page.dialogs == []
    assert page.page.locator("img[src=x], img[src=y]").count() == 0
    assert page.page.locator(".av-table b, .av-probs i, .av-instance b[onmouseover]").count() == 0
    assert page.errors() == []
    page.close()


@pytest.mark.parametrize("name,words", [("broken.h5", "truncated or damaged"),
                                        ("future.h5", "format 7.0")])
def test_a_bad_store_shows_one_message_and_the_server_keeps_serving(browser, hostile_server,
                                                                    name, words):
    bad = Page(browser, hostile_server.url + f"?store={name}")
    bad.page.wait_for_selector(".av-error", timeout=60000)
    msg = bad.wait_text(".av-error", words)
    assert name in msg and "Traceback" not in msg
    good = Page(browser, hostile_server.url + "?store=good.h5")
    good.wait_ready()
    assert " of " in good.text_of(".av-count")
    outside = Page(browser, hostile_server.url + "?store=../../etc/passwd")
    outside.page.wait_for_selector(".av-error", timeout=60000)
    assert "not inside the store folder" in outside.wait_text(".av-error", "refused")
    for p in (bad, good, outside):
        p.close()


def test_a_confusion_cell_of_odd_label_names_is_picked_by_its_label(browser, hostile_server,
                                                                     odd_label_store):
    label, pred, _ = counts(odd_label_store)
    total = len(label)
    page = Page(browser, hostile_server.url + "?store=odd.h5")
    page.wait_ready()
    page.wait_text(".av-count", f"{total:,} of {total:,} instances")
    cells = page.page.locator(".bk-panel-models-widgets-CustomSelect",
                              has_text="confusion cell").locator("select")
    colour = page.page.locator(".bk-panel-models-widgets-CustomSelect",
                               has_text="colour the text by").locator("select")
    shown = "e => e.options[e.selectedIndex] ? e.options[e.selectedIndex].text : ''"
    assert cells.evaluate(shown) == "any" and colour.evaluate(shown) == "aggregate"
    # "a → b" -> "3" and "a" -> "b → 3" both read "a → b → 3" without the quotes
    assert ODD_LABEL_NAMES[0] == "a → b" and ODD_LABEL_NAMES[4] == "b → 3"
    cells.select_option(label="“a → b” → 3")
    want = int(((label == 0) & (pred == 1)).sum())
    page.wait_text(".av-count", f"{want:,} of {total:,} instances")
    cells.select_option(label="a → “b → 3”")
    want = int(((label == 3) & (pred == 4)).sum())
    page.wait_text(".av-count", f"{want:,} of {total:,} instances")
    assert page.errors() == []
    page.close()
