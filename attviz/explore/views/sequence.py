"""AttViz's sequence view: the text coloured by one head or an aggregate, and every token
with one coloured cell per shown head of the selected layer.

Long instances (thousands of tokens) are built in blocks of 256 tokens as they near the
screen: the text first shows plain and gets its coloured token spans when scrolled to, the
token grid holds a placeholder of about the right height per block; a token marked in
another view builds its blocks at once.

All corpus strings reach the page through ``textContent``, never as HTML. The coloured text
exports as a standalone SVG or HTML file (:mod:`.textexport`); a click on a token is also
reported apart from hovering (``tapped``), for the relations view.
"""

from __future__ import annotations

import json

import numpy as np
import panel as pn
import param
from panel.custom import JSComponent

from ..state import Explorer
from ..style import head_name, intensity
from .textexport import TEXT_EXPORT_JS


class SequenceWidget(JSComponent):
    """The browser side. ``payload`` is everything drawn; ``marked`` syncs both ways."""

    payload = param.String(default="{}", doc="JSON: one string is far cheaper to sync than "
                           "nested lists that Bokeh validates item by item")
    marked = param.Integer(default=-1)
    tapped = param.Integer(default=-1, doc="the token last clicked (position), set by the "
                           "browser")

    _esm = TEXT_EXPORT_JS + """
    function rgba(hex, a) {
      const n = parseInt(hex.slice(1), 16);
      return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a.toFixed(3)})`;
    }
    const BLOCK = 256;  // tokens built at a time, when their block nears the screen
    export function render({ model, el }) {
      const root = document.createElement("div");
      root.className = "av-seq";
      el.appendChild(root);
      let tappedPos = -1;
      let blocks = [];  // {pos: Set of positions, build()} of the text and the grid
      let observers = [];
      function lazy(node, scroller, build) {
        // build() once ``node`` comes within 300 px of ``scroller``'s visible part
        const entry = { built: false, build: () => {
          if (entry.built) { return; }
          entry.built = true;
          build();
        } };
        const watch = new IntersectionObserver((seen) => {
          if (seen.some(e => e.isIntersecting)) { watch.disconnect(); entry.build(); mark(); }
        }, { root: scroller, rootMargin: "300px 0px" });
        watch.observe(node);
        observers.push(watch);
        return entry;
      }
      function draw() {
        for (const w of observers) { w.disconnect(); }
        observers = [];
        blocks = [];
        root.replaceChildren();
        const p = JSON.parse(model.payload || "{}");
        tappedPos = p.tapped === undefined ? -1 : p.tapped;
        if (!p.tokens) { return; }
        const head = document.createElement("div");
        head.className = "av-head";
        const title = document.createElement("div");
        title.className = "av-title";
        title.textContent = p.title || "";
        head.appendChild(title);
        // the text, coloured by the highlight values
        const text = document.createElement("div");
        text.className = "av-text";
        for (const [label, kind] of [["SVG", "svg"], ["HTML", "html"]]) {
          const button = document.createElement("button");
          button.className = "av-export";
          button.dataset.kind = kind;
          button.textContent = label;
          button.title = `Save the coloured text as ${label}`;
          button.addEventListener("click", () => {
            for (const b of blocks) { b.build(); }  // every token, on screen or not
            mark();
            const name = `${p.name || "text"}.${kind}`;
            if (kind === "svg") {
              av_download(name, "image/svg+xml", av_text_svg(text, p.title || ""));
            } else {
              av_download(name, "text/html", av_text_html(text, p.title || ""));
            }
          });
          head.appendChild(button);
        }
        root.appendChild(head);
        // the tokens that have characters, in text order, overlapping ones left out
        const kept = [];
        let at = 0;
        const order = p.spans.map((s, i) => [s[0], s[1], i]).filter(s => s[0] >= 0)
                             .sort((a, b) => a[0] - b[0]);
        for (const [s, e, i] of order) {
          if (s < at) { continue; }
          kept.push([s, e, i]);
          at = e;
        }
        // the text in blocks of BLOCK tokens: plain text until a block nears the screen
        const many = kept.length > BLOCK || p.tokens.length > BLOCK;
        for (let b = 0; b === 0 || b * BLOCK < kept.length; b++) {
          const mine = kept.slice(b * BLOCK, (b + 1) * BLOCK);
          const from = b === 0 ? 0 : mine[0][0];
          const next = kept[(b + 1) * BLOCK];
          const to = next ? next[0] : p.text.length;
          const span = document.createElement("span");
          span.className = "av-tblock";
          span.textContent = p.text.slice(from, to);
          text.appendChild(span);
          const build = () => {
            span.replaceChildren();
            let at = from;
            for (const [s, e, i] of mine) {
              if (s > at) { span.appendChild(document.createTextNode(p.text.slice(at, s))); }
              const tok = document.createElement("span");
              tok.className = "av-tok";
              tok.dataset.pos = p.positions[i];
              tok.textContent = p.text.slice(s, e);
              tok.style.backgroundColor = rgba(p.highlight_color, p.highlight_alpha[i]);
              tok.title = `${p.tokens[i]}: ${p.highlight[i].toPrecision(3)}`;
              span.appendChild(tok);
              at = e;
            }
            if (at < to) { span.appendChild(document.createTextNode(p.text.slice(at, to))); }
          };
          const entry = many ? lazy(span, text, build) : { built: true, build() {} };
          if (!many) { build(); }
          entry.pos = new Set(mine.map(m => p.positions[m[2]]));
          blocks.push(entry);
        }
        root.appendChild(text);
        // tokens with one cell per head, in blocks of BLOCK tokens
        const grid = document.createElement("div");
        grid.className = "av-grid";
        root.appendChild(grid);
        const width = Math.max(200, grid.clientWidth || root.clientWidth || 800);
        for (let b = 0; b * BLOCK < p.tokens.length; b++) {
          const box = document.createElement("div");
          box.className = "av-gblock";
          const lo = b * BLOCK, hi = Math.min(p.tokens.length, lo + BLOCK);
          const build = () => {
            box.style.height = "";
            for (let i = lo; i < hi; i++) {
              const col = document.createElement("div");
              col.className = "av-col";
              col.dataset.pos = p.positions[i];
              const label = document.createElement("div");
              label.className = "av-label";
              label.textContent = p.tokens[i];
              col.appendChild(label);
              for (let h = 0; h < p.heads.length; h++) {
                const cell = document.createElement("div");
                cell.className = "av-cell";
                cell.style.backgroundColor = rgba(p.colors[h], p.alpha[h][i]);
                cell.title = `${p.tokens[i]} · ${p.heads[h]}: ${p.values[h][i].toPrecision(3)}`;
                col.appendChild(cell);
              }
              box.appendChild(col);
            }
          };
          grid.appendChild(box);
          let entry = { built: true, build() {} };
          if (many) {  // a placeholder of about the height the block will take
            let w = 0;
            for (let i = lo; i < hi; i++) { w += Math.max(22, 7 * p.tokens[i].length + 4) + 2; }
            const rows = Math.ceil(w / width);
            box.style.height = `${rows * (15 + 6 * p.heads.length + 6)}px`;
            entry = lazy(box, grid, build);
          } else {
            build();
          }
          entry.pos = new Set(p.positions.slice(lo, hi));
          blocks.push(entry);
        }
        mark();
      }
      function mark() {
        for (const b of blocks) {  // a token marked in another view: build its blocks
          if (!b.built && (b.pos.has(model.marked) || b.pos.has(tappedPos))) { b.build(); }
        }
        for (const node of root.querySelectorAll("[data-pos]")) {
          node.classList.toggle("av-marked", Number(node.dataset.pos) === model.marked);
          node.classList.toggle("av-tapped", Number(node.dataset.pos) === tappedPos);
        }
      }
      function pick(event) {
        const node = event.target.closest("[data-pos]");
        if (node && Number(node.dataset.pos) !== model.marked) {
          model.marked = Number(node.dataset.pos);
        }
      }
      root.addEventListener("mouseover", pick);
      root.addEventListener("click", (event) => {
        pick(event);
        const node = event.target.closest("[data-pos]");
        if (node) {  // reported even when the same token is tapped again
          model.tapped = -1;
          model.tapped = Number(node.dataset.pos);
        }
      });
      model.on("payload", draw);
      model.on("marked", mark);
      draw();
    }
    """

    _stylesheets = ["""
    .av-seq { font-family: system-ui, sans-serif; font-size: 14px; height: 100%;
              display: flex; flex-direction: column; }
    .av-head { display: flex; align-items: baseline; gap: 6px; margin-bottom: 6px; }
    .av-title { font-weight: 600; color: #333; flex: 1 1 auto; }
    .av-export { font: 11px system-ui, sans-serif; color: #1f4e79; background: white;
                 border: 1px solid #9ab; border-radius: 4px; padding: 1px 6px; cursor: pointer; }
    .av-tapped { box-shadow: inset 0 -2px 0 #1f4e79; }
    .av-text { line-height: 1.9; margin-bottom: 10px; max-height: 230px; flex: none;
               overflow-y: auto; white-space: pre-wrap; }
    .av-tok { border-radius: 3px; padding: 1px 0; cursor: pointer; }
    .av-grid { flex: 1 1 0; min-height: 0; overflow-y: auto; }
    .av-gblock { display: flex; flex-wrap: wrap; align-content: flex-start; gap: 6px 2px;
                 margin-bottom: 6px; }
    .av-col { display: flex; flex-direction: column; align-items: stretch; cursor: pointer;
              min-width: 22px; }
    .av-label { font-size: 11px; text-align: center; padding: 0 2px; white-space: pre;
                font-family: ui-monospace, monospace; }
    .av-cell { height: 5px; margin-top: 1px; border-radius: 1px; }
    .av-marked { outline: 2px solid #d62728; outline-offset: 1px; }
    """]


# What the height of the view is estimated from: a text area of about 120 characters a line
# (14 px type, line height 1.9), tokens of at most ~6 characters with their space, grid
# rows of ~20 tokens, each a label and one 6 px cell per head.
TEXT_CHARS_PER_TOKEN, TEXT_CHARS_PER_LINE, TEXT_LINE_PX, TEXT_MAX_PX = 6, 120, 27, 230
GRID_TOKENS_PER_ROW, GRID_LABEL_PX, GRID_CELL_PX, GRID_GAP_PX = 20, 15, 6, 6
TITLE_PX, MARGINS_PX, MAX_HEIGHT = 28, 20, 640


def sequence_height(max_tokens: int, n_heads: int) -> int:
    """Height of the view for a store whose longest instance has ``max_tokens`` tokens and
    whose layers have ``n_heads`` heads: room for that instance's text and token grid in a
    usual window, at most ``MAX_HEIGHT`` (the text and the grid scroll beyond). Fixed for a
    store, so switching instances never moves what is below."""
    lines = -(-max(1, max_tokens) * TEXT_CHARS_PER_TOKEN // TEXT_CHARS_PER_LINE)
    text = min(TEXT_MAX_PX, lines * TEXT_LINE_PX)
    rows = -(-max(1, max_tokens) // GRID_TOKENS_PER_ROW)
    grid = rows * (GRID_LABEL_PX + n_heads * GRID_CELL_PX + GRID_GAP_PX)
    return min(MAX_HEIGHT, TITLE_PX + text + grid + MARGINS_PX)


class SequenceView(pn.viewable.Viewer):
    """Keeps a SequenceWidget in step with an Explorer."""

    explorer = param.ClassSelector(class_=Explorer)

    def __init__(self, **params):
        super().__init__(**params)
        self.widget = SequenceWidget(sizing_mode="stretch_width", height=self.height())
        self.widget.param.watch(self._from_browser, "marked")
        ex = self.explorer
        self.widget.param.watch(lambda e: ex.relations.tap(e.new), "tapped")
        ex.relations.param.watch(self._redraw, ["colour"])
        ex.relations.param.watch(self._relation_changed, ["result", "tapped", "direction",
                                                          "head"])
        ex.param.watch(self._redraw, ["instance", "layer", "heads", "head_colors", "aggregation",
                                      "scope", "scale", "hide_special", "highlight", "words",
                                      "error"])
        ex.param.watch(lambda e: setattr(self.widget, "marked", e.new), "marked")
        self._redraw()

    def _relation_changed(self, *_) -> None:
        if self.explorer.relations.colour is not None:  # only then is the text coloured by it
            self._redraw()

    def _from_browser(self, event) -> None:
        if self.explorer.marked != event.new:
            self.explorer.marked = event.new

    def payload(self) -> dict:
        ex = self.explorer
        vd = ex.view_data()
        if vd is None:
            return {}
        inst = vd.instance
        colors = [ex.head_colors[h] if h < len(ex.head_colors) else "#1f77b4" for h in vd.heads]
        hl_color = "#d62728"
        h = ex.highlight
        if h is not None and h < len(ex.head_colors):
            hl_color = ex.head_colors[h]
        hl, hl_label, top = vd.highlight, vd.highlight_label, None
        by_relation = ex.relations.text_colour(vd)  # rollout, or a tapped token's attention
        if by_relation is not None:
            hl, hl_label, hl_color = by_relation.values, by_relation.label, by_relation.color
            top = by_relation.top
        # [heads, tokens]: each head scaled to its own maximum, so every row shows its pattern
        alpha = np.stack([intensity(vd.values[:, j], ex.scale) for j in range(len(vd.heads))])
        return {
            "title": f"Text coloured by {hl_label}; under each token one cell per "
                     f"shown head of layer {vd.layer} (each head scaled to its own maximum)",
            "tokens": vd.tokens,
            "positions": vd.positions.tolist(),
            "spans": vd.spans.tolist(),
            "text": inst.text,
            "heads": [head_name(h) for h in vd.heads],
            "colors": colors,
            "values": np.round(vd.values.T, 5).tolist(),
            "alpha": np.round(alpha, 4).tolist(),
            "highlight": np.round(hl, 5).tolist(),
            "highlight_alpha": np.round(intensity(hl, ex.scale, top), 4).tolist(),
            "highlight_color": hl_color,
            "tapped": (ex.relations.tapped if by_relation is not None
                       and ex.relations.colour == "tapped" else -1),
            "name": f"instance-{inst.index}",
        }

    def height(self) -> int:
        """The view's height for the open store (the tallest without one)."""
        opened = self.explorer.opened
        if opened is None or not len(opened.cols):
            return MAX_HEIGHT
        return sequence_height(int(opened.cols.token_count.max()),
                               opened.store.meta.num_heads)

    def _redraw(self, *_) -> None:
        self.widget.param.update(height=self.height(),
                                 payload=json.dumps(self.payload(), separators=(",", ":")))

    def __panel__(self):
        return self.widget
