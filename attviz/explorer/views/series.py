"""AttViz's series view: an aggregate per token as a curve, grey dots for every head's value,
red dots for each token's minimum and maximum; linear or log scale."""

from __future__ import annotations

import holoviews as hv
import numpy as np

from ..state import SCOPES, Explorer
from .common import PLOT_OPTS, TokenPlotView


def series_element(ex: Explorer, hooks: list | None = None) -> hv.Overlay:
    vd = ex.view_data()
    if vd is None or not len(vd.positions):
        return hv.Overlay([hv.Curve([]), hv.Scatter([]), hv.Scatter([])])
    n, k = vd.scope_values.shape
    log = ex.scale == "log"
    floor = 1e-6
    x = np.arange(n)
    tokens = np.array(vd.tokens, dtype=object)
    y = vd.aggregate.astype(np.float64)
    sv = vd.scope_values.astype(np.float64)
    if log:
        y, sv = np.maximum(y, floor), np.maximum(sv, floor)
    scope = (f"the {k} shown head(s) of layer {vd.layer}" if ex.scope == SCOPES[0]
             else f"all {k} layer x head values")
    curve = hv.Curve({"x": x, "value": y, "token": tokens}, kdims=["x"],
                     vdims=["value", "token"], label=ex.aggregation).opts(
        color="#1f4e79", line_width=2, tools=["hover"],
        hover_tooltips=[("token", "@token"), (ex.aggregation, "@value{0.0000}")])
    heads = hv.Scatter({"x": np.repeat(x, k), "value": sv.reshape(-1),
                        "token": np.repeat(tokens, k)}, kdims=["x"], vdims=["value", "token"],
                       label="every head").opts(color="#9a9a9a", size=3, alpha=0.6)
    lo, hi = sv.min(axis=1), sv.max(axis=1)
    extremes = hv.Scatter({"x": np.concatenate([x, x]), "value": np.concatenate([lo, hi]),
                           "token": np.concatenate([tokens, tokens])}, kdims=["x"],
                          vdims=["value", "token"], label="min / max").opts(
        color="#d62728", size=5)
    step = max(1, n // 64)
    ylabel = "self-attention" if ex.aggregation in ("mean", "max", "min", "range", "std") else ex.aggregation
    return (heads * extremes * curve).opts(
        hv.opts.Overlay(
            xticks=[(i, vd.tokens[i]) for i in range(0, n, step)], xrotation=90, logy=log,
            xlabel="", ylabel=ylabel, framewise=True, legend_position="top_right",
            title=f"{ex.aggregation} over {scope} (grey: every value, red: min/max)",
            hooks=hooks or [],
            **{k_: v for k_, v in PLOT_OPTS.items() if k_ != "default_tools"},
        ),
        hv.opts.Curve(default_tools=PLOT_OPTS["default_tools"] + ["tap"]),
    )


class SeriesView(TokenPlotView):
    """The chosen aggregate per token, every head's value, each token's min and max."""

    depends = ("instance", "layer", "heads", "aggregation", "scope", "scale", "hide_special",
               "error")

    def element(self, hooks: list):
        return series_element(self.explorer, hooks)
