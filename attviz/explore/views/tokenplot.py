"""Token plots: HoloViews plots whose x axis is the shown tokens of the selected instance.
An instance switch writes the new instance into the existing Bokeh figure; a marker follows
the marked token; pointing at a token marks it."""

from __future__ import annotations

from dataclasses import dataclass

import holoviews as hv
import numpy as np
import panel as pn
import param

from ..state import Explorer
from ..viewdata import ViewData
from .events import FigureEvents, InSession, WeakHook


def display_index(positions: np.ndarray, marked: int) -> float | None:
    """Where token position ``marked`` sits among the shown ``positions`` (None if hidden)."""
    hits = np.flatnonzero(positions == marked)
    return float(hits[0]) if len(hits) else None


def position_at(positions: np.ndarray, x: float | None) -> int:
    """The token position shown nearest to x-coordinate ``x`` (-1 when off the tokens)."""
    if x is None or not len(positions) or not np.isfinite(x):
        return -1
    i = int(round(x))
    return int(positions[i]) if 0 <= i < len(positions) else -1


LOG_FLOOR = 1e-6  # log scale: values at or below zero are drawn here


def token_ticks(tokens: list[str], most: int = 64) -> list[tuple[int, str]]:
    """Tick labels of a token axis: every token, or every n-th so that at most ``most``."""
    step = max(1, len(tokens) // most)
    return [(i, tokens[i]) for i in range(0, len(tokens), step)]


@dataclass
class Frame:
    """What one instance puts into a token plot, for building it and for updating it.

    columns: per glyph (overlay order), the element's columns; aliases: the other names
    HoloViews gives those columns in the figure's data source; xticks, xlim, ylim and clim
    (colour range, None for none): the axes.
    """

    columns: list[dict]
    aliases: list[dict]
    xticks: list[tuple[int, str]]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    clim: tuple[float, float] | None = None
    title: str | None = None  # the figure's title, where it follows the settings
    yticks: list[tuple[int, str]] | None = None  # the y axis' ticks (None: HoloViews' own)


class TokenMarker:
    """A dashed vertical line at the marked token, drawn into each figure of one view.

    Added to the Bokeh figure through a HoloViews plot hook and moved by setting the line's
    ``location``: a one-property change, so marking a token never re-renders the plot (a
    marker overlay re-created the figures and lost their sizing).
    """

    NAME = "attviz-token-marker"

    def __init__(self) -> None:
        self.spans: list = []
        self.location: float | None = None

    def hook(self, plot, element) -> None:
        from bokeh.models import Span

        fig = plot.state
        if any(getattr(r, "name", None) == self.NAME for r in fig.center):
            return
        span = Span(location=self.location if self.location is not None else 0.0,
                    dimension="height", line_color="#d62728", line_width=2,
                    line_dash="dashed", visible=self.location is not None, name=self.NAME)
        fig.add_layout(span)
        self.spans.append(span)

    def move(self, x: float | None) -> None:
        self.location = x
        for span in self.spans:
            if x is None:
                span.visible = False
            else:
                span.location = x
                span.visible = True


class TokenPlotView(pn.viewable.Viewer):
    """A HoloViews plot whose x axis is the shown tokens of the selected instance.

    Subclasses name the settings that change the plot (``depends``), those among them that
    change the figure's make-up (``rebuild``: a log axis, a legend), build the element
    (``element``) and say what one instance puts into it (``frame``). A change of instance or
    of a setting outside ``rebuild`` only replaces the data, ticks, ranges and title of the
    Bokeh figure in place (``_update_in_place``): the same models get new values, so neither
    the server nor the browser rebuilds the figure; otherwise the plot is re-rendered through
    HoloViews. This class also
    keeps the token marker in step with ``explorer.marked`` and turns hovering or tapping the
    plot into a marked token.
    """

    explorer = param.ClassSelector(class_=Explorer)
    revision = param.Integer(default=0, precedence=-1, doc="bumped to re-render the plot")
    depends: tuple[str, ...] = ()
    rebuild: tuple[str, ...] = ("scale", "error")

    def __init__(self, **params):
        super().__init__(**params)
        ex = self.explorer
        self._positions = np.zeros(0, dtype=np.int64)
        self._plots: dict[str, object] = {}  # Bokeh figure id -> its HoloViews plot
        self._element_instance = -1  # the instance the DynamicMap's last element shows
        self.marker = TokenMarker()
        self.session = InSession()
        self.events = FigureEvents(on_tap=self._on_pointer, on_move=self._on_pointer)

        def render(*_):
            vd = ex.view_data()
            self._positions = vd.positions if vd is not None else np.zeros(0, dtype=np.int64)
            # -1 for the empty element, which has no ticks or ranges to update in place
            self._element_instance = ex.instance if len(self._positions) else -1
            return self.element([WeakHook(h) for h in (self.marker.hook, self.events.hook,
                                                       self._keep_plot, self._axes)])

        self.map = hv.DynamicMap(pn.bind(render, self.param.revision))
        ex.param.watch(self._on_change, list(self.depends))
        ex.param.watch(self._move_marker, ["marked"])
        self.pane = pn.pane.HoloViews(self.map, sizing_mode="stretch_width")

    def element(self, hooks: list):
        raise NotImplementedError

    def frame(self, vd: ViewData) -> Frame:
        raise NotImplementedError

    # -- updates ---------------------------------------------------------------------------
    def _on_change(self, *events) -> None:
        if {e.name for e in events} & set(self.rebuild) or not self._update_in_place():
            self.revision += 1
        self._move_marker()

    def _keep_plot(self, plot, element) -> None:
        """Plot hook: remember the plot; a plot made anew from an element that an in-place
        update has since outdated (e.g. a tab shown again) gets the current data."""
        self._plots[plot.state.id] = plot
        if self._element_instance != self.explorer.instance:
            vd = self.explorer.view_data()
            if vd is not None and len(vd.positions):
                self._apply(plot, self.frame(vd))

    def _axes(self, plot, element) -> None:
        """Plot hook: the axes of what is drawn now. An overlay keeps the ranges and ticks
        of its first element through later renders, e.g. after a setting that changes the
        shown tokens."""
        vd = self.explorer.view_data()
        if vd is None or not len(vd.positions) or "xaxis" not in plot.handles:
            return
        f = self.frame(vd)
        for axis, ticks in (("xaxis", f.xticks), ("yaxis", f.yticks)):
            ax = plot.handles.get(axis)
            if ticks is not None and ax is not None and hasattr(ax.ticker, "ticks"):
                ax.ticker.ticks = [t for t, _ in ticks]
                ax.major_label_overrides = dict(ticks)
        for name, lim in (("x_range", f.xlim), ("y_range", f.ylim)):
            r = plot.handles.get(name)
            if r is not None:
                r.update(start=lim[0], end=lim[1], reset_start=lim[0], reset_end=lim[1])

    def _live_plots(self) -> list:
        self._plots = {k: p for k, p in self._plots.items() if p.state.document is not None}
        return list(self._plots.values())

    def _update_in_place(self) -> bool:
        """Show the selected instance without re-rendering; False when it cannot be done."""
        ex = self.explorer
        plots = self._live_plots()
        vd = ex.view_data()
        if not plots or ex.error or vd is None or not len(vd.positions):
            return False
        if self._element_instance < 0:  # the figure shows the empty element
            return False
        frame = self.frame(vd)
        if not all(self._fits(p, frame) for p in plots):
            return False
        self._positions = vd.positions
        for p in plots:
            self._apply(p, frame)
        return True

    @staticmethod
    def _glyph_plots(plot) -> list:
        return list(plot.subplots.values()) if getattr(plot, "subplots", None) else [plot]

    def _fits(self, plot, frame: Frame) -> bool:
        """Every column of the figure's data sources is one that ``frame`` provides."""
        glyphs = self._glyph_plots(plot)
        if len(glyphs) != len(frame.columns):
            return False
        for g, cols, aliases in zip(glyphs, frame.columns, frame.aliases):
            source = g.handles.get("source")
            if source is None or not set(source.data) <= set(cols) | set(aliases):
                return False
        axis = plot.handles.get("xaxis")
        return axis is not None and hasattr(axis.ticker, "ticks") and "x_range" in plot.handles

    def _apply(self, plot, frame: Frame) -> None:
        for g, cols, aliases in zip(self._glyph_plots(plot), frame.columns, frame.aliases):
            source = g.handles["source"]
            both = {**cols, **aliases}
            source.selected.indices = []
            source.data = {name: both[name] for name in source.data}
            mapper = g.handles.get("color_color_mapper") or g.handles.get("color_mapper")
            if mapper is not None and frame.clim is not None:
                mapper.update(low=frame.clim[0], high=frame.clim[1])
        for name, ticks in (("xaxis", frame.xticks), ("yaxis", frame.yticks)):
            axis = plot.handles.get(name)
            if ticks is not None and axis is not None and hasattr(axis.ticker, "ticks"):
                axis.ticker.ticks = [t for t, _ in ticks]
                axis.major_label_overrides = {t: label for t, label in ticks}
        title = plot.state.title
        if frame.title is not None and title is not None and title.text != frame.title:
            title.text = frame.title
        for name, lim in (("x_range", frame.xlim), ("y_range", frame.ylim)):
            r = plot.handles.get(name)
            if r is not None:
                r.update(start=lim[0], end=lim[1], reset_start=lim[0], reset_end=lim[1])

    # -- the marked token ------------------------------------------------------------------
    def _move_marker(self, *_) -> None:
        ex = self.explorer
        self.marker.move(display_index(self._positions, ex.marked) if ex.marked >= 0 else None)

    def _on_pointer(self, x=None, y=None):
        pos = position_at(self._positions, x)
        if pos >= 0 and pos != self.explorer.marked:
            self.session.run(lambda: setattr(self.explorer, "marked", pos))

    def __panel__(self):
        return self.pane
