"""Heads x tokens heatmap of the selected layer (HoloViews), linked to the marked token."""

from __future__ import annotations

import holoviews as hv
import numpy as np

from ..state import Explorer
from .common import PLOT_OPTS, TokenPlotView


def heatmap_element(ex: Explorer, hooks: list | None = None) -> hv.Rectangles:
    """One rectangle per (head, token): x = shown token index, y = row of the head."""
    vd = ex.view_data()
    kdims = ["x0", "y0", "x1", "y1"]
    vdims = ["value", "token", "head"]
    if vd is None or not len(vd.positions):
        return hv.Rectangles([], kdims=kdims, vdims=vdims)
    n, k = vd.values.shape
    xs = np.repeat(np.arange(n), k)
    ys = np.tile(np.arange(k), n)
    value = vd.values.reshape(-1).astype(np.float64)
    if ex.scale == "log":
        value = np.maximum(value, 1e-6)
    data = {
        "x0": xs - 0.5, "y0": ys - 0.5, "x1": xs + 0.5, "y1": ys + 0.5,
        "value": value,
        "token": np.repeat(np.array(vd.tokens, dtype=object), k),
        "head": np.tile(np.asarray(vd.heads), n),
    }
    step = max(1, n // 64)  # at most ~64 tick labels
    return hv.Rectangles(data, kdims=kdims, vdims=vdims).opts(
        color="value", cmap="viridis", colorbar=True, logz=ex.scale == "log",
        line_alpha=0, tools=["hover", "tap"], nonselection_alpha=1.0, selection_alpha=1.0,
        xticks=[(i, vd.tokens[i]) for i in range(0, n, step)],
        yticks=[(j, f"h{h}") for j, h in enumerate(vd.heads)], xrotation=90,
        xlabel="", ylabel=f"layer {vd.layer} heads", framewise=True,
        hover_tooltips=[("token", "@token"), ("head", "@head"),
                        ("self-attention", "@value{0.0000}")],
        title=f"Self-attention, layer {vd.layer}: heads x tokens", hooks=hooks or [],
        **PLOT_OPTS,
    )


class HeatmapView(TokenPlotView):
    """Heads x tokens of the selected layer."""

    depends = ("instance", "layer", "heads", "scale", "hide_special", "error")

    def element(self, hooks: list):
        return heatmap_element(self.explorer, hooks)
