"""AttViz's series view: an aggregate per token as a curve, grey dots for every head's value,
red dots for each token's minimum and maximum; linear or log scale."""

from __future__ import annotations

import holoviews as hv
import numpy as np

from ..choices import SCOPE_HEADS
from ..state import Explorer
from ..style import PLOT_OPTS
from ..viewdata import ViewData
from .tokenplot import LOG_FLOOR, Frame, TokenPlotView, token_ticks


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
    return Frame(columns=[heads, extremes, curve], aliases=[{}, {}, {}],
                 xticks=token_ticks(vd.tokens), xlim=(-0.5, n - 0.5), ylim=ylim,
                 title=series_title(ex, vd))


def series_title(ex: Explorer, vd: ViewData) -> str:
    k = vd.scope_values.shape[1]
    scope = (f"the {k} shown head(s) of layer {vd.layer}" if ex.scope == SCOPE_HEADS
             else f"all {k} layer x head values")
    return f"{ex.aggregation} over {scope} (grey: every value, red: min/max)"


def series_element(ex: Explorer, hooks: list | None = None) -> hv.Overlay:
    vd = ex.view_data()
    if vd is None or not len(vd.positions):
        return hv.Overlay([hv.Curve([]), hv.Scatter([]), hv.Scatter([])])
    f = series_frame(ex, vd)
    heads_cols, extremes_cols, curve_cols = f.columns
    kw = dict(kdims=["x"], vdims=["value", "token"])
    curve = hv.Curve(curve_cols, label=ex.aggregation, **kw).opts(
        color="#1f4e79", line_width=2, tools=["hover"],
        hover_tooltips=[("token", "@token"), (ex.aggregation, "@value{0.0000}")])
    heads = hv.Scatter(heads_cols, label="every head", **kw).opts(
        color="#9a9a9a", size=3, alpha=0.6)
    extremes = hv.Scatter(extremes_cols, label="min / max", **kw).opts(color="#d62728", size=5)
    ylabel = ("self-attention" if ex.aggregation in ("mean", "max", "min", "range", "std")
              else ex.aggregation)
    return (heads * extremes * curve).opts(
        hv.opts.Overlay(
            xticks=f.xticks, xrotation=90, logy=ex.scale == "log", xlim=f.xlim, ylim=f.ylim,
            xlabel="", ylabel=ylabel, framewise=True, legend_position="top_right",
            title=f.title,
            hooks=hooks or [],
            **{k_: v for k_, v in PLOT_OPTS.items() if k_ != "default_tools"},
        ),
        hv.opts.Curve(default_tools=PLOT_OPTS["default_tools"] + ["tap"]),
    )


class SeriesView(TokenPlotView):
    """The chosen aggregate per token, every head's value, each token's min and max."""

    depends = ("instance", "layer", "heads", "aggregation", "scope", "scale", "hide_special",
               "words", "error")
    rebuild = ("scale", "error", "aggregation")  # the legend and the y axis name it

    def element(self, hooks: list):
        return series_element(self.explorer, hooks)

    def frame(self, vd: ViewData) -> Frame:
        return series_frame(self.explorer, vd)
