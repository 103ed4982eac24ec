"""Token plots: Bokeh figures whose x axis is the shown tokens of the selected instance.
An instance switch writes the new instance into the existing Bokeh figure; a marker follows
the marked token; pointing at a token marks it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import panel as pn
import param
from bokeh.models import FixedTicker, GlyphRenderer, Grid, Range1d
from bokeh.plotting import figure

from ..state import Explorer
from ..style import PLOT_OPTS
from ..svgtool import svg_save_tool
from ..viewdata import ViewData
from .events import FigureEvents, InSession, in_order


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

    columns: per glyph (in drawing order), the columns of its data source; xticks, xlim,
    ylim and clim (colour range, None for none): the axes.
    """

    columns: list[dict]
    xticks: list[tuple[int, str]]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    clim: tuple[float, float] | None = None
    title: str | None = None  # the figure's title, where it follows the settings
    yticks: list[tuple[int, str]] | None = None  # the y axis' ticks (None: Bokeh's own)


class TokenMarker:
    """A dashed vertical line at the marked token, drawn into each figure of one view.

    Added to each figure the view draws and moved by setting the line's ``location``: a
    one-property change, so marking a token never redraws the figure.
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


class Glyph:
    """One glyph's handles: its data source and, where it has one, its colour mapper."""

    def __init__(self, source, mapper=None) -> None:
        self.handles = {"source": source}
        if mapper is not None:
            self.handles["color_mapper"] = mapper


class Drawn:
    """A drawn figure (``state``) with the handles a token plot's update in place writes to:
    axes and ranges (``handles``), and each glyph's data source and colour mapper
    (``subplots``)."""

    def __init__(self, fig, glyphs: list[Glyph]) -> None:
        self.state = fig
        self.handles = {"xaxis": fig.xaxis[0], "yaxis": fig.yaxis[0],
                        "x_range": fig.x_range, "y_range": fig.y_range}
        self.subplots = dict(enumerate(glyphs))


def empty_frame(column_names: tuple, log: bool = False) -> Frame:
    """What a token plot shows without an instance: each glyph's columns, empty; no tokens,
    unit ranges."""
    return Frame(columns=[{name: [] for name in names} for names in column_names], xticks=[],
                 xlim=(-0.5, 0.5), ylim=(1e-3, 1.0) if log else (0.0, 1.0))


def plain_figure(title: str, *, height: int, grid: bool = False,
                 title_size: str | None = "12pt", **kwargs):
    """A Bokeh figure as every explorer figure has it: the shared tools with pan active and
    wheel zoom present but not active (the wheel scrolls the page), the toolbar above, its
    own SVG save button; no grid lines (no models) unless ``grid``; the title at
    ``title_size`` (the explorer's figures' size; None: Bokeh's). ``kwargs`` go to
    ``figure`` (ranges, axis labels and types, sizing)."""
    tools = [t for t in PLOT_OPTS["default_tools"] if isinstance(t, str)]
    kwargs.setdefault("sizing_mode", "stretch_width")
    fig = figure(title=title, height=height, toolbar_location="above", tools=tools,
                 active_drag="pan", active_scroll=None, **kwargs)
    fig.add_tools(svg_save_tool())  # a tool of its own: a model lives in one document
    if not grid:
        fig.center = [c for c in fig.center if not isinstance(c, Grid)]
    if title_size is not None:
        fig.title.text_font_size = title_size
    return fig


def token_figure(f: Frame, *, ylabel: str, log_y: bool = False):
    """A figure whose x axis is the tokens of ``f``: ticks at the tokens, ranges and title of
    ``f``."""
    fig = plain_figure(f.title or "", height=PLOT_OPTS["height"],
                       x_range=Range1d(*f.xlim, reset_start=f.xlim[0], reset_end=f.xlim[1]),
                       y_range=Range1d(*f.ylim, reset_start=f.ylim[0], reset_end=f.ylim[1]),
                       y_axis_type="log" if log_y else "linear", y_axis_label=ylabel)
    fig.xaxis.ticker = FixedTicker(ticks=[t for t, _ in f.xticks])
    fig.xaxis.major_label_overrides = dict(f.xticks)
    fig.xaxis.major_label_orientation = math.pi / 2
    if f.yticks is not None:
        fig.yaxis.ticker = FixedTicker(ticks=[t for t, _ in f.yticks])
        fig.yaxis.major_label_overrides = dict(f.yticks)
    return fig


def add_glyph(fig, glyph, source) -> GlyphRenderer:
    """``glyph`` drawn from ``source`` in ``fig``, as one glyph model: Bokeh's plotting
    methods add two copies to each renderer (for points not selected and for muted ones)
    that these plots never show differently; here points not selected look as the others
    and a muted renderer is left to BokehJS's default."""
    renderer = GlyphRenderer(data_source=source, glyph=glyph, nonselection_glyph=glyph)
    fig.renderers.append(renderer)
    return renderer


class TokenPlotView(pn.viewable.Viewer):
    """A plain Bokeh figure whose x axis is the shown tokens of the selected instance.

    Subclasses name the settings that change the plot (``depends``), those among them that
    change the figure's make-up (``rebuild``: a log axis, a legend), say what one instance
    puts into it (``frame``), name each glyph's columns (``column_names``: what an empty
    figure has) and draw the figure from a frame (``draw``).
    A change of instance or of a setting outside ``rebuild`` only replaces the data, ticks,
    ranges and title of the figure in place (``_update_in_place``): the same models get new
    values, so neither the server nor the browser rebuilds the figure; otherwise
    ``revision`` goes up and a new figure takes the old one's place. This class also keeps
    the token marker in step with ``explorer.marked`` and turns hovering or tapping the plot
    into a marked token.

    (Plain Bokeh rather than HoloViews: the heatmap and the series view are on the page of
    every session, and building them through HoloViews was most of what a page open cost.)
    """

    explorer = param.ClassSelector(class_=Explorer)
    revision = param.Integer(default=0, precedence=-1, doc="bumped to draw a new figure")
    depends: tuple[str, ...] = ()
    rebuild: tuple[str, ...] = ("scale", "error")
    column_names: tuple[tuple[str, ...], ...] = ()  # per glyph, in the frame's order

    def __init__(self, **params):
        super().__init__(**params)
        ex = self.explorer
        self._positions = np.zeros(0, dtype=np.int64)
        self._drawn: Drawn | None = None  # the figure shown and its handles
        self._element_instance = -1  # the instance the last figure drawn shows (-1: none)
        self.marker = TokenMarker()
        self.session = InSession()
        self.events = FigureEvents(on_tap=self._on_pointer, on_move=self._on_pointer)
        ex.param.watch(in_order(self._on_change), list(self.depends))
        ex.param.watch(in_order(self._move_marker), ["marked"])
        self.pane = pn.pane.Bokeh(self._draw(), sizing_mode="stretch_width")
        self.param.watch(self._redraw, "revision")

    def frame(self, vd: ViewData) -> Frame:
        raise NotImplementedError

    def draw(self, f: Frame) -> Drawn:
        raise NotImplementedError

    def _redraw(self, *_) -> None:
        self.pane.object = self._draw()

    def _draw(self):
        """A new figure of the selected instance (or an empty one), with marker and events."""
        ex = self.explorer
        vd = ex.view_data()
        empty = vd is None or not len(vd.positions)
        self._positions = np.zeros(0, dtype=np.int64) if empty else vd.positions
        self._element_instance = -1 if empty else ex.instance
        f = empty_frame(self.column_names, ex.scale == "log") if empty else self.frame(vd)
        plot = self.draw(f)
        self.marker.spans = []  # the figure replaced goes with its marker
        self.marker.hook(plot, None)
        self.events.hook(plot, None)
        self._drawn = plot
        self._move_marker()
        return plot.state

    # -- updates ---------------------------------------------------------------------------
    def _on_change(self, *events) -> None:
        if {e.name for e in events} & set(self.rebuild) or not self._update_in_place():
            self.revision += 1
        self._move_marker()

    def _live_plots(self) -> list[Drawn]:
        """The figure shown: kept up to date also while it is off the page (a hidden tab),
        so that showing it again sends the figure as it is, with no redraw."""
        return [self._drawn] if self._drawn is not None else []

    def _update_in_place(self) -> bool:
        """Show the selected instance without re-rendering; False when it cannot be done."""
        ex = self.explorer
        plots = self._live_plots()
        vd = ex.view_data()
        if not plots or ex.error or vd is None or not len(vd.positions):
            return False
        if self._element_instance < 0:  # the figure drawn is an empty one
            return False
        frame = self.frame(vd)
        if not all(self._fits(p, frame) for p in plots):
            return False
        self._positions = vd.positions
        for p in plots:
            self._apply(p, frame)
        return True

    @staticmethod
    def _glyph_plots(plot: Drawn) -> list[Glyph]:
        return list(plot.subplots.values())

    def _fits(self, plot: Drawn, frame: Frame) -> bool:
        """Every column of the figure's data sources is one that ``frame`` provides."""
        glyphs = self._glyph_plots(plot)
        return len(glyphs) == len(frame.columns) and all(
            set(g.handles["source"].data) <= set(cols) for g, cols in zip(glyphs, frame.columns))

    def _apply(self, plot, frame: Frame) -> None:
        for g, cols in zip(self._glyph_plots(plot), frame.columns):
            source = g.handles["source"]
            source.selected.indices = []
            source.data = {name: cols[name] for name in source.data}
            mapper = g.handles.get("color_mapper")
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
