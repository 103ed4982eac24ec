"""Heads x tokens heatmap of the selected layer (HoloViews), linked to the marked token."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param
from holoviews import streams

from ..state import Explorer
from .common import PLOT_OPTS, InSession, TokenMarker, display_index, position_at


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


class HeatmapView(pn.viewable.Viewer):
    explorer = param.ClassSelector(class_=Explorer)

    def __init__(self, **params):
        super().__init__(**params)
        ex = self.explorer
        self._positions = np.zeros(0, dtype=np.int64)

        self.marker = TokenMarker()
        self.session = InSession()

        def element(instance, layer, heads, scale, hide_special, error):
            vd = ex.view_data()
            self._positions = vd.positions if vd is not None else np.zeros(0, dtype=np.int64)
            return heatmap_element(ex, [self.marker.hook])

        self.map = hv.DynamicMap(pn.bind(element, ex.param.instance, ex.param.layer,
                                         ex.param.heads, ex.param.scale, ex.param.hide_special,
                                         ex.param.error))
        ex.param.watch(self._move_marker, ["marked", "instance", "hide_special"])
        self.pointer = streams.PointerX(source=self.map, x=None)
        self.tap = streams.Tap(source=self.map, x=None, y=None)
        self.pointer.add_subscriber(self._on_pointer)
        self.tap.add_subscriber(self._on_tap)
        self.pane = pn.pane.HoloViews(self.map, sizing_mode="stretch_width")

    def _move_marker(self, *_) -> None:
        ex = self.explorer
        self.marker.move(display_index(self._positions, ex.marked) if ex.marked >= 0 else None)

    def marked_x(self) -> float | None:
        return self.marker.location

    def _set_mark(self, x) -> None:
        pos = position_at(self._positions, x)
        if pos >= 0 and pos != self.explorer.marked:
            self.session.run(lambda: setattr(self.explorer, "marked", pos))

    def _on_pointer(self, x=None, **_):
        self._set_mark(x)

    def _on_tap(self, x=None, y=None, **_):
        self._set_mark(x)

    def __panel__(self):
        return self.pane
