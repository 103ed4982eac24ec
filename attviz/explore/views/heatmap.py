"""Heads x tokens heatmap of the selected layer (HoloViews), linked to the marked token."""

from __future__ import annotations

import holoviews as hv
import numpy as np

from ..state import Explorer
from ..style import PLOT_OPTS
from ..viewdata import ViewData
from .tokenplot import LOG_FLOOR, Frame, TokenPlotView, token_ticks

KDIMS = ["x0", "y0", "x1", "y1"]
VDIMS = ["value", "token", "head"]


def heatmap_frame(ex: Explorer, vd: ViewData) -> Frame:
    """One rectangle per (head, token): x = shown token index, y = row of the head."""
    n, k = vd.values.shape
    xs = np.repeat(np.arange(n), k)
    ys = np.tile(np.arange(k), n)
    value = vd.values.reshape(-1).astype(np.float64)
    if ex.scale == "log":
        value = np.maximum(value, LOG_FLOOR)
    x0, x1, y0, y1 = xs - 0.5, xs + 0.5, ys - 0.5, ys + 0.5
    cols = {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "value": value,
            "token": list(np.repeat(np.array(vd.tokens, dtype=object), k)),
            "head": np.tile(np.asarray(vd.heads), n)}
    # the names HoloViews gives the same columns in the figure's data source
    aliases = {"left": x0, "right": x1, "bottom": y0, "top": y1, "color": value}
    lo, hi = (float(value.min()), float(value.max())) if value.size else (0.0, 1.0)
    return Frame(columns=[cols], aliases=[aliases], xticks=token_ticks(vd.tokens),
                 xlim=(-0.5, n - 0.5), ylim=(-0.5, k - 0.5), clim=(lo, max(hi, lo + 1e-9)))


def heatmap_element(ex: Explorer, hooks: list | None = None) -> hv.Rectangles:
    vd = ex.view_data()
    if vd is None or not len(vd.positions):
        return hv.Rectangles([], kdims=KDIMS, vdims=VDIMS)
    f = heatmap_frame(ex, vd)
    return hv.Rectangles(f.columns[0], kdims=KDIMS, vdims=VDIMS).opts(
        color="value", cmap="viridis", colorbar=True, logz=ex.scale == "log", clim=f.clim,
        line_alpha=0, tools=["hover", "tap"], nonselection_alpha=1.0, selection_alpha=1.0,
        xticks=f.xticks, yticks=[(j, f"h{h}") for j, h in enumerate(vd.heads)], xrotation=90,
        xlim=f.xlim, ylim=f.ylim, padding=0,
        xlabel="", ylabel=f"layer {vd.layer} heads", framewise=True,
        hover_tooltips=[("token", "@token"), ("head", "@head"),
                        ("self-attention", "@value{0.0000}")],
        title=f"Self-attention, layer {vd.layer}: heads x tokens", hooks=hooks or [],
        **PLOT_OPTS,
    )


class HeatmapView(TokenPlotView):
    """Heads x tokens of the selected layer."""

    depends = ("instance", "layer", "heads", "scale", "hide_special", "words", "error")

    def element(self, hooks: list):
        return heatmap_element(self.explorer, hooks)

    def frame(self, vd: ViewData) -> Frame:
        return heatmap_frame(self.explorer, vd)
