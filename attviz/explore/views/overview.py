"""Layer x head overview: the selected instance's mean self-attention per head per layer;
clicking a cell selects that layer and head."""

from __future__ import annotations

import holoviews as hv
import panel as pn
import param

from ..state import Explorer
from ..viewdata import layer_head_means
from .cells import CellPicker, layer_head_grid
from .events import WeakHook


def overview_element(ex: Explorer, hooks: list | None = None) -> hv.Overlay:
    inst = ex.current()
    means = layer_head_means(inst, ex.hide_special)  # [stored layers, heads]
    return layer_head_grid({"mean": means}, "mean", cmap="magma", logz=ex.scale == "log",
                           layer=ex.layer, head=ex.highlight, hooks=hooks or [],
                           rows=list(inst.layers) if inst is not None else None,
                           title="Mean self-attention per layer and head (click: select)")


class OverviewView(pn.viewable.Viewer):
    explorer = param.ClassSelector(class_=Explorer)

    def __init__(self, **params):
        super().__init__(**params)
        ex = self.explorer
        self.picker = CellPicker(ex.select_layer_head, self._shape,
                                 lambda: list(ex.stored_layers))
        # the callback holds this view (so the picker) as long as the plot lives; the hook
        # holds the picker weakly (events.WeakHook)
        self.map = hv.DynamicMap(pn.bind(lambda *a: self._element(),
                                         ex.param.instance,
                                         ex.param.layer, ex.param.highlight, ex.param.scale,
                                         ex.param.hide_special, ex.param.error))
        self.pane = pn.pane.HoloViews(self.map, sizing_mode="stretch_width")

    def _element(self) -> hv.Overlay:
        return overview_element(self.explorer, [WeakHook(self.picker.hook)])

    def _shape(self) -> tuple[int, int]:
        means = layer_head_means(self.explorer.current(), self.explorer.hide_special)
        return means.shape if means.ndim == 2 else (0, 0)

    def __panel__(self):
        return self.pane
