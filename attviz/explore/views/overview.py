"""Layer x head overview: the selected instance's mean self-attention per head per layer;
clicking a cell selects that layer and head."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param

from ..state import Explorer
from ..style import PLOT_OPTS
from ..viewdata import layer_head_means
from .events import FigureEvents, InSession, WeakHook


def overview_element(ex: Explorer, hooks: list | None = None) -> hv.Overlay:
    means = layer_head_means(ex.current(), ex.hide_special)  # [layers, heads]
    kdims = ["x0", "y0", "x1", "y1"]
    if means.size == 0:
        return hv.Overlay([hv.Rectangles([], kdims=kdims, vdims=["mean"])])
    n_layers, n_heads = means.shape
    ys, xs = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    data = {"x0": xs.ravel() - 0.5, "y0": ys.ravel() - 0.5, "x1": xs.ravel() + 0.5,
            "y1": ys.ravel() + 0.5, "mean": means.ravel().astype(np.float64),
            "layer": ys.ravel(), "head": xs.ravel()}
    cells = hv.Rectangles(data, kdims=kdims, vdims=["mean", "layer", "head"]).opts(
        color="mean", cmap="magma", colorbar=True, line_alpha=0, tools=["hover", "tap"],
        nonselection_alpha=1.0, selection_alpha=1.0, logz=ex.scale == "log",
        hover_tooltips=[("layer", "@layer"), ("head", "@head"), ("mean", "@mean{0.0000}")])
    layer = ex.layer
    head = ex.highlight
    outline = [hv.Bounds((-0.5, layer - 0.5, n_heads - 0.5, layer + 0.5)).opts(
        color="#00b4d8", line_width=2)]
    if head is not None:
        outline.append(hv.Bounds((head - 0.5, layer - 0.5, head + 0.5, layer + 0.5)).opts(
            color="white", line_width=3))
    return hv.Overlay([cells, *outline]).opts(
        hv.opts.Overlay(xticks=[(h, str(h)) for h in range(n_heads)],
                        yticks=[(i, str(i)) for i in range(n_layers)], xlabel="head",
                        ylabel="layer", title="Mean self-attention per layer and head (click: select)",
                        framewise=True, hooks=hooks or [], **{k: v for k, v in PLOT_OPTS.items() if k != "default_tools"}))


class OverviewView(pn.viewable.Viewer):
    explorer = param.ClassSelector(class_=Explorer)

    def __init__(self, **params):
        super().__init__(**params)
        ex = self.explorer
        self.session = InSession()
        self.events = FigureEvents(on_tap=self._on_tap)
        self.map = hv.DynamicMap(pn.bind(lambda *a: overview_element(ex, [WeakHook(self.events.hook)]),
                                         ex.param.instance,
                                         ex.param.layer, ex.param.highlight, ex.param.scale,
                                         ex.param.hide_special, ex.param.error))
        self.pane = pn.pane.HoloViews(self.map, sizing_mode="stretch_width")

    def _on_tap(self, x=None, y=None):
        if x is None or y is None:
            return
        means = layer_head_means(self.explorer.current(), self.explorer.hide_special)
        layer, head = int(round(y)), int(round(x))
        if 0 <= layer < means.shape[0] and 0 <= head < means.shape[1]:
            self.session.run(lambda: self.explorer.select_layer_head(layer, head))

    def __panel__(self):
        return self.pane
