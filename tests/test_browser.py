"""The served app in headless Chromium (Debian's), driven by Playwright.

Counts and values are computed independently from the store files with h5py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import h5py
import pandas as pd
import pytest

from .conftest import ODD_LABEL_NAMES, ROOT

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
XSS_TEXT = '<img src=x onerror="window.__xss=1"> and <script>window.__xss=2</script> £5 & co'
XSS_ID = '<b onmouseover="window.__xss=3">doc</b>'
XSS_LABELS = ["<i>calm</i>", 'storm<img src=y onerror="window.__xss=4">']


# a page script: the Bokeh view of the figure whose title starts with ``title`` (or null)
FIND_FIGURE = """(title) => {
  const seen = new Set();
  let found = null;
  function walk(v) {
    if (!v || seen.has(v) || found) return; seen.add(v);
    const m = v.model;
    if (m && m.type === 'Figure' && m.title && m.title.text.startsWith(title)) {
      found = v; return;
    }
    for (const c of (v.child_views || [])) walk(c);
  }
  for (const v of Object.values(Bokeh.index)) walk(v);
  return found;
}"""


def until(condition, what: str, timeout: float = 20, on_fail=None) -> None:
    """Wait until ``condition()`` holds (checked every 0.05 s); fail after ``timeout`` s,
    saying what ``on_fail()`` returns then."""
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            seen = f"; last seen: {on_fail()!r}" if on_fail else ""
            raise AssertionError(f"not within {timeout} s: {what}{seen}")
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`panel serve apps/` in a subprocess, stopped at the end."""

    def __init__(self, *args: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/apps"
        cmd = [str(Path(sys.executable).parent / "panel"), "serve", str(ROOT / "apps"),
               "--port", str(self.port), "--address", "127.0.0.1",
               "--allow-websocket-origin", f"127.0.0.1:{self.port}", "--args", *args]
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"attviz-serve-{self.port}.log",
                        "w+")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        self.stop()
        self.log.seek(0)
        raise RuntimeError("panel serve did not start:\n" + self.log.read()[-3000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class Page:
    """A page of the app with its console messages."""

    def __init__(self, browser, url: str, height: int = 1300) -> None:
        self.page = browser.new_page(viewport={"width": 1500, "height": height})
        self.messages: list[tuple[str, str]] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.messages.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.messages.append(("pageerror", str(e))))

        def on_dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", on_dialog)
        self.page.goto(url)

    def wait_ready(self) -> None:
        """Wait until the page has rendered: the text, a plot, and Bokeh's report that every
        root of the document has finished its first render."""
        self.page.wait_for_selector(".av-tok", timeout=60000)
        self.page.wait_for_selector("canvas", timeout=60000)
        self.page.wait_for_function(
            "() => Bokeh.documents.length > 0 && Bokeh.documents.every(d => d.is_idle)",
            timeout=60000)

    def wait_figure(self, title: str) -> None:
        """Wait until the page shows a figure whose title starts with ``title``, laid out."""
        self.page.wait_for_function(f"""(title) => {{
          const found = ({FIND_FIGURE})(title);
          return found !== null && found.canvas_view.el.isConnected && found.frame.bbox.width > 0;
        }}""", arg=title, timeout=30000)

    def show_series(self) -> None:
        """Scroll the series view's placeholder into view (if it was not on screen at load,
        and so not built yet) and wait for its figure."""
        from playwright.sync_api import Error

        lazy = self.page.locator(".av-lazy")
        if lazy.count():
            try:
                lazy.scroll_into_view_if_needed(timeout=5000)
            except Error:  # replaced meanwhile: it was on screen at load after all
                pass
        self.wait_figure("mean")

    def errors(self) -> list[tuple[str, str]]:
        return [m for m in self.messages if m[0] in ("error", "pageerror")]

    def text_of(self, selector: str) -> str:
        return self.page.locator(selector).first.inner_text()

    def wait_text(self, selector: str, contains: str, timeout: float = 20) -> str:
        """Wait until the first ``selector`` contains ``contains``; its text."""
        from playwright.sync_api import expect

        expect(self.page.locator(selector).first).to_contain_text(
            contains, use_inner_text=True, timeout=timeout * 1000)
        return self.text_of(selector)

    def tokens(self) -> list[str]:
        return self.page.locator(".av-label").all_inner_texts()

    def plot_state(self) -> dict:
        """Tick labels of the heads x tokens heatmap and marker (Span) locations, from Bokeh."""
        return self.page.evaluate("""() => {
          const figures = [];
          for (const d of Bokeh.documents) for (const m of d._all_models.values()) {
            if (m.type === 'Figure') {
              const title = m.title && m.title.text ? m.title.text : '';
              const axis = (m.below || []).find(a => a.major_label_overrides !== undefined);
              const ticks = axis ? axis.major_label_overrides : null;
              const spans = (m.center || []).filter(r => r.type === 'Span' && r.visible)
                                            .map(r => r.location);
              const xend = m.x_range ? m.x_range.end : null;
              const labels = ticks ? Object.fromEntries(
                ticks.entries ? ticks.entries() : Object.entries(ticks)) : {};
              figures.push({title, ticks: labels, spans, xend});
            }
          }
          return JSON.stringify(figures);
        }""")

    def figures(self) -> list[dict]:
        return json.loads(self.plot_state())

    def figure_point(self, title: str, x: float, y: float | None = None) -> tuple[float, float]:
        """Page coordinates of data point (x, y) in the figure whose title starts with
        ``title`` (y: the middle of the plot when None), scrolled into view."""
        return tuple(self.page.evaluate(f"""([title, x, y]) => {{
          const found = ({FIND_FIGURE})(title);
          found.canvas_view.el.scrollIntoView({{block: 'center'}});
          const r = found.canvas_view.el.getBoundingClientRect();
          const box = found.frame.bbox;
          const sy = y === null ? box.top + box.height / 2 : found.frame.y_scale.compute(y);
          return [r.left + found.frame.x_scale.compute(x), r.top + sy];
        }}""", [title, x, y]))

    def figure_place(self, title: str) -> dict:
        """Where the figure whose title starts with ``title`` is in the window (top of its
        canvas) and its x range in the browser."""
        return self.page.evaluate(f"""(title) => {{
          const found = ({FIND_FIGURE})(title);
          const x = found.model.x_range;
          return {{top: found.canvas_view.el.getBoundingClientRect().top,
                   xstart: x.start, xend: x.end}};
        }}""", title)

    def wait_figure_above(self, title: str, top: float) -> None:
        """Wait until the canvas of the figure ``title`` starts above ``top`` in the window."""
        self.page.wait_for_function(f"""([title, top]) => {{
          const found = ({FIND_FIGURE})(title);
          return found !== null && found.canvas_view.el.getBoundingClientRect().top < top;
        }}""", arg=[title, top], timeout=10000)

    def wait_figure_xend(self, title: str, xend: float) -> None:
        """Wait until the x range of the figure ``title`` ends at ``xend`` in the browser."""
        self.page.wait_for_function(f"""([title, xend]) => {{
          const found = ({FIND_FIGURE})(title);
          return found !== null && found.model.x_range.end === xend;
        }}""", arg=[title, xend], timeout=20000)

    def heatmap_point(self, index: float) -> tuple[float, float]:
        """Page coordinates of token ``index`` (shown order) in the middle of the heatmap."""
        return self.figure_point("Self-attention", index)

    def close(self) -> None:
        self.page.close()


def _counts(path):
    with h5py.File(path, "r") as f:
        label, pred = f["/instances/label"][:], f["/instances/prediction"][:]
        start = f["/instances/token_start"][:]
        ids = f["/tokens/id"][:]
        voff, vdata = f["/vocab/token/offsets"][:], f["/vocab/token/data"][:].tobytes()
    vocab = [vdata[voff[i]:voff[i + 1]].decode() for i in range(len(voff) - 1)]
    tokens = [[vocab[t] for t in ids[start[k]:start[k + 1]]] for k in range(len(label))]
    return label, pred, tokens


def test_page_renders_without_console_errors(browser, server):
    page = Page(browser, server.url)
    page.wait_ready()
    page.wait_figure("Self-attention")
    page.page.wait_for_selector(".tabulator-row")
    assert page.errors() == []
    body = page.text_of(".av-count")
    assert " of " in body
    page.close()


def test_misclassified_only_shows_the_count_from_the_store(browser, server, tiny_store):
    """By its box, and by its words: people click the words beside a checkbox too."""
    label, pred, _ = _counts(tiny_store)
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
    label, pred, tokens = _counts(tiny_store)
    page = Page(browser, server.url)
    page.wait_ready()
    page.show_series()
    page.wait_text(".av-instance", "instance 0 ")
    assert page.tokens() == tokens[0]
    row = page.page.locator(".tabulator-row").nth(5)
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
    _, _, tokens = _counts(tiny_store)
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
    _, _, tokens = _counts(tiny_store)
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
    _, _, tokens = _counts(tiny_store)
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
def hostile_root(tmp_path_factory, tiny_store, odd_label_store):
    """A folder with a store whose corpus, ids and labels carry HTML, one whose label names
    contain the cell arrow, digits and spaces, and broken stores."""
    from attviz.cli import main
    from attviz.testing import save_tiny_classifier

    root = tmp_path_factory.mktemp("hostile")
    model = save_tiny_classifier(root.parent / "hostile-model", XSS_LABELS)
    corpus = root.parent / "hostile.csv"
    pd.DataFrame({"id": [XSS_ID, "plain"], "text": [XSS_TEXT, "the match ended"],
                  "label": [XSS_LABELS[1], XSS_LABELS[0]]}).to_csv(corpus, index=False)
    assert main(["precompute", "--model", str(model), "--data", str(corpus), "--out",
                 str(root / "xss.h5"), "--label-column", "label", "--id-column", "id",
                 "--no-progress"]) == 0
    shutil.copy(tiny_store, root / "good.h5")
    shutil.copy(odd_label_store, root / "odd.h5")
    data = tiny_store.read_bytes()
    (root / "broken.h5").write_bytes(data[: len(data) // 3])
    shutil.copy(tiny_store, root / "future.h5")
    with h5py.File(root / "future.h5", "a") as f:
        f.attrs["format_version"] = "7.0"
    return root


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
    page.wait_text(".tabulator", XSS_ID)
    text = page.text_of(".av-text")
    assert ('<img src=x onerror="window.__xss=1">' in text
            and "<script>window.__xss=2</script>" in text)
    assert XSS_ID in page.text_of(".av-instance")
    assert XSS_LABELS[1] in page.text_of(".av-probs")
    assert XSS_ID in page.text_of(".tabulator")
    # hover everything that could carry an injected handler
    page.page.locator(".av-instance").hover()
    page.page.locator(".tabulator-row").first.hover()
    page.page.locator(".tabulator-cell").nth(1).hover()
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
    assert page.page.locator(".tabulator b, .av-probs i, .av-instance b[onmouseover]").count() == 0
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
    label, pred, _ = _counts(odd_label_store)
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
