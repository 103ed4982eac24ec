"""Grids of coloured cells (layers x heads, a confusion matrix) as plain Bokeh figures that
are built once and then updated in place: a new slice, layer or instance writes new values
into the same models, so neither the server nor the browser builds the figure again.

What a figure shows is a :class:`Cells` (data, colours, ticks, ranges, hover, outlines and
numbers in the cells); :class:`CellFigure` draws one and takes the next. (Plain Bokeh
rather than HoloViews: rendering these figures through HoloViews was a third of the
server's CPU when a session first showed the corpus view.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from bokeh import events
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    FixedTicker,
    HoverTool,
    LinearColorMapper,
    LogColorMapper,
    Quad,
    Range1d,
    Text,
)
from bokeh.palettes import Blues256, Magma256, PuOr11, RdBu11, Viridis256, interp_palette

from .tokenplot import add_glyph, plain_figure

# colour maps by name, low values first (as matplotlib's of the same name)
PALETTES = {"Blues": tuple(reversed(Blues256)), "viridis": Viridis256, "magma": Magma256,
            "PuOr_r": interp_palette(PuOr11, 256), "RdBu_r": interp_palette(RdBu11, 256)}
OUTLINE_COLUMNS = ("x0", "y0", "x1", "y1", "color", "width")
LABEL_COLUMNS = ("x", "y", "text", "color")


@dataclass
class Cells:
    """What a cells figure shows.

    columns: the cells' data source (x0, y0, x1, y1 and every value shown on hover);
    color: the column that colours them, through ``cmap`` over ``clim`` (None: the column's
    finite range), logarithmic where ``log``; tooltips: Bokeh's (name, "@column{format}");
    outlines: rectangles drawn over the cells (OUTLINE_COLUMNS); labels: text in the cells
    (LABEL_COLUMNS), None for none.
    """

    columns: dict
    color: str
    cmap: str
    title: str
    xticks: list[tuple[float, str]]
    yticks: list[tuple[float, str]]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    tooltips: list[tuple[str, str]]
    clim: tuple[float, float] | None = None
    log: bool = False
    outlines: dict = field(default_factory=lambda: {c: [] for c in OUTLINE_COLUMNS})
    labels: dict | None = None


def color_range(c: Cells) -> tuple[float, float]:
    """The colour range of ``c``: its ``clim``, else its colour column's finite (for a log
    scale, positive) range; (0, 1) when there is none."""
    if c.clim is not None:
        return c.clim
    v = np.asarray(c.columns.get(c.color, []), dtype=np.float64)
    v = v[np.isfinite(v) & ((v > 0) if c.log else True)]
    if not v.size:
        return (1e-6, 1.0) if c.log else (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    return (lo, hi) if hi > lo else (lo, lo + (abs(lo) or 1.0) * 1e-3)


def _mapper(c: Cells):
    low, high = color_range(c)
    kind = LogColorMapper if c.log else LinearColorMapper
    return kind(palette=PALETTES[c.cmap], low=low, high=high, nan_color="rgba(0,0,0,0)")


def _set_ticks(axis, ticks: list[tuple[float, str]]) -> None:
    axis.ticker.ticks = [t for t, _ in ticks]
    axis.major_label_overrides = {t: label for t, label in ticks}


class CellFigure:
    """One cells figure: built from a :class:`Cells`, updated in place by :meth:`update`.
    ``on_tap(x, y)`` gets the data coordinates of a click."""

    def __init__(self, c: Cells, *, height: int, width: int | None = None,
                 xlabel: str = "", ylabel: str = "", xrotation: float = 0.0,
                 on_tap: Callable[[float, float], None] | None = None) -> None:
        size = ({"width": width, "sizing_mode": "fixed"} if width
                else {"sizing_mode": "stretch_width"})
        fig = plain_figure(c.title, height=height, x_axis_label=xlabel, y_axis_label=ylabel,
                           x_range=Range1d(*c.xlim), y_range=Range1d(*c.ylim), **size)
        fig.xaxis.ticker, fig.yaxis.ticker = FixedTicker(), FixedTicker()
        fig.xaxis.major_label_orientation = math.radians(xrotation)
        # the data, colours, ticks and ranges are written by update(c) below
        self.mapper = _mapper(c)
        self.cells, self.outlines = ColumnDataSource(), ColumnDataSource()
        quad = Quad(left="x0", right="x1", bottom="y0", top="y1", line_alpha=0,
                    fill_color={"field": c.color, "transform": self.mapper})
        self.renderer = add_glyph(fig, quad, self.cells)
        add_glyph(fig, Quad(left="x0", right="x1", bottom="y0", top="y1", fill_alpha=0,
                            line_color="color", line_width="width"), self.outlines)
        self.labels = None
        if c.labels is not None:
            self.labels = ColumnDataSource()
            add_glyph(fig, Text(x="x", y="y", text="text", text_color="color",
                                text_align="center", text_baseline="middle",
                                text_font_size="9pt"), self.labels)
        self.hover = HoverTool(renderers=[self.renderer], tooltips=c.tooltips)
        fig.add_tools(self.hover)
        self.colorbar = ColorBar(color_mapper=self.mapper, width=12)
        fig.add_layout(self.colorbar, "right")
        if on_tap is not None:
            fig.on_event(events.Tap, lambda e: on_tap(e.x, e.y))
        self.fig = fig
        # a figure of a fixed width is sized by its cells: it fits only as many
        self.fixed_shape = (len(c.xticks), len(c.yticks)) if width else None
        self.shown = c
        self.update(c)

    def fits(self, c: Cells) -> bool:
        """Whether :meth:`update` can show ``c`` (else a new figure is needed)."""
        return self.fixed_shape is None or self.fixed_shape == (len(c.xticks), len(c.yticks))

    def update(self, c: Cells) -> None:
        """Show ``c`` in the same figure: new values into the same models."""
        fig = self.fig
        if isinstance(self.mapper, LogColorMapper) != c.log:  # another scale: a new mapper
            self.mapper = self.colorbar.color_mapper = _mapper(c)
        low, high = color_range(c)
        self.mapper.update(palette=PALETTES[c.cmap], low=low, high=high)
        fill = self.renderer.glyph.fill_color
        if fill.field != c.color or fill.transform is not self.mapper:
            self.renderer.glyph.fill_color = {"field": c.color, "transform": self.mapper}
        self.cells.data = dict(c.columns)
        self.outlines.data = dict(c.outlines)
        if self.labels is not None:
            self.labels.data = dict(c.labels or {k: [] for k in LABEL_COLUMNS})
        if self.hover.tooltips != c.tooltips:
            self.hover.tooltips = c.tooltips
        if fig.title.text != c.title:
            fig.title.text = c.title
        _set_ticks(fig.xaxis[0], c.xticks)
        _set_ticks(fig.yaxis[0], c.yticks)
        for r, lim in ((fig.x_range, c.xlim), (fig.y_range, c.ylim)):
            r.update(start=lim[0], end=lim[1], reset_start=lim[0], reset_end=lim[1])
        self.shown = c
