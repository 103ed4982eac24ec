"""Headless Chromium (Debian's) driven by Playwright: its flags, a page of the explorer with
its console messages, and page scripts that find Bokeh figures."""

from __future__ import annotations

import json

from tests.helpers.ws_frames import Frames

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

# corpus strings that would run script if shown as HTML
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


class Page:
    """A page of the app with its console messages."""

    def __init__(self, browser, url: str, height: int = 1300, **options) -> None:
        """``options``: more of Playwright's page options (e.g. ignore_https_errors)."""
        self.page = browser.new_page(viewport={"width": 1500, "height": height}, **options)
        self.messages: list[tuple[str, str]] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.messages.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.messages.append(("pageerror", str(e))))

        def on_dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", on_dialog)
        self.frames = Frames(self.page)
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
        """Console errors and page errors, and the server's messages that reached the page
        after a message it made later (see tests/helpers/ws_frames.py)."""
        late = self.frames.late()
        order = [("late messages", f"{late} in {self.frames.patches()}")] if late else []
        return [m for m in self.messages if m[0] in ("error", "pageerror")] + order

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
