"""AttViz's series view: an aggregate per token as a curve, grey dots for every head's value,
red dots for each token's minimum and maximum; linear or log scale (a plain Bokeh figure)."""

from __future__ import annotations

import numpy as np
from bokeh.models import (
    ColumnDataSource,
    HoverTool,
    Legend,
    LegendItem,
    Line,
    Scatter,
    TapTool,
)

from ..choices import SCOPE_HEADS
from ..state import Explorer
from ..viewdata import ViewData
from .tokenplot import (
    LOG_FLOOR,
    Drawn,
    Frame,
    Glyph,
    TokenPlotView,
    add_glyph,
    token_figure,
    token_ticks,
)


def series_frame(ex: Explorer, vd: ViewData) -> Frame:
    """Columns of the three layers, in overlay order: every head, min / max, the aggregate."""
    n, k = vd.scope_values.shape
    log = ex.scale == "log"
    x = np.arange(n)
    tokens = np.array(vd.tokens, dtype=object)
    y = vd.aggregate.astype(np.float64)
    sv = vd.scope_values.astype(np.float64)
    if log:
        y, sv = np.maximum(y, LOG_FLOOR), np.maximum(sv, LOG_FLOOR)
    lo, hi = sv.min(axis=1), sv.max(axis=1)
    heads = {"x": np.repeat(x, k), "value": sv.reshape(-1), "token": list(np.repeat(tokens, k))}
    extremes = {"x": np.concatenate([x, x]), "value": np.concatenate([lo, hi]),
                "token": list(np.concatenate([tokens, tokens]))}
    curve = {"x": x, "value": y, "token": list(tokens)}
    finite = np.concatenate([sv.reshape(-1), y])
    finite = finite[np.isfinite(finite)]
    bottom, top = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if log:
        ylim = (bottom / 1.5, top * 1.5)
    else:
        pad = 0.05 * (top - bottom) or 0.05 * (abs(top) or 1.0)
        ylim = (bottom - pad, top + pad)
    return Frame(columns=[heads, extremes, curve], xticks=token_ticks(vd.tokens),
                 xlim=(-0.5, n - 0.5), ylim=ylim, title=series_title(ex, vd))


def series_title(ex: Explorer, vd: ViewData) -> str:
    k = vd.scope_values.shape[1]
    scope = (f"the {k} shown head(s) of layer {vd.layer}" if ex.scope == SCOPE_HEADS
             else f"all {k} layer x head values")
    return f"{ex.aggregation} over {scope} (grey: every value, red: min/max)"


def series_ylabel(ex: Explorer) -> str:
    return ("self-attention" if ex.aggregation in ("mean", "max", "min", "range", "std")
            else ex.aggregation)


def series_figure(ex: Explorer, f: Frame) -> Drawn:
    """The three layers of ``f`` (every head, min / max, the aggregate) in one figure."""
    fig = token_figure(f, ylabel=series_ylabel(ex), log_y=ex.scale == "log")
    sources = [ColumnDataSource(c) for c in f.columns]
    grey, red = dict(fill_color="#9a9a9a", line_color="#9a9a9a"), dict(fill_color="#d62728",
                                                                       line_color="#d62728")
    heads = add_glyph(fig, Scatter(x="x", y="value", size=3, fill_alpha=0.6, line_alpha=0.6,
                                   **grey), sources[0])
    extremes = add_glyph(fig, Scatter(x="x", y="value", size=5, **red), sources[1])
    curve = add_glyph(fig, Line(x="x", y="value", line_color="#1f4e79", line_width=2),
                      sources[2])
    hover = HoverTool(renderers=[curve], tooltips=series_tooltips(ex))
    fig.add_tools(hover, TapTool(renderers=[curve]))
    legend = Legend(items=[LegendItem(label="every head", renderers=[heads]),
                           LegendItem(label="min / max", renderers=[extremes]),
                           LegendItem(label=ex.aggregation, renderers=[curve])],
                    location="top_right", click_policy="hide")
    fig.add_layout(legend)
    drawn = Drawn(fig, [Glyph(s) for s in sources])
    drawn.handles.update(legend=legend, hover=hover)
    return drawn


def legend_label(item) -> str | None:
    """A legend item's text (a string, or Bokeh's value spec of one)."""
    return item.label if isinstance(item.label, str) else getattr(item.label, "value", None)


def series_tooltips(ex: Explorer) -> list[tuple[str, str]]:
    return [("token", "@token"), (ex.aggregation, "@value{0.0000}")]


class SeriesView(TokenPlotView):
    """The chosen aggregate per token, every head's value, each token's min and max."""

    column_names = (("x", "value", "token"),) * 3  # every head, min / max, the aggregate

    depends = ("instance", "layer", "heads", "aggregation", "scope", "scale", "hide_special",
               "words", "error")

    def draw(self, f: Frame) -> Drawn:
        return series_figure(self.explorer, f)

    def _apply(self, plot: Drawn, frame: Frame) -> None:
        """Also the names of the aggregation: the legend's, the hover's, the y axis'."""
        super()._apply(plot, frame)
        ex = self.explorer
        curve = plot.handles["legend"].items[2]
        if legend_label(curve) != ex.aggregation:
            curve.label = ex.aggregation
            plot.handles["hover"].tooltips = series_tooltips(ex)
            plot.handles["yaxis"].axis_label = series_ylabel(ex)

    def frame(self, vd: ViewData) -> Frame:
        return series_frame(self.explorer, vd)
