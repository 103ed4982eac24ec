"""The relations view: token x token attention of the selected instance in the chosen layer
(one head, or the mean of the shown heads) as a raster, recomputed on the server; its
settings; the comparison of the recomputed diagonal with the store.

Rows are the tokens that give attention, columns the tokens that receive it. Hovering a row
or column marks its token in every view; tapping one colours the text by its row or column.
A new result is written into the existing figure (image, ticks, ranges, colour range).
The browser gets an image of at most SIDE x SIDE cells aggregated on the server
(:mod:`.raster`): a 4,096 x 4,096 map is never sent whole; zooming makes the visible part
anew, with each token pair's exact value once fewer tokens than pixels are visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.custom import JSComponent

from ..relations_data import head_label
from ..relations_state import COLOURS, DIRECTIONS
from ..state import Explorer
from ..style import PLOT_OPTS
from . import raster as R
from .events import FigureEvents, InSession, WeakHook, in_order
from .tokenplot import LOG_FLOOR, display_index, token_ticks
from .widgets import ChoiceSelect

SIDE = 600  # the raster's frame, square, in pixels
HEIGHT = SIDE + 190  # with title, toolbar, token labels
# the shared plot options, but a fixed square frame instead of the responsive width
RASTER_OPTS = {k: v for k, v in PLOT_OPTS.items() if k not in ("height", "responsive")}
OFF = ("Relations are computed by re-running the store's model on the selected instance: "
       "tick the box above.")


class StatusLine(JSComponent):
    """One line of text (set as text, never HTML), in red when it reports a problem.
    Only ``text`` and ``problem`` travel on a change."""

    text = param.String(default="")
    problem = param.Boolean(default=False)

    _esm = """
    export function render({ model, el }) {
      const line = document.createElement("div");
      line.className = "av-rel-status";
      function draw() {
        line.textContent = model.text;
        line.classList.toggle("av-warn", model.problem);
      }
      model.on(["text", "problem"], draw);
      draw();
      el.appendChild(line);
    }
    """
    _stylesheets = [".av-rel-status { font: 14px system-ui, sans-serif; color: #333; "
                    "padding: 4px 2px; } .av-rel-status.av-warn { color: #842029; }"]


@dataclass
class RasterFrame:
    """One drawing of the raster: the matrix [shown, shown] (row i gives, column j
    receives), the units' labels, the colour range and the title."""

    matrix: np.ndarray
    labels: list[str]
    clim: tuple[float, float]
    title: str

    @property
    def n(self) -> int:
        return len(self.labels)


class RelationsView(pn.viewable.Viewer):
    """The raster, its settings and the status line, kept in step with an Explorer."""

    explorer = param.ClassSelector(class_=Explorer)
    revision = param.Integer(default=0, precedence=-1, doc="bumped to re-render the raster")

    def __init__(self, **params):
        super().__init__(**params)
        ex, rel = self.explorer, self.explorer.relations
        self._plots: dict[str, object] = {}
        self._positions = np.zeros(0, dtype=np.int64)
        self._frame: RasterFrame | None = None
        self._drawn_empty = True
        self.session = InSession()
        self.events = FigureEvents(on_tap=self._on_tap, on_move=self._on_move)
        self.zoom = R.Zoom(self)
        self.map = hv.DynamicMap(pn.bind(lambda *_: self._element(), self.param.revision))
        self.pane = pn.pane.HoloViews(self.map, sizing_mode="stretch_width", min_height=HEIGHT)
        rel.param.watch(in_order(self._redraw), ["result", "head", "enabled"])
        ex.param.watch(in_order(self._redraw), ["heads", "hide_special", "words", "error"])
        ex.param.watch(in_order(self._rescale), ["scale"])
        ex.param.watch(in_order(self._move_marks), ["marked"])
        rel.param.watch(in_order(self._move_marks), ["tapped", "direction"])
        self.status = StatusLine(sizing_mode="stretch_width", height=30)
        rel.param.watch(self._show_status, ["status", "problem", "enabled"])
        self._show_status()
        self.controls = self._controls()

    # -- settings ---------------------------------------------------------------------------
    def _controls(self) -> pn.Column:
        rel = self.explorer.relations
        w = pn.widgets
        return pn.Column(
            pn.Row(w.Checkbox.from_param(rel.param.enabled,
                                         name="relations (re-runs the model on the server)"),
                   ChoiceSelect.from_param(rel.param.head, name="head", width=220),
                   w.RadioButtonGroup.from_param(rel.param.direction, options=DIRECTIONS,
                                                 name="a token's"),
                   sizing_mode="stretch_width"),
            pn.Row(ChoiceSelect.from_param(rel.param.colour, name="colour the text by a relation",
                                           options=COLOURS, width=220),
                   w.Checkbox.from_param(rel.param.gradient,
                                         name="gradient-weighted rollout (one backward pass)",
                                         margin=(28, 10, 5, 10)),
                   ChoiceSelect.from_param(rel.param.target, name="for the class", width=200),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width")

    def _show_status(self, *_) -> None:
        rel = self.explorer.relations
        self.status.param.update(text=rel.status if rel.enabled else OFF,
                                 problem=rel.enabled and rel.problem)

    # -- what is drawn ------------------------------------------------------------------------
    def frame(self) -> RasterFrame | None:
        ex, rel = self.explorer, self.explorer.relations
        vd = ex.view_data()
        m = rel.matrix(vd) if vd is not None else None
        if m is None or not len(vd.positions):
            self._positions = np.zeros(0, dtype=np.int64)
            return None
        self._positions = vd.positions
        top = float(m.max()) if m.size else 1.0
        if ex.scale == "log":
            m = np.maximum(m, LOG_FLOOR)
        title = (f"{'Word' if ex.words else 'Token'} x {'word' if ex.words else 'token'}, "
                 f"layer {ex.layer}, {head_label(rel.head, vd.heads)}")
        lo = LOG_FLOOR if ex.scale == "log" else 0.0
        return RasterFrame(m.astype(np.float32), vd.tokens, (lo, max(top, lo * 10, 1e-9)),
                           title)

    def _element(self):
        """The raster; before anything is computed, one blank cell with the same options
        (HoloViews keeps a figure's tools and hooks from its first element)."""
        f = self.frame()
        self._frame = f
        self._drawn_empty = f is None
        if f is None:
            f = RasterFrame(np.zeros((1, 1), dtype=np.float32), [""], (0.0, 1.0),
                            "Token x token: not computed yet")
        img = R.square(f.matrix, pixels=SIDE)
        return hv.Image(np.flipud(img.image), bounds=img.bounds,
                        kdims=["receives", "gives"], vdims=["attention"]).opts(
            cmap="Blues", colorbar=True, clim=f.clim, logz=self.explorer.scale == "log",
            xticks=token_ticks(f.labels), yticks=self._yticks(f.labels), xrotation=90,
            xlabel="receives (column)", ylabel="gives (row)", title=f.title, tools=["tap"],
            hooks=[WeakHook(h) for h in (self._keep_plot, self.events.hook, self._decorate)]
            + [self.zoom.hook],
            framewise=True,
            frame_width=SIDE, frame_height=SIDE, **RASTER_OPTS)

    @staticmethod
    def _yticks(labels: list[str]) -> list[tuple[int, str]]:
        n = len(labels)
        return [(n - 1 - i, label) for i, label in token_ticks(labels)]

    # -- the figure ---------------------------------------------------------------------------
    def _keep_plot(self, plot, element) -> None:
        self._plots[plot.state.id] = plot

    def _decorate(self, plot, element) -> None:
        """Plot hook: hover with token names, the marked token's cross, the tapped row or
        column (added once per figure)."""
        from bokeh.models import BoxAnnotation, ColumnDataSource, CustomJSHover, HoverTool, Span

        fig = plot.state
        names = {"token": list(self._frame.labels) if self._frame else []}
        if "labels" in plot.handles:
            plot.handles["labels"].data = names
            return
        labels = ColumnDataSource(names)
        row = CustomJSHover(args={"src": labels}, code=(
            "const t = src.data.token; return t[t.length - 1 - Math.round(value)] ?? '';"))
        col = CustomJSHover(args={"src": labels},
                            code="return src.data.token[Math.round(value)] ?? '';")
        fig.add_tools(HoverTool(tooltips=[("gives", "$y{custom}"), ("receives", "$x{custom}"),
                                          ("attention", "@image{0.0000}")],
                                formatters={"$y": row, "$x": col}))
        spans = [Span(dimension=d, line_color="#d62728", line_width=2, line_dash="dashed",
                      visible=False, location=0) for d in ("height", "width")]
        box = BoxAnnotation(fill_alpha=0.0, line_color="#1f4e79", line_width=2,
                            visible=False)
        for r in (*spans, box):
            fig.add_layout(r)
        plot.handles.update(labels=labels, mark_spans=spans, tap_box=box)
        self._move_marks()

    def _live_plots(self) -> list:
        self._plots = {k: p for k, p in self._plots.items() if p.state.document is not None}
        return list(self._plots.values())

    def _redraw(self, *_) -> None:
        """Show the current result: in place when a figure with data is there, else anew."""
        plots = self._live_plots()
        f = self.frame()
        if not plots or f is None or self._drawn_empty:
            self.revision += 1
            return
        self._frame = f
        n = f.n
        img = R.square(f.matrix, pixels=SIDE)
        for p in plots:
            p.handles["source"].data = img.data()
            p.handles["color_mapper"].update(low=f.clim[0], high=f.clim[1])
            for axis, ticks in (("xaxis", token_ticks(f.labels)),
                                ("yaxis", self._yticks(f.labels))):
                p.handles[axis].ticker.ticks = [t for t, _ in ticks]
                p.handles[axis].major_label_overrides = dict(ticks)
            for name in ("x_range", "y_range"):
                p.handles[name].update(start=-0.5, end=n - 0.5, reset_start=-0.5,
                                       reset_end=n - 0.5)
            p.state.title.text = f.title
            if "labels" in p.handles:
                p.handles["labels"].data = {"token": list(f.labels)}
        self._move_marks()

    def on_zoom(self, plot, x0, x1, y0, y1) -> None:
        """The visible part of the map anew, at most SIDE x SIDE cells."""
        f = self._frame
        if f is None or self._drawn_empty or "source" not in plot.handles:
            return
        plot.handles["source"].data = R.square(f.matrix, (x0, x1), (y0, y1), SIDE).data()

    def _rescale(self, *_) -> None:  # linear or log colours: a new colour mapper
        self.revision += 1

    def _move_marks(self, *_) -> None:
        ex, rel = self.explorer, self.explorer.relations
        n = len(self._positions)
        m = display_index(self._positions, ex.marked) if ex.marked >= 0 else None
        t = display_index(self._positions, rel.tapped) if rel.tapped >= 0 else None
        for p in self._live_plots():
            if "mark_spans" not in p.handles:
                continue
            across, down = p.handles["mark_spans"]
            for span, loc in ((across, m), (down, None if m is None else n - 1 - m)):
                span.update(visible=loc is not None, location=loc if loc is not None else 0)
            box = p.handles["tap_box"]
            if t is None:
                box.visible = False
            elif rel.direction == "gives":
                box.update(visible=True, left=None, right=None, bottom=n - 1.5 - t,
                           top=n - 0.5 - t)
            else:
                box.update(visible=True, bottom=None, top=None, left=t - 0.5, right=t + 0.5)

    # -- pointer ------------------------------------------------------------------------------
    def _position_at(self, x, y) -> int:
        """The token the pointer is on: the row over the row labels, the column over the
        column labels, inside by what the direction looks at."""
        n = len(self._positions)
        if x is None or y is None or not n or not np.isfinite(x) or not np.isfinite(y):
            return -1
        i, j = n - 1 - int(round(y)), int(round(x))
        row, col = 0 <= i < n, 0 <= j < n
        if row and col:
            k = i if self.explorer.relations.direction == "gives" else j
        else:
            k = i if row else j if col else -1
        return int(self._positions[k]) if k >= 0 else -1

    def _on_move(self, x=None, y=None) -> None:
        pos = self._position_at(x, y)
        if pos >= 0 and pos != self.explorer.marked:
            self.session.run(lambda: setattr(self.explorer, "marked", pos))

    def _on_tap(self, x=None, y=None) -> None:
        pos = self._position_at(x, y)
        if pos >= 0:
            self.session.run(lambda: self.explorer.relations.tap(pos))

    def __panel__(self):
        return pn.Column(self.controls, self.status, self.pane, sizing_mode="stretch_width")
