"""The relations view, the word-level toggle and the exports in headless Chromium, on the
tiny store. Expected values are computed here from transformers' eager maps (tests/
test_relations.py: reference) and from the store file with h5py."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import h5py
import numpy as np
import pytest

from tests.helpers.browser import FIND_FIGURE, Page
from tests.helpers.raw import counts
from tests.helpers.reference import reference
from tests.helpers.served import Server
from tests.helpers.waiting import until

RASTER = "Token x token"


@pytest.fixture(scope="module")
def wrong(tiny_store):
    """A misclassified instance of at least 20 tokens: its index and token ids."""
    label, pred, tokens = counts(tiny_store)
    k = next(i for i in range(len(label))
             if label[i] >= 0 and label[i] != pred[i] and len(tokens[i]) >= 20)
    with h5py.File(tiny_store, "r") as f:
        start = f["/instances/token_start"][:]
        ids = f["/tokens/id"][start[k]:start[k + 1]]
    return k, ids, tokens[k]


# a page script: the text's token spans, found inside every (nested) shadow root
TEXT_SPANS = """() => {
  const out = [];
  const walk = (root) => {
    root.querySelectorAll('.av-text .av-tok').forEach(e => out.push(e));
    root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) walk(e.shadowRoot); });
  };
  walk(document);
  return out.map(s => [Number(s.dataset.pos), s.textContent, s.style.backgroundColor]);
}"""


def alphas(page) -> dict[int, float]:
    """Token position -> the alpha of its background in the text."""
    out = {}
    for pos, _, color in page.page.evaluate(TEXT_SPANS):
        m = re.match(r"rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)", color)
        out[pos] = float(m.group(4)) if m.group(4) is not None else 1.0
    return out


def shows(page, want: dict[int, float]) -> bool:
    """The text's colours are ``want`` (every token with characters has a span; the browser
    keeps an alpha to two decimals)."""
    got = alphas(page)
    return len(got) >= len(want) - 2 and all(abs(a - want[p]) < 6e-3 for p, a in got.items())


def expected_alphas(values: np.ndarray, leave_out: int) -> dict[int, float]:
    top = np.delete(values, leave_out).max()
    return {i: float(np.clip(v / top, 0, 1)) for i, v in enumerate(values)}


def open_relations(page, k: int) -> None:
    page.wait_ready()
    page.wait_text(".av-instance", f"instance {k} ")
    page.page.locator(".bk-tab", has_text="Relations").click()
    page.wait_text(".av-rel-status", "matches the store (max difference")


def test_relations_draw_check_the_store_and_tapping_recolours_the_text(
        browser, server, tiny_model, wrong):
    k, ids, tokens = wrong
    n = len(tokens)
    maps, roll, _, _, _ = reference(tiny_model, ids)
    mean = maps[-1].mean(axis=0)  # the last layer, every head shown
    page = Page(browser, server.url + f"?instance={k}", height=1500)
    open_relations(page, k)
    status = page.text_of(".av-rel-status")
    assert re.search(r"matches the store \(max difference (\d(e-\d+)?|0\.\d+)\)", status), status
    page.wait_figure(RASTER)
    raster = next(f for f in page.figures() if f["title"].startswith(RASTER))
    assert raster["xend"] == n - 0.5
    assert [raster["ticks"][str(i)] for i in range(3)] == tokens[:3]
    # hovering a row marks its token in the text and in the heatmap's data
    page.page.mouse.move(5, 5)
    x, y = page.figure_point(RASTER, 1, n - 1 - 6)
    page.page.mouse.move(x, y)
    page.page.mouse.move(x + 1, y)
    page.wait_text(".av-col.av-marked .av-label", tokens[6])
    # tapping row 6 colours the text by what token 6 gives
    page.page.mouse.click(x, y)
    page.wait_text(".av-seq .av-title", f"the attention “{tokens[6]}” gives")
    want = expected_alphas(mean[6], 6)
    until(lambda: shows(page, want), "the text shows row 6")
    # ... or what it receives
    page.page.locator(".bk-btn", has_text="receives (its column)").click()
    page.wait_text(".av-seq .av-title", f"the attention “{tokens[6]}” receives")
    want = expected_alphas(mean[:, 6], 6)
    until(lambda: shows(page, want), "the text shows column 6")
    # rollout colours the text
    page.page.locator(".bk-panel-models-widgets-CustomSelect",
                      has_text="colour the text by a relation").locator("select").select_option(
        label="rollout")
    page.wait_text(".av-seq .av-title", "attention rollout from [CLS]")
    want = expected_alphas(roll, 0)
    until(lambda: shows(page, want), "the text shows the rollout")
    # the rollout row above the heads in the heatmap
    page.page.locator(".bk-tab", has_text="Heads x tokens").click()
    page.wait_figure("Self-attention")
    heat = next(f for f in page.figures() if f["title"].startswith("Self-attention"))
    assert "token scores" in heat["title"]
    assert page.errors() == []
    page.close()


def test_another_selection_redraws_the_raster_in_place(browser, server, tiny_store,
                                                      wrong):
    k, _, _ = wrong
    _, _, tokens = counts(tiny_store)
    other = next(i for i in range(len(tokens)) if len(tokens[i]) != len(tokens[k]))
    page = Page(browser, server.url + f"?instance={k}", height=1500)
    open_relations(page, k)
    page.wait_figure(RASTER)
    page.page.evaluate(f"""() => {{ window.__raster = ({FIND_FIGURE})('{RASTER}').model; }}""")
    page.page.locator(".av-table-row").nth(other).click()
    page.wait_text(".av-instance", f"instance {other} ")
    page.wait_figure_xend(RASTER, len(tokens[other]) - 0.5)
    assert page.page.evaluate(f"() => ({FIND_FIGURE})('{RASTER}').model === window.__raster")
    page.wait_text(".av-rel-status", "matches the store")
    assert page.errors() == []
    page.close()




def test_words_instead_of_tokens_everywhere(browser, server, tiny_store):
    from attviz.analysis.words import unit_strings, word_grouping
    from attviz.store import open_store

    with open_store(tiny_store) as s:
        k = next(i for i in range(s.n_instances)
                 if len(word_grouping(s.read_instance(i).spans,
                                      s.read_instance(i).special).first) < len(
                     s.read_instance(i).tokens))
        inst = s.read_instance(k)
    g = word_grouping(inst.spans, inst.special)
    words = unit_strings(inst.tokens, inst.spans, inst.text, g)
    page = Page(browser, server.url + f"?instance={k}")
    page.wait_ready()
    page.wait_text(".av-instance", f"instance {k} ")
    page.page.locator(".bk-Checkbox", has_text="words instead of tokens").locator(
        "input[type=checkbox]").check()
    until(lambda: page.tokens() == words, "the token grid shows words")
    page.wait_figure_xend("Self-attention", len(words) - 0.5)
    heat = next(f for f in page.figures() if f["title"].startswith("Self-attention"))
    assert [heat["ticks"][str(i)] for i in range(3)] == words[:3]
    assert page.page.locator(".av-text .av-tok").count() == sum(
        1 for s in g.first if not inst.special[s])
    assert page.errors() == []
    page.close()


def test_plots_save_svg_and_the_coloured_text_saves_as_svg_and_html(browser, server,
                                                                   tiny_store):
    _, _, tokens = counts(tiny_store)
    page = Page(browser, server.url + "?instance=0")
    page.wait_ready()
    page.wait_figure("Self-attention")
    assert page.page.get_by_title("Save as SVG").count() >= 1
    with page.page.expect_download() as d:
        page.page.evaluate(f"""() => {{
          const view = ({FIND_FIGURE})('Self-attention');
          const tool = view.model.toolbar.tools.find(t => t.description === 'Save as SVG');
          tool.callback.execute(tool);
        }}""")
    svg = open(d.value.path(), encoding="utf-8").read()
    assert d.value.suggested_filename.endswith(".svg")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert any("Self-attention, layer" in (t.text or "") for t in root.iter() if
               t.tag.endswith("text"))
    # the coloured text: SVG laid out like the page, HTML with the same colours
    spans = [(text, color) for _, text, color in page.page.evaluate(TEXT_SPANS)]
    assert len(spans) > 3
    with page.page.expect_download() as d:
        page.page.locator(".av-export[data-kind=svg]").click()
    assert d.value.suggested_filename == "instance-0.svg"
    root = ET.fromstring(open(d.value.path(), encoding="utf-8").read())
    texts = "".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    for word, _ in spans:
        assert word in texts
    fills = [r.get("fill") for r in root.iter() if r.tag.endswith("rect")
             and r.get("class") == "av-tok"]
    assert fills == [c for _, c in spans]
    with page.page.expect_download() as d:
        page.page.locator(".av-export[data-kind=html]").click()
    html = open(d.value.path(), encoding="utf-8").read()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    for word, color in spans:
        assert f'style="background-color: {color};"' in html and word in html
    assert page.errors() == []
    page.close()


def test_relations_of_a_hostile_corpus_show_its_strings_as_text(browser, hostile_root):
    s = Server("--root", str(hostile_root), "--store", str(hostile_root / "xss.h5"))
    try:
        page = Page(browser, s.url + "?store=xss.h5&instance=0", height=1500)
        page.wait_ready()
        page.page.locator(".bk-tab", has_text="Relations").click()
        page.wait_text(".av-rel-status", "matches the store")
        page.page.locator(".bk-panel-models-widgets-CustomSelect",
                          has_text="colour the text by a relation").locator(
            "select").select_option(label="gradient-weighted rollout")
        # the class named in the title is a label name with markup in it, shown as text
        title = page.wait_text(".av-seq .av-title", "gradient-weighted rollout")
        assert "for class" in title and ("<i>calm</i>" in title or "<img" in title)
        page.wait_figure(RASTER)
        x, y = page.figure_point(RASTER, 3, 2)
        page.page.mouse.move(x, y)
        page.page.mouse.click(x, y)
        page.wait_text(".av-seq .av-title", "the attention")
        assert page.page.evaluate("() => window.__xss === undefined")
        assert page.page.locator("img[src=x], img[src=y]").count() == 0
        assert page.dialogs == [] and page.errors() == []
        page.close()
    finally:
        s.stop()
